"""bench.train on tiny synth sets: rows per epoch, skip on rerun, resume after a crash, CLI errors."""

import json
from pathlib import Path

import pytest
import torch

from bench import train
from bench.cli import run_main
from bench.training import loop
from bench.training.inputs import batches
from harness.results_store import ResultsStore

TINY = ["--model", "bregnext14", "--image-size", "16", "--synth-train", "48", "--synth-val", "32",
        "--batch-size", "16", "--epochs", "2", "--format", "json"]


def _run(tmp_path, *extra):
    return run_main(train.main, TINY + ["--results", str(tmp_path / "train.jsonl"), "--checkpoint-dir",
                                        str(tmp_path / "ckpt"), *extra])


def test_rows_per_epoch_checkpoints_and_skip(tmp_path, capsys):
    assert _run(tmp_path) == 0
    rows = ResultsStore(tmp_path / "train.jsonl").rows("train")
    assert [r["config"]["epoch"] for r in rows] == [1, 2]
    row = rows[-1]
    assert {"accuracy", "macro_f1", "kappa", "train_loss"} <= set(row["metrics"])
    assert row["config"]["loss"] == "focal" and row["config"]["batch_size"] == 16
    assert row["timings"]["epoch_s"] > 0 and row["env"]["torch"] == torch.__version__
    (run_dir,) = (tmp_path / "ckpt").iterdir()
    assert {p.name for p in run_dir.iterdir()} == {"last.pt", "best.pt"}
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["run_id"] for p in printed] == [r["run_id"] for r in rows]
    assert _run(tmp_path) == 0  # finished: skipped, nothing appended
    assert "--force reruns" in capsys.readouterr().err
    assert len(ResultsStore(tmp_path / "train.jsonl").rows()) == 2
    assert _run(tmp_path, "--format", "markdown") == 0  # the stored epochs as a table
    table = capsys.readouterr().out
    assert table.startswith("**Training runs") and "| bregnext14" in table and "train_loss" in table


def test_batches_split_disjointly_across_ranks():
    """Every rank draws the same order and keeps its own slice of each global batch."""
    whole = batches(21, 8, torch.Generator().manual_seed(3), "cpu")
    shards = [batches(21, 8, torch.Generator().manual_seed(3), "cpu", rank, 2) for rank in (0, 1)]
    assert [len(s) for s in shards] == [len(whole)] * 2 == [3, 3]  # same number of steps on every rank
    for batch, a, b in zip(whole, *shards, strict=True):
        assert sorted(torch.cat([a, b]).tolist()) == sorted(batch.tolist()) and not set(a.tolist()) & set(b.tolist())
    assert len(batches(18, 8, None, "cpu", 0, 2)) == 2  # a last batch of 2 cannot give each rank 2


def test_resume_after_a_crash(tmp_path, interrupt_in_epoch_2, capsys):
    interrupt_in_epoch_2.arm()
    assert _run(tmp_path) == 130
    assert len(ResultsStore(tmp_path / "train.jsonl").rows()) == 1
    interrupt_in_epoch_2.disarm()
    assert _run(tmp_path) == 0
    assert "resuming" in capsys.readouterr().err
    rows = ResultsStore(tmp_path / "train.jsonl").rows()
    assert [r["config"]["epoch"] for r in rows] == [1, 2]


def _fail_on_call(real, n, exc):
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise exc
        return real(*args, **kwargs)

    return wrapper


def _epochs(tmp_path):
    return [r["config"]["epoch"] for r in ResultsStore(tmp_path / "train.jsonl").rows()]


def test_killed_between_row_and_checkpoint_loses_and_repeats_nothing(tmp_path, monkeypatch, capsys):
    """Epoch 2's row is stored, its checkpoint is not: the rerun redoes epoch 2 and keeps the one row."""
    monkeypatch.setattr(loop, "save_checkpoint", _fail_on_call(loop.save_checkpoint, 2, KeyboardInterrupt))
    assert _run(tmp_path) == 130
    assert _epochs(tmp_path) == [1, 2]
    monkeypatch.undo()
    capsys.readouterr()
    assert _run(tmp_path) == 0
    out, err = capsys.readouterr()
    assert "resuming" in err and _epochs(tmp_path) == [1, 2]
    assert [json.loads(line)["config"]["epoch"] for line in out.splitlines()] == [1, 2]  # not only epoch 2


def test_a_failed_row_write_keeps_the_epoch_to_redo(tmp_path, monkeypatch, capsys):
    """The store refuses epoch 2's row (read-only, full): no checkpoint claims epoch 2, so a rerun redoes it."""
    monkeypatch.setattr(ResultsStore, "append",
                        _fail_on_call(ResultsStore.append, 2, PermissionError("results store is read-only")))
    assert _run(tmp_path) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(": error: results store is read-only")
    monkeypatch.undo()
    assert _run(tmp_path) == 0
    assert _epochs(tmp_path) == [1, 2]


def test_a_failed_checkpoint_write_is_one_line_and_the_rerun_finishes(tmp_path, monkeypatch, capsys):
    """A full disk under epoch 2's checkpoint: one line naming it, no temporary file left; the rerun redoes epoch 2
    from epoch 1's checkpoint, keeps one row per epoch and ends with its checkpoints and evaluate row."""
    import bench.checkpoint as checkpoint

    real = checkpoint.torch.save

    def full_disk(state, path, *args, **kwargs):
        if state["epoch"] == 2:
            Path(path).write_bytes(b"partial")
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")
        return real(state, path, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", full_disk)
    assert _run(tmp_path) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "could not write the checkpoint of epoch 2" in err and "unexpected pos" in err
    (run_dir,) = (tmp_path / "ckpt").iterdir()
    assert not (run_dir / "last.pt.tmp").exists()
    monkeypatch.undo()
    assert _run(tmp_path) == 0
    assert _epochs(tmp_path) == [1, 2]
    assert torch.load(run_dir / "last.pt", weights_only=True)["epoch"] == 2
    assert len(ResultsStore(tmp_path / "evaluate.jsonl").rows("evaluate")) == 1


def test_a_new_results_file_gets_the_rows_the_checkpoint_keeps(tmp_path, capsys):
    """The run trained once, then asked for with a fresh results file: its rows come from the checkpoint, nothing
    is trained again."""
    assert _run(tmp_path) == 0
    first = ResultsStore(tmp_path / "train.jsonl").rows("train")
    capsys.readouterr()
    fresh = tmp_path / "fresh" / "train.jsonl"
    assert run_main(train.main, TINY + ["--results", str(fresh), "--checkpoint-dir", str(tmp_path / "ckpt")]) == 0
    err = capsys.readouterr().err
    assert "copied from" in err and "epoch 1:" not in err  # nothing trained
    assert ResultsStore(fresh).rows("train") == first


def test_lost_checkpoints_retrain_only_a_run_that_was_never_evaluated(tmp_path, capsys):
    import shutil

    assert _run(tmp_path) == 0
    shutil.rmtree(tmp_path / "ckpt")  # the evaluate row is stored: nothing left to make
    assert _run(tmp_path) == 0 and "--force reruns" in capsys.readouterr().err
    (tmp_path / "evaluate.jsonl").unlink()  # neither checkpoints nor the evaluate row: trained again
    assert _run(tmp_path) == 0
    assert _epochs(tmp_path) == [1, 2] and len(ResultsStore(tmp_path / "evaluate.jsonl").rows("evaluate")) == 1
    assert (next((tmp_path / "ckpt").iterdir()) / "best.pt").is_file()


def test_a_second_process_on_the_same_run_waits_and_trains_nothing(tmp_path, capsys):
    """Another process holds the run (as a running bench.train does): this one waits for it, then finds every
    epoch stored and trains nothing, and writes no second evaluate row."""
    import subprocess
    import sys
    import time

    from harness.results_store import run_id

    assert _run(tmp_path) == 0  # the run the other process "finishes"
    capsys.readouterr()
    store = ResultsStore(tmp_path / "train.jsonl")
    key = run_id("train", {k: v for k, v in store.rows("train")[0]["config"].items() if k != "epoch"})
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom harness.results_store import ResultsStore\n"
        f"with ResultsStore({str(store.path)!r}).claim({key!r}) as held:\n"
        "    print(held, flush=True)\n    time.sleep(2)\n")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "True"
    started = time.monotonic()
    assert _run(tmp_path) == 0
    assert time.monotonic() - started > 0.5 and holder.wait() == 0
    err = capsys.readouterr().err
    assert "another process is training this run" in err and "--force reruns" in err
    assert _epochs(tmp_path) == [1, 2] and len(ResultsStore(tmp_path / "evaluate.jsonl").rows("evaluate")) == 1


def test_a_checkpoint_dir_that_is_a_file_is_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "ckpt").write_text("not a folder")
    assert _run(tmp_path) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith(f"--checkpoint-dir {tmp_path / 'ckpt'}: {tmp_path / 'ckpt'} is a file, "
                                             "not a folder")
    assert not (tmp_path / "train.jsonl").exists()


def test_a_checkpoint_holding_pickled_code_is_refused(tmp_path, capsys):
    import os

    evil = tmp_path / "evil.pt"
    torch.save({"model": {}, "epoch": 1, "hook": os.system}, evil)  # loading it unrestricted imports os.system
    assert _run(tmp_path, "--resume", str(evil)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "refusing to load" in err[0] and str(evil) in err[0]


def test_dimensional_and_settings(tmp_path):
    assert _run(tmp_path, "--task", "dimensional", "--loss", "av", "--lr-step", "1", "--lr-step-unit",
                "iter", "--amp", "bf16", "--channels-last", "--deterministic", "--epochs", "1") == 0
    (row,) = ResultsStore(tmp_path / "train.jsonl").rows()
    assert "rmse_total" in row["metrics"] and row["timings"]["lr"] < 1e-4
    torch.use_deterministic_algorithms(False)


@pytest.mark.parametrize("loss", ["ce", "weighted_ce", "dacl", "focal_code"])
def test_categorical_losses(tmp_path, loss):
    assert _run(tmp_path, "--loss", loss, "--epochs", "1", "--synth-train", "32", "--augment-p", "0") == 0


def test_dacl_widths_are_a_setting_of_the_run(tmp_path):
    assert _run(tmp_path, "--loss", "dacl", "--dacl-widths", "64,32,8", "--epochs", "1", "--synth-train", "32") == 0
    (row,) = ResultsStore(tmp_path / "train.jsonl").rows()
    assert row["config"]["dacl_widths"] == [64, 32, 8]
    (run_dir,) = (tmp_path / "ckpt").iterdir()
    from bench.checkpoint import load_checkpoint

    state = load_checkpoint(run_dir / "last.pt")["criterion"]
    weights = [v for k, v in state.items() if k.endswith("weight") and v.dim() == 2]  # the linear layers
    assert [w.shape[0] for w in weights][:3] == [64, 32, 8]


def test_bypass_swap(tmp_path):
    assert _run(tmp_path, "--bypass", "identity", "--epochs", "1", "--synth-train", "32") == 0
    (row,) = ResultsStore(tmp_path / "train.jsonl").rows()
    assert row["config"]["bypass"] == "identity"


@pytest.mark.parametrize("extra, message", [
    (["--model", "resnet7"], "unknown model"),
    (["--bypass", "tanh"], "tanh"),
    (["--device", "cuda"], "no CUDA device"),
    (["--loss", "mse"], "does not fit the categorical task"),
    (["--data", "fer2013:/no/such.csv"], "not found"),
    (["--bypass-impl", "triton"], "needs --device cuda"),
    (["--amp", "fp16"], "fp16 needs"),
    (["--loss", "dacl", "--dacl-widths", "64,0,8"], "three positive widths"),
])
def test_input_errors_are_one_line(tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.setenv("TRITON_INTERPRET", "0")  # tests/conftest.py interprets the kernels; this case must not
    if "cuda" in extra and torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    if "triton" in extra and torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert _run(tmp_path, "--device", "cpu", *extra) if "cuda" not in extra else _run(tmp_path, *extra)
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("option", ["--results", "--out"])
def test_an_output_path_that_is_a_folder_fails_before_training(tmp_path, capsys, option):
    (tmp_path / "a_folder").mkdir()
    assert _run(tmp_path, option, str(tmp_path / "a_folder")) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "is a folder, not a" in line and line.startswith("bench.train: error: ") and not (tmp_path / "ckpt").exists()


def test_argparse_usage_error_exits_2(tmp_path):
    with pytest.raises(SystemExit) as exc:
        _run(tmp_path, "--amp", "fp8")
    assert exc.value.code == 2


@pytest.mark.slow
def test_synth_is_learnable(tmp_path):
    """BReG-NeXt-14 learns synth on a CPU budget of about 10 s (two epochs of 512 faces at 24 px): the valence/arousal
    RMSE ends well below a constant predictor's, and the categories read off the predicted (valence, arousal) beat
    chance."""
    from bench.data import load_dataset, normalise
    from bench.data.synth import category
    from breg_models import create_model

    n, size = 512, 24
    args = ["--model", "bregnext14", "--task", "dimensional", "--image-size", str(size), "--synth-train", str(n),
            "--synth-val", "256", "--synth-nuisance", "0.5", "--batch-size", "16", "--lr", "1e-3", "--lr-step", "1",
            "--lr-gamma", "0.5",
            "--augment-p", "0", "--epochs", "2", "--results", str(tmp_path / "r.jsonl"),
            "--checkpoint-dir", str(tmp_path / "c")]
    assert run_main(train.main, args) == 0
    rows = ResultsStore(tmp_path / "r.jsonl").rows()
    train_va = load_dataset("synth", "train", size=size, synth_n=n, nuisance=0.5).va
    val = load_dataset("synth", "val", size=size, synth_n=256, nuisance=0.5)
    constant = (val.va - train_va.mean(0)).pow(2).mean().sqrt().item()
    rmse = min(r["metrics"]["rmse_total"] for r in rows)
    assert rmse < 0.75 * constant, (rmse, constant)

    (run_dir,) = (tmp_path / "c").iterdir()
    model = create_model("bregnext14", task="dimensional")
    model.load_state_dict(torch.load(run_dir / "best.pt", weights_only=False)["model"])
    with torch.no_grad():
        pred = model.eval()(normalise(val.images))
    accuracy = (category(pred) == val.labels).float().mean().item()
    print(f"synth learnability: rmse {rmse:.3f} (constant {constant:.3f}), accuracy {accuracy:.3f} (chance 0.125)")
    assert accuracy > 2 / 8, accuracy


def test_tags_label_the_run_and_cannot_override_a_setting(tmp_path, capsys):
    assert _run(tmp_path, "--epochs", "1", "--tag", "paper=bregnext", "--tag", "budget=smoke") == 0
    (row,) = ResultsStore(tmp_path / "train.jsonl").rows("train")
    assert row["config"]["paper"] == "bregnext" and row["config"]["budget"] == "smoke"
    capsys.readouterr()
    assert _run(tmp_path, "--epochs", "1", "--tag", "lr=1") == 1
    assert capsys.readouterr().err.strip().endswith("--tag lr=...: lr is a setting of the run, not a label")


@pytest.mark.parametrize("kind, message", [
    ("empty", "not a checkpoint file (torch.load cannot read it)"),
    ("text", "not a checkpoint file (torch.load cannot read it)"),
    ("folder", "is a folder, not a checkpoint file"),
    ("state_dict", "not a bench.train checkpoint (no config, model, epoch, shuffle_rng, augment_rng, best); --init "
                   "loads weights alone"),
])
def test_a_resume_file_that_is_no_checkpoint_is_one_line(tmp_path, capsys, kind, message):
    bad = tmp_path / "bad.pt"
    if kind == "empty":
        bad.write_bytes(b"")
    elif kind == "text":
        bad.write_text("hello world\n")
    elif kind == "folder":
        bad.mkdir()
    else:
        torch.save({"weight": torch.zeros(2)}, bad)  # weights alone: what --init takes
    assert _run(tmp_path, "--resume", str(bad)) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.endswith(message) and str(bad) in line


def test_a_file_that_is_no_checkpoint_is_named_so(tmp_path, capsys):
    junk = tmp_path / "rows.jsonl"
    junk.write_text('{"a": 1}\n')
    assert _run(tmp_path, "--resume", str(junk)) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.endswith(f"{junk}: not a checkpoint file (torch.load cannot read it)")
