"""Result rows -> the tidy frames `reports.figures` draws, one adapter per entry point.

Every measured point carries the ``device`` and ``commit`` of its row's environment and, where the entry
point has one, its ``budget`` (epochs, batch, input size): the figures name them in a caption. Where rows of
different configs meet at one depth, their ``label`` says what differs, so each config is its own line.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable

import pandas as pd

from harness.data_spec import parse_spec

from .figures import (
    DATA_SETS,
    HISTOGRAM_ROWS,
    MAX_PANELS,
    MAX_SERIES,
    published_complexity_points,
    published_depth_points,
)
from .paper_tables import DATABASES, network_title

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
          "synth_val": "synth val {}", "loss": "loss {}", "bypass": "bypass {}", "caf_adversary": "critic {}",
          "caf_margin": "margin {}", "method": "{}", "budget": "budget {}"}
PAPERS = {"bregnext": "BReG-NeXt", "bregnet": "BReG-Net", "dacl": "DACL", "caf": "CAF"}  # as the figures name them


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
    return [", ".join([r["config"].get("arrangement", "bregnext"), *(_shown(f, _setting(r, f)) for f in varying)])
            for r in rows]


def _shown(field: str, value: object) -> str:
    """A config field as a label names it: 'batch 128', 'loss focal'; a network by its title, None as 'default'."""
    if field == "model":
        return network_title(str(value))
    return _SHOWN.get(field, field + " {}").format("default" if value is None else value)


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
        data, _ = parse_spec(str(c.get("data") or "synth"))
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

# Config fields a run's label never names: the epoch (a curve's x axis), the seed (a run's seeds are pooled into
# one line, matrix or histogram) and the network (the label's head).
_LABEL_SKIP = {"epoch", "seed", "model"}


def _data_name(spec: object) -> str:
    """'affectnet:/srv/AffectNet' -> 'AffectNet'; the data set's name, never its path."""
    kind = str(spec).partition(":")[0]
    return DATA_SETS.get(kind) or DATABASES.get(kind, kind)


def _run_budget(config: dict) -> str:
    """A trained run's budget as its caption names it: the reproduce budget if any, then epochs/batch/size."""
    size = f"{config.get('epochs')} epochs, batch {config.get('batch_size')}, {config.get('image_size')} px"
    lead = f"budget {config['budget']}: " if config.get("budget") is not None else ""
    return lead + size + _amp(config)


def _same(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _pooled(rows: list[dict]) -> list[tuple[dict, list[dict]]]:
    """(config without epoch and seed, its rows) per run, in first-seen order: a run's seeds and epochs together."""
    runs: dict[str, tuple[dict, list[dict]]] = {}
    for row in rows:
        config = {k: v for k, v in row["config"].items() if k not in ("epoch", "seed")}
        runs.setdefault(_same(config), (config, []))[1].append(row)
    return list(runs.values())


def _study(config: dict) -> str:
    """Whose runs: 'BReG-NeXt (budget short)' from the paper and budget `bench.reproduce` tags a run with."""
    paper = PAPERS.get(config.get("paper"), config.get("paper"))
    budget = f"budget {config['budget']}" if config.get("budget") is not None else None
    return f"{paper} ({budget})" if paper and budget else str(paper or budget or "")


def _labels_within(configs: list[dict], head: bool = True) -> list[str]:
    """A short name per run: its network's title (unless not ``head``: the panel names it), then what sets it
    apart from the other runs of that network among ``configs``: each field that differs among them, left out
    where the run has the field's one most common value ('BReG-Net-39, loss weighted_ce'); the network's title
    alone for a run with nothing to add. Two runs never share a name."""
    peers: dict[str, list[dict]] = {}
    for config in configs:
        peers.setdefault(str(config.get("model")), []).append(config)
    out = []
    for config in configs:
        same = peers[str(config.get("model"))]
        parts = [_shown("model", config.get("model"))] if head else []
        for key in sorted(set().union(*same) - _LABEL_SKIP):
            counts = Counter(_same(c.get(key)) for c in same).most_common()
            if len(counts) > 1 and (counts[0][1] == counts[1][1] or _same(config.get(key)) != counts[0][0]):
                parts.append(_shown(key, config.get(key)))
        out.append(", ".join(parts) or _shown("model", config.get("model")))
    return out


def _facets(configs: list[dict], limit: int) -> list[str]:
    """'' for each config where they are at most ``limit``; else, per config, its value of the field that splits
    them into groups of at most ``limit``, in hardly more groups than pages of ``limit`` would be: the fewest,
    then the most even, the network first where it ties (what a figure or a row of panels is then about).
    Where no field does, '' again: the figures page what is left."""
    if len(configs) <= limit:
        return [""] * len(configs)
    pages = -(-len(configs) // limit)
    best = None
    for key in ["model", *sorted(set().union(*configs) - _LABEL_SKIP)]:
        sizes = Counter(_same(c.get(key)) for c in configs)
        rank = (len(sizes), max(sizes.values()))
        if 1 < len(sizes) <= pages + 1 and rank[1] <= limit and (best is None or rank < best[0]):
            best = (rank, key)
    return [""] * len(configs) if best is None else [_shown(best[1], c.get(best[1])) for c in configs]


def _series(runs: list[tuple[dict, list[dict]]], group: Callable[[dict], tuple[str, str]], limit: int
            ) -> list[tuple[str, str, str]]:
    """(figure, panel, label) per run: runs grouped by ``group(config)`` (a figure and a panel), each group
    of more than ``limit`` runs split by `_facets` (the facet joins the panel, or the figure where the panel
    is ''), then named by `_labels_within` inside its part, with the number of seeds pooled where several."""
    members: dict[tuple[str, str], list[int]] = {}
    for i, (config, _) in enumerate(runs):
        members.setdefault(group(config), []).append(i)
    out: list[tuple[str, str, str]] = [("", "", "")] * len(runs)
    for (figure, panel), indices in members.items():
        facets = _facets([runs[i][0] for i in indices], limit)
        for facet in dict.fromkeys(facets):
            chosen = [i for i, f in zip(indices, facets, strict=True) if f == facet]
            named = bool(facet) and {_shown("model", runs[i][0].get("model")) for i in chosen} == {facet}
            for i, label in zip(chosen, _labels_within([runs[i][0] for i in chosen], head=not named), strict=True):
                seeds = {_same(r["config"].get("seed")) for r in runs[i][1]}
                label += f" ({len(seeds)} seeds)" if len(seeds) > 1 else ""
                where = (figure, ", ".join(filter(None, [panel, facet]))) if panel else (
                    ", ".join(filter(None, [figure, facet])), "")
                out[i] = (*where, label)
    return out


def _evaluated(config: dict) -> tuple[str, str]:
    """An evaluation's figure: whose runs, on which data set and split; its panels are the runs."""
    where = f"{_data_name(config.get('data'))} {config.get('split', 'val')}"
    study = _study(config)
    return (f"{study}, {where}" if study else where), ""


def _pooled_env(rows: list[dict]) -> dict:
    """The devices and commits of a run's rows (one value each where they agree)."""
    envs = [_env(r) for r in rows]
    return {k: ", ".join(sorted({str(e[k]) for e in envs if e[k]})) or None for k in ("device", "commit")}


def _summed(rows: list[dict], read: Callable[[dict], list], what: str) -> list:
    """``read(row)`` summed element-wise over a run's rows (its seeds), which must agree in shape."""
    values = [read(r) for r in rows]
    if any(len(v) != len(values[0]) for v in values):
        raise ValueError(f"evaluate rows {[r.get('run_id') for r in rows]}: seeds of one run differ in {what}")
    return [sum(column) for column in zip(*values, strict=True)]


def _square(row: dict) -> list[list[int]]:
    matrix = row["metrics"]["confusion"]
    for i, counts in enumerate(matrix):
        if len(counts) != len(matrix):
            raise ValueError(f"evaluate row {row.get('run_id')}: confusion is not square "
                             f"(row {i} has {len(counts)} of {len(matrix)} columns)")
    return [count for counts in matrix for count in counts]


def confusion_cells(rows: list[dict]) -> pd.DataFrame:
    """One row per (figure, panel, true class, predicted class) from categorical `evaluate` rows: the count
    (summed over a run's seeds) and its share of the true class in percent (each true class's row sums to 100;
    a class absent from the split gets no percentages). A figure holds a paper's runs on one data set and
    split, split further where there are more than `MAX_PANELS` (by network, loss, ...); a panel is a run,
    named by its network and what sets it apart. Classes keep the order of the row's ``class_names``."""
    runs = _pooled([r for r in rows if r["metrics"].get("confusion")])
    out = []
    for (config, members), (figure, _, panel) in zip(runs, _series(runs, _evaluated, MAX_PANELS), strict=True):
        flat = _summed(members, _square, "classes")
        size = math.isqrt(len(flat))
        names = list(members[0]["metrics"].get("class_names") or [])
        if len(names) != size:
            names = [str(i) for i in range(size)]
        extra = {"figure": figure, "panel": panel, **_pooled_env(members), "budget": _run_budget(config)}
        for i in range(size):
            counts = flat[i * size:(i + 1) * size]
            total = sum(counts)
            for j, count in enumerate(counts):
                out.append({**extra, "true": names[i], "predicted": names[j], "true_index": i, "predicted_index": j,
                            "count": int(count), "percent": 100.0 * count / total if total else math.nan})
    return _in_panel_order(pd.DataFrame(out), ["true_index", "predicted_index"])


def error_counts(rows: list[dict]) -> pd.DataFrame:
    """One row per (figure, panel, dimension, bin) from dimensional `evaluate` rows' ``error_hist``: the bin's
    edges (prediction - truth, in the labels' [-1, 1] units) and its count, summed over a run's seeds; figures
    and panels as for `confusion_cells`, at most `HISTOGRAM_ROWS` runs a figure where a field splits them."""
    runs = _pooled([r for r in rows if r["metrics"].get("error_hist")])
    out = []
    for (config, members), (figure, _, panel) in zip(runs, _series(runs, _evaluated, HISTOGRAM_ROWS), strict=True):
        edges = [float(e) for e in members[0]["metrics"]["error_hist"]["edges"]]
        extra = {"figure": figure, "panel": panel, **_pooled_env(members), "budget": _run_budget(config)}
        for dimension in ("valence", "arousal"):
            if members[0]["metrics"]["error_hist"].get(dimension) is None:
                continue
            for row in members:
                hist = row["metrics"]["error_hist"]
                if len(hist[dimension]) != len(edges) - 1:
                    raise ValueError(f"evaluate row {row.get('run_id')}: error_hist has {len(edges)} edges but "
                                     f"{len(hist[dimension])} {dimension} counts")
            counts = _summed(members, lambda r, d=dimension: r["metrics"]["error_hist"][d], f"{dimension} bins")
            out += [{**extra, "dimension": dimension, "bin": k, "left": edges[k], "right": edges[k + 1],
                     "count": int(n)} for k, n in enumerate(counts)]
    return _in_panel_order(pd.DataFrame(out), ["dimension", "bin"])


def training_curves(rows: list[dict]) -> pd.DataFrame:
    """Per epoch of `train` rows: the training loss and the validation metric the run selects on (accuracy in
    percent, or RMSE total). A figure per paper (and budget) and task, a panel per data set (split by
    network, loss, ... where more than `MAX_SERIES` runs share it), a ``label`` per run; a run's seeds share
    its label, so the figure draws their mean. bench.train stores no validation loss, so none is made up."""
    runs = _pooled(rows)
    out = []
    for (_, members), (figure, panel, label) in zip(runs, _series(runs, _trained, MAX_SERIES), strict=True):
        for row in members:
            c, m = row["config"], row["metrics"]
            point = {"figure": figure, "panel": panel, "label": label, "epoch": c.get("epoch"), "loss": c.get("loss"),
                     **_env(row), "budget": _run_budget(c)}
            validation = ("val_accuracy", 100 * m["accuracy"]) if m.get("accuracy") is not None else (
                ("val_rmse_total", m["rmse_total"]) if m.get("rmse_total") is not None else (None, None))
            for quantity, value in (("train_loss", m.get("train_loss")), validation):
                if quantity is not None and value is not None:
                    out.append({**point, "quantity": quantity, "value": float(value)})
    return _in_panel_order(pd.DataFrame(out), ["label", "quantity", "epoch"])


def _trained(config: dict) -> tuple[str, str]:
    """A training run's figure (whose runs, which task) and panel (its data set)."""
    task = str(config.get("task"))
    study = _study(config)
    return (f"{study}, {task}" if study else task), _data_name(config.get("data"))


def _in_panel_order(frame: pd.DataFrame, within: list[str]) -> pd.DataFrame:
    """Sorted by figure and panel, then ``within``: the same frame whatever order the store's rows came in."""
    if frame.empty:
        return frame
    return frame.sort_values(["figure", "panel", *within], kind="stable").reset_index(drop=True)
