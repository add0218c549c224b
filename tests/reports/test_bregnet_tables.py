"""BReG-Net Tables I-VII, its parameter counts and its epoch times: published values alone, then measured
rows beside them with the difference; other papers' methods marked as not runnable here; a table no run fills
names the command that fills it; only the paper's recipe (losses, bypass, split) is compared."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from harness.results_store import ResultsStore, make_row
from reports import published
from reports.bregnet_tables import (
    EPOCH_FILL,
    FILL,
    PARAMS_FILL,
    TABLES,
    render_epoch_time,
    render_params,
    render_table_1,
    render_table_2,
    render_table_3,
    render_table_4,
    render_table_5,
    render_table_6,
    render_table_7,
)
from reports.paper_tables import MEASURED, NOT_RUN, NOT_RUNNABLE
from reports.render import read_markdown as md_table
from reports.render import read_notes as notes

ENV = {"device": "cpu", "git_commit": "abc1234"}
TABLE_IDS = {"bregnet_table_1": "I", "bregnet_table_2": "II", "bregnet_table_3": "III", "bregnet_table_4": "IV",
             "bregnet_table_5": "V", "bregnet_table_6": "VI", "bregnet_table_7": "VII",
             "bregnet_params": "epoch", "bregnet_epoch_time": "epoch"}
FILLS = {"evaluate": FILL, "flops": PARAMS_FILL, "epoch_time": EPOCH_FILL}


def evaluate_row(model: str, data: str, loss: str, metrics: dict, *, task: str = "categorical", seed: int = 0,
                 split: str = "val", **config) -> dict:
    """An evaluation row as `bench.evaluate` writes it for a run of the BReG-Net reproduction."""
    row = make_row("evaluate", {"model": model, "data": data, "task": task, "loss": loss, "seed": seed,
                                "bypass": None, "budget": "short", "paper": "bregnet", "split": split,
                                "checkpoint": "best", **config}, metrics)
    row["env"] = dict(ENV)
    return row


def csv_lines(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))




def md_line(markdown: str, heading: str | None, name: str, **cells: str) -> dict[str, str]:
    """The one line of a block whose first cell (the line's name, with its run letter or † mark) is ``name`` and
    whose other ``cells`` read as given."""
    hits = [line for line in md_table(markdown, heading)
            if next(iter(line.values())) == name and all(line[k] == v for k, v in cells.items())]
    assert len(hits) == 1, (heading, name, cells, md_table(markdown, heading))
    return hits[0]




def run_note(markdown: str, name: str) -> str:
    """The note that a line's run letter points to: 'NAME (b)' -> '(b) budget short, ...'."""
    letter = re.fullmatch(r".+ \(([a-z]+)\)", name).group(1)
    (note,) = [n for n in notes(markdown) if n.startswith(f"({letter}) ")]
    return note


def differences(markdown: str) -> str:
    (note,) = [n for n in notes(markdown) if n.startswith("Measured - published, in the published unit: ")]
    return note


def sources(text: str) -> set[str]:
    """The Source cells of a table's CSV or JSON lines."""
    rows = json.loads(text)["rows"] if text.startswith("{") else csv_lines(text)
    return {r["Source"] for r in rows}


def test_tables_list_every_paper_table_once():
    assert [(command, stem) for command, stem, _ in TABLES] == [
        *[("evaluate", f"bregnet_table_{i}") for i in range(1, 8)], ("flops", "bregnet_params"),
        ("epoch_time", "bregnet_epoch_time")]
    assert all(callable(renderer) for *_, renderer in TABLES)


@pytest.mark.parametrize("command,stem,renderer", TABLES, ids=[stem for _, stem, _ in TABLES])
def test_published_only_shows_every_value_and_names_the_command(command, stem, renderer):
    md = renderer([], "markdown")
    table = published.table("bregnet", TABLE_IDS[stem])
    if stem == "bregnet_params":
        table = table[table["column"] == "params"]
    elif stem == "bregnet_epoch_time":
        table = table[table["column"] == "epoch_time"]
    for printed in table["printed"]:
        assert f"| ({printed}) " in md, printed  # published alone, in parentheses: nothing measured
    assert sources(renderer([], "csv")) <= {NOT_RUN, NOT_RUNNABLE} and NOT_RUN in sources(renderer([], "csv"))
    assert not any(re.match(r"\([a-z]+\) ", n) for n in notes(md))  # no measured line, so no run letter
    assert FILLS[command] in md
    tex = renderer([], "latex")
    assert r"\begin{tabular}" in tex and r"\bottomrule" in tex
    assert FILLS[command].replace("_", r"\_") in tex
    doc = json.loads(renderer([], "json"))
    assert doc["rows"] and any(FILLS[command] in note for note in doc["notes"])
    assert {r["Source"] for r in doc["rows"]} == sources(renderer([], "csv"))


def test_other_papers_methods_are_marked_not_runnable():
    md2, md5 = render_table_2([], "markdown"), render_table_5([], "markdown")
    assert md_line(md2, "AffectNet", "Mollahosseini et al. [20] †")["Accuracy (%)"] == "(58.0)"
    assert md_line(md2, "FER2013", "Tang et al. [28] †")["Accuracy (%)"] == "(69.3)"
    assert md_line(md5, "Aff-Wild", "Hasani et al. [6] †")["RMSE valence"] == "(0.27)"
    assert f"† {NOT_RUNNABLE}: methods the paper compares with that this harness does not implement." in notes(md2)
    by_line = {(r["Network"], r["Data"]): r["Source"] for r in csv_lines(render_table_2([], "csv"))}
    assert by_line[("Mollahosseini et al. [20]", "AffectNet")] == by_line[("Tang et al. [28]", "FER2013")] \
        == NOT_RUNNABLE
    # the paper's own networks can be run: not yet, never "not runnable"
    assert md_line(md2, "AffectNet", "ResNet-110")["Accuracy (%)"] == "(58.20)"
    assert md_line(md2, "FER2013", "BReG-Net-39, weighted loss")["Accuracy (%)"] == "(69.49)"
    assert by_line[("ResNet-110", "AffectNet")] == by_line[("BReG-Net-39, weighted loss", "FER2013")] == NOT_RUN


def test_table_2_measured_beside_published_seeds_averaged():
    rows = [evaluate_row("bregnet39", "affectnet:/d", "weighted_ce", {"accuracy": 0.60}, seed=0),
            evaluate_row("bregnet39", "affectnet:/d", "weighted_ce", {"accuracy": 0.62}, seed=1),
            evaluate_row("resnet110", "fer2013:/d", "ce", {"accuracy": 0.7}),
            evaluate_row("bregnet39", "fer2013:/d", "focal", {"accuracy": 0.99})]  # not the paper's losses
    md = render_table_2(rows, "markdown")
    (name,) = [r["Network"] for r in md_table(md, "AffectNet") if r["Network"].startswith("BReG-Net-39, weighted")]
    assert md_line(md, "AffectNet", name)["Accuracy (%)"] == "61.00 ± 1.41 (63.54)"  # mean ± sd (published)
    assert run_note(md, name).endswith("weighted_ce, seeds 0,1")
    (resnet,) = [r["Network"] for r in md_table(md, "FER2013") if r["Network"].startswith("ResNet-110, regular")]
    assert md_line(md, "FER2013", resnet)["Accuracy (%)"] == "70.00 (66.48)"
    assert f"{name}, AffectNet: Accuracy (%) -2.54" in differences(md)
    assert f"{resnet}, FER2013: Accuracy (%) +3.52" in differences(md)
    assert "99.00" not in md
    by_line = {(r["Network"], r["Data"]): r for r in csv_lines(render_table_2(rows, "csv"))}
    weighted = by_line[("BReG-Net-39, weighted loss", "AffectNet")]
    assert float(weighted["Accuracy (%) (diff.)"]) == pytest.approx(-2.54)
    assert float(weighted["Accuracy (%) (sd)"]) == pytest.approx(2 ** 0.5) and weighted["Source"] == MEASURED
    assert weighted["Run"].endswith("seeds 0,1") and weighted["Split"] == "val"
    assert by_line[("BReG-Net-39, regular loss", "AffectNet")]["Source"] == NOT_RUN
    tex = render_table_2(rows, "latex")
    assert r"61.00 $\pm$ 1.41 (63.54)" in tex and "-2.54" in tex


def test_table_1_fills_the_column_of_the_runs_loss_only():
    rows = [evaluate_row("bregnet39", "fer2013:/d", "ce", {"accuracy": 0.64}, bypass="bregnet_h1"),
            evaluate_row("bregnet39", "affectnet:/d", "weighted_ce", {"accuracy": 0.65}, bypass="atan"),
            evaluate_row("resnet110", "affectnet:/d", "ce", {"accuracy": 0.5})]  # no Eq. 4 bypass: not Table I
    by_line = {(r["Network"], r["Data"]): r for r in csv_lines(render_table_1(rows, "csv"))}
    h1 = by_line[(r"BReG-Net-39, H1 = \(x - \log(e^x + 1)\)", "FER2013")]
    assert float(h1["Regular loss (%) (diff.)"]) == pytest.approx(64.0 - 65.80)
    assert h1["Weighted loss (%)"] == "" and float(h1["Weighted loss (%) (pub.)"]) == 66.21
    h3 = by_line[(r"BReG-Net-39, H3 = \(\arctan x\)", "AffectNet")]
    assert float(h3["Weighted loss (%) (diff.)"]) == pytest.approx(65.0 - 63.54) and h3["Regular loss (%)"] == ""
    assert not any(name.startswith("ResNet") for name, _ in by_line)
    md = render_table_1(rows, "markdown")
    (name,) = [r["Network"] for r in md_table(md, "FER2013") if "H1" in r["Network"]]
    assert name.startswith(r"BReG-Net-39, H1 = $x - \log(e^x + 1)$ (")  # the maths as Markdown maths
    assert md_line(md, "FER2013", name) == {"Network": name, "Regular loss (%)": "64.00 (65.80)",
                                             "Weighted loss (%)": "(66.21)"}
    assert f"{name}, FER2013: Regular loss (%) -1.80" in differences(md)
    h2 = r"BReG-Net-39, H2 = \(x \arctan x - \log(x^2 + 1) / 2\)"  # published-only lines named as measured ones
    assert md_line(md, "AffectNet", h2.replace(r"\(", "$").replace(r"\)", "$"))["Regular loss (%)"] == "(59.43)"
    assert by_line[(h2, "AffectNet")]["Source"] == NOT_RUN
    assert "--bypass bregnet_h1" in md  # how to fill one line by hand


def test_tables_3_and_4_split_by_loss_with_orig_and_norm():
    metrics = {"accuracy": 0.6, "macro_f1": 0.61, "norm_macro_f1": 0.66, "kappa": 0.5, "norm_kappa": 0.55,
               "krippendorff_alpha": 0.49, "mcc": 0.52, "ppv": 0.6, "norm_ppv": 0.7}
    rows = [evaluate_row("bregnet39", "affectnet:/d", "weighted_ce", metrics)]
    md3 = render_table_3(rows, "markdown")
    (name,) = {r["Network"] for r in md_table(md3, "AffectNet")}
    assert name.startswith("BReG-Net-39, weighted loss (") and "weighted_ce" in run_note(md3, name)
    f1 = md_line(md3, "AffectNet", name, Metric="F1-score")
    assert f1["Orig"] == "0.61 (0.63)" and f1["Norm"] == "0.66 (0.68)"
    assert md_line(md3, "AffectNet", name, Metric="alpha")["Norm"] == "(0.64)"  # no norm_ alpha measured
    # each difference named by its metric: Norm PPV 0.70 against 0.71
    assert f"{name}, AffectNet, F1-score: Orig -0.02, Norm -0.02" in differences(md3)
    assert f"{name}, AffectNet, PPV: Orig -0.02, Norm -0.01" in differences(md3)
    by_line = {(r["Data"], r["Metric"]): r for r in csv_lines(render_table_3(rows, "csv"))}
    assert float(by_line[("AffectNet", "PPV")]["Norm (diff.)"]) == pytest.approx(-0.01)
    assert float(by_line[("AffectNet", "F1-score")]["Orig"]) == pytest.approx(0.61)
    assert by_line[("AffectNet", "kappa")]["Source"] == MEASURED and by_line[("FER2013", "kappa")]["Source"] == NOT_RUN
    md4 = render_table_4(rows, "markdown")  # the regular-loss table: a weighted run is not compared there
    assert sources(render_table_4(rows, "csv")) == {NOT_RUN} and FILL in md4
    assert not any(n.startswith("Measured - published") for n in notes(md4))


def test_only_validation_lines_are_compared_and_synth_has_no_published_value():
    rows = [evaluate_row("bregnet39", "affectnet:/d", "ce", {"accuracy": 0.61}, split="test"),
            evaluate_row("bregnet39", "synth", "ce", {"accuracy": 0.3})]
    by_line = {(r["Data"], r["Split"]): r for r in csv_lines(render_table_2(rows, "csv"))
               if r["Network"] == "BReG-Net-39, regular loss"}
    assert by_line[("AffectNet", "test")]["Accuracy (%) (pub.)"] == ""
    assert by_line[("AffectNet", "-")]["Source"] == NOT_RUN  # the validation line is still unfilled
    assert by_line[("synth", "val")]["Accuracy (%) (pub.)"] == "" and float(by_line[("synth", "val")][
        "Accuracy (%)"]) == pytest.approx(30.0)
    md = render_table_2(rows, "markdown")
    (test_split,) = [r for r in md_table(md, "AffectNet") if r["Network"].startswith("BReG-Net-39, regular loss (")]
    assert test_split["Accuracy (%)"] == "61.00"  # measured alone: nothing compared
    assert run_note(md, test_split["Network"]).endswith("; split test (not compared)")
    assert md_line(md, "AffectNet", "BReG-Net-39, regular loss")["Accuracy (%)"] == "(60.03)"
    (synth,) = md_table(md, "synth")
    assert synth["Accuracy (%)"] == "30.00" and "split" not in run_note(md, synth["Network"])
    assert not any(n.startswith("Measured - published") for n in notes(md))


def test_dimensional_tables_take_each_network_to_its_own_table():
    b = {"rmse_valence": 0.27, "rmse_arousal": 0.30, "cc_valence": 0.5, "ccc_valence": 0.45, "sagr_arousal": 0.8}
    rows = [evaluate_row("bregnet39", "affwild:/d", "mse", b, task="dimensional"),
            evaluate_row("resnet110", "affectnet:/d", "mse", {**b, "cc_valence": 0.7}, task="dimensional"),
            evaluate_row("bregnet39", "affectnet:/d", "av", b, task="dimensional")]  # CAF's loss: not compared
    md5 = render_table_5(rows, "markdown")
    assert md_line(md5, "Aff-Wild", "BReG-Net-39 (a)")["RMSE valence"] == "0.2700 (0.2661)"
    assert md_line(md5, "AffectNet", "ResNet-110 (a)")["RMSE arousal"] == "0.3000 (0.3082)"
    assert "BReG-Net-39 (a), Aff-Wild: RMSE valence +0.0039" in differences(md5)  # 0.27 - 0.2661
    assert "ResNet-110 (a), AffectNet: RMSE valence +0.0007, RMSE arousal -0.0082" in differences(md5)
    assert md_line(md5, "AffectNet", "BReG-Net-39")["RMSE valence"] == "(0.2597)"  # the av run is not its line
    by5 = {(r["Network"], r["Data"]): r for r in csv_lines(render_table_5(rows, "csv"))}
    assert by5[("BReG-Net-39", "AffectNet")]["Source"] == NOT_RUN and len(by5) == 6
    md6, md7 = render_table_6(rows, "markdown"), render_table_7(rows, "markdown")
    b6 = md_line(md6, "Aff-Wild", "BReG-Net-39 (a)")
    assert b6["CC Valence"] == "0.50 (0.45)" and b6["CC Arousal"] == "(0.40)" and b6["SAGR Arousal"] == "0.80 (0.77)"
    assert "BReG-Net-39 (a), Aff-Wild: CC Valence +0.05, CCC Valence +0.02, SAGR Arousal +0.03" in differences(md6)
    assert "ResNet-110" not in md6
    assert md_line(md7, "AffectNet", "ResNet-110 (a)")["CC Valence"] == "0.70 (0.66)"
    assert "ResNet-110 (a), AffectNet: CC Valence +0.04" in differences(md7)
    assert "BReG-Net-39" not in md7.split("\n\n[")[0]
    by6 = {(r["Network"], r["Data"]): r for r in csv_lines(render_table_6(rows, "csv"))}
    assert float(by6[("BReG-Net-39", "Aff-Wild")]["SAGR Arousal (diff.)"]) == pytest.approx(0.03)
    assert by6[("BReG-Net-39", "AffectNet")]["Source"] == NOT_RUN


def flops_row(model: str, params: int, input_size: int = 64) -> dict:
    row = make_row("flops", {"model": model, "input_size": input_size, "task": "categorical", "num_classes": None,
                             "bypass": {"bregnet39": "atan", "resnet110": "identity"}[model],
                             "bypass_impl": "eager", "by_stage": False},
                   {"title": model, "depth": 0, "params_trainable": params, "macs": 10**9, "flops": 2 * 10**9})
    row["env"] = dict(ENV)
    return row


def test_params_table_measured_beside_4_9m_and_7_2m():
    md = render_params([flops_row("bregnet39", 2_258_952)], "markdown")
    line = md_line(md, None, "BReG-Net-39")  # no run settings to tell apart: no letter
    assert line["Params (M)"] == "2.3 (4.9M)" and line["Params ratio"] == "0.461"  # millions as the paper prints
    assert line["Conv layers"] == "39" and line["Weighted layers"] == "40"  # as the paper counts, as the harness
    assert "BReG-Net-39: Params (M) -2.6" in differences(md)
    assert md_line(md, None, "ResNet-110")["Params (M)"] == "(7.2M)" and PARAMS_FILL in md
    assert "0.46 x the paper's 4.9M" in md  # the spec's reason for the gap
    one = {r["Network"]: r for r in csv_lines(render_params([flops_row("bregnet39", 2_258_952)], "csv"))}
    assert float(one["BReG-Net-39"]["Params (M)"]) == pytest.approx(2.258952)
    assert float(one["BReG-Net-39"]["Params (M) (diff.)"]) == pytest.approx(2.258952 - 4.9)
    assert one["BReG-Net-39"]["Source"] == MEASURED and one["ResNet-110"]["Source"] == NOT_RUN
    both = csv_lines(render_params([flops_row("bregnet39", 2_258_952), flops_row("resnet110", 6_901_320)], "csv"))
    assert [float(r["Params ratio"]) for r in both] == pytest.approx([2_258_952 / 4.9e6, 6_901_320 / 7.2e6])
    assert PARAMS_FILL not in render_params([flops_row("bregnet39", 1), flops_row("resnet110", 1)], "markdown")


def epoch_row(model: str, seconds: float, epoch_size: int = 287_651) -> dict:
    row = make_row("epoch_time", {"model": model, "bypass_impl": "eager", "epoch_size": epoch_size,
                                  "batch_size": 128, "image_size": 64, "amp": "off", "channels_last": False,
                                  "steps": 100, "warmup_steps": 200, "device": "cuda", "seed": 0},
                   {"epoch_s": seconds, "images_per_s": epoch_size / seconds, "extrapolated": True})
    row["env"] = {**ENV, "device": "NVIDIA H100 80GB HBM3"}
    return row


def test_epoch_time_compares_seconds_and_the_ratio_to_bregnet():
    rows = [epoch_row("bregnet39", 20.0), epoch_row("resnet110", 50.0), epoch_row("bregnext50", 10.0)]
    md = render_epoch_time(rows, "markdown")
    b, r = md_line(md, None, "BReG-Net-39"), md_line(md, None, "ResNet-110")
    assert "BReG-NeXt" not in md.split("\n\n[1]")[0] and EPOCH_FILL not in md
    by_line = {line["Network"]: line for line in csv_lines(render_epoch_time(rows, "csv"))}
    assert float(by_line["BReG-Net-39"]["Epoch (s) (diff.)"]) == pytest.approx(20.0 - 750.21)
    assert float(by_line["ResNet-110"]["vs BReG-Net"]) == pytest.approx(2.5)
    assert float(by_line["ResNet-110"]["vs BReG-Net (diff.)"]) == pytest.approx(2.5 - 836.04 / 750.21)
    assert "BReG-Net-39: Epoch (s) -730.21" in differences(md)
    assert "ResNet-110: Epoch (s) -786.04, vs BReG-Net +1.3856" in differences(md)
    assert r["vs BReG-Net"] == "2.5000 (1.1144)"
    assert b["Epoch (s)"] == "20.00 (750.21)" and r["Epoch (s)"] == "50.00 (836.04)"  # measured (published)
    # a smaller epoch: its own seconds, the paper's AffectNet epoch beside, no difference in seconds
    small_md = render_epoch_time([epoch_row("bregnet39", 2.0, 28_709)], "markdown")
    small = md_line(small_md, None, "BReG-Net-39")
    assert small["Epoch (s)"] == "2.00" and "750.21 (AffectNet)" in small.values()
    assert "Epoch (s)" not in differences(small_md)
    (line, _) = csv_lines(render_epoch_time([epoch_row("bregnet39", 2.0, 28_709)], "csv"))
    assert float(line["Epoch (s) (pub.)"]) == 750.21 and line["Epoch (s) (diff.)"] == ""


def test_python_m_reports_writes_them(tmp_path):
    from reports.build import main

    store = ResultsStore(tmp_path / "r.jsonl")
    store.append(evaluate_row("bregnet39", "affectnet:/d", "weighted_ce", {"accuracy": 0.61}))
    assert main([str(store.path), "--out-dir", str(tmp_path / "out"), "--format", "markdown"]) == 0
    written = {p.stem for p in (tmp_path / "out").iterdir()}
    assert {stem for _, stem, _ in TABLES} <= written
    md = (tmp_path / "out" / "bregnet_table_2.md").read_text()
    assert md_line(md, "AffectNet", "BReG-Net-39, weighted loss (a)")["Accuracy (%)"] == "61.00 (63.54)"
    assert "BReG-Net-39, weighted loss (a), AffectNet: Accuracy (%) -2.54" in differences(md)
    assert EPOCH_FILL in (tmp_path / "out" / "bregnet_epoch_time.md").read_text()
