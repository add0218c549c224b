"""Benchmark of the fused shortcut y = P(H(x)) + F: eager PyTorch vs torch.compile vs the Triton kernels.

    python -m bench.kernel                                   # defaults for the machine it runs on
    python -m bench.kernel --sizes u32,d32,flat24 --passes fwdbwd --format csv --out results/kernel_h100.csv

Per (shape, dtype, pass, implementation) it writes one row: median time, achieved GB/s from the bytes the
pass must move (forward: read x and F, write y; backward: read x and dy, write dx; dF is dy itself), that
as a fraction of the copy bandwidth measured in the same run (a ``torch.clone`` of the same bytes), and the
speed-ups over eager and over compile. On CUDA the timer is ``triton.testing.do_bench`` (CUDA events, L2
flushed between runs, warm-up excluded); on the CPU it is ``time.perf_counter`` and the Triton rows are left
out, since interpreted kernels time numpy, not the kernel. Rows only: ``reports/`` makes the tables.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import sys
import time

import torch

from reports.kernel import render_kernel
from reports.render import FORMATS

from .results import ResultsStore, make_row

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
IMPLS = ("eager", "compile", "triton")
PASSES = ("fwd", "bwd", "fwdbwd")
# name: (C_in, H=W, C_out, stride) of the real BReG-NeXt units (64x64 input), at --batch
UNITS = {"u32": (32, 64, 32, 1), "u64": (64, 32, 64, 1), "u128": (128, 16, 128, 1),
         "d32": (32, 64, 64, 2), "d64": (64, 32, 128, 2)}
FLAT = {f"flat{k}": k for k in range(20, 29)}  # 2^k elements as (2^k / 4096, 1, 64, 64), stride 1
COMMAND = "kernel"
FIELDS = ["device", "device_name", "timer", "size", "x_shape", "out_shape", "stride", "dtype", "pass", "impl",
          "median_ms", "bytes", "gbps", "copy_gbps", "frac_of_copy", "speedup_vs_eager", "speedup_vs_compile",
          "torch", "triton"]


def shapes(size: str, batch: int) -> tuple[tuple, tuple, int]:
    if size in FLAT:
        shape = (2 ** FLAT[size] // 4096, 1, 64, 64)
        return shape, shape, 1
    cin, hw, cout, stride = UNITS[size]
    return (batch, cin, hw, hw), (batch, cout, -(-hw // stride), -(-hw // stride)), stride


def moved_bytes(x_numel: int, y_numel: int, itemsize: int, pass_: str) -> int:
    fwd = (x_numel + 2 * y_numel) * itemsize
    bwd = (2 * x_numel + y_numel) * itemsize
    return {"fwd": fwd, "bwd": bwd, "fwdbwd": fwd + bwd}[pass_]


def _op(impl: str):
    from breg_models.ops.bypass_add_op import bypass_add, compiled_eq8_shortcut, eager_eq8_shortcut

    return {"eager": eager_eq8_shortcut, "compile": compiled_eq8_shortcut(), "triton": bypass_add}[impl]


def _timer(device: torch.device, repeats: int):
    if device.type == "cuda":
        from triton.testing import do_bench

        return lambda fn: do_bench(fn, return_mode="median")
    def cpu_median(fn):
        fn()  # warm-up (and compilation), excluded
        fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)
    return cpu_median


def _bench_case(op, x, r, a, b, dy, stride, pass_, timer) -> float:
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


def run(sizes, impls, passes, dtypes, device: torch.device, batch: int, repeats: int) -> list[dict]:
    import triton

    timer = _timer(device, repeats)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    label = "cuda-events-l2-flush (triton.testing.do_bench)" if device.type == "cuda" else "perf_counter"
    copy_gbps: dict[int, float] = {}
    rows = []
    for size in sizes:
        xs, ys, stride = shapes(size, batch)
        for dname in dtypes:
            dtype = DTYPES[dname]
            g = torch.Generator(device="cpu").manual_seed(0)
            x = (torch.randn(xs, generator=g) * 2).to(device, dtype).requires_grad_()
            r = torch.randn(ys, generator=g).to(device, dtype).requires_grad_()
            dy = torch.randn(ys, generator=g).to(device, dtype)
            a = torch.tensor(1.0, device=device, requires_grad=True)
            b = torch.tensor(1.0, device=device, requires_grad=True)
            for pass_ in passes:
                nbytes = moved_bytes(x.numel(), r.numel(), x.element_size(), pass_)
                if nbytes not in copy_gbps:  # a clone reads and writes half the bytes each
                    buf = torch.empty(max(nbytes // 2, 1), dtype=torch.uint8, device=device)
                    copy_gbps[nbytes] = 2 * buf.numel() / (timer(lambda buf=buf: buf.clone()) * 1e6)
                times = {impl: _bench_case(_op(impl), x, r, a, b, dy, stride, pass_, timer) for impl in impls}
                for impl, ms in times.items():
                    gbps = nbytes / (ms * 1e6)
                    rows.append({
                        "device": device.type, "device_name": name,
                        "timer": label + (" (interpreted)" if impl == "triton" and device.type != "cuda" else ""),
                        "size": size, "x_shape": "x".join(map(str, xs)), "out_shape": "x".join(map(str, ys)),
                        "stride": stride, "dtype": dname, "pass": pass_, "impl": impl, "median_ms": ms,
                        "bytes": nbytes, "gbps": gbps, "copy_gbps": copy_gbps[nbytes],
                        "frac_of_copy": gbps / copy_gbps[nbytes],
                        "speedup_vs_eager": times["eager"] / ms if "eager" in times else None,
                        "speedup_vs_compile": times["compile"] / ms if "compile" in times else None,
                        "torch": torch.__version__, "triton": triton.__version__,
                    })
    return rows


CONFIG_KEYS = ("size", "x_shape", "out_shape", "stride", "dtype", "pass", "impl", "device", "device_name")


def result_rows(rows: list[dict], repeats: int) -> list[dict]:
    """The same rows in the harness-wide schema (config, metrics, env), for the store and `reports`."""
    return [make_row(COMMAND, {**{k: row[k] for k in CONFIG_KEYS}, "repeats": repeats},
                     {k: v for k, v in row.items() if k not in CONFIG_KEYS}) for row in rows]


def write_rows(rows: list[dict], fmt: str, out, repeats: int) -> None:
    if fmt in ("markdown", "latex"):
        out.write(render_kernel(result_rows(rows, repeats), fmt))
        return
    if fmt == "json":
        json.dump(rows, out, indent=1)
        out.write("\n")
        return
    writer = csv.DictWriter(out, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows(rows)


def _list(choices):
    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if t not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"{','.join(bad) or text!r} not in: {', '.join(choices)}")
        return items
    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.kernel", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=_list([*UNITS, *FLAT]), help="default: all units and flat20,24,28 on "
                        "CUDA; u32,d32 (batch 2) on the CPU")
    parser.add_argument("--impls", type=_list(IMPLS), help="default: eager,compile,triton (triton on CUDA only)")
    parser.add_argument("--passes", type=_list(PASSES), default=list(PASSES))
    parser.add_argument("--dtypes", type=_list(list(DTYPES)), default=["fp32"])
    parser.add_argument("--batch", type=int, help="batch of the unit shapes (default 128 on CUDA, 2 on the CPU)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case on the CPU")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--format", choices=FORMATS, default="markdown",
                        help="markdown/latex: the table of `reports.kernel`; csv/json: the raw rows")
    parser.add_argument("--out", default="-", help="file for the rows ('-' = stdout)")
    parser.add_argument("--results", default="results/kernel.jsonl",
                        help="results store the rows are appended to ('' = none; default results/kernel.jsonl)")
    args = parser.parse_args(argv)
    if args.batch is not None and args.batch < 1 or args.repeats < 1:
        parser.error("--batch and --repeats must be >= 1")

    from breg_models.ops.bypass_add_op import can_run

    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but no CUDA device is available", file=sys.stderr)
        return 1
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")
    gpu = device.type == "cuda"
    sizes = args.sizes or ([*UNITS, "flat20", "flat24", "flat28"] if gpu else ["u32", "d32"])
    impls = args.impls
    if impls is None:
        impls = list(IMPLS) if gpu else ["eager", "compile"]
        if not gpu:
            print("note: Triton rows need a GPU (interpreted kernels time numpy); running eager and compile",
                  file=sys.stderr)
    elif "triton" in impls and not can_run(torch.empty(0, device=device)):
        print("error: --impls triton needs a CUDA device (or TRITON_INTERPRET=1 to interpret it on the CPU, "
              "where its timings mean nothing)", file=sys.stderr)
        return 1
    # Timing the backward alone retains the graph, which compiled graphs with donated buffers refuse.
    import torch._functorch.config as functorch_config

    with functorch_config.patch(donated_buffer=False):
        rows = run(sizes, impls, args.passes, args.dtypes, device, args.batch or (128 if gpu else 2), args.repeats)
    if args.results:
        store = ResultsStore(args.results)
        for row in result_rows(rows, args.repeats):
            store.append(row)
    if args.out == "-":
        write_rows(rows, args.format, sys.stdout, args.repeats)
    else:
        buf = io.StringIO()
        write_rows(rows, args.format, buf, args.repeats)
        with open(args.out, "w", newline="") as fh:
            fh.write(buf.getvalue())
        print(f"wrote {len(rows)} rows to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
