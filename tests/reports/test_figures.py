"""The figures are written as PNG and PDF with real content, from tidy frames or lists of dicts."""

from __future__ import annotations

import builtins

import pandas as pd
import pytest

from reports import figure_layout, figures

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def needs_matplotlib():
    pytest.importorskip("matplotlib", reason="figures need the optional 'plots' extra (matplotlib)")


def assert_written(paths, name, tmp_path):
    assert [p.name for p in paths] == [f"{name}.png", f"{name}.pdf"]
    png, pdf = paths
    assert png.parent == tmp_path
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert png.stat().st_size > 10_000
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert pdf.stat().st_size > 5_000


def test_fig3_bypass_functions_are_written_reproducibly(tmp_path):
    """No creation date in the PDF: the same figure gives the same bytes."""
    needs_matplotlib()
    first = figures.bypass_functions(tmp_path, params=((1.0, 0.0),))
    assert_written(first, "fig3_bypass", tmp_path)
    second = figures.bypass_functions(tmp_path / "again", params=((1.0, 0.0),))
    assert first[1].read_bytes() == second[1].read_bytes()


def test_published_depth_points_hold_the_printed_numbers():
    points = figures.published_depth_points().set_index(["depth", "metric"])["value"]
    assert points[(50, "affectnet_accuracy")] == 68.50
    assert points[(62, "affectnet_accuracy")] == 68.69
    assert points[(32, "affectnet_rmse_total")] == 0.2684
    assert not points.index.duplicated().any()
    assert set(points.index.get_level_values("depth")) == {32, 50, 62}


def test_published_complexity_points_are_table2():
    table2 = figures.published_complexity_points()
    assert len(table2) == 16 and sorted(table2["depth"].unique()) == [26, 32, 38, 44, 50, 56, 62, 68]
    assert set(table2["quantity"]) == {"params", "flops"} and set(table2["source"]) == {"published"}


def test_kernel_bandwidth(tmp_path):
    needs_matplotlib()
    frame = pd.DataFrame([{"size": 4**k, "impl": impl, "gbps": g * k, "panel": panel}
                          for k in range(6, 13) for impl, g in (("eager", 50), ("triton", 150), ("copy", 200))
                          for panel in ("forward", "backward")])
    assert_written(figures.kernel_bandwidth(frame, tmp_path), "kernel_bandwidth", tmp_path)


def test_missing_columns_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"missing \['ratio'\]"):
        figures.gradient_norms(pd.DataFrame({"depth": [14], "bypass": ["identity"]}), tmp_path)


def test_flatten_rows_gives_dotted_columns():
    rows = [{"run_id": "a", "command": "gradflow", "config": {"depth": 14, "bypass": "atan"},
             "metrics": {"ratio": 1.5}, "timings": {}, "env": {"torch": "2.13"}}]
    frame = figures.flatten_rows(rows)
    assert frame.loc[0, "config.depth"] == 14 and frame.loc[0, "metrics.ratio"] == 1.5


def test_clear_error_without_matplotlib(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match="install the 'plots' extra"):
        figures.bypass_functions(tmp_path)


# --- what the figures say: axes, panels, lines and captions (issue 12 item 3) ---------------------------

@pytest.fixture
def drawn(monkeypatch):
    """The matplotlib figures the calls draw, in order (they are still written as usual)."""
    figs = []
    real_save = figure_layout.save

    def keep(fig, *args, **kwargs):
        figs.append(fig)
        return real_save(fig, *args, **kwargs)

    monkeypatch.setattr(figure_layout, "save", keep)
    return figs


def sweep_row(depth, data="affectnet:/data/affectnet", accuracy=0.6, batch_size=16, device="cpu (x86_64)",
              commit="abc1234", step_s=0.01):
    """A `depth_sweep` row as the results store holds it, trained for a few epochs."""
    config = {"model": f"bregnext{depth}", "arrangement": "bregnext", "depth": depth, "task": "categorical",
              "data": data, "epochs": 2, "image_size": 32, "flops_input_size": 64, "batch_size": batch_size,
              "steps": 2, "device": "cpu", "amp": "off", "channels_last": False, "bypass_impl": "eager", "seed": 0}
    metrics = {"depth": depth, "params_trainable": 6e4 * depth, "flops": 4e6 * depth, "step_s": step_s,
               "val_accuracy": accuracy + depth / 1e4, "val_macro_f1": 0.5}
    return {"run_id": f"{depth}-{data}-{batch_size}", "command": "depth_sweep", "config": config, "metrics": metrics,
            "timings": {}, "env": {"device": device, "git_commit": commit}}


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}


def test_fig5_draws_published_beside_measured_on_one_scale(tmp_path, drawn):
    """`--data affectnet:PATH` rows land on the panel of Fig. 5's published AffectNet points, in percent."""
    needs_matplotlib()
    from reports import figure_data

    rows = [sweep_row(d) for d in (50, 32, 62)]
    assert_written(figures.depth_curves(figure_data.depth_results(rows), tmp_path), "fig5_depth", tmp_path)
    (fig,) = drawn
    axes = {ax.get_title(): ax for ax in fig.axes}
    acc = axes["AffectNet: accuracy"]
    lines = lines_by_label(acc)
    assert set(lines) == {"bregnext", "published"}
    measured, pub = lines["bregnext"], lines["published"]
    assert list(measured.get_xdata()) == [32, 50, 62]
    assert list(measured.get_ydata()) == pytest.approx([60.32, 60.5, 60.62])  # percent, as published
    assert sorted(pub.get_xdata()) == [32, 50, 62] and 66 < min(pub.get_ydata()) < 69
    assert acc.get_xlabel() == "depth (layers)" and acc.get_ylabel() == "validation accuracy (%)"
    assert all(ax.get_ylabel() for ax in fig.axes)


def test_fig5_published_points_stay_off_other_data_sets(tmp_path, drawn):
    needs_matplotlib()
    from reports import figure_data

    figures.depth_curves(figure_data.depth_results([sweep_row(d, data="synth") for d in (14, 26)]), tmp_path)
    (fig,) = drawn
    assert {ax.get_title() for ax in fig.axes} == {"synthetic: accuracy", "synthetic: macro F1"}
    assert all("published" not in lines_by_label(ax) for ax in fig.axes)


def test_complexity_lines_keep_configs_apart(tmp_path, drawn):
    """Rows of two batch sizes at the same depths are two lines, each in depth order, not one zig-zag."""
    needs_matplotlib()
    from reports import figure_data

    rows = [sweep_row(d, batch_size=b, step_s=b / 1000 + d / 1e5) for b in (16, 128) for d in (50, 26, 38)]
    assert_written(figures.complexity_curves(figure_data.depth_cost(rows), tmp_path), "complexity_depth", tmp_path)
    (fig,) = drawn
    assert [ax.get_title() for ax in fig.axes] == ["parameters", "FLOPs", "training step time"]
    assert [ax.get_ylabel() for ax in fig.axes] == ["parameters (M)", "GFLOPs", "step time (ms)"]
    assert {ax.get_xlabel() for ax in fig.axes} == {"depth (layers)"}
    params, _, step = fig.axes
    measured = {k: v for k, v in lines_by_label(step).items() if k != "published"}
    assert len(measured) == 2
    for line in measured.values():
        assert list(line.get_xdata()) == [26, 38, 50]
    assert sorted(line.get_ydata()[0] for line in measured.values()) == pytest.approx([16.26, 128.26])
    assert len([k for k in lines_by_label(params) if k != "published"]) == 1  # batch size does not change params
    assert lines_by_label(params)["published"].get_ydata().max() == pytest.approx(4.2)  # Table 2, in millions


def test_gradient_norm_panels_keep_their_order(tmp_path, drawn):
    needs_matplotlib()
    points = [{"depth": d, "bypass": b, "ratio": 1.5 ** d, "panel": f"batch norm: {bn}"}
              for bn in ("frozen", "batch") for b in ("identity", "adaptive") for d in (14, 50)]
    assert_written(figures.gradient_norms(points, tmp_path), "gradient_norms", tmp_path)
    figures.gradient_norms(points[::-1], tmp_path / "again")
    titles = [[ax.get_title() for ax in fig.axes] for fig in drawn]
    assert titles == [["batch norm: batch", "batch norm: frozen"]] * 2
    colours = [{k: line.get_color() for k, line in lines_by_label(ax).items()} for fig in drawn for ax in fig.axes]
    assert all(c == colours[0] for c in colours)  # a bypass keeps its colour across panels and runs


def test_figures_name_device_commit_and_budget(tmp_path, drawn):
    needs_matplotlib()
    from reports import figure_data

    rows = [sweep_row(d, device="NVIDIA H100", commit="f00ba47") for d in (26, 50)]
    figures.depth_curves(figure_data.depth_results(rows), tmp_path)
    figures.complexity_curves(figure_data.depth_cost(rows), tmp_path)
    gradflow = [{"depth": d, "bypass": "identity", "ratio": 1.0, "device": "cpu (x86_64)", "commit": "0123abc"}
                for d in (14, 20)]
    figures.gradient_norms(gradflow, tmp_path, caption="batch 8, 8 px")
    texts = [" ".join(" ".join(t.get_text() for t in fig.texts).split()) for fig in drawn]
    for text in texts[:2]:
        assert "measured on NVIDIA H100" in text and "commit f00ba47" in text
    assert "2 epochs" in texts[0] and "batch 16" in texts[0]
    assert "measured on cpu (x86_64)" in texts[2] and "commit 0123abc" in texts[2] and "batch 8, 8 px" in texts[2]


# --- read at print size (issue 21 item 3) ------------------------------------------------------------------

def test_layout_problems_name_what_a_reader_trips_over():
    needs_matplotlib()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3))  # no layout engine to make room for what strays
    left, _ = fig.subplots(1, 2)
    for k in range(9):
        left.plot([0, 1], [k, k], label=f"run {k}")
    left.legend(loc="center")
    left.set_title("tiny", fontsize=6)
    left.text(0.1, 0.1, "one", transform=left.transAxes)
    left.text(0.1, 0.1, "two\nlines", transform=left.transAxes)  # a text of several lines counts too
    left.text(1.5, 0.5, "strays onto the next panel", transform=left.transAxes)
    fig.text(0.99, 0.5, "runs off the edge")
    problems = figures.layout_problems(fig)
    assert "8.00 in wide (at most 7 in)" in problems and "'tiny' is 6 pt (at least 7 pt)" in problems
    assert any(p.startswith("texts overlap") and "'one'" in p and "'two\\nlines'" in p for p in problems)
    assert any(p.startswith("a legend of 9 entries") for p in problems)
    assert any(p.startswith("the legend ['run 0', 'run 1'] ... lies over the panel") for p in problems)
    assert "text 'strays onto the next panel' lies over the panel ''" in problems
    assert "text 'runs off the edge' is cut off at the figure's edge" in problems

    clean = Figure(figsize=(3, 2), layout="constrained")
    ax = clean.subplots()
    ax.plot([0, 10], [0, 1], label="a run")
    ax.set(xlim=(2.5, 7.5), title="clean", xlabel="x", ylabel="y")  # labels of ticks out of view are not drawn
    clean.legend(loc="outside right upper")
    assert figures.layout_problems(clean) == []
