"""The in-memory form every data set takes: uint8 images (N, 3, H, W) plus labels, ready to sit on a GPU.

Keeping images as uint8 tensors (not files, not float) is what lets training and the timed epochs hold a
whole AffectNet-sized set in GPU memory (287,651 x 12 KiB = 3.5 GB) and augment it there.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

# Category names in each data set's own label order (the CSVs' integer codes).
AFFECTNET_CLASSES = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")
FER2013_CLASSES = ("anger", "disgust", "fear", "happy", "sad", "surprise", "neutral")
# AffectNet without contempt (DACL's 7 basic classes): AffectNet's codes 0..6 unchanged, code 7 dropped.
AFFECTNET7_CLASSES = AFFECTNET_CLASSES[:7]
# RAF-DB basic's labels 1..7 (Surprise, Fear, Disgust, Happiness, Sadness, Anger, Neutral) as 0..6, in RAF-DB's
# own order and names: not AffectNet's order (its 0 is neutral) nor FER2013's (its 0 is anger).
RAFDB_CLASSES = ("surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral")


class DataError(ValueError):
    """A data file that cannot be read as its format says: the message names the file and the row."""


@dataclass
class Dataset:
    """``images`` uint8 (N, 3, H, W); ``labels`` int64 (N,) or None; ``va`` float32 (N, 2) valence, arousal
    in [-1, 1] or None. ``info`` records provenance (source, split, rows skipped and why)."""

    name: str
    images: Tensor
    labels: Tensor | None = None
    va: Tensor | None = None
    class_names: tuple[str, ...] = ()
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        n = self.images.shape[0]
        if self.images.dtype != torch.uint8 or self.images.dim() != 4 or self.images.shape[1] != 3:
            raise ValueError(f"{self.name}: images must be uint8 (N, 3, H, W), got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        for key in ("labels", "va"):
            value = getattr(self, key)
            if value is not None and value.shape[0] != n:
                raise ValueError(f"{self.name}: {n} images but {value.shape[0]} {key}")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(t for t, v in (("categorical", self.labels), ("dimensional", self.va)) if v is not None)

    def targets(self, task: str) -> Tensor:
        """Labels for 'categorical', (valence, arousal) for 'dimensional'; an error if the set lacks them."""
        value = {"categorical": self.labels, "dimensional": self.va}.get(task)
        if value is None:
            raise ValueError(f"data set {self.name} has no {task} labels (it has: {', '.join(self.tasks)})")
        return value

    def to(self, device) -> Dataset:
        move = lambda t: None if t is None else t.to(device)
        return replace(self, images=move(self.images), labels=move(self.labels), va=move(self.va))

    def subset(self, index: Tensor) -> Dataset:
        take = lambda t: None if t is None else t[index.to(t.device)]
        return replace(self, images=take(self.images), labels=take(self.labels), va=take(self.va),
                       info={**self.info, "subset_of": len(self)})

    def class_counts(self) -> list[int]:
        return torch.bincount(self.targets("categorical").cpu(), minlength=self.num_classes).tolist()


def resize(images: Tensor, size: int, chunk: int = 4096) -> Tensor:
    """uint8 (N, C, h, w) -> uint8 (N, 3, size, size), grey repeated to RGB, area-weighted when shrinking."""
    if images.shape[-2:] != (size, size):
        parts = []
        for start in range(0, images.shape[0], chunk):
            part = torch.nn.functional.interpolate(images[start:start + chunk].float(), size=(size, size),
                                                   mode="bilinear", align_corners=False, antialias=True)
            parts.append(part.round_().clamp_(0, 255).to(torch.uint8))
        images = torch.cat(parts)
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    return images.contiguous()
