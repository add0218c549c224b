"""Focal loss of the BReG-NeXt categorical model (Eq. 16-17, after Lin et al.), multi-class.

FL(p_t) = -alpha_t (1 - p_t)^gamma log(p_t), p_t the softmax probability of the true class, with the
paper's alpha_t = 0.25 and gamma = 2. gamma = 0 and alpha_t = 1 give plain cross-entropy. Eq. 16
defines p_t for the binary case; over a softmax the multi-class reading is p_t = p_{y}.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class FocalLoss(nn.Module):
    """Multi-class focal loss on logits (N, C) and integer targets (N,).

    alpha: one float alpha_t for every class (Eq. 17), or a per-class sequence of C weights.
    reduction: "mean" (default), "sum" or "none".
    """

    def __init__(
        self,
        alpha: float | Sequence[float] | torch.Tensor = 0.25,
        gamma: float = 2.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0 (Eq. 17), got {gamma}")
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.gamma = float(gamma)
        self.reduction = reduction
        if isinstance(alpha, (int, float)):
            self.per_class = False
            self.register_buffer("alpha", torch.tensor(float(alpha)))
        else:
            self.per_class = True
            self.register_buffer("alpha", torch.as_tensor(alpha, dtype=torch.get_default_dtype()).flatten())

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if logits.ndim != 2 or target.ndim != 1 or logits.shape[0] != target.shape[0]:
            raise ValueError(f"expected logits (N, C) and target (N,), got {tuple(logits.shape)}, "
                             f"{tuple(target.shape)}")
        log_pt = F.log_softmax(logits, dim=1).gather(1, target.long().unsqueeze(1)).squeeze(1)
        pt = log_pt.exp()
        if self.per_class:
            if self.alpha.numel() != logits.shape[1]:
                n = self.alpha.numel()
                raise ValueError(f"per-class alpha has {n} entries for {logits.shape[1]} classes")
            alpha_t = self.alpha.to(logits.dtype)[target.long()]
        else:
            alpha_t = self.alpha.to(logits.dtype)
        loss = -alpha_t * (1.0 - pt).pow(self.gamma) * log_pt
        if self.reduction == "mean":
            return loss.mean()
        if self.reduction == "sum":
            return loss.sum()
        return loss
