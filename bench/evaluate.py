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

from harness.cli import UsageError, check_device_here, check_output_path, examples, write_output
from harness.data_spec import SOURCES, parse_spec
from harness.results_store import ResultsStore, format_rows, make_row

from .checkpoint import load_checkpoint
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
                       transform=None) -> dict:
    """Every metric of `metrics.evaluate` on ``dataset``, plus what a paper's per-class tables and confusion
    figures need (categorical) or the error histograms (dimensional)."""
    from metrics import AbsentClassWarning, confusion_matrix, evaluate, precision_recall_f1
    from metrics.dimensional import DIMENSIONS

    from .training.inputs import predict

    pred = predict(model, dataset, torch.device(device), batch_size, amp, channels_last, transform)
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


def read_train_checkpoint(path: str | Path, device="cpu") -> dict:
    """The checkpoint at ``path``, or a one-line error where it is missing or not one `bench.train` wrote."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{path}: is a folder, not a checkpoint file")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    ckpt = load_checkpoint(path, map_location=device)
    config = ckpt.get("config")
    if not isinstance(ckpt.get("model"), dict) or not isinstance(config, dict) or not {
            "model", "task", "data", "image_size", "seed"} <= set(config):
        raise UsageError(f"{path}: not a bench.train checkpoint (it holds no run config and model weights)")
    return ckpt


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
    try:
        keys = model.load_state_dict(ckpt["model"], strict=False)
        detail = (f"{len(keys.missing_keys)} tensors missing, {len(keys.unexpected_keys)} unexpected, e.g. "
                  f"{(keys.missing_keys + keys.unexpected_keys)[0]}") if keys.missing_keys or keys.unexpected_keys \
            else ""
    except RuntimeError as exc:  # a tensor of another shape
        detail = str(exc).strip().splitlines()[-1].strip()[:160]
    if detail:
        raise UsageError(f"{path} is from a different model: its weights do not fit {config['model']} ({detail})")
    if config.get("channels_last"):
        model = model.to(memory_format=torch.channels_last)
    return model


def evaluate_run(train_config: dict, checkpoint: str | Path, splits=("val",), store: ResultsStore | None = None,
                 device="cpu", *, force: bool = False, cache_dir: str | None = None) -> list[dict]:
    """Rows of ``checkpoint`` (a run of ``train_config``) on each split, appended to ``store``; a split whose row
    the store already holds is not evaluated again unless ``force``.

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
    model = _load_model(config, path, device) if len(stored) < len(splits) else None
    amp = config.get("amp", "off")
    if amp == "fp16" and device.type != "cuda":
        amp = "off"
    rows = []
    for split in splits:
        if split in stored:
            rows.append(stored[split])
            continue
        dataset = load_split(config, split, cache_dir)
        if config["task"] == "categorical" and dataset.num_classes != config["num_classes"]:
            raise UsageError(f"{config['data']} has {dataset.num_classes} classes, the network "
                             f"{config['num_classes']}")
        start = time.perf_counter()
        metrics = evaluation_metrics(model, dataset, config["task"], device, batch_size=config.get("batch_size") or 128,
                                     amp=amp, channels_last=bool(config.get("channels_last")),
                                     num_classes=config.get("num_classes"), transform=input_transform(config))
        seconds = time.perf_counter() - start
        row = make_row(COMMAND, configs[split], metrics, {"eval_s": seconds, "images_per_s": len(dataset) / seconds})
        if store is not None:
            store.append(row)
        rows.append(row)
    return rows


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.evaluate", description=__doc__.split("\n\n")[0], **examples(
        "python -m bench.evaluate checkpoints/RUN/best.pt # its val split, on the run's own data",
        "python -m bench.evaluate checkpoints/RUN/best.pt --data affectnet:/data/copy # another copy of AffectNet",
        "python -m bench.evaluate checkpoints/RUN/last.pt --splits val,test --format json # rows as JSON lines"))
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="best.pt or last.pt of a bench.train run")
    p.add_argument("--data", default=None, metavar="SPEC",
                   help="default: the run's own; or synth, " + ", ".join(f"{s}:PATH" for s in SOURCES if s != "synth")
                   + " (the same kind of data, e.g. another copy)")
    p.add_argument("--splits", default="val", metavar="SPLIT[,SPLIT...]",
                   help=f"comma-separated, of: {', '.join(SPLITS)} (AffectNet and Aff-Wild have no public test)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="cpu, cuda or cuda:N (default: cuda where there is one)")
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="the decoded cache of file-backed data sets (default $BREG_CACHE_DIR or ~/.cache/breg-harness)")
    add_output_args(p, COMMAND, "reports.evaluation", "evaluate splits whose rows are already in the store again")
    return p


def main(argv: list[str] | None = None) -> int:
    from reports.evaluation import render_evaluation

    args = build_parser().parse_args(argv)
    check_output_path(args.results, "--results")
    check_output_path(args.out, "--out")
    check_device_here(args.device)
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    config = read_train_checkpoint(args.checkpoint)["config"]
    if args.data:
        parse_spec(args.data)
        config = {**config, "data": args.data}
    store = ResultsStore(args.results) if args.results else None
    rows = evaluate_run(config, args.checkpoint, splits, store, args.device, force=args.force,
                        cache_dir=args.cache_dir)
    if args.format in ("json", "csv"):
        text = format_rows(rows, args.format)
    else:
        text = render_evaluation(rows, args.format, caption=f"Evaluation of {args.checkpoint}")
    write_output(text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
