"""Kernel tests run where the suite runs them: CUDA tensors when the kernels are native and a GPU is present, CPU
tensors under the interpreter. One helper decides (`breg_models.ops.testing.kernel_device`); a kernel test that
builds CPU tensors itself passes in CI and fails on every GPU machine, which is how eight tests once did."""

import re
from pathlib import Path

import pytest
import torch

from breg_models.ops.testing import kernel_device

HERE = Path(__file__).parent
# what launches a kernel in a test module: the op, its test runner, a Shortcut or model set to triton, a raw launch
LAUNCHES = re.compile(r"\bbypass_add\(|\brun_op\(|impl=\"triton\"|\]\(")


@pytest.mark.parametrize("interpret, cuda, expected", [
    ("0", True, "cuda"), ("1", True, "cpu"), ("0", False, "cpu"), (None, True, "cuda"), ("1", False, "cpu")])
def test_kernel_device_follows_the_mode_the_kernels_run_in(interpret, cuda, expected, monkeypatch):
    if interpret is None:
        monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    else:
        monkeypatch.setenv("TRITON_INTERPRET", interpret)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert kernel_device().type == expected


def test_every_module_that_launches_kernels_takes_its_device_from_the_helper():
    launching = [p for p in sorted(HERE.glob("test_*.py")) if p != Path(__file__) and LAUNCHES.search(p.read_text())]
    assert len(launching) >= 5, [p.name for p in launching]  # the op, golden, network, defects and atan tests
    missing = [p.name for p in launching if "kernel_device" not in p.read_text()]
    assert not missing, f"kernel tests that do not put their tensors on kernel_device(): {missing}"
