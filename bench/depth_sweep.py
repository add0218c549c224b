"""`python -m bench.depth_sweep`: cost and accuracy of BReG-NeXt against depth (Table 2, Fig. 5).

For each depth (default Table 2's 26, 32, ..., 68) and arrangement (BReG-NeXt by default; BReG-Net and
ResNet at the same depths with ``--arrangements``): parameters and FLOPs (the counting of `bench.flops`),
the time of a training step and images per second on the chosen device (the step of `bench.train`, timed
by `bench.epoch_time`), peak GPU memory, and with ``--epochs N`` the validation accuracy (categorical) or
RMSE per dimension (dimensional) after N epochs of `bench.train` on ``--data``. One row per cell goes to
the results store as it finishes; a rerun skips finished cells. With no arguments it runs on the CPU with
the embedded `synth` data and a short training budget, in a few minutes.
"""

from __future__ import annotations

import argparse
import statistics
import sys

import torch

from breg_models import create_model
from breg_models.specs import ARRANGEMENTS, TABLE2_DEPTHS, TASKS, depth_to_k
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
from reports.depth import render_depth_sweep
from reports.render import FORMATS

from .cli import check_data, run_main
from .complexity import count_flops, count_params
from .executor import add_executor_args, run_sweep
from .train_cell import train_cell
from .training.runtime import check_bypass_impl

COMMAND = "depth_sweep"
CPU_DEFAULTS = {"batch_size": 16, "steps": 2, "epochs": 1, "synth_train": 256, "synth_val": 128,
                "image_size": 32}
GPU_DEFAULTS = {"batch_size": 128, "steps": 50, "epochs": 0, "synth_train": 20_000, "synth_val": 4_000,
                "image_size": 64}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = ArgumentParser(prog="python -m bench.depth_sweep", description=__doc__.splitlines()[0], **examples(
        "python -m bench.depth_sweep --depths 26,32 --epochs 0 # cost only: parameters, FLOPs, step time",
        "python -m bench.depth_sweep --arrangements bregnext,resnet # and ResNet at the same depths",
        "python -m bench.depth_sweep --device cuda --data affectnet:data/affectnet --epochs 10 --amp bf16"))
    p.add_argument("--depths", type=int_list_of(positive_int), default=list(TABLE2_DEPTHS),
                   help="depths 6k+8 (default 26..68)")
    p.add_argument("--arrangements", default="bregnext",
                   help=f"comma-separated, of {', '.join(ARRANGEMENTS)} (default bregnext)")
    p.add_argument("--task", choices=TASKS, default="categorical",
                   help="classes (accuracy) or valence and arousal (RMSE) (default categorical)")
    p.add_argument("--data", type=data_spec, default="synth", metavar="SPEC",
                   help="synth (built in, the default) or " + ", ".join(f"{s}:PATH" for s in SOURCES if s != "synth")
                   + " (README: Data on disk)")
    p.add_argument("--epochs", type=non_negative_int, default=None,
                   help="training epochs per depth for the accuracy/RMSE columns (0: cost only; CPU default 1)")
    p.add_argument("--image-size", type=int_at_least(16), default=None,
                   help="training and timing input side, at least 16 (the synth faces' least) (CPU 32, GPU 64)")
    p.add_argument("--flops-input-size", type=int_at_least(8), default=64,
                   help="input side for FLOPs, at least 8 (default 64, as Table 2)")
    p.add_argument("--batch-size", type=int_at_least(2), default=None,
                   help="at least 2 (batch norm); CPU default 16, GPU 128")
    p.add_argument("--steps", type=positive_int, default=None, help="timed training steps per depth (CPU 2, GPU 50)")
    p.add_argument("--synth-train", type=positive_int, default=None, help="synth training set size (CPU 256)")
    p.add_argument("--synth-val", type=positive_int, default=None, help="synth validation set size (CPU 128)")
    p.add_argument("--device", type=device_name, default="auto",
                   help=f"{DEVICES} (default auto: cuda where there is one); cuda takes the GPU defaults")
    p.add_argument("--amp", choices=("off", "bf16", "fp16"), default="off", help="autocast dtype (default off)")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    p.add_argument("--bypass-impl", default="eager", choices=("eager", "compile", "triton", "auto"),
                   help="how the bypass runs (default eager; triton needs CUDA)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the weights and data order (default 0)")
    p.add_argument("--format", choices=FORMATS, default="markdown", help="table format (default markdown)")
    p.add_argument("--out", help="write the table here instead of stdout")
    add_executor_args(p, default_results="results/depth_sweep.jsonl")
    args = p.parse_args(argv)
    defaults = GPU_DEFAULTS if args.device.startswith("cuda") else CPU_DEFAULTS
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def cells(args: argparse.Namespace) -> list[dict]:
    arrangements = [a for a in args.arrangements.split(",") if a]
    for a in arrangements:
        if a not in ARRANGEMENTS:
            raise ValueError(f"unknown arrangement {a!r}; choose from: {', '.join(ARRANGEMENTS)}")
    for depth in args.depths:
        depth_to_k(depth)
    common = {k: getattr(args, k) for k in ("task", "data", "epochs", "image_size", "flops_input_size",
                                            "batch_size", "steps", "device", "amp", "channels_last",
                                            "bypass_impl", "seed")}
    if args.data == "synth":
        common.update(synth_train=args.synth_train, synth_val=args.synth_val)
    return [{"model": model_name(a, d), "arrangement": a, "depth": d, **common}
            for a in arrangements for d in args.depths]


def model_name(arrangement: str, depth: int) -> str:
    return f"bregnext{depth}" if arrangement == "bregnext" else f"{arrangement}-d{depth}"


def run_cell(config: dict) -> tuple[dict, dict]:
    """Count, time and (optionally) train one depth: the cell function the executor runs."""
    from .epoch_time import time_training

    model = create_model(config["model"], task=config["task"])
    metrics = {"title": model.spec.title, "depth": model.spec.depth, "units": model.spec.units,
               **count_params(model), **count_flops(model, config["flops_input_size"])}
    device = torch.device(config["device"])
    times, peak = time_training(config["model"], device, task=config["task"], n=config["batch_size"] * config["steps"],
                                batch_size=config["batch_size"], epochs=3, warmup=1, image_size=config["image_size"],
                                amp=config["amp"], channels_last=config["channels_last"],
                                bypass_impl=config["bypass_impl"], seed=config["seed"])
    step_s = statistics.median(times) / config["steps"]
    metrics.update(step_s=step_s, images_per_s=config["batch_size"] / step_s,
                   peak_gpu_mem_gib=None if peak is None else peak / 2**30)
    if config["epochs"]:
        metrics.update(_train(config))
    return metrics, {"step_s_all": [t / config["steps"] for t in times]}


def _train(config: dict) -> dict:
    """Final-epoch validation metrics of `bench.train` at this depth."""
    last, _ = train_cell(config)
    keep = ("accuracy", "macro_f1") if config["task"] == "categorical" else (
        "rmse_valence", "rmse_arousal", "rmse_total", "ccc_valence", "ccc_arousal")
    return {f"val_{k}": last.get(k) for k in keep} | {"train_loss": last.get("train_loss")}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_sweep(args, cells(args), run_cell, COMMAND, render_depth_sweep, desc="depths",
                     preflight=lambda: preflight(args))


def preflight(args: argparse.Namespace) -> None:
    """Before the first cell (the device is checked by then): what every cell would fail on alike."""
    check_bypass_impl(args.bypass_impl, torch.device(args.device))
    if args.epochs:  # only training reads the data
        check_data(args.data)


if __name__ == "__main__":
    sys.exit(run_main(main))
