"""bench.evaluate on one tiny bench.train run: the rows' contracted keys and their consistency, the row train writes
at the end of a run, the command line reproducing it, and one-line errors."""

import contextlib
import io
import json

import numpy as np
import pytest
import torch
from torch import nn

from bench import evaluate, train
from bench.cli import run_main
from bench.data import load_dataset
from harness.cli import UsageError
from harness.results_store import ResultsStore
from metrics import CATEGORICAL_KEYS, DIMENSIONAL_KEYS

TINY = ["--model", "bregnext14", "--image-size", "16", "--synth-train", "32", "--synth-val", "48",
        "--batch-size", "16", "--epochs", "1", "--device", "cpu", "--format", "json"]


def _train(folder, *extra):
    """bench.train's exit status and stdout."""
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = run_main(train.main, TINY + ["--results", str(folder / "train.jsonl"), "--checkpoint-dir",
                                            str(folder / "ckpt"), *extra])
    return code, stdout.getvalue()


def _count_passes(monkeypatch) -> list[int]:
    """The size of every data set a model is run over (the epochs' validation and bench.evaluate's passes)."""
    from bench.training import inputs, loop

    passes, real = [], inputs.predict

    def predict(model, ds, *args, **kwargs):
        passes.append(len(ds))
        return real(model, ds, *args, **kwargs)

    monkeypatch.setattr(loop, "predict", predict)
    monkeypatch.setattr(inputs, "predict", predict)  # what bench.evaluate imports when it evaluates
    return passes


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One finished run: its folder, best.pt, its stdout and its end-of-run evaluation rows."""
    folder = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as monkeypatch:
        passes = _count_passes(monkeypatch)
        code, stdout = _train(folder)
    assert code == 0
    assert passes == [48]  # one epoch, whose best.pt is the last: its validation is the evaluate row's, made once
    (best,) = (folder / "ckpt").glob("*/best.pt")
    return folder, best, stdout, ResultsStore(folder / "evaluate.jsonl").rows()


def test_train_ends_with_the_best_checkpoints_val_row(run):
    folder, best, stdout, rows = run
    assert [json.loads(line)["command"] for line in stdout.splitlines()] == ["train"]  # stdout: the epoch rows only
    (row,) = rows
    (epoch_row,) = ResultsStore(folder / "train.jsonl").rows("train")
    expected = {k: v for k, v in epoch_row["config"].items() if k != "epoch"}
    assert row["command"] == "evaluate" and row["config"] == {**expected, "split": "val", "checkpoint": "best"}
    m = row["metrics"]
    assert set(CATEGORICAL_KEYS) | {f"norm_{k}" for k in CATEGORICAL_KEYS} <= set(m)
    assert {"per_class", "confusion", "class_names", "class_counts", "n_samples", "missing"} <= set(m)
    assert m["accuracy"] == epoch_row["metrics"]["accuracy"]  # one epoch: best.pt is the model that epoch scored
    confusion = np.array(m["confusion"])
    assert confusion.shape == (8, 8) and confusion.sum() == m["n_samples"] == 48
    assert np.trace(confusion) / m["n_samples"] == m["accuracy"]
    val = load_dataset("synth", "val", size=16, synth_n=48)
    assert m["class_counts"] == val.class_counts() == m["per_class"]["support"] == confusion.sum(1).tolist()
    assert m["class_names"] == list(val.class_names)
    assert all(len(m["per_class"][k]) == 8 for k in ("precision", "recall", "f1"))
    for c, (hits, support) in enumerate(zip(np.diag(confusion), confusion.sum(1), strict=True)):
        if support:  # recall of a class with true samples: its diagonal share of its row
            assert m["per_class"]["recall"][c] == pytest.approx(hits / support)


def test_the_command_line_reproduces_the_trains_row(run, capsys):
    folder, best, _, (trained,) = run
    store = folder / "cli.jsonl"
    assert run_main(evaluate.main, [str(best), "--device", "cpu", "--results", str(store), "--format", "json"]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["metrics"] == trained["metrics"] and row["config"] == trained["config"]
    assert run_main(evaluate.main, [str(best), "--device", "cpu", "--results", str(store), "--splits", "val,test",
                                    "--data", "synth"]) == 0  # val reused, test evaluated
    table = capsys.readouterr().out
    assert "| bregnext14" in table and "| test" in table and "accuracy" in table
    assert [r["config"]["split"] for r in ResultsStore(store).rows()] == ["val", "test"]
    assert ResultsStore(store).rows()[1]["metrics"]["n_samples"] == 256  # synth's default test size


def test_a_best_epoch_before_the_last_is_evaluated_anew(tmp_path, monkeypatch):
    """Where best.pt is not the last epoch's weights, the last validation cannot stand for it: its row comes from
    a pass of its own, and is what bench.evaluate gives for it."""
    from bench.training import loop

    values = iter([1.0, 0.0])  # epoch 1 scores best
    monkeypatch.setattr(loop, "selection_value", lambda task, metrics: next(values))
    passes = _count_passes(monkeypatch)
    assert _train(tmp_path, "--epochs", "2", "--synth-train", "8", "--synth-val", "8")[0] == 0
    assert passes == [8, 8, 8]  # two epochs' validation, then best.pt (epoch 1) on the validation split
    (row,) = ResultsStore(tmp_path / "evaluate.jsonl").rows()
    (best,) = (tmp_path / "ckpt").glob("*/best.pt")
    assert torch.load(best, weights_only=True)["epoch"] == 1
    (again,) = evaluate.evaluate_run(row["config"], best, ("val",))
    assert again["metrics"] == row["metrics"]


def test_rerunning_train_adds_no_evaluation_row_and_restores_a_lost_one(run, capsys):
    folder, *_ = run
    assert _train(folder)[0] == 0
    assert len(ResultsStore(folder / "evaluate.jsonl").rows()) == 1
    (folder / "evaluate.jsonl").unlink()  # e.g. killed after the last epoch, before its evaluation
    assert _train(folder)[0] == 0
    assert len(ResultsStore(folder / "evaluate.jsonl").rows()) == 1


def _tampered(run, tmp_path, **config):
    _, best, *_ = run
    ckpt = torch.load(best, weights_only=True)
    ckpt["config"].update(config)
    torch.save(ckpt, tmp_path / "best.pt")
    return str(tmp_path / "best.pt")


@pytest.mark.parametrize("case, message", [
    ("missing", "checkpoint not found"),
    ("folder", "is a folder, not a checkpoint file"),
    ("text", "not a checkpoint file (torch.load cannot read it)"),
    ("not_train", "not a bench.train checkpoint"),
    ("other_model", "different model: its weights do not fit bregnext26"),
    ("split", "unknown split 'dev'"),
    ("data", "FER2013 CSV not found"),
    ("classes", "has 7 classes, the network 8"),
])
def test_bad_input_is_one_line(run, tmp_path, capsys, case, message):
    _, best, *_ = run
    argv = [str(best), "--device", "cpu", "--results", str(tmp_path / "e.jsonl")]
    if case == "missing":
        argv[0] = str(tmp_path / "no.pt")
    elif case == "folder":
        argv[0] = str(tmp_path)
    elif case == "text":
        (tmp_path / "text.pt").write_text("hello world\n")
        argv[0] = str(tmp_path / "text.pt")
    elif case == "not_train":
        torch.save({"weights": torch.zeros(3)}, tmp_path / "plain.pt")
        argv[0] = str(tmp_path / "plain.pt")
    elif case == "other_model":
        argv[0] = _tampered(run, tmp_path, model="bregnext26")
    elif case == "split":
        argv += ["--splits", "val,dev"]
    elif case == "data":
        argv += ["--data", "fer2013:/no/such.csv"]
    else:  # the 8-class network on FER2013's 7 classes
        pixels = " ".join(["128"] * 48 * 48)
        (tmp_path / "fer.csv").write_text("emotion,pixels,Usage\n" + f"3,{pixels},PublicTest\n" * 2)
        argv += ["--data", f"fer2013:{tmp_path / 'fer.csv'}"]
    assert run_main(evaluate.main, argv) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "e.jsonl").exists()


def test_a_config_of_another_model_is_refused(run):
    _, best, *_ = run
    config = json.loads(json.dumps(torch.load(best, weights_only=True)["config"]))
    with pytest.raises(UsageError, match="different model: its model is 'bregnext14'"):
        evaluate.evaluate_run({**config, "model": "bregnext26"}, best)


class _Constant(nn.Module):
    """Predicts (value, -value) for every image: errors far outside [-2, 2] land in the end bins."""

    def __init__(self, value: float):
        super().__init__()
        self.value = value

    def forward(self, x):
        return torch.tensor([self.value, -self.value]).expand(x.shape[0], 2)


@pytest.mark.parametrize("value", [0.0, 5.0])
def test_dimensional_rows_hold_error_histograms(value):
    val = load_dataset("synth", "val", size=16, synth_n=40)
    m = evaluate.evaluation_metrics(_Constant(value), val, "dimensional", "cpu", batch_size=16)
    assert set(DIMENSIONAL_KEYS) <= set(m) and m["n_samples"] == 40 and "class_counts" not in m
    hist = m["error_hist"]
    assert len(hist["edges"]) == 41 and hist["edges"][0] == -2 and hist["edges"][-1] == 2
    for i, dim in enumerate(("valence", "arousal")):
        assert len(hist[dim]) == 40 and sum(hist[dim]) == 40
        expected = np.histogram(np.array([value, -value])[i] - val.va[:, i].numpy(), hist["edges"])[0]
        if value == 0.0:
            assert hist[dim] == expected.tolist()
        else:  # every error beyond +-2: all in one end bin
            assert hist[dim][-1 if i == 0 else 0] == 40
    error = val.va - torch.tensor([value, -value])
    assert m["rmse_total"] == pytest.approx(float(error.pow(2).mean().sqrt()), rel=1e-5)
