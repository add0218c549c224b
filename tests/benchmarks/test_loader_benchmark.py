"""pytest-benchmark of the disk-backed data path: one shuffled epoch through `BatchFeed` from the decoded cache,
against indexing the same images resident in memory, at 64 and 224 px.

Skipped by default (tests/conftest.py sets ``--benchmark-skip``), and where pytest-benchmark is not installed.
Run with
    pytest tests/benchmarks/test_loader_benchmark.py --benchmark-only
The whole-set numbers with memory (first decode, second open, peak RSS) come from `python -m bench.loader`.
"""

import pytest
import torch

from bench import loader
from bench.data import BatchFeed, load_dataset

pytest.importorskip("PIL.Image", reason="Pillow writes the generated faces")
FACES, BATCH = 512, 128
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return loader.make_affectnet(tmp_path_factory.mktemp("faces"), FACES)


@pytest.mark.parametrize("size", [64, 224])
@pytest.mark.parametrize("path", ["stream", "resident"])
def test_epoch(benchmark, folder, tmp_path, size, path):
    ds = load_dataset(f"affectnet:{folder}", "train", size=size, cache_dir=tmp_path / "cache")
    images = ds.images if path == "stream" else ds.images.to(DEVICE)
    batches = list(torch.randperm(len(ds), generator=torch.Generator().manual_seed(0)).split(BATCH))
    sync = torch.cuda.synchronize if DEVICE == "cuda" else (lambda: None)

    def epoch():
        for batch in BatchFeed(images, batches, DEVICE):
            batch[:, 0, 0, 0].sum()
        sync()

    benchmark(epoch)
    benchmark.extra_info["images_per_s"] = FACES / benchmark.stats["mean"]
