"""Figures where a reader would rather look than read; each is written as PNG and PDF.

matplotlib is an optional extra (``pip install 'breg-harness[plots]'``) and is imported only when a figure
is drawn. Figures are drawn on ``matplotlib.figure.Figure`` objects, never through pyplot, so nothing
here touches the global backend: PNG goes through Agg, PDF through matplotlib's PDF backend.

Every figure is laid out for print by `reports.figure_layout` (7 in wide at most, no text under 7 pt,
legends beside the panels, at most 8 labelled series per legend), whose `layout_problems` checks a drawn
figure for all of that and for overlapping text.

The figures that show results take a *tidy* frame (a pandas DataFrame, or a list of flat dicts) with the
columns each function documents; turning the results store's rows into such a frame is the caller's job
(`reports.figure_data` does it per entry point; `flatten_rows` helps). An optional ``panel`` column splits
any of them into panels (e.g. one per batch-norm mode, or per direction), in sorted order so that reruns
draw the same figure. The evaluation and training figures also take an optional ``figure`` column: one
figure (file ``<name>_<figure>``) per value, each split into pages (``_1``, ``_2``, ...) where it holds more
panels than a page shows. Optional ``device``, ``commit`` and ``budget`` columns (of the measured rows) are
named in a small caption under the figure, with any ``caption=`` text the call adds.

==========================  ===============================================  =========================
function                    required columns                                 what it shows
==========================  ===============================================  =========================
`bypass_functions`          (none: plots ``breg_models.bypass``)             BReG-NeXt Fig. 3
`depth_curves`              depth, metric, value, source                     Fig. 5: metric vs depth
`complexity_curves`         depth, quantity, value, source                   params / FLOPs / time
`kernel_bandwidth`          size, impl, gbps                                 GB/s vs size per impl
`gradient_norms`            depth, bypass, ratio                             gradient ratio vs depth
`confusion_matrices`        true, predicted, percent                         BReG-NeXt Fig. 6, DACL 4
`error_histograms`          dimension, left, right, count                    BReG-NeXt Fig. 9
`loss_curves`               epoch, quantity, value                           BReG-Net Fig. 6
==========================  ===============================================  =========================

``source`` is ``measured`` or ``published``; `published_depth_points` and `published_complexity_points`
give the published side from ``reports.published``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from . import figure_layout as layout
from . import published
from .figure_layout import FORMATS, MAX_PANELS, MAX_SERIES, MIN_FONT_PT, PAGE_WIDTH, layout_problems

__all__ = ["FORMATS", "MAX_PANELS", "MAX_SERIES", "layout_problems"]  # the print limits, re-exported for callers

DEPTH_LABEL = "depth (layers)"
# quantity of `complexity_curves` -> (panel title, y-axis label, factor from the frame's unit to the axis's)
QUANTITY_AXES = {
    "params": ("parameters", "parameters (M)", 1e-6),
    "flops": ("FLOPs", "GFLOPs", 1e-9),
    "step_time_ms": ("training step time", "step time (ms)", 1.0),
}
# `depth_curves` metrics are "<data set>_<metric>": the data set's name from its spec (harness.data_spec.parse_spec)
DATA_SETS = {"affectnet": "AffectNet", "fer2013": "FER2013", "affwild": "Aff-Wild", "synth": "synthetic"}
METRIC_AXES = {  # metric -> (panel title, y-axis label); accuracy in percent, as the papers print it
    "accuracy": ("accuracy", "validation accuracy (%)"),
    "macro_f1": ("macro F1", "validation macro F1"),
    "rmse_valence": ("RMSE valence", "RMSE"),
    "rmse_arousal": ("RMSE arousal", "RMSE"),
    "rmse_total": ("RMSE total", "RMSE"),
    "ccc_valence": ("CCC valence", "CCC"),
    "ccc_arousal": ("CCC arousal", "CCC"),
}
# Fig. 3 shows H and H' "for different values of alpha and beta" without saying which; these span the
# trained range the paper reports (~0.5 early, ~1.2 deep), the public code's init (1, 1) and BReG-Net (1, 0).
FIG3_PARAMS = ((1.0, 0.0), (0.5, 0.5), (1.0, 1.0), (1.2, 1.2), (2.0, 0.0), (2.0, 1.0))
_PUBLISHED_STYLE = {"marker": "D", "linestyle": "none", "markerfacecolor": "none", "markersize": 6}


def flatten_rows(rows: Iterable[dict]) -> pd.DataFrame:
    """Results-store rows ({run_id, command, config, metrics, timings, env}) as one flat frame whose columns
    are dotted paths (``config.depth``, ``metrics.accuracy``): the raw material for the tidy frames below."""
    return pd.json_normalize(list(rows), sep=".")


def _frame(data: pd.DataFrame | Iterable[dict], required: Sequence[str], what: str) -> pd.DataFrame:
    frame = data.copy() if isinstance(data, pd.DataFrame) else pd.DataFrame(list(data))
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} needs columns {list(required)}; missing {missing} "
                         f"(have {list(frame.columns)})")
    if frame.empty:
        raise ValueError(f"{what}: no data to plot")
    return frame


# --- BReG-NeXt Fig. 3 ------------------------------------------------------------------------------------

@layout.print_style
def bypass_functions(out_dir: str | Path, params: Sequence[tuple[float, float]] = FIG3_PARAMS,
                     x_max: float = 5.0, name: str = "fig3_bypass", dpi: int = 150) -> list[Path]:
    """H(x) of Eq. 8 and its derivative H'(x) (Eq. 9) for several (alpha, beta), as BReG-NeXt Fig. 3.

    Drawn from the float64 reference in ``breg_models.bypass`` (the same definition the kernels are tested
    against), with the identity shortcut dashed for scale: H' stays in (0, 1] and is largest near x = 0,
    where batch-normalised inputs mostly lie.
    """
    import torch

    from breg_models.bypass import FUNCTIONS, reference

    x = torch.linspace(-x_max, x_max, 801, dtype=torch.float64)
    fig, (ax_h, ax_d) = layout.grid(2, height=2.6)
    ax_h.plot(x, x, color="0.6", linestyle="--", linewidth=1, label="identity")
    ax_d.plot(x, torch.ones_like(x), color="0.6", linestyle="--", linewidth=1, label="identity")
    for alpha, beta in params:
        label = f"α={alpha:g}, β={beta:g}"
        h = reference("adaptive", x, alpha=alpha, beta=beta)
        dh = FUNCTIONS["adaptive"].dfn(x, torch.tensor(alpha, dtype=torch.float64),
                                       torch.tensor(beta, dtype=torch.float64))
        ax_h.plot(x, h, label=label)
        ax_d.plot(x, dh, label=label)
    ax_h.set(title=r"$\mathcal{H}(x)$ (Eq. 8)", xlabel="x", ylabel="H(x)", ylim=(-x_max / 2, x_max / 2))
    ax_d.set(title=r"$\mathcal{H}'(x)$ (Eq. 9)", xlabel="x", ylabel="dH/dx", ylim=(0, 1.08))
    for ax in (ax_h, ax_d):
        ax.grid(alpha=0.3)
        ax.axhline(0, color="0.8", linewidth=0.8)
    layout.shared_legend(fig, (ax_h, ax_d))
    return layout.save(fig, out_dir, name, dpi)


# --- curves against depth --------------------------------------------------------------------------------

def _quantity_axes(quantity: str) -> tuple[str, str, float]:
    return QUANTITY_AXES.get(quantity, (quantity.replace("_", " "), quantity.replace("_", " "), 1.0))


def _metric_axes(metric: str) -> tuple[str, str, float]:
    data, _, what = metric.partition("_")
    if what in METRIC_AXES:
        title, ylabel = METRIC_AXES[what]
        return f"{DATA_SETS.get(data, data)}: {title}", ylabel, 1.0
    title, ylabel = METRIC_AXES.get(metric, (metric, metric.replace("_", " ")))
    return title, ylabel, 1.0


def _depth_panels(frame: pd.DataFrame, key: str, keep: Sequence[str] | None, title: str, out_dir: str | Path,
                  name: str, dpi: int, axes_of: Callable[[str], tuple[str, str, float]] = _quantity_axes,
                  caption: str | None = None) -> list[Path]:
    """One panel per ``key`` value: measured as lines (one per ``label`` if given), published as markers.

    Panels are those in ``keep``, else those with measured points (sorted), else all; so published points for
    a quantity nobody measured do not add empty panels. ``axes_of(key value)`` gives the panel's title, its
    y-axis label and the factor that brings the values to that label's unit. Within a line, repeated depths
    are averaged and the points are joined in depth order. Three panels a row, one legend beside them.
    """
    if keep is None:
        measured_keys = frame.loc[frame["source"] == "measured", key].unique()
        keep = _ordered(measured_keys if len(measured_keys) else frame[key].unique())
    frame = frame[frame[key].isin(keep)]
    if frame.empty:
        raise ValueError(f"no rows for {key} in {list(keep)}")
    panels = [(k, frame[frame[key] == k]) for k in keep if (frame[key] == k).any()]
    labelled = "label" in frame.columns
    measured_all = frame[frame["source"] == "measured"]
    colours = layout.colours(measured_all["label"].dropna() if labelled else ["measured"])
    fig, axes = layout.grid(len(panels), columns=3)
    for ax, (what, group) in zip(axes, panels, strict=True):
        panel_title, ylabel, factor = axes_of(str(what))
        group = group.assign(value=pd.to_numeric(group["value"], errors="coerce") * factor)
        measured = group[group["source"] == "measured"]
        lines = measured.groupby("label", sort=True) if labelled else [("measured", measured)]
        for label, g in lines:
            g = g.groupby("depth", as_index=False)["value"].mean().sort_values("depth")
            ax.plot(g["depth"], g["value"], marker="o", markersize=4, label=str(label), color=colours[str(label)])
        pub = group[group["source"] == "published"].sort_values("depth")
        if not pub.empty:
            ax.plot(pub["depth"], pub["value"], color="black", label="published", **_PUBLISHED_STYLE)
        layout.auto_log(ax, group["value"])
        ax.set(title=panel_title, xlabel=DEPTH_LABEL, ylabel=ylabel)
        ax.grid(alpha=0.3)
    layout.shared_legend(fig, axes)
    fig.suptitle(title)
    layout.add_caption(fig, layout.caption(frame, caption))
    return layout.save(fig, out_dir, name, dpi)


def _ordered(keys: Iterable[Any]) -> list[Any]:
    """Known quantities in their table order, then the rest sorted: the same panels in the same places."""
    known = list(QUANTITY_AXES) + [f"{d}_{m}" for d in DATA_SETS for m in METRIC_AXES]
    keys = list(keys)
    return [k for k in known if k in keys] + sorted(k for k in keys if k not in known)


@layout.print_style
def depth_curves(data: pd.DataFrame | Iterable[dict], out_dir: str | Path, metrics: Sequence[str] | None = None,
                 name: str = "fig5_depth", dpi: int = 150, *, caption: str | None = None) -> list[Path]:
    """BReG-NeXt Fig. 5: a metric against depth, one panel per metric.

    Columns: ``depth`` (weighted layers), ``metric`` (``<data set>_<metric>``: e.g. ``affectnet_accuracy``,
    ``affectnet_rmse_valence``; the data set's name, never its path, so measured and published points of one
    data set share a panel), ``value`` (accuracy in percent, as published), ``source`` (``measured`` |
    ``published``); optional ``label`` (one measured line each, e.g. an arrangement or budget); repeated
    (label, depth, metric) rows are averaged. ``metrics`` picks and orders the panels (default: the measured
    ones, so published points appear only beside a measurement of their own data set). Fig. 5 itself is an
    image in the paper; `published_depth_points` gives the few depths whose numbers the text and Tables 4
    and 6 print.
    """
    frame = _frame(data, ("depth", "metric", "value", "source"), "depth_curves")
    return _depth_panels(frame, "metric", metrics, "Result against depth (BReG-NeXt Fig. 5)", out_dir, name, dpi,
                         axes_of=_metric_axes, caption=caption)


@layout.print_style
def complexity_curves(data: pd.DataFrame | Iterable[dict], out_dir: str | Path,
                      quantities: Sequence[str] | None = None, name: str = "complexity_depth",
                      dpi: int = 150, *, caption: str | None = None) -> list[Path]:
    """Parameters, FLOPs and step time against depth, one panel per quantity.

    Columns: ``depth``, ``quantity`` (``params`` in parameters, ``flops`` in FLOPs, ``step_time_ms`` in
    milliseconds; drawn in M, G and ms), ``value``, ``source`` (``measured`` | ``published``); optional
    ``label``: one measured line per label, so rows of different configs (batch size, image size, device,
    amp, ...) must carry different labels or they are averaged into one line. ``quantities`` picks and
    orders the panels (default: the measured ones, in the order above). A panel whose values span decades
    (Table 2's 'FLOPs' beside a measured forward pass) is drawn on a log axis.
    """
    frame = _frame(data, ("depth", "quantity", "value", "source"), "complexity_curves")
    return _depth_panels(frame, "quantity", quantities, "Cost against depth", out_dir, name, dpi,
                         axes_of=_quantity_axes, caption=caption)


def _depth_of(model: str) -> int | None:
    m = re.fullmatch(r"bregnext(\d+)", model)
    return int(m.group(1)) if m else None


def published_depth_points() -> pd.DataFrame:
    """The BReG-NeXt depths whose results are printed as numbers: Sec. 4.3 (50, 62 layers) and Tables 4
    and 6 (32, 50 layers), as rows for `depth_curves`."""
    rows = []
    for table_id in ("fig5", "4", "6"):
        for r in published.table("bregnext", table_id).itertuples():
            depth = _depth_of(r.row)
            if depth is not None:
                rows.append({"depth": depth, "metric": r.column, "value": r.value, "source": "published"})
    return pd.DataFrame(rows).drop_duplicates(["depth", "metric"]).reset_index(drop=True)


def published_complexity_points() -> pd.DataFrame:
    """BReG-NeXt Table 2 (parameters and 'FLOPs' for depths 26-68) as rows for `complexity_curves`."""
    t = published.table("bregnext", 2)
    return pd.DataFrame({"depth": [_depth_of(r) for r in t["row"]], "quantity": t["column"],
                         "value": t["value"], "source": "published"})


# --- kernels and gradients ---------------------------------------------------------------------------

@layout.print_style
def kernel_bandwidth(data: pd.DataFrame | Iterable[dict], out_dir: str | Path, name: str = "kernel_bandwidth",
                     dpi: int = 150, xlabel: str = "size (elements)", *, caption: str | None = None) -> list[Path]:
    """Achieved memory bandwidth against tensor size, one line per implementation.

    Columns: ``size`` (elements by default; say otherwise with ``xlabel``), ``impl`` (e.g. ``eager``,
    ``compile``, ``triton``, ``copy``), ``gbps``; optional ``panel`` (e.g. ``forward`` / ``backward``).
    The ``copy`` line (a plain tensor copy, the attainable ceiling) is drawn dashed in black.
    """
    frame = _frame(data, ("size", "impl", "gbps"), "kernel_bandwidth")
    panels = layout.split_panels(frame, "panel")
    colours = layout.colours(frame["impl"])
    fig, axes = layout.grid(len(panels), columns=3)
    for ax, (title, group) in zip(axes, panels, strict=True):
        for impl, g in group.groupby("impl", sort=True):
            g = g.groupby("size", as_index=False)["gbps"].median().sort_values("size")
            style = ({"color": "black", "linestyle": "--"} if impl == "copy"
                     else {"marker": "o", "markersize": 4, "color": colours[str(impl)]})
            ax.plot(g["size"], g["gbps"], label=str(impl), **style)
        ax.set_xscale("log")
        ax.set(title=title or "Bypass kernel bandwidth", xlabel=xlabel, ylabel="GB/s")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3, which="both")
    layout.shared_legend(fig, axes)
    layout.add_caption(fig, layout.caption(frame, caption))
    return layout.save(fig, out_dir, name, dpi)


@layout.print_style
def gradient_norms(data: pd.DataFrame | Iterable[dict], out_dir: str | Path, name: str = "gradient_norms",
                   dpi: int = 150, ylabel: str = "|dL/dx| first unit / last unit", *,
                   panels: Sequence[str] | None = None, caption: str | None = None) -> list[Path]:
    """A gradient-norm ratio against depth, one line per bypass kind, on a log axis: a bounded flow stays
    flat, Eq. 6's scaled shortcut grows or shrinks exponentially with depth.

    Columns: ``depth``, ``bypass`` (e.g. ``identity``, ``scaled:lam=0.5``, ``adaptive``), ``ratio``;
    optional ``panel`` (e.g. the batch-norm mode, or init / trained; drawn in the order ``panels`` gives,
    else sorted: ``batch norm: batch`` then ``batch norm: frozen``). Repeated points are averaged
    geometrically; a bypass keeps its colour in every panel.
    """
    import numpy as np

    frame = _frame(data, ("depth", "bypass", "ratio"), "gradient_norms")
    groups = layout.split_panels(frame, "panel", panels)
    if not groups:
        raise ValueError(f"gradient_norms: no rows in panels {list(panels or [])}")
    colours = layout.colours(frame["bypass"])
    fig, axes = layout.grid(len(groups), columns=3)
    for ax, (title, group) in zip(axes, groups, strict=True):
        for bypass, g in group.groupby("bypass", sort=True):
            g = g.assign(log=np.log10(g["ratio"].astype(float))).groupby("depth", as_index=False)["log"].mean()
            g = g.sort_values("depth")
            ax.plot(g["depth"], 10.0 ** g["log"], marker="o", markersize=4, label=str(bypass),
                    color=colours[str(bypass)])
        ax.axhline(1.0, color="0.6", linewidth=0.8)
        ax.set_yscale("log")
        ax.set(title=title or "Gradient flow against depth", xlabel=DEPTH_LABEL, ylabel=ylabel)
        ax.grid(alpha=0.3, which="both")
    layout.shared_legend(fig, axes)
    layout.add_caption(fig, layout.caption(frame, caption))
    return layout.save(fig, out_dir, name, dpi)


# --- evaluation and training (BReG-NeXt Figs. 6 and 9, DACL Fig. 4, BReG-Net Fig. 6) ----------------------

CONFUSION_NOTE = "rows: true class; columns: predicted class; each row in percent of its class's samples"
DIMENSIONS = ("valence", "arousal")
HISTOGRAM_ROWS = 4  # runs on one page of error histograms, a row of one panel per dimension each
LOSS_ROWS = 3  # rows of training curves on one page
LOSSES = ("train_loss", "val_loss")  # drawn on the loss panel; any other quantity on the validation panel
QUANTITY_NAMES = {"train_loss": "training loss", "val_loss": "validation loss",
                  "val_accuracy": "validation accuracy (%)", "val_rmse_total": "validation RMSE (total)"}
NO_VALIDATION_LOSS = ("bench.train stores no validation loss: the right-hand panels show the validation metric "
                      "it picks its best epoch on")


def _suptitle(fig: Any, figure: str, what: str) -> None:
    """The figure's question: whose runs (``figure``) and what it shows of them."""
    fig.suptitle(layout.wrap(f"{figure}: {what}" if figure else what[:1].upper() + what[1:], fig.get_figwidth(), 9),
                 fontweight="bold")


@layout.print_style
def confusion_matrices(data: pd.DataFrame | Iterable[dict], out_dir: str | Path, name: str = "fig6_confusion",
                       dpi: int = 150, *, panels: Sequence[str] | None = None, columns: int = 3,
                       caption: str | None = None) -> list[Path]:
    """Row-normalised confusion matrices, one panel per run, as BReG-NeXt Fig. 6 and DACL Fig. 4: each cell
    is the percentage of a true class's samples predicted as a class (annotated), so a rare class
    (FER2013's disgust) reads as plainly as a common one.

    Columns: ``true``, ``predicted`` (class names), ``percent``; optional ``figure`` (one figure each, e.g. a
    paper's runs on one data set), ``panel`` (sorted, or in the order ``panels`` gives; at most `MAX_PANELS`
    a page, at most ``columns`` a row) and ``count`` (the panel's title gives their total). Classes keep the
    order in which they first appear as ``true`` (`figure_data.confusion_cells` gives the class-index
    order); a class with no samples has an empty row. Class names are written once a row and a column.
    """
    frame = _frame(data, ("true", "predicted", "percent"), "confusion_matrices")
    written = []
    for stem, title, page in layout.pages(frame, name, MAX_PANELS, panels, "confusion_matrices"):
        fig = _confusion_page(page, title, columns)
        notes = "; ".join(filter(None, [CONFUSION_NOTE, caption]))
        layout.add_caption(fig, layout.caption(pd.concat([g for _, g in page]), notes))
        written += layout.save(fig, out_dir, stem, dpi)
    return written


def _confusion_page(page: list[tuple[str, pd.DataFrame]], title: str, columns: int) -> Any:
    import numpy as np

    n = len(page)
    columns = layout.columns_for(n, columns)
    width = PAGE_WIDTH if columns > 1 else PAGE_WIDTH / 2
    panel = width / columns
    rows = -(-n // columns)  # a square matrix a panel, then its title; class names and the suptitle once
    fig, axes = layout.grid(n, columns=columns, height=0.85 * panel + 0.35 + 1.0 / rows, width=width)
    classes = [list(dict.fromkeys([*g["true"].astype(str), *g["predicted"].astype(str)])) for _, g in page]
    shared = all(c == classes[0] for c in classes)
    image = None
    for k, (ax, (panel_title, group), names) in enumerate(zip(axes, page, classes, strict=True)):
        cells = group.assign(true=group["true"].astype(str), predicted=group["predicted"].astype(str))
        matrix = (cells.groupby(["true", "predicted"])["percent"].mean().unstack()
                  .reindex(index=names, columns=names).to_numpy(dtype=float))
        image = ax.imshow(np.ma.masked_invalid(matrix), cmap="Blues", vmin=0, vmax=100)
        digits = 1 if panel / len(names) >= 0.36 else 0  # whole percent where a cell is too narrow for more
        for (i, j), value in np.ndenumerate(matrix):
            text = "–" if np.isnan(value) else f"{value:.{digits}f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=MIN_FONT_PT,
                    color="white" if value > 60 else "black")
        ticks = range(len(names))
        left, bottom = k % columns == 0 or not shared, k + columns >= n or not shared
        ax.set_xticks(ticks, names if bottom else [], rotation=90)
        ax.set_yticks(ticks, names if left else [])
        ax.set(xlabel="predicted" if bottom else "", ylabel="true" if left else "")
        total = f", n={int(group['count'].sum())}" if "count" in group.columns else ""
        ax.set_title(layout.wrap_label((panel_title or "Confusion matrix") + total, panel - 0.6, 8))
    fig.colorbar(image, ax=axes, label="% of the true class", shrink=0.7, aspect=30)
    _suptitle(fig, title, "confusion matrices, % of each true class")
    return fig


@layout.print_style
def error_histograms(data: pd.DataFrame | Iterable[dict], out_dir: str | Path, name: str = "fig9_error_hist",
                     dpi: int = 150, *, panels: Sequence[str] | None = None, caption: str | None = None
                     ) -> list[Path]:
    """Histograms of prediction - truth per dimension, as BReG-NeXt Fig. 9: a row per run (``panel``), a
    column per dimension (valence, then arousal); errors near zero are good predictions.

    Columns: ``dimension``, ``left`` and ``right`` (the bin's edges, in the labels' units: valence and
    arousal lie in [-1, 1], so errors in [-2, 2]), ``count``; optional ``figure`` (one figure each) and
    ``panel`` (at most `HISTOGRAM_ROWS` a page). Counts are drawn as stored.
    """
    frame = _frame(data, ("dimension", "left", "right", "count"), "error_histograms")
    present = set(frame["dimension"].astype(str))
    dims = [d for d in DIMENSIONS if d in present] + sorted(present - set(DIMENSIONS))
    written = []
    for stem, title, page in layout.pages(frame, name, HISTOGRAM_ROWS, panels, "error_histograms"):
        fig, axes = layout.grid(len(page) * len(dims), columns=len(dims), height=1.6, sharex=True)
        for k, (run, group) in enumerate(page):
            for column, (ax, dim) in enumerate(zip(axes[k * len(dims):], dims, strict=False)):
                bins = group[group["dimension"].astype(str) == dim].sort_values("left")
                ax.bar(bins["left"], bins["count"], width=bins["right"] - bins["left"], align="edge",
                       color=f"C{column}", edgecolor="white", linewidth=0.3)
                ax.axvline(0, color="0.3", linewidth=0.8, linestyle=":")
                ax.set_title(layout.wrap(f"{run}: {dim}" if run else f"{dim} error", PAGE_WIDTH / len(dims) - 0.3))
                ax.set(ylabel="samples" if column == 0 else "",
                       xlabel=f"{dim} error: predicted − true" if k == len(page) - 1 else "")
                ax.grid(alpha=0.3, axis="y")
        _suptitle(fig, title, "error histograms (label units: valence and arousal in [−1, 1])")
        layout.add_caption(fig, layout.caption(pd.concat([g for _, g in page]), caption))
        written += layout.save(fig, out_dir, stem, dpi)
    return written


@layout.print_style
def loss_curves(data: pd.DataFrame | Iterable[dict], out_dir: str | Path, name: str = "loss_curves",
                dpi: int = 150, *, panels: Sequence[str] | None = None, caption: str | None = None) -> list[Path]:
    """Loss and validation metric against epoch, one line per run, as BReG-Net Fig. 6 (training and
    validation loss of ResNet-110 beside BReG-Net): a steeper, lower curve is the faster-learning network.

    Columns: ``epoch``, ``quantity`` (``train_loss`` solid and ``val_loss`` dashed on the loss panel;
    anything else, e.g. ``val_accuracy`` in percent or ``val_rmse_total``, on a validation panel beside it),
    ``value``; optional ``label`` (one colour per run, the same in every row of a figure), ``figure`` (one
    figure each), ``panel`` (a row each, e.g. a data set; at most `LOSS_ROWS` a page, and one with more than
    `MAX_SERIES` labels is split over rows) and ``loss`` (the loss's name, put in the axis label). Repeated
    (label, epoch) points are averaged. Without ``val_loss`` rows the caption says what stands in.
    """
    frame = _frame(data, ("epoch", "quantity", "value"), "loss_curves")
    if "label" not in frame.columns:
        frame["label"] = "run"
    written = []
    for stem, title, page in layout.pages(frame, name, LOSS_ROWS, panels, "loss_curves", series="label"):
        rows = pd.concat([g for _, g in page])
        fig = _loss_page(page, title, layout.colours(rows["label"]) if rows["label"].nunique() <= 10 else None)
        note = None if (rows["quantity"] == "val_loss").any() else NO_VALIDATION_LOSS
        layout.add_caption(fig, layout.caption(rows, "; ".join(filter(None, [note, caption]))))
        written += layout.save(fig, out_dir, stem, dpi)
    return written


def _loss_page(page: list[tuple[str, pd.DataFrame]], title: str, colours: dict[str, str] | None) -> Any:
    """A row per panel: the losses, the validation metrics, and the row's legend in a column of its own.
    A run keeps its colour in every row, or with None (more runs than colours) within its row."""
    from matplotlib.ticker import MaxNLocator

    key_width = 1.6  # inches: the legend column, the same in every row so that the panels line up
    labels = [{label: layout.wrap_label(label, key_width - 0.45) for label in sorted(set(group["label"].astype(str)),
                                                                               key=layout.natural_key)}
              for _, group in page]
    heights = [max(1.9, 0.5 + 0.14 * sum(t.count("\n") + 1.3 for t in wrapped.values())) for wrapped in labels]
    fig = layout.figure_api()(figsize=(PAGE_WIDTH, sum(heights) + 0.4), layout="constrained")
    subs = fig.subfigures(len(page), 1, squeeze=False, height_ratios=heights).flat
    for sub, (panel_title, group), wrapped in zip(subs, page, labels, strict=True):
        ax_loss, ax_val, ax_key = sub.subplots(1, 3, width_ratios=[2.7, 2.7, key_width])
        group = group.assign(label=group["label"].astype(str), quantity=group["quantity"].astype(str))
        colour = colours or layout.colours(group["label"])
        for (label, quantity), g in group.groupby(["label", "quantity"], sort=True):
            g = g.groupby("epoch", as_index=False)["value"].mean().sort_values("epoch")
            ax = ax_loss if quantity in LOSSES else ax_val
            ax.plot(g["epoch"], g["value"], color=colour[label], label=wrapped[label], marker="o", markersize=3,
                    linestyle="--" if quantity == "val_loss" else "-")
        losses = sorted({str(v) for v in group["loss"].dropna()}) if "loss" in group.columns else []
        shown = [q for q in LOSSES if q in set(group["quantity"])]
        ylabel = {("train_loss",): "training loss", ("val_loss",): "validation loss"}.get(
            tuple(shown), "loss (solid: training, dashed: validation)")
        ax_loss.set_ylabel(layout.wrap(ylabel + (f" ({', '.join(losses)})" if losses else ""), 1.6))
        metrics = sorted(set(group["quantity"]) - set(LOSSES))
        ax_val.set_ylabel(layout.wrap(" / ".join(_quantity_name(q) for q in metrics), 1.6))
        for ax in (ax_loss, ax_val):
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
        if not metrics:
            ax_val.set_axis_off()
        ax_key.set_axis_off()
        entries = {}
        for ax in (ax_loss, ax_val):
            entries.update(zip(*reversed(ax.get_legend_handles_labels()), strict=True))
        ax_key.legend(list(entries.values()), list(entries), loc="upper left", borderaxespad=0, frameon=False)
        sub.suptitle(panel_title or "Training")
    _suptitle(fig, title, "training curves")
    return fig


def _quantity_name(quantity: str) -> str:
    return QUANTITY_NAMES.get(quantity, quantity.replace("_", " "))
