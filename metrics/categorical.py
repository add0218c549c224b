"""Categorical-model metrics (BReG-Net Sec. IV, Tables III-IV; BReG-NeXt Sec. 4.3).

Pure numpy/scipy; labels are integers 0..C-1, scores are an (N, C) array; C is `max label + 1` or the
caller's `num_classes`, and the confusion matrix is always C x C.

Per-class precision, recall and F1 follow scikit-learn (`labels=None`, default `zero_division`):
a class that occurs in y_true or y_pred but has no predicted (no true) sample has precision (recall)
0, and F1 0 when both are 0. A class in 0..C-1 that occurs in neither has no defined value: its
entries in the per-class arrays are NaN, it is left out of every average, and one
`AbsentClassWarning` per call names the class(es) left out. So y_true [0, 2, 2] and y_pred [0, 0, 2]
give macro F1 2/3, as scikit-learn, not the 4/9 of averaging in a zero for class 1.

Two averages over the classes that are left in, as scikit-learn's `average=`:
    macro_*     unweighted mean over classes ('macro'),
    weighted_*  mean weighted by true support, n_k / N ('weighted'); weighted_recall == accuracy.
Which paper uses which:
    BReG-Net Tables III-IV   F1-score and PPV (precision) are macro averages, Orig and skew-normalised
                             (metrics.skew_normalised); PPV here is macro_precision.
    BReG-NeXt Table 5        per-class precision, recall and F1 and an "average" column that is the
                             support-weighted mean: its recall average is the accuracy (0.69 and
                             0.72 beside Table 4's 68.50% and 71.53%), where the unweighted mean
                             of the printed per-class recalls is 0.68 (AffectNet), 0.61 (FER2013).
    DACL (RAF-DB, Table 1)   accuracy and "average accuracy", the mean of the diagonal of the
                             row-normalised confusion matrix, i.e. macro_recall.
    CAF                      dimensional metrics only (metrics.dimensional); no categorical average.
MCC is the multi-class (Gorodkin) form and is 0 when its denominator is 0; kappa and
Krippendorff's alpha raise `UndefinedMetricError` when only one class occurs at all (their chance
agreement is 1 and the ratio is 0/0). None of accuracy, kappa, alpha or MCC depends on absent classes.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
from scipy.stats import rankdata

from metrics._checks import (
    AbsentClassWarning,
    UndefinedMetricError,
    as_confusion,
    as_labels,
    as_values,
    check_same_length,
)


def _pair(y_true, y_pred, num_classes: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    t = as_labels(y_true, "y_true")
    p = as_labels(y_pred, "y_pred")
    check_same_length(t, p, "y_true", "y_pred")
    c = int(max(t.max(), p.max())) + 1
    if num_classes is not None:
        if c > num_classes:
            raise ValueError(f"labels go up to {c - 1} but num_classes={num_classes}")
        c = int(num_classes)
    return t, p, c


def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """C x C counts, rows = true class, columns = predicted class (scikit-learn's layout).

    With `num_classes` the matrix is num_classes x num_classes even where some classes never occur.
    """
    t, p, c = _pair(y_true, y_pred, num_classes)
    return _confusion(t, p, c)


def _confusion(t: np.ndarray, p: np.ndarray, c: int) -> np.ndarray:
    return np.bincount(t * c + p, minlength=c * c).reshape(c, c)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


# --- everything below the public wrappers works on one confusion matrix, so the skew-normalised
# --- version (200 sub-samples) computes each matrix once and reads every metric from it.


def _accuracy_cm(cm: np.ndarray) -> float:
    return float(np.trace(cm) / cm.sum())


def _prf_cm(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall, F1; NaN for a class with no true and no predicted sample."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    predicted = cm.sum(axis=0)
    support = cm.sum(axis=1)
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    absent = (predicted == 0) & (support == 0)
    for values in (precision, recall, f1):
        values[absent] = np.nan
    return precision, recall, f1


def _absent_classes(cm: np.ndarray) -> list[int]:
    """Classes with an empty row and an empty column: no true and no predicted sample."""
    return np.flatnonzero((cm.sum(axis=0) == 0) & (cm.sum(axis=1) == 0)).tolist()


def _averages_cm(cm: np.ndarray) -> dict[str, float]:
    """macro_* and weighted_* precision, recall and F1 over the classes that occur at all."""
    precision, recall, f1 = _prf_cm(cm)
    support = np.asarray(cm, dtype=np.float64).sum(axis=1)
    kept = ~np.isnan(precision)
    weights = support[kept] / support.sum()
    out = {}
    for name, values in (("precision", precision), ("recall", recall), ("f1", f1)):
        out[f"macro_{name}"] = float(values[kept].mean())
    for name, values in (("precision", precision), ("recall", recall), ("f1", f1)):
        out[f"weighted_{name}"] = float(weights @ values[kept])
    return out


def _warn_absent(absent: Iterable[int], in_draws: Iterable[int] = (), *, stacklevel: int) -> None:
    """One AbsentClassWarning naming the classes left out (`in_draws`: left out of some balanced
    sub-samples only, metrics.skew_normalised). `stacklevel` counts this helper as 1."""
    absent = sorted(set(absent))
    in_draws = sorted(set(in_draws) - set(absent))
    parts = []
    if absent:
        parts.append(f"class(es) {absent} have no true and no predicted sample: precision, recall and F1 "
                     "are undefined (NaN per class) and left out of the macro and weighted averages")
    if in_draws:
        parts.append(f"class(es) {in_draws} have no true and no predicted sample in some balanced "
                     "sub-samples and are left out of those draws' macro and weighted averages")
    if parts:
        warnings.warn("; ".join(parts), AbsentClassWarning, stacklevel=stacklevel)


def _kappa_cm(cm: np.ndarray) -> float:
    n = cm.sum()
    po = np.trace(cm) / n
    pe = float(cm.sum(axis=0) @ cm.sum(axis=1)) / n**2
    if np.isclose(pe, 1.0):
        raise UndefinedMetricError("Cohen's kappa is undefined when a single class is present")
    return float((po - pe) / (1 - pe))


def _alpha_cm(cm: np.ndarray) -> float:
    # Two coders (truth and prediction), nominal data, no missing values: the coincidence matrix is
    # cm + cm.T, alpha = 1 - D_o / D_e with D_e built from the marginal value counts n_c.
    o = (cm + cm.T).astype(np.float64)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    disagree_obs = o.sum() - np.trace(o)
    disagree_exp = (n_c.sum() ** 2 - (n_c**2).sum()) / (n - 1)
    if disagree_exp <= 0:
        raise UndefinedMetricError("Krippendorff's alpha is undefined when a single class is present")
    return float(1.0 - disagree_obs / disagree_exp)


def _mcc_cm(cm: np.ndarray) -> float:
    cm = cm.astype(np.float64)
    s = cm.sum()
    correct = np.trace(cm)
    t_k = cm.sum(axis=1)
    p_k = cm.sum(axis=0)
    num = correct * s - p_k @ t_k
    den = np.sqrt((s**2 - p_k @ p_k) * (s**2 - t_k @ t_k))
    return float(num / den) if den > 0 else 0.0


def _label_metrics_cm(cm: np.ndarray) -> dict[str, float]:
    # no check, no warning: metrics.skew_normalised calls it once per balanced draw
    averages = _averages_cm(cm)
    return {
        "accuracy": _accuracy_cm(cm),
        **averages,
        "kappa": _kappa_cm(cm),
        "krippendorff_alpha": _alpha_cm(cm),
        "mcc": _mcc_cm(cm),
        "ppv": averages["macro_precision"],
    }


def label_metrics_from_confusion(cm) -> dict[str, float]:
    """Every label-based metric of one confusion matrix; undefined ones raise UndefinedMetricError.

    Keys: accuracy, macro_precision, macro_recall, macro_f1, weighted_precision, weighted_recall,
    weighted_f1, kappa, krippendorff_alpha, mcc, ppv. Classes with an empty row and column are left out
    of the averages, with an AbsentClassWarning.
    """
    cm = as_confusion(cm, "cm")
    _warn_absent(_absent_classes(cm), stacklevel=3)
    return _label_metrics_cm(cm)


def accuracy(y_true, y_pred) -> float:
    t, p, c = _pair(y_true, y_pred, None)
    return float(np.mean(t == p))


def _checked_confusion(y_true, y_pred, num_classes: int | None, stacklevel: int) -> np.ndarray:
    """Confusion matrix of validated labels, warning (from the public caller) about absent classes."""
    cm = _confusion(*_pair(y_true, y_pred, num_classes))
    _warn_absent(_absent_classes(cm), stacklevel=stacklevel + 1)
    return cm


def precision_recall_f1(y_true, y_pred, num_classes: int | None = None) -> dict[str, np.ndarray]:
    """Per-class precision, recall and F1 (arrays of length C); NaN for a class in neither input."""
    precision, recall, f1 = _prf_cm(_checked_confusion(y_true, y_pred, num_classes, stacklevel=3))
    return {"precision": precision, "recall": recall, "f1": f1}


def _average(y_true, y_pred, num_classes: int | None, key: str) -> float:
    # called straight from a public wrapper: the warning points at that wrapper's caller
    return _averages_cm(_checked_confusion(y_true, y_pred, num_classes, stacklevel=4))[key]


def macro_precision(y_true, y_pred, num_classes: int | None = None) -> float:
    """Unweighted mean of the per-class precisions (classes in neither input left out)."""
    return _average(y_true, y_pred, num_classes, "macro_precision")


def macro_recall(y_true, y_pred, num_classes: int | None = None) -> float:
    """Unweighted mean of the per-class recalls: DACL's "average accuracy"."""
    return _average(y_true, y_pred, num_classes, "macro_recall")


def macro_f1(y_true, y_pred, num_classes: int | None = None) -> float:
    """Unweighted mean of the per-class F1 scores (BReG-Net Tables III-IV)."""
    return _average(y_true, y_pred, num_classes, "macro_f1")


def weighted_precision(y_true, y_pred, num_classes: int | None = None) -> float:
    """Per-class precisions weighted by true support (BReG-NeXt Table 5, "average")."""
    return _average(y_true, y_pred, num_classes, "weighted_precision")


def weighted_recall(y_true, y_pred, num_classes: int | None = None) -> float:
    """Per-class recalls weighted by true support; equals the accuracy (BReG-NeXt Table 5)."""
    return _average(y_true, y_pred, num_classes, "weighted_recall")


def weighted_f1(y_true, y_pred, num_classes: int | None = None) -> float:
    """Per-class F1 scores weighted by true support (BReG-NeXt Table 5, "average")."""
    return _average(y_true, y_pred, num_classes, "weighted_f1")


def ppv(y_true, y_pred, num_classes: int | None = None) -> float:
    """Positive predictive value, i.e. macro precision (BReG-Net Tables III-IV)."""
    return _average(y_true, y_pred, num_classes, "macro_precision")


def cohen_kappa(y_true, y_pred) -> float:
    t, p, c = _pair(y_true, y_pred, None)
    return _kappa_cm(_confusion(t, p, c))


def krippendorff_alpha_nominal(y_true, y_pred) -> float:
    """Krippendorff's alpha, nominal metric, the two 'coders' being truth and prediction."""
    t, p, c = _pair(y_true, y_pred, None)
    return _alpha_cm(_confusion(t, p, c))


def mcc(y_true, y_pred) -> float:
    """Multi-class Matthews correlation coefficient (Gorodkin's R_K)."""
    t, p, c = _pair(y_true, y_pred, None)
    return _mcc_cm(_confusion(t, p, c))


# --- score-based metrics (one-vs-rest, macro over classes) ---


def _scores(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    t = as_labels(y_true, "y_true")
    s = as_values(y_score, "y_score")
    if s.ndim != 2:
        raise ValueError(f"y_score: expected an (N, C) array of class scores, got shape {s.shape}")
    check_same_length(t, s, "y_true", "y_score")
    if t.max() >= s.shape[1]:
        raise ValueError(f"y_true has label {t.max()} but y_score has only {s.shape[1]} columns")
    missing = [k for k in range(s.shape[1]) if not np.any(t == k)]
    if missing or s.shape[1] < 2:
        raise UndefinedMetricError(f"one-vs-rest AUC is undefined: classes {missing} have no true sample")
    return t, s


def _binary_roc_auc(pos: np.ndarray, score: np.ndarray) -> float:
    # Mann-Whitney U statistic with mid-ranks for ties.
    ranks = rankdata(score)
    n_pos = pos.sum()
    n_neg = pos.size - n_pos
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _binary_average_precision(pos: np.ndarray, score: np.ndarray) -> float:
    # Step-wise area under the precision-recall curve, AP = sum_n (R_n - R_{n-1}) P_n, one step per
    # distinct score threshold (tied scores enter together).
    order = np.argsort(-score, kind="mergesort")
    s = score[order]
    y = pos[order].astype(np.float64)
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]
    tps = np.cumsum(y)[last_of_tie]
    precision = tps / (last_of_tie + 1)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def roc_auc_ovr(y_true, y_score) -> float:
    """Macro one-vs-rest ROC AUC over the C columns of y_score."""
    t, s = _scores(y_true, y_score)
    return float(np.mean([_binary_roc_auc(t == k, s[:, k]) for k in range(s.shape[1])]))


def pr_auc_ovr(y_true, y_score) -> float:
    """Macro one-vs-rest area under the precision-recall curve (average precision)."""
    t, s = _scores(y_true, y_score)
    return float(np.mean([_binary_average_precision(t == k, s[:, k]) for k in range(s.shape[1])]))
