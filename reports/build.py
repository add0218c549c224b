"""`python -m reports`: every table the results store can fill, in Markdown and LaTeX (or CSV, JSON).

Reads the result rows (`results/**/*.jsonl` by default), keeps the newest row of each run id, and hands the
rows of each command to the tables that mirror it (one command may feed several). A command with no table yet
is listed, not dropped. The papers' result tables (BReG-NeXt 3-7, BReG-Net I-VII, DACL, CAF) are written as a
set once the store feeds one of them: where no row fills one, it holds the published values and names the
command that fills it.

Tables (and figures) go to `results/reports/` unless --out names another folder; each LaTeX file says in its
first lines which packages it needs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from harness.cli import UsageError, check_output_path, choice_list
from harness.results_store import ResultsStore

from .ablation import render_ablation
from .bregnet_tables import TABLES as BREGNET_TABLES
from .bregnext_tables import TABLES as BREGNEXT_TABLES
from .complexity import render_complexity
from .dacl_caf_tables import TABLES as DACL_CAF_TABLES
from .depth import render_depth_sweep
from .epoch_time import render_epoch_time
from .evaluation import render_evaluation
from .gradflow import render_gradflow
from .kernel import render_kernel
from .kernel_aot import render_kernel_aot
from .loader import render_loader
from .render import FORMATS, latex_file
from .train import render_train

# command -> every table its rows feed, in writing order: (file stem, renderer(rows, fmt, caption) -> text)
TABLES: dict[str, list[tuple[str, Callable[..., str]]]] = {
    "flops": [("bregnext_tables_1_2", render_complexity)],
    "depth_sweep": [("depth_sweep_table_2_fig_5", render_depth_sweep)],
    "ablation": [("ablation_tables_8_9", render_ablation)],
    "gradflow": [("gradient_flow", render_gradflow)],
    "kernel": [("kernel_benchmark", render_kernel)],
    "kernel_aot": [("kernel_aot", render_kernel_aot)],
    "epoch_time": [("epoch_time", render_epoch_time)],
    "loader": [("loader_benchmark", render_loader)],
    "train": [("training_runs", render_train)],
    "evaluate": [("evaluation", render_evaluation)],
}
# Stems of the paper tables (the table modules' TABLES): they render with no rows too, published values only.
PAPER_TABLES: set[str] = set()


def register(command: str, stem: str, renderer: Callable[..., str], *, paper: bool = False) -> None:
    """Let a report module claim its command's rows for a table (the same stem again replaces it). A ``paper``
    table is written even when its command has no rows: published values, and a note naming what fills it."""
    tables = TABLES.setdefault(command, [])
    stems = [s for s, _ in tables]
    if stem in stems:
        tables[stems.index(stem)] = (stem, renderer)
    else:
        tables.append((stem, renderer))
    if paper:
        PAPER_TABLES.add(stem)


for _command, _stem, _renderer in [*BREGNEXT_TABLES, *DACL_CAF_TABLES, *BREGNET_TABLES]:
    register(_command, _stem, _renderer, paper=True)


def load_rows(paths: list[Path]) -> dict[str, list[dict]]:
    """Rows by command, newest row per run id, in first-seen order."""
    latest: dict[str, dict] = {}
    for path in paths:
        for row in ResultsStore(path).rows():
            latest[row["run_id"]] = row
    by_command: dict[str, list[dict]] = {}
    for row in latest.values():
        by_command.setdefault(row["command"], []).append(row)
    return by_command


# What each measurement table (not a paper table, which titles itself) shows, as its heading says it.
TITLES = {"bregnext_tables_1_2": "BReG-NeXt Tables 1-2: parameters and FLOPs, measured beside published",
          "depth_sweep_table_2_fig_5": "BReG-NeXt Table 2 and Fig. 5: cost and accuracy against depth",
          "ablation_tables_8_9": "BReG-NeXt Tables 8-9: the bypass ablation over seeds",
          "gradient_flow": "Gradient flow against depth", "kernel_benchmark": "Fused bypass kernel: timings",
          "kernel_aot": "Fused bypass kernel: compiled code and its static gate",
          "epoch_time": "Training epoch time", "loader_benchmark": "Data loader: decoded cache and streaming",
          "training_runs": "Training runs, per epoch", "evaluation": "Evaluation of trained checkpoints"}


def caption(command: str, rows: list[dict]) -> str:
    """What a measured table says it came from: the devices, commits and data of its rows, and their budget
    where the rows state one."""
    devices = sorted({r["env"].get("device") or "unknown device" for r in rows})
    commits = sorted({r["env"].get("git_commit") or "unknown" for r in rows})
    data = sorted({str(r["config"]["data"]) for r in rows if "data" in r["config"]})
    budgets = sorted({_budget(r["config"]["budget"]) for r in rows if r["config"].get("budget") is not None})
    on = f"; data {', '.join(data)}" if data else ""
    budget = f"; budget {', '.join(budgets)}" if budgets else ""
    return f"{command}: measured on {', '.join(devices)}; commit {', '.join(commits)}{on}{budget}"


def _budget(budget: object) -> str:
    if isinstance(budget, dict):
        return " ".join(f"{k}={v}" for k, v in budget.items())
    return str(budget)


DEFAULT_OUT = Path("results/reports")
DEFAULT_FORMATS = ("markdown", "latex")
SUFFIX = {"markdown": "md", "latex": "tex", "csv": "csv", "json": "json"}


def check_output_dir(path: Path, option: str = "--out") -> None:
    """Fail before any work, in one line, unless ``path`` is (or can become) a writable folder."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path}: is a file, not a folder")
    parent = path
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: not writable")


def _jobs(by_command: dict[str, list[dict]], every_paper_table: bool = False
          ) -> list[tuple[str, list[dict], Callable[..., str], str]]:
    """(command, rows, renderer, stem) of every table to write. A command's rows feed each of its tables; once
    the store feeds a paper table or holds a reproduction's rows (config "paper"), or ``every_paper_table`` asks
    for them (the book), every paper table is written, those whose command has no rows with published values
    only."""
    jobs = []
    for command, rows in by_command.items():
        if command not in TABLES:
            print(f"reports: no table renders '{command}' rows yet ({len(rows)} rows kept in the store)",
                  file=sys.stderr)
            continue
        jobs += [(command, rows, renderer, stem) for stem, renderer in TABLES[command]]
    papers = every_paper_table or any(stem in PAPER_TABLES for *_, stem in jobs) or any(
        "paper" in row["config"] for rows in by_command.values() for row in rows)
    if papers:
        jobs += [(command, [], renderer, stem) for command, tables in TABLES.items()
                 if command not in by_command for stem, renderer in tables if stem in PAPER_TABLES]
    return jobs


def build(paths: list[Path], out_dir: Path, formats: tuple[str, ...] = DEFAULT_FORMATS,
          every_paper_table: bool = False) -> list[Path]:
    """Write each table in each of ``formats`` to ``out_dir``; the paths written. Every output path is checked
    before the first file is written. A paper table captions itself from the rows it uses (one command's rows
    feed several of them); the others get the provenance of their command's rows."""
    unknown = [f for f in formats if f not in SUFFIX]
    if unknown:
        raise UsageError(f"unknown format {unknown[0]!r}; choose from: {', '.join(FORMATS)}")
    check_output_dir(out_dir)
    jobs = [(command, rows, renderer, fmt, out_dir / f"{stem}.{SUFFIX[fmt]}")
            for command, rows, renderer, stem in _jobs(load_rows(paths), every_paper_table) for fmt in formats]
    for *_, path in jobs:
        check_output_path(path, "--out")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for command, rows, renderer, fmt, path in jobs:
        text = renderer(rows, fmt, caption="" if path.stem in PAPER_TABLES else
                        f"{TITLES.get(path.stem, command)}; {caption(command, rows)}")
        path.write_text(latex_file(text, path.stem) if fmt == "latex" else text)
        written.append(path)
    return written


def build_figures(paths: list[Path], out_dir: Path) -> list[Path]:
    """Fig. 3 always (it needs no results); the others where the store holds their rows. PNG and PDF."""
    from . import figure_data, figures

    check_output_dir(out_dir)
    rows = load_rows(paths)
    written = figures.bypass_functions(out_dir)
    if "depth_sweep" in rows:
        written += figures.complexity_curves(figure_data.depth_cost(rows["depth_sweep"]), out_dir)
        results = figure_data.depth_results(rows["depth_sweep"])
        if (results["source"] == "measured").any():
            written += figures.depth_curves(results, out_dir)
    if "gradflow" in rows and not (ratios := figure_data.gradient_ratios(rows["gradflow"])).empty:
        written += figures.gradient_norms(ratios, out_dir)
    if "kernel" in rows:
        written += figures.kernel_bandwidth(figure_data.kernel_bandwidths(rows["kernel"]), out_dir)
    if not (cells := figure_data.confusion_cells(rows.get("evaluate", []))).empty:
        written += figures.confusion_matrices(cells, out_dir)
    if not (errors := figure_data.error_counts(rows.get("evaluate", []))).empty:
        written += figures.error_histograms(errors, out_dir)
    if not (curves := figure_data.training_curves(rows.get("train", []))).empty:
        written += figures.loss_curves(curves, out_dir)
    return written


EXAMPLES = """examples:
  python -m reports                                      # every table as Markdown and LaTeX in results/reports/
  python -m reports results/nvidia-h100/*.jsonl --format latex --out paper/tables   # one device's, LaTeX only
  python -m reports --format csv,json --figures          # the rows as CSV and JSON, and the figures
  python -m reports --book report/                       # one PDF: every paper's tables and figures, provenance
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m reports", description=__doc__.split("\n\n")[0],
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="*", help="result stores (default: every results/**/*.jsonl, device folders too)")
    p.add_argument("--format", action="append", type=choice_list(FORMATS), metavar="FMT[,FMT...]",
                   help=f"one or more of {', '.join(FORMATS)}, comma-separated or repeated "
                        f"(default {','.join(DEFAULT_FORMATS)})")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help=f"folder the tables and figures go to (default {DEFAULT_OUT}/, git-ignored)")
    p.add_argument("--out-dir", type=Path, default=None, help=argparse.SUPPRESS)  # deprecated name of --out
    p.add_argument("--figures", action="store_true", help="also draw the figures (needs the 'plots' extra)")
    p.add_argument("--book", type=Path, default=None, metavar="DIR",
                   help="write the report book to DIR: book.pdf (contents, every table and figure of the four "
                        "papers, their provenance) and its parts; pdflatex where installed, else matplotlib")
    args = p.parse_args(argv)
    if args.out_dir is not None:
        if args.out is not None:
            p.error("--out-dir is the old name of --out: give one of them")
        print("reports: --out-dir is deprecated; use --out", file=sys.stderr)
        args.out = args.out_dir
    args.out = args.out or DEFAULT_OUT
    args.format = tuple(dict.fromkeys(f for given in args.format or [DEFAULT_FORMATS] for f in given))
    return args


def run(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.book is not None:
        from .book import build_book

        check_output_dir(args.book, "--book")
        paths = [Path(r) for r in args.results] or sorted(Path("results").rglob("*.jsonl"))
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise UsageError(f"no results store at {missing[0]}")
        print(build_book(paths, args.book))
        return 0
    check_output_dir(args.out)
    paths = [Path(r) for r in args.results] or sorted(Path("results").rglob("*.jsonl"))
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"no results store at {missing[0]}")
    if not paths:
        raise UsageError("no results stores under results/; run a bench entry point first")
    written = build(paths, args.out, args.format)
    if args.figures:
        written += build_figures(paths, args.out)
    for path in written:
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`run` with a user's errors (a path, a format, a missing extra) as one line on stderr and exit status 1."""
    try:
        return run(argv)
    except (ValueError, OSError, ImportError) as exc:  # UsageError is a ValueError
        print(f"reports: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 1
