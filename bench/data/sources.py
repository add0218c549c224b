"""The files a decoded cache was made from, with their sizes and modification times: a cache is fresh only while
every one of them (label files and each image) is unchanged. 300k files are stat'ed in a thread pool (the
syscall frees the GIL; on a network file system many in flight is what makes it fast) and compared as arrays."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .index import Index

MISSING = -1  # size and mtime of a file that does not exist
_CHUNK = 4096


def _stat_chunk(paths: list[str]) -> tuple[list[int], list[int]]:
    sizes, mtimes = [], []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            sizes.append(MISSING)
            mtimes.append(MISSING)
        else:
            sizes.append(st.st_size)
            mtimes.append(st.st_mtime_ns)
    return sizes, mtimes


def stat_files(paths: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(sizes, mtimes in ns) of ``paths`` as int64 arrays, -1 for a missing file."""
    chunks = [paths[i:i + _CHUNK] for i in range(0, len(paths), _CHUNK)]
    if len(chunks) <= 1:
        parts = [_stat_chunk(c) for c in chunks]
    else:
        with ThreadPoolExecutor(max_workers=min(32, 4 * (os.cpu_count() or 1))) as pool:
            parts = list(pool.map(_stat_chunk, chunks))
    sizes = np.fromiter((s for p in parts for s in p[0]), np.int64, len(paths))
    mtimes = np.fromiter((m for p in parts for m in p[1]), np.int64, len(paths))
    return sizes, mtimes


@dataclass
class Sources:
    """``paths`` sorted and unique; ``of_job[i]`` is the position in ``paths`` of job i's file."""

    paths: list[str]
    size: np.ndarray
    mtime: np.ndarray
    of_job: np.ndarray

    @classmethod
    def of(cls, index: Index) -> Sources:
        job_paths = [os.fspath(job.path) for job in index.jobs]
        paths = sorted({*job_paths, *(os.fspath(p) for p in index.label_files)})
        where = {p: i for i, p in enumerate(paths)}
        of_job = np.fromiter((where[p] for p in job_paths), np.int64, len(job_paths))
        return cls(paths, *stat_files(paths), of_job)

    def blob(self) -> np.ndarray:
        """The paths as one uint8 array (newline-separated UTF-8), as the manifest's arrays store them."""
        return np.frombuffer("\n".join(self.paths).encode("utf-8", "surrogateescape"), dtype=np.uint8)

    def job_stats(self, start: int, stop: int) -> bytes:
        """Sizes and mtimes of the files of jobs ``start:stop``, as bytes to hash."""
        rows = self.of_job[start:stop]
        return self.size[rows].tobytes() + self.mtime[rows].tobytes()

    def changed_since(self, blob: np.ndarray, size: np.ndarray, mtime: np.ndarray) -> str | None:
        """Why these files differ from those recorded (``blob``, ``size``, ``mtime``), or None if they do not."""
        if not np.array_equal(blob, self.blob()):
            return "the set of source files changed"
        differ = np.flatnonzero((size != self.size) | (mtime != self.mtime))
        if differ.size == 0:
            return None
        first = int(differ[0])
        what = "is gone" if self.size[first] == MISSING else "appeared" if size[first] == MISSING else "changed"
        return f"{differ.size} source file(s) changed since it was built ({self.paths[first]} {what})"
