"""The eager path's autograd Function of Eq. 8 against the float64 reference (`breg_models.eq8`).

Tolerances, in eps of fp32 (the arithmetic for fp32, bf16 and fp16 x). H and dH/dx per element: atan within an
ulp and three more roundings, so 4 eps. The scalar gradients are sums of fp32 terms, so their error is the terms'
relative error times sum |terms|, plus the fp32 cascade sum's, log2(n) / 2 eps at worst (6 for the 4000 terms
here). A dH/dalpha term: 1/(1+u) + P within 2.4 eps (P after fp32 Horner), the reciprocal's 2, a cancellation of
at most 2.75x at u = 1, three products: about 10, so 16 + 6 in all, 24 allowed. A dH/dbeta term adds two terms of
one sign: 4 + 6, 12 allowed. bf16: H and dx are rounded once to bf16 at the end (half an ulp) after the same
fp32 arithmetic.
"""

import pytest
import torch

from breg_models.bypass import Bypass
from breg_models.eq8 import eq8, eq8_grads
from breg_models.eq8_function import eq8_function
from breg_models.ops.testing import make_inputs

EPS = torch.finfo(torch.float32).eps
# (alpha, beta): the init, BReG-Net, alpha -> 0 (H -> x/(beta^2+1)), alpha = 0, negative, large beta
PARAMS = [(1.0, 1.0), (1.0, 0.0), (1e-7, 0.5), (0.0, 1.0), (-0.8, 2.0), (2.5, 30.0), (1e-12, 1.0)]


def _run(x, g, alpha, beta):
    x = x.detach().requires_grad_()
    a = torch.tensor(alpha, requires_grad=True)
    b = torch.tensor(beta, requires_grad=True)
    h = eq8_function(x, a, b)
    return (h.detach(), *torch.autograd.grad(h, (x, a, b), g))


def _reference(x, g, alpha, beta):
    x64, g64 = x.double(), g.double()
    a64, b64 = torch.tensor(alpha, dtype=torch.float64), torch.tensor(beta, dtype=torch.float64)
    hx, ha, hb = eq8_grads(x64, a64, b64)
    return eq8(x64, a64, b64), g64 * hx, g64 * ha, g64 * hb


def _assert_close(out, x, g, alpha, beta, rtol):
    h, dx, da, db = out
    ref_h, ref_dx, terms_a, terms_b = _reference(x, g, alpha, beta)
    assert torch.equal(h.isnan(), ref_h.isnan())  # x = +-inf gives NaN, as the reference
    ok = ref_h.isfinite()
    tiny = torch.finfo(torch.float32).tiny  # below it fp32 has no relative precision (dx at x = 1e30: 1e-60)
    assert torch.all((h.double() - ref_h)[ok].abs() <= rtol * ref_h[ok].abs() + tiny)
    assert torch.all((dx.double() - ref_dx).abs() <= rtol * ref_dx.abs() + tiny)
    assert abs(da.item() - terms_a.sum().item()) <= 24 * EPS * terms_a.abs().sum().item()
    assert abs(db.item() - terms_b.sum().item()) <= 12 * EPS * terms_b.abs().sum().item()


@pytest.mark.parametrize("alpha,beta", PARAMS)
def test_fp32_against_float64_reference(alpha, beta):
    x, _, g = make_inputs((2, 3, 9, 7), 3, 1, specials=True)  # 0, +-1e30, 1e-30, ... among N(0, 9) values
    _assert_close(_run(x, g, alpha, beta), x, g, alpha, beta, 4 * EPS)


@pytest.mark.parametrize("z_low,z_high", [(0.0, 1.0), (1.0, 8.0)], ids=["polynomial", "direct"])
@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (-2.5, 30.0)])
def test_dalpha_per_branch_has_no_bias(z_low, z_high, alpha, beta):
    """z = alpha x / s swept over one branch of dH/dalpha, with dy of the terms' sign: the sum's relative error is
    the branch's mean error, so a wrong polynomial or a cancelling form cannot hide among large terms."""
    s = (beta * beta + 1) ** 0.5
    x = torch.linspace(z_low, z_high, 4001)[1:] * s / alpha
    g = -torch.sign(torch.tensor(alpha) * x)  # dH/dalpha = alpha x^3 / s^4 q, q < 0
    _, _, da, _ = _run(x, g, alpha, beta)
    _, _, terms_a, _ = _reference(x, g, alpha, beta)
    assert abs(da.item() / terms_a.sum().item() - 1) <= 24 * EPS


def test_bf16_against_float64_reference():
    x, _, g = make_inputs((2, 3, 9, 7), 3, 1, dtype=torch.bfloat16)
    half_ulp = torch.finfo(torch.bfloat16).eps / 2
    h, dx, da, db = _run(x, g, -0.8, 2.0)
    assert h.dtype == dx.dtype == torch.bfloat16 and da.dtype == torch.float32
    _assert_close((h.float(), dx.float(), da, db), x, g, -0.8, 2.0, half_ulp + 4 * EPS)


@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.3, -0.7), (1e-3, 2.0), (0.0, 0.5)])
def test_gradcheck_float64_near_zero_and_large(alpha, beta):
    x = torch.cat([torch.linspace(-1e-3, 1e-3, 5), torch.linspace(-4, 4, 9), torch.tensor([1e3, -2e5])])
    args = (x.double().requires_grad_(), torch.tensor(alpha, dtype=torch.float64, requires_grad=True),
            torch.tensor(beta, dtype=torch.float64, requires_grad=True))
    assert torch.autograd.gradcheck(eq8_function, args)


def test_double_backward_follows_the_reference():
    args = (torch.linspace(-3, 3, 7, dtype=torch.float64, requires_grad=True),
            torch.tensor(0.7, dtype=torch.float64, requires_grad=True),
            torch.tensor(1.3, dtype=torch.float64, requires_grad=True))
    assert torch.autograd.gradgradcheck(eq8_function, args)


def test_module_saves_x_alone_and_keeps_layout():
    bypass = Bypass("adaptive", alpha=0.6, beta=1.4)
    x = torch.randn(2, 4, 3, 5).contiguous(memory_format=torch.channels_last).requires_grad_()
    h = bypass(x)
    saved = h.grad_fn.saved_tensors
    assert len(saved) == 3 and saved[0] is x and saved[1].numel() == saved[2].numel() == 1
    g = torch.randn(2, 4, 3, 5)  # NCHW, unlike x
    (dx,) = torch.autograd.grad(h, x, g)
    assert dx.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(dx, g * eq8_grads(x.detach(), torch.tensor(0.6), torch.tensor(1.4))[0])


def test_empty_input_gives_zero_scalar_gradients():
    h, dx, da, db = _run(torch.empty(0, 3), torch.empty(0, 3), 0.5, 2.0)
    assert h.shape == dx.shape == (0, 3) and da.item() == 0.0 and db.item() == 0.0


def test_frozen_scalars_get_no_gradient():
    bypass = Bypass("fixed")  # alpha, beta are buffers
    x = torch.randn(5, requires_grad=True)
    bypass(x).sum().backward()
    assert bypass.alpha.grad is None and bypass.beta.grad is None
    torch.testing.assert_close(x.grad, 1 / (1 + x.detach() ** 2))
