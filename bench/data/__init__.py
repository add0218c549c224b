"""Data sets as uint8 tensors on any device: `load_dataset('synth' | 'fer2013:PATH' | 'affectnet:PATH' |
'affwild:PATH', split)`, plus the batched augmentation and normalisation that run where the data sits."""

from __future__ import annotations

from .augment import MEAN, AugmentConfig, augment, augment_and_normalise, normalise
from .dataset import AFFECTNET_CLASSES, FER2013_CLASSES, DataError, Dataset
from .synth import make_synth

SOURCES = ("synth", "fer2013", "affectnet", "affwild")
SPLITS = ("train", "val", "test")
SYNTH_SPLIT_SEED = {"train": 0, "val": 1_000_003, "test": 2_000_003}  # disjoint streams per split
SYNTH_SIZES = {"train": 512, "val": 256, "test": 256}  # small enough for a CPU epoch of bregnext50


def parse_spec(spec: str) -> tuple[str, str | None]:
    """'synth' -> ('synth', None); 'fer2013:/data/fer2013.csv' -> ('fer2013', '/data/fer2013.csv')."""
    name, _, path = spec.partition(":")
    if name not in SOURCES:
        raise ValueError(f"unknown data set {spec!r}; use synth, fer2013:PATH, affectnet:PATH or "
                         "affwild:PATH")
    if name == "synth" and path:
        raise ValueError(f"synth takes no path (got {spec!r}); set its size with the synth options")
    if name != "synth" and not path:
        raise ValueError(f"{name} needs a path: {name}:PATH")
    return name, path or None


def load_dataset(spec: str, split: str = "train", *, size: int = 64, seed: int = 0, device="cpu",
                 synth_n: int | None = None, num_classes: int | None = None, balance="uniform",
                 **options) -> Dataset:
    """Load one split as a `Dataset` of uint8 (N, 3, size, size) images on ``device``.

    ``synth_n``, ``num_classes`` (8 or 7) and ``balance`` shape synth; ``options`` go to the file loaders
    (``skip_missing``/``limit`` for AffectNet, ``val_sequences``/``stride`` for Aff-Wild)."""
    name, path = parse_spec(spec)
    if split not in SPLITS and not (name == "affwild" and split == "all"):
        raise ValueError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    if name == "synth":
        n = synth_n if synth_n is not None else SYNTH_SIZES[split]
        return make_synth(n, seed=seed + SYNTH_SPLIT_SEED[split], size=size, num_classes=num_classes or 8,
                          balance=balance, device=device, **options)
    if name == "fer2013":
        from .fer2013 import load_fer2013

        ds = load_fer2013(path, split, size, **options)
    elif name == "affectnet":
        from .affectnet import load_affectnet

        if split == "test":
            raise ValueError("AffectNet's test set is not public; its validation set is the paper's test set")
        ds = load_affectnet(path, split, size, **options)
    else:
        from .affwild import load_affwild

        if split == "test":
            raise ValueError("Aff-Wild's test set is not public; use the train / val split")
        ds = load_affwild(path, split, size, seed=seed, **options)
    return ds.to(device)


__all__ = [
    "AFFECTNET_CLASSES", "FER2013_CLASSES", "MEAN", "SOURCES", "AugmentConfig", "DataError", "Dataset",
    "augment", "augment_and_normalise", "load_dataset", "make_synth", "normalise", "parse_spec",
]
