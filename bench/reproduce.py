"""`python -m bench.reproduce`: the training runs behind a paper's tables, as one resumable sweep.

Each cell is one `bench.train` run with the paper's recipe (``--recipe PAPER``: `bench.training.recipes`), its
network, data set, task, loss, bypass and method from the table (`bench.paper_runs`), and a seed; its config also
carries "paper" and "budget", so runs of different papers and budgets never share rows. bench.train writes the
cell's rows as it always does: one "train" row per epoch in --results, checkpoints under --checkpoint-dir, and
at the end the "evaluate" row of its best checkpoint on the validation split in evaluate.jsonl beside
--results, which the paper tables of `python -m reports` read (mean +- sd over the seeds of a line). A cell
whose last epoch and evaluate row are stored is skipped; an interrupted cell resumes from its last checkpoint.

Budgets:
  smoke  synth stand-ins for every data set (AffectNet's and FER2013's class mix, Aff-Wild's uniform
         valence/arousal disk), 16x16 images, 64 training faces, 1 epoch: the whole pipeline in minutes
         on a CPU. The default without --data.
  short  the real data sets (--data NAME=PATH), the paper's recipe, 3 epochs. The default with --data.
  paper  the real data sets and the paper's whole recipe (--dry-run prints each run's settings with their
         sources, and its data footprint).

Runs go in this process or as Ray tasks (--executor ray), one device each. Under torchrun it refuses:
DDP splits one run, so run that run's bench.train command (--dry-run prints it) under torchrun.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from functools import partial
from pathlib import Path

from harness.cli import (
    DEVICES,
    ArgumentParser,
    UsageError,
    check_device_here,
    check_output_folder,
    check_output_path,
    device_name,
    examples,
    int_list_of,
    non_negative_int,
    open_store,
    write_output,
)
from harness.results_store import ResultsStore, run_id

from .cli import check_data, run_main
from .executor import add_executor_args, executor_kwargs, run_cells
from .paper_runs import PAPER_NAMES, PAPERS, method_options, plan, table_names

BUDGETS = ("smoke", "short", "paper")
# The keys reproduce adds to a bench.train config: every run's paper and budget, and for a smoke run's synth data
# the real set it stands for, so the reports put it in that set's table.
TAGS = ("paper", "budget", "stands_for")
DATA_SETS = ("affectnet", "affectnet7", "fer2013", "rafdb", "affwild", "afewva")
SMOKE = {"epochs": 1, "batch_size": 16, "image_size": 16, "synth_train": 64, "synth_val": 32}
SMOKE_PER_MODEL = {"tv_alexnet*": {"image_size": 64}}  # AlexNet's stride-4 stem and three max-pools need 63 px
# The synth stand-in of each data set in a smoke run: its class mix (the label distribution of the real set).
# Stand-ins differ per data set, so no two data sets' runs of a table merge into one synth run.
SMOKE_BALANCE = {"affectnet": "affectnet", "affectnet7": "affectnet", "fer2013": "fer2013", "rafdb": "fer2013",
                 "affwild": "disk", "afewva": "uniform"}
SHORT_EPOCHS = 3
# bench.train options --set may change; the others decide which run a table line is.
SETTABLE = ("epochs", "batch_size", "lr", "lr_gamma", "lr_step", "lr_step_unit", "weight_decay", "decay_on",
            "augment", "augment_p", "normalise", "image_size", "resize", "holdout", "momentum", "adam_betas",
            "bypass_impl", "amp", "channels_last", "compile", "deterministic", "dacl_widths", "init",
            "synth_train", "synth_val", "synth_nuisance")
FLAGS = ("channels_last", "compile", "deterministic")  # bench.train's on/off options


# ---------------------------------------------------------------- a run's bench.train options and config
def train_options(paper: str, budget: str, run: tuple, device: str, specs: dict[str, str], seed: int,
                  overrides: dict | None = None) -> dict:
    """The bench.train options of one run: the paper's recipe (which bench.train resolves), the table's choices,
    the budget's cuts, then --set's overrides."""
    from .data import DEFAULT_NUM_CLASSES
    from .training.recipes import get_recipe

    model, data, task, loss, bypass, method = run[:6]
    options = {"recipe": paper, "model": model, "task": task, "loss": loss, "bypass": bypass, "seed": seed,
               "num_classes": DEFAULT_NUM_CLASSES.get(data, 8) if task == "categorical" else None, "device": device}
    options.update(method_options(method))
    if budget == "smoke":
        options.update(SMOKE, data="synth", synth_balance=SMOKE_BALANCE[data])
        options.update(by_model(SMOKE_PER_MODEL, model))
        recipe = get_recipe(paper).resolve(model, data, task)
        if "resize" in recipe:  # the paper's crop, scaled to the smoke input
            scale = recipe["resize"].value / recipe["image_size"].value
            options["resize"] = round(options["image_size"] * scale)
    else:
        options["data"] = specs[data]
        if budget == "short":
            options["epochs"] = SHORT_EPOCHS
    return {**options, **(overrides or {})}


def by_model(table: dict[str, dict], model: str) -> dict:
    """The options of ``table`` (network-name glob -> options) that apply to ``model``, later globs winning."""
    import fnmatch

    return {k: v for pattern, extra in table.items() if fnmatch.fnmatch(model, pattern) for k, v in extra.items()}


def train_argv(options: dict) -> list[str]:
    """bench.train's command line for ``options`` (bench.train option names; None and False left out)."""
    argv = []
    for key, value in options.items():
        if value is None or value is False:
            continue
        option = "--" + key.replace("_", "-")
        if key == "tag":  # repeated, one label each
            argv += [part for label in value for part in (option, label)]
        elif value is True:
            argv.append(option)
        else:
            argv += [option, ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)]
    return argv


def train_config(options: dict, tags: dict) -> dict:
    """The config of the last epoch's row the run writes: bench.train's own `run_config` of these options (its
    recipe resolved as bench.train resolves it), reproduce's tags, and the epoch. It names the cell in the store,
    so a rerun finds the finished run."""
    from .training.options import build_parser, check_values, given_options, resolve, run_config

    parser = build_parser()
    parser.exit_on_error = False  # a bad --set value: one line, not argparse's usage and exit
    argv = train_argv({**options, "tag": [f"{k}={v}" for k, v in tags.items()]})
    try:
        args = parser.parse_args(argv)
    except argparse.ArgumentError as exc:
        raise UsageError(f"--set: {exc}") from None
    resolve(args, given_options(parser, argv), str(options.get("device", "cpu")).partition(":")[0])
    check_values(args)
    return {**run_config(args), "epoch": args.epochs}


def cell_options(config: dict) -> dict:
    """A cell's bench.train options back from its config (the inverse of `train_config`): its tags as --tag."""
    options = {k: v for k, v in config.items() if k not in (*TAGS, "epoch")}
    return {**options, "tag": [f"{k}={config[k]}" for k in TAGS if k in config]}


# ---------------------------------------------------------------- running a cell
def run_cell(config: dict, *, results: str, checkpoint_dir: str, force: bool = False,
             cache_dir: str | None = None, device: str | None = None) -> tuple[dict, dict]:
    """Train one cell through bench.train's main (its rows and checkpoints land where bench.train puts them);
    the last epoch's metrics and timings, for the sweep's table. ``device`` (e.g. cuda:1) is where it trains:
    a config keeps only the device's type, as bench.train's does, since the GPU's number changes nothing."""
    from . import train
    from .evaluate import evaluate_config, evaluation_store

    argv = train_argv(cell_options(config)) + ["--results", results, "--checkpoint-dir", checkpoint_dir,
                                               "--format", "json", "--out", "-"] + (["--force"] if force else []) \
        + (["--cache-dir", cache_dir] if cache_dir else []) + (["--device", device] if device else [])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        train.main(argv)
    last = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()][-1]
    if last["config"] != config:  # bench.train's config grew or changed: the store could never mark this cell done
        raise RuntimeError(f"bench.train wrote config {last['run_id']}, not the cell's {run_id('train', config)}")
    if evaluation_store(results).done("evaluate", evaluate_config(config)) is None:
        raise RuntimeError(f"no evaluate row: best.pt is missing under {checkpoint_dir}; --force retrains the run")
    return last["metrics"], last["timings"]


class FinishedRuns(ResultsStore):
    """The train store as the sweep sees it: a run is finished once its last epoch's row and its evaluate row
    (bench.train's last write) are both stored. bench.train appends every row itself, so the sweep's own
    append of a cell's row is dropped."""

    def rows(self, command: str | None = None) -> list[dict]:
        from .evaluate import evaluate_config, evaluation_store

        evaluated = {row["run_id"] for row in evaluation_store(self.path).rows("evaluate")}
        return [row for row in super().rows(command)
                if run_id("evaluate", evaluate_config(row["config"])) in evaluated]

    def append(self, row: dict) -> None:
        pass


# ---------------------------------------------------------------- the command line
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from reports.render import FORMATS

    p = ArgumentParser(prog="python -m bench.reproduce", description=__doc__.split("\n\n")[0], **examples(
        "python -m bench.reproduce bregnext --tables 7 --dry-run # Table 7's runs as bench.train commands",
        "python -m bench.reproduce bregnext # Tables 4-7 on synth stand-ins: a smoke run",
        "python -m bench.reproduce caf --budget paper --data affectnet=data/affectnet --seeds 0,1,2,3,4 --tables 4",
        before=__doc__.split("\n\n", 2)[2]))
    p.add_argument("paper", choices=PAPER_NAMES, help="whose tables: " + ", ".join(PAPER_NAMES))
    p.add_argument("--tables", metavar="T[,T...]", help="tables to train for (default all): " +
                   "; ".join(f"{paper} {','.join(tables)}" for paper, tables in PAPERS.items()))
    p.add_argument("--budget", choices=BUDGETS,
                   help="smoke, short or paper (below); default smoke, or short with --data")
    p.add_argument("--data", action="append", default=[], metavar="NAME=PATH", dest="data_paths",
                   help=f"where a data set is (short, paper): NAME one of {', '.join(DATA_SETS)}, PATH as for "
                        "bench.train's --data (README: Data on disk); repeat per data set")
    p.add_argument("--models", nargs="+", metavar="NAME", help="only these of the tables' networks (names or globs)")
    p.add_argument("--datasets", nargs="+", choices=DATA_SETS, metavar="NAME",
                   help=f"only runs on these data sets: {', '.join(DATA_SETS)}")
    p.add_argument("--seeds", type=int_list_of(non_negative_int), default=[0], metavar="S[,S...]",
                   help="train every run once per seed; the tables show mean +- sd over them (CAF reports five)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help=f"change a bench.train setting of every run (the rows record it): {', '.join(SETTABLE)}")
    p.add_argument("--device", type=device_name, default="auto",
                   help=f"{DEVICES} (default auto: cuda where there is one); with --executor ray a cuda cell takes "
                        "one GPU; --dry-run plans for any device, this machine's or not")
    p.add_argument("--checkpoint-dir", default="checkpoints", metavar="DIR",
                   help="bench.train's checkpoints (DIR/<run key>/last.pt, best.pt); a cell resumes from its last.pt")
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="the decoded cache the runs read (default $BREG_CACHE_DIR or ~/.cache/breg-harness; with "
                        "--executor ray it must be at the same path on every node, or each node decodes its own)")
    p.add_argument("--dry-run", action="store_true",
                   help="list the cells as bench.train commands with each recipe's settings, run nothing")
    p.add_argument("--format", choices=FORMATS, default="markdown",
                   help="the table of the runs' last epochs: markdown, latex, csv or json")
    p.add_argument("--out", help="write that table (or the --dry-run list) here instead of stdout")
    add_executor_args(p, default_results="results/train.jsonl")
    args = p.parse_args(argv)
    args.tables = table_names(args.paper, args.tables)
    if len(set(args.seeds)) != len(args.seeds):
        raise UsageError(f"--seeds takes distinct seeds, got {','.join(map(str, args.seeds))}")
    open_store(args.results, needed_for="reproduce's runs keep their rows in a store (bench.train writes them, a "
               "rerun skips what it holds)")
    return args


def data_paths(given: list[str], budget: str, needed: list[str]) -> dict[str, str]:
    """--data NAME=PATH as bench.train data specs (paths made absolute: a Ray task runs elsewhere, and the
    spec is part of the run's identity); a data set the runs need and --data lacks is an error."""
    specs = {}
    for item in given:
        name, sep, path = item.partition("=")
        if not sep or name not in DATA_SETS or not path:
            raise UsageError(f"--data {item}: expected NAME=PATH with NAME one of {', '.join(DATA_SETS)}")
        kind, colon, rest = path.partition(":")
        if colon and kind in (*DATA_SETS, "synth"):  # a full bench.train spec, e.g. fer2013=fer2013:data/x.csv
            if kind != name:
                raise UsageError(f"--data {item}: {name} cannot read a {kind} spec")
            path = rest
        specs[name] = f"{name}:{Path(path).expanduser().absolute()}"
    if budget == "smoke":
        if given:
            raise UsageError("--budget smoke trains on synth stand-ins and reads no --data; use --budget short or "
                             "paper")
        return {}
    missing = [n for n in needed if n not in specs]
    if missing:
        have = [n for n in needed if n in specs]
        raise UsageError(f"--budget {budget} needs the real data: give " +
                         " ".join(f"--data {n}=PATH" for n in missing) +
                         (f", or keep to the runs on the data given with --datasets {' '.join(have)}" if have else ""))
    return specs


def parse_overrides(items: list[str], budget: str) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in SETTABLE:
            raise UsageError(f"--set {item}: expected KEY=VALUE with KEY one of {', '.join(SETTABLE)}")
        if key.startswith("synth_") and budget != "smoke":
            raise UsageError(f"--set {key}: only smoke runs train on synth data")
        if key in FLAGS:
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise UsageError(f"--set {item}: {key} is true or false")
            value = value.lower() in ("true", "1", "yes")
        out[key] = value
    return out


def cells(args: argparse.Namespace) -> tuple[list[dict], list[tuple[str, ...]]]:
    """The cells' configs (each the config of its run's last epoch row) and the tables each feeds."""
    budget = args.budget or ("short" if args.data_paths else "smoke")
    runs = plan(args.paper, args.tables, args.models, args.datasets)
    if not runs:
        raise UsageError(f"no run of {args.paper} Tables {', '.join(args.tables)} matches --models/--datasets")
    specs = data_paths(args.data_paths, budget, list(dict.fromkeys(run[1] for run in runs)))
    overrides = parse_overrides(args.overrides, budget)
    tags = {"paper": args.paper, "budget": budget}
    configs, tables = [], []
    for run in runs:
        for seed in args.seeds:
            options = train_options(args.paper, budget, run, args.device, specs, seed, overrides)
            try:
                configs.append(train_config(options, {**tags, "stands_for": run[1]} if budget == "smoke" else tags))
            except UsageError as exc:  # a --set value the run cannot take: say so once, shortly
                raise UsageError(f"{run[0]} on {run[1]}: {str(exc)[:300]}") from None
            tables.append(run[-1])
    return configs, tables


def check_models(configs: list[dict]) -> None:
    """Every network exists in the zoo, before any cell trains (bench.train would say so per cell)."""
    from breg_models.registry import get_spec

    for name in dict.fromkeys(c["model"] for c in configs):
        get_spec(name)


def dry_run(args, configs: list[dict], tables: list[tuple[str, ...]]) -> str:
    """Each run as its bench.train command, then the recipe's settings with their sources and the footprint (once per
    network, data set and loss: the runs of one differ only in bypass, method and seed)."""
    lines = [f"# {args.paper}, budget {configs[0]['budget']}: {len(configs)} runs, each the bench.train command below "
             "(the same config, so rows written by either count for both)"]
    for config, feeds in zip(configs, tables, strict=True):
        argv = train_argv({**cell_options(config), "device": args.device}) + ["--results", args.results,
                                                                              "--checkpoint-dir", args.checkpoint_dir]
        lines.append(f"python -m bench.train {' '.join(argv)}  # Table{'s' * (len(feeds) > 1)} {','.join(feeds)}")
    from . import train

    shown = set()
    for config in configs:
        key = (config["model"], config["data"], config["task"], config["loss"])
        if key in shown:
            continue
        shown.add(key)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            train.main(train_argv(cell_options(config)) + ["--dry-run"])
        lines += ["", out.getvalue().rstrip()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from reports.train import render_train

    args = parse_args(argv)
    if not args.dry_run and args.executor == "local":  # a dry run plans for any device; a run needs it here
        check_device_here(args.device)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise UsageError("bench.reproduce runs whole runs, one device each (spread them over GPUs with --executor "
                         "ray); for DDP within one run, run its bench.train command (--dry-run) under torchrun")
    configs, tables = cells(args)
    check_output_path(args.out, "--out")
    if args.dry_run:
        write_output(dry_run(args, configs, tables), args.out)
        return 0
    check_models(configs)
    results = Path(args.results).absolute()
    fn = partial(run_cell, results=str(results), checkpoint_dir=str(Path(args.checkpoint_dir).absolute()),
                 force=args.force, cache_dir=str(Path(args.cache_dir).absolute()) if args.cache_dir else None,
                 device=args.device if args.executor == "local" else None)  # a Ray task's GPU is its "cuda"
    result = run_cells(configs, fn, FinishedRuns(results), "train",
                       needs_gpu=lambda c: str(c.get("device", "cpu")).startswith("cuda"),
                       desc=f"{args.paper} runs", preflight=lambda: preflight(args, configs), **executor_kwargs(args))
    if result.finished:
        write_output(render_train(result.finished, args.format,
                                  caption=f"{args.paper} runs, budget {configs[0]['budget']}: last epochs"), args.out)
    print(f"reproduce: {result.ran} runs trained, {result.skipped} already stored; render the tables with: "
          f"{reports_command(results)}", file=sys.stderr)
    result.raise_for_failures()
    return 0


def preflight(args, configs: list[dict]) -> None:
    """Before the first run: every data set the runs read holds its files, and the folders they write to can
    be written (bench.train checks them too, but only once a run starts)."""
    for spec in dict.fromkeys(c["data"] for c in configs):
        name, _, path = spec.partition(":")
        check_data(spec, f"--data {name}={path}")
    check_output_folder(args.checkpoint_dir, "--checkpoint-dir")
    if args.cache_dir:
        check_output_folder(args.cache_dir, "--cache-dir")


def reports_command(results: Path) -> str:
    """The `python -m reports` call that reads this sweep's stores (the bare command reads results/**)."""
    default = Path("results").absolute()
    if results.parent == default or default in results.parents:
        return "python -m reports"
    return f"python -m reports {results} {results.with_name('evaluate.jsonl')}"


if __name__ == "__main__":
    sys.exit(run_main(main))
