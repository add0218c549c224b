"""The model zoo: every network builds, runs both heads, has Table 1's layout and validates its input."""

import pytest
import torch

from bench.complexity import count_params
from breg_models import TABLE1, create_model, get_spec, list_models, units

# Table 1 of the BReG-NeXt paper, transcribed here independently of breg_models.specs:
# stem width, stem stride, and (width, units) for conv2..conv6.
LAYOUT = {
    "resnet32": (64, [(64, 3), (128, 3), (256, 5), (512, 3)]),
    "resnet50": (64, [(64, 8), (128, 1), (128, 7), (256, 1), (256, 7)]),
    "bregnet32": (32, [(32, 5), (64, 1), (64, 4), (128, 1), (128, 4)]),
    "bregnet50": (32, [(32, 8), (64, 1), (64, 7), (128, 1), (128, 7)]),
    "bregnext32": (32, [(32, 4), (64, 1), (64, 5), (128, 1), (128, 4)]),
    "bregnext50": (32, [(32, 7), (64, 1), (64, 8), (128, 1), (128, 7)]),
}


def expected_params(stem: int, stages: list[tuple[int, int]], per_unit_scalars: int, outputs: int = 8) -> int:
    """Parameters from the layer shapes: 3x3 convs with bias, BN scale+shift, the bypass scalars, BN+FC head."""
    total = 3 * 9 * stem + stem
    cin = stem
    for width, n in stages:
        for _ in range(n):
            total += 2 * cin + (9 * cin * width + width) + 2 * width + (9 * width * width + width)
            total += per_unit_scalars
            cin = width
    return total + 2 * cin + cin * outputs + outputs


@pytest.mark.parametrize("name", list(LAYOUT))
def test_parameter_count_matches_layer_shapes(name):
    stem, stages = LAYOUT[name]
    scalars = 2 if name.startswith("bregnext") else 0  # alpha, beta per unit
    assert count_params(create_model(name))["params_trainable"] == expected_params(stem, stages, scalars)


def test_bregnext50_matches_released_checkpoint():
    # The public checkpoint of BReG-NeXt-50 holds 3,072,696 trainable values (DESIGN.md section 2).
    assert count_params(create_model("bregnext50"))["params_trainable"] == 3_072_696


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("task", ["categorical", "dimensional"])
def test_every_model_runs_forward_and_backward(name, task):
    torch.manual_seed(0)
    model = create_model(name, task=task)
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 8 if task == "categorical" else 2)
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"parameters without gradient: {missing[:3]}"


def test_depth_family_layout_and_depths():
    for depth in (14, 26, 32, 50, 68, 200):
        spec = get_spec(f"bregnext{depth}")
        k = (depth - 8) // 6
        assert [s.units for s in spec.stages] == [k, 1, k + 1, 1, k]
        assert spec.depth == depth
    assert get_spec("bregnext50").stages == TABLE1["bregnext50"].stages


@pytest.mark.parametrize("bad", ["bregnext30", "bregnext8", "bregnext2", "resnet18", "bregnext"])
def test_bad_names_raise_naming_choices(bad):
    with pytest.raises(ValueError, match="impossible BReG-NeXt depth|unknown model"):
        create_model(bad)


def test_bad_options_raise():
    with pytest.raises(ValueError, match="unknown task"):
        create_model("bregnext32", task="ordinal")
    with pytest.raises(ValueError, match="2 outputs"):
        create_model("bregnext32", task="dimensional", num_classes=8)
    with pytest.raises(ValueError, match="unknown bypass"):
        create_model("bregnext32", bypass="tanh")
    with pytest.raises(ValueError, match="no parameter"):
        create_model("bregnext32", bypass="scaled", bypass_params={"alpha": 2})
    with pytest.raises(ValueError, match="unknown model option"):
        create_model("bregnext32", widths=3)
    with pytest.raises(ValueError, match="bypass_impl"):
        create_model("bregnext32", bypass_impl="cuda")


def test_num_classes_and_overrides():
    assert create_model("bregnext32", num_classes=7).fc.out_features == 7
    model = create_model("resnet32", stem_stride=1)
    assert model.stem.stride == (1, 1)
    model = create_model("bregnext26", alpha_init=0.5, beta_init=0.0)
    assert all(u.shortcut.bypass.alpha.item() == 0.5 and u.shortcut.bypass.beta.item() == 0.0 for u in units(model))


def test_unit_structure_follows_public_code():
    model = create_model("bregnext50")
    us = units(model)
    assert len(us) == 24
    down = [u for u in us if u.shortcut.stride == 2]
    assert [(u.shortcut.in_channels, u.shortcut.out_channels) for u in down] == [(32, 64), (64, 128)]
    # alpha and beta: one trainable scalar each per unit, initialised to 1 (not beta = 0).
    for u in us:
        assert u.shortcut.bypass.alpha.shape == () and u.shortcut.bypass.alpha.requires_grad
        assert u.shortcut.bypass.alpha.item() == 1.0 and u.shortcut.bypass.beta.item() == 1.0
    assert all(u.conv1.bias is not None for u in us)
    # A fixed Eq. 8 keeps alpha, beta as buffers: nothing to train, still counted in the total.
    fixed = create_model("bregnext26", bypass="fixed")
    counts = count_params(fixed)
    assert counts["params_total"] - counts["params_trainable"] == 2 * len(units(fixed))


def test_shortcut_pools_and_pads_symmetrically():
    model = create_model("bregnext26", bypass="identity").eval()
    unit = model.conv3[0]
    x = torch.arange(2 * 32 * 4 * 4, dtype=torch.float32).reshape(2, 32, 4, 4)
    y = unit.shortcut(x, torch.zeros(2, 64, 2, 2))
    assert torch.all(y[:, :16] == 0) and torch.all(y[:, 48:] == 0)
    assert torch.allclose(y[:, 16:48], torch.nn.functional.avg_pool2d(x, 2))


def test_odd_input_sizes_keep_shortcut_and_branch_aligned():
    model = create_model("bregnext26")
    assert model(torch.randn(1, 3, 27, 31)).shape == (1, 8)


@pytest.mark.parametrize("arrangement,depth,name", [("bregnet", 32, "bregnet32"), ("bregnet", 50, "bregnet50"),
                                                    ("resnet", 50, "resnet50"), ("bregnext", 32, "bregnext32")])
def test_depth_arrangements_reproduce_table1(arrangement, depth, name):
    from breg_models.specs import arrangement_overrides

    model = create_model(f"bregnext{depth}", **arrangement_overrides(arrangement, depth))
    assert count_params(model) == count_params(create_model(name))
    assert model.spec.depth == depth and model.spec.bypass == TABLE1[name].bypass


def test_unknown_arrangement():
    from breg_models.specs import arrangement_overrides

    with pytest.raises(ValueError, match="unknown arrangement"):
        arrangement_overrides("densenet", 50)


def test_depth_family_names():
    assert count_params(create_model("resnet-d50")) == count_params(create_model("resnet50"))
    assert count_params(create_model("bregnet-d32")) == count_params(create_model("bregnet32"))
    assert get_spec("resnet-d32").depth == 32 and get_spec("resnet32").depth == 30
    assert get_spec("bregnext-d44").stages == get_spec("bregnext44").stages
    with pytest.raises(ValueError, match="impossible BReG-NeXt depth"):
        get_spec("resnet-d33")
