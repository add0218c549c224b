"""CAF's grouping of a batch into strong (P) and weak (Q) emotions: the paper's Otsu rule and the public code's.

- ``paper`` (Algorithm 1, line 3): Otsu thresholds delta_v, delta_a of |valence| and |arousal|, delta_r =
  sqrt(delta_a^2 + delta_v^2); weak if the label radius is below delta_r, strong otherwise (radius >= 1, possible
  since the radius reaches sqrt 2, goes to the strong group). Otsu runs on a 256-bin histogram of the batch.
- ``code`` (kdhht2334/Contrastive-Adversarial-Learning-FER, src/main.py and src/utils.py): `cumulative_threshold`
  of the raw (signed) valence and of the raw arousal, th = sqrt(th_v^2 + th_a^2); strong if the SQUARED radius
  exceeds th + 0.25, weak if it is below; if either group is empty the weak group is rebuilt from r^2 < 0.3 and
  samples with r^2 > 0.65 are appended to the strong group (a sample can then appear twice); if the strong group
  is still empty it becomes the weak group; both are cut to the smaller size. The result depends on the order of
  the batch, not only on its values (see `cumulative_threshold`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

CODE_OFFSET = 0.25  # added to th before comparing with the squared radius (src/main.py)
CODE_FALLBACK = (0.65, 0.3)  # squared-radius cuts for strong / weak when a group came out empty (src/main.py)


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


def _va(valence, arousal) -> tuple[np.ndarray, np.ndarray]:
    v = torch.as_tensor(valence).detach().cpu().double().flatten().numpy()
    a = torch.as_tensor(arousal).detach().cpu().double().flatten().numpy()
    if v.shape != a.shape:
        raise ValueError("valence and arousal must have the same length")
    return v, a


def strong_weak_split(valence, arousal) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Indices of the strong (P) and weak (Q) samples and delta_r (Algorithm 1, line 3)."""
    v, a = _va(valence, arousal)
    delta_r = math.sqrt(otsu_threshold(np.abs(a)) ** 2 + otsu_threshold(np.abs(v)) ** 2)
    radius = np.sqrt(v**2 + a**2)
    return torch.from_numpy(np.flatnonzero(radius >= delta_r)), torch.from_numpy(np.flatnonzero(radius < delta_r)), \
        delta_r


def cumulative_threshold(values, thr1: float = 0.75, thr2: float = 0.95) -> float:
    """src/utils.py ``cumulative_thresholding(d, thr1, thr2)``, in float64 (the code sums in float32).

    With d in batch order: i_m = (argmin d + argmax d) // 2 (first occurrences); return sum(d[:i_m + 1]) /
    sum(d) as soon as that partial sum w_l satisfies w_l >= thr1 * w or w_l < thr2 * w (w = sum d), else move
    i_m on by 2. For w > 0 and thr1 <= thr2 the test always passes at once, so the value is the share of the
    batch's total that the samples up to the midpoint of the min's and max's positions hold: a function of
    the order of the batch, any real number (inf or nan where w == 0). The loop ends once i_m passes the end
    (then w_l == w) for thresholds below 1.
    """
    d = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values, dtype=np.float64).ravel()
    if d.size == 0:
        raise ValueError("cumulative thresholding needs at least one value")
    i_m = (int(np.argmin(d)) + int(np.argmax(d))) // 2
    w = d.sum()
    for _ in range(d.size + 1):
        w_l = d[: i_m + 1].sum()
        if w_l >= w * thr1 or w_l < w * thr2:
            break
        i_m += 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(w_l) / w)


def code_groups(valence, arousal) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Strong and weak indices of equal length (possibly 0) and th, as src/main.py groups a batch (see module)."""
    v, a = _va(valence, arousal)
    th = math.sqrt(cumulative_threshold(v) ** 2 + cumulative_threshold(a) ** 2)
    r2 = v**2 + a**2
    strong = np.flatnonzero(r2 > th + CODE_OFFSET).tolist()
    weak = np.flatnonzero(r2 < th + CODE_OFFSET).tolist()
    if not strong or not weak:
        strong += np.flatnonzero(r2 > CODE_FALLBACK[0]).tolist()
        weak = np.flatnonzero(r2 < CODE_FALLBACK[1]).tolist()
    if not strong:
        strong = weak
    m = min(len(strong), len(weak))
    return torch.tensor(strong[:m], dtype=torch.long), torch.tensor(weak[:m], dtype=torch.long), th


def code_critic_count(m: int) -> int:
    """How many of the m paired samples the code's critic step reads: an even count (``msize * 2``), or 1."""
    return m if m <= 1 else m - m % 2
