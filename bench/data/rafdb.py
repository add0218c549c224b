"""RAF-DB basic emotions as distributed (the data set of DACL's Table 2): one label list plus aligned faces.

Layout (PATH is the folder holding ``basic/``, or ``basic/`` itself)::

    basic/EmoLabel/list_patition_label.txt   (sic) lines ``train_00001.jpg 5`` / ``test_0001.jpg 3``
    basic/Image/aligned/train_00001_aligned.jpg   the release's 100x100 aligned face of that line

Labels 1..7 are RAF-DB's Surprise, Fear, Disgust, Happiness, Sadness, Anger, Neutral; they become 0..6 in that
same order (``RAFDB_CLASSES``), which is neither AffectNet's order nor FER2013's.

Splits: train is the ``train_*`` lines, test the ``test_*`` lines. RAF-DB has no validation set and papers
(DACL included) report on its test set, so val is the test set too (``info["note"]`` says so): `bench.train`
picks its best epoch on the set it reports. Any malformed line (not two fields, a name that is neither
``train_*`` nor ``test_*``, a label outside 1..7, a name listed twice) is an error naming the file and line;
so is a missing or unreadable image, unless ``skip_missing=True`` (then counted in ``info["skipped"]`` and
warned about).
"""

from __future__ import annotations

from pathlib import Path

from .cache import cached_dataset
from .dataset import RAFDB_CLASSES, DataError, Dataset
from .images import Job, inside_folder
from .index import Index

LABEL_FILE = Path("EmoLabel") / "list_patition_label.txt"
IMAGE_DIR = Path("Image") / "aligned"
PREFIX = {"train": "train_", "val": "test_", "test": "test_"}
VAL_NOTE = "RAF-DB has no validation set: val is its test set, the set papers report on"


def basic_root(root: Path) -> Path:
    """The ``basic`` folder: ``root/basic`` or ``root`` itself."""
    for candidate in (root / "basic", root):
        if (candidate / LABEL_FILE).is_file():
            return candidate
    raise FileNotFoundError(f"RAF-DB label file not found: expected {root / 'basic' / LABEL_FILE} "
                            f"(or {root / LABEL_FILE})")


def aligned_name(name: str) -> str:
    """``train_00001.jpg`` -> ``train_00001_aligned.jpg``."""
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}_aligned.{suffix}" if dot else f"{name}_aligned"


def load_rafdb(path: str | Path, split: str = "train", size: int = 64, skip_missing: bool = False,
               cache_dir=None) -> Dataset:
    """Images come from the decoded cache (`bench.data.cache`)."""
    return cached_dataset(index_rafdb(path, split, skip_missing), size, cache_dir)


def index_rafdb(path: str | Path, split: str = "train", skip_missing: bool = False) -> Index:
    """The label list's lines of one split, checked, without decoding an image."""
    if split not in PREFIX:
        raise ValueError(f"RAF-DB splits are train, test (and val = test), not {split!r}")
    base = basic_root(Path(path).absolute())
    list_path = base / LABEL_FILE
    jobs, labels, seen = [], [], {}
    for lineno, line in enumerate(list_path.read_text().splitlines(), 1):
        where = f"{list_path}:{lineno}"
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise DataError(f"{where}: expected 'NAME LABEL', got {len(fields)} fields: {line.strip()!r}")
        name, label = inside_folder(fields[0], where), fields[1]
        if not name.startswith(("train_", "test_")):
            raise DataError(f"{where}: image name {name!r} starts with neither train_ nor test_")
        if name in seen:
            raise DataError(f"{where}: {name} is listed twice (first at line {seen[name]})")
        seen[name] = lineno
        try:
            code = int(label)
        except ValueError:
            raise DataError(f"{where}: label {label!r} is not an integer") from None
        if not 1 <= code <= len(RAFDB_CLASSES):
            raise DataError(f"{where}: label {code} is outside 1..{len(RAFDB_CLASSES)}")
        if name.startswith(PREFIX[split]):
            jobs.append(Job(base / IMAGE_DIR / aligned_name(name), None, where))
            labels.append(code - 1)
    if not jobs:
        raise DataError(f"{list_path}: no {PREFIX[split]}* lines for the {split} split")
    info = {"source": str(list_path), "split": split, "skipped": {}}
    if split == "val":
        info["note"] = VAL_NOTE
    return Index("rafdb", split, {"path": str(base), "skip_missing": skip_missing}, [list_path], jobs, labels=labels,
                 class_names=RAFDB_CLASSES, info=info, skip_unreadable=skip_missing, skip_unit=f"{split} lines")
