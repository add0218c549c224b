import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from losses import AVLoss, DimensionalMSELoss, FocalLoss, WeightedCrossEntropyLoss, class_weights


def _softmax64(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_focal_matches_eq17_transcription():
    torch.manual_seed(0)
    logits = torch.randn(16, 7, dtype=torch.float64)
    y = torch.randint(0, 7, (16,))
    p = _softmax64(logits.numpy())
    ref = np.mean([-0.25 * (1 - p[i, y[i]]) ** 2 * math.log(p[i, y[i]]) for i in range(16)])
    assert FocalLoss()(logits, y).item() == pytest.approx(ref, rel=1e-12)


def test_focal_all_classes_matches_the_public_code_transcription():
    """focal_loss2 of the authors' code: every class a binary focal term, summed over classes and batch."""
    torch.manual_seed(2)
    logits = torch.randn(16, 7, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 7, (16,))
    p = _softmax64(logits.detach().numpy())
    ref = sum(-0.25 * (1 - p[i, c]) ** 2 * math.log(p[i, c]) if c == y[i] else
              -0.75 * p[i, c] ** 2 * math.log(1 - p[i, c]) for i in range(16) for c in range(7))
    public = FocalLoss(form="all_classes", reduction="sum")(logits, y)
    assert public.item() == pytest.approx(ref, rel=1e-12)
    paper = FocalLoss(reduction="sum")(logits, y)
    assert public.item() > paper.item()  # the other classes' terms are all positive
    (g_public,) = torch.autograd.grad(public, logits)
    (g_paper,) = torch.autograd.grad(paper, logits)
    assert F.cosine_similarity(g_public.flatten(), g_paper.flatten(), dim=0).item() < 0.999  # another direction
    with pytest.raises(ValueError, match="form"):
        FocalLoss(form="binary")


def test_focal_reduces_to_cross_entropy():
    torch.manual_seed(1)
    logits = torch.randn(10, 5, dtype=torch.float64)
    y = torch.randint(0, 5, (10,))
    ce = F.cross_entropy(logits, y).item()
    assert FocalLoss(alpha=1.0, gamma=0.0)(logits, y).item() == pytest.approx(ce, rel=1e-12)


def test_focal_per_class_alpha():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([0, 1])
    p = _softmax64(logits.numpy())
    alpha = [0.3, 0.9]
    ref = np.mean([-alpha[i] * (1 - p[i, i]) ** 2 * math.log(p[i, i]) for i in range(2)])
    assert FocalLoss(alpha=alpha)(logits, y).item() == pytest.approx(ref)
    with pytest.raises(ValueError):
        FocalLoss(alpha=[0.1, 0.2, 0.3])(logits, y)
    with pytest.raises(ValueError):
        FocalLoss(gamma=-1)


def test_class_weights_eq7():
    w = class_weights(counts=[100, 25, 50])
    np.testing.assert_allclose(w.numpy(), [0.25, 1.0, 0.5])
    w2 = class_weights(labels=np.array([0, 0, 0, 0, 1, 2, 2]))
    np.testing.assert_allclose(w2.numpy(), [0.25, 1.0, 0.5])
    with pytest.raises(ValueError):
        class_weights(counts=[3, 0])
    with pytest.raises(ValueError):
        class_weights(labels=np.array([0, 1]), num_classes=3)  # class 2 has no sample


def test_weighted_ce_matches_eq5_transcription():
    torch.manual_seed(2)
    counts = np.array([40.0, 10.0, 20.0])
    logits = torch.randn(12, 3, dtype=torch.float64)
    y = torch.randint(0, 3, (12,))
    p = _softmax64(logits.numpy())
    h = np.diag(counts.min() / counts)
    ref = np.mean([-sum(h[y[i], k] * math.log(p[i, k]) for k in range(3)) for i in range(12)])
    loss = WeightedCrossEntropyLoss(class_weights(counts=counts).double())
    assert loss(logits, y).item() == pytest.approx(ref, rel=1e-12)
    # H = I gives plain cross-entropy (BReG-Net, below Eq. 6)
    assert WeightedCrossEntropyLoss([1.0, 1.0, 1.0])(logits, y).item() == pytest.approx(
        F.cross_entropy(logits, y).item())


def test_mse_and_av_loss_transcription():
    torch.manual_seed(3)
    t = torch.rand(32, 2, dtype=torch.float64) * 2 - 1
    p = (0.6 * t + 0.2 * torch.randn(32, 2, dtype=torch.float64)).requires_grad_(True)
    assert DimensionalMSELoss()(p, t).item() == pytest.approx(((p - t) ** 2).mean().item())
    tn, pn = t.numpy(), p.detach().numpy()
    rmse = np.mean([np.sqrt(np.mean((pn[:, j] - tn[:, j]) ** 2)) for j in range(2)])
    pcc = [np.corrcoef(tn[:, j], pn[:, j])[0, 1] for j in range(2)]
    ccc = [2 * pcc[j] * tn[:, j].std() * pn[:, j].std()
           / (tn[:, j].var() + pn[:, j].var() + (tn[:, j].mean() - pn[:, j].mean()) ** 2)
           for j in range(2)]
    ref = rmse + 0.5 * ((1 - np.mean(pcc)) + (1 - np.mean(ccc)))
    assert AVLoss(stability=0.0)(p, t).item() == pytest.approx(ref, rel=1e-12)
    code_ref = ref + rmse  # the public code sums the two RMSEs: twice their mean
    assert AVLoss(stability=0.0, rmse="sum")(p, t).item() == pytest.approx(code_ref, rel=1e-12)
    with pytest.raises(ValueError, match="rmse"):
        AVLoss(rmse="max")
    loss = AVLoss()(p, t)
    loss.backward()
    assert torch.isfinite(p.grad).all()
    with pytest.raises(ValueError):
        AVLoss()(p[:, :1], t[:, :1])
