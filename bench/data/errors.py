"""The data layer's errors, each one line that names the file at fault (`bench.cli.run_main` prints it, exit 1)."""

from __future__ import annotations


class DataError(ValueError):
    """A data file that cannot be read as its format says: the message names the file and the row."""


class CacheCorruptError(DataError):
    """A decoded image whose bytes no longer match the CRC recorded when it was written: never returned as data;
    the message names the shard, and the cache is marked stale so the next run rebuilds that shard."""


class CacheFullError(OSError):
    """The disk filled while the decoded cache was being written; the partial shard is removed, finished ones
    are kept for the next build."""
