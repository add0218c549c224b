"""Reading a weights file safely: tensors and plain values only, bad files as one-line ValueErrors.

``torch.load(weights_only=True)`` (PyTorch's default since 2.6) refuses any pickled object other than
tensors, numbers, strings and containers of them, so a file from elsewhere cannot run code. Both the
backbones' ``init=PATH`` and `bench.checkpoint` read through here (the models package imports nothing of
`bench`).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch


def safe_load(path: str | Path, map_location="cpu") -> dict:
    """The dict a weights or checkpoint file holds; ValueError (one line) for a file that is not one."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" not in str(exc).lower():  # names no pickled object: not a pickle at all (text, truncated)
            raise ValueError(f"{path}: not a checkpoint file (torch.load cannot read it)") from None
        raise ValueError(f"{path}: holds pickled objects other than tensors and plain values; refusing to load "
                         "it (only checkpoints of plain state dicts are read)") from None
    except (KeyError, IndexError, EOFError):  # what the unpickler raises on an empty, text or truncated file
        raise ValueError(f"{path}: not a checkpoint file (torch.load cannot read it)") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a folder, not a checkpoint file") from None
    except (RuntimeError, OSError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        reason = first.split(". ")[0][:120]  # torch's first sentence; the rest is advice on torch's internals
        raise ValueError(f"{path}: not a readable checkpoint, truncated or of another kind ({reason})") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a checkpoint of this harness (a {type(state).__name__}, not a dict)")
    return state
