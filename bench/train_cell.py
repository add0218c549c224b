"""One `bench.train` run as a cell of a sweep (depth sweep, ablation): settings in, final metrics out.

The run goes through `bench.train.main`, the same code as the command line, in a scratch folder: its own
per-epoch rows and checkpoints are not kept; the sweep stores one row per cell.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

# cell-config key -> bench.train option (values passed as strings; booleans become bare flags)
_OPTIONS = {"model": "--model", "bypass": "--bypass", "data": "--data", "task": "--task", "epochs": "--epochs",
            "batch_size": "--batch-size", "image_size": "--image-size", "device": "--device", "amp": "--amp",
            "bypass_impl": "--bypass-impl", "seed": "--seed", "channels_last": "--channels-last",
            "synth_train": "--synth-train", "synth_val": "--synth-val", "loss": "--loss", "method": "--method",
            "caf_margin": "--caf-margin", "caf_adversary": "--caf-adversary", "caf_reading": "--caf-reading",
            "init": "--init"}


def train_cell(config: dict) -> tuple[dict, dict]:
    """Train as ``config`` says; return the last epoch's metrics and the final model state dict."""
    from . import train
    from .checkpoint import load_checkpoint

    argv = []
    for key, option in _OPTIONS.items():
        value = config.get(key)
        if value is None or value is False or (key.startswith("synth_") and config.get("data") != "synth"):
            continue
        argv += [option] if value is True else [option, str(value)]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.json"
        train.main(argv + ["--checkpoint-dir", str(Path(tmp) / "ckpt"), "--results", str(Path(tmp) / "train.jsonl"),
                           "--format", "json", "--out", str(out)])
        last = [json.loads(line) for line in out.read_text().splitlines() if line.strip()][-1]
        (ckpt,) = Path(tmp, "ckpt").glob("*/last.pt")
        state = load_checkpoint(ckpt)["model"]
    return last["metrics"], state
