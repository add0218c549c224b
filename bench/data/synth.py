"""`synth`: a procedurally rendered facial-affect data set, made in memory from a seed (no files).

Each sample draws a (valence, arousal) point on the circumplex; the face is drawn from it (mouth curvature
and width follow valence, mouth opening and eye opening follow arousal, brow height follows arousal and the
brow tilt the product -valence*arousal: angry brows slant in, sad brows slant up), and the category is the
circumplex region the point falls in. Pose (shift, scale, roll), skin and background colour, a lighting
gradient and pixel noise vary independently of the affect, so a network has to find the face to score it.

Class regions (degrees counter-clockwise from +valence, arousal up; radius < 0.3 is neutral):

    happy [-60, 55)  surprise [55, 95)  fear [95, 125)  anger [125, 155)
    disgust [155, 185)  contempt [185, 215)  sad [215, 300)      (7 classes: disgust to 200, sad from 200)

Rendering runs in torch on any device (images come out as uint8 where they are made), so the timed epochs
make an AffectNet-sized set directly on the GPU. Affect and nuisance parameters come from a CPU generator
(the same on every device); the pixel noise from a generator on the rendering device.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .dataset import AFFECTNET_CLASSES, FER2013_CLASSES, Dataset

NEUTRAL_RADIUS = 0.3
_SECTORS = {  # name -> (start, end) degrees, for 8 and 7 classes
    8: {"happy": (-60, 55), "surprise": (55, 95), "fear": (95, 125), "anger": (125, 155),
        "disgust": (155, 185), "contempt": (185, 215), "sad": (215, 300)},
    7: {"happy": (-60, 55), "surprise": (55, 95), "fear": (95, 125), "anger": (125, 155),
        "disgust": (155, 200), "sad": (200, 300)},
}
# BReG-NeXt Table 3: images per expression.
TABLE3_COUNTS = {
    "affectnet": {"neutral": 80276, "happy": 146198, "sad": 29487, "surprise": 16288, "fear": 8191,
                  "disgust": 5264, "anger": 28130, "contempt": 5135},
    "fer2013": {"neutral": 6198, "happy": 8989, "sad": 6077, "surprise": 4002, "fear": 5121, "disgust": 547,
                "anger": 4953},
}
BALANCES = ("uniform", "affectnet", "fer2013", "disk")


def class_names(num_classes: int) -> tuple[str, ...]:
    """8 classes in AffectNet's label order, 7 in FER2013's, so synth stands in for either."""
    if num_classes not in _SECTORS:
        raise ValueError(f"synth has 8 (AffectNet) or 7 (FER2013) classes, not {num_classes}")
    return AFFECTNET_CLASSES if num_classes == 8 else FER2013_CLASSES


def category(va: Tensor, num_classes: int = 8) -> Tensor:
    """The class index of each (valence, arousal) row, from the circumplex regions above."""
    names = class_names(num_classes)
    radius = va.norm(dim=1)
    angle = torch.rad2deg(torch.atan2(va[:, 1], va[:, 0]))
    angle = torch.where(angle < -60, angle + 360, angle)  # [-60, 300)
    out = torch.full(radius.shape, names.index("neutral"), dtype=torch.int64, device=va.device)
    for name, (lo, hi) in _SECTORS[num_classes].items():
        out = torch.where((radius >= NEUTRAL_RADIUS) & (angle >= lo) & (angle < hi), names.index(name), out)
    return out


def _class_weights(balance, names) -> Tensor:
    if isinstance(balance, str):
        if balance == "uniform":
            return torch.ones(len(names), dtype=torch.float64)
        if balance in TABLE3_COUNTS:
            counts = TABLE3_COUNTS[balance]
            missing = [n for n in names if n not in counts]
            if missing:
                raise ValueError(f"balance {balance!r} has no count for {missing} ({len(names)} classes)")
            return torch.tensor([float(counts[n]) for n in names], dtype=torch.float64)
        raise ValueError(f"unknown balance {balance!r}; choose one of: {', '.join(BALANCES)} or weights")
    weights = torch.as_tensor(list(balance), dtype=torch.float64)
    if weights.shape != (len(names),) or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"balance weights must be {len(names)} non-negative numbers, got {list(balance)}")
    return weights


def sample_affect(n: int, gen: torch.Generator, num_classes: int = 8, balance="uniform") -> Tensor:
    """(n, 2) valence/arousal points: the class drawn from the balance, then a uniform point in its region
    ('disk': uniform on the unit disk, classes as they fall)."""
    names = class_names(num_classes)
    if balance == "disk":
        radius = torch.rand(n, generator=gen, dtype=torch.float64).sqrt()
        angle = torch.rand(n, generator=gen, dtype=torch.float64) * 2 * math.pi
        return torch.stack([radius * angle.cos(), radius * angle.sin()], 1).float()
    cls = torch.multinomial(_class_weights(balance, names), n, replacement=True, generator=gen)
    u_r, u_a = torch.rand(2, n, generator=gen, dtype=torch.float64)
    lo = torch.zeros(len(names), dtype=torch.float64)
    hi = torch.full((len(names),), 360.0, dtype=torch.float64)
    for name, (a, b) in _SECTORS[num_classes].items():
        lo[names.index(name)], hi[names.index(name)] = a, b
    r0 = NEUTRAL_RADIUS**2
    neutral = cls == names.index("neutral")
    radius = torch.where(neutral, (u_r * r0).sqrt(), (r0 + u_r * (1 - r0)).sqrt())
    angle = torch.deg2rad(lo[cls] + u_a * (hi[cls] - lo[cls]))
    return torch.stack([radius * angle.cos(), radius * angle.sin()], 1).float()


def _nuisance(n: int, gen: torch.Generator, strength: float) -> dict[str, Tensor]:
    u = lambda lo, hi, *shape: lo + (hi - lo) * torch.rand(n, *shape, generator=gen)
    s = strength
    return {
        "shift": u(-0.1 * s, 0.1 * s, 2),
        "scale": u(1 - 0.15 * s, 1 + 0.05 * s),
        "roll": u(-0.3 * s, 0.3 * s),  # radians, about +-17 degrees
        "skin": torch.tensor([0.86, 0.66, 0.54]) * u(1 - 0.45 * s, 1 + 0.1 * s, 1),
        "background": 0.5 + s * u(-0.4, 0.4, 3),
        "light_dir": u(0, 2 * math.pi),
        "light": u(0, 0.45 * s),
        "noise": u(0, 0.04 * s),
    }


def _soft(d: Tensor, eps: float) -> Tensor:
    """Coverage of a shape from its signed distance (negative inside): anti-aliased edges."""
    return torch.sigmoid(-d / eps)


def _ellipse(x: Tensor, y: Tensor, ax, ay) -> Tensor:
    """Approximate signed distance to an ellipse with half-axes ``ax``, ``ay`` (tensors or numbers)."""
    radius = ((x / ax) ** 2 + (y / ay) ** 2).sqrt()
    return (radius - 1) * torch.minimum(torch.as_tensor(ax), torch.as_tensor(ay))


def render(va: Tensor, nuisance: dict[str, Tensor], size: int, noise_gen: torch.Generator | None = None
           ) -> Tensor:
    """Draw one face per (valence, arousal) row: uint8 (n, 3, size, size) on va's device."""
    dev, n = va.device, va.shape[0]
    col = lambda t: t.to(dev).view(n, *([1] * 2))
    v, a = col(va[:, 0]), col(va[:, 1])
    grid = (torch.arange(size, device=dev, dtype=torch.float32) + 0.5) / size * 2 - 1
    py, px = grid.view(1, size, 1), grid.view(1, 1, size)
    # face coordinates: undo the pose
    dx, dy = px - col(nuisance["shift"][:, 0]), py - col(nuisance["shift"][:, 1])
    c, s, k = col(nuisance["roll"].cos()), col(nuisance["roll"].sin()), col(nuisance["scale"])
    x, y = (c * dx + s * dy) / k, (-s * dx + c * dy) / k
    eps = 1.5 / size
    face = _soft(_ellipse(x, y, 0.7, 0.88), eps)
    ex, ey = x.abs() - 0.3, y + 0.2  # both eyes by symmetry; ex > 0 is the outer side
    eye = _soft(_ellipse(ex, ey, 0.15, 0.02 + 0.065 * (a + 1)), eps)
    pupil = _soft(_ellipse(ex, ey, 0.055, 0.055), eps) * eye
    tilt = 0.45 * (-v) * a  # > 0: inner ends down (anger); < 0: inner ends up (sadness)
    brow_y = -0.42 - 0.1 * a - tilt * (-ex)
    brow = _soft(torch.maximum((y - brow_y).abs() - 0.03, ex.abs() - 0.16), eps)
    width = 0.28 + 0.08 * v
    bend = 1 - (x / width) ** 2
    centre = 0.45 + 0.2 * v * bend  # y grows downwards: v > 0 lifts the corners (a smile)
    half = 0.03 + 0.12 * a.clamp(min=0) * bend.clamp(min=0)
    mouth = _soft(torch.maximum((y - centre).abs() - half, x.abs() - width), eps)

    rgb = lambda t: t.to(dev).view(-1, 3, 1, 1)
    img = rgb(nuisance["background"]).expand(n, 3, size, size)
    img = torch.lerp(img, rgb(nuisance["skin"]), face.unsqueeze(1))
    for mask, colour in ((eye, (0.95, 0.95, 0.95)), (pupil, (0.1, 0.08, 0.06)), (brow, (0.2, 0.12, 0.08)),
                         (mouth, (0.45, 0.08, 0.1))):
        img = torch.lerp(img, torch.tensor(colour, device=dev).view(1, 3, 1, 1), (mask * face).unsqueeze(1))
    direction = col(nuisance["light_dir"])
    shade = 1 + col(nuisance["light"]) * (direction.cos() * px + direction.sin() * py)
    img = img * shade.unsqueeze(1)
    noise = torch.randn(img.shape, generator=noise_gen, device=dev)
    img = img + noise * rgb(nuisance["noise"].repeat_interleave(3))[:, :1]
    return img.clamp(0, 1).mul(255).round().to(torch.uint8)


def make_synth(n: int, *, seed: int = 0, size: int = 64, num_classes: int = 8, balance="uniform",
               nuisance: float = 1.0, device="cpu", chunk: int = 2048) -> Dataset:
    """``n`` faces with labels and (valence, arousal); the same seed gives the same set on a device."""
    if n < 1 or size < 16:
        raise ValueError(f"synth needs n >= 1 and size >= 16, got n={n}, size={size}")
    gen = torch.Generator().manual_seed(seed)
    va = sample_affect(n, gen, num_classes, balance)
    params = _nuisance(n, gen, nuisance)
    device = torch.device(device)
    noise_gen = torch.Generator(device=device).manual_seed(seed)
    images = torch.empty(n, 3, size, size, dtype=torch.uint8, device=device)
    for start in range(0, n, chunk):
        part = slice(start, start + chunk)
        images[part] = render(va[part].to(device), {k: t[part] for k, t in params.items()}, size, noise_gen)
    return Dataset("synth", images, labels=category(va, num_classes).to(device), va=va.to(device),
                   class_names=class_names(num_classes),
                   info={"source": "synth", "seed": seed, "size": size, "balance": str(balance), "n": n})
