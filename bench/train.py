"""`python -m bench.train`: train one network on one data set, one result row per epoch.

Defaults are BReG-NeXt Sec. 3.5: Adam, batch 128, lr 1e-4 times 0.8 every 10 epochs, focal loss
(categorical) or MSE (dimensional), L2 on convolution weights only (Adam's coupled weight decay on those
weights alone, the gradient of wd/2 |w|^2; the paper gives no value, 1e-4 here), no dropout, the
25% augmentation. Each piece is a setting: ``--loss ce --batch-size 64 --lr-step 8000 --lr-step-unit iter``
is the public code's recipe, ``--loss weighted_ce`` BReG-Net's, ``--loss dacl`` / ``--loss av`` the DACL
and CAF losses from `losses`. DACL's Sec. 4.2 recipe is ``--model tv_resnet18 --loss dacl --optimizer sgd
--lr 0.01 --weight-decay 5e-4`` (momentum 0.9 by default); its CE-Unit widths default to the paper's
(3584, 512, 64) on torchvision's backbones (``tv_*``, ResNet-18's 512 x 7 x 7 map) and to a scaled (512, 256,
64) on the zoo's networks, whose last map has 128 channels of a few cells (``--dacl-widths`` sets them).

With no arguments it trains bregnext50 on a small synth set (512 training, 256 validation faces,
5 epochs). On the CPU the batch defaults to 32 (bregnext50's activations at batch 128 take ~10 GB there);
bregnext50 trains at about 10 images/s on a 2-core CPU, so an epoch takes about a minute (seconds on a
GPU; raise --synth-train for a real run). Checkpoints (last and best) go to
``--checkpoint-dir/<run key>/``; a rerun of the same config resumes from the last one and skips
epochs whose rows are already stored, unless ``--force``.

Under ``torchrun`` (WORLD_SIZE > 1) one run trains on every process with DistributedDataParallel (NCCL on
``cuda:LOCAL_RANK``, gloo on the CPU). ``--batch-size`` stays the global batch, split across the ranks, so
the optimisation (Sec. 3.5's batch 128 and learning rate) is the single-process one: every rank draws the
same shuffled order and trains on its own slice of each batch. Rank 0 alone evaluates, prints and writes
rows and checkpoints (of the unwrapped model); BatchNorm statistics are per rank, rank 0's are kept.
With ``--loss dacl`` DDP wraps the network and the attention net as one module (`DACLNet`), so both are synced,
and each step's Eq. 11 center update is summed over the ranks: the centers stay identical everywhere.

``--method caf`` (dimensional task only) trains by CAF's Algorithm 1 (Kim & Song, AAAI 2021;
`losses.caf.caf_training_step`): per batch Otsu groups the labels into strong and weak, the critic
(`losses.caf.Critic`, an MLP on the pooled features) learns Eq. 7 with the margin of ``--caf-margin``, the
encoder (the network up to its global pooling) takes the adversarial step with the critic frozen, then
encoder and regression head take the AV-loss step (``--loss av`` by default). Three Adam optimisers
(critic; encoder; encoder + head), each with the same lr schedule; the critic and its optimiser are
checkpointed with the rest. One process only (the three passes run outside the model's forward, which DDP
cannot sync), no fp16 (one GradScaler per optimiser would be needed) and no --compile.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm import tqdm

from bench.checkpoint import load_checkpoint, save_checkpoint
from bench.cli import UsageError, check_device_here, check_output_path, examples, int_list, run_main, write_output
from bench.data import (
    DEFAULT_NUM_CLASSES,
    DIMENSIONAL_ONLY,
    SOURCES,
    AugmentConfig,
    Dataset,
    augment_and_normalise,
    load_dataset,
    normalise,
)
from bench.data.synth import BALANCES
from bench.results import ResultsStore, format_rows, make_row, run_id
from reports.render import FORMATS
from reports.train import render_train

COMMAND = "train"
# DACL's CE-Unit widths on the zoo's networks: the paper's (losses.dacl.PAPER_WIDTHS, 3584-512-64) are for
# ResNet-18's 512 x 7 x 7 map; BReG-NeXt's last map is 128 channels of a few cells, so the harness scales them
# down there. torchvision's backbones (tv_*) get the paper's; --dacl-widths sets them.
DACL_WIDTHS = (512, 256, 64)
SGD_MOMENTUM = 0.9  # DACL Sec. 4.2
LOSSES = {"categorical": ("focal", "focal_code", "ce", "weighted_ce", "dacl"), "dimensional": ("mse", "av")}
AMP = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}


# ---------------------------------------------------------------- runtime settings shared with epoch_time
def resolve_device(name: str) -> torch.device:
    if name not in ("cpu", "cuda"):  # under torchrun each rank picks its own cuda:N
        raise UsageError(f"--device must be cpu or cuda, not {name!r}")
    check_device_here(name)
    return torch.device(name)


def check_bypass_impl(impl: str, device: torch.device) -> None:
    """Triton kernels need a GPU (or the slow interpreter, TRITON_INTERPRET=1): say so before building."""
    if impl == "triton" and device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        raise UsageError("--bypass-impl triton needs --device cuda (or TRITON_INTERPRET=1 for a slow "
                         "interpreted run on the CPU)")


def set_determinism(seed: int, deterministic: bool) -> None:
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = True


def autocast(device: torch.device, amp: str):
    dtype = AMP[amp]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """L2 on convolution weights only (Sec. 3.5): biases, BN, alpha/beta and the FC layer go free."""
    conv = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d)]
    conv_ids = {id(p) for p in conv}
    rest = [p for p in model.parameters() if id(p) not in conv_ids]
    return [{"params": conv, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def make_optimizer(groups: list[dict], lr: float, device: torch.device, optimizer: str = "adam",
                   momentum: float = SGD_MOMENTUM) -> torch.optim.Optimizer:
    """Adam (BReG-NeXt Sec. 3.5) or SGD with momentum (DACL Sec. 4.2); the fused CUDA kernel on a GPU (one
    launch for all parameters, same maths). Weight decay is the groups' own (`param_groups`)."""
    if optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, fused=device.type == "cuda")
    return torch.optim.Adam(groups, lr=lr, fused=device.type == "cuda")


def optimizer_settings(args) -> dict:
    """--optimizer and --momentum as `make_optimizer` takes them and the run config holds them: nothing for
    Adam (runs from before --optimizer keep their ids), SGD's momentum with its default filled in."""
    if args.optimizer == "adam":
        return {}
    return {"optimizer": args.optimizer, "momentum": SGD_MOMENTUM if args.momentum is None else args.momentum}


def dacl_widths(args) -> list[int]:
    """--dacl-widths, or its default for --model: the paper's on torchvision's backbones, the scaled ones on
    the zoo's (`DACL_WIDTHS`)."""
    from losses.dacl import PAPER_WIDTHS

    if args.dacl_widths:
        return list(args.dacl_widths)
    return list(PAPER_WIDTHS if args.model.startswith("tv_") else DACL_WIDTHS)


# ---------------------------------------------------------------- losses
def check_dacl_network(model: nn.Module, name: str) -> None:
    """DACL reads the last feature map (``features(x)``) and classifies its average pool with an ``fc`` layer."""
    from breg_models.latent import pools_into_fc

    if not pools_into_fc(model):
        raise UsageError(f"--loss dacl needs a network with features() (its last feature map) and a Linear fc on "
                         f"that map's average pool, which {name} lacks")


class DACLNet(nn.Module):
    """The network and DACL's attention net as one module: ``forward(x)`` -> (logits, pooled x_i, weights a_i).

    DDP syncs the gradients of what the wrapped module's forward reaches, so the feature-map pass, the fc and
    the attention net must all run inside one forward. Its state is its parts': the checkpoint keeps the
    network's and the criterion's (which holds the attention net) as before."""

    def __init__(self, net: nn.Module, attention: nn.Module):
        super().__init__()
        self.net, self.attention = net, attention

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        fmap = self.net.features(x)
        pooled = fmap.mean((2, 3)).float()
        attn = self.attention(fmap.float())
        return self.net.fc(pooled), pooled, attn


class Criterion(nn.Module):
    """A loss of `losses` behind one call: ``criterion(net, x, target)`` -> scalar loss, ``net`` being
    ``network(model)`` (or that wrapped by DDP / torch.compile).

    DACL needs the feature map as well as the logits, so its net is `DACLNet`; its attention network is trained
    with the model (the criterion's parameters) and its centers move after each optimiser step (``after_step``;
    ``sync``: summed over the torchrun ranks)."""

    def __init__(self, name: str, task: str, train: Dataset, model: nn.Module,
                 dacl_widths: tuple[int, ...] = DACL_WIDTHS, sync: bool = False):
        super().__init__()
        import losses

        self.name, self.dacl, self.sync = name, None, sync
        if name not in LOSSES[task]:
            raise UsageError(f"--loss {name} does not fit the {task} task; choose one of: "
                             f"{', '.join(LOSSES[task])}")
        if name == "focal":  # the paper's Eq. 17 (true class only), averaged over the batch
            self.loss = losses.FocalLoss()
        elif name == "focal_code":  # the authors' public code: every class's binary term, summed over the batch
            self.loss = losses.FocalLoss(form="all_classes", reduction="sum")
        elif name == "ce":
            self.loss = nn.CrossEntropyLoss()
        elif name == "weighted_ce":
            self.loss = losses.WeightedCrossEntropyLoss(
                losses.class_weights(counts=train.class_counts(), num_classes=train.num_classes))
        elif name == "dacl":
            check_dacl_network(model, type(model).__name__)
            self.loss = nn.CrossEntropyLoss()
            with torch.no_grad():
                probe = torch.zeros(2, 3, *train.images.shape[-2:], device=next(model.parameters()).device)
                _, c, h, w = model.eval().features(probe).shape
                model.train()
            self.attention = losses.DACLAttention.for_feature_map(c, h, w, hidden_dims=dacl_widths)
            self.dacl = losses.SparseCenterLoss(train.num_classes, c)
        elif name == "mse":
            self.loss = losses.DimensionalMSELoss()
        else:
            self.loss = losses.AVLoss()

    def network(self, model: nn.Module) -> nn.Module:
        """What a training step runs (and DDP wraps): the model, or for DACL the model with its attention net."""
        return model if self.dacl is None else DACLNet(model, self.attention)

    def forward(self, net: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        if self.dacl is None:
            return self.loss(net(x).float(), target)
        logits, pooled, attn = net(x)
        self._last = (pooled.detach(), attn.detach(), target)
        return self.dacl.total_loss(self.loss(logits, target), self.dacl(pooled, attn, target))

    def after_step(self) -> None:
        if self.dacl is not None:
            self.dacl.update_centers(*self._last, sync=self.sync)


# ---------------------------------------------------------------- CAF (Algorithm 1)
class CAF:
    """CAF's extra state beside the network: critic, its optimiser and the encoder's, their schedulers, the
    margin schedule, and the epoch's running means of the critic/adversarial losses and margins."""

    def __init__(self, model: nn.Module, margin: str, lr: float, weight_decay: float, lr_step: int,
                 lr_gamma: float, device: torch.device, optimizer: dict | None = None):
        from breg_models.latent import critic_widths, encoder_head
        from losses.caf import Critic, MarginSchedule

        try:
            self.encoder, self.head, latent = encoder_head(model)
        except ValueError as exc:
            raise UsageError(f"--method caf needs an encoder/regressor cut of the network: {exc}") from None
        self.model, self.margin = model, MarginSchedule.parse(margin)
        self.critic = Critic(critic_widths(model, latent)).to(device)
        encoder_groups = param_groups(model, weight_decay)  # the encoder: every parameter but the head's
        head = {id(p) for p in self.head.parameters()}
        for group in encoder_groups:
            group["params"] = [p for p in group["params"] if id(p) not in head]
        self.opt_critic = make_optimizer([{"params": list(self.critic.parameters())}], lr, device, **(optimizer or {}))
        self.opt_encoder = make_optimizer(encoder_groups, lr, device, **(optimizer or {}))
        self.schedulers = [torch.optim.lr_scheduler.StepLR(opt, lr_step, lr_gamma)
                           for opt in (self.opt_critic, self.opt_encoder)]
        self.reset()

    def regressor(self, features: Tensor) -> Tensor:
        return self.head(features).float()

    def reset(self) -> None:
        self.sums, self.counts = {}, {}

    def record(self, out: dict) -> None:
        for key in ("critic_loss", "adversarial_loss", "margin"):
            if out[key] is not None:
                self.sums[key] = self.sums.get(key, 0.0) + out[key]
                self.counts[key] = self.counts.get(key, 0) + 1
        self.counts["skipped"] = self.counts.get("skipped", 0) + (out["critic_loss"] is None)

    def epoch_metrics(self) -> dict:
        out = {f"caf_{k}": self.sums[k] / self.counts[k] if k in self.sums else None
               for k in ("critic_loss", "adversarial_loss", "margin")}
        out["caf_skipped_steps"] = self.counts.get("skipped", 0)  # batches with an empty strong or weak group
        return out

    def state_dict(self) -> dict:
        return {"critic": self.critic.state_dict(), "opt_critic": self.opt_critic.state_dict(),
                "opt_encoder": self.opt_encoder.state_dict(),
                "schedulers": [s.state_dict() for s in self.schedulers]}

    def load_state_dict(self, state: dict) -> None:
        self.critic.load_state_dict(state["critic"])
        self.opt_critic.load_state_dict(state["opt_critic"])
        self.opt_encoder.load_state_dict(state["opt_encoder"])
        for scheduler, s in zip(self.schedulers, state["schedulers"], strict=True):
            scheduler.load_state_dict(s)


# ---------------------------------------------------------------- one training step, one epoch
@dataclass
class Step:
    """Augment on device, forward under autocast, backward (scaled for fp16), optimiser step."""

    model: nn.Module
    criterion: Criterion
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    device: torch.device
    amp: str = "off"
    channels_last: bool = False
    augment: AugmentConfig | None = AugmentConfig()
    generator: torch.Generator | None = None

    caf: CAF | None = None

    def __call__(self, images: Tensor, target: Tensor) -> Tensor:
        x = augment_and_normalise(images, self.augment, self.generator)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.caf is not None:
            return self._caf_step(x, target)
        with autocast(self.device, self.amp):
            loss = self.criterion(self.model, x, target)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.criterion.after_step()
        return loss.detach()

    def _caf_step(self, x: Tensor, target: Tensor) -> Tensor:
        """Algorithm 1, lines 3-8, in `caf_training_step`'s order; the AV loss is the step's loss."""
        from losses.caf import caf_training_step

        caf = self.caf
        with autocast(self.device, self.amp):
            out = caf_training_step(caf.encoder, caf.critic, caf.regressor, x, target, caf.opt_critic,
                                    caf.opt_encoder, self.optimizer, av_loss=self.criterion.loss,
                                    margin_fn=caf.margin)
        caf.record(out)
        return torch.tensor(out["av_loss"], device=self.device)


def batches(n: int, batch_size: int, generator: torch.Generator | None, device, rank: int = 0,
            world: int = 1) -> list[Tensor]:
    """Shuffled index batches (on ``device``), each cut into ``world`` disjoint slices of which this rank
    keeps its own; a last batch too small for 2 samples per rank is dropped (BatchNorm needs 2)."""
    order = torch.randperm(n, generator=generator).to(device) if generator is not None else torch.arange(
        n, device=device)
    return [b[rank::world] for b in order.split(batch_size) if b.numel() >= 2 * world or n == 1]


@dataclass
class Dist:
    """Where this process stands in a torchrun job (rank 0 of 1 without one)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def on(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> tuple[Dist, torch.device]:
    """Join the torchrun job the environment describes, if any; the device this rank trains on."""
    dist = Dist(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                int(os.environ.get("LOCAL_RANK", 0)))
    if not dist.on:
        return dist, device
    if not torch.distributed.is_available():
        raise UsageError("WORLD_SIZE > 1 but this torch has no torch.distributed")
    if device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(device)
    torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist, device


@torch.no_grad()
def predict(model: nn.Module, ds: Dataset, device: torch.device, batch_size: int, amp: str = "off",
            channels_last: bool = False) -> Tensor:
    model.eval()
    out = []
    for start in range(0, len(ds), batch_size):
        x = normalise(ds.images[start:start + batch_size].to(device))
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, amp):
            out.append(model(x).float().cpu())
    model.train()
    return torch.cat(out)


# ---------------------------------------------------------------- the command line
def build_parser() -> argparse.ArgumentParser:
    from breg_models import BYPASS_FUNCTIONS

    p = argparse.ArgumentParser(prog="python -m bench.train", description=__doc__.split("\n\n")[0], **examples(
        "python -m bench.train # bregnext50 on a small synth set, 5 epochs",
        "torchrun --nproc_per_node=2 -m bench.train --data affectnet:data/affectnet --amp bf16",
        "python -m bench.train --model tv_resnet18 --data rafdb:data/rafdb --loss dacl --optimizer sgd --lr 0.01",
        defaults=True))
    p.add_argument("--model", default="bregnext50", help="network name (bench.flops lists them)")
    p.add_argument("--data", default="synth", metavar="SPEC",
                   help="synth (built in) or " + ", ".join(f"{s}:PATH" for s in SOURCES if s != "synth")
                   + " (README: Data on disk)")
    p.add_argument("--task", choices=("categorical", "dimensional"), default=None,
                   help=f"default: categorical, or dimensional for {', '.join(DIMENSIONAL_ONLY)}")
    p.add_argument("--epochs", type=int, default=5, help="epochs to train (a rerun resumes up to this many)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="default 128 (Sec. 3.5) on a GPU; 32 on the CPU, where bregnext50 at 128 needs ~10 GB")
    p.add_argument("--lr", type=float, default=1e-4, help="the optimiser's learning rate")
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                   help="adam (BReG-NeXt Sec. 3.5) or sgd with --momentum (DACL Sec. 4.2: lr 0.01, weight decay 5e-4)")
    p.add_argument("--momentum", type=float, default=None,
                   help=f"--optimizer sgd: its momentum, in [0, 1); unset: {SGD_MOMENTUM} (DACL Sec. 4.2)")
    p.add_argument("--lr-gamma", type=float, default=0.8, help="lr multiplier every --lr-step")
    p.add_argument("--lr-step", type=int, default=10, help="the lr decays every this many --lr-step-unit")
    p.add_argument("--lr-step-unit", choices=("epoch", "iter"), default="epoch", help="what --lr-step counts")
    p.add_argument("--loss", default=None,
                   help=", ".join(f"{'|'.join(names)} ({task})" for task, names in LOSSES.items()) + "; default "
                   "focal / mse. focal is the paper's Eq. 17, focal_code the authors' public code (losses.focal)")
    p.add_argument("--method", choices=("plain", "caf"), default="plain",
                   help="plain: the loss on the network's output; caf: CAF's Algorithm 1 (critic, adversarial and "
                        "AV steps per batch; dimensional task only, one process)")
    p.add_argument("--caf-margin", default="adaptive", metavar="SCHEDULE",
                   help="--method caf: the critic's margin: adaptive (Eq. 5, MI + Delta), or CAF Table 4's "
                        "constant:KAPPA (MI + kappa; 0.2 there) or linear:START,SLOPE (MI + START + SLOPE x epochs "
                        "done; 0.1,0.005 there)")
    p.add_argument("--dacl-widths", type=int_list, default=None, metavar="W1,W2,W3",
                   help="--loss dacl: the CE-Unit's three linear widths; unset: the paper's 3584,512,64 on the "
                        "torchvision backbones (tv_*, ResNet-18's 512x7x7 map), "
                        + ",".join(map(str, DACL_WIDTHS)) + " on the zoo's networks (a small last map)")
    p.add_argument("--weight-decay", type=float, default=1e-4, help="L2 on convolution weights")
    p.add_argument("--augment-p", type=float, default=0.25, help="share of samples augmented (0: off)")
    p.add_argument("--image-size", type=int, default=64, help="input side the images are resized to")
    p.add_argument("--synth-train", type=int, default=512, help="synth training set size")
    p.add_argument("--synth-val", type=int, default=256, help="synth validation set size")
    p.add_argument("--synth-nuisance", type=float, default=1.0, help="pose/light/noise strength (0: none)")
    p.add_argument("--synth-balance", default="uniform", help=f"synth class mix: {' | '.join(BALANCES)}")
    p.add_argument("--num-classes", type=int, default=None,
                   help="default: the data set's (" + ", ".join(f"{k} {v}" for k, v in DEFAULT_NUM_CLASSES.items())
                   + ")")
    p.add_argument("--bypass", default=None, metavar="KIND[:p=v,...]",
                   help="swap every unit's bypass H (ablations: identity, atan, scaled:lam=0.9, fixed:alpha=1,beta=0, "
                        f"...); default: the network's own; kinds: {', '.join(BYPASS_FUNCTIONS)}")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="cpu or cuda (under torchrun each process takes cuda:LOCAL_RANK)")
    p.add_argument("--bypass-impl", choices=("eager", "compile", "triton", "auto"), default="eager",
                   help="how the bypass runs (triton needs CUDA)")
    p.add_argument("--amp", choices=tuple(AMP), default="off", help="autocast dtype")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    p.add_argument("--compile", action="store_true", help="torch.compile the whole network")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, data order and augmentation")
    p.add_argument("--deterministic", action="store_true", help="deterministic kernels (slower)")
    p.add_argument("--checkpoint-dir", default="checkpoints", metavar="DIR",
                   help="last and best checkpoints go to DIR/<run key>/")
    p.add_argument("--init", default=None, metavar="PATH",
                   help="start from this state dict file (e.g. ImageNet or MS-Celeb-1M weights for tv_resnet18; a "
                        "plain state dict, or a checkpoint holding one under 'model' or 'state_dict'); the "
                        "classifier head stays fresh where its shape differs, everything else must fit; the path "
                        "is part of the run's identity")
    p.add_argument("--resume", default=None, metavar="CKPT",
                   help="resume from this checkpoint (by default the run's own last.pt is resumed)")
    p.add_argument("--tag", action="append", default=[], type=_tag, metavar="KEY=VALUE",
                   help="a label added to the run's config and every row it writes (bench.reproduce sets "
                        "paper=... and budget=...); part of the run's identity; repeatable")
    p.add_argument("--results", default=None, help="results store (default results/train.jsonl)")
    p.add_argument("--force", action="store_true", help="retrain from scratch even if rows exist")
    p.add_argument("--format", choices=FORMATS, default="markdown",
                   help="markdown/latex: a table of the epochs; json: one result row per line; csv: the rows "
                        "flattened")
    p.add_argument("--out", default=None, help="write the run's rows here instead of stdout")
    return p


def run_config(args) -> dict:
    """Everything that changes what a run computes: its rows' identity in the results store."""
    keys = ("model", "data", "task", "epochs", "batch_size", "lr", "lr_gamma", "lr_step", "lr_step_unit",
            "loss", "weight_decay", "augment_p", "image_size", "num_classes", "bypass_impl", "amp",
            "channels_last", "compile", "seed", "deterministic", "bypass")
    config = {k: getattr(args, k) for k in keys}
    if args.data == "synth":
        config.update(synth_train=args.synth_train, synth_val=args.synth_val,
                      synth_balance=args.synth_balance, synth_nuisance=args.synth_nuisance)
    if args.loss == "dacl":
        config["dacl_widths"] = dacl_widths(args)  # resolved: zoo runs keep the ids they had before tv_ widths
    config.update(optimizer_settings(args))  # absent for Adam, as before --optimizer existed
    if getattr(args, "init", None):  # absent from the config when unset: earlier runs keep their identity
        config["init"] = args.init
    if args.method != "plain":  # plain runs keep the keys (and run ids) they had before --method existed
        config.update(method=args.method, caf_margin=args.caf_margin)
    config["device"] = args.device
    for key, value in args.tag:
        if key in config:
            raise UsageError(f"--tag {key}=...: {key} is a setting of the run, not a label")
        config[key] = value
    return config


def _tag(text: str) -> tuple[str, str]:
    """argparse type for --tag KEY=VALUE."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY a name, got {text!r}")
    return key.strip(), value


def load_split(config: dict, split: str) -> Dataset:
    """One split of a run's data as its config (`run_config`) names it, checked to hold the task's labels:
    training and `bench.evaluate` read a run's data through this one function, so they see the same images."""
    kind = config["data"].partition(":")[0]
    options = dict(size=config["image_size"], seed=config["seed"])
    if kind == "synth":  # synth_test is never set: the test split takes load_dataset's default size
        options.update(num_classes=config["num_classes"], synth_n=config.get(f"synth_{split}"))
        options.update({key: config[f"synth_{key}"] for key in ("balance", "nuisance") if f"synth_{key}" in config})
    ds = load_dataset(config["data"], split, **options)
    ds.targets(config["task"])  # a clear error if the set lacks this task's labels
    return ds


def _load_data(args, device):
    kind = args.data.partition(":")[0]
    if args.task is None:
        args.task = "dimensional" if kind in DIMENSIONAL_ONLY else "categorical"
    if args.num_classes is None:
        args.num_classes = DEFAULT_NUM_CLASSES.get(kind, 8)
    if args.method == "caf" and args.task != "dimensional":
        raise UsageError(f"--method caf needs the dimensional task (valence/arousal labels), not {args.task}")
    if args.loss is None:
        args.loss = "focal" if args.task == "categorical" else "av" if args.method == "caf" else "mse"
    config = run_config(args)
    train, val = load_split(config, "train"), load_split(config, "val")
    if args.task == "categorical" and train.num_classes != args.num_classes:
        raise UsageError(f"{args.data} has {train.num_classes} classes, not --num-classes {args.num_classes}")
    return train.to(device), val


def _is_better(task: str, metrics: dict, best: float | None) -> tuple[bool, float]:
    value = metrics["accuracy"] if task == "categorical" else -metrics["rmse_total"]
    return best is None or value > best, value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    dist, device = init_distributed(resolve_device(args.device))
    try:
        code = _train(args, dist, device)
    except BaseException:
        # Ctrl-C reaches every rank at its own point of the step: a barrier now would wait on collectives the
        # other ranks never join (gloo's 30 s timeout, then torchrun's SIGKILL). Leave the group at once.
        if dist.on:
            torch.distributed.destroy_process_group()
        raise
    if dist.on:
        torch.distributed.barrier()  # the other ranks wait for rank 0's last evaluation and writes
        torch.distributed.destroy_process_group()
    return code


def _train(args, dist: Dist, device: torch.device) -> int:
    from breg_models import create_model, parse_bypass
    from metrics import evaluate

    check_bypass_impl(args.bypass_impl, device)
    if args.batch_size is None:
        args.batch_size = 128 if device.type == "cuda" else 32
    if args.amp == "fp16" and device.type == "cpu":
        raise UsageError("--amp fp16 needs --device cuda (use bf16 on the CPU)")
    args.dacl_widths = dacl_widths(args)
    if len(args.dacl_widths) != 3 or min(args.dacl_widths) < 1:
        raise UsageError(f"--dacl-widths takes three positive widths, got {args.dacl_widths}")
    if args.momentum is not None and args.optimizer != "sgd":
        raise UsageError("--momentum is a setting of --optimizer sgd")
    if args.momentum is not None and not 0 <= args.momentum < 1:
        raise UsageError(f"--momentum must be in [0, 1), got {args.momentum}")
    for name in ("epochs", "batch_size", "lr_step", "image_size"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    set_determinism(args.seed, args.deterministic)
    bypass, bypass_params = parse_bypass(args.bypass) if args.bypass else (None, None)
    probe = create_model(args.model, bypass=bypass, bypass_params=bypass_params, init=args.init)  # fails before data
    if args.image_size < getattr(probe.spec, "min_side", 1):
        raise UsageError(f"--image-size {args.image_size} is too small for {args.model}: it takes at least "
                         f"{probe.spec.min_side} pixels a side")
    if args.loss == "dacl":
        check_dacl_network(probe, args.model)
    if args.method != "caf" and args.caf_margin != "adaptive":
        raise UsageError("--caf-margin is a setting of --method caf")
    if args.method == "caf":
        from losses.caf import MarginSchedule

        try:
            args.caf_margin = MarginSchedule.parse(args.caf_margin).spec  # one spelling per schedule in the config
        except ValueError as exc:
            raise UsageError(f"--caf-margin: {exc}") from None
        if dist.on:
            raise UsageError("--method caf cannot run under torchrun (DDP does not sync its critic and encoder steps)")
        if args.amp == "fp16" or args.compile:
            raise UsageError("--method caf runs without --amp fp16 and --compile (use --amp bf16 or off)")
    train, val = _load_data(args, device)
    config = run_config(args)
    if dist.on:  # per-rank batches and BatchNorm statistics differ from a single process's
        config["world_size"] = dist.world
    store = ResultsStore(args.results or Path("results") / f"{COMMAND}.jsonl")
    if dist.main:  # where rows and the table go must take them before the first epoch's work, not after it
        check_output_path(store.path, "--results")
        check_output_path(args.out, "--out")
    epoch_done = lambda e: store.done(COMMAND, {**config, "epoch": e})
    run_dir = Path(args.checkpoint_dir) / run_id(COMMAND, config)
    if not args.force and all(epoch_done(e) for e in range(1, args.epochs + 1)) and _checkpoint_finished(
            run_dir / "last.pt", args.epochs):
        if dist.main:
            print(f"train: all {args.epochs} epochs of this config are in {store.path}; --force reruns",
                  file=sys.stderr)
            _evaluate_best(config, run_dir, store, device)
            _emit(args, [epoch_done(e) for e in range(1, args.epochs + 1)])
        return 0

    model = create_model(args.model, task=args.task, num_classes=args.num_classes if args.task ==
                         "categorical" else None, bypass=bypass, bypass_params=bypass_params,
                         bypass_impl=args.bypass_impl, init=args.init).to(device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    criterion = Criterion(args.loss, args.task, train, model, tuple(args.dacl_widths), sync=dist.on).to(device)
    groups = param_groups(model, args.weight_decay)
    groups[1]["params"] += list(criterion.parameters())
    optimizer = make_optimizer(groups, args.lr, device, **optimizer_settings(args))
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, args.lr_step, args.lr_gamma)
    caf = None if args.method != "caf" else CAF(model, args.caf_margin, args.lr, args.weight_decay, args.lr_step,
                                                 args.lr_gamma, device, optimizer_settings(args))
    schedulers = [scheduler] + (caf.schedulers if caf else [])
    scaler = torch.amp.GradScaler(device.type, enabled=args.amp == "fp16")
    shuffle = torch.Generator().manual_seed(args.seed)
    aug_gen = torch.Generator(device=device).manual_seed(args.seed + 1)
    net = criterion.network(model)  # DACL: the model and its attention net, one module for DDP to sync
    if dist.on:  # rank 0 evaluates the bare model alone: a DDP forward on one rank would wait for the others
        ddp = torch.nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type ==
                                                        "cuda" else None)
        runner, evaluator = (torch.compile(ddp) if args.compile else ddp), model
    else:
        runner = torch.compile(net) if args.compile else net
        evaluator = runner if net is model else model  # DACLNet's output is no prediction; eager evaluation

    state = {"epoch": 0, "best": None}
    resume = Path(args.resume) if args.resume else run_dir / "last.pt"
    if args.resume and not resume.is_file():
        raise FileNotFoundError(f"--resume: checkpoint not found: {resume}")
    if resume.is_file() and not args.force:
        ckpt = load_checkpoint(resume, map_location=device)
        if ckpt["config"] != config:
            raise UsageError(f"{resume} was written by a different config; --force starts afresh")
        model.load_state_dict(ckpt["model"])
        criterion.load_state_dict(ckpt["criterion"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        shuffle.set_state(ckpt["shuffle_rng"].cpu())
        aug_gen.set_state(ckpt["augment_rng"].cpu())
        if caf is not None:
            caf.load_state_dict(ckpt["caf"])
        state = {"epoch": ckpt["epoch"], "best": ckpt["best"]}
        if dist.main:
            print(f"train: resuming from {resume} after epoch {state['epoch']}", file=sys.stderr)
    if dist.rank:  # augmentation draws differ across ranks (the checkpoint holds rank 0's generator)
        aug_gen.manual_seed(args.seed + 1 + dist.rank + dist.world * state["epoch"])

    step = Step(runner, criterion, optimizer, scaler, device, args.amp, args.channels_last,
                AugmentConfig(p=args.augment_p) if args.augment_p > 0 else None, aug_gen, caf)
    targets = train.targets(args.task)
    for epoch in range(state["epoch"] + 1, args.epochs + 1):
        model.train()
        if caf is not None:
            caf.reset()
            caf.margin.epochs_done = epoch - 1
        order = batches(len(train), args.batch_size, shuffle, device, dist.rank, dist.world)
        bar = tqdm(order, desc=f"{args.model} epoch {epoch}/{args.epochs}", unit="batch", leave=False,
                   disable=None if dist.main else True)
        total = torch.zeros((), device=device)
        start = time.perf_counter()
        for idx in bar:
            total += step(train.images[idx], targets[idx]) * idx.numel()
            if args.lr_step_unit == "iter":
                for s in schedulers:
                    s.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        train_s = time.perf_counter() - start
        if args.lr_step_unit == "epoch":
            for s in schedulers:
                s.step()
        sums = torch.stack([total, torch.tensor(float(sum(b.numel() for b in order)), device=device)])
        if dist.on:  # the loss and image count of the whole epoch, over every rank's slices
            torch.distributed.all_reduce(sums)
            if not dist.main:
                continue
        start = time.perf_counter()
        pred = predict(evaluator, val, device, args.batch_size, args.amp, args.channels_last)
        y_true = val.targets(args.task).cpu().numpy()
        y_pred = pred.softmax(1).numpy() if args.task == "categorical" else pred.numpy()
        metrics = evaluate(args.task, y_true, y_pred, **({"num_classes": args.num_classes}
                                                          if args.task == "categorical" else {}))
        eval_s = time.perf_counter() - start
        seen = int(sums[1])
        metrics["train_loss"] = float(sums[0]) / seen
        better, value = _is_better(args.task, metrics, state["best"])
        if better:
            state["best"] = value
        metrics["best_so_far"] = better
        if caf is not None:
            metrics.update(caf.epoch_metrics())
        timings = {"epoch_s": train_s, "eval_s": eval_s, "images_per_s": seen / train_s,
                   "lr": optimizer.param_groups[0]["lr"]}
        # the row before the checkpoint: a crash between them reruns this epoch, whose row is then kept once
        if args.force or not epoch_done(epoch):
            store.append(make_row(COMMAND, {**config, "epoch": epoch}, metrics, timings))
        save_checkpoint(run_dir, better, dict(
            model=model.state_dict(), criterion=criterion.state_dict(), optimizer=optimizer.state_dict(),
            scheduler=scheduler.state_dict(), scaler=scaler.state_dict(), shuffle_rng=shuffle.get_state(),
            augment_rng=aug_gen.get_state(), epoch=epoch, best=state["best"], config=config,
            **({"caf": caf.state_dict()} if caf is not None else {})))
        key = "accuracy" if args.task == "categorical" else "rmse_total"
        print(f"epoch {epoch}: loss {metrics['train_loss']:.4f} val {key} {metrics[key]:.4f} "
              f"({train_s:.1f} s, {timings['images_per_s']:.0f} img/s)", file=sys.stderr)
    if not dist.main:
        return 0
    _evaluate_best(config, run_dir, store, device, force=args.force)
    # every epoch of the run, resumed or not: the store's rows (this run's, or earlier runs' it resumed)
    return _emit(args, [row for e in range(1, args.epochs + 1) if (row := epoch_done(e))])


def _checkpoint_finished(last: Path, epochs: int) -> bool:
    """Whether the run's last.pt (if it has one) holds the final epoch: a kill after the last row but before
    its checkpoint leaves every row stored and the model one epoch short, and that epoch is redone."""
    return not last.is_file() or load_checkpoint(last).get("epoch", 0) >= epochs


def _evaluate_best(config: dict, run_dir: Path, store: ResultsStore, device: torch.device, force: bool = False):
    """The finished run's best.pt on the validation split as `bench.evaluate` rows (per-class scores, confusion
    matrix), in evaluate.jsonl beside the epochs' store; kept once per config, like the epochs. Nothing on stdout,
    which holds the epochs' rows or table."""
    from bench.evaluate import evaluate_run, evaluation_store

    if (run_dir / "best.pt").is_file():  # absent only when the checkpoint folder was removed after the run
        evaluate_run(config, run_dir / "best.pt", ("val",), evaluation_store(store.path), device, force=force)


def _emit(args, rows: list[dict]) -> int:
    """JSON and CSV: the result rows themselves (JSON one per line, what `train_cell` reads); Markdown and
    LaTeX: the table of `reports.train`."""
    text = format_rows(rows, args.format) if args.format in ("json", "csv") else render_train(rows, args.format)
    write_output(text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
