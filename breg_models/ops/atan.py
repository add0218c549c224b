"""atan for Triton kernels from plain ``tl`` arithmetic.

``libdevice.atan`` is unavailable under ``TRITON_INTERPRET=1`` (the CPU interpreter CI runs), so the
fused bypass kernels compute atan themselves, as CUDA's own atanf does: one reduction, |t| > 1 ->
pi/2 - atan(1/|t|), and a minimax polynomial in t^2 on [0, 1]. The constants are written inline because
Triton only accepts ``constexpr`` globals inside a kernel.

The reciprocal is `recip_pos` (rsqrt squared: 2 instructions natively, relative error <= 3.3e-7) rather
than IEEE division (a dozen instructions and a slow-path call) or ``div.full`` (~8). On the reduced branch
atan(t) moves by at most t/(1+t^2) <= 1/2 of t's relative error while the result is >= pi/4, so the GPU
stays within 4.6 fp32 ulps of float64 atan (derived; 3.9 measured with a worse reciprocal);
tests/breg_models/test_tl_atan.py gives the derivation, measures the interpreted kernel, and runs it with the
reciprocal perturbed beyond rsqrt.approx's worst error either way.
"""

import triton
import triton.language as tl


@triton.jit
def recip_pos(v):
    """1/v for v > 0 (or +inf) as rsqrt(v)^2: one MUFU.RSQ and a multiply natively (rsqrt.approx, relative
    error <= 2^-22.9, so <= 3.3e-7 after squaring); a fraction of ``div.full``'s ~8 instructions."""
    r = tl.math.rsqrt(v)
    return r * r


@triton.jit
def atan_poly(u, HALF: tl.constexpr):
    """P(u) with atan(t) = t + t^3 P(t^2) on |t| <= 1; atan(t)/t = 1 + u P(u) needs no divide.

    Minimax in relative error of atan (Lawson-weighted least squares in float64, fitted for this project) with
    P(0) pinned to fp32(-1/3), atan's own. The Eq. 8 backward takes dH/dalpha from 1/(1+u) + P, which tends to
    1 + P(0) = 2/3 as x -> 0: unpinned fits were off there by 2.7e-6 (fp32) and 3.7e-4 (degree 4), a bias shared
    by every term of a dL/dalpha sum over small x. Pinned, 1/(1+u) + P is within 4e-8 (fp32) / 2.7e-7
    (degree 4) of float64 at u <= 1e-4, and within 7.2e-7 / 1.2e-4 anywhere on [0, 1] (unpinned: 2.7e-6 /
    3.7e-4). Degree 7 for fp32 storage: atan within 1.3 fp32 ulp after fp32 Horner (1.13 with FMA). Degree 4,
    three FMAs fewer, when the result is stored as bf16/fp16: atan within 9.3e-6 relative (unpinned 5.0e-6),
    1/50 of fp16's half ulp and 1/400 of bf16's, so stored outputs do not move; a pinned degree 5 (1.3e-6)
    would cost every bf16/fp16 kernel an FMA per element (bwd_proj NCHW stride 2: 20 -> 16 resident warps).
    """
    if HALF:
        p = 0.06486950814723969 + u * -0.01632712222635746
        p = -0.12802273035049438 + u * p
        p = 0.19820456206798553 + u * p
        return -0.3333333432674408 + u * p
    p = -0.017795026302337646 + u * 0.003266384359449148
    p = 0.04561806842684746 + u * p
    p = -0.07764868438243866 + u * p
    p = 0.10770946741104126 + u * p
    p = -0.14239414036273956 + u * p
    p = 0.19997546076774597 + u * p
    return -0.3333333432674408 + u * p


@triton.jit
def atan_parts(az, HALF: tl.constexpr):
    """For az = |z| (or NaN): (a, P, p, reduced) with atan(az) = pi/2 - a if ``reduced`` else a.

    a = atan(t) = t + t p with t = 1/az if az > 1 (``reduced``) else az, u = t^2, P = P(u), p = u P; so on
    the unreduced range atan(az)/az = 1 + p, which the Eq. 8 kernels use directly (no 1/alpha near
    alpha = 0), and on the reduced one the caller folds pi/2 and the sign into one multiply-add. NaN
    propagates (the comparison is false, the polynomial of NaN is NaN); +inf gives a = 0.
    """
    reduced = az > 1.0
    t = tl.where(reduced, recip_pos(az), az)
    u = t * t
    P = atan_poly(u, HALF)
    p = u * P
    return t + t * p, P, p, reduced


@triton.jit
def atan(x, HALF: tl.constexpr = False):
    """atan of any x (odd: the sign is put back on atan(|x|)); pi/2 is fp32's (0.23 ulp off)."""
    a, _, _, reduced = atan_parts(tl.abs(x), HALF)
    r = tl.where(reduced, 1.5707963267948966 - a, a)
    return tl.where(x < 0, -r, r)
