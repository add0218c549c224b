"""Contrastive adversarial framework (CAF, Kim & Song, AAAI 2021): one training step of Algorithm 1, two readings.

`CAF` holds the critic and the adversary's state (the Fisher multiplier) and runs one step; its settings, each with
its source, are `READINGS[reading]` plus `SHARED` (the trainer's ``--dry-run`` prints them). The pieces live in
`losses.caf_grouping` (strong/weak groups), `losses.caf_margin` (alpha_hat = MI + Delta, Table 4's kappa, kappa')
and `losses.caf_adversaries` (critic, CAF's contrastive loss, FisherGAN, SphereGAN, GRAM-net).

Readings. ``code`` follows kdhht2334/Contrastive-Adversarial-Learning-FER (src/main.py, models.py, utils.py) where
it is explicit, ``paper`` the paper:
===================  ==============================================  ============================================
setting              code (default)                                  paper
===================  ==============================================  ============================================
step order           AV step, critic step, adversarial step          Algorithm 1: critic, adversarial, AV
grouping             cumulative thresholding + offset 0.25 on r^2     Otsu on |v|, |a|; delta_r on r (line 3)
pairs                (s_i, s_{-i-1}), (s_i, w_{-i-1}), even count     all strong pairs, all strong-weak (Eq. 7)
critic loss          E d_ap + E d_an + Fisher constraint (rho 1e-6)  Eq. 7 minimised (regulariser omitted)
L_adv scale          0.1                                             1
L_RMSE, PCC/CCC      sum of RMSEs; unbiased std, mean covariance     mean of RMSEs; population moments
Adam betas           (0.5, 0.9)                                      (0.9, 0.999): "Adam ... 1e-4" only
lr decay             x0.9 every 5000 steps                           x0.8 every 10k iterations
===================  ==============================================  ============================================
Both: lr 1e-4, no weight decay; one Adam state per parameter set (encoder, head, critic; the encoder's steps
in the AV and the adversarial step); the critic is Disc2_light (latent -> 64 -> 32 -> dropout 0.2 -> ReLU -> 16)
for every encoder; the margin is the paper's alpha_hat = MI + Delta(N, K) (`losses.caf_margin`), or Table 4's
constant kappa / linear kappa' in place of Delta, and carries no gradient. Where the code departs from the paper
and neither reading follows it: its margin is a per-pair MINE-style MI clamped to [0, 2.5] plus 0.7 / sqrt(k)
indexed off by one, with gradient through the MI. The code's critic sees the encoder's output of a forward with
gradient that it then zeroes; here the critic step's encoder forward runs under no_grad (the same update).
The code sends the strong and the weak group through the encoder separately (critic step) and the weak group
alone (adversarial step); here every such forward takes both groups together and splits the latent. For the tuned
AlexNet (no BatchNorm) that is the same; for ResNet-18 (whose CAF code is not public) it keeps BatchNorm from
normalising each group by its own statistics, from pulling its running statistics towards the weak group's, and
from failing on a one-sample group at small inputs. In the code reading the critic reads an even number of pairs
(``msize * 2``) and the adversarial step all the weak samples kept, as src/main.py; its NaN substitutions
(critic outputs replaced by ones or zeros) are left out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from losses.caf_adversaries import ADVERSARIES, Critic, make_adversary
from losses.caf_adversaries import active_share as _active_share
from losses.caf_grouping import code_critic_count, code_groups, strong_weak_split
from losses.caf_margin import MarginSchedule
from losses.regression import AVLoss


@dataclass(frozen=True)
class Setting:
    """A setting's value and where it comes from ("code: FILE ..." or "paper: SECTION ...")."""

    value: Any
    source: str


SHARED: dict[str, Setting] = {
    "lr": Setting(1e-4, "paper: Training Configurations; code: src/main.py (lr = 1e-4)"),
    "weight_decay": Setting(0.0, "paper: Training Configurations (none); code: src/main.py (Adam without it)"),
    "critic_widths": Setting((64, 32, 16), "code: src/models.py Disc2_light (latent-64-32-16)"),
    "critic_dropout": Setting(0.2, "code: src/models.py Disc2_light (dropout p = 0.2 before the ReLU)"),
    "confidence_c": Setting(0.05, "paper: Analysis of adaptive margin (c = 0.05)"),
    "kernel_var": Setting(0.2, "code: src/utils.py mutual_info (var = 0.2)"),
}

READINGS: dict[str, dict[str, Setting]] = {
    "code": {
        "step_order": Setting(("av", "critic", "adversarial"), "code: src/main.py model_training"),
        "grouping": Setting("cumulative", "code: src/main.py + src/utils.py cumulative_thresholding(0.75, 0.95)"),
        "pairs": Setting("reverse", "code: src/main.py (D_hh[i] - D_hh[-i-1], D_hh[i] - D_ll[-i-1])"),
        "fisher_constraint": Setting(True, "code: src/main.py (Lambda, rho = 1e-6)"),
        "adversarial_scale": Setting(0.1, "code: src/main.py (fake_loss = -mean(fake_emo) * 0.1)"),
        "av_rmse": Setting("sum", "code: src/main.py (RMSE_valence + RMSE_arousal)"),
        "av_moments": Setting("code", "code: src/utils.py pcc_ccc_loss"),
        "adam_betas": Setting((0.5, 0.9), "code: src/main.py (betas = (0.5, 0.9))"),
        "lr_step": Setting(5000, "code: src/main.py StepLR(step_size = 5000)"),
        "lr_gamma": Setting(0.9, "code: src/main.py StepLR(gamma = 0.9)"),
    },
    "paper": {
        "step_order": Setting(("critic", "adversarial", "av"), "paper: Algorithm 1, lines 6-8"),
        "grouping": Setting("otsu", "paper: Algorithm 1, line 3"),
        "pairs": Setting("all", "paper: Eq. 7"),
        "fisher_constraint": Setting(False, "paper: Eq. 6 (regularisation term omitted)"),
        "adversarial_scale": Setting(1.0, "paper: Algorithm 1, line 7"),
        "av_rmse": Setting("mean", "paper: Sec. 5 L_AV (L_RMSE read as the mean over valence, arousal)"),
        "av_moments": Setting("population", "paper: Sec. 5 PCC/CCC (as the metrics)"),
        "adam_betas": Setting((0.9, 0.999), "paper: Training Configurations ('Adam', betas unstated: defaults)"),
        "lr_step": Setting(10_000, "paper: Training Configurations (every 10k iterations)"),
        "lr_gamma": Setting(0.8, "paper: Training Configurations (x0.8)"),
    },
}

MARGIN_SOURCES = {"adaptive": "paper: Eq. 5, 8 (MI + Delta(N, K), K by adaptive k-NN)",
                  "constant": "paper: Table 4 / ablation text (kappa = 0.2 in place of Delta)",
                  "linear": "paper: Table 4 / ablation text (kappa' = 0.1 + 5e-3 x epoch in place of Delta)"}
ADVERSARY_SOURCES = {"caf": "paper: Eq. 4-7, Algorithm 1", "fishergan": "paper: Table 4 (Mroueh & Sercu 2017)",
                     "spheregan": "paper: Table 4 (Park & Kwon 2019)", "gramnet": "paper: Table 4 (Srivastava et al.)",
                     "none": "paper: Table 4, no critic (the AV loss alone)"}

STEP_KEYS = ("av_loss", "critic_loss", "adversarial_loss", "margin", "mi", "delta", "k", "active_share",
             "n_strong", "n_weak", "threshold", "multiplier")


def reading_settings(reading: str) -> dict[str, Setting]:
    if reading not in READINGS:
        raise ValueError(f"unknown CAF reading {reading!r}; choose one of {', '.join(READINGS)}")
    return {**READINGS[reading], **SHARED}


class CAF(nn.Module):
    """Critic, adversary and margin of one CAF run; `step` is one iteration of Algorithm 1 in the reading's order.

    ``adversary``: caf | fishergan | spheregan | gramnet (Table 4's critics) or none (the AV step alone);
    ``margin``: a `MarginSchedule` spec (adaptive, constant:KAPPA, linear:START,SLOPE). state_dict() holds the
    critic and the Fisher multiplier (``adversary.multiplier``).
    """

    def __init__(self, latent: int, reading: str = "code", margin: str | MarginSchedule = "adaptive",
                 adversary: str = "caf", critic_widths: tuple[int, ...] | None = None):
        super().__init__()
        self.reading = reading
        s = {k: v.value for k, v in reading_settings(reading).items()}
        self.values = s
        if adversary not in (*ADVERSARIES, "none"):
            raise ValueError(f"unknown adversary {adversary!r}; choose one of {', '.join(ADVERSARIES)} or none")
        self.adversary_name = adversary
        self.margin = MarginSchedule.parse(margin) if isinstance(margin, str) else margin
        self.margin.c, self.margin.kernel_var = s["confidence_c"], s["kernel_var"]
        widths = (latent, *(critic_widths or s["critic_widths"]))
        self.critic = Critic(widths, s["critic_dropout"]) if adversary != "none" else None
        self.adversary = make_adversary(adversary, s["pairs"], s["fisher_constraint"]) if adversary != "none" else None
        self.av_loss = AVLoss(rmse=s["av_rmse"], moments=s["av_moments"])

    @property
    def settings(self) -> dict[str, Setting]:
        """Every setting of this run with its source, for the trainer's listing."""
        out = dict(reading_settings(self.reading))
        out["adversary"] = Setting(self.adversary_name, ADVERSARY_SOURCES[self.adversary_name])
        out["margin"] = Setting(self.margin.spec, MARGIN_SOURCES[self.margin.kind])
        return out

    def make_optimizers(self, encoder_params: Iterable[nn.Parameter], head_params: Iterable[nn.Parameter],
                        lr: float | None = None) -> dict[str, torch.optim.Optimizer]:
        """One Adam per parameter set with the reading's betas and no weight decay (the trainer may build its own);
        the fused kernel on CPU and CUDA (the for-loop Adam costs ~6x more per step on ResNet-18's 11M values)."""
        lr = self.values["lr"] if lr is None else lr
        groups = {"encoder": list(encoder_params), "head": list(head_params)}
        if self.critic is not None:
            groups["critic"] = list(self.critic.parameters())
        fused = all(p.device.type in ("cpu", "cuda") for ps in groups.values() for p in ps)
        return {name: torch.optim.Adam(params, lr=lr, betas=self.values["adam_betas"], fused=fused,
                                       weight_decay=self.values["weight_decay"]) for name, params in groups.items()}

    # ------------------------------------------------------------------ one step
    def groups(self, va: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, float]:
        """(strong and weak for the critic, strong and weak for the encoder step, threshold) of a batch's labels."""
        if self.values["grouping"] == "otsu":
            strong, weak, threshold = strong_weak_split(va[:, 0], va[:, 1])
            return strong, weak, strong, weak, threshold
        strong, weak, threshold = code_groups(va[:, 0], va[:, 1])
        m = code_critic_count(strong.numel())
        return strong[:m], weak[:m], strong, weak, threshold

    def step(self, encoder: Callable[[Tensor], Tensor], head: Callable[[Tensor], Tensor], images: Tensor,
             va: Tensor, optimizers: dict[str, torch.optim.Optimizer], epochs_done: int = 0) -> dict:
        """One iteration; va is (N, 2) valence, arousal. Returns floats (None for the steps that did not run:
        an empty strong or weak group leaves only the AV step) under the keys of STEP_KEYS."""
        self.margin.epochs_done = epochs_done
        out: dict = dict.fromkeys(STEP_KEYS)
        strong_c, weak_c, strong_e, weak_e, threshold = self.groups(va)
        out.update(n_strong=int(strong_c.numel()), n_weak=int(weak_c.numel()),
                   threshold=threshold if math.isfinite(threshold) else None)  # the code's th can be inf or nan
        run_critic = self.adversary is not None and strong_c.numel() > 0 and weak_c.numel() > 0
        dev = images.device
        for phase in self.values["step_order"]:
            if phase == "av":
                out["av_loss"] = self._av_step(encoder, head, images, va, optimizers)
            elif run_critic and phase == "critic":
                out.update(self._critic_step(encoder, images[strong_c.to(dev)], images[weak_c.to(dev)],
                                             images.shape[0], optimizers["critic"]))
            elif run_critic and phase == "adversarial":
                out["adversarial_loss"] = self._adversarial_step(encoder, images[strong_e.to(dev)],
                                                                 images[weak_e.to(dev)], optimizers["encoder"])
        if self.adversary is not None and run_critic:
            out["multiplier"] = float(self.adversary.multiplier)
        return out

    def _av_step(self, encoder, head, images: Tensor, va: Tensor, optimizers) -> float:
        pred = head(encoder(images))
        with _fp32(images):
            loss = self.av_loss(pred.float(), va.float())
        optimizers["encoder"].zero_grad()
        optimizers["head"].zero_grad()
        loss.backward()
        optimizers["encoder"].step()
        optimizers["head"].step()
        return loss.item()

    def _critic_step(self, encoder, x_s: Tensor, x_w: Tensor, batch_size: int, opt: torch.optim.Optimizer) -> dict:
        self.critic.train()
        with torch.no_grad():
            f_s, f_w = _encode_together(encoder, x_s, x_w)
        z_s, z_w = self.critic(f_s), self.critic(f_w)
        out: dict = {}
        margin = None
        with _fp32(x_s):
            if self.adversary.uses_margin:
                pairing = "reverse" if self.values["pairs"] == "reverse" else "truncate"
                m = self.margin.evaluate(z_s.detach(), z_w.detach(), batch_size, pairing)
                margin = m.value
                gaps = self.adversary.hinge_gaps(z_s.detach(), z_w.detach(), margin)
                out.update(margin=m.value, mi=m.mi, delta=m.delta, k=m.k, active_share=_active_share(gaps))
            loss = self.adversary.critic_loss(z_s, z_w, margin)
        opt.zero_grad()
        loss.backward()
        opt.step()
        self.adversary.after_critic_step()
        out["critic_loss"] = loss.item()
        return out

    def _adversarial_step(self, encoder, x_s: Tensor, x_w: Tensor, opt: torch.optim.Optimizer) -> float:
        self.critic.train()
        frozen = [p for p in self.critic.parameters() if p.requires_grad]
        for p in frozen:
            p.requires_grad_(False)
        try:
            f_s, f_w = _encode_together(encoder, x_s, x_w)
            z_w = self.critic(f_w)
            z_s = self.critic(f_s) if self.adversary.encoder_needs_strong else None
            with _fp32(x_w):
                loss = self.values["adversarial_scale"] * self.adversary.encoder_loss(z_s, z_w)
            opt.zero_grad()
            loss.backward()
            opt.step()
        finally:
            for p in frozen:
                p.requires_grad_(True)
        return loss.item()


def _encode_together(encoder, x_s: Tensor, x_w: Tensor) -> tuple[Tensor, Tensor]:
    """The encoder's latent of the strong and the weak samples from one forward of both (see the module)."""
    f = encoder(torch.cat([x_s, x_w]))
    return f[: x_s.shape[0]], f[x_s.shape[0]:]


def _fp32(like: Tensor):
    """Autocast off for the losses: distances, solves and correlations in float32 (or float64 where asked)."""
    return torch.autocast(like.device.type, enabled=False)
