"""pytest-benchmark suite of the fused shortcut: eager vs torch.compile vs Triton, per pass.

Skipped by default (``--benchmark-skip`` in addopts). Run and compare two versions with
    pytest tests/benchmarks --benchmark-only --benchmark-autosave
    pytest tests/benchmarks --benchmark-only --benchmark-compare
On the CPU the Triton cases skip: interpreted kernels time numpy, not the kernel.
"""

import pytest
import torch

from bench.kernel import bench_case, op_of, shapes

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
BATCH = 128 if DEVICE.type == "cuda" else 2
SIZES = ["u32", "d32", "flat24"] if DEVICE.type == "cuda" else ["u32", "d32"]


@pytest.mark.parametrize("pass_", ["fwd", "bwd", "fwdbwd"])
@pytest.mark.parametrize("impl", ["eager", "compile", "triton"])
@pytest.mark.parametrize("size", SIZES)
def test_shortcut(benchmark, size, impl, pass_):
    if impl == "triton" and DEVICE.type != "cuda":
        pytest.skip("the Triton kernels are timed on a GPU only")
    import torch._functorch.config as functorch_config

    xs, ys, stride = shapes(size, BATCH)
    x = torch.randn(xs, device=DEVICE).requires_grad_()
    r = torch.randn(ys, device=DEVICE).requires_grad_()
    dy = torch.randn(ys, device=DEVICE)
    a = torch.tensor(1.0, device=DEVICE, requires_grad=True)
    b = torch.tensor(1.0, device=DEVICE, requires_grad=True)
    sync = torch.cuda.synchronize if DEVICE.type == "cuda" else (lambda: None)

    def timer(fn):
        fn()  # warm-up / compilation outside the measurement
        sync()
        benchmark(lambda: (fn(), sync()))
        return 0.0

    with functorch_config.patch(donated_buffer=False):
        bench_case(op_of(impl), x, r, a, b, dy, stride, pass_, timer)
