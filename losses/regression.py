"""Losses of the dimensional model: MSE (BReG-Net/BReG-NeXt) and the CAF AV loss.

CAF (Sec. 5): L_AV = L_RMSE + eps (L_PCC + L_CCC), L_PCC = 1 - (PCC_a + PCC_v)/2,
L_CCC = 1 - (CCC_a + CCC_v)/2, eps = 0.5; L_RMSE is the mean of the valence and arousal RMSEs by default
(``rmse="mean"``), their sum in the authors' public code (``rmse="sum"``, src/main.py).
PCC/CCC come from `metrics.dimensional.correlation_terms`, the same code the metrics use (population moments,
``moments="population"``). The public code's src/utils.py ``pcc_ccc_loss`` (``moments="code"``) divides a
biased (mean) covariance by torch.std's unbiased deviations: PCC = cov / (s_t s_p), CCC = 2 cov / (s_t^2 + s_p^2
+ (mu_t - mu_p)^2), s the (n - 1) standard deviation; that is `correlation_terms` on series whose deviations are
stretched by sqrt(n / (n - 1)), both terms divided by n / (n - 1), which is how `code_correlation_terms` gets it.
"""

from __future__ import annotations

import torch
from torch import nn

from metrics.dimensional import correlation_terms


def _check_va(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.shape != target.shape or pred.ndim != 2 or pred.shape[1] != 2 or pred.shape[0] < 2:
        raise ValueError(f"expected (N >= 2, 2) valence/arousal tensors, got {tuple(pred.shape)}, "
                         f"{tuple(target.shape)}")


def code_correlation_terms(y_true: torch.Tensor, y_pred: torch.Tensor, eps: float = 0.0):
    """(PCC, CCC) as src/utils.py ``pcc_ccc_loss``: biased covariance over unbiased deviations (see the module)."""
    n = y_true.shape[0]
    s = n / (n - 1)

    def stretch(y: torch.Tensor) -> torch.Tensor:  # variance times s, mean kept
        return y.mean() + (y - y.mean()) * s**0.5

    pcc, ccc = correlation_terms(stretch(y_true), stretch(y_pred), eps=eps * s)
    return pcc / s, ccc / s


class DimensionalMSELoss(nn.MSELoss):
    """Mean squared error over samples and both dimensions (BReG-NeXt Sec. 4.1)."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
        return super().forward(pred, target)


class AVLoss(nn.Module):
    """CAF's L_AV on (N, 2) predictions and targets (columns valence, arousal).

    `stability` is added to the PCC/CCC denominators so a constant batch gives a finite value (not a finite
    gradient: `correlation_terms` takes the square root of a zero variance product there). ``rmse``:
    "mean" or "sum" of the two per-dimension RMSEs; ``moments``: "population" or "code" PCC/CCC (see the module).
    """

    def __init__(self, eps: float = 0.5, stability: float = 1e-8, rmse: str = "mean",
                 moments: str = "population") -> None:
        super().__init__()
        if rmse not in ("mean", "sum"):
            raise ValueError(f"rmse must be 'mean' or 'sum', got {rmse!r}")
        if moments not in ("population", "code"):
            raise ValueError(f"moments must be 'population' or 'code', got {moments!r}")
        self.rmse, self.moments = rmse, moments
        self.eps = float(eps)
        self.stability = float(stability)

    def terms(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        _check_va(pred, target)
        rmse = ((pred - target) ** 2).mean(dim=0).clamp_min(self.stability).sqrt()
        terms = correlation_terms if self.moments == "population" else code_correlation_terms
        pcc, ccc = zip(*(terms(target[:, j], pred[:, j], eps=self.stability) for j in range(2)), strict=True)
        return {
            "rmse": rmse.mean() if self.rmse == "mean" else rmse.sum(),
            "pcc": 1 - (pcc[0] + pcc[1]) / 2,
            "ccc": 1 - (ccc[0] + ccc[1]) / 2,
        }

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        t = self.terms(pred, target)
        return t["rmse"] + self.eps * (t["pcc"] + t["ccc"])
