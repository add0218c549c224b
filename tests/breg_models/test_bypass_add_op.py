"""The fused Eq. 8 shortcut op (breg::bypass_add) against the float64 reference: interpreted on the CPU (CI), or
natively on CUDA tensors where a GPU runs the kernels (`kernel_device`), the same cases either way.

Tolerances. fp32: per element, |y - ref| <= 8 eps (P(|H|) + |F|): atan is within ~2 ulp (test_tl_atan), Eq. 8
adds a handful of roundings (1/sqrt(s^2), x/s^2, the pool sum and divide, the add). dx likewise, 8 eps |dx|.
dL/dalpha and dL/dbeta are sums: each term is within ~8 ulp (q(z) < 2 ulp; the direct form past |z| = 0.75
cancels by at most 4x), and the fp32 block sums (1024 terms, tree order) add log2(1024) eps, so the bound is
32 eps * sum |terms|. bf16/fp16: the rule of the strongest kernel suites, the kernel's max error against
float64 is at most twice that of the same-dtype eager PyTorch computation, with a floor of half an ulp of the
output (no implementation that stores that dtype can do better).
"""

from __future__ import annotations

import math

import pytest
import torch

from breg_models.bypass import Bypass, Shortcut, project
from breg_models.ops.bypass_add_op import bypass_add, bypass_add_backward
from breg_models.ops.testing import assert_fp32_close, kernel_device, make_inputs, reference_all, run_eager, run_op

DEVICE = kernel_device()
# the interpreter evaluates both sides of tl.where with numpy, which warns on the unused overflowing side
pytestmark = [pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")]

# (x shape, C_out, stride): ordinary units, down-sampling with odd sizes, 1 element, empty, several blocks
CASES = [
    ((2, 3, 5, 7), 3, 1),
    ((1, 1, 1, 1), 1, 1),
    ((3, 5, 17, 13), 5, 1),
    ((0, 3, 4, 4), 3, 1),
    ((2, 4, 5, 7), 8, 2),
    ((1, 2, 1, 1), 4, 2),
    ((2, 3, 6, 6), 3, 2),
    ((2, 4, 9, 11), 7, 2),
    ((2, 2, 3, 5), 5, 1),
    ((0, 2, 3, 3), 4, 2),
    ((1, 3, 2, 70), 5, 1),  # padded at stride 1 wider than one bwd_proj tile (2 x BW = 64 columns)
]
# (alpha, beta): the init, BReG-Net, alpha -> 0 (H -> x/(beta^2+1)), alpha = 0, negative, large beta
PARAMS = [(1.0, 1.0), (1.0, 0.0), (1e-7, 0.5), (0.0, 1.0), (-0.8, 2.0), (2.5, 30.0), (1e-12, 1.0)]


def _ids(case):
    shape, cout, stride = case
    return f"{'x'.join(map(str, shape))}-{cout}-s{stride}"


@pytest.mark.parametrize("case", CASES, ids=_ids)
@pytest.mark.parametrize("alpha,beta", PARAMS)
def test_fp32_against_float64_reference(case, alpha, beta):
    shape, cout, stride = case
    x, r, dy = make_inputs(shape, cout, stride, specials=True, device=DEVICE)
    out = run_op(x, r, dy, alpha, beta, stride)
    assert out[0].shape == r.shape and out[0].dtype == torch.float32
    assert_fp32_close(out, reference_all(x, r, dy, alpha, beta, stride))


@pytest.mark.parametrize("layout", ["cl", "mixed"])
@pytest.mark.parametrize("case", [CASES[0], CASES[2], CASES[4], CASES[7]], ids=_ids)
def test_channels_last(case, layout):
    shape, cout, stride = case
    x, r, dy = make_inputs(shape, cout, stride, layout=layout, specials=True, device=DEVICE)
    out = run_op(x, r, dy, 0.7, 1.3, stride)
    assert_fp32_close(out, reference_all(x, r, dy, 0.7, 1.3, stride))
    if layout == "cl":  # y follows F's memory format, dx follows x's
        assert out[0].is_contiguous(memory_format=torch.channels_last)
        assert out[1].is_contiguous(memory_format=torch.channels_last)


def _err(a, ref):
    """Max abs error; NaN where the reference is finite counts as infinite (eager fp16 gives NaN dx)."""
    if not a.numel():
        return 0.0
    e = (a.double() - ref).abs().max().item()
    return e if math.isfinite(e) else math.inf


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("layout", ["nchw", "cl"])
@pytest.mark.parametrize("case", [CASES[0], CASES[2], CASES[4], CASES[7]], ids=_ids)
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (1e-7, 0.5), (-0.8, 2.0), (2.5, 30.0)])
def test_half_dtypes_twice_eager_rule(dtype, layout, case, alpha, beta):
    shape, cout, stride = case
    x, r, dy = make_inputs(shape, cout, stride, dtype=dtype, layout=layout, device=DEVICE)
    ref = reference_all(x, r, dy, alpha, beta, stride)
    kern = run_op(x, r, dy, alpha, beta, stride)
    eager = run_eager(x, r, dy, alpha, beta, stride)
    assert kern[0].dtype == dtype and kern[1].dtype == dtype
    assert kern[3].dtype == torch.float32  # alpha, beta and their grads stay fp32
    half_ulp = torch.finfo(dtype).eps / 2
    for i, key in ((0, "y"), (1, "dx"), (3, "da"), (4, "db")):
        floor = half_ulp * ref[key].abs().max().item()
        e_k, e_e = _err(kern[i], ref[key]), _err(eager[i], ref[key])
        assert e_k <= 2 * e_e + floor, f"{key}: kernel error {e_k:.3g} vs eager {e_e:.3g}"


# Near x = 0 dL/dalpha's terms are -(alpha x)(x/s^2)^2 (1/(1+u) + P(u)), and 1/(1+u) + P -> 1 + P(0): a P(0)
# that is not -1/3 biases every term alike (2.7e-6 fp32, 3.7e-4 bf16/fp16 before P(0) was pinned). With dy of
# x's sign every term has one sign, so the sum's relative error is the terms' common bias plus rounding. Bound,
# in fp32 eps: the three products 1.5; 1/(1+u) + P 4 (the reciprocal <= 2 ulp natively, the degree-4 polynomial
# of bf16/fp16 within 2.3 eps of 2/3 at u <= 1e-4); the one-block fp32 tree sum of 512 terms of one sign 4.5
# (log2 512 / 2). About 10: 16 eps (1.9e-6) leaves room and still fails the unpinned fp32 polynomial by 1.4x.
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=["fp32", "bf16", "fp16"])
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (-0.8, 0.0)])
def test_dalpha_unbiased_near_zero(dtype, alpha, beta):
    g = torch.Generator().manual_seed(5)
    x = ((torch.rand(1, 4, 8, 16, generator=g) * 2 - 1) * 0.01).to(dtype)
    r = torch.zeros_like(x)
    dy = ((torch.rand(x.shape, generator=g) + 0.5) * torch.sign(x.float())).to(dtype)
    x, r, dy = (t.to(DEVICE) for t in (x, r, dy))
    _, _, _, da, _ = run_op(x, r, dy, alpha, beta, 1)
    want = reference_all(x, r, dy, alpha, beta, 1)["da"].item()
    assert abs(da.item() / want - 1) <= 16 * torch.finfo(torch.float32).eps


def test_grad_of_residual_is_dy_without_a_copy():
    x, r, dy = make_inputs((2, 4, 5, 7), 8, 2, device=DEVICE)
    _, _, dr, _, _ = run_op(x, r, dy, 1.0, 1.0, 2)
    assert dr.data_ptr() == dy.data_ptr()


@pytest.mark.parametrize("stride,cout", [(1, 4), (2, 6)])
def test_nan_and_inf_propagate_as_the_reference(stride, cout):
    x, r, dy = make_inputs((1, 4, 6, 6), cout, stride, device=DEVICE)
    x.view(-1)[[0, 9, 20]] = torch.tensor([float("nan"), float("inf"), -float("inf")], device=DEVICE)
    for alpha in (1.0, 0.0):
        y, dx, _, _, _ = run_op(x, r, dy, alpha, 1.0, stride)
        ref = reference_all(x, r, dy, alpha, 1.0, stride)
        assert torch.equal(y.isnan(), ref["y"].isnan())
        assert torch.equal(y.isinf(), ref["y"].isinf())
        assert torch.equal(dx.isnan(), ref["dx"].isnan())
        finite = ref["y"].isfinite()
        assert torch.allclose(y.double()[finite], ref["y"][finite], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("alpha", [0.0, 1e-30, -1e-20, 1e-10])
def test_alpha_to_zero_is_the_linear_limit(alpha):
    x = torch.linspace(-50, 50, 101, device=DEVICE).reshape(1, 1, 1, 101)
    r = torch.zeros_like(x)
    y, dx, _, da, db = run_op(x, r, torch.ones_like(x), alpha, 2.0, 1)
    assert torch.isfinite(y).all() and torch.isfinite(dx).all() and math.isfinite(da) and math.isfinite(db)
    torch.testing.assert_close(y, x / 5.0, rtol=2e-7, atol=1e-30)
    torch.testing.assert_close(dx, torch.full_like(x, 0.2), rtol=2e-7, atol=0)


def _eager64(x, r, a, b, stride):
    return project(Bypass("adaptive").function.fn(x, a, b), r.shape[1], stride) + r


@pytest.mark.parametrize("stride,cout", [(1, 3), (2, 5)])
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.3, -0.7), (-1.2, 0.2)])
def test_gradcheck_reference_and_kernel_agrees(stride, cout, alpha, beta):
    x, r, dy = make_inputs((2, 3, 5, 5), cout, stride, device=DEVICE)
    args64 = [x.cpu().double().requires_grad_(), r.cpu().double().requires_grad_(),
              torch.tensor(alpha, dtype=torch.float64, requires_grad=True),
              torch.tensor(beta, dtype=torch.float64, requires_grad=True)]
    assert torch.autograd.gradcheck(lambda *a: _eager64(*a, stride), args64)
    y64 = _eager64(*args64, stride)
    want = [g.to(DEVICE) for g in torch.autograd.grad(y64, args64, dy.cpu().double())]
    _, dx, dr, da, db = run_op(x, r, dy, alpha, beta, stride)
    for got, exp in zip((dx, dr, da, db), want, strict=True):
        torch.testing.assert_close(got.double(), exp, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", [CASES[2], CASES[7]], ids=_ids)
def test_scalar_grads_are_bitwise_deterministic(case):
    shape, cout, stride = case
    x, r, dy = make_inputs(shape, cout, stride, seed=3, device=DEVICE)
    a, b = torch.tensor(0.9, device=DEVICE), torch.tensor(1.1, device=DEVICE)
    runs = [bypass_add_backward(dy, x, a, b, stride) for _ in range(3)]
    for dx, da, db in runs[1:]:
        assert torch.equal(dx, runs[0][0])
        assert da.item().hex() == runs[0][1].item().hex() and db.item().hex() == runs[0][2].item().hex()


def test_opcheck_fake_and_autograd_registrations():
    x, r, _ = make_inputs((2, 4, 5, 7), 8, 2, device=DEVICE)
    args = (x.requires_grad_(), r.requires_grad_(), torch.tensor(1.0, device=DEVICE, requires_grad=True),
            torch.tensor(0.5, device=DEVICE, requires_grad=True), 2)
    torch.library.opcheck(bypass_add, args)


@pytest.mark.parametrize("stride,cout", [(1, 4), (2, 8)])
def test_torch_compile_traces_without_graph_break(stride, cout):
    x, r, dy = make_inputs((2, 4, 6, 6), cout, stride, device=DEVICE)
    sc = Shortcut(Bypass("adaptive", alpha=0.8, beta=1.2), 4, cout, stride, impl="triton").to(DEVICE)
    compiled = torch.compile(sc, fullgraph=True, backend="aot_eager")
    xs = x.clone().requires_grad_()
    y = compiled(xs, r)
    y.backward(dy)
    want = run_op(x, r, dy, 0.8, 1.2, stride)
    assert torch.equal(y.detach(), want[0]) and torch.equal(xs.grad, want[1])
    assert torch.equal(sc.bypass.alpha.grad, want[3])


def test_fixed_kind_has_no_scalar_grads():
    sc = Shortcut(Bypass("fixed"), 4, 4, 1, impl="triton").to(DEVICE)
    x, r, dy = make_inputs((1, 4, 3, 3), 4, 1, device=DEVICE)
    x.requires_grad_()
    sc(x, r).backward(dy)
    assert sc.bypass.alpha.grad is None and x.grad is not None
    torch.testing.assert_close(x.grad, run_eager(x, r, dy, 1.0, 0.0, 1)[1])


def test_impl_validation_and_cpu_error(monkeypatch):
    with pytest.raises(ValueError, match="unknown bypass_impl"):
        Shortcut(Bypass("adaptive"), 4, 4, 1, impl="cuda")
    with pytest.raises(ValueError, match="only the Eq. 8 kinds"):
        Shortcut(Bypass("atan"), 4, 4, 1, impl="triton")
    sc = Shortcut(Bypass("atan"), 4, 4, 1, impl="auto")  # auto: eager on the CPU, any kind
    x, r, _ = make_inputs((1, 4, 3, 3), 4, 1, device="cpu")  # the CPU error path, on any machine
    torch.testing.assert_close(sc(x, r), torch.atan(x) + r)
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(ValueError, match="needs CUDA tensors, or TRITON_INTERPRET=1"):
        Shortcut(Bypass("adaptive"), 4, 4, 1, impl="triton")(x, r)


def test_compile_impl_matches_eager():
    x, r, _ = make_inputs((2, 4, 5, 5), 8, 2)
    sc = Shortcut(Bypass("adaptive", alpha=0.5, beta=2.0), 4, 8, 2, impl="compile")
    want = run_eager(x, r, torch.ones_like(r), 0.5, 2.0, 2)[0]
    torch.testing.assert_close(sc(x, r), want)


def test_bad_arguments_are_clear_errors():
    x = torch.randn(1, 4, 4, 4, device=DEVICE)
    with pytest.raises(ValueError, match="F has shape"):
        bypass_add(x, torch.randn(1, 4, 4, 4, device=DEVICE), torch.tensor(1.0), torch.tensor(1.0), 2)
    with pytest.raises(ValueError, match="one dtype"):
        bypass_add(x, x.double(), torch.tensor(1.0), torch.tensor(1.0), 1)
