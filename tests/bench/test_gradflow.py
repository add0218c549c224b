"""Gradient flow through the bypass (BReG-NeXt Eq. 3-6, 10), measured on small depths and a tiny input.

The assertions state what the measurement shows, not what we would like it to show: without batch-norm
normalisation (``bn=frozen``, the recursion the paper derives) the scaled shortcut's first/last gradient
ratio changes by ~lam per unit, Eq. 8 at alpha=1, beta=0 stays flat, and Eq. 8 at the public code's init
(beta=1, so dH/dx <= 1/2) vanishes like lam=0.5. With batch statistics the residual branch compensates and
nothing vanishes.
"""

from __future__ import annotations

import json
import math

import pytest

from bench.cli import run_main
from bench.gradflow import UnitProbe, build, fit_growth, fixed_batch, main, measure_cell, set_bn_mode, snapshot
from harness.results_store import ResultsStore, make_row

DEPTHS = (14, 20, 26)  # 6, 9, 12 units
TINY = ["--input-size", "8", "--batch", "4"]


def cell(bypass: str, depth: int, bn: str = "frozen", steps: int = 0) -> dict:
    return {"model": "bregnext", "depth": depth, "bypass": bypass, "bn": bn, "steps": steps, "optimizer": "adam",
            "lr": 1e-3, "input_size": 8, "batch": 4, "seed": 0, "dtype": "float32", "device": "cpu"}


def slopes(bypasses, bn: str) -> dict:
    rows = []
    for b in bypasses:
        for d in DEPTHS:
            config = cell(b, d, bn)
            rows.append(make_row("gradflow", config, measure_cell(config)[0]))
    return fit_growth(rows).set_index("bypass")


@pytest.fixture(scope="module")
def frozen():
    return slopes(["scaled:lam=0.5", "scaled:lam=1.5", "adaptive:beta=0", "adaptive"], "frozen")


def test_scaled_shortcut_is_exponential_as_eq6_predicts(frozen):
    lo, hi = frozen.loc["scaled:lam=0.5"], frozen.loc["scaled:lam=1.5"]
    assert lo["product_slope_per_unit"] == pytest.approx(math.log10(0.5))
    assert hi["product_slope_per_unit"] == pytest.approx(math.log10(1.5))
    # The whole gradient, not only the shortcut path: log10(first/last) falls/rises ~log10(lam) per unit.
    assert -0.35 < lo["grad_slope_per_unit"] < -0.15 and lo["grad_r2"] > 0.99
    assert 0.12 < hi["grad_slope_per_unit"] < 0.25 and hi["grad_r2"] > 0.99
    assert (lo["paper_expects"], hi["paper_expects"]) == ("shrinks", "grows")


def test_eq8_at_beta0_stays_bounded(frozen):
    eq8 = frozen.loc["adaptive:beta=0"]
    assert abs(eq8["grad_slope_per_unit"]) < 0.03
    assert abs(eq8["grad_slope_per_unit"]) < abs(frozen.loc["scaled:lam=1.5", "grad_slope_per_unit"]) / 5


def test_eq8_at_public_init_vanishes_like_half_scaling(frozen):
    """A finding, not the paper's claim: beta=1 caps dH/dx at 1/(1+beta^2) = 1/2, and 0.5^L still vanishes."""
    eq8 = frozen.loc["adaptive"]
    assert eq8["product_slope_per_unit"] < math.log10(0.5) + 1e-6
    assert eq8["grad_slope_per_unit"] < -0.15


def test_batch_statistics_mask_the_vanishing_shortcut():
    batch = slopes(["scaled:lam=0.5", "scaled:lam=1.5"], "batch")
    assert batch.loc["scaled:lam=0.5", "grad_slope_per_unit"] > -0.02  # no vanishing under batch norm
    assert batch.loc["scaled:lam=1.5", "grad_slope_per_unit"] > 0.03  # still grows, slower than Eq. 6


def test_probe_reads_the_true_input_gradient():
    config = cell("scaled:lam=0.5", 14, bn="batch")
    model = build(config)
    set_bn_mode(model, "batch")
    x, y = fixed_batch(config)
    probe = UnitProbe(model)
    stem_out = []

    def keep(module, args, out):  # returns None: the output is left as it is
        out.retain_grad()
        stem_out.append(out)

    model.stem.register_forward_hook(keep)
    figures = snapshot(model, probe, x.float(), y)
    assert len(figures["input_grad_norm"]) == len(probe.units) == 6
    assert figures["input_grad_norm"][0] == pytest.approx(stem_out[0].grad.double().norm().item(), rel=1e-6)
    assert figures["bypass_gain"] == pytest.approx([0.5] * 6)
    assert figures["finite"] and len(figures["conv1_grad_norm"]) == 6


def test_training_steps_move_the_adaptive_bypass():
    metrics, timings = measure_cell(cell("adaptive", 14, bn="batch", steps=2))
    assert len(metrics["train_losses"]) == 2 and "train_s" in timings
    assert metrics["init"]["alpha_mean"] == 1.0 and metrics["trained"]["alpha_mean"] != 1.0
    assert math.isfinite(metrics["trained"]["log10_grad_ratio"])


def test_cli_writes_rows_and_summary_then_resumes(tmp_path, capsys):
    results, out = tmp_path / "g.jsonl", tmp_path / "s.json"
    argv = ["--bypass", "identity", "scaled:lam=1.5", "--depths", "14,20", "--bn", "frozen", "--steps", "1",
            *TINY, "--results", str(results), "--format", "json", "--out", str(out)]
    assert main(argv) == 0
    summary = json.loads(out.read_text())["rows"]
    assert {(r["bypass"], r["phase"]) for r in summary} == {(b, p) for b in ("identity", "scaled:lam=1.5")
                                                           for p in ("init", "step1")}
    assert len(ResultsStore(results).rows("gradflow")) == 4
    assert main(argv[:-4] + ["--results", str(results)]) == 0  # all four cells are found, none rerun
    assert len(ResultsStore(results).rows("gradflow")) == 4
    md = capsys.readouterr().out
    assert md.startswith("**Gradient flow against depth**") and "| scaled:lam=1.5 |" in md


def test_cli_errors_are_one_line(capsys):
    assert run_main(main, ["--depths", "15", *TINY, "--results", ""]) == 1
    assert run_main(main, ["--bypass", "scaled:mu=2", *TINY, "--results", ""]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "depth 15" in err[0] and "no parameter 'mu'" in err[1]


def test_tiny_sweep_on_local_ray(tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is not installed (optional extra 'ray')")
    results = tmp_path / "g.jsonl"
    try:
        assert main(["--executor", "ray", "--bypass", "scaled:lam=1.5", "--depths", "14,20", "--bn", "frozen",
                     "--steps", "0", *TINY, "--results", str(results), "--out", str(tmp_path / "s.csv")]) == 0
    finally:
        ray.shutdown()
    rows = ResultsStore(results).rows("gradflow")
    assert sorted(r["config"]["depth"] for r in rows) == [14, 20]
    assert all(r["metrics"]["init"]["finite"] for r in rows)
