"""The bypass family: each function against its float64 reference, its derivative against the closed form."""

import math

import pytest
import torch

from breg_models.bypass import (
    EQ8_KINDS,
    FUNCTIONS,
    Bypass,
    get_function,
    parse_bypass,
    reference,
    resolve_params,
)
from breg_models.eq8 import eq8_authors, eq8_grads

X64 = torch.linspace(-8.0, 8.0, 801, dtype=torch.float64)
TOL = {torch.float32: 2e-6, torch.bfloat16: 1e-2, torch.float16: 2e-3}  # a few ulps of each format


def _call(kind, x, params):
    fn = get_function(kind)
    if kind in EQ8_KINDS:
        return fn.fn(x, torch.tensor(params["alpha"], dtype=x.dtype), torch.tensor(params["beta"], dtype=x.dtype))
    return fn.fn(x, **params)


def _dcall(fn, kind, x, params):
    if kind in EQ8_KINDS:
        return fn(x, torch.tensor(params["alpha"], dtype=x.dtype), torch.tensor(params["beta"], dtype=x.dtype))
    return fn(x, **params)


@pytest.mark.parametrize("kind", list(FUNCTIONS))
@pytest.mark.parametrize("dtype", list(TOL))
def test_module_matches_float64_reference(kind, dtype):
    """The eager module at a user's dtype agrees with the float64 reference within that dtype's precision."""
    x = X64.to(dtype)
    got = Bypass(kind)(x).double()
    want = reference(kind, x, **resolve_params(kind))
    scale = want.abs().clamp_min(1.0)
    # bf16/fp16 evaluate in their own precision: allow ~4 rounding steps of the result's magnitude.
    assert ((got - want).abs() / scale).max().item() <= 4 * TOL[dtype]


@pytest.mark.parametrize("kind", list(FUNCTIONS))
def test_true_derivative_matches_autograd(kind):
    params = resolve_params(kind)
    x = X64.clone().requires_grad_()
    (grad,) = torch.autograd.grad(_call(kind, x, params).sum(), x)
    closed = _dcall(get_function(kind).dfn, kind, X64, params)
    torch.testing.assert_close(grad, closed, rtol=1e-12, atol=1e-12)


def test_printed_derivatives_agree_with_paper_except_h3():
    """BReG-NeXt Eq. 7 prints dH3/dx = 1 / (e^x + a^2), which is not the derivative of H3 = -log(e^x + a^2)/a^2."""
    h3 = FUNCTIONS["bregnext_h3"]
    true = h3.dfn(X64, a=1.0)
    printed = h3.printed_dfn(X64, a=1.0)
    assert (true < 0).all() and (printed > 0).all()  # opposite signs everywhere
    assert not torch.allclose(true, printed)
    # Every other function's printed derivative is its true one (no printed_dfn entry).
    assert [k for k, f in FUNCTIONS.items() if f.printed_dfn is not None] == ["bregnext_h3"]


def test_eq9_derivative_is_bounded_in_unit_interval():
    for alpha, beta in [(1.0, 1.0), (0.3, 0.0), (-2.0, 5.0), (1e-8, 0.0)]:
        dx, _, _ = eq8_grads(X64, torch.tensor(alpha, dtype=torch.float64), torch.tensor(beta, dtype=torch.float64))
        assert (dx > 0).all() and (dx <= 1).all()


@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.5, 0.0), (-1.7, 0.3), (1e-3, 2.0), (3.0, 10.0)])
def test_eq8_closed_form_gradients_pass_gradcheck(alpha, beta):
    a = torch.tensor(alpha, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(beta, dtype=torch.float64, requires_grad=True)
    x = torch.linspace(-3, 3, 13, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, a, b: FUNCTIONS["adaptive"].fn(x, a, b), (x, a, b))
    dx, da, db = eq8_grads(x.detach(), a.detach(), b.detach())
    gx, ga, gb = torch.autograd.grad(FUNCTIONS["adaptive"].fn(x, a, b).sum(), (x, a, b))
    torch.testing.assert_close(gx, dx)
    torch.testing.assert_close(ga, da.sum())
    torch.testing.assert_close(gb, db.sum())


def test_eq8_limit_alpha_to_zero_is_finite():
    """As alpha -> 0, H -> x / (beta^2 + 1) and dH/dalpha -> 0, without 0/0."""
    beta = torch.tensor(0.5, dtype=torch.float64)
    for alpha in (0.0, 1e-300, -1e-12, 1e-6):
        a = torch.tensor(alpha, dtype=torch.float64)
        h = FUNCTIONS["adaptive"].fn(X64, a, beta)
        torch.testing.assert_close(h, X64 / 1.25, rtol=1e-10, atol=1e-12)
        dx, da, db = eq8_grads(X64, a, beta)
        assert torch.isfinite(dx).all() and torch.isfinite(da).all() and torch.isfinite(db).all()
    # Near zero the stable dH/dalpha agrees with a central difference of H.
    a, eps = 1e-4, 1e-5
    fd = (FUNCTIONS["adaptive"].fn(X64, torch.tensor(a + eps, dtype=torch.float64), beta)
          - FUNCTIONS["adaptive"].fn(X64, torch.tensor(a - eps, dtype=torch.float64), beta)) / (2 * eps)
    _, da, _ = eq8_grads(X64, torch.tensor(a, dtype=torch.float64), beta)
    torch.testing.assert_close(da, fd, rtol=1e-6, atol=1e-9)


def test_eq8_special_cases():
    """alpha = 1, beta = 0 is BReG-Net's atan (Sec. 3.3); H is odd in x and even in alpha."""
    one, zero = torch.tensor(1.0, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64)
    torch.testing.assert_close(FUNCTIONS["adaptive"].fn(X64, one, zero), torch.atan(X64))
    a, b = torch.tensor(-0.7, dtype=torch.float64), torch.tensor(1.3, dtype=torch.float64)
    torch.testing.assert_close(FUNCTIONS["adaptive"].fn(X64, a, b), FUNCTIONS["adaptive"].fn(X64, -a, b))
    torch.testing.assert_close(FUNCTIONS["adaptive"].fn(-X64, a, b), -FUNCTIONS["adaptive"].fn(X64, a, b))


def test_formulas_match_paper_transcriptions():
    """Each H against a direct float64 transcription of the paper's formula."""
    x = X64
    torch.testing.assert_close(reference("bregnet_h1", x), x - torch.log(torch.exp(x) + 1))
    torch.testing.assert_close(reference("bregnet_h2", x), x * torch.atan(x) - 0.5 * torch.log(x**2 + 1))
    torch.testing.assert_close(reference("bregnext_h3", x, a=2.0), -torch.log(torch.exp(x) + 4.0) / 4.0)
    a, b = 0.8, 1.5
    s = math.sqrt(b * b + 1)
    torch.testing.assert_close(reference("adaptive", x, alpha=a, beta=b), torch.atan(a * x / s) / (a * s))
    torch.testing.assert_close(reference("scaled", x, lam=1.1), 1.1 * x)


def test_authors_form_is_eq8_except_at_alpha_zero():
    """The printed formula (the benchmarks' baseline) is the reference wherever it is defined, 0/0 at alpha = 0."""
    b = torch.tensor(1.5, dtype=torch.float64)
    for alpha in (1.0, -0.3, 1e-4):
        a = torch.tensor(alpha, dtype=torch.float64)
        torch.testing.assert_close(eq8_authors(X64, a, b), FUNCTIONS["adaptive"].fn(X64, a, b), rtol=1e-12, atol=0)
    assert torch.isnan(eq8_authors(X64, torch.tensor(0.0, dtype=torch.float64), b)).all()


def test_module_parameters_and_buffers():
    adaptive = Bypass("adaptive", alpha=0.5)
    assert {n for n, _ in adaptive.named_parameters()} == {"alpha", "beta"}
    assert adaptive.alpha.item() == 0.5 and adaptive.beta.item() == 1.0
    fixed = Bypass("fixed")
    assert not list(fixed.parameters()) and {n for n, _ in fixed.named_buffers()} == {"alpha", "beta"}
    assert fixed.beta.item() == 0.0


def test_parse_bypass():
    assert parse_bypass("scaled:lam=1.5") == ("scaled", {"lam": 1.5})
    assert parse_bypass("adaptive:alpha=1,beta=0") == ("adaptive", {"alpha": 1.0, "beta": 0.0})
    assert parse_bypass("atan") == ("atan", {})
    for bad in ("scaled:lam", "scaled:lam=x", "atan:lam=1", "nope"):
        with pytest.raises(ValueError):
            parse_bypass(bad)
    for bad in ("scaled:lam=nan", "scaled:lam=inf", "adaptive:alpha=1,beta=-inf"):
        with pytest.raises(ValueError, match="must be finite"):
            parse_bypass(bad)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_eq8_module_gradients_are_finite_at_low_precision(dtype):
    """The series branch of atanc is masked before it is evaluated: its overflow must not leak NaN gradients."""
    bypass = Bypass("adaptive").to(dtype)
    x = (torch.linspace(-30, 30, 601) + 0.01).to(dtype).requires_grad_()
    bypass(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert torch.isfinite(bypass.alpha.grad) and torch.isfinite(bypass.beta.grad)
