"""`python -m reports --book DIR`: one PDF with a contents page, every table of the four papers (published values
where no run fills one), the figures the rows can draw, and where the numbers come from; pdflatex where installed,
matplotlib's PDF backend otherwise."""

from __future__ import annotations

import re
import shutil

import pytest

from harness.results_store import ResultsStore, make_row
from reports.book import HARNESS, _matplotlib_book, section_of
from reports.build import PAPER_TABLES, main


def _store(tmp_path):
    path = tmp_path / "flops.jsonl"
    row = make_row("flops", {"model": "bregnext50", "bypass_impl": "eager", "input_size": 64},
                   {"title": "BReG-NeXt-50", "depth": 50, "params_trainable": 3_072_696, "macs": 5e8, "flops": 1e9,
                    "skipped_ops": {}})
    ResultsStore(path).append(row)
    return path


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no LaTeX engine installed")
def test_book_compiles_every_paper_table_with_contents_and_provenance(tmp_path, capsys):
    book = tmp_path / "book"
    assert main([str(_store(tmp_path)), "--book", str(book)]) == 0
    pdf = book / "book.pdf"
    assert capsys.readouterr().out.strip() == str(pdf)
    assert pdf.read_bytes().startswith(b"%PDF")
    tex = (book / "book.tex").read_text()
    assert r"\tableofcontents" in tex and r"\listoftables" in tex
    inputs = set(re.findall(r"\\input\{tables/([^}]+)\}", tex))
    assert PAPER_TABLES <= inputs and "bregnext_tables_1_2" in inputs  # every paper table, and the measured one
    for title in ("BReG-NeXt", "BReG-Net", "DACL", "CAF"):
        assert f"\\section{{{title}}}" in tex
    assert "fig3_bypass.pdf" in tex  # Fig. 3 needs no rows
    log = (book / "book.log").read_text(errors="replace")
    assert not re.search(r"^! |Float too large|undefined", log, re.M)
    assert not [x for x in re.findall(r"Overfull \\[hv]box \(([\d.]+)pt", log) if float(x) > 1.0]
    toc = (book / "book.lot").read_text()  # the contents pages were filled: one entry per table
    assert toc.count("contentsline") == len(inputs)
    md = (book / "book.md").read_text()
    assert "harness commit" in md and str(tmp_path / "flops.jsonl") in md and "## CAF" in md


def test_without_latex_matplotlib_writes_the_book(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = tmp_path / "dacl_table_1_rafdb.md"
    table.write_text("**DACL Table 1**\n\n| Method | Accuracy |\n|---|---|\n" + "| FSN [38] | (81.10) |\n" * 150)
    png = tmp_path / "fig3_bypass.png"
    plt.imsave(png, [[0.0, 1.0], [1.0, 0.0]])
    pdf = _matplotlib_book(tmp_path / "book.pdf", ["Built here."], [table], [png.with_suffix(".pdf")])
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    # contents, the table on two pages (150 lines at 7 pt), the figure
    assert len(re.findall(rb"/Type\s*/Page\b", data)) == 4


def test_sections_follow_the_paper_a_name_says():
    assert section_of("bregnet_table_3") == "BReG-Net" and section_of("fig6_confusion_dacl_short") == "DACL"
    assert section_of("caf_table_4_ablation") == "CAF" and section_of("bregnext_table_5_per_class") == "BReG-NeXt"
    assert section_of("depth_sweep_table_2_fig_5") == "BReG-NeXt" and section_of("kernel_aot") == HARNESS


def test_book_into_a_file_is_one_line(tmp_path, capsys):
    target = tmp_path / "book.pdf"
    target.write_text("x")
    assert main([str(_store(tmp_path)), "--book", str(target)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--book" in err and "not a folder" in err
