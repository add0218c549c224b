"""bench.train --loss dacl as DACL Sec. 4.2 trains it: torchvision's ResNet-18 with SGD, the paper's CE-Unit widths,
one-line refusals, and two torchrun ranks whose centers take one update of the whole batch."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from bench import train
from bench.checkpoint import load_checkpoint
from bench.cli import run_main
from bench.results import ResultsStore

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

    class Kept(train.Criterion):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append((self, self.dacl.centers.clone()))

    monkeypatch.setattr(train, "Criterion", Kept)
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
    centers = ckpt["criterion"]["dacl.centers"]
    assert torch.equal(centers, resumed.dacl.centers) and not torch.allclose(centers, initial)


def test_widths_and_optimizer_in_the_run_config():
    """Unset widths resolve per network (the paper's on tv_*, the scaled ones on the zoo's) and are stored
    resolved; Adam runs carry no optimizer keys, so their ids are those from before --optimizer."""
    config = lambda *argv: train.run_config(train.build_parser().parse_args(list(argv)))
    assert config("--model", "tv_resnet18", "--loss", "dacl")["dacl_widths"] == [3584, 512, 64]
    assert config("--model", "bregnext50", "--loss", "dacl")["dacl_widths"] == list(train.DACL_WIDTHS)
    assert config("--model", "tv_resnet18", "--loss", "dacl", "--dacl-widths", "8,4,2")["dacl_widths"] == [8, 4, 2]
    assert not {"optimizer", "momentum", "dacl_widths"} & set(config())
    assert config("--optimizer", "sgd")["momentum"] == train.SGD_MOMENTUM == 0.9
    assert [config("--optimizer", "sgd", "--momentum", "0.5")[k] for k in ("optimizer", "momentum")] == ["sgd", 0.5]


@pytest.mark.parametrize("extra, message", [
    (["--model", "tv_alexnet", "--image-size", "64"], "--loss dacl needs a network with features()"),
    (["--model", "tv_alexnet_tuned", "--image-size", "64"], "tv_alexnet_tuned lacks"),
    (["--momentum", "0.5"], "--momentum is a setting of --optimizer sgd"),
    (["--optimizer", "sgd", "--momentum", "1"], "--momentum must be in [0, 1)"),
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

    network, after_step, nets, errors = train.Criterion.network, train.Criterion.after_step, [], []

    def keep_network(self, model):
        nets.append(network(self, model))
        return nets[-1]

    def checked_after_step(self):
        world = torch.distributed.get_world_size()
        parts = [[torch.empty_like(t) for _ in range(world)] for t in self._last]
        for out, t in zip(parts, self._last):
            torch.distributed.all_gather(out, t)
        single = self.dacl.centers - self.dacl.alpha * self.dacl.center_deltas(*(torch.cat(p) for p in parts))
        after_step(self)
        errors.append((self.dacl.centers - single).abs().max().item())
        params = {k: v.detach().clone() for k, v in nets[-1].named_parameters()}
        torch.save({"centers": self.dacl.centers.clone(), "params": params, "errors": errors},
                   f"rank{os.environ['RANK']}.pt")

    train.Criterion.network, train.Criterion.after_step = keep_network, checked_after_step
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
    assert torch.equal(ckpt["criterion"]["dacl.centers"], views[0]["centers"])
    create_model("tv_resnet18").load_state_dict(ckpt["model"])  # the bare network, as before DDP wrapped DACLNet
