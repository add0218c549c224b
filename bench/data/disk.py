"""`DiskImages`: a decoded cache's images, read from disk a batch at a time, checked on every read.

Reads are positional (``os.preadv`` straight into the caller's buffer, a pinned one included), not a memory
map: mapped pages count in the process's resident memory, pages read through the page cache do not, so a
pass over a 43 GB set stays within the few batches in flight. Every image read is checked against the CRC32
written with it; one that fails is never returned: the read raises `CacheCorruptError` naming the shard and
marks the cache stale, so the next run decodes that shard again.
"""

from __future__ import annotations

import json
import os
import resource
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .errors import CacheCorruptError

STALE_FILE = "STALE"  # in a cache folder: the shards a reader found corrupt; the next open rebuilds them
MAX_READ = 1 << 30  # bytes per preadv call (Linux caps one call near 2 GiB)
PARALLEL_BYTES = 8 << 20  # a read this large is split over reader threads (preadv and crc32 free the GIL)
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _readers() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="disk-images")
        return _pool


def mark_stale(folder: Path, shard: str, why: str) -> None:
    """Record in ``folder`` that ``shard`` is bad, for the next open to rebuild it (best effort: a read-only
    cache stays as it is, and the error already says what is wrong)."""
    path = Path(folder) / STALE_FILE
    try:
        found = json.loads(path.read_text()) if path.is_file() else {}
        shards = sorted({*found.get("shards", []), shard})
        tmp = path.with_name(f"{STALE_FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"shards": shards, "why": why}))
        os.replace(tmp, path)
    except (OSError, ValueError):
        pass


class _Shards:
    """The open shard files of one cache, shared by every view of it (a pickled copy opens them on first use)."""

    def __init__(self, folder: Path, files: list[str], counts: list[int], crc: np.ndarray, image_shape: tuple):
        self.folder, self.files, self.crc, self.image_shape = Path(folder), list(files), crc, tuple(image_shape)
        self.starts = np.concatenate([[0], np.cumsum(np.asarray(counts, dtype=np.int64))])
        self.item_bytes = int(np.prod(self.image_shape))
        self._fds: list[int | None] = [None] * len(self.files)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return int(self.starts[-1])

    def fd(self, shard: int) -> int:
        fd = self._fds[shard]
        if fd is None:
            with self._lock:
                if self._fds[shard] is None:
                    _allow_open_files(len(self.files))
                    self._fds[shard] = os.open(self.folder / self.files[shard], os.O_RDONLY)
                fd = self._fds[shard]
        return fd

    def close(self) -> None:
        with self._lock:
            for fd in self._fds:
                if fd is not None:
                    os.close(fd)
            self._fds = [None] * len(self.files)

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def __getstate__(self):  # pickled (Ray, spawn) without descriptors: the copy opens its own
        state = self.__dict__.copy()
        state["_fds"], state["_lock"] = [None] * len(self.files), None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()


def _allow_open_files(needed: int) -> None:
    """Raise the soft open-file limit when a cache has more shards than it leaves room for."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed + 256
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want if hard == resource.RLIM_INFINITY else min(want, hard), hard))


class DiskImages:
    """uint8 images (N, 3, S, S) in a decoded cache. ``images[idx]`` (int64 tensor, slice, int, list) is a CPU
    uint8 tensor read from disk; ``read_into`` fills a buffer you own (pinned, reused); ``to(device)`` reads the
    whole set into a tensor there; ``subset(index)`` is a view that holds the index and reads nothing."""

    dtype = torch.uint8

    def __init__(self, shards: _Shards, rows: np.ndarray | None = None):
        self._shards, self._rows = shards, rows

    @classmethod
    def open(cls, folder: Path, files: list[str], counts: list[int], crc: np.ndarray, image_shape: tuple
             ) -> DiskImages:
        """Every shard is opened now: a later rebuild that removes a shard leaves this reader's copy readable."""
        shards = _Shards(folder, files, counts, crc, image_shape)
        for i in range(len(files)):
            shards.fd(i)
        return cls(shards)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), *self._shards.image_shape))

    @property
    def folder(self) -> Path:
        return self._shards.folder

    def __len__(self) -> int:
        return len(self._shards) if self._rows is None else len(self._rows)

    @property
    def nbytes(self) -> int:
        return len(self) * self._shards.item_bytes

    def __repr__(self) -> str:
        return f"DiskImages({tuple(self.shape)}, uint8, {self.folder})"

    def positions(self, key) -> np.ndarray:
        """``key`` (int64 or bool tensor or array, list, slice) as int64 positions in this view, checked."""
        n = len(self)
        if isinstance(key, slice):
            return np.arange(n, dtype=np.int64)[key]
        if isinstance(key, Tensor):
            key = key.detach().cpu().numpy()
        pos = np.asarray(key)
        if pos.dtype == np.bool_:
            if pos.shape != (n,):
                raise IndexError(f"a boolean index of shape {pos.shape} on {n} images")
            return np.flatnonzero(pos)
        if pos.dtype.kind not in "iu":
            raise IndexError(f"images are indexed by integers, not {pos.dtype}")
        pos = pos.astype(np.int64).reshape(-1)
        pos = np.where(pos < 0, pos + n, pos)
        if pos.size and (pos.min() < 0 or pos.max() >= n):
            raise IndexError(f"index out of range for {n} images")
        return pos

    def _in_cache(self, pos: np.ndarray) -> np.ndarray:
        return pos if self._rows is None else self._rows[pos]

    def __getitem__(self, key) -> Tensor:
        rest = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        single = isinstance(key, (int, np.integer)) or (isinstance(key, Tensor) and key.dim() == 0)
        pos = self.positions([int(key)] if single else key)
        out = torch.empty((len(pos), *self._shards.image_shape), dtype=torch.uint8)
        self.read_into(pos, out)
        out = out[0] if single else out
        return out[(slice(None),) * (not single) + rest] if rest else out

    def read_into(self, index, out: Tensor) -> Tensor:
        """Read the images at ``index`` (positions in this view) into ``out[:len(index)]`` (uint8, CPU,
        contiguous; pinned memory is fine) and return that part of it."""
        pos = self._in_cache(self.positions(index))
        if out.device.type != "cpu" or not out.is_contiguous() or out.dtype != torch.uint8:
            raise ValueError("read_into needs a contiguous uint8 CPU tensor")
        dest = out[:len(pos)]
        flat = dest.numpy().reshape(len(pos), -1)
        if len(pos) * self._shards.item_bytes >= PARALLEL_BYTES and len(pos) > 1:
            parts = np.array_split(np.arange(len(pos)), min(4, os.cpu_count() or 1))
            list(_readers().map(lambda p: self._read(pos[p], flat[p[0]:p[-1] + 1]), [p for p in parts if p.size]))
        else:
            self._read(pos, flat)
        return dest

    def _read(self, pos: np.ndarray, flat: np.ndarray) -> None:
        """Cache positions ``pos`` into the rows of ``flat``: one preadv per run of consecutive images."""
        shards, item = self._shards, self._shards.item_bytes
        shard = np.searchsorted(shards.starts, pos, side="right") - 1
        local = pos - shards.starts[shard]
        run_break = np.flatnonzero((np.diff(shard) != 0) | (np.diff(local) != 1)) + 1
        per_call = max(1, MAX_READ // item)
        bounds = np.concatenate([[0], run_break, [len(pos)]]).tolist()
        shard_l, local_l, crc = shard.tolist(), local.tolist(), shards.crc
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            for lo in range(a, b, per_call):
                hi = min(b, lo + per_call)
                fd = shards.fd(shard_l[lo])
                got = os.preadv(fd, [flat[lo:hi].reshape(-1)], local_l[lo] * item)
                if got != (hi - lo) * item:
                    self._corrupt(shard_l[lo], local_l[lo] + got // item, "is cut short")
            for j in range(a, b):
                if zlib.crc32(flat[j]) != crc[pos[j]]:
                    self._corrupt(shard_l[j], local_l[j], "fails its CRC check")

    def _corrupt(self, shard: int, image: int, what: str):
        name = self._shards.files[shard]
        mark_stale(self._shards.folder, name, f"image {image} of shard {name} {what}")
        raise CacheCorruptError(f"decoded cache {self._shards.folder / name}: image {image} {what}; the cache is "
                                "marked stale and the next run decodes that shard again")

    def subset(self, index) -> DiskImages:
        return DiskImages(self._shards, self._in_cache(self.positions(index)))

    def to(self, device, chunk_bytes: int = 256 << 20) -> Tensor:
        """The whole view as one tensor on ``device``, read in chunks straight into it (on CUDA through two
        pinned staging buffers, so the host never holds the set)."""
        device = torch.device(device)
        n, step = len(self), max(1, chunk_bytes // self._shards.item_bytes)
        out = torch.empty(self.shape, dtype=torch.uint8, device=device)
        if device.type == "cpu":
            for a in range(0, n, step):
                self.read_into(np.arange(a, min(n, a + step)), out[a:a + step])
            return out
        staging = [torch.empty((min(step, n), *self._shards.image_shape), dtype=torch.uint8, pin_memory=True)
                   for _ in range(2)]
        done: list[torch.cuda.Event | None] = [None, None]
        with torch.cuda.device(device):
            stream = torch.cuda.current_stream()
            for k, a in enumerate(range(0, n, step)):
                slot = k % 2
                if done[slot] is not None:
                    done[slot].synchronize()  # that buffer's last copy has landed: it may be refilled
                part = self.read_into(np.arange(a, min(n, a + step)), staging[slot])
                out[a:a + len(part)].copy_(part, non_blocking=True)
                done[slot] = torch.cuda.Event()
                done[slot].record(stream)
            stream.synchronize()
        return out

    def close(self) -> None:
        """Close the shard files (every view of this cache); a later read opens them again."""
        self._shards.close()
