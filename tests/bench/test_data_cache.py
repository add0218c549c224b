"""The decoded cache (`bench.data.cache`): decoded once and reused, rebuilt when a source changes or a shard is cut
short or corrupt, never half-read, and every bad situation one line. Tiny AffectNet folders of 8x8 JPEGs, decoded
at 8x8 into shards of 4 images (SHARD_BYTES patched)."""

import errno
import json
import multiprocessing
import os
import time

import numpy as np
import pytest
import torch

from bench.data import CacheCorruptError, CacheFullError, DiskImages, cache_build, index_dataset, load_dataset
from bench.data.images import decode
from harness.cli import UsageError

Image = pytest.importorskip("PIL.Image", reason="Pillow writes the fixture JPEGs")

N, SIZE, PER_SHARD = 10, 8, 4
HEADER = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal\n"


def _face(path, k):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), (20 * k, 255 - 20 * k, 7 * k), dtype=np.uint8)).save(path)


@pytest.fixture
def affectnet(tmp_path):
    root = tmp_path / "affectnet"
    for k in range(N):
        _face(root / "Manually_Annotated_Images" / "1" / f"{k}.png", k)
    rows = [f'1/{k}.png,0,0,8,8,"",{k % 8},0.5,-0.25\n' for k in range(N)]
    (root / "training.csv").write_text(HEADER + "".join(rows))
    (root / "validation.csv").write_text(HEADER + "".join(rows[:3]))
    return root


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "cache"


@pytest.fixture
def decodes(monkeypatch):
    """Every image decoded from its file is counted (shards of 4 images)."""
    monkeypatch.setattr(cache_build, "SHARD_BYTES", PER_SHARD * 3 * SIZE * SIZE)
    calls = []
    real = cache_build.decode_or_skip

    def counted(job, size, skip):
        calls.append(os.path.basename(job.path))
        return real(job, size, skip)

    monkeypatch.setattr(cache_build, "decode_or_skip", counted)
    return calls


def _load(root, cache_dir, **kw):
    return load_dataset(f"affectnet:{root}", "train", size=SIZE, cache_dir=cache_dir, **kw)


def _expected(root):
    jobs = index_dataset(f"affectnet:{root}", "train").jobs
    return torch.from_numpy(np.stack([decode(j, SIZE) for j in jobs]))


def _shards(ds):
    return sorted(ds.images.folder.glob("*.u8"))


def test_decoded_once_then_reused(affectnet, cache_dir, decodes):
    first = _load(affectnet, cache_dir)
    assert isinstance(first.images, DiskImages) and len(decodes) == N
    second = _load(affectnet, cache_dir)
    assert len(decodes) == N  # nothing decoded on the second open
    assert torch.equal(second.images[:], _expected(affectnet)) and second.labels.tolist() == [k % 8 for k in range(N)]
    assert second.info["cache"] == str(second.images.folder) and second.info["skipped"] == {}
    assert len(_shards(second)) == 3 and (second.images.folder / "manifest.json").is_file()


def test_changed_image_rebuilds_only_its_shard(affectnet, cache_dir, decodes, capsys):
    _load(affectnet, cache_dir)
    _face(affectnet / "Manually_Annotated_Images" / "1" / "5.png", 11)
    os.utime(affectnet / "Manually_Annotated_Images" / "1" / "5.png", ns=(1, 1))  # a new mtime whatever the clock
    ds = _load(affectnet, cache_dir)
    err = capsys.readouterr().err
    assert "1 source file(s) changed since it was built" in err and "5.png changed" in err and "rebuilding" in err
    assert len(decodes) == N + PER_SHARD  # the shard holding image 5, not the others
    assert torch.equal(ds.images[:], _expected(affectnet)) and len(_shards(ds)) == 3  # the old shard removed


def test_changed_label_file_rebuilds(affectnet, cache_dir, decodes, capsys):
    _load(affectnet, cache_dir)
    csv = affectnet / "training.csv"
    csv.write_text(csv.read_text() + '1/0.png,0,0,4,4,"",3,0.1,0.1\n')
    ds = _load(affectnet, cache_dir)
    assert "the label files now list other images (11 rows, were 10)" in capsys.readouterr().err
    assert len(ds) == N + 1 and len(decodes) == N + 3  # only the last shard (8, 9 and the new row) is new
    assert torch.equal(ds.images[:], _expected(affectnet))


def test_truncated_shard_is_rebuilt_at_open(affectnet, cache_dir, decodes, capsys):
    first = _load(affectnet, cache_dir)
    shard = _shards(first)[0]  # shards are named by a hash: any one of them, the short last one included
    images = shard.stat().st_size // (first.images.nbytes // len(first))
    os.truncate(shard, 100)
    ds = _load(affectnet, cache_dir)
    assert f"shard {shard.name} is cut short (100 of" in capsys.readouterr().err
    assert images in (PER_SHARD, N % PER_SHARD) and len(decodes) == N + images  # that shard's images only
    assert torch.equal(ds.images[:], _expected(affectnet))


def test_flipped_byte_is_never_returned_and_marks_the_cache_stale(affectnet, cache_dir, decodes, capsys):
    ds = _load(affectnet, cache_dir)
    shard = ds.images.folder / ds.images._shards.files[1]  # images 4..7
    data = bytearray(shard.read_bytes())
    data[3 * SIZE * SIZE + 5] ^= 0x01  # image 5
    shard.write_bytes(data)
    assert torch.equal(ds.images[torch.tensor([0, 1, 9])], _expected(affectnet)[[0, 1, 9]])  # other images are fine
    with pytest.raises(CacheCorruptError) as info:
        ds.images[torch.tensor([2, 5])]
    message = str(info.value)
    assert "\n" not in message and shard.name in message and "image 1 fails its CRC check" in message
    with pytest.raises(CacheCorruptError):
        ds.images[5]
    again = _load(affectnet, cache_dir)
    assert "found it corrupt" in capsys.readouterr().err
    assert len(decodes) == N + PER_SHARD and torch.equal(again.images[:], _expected(affectnet))


def test_interrupted_build_leaves_no_readable_cache_and_keeps_finished_shards(affectnet, cache_dir, decodes,
                                                                               monkeypatch):
    counted = cache_build.decode_or_skip

    def dies_at_image_6(job, size, skip):
        if os.path.basename(job.path) == "6.png":
            raise KeyboardInterrupt
        return counted(job, size, skip)

    monkeypatch.setattr(cache_build, "decode_or_skip", dies_at_image_6)
    with pytest.raises(KeyboardInterrupt):
        _load(affectnet, cache_dir)
    (folder,) = cache_dir.iterdir()
    assert not (folder / "manifest.json").exists() and not list(folder.glob("*.tmp"))
    assert len(list(folder.glob("*.u8"))) == 1  # images 0-3 finished; 4-7 was in progress
    monkeypatch.setattr(cache_build, "decode_or_skip", counted)
    decodes.clear()
    ds = _load(affectnet, cache_dir)
    assert sorted(decodes) == sorted(f"{k}.png" for k in range(4, N))  # the finished shard was reused
    assert torch.equal(ds.images[:], _expected(affectnet))


def test_full_disk_removes_the_partial_shard_and_keeps_finished_ones(affectnet, cache_dir, decodes, monkeypatch):
    real, written = cache_build._write, []

    def fills_up(fh, data):
        written.append(len(data))
        if len(written) == PER_SHARD + 1 + 2:  # shard 1 and its record written, then 2 images into shard 2
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fh, data)

    monkeypatch.setattr(cache_build, "_write", fills_up)
    with pytest.raises(CacheFullError) as info:
        _load(affectnet, cache_dir)
    message = str(info.value)
    assert "\n" not in message and "1 finished shard(s) of 3 kept" in message and "--cache-dir" in message
    (folder,) = cache_dir.iterdir()
    assert not list(folder.glob("*.tmp")) and len(list(folder.glob("*.u8"))) == 1
    assert not (folder / "manifest.json").exists()
    monkeypatch.setattr(cache_build, "_write", real)
    assert torch.equal(_load(affectnet, cache_dir).images[:], _expected(affectnet))
    assert len(decodes) == N + N - PER_SHARD


def test_unwritable_cache_folder_is_one_line(affectnet, tmp_path):
    (tmp_path / "a_file").write_text("")
    with pytest.raises(UsageError) as info:
        _load(affectnet, tmp_path / "a_file" / "cache")
    message = str(info.value)
    assert "\n" not in message and "a_file" in message and "--cache-dir" in message and "BREG_CACHE_DIR" in message
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(UsageError, match="not writable"):
            _load(affectnet, locked)


def test_default_folder_is_breg_cache_dir(affectnet, tmp_path, monkeypatch):
    monkeypatch.setenv("BREG_CACHE_DIR", str(tmp_path / "env-cache"))
    ds = load_dataset(f"affectnet:{affectnet}", "val", size=SIZE)
    assert ds.images.folder.parent == tmp_path / "env-cache"


def test_skipped_images_are_recorded_and_warned_on_every_open(affectnet, cache_dir, decodes):
    (affectnet / "Manually_Annotated_Images" / "1" / "3.png").unlink()
    for _ in range(2):
        with pytest.warns(UserWarning, match="1 rows with missing or unreadable image"):
            ds = _load(affectnet, cache_dir, skip_missing=True)
        assert len(ds) == N - 1 and ds.info["skipped"] == {"missing or unreadable image": 1}
        assert ds.labels.tolist() == [k % 8 for k in range(N) if k != 3]
    assert len(decodes) == N


def _build_in_child(root, cache_dir, counter, log):
    import sys

    sys.stderr = open(log, "w", buffering=1)
    real = cache_build.decode_or_skip

    def slow(job, size, skip):
        with counter.get_lock():
            counter.value += 1
        time.sleep(0.05)
        return real(job, size, skip)

    cache_build.decode_or_skip = slow
    ds = _load(root, cache_dir)
    assert torch.equal(ds.images[:], _expected(root))


def test_two_processes_build_once(affectnet, cache_dir, tmp_path):
    ctx = multiprocessing.get_context("fork")
    counter = ctx.Value("i", 0)
    logs = [tmp_path / f"log{i}" for i in range(2)]
    procs = [ctx.Process(target=_build_in_child, args=(affectnet, cache_dir, counter, log)) for log in logs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert counter.value == N  # decoded by one of them only
    waited = [log.read_text() for log in logs if "waiting for another process (pid" in log.read_text()]
    assert len(waited) == 1 and len(waited[0].strip().splitlines()[0]) < 300


def test_disk_images_index_like_a_tensor(affectnet, cache_dir):
    ds = _load(affectnet, cache_dir)
    full, images = _expected(affectnet), ds.images
    assert images.shape == full.shape and images.dtype == torch.uint8 and len(images) == N
    assert images.nbytes == full.numel() == ds.nbytes
    assert torch.equal(images[3], full[3]) and torch.equal(images[-1], full[-1])
    assert torch.equal(images[2:9:3], full[2:9:3]) and torch.equal(images[:, 1], full[:, 1])
    assert torch.equal(images[[7, 7, 0]], full[[7, 7, 0]]) and torch.equal(images[torch.tensor(4)], full[4])
    mask = torch.arange(N) % 3 == 0
    assert torch.equal(images[mask], full[mask])
    with pytest.raises(IndexError):
        images[torch.tensor([N])]
    sub = ds.subset(torch.tensor([9, 2, 5]))
    assert isinstance(sub.images, DiskImages) and torch.equal(sub.images[:], full[[9, 2, 5]])
    assert sub.labels.tolist() == [1, 2, 5] and torch.equal(sub.subset(torch.tensor([1])).images[:], full[[2]])
    resident = ds.to("cpu")
    assert resident.resident and not ds.resident and torch.equal(resident.images, full)
    assert torch.equal(images.to("cpu", chunk_bytes=100), full)  # chunks smaller than an image still work


def test_groups_name_each_rows_clip(tmp_path):
    for n, clip in enumerate(("001", "002", "003")):  # AFEW-VA clips of two frames each
        folder = tmp_path / "afewva" / clip
        frames = {f"{k:05d}": {"valence": k, "arousal": -k, "landmarks": [[1, 1], [6, 6]]} for k in range(2)}
        for key in frames:
            _face(folder / f"{key}.png", n)
        (folder / f"{clip}.json").write_text(json.dumps({"actor": f"actor {n}", "frames": frames}))
    ds = load_dataset(f"afewva:{tmp_path / 'afewva'}", "all", size=SIZE, cache_dir=tmp_path / "cache")
    assert ds.group_names == ("001", "002", "003") and ds.groups.tolist() == [0, 0, 1, 1, 2, 2]
    assert ds.subset(torch.tensor([5, 0])).groups.tolist() == [2, 0]
