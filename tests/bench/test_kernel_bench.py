"""The bench.kernel entry point: rows, formats, and one-line errors (CPU: eager, and compile with dynamo's
eager backend where the per-case compile itself is under test, to stay fast)."""

import csv
import io
import json

import pytest
import torch

import breg_models.ops.bypass_add_op as op_module
from bench import kernel
from bench.cli import run_main
from harness.results_store import ResultsStore

SMALL = ["--sizes", "u128", "--batch", "1", "--passes", "fwd", "--repeats", "1"]


def test_writes_csv_rows_with_bytes_and_speedups(tmp_path, capsys):
    out = tmp_path / "rows.csv"
    argv = ["--sizes", "d32", "--batch", "1", "--impls", "eager", "--passes", "fwd,bwd", "--repeats", "1",
            "--format", "csv", "--out", str(out)]
    assert kernel.main(argv) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["pass"] for r in rows] == ["fwd", "bwd"]
    x_n, y_n = 32 * 64 * 64, 64 * 32 * 32
    # the backward reads the 32 of dy's 64 channels that face x, not the zero-padded ones
    assert int(rows[0]["bytes"]) == (x_n + 2 * y_n) * 4 and int(rows[1]["bytes"]) == (2 * x_n + y_n // 2) * 4
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


@pytest.mark.parametrize("argv", [["--numel", "0"], ["--numel", "2^x"], ["--batch", "2", "--numel", "2^20"]])
def test_bad_numel_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        kernel.main(argv)
    assert exc.value.code == 2 and "Traceback" not in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")
def test_triton_on_cpu_without_interpreter_is_one_line_error(monkeypatch, capsys):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    assert run_main(kernel.main, ["--impls", "triton", "--sizes", "u32"]) == 1
    err = capsys.readouterr().err.strip()
    assert "error: --impls triton needs a CUDA device" in err and "\n" not in err


def test_moved_bytes_counts_one_pass_over_memory():
    same = (1, 2, 1, 5)  # x and y of 10 elements, 2 channels
    assert kernel.moved_bytes(same, same, 2, "fwd") == (10 + 2 * 10) * 2
    assert kernel.moved_bytes(same, same, 2, "bwd") == (2 * 10 + 10) * 2
    # down-sampling 32 -> 64 channels: dy has 64 channels, 32 of them face x and are read
    x, y = (2, 32, 8, 8), (2, 64, 4, 4)
    assert kernel.moved_bytes(x, y, 4, "bwd") == (2 * 4096 + 1024) * 4
    assert kernel.moved_bytes(x, y, 4, "fwdbwd") == (4096 + 2 * 2048) * 4 + (2 * 4096 + 1024) * 4


def test_unit_shapes_at_a_given_element_count():
    assert kernel.shapes("u64", 128, 2**24) == ((256, 64, 32, 32), (256, 64, 32, 32), 1)
    assert kernel.shapes("d64", 128, 2**24) == ((256, 64, 32, 32), (256, 128, 16, 16), 2)
    assert kernel.shapes("u32", 7) == ((7, 32, 64, 64), (7, 32, 64, 64), 1)
    assert kernel.shapes("flat24", 7, 2**20)[0] == (4096, 1, 64, 64)  # flat sizes are fixed
    assert kernel.count("2^24") == kernel.count("2**24") == kernel.count("16777216") == 2**24


def test_slow_cases_still_get_several_timed_runs():
    assert kernel.timed_runs(5000.0) == kernel.MIN_TIMED_RUNS  # eager at 2^28: one run under do_bench
    assert kernel.timed_runs(1.0) == 100  # fills ~100 ms
    assert kernel.timed_runs(0.0) == 10_000


def test_cuda_defaults_are_three_dtypes_and_2_24_elements(monkeypatch, capsys):
    """On a GPU (faked: the sweep itself is replaced) the default sweep covers fp32/bf16/fp16 and flat24."""
    seen = {}

    def fake_run(sizes, impls, passes, dtypes, device, batch, repeats, **kw):
        seen.update(sizes=sizes, impls=impls, dtypes=dtypes, device=device.type, batch=batch)
        return iter(())

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(kernel, "run", fake_run)
    assert kernel.main(["--format", "csv", "--results", ""]) == 0
    assert seen["dtypes"] == ["fp32", "bf16", "fp16"] and "flat24" in seen["sizes"] and seen["device"] == "cuda"
    assert seen["impls"] == ["eager", "compile", "triton"] and seen["batch"] == 128


def test_rows_land_in_the_results_store(tmp_path):
    from harness.results_store import ResultsStore

    store = tmp_path / "k.jsonl"
    assert kernel.main(["--sizes", "u128", "--batch", "1", "--impls", "eager", "--passes", "fwd", "--repeats", "1",
                        "--results", str(store), "--out", str(tmp_path / "rows.csv")]) == 0
    (row,) = ResultsStore(store).rows("kernel")
    assert row["config"]["impl"] == "eager" and row["metrics"]["median_ms"] > 0 and row["env"]["torch"]


def test_eager_is_the_authors_form_and_eager_safe_the_definition(tmp_path):
    assert kernel.op_of("eager") is op_module.authors_eq8_shortcut
    assert kernel.op_of("eager_safe") is op_module.eager_eq8_shortcut
    store = tmp_path / "k.jsonl"
    assert kernel.main([*SMALL, "--impls", "eager,eager_safe", "--results", str(store), "--out",
                        str(tmp_path / "rows.csv")]) == 0
    rows = ResultsStore(store).rows("kernel")
    assert [r["config"]["impl"] for r in rows] == ["eager", "eager_safe"]
    assert all(r["metrics"]["median_ms"] > 0 for r in rows)


def test_markdown_table_through_reports(capsys):
    argv = ["--sizes", "u128", "--batch", "1", "--impls", "eager", "--passes", "fwd", "--repeats", "1"]
    assert kernel.main(argv) == 0
    md = capsys.readouterr().out
    assert "| cpu" in md and "median_ms" in md and "Target (H100" in md


def test_compile_is_fresh_per_case_and_never_recompiles(tmp_path, monkeypatch):
    """Two dtypes x two passes of one shape: with recompiles made errors, each case must get its own compile
    (one process-wide compiled function would recompile at the second case)."""
    monkeypatch.setattr(kernel, "COMPILE_BACKEND", "eager")
    store = tmp_path / "k.jsonl"
    argv = [*SMALL, "--impls", "eager,compile", "--dtypes", "fp32,bf16", "--passes", "fwd,bwd", "--results", str(store),
            "--format", "json", "--out", str(tmp_path / "rows.json")]
    assert kernel.main(argv) == 0
    rows = ResultsStore(store).rows("kernel")
    compiled = [r for r in rows if r["config"]["impl"] == "compile"]
    assert len(compiled) == 4 and all(r["metrics"]["error"] is None and r["metrics"]["median_ms"] > 0 for r in compiled)
    assert all(r["metrics"]["speedup_vs_compile"] is not None for r in rows)


def _graph_break(x, r, a, b, stride):
    torch._dynamo.graph_break()
    return r + x


_calls = [0]


def _recompiles(x, r, a, b, stride):
    _calls[0] += 1  # dynamo guards on this value, so every call needs a new graph
    return r + x * _calls[0]


def _no_graph(x, r, a, b, stride):
    return r


@pytest.mark.parametrize("fn, message", [(_graph_break, "Unsupported"), (_recompiles, "RecompileError"),
                                         (_no_graph, "CompileFallback: torch.compile built 1 graphs of 0 calls")])
def test_compile_that_falls_back_is_an_error_row_not_an_eager_timing(fn, message, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(kernel, "COMPILE_BACKEND", "eager")
    monkeypatch.setattr(op_module, "authors_eq8_shortcut", fn)
    store = tmp_path / "k.jsonl"
    assert run_main(kernel.main, [*SMALL, "--impls", "eager,compile", "--results", str(store), "--format", "csv"]) == 1
    eager, compiled = ResultsStore(store).rows("kernel")
    assert compiled["metrics"]["error"].startswith(message) and compiled["metrics"]["median_ms"] is None
    assert eager["metrics"]["median_ms"] > 0 and eager["metrics"]["speedup_vs_compile"] is None
    out, err = capsys.readouterr()
    assert "compile" in out and message.split(":")[0] in out  # the CSV still has both rows
    assert "1 of 2 rows failed" in err.strip().splitlines()[-1]


@pytest.mark.slow
def test_inductor_compile_of_the_backward(tmp_path):
    """The real per-case compile (inductor) of the backward timed alone (graph retained, no donated buffers)."""
    store = tmp_path / "k.jsonl"
    assert kernel.main([*SMALL, "--impls", "compile", "--passes", "bwd", "--results", str(store), "--format",
                        "csv", "--out", str(tmp_path / "rows.csv")]) == 0
    (row,) = ResultsStore(store).rows("kernel")
    assert row["metrics"]["error"] is None and row["metrics"]["median_ms"] > 0


def test_failed_case_is_stored_and_the_others_go_on(tmp_path, monkeypatch, capsys):
    real = kernel._time_impl

    def oom_at_d32(impl, x, *args):
        if x.shape[1] == 32:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore detail")
        return real(impl, x, *args)

    monkeypatch.setattr(kernel, "_time_impl", oom_at_d32)
    store = tmp_path / "k.jsonl"
    argv = ["--sizes", "d32,u128", "--batch", "1", "--impls", "eager", "--passes", "fwd", "--repeats", "1",
            "--results", str(store)]
    assert run_main(kernel.main, argv) == 1
    failed, ok = ResultsStore(store).rows("kernel")
    assert failed["config"]["size"] == "d32" and ok["config"]["size"] == "u128"
    assert failed["metrics"]["error"] == "OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
    assert ok["metrics"]["error"] is None and ok["metrics"]["median_ms"] > 0
    err = capsys.readouterr().err.strip().splitlines()
    assert "1 of 2 rows failed (first: d32 fp32 fwd eager: OutOfMemoryError" in err[-1]


def test_ctrl_c_keeps_finished_cases_and_a_rerun_resumes(tmp_path, monkeypatch, capsys):
    real, calls, interrupts = kernel._time_impl, [], [1]

    def interrupt_second_case(impl, x, *args):
        calls.append(tuple(x.shape))
        if len(calls) == 2 and interrupts:
            interrupts.pop()
            raise KeyboardInterrupt
        return real(impl, x, *args)

    monkeypatch.setattr(kernel, "_time_impl", interrupt_second_case)
    store = tmp_path / "k.jsonl"
    argv = ["--sizes", "u128,u64", "--batch", "1", "--impls", "eager", "--passes", "fwd", "--repeats", "1",
            "--results", str(store), "--format", "csv"]
    assert run_main(kernel.main, argv) == 130
    err = capsys.readouterr().err.strip()
    assert err.startswith("interrupted") and "\n" not in err
    assert [r["config"]["size"] for r in ResultsStore(store).rows("kernel")] == ["u128"]
    calls.clear()
    assert run_main(kernel.main, argv) == 0
    assert calls == [(1, 64, 32, 32)]  # u128 read back, only u64 timed
    assert "1 cases read back" in capsys.readouterr().err
    assert [r["config"]["size"] for r in ResultsStore(store).rows("kernel")] == ["u128", "u64"]
    calls.clear()
    assert run_main(kernel.main, [*argv, "--force"]) == 0 and len(calls) == 2


@pytest.mark.parametrize("option, make, message", [
    ("--out", lambda p: p.mkdir(parents=True), "is a folder, not a file"),
    ("--results", lambda p: p.mkdir(parents=True), "is a folder, not a file"),
    ("--out", lambda p: p.parent.write_text("x"), "is a file, not a folder"),
    ("--results", lambda p: p.parent.write_text("x"), "is a file, not a folder"),
])
def test_unusable_paths_fail_before_any_work(option, make, message, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(kernel, "_time_impl", lambda *a: pytest.fail("timed a case before checking the paths"))
    target = tmp_path / "sub" / "rows.csv"
    if "file" in message:
        target = tmp_path / "file" / "rows.csv"
    make(target)
    argv = [*SMALL, "--impls", "eager", option, str(target)]
    if option == "--out":
        argv += ["--results", str(tmp_path / "k.jsonl")]
    assert run_main(kernel.main, argv) == 1
    err = capsys.readouterr().err.strip()
    assert f"error: {option} {target}: " in err and message in err and "\n" not in err


def test_missing_parent_folders_are_made(tmp_path):
    out, store = tmp_path / "a" / "b" / "rows.csv", tmp_path / "c" / "k.jsonl"
    assert kernel.main([*SMALL, "--impls", "eager", "--out", str(out), "--results", str(store), "--format", "csv"]) == 0
    assert out.read_text().startswith("size,") and len(ResultsStore(store).rows()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")
def test_a_numbered_gpu_is_a_device_and_one_line_where_absent(capsys):
    assert run_main(kernel.main, ["--device", "cuda:1", "--results", ""]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("error: --device cuda:1: no CUDA device on this machine (use --device cpu)") and "\n" not in err
