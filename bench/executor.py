"""Run the cells of a sweep in-process or as Ray tasks, landing every finished row in one results store.

A sweep (``depth_sweep``, ``ablation``, ``gradflow``, ``epoch_time``) is a list of cell configs and one
function ``fn(config) -> metrics`` or ``-> (metrics, timings)``. `run_cells` does the rest the same way for
every sweep:

- a cell whose row is already in the store is skipped (``force`` reruns it);
- two sweeps sharing a store split the cells between them: each cell is claimed (`ResultsStore.claim`)
  while it runs, a cell another process holds is left for last, and a row it stored meanwhile is taken;
- each finished row is appended by the driver as soon as it arrives, so an interrupted sweep keeps what it
  finished and a Ray sweep still writes one store, from one process;
- a cell that raises is reported in one line on stderr, retried up to ``retries`` more times, and never
  stops the other cells; the failures come back in the `SweepResult` (``raise_for_failures`` turns them
  into the one-line error of `bench.cli.run_main`).

With ``executor="ray"`` each cell is a Ray task that asks for one GPU when ``needs_gpu`` says so, so a sweep
fans out over a cluster (``ray_address``). Ray is an optional extra, imported only then. Tasks run in an
uploaded copy of the working tree (without data, results or checkpoints), so a relative data path in a cell
(``fer2013:data/x.csv``) is sent made absolute against the driver's folder; the stored row keeps it as given.
On a remote cluster that absolute path must exist on every worker node (a shared mount, or the same copy).
Joining a cluster that does not answer within `RAY_CONNECT_TIMEOUT_S` is a one-line error.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from harness.cli import UsageError, check_device_here, check_output_path, non_negative_int, open_store
from harness.results_store import ResultsStore, make_row, run_id

from .data.dataset import DataError

EXECUTORS = ("local", "ray")
CellFn = Callable[[dict], "dict | tuple[dict, dict]"]

_REPO_ROOT = Path(__file__).resolve().parent.parent
# What a remote Ray worker does not need from the working tree it is shipped.
_RAY_EXCLUDES = [
    "/.git", "/venv", "/.venv", "/.tox", "__pycache__", "*.pyc",  # version control, environments
    ".pytest_cache", ".ruff_cache", ".mypy_cache", ".benchmarks",  # tool caches
    "/build", "/dist", "*.egg-info",  # build outputs
    "/results", "*.jsonl", "/data",  # rows go to the driver's store; data files are sent as absolute paths
    "checkpoints", "*.pt", "*.pth", "*.ckpt",  # checkpoints: tens of MB a run, never read by a sweep cell
]
# How long joining a Ray cluster (an address given) may take before the sweep stops with a one-line error.
RAY_CONNECT_TIMEOUT_S = 30.0


@dataclass
class CellFailure:
    config: dict
    error: str  # "ExceptionType: first line of the message"
    attempts: int


@dataclass
class SweepResult:
    """Rows in the order of the cells (stored rows for skipped cells, None where a cell failed)."""

    rows: list[dict | None]
    ran: int = 0
    skipped: int = 0
    failures: list[CellFailure] = field(default_factory=list)

    @property
    def finished(self) -> list[dict]:
        return [r for r in self.rows if r is not None]

    def raise_for_failures(self) -> None:
        if self.failures:
            first = self.failures[0]
            raise RuntimeError(f"{len(self.failures)} of {len(self.rows)} cells failed (first: {first.error}); "
                               "finished rows are stored, rerun to retry the failed cells")


def add_executor_args(parser: argparse.ArgumentParser, default_results: str | None = None) -> None:
    """The options every sweep shares: where rows go, whether to redo them, and where cells run."""
    g = parser.add_argument_group("execution")
    g.add_argument("--results", default=default_results, metavar="PATH",
                   help=f"JSONL results store (default {default_results})" if default_results else
                   "JSONL results store")
    g.add_argument("--force", action="store_true", help="rerun cells whose rows are already in the store")
    g.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="run cells in this process (local) or as Ray tasks (needs the 'ray' extra)")
    g.add_argument("--ray-address", metavar="ADDR",
                   help="Ray cluster to join, e.g. ray://head:10001 or auto (default: start a local Ray)")
    g.add_argument("--retries", type=non_negative_int, default=1, metavar="N",
                   help="times a failing cell is retried before it is reported as failed (default 1)")


# Errors a cell raises that retrying cannot fix (a missing data file, a bad setting): the sweep stops at
# the first, in one line, instead of retrying every cell.
USER_ERRORS = (UsageError, FileNotFoundError, DataError)


def executor_kwargs(args: argparse.Namespace) -> dict:
    """The `run_cells` keywords from the options `add_executor_args` added."""
    return {"executor": args.executor, "ray_address": args.ray_address, "retries": args.retries,
            "force": args.force}


def run_cells(cells: Iterable[dict], fn: CellFn, store: ResultsStore | None, command: str, *,
              executor: str = "local", ray_address: str | None = None, retries: int = 1, force: bool = False,
              needs_gpu: bool | Callable[[dict], bool] = False, desc: str | None = None,
              ray_init_kwargs: dict | None = None, preflight: Callable[[], None] | None = None) -> SweepResult:
    """Run ``fn`` on every cell not yet in ``store``; append each row as it finishes.

    ``fn`` must be a module-level function (Ray pickles it) taking the cell's config and returning its
    metrics, or (metrics, timings). ``needs_gpu`` (a bool, or a function of the config) decides whether a
    Ray task asks for a GPU. ``ray_init_kwargs`` go to ``ray.init`` (e.g. ``num_cpus`` for a local test).
    ``preflight`` runs once before the first cell, only when a cell must run: the sweep's checks of what its
    cells would read or write (data files, folders), so a bad one costs no cell's work and a finished sweep
    is served without them.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose one of: {', '.join(EXECUTORS)}")
    if retries < 0:
        raise ValueError(f"--retries must be >= 0, got {retries}")
    cells = list(cells)
    if executor == "local":  # a device this machine lacks fails every cell alike: say so once, before any
        for name in sorted({str(c["device"]) for c in cells if c.get("device")}):
            check_device_here(name)
    result = SweepResult(rows=[None] * len(cells))
    keys = [run_id(command, c) for c in cells]
    stored = {} if store is None else {row["run_id"]: row for row in store.rows(command)}  # newest row wins
    counts = {} if store is None else store.counts(command)
    todo = []
    for i, key in enumerate(keys):
        if key in stored and not force:
            result.rows[i] = stored[key]
            result.skipped += 1
        else:
            todo.append(i)
    if todo and store is not None:  # a store that cannot take rows fails now, not after the first cell's work
        check_output_path(store.path, "--results")
    if todo and preflight is not None:
        preflight()
    labels = _labels(cells)
    bar = tqdm(total=len(cells), initial=result.skipped, desc=desc or command, unit="cell", disable=None,
               file=sys.stderr)
    gpu = needs_gpu if callable(needs_gpu) else (lambda _config: bool(needs_gpu))

    def hold(i: int, wait: bool):
        return contextlib.nullcontext(True) if store is None else store.claim(keys[i], wait)

    def taken(i: int) -> bool:
        """Whether another process sharing the store finished this cell since the sweep began: take its row."""
        if store is None or store.counts(command).get(keys[i], 0) <= counts.get(keys[i], 0):
            return False
        result.rows[i] = store.done(command, cells[i])
        result.skipped += 1
        bar.update()
        return True

    def finish(i: int, outcome: dict | tuple, seconds: float) -> None:
        metrics, timings = outcome if isinstance(outcome, tuple) else (outcome, {})
        row = make_row(command, cells[i], metrics, {**timings, "cell_s": seconds})
        if store is not None:
            store.append(row)
        result.rows[i] = row
        result.ran += 1
        bar.update()
        if bar.disable:  # not a terminal (a log, CI): a line per cell instead of the bar
            settled = result.ran + result.skipped + len(result.failures)
            print(f"{command}: {settled}/{len(cells)} cells, {labels[i]} done in {seconds:.1f} s", file=sys.stderr)

    def starting(i: int) -> None:
        """A line as a cell starts where no bar shows it running: a cell can take minutes."""
        if bar.disable:
            print(f"{command}: running {labels[i]}", file=sys.stderr)

    def failed(i: int, attempt: int, exc_text: str) -> bool:
        """Report one failed attempt; True if the cell gets another."""
        again = attempt <= retries
        verdict = "retrying" if again else "giving up"
        bar.write(f"{command}: cell {_short(cells[i])} failed (attempt {attempt}/{retries + 1}, {verdict}): "
                  f"{exc_text}", file=sys.stderr)
        if not again:
            result.failures.append(CellFailure(cells[i], exc_text, attempt))
            bar.update()
        return again

    def claimed(indices: list[int], deferred: list[int] | None):
        """The cells of ``indices`` this process holds and nobody has finished, each held while the caller runs
        it; a cell another process holds goes to ``deferred`` (None: wait for that process instead)."""
        for i in indices:
            with contextlib.ExitStack() as held:
                mine = held.enter_context(hold(i, wait=False))
                if not mine and deferred is not None:
                    deferred.append(i)
                    continue
                if not mine:
                    bar.write(f"{command}: waiting for the process running cell {_short(cells[i])}", file=sys.stderr)
                    held.enter_context(hold(i, wait=True))
                if not taken(i):
                    yield i

    try:
        deferred: list[int] = []
        if executor == "local":
            _run_local(claimed(todo, deferred), cells, fn, finish, failed, starting)
            _run_local(claimed(deferred, None), cells, fn, finish, failed, starting)
        else:
            with contextlib.ExitStack() as held:  # Ray runs the cells at once: claim them all before submitting
                mine = []
                for i in todo:
                    (mine if held.enter_context(hold(i, wait=False)) else deferred).append(i)
                _run_ray([i for i in mine if not taken(i)], cells, fn, finish, failed, gpu, ray_address,
                         ray_init_kwargs or {})
            for i in claimed(deferred, None):
                _run_ray([i], cells, fn, finish, failed, gpu, ray_address, ray_init_kwargs or {})
    finally:
        bar.close()
    return result


def _run_local(todo: Iterable[int], cells, fn, finish, failed, starting) -> None:
    for i in todo:
        starting(i)
        attempt = 1
        while True:
            start = time.perf_counter()
            try:
                outcome = fn(cells[i])
            except (KeyboardInterrupt, *USER_ERRORS):  # the user's to fix: every cell would fail alike
                raise
            except Exception as exc:  # one cell's failure must not stop the sweep
                if failed(i, attempt, _describe(exc)):
                    attempt += 1
                    continue
                break
            finish(i, outcome, time.perf_counter() - start)
            break


def _timed(fn: CellFn, config: dict) -> tuple[dict | tuple, float]:
    start = time.perf_counter()
    return fn(config), time.perf_counter() - start


def _run_ray(todo, cells, fn, finish, failed, gpu, address, init_kwargs) -> None:
    if not todo:  # everything is in the store: no need for Ray at all
        return
    try:
        import ray
    except ImportError:
        raise RuntimeError("--executor ray needs Ray: install the 'ray' extra (pip install 'breg-harness[ray]')") \
            from None
    if not ray.is_initialized():
        init_kwargs = dict(init_kwargs)
        # Workers, local or on a cluster, import this working tree (bench, breg_models, ...) from a copy of it.
        init_kwargs.setdefault("runtime_env", {"working_dir": str(_REPO_ROOT), "excludes": _RAY_EXCLUDES})
        _ray_init(ray, address, {"log_to_driver": False, **init_kwargs})
    if any(gpu(cells[i]) for i in todo) and not ray.cluster_resources().get("GPU"):
        raise RuntimeError("cells ask for a GPU but the Ray cluster has none (their tasks would wait forever)")
    remote = ray.remote(_timed)
    pending: dict = {}  # object ref -> (cell index, attempt)

    def submit(i: int, attempt: int) -> None:
        ref = remote.options(num_gpus=1 if gpu(cells[i]) else 0, max_retries=0).remote(fn, _task_config(cells[i]))
        pending[ref] = (i, attempt)

    for i in todo:
        submit(i, 1)
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            i, attempt = pending.pop(ready[0])
            try:
                outcome, seconds = ray.get(ready[0])
            except Exception as exc:  # the task's exception (RayTaskError) or a lost worker
                if isinstance(getattr(exc, "cause", None), USER_ERRORS):
                    raise exc.cause from None
                if failed(i, attempt, _describe(getattr(exc, "cause", None) or exc)):
                    submit(i, attempt + 1)
                continue
            finish(i, outcome, seconds)
    finally:
        for ref in pending:  # interrupted: do not leave tasks running on the cluster
            ray.cancel(ref, force=True)


def _task_config(config: dict) -> dict:
    """The config a Ray task gets: a relative file path in its ``data`` spec made absolute against this
    process's folder, since a task runs in the uploaded copy of the working tree. The row keeps ``config``."""
    from harness.data_spec import parse_spec

    spec = config.get("data")
    if not isinstance(spec, str):
        return config
    try:
        name, path = parse_spec(spec)
    except ValueError:  # a bad spec: the task reports it as a local run would
        return config
    if path is None or Path(path).is_absolute():
        return config
    return {**config, "data": f"{name}:{Path(path).absolute()}"}


def _ray_init(ray, address: str | None, kwargs: dict) -> None:
    """``ray.init``; joining a cluster (an address given here or in RAY_ADDRESS) fails in one line when nothing
    answers, and within `RAY_CONNECT_TIMEOUT_S` when the address does not answer at all (Ray alone retries for
    minutes). Starting a local Ray is not bounded: it waits on no network."""
    import logging
    import os
    import threading

    env = os.environ.get("RAY_ADDRESS")
    if address == "local" or not (address or env):
        ray.init(address=address, **kwargs)
        return
    if address in (None, "auto") and env:  # Ray takes RAY_ADDRESS over these
        where, instead = f"RAY_ADDRESS {env}", "unset RAY_ADDRESS"
    else:
        where, instead = f"--ray-address {address}", "drop --ray-address"
    timeout = RAY_CONNECT_TIMEOUT_S
    state = {"done": False, "abandoned": False, "error": None}
    lock = threading.Lock()

    def connect() -> None:  # in a thread, so that the wait has a deadline
        try:
            ray.init(address=address, **kwargs)
        except BaseException as exc:  # handed to the waiting thread
            with lock:
                state["done"], state["error"] = True, exc
            return
        with lock:
            state["done"], late = True, state["abandoned"]
        if late:  # joined after the sweep gave up on it: leave nothing connected behind
            ray.shutdown()

    quiet = _NotMainThreadFilter()
    logging.getLogger("ray._private.worker").addFilter(quiet)
    thread = threading.Thread(target=connect, name="ray-connect", daemon=True)
    try:
        thread.start()
        thread.join(timeout)
    finally:  # timed out or interrupted: the thread, left to Ray's own retries, disconnects if it ever joins
        logging.getLogger("ray._private.worker").removeFilter(quiet)
        with lock:
            state["abandoned"] = not state["done"]
    if state["abandoned"]:
        raise RuntimeError(f"no Ray cluster answered at {where} within {timeout:g} s; check the address and that "
                           f"its port is reachable from here, or {instead} to start a local Ray")
    exc = state["error"]
    if isinstance(exc, ConnectionError):
        if address == "auto" and not env:
            raise RuntimeError(f"{where} found no running Ray cluster on this machine; start one (ray start "
                               f"--head) or {instead} to start a local Ray") from None
        reason = _describe(exc) + (f"; {_describe(exc.__cause__)}" if exc.__cause__ else "")  # Ray's cause says why
        raise RuntimeError(f"could not connect to the Ray cluster at {where} ({reason}); check the address and that "
                           f"its port is reachable from here, or {instead} to start a local Ray") from None
    if exc is not None:
        raise exc


class _NotMainThreadFilter:
    """Drops Ray's warning that ``ray.init`` off the main thread sets no SIGTERM handler (it is on purpose)."""

    @staticmethod
    def filter(record) -> bool:
        return "not the main thread" not in record.getMessage()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _short(config: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in config.items())


def _labels(cells: list[dict]) -> list[str]:
    """Each cell named by what sets it apart from the sweep's other cells (its whole config where nothing
    does): progress lines a reader can scan, not every shared setting again."""
    keys = [k for k in dict.fromkeys(k for c in cells for k in c)
            if len({repr(c.get(k)) for c in cells}) > 1]
    return [_short({k: c[k] for k in keys if k in c} if keys else c) for c in cells]


def run_sweep(args: argparse.Namespace, cells: list[dict], fn: CellFn, command: str,
              render: Callable[[list[dict], str], str], desc: str, preflight: Callable[[], None] | None = None) -> int:
    """The body of a sweep's main: run the cells (a cell whose config says device 'cuda' asks for a GPU),
    print the table of every finished row through ``render``, then report failed cells in one line.
    ``preflight`` as for `run_cells`."""
    from harness.cli import write_output

    check_output_path(args.out, "--out")  # before the cells, not after them
    result = run_cells(cells, fn, open_store(args.results), command,
                       needs_gpu=lambda c: str(c.get("device", "cpu")).startswith("cuda"), desc=desc,
                       preflight=preflight, **executor_kwargs(args))
    if result.finished:
        write_output(render(result.finished, args.format), args.out)
    result.raise_for_failures()
    return 0
