"""The interface between the epoch loop and a training method (plain, DACL, CAF).

A method owns what it adds beside the network (DACL's attention net and centers, CAF's critic), its loss, its
optimisers and their schedules, how one batch trains, and its share of the checkpoint. The loop owns the data,
the order, augmentation, evaluation, rows and checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .distributed import Dist
from .optim import OptimizerSettings


@dataclass
class MethodContext:
    """What every method is built from: the run's config (`bench.train.run_config`), the training set's class
    counts and image shape, the device and the torchrun job."""

    config: dict
    class_counts: list[int] | None
    image_shape: tuple[int, int]
    device: torch.device
    dist: Dist

    @property
    def optimizer(self) -> OptimizerSettings:
        c = self.config
        return OptimizerSettings(c.get("optimizer", "adam"), c["lr"], c.get("momentum", 0.9),
                                 tuple(c.get("adam_betas", (0.9, 0.999))), c["weight_decay"],
                                 c.get("decay_on", "conv"))


class Method:
    """A training method: see the module. Subclasses set ``schedulers`` and implement `step`."""

    schedulers: list[torch.optim.lr_scheduler.LRScheduler]

    def network(self) -> nn.Module:
        """What a training step runs and DDP wraps (the model, or the model with the method's own modules)."""
        raise NotImplementedError

    def step(self, runner: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        """Train on one batch (already augmented and normalised); the batch's loss, detached."""
        raise NotImplementedError

    def start_epoch(self, epoch: int) -> None:
        """Called before epoch ``epoch`` (1-based) trains."""

    def epoch_metrics(self) -> dict:
        """The method's own figures of the epoch just trained, for its row."""
        return {}

    def state_dict(self) -> dict:
        raise NotImplementedError

    def load_state_dict(self, state: dict) -> None:
        raise NotImplementedError

    @property
    def lr(self) -> float:
        return self.schedulers[0].get_last_lr()[0]
