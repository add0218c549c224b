"""DACL Tables 1-2 and CAF Tables 1-4 from evaluation rows. What this harness can run of them is its own
networks trained with the papers' losses (`bench.train --loss dacl`, `--loss av`); those runs are measured
lines, each compared with the paper's own result for the same loss on the same data (a different network:
the paper's ResNet-18). Every published line is kept, marked as not runnable here: the papers' networks,
their critic and the other methods they cite are not part of this harness.
"""

from __future__ import annotations

from .paper_tables import (
    Comparison,
    Metric,
    Run,
    group_runs,
    network_title,
    render_lines,
    title,
)

DACL_FILL = "python -m bench.reproduce dacl --budget short"
CAF_FILL = "python -m bench.reproduce caf --budget short"
# The published row a run of each loss is compared with: the paper's own method with that loss.
DACL_REFERENCE = {"dacl": "dacl", "ce": "softmax_loss"}
CAF_REFERENCE = {"av": "ours_resnet18"}
NO_LOADER = {"rafdb": "RAF-DB", "afewva": "AFEW-VA"}


def _not_runnable(row: str) -> bool:
    return False


def _dacl_runs(rows: list[dict]) -> list[Run]:
    """Runs with the DACL loss, and the softmax (ce) baseline of a DACL reproduction."""
    return group_runs(r for r in rows if r["config"].get("task", "categorical") == "categorical"
                      and (r["config"].get("loss") == "dacl"
                           or (r["config"].get("loss") == "ce" and r["config"].get("paper") == "dacl")))


def _caf_runs(rows: list[dict]) -> list[Run]:
    return group_runs(r for r in rows if r["config"].get("task") == "dimensional" and r["config"].get("loss") == "av")


def _label(run: Run) -> str:
    return f"{network_title(run.model)} + {run.config.get('loss')} loss"


def _table(paper: str, table: str, databases: tuple[str, ...], parts, runs: list[Run], reference: dict[str, str],
           fill: str | None, fmt: str, caption: str, extra: list[str]) -> str:
    """One table; ``fill`` is the command whose runs would fill its measured lines (None: no run can)."""
    spec = Comparison(paper, table, databases, parts, reference=lambda run: reference.get(run.config.get("loss")),
                      label=_label, absorb=False, runnable=_not_runnable, name_column="Method",
                      not_runnable="the paper's networks and the methods it cites are not part of this harness.")
    lines, notes = spec.build(runs, fill or "")
    refs = ", ".join(f"--loss {k}: '{v}'" for k, v in reference.items())
    if fill:
        notes.append("A measured line is this harness's network trained with the paper's loss; its published value is "
                     f"the paper's own result with that loss on the same data ({refs}), so the difference measures "
                     "the network and the recipe together.")
    if fill and not runs:
        loss = next(iter(reference))
        notes.append(f"No run with --loss {loss} yet: `{fill}` fills the measured lines (or `python -m bench.train "
                     f"--model bregnext50 --loss {loss} --data affectnet:PATH`, whose finished run writes its "
                     "evaluation rows).")
    return render_lines(lines, fmt, title(paper, table, caption, [r for run in runs for r in run.rows]), notes + extra)


def _no_loader(db: str, elsewhere: str) -> str:
    return (f"This harness has no {NO_LOADER[db]} loader: every line here is published only; runs on other data "
            f"are in {elsewhere}.")


ACCURACY = Metric("Accuracy (%)", "accuracy", "accuracy", "%")
# DACL's "average accuracy" is the mean of the per-class recalls.
AVERAGE_ACCURACY = Metric("Average accuracy (%)", "macro_recall", "avg_accuracy", "%")


def render_dacl_table1(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """DACL Table 1: RAF-DB accuracy and average accuracy (%)."""
    runs = [run for run in _dacl_runs(rows) if run.database == "rafdb"]
    return _table("dacl", "1", ("rafdb",), [(None, [ACCURACY, AVERAGE_ACCURACY])], runs, DACL_REFERENCE,
                  None, fmt, caption, [_no_loader("rafdb", "DACL Table 2")])


def render_dacl_table2(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """DACL Table 2: AffectNet accuracy (%); runs with the DACL loss on any data but RAF-DB."""
    runs = [run for run in _dacl_runs(rows) if run.database != "rafdb"]
    return _table("dacl", "2", ("affectnet",), [(None, [ACCURACY, AVERAGE_ACCURACY])], runs, DACL_REFERENCE,
                  DACL_FILL, fmt, caption,
                  ["DACL Table 2 prints accuracy only; average accuracy (mean per-class recall) is measured only."])


def _dimensional(names: tuple[tuple[str, str, str], ...]) -> list:
    """Parts of a CAF table: (shown name, evaluation key, published key) for valence and arousal."""
    return [(name, [Metric(d.capitalize(), f"{key}_{d}", f"{pub}_{d}", "va" if key == "rmse" else "ratio")
                    for d in ("valence", "arousal")]) for name, key, pub in names]


RMSE, PCC, CCC, SAGR = ("RMSE", "rmse", "rmse"), ("PCC", "cc", "pcc"), ("CCC", "ccc", "ccc"), ("SAGR", "sagr", "sagr")
PARAMS_NOTE = "CAF prints each network's parameters; `python -m bench.flops` counts this harness's."


def render_caf_table1(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """CAF Table 1: AffectNet RMSE, PCC, CCC; runs with the AV loss on any data but Aff-Wild and AFEW-VA."""
    runs = [run for run in _caf_runs(rows) if run.database not in ("affwild", "afewva")]
    return _table("caf", "1", ("affectnet",), _dimensional((RMSE, PCC, CCC)), runs, CAF_REFERENCE, CAF_FILL,
                  fmt, caption, [PARAMS_NOTE])


def render_caf_table2(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """CAF Table 2: AFEW-VA RMSE, SAGR, PCC, CCC."""
    runs = [run for run in _caf_runs(rows) if run.database == "afewva"]
    return _table("caf", "2", ("afewva",), _dimensional((RMSE, SAGR, PCC, CCC)), runs, CAF_REFERENCE, None,
                  fmt, caption, [_no_loader("afewva", "CAF Tables 1 and 3")])


def render_caf_table3(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """CAF Table 3: Aff-Wild RMSE, SAGR, PCC, CCC."""
    runs = [run for run in _caf_runs(rows) if run.database == "affwild"]
    return _table("caf", "3", ("affwild",), _dimensional((RMSE, SAGR, PCC, CCC)), runs, CAF_REFERENCE, CAF_FILL,
                  fmt, caption, [])


def render_caf_table4(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """CAF Table 4: the critic ablation on AffectNet. This harness has no critic, so no run belongs here."""
    return _table("caf", "4", ("affectnet",), _dimensional((RMSE, SAGR, CCC)), [], CAF_REFERENCE, None, fmt,
                  caption, ["Every line ablates CAF's critic, which this harness does not have; its --loss av "
                                 "runs on AffectNet are in CAF Table 1.", PARAMS_NOTE])


# (command whose rows each table reads, file stem, renderer): registered by reports/build.py.
TABLES = [
    ("evaluate", "dacl_table_1_rafdb", render_dacl_table1),
    ("evaluate", "dacl_table_2_affectnet", render_dacl_table2),
    ("evaluate", "caf_table_1_affectnet", render_caf_table1),
    ("evaluate", "caf_table_2_afewva", render_caf_table2),
    ("evaluate", "caf_table_3_affwild", render_caf_table3),
    ("evaluate", "caf_table_4_ablation", render_caf_table4),
]
