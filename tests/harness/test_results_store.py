"""The results store: atomic appends, a cut-off last line, and a sweep killed mid-way then resumed."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.results_store import ResultsStore, format_rows, make_row

ROOT = Path(__file__).resolve().parents[2]


def test_done_and_partial_tail(tmp_path):
    store = ResultsStore(tmp_path / "r.jsonl")
    store.append(make_row("cmd", {"a": 1}, {"x": 1.0}))
    with open(store.path, "a") as fh:
        fh.write('{"run_id": "cut off mid-wri')  # a kill during a write
    assert len(store.rows()) == 1
    assert store.done("cmd", {"a": 1})["metrics"] == {"x": 1.0} and store.done("cmd", {"a": 2}) is None
    store.append(make_row("cmd", {"a": 2}, {"x": 2.0}))
    assert [r["config"]["a"] for r in store.rows()] == [1, 2]
    assert store.path.read_text().count("\n") == 2
    csv = format_rows(store.rows(), "csv")
    assert csv.splitlines()[0].count("config.a") == 1 and len(csv.splitlines()) == 3


def test_a_whole_last_row_without_its_newline_is_kept(tmp_path):
    """A row that lost only its newline (saved by an editor, copied in) is terminated by the next append, not cut."""
    import json

    store = ResultsStore(tmp_path / "r.jsonl")
    store.path.write_text(json.dumps(make_row("cmd", {"a": 1}, {"x": 1.0})))  # no newline
    assert [r["config"]["a"] for r in store.rows()] == [1]
    store.append(make_row("cmd", {"a": 2}, {"x": 2.0}))
    assert [r["config"]["a"] for r in store.rows()] == [1, 2]
    assert store.path.read_text().count("\n") == 2


def test_a_line_that_is_not_utf8_costs_that_line_only(tmp_path, capsys):
    store = ResultsStore(tmp_path / "r.jsonl")
    store.append(make_row("cmd", {"a": 1}, {"x": 1.0}))
    with open(store.path, "ab") as fh:
        fh.write(b'{"run_id": "\xff\xfe"}\n')
    store.append(make_row("cmd", {"a": 2}, {"x": 2.0}))
    assert [r["config"]["a"] for r in store.rows()] == [1, 2]
    assert f"{store.path}:2: not UTF-8 text, skipped" in capsys.readouterr().err


def test_a_line_that_is_not_a_row_costs_that_line_only(tmp_path, capsys):
    store = ResultsStore(tmp_path / "r.jsonl")
    store.append(make_row("cmd", {"a": 1}, {"x": 1.0}))
    with open(store.path, "a") as fh:  # a half row, then [] and {}, then a row with a key of the wrong type
        fh.write('{"run_id": "abc", "comm\n[]\n{}\n{"run_id": 1, "command": "cmd", "config": {}, "metrics": {}}\n')
    store.append(make_row("cmd", {"a": 2}, {"x": 2.0}))
    assert [r["config"]["a"] for r in store.rows("cmd")] == [1, 2]
    assert store.done("cmd", {"a": 2})["metrics"] == {"x": 2.0}
    err = capsys.readouterr().err.splitlines()
    assert err == [f"warning: {store.path}:{n}: not a result row, skipped" for n in (2, 3, 4, 5)]
    store.rows()
    assert capsys.readouterr().err == ""  # said once per process, not on every read


def test_newest_row_of_a_config_wins(tmp_path):
    """A --force rerun appends a second row for the cell: the sweeps, `train` and `reports` all take it."""
    from reports.build import load_rows

    store = ResultsStore(tmp_path / "r.jsonl")
    store.append(make_row("cmd", {"a": 1}, {"x": 1.0}))
    store.append(make_row("cmd", {"a": 1}, {"x": 3.0}))
    assert store.done("cmd", {"a": 1})["metrics"] == {"x": 3.0}
    assert [r["metrics"] for r in load_rows([store.path])["cmd"]] == [{"x": 3.0}]


def test_killed_sweep_resumes_without_redoing_or_losing_rows(tmp_path):
    """Kill `bench.epoch_time` after its first finished row, run it again: every config once."""
    store = tmp_path / "sweep.jsonl"
    cmd = [sys.executable, "-m", "bench.epoch_time", "--models", "bregnext26,bregnext32,bregnext38",
           "--epoch-size", "16", "--batch-size", "8", "--image-size", "24", "--epochs", "1", "--device", "cpu",
           "--results", str(store)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(ResultsStore(store).rows()) < 2 and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = ResultsStore(store).rows()
    assert 2 <= len(first) < 4, "the sweep should have been killed mid-way"
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = ResultsStore(store).rows()
    assert [r["config"]["model"] for r in rows] == ["data-only", "bregnext26", "bregnext32", "bregnext38"]
    assert rows[: len(first)] == first  # finished rows kept, not redone
    assert len({r["run_id"] for r in rows}) == 4
