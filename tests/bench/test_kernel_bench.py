"""The bench.kernel entry point: rows, formats, and one-line errors (CPU: eager, and compile with dynamo's
eager backend where the per-case compile itself is under test, to stay fast)."""

import csv
import io
import json

import pytest
import torch

import breg_models.ops.bypass_add_op as op_module
from bench import kernel, kernel_timing
from bench.cli import run_main
from harness.results_store import ResultsStore

SMALL = ["--sizes", "u128x16", "--batch", "1", "--passes", "fwd", "--repeats", "1", "--device", "cpu"]
CPU = ["--device", "cpu"]  # these tests check the CPU path, on any machine


def test_writes_csv_rows_with_bytes_and_speedups(tmp_path, capsys):
    out = tmp_path / "rows.csv"
    argv = [*CPU, "--sizes", "d32x64s2", "--batch", "1", "--impls", "eager", "--passes", "fwd,bwd", "--repeats", "1",
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
    assert kernel.main([*CPU, "--sizes", "u128x16", "--batch", "1", "--impls", "eager", "--passes", "fwd",
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
    assert run_main(kernel.main, ["--impls", "triton", "--sizes", "u32x64"]) == 1
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
    assert kernel.shapes("u64x32", 128, 2**24) == ((256, 64, 32, 32), (256, 64, 32, 32), 1)
    assert kernel.shapes("d64x32s2", 128, 2**24) == ((256, 64, 32, 32), (256, 128, 16, 16), 2)
    assert kernel.shapes("u32x64", 7) == ((7, 32, 64, 64), (7, 32, 64, 64), 1)
    assert kernel.shapes("flat24", 7, 2**20)[0] == (4096, 1, 64, 64)  # flat sizes are fixed
    assert kernel.count("2^24") == kernel.count("2**24") == kernel.count("16777216") == 2**24


def test_slow_cases_still_get_several_timed_runs():
    assert kernel_timing.timed_runs(5000.0) == kernel_timing.MIN_TIMED_RUNS  # eager at 2^28: one run under do_bench
    assert kernel_timing.timed_runs(1.0) == 100  # fills ~100 ms
    assert kernel_timing.timed_runs(0.0) == 10_000


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
    assert kernel.main([*CPU, "--sizes", "u128x16", "--batch", "1", "--impls", "eager", "--passes", "fwd", "--repeats",
                        "1", "--results", str(store), "--out", str(tmp_path / "rows.csv")]) == 0
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
    argv = [*CPU, "--sizes", "u128x16", "--batch", "1", "--impls", "eager", "--passes", "fwd", "--repeats", "1"]
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

    def oom_at_d32(impl, inputs, *args):
        if inputs[0][0].shape[1] == 32:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore detail")
        return real(impl, inputs, *args)

    monkeypatch.setattr(kernel, "_time_impl", oom_at_d32)
    store = tmp_path / "k.jsonl"
    argv = [*CPU, "--sizes", "d32x64s2,u128x16", "--batch", "1", "--impls", "eager", "--passes", "fwd", "--repeats",
            "1", "--results", str(store)]
    assert run_main(kernel.main, argv) == 1
    failed, ok = ResultsStore(store).rows("kernel")
    assert failed["config"]["size"] == "d32x64s2" and ok["config"]["size"] == "u128x16"
    assert failed["metrics"]["error"] == "OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
    assert ok["metrics"]["error"] is None and ok["metrics"]["median_ms"] > 0
    err = capsys.readouterr().err.strip().splitlines()
    assert "1 of 2 rows failed (first: d32x64s2 fp32 fwd eager: OutOfMemoryError" in err[-1]


def test_ctrl_c_keeps_finished_cases_and_a_rerun_resumes(tmp_path, monkeypatch, capsys):
    real, calls, interrupts = kernel._time_impl, [], [1]

    def interrupt_second_case(impl, inputs, *args):
        calls.append(tuple(inputs[0][0].shape))
        if len(calls) == 2 and interrupts:
            interrupts.pop()
            raise KeyboardInterrupt
        return real(impl, inputs, *args)

    monkeypatch.setattr(kernel, "_time_impl", interrupt_second_case)
    store = tmp_path / "k.jsonl"
    argv = [*CPU, "--sizes", "u128x16,u64x32", "--batch", "1", "--impls", "eager", "--passes", "fwd", "--repeats", "1",
            "--results", str(store), "--format", "csv"]
    assert run_main(kernel.main, argv) == 130
    err = capsys.readouterr().err.strip()
    assert err.startswith("interrupted") and "\n" not in err
    assert [r["config"]["size"] for r in ResultsStore(store).rows("kernel")] == ["u128x16"]
    calls.clear()
    assert run_main(kernel.main, argv) == 0
    assert calls == [(1, 64, 32, 32)]  # u128 read back, only u64 timed
    assert "1 cases read back" in capsys.readouterr().err
    assert [r["config"]["size"] for r in ResultsStore(store).rows("kernel")] == ["u128x16", "u64x32"]
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


# ---- sizes: the networks' unit shapes ------------------------------------------------------------------------


def test_sizes_are_the_networks_unit_shapes_and_the_old_names_still_work(tmp_path):
    from breg_models.unit_shapes import shapes_by_label

    units = shapes_by_label()
    assert set(kernel.UNITS) == set(units)
    for label, unit in units.items():
        assert kernel.shapes(label, 128) == (unit.x_shape, unit.out_shape, unit.stride)
    assert kernel.size_names("u32,d64,flat24,d64x32s2") == ["u32x64", "d64x32s2", "flat24", "d64x32s2"]
    store = tmp_path / "k.jsonl"
    assert kernel.main([*CPU, "--sizes", "d64", "--batch", "1", "--impls", "eager", "--passes", "fwd", "--repeats", "1",
                        "--results", str(store), "--out", str(tmp_path / "rows.csv")]) == 0
    (row,) = ResultsStore(store).rows("kernel")
    assert row["config"]["size"] == "d64x32s2" and row["config"]["out_shape"] == "1x128x16x16"


# ---- the GPU timer's procedure, on a clock that stands in for CUDA ---------------------------------------------


class ScriptedClock(kernel_timing.WallClock):
    """A GPU that takes 1 ms per call behind a host that takes 3 ms per eager call: graph replay must report the
    1 ms, and the host column the 2 ms the GPU time does not cover."""

    name, replay = "scripted", "scripted replay"

    def __init__(self, capture_error=None):
        super().__init__(capture_error)
        self.calls, self.captures = [], 0

    def _count(self, fn, per_call):
        before = len(self.calls)
        fn()
        return per_call * (len(self.calls) - before)

    def elapsed_ms(self, fn, n):
        return [self._count(fn, 1.0) for _ in range(n)]

    def wall_ms(self, fn):
        return self._count(fn, 3.0)

    def capture(self, fn):
        self.captures += 1
        return super().capture(fn)


def test_graph_timer_reports_gpu_time_per_call_and_host_overhead_apart():
    clock = ScriptedClock()
    fns = [lambda i=i: clock.calls.append(i) for i in range(3)]  # three copies of the inputs
    timing = kernel_timing.GraphTimer(clock, target_ms=100, graph_ms=10, min_replays=4)(fns)
    # one call estimated at 1 ms: 10 ms a replay is 10 calls, rounded up to whole rounds of 3 copies
    assert clock.captures == 1 and timing.method.startswith("scripted replay of 12 calls, 3 input copies")
    assert timing.ms == 1.0 and timing.call_ms == 3.0 and timing.host_overhead_ms == 2.0
    assert timing.runs == 8 * 12  # 8 replays fill the 100 ms target
    assert clock.calls[-12:] == [0, 1, 2] * 4  # each replay cycles through every copy, each as often


def test_a_capture_that_fails_times_the_same_calls_eagerly_and_says_why():
    clock = ScriptedClock(capture_error=RuntimeError("operation not permitted when stream is capturing\ndetail"))
    timing = kernel_timing.GraphTimer(clock, target_ms=10, graph_ms=2, min_replays=2)([lambda: clock.calls.append(0)])
    assert timing.method.startswith("events around 2 eager calls (graph capture failed: RuntimeError: operation "
                                    "not permitted when stream is capturing)")
    assert timing.ms == 1.0 and timing.call_ms == 3.0


def test_host_overhead_is_never_negative_and_absent_on_the_cpu():
    assert kernel_timing.Timing(2.0, 10, "x", call_ms=1.5).host_overhead_ms == 0.0
    assert kernel_timing.Timing(2.0, 10, "x").host_overhead_ms is None
    timing = kernel_timing.CpuTimer(3)([lambda: None])
    assert timing.runs == 3 and timing.call_ms is None and timing.method == "perf_counter"


def test_input_copies_exceed_the_cache_and_graphs_hold_whole_rounds():
    assert kernel_timing.input_copies(2**20) == kernel_timing.MAX_COPIES  # 256 copies would be needed: capped
    assert kernel_timing.input_copies(6 * 2**20) == 43 and kernel_timing.input_copies(2**30) == 1
    for estimate, copies in ((0.0001, 43), (0.003, 7), (5.0, 1), (5.0, 4)):
        k = kernel_timing.calls_per_graph(estimate, copies)
        assert k % copies == 0 and k >= copies
        assert k * estimate >= min(kernel_timing.GRAPH_MS, kernel_timing.MAX_CALLS * estimate) - 1e-9
    assert kernel_timing.calls_per_graph(100.0, 1) == 1


def test_the_backward_pass_builds_its_forward_on_the_timers_stream():
    """Autograd runs a backward on its forward's stream, and capture happens on the timer's: bench_case must make
    the kept forward inside the timer's context."""
    entered = []

    class Timer(kernel_timing.CpuTimer):
        def context(self):
            import contextlib

            @contextlib.contextmanager
            def ctx():
                entered.append(True)
                yield
                entered.pop()
            return ctx()

    def op(x, r, a, b, stride):
        assert entered, "op called outside the timer's context"
        return x * a + r * b

    inputs = kernel._inputs((1, 2, 2, 2), (1, 2, 2, 2), torch.float32, torch.device("cpu"), copies=2)
    for pass_ in kernel.PASSES:
        assert kernel.bench_case(op, inputs, 1, pass_, Timer(1)).ms >= 0


def test_timer_graph_on_the_cpu_fills_the_host_columns(tmp_path):
    store = tmp_path / "k.jsonl"
    assert kernel.main([*SMALL, "--impls", "eager,eager_safe", "--passes", "fwd,bwd", "--timer", "graph",
                        "--results", str(store), "--out", str(tmp_path / "rows.csv")]) == 0
    rows = ResultsStore(store).rows("kernel")
    assert len(rows) == 4 and all(r["config"]["timer"] == "graph" for r in rows)
    for r in rows:
        m = r["metrics"]
        assert m["timer"].startswith("stand-in replay") and m["median_ms"] > 0 and m["call_ms"] > 0
        assert m["host_overhead_ms"] == max(m["call_ms"] - m["median_ms"], 0.0) and m["error"] is None
    # the default CPU timer leaves the host columns empty, and its rows are not read back as graph-timed ones
    assert kernel.main([*SMALL, "--impls", "eager", "--results", str(store), "--out", str(tmp_path / "r.csv")]) == 0
    default = ResultsStore(store).rows("kernel")[-1]
    assert "timer" not in default["config"] and default["metrics"]["call_ms"] is None


class _FakeCuda:
    """Just enough of torch.cuda to run `CudaClock` on the CPU: records what it is asked to do."""

    def __init__(self):
        self.log, self.now = [], 0.0
        fake = self

        class Stream:
            def __init__(self, device=None):
                self.name = "side"

            def wait_stream(self, other):
                fake.log.append(("wait", self.name, other.name))

        class Event:
            def __init__(self, enable_timing=False):
                assert enable_timing
                self.t = None

            def record(self):
                self.t = fake.now

            def elapsed_time(self, end):
                return end.t - self.t

        class CUDAGraph:
            def replay(self):
                fake.log.append("replay")

        import contextlib

        @contextlib.contextmanager
        def graph(cuda_graph, pool=None, stream=None, capture_error_mode="global"):
            fake.log.append(("capture", stream.name))
            yield

        @contextlib.contextmanager
        def stream(s):
            fake.log.append(("stream", s.name))
            yield

        default = Stream()
        default.name = "default"
        self.attrs = {"Stream": Stream, "Event": Event, "CUDAGraph": CUDAGraph, "graph": graph, "stream": stream,
                      "current_stream": lambda device=None: default,
                      "synchronize": lambda device=None: fake.log.append("sync")}


def test_cuda_clock_captures_on_its_side_stream_and_times_with_events(monkeypatch):
    fake = _FakeCuda()
    for name, value in fake.attrs.items():
        monkeypatch.setattr(torch.cuda, name, value)
    clock = kernel_timing.CudaClock(torch.device("cuda"))

    def gpu_work():
        fake.now += 5.0

    with clock.context():
        replay = clock.capture(gpu_work)
        assert fake.log[:3] == [("wait", "side", "default"), ("stream", "side"), ("capture", "side")]
        replay()
        assert fake.log[-1] == "replay"
        fake.log.clear()
        assert clock.elapsed_ms(gpu_work, 4) == [5.0] * 4 and fake.log == ["sync"]  # one sync for all four
    assert fake.log[-1] == ("wait", "default", "side")  # the default stream waits for the case's work
