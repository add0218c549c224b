"""The kernels' atan (plain tl arithmetic) against float64 atan over the whole fp32 range, in fp32 ulps; run on
`kernel_device` (natively on CUDA where a GPU runs the kernels, where FMA contraction applies).

Bounds, in ulps of the result. The degree-7 polynomial with fp32 Horner is within 1.3, the final rounding 0.5.
On the reduced range (|x| > 1) a relative error d of the reciprocal t = 1/|x| moves atan by t d / (1 + t^2)
<= d / 2 while the result is >= pi/4 (ulp 2^-24): d / 2^-23 ulps. Interpreted, rsqrt is 1/sqrt (two
roundings) squared, d <= 1.8e-7: 1.5 ulp, so 3.3 in all (measured 2.65). Natively rsqrt.approx squared has
d <= 3.3e-7: 2.8 ulp, so 4.6 in all; the interpreter cannot run that instruction, so the second test runs the
same kernel with the reciprocal replaced by 1/v times (1 -+ 2^-22), a larger error either way (measured 3.87).
"""

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


INTERPRETED_BOUND, NATIVE_BOUND = 3.3, 4.6


def _sample() -> np.ndarray:
    rng = np.random.default_rng(0)
    # uniform over bit patterns covers every binade, denormals to 3.4e38, both signs
    bits = rng.integers(0, 0x7F800000, size=200_000, dtype=np.uint32)
    x = bits.view(np.float32) * np.where(rng.random(bits.size) < 0.5, -1, 1).astype(np.float32)
    bounds = np.array([np.tan(np.pi / 8), np.tan(3 * np.pi / 8), 1.0], dtype=np.float32)
    edges = np.concatenate([np.nextafter(bounds, 0), bounds, np.nextafter(bounds, np.float32(9))])
    dense = np.linspace(-8, 8, 100_001, dtype=np.float32)  # where the reduction ranges meet; measured max 2.04
    return np.concatenate([x, edges, -edges, dense, [0.0, 1e-45, 3.4e38, -3.4e38]]).astype(np.float32)


def test_atan_within_few_ulps_over_whole_float_range():
    x = _sample()
    err = _ulps(_run(x), x)
    bound = NATIVE_BOUND if kernel_device().type == "cuda" else INTERPRETED_BOUND
    assert err.max() <= bound, f"max error {err.max():.2f} ulp at x={x[err.argmax()]!r}"


@triton.jit
def _recip_high(v):
    return (1.0 / v) * 1.0000002384185791  # 1 + 2^-22


@triton.jit
def _recip_low(v):
    return (1.0 / v) * 0.9999997615814209  # 1 - 2^-22


@pytest.mark.parametrize("recip", [_recip_high, _recip_low], ids=["high", "low"])
def test_atan_within_native_bound_with_the_reciprocal_off_by_more_than_rsqrt_approx(monkeypatch, recip):
    if kernel_device().type == "cuda":
        pytest.skip("natively the whole-range test measures rsqrt.approx itself")
    import breg_models.ops.atan as atan_module

    monkeypatch.setattr(atan_module, "recip_pos", recip)  # the interpreter looks names up at each call
    x = _sample()
    err = _ulps(_run(x), x)
    assert err.max() > INTERPRETED_BOUND - 1.0  # the perturbation took effect
    assert err.max() <= NATIVE_BOUND, f"max error {err.max():.2f} ulp at x={x[err.argmax()]!r}"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_atan_special_values():
    x = np.array([np.inf, -np.inf, np.nan, 0.0], dtype=np.float32)
    y = _run(x)
    assert y[0] == np.float32(np.pi / 2) and y[1] == -np.float32(np.pi / 2)
    assert np.isnan(y[2]) and y[3] == 0.0
