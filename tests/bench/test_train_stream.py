"""bench.train on a file-backed set streamed from the decoded cache: the same rows, bit for bit, as the resident
path, the path and the time to the first step in the rows, and a resume that picks up the same order."""

import pytest

from bench import train
from bench.cli import run_main
from bench.loader import make_affectnet
from harness.results_store import ResultsStore


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return make_affectnet(tmp_path_factory.mktemp("affectnet"), 40)


def _run(tmp_path, faces, path, *extra):
    argv = ["--model", "bregnext26", "--data", f"affectnet:{faces}", "--image-size", "16", "--batch-size", "8",
            "--epochs", "2", "--data-path", path, "--cache-dir", str(tmp_path / "cache"), "--results",
            str(tmp_path / f"{path}.jsonl"), "--checkpoint-dir", str(tmp_path / f"ck-{path}"), "--format", "json"]
    return run_main(train.main, argv + list(extra))


def _rows(tmp_path, path):
    return ResultsStore(tmp_path / f"{path}.jsonl").rows("train")


def test_streamed_and_resident_runs_are_one_run(tmp_path, faces, interrupt_in_epoch_2):
    assert _run(tmp_path, faces, "resident") == 0
    interrupt_in_epoch_2.arm()  # the streamed run is killed in epoch 2 and resumed
    assert _run(tmp_path, faces, "stream") == 130
    interrupt_in_epoch_2.disarm()
    assert _run(tmp_path, faces, "stream") == 0
    resident, streamed = _rows(tmp_path, "resident"), _rows(tmp_path, "stream")
    assert [r["run_id"] for r in resident] == [r["run_id"] for r in streamed]  # the path is not part of the config
    assert [r["metrics"]["train_loss"] for r in resident] == [r["metrics"]["train_loss"] for r in streamed]
    assert {r["timings"]["data_path"] for r in resident} == {"resident"}
    assert {r["timings"]["data_path"] for r in streamed} == {"stream"}
    assert resident[0]["timings"]["first_step_s"] > 0 and "first_step_s" not in resident[1]["timings"]
    assert streamed[1]["timings"]["first_step_s"] > 0  # the resumed process's first step was in epoch 2
