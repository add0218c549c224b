"""The decoded cache: each file-backed split is decoded once, at one image size, into uint8 shards on disk, and
every later run, sweep cell and torchrun rank reads those instead of the image files.

One folder per (data set, absolute path, split, image size, loader options, seed where the split depends on
it, format version) under ``$BREG_CACHE_DIR`` (default ``~/.cache/breg-harness``)::

    affectnet-train-224px-<hash>/
      manifest.json        written last, atomically: count, rows skipped and why (by the label files' checks, and
                           images missing or unreadable with skip_missing), image size, format, decoder,
                           shards (file, images, bytes), the name of the arrays file
      arrays-<hash>.npz    the source files (label files and every image) with sizes and mtimes, each kept
                           row's job, each image's CRC32
      <hash>.u8, .json     raw uint8 shards (3 x S x S bytes an image) and their records (`cache_build`)
      build.lock           held (fcntl) by the one process building; others wait, then reuse

A cache is used while its manifest matches: same jobs, every source file of the same size and mtime, every
shard of its recorded size, no shard marked corrupt by a reader (`disk.STALE_FILE`). Otherwise it is rebuilt,
with one line on stderr saying why; shards whose inputs did not change are reused, not decoded again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.cli import UsageError

from .cache_build import (
    FORMAT_VERSION,
    KEPT_SKIP_MESSAGES,
    RECORD_SUFFIX,
    SHARD_SUFFIX,
    build_shards,
    disk_full,
    full_disk_error,
    job_keys,
    plan,
    written,
)
from .dataset import Dataset
from .disk import STALE_FILE, DiskImages
from .errors import DataError
from .images import decoder_version
from .index import Index
from .sources import Sources

CACHE_ENV = "BREG_CACHE_DIR"
MANIFEST, LOCK = "manifest.json", "build.lock"
CHOOSE_ANOTHER = f"choose another folder with --cache-dir DIR or {CACHE_ENV}=DIR"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else ``$BREG_CACHE_DIR``, else ``~/.cache/breg-harness``."""
    return Path(cache_dir or os.environ.get(CACHE_ENV) or "~/.cache/breg-harness").expanduser()


def cache_folder(index: Index, size: int, cache_dir=None) -> Path:
    key = {"format": FORMAT_VERSION, "name": index.name, "split": index.split, "size": size, **index.key}
    digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return cache_root(cache_dir) / f"{index.name}-{index.split}-{size}px-{digest}"


def describe(index: Index, size: int) -> str:
    return f"{index.name} {index.split} at {size}x{size}"


@dataclass
class Cache:
    """An open cache: its folder, manifest, images, and the rows (jobs) kept, None when every row was."""

    folder: Path
    manifest: dict
    images: DiskImages
    kept: list[int] | None

    def dataset(self, index: Index) -> Dataset:
        if not self.manifest["count"]:
            raise DataError(index.empty or f"{index.info.get('source', index.name)}: no readable images for the "
                                           f"{index.split} split")
        unreadable = self.manifest["skipped"].get("missing or unreadable image", 0)
        return index.dataset(self.images, self.kept, unreadable, {"cache": str(self.folder)})


def check(folder: Path, index: Index, digest: str, sources: Sources) -> tuple[dict | None, str | None]:
    """(manifest with its arrays loaded, None) for a cache that matches, else (None, why it does not)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        return _matches(folder, manifest, index, digest, sources)
    except FileNotFoundError:
        return None, "not built yet"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None, "its manifest is unreadable"


def _matches(folder: Path, manifest: dict, index: Index, digest: str, sources: Sources
             ) -> tuple[dict | None, str | None]:
    if manifest.get("format") != FORMAT_VERSION or manifest.get("decoder") != decoder_version():
        return None, f"it was made by format {manifest.get('format')} with {manifest.get('decoder')}"
    stale = folder / STALE_FILE
    if stale.is_file():
        with contextlib.suppress(OSError, ValueError):
            return None, f"an earlier run found it corrupt ({json.loads(stale.read_text())['why']})"
        return None, "an earlier run found it corrupt"
    if manifest.get("rows") != len(index) or manifest.get("jobs") != digest:
        return None, f"the label files now list other images ({len(index)} rows, were {manifest.get('rows')})"
    try:
        with np.load(folder / manifest["arrays"]) as arrays:
            loaded = {k: arrays[k] for k in ("paths", "size", "mtime", "crc", "kept")}
    except (OSError, ValueError, KeyError, EOFError):
        return None, "its arrays file is missing or unreadable"
    why = sources.changed_since(loaded["paths"], loaded["size"], loaded["mtime"])
    if why:
        return None, why
    for shard in manifest["shards"]:
        try:
            found = (folder / shard["file"]).stat().st_size
        except OSError:
            found = None
        if found != shard["bytes"]:
            what = "missing" if found is None else "cut short" if found < shard["bytes"] else "too long"
            return None, f"shard {shard['file']} is {what} ({found or 0} of {shard['bytes']} bytes)"
    return {**manifest, "arrays_loaded": loaded}, None


def _open(folder: Path, manifest: dict, size: int) -> Cache:
    arrays = manifest.pop("arrays_loaded")
    shards = [s for s in manifest["shards"] if s["count"]]
    images = DiskImages.open(folder, [s["file"] for s in shards], [s["count"] for s in shards], arrays["crc"],
                             (3, size, size))
    kept = None if manifest["count"] == manifest["rows"] else arrays["kept"].tolist()
    return Cache(folder, manifest, images, kept)


def _writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        ok = os.access(folder, os.W_OK | os.X_OK)
        reason = "not writable"
    except OSError as exc:
        ok, reason = False, exc.strerror or str(exc)
    if not ok:
        raise UsageError(f"cannot write the decoded cache in {folder.parent}: {reason}; {CHOOSE_ANOTHER}")


@contextlib.contextmanager
def build_lock(folder: Path, what: str):
    """Hold ``folder``'s build lock; yields whether another process held it first (then it has just built)."""
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        waited = False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            print(f"waiting for another process (pid {pid}) building the decoded cache of {what} in {folder}",
                  file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
            waited = True
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield waited
    finally:
        os.close(fd)  # releases the lock


def _remove(folder: Path, names) -> None:
    for name in names:
        with contextlib.suppress(OSError):
            (folder / name).unlink()


def _build(folder: Path, index: Index, size: int, keys: list[str], digest: str, sources: Sources, force: bool,
           workers: int | None) -> dict:
    started = time.perf_counter()
    stale = folder / STALE_FILE
    if stale.is_file():  # the shards a reader found corrupt are decoded again, not reused
        with contextlib.suppress(OSError, ValueError):
            bad = json.loads(stale.read_text()).get("shards", [])
            _remove(folder, [n for b in bad for n in (b, b.replace(SHARD_SUFFIX, RECORD_SUFFIX))])
        _remove(folder, [STALE_FILE])
    if force:
        _remove(folder, [p.name for p in folder.iterdir() if p.suffix in (SHARD_SUFFIX, RECORD_SUFFIX)])
    shards = plan(index, keys, sources, size)
    records = build_shards(folder, index, shards, size, f"decoding {describe(index, size)}", workers)
    kept = np.fromiter((r["start"] + k for r in records for k in (r["kept"] or range(r["stop"] - r["start"]))),
                       np.int64)
    crc = np.fromiter((c for r in records for c in r["crc"]), np.uint32, len(kept))
    messages = [m for r in records for m in r["skipped"]]
    arrays = f"arrays-{hashlib.sha1(''.join(s.name for s in shards).encode()).hexdigest()[:16]}.npz"
    manifest = {"format": FORMAT_VERSION, "decoder": decoder_version(), "name": index.name, "split": index.split,
                "image_size": size, "key": index.key, "rows": len(index), "jobs": digest, "count": len(kept),
                "bytes": int(sum(r["bytes"] for r in records)), "sources": len(sources.paths),
                "skipped": {"missing or unreadable image": len(messages)} if messages else {},
                "rows_skipped": index.info.get("skipped", {}),  # by the label files' checks, before decoding
                "skip_messages": messages[:KEPT_SKIP_MESSAGES], "arrays": arrays,
                "shards": [{"file": f"{r['name']}{SHARD_SUFFIX}", "count": r["count"], "bytes": r["bytes"]}
                           for r in records],
                "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "build_s": round(time.perf_counter() - started, 3)}
    try:
        with written(folder / arrays) as fh:
            np.savez(fh, paths=sources.blob(), size=sources.size, mtime=sources.mtime, crc=crc, kept=kept)
        with written(folder / MANIFEST) as fh:
            fh.write(json.dumps(manifest, indent=1).encode())
    except OSError as exc:
        if not disk_full(exc):
            raise
        raise full_disk_error(folder, len(shards), len(shards)) from None
    keep = {MANIFEST, LOCK, arrays, *(n for s in shards for n in (s.name + SHARD_SUFFIX, s.name + RECORD_SUFFIX))}
    _remove(folder, [p.name for p in folder.iterdir() if p.name not in keep])  # earlier builds' leftovers
    return manifest


def _digest(keys: list[str]) -> str:
    return hashlib.sha1("\n".join(keys).encode("utf-8", "surrogateescape")).hexdigest()


def open_cache(index: Index, size: int, cache_dir=None, *, force: bool = False, workers: int | None = None) -> Cache:
    """The cache of ``index`` at ``size``: opened as it is when it matches, else (re)built first under the
    folder's lock. ``force`` decodes every image again."""
    folder = cache_folder(index, size, cache_dir)
    keys = job_keys(index)
    digest = _digest(keys)
    sources = Sources.of(index)
    if not force:
        manifest, why = check(folder, index, digest, sources)
        if manifest is not None:
            return _open(folder, manifest, size)
    _writable(folder)
    with build_lock(folder, describe(index, size)) as waited:
        manifest, why = check(folder, index, digest, sources)
        if manifest is not None and (not force or waited):
            return _open(folder, manifest, size)
        if why not in (None, "not built yet"):
            print(f"decoded cache {folder}: {why}; rebuilding (unchanged shards are reused)", file=sys.stderr)
        _build(folder, index, size, keys, digest, sources, force and not waited, workers)
        manifest, why = check(folder, index, digest, sources)
    if manifest is None:  # a source changed while it was being decoded
        raise DataError(f"decoded cache {folder}: {why} while it was being built; run again")
    return _open(folder, manifest, size)


def cached_dataset(index: Index, size: int, cache_dir=None, *, force: bool = False) -> Dataset:
    """The `Dataset` of ``index`` with its images read from the decoded cache (built first where needed)."""
    return open_cache(index, size, cache_dir, force=force).dataset(index)


def cache_status(index: Index, size: int, cache_dir=None) -> tuple[Path, dict | None, str | None]:
    """(folder, manifest, None) for a cache ready to use, else (folder, None, why not); decodes nothing."""
    folder = cache_folder(index, size, cache_dir)
    manifest, why = check(folder, index, _digest(job_keys(index)), Sources.of(index))
    if manifest is not None:
        manifest.pop("arrays_loaded")
    return folder, manifest, why
