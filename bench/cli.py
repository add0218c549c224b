"""What only `bench`'s entry points share: the one-line error and exit status around each `main`, and the
output options whose tables `reports` renders. The conventions `reports` shares too live in `harness.cli`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def run_main(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Call ``main``; turn the errors a user can cause into one line on stderr and a non-zero exit."""
    try:
        return main(argv) or 0
    except (ValueError, OSError, RuntimeError) as exc:  # OSError: missing files, read-only or full disks
        prog = _prog(main)
        print(f"{prog}: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: finished rows are kept in the results store; rerun to resume", file=sys.stderr)
        return 130


def _prog(main: Callable) -> str:
    """'bench.flops' for bench.flops's main, called in-process or as `python -m bench.flops` (where its module is
    __main__ and the script's path names it)."""
    module = main.__module__
    if module == "__main__" and sys.argv and sys.argv[0]:
        parts = Path(sys.argv[0]).with_suffix("").parts
        module = ".".join(parts[len(parts) - 1 - parts[::-1].index("bench"):]) if "bench" in parts else parts[-1]
    return module.removesuffix(".__main__")


def check_data(spec: str, given: str | None = None) -> None:
    """Fail in one line naming the option as the user ``given`` it (default '--data SPEC') unless the files of
    ``spec`` hold its data set: its labels read and checked as each cell's load reads them
    (`bench.data.index_dataset`, training split, no image decoded), so a sweep learns of a missing or malformed
    file before its first cell, not after that cell's other work."""
    from harness.cli import UsageError
    from harness.data_spec import parse_spec

    from .data import index_dataset

    if parse_spec(spec)[0] == "synth":  # generated in memory: no file to check
        return
    try:
        index_dataset(spec, "train")
    except (ValueError, OSError) as exc:  # DataError is a ValueError
        raise UsageError(f"{given or f'--data {spec}'}: "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def add_output_args(parser: argparse.ArgumentParser, command: str, table: str, rerun: str) -> None:
    """--format, --out, --results and --force, alike in every entry point: ``table`` is the reports module that
    renders Markdown/LaTeX, ``rerun`` what --force does again."""
    from reports.render import FORMATS

    parser.add_argument("--format", choices=FORMATS, default="markdown",
                        help=f"markdown/latex: the table of `{table}`; csv/json: the rows")
    parser.add_argument("--out", default="-", help="file for the output ('-' = stdout)")
    parser.add_argument("--results", default=f"results/{command}.jsonl",
                        help=f"results store the rows are appended to ('' = none: rows printed, not kept; default "
                             f"results/{command}.jsonl)")
    parser.add_argument("--force", action="store_true", help=rerun)
