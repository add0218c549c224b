"""The evaluation table: one line per evaluated checkpoint and split (`bench.evaluate` rows, which
`bench.train` also writes for its best checkpoint), with the headline metrics of its task."""

from __future__ import annotations

from .rows import flat_frame, render_frame

CONFIG = ["model", "data", "task", "bypass", "seed", "checkpoint", "split"]
METRICS = ["n_samples", "accuracy", "macro_f1", "weighted_f1", "rmse_valence", "rmse_arousal", "rmse_total",
           "ccc_valence", "ccc_arousal"]


def render_evaluation(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """Columns no row fills (RMSE for categorical runs, accuracy for dimensional ones) are left out."""
    frame = flat_frame(rows, CONFIG, METRICS).dropna(axis=1, how="all")
    notes = ["Rows of `python -m bench.evaluate CHECKPOINT`, and of every finished `python -m bench.train` run "
             "(best.pt on the val split); per-class scores, confusion matrices and error histograms are in the "
             "rows (--format json)."]
    return render_frame(frame, fmt, caption=caption or "Evaluation of trained checkpoints", notes=notes)
