"""Categorical-model metrics (BReG-Net Sec. IV, Tables III-IV; BReG-NeXt Sec. 4.3).

Pure numpy/scipy; labels are integers 0..C-1, scores are an (N, C) array. Conventions (documented
once here): a class with no predicted (or no true) sample has precision (recall) 0, as scikit-learn's
default; macro averages are unweighted over the C classes; PPV is the macro precision, as BReG-Net
calls precision PPV; MCC is the multi-class (Gorodkin) form and is 0 when its denominator is 0;
kappa and Krippendorff's alpha raise `UndefinedMetricError` when only one class occurs at all
(their chance agreement is 1 and the ratio is 0/0).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from metrics._checks import (
    UndefinedMetricError,
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
    """C x C counts, rows = true class, columns = predicted class (scikit-learn's layout)."""
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
    tp = np.diag(cm).astype(np.float64)
    precision = _safe_div(tp, cm.sum(axis=0).astype(np.float64))
    recall = _safe_div(tp, cm.sum(axis=1).astype(np.float64))
    f1 = _safe_div(2 * precision * recall, precision + recall)
    return precision, recall, f1


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


def label_metrics_from_confusion(cm: np.ndarray) -> dict[str, float]:
    """Every label-based metric of one confusion matrix; undefined ones raise UndefinedMetricError."""
    precision, recall, f1 = _prf_cm(cm)
    return {
        "accuracy": _accuracy_cm(cm),
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "kappa": _kappa_cm(cm),
        "krippendorff_alpha": _alpha_cm(cm),
        "mcc": _mcc_cm(cm),
        "ppv": float(precision.mean()),
    }


def accuracy(y_true, y_pred) -> float:
    t, p, c = _pair(y_true, y_pred, None)
    return float(np.mean(t == p))


def precision_recall_f1(y_true, y_pred, num_classes: int | None = None) -> dict[str, np.ndarray]:
    """Per-class precision, recall and F1 (arrays of length C)."""
    t, p, c = _pair(y_true, y_pred, num_classes)
    precision, recall, f1 = _prf_cm(_confusion(t, p, c))
    return {"precision": precision, "recall": recall, "f1": f1}


def macro_precision(y_true, y_pred, num_classes: int | None = None) -> float:
    return float(precision_recall_f1(y_true, y_pred, num_classes)["precision"].mean())


def macro_recall(y_true, y_pred, num_classes: int | None = None) -> float:
    return float(precision_recall_f1(y_true, y_pred, num_classes)["recall"].mean())


def macro_f1(y_true, y_pred, num_classes: int | None = None) -> float:
    return float(precision_recall_f1(y_true, y_pred, num_classes)["f1"].mean())


def ppv(y_true, y_pred, num_classes: int | None = None) -> float:
    """Positive predictive value, i.e. macro precision (BReG-Net Tables III-IV)."""
    return macro_precision(y_true, y_pred, num_classes)


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
