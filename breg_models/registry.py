"""Model names -> specs -> modules: `create_model(name, ...)` and `list_models()`, in the manner of timm."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import replace

from .bypass import get_function, resolve_params
from .network import BRegNetwork
from .specs import BREGNET_PAPER, TABLE1, TABLE2_DEPTHS, NetworkSpec, arrangement_overrides, bregnext_spec

_FAMILY = re.compile(r"bregnext(\d+)")
# '<arrangement>-d<depth>': the BReG-NeXt, BReG-Net or ResNet arrangement at any depth 6k+8 (depth sweeps).
_ARRANGED = re.compile(r"(bregnext|bregnet|resnet)-d(\d+)")
BYPASS_IMPLS = ("eager", "compile", "triton", "auto")


def list_models(pattern: str | None = None) -> list[str]:
    """Table 1's six networks, Table 2's depths and BReG-Net's own two; any `bregnext{6k+8}` also builds."""
    names = list(TABLE1) + [f"bregnext{d}" for d in TABLE2_DEPTHS if f"bregnext{d}" not in TABLE1]
    names += list(BREGNET_PAPER)
    return [n for n in names if pattern is None or fnmatch.fnmatch(n, pattern)]


def get_spec(name: str) -> NetworkSpec:
    if name in TABLE1:
        return TABLE1[name]
    if name in BREGNET_PAPER:
        return BREGNET_PAPER[name]
    match = _FAMILY.fullmatch(name)
    if match:
        return bregnext_spec(int(match.group(1)))
    match = _ARRANGED.fullmatch(name)
    if match:
        arrangement, depth = match.group(1), int(match.group(2))
        spec = bregnext_spec(depth).with_overrides(**arrangement_overrides(arrangement, depth))
        title = {"bregnext": "BReG-NeXt", "bregnet": "BReG-Net", "resnet": "ResNet"}[arrangement]
        return replace(spec, name=name, title=f"{title}-{depth} (depth family)")
    raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(list_models())} "
                     "(or bregnext<6k+8>, or bregnext|bregnet|resnet-d<6k+8>)")


def resolve_names(patterns: list[str]) -> list[str]:
    """Names or globs (e.g. 'bregnext*', 'resnet32') -> model names, in order, each at most once."""
    out: list[str] = []
    for pattern in patterns:
        found = list_models(pattern) if any(c in pattern for c in "*?[") else [get_spec(pattern).name]
        if not found:
            raise ValueError(f"no model matches {pattern!r}; choose from: {', '.join(list_models())}")
        out += [n for n in found if n not in out]
    return out


def create_model(name: str, task: str = "categorical", num_classes: int | None = None, bypass: str | None = None,
                 bypass_params: dict | None = None, bypass_impl: str = "eager", **overrides) -> BRegNetwork:
    """Build a network by name. ``bypass`` swaps the bypass of every unit (ablations); ``overrides`` set spec
    fields (``stem_stride``, ``stem_width``, ``alpha_init``, ``beta_init``, ...)."""
    spec = get_spec(name)
    if bypass is not None:
        get_function(bypass)
        overrides.setdefault("bypass", bypass)
        overrides.setdefault("bypass_params", {})
    if bypass_params is not None:
        overrides["bypass_params"] = dict(bypass_params)
    spec = spec.with_overrides(**overrides)
    resolve_params(spec.bypass, spec.bypass_params)
    if bypass_impl not in BYPASS_IMPLS:
        raise ValueError(f"unknown bypass_impl {bypass_impl!r}; choose one of: {', '.join(BYPASS_IMPLS)}")
    return BRegNetwork(spec, task=task, num_classes=num_classes, bypass_impl=bypass_impl)
