"""The fused op inside whole networks: BReG-NeXt-50 with bypass_impl='triton' against the eager model, and
fvcore counting the op as the eager shortcut (bench.complexity). Kernels run on `kernel_device` (natively on
CUDA where a GPU runs them); the float64 model stays on the CPU."""

import copy

import pytest
import torch

from breg_models.bypass import Shortcut
from breg_models.ops.testing import kernel_device
from breg_models.registry import create_model

DEVICE = kernel_device()
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _loss_and_grads(model, x, y):
    model.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.slow
def test_bregnext50_triton_matches_eager(monkeypatch):
    """Loss and every parameter gradient of the fused model are as close to a float64 eager model as the fp32
    eager model is (at most twice its error, floor 1e-5 of the largest gradient): batch norm over a batch of
    2 amplifies rounding through 50 layers, so a fixed tolerance per tensor would be arbitrary."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # fp32 convolutions on CUDA, as on the CPU
    torch.manual_seed(0)
    eager = create_model("bregnext50", bypass_impl="eager")
    fused = create_model("bregnext50", bypass_impl="triton")
    fused.load_state_dict(eager.state_dict())
    exact = copy.deepcopy(eager).double()
    eager, fused = eager.to(DEVICE), fused.to(DEVICE)
    assert all(m.impl == "triton" for m in fused.modules() if isinstance(m, Shortcut))
    x, y = torch.randn(2, 3, 8, 8), torch.tensor([1, 5])
    loss_e, grads_e = _loss_and_grads(eager, x.to(DEVICE), y.to(DEVICE))
    loss_t, grads_t = _loss_and_grads(fused, x.to(DEVICE), y.to(DEVICE))
    loss_x, grads_x = _loss_and_grads(exact, x.double(), y)
    grads_x = {name: g.to(DEVICE) for name, g in grads_x.items()}
    torch.testing.assert_close(loss_t, loss_e, rtol=1e-5, atol=1e-6)
    assert grads_t.keys() == grads_x.keys() and any(k.endswith("alpha") for k in grads_t)
    floor = 1e-5 * max(g.abs().max().item() for g in grads_x.values())
    for name, want in grads_x.items():
        err_t = (grads_t[name].double() - want).abs().max().item()
        err_e = (grads_e[name].double() - want).abs().max().item()
        assert err_t <= 2 * err_e + floor, f"{name}: triton error {err_t:.3g}, eager fp32 error {err_e:.3g}"


def test_fvcore_counts_the_fused_op_as_the_eager_shortcut():
    pytest.importorskip("fvcore", reason="FLOP counting needs fvcore, which is not installed")
    from bench.complexity import count_flops

    eager = count_flops(create_model("bregnext26", bypass_impl="eager").to(DEVICE), input_size=16)
    fused = count_flops(create_model("bregnext26", bypass_impl="triton").to(DEVICE), input_size=16)
    assert fused == eager


def test_fvcore_handle_uses_shortcut_cost():
    pytest.importorskip("fvcore", reason="FLOP counting needs fvcore, which is not installed")
    from fvcore.nn import FlopCountAnalysis

    from breg_models.bypass import Bypass, Shortcut
    from breg_models.cost import shortcut_cost
    from breg_models.ops.bypass_add_op import FVCORE_HANDLES

    sc = Shortcut(Bypass("adaptive"), 4, 8, 2, impl="triton").to(DEVICE)
    x, r = torch.randn(1, 4, 5, 5, device=DEVICE), torch.randn(1, 8, 3, 3, device=DEVICE)
    analysis = FlopCountAnalysis(sc, (x, r)).unsupported_ops_warnings(False)
    for op, handle in FVCORE_HANDLES.items():
        analysis.set_op_handle(op, handle)
    assert analysis.total() == shortcut_cost((1, 4, 5, 5), (1, 8, 3, 3), 2)
    assert not analysis.unsupported_ops()
