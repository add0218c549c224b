"""Every table `python -m reports` writes as LaTeX compiles in a minimal document and fits a 7-inch text width.

Each renderer in `reports.build.TABLES` gets small synthetic rows shaped like its entry point's (long names,
every column filled, characters LaTeX treats specially); with pdflatex installed all tables are compiled in
one document and its log must hold no error and no overfull box, without one the structure is checked.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess

import pytest

from harness.results_store import make_row
from reports.build import PAPER_TABLES, TABLES
from reports.render import latex_escape, latex_packages, render

ENV = {"device": "NVIDIA H100 80GB HBM3", "git_commit": "0123456789ab"}
# Table 1-2 networks with their printed depth and about their measured parameter counts.
NETWORKS = [("resnet32", "ResNet-32", 30, 19_638_024), ("resnet50", "ResNet-50", 50, 12_012_296),
            ("bregnet32", "BReG-Net-32", 32, 1_882_000), ("bregnet50", "BReG-Net-50", 50, 3_017_160),
            ("bregnext26", "BReG-NeXt-26", 26, 1_420_000), ("bregnext32", "BReG-NeXt-32", 32, 1_895_688),
            ("bregnext50", "BReG-NeXt-50", 50, 3_072_696), ("bregnext68", "BReG-NeXt-68", 68, 4_120_000)]


def _with_env(row: dict) -> dict:
    row["env"] = dict(ENV)
    return row


def _flops_rows() -> list[dict]:
    return [make_row("flops", {"model": m, "bypass_impl": "eager", "input_size": 64},
                     {"title": t, "depth": d, "params_trainable": p, "macs": 173 * p, "flops": 346 * p,
                      "skipped_ops": {"aten::mul": 3} if m == "resnet50" else {}})
            for m, t, d, p in NETWORKS]


def _depth_rows() -> list[dict]:
    rows = []
    for arrangement in ("bregnext", "resnet"):
        for depth in (26, 32, 38, 50, 68):
            model = f"bregnext{depth}" if arrangement == "bregnext" else f"resnet-d{depth}"
            params = 60_000 * depth
            rows.append(make_row("depth_sweep", {"model": model, "arrangement": arrangement, "task": "categorical"},
                                 {"title": f"BReG-NeXt-{depth} (depth family)", "depth": depth,
                                  "params_trainable": params, "macs": 170 * params, "flops": 340 * params,
                                  "step_s": 0.012345, "images_per_s": 10368.4, "peak_gpu_mem_gib": 12.3456,
                                  "val_accuracy": 0.61234, "val_macro_f1": 0.51234, "train_loss": 1.01}))
    return rows


def _ablation_rows() -> list[dict]:
    rows = []
    for preset, model, bypasses, reference in (
            ("table8", "bregnext50", ["bregnext_h1", "bregnext_h2", "bregnext_h3", "adaptive"], "adaptive"),
            ("table9", "bregnext32", ["adaptive", "fixed:alpha=1,beta=0"], "adaptive"),
            ("scaled", "bregnext50", ["identity", "scaled:lam=0.5", "scaled:lam=1.5"], "identity")):
        for i, bypass in enumerate(bypasses):
            for seed in (0, 1, 2):
                rows.append(make_row("ablation", {"preset": preset, "reference": reference, "model": model,
                                                  "bypass": bypass, "seed": seed, "task": "categorical"},
                                     {"accuracy": 0.6 + 0.01 * i + 0.003 * seed * (seed + i),
                                      "alpha": [0.5, 0.6, 0.9, 1.1, 1.2, 1.25],
                                      "beta": [0.1, 0.2, 0.3, 0.3, 0.4, 0.5]}))
    return rows


def _gradflow_rows() -> list[dict]:
    rows = []
    for bypass in ("identity", "scaled:lam=0.5", "adaptive:beta=0", "adaptive"):
        for bn in ("frozen", "batch"):
            for depth in (14, 20, 26, 50):
                units = (depth - 2) // 2
                phases = {phase: {"log10_grad_ratio": 0.031 * units + k, "log10_weight_grad_ratio": -0.02 * units,
                                  "log10_bypass_product": -0.301 * units}
                          for k, phase in enumerate(("init", "trained"))}
                rows.append(make_row("gradflow", {"model": "bregnext", "depth": depth, "bypass": bypass, "bn": bn,
                                                  "steps": 50, "seed": 0},
                                     {"units": units, **phases}))
    return rows


def _kernel_rows() -> list[dict]:
    rows = []
    for size, shape in (("flat24", "4096x1x64x64"), ("stride2", "256x64x32x32")):
        for dtype in ("fp32", "bf16"):
            for impl in ("eager", "compile", "triton"):
                rows.append(make_row("kernel", {"size": size, "x_shape": shape, "dtype": dtype, "pass": "fwdbwd",
                                                "impl": impl, "device": "cuda", "device_name": ENV["device"]},
                                     {"median_ms": 1.2345, "timed_runs": 100, "gbps": 2812.3, "copy_gbps": 3012.5,
                                      "frac_of_copy": 0.9335, "speedup_vs_eager": 5.123, "speedup_vs_compile": 1.412,
                                      "error": "out of memory | retry < 2" if impl == "compile" and dtype == "fp32"
                                      else None}))
    return rows


def _kernel_aot_rows() -> list[dict]:
    rows = []
    for kernel, kind in (("fwd_flat", "flat"), ("bwd_flat", "flat"), ("bwd_proj", "stride2"), ("reduce_ab", "reduce")):
        for arch in (90, 80):
            config = {"kernel": kernel, "arch": arch, "dtype": "bf16", "variant": "STRIDE2=1,IDX64=0",
                      "layout": "channels_last", "block": "BLOCK=4096", "num_warps": 8, "maxnreg": 128,
                      "triton": "3.9.0", "specs": "breg_models.ops._kernels:SPECS"}
            rows.append(make_row("kernel_aot", config, {
                "kind": kind, "registers": 87, "spill_bytes": 0, "shared_bytes": 1024, "warps_per_sm": 16,
                "load_bits": 128, "store_bits": 128, "sass_main": 1483, "sass_per_element": 30.19,
                "bytes_per_element": 6, "issue_us": 15.15, "memory_us": 33.55, "issue_mem_ratio": 0.4515,
                "gate": "fail: issue/memory 1.030 > 1.0" if kind == "stride2" else "pass", "error": None}))
    return rows


def _epoch_time_rows() -> list[dict]:
    common = {"device": "cuda", "epoch_size": 287_651, "batch_size": 256, "image_size": 64, "amp": "bf16",
              "channels_last": True, "epochs": 3}
    return [make_row("epoch_time", {"model": m, "bypass_impl": impl, **common},
                     {"epoch_s": s, "images_per_s": 287_651 / s, "peak_gpu_mem_gib": 10.25})
            for m in ("bregnext50", "bregnext32") for impl, s in (("eager", 40.5), ("compile", 21.2), ("triton", 14.1))]


def _train_rows() -> list[dict]:
    return [make_row("train", {"model": "bregnext50", "data": "affectnet:/data/affectnet_v1", "task": "categorical",
                               "loss": "focal", "bypass": "adaptive", "batch_size": 128, "device": "cuda",
                               "epoch": e, "budget": "1 epoch"},
                     {"train_loss": 1.0 / e, "accuracy": 0.5 + e / 100, "macro_f1": 0.45 + e / 100,
                      "ccc_valence": 0.61, "ccc_arousal": 0.52, "best_so_far": e == 3},
                     {"epoch_s": 41.2, "images_per_s": 6982.1, "lr": 1e-4}) for e in (1, 2, 3)]


def _class_metrics(names: tuple[str, ...], seed: int) -> dict:
    """Every key of a categorical evaluation row (the issue 12 contract), one class left undefined."""
    c = len(names)
    counts = [50 + 37 * ((i + seed) % 5) for i in range(c)]
    confusion = [[n - 9 * c if i == j else 9 for j in range(c)] for i, n in enumerate(counts)]
    per = {k: [0.61 + 0.03 * i for i in range(c)] for k in ("precision", "recall", "f1")}
    per["f1"][-1] = None
    keys = ["accuracy", "kappa", "krippendorff_alpha", "mcc", "ppv", "roc_auc", "pr_auc",
            *(f"{a}_{m}" for a in ("macro", "weighted") for m in ("precision", "recall", "f1"))]
    scores = {k: 0.5 + seed / 100 for k in keys}
    return {**scores, **{f"norm_{k}": v - 0.1 for k, v in scores.items()},
            "per_class": {**per, "support": counts}, "confusion": confusion, "class_names": list(names),
            "class_counts": counts, "n_samples": sum(counts), "missing": ""}


def _va_metrics(seed: int) -> dict:
    values = {f"{m}_{d}": base + seed / 100 for m, base in (("rmse", 0.28), ("cc", 0.6), ("ccc", 0.5), ("sagr", 0.7))
              for d in ("valence", "arousal", "total")}
    return {**values, "error_hist": {"edges": [-2 + 0.1 * i for i in range(41)], "valence": [5] * 40,
                                     "arousal": [6] * 40}, "n_samples": 1200, "missing": ""}


def _evaluate_rows() -> list[dict]:
    """Evaluation rows of the paper tables: every paper's networks, losses and data sets, long paths and
    characters LaTeX treats specially, splits that are and are not compared, two seeds of one run."""
    from bench.data import AFFECTNET_CLASSES, FER2013_CLASSES

    affectnet, fer = "affectnet:/data/AffectNet_v1 & co/#1", "fer2013:/data/fer2013_~x.csv"
    cells = [("bregnext50", affectnet, "categorical", "focal", None, "val", 0),
             ("bregnext50", affectnet, "categorical", "focal", None, "val", 1),
             ("resnet32", fer, "categorical", "focal", None, "val", 0),
             ("bregnext26", "synth", "categorical", "focal", None, "test", 0),
             ("bregnet50", affectnet, "categorical", "weighted_ce", "bregnet", "val", 0),
             ("bregnet50", fer, "categorical", "ce", "bregnet", "val", 0),
             ("bregnext50", affectnet, "categorical", "dacl", "dacl", "val", 0),
             ("bregnext50", affectnet, "categorical", "ce", "dacl", "val", 0),
             ("bregnext50", "affwild:/data/aff_wild", "dimensional", "mse", None, "val", 0),
             ("bregnext32", affectnet, "dimensional", "mse", None, "val", 0),
             ("bregnet50", affectnet, "dimensional", "mse", "bregnet", "val", 0),
             ("bregnext50", "affwild:/data/aff_wild", "dimensional", "av", "caf", "val", 0),
             ("bregnext50", affectnet, "dimensional", "av", "caf", "val", 0)]
    rows = []
    for model, data, task, loss, paper, split, seed in cells:
        names = FER2013_CLASSES if data.startswith("fer2013") else AFFECTNET_CLASSES
        config = {"model": model, "task": task, "num_classes": len(names) if task == "categorical" else None,
                  "bypass": None, "data": data, "image_size": 64, "seed": seed, "loss": loss, "epochs": 30,
                  "budget": "short", "split": split, "checkpoint": "best", **({"paper": paper} if paper else {})}
        metrics = _class_metrics(names, seed) if task == "categorical" else _va_metrics(seed)
        rows.append(make_row("evaluate", config, metrics))
    return rows


def _loader_rows() -> list[dict]:
    """Every measure of `bench.loader` at two sizes, training runs included."""
    rows = []
    for size in (64, 224):
        data_mb = 50_000 * size * size * 3 / 1e6
        for measure, metrics in (
                ("decode", {"seconds": 41.234, "images_per_s": 1212.6, "data_mb": data_mb}),
                ("open", {"seconds": 0.4321}),
                ("epoch", {"seconds": 3.21, "images_per_s": 15576.3, "data_mb": data_mb, "peak_rss_mb": 812.3,
                           "rss_before_mb": 760.1, "rss_growth_mb": 52.2}),
                ("train_first", {"seconds": 61.2, "first_step_s": 40.31, "data_path": "stream",
                                 "peak_rss_mb": 955.9}),
                ("train_second", {"seconds": 22.2, "first_step_s": 2.7, "data_path": "stream",
                                  "peak_rss_mb": 941.0})):
            rows.append(make_row("loader", {"measure": measure, "faces": 50_000, "image_size": size,
                                            "batch_size": 256, "prefetch": 2, "device": "cpu"}, metrics))
    return rows


ROWS = {"flops": _flops_rows, "depth_sweep": _depth_rows, "ablation": _ablation_rows, "gradflow": _gradflow_rows,
        "kernel": _kernel_rows, "kernel_aot": _kernel_aot_rows, "epoch_time": _epoch_time_rows, "train": _train_rows,
        "evaluate": _evaluate_rows, "loader": _loader_rows}
# Every table `python -m reports` writes (by file stem), and each paper table again with no rows: published only.
STEMS = [stem for tables in TABLES.values() for stem, _ in tables]
STEMS += [f"{stem} (published only)" for stem in STEMS if stem in PAPER_TABLES]


def synthetic_rows(command: str) -> list[dict]:
    return [_with_env(r) for r in ROWS[command]()]


@functools.cache
def rendered_tables() -> dict[str, str]:
    """The LaTeX text of every table `python -m reports` writes, by file stem, as it writes it (caption included:
    a paper table captions itself), and each paper table with no rows."""
    from reports.build import caption

    out = {}
    for command, tables in TABLES.items():
        rows = synthetic_rows(command) if command in ROWS else []
        for stem, renderer in tables:
            paper = stem in PAPER_TABLES
            if rows:
                out[stem] = renderer(rows, "latex", caption="" if paper else caption(command, rows))
            if paper:
                out[f"{stem} (published only)"] = renderer([], "latex")
    return out


def test_every_table_has_synthetic_rows():
    assert set(TABLES) <= set(ROWS), f"add synthetic rows for {sorted(set(TABLES) - set(ROWS))}"
    assert set(rendered_tables()) == set(STEMS)


_SPEC = re.compile(r"\\begin\{(?:tabular|longtable)\}\{([^}]*)\}")


def _check_structure(tex: str) -> None:
    """Balanced environments and braces, and as many cells on each line of a tabular as its spec has columns."""
    envs = re.findall(r"\\(begin|end)\{(\w+)\}", tex)
    stack = []
    for kind, name in envs:
        if kind == "begin":
            stack.append(name)
        else:
            assert stack and stack.pop() == name, f"\\end{{{name}}} closes another environment"
    assert not stack, f"unclosed environments: {stack}"
    depth = 0
    for c in re.sub(r"\\[{}]", "", tex):
        depth += {"{": 1, "}": -1}.get(c, 0)
        assert depth >= 0, "unbalanced braces"
    assert depth == 0, "unbalanced braces"
    lines = tex.splitlines()
    for i, line in enumerate(lines):
        spec = _SPEC.search(line)
        if not spec:
            continue
        columns = len(re.findall(r"[lcr]", spec.group(1)))
        end = next(j for j in range(i, len(lines)) if re.match(r"\\end\{(tabular|longtable)\}", lines[j]))
        for row in lines[i + 1:end]:
            if row.endswith(r"\\"):
                cells = re.split(r"(?<!\\)&", row)
                spans = sum(int(m.group(1)) if (m := re.match(r"\s*\\multicolumn\{(\d+)\}", c)) else 1
                            for c in cells)
                assert spans == columns, f"{spans} cells, {columns} columns: {row}"


def test_escapes_print_as_written_under_ot1():
    """'|', '<' and '>' are other glyphs in OT1 text fonts; they go out as text commands that work in any encoding."""
    assert latex_escape("a|b <= c > d") == r"a\textbar{}b \textless{}= c \textgreater{} d"


def test_header_names_the_packages_and_how_to_input_it():
    tex = rendered_tables()["bregnext_tables_1_2"]
    head = [line for line in tex.splitlines() if line.startswith("%")]
    assert head and tex.startswith("%")
    assert all(f"\\usepackage{{{p}}}" in "\n".join(head) for p in latex_packages(tex))
    assert "\\input{" in "\n".join(head)
    assert {"booktabs", "graphicx"} <= set(latex_packages(tex))


def test_tabular_is_scaled_down_to_the_line_only_when_wider():
    import pandas as pd

    tex = render(pd.DataFrame({"network": ["a"], "speedup_vs_published": ["1"]}), "latex")
    lines = tex.splitlines()
    assert lines[lines.index(r"\toprule") - 2] == r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%"
    assert r"\end{tabular}}" in lines
    # a long column name is stacked, so the column is not wider than its numbers for its name's sake
    assert r"\begin{tabular}[b]{@{}r@{}}speedup\_vs\_\\published\end{tabular}" in tex


@pytest.mark.parametrize("stem", STEMS)
def test_structure(stem):
    tex = rendered_tables()[stem]
    assert tex.count(r"\begin{tabular}") + tex.count(r"\begin{longtable}") >= 1
    _check_structure(tex)


# Each \\resizebox of a generated table reports its natural width and the line width to the log.
MEASURE = (r"\let\reportsresizebox\resizebox" "\n"
           r"\renewcommand{\resizebox}[3]{\sbox0{#3}\typeout{REPORTS-WIDTH \the\wd0{} \the\linewidth}"
           r"\reportsresizebox{#1}{#2}{\usebox0}}" "\n")


def _document(tables: dict[str, str]) -> str:
    packages = sorted({p for tex in tables.values() for p in latex_packages(tex)})
    body = "\n\\clearpage\n".join(f"% --- {stem}\n\\typeout{{REPORTS-TABLE {stem}}}\n{tex}"
                                    for stem, tex in tables.items())
    return ("\\documentclass{article}\n\\usepackage[textwidth=7in]{geometry}\n"
            + "".join(f"\\usepackage{{{p}}}\n" for p in packages) + MEASURE
            + "\\begin{document}\n" + body + "\\end{document}\n")


def overfull(log: str) -> list[float]:
    """The amounts (pt) of every overfull box in a TeX log."""
    return [float(x) for x in re.findall(r"Overfull \\[hv]box \(([\d.]+)pt too", log)]


def scales(log: str) -> dict[str, float]:
    """Each table's print scale (1 at its natural size, line width / natural width when scaled down), the smallest
    of a table's tabulars, by the stem the log names before it."""
    out: dict[str, float] = {}
    stem = None
    for line in log.splitlines():
        if line.startswith("REPORTS-TABLE "):
            stem = line.split(" ", 1)[1]
        elif line.startswith("REPORTS-WIDTH ") and stem is not None:
            width, line_width = (float(x) for x in re.findall(r"([\d.]+)pt", line)[:2])
            out[stem] = min(out.get(stem, 1.0), min(1.0, line_width / width))
    return out


# The smallest scale a table may print at: 0.8 of \small (9 pt) is 7.2 pt type, the least a reader can read.
MIN_SCALE = 0.8


def test_every_table_compiles_fits_and_reads_at_print_size(tmp_path):
    engine = shutil.which("pdflatex")
    if engine is None:
        pytest.skip("no LaTeX engine installed: test_structure checks the tables' structure")
    doc = tmp_path / "tables.tex"
    doc.write_text(_document(rendered_tables()))
    proc = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                          capture_output=True, timeout=120)
    log = (tmp_path / "tables.log").read_text(errors="replace")
    assert proc.returncode == 0, log[-3000:]
    assert not re.search(r"^! ", log, re.M), log[-3000:]
    assert not re.search(r"(Missing character|LaTeX (Font )?Warning: .*undefined|Float too large)", log), log[-3000:]
    assert [x for x in overfull(log) if x > 1.0] == [], [line for line in log.splitlines() if "Overfull" in line]
    small = {stem: round(scale, 2) for stem, scale in scales(log).items() if scale < MIN_SCALE}
    assert small == {}, f"tables printed below {MIN_SCALE} of their size: {small}"
