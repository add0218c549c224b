"""The results store: one row schema for every entry point, appended atomically to a JSONL file.

A row is ``{run_id, command, config, metrics, timings, env, created}``. ``run_id`` hashes the command and
its config, so a sweep that is interrupted and started again finds its finished rows and skips them
(unless forced): nothing is redone and nothing is lost.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path

DEFAULT_DIR = Path(os.environ.get("BREG_RESULTS_DIR", "results"))


def run_id(command: str, config: dict) -> str:
    blob = json.dumps({"command": command, "config": config}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


@lru_cache(maxsize=1)
def environment() -> dict:
    """Versions and device that produced a row (torch, triton, CUDA, GPU name, git commit)."""
    import torch

    try:
        import triton

        triton_version = triton.__version__
    except Exception:  # triton is optional at run time on the CPU
        triton_version = None
    cuda = torch.cuda.is_available()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                timeout=5, cwd=Path(__file__).resolve().parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "triton": triton_version,
        "cuda": torch.version.cuda if cuda else None,
        "device": torch.cuda.get_device_name(0) if cuda else f"cpu ({platform.processor() or platform.machine()})",
        "cpu_threads": torch.get_num_threads(),
        "git_commit": commit,
        "host": platform.node(),
    }


def make_row(command: str, config: dict, metrics: dict, timings: dict | None = None) -> dict:
    return {
        "run_id": run_id(command, config),
        "command": command,
        "config": config,
        "metrics": metrics,
        "timings": timings or {},
        "env": environment(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


class ResultsStore:
    """Append-only JSONL file of rows; an exclusive lock keeps concurrent writers' lines whole."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def rows(self, command: str | None = None) -> list[dict]:
        """Every well-formed row (of ``command``), in file order (`numbered_rows`, without the line numbers)."""
        return [row for _, row in self.numbered_rows(command)]

    def numbered_rows(self, command: str | None = None) -> list[tuple[int, dict]]:
        """Every well-formed row (of ``command``), in file order, with its line number (to name it to a user). A
        line that is not a row (a half row, ``[]``, ``{}``: a crash or a hand edit) is skipped with a one-line
        warning naming it, so one bad line costs that line, never the whole store (bytes that are not UTF-8
        included); an unterminated last line is a write cut short and is ignored, unless it holds a whole row (one
        that lost only its newline)."""
        if not self.path.exists():
            return []
        if self.path.is_dir():
            raise ValueError(f"--results {self.path}: is a folder, not a results file (give a .jsonl path)")
        rows = []
        with open(self.path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    _warn_once(f"{self.path}:{lineno}: not UTF-8 text, skipped")
                    continue
                if not line.strip():
                    continue
                row = _parse_row(line)
                if not line.endswith("\n") and row is None:  # a write cut short by a kill: not finished
                    break
                if row is None:
                    _warn_once(f"{self.path}:{lineno}: not a result row, skipped")
                    continue
                if command is None or row["command"] == command:
                    rows.append((lineno, row))
        return rows

    def done(self, command: str, config: dict) -> dict | None:
        """The newest stored row for this command and config (a --force rerun supersedes), if any."""
        key = run_id(command, config)
        found = None
        for row in self.rows(command):
            if row["run_id"] == key:
                found = row
        return found

    def counts(self, command: str) -> dict[str, int]:
        """How many rows each run id of ``command`` has: a sweep compares against this to see a cell that another
        process finished after the sweep began."""
        counts: dict[str, int] = {}
        for row in self.rows(command):
            counts[row["run_id"]] = counts.get(row["run_id"], 0) + 1
        return counts

    @contextlib.contextmanager
    def claim(self, key: str, wait: bool = False):
        """Hold the cell with run id ``key`` against other processes sharing this store; yields whether it is
        held (with ``wait`` False a cell another process holds yields False at once).

        Two sweeps on one store split their cells instead of both running them. The claim is a POSIX record
        lock on one byte of ``<store>.lock`` (offset: the run id), so it vanishes with its process, even a
        killed one, and leaves no file per cell behind."""
        fd = _lock_fd(self.path)
        offset = int(key, 16) & (2**62 - 1)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
        except (BlockingIOError, PermissionError):  # held by another process
            yield False
            return
        try:
            yield True
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)

    def append(self, row: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(row, sort_keys=True, default=str) + "\n"
        with open(self.path, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                _drop_partial_tail(fh)
                fh.write(line.encode())
                fh.flush()
                os.fsync(fh.fileno())
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


_lock_fds: dict[Path, int] = {}


def _lock_fd(store: Path) -> int:
    """One open descriptor per lock file and process: closing any descriptor of a file drops every POSIX lock
    the process holds on it, so claims share this one and release by unlocking their byte."""
    path = store.resolve().with_name(store.name + ".lock")
    if path not in _lock_fds:
        path.parent.mkdir(parents=True, exist_ok=True)
        _lock_fds[path] = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    return _lock_fds[path]


_REQUIRED = {"run_id": str, "command": str, "config": dict, "metrics": dict}
_warned: set[str] = set()


def _parse_row(line: str) -> dict | None:
    """The row a line holds, or None where it holds none (bad JSON, not an object, keys missing)."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(row, dict) or any(not isinstance(row.get(k), t) for k, t in _REQUIRED.items()):
        return None
    for optional in ("timings", "env"):
        if not isinstance(row.get(optional), dict):
            row[optional] = {}
    return row


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        print(f"warning: {message}", file=sys.stderr)


def _drop_partial_tail(fh) -> None:
    """End an unterminated last line so the next row starts on a line of its own: a whole row that lost only its
    newline (an editor, a copy) is kept and terminated; a part of one (a kill mid-write) is cut."""
    size = fh.seek(0, os.SEEK_END)
    if size == 0:
        return
    fh.seek(size - 1)
    if fh.read(1) != b"\n":
        fh.seek(0)
        data = fh.read()
        start = data.rfind(b"\n") + 1
        try:
            whole = _parse_row(data[start:].decode("utf-8")) is not None  # as `rows` reads it
        except UnicodeDecodeError:
            whole = False
        if whole:
            fh.seek(0, os.SEEK_END)
            fh.write(b"\n")
        else:
            fh.truncate(start)
    fh.seek(0, os.SEEK_END)


def format_flat(flat: list[dict], fields: list[str], fmt: str) -> str:
    """Flat rows (one plain dict each) as indented JSON, or as CSV with exactly these columns."""
    if fmt == "json":
        return json.dumps(flat, indent=1) + "\n"
    import csv
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(flat)
    return out.getvalue()


def format_rows(rows: list[dict], fmt: str = "json") -> str:
    """Rows as JSON lines, or as CSV with nested fields flattened to dotted columns (config.model, ...)."""
    if fmt == "json":
        return "\n".join(json.dumps(r, sort_keys=True, default=str) for r in rows)
    if fmt == "csv":
        import pandas as pd

        return pd.json_normalize(rows).to_csv(index=False) if rows else ""
    raise ValueError(f"unknown row format {fmt!r}; choose json or csv")
