"""Gradient flow against depth: the per-unit growth of log10(first-unit / last-unit gradient) per bypass."""

from __future__ import annotations

from metrics.gradient_growth import fit_growth

from .rows import render_frame


def render_gradflow(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    frame = fit_growth(rows)
    notes = ["slope_per_unit: least-squares slope of log10(|dL/dx| at the first unit / at the last unit) against "
             "the number of units; Eq. 6 predicts log10(lam) per unit for lam x without normalisation.",
             "bn=frozen keeps batch norm in eval mode (the un-normalised recursion of Eq. 3-6); bn=batch uses batch "
             "statistics as in training."]
    if fmt in ("csv", "json"):
        return render_frame(frame, fmt, caption=caption, notes=notes)
    keep = [c for c in ("bypass", "bn", "phase", "paper_expects", "depths", "grad_slope_per_unit", "grad_r2",
                        "product_slope_per_unit", "weight_slope_per_unit") if c in frame.columns]
    return render_frame(frame[keep], fmt, caption=caption or "Gradient flow against depth", notes=notes)
