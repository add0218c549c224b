"""Ablation tables (BReG-NeXt Tables 8-9, BReG-Net Table I): mean and spread over seeds, a paired test
against the reference bypass, the learned alpha/beta, and the published AffectNet value beside each cell."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from . import published
from .dacl_caf_tables import CAF_NETS, caf_table4_row
from .render import render

SIGNIFICANCE = 0.05


def _metric(task: str) -> str:
    return "accuracy" if task == "categorical" else "rmse_total"


def _metrics(preset: str, task: str) -> list[str]:
    """The metrics a preset's lines show: CAF Table 4 prints RMSE and CCC per dimension, the others one figure."""
    if preset == "caf_table4":
        return ["rmse_valence", "rmse_arousal", "ccc_valence", "ccc_arousal"]
    return [_metric(task)]


def _caf_published(model: str, variant: str, metric: str) -> pd.Series | None:
    """CAF Table 4's cell for a network, a method ("caf|caf_margin=..." or "caf|caf_adversary=...") and a metric."""
    kind, *options = variant.split("|")
    net = CAF_NETS.get(model)
    row = None if net is None else caf_table4_row(net, {"method": kind, **dict(o.split("=", 1) for o in options)})
    return None if row is None else published.lookup("caf", 4, row, f"affectnet_{metric}")


def _published(preset: str, model: str, bypass: str, task: str, metric: str = "") -> float | None:
    """The paper's AffectNet value for this cell, where the paper prints one."""
    if preset == "caf_table4":
        cell = _caf_published(model, bypass, metric)
        return None if cell is None else cell["value"]
    kind = bypass.partition(":")[0]
    column = "affectnet_accuracy" if task == "categorical" else "affectnet_rmse"
    if preset == "table8" and model == "bregnext50":
        cell = published.lookup("bregnext", 8, kind, column)
    elif preset == "table9" and kind == "fixed":
        cell = published.lookup("bregnext", 9, f"{model}_nonadaptive", column)
    elif preset == "table9" and kind == "adaptive":
        cell = published.lookup("bregnext", 4 if task == "categorical" else 6, model,
                                column if task == "categorical" else "affectnet_rmse_total")
    elif preset == "bregnet" and task == "categorical":
        cell = published.lookup("bregnet", "I", kind, "affectnet_accuracy_regular")
    else:
        cell = None
    if cell is None:
        return None
    return cell["value"] / 100 if cell["unit"] == "%" else cell["value"]


def _paired_p(a: pd.Series, b: pd.Series) -> float | None:
    """Two-sided paired t-test over seeds; None with fewer than two pairs."""
    if len(a) < 2:
        return None
    diff = (a - b).to_numpy(dtype=float)
    if np.allclose(diff, 0):
        return 1.0
    p = stats.ttest_rel(a.to_numpy(dtype=float), b.to_numpy(dtype=float)).pvalue
    return None if math.isnan(p) else float(p)


def _early_deep(values: list) -> tuple[float | None, float | None]:
    """Mean of the first and the last third of the units' values."""
    if not values:
        return None, None
    third = max(1, len(values) // 3)
    return float(np.mean(values[:third])), float(np.mean(values[-third:]))


def ablation_frame(rows: list[dict]) -> pd.DataFrame:
    """One line per (preset, model, variant, metric); the variant is the bypass, or a method preset's method."""
    records = []
    for row in rows:
        c, m = row["config"], row["metrics"]
        for metric in _metrics(c["preset"], c["task"]):
            records.append({"preset": c["preset"], "reference": c["reference"], "model": c["model"],
                            "variant": c.get("variant", c.get("bypass")), "seed": c["seed"], "task": c["task"],
                            "metric": metric, "value": m.get(metric), "alpha": m.get("alpha") or [],
                            "beta": m.get("beta") or []})
    seeds = pd.DataFrame(records)
    out = []
    for (preset, model, variant, metric), group in seeds.groupby(["preset", "model", "variant", "metric"],
                                                                 sort=False):
        task, reference = group["task"].iloc[0], group["reference"].iloc[0]
        ref = seeds[(seeds["preset"] == preset) & (seeds["model"] == model) & (seeds["variant"] == reference)
                    & (seeds["metric"] == metric)]
        paired = group.merge(ref, on="seed", suffixes=("", "_ref")).dropna(subset=["value", "value_ref"])
        p = None if variant == reference else _paired_p(paired["value"], paired["value_ref"])
        alpha_early, alpha_deep = _early_deep(np.mean([a for a in group["alpha"] if a], axis=0).tolist()
                                              if any(len(a) for a in group["alpha"]) else [])
        beta_early, beta_deep = _early_deep(np.mean([b for b in group["beta"] if b], axis=0).tolist()
                                            if any(len(b) for b in group["beta"]) else [])
        out.append({"preset": preset, "model": model, "variant": variant, "metric": metric,
                    "seeds": len(group), "mean": group["value"].mean(),
                    "std": group["value"].std(ddof=1) if len(group) > 1 else None,
                    "vs": reference, "p_value": p,
                    "exceeds_seed_noise": None if p is None else p < SIGNIFICANCE,
                    "published_affectnet": _published(preset, model, variant, task, metric),
                    "alpha_early": alpha_early, "alpha_deep": alpha_deep,
                    "beta_early": beta_early, "beta_deep": beta_deep})
    return pd.DataFrame(out)


TITLE = "BReG-NeXt Tables 8-9: the bypass ablation over seeds"
FILL = "python -m bench.ablation --preset table8"


def render_ablation(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """The ablations over seeds; with no rows, BReG-NeXt Tables 8-9 as published and the command that runs them."""
    from .paper_tables import provenance, published_table

    if not rows:
        return published_table("bregnext", ["8", "9"], fmt, caption or TITLE, "ablation", FILL,
                               runnable=lambda row: True)  # every bypass of Tables 8-9 runs here
    caption = caption or f"{TITLE}; {provenance(rows, 'ablation')}"
    frame = ablation_frame(rows)
    notes = ["variant: the bypass, or for caf_table4 the training method (caf: CAF's Algorithm 1 with Delta; "
             "caf_margin=...: another margin; caf_adversary=...: another critic, or none, the AV loss alone).",
             f"p_value: two-sided paired t-test over seeds against the preset's reference variant ('vs'); "
             f"exceeds_seed_noise when p < {SIGNIFICANCE}.",
             "published_affectnet: the paper's AffectNet figure for the same cell and metric (accuracy as a "
             "fraction, RMSE or CCC); it is the published reference, not a result of this run, and on other data "
             "it is not expected to match.",
             "alpha/beta early and deep: mean over seeds of the first and last third of the units (the paper "
             "reports about 0.5 early and 1.2 deep after full training)."]
    caption = caption or "Ablations: bypass, or CAF's margins (measured over seeds, published AffectNet value beside)"
    if fmt in ("csv", "json"):
        return render(frame.astype(object).where(frame.notna(), None), fmt, caption=caption, notes=notes)
    shown = frame.copy()
    for col in ("mean", "std", "published_affectnet", "alpha_early", "alpha_deep", "beta_early", "beta_deep"):
        shown[col] = ["n/a" if v is None or pd.isna(v) else f"{v:.4f}" for v in shown[col]]
    shown["p_value"] = ["-" if v is None or pd.isna(v) else f"{v:.3g}" for v in shown["p_value"]]
    shown["exceeds_seed_noise"] = ["-" if v is None or pd.isna(v) else ("yes" if v else "no")
                                   for v in shown["exceeds_seed_noise"]]
    return render(shown, fmt, caption=caption, notes=notes)
