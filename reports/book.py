"""`python -m reports --book DIR`: one PDF a researcher attaches to a reproduction report.

The book holds every table of the four papers (published values where no run fills one), the harness's own
measurement tables where the store has rows, and every figure the rows can draw, grouped by paper, after a
contents page and a page saying where the numbers come from (stores, commits, devices, budgets, data). Each
table and figure carries its own provenance in its heading or caption. Its parts stay beside it: `tables/`
(LaTeX and Markdown), `figures/` (PDF and PNG), `book.tex` and `book.md`.

pdflatex compiles the book where it is installed; without it matplotlib's PDF backend writes the same contents,
tables as text pages, figures as images.
"""

from __future__ import annotations

import datetime
import shutil
import subprocess
import sys
from pathlib import Path

from harness.cli import UsageError

from .render import latex_escape, latex_packages

# Section of the book for a table or figure file stem: the paper a word of its name names, else the paper whose
# tables and figures start with one of its prefixes; the rest are the harness's own measurements.
PAPER_WORDS = {"bregnet": "BReG-Net", "dacl": "DACL", "caf": "CAF"}
SECTIONS = (("BReG-NeXt", ("bregnext", "depth_sweep", "ablation", "fig3", "fig5", "fig6_confusion", "fig9",
                           "complexity", "gradient", "loss_curves")),
            ("BReG-Net", ()), ("DACL", ()), ("CAF", ()))
HARNESS = "Measurements of this harness"
# The LaTeX document around the parts: 7 in text block, as the tables are checked against.
PREAMBLE = ("\\documentclass[10pt]{article}\n\\usepackage[textwidth=7in,textheight=9.4in]{geometry}\n"
            "\\usepackage{booktabs}\n\\usepackage{graphicx}\n\\usepackage{longtable}\n"
            "\\setcounter{tocdepth}{1}\n")


def section_of(stem: str) -> str:
    for word in stem.split("_"):
        if word in PAPER_WORDS:
            return PAPER_WORDS[word]
    for title, prefixes in SECTIONS:
        if prefixes and stem.startswith(prefixes):
            return title
    return HARNESS


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                             timeout=10, cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(paths: list[Path], by_command: dict[str, list[dict]]) -> list[str]:
    """The book's front matter: what it was built from, one fact per line."""
    rows = [r for rows in by_command.values() for r in rows]
    devices = sorted({str(r.get("env", {}).get("device") or "unknown device") for r in rows})
    commits = sorted({str(r.get("env", {}).get("git_commit") or "unknown") for r in rows})
    budgets = sorted({str(r["config"]["budget"]) for r in rows if r.get("config", {}).get("budget") is not None})
    data = sorted({str(r["config"]["data"]) for r in rows if r.get("config", {}).get("data")})
    counts = ", ".join(f"{command} {len(rows)}" for command, rows in sorted(by_command.items()))
    return [f"Built {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC by `python -m reports --book` "
            f"at harness commit {_git_commit()}.",
            f"Result stores: {', '.join(str(p) for p in paths) or 'none'}.",
            f"Rows (newest per run): {counts or 'none: every table shows published values only'}.",
            f"Measured at commits: {', '.join(commits) or '-'}; on: {', '.join(devices) or '-'}.",
            f"Budgets: {', '.join(budgets) or '-'}; data: {', '.join(data) or '-'}.",
            "Published values are the papers' numbers as printed (reports/published/), never results of this "
            "harness; each table says which lines are measured and where its rows come from."]


def build_book(paths: list[Path], out_dir: Path, engine: str | None = "auto") -> Path:
    """Write the book's parts and the book itself to ``out_dir``; the PDF's path. ``engine`` "auto" uses
    pdflatex where it is installed, None forces matplotlib's PDF backend."""
    from .build import build, build_figures, check_output_dir, load_rows

    check_output_dir(out_dir, "--book")
    by_command = load_rows(paths)
    tables_dir, figures_dir = out_dir / "tables", out_dir / "figures"
    written = build(paths, tables_dir, ("latex", "markdown"), every_paper_table=True)
    try:
        figures = [p for p in build_figures(paths, figures_dir) if p.suffix == ".pdf"]
    except ImportError:
        figures = []
        print("reports: matplotlib is not installed: the book has no figures (pip install '.[plots]')",
              file=sys.stderr)
    tables = [p for p in written if p.suffix == ".tex"]
    front = provenance(paths, by_command)
    _write_markdown(out_dir / "book.md", front, [p.with_suffix(".md") for p in tables], figures)
    pdflatex = shutil.which("pdflatex") if engine == "auto" else None
    if pdflatex:
        tex = out_dir / "book.tex"
        tex.write_text(_latex_book(front, tables, figures))
        for _ in range(2):  # the second pass fills the contents and the lists of tables and figures
            proc = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", tex.name], cwd=out_dir,
                                  capture_output=True, text=True, errors="replace", timeout=600)
            if proc.returncode != 0:
                raise UsageError(f"pdflatex failed on {tex}: see {tex.with_suffix('.log')}")
        return tex.with_suffix(".pdf")
    return _matplotlib_book(out_dir / "book.pdf", front, [p.with_suffix(".md") for p in tables], figures)


def _grouped(paths: list[Path]) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {title: [] for title, _ in SECTIONS}
    out[HARNESS] = []
    for path in paths:
        out[section_of(path.stem)].append(path)
    return {title: items for title, items in out.items() if items}


def _figure_caption(path: Path) -> str:
    return path.stem.replace("_", " ")


def _latex_book(front: list[str], tables: list[Path], figures: list[Path]) -> str:
    extra = sorted({p for t in tables for p in latex_packages(t.read_text())} - {"booktabs", "graphicx", "longtable"})
    lines = [PREAMBLE + "".join(f"\\usepackage{{{p}}}\n" for p in extra),
             "\\title{Reproduction report: BReG-NeXt, BReG-Net, DACL, CAF}\n\\author{}\n\\date{}\n"
             "\\begin{document}\n\\maketitle",
             "\\noindent " + "\\par\\smallskip\\noindent ".join(latex_escape(f) for f in front),
             "\\tableofcontents\n\\listoftables\n\\listoffigures\n\\clearpage"]
    tables_by, figures_by = _grouped(tables), _grouped(figures)
    for title in dict.fromkeys([*tables_by, *figures_by]):
        lines.append(f"\\section{{{latex_escape(title)}}}")
        for table in tables_by.get(title, []):
            lines.append(f"\\input{{tables/{table.stem}}}\n\\clearpage")
        for figure in figures_by.get(title, []):
            lines.append("\\begin{figure}[p]\\centering\n"
                         f"\\includegraphics[width=\\linewidth,height=0.85\\textheight,keepaspectratio]"
                         f"{{figures/{figure.name}}}\n\\caption{{{latex_escape(_figure_caption(figure))}}}\n"
                         "\\end{figure}\n\\clearpage")
    lines.append("\\end{document}")
    return "\n".join(lines) + "\n"


def _write_markdown(path: Path, front: list[str], tables: list[Path], figures: list[Path]) -> None:
    parts = ["# Reproduction report: BReG-NeXt, BReG-Net, DACL, CAF", "", *[f"- {f}" for f in front], ""]
    tables_by, figures_by = _grouped(tables), _grouped(figures)
    for title in dict.fromkeys([*tables_by, *figures_by]):
        parts += [f"## {title}", ""]
        parts += [table.read_text() for table in tables_by.get(title, [])]
        parts += [f"![{_figure_caption(f)}](figures/{f.with_suffix('.png').name})\n" for f in figures_by.get(title, [])]
    path.write_text("\n".join(parts))


def _matplotlib_book(path: Path, front: list[str], tables: list[Path], figures: list[Path]) -> Path:
    """The book without LaTeX: a contents page, each table's Markdown as monospaced text pages, each figure's PNG
    on its own page (US letter, 7 in of text)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    tables_by, figures_by = _grouped(tables), _grouped(figures)
    pages: list[tuple[str, str, object]] = []  # (section, title, Markdown text or a PNG path)
    for title in dict.fromkeys([*tables_by, *figures_by]):
        pages += [(title, t.stem, t.read_text()) for t in tables_by.get(title, [])]
        pages += [(title, f.stem, f.with_suffix(".png")) for f in figures_by.get(title, [])]
    with PdfPages(path) as pdf:
        _text_page(pdf, plt, "Reproduction report: BReG-NeXt, BReG-Net, DACL, CAF",
                   "\n".join(front) + "\n\nContents\n" + "\n".join(
                       f"{i + 2:>4}  {section}: {title}" for i, (section, title, _) in enumerate(pages)))
        for section, title, content in pages:
            if isinstance(content, Path):
                fig = plt.figure(figsize=(8.5, 11))
                fig.text(0.07, 0.96, f"{section}: {title}", fontsize=11, weight="bold")
                ax = fig.add_axes([0.07, 0.07, 0.86, 0.86])
                ax.imshow(plt.imread(content))
                ax.axis("off")
                pdf.savefig(fig)
                plt.close(fig)
            else:
                _text_page(pdf, plt, f"{section}: {title}", str(content))
    return path


def _text_page(pdf, plt, title: str, text: str, width: int = 150) -> None:
    """Monospaced text on as many pages as it needs, in the largest type (7 pt at most, 5 pt at least) that fits
    its longest line in 7 in; lines longer than that are cut with a mark."""
    longest = max((len(line) for line in text.splitlines()), default=1)
    size = max(5.0, min(7.0, 7.0 * 118 / longest))
    fit = int(118 * 7.0 / size)
    lines = [line if len(line) <= fit else line[:fit - 1] + "~" for line in text.splitlines()]
    per_page = int(9.6 * 72 / (size * 1.25))
    for start in range(0, max(len(lines), 1), per_page):
        fig = plt.figure(figsize=(8.5, 11))
        fig.text(0.07, 0.96, title, fontsize=11, weight="bold")
        fig.text(0.07, 0.93, "\n".join(lines[start:start + per_page]), fontsize=size, family="monospace",
                 va="top")
        pdf.savefig(fig)
        plt.close(fig)
