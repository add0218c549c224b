import numpy as np
import pytest
from scipy import stats

import metrics as M


def _ccc_ref(t, p):
    # Lin's CCC transcribed from BReG-NeXt Eq. 13 in float64
    rho = stats.pearsonr(t, p)[0]
    return 2 * rho * t.std() * p.std() / (t.var() + p.var() + (t.mean() - p.mean()) ** 2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_against_references(seed):
    rng = np.random.default_rng(seed)
    t = rng.uniform(-1, 1, 200)
    p = 0.7 * t + rng.normal(0, 0.3, 200)
    assert M.pearson_cc(t, p) == pytest.approx(stats.pearsonr(t, p)[0])
    assert M.ccc(t, p) == pytest.approx(_ccc_ref(t, p))
    assert M.rmse(t, p) == pytest.approx(np.sqrt(np.mean((t - p) ** 2)))
    agree = [np.sign(a) == np.sign(b) for a, b in zip(t, p, strict=True)]
    assert M.sagr(t, p) == pytest.approx(np.mean(agree))


def test_closed_form_cases():
    t = np.array([-0.9, -0.3, 0.2, 0.5, 0.8])
    assert M.ccc(t, t) == pytest.approx(1.0)
    assert M.pearson_cc(t, t) == pytest.approx(1.0)
    assert M.sagr(t, t) == 1.0
    shift = 0.4
    # shifted: rho = 1, CCC = 2 var / (2 var + shift^2)
    assert M.pearson_cc(t, t + shift) == pytest.approx(1.0)
    assert M.ccc(t, t + shift) == pytest.approx(2 * t.var() / (2 * t.var() + shift**2))
    assert M.rmse(t, t + shift) == pytest.approx(shift)
    # anti-correlated: CCC = -2 var / (2 var + 4 mean^2), SAGR = 0
    assert M.pearson_cc(t, -t) == pytest.approx(-1.0)
    assert M.ccc(t, -t) == pytest.approx(-2 * t.var() / (2 * t.var() + 4 * t.mean() ** 2))
    assert M.sagr(t, -t) == 0.0
    # constant predictions: CCC 0, CC undefined
    assert M.ccc(t, np.full(5, 0.1)) == 0.0
    with pytest.raises(M.UndefinedMetricError):
        M.pearson_cc(t, np.full(5, 0.1))
    assert M.ccc(np.full(3, 0.2), np.full(3, 0.2)) == 1.0


def test_total_rmse_reproduces_bregnext_table6():
    # BReG-NeXt-50 on AffectNet: valence 0.2668, arousal 0.2482, total 0.2577 (pooled RMSE)
    rng = np.random.default_rng(0)
    n = 10000
    t = rng.uniform(-1, 1, (n, 2))
    e = rng.choice([-1.0, 1.0], (n, 2)) * np.array([0.2668, 0.2482])
    row = M.dimensional_metrics(t, t + e)
    assert row["rmse_valence"] == pytest.approx(0.2668)
    assert row["rmse_arousal"] == pytest.approx(0.2482)
    assert round(row["rmse_total"], 4) == 0.2577


@pytest.mark.parametrize(
    "t,p", [([], []), ([0.1, 0.2], [0.1]), ([0.1, np.nan], [0.1, 0.2]), ([[0.1]], [[0.2]])]
)
def test_bad_input_raises(t, p):
    with pytest.raises(ValueError):
        M.rmse(t, p)


def test_wrong_shape_for_table():
    with pytest.raises(ValueError):
        M.dimensional_metrics(np.zeros((4, 3)), np.zeros((4, 3)))
