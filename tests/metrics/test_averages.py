"""Macro and support-weighted averages, and classes that occur in neither truth nor prediction."""

import warnings

import numpy as np
import pytest

import metrics as M

sk = pytest.importorskip("sklearn.metrics")

AVERAGES = ("precision", "recall", "f1")


def _sk_averages(t, p):
    """scikit-learn's macro and weighted averages with labels=None (classes in t or p)."""
    out = {}
    for average in ("macro", "weighted"):
        prec, rec, f1, _ = sk.precision_recall_fscore_support(t, p, average=average, zero_division=0)
        out.update({f"{average}_precision": prec, f"{average}_recall": rec, f"{average}_f1": f1})
    return out


def _ours(t, p, num_classes=None):
    fns = {f"{a}_{m}": getattr(M, f"{a}_{m}") for a in ("macro", "weighted") for m in AVERAGES}
    return {key: fn(t, p, num_classes) for key, fn in fns.items()}


def _record(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = fn(*args, **kwargs)
    return value, [w for w in caught if issubclass(w.category, M.AbsentClassWarning)]


def _absent_case(seed, n=200, c=7):
    """Truth and prediction drawn from random label subsets: some classes in truth only, some in
    prediction only, some in neither."""
    rng = np.random.default_rng(seed)
    true_set = rng.choice(c, size=rng.integers(2, c), replace=False)
    pred_set = rng.choice(c, size=rng.integers(2, c), replace=False)
    t = rng.choice(true_set, n)
    # correct half the time, but only ever predicting pred_set
    p = np.where((rng.random(n) < 0.5) & np.isin(t, pred_set), t, rng.choice(pred_set, n))
    return t, p


def test_zero_two_example_matches_sklearn_exactly():
    t, p = [0, 2, 2], [0, 0, 2]
    f1, caught = _record(M.macro_f1, t, p)
    assert f1 == pytest.approx(2 / 3)
    assert f1 == pytest.approx(sk.f1_score(t, p, average="macro"))
    assert len(caught) == 1 and "[1]" in str(caught[0].message)
    prf, _ = _record(M.precision_recall_f1, t, p)
    np.testing.assert_allclose(prf["f1"], [2 / 3, np.nan, 2 / 3])
    np.testing.assert_allclose(prf["precision"], [0.5, np.nan, 1.0])
    np.testing.assert_allclose(prf["recall"], [1.0, np.nan, 0.5])
    cm, caught = _record(M.confusion_matrix, t, p)
    assert cm.shape == (3, 3) and not caught


@pytest.mark.parametrize("seed", range(12))
def test_absent_classes_match_sklearn(seed):
    t, p = _absent_case(seed)
    present = np.union1d(t, p)
    c = int(present.max()) + 1
    ours, _ = _record(_ours, t, p)
    for key, value in _sk_averages(t, p).items():
        assert ours[key] == pytest.approx(value), key
    for average in ("macro", "weighted"):
        f1, _ = _record(getattr(M, f"{average}_f1"), t, p)
        assert f1 == pytest.approx(sk.f1_score(t, p, average=average, zero_division=0))
    # per-class arrays: sklearn's values at the classes that occur, NaN at the others
    prf, caught = _record(M.precision_recall_f1, t, p)
    ref = sk.precision_recall_fscore_support(t, p, zero_division=0)
    for name, values in zip(AVERAGES, ref[:3], strict=True):
        assert prf[name].shape == (c,)
        np.testing.assert_allclose(prf[name][present], values)
        assert np.isnan(np.delete(prf[name], present)).all()
    absent = sorted(set(range(c)) - set(present.tolist()))
    assert len(caught) == (1 if absent else 0)
    if absent:
        assert str(absent) in str(caught[0].message)


@pytest.mark.parametrize("seed", range(6))
def test_num_classes_keeps_shape_and_leaves_absent_out(seed):
    t, p = _absent_case(seed, c=5)
    c = 8
    cm, _ = _record(M.confusion_matrix, t, p, c)
    assert cm.shape == (c, c)
    ours, caught = _record(_ours, t, p, c)
    for key, value in _sk_averages(t, p).items():
        assert ours[key] == pytest.approx(value), key
    absent = sorted(set(range(c)) - set(np.union1d(t, p).tolist()))
    assert absent[-3:] == [5, 6, 7]
    assert len(caught) == 6  # one per call
    assert all(str(absent) in str(w.message) for w in caught)
    row, caught = _record(M.label_metrics_from_confusion, cm)
    assert row["macro_f1"] == pytest.approx(ours["macro_f1"]) and len(caught) == 1


def test_weighted_hand_made_and_recall_is_accuracy():
    t = [0, 0, 0, 1]
    p = [0, 0, 1, 1]
    # class 0: P 1, R 2/3, F1 0.8; class 1: P 1/2, R 1, F1 2/3; weights 3/4 and 1/4
    assert M.weighted_precision(t, p) == pytest.approx(0.875)
    assert M.weighted_recall(t, p) == pytest.approx(0.75) == M.accuracy(t, p)
    assert M.weighted_f1(t, p) == pytest.approx(0.75 * 0.8 + 0.25 * 2 / 3)
    assert M.macro_recall(t, p) == pytest.approx(5 / 6)
    for seed in range(4):
        t, p = _absent_case(seed)
        recall, _ = _record(M.weighted_recall, t, p)
        assert recall == pytest.approx(M.accuracy(t, p))


def test_label_metrics_from_confusion_has_weighted_keys():
    t, p = _absent_case(3)
    row, _ = _record(M.label_metrics_from_confusion, M.confusion_matrix(t, p))
    for key, value in _sk_averages(t, p).items():
        assert row[key] == pytest.approx(value), key
    assert row["ppv"] == row["macro_precision"]
    assert list(row)[:7] == ["accuracy", *(f"{a}_{m}" for a in ("macro", "weighted") for m in AVERAGES)]


def test_no_warning_when_every_class_occurs():
    t = np.array([0, 1, 2, 2, 1, 0])
    p = np.array([0, 0, 2, 1, 1, 2])  # class 1 and 2 each predicted, all true
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        M.macro_f1(t, p)
        M.precision_recall_f1(t, p)
        M.label_metrics_from_confusion(M.confusion_matrix(t, p))
        M.evaluate("categorical", t, p, n_repeats=5)
    # a class only predicted, or only true, is not absent: it counts, with a 0 where undefined
    assert M.macro_precision([0, 0, 1], [0, 0, 0]) == pytest.approx(
        sk.precision_score([0, 0, 1], [0, 0, 0], average="macro", zero_division=0))


def test_warning_points_at_the_caller():
    for fn in (M.macro_f1, M.macro_precision, M.ppv, M.weighted_recall, M.precision_recall_f1):
        _, caught = _record(fn, [0, 2], [0, 2])
        assert len(caught) == 1 and caught[0].filename == __file__, fn.__name__
    _, caught = _record(M.label_metrics_from_confusion, np.diag([1, 0, 1]))
    assert len(caught) == 1 and caught[0].filename == __file__


def test_evaluate_warns_once_and_matches_sklearn():
    rng = np.random.default_rng(4)
    t = rng.integers(0, 3, 120)
    scores = rng.random((120, 5))
    scores[:, :3] += 1.5 * np.eye(3)[t]
    scores[:, 3:] = 0.0  # classes 3 and 4: never true, never the argmax
    p = scores.argmax(1)
    row, caught = _record(M.evaluate, "categorical", t, scores, n_repeats=10)
    assert len(caught) == 1 and "[3, 4]" in str(caught[0].message)
    assert caught[0].filename == __file__
    for key, value in _sk_averages(t, p).items():
        assert row[key] == pytest.approx(value), key
        assert isinstance(row[f"norm_{key}"], float)
    assert set(M.CATEGORICAL_KEYS) >= {"weighted_precision", "weighted_recall", "weighted_f1"}


def test_skew_normalised_leaves_out_classes_missing_from_a_draw():
    rng = np.random.default_rng(2)
    t = np.r_[np.zeros(80), np.ones(20)].astype(int)
    p = np.where(rng.random(100) < 0.8, t, 1 - t)
    p[np.flatnonzero(t == 0)[:2]] = 2  # class 2: predicted twice, in few balanced draws
    norm, caught = _record(M.skew_normalised_metrics, t, p, n_repeats=40, seed=3)
    assert len(caught) == 1 and "[2]" in str(caught[0].message)
    draws = np.random.default_rng(3)
    idx = [M.balanced_indices(t, draws) for _ in range(40)]
    assert any(2 not in p[i] for i in idx) and any(2 in p[i] for i in idx)
    for average in ("macro", "weighted"):
        ref = np.mean([sk.f1_score(t[i], p[i], average=average, zero_division=0) for i in idx])
        assert norm[f"{average}_f1"] == pytest.approx(ref)
    table, caught = _record(M.orig_norm_table, t, p, n_repeats=40, seed=3)
    assert len(caught) == 1 and table.loc["F1-score", "Norm"] == pytest.approx(norm["macro_f1"])


@pytest.mark.parametrize(
    "cm",
    [np.zeros((3, 3)), [[1, 2, 3]], [[1, -1], [0, 2]], [[1, np.nan], [0, 1]], np.ones((2, 2, 2))],
)
def test_bad_confusion_raises_one_line(cm):
    with pytest.raises(ValueError) as err:
        M.label_metrics_from_confusion(cm)
    assert "\n" not in str(err.value) and not isinstance(err.value, M.UndefinedMetricError)
