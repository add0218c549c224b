"""atan for Triton kernels from plain ``tl`` arithmetic.

``libdevice.atan`` is unavailable under ``TRITON_INTERPRET=1`` (the CPU interpreter CI runs), so the
fused bypass kernels compute atan themselves: a three-way range reduction onto |t| <= tan(pi/8) and a
degree-4 (in t^2) minimax polynomial fitted for this project (Lawson-weighted least squares in float64,
relative error 0.01 fp32 ulp before rounding). Over the whole float range the result stays within a few
fp32 ulps of float64 atan (tests/breg_models/test_tl_atan.py). The constants are written inline because
Triton only accepts ``constexpr`` globals inside a kernel.
"""

import triton
import triton.language as tl

TAN_PI_8 = 0.41421356237309503  # reduction boundary; also where `atanc` switches to its polynomial


@triton.jit
def atan_poly(u):
    """P(u) with atan(t) = t + t^3 P(t^2) on |t| <= tan(pi/8); so atan(t)/t = 1 + u P(u) needs no divide."""
    p = 0.1059381365776062 + u * -0.060782209038734436
    p = -0.14243532717227936 + u * p
    p = 0.19998471438884735 + u * p
    return -0.33333316445350647 + u * p


@triton.jit
def atan(x):
    """fp32 atan: |x| > tan(3pi/8) -> pi/2 + atan(-1/|x|), |x| > tan(pi/8) -> pi/4 + atan((|x|-1)/(|x|+1)).

    pi/2 and pi/4 are split into a hi and lo part so their fp32 rounding (0.4 ulp) does not add to the error.
    NaN propagates (both comparisons are false, the polynomial of NaN is NaN); +-inf gives +-pi/2.
    """
    ax = tl.abs(x)
    big = ax > 2.414213562373095
    mid = ax > 0.41421356237309503
    den = tl.where(big, ax, tl.where(mid, ax + 1.0, 1.0))  # never 0: no spurious inf in the unused lanes
    num = tl.where(big, -1.0, tl.where(mid, ax - 1.0, ax))
    t = tl.where(big | mid, tl.math.div_rn(num, den), ax)
    hi = tl.where(big, 1.5707963705062866, tl.where(mid, 0.7853981852531433, 0.0))
    lo = tl.where(big, -4.371139006309477e-08, tl.where(mid, -2.1855695031547384e-08, 0.0))
    u = t * t
    r = hi + (lo + (t + t * u * atan_poly(u)))
    return tl.where(x < 0, -r, r)
