"""The epoch-time and training-run tables: speed-ups across rows, the published reference, the H100 target."""

import json

import pytest

from harness.results_store import make_row
from reports.build import TABLES
from reports.epoch_time import epoch_time_frame, render_epoch_time
from reports.render import FORMATS
from reports.train import render_train, train_frame

COMMON = {"epoch_size": 287_651, "batch_size": 128, "image_size": 64, "amp": "bf16", "channels_last": True,
          "epochs": 3, "warmup": 1, "device": "cuda", "seed": 0}


def _row(model, impl, epoch_s, **config):
    cfg = {"model": model, "bypass_impl": impl, **COMMON, **config}
    return make_row("epoch_time", cfg, {"epoch_s": epoch_s, "images_per_s": cfg["epoch_size"] / epoch_s,
                                        "peak_gpu_mem_gib": 10.0})


def test_speedups_reference_and_target():
    rows = [_row("bregnext50", "eager", 40.0), _row("bregnext50", "compile", 20.0), _row("bregnext50", "triton", 10.0),
            _row("bregnext50", "eager", 30.0, batch_size=64),  # other settings: no speed-up against these
            _row("bregnext32", "triton", 20.0, device="cpu")]
    frame = epoch_time_frame(rows)
    triton = frame.iloc[2]
    assert triton["speedup_vs_eager"] == pytest.approx(4.0) and triton["speedup_vs_compile"] == pytest.approx(2.0)
    assert frame.iloc[0]["speedup_vs_compile"] is None and frame.iloc[3]["speedup_vs_eager"] is None
    assert triton["speedup_vs_published"] == pytest.approx(75.021)
    assert triton["meets_target"] is True and frame.iloc[0]["meets_target"] is False
    assert frame.iloc[4]["meets_target"] is None  # a CPU row (and another network) is not checked
    reference = frame.iloc[-1]
    assert reference["source"].startswith("published") and reference["epoch_s"] == 750.21
    assert reference["device"] == "GeForce GTX 1080 Ti" and reference["meets_target"] is None


def test_rows_say_whether_they_were_extrapolated():
    budget = {k: v for k, v in COMMON.items() if k not in ("epochs", "warmup")}
    steps = make_row("epoch_time", {"model": "bregnext50", "bypass_impl": "triton", **budget, "steps": 100,
                                    "warmup_steps": 200},
                     {"epoch_s": 14.0, "images_per_s": 287_651 / 14.0, "peak_gpu_mem_gib": 3.0, "extrapolated": True,
                      "timed_steps": 100, "step_s": 14.0 / (287_651 / 128)})
    frame = epoch_time_frame([_row("bregnext50", "eager", 40.0), steps])
    assert list(frame["timed"][:2]) == ["3 epochs", "100 steps, extrapolated"]
    assert frame.iloc[1]["meets_target"] is True  # 20,546 images/s
    assert "extrapolated" in render_epoch_time([steps], "markdown")


def test_every_format_and_registered():
    rows = [_row("bregnext50", "eager", 40.0), _row("bregnext50", "triton", 10.0)]
    for fmt in FORMATS:
        assert "750.2" in render_epoch_time(rows, fmt)
    assert "published value, not a measurement" in render_epoch_time(rows, "markdown")
    assert json.loads(render_epoch_time(rows, "json"))["rows"][1]["speedup_vs_eager"] == 4.0
    assert TABLES["epoch_time"][0] == ("epoch_time", render_epoch_time)
    assert TABLES["train"][0] == ("training_runs", render_train)


def test_train_table_drops_columns_no_row_fills():
    rows = [make_row("train", {"model": "bregnext26", "task": "categorical", "epoch": e},
                     {"accuracy": 0.5 + e / 10, "train_loss": 1.0 / e, "best_so_far": True},
                     {"epoch_s": 2.0, "images_per_s": 24.0, "lr": 1e-4}) for e in (1, 2)]
    frame = train_frame(rows)
    assert list(frame["epoch"]) == [1, 2] and "rmse_total" not in frame and "images_per_s" in frame
    md = render_train(rows, "markdown")
    assert "bregnext26" in md and "0.7" in md and "yes" in md
    assert r"\begin{tabular}" in render_train(rows, "latex")
