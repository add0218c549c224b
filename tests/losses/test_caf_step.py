"""`losses.CAF.step` on toy networks: each reading's order, the frozen critic, skipped steps, state, autocast."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from losses import ADVERSARIES, CAF, READINGS, SHARED, AVLoss


def _toy(seed=0):
    torch.manual_seed(seed)
    enc = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU())
    head = nn.Linear(8, 2)
    return enc, head


def _batch(seed=0, n=32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 2, 2, generator=g)
    radius = torch.cat([torch.rand(n // 2, generator=g) * 0.3, 0.85 + torch.rand(n - n // 2, generator=g) * 0.15])
    angle = torch.rand(n, generator=g) * 2 * math.pi
    return x, torch.stack([radius * angle.cos(), radius * angle.sin()], 1)


def _recording(opts, log):
    for name, opt in opts.items():
        real = opt.step

        def step(*a, _real=real, _name=name, **kw):
            log.append(_name)
            return _real(*a, **kw)

        opt.step = step
    return opts


@pytest.mark.parametrize("reading, order", [("code", ["encoder", "head", "critic", "encoder"]),
                                            ("paper", ["critic", "encoder", "encoder", "head"])])
def test_each_reading_steps_in_its_order_and_updates_all(reading, order):
    enc, head = _toy()
    caf = CAF(8, reading)
    log = []
    opts = _recording(caf.make_optimizers(enc.parameters(), head.parameters(), lr=1e-2), log)
    before = [m.weight.detach().clone() for m in (enc[1], head, caf.critic.net[0])]
    x, va = _batch()
    out = caf.step(enc, head, x, va, opts)
    assert log == order
    assert all(not torch.equal(b, m.weight) for b, m in zip(before, (enc[1], head, caf.critic.net[0]), strict=True))
    for key in ("av_loss", "critic_loss", "adversarial_loss", "margin", "mi", "delta", "k", "active_share"):
        assert math.isfinite(out[key]), key
    assert out["margin"] == pytest.approx(out["mi"] + out["delta"]) and 0 <= out["active_share"] <= 1
    assert out["n_strong"] == out["n_weak"] if reading == "code" else out["n_strong"] + out["n_weak"] == 32
    assert all(p.requires_grad for p in caf.critic.parameters())


def test_the_adversarial_step_moves_only_the_encoder_with_the_critic_frozen():
    enc, head = _toy()
    caf = CAF(8, "paper")
    opts = caf.make_optimizers(enc.parameters(), head.parameters())
    seen = {}
    real = opts["encoder"].step

    def encoder_step(*a, **kw):  # the paper's order: the first encoder step is line 7's, L_adv's alone
        if "adv" not in seen:
            seen["adv"] = (head.weight.grad, [p.requires_grad for p in caf.critic.parameters()], enc[1].weight.grad)
        return real(*a, **kw)

    opts["encoder"].step = encoder_step
    caf.step(enc, head, *_batch(), opts)
    head_grad, critic_flags, enc_grad = seen["adv"]
    assert head_grad is None and not any(critic_flags) and enc_grad.abs().sum() > 0


def test_an_empty_group_leaves_the_av_step_alone():
    enc, head = _toy()
    for reading in READINGS:
        caf = CAF(8, reading)
        log = []
        opts = _recording(caf.make_optimizers(enc.parameters(), head.parameters()), log)
        x = torch.randn(8, 3, 2, 2)
        # |v| = |a| = 0.5: Otsu puts delta_r on every radius (all strong); for the code r^2 = 0.5 is neither
        # > 0.65 nor < 0.3 whatever th is, so one group stays empty
        va = 0.5 * torch.tensor([[1, 1], [-1, 1], [1, -1], [-1, -1]] * 2, dtype=torch.float32)
        out = caf.step(enc, head, x, va, opts)
        assert log == ["encoder", "head"] and math.isfinite(out["av_loss"])
        assert out["critic_loss"] is None and out["margin"] is None and out["adversarial_loss"] is None


def test_state_dict_holds_the_critic_and_the_fisher_multiplier():
    enc, head = _toy()
    caf = CAF(8, "code")
    assert [tuple(v.shape) for k, v in caf.state_dict().items() if k.endswith("weight")] == [(64, 8), (32, 64),
                                                                                            (16, 32)]
    opts = caf.make_optimizers(enc.parameters(), head.parameters())
    out = caf.step(enc, head, *_batch(), opts)
    state = caf.state_dict()
    assert state["adversary.multiplier"].item() == out["multiplier"] != 0
    other = CAF(8, "code")
    other.load_state_dict(state)
    assert all(torch.equal(v, other.state_dict()[k]) for k, v in state.items())
    assert opts["encoder"].defaults["betas"] == (0.5, 0.9) and opts["critic"].defaults["weight_decay"] == 0
    assert CAF(8, "paper").make_optimizers(enc.parameters(), head.parameters())["critic"].defaults["betas"] == (
        0.9, 0.999)


@pytest.mark.parametrize("adversary", [*ADVERSARIES, "none"])
def test_every_adversary_runs_under_bf16_autocast(adversary):
    enc, head = _toy()
    caf = CAF(8, "code", adversary=adversary)
    opts = caf.make_optimizers(enc.parameters(), head.parameters())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = caf.step(enc, head, *_batch(), opts)
    ran = [k for k in ("av_loss", "critic_loss", "adversarial_loss") if out[k] is not None]
    assert ran == (["av_loss"] if adversary == "none" else ["av_loss", "critic_loss", "adversarial_loss"])
    assert all(math.isfinite(out[k]) for k in ran)
    assert (out["margin"] is not None) == (adversary == "caf")


def test_settings_name_their_source():
    caf = CAF(8, "code", "linear:0.1,0.005", "fishergan")
    settings = caf.settings
    assert set(READINGS["paper"]) | set(SHARED) | {"adversary", "margin"} == set(settings)
    assert all(s.source.startswith(("code:", "paper:")) for s in settings.values())
    assert settings["margin"].value == "linear:0.1,0.005" and settings["adversary"].value == "fishergan"
    assert settings["adversarial_scale"].value == 0.1 and settings["step_order"].value[0] == "av"
    for bad in ({"reading": "book"}, {"adversary": "wgan"}, {"margin": "kappa"}):
        with pytest.raises(ValueError):
            CAF(8, **bad)


def test_av_loss_code_form_hand_computed():
    # src/utils.py pcc_ccc_loss: torch.std (n - 1) deviations over a mean (biased) covariance; src/main.py sums
    # the two RMSEs
    torch.manual_seed(3)
    t = torch.rand(16, 2, dtype=torch.float64) * 2 - 1
    p = 0.6 * t + 0.2 * torch.randn(16, 2, dtype=torch.float64)
    tn, pn = t.numpy(), p.numpy()
    pcc, ccc = [], []
    for j in range(2):
        st, sp = tn[:, j].std(ddof=1), pn[:, j].std(ddof=1)
        cov = np.mean((tn[:, j] - tn[:, j].mean()) * (pn[:, j] - pn[:, j].mean()))
        pcc.append(cov / (st * sp))
        ccc.append(2 * st * sp * pcc[-1] / (st**2 + sp**2 + (tn[:, j].mean() - pn[:, j].mean()) ** 2))
    rmse = sum(np.sqrt(np.mean((pn[:, j] - tn[:, j]) ** 2)) for j in range(2))
    ref = rmse + 0.5 * (1 - np.mean(pcc)) + 0.5 * (1 - np.mean(ccc))
    assert AVLoss(stability=0.0, rmse="sum", moments="code")(p, t).item() == pytest.approx(ref, rel=1e-12)
    assert CAF(8, "code").av_loss.rmse == "sum" and CAF(8, "code").av_loss.moments == "code"
    with pytest.raises(ValueError, match="moments"):
        AVLoss(moments="sample")
