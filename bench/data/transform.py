"""A network's input from uint8 faces, as each paper makes it: augmentation, crop and normalisation, batched on
the device where the batch sits.

Augmentations (``augment``):
- ``bregnext``: BReG-NeXt Sec. 3.5's colour and zoom augmentation on a share ``p`` of the samples (`augment`).
- ``dacl``: one of the five 224 crops of a 256 face (four corners and the centre, picked at random) and a
  horizontal flip at p = 0.5 (DACL Sec. 4.2; its code's ``RandomFiveCrop`` and ``RandomHorizontalFlip``).
- ``caf``: a uniformly random 224 crop of a 256 face and a flip at p = 0.5 (CAF's code, src/main.py: its
  ``ColorJitter()`` has no arguments and changes nothing).
- ``none``.
At test time a face larger than the input is centre-cropped (DACL's and CAF's ``CenterCrop(224)``).

Normalisations (``normalise``): ``bregnext`` pixels / 255 minus BReG-NeXt's per-channel mean (its code);
``dacl`` minus DACL's mean over DACL's std (its main.py); ``imagenet`` ImageNet's mean and std (CAF's main.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .augment import MEAN, AugmentConfig, augment

AUGMENTS = ("bregnext", "dacl", "caf", "none")
NORMALISATIONS = {
    "bregnext": (MEAN, (1.0, 1.0, 1.0)),
    "dacl": ((0.5752, 0.4495, 0.4012), (0.2086, 0.1911, 0.1827)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


def centre_offset(stored: int, size: int) -> int:
    """torchvision's centre-crop offset (``int(round((h - s) / 2))``), so test crops match the authors' code."""
    return int(round((stored - size) / 2.0))


def crop(images: Tensor, top: Tensor, left: Tensor, size: int, flip: Tensor | None = None) -> Tensor:
    """uint8 (N, C, H, W) -> (N, C, size, size): sample i's window at (top[i], left[i]), mirrored where flip[i]."""
    n, device = images.shape[0], images.device
    base = torch.arange(size, device=device)
    cols = base.expand(n, size) if flip is None else torch.where(flip[:, None], size - 1 - base, base)
    rows = top.to(device)[:, None] + base
    cols = left.to(device)[:, None] + cols
    picked = images[torch.arange(n, device=device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
    return picked.permute(0, 3, 1, 2).contiguous()


@dataclass(frozen=True)
class InputTransform:
    """uint8 faces of side ``stored`` -> the network's float input of side ``size`` (see the module)."""

    augment: str = "bregnext"
    p: float = 0.25
    normalise: str = "bregnext"
    size: int | None = None  # input side; None: the stored side

    def __post_init__(self):
        if self.augment not in AUGMENTS:
            raise ValueError(f"unknown augmentation {self.augment!r}; choose from {', '.join(AUGMENTS)}")
        if self.normalise not in NORMALISATIONS:
            raise ValueError(f"unknown normalisation {self.normalise!r}; choose from {', '.join(NORMALISATIONS)}")

    def _scale(self, x: Tensor) -> Tensor:
        """float in [0, 1] -> normalised, in place."""
        mean, std = (torch.tensor(v, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
                     for v in NORMALISATIONS[self.normalise])
        return x.sub_(mean).div_(std)

    def _side(self, images: Tensor) -> int:
        side = self.size or images.shape[-1]
        if side > min(images.shape[-2:]):
            raise ValueError(f"input side {side} is larger than the stored faces ({tuple(images.shape[-2:])})")
        return side

    def test(self, images: Tensor) -> Tensor:
        """The evaluation input: centre crop (when the faces are larger than the input), normalised."""
        side = self._side(images)
        h, w = images.shape[-2:]
        if (h, w) != (side, side):
            top, left = centre_offset(h, side), centre_offset(w, side)
            images = images[..., top:top + side, left:left + side]
        return self._scale(images.float().div_(255))

    def train(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The training input: this transform's augmentation, then the normalisation."""
        side, n, device = self._side(images), images.shape[0], images.device
        h, w = images.shape[-2:]
        if self.augment in ("dacl", "caf"):
            if self.augment == "dacl":  # corners and centre, as torchvision's five_crop orders them
                pick = torch.randint(0, 5, (n,), generator=generator, device=device)
                tops = torch.tensor([0, 0, h - side, h - side, centre_offset(h, side)], device=device)
                lefts = torch.tensor([0, w - side, 0, w - side, centre_offset(w, side)], device=device)
                top, left = tops[pick], lefts[pick]
            else:
                top = torch.randint(0, h - side + 1, (n,), generator=generator, device=device)
                left = torch.randint(0, w - side + 1, (n,), generator=generator, device=device)
            flip = torch.rand(n, generator=generator, device=device) < 0.5
            return self._scale(crop(images, top, left, side, flip).float().div_(255))
        if (h, w) != (side, side):
            images = images[..., centre_offset(h, side):centre_offset(h, side) + side,
                            centre_offset(w, side):centre_offset(w, side) + side]
        if self.augment == "none" or self.p <= 0:
            return self._scale(images.float().div_(255))
        return self._scale(augment(images, AugmentConfig(p=self.p), generator))
