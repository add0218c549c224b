"""Sec. 3.5's augmentation and input normalisation, batched on whatever device the uint8 batch lives on.

BReG-NeXt augments 25% of the time with a random horizontal flip followed by random hue, saturation,
brightness, contrast and zoom. Here each sample of a batch is picked with probability ``p``; a picked
sample is flipped with probability 1/2 and gets every colour change and a zoom-in. The whole batch goes
through the same tensor ops with identity parameters for samples not picked: no Python branching per
sample and no host sync, so the same code keeps up with a GPU training step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import torch
import torch.nn.functional as F
from torch import Tensor

# Per-channel mean of the public BReG-NeXt code (pixels / 255 first).
MEAN = (0.5727663, 0.44812188, 0.39362228)
# RGB -> YIQ; a hue shift is a rotation of the I, Q plane.
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_CONSTANTS = {"mean": torch.tensor(MEAN).view(1, 3, 1, 1), "yiq": _YIQ, "yiq_inv": torch.linalg.inv(_YIQ),
              "luma": _YIQ[0].view(1, 3, 1, 1)}


@cache
def _const(name: str, device: torch.device, dtype: torch.dtype = torch.float32) -> Tensor:
    """Constants copied to a device once, not once per batch (no host-to-device copy in the step)."""
    return _CONSTANTS[name].to(device=device, dtype=dtype)


@dataclass(frozen=True)
class AugmentConfig:
    p: float = 0.25
    hue: float = 0.05  # fraction of a full turn, +-
    saturation: float = 0.3  # factor in [1 - s, 1 + s]
    brightness: float = 0.2
    contrast: float = 0.2
    zoom: float = 0.15  # zoom-in factor in [1, 1 + zoom]


def normalise(images: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """uint8 (N, 3, H, W) -> pixels / 255 minus the per-channel mean (the network's input)."""
    return images.to(dtype).div_(255).sub_(_const("mean", images.device, dtype))


def _uniform(n: int, half_width: float, gen, device) -> Tensor:
    return (torch.rand(n, generator=gen, device=device) * 2 - 1) * half_width


def augment(images: Tensor, config: AugmentConfig = AugmentConfig(), generator: torch.Generator | None = None
            ) -> Tensor:
    """uint8 (N, 3, H, W) -> augmented float in [0, 1] on the same device (call `normalise` style
    centring after: `augment_and_normalise` does both)."""
    n, dev = images.shape[0], images.device
    x = images.float().div_(255)
    picked = (torch.rand(n, generator=generator, device=dev) < config.p).float()
    flip = (torch.rand(n, generator=generator, device=dev) < 0.5).float() * picked
    gate = lambda t, neutral: neutral + picked * (t - neutral)  # identity for samples not picked

    # colour: hue rotation and saturation scaling act on YIQ chroma -> one 3x3 matrix per sample
    angle = gate(_uniform(n, config.hue * 2 * math.pi, generator, dev), 0.0)
    sat = gate(1 + _uniform(n, config.saturation, generator, dev), 1.0)
    cos, sin = angle.cos() * sat, angle.sin() * sat
    one, zero = torch.ones_like(cos), torch.zeros_like(cos)
    chroma = torch.stack([one, zero, zero, zero, cos, -sin, zero, sin, cos], 1).view(n, 3, 3)
    colour = _const("yiq_inv", dev) @ chroma @ _const("yiq", dev)
    x = torch.einsum("nij,njhw->nihw", colour, x)
    bright = gate(1 + _uniform(n, config.brightness, generator, dev), 1.0).view(n, 1, 1, 1)
    contrast = gate(1 + _uniform(n, config.contrast, generator, dev), 1.0).view(n, 1, 1, 1)
    x = x * bright
    grey = (x * _const("luma", dev)).sum(1, keepdim=True)
    x = torch.lerp(grey.mean((2, 3), keepdim=True), x, contrast)

    # geometry: flip and zoom-in as one affine resampling of the batch
    scale = 1 / gate(1 + torch.rand(n, generator=generator, device=dev) * config.zoom, 1.0)
    theta = torch.zeros(n, 2, 3, device=dev)
    theta[:, 0, 0] = scale * (1 - 2 * flip)
    theta[:, 1, 1] = scale
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return x.clamp_(0, 1)


def augment_and_normalise(images: Tensor, config: AugmentConfig | None = AugmentConfig(),
                          generator: torch.Generator | None = None) -> Tensor:
    """The training input: augmented (unless ``config`` is None) and zero-centred per channel."""
    if config is None or config.p <= 0:
        return normalise(images)
    return augment(images, config, generator).sub_(_const("mean", images.device))
