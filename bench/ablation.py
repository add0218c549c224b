"""`python -m bench.ablation`: the bypass ablations of BReG-NeXt Tables 8-9 and BReG-Net Table I.

Presets (``--preset``, several allowed):
  table8   BReG-NeXt-50 with Eq. 7's H1, H2, H3 and Eq. 8 (Table 8)
  table9   BReG-NeXt-32 and -50, adaptive Eq. 8 vs non-adaptive (alpha = 1, beta = 0 fixed) (Table 9)
  bregnet  BReG-Net-50 with BReG-Net's H1, H2, H3 (its Table I)
  scaled   BReG-NeXt-50 with the identity and lam x, lam in {0.5, 0.9, 1.1, 1.5} (He et al.'s counter-example)
  caf_table4  CAF Table 4: its ResNet-18 and tuned AlexNet (torchvision's) on valence/arousal with the AV loss,
           without the critic, with FisherGAN, SphereGAN and GRAM-net critics, and under Algorithm 1 with the
           constant (0.2), linear (0.1 + 5e-3 x epoch) and adaptive (Delta, the reference) margins; 64x64 inputs
           by default (AlexNet needs 63 px)
Each cell (model, bypass or method, seed) is one `bench.train` run; its row holds the final validation
metrics and the learned alpha, beta of every unit (the paper reports about 0.5 early and 1.2 deep).
`reports.ablation` turns the rows into mean +- std over seeds with a paired test against the preset's
reference.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from breg_models import parse_bypass, resolve_names
from breg_models.specs import TASKS
from harness.cli import (
    DEVICES,
    ArgumentParser,
    data_spec,
    device_name,
    examples,
    int_at_least,
    int_list_of,
    non_negative_int,
    positive_int,
)
from harness.data_spec import SOURCES
from reports.ablation import render_ablation
from reports.render import FORMATS

from .cli import check_data, run_main
from .executor import add_executor_args, run_sweep
from .paper_runs import CAF_TABLE4, method_options
from .train_cell import train_cell
from .training.runtime import check_bypass_impl

COMMAND = "ablation"
# preset -> (models, bypasses, reference bypass the others are tested against)
PRESETS = {
    "table8": (["bregnext50"], ["bregnext_h1", "bregnext_h2", "bregnext_h3", "adaptive"], "adaptive"),
    "table9": (["bregnext32", "bregnext50"], ["adaptive", "fixed:alpha=1,beta=0"], "adaptive"),
    "bregnet": (["bregnet50"], ["bregnet_h1", "bregnet_h2", "bregnet_h3"], "bregnet_h3"),
    "scaled": (["bregnext50"], ["identity", "scaled:lam=0.5", "scaled:lam=0.9", "scaled:lam=1.1",
                                "scaled:lam=1.5"], "identity"),
}
# preset -> (models, training methods as `bench.paper_runs.method_options` reads them, reference): a method preset
# trains valence/arousal with the AV loss; its cells carry "variant" (the method) where bypass presets carry "bypass".
METHOD_PRESETS = {"caf_table4": (["tv_resnet18", "tv_alexnet_tuned"], list(CAF_TABLE4), "caf")}
MIN_IMAGE = {"caf_table4": 64}  # the default input side of a preset whose networks need more than the CPU's 32
CPU_DEFAULTS = {"epochs": 1, "batch_size": 32, "image_size": 32, "synth_train": 256, "synth_val": 128}
GPU_DEFAULTS = {"epochs": 10, "batch_size": 128, "image_size": 64, "synth_train": 20_000, "synth_val": 4_000}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = ArgumentParser(prog="python -m bench.ablation", description=__doc__.split("\n\n")[0], **examples(
        "python -m bench.ablation --seeds 0 # Table 8 with one seed (on the CPU: a smoke run)",
        "python -m bench.ablation --preset table9 bregnet --device cuda --data affectnet:data/affectnet",
        "python -m bench.ablation --preset caf_table4 --device cuda --data affectnet:data/affectnet --executor ray",
        before=__doc__.split("\n\n")[1]))
    p.add_argument("--preset", nargs="+", choices=(*PRESETS, *METHOD_PRESETS), default=["table8"],
                   help="ablations to run, listed below (default table8)")
    p.add_argument("--models", nargs="+", help="override the presets' models (names or globs)")
    p.add_argument("--seeds", type=int_list_of(non_negative_int), default=[0, 1, 2],
                   help="seeds per cell (default 0,1,2)")
    p.add_argument("--task", choices=TASKS, default=None,
                   help="classes (accuracy) or valence and arousal (RMSE) (default categorical; caf_table4 is "
                        "dimensional only)")
    p.add_argument("--data", type=data_spec, default="synth", metavar="SPEC",
                   help="synth (built in, the default) or " + ", ".join(f"{s}:PATH" for s in SOURCES if s != "synth")
                   + " (README: Data on disk)")
    p.add_argument("--epochs", type=positive_int, default=None, help="training epochs per cell (CPU 1, GPU 10)")
    p.add_argument("--batch-size", type=int_at_least(2), default=None,
                   help="at least 2 (batch norm); CPU default 32, GPU 128")
    p.add_argument("--image-size", type=int_at_least(16), default=None,
                   help="input side, at least 16 (the synth faces' least) (CPU 32, GPU 64; caf_table4 at least 64)")
    p.add_argument("--synth-train", type=positive_int, default=None,
                   help="synth training set size (CPU 256, GPU 20000)")
    p.add_argument("--synth-val", type=positive_int, default=None, help="synth validation set size (CPU 128, GPU 4000)")
    p.add_argument("--device", type=device_name, default="auto",
                   help=f"{DEVICES} (default auto: cuda where there is one); cuda takes the GPU defaults")
    p.add_argument("--amp", choices=("off", "bf16", "fp16"), default="off", help="autocast dtype (default off)")
    p.add_argument("--bypass-impl", default="eager", choices=("eager", "compile", "triton", "auto"),
                   help="how the bypass runs (default eager; triton needs CUDA)")
    p.add_argument("--format", choices=FORMATS, default="markdown", help="table format (default markdown)")
    p.add_argument("--out", help="write the table here instead of stdout")
    add_executor_args(p, default_results="results/ablation.jsonl")
    args = p.parse_args(argv)
    defaults = dict(GPU_DEFAULTS if args.device.startswith("cuda") else CPU_DEFAULTS)
    defaults["image_size"] = max([defaults["image_size"], *(MIN_IMAGE.get(p, 0) for p in args.preset)])
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def cells(args: argparse.Namespace) -> list[dict]:
    out, seen = [], set()
    common = {k: getattr(args, k) for k in ("data", "epochs", "batch_size", "image_size", "device", "amp",
                                            "bypass_impl")}
    if args.data == "synth":
        common.update(synth_train=args.synth_train, synth_val=args.synth_val)
    for preset in args.preset:
        for cell in _preset_cells(preset, args):
            cell = {**cell, **common}
            key = json.dumps(cell, sort_keys=True)
            if key not in seen:
                seen.add(key)
                out.append(cell)
    return out


def _preset_cells(preset: str, args: argparse.Namespace) -> list[dict]:
    """One preset's cells before the shared settings: (model, bypass or method, seed) each."""
    if preset in METHOD_PRESETS:
        models, methods, reference = METHOD_PRESETS[preset]
        if args.task == "categorical":
            raise ValueError(f"--preset {preset} trains valence and arousal: drop --task categorical")
        models = resolve_names(args.models) if args.models else models
        _check_image_size(models, args.image_size)
        return [{"preset": preset, "reference": reference, "model": model, "variant": method, "task": "dimensional",
                 "loss": "av", **_method_options(method), "seed": seed}
                for model in models for method in methods for seed in args.seeds]
    models, bypasses, reference = PRESETS[preset]
    models = resolve_names(args.models) if args.models else models
    for bypass in bypasses:
        parse_bypass(bypass)
    return [{"preset": preset, "reference": reference, "model": model, "bypass": bypass, "seed": seed,
             "task": args.task or "categorical"} for model in models for bypass in bypasses for seed in args.seeds]


def _method_options(method: str) -> dict:
    """bench.train's settings of a method (its margin checked here, before any cell trains)."""
    from losses.caf import MarginSchedule

    options = method_options(method)
    if options["method"] == "plain":
        return {}
    return {**options, "caf_margin": MarginSchedule.parse(options.get("caf_margin", "adaptive")).spec}


def _check_image_size(models: list[str], size: int) -> None:
    from breg_models import get_spec

    for model in models:
        need = getattr(get_spec(model), "min_side", 1)
        if size < need:
            raise ValueError(f"--image-size {size} is too small for {model}: it takes at least {need} pixels a side")


def run_cell(config: dict) -> dict:
    """Train one (model, bypass, seed); final validation metrics and the learned alpha, beta."""
    last, state = train_cell(config)
    metrics = {k: v for k, v in last.items() if isinstance(v, (int, float)) or v is None}
    metrics.update(learned_bypass(state))
    return metrics


def learned_bypass(state: dict) -> dict:
    """alpha and beta of every unit, in network order, from a model state dict (empty lists if none)."""
    alpha = [float(v) for k, v in state.items() if k.endswith("shortcut.bypass.alpha")]
    beta = [float(v) for k, v in state.items() if k.endswith("shortcut.bypass.beta")]
    return {"alpha": alpha, "beta": beta}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_sweep(args, cells(args), run_cell, COMMAND, render_ablation, desc="ablation cells",
                     preflight=lambda: preflight(args))


def preflight(args: argparse.Namespace) -> None:
    """Before the first cell (the device is checked by then): what every cell would fail on alike."""
    check_bypass_impl(args.bypass_impl, torch.device(args.device))
    check_data(args.data)


if __name__ == "__main__":
    sys.exit(run_main(main))
