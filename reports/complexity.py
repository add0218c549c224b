"""The mirror of BReG-NeXt Tables 1 and 2: measured parameters and FLOPs beside the published ones.

Each published cell is compared with the measurement at the precision the paper printed it; a cell that
cannot match gets a numbered note saying why (DESIGN.md section 3), and a cell without a published value
says so instead of borrowing one.
"""

from __future__ import annotations

import pandas as pd

from breg_models.specs import TABLE1

from . import published
from .render import render

PAPER = "bregnext"

# Why a cell cannot match, where the layout of Table 1 itself explains it.
KNOWN_CAUSES = {
    ("resnet50", "params"): "ResNet-50 laid out as Table 1 prints it (units 8, 1, 7, 1, 7 at widths 64, 128, 256) "
    "holds about 12M parameters; the printed 25M is the size of He et al.'s ImageNet ResNet-50, another network.",
    ("resnet32", "depth"): "ResNet-32 as Table 1 lays it out has 14 residual units: 2 x 14 convolutions + stem + "
    "fully connected = 30 weighted layers, not 32.",
    ("bregnet50", "params"): "BReG-Net-50 laid out as Table 1 prints it (units 8, 1, 7, 1, 7) holds 3.02M "
    "parameters; 3.1M would need BReG-NeXt-50's layout (7, 1, 8, 1, 7).",
}
STEM_NOTE = ("ResNet stems are 3x3, 64, stride 2 as Table 1 prints them; BReG stems are 3x3, 32, stride 1 as in "
             "the public code (Table 1 prints no stride for them); create_model(..., stem_stride=...) tries "
             "the other reading.")


# CAF's encoders (torchvision's networks): CAF Table 1 prints their parameters.
CAF_ROWS = {"tv_resnet18": "ours_resnet18", "tv_alexnet_tuned": "ours_alexnet_tuned"}


def _published(model: str, column: str) -> tuple[pd.Series | None, list[str]]:
    """The published cell of ``model`` (BReG-NeXt Table 1 first, then Table 2; CAF Table 1 for CAF's encoders)
    and the tables it appears in."""
    if model in CAF_ROWS:
        cell = published.lookup("caf", "1", CAF_ROWS[model], column)
        return cell, ["CAF 1"] if cell is not None else []
    found, tables = None, []
    for t in ("1", "2"):
        cell = published.lookup(PAPER, t, model, column)
        if cell is not None:
            tables.append(t)
            found = cell if found is None else found
    return found, tables


def _flops_note(rows: pd.DataFrame) -> str:
    """The FLOPs-convention note, with the ratio published FLOPs / published parameters measured here."""
    def span(ratios: pd.Series) -> str:
        ratios = ratios.dropna()
        return f"{ratios.min():.2f}-{ratios.max():.2f}" if len(ratios) else "n/a"

    consistent = rows[[not marks.get("params") for marks in rows["marks"]]]
    return (f"Published 'FLOPs' are {span(rows['flops_published'] / rows['params_published'])} times the "
            f"published parameter count ({span(consistent['flops_published'] / consistent['params'])} times "
            "the measured count, where the layout matches the printed count), so they cannot be the cost of a "
            "forward pass of a 64x64 image, measured here two orders of magnitude higher. Measured MACs count "
            "one multiply-add as one (fvcore); FLOPs = 2 x MACs.")


def _check(model: str, column: str, measured: float, cell: pd.Series | None) -> str | None:
    """Why ``measured`` disagrees with the published cell at its printed precision, or None if it agrees."""
    if cell is None:
        return None
    step = published.resolution(cell["printed"]) if column != "depth" else 1.0
    if abs(measured - cell["value"]) <= step / 2 + 1e-9 * step:
        return None
    if (model, column) in KNOWN_CAUSES:
        return KNOWN_CAUSES[(model, column)]
    if cell["value"] <= measured < cell["value"] + step:
        return ("The printed count is the measured one truncated, not rounded, to its printed precision; "
                "the paper rounds the other counts.")
    return f"measured value differs from the printed {cell['printed']} beyond its printed precision."


def complexity_frame(rows: list[dict]) -> tuple[pd.DataFrame, list[str]]:
    """Numeric frame (one line per model) and the notes its cells point to by number."""
    records, notes = [], []

    def note(text: str) -> str:
        if text not in notes:
            notes.append(text)
        return f"[{notes.index(text) + 1}]"

    for row in rows:
        cfg, m = row["config"], row["metrics"]
        model = cfg["model"]
        p_params, tables = _published(model, "params")
        p_flops, _ = _published(model, "flops")
        p_depth, _ = _published(model, "depth")
        rec = {
            "model": model,
            "title": m["title"],
            "tables": ",".join(tables) or "-",
            "depth": m["depth"],
            "depth_published": p_depth["value"] if p_depth is not None else None,
            "params": m["params_trainable"],
            "params_published": p_params["value"] if p_params is not None else None,
            "macs": m["macs"],
            "flops": m["flops"],
            "flops_published": p_flops["value"] if p_flops is not None else None,
            "skipped_ops": ",".join(f"{k}x{v}" for k, v in m.get("skipped_ops", {}).items()) or "",
            "marks": {},
        }
        for column, measured, cell in (("params", rec["params"], p_params), ("depth", rec["depth"], p_depth)):
            why = _check(model, column, measured, cell)
            if why:
                rec["marks"][column] = note(why)
        if cfg.get("bypass_impl", "eager") == "eager" and model in TABLE1 and model.startswith("resnet"):
            rec["marks"]["title"] = note(STEM_NOTE)
        records.append(rec)
    frame = pd.DataFrame(records)
    frame["params_ratio"] = frame["params"] / frame["params_published"]
    frame["flops_ratio"] = frame["flops"] / frame["flops_published"]
    frame["published_flops_per_param"] = frame["flops_published"] / frame["params_published"]
    if frame["flops_published"].notna().any():
        flops_mark = note(_flops_note(frame))
        for marks, has in zip(frame["marks"], frame["flops_published"].notna(), strict=True):
            if has:
                marks["flops_published"] = flops_mark
    return frame, notes


def _fmt(value, scale: float, digits: int, unit: str = "") -> str:
    if value is None or pd.isna(value):
        return "n/a"
    return f"{value / scale:.{digits}f}{unit}"


TITLE = "BReG-NeXt Tables 1-2: parameters and FLOPs, measured beside published"
FILL = "python -m bench.flops"


def render_complexity(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    """Table 1/2 mirror in ``fmt``. Markdown and LaTeX show 'n/a' where the paper prints nothing; with no rows,
    the published values and the command that counts them."""
    from .paper_tables import provenance, published_table

    if not rows:
        return published_table(PAPER, ["1", "2"], fmt, caption or TITLE, "flops", FILL)
    title = TITLE if not any(r["config"].get("model") in CAF_ROWS for r in rows) else (
        "Parameters and FLOPs, measured beside published (BReG-NeXt Tables 1-2, CAF Table 1 for its encoders)")
    caption = caption or f"{title}; {provenance(rows, 'flops')}"
    frame, notes = complexity_frame(rows)
    if fmt in ("csv", "json"):
        data = frame.drop(columns=["marks"]).astype(object).where(frame.drop(columns=["marks"]).notna(), None)
        return render(data, fmt, caption=caption, notes=notes)

    def cell(rec, column, text):
        mark = rec["marks"].get(column)
        return f"{text} {mark}" if mark else text

    shown = pd.DataFrame([{
        "Network": cell(r, "title", r["title"]),
        "Table": r["tables"],
        "Layers": cell(r, "depth", str(r["depth"])),
        "Layers (pub.)": _fmt(r["depth_published"], 1, 0),
        "Params": cell(r, "params", _fmt(r["params"], 1e6, 3, "M")),
        "Params (pub.)": _fmt(r["params_published"], 1e6, 2, "M"),
        "Params ratio": _fmt(r["params_ratio"], 1, 3),
        "MACs": _fmt(r["macs"], 1e9, 3, "G"),
        "FLOPs (2xMACs)": _fmt(r["flops"], 1e9, 3, "G"),
        "FLOPs (pub.)": cell(r, "flops_published", _fmt(r["flops_published"], 1e7, 3, "e7")),
        "FLOPs ratio": _fmt(r["flops_ratio"], 1, 1),
        "Pub. FLOPs/params": _fmt(r["published_flops_per_param"], 1, 2),
    } for r in frame.to_dict(orient="records")])
    skipped = [f"{r['model']}: {r['skipped_ops']}" for r in frame.to_dict(orient="records") if r["skipped_ops"]]
    if skipped:
        notes = notes + ["fvcore could not count these ops (left out of MACs): " + "; ".join(skipped)]
    return render(shown, fmt, caption=caption, notes=notes)


def render_stages(rows: list[dict], fmt: str = "markdown") -> str:
    """Per-stage MACs and parameters (stem, Table 1's conv2..conv6, head) of rows counted with by_stage."""
    frame = pd.DataFrame([{"model": r["config"]["model"], **s} for r in rows for s in r["metrics"].get("stages", [])])
    if frame.empty:
        raise ValueError("no per-stage counts in these rows: count them with by_stage=True")
    if fmt in ("markdown", "latex"):
        frame["macs"] = [_fmt(v, 1e6, 2, "M") for v in frame["macs"]]
        frame["params"] = [f"{v:,}" for v in frame["params"]]
    return render(frame, fmt, caption="MACs and parameters by stage (Table 1 row names)")
