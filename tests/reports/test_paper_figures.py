"""The papers' result figures from evaluate and train rows: BReG-NeXt Fig. 6 / DACL Fig. 4 (confusion
matrices), BReG-NeXt Fig. 9 (error histograms) and BReG-Net Fig. 6 (loss curves)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from reports import figure_data, figures

FER_CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
EDGES = list(np.linspace(-2.0, 2.0, 41))
ENV = {"device": "NVIDIA H100 80GB HBM3", "git_commit": "f00ba47"}


def plotting():
    pytest.importorskip("matplotlib", reason="figures need the optional 'plots' extra (matplotlib)")


@pytest.fixture
def figs(monkeypatch):
    """The matplotlib Figure objects drawn, in call order, beside the files written as usual."""
    seen = []
    save = figures._save
    monkeypatch.setattr(figures, "_save", lambda fig, *a, **k: seen.append(fig) or save(fig, *a, **k))
    return seen


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

def test_confusion_rows_are_percent_of_the_true_class_and_keep_the_counts():
    rows = fer_and_affectnet()
    cells = figure_data.confusion_cells(rows)
    assert list(dict.fromkeys(cells["panel"])) == ["AffectNet val: bregnext50", "FER2013 val: bregnext50",
                                                   "FER2013 val: resnet50"]
    sums = cells.groupby(["panel", "true"], sort=False)["percent"].sum(min_count=1)
    empty = ("FER2013 val: bregnext50", "disgust")  # no true 'disgust' samples: no percentages, not 0s
    assert np.isnan(sums[empty])
    assert sums.drop(empty).to_numpy() == pytest.approx(100.0)
    fer = cells[cells["panel"] == "FER2013 val: bregnext50"]
    assert fer["count"].to_numpy().reshape(7, 7).tolist() == rows[0]["metrics"]["confusion"]
    assert list(fer["true"].unique()) == FER_CLASSES  # the row's class order, not alphabetical
    assert set(cells["device"]) == {ENV["device"]} and set(cells["commit"]) == {"f00ba47"}
    assert set(cells["budget"]) == {"budget short: 3 epochs, batch 128, 64 px"}
    pd.testing.assert_frame_equal(cells, figure_data.confusion_cells(rows[::-1]))


def test_panels_name_what_else_differs_between_runs():
    rows = [categorical(confusion(1), loss="focal"), categorical(confusion(2), loss="ce"),
            categorical(confusion(3), split="test")]
    assert sorted(set(figure_data.confusion_cells(rows)["panel"])) == [
        "FER2013 test: bregnext50", "FER2013 val: bregnext50, loss ce", "FER2013 val: bregnext50, loss focal"]


def test_error_counts_are_kept_bin_for_bin():
    rng = np.random.default_rng(0)
    rows = [dimensional(rng.integers(0, 99, 40).tolist(), rng.integers(0, 99, 40).tolist(), data=d)
            for d in ("affwild:/data/aff", "affectnet:/data/affectnet")]
    frame = figure_data.error_counts(rows)
    assert list(dict.fromkeys(frame["panel"])) == ["Aff-Wild val: bregnext50", "AffectNet val: bregnext50"]
    for row in rows:
        panel = frame[frame["panel"] == figure_data._evaluated(row)]
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
    assert sorted(set(frame["panel"])) == ["Aff-Wild, dimensional", "FER2013, categorical"]
    fer = frame[frame["panel"] == "FER2013, categorical"]
    assert sorted(set(fer["label"])) == ["bregnext50, loss ce", "bregnext50, loss focal"]
    line = fer[(fer["label"] == "bregnext50, loss focal") & (fer["quantity"] == "train_loss")]
    assert line["epoch"].tolist() == [1, 2, 3] and line["value"].tolist() == pytest.approx([2.0, 1.0, 2 / 3])
    acc = fer[(fer["label"] == "bregnext50, loss ce") & (fer["quantity"] == "val_accuracy")]
    assert acc["value"].tolist() == pytest.approx([40.0, 50.0, 60.0])  # percent
    aff = frame[frame["panel"] == "Aff-Wild, dimensional"]
    assert set(aff["quantity"]) == {"train_loss", "val_rmse_total"} and set(aff["label"]) == {"bregnext50"}
    assert "val_loss" not in set(frame["quantity"])  # not stored by bench.train, so not invented
    pd.testing.assert_frame_equal(frame, figure_data.training_curves(rows[::-1]))


# --- figures ---------------------------------------------------------------------------------------------

def written(paths, stem, folder):
    assert [p.name for p in paths] == [f"{stem}.png", f"{stem}.pdf"]
    assert all(p.parent == folder for p in paths)
    assert paths[0].read_bytes()[:4] == b"\x89PNG" and paths[1].read_bytes()[:5] == b"%PDF-"
    assert paths[0].stat().st_size > 10_000


def test_confusion_matrices_annotate_percent_with_labelled_axes(tmp_path, figs):
    plotting()
    rows = fer_and_affectnet()
    written(figures.confusion_matrices(figure_data.confusion_cells(rows), tmp_path), "fig6_confusion", tmp_path)
    figures.confusion_matrices(figure_data.confusion_cells(rows[::-1]), tmp_path / "again")
    first, second = ([t for t in titled(fig)] for fig in figs)
    n = [np.sum(r["metrics"]["confusion"]) for r in rows]
    assert first == second == [f"AffectNet val: bregnext50 (n={n[1]})", f"FER2013 val: bregnext50 (n={n[0]})",
                               f"FER2013 val: resnet50 (n={n[2]})"]
    ax = titled(figs[0])[first[1]]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted", "true")
    assert [t.get_text() for t in ax.get_yticklabels()] == FER_CLASSES
    image = ax.get_images()[0].get_array()
    assert image.mask[1].all() and np.allclose(image.sum(axis=1)[[0, *range(2, 7)]], 100.0)
    texts = [t.get_text() for t in ax.texts]
    counts = np.array(rows[0]["metrics"]["confusion"], dtype=float)
    assert texts[0] == f"{100 * counts[0, 0] / counts[0].sum():.1f}" and texts[7:14] == ["–"] * 7
    caption = " ".join(t.get_text() for t in figs[0].texts)
    assert "measured on NVIDIA H100" in caption and "commit f00ba47" in caption and "budget short" in caption


def test_error_histograms_draw_the_stored_counts(tmp_path, figs):
    plotting()
    rows = [dimensional(list(range(40)), list(range(40, 0, -1)), data=d)
            for d in ("affectnet:/data/affectnet", "affwild:/data/aff")]
    written(figures.error_histograms(figure_data.error_counts(rows), tmp_path), "fig9_error_hist", tmp_path)
    (fig,) = figs
    axes = titled(fig)
    assert list(axes) == ["Aff-Wild val: bregnext50: valence", "Aff-Wild val: bregnext50: arousal",
                          "AffectNet val: bregnext50: valence", "AffectNet val: bregnext50: arousal"]
    arousal = axes["AffectNet val: bregnext50: arousal"]
    assert [p.get_height() for p in arousal.patches] == list(range(40, 0, -1))
    assert arousal.patches[0].get_x() == pytest.approx(-2.0) and arousal.patches[0].get_width() == pytest.approx(0.1)
    assert "arousal error: predicted − true" in arousal.get_xlabel() and "units" in arousal.get_xlabel()
    assert all(ax.get_ylabel() == "samples (count)" for ax in axes.values())


def test_loss_curves_put_validation_metric_on_a_twin_axis_and_say_so(tmp_path, figs):
    plotting()
    rows = [train_row(e, 2.0 / e, 0.3 + e / 10, model=m) for m in ("resnet50", "bregnext50") for e in (1, 2, 3)]
    frame = figure_data.training_curves(rows)
    written(figures.loss_curves(frame, tmp_path), "bregnet_fig6_loss", tmp_path)
    figures.loss_curves(figure_data.training_curves(rows[::-1]), tmp_path / "again")
    (ax, twin), _ = ([a for a in fig.axes] for fig in figs)
    assert ax.get_title() == "FER2013, categorical"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", "training loss (focal)")
    assert twin.get_ylabel() == "validation accuracy (%)"
    loss_lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(loss_lines) == ["bregnext50: training loss", "resnet50: training loss"]
    assert list(loss_lines["resnet50: training loss"].get_xdata()) == [1, 2, 3]
    acc = {line.get_label(): line for line in twin.get_lines()}["bregnext50: validation accuracy (%)"]
    assert list(acc.get_ydata()) == pytest.approx([40.0, 50.0, 60.0]) and acc.get_linestyle() == "--"
    assert acc.get_color() == loss_lines["bregnext50: training loss"].get_color()
    colours = [[line.get_color() for a in fig.axes for line in a.get_lines()] for fig in figs]
    assert colours[0] == colours[1]
    caption = " ".join(t.get_text() for t in figs[0].texts)
    assert "stores no validation loss" in caption and "commit f00ba47" in caption and "budget short" in caption


def test_build_figures_draws_them_when_evaluate_and_train_rows_exist(tmp_path):
    plotting()
    from reports.build import build_figures

    rows = [*fer_and_affectnet()[:1], dimensional([1] * 40, [2] * 40), train_row(1, 1.0, 0.5),
            train_row(2, 0.8, 0.6)]
    store = tmp_path / "results.jsonl"
    store.write_text("".join(json.dumps(r) + "\n" for r in rows))
    names = {p.name for p in build_figures([store], tmp_path / "figs")}
    assert names == {f"{stem}.{fmt}" for stem in ("fig3_bypass", "fig6_confusion", "fig9_error_hist",
                                                 "bregnet_fig6_loss") for fmt in ("png", "pdf")}
    store.write_text(json.dumps(rows[1]) + "\n")  # a dimensional evaluation only: no confusion, no curves
    names = {p.name for p in build_figures([store], tmp_path / "only")}
    assert names == {"fig3_bypass.png", "fig3_bypass.pdf", "fig9_error_hist.png", "fig9_error_hist.pdf"}
