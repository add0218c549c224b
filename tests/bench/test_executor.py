"""run_cells: skip what is stored, append as cells finish, report and retry failures without losing others."""

from __future__ import annotations

import argparse
import sys

import pytest

from bench.executor import add_executor_args, executor_kwargs, run_cells
from bench.results import ResultsStore

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
    run_cells([{"x": 1}, {"x": 2}], square, ResultsStore(tmp_path / "r.jsonl"), "sq")
    err = capsys.readouterr().err.splitlines()
    assert [line.split(" done in")[0] for line in err] == ["sq: 1/2 cells, x=1", "sq: 2/2 cells, x=2"]
    again = run_cells([{"x": 1}, {"x": 3}], square, ResultsStore(tmp_path / "r.jsonl"), "sq")
    assert again.skipped == 1
    assert capsys.readouterr().err.splitlines()[0].startswith("sq: 2/2 cells, x=3")  # counted after the skip


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
