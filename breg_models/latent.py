"""A network as CAF's encoder f_e (image -> latent vector) and the head on that vector: model(x) == head(encode(x)).

CAF's critic reads the latent vector and its regressor is the head; the critic is the authors' Disc2_light, latent ->
64 -> 32 -> 16, for every encoder (`DISC2_LIGHT`). The zoo's networks and torchvision's
ResNets end in a global average pool and one Linear ``fc``, so the latent is the pooled last feature map. For
torchvision's AlexNets the authors' code puts the cut after the convolutions: the latent is the flattened 6x6
average pool (9216 values) and the head the whole ``classifier``, CAF's regressor.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


def pools_into_fc(model: nn.Module) -> bool:
    """Whether ``model`` is features(x) -> global average pool -> Linear ``fc`` (the zoo, torchvision's ResNets)."""
    return callable(getattr(model, "features", None)) and isinstance(getattr(model, "fc", None), nn.Linear)


def encoder_head(model: nn.Module) -> tuple[Callable[[Tensor], Tensor], nn.Module, int]:
    """(encode, head, latent width) of ``model``; ValueError for a network with no such cut."""
    if pools_into_fc(model):
        return (lambda x: model.features(x).mean(dim=(2, 3))), model.fc, model.fc.in_features
    if all(isinstance(getattr(model, a, None), nn.Module) for a in ("features", "avgpool", "classifier")):
        first = next(m for m in model.classifier if isinstance(m, nn.Linear))
        return (lambda x: torch.flatten(model.avgpool(model.features(x)), 1)), model.classifier, first.in_features
    raise ValueError(f"{type(model).__name__} has neither features() + fc nor features/avgpool/classifier")


DISC2_LIGHT = (64, 32, 16)  # src/models.py Disc2_light after its latent input


def critic_widths(model: nn.Module, latent: int) -> tuple[int, ...]:
    """CAF critic widths for ``model``: its spec's where it names them, else latent -> 64 -> 32 -> 16."""
    own = getattr(getattr(model, "spec", None), "critic", None)
    return (latent, *(own or DISC2_LIGHT))
