"""Training checkpoints: written atomically, read back as tensors and plain values only.

Reading goes through `breg_models.weights.safe_load` (``torch.load(weights_only=True)``), so ``--resume PATH``
on a file from elsewhere cannot run code. Everything `bench.train` saves (state dicts, generator states, its
config) is tensors and plain values.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from breg_models.weights import safe_load

from .cli import UsageError


def save_checkpoint(run_dir: Path, is_best: bool, state: dict, best_val: bool = False) -> None:
    """Write last.pt atomically (a kill mid-save leaves the previous one), best.pt too if ``is_best``, and
    best_val.pt if ``best_val`` (the epoch the validation split picks, kept beside a held-out selection)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / "last.pt.tmp"
    names = ["last.pt"] + ["best.pt"] * is_best + ["best_val.pt"] * best_val
    for name in names:
        torch.save(state, tmp)
        os.replace(tmp, run_dir / name)


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """A checkpoint's dict, or a one-line UsageError for a file that is not a plain checkpoint."""
    try:
        return safe_load(path, map_location)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
