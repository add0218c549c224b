"""Evaluation metrics of the categorical and dimensional models of affect (numpy/scipy only)."""

from metrics._checks import AbsentClassWarning, UndefinedMetricError
from metrics.categorical import (
    accuracy,
    cohen_kappa,
    confusion_matrix,
    krippendorff_alpha_nominal,
    label_metrics_from_confusion,
    macro_f1,
    macro_precision,
    macro_recall,
    mcc,
    ppv,
    pr_auc_ovr,
    precision_recall_f1,
    roc_auc_ovr,
    weighted_f1,
    weighted_precision,
    weighted_recall,
)
from metrics.dimensional import ccc, correlation_terms, dimensional_metrics, pearson_cc, rmse, sagr
from metrics.evaluate import CATEGORICAL_KEYS, DIMENSIONAL_KEYS, evaluate
from metrics.skew_normalised import balanced_indices, orig_norm_table, skew_normalised_metrics

__all__ = [
    "AbsentClassWarning",
    "CATEGORICAL_KEYS",
    "DIMENSIONAL_KEYS",
    "UndefinedMetricError",
    "accuracy",
    "balanced_indices",
    "ccc",
    "cohen_kappa",
    "confusion_matrix",
    "correlation_terms",
    "dimensional_metrics",
    "evaluate",
    "krippendorff_alpha_nominal",
    "label_metrics_from_confusion",
    "macro_f1",
    "macro_precision",
    "macro_recall",
    "mcc",
    "orig_norm_table",
    "pearson_cc",
    "ppv",
    "pr_auc_ovr",
    "precision_recall_f1",
    "rmse",
    "roc_auc_ovr",
    "sagr",
    "skew_normalised_metrics",
    "weighted_f1",
    "weighted_precision",
    "weighted_recall",
]
