"""How `bench.kernel` times a case: CUDA-graph replay of many calls on CUDA, ``perf_counter`` on the CPU.

On CUDA (`GraphTimer`): a single call of a small unit is ~10 us of GPU work behind ~100 us of host work,
so timing calls one by one measures the host. Each case runs on a side stream; k calls (enough for ~2 ms of
GPU work) are captured into one CUDA graph and the graph replayed (CUDA events around each replay, median
over ~100 ms, at least 10 replays): ``median_ms`` is GPU time per call. The calls cycle through copies of the
inputs that together exceed any L2 (256 MB), so each call reads cold data as in a network. Where capture
fails (the row's ``timer`` says why) the same k calls run eagerly between the events. ``call_ms`` is the wall
time per call of the same calls run eagerly, host included, and ``host_overhead_ms`` = call_ms - median_ms
(0 when the GPU, not the host, bounds the calls): what a caller pays beyond the GPU time. On the CPU:
``time.perf_counter``, ``--repeats`` runs, no host columns (``--timer graph`` runs the GPU procedure there
with a wall clock standing in for the events and no capture: the dry run's check of that path).
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

MIN_TIMED_RUNS = 10  # replays per case on CUDA, however slow the case
TARGET_TIMED_MS = 100.0  # faster cases replay more often, to fill about this much GPU time
GRAPH_MS = 2.0  # GPU time one graph replay should hold, so launch and event costs vanish in it
MAX_CALLS = 2000  # calls per graph at most (a capture records each call once, at host speed)
HOST_SAMPLES = 3  # eager runs of the k calls for call_ms
COLD_BYTES = 256 * 2**20  # input copies a case cycles through hold at least this much: more than any GPU's L2
MAX_COPIES = 64


def timed_runs(estimate_ms: float, minimum: int = MIN_TIMED_RUNS, target_ms: float = TARGET_TIMED_MS) -> int:
    """How many timed runs a case of about ``estimate_ms`` gets: enough to fill ``target_ms``, at least
    ``minimum`` (so a slow case still has a median of several runs), at most 10,000."""
    return max(minimum, min(10_000, int(target_ms / max(estimate_ms, 1e-6))))


def input_copies(case_bytes: int, cold_bytes: int = COLD_BYTES) -> int:
    """Copies of a case's inputs to cycle through so that together they exceed the L2: a call then finds none
    of its data left in the cache by the calls before it (what an L2 flush did, without timing the flush)."""
    return max(1, min(MAX_COPIES, math.ceil(cold_bytes / max(case_bytes, 1))))


def calls_per_graph(estimate_ms: float, copies: int, graph_ms: float = GRAPH_MS, cap: int = MAX_CALLS) -> int:
    """Calls one graph holds: ~``graph_ms`` of GPU work, a whole number of rounds of the input copies (at least
    one, so every copy goes cold before its next use), at most ``cap`` unless one round needs more."""
    want = min(cap, max(1, math.ceil(graph_ms / max(estimate_ms, 1e-6))))
    return copies * max(1, math.ceil(want / copies))


@dataclass(frozen=True)
class Timing:
    """One implementation's time on one case: ``ms`` per call (GPU time on CUDA, wall time on the CPU)."""

    ms: float
    runs: int  # calls behind the median
    method: str  # how ``ms`` was measured, for the row's timer column
    call_ms: float | None = None  # wall time per eagerly run call, host included (GPU timer only)

    @property
    def host_overhead_ms(self) -> float | None:
        """Host time per call the GPU time does not cover; 0 where the GPU bounds eager calls."""
        return None if self.call_ms is None else max(self.call_ms - self.ms, 0.0)


class CpuTimer:
    """perf_counter around single calls, ``repeats`` of them after two untimed (compilation, allocation)."""

    def __init__(self, repeats: int):
        self.repeats = repeats

    def context(self):
        return contextlib.nullcontext()

    def copies(self, case_bytes: int) -> int:
        return 1

    def __call__(self, fns: Sequence[Callable[[], object]]) -> Timing:
        fn = fns[0]
        fn()
        fn()
        times = []
        for _ in range(self.repeats):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
        return Timing(statistics.median(times), self.repeats, "perf_counter")


class CudaClock:
    """The CUDA side of `GraphTimer`, and its only torch.cuda calls: a side stream the case runs on (capture
    needs one, and autograd runs a backward on its forward's stream), events, capture, synchronisation."""

    name = "cuda events"
    replay = "cuda-graph replay"

    def __init__(self, device: torch.device):
        self.device = device
        self.stream = torch.cuda.Stream(device)

    @contextlib.contextmanager
    def context(self):
        current = torch.cuda.current_stream(self.device)
        self.stream.wait_stream(current)  # the inputs were made on the default stream
        try:
            with torch.cuda.stream(self.stream):
                yield
        finally:
            current.wait_stream(self.stream)

    def sync(self) -> None:
        torch.cuda.synchronize(self.device)

    def elapsed_ms(self, fn: Callable[[], object], n: int) -> list[float]:
        """GPU time of each of ``n`` runs of ``fn``: events recorded around each, one synchronisation at the end."""
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(n)]
        for begin, end in events:
            begin.record()
            fn()
            end.record()
        self.sync()
        return [begin.elapsed_time(end) for begin, end in events]

    def capture(self, fn: Callable[[], object]) -> Callable[[], None]:
        """``fn``'s GPU work as a CUDA graph (`torch.cuda.graph` on the case's stream); its replay."""
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=self.stream):
            fn()
        return graph.replay

    def wall_ms(self, fn: Callable[[], object]) -> float:
        self.sync()
        t0 = time.perf_counter()
        fn()
        self.sync()
        return (time.perf_counter() - t0) * 1e3


class WallClock:
    """`CudaClock`'s stand-in without a GPU: perf_counter for events and no capture (a "graph" replays the
    calls). `GraphTimer` runs on it unchanged, so tests and the dry run walk every step but the CUDA calls."""

    name = "wall clock, no CUDA"
    replay = "stand-in replay (no CUDA graph)"

    def __init__(self, capture_error: Exception | None = None):
        self.capture_error = capture_error  # tests: a capture that fails

    def context(self):
        return contextlib.nullcontext()

    def sync(self) -> None:
        pass

    def elapsed_ms(self, fn: Callable[[], object], n: int) -> list[float]:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
        return times

    def capture(self, fn: Callable[[], object]) -> Callable[[], object]:
        if self.capture_error is not None:
            raise self.capture_error
        return fn

    def wall_ms(self, fn: Callable[[], object]) -> float:
        return self.elapsed_ms(fn, 1)[0]


class GraphTimer:
    """GPU time per call by graph replay of many calls, and the host time of the same calls run eagerly
    (the module docstring says why). ``fns`` are the same call on different copies of the inputs."""

    def __init__(self, clock, target_ms: float = TARGET_TIMED_MS, graph_ms: float = GRAPH_MS,
                 min_replays: int = MIN_TIMED_RUNS, cold_bytes: int = COLD_BYTES, estimate_runs: int = 3,
                 host_samples: int = HOST_SAMPLES):
        self.clock, self.target_ms, self.graph_ms = clock, target_ms, graph_ms
        self.min_replays, self.cold_bytes, self.estimate_runs = min_replays, cold_bytes, estimate_runs
        self.host_samples = host_samples

    def context(self):
        return self.clock.context()

    def copies(self, case_bytes: int) -> int:
        return input_copies(case_bytes, self.cold_bytes)

    def __call__(self, fns: Sequence[Callable[[], object]]) -> Timing:
        fns = list(fns)
        clock = self.clock
        with clock.context():
            for fn in fns:  # first calls: compilation, autotuning, allocations, and the side-stream warm-up
                fn()  # that capture needs (lazily made handles and workspaces must not be made while capturing)
            clock.sync()

            def one_round():
                for fn in fns:
                    fn()

            estimate = statistics.median(clock.elapsed_ms(one_round, self.estimate_runs)) / len(fns)
            k = calls_per_graph(estimate, len(fns), self.graph_ms)

            def calls():
                for i in range(k):
                    fns[i % len(fns)]()

            try:
                replay = clock.capture(calls)
                method = f"{clock.replay} of {k} calls"
            except Exception as exc:  # e.g. an op that synchronises: time the same calls without a graph
                clock.sync()
                replay = calls
                method = f"events around {k} eager calls (graph capture failed: {describe(exc)})"
            replays = timed_runs(estimate * k, self.min_replays, self.target_ms)
            replay()
            ms = statistics.median(clock.elapsed_ms(replay, replays)) / k
            del replay  # a graph holds its memory pool until it goes
            call_ms = statistics.median(clock.wall_ms(calls) for _ in range(self.host_samples)) / k
        method += f", {len(fns)} input copies, median of {replays} ({clock.name})"
        return Timing(ms, replays * k, method, call_ms)


def describe(exc: BaseException) -> str:
    """'Type: first line of the message', for a row's error field."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def make_timer(device: torch.device, repeats: int, kind: str = "auto"):
    """GraphTimer on CUDA (or anywhere with ``kind='graph'``, a wall clock standing in off CUDA), else the CPU's."""
    if device.type == "cuda":
        return GraphTimer(CudaClock(device))
    if kind == "graph":  # the procedure at CPU speed: one replay, one copy (no L2 to beat; tests cover the cycling)
        return GraphTimer(WallClock(), target_ms=1.0, graph_ms=0.1, min_replays=1, cold_bytes=0,
                          estimate_runs=1, host_samples=1)
    return CpuTimer(repeats)
