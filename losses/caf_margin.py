"""CAF's adaptive margin alpha_hat = MI(g(Z_s), g(Z_w)) + Delta(N, K) (Eq. 5, 8) and Table 4's replacements of Delta.

Readings (the paper defines the terms; the public code computes neither as written, see `losses.caf`):
- MI = -1/2 log(1 - eta^2) (Eq. 8) with g(z) = exp(-z^2 / (2 * 0.2)) element-wise (the code's kernel variance
  0.2). eta is taken per latent dimension over the paired samples (the pairing is the reading's: rows cut to the
  smaller group, or the code's s_i with w_{-i-1}) and eta^2 averaged over dimensions, a dimension whose g varies
  by less than 1e-6 (std) counting 0: a collapsed critic's outputs differ only by float32 noise, whose
  correlations reach +-1 (MI 13.8 on the tuned AlexNet under the paper's reading before this guard). Over
  flattened outputs instead, eta measures how the per-dimension means line up (MI ~ 4.7 on the tuned AlexNet at
  initialisation, every hinge active).
- Delta(N, K) = log(N / c) / (2K) (Eq. 8's algebra: log((N/c)^(1/(2K)))), c = 0.05, N the batch size.
- K ("the number of samples in the margin that is automatically determined by the empirical bias", Balsubramani
  et al. 2019's adaptive k-NN, AKNN): for each point of Z_s u Z_w, labelled strong/weak, the smallest k in 1..n-1
  at which the label bias among its k nearest neighbours (majority share - 1/2) exceeds Delta(N, k) itself (AKNN
  compares the bias with a confidence interval; here the paper's); K is the MEAN over the points. A point that no
  k resolves takes k = N - 1, the whole batch (not n - 1: with groups of a few samples no k <= n - 1 can pass, as
  the bias is at most 1/2, and Delta would reach 3.2). Neighbours at equal distance count by their mean label.
  So K lies in [k_min, N - 1], k_min the smallest k with log(N/c)/(2k) < 1/2, and Delta in
  [log(N/c)/(2(N-1)), 1/2): separated groups give ~0.45-0.49, mixed ones the floor (0.104 at N = 32, 0.031 at
  N = 128, 0.017 at N = 256). Delta grows as the critic separates the groups, as Sec. 4 says; the mean moves
  smoothly with the share of resolved points where the median jumps between the two ends.
- MI needs 3 pairs (two points always correlate fully); with fewer it is 0. Its small-sample bias remains: for
  independent groups E[eta^2] = 1/(m-1) over m pairs, MI ~ 1/(2(m-1)).
- The margin is a number, not a function of the critic's parameters (no gradient through MI or Delta).
- Table 4 replaces Delta and keeps MI: constant kappa (0.2), linear kappa' = 0.1 + 5e-3 x epochs completed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

CONFIDENCE_C = 0.05  # Sec. 4: "The confidence parameter c is set to 0.05"
KERNEL_VAR = 0.2  # src/utils.py mutual_info: var = 0.2
FLAT_STD = 1e-6  # g(z) in (0, 1] varying less than this over the pairs is float32 noise of a constant output


def confidence_interval(batch_size: int, k, c: float = CONFIDENCE_C):
    """Delta(N, k) = log(N / c) / (2k) (Eq. 8), for a scalar or an array of k."""
    return math.log(batch_size / c) / (2 * np.asarray(k, dtype=np.float64))


def pair(z_s: torch.Tensor, z_w: torch.Tensor, pairing: str = "truncate") -> tuple[torch.Tensor, torch.Tensor]:
    """Rows paired for MI: ``truncate`` (s_i, w_i), i < min sizes; ``reverse`` (s_i, w_{-i-1}) as src/main.py."""
    m = min(z_s.shape[0], z_w.shape[0])
    if pairing == "truncate":
        return z_s[:m], z_w[:m]
    if pairing == "reverse":
        return z_s[:m], z_w.flip(0)[:m]
    raise ValueError(f"pairing must be 'truncate' or 'reverse', got {pairing!r}")


def mutual_information(z_s: torch.Tensor, z_w: torch.Tensor, kernel_var: float = KERNEL_VAR,
                       pairing: str = "truncate") -> float:
    """MI(g(Z_s), g(Z_w)) = -1/2 log(1 - mean_j eta_j^2), eta_j per latent dimension over paired rows."""
    with torch.no_grad():
        a, b = pair(z_s.detach().double(), z_w.detach().double(), pairing)
        if a.shape[0] < 3:
            return 0.0  # two points always correlate fully: no estimate
        ga, gb = torch.exp(-a**2 / (2 * kernel_var)), torch.exp(-b**2 / (2 * kernel_var))
        ga, gb = ga - ga.mean(0), gb - gb.mean(0)
        va, vb = (ga * ga).mean(0), (gb * gb).mean(0)
        varies = (va > FLAT_STD**2) & (vb > FLAT_STD**2)  # else constant up to float32 noise: eta = 0
        eta = torch.where(varies, (ga * gb).mean(0) / torch.sqrt(torch.where(varies, va * vb, 1.0)), 0.0)
        eta2 = float((eta**2).mean().clamp(max=1 - 1e-12))
        return max(0.0, -0.5 * math.log(1.0 - eta2))


def _tie_means(dist: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """Labels of each row's sorted neighbours, those at equal distance replaced by their mean (the expected
    label of each place over the orders of the tie), so coincident points do not look separated by index."""
    rows, cols = dist.shape
    block = np.cumsum(np.c_[np.ones((rows, 1), bool), dist[:, 1:] != dist[:, :-1]], axis=1) - 1
    block += cols * np.arange(rows)[:, None]
    sums = np.bincount(block.ravel(), lab.ravel(), rows * cols)
    counts = np.bincount(block.ravel(), None, rows * cols)
    return (sums / np.maximum(counts, 1))[block]


def aknn_sizes(points: torch.Tensor, labels: torch.Tensor, batch_size: int, c: float = CONFIDENCE_C) -> np.ndarray:
    """Each point's adaptive neighbourhood size (see the module), neighbours by Euclidean distance."""
    x = points.detach().cpu().double().numpy()
    y = labels.detach().cpu().numpy().astype(np.float64)
    n = x.shape[0]
    if n < 2:
        return np.full(n, batch_size - 1.0)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    order = np.argsort(d2, axis=1, kind="stable")[:, : n - 1]
    lab = _tie_means(np.take_along_axis(d2, order, 1), y[order])
    ks = np.arange(1, n)
    bias = np.abs(np.cumsum(lab, axis=1) / ks - 0.5)  # majority share - 1/2 among the k nearest
    admissible = bias > confidence_interval(batch_size, ks, c)
    return np.where(admissible.any(1), admissible.argmax(1) + 1, batch_size - 1).astype(np.float64)


def aknn_k(z_s: torch.Tensor, z_w: torch.Tensor, batch_size: int, c: float = CONFIDENCE_C) -> float:
    """K of Delta(N, K): the mean adaptive neighbourhood size over the points of Z_s u Z_w."""
    points = torch.cat([z_s.detach(), z_w.detach()])
    labels = torch.cat([torch.ones(z_s.shape[0]), torch.zeros(z_w.shape[0])])
    return float(aknn_sizes(points, labels, batch_size, c).mean())


@dataclass(frozen=True)
class Margin:
    """One step's margin and its parts: value = mi + delta; k is AKNN's K (None where Delta is replaced)."""

    value: float
    mi: float
    delta: float
    k: float | None


def adaptive_margin(z_s: torch.Tensor, z_w: torch.Tensor, batch_size: int, c: float = CONFIDENCE_C,
                    kernel_var: float = KERNEL_VAR, pairing: str = "truncate") -> float:
    """alpha_hat = MI(g(Z_s), g(Z_w)) + Delta(N, K) (Eq. 5, 8), as a plain float (no gradient)."""
    return MarginSchedule(c=c, kernel_var=kernel_var).evaluate(z_s, z_w, batch_size, pairing).value


class MarginSchedule:
    """The critic's margin per step: Eq. 5's adaptive alpha_hat, or Table 4's ablations with Delta replaced.

    ``adaptive``: MI + Delta(N, K); ``constant:KAPPA``: MI + kappa; ``linear:START,SLOPE``: MI + START + SLOPE x
    `epochs_done` (the trainer sets it: epochs completed before the current one, 0 in the first).
    """

    def __init__(self, kind: str = "adaptive", start: float = 0.0, slope: float = 0.0, c: float = CONFIDENCE_C,
                 kernel_var: float = KERNEL_VAR):
        if kind not in ("adaptive", "constant", "linear"):
            raise ValueError(f"unknown margin schedule {kind!r}; choose adaptive, constant or linear")
        self.kind, self.start, self.slope, self.c, self.kernel_var = kind, float(start), float(slope), c, kernel_var
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

    def evaluate(self, z_s: torch.Tensor, z_w: torch.Tensor, batch_size: int, pairing: str = "truncate") -> Margin:
        """The margin for critic outputs z_s, z_w of a batch of ``batch_size`` (MI paired by ``pairing``)."""
        mi = mutual_information(z_s, z_w, self.kernel_var, pairing)
        if self.kind == "adaptive":
            k = aknn_k(z_s, z_w, batch_size, self.c)
            delta = float(confidence_interval(batch_size, k, self.c))
            return Margin(mi + delta, mi, delta, k)
        delta = self.start + self.slope * self.epochs_done
        return Margin(mi + delta, mi, delta, None)

    def __call__(self, z_s: torch.Tensor, z_w: torch.Tensor, batch_size: int) -> float:
        return self.evaluate(z_s, z_w, batch_size).value
