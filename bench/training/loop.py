"""The epoch loop of `bench.train`: steps, evaluation, one result row per epoch, checkpoints, resume.

Per epoch: the shuffled order (one generator, checkpointed), each batch augmented on the device where it sits
and handed to the method's step, the learning-rate schedule, then evaluation on the validation split (and on
the held-out part of the training set when ``holdout`` is set, which then picks the best epoch), the epoch's
row (stored before its checkpoint: a crash between them reruns the epoch, whose row is kept once), and the
checkpoints last.pt and best.pt. A rerun of the same config resumes from last.pt, bit for bit.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from bench.checkpoint import load_weights, read_train_checkpoint, save_checkpoint
from bench.data import BatchFeed, Dataset, choose_data_path
from harness.cli import UsageError
from harness.results_store import ResultsStore, make_row

from .distributed import Dist
from .holdout import split_holdout
from .inputs import batches, input_transform, load_split, predict
from .method import Method, MethodContext

COMMAND = "train"


@dataclass
class RunPlace:
    """Where a run's rows, checkpoints and data go and how it starts: ``resume`` a --resume checkpoint's path and
    dict, read and checked (`read_train_checkpoint`) before the run was claimed (None: the run's own last.pt),
    ``force`` retrain from scratch, ``data_path`` auto/resident/stream (`bench.data.choose_data_path`),
    ``cache_dir`` the decoded cache (None: the default). None of these change what the run computes, so none is in
    its config."""

    store: ResultsStore
    run_dir: Path
    resume: tuple[Path, dict] | None = None
    force: bool = False
    data_path: str = "auto"
    cache_dir: str | None = None


def build_method(model: nn.Module, ctx: MethodContext) -> Method:
    """The method a config names: CAF's Algorithm 1, DACL or center loss, or a plain loss."""
    if ctx.config.get("method") == "caf":
        from .caf import CAFMethod

        return CAFMethod(model, ctx)
    if ctx.config["loss"] in ("dacl", "center"):
        from .dacl import CenterLossMethod

        return CenterLossMethod(model, ctx)
    from .plain import Plain

    return Plain(model, ctx)


def build_model(config: dict, device: torch.device) -> nn.Module:
    from breg_models import create_model, parse_bypass

    bypass, params = parse_bypass(config["bypass"]) if config.get("bypass") else (None, None)
    model = create_model(config["model"], task=config["task"], num_classes=config["num_classes"] if config["task"] ==
                         "categorical" else None, bypass=bypass, bypass_params=params,
                         bypass_impl=config["bypass_impl"], init=config.get("init")).to(device)
    return model.to(memory_format=torch.channels_last) if config["channels_last"] else model


def load_data(config: dict, cache_dir: str | None = None) -> tuple[Dataset, Dataset | None, Dataset]:
    """(training part, held-out part or None, validation split) of the run's data."""
    train = load_split(config, "train", cache_dir)
    if config["task"] == "categorical" and train.num_classes != config["num_classes"]:
        raise UsageError(f"{config['data']} has {train.num_classes} classes, not --num-classes {config['num_classes']}")
    train, held = split_holdout(train, config.get("holdout", 0.0), config["seed"], config["task"])
    return train, held, load_split(config, "val", cache_dir)


def placed(ds: Dataset, device: torch.device, choice: str) -> tuple[Dataset, str]:
    """``ds`` resident on ``device`` when it fits (or ``choice`` says so), else left on disk to be streamed."""
    path = choose_data_path(ds.nbytes, device, choice) if not isinstance(ds.images, torch.Tensor) else "resident"
    return (ds.to(device) if path == "resident" else ds), path


@dataclass
class Validated:
    """The last epoch's predictions on the validation split (``dataset``, in ``seconds``) by the bare model, and
    the checkpoints that hold that epoch's weights (best.pt, best_val.pt): the end-of-run evaluation of those
    would compute the same predictions again, so it takes these (`bench.evaluate.evaluate_run`)."""

    predictions: torch.Tensor
    dataset: Dataset
    seconds: float
    checkpoints: tuple[str, ...]


def run_predict(config: dict, model: nn.Module, ds: Dataset, device: torch.device) -> torch.Tensor:
    """``model``'s outputs on ``ds`` with the run's batch size, autocast, memory format and test-time input."""
    return predict(model, ds, device, config["batch_size"], config["amp"], config["channels_last"],
                   input_transform(config))


def scores(config: dict, ds: Dataset, pred: torch.Tensor) -> dict:
    """Every metric of `metrics.evaluate` of the predictions ``pred`` on ``ds``."""
    from metrics import evaluate

    y_true = ds.targets(config["task"]).cpu().numpy()
    if config["task"] == "categorical":
        return evaluate("categorical", y_true, pred.softmax(1).numpy(), num_classes=config["num_classes"])
    return evaluate("dimensional", y_true, pred.numpy())


def global_rng(device: torch.device) -> torch.Tensor:
    """The default generator's state on ``device`` (what dropout draws from), for the checkpoint."""
    return torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.get_rng_state()


def set_global_rng(state: torch.Tensor, device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.set_rng_state(state.cpu(), device)
    else:
        torch.set_rng_state(state.cpu())


def _store_covers(ckpt: dict, store, done, last: Path, main: bool = True) -> bool:
    """Whether the run may resume from ``ckpt`` into ``store``: the store holds a row for every epoch the checkpoint
    has trained, or gets it now from the rows the checkpoint keeps (a new results file for a run trained before).
    A checkpoint without them (written before they were kept) cannot resume there: the run starts afresh."""
    try:
        kept = {row["config"]["epoch"]: row for row in map(json.loads, ckpt.get("rows", []))}
    except (ValueError, KeyError, TypeError):
        raise UsageError(f"{last}: the rows it keeps are not rows bench.train wrote") from None
    missing = [e for e in range(1, ckpt["epoch"] + 1) if not done(e)]
    if any(e not in kept for e in missing):
        if main:
            print(f"train: {store.path} lacks rows of epochs {last} has trained, and {last} does not keep them: "
                  "training from the first epoch", file=sys.stderr)
        return False
    if not main:  # every rank decides alike; rank 0 writes
        return True
    for e in missing:
        store.append(kept[e])
    if missing:
        print(f"train: rows of epoch(s) {', '.join(map(str, missing))} copied from {last} into {store.path}",
              file=sys.stderr)
    return True


def selection_value(task: str, metrics: dict) -> float:
    """Higher is better: accuracy, or minus the total RMSE."""
    return metrics["accuracy"] if task == "categorical" else -metrics["rmse_total"]


def fit(config: dict, place: RunPlace, dist: Dist, device: torch.device) -> Validated | None:
    """Train ``config`` for its epochs from wherever its last checkpoint stands, storing each epoch's row. The first
    epoch this call trains records the seconds from here (data opened, or decoded into the cache, then the model
    built) to its first step's start, its first batch in hand: ``first_step_s``, what a decoded cache saves a
    second run. Returns the last epoch's validation (`Validated`) where this call trained it on rank 0 with the
    bare model (not a compiled one, whose outputs may differ in the last bits), else None."""
    started = time.perf_counter()
    epochs, task = config["epochs"], config["task"]
    done = lambda e: place.store.done(COMMAND, {**config, "epoch": e})
    last, ckpt = place.resume or (place.run_dir / "last.pt", None)  # the checkpoint to resume from, if any
    if ckpt is None and last.is_file() and not place.force:
        ckpt = read_train_checkpoint(last, device, resume=True, config=config)
    if ckpt is not None and (place.force or not _store_covers(ckpt, place.store, done, last, dist.main)):
        ckpt = None
    train, held, val = load_data(config, place.cache_dir)
    model = build_model(config, device)
    ctx = MethodContext(config, train.class_counts() if task == "categorical" else None,
                        (config["image_size"], config["image_size"]), device, dist)
    method = build_method(model, ctx)
    net = method.network()
    if dist.on:  # rank 0 evaluates the bare model alone: a DDP forward on one rank would wait for the others
        runner = torch.nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda"
                                                           else None)
    else:
        runner = net
    if config["compile"]:
        runner = torch.compile(runner)
    evaluator = runner if net is model and not dist.on else model
    shuffle = torch.Generator().manual_seed(config["seed"])
    aug_gen = torch.Generator(device=device).manual_seed(config["seed"] + 1)
    state = {"epoch": 0, "best": None, "best_val": None}
    history: list[str] = []  # every epoch's row so far, kept in the checkpoint for a store that lacks them
    if ckpt is not None:
        history = list(ckpt.get("rows", []))
        load_weights(model, ckpt["model"], last, config["model"])
        try:
            method.load_state_dict(ckpt)
            shuffle.set_state(ckpt["shuffle_rng"].cpu())
            aug_gen.set_state(ckpt["augment_rng"].cpu())
            if "global_rng" in ckpt:  # dropout (CAF's critic) draws from the default generators
                set_global_rng(ckpt["global_rng"], device)
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:  # states of another run's making
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise UsageError(f"{last}: its optimiser or generator states do not fit this run ({reason})") from None
        state = {"epoch": ckpt["epoch"], "best": ckpt["best"], "best_val": ckpt.get("best_val")}
        if dist.main:
            print(f"train: resuming from {last} after epoch {state['epoch']}", file=sys.stderr)
    if dist.rank:  # augmentation draws differ across ranks (the checkpoint holds rank 0's generator)
        aug_gen.manual_seed(config["seed"] + 1 + dist.rank + dist.world * state["epoch"])

    transform = input_transform(config)
    targets = train.targets(task).to(device)
    train, data_path = placed(train, device, place.data_path)
    held, val = (None if held is None else placed(held, device, place.data_path)[0]), placed(val, device,
                                                                                          place.data_path)[0]
    on = device if data_path == "resident" else torch.device("cpu")  # where the batches' indices must be
    per_iter = config["lr_step_unit"] == "iter"
    first_step, told = None, False  # seconds from `started` to the first step, in that epoch's row
    validated = None
    for epoch in range(state["epoch"] + 1, epochs + 1):
        model.train()
        method.start_epoch(epoch)
        order = batches(len(train), config["batch_size"], shuffle, on, dist.rank, dist.world)
        order = order[:config.get("max_steps") or len(order)]
        bar = tqdm(zip(order, BatchFeed(train.images, order, device), strict=True), total=len(order),
                   desc=f"{config['model']} epoch {epoch}/{epochs}", unit="batch", leave=False,
                   disable=None if dist.main else True)
        total = torch.zeros((), device=device)
        start = time.perf_counter()
        for idx, images in bar:
            if first_step is None:
                first_step = time.perf_counter() - started
            x = transform.train(images, aug_gen)
            if config["channels_last"]:
                x = x.contiguous(memory_format=torch.channels_last)
            total += method.step(runner, x, targets[idx.to(device)]) * idx.numel()
            if per_iter:
                for s in method.schedulers:
                    s.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        train_s = time.perf_counter() - start
        if not per_iter:
            for s in method.schedulers:
                s.step()
        sums = torch.stack([total, torch.tensor(float(sum(b.numel() for b in order)), device=device)])
        if dist.on:  # the loss and image count of the whole epoch, over every rank's slices
            torch.distributed.all_reduce(sums)
            if not dist.main:
                continue
        start = time.perf_counter()
        pred = run_predict(config, evaluator, val, device)
        val_s = time.perf_counter() - start
        metrics = scores(config, val, pred)
        if held is not None:
            metrics.update({f"holdout_{k}": v for k, v in scores(config, held, run_predict(
                config, evaluator, held, device)).items() if isinstance(v, (int, float))})
        eval_s = time.perf_counter() - start
        seen = int(sums[1])
        metrics["train_loss"] = float(sums[0]) / seen
        value = selection_value(task, {k.removeprefix("holdout_"): v for k, v in metrics.items()
                                       if k.startswith("holdout_") == (held is not None)})
        better = state["best"] is None or value > state["best"]
        if better:
            state["best"] = value
        metrics["best_so_far"] = better
        peek = None  # with a hold-out, the epoch the validation split itself would pick is kept too (best_val.pt)
        if held is not None:
            val_value = selection_value(task, metrics)
            peek = state["best_val"] is None or val_value > state["best_val"]
            state["best_val"] = val_value if peek else state["best_val"]
        metrics.update(method.epoch_metrics())
        timings = {"epoch_s": train_s, "eval_s": eval_s, "images_per_s": seen / train_s, "lr": method.lr,
                   "data_path": data_path}
        if first_step is not None and not told:
            timings["first_step_s"], told = first_step, True
        row = make_row(COMMAND, {**config, "epoch": epoch}, metrics, timings)
        history.append(json.dumps(row, sort_keys=True, default=str))  # as the store writes it: plain text
        if place.force or not done(epoch):
            place.store.append(row)
        save_checkpoint(place.run_dir, better, dict(
            model=model.state_dict(), **method.state_dict(), shuffle_rng=shuffle.get_state(),
            augment_rng=aug_gen.get_state(), global_rng=global_rng(device), epoch=epoch, config=config,
            best=state["best"], best_val=state["best_val"], rows=history), best_val=bool(peek))
        if epoch == epochs and evaluator is model:
            validated = Validated(pred, val, val_s, ("best.pt",) * better + ("best_val.pt",) * bool(peek))
        key = "accuracy" if task == "categorical" else "rmse_total"
        picked = f" held-out {key} {metrics['holdout_' + key]:.4f}" if held is not None else ""
        print(f"epoch {epoch}: loss {metrics['train_loss']:.4f} val {key} {metrics[key]:.4f}{picked} "
              f"({train_s:.1f} s, {timings['images_per_s']:.0f} img/s)", file=sys.stderr)
    return validated
