"""The data-spec grammar: NAME for synth, NAME:PATH for every file-backed set, and nothing else."""

import pytest

from harness.data_spec import SOURCES, parse_spec


def test_good_specs():
    assert parse_spec("synth") == ("synth", None)
    assert parse_spec("fer2013:/data/fer2013.csv") == ("fer2013", "/data/fer2013.csv")
    assert parse_spec("affectnet:C:/x") == ("affectnet", "C:/x")  # only the first colon splits
    assert all(parse_spec(s if s == "synth" else f"{s}:p")[0] == s for s in SOURCES)


@pytest.mark.parametrize("spec", ["imagenet", "fer2013", "synth:/x", "affectnet:", "rafdb", "afewva:", "affectnet7",
                                  "raf:/x"])
def test_bad_specs(spec):
    with pytest.raises(ValueError):
        parse_spec(spec)
