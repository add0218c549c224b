"""Contrastive adversarial framework (CAF, Kim & Song, AAAI 2021): Algorithm 1, Eq. 4-8, AV loss.

Pieces: `strong_weak_split` (Algorithm 1 line 3: Otsu thresholds delta_v, delta_a of |valence| and
|arousal|, delta_r = sqrt(delta_a^2 + delta_v^2); weak if the label radius is below delta_r),
`adaptive_margin` (Eq. 5, 8), `critic_loss` (Eq. 4, 6-7), `adversarial_loss` (line 7) and
`caf_training_step` (lines 3-8 in order). Readings of the paper where it is not explicit:
- Otsu runs on a 256-bin numpy histogram of the batch values (between-class variance maximised);
  samples with radius >= 1 (possible since radius <= sqrt 2) go to the strong group.
- Eq. 7 is minimised (line 6's "+ ADAM" contradicts the text "learned to minimize L_c"); its first term
  is the mean squared distance over strong-strong pairs, its second the mean over strong-weak pairs
  of max(0, alpha_hat - D^2) / 2 (the hinge of Eq. 4 for xi = -1).
- MI of Eq. 8: the groups are paired by truncating both to the smaller size (as the public code does),
  g is the element-wise Gaussian kernel exp(-z^2 / (2 var)), eta the Pearson correlation of the
  flattened g(Z_s), g(Z_w); MI = -log(1 - eta^2) / 2. Delta(N, K) = log(N / c) / (2K), N the batch
  size, c = 0.05, K the number of strong-weak pairs inside the MI margin (at least 1). The margin is
  a constant for the gradient.
- L_adv = -mean(z_w) averages the critic outputs over samples and dimensions.
- The critic f_c (`Critic`): the paper defers its structure to a supplementary not at hand; it maps the
  encoder's pooled feature (width C) to a d-dimensional z (Sec. 3: "z = (f_c o f_e)(x), d-dimensional").
  Here an MLP C -> 2C -> C with a ReLU between (no BatchNorm: a weak group can be one sample); for
  ResNet-18's C = 512 that is about 1M parameters, Table 4's 10M -> 11M with a critic.
- Table 4's margin ablations (`MarginSchedule`) replace Delta and keep MI: constant kappa (0.2 there),
  linear kappa' = 0.1 + 5e-3 x (epochs completed).
Where the public code (kdhht2334/Contrastive-Adversarial-Learning-FER, src/main.py) departs from the
paper: it groups by a cumulative-sum threshold plus an offset of 0.25 on the squared radius, not Otsu;
it trains the AV regressor first, then the critic, then the encoder; it pairs sample i with sample
-i-1 instead of all pairs; the critic loss adds a Fisher-GAN Lagrangian constraint; MI is a per-pair
Gaussian-kernel estimate clamped to [0, 2.5]; Delta is 0.7 / sqrt(k) from an adaptive k-NN rule; the
adversarial loss is scaled by 0.1; L_RMSE sums the two RMSEs, and PCC/CCC mix unbiased std with
biased covariance.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from losses.regression import AVLoss

CONFIDENCE_C = 0.05


def otsu_threshold(values, nbins: int = 256) -> float:
    """Otsu (1979) threshold of 1-D values: the histogram cut maximising between-class variance.

    Returns the bin edge of the cut (skimage returns the bin centre below it), so that values at or
    below the threshold are exactly the low class.
    """
    v = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    v = v.astype(np.float64).ravel()
    if v.size == 0 or not np.all(np.isfinite(v)):
        raise ValueError("Otsu needs a non-empty array of finite values")
    if v.min() == v.max():
        return float(v.min())
    hist, edges = np.histogram(v, bins=nbins)
    centers = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)[:-1].astype(np.float64)
    w1 = v.size - w0
    s0 = np.cumsum(hist * centers)[:-1]
    mu0 = np.divide(s0, w0, out=np.zeros_like(s0), where=w0 > 0)
    mu1 = np.divide(s0[-1] + hist[-1] * centers[-1] - s0, w1, out=np.zeros_like(s0), where=w1 > 0)
    between = w0 * w1 * (mu0 - mu1) ** 2
    return float(edges[1:-1][np.argmax(between)])  # upper edge of the low class: v <= t is 'low'


def strong_weak_split(valence, arousal) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Indices of the strong (P) and weak (Q) samples and delta_r (Algorithm 1, line 3)."""
    v = torch.as_tensor(valence, dtype=torch.float64).flatten().cpu()
    a = torch.as_tensor(arousal, dtype=torch.float64).flatten().cpu()
    if v.shape != a.shape:
        raise ValueError("valence and arousal must have the same length")
    delta_v = otsu_threshold(v.abs())
    delta_a = otsu_threshold(a.abs())
    delta_r = math.sqrt(delta_a**2 + delta_v**2)
    radius = torch.sqrt(v**2 + a**2)
    strong = torch.nonzero(radius >= delta_r).flatten()
    weak = torch.nonzero(radius < delta_r).flatten()
    return strong, weak, delta_r


def _gaussian_mi(z_s: torch.Tensor, z_w: torch.Tensor, kernel_var: float) -> float:
    m = min(z_s.shape[0], z_w.shape[0])
    gs = torch.exp(-z_s[:m].double() ** 2 / (2 * kernel_var)).flatten()
    gw = torch.exp(-z_w[:m].double() ** 2 / (2 * kernel_var)).flatten()
    gs, gw = gs - gs.mean(), gw - gw.mean()
    den = torch.sqrt((gs * gs).sum() * (gw * gw).sum())
    eta2 = 0.0 if den == 0 else float(((gs * gw).sum() / den) ** 2)
    return -0.5 * math.log(max(1.0 - eta2, 1e-12))


def adaptive_margin(z_s: torch.Tensor, z_w: torch.Tensor, batch_size: int, c: float = CONFIDENCE_C,
                    kernel_var: float = 0.2) -> float:
    """alpha_hat = MI(g(Z_s), g(Z_w)) + Delta(N, K) (Eq. 5, 8), as a plain float (no gradient)."""
    with torch.no_grad():
        mi = _gaussian_mi(z_s, z_w, kernel_var)
        k = int((torch.cdist(z_s.double(), z_w.double()) ** 2 < mi).sum())
        return mi + math.log(batch_size / c) / (2 * max(k, 1))


def mutual_information(z_s: torch.Tensor, z_w: torch.Tensor, kernel_var: float = 0.2) -> float:
    """MI(g(Z_s), g(Z_w)) of Eq. 8 alone, as a plain float."""
    with torch.no_grad():
        return _gaussian_mi(z_s, z_w, kernel_var)


class MarginSchedule:
    """The critic's margin per step: Eq. 5's adaptive alpha_hat, or Table 4's ablations with Delta replaced.

    ``adaptive``: MI + Delta(N, K); ``constant:KAPPA``: MI + kappa; ``linear:START,SLOPE``: MI + START + SLOPE x
    `epochs_done` (the trainer sets it: epochs completed before the current one, 0 in the first).
    """

    def __init__(self, kind: str = "adaptive", start: float = 0.0, slope: float = 0.0, c: float = CONFIDENCE_C):
        if kind not in ("adaptive", "constant", "linear"):
            raise ValueError(f"unknown margin schedule {kind!r}; choose adaptive, constant or linear")
        self.kind, self.start, self.slope, self.c = kind, float(start), float(slope), c
        self.epochs_done = 0

    @classmethod
    def parse(cls, text: str) -> MarginSchedule:
        """``adaptive`` | ``constant:KAPPA`` | ``linear:START,SLOPE`` (ValueError in one line otherwise)."""
        kind, sep, rest = text.strip().partition(":")
        form = "expected adaptive, constant:KAPPA or linear:START,SLOPE"
        try:
            values = [float(v) for v in rest.split(",")] if sep else []
        except ValueError:
            raise ValueError(f"margin {text!r}: {form}") from None
        if (kind, len(values)) == ("adaptive", 0):
            return cls()
        if (kind, len(values)) == ("constant", 1):
            return cls("constant", values[0])
        if (kind, len(values)) == ("linear", 2):
            return cls("linear", *values)
        raise ValueError(f"margin {text!r}: {form}")

    @property
    def spec(self) -> str:
        return {"adaptive": "adaptive", "constant": f"constant:{self.start:g}",
                "linear": f"linear:{self.start:g},{self.slope:g}"}[self.kind]

    def __call__(self, z_s: torch.Tensor, z_w: torch.Tensor, batch_size: int) -> float:
        if self.kind == "adaptive":
            return adaptive_margin(z_s, z_w, batch_size, self.c)
        return mutual_information(z_s, z_w) + self.start + self.slope * self.epochs_done


class Critic(nn.Module):
    """f_c: an MLP from the encoder's latent vector to z, ReLU between its Linear layers (see the module).

    ``widths`` runs from the input width to z's: C -> 2C -> C by default, or a network's own (CAF's tuned
    AlexNet: the public code's 9216 -> 64 -> 32 -> 16); `breg_models.latent.critic_widths` picks them.
    """

    def __init__(self, widths: Sequence[int]):
        super().__init__()
        widths = [int(w) for w in widths]
        if len(widths) < 2 or min(widths) < 1:
            raise ValueError(f"the critic needs an input and an output width, got {widths}")
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*layers[:-1])

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).float()  # the losses' cdist in float32 under autocast


def critic_loss(z_s: torch.Tensor, z_w: torch.Tensor, margin: float) -> torch.Tensor:
    """Eq. 7, minimised: mean D^2 over strong pairs + mean max(0, margin - D^2) / 2 over cross pairs."""
    if z_s.shape[0] == 0 or z_w.shape[0] == 0:
        raise ValueError("the critic loss needs at least one strong and one weak sample")
    d_ss = torch.cdist(z_s, z_s) ** 2
    iu = torch.triu_indices(z_s.shape[0], z_s.shape[0], offset=1, device=z_s.device)
    intra = d_ss[iu[0], iu[1]].mean() if iu.shape[1] else z_s.new_zeros(())
    inter = torch.relu(margin - torch.cdist(z_s, z_w) ** 2).mean()
    return intra + 0.5 * inter


def adversarial_loss(z_w: torch.Tensor) -> torch.Tensor:
    """L_adv = -(1/N_w) sum_i z_{w_i} (Algorithm 1, line 7), averaged over the feature dimensions too."""
    return -z_w.mean()


def _set_grad(params: Iterable[nn.Parameter], flag: bool) -> None:
    for p in params:
        p.requires_grad_(flag)


def caf_training_step(
    encoder: nn.Module,
    critic: nn.Module,
    regressor: nn.Module,
    images: torch.Tensor,
    va: torch.Tensor,
    opt_critic: torch.optim.Optimizer,
    opt_encoder: torch.optim.Optimizer,
    opt_av: torch.optim.Optimizer,
    av_loss: nn.Module | None = None,
    c: float = CONFIDENCE_C,
    margin_fn: Callable[[torch.Tensor, torch.Tensor, int], float] | None = None,
) -> dict[str, float]:
    """One iteration of Algorithm 1 (lines 3-8); va is (N, 2) with columns valence, arousal.

    opt_critic holds the critic's parameters, opt_encoder the encoder's, opt_av the encoder's and the
    regressor's. ``margin_fn(z_s, z_w, N)`` gives the margin (default: `adaptive_margin` with ``c``; a
    `MarginSchedule` for Table 4's ablations). If a group is empty the critic and adversarial steps are
    skipped (reported as None) and only the AV step runs.
    """
    av_loss = AVLoss() if av_loss is None else av_loss
    strong, weak, delta_r = strong_weak_split(va[:, 0], va[:, 1])  # line 3
    out: dict[str, float | None] = {"delta_r": delta_r, "n_strong": int(strong.numel()),
                                    "n_weak": int(weak.numel()), "margin": None,
                                    "critic_loss": None, "adversarial_loss": None}
    strong, weak = strong.to(images.device), weak.to(images.device)
    if strong.numel() and weak.numel():
        z_s = critic(encoder(images[strong]).detach())  # lines 4-6: only the critic learns here
        z_w = critic(encoder(images[weak]).detach())
        margin = (margin_fn(z_s, z_w, images.shape[0]) if margin_fn is not None
                  else adaptive_margin(z_s, z_w, images.shape[0], c))
        loss_c = critic_loss(z_s, z_w, margin)
        opt_critic.zero_grad()
        loss_c.backward()
        opt_critic.step()
        _set_grad(critic.parameters(), False)  # line 7: freeze the critic, train the encoder
        loss_adv = adversarial_loss(critic(encoder(images[weak])))
        opt_encoder.zero_grad()
        loss_adv.backward()
        opt_encoder.step()
        _set_grad(critic.parameters(), True)
        out.update(margin=margin, critic_loss=loss_c.item(), adversarial_loss=loss_adv.item())
    loss_av = av_loss(regressor(encoder(images)), va)  # line 8
    opt_av.zero_grad()
    loss_av.backward()
    opt_av.step()
    out["av_loss"] = loss_av.item()
    return out
