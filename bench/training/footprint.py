"""What a run needs before it starts, for `--dry-run`: its data on disk, on the host and on the device (resident
or streamed), and the device memory of its model, optimiser and activations, against one GPU's memory.

Counts come from the data set's label files (nothing is decoded), or, where the data is not at hand, from the
sizes the papers give. Activations are an estimate: the bytes of the tensors a forward pass of one face saves
for backward (float32, found on the meta device, so nothing is computed), times the batch.
"""

from __future__ import annotations

import torch
from torch import nn

from bench.data.data_path import RESIDENT_FRACTION, STAGING_BYTES, footprint

from .inputs import stored_size

ASSUMED_GPU = 80 * 2**30  # an 80 GB H100 when this machine has no GPU to ask
# Faces per split of the papers' data sets, for a dry run without the data (the data sets' own counts: AffectNet's
# manual training/validation sets, its 7 classes without 3,750 contempt training and 250 validation faces,
# FER2013's Training/PublicTest, RAF-DB basic's train/test, AFEW-VA and Aff-Wild about, as CAF's recipe assumes).
PUBLISHED_COUNTS = {"affectnet": (287_651, 4_000), "affectnet7": (283_901, 3_500), "fer2013": (28_709, 3_589),
                    "rafdb": (12_271, 3_068), "afewva": (24_000, 6_000), "affwild": (900_000, 100_000)}
OPTIMIZER_STATE = {"adam": 8, "sgd": 4}  # bytes of state per float32 parameter (Adam's two moments, SGD momentum)


def split_counts(config: dict, cache_dir: str | None = None) -> tuple[int, int, str]:
    """(training faces, validation faces, where the counts come from)."""
    from bench.data import index_dataset

    kind, _, path = config["data"].partition(":")
    if kind == "synth":
        return config.get("synth_train", 512), config.get("synth_val", 256), "synth"
    try:
        counts = [len(index_dataset(config["data"], split, seed=config["seed"])) for split in ("train", "val")]
        return counts[0], counts[1], f"counted in {path}"
    except (OSError, ValueError):
        train, val = PUBLISHED_COUNTS[kind]
        return train, val, f"the data set's published size ({path} not readable here)"


def _meta_model(config: dict) -> nn.Module:
    from breg_models import create_model, parse_bypass

    bypass, params = parse_bypass(config["bypass"]) if config.get("bypass") else (None, None)
    with torch.device("meta"):
        return create_model(config["model"], task=config["task"], bypass=bypass, bypass_params=params,
                            num_classes=config["num_classes"] if config["task"] == "categorical" else None)


def _saved_bytes(model: nn.Module, side: int) -> tuple[int, tuple[int, ...] | None]:
    """Bytes saved for backward per face, and the last feature map's shape (C, H, W) if any. Taken as the
    difference of a 4-face and a 2-face forward: batch norm refuses one face on a 1x1 map, and what a forward
    saves whatever the batch (the weights) is no activation."""

    def saved_by(n: int) -> int:
        saved: dict[int, torch.Tensor] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            saved[id(t)] = t
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(torch.empty(n, 3, side, side, device="meta"))
        return sum(t.numel() * t.element_size() for t in saved.values())

    x = torch.empty(2, 3, side, side, device="meta")
    fmap = tuple(model.features(x).shape[1:]) if callable(getattr(model, "features", None)) else None
    return (saved_by(4) - saved_by(2)) // 2, fmap


def _extra_parameters(config: dict, fmap: tuple[int, ...] | None) -> tuple[int, str]:
    """Parameters a method trains beside the network: DACL's attention net (the critic of CAF is small)."""
    if config["loss"] != "dacl" or fmap is None or len(fmap) != 3:
        return 0, ""
    from losses import DACLAttention

    with torch.device("meta"):
        attention = DACLAttention.for_feature_map(*fmap, hidden_dims=config["dacl_widths"])
    return sum(p.numel() for p in attention.parameters()), "DACL's attention net"


def run_footprint(config: dict, device: str, cache_dir: str | None = None) -> dict:
    """Data and model memory of the run ``config`` names (see the module)."""
    n_train, n_val, counted = split_counts(config, cache_dir)
    side, batch = stored_size(config), config["batch_size"]
    cuda = device.startswith("cuda")
    gpu = torch.cuda.get_device_properties(0).total_memory if cuda and torch.cuda.is_available() else ASSUMED_GPU
    data = footprint(n_train + n_val, side, "cpu", batch_size=batch)
    path, host, data_device = data["path"], data[data["path"]]["host"], 0
    if cuda:  # the GPU's budget, asked of the GPU or assumed; the host holds staging or pinned batch buffers
        path = "resident" if data["data_bytes"] <= RESIDENT_FRACTION * gpu else "stream"
        batch_bytes = batch * data["image_bytes"]
        host = min(STAGING_BYTES, data["data_bytes"]) if path == "resident" else 3 * batch_bytes
        data_device = data["data_bytes"] if path == "resident" else 4 * batch_bytes  # batches in flight
    model = _meta_model(config)
    activations, fmap = _saved_bytes(model, config["image_size"])
    params = sum(p.numel() for p in model.parameters())
    extra, extra_name = _extra_parameters(config, fmap)
    state = (params + extra) * (8 + OPTIMIZER_STATE[config.get("optimizer", "adam")])
    device_total = data_device + state + activations * batch
    return {"train": n_train, "val": n_val, "counted": counted, "side": side, "data_bytes": data["data_bytes"],
            "path": path, "host_bytes": host, "data_device_bytes": data_device, "params": params,
            "extra_params": extra, "extra_name": extra_name, "state_bytes": state,
            "activation_bytes": activations * batch, "device_bytes": device_total, "gpu_bytes": gpu if cuda else None,
            "gpu_assumed": cuda and not torch.cuda.is_available(), "batch": batch}


def _gb(n: float) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e8 else f"{n / 1e6:,.1f} MB"


def footprint_notes(fp: dict) -> list[str]:
    """The footprint as sentences for a dry run's notes."""
    extra = f" + {fp['extra_params'] / 1e6:.1f}M ({fp['extra_name']})" if fp["extra_params"] else ""
    kept = "generated in memory" if fp["counted"] == "synth" else "on disk in the decoded cache"
    lines = [f"data: {fp['train']:,} training + {fp['val']:,} validation faces ({fp['counted']}) at {fp['side']} px: "
             f"{_gb(fp['data_bytes'])} decoded, {kept}; this run holds them "
             f"{'resident' if fp['path'] == 'resident' else 'on disk and streams them a batch at a time'} "
             f"(host {_gb(fp['host_bytes'])}, device {_gb(fp['data_device_bytes'])})",
             f"model: {fp['params'] / 1e6:.1f}M parameters{extra}: weights, gradients and optimiser state "
             f"{_gb(fp['state_bytes'])}; activations about {_gb(fp['activation_bytes'])} at batch {fp['batch']} "
             "(tensors saved for backward, float32)"]
    if fp["gpu_bytes"]:
        where = "an 80 GB GPU (assumed: no GPU here)" if fp["gpu_assumed"] else f"this GPU's {_gb(fp['gpu_bytes'])}"
        fits = "fits" if fp["device_bytes"] <= fp["gpu_bytes"] else "DOES NOT FIT"
        lines.append(f"device: {_gb(fp['device_bytes'])} in all, on {where}: {fits}")
    return lines
