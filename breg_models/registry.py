"""Model names -> specs -> modules: `create_model(name, ...)` and `list_models()`, in the manner of timm."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import replace
from pathlib import Path

from torch import nn

from .backbones import BACKBONES, BackboneSpec, build_backbone, load_init
from .bypass import get_function, resolve_params
from .network import BRegNetwork, _outputs
from .specs import BREGNET_PAPER, TABLE1, TABLE2_DEPTHS, TASKS, NetworkSpec, arrangement_overrides, bregnext_spec

_FAMILY = re.compile(r"bregnext(\d+)")
# '<arrangement>-d<depth>': the BReG-NeXt, BReG-Net or ResNet arrangement at any depth 6k+8 (depth sweeps).
_ARRANGED = re.compile(r"(bregnext|bregnet|resnet)-d(\d+)")
BYPASS_IMPLS = ("eager", "compile", "triton", "auto")


def list_models(pattern: str | None = None, backbones: bool = False) -> list[str]:
    """Table 1's six networks, Table 2's depths and BReG-Net's own two; any `bregnext{6k+8}` also builds.
    ``backbones`` adds DACL's and CAF's torchvision networks (`tv_*`, `breg_models.backbones`), which the BReG
    tables leave out."""
    names = list(TABLE1) + [f"bregnext{d}" for d in TABLE2_DEPTHS if f"bregnext{d}" not in TABLE1]
    names += list(BREGNET_PAPER)
    names += list(BACKBONES) if backbones else []
    return [n for n in names if pattern is None or fnmatch.fnmatch(n, pattern)]


def get_spec(name: str) -> NetworkSpec | BackboneSpec:
    if name in BACKBONES:
        return BACKBONES[name]
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
    raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(list_models(backbones=True))} "
                     "(or bregnext<6k+8>, or bregnext|bregnet|resnet-d<6k+8>)")


def resolve_names(patterns: list[str]) -> list[str]:
    """Names or globs (e.g. 'bregnext*', 'resnet32') -> model names, in order, each at most once. A glob
    matches the BReG networks; one that matches none of them is tried on the torchvision backbones ('tv_*')."""
    out: list[str] = []
    for pattern in patterns:
        found = ((list_models(pattern) or list_models(pattern, backbones=True)) if any(c in pattern for c in "*?[")
                 else [get_spec(pattern).name])
        if not found:
            raise ValueError(f"no model matches {pattern!r}; choose from: {', '.join(list_models(backbones=True))}")
        out += [n for n in found if n not in out]
    return out


def create_model(name: str, task: str = "categorical", num_classes: int | None = None, bypass: str | None = None,
                 bypass_params: dict | None = None, bypass_impl: str = "eager", init: str | Path | None = None,
                 **overrides) -> nn.Module:
    """Build a network by name. ``bypass`` swaps the bypass of every unit (ablations); ``overrides`` set spec
    fields (``stem_stride``, ``stem_width``, ``alpha_init``, ``beta_init``, ...). ``init``: a state dict file to
    start from (`backbones.load_init`: the classifier head stays fresh where its shape differs, everything
    else must fit). The `tv_*` names build torchvision's networks (`breg_models.backbones`), which have no
    bypass and no spec options."""
    spec = get_spec(name)
    if isinstance(spec, BackboneSpec):
        return _create_backbone(spec, task, num_classes, bypass, bypass_params, bypass_impl, init, overrides)
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
    model = BRegNetwork(spec, task=task, num_classes=num_classes, bypass_impl=bypass_impl)
    return load_init(model, init, "fc", name) if init is not None else model


def _create_backbone(spec: BackboneSpec, task: str, num_classes: int | None, bypass: str | None,
                     bypass_params: dict | None, bypass_impl: str, init: str | Path | None,
                     overrides: dict) -> nn.Module:
    if bypass is not None or bypass_params is not None:
        raise ValueError(f"{spec.name} is torchvision's network: it has no bounded-gradient bypass to set")
    if bypass_impl not in ("eager", "auto"):
        raise ValueError(f"{spec.name} has no bypass to implement: bypass_impl must be eager, not {bypass_impl!r}")
    if overrides:
        raise ValueError(f"{spec.name} takes no model options ({', '.join(sorted(overrides))}): its layout is "
                         "torchvision's")
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    model = build_backbone(spec, _outputs(task, num_classes))
    model.task = task
    return load_init(model, init, spec.head, spec.name) if init is not None else model
