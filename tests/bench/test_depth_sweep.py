"""`python -m bench.depth_sweep`: rows per depth, a resumable store, Table 2 mirror and growth fits."""

import json

import pytest

from bench.depth_sweep import main
from harness.results_store import ResultsStore
from reports.depth import growth_fits

TINY = ["--depths", "14,20", "--batch-size", "4", "--steps", "1", "--image-size", "16", "--flops-input-size", "16",
        "--device", "cpu"]


def test_cost_only_sweep_rows_and_fit(tmp_path, capsys):
    pytest.importorskip("fvcore", reason="FLOP counting needs fvcore, which is not installed")
    store = tmp_path / "d.jsonl"
    assert main([*TINY, "--epochs", "0", "--results", str(store), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["depth"] for r in doc["rows"]] == [14, 20]
    rows = ResultsStore(store).rows("depth_sweep")
    assert len(rows) == 2 and all(r["metrics"]["step_s"] > 0 and r["metrics"]["images_per_s"] > 0 for r in rows)
    assert rows[1]["metrics"]["params_trainable"] > rows[0]["metrics"]["params_trainable"]
    # A rerun finds both cells stored and runs nothing.
    assert main([*TINY, "--epochs", "0", "--results", str(store), "--format", "csv"]) == 0
    assert len(ResultsStore(store).rows("depth_sweep")) == 2


def test_growth_fit_is_linear_in_depth():
    from bench.complexity import count_params
    from breg_models import create_model
    from reports.depth import depth_frame

    rows = [{"config": {"model": f"bregnext{d}", "arrangement": "bregnext"},
             "metrics": {"depth": d, "params_trainable": count_params(create_model(f"bregnext{d}"))["params_trainable"],
                         "flops": 0, "step_s": None}} for d in (26, 32, 38)]
    fits = growth_fits(depth_frame(rows))
    params = fits[(fits["quantity"] == "params") & fits["source"].str.startswith("measured")].iloc[0]
    assert params["r2"] == pytest.approx(1.0)  # each depth step adds the same three units
    published = fits[(fits["quantity"] == "params") & (fits["source"] == "published (Table 2)")].iloc[0]
    assert published["r2"] > 0.99 and published["slope_per_layer"] == pytest.approx(params["slope_per_layer"], rel=0.1)


@pytest.mark.slow
def test_sweep_with_training_and_arrangements(tmp_path, capsys):
    pytest.importorskip("fvcore", reason="FLOP counting needs fvcore, which is not installed")
    store = tmp_path / "d.jsonl"
    assert main([*TINY[:1], "14", *TINY[2:], "--epochs", "1", "--synth-train", "32", "--synth-val", "16",
                 "--arrangements", "bregnext,resnet", "--results", str(store)]) == 0
    md = capsys.readouterr().out
    assert "Growth with depth" in md and "resnet-d14" in md
    rows = ResultsStore(store).rows("depth_sweep")
    assert {r["config"]["arrangement"] for r in rows} == {"bregnext", "resnet"}
    assert all(0.0 <= r["metrics"]["val_accuracy"] <= 1.0 for r in rows)


@pytest.mark.parametrize("args,needle", [(["--depths", "30"], "impossible"),
                                         (["--arrangements", "vgg"], "arrangement")])
def test_bad_input(args, needle, tmp_path):
    with pytest.raises(ValueError, match=needle):
        main([*args, "--results", str(tmp_path / "x.jsonl")])


@pytest.mark.parametrize("device,needle", [("cuda:7", "CUDA device"), ("meta", "only cpu and cuda"),
                                           ("cuda:x", "not a device name")])
def test_a_device_this_machine_lacks_fails_once_before_any_cell(device, needle, tmp_path, capsys):
    import torch

    from bench.cli import run_main

    if device == "cuda:7" and torch.cuda.device_count() > 7:
        pytest.skip("this machine has 8 CUDA devices")
    store = tmp_path / "x.jsonl"
    try:
        code = run_main(main, [*TINY[:-2], "--device", device, "--results", str(store)])
    except SystemExit as exc:  # a device in another form: refused by --device's type, as bench.train's
        code = exc.code
    assert code == (1 if device == "cuda:7" else 2)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
    assert not store.exists()  # no cell ran, none was retried


def test_a_missing_data_file_stops_the_sweep_once_in_one_line(tmp_path, capsys):
    """A user error inside a cell (here the data file) would fail every cell alike: no retries, no config dump."""
    from bench.cli import run_main

    store = tmp_path / "x.jsonl"
    argv = [*TINY, "--epochs", "1", "--data", f"fer2013:{tmp_path / 'none.csv'}", "--retries", "2",
            "--results", str(store)]
    assert run_main(main, argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "FER2013 CSV not found" in err[0] and "retrying" not in err[0]
    assert not store.exists()
