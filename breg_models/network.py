"""One builder for every spec: full pre-activation residual units with a bounded-gradient shortcut.

Unit (public BReG-NeXt code): BN -> ELU -> conv3x3(stride s) -> BN -> ELU -> conv3x3, convs with biases,
no activation after the add; the bypass acts on the unit's raw input. Head: BN -> ELU -> GAP -> FC.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .bypass import Bypass, Shortcut
from .specs import TASKS, NetworkSpec


class ResidualUnit(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, bypass: Bypass, impl: str = "eager"):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.shortcut = Shortcut(bypass, in_channels, out_channels, stride, impl)

    def forward(self, x: Tensor) -> Tensor:
        f = self.conv1(F.elu(self.bn1(x)))
        f = self.conv2(F.elu(self.bn2(f)))
        return self.shortcut(x, f)


class BRegNetwork(nn.Module):
    """A network of Table 1; stages are named conv2..conv6 as Table 1 names its rows."""

    def __init__(self, spec: NetworkSpec, task: str = "categorical", num_classes: int | None = None,
                 bypass_impl: str = "eager"):
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
        outputs = _outputs(task, num_classes)
        self.spec, self.task = spec, task
        bypass_params = dict(spec.bypass_params)
        for name, value in (("alpha", spec.alpha_init), ("beta", spec.beta_init)):
            if value is not None:
                bypass_params[name] = value
        self.stem = nn.Conv2d(3, spec.stem_width, 3, stride=spec.stem_stride, padding=1)
        width = spec.stem_width
        for i, stage in enumerate(spec.stages):
            units = []
            for u in range(stage.units):
                stride = stage.stride if u == 0 else 1
                units.append(ResidualUnit(width, stage.width, stride, Bypass(spec.bypass, **bypass_params),
                                          bypass_impl))
                width = stage.width
            self.add_module(f"conv{i + 2}", nn.Sequential(*units))
        self.head_bn = nn.BatchNorm2d(width)
        self.fc = nn.Linear(width, outputs)
        self.stage_names = [f"conv{i + 2}" for i in range(len(spec.stages))]

    def features(self, x: Tensor) -> Tensor:
        """The last convolutional feature map after the head's BN-ELU (DACL's attention input)."""
        x = self.stem(x)
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return F.elu(self.head_bn(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


def _outputs(task: str, num_classes: int | None) -> int:
    if task == "dimensional":
        if num_classes not in (None, 2):
            raise ValueError(f"the dimensional head has 2 outputs (valence, arousal), not {num_classes}")
        return 2
    if num_classes is None:
        return 8
    if int(num_classes) != num_classes or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    return int(num_classes)


def units(model: nn.Module) -> list[ResidualUnit]:
    return [m for m in model.modules() if isinstance(m, ResidualUnit)]
