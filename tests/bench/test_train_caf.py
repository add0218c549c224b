"""bench.train --method caf: CAF's Algorithm 1 on a tiny synth set (rows, one step's updates, resume, errors)."""

import pytest
import torch

from bench import train
from bench.checkpoint import load_checkpoint
from bench.cli import run_main
from bench.results import ResultsStore
from losses.caf import MarginSchedule, mutual_information

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
    assert (config["method"], config["caf_margin"], config["loss"]) == ("caf", "adaptive", "av")
    assert {"rmse_total", "ccc_valence", "train_loss"} <= set(metrics)
    assert metrics["caf_skipped_steps"] == 0 and metrics["caf_critic_loss"] > 0 and metrics["caf_margin"] > 0
    assert set(_last(whole)["caf"]) == {"critic", "opt_critic", "opt_encoder", "schedulers"}
    assert (whole / "evaluate.jsonl").is_file()  # the evaluation rows of any dimensional run

    interrupt_in_epoch_2.arm()
    assert _run(killed) == 130
    interrupt_in_epoch_2.disarm()
    capsys.readouterr()
    assert _run(killed) == 0
    assert "resuming" in capsys.readouterr().err
    resumed = _rows(killed)
    assert [r["config"]["epoch"] for r in resumed] == [1, 2]
    for a, b in zip(rows, resumed, strict=True):  # bit for bit: the critic, its optimiser and the RNGs came back
        assert a["config"] == b["config"] and a["metrics"] == b["metrics"]
    for key, value in _last(whole)["caf"]["critic"].items():
        assert torch.equal(value, _last(killed)["caf"]["critic"][key])


def test_one_step_trains_the_critic_and_gives_the_encoder_the_adversarial_gradient():
    from breg_models import create_model

    torch.manual_seed(0)
    model = create_model("bregnext14", task="dimensional")
    caf = train.CAF(model, "constant:0.2", 1e-3, 1e-4, 10, 0.8, torch.device("cpu"))
    criterion = train.Criterion("av", "dimensional", None, model)
    optimizer = train.make_optimizer(train.param_groups(model, 1e-4), 1e-3, torch.device("cpu"))
    step = train.Step(model, criterion, optimizer, torch.amp.GradScaler("cpu", enabled=False),
                      torch.device("cpu"), augment=None, caf=caf)
    seen = {}
    real_encoder_step = caf.opt_encoder.step

    def encoder_step(*args, **kwargs):  # line 7: only L_adv's gradient is on the parameters here
        seen["stem"] = model.stem.weight.grad.abs().sum().item()
        seen["head"] = model.fc.weight.grad
        seen["critic_frozen"] = not any(p.requires_grad for p in caf.critic.parameters())
        return real_encoder_step(*args, **kwargs)

    caf.opt_encoder.step = encoder_step
    critic_before = [p.detach().clone() for p in caf.critic.parameters()]
    head_before = model.fc.weight.detach().clone()
    images = torch.rand(16, 3, 16, 16)
    va = torch.cat([torch.rand(8, 2) * 0.2, torch.rand(8, 2) * 0.3 + 0.6]) * torch.sign(torch.randn(16, 2))
    loss = step(images, va)
    assert torch.isfinite(loss)
    assert seen["stem"] > 0 and seen["head"] is None and seen["critic_frozen"]
    assert all(not torch.equal(a, b) for a, b in zip(critic_before, caf.critic.parameters(), strict=True))
    assert all(p.requires_grad for p in caf.critic.parameters())
    assert not torch.equal(head_before, model.fc.weight)  # line 8: the AV step moved the head
    metrics = caf.epoch_metrics()
    assert metrics["caf_skipped_steps"] == 0 and metrics["caf_margin"] > 0.2


def test_margin_schedules():
    torch.manual_seed(0)
    z_s, z_w = torch.randn(6, 4), torch.randn(5, 4)
    mi = mutual_information(z_s, z_w)
    assert MarginSchedule.parse("constant:0.2")(z_s, z_w, 11) == pytest.approx(mi + 0.2)
    linear = MarginSchedule.parse("linear:0.1,5e-3")
    linear.epochs_done = 4
    assert linear(z_s, z_w, 11) == pytest.approx(mi + 0.1 + 4 * 5e-3)
    assert linear.spec == "linear:0.1,0.005" and MarginSchedule.parse(" adaptive ").spec == "adaptive"
    assert MarginSchedule.parse("adaptive")(z_s, z_w, 11) > mi


def test_the_method_and_margin_are_part_of_the_run_config():
    parse = train.build_parser().parse_args
    plain = train.run_config(parse([]))
    caf = train.run_config(parse(["--method", "caf"]))
    const = train.run_config(parse(["--method", "caf", "--caf-margin", "constant:0.2"]))
    assert "method" not in plain and caf["method"] == "caf" and const["caf_margin"] == "constant:0.2"
    assert len({str(sorted(c.items())) for c in (plain, caf, const)}) == 3


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


def test_caf_margin_without_caf_is_refused(tmp_path, capsys):
    argv = [a for a in TINY if a not in ("--method", "caf")]
    assert run_main(train.main, argv + ["--caf-margin", "constant:0.2", "--results", str(tmp_path / "r.jsonl")]) == 1
    assert "--caf-margin is a setting of --method caf" in capsys.readouterr().err


def test_caf_on_the_tuned_alexnet_trains_its_classifier_as_the_regressor(tmp_path):
    """CAF's second encoder: the critic reads AlexNet's 9216-wide pooled conv features, the classifier regresses."""
    from breg_models.backbones import torchvision_models

    try:
        torchvision_models()
    except ImportError:
        pytest.skip("torchvision is not installed (the 'backbones' extra)")
    argv = ["--model", "tv_alexnet_tuned", "--image-size", "64", "--epochs", "1", "--caf-margin", "linear:0.1,0.005"]
    assert _run(tmp_path, *argv) == 0
    (row,) = _rows(tmp_path)
    assert row["config"]["caf_margin"] == "linear:0.1,0.005" and row["metrics"]["caf_critic_loss"] is not None
    critic = _last(tmp_path)["caf"]["critic"]
    assert [tuple(v.shape) for k, v in critic.items() if k.endswith("weight")] == [(64, 9216), (32, 64), (16, 32)]
