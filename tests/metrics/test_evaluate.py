import math

import numpy as np
import pytest

import metrics as M


def _no_nan(row):
    for key, value in row.items():
        assert not (isinstance(value, float) and math.isnan(value)), key


def test_categorical_row_with_scores():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 4, 150)
    s = rng.random((150, 4)) + np.eye(4)[t] * 0.5
    row = M.evaluate("categorical", t, s, n_repeats=20)
    for key in M.CATEGORICAL_KEYS:
        assert isinstance(row[key], float)
        assert isinstance(row[f"norm_{key}"], float)
    assert row["missing"] == ""
    assert row["accuracy"] == pytest.approx(M.accuracy(t, s.argmax(1)))
    assert row["n_samples"] == 150
    _no_nan(row)


def test_categorical_labels_only_reports_missing_aucs():
    t = np.array([0, 1, 2, 0, 1, 2, 2])
    row = M.evaluate("categorical", t, t, n_repeats=5)
    assert row["roc_auc"] is None and row["norm_pr_auc"] is None
    assert "roc_auc: y_pred holds labels" in row["missing"]
    assert row["kappa"] == 1.0
    _no_nan(row)


def test_single_class_row_is_defined():
    t = np.zeros(5, dtype=int)
    row = M.evaluate("categorical", t, t, n_repeats=3)
    assert row["accuracy"] == 1.0 and row["kappa"] is None
    assert "kappa: " in row["missing"]
    _no_nan(row)


def test_dimensional_row_and_constant_predictions():
    rng = np.random.default_rng(1)
    t = rng.uniform(-1, 1, (60, 2))
    row = M.evaluate("dimensional", t, t)
    assert set(M.DIMENSIONAL_KEYS) <= set(row)
    assert row["ccc_total"] == pytest.approx(1.0) and row["rmse_total"] == 0.0
    row = M.evaluate("dimensional", t, np.zeros_like(t))
    assert row["cc_valence"] is None and row["ccc_valence"] == 0.0
    assert "cc_valence" in row["missing"]
    _no_nan(row)


def test_bad_task_and_input():
    with pytest.raises(ValueError):
        M.evaluate("ordinal", [0], [0])
    with pytest.raises(ValueError):
        M.evaluate("categorical", [0, 1], [0])
    with pytest.raises(ValueError):
        M.evaluate("dimensional", np.zeros((3, 2)), np.full((3, 2), np.nan))
