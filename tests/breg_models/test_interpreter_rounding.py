"""fp32 -> bf16 in a Triton kernel rounds to nearest even, as the GPU (``cvt.rn.bf16.f32``) and torch do. Natively
that is the hardware; interpreted (CI) it is `interpreter_rounding`, installed by tests/conftest.py, without
which the interpreter truncates and a bf16 test passing in CI would not mean it passes on the GPU."""

import numpy as np
import pytest
import torch
import triton
import triton.language as tl

from breg_models.ops import interpreter_rounding
from breg_models.ops.testing import kernel_device

# fp32 bit patterns, with what rounding to nearest even gives: exact, ties (even neighbour below: down; odd:
# up), just under / over half an ulp, a carry into the exponent, overflow to inf, subnormals, zeros, infinities
SPECIAL = np.array([
    0x3F800000, 0x3F808000, 0x3F818000, 0x3F807FFF, 0x3F808001, 0x3F80C000, 0xBF80C000, 0xBF818000,
    0x3FFFFFFF, 0x3F7FFFFF, 0x7F7FFFFF, 0x7F7F8000, 0x7F7F7FFF, 0xFF7FFFFF,
    0x00018000, 0x00008000, 0x0000C000, 0x80018000, 0x00000000, 0x80000000, 0x7F800000, 0xFF800000,
], dtype=np.uint32)
RNE = np.array([
    0x3F80, 0x3F80, 0x3F82, 0x3F80, 0x3F81, 0x3F81, 0xBF81, 0xBF82,
    0x4000, 0x3F80, 0x7F80, 0x7F80, 0x7F7F, 0xFF80,
    0x0002, 0x0000, 0x0001, 0x8002, 0x0000, 0x8000, 0x7F80, 0xFF80,
], dtype=np.uint16)
TRUNCATION_WRONG = RNE != (SPECIAL >> 16)  # where the interpreter's own conversion is off by an ulp


def _values() -> np.ndarray:
    """The special patterns, then random bit patterns over every binade, NaNs included."""
    random = np.random.default_rng(0).integers(0, 2**32, size=4096, dtype=np.uint64).astype(np.uint32)
    return np.concatenate([SPECIAL, random]).view(np.float32)


def _torch_bits(x: np.ndarray) -> np.ndarray:
    return torch.from_numpy(x).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)


@triton.jit
def _store_bf16_kernel(x_ptr, rn_ptr, rz_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    tl.store(rn_ptr + offs, x, mask=mask)  # the store's own cast, as the kernels store bf16 outputs
    tl.store(rz_ptr + offs, x.to(tl.bfloat16, fp_downcast_rounding="rtz"), mask=mask)


@triton.jit
def _widen_bf16_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(y_ptr + offs, tl.load(x_ptr + offs, mask=mask).to(tl.float32), mask=mask)


def test_rounding_cases_are_what_torch_does_and_truncation_misses():
    assert np.array_equal(_torch_bits(SPECIAL.view(np.float32)), RNE)
    assert TRUNCATION_WRONG.sum() >= 10


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_kernel_bf16_store_rounds_to_nearest_even_like_torch():
    from breg_models.ops.bypass_add_op import check_can_run

    x = _values()
    xt = torch.from_numpy(x).to(kernel_device())
    check_can_run(xt)
    rn = torch.empty(xt.shape, dtype=torch.bfloat16, device=xt.device)
    rz = torch.empty_like(rn)
    _store_bf16_kernel[(triton.cdiv(x.size, 1024),)](xt, rn, rz, x.size, BLOCK=1024)
    rn_bits = rn.cpu().view(torch.int16).numpy().view(np.uint16)
    rz_bits = rz.cpu().view(torch.int16).numpy().view(np.uint16)
    nan = np.isnan(x)
    assert nan.any() and rn.isnan().cpu().numpy()[nan].all() and rz.isnan().cpu().numpy()[nan].all()
    assert np.array_equal(rn_bits[~nan], _torch_bits(x)[~nan])
    assert np.array_equal(rn_bits[: SPECIAL.size], RNE)
    # an explicit round-toward-zero cast is truncation, natively (cvt.rz) and interpreted alike
    assert np.array_equal(rz_bits[~nan], (x.view(np.uint32) >> 16).astype(np.uint16)[~nan])


def test_kernel_bf16_load_widens_exactly_like_torch():
    """bf16 -> fp32 is exact on the GPU (cvt.f32.bf16), subnormals included."""
    from breg_models.ops.bypass_add_op import check_can_run

    x = torch.from_numpy(RNE.view(np.int16)).view(torch.bfloat16).to(kernel_device())
    check_can_run(x)
    y = torch.empty(x.shape, dtype=torch.float32, device=x.device)
    _widen_bf16_kernel[(1,)](x, y, x.numel(), BLOCK=32)
    assert torch.equal(y, x.float()) and torch.count_nonzero(y.abs() < torch.finfo(torch.float32).tiny) > 3


def test_interpreter_own_conversion_truncates_and_the_wrapper_rounds():
    """The wrapper is what makes the kernel test above pass interpreted: the function it wraps is off by an
    ulp on every TRUNCATION_WRONG case. Checked on the functions themselves, installed or not."""
    from triton.runtime import interpreter

    x = SPECIAL.view(np.float32)
    own = interpreter_rounding.original_convert_float()(x, tl.float32, tl.bfloat16, None)
    normal = (SPECIAL & 0x7F800000) != 0  # (its subnormals are off by more than an ulp)
    assert np.array_equal(own[normal], (SPECIAL >> 16)[normal])
    assert np.all((own != RNE)[TRUNCATION_WRONG]) and np.array_equal(own[~TRUNCATION_WRONG], RNE[~TRUNCATION_WRONG])
    assert np.array_equal(interpreter_rounding.fp32_to_bf16_bits(x), RNE)
    assert np.array_equal(interpreter_rounding.fp32_to_bf16_bits(x, round_to_zero=True), SPECIAL >> 16)

    interpreter_rounding.install()  # idempotent: the session's install (TRITON_INTERPRET=1) is not wrapped twice
    interpreter_rounding.install()
    assert interpreter_rounding.installed()
    assert interpreter._convert_float.__wrapped__ is interpreter_rounding.original_convert_float()
    assert np.array_equal(interpreter._convert_float(x, tl.float32, tl.bfloat16, None), RNE)
    # bf16 -> fp32 is exact, bf16 subnormals included (the interpreter's own flushes them)
    back = interpreter._convert_float(RNE, tl.bfloat16, tl.float32, None).view(np.float32)
    assert np.array_equal(back, torch.from_numpy(RNE.view(np.int16)).view(torch.bfloat16).float().numpy())
    assert np.count_nonzero(back[np.abs(back) < np.finfo(np.float32).tiny]) == 3
