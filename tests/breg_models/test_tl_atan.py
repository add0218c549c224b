"""The kernels' atan (plain tl arithmetic) against float64 atan over the whole fp32 range, in fp32 ulps; run on
`kernel_device` (natively on CUDA where a GPU runs the kernels, where FMA contraction applies)."""

import numpy as np
import pytest
import torch
import triton
import triton.language as tl

from breg_models.ops.atan import atan
from breg_models.ops.testing import kernel_device


@triton.jit
def _atan_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(y_ptr + offs, atan(tl.load(x_ptr + offs, mask=mask, other=0.0)), mask=mask)


def _run(x: np.ndarray) -> np.ndarray:
    from breg_models.ops.bypass_add_op import check_can_run

    xt = torch.from_numpy(x).to(kernel_device())
    check_can_run(xt)
    y = torch.empty_like(xt)
    _atan_kernel[(triton.cdiv(x.size, 4096),)](xt, y, x.size, BLOCK=4096)
    return y.cpu().numpy()


def _ulps(got: np.ndarray, x: np.ndarray) -> np.ndarray:
    want = np.arctan(x.astype(np.float64))
    ulp = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)  # fp32 ulp at the true value
    return np.abs(got.astype(np.float64) - want) / ulp


def test_atan_within_few_ulps_over_whole_float_range():
    rng = np.random.default_rng(0)
    # uniform over bit patterns covers every binade, denormals to 3.4e38, both signs
    bits = rng.integers(0, 0x7F800000, size=200_000, dtype=np.uint32)
    x = bits.view(np.float32) * np.where(rng.random(bits.size) < 0.5, -1, 1).astype(np.float32)
    bounds = np.array([np.tan(np.pi / 8), np.tan(3 * np.pi / 8), 1.0], dtype=np.float32)
    edges = np.concatenate([np.nextafter(bounds, 0), bounds, np.nextafter(bounds, np.float32(9))])
    dense = np.linspace(-8, 8, 100_001, dtype=np.float32)  # where the reduction ranges meet; measured max 2.04
    x = np.concatenate([x, edges, -edges, dense, [0.0, 1e-45, 3.4e38, -3.4e38]]).astype(np.float32)
    err = _ulps(_run(x), x)
    assert err.max() <= 2.5, f"max error {err.max():.2f} ulp at x={x[err.argmax()]!r}"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_atan_special_values():
    x = np.array([np.inf, -np.inf, np.nan, 0.0], dtype=np.float32)
    y = _run(x)
    assert y[0] == np.float32(np.pi / 2) and y[1] == -np.float32(np.pi / 2)
    assert np.isnan(y[2]) and y[3] == 0.0
