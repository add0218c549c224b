"""The papers' published numbers, as data: one long CSV per paper under ``reports/published/``.

Columns: ``table, row, column, value, unit, printed``. ``printed`` keeps the paper's own text (e.g.
"1.9M", "0.95 x 10^7"), from which `resolution` recovers the precision the paper printed. These are
published values, never results of this harness.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pandas as pd

DATA_DIR = Path(__file__).resolve().parent / "published"
PAPERS = {
    "bregnext": "BReG-NeXt (IEEE Trans. Affective Computing)",
    "bregnet": "BReG-Net (FG 2019)",
    "dacl": "DACL (WACV 2021)",
    "caf": "Contrastive adversarial learning, CAF (AAAI 2021)",
}
_COLUMNS = ["table", "row", "column", "value", "unit", "printed"]
_SCALE = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9}


@cache
def load(paper: str) -> pd.DataFrame:
    if paper not in PAPERS:
        raise ValueError(f"unknown paper {paper!r}; choose one of: {', '.join(PAPERS)}")
    path = DATA_DIR / f"{paper}.csv"
    frame = pd.read_csv(path, dtype={"table": str, "row": str, "column": str, "printed": str})
    if list(frame.columns) != _COLUMNS:
        raise ValueError(f"{path}: expected columns {_COLUMNS}, found {list(frame.columns)}")
    return frame


def table(paper: str, table_id: str | int) -> pd.DataFrame:
    frame = load(paper)
    out = frame[frame["table"] == str(table_id)]
    if out.empty:
        raise ValueError(f"{paper} has no published table {table_id!r}")
    return out.reset_index(drop=True)


@cache
def _cells(paper: str, table_id: str) -> dict[tuple[str, str], pd.Series]:
    """A table's cells by (row, column), each knowing its paper (so a table can ask `doubt` about it)."""
    return {(r["row"], r["column"]): pd.Series({**r, "paper": paper})
            for r in table(paper, table_id).to_dict(orient="records")}


def lookup(paper: str, table_id: str | int, row: str, column: str) -> pd.Series | None:
    """The published cell, or None when the paper prints nothing there."""
    cell = _cells(paper, str(table_id)).get((row, column))
    return None if cell is None else cell.copy()


def resolution(printed: str) -> float:
    """The step of the last printed digit: '1.9M' -> 1e5, '25M' -> 1e6, '0.95 x 10^7' -> 1e5, '80,276' -> 1."""
    text = printed.strip()
    if re.fullmatch(r"\d{1,3}(,\d{3})+", text):  # '80,276': a count with thousands separators
        text = text.replace(",", "")
    m = re.fullmatch(r"([0-9.]+)\s*x\s*10\^(-?\d+)", text)
    if m:
        mantissa, scale = m.group(1), 10.0 ** int(m.group(2))
    else:
        m = re.fullmatch(r"([0-9.]+)\s*([KMG]?)%?", text)
        if not m:
            raise ValueError(f"cannot read the precision of printed value {printed!r}")
        mantissa, scale = m.group(1), _SCALE[m.group(2)]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return scale * 10.0 ** -decimals


# What each published table holds, as the paper's caption says it (shortened); `render` takes it as caption.
CAPTIONS: dict[tuple[str, str], str] = {
    ("bregnext", "1"): "BReG-NeXt Table 1: parameters and FLOPs of the six networks",
    ("bregnext", "2"): "BReG-NeXt Table 2: parameters and FLOPs for depths 26-68 of BReG-NeXt",
    ("bregnext", "3"): "BReG-NeXt Table 3: annotated images per expression (AffectNet, FER2013)",
    ("bregnext", "4"): "BReG-NeXt Table 4: recognition rates (%), categorical model",
    ("bregnext", "5"): "BReG-NeXt Table 5: per-class precision, recall, F1 of BReG-NeXt-50",
    ("bregnext", "6"): "BReG-NeXt Table 6: RMSE, dimensional model (AffectNet, Affect-in-Wild)",
    ("bregnext", "7"): "BReG-NeXt Table 7: CC, CCC, SAGR of BReG-NeXt-50, dimensional model",
    ("bregnext", "8"): "BReG-NeXt Table 8: the bypass functions of Eq. 7 and Eq. 8 on BReG-NeXt-50",
    ("bregnext", "9"): "BReG-NeXt Table 9: non-adaptive networks (alpha=1, beta=0)",
    ("bregnext", "fig5"): "BReG-NeXt Sec. 4.3 text on Fig. 5: AffectNet accuracy at depths 50 and 62",
    ("bregnet", "I"): "BReG-Net Table I: recognition rate (%) of the Eq. 4 functions",
    ("bregnet", "II"): "BReG-Net Table II: recognition rates (%), categorical model",
    ("bregnet", "III"): "BReG-Net Table III: weighted-loss metrics, original and skew-normalised",
    ("bregnet", "IV"): "BReG-Net Table IV: regular-loss metrics, original and skew-normalised",
    ("bregnet", "V"): "BReG-Net Table V: RMSE, dimensional model",
    ("bregnet", "VI"): "BReG-Net Table VI: CC, CCC, SAGR of BReG-Net",
    ("bregnet", "VII"): "BReG-Net Table VII: CC, CCC, SAGR of ResNet-110",
    ("bregnet", "epoch"): "BReG-Net Sec. IV-C text: mean epoch time on AffectNet, GTX 1080 Ti",
    ("dacl", "1"): "DACL Table 1: RAF-DB test set, accuracy and average accuracy (%)",
    ("dacl", "2"): "DACL Table 2: AffectNet validation set, accuracy (%)",
    ("caf", "1"): "CAF Table 1: AffectNet, RMSE, PCC, CCC",
    ("caf", "2"): "CAF Table 2: AFEW-VA, RMSE, SAGR, PCC, CCC",
    ("caf", "3"): "CAF Table 3: Aff-Wild, RMSE, SAGR, PCC, CCC",
    ("caf", "4"): "CAF Table 4: ablation on AffectNet",
}


# Published cells to doubt (reports/published/NOTES.md says how each was read): (paper, table, row, column or None
# for every cell of the row) -> why. A table that prints one marks it and says why in its notes.
DOUBTS: dict[tuple[str, str, str, str | None], str] = {
    **{("bregnext", "4", row, "fer2013_accuracy"): "BReG-NeXt Table 4's FER2013 cells are scrambled in the source "
       "text; only BReG-NeXt-50's 71.53 is confirmed elsewhere, the others are read in the AffectNet row's order"
       for row in ("resnet32", "resnet50", "bregnet32", "bregnet50", "bregnext32")},
    **{("bregnext", "4", row, None): "printed apart from the rest of its cell in the source text: which data set it "
       "belongs to is inferred" for row in ("hewitt_ref36", "kollias_ref49", "vielzeuf_ref21")},
    ("bregnext", "6", "bregnext32", "affwild_rmse_total"): "printed 0.2950, while its own valence 0.2873 and "
    r"arousal 0.3119 give \(\sqrt{(v^2 + a^2) / 2}\) = 0.2999",
}


def doubt(paper: str, table_id: str | int, row: str, column: str) -> str | None:
    """Why a published cell is doubtful (NOTES.md), or None."""
    key = (paper, str(table_id), row)
    return DOUBTS.get((*key, column)) or DOUBTS.get((*key, None))


def table_ids(paper: str) -> list[str]:
    """The tables transcribed from ``paper``, in file order."""
    return list(dict.fromkeys(load(paper)["table"]))


def caption(paper: str, table_id: str | int) -> str:
    return CAPTIONS.get((paper, str(table_id)), f"{PAPERS[paper]} table {table_id}")
