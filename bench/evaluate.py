"""`python -m bench.evaluate`: a `bench.train` checkpoint evaluated in full on one or more splits, one row each.

Beyond the per-epoch metrics of `bench.train`, a row holds per-class precision/recall/F1 and support, the
confusion matrix and class counts (categorical), or histograms of the prediction errors (dimensional). The
checkpoint carries its run's config, so the network and its data are rebuilt from it; ``--data`` evaluates the
same network on another copy of a data set and is recorded in the row's config. `bench.train` ends every
finished run by writing the rows of its best.pt on the validation split to evaluate.jsonl beside its store.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from harness.cli import (
    DEVICES,
    ArgumentParser,
    UsageError,
    check_device_here,
    check_output_path,
    device_name,
    examples,
    open_store,
    write_output,
)
from harness.data_spec import SOURCES, parse_spec
from harness.results_store import ResultsStore, format_rows, make_row

from .checkpoint import load_weights, read_train_checkpoint
from .cli import add_output_args, run_main
from .data import SPLITS, Dataset

COMMAND = "evaluate"
# Valence and arousal lie in [-1, 1], so an in-range prediction errs by at most 2; errors beyond are counted in
# the end bins, so every sample is in the histogram.
ERROR_EDGES = np.linspace(-2.0, 2.0, 41)
# Config keys that decide the network's shape: a checkpoint must agree with the config on all of them.
ARCHITECTURE = ("model", "task", "num_classes", "bypass")


def evaluation_store(train_store: str | Path) -> ResultsStore:
    """Where `bench.train` writes its end-of-run rows: evaluate.jsonl beside its own store (for its default
    results/train.jsonl, the command line's default results/evaluate.jsonl)."""
    return ResultsStore(Path(train_store).with_name(f"{COMMAND}.jsonl"))


def evaluate_config(train_config: dict, split: str = "val", checkpoint: str = "best") -> dict:
    """The config of the evaluate row of a run's checkpoint on a split (by default what bench.train writes at the
    end of a run: its best.pt on the validation split)."""
    return {**{k: v for k, v in train_config.items() if k != "epoch"}, "split": split, "checkpoint": checkpoint}


def evaluation_metrics(model: nn.Module, dataset: Dataset, task: str, device, *, batch_size: int = 128,
                       amp: str = "off", channels_last: bool = False, num_classes: int | None = None,
                       transform=None, predictions: torch.Tensor | None = None) -> dict:
    """Every metric of `metrics.evaluate` on ``dataset``, plus what a paper's per-class tables and confusion
    figures need (categorical) or the error histograms (dimensional). ``predictions``: the model's outputs on
    ``dataset`` where they were made already (the model is then not run)."""
    from metrics import AbsentClassWarning, confusion_matrix, evaluate, precision_recall_f1
    from metrics.dimensional import DIMENSIONS

    from .training.inputs import predict

    pred = predictions if predictions is not None else predict(model, dataset, torch.device(device), batch_size, amp,
                                                               channels_last, transform)
    truth = dataset.targets(task).cpu().numpy()
    if task == "dimensional":
        values = pred.numpy()
        row = evaluate(task, truth, values)
        errors = np.clip(values - truth, ERROR_EDGES[0], ERROR_EDGES[-1])
        row["error_hist"] = {"edges": ERROR_EDGES.tolist(), **{
            dim: np.histogram(errors[:, i], ERROR_EDGES)[0].tolist() for i, dim in enumerate(DIMENSIONS)}}
        return row
    scores = pred.softmax(1).numpy()
    classes = num_classes or scores.shape[1]
    row = evaluate(task, truth, scores, num_classes=classes)
    labels = scores.argmax(1)
    with warnings.catch_warnings():  # evaluate() has warned about absent classes once already
        warnings.simplefilter("ignore", AbsentClassWarning)
        per_class = precision_recall_f1(truth, labels, num_classes=classes)
    confusion = confusion_matrix(truth, labels, num_classes=classes)
    row["per_class"] = {key: [None if np.isnan(v) else float(v) for v in values] for key, values in per_class.items()}
    row["per_class"]["support"] = confusion.sum(axis=1).tolist()
    row["confusion"] = confusion.tolist()
    row["class_names"] = list(dataset.class_names)
    row["class_counts"] = dataset.class_counts()
    return row


def _load_model(config: dict, path: Path, device: torch.device) -> nn.Module:
    """The network ``config`` builds, with the weights of the checkpoint at ``path`` (which must be its run's)."""
    from breg_models import create_model, parse_bypass

    ckpt = read_train_checkpoint(path, device)
    differ = [k for k in ARCHITECTURE if ckpt["config"].get(k) != config.get(k)]
    if differ:
        k = differ[0]
        raise UsageError(f"{path} is from a different model: its {k} is {ckpt['config'].get(k)!r}, the config's "
                         f"{config.get(k)!r}")
    bypass, params = parse_bypass(config["bypass"]) if config.get("bypass") else (None, None)
    impl = config.get("bypass_impl", "eager")
    if impl == "triton" and device.type != "cuda":  # same maths; the kernels need a GPU
        impl = "auto"
    model = create_model(config["model"], task=config["task"], bypass=bypass, bypass_params=params,
                         num_classes=config.get("num_classes") if config["task"] == "categorical" else None,
                         bypass_impl=impl).to(device)
    load_weights(model, ckpt["model"], path, config["model"])
    if config.get("channels_last"):
        model = model.to(memory_format=torch.channels_last)
    return model


def evaluate_run(train_config: dict, checkpoint: str | Path, splits=("val",), store: ResultsStore | None = None,
                 device="cpu", *, force: bool = False, cache_dir: str | None = None, validated=None) -> list[dict]:
    """Rows of ``checkpoint`` (a run of ``train_config``) on each split, appended to ``store``; a split whose row
    the store already holds is not evaluated again unless ``force``. ``validated``
    (`bench.training.loop.Validated`): the validation split's predictions by the weights of the checkpoints it
    names, made at the end of training; for those the val row comes from them, not from a second pass.

    The config's batch size, amp and channels_last are kept (fp16 autocast only on CUDA, fp32 elsewhere);
    ``checkpoint`` is recorded as "best" or "last" for a run's own best.pt / last.pt, else as its path."""
    from .training.inputs import input_transform, load_split

    bad = [s for s in splits if s not in SPLITS]
    if bad or not splits:
        raise UsageError(f"unknown split {bad[0] if bad else ''!r}; choose from: {', '.join(SPLITS)}")
    device, path = torch.device(device), Path(checkpoint)
    config = {k: v for k, v in train_config.items() if k != "epoch"}
    label = {"best.pt": "best", "last.pt": "last", "best_val.pt": "best_val"}.get(path.name, str(checkpoint))
    configs = {split: evaluate_config(train_config, split, label) for split in splits}
    stored = {} if force or store is None else {s: row for s in splits if (row := store.done(COMMAND, configs[s]))}
    made = {"val": validated} if validated is not None and path.name in validated.checkpoints else {}
    model = _load_model(config, path, device) if set(splits) - set(stored) - set(made) else None
    amp = config.get("amp", "off")
    if amp == "fp16" and device.type != "cuda":
        amp = "off"
    rows = []
    for split in splits:
        if split in stored:
            rows.append(stored[split])
            continue
        reuse = made.get(split)
        dataset = reuse.dataset if reuse else load_split(config, split, cache_dir)
        if config["task"] == "categorical" and dataset.num_classes != config["num_classes"]:
            raise UsageError(f"{config['data']} has {dataset.num_classes} classes, the network "
                             f"{config['num_classes']}")
        start = time.perf_counter()
        metrics = evaluation_metrics(model, dataset, config["task"], device, batch_size=config.get("batch_size") or 128,
                                     amp=amp, channels_last=bool(config.get("channels_last")),
                                     num_classes=config.get("num_classes"), transform=input_transform(config),
                                     predictions=reuse.predictions if reuse else None)
        seconds = reuse.seconds if reuse else time.perf_counter() - start
        row = make_row(COMMAND, configs[split], metrics, {"eval_s": seconds, "images_per_s": len(dataset) / seconds})
        if store is not None:
            store.append(row)
        rows.append(row)
    return rows


def evaluation_data(own: str, given: str | None, checkpoint: str | Path) -> str:
    """The data a checkpoint is evaluated on: the user's ``given`` spec (--data), else the run's ``own`` (the
    config's of ``checkpoint``), whose path must be what the data set is read from (FER2013's .csv or a folder
    holding fer2013.csv, the other sets' folders), so that a checkpoint cannot make the run read any other file."""
    if given:
        parse_spec(given)
        return given
    name, path = parse_spec(own)
    if path is None:
        return own
    where = Path(path)
    if name == "fer2013":
        fits, kind = (where.is_file() and where.suffix.lower() == ".csv") or (where / "fer2013.csv").is_file(), \
            "FER2013's .csv file or a folder holding fer2013.csv"
    else:
        fits, kind = where.is_dir(), f"a {name} folder"
    if not fits:
        found = "is not here" if not where.exists() else f"is not {kind}"
        raise UsageError(f"{checkpoint}: its config's data {path} {found}: give --data {name}:PATH for its copy here")
    return own


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m bench.evaluate", description=__doc__.split("\n\n")[0], **examples(
        "python -m bench.evaluate checkpoints/RUN/best.pt # its val split, on the run's own data",
        "python -m bench.evaluate checkpoints/RUN/best.pt --data affectnet:/data/copy # another copy of AffectNet",
        "python -m bench.evaluate checkpoints/RUN/last.pt --splits val,test --format json # rows as JSON lines"))
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="best.pt or last.pt of a bench.train run")
    p.add_argument("--data", default=None, metavar="SPEC",
                   help="synth, " + ", ".join(f"{s}:PATH" for s in SOURCES if s != "synth") + " (the same kind of "
                   "data, e.g. another copy); default: the run's own as its checkpoint's config names it, which must "
                   "then be that data set's folder or FER2013's .csv (a checkpoint from elsewhere names no other "
                   "file; give --data for its copy here)")
    p.add_argument("--splits", default="val", metavar="SPLIT[,SPLIT...]",
                   help=f"comma-separated, of: {', '.join(SPLITS)} (AffectNet and Aff-Wild have no public test)")
    p.add_argument("--device", type=device_name, default="auto",
                   help=f"{DEVICES} (default auto: cuda where there is one)")
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="the decoded cache of file-backed data sets (default $BREG_CACHE_DIR or ~/.cache/breg-harness)")
    add_output_args(p, COMMAND, "reports.evaluation", "evaluate splits whose rows are already in the store again")
    return p


def main(argv: list[str] | None = None) -> int:
    from reports.evaluation import render_evaluation

    args = build_parser().parse_args(argv)
    check_output_path(args.results, "--results")
    check_output_path(args.out, "--out")
    device = check_device_here(args.device)
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    config = read_train_checkpoint(args.checkpoint)["config"]
    config = {**config, "data": evaluation_data(config["data"], args.data, args.checkpoint)}
    store = open_store(args.results)
    rows = evaluate_run(config, args.checkpoint, splits, store, device, force=args.force,
                        cache_dir=args.cache_dir)
    if args.format in ("json", "csv"):
        text = format_rows(rows, args.format)
    else:
        text = render_evaluation(rows, args.format, caption=f"Evaluation of {args.checkpoint}")
    write_output(text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
