"""DACL's and CAF's torchvision backbones behind create_model, and initial weights from a state dict file."""

import argparse
import json
import subprocess
import sys

import pytest
import torch
from torch import nn

from bench.cli import run_main
from bench.complexity import count_params
from breg_models import create_model, list_models, resolve_names
from breg_models.backbones import BACKBONES, torchvision_models

try:
    tvm = torchvision_models()
except ImportError:
    pytest.skip("torchvision is not installed (the 'backbones' extra)", allow_module_level=True)

NAMES = list(BACKBONES)


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("task", ["categorical", "dimensional"])
def test_builds_and_heads(name, task):
    torch.manual_seed(0)
    model = create_model(name, task=task)
    out = model.eval()(torch.randn(2, 3, 64, 64))  # AlexNet's stride-4 stem needs at least 63 pixels
    assert out.shape == (2, 8 if task == "categorical" else 2)
    assert model.task == task and model.spec.name == name
    assert create_model(name, num_classes=7)(torch.randn(1, 3, 64, 64).expand(2, -1, -1, -1)).shape == (2, 7)


def _torchvision_reference(name: str, outputs: int) -> nn.Module:
    """torchvision's own network with its last layer replaced, built here independently of the registry."""
    if name == "tv_resnet18":
        model = tvm.resnet18()
        model.fc = nn.Linear(512, outputs)
    elif name == "tv_resnet50":
        model = tvm.resnet50()
        model.fc = nn.Linear(2048, outputs)
    else:
        model = tvm.alexnet()
        model.classifier[6] = nn.Linear(4096, outputs)
    return model


@pytest.mark.parametrize("name", ["tv_resnet18", "tv_resnet50", "tv_alexnet"])
def test_parameters_and_names_are_torchvisions(name):
    for task, outputs in (("categorical", 8), ("dimensional", 2)):
        model, ref = create_model(name, task=task), _torchvision_reference(name, outputs)
        assert count_params(model)["params_trainable"] == _count(ref)
        assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}


def test_tuned_alexnet_is_cafs_reduced_fc_layers():
    features = _count(tvm.alexnet().features)  # the conv layers: 2,469,696
    for outputs in (2, 8):
        fc = (9216 * 64 + 64) + (64 * 8 + 8) + (8 * outputs + outputs)
        model = create_model("tv_alexnet_tuned", task="dimensional" if outputs == 2 else "categorical")
        assert _count(model) == features + fc
    assert _count(create_model("tv_alexnet_tuned", task="dimensional")) == 3_060_122  # CAF Table 4: 3.0M
    layers = create_model("tv_alexnet_tuned").classifier
    assert [type(m).__name__ for m in layers] == [type(m).__name__ for m in tvm.alexnet().classifier]
    assert layers[0].p == layers[3].p == 0.5
    torch.manual_seed(3)
    reference = tvm.alexnet().features.state_dict()
    torch.manual_seed(3)
    model = create_model("tv_alexnet_tuned")
    assert all(torch.equal(v, reference[k]) for k, v in model.features.state_dict().items())  # torchvision's init
    assert all(p.device.type == "cpu" and p.abs().sum() > 0 for p in model.parameters())  # nothing left on meta
    assert all(0 < p.std() < 1 for p in model.classifier.parameters())  # initialised, at PyTorch's scale


def test_resnet_features_feed_fc_as_the_zoo_does():
    torch.manual_seed(0)
    model = create_model("tv_resnet18").eval()
    x = torch.randn(2, 3, 64, 64)
    fmap = model.features(x)
    assert fmap.shape == (2, 512, 2, 2)
    torch.testing.assert_close(model.fc(fmap.mean((2, 3))), model(x))


def test_names_stay_out_of_the_breg_tables():
    from bench.flops import table_models

    assert not [n for n in list_models() + table_models() if n in BACKBONES]
    assert list_models(backbones=True)[-len(NAMES):] == NAMES
    assert resolve_names(["tv_*"]) == NAMES and resolve_names(["tv_resnet18", "bregnext26"])[0] == "tv_resnet18"
    assert resolve_names(["resnet*"]) == ["resnet32", "resnet50", "resnet110"]  # the zoo's ResNets only


@pytest.mark.parametrize("kwargs, message", [
    ({"bypass": "atan"}, "no bounded-gradient bypass"),
    ({"bypass_impl": "triton"}, "bypass_impl must be eager"),
    ({"stem_stride": 1}, "takes no model options"),
    ({"task": "both"}, "unknown task"),
    ({"task": "dimensional", "num_classes": 3}, "2 outputs"),
])
def test_options_it_does_not_have_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        create_model("tv_resnet18", **kwargs)


def test_missing_torchvision_is_one_line(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchvision" else real(name, *a))
    with pytest.raises(ImportError, match=r"install the 'backbones' extra") as info:
        create_model("tv_resnet18")
    assert "\n" not in str(info.value)


def test_importing_the_zoo_does_not_import_torchvision():
    code = "import sys, breg_models; breg_models.create_model('bregnext26'); assert 'torchvision' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- --init
def _equal(a: dict, b: dict, keys=None) -> bool:
    return all(torch.equal(a[k], b[k]) for k in (keys or a))


def test_a_saved_state_reloads_bit_identical(tmp_path):
    torch.manual_seed(1)
    saved = create_model("tv_resnet18")
    for m in saved.modules():  # non-trivial running statistics too
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_()
            m.num_batches_tracked.fill_(7)
    torch.save(saved.state_dict(), tmp_path / "r18.pt")
    torch.manual_seed(2)
    loaded = create_model("tv_resnet18", init=tmp_path / "r18.pt")
    assert _equal(saved.state_dict(), loaded.state_dict())
    zoo = create_model("bregnext26")  # the zoo's networks take init too (head: fc)
    torch.save({"model": zoo.state_dict(), "epoch": 3}, tmp_path / "zoo.pt")
    assert _equal(zoo.state_dict(), create_model("bregnext26", init=str(tmp_path / "zoo.pt")).state_dict())


def test_the_head_stays_fresh_where_its_shape_differs(tmp_path):
    imagenet = tvm.resnet18()  # 1000 classes, as torchvision's ImageNet weights; old files lack num_batches_tracked
    state = {k: v for k, v in imagenet.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "arch": "resnet18"}, tmp_path / "in.pth")
    torch.manual_seed(3)
    fresh = create_model("tv_resnet18", task="dimensional")
    torch.manual_seed(3)
    loaded = create_model("tv_resnet18", task="dimensional", init=tmp_path / "in.pth")
    body = [k for k in state if not k.startswith("fc.")]
    assert _equal(state, loaded.state_dict(), body)
    assert _equal(fresh.state_dict(), loaded.state_dict(), ["fc.weight", "fc.bias"])
    assert not torch.equal(fresh.state_dict()["conv1.weight"], loaded.state_dict()["conv1.weight"])
    alexnet = tvm.alexnet()  # CAF's tuned AlexNet keeps ImageNet's conv layers, its narrow FC layers fresh
    torch.save(alexnet.state_dict(), tmp_path / "alex.pth")
    tuned = create_model("tv_alexnet_tuned", init=tmp_path / "alex.pth").state_dict()
    assert _equal(alexnet.state_dict(), tuned, [k for k in tuned if k.startswith("features.")])


def _one_line_usage_error(path, name="tv_resnet18", match=None):
    with pytest.raises(ValueError, match=match) as info:
        create_model(name, init=path)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_bad_init_files_are_one_line(tmp_path):
    _one_line_usage_error(tmp_path / "nope.pt", match="init weights not found")
    (tmp_path / "text.pt").write_text("not a checkpoint\n" * 10)
    _one_line_usage_error(tmp_path / "text.pt", match="not a checkpoint file")
    torch.save([torch.zeros(1)], tmp_path / "list.pt")
    _one_line_usage_error(tmp_path / "list.pt", match="a list, not a dict")
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "plain.pt")
    _one_line_usage_error(tmp_path / "plain.pt", match="not a state dict")
    torch.save(argparse.Namespace(lr=0.1), tmp_path / "pickled.pt")
    _one_line_usage_error(tmp_path / "pickled.pt", match="pickled objects")
    torch.save(tvm.resnet50().state_dict(), tmp_path / "r50.pt")
    text = _one_line_usage_error(tmp_path / "r50.pt", match="does not fit tv_resnet18")
    assert "unexpected layer1.0.conv3.weight" in text and "other shape: layer1.0.conv1.weight (64, 64, 1, 1)" in text
    partial = {k: v for k, v in create_model("tv_resnet18").state_dict().items() if not k.startswith("layer4.")}
    torch.save(partial, tmp_path / "partial.pt")
    assert "missing layer4.0.conv1.weight" in _one_line_usage_error(tmp_path / "partial.pt")


def test_train_init_is_part_of_the_run(tmp_path, capsys):
    from bench import train

    torch.manual_seed(0)
    torch.save(create_model("tv_resnet18").state_dict(), tmp_path / "init.pt")
    base = ["--model", "tv_resnet18", "--image-size", "32", "--synth-train", "32", "--synth-val", "16",
            "--batch-size", "16", "--epochs", "1", "--format", "json", "--results", str(tmp_path / "t.jsonl"),
            "--checkpoint-dir", str(tmp_path / "ckpt")]
    assert "init" not in train.run_config(train.build_parser().parse_args(base))  # earlier runs keep their keys
    assert run_main(train.main, base + ["--init", str(tmp_path / "init.pt"), "--loss", "dacl"]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["config"]["init"] == str(tmp_path / "init.pt") and row["config"]["loss"] == "dacl"
    assert run_main(train.main, base + ["--init", str(tmp_path / "missing.pt")]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.endswith(f"error: init weights not found: {tmp_path / 'missing.pt'}")


def test_flops_counts_them(capsys):
    pytest.importorskip("fvcore", reason="FLOP counting needs fvcore")
    from bench.flops import main

    assert main(["--models", "tv_resnet18", "tv_alexnet_tuned", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["model"] for r in rows] == ["tv_resnet18", "tv_alexnet_tuned"]
    assert rows[0]["params"] == 11_180_616 and rows[1]["params"] == 3_060_176
    assert rows[0]["macs"] > 1e8 and rows[1]["macs"] > 1e7 and rows[0]["flops"] == 2 * rows[0]["macs"]
    for r in rows:  # fvcore leaves out max-pooling and the residual add (reported, under 0.2% of the MACs)
        assert set(filter(None, (op.rpartition("x")[0] for op in r["skipped_ops"].split(",")))) <= {
            "aten::max_pool2d", "aten::add_"}
    with pytest.raises(ValueError, match="--by-stage"):
        main(["--models", "tv_resnet18", "--by-stage"])


def test_train_refuses_an_input_too_small_for_alexnet(tmp_path, capsys):
    from bench import train

    argv = ["--model", "tv_alexnet_tuned", "--image-size", "32", "--results", str(tmp_path / "r.jsonl")]
    assert run_main(train.main, argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith("error: --image-size 32 is too small for tv_alexnet_tuned: it takes at "
                                             "least 63 pixels a side")
    model = create_model("tv_alexnet_tuned").eval()
    assert model(torch.zeros(1, 3, 63, 63)).shape == (1, 8)  # the limit is the real one: 63 runs, 62 does not
    with pytest.raises(RuntimeError):
        model(torch.zeros(1, 3, 62, 62))
