"""`python -m reports`: every table the results store can fill, in Markdown and LaTeX.

Reads the result rows (`results/*.jsonl` by default), keeps the newest row of each run id, and hands the
rows of each command to the table that mirrors it. A command with no table yet is listed, not dropped.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from bench.results import ResultsStore

from .ablation import render_ablation
from .complexity import render_complexity
from .depth import render_depth_sweep
from .epoch_time import render_epoch_time
from .gradflow import render_gradflow
from .kernel import render_kernel
from .kernel_aot import render_kernel_aot
from .train import render_train

# command -> (file stem, renderer(rows, fmt, caption) -> text)
TABLES: dict[str, tuple[str, Callable[..., str]]] = {
    "flops": ("bregnext_tables_1_2", render_complexity),
    "depth_sweep": ("depth_sweep_table_2_fig_5", render_depth_sweep),
    "ablation": ("ablation_tables_8_9", render_ablation),
    "gradflow": ("gradient_flow", render_gradflow),
    "kernel": ("kernel_benchmark", render_kernel),
    "kernel_aot": ("kernel_aot", render_kernel_aot),
    "epoch_time": ("epoch_time", render_epoch_time),
    "train": ("training_runs", render_train),
}


def register(command: str, stem: str, renderer: Callable[..., str]) -> None:
    """Let an entry point's report module claim its command's rows."""
    TABLES[command] = (stem, renderer)


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


def caption(command: str, rows: list[dict]) -> str:
    """What a measured table says it came from: the devices, commits and data of its rows."""
    devices = sorted({r["env"].get("device") or "unknown device" for r in rows})
    commits = sorted({r["env"].get("git_commit") or "unknown" for r in rows})
    data = sorted({str(r["config"]["data"]) for r in rows if "data" in r["config"]})
    on = f"; data {', '.join(data)}" if data else ""
    return f"{command}: measured on {', '.join(devices)}; commit {', '.join(commits)}{on}"


def build(paths: list[Path], out_dir: Path, formats: tuple[str, ...] = ("markdown", "latex")) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for command, rows in load_rows(paths).items():
        if command not in TABLES:
            print(f"reports: no table renders '{command}' rows yet ({len(rows)} rows kept in the store)",
                  file=sys.stderr)
            continue
        stem, renderer = TABLES[command]
        for fmt in formats:
            path = out_dir / f"{stem}.{'md' if fmt == 'markdown' else 'tex'}"
            path.write_text(renderer(rows, fmt, caption=caption(command, rows)))
            written.append(path)
    return written


def build_figures(paths: list[Path], out_dir: Path) -> list[Path]:
    """Fig. 3 always (it needs no results); the others where the store holds their rows. PNG and PDF."""
    from . import figure_data, figures

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
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m reports", description=__doc__.splitlines()[0])
    p.add_argument("results", nargs="*", help="result stores (default: every results/**/*.jsonl, device folders too)")
    p.add_argument("--out-dir", default="reports/out", help="where the tables go (default reports/out)")
    p.add_argument("--figures", action="store_true", help="also draw the figures (needs the 'plots' extra)")
    args = p.parse_args(argv)
    paths = [Path(r) for r in args.results] or sorted(Path("results").rglob("*.jsonl"))
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"reports: error: no results store at {missing[0]}", file=sys.stderr)
        return 1
    if not paths:
        print("reports: error: no results stores under results/; run a bench entry point first", file=sys.stderr)
        return 1
    try:
        written = build(paths, Path(args.out_dir))
        if args.figures:
            written += build_figures(paths, Path(args.out_dir))
    except (ValueError, ImportError) as exc:
        print(f"reports: error: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0
