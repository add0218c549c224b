"""Parameter and FLOP counting: fvcore totals cross-checked with torch's own FlopCounterMode."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.complexity import count_flops, count_params
from breg_models import BYPASS_FUNCTIONS, create_model, list_models, units
from breg_models.cost import BYPASS_OPS, shortcut_cost

# every test here counts FLOPs (parameter counts alone are covered by tests/breg_models/test_zoo.py)
pytest.importorskip("fvcore", reason="FLOP counting needs fvcore, which is not installed")


@pytest.mark.parametrize("name", list_models())
def test_conv_and_linear_macs_agree_with_flop_counter_mode(name):
    model = create_model(name).eval()
    row = count_flops(model, 64)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 3, 64, 64))
    # FlopCounterMode counts 2 FLOPs per multiply-add of convolutions and matmuls, nothing elementwise.
    assert counter.get_total_flops() == 2 * (row["macs_conv"] + row["macs_linear"])
    assert row["flops"] == 2 * row["macs"]
    assert row["skipped_ops"] == {}, "an op was left uncounted"


def test_conv_macs_by_hand_for_bregnext26():
    """Per 3x3 conv: 9 * Cin * Cout * Hout * Wout multiply-adds (stride-1 stages at 64, 32, 16 pixels)."""
    k = 3
    macs = 9 * 3 * 32 * 64 * 64  # stem
    for cin, cout, side, n in [(32, 32, 64, k), (32, 64, 32, 1), (64, 64, 32, k + 1), (64, 128, 16, 1),
                               (128, 128, 16, k)]:
        for i in range(n):
            c_in = cin if i == 0 else cout
            macs += 9 * c_in * cout * side * side + 9 * cout * cout * side * side
    assert count_flops(create_model("bregnext26"), 64)["macs_conv"] == macs


def test_shortcut_cost_is_the_same_whatever_the_bypass_is_made_of():
    """The Eq. 8 eager path runs many small ops; it is counted from its shapes, 3 ops per element + the add."""
    model = create_model("bregnext26")
    row = count_flops(model, 32)
    expected = 0
    side, cin = 32, 32
    for u in units(model):
        sc = u.shortcut
        out_side = side // 2 if sc.stride == 2 else side
        expected += shortcut_cost((1, cin, side, side), (1, sc.out_channels, out_side, out_side), sc.stride)
        side, cin = out_side, sc.out_channels
    assert row["macs_shortcut"] == expected
    assert set(BYPASS_OPS) == set(BYPASS_FUNCTIONS)


def test_by_stage_breakdown_sums_to_total():
    model = create_model("bregnext50")
    row = count_flops(model, 64, by_stage=True)
    assert [s["stage"] for s in row["stages"]] == ["stem", "conv2", "conv3", "conv4", "conv5", "conv6", "head"]
    assert sum(s["macs"] for s in row["stages"]) == row["macs"]
    assert sum(s["params"] for s in row["stages"]) == count_params(model)["params_trainable"]
    assert all(s["macs"] > 0 for s in row["stages"])


def test_flops_scale_with_input_area_and_params_do_not():
    model = create_model("bregnext32")
    small, large = count_flops(model, 32), count_flops(model, 64)
    assert large["macs_conv"] == 4 * small["macs_conv"]  # conv cost is linear in the area
    assert large["macs_linear"] == small["macs_linear"]  # the head pools first
    assert count_params(model) == count_params(create_model("bregnext32"))
