"""DACL Tables 1-2 and CAF Tables 1-4 from evaluation rows, measured beside published.

The papers' own systems run here: DACL on torchvision's ResNet-18 (`bench.train --model tv_resnet18 --loss dacl`,
RAF-DB and 7-class AffectNet) and CAF's Algorithm 1 on its ResNet-18 and tuned AlexNet (`--method caf`,
AffectNet, AFEW-VA, Aff-Wild), with Table 4's margins and its no-critic baseline. Such a run takes the place of
the paper's line for the same network and method, compared with it. Runs of other networks with these losses
(BReG-NeXt-50 with DACL or under CAF) are extra lines, compared with the paper's method on its own network. The
other methods the papers cite stay published only.
"""

from __future__ import annotations

from .paper_tables import (
    Comparison,
    Metric,
    Run,
    group_runs,
    network_params,
    network_title,
    render_lines,
    title,
)

DACL_FILL = "python -m bench.reproduce dacl --budget short --data rafdb=PATH --data affectnet7=PATH"
CAF_FILL = "python -m bench.reproduce caf --budget short --data affectnet=PATH --data afewva=PATH --data affwild=PATH"
# The network part of CAF's row names for its two encoders.
CAF_NETS = {"tv_resnet18": "resnet18", "tv_alexnet_tuned": "alexnet_tuned"}
# CAF Table 4's margins as `--caf-margin` spells them -> the row's middle name.
CAF_MARGINS = {"adaptive": "delta", "constant:0.2": "constant_kappa", "linear:0.1,0.005": "linear_kappa"}
# Published rows a run of this harness can fill (the rest cite methods not implemented here).
DACL_RUNNABLE = {"dacl", "softmax_loss", "center_loss_ref35"}
# bench.train's loss -> DACL's published row and the method's name
DACL_LOSSES = {"dacl": ("dacl", "DACL"), "ce": ("softmax_loss", "softmax loss"),
               "center": ("center_loss_ref35", "center loss")}
# CAF Table 4's other critics as `--caf-adversary` names them -> the row's last name and the line's
CAF_ADVERSARIES = {"none": ("no_critic", "AV loss, no critic"), "fishergan": ("fishergan", "FisherGAN critic"),
                   "spheregan": ("spheregan", "SphereGAN critic"), "gramnet": ("gramnet", "GRAM-net critic")}
CAF_RUNNABLE = {f"ours_{net}" for net in CAF_NETS.values()} | {
    f"{kind}_{net}" for net in CAF_NETS.values() for kind in ("ours_delta", "ours_constant_kappa",
                                                              "ours_linear_kappa")} | {
    f"adversarial_{net}_{row}" for net in CAF_NETS.values() for row, _ in CAF_ADVERSARIES.values()}


def _title(model: str) -> str:
    if model.startswith("tv_"):
        from breg_models.backbones import BACKBONES

        return BACKBONES[model].title if model in BACKBONES else model
    return network_title(model)


def _method(config: dict) -> str:
    return str(config.get("method", "plain"))


def _adversary(config: dict) -> str:
    """The run's critic: CAF's own ("caf"), one of Table 4's others, or "none" (a plain AV-loss run too)."""
    return str(config.get("caf_adversary", "caf")) if _method(config) == "caf" else "none"


# ---------------------------------------------------------------- DACL
def _dacl_runs(rows: list[dict]) -> list[Run]:
    """Runs with the DACL loss or center loss, and the softmax (ce) baseline of a DACL reproduction."""
    return group_runs(r for r in rows if r["config"].get("task", "categorical") == "categorical"
                      and (r["config"].get("loss") in ("dacl", "center")
                           or (r["config"].get("loss") == "ce" and r["config"].get("paper") == "dacl")))


def _dacl_reference(run: Run) -> str | None:
    return DACL_LOSSES.get(run.config.get("loss"), (None,))[0]


def _dacl_label(run: Run) -> str:
    return f"{_title(run.model)} + {DACL_LOSSES[run.config.get('loss')][1]}"


def _dacl_table(table: str, database: str, runs: list[Run], fmt: str, caption: str, extra: list[str],
                aliases: dict[str, str]) -> str:
    spec = Comparison("dacl", table, (database,), [(None, [ACCURACY, AVERAGE_ACCURACY])], reference=_dacl_reference,
                      label=_dacl_label, absorb=lambda run: run.model == "tv_resnet18",
                      runnable=lambda row: row in DACL_RUNNABLE, name_column="Method", aliases=aliases,
                      not_runnable="the methods the paper compares with are not part of this harness.")
    lines, notes = spec.build(runs, DACL_FILL)
    notes.append("DACL's lines are torchvision's ResNet-18 trained here (`--model tv_resnet18`, the paper's recipe "
                 "under `bench.reproduce dacl`); other networks with DACL's loss are extra lines compared with the "
                 "paper's result for that loss.")
    return render_lines(lines, fmt, title("dacl", table, caption, [r for run in runs for r in run.rows]),
                        notes + extra)


ACCURACY = Metric("Accuracy (%)", "accuracy", "accuracy", "%")
# DACL's "average accuracy" is the mean of the per-class recalls.
AVERAGE_ACCURACY = Metric("Average accuracy (%)", "macro_recall", "avg_accuracy", "%")


def render_dacl_table1(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """DACL Table 1: RAF-DB accuracy and average accuracy (%), on its test partition (the loader's val)."""
    runs = [run for run in _dacl_runs(rows) if run.database == "rafdb"]
    return _dacl_table("1", "rafdb", runs, fmt, caption, ["RAF-DB has no validation partition: `rafdb:PATH`'s val "
                                                          "split is its test partition, the one DACL reports."], {})


def render_dacl_table2(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """DACL Table 2: AffectNet (7 classes, contempt dropped) accuracy (%); runs on any data but RAF-DB. Runs on
    the 8-class AffectNet are shown, not compared."""
    runs = [run for run in _dacl_runs(rows) if run.database != "rafdb"]
    return _dacl_table("2", "affectnet", runs, fmt, caption,
                       ["DACL Table 2 prints accuracy only; average accuracy (mean per-class recall) is measured "
                        "only.", "DACL's AffectNet has 7 classes (`--data affectnet7:PATH`); an 8-class run is not "
                        "compared."], {"affectnet7": "affectnet", "affectnet": "affectnet8"})


# ---------------------------------------------------------------- CAF
def _dimensional(names: tuple[tuple[str, str, str], ...]) -> list:
    """Parts of a CAF table: (shown name, evaluation key, published key) for valence and arousal."""
    return [(name, [Metric(d.capitalize(), f"{key}_{d}", f"{pub}_{d}", "va" if key == "rmse" else "ratio")
                    for d in ("valence", "arousal")]) for name, key, pub in names]


RMSE, PCC, CCC, SAGR = ("RMSE", "rmse", "rmse"), ("PCC", "cc", "pcc"), ("CCC", "ccc", "ccc"), ("SAGR", "sagr", "sagr")
# CAF's Params column: the encoder's parameters, counted here from the network this harness builds.
PARAMS = [(None, [Metric("Params (M)", "params_trainable", "params", "M", shared=True)])]
PARAMS_NOTE = ("Params: the paper's count, and this harness's count of the network a line trained (its trainable "
               "parameters with the dimensional head, as `python -m bench.flops` counts them).")


def _ablation(config: dict) -> bool:
    """A Table 4 line: CAF with a margin other than Delta or another critic, or a CAF reproduction's run without
    the critic."""
    if _method(config) == "caf":
        return config.get("caf_margin", "adaptive") != "adaptive" or _adversary(config) != "caf"
    return config.get("paper") == "caf"


def _caf_runs(rows: list[dict], ablation: bool) -> list[Run]:
    """Dimensional runs with the AV loss: Table 4's ablations (``ablation``) or the others (Tables 1-3)."""
    return group_runs(r for r in rows if r["config"].get("task") == "dimensional" and r["config"].get("loss") == "av"
                      and _ablation(r["config"]) == ablation)


def _caf_label(run: Run) -> str:
    c = run.config
    if _adversary(c) != "caf":
        return f"{_title(run.model)} + {CAF_ADVERSARIES[_adversary(c)][1]}"
    margin = c.get("caf_margin", "adaptive")
    kind, _, value = margin.partition(":")
    shown = {"adaptive": "Delta", "constant": f"constant kappa {value}", "linear": f"linear kappa' {value}"}
    return f"{_title(run.model)} + CAF ({shown.get(kind, margin)})"


def _caf_reference(table: str):
    """The published row of a run: its own network's line where CAF ran one (Table 4: per margin), else ResNet-18's
    (the paper's method on its own network)."""
    def reference(run: Run) -> str | None:
        net = CAF_NETS.get(run.model, "resnet18")
        if table != "4":
            return f"ours_{net}"
        return caf_table4_row(net, run.config)
    return reference


def caf_table4_row(net: str, config: dict) -> str | None:
    """CAF Table 4's row for a run of its network ``net`` (resnet18, alexnet_tuned): its critic, or CAF's critic
    with its margin (None for a margin the table does not print)."""
    if _adversary(config) != "caf":
        return f"adversarial_{net}_{CAF_ADVERSARIES[_adversary(config)][0]}"
    kind = CAF_MARGINS.get(config.get("caf_margin", "adaptive"))
    return None if kind is None else f"ours_{kind}_{net}"


def _caf_absorbs(run: Run) -> bool:
    """CAF's own network under CAF's own settings (Delta, or a margin Table 4 prints, or a critic it prints)."""
    return run.model in CAF_NETS and (_adversary(run.config) != "caf"
                                      or run.config.get("caf_margin", "adaptive") in CAF_MARGINS)


def _caf_table(table: str, databases: tuple[str, ...], parts, runs: list[Run], fmt: str, caption: str,
               extra: list[str]) -> str:
    for run in runs:
        run.metrics.setdefault("params_trainable", network_params(run.model, "dimensional"))
    spec = Comparison("caf", table, databases, parts, reference=_caf_reference(table), label=_caf_label,
                      absorb=_caf_absorbs, runnable=lambda row: row in CAF_RUNNABLE, name_column="Method",
                      not_runnable="the methods the paper compares with are not part of this harness.")
    lines, notes = spec.build(runs, CAF_FILL)
    notes.append("CAF's lines are its ResNet-18 and tuned AlexNet (`tv_resnet18`, `tv_alexnet_tuned`) trained here "
                 "by Algorithm 1 (`bench.train --method caf`); other networks are extra lines compared with CAF's "
                 "ResNet-18. BReG-NeXt's line is BReG-NeXt's published one (`bench.reproduce bregnext` Tables 6-7 "
                 "measure it with MSE).")
    return render_lines(lines, fmt, title("caf", table, caption, [r for run in runs for r in run.rows]),
                        notes + extra)


def render_caf_table1(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """CAF Table 1: AffectNet RMSE, PCC, CCC; AV-loss runs on any data but Aff-Wild and AFEW-VA."""
    runs = [run for run in _caf_runs(rows, False) if run.database not in ("affwild", "afewva")]
    return _caf_table("1", ("affectnet",), PARAMS + _dimensional((RMSE, PCC, CCC)), runs, fmt, caption,
                      [PARAMS_NOTE])


def render_caf_table2(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """CAF Table 2: AFEW-VA RMSE, SAGR, PCC, CCC."""
    runs = [run for run in _caf_runs(rows, False) if run.database == "afewva"]
    return _caf_table("2", ("afewva",), _dimensional((RMSE, SAGR, PCC, CCC)), runs, fmt, caption,
                      ["The temporal methods of this table see clips; this harness's networks see single frames, as "
                       "CAF's do."])


def render_caf_table3(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """CAF Table 3: Aff-Wild RMSE, SAGR, PCC, CCC."""
    runs = [run for run in _caf_runs(rows, False) if run.database == "affwild"]
    return _caf_table("3", ("affwild",), _dimensional((RMSE, SAGR, PCC, CCC)), runs, fmt, caption, [])


def render_caf_table4(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """CAF Table 4, the ablation on AffectNet: CAF's encoders without the critic, with FisherGAN, SphereGAN and
    GRAM-net critics, with Delta (the Table 1 runs), and with the constant and linear margins.
    `bench.ablation --preset caf_table4` runs it over seeds."""
    runs = [run for run in _caf_runs(rows, True) + _caf_runs(rows, False)
            if run.database not in ("affwild", "afewva") and (_ablation(run.config) or _caf_absorbs(run))]
    return _caf_table("4", ("affectnet",), PARAMS + _dimensional((RMSE, SAGR, CCC)), runs, fmt, caption,
                      [PARAMS_NOTE])


# (command whose rows each table reads, file stem, renderer): registered by reports/build.py.
TABLES = [
    ("evaluate", "dacl_table_1_rafdb", render_dacl_table1),
    ("evaluate", "dacl_table_2_affectnet", render_dacl_table2),
    ("evaluate", "caf_table_1_affectnet", render_caf_table1),
    ("evaluate", "caf_table_2_afewva", render_caf_table2),
    ("evaluate", "caf_table_3_affwild", render_caf_table3),
    ("evaluate", "caf_table_4_ablation", render_caf_table4),
]
