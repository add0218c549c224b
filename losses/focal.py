"""Focal loss of the BReG-NeXt categorical model (Eq. 16-17, after Lin et al.), multi-class.

Two forms, named by ``form``:

- "true_class" (the default, the paper's Eq. 17 read for C classes): FL = -alpha_t (1 - p_t)^gamma log(p_t),
  p_t the softmax probability of the true class, alpha_t = 0.25 and gamma = 2. gamma = 0 and alpha_t = 1 give
  plain cross-entropy. Eq. 16 defines p_t for the binary case; over a softmax, p_t = p_y.
- "all_classes" (the authors' public code, ``focal_loss2``): Eq. 16-17 applied to every class as its own
  binary problem on the softmax probabilities, the true class with alpha and log(p), every other class with
  1 - alpha, p^gamma and log(1 - p), summed over the classes. The public code also sums over the batch
  (``reduction="sum"``). Its value and its gradient's direction differ from the first form's, so a
  reproduction should say which it used (`bench.train --loss focal` or `focal_code`).
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
    form: "true_class" (default, the paper's equation) or "all_classes" (the public code); see the module.
    """

    FORMS = ("true_class", "all_classes")

    def __init__(
        self,
        alpha: float | Sequence[float] | torch.Tensor = 0.25,
        gamma: float = 2.0,
        reduction: str = "mean",
        form: str = "true_class",
    ) -> None:
        super().__init__()
        if form not in self.FORMS:
            raise ValueError(f"form must be one of {', '.join(self.FORMS)}, got {form!r}")
        if form == "all_classes" and not isinstance(alpha, (int, float)):
            raise ValueError("form 'all_classes' takes one float alpha (the true class alpha, the others 1 - alpha)")
        self.form = form
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
        if self.form == "all_classes":
            return self._reduce(self._all_classes(logits, target))
        log_pt = F.log_softmax(logits, dim=1).gather(1, target.long().unsqueeze(1)).squeeze(1)
        pt = log_pt.exp()
        if self.per_class:
            if self.alpha.numel() != logits.shape[1]:
                n = self.alpha.numel()
                raise ValueError(f"per-class alpha has {n} entries for {logits.shape[1]} classes")
            alpha_t = self.alpha.to(logits.dtype)[target.long()]
        else:
            alpha_t = self.alpha.to(logits.dtype)
        return self._reduce(-alpha_t * (1.0 - pt).pow(self.gamma) * log_pt)

    def _all_classes(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per sample: sum over classes of the binary focal term, log(1 - p) as log1p(-p) of the softmax."""
        log_p = F.log_softmax(logits, dim=1)
        p = log_p.exp()
        log_not_p = torch.log1p(-p.clamp(max=1.0 - torch.finfo(p.dtype).eps))  # p = 1 would give log 0
        alpha = self.alpha.to(logits.dtype)
        true = F.one_hot(target.long(), logits.shape[1]).to(torch.bool)
        terms = torch.where(true, -alpha * (1.0 - p).pow(self.gamma) * log_p,
                            -(1.0 - alpha) * p.pow(self.gamma) * log_not_p)
        return terms.sum(dim=1)

    def _reduce(self, loss: torch.Tensor) -> torch.Tensor:
        if self.reduction == "mean":
            return loss.mean()
        if self.reduction == "sum":
            return loss.sum()
        return loss
