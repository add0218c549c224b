"""`evaluate(task, y_true, y_pred)`: every metric of a task as one flat row for `reports/`.

Categorical (task="categorical"): y_true are labels 0..C-1; y_pred is either an (N, C) array of class
scores/probabilities (labels = argmax, and the AUCs are computed) or 1-D labels (the AUCs are then
missing). Keys, each a float or None:
    accuracy, macro_precision, macro_recall, macro_f1, weighted_precision, weighted_recall,
    weighted_f1, kappa, krippendorff_alpha, mcc, ppv, roc_auc, pr_auc, and the same names prefixed
    with 'norm_' for the skew-normalised value (BReG-Net's "Norm" column; the unprefixed one is
    "Orig"). macro_* are BReG-Net's and DACL's averages, weighted_* (by true support) BReG-NeXt
    Table 5's; a class with no true and no predicted sample is left out of both, with one
    AbsentClassWarning per call (metrics.categorical).
Dimensional (task="dimensional"): y_true and y_pred are (N, 2) arrays, columns valence then arousal.
Keys: rmse_valence, rmse_arousal, rmse_total, cc_*, ccc_*, sagr_* with the same three suffixes.
Both add n_samples (int) and missing (str): a metric that is undefined on valid input (a constant
prediction column for CC, a single class for kappa, labels only for the AUCs) is None, never NaN,
and 'missing' lists "key: reason" entries joined by "; " (empty string when nothing is missing).
Invalid input (NaN, empty, mismatched lengths, wrong shapes) raises ValueError.
"""

from __future__ import annotations

import numpy as np

from metrics._checks import UndefinedMetricError, as_labels, as_values, fill_or_missing
from metrics.categorical import (
    _absent_classes,
    _accuracy_cm,
    _alpha_cm,
    _averages_cm,
    _confusion,
    _kappa_cm,
    _mcc_cm,
    _warn_absent,
    pr_auc_ovr,
    roc_auc_ovr,
)
from metrics.dimensional import DIMENSIONS, _va, dimensional_metrics
from metrics.skew_normalised import N_REPEATS, _skew_normalised

CATEGORICAL_KEYS = (
    "accuracy",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "weighted_precision",
    "weighted_recall",
    "weighted_f1",
    "kappa",
    "krippendorff_alpha",
    "mcc",
    "ppv",
    "roc_auc",
    "pr_auc",
)
DIMENSIONAL_KEYS = tuple(
    f"{m}_{d}" for m in ("rmse", "cc", "ccc", "sagr") for d in (*DIMENSIONS, "total")
)


def _categorical(y_true, y_pred, num_classes, normalise: bool, n_repeats: int, seed: int) -> dict:
    t = as_labels(y_true, "y_true")
    raw = as_values(y_pred, "y_pred")
    if raw.ndim == 2:
        scores = raw
        p = np.argmax(scores, axis=1)
        c = scores.shape[1]
    elif raw.ndim == 1:
        scores = None
        p = as_labels(y_pred, "y_pred")
        c = int(max(t.max(), p.max())) + 1
    else:
        raise ValueError(f"y_pred: expected labels (N,) or scores (N, C), got shape {raw.shape}")
    if p.shape[0] != t.shape[0]:
        raise ValueError(f"y_true and y_pred have different lengths ({t.shape[0]} vs {p.shape[0]})")
    if num_classes is not None:
        if num_classes < c:
            raise ValueError(f"num_classes={num_classes} is smaller than the {c} classes seen")
        if scores is not None and num_classes != c:
            raise ValueError(f"y_pred has {c} score columns but num_classes={num_classes}")
        c = int(num_classes)
    if t.max() >= c:
        raise ValueError(f"y_true has label {t.max()} but only {c} classes")

    row: dict = {}
    missing: list[str] = []
    cm = _confusion(t, p, c)
    row["accuracy"] = _accuracy_cm(cm)
    row.update(_averages_cm(cm))
    fill_or_missing(row, missing, "kappa", lambda: _kappa_cm(cm))
    fill_or_missing(row, missing, "krippendorff_alpha", lambda: _alpha_cm(cm))
    row["mcc"] = _mcc_cm(cm)
    row["ppv"] = row["macro_precision"]
    if scores is None:
        for key in ("roc_auc", "pr_auc"):
            row[key] = None
            missing.append(f"{key}: y_pred holds labels, not class scores")
    else:
        fill_or_missing(row, missing, "roc_auc", lambda: roc_auc_ovr(t, scores))
        fill_or_missing(row, missing, "pr_auc", lambda: pr_auc_ovr(t, scores))

    left_out_of_draws: set[int] = set()
    if normalise:
        try:
            norm, left_out_of_draws = _skew_normalised(t, p, scores, c, n_repeats, seed)
        except UndefinedMetricError as err:
            norm = {}
            reason = str(err)
        else:
            reason = "undefined on the balanced sub-samples"
        for key in CATEGORICAL_KEYS:
            value = norm.get(key)
            row[f"norm_{key}"] = value
            if value is None:
                why = "y_pred holds labels, not class scores" if scores is None and "auc" in key else reason
                missing.append(f"norm_{key}: {why}")
    row["n_samples"] = int(t.shape[0])
    row["missing"] = "; ".join(missing)
    # one warning for the Orig and Norm values; stack: _warn_absent, _categorical, evaluate, caller
    _warn_absent(_absent_classes(cm), left_out_of_draws, stacklevel=4)
    return row


def _dimensional(y_true, y_pred) -> dict:
    row = dimensional_metrics(y_true, y_pred)
    out = {key: row[key] for key in DIMENSIONAL_KEYS}
    out["n_samples"] = int(_va(y_true, y_pred)[0].shape[0])
    out["missing"] = row["missing"]
    return out


def evaluate(
    task: str,
    y_true,
    y_pred,
    *,
    num_classes: int | None = None,
    normalise: bool = True,
    n_repeats: int = N_REPEATS,
    seed: int = 0,
) -> dict:
    """One flat row of every metric of `task` ("categorical" or "dimensional"); keys in the module doc."""
    if task == "categorical":
        return _categorical(y_true, y_pred, num_classes, normalise, n_repeats, seed)
    if task == "dimensional":
        return _dimensional(y_true, y_pred)
    raise ValueError(f"task must be 'categorical' or 'dimensional', got {task!r}")
