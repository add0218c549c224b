"""Benchmark of the fused shortcut y = P(H(x)) + F: eager PyTorch vs torch.compile vs the Triton kernels.

    python -m bench.kernel                                   # defaults for the machine it runs on
    python -m bench.kernel --sizes d64x32s2,flat24 --passes fwdbwd --format csv --out kernel.csv

A case is one (shape, dtype, pass); per case and implementation it writes one row: time per call, achieved
GB/s from the bytes the pass must move (forward: read x and F, write y; backward: read x and the C_in
channels of dy that face x, write dx -- the zero-padded channels of a widening unit get no gradient, and dF
is dy itself), that as a fraction of the copy bandwidth measured in the same run (a ``torch.clone`` of the
same bytes, timed the same way), and the speed-ups over eager and over compile.

- Sizes: the shortcut shapes the networks run (`breg_models.unit_shapes`: every distinct unit of Table 1's six
  networks and the depth family, labelled like d64x32s2 = down-sampling, C_in 64, 32x32 input; at --batch,
  128 on CUDA as in the papers) and flat2^k tensors (flat24 = 2^24 elements). The old names u32, u64, u128, d32,
  d64 still work and mean u32x64, u64x32, u128x16, d32x64s2, d64x32s2.
- 'eager' is Eq. 8 as the authors' code and a user write it (`authors_eq8_shortcut`), what a speed-up must be
  over; 'eager_safe' (asked for by name) is the float64-safe definition, a ~40-op series under torch.where.
- 'compile' is a fresh ``torch.compile(fullgraph=True, dynamic=False)`` of the eager op per case, after
  ``torch._dynamo.reset()``, timed with recompiles made errors: a case that graph-breaks, recompiles or
  builds no graph gets an error in its row instead of an eager timing under the name 'compile'.
- Each case's rows go to the results store (``--results``) when the case finishes; a case that fails (out
  of memory, a compile error) is stored with a one-line ``error`` and the sweep goes on; Ctrl-C keeps the
  finished cases, and a rerun skips them unless ``--force``. Any failed case makes the exit status 1.
- Timing: `bench.kernel_timing` (CUDA-graph replay on CUDA, GPU time and host overhead apart). Triton rows
  are left out on the CPU by default, since interpreted kernels time numpy, not the kernel. Rows only:
  ``reports/`` makes the tables.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import torch

from breg_models.unit_shapes import shapes_by_label
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
from .kernel_timing import Timing, describe, make_timer

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
IMPLS = ("eager", "compile", "triton", "eager_safe")
PASSES = ("fwd", "bwd", "fwdbwd")
# label: (C_in, H=W, C_out, stride) of every distinct unit of the networks (64x64 input), at --batch
UNITS = {label: (s.cin, s.hw, s.cout, s.stride) for label, s in shapes_by_label().items()}
ALIASES = {"u32": "u32x64", "u64": "u64x32", "u128": "u128x16", "d32": "d32x64s2", "d64": "d64x32s2"}  # old names
FLAT = {f"flat{k}": k for k in range(20, 29)}  # 2^k elements as (2^k / 4096, 1, 64, 64), stride 1
COMMAND = "kernel"
CONFIG_KEYS = ("size", "x_shape", "out_shape", "stride", "dtype", "pass", "impl", "device", "device_name")
FIELDS = [*CONFIG_KEYS[:7], "timer", "timed_runs", "median_ms", "call_ms", "host_overhead_ms", "bytes", "gbps",
          "copy_gbps", "frac_of_copy", "speedup_vs_eager", "speedup_vs_compile", "error", "device", "device_name",
          "torch", "triton"]
COMPILE_BACKEND = "inductor"  # tests and the dry run swap in "eager"/"aot_eager" to skip inductor's cost


def size_names(text: str) -> list[str]:
    """argparse type of --sizes: unit labels, flat sizes and the old unit names (given as their labels)."""
    return [ALIASES.get(s, s) for s in choice_list([*UNITS, *FLAT, *ALIASES])(text)]


size_names.choices = [*UNITS, *FLAT]  # what --help must name (harness.cli.choice_list's convention)


def shapes(size: str, batch: int, numel: int | None = None) -> tuple[tuple, tuple, int]:
    """x shape, output shape and stride of a size; ``numel`` sets a unit's batch so x holds that many."""
    if size in FLAT:
        shape = (2 ** FLAT[size] // 4096, 1, 64, 64)
        return shape, shape, 1
    cin, hw, cout, stride = UNITS[ALIASES.get(size, size)]
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


def bench_case(op, inputs: Sequence[tuple], stride: int, pass_: str, timer) -> Timing:
    """``timer`` applied to one pass of ``op``, one call per copy of the inputs ``(x, r, a, b, dy)``: forward
    without grad, backward through a kept graph (built here, on the timer's stream), or both."""
    def call(x, r, a, b, dy):
        if pass_ == "fwd":
            def fwd():
                with torch.no_grad():
                    op(x, r, a, b, stride)
            return fwd
        if pass_ == "bwd":
            y = op(x, r, a, b, stride)
            return lambda: torch.autograd.grad(y, (x, r, a, b), dy, retain_graph=True)
        return lambda: torch.autograd.grad(op(x, r, a, b, stride), (x, r, a, b), dy)

    with timer.context():
        fns = [call(*t) for t in inputs]
        return timer(fns)


class CompileFallback(RuntimeError):
    """torch.compile did not run this case as exactly one compiled graph."""


def _dynamo_stats() -> tuple[int, int]:
    """(graphs dynamo built, torch calls captured into them) so far in this process."""
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"], counters["stats"]["calls_captured"]


def _time_compiled(inputs, stride, pass_, timer, backend: str | None = None) -> Timing:
    """A fresh full-graph, static-shape compile of the eager op for this case alone. Dynamo's counters are
    process-wide and survive ``reset``, so the check is on their change: one graph holding the op's calls
    (an empty graph runs nothing compiled), and no recompile (made an error while timing)."""
    import torch._dynamo

    op = op_of("compile", backend)
    graphs, calls = _dynamo_stats()
    with torch._dynamo.config.patch(error_on_recompile=True):
        result = bench_case(op, inputs, stride, pass_, timer)
    graphs, calls = (now - before for now, before in zip(_dynamo_stats(), (graphs, calls), strict=True))
    if graphs != 1 or calls == 0:
        raise CompileFallback(f"torch.compile built {graphs} graphs of {calls} calls for this case, not one graph "
                              "of the op (it ran eager code)")
    return result


def op_of(impl: str, backend: str | None = None):
    """The function an implementation runs; 'compile' is a fresh full-graph, static-shape compile of the eager
    op (dynamo reset first), so that no earlier case's graphs or recompile budget carry over, with ``backend``
    (default `COMPILE_BACKEND`)."""
    import torch._dynamo

    from breg_models.ops.bypass_add_op import authors_eq8_shortcut, bypass_add, eager_eq8_shortcut

    if impl == "compile":
        torch._dynamo.reset()
        return torch.compile(authors_eq8_shortcut, fullgraph=True, dynamic=False,
                             backend=backend or COMPILE_BACKEND)
    return {"eager": authors_eq8_shortcut, "eager_safe": eager_eq8_shortcut, "triton": bypass_add}[impl]


def _time_impl(impl, inputs, stride, pass_, timer, backend: str | None = None) -> Timing:
    if impl == "compile":
        return _time_compiled(inputs, stride, pass_, timer, backend)
    return bench_case(op_of(impl), inputs, stride, pass_, timer)


def _inputs(xs, ys, dtype, device, copies: int = 1) -> list[tuple]:
    """``copies`` sets of (x, F, alpha, beta, dL/dy), the same seeded values in separate memory."""
    g = torch.Generator(device="cpu").manual_seed(0)
    x0 = (torch.randn(xs, generator=g) * 2).to(device, dtype)
    r0 = torch.randn(ys, generator=g).to(device, dtype)
    dy0 = torch.randn(ys, generator=g).to(device, dtype)
    sets = []
    for _ in range(copies):
        x, r, dy = (t.clone() for t in (x0, r0, dy0))
        a = torch.tensor(1.0, device=device, requires_grad=True)
        b = torch.tensor(1.0, device=device, requires_grad=True)
        sets.append((x.requires_grad_(), r.requires_grad_(), a, b, dy))
    return sets


def _free(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def run(sizes, impls, passes, dtypes, device: torch.device, batch: int, repeats: int, *, numel: int | None = None,
        store: ResultsStore | None = None, force: bool = False, timer=None, timer_kind: str = "auto",
        compile_backend: str | None = None, extra_config: dict | None = None):
    """Yield each case's rows (harness schema) as it finishes, after appending them to ``store``, with whether
    they were read back: a case whose rows are all in the store without an error is not rerun, unless
    ``force``. ``timer``: default `make_timer` of ``timer_kind``. ``extra_config``: keys added to every row's
    config (non-default settings, so their rows are never read back as default ones)."""
    import triton

    gpu = device.type == "cuda"
    timer = timer or make_timer(device, repeats, timer_kind)
    name = torch.cuda.get_device_name(device) if gpu else "cpu"
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
                                  "device_name": name, "repeats": repeats, **(extra_config or {})} for impl in impls}
                rows = [make_row(COMMAND, c, {}) for c in configs.values()]
                if all(row["run_id"] in stored for row in rows):
                    yield [stored[row["run_id"]] for row in rows], True
                    continue
                if tensors is None and setup_error is None:
                    try:
                        least = min(moved_bytes(xs, ys, dtype.itemsize, p) for p in PASSES)
                        tensors = _inputs(xs, ys, dtype, device, timer.copies(least))
                    except Exception as exc:  # e.g. out of memory: every row of this shape and dtype says so
                        setup_error = describe(exc)
                        _free(device)
                nbytes = moved_bytes(xs, ys, dtype.itemsize, pass_)
                times, errors = {}, {}
                for impl in impls:
                    if setup_error:
                        errors[impl] = setup_error
                        continue
                    try:
                        times[impl] = _time_impl(impl, tensors, stride, pass_, timer, compile_backend)
                    except KeyboardInterrupt:
                        raise
                    except Exception as exc:  # one case's failure must not lose the others
                        errors[impl] = describe(exc)
                        _free(device)
                if times and nbytes not in copy_gbps:  # a clone reads and writes half the bytes each
                    copy_gbps[nbytes] = _copy_gbps(nbytes, device, timer)
                rows = []
                for impl, config in configs.items():
                    metrics = {"timer": None, "timed_runs": None, "median_ms": None, "call_ms": None,
                               "host_overhead_ms": None, "bytes": nbytes, "gbps": None,
                               "copy_gbps": copy_gbps.get(nbytes), "frac_of_copy": None, "speedup_vs_eager": None,
                               "speedup_vs_compile": None, "error": errors.get(impl),
                               "torch": torch.__version__, "triton": triton.__version__}
                    if impl in times:
                        metrics.update(_measures(times, impl, nbytes, copy_gbps.get(nbytes)))
                        if impl == "triton" and not gpu:
                            metrics["timer"] += " (interpreted)"
                    rows.append(make_row(COMMAND, config, metrics))
                if store is not None:
                    for row in rows:
                        store.append(row)
                yield rows, False
            del tensors
            _free(device)


def _measures(times: dict[str, Timing], impl: str, nbytes: int, copy: float | None) -> dict:
    t = times[impl]
    gbps = nbytes / (t.ms * 1e6)
    return {"timer": t.method, "timed_runs": t.runs, "median_ms": t.ms, "call_ms": t.call_ms,
            "host_overhead_ms": t.host_overhead_ms, "gbps": gbps, "frac_of_copy": gbps / copy if copy else None,
            "speedup_vs_eager": times["eager"].ms / t.ms if "eager" in times else None,
            "speedup_vs_compile": times["compile"].ms / t.ms if "compile" in times else None}


def _copy_gbps(nbytes: int, device: torch.device, timer) -> float | None:
    """GB/s of ``torch.clone`` moving ``nbytes`` (half read, half written), timed as the cases are; None where
    the copy does not fit (the fraction is then unknown, the rows are kept)."""
    try:
        half = max(nbytes // 2, 1)
        bufs = [torch.empty(half, dtype=torch.uint8, device=device) for _ in range(timer.copies(nbytes))]
        with timer.context():
            ms = timer([lambda buf=buf: buf.clone() for buf in bufs]).ms
        return 2 * half / (ms * 1e6)
    except Exception:
        _free(device)
        return None


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


CPU_SIZES = ["u32x64", "d32x64s2"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.kernel", description=__doc__.split("\n\n")[0], **examples(
        "python -m bench.kernel # defaults for the machine it runs on",
        "python -m bench.kernel --sizes d64x32s2,flat24 --passes fwdbwd --format csv --out kernel.csv",
        "python -m bench.kernel --sizes u32x64 --impls eager,compile --dtypes fp32 --device cpu --repeats 3"))
    parser.add_argument("--sizes", type=size_names,
                        help=f"comma-separated shapes: the networks' units {', '.join(UNITS)} (at --batch) or "
                        f"{', '.join(FLAT)} (2^k elements; the old {', '.join(ALIASES)} name units too); default: "
                        f"every unit and flat24 on CUDA, {','.join(CPU_SIZES)} (batch 2) on the CPU")
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
    parser.add_argument("--timer", choices=("auto", "graph"), default="auto",
                        help="auto: CUDA-graph replay on CUDA, perf_counter on the CPU; graph: the CUDA procedure "
                             "on the CPU too, a wall clock standing in for CUDA (checks that path; default auto)")
    parser.add_argument("--compile-backend", choices=("inductor", "aot_eager", "eager"),
                        help="torch.compile backend of 'compile' (default inductor; the others check the plumbing "
                             "fast, and their rows say so)")
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
    sizes = args.sizes or ([*UNITS, "flat24"] if gpu else CPU_SIZES)
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
    extra = {}  # non-default settings enter the rows' config: their rows are never read back as default ones
    if args.timer != "auto" and not gpu:
        extra["timer"] = args.timer
    if args.compile_backend not in (None, "inductor") and "compile" in impls:
        extra["compile_backend"] = args.compile_backend
    # Timing the backward alone retains the graph, which compiled graphs with donated buffers refuse.
    import torch._functorch.config as functorch_config

    rows, skipped = [], 0
    with functorch_config.patch(donated_buffer=False):
        for case, reused in run(sizes, impls, args.passes, dtypes, device, args.batch or (128 if gpu else 2),
                                args.repeats, numel=args.numel, store=store, force=args.force,
                                timer_kind=args.timer,
                                compile_backend=args.compile_backend, extra_config=extra):
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
