"""BReG-Net (FG 2019) Tables I-VII, its parameter counts and its epoch-time comparison, measured beside the
published values with the difference.

The paper's networks are `bregnet39` (BReG-Net-39, H3 = atan unless ``--bypass``) and `resnet110`; its regular
loss is `bench.train --loss ce`, its weighted loss (Eq. 5-7) `--loss weighted_ce`, its dimensional loss
`--loss mse`. Evaluation rows (`evaluate`) of those runs fill Tables I-VII: runs of the paper's reproduction
(config "paper": "bregnet") and any run of the two networks; `flops` rows fill the parameter table (4.9M,
7.2M) and `epoch_time` rows the epoch-time comparison (750.21 s vs 836.04 s). Methods of other papers are
shown as published only and marked so; a line no run fills yet names the command that fills it.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from breg_models import get_spec

from . import published
from .paper_tables import (
    EMPTY,
    MEASURED,
    NOT_RUN,
    Comparison,
    Line,
    Metric,
    Run,
    group_runs,
    network_title,
    render_lines,
    title,
)

PAPER = "bregnet"
FILL = "python -m bench.reproduce bregnet --budget short"
NETWORKS = ("bregnet39", "resnet110")
CATEGORICAL = ("affectnet", "fer2013")
DIMENSIONAL = ("affectnet", "affwild")
LOSSES = {"ce": "regular", "weighted_ce": "weighted"}
# Bypass kinds that are BReG-Net's own H3 (a run with no --bypass keeps bregnet39's atan).
H3 = ("", "atan", "bregnet_h3")
FUNCTIONS = {"bregnet_h1": r"H1 = \(x - \log(e^x + 1)\)", "bregnet_h2": r"H2 = \(x \arctan x - \log(x^2 + 1) / 2\)",
             "bregnet_h3": r"H3 = \(\arctan x\)"}
AFFECTNET_EPOCH = 287_651
PUBLISHED_DEVICE = "GeForce GTX 1080 Ti"

LOSS_NOTE = ("Regular loss = `bench.train --loss ce`, weighted loss = `--loss weighted_ce` (Eq. 5-7: each class "
             "weighted f_min / f_i); only runs of these losses are compared. BReG-Net = bregnet39 with its own "
             "bypass, H3 = atan.")


def _kind(config: dict) -> str:
    """The run's bypass kind ('' for the network's own); '?' for one with parameters, none of the paper's."""
    bypass = str(config.get("bypass") or "")
    return "?" if ":" in bypass else bypass


def _ours(config: dict) -> bool:
    """A run of this paper: its reproduction's, or any run of its two networks outside another reproduction."""
    return config.get("paper") == PAPER or (config.get("paper") is None and config.get("model") in NETWORKS)


def _runs(rows: list[dict], task: str, losses: tuple[str, ...], keep: Callable[[dict], bool]) -> list[Run]:
    return group_runs(r for r in rows
                      if r.get("command", "evaluate") == "evaluate" and _ours(r["config"])
                      and r["config"].get("task", "categorical") == task and r["config"].get("loss") in losses
                      and keep(r["config"]))


def _is_bregnet(config: dict) -> bool:
    """BReG-Net itself: not the ResNet, with H3 (its default) as the bypass."""
    return config.get("model") != "resnet110" and _kind(config) in H3


def _is_resnet(config: dict) -> bool:
    return config.get("model") == "resnet110" and _kind(config) in ("", "identity")


def _finish(lines: list[Line], notes: list[str], cell_command: str, extra: tuple[str, ...]) -> list[str]:
    """The notes, the fill note followed by one cell's own command."""
    out = []
    for note in notes:
        out.append(note)
        if note.startswith("Not run yet"):
            out.append(f"One line by hand: `{cell_command}`; the finished run writes its evaluation rows.")
    return out + list(extra)


def _table(table: str, task: str, databases: tuple[str, ...], parts, runs: list[Run],
           reference: Callable[[Run], str | None], runnable: Callable[[str], bool], label: Callable[[Run], str],
           cell_command: str, extra: tuple[str, ...], fmt: str, caption: str, parts_as: str = "columns") -> str:
    spec = Comparison(PAPER, table, databases, parts, reference=reference, label=label, runnable=runnable,
                      parts_as=parts_as)
    lines, notes = spec.build(runs, FILL)
    notes = _finish(lines, notes, cell_command, extra)
    used = [row for run in runs for row in run.rows]
    return render_lines(lines, fmt, title(PAPER, table, caption, used), notes)


# ------------------------------------------------------------------------------------------------ Tables I-VII
def render_table_1(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """Table I: accuracy of BReG-Net with each Eq. 4 bypass, regular and weighted loss. A run holds one loss,
    so its line fills that loss's column and shows the other's published value alone."""
    tagged = [{**r, "metrics": {**r["metrics"], f"accuracy_{LOSSES[loss]}": r["metrics"].get("accuracy")}}
              for r in rows if (loss := r.get("config", {}).get("loss")) in LOSSES]

    def function(config: dict) -> str | None:
        kind = _kind(config)
        return "bregnet_h3" if kind in H3 else kind if kind in FUNCTIONS else None

    runs = _runs(tagged, "categorical", tuple(LOSSES),
                 lambda c: c.get("model") != "resnet110" and function(c) is not None)
    parts = [(None, [Metric(f"{name.capitalize()} loss (%)", f"accuracy_{name}", f"accuracy_{name}", "%")
                     for name in LOSSES.values()])]
    return _table("I", "categorical", CATEGORICAL, parts, runs,
                  reference=lambda run: function(run.config) if run.model == "bregnet39" else None,
                  runnable=lambda row: row in FUNCTIONS,
                  label=lambda run: f"{network_title(run.model)}, {FUNCTIONS[function(run.config)]}",
                  cell_command="python -m bench.train --model bregnet39 --bypass bregnet_h1 --loss weighted_ce "
                               "--data affectnet:PATH",
                  extra=(LOSS_NOTE, "H3 = atan is BReG-Net-39's own bypass, so its cells are Table II's BReG-Net "
                                    "cells. `python -m bench.ablation --preset bregnet` compares the three "
                                    "functions on BReG-Net-50 over seeds (the ablation table)."),
                  fmt=fmt, caption=caption)


def _table2_reference(run: Run) -> str | None:
    if run.model == "resnet110":
        return "resnet110" if run.config.get("loss") == "ce" else None
    if run.model == "bregnet39":
        return f"bregnet_{LOSSES[run.config['loss']]}_loss"
    return None


def render_table_2(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """Table II: accuracy of ResNet-110 and BReG-Net (regular and weighted loss) beside other methods."""
    runs = _runs(rows, "categorical", tuple(LOSSES), lambda c: _is_bregnet(c) or _is_resnet(c))
    parts = [(None, [Metric("Accuracy (%)", "accuracy", "accuracy", "%")])]
    return _table("II", "categorical", CATEGORICAL, parts, runs, reference=_table2_reference,
                  runnable=lambda row: row in ("resnet110", "bregnet_regular_loss", "bregnet_weighted_loss"),
                  label=lambda run: f"{network_title(run.model)}, {LOSSES[run.config['loss']]} loss",
                  cell_command="python -m bench.train --model resnet110 --loss ce --data fer2013:PATH",
                  extra=(LOSS_NOTE, "The paper's ResNet-110 is compared with runs of the regular loss."),
                  fmt=fmt, caption=caption)


# Tables III and IV: (label, evaluation key, published metric name); Norm is the key's norm_ twin.
SKEW_METRICS = (("F1-score", "macro_f1", "f1"), ("kappa", "kappa", "kappa"),
                ("alpha", "krippendorff_alpha", "alpha"), ("MCC", "mcc", "mcc"), ("PPV", "ppv", "ppv"))
SKEW_NOTE = ("Orig: the metric on the validation split as it is; Norm: skew-normalised, the mean over 200 "
             "class-balanced random under-samplings of it (metrics.skew_normalised), as the paper describes. "
             "F1 and PPV (precision) are macro averages, alpha is Krippendorff's.")
CAPTION_NOTE = ("The paper's captions make Table III the weighted loss and Table IV the regular loss; its text says "
                "the reverse. The lines follow the captions (reports/published/NOTES.md).")


def _skew_table(table: str, loss: str, rows: list[dict], fmt: str, caption: str) -> str:
    name = LOSSES[loss]
    parts = [(label, [Metric("Orig", key, f"{pub}_orig", "ratio"), Metric("Norm", f"norm_{key}", f"{pub}_norm",
                                                                         "ratio")])
             for label, key, pub in SKEW_METRICS]
    runs = _runs(rows, "categorical", (loss,), _is_bregnet)
    return _table(table, "categorical", CATEGORICAL, parts, runs,
                  reference=lambda run: f"bregnet_{name}_loss" if run.model == "bregnet39" else None,
                  runnable=lambda row: True, label=lambda run: f"{network_title(run.model)}, {name} loss",
                  cell_command=f"python -m bench.train --model bregnet39 --loss {loss} --data affectnet:PATH",
                  extra=(LOSS_NOTE, SKEW_NOTE, CAPTION_NOTE), fmt=fmt, caption=caption, parts_as="lines")


def render_table_3(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """Table III: F1, kappa, alpha, MCC, PPV of BReG-Net with the weighted loss, Orig and skew-normalised."""
    return _skew_table("III", "weighted_ce", rows, fmt, caption)


def render_table_4(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """Table IV: the same metrics with the regular loss."""
    return _skew_table("IV", "ce", rows, fmt, caption)


DIMENSIONAL_NOTE = ("Dimensional runs: `bench.train --task dimensional --loss mse` (the paper's mean square error); "
                    "valence and arousal on [-1, 1].")


def _dimensional_table(table: str, parts, keep: Callable[[dict], bool], cell_command: str, extra: tuple[str, ...],
                       rows: list[dict], fmt: str, caption: str) -> str:
    runs = _runs(rows, "dimensional", ("mse",), keep)
    return _table(table, "dimensional", DIMENSIONAL, parts, runs,
                  reference=lambda run: {"bregnet39": "bregnet", "resnet110": "resnet110"}.get(run.model),
                  runnable=lambda row: row in ("bregnet", "resnet110"), label=lambda run: network_title(run.model),
                  cell_command=cell_command, extra=(DIMENSIONAL_NOTE, *extra), fmt=fmt, caption=caption)


def render_table_5(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """Table V: RMSE of valence and arousal, ResNet-110 and BReG-Net beside other methods."""
    parts = [(None, [Metric(f"RMSE {d}", f"rmse_{d}", f"rmse_{d}", "va") for d in ("valence", "arousal")])]
    return _dimensional_table("V", parts, lambda c: _is_bregnet(c) or _is_resnet(c),
                              "python -m bench.train --model bregnet39 --task dimensional --loss mse "
                              "--data affwild:PATH", (), rows, fmt, caption)


def _correlation_parts() -> list:
    return [(name, [Metric(d.capitalize(), f"{key}_{d}", f"{key}_{d}", "ratio") for d in ("valence", "arousal")])
            for name, key in (("CC", "cc"), ("CCC", "ccc"), ("SAGR", "sagr"))]


CORRELATION_NOTE = "CC is Pearson's correlation, CCC the concordance correlation (Eq. 10), SAGR the sign agreement."


def render_table_6(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """Table VI: CC, CCC and SAGR of BReG-Net."""
    return _dimensional_table("VI", _correlation_parts(), _is_bregnet,
                              "python -m bench.train --model bregnet39 --task dimensional --loss mse "
                              "--data affectnet:PATH", (CORRELATION_NOTE,), rows, fmt, caption)


def render_table_7(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """Table VII: CC, CCC and SAGR of ResNet-110."""
    return _dimensional_table("VII", _correlation_parts(), _is_resnet,
                              "python -m bench.train --model resnet110 --task dimensional --loss mse "
                              "--data affectnet:PATH", (CORRELATION_NOTE,), rows, fmt, caption)


# ------------------------------------------------------------------------------------------ parameters (flops)
PARAMS_FILL = "python -m bench.flops --models bregnet39 resnet110"
PUBLISHED_ROW = {"bregnet39": "bregnet", "resnet110": "resnet110"}


def _millions(cell: pd.Series) -> pd.Series:
    return pd.Series({"value": cell["value"] / 1e6, "unit": "M", "printed": cell["printed"]})


def render_params(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """The paper's two parameter counts (Sec. IV-C) beside `bench.flops` counts of the harness's readings of
    the two networks, one line per counted input size; FLOPs are measured only (the paper prints none)."""
    lines: list[Line] = []
    missing = []
    for model in NETWORKS:
        spec = get_spec(model)
        cell = _millions(published.lookup(PAPER, "epoch", PUBLISHED_ROW[model], "params"))
        counted = [r for r in rows if r.get("config", {}).get("model") == model
                   and r["config"].get("task", "categorical") == "categorical"
                   and r["config"].get("bypass") in (None, spec.bypass)]
        counted = sorted({r["config"].get("input_size"): r for r in counted}.values(),
                         key=lambda r: r["config"].get("input_size") or 0)
        if not counted:
            missing.append(spec.title)
        for row in counted or [None]:
            m = {} if row is None else row["metrics"]
            line = Line()
            line.put("Network", spec.title)
            line.put("Input", None if row is None else row["config"].get("input_size"))
            line.put("Conv layers", 2 * spec.units + 1)
            line.put("Weighted layers", spec.depth)
            params = m.get("params_trainable")
            line.compare("Params (M)", None if params is None else params / 1e6, cell, "M")
            line.put("Params ratio", None if params is None else params / 1e6 / cell["value"],
                     None if params is None else f"{params / 1e6 / cell['value']:.3f}")
            flops = m.get("flops")
            line.put("FLOPs (G, 2xMACs)", None if flops is None else flops / 1e9,
                     None if flops is None else f"{flops / 1e9:.3f}")
            line.put("Source", MEASURED if row is not None else NOT_RUN)
            lines.append(line)
    notes = [f"{get_spec(m).title}: {get_spec(m).note}." for m in NETWORKS]
    notes.append("Published: 'BReG-Net with 4.9M parameters', 'ResNet-110 with 7.2M parameters' (Sec. IV-C); "
                 "difference = measured - published, in millions. breg_models/specs.py says how each layout was "
                 "read and why the counts differ; tests/breg_models/test_bregnet_zoo.py checks it.")
    if missing:
        notes.append(f"Not counted yet: {', '.join(missing)}. `{PARAMS_FILL}` fills these lines (CPU, seconds).")
    used = [r for r in rows if r.get("config", {}).get("model") in NETWORKS]
    head = "BReG-Net Sec. IV-C text: parameters of BReG-Net and ResNet-110, measured beside published"
    return render_lines(lines, fmt, f"{head}; {caption or _provenance(used, 'flops')}", notes)


def _provenance(rows: list[dict], command: str) -> str:
    if not rows:
        return f"published values only: no {command} rows yet"
    from .build import caption  # build registers this module's tables: imported when rendering, not at load

    return caption(command, rows)


# ------------------------------------------------------------------------------------- epoch time (epoch_time)
EPOCH_FILL = "python -m bench.epoch_time --models bregnet39,resnet110 --bypass-impls eager --amp off --device cuda"
SETTINGS = ("device", "epoch_size", "batch_size", "image_size", "amp", "channels_last", "bypass_impl", "compile",
            "steps", "epochs")


def _settings(row: dict) -> tuple:
    return (row["env"].get("device") if row.get("env") else None,
            *(row["config"].get(k) for k in SETTINGS))


def render_epoch_time(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """Seconds per AffectNet epoch of BReG-Net and ResNet-110: one pair of lines per group of rows timed with
    the same settings, beside the paper's 750.21 s and 836.04 s, and each network's time relative to
    BReG-Net's, which (unlike seconds on another GPU and input pipeline) the two sources share."""
    pub = {m: published.lookup(PAPER, "epoch", PUBLISHED_ROW[m], "epoch_time") for m in NETWORKS}
    ratio_pub = {m: pub[m]["value"] / pub["bregnet39"]["value"] for m in NETWORKS}
    groups: dict[tuple, dict[str, dict]] = {}
    for row in rows:
        if row.get("config", {}).get("model") in NETWORKS:
            groups.setdefault(_settings(row), {})[row["config"]["model"]] = row
    lines: list[Line] = []
    for settings, by_model in list(groups.items()) or [(None, {})]:
        base = by_model.get("bregnet39")
        for model in NETWORKS:
            row = by_model.get(model)
            line = Line()
            line.put("Network", get_spec(model).title)
            line.put("Measured on", EMPTY if settings is None else str(settings[0]))
            epoch_size = None if row is None else row["config"].get("epoch_size")
            line.put("Epoch (images)", epoch_size, None if epoch_size is None else f"{epoch_size:,}")
            seconds = None if row is None else row["metrics"].get("epoch_s")
            # seconds compare only for an epoch of AffectNet's size; a smaller epoch shows its own time
            line.compare("Epoch (s)", seconds, pub[model] if epoch_size in (None, AFFECTNET_EPOCH) else None, "s")
            if epoch_size not in (None, AFFECTNET_EPOCH):
                line.put("Epoch (s) (pub.)", pub[model]["value"], f"{pub[model]['printed']} (AffectNet)")
            rel = None if row is None or base is None else seconds / base["metrics"]["epoch_s"]
            line.compare("vs BReG-Net", rel, pd.Series({"value": ratio_pub[model], "unit": "ratio",
                                                        "printed": f"{ratio_pub[model]:.4f}"}), "ratio")
            line.put("Source", MEASURED if row is not None else NOT_RUN)
            lines.append(line)
    notes = [f"Published: the mean AffectNet epoch (categorical) on a {PUBLISHED_DEVICE} (TensorFlow/TFLearn, the "
             "paper's input pipeline); measured: `bench.epoch_time`'s training step on this harness's device, data "
             "held on the device, extrapolated from a step budget unless --epochs. Seconds on different hardware "
             "differ by design; 'vs BReG-Net' (epoch time / BReG-Net-39's, same settings) is the comparable "
             "number: 836.04 / 750.21 = 1.1144 in the paper.",
             "Parameter counts of the two networks: the parameters table (4.9M, 7.2M published)."]
    if any(line.values["Source"] == NOT_RUN for line in lines):
        notes.append(f"Not timed yet: `{EPOCH_FILL}` fills these lines (a GPU; --epochs 1 times a whole epoch).")
    used = [r for r in rows if r.get("config", {}).get("model") in NETWORKS]
    head = f"{published.caption(PAPER, 'epoch')}, measured beside published"
    return render_lines(lines, fmt, f"{head}; {caption or _provenance(used, 'epoch_time')}", notes)


# (command whose rows it reads, file stem, renderer): reports/build.py registers these.
TABLES: list[tuple[str, str, Callable[..., str]]] = [
    ("evaluate", "bregnet_table_1", render_table_1),
    ("evaluate", "bregnet_table_2", render_table_2),
    ("evaluate", "bregnet_table_3", render_table_3),
    ("evaluate", "bregnet_table_4", render_table_4),
    ("evaluate", "bregnet_table_5", render_table_5),
    ("evaluate", "bregnet_table_6", render_table_6),
    ("evaluate", "bregnet_table_7", render_table_7),
    ("flops", "bregnet_params", render_params),
    ("epoch_time", "bregnet_epoch_time", render_epoch_time),
]
