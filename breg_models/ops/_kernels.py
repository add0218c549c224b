"""Triton kernels of the fused shortcut y = P(H(x; alpha, beta)) + F (BReG-NeXt Eq. 8).

- flat (stride 1, x, F and y of one shape and one dense layout, i.e. every ordinary unit): one elementwise
  pass forward (`fwd_flat`) and backward (`bwd_flat`).
- proj (any other 4-D case, in particular the down-sampling units: 2x2 ceil-mode average pool, then
  symmetric channel zero-padding): the grid is (N x rows, channel tiles, column tiles), so a program's n and
  row come from one scalar div/mod and its lanes need none. `fwd_proj` writes only the output channels
  that face x (Eq. 8 is never evaluated for padded ones); `fwd_pad` copies F into the padded channels;
  `bwd_proj` runs over x's cells, each reading its one dy cell (times 1/cells in its window, a power of 2).
  A tile is BC channels x BW columns with BW the output width's (4, 8, 16 or 32) and BC raised to keep its
  element count, so the narrow rows of the later down-sampling units do not leave most lanes masked
  (`bypass_add_op.tile_config`, one config per shape).
- dL/dalpha, dL/dbeta: each backward program stores one partial of each; the last program to finish (one
  atomic ticket) sums them in float64 in a fixed order and writes the two scalars, so a backward is one launch.
  With one fixed config per launch shape (no autotuning) the programs, their reduction trees and that order
  never change, so the two scalars are identical bit for bit from run to run and process to process.

Arithmetic is fp32 whatever the storage dtype. Per element, reciprocals are `recip_pos` (rsqrt squared);
only the per-program constants use IEEE division. Each kernel's launch config is its `KernelSpec` in `SPECS`, which is
also what ``python -m bench.kernel_aot`` compiles natively for sm_90/sm_80 and gates (registers, spills,
vector width, static issue time against memory time). This module is imported lazily, on the first launch:
``triton.jit`` decides at decoration time whether it builds interpreted (``TRITON_INTERPRET=1``) or native
kernels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import triton
import triton.language as tl

from .atan import atan_parts, recip_pos
from .compile_options import launch_options

INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") == "1"


@triton.jit
def _params(alpha_ptr, beta_ptr):
    """Per-program constants of Eq. 8 (IEEE divisions: once per program, off the per-element path).

    (alpha, s2 = beta^2 + 1, 1/s2, c_z = alpha / s, k = 1 / (alpha s), 1/alpha, c_db = -beta / s2); 1/alpha is
    only used where |z| > tan(pi/8), hence alpha != 0, and is guarded so alpha = 0 gives no inf.
    """
    alpha = tl.load(alpha_ptr).to(tl.float32)
    beta = tl.load(beta_ptr).to(tl.float32)
    s2 = beta * beta + 1.0
    inv_s2 = tl.math.div_rn(1.0, s2)
    rs = tl.sqrt_rn(inv_s2)
    inv_alpha = tl.math.div_rn(1.0, tl.where(alpha == 0.0, 1.0, alpha))
    return alpha, s2, inv_s2, alpha * rs, rs * inv_alpha, inv_alpha, -beta * inv_s2


@triton.jit
def _eq8(x, c_z, k, inv_s2, HALF: tl.constexpr, INF_NAN: tl.constexpr = True):
    """(H, P, p, reduced, x/s^2) of Eq. 8 at x; P, p, reduced as `atan_parts` gives them for z = alpha x / s.

    |z| <= 1: H = x/s^2 (1 + p), finite at alpha = 0; else H = sk (pi/2 - a) with sk = sign(z) k, as one
    multiply-add whose addend also carries ``x - x`` (INF_NAN), which turns +-inf into NaN as the eager
    reference does (it evaluates inf * 0 there); the gradients get their NaN there from x H' = inf * 0 and
    skip it. HALF: the result is stored as bf16/fp16, so the shorter polynomial will do.
    """
    z = x * c_z
    a, P, p, reduced = atan_parts(tl.abs(z), HALF)
    sign = z.to(tl.uint32, bitcast=True) & 0x80000000  # sk = sign(z) k as one LOP3, not a compare and select
    sk = (k.to(tl.uint32, bitcast=True) ^ sign).to(tl.float32, bitcast=True)
    if INF_NAN:
        h_large = (sk * 1.5707963267948966 + (x - x)) - sk * a
    else:
        h_large = sk * 1.5707963267948966 - sk * a
    xs = x * inv_s2
    return tl.where(reduced, h_large, xs + xs * p), P, p, reduced, xs


@triton.jit
def _eq8_grads(x, alpha, s2, c_z, k, inv_s2, inv_alpha, c_db, HALF: tl.constexpr):
    """(dH/dx, dH/dalpha, dH/dbeta) with no 1/alpha near alpha = 0 and no needless overflow.

    dH/dalpha = (x H' - H) / alpha cancels as z -> 0; on the unreduced range it is rewritten with the atan
    polynomial's own P: x H' - H = -x/s^2 u (1/(1+u) + P) and u/alpha = alpha x^2/s^2, so it is
    -(alpha x)(x/s^2)(x/s^2)(H' s^2 + P), which does not cancel (1/(1+u) + P >= 0.28 on |z| <= 1) and tends to
    exactly 2/3 as x -> 0 (`atan_poly` pins P(0) = -1/3); natively, the reciprocal H' adds at most 2 ulp (fp32,
    div.full) or 3.3e-7 (bf16/fp16, rsqrt.approx squared) there. dH/dbeta = -beta/s^2 (x H' + H) is distributed
    so that neither sum can overflow where the result is finite.
    """
    h, P, p, reduced, xs = _eq8(x, c_z, k, inv_s2, HALF, INF_NAN=False)
    ax = alpha * x
    v = ax * ax + s2  # (alpha x)^2 first: alpha^2 alone can underflow
    if HALF:
        hp = recip_pos(v)
    else:  # fp32 dx feeds every earlier layer: div.full (<= 2 ulp) keeps it as close as eager's
        hp = 1.0 / v
    xhp = x * hp
    da = tl.where(reduced, (xhp - h) * inv_alpha, -(ax * xs) * xs * (hp * s2 + P))
    db = c_db * xhp + c_db * h
    return hp, da, db


@triton.jit
def _block(IDX64: tl.constexpr, BLOCK: tl.constexpr, total):
    """This program's element indices (int64 when offsets can pass int32) and their bounds mask."""
    pid = tl.program_id(0)
    if IDX64:
        pid = pid.to(tl.int64)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    return offs, offs < total


@triton.jit
def fwd_flat(x_ptr, r_ptr, y_ptr, alpha_ptr, beta_ptr, n, IDX64: tl.constexpr, BLOCK: tl.constexpr):
    alpha, s2, inv_s2, c_z, k, inv_alpha, c_db = _params(alpha_ptr, beta_ptr)
    offs, mask = _block(IDX64, BLOCK, n)
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    r = tl.load(r_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    h, _, _, _, _ = _eq8(x, c_z, k, inv_s2, HALF=x_ptr.dtype.element_ty != tl.float32)
    tl.store(y_ptr + offs, (h + r).to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _finish_scalar_grads(part_ptr, count_ptr, da_ptr, db_ptr, sum_a, sum_b, pid, nprog, RBLOCK: tl.constexpr):
    """Store this program's two partials; the program that draws the last ticket sums all of them.

    The partials go to part[pid] and part[half + pid], half = nprog rounded up to 4 (`partials_size`), so both
    halves start 16-byte aligned. The barrier makes every thread's stores precede the ticket in the CTA (Triton
    lets one thread store a scalar, another may take the atomic); the ticket is one acq_rel, gpu-scope atomic
    add, so each program's stores are released with it and the last program, which reads every earlier
    ticket's value, acquires them all. It sums each half in float64 in a fixed order (the accumulator's slot j
    takes the partials j, j + RBLOCK, ... in turn, then one fixed tree), so the scalars are identical bit for bit
    whichever program came last, and sets the counter back to 0 for the next launch on the stream (stream order
    makes that store precede the next launch's tickets). The loads take whole aligned quads of partials (128-bit)
    and zero the slots past nprog, which no program wrote.
    """
    half = (nprog + 3) // 4 * 4
    tl.store(part_ptr + pid, sum_a)
    tl.store(part_ptr + half + pid, sum_b)
    tl.debug_barrier()
    ticket = tl.atomic_add(count_ptr, 1, sem="acq_rel", scope="gpu")
    if ticket == nprog - 1:
        quads = tl.arange(0, RBLOCK // 4)[:, None] * 4
        acc_a = tl.zeros([RBLOCK // 4, 4], dtype=tl.float64)
        acc_b = tl.zeros([RBLOCK // 4, 4], dtype=tl.float64)
        start = 0
        while start < nprog:  # not range(0, nprog, ...): Triton 3.6's interpreter cannot take a runtime bound
            first = start // RBLOCK * RBLOCK + quads  # = start + quads, written so the compiler sees 4 | first
            i = first + tl.arange(0, 4)[None, :]
            quad = tl.broadcast_to(first < nprog, [RBLOCK // 4, 4])
            # .cg: cached in L2 only. L2 is where the other SMs' stores land; this SM's L1 is not coherent with
            # them, and a line of part it held (or a compiler that did not invalidate L1 for every thread on
            # the acquire) would give a stale partial. Read once each, so L1 would buy nothing anyway.
            va = tl.load(part_ptr + i, mask=quad, other=0.0, cache_modifier=".cg")
            vb = tl.load(part_ptr + half + i, mask=quad, other=0.0, cache_modifier=".cg")
            acc_a += tl.where(i < nprog, va, 0.0).to(tl.float64)
            acc_b += tl.where(i < nprog, vb, 0.0).to(tl.float64)
            start += RBLOCK
        tl.store(da_ptr, tl.sum(tl.sum(acc_a, axis=1), axis=0).to(tl.float32))
        tl.store(db_ptr, tl.sum(tl.sum(acc_b, axis=1), axis=0).to(tl.float32))
        tl.store(count_ptr, 0)


@triton.jit
def bwd_flat(x_ptr, g_ptr, dx_ptr, alpha_ptr, beta_ptr, part_ptr, count_ptr, da_ptr, db_ptr, n,
             IDX64: tl.constexpr, BLOCK: tl.constexpr, RBLOCK: tl.constexpr):
    """dx = dy H'; dL/dalpha, dL/dbeta = the sums of dy dH/dalpha, dy dH/dbeta, through one partial per program
    (`_finish_scalar_grads`): one launch, deterministic.

    Masked lanes load x = 0 and dy = 0, whose terms are exactly 0, so the sums need no mask.
    """
    alpha, s2, inv_s2, c_z, k, inv_alpha, c_db = _params(alpha_ptr, beta_ptr)
    offs, mask = _block(IDX64, BLOCK, n)
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    hp, da, db = _eq8_grads(x, alpha, s2, c_z, k, inv_s2, inv_alpha, c_db,
                            HALF=x_ptr.dtype.element_ty != tl.float32)
    tl.store(dx_ptr + offs, (g * hp).to(dx_ptr.dtype.element_ty), mask=mask)
    _finish_scalar_grads(part_ptr, count_ptr, da_ptr, db_ptr, tl.sum(g * da, axis=0), tl.sum(g * db, axis=0),
                         tl.program_id(0), tl.num_programs(0), RBLOCK)


@triton.jit
def _tile(IDX64: tl.constexpr, BC: tl.constexpr, BW: tl.constexpr, rows, C, W, EVEN: tl.constexpr):
    """(n, row, c [BC, 1], w [1, BW], mask) of a program of the (N x rows, C tiles, W tiles) grid.

    EVEN: the tiles cover the W columns exactly (the op checks), so the mask has no column term. That term is
    what keeps a narrow row from vectorising: the JIT knows no divisibility of W = 4 or 8, so ``w < W`` could
    flip inside a vector and Triton splits the access into single elements.
    """
    nr = tl.program_id(0)
    c = tl.program_id(1) * BC + tl.arange(0, BC)[:, None]
    w = tl.program_id(2) * BW + tl.arange(0, BW)[None, :]
    if EVEN:
        mask = tl.broadcast_to(c < C, [BC, BW])
    else:
        mask = (c < C) & (w < W)
    if IDX64:
        nr = nr.to(tl.int64)
        c = c.to(tl.int64)
        w = w.to(tl.int64)
    return nr // rows, nr % rows, c, w, mask


@triton.jit
def _row_stride(s, ALIGN: tl.constexpr):
    """A row stride the op knows to be a multiple of ALIGN, written so the compiler knows it too (it is exactly
    ``s``): the JIT marks only multiples of 16, and a 4- or 8-wide NCHW row's stride (4, 8) is not one, which
    would leave every row's start unaligned for vector access."""
    return s // ALIGN * ALIGN


@triton.jit
def fwd_proj(x_ptr, r_ptr, y_ptr, alpha_ptr, beta_ptr, Cin, OH, OW, H, W, pad,
             sxn, sxc, sxh, sxw, srn, src, srh, srw, syn, syc, syh, syw,
             STRIDE2: tl.constexpr, IDX64: tl.constexpr, BC: tl.constexpr, BW: tl.constexpr,
             EVEN: tl.constexpr, SX: tl.constexpr, SY: tl.constexpr):
    """y[n, pad + c, oh, ow] = pool(H(x[n, c]))[oh, ow] + F[...] for the C_in channels that face x.

    Pooling is ceil-mode 2x2: a window cut by the edge averages only the cells it covers (as F.avg_pool2d);
    out-of-range cells load 0 and H(0) = 0, so they add nothing, and 1/cells is an exact power of 2. EVEN: the
    tiles cover OW (and the x rows, W = 2 OW at stride 2) exactly; SX, SY: powers of 2 that divide x's and
    F's/y's row strides (`_row_stride`).
    """
    alpha, s2, inv_s2, c_z, k, inv_alpha, c_db = _params(alpha_ptr, beta_ptr)
    sxh = _row_stride(sxh, SX)
    srh = _row_stride(srh, SY)
    syh = _row_stride(syh, SY)
    n, oh, c, ow, mask = _tile(IDX64, BC, BW, OH, Cin, OW, EVEN)
    base = x_ptr + n * sxn + c * sxc
    if STRIDE2:
        # both rows of the windows as [BC, 2 BW] tiles (contiguous in NCHW: vector loads), H once per cell,
        # then the column pairs summed: (BC, 2 BW) -> (BC, BW, 2) -> (BC, BW)
        iw = tl.program_id(2) * (2 * BW) + tl.arange(0, 2 * BW)[None, :]
        if EVEN:
            cmask = tl.broadcast_to(c < Cin, [BC, 2 * BW])
        else:
            cmask = (c < Cin) & (iw < W)
        acc = tl.zeros([BC, 2 * BW], dtype=tl.float32)
        for dh in tl.static_range(2):
            hh = 2 * oh + dh
            if hh < H:  # the second row of a window cut by the edge (odd H) has no x
                v = tl.load(base + hh * sxh + iw * sxw, mask=cmask, other=0.0)
                h, _, _, _, _ = _eq8(v.to(tl.float32), c_z, k, inv_s2, HALF=x_ptr.dtype.element_ty != tl.float32)
                acc += h
        pooled = tl.sum(tl.reshape(acc, [BC, BW, 2]), axis=2)
        inv_h = tl.where(H - 2 * oh >= 2, 0.5, 1.0)
        hval = pooled * (inv_h * tl.where(W - 2 * ow >= 2, 0.5, 1.0))
    else:
        v = tl.load(base + oh * sxh + ow * sxw, mask=mask, other=0.0)
        hval, _, _, _, _ = _eq8(v.to(tl.float32), c_z, k, inv_s2,
                                     HALF=x_ptr.dtype.element_ty != tl.float32)
    co = c + pad
    r = tl.load(r_ptr + n * srn + co * src + oh * srh + ow * srw, mask=mask, other=0.0).to(tl.float32)
    tl.store(y_ptr + n * syn + co * syc + oh * syh + ow * syw, (hval + r).to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def fwd_pad(r_ptr, y_ptr, Cpad, OH, OW, Cin, pad, srn, src, srh, srw, syn, syc, syh, syw,
            IDX64: tl.constexpr, BC: tl.constexpr, BW: tl.constexpr, EVEN: tl.constexpr, SY: tl.constexpr):
    """y = F on the zero-padded channels: the first ``pad`` and the last Cpad - pad (no Eq. 8 there)."""
    srh = _row_stride(srh, SY)
    syh = _row_stride(syh, SY)
    n, oh, cc, ow, mask = _tile(IDX64, BC, BW, OH, Cpad, OW, EVEN)
    co = tl.where(cc < pad, cc, cc + Cin)
    r = tl.load(r_ptr + n * srn + co * src + oh * srh + ow * srw, mask=mask)
    tl.store(y_ptr + n * syn + co * syc + oh * syh + ow * syw, r, mask=mask)


@triton.jit
def bwd_proj(x_ptr, g_ptr, dx_ptr, alpha_ptr, beta_ptr, part_ptr, count_ptr, da_ptr, db_ptr, Cin, OH, OW, H, W, pad,
             sxn, sxc, sxh, sxw, sgn, sgc, sgh, sgw,
             STRIDE2: tl.constexpr, IDX64: tl.constexpr, BC: tl.constexpr, BW: tl.constexpr, EVEN: tl.constexpr,
             SX: tl.constexpr, SY: tl.constexpr, RBLOCK: tl.constexpr):
    """dx = dy[window] / cells x H' over the x cells facing one dy row (dx has x's strides); partial sums as
    `bwd_flat`, one slot per program.

    Stride 2: the program loads its [BC, BW] tile of dy once, scales it by 1/cells (a power of 2), and
    repeats each column for the two x columns of its window; both x rows of the window use it. Stride 1: the
    tile is [BC, 2 BW] (the same x cells per row as stride 2), so the per-program work is spread as thinly.
    """
    alpha, s2, inv_s2, c_z, k, inv_alpha, c_db = _params(alpha_ptr, beta_ptr)
    sxh = _row_stride(sxh, SX)
    sgh = _row_stride(sgh, SY)
    n, oh, c, ow, mask = _tile(IDX64, BC, BW * (2 - STRIDE2), OH, Cin, OW, EVEN)
    g = tl.load(g_ptr + n * sgn + (c + pad) * sgc + oh * sgh + ow * sgw, mask=mask, other=0.0).to(tl.float32)
    xbase = n * sxn + c * sxc
    acc_a = tl.zeros([BC, 2 * BW], dtype=tl.float32)
    acc_b = tl.zeros([BC, 2 * BW], dtype=tl.float32)
    if STRIDE2:
        g = g * (tl.where(H - 2 * oh >= 2, 0.5, 1.0) * tl.where(W - 2 * ow >= 2, 0.5, 1.0))
        g = tl.interleave(g, g)
        iw = tl.program_id(2) * (2 * BW) + tl.arange(0, 2 * BW)[None, :]
        if EVEN:
            cmask = tl.broadcast_to(c < Cin, [BC, 2 * BW])
        else:
            cmask = (c < Cin) & (iw < W)
        for dh in tl.static_range(2):
            hh = 2 * oh + dh
            if hh < H:  # the second row of a window cut by the edge (odd H) has no x
                off = xbase + hh * sxh + iw * sxw
                x = tl.load(x_ptr + off, mask=cmask, other=0.0).to(tl.float32)
                hp, da, db = _eq8_grads(x, alpha, s2, c_z, k, inv_s2, inv_alpha, c_db,
                                        HALF=x_ptr.dtype.element_ty != tl.float32)
                tl.store(dx_ptr + off, (g * hp).to(dx_ptr.dtype.element_ty), mask=cmask)
                acc_a += g * da  # masked lanes: x = 0, whose terms are exactly 0
                acc_b += g * db
    else:
        off = xbase + oh * sxh + ow * sxw
        x = tl.load(x_ptr + off, mask=mask, other=0.0).to(tl.float32)
        hp, da, db = _eq8_grads(x, alpha, s2, c_z, k, inv_s2, inv_alpha, c_db,
                                HALF=x_ptr.dtype.element_ty != tl.float32)
        tl.store(dx_ptr + off, (g * hp).to(dx_ptr.dtype.element_ty), mask=mask)
        acc_a += g * da
        acc_b += g * db
    pid = (tl.program_id(0) * tl.num_programs(1) + tl.program_id(1)) * tl.num_programs(2) + tl.program_id(2)
    nprog = tl.num_programs(0) * tl.num_programs(1) * tl.num_programs(2)
    _finish_scalar_grads(part_ptr, count_ptr, da_ptr, db_ptr, tl.sum(acc_a, axis=None), tl.sum(acc_b, axis=None),
                         pid, nprog, RBLOCK)


# ---- launch configs: one per kernel, what runs and what bench.kernel_aot compiles --------------------


@dataclass(frozen=True)
class KernelSpec:
    """How one kernel is launched, and what `bench.kernel_aot` needs to compile and judge it natively.

    ``signature`` maps each argument to a Triton type; ``*T`` is the storage dtype (fp32/bf16/fp16).
    ``config`` holds the default constexprs and ``variants`` the combinations `bench.kernel_aot` gates at 2^24
    elements in full tiles; a launch may override the config (the proj/pad tile, chosen per shape by
    `bypass_add_op.tile_config`), and kernel_aot gates those launches at the networks' unit shapes. ``layouts``
    names, per memory layout, the stride arguments that are 1 there (Triton's JIT specialises an integer
    argument equal to 1, so each layout is its own compiled kernel). The cost model counts ``elements`` per
    program (output cells for `fwd_proj`, x cells for `bwd_proj`; `elements_at` for a whole launch) and
    `bytes_per_element`: the DRAM bytes each one must move.
    """

    name: str
    kind: str  # flat | stride2 | proj; a STRIDE2=False variant of a stride2 kernel is kind "proj"
    fn: object
    signature: dict
    config: dict  # the fixed block constexprs
    num_warps: int
    variants: tuple = ({},)
    elements: tuple = (0, 0)  # counted elements per program: (STRIDE2 or flat, stride 1)
    moved: tuple = (3, 3)  # storage-dtype elements moved per counted element: (STRIDE2 or flat, stride 1)
    layouts: dict = field(default_factory=lambda: {"dense": ()})
    maxnreg: int | None = None  # register cap (ptxas), so that >= 16 warps stay resident per SM
    counts: str = "numel"  # what `elements` counts: numel | out (output cells facing x) | x (x cells) | pad

    def elements_at(self, x_shape: tuple, out_shape: tuple) -> int:
        """The counted elements of one launch at a unit with these x and output shapes: the useful work, the
        lanes that move bytes (bench.kernel_aot prices the launch's masked lanes as issue time only)."""
        n, cin, h, w = x_shape
        cout, oh, ow = out_shape[1:]
        return {"numel": n * cin * h * w, "x": n * cin * h * w, "out": n * cin * oh * ow,
                "pad": n * (cout - cin) * oh * ow}[self.counts]

    def kind_of(self, variant: dict) -> str:
        return "proj" if variant.get("STRIDE2") is False else self.kind

    def elements_of(self, variant: dict) -> int:
        return self.elements[variant.get("STRIDE2") is False]

    def bytes_per_element(self, itemsize: int, variant: dict) -> float:
        return itemsize * self.moved[variant.get("STRIDE2") is False]

    @property
    def options(self) -> dict:
        """Compile options of the launch, which are also those of the ahead-of-time compile."""
        return launch_options(self.num_warps, self.maxnreg)

    def launch(self, grid, *args, **constexprs):
        """Launch on ``grid``; ``constexprs`` set the variant and may override the config (a tile shape)."""
        self.fn[grid](*args, **{**self.config, **constexprs}, **self.options)


def _sig(names: str) -> dict:
    out = {}
    for item in names.split():
        name, _, typ = item.partition(":")
        out[name] = typ
    return out


_STRIDES_X = "sxn:i32 sxc:i32 sxh:i32 sxw:i32"
FWD_FLAT = KernelSpec(
    "fwd_flat", "flat", fwd_flat,
    _sig("x_ptr:*T r_ptr:*T y_ptr:*T alpha_ptr:*fp32 beta_ptr:*fp32 n:i32 IDX64:constexpr BLOCK:constexpr"),
    {"BLOCK": 4096}, 8, ({"IDX64": False}, {"IDX64": True}), elements=(4096, 4096))
BWD_FLAT = KernelSpec(
    "bwd_flat", "flat", bwd_flat,
    _sig("x_ptr:*T g_ptr:*T dx_ptr:*T alpha_ptr:*fp32 beta_ptr:*fp32 part_ptr:*fp32 count_ptr:*i32 da_ptr:*fp32 "
         "db_ptr:*fp32 n:i32 IDX64:constexpr BLOCK:constexpr RBLOCK:constexpr"),
    {"BLOCK": 4096, "RBLOCK": 1024}, 8, ({"IDX64": False}, {"IDX64": True}), elements=(4096, 4096))
_LAYOUTS = {"nchw": ("sxw", "srw", "syw", "sgw"), "channels_last": ("sxc", "src", "syc", "sgc")}
# the tile config a proj/pad kernel's 2^24 rows are gated at: masked columns, row strides known only as the JIT
# knows them (the op sets EVEN, SX, SY per launch from the shape: `bypass_add_op.tile_config`)
_GENERAL = {"EVEN": False, "SX": 1, "SY": 1}
_PROJ_VARIANTS = tuple({"STRIDE2": s, "IDX64": i} for s in (True, False) for i in (False, True))
FWD_PROJ = KernelSpec(
    "fwd_proj", "stride2", fwd_proj,
    _sig("x_ptr:*T r_ptr:*T y_ptr:*T alpha_ptr:*fp32 beta_ptr:*fp32 Cin:i32 OH:i32 OW:i32 H:i32 W:i32 pad:i32 "
         f"{_STRIDES_X} srn:i32 src:i32 srh:i32 srw:i32 syn:i32 syc:i32 syh:i32 syw:i32 "
         "STRIDE2:constexpr IDX64:constexpr BC:constexpr BW:constexpr EVEN:constexpr SX:constexpr SY:constexpr"),
    {"BC": 32, "BW": 32, **_GENERAL}, 4, _PROJ_VARIANTS, elements=(32 * 32, 32 * 32), moved=(6, 3), layouts=_LAYOUTS,
    maxnreg=128, counts="out")
FWD_PAD = KernelSpec(
    "fwd_pad", "proj", fwd_pad,
    _sig("r_ptr:*T y_ptr:*T Cpad:i32 OH:i32 OW:i32 Cin:i32 pad:i32 srn:i32 src:i32 srh:i32 srw:i32 "
         "syn:i32 syc:i32 syh:i32 syw:i32 IDX64:constexpr BC:constexpr BW:constexpr EVEN:constexpr SY:constexpr"),
    {"BC": 16, "BW": 32, "EVEN": False, "SY": 1}, 4, ({"IDX64": False}, {"IDX64": True}),
    elements=(16 * 32, 16 * 32), moved=(2, 2), layouts=_LAYOUTS, counts="pad")
BWD_PROJ = KernelSpec(
    "bwd_proj", "stride2", bwd_proj,
    _sig("x_ptr:*T g_ptr:*T dx_ptr:*T alpha_ptr:*fp32 beta_ptr:*fp32 part_ptr:*fp32 count_ptr:*i32 da_ptr:*fp32 "
         "db_ptr:*fp32 Cin:i32 OH:i32 OW:i32 "
         f"H:i32 W:i32 pad:i32 {_STRIDES_X} sgn:i32 sgc:i32 sgh:i32 sgw:i32 STRIDE2:constexpr IDX64:constexpr "
         "BC:constexpr BW:constexpr EVEN:constexpr SX:constexpr SY:constexpr RBLOCK:constexpr"),
    {"BC": 32, "BW": 32, **_GENERAL, "RBLOCK": 256}, 4, _PROJ_VARIANTS, elements=(4 * 32 * 32, 32 * 64),
    moved=(2.25, 3), layouts=_LAYOUTS, counts="x")
SPECS = (FWD_FLAT, BWD_FLAT, FWD_PROJ, FWD_PAD, BWD_PROJ)
