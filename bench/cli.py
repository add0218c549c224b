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
        prog = _prog()
        print(f"{prog}: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: finished rows are kept in the results store; rerun to resume", file=sys.stderr)
        return 130


def _prog() -> str:
    """'bench.flops' for `python -m bench.flops`, the script's name otherwise."""
    path = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("bench")
    return f"{path.parent.name}.{path.stem}" if path.parent.name == "bench" else path.stem


def add_output_args(parser: argparse.ArgumentParser, command: str, table: str, rerun: str) -> None:
    """--format, --out, --results and --force, alike in every entry point: ``table`` is the reports module that
    renders Markdown/LaTeX, ``rerun`` what --force does again."""
    from reports.render import FORMATS

    parser.add_argument("--format", choices=FORMATS, default="markdown",
                        help=f"markdown/latex: the table of `{table}`; csv/json: the rows")
    parser.add_argument("--out", default="-", help="file for the output ('-' = stdout)")
    parser.add_argument("--results", default=f"results/{command}.jsonl",
                        help=f"results store the rows are appended to ('' = none; default results/{command}.jsonl)")
    parser.add_argument("--force", action="store_true", help=rerun)
