"""`python -m bench.data`: decode a data set into the decoded cache ahead of training, or say what is cached.

`prepare` decodes; `info` says what is cached and where.

A training run, sweep cell or torchrun rank builds the cache itself when it is missing; `prepare` does it first
with a progress bar, so a job on a cluster does not spend its first hour decoding. The cache is keyed by the data
set's folder, split, image size and seed (Aff-Wild's and AFEW-VA's split depends on it): prepare with the values
the run will use (`bench.train`'s --image-size and --seed).
"""

from __future__ import annotations

import argparse
import sys

from harness.cli import choice_list, examples
from harness.data_spec import SOURCES, parse_spec

from ..cli import run_main
from . import index_dataset
from .cache import CACHE_ENV, cache_root, cache_status, describe, open_cache

SPLITS = ("train", "val", "test", "all")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.data", description=__doc__.split("\n\n")[0], **examples(
        "python -m bench.data prepare affectnet:data/affectnet --size 224 # train and val at 224x224",
        "python -m bench.data prepare affwild:data/affwild --size 64 --seed 1 --cache-dir /scratch/cache",
        "python -m bench.data info affectnet:data/affectnet --size 224 # what is cached, and where"))
    commands = p.add_subparsers(dest="command", required=True, metavar="{prepare,info}",
                                help="prepare: decode into the cache (reusing what is there); info: what is cached")
    for name, summary in (("prepare", "decode each split into the cache"), ("info", "what the cache holds")):
        sub = commands.add_parser(name, help=summary, description=summary)
        sub.add_argument("spec", metavar="SPEC",
                         help="the data set, as bench.train's --data: " + ", ".join(f"{s}:PATH" for s in SOURCES[1:]))
        sub.add_argument("--size", type=int, default=64,
                         help="image side in pixels, as bench.train's --image-size (default 64)")
        sub.add_argument("--split", type=choice_list(SPLITS), default=["train", "val"],
                         help=f"comma-separated splits among {', '.join(SPLITS)} (default train,val)")
        sub.add_argument("--seed", type=int, default=0,
                         help="as bench.train's --seed: Aff-Wild's and AFEW-VA's val split depends on it (default 0)")
        sub.add_argument("--cache-dir", default=None,
                         help=f"where the cache lives (default ${CACHE_ENV}, else ~/.cache/breg-harness)")
        if name == "prepare":
            sub.add_argument("--force", action="store_true", help="decode every image again, even if cached")
    return p


def _human(nbytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1000 or unit == "GB":
            return f"{nbytes:.1f} {unit}" if unit != "B" else f"{nbytes} B"
        nbytes /= 1000
    return ""  # unreachable


def _skipped(manifest: dict) -> str:
    skipped = {**manifest.get("rows_skipped", {}), **manifest["skipped"]}
    return ", ".join(f"{n} {why}" for why, n in skipped.items()) or "0"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    name, _ = parse_spec(args.spec)
    if name == "synth":
        raise ValueError("synth is generated in memory and has nothing to cache; give a file-backed set")
    if args.size < 1:
        raise ValueError(f"--size must be a positive number of pixels, got {args.size}")
    print(f"cache folder: {cache_root(args.cache_dir)}", file=sys.stderr)
    for split in args.split:
        index = index_dataset(args.spec, split, seed=args.seed)
        if args.command == "prepare":
            cache = open_cache(index, args.size, args.cache_dir, force=args.force)
            folder, manifest = cache.folder, cache.manifest
        else:
            folder, manifest, why = cache_status(index, args.size, args.cache_dir)
            if manifest is None:
                print(f"{describe(index, args.size)}: not cached ({why}); {len(index)} rows; {folder}")
                continue
        print(f"{describe(index, args.size)}: {manifest['count']} images, {_human(manifest['bytes'])}, skipped "
              f"{_skipped(manifest)}; {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
