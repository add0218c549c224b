"""The eager-step table (`python -m bench.eager_step`): a CPU training step with each eager form of Eq. 8, its time
and peak memory, and both over the plain formula's measured with the same settings (computed here, from the rows
that share every other setting, so a row means the same whatever else ran beside it)."""

from __future__ import annotations

import json

from .rows import flat_frame, render_frame

BASELINE = "plain"  # Eq. 8 as printed, under autograd: what a user writes
TARGET = 1.1  # issue 22: the Function within 1.1x of the plain formula's step time and peak memory
CONFIG = ["model", "form", "batch_size", "image_size", "threads"]
METRICS = ["step_s", "step_cpu_s", "peak_rss_mb", "rss_growth_mb", "time_vs_plain", "peak_vs_plain",
           "growth_vs_plain", "loss"]
RATIOS = {"time_vs_plain": "step_s", "peak_vs_plain": "peak_rss_mb", "growth_vs_plain": "rss_growth_mb"}


def _settings(config: dict) -> str:
    return json.dumps({k: v for k, v in config.items() if k != "form"}, sort_keys=True, default=str)


def with_ratios(rows: list[dict]) -> list[dict]:
    """The rows with ``time_vs_plain``, ``peak_vs_plain`` and ``growth_vs_plain`` added to their metrics wherever
    a plain row of the same settings exists."""
    plain = {_settings(r["config"]): r["metrics"] for r in rows if r["config"].get("form") == BASELINE}
    out = []
    for row in rows:
        base = plain.get(_settings(row["config"]))
        ratios = {name: row["metrics"][key] / base[key] for name, key in RATIOS.items() if base and base[key]}
        out.append({**row, "metrics": {**row["metrics"], **ratios}})
    return out


def render_eager_step(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    frame = flat_frame(with_ratios(rows), CONFIG, METRICS).dropna(axis=1, how="all")
    notes = ["Forms: plain, Eq. 8 as printed (atan(alpha x / s) / (alpha s)) under autograd; function, the eager "
             "path's autograd Function (saves x alone); series, the float64-safe definition under autograd.",
             "step_s / step_cpu_s: median wall / process-CPU seconds of one training step (forward, loss, backward, "
             "SGD) over every timed step of every process; peak_rss_mb: median ru_maxrss of the form's processes, "
             "rss_growth_mb: that peak less the process's peak before its first step (imports, model, data).",
             f"*_vs_plain: over the plain form's row of the same settings; the target is <= {TARGET} for the "
             "function. On a shared machine the wall time carries the load of whatever else runs."]
    return render_frame(frame, fmt, caption=caption or "Eager Eq. 8: CPU training step", notes=notes)
