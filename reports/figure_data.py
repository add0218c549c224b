"""Result rows -> the tidy frames `reports.figures` draws, one adapter per entry point."""

from __future__ import annotations

import math

import pandas as pd

from .figures import published_complexity_points, published_depth_points


def depth_cost(rows: list[dict]) -> pd.DataFrame:
    """Parameters, FLOPs (2 x MACs) and step time per depth from `depth_sweep` rows, Table 2 beside."""
    measured = [{"depth": r["metrics"]["depth"], "quantity": q, "value": r["metrics"].get(key), "source": "measured",
                 "label": r["config"].get("arrangement", "bregnext")}
                for r in rows for q, key in (("params", "params_trainable"), ("flops", "flops"),
                                             ("step_time_ms", "step_s"))]
    frame = pd.DataFrame(measured).dropna(subset=["value"])
    frame.loc[frame["quantity"] == "step_time_ms", "value"] *= 1000
    return pd.concat([frame, published_complexity_points().assign(label="published")], ignore_index=True)


def depth_results(rows: list[dict]) -> pd.DataFrame:
    """Validation metrics per depth from `depth_sweep` rows trained with --epochs, beside Fig. 5's printed points.

    Published points are on AffectNet and named by their own metric, so they sit in their own panels."""
    measured = [{"depth": r["metrics"]["depth"], "metric": f"{r['config']['data']}_{k.removeprefix('val_')}",
                 "value": v, "source": "measured", "label": r["config"].get("arrangement", "bregnext")}
                for r in rows for k, v in r["metrics"].items() if k.startswith("val_") and v is not None]
    return pd.concat([pd.DataFrame(measured), published_depth_points()], ignore_index=True)


def gradient_ratios(rows: list[dict]) -> pd.DataFrame:
    """First-unit / last-unit gradient-norm ratio per depth and bypass from `gradflow` rows, at init."""
    out = []
    for r in rows:
        m = r["metrics"].get("init", {})
        value = m.get("log10_grad_ratio")
        if value is not None and math.isfinite(value):
            out.append({"depth": r["config"]["depth"], "bypass": r["config"]["bypass"], "ratio": 10.0 ** value,
                        "panel": f"batch norm: {r['config']['bn']}"})
    return pd.DataFrame(out)


def kernel_bandwidths(rows: list[dict]) -> pd.DataFrame:
    """GB/s per size and implementation from `kernel` rows, with the copy ceiling measured in the same run."""
    out = []
    for r in rows:
        c, m = r["config"], r["metrics"]
        numel = math.prod(int(d) for d in str(c["x_shape"]).split("x"))
        panel = f"{c['pass']} {c['dtype']}"
        out.append({"size": numel, "impl": c["impl"], "gbps": m["gbps"], "panel": panel})
        out.append({"size": numel, "impl": "copy", "gbps": m["copy_gbps"], "panel": panel})
    return pd.DataFrame(out)
