"""`python -m reports`: every table the results store can fill, in Markdown and LaTeX (or CSV, JSON).

Reads the result rows (`results/**/*.jsonl` by default), keeps the newest row of each run id, and hands the
rows of each command to the tables that mirror it (one command may feed several). A command with no table yet
is listed, not dropped. The papers' result tables (BReG-NeXt 3-7, BReG-Net I-VII, DACL, CAF) are written as a
set once the store feeds one of them: where no row fills one, it holds the published values and names the
command that fills it.

Tables (and figures) go to `results/reports/`, a file per table and format, unless --out-dir names another
folder; --out FILE (or - for stdout) holds the tables the rows fill in one format, as every entry point's --out.
Each LaTeX file says in its first lines which packages it needs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from harness.cli import ArgumentParser, UsageError, check_output_path, choice_list, write_output
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
# BReG-NeXt's cost and ablation tables: their published values show before bench.flops / depth_sweep / ablation run.
PAPER_TABLES.update({"bregnext_tables_1_2", "depth_sweep_table_2_fig_5", "ablation_tables_8_9"})


def load_rows(paths: list[Path]) -> dict[str, list[dict]]:
    """Rows by command, newest row per run id, in first-seen order."""
    return _load(paths)[0]


def _load(paths: list[Path]) -> tuple[dict[str, list[dict]], dict[int, str]]:
    """`load_rows`, and where each row is ('STORE:LINE', by the row's id()) to name a row no table can show."""
    latest: dict[str, dict] = {}
    where: dict[int, str] = {}
    for path in paths:
        for lineno, row in ResultsStore(path).numbered_rows():
            latest[row["run_id"]] = row
            where[id(row)] = f"{path}:{lineno}"
    by_command: dict[str, list[dict]] = {}
    for row in latest.values():
        by_command.setdefault(row["command"], []).append(row)
    return by_command, where


# What each measurement table (not a paper table, which titles itself) shows, as its heading says it.
TITLES = {"gradient_flow": "Gradient flow against depth", "kernel_benchmark": "Fused bypass kernel: timings",
          "kernel_aot": "Fused bypass kernel: compiled code and its static gate",
          "epoch_time": "Training epoch time", "loader_benchmark": "Data loader: decoded cache and streaming",
          "training_runs": "Training runs, per epoch", "evaluation": "Evaluation of trained checkpoints"}


def caption(command: str, rows: list[dict]) -> str:
    """What a measured table says it came from: the devices, commits and data of its rows, and their budget
    where the rows state one."""
    devices = sorted({r.get("env", {}).get("device") or "unknown device" for r in rows})
    commits = sorted({r.get("env", {}).get("git_commit") or "unknown" for r in rows})
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


def check_output_dir(path: Path, option: str = "--out-dir") -> None:
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
    """Write each table in each of ``formats`` to ``out_dir``; the paths written. Every table is rendered and
    every output path checked before the first file is written, so a failure leaves no partial report. A paper
    table captions itself from the rows it uses (one command's rows feed several of them); the others get the
    provenance of their command's rows. A row a table cannot show (another command's, keys missing, a null where
    a number goes) is left out of it with a one-line warning naming the store and line."""
    check_output_dir(out_dir, "--out-dir")
    texts = {out_dir / f"{stem}.{SUFFIX[fmt]}": text
             for stem, fmt, text in render_tables(paths, formats, every_paper_table)}
    for path in texts:
        check_output_path(path, "--out-dir")
    out_dir.mkdir(parents=True, exist_ok=True)
    for path, text in texts.items():
        path.write_text(latex_file(text, path.stem) if path.suffix == ".tex" else text)
    return list(texts)


def render_tables(paths: list[Path], formats: tuple[str, ...], every_paper_table: bool = False,
                  measured_only: bool = False) -> list[tuple[str, str, str]]:
    """(stem, format, text) of every table the stores at ``paths`` fill, warnings for left-out rows printed;
    ``measured_only`` drops the paper tables no row fills (published values only), which only a folder of every
    table wants. Nothing is written here, so a caller can check its outputs against the whole result."""
    unknown = [f for f in formats if f not in SUFFIX]
    if unknown:
        raise UsageError(f"unknown format {unknown[0]!r}; choose from: {', '.join(FORMATS)}")
    by_command, where = _load(paths)
    texts: list[tuple[str, str, str]] = []
    warnings = []
    jobs = [job for job in _jobs(by_command, every_paper_table) if job[1] or not measured_only]
    for command, rows, renderer, stem in jobs:
        rendered, warning = _render(command, stem, rows, renderer, formats, where)
        texts += [(stem, fmt, text) for fmt, text in rendered.items()]
        warnings += [warning] if warning else []
    if jobs and not texts:  # every row left out: the first says why, and nothing is written
        raise UsageError(f"{warnings[0]}; nothing written")
    for warning in warnings:
        print(f"reports: warning: {warning}; left out", file=sys.stderr)
    return texts


def render_one(paths: list[Path], fmt: str, out: str) -> str:
    """Every table the rows fill, in ``fmt``, as the one text ``--out FILE`` holds: Markdown tables one after
    another, LaTeX as one file with one header; CSV and JSON hold one table each, so rows that fill several are
    refused in one line (``--out-dir`` writes a file per table). Paper tables no row fills are left out."""
    texts = render_tables(paths, (fmt,), measured_only=True)
    if not texts:
        raise UsageError("no table renders the rows of these stores; nothing written")
    if fmt in ("csv", "json") and len(texts) > 1:
        raise UsageError(f"--out {out} --format {fmt}: these rows fill {len(texts)} tables "
                         f"({', '.join(stem for stem, _, _ in texts)}) and a {fmt} file holds one; use --out-dir "
                         "DIR for a file per table")
    text = "\n\n".join(text.rstrip("\n") for _, _, text in texts) + "\n"
    return latex_file(text, Path(out).stem if out != "-" else "tables") if fmt == "latex" else text


def _render(command: str, stem: str, rows: list[dict], renderer: Callable[..., str], formats: tuple[str, ...],
            where: dict[int, str]) -> tuple[dict[str, str], str | None]:
    """Table ``stem`` of ``rows`` in each format ({} where no row is left to show), and a warning naming the
    rows it left out. Those are looked for only once rendering fails: each row that fails alone and beside the
    others is left out; rows that still fail together end in one line naming their stores."""
    def attempt(subset: list[dict]) -> tuple[dict[str, str] | None, str | None]:
        """(the texts, None), or (None, what went wrong)."""
        cap = "" if stem in PAPER_TABLES else f"{TITLES.get(stem, command)}; {caption(command, subset)}"
        try:
            return {fmt: renderer(subset, fmt, caption=cap) for fmt in formats}, None
        except Exception as exc:  # a renderer meets rows it was not written for: any error says so
            return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")

    texts, _ = attempt(rows)
    if texts is not None:
        return texts, None
    alone = [(row, attempt([row])[1]) for row in rows]
    kept = [row for row, error in alone if error is None]
    # a row that fails alone may need the others (a reference, a baseline): kept where it renders beside them
    bad = [(row, error) for row, error in alone
           if error is not None and (not kept or attempt([*kept, row])[1] is not None)]
    kept = [row for row in rows if all(row is not b for b, _ in bad)]
    if not kept and stem not in PAPER_TABLES:  # nothing left to show (a paper table still shows the published)
        texts, error = {}, None
    else:
        texts, error = attempt(kept)
    if error is not None:
        stores = sorted({where.get(id(r), "?").rpartition(":")[0] for r in rows})
        raise UsageError(f"{', '.join(stores)}: the {command} rows cannot make table {stem} ({error})")
    first, error = bad[0]
    more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
    return texts, (f"{where.get(id(first), command)}{more}: table {stem} cannot show this {command} row "
                   f"({error})")


def build_figures(paths: list[Path], out_dir: Path) -> list[Path]:
    """Fig. 3 always (it needs no results); the others where the store holds their rows. PNG and PDF. A figure
    whose rows cannot be drawn (rows of the wrong kind) is skipped with a one-line warning; the others are drawn."""
    from . import figure_data, figures

    check_output_dir(out_dir, "--out-dir")
    rows = load_rows(paths)
    depth, gradflow, kernel = rows.get("depth_sweep"), rows.get("gradflow"), rows.get("kernel")
    evaluate, train = rows.get("evaluate", []), rows.get("train", [])

    def depth_curves(out: Path) -> list[Path]:
        results = figure_data.depth_results(depth)
        return figures.depth_curves(results, out) if (results["source"] == "measured").any() else []

    def unless_empty(data, draw) -> Callable[[Path], list[Path]]:
        return lambda out: [] if (frame := data()).empty else draw(frame, out)

    drawn = [("bypass functions", True, figures.bypass_functions),
             ("complexity curves", depth, lambda out: figures.complexity_curves(figure_data.depth_cost(depth), out)),
             ("depth curves", depth, depth_curves),
             ("gradient norms", gradflow, unless_empty(lambda: figure_data.gradient_ratios(gradflow),
                                                       figures.gradient_norms)),
             ("kernel bandwidth", kernel, lambda out: figures.kernel_bandwidth(figure_data.kernel_bandwidths(kernel),
                                                                               out)),
             ("confusion matrices", True, unless_empty(lambda: figure_data.confusion_cells(evaluate),
                                                       figures.confusion_matrices)),
             ("error histograms", True, unless_empty(lambda: figure_data.error_counts(evaluate),
                                                     figures.error_histograms)),
             ("loss curves", True, unless_empty(lambda: figure_data.training_curves(train), figures.loss_curves))]
    written = []
    for name, wanted, draw in drawn:
        if not wanted:
            continue
        try:
            written += draw(out_dir)
        except ImportError:
            raise
        except Exception as exc:  # rows a figure was not written for: say which figure, draw the others
            print(f"reports: warning: figure '{name}' skipped: its rows cannot be drawn ({type(exc).__name__}: "
                  f"{str(exc).splitlines()[0] if str(exc) else ''})", file=sys.stderr)
    return written


EXAMPLES = """examples:
  python -m reports --figures                            # every table (Markdown, LaTeX) and figure in results/reports/
  python -m reports results/flops.jsonl --out -          # the tables these rows fill, Markdown, on stdout
  python -m reports results/h100/*.jsonl --format latex --out tables.tex   # one device's tables in one file
  python -m reports --book report/                       # one PDF: every paper's tables and figures, provenance
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = ArgumentParser(prog="python -m reports", description=__doc__.split("\n\n")[0],
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="*", help="result stores (default: every results/**/*.jsonl, device folders too)")
    p.add_argument("--format", action="append", type=choice_list(FORMATS), metavar="FMT[,FMT...]",
                   help=f"one or more of {', '.join(FORMATS)}, comma-separated or repeated: --out-dir writes a file "
                        f"per table and format (default {','.join(DEFAULT_FORMATS)}); --out takes one (default "
                        "markdown)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="one file for the tables the rows fill, in one --format ('-' = stdout), as every entry "
                        "point's --out; paper tables that no row fills are written only by --out-dir")
    p.add_argument("--out-dir", type=Path, default=None, metavar="DIR",
                   help=f"folder of a file per table and format, and the figures (default {DEFAULT_OUT}/, "
                        "git-ignored)")
    p.add_argument("--figures", action="store_true", help="also draw the figures, into --out-dir (needs the 'plots' "
                                                          "extra)")
    p.add_argument("--book", type=Path, default=None, metavar="DIR",
                   help="write the report book to DIR: book.pdf (contents, every table and figure of the four "
                        "papers, their provenance) and its parts; pdflatex where installed, else matplotlib")
    args = p.parse_args(argv)
    formats = tuple(dict.fromkeys(f for given in args.format or [] for f in given))
    if args.out is not None:
        check_out_file(args.out)
        if args.out_dir is not None and not args.figures:
            p.error("--out FILE and --out-dir DIR both name where the tables go: give one (--out-dir with --out "
                    "only holds the --figures)")
        if len(formats) > 1:
            p.error(f"--out {args.out} holds one format, got {','.join(formats)}: give one --format, or --out-dir "
                    "DIR for a file per table and format")
        formats = formats or ("markdown",)
    args.format = formats or DEFAULT_FORMATS
    args.out_dir = args.out_dir or DEFAULT_OUT
    return args


def check_out_file(out: str) -> None:
    """--out names one file, as in every entry point; a folder (the old meaning of reports' --out) is refused in
    one line that names --out-dir, so an old command fails instead of writing a stray file."""
    if out == "-":
        return
    path = Path(out)
    what = ("is a folder" if path.is_dir() or out.endswith(("/", os.sep)) else
            "has no suffix, as a folder" if not path.exists() and not path.suffix else None)
    if what:
        raise UsageError(f"--out {out}: {what}; --out is one file (e.g. tables.md), --out-dir DIR a folder of a "
                         "file per table")
    check_output_path(out, "--out")


def run(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    paths = [Path(r) for r in args.results] or sorted(Path("results").rglob("*.jsonl"))
    if args.book is not None:
        from .book import build_book

        check_output_dir(args.book, "--book")
        _check_stores(paths, required=False)
        print(build_book(paths, args.book))
        return 0
    if args.out is None or args.figures:
        check_output_dir(args.out_dir, "--out-dir")
    _check_stores(paths)
    written = []
    if args.out is not None:
        write_output(render_one(paths, args.format[0], args.out), args.out)
    else:
        written = build(paths, args.out_dir, args.format)
    if args.figures:
        written += build_figures(paths, args.out_dir)
    for path in written:  # stdout is the tables' own where --out is '-'
        print(path, file=sys.stderr if args.out == "-" else sys.stdout)
    return 0


def _check_stores(paths: list[Path], required: bool = True) -> None:
    """Every store named exists (a typo is one line, not an empty report); ``required``: at least one."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"no results store at {missing[0]}")
    if required and not paths:
        raise UsageError("no results stores under results/; run a bench entry point first")


def main(argv: list[str] | None = None) -> int:
    """`run` with a user's errors (a path, a format, a missing extra) as one line on stderr and exit status 1."""
    try:
        return run(argv)
    except (ValueError, OSError, ImportError) as exc:  # UsageError is a ValueError
        print(f"reports: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 1
