"""Data sets as uint8 images on any device or streamed from disk: `load_dataset('synth' | 'fer2013:PATH' |
'affectnet:PATH' | 'affectnet7:PATH' | 'rafdb:PATH' | 'affwild:PATH' | 'afewva:PATH', split)` (file-backed sets
through the decoded cache, `bench.data.cache`), `BatchFeed` and `choose_data_path` to serve batches from disk
in bounded memory, plus the batched augmentation and normalisation that run where the data sits."""

from __future__ import annotations

from harness.data_spec import parse_spec

from .augment import MEAN, AugmentConfig, augment, augment_and_normalise, normalise
from .cache import CACHE_ENV, cache_root, cached_dataset
from .data_path import choose_data_path, footprint
from .dataset import AFFECTNET7_CLASSES, AFFECTNET_CLASSES, FER2013_CLASSES, RAFDB_CLASSES, DataError, Dataset
from .disk import DiskImages
from .errors import CacheCorruptError, CacheFullError
from .feed import BatchFeed
from .index import Index
from .synth import make_synth

DIMENSIONAL_ONLY = ("affwild", "afewva")  # no class labels: train's --task should default to dimensional for these
DEFAULT_NUM_CLASSES = {"synth": 8, "fer2013": 7, "affectnet": 8, "affectnet7": 7, "rafdb": 7}  # synth: or 7
SPLITS = ("train", "val", "test")
SYNTH_SPLIT_SEED = {"train": 0, "val": 1_000_003, "test": 2_000_003}  # disjoint streams per split
SYNTH_SIZES = {"train": 512, "val": 256, "test": 256}  # small enough for a CPU epoch of bregnext50


def index_dataset(spec: str, split: str = "train", *, seed: int = 0, **options) -> Index:
    """The rows of one split of a file-backed set (labels, and the images to decode as jobs), read from its label
    files and checked, without decoding an image: what `load_dataset` decodes through the cache, and what a dry
    run counts. ``options`` as for `load_dataset`."""
    name, path = parse_spec(spec)
    if name == "synth":
        raise ValueError("synth has no files to index: it is generated in memory")
    if split not in SPLITS and not (name in DIMENSIONAL_ONLY and split == "all"):
        raise ValueError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    if name == "fer2013":
        from .fer2013 import index_fer2013

        return index_fer2013(path, split, **options)
    if name in ("affectnet", "affectnet7"):
        from .affectnet import index_affectnet

        if split == "test":
            raise ValueError("AffectNet's test set is not public; its validation set is the paper's test set")
        return index_affectnet(path, split, num_classes=7 if name == "affectnet7" else 8, **options)
    if name == "rafdb":
        from .rafdb import index_rafdb

        return index_rafdb(path, split, **options)
    if name == "afewva":
        from .afewva import index_afewva

        if split == "test":
            raise ValueError("AFEW-VA has no test split; use train / val (val holds out whole actors)")
        return index_afewva(path, split, seed=seed, **options)
    from .affwild import index_affwild

    if split == "test":
        raise ValueError("Aff-Wild's test set is not public; use the train / val split")
    return index_affwild(path, split, seed=seed, **options)


def load_dataset(spec: str, split: str = "train", *, size: int = 64, seed: int = 0, device=None,
                 synth_n: int | None = None, num_classes: int | None = None, balance="uniform",
                 cache_dir=None, **options) -> Dataset:
    """Load one split as a `Dataset` of uint8 (N, 3, size, size) images.

    File-backed sets are decoded once into the decoded cache (``cache_dir``, else ``$BREG_CACHE_DIR``, else
    ``~/.cache/breg-harness``; `bench.data.cache`) and come back disk-backed (``images`` a `DiskImages`) unless
    ``device`` is given, which makes them resident there; synth is generated in memory (on ``device``, default
    the CPU). ``synth_n``, ``num_classes`` (8 or 7) and ``balance`` shape synth; ``options`` go to the file
    loaders (``skip_missing``/``limit`` for AffectNet, ``skip_missing`` for RAF-DB, ``val_sequences``/``stride``
    for Aff-Wild, ``val_fraction``/``stride``/``crop``/``margin`` for AFEW-VA). ``affectnet7`` is AffectNet
    without contempt (7 classes); RAF-DB's val split is its test set (it has no other)."""
    name, _ = parse_spec(spec)
    if split not in SPLITS and not (name in DIMENSIONAL_ONLY and split == "all"):
        raise ValueError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    if name == "synth":
        n = synth_n if synth_n is not None else SYNTH_SIZES[split]
        return make_synth(n, seed=seed + SYNTH_SPLIT_SEED[split], size=size, num_classes=num_classes or 8,
                          balance=balance, device=device or "cpu", **options)
    ds = cached_dataset(index_dataset(spec, split, seed=seed, **options), size, cache_dir)
    return ds if device is None else ds.to(device)


__all__ = [
    "AFFECTNET7_CLASSES", "AFFECTNET_CLASSES", "CACHE_ENV", "DEFAULT_NUM_CLASSES", "DIMENSIONAL_ONLY",
    "FER2013_CLASSES", "MEAN", "RAFDB_CLASSES", "AugmentConfig", "BatchFeed", "CacheCorruptError",
    "CacheFullError", "DataError", "Dataset", "DiskImages", "Index", "augment", "augment_and_normalise",
    "cache_root", "cached_dataset", "choose_data_path", "footprint", "index_dataset", "load_dataset", "make_synth",
    "normalise",
]
