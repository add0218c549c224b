"""FER2013 as distributed: one CSV, columns ``emotion,pixels,Usage``; 48x48 grey faces, 7 classes.

Splits: train = Training, val = PublicTest, test = PrivateTest. The file has no known bad rows, so any
malformed row is an error naming the file and line; never a skipped or guessed label.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .cache import cached_dataset
from .dataset import FER2013_CLASSES, DataError, Dataset
from .images import Job
from .index import Index

USAGE = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}
COLUMNS = ("emotion", "pixels", "Usage")
SIDE = 48


def load_fer2013(path: str | Path, split: str = "train", size: int = 64, cache_dir=None) -> Dataset:
    """Images (resized, grey repeated to RGB) come from the decoded cache (`bench.data.cache`)."""
    return cached_dataset(index_fer2013(path, split), size, cache_dir)


def index_fer2013(path: str | Path, split: str = "train") -> Index:
    """The rows of one split, checked; each row's 48x48 pixels ride in its job (the CSV holds the images)."""
    path = Path(path).absolute()
    if path.is_dir():
        path = path / "fer2013.csv"
    if not path.is_file():
        raise FileNotFoundError(f"FER2013 CSV not found: {path}")
    if split not in USAGE:
        raise ValueError(f"FER2013 splits are {', '.join(USAGE)}, not {split!r}")
    usages = set(USAGE.values())
    jobs, labels = [], []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)}: not a FER2013 CSV (its first line must "
                            f"name the columns {','.join(COLUMNS)})")  # what it holds is not repeated: any file
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
                jobs.append(Job(path, None, f"{path}:{line}", pixels.astype(np.uint8).reshape(1, SIDE, SIDE)))
                labels.append(label)
    if not jobs:
        raise DataError(f"{path}: no rows with Usage {USAGE[split]!r}")
    return Index("fer2013", split, {"path": str(path)}, [path], jobs, labels=labels, class_names=FER2013_CLASSES,
                 info={"source": str(path), "split": split, "skipped": {}})
