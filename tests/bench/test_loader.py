"""`python -m bench.loader` on a few generated faces: the AffectNet-layout folder it writes loads, each measure runs
in a fresh process and becomes a row, a rerun takes the rows from the store, and the trainer command is the one
the issue names."""

import sys
from pathlib import Path

import pytest

from bench import loader
from bench.cli import run_main
from bench.data import load_dataset
from harness.results_store import ResultsStore
from reports.loader import render_loader

pytest.importorskip("PIL.Image", reason="Pillow writes the generated faces")


def test_generated_folder_has_affectnets_layout(tmp_path):
    root = loader.make_affectnet(tmp_path / "faces", 12)
    assert (root / "Manually_Annotated_Images" / "0" / "11.jpg").is_file()
    ds = load_dataset(f"affectnet:{root}", "train", size=loader.FACE_SIZE, cache_dir=tmp_path / "cache")
    assert len(ds) == 12 and ds.labels.tolist() == [k % 8 for k in range(12)]
    assert 40 < ds.images[:].float().std() < 120  # a face-like spread of values, not a flat image
    assert len(load_dataset(f"affectnet:{root}", "val", size=8, cache_dir=tmp_path / "cache")) == 1
    assert loader.make_affectnet(tmp_path / "faces", 12) == root  # reused, not rewritten


def test_measures_rows_and_resume(tmp_path, capsys, monkeypatch):
    store = tmp_path / "loader.jsonl"
    argv = ["--faces", "16", "--sizes", "8", "--batch-size", "4", "--folder", str(tmp_path / "faces"),
            "--results", str(store), "--format", "json"]
    assert run_main(loader.main, argv) == 0
    rows = ResultsStore(store).rows("loader")
    by = {r["config"]["measure"]: r["metrics"] for r in rows}
    assert sorted(by) == ["decode", "epoch", "open"]
    assert by["decode"]["decoded_images"] == 16 and by["open"]["decoded_images"] == 0  # the second run decodes nothing
    assert by["epoch"]["images_per_s"] > 0 and all(m["peak_rss_mb"] >= m["rss_before_mb"] > 0 for m in by.values())
    assert by["epoch"]["data_mb"] == pytest.approx(16 * 3 * 8 * 8 / 1e6)
    assert '"measure": "epoch"' in capsys.readouterr().out
    monkeypatch.setattr(loader, "measure", lambda opts: pytest.fail("a stored measure ran again"))
    assert run_main(loader.main, argv) == 0 and len(ResultsStore(store).rows("loader")) == 3
    assert "| decode" in render_loader(rows) and "peak_rss_mb" in render_loader(rows)


def test_run_child_reports_its_own_peak_not_ours(tmp_path):
    code, out, _, peak = loader.run_child([sys.executable, "-c", "b = bytearray(300 * 2**20); print('ok')"])
    assert code == 0 and out.strip() == "ok" and 300 < peak < 450


def test_train_command_streams_from_the_cache(tmp_path):
    argv = loader.train_command(Path("/data/faces"), 224, Path("/c"), Path("/r.jsonl"), Path("/k"), 100)
    assert argv[1:] == ["-m", "bench.train", "--data", "affectnet:/data/faces", "--image-size", "224", "--model",
                        "tv_alexnet_tuned", "--epochs", "1", "--batch-size", "32", "--max-steps", "100",
                        "--data-path", "stream", "--cache-dir",
                        "/c", "--results", "/r.jsonl", "--checkpoint-dir", "/k", "--format", "json"]
