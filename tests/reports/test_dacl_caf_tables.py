"""DACL Tables 1-2 and CAF Tables 1-4: the papers' own networks and methods trained here take the paper's line
and are compared with it, other networks are extra lines, the cited methods stay published only; the note
naming what fills the runnable lines; Markdown and LaTeX render."""

from __future__ import annotations

import json

import pytest

from harness.results_store import make_row
from reports import published
from reports.dacl_caf_tables import (
    TABLES,
    render_caf_table1,
    render_caf_table2,
    render_caf_table3,
    render_caf_table4,
    render_dacl_table1,
    render_dacl_table2,
)
from reports.paper_tables import MEASURED, NOT_RUN, NOT_RUNNABLE
from reports.render import read_markdown as md_table
from reports.render import read_notes as notes
from reports.row_names import row_title

ENV = {"device": "cpu", "git_commit": "abc1234"}
DIMENSIONAL = {"rmse_valence": 0.25, "rmse_arousal": 0.2, "cc_valence": 0.6, "cc_arousal": 0.5,
               "ccc_valence": 0.55, "ccc_arousal": 0.45, "sagr_valence": 0.7, "sagr_arousal": 0.75}


def evaluate_row(data: str, loss: str, metrics: dict, *, task: str = "categorical", split: str = "val",
                 model: str = "bregnext50", **config) -> dict:
    row = make_row("evaluate", {"model": model, "data": data, "task": task, "loss": loss, "seed": 0, "split": split,
                                "checkpoint": "best"} | config, metrics)
    row["env"] = dict(ENV)
    return row


def lines(text: str) -> list[dict]:
    return json.loads(text)["rows"]


def measured(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["Source"] == MEASURED]


def pub(paper: str, table: str, row: str, column: str) -> float:
    return float(published.lookup(paper, table, row, column)["value"])






def by_method(rows: list[dict]) -> dict[str, dict]:
    out = {r["Method"]: r for r in rows}
    assert len(out) == len(rows), [r["Method"] for r in rows]  # one line per method
    return out


def test_dacl_on_resnet18_takes_the_papers_line_and_other_networks_are_extra_lines():
    rows = [evaluate_row("rafdb:/r", "dacl", {"accuracy": 0.8, "macro_recall": 0.7}, model="tv_resnet18"),
            evaluate_row("rafdb:/r", "ce", {"accuracy": 0.75}, model="tv_resnet18", paper="dacl"),
            evaluate_row("rafdb:/r", "dacl", {"accuracy": 0.6}, model="bregnext50")]
    out = lines(render_dacl_table1(rows, "json"))
    names = [r["Method"] for r in out]
    ours = {r["Method"]: r for r in measured(out)}
    assert names.index("ResNet-18 (torchvision) + DACL") == list(published.table("dacl", "1")["row"].unique()).index(
        "dacl")  # in the paper's DACL line's place
    dacl = ours["ResNet-18 (torchvision) + DACL"]
    assert dacl["Data"] == "RAF-DB" and dacl["Accuracy (%)"] == pytest.approx(80.0)
    assert dacl["Accuracy (%) (diff.)"] == pytest.approx(80.0 - pub("dacl", "1", "dacl", "rafdb_accuracy"))
    assert dacl["Average accuracy (%) (diff.)"] == pytest.approx(70.0 - pub("dacl", "1", "dacl", "rafdb_avg_accuracy"))
    soft = ours["ResNet-18 (torchvision) + softmax loss"]
    assert soft["Accuracy (%) (diff.)"] == pytest.approx(75.0 - pub("dacl", "1", "softmax_loss", "rafdb_accuracy"))
    extra = ours["BReG-NeXt-50 + DACL"]  # compared with DACL's own result, kept beside the paper's line
    assert names[-1] == "BReG-NeXt-50 + DACL" and extra["Accuracy (%) (pub.)"] == pytest.approx(87.78)
    assert "DACL (ours)" not in names and "Softmax loss" not in names  # both taken by the ResNet-18 runs
    assert row_title("dacl", "dacl") == "DACL (ours)" and row_title("dacl", "softmax_loss") == "Softmax loss"
    # center loss (Wen et al.) is runnable here (--loss center) but has no run in these rows
    assert {r["Method"] for r in out if r["Source"] not in (MEASURED, NOT_RUNNABLE)} == {"Center loss [35]"}
    assert by_method(out)["FSN [38]"]["Source"] == NOT_RUNNABLE  # another paper's method, by the paper's name
    md = {r["Method"]: r for r in md_table(render_dacl_table1(rows, "markdown"), "RAF-DB")}
    assert md["ResNet-18 (torchvision) + DACL (b)"] == {"Method": "ResNet-18 (torchvision) + DACL (b)",
                                                        "Accuracy (%)": "80.00 (87.78)",
                                                        "Average accuracy (%)": "70.00 (80.44)"}
    assert md["ResNet-18 (torchvision) + softmax loss (a)"]["Accuracy (%)"] == "75.00 (86.54)"
    assert md["BReG-NeXt-50 + DACL (b)"]["Accuracy (%)"] == "60.00 (87.78)"
    assert md["Center loss [35]"]["Accuracy (%)"] == "(87.06)" and md["FSN [38] †"]["Accuracy (%)"] == "(81.10)"


def test_center_loss_takes_its_line_and_seeds_show_mean_and_sd():
    rows = [evaluate_row("rafdb:/r", "center", {"accuracy": a}, model="tv_resnet18", paper="dacl", seed=s)
            for s, a in ((0, 0.80), (1, 0.84))]
    text = render_dacl_table1(rows, "markdown")
    (line,) = [r for r in measured(lines(render_dacl_table1(rows, "json")))]
    assert line["Method"] == "ResNet-18 (torchvision) + center loss"
    assert line["Accuracy (%)"] == pytest.approx(82.0) and line["Accuracy (%) (sd)"] == pytest.approx(2.828, abs=1e-3)
    assert line["Accuracy (%) (diff.)"] == pytest.approx(82.0 - pub("dacl", "1", "center_loss_ref35", "rafdb_accuracy"))
    shown = {r["Method"]: r["Accuracy (%)"] for r in md_table(text, "RAF-DB")}
    assert shown["ResNet-18 (torchvision) + center loss (a)"] == "82.00 ± 2.83 (87.06)"
    assert "(a) best, center, seeds 0,1" in notes(text)


def test_dacl_table2_compares_7_class_affectnet_only():
    rows = [evaluate_row("affectnet7:/d", "dacl", {"accuracy": 0.6}, model="tv_resnet18"),
            evaluate_row("affectnet:/d", "dacl", {"accuracy": 0.5}, model="tv_resnet18"),
            evaluate_row("affectnet7:/d", "ce", {"accuracy": 0.99}, model="tv_resnet18"),  # not a DACL reproduction
            evaluate_row("affectnet7:/d", "focal", {"accuracy": 0.99}, paper="dacl")]
    ours = measured(lines(render_dacl_table2(rows, "json")))
    assert [(r["Method"], r["Data"]) for r in ours] == [("ResNet-18 (torchvision) + DACL", "AffectNet"),
                                                        ("ResNet-18 (torchvision) + DACL", "AffectNet (8 classes)")]
    assert ours[0]["Accuracy (%) (diff.)"] == pytest.approx(60 - pub("dacl", "2", "dacl", "affectnet_accuracy"))
    assert ours[1]["Accuracy (%) (pub.)"] is None


def test_runs_on_other_data_are_shown_but_not_compared():
    rows = [evaluate_row("synth", "dacl", {"accuracy": 0.9}), evaluate_row("affectnet7:/d", "dacl", {"accuracy": 0.6},
                                                                          split="test")]
    ours = measured(lines(render_dacl_table2(rows, "json")))
    assert [(r["Data"], r["Split"]) for r in ours] == [("synth", "val"), ("AffectNet", "test")]
    assert all(r["Accuracy (%) (pub.)"] is None for r in ours)
    assert measured(lines(render_dacl_table1(rows, "json"))) == []  # RAF-DB's table takes RAF-DB runs only


def caf_row(data: str, model: str = "tv_resnet18", margin: str | None = "adaptive", adversary: str = "caf",
            **config) -> dict:
    extra = {"method": "caf", "caf_margin": margin, "caf_adversary": adversary} if margin else {}
    return evaluate_row(data, "av", DIMENSIONAL, task="dimensional", model=model, **extra, **config)


def params_m(model: str) -> float:
    """The trainable parameters (millions) of a network as this harness builds it for a dimensional run."""
    import torch

    from breg_models import create_model

    with torch.device("meta"):
        net = create_model(model, task="dimensional")
    return sum(p.numel() for p in net.parameters() if p.requires_grad) / 1e6


def test_caf_runs_by_data_set_and_network():
    rows = [caf_row("affwild:/w"), caf_row("affectnet:/a", "tv_alexnet_tuned"),
            caf_row("afewva:/v", "bregnext50"), evaluate_row("affwild:/w", "mse", DIMENSIONAL, task="dimensional")]
    t3 = measured(lines(render_caf_table3(rows, "json")))
    (line,) = t3  # one line per run: the metrics are column groups
    assert line["Method"] == "ResNet-18 (torchvision) + CAF (Delta)"
    assert [k for k in line if k.endswith(" Valence")] == ["RMSE Valence", "SAGR Valence", "PCC Valence",
                                                           "CCC Valence"]  # the paper's column order
    rmse = pub("caf", "3", "ours_resnet18", "affwild_rmse_valence")
    assert line["RMSE Valence (diff.)"] == pytest.approx(0.25 - rmse)
    assert line["PCC Arousal (diff.)"] == pytest.approx(0.5 - pub("caf", "3", "ours_resnet18", "affwild_pcc_arousal"))
    md3 = render_caf_table3(rows, "markdown")
    shown = {r["Method"]: r for r in md_table(md3, "Aff-Wild")}
    assert shown["ResNet-18 (torchvision) + CAF (Delta) (a)"]["PCC Arousal"] == "0.50 (0.57)"
    assert row_title("caf", "ours_resnet18") not in shown  # the run took the paper's line
    assert shown["Hasani et al. 2017 †"]["RMSE Valence"] == "(0.27)"
    t1 = measured(lines(render_caf_table1(rows, "json")))
    (line,) = t1
    assert line["Method"] == "AlexNet (tuned, CAF) + CAF (Delta)"
    assert line["CCC Valence (diff.)"] == pytest.approx(0.55 - pub("caf", "1", "ours_alexnet_tuned",
                                                                     "affectnet_ccc_valence"))
    # Params: the paper's count in millions beside this harness's count of the network
    assert line["Params (M) (pub.)"] == pytest.approx(pub("caf", "1", "ours_alexnet_tuned", "params") / 1e6)
    assert line["Params (M)"] == pytest.approx(params_m("tv_alexnet_tuned"))
    assert line["Params (M) (diff.)"] == pytest.approx(line["Params (M)"] - line["Params (M) (pub.)"])
    md1 = {r["Method"]: r for r in md_table(render_caf_table1(rows, "markdown"), "AffectNet")}
    assert md1["AlexNet (tuned, CAF) + CAF (Delta) (a)"]["Params (M)"] == f"{params_m('tv_alexnet_tuned'):.1f} (3.6M)"
    assert md1["Mollahosseini et al. 2017, AlexNet †"]["Params (M)"] == "(61M)"
    t2 = measured(lines(render_caf_table2(rows, "json")))  # another network: compared with CAF's ResNet-18
    assert {r["Method"] for r in t2} == {"BReG-NeXt-50 + CAF (Delta)"}
    assert t2[0]["RMSE Valence (pub.)"] == pytest.approx(pub("caf", "2", "ours_resnet18", "afewva_rmse_valence"))
    assert by_method(lines(render_caf_table2(rows, "json")))["Ours, ResNet-18"]["Source"] == NOT_RUN


def test_caf_table4_margins_and_the_no_critic_baseline():
    rows = [caf_row("affectnet:/a"), caf_row("affectnet:/a", margin="constant:0.2"),
            caf_row("affectnet:/a", "tv_alexnet_tuned", margin="linear:0.1,0.005"),
            caf_row("affectnet:/a", margin=None, paper="caf"), caf_row("affectnet:/a", margin="constant:0.3"),
            caf_row("affectnet:/a", "tv_alexnet_tuned", adversary="spheregan"),
            caf_row("affectnet:/a", "tv_alexnet_tuned", adversary="none")]
    t4 = by_method(lines(render_caf_table4(rows, "json")))
    cases = {"ResNet-18 (torchvision) + CAF (Delta)": "ours_delta_resnet18",
             "ResNet-18 (torchvision) + CAF (constant kappa 0.2)": "ours_constant_kappa_resnet18",
             "AlexNet (tuned, CAF) + CAF (linear kappa' 0.1,0.005)": "ours_linear_kappa_alexnet_tuned",
             "ResNet-18 (torchvision) + AV loss, no critic": "adversarial_resnet18_no_critic",
             "AlexNet (tuned, CAF) + SphereGAN critic": "adversarial_alexnet_tuned_spheregan",
             "AlexNet (tuned, CAF) + AV loss, no critic": "adversarial_alexnet_tuned_no_critic"}
    for method, row in cases.items():
        line = t4[method]
        assert line["Source"] == MEASURED and row_title("caf", row) not in t4  # the paper's line is the run's
        assert line["SAGR Arousal (diff.)"] == pytest.approx(0.75 - pub("caf", "4", row, "affectnet_sagr_arousal"))
    assert t4["ResNet-18 (torchvision) + CAF (constant kappa 0.3)"]["RMSE Valence (pub.)"] is None
    assert t4["Adversarial, ResNet-18, GRAM-net critic"]["Source"] == NOT_RUN  # runnable now: --caf-adversary
    assert t4[row_title("caf", "ours_delta_alexnet_tuned")]["Source"] == NOT_RUN
    md = {r["Method"]: r for r in md_table(render_caf_table4(rows, "markdown"), "AffectNet")}
    assert md["ResNet-18 (torchvision) + CAF (Delta) (a)"]["SAGR Arousal"] == "0.75 (0.84)"
    assert md["ResNet-18 (torchvision) + CAF (constant kappa 0.3) (a)"]["RMSE Valence"] == "0.2500"  # not compared
    assert md["Adversarial, ResNet-18, GRAM-net critic"]["SAGR Arousal"] == "(0.82)"  # runnable: no †
    assert md["Hasani et al. 2020, BReG-NeXt †"]["Params (M)"] == "(3.1M)"
    # Table 4's ablations stay out of Table 1, whose ResNet-18 line is the Delta run
    assert {r["Method"] for r in measured(lines(render_caf_table1(rows, "json")))} == {
        "ResNet-18 (torchvision) + CAF (Delta)"}


@pytest.mark.parametrize("command,stem,renderer", TABLES)
def test_no_rows_is_published_only(command, stem, renderer):
    data = json.loads(renderer([], "json"))
    assert command == "evaluate" and data["rows"]
    assert {r["Source"] for r in data["rows"]} == {NOT_RUNNABLE, NOT_RUN}
    assert "published values only" in data["caption"]
    (fill,) = [n for n in data["notes"] if n.startswith("Not run yet")]
    assert "python -m bench.reproduce " + stem.split("_")[0] in fill
    md, tex = renderer([], "markdown"), renderer([], "latex")
    assert NOT_RUNNABLE in md and "not runnable here" in tex and r"\begin{tabular}" in tex


def test_caption_names_the_runs_provenance():
    rows = [evaluate_row("affectnet:/d", "dacl", {"accuracy": 0.6}, budget="short")]
    caption = json.loads(render_dacl_table2(rows, "json"))["caption"]
    assert caption.startswith("DACL Table 2")
    assert "measured on cpu; commit abc1234; data affectnet:/d; budget short" in caption


def test_the_epoch_picked_on_the_evaluated_split_is_its_own_labelled_line():
    """With a hold-out, best.pt is the held-out pick; best_val.pt, the epoch the validation split itself picks (the
    papers' test-set maximum), is a line of its own, labelled so."""
    rows = [evaluate_row("rafdb:/r", "dacl", {"accuracy": 0.8}, model="tv_resnet18"),
            evaluate_row("rafdb:/r", "dacl", {"accuracy": 0.83}, model="tv_resnet18", checkpoint="best_val")]
    ours = measured(lines(render_dacl_table1(rows, "json")))
    assert len(ours) == 2
    held, peeked = sorted(ours, key=lambda r: r["Accuracy (%)"])
    assert held["Accuracy (%)"] == pytest.approx(80.0) and "test-set maximum" not in held["Run"]
    assert peeked["Accuracy (%)"] == pytest.approx(83.0) and "test-set maximum" in peeked["Run"]


def test_a_synth_stand_in_is_in_its_data_sets_table_and_never_compared():
    """A smoke reproduction's run on synth standing in for RAF-DB: a line of DACL Table 1 (RAF-DB), labelled so,
    compared with nothing and taking no published line; not a line of Table 2."""
    rows = [evaluate_row("synth", "dacl", {"accuracy": 0.5}, model="tv_resnet18", budget="smoke", stands_for="rafdb")]
    out = lines(render_dacl_table1(rows, "json"))
    (ours,) = measured(out)
    assert ours["Data"] == "RAF-DB" and "synth stand-in for RAF-DB" in ours["Run"]
    assert ours["Accuracy (%)"] == pytest.approx(50.0) and ours["Accuracy (%) (pub.)"] is None
    assert by_method(out)["DACL (ours)"]["Source"] == NOT_RUN  # the paper's line stays unfilled
    md = render_dacl_table1(rows, "markdown")
    shown = {r["Method"]: r["Accuracy (%)"] for r in md_table(md, "RAF-DB")}
    assert shown["ResNet-18 (torchvision) + DACL (a)"] == "50.00" and shown["DACL (ours)"] == "(87.78)"
    assert "(a) budget smoke, synth stand-in for RAF-DB, best, dacl, seed 0" in notes(md)
    assert not any(n.startswith("Measured - published") for n in notes(md))
    assert measured(lines(render_dacl_table2(rows, "json"))) == []
