"""Eq. 8 on the eager (CPU) training path: one autograd Function that saves x alone.

Autograd through the float64-safe definition (`breg_models.eq8.eq8`, a Taylor series under ``torch.where``)
keeps every intermediate of a ~40-op graph: a BReG-NeXt-50 training step took 1.9x the time and 2.4x the
peak memory of the printed formula. Here the forward is seven elementwise passes (two new tensors) that keep
nothing, and the backward recomputes what it needs from x in place, chunk by chunk, in the kernels' form
(`breg_models.ops._kernels._eq8_grads`). With s^2 = beta^2 + 1, z = alpha x / s, u = z^2, H' = 1 / (alpha^2 x^2
+ s^2) and atan(z) / z = 1 + u P(u) on u <= 1:

    H         = x / s^2 atan(|z|) / |z|, |z| raised to 2^-64 (no 0/0 at alpha = 0 or x = 0; no 1/alpha)
    dH/dx     = H'                                 (Eq. 9)
    dH/dbeta  = -beta / s^2 (x H' + H)
    dH/dalpha = -(alpha x)(x / s^2)^2 (s^2 H' + P)   on u <= 1: no 1/alpha, no cancellation (-> 2/3 at x = 0)
              = (x H' - H) / alpha                  on u > 1, where nothing cancels and alpha != 0

Arithmetic is fp32 for fp32/bf16/fp16 x: a dH/dalpha term is within ~10 fp32 eps of float64 (P: 2.8e-7 after
fp32 Horner; the direct form cancels by at most 2.75x at u = 1), H and dH/dx within a few; each chunk's scalar
sums are torch's cascade sums, added in float64. float64 x takes the u <= 1 branch from the reference's series
(`atanc`, `eq8_q`) instead of P, so a float64 gradcheck checks the same code at float64 accuracy. A second
derivative (create_graph) differentiates the reference definition. Pure torch, so any device, though on CUDA
the fused op runs instead.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .eq8 import atanc, eq8, eq8_q

_ATANC_ONE = 2.0**-64  # below this |z|, atan(z) / z is 1 in fp32 and float64 alike
# Backward elements per step: 9 fp32 buffers of 2^18 (9 MB) stay in the last-level cache, which made a
# BReG-NeXt-50 step at 1 thread 0.99x the printed formula's time against 1.17x with 2^22-element steps. The
# price is ~35 parallel regions per 2^18 elements: on a machine whose other load preempts threads, each region
# can wait a scheduler slice for one of them (a 2^23-element unit, 2 threads under load: 12x the formula's time
# at 2^18, 1.1x at 2^22), where the formula's ~20 regions per unit lose little.
_CHUNK = 1 << 18
# P(u) on [0, 1], P(0) = -1/3 pinned: minimax in relative error of q = -(1/(1+u) + P) = dH/dalpha / (alpha x^3 / s^4),
# fitted for this project (Lawson-weighted least squares in float64): 3.1e-8, 2.8e-7 after fp32 Horner.
_P = (-0.3333333432674408, 0.1999986171722412, -0.142801895737648, 0.11043338477611542, -0.08687005937099457,
      0.0630422905087471, -0.03642692044377327, 0.01381195429712534, -0.0024558824952691793)


class _Scalars(NamedTuple):
    na: Tensor  # -alpha
    inv_a: Tensor  # 1 / alpha, 1 at alpha = 0 (only |z| > 1 uses it, where alpha != 0)
    b: Tensor  # beta
    s2: Tensor  # beta^2 + 1
    inv_s2: Tensor
    cz: Tensor  # alpha / s: z = cz x


def _scalars(alpha: Tensor, beta: Tensor, dtype: torch.dtype) -> _Scalars:
    a, b = alpha.detach().to(dtype), beta.detach().to(dtype)
    s2 = b * b + 1
    inv_s2 = 1 / s2
    return _Scalars(-a, torch.where(a == 0, 1.0, 1 / a), b, s2, inv_s2, a * torch.sqrt(inv_s2))


def _compute_dtype(x: Tensor) -> torch.dtype:
    return torch.promote_types(x.dtype, torch.float32)


def _dense(t: Tensor) -> Tensor:
    """``t`` if its elements fill one block of memory (NCHW or channels_last), else a contiguous copy."""
    if t.is_contiguous() or (t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last)):
        return t
    return t.contiguous()


def _memory_order(t: Tensor) -> Tensor:
    """A dense tensor's elements as a 1-D view in memory order: elementwise maths need no other."""
    return t.as_strided((t.numel(),), (1,), t.storage_offset())


class Eq8Function(torch.autograd.Function):
    """H of Eq. 8 with the closed-form backward; `eq8_function` is its call."""

    @staticmethod
    def forward(ctx, x: Tensor, alpha: Tensor, beta: Tensor) -> Tensor:
        c = _scalars(alpha, beta, _compute_dtype(x))
        xc = x.to(c.cz.dtype)
        az = torch.mul(xc, c.cz).abs_().clamp_min_(_ATANC_ONE)  # atanc is even, and 1 below 2^-64: no 0/0
        h = torch.atan(az).div_(az).mul_(xc).mul_(c.inv_s2)  # H = x / s^2 atanc(z); NaN at x = +-inf, as eq8
        ctx.save_for_backward(x, alpha, beta)
        return h.to(x.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, alpha, beta = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: a differentiable backward, through the reference
            return _reference_backward(ctx.needs_input_grad, x, alpha, beta, grad)
        need_x, need_a, need_b = ctx.needs_input_grad
        c = _scalars(alpha, beta, _compute_dtype(x))
        x = _dense(x)
        if grad.stride() != x.stride():
            grad = torch.empty_like(x).copy_(grad)
        dx = torch.empty_like(x)
        sums = [] if need_a or need_b else None
        xf, gf, dxf = _memory_order(x), _memory_order(grad), _memory_order(dx)
        width = min(xf.numel(), _CHUNK)
        buffers = torch.empty((9, width), dtype=c.cz.dtype, device=x.device)
        small = torch.empty(width, dtype=torch.bool, device=x.device)
        coefs = [torch.tensor(coef, dtype=c.cz.dtype) for coef in (1.0, *_P)]
        for start in range(0, xf.numel(), _CHUNK):
            part = slice(start, start + _CHUNK)
            _backward_chunk(xf[part], gf[part], dxf[part], c, coefs, buffers, small, sums)
        da = db = None
        if sums is not None:  # (sum dy dH/dalpha, sum dy (x H' + H)) in float64, chunk by chunk in order
            total = torch.stack(sums).sum(dim=0) if sums else torch.zeros(2, dtype=torch.float64, device=x.device)
            da = total[0].to(alpha.dtype).reshape(alpha.shape) if need_a else None
            db = (total[1] * (-c.b / c.s2)).to(beta.dtype).reshape(beta.shape) if need_b else None
        return (dx if need_x else None), da, db


def _backward_chunk(x: Tensor, g: Tensor, dx: Tensor, c: _Scalars, coefs: list, buffers: Tensor, small: Tensor,
                    sums: list | None) -> None:
    """dx = g H' for one chunk and, if ``sums`` is a list, appends its (sum g dH/dalpha, sum g (x H' + H)) as
    float64: torch's cascade sums of a chunk's terms (within ~log2(chunk) eps / 2 at worst), added in float64.
    Every intermediate is a row of ``buffers``, written in place; ``coefs`` are 1 and `_P` as tensors."""
    n = x.numel()
    nax, v, e, z, d, p, w, xc, gc = (row[:n] for row in buffers)
    small = small[:n]
    ct = c.cz.dtype
    if x.dtype != ct:  # bf16/fp16 storage: fp32 arithmetic
        x, g = xc.copy_(x), gc.copy_(g)
    torch.mul(x, c.na, out=nax)
    torch.addcmul(c.s2, nax, nax, out=v)  # alpha^2 x^2 + s^2 as (alpha x)^2 + s^2: alpha^2 alone can underflow
    dxc = torch.div(g, v, out=dx if dx.dtype == ct else w)  # Eq. 9
    if dxc is not dx:
        dx.copy_(dxc)
    if sums is None:
        return
    torch.mul(x, dxc, out=e)  # g x H'
    hp = v.reciprocal_()
    torch.mul(x, c.cz, out=z)
    if ct == torch.float64:  # the reference's series in place of P: float64 accuracy
        atanc_small, mq = atanc(z), eq8_q(z).neg_()
    direct = torch.atan(z, out=d).div_(z)  # atan(z) / z, used where |z| > 1
    u = z.square_()
    torch.le(u, 1, out=small)
    if ct != torch.float64:
        mq = p.fill_(_P[-1])
        for coef in reversed(coefs[1:-1]):
            torch.addcmul(coef, mq, u, out=mq)  # Horner: P(u)
        atanc_small = torch.addcmul(coefs[0], u, mq, out=w)  # 1 + u P
        mq.addcmul_(hp, c.s2)  # s^2 H' + P = 1/(1+u) + P = -q
    atc = torch.where(small, atanc_small, direct, out=d)
    xs = torch.mul(x, c.inv_s2, out=z)
    h = torch.mul(atc, xs, out=w)  # H = x / s^2 atanc(z)
    sum_b = torch.addcmul(e, h, g, out=d).sum()  # sum g (x H' + H)
    # -(alpha x)(x / s^2)^2 (s^2 H' + P), alpha x first: 0 at alpha = 0 even where (x / s^2)^2 overflows
    t_small = torch.mul(nax, xs, out=d).mul_(xs).mul_(mq)
    t_large = h.neg_().addcmul_(x, hp).mul_(c.inv_a)  # (x H' - H) / alpha
    sum_a = torch.where(small, t_small, t_large, out=t_small).mul_(g).sum()
    sums.append(torch.stack((sum_a, sum_b)).to(torch.float64))


def _reference_backward(needs: tuple, x: Tensor, alpha: Tensor, beta: Tensor, grad: Tensor) -> tuple:
    """The vector-Jacobian product of the reference definition, differentiable again (double backward)."""
    inputs = [t for t, need in zip((x, alpha, beta), needs, strict=True) if need]
    h = eq8(x, alpha.to(x.dtype), beta.to(x.dtype))
    grads = iter(torch.autograd.grad(h, inputs, grad, create_graph=True))
    return tuple(next(grads) if need else None for need in needs)


def eq8_function(x: Tensor, alpha: Tensor, beta: Tensor) -> Tensor:
    """H of Eq. 8 (alpha, beta 0-d tensors, any float dtype), differentiable in x, alpha and beta."""
    return Eq8Function.apply(x, alpha, beta)
