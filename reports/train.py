"""The training-run table: one line per epoch of `bench.train` with its loss, validation metrics and speed,
so a run (or every run in a store) reads at a glance."""

from __future__ import annotations

import pandas as pd

from .rows import flat_frame, render_frame

# method / caf_margin / optimizer appear only in runs that set them (dropped below when no row has them)
CONFIG = ["model", "data", "task", "loss", "method", "caf_margin", "optimizer", "bypass", "batch_size", "device",
          "epoch"]
METRICS = ["train_loss", "accuracy", "macro_f1", "rmse_total", "ccc_valence", "ccc_arousal", "holdout_accuracy",
           "holdout_rmse_total", "best_so_far"]
TIMINGS = ["epoch_s", "images_per_s", "lr"]


def train_frame(rows: list[dict]) -> pd.DataFrame:
    """Chosen config, metric and timing columns; a column no row fills (e.g. RMSE on a categorical run) is dropped."""
    frame = flat_frame(rows, CONFIG, METRICS)
    for key in TIMINGS:
        frame[key] = [r.get("timings", {}).get(key) for r in rows]
    frame = frame.dropna(axis=1, how="all")
    if "method" in frame:  # beside CAF runs, a run without the key is a plain one
        frame["method"] = frame["method"].fillna("plain")
    return frame


def render_train(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    notes = ["Validation metrics after each epoch; best_so_far marks the epoch saved as best.pt, picked on the "
             "held-out part of the training set (holdout_*) where the run holds one out, else on the validation "
             "split."]
    return render_frame(train_frame(rows), fmt, caption=caption or "Training runs (per epoch)", notes=notes)
