"""Training checkpoints: written atomically, read back as tensors and plain values only.

``torch.load(weights_only=True)`` (PyTorch's default since 2.6) refuses any pickled object other than
tensors, numbers, strings and containers of them, so ``--resume PATH`` on a file from elsewhere cannot run
code. Everything `bench.train` saves (state dicts, generator states, its config) is of those types.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch

from .cli import UsageError


def save_checkpoint(run_dir: Path, is_best: bool, state: dict) -> None:
    """Write last.pt atomically (a kill mid-save leaves the previous one), and best.pt too if ``is_best``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / "last.pt.tmp"
    for name in ("last.pt", "best.pt") if is_best else ("last.pt",):
        torch.save(state, tmp)
        os.replace(tmp, run_dir / name)


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """A checkpoint's dict, or a one-line UsageError for a file that is not a plain checkpoint."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" not in str(exc).lower():  # names no pickled object: not a pickle at all (text, truncated)
            raise UsageError(f"{path}: not a checkpoint file (torch.load cannot read it)") from None
        raise UsageError(f"{path}: holds pickled objects other than tensors and plain values; refusing to load "
                         "it (only checkpoints of plain state dicts are read)") from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise UsageError(f"{path}: not a readable checkpoint ({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(state, dict):
        raise UsageError(f"{path}: not a checkpoint of this harness (a {type(state).__name__}, not a dict)")
    return state
