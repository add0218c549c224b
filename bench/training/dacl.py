"""DACL (Farzaneh & Qi, WACV 2021) and its baseline, center loss (Wen et al., ECCV 2016), as training methods.

``--loss dacl``: the network's last feature map feeds DACL's attention net (the CE-Unit and its heads); the
pooled feature, weighted by the attention, is pulled to its class center (the sparse center loss, Eq. 4), and
L = CE + lambda L_SC (Eq. 8). ``--loss center``: the same with every weight 1, which is Wen et al.'s center
loss (DACL's Table 1 baseline; Eq. 4 equals Eq. 3 then). Centers move by Eq. 11 after each optimiser step,
summed over the torchrun ranks so they stay identical everywhere.

The CE-Unit's widths default to the paper's (3584, 512, 64) on torchvision's backbones (``tv_*``, ResNet-18's
512 x 7 x 7 map); BReG-NeXt's last map is 128 channels of a few cells, so the zoo's networks get a scaled
(512, 256, 64) unless ``--dacl-widths`` says otherwise.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from harness.cli import UsageError

from .method import MethodContext
from .plain import Plain

DACL_WIDTHS = (512, 256, 64)
CENTER_LOSSES = ("dacl", "center")


def dacl_widths(model_name: str, given: list[int] | None) -> list[int]:
    """--dacl-widths, or its default for the network: the paper's on torchvision's backbones, the scaled ones on
    the zoo's (`DACL_WIDTHS`)."""
    from losses.dacl import PAPER_WIDTHS

    widths = list(given) if given else list(PAPER_WIDTHS if model_name.startswith("tv_") else DACL_WIDTHS)
    if len(widths) != 3 or min(widths) < 1:
        raise UsageError(f"--dacl-widths takes three positive widths, got {widths}")
    return widths


def check_center_network(model: nn.Module, name: str, loss: str) -> None:
    """DACL and center loss read the last feature map (``features(x)``) and classify its average pool with
    an ``fc`` layer."""
    from breg_models.latent import pools_into_fc

    if not pools_into_fc(model):
        raise UsageError(f"--loss {loss} needs a network with features() (its last feature map) and a Linear fc "
                         f"on that map's average pool, which {name} lacks")


class CenterNet(nn.Module):
    """The network and DACL's attention net as one module: ``forward(x)`` -> (logits, pooled x_i, weights a_i).

    DDP syncs the gradients of what the wrapped module's forward reaches, so the feature-map pass, the fc and the
    attention net must all run inside one forward. Center loss has no attention net: its weights are ones."""

    def __init__(self, net: nn.Module, attention: nn.Module | None):
        super().__init__()
        self.net, self.attention = net, attention

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        fmap = self.net.features(x)
        pooled = fmap.mean((2, 3)).float()
        weights = torch.ones_like(pooled) if self.attention is None else self.attention(fmap.float())
        return self.net.fc(pooled), pooled, weights


class CenterCriterion(nn.Module):
    """Cross-entropy plus lambda times the sparse center loss; holds the attention net (DACL) and the centers."""

    def __init__(self, attention: nn.Module | None, centers: nn.Module):
        super().__init__()
        self.ce, self.attention, self.center_loss = nn.CrossEntropyLoss(), attention, centers

    def forward(self, logits: Tensor, pooled: Tensor, weights: Tensor, target: Tensor) -> Tensor:
        return self.center_loss.total_loss(self.ce(logits, target), self.center_loss(pooled, weights, target))


class CenterLossMethod(Plain):
    """DACL (``--loss dacl``) or center loss (``--loss center``): see the module."""

    def __init__(self, model: nn.Module, ctx: MethodContext):
        self.sync, self._last = ctx.dist.on, None
        check_center_network(model, ctx.config["model"], ctx.config["loss"])
        super().__init__(model, ctx)

    def make_loss(self, ctx: MethodContext) -> nn.Module:
        import losses

        c = ctx.config
        with torch.no_grad():
            probe = torch.zeros(2, 3, *ctx.image_shape, device=ctx.device)
            was_training = self.model.training
            _, channels, h, w = self.model.eval().features(probe).shape
            self.model.train(was_training)
        attention = None
        if c["loss"] == "dacl":
            attention = losses.DACLAttention.for_feature_map(channels, h, w, hidden_dims=c["dacl_widths"])
        return CenterCriterion(attention, losses.SparseCenterLoss(c["num_classes"], channels))

    def extra_modules(self) -> list[nn.Module]:
        return [] if self.loss.attention is None else [self.loss.attention]

    def network(self) -> nn.Module:
        return CenterNet(self.model, self.loss.attention)

    def forward_loss(self, runner: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        logits, pooled, weights = runner(x)
        self._last = (pooled.detach(), weights.detach(), target)
        return self.loss(logits.float(), pooled, weights, target)

    def after_step(self) -> None:
        self.loss.center_loss.update_centers(*self._last, sync=self.sync)
