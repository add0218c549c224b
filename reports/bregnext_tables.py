"""BReG-NeXt Tables 3-7 from evaluation rows (`bench.evaluate`, and the end of each `bench.train` run): the
class counts of the data actually loaded (3), accuracy (4), per-class precision/recall/F1 (5), RMSE (6) and
CC/CCC/SAGR (7), measured beside the published values with the difference, one line per network, data set
and run. Published lines no run fills are kept and marked, with the command that fills them.

Runs of other papers' recipes (config "paper" bregnet/dacl/caf, or losses dacl/av) are left to their tables.
"""

from __future__ import annotations

import pandas as pd

from . import published
from .paper_tables import (
    DATABASES,
    EMPTY,
    MEASURED,
    NOT_RUN,
    SPLIT_NOTE,
    VALUE_NOTE,
    Comparison,
    Line,
    Metric,
    Run,
    group_runs,
    missing_note,
    network_title,
    render_lines,
    title,
)

PAPER = "bregnext"
FILL = "python -m bench.reproduce bregnext --budget short"
CATEGORICAL = ("affectnet", "fer2013")
DIMENSIONAL = ("affectnet", "affwild")
OTHER_LOSSES = ("dacl", "av")


def _runs(rows: list[dict], task: str) -> list[Run]:
    """This paper's runs of ``task``: not another paper's reproduction, not another paper's loss."""
    return group_runs(r for r in rows
                      if r["config"].get("task", "categorical") == task
                      and r["config"].get("paper") in (None, PAPER)
                      and r["config"].get("loss") not in OTHER_LOSSES)


def _used(runs: list[Run]) -> list[dict]:
    return [row for run in runs for row in run.rows]


def _comparison(table: str, task: str, databases: tuple[str, ...], parts, rows: list[dict], fmt: str,
                caption: str, notes: tuple[str, ...] = ()) -> str:
    runs = _runs(rows, task)
    spec = Comparison(PAPER, table, databases, parts, reference=lambda run: run.model)
    lines, table_notes = spec.build(runs, FILL)
    return render_lines(lines, fmt, title(PAPER, table, caption, _used(runs)), table_notes + list(notes))


def render_table4(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """Table 4: recognition rate (%) per network on AffectNet and FER2013."""
    return _comparison("4", "categorical", CATEGORICAL, [(None, [Metric("Accuracy (%)", "accuracy", "accuracy", "%")])],
                       rows, fmt, caption, ("Table 4 prints accuracy only; the evaluation rows hold F1, kappa, "
                                            "MCC and the AUCs too (`python -m reports --format json`).",))


def render_table6(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """Table 6: RMSE of valence, arousal and both on AffectNet and Aff-Wild."""
    metrics = [Metric(f"RMSE {d}", f"rmse_{d}", f"rmse_{d}", "va") for d in ("valence", "arousal", "total")]
    return _comparison("6", "dimensional", DIMENSIONAL, [(None, metrics)], rows, fmt, caption,
                       (r"RMSE total = \(\sqrt{(\mathrm{RMSE}_V^2 + \mathrm{RMSE}_A^2) / 2}\), as the paper's "
                        "totals are.",))


def render_table7(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """Table 7: CC (Pearson), CCC and SAGR of valence and arousal; the paper prints them for BReG-NeXt-50."""
    parts = [(name, [Metric(d.capitalize(), f"{key}_{d}", f"{key}_{d}", "ratio") for d in ("valence", "arousal")])
             for name, key in (("CC", "cc"), ("CCC", "ccc"), ("SAGR", "sagr"))]
    return _comparison("7", "dimensional", DIMENSIONAL, parts, rows, fmt, caption,
                       ("The paper prints Table 7 for BReG-NeXt-50 only; other networks' lines have no published "
                        "value.",))


def _class_order(db: str, table: str, names: list[str]) -> list[str]:
    """Classes in the published table's order, any others after."""
    known = [r for r in dict.fromkeys(published.table(PAPER, table)["row"]) if r != "average"]
    listed = [c for c in known if c in names or not names]
    return listed + [c for c in names if c not in listed]


def _published_share(db: str) -> dict[str, float]:
    counts = published.table(PAPER, "3")
    counts = counts[counts["column"] == db]
    return dict(zip(counts["row"], 100.0 * counts["value"] / counts["value"].sum(), strict=True))


def _share_cell(share: float | None) -> pd.Series | None:
    return None if share is None else pd.Series({"value": share, "unit": "%", "printed": f"{share:.2f}"})


def render_table3(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """Table 3: images per expression in the data each evaluation loaded (per data set and split), beside the
    paper's counts of the whole databases, with each class's share of its set."""
    blocks: dict[tuple, dict] = {}
    for row in rows:
        c, m = row["config"], row["metrics"]
        if c.get("task", "categorical") != "categorical" or not m.get("class_counts"):
            continue
        if len(m["class_counts"]) != len(m.get("class_names") or []):
            raise ValueError(f"evaluate row of {c.get('model')} on {c.get('data')}: {len(m['class_counts'])} "
                             f"class_counts for {len(m.get('class_names') or [])} class_names")
        key = (str(c.get("data") or "synth"), str(c.get("split", "val")), tuple(m["class_names"]),
               tuple(m["class_counts"]))
        blocks.setdefault(key, {"rows": [], "db": Run(c).database})["rows"].append(row)
    lines: list[Line] = []
    measured_dbs = set()
    for (_, split, names, counts), block in blocks.items():
        db = block["db"]
        measured_dbs.add(db)
        total, shares = sum(counts), _published_share(db)
        by_name = dict(zip(names, counts, strict=True))
        for cls in _class_order(db, "3", list(names)):
            line = Line()
            for column, text in (("Data", DATABASES.get(db, db)), ("Split", split), ("Class", cls)):
                line.put(column, text)
            cell = published.lookup(PAPER, "3", cls, db)
            line.compare("Images", float(by_name[cls]), cell, "images")
            share = 100.0 * by_name[cls] / total if total else None
            line.compare("Share %", share, _share_cell(shares.get(cls)), "%")
            line.put("Source", MEASURED)
            lines.append(line)
    missing = []
    for db in CATEGORICAL:
        if db in measured_dbs:
            continue
        missing.append(f"{DATABASES[db]} (any split)")
        shares = _published_share(db)
        for cls in _class_order(db, "3", []):
            cell = published.lookup(PAPER, "3", cls, db)
            if cell is None:
                continue
            line = Line()
            for column, text in (("Data", DATABASES[db]), ("Split", EMPTY), ("Class", cls)):
                line.put(column, text)
            line.compare("Images", None, cell, "images")
            line.compare("Share %", None, _share_cell(shares.get(cls)), "%")
            line.put("Source", NOT_RUN)
            lines.append(line)
    notes = ["Measured: the true labels of each split an evaluation loaded (its rows' class_counts); published: "
             "the paper's counts of the whole database (every split). Counts differ by the splits not loaded, so "
             "compare the shares: each class's percent of its set; difference = measured - published.",
             "FER2013 has no contempt class (the paper prints '-')."]
    note = missing_note(missing, "python -m bench.evaluate CHECKPOINT --data affectnet:PATH --splits val")
    if note:
        notes.append(note)
    used = [row for block in blocks.values() for row in block["rows"]]
    return render_lines(lines, fmt, title(PAPER, "3", caption, used), notes)


def weighted_average(values: list[float | None], support: list[int]) -> float | None:
    """Support-weighted mean of per-class values, leaving out the classes where the value is undefined (None):
    Table 5's 'average' column (metrics' weighted_*)."""
    kept = [(v, s) for v, s in zip(values, support, strict=True) if v is not None]
    weight = sum(s for _, s in kept)
    return None if not kept or weight == 0 else sum(v * s for v, s in kept) / weight


PER_CLASS = (("Precision", "precision"), ("Recall", "recall"), ("F1", "f1"))


def _per_class_lines(head: dict[str, str], db: str, per_class: dict | None, names: list[str],
                     compare: bool, source: str) -> list[Line]:
    """One line per class and the 'average' line of one run (or of the published table, ``per_class`` None)."""
    index = {name: i for i, name in enumerate(names)}
    support = [] if per_class is None else [int(s) for s in per_class["support"]]
    lines = []
    for cls in [*_class_order(db, "5", names), "average"]:
        line = Line()
        for column, text in {**head, "Class": cls}.items():
            line.put(column, text)
        filled = cls in index or (cls == "average" and per_class is not None)  # a run's every class, '-' too
        for label, key in PER_CLASS:
            cell = published.lookup(PAPER, "5", cls, f"{db}_{key}") if compare else None
            if per_class is None:
                measured = None
            elif cls == "average":
                measured = weighted_average(per_class[key], support)
            else:
                measured = per_class[key][index[cls]] if cls in index else None
            filled |= cell is not None or measured is not None
            line.compare(label, measured, cell, "ratio")
        if per_class is None:
            line.put("Support", None)
        else:
            n = sum(support) if cls == "average" else (support[index[cls]] if cls in index else None)
            line.put("Support", n, None if n is None else f"{n:,}")
        line.put("Source", source)
        if filled:
            lines.append(line)
    return lines


def render_table5(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """Table 5: per-class precision, recall and F1 with the support-weighted average line; the paper prints
    them for BReG-NeXt-50 on AffectNet and FER2013."""
    runs = [run for run in _runs(rows, "categorical") if run.metrics.get("per_class")]
    lines: list[Line] = []
    filled = set()
    for run in runs:
        compare = run.model == "bregnext50" and run.split == "val" and run.database in CATEGORICAL
        if compare:
            filled.add(run.database)
        names, per_class = list(run.metrics.get("class_names") or []), run.metrics["per_class"]
        if any(len(per_class.get(k) or []) != len(names) for k in ("precision", "recall", "f1", "support")):
            raise ValueError(f"evaluate row of {run.model} on {run.config.get('data')}: per_class lists do not "
                             f"match its {len(names)} class_names")
        head = {"Network": network_title(run.model), "Data": DATABASES.get(run.database, run.database),
                "Split": run.split, "Run": run.label()}
        lines += _per_class_lines(head, run.database, per_class, names, compare, MEASURED)
    missing = []
    for db in CATEGORICAL:
        if db not in filled:
            missing.append(f"BReG-NeXt-50 on {DATABASES[db]}")
            head = {"Network": network_title("bregnext50"), "Data": DATABASES[db], "Split": EMPTY, "Run": EMPTY}
            lines += _per_class_lines(head, db, None, [], True, NOT_RUN)
    notes = [VALUE_NOTE, SPLIT_NOTE,
             "average: the per-class values weighted by true support (the metrics' weighted_*; weighted recall = "
             "accuracy), leaving out a class with no true and no predicted sample ('-': undefined, e.g. FER2013's "
             "missing contempt)."]
    note = missing_note(missing, FILL)
    if note:
        notes.append(note)
    return render_lines(lines, fmt, title(PAPER, "5", caption, _used(runs)), notes)


# (command whose rows each table reads, file stem, renderer): registered by reports/build.py.
TABLES = [
    ("evaluate", "bregnext_table_3_class_counts", render_table3),
    ("evaluate", "bregnext_table_4_accuracy", render_table4),
    ("evaluate", "bregnext_table_5_per_class", render_table5),
    ("evaluate", "bregnext_table_6_rmse", render_table6),
    ("evaluate", "bregnext_table_7_cc_ccc_sagr", render_table7),
]
