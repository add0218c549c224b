"""`python -m bench.reproduce`: the training runs behind a paper's tables, as one resumable sweep.

Each cell is one `bench.train` run (network, data set, task, loss, bypass) whose config also carries
"paper" and "budget", so runs of different papers and budgets never share rows. bench.train writes the
cell's rows as it always does: one "train" row per epoch in --results, checkpoints under
--checkpoint-dir, and at the end the "evaluate" row of its best checkpoint on the validation split in
evaluate.jsonl beside --results, which the paper tables of `python -m reports` read. A cell whose last
epoch and evaluate row are stored is skipped; an interrupted cell resumes from its last checkpoint.

Budgets:
  smoke  synth stand-ins for every data set (AffectNet's and FER2013's class mix, Aff-Wild's uniform
         valence/arousal disk), 16x16 images, 64 training faces, 1 epoch: the whole pipeline in minutes
         on a CPU. The default without --data.
  short  the real data sets (--data NAME=PATH), the paper's recipe, 3 epochs. The default with --data.
  paper  the real data sets and the paper's recipe as far as bench.train can follow it (--dry-run
         --budget paper prints where the paper is silent and where the harness differs from it).

Runs go in this process or as Ray tasks (--executor ray), one device each. Under torchrun it refuses:
DDP splits one run, so run that run's bench.train command (--dry-run prints it) under torchrun.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import io
import json
import math
import os
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from breg_models.specs import TABLE1 as _TABLE1_SPECS

from .cli import UsageError, check_output_path, examples, run_main, write_output
from .executor import add_executor_args, executor_kwargs, run_cells
from .results import ResultsStore, run_id

PAPER_NAMES = ("bregnext", "bregnet", "dacl", "caf")
BUDGETS = ("smoke", "short", "paper")
TAGS = ("paper", "budget")  # the keys reproduce adds to every bench.train config
DATA_SETS = ("affectnet", "affectnet7", "fer2013", "rafdb", "affwild", "afewva")


@dataclass(frozen=True)
class Runs:
    """The runs one block of a table needs: every network x data set x loss x bypass (None: the network's own)
    x training method ("plain", or "caf:MARGIN" for CAF's Algorithm 1 with that --caf-margin)."""

    models: tuple[str, ...]
    data: tuple[str, ...]
    task: str
    losses: tuple[str, ...]
    bypasses: tuple[str | None, ...] = (None,)
    methods: tuple[str, ...] = ("plain",)


def by_model(table: dict[str, dict], model: str) -> dict:
    """The options of ``table`` (network-name glob -> options) that apply to ``model``, later globs winning."""
    return {k: v for pattern, extra in table.items() if fnmatch.fnmatch(model, pattern) for k, v in extra.items()}


@dataclass(frozen=True)
class Recipe:
    """A paper's training settings as bench.train options, its epochs per data set, and what was assumed.

    ``per_data`` and ``per_model`` (keys: name globs) refine the options for one data set or network (DACL's
    schedules per data set, CAF's AlexNet batch). With ``iterations`` the paper counts steps, not epochs:
    ``epochs`` then holds each data set's training faces and a run gets the epochs covering its steps at
    its batch size."""

    options: dict
    epochs: dict[str, int]
    assumed: str = ""
    per_data: dict[str, dict] = field(default_factory=dict)
    per_model: dict[str, dict] = field(default_factory=dict)
    iterations: dict[str, int] | None = None

    def run_options(self, model: str, data: str) -> dict:
        return {**self.options, **self.per_data.get(data, {}), **by_model(self.per_model, model)}

    def run_epochs(self, data: str, batch_size: int) -> int:
        if self.iterations is None:
            return self.epochs[data]
        return math.ceil(self.iterations[data] * batch_size / self.epochs[data])


TABLE1 = tuple(_TABLE1_SPECS)  # BReG-NeXt Table 1's six networks
# BReG-Net's two networks, by the names of the model zoo.
BREGNET, RESNET110 = "bregnet39", "resnet110"
CAT = ("affectnet", "fer2013")
DIM = ("affectnet", "affwild")
H3 = ("bregnet_h3",)  # BReG-Net's chosen H (atan), named so that Table I's three Hs read alike
DACL_NETS = ("tv_resnet18", "bregnext50")  # DACL's backbone (torchvision's), and BReG-NeXt-50 with its loss
CAF_NETS = ("tv_resnet18", "tv_alexnet_tuned", "bregnext50")  # CAF's two encoders, and BReG-NeXt-50 under CAF
# CAF Table 4, as runnable here: no critic (the AV loss alone), constant kappa, linear kappa', CAF's Delta
CAF_TABLE4 = ("plain", "caf:constant:0.2", "caf:linear:0.1,0.005", "caf:adaptive")

# paper -> table (as printed) -> the runs it needs. Tables share runs: a run is trained once.
PAPERS: dict[str, dict[str, tuple[Runs, ...]]] = {
    "bregnext": {
        "4": (Runs(TABLE1, CAT, "categorical", ("focal",)),),
        "5": (Runs(("bregnext50",), CAT, "categorical", ("focal",)),),
        "6": (Runs(TABLE1, DIM, "dimensional", ("mse",)),),
        "7": (Runs(("bregnext50",), DIM, "dimensional", ("mse",)),),
    },
    "bregnet": {  # "regular loss" is cross-entropy: the weighted loss with H = I (BReG-Net Sec. III-B)
        "I": (Runs((BREGNET,), CAT, "categorical", ("ce", "weighted_ce"), ("bregnet_h1", "bregnet_h2", "bregnet_h3")),),
        "II": (Runs((RESNET110,), CAT, "categorical", ("ce",)),
               Runs((BREGNET,), CAT, "categorical", ("ce", "weighted_ce"), H3)),
        "III": (Runs((BREGNET,), CAT, "categorical", ("weighted_ce",), H3),),
        "IV": (Runs((BREGNET,), CAT, "categorical", ("ce",), H3),),
        "V": (Runs((RESNET110,), DIM, "dimensional", ("mse",)), Runs((BREGNET,), DIM, "dimensional", ("mse",), H3)),
        "VI": (Runs((BREGNET,), DIM, "dimensional", ("mse",), H3),),
        "VII": (Runs((RESNET110,), DIM, "dimensional", ("mse",)),),
    },
    "dacl": {  # softmax loss (ce) against DACL: the paper's ResNet-18, and BReG-NeXt-50 beside it
        "1": (Runs(DACL_NETS, ("rafdb",), "categorical", ("ce", "dacl")),),
        "2": (Runs(DACL_NETS, ("affectnet7",), "categorical", ("ce", "dacl")),),
    },
    "caf": {  # the AV loss; CAF's Algorithm 1 on its two encoders and BReG-NeXt-50, Table 4 its margins and
        # the same encoders without the critic
        "1": (Runs(CAF_NETS, ("affectnet",), "dimensional", ("av",), methods=("caf:adaptive",)),),
        "2": (Runs(CAF_NETS, ("afewva",), "dimensional", ("av",), methods=("caf:adaptive",)),),
        "3": (Runs(CAF_NETS, ("affwild",), "dimensional", ("av",), methods=("caf:adaptive",)),),
        "4": (Runs(CAF_NETS[:2], ("affectnet",), "dimensional", ("av",), methods=CAF_TABLE4),),
    },
}

# Tables of these papers that this command does not train, and why.
ELSEWHERE = {
    ("bregnext", "1"): "parameters and FLOPs: python -m bench.flops",
    ("bregnext", "2"): "parameters and FLOPs per depth: python -m bench.flops or python -m bench.depth_sweep",
    ("bregnext", "3"): "class counts of the data, which the evaluate row of every Table 4 run holds",
    ("bregnext", "8"): "bypass ablation: python -m bench.ablation --preset table8",
    ("bregnext", "9"): "bypass ablation: python -m bench.ablation --preset table9",
}

_SEC35 = {"lr": 1e-4, "lr_gamma": 0.8, "lr_step": 10, "lr_step_unit": "epoch", "weight_decay": 1e-4,
          "augment_p": 0.25, "batch_size": 128, "image_size": 64}
RECIPES = {
    "bregnext": Recipe(_SEC35, {"affectnet": 50, "fer2013": 50, "affwild": 50},
                       "Sec. 3.5: Adam, batch 128, lr 1e-4 x 0.8 every 10 epochs, focal loss / MSE, L2 on conv "
                       "weights, 25% augmentation, 64x64. Silent on the number of epochs (50 here) and the L2 weight "
                       "(1e-4)."),
    "bregnet": Recipe(_SEC35, {"affectnet": 50, "fer2013": 50, "affwild": 50},
                      "The paper trains with momentum SGD, lr 0.01, weight decay 1e-4; bench.train has Adam only, so "
                      "BReG-NeXt's Sec. 3.5 schedule (Adam 1e-4 x 0.8 every 10 epochs) with that weight decay. Silent "
                      "on epochs (50 here), batch (128) and input size (64x64)."),
    "dacl": Recipe({"optimizer": "sgd", "momentum": 0.9, "lr": 0.01, "weight_decay": 5e-4, "batch_size": 128,
                    "image_size": 224, "lr_step_unit": "epoch", "augment_p": 0.25},
                   {"rafdb": 60, "affectnet7": 20},
                   "Sec. 4.2: SGD (momentum 0.9, weight decay 5e-4), batch 128, lr 0.01 divided by 10 every 20 epochs "
                   "for 60 epochs on RAF-DB and by 5 every 5 epochs for 20 on AffectNet (7 classes), alpha 0.5, lambda "
                   "0.01, CE-Unit 3584-512-64, 224x224 input. The paper's ResNet-18 starts from MS-Celeb-1M weights "
                   "(give them with --set init=PATH; without, it trains from scratch) and sees random crops of 256x256 "
                   "faces (five, flipped); here 224x224 faces with 25% augmentation. BReG-NeXt-50 takes the same "
                   "recipe at its own 64x64 input and bench.train's smaller CE-Unit for its 128-channel map.",
                   per_data={"rafdb": {"lr_step": 20, "lr_gamma": 0.1},
                             "affectnet7": {"lr_step": 5, "lr_gamma": 0.2}},
                   per_model={"bregnext*": {"image_size": 64}}),
    "caf": Recipe({**_SEC35, "image_size": 224, "lr_step": 10_000, "lr_step_unit": "iter"},
                  {"affectnet": 287_651, "afewva": 24_000, "affwild": 900_000},
                  "Adam 1e-4, lr x 0.8 every 10k iterations, 50k iterations on AffectNet and AFEW-VA, 100k on "
                  "Aff-Wild, batch 128 (ResNet-18) or 256 (AlexNet), from scratch, critic and margins as Algorithm 1. "
                  "Epochs cover "
                  "those iterations assuming 287,651 AffectNet, about 24,000 AFEW-VA (80% of its 30,051 frames) and "
                  "about 900,000 Aff-Wild training faces (set epochs for yours). Silent on the input size (224x224 "
                  "here; BReG-NeXt-50 its own 64x64), L2 (1e-4) and augmentation (25%).",
                  per_model={"tv_alexnet*": {"batch_size": 256}, "bregnext*": {"image_size": 64}},
                  iterations={"affectnet": 50_000, "afewva": 50_000, "affwild": 100_000}),
}
SMOKE = {"epochs": 1, "batch_size": 16, "image_size": 16, "synth_train": 64, "synth_val": 32}
SMOKE_PER_MODEL = {"tv_alexnet*": {"image_size": 64}}  # AlexNet's stride-4 stem and three max-pools need 63 px
# The synth stand-in of each data set in a smoke run: its class mix (the label distribution of the real set).
# Stand-ins differ per data set, so no two data sets' runs of a table merge into one synth run.
SMOKE_BALANCE = {"affectnet": "affectnet", "affectnet7": "affectnet", "fer2013": "fer2013", "rafdb": "fer2013",
                 "affwild": "disk", "afewva": "uniform"}
SHORT_EPOCHS = 3
# bench.train options --set may change; the others decide which run a table line is.
SETTABLE = ("epochs", "batch_size", "lr", "lr_gamma", "lr_step", "lr_step_unit", "weight_decay", "augment_p",
            "image_size", "bypass_impl", "amp", "channels_last", "compile", "seed", "deterministic", "dacl_widths",
            "init",
            "synth_train", "synth_val", "synth_nuisance")
FLAGS = ("channels_last", "compile", "deterministic")  # bench.train's on/off options


# ---------------------------------------------------------------- which runs
def table_names(paper: str, text: str | None) -> list[str]:
    """The tables ``text`` ('4,6' or 'ii,iii'; None: all) names, in the paper's order; unknown ones are an error."""
    known = list(PAPERS[paper])
    if text is None:
        return known
    wanted = [t.strip() for t in text.split(",") if t.strip()]
    out = []
    for t in wanted:
        match = next((k for k in known if k.lower() == t.lower()), None)
        if match is None:
            reason = ELSEWHERE.get((paper, t))
            why = f"is not trained here: {reason}" if reason else "is not a table of this paper"
            raise UsageError(f"{paper} Table {t} {why}; tables this command trains: {', '.join(known)}")
        if match not in out:
            out.append(match)
    if not out:
        raise UsageError(f"--tables names no table; {paper} has: {', '.join(known)}")
    return [k for k in known if k in out]


def plan(paper: str, tables: list[str], models: list[str] | None = None,
         datasets: list[str] | None = None) -> list[tuple[str, str, str, str, str | None, str, tuple[str, ...]]]:
    """(model, data set, task, loss, bypass, method, tables) of every run the tables need, each once, in table
    order."""
    found: dict[tuple, list[str]] = {}
    for table in tables:
        for runs in PAPERS[paper][table]:
            for model in runs.models:
                if models and not any(fnmatch.fnmatch(model, m) for m in models):
                    continue
                for data in runs.data:
                    if datasets and data not in datasets:
                        continue
                    for loss in runs.losses:
                        for bypass in runs.bypasses:
                            for method in runs.methods:
                                found.setdefault((model, data, runs.task, loss, bypass, method), []).append(table)
    return [(*key, tuple(t)) for key, t in found.items()]


def train_options(paper: str, budget: str, model: str, data: str, task: str, loss: str, bypass: str | None,
                  method: str, device: str, specs: dict[str, str], overrides: dict | None = None) -> dict:
    """The bench.train options of one run: the paper's recipe, cut to the budget, then --set's overrides."""
    from .data import DEFAULT_NUM_CLASSES

    recipe = RECIPES[paper]
    options = {"model": model, "task": task, "loss": loss, "bypass": bypass,
               "num_classes": DEFAULT_NUM_CLASSES.get(data, 8), "device": device, **recipe.run_options(model, data)}
    kind, _, margin = method.partition(":")
    if kind == "caf":
        options.update(method="caf", caf_margin=margin)
    if budget == "smoke":
        options.update(SMOKE, data="synth", synth_balance=SMOKE_BALANCE[data])
        options.update(by_model(SMOKE_PER_MODEL, model))
    else:
        epochs = SHORT_EPOCHS if budget == "short" else recipe.run_epochs(data, options["batch_size"])
        options.update(data=specs[data], epochs=epochs)
    return {**options, **(overrides or {})}


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
    """The config of the last epoch's row the run writes: bench.train's own `run_config` of these options,
    reproduce's tags, and the epoch. It names the cell in the store, so a rerun finds the finished run."""
    from . import train

    parser = train.build_parser()
    parser.exit_on_error = False  # a bad --set value: one line, not argparse's usage and exit
    try:
        args = parser.parse_args(train_argv({**options, "tag": [f"{k}={v}" for k, v in tags.items()]}))
    except argparse.ArgumentError as exc:
        raise UsageError(f"--set: {exc}") from None
    return {**train.run_config(args), "epoch": args.epochs}


def cell_options(config: dict) -> dict:
    """A cell's bench.train options back from its config (the inverse of `train_config`): its tags as --tag."""
    options = {k: v for k, v in config.items() if k not in (*TAGS, "epoch")}
    return {**options, "tag": [f"{k}={config[k]}" for k in TAGS]}


def evaluate_config(config: dict) -> dict:
    """The config of the evaluate row bench.train writes for the run's best checkpoint on the validation split."""
    return {**{k: v for k, v in config.items() if k != "epoch"}, "split": "val", "checkpoint": "best"}


# ---------------------------------------------------------------- running a cell
def run_cell(config: dict, *, results: str, checkpoint_dir: str, force: bool = False) -> tuple[dict, dict]:
    """Train one cell through bench.train's main (its rows and checkpoints land where bench.train puts them);
    the last epoch's metrics and timings, for the sweep's table."""
    from . import train
    from .evaluate import evaluation_store

    argv = train_argv(cell_options(config)) + ["--results", results, "--checkpoint-dir", checkpoint_dir,
                                               "--format", "json", "--out", "-"] + (["--force"] if force else [])
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
        from .evaluate import evaluation_store

        evaluated = {row["run_id"] for row in evaluation_store(self.path).rows("evaluate")}
        return [row for row in super().rows(command)
                if run_id("evaluate", evaluate_config(row["config"])) in evaluated]

    def append(self, row: dict) -> None:
        pass


# ---------------------------------------------------------------- the command line
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    import torch

    from reports.render import FORMATS

    p = argparse.ArgumentParser(prog="python -m bench.reproduce", description=__doc__.split("\n\n")[0], **examples(
        "python -m bench.reproduce bregnext --tables 7 --dry-run # Table 7's runs as bench.train commands",
        "python -m bench.reproduce bregnext # Tables 4-7 on synth stand-ins: a smoke run",
        "python -m bench.reproduce dacl --budget paper --data affectnet=data/affectnet --executor ray # one task a run",
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
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help=f"change a bench.train setting of every run (the rows record it): {', '.join(SETTABLE)}")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="cpu or cuda (default cuda where there is one); with --executor ray a cuda cell takes one GPU")
    p.add_argument("--checkpoint-dir", default="checkpoints", metavar="DIR",
                   help="bench.train's checkpoints (DIR/<run key>/last.pt, best.pt); a cell resumes from its last.pt")
    p.add_argument("--dry-run", action="store_true", help="list the cells as bench.train commands, run nothing")
    p.add_argument("--format", choices=FORMATS, default="markdown",
                   help="the table of the runs' last epochs: markdown, latex, csv or json")
    p.add_argument("--out", help="write that table (or the --dry-run list) here instead of stdout")
    add_executor_args(p, default_results="results/train.jsonl")
    args = p.parse_args(argv)
    args.tables = table_names(args.paper, args.tables)
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
        raise UsageError(f"--budget {budget} needs the real data: give " +
                         " ".join(f"--data {n}=PATH" for n in missing))
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
    for model, data, task, loss, bypass, method, feeds in runs:
        options = train_options(args.paper, budget, model, data, task, loss, bypass, method, args.device, specs,
                                overrides)
        configs.append(train_config(options, tags))
        tables.append(feeds)
    return configs, tables


def check_models(configs: list[dict]) -> None:
    """Every network exists in the zoo, before any cell trains (bench.train would say so per cell)."""
    from breg_models.registry import get_spec

    for name in dict.fromkeys(c["model"] for c in configs):
        get_spec(name)


def dry_run(args, configs: list[dict], tables: list[tuple[str, ...]]) -> str:
    lines = [f"# {args.paper}, budget {configs[0]['budget']}: {len(configs)} runs, each the bench.train command below "
             "(the same config, so rows written by either count for both)"]
    if configs[0]["budget"] == "paper":
        lines.append(f"# recipe: {RECIPES[args.paper].assumed}")
    for config, feeds in zip(configs, tables, strict=True):
        argv = train_argv(cell_options(config)) + ["--results", args.results, "--checkpoint-dir", args.checkpoint_dir]
        lines.append(f"python -m bench.train {' '.join(argv)}  # Table{'s' * (len(feeds) > 1)} {','.join(feeds)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from reports.train import render_train

    args = parse_args(argv)
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
                 force=args.force)
    result = run_cells(configs, fn, FinishedRuns(results), "train",
                       needs_gpu=lambda c: str(c.get("device", "cpu")).startswith("cuda"),
                       desc=f"{args.paper} runs", **executor_kwargs(args))
    if result.finished:
        write_output(render_train(result.finished, args.format,
                                  caption=f"{args.paper} runs, budget {configs[0]['budget']}: last epochs"), args.out)
    print(f"reproduce: {result.ran} runs trained, {result.skipped} already stored; render the tables with: "
          f"{reports_command(results)}", file=sys.stderr)
    result.raise_for_failures()
    return 0


def reports_command(results: Path) -> str:
    """The `python -m reports` call that reads this sweep's stores (the bare command reads results/**)."""
    default = Path("results").absolute()
    if results.parent == default or default in results.parents:
        return "python -m reports"
    return f"python -m reports {results} {results.with_name('evaluate.jsonl')}"


if __name__ == "__main__":
    sys.exit(run_main(main))
