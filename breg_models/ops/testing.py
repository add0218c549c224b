"""Test helpers of the fused op: the device the kernels run on, seeded inputs, the float64 reference with its
gradients, and runners for the op and the eager shortcut. In the package (not tests/) so test modules import it
under pytest's importlib mode.

The same cases run interpreted on the CPU (CI) and natively on CUDA (a GPU machine, ``TRITON_INTERPRET`` unset):
inputs are drawn on the CPU, so both see the same values, and the reference is computed in float64 on the CPU.
"""

from __future__ import annotations

import os

import torch

from breg_models.bypass import project, reference
from breg_models.eq8 import eq8_grads


def kernel_device() -> torch.device:
    """Where kernel tests put their tensors: CUDA when the kernels run natively (``TRITON_INTERPRET`` not 1 and a
    GPU present), else the CPU, where only the interpreter can run them."""
    if os.environ.get("TRITON_INTERPRET", "0") != "1" and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def make_inputs(shape, cout, stride, dtype=torch.float32, layout="nchw", scale=3.0, seed=0, specials=False,
                device="cpu"):
    """Seeded (x, F, dL/dy) for x of ``shape``, drawn on the CPU (the same values on every device) and moved
    to ``device``."""
    g = torch.Generator().manual_seed(seed)
    n, _, h, w = shape
    x = torch.randn(shape, generator=g) * scale
    if specials and x.numel() >= 8:
        flat = x.view(-1)
        big = 6e4 if dtype == torch.float16 else 1e30
        flat[:8] = torch.tensor([big, -big, 1e10, -1e10, 0.0, 1e-30, 1e3, -1e3]).clamp(-big, big)
    out = (n, cout, -(-h // stride), -(-w // stride))
    r = torch.randn(out, generator=g)
    dy = torch.randn(out, generator=g)
    x, r, dy = (t.to(device=device, dtype=dtype) for t in (x, r, dy))
    if layout in ("cl", "mixed"):
        x = x.contiguous(memory_format=torch.channels_last)
    if layout == "cl":
        r = r.contiguous(memory_format=torch.channels_last)
        dy = dy.contiguous(memory_format=torch.channels_last)
    return x, r, dy


def reference_all(x, r, dy, alpha: float, beta: float, stride: int):
    """float64 (y, dx, dalpha, dbeta) and the per-element magnitudes the tolerances scale with, computed on the
    CPU (one reference whatever the kernels ran on) and returned on x's device, beside the kernels' results."""
    x64, r64, g64 = (t.detach().cpu().double() for t in (x, r, dy))
    cout = r.shape[1]
    h = reference("adaptive", x64, alpha=alpha, beta=beta)
    y = project(h, cout, stride) + r64
    ymag = project(h.abs(), cout, stride) + r64.abs()
    # the adjoint of the (linear) projection carries dy back to x's cells
    probe = torch.zeros_like(x64, requires_grad=True)
    (gp,) = torch.autograd.grad(project(probe, cout, stride), probe, g64)
    a64, b64 = torch.tensor(alpha, dtype=torch.float64), torch.tensor(beta, dtype=torch.float64)
    hdx, hda, hdb = eq8_grads(x64, a64, b64)
    ref = {
        "y": y, "ymag": ymag, "dx": gp * hdx, "dxmag": (gp * hdx).abs(),
        "da": (gp * hda).sum(), "damag": (gp * hda).abs().sum(),
        "db": (gp * hdb).sum(), "dbmag": (gp * hdb).abs().sum(),
    }
    return {k: v.to(x.device) for k, v in ref.items()}


def assert_fp32_close(out, ref, factor: float = 8.0) -> None:
    """fp32 (y, dx, dF, dalpha, dbeta) against `reference_all`: per element within ``factor`` eps of the
    magnitudes (y, dx), the scalar sums within 32 eps x sum |terms| (tests/breg_models/test_bypass_add_op.py
    says why)."""
    eps = torch.finfo(torch.float32).eps
    y, dx, _, da, db = out
    assert torch.all((y.double() - ref["y"]).abs() <= factor * eps * ref["ymag"] + 1e-38)
    if dx is None:
        return
    assert torch.all((dx.double() - ref["dx"]).abs() <= factor * eps * ref["dxmag"] + 1e-38)
    assert abs(da.item() - ref["da"].item()) <= 32 * eps * ref["damag"].item() + 1e-38
    assert abs(db.item() - ref["db"].item()) <= 32 * eps * ref["dbmag"].item() + 1e-38


def run_op(x, r, dy, alpha: float, beta: float, stride: int):
    """The fused op's (y, dx, dF, dalpha, dbeta) for one upstream gradient dy, on x's device (alpha and beta
    too, as a model's parameters would be)."""
    from breg_models.ops.bypass_add_op import bypass_add

    x = x.detach().requires_grad_()
    r = r.detach().requires_grad_()
    a = torch.tensor(alpha, device=x.device, requires_grad=True)
    b = torch.tensor(beta, device=x.device, requires_grad=True)
    y = bypass_add(x, r, a, b, stride)
    dx, dr, da, db = torch.autograd.grad(y, (x, r, a, b), dy) if y.numel() else (None,) * 4
    return y.detach(), dx, dr, da, db


def run_eager(x, r, dy, alpha: float, beta: float, stride: int):
    """The eager Shortcut in x's dtype (alpha, beta fp32 parameters cast to it, as the module does), on x's
    device."""
    from breg_models.bypass import Bypass, Shortcut

    sc = Shortcut(Bypass("adaptive", alpha=alpha, beta=beta), x.shape[1], r.shape[1], stride).to(x.device)
    x = x.detach().requires_grad_()
    r = r.detach().requires_grad_()
    y = sc(x, r)
    dx, dr, da, db = torch.autograd.grad(y, (x, r, sc.bypass.alpha, sc.bypass.beta), dy)
    return y.detach(), dx, dr, da, db
