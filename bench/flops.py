"""`python -m bench.flops`: parameters and FLOPs of the zoo, beside BReG-NeXt Tables 1 and 2.

With no arguments: the six Table 1 networks and the eight Table 2 depths at 64x64. Result rows go to
``reports`` for the table (and to a results store with ``--results``); this module formats nothing.
"""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from breg_models import BYPASS_FUNCTIONS, create_model, list_models, parse_bypass, resolve_names
from breg_models.specs import BREGNET_PAPER, TASKS, depth_to_k
from harness.cli import check_output_path, examples, int_list, write_output
from harness.results_store import ResultsStore, environment, make_row
from reports.complexity import render_complexity, render_stages

from .cli import add_output_args, run_main
from .complexity import count_flops, count_params

COMMAND = "flops"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.flops", description=__doc__.splitlines()[0], **examples(
        "python -m bench.flops # Tables 1 and 2, beside the published values",
        "python -m bench.flops --models bregnext50 --bypass atan --by-stage # one network, per stage",
        "python -m bench.flops --depths 26,32,38 --format latex --out tables/depth.tex"))
    p.add_argument("--models", nargs="+", metavar="NAME",
                   help=f"names or globs of {', '.join(list_models())}, or of DACL's and CAF's torchvision "
                        f"backbones, {', '.join(backbone_names())} (default: BReG-NeXt Tables 1-2's "
                        f"networks, {', '.join(table_models())})")
    p.add_argument("--depths", type=int_list, help="BReG-NeXt depths 6k+8, e.g. 26,32,38 (adds bregnext<D>)")
    p.add_argument("--input-size", type=int, default=64, help="square input side in pixels (default 64)")
    p.add_argument("--task", choices=TASKS, default="categorical",
                   help="head: the classes, or valence and arousal (default categorical)")
    p.add_argument("--num-classes", type=int, default=None, help="categorical head size (default 8)")
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


def measure(name: str, args: argparse.Namespace, store: ResultsStore | None = None) -> dict:
    """One result row: the model's parameter and FLOP counts under the chosen options; the stored row of the
    same config where ``store`` has one (counting is deterministic, so a rerun adds nothing)."""
    kind, params = parse_bypass(args.bypass) if args.bypass else (None, None)
    model = create_model(name, task=args.task, num_classes=args.num_classes, bypass=kind, bypass_params=params,
                         bypass_impl=args.bypass_impl)
    if args.by_stage and not hasattr(model, "stage_names"):
        raise ValueError(f"--by-stage splits Table 1's stages (stem, conv2..conv6), which {name} does not have: "
                         "count it without --by-stage")
    config = {"model": name, "input_size": args.input_size, "task": args.task, "num_classes": args.num_classes,
              "bypass": args.bypass or model.spec.bypass, "bypass_impl": args.bypass_impl,
              "by_stage": args.by_stage}
    if store is not None and (stored := store.done(COMMAND, config)):
        return stored
    metrics = {"title": model.spec.title, "depth": model.spec.depth, "units": model.spec.units,
               **count_params(model), **count_flops(model, args.input_size, by_stage=args.by_stage)}
    return make_row(COMMAND, config, metrics)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.input_size < 8:
        raise ValueError(f"--input-size must be at least 8 pixels, got {args.input_size}")
    check_output_path(args.results, "--results")
    check_output_path(args.out, "--out")
    names = model_names(args)
    store = ResultsStore(args.results) if args.results else None
    rows = []
    for name in tqdm(names, desc="counting", unit="model", disable=None, file=sys.stderr):
        row = measure(name, args, None if args.force else store)
        if store is not None and (args.force or not store.done(COMMAND, row["config"])):
            store.append(row)
        rows.append(row)
    env = environment()
    caption = (f"BReG-NeXt Tables 1-2, measured by this harness beside the published values "
               f"(input {args.input_size}x{args.input_size}x3, {args.task} head; torch {env['torch']}, "
               f"commit {env['git_commit'] or 'unknown'})")
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
