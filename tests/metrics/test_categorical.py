import numpy as np
import pytest

import metrics as M

sk = pytest.importorskip("sklearn.metrics")


def _random_case(seed, n=300, c=5):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, c, n)
    # predictions correlated with the truth, so the metrics are not all near 0
    p = np.where(rng.random(n) < 0.6, t, rng.integers(0, c, n))
    s = rng.random((n, c)) + 0.8 * np.eye(c)[p]
    return t, p, s / s.sum(1, keepdims=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_label_metrics_match_sklearn(seed):
    t, p, _ = _random_case(seed)
    assert M.accuracy(t, p) == pytest.approx(sk.accuracy_score(t, p))
    assert M.macro_f1(t, p) == pytest.approx(sk.f1_score(t, p, average="macro"))
    assert M.ppv(t, p) == pytest.approx(sk.precision_score(t, p, average="macro"))
    assert M.macro_recall(t, p) == pytest.approx(sk.recall_score(t, p, average="macro"))
    prf = M.precision_recall_f1(t, p)
    np.testing.assert_allclose(prf["f1"], sk.f1_score(t, p, average=None))
    assert M.cohen_kappa(t, p) == pytest.approx(sk.cohen_kappa_score(t, p))
    assert M.mcc(t, p) == pytest.approx(sk.matthews_corrcoef(t, p))
    np.testing.assert_array_equal(M.confusion_matrix(t, p), sk.confusion_matrix(t, p))


@pytest.mark.parametrize("seed", [0, 3])
def test_aucs_match_sklearn(seed):
    t, _, s = _random_case(seed)
    assert M.roc_auc_ovr(t, s) == pytest.approx(sk.roc_auc_score(t, s, multi_class="ovr", average="macro"))
    ap = np.mean([sk.average_precision_score(t == k, s[:, k]) for k in range(s.shape[1])])
    assert M.pr_auc_ovr(t, s) == pytest.approx(ap)


def test_aucs_with_ties_match_sklearn():
    rng = np.random.default_rng(5)
    t = rng.integers(0, 3, 120)
    s = rng.integers(0, 4, (120, 3)).astype(float)  # many tied scores
    assert M.roc_auc_ovr(t, s) == pytest.approx(
        np.mean([sk.roc_auc_score(t == k, s[:, k]) for k in range(3)]))
    assert M.pr_auc_ovr(t, s) == pytest.approx(
        np.mean([sk.average_precision_score(t == k, s[:, k]) for k in range(3)]))


@pytest.mark.parametrize("seed", [0, 4])
def test_krippendorff_alpha_matches_package(seed):
    kd = pytest.importorskip("krippendorff")
    t, p, _ = _random_case(seed)
    ref = kd.alpha(reliability_data=np.vstack([t, p]).astype(float), level_of_measurement="nominal")
    assert M.krippendorff_alpha_nominal(t, p) == pytest.approx(ref)


def test_hand_made_case():
    t = [0, 0, 1, 1]
    p = [0, 1, 1, 1]
    assert M.accuracy(t, p) == 0.75
    np.testing.assert_array_equal(M.confusion_matrix(t, p), [[1, 1], [0, 2]])
    # po = 3/4, pe = (2*1 + 2*3)/16 = 1/2 -> kappa = 0.5
    assert M.cohen_kappa(t, p) == pytest.approx(0.5)
    assert M.mcc(t, p) == pytest.approx(1 / np.sqrt(3))


def test_perfect_prediction():
    t = np.array([0, 1, 2, 2, 1])
    assert M.cohen_kappa(t, t) == 1.0
    assert M.krippendorff_alpha_nominal(t, t) == 1.0
    assert M.mcc(t, t) == 1.0


def test_degenerate_single_class():
    t = np.zeros(6, dtype=int)
    assert M.accuracy(t, t) == 1.0
    assert M.mcc(t, t) == 0.0  # convention, as scikit-learn
    with pytest.raises(M.UndefinedMetricError):
        M.cohen_kappa(t, t)
    with pytest.raises(M.UndefinedMetricError):
        M.krippendorff_alpha_nominal(t, t)
    with pytest.raises(M.UndefinedMetricError):
        M.roc_auc_ovr(t, np.full((6, 2), 0.5))


def test_constant_prediction_gives_zero_not_nan():
    t = np.array([0, 1, 2, 0, 1, 2])
    p = np.zeros(6, dtype=int)
    assert M.mcc(t, p) == 0.0
    assert M.cohen_kappa(t, p) == pytest.approx(0.0)
    assert M.macro_f1(t, p) == pytest.approx(sk.f1_score(t, p, average="macro", zero_division=0))


@pytest.mark.parametrize(
    "t,p",
    [([], []), ([0, 1], [0]), ([0, np.nan], [0, 1]), ([0, 1.5], [0, 1]), ([[0, 1]], [[0, 1]]),
     ([0, -1], [0, 1])],
)
def test_bad_input_raises(t, p):
    with pytest.raises(ValueError):
        M.accuracy(t, p)


def test_torch_tensors_accepted():
    torch = pytest.importorskip("torch")
    t, p, _ = _random_case(7)
    assert M.mcc(torch.as_tensor(t), torch.as_tensor(p)) == pytest.approx(M.mcc(t, p))
