"""Gradient growth with depth: the least-squares fit behind `bench.gradflow` and its report.

The rows are `bench.gradflow` result rows; per bypass, batch-norm mode and phase the fit is the slope of
log10(first-unit / last-unit gradient norm) against the number of residual units. Zero is a bounded flow;
BReG-NeXt Eq. 6 predicts log10(lam) per unit for the scaled shortcut lam x. Both the entry point and
`reports.gradflow` use it, so it sits below both (DESIGN.md section 4); it reads the bypass family from
`breg_models` only to state what the paper expects of each bypass.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import linregress

from breg_models.bypass import get_function, parse_bypass, resolve_params


def expected_growth(bypass: str) -> str:
    """What the paper predicts for first/last as depth grows: Eq. 6 for lam x, Eq. 10 for a bounded H'."""
    kind, params = parse_bypass(bypass)
    if kind == "scaled":
        lam = resolve_params(kind, params)["lam"]
        return "bounded" if lam == 1 else ("grows" if lam > 1 else "shrinks")
    return "bounded" if get_function(kind).bounded else "no claim"


def fit_growth(rows: list[dict]) -> pd.DataFrame:
    """Per bypass, BN mode and phase: slopes of log10(first/last) and of the bypass product per unit."""
    records = []
    for row in rows:
        for phase in ("init", "trained"):
            if phase in row["metrics"]:
                m = row["metrics"][phase]
                records.append({"bypass": row["config"]["bypass"], "bn": row["config"]["bn"],
                                "phase": phase if phase == "init" else f"step{row['config']['steps']}",
                                "depth": row["config"]["depth"], "units": row["metrics"]["units"],
                                "grad": m["log10_grad_ratio"], "weight": m["log10_weight_grad_ratio"],
                                "product": m["log10_bypass_product"]})
    if not records:
        return pd.DataFrame()
    out = []
    frame = pd.DataFrame(records)
    for (bypass, bn, phase), g in frame.groupby(["bypass", "bn", "phase"], sort=False):
        g = g.sort_values("units")
        summary = {"bypass": bypass, "bn": bn, "phase": phase, "paper_expects": expected_growth(bypass),
                   "depths": " ".join(map(str, g["depth"])), "units_max": int(g["units"].max())}
        for name in ("grad", "weight", "product"):
            summary.update(slope_per_unit(g["units"].to_numpy(float), g[name].to_numpy(float), name))
        summary["finite_depths"] = int(np.isfinite(g["grad"]).sum())
        summary["log10_grad_ratios"] = " ".join(f"{v:.4g}" for v in g["grad"])  # one per depth, as "depths"
        out.append(summary)
    return pd.DataFrame(out)


def slope_per_unit(units: np.ndarray, values: np.ndarray, name: str) -> dict:
    """Least-squares slope per unit over the finite points (non-finite ones overflowed or vanished), and r2."""
    ok = np.isfinite(values)
    key = f"{name}_slope_per_unit"
    if ok.sum() < 2 or np.ptp(units[ok]) == 0:
        return {key: math.nan, f"{name}_r2": math.nan}
    fit = linregress(units[ok], values[ok])
    return {key: fit.slope, f"{name}_r2": fit.rvalue ** 2}
