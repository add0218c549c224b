"""Kill a sweep and a training run at random points, rerun until they finish: no row lost, none stored twice.

The kills are SIGKILL (no handler, no `finally`), timed from the run's own progress so they land inside the
work and the writes (mid-cell, mid-append, between an epoch's row and its checkpoint), seeded so a failure
replays. Two sweeps sharing one store are the other fault: they must split the cells, not both run them.
"""

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
import torch

from bench import train
from bench.cli import run_main
from harness.results_store import ResultsStore, run_id

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}

# A sweep of cheap cells on the real executor and store; each cell announces itself on stdout before it works.
SWEEP = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from bench.executor import run_cells
    from harness.results_store import ResultsStore

    def cell(config):
        print("cell", config["i"], flush=True)
        time.sleep(float(os.environ.get("CELL_S", "0.02")))
        return {"square": config["i"] ** 2, "pid": os.getpid()}

    go = os.environ.get("GO_FILE")
    if go:  # start together with the other sweep
        Path(go + "." + str(os.getpid())).touch()
        while not Path(go).exists():
            time.sleep(0.01)
    result = run_cells([{"i": i} for i in range(int(sys.argv[2]))], cell, ResultsStore(sys.argv[1]), "fault")
    assert all(r is not None for r in result.rows), result
    print("ran", result.ran, "skipped", result.skipped, flush=True)
""")


def _kill_after(cmd, prefix: str, lines: int, delay: float, **kwargs) -> int | None:
    """Start ``cmd``; SIGKILL it ``delay`` seconds after the ``lines``-th line of its output that starts with
    ``prefix``. Its exit code if it ended on its own first, else None."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV, **kwargs)
    seen = 0
    for line in proc.stdout:
        seen += line.startswith(prefix)
        if seen == lines:
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            break
    proc.stdout.close()
    code = proc.wait(timeout=120)
    return None if code == -signal.SIGKILL else code


def _assert_each_once(store: ResultsStore, command: str, configs: list[dict]) -> None:
    counts = Counter(r["run_id"] for r in store.rows(command))
    assert counts == Counter(run_id(command, c) for c in configs)  # every config once: none lost, none twice


@pytest.mark.slow
def test_a_sweep_killed_at_random_points_loses_and_repeats_nothing(tmp_path):
    rng = random.Random(11)
    store, n = tmp_path / "fault.jsonl", 24
    cmd = [sys.executable, "-c", SWEEP, str(store), str(n)]
    kills = 0
    for _ in range(8):
        done = len(ResultsStore(store).rows("fault"))
        if done == n:
            break
        # kill a few cells into this run, at a random moment of a cell (its work, or its row's write)
        code = _kill_after(cmd, "cell", rng.randint(1, max(1, (n - done) // 2)), rng.uniform(0, 0.03))
        kills += code is None
        assert code in (None, 0)
    else:
        assert subprocess.run(cmd, env=ENV, capture_output=True).returncode == 0
    assert kills >= 3
    _assert_each_once(ResultsStore(store), "fault", [{"i": i} for i in range(n)])


@pytest.mark.slow
def test_two_sweeps_on_one_store_split_the_cells(tmp_path):
    store, go, n = tmp_path / "shared.jsonl", tmp_path / "go", 8
    env = {**ENV, "GO_FILE": str(go), "CELL_S": "0.3"}
    procs = [subprocess.Popen([sys.executable, "-c", SWEEP, str(store), str(n)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    deadline = time.time() + 60
    while len(list(tmp_path.glob("go.*"))) < 2 and time.time() < deadline:
        time.sleep(0.05)
    go.touch()
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    _assert_each_once(ResultsStore(store), "fault", [{"i": i} for i in range(n)])
    rows = ResultsStore(store).rows("fault")
    assert len({r["metrics"]["pid"] for r in rows}) == 2  # both did work
    ran = [int(out.split("ran ")[1].split()[0]) for out, _ in outs]
    assert sum(ran) == n  # and every cell ran in exactly one of them; the other took its stored row


@pytest.mark.slow
def test_training_killed_at_random_points_resumes_to_the_uninterrupted_rows(tmp_path):
    """Each launch is killed at a random moment of an epoch after its first (a checkpoint and a row written
    just before, or not); the finished run has one row per epoch, equal to an uninterrupted run's."""
    rng = random.Random(5)
    args = ["--model", "bregnext14", "--image-size", "16", "--synth-train", "96", "--synth-val", "16",
            "--batch-size", "16", "--epochs", "5", "--format", "json"]

    def cmd(name):
        return [sys.executable, "-u", "-m", "bench.train", *args, "--results", str(tmp_path / f"{name}.jsonl"),
                "--checkpoint-dir", str(tmp_path / f"ckpt-{name}")]

    kills = 0
    for _ in range(3):
        code = _kill_after(cmd("killed"), "epoch", 1, rng.uniform(0.0, 0.6), cwd=tmp_path)
        assert code in (None, 0)
        kills += code is None
    assert kills >= 2
    assert subprocess.run(cmd("killed"), env=ENV, capture_output=True, cwd=tmp_path).returncode == 0
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as OMP_NUM_THREADS=1 in the killed runs: the same sums in the same order
    try:
        assert run_main(train.main, cmd("whole")[4:]) == 0  # the uninterrupted run, in this process
    finally:
        torch.set_num_threads(threads)
    killed, whole = (ResultsStore(tmp_path / f"{name}.jsonl").rows("train") for name in ("killed", "whole"))
    assert [r["config"]["epoch"] for r in killed] == [1, 2, 3, 4, 5]
    assert [r["metrics"] for r in killed] == [r["metrics"] for r in whole]


def test_a_disk_that_fills_or_turns_read_only_at_random_moments_then_is_freed(tmp_path, monkeypatch, capsys):
    """Every write of a training run (checkpoint files, store rows) is a moment the disk can fill (ENOSPC) or the
    folder turn read-only (EACCES); once it does, every later write of that launch fails too, as on a real disk.
    Each failed launch ends in one line and leaves no temporary file; once the disk is freed, the rerun finishes
    with every epoch's row and the evaluate row exactly once, equal to an uninterrupted run's."""
    import errno

    import bench.checkpoint as checkpoint

    args = ["--model", "bregnext14", "--image-size", "16", "--synth-train", "32", "--synth-val", "16",
            "--batch-size", "16", "--epochs", "3", "--format", "json"]

    def launch(name):
        return run_main(train.main, [*args, "--results", str(tmp_path / name / "train.jsonl"), "--checkpoint-dir",
                                     str(tmp_path / name / "ckpt")])

    assert launch("whole") == 0
    real_save, real_append = checkpoint.torch.save, ResultsStore.append
    rng = random.Random(7)
    state = {"writes": 0, "fail_at": 0, "error": None}

    def failing(real):
        def write(*a, **k):
            state["writes"] += 1
            if state["writes"] >= state["fail_at"]:
                code = state["error"]
                raise OSError(code, os.strerror(code))
            return real(*a, **k)
        return write

    monkeypatch.setattr(checkpoint.torch, "save", failing(real_save))
    monkeypatch.setattr(ResultsStore, "append", failing(real_append))
    failures = 0
    for _ in range(12):  # each launch gets a little further (a write or more) before the disk fails it
        state.update(writes=0, fail_at=rng.randint(1, 4), error=rng.choice([errno.ENOSPC, errno.EACCES]))
        capsys.readouterr()
        code = launch("faulty")
        err = capsys.readouterr().err.strip().splitlines()
        assert code in (0, 1), err
        assert not list((tmp_path / "faulty").rglob("*.tmp"))
        if code == 0:
            break
        failures += 1
        assert ": error: " in err[-1] and "Traceback" not in "\n".join(err), err
    assert failures >= 3
    monkeypatch.undo()  # the disk is freed
    assert launch("faulty") == 0
    faulty, whole = (ResultsStore(tmp_path / name / "train.jsonl").rows("train") for name in ("faulty", "whole"))
    assert [r["config"]["epoch"] for r in faulty] == [1, 2, 3]
    assert [r["metrics"] for r in faulty] == [r["metrics"] for r in whole]
    evaluated = [ResultsStore(tmp_path / name / "evaluate.jsonl").rows("evaluate") for name in ("faulty", "whole")]
    assert len(evaluated[0]) == 1 and evaluated[0][0]["metrics"] == evaluated[1][0]["metrics"]
