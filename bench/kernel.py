"""Benchmark of the fused shortcut y = P(H(x)) + F: eager PyTorch vs torch.compile vs the Triton kernels.

    python -m bench.kernel                                   # defaults for the machine it runs on
    python -m bench.kernel --sizes flat24,u32,d32 --numel 2^24 --passes fwdbwd --format csv --out kernel.csv

A case is one (shape, dtype, pass); per case and implementation it writes one row: median time, achieved
GB/s from the bytes the pass must move (forward: read x and F, write y; backward: read x and the C_in
channels of dy that face x, write dx -- the zero-padded channels of a widening unit get no gradient, and dF
is dy itself), that as a fraction of the copy bandwidth measured in the same run (a ``torch.clone`` of the
same bytes), and the speed-ups over eager and over compile.

- 'eager' is Eq. 8 as the authors' code and a user write it (`authors_eq8_shortcut`), what a speed-up must be
  over; 'eager_safe' (asked for by name) is the float64-safe definition, a ~40-op series under torch.where.
- 'compile' is a fresh ``torch.compile(fullgraph=True, dynamic=False)`` of the eager op per case, after
  ``torch._dynamo.reset()``, timed with recompiles made errors: a case that graph-breaks, recompiles or
  builds no graph gets an error in its row instead of an eager timing under the name 'compile'.
- Each case's rows go to the results store (``--results``) when the case finishes; a case that fails (out
  of memory, a compile error) is stored with a one-line ``error`` and the sweep goes on; Ctrl-C keeps the
  finished cases, and a rerun skips them unless ``--force``. Any failed case makes the exit status 1.
- Timer on CUDA: CUDA events around each run, the L2 cache flushed (a 256 MB write) before each, warm-up
  excluded, median of at least 10 timed runs: the run time is estimated first, then the count set to fill
  ~100 ms, never below 10 (``triton.testing.do_bench`` gives a 100 ms+ case a single run). On the CPU:
  ``time.perf_counter``, ``--repeats`` runs; Triton rows are left out there, since interpreted kernels time
  numpy, not the kernel. Rows only: ``reports/`` makes the tables.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from harness.cli import (
    DEVICES,
    UsageError,
    check_device_here,
    check_output_path,
    choice_list,
    device_name,
    examples,
    open_store,
    write_output,
)
from harness.results_store import ResultsStore, format_flat, make_row
from reports.kernel import render_kernel

from .cli import add_output_args, run_main

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
IMPLS = ("eager", "compile", "triton", "eager_safe")
PASSES = ("fwd", "bwd", "fwdbwd")
# name: (C_in, H=W, C_out, stride) of the real BReG-NeXt units (64x64 input), at --batch
UNITS = {"u32": (32, 64, 32, 1), "u64": (64, 32, 64, 1), "u128": (128, 16, 128, 1),
         "d32": (32, 64, 64, 2), "d64": (64, 32, 128, 2)}
FLAT = {f"flat{k}": k for k in range(20, 29)}  # 2^k elements as (2^k / 4096, 1, 64, 64), stride 1
COMMAND = "kernel"
CONFIG_KEYS = ("size", "x_shape", "out_shape", "stride", "dtype", "pass", "impl", "device", "device_name")
FIELDS = [*CONFIG_KEYS[:7], "timer", "timed_runs", "median_ms", "bytes", "gbps", "copy_gbps", "frac_of_copy",
          "speedup_vs_eager", "speedup_vs_compile", "error", "device", "device_name", "torch", "triton"]
MIN_TIMED_RUNS = 10  # per case on CUDA, however slow the case
TARGET_TIMED_MS = 100.0  # faster cases run more often, to fill about this much time
L2_FLUSH_BYTES = 256 * 2**20  # more than any GPU's L2 (H100: 50 MB)
COMPILE_BACKEND = "inductor"  # tests swap in "eager" to check the per-case compile without inductor's cost


def shapes(size: str, batch: int, numel: int | None = None) -> tuple[tuple, tuple, int]:
    """x shape, output shape and stride of a size; ``numel`` sets a unit's batch so x holds that many."""
    if size in FLAT:
        shape = (2 ** FLAT[size] // 4096, 1, 64, 64)
        return shape, shape, 1
    cin, hw, cout, stride = UNITS[size]
    if numel is not None:
        batch = max(1, round(numel / (cin * hw * hw)))
    return (batch, cin, hw, hw), (batch, cout, -(-hw // stride), -(-hw // stride)), stride


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def moved_bytes(x_shape, y_shape, itemsize: int, pass_: str) -> int:
    """Bytes a pass must move at least. The backward reads only the C_in channels of dy facing x (the
    padded ones carry no gradient to x), so a widening unit's dy counts C_in / C_out of its elements."""
    x_n, y_n = _numel(x_shape), _numel(y_shape)
    dy_read = y_n // y_shape[1] * min(x_shape[1], y_shape[1])
    fwd = (x_n + 2 * y_n) * itemsize
    bwd = (2 * x_n + dy_read) * itemsize
    return {"fwd": fwd, "bwd": bwd, "fwdbwd": fwd + bwd}[pass_]


def timed_runs(estimate_ms: float, minimum: int = MIN_TIMED_RUNS, target_ms: float = TARGET_TIMED_MS) -> int:
    """How many timed runs a case of about ``estimate_ms`` gets: enough to fill ``target_ms``, at least
    ``minimum`` (so a slow case still has a median of several runs), at most 10,000."""
    return max(minimum, min(10_000, int(target_ms / max(estimate_ms, 1e-6))))


def _cuda_timer(device: torch.device):
    flush = torch.empty(L2_FLUSH_BYTES, dtype=torch.uint8, device=device)

    def median_ms(fn) -> tuple[float, int]:
        fn()  # first call: compilation, autotuning, allocations
        torch.cuda.synchronize(device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(3):
            flush.zero_()
            fn()
        end.record()
        torch.cuda.synchronize(device)
        n = timed_runs(start.elapsed_time(end) / 3)
        for _ in range(max(1, n // 4)):  # warm-up, excluded
            fn()
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(n)]
        for begin, stop in events:
            flush.zero_()
            begin.record()
            fn()
            stop.record()
        torch.cuda.synchronize(device)
        return statistics.median(b.elapsed_time(s) for b, s in events), n

    return median_ms


def _cpu_timer(repeats: int):
    def median_ms(fn) -> tuple[float, int]:
        fn()  # warm-up (and compilation), excluded
        fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times), repeats

    return median_ms


def bench_case(op, x, r, a, b, dy, stride, pass_, timer) -> tuple[float, int]:
    """``timer`` applied to one pass of ``op``: forward without grad, backward through a kept graph, or both
    (the benchmark suite times the same cases through pytest-benchmark)."""
    if pass_ == "fwd":
        def fwd():
            with torch.no_grad():
                op(x, r, a, b, stride)
        return timer(fwd)
    inputs = (x, r, a, b)
    if pass_ == "bwd":
        y = op(x, r, a, b, stride)
        return timer(lambda: torch.autograd.grad(y, inputs, dy, retain_graph=True))
    return timer(lambda: torch.autograd.grad(op(x, r, a, b, stride), inputs, dy))


class CompileFallback(RuntimeError):
    """torch.compile did not run this case as exactly one compiled graph."""


def _dynamo_stats() -> tuple[int, int]:
    """(graphs dynamo built, torch calls captured into them) so far in this process."""
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"], counters["stats"]["calls_captured"]


def _time_compiled(x, r, a, b, dy, stride, pass_, timer) -> tuple[float, int]:
    """A fresh full-graph, static-shape compile of the eager op for this case alone. Dynamo's counters are
    process-wide and survive ``reset``, so the check is on their change: one graph holding the op's calls
    (an empty graph runs nothing compiled), and no recompile (made an error while timing)."""
    import torch._dynamo

    op = op_of("compile")
    graphs, calls = _dynamo_stats()
    with torch._dynamo.config.patch(error_on_recompile=True):
        result = bench_case(op, x, r, a, b, dy, stride, pass_, timer)
    graphs, calls = (now - before for now, before in zip(_dynamo_stats(), (graphs, calls), strict=True))
    if graphs != 1 or calls == 0:
        raise CompileFallback(f"torch.compile built {graphs} graphs of {calls} calls for this case, not one graph "
                              "of the op (it ran eager code)")
    return result


def op_of(impl: str):
    """The function an implementation runs; 'compile' is a fresh full-graph, static-shape compile of the eager
    op (dynamo reset first), so that no earlier case's graphs or recompile budget carry over."""
    import torch._dynamo

    from breg_models.ops.bypass_add_op import authors_eq8_shortcut, bypass_add, eager_eq8_shortcut

    if impl == "compile":
        torch._dynamo.reset()
        return torch.compile(authors_eq8_shortcut, fullgraph=True, dynamic=False, backend=COMPILE_BACKEND)
    return {"eager": authors_eq8_shortcut, "eager_safe": eager_eq8_shortcut, "triton": bypass_add}[impl]


def _time_impl(impl, x, r, a, b, dy, stride, pass_, timer) -> tuple[float, int]:
    if impl == "compile":
        return _time_compiled(x, r, a, b, dy, stride, pass_, timer)
    return bench_case(op_of(impl), x, r, a, b, dy, stride, pass_, timer)


def describe(exc: BaseException) -> str:
    """'Type: first line of the message', for a row's error field."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _inputs(xs, ys, dtype, device):
    g = torch.Generator(device="cpu").manual_seed(0)
    x = (torch.randn(xs, generator=g) * 2).to(device, dtype).requires_grad_()
    r = torch.randn(ys, generator=g).to(device, dtype).requires_grad_()
    dy = torch.randn(ys, generator=g).to(device, dtype)
    a = torch.tensor(1.0, device=device, requires_grad=True)
    b = torch.tensor(1.0, device=device, requires_grad=True)
    return x, r, a, b, dy


def _free(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def run(sizes, impls, passes, dtypes, device: torch.device, batch: int, repeats: int, *, numel: int | None = None,
        store: ResultsStore | None = None, force: bool = False):
    """Yield each case's rows (harness schema) as it finishes, after appending them to ``store``, with whether
    they were read back: a case whose rows are all in the store without an error is not rerun, unless
    ``force``."""
    import triton

    gpu = device.type == "cuda"
    timer = _cuda_timer(device) if gpu else _cpu_timer(repeats)
    name = torch.cuda.get_device_name(device) if gpu else "cpu"
    label = f"cuda-events, L2 flushed, median of >= {MIN_TIMED_RUNS} runs" if gpu else "perf_counter"
    stored = {} if store is None or force else {
        row["run_id"]: row for row in store.rows(COMMAND) if not row["metrics"].get("error")}
    copy_gbps: dict[int, float | None] = {}
    for size in sizes:
        xs, ys, stride = shapes(size, batch, numel)
        for dname in dtypes:
            dtype = DTYPES[dname]
            tensors, setup_error = None, None
            for pass_ in passes:
                configs = {impl: {"size": size, "x_shape": "x".join(map(str, xs)), "out_shape": "x".join(map(str, ys)),
                                  "stride": stride, "dtype": dname, "pass": pass_, "impl": impl, "device": device.type,
                                  "device_name": name, "repeats": repeats} for impl in impls}
                rows = [make_row(COMMAND, c, {}) for c in configs.values()]
                if all(row["run_id"] in stored for row in rows):
                    yield [stored[row["run_id"]] for row in rows], True
                    continue
                if tensors is None and setup_error is None:
                    try:
                        tensors = _inputs(xs, ys, dtype, device)
                    except Exception as exc:  # e.g. out of memory: every row of this shape and dtype says so
                        setup_error = describe(exc)
                        _free(device)
                nbytes = moved_bytes(xs, ys, DTYPES[dname].itemsize, pass_)
                times, errors = {}, {}
                for impl in impls:
                    if setup_error:
                        errors[impl] = setup_error
                        continue
                    try:
                        times[impl] = _time_impl(impl, *tensors, stride, pass_, timer)
                    except KeyboardInterrupt:
                        raise
                    except Exception as exc:  # one case's failure must not lose the others
                        errors[impl] = describe(exc)
                        _free(device)
                if times and nbytes not in copy_gbps:  # a clone reads and writes half the bytes each
                    try:
                        buf = torch.empty(max(nbytes // 2, 1), dtype=torch.uint8, device=device)
                        copy_gbps[nbytes] = 2 * buf.numel() / (timer(lambda buf=buf: buf.clone())[0] * 1e6)
                        del buf
                    except Exception:  # a copy that does not fit leaves the fraction unknown, not the row
                        copy_gbps[nbytes] = None
                        _free(device)
                ms = {impl: t[0] for impl, t in times.items()}
                rows = []
                for impl, config in configs.items():
                    metrics = {"timer": label + (" (interpreted)" if impl == "triton" and not gpu else ""),
                               "timed_runs": None, "median_ms": None, "bytes": nbytes, "gbps": None,
                               "copy_gbps": copy_gbps.get(nbytes), "frac_of_copy": None, "speedup_vs_eager": None,
                               "speedup_vs_compile": None, "error": errors.get(impl),
                               "torch": torch.__version__, "triton": triton.__version__}
                    if impl in times:
                        gbps = nbytes / (ms[impl] * 1e6)
                        copy = copy_gbps.get(nbytes)
                        metrics.update(timed_runs=times[impl][1], median_ms=ms[impl], gbps=gbps,
                                       frac_of_copy=gbps / copy if copy else None,
                                       speedup_vs_eager=ms["eager"] / ms[impl] if "eager" in ms else None,
                                       speedup_vs_compile=ms["compile"] / ms[impl] if "compile" in ms else None)
                    rows.append(make_row(COMMAND, config, metrics))
                if store is not None:
                    for row in rows:
                        store.append(row)
                yield rows, False
            del tensors
            _free(device)


def flat_rows(rows: list[dict]) -> list[dict]:
    """Harness rows as one flat dict each (config and metrics side by side), for CSV and JSON."""
    return [{**{k: v for k, v in r["config"].items() if k != "repeats"}, **r["metrics"]} for r in rows]


def format_rows(rows: list[dict], fmt: str) -> str:
    if fmt in ("markdown", "latex"):
        return render_kernel(rows, fmt)
    return format_flat(flat_rows(rows), FIELDS, fmt)


def count(text: str) -> int:
    """argparse type for an element count: 16777216, 2^24 or 2**24."""
    try:
        base, _, exp = text.replace("**", "^").partition("^")
        n = int(base) ** int(exp) if exp else int(base)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count such as 16777216 or 2^24, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive count, got {text!r}")
    return n


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.kernel", description=__doc__.split("\n\n")[0], **examples(
        "python -m bench.kernel # defaults for the machine it runs on",
        "python -m bench.kernel --sizes flat24,u32,d32 --numel 2^24 --passes fwdbwd --format csv --out kernel.csv",
        "python -m bench.kernel --sizes u32 --impls eager,compile --dtypes fp32 --device cpu --repeats 3"))
    parser.add_argument("--sizes", type=choice_list([*UNITS, *FLAT]),
                        help=f"comma-separated shapes: BReG-NeXt's units {', '.join(UNITS)} (at --batch) or "
                        f"{', '.join(FLAT)} (2^k elements); default: all units and flat20,24,28 on CUDA, u32,d32 "
                        "(batch 2) on the CPU")
    parser.add_argument("--impls", type=choice_list(IMPLS), help=f"comma-separated, of {','.join(IMPLS)} (default: "
                        "eager,compile,triton; triton on CUDA only)")
    parser.add_argument("--passes", type=choice_list(PASSES), default=list(PASSES),
                        help=f"comma-separated, of {','.join(PASSES)}: forward, backward, both (default: all)")
    parser.add_argument("--dtypes", type=choice_list(list(DTYPES)),
                        help=f"comma-separated, of {','.join(DTYPES)} (default: all on CUDA, fp32 on the CPU)")
    parser.add_argument("--batch", type=int, help="batch of the unit shapes (default 128 on CUDA, 2 on the CPU)")
    parser.add_argument("--numel", type=count, help="instead of --batch: each unit shape's batch is chosen so that "
                        "x holds this many elements, e.g. 2^24 (flat sizes are fixed)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case on the CPU")
    parser.add_argument("--device", type=device_name, default="auto", help=f"{DEVICES} (default auto)")
    add_output_args(parser, COMMAND, "reports.kernel", "rerun cases whose rows are already in the store")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.batch is not None and args.batch < 1 or args.repeats < 1:
        parser.error("--batch and --repeats must be >= 1")
    if args.batch is not None and args.numel is not None:
        parser.error("--batch and --numel both set the batch of the unit shapes: give one")
    check_output_path(args.out, "--out")
    check_output_path(args.results, "--results")

    from breg_models.ops.bypass_add_op import can_run

    device = torch.device(check_device_here(args.device))
    gpu = device.type == "cuda"
    sizes = args.sizes or ([*UNITS, "flat20", "flat24", "flat28"] if gpu else ["u32", "d32"])
    dtypes = args.dtypes or (list(DTYPES) if gpu else ["fp32"])
    impls = args.impls
    if impls is None:
        impls = ["eager", "compile", "triton"] if gpu else ["eager", "compile"]
        if not gpu:
            print("note: Triton rows need a GPU (interpreted kernels time numpy); running eager and compile",
                  file=sys.stderr)
    elif "triton" in impls and not can_run(torch.empty(0, device=device)):
        raise UsageError("--impls triton needs a CUDA device (or TRITON_INTERPRET=1 to interpret it on the CPU, "
                         "where its timings mean nothing)")
    store = open_store(args.results)
    # Timing the backward alone retains the graph, which compiled graphs with donated buffers refuse.
    import torch._functorch.config as functorch_config

    rows, skipped = [], 0
    with functorch_config.patch(donated_buffer=False):
        for case, reused in run(sizes, impls, args.passes, dtypes, device, args.batch or (128 if gpu else 2),
                                args.repeats, numel=args.numel, store=store, force=args.force):
            skipped += reused
            rows += case
    if skipped:
        print(f"kernel: {skipped} cases read back from {args.results} (--force reruns them)", file=sys.stderr)
    failed = [r for r in rows if r["metrics"].get("error")]
    write_output(format_rows(rows, args.format), args.out)
    if failed:
        first = failed[0]
        raise RuntimeError(f"{len(failed)} of {len(rows)} rows failed (first: {first['config']['size']} "
                           f"{first['config']['dtype']} {first['config']['pass']} {first['config']['impl']}: "
                           f"{first['metrics']['error']}); the other rows are stored")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
