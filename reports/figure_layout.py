"""The print layout every figure shares: sizes, fonts, grids, wrapping, legends, pages, saving, and the checker.

A figure is drawn at most `PAGE_WIDTH` (7 in, a text width) wide, with no text under `MIN_FONT_PT`, legends
beside the panels rather than on the data and at most `MAX_SERIES` labelled series per legend;
`layout_problems` checks a drawn figure for all of that and for overlapping text. `reports.figures` draws
the figures themselves with these helpers.
"""

from __future__ import annotations

import functools
import re
import textwrap
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

FORMATS = ("png", "pdf")
PAGE_WIDTH = 7.0  # inches: the widest a figure is printed (a 7-inch text width), so drawn at print size
MIN_FONT_PT = 7.0  # the smallest text a reader can read at that size
GAP_PT = 1.0  # the least space between two texts for a reader to tell them apart
MAX_SERIES = 8  # labelled series a legend may hold; more are split over panels or figures
MAX_PANELS = 6  # confusion matrices on one page, in a grid a reader can take in
# Font sizes (points) for every figure: readable at print size, small enough for the panels a page holds.
STYLE = {"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7, "ytick.labelsize": 7,
         "legend.fontsize": 7, "legend.title_fontsize": 7, "figure.titlesize": 9}


def figure_api() -> Any:
    """matplotlib.figure.Figure, or a one-line error saying how to get it."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("figures need matplotlib: install the 'plots' extra "
                          "(pip install 'breg-harness[plots]')") from None
    return Figure


def print_style(draw: Callable[..., list[Path]]) -> Callable[..., list[Path]]:
    """Draw under `STYLE` (matplotlib's rc settings, restored afterwards), so every figure reads alike."""
    @functools.wraps(draw)
    def styled(*args: Any, **kwargs: Any) -> list[Path]:
        figure_api()
        from matplotlib import rc_context

        with rc_context(STYLE):
            return draw(*args, **kwargs)
    return styled



def save(fig: Any, out_dir: str | Path, name: str, dpi: int) -> list[Path]:
    """Write ``name``.png and ``name``.pdf at the figure's own size (its layout already fits everything in, and
    a trimmed file would be laid out anew); the PDF carries no creation date, so reruns give the same file."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in FORMATS:
        path = out / f"{name}.{fmt}"
        metadata = {"CreationDate": None} if fmt == "pdf" else None
        fig.savefig(path, format=fmt, dpi=dpi, metadata=metadata)
        paths.append(path)
    return paths


def natural_key(text: str) -> list[Any]:
    """Sort key that puts 'BReG-NeXt-26' before 'BReG-NeXt-110'."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text)]


def split_panels(frame: pd.DataFrame, key: str | None, order: Sequence[str] | None = None
            ) -> list[tuple[str, pd.DataFrame]]:
    """One (title, rows) per ``key`` value: in ``order`` where given (values it leaves out are not drawn),
    else in natural order, so the panels do not change places with the order the rows arrived in."""
    if key is None or key not in frame.columns:
        return [("", frame)]
    groups = {str(k): g for k, g in frame.groupby(frame[key].astype(str))}
    return [(k, groups[k]) for k in (order if order is not None else sorted(groups, key=natural_key)) if k in groups]


def slug(text: str) -> str:
    """A figure's title as part of a file name: 'BReG-NeXt (budget short), AffectNet val' ->
    'bregnext_budget_short_affectnet_val'."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower().replace("-", "")).strip("_")


def pages(frame: pd.DataFrame, name: str, per_page: int, order: Sequence[str] | None, what: str,
           series: str | None = None) -> list[tuple[str, str, list[tuple[str, pd.DataFrame]]]]:
    """(file stem, figure title, panels) per ``figure`` value and page of at most ``per_page`` panels; with
    ``series``, a panel holds at most `MAX_SERIES` of that column's values (`capped`)."""
    out = []
    for title, part in split_panels(frame, "figure"):
        panels = split_panels(part, "panel", order)
        if series is not None:
            panels = capped(panels, series)
        pages = [panels[i:i + per_page] for i in range(0, len(panels), per_page)]
        for k, page in enumerate(pages, 1):
            numbered = len(pages) > 1
            stem = "_".join(filter(None, [name, slug(title), str(k) if numbered else ""]))
            out.append((stem, title + (f" ({k} of {len(pages)})" if numbered else ""), page))
    if not out:
        raise ValueError(f"{what}: no rows in panels {list(order or [])}")
    return out


def capped(panels: list[tuple[str, pd.DataFrame]], column: str, limit: int = MAX_SERIES
            ) -> list[tuple[str, pd.DataFrame]]:
    """Panels with more than ``limit`` values of ``column`` (series) split into 'title (1 of 2)', ...:
    the last resort where the caller has not faceted its series itself."""
    out = []
    for title, group in panels:
        names = sorted({str(v) for v in group[column]}, key=natural_key)
        parts = [names[i:i + limit] for i in range(0, len(names), limit)]
        for k, part in enumerate(parts, 1):
            suffix = f" ({k} of {len(parts)})" if len(parts) > 1 else ""
            out.append((title + suffix, group[group[column].astype(str).isin(part)]))
    return out


def colours(values: Iterable[Any]) -> dict[str, str]:
    """A fixed colour per line name, the same in every panel of a figure and in every rerun."""
    return {name: f"C{i % 10}" for i, name in enumerate(sorted({str(v) for v in values}, key=natural_key))}


def caption(frame: pd.DataFrame, extra: str | None = None) -> str:
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


def _chars(width_in: float, size_pt: float) -> int:
    """About how many characters of ``size_pt`` text fit in ``width_in`` inches (DejaVu Sans, mixed case)."""
    return max(8, int(width_in * 72 / (0.6 * size_pt)))


def wrap(text: str, width_in: float, size_pt: float = 8) -> str:
    """Prose (a title, a caption) in lines that fit ``width_in`` inches."""
    return "\n".join(textwrap.fill(line, _chars(width_in, size_pt)) for line in text.split("\n"))


def wrap_label(label: str, width_in: float, size_pt: float = MIN_FONT_PT) -> str:
    """A run's name in lines of at most ``width_in`` inches of ``size_pt`` text, broken after its commas where
    it can be ('BReG-Net-39, bypass h1, loss ce' keeps 'loss ce' together)."""
    limit, lines = _chars(width_in, size_pt), [""]
    for part in label.split(", "):
        if lines[-1] and len(lines[-1]) + 2 + len(part) > limit:
            lines[-1] += ","
            lines.append(part)
        else:
            lines[-1] = f"{lines[-1]}, {part}" if lines[-1] else part
    return "\n".join(textwrap.fill(line, limit) for line in lines)


def add_caption(fig: Any, text: str) -> None:
    """Small text under the panels, wrapped to the figure's width: the figure grows by its height and the
    layout keeps clear of it."""
    if not text:
        return
    wrapped = wrap(text, fig.get_figwidth() - 0.2, MIN_FONT_PT)
    height = (wrapped.count("\n") + 1) * MIN_FONT_PT * 1.3 / 72 + 0.08
    total = fig.get_figheight() + height
    fig.set_figheight(total)
    fig.get_layout_engine().set(rect=(0, height / total, 1, 1 - height / total))
    fig.text(0.5, (height - 0.04) / total, wrapped, ha="center", va="top", fontsize=MIN_FONT_PT, color="0.3")


def columns_for(n: int, most: int) -> int:
    """Panels a row for ``n`` panels: at most ``most``, and four as 2 x 2 rather than 3 + 1."""
    return max(1, min(n, most, 2 if n == 4 else most))


def grid(n: int, columns: int | None = None, height: float = 2.3, width: float = PAGE_WIDTH,
          **subplots: Any) -> tuple[Any, list[Any]]:
    """``n`` panels in rows of `columns_for` (at most ``columns``; default: all in one row), ``width`` inches wide
    in all and ``height`` inches a row (unused places removed)."""
    Figure = figure_api()
    columns = columns_for(n, columns or n)
    rows = -(-n // columns)
    fig = Figure(figsize=(min(width, PAGE_WIDTH), height * rows), layout="constrained")
    axes = list(fig.subplots(rows, columns, squeeze=False, **subplots).flat)
    for ax in axes[n:]:
        fig.delaxes(ax)
    return fig, axes[:n]


def shared_legend(fig: Any, axes: Sequence[Any]) -> None:
    """One legend for all panels (a series keeps its colour in each), beside them at the right, outside the
    data; long names wrapped so that it stays narrow. Not under them: matplotlib anchors such a legend to the
    figure's bottom edge, where the caption is."""
    entries: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    if entries:
        fig.legend(list(entries.values()), [wrap_label(label, 1.1) for label in entries],
                   loc="outside right upper")


def auto_log(ax: Any, values: pd.Series, axis: str = "y") -> None:
    """Log scale when the values span more than ~1.5 decades (e.g. published 'FLOPs' beside measured ones)."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    v = v[v > 0]
    if len(v) and v.max() / v.min() > 30:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")


# --- what a reader would trip over ------------------------------------------------------------------------

def layout_problems(fig: Any, width: float = PAGE_WIDTH, min_font: float = MIN_FONT_PT,
                    max_entries: int = MAX_SERIES) -> list[str]:
    """What keeps a drawn figure from being read at print size, one sentence each (empty: none found).

    Draws ``fig`` (Agg) and checks: the figure at most ``width`` inches wide, with no text cut off at its
    edges; every drawn text at least ``min_font`` points; no two drawn texts (tick labels, titles, axis labels,
    legend entries, annotations, captions) closer than `GAP_PT`; no text over another panel's area and no
    legend over any panel's area; at most ``max_entries`` entries a legend; no panel squeezed under half an
    inch and no warning while drawing (such as constrained layout's "axes sizes collapsed to zero"). Texts
    are compared by their axis-aligned boxes, so rotate labels by 0 or 90 degrees, or a slanted one may be
    reported though its glyphs are clear.
    """
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.legend import Legend

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        canvas.draw()
    renderer = canvas.get_renderer()
    problems = [f"warning while drawing: {w.message}" for w in caught]
    inch = fig.dpi
    if fig.get_figwidth() > width + 1e-6:
        problems.append(f"{fig.get_figwidth():.2f} in wide (at most {width:g} in)")
    texts = list(_drawn_texts(fig))
    for t in texts:
        if t.get_fontsize() < min_font - 1e-6:
            problems.append(f"{t.get_text()!r} is {t.get_fontsize():g} pt (at least {min_font:g} pt)")
    panels = [ax for ax in fig.get_axes() if ax.axison and not hasattr(ax, "_colorbar")]
    areas = {id(ax): ax.get_window_extent(renderer) for ax in fig.get_axes() if ax.axison}
    for ax in panels:
        box = areas[id(ax)]
        if min(box.width, box.height) < 0.5 * inch:
            problems.append(f"panel {ax.get_title()!r} squeezed to {box.width / inch:.2f} x {box.height / inch:.2f} in")
    gap = GAP_PT / 72 * inch / 2  # texts closer than GAP_PT run together ('10' and '12' read '1012')
    boxes = np.array([t.get_window_extent(renderer).extents for t in texts]).reshape(-1, 4) + [-gap, -gap, gap, gap]
    x0, y0, x1, y1 = (boxes[:, i] for i in range(4))
    overlap = ((np.minimum(x1[:, None], x1[None]) > np.maximum(x0[:, None], x0[None]))
               & (np.minimum(y1[:, None], y1[None]) > np.maximum(y0[:, None], y0[None])))
    for i, j in zip(*np.nonzero(np.triu(overlap, k=1)), strict=True):
        problems.append(f"texts overlap: {texts[i].get_text()!r} and {texts[j].get_text()!r}")
    for t, box in zip(texts, boxes, strict=True):
        if min(box[:2]) < -gap or box[2] > fig.bbox.width + gap or box[3] > fig.bbox.height + gap:
            problems.append(f"text {t.get_text()!r} is cut off at the figure's edge")
        for ax in fig.get_axes():
            if id(ax) in areas and ax is not t.axes and _inside(box, areas[id(ax)].extents):
                problems.append(f"text {t.get_text()!r} lies over the panel {ax.get_title()!r}")
    for legend in fig.findobj(Legend):
        entries = [t.get_text() for t in legend.get_texts()]
        if len(entries) > max_entries:
            problems.append(f"a legend of {len(entries)} entries (at most {max_entries}): {entries[:3]} ...")
        box = legend.get_window_extent(renderer).extents + [1, 1, -1, -1]
        for ax in panels:
            if _inside(box, areas[id(ax)].extents):
                problems.append(f"the legend {entries[:2]} ... lies over the panel {ax.get_title()!r}")
    return problems


def _drawn_texts(artist: Any) -> Iterable[Any]:
    """The non-empty texts a draw of ``artist`` shows: those of visible artists, of an axes' axis only where
    it is shown (``axison``), and of ticks only inside the view (matplotlib keeps labels of ticks beyond it)."""
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.spines import Spine
    from matplotlib.text import Text

    if not artist.get_visible():
        return
    if isinstance(artist, Text):
        if artist.get_text().strip():
            yield artist
        return
    if isinstance(artist, Axis):
        low, high = sorted(artist.get_view_interval())
        slack = 1e-9 * (high - low)
        ticks = artist.get_major_ticks(len(artist.get_majorticklocs())) + artist.get_minor_ticks(
            len(artist.get_minorticklocs()))
        shown = [t for tick in ticks if tick.get_visible() and low - slack <= tick.get_loc() <= high + slack
                 for t in (tick.label1, tick.label2)]
        children = [*shown, artist.label, artist.offsetText]
    elif isinstance(artist, Axes) and not artist.axison:
        children = [c for c in artist.get_children() if not isinstance(c, Axis | Spine)]
    else:
        children = artist.get_children()
    for child in children:
        yield from _drawn_texts(child)


def _inside(box: Sequence[float], area: Sequence[float]) -> bool:
    """Whether two (x0, y0, x1, y1) boxes share some area."""
    return min(box[2], area[2]) > max(box[0], area[0]) and min(box[3], area[3]) > max(box[1], area[1])
