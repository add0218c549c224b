import numpy as np
import pytest

import metrics as M


def test_balanced_indices_are_balanced():
    rng = np.random.default_rng(0)
    t = np.r_[np.zeros(50), np.ones(10), np.full(3, 2)].astype(int)
    idx = M.balanced_indices(t, rng)
    np.testing.assert_array_equal(np.bincount(t[idx]), [3, 3, 3])
    assert len(np.unique(idx)) == idx.size


def test_norm_is_mean_over_seeded_balanced_draws():
    rng = np.random.default_rng(1)
    t = np.r_[np.zeros(80), np.ones(20)].astype(int)
    p = np.where(rng.random(100) < 0.8, t, 1 - t)
    norm = M.skew_normalised_metrics(t, p, n_repeats=30, seed=7)
    draws = np.random.default_rng(7)
    ref = np.mean([M.accuracy(t[i], p[i]) for i in (M.balanced_indices(t, draws) for _ in range(30))])
    assert norm["accuracy"] == pytest.approx(ref)
    assert norm == M.skew_normalised_metrics(t, p, n_repeats=30, seed=7)


def test_balanced_set_orig_equals_norm():
    t = np.repeat([0, 1, 2], 10)
    p = np.roll(t, 4)
    table = M.orig_norm_table(t, p, n_repeats=5)
    assert list(table.columns) == ["Orig", "Norm"]
    assert list(table.index) == ["F1-score", "kappa", "alpha", "MCC", "PPV"]
    np.testing.assert_allclose(table["Orig"], table["Norm"])


def test_skew_changes_accuracy_of_majority_guesser():
    t = np.r_[np.zeros(90), np.ones(10)].astype(int)
    p = np.zeros(100, dtype=int)
    assert M.accuracy(t, p) == 0.9
    assert M.skew_normalised_metrics(t, p, n_repeats=10)["accuracy"] == pytest.approx(0.5)
