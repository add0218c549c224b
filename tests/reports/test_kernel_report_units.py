"""The kernel table at the networks' real unit shapes: the H100 targets apply there as at 2^24 elements, and the
GPU rows' host overhead is a column of its own."""

from harness.results_store import make_row
from reports.kernel import meets_target, render_kernel, target_applies

H100 = "NVIDIA H100 80GB HBM3"


def _row(size, x_shape, impl="triton", device="cuda", **metrics):
    config = {"size": size, "x_shape": x_shape, "out_shape": x_shape, "stride": 2, "dtype": "bf16", "pass": "fwdbwd",
              "impl": impl, "device": device, "device_name": H100 if device == "cuda" else "cpu", "repeats": 5}
    base = {"median_ms": 0.02, "call_ms": 0.15, "host_overhead_ms": 0.13, "timed_runs": 5000, "gbps": 2800.0,
            "copy_gbps": 3000.0, "frac_of_copy": 0.93, "speedup_vs_eager": 5.0, "speedup_vs_compile": 1.4,
            "error": None}
    return make_row("kernel", config, {**base, **metrics})


def _flat(row):
    return {**row["config"], **row["metrics"]}


def test_targets_apply_at_the_real_units_not_at_other_small_shapes():
    unit = _row("d64x32s2", "128x64x32x32")  # 2^23 elements: below 2^24, but a unit BReG-NeXt runs
    assert target_applies(_flat(unit)) and meets_target(_flat(unit)) is True
    assert meets_target(_flat(_row("d64x32s2", "128x64x32x32", speedup_vs_compile=1.1))) is False
    assert meets_target(_flat(_row("d64x32s2", "1x64x32x32"))) is None  # the unit at batch 1: no target
    assert meets_target(_flat(_row("d64x32s2", "128x64x32x32", device="cpu"))) is None


def test_host_overhead_is_shown_for_gpu_rows_and_left_out_when_no_row_has_it():
    text = render_kernel([_row("d64x32s2", "128x64x32x32")], "markdown")
    assert "host_overhead_ms" in text and "0.13" in text and "GPU time per call" in text
    cpu = _row("u32x64", "2x32x64x64", impl="eager", device="cpu", call_ms=None, host_overhead_ms=None)
    assert "host_overhead_ms" not in render_kernel([cpu], "markdown").split("\n\n")[1]  # the table, not the notes
