"""`python -m bench.flops`: every format parses and holds every requested model; bad input is one line."""

import csv
import io
import json
import subprocess
import sys

import pytest

from bench.flops import main
from harness.results_store import ResultsStore

MODELS = ["bregnext26", "resnet32"]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """The default store is results/flops.jsonl under the working folder: keep it out of the checkout."""
    monkeypatch.chdir(tmp_path)


def run(capsys, *args):
    pytest.importorskip("fvcore", reason="FLOP counting needs fvcore, which is not installed")
    code = main(list(args))
    out = capsys.readouterr().out
    assert code == 0
    return out


def test_csv_parses_and_lists_models(capsys):
    out = run(capsys, "--models", *MODELS, "--input-size", "32", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["model"] for r in rows] == MODELS
    assert int(rows[0]["params"]) == 1_519_008
    assert float(rows[0]["params_published"]) == 1.5e6
    assert int(rows[0]["flops"]) == 2 * int(rows[0]["macs"])


def test_json_parses_with_notes(capsys):
    out = run(capsys, "--models", "resnet*", "--input-size", "32", "--format", "json")
    doc = json.loads(out)
    assert [r["model"] for r in doc["rows"]] == ["resnet32", "resnet50", "resnet110"]  # the glob takes BReG-Net's too
    assert any("30 weighted layers" in n for n in doc["notes"])
    assert any("25M" in n for n in doc["notes"])


def test_markdown_and_latex(capsys):
    md = run(capsys, "--models", "bregnext50", "--depths", "26", "--input-size", "32")
    assert "BReG-NeXt-50" in md and "BReG-NeXt-26" in md and "3.073M" in md and "3.10M" in md
    assert md.count("\n|") >= 4  # header, rule, two rows
    tex = run(capsys, "--models", "bregnext50", "--input-size", "32", "--format", "latex")
    assert r"\toprule" in tex and r"\bottomrule" in tex and "BReG-NeXt-50" in tex
    assert tex.count(r"\\") >= 2


def test_by_stage_csv(capsys):
    out = run(capsys, "--models", "bregnext26", "--input-size", "32", "--by-stage", "--format", "csv")
    stages = [r["stage"] for r in csv.DictReader(io.StringIO(out))]
    assert stages == ["stem", "conv2", "conv3", "conv4", "conv5", "conv6", "head"]


def test_results_store_and_out_file(tmp_path, capsys):
    pytest.importorskip("fvcore", reason="FLOP counting needs fvcore, which is not installed")
    out = tmp_path / "t.md"
    store = tmp_path / "flops.jsonl"
    assert main(["--models", "bregnext26", "--input-size", "16", "--out", str(out), "--results", str(store)]) == 0
    assert "BReG-NeXt-26" in out.read_text()
    rows = ResultsStore(store).rows("flops")
    assert len(rows) == 1 and rows[0]["config"]["model"] == "bregnext26" and rows[0]["env"]["torch"]


def test_default_store_no_duplicates_and_force(tmp_path, monkeypatch, capsys):
    """Rows go to results/flops.jsonl by default; a rerun reuses them (no second row, no recount) and
    --force counts again, its row superseding the first."""
    import bench.flops as flops

    first = run(capsys, "--models", "bregnext26", "--input-size", "16")
    store = ResultsStore(tmp_path / "results" / "flops.jsonl")
    assert len(store.rows("flops")) == 1
    count_flops = flops.count_flops
    monkeypatch.setattr(flops, "count_flops", lambda *a, **k: pytest.fail("a stored model was counted again"))
    assert run(capsys, "--models", "bregnext26", "--input-size", "16") == first
    assert len(store.rows("flops")) == 1
    monkeypatch.setattr(flops, "count_flops", count_flops)  # (undo() would also undo the chdir)
    run(capsys, "--models", "bregnext26", "--input-size", "16", "--force")
    assert len(store.rows("flops")) == 2
    assert run(capsys, "--models", "bregnext26", "--input-size", "16", "--results", "") == first  # no store


@pytest.mark.parametrize("option", ["--results", "--out"])
def test_an_output_path_that_is_a_folder_fails_before_counting(tmp_path, capsys, option):
    from bench.cli import run_main

    assert run_main(main, ["--models", "bregnext26", option, str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a folder" in err[0]


def test_bypass_ablation_changes_only_bypass_cost(capsys):
    base = json.loads(run(capsys, "--models", "bregnext26", "--input-size", "16", "--format", "json"))["rows"][0]
    ident = json.loads(run(capsys, "--models", "bregnext26", "--input-size", "16", "--format", "json",
                           "--bypass", "identity"))["rows"][0]
    assert ident["params"] == base["params"] - 2 * 12  # no alpha, beta in 12 units
    assert ident["macs"] < base["macs"]


@pytest.mark.parametrize("args,needle", [
    (["--models", "nope"], "unknown model"),
    (["--depths", "30"], "impossible BReG-NeXt depth"),
    (["--models", "bregnext26", "--bypass", "tanh"], "unknown bypass"),
])
def test_bad_input_is_one_line_and_nonzero(args, needle, capsys):
    from bench.cli import run_main

    assert run_main(main, args) == 1
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert err.strip().splitlines() == [err.strip()] and err.startswith("bench.flops: error:")


def test_a_read_only_store_serves_its_rows_and_refuses_only_a_new_one(tmp_path, monkeypatch, capsys):
    """A read-only store is an error only where a row must be written; counting shows a line per model."""
    import harness.cli

    store = tmp_path / "flops.jsonl"
    run(capsys, "--models", "bregnext26", "--input-size", "16", "--results", str(store))
    writable = harness.cli.os.access
    monkeypatch.setattr(harness.cli.os, "access", lambda path, mode: writable(path, mode) and not (
        mode & harness.cli.os.W_OK and str(path).startswith(str(tmp_path))))
    assert main(["--models", "bregnext26", "--input-size", "16", "--results", str(store)]) == 0
    captured = capsys.readouterr()
    assert "BReG-NeXt-26" in captured.out and captured.err == ""  # read back: nothing counted, nothing said
    from bench.cli import run_main

    assert run_main(main, ["--models", "bregnext26", "bregnext32", "--input-size", "16", "--results", str(store)]) == 1
    assert capsys.readouterr().err.strip() == f"bench.flops: error: --results {store}: not writable"
    monkeypatch.setattr(harness.cli.os, "access", writable)
    assert main(["--models", "bregnext26", "bregnext32", "--input-size", "16", "--results", str(store)]) == 0
    assert capsys.readouterr().err == "flops: bregnext32 (1/1)\n"  # the one model counted, not the stored one
    assert len(ResultsStore(store).rows("flops")) == 2


def test_unknown_format_is_usage_error():
    proc = subprocess.run([sys.executable, "-m", "bench.flops", "--format", "xml"], capture_output=True, text=True)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_the_default_is_bregnext_tables_1_2_networks():
    from bench.flops import model_names, parse_args

    names = model_names(parse_args([]))
    assert {"resnet32", "bregnext50", "bregnext68"} <= set(names) and not {"bregnet39", "resnet110"} & set(names)
