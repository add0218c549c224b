"""`python -m bench.ablation`: cells per (model, bypass, seed), learned alpha/beta, seed statistics."""

import pytest

from bench.ablation import PRESETS, cells, learned_bypass, main, parse_args
from bench.results import ResultsStore
from breg_models import create_model
from reports.ablation import ablation_frame


def test_presets_cover_the_papers_tables():
    args = parse_args(["--preset", "table8", "table9", "bregnet", "scaled", "--seeds", "0,1", "--device", "cpu"])
    todo = cells(args)
    assert len(todo) == 2 * (4 + 2 * 2 + 3 + 5)
    assert {c["bypass"] for c in todo if c["preset"] == "scaled"} == set(PRESETS["scaled"][1])


def test_learned_bypass_reads_every_unit():
    state = create_model("bregnext26", alpha_init=0.5).state_dict()
    out = learned_bypass(state)
    assert out["alpha"] == [0.5] * 12 and out["beta"] == [1.0] * 12
    assert learned_bypass(create_model("bregnet32").state_dict()) == {"alpha": [], "beta": []}


def _row(bypass, seed, acc, alpha=()):
    return {"config": {"preset": "table8", "reference": "adaptive", "model": "bregnext50", "bypass": bypass,
                       "seed": seed, "task": "categorical"},
            "metrics": {"accuracy": acc, "alpha": list(alpha), "beta": list(alpha)}}


def test_seed_statistics_and_paired_test():
    rows = [_row("adaptive", s, 0.70 + 0.001 * s, [0.5, 0.8, 1.2]) for s in range(4)]
    rows += [_row("bregnext_h1", s, 0.60 + 0.002 * s) for s in range(4)]
    rows += [_row("bregnext_h2", s, 0.70 + 0.001 * s + (0.002 if s % 2 else -0.002)) for s in range(4)]
    frame = ablation_frame(rows).set_index("bypass")
    assert frame.loc["adaptive", "mean"] == pytest.approx(0.7015)
    assert frame.loc["bregnext_h1", "exceeds_seed_noise"] and frame.loc["bregnext_h1", "p_value"] < 1e-3
    assert not frame.loc["bregnext_h2", "exceeds_seed_noise"]
    assert frame.loc["adaptive", "alpha_early"] == pytest.approx(0.5) and frame.loc["adaptive", "alpha_deep"] == 1.2
    assert frame.loc["bregnext_h1", "published_affectnet"] == pytest.approx(0.6409)


@pytest.mark.slow
def test_tiny_ablation_run(tmp_path, capsys):
    store = tmp_path / "a.jsonl"
    assert main(["--preset", "table9", "--models", "bregnext14", "--seeds", "0,1", "--epochs", "1",
                 "--batch-size", "8", "--image-size", "16", "--synth-train", "16", "--synth-val", "16",
                 "--device", "cpu", "--results", str(store), "--format", "csv"]) == 0
    rows = ResultsStore(store).rows("ablation")
    assert len(rows) == 4
    adaptive = [r for r in rows if r["config"]["bypass"] == "adaptive"]
    assert all(len(r["metrics"]["alpha"]) == 6 for r in adaptive)
    fixed = [r for r in rows if r["config"]["bypass"].startswith("fixed")]
    assert all(r["metrics"]["alpha"] == [1.0] * 6 and r["metrics"]["beta"] == [0.0] * 6 for r in fixed)
    assert "bregnext14" in capsys.readouterr().out
