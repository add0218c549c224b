"""`python -m bench.epoch_time`: seconds per training epoch for each Table 1 network and bypass implementation.

An epoch is the size of AffectNet's training set (287,651 images, the default on a GPU) or FER2013's
(28,709), at 64x64, batch 128, made of `synth` faces rendered straight into GPU memory as uint8 (the time
does not depend on pixel content). Each step is the training step of `bench.train` (augmentation on the
device, focal loss, Adam), so the input pipeline never leaves the GPU; a ``data-only`` row times that
pipeline alone to show it is far from the bottleneck.

Per config, by default, a budget of steps rather than whole epochs (15 configs x 4 AffectNet epochs take
25-40 minutes on an H100): ``--warmup-steps`` untimed steps (compilation, autotuning, allocator; GPU default
200), then ``--steps`` timed steps (GPU default 100) in samples of up to 10 steps each, CUDA-synchronised at
each sample's ends so the GPU's queue is not drained every step. The epoch is extrapolated as steps per
epoch (epoch size / batch) x the median step time, and the row says so (``extrapolated``, ``timed_steps``).
Batches are drawn at random from a pool of at most 16,384 images, since step time does not depend on the
set's size. ``--epochs N`` times N whole epochs instead (after ``--warmup`` epochs): the median epoch.
Either way: images per second and peak GPU memory over the timed part. Each config is a cell of
`bench.executor.run_cells` (``--executor ray`` fans them out; finished rows are skipped on a rerun). The
printed table (`reports.epoch_time`) adds what needs several rows: the speed-up of each bypass
implementation over the baselines timed with the same settings (triton over eager and compile),
BReG-Net's published epoch (750.21 s for an AffectNet epoch on a GTX 1080 Ti) as the reference, and the
H100 target: bregnext50 at >= 20,000 images/s with bf16, channels_last and the Triton bypass (an epoch in
<= 15 s).

Implementations (``--bypass-impls``), each row's ``bypass_form`` saying what ran:

- ``eager``, ``compile``: BReG-NeXt Eq. 8 as the authors' code writes it, atan(alpha x / s) / (alpha s)
  (`breg_models.eq8.eq8_authors`), eager and under torch.compile: the baselines a user would run, what a
  speed-up must be over;
- ``triton``: the fused Triton op;
- ``eager_safe``: the model's own eager path, the safe Eq. 8 as an autograd Function (what training runs on
  the CPU), a third, labelled line;
- ``auto``: the model's choice, the fused op on CUDA, else the safe eager path.

For networks whose bypass is not Eq. 8 (ResNet's identity, BReG-Net's atan) the definition is the authors' form:
eager and compile run it, triton and eager_safe are left out with a notice.

Without a GPU (or with ``--device cpu``) the defaults shrink to a smoke run that finishes in about a
minute: bregnext50, eager bypass, an epoch of 64 images (one batch) timed as 1 step after 1 warm-up step.
Those rows are labelled ``device: cpu``; they show the harness works, not what the target measures.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time

import torch
from tqdm import tqdm

from bench.cli import run_main
from bench.data import AugmentConfig, augment_and_normalise, make_synth
from bench.data.transform import InputTransform
from bench.executor import add_executor_args, executor_kwargs, run_cells
from bench.training.distributed import Dist
from bench.training.method import MethodContext
from bench.training.plain import Plain
from bench.training.runtime import AMP, check_bypass_impl, resolve_device, set_determinism
from harness.cli import (
    DEVICES,
    ArgumentParser,
    UsageError,
    check_output_path,
    device_name,
    examples,
    int_at_least,
    non_negative_int,
    open_store,
    positive_int,
    write_output,
)
from reports.epoch_time import AFFECTNET_EPOCH, IMPL_ORDER, render_epoch_time
from reports.render import FORMATS

COMMAND = "epoch_time"
EPOCH_SIZES = {"affectnet": AFFECTNET_EPOCH, "fer2013": 28_709}
CPU_DEFAULTS = {"models": "bregnext50", "bypass_impls": "eager", "epoch_size": "64", "amp": "off",
                "steps": 1, "warmup_steps": 1}
GPU_DEFAULTS = {"models": "resnet32,resnet50,bregnet32,bregnet50,bregnext32,bregnext50",
                "bypass_impls": "eager,compile,triton", "epoch_size": "affectnet", "amp": "bf16",
                "steps": 100, "warmup_steps": 200}
STEPS_PER_SAMPLE = 10  # timed steps between two synchronisations (fewer when --steps is small)
STEP_POOL = 16_384  # images a step budget draws its batches from
# --bypass-impls name -> the Shortcut impl it sets on every unit (`breg_models.bypass.IMPLS`)
SHORTCUT_IMPL = {"eager": "authors", "compile": "authors_compile", "eager_safe": "eager", "auto": "auto",
                 "triton": "triton"}
EQ8_ONLY = ("triton", "eager_safe")  # the same as eager, or not there at all, for other bypass kinds


def bypass_form(impl: str, kind: str, device: str) -> str:
    """What an implementation computes for a bypass kind, for the rows and the table."""
    if kind not in ("adaptive", "fixed"):
        return f"{kind}, torch.compile" if impl == "compile" else f"{kind}, eager"
    if impl == "auto":
        impl = "triton" if device == "cuda" else "eager_safe"
    return {"eager": "authors' Eq. 8, eager", "compile": "authors' Eq. 8, torch.compile",
            "eager_safe": "safe Eq. 8, the model's eager path", "triton": "fused Triton op"}[impl]


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m bench.epoch_time", description=__doc__.split("\n\n")[0], **examples(
        "python -m bench.epoch_time # GPU: Table 1's six networks; CPU: a one-batch smoke run",
        "python -m bench.epoch_time --models bregnext50 --bypass-impls eager,triton --epoch-size fer2013",
        "python -m bench.epoch_time --models bregnext50 --epochs 2 # two whole epochs, after one untimed"))
    p.add_argument("--models", default=None, help="comma-separated names or globs (GPU default: Table 1's "
                                                  "six; CPU default: bregnext50)")
    p.add_argument("--bypass-impls", default=None, help=f"comma-separated, of {', '.join(IMPL_ORDER)} (GPU "
                                                        "default: eager,compile,triton; CPU: eager)")
    p.add_argument("--epoch-size", default=None, help=" | ".join(f"{k} ({v:,})" for k, v in EPOCH_SIZES.items())
                   + " | a number of images (GPU default: affectnet; CPU: 64)")
    p.add_argument("--batch-size", type=int_at_least(2), default=128,
                   help="images per step, at least 2 (batch norm; default 128)")
    p.add_argument("--steps", type=positive_int, default=None, help="timed steps the epoch is extrapolated from (GPU "
                                                           "default 100, CPU 1)")
    p.add_argument("--warmup-steps", type=non_negative_int, default=None,
                   help="untimed steps first: compilation, autotuning "
                                                                  "(GPU default 200, CPU 1)")
    p.add_argument("--epochs", type=positive_int, default=None,
                   help="time this many whole epochs instead of a step budget")
    p.add_argument("--warmup", type=non_negative_int, default=None,
                   help="with --epochs: untimed epochs first (default 1)")
    p.add_argument("--image-size", type=positive_int, default=64, help="input side (default 64)")
    p.add_argument("--amp", choices=tuple(AMP), default=None, help="GPU default bf16, CPU off")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="GPU default on, CPU off")
    p.add_argument("--compile", action="store_true", help="also torch.compile the whole network")
    p.add_argument("--compile-backend", choices=("inductor", "aot_eager"), default="inductor",
                   help="torch.compile backend of the 'compile' bypass (aot_eager: checks the plumbing without "
                        "inductor's compile time; its rows say so; default inductor)")
    p.add_argument("--no-data-row", action="store_true", help="skip the data-pipeline-only timing row")
    p.add_argument("--device", type=device_name, default="auto",
                   help=f"{DEVICES} (default auto: cuda where there is one); sets the defaults above")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the weights and the images (default 0)")
    p.add_argument("--format", choices=FORMATS, default="markdown", help="format of the printed table")
    p.add_argument("--out", default=None, help="write the table here instead of stdout")
    add_executor_args(p, default_results="results/epoch_time.jsonl")
    return p


def _settle(args, device: torch.device) -> None:
    check_output_path(args.out, "--out")
    full_epochs = args.epochs is not None
    if full_epochs and (args.steps is not None or args.warmup_steps is not None):
        raise UsageError("--epochs times whole epochs, --steps/--warmup-steps a step budget: give one or the other")
    if not full_epochs and args.warmup is not None:
        raise UsageError("--warmup counts epochs and goes with --epochs; a step budget's is --warmup-steps")
    defaults = GPU_DEFAULTS if device.type == "cuda" else CPU_DEFAULTS
    for key, value in defaults.items():
        if getattr(args, key) is None and (key not in ("steps", "warmup_steps") or not full_epochs):
            setattr(args, key, value)
    if full_epochs and args.warmup is None:
        args.warmup = 1
    if args.channels_last is None:
        args.channels_last = device.type == "cuda"
    if args.amp == "fp16" and device.type != "cuda":
        raise UsageError("--amp fp16 needs --device cuda (use bf16 on the CPU)")
    size = EPOCH_SIZES.get(args.epoch_size, args.epoch_size)
    try:
        args.n_images = int(size)
    except ValueError:
        raise UsageError(f"--epoch-size must be affectnet, fer2013 or a number, not {args.epoch_size!r}") from None
    if args.n_images < 2:
        raise UsageError(f"--epoch-size must be at least 2 images (a batch norm step), got {args.epoch_size}")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_epochs(run_batch, n: int, batch_size: int, epochs: int, warmup: int, device: torch.device,
                bar: tqdm | None = None) -> tuple[list[float], int | None]:
    """Run ``warmup`` + ``epochs`` epochs of ``run_batch(index)`` over shuffled batches; the timed epochs'
    wall-clock seconds (synchronised before and after) and the peak GPU memory over them."""
    gen = torch.Generator(device=device).manual_seed(0)
    times = []
    for epoch in range(warmup + epochs):
        if epoch == warmup and device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        _sync(device)
        start = time.perf_counter()
        for idx in torch.randperm(n, device=device, generator=gen).split(batch_size):
            if idx.numel() > 1:  # BatchNorm cannot train on a batch of one
                run_batch(idx)
        _sync(device)
        if epoch >= warmup:
            times.append(time.perf_counter() - start)
        if bar is not None:
            bar.update()
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return times, peak


def steps_per_sample(steps: int) -> int:
    """Steps timed between two synchronisations: 10, or fewer so that a small budget still gives 2+ samples."""
    return max(1, min(STEPS_PER_SAMPLE, steps // 2))


def time_steps(run_batch, n: int, batch_size: int, steps: int, warmup_steps: int, device: torch.device,
               bar: tqdm | None = None) -> tuple[list[float], int | None]:
    """Run ``warmup_steps`` + ``steps`` steps of ``run_batch(index)`` on random batches of min(batch_size, n)
    of ``n`` images; seconds per step of each timed sample (`steps_per_sample` steps between two
    synchronisations; a remainder of steps is not timed) and the peak GPU memory over them."""
    gen = torch.Generator(device=device).manual_seed(0)
    per = steps_per_sample(steps)
    samples = steps // per
    batch = min(batch_size, n)
    batches = [torch.randperm(n, device=device, generator=gen)[:batch] for _ in range(warmup_steps + samples * per)]
    for idx in batches[:warmup_steps]:
        run_batch(idx)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for s in range(samples):
        _sync(device)
        start = time.perf_counter()
        for idx in batches[warmup_steps + s * per: warmup_steps + (s + 1) * per]:
            run_batch(idx)
        _sync(device)
        times.append((time.perf_counter() - start) / per)
        if bar is not None:
            bar.update()
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return times, peak


def cells(args, device: torch.device) -> list[dict]:
    """One config per (network, implementation), the data-pipeline row first unless turned off."""
    from breg_models import get_spec, resolve_names
    from breg_models.bypass import EQ8_KINDS

    models = resolve_names([m for m in args.models.split(",") if m])
    impls = [i for i in args.bypass_impls.split(",") if i]
    unknown = [i for i in impls if i not in IMPL_ORDER]
    if unknown:
        raise UsageError(f"unknown bypass implementation(s) {unknown}; choose from: {', '.join(IMPL_ORDER)}")
    impls = sorted(set(impls), key=IMPL_ORDER.index)
    for impl in impls:
        check_bypass_impl(impl, device)
    budget = {"epochs": args.epochs, "warmup": args.warmup} if args.epochs is not None else {
        "steps": args.steps, "warmup_steps": args.warmup_steps}
    common = {"epoch_size": args.n_images, "batch_size": args.batch_size, "image_size": args.image_size,
              "amp": args.amp, "channels_last": args.channels_last, **budget, "device": str(device),
              "seed": args.seed}
    if args.compile:  # only when set, so rows stored before the option existed still match
        common["compile"] = True
    jobs = [] if args.no_data_row else [("data-only", None, {})]
    for model, impl in ((m, i) for m in models for i in impls):
        kind = get_spec(model).bypass
        if impl in EQ8_ONLY and kind not in EQ8_KINDS:
            why = "the Triton kernel covers the Eq. 8 bypass only" if impl == "triton" else \
                "eager_safe is eager for a bypass other than Eq. 8"
            print(f"epoch_time: {model}: {why}; timing {kind!r} with the other implementations", file=sys.stderr)
            continue
        extra = {"compile_backend": args.compile_backend} if impl == "compile" and \
            args.compile_backend != "inductor" else {}
        jobs.append((model, impl, {"bypass_form": bypass_form(impl, kind, device.type), **extra}))
    return [{"model": m, "bypass_impl": i, **form, **common} for m, i, form in jobs]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    device = resolve_device(args.device)
    _settle(args, device)
    todo = cells(args, device)

    def cpu_notice() -> None:  # said once there is something to time, after every check
        if device.type != "cuda":
            print("epoch_time: no CUDA device in use: the epoch-time target (bregnext50 >= 20,000 images/s, "
                  "H100) needs --device cuda; timing a small CPU epoch instead (rows say device cpu)",
                  file=sys.stderr)

    result = run_cells(todo, run_cell, open_store(args.results), COMMAND,
                       needs_gpu=lambda c: c["device"].startswith("cuda"), desc="configs", preflight=cpu_notice,
                       **executor_kwargs(args))
    if result.finished:
        write_output(render_epoch_time(result.finished, args.format), args.out)
    result.raise_for_failures()
    return 0


@functools.lru_cache(maxsize=1)
def synth_data(n: int, seed: int, image_size: int, device: str):
    """The synth set of a cell, made on its device once per process: consecutive cells of a sweep share it
    (only the latest is kept: an AffectNet-sized set takes 3.5 GB)."""
    return make_synth(n, seed=seed, size=image_size, device=device)


def run_cell(config: dict) -> tuple[dict, dict]:
    """Time one config (the executor's cell function): seconds per epoch (median of whole epochs, or
    extrapolated from a step budget), images/s, peak GPU memory."""
    import torch._dynamo

    device = torch.device(config["device"])
    torch._dynamo.reset()  # a 'compile' cell compiles afresh, not into an earlier cell's recompile budget
    set_determinism(config["seed"], False)
    n, bs = config["epoch_size"], config["batch_size"]
    steps = config.get("steps")
    budget = {"steps": steps, "warmup_steps": config["warmup_steps"]} if steps is not None else {
        "epochs": config["epochs"], "warmup": config["warmup"]}
    pool = min(n, STEP_POOL) if steps is not None else n
    if config["model"] == "data-only":
        data = synth_data(pool, config["seed"], config["image_size"], str(device))
        augment = AugmentConfig()
        aug_gen = torch.Generator(device=device).manual_seed(config["seed"])

        def run_batch(idx):
            x = augment_and_normalise(data.images[idx], augment, aug_gen)
            if config["channels_last"]:
                x.contiguous(memory_format=torch.channels_last)

        if steps is not None:
            times, peak = time_steps(run_batch, pool, bs, steps, config["warmup_steps"], device)
        else:
            times, peak = time_epochs(run_batch, n, bs, config["epochs"], config["warmup"], device)
    else:
        times, peak = time_training(config["model"], device, n=pool, batch_size=bs, image_size=config["image_size"],
                                    amp=config["amp"], channels_last=config["channels_last"],
                                    bypass_impl=SHORTCUT_IMPL[config["bypass_impl"]], seed=config["seed"],
                                    compile=config.get("compile", False),
                                    compile_backend=config.get("compile_backend", "inductor"), **budget)
    if device.type == "cuda":
        torch.cuda.empty_cache()
    median = statistics.median(times)
    peak_gib = None if peak is None else peak / 2**30
    if steps is None:
        return ({"epoch_s": median, "images_per_s": n / median, "peak_gpu_mem_gib": peak_gib, "extrapolated": False},
                {"epoch_s_all": times, "epoch_s_min": min(times), "epoch_s_max": max(times)})
    steps_per_epoch = n / min(bs, pool)  # the last, partial batch counts as its share of a step
    per = steps_per_sample(steps)
    return ({"epoch_s": steps_per_epoch * median, "images_per_s": min(bs, pool) / median,
             "peak_gpu_mem_gib": peak_gib, "extrapolated": True, "timed_steps": per * len(times), "step_s": median,
             "steps_per_epoch": steps_per_epoch},
            {"step_s_all": times, "steps_per_sample": per, "warmup_steps": config["warmup_steps"]})


def time_training(model_name: str, device, *, task: str = "categorical", n: int, batch_size: int = 128,
                  epochs: int = 3, warmup: int = 1, image_size: int = 64, amp: str = "off",
                  channels_last: bool = False, bypass_impl: str = "eager", seed: int = 0, compile: bool = False,
                  data=None, bar: tqdm | None = None, steps: int | None = None,
                  warmup_steps: int = 0, compile_backend: str = "inductor") -> tuple[list[float], int | None]:
    """Seconds of each timed training epoch of ``n`` synth images (``data``: a set already on the device,
    else the process's cached one) and the peak GPU memory; the step is `bench.train`'s (augment, forward,
    loss, backward, Adam). With ``steps``: seconds per step of each timed sample of `time_steps` instead.
    ``bypass_impl`` is a Shortcut impl (`breg_models.bypass.IMPLS`: 'authors' and 'authors_compile' are set on
    the built model's units, with ``compile_backend``)."""
    from breg_models import create_model
    from breg_models.bypass import Shortcut
    from breg_models.registry import BYPASS_IMPLS

    device = torch.device(device)
    check_bypass_impl(bypass_impl, device)
    if data is None:
        data = synth_data(n, seed, image_size, str(device))
    built = bypass_impl if bypass_impl in BYPASS_IMPLS else "eager"
    model = create_model(model_name, task=task, bypass_impl=built).to(device)
    if built != bypass_impl:
        for unit in (m for m in model.modules() if isinstance(m, Shortcut)):
            unit.impl, unit.compile_backend = bypass_impl, compile_backend
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    config = {"loss": "focal" if task == "categorical" else "mse", "task": task, "amp": amp, "lr": 1e-4,
              "weight_decay": 1e-4, "lr_step": 10, "lr_gamma": 0.8}
    method = Plain(model, MethodContext(config, data.class_counts() if task == "categorical" else None,
                                        (image_size, image_size), device, Dist()))
    runner = torch.compile(model) if compile else model
    transform, gen = InputTransform(), torch.Generator(device=device).manual_seed(seed)
    targets = data.targets(task)

    def step(idx):
        x = transform.train(data.images[idx], gen)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return method.step(runner, x, targets[idx])

    if steps is not None:
        return time_steps(step, n, batch_size, steps, warmup_steps, device, bar)
    return time_epochs(step, n, batch_size, epochs, warmup, device, bar)


if __name__ == "__main__":
    sys.exit(run_main(main))
