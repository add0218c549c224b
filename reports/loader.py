"""The data-loader table (`python -m bench.loader`): the decoded cache's first-run decode, its time to open on a
second run, and a whole epoch streamed from disk with `BatchFeed`: throughput and the peak resident memory of the
process beside the size of the set it read."""

from __future__ import annotations

from .rows import flat_frame, render_frame

CONFIG = ["measure", "faces", "image_size", "batch_size", "prefetch", "device"]
METRICS = ["seconds", "images_per_s", "data_mb", "peak_rss_mb", "rss_before_mb", "rss_growth_mb", "first_step_s",
           "data_path", "error"]
ORDER = {"decode": 0, "open": 1, "epoch": 2, "train_first": 3, "train_second": 4}


def render_loader(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    rows = sorted(rows, key=lambda r: (r["config"].get("faces") or 0, r["config"].get("image_size") or 0,
                                       ORDER.get(r["config"].get("measure"), 9)))
    frame = flat_frame(rows, CONFIG, METRICS).dropna(axis=1, how="all")
    notes = ["decode: the first run, every JPEG decoded into the cache with every core (seconds, images/s); "
             "open: a second run's time from load_dataset to the cache being open (label file parsed, every source "
             "file stat'ed, no image decoded); epoch: one shuffled pass over the whole set with BatchFeed.",
             "Each measure runs in a fresh process; peak_rss_mb is that process's ru_maxrss, rss_before_mb its peak "
             "after imports and before the measure, rss_growth_mb the difference, to compare with data_mb (the "
             "decoded set). The cache was just written, so the pass reads from the page cache, not the disk.",
             "train_first / train_second: `python -m bench.train --model tv_alexnet_tuned --batch-size 32 --data-path "
             "stream` (batch_size above is the loader's) on the same folder, first run "
             "(decode included) and second (cache reused): first_step_s, the seconds from the start of the run's "
             "setup (data, model) to the start of its first step (its first batch in hand); seconds, the whole "
             "process (imports and every step included); peak_rss_mb over all its steps."]
    return render_frame(frame, fmt, caption=caption or "Data loader: decoded cache and streaming", notes=notes)
