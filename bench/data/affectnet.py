"""AffectNet as distributed: an image folder plus ``training.csv`` / ``validation.csv``.

Columns: subDirectory_filePath, face_x, face_y, face_width, face_height, facial_landmarks, expression,
valence, arousal. Images are looked up under ``PATH/Manually_Annotated_Images/`` (the release's folder)
or else ``PATH/``. Every kept row carries both an expression (0..7, AffectNet's order) and a
valence/arousal pair. Dropped, counted in ``info["skipped"]`` and warned about, as the release is known to
hold them: expressions 8-10 (none, uncertain, no-face) and valence/arousal of -2 (no annotation). Any
other malformed value is an error naming the file and line. A missing or unreadable image is an error too,
unless ``skip_missing=True`` (then counted and warned).

``num_classes=7`` is the 7 basic classes as DACL uses them (source ``affectnet7``): rows of expression 7
(contempt) are dropped and counted too; the other codes keep AffectNet's order, 0..6.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .cache import cached_dataset
from .dataset import AFFECTNET7_CLASSES, AFFECTNET_CLASSES, DataError, Dataset
from .images import Job, inside_folder
from .index import Index

FILES = {"train": "training.csv", "val": "validation.csv"}
COLUMNS = ("subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "facial_landmarks",
           "expression", "valence", "arousal")
DROPPED_EXPRESSIONS = {8: "none", 9: "uncertain", 10: "no-face"}
NO_VA = -2.0


def image_root(root: Path) -> Path:
    folder = root / "Manually_Annotated_Images"
    return folder if folder.is_dir() else root


def load_affectnet(path: str | Path, split: str = "train", size: int = 64, skip_missing: bool = False,
                   limit: int | None = None, num_classes: int = 8, cache_dir=None) -> Dataset:
    """``limit`` keeps the first that many usable rows (quick looks at a large release); ``num_classes``
    8 keeps contempt, 7 drops its rows. Images come from the decoded cache (`bench.data.cache`)."""
    return cached_dataset(index_affectnet(path, split, skip_missing, limit, num_classes), size, cache_dir)


def index_affectnet(path: str | Path, split: str = "train", skip_missing: bool = False, limit: int | None = None,
                    num_classes: int = 8) -> Index:
    """The rows of one split's CSV, checked, without decoding an image."""
    root = Path(path).absolute()
    if split not in FILES:
        raise ValueError(f"AffectNet splits are {', '.join(FILES)}, not {split!r}")
    if num_classes not in (7, 8):
        raise ValueError(f"AffectNet has 8 classes, or 7 without contempt; not num_classes={num_classes}")
    dropped = {**DROPPED_EXPRESSIONS, **({7: "contempt"} if num_classes == 7 else {})}
    csv_path = root / FILES[split]
    if not csv_path.is_file():
        raise FileNotFoundError(f"AffectNet {split} CSV not found: {csv_path}")
    images_at = f"{image_root(root)}/"  # joined as text: a Path per row is most of the time indexing takes
    jobs, labels, va = [], [], []
    skipped: dict[str, int] = {}
    with open(csv_path, newline="") as fh:
        reader = csv.reader(fh)
        header = [c.strip() for c in next(reader, [])]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise DataError(f"{csv_path}: missing column(s) {', '.join(missing)}; the header is {header}")
        col = {c: header.index(c) for c in COLUMNS}
        for row in reader:
            where = f"{csv_path}:{reader.line_num}"
            if not row:
                continue
            if len(row) != len(header):
                raise DataError(f"{where}: {len(row)} fields, the header has {len(header)}")
            try:
                box = tuple(int(float(row[col[c]])) for c in COLUMNS[1:5])
                expression = int(row[col["expression"]])
                valence, arousal = float(row[col["valence"]]), float(row[col["arousal"]])
            except ValueError:
                raise DataError(f"{where}: face box, expression, valence, arousal must be numbers") from None
            if expression in dropped:
                key = f"expression {expression} ({dropped[expression]})"
                skipped[key] = skipped.get(key, 0) + 1
                continue
            if not 0 <= expression < len(AFFECTNET_CLASSES):
                raise DataError(f"{where}: expression {expression} is outside 0..10")
            if NO_VA in (valence, arousal):
                skipped["valence/arousal -2"] = skipped.get("valence/arousal -2", 0) + 1
                continue
            if not (-1 <= valence <= 1 and -1 <= arousal <= 1):
                raise DataError(f"{where}: valence {valence} / arousal {arousal} outside [-1, 1]")
            if box[2] <= 0 or box[3] <= 0:
                raise DataError(f"{where}: face box {box} has no area")
            image = inside_folder(row[col["subDirectory_filePath"]].strip(), where)
            jobs.append(Job(images_at + image, box, where))
            labels.append(expression)
            va.append((valence, arousal))
            if limit is not None and len(jobs) >= limit:
                break
    if not jobs:
        raise DataError(f"{csv_path}: no usable rows")
    name, class_names = ("affectnet", AFFECTNET_CLASSES) if num_classes == 8 else ("affectnet7", AFFECTNET7_CLASSES)
    return Index(name, split, {"path": str(root), "limit": limit, "skip_missing": skip_missing}, [csv_path], jobs,
                 labels=labels, va=va, class_names=class_names, skip_unreadable=skip_missing,
                 info={"source": str(csv_path), "split": split, "skipped": skipped},
                 empty=f"{csv_path}: no usable rows")
