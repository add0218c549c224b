"""`python -m reports`: --format, --out FILE and --out-dir DIR, the default folder outside the package, output paths
checked before any work (one-line errors), the examples in --help, and the caption's provenance."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.results_store import ResultsStore, make_row
from reports.build import DEFAULT_OUT, PAPER_TABLES, caption, main

ENV = {"device": "cpu", "git_commit": "abc123"}


def _store(tmp_path: Path, budget=None) -> Path:
    """A store with one training epoch and one depth-sweep row (three LaTeX tables in one file)."""
    store = tmp_path / "rows.jsonl"
    train = make_row("train", {"model": "bregnext26", "data": "synth", "task": "categorical", "epoch": 1,
                               **({"budget": budget} if budget is not None else {})},
                     {"accuracy": 0.5, "train_loss": 1.25}, {"epoch_s": 2.0})
    depth = make_row("depth_sweep", {"model": "bregnext26", "arrangement": "bregnext"},
                     {"title": "BReG-NeXt-26", "depth": 26, "params_trainable": 1_420_000, "macs": 10**8,
                      "flops": 2 * 10**8, "step_s": 0.01})
    for row in (train, depth):
        row["env"] = dict(ENV)
        ResultsStore(store).append(row)
    return store


def test_default_formats_and_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    _store(tmp_path / "results")
    assert main([]) == 0
    assert DEFAULT_OUT == Path("results/reports")
    written = sorted(p.name for p in (tmp_path / DEFAULT_OUT).iterdir())
    # depth_sweep rows feed a paper table (BReG-NeXt Table 2), so every paper table is written beside it
    assert written == sorted(f"{stem}.{ext}" for stem in {*PAPER_TABLES, "training_runs"} for ext in ("md", "tex"))
    assert not (tmp_path / "reports").exists()
    assert main([]) == 0, "its own output folder under results/ is not read back as a store"


def test_formats_comma_separated_and_repeated(tmp_path, capsys):
    store, out = _store(tmp_path), tmp_path / "out"
    assert main([str(store), "--format", "csv,json", "--format", "csv", "--out-dir", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{stem}.{ext}" for stem in {*PAPER_TABLES, "training_runs"} for ext in ("csv", "json"))
    assert "bregnext26" in (out / "training_runs.csv").read_text()


def test_unknown_format_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(_store(tmp_path)), "--format", "markdown,html"])
    assert exc.value.code == 2 and "html" in capsys.readouterr().err


def test_latex_file_opens_with_one_header(tmp_path, capsys):
    out = tmp_path / "out"
    assert main([str(_store(tmp_path)), "--format", "latex", "--out-dir", str(out)]) == 0
    tex = (out / "depth_sweep_table_2_fig_5.tex").read_text()
    head = tex.splitlines()[:3]
    assert all(line.startswith("% reports:") for line in head)
    assert r"\usepackage{booktabs}\usepackage{graphicx}" in head[1]
    assert r"\input{depth_sweep_table_2_fig_5}" in head[2]
    assert tex.count("% reports:") == 3 and tex.count(r"\begin{table}") == 3


@pytest.mark.parametrize("where", ["file", "under_file", "target_is_folder"])
def test_bad_output_paths_fail_in_one_line_before_any_work(tmp_path, capsys, where):
    store = _store(tmp_path)
    blocker = tmp_path / "blocker"
    if where == "target_is_folder":
        out = tmp_path / "out"
        (out / "training_runs.tex").mkdir(parents=True)
    else:
        blocker.write_text("a file")
        out = blocker if where == "file" else blocker / "tables"
    capsys.readouterr()
    assert main([str(store), "--out-dir", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("reports: error: --out-dir ") and "\n" not in err
    assert ("is a file, not a folder" if where != "target_is_folder" else "is a folder, not a file") in err
    if where == "target_is_folder":
        assert sorted(p.name for p in out.iterdir()) == ["training_runs.tex"], "nothing written before the check"


def test_out_is_one_file_as_in_every_entry_point(tmp_path, capsys):
    """--out FILE holds the tables the rows fill in one format; published-only paper tables stay out of it."""
    store = _store(tmp_path)
    assert main([str(store), "--out", str(tmp_path / "t.md")]) == 0
    text = (tmp_path / "t.md").read_text()
    assert "BReG-NeXt-26" in text and "bregnext26" in text  # the depth sweep's paper table and the training runs
    assert "published only" not in text and "bregnext_table_3" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.jsonl", "t.md"]
    capsys.readouterr()
    assert main([str(store), "--out", "-", "--format", "latex"]) == 0
    tex = capsys.readouterr().out
    # one header for the file; the depth table's three tabulars and the training runs' one
    assert tex.count("% reports:") == 3 and tex.count(r"\begin{table}") == 4


@pytest.mark.parametrize("argv, needle", [
    (["--out", "{tmp}/out"], "--out {tmp}/out: has no suffix, as a folder; --out is one file"),
    (["--out", "{tmp}"], "is a folder; --out is one file (e.g. tables.md), --out-dir DIR"),
    (["--out", "{tmp}/new/"], "is a folder"),
    (["--out", "{tmp}/t.csv", "--format", "csv"], "these rows fill 2 tables"),
    (["--out", "{tmp}/t.md", "--format", "markdown,latex"], "holds one format, got markdown,latex"),
    (["--out", "{tmp}/t.md", "--out-dir", "{tmp}/d"], "give one"),
])
def test_old_and_bad_uses_of_out_are_one_line(tmp_path, capsys, argv, needle):
    """reports' --out was a folder: an old command fails in one line naming --out-dir and writes nothing."""
    store = _store(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    try:
        code = main([str(store), *(a.replace("{tmp}", str(tmp_path)) for a in argv)])
    except SystemExit as exc:  # argparse's refusal
        code = exc.code
    err = capsys.readouterr().err
    assert code in (1, 2) and len(err.splitlines()) == 1 and err.startswith("reports: error: --out"), err
    assert needle.replace("{tmp}", str(tmp_path)) in err
    assert sorted(tmp_path.rglob("*")) == before


def test_help_ends_with_examples(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    out = capsys.readouterr().out
    tail = out.rstrip().splitlines()
    examples = tail[tail.index("examples:") + 1:]
    assert exc.value.code == 0
    assert 2 <= len(examples) <= 4 and all(line.strip().startswith("python -m reports") for line in examples)
    assert "--format" in out and "--out FILE" in out and "--out-dir DIR" in out


def test_caption_names_data_device_commit_and_budget(tmp_path):
    rows = [{"config": {"data": "synth", "budget": {"steps": 20, "warmup_steps": 5}}, "env": ENV},
            {"config": {"data": "synth", "budget": "1 epoch"}, "env": ENV}]
    text = caption("train", rows)
    assert text == "train: measured on cpu; commit abc123; data synth; budget 1 epoch, steps=20 warmup_steps=5"
    assert "budget" not in caption("train", [{"config": {"data": "synth"}, "env": ENV}])
    store = _store(tmp_path, budget="2 epochs")
    assert main([str(store), "--format", "markdown", "--out-dir", str(tmp_path / "out")]) == 0
    assert "budget 2 epochs" in (tmp_path / "out" / "training_runs.md").read_text()


def test_a_row_no_table_can_show_is_left_out_with_one_warning(tmp_path, capsys):
    """A row of the right command but the wrong kind: named by store and line, the other rows rendered."""
    store, out = _store(tmp_path), tmp_path / "out"
    ResultsStore(store).append(make_row("depth_sweep", {"model": "x"}, {"loss": 1.0}))  # line 3: no depth, no title
    assert main([str(store), "--format", "markdown", "--out-dir", str(out)]) == 0
    assert capsys.readouterr().err.splitlines() == [
        f"reports: warning: {store}:3: table depth_sweep_table_2_fig_5 cannot show this depth_sweep row "
        "(KeyError: 'depth'); left out"]
    assert "BReG-NeXt-26" in (out / "depth_sweep_table_2_fig_5.md").read_text()


@pytest.mark.parametrize("command, metrics", [("gradflow", {"loss": 1.0}), ("loader", {"seconds": None}),
                                              ("kernel_aot", {}), ("flops", {"params": None})])
def test_a_store_of_rows_no_table_can_show_is_one_line_and_writes_nothing(tmp_path, capsys, command, metrics):
    store, out = tmp_path / "bad.jsonl", tmp_path / "out"
    ResultsStore(store).append(make_row(command, {"model": "x"}, metrics))
    code = main([str(store), "--out-dir", str(out)])
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and f"{store}:1: table " in err
    if command == "flops":  # a paper table: written with the published values, the row left out
        assert code == 0 and "left out" in err and (out / "bregnext_tables_1_2.md").exists()
    else:
        assert code == 1 and err.startswith("reports: error: ") and not out.exists()


def test_a_figure_whose_rows_cannot_be_drawn_is_skipped_with_one_warning(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib", reason="figures need the 'plots' extra")
    from reports import figures

    monkeypatch.setattr(figures, "bypass_functions", lambda out: [])  # Fig. 3 needs no rows: not what is tested
    store, out = tmp_path / "kernel.jsonl", tmp_path / "out"
    ResultsStore(store).append(make_row("kernel", {"model": "x"}, {"loss": 1.0}))
    assert main([str(store), "--out-dir", str(out), "--figures"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("reports: warning: figure 'kernel bandwidth' skipped") == 1
