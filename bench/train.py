"""`python -m bench.train`: train one network on one data set, one result row per epoch.

Defaults are BReG-NeXt Sec. 3.5 (Adam, lr 1e-4 x 0.8 every 10 epochs, focal loss or MSE, L2 on the convolution
weights, the 25% augmentation), trained on a small synth set (512 training, 256 validation faces, 5 epochs).
``--recipe bregnext|bregnet|dacl|caf`` takes a paper's whole training recipe instead (every option not given on
the command line; ``--dry-run`` lists each setting with its source). On the CPU the batch defaults to 32
(bregnext50's activations at batch 128 take ~10 GB there). Checkpoints (last and best) go to
``--checkpoint-dir/<run key>/``; a rerun of the same config resumes from the last one and skips epochs whose rows
are already stored, unless ``--force``. At the end, the best checkpoint is evaluated in full on the validation
split (`bench.evaluate`'s rows, in evaluate.jsonl beside the store), from the last epoch's validation where the
best is that epoch (the same predictions: the split is not run twice).

Under ``torchrun`` (WORLD_SIZE > 1) one run trains on every process with DistributedDataParallel
(`bench.training.distributed`). The methods (`bench.training.plain`, `.dacl`, `.caf`) and the epoch loop
(`bench.training.loop`) say the rest.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from bench.checkpoint import load_weights, read_train_checkpoint
from bench.cli import run_main
from bench.training.distributed import Dist, init_distributed, leave
from bench.training.loop import COMMAND, RunPlace, fit
from bench.training.options import build_parser, check_values, given_options, resolve, run_config
from bench.training.runtime import check_bypass_impl, resolve_device, set_determinism
from harness.cli import UsageError, check_output_folder, check_output_path, open_store, write_output
from harness.results_store import ResultsStore, format_rows, run_id
from reports.train import render_train

__all__ = ["build_parser", "main", "run_config"]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    given = given_options(parser, argv if argv is not None else sys.argv[1:])
    if args.dry_run:
        return _dry_run(args, given)
    device = resolve_device(args.device)
    _prepare(args, given, device.type)  # every value checked before a torchrun job is joined
    dist, device = init_distributed(device)
    try:
        code = _train(args, given, dist, device)
    except BaseException:
        leave(dist, finished=False)
        raise
    leave(dist, finished=True)
    return code


def _prepare(args, given: set[str], device_type: str):
    """Recipe, defaults and checks: everything decided before any model or data is built."""
    sources = resolve(args, given, device_type)
    check_values(args)
    return sources


def _dry_run(args, given: set[str]) -> int:
    from bench.training.footprint import footprint_notes, run_footprint
    from reports.recipes import render_settings

    sources = _prepare(args, given, args.device.partition(":")[0])  # a GPU run can be listed without a GPU
    config = run_config(args)
    notes = footprint_notes(run_footprint(config, args.device, args.cache_dir))
    if args.method == "caf":
        from bench.training.caf import reading_settings

        sources.update(reading_settings(config))
    title = f"bench.train {args.model} on {args.data}" + (f", recipe {args.recipe}" if args.recipe else "")
    write_output(render_settings(sources, config, args.format, caption=title, run_key=run_id(COMMAND, config),
                                 footprint=notes), args.out)
    return 0


def _train(args, given: set[str], dist: Dist, device) -> int:
    from breg_models import create_model, parse_bypass

    check_bypass_impl(args.bypass_impl, device)
    if args.amp == "fp16" and device.type == "cpu":
        raise UsageError("--amp fp16 needs --device cuda (use bf16 on the CPU)")
    set_determinism(args.seed, args.deterministic)
    bypass, bypass_params = parse_bypass(args.bypass) if args.bypass else (None, None)
    probe = create_model(args.model, task=args.task, num_classes=args.num_classes if args.task == "categorical" else
                         None, bypass=bypass, bypass_params=bypass_params, init=args.init)  # fails before data
    if args.image_size < getattr(probe.spec, "min_side", 1):
        raise UsageError(f"--image-size {args.image_size} is too small for {args.model}: it takes at least "
                         f"{probe.spec.min_side} pixels a side")
    if args.loss in ("dacl", "center"):
        from bench.training.dacl import check_center_network

        check_center_network(probe, args.model, args.loss)
    if args.method == "caf":
        from bench.training.caf import check_caf

        check_caf(args, dist)
    config = run_config(args)
    if dist.on:  # per-rank batches and BatchNorm statistics differ from a single process's
        config["world_size"] = dist.world
    store = open_store(args.results if args.results is not None else Path("results") / f"{COMMAND}.jsonl",
                       needed_for="bench.train keeps each epoch's row there and resumes a run from them")
    if dist.main:  # where rows and the table go must take them before the first epoch's work, not after it
        check_output_path(store.path, "--results")
        check_output_path(args.out, "--out")
        check_output_folder(args.checkpoint_dir, "--checkpoint-dir")
    resume = None  # checked before any work, and before the run is claimed on the store
    if args.resume:
        ckpt = read_train_checkpoint(args.resume, device, option="--resume", resume=True,
                                     config=None if args.force else config)
        load_weights(probe, ckpt["model"], args.resume, args.model)  # the network's weights, not another's
        resume = Path(args.resume), ckpt
    epoch_done = lambda e: store.done(COMMAND, {**config, "epoch": e})
    key = run_id(COMMAND, config)
    run_dir = Path(args.checkpoint_dir) / key
    with _one_process_per_run(store, key, dist.on):
        finished = not args.force and all(epoch_done(e) for e in range(1, args.epochs + 1)) and _finished(
            config, run_dir / "last.pt", store)
        validated = None
        if not finished:
            validated = fit(config, RunPlace(store, run_dir, resume, args.force, args.data_path, args.cache_dir), dist,
                            device)
        elif dist.main:
            print(f"train: all {args.epochs} epochs of this config are in {store.path}; --force reruns",
                  file=sys.stderr)
        if not dist.main:
            return 0
        _evaluate_best(config, run_dir, store, device, force=args.force, cache_dir=args.cache_dir, validated=validated)
    # every epoch of the run, resumed or not: the store's rows (this run's, or earlier runs' it resumed)
    return _emit(args, [row for e in range(1, args.epochs + 1) if (row := epoch_done(e))])


@contextlib.contextmanager
def _one_process_per_run(store: ResultsStore, key: str, distributed: bool):
    """Hold the run against another bench.train of the same config on the same store: the second waits for the
    first, then finds the run finished (or resumes it, if the first died) instead of training it twice. Under
    torchrun the ranks of one job share the run, and are not held against each other."""
    if distributed:
        yield
        return
    with store.claim(key) as held:
        if held:
            yield
            return
    print(f"train: another process is training this run on {store.path}; waiting for it", file=sys.stderr)
    with store.claim(key, wait=True):
        yield


def _finished(config: dict, last: Path, store: ResultsStore) -> bool:
    """With every epoch's row stored: whether the run is done. Its last.pt holds the final epoch (a kill, or a
    failed write, after the last row but before its checkpoint leaves the model an epoch short: redone), or the
    checkpoints are gone and the run's evaluate row is stored (nothing left to make; without that row the run is
    trained again, since its best.pt is needed)."""
    from bench.evaluate import evaluate_config, evaluation_store

    if last.is_file():
        return read_train_checkpoint(last, resume=True)["epoch"] >= config["epochs"]
    return evaluation_store(store.path).done("evaluate", evaluate_config(config)) is not None


def _evaluate_best(config: dict, run_dir: Path, store: ResultsStore, device, force: bool = False,
                   cache_dir: str | None = None, validated=None):
    """The finished run's best.pt on the validation split as `bench.evaluate` rows (per-class scores, confusion
    matrix), in evaluate.jsonl beside the epochs' store; kept once per config, like the epochs. With a hold-out,
    best_val.pt too: the epoch the validation split picks (checkpoint "best_val"), which is how the papers' code
    picks, reported as its own line. Nothing on stdout, which holds the epochs' rows or table. Where the last
    epoch's weights are those checkpoints, its validation (``validated``, from `fit`) gives their rows: the same
    predictions, not made a second time."""
    from bench.evaluate import evaluate_run, evaluation_store

    for name in ("best.pt", "best_val.pt"):  # absent when the folder was removed; best_val.pt only with --holdout
        if (run_dir / name).is_file():
            evaluate_run(config, run_dir / name, ("val",), evaluation_store(store.path), device, force=force,
                         cache_dir=cache_dir, validated=validated)


def _emit(args, rows: list[dict]) -> int:
    """JSON and CSV: the result rows themselves (JSON one per line, what `train_cell` reads); Markdown and
    LaTeX: the table of `reports.train`."""
    text = format_rows(rows, args.format) if args.format in ("json", "csv") else render_train(rows, args.format)
    write_output(text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
