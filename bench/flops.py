"""`python -m bench.flops`: parameters and FLOPs of the zoo, beside BReG-NeXt Tables 1 and 2.

With no arguments: the six Table 1 networks and the eight Table 2 depths at 64x64. Result rows go to
``reports`` for the table (and to a results store with ``--results``); this module formats nothing.
"""

from __future__ import annotations

import argparse
import os
import sys

from breg_models import BYPASS_FUNCTIONS, create_model, get_spec, list_models, parse_bypass, resolve_names
from breg_models.specs import BREGNET_PAPER, TASKS, depth_to_k
from harness.cli import (
    ArgumentParser,
    UsageError,
    check_output_path,
    examples,
    int_at_least,
    int_list_of,
    open_store,
    positive_int,
    write_output,
)
from harness.results_store import environment, make_row, run_id
from reports.complexity import render_complexity, render_stages

from .cli import add_output_args, run_main
from .complexity import count_flops, count_params

COMMAND = "flops"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = ArgumentParser(prog="python -m bench.flops", description=__doc__.splitlines()[0], **examples(
        "python -m bench.flops # Tables 1 and 2, beside the published values",
        "python -m bench.flops --models bregnext50 --bypass atan --by-stage # one network, per stage",
        "python -m bench.flops --depths 26,32,38 --format latex --out tables/depth.tex"))
    p.add_argument("--models", nargs="+", metavar="NAME",
                   help=f"names or globs of {', '.join(list_models())}, or of DACL's and CAF's torchvision "
                        f"backbones, {', '.join(backbone_names())} (default: BReG-NeXt Tables 1-2's "
                        f"networks, {', '.join(table_models())})")
    p.add_argument("--depths", type=int_list_of(positive_int),
                   help="BReG-NeXt depths 6k+8, e.g. 26,32,38 (adds bregnext<D>)")
    p.add_argument("--input-size", type=int_at_least(8), default=64,
                   help="square input side in pixels, at least 8 (default 64)")
    p.add_argument("--task", choices=TASKS, default="categorical",
                   help="head: the classes, or valence and arousal (default categorical)")
    p.add_argument("--num-classes", type=int_at_least(2), default=None, help="categorical head size (default 8)")
    p.add_argument("--bypass", default=None, metavar="KIND[:p=v,...]",
                   help=f"replace every unit's bypass, e.g. atan or scaled:lam=0.9 (kinds: "
                        f"{', '.join(BYPASS_FUNCTIONS)})")
    p.add_argument("--bypass-impl", default="eager", choices=("eager", "compile", "triton"),
                   help="count through this bypass implementation (totals are the same by construction)")
    p.add_argument("--by-stage", action="store_true", help="add a per-stage breakdown (stem, conv2..conv6, head)")
    add_output_args(p, COMMAND, "reports.complexity", "count models whose rows are already in the store again")
    return p.parse_args(argv)


def table_models() -> list[str]:
    """The networks BReG-NeXt Tables 1-2 print (BReG-Net's own two have their table in reports.bregnet_tables)."""
    return [n for n in list_models() if n not in BREGNET_PAPER]


def backbone_names() -> list[str]:
    return [n for n in list_models(backbones=True) if n not in list_models()]


def model_names(args: argparse.Namespace) -> list[str]:
    if not args.models and not args.depths:
        return table_models()
    names = resolve_names(args.models or [])
    for depth in args.depths or []:
        depth_to_k(depth)
        if f"bregnext{depth}" not in names:
            names.append(f"bregnext{depth}")
    return names


def config_of(name: str, args: argparse.Namespace) -> dict:
    """The config of ``name``'s row under the chosen options: what finds it in the store, built without the model."""
    return {"model": name, "input_size": args.input_size, "task": args.task, "num_classes": args.num_classes,
            "bypass": args.bypass or get_spec(name).bypass, "bypass_impl": args.bypass_impl,
            "by_stage": args.by_stage}


def check_options(names: list[str], args: argparse.Namespace) -> None:
    """What would fail a model's count, refused in one line before the first is counted."""
    if args.bypass:
        parse_bypass(args.bypass)
    if args.bypass_impl == "compile":
        raise UsageError("--bypass-impl compile: fvcore counts through a torch.jit trace, which cannot trace a "
                         "torch.compile'd bypass; count with eager (the totals are the same by construction)")
    if args.bypass_impl == "triton" and os.environ.get("TRITON_INTERPRET") != "1":
        raise UsageError("--bypass-impl triton: counting runs the Triton kernels on the CPU, which needs "
                         "TRITON_INTERPRET=1 (the totals are the same as eager's by construction)")
    if args.by_stage:
        for name in names:
            if not hasattr(get_spec(name), "stages"):
                raise UsageError(f"--by-stage splits Table 1's stages (stem, conv2..conv6), which {name} does not "
                                 "have: count it without --by-stage")


def measure(name: str, args: argparse.Namespace) -> dict:
    """One result row: the model's parameter and FLOP counts under the chosen options."""
    kind, params = parse_bypass(args.bypass) if args.bypass else (None, None)
    model = create_model(name, task=args.task, num_classes=args.num_classes, bypass=kind, bypass_params=params,
                         bypass_impl=args.bypass_impl)
    metrics = {"title": model.spec.title, "depth": model.spec.depth, "units": model.spec.units,
               **count_params(model), **count_flops(model, args.input_size, by_stage=args.by_stage)}
    return make_row(COMMAND, config_of(name, args), metrics)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_output_path(args.out, "--out")
    names = model_names(args)
    check_options(names, args)
    store = open_store(args.results)
    configs = {name: config_of(name, args) for name in names}
    # Counting is deterministic: a model whose row is stored is read back, not counted again (unless --force).
    stored = {} if store is None or args.force else {row["run_id"]: row for row in store.rows(COMMAND)}
    rows = {name: stored.get(run_id(COMMAND, config)) for name, config in configs.items()}
    todo = [name for name, row in rows.items() if row is None]
    if todo and store is not None:  # a read-only store serves its rows; it is an error only when one must be added
        check_output_path(store.path, "--results")
    for i, name in enumerate(todo, 1):
        print(f"flops: {name} ({i}/{len(todo)})", file=sys.stderr)  # a line each, terminal or log
        rows[name] = measure(name, args)
        if store is not None:
            store.append(rows[name])
    rows = list(rows.values())
    env = environment()
    caption = ("Parameters and FLOPs measured by this harness, beside BReG-NeXt Tables 1-2 and CAF Table 1; "
               f"input {args.input_size}x{args.input_size}x3, {args.task} head, torch {env['torch']}, "
               f"commit {env['git_commit'] or 'unknown'}")
    if args.by_stage and args.format in ("csv", "json"):  # one machine-readable table per output
        text = render_stages(rows, args.format)
    else:
        text = render_complexity(rows, args.format, caption=caption)
        if args.by_stage:
            text += "\n" + render_stages(rows, args.format)
    write_output(text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
