"""Weighted cross-entropy of BReG-Net (Eq. 5-7): under-represented classes weigh more.

E = -sum_i H_{l,i} log p_i with the diagonal H_ii = f_min / f_i (Eq. 7), f_i the training-set count of
class i; as H is diagonal only the true class l contributes, E = -(f_min / f_l) log p_l. The batch
loss is the plain mean of E over samples (torch's weighted CrossEntropyLoss would instead divide by
the sum of the weights, which is not Eq. 5).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def class_weights(
    labels=None, counts=None, num_classes: int | None = None
) -> torch.Tensor:
    """H_ii = f_min / f_i (Eq. 7) from training labels or from per-class counts (exactly one)."""
    if (labels is None) == (counts is None):
        raise ValueError("give exactly one of labels or counts")
    if labels is not None:
        lab = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
        if lab.ndim != 1 or lab.size == 0:
            raise ValueError("labels must be a non-empty 1-D array")
        if not np.issubdtype(lab.dtype, np.integer) or lab.min() < 0:
            raise ValueError("labels must be non-negative integers")
        counts = np.bincount(lab, minlength=num_classes or 0)
    cnt = counts.detach().cpu().numpy() if isinstance(counts, torch.Tensor) else np.asarray(counts)
    cnt = cnt.astype(np.float64)
    if cnt.ndim != 1 or cnt.size == 0:
        raise ValueError("counts must be a non-empty 1-D array")
    if num_classes is not None and cnt.size != num_classes:
        raise ValueError(f"{cnt.size} class counts for num_classes={num_classes}")
    if not np.all(np.isfinite(cnt)) or np.any(cnt <= 0):
        raise ValueError("every class needs a positive count (f_min / f_i is undefined for f_i = 0)")
    return torch.as_tensor(cnt.min() / cnt, dtype=torch.get_default_dtype())


class WeightedCrossEntropyLoss(nn.Module):
    """Eq. 5-6 on logits (N, C) and targets (N,), mean over the batch; weights = diag(H)."""

    def __init__(self, weights) -> None:
        super().__init__()
        w = torch.as_tensor(weights, dtype=torch.get_default_dtype()).flatten()
        if w.numel() == 0 or bool((w <= 0).any()):
            raise ValueError("weights must be a non-empty vector of positive numbers")
        self.register_buffer("weights", w)

    @classmethod
    def from_training_labels(cls, labels, num_classes: int | None = None) -> WeightedCrossEntropyLoss:
        return cls(class_weights(labels=labels, num_classes=num_classes))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if logits.ndim != 2 or logits.shape[1] != self.weights.numel():
            raise ValueError(f"expected logits (N, {self.weights.numel()}), got {tuple(logits.shape)}")
        log_p = F.log_softmax(logits, dim=1).gather(1, target.long().unsqueeze(1)).squeeze(1)
        return -(self.weights.to(logits.dtype)[target.long()] * log_p).mean()
