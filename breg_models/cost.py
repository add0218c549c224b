"""The counting rule of the shortcut y = P(H(x)) + F, from shapes alone.

It sits beside the models (not in `bench`) because both the FLOP counter (`bench.complexity`) and the fused
op's fvcore handle (`breg_models.ops`) need it, and a model-level module must not import the bench layer.
"""

from __future__ import annotations

# Operations per element of H(x), as written in the papers (transcendentals count as one, as fvcore
# counts elementwise ops): scaled lam*x is 1 mul; Eq. 8 is a mul, an atan and a mul, with the per-unit
# scalars alpha/sqrt(beta^2+1) and 1/(alpha sqrt(beta^2+1)) computed once.
BYPASS_OPS = {
    "identity": 0, "scaled": 1, "atan": 1, "bregnet_h1": 3, "bregnet_h2": 5, "bregnet_h3": 1,
    "bregnext_h1": 1, "bregnext_h2": 5, "bregnext_h3": 4, "adaptive": 3, "fixed": 3,
}


def numel(shape) -> int:
    out = 1
    for d in shape:
        out *= int(d)
    return out


def shortcut_cost(in_shape: tuple[int, ...], out_shape: tuple[int, ...], stride: int, kind: str = "adaptive") -> int:
    """MACs of y = P(H(x)) + F: H on every input element, the 2x2 pool (one per input element) when the
    unit down-samples, the add on every output element; the zero padding is free."""
    n_in = numel(in_shape)
    return BYPASS_OPS[kind] * n_in + (n_in if stride == 2 else 0) + numel(out_shape)
