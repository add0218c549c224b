"""pytest-benchmark suite of the fused shortcut: eager vs torch.compile vs Triton, per pass.

Skipped by default (tests/conftest.py sets ``--benchmark-skip``), and where pytest-benchmark is not installed.
Run and compare two versions with
    pytest tests/benchmarks --benchmark-only --benchmark-autosave
    pytest tests/benchmarks --benchmark-only --benchmark-compare
On the CPU the Triton cases skip: interpreted kernels time numpy, not the kernel.
"""

import pytest
import torch

from bench.kernel import _inputs, bench_case, op_of, shapes
from bench.kernel_timing import CpuTimer

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
BATCH = 128 if DEVICE.type == "cuda" else 2
SIZES = ["u32x64", "d64x32s2", "flat24"] if DEVICE.type == "cuda" else ["u32x64", "d64x32s2"]


@pytest.mark.parametrize("pass_", ["fwd", "bwd", "fwdbwd"])
@pytest.mark.parametrize("impl", ["eager", "compile", "triton"])
@pytest.mark.parametrize("size", SIZES)
def test_shortcut(benchmark, size, impl, pass_):
    if impl == "triton" and DEVICE.type != "cuda":
        pytest.skip("the Triton kernels are timed on a GPU only")
    import torch._functorch.config as functorch_config

    xs, ys, stride = shapes(size, BATCH)
    inputs = _inputs(xs, ys, torch.float32, DEVICE)
    sync = torch.cuda.synchronize if DEVICE.type == "cuda" else (lambda: None)

    class Timer(CpuTimer):
        """pytest-benchmark around single synchronised calls (bench.kernel's GraphTimer gives GPU time alone)."""

        def __call__(self, fns):
            fns[0]()  # warm-up / compilation outside the measurement
            sync()
            benchmark(lambda: (fns[0](), sync()))

    with functorch_config.patch(donated_buffer=False):
        bench_case(op_of(impl), inputs, stride, pass_, Timer(1))
