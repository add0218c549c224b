"""The form every data set takes: uint8 images (N, 3, H, W) plus labels, ready to sit on a GPU.

Images are uint8 (not files, not float): a whole AffectNet-sized set at 64x64 fits in GPU memory (287,651 x
12 KiB = 3.5 GB) and is augmented there. At 224x224 it is 43 GB, so ``images`` may instead be a `DiskImages`,
the decoded cache on disk, read a batch at a time (`bench.data.feed`) or made resident with ``to(device)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from .disk import DiskImages
from .errors import DataError as DataError  # re-exported: loaders raise it

# Category names in each data set's own label order (the CSVs' integer codes).
AFFECTNET_CLASSES = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")
FER2013_CLASSES = ("anger", "disgust", "fear", "happy", "sad", "surprise", "neutral")
# AffectNet without contempt (DACL's 7 basic classes): AffectNet's codes 0..6 unchanged, code 7 dropped.
AFFECTNET7_CLASSES = AFFECTNET_CLASSES[:7]
# RAF-DB basic's labels 1..7 (Surprise, Fear, Disgust, Happiness, Sadness, Anger, Neutral) as 0..6, in RAF-DB's
# own order and names: not AffectNet's order (its 0 is neutral) nor FER2013's (its 0 is anger).
RAFDB_CLASSES = ("surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral")


@dataclass
class Dataset:
    """``images`` uint8 (N, 3, H, W), a tensor or a `DiskImages`; ``labels`` int64 (N,) or None; ``va`` float32
    (N, 2) valence, arousal in [-1, 1] or None; ``groups`` int64 (N,), each row's video or clip as an index into
    ``group_names`` (sets that have them: Aff-Wild, AFEW-VA), or None. ``info`` records provenance (source,
    split, rows skipped and why)."""

    name: str
    images: Tensor | DiskImages
    labels: Tensor | None = None
    va: Tensor | None = None
    class_names: tuple[str, ...] = ()
    info: dict = field(default_factory=dict)
    groups: Tensor | None = None
    group_names: tuple[str, ...] = ()

    def __post_init__(self):
        n = self.images.shape[0]
        if self.images.dtype != torch.uint8 or len(self.images.shape) != 4 or self.images.shape[1] != 3:
            raise ValueError(f"{self.name}: images must be uint8 (N, 3, H, W), got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        for key in ("labels", "va", "groups"):
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

    @property
    def resident(self) -> bool:
        """Whether the images are a tensor in memory (False: read from the decoded cache on disk)."""
        return isinstance(self.images, Tensor)

    @property
    def nbytes(self) -> int:
        """Bytes of the images (labels are small beside them)."""
        return self.images.nbytes

    def to(self, device) -> Dataset:
        """On ``device``, images included: a disk-backed set is read into memory there (in chunks)."""
        move = lambda t: None if t is None else t.to(device)
        return replace(self, images=move(self.images), labels=move(self.labels), va=move(self.va),
                       groups=move(self.groups))

    def subset(self, index: Tensor) -> Dataset:
        """The rows ``index`` (int64); a disk-backed subset holds the index and reads nothing."""
        def take(t):
            if t is None:
                return None
            return t.subset(index) if isinstance(t, DiskImages) else t[index.to(t.device)]

        return replace(self, images=take(self.images), labels=take(self.labels), va=take(self.va),
                       groups=take(self.groups), info={**self.info, "subset_of": len(self)})

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
