"""A run's data as its config names it, its input transform, shuffled batches and predictions.

Training and `bench.evaluate` read a run's data through `load_split` and `input_transform`, so they see the
same faces, cropped and normalised the same way.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bench.data import BatchFeed, Dataset, load_dataset
from bench.data.transform import InputTransform

from .runtime import autocast


def stored_size(config: dict) -> int:
    """The side faces are decoded to: ``resize`` (DACL's and CAF's 256 before a 224 crop) or the input side."""
    return config.get("resize") or config["image_size"]


def input_transform(config: dict) -> InputTransform:
    """The run's augmentation, crop and normalisation (`bench.data.transform`)."""
    return InputTransform(config.get("augment", "bregnext"), config["augment_p"], config.get("normalise", "bregnext"),
                          config["image_size"])


def load_split(config: dict, split: str, cache_dir: str | None = None) -> Dataset:
    """One split of a run's data as its config (`bench.train.run_config`) names it, checked to hold the task's
    labels: synth generated in memory, a file-backed set disk-backed from the decoded cache (``cache_dir``, else
    the default; `bench.data.cache`)."""
    kind = config["data"].partition(":")[0]
    options = dict(size=stored_size(config), seed=config["seed"])
    if kind == "synth":  # synth_test is never set: the test split takes load_dataset's default size
        options.update(num_classes=config["num_classes"], synth_n=config.get(f"synth_{split}"))
        options.update({key: config[f"synth_{key}"] for key in ("balance", "nuisance") if f"synth_{key}" in config})
    else:
        options["cache_dir"] = cache_dir
    ds = load_dataset(config["data"], split, **options)
    ds.targets(config["task"])  # a clear error if the set lacks this task's labels
    return ds


def batches(n: int, batch_size: int, generator: torch.Generator | None, device, rank: int = 0,
            world: int = 1) -> list[Tensor]:
    """Shuffled index batches (on ``device``), each cut into ``world`` disjoint slices of which this rank
    keeps its own; a last batch too small for 2 samples per rank is dropped (BatchNorm needs 2)."""
    order = torch.randperm(n, generator=generator).to(device) if generator is not None else torch.arange(
        n, device=device)
    return [b[rank::world] for b in order.split(batch_size) if b.numel() >= 2 * world or n == 1]


@torch.no_grad()
def predict(model: nn.Module, ds: Dataset, device: torch.device, batch_size: int, amp: str = "off",
            channels_last: bool = False, transform: InputTransform | None = None) -> Tensor:
    """The model's outputs over ``ds`` in order (float32, on the CPU), with the run's test-time input."""
    transform = transform or InputTransform()
    model.eval()
    out = []
    order = list(torch.arange(len(ds)).split(batch_size))
    for images in BatchFeed(ds.images, order, device):  # a disk-backed set is read ahead, a batch at a time
        x = transform.test(images)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, amp):
            out.append(model(x).float().cpu())
    model.train()
    return torch.cat(out)
