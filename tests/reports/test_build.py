"""`python -m reports`: result rows in, Markdown and LaTeX tables out."""

from bench.flops import main as flops_main
from reports.build import load_rows, main


def test_build_from_a_flops_store(tmp_path, capsys):
    store = tmp_path / "flops.jsonl"
    assert flops_main(["--models", "bregnext26", "--input-size", "16", "--results", str(store)]) == 0
    assert flops_main(["--models", "bregnext26", "--input-size", "16", "--results", str(store)]) == 0
    assert len(load_rows([store])["flops"]) == 1  # the newest row of a run id wins
    capsys.readouterr()
    assert main([str(store), "--out-dir", str(tmp_path / "out")]) == 0
    md = (tmp_path / "out" / "bregnext_tables_1_2.md").read_text()
    tex = (tmp_path / "out" / "bregnext_tables_1_2.tex").read_text()
    assert "BReG-NeXt-26" in md and "measured on cpu" in md
    assert r"\begin{tabular}" in tex and "BReG-NeXt-26" in tex


def test_missing_store_is_an_error(tmp_path, capsys):
    assert main([str(tmp_path / "none.jsonl")]) == 1
    assert "no results store" in capsys.readouterr().err
