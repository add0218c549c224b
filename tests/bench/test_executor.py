"""run_cells: skip what is stored, append as cells finish, report and retry failures without losing others."""

from __future__ import annotations

import argparse
import os
import sys
import time

import pytest

from bench.executor import add_executor_args, executor_kwargs, run_cells
from harness.results_store import ResultsStore, make_row, run_id

CALLS: list[dict] = []
FLAKY_LEFT: dict[int, int] = {}


def square(config: dict) -> tuple[dict, dict]:
    CALLS.append(config)
    if config["x"] < 0:
        raise ValueError(f"negative x {config['x']}\nsecond line is not reported")
    if FLAKY_LEFT.get(config["x"], 0) > 0:
        FLAKY_LEFT[config["x"]] -= 1
        raise RuntimeError("transient")
    return {"y": config["x"] ** 2}, {"work_s": 0.0}


@pytest.fixture(autouse=True)
def _reset():
    CALLS.clear()
    FLAKY_LEFT.clear()


def test_runs_appends_and_skips_done(tmp_path):
    store = ResultsStore(tmp_path / "r.jsonl")
    cells = [{"x": 1}, {"x": 2}, {"x": 3}]
    result = run_cells(cells, square, store, "sq")
    assert (result.ran, result.skipped, result.failures) == (3, 0, [])
    assert [r["metrics"]["y"] for r in result.rows] == [1, 4, 9]
    assert {"work_s", "cell_s"} <= set(result.rows[0]["timings"])
    assert len(store.rows("sq")) == 3

    again = run_cells(cells + [{"x": 4}], square, store, "sq")
    assert (again.ran, again.skipped) == (1, 3)
    assert [r["metrics"]["y"] for r in again.rows] == [1, 4, 9, 16]
    assert CALLS[-1] == {"x": 4} and len(CALLS) == 4

    forced = run_cells(cells, square, store, "sq", force=True)
    assert forced.ran == 3 and len(store.rows("sq")) == 7


def test_a_line_per_cell_when_stderr_is_not_a_terminal(tmp_path, capsys):
    """A line as each cell starts and as it ends, naming it by what sets it apart from the others."""
    run_cells([{"x": 1, "y": 0}, {"x": 2, "y": 0}], square, ResultsStore(tmp_path / "r.jsonl"), "sq")
    err = capsys.readouterr().err.splitlines()
    assert [line.split(" done in")[0] for line in err] == ["sq: running x=1", "sq: 1/2 cells, x=1",
                                                           "sq: running x=2", "sq: 2/2 cells, x=2"]
    again = run_cells([{"x": 1, "y": 0}, {"x": 3, "y": 0}], square, ResultsStore(tmp_path / "r.jsonl"), "sq")
    assert again.skipped == 1
    assert capsys.readouterr().err.splitlines()[1].startswith("sq: 2/2 cells, x=3")  # counted after the skip


def test_preflight_runs_once_before_the_first_cell_and_not_when_all_are_stored(tmp_path):
    """A sweep's checks of what its cells read run before any cell, and a finished sweep is served without them."""
    calls = []
    store = ResultsStore(tmp_path / "r.jsonl")
    run_cells([{"x": 1}, {"x": 2}], square, store, "sq", preflight=lambda: calls.append(len(CALLS)))
    assert calls == [0] and len(CALLS) == 2
    run_cells([{"x": 1}, {"x": 2}], square, store, "sq", preflight=lambda: pytest.fail("nothing was left to run"))


def test_failure_is_reported_retried_and_does_not_stop_others(tmp_path, capsys):
    store = ResultsStore(tmp_path / "r.jsonl")
    result = run_cells([{"x": -1}, {"x": 2}], square, store, "sq", retries=2)
    assert result.rows[0] is None and result.rows[1]["metrics"]["y"] == 4
    assert len(store.rows("sq")) == 1
    assert [c["x"] for c in CALLS] == [-1, -1, -1, 2]  # one try plus two retries
    (failure,) = result.failures
    assert failure.attempts == 3 and failure.error == "ValueError: negative x -1"
    err = capsys.readouterr().err
    assert "attempt 1/3, retrying" in err and "attempt 3/3, giving up" in err
    assert "second line" not in err
    with pytest.raises(RuntimeError, match="1 of 2 cells failed"):
        result.raise_for_failures()


def test_transient_failure_succeeds_on_retry(tmp_path):
    FLAKY_LEFT[5] = 1
    result = run_cells([{"x": 5}], square, ResultsStore(tmp_path / "r.jsonl"), "sq", retries=1)
    assert result.failures == [] and result.rows[0]["metrics"]["y"] == 25


def test_plain_metrics_return_and_no_store():
    result = run_cells([{"x": 3}], lambda c: {"y": c["x"]}, None, "plain")
    assert result.rows[0]["metrics"] == {"y": 3} and "cell_s" in result.rows[0]["timings"]


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown executor"):
        run_cells([], square, None, "sq", executor="dask")
    with pytest.raises(ValueError, match="retries"):
        run_cells([], square, None, "sq", retries=-1)


def test_ray_missing_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    with pytest.raises(RuntimeError, match="install the 'ray' extra"):
        run_cells([{"x": 1}], square, None, "sq", executor="ray")


def test_shared_cli_options():
    parser = argparse.ArgumentParser()
    add_executor_args(parser, default_results="results/x.jsonl")
    args = parser.parse_args(["--executor", "ray", "--ray-address", "auto", "--retries", "3", "--force"])
    assert args.results == "results/x.jsonl"
    assert executor_kwargs(args) == {"executor": "ray", "ray_address": "auto", "retries": 3, "force": True}


@pytest.mark.parametrize("where", ["folder", "under_a_file", "read_only"])
def test_a_store_that_cannot_take_rows_fails_before_any_cell(tmp_path, where):
    if where == "folder":
        path, message = tmp_path, "is a folder"
    elif where == "under_a_file":
        (tmp_path / "f").write_text("")
        path, message = tmp_path / "f" / "r.jsonl", "is a file, not a folder"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        (tmp_path / "ro").mkdir(mode=0o555)
        path, message = tmp_path / "ro" / "r.jsonl", "not writable"
    with pytest.raises(ValueError, match=message):
        run_cells([{"x": 1}, {"x": 2}], square, ResultsStore(path), "sq")
    assert CALLS == []  # no cell's work was done, then lost


def test_a_read_only_store_still_serves_its_finished_cells(tmp_path):
    store = ResultsStore(tmp_path / "r.jsonl")
    run_cells([{"x": 1}], square, store, "sq")
    store.path.chmod(0o444)
    CALLS.clear()
    assert run_cells([{"x": 1}], square, store, "sq").skipped == 1 and CALLS == []


def test_a_sweep_given_a_folder_as_store_says_so_in_one_line(tmp_path, capsys):
    from bench import depth_sweep
    from bench.cli import run_main

    assert run_main(depth_sweep.main, ["--depths", "26", "--results", str(tmp_path)]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.endswith(f"--results {tmp_path}: is a folder, not a results file (give a .jsonl path)")


def test_a_sweep_given_a_folder_as_out_fails_before_any_cell(tmp_path, capsys, monkeypatch):
    from bench import depth_sweep
    from bench.cli import run_main

    monkeypatch.setattr(depth_sweep, "run_cell", square)  # would record a call
    assert run_main(depth_sweep.main, ["--depths", "26", "--results", str(tmp_path / "r.jsonl"), "--out",
                                       str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip().endswith("is a folder, not a file") and CALLS == []


def test_a_cell_finished_by_another_process_is_taken_not_rerun(tmp_path):
    """While this sweep waits its turn, the process holding a cell stores its row: that row is used."""
    import multiprocessing as mp

    store = ResultsStore(tmp_path / "r.jsonl")
    key = run_id("sq", {"x": 2})
    ready, release = mp.Event(), mp.Event()
    holder = mp.get_context("fork").Process(target=_hold_and_finish, args=(store.path, key, ready, release))
    holder.start()
    assert ready.wait(30)
    release.set()  # it stores x=2's row, then lets the claim go; this sweep ran x=1 meanwhile, then waited
    result = run_cells([{"x": 1}, {"x": 2}], square, store, "sq")
    holder.join(30)
    assert [c["x"] for c in CALLS] == [1]
    assert result.rows[1]["metrics"] == {"y": "from the other process"} and (result.ran, result.skipped) == (1, 1)
    assert len(store.rows("sq")) == 2


def _hold_and_finish(path, key, ready, release) -> None:
    store = ResultsStore(path)
    with store.claim(key) as mine:
        assert mine
        ready.set()
        release.wait(30)
        time.sleep(0.5)
        store.append(make_row("sq", {"x": 2}, {"y": "from the other process"}))
