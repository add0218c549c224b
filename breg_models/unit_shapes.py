"""The shortcut shapes the networks really run: every distinct (x, F) pair a residual unit hands its bypass-add.

The fused kernel is gated and timed at these shapes, not only at large full tiles: a down-sampling unit deep
in a network has a narrow output (BReG-NeXt's 64-channel stage at 64x64 input writes 16-wide rows), and a
kernel tuned for 2^24-element tiles can spend most of its lanes masked there. Shapes follow from the specs
alone (stem stride, then each stage's first-unit stride), so listing them builds no model.
"""

from __future__ import annotations

from dataclasses import dataclass

from .registry import get_spec, resolve_names
from .specs import TABLE1, NetworkSpec

IMAGE_SIZE = 64  # the papers' input (BReG-NeXt Sec. 4: 64x64 faces)
BATCH = 128  # the papers' batch size
DEPTH_FAMILY = tuple(f"bregnext{6 * k + 8}" for k in range(3, 11))  # 26..68, the depth sweep's range


@dataclass(frozen=True)
class UnitShape:
    """One shortcut shape: x is (batch, cin, hw, hw); the output (batch, cout, ceil(hw/stride), ...)."""

    cin: int
    hw: int
    cout: int
    stride: int
    batch: int = BATCH

    @property
    def out_hw(self) -> int:
        return -(-self.hw // self.stride)

    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        return (self.batch, self.cin, self.hw, self.hw)

    @property
    def out_shape(self) -> tuple[int, int, int, int]:
        return (self.batch, self.cout, self.out_hw, self.out_hw)

    @property
    def label(self) -> str:
        """'d64x32s2' (down-sampling, C_in 64, 32x32 input) or 'u32x64' (stride-1 unit): a short size name."""
        kind = "d" if self.stride == 2 or self.cout != self.cin else "u"
        tail = f"s{self.stride}" if kind == "d" else ""
        return f"{kind}{self.cin}x{self.hw}{tail}"


def spec_unit_shapes(spec: NetworkSpec, image_size: int = IMAGE_SIZE, batch: int = BATCH) -> list[UnitShape]:
    """The shortcut shape of every unit of one network, in order (repeats kept)."""
    hw = -(-image_size // spec.stem_stride)
    width = spec.stem_width
    shapes = []
    for stage in spec.stages:
        for u in range(stage.units):
            stride = stage.stride if u == 0 else 1
            shapes.append(UnitShape(width, hw, stage.width, stride, batch))
            hw, width = -(-hw // stride), stage.width
    return shapes


def unit_shapes(models: list[str] | None = None, image_size: int = IMAGE_SIZE,
                batch: int = BATCH) -> list[UnitShape]:
    """The distinct shortcut shapes of ``models`` (default: Table 1's six and the depth family), sorted."""
    names = resolve_names(models) if models else [*TABLE1, *DEPTH_FAMILY]
    found = set()
    for name in names:
        spec = get_spec(name)
        if not isinstance(spec, NetworkSpec):
            raise ValueError(f"{name} is a backbone, not a network of Table 1; its units are not residual shortcuts")
        found.update(spec_unit_shapes(spec, image_size, batch))
    return sorted(found, key=lambda s: (s.stride, s.cin, s.cout, -s.hw))


def shapes_by_label(models: list[str] | None = None, image_size: int = IMAGE_SIZE,
                    batch: int = BATCH) -> dict[str, UnitShape]:
    """``unit_shapes`` keyed by their labels (which are distinct at one image size)."""
    shapes = unit_shapes(models, image_size, batch)
    out = {s.label: s for s in shapes}
    if len(out) != len(shapes):
        raise AssertionError("two unit shapes share a label")  # cannot happen at one image size
    return out
