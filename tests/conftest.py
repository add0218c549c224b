"""Session-wide test settings.

- The Triton kernels run under the CPU interpreter when there is no GPU (native on a GPU), unless the caller
  set TRITON_INTERPRET; it is set before any test launches a kernel, since triton.jit fixes the mode then.
  Tests of the "triton cannot run here" errors set TRITON_INTERPRET=0 themselves. Kernel tests put their
  tensors on `breg_models.ops.testing.kernel_device()`: CUDA when native, the CPU when interpreted.
- Interpreted, fp32 -> bf16 rounds to nearest even as on the GPU (`breg_models.ops.interpreter_rounding`), not
  by the interpreter's truncation, so a CI pass in bf16 means what a GPU pass means.
- Every test runs in its own empty folder, so entry points' default paths (results/, checkpoints/) never
  write into the checkout.
- pytest-benchmark is optional: where it is installed its benchmarks are skipped unless ``--benchmark-only``
  (what ``--benchmark-skip`` in addopts did, which made pytest refuse to start where the plugin is absent);
  where it is not, the tests that use its ``benchmark`` fixture skip.
- The decoded data cache (`bench.data.cache`, BREG_CACHE_DIR) goes to one folder of the session, never into the
  user's ~/.cache; subprocesses inherit it.
"""

import os

import pytest
import torch

os.environ.setdefault("TRITON_INTERPRET", "0" if torch.cuda.is_available() else "1")
if os.environ["TRITON_INTERPRET"] == "1":
    from breg_models.ops import interpreter_rounding

    interpreter_rounding.install()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """``--benchmark-skip`` by default, set before pytest-benchmark reads it, and only where the plugin is loaded."""
    if hasattr(config.option, "benchmark_skip"):
        config.option.benchmark_skip = True


def pytest_collection_modifyitems(config, items):
    """Without pytest-benchmark, a test that asks for its ``benchmark`` fixture is skipped, not an error."""
    if hasattr(config.option, "benchmark_skip"):
        return
    skip = pytest.mark.skip(reason="needs pytest-benchmark (not installed or disabled)")
    for item in items:
        if "benchmark" in getattr(item, "fixturenames", ()):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _scratch_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True, scope="session")
def _data_cache_dir(tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.setenv("BREG_CACHE_DIR", str(tmp_path_factory.mktemp("breg-cache")))
    yield
    patch.undo()
