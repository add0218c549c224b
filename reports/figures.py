"""Figures where a reader would rather look than read; each is written as PNG and PDF.

matplotlib is an optional extra (``pip install 'breg-harness[plots]'``) and is imported only when a figure
is drawn. Figures are drawn on ``matplotlib.figure.Figure`` objects, never through pyplot, so nothing
here touches the global backend: PNG goes through Agg, PDF through matplotlib's PDF backend.

The figures that show results take a *tidy* frame (a pandas DataFrame, or a list of flat dicts) with the
columns each function documents; turning the results store's rows into such a frame is the caller's job
(`flatten_rows` helps). An optional ``panel`` column splits any of them into side-by-side panels (e.g. one
per batch-norm mode, or per direction).

==========================  ===============================================  =========================
function                    required columns                                 what it shows
==========================  ===============================================  =========================
`bypass_functions`          (none: plots ``breg_models.bypass``)             BReG-NeXt Fig. 3
`depth_curves`              depth, metric, value, source                     Fig. 5: metric vs depth
`complexity_curves`         depth, quantity, value, source                   params / FLOPs / time
`kernel_bandwidth`          size, impl, gbps                                 GB/s vs size per impl
`gradient_norms`            depth, bypass, ratio                             gradient ratio vs depth
==========================  ===============================================  =========================

``source`` is ``measured`` or ``published``; `published_depth_points` and `published_complexity_points`
give the published side from ``reports.published``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from . import published

FORMATS = ("png", "pdf")
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


def _panels(frame: pd.DataFrame, key: str | None) -> list[tuple[str, pd.DataFrame]]:
    if key is None or key not in frame.columns:
        return [("", frame)]
    return [(str(k), g) for k, g in frame.groupby(key, sort=False)]


def _grid(n: int, width: float = 4.2, height: float = 3.4) -> tuple[Any, list[Any]]:
    Figure = _figure_api()
    fig = Figure(figsize=(width * n, height), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    return fig, list(axes)


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

def _depth_panels(frame: pd.DataFrame, key: str, keep: Sequence[str] | None, title: str, out_dir: str | Path,
                  name: str, dpi: int) -> list[Path]:
    """One panel per ``key`` value: measured as lines (one per ``label`` if given), published as markers.

    Panels are those in ``keep``, else those with measured points, else all; so published points for a
    quantity nobody measured do not add empty panels.
    """
    if keep is None:
        measured_keys = frame.loc[frame["source"] == "measured", key].unique()
        keep = list(measured_keys) if len(measured_keys) else list(frame[key].unique())
    frame = frame[frame[key].isin(keep)]
    if frame.empty:
        raise ValueError(f"no rows for {key} in {list(keep)}")
    panels = [(k, frame[frame[key] == k]) for k in keep if (frame[key] == k).any()]
    fig, axes = _grid(len(panels))
    for ax, (what, group) in zip(axes, panels, strict=True):
        measured = group[group["source"] == "measured"]
        lines = measured.groupby("label", sort=False) if "label" in measured.columns else [("measured", measured)]
        for label, g in lines:
            if g.empty:
                continue
            g = g.groupby("depth", as_index=False)["value"].mean().sort_values("depth")
            ax.plot(g["depth"], g["value"], marker="o", label=str(label))
        pub = group[group["source"] == "published"].sort_values("depth")
        if not pub.empty:
            ax.plot(pub["depth"], pub["value"], color="black", label="published", **_PUBLISHED_STYLE)
        _auto_log(ax, group["value"])
        ax.set(title=str(what), xlabel="depth (weighted layers)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    return _save(fig, out_dir, name, dpi)


def depth_curves(data: pd.DataFrame | Iterable[dict], out_dir: str | Path, metrics: Sequence[str] | None = None,
                 name: str = "fig5_depth", dpi: int = 150) -> list[Path]:
    """BReG-NeXt Fig. 5: a metric against depth, one panel per metric.

    Columns: ``depth`` (weighted layers), ``metric`` (e.g. ``affectnet_accuracy``, ``affectnet_rmse_valence``),
    ``value``, ``source`` (``measured`` | ``published``); optional ``label`` (one measured line each, e.g. a
    seed or dataset); repeated (depth, metric) rows are averaged. ``metrics`` picks and orders the panels
    (default: the measured ones). Fig. 5 itself is an image in the paper; `published_depth_points` gives
    the few depths whose numbers the text and Tables 4 and 6 print.
    """
    frame = _frame(data, ("depth", "metric", "value", "source"), "depth_curves")
    return _depth_panels(frame, "metric", metrics, "Result against depth (BReG-NeXt Fig. 5)", out_dir, name, dpi)


def complexity_curves(data: pd.DataFrame | Iterable[dict], out_dir: str | Path,
                      quantities: Sequence[str] | None = None, name: str = "complexity_depth",
                      dpi: int = 150) -> list[Path]:
    """Parameters, FLOPs and step time against depth, one panel per quantity.

    Columns: ``depth``, ``quantity`` (e.g. ``params``, ``flops``, ``step_time_ms``), ``value``, ``source``
    (``measured`` | ``published``); optional ``label`` (e.g. the model family or the device). ``quantities``
    picks and orders the panels (default: the measured ones). A panel whose values span decades (Table 2's
    'FLOPs' beside a measured forward pass) is drawn on a log axis.
    """
    frame = _frame(data, ("depth", "quantity", "value", "source"), "complexity_curves")
    return _depth_panels(frame, "quantity", quantities, "Cost against depth", out_dir, name, dpi)


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
                     dpi: int = 150, xlabel: str = "size (elements)") -> list[Path]:
    """Achieved memory bandwidth against tensor size, one line per implementation.

    Columns: ``size`` (elements by default; say otherwise with ``xlabel``), ``impl`` (e.g. ``eager``,
    ``compile``, ``triton``, ``copy``), ``gbps``; optional ``panel`` (e.g. ``forward`` / ``backward``).
    The ``copy`` line (a plain tensor copy, the attainable ceiling) is drawn dashed in black.
    """
    frame = _frame(data, ("size", "impl", "gbps"), "kernel_bandwidth")
    panels = _panels(frame, "panel")
    fig, axes = _grid(len(panels))
    for ax, (title, group) in zip(axes, panels, strict=True):
        for impl, g in group.groupby("impl", sort=False):
            g = g.groupby("size", as_index=False)["gbps"].median().sort_values("size")
            style = {"color": "black", "linestyle": "--"} if impl == "copy" else {"marker": "o"}
            ax.plot(g["size"], g["gbps"], label=str(impl), **style)
        ax.set_xscale("log")
        ax.set(title=title or "Bypass kernel bandwidth", xlabel=xlabel, ylabel="GB/s")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    return _save(fig, out_dir, name, dpi)


def gradient_norms(data: pd.DataFrame | Iterable[dict], out_dir: str | Path, name: str = "gradient_norms",
                   dpi: int = 150, ylabel: str = "|dL/dx| first unit / last unit") -> list[Path]:
    """A gradient-norm ratio against depth, one line per bypass kind, on a log axis: a bounded flow stays
    flat, Eq. 6's scaled shortcut grows or shrinks exponentially with depth.

    Columns: ``depth``, ``bypass`` (e.g. ``identity``, ``scaled:lam=0.5``, ``adaptive``), ``ratio``;
    optional ``panel`` (e.g. the batch-norm mode, or init / trained). Repeated points are averaged
    geometrically.
    """
    import numpy as np

    frame = _frame(data, ("depth", "bypass", "ratio"), "gradient_norms")
    panels = _panels(frame, "panel")
    fig, axes = _grid(len(panels))
    for ax, (title, group) in zip(axes, panels, strict=True):
        for bypass, g in group.groupby("bypass", sort=False):
            g = g.assign(log=np.log10(g["ratio"].astype(float))).groupby("depth", as_index=False)["log"].mean()
            g = g.sort_values("depth")
            ax.plot(g["depth"], 10.0 ** g["log"], marker="o", label=str(bypass))
        ax.axhline(1.0, color="0.6", linewidth=0.8)
        ax.set_yscale("log")
        ax.set(title=title or "Gradient flow against depth", xlabel="depth (weighted layers)", ylabel=ylabel)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    return _save(fig, out_dir, name, dpi)
