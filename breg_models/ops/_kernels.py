"""Triton kernels of the fused shortcut y = P(H(x; alpha, beta)) + F (BReG-NeXt Eq. 8).

Two cases, one forward and one backward kernel each:
- flat: stride 1, same shape and strides for x and F (every ordinary unit): one elementwise pass;
- proj: any 4-D case, in particular the down-sampling units (2x2 ceil-mode average pool, then symmetric
  channel zero-padding). The forward runs over output elements, each reading its <= 4 x cells; the
  backward runs over x elements, each reading its one dy cell (divided by the cells in its window).

Arithmetic is fp32 whatever the storage dtype. dL/dalpha and dL/dbeta are reduced per program into a
buffer (one slot per program, no atomics) that the caller sums in a fixed order, so they are identical bit
for bit from run to run. This module is imported lazily, on the first launch: ``triton.jit`` decides at
decoration time whether it builds interpreted kernels (``TRITON_INTERPRET=1``) or native ones.
"""

import os

import torch
import triton
import triton.language as tl

from .atan import atan, atan_poly

INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") == "1"


def _configs() -> list:
    # Without a GPU the autotuner cannot benchmark ("0 active drivers"): one config, and a large block
    # because the interpreter's cost is per program, not per element.
    if INTERPRETED or not torch.cuda.is_available():
        return [triton.Config({"BLOCK": 1024}, num_warps=4)]
    return [triton.Config({"BLOCK": b}, num_warps=w) for b, w in ((512, 4), (1024, 4), (2048, 8), (4096, 8))]


CONFIGS = _configs()
MIN_BLOCK = min(c.kwargs["BLOCK"] for c in CONFIGS)  # sizes the partial-sum buffers for any config


@triton.jit
def _scalars(alpha_ptr, beta_ptr):
    """Per-program constants of Eq. 8; 1/alpha is only used where |z| is large, hence alpha != 0."""
    alpha = tl.load(alpha_ptr).to(tl.float32)
    beta = tl.load(beta_ptr).to(tl.float32)
    s2 = beta * beta + 1.0
    rs = 1.0 / tl.sqrt_rn(s2)
    inv_alpha = 1.0 / tl.where(alpha == 0.0, 1.0, alpha)
    return alpha, beta, s2, rs, 1.0 / s2, inv_alpha


@triton.jit
def _eq8(x, alpha, rs, inv_s2, inv_alpha):
    """H = x/s^2 * atan(z)/z for |z| <= tan(pi/8) (finite at alpha = 0), else atan(z) / (alpha s).

    ``x - x`` turns +-inf into NaN as the eager reference does (it evaluates inf * 0 there).
    """
    z = alpha * x * rs
    u = z * z
    h_small = x * inv_s2 * (1.0 + u * atan_poly(u))
    h_large = atan(z) * (rs * inv_alpha) + (x - x)
    return tl.where(tl.abs(z) <= 0.41421356237309503, h_small, h_large)


@triton.jit
def _q_poly(u):
    """q(z) = (1/(1+z^2) - atan(z)/z) / z^2 as a polynomial in u = z^2, minimax on |z| <= 0.75 (< 2 ulp).

    The direct form cancels as z -> 0, so dH/dalpha = alpha x^3 / s^4 q(z) uses this below |z| = 0.75.
    """
    p = -0.4554595947265625 + u * 0.14039060473442078
    p = 0.7397336363792419 + u * p
    p = -0.8661876916885376 + u * p
    p = 0.8831512928009033 + u * p
    p = -0.856753945350647 + u * p
    p = 0.7999897003173828 + u * p
    return -0.6666666269302368 + u * p


@triton.jit
def _eq8_grads(x, alpha, beta, s2, rs, inv_s2, inv_alpha):
    """(dH/dx, dH/dalpha, dH/dbeta), each with no 1/alpha near alpha = 0 and no needless overflow."""
    ax = alpha * x
    z = ax * rs
    h = _eq8(x, alpha, rs, inv_s2, inv_alpha)
    hp = 1.0 / (ax * ax + s2)  # (alpha x)^2 first: alpha^2 alone can underflow
    xhp = x * hp
    xs = x * inv_s2
    da = tl.where(tl.abs(z) < 0.75, (ax * xs) * xs * _q_poly(z * z), (xhp - h) * inv_alpha)
    db = -beta * inv_s2 * (xhp + h)
    return hp, da, db


@triton.jit
def _block(IDX64: tl.constexpr, BLOCK: tl.constexpr, total):
    """This program's element indices (int64 when the tensor is past int32 range) and their bounds mask."""
    pid = tl.program_id(0)
    if IDX64:
        pid = pid.to(tl.int64)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    return offs, offs < total


@triton.autotune(configs=CONFIGS, key=["n"])
@triton.jit
def fwd_flat(x_ptr, r_ptr, y_ptr, alpha_ptr, beta_ptr, n, IDX64: tl.constexpr, BLOCK: tl.constexpr):
    alpha, beta, s2, rs, inv_s2, inv_alpha = _scalars(alpha_ptr, beta_ptr)
    offs, mask = _block(IDX64, BLOCK, n)
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    r = tl.load(r_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    y = _eq8(x, alpha, rs, inv_s2, inv_alpha) + r
    tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.autotune(configs=CONFIGS, key=["n"], reset_to_zero=["pa_ptr", "pb_ptr"])
@triton.jit
def bwd_flat(x_ptr, g_ptr, dx_ptr, alpha_ptr, beta_ptr, pa_ptr, pb_ptr, n,
             IDX64: tl.constexpr, BLOCK: tl.constexpr):
    alpha, beta, s2, rs, inv_s2, inv_alpha = _scalars(alpha_ptr, beta_ptr)
    offs, mask = _block(IDX64, BLOCK, n)
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    hp, da, db = _eq8_grads(x, alpha, beta, s2, rs, inv_s2, inv_alpha)
    tl.store(dx_ptr + offs, (g * hp).to(dx_ptr.dtype.element_ty), mask=mask)
    tl.store(pa_ptr + tl.program_id(0), tl.sum(tl.where(mask, g * da, 0.0), axis=0))
    tl.store(pb_ptr + tl.program_id(0), tl.sum(tl.where(mask, g * db, 0.0), axis=0))


@triton.jit
def _unravel(i, C, H, W, CL: tl.constexpr):
    """(n, c, h, w) of linear index i of a dense (N, C, H, W) tensor, NCHW or channels_last order."""
    if CL:
        c = i % C
        t = i // C
        w = t % W
        t = t // W
        h = t % H
        n = t // H
    else:
        w = i % W
        t = i // W
        h = t % H
        t = t // H
        c = t % C
        n = t // C
    return n, c, h, w


@triton.autotune(configs=CONFIGS, key=["total", "Cin", "H", "W"])
@triton.jit
def fwd_proj(x_ptr, r_ptr, y_ptr, alpha_ptr, beta_ptr, total, C, OH, OW, Cin, H, W, pad,
             sxn, sxc, sxh, sxw, STRIDE2: tl.constexpr, CL: tl.constexpr, IDX64: tl.constexpr,
             BLOCK: tl.constexpr):
    alpha, beta, s2, rs, inv_s2, inv_alpha = _scalars(alpha_ptr, beta_ptr)
    i, mask = _block(IDX64, BLOCK, total)
    n, c, oh, ow = _unravel(i, C, OH, OW, CL)
    ci = c - pad
    inside = mask & (ci >= 0) & (ci < Cin)  # output channels outside [pad, pad + Cin) are F alone
    base = x_ptr + n * sxn + ci * sxc
    if STRIDE2:
        acc = tl.zeros([BLOCK], dtype=tl.float32)
        for dh in tl.static_range(2):
            for dw in tl.static_range(2):
                hh = 2 * oh + dh
                ww = 2 * ow + dw
                ok = inside & (hh < H) & (ww < W)
                v = tl.load(base + hh * sxh + ww * sxw, mask=ok, other=0.0).to(tl.float32)
                acc += tl.where(ok, _eq8(v, alpha, rs, inv_s2, inv_alpha), 0.0)
        # ceil_mode: the last window averages only the cells it covers, as F.avg_pool2d does
        cnt = tl.minimum(H - 2 * oh, 2) * tl.minimum(W - 2 * ow, 2)
        hval = acc / tl.maximum(cnt, 1).to(tl.float32)
    else:
        v = tl.load(base + oh * sxh + ow * sxw, mask=inside, other=0.0).to(tl.float32)
        hval = _eq8(v, alpha, rs, inv_s2, inv_alpha)
    r = tl.load(r_ptr + i, mask=mask, other=0.0).to(tl.float32)
    y = tl.where(inside, hval, 0.0) + r
    tl.store(y_ptr + i, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.autotune(configs=CONFIGS, key=["total", "Cin", "H", "W"], reset_to_zero=["pa_ptr", "pb_ptr"])
@triton.jit
def bwd_proj(x_ptr, g_ptr, dx_ptr, alpha_ptr, beta_ptr, pa_ptr, pb_ptr, total, Cin, H, W, pad,
             sgn, sgc, sgh, sgw, STRIDE2: tl.constexpr, CL: tl.constexpr, IDX64: tl.constexpr,
             BLOCK: tl.constexpr):
    alpha, beta, s2, rs, inv_s2, inv_alpha = _scalars(alpha_ptr, beta_ptr)
    i, mask = _block(IDX64, BLOCK, total)
    n, ci, h, w = _unravel(i, Cin, H, W, CL)
    if STRIDE2:
        oh = h // 2
        ow = w // 2
        cnt = tl.maximum(tl.minimum(H - 2 * oh, 2) * tl.minimum(W - 2 * ow, 2), 1).to(tl.float32)
    else:
        oh = h
        ow = w
        cnt = 1.0
    g = tl.load(g_ptr + n * sgn + (ci + pad) * sgc + oh * sgh + ow * sgw, mask=mask, other=0.0)
    g = g.to(tl.float32) / cnt
    x = tl.load(x_ptr + i, mask=mask, other=0.0).to(tl.float32)
    hp, da, db = _eq8_grads(x, alpha, beta, s2, rs, inv_s2, inv_alpha)
    tl.store(dx_ptr + i, (g * hp).to(dx_ptr.dtype.element_ty), mask=mask)
    tl.store(pa_ptr + tl.program_id(0), tl.sum(tl.where(mask, g * da, 0.0), axis=0))
    tl.store(pb_ptr + tl.program_id(0), tl.sum(tl.where(mask, g * db, 0.0), axis=0))
