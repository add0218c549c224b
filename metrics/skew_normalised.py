"""Skew-normalised categorical metrics (BReG-Net Sec. IV, Tables III-IV, after Jeni et al.).

The test set is randomly under-sampled so that every class present in y_true keeps as many samples
as the rarest present class; each metric is computed on the balanced subset, and the average over
`n_repeats` (200 in BReG-Net) draws is the 'Norm' value. The draws come from one seeded generator, so
the result is reproducible. A draw in which a metric is undefined (e.g. AUC with one class) cannot
happen after balancing, since every present class keeps at least one sample. Each draw is evaluated
on its own, as `label_metrics_from_confusion` would: a class with no true and no predicted sample in a
draw (one predicted only rarely may miss a draw) is left out of that draw's averages, and one
AbsentClassWarning per call names every class left out of some draw.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from metrics._checks import UndefinedMetricError, as_labels, as_values, check_same_length
from metrics.categorical import (
    _absent_classes,
    _binary_average_precision,
    _binary_roc_auc,
    _confusion,
    _label_metrics_cm,
    _pair,
    _warn_absent,
)

N_REPEATS = 200

# Row names of BReG-Net Tables III-IV, mapped to our metric keys.
TABLE_ROWS = {
    "F1-score": "macro_f1",
    "kappa": "kappa",
    "alpha": "krippendorff_alpha",
    "MCC": "mcc",
    "PPV": "ppv",
}


def balanced_indices(y_true: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of one random under-sample with equal counts for every class present in y_true."""
    classes, counts = np.unique(y_true, return_counts=True)
    m = counts.min()
    picks = [rng.choice(np.flatnonzero(y_true == k), size=m, replace=False) for k in classes]
    return np.sort(np.concatenate(picks))


def _score_metrics(t: np.ndarray, s: np.ndarray) -> dict[str, float]:
    present = np.unique(t)
    if present.size < 2:
        raise UndefinedMetricError("one-vs-rest AUC is undefined with a single class present")
    roc = [_binary_roc_auc(t == k, s[:, k]) for k in present]
    pr = [_binary_average_precision(t == k, s[:, k]) for k in present]
    return {"roc_auc": float(np.mean(roc)), "pr_auc": float(np.mean(pr))}


def _skew_normalised(y_true, y_pred, y_score, num_classes, n_repeats, seed) -> tuple[dict[str, float], set[int]]:
    """The metric means and the classes left out of at least one draw's averages (no warning)."""
    t = as_labels(y_true, "y_true")
    p = as_labels(y_pred, "y_pred")
    check_same_length(t, p, "y_true", "y_pred")
    if n_repeats < 1:
        raise ValueError("n_repeats must be at least 1")
    c = int(max(t.max(), p.max())) + 1 if num_classes is None else int(num_classes)
    s = None
    if y_score is not None:
        s = as_values(y_score, "y_score")
        if s.ndim != 2 or s.shape[0] != t.shape[0] or s.shape[1] <= t.max():
            raise ValueError(f"y_score: expected shape ({t.shape[0]}, >= {t.max() + 1}), got {s.shape}")
    rng = np.random.default_rng(seed)
    sums: dict[str, float] = {}
    left_out: set[int] = set()
    for _ in range(n_repeats):
        idx = balanced_indices(t, rng)
        cm = _confusion(t[idx], p[idx], c)
        left_out.update(_absent_classes(cm))
        row = _label_metrics_cm(cm)
        if s is not None:
            row.update(_score_metrics(t[idx], s[idx]))
        for key, value in row.items():
            sums[key] = sums.get(key, 0.0) + value
    return {key: total / n_repeats for key, total in sums.items()}, left_out


def skew_normalised_metrics(
    y_true,
    y_pred,
    y_score=None,
    *,
    num_classes: int | None = None,
    n_repeats: int = N_REPEATS,
    seed: int = 0,
) -> dict[str, float]:
    """Mean of every categorical metric over `n_repeats` class-balanced under-samples of the test set.

    y_pred are labels; y_score, when given, an (N, C) array used for the AUCs (over the classes
    present in y_true, which after balancing all have positives and negatives). Keys: those of
    `label_metrics_from_confusion`, plus roc_auc and pr_auc with y_score.
    """
    means, left_out = _skew_normalised(y_true, y_pred, y_score, num_classes, n_repeats, seed)
    _warn_absent((), left_out, stacklevel=3)
    return means


def orig_norm_table(
    y_true,
    y_pred,
    *,
    num_classes: int | None = None,
    n_repeats: int = N_REPEATS,
    seed: int = 0,
) -> pd.DataFrame:
    """BReG-Net Table III/IV layout: rows F1-score, kappa, alpha, MCC, PPV; columns Orig and Norm."""
    cm = _confusion(*_pair(y_true, y_pred, num_classes))
    orig = _label_metrics_cm(cm)
    norm, left_out = _skew_normalised(y_true, y_pred, None, num_classes, n_repeats, seed)
    _warn_absent(_absent_classes(cm), left_out, stacklevel=3)
    return pd.DataFrame(
        {"Orig": [orig[k] for k in TABLE_ROWS.values()], "Norm": [norm[k] for k in TABLE_ROWS.values()]},
        index=list(TABLE_ROWS),
    )
