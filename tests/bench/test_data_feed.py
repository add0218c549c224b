"""`BatchFeed` (exactly ``images[idx]``, for a resident tensor or a disk-backed set, and a clean stop however the
loop ends) and the choice between keeping a set resident and streaming it (`choose_data_path`, `footprint`)."""

import threading

import numpy as np
import pytest
import torch

from bench.data import BatchFeed, CacheCorruptError, DiskImages, choose_data_path, data_path, footprint, load_dataset

Image = pytest.importorskip("PIL.Image", reason="Pillow writes the fixture JPEGs")

N, SIZE = 23, 8
HEADER = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal\n"


@pytest.fixture
def disk_set(tmp_path):
    root = tmp_path / "affectnet"
    rng = np.random.default_rng(0)
    for k in range(N):
        path = root / "1" / f"{k}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(path)
    (root / "training.csv").write_text(HEADER + "".join(f'1/{k}.png,0,0,8,8,"",1,0,0\n' for k in range(N)))
    return load_dataset(f"affectnet:{root}", "train", size=SIZE, cache_dir=tmp_path / "cache")


def _batches(n, size, seed=0):
    return list(torch.randperm(n, generator=torch.Generator().manual_seed(seed)).split(size))


def _feed_threads():
    return [t for t in threading.enumerate() if t.name == "batch-feed"]


@pytest.mark.parametrize("prefetch", [1, 3])
def test_feed_yields_exactly_images_idx(disk_set, prefetch):
    assert isinstance(disk_set.images, DiskImages)
    resident = disk_set.images[:]
    batches = _batches(N, 5)  # the last batch is short
    for images in (disk_set.images, resident):
        got = list(BatchFeed(images, batches, "cpu", prefetch=prefetch))
        assert len(got) == len(batches)
        for idx, batch in zip(batches, got, strict=True):
            assert batch.dtype == torch.uint8 and torch.equal(batch, resident[idx])
    assert not _feed_threads()


def test_feed_stops_on_break_and_on_an_error_in_the_loop(disk_set):
    batches = _batches(N, 2)
    for _ in BatchFeed(disk_set.images, batches, "cpu", prefetch=2):
        break
    assert not _feed_threads()
    with pytest.raises(KeyboardInterrupt):
        for _ in BatchFeed(disk_set.images, batches, "cpu"):
            raise KeyboardInterrupt
    assert not _feed_threads()
    feed = iter(BatchFeed(disk_set.images, batches, "cpu"))
    next(feed)
    feed.close()  # what a for loop does when it is left early
    assert not _feed_threads()


def test_feed_raises_a_reader_error_in_the_loop(disk_set):
    shard = disk_set.images.folder / disk_set.images._shards.files[0]
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF  # the last image
    shard.write_bytes(data)
    seen = []
    with pytest.raises(CacheCorruptError, match="fails its CRC check"):
        for batch in BatchFeed(disk_set.images, [torch.tensor([0, 1]), torch.tensor([N - 1])], "cpu"):
            seen.append(batch)
    assert len(seen) == 1 and not _feed_threads()


def test_dataset_to_makes_a_disk_set_resident(disk_set):
    resident = disk_set.to("cpu")
    assert isinstance(resident.images, torch.Tensor) and torch.equal(resident.images, disk_set.images[:])
    assert resident.nbytes == disk_set.nbytes == N * 3 * SIZE * SIZE


def test_choose_data_path(monkeypatch):
    monkeypatch.setattr(data_path, "mem_available", lambda: 10_000)
    assert choose_data_path(4_000, "cpu") == "resident"  # 40% of what is available
    assert choose_data_path(4_001, "cpu") == "stream"
    assert choose_data_path(4_001, "cpu", "resident") == "resident" and choose_data_path(1, "cpu", "stream") == "stream"
    with pytest.raises(ValueError, match="choose one of auto, resident, stream"):
        choose_data_path(1, "cpu", "ram")


def test_footprint_without_decoding(monkeypatch):
    monkeypatch.setattr(data_path, "mem_available", lambda: 10 ** 12)
    plan = footprint(287_651, 224, "cpu", batch_size=128, prefetch=2)
    image = 3 * 224 * 224
    assert plan["data_bytes"] == 287_651 * image and plan["path"] == "resident"
    assert plan["resident"]["host"] >= plan["data_bytes"] and plan["resident"]["disk"] == plan["data_bytes"]
    assert plan["stream"]["host"] < 10 * 128 * image and plan["stream"]["device"] == 0  # bounded: a few batches
    monkeypatch.setattr(data_path, "mem_available", lambda: 10 ** 9)
    assert footprint(287_651, 224, "cpu")["path"] == "stream"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device: pinned ring and side-stream copies")
def test_feed_to_cuda_matches(disk_set):
    batches = _batches(N, 4)
    for batch, idx in zip(BatchFeed(disk_set.images, batches, "cuda", prefetch=2), batches, strict=True):
        assert batch.is_cuda and torch.equal(batch.cpu(), disk_set.images[idx])
    assert torch.equal(disk_set.images.to("cuda").cpu(), disk_set.images[:])
    assert not _feed_threads()
