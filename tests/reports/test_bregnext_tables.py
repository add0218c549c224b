"""BReG-NeXt Tables 3-7 from evaluation rows: measured beside published with the difference in the published
unit, seeds averaged, only validation lines compared, the support-weighted average line of Table 5, published
lines kept and marked, the note naming what fills them, and `python -m reports` writing them."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest

from harness.results_store import ResultsStore, make_row
from metrics.categorical import precision_recall_f1, weighted_f1, weighted_precision, weighted_recall
from reports.bregnext_tables import (
    TABLES,
    render_table3,
    render_table4,
    render_table5,
    render_table6,
    render_table7,
    weighted_average,
)
from reports.build import main
from reports.paper_tables import MEASURED, NOT_RUN, NOT_RUNNABLE
from reports.render import read_markdown as md_table
from reports.render import read_notes as notes

ENV = {"device": "cpu", "git_commit": "abc1234"}
AFFECTNET = ["neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt"]
FER2013 = ["anger", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
FILL = "python -m bench.reproduce bregnext --budget short"


def evaluate_row(model: str, data: str, metrics: dict, *, task: str = "categorical", split: str = "val",
                 seed: int = 0, **config) -> dict:
    """An evaluation row as `bench.evaluate` writes it: the training config, split and checkpoint."""
    row = make_row("evaluate", {"model": model, "data": data, "task": task, "seed": seed, "epochs": 2,
                                "budget": "smoke", "split": split, "checkpoint": "best", **config}, metrics)
    row["env"] = dict(ENV)
    return row


def categorical(y_true: list[int], y_pred: list[int], names: list[str], **extra) -> dict:
    """The categorical metrics of an evaluation row, per-class lists included, from labels."""
    c = len(names)
    with warnings.catch_warnings():  # a class with no sample at all: AbsentClassWarning
        warnings.simplefilter("ignore")
        prf = precision_recall_f1(y_true, y_pred, c)
        averages = {"weighted_precision": weighted_precision(y_true, y_pred, c),
                    "weighted_recall": weighted_recall(y_true, y_pred, c),
                    "weighted_f1": weighted_f1(y_true, y_pred, c)}
    support = np.bincount(y_true, minlength=c).tolist()
    per_class = {k: [None if np.isnan(v) else float(v) for v in prf[k]] for k in ("precision", "recall", "f1")}
    accuracy = float(np.mean(np.array(y_true) == np.array(y_pred)))
    return {"accuracy": accuracy, **averages, "macro_recall": 0.5, "per_class": {**per_class, "support": support},
            "class_names": names, "class_counts": support, "n_samples": len(y_true), **extra}


def accuracy_row(model: str, data: str, accuracy: float, **kw) -> dict:
    names = FER2013 if data.startswith("fer2013") else AFFECTNET
    return evaluate_row(model, data, {"accuracy": accuracy, "class_names": names,
                                      "class_counts": [10] * len(names)}, **kw)


def lines(text: str) -> list[dict]:
    return json.loads(text)["rows"]


def line(rows: list[dict], **match) -> dict:
    found = [r for r in rows if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, found)
    return found[0]






def differences(markdown: str) -> str:
    (note,) = [n for n in notes(markdown) if n.startswith("Measured - published, in the published unit: ")]
    return note


def test_table4_difference_in_percent_and_published_lines():
    rows = [accuracy_row("bregnext50", "affectnet:/data/affectnet", 0.6)]
    out = lines(render_table4(rows, "json"))
    measured = line(out, Network="BReG-NeXt-50", Data="AffectNet")
    assert measured["Accuracy (%)"] == pytest.approx(60.0)
    assert measured["Accuracy (%) (pub.)"] == pytest.approx(68.5)
    assert measured["Accuracy (%) (diff.)"] == pytest.approx(-8.5)
    assert measured["Source"] == MEASURED and measured["Split"] == "val"
    assert line(out, Network="ResNet-32", Data="FER2013")["Source"] == NOT_RUN
    assert line(out, Network="Mollahosseini et al. [11]")["Source"] == NOT_RUNNABLE  # the paper's name for it
    assert len(out) == 22  # 6 networks x 2 databases + 10 other methods, the measured line in its place
    md = render_table4(rows, "markdown")
    affectnet = {r["Network"]: r["Accuracy (%)"] for r in md_table(md, "AffectNet")}
    assert list(affectnet)[5] == "BReG-NeXt-50 (a)" and affectnet["BReG-NeXt-50 (a)"] == "60.00 (68.50)"
    assert "(a) budget smoke, 2 epochs, best, seed 0" in notes(md)
    assert affectnet["ResNet-32"] == "(59.45)" and affectnet["Mollahosseini et al. [11] †"] == "(58.0)"
    assert "BReG-NeXt-50 (a), AffectNet: Accuracy (%) -8.50." in differences(md)
    fer = {r["Network"]: r["Accuracy (%)"] for r in md_table(md, "FER2013")}
    assert fer["ResNet-32"] == "(65.81*)" and fer["BReG-NeXt-50"] == "(71.53)"  # a doubtful cell is marked
    assert any(n.startswith("* Doubtful published value: BReG-NeXt Table 4's FER2013 cells") for n in notes(md))
    note = next(n for n in json.loads(render_table4(rows, "json"))["notes"] if n.startswith("Not run yet"))
    assert FILL in note and "ResNet-32 on AffectNet" in note and "BReG-NeXt-50 on AffectNet" not in note
    assert "measured on cpu; commit abc1234; data affectnet:/data/affectnet; budget smoke" in md


def test_seeds_averaged_and_runs_kept_apart():
    rows = [accuracy_row("bregnext50", "fer2013:data", 0.70, seed=0),
            accuracy_row("bregnext50", "fer2013:data", 0.72, seed=1),
            accuracy_row("bregnext50", "fer2013:data", 0.5, checkpoint="last")]
    out = lines(render_table4(rows, "json"))
    best = line(out, Network="BReG-NeXt-50", Data="FER2013", Run="budget smoke, 2 epochs, best, seeds 0,1")
    assert best["Accuracy (%)"] == pytest.approx(71.0) and best["Accuracy (%) (diff.)"] == pytest.approx(-0.53)
    last = line(out, Network="BReG-NeXt-50", Data="FER2013", Run="budget smoke, 2 epochs, last, seed 0")
    assert last["Accuracy (%) (diff.)"] == pytest.approx(50 - 71.53)
    md = render_table4(rows, "markdown")  # one line per run, each with its letter and its settings in a note
    fer = {r["Network"]: r["Accuracy (%)"] for r in md_table(md, "FER2013")}
    assert fer["BReG-NeXt-50 (a)"] == "71.00 ± 1.41 (71.53)" and fer["BReG-NeXt-50 (b)"] == "50.00 (71.53)"
    assert {"(a) budget smoke, 2 epochs, best, seeds 0,1", "(b) budget smoke, 2 epochs, last, seed 0"} <= set(notes(md))
    assert "BReG-NeXt-50 (a), FER2013: Accuracy (%) -0.53; BReG-NeXt-50 (b), FER2013: Accuracy (%) -21.53" in \
        differences(md)


def test_every_run_has_a_letter_of_its_own_past_z():
    rows = [accuracy_row("bregnext50", "fer2013:d", 0.5, epochs=e) for e in range(1, 29)]
    md = render_table4(rows, "markdown")
    names = [r["Network"] for r in md_table(md, "FER2013") if r["Network"].startswith("BReG-NeXt-50 (")]
    assert len(set(names)) == 28 and names[25:] == ["BReG-NeXt-50 (z)", "BReG-NeXt-50 (aa)", "BReG-NeXt-50 (bb)"]
    assert {"(z) budget smoke, 26 epochs, best, seed 0", "(aa) budget smoke, 27 epochs, best, seed 0"} <= set(notes(md))


def test_only_validation_lines_of_the_papers_data_are_compared():
    rows = [accuracy_row("bregnext50", "fer2013:data", 0.7, split="test"),
            accuracy_row("bregnext50", "synth", 0.9),
            accuracy_row("bregnext26", "affectnet:d", 0.5)]
    out = lines(render_table4(rows, "json"))
    test_split = line(out, Network="BReG-NeXt-50", Data="FER2013", Split="test")
    assert test_split["Accuracy (%)"] == pytest.approx(70.0) and test_split["Accuracy (%) (pub.)"] is None
    assert line(out, Network="BReG-NeXt-50", Data="FER2013", Split="-")["Source"] == NOT_RUN
    assert line(out, Network="BReG-NeXt-50", Data="synth")["Accuracy (%) (diff.)"] is None
    assert line(out, Network="BReG-NeXt-26")["Accuracy (%) (pub.)"] is None


def test_other_papers_runs_are_left_to_their_tables():
    rows = [accuracy_row("bregnext50", "affectnet:d", 0.6, loss="dacl"),
            accuracy_row("bregnet50", "affectnet:d", 0.6, paper="bregnet"),
            accuracy_row("bregnet50", "affectnet:d", 0.6, paper="bregnext")]
    out = lines(render_table4(rows, "json"))
    assert [r["Network"] for r in out if r["Source"] == MEASURED] == ["BReG-Net-50"]


def test_table5_average_is_the_support_weighted_mean():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 7, 400).tolist()
    y_pred = [t if rng.random() < 0.6 else int(rng.integers(0, 7)) for t in y_true]
    metrics = categorical(y_true, y_pred, FER2013)
    out = lines(render_table5([evaluate_row("bregnext50", "fer2013:data", metrics)], "json"))
    ours = [r for r in out if r["Source"] == MEASURED]
    assert [r["Class"] for r in ours] == ["neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "average"]
    average = ours[-1]
    assert average["Precision"] == pytest.approx(metrics["weighted_precision"])
    assert average["Recall"] == pytest.approx(metrics["accuracy"])
    assert average["F1"] == pytest.approx(metrics["weighted_f1"])
    assert average["F1 (pub.)"] == pytest.approx(0.71)
    assert average["F1 (diff.)"] == pytest.approx(metrics["weighted_f1"] - 0.71)
    assert average["Support"] == 400
    disgust = line(ours, Class="disgust")
    assert disgust["Recall"] == pytest.approx(metrics["per_class"]["recall"][1])
    assert disgust["Recall (pub.)"] == pytest.approx(0.12) and disgust["Support"] == y_true.count(1)
    # published only: BReG-NeXt-50 on AffectNet, its eight classes and the average
    assert sum(r["Source"] == NOT_RUN for r in out) == 9
    md = render_table5([evaluate_row("bregnext50", "fer2013:data", metrics)], "markdown")
    shown = {r["Class"]: r for r in md_table(md, "FER2013")}
    assert shown["disgust"]["Network"] == "BReG-NeXt-50 (a)" and shown["average"]["Support"] == "400"
    assert shown["disgust"]["Recall"] == f"{disgust['Recall']:.2f} (0.12)"
    # the differences, one entry per class, each named by its class
    assert all(f"BReG-NeXt-50 (a), FER2013, {r['Class']}: Precision " in differences(md) for r in ours)
    assert f"FER2013, disgust: Precision {disgust['Precision (diff.)']:+.2f}, Recall {disgust['Recall (diff.)']:+.2f}" \
        in differences(md)


def test_weighted_average_leaves_out_undefined_classes():
    assert weighted_average([0.5, None, 1.0], [2, 0, 6]) == pytest.approx((0.5 * 2 + 1.0 * 6) / 8)
    assert weighted_average([None, None], [0, 0]) is None
    y_true, y_pred = [0, 0, 1, 1, 1, 3], [0, 1, 1, 1, 0, 3]  # class 2 neither true nor predicted
    metrics = categorical(y_true, y_pred, AFFECTNET[:4])
    out = lines(render_table5([evaluate_row("bregnext32", "synth", metrics)], "json"))
    average = line(out, Network="BReG-NeXt-32", Class="average")
    assert average["Precision"] == pytest.approx(metrics["weighted_precision"])
    assert line(out, Network="BReG-NeXt-32", Class="sad")["Precision"] is None
    assert average["Precision (pub.)"] is None  # synth data: nothing published to compare with


def test_table3_counts_of_the_loaded_splits():
    counts = [40, 5, 60, 90, 70, 45, 62]  # FER2013's order: anger .. neutral
    rows = [evaluate_row(m, "fer2013:data", {"class_names": FER2013, "class_counts": counts, "accuracy": 0.5})
            for m in ("bregnext50", "resnet32")]  # one split, counted once
    out = lines(render_table3(rows, "json"))
    disgust = line(out, Data="FER2013", Class="disgust")
    assert disgust["Images"] == 5 and disgust["Images (pub.)"] == 547 and disgust["Images (diff.)"] == -542
    assert disgust["Share %"] == pytest.approx(100 * 5 / sum(counts))
    assert disgust["Share % (pub.)"] == pytest.approx(100 * 547 / 35887)
    assert [r["Class"] for r in out if r["Data"] == "FER2013"][:3] == ["neutral", "happy", "sad"]
    assert {r["Source"] for r in out if r["Data"] == "AffectNet"} == {NOT_RUN} and len(out) == 7 + 8
    md = render_table3(rows, "markdown")
    fer = {r["Class"]: r for r in md_table(md, "FER2013")}
    assert fer["disgust"] == {"Class": "disgust", "Images": "5 (547)", "Share %": "1.34 (1.52)"}
    assert "disgust, FER2013: Images -542, Share % -0.18" in differences(md)
    assert md_table(md, "AffectNet")[0] == {"Class": "neutral", "Images": "(80,276)", "Share %": "(25.17)"}
    assert "AffectNet (any split)" in md


def test_tables_6_and_7_dimensional():
    metrics = {"rmse_valence": 0.3, "rmse_arousal": 0.31, "rmse_total": 0.305, "cc_valence": 0.5, "cc_arousal": 0.4,
               "ccc_valence": 0.45, "ccc_arousal": 0.3, "sagr_valence": 0.8, "sagr_arousal": 0.7, "n_samples": 50}
    rows = [evaluate_row("bregnext50", "affwild:data/affwild", metrics, task="dimensional", loss="mse")]
    t6 = line(lines(render_table6(rows, "json")), Network="BReG-NeXt-50", Data="Aff-Wild")
    assert t6["RMSE valence (diff.)"] == pytest.approx(0.3 - 0.2644)
    assert t6["RMSE total (pub.)"] == pytest.approx(0.2882) and t6["Source"] == MEASURED
    t7 = lines(render_table7(rows, "json"))
    ours = line(t7, Network="BReG-NeXt-50", Data="Aff-Wild")  # CC, CCC and SAGR as column groups of one line
    assert ours["CC Valence"] == 0.5 and ours["CC Valence (diff.)"] == pytest.approx(0.08)
    assert ours["SAGR Arousal (diff.)"] == pytest.approx(-0.05) and ours["CCC Arousal (pub.)"] == pytest.approx(0.31)
    assert {r["Source"] for r in t7 if r["Data"] == "AffectNet"} == {NOT_RUN} and len(t7) == 2
    md7 = render_table7(rows, "markdown")
    (aff_wild,) = md_table(md7, "Aff-Wild")
    assert aff_wild["Network"] == "BReG-NeXt-50 (a)" and aff_wild["CC Valence"] == "0.50 (0.42)"
    assert aff_wild["SAGR Arousal"] == "0.70 (0.75)" and "SAGR Arousal -0.05" in differences(md7)
    assert render_table6(rows, "json") == render_table6(rows + [accuracy_row("bregnext50", "affwild:x", 0.5)],
                                                        "json")  # categorical rows are not Table 6's


@pytest.mark.parametrize("command,stem,renderer", TABLES)
def test_no_rows_published_only_with_the_filling_command(command, stem, renderer):
    assert command == "evaluate" and stem.startswith("bregnext_table_")
    data = json.loads(renderer([], "json"))
    assert data["rows"] and {r["Source"] for r in data["rows"]} <= {NOT_RUN, NOT_RUNNABLE}
    assert any("fills these lines" in n and "python -m bench." in n for n in data["notes"])
    assert "published values only" in data["caption"]
    assert "published only" in renderer([], "csv")
    for fmt in ("markdown", "latex"):  # said in the caption; no cell holds a measured value
        assert "published values only: no evaluation rows yet" in renderer([], fmt)
    md = renderer([], "markdown")
    blocks = re.findall(r"^\*([^*].*)\*$", md, re.MULTILINE)
    assert len(blocks) == 2  # the paper's two data sets
    cells = [v for block in blocks for row in md_table(md, block) for k, v in row.items()
             if k not in ("Network", "Class")]
    assert cells and all(re.fullmatch(r"\(.+\)|-", v) for v in cells), cells


def test_markdown_and_latex_of_measured_tables():
    rows = [accuracy_row("bregnext50", "affectnet:/d/aff_net", 0.6)]
    tex = render_table4(rows, "latex")
    assert r"\begin{tabular}" in tex and "BReG-NeXt-50" in tex and "-8.50" in tex and r"aff\_net" in tex
    assert render_table4(rows, "csv").splitlines()[0].startswith("Network,Data,Split,Run,Accuracy (%)")


def test_python_m_reports_writes_the_paper_tables(tmp_path, capsys):
    store = tmp_path / "evaluate.jsonl"
    for row in (accuracy_row("bregnext50", "affectnet:d", 0.6),
                evaluate_row("bregnext50", "affwild:d", {"rmse_valence": 0.3}, task="dimensional")):
        ResultsStore(store).append(row)
    out = tmp_path / "tables"
    assert main([str(store), "--out-dir", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    for _, stem, _ in TABLES:
        assert {f"{stem}.md", f"{stem}.tex"} <= names
    assert {"dacl_table_2_affectnet.md", "caf_table_3_affwild.tex"} <= names
    md = (out / "bregnext_table_4_accuracy.md").read_text()
    assert "| BReG-NeXt-50 (a) " in md and "60.00 (68.50)" in md and "commit abc1234" in md
    assert "BReG-NeXt-50 (a), AffectNet: Accuracy (%) -8.50" in differences(md)
    assert (out / "bregnext_table_4_accuracy.tex").read_text().startswith("% reports:")


def test_a_reproduction_without_evaluations_writes_published_only_tables(tmp_path, capsys):
    """A store of training epochs of a reproduction (config "paper") gets the paper tables, published only;
    one without such rows gets none (test_reports_cli)."""
    store = tmp_path / "train.jsonl"
    row = make_row("train", {"model": "bregnext50", "data": "synth", "epoch": 1, "paper": "bregnext"},
                   {"accuracy": 0.5})
    row["env"] = dict(ENV)
    ResultsStore(store).append(row)
    assert main([str(store), "--out-dir", str(tmp_path / "o"), "--format", "json"]) == 0
    table = json.loads((tmp_path / "o" / "bregnext_table_4_accuracy.json").read_text())
    assert "published values only" in table["caption"] and any(FILL in n for n in table["notes"])
    assert {r["Source"] for r in table["rows"]} == {NOT_RUN, NOT_RUNNABLE}
    assert (tmp_path / "o" / "caf_table_1_affectnet.json").exists()


@pytest.mark.parametrize("broken", ["per_class", "class_counts"])
def test_a_malformed_evaluation_row_is_one_line(tmp_path, capsys, broken):
    """The table that cannot show the row leaves it out with one warning naming the store's line and the fault;
    the other tables (and that one, from its published values) are still written."""
    metrics = categorical([0, 1, 2], [0, 1, 1], FER2013[:3])
    if broken == "per_class":
        metrics["per_class"]["recall"] = metrics["per_class"]["recall"][:2]
    else:
        metrics["class_counts"] = [1, 2]
    store = tmp_path / "evaluate.jsonl"
    ResultsStore(store).append(evaluate_row("bregnext50", "fer2013:d", metrics))
    capsys.readouterr()
    assert main([str(store), "--out-dir", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"reports: warning: {store}:1: table bregnext_table_") and "\n" not in err
    assert "evaluate row of bregnext50 on fer2013:d" in err and broken in err
    stem = "bregnext_table_5_per_class" if broken == "per_class" else "bregnext_table_3_class_counts"
    assert stem in err and (tmp_path / "o" / f"{stem}.md").exists()


def test_register_adds_a_table_to_a_command_and_replaces_a_stem(tmp_path, monkeypatch, capsys):
    from reports import build

    monkeypatch.setattr(build, "TABLES", {k: list(v) for k, v in build.TABLES.items()})
    build.register("train", "extra", lambda rows, fmt, caption="": f"{len(rows)} rows\n")
    build.register("train", "extra", lambda rows, fmt, caption="": f"{len(rows)} rows, replaced\n")
    assert [s for s, _ in build.TABLES["train"]] == ["training_runs", "extra"]
    store = tmp_path / "t.jsonl"
    row = make_row("train", {"model": "bregnext26", "epoch": 1}, {"accuracy": 0.5})
    row["env"] = dict(ENV)
    ResultsStore(store).append(row)
    assert main([str(store), "--out-dir", str(tmp_path / "o"), "--format", "markdown"]) == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["extra.md", "training_runs.md"]
    assert (tmp_path / "o" / "extra.md").read_text() == "1 rows, replaced\n"
