"""The one place that turns a frame of rows into Markdown, LaTeX, CSV or JSON text."""

from __future__ import annotations

import json
import re

import pandas as pd
from tabulate import tabulate

FORMATS = ("markdown", "latex", "csv", "json")


def render(frame: pd.DataFrame, fmt: str = "markdown", caption: str = "", notes: list[str] | None = None,
           sections: str | None = None) -> str:
    """Text of ``frame`` in ``fmt``; Markdown and LaTeX carry the caption above and numbered notes below,
    CSV and JSON carry the data alone (notes go in a JSON "notes" field). ``sections`` names a column whose
    values split the Markdown/LaTeX table into headed blocks (the column itself is not printed). A column named
    "GROUP|NAME" prints under a header GROUP spanning its neighbours of the same GROUP (LaTeX) or as
    "GROUP NAME" (Markdown)."""
    notes = notes or []
    if fmt == "markdown":
        return _markdown(frame, caption, notes, sections)
    if fmt == "latex":
        return _latex(frame, caption, notes, sections)
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":
        return json.dumps({"caption": caption, "rows": frame.to_dict(orient="records"), "notes": notes},
                          indent=2, default=str) + "\n"
    raise ValueError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")



def read_markdown(markdown: str, heading: str | None = None) -> list[dict[str, str]]:
    """The body lines of a table `render` wrote as Markdown, each as {column: cell}: the table under the block
    heading ``*heading*`` (a `sections` value), or the first table when None. The inverse a reader of a written
    report (or a test) needs."""
    lines = markdown.splitlines()
    table: list[str] = []
    for text in lines[lines.index(f"*{heading}*") if heading else 0:]:
        if text.startswith("|"):
            table.append(text)
        elif table:
            break
    names = [c.strip() for c in table[0].strip("|").split("|")]
    return [dict(zip(names, (c.strip() for c in line.strip("|").split("|")), strict=True)) for line in table[2:]]


def read_notes(markdown: str) -> list[str]:
    """The numbered notes under a Markdown table `render` wrote, without their numbers."""
    return [re.sub(r"^\[\d+\] ", "", n) for n in markdown.splitlines() if re.match(r"\[\d+\] ", n)]


GROUP_SEP = "|"


def _blocks(frame: pd.DataFrame, sections: str | None) -> list[tuple[str | None, pd.DataFrame]]:
    """(heading, rows) blocks of ``frame``, in first-seen order of the ``sections`` column (one block without)."""
    if sections is None or sections not in frame.columns:
        return [(None, frame)]
    keys = list(dict.fromkeys(frame[sections]))
    return [(str(k), frame[frame[sections] == k].drop(columns=[sections])) for k in keys]


def _markdown(frame: pd.DataFrame, caption: str, notes: list[str], sections: str | None) -> str:
    parts = [f"**{markdown_text(caption)}**\n" if caption else ""]
    for heading, block in _blocks(frame, sections):
        block = block.rename(columns=lambda c: str(c).replace(GROUP_SEP, " ")).map(markdown_text)
        if heading is not None:
            parts.append(f"*{heading}*\n")
        parts.append(tabulate(block, headers="keys", tablefmt="github", showindex=False, disable_numparse=True)
                     + "\n")
    foot = "".join(f"\n[{i}] {markdown_text(n)}" for i, n in enumerate(notes, 1))
    return "\n".join(p for p in parts if p) + (foot + "\n" if foot else "")


# '|', '<' and '>' print as other glyphs in OT1 (LaTeX's default font encoding) unless T1 is loaded; the text
# commands below are right in every encoding. Greek letters and signs that the notes use print as maths.
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "|": r"\textbar{}", "<": r"\textless{}", ">": r"\textgreater{}", "†": r"\dag{}",
                  "±": r"$\pm$", "−": r"$-$", "×": r"$\times$", "≤": r"$\le$", "≥": r"$\ge$", "Δ": r"$\Delta$",
                  "α": r"$\alpha$", "β": r"$\beta$", "κ": r"$\kappa$", "λ": r"$\lambda$", "√": r"$\surd$",
                  "–": "--", "—": "---"}
# `code` spans print in typewriter type (so "--budget" stays two hyphens and copies right); \(maths\) spans
# are passed to LaTeX as they are written and shown as $maths$ in Markdown.
_SPANS = re.compile(r"`([^`]+)`|\\\((.+?)\\\)")

# What a generated table uses, and the package that defines it (all in texlive-latex-base/-recommended).
_LATEX_NEEDS = {r"\toprule": "booktabs", r"\resizebox": "graphicx", r"\begin{longtable}": "longtable"}
HEADER_MARK = "% reports:"
# Longer header names are stacked on lines of about this many characters, split after ' ', '_' or '/'.
HEADER_CHARS = 12
# A table of more lines than this is a longtable: it breaks across pages instead of overflowing one.
FLOAT_LINES = 32


def _plain(text: str) -> str:
    # "-\0-": no en-dash ligature, so an option name prints as typed
    out = "".join(_LATEX_SPECIAL.get(c, c) for c in text.replace("--", "-\0-")).replace("\0", "{}")
    return out.replace("/", "/\\allowbreak{}")  # a long path may break after a slash


def latex_escape(text: object) -> str:
    """``text`` as LaTeX that prints it: specials escaped, `code` in typewriter type, \\(maths\\) as maths."""
    text, out, at = str(text), [], 0
    for m in _SPANS.finditer(text):
        out.append(_plain(text[at:m.start()]))
        if m.group(1) is not None:
            out.append(r"\texttt{" + _code(m.group(1)) + "}")
        else:
            out.append(f"${m.group(2)}$")
        at = m.end()
    out.append(_plain(text[at:]))
    return "".join(out)


def _code(text: str) -> str:
    """A command in typewriter type: specials escaped, spaces breakable, no ligatures to undo (cmtt has none)."""
    return "".join(_LATEX_SPECIAL.get(c, c) if c in "\\&%$#_{}~^|<>" else c for c in text)


def markdown_text(text: object) -> str:
    """``text`` for Markdown: \\(maths\\) spans as $maths$."""
    return re.sub(r"\\\((.+?)\\\)", r"$\1$", str(text))


def latex_packages(tex: str) -> list[str]:
    """The packages the LaTeX text of one or more generated tables needs in the preamble, in load order."""
    return sorted({pkg for command, pkg in _LATEX_NEEDS.items() if command in tex})


def latex_header(tex: str, name: str = "this-file") -> str:
    """The comment that opens a generated .tex (``name``): the packages it needs and how to use it."""
    uses = "".join(f"\\usepackage{{{p}}}" for p in latex_packages(tex))
    return (f"{HEADER_MARK} generated by `python -m reports` (reports/render.py); edits are overwritten.\n"
            f"{HEADER_MARK} needs in the preamble: {uses}\n"
            f"{HEADER_MARK} use: \\input{{{name}}} in the document body; each table is a float (a longtable when "
            "long) at its natural size in \\small type, scaled down only when wider than \\linewidth.\n")


def latex_file(text: str, name: str = "this-file") -> str:
    """``text`` (one or more rendered LaTeX tables) as the file ``name``: one header comment on top instead of
    one per table."""
    body = "".join(line for line in text.splitlines(keepends=True) if not line.startswith(HEADER_MARK))
    return latex_header(body, name) + body


def _header_cell(name: object, align: str) -> str:
    """A column name; a long one stacked on lines (a one-column tabular) so it is no wider than its numbers."""
    text = str(name)
    if len(text) <= HEADER_CHARS:
        return latex_escape(text)
    words, lines = re.findall(r"[^ _/]+[ _/]*|[ _/]+", text), [""]
    for word in words:
        if lines[-1] and len(lines[-1]) + len(word.rstrip()) > HEADER_CHARS:
            lines.append("")
        lines[-1] += word
    if len(lines) == 1:
        return latex_escape(text)
    stacked = r"\\".join(latex_escape(line.rstrip(" ")) for line in lines)
    return r"\begin{tabular}[b]{@{}" + align + "@{}}" + stacked + r"\end{tabular}"


def _header(columns: list[str], aligns: list[str]) -> list[str]:
    """The header line(s): a spanning GROUP line with its rules where names are "GROUP|NAME", then the names."""
    groups = [str(c).split(GROUP_SEP, 1)[0] if GROUP_SEP in str(c) else "" for c in columns]
    names = [str(c).split(GROUP_SEP, 1)[-1] for c in columns]
    lines = []
    if any(groups):
        cells, rules, i = [], [], 0
        while i < len(columns):
            j = i
            while j + 1 < len(columns) and groups[j + 1] == groups[i] and groups[i]:
                j += 1
            span = j - i + 1
            cells.append(r"\multicolumn{" + f"{span}" + "}{c}{" + latex_escape(groups[i]) + "}" if groups[i]
                         and span > 1 else _header_cell(groups[i], aligns[i]))
            if groups[i]:
                rules.append(r"\cmidrule(lr){" + f"{i + 1}-{j + 1}" + "}")
            i = j + 1
        lines += [" & ".join(cells) + r" \\", "".join(rules)]
    lines.append(" & ".join(_header_cell(n, a) for n, a in zip(names, aligns, strict=True)) + r" \\")
    return lines


# Width budget of one tabular at \small in a 7 in text block (pt): an estimate from the characters of each
# column, so that a wide table is folded before LaTeX has to shrink it below 0.8 (tests measure the real scale).
LINE_PT, CHAR_PT, COLUMN_PT = 505.0, 4.7, 8.0


def _width(name: object, cells: list[str]) -> float:
    head = max((len(p) for p in str(name).split(GROUP_SEP)[-1:]), default=0)
    return COLUMN_PT + CHAR_PT * max([min(head, HEADER_CHARS + 2), *(len(str(c)) for c in cells)])


def _hoist(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Columns with one value in every line (a table's device, its pass, ...) leave the table for a note."""
    if len(frame) < 2:
        return frame, []
    same = [c for c in frame.columns[1:] if frame[c].astype(str).nunique() == 1 and GROUP_SEP not in str(c)]
    if not same or len(same) == len(frame.columns) - 1:
        return frame, []
    note = "In every line: " + "; ".join(f"{c} = {frame[c].iloc[0]}" for c in same) + "."
    return frame.drop(columns=same), [note]


def _fold(frame: pd.DataFrame) -> list[pd.DataFrame]:
    """The frame as one or more tabulars that each fit the line: the leading text columns (what names a line)
    repeat in each, the other columns are shared out in order."""
    widths = {c: _width(c, list(frame[c])) for c in frame.columns}
    if sum(widths.values()) <= 1.2 * LINE_PT:
        return [frame]
    keys = [frame.columns[0]]
    for c in frame.columns[1:4]:
        if any(not _numeric(v) for v in frame[c]) and sum(widths[k] for k in keys) + widths[c] < LINE_PT / 2:
            keys.append(c)
        else:
            break
    chunks, current = [], []
    room = 1.15 * LINE_PT - sum(widths[k] for k in keys)
    for c in [c for c in frame.columns if c not in keys]:
        if current and sum(widths[x] for x in current) + widths[c] > room:
            chunks.append(current)
            current = []
        current.append(c)
    chunks.append(current)
    return [frame[keys + chunk] for chunk in chunks]


def _numeric(value: object) -> bool:
    try:
        float(str(value).replace(",", "").rstrip("%xMG"))
        return True
    except ValueError:
        return str(value) in ("n/a", "-", "")


def _latex(frame: pd.DataFrame, caption: str, notes: list[str], sections: str | None = None) -> str:
    """A booktabs table at its natural size in \\small type (scaled down to the line only when wider), or a
    longtable that breaks across pages when it has more than FLOAT_LINES lines; cells are escaped, so model
    names and units compile as written. The caption is a bold heading, not LaTeX's "Table N:", so a paper's
    table number is printed once; the book's list of tables gets it as it is."""
    if sections is None:
        frame, hoisted = _hoist(frame)
        notes = notes + hoisted  # after the notes that cells point to by number
        parts = _fold(frame)
        if len(parts) > 1:
            return _tabulars(parts, caption, notes)
    blocks = _blocks(frame, sections)
    columns = list(blocks[0][1].columns)
    aligns = ["l"] + ["r"] * (len(columns) - 1)
    body = []
    for k, (heading, block) in enumerate(blocks):
        if heading is not None:
            body += ([r"\midrule"] if k else []) + [r"\multicolumn{" + f"{len(columns)}" + "}{l}{\\textit{"
                                                    + latex_escape(heading) + r"}} \\"]
        body += [" & ".join(latex_escape(v) for v in row) + r" \\" for row in block.itertuples(index=False)]
    head = _header(columns, aligns)
    spec = "".join(aligns)
    lines = [latex_header(r"\toprule\resizebox").rstrip("\n")]
    heading, foot = _heading(caption), _foot(notes)
    if len(body) > FLOAT_LINES:
        lines = [latex_header(r"\toprule\begin{longtable}").rstrip("\n"), r"\begingroup\small\raggedright",
                 *heading,
                 r"\setlength{\tabcolsep}{4pt}", r"\begin{longtable}{" + spec + "}", r"\toprule", *head,
                 r"\midrule", r"\endfirsthead", r"\toprule", *head, r"\midrule", r"\endhead",
                 r"\bottomrule", r"\endlastfoot", *body, r"\end{longtable}", *foot, r"\endgroup"]
        return "\n".join(lines) + "\n"
    lines += [r"\begin{table}[htbp]", r"\centering\small", *heading, r"\setlength{\tabcolsep}{4pt}",
              *_tabular(spec, head, body), *foot, r"\end{table}"]
    return "\n".join(lines) + "\n"


def _heading(caption: str) -> list[str]:
    """The caption as a bold title (its part before the first '; ') over its provenance, and a list-of-tables
    entry."""
    if not caption:
        return []
    title, _, rest = caption.partition("; ")
    below = r"\par{\footnotesize " + latex_escape(rest) + "}" if rest else ""
    return [r"\addcontentsline{lot}{table}{" + latex_escape(title) + "}",
            r"{\textbf{" + latex_escape(title) + "}" + below + r"\par}\smallskip"]


def _foot(notes: list[str]) -> list[str]:
    if not notes:
        return []
    return [r"\par\smallskip\footnotesize\raggedright"] + [f"[{i}] {latex_escape(n)}" + r"\par"
                                                            for i, n in enumerate(notes, 1)]


def _tabular(spec: str, head: list[str], body: list[str]) -> list[str]:
    return [r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
            r"\begin{tabular}{" + spec + "}", r"\toprule", *head, r"\midrule", *body,
            r"\bottomrule", r"\end{tabular}}"]


def _tabulars(parts: list[pd.DataFrame], caption: str, notes: list[str]) -> str:
    """A table too wide for the line as several tabulars, one under the other, in one float."""
    lines = [latex_header(r"\toprule\resizebox").rstrip("\n"), r"\begin{table}[htbp]", r"\centering\small",
             *_heading(caption), r"\setlength{\tabcolsep}{4pt}"]
    for k, part in enumerate(parts):
        aligns = ["l"] + ["r"] * (len(part.columns) - 1)
        body = [" & ".join(latex_escape(v) for v in row) + r" \\" for row in part.itertuples(index=False)]
        lines += ([r"\par\medskip"] if k else []) + _tabular("".join(aligns), _header(list(part.columns), aligns),
                                                              body)
    lines += [*_foot(notes), r"\end{table}"]
    return "\n".join(lines) + "\n"
