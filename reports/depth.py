"""Depth-sweep tables: the Table 2 mirror, cost and accuracy per depth, and how cost grows with depth.

The paper claims parameters and FLOPs grow linearly with depth (Sec. 4.3, Table 2). We fit a line to each
measured quantity against depth and put the same fit of the published Table 2 values beside it.
"""

from __future__ import annotations

import pandas as pd
from scipy import stats

from . import published
from .complexity import render_complexity
from .render import render

QUANTITIES = {"params": "params_trainable", "flops": "flops", "step_s": "step_s"}


def depth_frame(rows: list[dict]) -> pd.DataFrame:
    """One line per (arrangement, depth) with every measured column of the sweep."""
    records = []
    for row in rows:
        cfg, m = row["config"], row["metrics"]
        records.append({"arrangement": cfg.get("arrangement", "bregnext"), "depth": m["depth"],
                        "model": cfg["model"], "params": m["params_trainable"], "flops": m["flops"],
                        "step_s": m.get("step_s"), "images_per_s": m.get("images_per_s"),
                        "peak_gpu_mem_gib": m.get("peak_gpu_mem_gib"),
                        **{k: v for k, v in m.items() if k.startswith("val_")},
                        "device": row.get("env", {}).get("device")})
    return pd.DataFrame(records).sort_values(["arrangement", "depth"], kind="stable").reset_index(drop=True)


def growth_fits(frame: pd.DataFrame) -> pd.DataFrame:
    """Least-squares line of each quantity against depth, per arrangement, and of Table 2's printed values."""
    fits = []
    for arrangement, group in frame.groupby("arrangement", sort=False):
        for quantity in QUANTITIES:
            data = group[["depth", quantity]].dropna()
            if data["depth"].nunique() >= 2:
                fits.append(_fit(f"measured ({arrangement})", quantity, data["depth"], data[quantity]))
    t2 = published.table("bregnext", 2)
    for quantity in ("params", "flops"):
        cells = t2[t2["column"] == quantity]
        depths = cells["row"].str.removeprefix("bregnext").astype(int)
        fits.append(_fit("published (Table 2)", quantity, depths, cells["value"]))
    return pd.DataFrame(fits)


def _fit(source: str, quantity: str, depth: pd.Series, value: pd.Series) -> dict:
    fit = stats.linregress(depth.astype(float), value.astype(float))
    return {"source": source, "quantity": quantity, "slope_per_layer": fit.slope, "intercept": fit.intercept,
            "r2": fit.rvalue**2, "depths": f"{int(depth.min())}-{int(depth.max())}", "points": len(depth)}


TITLE = "BReG-NeXt Table 2 and Fig. 5: cost and accuracy against depth"
FILL = "python -m bench.depth_sweep"


def render_depth_sweep(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """Markdown/LaTeX: Table 2 mirror, then per-depth cost/accuracy, then the growth fits. CSV: the per-depth
    frame. JSON: the per-depth frame with the fits as notes."""
    from .paper_tables import provenance, published_table

    if not rows:
        return published_table("bregnext", ["2", "fig5"], fmt, caption or TITLE, "depth_sweep", FILL)
    caption = caption or f"{TITLE}; {provenance(rows, 'depth_sweep')}"
    frame, fits = depth_frame(rows), None
    fits = growth_fits(frame)
    if fmt == "csv":
        return render(frame, fmt)
    if fmt == "json":
        return render(frame.astype(object).where(frame.notna(), None), fmt, caption=caption,
                      notes=[str(r) for r in fits.to_dict(orient="records")])
    mirror = render_complexity(rows, fmt, caption=caption or "Depth sweep: Table 2 mirror")
    shown = frame.copy()
    shown["params"] = [f"{v / 1e6:.3f}M" for v in shown["params"]]
    shown["flops"] = [f"{v / 1e9:.3f}G" for v in shown["flops"]]
    for col in shown.columns:
        if col in ("step_s", "peak_gpu_mem_gib") or col.startswith("val_"):
            shown[col] = ["n/a" if pd.isna(v) else f"{v:.4f}" for v in shown[col]]
        elif col == "images_per_s":
            shown[col] = ["n/a" if pd.isna(v) else f"{v:.0f}" for v in shown[col]]
    per_depth = render(shown, fmt, caption="Cost and validation metrics by depth (measured)")
    fit_shown = fits.copy()
    for col in ("slope_per_layer", "intercept"):
        fit_shown[col] = [f"{v:.4g}" for v in fit_shown[col]]
    fit_shown["r2"] = [f"{v:.4f}" for v in fit_shown["r2"]]
    growth = render(fit_shown, fmt, caption="Growth with depth: least-squares line per quantity",
                    notes=["The paper states that parameters and FLOPs grow linearly with depth (Sec. 4.3); "
                           "r2 near 1 supports a linear growth. Published FLOPs use the paper's convention "
                           "(about 5 x parameters), so their slope is not comparable to the measured one."])
    return "\n".join([mirror, per_depth, growth])
