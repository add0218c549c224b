"""Bad input to bench.train and bench.evaluate, as a new user or a hostile file gives it: numbers out of range, nan
or inf, devices this machine lacks, and checkpoints that are empty, text, truncated, weights alone, of wrong config
types, pointing at files outside any data set, or another model's. Each is refused before any work: exit status
non-zero, one line on stderr that begins with the program's name, no traceback, nothing written (no store, no
checkpoint folder, no lock, no output)."""

import math
import sys

import pytest
import torch

from bench import evaluate, train
from bench.cli import run_main

TINY = ["--model", "bregnext14", "--data", "synth", "--synth-train", "16", "--synth-val", "8", "--image-size", "16",
        "--batch-size", "8", "--epochs", "1", "--device", "cpu"]
MISSING_GPU = f"cuda:{torch.cuda.device_count()}"  # one past the last CUDA device: absent on every machine


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A finished tiny run's best.pt, and bad files made from it, by name (outside each test's tmp_path)."""
    from breg_models import create_model

    folder = tmp_path_factory.mktemp("bad_inputs")
    assert run_main(train.main, TINY + ["--results", str(folder / "t.jsonl"), "--checkpoint-dir",
                                        str(folder / "ckpt"), "--format", "json"]) == 0
    (best,) = (folder / "ckpt").glob("*/best.pt")
    ckpt = torch.load(best, weights_only=True)
    other = create_model("bregnext26", num_classes=8).state_dict()
    (folder / "secret.csv").write_text("SECRET-LINE,do-not-print\n1,2\n")
    made = {"good": best, "missing": folder / "missing.pt", "folder": folder / "folder.pt"}
    made["folder"].mkdir()

    def save(name, value):
        made[name] = folder / f"{name}.pt"
        if isinstance(value, bytes):
            made[name].write_bytes(value)
        else:
            torch.save(value, made[name])

    def changed(name, *, drop=(), **config):
        config = {k: v for k, v in {**ckpt["config"], **config}.items() if k not in drop}
        save(name, {**ckpt, "config": config})

    save("empty", b"")
    save("text", b"epoch,loss\n1,0.5\n")
    save("truncated", best.read_bytes()[:len(best.read_bytes()) // 2])
    save("state_dict", ckpt["model"])
    save("a_list", [1, 2, 3])
    save("other_weights", {**ckpt, "model": other})  # its config is the run's, its weights bregnext26's
    save("other_state_dict", other)
    save("config_list", {**ckpt, "config": [1, 2]})
    save("epoch_text", {**ckpt, "epoch": "1"})
    save("rng_list", {**ckpt, "shuffle_rng": [1, 2, 3]})
    save("rows_numbers", {**ckpt, "rows": [1, 2]})
    save("best_text", {**ckpt, "best": "high"})
    save("model_text", {**ckpt, "model": "weights"})
    changed("size_text", image_size="16")
    changed("size_float", image_size=16.0)
    changed("size_negative", image_size=-3)
    changed("seed_text", seed="0")
    changed("classes_text", num_classes="8")
    changed("batch_zero", batch_size=0)
    changed("augment_nan", augment_p=math.nan)
    changed("lr_inf", lr=math.inf)
    changed("amp_bool", amp=True)
    changed("task_other", task="regression")
    changed("no_task", drop=("task",))
    changed("data_number", data=3)
    changed("data_unknown", data="imagenet:/data")
    changed("data_passwd", data="fer2013:../../../../../../../../etc/passwd")
    changed("data_absolute", data="fer2013:/etc/passwd")
    changed("data_csv_outside", data=f"fer2013:{folder / 'secret.csv'}")
    changed("data_missing", data="affectnet:/no/such/affectnet")
    changed("model_other", model="bregnext26")
    return made


def _refused(monkeypatch, capsys, tmp_path, module, argv) -> str:
    """Run ``module`` on ``argv`` as `python -m` would; assert the refusal's form; its one line."""
    monkeypatch.setattr(sys, "argv", [module.__file__])  # names the program as `python -m bench.NAME` does
    try:
        code = run_main(module.main, argv)
    except SystemExit as exc:  # argparse: an option's type refused the value
        code = exc.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code not in (0, None), err
    assert len(lines) == 1 and lines[0].startswith(f"{module.__name__}: error: "), err
    assert "Traceback" not in err
    assert not list(tmp_path.iterdir())  # no store, lock, checkpoint folder or output
    return lines[0]


TRAIN_VALUES = [
    (["--augment-p", "2"], "--augment-p: must be >= 0 and <= 1"),
    (["--augment-p", "-0.1"], "--augment-p: must be >= 0"),
    (["--augment-p", "nan"], "--augment-p: must be"),
    (["--weight-decay", "-1"], "--weight-decay: must be >= 0"),
    (["--weight-decay", "inf"], "--weight-decay: must be >= 0 and finite"),
    (["--lr-gamma", "-1"], "--lr-gamma: must be > 0 and <= 1"),
    (["--lr-gamma", "0"], "--lr-gamma: must be > 0"),
    (["--lr-gamma", "1.5"], "--lr-gamma: must be > 0 and <= 1"),
    (["--synth-nuisance", "nan"], "--synth-nuisance: must be >= 0 and finite"),
    (["--synth-nuisance", "-1"], "--synth-nuisance: must be >= 0"),
    (["--lr", "inf"], "--lr: must be > 0 and finite, got inf"),
    (["--lr", "-1"], "--lr: must be > 0"),
    (["--lr", "0"], "--lr: must be > 0"),
    (["--lr", "nan"], "--lr: must be > 0 and finite, got nan"),
    (["--lr", "1e-4x"], "--lr: expected a number"),
    (["--epochs", "0"], "--epochs: must be at least 1"),
    (["--epochs", "-2"], "--epochs: must be at least 1"),
    (["--epochs", "1e3"], "--epochs: expected an integer"),
    (["--batch-size", "0"], "--batch-size: must be at least 1"),
    (["--batch-size", "-8"], "--batch-size: must be at least 1"),
    (["--holdout", "1"], "--holdout: must be >= 0 and < 1"),
    (["--holdout", "-0.1"], "--holdout: must be >= 0 and < 1"),
    (["--holdout", "nan"], "--holdout: must be >= 0 and < 1"),
    (["--synth-train", "0"], "--synth-train: must be at least 1"),
    (["--synth-val", "-5"], "--synth-val: must be at least 1"),
    (["--image-size", "0"], "--image-size: must be at least 1"),
    (["--resize", "0"], "--resize: must be at least 1"),
    (["--lr-step", "0"], "--lr-step: must be at least 1"),
    (["--max-steps", "0"], "--max-steps: must be at least 1"),
    (["--num-classes", "1"], "--num-classes: must be at least 2"),
    (["--seed", "-1"], "--seed: must be at least 0"),
    (["--optimizer", "sgd", "--momentum", "1"], "--momentum: must be >= 0 and < 1"),
    (["--optimizer", "sgd", "--momentum", "nan"], "--momentum: must be >= 0 and < 1"),
    (["--adam-betas", "1,0.9"], "--adam-betas: must be >= 0 and < 1"),
    (["--adam-betas", "0.9,nan"], "--adam-betas: must be >= 0 and < 1"),
    (["--adam-betas", "0.9"], "--adam-betas: expected B1,B2"),
    (["--device", "gpu"], "--device: 'gpu' is not a device name (auto, cpu, cuda or cuda:N)"),
    (["--device", "cuda:x"], "--device: 'cuda:x' is not a device name"),
    (["--device", "mps"], "--device: 'mps': only cpu and cuda[:N] are supported"),
    (["--device", MISSING_GPU], f"--device {MISSING_GPU}: "),
    (["--tag", "epoch=3"], "--tag epoch=...: epoch is a setting of the run"),
]


@pytest.mark.parametrize("extra, message", TRAIN_VALUES, ids=[" ".join(a) for a, _ in TRAIN_VALUES])
def test_train_refuses_a_bad_value(monkeypatch, capsys, tmp_path, extra, message):
    argv = TINY + ["--results", str(tmp_path / "t.jsonl"), "--checkpoint-dir", str(tmp_path / "ckpt"), "--out",
                   str(tmp_path / "t.md")]
    assert message in _refused(monkeypatch, capsys, tmp_path, train, argv + extra)


@pytest.mark.parametrize("module", [train, evaluate])
def test_every_device_form_parses_and_auto_is_resolved(module):
    """auto, cpu, cuda and cuda:N mean the same in every entry point (bench.train took no cuda:N before); auto is
    the device this machine has; whether it has the one named is checked after parsing."""
    parse = lambda device: module.build_parser().parse_args(["x.pt"] * (module is evaluate) + ["--device", device])
    assert [parse(d).device for d in ("cpu", "cuda", "cuda:3")] == ["cpu", "cuda", "cuda:3"]
    assert parse("auto").device == ("cuda" if torch.cuda.is_available() else "cpu")


def test_no_cuda_device_is_one_line_naming_it(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    line = _refused(monkeypatch, capsys, tmp_path, train, TINY + ["--device", "cuda:0", "--results",
                                                                  str(tmp_path / "t.jsonl")])
    assert line == "bench.train: error: --device cuda:0: no CUDA device on this machine (use --device cpu)"


CHECKPOINTS = [  # (how the file is given, its name in `files`, what the line says)
    ("--resume", "empty", "not a checkpoint file (torch.load cannot read it)"),
    ("--resume", "text", "not a checkpoint file (torch.load cannot read it)"),
    ("--resume", "truncated", "not a readable checkpoint, truncated or of another kind"),
    ("--resume", "state_dict", "not a bench.train checkpoint (no config, model, epoch"),
    ("--resume", "a_list", "not a checkpoint of this harness (a list, not a dict)"),
    ("--resume", "folder", "is a folder, not a checkpoint file"),
    ("--resume", "missing", "checkpoint not found"),
    ("--resume", "other_weights", "is from a different model: its weights do not fit bregnext14"),
    ("--resume", "model_other", "was written by a different config"),
    ("--resume", "config_list", "its config is a list, not a dict"),
    ("--resume", "size_text", "its config's image_size must be a number, not '16'"),
    ("--resume", "no_task", "its config lacks task"),
    ("--resume", "epoch_text", "its epoch must be a number, not '1'"),
    ("--resume", "rng_list", "its shuffle_rng is not a generator state"),
    ("--resume", "rows_numbers", "its rows are not a list of rows"),
    ("--resume", "best_text", "its best must be a number"),
    ("--resume", "model_text", "its model is not a state dict of tensors"),
    ("--init", "empty", "not a checkpoint file"),
    ("--init", "text", "not a checkpoint file"),
    ("--init", "truncated", "not a readable checkpoint"),
    ("--init", "a_list", "a list, not a dict"),
    ("--init", "missing", "not found"),
    ("--init", "other_state_dict", "does not fit bregnext14"),
    ("evaluate", "empty", "not a checkpoint file (torch.load cannot read it)"),
    ("evaluate", "text", "not a checkpoint file (torch.load cannot read it)"),
    ("evaluate", "truncated", "not a readable checkpoint, truncated or of another kind"),
    ("evaluate", "state_dict", "not a bench.train checkpoint (no config, model)"),
    ("evaluate", "a_list", "not a checkpoint of this harness (a list, not a dict)"),
    ("evaluate", "folder", "is a folder, not a checkpoint file"),
    ("evaluate", "missing", "checkpoint not found"),
    ("evaluate", "config_list", "its config is a list, not a dict"),
    ("evaluate", "size_text", "its config's image_size must be a number, not '16'"),
    ("evaluate", "size_float", "its config's image_size must be an integer, got '16.0'"),
    ("evaluate", "size_negative", "its config's image_size must be at least 1, got -3"),
    ("evaluate", "seed_text", "its config's seed must be a number, not '0'"),
    ("evaluate", "classes_text", "its config's num_classes must be a number, not '8'"),
    ("evaluate", "batch_zero", "its config's batch_size must be at least 1, got 0"),
    ("evaluate", "augment_nan", "its config's augment_p must be >= 0 and <= 1 and finite, got nan"),
    ("evaluate", "lr_inf", "its config's lr must be > 0 and finite, got inf"),
    ("evaluate", "amp_bool", "its config's amp must be one of off, bf16, fp16, not True"),
    ("evaluate", "task_other", "its config's task must be one of categorical, dimensional, not 'regression'"),
    ("evaluate", "no_task", "its config lacks task"),
    ("evaluate", "data_number", "its config's data must be text, not 3"),
    ("evaluate", "data_unknown", "its config's data: unknown data set 'imagenet:/data'"),
    ("evaluate", "data_passwd", "its config's data ../../../../../../../../etc/passwd is not FER2013's .csv file or "
                                "a folder holding fer2013.csv: give --data fer2013:PATH"),
    ("evaluate", "data_absolute", "its config's data /etc/passwd is not FER2013's .csv file"),
    ("evaluate", "data_csv_outside", "missing column(s) emotion, pixels, Usage: not a FER2013 CSV"),
    ("evaluate", "data_missing", "its config's data /no/such/affectnet is not here: give --data affectnet:PATH"),
    ("evaluate", "model_text", "its model is not a state dict of tensors"),
    ("evaluate", "other_weights", "is from a different model: its weights do not fit bregnext14"),
    ("evaluate", "model_other", "is from a different model: its weights do not fit bregnext26"),
]


@pytest.mark.parametrize("given, name, message", CHECKPOINTS, ids=[f"{g}-{n}" for g, n, _ in CHECKPOINTS])
def test_a_bad_checkpoint_is_one_line_naming_it(monkeypatch, capsys, tmp_path, files, given, name, message):
    path = str(files[name])
    if given == "evaluate":
        argv = [path, "--device", "cpu", "--results", str(tmp_path / "e.jsonl"), "--out", str(tmp_path / "e.md")]
        line = _refused(monkeypatch, capsys, tmp_path, evaluate, argv)
    else:
        argv = TINY + [given, path, "--results", str(tmp_path / "t.jsonl"), "--checkpoint-dir",
                       str(tmp_path / "ckpt")]
        line = _refused(monkeypatch, capsys, tmp_path, train, argv)
    assert message in line and (path in line or name == "data_csv_outside")  # that one names the file it read
    assert "SECRET" not in line and "root:" not in line  # a file's contents are never repeated


@pytest.mark.parametrize("extra, message", [
    (["--device", "gpu"], "--device: 'gpu' is not a device name"),
    (["--device", MISSING_GPU], f"--device {MISSING_GPU}: "),
    (["--splits", "val,dev"], "unknown split 'dev'"),
    (["--splits", ","], "unknown split ''"),
    (["--data", "imagenet:/x"], "unknown data set 'imagenet:/x'"),
    (["--data", "synth:/x"], "synth takes no path"),
])
def test_evaluate_refuses_a_bad_option(monkeypatch, capsys, tmp_path, files, extra, message):
    argv = [str(files["good"]), "--results", str(tmp_path / "e.jsonl"), *extra]
    assert message in _refused(monkeypatch, capsys, tmp_path, evaluate, argv)


def test_the_users_data_replaces_the_path_a_checkpoint_names(tmp_path, files, capsys):
    """A checkpoint whose config names /etc/passwd evaluates on the --data the user gives, and reads nothing else."""
    store = tmp_path / "e.jsonl"
    assert run_main(evaluate.main, [str(files["data_passwd"]), "--data", "synth", "--device", "cpu", "--results",
                                    str(store), "--format", "json"]) == 0
    assert '"data": "synth"' in capsys.readouterr().out and "/etc/passwd" not in store.read_text()
