"""bench.epoch_time on the CPU with tiny epochs; the GPU timing itself skips without CUDA."""

import json

import pytest
import torch

from bench import epoch_time
from bench.cli import run_main
from bench.results import ResultsStore

TINY = ["--models", "bregnext26", "--epoch-size", "24", "--batch-size", "8", "--image-size", "32",
        "--epochs", "2", "--device", "cpu"]


def test_rows_and_skip(tmp_path, capsys):
    store = tmp_path / "epoch_time.jsonl"
    assert run_main(epoch_time.main, TINY + ["--results", str(store)]) == 0
    rows = ResultsStore(store).rows("epoch_time")
    assert [r["config"]["model"] for r in rows] == ["data-only", "bregnext26"]
    model_row = rows[1]
    assert model_row["config"]["bypass_impl"] == "eager" and model_row["config"]["device"] == "cpu"
    assert len(model_row["timings"]["epoch_s_all"]) == 2
    m = model_row["metrics"]
    assert m["images_per_s"] == pytest.approx(24 / m["epoch_s"]) and m["peak_gpu_mem_gib"] is None
    assert "needs --device cuda" in capsys.readouterr().err
    assert run_main(epoch_time.main, TINY + ["--results", str(store), "--format", "json"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["run_id"] for p in printed] == [r["run_id"] for r in rows]  # skipped, read back
    assert len(ResultsStore(store).rows()) == 2


def test_speedup_against_earlier_impls(tmp_path):
    """Rows hold the speed-up over implementations timed before them ('auto' picks eager on the CPU)."""
    store = tmp_path / "e.jsonl"
    args = TINY + ["--results", str(store), "--bypass-impls", "auto,eager", "--no-data-row", "--epochs", "1"]
    assert run_main(epoch_time.main, args) == 0
    rows = ResultsStore(store).rows()
    assert [r["config"]["bypass_impl"] for r in rows] == ["eager", "auto"]
    assert rows[1]["metrics"]["speedup_vs_eager"] == pytest.approx(
        rows[0]["metrics"]["epoch_s"] / rows[1]["metrics"]["epoch_s"])
    assert "speedup_vs_auto" not in rows[0]["metrics"]


def test_time_training_dimensional():
    times, peak = epoch_time.time_training("bregnext26", "cpu", task="dimensional", n=16, batch_size=8, epochs=2,
                                           warmup=0, image_size=24)
    assert len(times) == 2 and all(t > 0 for t in times) and peak is None


def test_triton_skipped_for_non_eq8_bypass(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # lets the sweep get past the GPU check on the CPU
    store = tmp_path / "e.jsonl"
    args = TINY + ["--models", "resnet32", "--bypass-impls", "eager,triton", "--no-data-row", "--epochs", "1",
                   "--epoch-size", "8", "--results", str(store)]
    assert run_main(epoch_time.main, args) == 0
    assert [r["config"]["bypass_impl"] for r in ResultsStore(store).rows()] == ["eager"]
    assert "covers the Eq. 8 bypass only" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--bypass-impls", "triton"], "needs --device cuda"),
    (["--bypass-impls", "fast"], "unknown bypass implementation"),
    (["--models", "resnet7"], "unknown model"),
    (["--epoch-size", "imagenet"], "--epoch-size"),
])
def test_errors(tmp_path, capsys, extra, message):
    if "triton" in extra and torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert run_main(epoch_time.main, TINY + ["--results", str(tmp_path / "e.jsonl"), *extra]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and "Traceback" not in "\n".join(err)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device: times an epoch on the GPU")
def test_gpu_epoch_with_triton(tmp_path):
    store = tmp_path / "e.jsonl"
    args = ["--models", "bregnext50", "--bypass-impls", "eager,triton", "--epoch-size", "2048", "--epochs", "1",
            "--results", str(store)]
    assert run_main(epoch_time.main, args) == 0
    rows = ResultsStore(store).rows()
    assert rows[-1]["metrics"]["peak_gpu_mem_gib"] > 0 and "speedup_vs_eager" in rows[-1]["metrics"]
    assert rows[-1]["config"]["amp"] == "bf16" and rows[-1]["config"]["channels_last"] is True
