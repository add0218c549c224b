"""The fused op's former defects, each pinned: overflow in dL/dbeta, int64 indexing of strided views, the
fixed reduction order, double backward, and the op module's import. Tensors live on `kernel_device` (CUDA where
the kernels run natively, the CPU where they are interpreted), and the op is driven through autograd only, so
the tests hold whatever the backward's launches look like."""

from __future__ import annotations

import importlib
import math
import types

import pytest
import torch

from breg_models.ops.bypass_add_op import bypass_add
from breg_models.ops.testing import kernel_device, make_inputs, reference_all

DEVICE = kernel_device()
pytestmark = [pytest.mark.filterwarnings("ignore::RuntimeWarning")]


def _scalar_grads(x, dy, alpha: float, beta: float, stride: int):
    """(dx, dL/dalpha, dL/dbeta) of the op for upstream gradient ``dy``, through autograd on x's device."""
    x = x.detach().requires_grad_()  # detach keeps a strided view's strides
    r = torch.zeros(dy.shape, dtype=x.dtype, device=x.device)
    a = torch.tensor(alpha, device=x.device, requires_grad=True)
    b = torch.tensor(beta, device=x.device, requires_grad=True)
    return torch.autograd.grad(bypass_add(x, r, a, b, stride), (x, a, b), dy)


@pytest.mark.parametrize("alpha,beta", [(0.0, 0.0), (0.0, 1e-3), (1e-30, 1e-3), (0.5, 1e-3)])
def test_dbeta_is_finite_where_the_exact_value_is(alpha, beta):
    # x H' + H overflows fp32 at x = 3e38 although -beta/s^2 (x H' + H) is finite (0 at beta = 0)
    x = torch.tensor([3e38, -3e38, 1.0, 2.0], device=DEVICE).reshape(1, 1, 1, 4)
    g = torch.ones_like(x)
    _, da, db = _scalar_grads(x, g, alpha, beta, 1)
    ref = reference_all(x, torch.zeros_like(x), g, alpha, beta, 1)
    assert math.isfinite(db.item()), db
    assert db.item() == pytest.approx(ref["db"].item(), rel=1e-5, abs=1e-30)
    if alpha == 0.0:  # elsewhere dH/dalpha of x = +-3e38 itself overflows fp32 (the two terms cancel in the sum)
        assert da.item() == pytest.approx(ref["da"].item(), rel=1e-5, abs=1e-30)


def test_int64_is_chosen_from_strided_offsets_not_numel():
    from breg_models.ops.bypass_add_op import needs_int64  # the op's own helper: only this test depends on it

    # 3 elements, but the batch stride puts the last one past int32: the case that used to segfault
    view = torch.empty_strided((3, 1, 1, 1), (2**30, 1, 1, 1), device="meta")
    assert view.numel() == 3 and needs_int64(view)
    assert not needs_int64(torch.empty((2, 3, 4, 5), device="meta"))
    assert needs_int64(torch.empty((2**31,), device="meta"))
    channels_last = torch.empty((1, 2**16, 2**8, 2**7), device="meta").contiguous(memory_format=torch.channels_last)
    assert needs_int64(channels_last)


def test_strided_view_input_matches_reference():
    g = torch.Generator().manual_seed(0)
    base = (torch.randn(2, 6, 9, 11, generator=g) * 3).to(DEVICE)
    x = base[:, ::2, 1::2, ::3]  # a non-dense view: the kernels index it through its strides
    assert not x.is_contiguous()
    r = torch.randn(2, 6, 4, 4, generator=g).to(DEVICE)
    dy = torch.randn(2, 6, 4, 4, generator=g).to(DEVICE)
    alpha, beta = (torch.tensor(v, device=DEVICE) for v in (0.7, 1.2))
    y = bypass_add(x, r, alpha, beta, 1)
    ref = reference_all(x, r, dy, 0.7, 1.2, 1)
    torch.testing.assert_close(y.double(), ref["y"], rtol=1e-5, atol=1e-6)
    dx, _, _ = _scalar_grads(x, dy, 0.7, 1.2, 1)
    torch.testing.assert_close(dx.double(), ref["dx"], rtol=1e-5, atol=1e-6)


# Cross-process bit-exactness of the scalar gradients: tests/breg_models/test_bypass_add_launches.py.


def test_double_backward_is_refused_in_one_line():
    x, r, _ = make_inputs((1, 2, 4, 4), 2, 1, device=DEVICE)
    x.requires_grad_()
    a = torch.tensor(1.0, device=DEVICE, requires_grad=True)
    y = bypass_add(x, r, a, torch.tensor(1.0, device=DEVICE), 1)
    (gx,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="no second derivative .* bypass_impl='eager'"):
        gx.sum().backward()


def test_op_module_import_is_the_module_not_the_op():
    import breg_models.ops.bypass_add_op as module

    assert isinstance(module, types.ModuleType)
    assert importlib.import_module("breg_models.ops.bypass_add_op") is module
    from breg_models.ops import bypass_add as op

    assert op is module.bypass_add and not isinstance(op, types.ModuleType)


def test_cost_rule_lives_below_bench():
    import ast
    from pathlib import Path

    import breg_models

    root = Path(breg_models.__file__).parent
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(("bench", "reports")), f"{path} imports {node.module}"
