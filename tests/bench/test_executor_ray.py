"""--executor ray: data files named relative to the driver reach the tasks, the upload leaves out checkpoints and
build outputs, and a cluster address that is wrong or silent is a one-line error, never a traceback or a hang.

The tests that need a running Ray share one local Ray (1 CPU) for the module, started by the first `run_cells`
that uses it, with the working-tree upload a real sweep gets."""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from bench import executor
from bench.executor import run_cells
from harness.results_store import ResultsStore, run_id

ray = pytest.importorskip("ray", reason="Ray is not installed (optional extra 'ray')")

REPO = Path(executor.__file__).resolve().parent.parent


def load_cell(config: dict) -> dict:
    """A sweep cell that reads its data set the way the real ones do; runs in a Ray worker."""
    from bench.data import load_dataset

    ds = load_dataset(config["data"], "train", size=8)
    return {"n": len(ds), "source": ds.info["source"], "cwd": os.getcwd()}


def _fer_csv(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = " ".join(["7"] * 2304)
    path.write_text(f'emotion,pixels,Usage\n3,"{pixels}",Training\n1,"{pixels}",PublicTest\n')


@pytest.fixture(scope="module")
def local_ray():
    """ray.init keywords for the module's local Ray; shut down after the module."""
    yield {"num_cpus": 1, "include_dashboard": False}
    ray.shutdown()


@pytest.fixture
def no_ray_yet():
    """The address tests need this process not connected to any Ray (run_cells would reuse it)."""
    if ray.is_initialized():
        ray.shutdown()


# --- 1. data paths and the upload ----------------------------------------------------------------------------

def test_task_config_makes_relative_data_paths_absolute(tmp_path):
    cell = {"data": "fer2013:data/x.csv", "depth": 14}
    sent = executor._task_config(cell)
    assert sent == {"data": f"fer2013:{tmp_path / 'data' / 'x.csv'}", "depth": 14}
    assert cell == {"data": "fer2013:data/x.csv", "depth": 14}  # the user's config (and run id) is untouched
    for kept in ({"data": "synth"}, {"data": "affectnet:/abs/affectnet"}, {"data": "nosuch:x"}, {"depth": 14},
                 {"data": None}):
        assert executor._task_config(kept) == kept
    assert executor._task_config({"data": "affwild:aw"})["data"] == f"affwild:{tmp_path / 'aw'}"


def test_upload_leaves_out_checkpoints_data_and_build_outputs(tmp_path):
    packaging = pytest.importorskip("ray._private.runtime_env.packaging")
    tree = tmp_path / "tree"
    for name in ("bench/a.py", "README.md", "checkpoints/run/last.pt", "models/w.pt", "w.pth", "x.ckpt",
                 "data/x.csv", "results/r.jsonl", "build/lib/a.py", "dist/a.whl", "pkg.egg-info/PKG-INFO",
                 ".git/HEAD", ".venv/bin/python", "bench/__pycache__/a.pyc", ".ruff_cache/x", ".pytest_cache/x"):
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text("x")
    package = tmp_path / "pkg.zip"
    packaging.create_package(str(tree), package, include_gitignore=False, excludes=executor._RAY_EXCLUDES)
    files = {n for n in zipfile.ZipFile(package).namelist() if not n.endswith("/")}
    assert files == {"bench/a.py", "README.md"}


def test_relative_data_path_reaches_ray_tasks_and_the_row_keeps_it(tmp_path, local_ray):
    _fer_csv(tmp_path / "data" / "x.csv")  # under the driver's folder (each test runs in its tmp_path)
    cells = [{"data": "fer2013:data/x.csv", "image_size": 8}]
    store = ResultsStore(tmp_path / "r.jsonl")
    result = run_cells(cells, load_cell, store, "ray-data", executor="ray", ray_init_kwargs=local_ray, retries=0)
    assert (result.ran, result.failures) == (1, [])
    (row,) = store.rows("ray-data")
    assert row["config"] == cells[0] and row["run_id"] == run_id("ray-data", cells[0])
    assert row["metrics"]["n"] == 1 and row["metrics"]["source"] == str(tmp_path / "data" / "x.csv")
    assert Path(row["metrics"]["cwd"]) != tmp_path  # the task ran in the uploaded copy, not the driver's folder
    again = run_cells(cells, load_cell, store, "ray-data", executor="ray", ray_init_kwargs=local_ray)
    assert (again.ran, again.skipped) == (0, 1)  # the stored row is found under the user's config


# --- 2, 3. cluster addresses ---------------------------------------------------------------------------------

def test_auto_without_a_cluster_is_one_line(monkeypatch, no_ray_yet):
    from ray._private import services

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    # No cluster on this machine, whatever other processes run: Ray's discovery finds nothing.
    monkeypatch.setattr(services, "find_gcs_addresses", functools.lru_cache(maxsize=1)(lambda: []))
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: None)
    with pytest.raises(RuntimeError) as err:
        run_cells([{"x": 1}], load_cell, None, "sq", executor="ray", ray_address="auto")
    message = str(err.value)
    assert "\n" not in message and "--ray-address auto found no running Ray cluster" in message
    assert "drop --ray-address to start a local Ray" in message
    assert not ray.is_initialized()


def test_silent_address_times_out_in_one_line(monkeypatch, no_ray_yet):
    """ray.init stands for a connection that never answers (Ray's own retries take minutes): the sweep gives up
    after RAY_CONNECT_TIMEOUT_S, and a connection that completes after that is shut down again."""
    release, shut = threading.Event(), threading.Event()

    def silent_init(address=None, **kwargs):
        release.wait(15)  # without the deadline the sweep would wait here, then fail with Ray's ConnectionError
        if not release.is_set():
            raise ConnectionError("ray client connection timeout")

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(executor, "RAY_CONNECT_TIMEOUT_S", 0.5, raising=False)
    monkeypatch.setattr(ray, "init", silent_init)
    monkeypatch.setattr(ray, "shutdown", shut.set)
    start = time.perf_counter()
    with pytest.raises(RuntimeError) as err:
        run_cells([{"x": 1}], load_cell, None, "sq", executor="ray", ray_address="ray://10.255.255.1:10001")
    assert time.perf_counter() - start < 5
    assert str(err.value) == ("no Ray cluster answered at --ray-address ray://10.255.255.1:10001 within 0.5 s; "
                              "check the address and that its port is reachable from here, or drop --ray-address "
                              "to start a local Ray")
    release.set()  # the abandoned connection joins late: it must not stay connected
    assert shut.wait(5)


def test_silent_gcs_address_from_the_command_line(tmp_path):
    """A real Ray against a port that accepts connections and never answers: one line, exit 1, in seconds."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(0)
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        code = ("import sys, bench.executor as ex; from bench.cli import run_main; ex.RAY_CONNECT_TIMEOUT_S = 2; "
                "sys.exit(run_main(lambda argv: ex.run_cells([{'x': 1}], len, None, 'sq', executor='ray', "
                "ray_address=sys.argv[1]).raise_for_failures()))")
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", code, address], capture_output=True, text=True, timeout=60,
                              env=env, cwd=tmp_path)
        took = time.perf_counter() - start
    assert proc.returncode == 1, proc.stderr
    assert f"error: no Ray cluster answered at --ray-address {address} within 2 s" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert took < 20
