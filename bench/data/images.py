"""Image files -> one uint8 (N, 3, size, size) tensor, decoded in parallel threads (Pillow frees the GIL)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from .dataset import DataError


def _pil():
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency of the file-backed data sets
        raise RuntimeError("reading AffectNet / Aff-Wild images needs Pillow: pip install pillow") from None
    return Image


def read_face(path: Path, box: tuple[int, int, int, int] | None, size: int, where: str) -> np.ndarray:
    """One image as uint8 (3, size, size); ``box`` = (x, y, width, height) crops the face first.
    ``where`` names the row that asked for it in any error."""
    image_mod = _pil()
    try:
        with image_mod.open(path) as im:
            im = im.convert("RGB")
            if box is not None:
                x, y, w, h = box
                left, top = max(x, 0), max(y, 0)
                right, bottom = min(x + w, im.width), min(y + h, im.height)
                if right <= left or bottom <= top:
                    raise DataError(f"{where}: face box {box} is outside {path} ({im.width}x{im.height})")
                im = im.crop((left, top, right, bottom))
            im = im.resize((size, size), image_mod.BILINEAR, reducing_gap=None)
            return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1)
    except FileNotFoundError:
        raise FileNotFoundError(f"{where}: image not found: {path}") from None
    except OSError as exc:
        raise DataError(f"{where}: cannot read image {path}: {exc}") from None


def read_faces(jobs: Sequence[tuple[Path, tuple | None, str]], size: int, skip_unreadable: bool = False
               ) -> tuple[torch.Tensor, list[int], list[str]]:
    """Decode ``(path, box, where)`` jobs. Returns the images, the indices of the jobs kept, and one
    message per job skipped (only with ``skip_unreadable``; otherwise the first bad file raises)."""
    def one(job):
        try:
            return read_face(job[0], job[1], size, job[2]), None
        except (FileNotFoundError, DataError) as exc:
            if not skip_unreadable:
                raise
            return None, str(exc)

    with ThreadPoolExecutor(max_workers=min(16, os.cpu_count() or 1)) as pool:
        results = list(pool.map(one, jobs))
    kept = [i for i, (img, _) in enumerate(results) if img is not None]
    skipped = [msg for _, msg in results if msg is not None]
    if not kept:
        return torch.empty(0, 3, size, size, dtype=torch.uint8), kept, skipped
    return torch.from_numpy(np.stack([results[i][0] for i in kept])), kept, skipped
