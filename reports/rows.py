"""Tables of plain result rows (kernel timings, epoch times, training epochs, gradient-flow fits): the
row's config and metrics side by side, one line per row, numbers rounded for reading."""

from __future__ import annotations

import pandas as pd

from .render import render


def flat_frame(rows: list[dict], config: list[str], metrics: list[str]) -> pd.DataFrame:
    """Chosen config and metric keys of each row (a missing key is None, never a published value)."""
    return pd.DataFrame([{**{k: r["config"].get(k) for k in config}, **{k: r["metrics"].get(k) for k in metrics}}
                         for r in rows])


def render_frame(frame: pd.DataFrame, fmt: str, caption: str = "", notes: list[str] | None = None,
                 digits: int = 4) -> str:
    """CSV/JSON keep full precision; Markdown/LaTeX show ``digits`` significant digits and 'n/a'."""
    if fmt in ("csv", "json"):
        return render(frame.astype(object).where(frame.notna(), None), fmt, caption=caption, notes=notes)
    shown = frame.copy()
    for col in shown.columns:
        shown[col] = [_cell(v, digits) for v in shown[col]]
    return render(shown, fmt, caption=caption, notes=notes)


def _cell(value, digits: int) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)
