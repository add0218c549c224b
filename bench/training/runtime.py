"""Runtime settings a training step needs: the device, determinism and autocast (bench.train, bench.epoch_time)."""

from __future__ import annotations

import contextlib
import os

import torch

from harness.cli import UsageError, check_device_here

AMP = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str) -> torch.device:
    """The device --device names (cpu, cuda or cuda:N; `harness.cli.device_name` resolves auto), checked to be
    here; under torchrun each rank then takes its own cuda:LOCAL_RANK (`bench.training.distributed`)."""
    return torch.device(check_device_here(name))


def check_bypass_impl(impl: str, device: torch.device) -> None:
    """Triton kernels need a GPU (or the slow interpreter, TRITON_INTERPRET=1): say so before building."""
    if impl == "triton" and device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        raise UsageError("--bypass-impl triton needs --device cuda (or TRITON_INTERPRET=1 for a slow "
                         "interpreted run on the CPU)")


def set_determinism(seed: int, deterministic: bool) -> None:
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = True


def autocast(device: torch.device, amp: str):
    dtype = AMP[amp]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
