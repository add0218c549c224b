"""Aff-Wild: per-video face frames plus per-frame valence/arousal annotation files (dimensional only).

Accepted layout (the release's annotation files, frames extracted and face-cropped by the user)::

    PATH/annotations/valence/<video>.txt    one value in [-1, 1] per line; line k is frame k
    PATH/annotations/arousal/<video>.txt    (annotations/train/{valence,arousal}/ is accepted too)
    PATH/frames/<video>/<k>.jpg|.png         face crop of frame k (e.g. 00042.jpg); frames with no face
                                             detected may be absent and are simply not used
    PATH/subjects.csv                        optional, columns video,subject: videos of one subject
                                             always fall on the same side of the split
    PATH/validation.txt                      optional, one video per line: the validation set verbatim

Split (BReG-NeXt Sec. 4.1): 26 of the training sequences form a subject-independent validation set.
Without validation.txt, whole subjects (each video its own subject unless subjects.csv says otherwise)
are taken in a seeded shuffle until 26 sequences are held out. ``split`` is train, val or all.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from .cache import cached_dataset
from .dataset import DataError, Dataset
from .images import Job
from .index import Index

VAL_SEQUENCES = 26
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _annotation_dir(root: Path) -> Path:
    for candidate in (root / "annotations" / "train", root / "annotations"):
        if (candidate / "valence").is_dir() and (candidate / "arousal").is_dir():
            return candidate
    raise FileNotFoundError(f"Aff-Wild annotations not found: expected {root}/annotations/valence/ and "
                            f"{root}/annotations/arousal/")


def _values(path: Path) -> list[float]:
    if not path.is_file():
        raise FileNotFoundError(f"Aff-Wild annotation file not found: {path}")
    out = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        try:
            value = float(line)
        except ValueError:
            raise DataError(f"{path}:{lineno}: not a number: {line.strip()!r}") from None
        if not -1 <= value <= 1:
            raise DataError(f"{path}:{lineno}: {value} is outside [-1, 1]")
        out.append(value)
    return out


def validation_videos(root: Path, videos: list[str], count: int = VAL_SEQUENCES, seed: int = 0) -> set[str]:
    """The held-out sequences: validation.txt if present, else whole subjects until ``count`` videos."""
    listed = root / "validation.txt"
    if listed.is_file():
        names = {line.strip() for line in listed.read_text().splitlines() if line.strip()}
        unknown = names - set(videos)
        if unknown:
            raise DataError(f"{listed}: unknown video(s) {sorted(unknown)}")
        return names
    subject = {v: v for v in videos}
    table = root / "subjects.csv"
    if table.is_file():
        with open(table, newline="") as fh:
            reader = csv.DictReader(fh)
            if not {"video", "subject"} <= set(reader.fieldnames or []):
                raise DataError(f"{table}: needs columns video,subject; the header is {reader.fieldnames}")
            for row in reader:
                if row["video"] in subject:
                    subject[row["video"]] = row["subject"]
    if count >= len(videos):
        raise DataError(f"{root}: {len(videos)} sequences cannot spare {count} for validation (the paper's split); "
                        "list the validation videos in validation.txt instead")
    groups: dict[str, list[str]] = {}
    for video in sorted(videos):
        groups.setdefault(subject[video], []).append(video)
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    held: set[str] = set()
    for name in order:
        if len(held) >= count:
            break
        held.update(groups[name])
    return held


def load_affwild(path: str | Path, split: str = "train", size: int = 64, val_sequences: int = VAL_SEQUENCES,
                 stride: int = 1, seed: int = 0, cache_dir=None) -> Dataset:
    """``stride`` keeps every stride-th annotated frame (consecutive frames are near duplicates). Images come from
    the decoded cache (`bench.data.cache`); ``groups`` is each frame's video."""
    return cached_dataset(index_affwild(path, split, val_sequences, stride, seed), size, cache_dir)


def index_affwild(path: str | Path, split: str = "train", val_sequences: int = VAL_SEQUENCES, stride: int = 1,
                  seed: int = 0) -> Index:
    """The annotated frames of one split, checked, without decoding an image."""
    root = Path(path).absolute()
    if split not in ("train", "val", "all"):
        raise ValueError(f"Aff-Wild splits are train, val, all; not {split!r}")
    ann = _annotation_dir(root)
    frames_dir = root / "frames"
    if not frames_dir.is_dir():
        raise FileNotFoundError(f"Aff-Wild frames folder not found: {frames_dir}")
    videos = sorted(p.stem for p in (ann / "valence").glob("*.txt"))
    if not videos:
        raise DataError(f"{ann / 'valence'}: no annotation files")
    held = validation_videos(root, videos, val_sequences, seed) if split != "all" else set()
    chosen = [v for v in videos if (v in held) == (split == "val")] if split != "all" else videos
    jobs, va, groups = [], [], []
    label_files = [p for p in (root / "validation.txt", root / "subjects.csv") if p.is_file()]
    for video in chosen:
        label_files += [ann / "valence" / f"{video}.txt", ann / "arousal" / f"{video}.txt"]
        valence = _values(ann / "valence" / f"{video}.txt")
        arousal = _values(ann / "arousal" / f"{video}.txt")
        if len(valence) != len(arousal):
            raise DataError(f"{ann}: {video}.txt has {len(valence)} valence but {len(arousal)} arousal lines")
        files = sorted(p for p in (frames_dir / video).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        for n, frame in enumerate(files):
            try:
                k = int(frame.stem)
            except ValueError:
                raise DataError(f"{frame}: frame files must be named by frame number") from None
            if k >= len(valence):
                raise DataError(f"{frame}: frame {k} has no annotation line ({video}.txt has {len(valence)})")
            if n % stride == 0:
                jobs.append(Job(frame, None, f"{frame}"))
                va.append((valence[k], arousal[k]))
                groups.append(video)
    if not jobs:
        raise DataError(f"{frames_dir}: no frames for the {split} split")
    key = {"path": str(root), "val_sequences": val_sequences, "stride": stride, "seed": seed}
    return Index("affwild", split, key, label_files, jobs, va=va, groups=groups,
                 info={"source": str(root), "split": split, "videos": chosen, "skipped": {}})
