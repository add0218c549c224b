"""bench.eager_step: each Eq. 8 form reaches the model, rows and ratios (processes faked: each would import torch)."""

import json
import math

import pytest
import torch

from bench import eager_step
from bench.eager_step import eq8_form, measure_step
from breg_models import bypass
from breg_models.bypass import Bypass
from breg_models.eq8_function import eq8_function
from harness.results_store import ResultsStore
from reports.eager_step import with_ratios

TINY = {"model": "bregnext26", "batch_size": 1, "image_size": 8, "threads": 1, "steps": 1, "warmup_steps": 0}


@pytest.mark.parametrize("form, node", [("plain", "DivBackward0"), ("function", "Eq8FunctionBackward"),
                                        ("series", "MulBackward0")])
def test_each_form_reaches_the_bypass_and_the_swap_is_undone(form, node):
    x = torch.randn(3, requires_grad=True)
    with eq8_form(form):
        assert type(Bypass("adaptive")(x).grad_fn).__name__ == node
    assert bypass.eq8_function is eq8_function
    with pytest.raises(ZeroDivisionError), eq8_form(form):
        raise ZeroDivisionError  # restored on the way out of an error too
    assert bypass.eq8_function is eq8_function


def test_one_measured_step():
    threads = torch.get_num_threads()
    try:
        out = measure_step({**TINY, "form": "function"})
    finally:
        torch.set_num_threads(threads)  # measure_step sets its process's threads
    assert len(out["step_s"]) == len(out["step_cpu_s"]) == 1 and out["step_s"][0] > 0
    assert out["rss_before_mb"] > 0 and math.isfinite(out["loss"])


def test_forms_alternate_and_rows_carry_medians_and_ratios(tmp_path, monkeypatch, capsys):
    calls = []

    def fake_measure(opts):
        calls.append(opts["form"])
        slow = 1.5 if opts["form"] == "function" else 1.0
        return {"step_s": [slow, 2 * slow], "step_cpu_s": [slow, slow], "rss_before_mb": 100.0,
                "peak_rss_mb": 300.0 * slow, "loss": 2.0}

    monkeypatch.setattr(eager_step, "measure", fake_measure)
    store = tmp_path / "rows.jsonl"
    argv = ["--repeats", "2", "--results", str(store), "--format", "json"]
    assert eager_step.main(argv) == 0
    assert calls == ["plain", "function", "plain", "function"]
    rows = {r["config"]["form"]: r for r in with_ratios(ResultsStore(store).rows("eager_step"))}
    assert rows["function"]["metrics"]["step_s"] == 2.25  # the median of 1.5, 3, 1.5, 3
    assert rows["function"]["metrics"]["time_vs_plain"] == 1.5
    assert rows["function"]["metrics"]["peak_vs_plain"] == 1.5
    assert rows["function"]["metrics"]["growth_vs_plain"] == 350 / 200
    printed = {r["form"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert printed["function"]["time_vs_plain"] == 1.5 and printed["plain"]["time_vs_plain"] == 1.0
    assert eager_step.main(argv) == 0 and len(calls) == 4  # stored rows are read back, not measured again
