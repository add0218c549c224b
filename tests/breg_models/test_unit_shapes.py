"""The shortcut shapes listed for the kernel gate agree with what the built networks hand their shortcuts."""

import pytest
import torch

from breg_models import create_model
from breg_models.bypass import Shortcut
from breg_models.registry import get_spec
from breg_models.unit_shapes import BATCH, UnitShape, shapes_by_label, spec_unit_shapes, unit_shapes


@pytest.mark.parametrize("name", ["resnet32", "resnet50", "bregnet32", "bregnext50", "bregnext26"])
def test_listed_shapes_are_the_shapes_the_network_runs(name):
    model = create_model(name).to("meta")
    seen = []
    for module in model.modules():
        if isinstance(module, Shortcut):
            module.register_forward_hook(lambda m, args, out: seen.append((tuple(args[0].shape), tuple(out.shape),
                                                                            m.stride)))
    model(torch.empty(2, 3, 64, 64, device="meta"))
    listed = [(s.x_shape, s.out_shape, s.stride) for s in spec_unit_shapes(get_spec(name), 64, batch=2)]
    assert listed == seen


def test_default_set_covers_table1_and_the_depth_family_once_each():
    shapes = unit_shapes()
    assert len(shapes) == len(set(shapes))
    assert all(s.batch == BATCH for s in shapes)
    labels = shapes_by_label()
    # BReG-NeXt's 64-channel down-sampling unit (16-wide output) and ResNet-32's last (4-wide) are both there
    assert labels["d64x32s2"].out_shape == (BATCH, 128, 16, 16)
    assert labels["d256x8s2"].out_shape == (BATCH, 512, 4, 4)
    assert set(unit_shapes(["bregnext68"])) <= set(shapes)


def test_a_backbone_is_refused():
    with pytest.raises(ValueError, match="backbone"):
        unit_shapes(["tv_resnet18"])


def test_label_names_the_unit():
    assert UnitShape(32, 64, 32, 1).label == "u32x64"
    assert UnitShape(32, 64, 64, 2).label == "d32x64s2"
