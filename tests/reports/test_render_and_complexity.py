"""reports/: the published-values loader, the renderer, and the Table 1-2 mirror's notes."""

import json

import pandas as pd
import pytest

from reports import published
from reports.complexity import complexity_frame, render_complexity
from reports.render import latex_escape, render


def _row(model, params, depth=50, macs=10**9):
    return {"config": {"model": model, "bypass_impl": "eager"},
            "metrics": {"title": model, "depth": depth, "params_trainable": params, "macs": macs, "flops": 2 * macs,
                        "skipped_ops": {}}}


def test_published_tables_1_and_2():
    t1, t2 = published.table("bregnext", 1), published.table("bregnext", 2)
    assert len(t1[t1["column"] == "params"]) == 6 and len(t2[t2["column"] == "flops"]) == 8
    assert published.lookup("bregnext", 1, "bregnext50", "params")["printed"] == "3.1M"
    assert published.lookup("bregnext", 2, "bregnext26", "flops")["value"] == pytest.approx(0.76e7)
    assert published.lookup("bregnext", 1, "bregnext26", "params") is None
    with pytest.raises(ValueError, match="unknown paper"):
        published.load("resnet")


@pytest.mark.parametrize("printed,step", [("1.9M", 1e5), ("25M", 1e6), ("19.6M", 1e5), ("0.95 x 10^7", 1e5),
                                          ("12.5 x 10^7", 1e6), ("68.50", 0.01)])
def test_resolution(printed, step):
    assert published.resolution(printed) == pytest.approx(step)


def test_cells_are_checked_at_printed_precision():
    rows = [_row("bregnext50", 3_072_696), _row("bregnext44", 2_684_274, 44), _row("bregnet50", 3_017_160),
            _row("bregnext74", 4_626_384, 74)]
    frame, notes = complexity_frame(rows)
    marks = dict(zip(frame["model"], frame["marks"], strict=True))
    assert "params" not in marks["bregnext50"]  # 3.07M prints as 3.1M
    assert "truncated" in notes[int(marks["bregnext44"]["params"][1:-1]) - 1]  # 2.68M printed as 2.6M
    assert "3.02M" in notes[int(marks["bregnet50"]["params"][1:-1]) - 1]
    assert frame.set_index("model").loc["bregnext74", "params_published"] is None or pd.isna(
        frame.set_index("model").loc["bregnext74", "params_published"])
    flops_note = notes[int(marks["bregnext50"]["flops_published"][1:-1]) - 1]
    assert "times the published parameter count" in flops_note


def test_missing_published_value_is_never_filled():
    md = render_complexity([_row("bregnext74", 4_626_384, 74)], "markdown")
    assert "n/a" in md
    doc = json.loads(render_complexity([_row("bregnext74", 4_626_384, 74)], "json"))
    assert doc["rows"][0]["params_published"] is None


def test_render_formats():
    frame = pd.DataFrame({"model": ["a_b"], "value": ["50%"]})
    assert render(frame, "csv") == "model,value\na_b,50%\n"
    tex = render(frame, "latex", caption="T & U", notes=["n_1"])
    assert r"a\_b & 50\%" in tex and r"T \& U" in tex and r"n\_1" in tex
    md = render(frame, "markdown", caption="cap", notes=["first"])
    assert md.startswith("**cap**") and "[1] first" in md
    with pytest.raises(ValueError, match="unknown format"):
        render(frame, "html")


def test_latex_escape():
    assert latex_escape("x_1 & 5% #$~^\\{}") == (r"x\_1 \& 5\% \#\$\textasciitilde{}\textasciicircum{}"
                                                 r"\textbackslash{}\{\}")


def test_latex_table_compiles_when_an_engine_is_installed(tmp_path):
    import shutil
    import subprocess

    rows = [_row("bregnext50", 3_072_696), _row("resnet32", 19_638_024, 30)]
    table = render_complexity(rows, "latex", caption="Tables 1-2 & notes_1")
    assert table.count(r"\begin{tabular}{") == 1 and table.count(r"\toprule") == 1  # + stacked header names
    header = table.splitlines()[table.splitlines().index(r"\toprule") + 1]
    spec = table.split(r"\begin{tabular}{", 1)[1].split("}", 1)[0]
    # ten columns, as the column spec says: MACs and FLOPs, the same in every line, become a note
    assert header.count("&") == len(spec) - 1 == 9 and "MACs" not in header
    assert "In every line: MACs = 1.000G; FLOPs (2xMACs) = 2.000G." in table
    engine = shutil.which("pdflatex")
    if engine is None:
        pytest.skip("no LaTeX engine installed: structure checked above")
    doc = tmp_path / "t.tex"
    doc.write_text("\\documentclass{article}\\usepackage{booktabs,graphicx}\\begin{document}\n" + table
                   + "\\end{document}\n")
    proc = subprocess.run([engine, "-interaction=nonstopmode", doc.name], cwd=tmp_path, capture_output=True)
    assert proc.returncode == 0, proc.stdout[-2000:]
