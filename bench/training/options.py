"""`bench.train`'s command line, its recipes applied, the checks made before any work, and the run's config.

The run's config (`run_config`) is everything that changes what a run computes: its rows' identity in the
results store and the key of its checkpoint folder. Settings added since the first runs enter it only when they
differ from their old default, so those runs keep their ids.
"""

from __future__ import annotations

import argparse

from bench.data import DEFAULT_NUM_CLASSES, DIMENSIONAL_ONLY
from bench.data.data_path import DATA_PATHS
from bench.data.synth import BALANCES
from bench.data.transform import AUGMENTS, NORMALISATIONS
from harness.cli import (
    DEVICES,
    ArgumentParser,
    UsageError,
    device_name,
    examples,
    float_in,
    int_at_least,
    int_list,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    probability,
)
from harness.data_spec import SOURCES, parse_spec
from reports.render import FORMATS

from .caf import CAF_ADVERSARIES, CAF_READINGS
from .dacl import DACL_WIDTHS, dacl_widths
from .optim import ADAM_BETAS, DECAY_ON, SGD_MOMENTUM
from .plain import LOSSES, check_loss
from .recipes import RECIPES, Setting, get_recipe
from .runtime import AMP

CATEGORICAL_ONLY = ("fer2013", "rafdb")  # data sets without valence/arousal labels
DESCRIPTION = "train one network on one data set, one result row per epoch"
# Settings a recipe may fill; the rest (model, data, device, paths) are the user's.
RECIPE_KEYS = ("optimizer", "momentum", "adam_betas", "lr", "lr_gamma", "lr_step", "lr_step_unit", "weight_decay",
               "decay_on", "batch_size", "epochs", "augment", "augment_p", "normalise", "image_size", "resize",
               "loss", "holdout", "method", "dacl_widths", "caf_reading", "caf_margin", "caf_adversary")
CAF_KEYS = ("caf_reading", "caf_margin", "caf_adversary")
# The keys every run's config holds (`run_config`); the others enter it only when they differ from their default.
CONFIG_KEYS = ("model", "data", "task", "epochs", "batch_size", "lr", "lr_gamma", "lr_step", "lr_step_unit",
               "loss", "weight_decay", "augment_p", "image_size", "num_classes", "bypass_impl", "amp",
               "channels_last", "compile", "seed", "deterministic", "bypass")
# The kind and range of every numeric setting: the command line's types, and what a checkpoint's config must hold.
SHARE = float_in(0, 1, open_high=True)
NUMBERS = {"epochs": positive_int, "max_steps": positive_int, "batch_size": positive_int, "lr": positive_float,
           "momentum": SHARE, "lr_gamma": float_in(0, 1, open_low=True), "lr_step": positive_int,
           "weight_decay": non_negative_float, "augment_p": probability, "image_size": positive_int,
           "resize": positive_int, "holdout": SHARE, "synth_train": positive_int, "synth_val": positive_int,
           "synth_nuisance": non_negative_float, "num_classes": int_at_least(2), "seed": non_negative_int,
           "world_size": int_at_least(2)}
ROW_KEYS = ("epoch", "split", "checkpoint")  # what a row's config adds to its run's: no --tag may take them


def _tag(text: str) -> tuple[str, str]:
    """argparse type for --tag KEY=VALUE."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY a name, got {text!r}")
    return key.strip(), value


def _betas(text: str) -> tuple[float, float]:
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected B1,B2 (two numbers, each in [0, 1)), got {text!r}")
    b1, b2 = (SHARE(v) for v in parts)
    return b1, b2


def build_parser() -> argparse.ArgumentParser:
    from breg_models import BYPASS_FUNCTIONS

    p = ArgumentParser(prog="python -m bench.train", description=DESCRIPTION, **examples(
        "python -m bench.train # bregnext50 on a small synth set, 5 epochs",
        "python -m bench.train --recipe dacl --model tv_resnet18 --data rafdb:data/rafdb --dry-run # DACL's settings",
        "torchrun --nproc_per_node=2 -m bench.train --recipe bregnext --data affectnet:data/affectnet --amp bf16",
        defaults=True))
    p.add_argument("--recipe", choices=tuple(RECIPES), default=None,
                   help="a paper's training settings for every option not given (README: Recipes; --dry-run lists "
                        "them with their sources)")
    p.add_argument("--dry-run", action="store_true", help="print the run's settings and data footprint, train nothing")
    p.add_argument("--model", default="bregnext50", help="network name (bench.flops lists them)")
    p.add_argument("--data", default="synth", metavar="SPEC",
                   help="synth (built in) or " + ", ".join(f"{s}:PATH" for s in SOURCES if s != "synth")
                   + " (README: Data on disk)")
    p.add_argument("--task", choices=("categorical", "dimensional"), default=None,
                   help=f"default: categorical, or dimensional for {', '.join(DIMENSIONAL_ONLY)}")
    p.add_argument("--epochs", type=NUMBERS["epochs"], default=5,
                   help="epochs to train (a rerun resumes up to this many)")
    p.add_argument("--max-steps", type=NUMBERS["max_steps"], default=None, metavar="N",
                   help="train at most N steps of each epoch (a quick look at a large set, or a benchmark); unset: "
                        "every batch")
    p.add_argument("--batch-size", type=NUMBERS["batch_size"], default=None,
                   help="default 128 (Sec. 3.5) on a GPU; 32 on the CPU, where bregnext50 at 128 needs ~10 GB")
    p.add_argument("--lr", type=NUMBERS["lr"], default=1e-4, help="the optimiser's learning rate")
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                   help="adam (BReG-NeXt Sec. 3.5, CAF) or sgd with --momentum (BReG-Net, DACL)")
    p.add_argument("--momentum", type=NUMBERS["momentum"], default=None,
                   help=f"--optimizer sgd: its momentum, in [0, 1); unset: {SGD_MOMENTUM} (DACL Sec. 4.2)")
    p.add_argument("--adam-betas", type=_betas, default=None, metavar="B1,B2",
                   help=f"--optimizer adam: its betas; unset: {','.join(map(str, ADAM_BETAS))} (CAF's code: 0.5,0.9)")
    p.add_argument("--lr-gamma", type=NUMBERS["lr_gamma"], default=0.8,
                   help="lr multiplier every --lr-step, in (0, 1]")
    p.add_argument("--lr-step", type=NUMBERS["lr_step"], default=10,
                   help="the lr decays every this many --lr-step-unit")
    p.add_argument("--lr-step-unit", choices=("epoch", "iter"), default="epoch", help="what --lr-step counts")
    p.add_argument("--loss", default=None,
                   help=", ".join(f"{'|'.join(names)} ({task})" for task, names in LOSSES.items()) + "; default "
                   "focal / mse. focal is the paper's Eq. 17, focal_code the authors' public code (losses.focal); "
                   "center is Wen et al.'s center loss, DACL's baseline")
    p.add_argument("--method", choices=("plain", "caf"), default="plain",
                   help="plain: the loss on the network's output; caf: CAF's Algorithm 1 (critic, adversarial and "
                        "AV steps per batch; dimensional task only, one process)")
    p.add_argument("--caf-margin", default="adaptive", metavar="SCHEDULE",
                   help="--method caf: the critic's margin: adaptive (Eq. 5, MI + Delta), or CAF Table 4's "
                        "constant:KAPPA (MI + kappa; 0.2 there) or linear:START,SLOPE (MI + START + SLOPE x epochs "
                        "done; 0.1,0.005 there)")
    p.add_argument("--caf-reading", choices=CAF_READINGS, default="code",
                   help="--method caf: code (the authors' code: AV, critic, adversarial steps; its grouping, pairs, "
                        "Fisher constraint, L_adv x 0.1, summed RMSEs) or paper (Algorithm 1 as printed)")
    p.add_argument("--caf-adversary", choices=CAF_ADVERSARIES, default="caf",
                   help="--method caf: the critic's loss: caf (Eq. 7 with the margin), or CAF Table 4's fishergan, "
                        "spheregan, gramnet, or none (the AV loss alone, Table 4's no-critic line)")
    p.add_argument("--dacl-widths", type=int_list, default=None, metavar="W1,W2,W3",
                   help="--loss dacl: the CE-Unit's three linear widths; unset: the paper's 3584,512,64 on the "
                        "torchvision backbones (tv_*, ResNet-18's 512x7x7 map), "
                        + ",".join(map(str, DACL_WIDTHS)) + " on the zoo's networks (a small last map)")
    p.add_argument("--weight-decay", type=NUMBERS["weight_decay"], default=1e-4,
                   help="L2 weight, >= 0 (see --decay-on)")
    p.add_argument("--decay-on", choices=DECAY_ON, default="conv",
                   help="conv: L2 on convolution weights only (BReG-NeXt Sec. 3.5); all: every parameter (DACL's code)")
    p.add_argument("--augment", choices=AUGMENTS, default="bregnext",
                   help="bregnext: Sec. 3.5's colour and zoom on --augment-p of the faces; dacl: one of five "
                        "crops + flip; caf: a random crop + flip; none (README: Recipes)")
    p.add_argument("--augment-p", type=NUMBERS["augment_p"], default=0.25,
                   help="share of faces augmented, in [0, 1] (0: off)")
    p.add_argument("--normalise", choices=tuple(NORMALISATIONS), default="bregnext",
                   help="input normalisation: bregnext (minus the code's channel means), dacl, imagenet (mean/std)")
    p.add_argument("--image-size", type=NUMBERS["image_size"], default=64, help="the network's input side")
    p.add_argument("--resize", type=NUMBERS["resize"], default=None,
                   help="side faces are decoded to before the crop to --image-size (DACL, CAF: 256); unset: no crop")
    p.add_argument("--holdout", type=NUMBERS["holdout"], default=0.0,
                   help="share of the training set held out to pick the best epoch (0: pick on the validation split)")
    p.add_argument("--synth-train", type=NUMBERS["synth_train"], default=512, help="synth training set size")
    p.add_argument("--synth-val", type=NUMBERS["synth_val"], default=256, help="synth validation set size")
    p.add_argument("--synth-nuisance", type=NUMBERS["synth_nuisance"], default=1.0,
                   help="pose/light/noise strength, >= 0 (0: none)")
    p.add_argument("--synth-balance", default="uniform", choices=tuple(BALANCES),
                   help=f"synth class mix: {' | '.join(BALANCES)}")
    p.add_argument("--num-classes", type=NUMBERS["num_classes"], default=None,
                   help="default: the data set's (" + ", ".join(f"{k} {v}" for k, v in DEFAULT_NUM_CLASSES.items())
                   + ")")
    p.add_argument("--bypass", default=None, metavar="KIND[:p=v,...]",
                   help="swap every unit's bypass H (ablations: identity, atan, scaled:lam=0.9, fixed:alpha=1,beta=0, "
                        f"...); default: the network's own; kinds: {', '.join(BYPASS_FUNCTIONS)}")
    p.add_argument("--device", type=device_name, default="auto",
                   help=f"{DEVICES} (under torchrun each process takes cuda:LOCAL_RANK); the run's config records "
                        "cpu or cuda")
    p.add_argument("--bypass-impl", choices=("eager", "compile", "triton", "auto"), default="eager",
                   help="how the bypass runs (triton needs CUDA)")
    p.add_argument("--amp", choices=tuple(AMP), default="off", help="autocast dtype")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    p.add_argument("--compile", action="store_true", help="torch.compile the whole network")
    p.add_argument("--seed", type=NUMBERS["seed"], default=0, help="seed of the weights, data order and augmentation")
    p.add_argument("--deterministic", action="store_true", help="deterministic kernels (slower)")
    p.add_argument("--data-path", choices=DATA_PATHS, default="auto",
                   help="auto: a data set that fits the device (40%% of its memory) is held there, a larger one is "
                        "streamed from the decoded cache a batch at a time; resident or stream force one")
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="the decoded cache of file-backed data sets (default $BREG_CACHE_DIR or "
                        "~/.cache/breg-harness; README: The decoded cache)")
    p.add_argument("--checkpoint-dir", default="checkpoints", metavar="DIR",
                   help="last and best checkpoints go to DIR/<run key>/")
    p.add_argument("--init", default=None, metavar="PATH",
                   help="start from this state dict file (e.g. ImageNet or MS-Celeb-1M weights for tv_resnet18; a "
                        "plain state dict, or a checkpoint holding one under 'model' or 'state_dict'); the "
                        "classifier head stays fresh where its shape differs, everything else must fit; the path "
                        "is part of the run's identity")
    p.add_argument("--resume", default=None, metavar="CKPT",
                   help="resume from this checkpoint, which must be this run's (its config the one these options "
                        "make: its data is the --data given here); by default the run's own last.pt is resumed")
    p.add_argument("--tag", action="append", default=[], type=_tag, metavar="KEY=VALUE",
                   help="a label added to the run's config and every row it writes (bench.reproduce sets "
                        "paper=... and budget=...); part of the run's identity; repeatable")
    p.add_argument("--results", default=None, help="results store (default results/train.jsonl)")
    p.add_argument("--force", action="store_true", help="retrain from scratch even if rows exist")
    p.add_argument("--format", choices=FORMATS, default="markdown",
                   help="markdown/latex: a table of the epochs; json: one result row per line; csv: the rows "
                        "flattened")
    p.add_argument("--out", default=None, help="write the run's rows here instead of stdout")
    return p


def given_options(parser: argparse.ArgumentParser, argv: list[str] | None) -> set[str]:
    """The options the command line sets itself (a recipe fills only the others)."""
    quiet = argparse.ArgumentParser(add_help=False)
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            kwargs = {"dest": action.dest, "default": argparse.SUPPRESS}
            if action.nargs == 0:
                quiet.add_argument(*action.option_strings, action="store_const", const=True, **kwargs)
            else:
                quiet.add_argument(*action.option_strings, nargs=action.nargs, **kwargs)
    known, _ = quiet.parse_known_args(argv)
    return set(vars(known))


def _same(a, b) -> bool:
    return (list(a) if isinstance(a, (list, tuple)) else a) == (list(b) if isinstance(b, (list, tuple)) else b)


def resolve(args: argparse.Namespace, given: set[str], device_type: str) -> dict[str, Setting]:
    """Fill ``args`` in place: the recipe's settings the user did not give, then the task-dependent defaults.
    Returns each setting's value with its source, for --dry-run."""
    kind = args.data.partition(":")[0]
    recipe = get_recipe(args.recipe) if args.recipe else None
    if args.task is None:
        only = recipe.tasks[0] if recipe and len(recipe.tasks) == 1 else None
        args.task = "dimensional" if kind in DIMENSIONAL_ONLY else "categorical" if kind in CATEGORICAL_ONLY else \
            only or "categorical"
    lacking = {"dimensional": CATEGORICAL_ONLY, "categorical": DIMENSIONAL_ONLY}[args.task]
    if kind in lacking:
        raise UsageError(f"{kind} has no {'valence/arousal' if args.task == 'dimensional' else 'class'} labels, so "
                         f"it cannot train the {args.task} task")
    if args.num_classes is None:
        args.num_classes = DEFAULT_NUM_CLASSES.get(kind, 8)
    sources: dict[str, Setting] = {}
    if recipe:
        faces = args.synth_train if kind == "synth" else None
        for key, setting in recipe.resolve(args.model, kind, args.task, faces).items():
            if key not in given:
                setattr(args, key, setting.value)
                sources[key] = setting
            elif _same(getattr(args, key), setting.value):
                sources[key] = Setting(setting.value, f"{setting.source} (also given)")
            else:
                sources[key] = Setting(getattr(args, key), f"given; the recipe's is {setting.value} "
                                                           f"({setting.source})")
    for key, owner in (("momentum", "sgd"), ("adam_betas", "adam")):  # a recipe's value for an optimiser the
        if key not in given and args.optimizer != owner:               # command line replaced does not apply
            setattr(args, key, None)
            sources.pop(key, None)
    if args.batch_size is None:
        args.batch_size = 128 if device_type == "cuda" else 32
    if args.method == "caf" and args.task != "dimensional":
        raise UsageError(f"--method caf needs the dimensional task (valence/arousal labels), not {args.task}")
    if args.loss is None:
        args.loss = "focal" if args.task == "categorical" else "av" if args.method == "caf" else "mse"
    check_loss(args.loss, args.task)
    if args.loss in ("dacl", "center") or args.dacl_widths:
        if "dacl_widths" not in given:
            sources["dacl_widths"] = Setting(None, "DACL code (models/resnet.py)" if args.model.startswith("tv_")
                                             else "harness: scaled to the zoo's 128-channel map")
        args.dacl_widths = dacl_widths(args.model, args.dacl_widths)
    out = {}
    for key in RECIPE_KEYS:
        if (key in CAF_KEYS and args.method != "caf") or getattr(args, key) is None:
            continue  # a setting this run has no use for
        source = sources[key].source if key in sources else "given" if key in given else "bench.train default"
        out[key] = Setting(getattr(args, key), source)
    return out


def check_values(args: argparse.Namespace) -> None:
    """Settings no run can use together, refused before any work (each value's own range is its option's type,
    `NUMBERS`)."""
    if args.momentum is not None and args.optimizer != "sgd":
        raise UsageError("--momentum is a setting of --optimizer sgd")
    if args.adam_betas is not None and args.optimizer != "adam":
        raise UsageError("--adam-betas is a setting of --optimizer adam")
    if args.resize is not None and args.resize < args.image_size:
        raise UsageError(f"--resize {args.resize} is smaller than --image-size {args.image_size}: the crop would not "
                         "fit")
    if args.augment in ("dacl", "caf") and (args.resize or args.image_size) == args.image_size:
        raise UsageError(f"--augment {args.augment} crops --image-size out of larger faces: give --resize (256 in "
                         "the papers)")
    for option, default in (("caf_margin", "adaptive"), ("caf_reading", "code"), ("caf_adversary", "caf")):
        if args.method != "caf" and getattr(args, option) != default:
            raise UsageError(f"--{option.replace('_', '-')} is a setting of --method caf")


def number_problem(parse, value) -> str | None:
    """Why ``value`` (read back from a file) is not a number the option type ``parse`` takes, or None: the type
    reads the number written out, so '16' (text) and 16.0 are no image size, and nan no learning rate."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"must be a number, not {value!r}"
    try:
        parse(repr(value))
    except ValueError as exc:  # 'must be at least 1, got 0' or 'expected an integer, got ...'
        return str(exc).replace("expected ", "must be ", 1)
    return None


def config_problem(config) -> str | None:
    """What makes ``config`` (read back from a file: a checkpoint's) one `run_config` cannot have written, in a
    phrase naming the key; None if it could have. Each key is held to its option's kind, choices and range."""
    if not isinstance(config, dict):
        return f"its config is a {type(config).__name__}, not a dict"
    missing = [k for k in CONFIG_KEYS if k not in config]
    if missing:
        return f"its config lacks {', '.join(missing)}"
    actions = {a.dest: a for a in build_parser()._actions}
    for key, value in config.items():
        action = actions.get(key)
        optional = value is None and action is not None and action.default is None
        if optional:
            problem = None
        elif key in NUMBERS:
            problem = number_problem(NUMBERS[key], value)
        elif action is None or key in ("adam_betas", "dacl_widths"):  # tags are any text; pairs and triples:
            problem = None if isinstance(value, (str, list)) else "must be text or a list"  # checked where used
        elif action.nargs == 0:
            problem = None if isinstance(value, bool) else "must be true or false"
        elif action.choices is not None:
            problem = None if isinstance(value, str) and value in action.choices else \
                f"must be one of {', '.join(map(str, action.choices))}"
        elif key == "device":
            problem = None if value in ("cpu", "cuda") else "must be cpu or cuda"
        else:  # a name or a path
            problem = None if isinstance(value, str) else "must be text"
        if problem:
            return f"its config's {key} {problem}" + ("" if repr(value) in problem else f", not {value!r}")
    try:
        parse_spec(config["data"])
    except ValueError as exc:
        return f"its config's data: {exc}"
    return None


def run_config(args) -> dict:
    """Everything that changes what a run computes: its rows' identity in the results store."""
    config = {k: getattr(args, k) for k in CONFIG_KEYS}
    if args.recipe:  # a recipe run records every setting a recipe decides, so a rerun resolves the same config
        config.update({k: list(v) if isinstance(v, tuple) else v for k in RECIPE_KEYS
                       if ((v := getattr(args, k)) is not None or k in config)
                       and (k not in CAF_KEYS or args.method == "caf")})
    if args.data == "synth":
        config.update(synth_train=args.synth_train, synth_val=args.synth_val,
                      synth_balance=args.synth_balance, synth_nuisance=args.synth_nuisance)
    if args.loss in ("dacl", "center"):
        config["dacl_widths"] = list(args.dacl_widths)  # resolved: zoo runs keep the ids they had
    if args.optimizer == "sgd":  # absent for Adam, as before --optimizer existed
        config.update(optimizer="sgd", momentum=SGD_MOMENTUM if args.momentum is None else args.momentum)
    elif args.adam_betas is not None and tuple(args.adam_betas) != ADAM_BETAS:
        config["adam_betas"] = list(args.adam_betas)
    defaults = {"decay_on": "conv", "augment": "bregnext", "normalise": "bregnext", "holdout": 0.0, "resize": None,
                "init": None, "recipe": None, "max_steps": None}
    config.update({k: getattr(args, k) for k, default in defaults.items() if getattr(args, k, default) != default})
    if config.get("resize") == args.image_size:
        del config["resize"]
    if args.method != "plain":  # plain runs keep the keys (and run ids) they had before --method existed
        config.update(method=args.method, caf_margin=args.caf_margin, caf_reading=args.caf_reading,
                      caf_adversary=args.caf_adversary)
    config["device"] = args.device.partition(":")[0]  # the GPU's number changes nothing the run computes
    for key, value in args.tag:
        if key in config or key in ROW_KEYS:
            raise UsageError(f"--tag {key}=...: {key} is a setting of the run, not a label")
        config[key] = value
    return config
