"""Session-wide test settings.

- The Triton kernels run under the CPU interpreter when there is no GPU (native on a GPU), unless the caller
  set TRITON_INTERPRET; it is set before any test launches a kernel, since triton.jit fixes the mode then.
  Tests of the "triton cannot run here" errors set TRITON_INTERPRET=0 themselves.
- Every test runs in its own empty folder, so entry points' default paths (results/, checkpoints/) never
  write into the checkout.
"""

import os

import pytest
import torch

os.environ.setdefault("TRITON_INTERPRET", "0" if torch.cuda.is_available() else "1")


@pytest.fixture(autouse=True)
def _scratch_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
