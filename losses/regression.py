"""Losses of the dimensional model: MSE (BReG-Net/BReG-NeXt) and the CAF AV loss.

CAF (Sec. 5): L_AV = L_RMSE + eps (L_PCC + L_CCC), L_PCC = 1 - (PCC_a + PCC_v)/2,
L_CCC = 1 - (CCC_a + CCC_v)/2, eps = 0.5; L_RMSE is the mean of the valence and arousal RMSEs by default
(``rmse="mean"``), their sum in the authors' public code (``rmse="sum"``).
PCC/CCC come from `metrics.dimensional.correlation_terms`, the same code the metrics use.
"""

from __future__ import annotations

import torch
from torch import nn

from metrics.dimensional import correlation_terms


def _check_va(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.shape != target.shape or pred.ndim != 2 or pred.shape[1] != 2 or pred.shape[0] < 2:
        raise ValueError(f"expected (N >= 2, 2) valence/arousal tensors, got {tuple(pred.shape)}, "
                         f"{tuple(target.shape)}")


class DimensionalMSELoss(nn.MSELoss):
    """Mean squared error over samples and both dimensions (BReG-NeXt Sec. 4.1)."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
        return super().forward(pred, target)


class AVLoss(nn.Module):
    """CAF's L_AV on (N, 2) predictions and targets (columns valence, arousal).

    `stability` is added to the PCC/CCC denominators so a constant batch gives a finite gradient. ``rmse``:
    "mean" or "sum" of the two per-dimension RMSEs (see the module).
    """

    def __init__(self, eps: float = 0.5, stability: float = 1e-8, rmse: str = "mean") -> None:
        super().__init__()
        if rmse not in ("mean", "sum"):
            raise ValueError(f"rmse must be 'mean' or 'sum', got {rmse!r}")
        self.rmse = rmse
        self.eps = float(eps)
        self.stability = float(stability)

    def terms(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        _check_va(pred, target)
        rmse = ((pred - target) ** 2).mean(dim=0).clamp_min(self.stability).sqrt()
        pcc, ccc = zip(
            *(correlation_terms(target[:, j], pred[:, j], eps=self.stability) for j in range(2)), strict=True
        )
        return {
            "rmse": rmse.mean() if self.rmse == "mean" else rmse.sum(),
            "pcc": 1 - (pcc[0] + pcc[1]) / 2,
            "ccc": 1 - (ccc[0] + ccc[1]) / 2,
        }

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        t = self.terms(pred, target)
        return t["rmse"] + self.eps * (t["pcc"] + t["ccc"])
