"""Which parameters decay, the optimisers, and their step schedules.

BReG-NeXt (Sec. 3.5) puts L2 on the convolution weights only (Adam's coupled weight decay on those weights, the
gradient of wd/2 |w|^2); DACL's code decays every parameter of the network and its attention net
(``torch.optim.SGD(model.parameters(), weight_decay=5e-4)``, main.py). ``decay_on`` names which.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

SGD_MOMENTUM = 0.9  # DACL Sec. 4.2
ADAM_BETAS = (0.9, 0.999)  # torch's default; CAF's code uses (0.5, 0.9)
DECAY_ON = ("conv", "all")


@dataclass(frozen=True)
class OptimizerSettings:
    """One optimiser's settings as a run's config holds them (`bench.train` options of the same names)."""

    optimizer: str = "adam"
    lr: float = 1e-4
    momentum: float = SGD_MOMENTUM
    betas: tuple[float, float] = ADAM_BETAS
    weight_decay: float = 0.0
    decay_on: str = "conv"


def param_groups(modules: Iterable[nn.Module], weight_decay: float, decay_on: str = "conv") -> list[dict]:
    """Two groups: what decays (convolution weights, or every parameter with ``decay_on="all"``) and the rest."""
    params = list(dict.fromkeys(p for m in modules for p in m.parameters()))
    if decay_on == "all":
        return [{"params": params, "weight_decay": weight_decay}, {"params": [], "weight_decay": 0.0}]
    conv = {id(m.weight) for mod in modules for m in mod.modules() if isinstance(m, nn.Conv2d)}
    return [{"params": [p for p in params if id(p) in conv], "weight_decay": weight_decay},
            {"params": [p for p in params if id(p) not in conv], "weight_decay": 0.0}]


def make_optimizer(groups: list[dict], settings: OptimizerSettings, device: torch.device) -> torch.optim.Optimizer:
    """Adam (BReG-NeXt Sec. 3.5, CAF) or SGD with momentum (BReG-Net, DACL Sec. 4.2); the fused CUDA kernel on
    a GPU (one launch for all parameters, same maths). Weight decay is the groups' own (`param_groups`)."""
    groups = [g for g in groups if g["params"]]
    fused = device.type == "cuda"
    if settings.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=settings.lr, momentum=settings.momentum, fused=fused)
    return torch.optim.Adam(groups, lr=settings.lr, betas=settings.betas, fused=fused)


def make_scheduler(optimizer: torch.optim.Optimizer, step: int, gamma: float) -> torch.optim.lr_scheduler.StepLR:
    """lr x ``gamma`` every ``step`` epochs or iterations (the loop steps it per its ``lr_step_unit``)."""
    return torch.optim.lr_scheduler.StepLR(optimizer, step, gamma)
