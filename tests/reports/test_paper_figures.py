"""The papers' result figures from evaluate and train rows: BReG-NeXt Fig. 6 / DACL Fig. 4 (confusion
matrices), BReG-NeXt Fig. 9 (error histograms) and BReG-Net Fig. 6 (loss curves)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reports import figure_data, figure_layout, figures

FER_CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
EDGES = list(np.linspace(-2.0, 2.0, 41))
ENV = {"device": "NVIDIA H100 80GB HBM3", "git_commit": "f00ba47"}


def plotting():
    pytest.importorskip("matplotlib", reason="figures need the optional 'plots' extra (matplotlib)")


@pytest.fixture
def figs(monkeypatch):
    """The matplotlib Figure objects drawn, in call order, beside the files written as usual."""
    seen = []
    save = figure_layout.save
    monkeypatch.setattr(figure_layout, "save", lambda fig, *a, **k: seen.append(fig) or save(fig, *a, **k))
    return seen


def unsaved(monkeypatch, seen):
    """From here on, figures are kept in ``seen`` and their paths returned, but not drawn into files."""
    monkeypatch.setattr(figure_layout, "save", lambda fig, out_dir, name, dpi: seen.append(fig) or [
        Path(out_dir) / f"{name}.{fmt}" for fmt in figures.FORMATS])


def train_config(model="bregnext50", data="fer2013:/data/fer2013.csv", task="categorical", **extra):
    return {"model": model, "data": data, "task": task, "epochs": 3, "batch_size": 128, "loss": "focal",
            "image_size": 64, "num_classes": 7 if task == "categorical" else None, "amp": "off", "seed": 0,
            "device": "cuda", "budget": "short", "paper": "bregnext", **extra}


def evaluate_row(metrics, split="val", **config):
    config = {**train_config(**config), "split": split, "checkpoint": "best"}
    return {"run_id": json.dumps(config, sort_keys=True), "command": "evaluate", "config": config,
            "metrics": metrics, "timings": {}, "env": ENV}


def categorical(confusion, names=FER_CLASSES, **config):
    return evaluate_row({"accuracy": 0.5, "confusion": confusion, "class_names": names,
                         "class_counts": [sum(r) for r in confusion]}, **config)


def dimensional(valence, arousal, **config):
    config = {"data": "affectnet:/data/affectnet", "task": "dimensional", **config}
    return evaluate_row({"rmse_total": 0.3, "error_hist": {"edges": EDGES, "valence": valence, "arousal": arousal}},
                        **config)


def train_row(epoch, loss_value, val, model="bregnext50", task="categorical", **config):
    config = {**train_config(model=model, task=task, **config), "epoch": epoch}
    metrics = {"train_loss": loss_value, "best_so_far": epoch == 1}
    metrics |= {"accuracy": val} if task == "categorical" else {"rmse_total": val}
    return {"run_id": json.dumps(config, sort_keys=True), "command": "train", "config": config, "metrics": metrics,
            "timings": {"epoch_s": 1.0}, "env": ENV}


def confusion(seed, classes=7, empty=None):
    counts = np.random.default_rng(seed).integers(0, 50, size=(classes, classes)) + np.eye(classes, dtype=int) * 100
    if empty is not None:
        counts[empty] = 0
    return counts.tolist()


def fer_and_affectnet():
    affectnet = ["neutral", "happy", "sad", "surprise", "fear", "disgust", "angry", "contempt"]
    return [categorical(confusion(1, empty=1)),
            categorical(confusion(2, classes=8), names=affectnet, data="affectnet:/data/affectnet", num_classes=8),
            categorical(confusion(3), model="resnet50")]


def titled(fig):
    return {ax.get_title(): ax for ax in fig.axes if ax.get_title()}


# --- frames ----------------------------------------------------------------------------------------------

FER = "BReG-NeXt (budget short), FER2013 val"  # the figure of the BReG-NeXt runs on FER2013's val split


def by_figure(frame):
    """{figure: [panels in order]}."""
    return {f: list(dict.fromkeys(g["panel"])) for f, g in frame.groupby("figure", sort=True)}


def test_confusion_rows_are_percent_of_the_true_class_and_keep_the_counts():
    rows = fer_and_affectnet()
    cells = figure_data.confusion_cells(rows)
    assert by_figure(cells) == {"BReG-NeXt (budget short), AffectNet val": ["BReG-NeXt-50"],
                                FER: ["BReG-NeXt-50", "ResNet-50"]}
    sums = cells.groupby(["figure", "panel", "true"], sort=False)["percent"].sum(min_count=1)
    empty = (FER, "BReG-NeXt-50", "disgust")  # no true 'disgust' samples: no percentages, not 0s
    assert np.isnan(sums[empty])
    assert sums.drop(empty).to_numpy() == pytest.approx(100.0)
    fer = cells[(cells["figure"] == FER) & (cells["panel"] == "BReG-NeXt-50")]
    assert fer["count"].to_numpy().reshape(7, 7).tolist() == rows[0]["metrics"]["confusion"]
    assert list(fer["true"].unique()) == FER_CLASSES  # the row's class order, not alphabetical
    assert set(cells["device"]) == {ENV["device"]} and set(cells["commit"]) == {"f00ba47"}
    assert set(cells["budget"]) == {"budget short: 3 epochs, batch 128, 64 px"}
    pd.testing.assert_frame_equal(cells, figure_data.confusion_cells(rows[::-1]))


def test_panels_name_what_else_differs_between_runs_and_pool_seeds():
    rows = [categorical(confusion(1), loss="focal"), categorical(confusion(2), loss="ce"),
            categorical(confusion(4), loss="ce", seed=1), categorical(confusion(3), split="test")]
    cells = figure_data.confusion_cells(rows)
    assert by_figure(cells) == {"BReG-NeXt (budget short), FER2013 test": ["BReG-NeXt-50"],
                                FER: ["BReG-NeXt-50, loss ce (2 seeds)", "BReG-NeXt-50, loss focal"]}
    pooled = cells[cells["panel"] == "BReG-NeXt-50, loss ce (2 seeds)"]["count"].to_numpy().reshape(7, 7)
    assert pooled.tolist() == (np.array(confusion(2)) + np.array(confusion(4))).tolist()  # seeds summed


def test_a_paper_table_with_more_runs_than_a_page_splits_where_it_reads_best():
    """BReG-Net's seven FER2013 runs: by loss (4 + 3 panels, ResNet-110 beside BReG-Net), not 6 + 1 by network;
    a network's runs name only what differs among them."""
    runs = [("resnet110", "ce", None)] + [("bregnet39", loss, f"bregnet_h{h}") for loss in ("ce", "weighted_ce")
                                           for h in (1, 2, 3)]
    rows = [categorical(confusion(k), model=m, loss=loss, bypass=b, paper="bregnet", lr=0.1 if b else 0.05)
            for k, (m, loss, b) in enumerate(runs)]
    split = by_figure(figure_data.confusion_cells(rows))
    assert split == {
        "BReG-Net (budget short), FER2013 val, loss ce": ["BReG-Net-39, bypass bregnet_h1", "BReG-Net-39, bypass "
                                                          "bregnet_h2", "BReG-Net-39, bypass bregnet_h3", "ResNet-110"],
        "BReG-Net (budget short), FER2013 val, loss weighted_ce": [f"BReG-Net-39, bypass bregnet_h{h}"
                                                                   for h in (1, 2, 3)]}
    assert all(len(panels) <= figures.MAX_PANELS for panels in split.values())


def test_error_counts_are_kept_bin_for_bin():
    rng = np.random.default_rng(0)
    rows = [dimensional(rng.integers(0, 99, 40).tolist(), rng.integers(0, 99, 40).tolist(), data=d)
            for d in ("affwild:/data/aff", "affectnet:/data/affectnet")]
    frame = figure_data.error_counts(rows)
    figures_of = ["BReG-NeXt (budget short), Aff-Wild val", "BReG-NeXt (budget short), AffectNet val"]
    assert by_figure(frame) == {f: ["BReG-NeXt-50"] for f in figures_of}
    for row, figure in zip(rows, figures_of, strict=True):
        panel = frame[frame["figure"] == figure]
        for dim in ("valence", "arousal"):
            bins = panel[panel["dimension"] == dim]
            assert bins["count"].tolist() == row["metrics"]["error_hist"][dim]
            assert bins["left"].tolist() == pytest.approx(EDGES[:-1]) and bins["right"].tolist() == pytest.approx(
                EDGES[1:])
    pd.testing.assert_frame_equal(frame, figure_data.error_counts(rows[::-1]))
    bad = dimensional([1] * 39, [1] * 40)
    with pytest.raises(ValueError, match="41 edges but 39 valence counts"):
        figure_data.error_counts([bad])


def test_training_curves_one_line_per_run_in_epoch_order():
    rows = [train_row(e, 2.0 / e, 0.3 + e / 10, loss=loss) for loss in ("focal", "ce") for e in (3, 1, 2)]
    rows += [train_row(e, 0.5 / e, 0.4 - e / 100, task="dimensional", data="affwild:/d", loss="mse")
             for e in (2, 1)]
    frame = figure_data.training_curves(rows)
    assert by_figure(frame) == {"BReG-NeXt (budget short), categorical": ["FER2013"],
                                "BReG-NeXt (budget short), dimensional": ["Aff-Wild"]}
    fer = frame[frame["panel"] == "FER2013"]
    assert sorted(set(fer["label"])) == ["BReG-NeXt-50, loss ce", "BReG-NeXt-50, loss focal"]
    line = fer[(fer["label"] == "BReG-NeXt-50, loss focal") & (fer["quantity"] == "train_loss")]
    assert line["epoch"].tolist() == [1, 2, 3] and line["value"].tolist() == pytest.approx([2.0, 1.0, 2 / 3])
    acc = fer[(fer["label"] == "BReG-NeXt-50, loss ce") & (fer["quantity"] == "val_accuracy")]
    assert acc["value"].tolist() == pytest.approx([40.0, 50.0, 60.0])  # percent
    aff = frame[frame["panel"] == "Aff-Wild"]
    assert set(aff["quantity"]) == {"train_loss", "val_rmse_total"} and set(aff["label"]) == {"BReG-NeXt-50"}
    assert "val_loss" not in set(frame["quantity"])  # not stored by bench.train, so not invented
    pd.testing.assert_frame_equal(frame, figure_data.training_curves(rows[::-1]))


def test_training_curves_of_many_runs_keep_a_panel_to_eight_short_labels():
    """CAF Table 4's runs of two encoders beside BReG-NeXt-50 (15 on AffectNet): a row per encoder, each run
    named by what sets it apart, not by its whole config."""
    methods = [{}, {"caf_adversary": "none"}, {"caf_adversary": "fishergan"}, {"caf_adversary": "spheregan"},
               {"caf_adversary": "gramnet"}, {"caf_margin": "constant:0.2"}, {"caf_margin": "linear:0.1,0.005"}]
    runs = [(m, method) for m in ("tv_resnet18", "tv_alexnet_tuned") for method in methods] + [("bregnext50", {})]
    rows = [train_row(1, 1.0, 0.3, model=m, task="dimensional", data="affectnet:/d", loss="av", paper="caf",
                      method="caf", **{"caf_adversary": "wgan", "caf_margin": "delta", **method}) for m, method in runs]
    frame = figure_data.training_curves(rows)
    labels = frame.groupby("panel")["label"].unique().map(sorted).to_dict()
    assert labels == {"AffectNet, BReG-NeXt-50": ["BReG-NeXt-50"],
                      **{f"AffectNet, {m}": sorted([m, "critic none", "critic fishergan", "critic spheregan",
                                                    "critic gramnet", "margin constant:0.2", "margin linear:0.1,0.005"])
                         for m in ("tv_resnet18", "tv_alexnet_tuned")}}
    assert set(frame["figure"]) == {"CAF (budget short), dimensional"}


# --- figures ---------------------------------------------------------------------------------------------

def written(paths, stems, folder):
    assert [p.name for p in paths] == [f"{stem}.{fmt}" for stem in stems for fmt in ("png", "pdf")]
    assert all(p.parent == folder for p in paths)
    assert all(p.read_bytes()[:4] == b"\x89PNG" and p.stat().st_size > 10_000 for p in paths[::2])
    assert all(p.read_bytes()[:5] == b"%PDF-" for p in paths[1::2])


def test_confusion_matrices_annotate_percent_and_name_the_classes_once(tmp_path, figs):
    plotting()
    rows = [fer_and_affectnet()[k] for k in (0, 2)]  # BReG-NeXt-50 and ResNet-50 on FER2013
    written(figures.confusion_matrices(figure_data.confusion_cells(rows), tmp_path),
            ["fig6_confusion_bregnext_budget_short_fer2013_val"], tmp_path)
    n = [np.sum(r["metrics"]["confusion"]) for r in rows]
    (fig,) = figs
    assert list(titled(fig)) == [f"BReG-NeXt-50, n={n[0]}", f"ResNet-50, n={n[1]}"]
    assert fig.get_suptitle().startswith(FER)
    fer, resnet = titled(fig).values()
    assert (fer.get_xlabel(), fer.get_ylabel()) == ("predicted", "true")
    assert [t.get_text() for t in fer.get_yticklabels()] == FER_CLASSES
    assert not any(t.get_text() for t in resnet.get_yticklabels())  # the same classes: named once a row
    image = fer.get_images()[0].get_array()
    assert image.mask[1].all() and np.allclose(image.sum(axis=1)[[0, *range(2, 7)]], 100.0)
    texts = [t.get_text() for t in fer.texts]
    counts = np.array(rows[0]["metrics"]["confusion"], dtype=float)
    assert texts[0] == f"{100 * counts[0, 0] / counts[0].sum():.1f}" and texts[7:14] == ["–"] * 7
    caption = " ".join(" ".join(t.get_text() for t in fig.texts).split())
    assert "measured on NVIDIA H100" in caption and "commit f00ba47" in caption and "budget short" in caption


def test_error_histograms_draw_the_stored_counts(tmp_path, figs):
    plotting()
    rows = [dimensional(list(range(40)), list(range(40, 0, -1)), model=m) for m in ("bregnext50", "resnet50")]
    written(figures.error_histograms(figure_data.error_counts(rows), tmp_path),
            ["fig9_error_hist_bregnext_budget_short_affectnet_val"], tmp_path)
    (fig,) = figs
    axes = titled(fig)
    assert list(axes) == ["BReG-NeXt-50: valence", "BReG-NeXt-50: arousal", "ResNet-50: valence", "ResNet-50: arousal"]
    arousal = axes["BReG-NeXt-50: arousal"]
    assert [p.get_height() for p in arousal.patches] == list(range(40, 0, -1))
    assert arousal.patches[0].get_x() == pytest.approx(-2.0) and arousal.patches[0].get_width() == pytest.approx(0.1)
    assert "arousal error: predicted − true" in axes["ResNet-50: arousal"].get_xlabel()
    assert [ax.get_ylabel() for ax in axes.values()] == ["samples", "", "samples", ""]
    assert "label units" in fig.get_suptitle()


def test_loss_curves_put_loss_and_validation_metric_side_by_side_and_say_so(tmp_path, figs, monkeypatch):
    plotting()
    rows = [train_row(e, 2.0 / e, 0.3 + e / 10, model=m) for m in ("resnet50", "bregnext50") for e in (1, 2, 3)]
    written(figures.loss_curves(figure_data.training_curves(rows), tmp_path),
            ["loss_curves_bregnext_budget_short_categorical"], tmp_path)
    unsaved(monkeypatch, figs)
    figures.loss_curves(figure_data.training_curves(rows[::-1]), tmp_path / "again")
    (ax, val, key), _ = ([a for a in fig.axes] for fig in figs)
    assert figs[0].subfigs[0].get_suptitle() == "FER2013"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", "training loss (focal)")
    assert val.get_ylabel() == "validation accuracy (%)"
    losses, accuracies = ({line.get_label(): line for line in a.get_lines()} for a in (ax, val))
    assert list(losses) == ["BReG-NeXt-50", "ResNet-50"]
    assert list(losses["ResNet-50"].get_xdata()) == [1, 2, 3]
    assert list(accuracies["BReG-NeXt-50"].get_ydata()) == pytest.approx([40.0, 50.0, 60.0])
    assert accuracies["BReG-NeXt-50"].get_color() == losses["BReG-NeXt-50"].get_color()
    assert [t.get_text() for t in key.get_legend().get_texts()] == ["BReG-NeXt-50", "ResNet-50"]
    colours = [[line.get_color() for a in fig.axes for line in a.get_lines()] for fig in figs]
    assert colours[0] == colours[1]
    caption = " ".join(" ".join(t.get_text() for t in figs[0].texts).split())
    assert "stores no validation loss" in caption and "commit f00ba47" in caption and "budget short" in caption


def test_build_figures_draws_them_when_evaluate_and_train_rows_exist(tmp_path, monkeypatch):
    plotting()
    from reports.build import build_figures

    rows = [*fer_and_affectnet()[:1], dimensional([1] * 40, [2] * 40), train_row(1, 1.0, 0.5),
            train_row(2, 0.8, 0.6)]
    store = tmp_path / "results.jsonl"
    store.write_text("".join(json.dumps(r) + "\n" for r in rows))
    paths = build_figures([store], tmp_path / "figs")
    assert sorted(p.name for p in paths) == sorted(
        f"{stem}.{fmt}" for stem in ("fig3_bypass", "fig6_confusion_bregnext_budget_short_fer2013_val",
                                     "fig9_error_hist_bregnext_budget_short_affectnet_val",
                                     "loss_curves_bregnext_budget_short_categorical") for fmt in ("png", "pdf"))
    assert all(p.is_file() for p in paths)
    store.write_text(json.dumps(rows[1]) + "\n")  # a dimensional evaluation only: no confusion, no curves
    unsaved(monkeypatch, [])
    names = {p.name for p in build_figures([store], tmp_path / "only")}
    assert names == {f"{stem}.{fmt}" for stem in ("fig3_bypass", "fig9_error_hist_bregnext_budget_short_affectnet_val")
                     for fmt in ("png", "pdf")}


def test_every_figure_reads_at_print_size(tmp_path, monkeypatch):
    """`figures.layout_problems` finds nothing in any figure function's output, from small inputs crowded
    where a reader would feel it: nine runs on one data set, long run names, eight classes three to a row."""
    plotting()
    drawn = []
    unsaved(monkeypatch, drawn)
    runs = [("resnet110", "ce", None), ("bregnext50", "focal", None), ("bregnext32", "focal", None),
            *(("bregnet39", loss, f"bregnet_h{h}") for loss in ("ce", "weighted_ce") for h in (1, 2, 3))]
    train = [train_row(e, 2.0 / e, 0.3 + e / 10, model=m, loss=loss, bypass=b) for m, loss, b in runs for e in (1, 2)]
    figures.loss_curves(figure_data.training_curves(train), tmp_path)
    names = fer_and_affectnet()[1]["metrics"]["class_names"]
    evaluated = [categorical(confusion(k, classes=8), names=names, model=m, data="affectnet:/d", num_classes=8)
                 for k, m in enumerate(("bregnext50", "resnet50", "bregnet50"))]
    figures.confusion_matrices(figure_data.confusion_cells(evaluated), tmp_path)
    figures.error_histograms(figure_data.error_counts([dimensional(list(range(40)), [5] * 40, model=m)
                                                       for m in ("bregnext50", "resnet50")]), tmp_path)
    figures.bypass_functions(tmp_path)
    labels = ("bregnext, batch 16, amp off", "bregnext, batch 128, amp bf16")
    measured = {"source": "measured"}
    figures.depth_curves([{"depth": d, "metric": m, "value": 60 + d / 10, "label": label, **measured}
                          for d in (26, 50) for m in ("affectnet_accuracy", "affectnet_macro_f1") for label in labels]
                         + figures.published_depth_points().to_dict(orient="records"), tmp_path)
    figures.complexity_curves([{"depth": d, "quantity": q, "value": v * d, "label": label, **measured}
                               for d in (26, 50) for q, v in (("params", 6e4), ("step_time_ms", 0.3))
                               for label in labels]
                              + figures.published_complexity_points().to_dict(orient="records"), tmp_path)
    figures.kernel_bandwidth([{"size": 4**k, "impl": impl, "gbps": g * k, "panel": f"{p} float32"}
                              for k in (6, 9, 12) for impl, g in (("eager", 50), ("triton", 150), ("copy", 200))
                              for p in ("forward", "backward")], tmp_path)
    figures.gradient_norms([{"depth": d, "bypass": b, "ratio": r**d, "panel": f"batch norm: {bn}"} for d in (14, 50)
                            for b, r in (("identity", 1.0), ("scaled:lam=0.5", 1.1)) for bn in ("batch", "frozen")],
                           tmp_path)
    assert len(drawn) == 8
    assert [figures.layout_problems(fig) for fig in drawn] == [[]] * len(drawn)
    loss = drawn[0]
    assert [sub.get_suptitle() for sub in loss.subfigs] == ["FER2013, loss ce", "FER2013, loss focal",
                                                            "FER2013, loss weighted_ce"]  # 9 runs: no row holds all
