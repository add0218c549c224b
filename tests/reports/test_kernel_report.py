"""The kernel benchmark table: the H100 targets per dtype, and rows with a baseline left out or a failed case."""

import json

import pytest

from harness.results_store import make_row
from reports.kernel import meets_target, render_kernel
from reports.render import FORMATS

BIG = "4096x1x64x64"  # 2^24 elements


def _row(impl="triton", dtype="bf16", pass_="fwdbwd", x_shape=BIG, device="cuda", **metrics):
    config = {"size": "flat24", "x_shape": x_shape, "out_shape": x_shape, "stride": 1, "dtype": dtype,
              "pass": pass_, "impl": impl, "device": device,
              "device_name": "NVIDIA H100 80GB HBM3" if device == "cuda" else "cpu", "repeats": 5}
    base = {"median_ms": 1.0, "timed_runs": 100, "gbps": 2800.0, "copy_gbps": 3000.0, "frac_of_copy": 0.9,
            "speedup_vs_eager": 5.0, "speedup_vs_compile": 1.4, "error": None}
    return make_row("kernel", config, {**base, **metrics})


def _flat(row):
    return {**row["config"], **row["metrics"]}


def test_triton_only_rows_render_without_a_compile_baseline():
    """`--impls triton` leaves speedup_vs_compile (and vs eager) None: n/a, not a TypeError."""
    rows = [_row(speedup_vs_compile=None, speedup_vs_eager=None)]
    for fmt in FORMATS:
        assert "flat24" in render_kernel(rows, fmt)
    assert json.loads(render_kernel(rows, "json"))["rows"][0]["meets_target"] is None
    # a measure that already misses decides, even with a baseline absent
    assert meets_target(_flat(_row(speedup_vs_compile=None, frac_of_copy=0.5))) is False


@pytest.mark.parametrize("dtype, speedup, expected", [
    ("fp32", 1.05, True), ("fp32", 0.95, False),  # fp32: parity with torch.compile is the ceiling
    ("bf16", 1.2, False), ("bf16", 1.35, True), ("fp16", 1.25, False), ("fp16", 1.3, True)])
def test_compile_target_depends_on_dtype(dtype, speedup, expected):
    assert meets_target(_flat(_row(dtype=dtype, speedup_vs_compile=speedup))) is expected


@pytest.mark.parametrize("metrics, expected", [
    ({"frac_of_copy": 0.84}, False), ({"frac_of_copy": 0.85}, True),
    ({"speedup_vs_eager": 3.9}, False), ({"speedup_vs_eager": 4.0}, True)])
def test_copy_and_eager_targets(metrics, expected):
    assert meets_target(_flat(_row(**metrics))) is expected


@pytest.mark.parametrize("change", [{"impl": "eager"}, {"pass_": "fwd"}, {"x_shape": "2048x1x64x64"},
                                    {"device": "cpu"}])
def test_target_applies_only_to_big_fwdbwd_triton_cuda_rows(change):
    assert meets_target(_flat(_row(**change))) is None


def test_failed_case_shows_its_error_and_no_verdict():
    rows = [_row(impl="compile", median_ms=None, frac_of_copy=None, error="RecompileError: Recompiling"),
            _row(error="OutOfMemoryError: CUDA out of memory")]
    md = render_kernel(rows, "markdown")
    assert "RecompileError: Recompiling" in md and "OutOfMemoryError" in md
    assert json.loads(render_kernel(rows, "json"))["rows"][1]["meets_target"] is None
    assert "| error" not in render_kernel([_row()], "markdown")  # the column only when a row failed
