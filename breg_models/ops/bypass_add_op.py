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
import math
import os
from dataclasses import dataclass

import torch
from torch import Tensor

from ..bypass import EQ8_KINDS, FUNCTIONS, project
from ..eq8 import eq8_authors

DTYPES = (torch.float32, torch.bfloat16, torch.float16)
_INT32_LIMIT = 2**31 - 2**16  # an offset (or offset + block) past this makes the kernels index in int64


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


def _max_offset(t: Tensor) -> int:
    """The largest element offset a kernel can form for ``t``: sum of (size - 1) x stride, or its numel."""
    return max(t.numel(), sum((s - 1) * st for s, st in zip(t.shape, t.stride(), strict=True) if s > 0))


def needs_int64(*tensors: Tensor) -> bool:
    """Whether any offset into these tensors (dense or any strided view) can pass int32."""
    return max(_max_offset(t) for t in tensors) >= _INT32_LIMIT


def _flat(*tensors: Tensor) -> bool:
    """One elementwise pass fits: same shape and strides, dense (NCHW or channels_last)."""
    first = tensors[0]
    return _is_dense(first) and all(t.shape == first.shape and t.stride() == first.stride() for t in tensors)


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


TILE_WIDTHS = (4, 8, 16, 32)  # the column widths a proj/pad tile can take (BC grows as BW shrinks)


def tile_config(spec, cols: int) -> dict:
    """{BC, BW} of a proj/pad launch whose tile row must cover ``cols`` columns: the narrowest width of
    `TILE_WIDTHS` that covers them (the widest past 32), with BC raised so a tile keeps the spec's element count.

    A down-sampling unit deep in a network writes narrow rows (16, 8, 4 wide at BReG-NeXt's later stages); a
    32-wide tile there would leave half to 7/8 of its lanes masked, issuing instructions that move no bytes. A
    pure function of the shape: one config per shape, so the reduction order (and the scalar gradients' bits)
    stays fixed.
    """
    bw = next((w for w in TILE_WIDTHS if w >= cols), TILE_WIDTHS[-1])
    return {"BC": spec.config["BC"] * spec.config["BW"] // bw, "BW": bw}


def row_align(*strides: int) -> int:
    """The largest power of 2 up to 16 dividing every one of these row strides: the kernels' SX/SY, which let
    the compiler see that a narrow row starts aligned (`_kernels._row_stride`)."""
    align = 16
    for s in strides:
        while s % align:
            align //= 2
    return align


def _tile_grid(tile: dict, rows: int, channels: int, cols: int, widen: int = 1) -> tuple[int, int, int]:
    """(N x rows, channel tiles, column tiles) for tiles of BC channels and ``widen`` x BW columns."""
    return rows, _cdiv(channels, tile["BC"]), _cdiv(cols, widen * tile["BW"])


@dataclass(frozen=True)
class Launch:
    """One kernel launch: its `KernelSpec`, grid, positional arguments and the constexprs it sets beyond the
    spec's config. The op runs these; `bench.kernel_aot` builds the same list on meta tensors at each network
    shape and compiles exactly these kernels, specialised as the JIT specialises these arguments."""

    spec: object
    grid: tuple
    args: tuple
    constexprs: dict

    def run(self) -> None:
        self.spec.launch(self.grid, *self.args, **self.constexprs)


def forward_launches(x: Tensor, residual: Tensor, y: Tensor, a: Tensor, b: Tensor, stride: int) -> list[Launch]:
    """The launches that compute y (4-D x and F already made contiguous where needed; y allocated)."""
    k = _kernels()
    idx64 = needs_int64(x, residual, y)
    if stride == 1 and _flat(x, residual, y):
        n = y.numel()
        return [Launch(k.FWD_FLAT, (_cdiv(n, k.FWD_FLAT.config["BLOCK"]),), (x, residual, y, a, b, n),
                       {"IDX64": idx64})]
    nb, cout, oh, ow = y.shape
    cin, h, w = x.shape[1:]
    pad = (cout - cin) // 2
    x_rows_even = stride == 1 or w == 2 * ow  # stride 2: no window cut by the right edge
    sy = row_align(residual.stride(2), y.stride(2))
    tile = tile_config(k.FWD_PROJ, ow)
    tile.update(EVEN=ow % tile["BW"] == 0 and x_rows_even, SX=row_align(x.stride(2)), SY=sy)
    out = [Launch(k.FWD_PROJ, _tile_grid(tile, nb * oh, cin, ow),
                  (x, residual, y, a, b, cin, oh, ow, h, w, pad, *x.stride(), *residual.stride(), *y.stride()),
                  {"STRIDE2": stride == 2, "IDX64": idx64, **tile})]
    if cout > cin:
        tile = tile_config(k.FWD_PAD, ow)
        tile.update(EVEN=ow % tile["BW"] == 0, SY=sy)
        out.append(Launch(k.FWD_PAD, _tile_grid(tile, nb * oh, cout - cin, ow),
                          (residual, y, cout - cin, oh, ow, cin, pad, *residual.stride(), *y.stride()),
                          {"IDX64": idx64, **tile}))
    return out


def backward_launches(grad: Tensor, x: Tensor, dx: Tensor, a: Tensor, b: Tensor, da: Tensor, db: Tensor,
                      stride: int) -> list[Launch]:
    """The one launch that computes dx, dL/dalpha and dL/dbeta (its partials buffer allocated here)."""
    k = _kernels()
    idx64 = needs_int64(x, grad, dx)
    counter = ticket_counter(x.device)
    if stride == 1 and _flat(x, grad, dx):
        n = x.numel()
        grid = (_cdiv(n, k.BWD_FLAT.config["BLOCK"]),)
        part = torch.empty(partials_size(grid[0]), device=x.device, dtype=torch.float32)
        return [Launch(k.BWD_FLAT, grid, (x, grad, dx, a, b, part, counter, da, db, n), {"IDX64": idx64})]
    if dx.stride() != x.stride():  # a non-dense x: compute on a dense copy, dx in its layout
        x = x.contiguous(memory_format=_memory_format(dx))
    nb, cin, h, w = x.shape
    oh, ow = grad.shape[2:]
    widen = 1 if stride == 2 else 2  # stride 1: a tile row spans 2 BW columns (as bwd_proj tiles)
    tile = tile_config(k.BWD_PROJ, _cdiv(ow, widen))
    tile.update(EVEN=ow % (widen * tile["BW"]) == 0 and (stride == 1 or w == 2 * ow), SX=row_align(x.stride(2)),
                SY=row_align(grad.stride(2)))
    grid = _tile_grid(tile, nb * oh, cin, ow, widen)
    part = torch.empty(partials_size(math.prod(grid)), device=x.device, dtype=torch.float32)
    return [Launch(k.BWD_PROJ, grid, (x, grad, dx, a, b, part, counter, da, db, cin, oh, ow, h, w,
                                      (grad.shape[1] - cin) // 2, *x.stride(), *grad.stride()),
                   {"STRIDE2": stride == 2, "IDX64": idx64, **tile})]


def partials_size(programs: int) -> int:
    """fp32 slots of a backward's partials: two halves of ``programs`` rounded up to 4, each 16-byte aligned
    (`_kernels._finish_scalar_grads` reads them as 128-bit quads; the slots past ``programs`` stay unwritten)."""
    return 2 * _cdiv(programs, 4) * 4


_COUNTERS: dict[tuple, Tensor] = {}


def ticket_counter(device: torch.device | str) -> Tensor:
    """The backward kernels' int32 ticket counter for the current stream of ``device``: zero between launches.

    Zeroed once, when first asked for on a stream (that fill is enqueued on the stream, before any launch that
    uses it); after that no launch is spent on it: the program that draws a launch's last ticket sets it back
    to 0, and on one stream the next launch starts only after that store. Two streams running backwards at
    once would draw from one counter and corrupt each other's tickets, so each (device, stream) has its own.
    CUDA-graph capture: a graph replays the kernels with the counter's address baked in, so the counter must
    exist before capture (a fill recorded into the graph, from its private pool, is not what a later eager call
    should reuse): call this under the capturing stream before ``torch.cuda.graph`` (a warm-up backward on that
    stream does it too); asked for a new one during capture, it raises. A graph keeps the counter of the
    stream it was captured on, so replays of graphs captured on one stream must not overlap on other streams.
    """
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        device = torch.device("cuda", index)
        key = (device, torch.cuda.current_stream(device).cuda_stream)
    else:
        key = (device, None)
    counter = _COUNTERS.get(key)
    if counter is None:
        if device.type == "cuda" and torch.cuda.is_current_stream_capturing():
            raise RuntimeError(
                "breg::bypass_add_backward: no ticket counter for this stream and a CUDA graph is being captured; "
                "call breg_models.ops.bypass_add_op.ticket_counter(device) on the capturing stream before capture"
            )
        counter = _COUNTERS[key] = torch.zeros(1, device=device, dtype=torch.int32)
    return counter


@torch.library.custom_op("breg::bypass_add", mutates_args=())
def bypass_add(x: Tensor, residual: Tensor, alpha: Tensor, beta: Tensor, stride: int) -> Tensor:
    """y = P(H(x; alpha, beta)) + residual in one pass; y has residual's memory format."""
    _check(x, residual, stride)
    check_can_run(x)
    if x.dim() != 4:
        x, residual = x.contiguous(), residual.contiguous()
    y = torch.empty_like(residual, memory_format=_memory_format(residual))
    if y.numel() == 0:
        return y
    a, b = _scalar(alpha, x.device), _scalar(beta, x.device)
    for launch in forward_launches(x, residual, y, a, b, stride):
        launch.run()
    return y


@bypass_add.register_fake
def _(x, residual, alpha, beta, stride):
    _check(x, residual, stride)
    return torch.empty_like(residual, memory_format=_memory_format(residual))


@torch.library.custom_op("breg::bypass_add_backward", mutates_args=())
def bypass_add_backward(grad: Tensor, x: Tensor, alpha: Tensor, beta: Tensor, stride: int
                        ) -> tuple[Tensor, Tensor, Tensor]:
    """(dL/dx, dL/dalpha, dL/dbeta) from dL/dy in one launch: the elementwise kernel leaves one partial sum of
    each scalar per program, and its last program adds them in a fixed order."""
    check_can_run(x)
    if x.dim() != 4:
        x, grad = x.contiguous(), grad.contiguous()
    dx = torch.empty_like(x, memory_format=_memory_format(x))
    da = torch.empty((), device=x.device, dtype=torch.float32)
    db = torch.empty((), device=x.device, dtype=torch.float32)
    if x.numel() == 0:
        return dx, da.zero_(), db.zero_()
    a, b = _scalar(alpha, x.device), _scalar(beta, x.device)
    for launch in backward_launches(grad, x, dx, a, b, da, db, stride):
        launch.run()
    return dx, da, db


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


def _no_double_backward(ctx, *grads):
    raise RuntimeError("breg::bypass_add has no second derivative (double backward, e.g. a gradient penalty): "
                       "build the model with bypass_impl='eager' or 'compile' for that")


def _save_nothing(ctx, inputs, output):
    pass


# Without a formula autograd would say "no autograd formula was registered"; this says what to do instead.
bypass_add_backward.register_autograd(_no_double_backward, setup_context=_save_nothing)


# ---- the other implementations the Shortcut and the benchmark compare against ---------------------------


def eager_eq8_shortcut(x: Tensor, residual: Tensor, alpha: Tensor, beta: Tensor, stride: int,
                       kind: str = "adaptive") -> Tensor:
    """The float64-safe definition (`breg_models.bypass`), alpha, beta as tensors: what a Shortcut's 'compile'
    compiles, and the benchmarks' 'eager_safe' line."""
    h = FUNCTIONS[kind].fn(x, alpha.to(x.dtype), beta.to(x.dtype))
    return project(h, residual.shape[1], stride) + residual


def authors_eq8_shortcut(x: Tensor, residual: Tensor, alpha: Tensor, beta: Tensor, stride: int) -> Tensor:
    """The shortcut with Eq. 8 as the authors' code and a user write it (`eq8_authors`, NaN at alpha = 0): the
    benchmarks' eager and compile baselines, not the safe definition `eager_eq8_shortcut` that models run."""
    h = eq8_authors(x, alpha.to(x.dtype), beta.to(x.dtype))
    return project(h, residual.shape[1], stride) + residual


@functools.cache
def compiled_eq8_shortcut():
    """torch.compile of `eager_eq8_shortcut`, built once per process (tensor arguments, few recompiles)."""
    return torch.compile(eager_eq8_shortcut)


@functools.cache
def compiled_authors_shortcut(backend: str = "inductor"):
    """torch.compile of `authors_eq8_shortcut`, once per process and backend, compiled as `compiled_eq8_shortcut`
    compiles the safe form (default settings), so the two differ only in the formula."""
    return torch.compile(authors_eq8_shortcut, backend=backend)


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
    "DTYPES", "EQ8_KINDS", "FVCORE_HANDLES", "authors_eq8_shortcut", "bypass_add", "bypass_add_backward", "can_run",
    "check_can_run", "compiled_eq8_shortcut", "compiled_shortcut", "eager_eq8_shortcut", "fvcore_handle",
    "interpreter_on",
]
