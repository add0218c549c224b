import math

import numpy as np
import pytest
import torch
from torch import nn

from losses import (
    adaptive_margin,
    adversarial_loss,
    caf_training_step,
    critic_loss,
    otsu_threshold,
    strong_weak_split,
)


def _brute_otsu(v, nbins=256):
    # exhaustive between-class variance over the same histogram, written independently
    hist, edges = np.histogram(v, bins=nbins)
    mids = (edges[:-1] + edges[1:]) / 2
    best, arg = -1.0, None
    for i in range(nbins - 1):
        w0, w1 = hist[: i + 1].sum(), hist[i + 1 :].sum()
        if w0 == 0 or w1 == 0:
            continue
        m0 = (hist[: i + 1] * mids[: i + 1]).sum() / w0
        m1 = (hist[i + 1 :] * mids[i + 1 :]).sum() / w1
        var = w0 * w1 * (m0 - m1) ** 2
        if var > best:
            best, arg = var, edges[i + 1]
    return arg


def test_otsu_separates_two_modes():
    rng = np.random.default_rng(0)
    v = np.r_[rng.normal(0.1, 0.03, 200), rng.normal(0.7, 0.05, 100)]
    th = otsu_threshold(v)
    # the cut (values <= th are the low class) separates the two modes exactly, as the brute force does
    assert v[:200].max() <= th < v[200:].min()
    np.testing.assert_array_equal(v <= th, v <= _brute_otsu(v))
    assert otsu_threshold(np.full(5, 0.3)) == 0.3
    with pytest.raises(ValueError):
        otsu_threshold([])


def test_strong_weak_split_uses_delta_r():
    rng = np.random.default_rng(1)
    v = np.r_[rng.uniform(-0.1, 0.1, 40), rng.choice([-1, 1], 20) * rng.uniform(0.6, 0.7, 20)]
    a = np.r_[rng.uniform(-0.1, 0.1, 40), rng.choice([-1, 1], 20) * rng.uniform(0.5, 0.6, 20)]
    strong, weak, delta_r = strong_weak_split(v, a)
    assert delta_r == pytest.approx(math.hypot(otsu_threshold(np.abs(v)), otsu_threshold(np.abs(a))))
    assert sorted(strong.tolist()) == list(range(40, 60))
    assert sorted(weak.tolist()) == list(range(40))


def test_critic_loss_eq7_transcription():
    g = torch.Generator().manual_seed(0)
    zs = torch.randn(4, 3, generator=g, dtype=torch.float64)
    zw = torch.randn(5, 3, generator=g, dtype=torch.float64)
    margin = 6.0
    s, w = zs.numpy(), zw.numpy()
    intra = [((s[i] - s[j]) ** 2).sum() for i in range(4) for j in range(i + 1, 4)]
    inter = [max(0.0, margin - ((s[i] - w[j]) ** 2).sum()) for i in range(4) for j in range(5)]
    ref = np.mean(intra) + 0.5 * np.mean(inter)
    assert critic_loss(zs, zw, margin).item() == pytest.approx(ref, rel=1e-12)
    assert adversarial_loss(zw).item() == pytest.approx(-w.mean())


def test_adaptive_margin_eq8():
    g = torch.Generator().manual_seed(1)
    zs = torch.randn(6, 4, generator=g, dtype=torch.float64)
    zw = torch.randn(8, 4, generator=g, dtype=torch.float64)
    gs = np.exp(-zs.numpy()[:6] ** 2 / 0.4).ravel()
    gw = np.exp(-zw.numpy()[:6] ** 2 / 0.4).ravel()
    eta = np.corrcoef(gs, gw)[0, 1]
    mi = -0.5 * np.log(1 - eta**2)
    d2 = ((zs.numpy()[:, None, :] - zw.numpy()[None]) ** 2).sum(-1)
    k = max(int((d2 < mi).sum()), 1)
    ref = mi + np.log((14 / 0.05) ** (1 / (2 * k)))
    assert adaptive_margin(zs, zw, 14) == pytest.approx(ref, rel=1e-9)


def test_training_step_runs_in_order_and_updates_all():
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU())
    critic = nn.Linear(8, 4)
    reg = nn.Linear(8, 2)
    x = torch.randn(32, 3, 2, 2)
    va = torch.cat([torch.rand(16, 2) * 0.1, torch.rand(16, 2) * 0.3 + 0.6]) * torch.sign(torch.randn(32, 2))
    snaps = [m.weight.detach().clone() for m in (enc[1], critic, reg)]
    out = caf_training_step(
        enc, critic, reg, x, va,
        torch.optim.Adam(critic.parameters(), 1e-2),
        torch.optim.Adam(enc.parameters(), 1e-2),
        torch.optim.Adam([*enc.parameters(), *reg.parameters()], 1e-2),
    )
    assert out["n_strong"] == 16 and out["n_weak"] == 16
    assert all(math.isfinite(out[k]) for k in ("margin", "critic_loss", "adversarial_loss", "av_loss"))
    for before, m in zip(snaps, (enc[1], critic, reg), strict=True):
        assert not torch.equal(before, m.weight)
    assert all(p.requires_grad for p in critic.parameters())  # unfrozen again
