"""The test suite starts with or without pytest-benchmark: its ``--benchmark-skip`` is set from tests/conftest.py
only where the plugin is loaded (in addopts it made pytest exit at once without it), and the benchmarks skip."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pytest(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "tests/benchmarks", "-q", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_addopts_do_not_need_the_plugin():
    (addopts,) = [line for line in (ROOT / "pyproject.toml").read_text().splitlines() if line.startswith("addopts")]
    assert "--benchmark" not in addopts.partition("#")[0]


def test_benchmarks_skip_without_the_plugin():
    done = _pytest("-p", "no:benchmark", "-rs")  # as if pytest-benchmark were not installed
    assert done.returncode == 0, done.stdout + done.stderr
    assert "needs pytest-benchmark" in done.stdout and " passed" not in done.stdout and "error" not in done.stdout


def test_benchmarks_skip_by_default_with_the_plugin():
    import pytest

    pytest.importorskip("pytest_benchmark")
    done = _pytest("-rs")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "--benchmark-skip active" in done.stdout and " passed" not in done.stdout
