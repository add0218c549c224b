"""bench.train --method caf: CAF's Algorithm 1 through the trainer (rows, one step's updates, resume, readings,
Table 4's critics, errors)."""

import pytest
import torch

from bench import train
from bench.checkpoint import load_checkpoint
from bench.cli import run_main
from harness.results_store import ResultsStore

TINY = ["--model", "bregnext14", "--image-size", "16", "--synth-train", "32", "--synth-val", "16",
        "--batch-size", "16", "--epochs", "2", "--task", "dimensional", "--method", "caf", "--format", "json"]


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _run(path, *extra):
    return run_main(train.main, TINY + ["--results", str(path / "train.jsonl"), "--checkpoint-dir",
                                        str(path / "ckpt"), *extra])


def _rows(path):
    return ResultsStore(path / "train.jsonl").rows("train")


def _last(path):
    (run_dir,) = (path / "ckpt").iterdir()
    return load_checkpoint(run_dir / "last.pt")


def test_rows_and_resume_after_a_kill_match_an_uninterrupted_run(tmp_path, interrupt_in_epoch_2, capsys,
                                                                  one_thread):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert _run(whole) == 0
    rows = _rows(whole)
    assert [r["config"]["epoch"] for r in rows] == [1, 2]
    config, metrics = rows[-1]["config"], rows[-1]["metrics"]
    assert (config["method"], config["caf_margin"], config["caf_reading"], config["caf_adversary"], config["loss"]) \
        == ("caf", "adaptive", "code", "caf", "av")
    assert {"rmse_total", "ccc_valence", "train_loss"} <= set(metrics)
    assert metrics["caf_skipped_steps"] == 0 and metrics["caf_critic_loss"] is not None
    assert metrics["caf_margin"] > metrics["caf_delta"] > 0 and 0 <= metrics["caf_active_share"] <= 1
    saved = _last(whole)["caf"]
    assert set(saved) == {"objective", "optimizers", "schedulers"} and set(saved["optimizers"]) == {
        "encoder", "head", "critic"}  # one Adam state per part, as the authors' code
    assert any(k.endswith("multiplier") for k in saved["objective"])  # the Fisher-GAN multiplier is kept
    assert (whole / "evaluate.jsonl").is_file()

    interrupt_in_epoch_2.arm()
    assert _run(killed) == 130
    interrupt_in_epoch_2.disarm()
    capsys.readouterr()
    assert _run(killed) == 0
    assert "resuming" in capsys.readouterr().err
    resumed = _rows(killed)
    for a, b in zip(rows, resumed, strict=True):  # bit for bit: critic, optimisers, multiplier and RNGs came back
        assert a["config"] == b["config"] and a["metrics"] == b["metrics"]
    for key, value in _last(whole)["caf"]["objective"].items():
        assert torch.equal(value, _last(killed)["caf"]["objective"][key])


def test_one_step_moves_each_part_and_the_optimisers_take_the_runs_settings():
    """Encoder, head and critic each move in one step; each optimiser is Adam with the recipe's betas and no
    decay, and no parameter sits in two of them."""
    from bench.training.caf import CAFMethod
    from bench.training.distributed import Dist
    from bench.training.method import MethodContext
    from breg_models import create_model

    torch.manual_seed(0)
    model = create_model("bregnext14", task="dimensional")
    config = {"amp": "off", "caf_margin": "constant:0.2", "lr": 1e-3, "weight_decay": 0.0, "lr_step": 10,
              "lr_gamma": 0.8, "adam_betas": [0.5, 0.9]}
    method = CAFMethod(model, MethodContext(config, None, (16, 16), torch.device("cpu"), Dist()))
    owners = [id(p) for opt in method.optimizers.values() for g in opt.param_groups for p in g["params"]]
    parts = len(list(model.parameters())) + len(list(method.caf.critic.parameters()))
    assert len(owners) == len(set(owners)) == parts
    assert {opt.param_groups[0]["betas"] for opt in method.optimizers.values()} == {(0.5, 0.9)}
    before = {k: [p.detach().clone() for p in m.parameters()] for k, m in
              (("encoder", model.stem), ("head", model.fc), ("critic", method.caf.critic))}
    images = torch.rand(16, 3, 16, 16)
    va = torch.cat([torch.rand(8, 2) * 0.2, torch.rand(8, 2) * 0.3 + 0.6]) * torch.sign(torch.randn(16, 2))
    loss = method.step(model, images, va)
    assert torch.isfinite(loss)
    after = {"encoder": model.stem, "head": model.fc, "critic": method.caf.critic}
    for part, module in after.items():
        assert any(not torch.equal(a, b) for a, b in zip(before[part], module.parameters(), strict=True)), part
    metrics = method.epoch_metrics()
    assert metrics["caf_skipped_steps"] == 0 and metrics["caf_margin"] >= 0.2  # MI + kappa, MI >= 0


def test_the_method_reading_adversary_and_margin_are_part_of_the_run_config():
    parse = train.build_parser().parse_args
    plain = train.run_config(parse([]))
    caf = train.run_config(parse(["--method", "caf"]))
    const = train.run_config(parse(["--method", "caf", "--caf-margin", "constant:0.2"]))
    paper = train.run_config(parse(["--method", "caf", "--caf-reading", "paper"]))
    fisher = train.run_config(parse(["--method", "caf", "--caf-adversary", "fishergan"]))
    assert "method" not in plain and caf["method"] == "caf" and const["caf_margin"] == "constant:0.2"
    assert paper["caf_reading"] == "paper" and fisher["caf_adversary"] == "fishergan"
    assert len({str(sorted(c.items())) for c in (plain, caf, const, paper, fisher)}) == 5


@pytest.mark.parametrize("extra, message", [
    (["--task", "categorical"], "--method caf needs the dimensional task"),
    (["--caf-margin", "linear:0.1"], "--caf-margin: margin 'linear:0.1': expected adaptive"),
    (["--caf-margin", "constant:x"], "--caf-margin: margin 'constant:x'"),
    (["--caf-margin", "kappa"], "--caf-margin: margin 'kappa'"),
    (["--amp", "fp16"], "--amp fp16"),
])
def test_usage_errors_in_one_line(tmp_path, capsys, extra, message):
    assert _run(tmp_path, *extra) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "train.jsonl").exists()


@pytest.mark.parametrize("option", ["--caf-margin constant:0.2", "--caf-reading paper", "--caf-adversary none"])
def test_caf_settings_without_caf_are_refused(tmp_path, capsys, option):
    argv = [a for a in TINY if a not in ("--method", "caf")]
    assert run_main(train.main, argv + option.split() + ["--results", str(tmp_path / "r.jsonl")]) == 1
    assert f"{option.split()[0]} is a setting of --method caf" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [["--caf-reading", "paper"], ["--caf-adversary", "fishergan"],
                                   ["--caf-adversary", "none"]])
def test_the_paper_reading_and_table4_critics_train(tmp_path, extra, one_thread):
    assert _run(tmp_path, "--epochs", "1", *extra) == 0
    (row,) = _rows(tmp_path)
    assert row["metrics"]["rmse_total"] > 0
    critic = "none" not in extra
    assert (row["metrics"]["caf_critic_loss"] is not None) == critic and (row["metrics"]["caf_margin"] is not None) \
        == (extra == ["--caf-reading", "paper"])


def test_caf_on_the_tuned_alexnet_trains_its_classifier_as_the_regressor(tmp_path, one_thread):
    """CAF's second encoder: the critic (the authors' Disc2_light) reads AlexNet's 9216-wide pooled conv features,
    the classifier regresses."""
    from breg_models.backbones import torchvision_models

    try:
        torchvision_models()
    except ImportError:
        pytest.skip("torchvision is not installed (the 'backbones' extra)")
    argv = ["--model", "tv_alexnet_tuned", "--image-size", "64", "--epochs", "1", "--caf-margin", "linear:0.1,0.005"]
    assert _run(tmp_path, *argv) == 0
    (row,) = _rows(tmp_path)
    assert row["config"]["caf_margin"] == "linear:0.1,0.005" and row["metrics"]["caf_critic_loss"] is not None
    critic = _last(tmp_path)["caf"]["objective"]
    assert [tuple(v.shape) for k, v in critic.items() if k.startswith("critic") and k.endswith("weight")] == [
        (64, 9216), (32, 64), (16, 32)]
