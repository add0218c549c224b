"""Deep Attentive Center Loss (DACL, Farzaneh & Qi, WACV 2021, Eq. 3-11).

`DACLAttention` maps the backbone's last convolutional feature map x* to weights a_i in (0, 1)^d:
a context-encoder unit of three linear layers, BN and ReLU between them, BN and tanh at the end
(Eq. 5), then d two-way heads whose softmax gives the inclusion probability a_ij (Eq. 6-7).
`SparseCenterLoss` is Eq. 4 on the pooled feature x_i; autograd yields Eq. 9-10, which
`sparse_center_gradients` writes out for checking; `update_centers` applies Eq. 11. The centers are a
buffer moved only by Eq. 11, not by the optimiser. The total loss is Eq. 8, L = L_S + lambda L_SC.

Reading of the paper's typos: Eq. 10 is element-wise, dL/da_ij = (x_ij - c_yi,j)^2 / 2m (the printed
squared norm would give one value for all j); Eq. 11 is
Delta c_k = sum_i [y_i = k] a_i * (c_k - x_i) / (eps + sum_i [y_i = k]), and Algorithm 1's update
"c_k^{t+1} = c_k^t alpha Delta c_k" is c_k <- c_k - alpha Delta c_k (as in center loss). eps is not
given; 1 matches the public code's counts that start at one. Eq. 4 equals Eq. 3 times w when all
weights equal w (so exactly Eq. 3 for w = 1).

Under data parallelism (DDP) each process sees a slice of the batch; ``update_centers(..., sync=True)`` sums
Eq. 11's numerator and class counts over the processes, so every one applies the whole batch's update and the
centers stay identical everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

# The CE-Unit's widths in the paper (Sec. 4.2) and its public code, for ResNet-18's 512 x 7 x 7 map.
PAPER_WIDTHS = (3584, 512, 64)


class DACLAttention(nn.Module):
    """Attention network of DACL for any backbone: flattened (C, H, W) context -> (N, feat_dim) weights.

    hidden_dims are the widths of the three CE-Unit linear layers (the last is d' << d); the default is
    `PAPER_WIDTHS`. Linear weights use He initialisation, biases 0 (Sec. 3.3).
    """

    def __init__(self, context_dim: int, feat_dim: int, hidden_dims: Sequence[int] = PAPER_WIDTHS) -> None:
        super().__init__()
        if len(hidden_dims) != 3:
            raise ValueError("the CE-Unit has exactly three linear layers (Eq. 5)")
        h1, h2, h3 = (int(h) for h in hidden_dims)
        self.context_dim = int(context_dim)
        self.feat_dim = int(feat_dim)
        self.encoder = nn.Sequential(
            nn.Linear(self.context_dim, h1), nn.BatchNorm1d(h1), nn.ReLU(),
            nn.Linear(h1, h2), nn.BatchNorm1d(h2), nn.ReLU(),
            nn.Linear(h2, h3), nn.BatchNorm1d(h3), nn.Tanh(),
        )
        # d heads of two outputs each, stored as one (d' -> 2d) linear layer: [.., j, 0] = inclusion.
        self.heads = nn.Linear(h3, 2 * self.feat_dim)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight)
                nn.init.zeros_(m.bias)

    @classmethod
    def for_feature_map(cls, channels: int, height: int, width: int, feat_dim: int | None = None,
                        hidden_dims: Sequence[int] = PAPER_WIDTHS) -> DACLAttention:
        """Attention net for a backbone whose last map is (channels, height, width), pooled to feat_dim."""
        return cls(channels * height * width, channels if feat_dim is None else feat_dim, hidden_dims)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        flat = context.flatten(1)
        if flat.shape[1] != self.context_dim:
            raise ValueError(f"context has {flat.shape[1]} values per sample, expected {self.context_dim}")
        scores = self.heads(self.encoder(flat)).view(-1, self.feat_dim, 2)
        return scores.softmax(dim=-1)[..., 0]  # Eq. 7: exp(p_in) / (exp(p_in) + exp(p_ex))


def sparse_center_gradients(
    feat: torch.Tensor, attn: torch.Tensor, labels: torch.Tensor, centers: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form Eq. 9 (dL_SC/dx_i) and Eq. 10 (dL_SC/da_i, element-wise) for a batch of m samples."""
    m = feat.shape[0]
    diff = feat - centers[labels.long()]
    return attn * diff / m, diff.pow(2) / (2 * m)


class SparseCenterLoss(nn.Module):
    """Eq. 4: L_SC = 1/(2m) sum_i sum_j a_ij (x_ij - c_{y_i j})^2, with the Eq. 11 center update.

    alpha: center update rate (0.5 in the paper); lam: lambda of Eq. 8 (0.01); eps: Eq. 11's epsilon.
    """

    def __init__(self, num_classes: int, feat_dim: int, alpha: float = 0.5, lam: float = 0.01,
                 eps: float = 1.0) -> None:
        super().__init__()
        self.num_classes = int(num_classes)
        self.feat_dim = int(feat_dim)
        self.alpha = float(alpha)
        self.lam = float(lam)
        self.eps = float(eps)
        centers = torch.empty(self.num_classes, self.feat_dim)
        # "initialized using the He initialization method": the authors' code (loss.py) applies it to the
        # transposed (feat_dim, num_classes) matrix, so the fan-in is the class count: std sqrt(2 / K)
        # (0.53 for 7 classes), not sqrt(2 / feat_dim) (0.06 for 512 features).
        nn.init.kaiming_normal_(centers.t())
        self.register_buffer("centers", centers)

    def _check(self, feat: torch.Tensor, attn: torch.Tensor, labels: torch.Tensor) -> None:
        if feat.ndim != 2 or feat.shape[1] != self.feat_dim or attn.shape != feat.shape:
            raise ValueError(f"expected feat and attn of shape (m, {self.feat_dim}), got "
                             f"{tuple(feat.shape)} and {tuple(attn.shape)}")
        if labels.shape != (feat.shape[0],):
            raise ValueError(f"labels must have shape ({feat.shape[0]},), got {tuple(labels.shape)}")

    def forward(self, feat: torch.Tensor, attn: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self._check(feat, attn, labels)
        diff = feat - self.centers[labels.long()].to(feat.dtype)
        return (attn * diff.pow(2)).sum() / (2 * feat.shape[0])

    def total_loss(self, softmax_loss: torch.Tensor, sparse_center_loss: torch.Tensor) -> torch.Tensor:
        """Eq. 8: L = L_S + lambda L_SC."""
        return softmax_loss + self.lam * sparse_center_loss

    @torch.no_grad()
    def center_deltas(self, feat: torch.Tensor, attn: torch.Tensor, labels: torch.Tensor,
                      sync: bool = False) -> torch.Tensor:
        """Eq. 11: Delta c_k for every class k (zero for classes absent from the batch). sync: the batch is
        split over the default process group; numerator and counts are summed over it first (all_reduce), as
        a per-process Delta would weigh each slice by its own counts and let the centers drift apart."""
        self._check(feat, attn, labels)
        lab = labels.long()
        c = self.centers.to(feat.dtype)
        sums = torch.zeros(self.num_classes, self.feat_dim + 1, dtype=feat.dtype, device=feat.device)
        sums[:, :-1].index_add_(0, lab, attn * (c[lab] - feat))  # sum_i [y_i = k] a_i (c_k - x_i)
        sums[:, -1].index_add_(0, lab, torch.ones_like(lab, dtype=feat.dtype))  # sum_i [y_i = k]
        if sync:
            torch.distributed.all_reduce(sums)
        return sums[:, :-1] / (self.eps + sums[:, -1:])

    @torch.no_grad()
    def update_centers(self, feat: torch.Tensor, attn: torch.Tensor, labels: torch.Tensor,
                       sync: bool = False) -> None:
        """c_k <- c_k - alpha Delta c_k (Algorithm 1, line 15); call once per step, after backward (every
        process, with sync=True, under DDP)."""
        delta = self.center_deltas(feat.detach(), attn.detach(), labels, sync)
        self.centers.sub_(self.alpha * delta.to(self.centers.dtype))
