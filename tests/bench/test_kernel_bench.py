"""The bench.kernel entry point: rows, formats, and one-line errors (CPU: eager only, to stay fast)."""

import csv
import io
import json

import pytest
import torch

from bench import kernel


def test_writes_csv_rows_with_bytes_and_speedups(tmp_path, capsys):
    out = tmp_path / "rows.csv"
    argv = ["--sizes", "d32", "--batch", "1", "--impls", "eager", "--passes", "fwd,bwd", "--repeats", "1",
            "--format", "csv", "--out", str(out)]
    assert kernel.main(argv) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["pass"] for r in rows] == ["fwd", "bwd"]
    x_n, y_n = 32 * 64 * 64, 64 * 32 * 32
    assert int(rows[0]["bytes"]) == (x_n + 2 * y_n) * 4 and int(rows[1]["bytes"]) == (2 * x_n + y_n) * 4
    assert float(rows[0]["speedup_vs_eager"]) == 1.0 and rows[0]["speedup_vs_compile"] == ""
    assert rows[0]["timer"] == "perf_counter" and float(rows[0]["frac_of_copy"]) > 0


def test_json_to_stdout(capsys):
    assert kernel.main(["--sizes", "u128", "--batch", "1", "--impls", "eager", "--passes", "fwd",
                        "--repeats", "1", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["x_shape"] == "1x128x16x16" and rows[0]["impl"] == "eager"


@pytest.mark.parametrize("argv", [["--sizes", "u31"], ["--impls", "cuda"], ["--passes", ""], ["--batch", "0"]])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        kernel.main(argv)
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")
def test_triton_on_cpu_without_interpreter_is_one_line_error(monkeypatch, capsys):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    assert kernel.main(["--impls", "triton", "--sizes", "u32"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


def test_moved_bytes_counts_one_pass_over_memory():
    assert kernel.moved_bytes(10, 5, 2, "fwd") == 40
    assert kernel.moved_bytes(10, 5, 2, "fwdbwd") == 40 + 50


def test_rows_land_in_the_results_store(tmp_path):
    from bench.results import ResultsStore

    store = tmp_path / "k.jsonl"
    assert kernel.main(["--sizes", "u128", "--batch", "1", "--impls", "eager", "--passes", "fwd", "--repeats", "1",
                        "--results", str(store), "--out", str(tmp_path / "rows.csv")]) == 0
    (row,) = ResultsStore(store).rows("kernel")
    assert row["config"]["impl"] == "eager" and row["metrics"]["median_ms"] > 0 and row["env"]["torch"]


def test_markdown_table_through_reports(capsys):
    argv = ["--sizes", "u128", "--batch", "1", "--impls", "eager", "--passes", "fwd", "--repeats", "1"]
    assert kernel.main(argv) == 0
    md = capsys.readouterr().out
    assert "| cpu" in md and "median_ms" in md and "Target (H100" in md
