"""What the paper tables of evaluation rows share: runs grouped over seeds, the published cell beside each
measured one with the difference in the published unit, and lines for the published rows no run fills.

A table is written even with no rows: its published values, each line saying why it is not measured, and a
note naming the command that fills it. BReG-NeXt Tables 3-7 (`bregnext_tables`) and the DACL/CAF tables
(`dacl_caf_tables`) are built on it.
"""

from __future__ import annotations

import functools
import json
import math
import re
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd

from . import published
from .render import GROUP_SEP, render
from .row_names import is_network, network_title, row_title

MEASURED = "measured"
NOT_RUN = "published only (not run yet)"
NOT_RUNNABLE = "published only (not runnable here)"
# Empty cell: nothing measured, or nothing published there.
EMPTY = "-"
# best.pt is picked on the held-out part of the training set where the run holds one out; best_val.pt on the split
# evaluated, as the papers' code picks its best epoch on the set it reports (README: Model selection)
CHECKPOINT_LABELS = {"best_val": "test-set maximum (epoch picked on the evaluated split)"}
# Digits shown per published unit (Markdown/LaTeX; CSV and JSON keep full precision).
DECIMALS = {"%": 2, "ratio": 4, "va": 4, "images": 0, "s": 2}
DATABASES = {"affectnet": "AffectNet", "fer2013": "FER2013", "affwild": "Aff-Wild", "afewva": "AFEW-VA",
             "rafdb": "RAF-DB", "synth": "synth", "affectnet7": "AffectNet (7 classes)",
             "affectnet8": "AffectNet (8 classes)"}
VALUE_NOTE = ("Each cell reads measured (published): measured is this harness's evaluation rows (`evaluate`), the "
              "mean ± sd over seeds where a line has several, at the digits the paper prints; published is the "
              "paper's value as printed, alone in parentheses where nothing is measured; accuracy in % (the "
              "measured fraction × 100).")
SPLIT_NOTE = ("Only lines of split 'val' are compared with the published values, which are on the validation "
              "sets (AffectNet and Aff-Wild have no public test split; FER2013's val is PublicTest); lines of other "
              "splits, or of data the paper did not use (synth), show '-' as published.")


def database(config: dict) -> str:
    """The data set a run used, by its `--data` spec: 'affectnet:/d/x' -> 'affectnet'; a synth stand-in of a
    smoke reproduction (config "stands_for") counts as the set it stands for."""
    name = str(config.get("data") or "synth").partition(":")[0]
    return str(config["stands_for"]) if name == "synth" and config.get("stands_for") else name


def stand_in(config: dict) -> bool:
    """A run on synth data standing in for a real set: in that set's table, never compared with its numbers."""
    return str(config.get("data") or "synth").partition(":")[0] == "synth" and bool(config.get("stands_for"))


def to_unit(value: float | None, unit: str) -> float | None:
    """A measured value in a published unit: fractions become percent, parameter counts millions."""
    if value is None:
        return None
    return 100.0 * value if unit == "%" else value / 1e6 if unit == "M" else float(value)


@functools.cache
def network_params(model: str, task: str) -> int | None:
    """Trainable parameters of a network as this harness builds it (on the meta device: no memory, no init);
    None for a name the zoo does not know."""
    import torch

    from breg_models import create_model

    try:
        with torch.device("meta"):
            net = create_model(model, task=task, num_classes=8 if task == "categorical" else None)
    except (ValueError, KeyError, ImportError):
        return None
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _mean(values: list) -> object:
    """Mean of numbers (None left out), element-wise for lists and key-wise for dicts; else the first value."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    first = present[0]
    if all(_number(v) for v in present):
        return sum(float(v) for v in present) / len(present)
    if all(isinstance(v, list) for v in present) and len({len(v) for v in present}) == 1:
        return [_mean([v[i] for v in present]) for i in range(len(first))]
    if all(isinstance(v, dict) for v in present):
        return {k: _mean([v.get(k) for v in present]) for k in first}
    return first


@dataclass
class Run:
    """Evaluation rows that differ only in their seed: one line of a table."""

    config: dict
    rows: list[dict] = field(default_factory=list)

    @cached_property
    def metrics(self) -> dict:
        keys = dict.fromkeys(k for r in self.rows for k in r["metrics"])
        return {k: _mean([r["metrics"].get(k) for r in self.rows]) for k in keys}

    def spread(self, key: str) -> float | None:
        """The sample standard deviation of a metric over the line's seeds (None for fewer than two)."""
        values = [float(v) for r in self.rows if _number(v := r["metrics"].get(key))]
        return statistics.stdev(values) if len(values) > 1 else None

    @property
    def database(self) -> str:
        return database(self.config)

    @property
    def split(self) -> str:
        return str(self.config.get("split", "val"))

    @property
    def model(self) -> str:
        return str(self.config.get("model", "?"))

    def label(self) -> str:
        """What sets this run apart: budget, epochs, checkpoint, loss, bypass, seeds."""
        c = self.config
        parts = [f"budget {c['budget']}" if c.get("budget") is not None else None,
                 f"synth stand-in for {DATABASES.get(c['stands_for'], c['stands_for'])}" if stand_in(c) else
                 f"synth as {c['synth_balance']}" if c.get("synth_balance") not in (None, "uniform") else None,
                 f"{c['epochs']} epoch{'' if c['epochs'] == 1 else 's'}" if c.get("epochs") is not None else None,
                 CHECKPOINT_LABELS.get(c["checkpoint"], str(c["checkpoint"])) if c.get("checkpoint") is not None
                 else None,
                 c.get("loss"), f"bypass {c['bypass']}" if c.get("bypass") else None]
        seeds = sorted({r["config"].get("seed") for r in self.rows}, key=str)
        if seeds != [None]:
            parts.append(("seed " if len(seeds) == 1 else "seeds ") + ",".join(map(str, seeds)))
        return ", ".join(str(p) for p in parts if p) or EMPTY


def group_runs(rows: Iterable[dict]) -> list[Run]:
    """Rows grouped by their config without the seed, in first-seen order."""
    runs: dict[str, Run] = {}
    for row in rows:
        config = {k: v for k, v in row["config"].items() if k != "seed"}
        key = json.dumps(config, sort_keys=True, default=str)
        runs.setdefault(key, Run(config)).rows.append(row)
    return list(runs.values())


def published_lines(paper: str, table: str, databases: Iterable[str]) -> list[tuple[str, str]]:
    """(row, database) pairs the published table fills, in the paper's order."""
    frame = published.table(paper, table)
    out: dict[tuple[str, str], None] = {}
    for row, column in zip(frame["row"], frame["column"], strict=True):
        for db in databases:
            if column.startswith(f"{db}_"):
                out[(row, db)] = None
    return list(out)


@dataclass(frozen=True)
class Metric:
    """One measured-beside-published column group: its label, the evaluation row's key, the published
    column's name after the database prefix, and the unit it is printed in."""

    label: str
    key: str
    suffix: str
    unit: str
    shared: bool = False  # the published column has no data-set prefix (CAF's Params)


class Line:
    """One line of a table, held twice: numbers for CSV/JSON (every column: measured, published, difference,
    source, run) and compact text for Markdown/LaTeX (one "measured (published)" cell per metric, the run and the
    differences in notes)."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}
        self.texts: dict[str, str] = {}
        self.diffs: list[str] = []  # "label +1.23" of each compared cell, for the differences note
        self.doubts: list[str] = []  # why a published cell on this line is doubtful

    def put(self, column: str, value: object, text: str | None = None) -> None:
        self.values[column] = value
        self.texts[column] = text if text is not None else (EMPTY if value is None else str(value))

    def compare(self, label: str, measured: float | None, cell: pd.Series | None, unit: str,
                sd: float | None = None) -> None:
        """``label`` (a "GROUP|NAME" label prints under a spanning GROUP): measured (already in the published unit;
        the mean ± sd over seeds where ``sd`` is given) and the published value, at the digits the paper prints.
        CSV/JSON get ``label``, ``label (pub.)``, ``label (diff.)`` (measured - published) and ``label (sd)``."""
        unit = cell["unit"] if cell is not None else unit
        digits = _digits(cell, unit)
        name = label.replace(GROUP_SEP, " ")
        pub = None if cell is None else float(cell["value"])
        diff = None if measured is None or pub is None else measured - pub
        self.values[name] = measured
        if sd is not None:
            self.values[f"{name} (sd)"] = sd
        self.values[f"{name} (pub.)"] = pub
        self.values[f"{name} (diff.)"] = diff
        why = None if cell is None or "paper" not in cell else published.doubt(cell["paper"], cell["table"],
                                                                             cell["row"], cell["column"])
        shown = None if cell is None else printed(cell) + ("*" if why else "")
        if why and why not in self.doubts:
            self.doubts.append(why)
        text = EMPTY if measured is None else f"{measured:,.{digits}f}" + ("" if sd is None else f" ± {sd:,.{digits}f}")
        self.texts[label] = text if shown is None else (f"({shown})" if measured is None else f"{text} ({shown})")
        if diff is not None:
            self.diffs.append(f"{name} {diff:+,.{digits}f}")


def printed(cell: pd.Series) -> str:
    """A published cell as the paper prints it, powers of ten as maths ('0.95 x 10^7'); a depth as its number."""
    if cell["unit"] == "layers":
        return f"{float(cell['value']):.0f}"
    return re.sub(r"(\S+) x 10\^(-?\d+)", r"\\(\1 \\times 10^{\2}\\)", str(cell["printed"]))


def _digits(cell: pd.Series | None, unit: str) -> int:
    """The decimals a value is shown with: those the paper printed for the cell, else the unit's default."""
    if unit == "M":
        return 1
    if cell is not None:
        try:
            step = published.resolution(str(cell["printed"]))
            if step < 1:
                return min(4, round(-math.log10(step)))
            return 0
        except ValueError:
            pass
    return DECIMALS.get(unit, 4)


# Columns of a line that Markdown/LaTeX show as notes or marks instead (CSV/JSON keep them).
SOURCE, RUN, SPLIT, DATA = "Source", "Run", "Split", "Data"


def frame_of(lines: list[Line], fmt: str) -> pd.DataFrame:
    if fmt in ("csv", "json"):
        frame = pd.DataFrame([line.values for line in lines])
        return frame.astype(object).where(frame.notna(), None)
    return pd.DataFrame([line.texts for line in lines]).fillna(EMPTY)


def compact(lines: list[Line], notes: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The Markdown/LaTeX form of a table: the first column (the line's name) carries a letter for its run, whose
    settings (and split, where not 'val') go in a note, and † where the method is not runnable here; the Source,
    Run and Split columns go; the differences and doubtful published cells are listed in notes."""
    marks: dict[str, str] = {}
    shown, diffs, doubts = [], [], []
    for line in lines:
        texts = dict(line.texts)
        name_col = next(c for c in texts if c not in (DATA, SPLIT, RUN, SOURCE))
        run = [t for t in (texts.pop(RUN, EMPTY), _split_text(texts.pop(SPLIT, EMPTY))) if t and t != EMPTY]
        source = texts.pop(SOURCE, None)
        name = texts[name_col]
        if run:
            mark = marks.setdefault("; ".join(run), chr(97 + len(marks) % 26) * (len(marks) // 26 + 1))  # a-z, aa-zz
            name += f" ({mark})"
        if source == NOT_RUNNABLE:
            name += " †"
        texts[name_col] = name
        shown.append(texts)
        if line.diffs:
            where = "".join(f", {texts[c]}" for c in (DATA, "Class", "Metric") if c in texts and c != name_col)
            diffs.append(f"{name}{where}: {', '.join(line.diffs)}")
        doubts += [d for d in line.doubts if d not in doubts]
    out = list(notes)
    out += [f"({mark}) {run}" for run, mark in marks.items()]
    if diffs:
        out.append("Measured - published, in the published unit: " + "; ".join(diffs) + ".")
    out += [f"* Doubtful published value: {why} (reports/published/NOTES.md)." for why in doubts]
    return pd.DataFrame(shown).fillna(EMPTY), out


def _split_text(split: str) -> str:
    return EMPTY if split in (EMPTY, "val") else f"split {split} (not compared)"


def render_lines(lines: list[Line], fmt: str, caption: str, notes: list[str]) -> str:
    """The table in ``fmt``: every column for CSV/JSON, the compact form (`compact`) in Markdown/LaTeX with a
    headed block per data set."""
    if fmt in ("csv", "json"):
        return render(frame_of(lines, fmt), fmt, caption=caption, notes=notes)
    frame, notes = compact(lines, notes)
    return render(frame, fmt, caption=caption, notes=notes, sections=DATA if DATA in frame.columns else None)


def provenance(rows: list[dict], command: str = "evaluate") -> str:
    """Device, commit, data and budget of the ``command`` rows a table shows (build.caption), or that it shows
    none."""
    if not rows:
        return "published values only: " + ("no evaluation rows yet" if command == "evaluate" else
                                            f"no {command} rows yet")
    from .build import caption  # build registers this module's tables: imported when rendering, not at load

    return caption(command, rows)


def title(paper: str, table: str, caption: str, rows: list[dict]) -> str:
    """The paper's caption of the table, then where the measured lines come from (``caption`` if given)."""
    return f"{published.caption(paper, table)}, measured beside published; {caption or provenance(rows)}"


def missing_note(missing: list[str], command: str) -> str | None:
    """Which published lines no run fills yet, and the command that fills them."""
    if not missing:
        return None
    return (f"Not run yet: {', '.join(missing)}. `{command}` fills these lines (or `python -m bench.train` with "
            "the network and --data, whose finished run writes its evaluation rows; `python -m bench.evaluate "
            "CHECKPOINT` evaluates a saved one).")


@dataclass
class Comparison:
    """A paper table of one line per run or published row, each with ``parts`` (a metric name, or None,
    and its column groups), compared where a run's split is 'val' and its data is one of ``databases``.

    ``reference(run)`` names the published row a run is compared with (None: none); where ``absorb`` (a flag,
    or a test of the run) holds, that published row's own line is the run's (the same network and method),
    else it keeps its line. ``label(run)`` names
    a run's line, ``runnable(row)`` says whether an unmeasured published row could be run here, and
    ``not_runnable`` why the others cannot."""

    paper: str
    table: str
    databases: tuple[str, ...]
    parts: list[tuple[str | None, list[Metric]]]
    reference: Callable[[Run], str | None]
    label: Callable[[Run], str] = lambda run: network_title(run.model)
    absorb: bool | Callable[[Run], bool] = True
    runnable: Callable[[str], bool] = is_network
    name_column: str = "Network"
    not_runnable: str = "methods the paper compares with that this harness does not implement."
    aliases: dict[str, str] = field(default_factory=dict)  # a run's data set as this table reads it
    parts_as: str = "columns"  # "lines": one line per part with a Metric column, as BReG-Net Tables III-IV

    def _db(self, run: Run) -> str:
        return self.aliases.get(run.database, run.database)

    def _cell(self, row: str | None, db: str, metric: Metric) -> pd.Series | None:
        if row is None:
            return None
        cell = published.lookup(self.paper, self.table, row, metric.suffix if metric.shared else
                                f"{db}_{metric.suffix}")
        if cell is not None and cell["unit"] == "parameters":  # compared in millions, as printed
            cell = cell.copy()
            cell["value"], cell["unit"] = cell["value"] / 1e6, "M"
        return cell

    def _lines(self, head: dict[str, str], source: str, row: str | None, db: str, run: Run | None) -> list[Line]:
        """The line(s) of one run or published row: its parts as column groups (one line), or one line per part
        (``parts_as`` "lines"), each kept where it has a published or a measured value; ``row`` is the published
        row compared."""
        groups = [[(part, m) for part, ms in self.parts for m in ms]] if self.parts_as == "columns" else [
            [(part, m) for m in ms] for part, ms in self.parts]
        out = []
        for group in groups:
            line = Line()
            for column, text in head.items():
                line.put(column, text)
            if self.parts_as == "lines" and group[0][0] is not None:
                line.put("Metric", group[0][0])
            filled = False
            for part, metric in group:
                cell = self._cell(row, db, metric)
                unit = cell["unit"] if cell is not None else metric.unit
                measured = None if run is None else to_unit(run.metrics.get(metric.key), unit)
                sd = None if run is None else to_unit(run.spread(metric.key), unit)
                filled |= cell is not None or measured is not None
                label = f"{part}{GROUP_SEP}{metric.label}" if part is not None and self.parts_as == "columns" \
                    else metric.label
                line.compare(label, measured, cell, metric.unit, sd)
            line.put(SOURCE, source)
            if filled:
                out.append(line)
        return out

    def _reference(self, run: Run) -> str | None:
        """The published row a run is compared with: only for split 'val' on one of the table's databases."""
        db = self._db(run)
        if run.split != "val" or db not in self.databases or stand_in(run.config):
            return None
        ref = self.reference(run)
        return ref if (ref, db) in published_lines(self.paper, self.table, [db]) else None

    def build(self, runs: list[Run], fill_command: str) -> tuple[list[Line], list[str]]:
        """The table's lines, in the paper's order (runs not standing in for a published line last), and the
        notes about them."""
        refs = {id(run): self._reference(run) for run in runs}
        absorbed: dict[tuple[str, str], list[Run]] = {}
        for run in runs:
            absorbs = self.absorb(run) if callable(self.absorb) else self.absorb
            if absorbs and refs[id(run)] is not None:
                absorbed.setdefault((refs[id(run)], self._db(run)), []).append(run)

        def head(name: str, db: str, split: str, run_label: str) -> dict[str, str]:
            return {self.name_column: name, "Data": DATABASES.get(db, db), "Split": split, "Run": run_label}

        def measured(run: Run) -> list[Line]:
            return self._lines(head(self.label(run), self._db(run), run.split, run.label()), MEASURED,
                               refs[id(run)], self._db(run), run)

        lines: list[Line] = []
        missing: list[str] = []
        for row, db in published_lines(self.paper, self.table, self.databases):
            if (row, db) in absorbed:
                lines += [line for run in absorbed[(row, db)] for line in measured(run)]
                continue
            runnable = self.runnable(row)
            name = row_title(self.paper, row)
            if runnable:
                missing.append(f"{name} on {DATABASES.get(db, db)}")
            lines += self._lines(head(name, db, EMPTY, EMPTY), NOT_RUN if runnable else NOT_RUNNABLE, row, db, None)
        absorbed_ids = {id(run) for group in absorbed.values() for run in group}
        lines += [line for run in runs if id(run) not in absorbed_ids for line in measured(run)]
        notes = [VALUE_NOTE, SPLIT_NOTE]
        note = missing_note(missing, fill_command)
        if note:
            notes.append(note)
        if any(line.values["Source"] == NOT_RUNNABLE for line in lines):
            notes.append(f"† {NOT_RUNNABLE}: {self.not_runnable}")
        return lines, notes


# Published column keys as a header says them ("affectnet_rmse_total" -> "AffectNet|RMSE total").
_COLUMN_WORDS = {"params": "Params", "flops": "FLOPs", "depth": "Layers", "accuracy": "accuracy (%)", "rmse": "RMSE",
                 "f1": "F1"}


def column_title(column: str) -> str:
    db, _, rest = column.partition("_")
    if db not in DATABASES or not rest:
        return _COLUMN_WORDS.get(column, column.replace("_", " "))
    words = [_COLUMN_WORDS.get(w, w) for w in rest.split("_")]
    return f"{DATABASES[db]}{GROUP_SEP}{' '.join(words)}"


def published_table(paper: str, tables: list[str], fmt: str, caption: str, command: str, fill: str,
                    runnable: Callable[[str], bool] = is_network) -> str:
    """A paper table no row fills yet: each published row as the paper prints it, and the command that measures
    it. ``tables`` are the published table ids it mirrors (one line per row and table)."""
    lines = []
    columns = list(dict.fromkeys(c for t in tables for c in published.table(paper, t)["column"]))
    for t in tables:
        for row in dict.fromkeys(published.table(paper, t)["row"]):
            line = Line()
            line.put("Row", row_title(paper, row))
            line.put("Table", t)
            for column in columns:
                cell = published.lookup(paper, t, row, column)
                line.compare(column_title(column), None, cell, "" if cell is None else cell["unit"])
            line.put(SOURCE, NOT_RUN if runnable(row) else NOT_RUNNABLE)
            lines.append(line)
    notes = [f"Published values only: no {command} rows yet. `{fill}` fills the measured values."]
    return render_lines(lines, fmt, f"{caption}; published values only", notes)
