"""BReG-Net's own networks (FG 2019): bregnet39 and resnet110 build, are listed, are counted by bench.flops, and
their parameter counts stand against the paper's printed 4.9M and 7.2M as breg_models/specs.py explains.

The paper gives no layout in its text (Fig. 4 is an image), only "39 layers", "ResNet-110" and the two counts,
so these tests check the readings against those numbers and pin the gaps the specs explain.
"""

import json

import pytest
import torch

from bench.complexity import count_params
from breg_models import create_model, get_spec, list_models
from breg_models.specs import BREGNET_PAPER, even_stages
from reports import published

PRINTED = {"bregnet39": published.lookup("bregnet", "epoch", "bregnet", "params")["value"],
           "resnet110": published.lookup("bregnet", "epoch", "resnet110", "params")["value"]}


def params(name: str, **overrides) -> int:
    return count_params(create_model(name, **overrides))["params_trainable"]


def by_hand(widths: tuple[int, int, int], per_stage: tuple[int, int, int], classes: int = 8) -> int:
    """The count from the layer shapes, typed independently of the builder: a 3x3 stem to widths[0]; per unit
    BN(in) + conv3x3(in -> out, bias) + BN(out) + conv3x3(out -> out, bias); a BN + FC head."""
    conv = lambda cin, cout: 9 * cin * cout + cout  # noqa: E731
    total, cin = conv(3, widths[0]), widths[0]
    for width, n in zip(widths, per_stage, strict=True):
        for _ in range(n):
            total += 2 * cin + conv(cin, width) + 2 * width + conv(width, width)
            cin = width
    return total + 2 * cin + cin * classes + classes


def test_listed_without_clashing_with_other_names():
    names = list_models()
    assert {"bregnet39", "resnet110"} <= set(names)
    assert {"bregnet32", "bregnet39", "bregnet50"} <= set(list_models("bregnet*"))
    assert get_spec("bregnet39") is BREGNET_PAPER["bregnet39"]
    assert get_spec("resnet110").title == "ResNet-110"
    # the depth family keeps its own names and layouts
    assert get_spec("bregnet-d38").name == "bregnet-d38" and get_spec("bregnet-d38").units == 18
    with pytest.raises(ValueError, match="unknown model"):
        get_spec("bregnet38")


def test_layouts_are_the_stated_readings():
    b39, r110 = get_spec("bregnet39"), get_spec("resnet110")
    assert [(s.width, s.units, s.stride) for s in b39.stages] == [
        (32, 7, 1), (64, 1, 2), (64, 5, 1), (128, 1, 2), (128, 5, 1)]
    assert 2 * b39.units + 1 == 39  # stem + 19 two-conv units: the paper's 39 layers
    assert b39.depth == 40  # the harness's count adds the fully connected layer
    assert (b39.bypass, b39.stem_width, b39.stem_stride) == ("atan", 32, 1)
    assert [s.units for s in r110.stages] == [18, 1, 17, 1, 17] and r110.depth == 110  # 6n + 2, n = 18
    assert r110.bypass == "identity" and [s.width for s in r110.stages][::2] == [32, 64, 128]
    with pytest.raises(ValueError, match="at least 3 units"):
        even_stages(2)


def test_counts_match_the_layer_shapes():
    assert params("bregnet39") == by_hand((32, 64, 128), (7, 6, 6)) == 2_258_952
    assert params("resnet110") == by_hand((32, 64, 128), (18, 18, 18)) == 6_901_320


def test_resnet110_within_five_percent_of_the_printed_7_2m():
    """Tolerance 5 %: the paper prints two digits (+-0.05M) and does not give the head; the measured count is
    4.2 % under. Why the layout is right: He et al.'s widths give He's own printed 1.7M, and one plausible
    head (an FC on the flattened 16x16x128 map of a 64x64 input, not the pooled 128 values) prints as 7.2M."""
    measured = params("resnet110")
    assert abs(measured / PRINTED["resnet110"] - 1) <= 0.05
    assert measured / PRINTED["resnet110"] == pytest.approx(0.9585, abs=5e-4)
    he = params("resnet110", stem_width=16, stages=even_stages(54, (16, 32, 64)))
    assert round(he / 1e6, 1) == 1.7
    flattened_head = measured - (128 * 8 + 8) + (16 * 16 * 128 * 8 + 8)
    assert round(flattened_head / 1e6, 1) == PRINTED["resnet110"] / 1e6 == 7.2


def test_bregnet39_gap_to_the_printed_4_9m_is_the_explained_one():
    """No tolerance reaches 4.9M without making up widths the text does not give; the gap is pinned instead
    (0.461 x) with its reason: the paper's two counts cannot share widths, since 54 units against 19 make
    about 3.06 x the parameters at any common width while the printed ratio is 7.2 / 4.9 = 1.47, and 4.9M is
    what BReG-Net-39 would hold at 1.5 times the widths."""
    measured = params("bregnet39")
    assert measured / PRINTED["bregnet39"] == pytest.approx(0.461, abs=5e-3)
    printed_ratio = PRINTED["resnet110"] / PRINTED["bregnet39"]
    assert printed_ratio == pytest.approx(1.47, abs=0.01)
    for scale in (1, 2):
        widths = (32 * scale, 64 * scale, 128 * scale)
        ratio = (params("resnet110", stem_width=widths[0], stages=even_stages(54, widths))
                 / params("bregnet39", stem_width=widths[0], stages=even_stages(19, widths)))
        assert ratio == pytest.approx(3.06, abs=0.02)
    wider = params("bregnet39", stem_width=48, stages=even_stages(19, (48, 96, 192)))
    assert abs(wider / PRINTED["bregnet39"] - 1) < 0.05


@pytest.mark.parametrize("name", ["bregnet39", "resnet110"])
def test_forward_shapes_both_heads(name):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    model = create_model(name, num_classes=7).eval()
    with torch.no_grad():
        features = model.features(x)
        assert features.shape == (2, 128, 8, 8)  # two down-samplings, stride-1 stem
        assert model.fc(features.mean(dim=(2, 3))).shape == (2, 7)
    assert create_model(name, task="dimensional").fc.out_features == 2  # valence, arousal on the same features


def test_bench_flops_counts_them(capsys):
    pytest.importorskip("fvcore", reason="FLOP counting needs fvcore, which is not installed")
    from bench.flops import main

    assert main(["--models", "bregnet39", "resnet110", "--input-size", "32", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {r["model"]: r for r in doc["rows"]}
    assert set(rows) == {"bregnet39", "resnet110"}
    assert rows["bregnet39"]["params"] == 2_258_952 and rows["resnet110"]["params"] == 6_901_320
    assert rows["bregnet39"]["depth"] == 40 and rows["resnet110"]["depth"] == 110
    assert 0 < rows["bregnet39"]["macs"] < rows["resnet110"]["macs"]
    assert rows["resnet110"]["flops"] == 2 * rows["resnet110"]["macs"]
    assert rows["resnet110"]["skipped_ops"] == ""
