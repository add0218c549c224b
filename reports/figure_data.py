"""Result rows -> the tidy frames `reports.figures` draws, one adapter per entry point.

Every measured point carries the ``device`` and ``commit`` of its row's environment and, where the entry
point has one, its ``budget`` (epochs, batch, input size): the figures name them in a caption. Where rows of
different configs meet at one depth, their ``label`` says what differs, so each config is its own line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import pandas as pd

from bench.data import parse_spec

from .figures import DATA_SETS, published_complexity_points, published_depth_points

# Depth-sweep config fields that change each quantity: rows that differ in one of them are separate lines.
COST_FIELDS = {
    "params": ("task",),
    "flops": ("task", "flops_input_size"),
    "step_time_ms": ("task", "device", "batch_size", "image_size", "amp", "channels_last", "bypass_impl", "steps"),
}
RESULT_FIELDS = ("epochs", "batch_size", "image_size", "amp", "synth_train", "synth_val")
PERCENT = ("accuracy",)  # measured as fractions, published in percent: drawn in percent
_SHOWN = {"task": "{}", "device": "{}", "batch_size": "batch {}", "image_size": "{} px", "amp": "amp {}",
          "channels_last": "channels_last={}", "bypass_impl": "bypass {}", "steps": "{} timed steps",
          "flops_input_size": "FLOPs at {} px", "epochs": "{} epochs", "synth_train": "synth train {}",
          "synth_val": "synth val {}"}


def _env(row: dict) -> dict:
    env = row.get("env") or {}
    return {"device": env.get("device"), "commit": env.get("git_commit")}


def _setting(row: dict, field: str) -> object:
    """A config field of a row; for ``device`` the device the row ran on (its env), else the one it asked for."""
    if field == "device":
        return _env(row)["device"] or row["config"].get("device")
    return row["config"].get(field)


def _labels(rows: list[dict], fields: tuple[str, ...]) -> list[str]:
    """One line name per row: its arrangement, then those of ``fields`` whose values differ between rows."""
    varying = [f for f in fields if len({json.dumps(_setting(r, f), default=str) for r in rows}) > 1]
    return [", ".join([r["config"].get("arrangement", "bregnext"),
                       *(_SHOWN.get(f, f + " {}").format(_setting(r, f)) for f in varying)]) for r in rows]


def _amp(config: dict) -> str:
    return f", amp {config['amp']}" if config.get("amp", "off") != "off" else ""


def depth_cost(rows: list[dict]) -> pd.DataFrame:
    """Parameters, FLOPs (2 x MACs) and step time per depth from `depth_sweep` rows, Table 2 beside; one line
    per config that changes the quantity (batch size, image size, device, amp ... for the step time)."""
    measured = []
    for quantity, key in (("params", "params_trainable"), ("flops", "flops"), ("step_time_ms", "step_s")):
        for row, label in zip(rows, _labels(rows, COST_FIELDS[quantity]), strict=True):
            c = row["config"]
            budget = (f"FLOPs at {c.get('flops_input_size')} px; step time at batch {c.get('batch_size')}, "
                      f"{c.get('image_size')} px{_amp(c)}")
            measured.append({"depth": row["metrics"]["depth"], "quantity": quantity, "value": row["metrics"].get(key),
                             "source": "measured", "label": label, **_env(row), "budget": budget})
    frame = pd.DataFrame(measured).dropna(subset=["value"])
    frame.loc[frame["quantity"] == "step_time_ms", "value"] *= 1000
    return pd.concat([frame, published_complexity_points().assign(label="published")], ignore_index=True)


def depth_results(rows: list[dict]) -> pd.DataFrame:
    """Validation metrics per depth from `depth_sweep` rows trained with --epochs, beside Fig. 5's printed points.

    A metric is named ``<data set>_<metric>`` after the data set's name (``affectnet:PATH`` -> ``affectnet``),
    as the published points are, so measured AffectNet accuracy shares a panel with Fig. 5's and a synth run
    gets a panel of its own; accuracy is in percent on both sides."""
    measured = []
    for row, label in zip(rows, _labels(rows, RESULT_FIELDS), strict=True):
        c = row["config"]
        data, _ = parse_spec(str(c["data"]))
        budget = f"{c.get('epochs')} epochs, batch {c.get('batch_size')}, {c.get('image_size')} px{_amp(c)}"
        for key, value in row["metrics"].items():
            if key.startswith("val_") and value is not None:
                metric = key.removeprefix("val_")
                measured.append({"depth": row["metrics"]["depth"], "metric": f"{data}_{metric}",
                                 "value": value * 100 if metric in PERCENT else value, "source": "measured",
                                 "label": label, **_env(row), "budget": budget})
    return pd.concat([pd.DataFrame(measured), published_depth_points()], ignore_index=True)


def gradient_ratios(rows: list[dict]) -> pd.DataFrame:
    """First-unit / last-unit gradient-norm ratio per depth and bypass from `gradflow` rows, at init."""
    out = []
    for r in rows:
        c, m = r["config"], r["metrics"].get("init", {})
        value = m.get("log10_grad_ratio")
        if value is not None and math.isfinite(value):
            out.append({"depth": c["depth"], "bypass": c["bypass"], "ratio": 10.0 ** value,
                        "panel": f"batch norm: {c['bn']}", **_env(r),
                        "budget": f"at init; batch {c.get('batch')}, {c.get('input_size')} px, {c.get('dtype')}"})
    return pd.DataFrame(out)


def kernel_bandwidths(rows: list[dict]) -> pd.DataFrame:
    """GB/s per size and implementation from `kernel` rows, with the copy ceiling measured in the same run."""
    out = []
    for r in rows:
        c, m = r["config"], r["metrics"]
        numel = math.prod(int(d) for d in str(c["x_shape"]).split("x"))
        panel = f"{c['pass']} {c['dtype']}"
        out.append({"size": numel, "impl": c["impl"], "gbps": m["gbps"], "panel": panel, **_env(r)})
        out.append({"size": numel, "impl": "copy", "gbps": m["copy_gbps"], "panel": panel, **_env(r)})
    return pd.DataFrame(out)


# --- evaluate and train rows (BReG-NeXt Figs. 6 and 9, DACL Fig. 4, BReG-Net Fig. 6) ---------------------

# Run-config fields a line or panel label never adds: the epoch (a curve's x axis) and what its head or
# panel already says. Any other field that differs is named, so two runs never share a label.
_LABEL_SKIP = {"epoch", "model", "task", "split"}


def _data_name(spec: object) -> str:
    """'affectnet:/srv/AffectNet' -> 'AffectNet'; the data set's name, never its path."""
    kind = str(spec).partition(":")[0]
    return DATA_SETS.get(kind, kind)


def _run_budget(config: dict) -> str:
    """A trained run's budget as its caption names it: the reproduce budget if any, then epochs/batch/size."""
    size = f"{config.get('epochs')} epochs, batch {config.get('batch_size')}, {config.get('image_size')} px"
    lead = f"budget {config['budget']}: " if config.get("budget") is not None else ""
    return lead + size + _amp(config)


def _run_labels(rows: list[dict], head: Callable[[dict], str],
                group: Callable[[dict], str] | None = None) -> list[str]:
    """``head(row)``, then every other config field whose value differs between the rows of its ``group``
    (default: its head): two runs that differ only in their loss read 'bregnext50, loss focal' and
    'bregnext50, loss ce'; a field that differs only between groups (a synth size) is left out."""
    group = group or head
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(group(row), []).append(row)
    varying = {g: sorted(k for k in {k for r in members for k in r["config"]} - _LABEL_SKIP
                         if len({json.dumps(r["config"].get(k), default=str) for r in members}) > 1)
               for g, members in groups.items()}
    return [", ".join([head(r), *(_SHOWN.get(k, k + " {}").format(r["config"].get(k)) for k in varying[group(r)])])
            for r in rows]


def _evaluated(row: dict) -> str:
    c = row["config"]
    return f"{_data_name(c.get('data'))} {c.get('split', 'val')}: {c.get('model')}"


def confusion_cells(rows: list[dict]) -> pd.DataFrame:
    """One row per (panel, true class, predicted class) from categorical `evaluate` rows: the count and its
    share of the true class in percent (each true class's row sums to 100; a class absent from the split
    gets no percentages). Panels are '<data set> <split>: <model>[, what else differs]'; classes keep the
    order of the row's ``class_names``."""
    rows = [r for r in rows if r["metrics"].get("confusion")]
    out = []
    for row, panel in zip(rows, _run_labels(rows, _evaluated), strict=True):
        matrix = row["metrics"]["confusion"]
        names = list(row["metrics"].get("class_names") or [])
        if len(names) != len(matrix):
            names = [str(i) for i in range(len(matrix))]
        extra = {**_env(row), "budget": _run_budget(row["config"])}
        for i, counts in enumerate(matrix):
            if len(counts) != len(matrix):
                raise ValueError(f"evaluate row {row.get('run_id')}: confusion is not square "
                                 f"(row {i} has {len(counts)} of {len(matrix)} columns)")
            total = sum(counts)
            for j, count in enumerate(counts):
                out.append({"panel": panel, "true": names[i], "predicted": names[j], "true_index": i,
                            "predicted_index": j, "count": int(count),
                            "percent": 100.0 * count / total if total else math.nan, **extra})
    return _in_panel_order(pd.DataFrame(out), ["true_index", "predicted_index"])


def error_counts(rows: list[dict]) -> pd.DataFrame:
    """One row per (panel, dimension, bin) from dimensional `evaluate` rows' ``error_hist``: the bin's edges
    (prediction - truth, in the labels' [-1, 1] units) and its count, as stored."""
    rows = [r for r in rows if r["metrics"].get("error_hist")]
    out = []
    for row, panel in zip(rows, _run_labels(rows, _evaluated), strict=True):
        hist = row["metrics"]["error_hist"]
        edges = [float(e) for e in hist["edges"]]
        extra = {**_env(row), "budget": _run_budget(row["config"])}
        for dimension in ("valence", "arousal"):
            counts = hist.get(dimension)
            if counts is None:
                continue
            if len(counts) != len(edges) - 1:
                raise ValueError(f"evaluate row {row.get('run_id')}: error_hist has {len(edges)} edges but "
                                 f"{len(counts)} {dimension} counts")
            out += [{"panel": panel, "dimension": dimension, "bin": k, "left": edges[k], "right": edges[k + 1],
                     "count": int(n), **extra} for k, n in enumerate(counts)]
    return _in_panel_order(pd.DataFrame(out), ["dimension", "bin"])


def training_curves(rows: list[dict]) -> pd.DataFrame:
    """Per epoch of `train` rows: the training loss and the validation metric the run selects on (accuracy in
    percent, or RMSE total), one ``label`` per run config; a panel per data set and task. bench.train stores
    no validation loss, so none is made up here."""
    runs: dict[str, list[dict]] = {}
    for row in rows:
        key = json.dumps({k: v for k, v in row["config"].items() if k != "epoch"}, sort_keys=True, default=str)
        runs.setdefault(key, []).append(row)
    firsts = [g[0] for g in runs.values()]
    labels = dict(zip(runs, _run_labels(firsts, lambda r: str(r["config"].get("model")), _trained_panel),
                      strict=True))
    out = []
    for key, group in runs.items():
        for row in group:
            c, m = row["config"], row["metrics"]
            point = {"panel": _trained_panel(row), "label": labels[key], "epoch": c.get("epoch"),
                     "loss": c.get("loss"), **_env(row), "budget": _run_budget(c)}
            validation = ("val_accuracy", 100 * m["accuracy"]) if m.get("accuracy") is not None else (
                ("val_rmse_total", m["rmse_total"]) if m.get("rmse_total") is not None else (None, None))
            for quantity, value in (("train_loss", m.get("train_loss")), validation):
                if quantity is not None and value is not None:
                    out.append({**point, "quantity": quantity, "value": float(value)})
    return _in_panel_order(pd.DataFrame(out), ["label", "quantity", "epoch"])


def _trained_panel(row: dict) -> str:
    c = row["config"]
    return f"{_data_name(c.get('data'))}, {c.get('task')}"


def _in_panel_order(frame: pd.DataFrame, within: list[str]) -> pd.DataFrame:
    """Sorted by panel, then ``within``: the same frame whatever order the store's rows came in."""
    if frame.empty:
        return frame
    return frame.sort_values(["panel", *within], kind="stable").reset_index(drop=True)
