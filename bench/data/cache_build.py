"""Writing a decoded cache: the index's jobs decoded with every core into raw uint8 shards (image after image,
3 x S x S bytes each, no header), each with a record of its CRC32s and skipped rows.

A shard is named by a hash of what it holds (its jobs, their files' sizes and mtimes, the image size, the
decoder), is written under a temporary name and renamed when complete, its record renamed after it: a shard
with its record is finished, and a later build whose shard has the same name reuses it, so an interrupted or
failed build loses at most the shards in progress. The manifest (`bench.data.cache`) is written last.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import sys
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from tqdm import tqdm

from .errors import CacheFullError
from .images import Job, decode_or_skip, decoder_version
from .index import Index
from .sources import Sources

FORMAT_VERSION = 1
SHARD_BYTES = 256 << 20  # about this much per shard: few files to open, little lost to an interruption
SHARD_SUFFIX, RECORD_SUFFIX = ".u8", ".json"
KEPT_SKIP_MESSAGES = 20  # the manifest keeps this many messages of skipped images (all are counted)


class Shard(NamedTuple):
    name: str
    start: int  # jobs start:stop of the index
    stop: int


def job_keys(index: Index) -> list[str]:
    return [job.key() for job in index.jobs]


def plan(index: Index, keys: list[str], sources: Sources, size: int) -> list[Shard]:
    """The shards of ``index`` at ``size``, each named by what it holds."""
    per = max(1, SHARD_BYTES // (3 * size * size))
    head = json.dumps([FORMAT_VERSION, decoder_version(), size, index.skip_unreadable]).encode()
    shards = []
    for start in range(0, len(keys), per):
        stop = min(len(keys), start + per)
        digest = hashlib.sha1(head)
        digest.update("\n".join(keys[start:stop]).encode("utf-8", "surrogateescape"))
        digest.update(sources.job_stats(start, stop))
        shards.append(Shard(digest.hexdigest()[:24], start, stop))
    return shards


def read_record(folder: Path, shard: Shard) -> dict | None:
    """The record of a finished shard (its data file complete, its record saying so), else None."""
    try:
        record = json.loads((folder / f"{shard.name}{RECORD_SUFFIX}").read_text())
        if (folder / f"{shard.name}{SHARD_SUFFIX}").stat().st_size == record["bytes"]:
            return record
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _write(fh, data) -> None:
    """Every byte a build writes goes through here (the tests fill the disk at this point)."""
    fh.write(data)


@contextlib.contextmanager
def written(path: Path) -> Iterator:
    """A file written under a temporary name beside ``path`` and renamed to it once complete and synced; on any
    failure the temporary file is removed and ``path`` is left as it was."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _decoded(pool: ThreadPoolExecutor, jobs: Iterator[Job], size: int, skip: bool, depth: int):
    """(image, why skipped) of each job, in order, with at most ``depth`` decodes in flight."""
    pending: deque = deque()
    try:
        for job in jobs:
            pending.append(pool.submit(decode_or_skip, job, size, skip))
            if len(pending) >= depth:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


def _write_shard(folder: Path, shard: Shard, results, bar) -> dict:
    kept, skipped, crc, nbytes = [], [], [], 0
    with written(folder / f"{shard.name}{SHARD_SUFFIX}") as fh:
        for local in range(shard.stop - shard.start):
            image, why = next(results)
            if image is None:
                skipped.append(why)
            else:
                data = memoryview(image).cast("B")
                _write(fh, data)
                kept.append(local)
                crc.append(zlib.crc32(data))
                nbytes += len(data)
            bar.update(1)
    record = {"name": shard.name, "start": shard.start, "stop": shard.stop, "count": len(kept), "bytes": nbytes,
              "kept": kept if len(kept) < shard.stop - shard.start else None, "skipped": skipped, "crc": crc}
    with written(folder / f"{shard.name}{RECORD_SUFFIX}") as fh:
        _write(fh, json.dumps(record).encode())
    return record


def build_shards(folder: Path, index: Index, shards: list[Shard], size: int, desc: str,
                 workers: int | None = None) -> list[dict]:
    """Decode and write every shard not already finished; the records of all, in order. A full disk is a
    `CacheFullError` saying how many finished shards are kept."""
    records = {s.name: read_record(folder, s) for s in shards}
    todo = [s for s in shards if records[s.name] is None]
    workers = workers or usable_cores()
    jobs = (index.jobs[i] for s in todo for i in range(s.start, s.stop))
    total = sum(s.stop - s.start for s in todo)
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool, \
                tqdm(total=total, desc=desc, unit="img", file=sys.stderr, disable=True if total == 0 else None,
                     mininterval=0.5, smoothing=0.05) as bar:
            results = _decoded(pool, jobs, size, index.skip_unreadable, depth=4 * workers + 16)
            try:
                for shard in todo:
                    records[shard.name] = _write_shard(folder, shard, results, bar)
            finally:
                results.close()
    except OSError as exc:
        if not disk_full(exc):
            raise
        raise full_disk_error(folder, sum(r is not None for r in records.values()), len(shards)) from None
    return [records[s.name] for s in shards]


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def disk_full(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


def full_disk_error(folder: Path, kept: int, total: int) -> CacheFullError:
    return CacheFullError(f"the disk filled while writing the decoded cache in {folder}: the partial file is removed, "
                          f"{kept} finished shard(s) of {total} kept for the next build; free space or choose another "
                          "folder with --cache-dir DIR or BREG_CACHE_DIR=DIR")
