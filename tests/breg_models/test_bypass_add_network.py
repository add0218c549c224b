"""The fused op inside whole networks: BReG-NeXt-50 with bypass_impl='triton' against the eager model, and
fvcore counting the op as the eager shortcut (bench.complexity). Kernels run on `kernel_device` (natively on
CUDA where a GPU runs them); the float64 model stays on the CPU."""

import copy

import pytest
import torch

from breg_models.bypass import Shortcut
from breg_models.ops.testing import assert_fp32_close, kernel_device, reference_all, run_op
from breg_models.registry import create_model

DEVICE = kernel_device()
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _loss_and_grads(model, x, y):
    model.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _record_shortcuts(model):
    """Per Shortcut: the (x, F) it was called with and the dL/dy its backward received."""
    calls = {}

    def hook(module, inputs, output, name):
        x, r = (t.detach().clone() for t in inputs)
        calls[name] = {"x": x, "r": r, "module": module}
        output.register_hook(lambda g: calls[name].__setitem__("dy", g.detach().clone()))

    for name, module in model.named_modules():
        if isinstance(module, Shortcut):
            module.register_forward_hook(lambda m, i, o, name=name: hook(m, i, o, name))
    return calls


@pytest.mark.slow
def test_bregnext50_triton_matches_eager(monkeypatch):
    """Two claims. (1) Every op call inside the network, replayed on the very (x, F, dL/dy) it saw, is within the
    op's float64 tolerance, and gives the network's dL/dalpha, dL/dbeta bit for bit. (2) The network as a whole
    is as close to a float64 model as the fp32 eager one: loss, and the summed max error over all parameter
    gradients within twice eager's. Not per tensor: batch norm over a batch of 2 leaves dL/dy ~3e-5 (relative)
    off float64 in both models, and a scalar like dL/dbeta (a sum of 4096 such terms that cancels to 1/10 of
    its magnitude) then lands anywhere within that noise; one seed's eager error on one tensor is no bound."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # fp32 convolutions on CUDA, as on the CPU
    torch.manual_seed(0)
    eager = create_model("bregnext50", bypass_impl="eager")
    fused = create_model("bregnext50", bypass_impl="triton")
    fused.load_state_dict(eager.state_dict())
    exact = copy.deepcopy(eager).double()
    eager, fused = eager.to(DEVICE), fused.to(DEVICE)
    assert all(m.impl == "triton" for m in fused.modules() if isinstance(m, Shortcut))
    calls = _record_shortcuts(fused)
    x, y = torch.randn(2, 3, 8, 8), torch.tensor([1, 5])
    loss_e, grads_e = _loss_and_grads(eager, x.to(DEVICE), y.to(DEVICE))
    loss_t, grads_t = _loss_and_grads(fused, x.to(DEVICE), y.to(DEVICE))
    loss_x, grads_x = _loss_and_grads(exact, x.double(), y)

    assert len(calls) == 24 and all("dy" in c for c in calls.values())
    for name, c in calls.items():
        alpha, beta, stride = c["module"].bypass.alpha.item(), c["module"].bypass.beta.item(), c["module"].stride
        out = run_op(c["x"], c["r"], c["dy"], alpha, beta, stride)
        assert_fp32_close(out, reference_all(c["x"], c["r"], c["dy"], alpha, beta, stride))
        assert torch.equal(out[3], grads_t[f"{name}.bypass.alpha"]), name
        assert torch.equal(out[4], grads_t[f"{name}.bypass.beta"]), name

    torch.testing.assert_close(loss_t, loss_e, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss_t.double().cpu(), loss_x, rtol=1e-5, atol=1e-6)
    assert grads_t.keys() == grads_x.keys() == grads_e.keys()
    err_t = sum((grads_t[n].double().cpu() - g).abs().max().item() for n, g in grads_x.items())
    err_e = sum((grads_e[n].double().cpu() - g).abs().max().item() for n, g in grads_x.items())
    assert err_t <= 2 * err_e, f"triton summed error {err_t:.3g}, eager fp32 {err_e:.3g}"


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
