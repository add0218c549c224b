import numpy as np
import pytest
import torch

from losses import DACLAttention, SparseCenterLoss, sparse_center_gradients


def _case(seed=0, m=12, d=6, k=3):
    g = torch.Generator().manual_seed(seed)
    feat = torch.randn(m, d, generator=g, dtype=torch.float64)
    attn = torch.rand(m, d, generator=g, dtype=torch.float64) * 0.98 + 0.01
    labels = torch.randint(0, k, (m,), generator=g)
    loss = SparseCenterLoss(k, d).double()
    return feat, attn, labels, loss


def test_eq4_transcription():
    feat, attn, labels, loss = _case()
    x, a, c, y = feat.numpy(), attn.numpy(), loss.centers.numpy(), labels.numpy()
    m, d = x.shape
    ref = sum(a[i, j] * (x[i, j] - c[y[i], j]) ** 2 for i in range(m) for j in range(d)) / (2 * m)
    assert loss(feat, attn, labels).item() == pytest.approx(ref, rel=1e-12)


def test_equal_weights_reduce_to_center_loss_eq3():
    feat, _, labels, loss = _case(1)
    x, c, y = feat.numpy(), loss.centers.numpy(), labels.numpy()
    center = sum(((x[i] - c[y[i]]) ** 2).sum() for i in range(len(y))) / (2 * len(y))
    assert loss(feat, torch.ones_like(feat), labels).item() == pytest.approx(center, rel=1e-12)
    assert loss(feat, torch.full_like(feat, 0.3), labels).item() == pytest.approx(0.3 * center, rel=1e-12)


def test_autograd_matches_eq9_eq10():
    feat, attn, labels, loss = _case(2)
    feat.requires_grad_(True)
    attn.requires_grad_(True)
    loss(feat, attn, labels).backward()
    g_x, g_a = sparse_center_gradients(feat.detach(), attn.detach(), labels, loss.centers)
    torch.testing.assert_close(feat.grad, g_x)
    torch.testing.assert_close(attn.grad, g_a)


def test_center_update_eq11():
    feat, attn, labels, loss = _case(3)
    before = loss.centers.clone().numpy()
    loss.update_centers(feat, attn, labels)
    x, a, y = feat.numpy(), attn.numpy(), labels.numpy()
    for k in range(3):
        sel = y == k
        delta = (a[sel] * (before[k] - x[sel])).sum(0) / (1.0 + sel.sum())
        np.testing.assert_allclose(loss.centers[k].numpy(), before[k] - 0.5 * delta, rtol=1e-12)
    # repeated updates pull a center toward its class mean
    only = torch.zeros(12, dtype=torch.long)
    target = feat.mean(0)
    for _ in range(200):
        loss.update_centers(feat, torch.ones_like(feat), only)
    torch.testing.assert_close(loss.centers[0], target, atol=1e-6, rtol=0)


def test_attention_weights_in_open_unit_interval_and_trainable():
    torch.manual_seed(0)
    net = DACLAttention.for_feature_map(8, 4, 4, feat_dim=8, hidden_dims=(32, 16, 4))
    context = torch.randn(5, 8, 4, 4)
    a = net(context)
    assert a.shape == (5, 8)
    assert bool(((a > 0) & (a < 1)).all())
    feat = context.mean(dim=(2, 3))
    loss = SparseCenterLoss(3, 8)
    total = loss.total_loss(torch.tensor(1.0), loss(feat, a, torch.tensor([0, 1, 2, 0, 1])))
    total.backward()
    assert net.heads.weight.grad is not None and net.heads.weight.grad.abs().sum() > 0
    assert loss.lam == 0.01 and loss.alpha == 0.5
    with pytest.raises(ValueError):
        net(torch.randn(5, 8, 3, 3))
