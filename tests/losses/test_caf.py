"""CAF's equations against independent float64 arithmetic: grouping, margin (MI, AKNN K, Delta), critic losses."""

import functools
import math

import numpy as np
import pytest
import torch

from losses import (
    MarginSchedule,
    adaptive_margin,
    aknn_k,
    code_groups,
    confidence_interval,
    cumulative_threshold,
    make_adversary,
    mutual_information,
    otsu_threshold,
    strong_weak_split,
)
from losses.caf_adversaries import GRAMNet, sphere_distance
from losses.caf_grouping import code_critic_count


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


def test_cumulative_threshold_hand_worked():
    # argmin at 1, argmax at 2: i_m = 1; w = 1.0, w_l = 0.2 - 0.5 = -0.3 passes at once (-0.3 < 0.95 w)
    assert cumulative_threshold([0.2, -0.5, 0.9, 0.1, 0.3]) == pytest.approx(-0.3)
    # w = -1: argmin 1, argmax 4, i_m = 2: w_l = -0.9 lies in [0.95 w, 0.75 w) so i_m moves to 4: w_l = -0.5
    assert cumulative_threshold([-0.4, -0.6, 0.1, -0.1, 0.5, -0.5]) == pytest.approx(0.5)
    assert math.isinf(cumulative_threshold([0.2, -0.2]))  # w == 0: the code divides by zero


def test_code_groups_hand_worked():
    # th_v: i_m = (2 + 0)//2 = 1, 1.0 / 1.0; th_a: i_m = (3 + 5)//2 = 4, 1.0 / 1.7; th = 1.1602, th + 0.25 = 1.41
    # exceeds every r^2, so the fallback: strong r^2 > 0.65 -> 0, 2, 5; weak r^2 < 0.3 -> 1, 3, 4
    v = [0.9, 0.1, -0.8, 0.2, 0.0, 0.6]
    a = [0.3, 0.1, 0.5, -0.1, 0.2, 0.7]
    strong, weak, th = code_groups(v, a)
    assert th == pytest.approx(math.hypot(1.0, 1.0 / 1.7))
    assert strong.tolist() == [0, 2, 5] and weak.tolist() == [1, 3, 4]
    assert code_critic_count(3) == 2 and code_critic_count(1) == 1 and code_critic_count(0) == 0
    # th = 0: every r^2 > 0.25, no weak sample; the fallback appends r^2 > 0.65 (sample 2 again) to the strong
    # group and takes weak from r^2 < 0.3: 0.2925, 0.2925, 0.2825 -> samples 0 and 1 end up in both groups
    strong, weak, th = code_groups([0.3, -0.3, 0.6, 0.5, 0.4], [0.45, -0.45, 0.6, 0.5, 0.35])
    assert th == 0.0 and strong.tolist() == [0, 1, 2] and weak.tolist() == [0, 1, 4]
    # th = inf (w = 0): all weak, none strong; fallback finds no r^2 > 0.65, so the strong group IS the weak one
    strong, weak, _ = code_groups([0.2, -0.2], [0.1, -0.1])
    assert strong.tolist() == weak.tolist() == [0, 1]
    # r^2 = 0.5 everywhere: all strong, then the fallback finds no weak sample -> both empty
    strong, weak, _ = code_groups([0.5] * 8, [0.5] * 8)
    assert strong.numel() == weak.numel() == 0


def test_mutual_information_per_dimension():
    g = torch.Generator().manual_seed(1)
    zs = torch.randn(6, 4, generator=g, dtype=torch.float64)
    zw = torch.randn(8, 4, generator=g, dtype=torch.float64)
    zs[:, 3] = 0.7  # a constant dimension contributes eta = 0, and so does one constant up to float32 noise
    zs[:, 2] = 0.7 + 1e-8 * torch.randn(6, generator=g, dtype=torch.float64)

    def ref(a, b):
        ga, gb = np.exp(-a**2 / 0.4), np.exp(-b**2 / 0.4)
        eta2 = [0.0 if ga[:, j].std() < 1e-6 else np.corrcoef(ga[:, j], gb[:, j])[0, 1] ** 2 for j in range(4)]
        return -0.5 * np.log(1 - np.mean(eta2))

    s, w = zs.numpy(), zw.numpy()
    assert mutual_information(zs, zw) == pytest.approx(ref(s, w[:6]), rel=1e-12)
    assert mutual_information(zs, zw, pairing="reverse") == pytest.approx(ref(s, w[::-1][:6]), rel=1e-12)
    assert mutual_information(zs[:2], zw[:2]) == 0.0  # two pairs always correlate fully: no estimate


def test_aknn_k_on_a_hand_made_line():
    # labels s s w w s w at 0, 1, 1.5, 4, 4.5, 6; with log(N/c) = 1.2 the interval is 0.6 / k. C's two nearest
    # (B, A) are strong and E's (D, F) weak: bias 0.5 > 0.3 at k = 2. A, B, D, F never pass (bias 0, 1/6, 0,
    # 1/10 at k = 2..5 against 0.3, 0.2, 0.15, 0.12) and take k = N - 1 = 7: K = (4 * 7 + 2 * 2) / 6
    n_batch = 8
    c = n_batch / math.exp(1.2)
    z_s = torch.tensor([[0.0], [1.0], [4.5]], dtype=torch.float64)
    z_w = torch.tensor([[1.5], [4.0], [6.0]], dtype=torch.float64)
    k = aknn_k(z_s, z_w, n_batch, c)
    assert k == pytest.approx(32 / 6)
    assert confidence_interval(n_batch, k, c) == pytest.approx(1.2 / (2 * 32 / 6))
    # coincident points: no neighbourhood is biased whatever the order of the tie -> every k = N - 1
    assert aknn_k(torch.zeros(4, 3), torch.zeros(4, 3), 32) == 31
    # two far clusters: each point resolves at the first k with log(N/c) / (2k) < 1/2 (k = 7 for N = 32)
    g = torch.Generator().manual_seed(0)
    far = aknn_k(torch.randn(16, 3, generator=g), torch.randn(16, 3, generator=g) + 50, 32)
    assert far == 7 and confidence_interval(32, far) == pytest.approx(math.log(32 / 0.05) / 14)


def test_delta_grows_as_the_groups_separate():
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(32, 16, generator=g), torch.randn(32, 16, generator=g)
    deltas = [adaptive_margin(a, b + shift, 64) - mutual_information(a, b + shift) for shift in (0.0, 0.5, 1.0, 3.0)]
    floor = math.log(64 / 0.05) / 126  # every point unresolved: K = N - 1
    assert deltas == sorted(deltas) and floor <= deltas[0] < 1.1 * floor  # mixed: a few points resolve by chance
    assert deltas[-1] == pytest.approx(math.log(64 / 0.05) / 16) and deltas[-1] < 0.5


def test_margin_schedules_replace_delta_and_keep_mi():
    g = torch.Generator().manual_seed(3)
    z_s, z_w = torch.randn(6, 4, generator=g), torch.randn(5, 4, generator=g)
    mi = mutual_information(z_s, z_w)
    assert MarginSchedule.parse("constant:0.2")(z_s, z_w, 11) == pytest.approx(mi + 0.2)
    linear = MarginSchedule.parse("linear:0.1,5e-3")
    linear.epochs_done = 4
    m = linear.evaluate(z_s, z_w, 11, "reverse")
    assert m.value == pytest.approx(mutual_information(z_s, z_w, pairing="reverse") + 0.12) and m.k is None
    adaptive = MarginSchedule.parse(" adaptive ").evaluate(z_s, z_w, 11)
    assert adaptive.value == pytest.approx(adaptive.mi + confidence_interval(11, adaptive.k)) and adaptive.k >= 1
    assert linear.spec == "linear:0.1,0.005" and MarginSchedule.parse("adaptive").spec == "adaptive"
    for bad in ("linear:0.1", "constant:x", "kappa"):
        with pytest.raises(ValueError, match="expected adaptive"):
            MarginSchedule.parse(bad)


def _data(seed, n_s=4, n_w=5, d=3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n_s, d, generator=g, dtype=torch.float64), torch.randn(n_w, d, generator=g, dtype=torch.float64)


def test_contrastive_loss_paper_eq7():
    zs, zw = _data(0)
    s, w, margin = zs.numpy(), zw.numpy(), 6.0
    intra = [((s[i] - s[j]) ** 2).sum() for i in range(4) for j in range(i + 1, 4)]
    inter = [max(0.0, margin - ((s[i] - w[j]) ** 2).sum()) for i in range(4) for j in range(5)]
    loss = make_adversary("caf", pairs="all").critic_loss(zs, zw, margin)
    assert loss.item() == pytest.approx(np.mean(intra) + 0.5 * np.mean(inter), rel=1e-12)
    assert make_adversary("caf").encoder_loss(None, zw).item() == pytest.approx(-w.mean())


def test_contrastive_loss_code_form_and_the_fisher_multiplier():
    zs, zw = _data(1, 4, 4)
    s, w, margin, lam, rho = zs.numpy(), zw.numpy(), 3.0, 0.3, 1e-6
    d_ap = np.array([((s[i] - s[3 - i]) ** 2).sum() for i in range(4)])
    d_an = np.array([max(0.0, margin - ((s[i] - w[3 - i]) ** 2).sum()) for i in range(4)])
    c = 1 - (0.5 * (d_ap**2).mean() + 0.5 * (d_an**2).mean())
    adv = make_adversary("caf", pairs="reverse", fisher=True)
    adv.multiplier.fill_(lam)
    loss = adv.critic_loss(zs, zw, margin)
    assert loss.item() == pytest.approx(d_ap.mean() + d_an.mean() + lam * c - rho / 2 * c**2, rel=1e-6)
    adv.after_critic_step()  # src/main.py: Lambda.data += rho * Lambda.grad, the grad of D_loss in Lambda being c
    assert adv.multiplier.item() == pytest.approx(lam + rho * c, rel=1e-7)
    assert "multiplier" in adv.state_dict()
    gaps = adv.hinge_gaps(zs, zw, margin)
    np.testing.assert_allclose(gaps.numpy(), margin - np.array([((s[i] - w[3 - i]) ** 2).sum() for i in range(4)]))


def test_fishergan_loss_and_multiplier_update():
    zs, zw = _data(2)
    f_p, f_q, lam, rho = zs.numpy().mean(1), zw.numpy().mean(1), -0.2, 1e-6
    c = 1 - 0.5 * ((f_p**2).mean() + (f_q**2).mean())
    adv = make_adversary("fishergan")
    adv.multiplier.fill_(lam)
    loss = adv.critic_loss(zs, zw)
    assert loss.item() == pytest.approx(-(f_p.mean() - f_q.mean() + lam * c - rho / 2 * c**2), rel=1e-6)
    adv.after_critic_step()  # Mroueh & Sercu Alg. 1: lambda <- lambda - rho * dL_F/dlambda
    assert adv.multiplier.item() == pytest.approx(lam - rho * c, rel=1e-6)
    assert adv.encoder_loss(None, zw).item() == pytest.approx(-f_q.mean())


def test_spheregan_geodesic_moments():
    zs, zw = _data(3)

    def moments(z):  # inverse stereographic projection, then arccos of the last coordinate (north pole N)
        sq = (z**2).sum(1)
        d = np.arccos((sq - 1) / (sq + 1))
        return sum((d**r).mean() for r in (1, 2, 3))

    sq = (zs.numpy() ** 2).sum(1)
    np.testing.assert_allclose(sphere_distance(zs).numpy(), np.arccos((sq - 1) / (sq + 1)))
    adv = make_adversary("spheregan")
    assert adv.critic_loss(zs, zw).item() == pytest.approx(moments(zw.numpy()) - moments(zs.numpy()), rel=1e-10)
    assert adv.encoder_loss(None, zw).item() == pytest.approx(-moments(zw.numpy()), rel=1e-10)


def test_gramnet_ratio_and_mmd():
    zs, zw = _data(4, 6, 5)
    s, w = zs.numpy(), zw.numpy()

    def gauss(a, b, s2):
        return np.exp(-((a[:, None] - b[None]) ** 2).sum(-1) / (2 * s2))

    ratios, mmd2 = [], 0.0
    for s2 in (1.0, 2.0, 4.0, 8.0, 16.0):
        k = functools.partial(gauss, s2=s2)
        ratios.append(5 / 6 * np.linalg.solve(k(w, w) + 1e-3 * np.eye(5), k(w, s).sum(1)))
        mmd2 += k(w, w).mean() - 2 * k(w, s).mean() + k(s, s).mean()
    r = np.mean(ratios, 0)
    adv = GRAMNet()
    np.testing.assert_allclose(adv.ratio(zs, zw).numpy(), r, rtol=1e-9)
    assert adv.critic_loss(zs, zw).item() == pytest.approx(-((r - 1) ** 2).mean() - r.mean(), rel=1e-6)
    assert adv.encoder_loss(zs, zw).item() == pytest.approx(math.sqrt(mmd2), rel=1e-6)
    with pytest.raises(ValueError, match="unknown adversary"):
        make_adversary("wgan")
