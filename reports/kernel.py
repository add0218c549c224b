"""The kernel benchmark table: time, bandwidth and speed-ups of eager, compile and the fused Triton op,
with the H100 targets of the issue checked on the rows that can meet them."""

from __future__ import annotations

from .rows import flat_frame, render_frame

TARGETS = {"frac_of_copy": 0.85, "speedup_vs_compile": 1.2, "speedup_vs_eager": 4.0, "min_numel": 2**24}


def render_kernel(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    frame = flat_frame(rows, ["device_name", "size", "x_shape", "dtype", "pass", "impl"],
                       ["median_ms", "gbps", "copy_gbps", "frac_of_copy", "speedup_vs_eager", "speedup_vs_compile"])

    def meets(r) -> bool | None:
        numel = 1
        for d in str(r["x_shape"]).split("x"):
            numel *= int(d)
        if r["impl"] != "triton" or r["pass"] != "fwdbwd" or numel < TARGETS["min_numel"] or "cpu" in str(
                r["device_name"]).lower():
            return None
        return bool(r["frac_of_copy"] >= TARGETS["frac_of_copy"] and r["speedup_vs_compile"] >= TARGETS[
            "speedup_vs_compile"] and r["speedup_vs_eager"] >= TARGETS["speedup_vs_eager"])

    frame["meets_target"] = [meets(r) for r in frame.to_dict(orient="records")]
    notes = ["Target (H100, forward+backward, >= 2^24 elements): >= 85% of the copy bandwidth measured in the same "
             "run, >= 1.2x torch.compile, >= 4x eager; meets_target is n/a for rows it does not apply to.",
             "CPU rows time eager and compile with perf_counter; they say nothing about the GPU targets."]
    return render_frame(frame, fmt, caption=caption or "Fused bypass kernel benchmark", notes=notes)
