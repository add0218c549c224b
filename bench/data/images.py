"""One decode step for every file-backed set: a `Job` (an image file and its face box, or FER2013's pixels)
becomes uint8 (3, size, size). The decoded cache (`bench.data.cache`) runs it once per image, in threads
(Pillow frees the GIL while it decodes and resizes; on 2 cores threads beat a process pool, which pays for
pickling every decoded image back)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from .dataset import DataError, resize


class Job(NamedTuple):
    """One image to decode. ``where`` names the label-file row that asked for it, for errors; ``pixels``
    (uint8 (1, h, w)) is an image held in the label file itself (FER2013), then ``path`` is that file."""

    path: str | Path
    box: tuple[int, int, int, int] | None
    where: str
    pixels: np.ndarray | None = None

    def key(self) -> str:
        """What the decoded image depends on besides the file's bytes (not the row: inserting a row moves the
        rows below, not their images)."""
        return self.where if self.pixels is not None else f"{self.path}\t{self.box}"


def inside_folder(name: str, where: str) -> str:
    """``name``, an image path a label file gives relative to the data folder, if it stays inside that folder; a
    DataError naming the row if it is absolute or climbs out with '..' (a label file must not read other files)."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts:
        raise DataError(f"{where}: image path {name!r} leaves the data folder (absolute, or '..')")
    return name


def _pil():
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency of the file-backed data sets
        raise RuntimeError("reading AffectNet / Aff-Wild images needs Pillow: pip install pillow") from None
    return Image


def decoder_version() -> str:
    """The library the pixels come from: a new one may decode a JPEG differently, so the cache records it."""
    return f"Pillow {_pil().__version__}"


def read_face(path: str | Path, box: tuple[int, int, int, int] | None, size: int, where: str) -> np.ndarray:
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


def decode(job: Job, size: int) -> np.ndarray:
    """The job's image as uint8 (3, size, size), C-contiguous."""
    if job.pixels is not None:
        return resize(torch.from_numpy(job.pixels)[None], size)[0].numpy()
    return np.ascontiguousarray(read_face(job.path, job.box, size, job.where))


def decode_or_skip(job: Job, size: int, skip_unreadable: bool) -> tuple[np.ndarray | None, str | None]:
    """(image, None), or (None, why) for a missing or unreadable file when ``skip_unreadable``."""
    try:
        return decode(job, size), None
    except (FileNotFoundError, DataError) as exc:
        if not skip_unreadable:
            raise
        return None, str(exc)
