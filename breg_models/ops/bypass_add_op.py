"""The fused shortcut y = P(H(x; alpha, beta)) + F as a ``torch.library`` custom op (``breg::bypass_add``).

H is BReG-NeXt Eq. 8, P is nothing (stride 1) or the down-sampling projection of `breg_models.bypass.project`.
The op has a registered autograd (whose backward is the custom op ``breg::bypass_add_backward``) and fake
implementations of both, so ``torch.compile`` traces through it without a graph break, and an fvcore handle
(`FVCORE_HANDLES`) so FLOP counts match the eager shortcut. dL/dF is dL/dy itself, returned without a copy.

The Triton kernels run on CUDA tensors, or on CPU tensors under ``TRITON_INTERPRET=1`` (CI); anywhere else
the op raises a ValueError rather than silently falling back to eager.
"""

from __future__ import annotations

import functools
import os

import torch
from torch import Tensor

from ..bypass import EQ8_KINDS, FUNCTIONS, project

DTYPES = (torch.float32, torch.bfloat16, torch.float16)
_INT32_LIMIT = 2**31 - 4096  # past this, index arithmetic in the kernels switches to int64


def interpreter_on() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def can_run(t: Tensor) -> bool:
    """Whether the Triton kernels can run on tensors like ``t``: CUDA, or any device under the interpreter."""
    return t.is_cuda or interpreter_on()


def check_can_run(t: Tensor) -> None:
    if not can_run(t):
        raise ValueError(
            f"bypass_impl='triton' needs CUDA tensors, or TRITON_INTERPRET=1 to interpret the kernels on "
            f"the CPU (got {t.device.type} tensors)"
        )


def _kernels():
    """The kernel module, imported on first use: triton.jit fixes interpreted vs native at import."""
    from . import _kernels as k

    if k.INTERPRETED != interpreter_on():
        mode = "interpreted" if k.INTERPRETED else "native"
        raise RuntimeError(
            f"the Triton kernels were built {mode} at first use; TRITON_INTERPRET cannot change after it"
        )
    return k


def _memory_format(t: Tensor) -> torch.memory_format:
    """channels_last if ``t`` is dense in that order (and not also plain contiguous), else contiguous."""
    if t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def _is_dense(t: Tensor) -> bool:
    return t.is_contiguous() or (t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last))


def _check(x: Tensor, residual: Tensor, stride: int) -> None:
    if x.dtype not in DTYPES or residual.dtype != x.dtype:
        raise ValueError(f"bypass_add takes fp32/bf16/fp16 x and F of one dtype ({x.dtype}/{residual.dtype})")
    if x.device != residual.device:
        raise ValueError(f"x and F are on different devices ({x.device}, {residual.device})")
    if stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, got {stride}")
    if x.dim() != 4:
        if stride != 1 or x.shape != residual.shape:
            raise ValueError("bypass_add on a non-4-D x needs stride 1 and F of x's shape")
        return
    n, c, h, w = x.shape
    want = (n, residual.shape[1], -(-h // stride), -(-w // stride))
    if residual.dim() != 4 or tuple(residual.shape) != want or residual.shape[1] < c:
        raise ValueError(f"F has shape {tuple(residual.shape)}; for x {tuple(x.shape)} and stride {stride} "
                         f"it must be (N, C_out >= C_in, ceil(H/stride), ceil(W/stride))")


def _scalar(p: Tensor, device: torch.device) -> Tensor:
    return p.detach().to(device=device, dtype=torch.float32).contiguous()


def _grid(total: int):
    return lambda meta: (triton_cdiv(total, meta["BLOCK"]),)


def triton_cdiv(a: int, b: int) -> int:
    return -(-a // b)


@torch.library.custom_op("breg::bypass_add", mutates_args=())
def bypass_add(x: Tensor, residual: Tensor, alpha: Tensor, beta: Tensor, stride: int) -> Tensor:
    """y = P(H(x; alpha, beta)) + residual in one pass; y has residual's memory format."""
    _check(x, residual, stride)
    check_can_run(x)
    fmt = _memory_format(residual)
    y = torch.empty_like(residual, memory_format=fmt)
    if y.numel() == 0:
        return y
    k = _kernels()
    a, b = _scalar(alpha, x.device), _scalar(beta, x.device)
    idx64 = max(x.numel(), y.numel()) >= _INT32_LIMIT
    if x.dim() != 4:
        x, residual = x.contiguous(), residual.contiguous()
        y = torch.empty_like(residual)
    if x.dim() != 4 or (stride == 1 and x.shape == residual.shape and x.stride() == y.stride() and
                        residual.stride() == y.stride() and _is_dense(x)):
        k.fwd_flat[_grid(y.numel())](x, residual, y, a, b, y.numel(), IDX64=idx64)
        return y
    r = residual.contiguous(memory_format=fmt)
    n, cout, oh, ow = y.shape
    cin, h, w = x.shape[1:]
    k.fwd_proj[_grid(y.numel())](
        x, r, y, a, b, y.numel(), cout, oh, ow, cin, h, w, (cout - cin) // 2, *x.stride(),
        STRIDE2=stride == 2, CL=fmt == torch.channels_last, IDX64=idx64,
    )
    return y


@bypass_add.register_fake
def _(x, residual, alpha, beta, stride):
    _check(x, residual, stride)
    return torch.empty_like(residual, memory_format=_memory_format(residual))


@torch.library.custom_op("breg::bypass_add_backward", mutates_args=())
def bypass_add_backward(grad: Tensor, x: Tensor, alpha: Tensor, beta: Tensor, stride: int
                        ) -> tuple[Tensor, Tensor, Tensor]:
    """(dL/dx, dL/dalpha, dL/dbeta) from dL/dy; the two scalars are fp32 and deterministic."""
    check_can_run(x)
    fmt = _memory_format(x)
    x = x.contiguous(memory_format=fmt)
    dx = torch.empty_like(x, memory_format=fmt)
    if x.numel() == 0:
        return dx, x.new_zeros((), dtype=torch.float32), x.new_zeros((), dtype=torch.float32)
    k = _kernels()
    a, b = _scalar(alpha, x.device), _scalar(beta, x.device)
    total = x.numel()
    idx64 = max(total, grad.numel()) >= _INT32_LIMIT
    # One slot per program of the smallest block; autotune zeroes them per trial (reset_to_zero), so the
    # slots a larger block leaves unused are 0 and the fixed-order sum below is the same for every config.
    slots = triton_cdiv(total, k.MIN_BLOCK)
    pa = torch.zeros(slots, device=x.device, dtype=torch.float32)
    pb = torch.zeros(slots, device=x.device, dtype=torch.float32)
    if x.dim() != 4:
        grad = grad.contiguous()
    if x.dim() != 4 or (stride == 1 and grad.shape == x.shape and grad.stride() == x.stride()):
        k.bwd_flat[_grid(total)](x, grad, dx, a, b, pa, pb, total, IDX64=idx64)
    else:
        cin, h, w = x.shape[1:]
        k.bwd_proj[_grid(total)](
            x, grad, dx, a, b, pa, pb, total, cin, h, w, (grad.shape[1] - cin) // 2, *grad.stride(),
            STRIDE2=stride == 2, CL=fmt == torch.channels_last, IDX64=idx64,
        )
    return dx, pa.sum(dtype=torch.float64).float(), pb.sum(dtype=torch.float64).float()


@bypass_add_backward.register_fake
def _(grad, x, alpha, beta, stride):
    scalar = x.new_empty((), dtype=torch.float32)
    return torch.empty_like(x, memory_format=_memory_format(x)), scalar, torch.empty_like(scalar)


def _setup_context(ctx, inputs, output):
    x, _, alpha, beta, stride = inputs
    ctx.save_for_backward(x, alpha, beta)
    ctx.stride = stride


def _backward(ctx, grad):
    x, alpha, beta = ctx.saved_tensors
    need_x, need_r, need_a, need_b = ctx.needs_input_grad[:4]
    dx = da = db = None
    if need_x or need_a or need_b:
        dx, da, db = torch.ops.breg.bypass_add_backward(grad, x, alpha, beta, ctx.stride)
        da = da.reshape(alpha.shape).to(alpha.dtype) if need_a else None
        db = db.reshape(beta.shape).to(beta.dtype) if need_b else None
    return (dx if need_x else None), (grad if need_r else None), da, db, None


bypass_add.register_autograd(_backward, setup_context=_setup_context)


# ---- the other implementations the Shortcut and the benchmark compare against ---------------------------


def eager_eq8_shortcut(x: Tensor, residual: Tensor, alpha: Tensor, beta: Tensor, stride: int,
                       kind: str = "adaptive") -> Tensor:
    """The eager definition (`breg_models.bypass`), with alpha, beta as tensors: what 'compile' compiles."""
    h = FUNCTIONS[kind].fn(x, alpha.to(x.dtype), beta.to(x.dtype))
    return project(h, residual.shape[1], stride) + residual


@functools.cache
def compiled_eq8_shortcut():
    """torch.compile of `eager_eq8_shortcut`, built once per process (tensor arguments, few recompiles)."""
    return torch.compile(eager_eq8_shortcut)


@functools.cache
def compiled_shortcut(kind: str, params: tuple) -> object:
    """torch.compile of the eager shortcut of a non-Eq. 8 kind with fixed float parameters."""
    fn, p = FUNCTIONS[kind].fn, dict(params)

    def shortcut(x: Tensor, residual: Tensor, stride: int) -> Tensor:
        return project(fn(x, **p), residual.shape[1], stride) + residual

    return torch.compile(shortcut)


# ---- FLOP counting -------------------------------------------------------------------------------------


def fvcore_handle(inputs, outputs):
    """fvcore jit handle for ``breg::bypass_add``: the cost `breg_models.cost` gives the eager shortcut."""
    from fvcore.nn.jit_handles import get_shape

    from ..cost import shortcut_cost

    x_shape, out_shape = tuple(get_shape(inputs[0])), tuple(get_shape(outputs[0]))
    stride = inputs[4].toIValue()
    return shortcut_cost(x_shape, out_shape, int(stride))


FVCORE_HANDLES = {"breg::bypass_add": fvcore_handle}

__all__ = [
    "DTYPES", "EQ8_KINDS", "FVCORE_HANDLES", "bypass_add", "bypass_add_backward", "can_run", "check_can_run",
    "compiled_eq8_shortcut", "compiled_shortcut", "eager_eq8_shortcut", "fvcore_handle", "interpreter_on",
]
