"""The bypass family H(x) of the BReG papers: one definition of each function, and the module that uses it.

Every function is written once, in plain torch ops that work at any dtype. Called on float64 tensors that
definition *is* the reference the Triton kernel and the tests compare against (`reference`). Each entry
also carries its derivative in closed form and, where the paper prints a different one, the printed one,
so the mismatch is visible (BReG-NeXt Eq. 7, H3). Eq. 8's definition and closed-form derivatives live in
`breg_models.eq8`; a `Bypass` of Eq. 8 runs `breg_models.eq8_function`, an autograd Function with those
derivatives that saves x alone, rather than autograd through the definition's ~40 ops.

Kinds (names accepted by ``create_model(..., bypass=...)``):

=============  ==============================================  ====================================
kind           H(x)                                            source
=============  ==============================================  ====================================
identity       x                                               ResNet (He et al.)
scaled         lam * x  (lam=0.5)                              He et al.'s counter-example, NeXt Eq. 6
atan           atan(x)                                         BReG-Net; NeXt Eq. 8 at alpha=1, beta=0
bregnet_h1     x - log(e^x + 1)                                BReG-Net Eq. 4
bregnet_h2     x atan(x) - log(x^2 + 1) / 2                    BReG-Net Eq. 4 (= NeXt Eq. 7 H2)
bregnet_h3     atan(x)                                         BReG-Net Eq. 4 (= atan)
bregnext_h1    atan(x)                                         BReG-NeXt Eq. 7 (= atan)
bregnext_h2    x atan(x) - log(x^2 + 1) / 2                    BReG-NeXt Eq. 7
bregnext_h3    -log(e^x + a^2) / a^2  (a=1, fixed)             BReG-NeXt Eq. 7
adaptive       atan(alpha x / s) / (alpha s), s^2 = beta^2+1   BReG-NeXt Eq. 8, alpha, beta trained
fixed          the same with alpha, beta frozen (1, 0)         BReG-NeXt Table 9 "non-adaptive"
=============  ==============================================  ====================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .eq8 import eq8, eq8_dx
from .eq8_function import eq8_function


def _h3(x: Tensor, a: float) -> Tensor:
    a2 = a * a
    return -torch.logaddexp(x, torch.full_like(x, math.log(a2))) / a2


@dataclass(frozen=True)
class BypassFunction:
    """One member of the family: H, its true derivative, and the derivative the paper prints if different."""

    name: str
    source: str
    fn: Callable[..., Tensor]
    dfn: Callable[..., Tensor]
    printed_dfn: Callable[..., Tensor] | None = None
    defaults: dict = field(default_factory=dict)  # scalar parameters and their default values
    trainable: tuple[str, ...] = ()  # which of the parameters are learned
    bounded: bool = False  # 0 < dH/dx <= 1 everywhere (the papers' requirement)


_IDENTITY = BypassFunction("identity", "He et al. identity mapping", lambda x: x, torch.ones_like, bounded=True)
_SCALED = BypassFunction(
    "scaled",
    "He et al. scaled shortcut lam*x (BReG-NeXt Eq. 6)",
    lambda x, lam: lam * x,
    lambda x, lam: torch.full_like(x, lam),
    defaults={"lam": 0.5},
)
_ATAN = BypassFunction("atan", "BReG-Net H(x) = atan(x)", torch.atan, lambda x: 1.0 / (1.0 + x * x), bounded=True)
_LOGSIG = BypassFunction(
    "bregnet_h1",
    "BReG-Net Eq. 4, H1 = x - log(e^x + 1)",
    lambda x: F.logsigmoid(x),  # x - log(e^x + 1) == log(sigmoid(x)), without overflow
    lambda x: torch.sigmoid(-x),  # 1 / (1 + e^x)
    bounded=True,
)
_H2 = BypassFunction(
    "bregnet_h2",
    "x atan(x) - log(x^2 + 1) / 2 (BReG-Net Eq. 4 H2, BReG-NeXt Eq. 7 H2)",
    lambda x: x * torch.atan(x) - 0.5 * torch.log1p(x * x),
    torch.atan,
)
_NEXT_H3 = BypassFunction(
    "bregnext_h3",
    "BReG-NeXt Eq. 7, H3 = -log(e^x + a^2) / a^2",
    _h3,
    lambda x, a: -torch.sigmoid(x - math.log(a * a)) / (a * a),  # -e^x / (a^2 (e^x + a^2))
    printed_dfn=lambda x, a: 1.0 / (torch.exp(x) + a * a),  # as printed in Eq. 7: not H3's derivative
    defaults={"a": 1.0},
)
_ADAPTIVE = BypassFunction(
    "adaptive",
    "BReG-NeXt Eq. 8, trainable alpha, beta per unit (init 1, 1 as the public code)",
    eq8,
    eq8_dx,
    defaults={"alpha": 1.0, "beta": 1.0},
    trainable=("alpha", "beta"),
    bounded=True,
)
_FIXED = BypassFunction(
    "fixed",
    "BReG-NeXt Eq. 8 non-adaptive, alpha, beta frozen (Table 9: alpha=1, beta=0)",
    eq8,
    eq8_dx,
    defaults={"alpha": 1.0, "beta": 0.0},
    bounded=True,
)

FUNCTIONS: dict[str, BypassFunction] = {
    "identity": _IDENTITY,
    "scaled": _SCALED,
    "atan": _ATAN,
    "bregnet_h1": _LOGSIG,
    "bregnet_h2": _H2,
    "bregnet_h3": _ATAN,
    "bregnext_h1": _ATAN,
    "bregnext_h2": _H2,
    "bregnext_h3": _NEXT_H3,
    "adaptive": _ADAPTIVE,
    "fixed": _FIXED,
}

EQ8_KINDS = ("adaptive", "fixed")  # the kinds the fused Triton op implements


def get_function(kind: str) -> BypassFunction:
    if kind not in FUNCTIONS:
        raise ValueError(f"unknown bypass {kind!r}; choose one of: {', '.join(FUNCTIONS)}")
    return FUNCTIONS[kind]


def resolve_params(kind: str, params: dict | None = None) -> dict:
    """The function's defaults updated by ``params``; unknown parameter names are an error."""
    fn = get_function(kind)
    params = dict(params or {})
    unknown = set(params) - set(fn.defaults)
    if unknown:
        valid = ", ".join(fn.defaults) or "none"
        raise ValueError(f"bypass {kind!r} has no parameter {sorted(unknown)[0]!r} (valid: {valid})")
    return {**fn.defaults, **{k: float(v) for k, v in params.items()}}


def parse_bypass(text: str) -> tuple[str, dict]:
    """'scaled:lam=1.5' or 'adaptive:alpha=1,beta=0' -> (kind, params); the command-line form of a bypass."""
    kind, _, rest = text.partition(":")
    params = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        try:
            params[key.strip()] = float(value) if eq else float("nan")
        except ValueError:
            raise ValueError(f"bad bypass parameter {item!r} in {text!r}; expected NAME=NUMBER") from None
        if not eq:
            raise ValueError(f"bad bypass parameter {item!r} in {text!r}; expected NAME=NUMBER")
        if not math.isfinite(params[key.strip()]):
            raise ValueError(f"bad bypass parameter {item!r} in {text!r}; the number must be finite")
    resolve_params(kind.strip(), params)
    return kind.strip(), params


def reference(kind: str, x: Tensor, **params) -> Tensor:
    """H(x) in float64: the value every implementation is checked against."""
    fn = get_function(kind)
    p = resolve_params(kind, {k: float(v) for k, v in params.items()})
    x64 = x.detach().to(torch.float64)
    if kind in EQ8_KINDS:
        return fn.fn(x64, torch.tensor(p["alpha"], dtype=torch.float64), torch.tensor(p["beta"], dtype=torch.float64))
    return fn.fn(x64, **p)


class Bypass(nn.Module):
    """H(x) of one residual unit; alpha, beta are per-unit scalars (parameters if trainable, else buffers)."""

    def __init__(self, kind: str = "adaptive", **params):
        super().__init__()
        self.kind = kind
        self.function = get_function(kind)
        self.params = resolve_params(kind, params)
        self._tensor_params = kind in EQ8_KINDS
        if self._tensor_params:
            for name in ("alpha", "beta"):
                value = torch.tensor(self.params[name], dtype=torch.float32)
                if name in self.function.trainable:
                    setattr(self, name, nn.Parameter(value))
                else:
                    self.register_buffer(name, value)

    def forward(self, x: Tensor) -> Tensor:
        if self._tensor_params:  # Eq. 8: the autograd Function that saves x alone (the eager training path)
            return eq8_function(x, self.alpha, self.beta)
        return self.function.fn(x, **self.params)

    def extra_repr(self) -> str:
        return self.kind + "".join(f", {k}={v:g}" for k, v in self.params.items())


def project(h: Tensor, out_channels: int, stride: int) -> Tensor:
    """P of the shortcut: 2x2 average pool when the unit down-samples, then symmetric channel zero-padding.

    The public code never puts a 1x1 conv on the shortcut. Odd spatial sizes pool with ceil_mode, so the
    shortcut keeps the residual branch's ceil(n/2) size; the last window averages only the cells it covers.
    """
    if stride == 2:
        h = F.avg_pool2d(h, kernel_size=2, stride=2, ceil_mode=True)
    extra = out_channels - h.shape[1]
    if extra:
        h = F.pad(h, (0, 0, 0, 0, extra // 2, extra - extra // 2))
    return h


# How a Shortcut computes; create_model(bypass_impl=...) takes the first four. 'authors' and 'authors_compile' run
# Eq. 8 as the authors' code writes it (`eq8_authors`, eager or under torch.compile): the baselines the benchmarks
# time the fused op against, set on a built model's shortcuts (`Shortcut.impl`), not a training path (NaN at
# alpha = 0). For the other kinds the definition is what the authors write, so they run 'eager' and 'compile'.
IMPLS = ("eager", "compile", "triton", "auto", "authors", "authors_compile")


def check_impl(impl: str, kind: str) -> str:
    """Validate a shortcut implementation for a bypass kind; 'auto' is triton on CUDA tensors, else eager."""
    if impl not in IMPLS:
        raise ValueError(f"unknown bypass_impl {impl!r}; choose one of: {', '.join(IMPLS)}")
    if impl == "triton" and kind not in EQ8_KINDS:
        raise ValueError(f"bypass_impl='triton' supports only the Eq. 8 kinds adaptive/fixed, not {kind!r}")
    return impl


class Shortcut(nn.Module):
    """y = P(H(x)) + F: the bypass, its projection and the residual add of one unit.

    This is the seam where the fused Triton op plugs in (``impl``); the eager path is the definition.
    ``compile_backend`` is the torch.compile backend of 'authors_compile' (a dry run's "aot_eager" checks the
    plumbing without inductor's compile time).
    """

    compile_backend = "inductor"

    def __init__(self, bypass: Bypass, in_channels: int, out_channels: int, stride: int, impl: str = "eager"):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"shortcut stride must be 1 or 2, got {stride}")
        if out_channels < in_channels:
            raise ValueError(f"a unit cannot narrow its input ({in_channels} -> {out_channels} channels)")
        self.bypass = bypass
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.impl = impl

    @property
    def impl(self) -> str:
        return self._impl

    @impl.setter
    def impl(self, value: str) -> None:
        self._impl = check_impl(value, self.bypass.kind)

    def forward(self, x: Tensor, residual: Tensor) -> Tensor:
        impl = self._impl
        if impl == "auto":
            impl = "triton" if x.is_cuda and self.bypass.kind in EQ8_KINDS else "eager"
        if impl.startswith("authors"):
            if self.bypass.kind in EQ8_KINDS:
                from .ops.bypass_add_op import authors_eq8_shortcut, compiled_authors_shortcut

                run = compiled_authors_shortcut(self.compile_backend) if impl == "authors_compile" else \
                    authors_eq8_shortcut
                return run(x, residual, self.bypass.alpha, self.bypass.beta, self.stride)
            impl = "compile" if impl == "authors_compile" else "eager"
        if impl == "eager":
            return project(self.bypass(x), self.out_channels, self.stride) + residual
        # lazy: importing the op module registers the torch.library ops
        from .ops.bypass_add_op import bypass_add, check_can_run, compiled_eq8_shortcut, compiled_shortcut

        kind = self.bypass.kind
        if impl == "triton":
            check_can_run(x)
            return bypass_add(x, residual, self.bypass.alpha, self.bypass.beta, self.stride)
        if kind in EQ8_KINDS:
            alpha, beta = self.bypass.alpha, self.bypass.beta
            return compiled_eq8_shortcut()(x, residual, alpha, beta, self.stride, kind)
        return compiled_shortcut(kind, tuple(self.bypass.params.items()))(x, residual, self.stride)

    def extra_repr(self) -> str:
        return f"{self.in_channels}->{self.out_channels}, stride={self.stride}, impl={self.impl}"
