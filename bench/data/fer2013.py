"""FER2013 as distributed: one CSV, columns ``emotion,pixels,Usage``; 48x48 grey faces, 7 classes.

Splits: train = Training, val = PublicTest, test = PrivateTest. The file has no known bad rows, so any
malformed row is an error naming the file and line; never a skipped or guessed label.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from .dataset import FER2013_CLASSES, DataError, Dataset, resize

USAGE = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}
COLUMNS = ("emotion", "pixels", "Usage")
SIDE = 48


def load_fer2013(path: str | Path, split: str = "train", size: int = 64) -> Dataset:
    path = Path(path)
    if path.is_dir():
        path = path / "fer2013.csv"
    if not path.is_file():
        raise FileNotFoundError(f"FER2013 CSV not found: {path}")
    if split not in USAGE:
        raise ValueError(f"FER2013 splits are {', '.join(USAGE)}, not {split!r}")
    usages = set(USAGE.values())
    images, labels = [], []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)}; header: {reader.fieldnames}")
        for row in reader:
            line = reader.line_num
            usage = row["Usage"]
            if usage not in usages:
                raise DataError(f"{path}:{line}: Usage {usage!r} is not one of {sorted(usages)}")
            try:
                label = int(row["emotion"])
                pixels = np.array(row["pixels"].split(), dtype=np.int64)
            except (ValueError, AttributeError):
                raise DataError(f"{path}:{line}: emotion and pixels must be integers") from None
            if not 0 <= label < len(FER2013_CLASSES):
                raise DataError(f"{path}:{line}: emotion {label} is outside 0..{len(FER2013_CLASSES) - 1}")
            if pixels.size != SIDE * SIDE or pixels.min(initial=0) < 0 or pixels.max(initial=0) > 255:
                span = f" in {pixels.min()}..{pixels.max()}" if pixels.size else ""
                raise DataError(f"{path}:{line}: pixels must be {SIDE * SIDE} values in 0..255, got "
                                f"{pixels.size} values{span}")
            if usage == USAGE[split]:
                images.append(pixels.astype(np.uint8).reshape(1, SIDE, SIDE))
                labels.append(label)
    if not images:
        raise DataError(f"{path}: no rows with Usage {USAGE[split]!r}")
    batch = torch.from_numpy(np.stack(images))
    return Dataset("fer2013", resize(batch, size), labels=torch.tensor(labels, dtype=torch.int64),
                   class_names=FER2013_CLASSES, info={"source": str(path), "split": split, "skipped": {}})
