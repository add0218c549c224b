"""The one place that turns a frame of rows into Markdown, LaTeX, CSV or JSON text."""

from __future__ import annotations

import json

import pandas as pd
from tabulate import tabulate

FORMATS = ("markdown", "latex", "csv", "json")


def render(frame: pd.DataFrame, fmt: str = "markdown", caption: str = "", notes: list[str] | None = None) -> str:
    """Text of ``frame`` in ``fmt``; Markdown and LaTeX carry the caption above and numbered notes below,
    CSV and JSON carry the data alone (notes go in a JSON "notes" field)."""
    notes = notes or []
    if fmt == "markdown":
        body = tabulate(frame, headers="keys", tablefmt="github", showindex=False, disable_numparse=True)
        head = f"**{caption}**\n\n" if caption else ""
        foot = "".join(f"\n[{i}] {n}" for i, n in enumerate(notes, 1))
        return head + body + ("\n" + foot if foot else "") + "\n"
    if fmt == "latex":
        return _latex(frame, caption, notes)
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":
        return json.dumps({"caption": caption, "rows": frame.to_dict(orient="records"), "notes": notes},
                          indent=2, default=str) + "\n"
    raise ValueError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: object) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in str(text))


def _latex(frame: pd.DataFrame, caption: str, notes: list[str]) -> str:
    """A booktabs table; cells are escaped, so model names and units compile as written."""
    cols = "l" + "r" * (len(frame.columns) - 1)
    lines = [r"\begin{table}[t]", r"\centering"]
    if caption:
        lines.append(r"\caption{" + latex_escape(caption) + "}")
    lines += [r"\begin{tabular}{" + cols + "}", r"\toprule",
              " & ".join(latex_escape(c) for c in frame.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(latex_escape(v) for v in row) + r" \\" for row in frame.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if notes:
        lines.append(r"\par\smallskip\footnotesize")
        lines += [f"[{i}] {latex_escape(n)}" + r"\par" for i, n in enumerate(notes, 1)]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"
