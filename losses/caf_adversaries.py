"""CAF's critic network and the critic/encoder losses of Table 4's adversaries: CAF's contrastive loss, FisherGAN,
SphereGAN and GRAM-net ("a method that replaces Eq. (6) in Algorithm 1 with the existing MMD or IPM").

P is the strong group (z_s, the GANs' "real"), Q the weak group (z_w, the "fake" the encoder moves). Every
adversary reads the same critic (so Table 4's parameter counts match); each defines a critic loss (minimised) and
an encoder loss (the GAN's generator loss, minimised by the encoder with the critic frozen):
- ``caf``: Eq. 4/6/7 (`ContrastiveLoss`); encoder: L_adv = -mean(z_w) (Algorithm 1, line 7).
- ``fishergan`` (Mroueh & Sercu 2017, Alg. 1): scalar critic f = the mean of the critic's outputs; maximise
  E_P f - E_Q f + lambda (1 - Omega) - rho/2 (1 - Omega)^2, Omega = (E_P f^2 + E_Q f^2) / 2, then lambda <- lambda
  - rho (1 - Omega); rho = 1e-6 (their code's default). Encoder: -E_Q f, which is L_adv itself.
- ``spheregan`` (Park & Kwon 2019): the critic output u is put on the unit sphere by inverse stereographic
  projection; d(u) is its geodesic distance to the north pole, 2 atan(1 / |u|) (= arccos((|u|^2 - 1)/(|u|^2 + 1)));
  the critic maximises sum_{r=1..R} E_P d^r - E_Q d^r with R = 3 (their code: "[3] is suggested"); encoder:
  -sum_r E_Q d^r.
- ``gramnet`` (Srivastava et al., ICLR 2020, GRAM-nets): in the critic's space the ratio r = p/q at the weak
  samples is estimated by kernel mean matching, r = (n_w / n_s) (K_ww + 1e-3 I)^{-1} K_ws 1, averaged over Gaussian
  kernels of sigma^2 in {1, 2, 4, 8, 16} (their CIFAR-10 set); the critic maximises the Pearson divergence
  mean((r - 1)^2) plus mean(r) (their positivity term); the encoder minimises the MMD over the same kernels.
  Their code sums the per-kernel ratios (a "raito" typo leaves the average unused); here they are averaged.
  GRAM updates generator and critic together; here the critic step comes first, as in Algorithm 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

ADVERSARIES = ("caf", "fishergan", "spheregan", "gramnet")
FISHER_RHO = 1e-6  # src/main.py and FisherGAN's code: rho = 1e-6
SPHERE_MOMENTS = 3
GRAM_SIGMA2 = (1.0, 2.0, 4.0, 8.0, 16.0)
GRAM_RIDGE = 1e-3  # GRAM's eps_ratio


class Critic(nn.Module):
    """f_c, as the public code's Disc2_light: Linear(w0, w1), then per hidden width Linear, dropout, ReLU; last Linear.

    ``widths`` (latent, 64, 32, 16) gives Disc2_light's latent -> 64 -> 32 -> dropout(0.2) -> ReLU -> 16 (its first
    layer has no activation after it). Outputs are float32 so the losses' distances are, under autocast too.
    """

    def __init__(self, widths: Sequence[int], dropout: float = 0.2):
        super().__init__()
        widths = [int(w) for w in widths]
        if len(widths) < 2 or min(widths) < 1:
            raise ValueError(f"the critic needs an input and an output width, got {widths}")
        layers: list[nn.Module] = [nn.Linear(widths[0], widths[1])]
        for a, b in zip(widths[1:-1], widths[2:], strict=True):
            if len(layers) > 1:
                layers += [nn.Dropout(dropout), nn.ReLU()]
            layers.append(nn.Linear(a, b))
        self.net = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).float()


def sq_dists(z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
    """All squared Euclidean distances D^2(a_i, b_j), from the differences (cdist's matmul form loses small ones)."""
    return ((z_a[:, None, :] - z_b[None, :, :]) ** 2).sum(-1)


def _pairs_reverse(z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
    """Squared distances D^2(a_i, b_{-i-1}), i < len(a) (src/main.py's pairing)."""
    return ((z_a - z_b.flip(0)[: z_a.shape[0]]) ** 2).sum(1)


class Adversary(nn.Module):
    """A critic loss and an encoder loss; ``multiplier`` is the Lagrange multiplier where the loss has one."""

    uses_margin = False
    encoder_needs_strong = False

    def __init__(self, rho: float = FISHER_RHO):
        super().__init__()
        self.rho = rho
        self.register_buffer("multiplier", torch.zeros(()))
        self._constraint: float | None = None

    def critic_loss(self, z_s: torch.Tensor, z_w: torch.Tensor, margin: float | None = None) -> torch.Tensor:
        raise NotImplementedError

    def encoder_loss(self, z_s: torch.Tensor | None, z_w: torch.Tensor) -> torch.Tensor:
        return -z_w.mean()  # L_adv (Algorithm 1, line 7); FisherGAN's -E_Q f with f = the mean output

    def after_critic_step(self) -> None:
        """Update the multiplier from the constraint of the last critic loss (no-op without a constraint)."""

    def _augmented(self, constraint: torch.Tensor) -> torch.Tensor:
        """lambda c - rho/2 c^2 for the constraint c, which the next `after_critic_step` reads."""
        self._constraint = float(constraint.detach())
        return self.multiplier * constraint - self.rho / 2 * constraint**2


class ContrastiveLoss(Adversary):
    """CAF's critic loss. ``pairs="all"`` (paper): Eq. 7 minimised, mean D^2 over strong pairs i < j plus half the
    mean hinge max(0, margin - D^2) over all strong-weak pairs. ``pairs="reverse"`` (src/main.py): d_ap = D^2(s_i,
    s_{-i-1}), d_an = max(0, margin - D^2(s_i, w_{-i-1})), loss E d_ap + E d_an, with ``fisher=True`` plus the code's
    Fisher term Lambda c - rho/2 c^2, c = 1 - (E d_ap^2 + E d_an^2)/2, and Lambda += rho c after the step (the
    code's signs: the multiplier moves as FisherGAN's with the sign flipped, the rho/2 c^2 penalty rewards c != 0).
    """

    uses_margin = True

    def __init__(self, pairs: str = "all", fisher: bool = False, rho: float = FISHER_RHO):
        super().__init__(rho)
        if pairs not in ("all", "reverse"):
            raise ValueError(f"pairs must be 'all' or 'reverse', got {pairs!r}")
        self.pairs, self.fisher = pairs, fisher

    def hinge_gaps(self, z_s: torch.Tensor, z_w: torch.Tensor, margin: float) -> torch.Tensor:
        """margin - D^2 over the strong-weak pairs this loss reads (> 0: the hinge is active)."""
        d2 = _pairs_reverse(z_s, z_w) if self.pairs == "reverse" else sq_dists(z_s, z_w).flatten()
        return margin - d2

    def critic_loss(self, z_s: torch.Tensor, z_w: torch.Tensor, margin: float | None = None) -> torch.Tensor:
        if z_s.shape[0] == 0 or z_w.shape[0] == 0 or margin is None:
            raise ValueError("the contrastive loss needs a strong and a weak sample and a margin")
        inter = torch.relu(self.hinge_gaps(z_s, z_w, margin))
        if self.pairs == "all":
            iu = torch.triu_indices(z_s.shape[0], z_s.shape[0], offset=1, device=z_s.device)
            d2 = sq_dists(z_s, z_s)[iu[0], iu[1]]
            intra = d2.mean() if d2.numel() else z_s.new_zeros(())
            return intra + 0.5 * inter.mean()
        intra = _pairs_reverse(z_s, z_s)
        loss = intra.mean() + inter.mean()
        if not self.fisher:
            return loss
        return loss + self._augmented(1 - (0.5 * (intra**2).mean() + 0.5 * (inter**2).mean()))

    def after_critic_step(self) -> None:
        if self.fisher and self._constraint is not None:
            self.multiplier += self.rho * self._constraint
            self._constraint = None


class FisherGAN(Adversary):
    """FisherGAN's critic loss -L_F on the scalar critic f = mean of the outputs (see the module)."""

    def critic_loss(self, z_s: torch.Tensor, z_w: torch.Tensor, margin: float | None = None) -> torch.Tensor:
        f_p, f_q = z_s.mean(1), z_w.mean(1)
        return -(f_p.mean() - f_q.mean() + self._augmented(1 - 0.5 * ((f_p**2).mean() + (f_q**2).mean())))

    def after_critic_step(self) -> None:
        if self._constraint is not None:
            self.multiplier -= self.rho * self._constraint
            self._constraint = None


def sphere_distance(z: torch.Tensor) -> torch.Tensor:
    """Geodesic distance from the north pole of z's inverse stereographic projection: 2 atan(1 / |z|)."""
    return 2 * torch.atan2(torch.ones_like(z[:, 0]), z.norm(dim=1))


class SphereGAN(Adversary):
    """SphereGAN's moment-matching critic loss on the sphere (see the module)."""

    def __init__(self, moments: int = SPHERE_MOMENTS):
        super().__init__()
        self.moments = moments

    def _moments(self, z: torch.Tensor) -> torch.Tensor:
        d = sphere_distance(z)
        return sum(d**r for r in range(1, self.moments + 1)).mean()

    def critic_loss(self, z_s: torch.Tensor, z_w: torch.Tensor, margin: float | None = None) -> torch.Tensor:
        return self._moments(z_w) - self._moments(z_s)

    def encoder_loss(self, z_s: torch.Tensor | None, z_w: torch.Tensor) -> torch.Tensor:
        return -self._moments(z_w)


class GRAMNet(Adversary):
    """GRAM-net's ratio-matching critic loss and MMD encoder loss in the critic's space (see the module)."""

    encoder_needs_strong = True

    def __init__(self, sigma2: Sequence[float] = GRAM_SIGMA2, ridge: float = GRAM_RIDGE):
        super().__init__()
        self.sigma2, self.ridge = tuple(sigma2), ridge

    def _kernels(self, z_s: torch.Tensor, z_w: torch.Tensor):
        s, w = z_s.double(), z_w.double()
        d_ww, d_ws, d_ss = sq_dists(w, w), sq_dists(w, s), sq_dists(s, s)
        for s2 in self.sigma2:
            yield torch.exp(-d_ww / (2 * s2)), torch.exp(-d_ws / (2 * s2)), torch.exp(-d_ss / (2 * s2))

    def ratio(self, z_s: torch.Tensor, z_w: torch.Tensor) -> torch.Tensor:
        """p/q at the weak samples: (n_w / n_s) (K_ww + ridge I)^{-1} K_ws 1, averaged over the kernels."""
        n_w, n_s = z_w.shape[0], z_s.shape[0]
        eye = torch.eye(n_w, dtype=torch.float64, device=z_w.device)
        r = [(n_w / n_s) * torch.linalg.solve(k_ww + self.ridge * eye, k_ws.sum(1, keepdim=True)).squeeze(1)
             for k_ww, k_ws, _ in self._kernels(z_s, z_w)]
        return torch.stack(r).mean(0)

    def critic_loss(self, z_s: torch.Tensor, z_w: torch.Tensor, margin: float | None = None) -> torch.Tensor:
        r = self.ratio(z_s, z_w)
        return (-((r - 1) ** 2).mean() - r.mean()).float()

    def encoder_loss(self, z_s: torch.Tensor | None, z_w: torch.Tensor) -> torch.Tensor:
        mmd2 = sum(k_ww.mean() - 2 * k_ws.mean() + k_ss.mean() for k_ww, k_ws, k_ss in self._kernels(z_s, z_w))
        return mmd2.clamp_min(1e-12).sqrt().float()


def make_adversary(name: str, pairs: str = "all", fisher: bool = False) -> Adversary:
    """The adversary called ``name`` (one of ADVERSARIES); ``pairs``/``fisher`` shape CAF's contrastive loss."""
    if name == "caf":
        return ContrastiveLoss(pairs, fisher)
    makers = {"fishergan": FisherGAN, "spheregan": SphereGAN, "gramnet": GRAMNet}
    if name not in makers:
        raise ValueError(f"unknown adversary {name!r}; choose one of {', '.join(ADVERSARIES)}")
    return makers[name]()


def active_share(gaps: torch.Tensor) -> float:
    """Share of strong-weak pairs whose hinge is active (margin - D^2 > 0)."""
    return float((gaps > 0).double().mean()) if gaps.numel() else math.nan
