"""Figures where a reader would rather look than read; each is written as PNG and PDF.

matplotlib is an optional extra (``pip install 'breg-harness[plots]'``) and is imported only when a figure
is drawn. Figures are drawn on ``matplotlib.figure.Figure`` objects, never through pyplot, so nothing
here touches the global backend: PNG goes through Agg, PDF through matplotlib's PDF backend.

The figures that show results take a *tidy* frame (a pandas DataFrame, or a list of flat dicts) with the
columns each function documents; turning the results store's rows into such a frame is the caller's job
(`reports.figure_data` does it per entry point; `flatten_rows` helps). An optional ``panel`` column splits
any of them into side-by-side panels (e.g. one per batch-norm mode, or per direction), in sorted order so
that reruns draw the same figure. Optional ``device``, ``commit`` and ``budget`` columns (of the measured
rows) are named in a small caption under the figure, with any ``caption=`` text the call adds.

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
import textwrap
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from . import published

FORMATS = ("png", "pdf")
DEPTH_LABEL = "depth (layers)"
# quantity of `complexity_curves` -> (panel title, y-axis label, factor from the frame's unit to the axis's)
QUANTITY_AXES = {
    "params": ("parameters", "parameters (M)", 1e-6),
    "flops": ("FLOPs", "GFLOPs", 1e-9),
    "step_time_ms": ("training step time", "step time (ms)", 1.0),
}
# `depth_curves` metrics are "<data set>_<metric>": the data set's name from its spec (bench.data.parse_spec)
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
_PUBLISHED_STYLE = {"marker": "D", "linestyle": "none", "markerfacecolor": "none", "markersize": 7}


def _figure_api() -> Any:
    """matplotlib.figure.Figure, or a one-line error saying how to get it."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("figures need matplotlib: install the 'plots' extra "
                          "(pip install 'breg-harness[plots]')") from None
    return Figure


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


def _save(fig: Any, out_dir: str | Path, name: str, dpi: int) -> list[Path]:
    """Write ``name``.png and ``name``.pdf; the PDF carries no creation date, so reruns give the same file."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in FORMATS:
        path = out / f"{name}.{fmt}"
        metadata = {"CreationDate": None} if fmt == "pdf" else None
        fig.savefig(path, format=fmt, dpi=dpi, bbox_inches="tight", metadata=metadata)
        paths.append(path)
    return paths


def _panels(frame: pd.DataFrame, key: str | None, order: Sequence[str] | None = None
            ) -> list[tuple[str, pd.DataFrame]]:
    """One (title, rows) per ``key`` value: in ``order`` where given (values it leaves out are not drawn),
    else sorted, so the panels do not change places with the order the rows arrived in."""
    if key is None or key not in frame.columns:
        return [("", frame)]
    groups = {str(k): g for k, g in frame.groupby(frame[key].astype(str))}
    return [(k, groups[k]) for k in (order if order is not None else sorted(groups)) if k in groups]


def _colours(values: Iterable[Any]) -> dict[str, str]:
    """A fixed colour per line name, the same in every panel of a figure and in every rerun."""
    return {name: f"C{i % 10}" for i, name in enumerate(sorted({str(v) for v in values}))}


def _caption(frame: pd.DataFrame, extra: str | None = None) -> str:
    """'measured on <devices>; commit <commits>; <budgets>' from the measured rows' optional columns."""
    measured = frame[frame["source"] == "measured"] if "source" in frame.columns else frame
    parts = []
    for column, lead, sep in (("device", "measured on ", ", "), ("commit", "commit ", ", "), ("budget", "", " | ")):
        if column in measured.columns:
            values = sorted({str(v) for v in measured[column].dropna() if str(v)})
            if values:
                parts.append(lead + sep.join(values))
    if extra:
        parts.append(extra)
    return "; ".join(parts)


def _add_caption(fig: Any, text: str) -> None:
    """Small text under the panels (``bbox_inches='tight'`` keeps it in the saved file)."""
    if text:
        fig.text(0.5, 0.0, text, ha="center", va="top", fontsize=7, color="0.3")


def _grid(n: int, width: float = 4.2, height: float = 3.4, columns: int | None = None) -> tuple[Any, list[Any]]:
    """``n`` panels of ``width`` x ``height`` inches: one row, or rows of ``columns`` (unused places removed)."""
    Figure = _figure_api()
    columns = max(1, min(n, columns or n))
    rows = -(-n // columns)
    fig = Figure(figsize=(width * columns, height * rows), layout="constrained")
    axes = list(fig.subplots(rows, columns, squeeze=False).flat)
    for ax in axes[n:]:
        fig.delaxes(ax)
    return fig, axes[:n]


def _auto_log(ax: Any, values: pd.Series, axis: str = "y") -> None:
    """Log scale when the values span more than ~1.5 decades (e.g. published 'FLOPs' beside measured ones)."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    v = v[v > 0]
    if len(v) and v.max() / v.min() > 30:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")


# --- BReG-NeXt Fig. 3 ------------------------------------------------------------------------------------

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
    fig, (ax_h, ax_d) = _grid(2)
    ax_h.plot(x, x, color="0.6", linestyle="--", linewidth=1, label="identity")
    ax_d.plot(x, torch.ones_like(x), color="0.6", linestyle="--", linewidth=1, label="identity")
    for alpha, beta in params:
        label = rf"$\alpha$={alpha:g}, $\beta$={beta:g}"
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
    ax_h.legend(fontsize=7, loc="upper left")
    return _save(fig, out_dir, name, dpi)


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
    are averaged and the points are joined in depth order.
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
    colours = _colours(measured_all["label"].dropna() if labelled else ["measured"])
    fig, axes = _grid(len(panels))
    for ax, (what, group) in zip(axes, panels, strict=True):
        panel_title, ylabel, factor = axes_of(str(what))
        group = group.assign(value=pd.to_numeric(group["value"], errors="coerce") * factor)
        measured = group[group["source"] == "measured"]
        lines = measured.groupby("label", sort=True) if labelled else [("measured", measured)]
        for label, g in lines:
            g = g.groupby("depth", as_index=False)["value"].mean().sort_values("depth")
            ax.plot(g["depth"], g["value"], marker="o", label=str(label), color=colours[str(label)])
        pub = group[group["source"] == "published"].sort_values("depth")
        if not pub.empty:
            ax.plot(pub["depth"], pub["value"], color="black", label="published", **_PUBLISHED_STYLE)
        _auto_log(ax, group["value"])
        ax.set(title=panel_title, xlabel=DEPTH_LABEL, ylabel=ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    _add_caption(fig, _caption(frame, caption))
    return _save(fig, out_dir, name, dpi)


def _ordered(keys: Iterable[Any]) -> list[Any]:
    """Known quantities in their table order, then the rest sorted: the same panels in the same places."""
    known = list(QUANTITY_AXES) + [f"{d}_{m}" for d in DATA_SETS for m in METRIC_AXES]
    keys = list(keys)
    return [k for k in known if k in keys] + sorted(k for k in keys if k not in known)


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

def kernel_bandwidth(data: pd.DataFrame | Iterable[dict], out_dir: str | Path, name: str = "kernel_bandwidth",
                     dpi: int = 150, xlabel: str = "size (elements)", *, caption: str | None = None) -> list[Path]:
    """Achieved memory bandwidth against tensor size, one line per implementation.

    Columns: ``size`` (elements by default; say otherwise with ``xlabel``), ``impl`` (e.g. ``eager``,
    ``compile``, ``triton``, ``copy``), ``gbps``; optional ``panel`` (e.g. ``forward`` / ``backward``).
    The ``copy`` line (a plain tensor copy, the attainable ceiling) is drawn dashed in black.
    """
    frame = _frame(data, ("size", "impl", "gbps"), "kernel_bandwidth")
    panels = _panels(frame, "panel")
    colours = _colours(frame["impl"])
    fig, axes = _grid(len(panels))
    for ax, (title, group) in zip(axes, panels, strict=True):
        for impl, g in group.groupby("impl", sort=True):
            g = g.groupby("size", as_index=False)["gbps"].median().sort_values("size")
            style = ({"color": "black", "linestyle": "--"} if impl == "copy"
                     else {"marker": "o", "color": colours[str(impl)]})
            ax.plot(g["size"], g["gbps"], label=str(impl), **style)
        ax.set_xscale("log")
        ax.set(title=title or "Bypass kernel bandwidth", xlabel=xlabel, ylabel="GB/s")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    _add_caption(fig, _caption(frame, caption))
    return _save(fig, out_dir, name, dpi)


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
    groups = _panels(frame, "panel", panels)
    if not groups:
        raise ValueError(f"gradient_norms: no rows in panels {list(panels or [])}")
    colours = _colours(frame["bypass"])
    fig, axes = _grid(len(groups))
    for ax, (title, group) in zip(axes, groups, strict=True):
        for bypass, g in group.groupby("bypass", sort=True):
            g = g.assign(log=np.log10(g["ratio"].astype(float))).groupby("depth", as_index=False)["log"].mean()
            g = g.sort_values("depth")
            ax.plot(g["depth"], 10.0 ** g["log"], marker="o", label=str(bypass), color=colours[str(bypass)])
        ax.axhline(1.0, color="0.6", linewidth=0.8)
        ax.set_yscale("log")
        ax.set(title=title or "Gradient flow against depth", xlabel=DEPTH_LABEL, ylabel=ylabel)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    _add_caption(fig, _caption(frame, caption))
    return _save(fig, out_dir, name, dpi)


# --- evaluation and training (BReG-NeXt Figs. 6 and 9, DACL Fig. 4, BReG-Net Fig. 6) ----------------------

CONFUSION_NOTE = "rows: true class; columns: predicted class; each row in percent of its class's samples"
DIMENSIONS = ("valence", "arousal")
LOSSES = ("train_loss", "val_loss")  # drawn on the left axis; any other quantity on the right one
QUANTITY_NAMES = {"train_loss": "training loss", "val_loss": "validation loss",
                  "val_accuracy": "validation accuracy (%)", "val_rmse_total": "validation RMSE (total)"}
NO_VALIDATION_LOSS = ("bench.train stores no validation loss: solid lines, training loss (left axis); dashed, "
                      "the validation metric it selects on (right axis)")


def confusion_matrices(data: pd.DataFrame | Iterable[dict], out_dir: str | Path, name: str = "fig6_confusion",
                       dpi: int = 150, *, panels: Sequence[str] | None = None, columns: int = 3,
                       caption: str | None = None) -> list[Path]:
    """Row-normalised confusion matrices, one panel per model and data set, as BReG-NeXt Fig. 6 and DACL
    Fig. 4: each cell is the percentage of a true class's samples predicted as a class (annotated), so a
    rare class (FER2013's disgust) reads as plainly as a common one.

    Columns: ``true``, ``predicted`` (class names), ``percent``; optional ``panel`` (sorted, or in the order
    ``panels`` gives; wrapped ``columns`` to a row) and ``count`` (the panel's title gives their total).
    Classes keep the order in which they first appear as ``true`` (`figure_data.confusion_cells` gives the
    class-index order); a class with no samples has an empty row.
    """
    import numpy as np

    frame = _frame(data, ("true", "predicted", "percent"), "confusion_matrices")
    groups = _panels(frame, "panel", panels)
    if not groups:
        raise ValueError(f"confusion_matrices: no rows in panels {list(panels or [])}")
    fig, axes = _grid(len(groups), width=4.4, height=4.0, columns=columns)
    image = None
    for ax, (title, group) in zip(axes, groups, strict=True):
        names = list(dict.fromkeys([*group["true"].astype(str), *group["predicted"].astype(str)]))
        cells = group.assign(true=group["true"].astype(str), predicted=group["predicted"].astype(str))
        matrix = (cells.groupby(["true", "predicted"])["percent"].mean().unstack()
                  .reindex(index=names, columns=names).to_numpy(dtype=float))
        image = ax.imshow(np.ma.masked_invalid(matrix), cmap="Blues", vmin=0, vmax=100)
        size = max(4.5, 9 - len(names) / 2)
        for (i, j), value in np.ndenumerate(matrix):
            text = "–" if np.isnan(value) else f"{value:.1f}" if len(names) <= 8 else f"{value:.0f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=size,
                    color="white" if value > 60 else "black")
        ticks = range(len(names))
        ax.set_xticks(ticks, names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(ticks, names, fontsize=8)
        total = f" (n={int(group['count'].sum())})" if "count" in group.columns else ""
        ax.set(title=textwrap.fill((title or "Confusion matrix") + total, 48), xlabel="predicted", ylabel="true")
        ax.title.set_fontsize(9)
    fig.colorbar(image, ax=axes, label="% of the true class", shrink=0.8)
    _add_caption(fig, _caption(frame, "; ".join(filter(None, [CONFUSION_NOTE, caption]))))
    return _save(fig, out_dir, name, dpi)


def error_histograms(data: pd.DataFrame | Iterable[dict], out_dir: str | Path, name: str = "fig9_error_hist",
                     dpi: int = 150, *, panels: Sequence[str] | None = None, caption: str | None = None
                     ) -> list[Path]:
    """Histograms of prediction - truth per dimension, as BReG-NeXt Fig. 9: a row of panels per model and
    data set, a column per dimension (valence, then arousal); errors near zero are good predictions.

    Columns: ``dimension``, ``left`` and ``right`` (the bin's edges, in the labels' units: valence and
    arousal lie in [-1, 1], so errors in [-2, 2]), ``count``; optional ``panel``. Counts are drawn as stored.
    """
    frame = _frame(data, ("dimension", "left", "right", "count"), "error_histograms")
    groups = _panels(frame, "panel", panels)
    if not groups:
        raise ValueError(f"error_histograms: no rows in panels {list(panels or [])}")
    present = set(frame["dimension"].astype(str))
    dims = [d for d in DIMENSIONS if d in present] + sorted(present - set(DIMENSIONS))
    fig, axes = _grid(len(groups) * len(dims), width=4.2, height=3.0, columns=len(dims))
    for k, (title, group) in enumerate(groups):
        for ax, (colour, dim) in zip(axes[k * len(dims):], enumerate(dims), strict=False):
            bins = group[group["dimension"].astype(str) == dim].sort_values("left")
            ax.bar(bins["left"], bins["count"], width=bins["right"] - bins["left"], align="edge",
                   color=f"C{colour}", edgecolor="white", linewidth=0.3)
            ax.axvline(0, color="0.3", linewidth=0.8, linestyle=":")
            ax.set(title=f"{title}: {dim}" if title else f"{dim} error",
                   xlabel=f"{dim} error: predicted − true (label units, [−1, 1] scale)", ylabel="samples (count)")
            ax.title.set_fontsize(9)
            ax.grid(alpha=0.3, axis="y")
    _add_caption(fig, _caption(frame, caption))
    return _save(fig, out_dir, name, dpi)


def loss_curves(data: pd.DataFrame | Iterable[dict], out_dir: str | Path, name: str = "bregnet_fig6_loss",
                dpi: int = 150, *, panels: Sequence[str] | None = None, caption: str | None = None) -> list[Path]:
    """Loss against epoch, one line per run, as BReG-Net Fig. 6 (training and validation loss of ResNet-110
    beside BReG-Net): a steeper, lower curve is the faster-learning network.

    Columns: ``epoch``, ``quantity`` (``train_loss`` and ``val_loss`` on the left axis; anything else, e.g.
    ``val_accuracy`` in percent or ``val_rmse_total``, dashed on a right-hand axis), ``value``; optional
    ``label`` (one colour per run, the same in every panel), ``panel`` (e.g. data set and task) and ``loss``
    (the loss's name, put in the axis label). Without ``val_loss`` rows the caption says what stands in.
    """
    from matplotlib.ticker import MaxNLocator

    frame = _frame(data, ("epoch", "quantity", "value"), "loss_curves")
    if "label" not in frame.columns:
        frame["label"] = "run"
    groups = _panels(frame, "panel", panels)
    if not groups:
        raise ValueError(f"loss_curves: no rows in panels {list(panels or [])}")
    colours = _colours(frame["label"])
    fig, axes = _grid(len(groups), width=5.0, height=3.6)
    for ax, (title, group) in zip(axes, groups, strict=True):
        twin = None
        for (label, quantity), g in group.groupby([group["label"].astype(str), "quantity"], sort=True):
            g = g.groupby("epoch", as_index=False)["value"].mean().sort_values("epoch")
            if quantity not in LOSSES and twin is None:
                twin = ax.twinx()
            target = ax if quantity in LOSSES else twin
            target.plot(g["epoch"], g["value"], color=colours[label], label=f"{label}: {_quantity_name(quantity)}",
                        linestyle="-" if quantity == "train_loss" else "--",
                        marker="o" if quantity in LOSSES else "s", markersize=3)
        losses = sorted({str(v) for v in group["loss"].dropna()}) if "loss" in group.columns else []
        shown = [q for q in LOSSES if q in set(group["quantity"])]
        ylabel = "training loss" if shown == ["train_loss"] else "loss"
        ax.set(title=title or "Training", xlabel="epoch", ylabel=ylabel + (f" ({', '.join(losses)})" if losses else ""))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        if twin is not None:
            right = sorted({str(q) for q in group["quantity"]} - set(LOSSES))
            twin.set_ylabel(" / ".join(_quantity_name(q) for q in right))
            more = twin.get_legend_handles_labels()
            handles, labels = handles + more[0], labels + more[1]
        ax.legend(handles, labels, fontsize=7)
    note = None if (frame["quantity"] == "val_loss").any() else NO_VALIDATION_LOSS
    _add_caption(fig, _caption(frame, "; ".join(filter(None, [note, caption]))))
    return _save(fig, out_dir, name, dpi)


def _quantity_name(quantity: str) -> str:
    return QUANTITY_NAMES.get(quantity, quantity.replace("_", " "))
