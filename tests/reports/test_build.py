"""`python -m reports`: result rows in, Markdown and LaTeX tables out."""

import pytest

from bench.flops import main as flops_main
from reports.build import load_rows, main


def test_build_from_a_flops_store(tmp_path, capsys):
    pytest.importorskip("fvcore", reason="FLOP counting needs fvcore, which is not installed")
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


def test_default_stores_include_device_folders(tmp_path, monkeypatch, capsys):
    """`bench.gpu_suite` writes under results/<device>/: with no store named, those rows are found too."""
    pytest.importorskip("fvcore", reason="FLOP counting needs fvcore, which is not installed")
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "results" / "nvidia-h100" / "flops.jsonl"
    store.parent.mkdir(parents=True)
    assert flops_main(["--models", "bregnext26", "--input-size", "16", "--results", str(store)]) == 0
    capsys.readouterr()
    assert main(["--out-dir", "out"]) == 0
    assert "BReG-NeXt-26" in (tmp_path / "out" / "bregnext_tables_1_2.md").read_text()


def test_missing_store_is_an_error(tmp_path, capsys):
    assert main([str(tmp_path / "none.jsonl")]) == 1
    assert "no results store" in capsys.readouterr().err


def test_figures_from_stores(tmp_path):
    import pytest

    pytest.importorskip("matplotlib")
    from bench.gradflow import main as gradflow_main
    from reports.build import build_figures

    store = tmp_path / "g.jsonl"
    assert gradflow_main(["--bypass", "identity", "scaled:lam=0.5", "--depths", "14,20", "--bn", "frozen",
                          "--steps", "0", "--input-size", "4", "--batch", "2", "--results", str(store),
                          "--out", str(tmp_path / "s.md")]) == 0
    written = build_figures([store], tmp_path / "figs")
    names = sorted(p.name for p in written)
    assert names == ["fig3_bypass.pdf", "fig3_bypass.png", "gradient_norms.pdf", "gradient_norms.png"]
    assert all(p.stat().st_size > 5000 for p in written)
