"""The epoch-time table: seconds per training epoch and images per second for each network and bypass
implementation, with the speed-ups between implementations, BReG-Net's published epoch as the reference,
and the H100 target checked on the rows it applies to.

Speed-ups are computed here, from whichever rows share every other setting, not when a row is timed: a row
then means the same thing whatever else ran in its sweep, on whichever worker ran it.
"""

from __future__ import annotations

import json

import pandas as pd

from . import published
from .rows import flat_frame, render_frame

# Baselines first: a row shows its speed-up over the implementations listed before its own. eager and compile
# are Eq. 8 as the authors write it; eager_safe the model's own eager path; triton the fused op (bench.epoch_time).
IMPL_ORDER = ("eager", "compile", "eager_safe", "auto", "triton")
TARGET = {"model": "bregnext50", "images_per_s": 20_000}
AFFECTNET_EPOCH = 287_651
PUBLISHED_DEVICE = "GeForce GTX 1080 Ti"
CONFIG = ["model", "bypass_impl", "bypass_form", "device", "epoch_size", "batch_size", "image_size", "amp",
          "channels_last"]
METRICS = ["epoch_s", "images_per_s", "peak_gpu_mem_gib"]


def published_epoch_s() -> float:
    """BReG-Net's mean AffectNet epoch (FG 2019, Sec. IV-C), read from the published-values table."""
    return float(published.lookup("bregnet", "epoch", "bregnet", "epoch_time")["value"])


def _settings(config: dict) -> str:
    """Everything but the implementation (and its description): rows that agree here are compared."""
    return json.dumps({k: v for k, v in config.items() if k not in ("bypass_impl", "bypass_form")}, sort_keys=True,
                      default=str)


def speedups(rows: list[dict]) -> list[dict]:
    """Per row, ``speedup_vs_<impl>`` over each baseline implementation timed with the same settings."""
    by_settings: dict[str, dict[str, float]] = {}
    for row in rows:
        by_settings.setdefault(_settings(row["config"]), {})[row["config"].get("bypass_impl")] = \
            row["metrics"]["epoch_s"]
    out = []
    for row in rows:
        impl, epoch_s = row["config"].get("bypass_impl"), row["metrics"]["epoch_s"]
        same = by_settings[_settings(row["config"])]
        baselines = IMPL_ORDER[:IMPL_ORDER.index(impl)] if impl in IMPL_ORDER else ()
        out.append({f"speedup_vs_{b}": same[b] / epoch_s for b in baselines if b in same})
    return out


def timed(row: dict) -> str:
    """What an epoch time was measured from: whole epochs, or a step budget it was extrapolated from."""
    if row["metrics"].get("extrapolated"):
        return f"{row['metrics'].get('timed_steps')} steps, extrapolated"
    epochs = row["config"].get("epochs")
    return f"{epochs} epoch{'s' if epochs != 1 else ''}" if epochs is not None else "n/a"


def epoch_time_frame(rows: list[dict]) -> pd.DataFrame:
    """One line per measured row, then BReG-Net's published epoch as a last line labelled 'published'."""
    frame = flat_frame(rows, CONFIG, METRICS)
    frame.insert(0, "source", "measured")
    frame.insert(frame.columns.get_loc("epoch_s"), "timed", [timed(r) for r in rows])
    ups = pd.DataFrame(speedups(rows), index=frame.index, columns=[f"speedup_vs_{i}" for i in IMPL_ORDER])
    frame = pd.concat([frame, ups.dropna(axis=1, how="all")], axis=1)
    paper = published_epoch_s()
    full = frame["epoch_size"] == AFFECTNET_EPOCH  # the ratio only means something for a whole AffectNet epoch
    frame["speedup_vs_published"] = [paper / s if f else None for s, f in zip(frame["epoch_s"], full, strict=True)]
    on_cuda = (frame["model"] == TARGET["model"]) & (frame["device"] == "cuda")
    frame["meets_target"] = [bool(ips >= TARGET["images_per_s"]) if c else None
                             for ips, c in zip(frame["images_per_s"], on_cuda, strict=True)]
    reference = {"source": "published (BReG-Net, FG 2019)", "model": "BReG-Net (4.9M params)",
                 "device": PUBLISHED_DEVICE, "epoch_size": "AffectNet", "epoch_s": paper}
    frame = pd.concat([frame.astype(object), pd.DataFrame([reference]).astype(object)], ignore_index=True)
    return frame.astype(object).where(frame.notna(), None)


def render_epoch_time(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    notes = [f"The last line is a published value, not a measurement: BReG-Net's mean epoch of "
             f"{published_epoch_s():.2f} s on AffectNet (categorical) on a {PUBLISHED_DEVICE}. speedup_vs_published "
             f"is its ratio to a measured epoch, given only for AffectNet-sized epochs ({AFFECTNET_EPOCH:,} "
             "images, timed whole or extrapolated).",
             "timed: whole epochs (their median), or the steps an epoch was extrapolated from (steps per epoch x "
             "the median step, after a warm-up of steps).",
             "speedup_vs_<impl>: epoch time of that implementation over this row's, same settings otherwise.",
             "bypass_form: eager and compile run BReG-NeXt Eq. 8 as the authors' code writes it (atan(alpha x / s) "
             "/ (alpha s)), the baselines a user would run; eager_safe is the model's own eager path (the safe Eq. 8 "
             "as an autograd Function); triton is the fused op. Rows without it predate these labels: their "
             "eager and compile ran the safe form.",
             f"Target (H100): {TARGET['model']} >= {TARGET['images_per_s']:,} images/s (bf16, channels_last, "
             "Triton bypass); meets_target is checked on its CUDA rows only, n/a elsewhere. CPU rows show that "
             "the harness runs, not what the target measures."]
    return render_frame(epoch_time_frame(rows), fmt, caption=caption or "Training epoch time", notes=notes)
