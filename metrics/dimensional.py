"""Dimensional-model metrics: RMSE, Pearson CC, CCC, SAGR (BReG-NeXt Eq. 11-15; CAF Sec. 5).

Moments are population moments (divide by n), as the E[.] of BReG-NeXt Eq. 12-13 reads; the same
`correlation_terms` is used on torch tensors by the CAF AV loss, so PCC and CCC exist once.
Per-dimension values come from `dimensional_metrics`; its totals follow BReG-NeXt Table 6, whose
'total' RMSE is the RMSE pooled over both dimensions (sqrt of the mean of the two squared RMSEs:
0.2668 and 0.2482 give 0.2577), and are the plain mean over dimensions for CC, CCC and SAGR.
"""

from __future__ import annotations

import numpy as np

from metrics._checks import UndefinedMetricError, as_values, check_same_length, fill_or_missing

DIMENSIONS = ("valence", "arousal")


def correlation_terms(y_true, y_pred, eps: float = 0.0):
    """(PCC, CCC) of two 1-D series, for numpy arrays or torch tensors alike (Eq. 12-13).

    Only arithmetic, `.mean()` and `** 0.5` are used so the same code runs on either backend and
    stays differentiable in torch; `eps` guards the denominators in a loss (0 for metrics).
    """
    mu_t = y_true.mean()
    mu_p = y_pred.mean()
    dt = y_true - mu_t
    dp = y_pred - mu_p
    cov = (dt * dp).mean()
    var_t = (dt * dt).mean()
    var_p = (dp * dp).mean()
    pcc = cov / ((var_t * var_p) ** 0.5 + eps)
    # 2 rho sigma_t sigma_p == 2 cov, so Eq. 13 needs no division by the deviations.
    ccc = 2 * cov / (var_t + var_p + (mu_t - mu_p) ** 2 + eps)
    return pcc, ccc


def _series(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t = as_values(y_true, "y_true")
    p = as_values(y_pred, "y_pred")
    if t.ndim != 1 or p.ndim != 1:
        raise ValueError(f"expected 1-D series, got shapes {t.shape} and {p.shape}")
    check_same_length(t, p, "y_true", "y_pred")
    return t, p


def rmse(y_true, y_pred) -> float:
    """Root mean square error (BReG-NeXt Eq. 11)."""
    t, p = _series(y_true, y_pred)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def pearson_cc(y_true, y_pred) -> float:
    """Pearson correlation coefficient (Eq. 12); undefined for a constant series."""
    t, p = _series(y_true, y_pred)
    if np.ptp(t) == 0 or np.ptp(p) == 0:
        raise UndefinedMetricError("Pearson CC is undefined for a constant series")
    return float(np.clip(correlation_terms(t, p)[0], -1.0, 1.0))


def ccc(y_true, y_pred) -> float:
    """Concordance correlation coefficient (Eq. 13); 0 for constant predictions of a varying target."""
    t, p = _series(y_true, y_pred)
    if np.ptp(t) == 0 and np.ptp(p) == 0:
        if np.array_equal(t, p):
            return 1.0  # identical constants agree perfectly (the limit along p -> t)
        return 0.0  # 0 / (mean difference)^2
    with np.errstate(invalid="ignore", divide="ignore"):  # the unused PCC term may be 0/0 here
        value = correlation_terms(t, p)[1]
    return float(np.clip(value, -1.0, 1.0))


def sagr(y_true, y_pred) -> float:
    """Sign agreement (Eq. 14-15): fraction with sign(pred) == sign(true); sign(0) = 0 as written."""
    t, p = _series(y_true, y_pred)
    return float(np.mean(np.sign(t) == np.sign(p)))


def _va(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t = as_values(y_true, "y_true")
    p = as_values(y_pred, "y_pred")
    if t.ndim != 2 or p.ndim != 2 or t.shape[1] != 2 or p.shape != t.shape:
        raise ValueError(f"expected (N, 2) valence/arousal arrays, got shapes {t.shape} and {p.shape}")
    return t, p


def dimensional_metrics(y_true, y_pred) -> dict:
    """RMSE, CC, CCC and SAGR per dimension (columns: valence, arousal) and in total, one flat dict.

    A metric undefined on this input (CC of a constant column) is None and its reason is listed in
    the 'missing' entry ("key: reason; ..."), so a table never holds a silent NaN.
    """
    t, p = _va(y_true, y_pred)
    row: dict = {}
    missing: list[str] = []
    for name, fn in (("rmse", rmse), ("cc", pearson_cc), ("ccc", ccc), ("sagr", sagr)):
        for j, dim in enumerate(DIMENSIONS):
            fill_or_missing(row, missing, f"{name}_{dim}", lambda fn=fn, j=j: fn(t[:, j], p[:, j]))
        if name == "rmse":
            row["rmse_total"] = float(np.sqrt(np.mean((p - t) ** 2)))  # pooled, as Table 6
            continue
        parts = [row[f"{name}_{d}"] for d in DIMENSIONS]
        if any(v is None for v in parts):
            row[f"{name}_total"] = None
            missing.append(f"{name}_total: undefined for a dimension")
        else:
            row[f"{name}_total"] = float(np.mean(parts))
    row["missing"] = "; ".join(missing)
    return row
