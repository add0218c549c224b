"""The plain method: a loss of `losses` on the network's output, one optimiser, one schedule.

Losses by task: categorical ``focal`` (BReG-NeXt Eq. 17, the default), ``focal_code`` (the BReG-NeXt public
code's form), ``ce``, ``weighted_ce`` (BReG-Net Eq. 5-7), and DACL's ``dacl`` / Wen et al.'s ``center`` (in
`bench.training.dacl`); dimensional ``mse`` (BReG-Net, BReG-NeXt) and ``av`` (CAF's L_AV).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from harness.cli import UsageError

from .method import Method, MethodContext
from .optim import make_optimizer, make_scheduler, param_groups
from .runtime import autocast

LOSSES = {"categorical": ("focal", "focal_code", "ce", "weighted_ce", "dacl", "center"),
          "dimensional": ("mse", "av")}


def check_loss(name: str, task: str) -> None:
    if name not in LOSSES[task]:
        raise UsageError(f"--loss {name} does not fit the {task} task; choose one of: {', '.join(LOSSES[task])}")


def output_loss(name: str, task: str, class_counts: list[int] | None = None, av_rmse: str = "mean") -> nn.Module:
    """The loss module of a loss on the network's output (every loss but DACL's and center loss)."""
    import losses

    check_loss(name, task)
    if name == "focal":  # the paper's Eq. 17 (true class only), averaged over the batch
        return losses.FocalLoss()
    if name == "focal_code":  # the authors' public code: every class's binary term, summed over the batch
        return losses.FocalLoss(form="all_classes", reduction="sum")
    if name == "ce":
        return nn.CrossEntropyLoss()
    if name == "weighted_ce":
        return losses.WeightedCrossEntropyLoss(losses.class_weights(counts=class_counts,
                                                                    num_classes=len(class_counts)))
    if name == "mse":
        return losses.DimensionalMSELoss()
    if name == "av":
        return losses.AVLoss(rmse=av_rmse)
    raise UsageError(f"--loss {name} is not a loss on the network's output")


class Plain(Method):
    """Forward under autocast, the loss, backward (scaled for fp16), one optimiser step."""

    def __init__(self, model: nn.Module, ctx: MethodContext):
        c = ctx.config
        self.model, self.device, self.amp = model, ctx.device, c["amp"]
        self.loss = self.make_loss(ctx).to(ctx.device)
        groups = param_groups([model, *self.extra_modules()], c["weight_decay"], c.get("decay_on", "conv"))
        self.optimizer = make_optimizer(groups, ctx.optimizer, ctx.device)
        self.schedulers = [make_scheduler(self.optimizer, c["lr_step"], c["lr_gamma"])]
        self.scaler = torch.amp.GradScaler(ctx.device.type, enabled=c["amp"] == "fp16")

    def make_loss(self, ctx: MethodContext) -> nn.Module:
        c = ctx.config
        return output_loss(c["loss"], c["task"], ctx.class_counts, c.get("av_rmse", "mean"))

    def extra_modules(self) -> list[nn.Module]:
        """Modules the method trains beside the network (their parameters join the optimiser)."""
        return []

    def network(self) -> nn.Module:
        return self.model

    def forward_loss(self, runner: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        return self.loss(runner(x).float(), target)

    def after_step(self) -> None:
        """Work after the optimiser step (DACL's center update)."""

    def step(self, runner: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        with autocast(self.device, self.amp):
            loss = self.forward_loss(runner, x, target)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.after_step()
        return loss.detach()

    def state_dict(self) -> dict:
        return {"criterion": self.loss.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.schedulers[0].state_dict(), "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.loss.load_state_dict(state["criterion"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedulers[0].load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
