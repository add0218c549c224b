"""bench.train --loss dacl as DACL Sec. 4.2 trains it: torchvision's ResNet-18 with SGD, the paper's CE-Unit widths,
weight decay on every parameter as its code, center loss as DACL's baseline, one-line refusals, and two torchrun
ranks whose centers take one update of the whole batch."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from bench import train
from bench.checkpoint import load_checkpoint
from bench.cli import run_main
from bench.training import dacl
from bench.training.optim import SGD_MOMENTUM
from harness.results_store import ResultsStore

# tv_resnet18 at 32x32: a 512 x 1 x 1 last map, so the paper's CE-Unit (3584-512-64) stays small
TINY = ["--model", "tv_resnet18", "--loss", "dacl", "--image-size", "32", "--synth-train", "32", "--synth-val", "16",
        "--batch-size", "16", "--device", "cpu", "--format", "json"]


def _run(tmp_path, *extra):
    return run_main(train.main, TINY + ["--results", str(tmp_path / "r.jsonl"), "--checkpoint-dir",
                                        str(tmp_path / "ckpt"), *extra])


def test_sgd_run_moves_the_centers_and_resumes(tmp_path, monkeypatch, interrupt_in_epoch_2, capsys):
    """Two epochs of SGD, killed in the second evaluation and resumed: the rows hold the metrics and the paper's
    settings, the checkpoint SGD's momentum buffers, and the centers have left their He initialisation."""
    made = []

    class Kept(dacl.CenterLossMethod):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append((self, self.loss.center_loss.centers.clone()))

    from bench.training import loop

    monkeypatch.setattr(loop, "build_method", lambda model, ctx: Kept(model, ctx))
    interrupt_in_epoch_2.arm()
    sgd = ["--optimizer", "sgd", "--lr", "0.01", "--epochs", "2"]
    assert _run(tmp_path, *sgd) == 130
    interrupt_in_epoch_2.disarm()
    assert _run(tmp_path, *sgd) == 0
    assert "resuming" in capsys.readouterr().err
    rows = ResultsStore(tmp_path / "r.jsonl").rows("train")
    assert [r["config"]["epoch"] for r in rows] == [1, 2]
    assert {"accuracy", "macro_f1", "train_loss"} <= set(rows[-1]["metrics"])
    config = rows[-1]["config"]
    assert (config["optimizer"], config["momentum"], config["dacl_widths"]) == ("sgd", 0.9, [3584, 512, 64])
    (run_dir,) = (tmp_path / "ckpt").iterdir()
    ckpt = load_checkpoint(run_dir / "last.pt")
    assert all("momentum_buffer" in s for s in ckpt["optimizer"]["state"].values())
    assert ckpt["optimizer"]["param_groups"][0]["momentum"] == 0.9
    (_, initial), (resumed, _) = made
    centers = ckpt["criterion"]["center_loss.centers"]
    assert torch.equal(centers, resumed.loss.center_loss.centers) and not torch.allclose(centers, initial)


def test_widths_and_optimizer_in_the_run_config():
    """Unset widths resolve per network (the paper's on tv_*, the scaled ones on the zoo's) and are stored
    resolved; Adam runs carry no optimizer keys, so their ids are those from before --optimizer."""
    from bench.training.options import given_options, resolve

    def config(*argv):
        parser = train.build_parser()
        args = parser.parse_args(list(argv))
        resolve(args, given_options(parser, list(argv)), "cpu")
        return train.run_config(args)

    assert config("--model", "tv_resnet18", "--loss", "dacl")["dacl_widths"] == [3584, 512, 64]
    assert config("--model", "bregnext50", "--loss", "dacl")["dacl_widths"] == list(dacl.DACL_WIDTHS)
    assert config("--model", "tv_resnet18", "--loss", "dacl", "--dacl-widths", "8,4,2")["dacl_widths"] == [8, 4, 2]
    assert not {"optimizer", "momentum", "dacl_widths"} & set(config())
    assert config("--optimizer", "sgd")["momentum"] == SGD_MOMENTUM == 0.9
    assert [config("--optimizer", "sgd", "--momentum", "0.5")[k] for k in ("optimizer", "momentum")] == ["sgd", 0.5]


@pytest.mark.parametrize("extra, message", [
    (["--model", "tv_alexnet", "--image-size", "64"], "--loss dacl needs a network with features()"),
    (["--model", "tv_alexnet_tuned", "--image-size", "64"], "tv_alexnet_tuned lacks"),
    (["--momentum", "0.5"], "--momentum is a setting of --optimizer sgd"),
    (["--loss", "center", "--model", "tv_alexnet", "--image-size", "64"], "--loss center needs a network"),
    (["--augment", "dacl"], "--augment dacl crops --image-size out of larger faces: give --resize"),
])
def test_errors_are_one_line_before_training(tmp_path, capsys, extra, message):
    assert _run(tmp_path, *extra) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "ckpt").exists()


# Run by torchrun on each rank: bench.train, with every center update also made by one process from the whole
# batch (the ranks' slices gathered, the centers before the update), and each rank's view saved after each step.
RANK_VIEW = textwrap.dedent("""
    import os, sys
    import torch
    from bench import train
    from bench.cli import run_main

    from bench.training.dacl import CenterLossMethod as M

    network, after_step, nets, errors = M.network, M.after_step, [], []

    def keep_network(self):
        nets.append(network(self))
        return nets[-1]

    def checked_after_step(self):
        world, centers = torch.distributed.get_world_size(), self.loss.center_loss
        parts = [[torch.empty_like(t) for _ in range(world)] for t in self._last]
        for out, t in zip(parts, self._last):
            torch.distributed.all_gather(out, t)
        single = centers.centers - centers.alpha * centers.center_deltas(*(torch.cat(p) for p in parts))
        after_step(self)
        errors.append((centers.centers - single).abs().max().item())
        params = {k: v.detach().clone() for k, v in nets[-1].named_parameters()}
        torch.save({"centers": centers.centers.clone(), "params": params, "errors": errors},
                   f"rank{os.environ['RANK']}.pt")

    M.network, M.after_step = keep_network, checked_after_step
    sys.exit(run_main(train.main, sys.argv[1:]))
""")


@pytest.mark.slow
@pytest.mark.skipif(not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
                    reason="needs torch.distributed with the gloo backend")
def test_torchrun_ranks_share_the_centers_and_the_attention_net(tmp_path):
    """Two gloo ranks, 8 images each per step: DDP syncs backbone, fc and attention net (identical on both
    ranks), the centers are identical and each update is one process's Eq. 11 on the whole batch of 16. The
    sums differ only in their order (two partial sums added by all_reduce): float32 rounding of values of
    order 1, a few ulps (6e-8 each; one is seen); 1e-6 leaves room. Without the all_reduce they differ by ~1."""
    from breg_models import create_model

    (tmp_path / "rank_view.py").write_text(RANK_VIEW)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "rank_view.py",
           *TINY, "--optimizer", "sgd", "--epochs", "1", "--results", "r.jsonl", "--checkpoint-dir", "ckpt"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    (row,) = ResultsStore(tmp_path / "r.jsonl").rows("train")
    assert row["config"]["world_size"] == 2 and "accuracy" in row["metrics"]
    views = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert len(views[0]["errors"]) == 2 and max(views[0]["errors"] + views[1]["errors"]) < 1e-6
    assert torch.equal(views[0]["centers"], views[1]["centers"])
    assert views[0]["params"].keys() == views[1]["params"].keys()
    assert any(k.startswith("attention.") for k in views[0]["params"])
    assert all(torch.equal(v, views[1]["params"][k]) for k, v in views[0]["params"].items())
    (run_dir,) = (tmp_path / "ckpt").iterdir()
    ckpt = load_checkpoint(run_dir / "last.pt")
    assert torch.equal(ckpt["criterion"]["center_loss.centers"], views[0]["centers"])
    create_model("tv_resnet18").load_state_dict(ckpt["model"])  # the bare network, as before DDP wrapped DACLNet


def test_center_loss_and_the_dacl_recipe_decay_every_parameter(tmp_path, monkeypatch):
    """--loss center trains Wen et al.'s center loss (every weight 1, no attention net); --decay-on all (DACL's code)
    puts every parameter, BatchNorm, biases, fc and the attention net's included, in the decayed group."""
    from bench.training import loop

    made = []
    real = loop.build_method
    monkeypatch.setattr(loop, "build_method", lambda model, ctx: made.append(real(model, ctx)) or made[-1])
    assert _run(tmp_path, "--loss", "center", "--optimizer", "sgd", "--epochs", "1") == 0
    (method,) = made
    assert method.loss.attention is None and isinstance(method, dacl.CenterLossMethod)
    decayed, free = method.optimizer.param_groups
    assert {id(p) for p in free["params"]} == {id(p) for p in method.model.parameters()
                                               if p.ndim == 1 or p.shape[0] == method.model.fc.out_features}
    (row,) = ResultsStore(tmp_path / "r.jsonl").rows("train")
    assert row["config"]["loss"] == "center" and "decay_on" not in row["config"]
    made.clear()
    assert _run(tmp_path, "--optimizer", "sgd", "--epochs", "1", "--decay-on", "all", "--weight-decay", "5e-4") == 0
    (method,) = made
    groups = [g for g in method.optimizer.param_groups if g["params"]]
    assert len(groups) == 1 and groups[0]["weight_decay"] == 5e-4
    everything = {id(p) for p in [*method.model.parameters(), *method.loss.attention.parameters()]}
    assert {id(p) for p in groups[0]["params"]} == everything


def test_center_loss_is_sparse_center_loss_with_unit_weights():
    """Wen et al.'s L_C = 1/2m sum |x_i - c_yi|^2 and its center update Delta c_j = sum (c_j - x_i) / (1 + n_j): the
    sparse center loss with every a_ij = 1, written out here in float64."""
    from bench.training.dacl import CenterNet

    torch.manual_seed(0)
    net = CenterNet(type("Net", (torch.nn.Module,), {"features": lambda self, x: x, "fc": torch.nn.Identity()})(),
                    None)
    x = torch.randn(6, 4, 1, 1)
    _, pooled, weights = net(x)
    assert torch.equal(weights, torch.ones(6, 4))
    from losses import SparseCenterLoss

    loss = SparseCenterLoss(3, 4).double()
    labels = torch.tensor([0, 1, 1, 2, 2, 2])
    feats = pooled.double()
    c = loss.centers.clone()
    expected = sum(((feats[i] - c[labels[i]]) ** 2).sum() for i in range(6)) / (2 * 6)
    assert torch.allclose(loss(feats, weights.double(), labels), expected)
    loss.update_centers(feats, weights.double(), labels)
    for k in range(3):
        members = feats[labels == k]
        delta = (c[k] - members).sum(0) / (1 + len(members))
        assert torch.allclose(loss.centers[k], c[k] - 0.5 * delta)


def test_centers_start_as_the_authors_code_initialises_them():
    """He initialisation of the transposed (features x classes) matrix, as DACL's loss.py: std sqrt(2 / K)."""
    from losses import SparseCenterLoss

    torch.manual_seed(0)
    centers = SparseCenterLoss(7, 4096).centers
    assert abs(centers.std().item() - (2 / 7) ** 0.5) < 0.01
