"""DACL Tables 1-2 and CAF Tables 1-4: this harness's networks trained with the papers' losses are measured
lines compared with the paper's own result for that loss; every published line is kept, marked not runnable
here; the note naming what fills the measured lines when there are none; Markdown and LaTeX render."""

from __future__ import annotations

import json

import pytest

from bench.results import make_row
from reports import published
from reports.dacl_caf_tables import (
    TABLES,
    render_caf_table1,
    render_caf_table3,
    render_caf_table4,
    render_dacl_table1,
    render_dacl_table2,
)
from reports.paper_tables import MEASURED, NOT_RUNNABLE

ENV = {"device": "cpu", "git_commit": "abc1234"}
DIMENSIONAL = {"rmse_valence": 0.25, "rmse_arousal": 0.2, "cc_valence": 0.6, "cc_arousal": 0.5,
               "ccc_valence": 0.55, "ccc_arousal": 0.45, "sagr_valence": 0.7, "sagr_arousal": 0.75}


def evaluate_row(data: str, loss: str, metrics: dict, *, task: str = "categorical", split: str = "val",
                 model: str = "bregnext50", **config) -> dict:
    row = make_row("evaluate", {"model": model, "data": data, "task": task, "loss": loss, "seed": 0, "split": split,
                                "checkpoint": "best", **config}, metrics)
    row["env"] = dict(ENV)
    return row


def lines(text: str) -> list[dict]:
    return json.loads(text)["rows"]


def measured(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["Source"] == MEASURED]


def test_dacl_run_compared_with_the_papers_dacl():
    rows = [evaluate_row("affectnet:/d", "dacl", {"accuracy": 0.6, "macro_recall": 0.45})]
    out = lines(render_dacl_table2(rows, "json"))
    [ours] = measured(out)
    assert ours["Method"] == "BReG-NeXt-50 + dacl loss" and ours["Data"] == "AffectNet"
    assert ours["Accuracy (%)"] == pytest.approx(60.0)
    assert ours["Accuracy (%) (pub.)"] == pytest.approx(65.2)
    assert ours["Accuracy (%) (diff.)"] == pytest.approx(-5.2)
    assert ours["Average accuracy (%)"] == pytest.approx(45.0) and ours["Average accuracy (%) (pub.)"] is None
    others = [r for r in out if r["Source"] != MEASURED]
    assert {r["Source"] for r in others} == {NOT_RUNNABLE}
    assert [r["Method"] for r in others] == list(published.table("dacl", "2")["row"])
    assert "-5.20" in render_dacl_table2(rows, "markdown")


def test_softmax_baseline_only_from_a_dacl_reproduction():
    rows = [evaluate_row("affectnet:/d", "ce", {"accuracy": 0.62}, paper="dacl"),
            evaluate_row("affectnet:/d", "ce", {"accuracy": 0.99}),
            evaluate_row("affectnet:/d", "focal", {"accuracy": 0.99}, paper="dacl")]
    [ours] = measured(lines(render_dacl_table2(rows, "json")))
    assert ours["Method"] == "BReG-NeXt-50 + ce loss"
    assert ours["Accuracy (%) (diff.)"] == pytest.approx(62 - 63.86)


def test_runs_on_other_data_are_shown_but_not_compared():
    rows = [evaluate_row("synth", "dacl", {"accuracy": 0.9}), evaluate_row("affectnet:/d", "dacl", {"accuracy": 0.6},
                                                                          split="test")]
    ours = measured(lines(render_dacl_table2(rows, "json")))
    assert [(r["Data"], r["Split"]) for r in ours] == [("synth", "val"), ("AffectNet", "test")]
    assert all(r["Accuracy (%) (pub.)"] is None for r in ours)
    # RAF-DB has no loader: DACL Table 1 is the published lines alone
    t1 = json.loads(render_dacl_table1(rows, "json"))
    assert {r["Source"] for r in t1["rows"]} == {NOT_RUNNABLE} and len(t1["rows"]) == 13
    assert any("no RAF-DB loader" in n for n in t1["notes"])


def test_av_runs_by_data_set():
    rows = [evaluate_row("affwild:/w", "av", DIMENSIONAL, task="dimensional"),
            evaluate_row("affectnet:/a", "av", DIMENSIONAL, task="dimensional"),
            evaluate_row("affwild:/w", "mse", DIMENSIONAL, task="dimensional")]
    t3 = measured(lines(render_caf_table3(rows, "json")))
    assert {r["Data"] for r in t3} == {"Aff-Wild"} and [r["Metric"] for r in t3] == ["RMSE", "SAGR", "PCC", "CCC"]
    rmse, pcc = t3[0], t3[2]
    assert rmse["Valence"] == 0.25 and rmse["Valence (pub.)"] == pytest.approx(0.22)  # CAF's ResNet18
    assert rmse["Valence (diff.)"] == pytest.approx(0.03)
    assert pcc["Arousal"] == 0.5 and pcc["Arousal (diff.)"] == pytest.approx(0.5 - 0.57)  # PCC is the CC key
    t1 = measured(lines(render_caf_table1(rows, "json")))
    assert {r["Data"] for r in t1} == {"AffectNet"} and [r["Metric"] for r in t1] == ["RMSE", "PCC", "CCC"]
    assert t1[2]["Valence (diff.)"] == pytest.approx(0.55 - 0.83)
    assert measured(lines(render_caf_table4(rows, "json"))) == []


@pytest.mark.parametrize("command,stem,renderer", TABLES)
def test_no_rows_is_published_only(command, stem, renderer):
    data = json.loads(renderer([], "json"))
    assert command == "evaluate" and data["rows"]
    assert {r["Source"] for r in data["rows"]} == {NOT_RUNNABLE}
    assert "published values only" in data["caption"]
    fill = [n for n in data["notes"] if n.startswith("No run with")]
    if stem in ("dacl_table_2_affectnet", "caf_table_1_affectnet", "caf_table_3_affwild"):
        assert len(fill) == 1 and "python -m bench.reproduce " in fill[0] and "--loss" in fill[0]
    else:  # no run of this harness can fill these (no loader, or no critic): no promise that one will
        assert fill == []
    md, tex = renderer([], "markdown"), renderer([], "latex")
    assert NOT_RUNNABLE in md and "not runnable here" in tex and r"\begin{tabular}" in tex


def test_caption_names_the_runs_provenance():
    rows = [evaluate_row("affectnet:/d", "dacl", {"accuracy": 0.6}, budget="short")]
    caption = json.loads(render_dacl_table2(rows, "json"))["caption"]
    assert caption.startswith("DACL Table 2")
    assert "measured on cpu; commit abc1234; data affectnet:/d; budget short" in caption
