"""AFEW-VA as distributed (the data set of CAF's dimensional tables): one folder per clip; dimensional only.

Layout (PATH holds the clip folders; one more level, as left by unpacking the release's parts into folders of
their own, is accepted too)::

    PATH/001/001.json     {"actor": "...", "frames": {"00000": {"valence": 3, "arousal": -2,
                                                               "landmarks": [[x, y], ...]}, ...}}
    PATH/001/00000.png    frame 00000 of clip 001 (.png, .jpg or .jpeg), the whole video frame

Valence and arousal are integers in [-10, 10], divided by 10 into [-1, 1]. The frames are whole video frames,
so by default each is cropped to a square around its landmarks (their extent plus ``margin`` of it on each
side, clipped to the frame); ``crop=False`` keeps whole frames and does not read the landmarks. Clips are the
folders holding ``<folder name>.json``; every clip's JSON is checked, and any malformed value is an error
naming the file, the line of the frame's key and the frame. An annotated frame whose image is missing is an
error too; images with no annotation are not used.

Split: subject-independent. ``PATH/validation.txt`` (optional, one clip id a line) is the val split verbatim;
without it, whole actors (the JSONs' ``actor``) are taken in a shuffle seeded with ``seed`` until at least
``val_fraction`` (0.2) of the clips are held out for val. There is no test split; ``all`` is every clip.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import NamedTuple

from .cache import cached_dataset
from .dataset import DataError, Dataset
from .images import Job
from .index import Index

SCALE = 10
VAL_FRACTION = 0.2
MARGIN = 0.2
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class Clip(NamedTuple):
    id: str
    folder: Path
    actor: str
    frames: list[tuple[str, float, float, tuple | None]]  # (frame key, valence, arousal, face box or None)


def find_clips(root: Path) -> list[tuple[str, Path]]:
    """(clip id, folder) of every folder ``F`` under ``root`` (or one level deeper) holding ``F/F.json``."""
    if not root.is_dir():
        raise FileNotFoundError(f"AFEW-VA folder not found: {root}")
    for pattern in ("*", "*/*"):
        clips = sorted((d.name, d) for d in root.glob(pattern) if (d / f"{d.name}.json").is_file())
        if clips:
            break
    else:
        raise FileNotFoundError(f"AFEW-VA clips not found: expected folders like {root}/001/ holding 001.json")
    seen: dict[str, Path] = {}
    for clip_id, folder in clips:
        if clip_id in seen:
            raise DataError(f"{folder}: clip {clip_id} is also at {seen[clip_id]}")
        seen[clip_id] = folder
    return clips


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _face_box(points, margin: float) -> tuple[int, int, int, int] | None:
    """A square (x, y, width, height) around the landmarks, or None if they are not a list of [x, y]."""
    if not isinstance(points, list) or not points:
        return None
    if not all(isinstance(p, (list, tuple)) and len(p) == 2 and all(map(_number, p)) for p in points):
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    side = max(max(xs) - min(xs), max(ys) - min(ys)) * (1 + 2 * margin)
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    return round(cx - side / 2), round(cy - side / 2), round(side), round(side)


def _frame(entry, crop: bool, margin: float) -> tuple[float, float, tuple | None]:
    """One frame's (valence, arousal) in [-1, 1] and face box; a ValueError saying what is wrong."""
    if not isinstance(entry, dict):
        raise ValueError("expected an object with valence and arousal")
    values = []
    for dim in ("valence", "arousal"):
        value = entry.get(dim)
        if not _number(value) or value != int(value) or not -SCALE <= value <= SCALE:
            raise ValueError(f"{dim} {value!r} is not an integer in -{SCALE}..{SCALE}")
        values.append(value / SCALE)
    box = None
    if crop:
        box = _face_box(entry.get("landmarks"), margin)
        if box is None:
            raise ValueError("landmarks must be a list of [x, y] (crop=False uses whole frames)")
        if box[2] < 1:
            raise ValueError("the landmarks span no area")
    return values[0], values[1], box


def read_clip(clip_id: str, folder: Path, crop: bool = True, margin: float = MARGIN) -> Clip:
    path = folder / f"{clip_id}.json"
    text = path.read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict) or not isinstance(data.get("frames"), dict):
        raise DataError(f"{path}: expected an object with a 'frames' object")
    actor = data.get("actor")
    if not isinstance(actor, str) or not actor.strip():
        raise DataError(f"{path}: 'actor' must be a non-empty string (the split keeps each actor's clips together)")
    frames = []
    for key, entry in sorted(data["frames"].items()):
        try:
            frames.append((key, *_frame(entry, crop, margin)))
        except ValueError as exc:
            pos = text.find(f'"{key}"', max(text.find('"frames"'), 0))  # the key's line, for the message
            line = text.count("\n", 0, pos) + 1 if pos >= 0 else 1
            raise DataError(f"{path}:{line}: frame {key}: {exc}") from None
    if not frames:
        raise DataError(f"{path}: no annotated frames")
    return Clip(clip_id, folder, actor.strip(), frames)


def validation_clips(root: Path, clips: list[Clip], fraction: float = VAL_FRACTION, seed: int = 0) -> set[str]:
    """validation.txt if present, else whole actors in a seeded shuffle until ``fraction`` of the clips."""
    ids = {c.id for c in clips}
    listed = root / "validation.txt"
    if listed.is_file():
        names = {line.strip() for line in listed.read_text().splitlines() if line.strip()}
        unknown = names - ids
        if unknown:
            raise DataError(f"{listed}: unknown clip(s) {sorted(unknown)}")
        return names
    if not 0 < fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {fraction}")
    groups: dict[str, list[str]] = {}
    for clip in clips:
        groups.setdefault(clip.actor, []).append(clip.id)
    if len(groups) < 2:
        raise DataError(f"{root}: all {len(clips)} clips are of one actor; a subject-independent split needs two "
                        "(or list the val clips in validation.txt)")
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    want, held = math.ceil(fraction * len(clips)), set()
    for actor in order[:-1]:  # the last actor always stays in train
        if len(held) >= want:
            break
        held.update(groups[actor])
    return held


def load_afewva(path: str | Path, split: str = "train", size: int = 64, val_fraction: float = VAL_FRACTION,
                stride: int = 1, seed: int = 0, crop: bool = True, margin: float = MARGIN, cache_dir=None) -> Dataset:
    """``stride`` keeps every stride-th annotated frame of a clip (consecutive frames are near duplicates). Images
    come from the decoded cache (`bench.data.cache`); ``groups`` is each frame's clip."""
    return cached_dataset(index_afewva(path, split, val_fraction, stride, seed, crop, margin), size, cache_dir)


def index_afewva(path: str | Path, split: str = "train", val_fraction: float = VAL_FRACTION, stride: int = 1,
                 seed: int = 0, crop: bool = True, margin: float = MARGIN) -> Index:
    """The annotated frames of one split, checked, without decoding an image."""
    root = Path(path).absolute()
    if split not in ("train", "val", "all"):
        raise ValueError(f"AFEW-VA splits are train, val, all; not {split!r}")
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    clips = [read_clip(clip_id, folder, crop, margin) for clip_id, folder in find_clips(root)]
    held = validation_clips(root, clips, val_fraction, seed) if split != "all" else set()
    chosen = [c for c in clips if split == "all" or (c.id in held) == (split == "val")]
    jobs, va, groups = [], [], []
    for clip in chosen:
        for key, valence, arousal, box in clip.frames[::stride]:
            where = f"{clip.folder / clip.id}.json (frame {key})"
            image = next((clip.folder / f"{key}{s}" for s in IMAGE_SUFFIXES if (clip.folder / f"{key}{s}").is_file()),
                         clip.folder / f"{key}{IMAGE_SUFFIXES[0]}")
            jobs.append(Job(image, box, where))
            va.append((valence, arousal))
            groups.append(clip.id)
    if not jobs:
        raise DataError(f"{root}: no frames for the {split} split")
    label_files = [c.folder / f"{c.id}.json" for c in clips]  # every clip's actor decides the split
    label_files += [root / "validation.txt"] if (root / "validation.txt").is_file() else []
    key = {"path": str(root), "val_fraction": val_fraction, "stride": stride, "seed": seed, "crop": crop,
           "margin": margin}
    return Index("afewva", split, key, label_files, jobs, va=va, groups=groups,
                 info={"source": str(root), "split": split, "clips": [c.id for c in chosen],
                       "actors": sorted({c.actor for c in chosen}), "skipped": {}})
