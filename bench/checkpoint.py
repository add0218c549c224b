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
from harness.cli import UsageError


def save_checkpoint(run_dir: Path, is_best: bool, state: dict, best_val: bool = False) -> None:
    """Write last.pt atomically (a kill mid-save leaves the previous one), best.pt too if ``is_best``, and
    best_val.pt if ``best_val`` (the epoch the validation split picks, kept beside a held-out selection)."""
    tmp = run_dir / "last.pt.tmp"
    names = ["last.pt"] + ["best.pt"] * is_best + ["best_val.pt"] * best_val
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        for name in names:
            torch.save(state, tmp)
            os.replace(tmp, run_dir / name)
    except (OSError, RuntimeError) as exc:  # a full disk reaches torch.save as a RuntimeError from its zip writer
        tmp.unlink(missing_ok=True)
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise UsageError(f"could not write the checkpoint of epoch {state.get('epoch')} in {run_dir} (disk full or "
                         f"not writable? {reason}); the epoch's row is stored and a rerun redoes that epoch") from None


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """A checkpoint's dict, or a one-line UsageError for a file that is not a plain checkpoint."""
    try:
        return safe_load(path, map_location)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
