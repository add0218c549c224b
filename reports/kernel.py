"""The kernel benchmark table: time, bandwidth and speed-ups of eager, compile and the fused Triton op,
with the H100 targets of the issue checked on the rows that can meet them."""

from __future__ import annotations

from .rows import flat_frame, render_frame

# H100, forward+backward of the Triton op, x of >= 2^24 elements. torch.compile's fp32 kernels are
# memory-bound like ours, so parity is the ceiling there; in bf16/fp16 inductor's backward is issue-bound.
TARGETS = {"frac_of_copy": 0.85, "speedup_vs_eager": 4.0, "min_numel": 2**24,
           "speedup_vs_compile": {"fp32": 1.0, "bf16": 1.3, "fp16": 1.3}}


def _numel(x_shape) -> int:
    numel = 1
    for d in str(x_shape).split("x"):
        numel *= int(d)
    return numel


def meets_target(row: dict) -> bool | None:
    """True/False for a CUDA fwdbwd Triton row at >= 2^24 elements; None where the target does not apply, or
    where a measure it needs is missing (a baseline left out, a failed case) and no other one already fails."""
    if (row.get("impl") != "triton" or row.get("pass") != "fwdbwd" or row.get("device") == "cpu"
            or "cpu" in str(row.get("device_name")).lower() or row.get("error")
            or _numel(row["x_shape"]) < TARGETS["min_numel"]):
        return None
    floors = {"frac_of_copy": TARGETS["frac_of_copy"], "speedup_vs_eager": TARGETS["speedup_vs_eager"],
              "speedup_vs_compile": TARGETS["speedup_vs_compile"].get(row.get("dtype"))}
    verdicts = [None if row.get(k) is None or floor is None else row[k] >= floor for k, floor in floors.items()]
    if False in verdicts:
        return False
    return None if None in verdicts else True


def render_kernel(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    config = ["device", "device_name", "size", "x_shape", "dtype", "pass", "impl"]
    metrics = ["median_ms", "timed_runs", "gbps", "copy_gbps", "frac_of_copy", "speedup_vs_eager",
               "speedup_vs_compile", "error"]
    frame = flat_frame(rows, config, metrics).reindex(columns=config + metrics)  # columns even with no rows
    frame = frame.astype(object).where(frame.notna(), None)
    frame["meets_target"] = [meets_target(r) for r in frame.to_dict(orient="records")]
    if frame["error"].isna().all():
        frame = frame.drop(columns="error")
    frame = frame.drop(columns="device")  # needed for meets_target; device_name says it in the table
    floors = ", ".join(f"{v}x in {k}" for k, v in TARGETS["speedup_vs_compile"].items())
    notes = [r"Target (H100, forward+backward of the Triton op, \(\ge 2^{24}\) elements): >= 85% of the copy bandwidth "
             f"measured in the same run, >= 4x eager, and over torch.compile {floors}; meets_target is n/a where "
             "the target does not apply or a measure it needs is missing (e.g. a baseline left out).",
             "GB/s counts the bytes a pass must move: forward x, F and y; backward x, dx and the C_in channels of "
             "dy that face x (not the zero-padded ones).",
             "CPU rows time eager and compile with perf_counter; they say nothing about the GPU targets."]
    return render_frame(frame, fmt, caption=caption or "Fused bypass kernel benchmark", notes=notes)
