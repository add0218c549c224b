"""`python -m bench.gradflow`: does a bounded bypass derivative keep gradients from vanishing or exploding?

BReG-NeXt Eq. 3-6 and 10: with x_{l+1} = H(x_l) + F(x_l), dE/dx_l carries the product over the deeper
units of (dF/dx_i + dH/dx_i); He et al.'s scaled shortcut H = lam x makes it grow (lam > 1) or shrink
(lam < 1) exponentially with depth, and Eq. 8's 0 < dH/dx <= 1 is meant to avoid both. This measures it.

A cell is (bypass, depth, batch-norm mode). On one fixed synthetic batch it records, at initialisation and
after ``--steps`` optimiser steps on that batch: the norm of dL/dx at the input of every residual unit, the
norm of every conv weight's gradient, the mean bypass derivative dH/dx at each unit (the Eq. 6 factor on
the shortcut path) and the RMS of each unit's input. Across depths, the slope of log10(first/last) against
the number of units is the growth rate: zero for a bounded flow, log10(lam) per unit for Eq. 6's
exponential one.

Two batch-norm modes, because batch norm changes the answer:
  batch   BN normalises with batch statistics, as in training. Every residual branch then sees its input
          rescaled to unit variance, so a shrinking shortcut is compensated through dF/dx: this is the
          gradient an optimiser actually sees.
  frozen  BN held in eval mode (at init: the identity), i.e. the un-normalised recursion of Eq. 4 that the
          paper's derivation assumes.
Rows go to the results store; the printed summary (one row per bypass, BN mode and phase) is CSV or JSON.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from breg_models import create_model, parse_bypass
from breg_models.bypass import EQ8_KINDS, FUNCTIONS, Bypass
from breg_models.network import units
from breg_models.specs import depth_to_k
from harness.cli import (
    DEVICES,
    ArgumentParser,
    check_output_path,
    device_name,
    examples,
    int_at_least,
    int_list_of,
    non_negative_int,
    open_store,
    positive_float,
    positive_int,
    write_output,
)
from metrics.gradient_growth import fit_growth as fit_growth  # the fit of these rows, shared with reports.gradflow
from reports.gradflow import render_gradflow
from reports.render import FORMATS

from .cli import run_main
from .executor import add_executor_args, executor_kwargs, run_cells

COMMAND = "gradflow"
DEFAULT_BYPASSES = ("identity", "scaled:lam=0.5", "scaled:lam=1.5", "atan", "adaptive")
DEFAULT_DEPTHS = (14, 50, 110, 206, 302)
BN_MODES = ("batch", "frozen")
OPTIMIZERS = ("adam", "sgd")
NUM_CLASSES = 8


def bypass_derivative(bypass: Bypass, x: Tensor) -> Tensor:
    """dH/dx of one unit's bypass at its input, elementwise (the closed form from `breg_models.bypass`)."""
    if bypass.kind in EQ8_KINDS:
        return bypass.function.dfn(x, bypass.alpha.to(x.dtype), bypass.beta.to(x.dtype))
    return bypass.function.dfn(x, **bypass.params)


class UnitProbe:
    """Hooks on every residual unit's input: its RMS, the mean dH/dx there, and |dL/dx| after backward."""

    def __init__(self, model: nn.Module):
        self.units = units(model)
        self.input_rms: list[float] = []
        self.bypass_gain: list[float] = []
        self.grad_norms: list[float | None] = []
        self._handles = [u.register_forward_pre_hook(self._make_hook(i)) for i, u in enumerate(self.units)]

    def reset(self) -> None:
        n = len(self.units)
        self.input_rms, self.bypass_gain, self.grad_norms = [math.nan] * n, [math.nan] * n, [None] * n

    def _make_hook(self, i: int):
        def hook(unit: nn.Module, args: tuple) -> None:
            x = args[0]
            with torch.no_grad():
                x64 = x.double()
                self.input_rms[i] = x64.pow(2).mean().sqrt().item()
                self.bypass_gain[i] = bypass_derivative(unit.shortcut.bypass, x64).mean().item()
            if x.requires_grad:
                x.register_hook(lambda g: self.grad_norms.__setitem__(i, g.double().norm().item()))
        return hook

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


def fixed_batch(config: dict) -> tuple[Tensor, Tensor]:
    """Standard-normal images (zero-centred, as the paper's input) and random labels, fixed by the seed."""
    g = torch.Generator().manual_seed(config["seed"] + 1)
    size = config["input_size"]
    x = torch.randn(config["batch"], 3, size, size, generator=g, dtype=torch.float64)
    y = torch.randint(0, NUM_CLASSES, (config["batch"],), generator=g)
    return x, y


def build(config: dict) -> nn.Module:
    kind, params = parse_bypass(config["bypass"])
    torch.manual_seed(config["seed"])
    model = create_model(f"bregnext{config['depth']}", num_classes=NUM_CLASSES, bypass=kind, bypass_params=params)
    return model.to(device=config["device"], dtype=getattr(torch, config["dtype"]))


def set_bn_mode(model: nn.Module, mode: str) -> None:
    """``frozen``: BN layers in eval mode (fixed affine maps; identity at init), everything else training."""
    model.train()
    if mode == "frozen":
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()


def snapshot(model: nn.Module, probe: UnitProbe, x: Tensor, y: Tensor) -> dict:
    """One forward and backward on the fixed batch; the gradient-flow figures of this moment."""
    model.zero_grad(set_to_none=True)
    probe.reset()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    grads = [math.nan if g is None else g for g in probe.grad_norms]
    conv1 = [_grad_norm(u.conv1.weight) for u in probe.units]
    conv2 = [_grad_norm(u.conv2.weight) for u in probe.units]
    weight = [math.hypot(a, b) for a, b in zip(conv1, conv2, strict=True)]
    out = {
        "loss": loss.item(),
        "input_grad_norm": grads,
        "log10_grad_ratio": _log10_ratio(grads[0], grads[-1]),
        "conv1_grad_norm": conv1,
        "conv2_grad_norm": conv2,
        "log10_weight_grad_ratio": _log10_ratio(weight[0], weight[-1]),
        "stem_grad_norm": _grad_norm(model.stem.weight),
        "fc_grad_norm": _grad_norm(model.fc.weight),
        "bypass_gain": probe.bypass_gain,
        "log10_bypass_product": float(np.sum(np.log10(probe.bypass_gain))),
        "input_rms": probe.input_rms,
        "finite": bool(np.all(np.isfinite(grads)) and math.isfinite(loss.item())),
    }
    trainable = [u.shortcut.bypass for u in probe.units if u.shortcut.bypass.function.trainable]
    if trainable:  # where Eq. 8's alpha and beta went during training
        out["alpha_mean"] = float(np.mean([b.alpha.item() for b in trainable]))
        out["beta_mean"] = float(np.mean([b.beta.item() for b in trainable]))
    return out


def measure_cell(config: dict) -> tuple[dict, dict]:
    """The cell function of the sweep: figures at init and after ``steps`` steps on the fixed batch."""
    model = build(config)
    x, y = (t.to(config["device"]) for t in fixed_batch(config))
    x = x.to(getattr(torch, config["dtype"]))
    set_bn_mode(model, config["bn"])
    probe = UnitProbe(model)
    timings = {}
    start = time.perf_counter()
    metrics = {"depth": config["depth"], "units": len(probe.units), "init": snapshot(model, probe, x, y)}
    timings["init_s"] = time.perf_counter() - start
    if config["steps"]:
        opt_cls = torch.optim.Adam if config["optimizer"] == "adam" else torch.optim.SGD
        optimizer = opt_cls(model.parameters(), lr=config["lr"])
        start = time.perf_counter()
        losses = []
        for _ in range(config["steps"]):
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        metrics["train_losses"] = losses
        metrics["trained"] = snapshot(model, probe, x, y)
        timings["train_s"] = time.perf_counter() - start
    probe.remove()
    return metrics, timings


def _grad_norm(p: nn.Parameter) -> float:
    return math.nan if p.grad is None else p.grad.double().norm().item()


def _log10_ratio(first: float, last: float) -> float:
    if not (math.isfinite(first) and math.isfinite(last)) or first <= 0 or last <= 0:
        return math.nan
    return math.log10(first) - math.log10(last)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = ArgumentParser(prog="python -m bench.gradflow", description=__doc__.splitlines()[0], **examples(
        "python -m bench.gradflow --depths 14,50,110 --steps 0 # the README's figure: then python -m reports --figures",
        "python -m bench.gradflow --bypass identity scaled:lam=1.5 atan --bn frozen --dtype float64",
        "python -m bench.gradflow --format csv --out gradflow.csv # every default cell, the summary as CSV"))
    p.add_argument("--bypass", nargs="+", default=list(DEFAULT_BYPASSES), metavar="SPEC",
                   help="bypass kinds, e.g. scaled:lam=1.5 or adaptive:beta=0 (Eq. 8 from the Table 9 point; "
                   f"default: {' '.join(DEFAULT_BYPASSES)}); kinds: {', '.join(FUNCTIONS)}")
    p.add_argument("--depths", type=int_list_of(positive_int), default=list(DEFAULT_DEPTHS),
                   help="BReG-NeXt depths 6k+8 (default 14,50,110,206,302)")
    p.add_argument("--bn", nargs="+", choices=BN_MODES, default=list(BN_MODES),
                   help="batch-norm modes to measure under (default: both)")
    p.add_argument("--steps", type=non_negative_int, default=3,
                   help="optimiser steps on the fixed batch before the second "
                   "measurement; 0 measures at initialisation only (default 3)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", help="(default adam, as the paper)")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="learning rate of those steps (default 1e-3)")
    p.add_argument("--input-size", type=int_at_least(4), default=8,
                   help="square synthetic input side, at least 4 (default 8, for speed; "
                   "the slopes change little with it)")
    p.add_argument("--batch", type=int_at_least(2), default=8,
                   help="fixed batch size, at least 2 (batch norm; default 8)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the weights and the batch (default 0)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="float64 widens the range before the gradients of very deep cells overflow or underflow")
    p.add_argument("--device", type=device_name, default="cpu",
                   help=f"{DEVICES} (default cpu: the measurement is of gradients, not speed; with --executor ray "
                        "a cuda cell asks for a GPU)")
    p.add_argument("--format", choices=FORMATS, default="markdown", help="summary format (default markdown)")
    p.add_argument("--out", help="write the summary here instead of stdout")
    add_executor_args(p, default_results="results/gradflow.jsonl")
    return p.parse_args(argv)


def make_cells(args: argparse.Namespace) -> list[dict]:
    for depth in args.depths:
        depth_to_k(depth)
    bypasses = list(dict.fromkeys(args.bypass))
    for spec in bypasses:
        parse_bypass(spec)
    return [{"model": "bregnext", "depth": d, "bypass": b, "bn": bn, "steps": args.steps,
             "optimizer": args.optimizer, "lr": args.lr, "input_size": args.input_size, "batch": args.batch,
             "seed": args.seed, "dtype": args.dtype, "device": args.device}
            for b in bypasses for bn in args.bn for d in sorted(set(args.depths))]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cells = make_cells(args)
    check_output_path(args.out, "--out")
    result = run_cells(cells, measure_cell, open_store(args.results), COMMAND,
                       needs_gpu=lambda c: c["device"].startswith("cuda"), **executor_kwargs(args))
    lost = sum(not row["metrics"][phase]["finite"] or not math.isfinite(row["metrics"][phase]["log10_grad_ratio"])
               for row in result.finished for phase in ("init", "trained") if phase in row["metrics"])
    if lost:
        print(f"gradflow: {lost} measurement(s) overflowed or underflowed and are left out of the fits; "
              "--dtype float64 reaches deeper", file=sys.stderr)
    write_output(render_gradflow(result.finished, args.format), args.out)
    result.raise_for_failures()
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
