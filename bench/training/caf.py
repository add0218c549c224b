"""CAF (Kim & Song, AAAI 2021) as a training method: Algorithm 1's critic, adversarial and AV steps per batch.

The network is cut into encoder and head (`breg_models.latent.encoder_head`: the pooled last map and ``fc``, or
for the AlexNets the 6x6-pooled convolutions and the whole classifier, as the authors' code cuts them);
`losses.CAF` holds the critic, the adversary and the margin and runs one iteration in the reading in force
(``--caf-reading code``, the authors' code, or ``paper``, Algorithm 1 as printed; `losses.caf` lists where they
differ). One optimiser per parameter set (encoder, head, critic), each with the run's optimiser settings and
learning-rate schedule (the recipe's: Adam 1e-4, betas 0.5, 0.9 from the code, no decay, x0.8 every 10k
iterations from the paper). ``--caf-adversary`` swaps the critic's loss for Table 4's FisherGAN, SphereGAN or
GRAM-net; ``--caf-margin`` replaces Delta with Table 4's constant or linear margin.

One process only (the three passes run outside the model's forward, which DDP cannot sync), no fp16 (one
GradScaler per optimiser would be needed) and no --compile.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from harness.cli import UsageError

from .method import Method, MethodContext
from .optim import make_optimizer, make_scheduler, param_groups
from .runtime import autocast

CAF_READINGS = ("code", "paper")
CAF_ADVERSARIES = ("caf", "fishergan", "spheregan", "gramnet", "none")
# settings of losses.CAF's readings the trainer owns instead (the run's optimiser settings and schedule)
TRAINER_OWNED = ("lr", "weight_decay", "adam_betas", "lr_step", "lr_gamma")
RECORDED = ("critic_loss", "adversarial_loss", "margin", "delta", "mi", "k", "active_share")


def check_caf(args, dist) -> None:
    """What CAF's Algorithm 1 cannot run with, refused before any work."""
    from losses.caf_margin import MarginSchedule

    try:
        args.caf_margin = MarginSchedule.parse(args.caf_margin).spec  # one spelling per schedule in the config
    except ValueError as exc:
        raise UsageError(f"--caf-margin: {exc}") from None
    if dist.on:
        raise UsageError("--method caf cannot run under torchrun (DDP does not sync its critic and encoder steps)")
    if args.amp == "fp16" or args.compile:
        raise UsageError("--method caf runs without --amp fp16 and --compile (use --amp bf16 or off)")


class CAFMethod(Method):
    """See the module: ``step`` is one iteration of Algorithm 1; rows get the epoch's mean critic and adversarial
    losses, margin, Delta, MI, K and share of active hinges, and the batches with an empty group."""

    def __init__(self, model: nn.Module, ctx: MethodContext):
        from breg_models.latent import critic_widths, encoder_head
        from losses import CAF

        c = ctx.config
        try:
            self.encode, self.head, latent = encoder_head(model)
        except ValueError as exc:
            raise UsageError(f"--method caf needs an encoder/regressor cut of the network: {exc}") from None
        self.model, self.device, self.amp = model, ctx.device, c["amp"]
        self.caf = CAF(latent, c.get("caf_reading", "code"), c["caf_margin"], c.get("caf_adversary", "caf"),
                       critic_widths(model, latent)[1:]).to(ctx.device)
        head = {id(p) for p in self.head.parameters()}
        decay, on = c["weight_decay"], c.get("decay_on", "conv")
        encoder = [{**g, "params": [p for p in g["params"] if id(p) not in head]}
                   for g in param_groups([model], decay, on)]  # every parameter but the head's
        parts = {"encoder": encoder, "head": param_groups([self.head], decay, on)}
        if self.caf.critic is not None:
            parts["critic"] = param_groups([self.caf.critic], decay, on)
        self.optimizers = {name: make_optimizer(groups, ctx.optimizer, ctx.device) for name, groups in parts.items()}
        self.schedulers = [make_scheduler(opt, c["lr_step"], c["lr_gamma"]) for opt in self.optimizers.values()]
        self.epochs_done = 0
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def network(self) -> nn.Module:
        return self.model

    def start_epoch(self, epoch: int) -> None:
        self.epochs_done = epoch - 1
        self._sums, self._counts = {}, {}

    def step(self, runner: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        with autocast(self.device, self.amp):
            out = self.caf.step(self.encode, self.head, x, target, self.optimizers, self.epochs_done)
        for key in RECORDED:
            if out.get(key) is not None:
                self._sums[key] = self._sums.get(key, 0.0) + out[key]
                self._counts[key] = self._counts.get(key, 0) + 1
        self._counts["skipped"] = self._counts.get("skipped", 0) + (out["critic_loss"] is None)
        return torch.tensor(out["av_loss"], device=self.device)

    def epoch_metrics(self) -> dict:
        out = {f"caf_{k}": self._sums[k] / self._counts[k] if k in self._sums else None for k in RECORDED}
        out["caf_skipped_steps"] = self._counts.get("skipped", 0)  # batches with an empty strong or weak group
        return out

    def state_dict(self) -> dict:
        return {"caf": {"objective": self.caf.state_dict(),
                        "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                        "schedulers": [s.state_dict() for s in self.schedulers]}}

    def load_state_dict(self, state: dict) -> None:
        saved = state["caf"]
        self.caf.load_state_dict(saved["objective"])
        for key, opt in self.optimizers.items():
            opt.load_state_dict(saved["optimizers"][key])
        for scheduler, s in zip(self.schedulers, saved["schedulers"], strict=True):
            scheduler.load_state_dict(s)

    @property
    def lr(self) -> float:
        return self.schedulers[0].get_last_lr()[0]


def reading_settings(config: dict) -> dict:
    """CAF's own settings of the reading in force, with sources, for the dry run (the trainer's options aside)."""
    from losses import CAF

    caf = CAF(8, config.get("caf_reading", "code"), config.get("caf_margin", "adaptive"),
              config.get("caf_adversary", "caf"))
    return {f"caf {caf.reading}.{k}": s for k, s in caf.settings.items()
            if k not in (*TRAINER_OWNED, "margin", "adversary")}
