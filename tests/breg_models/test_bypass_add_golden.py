"""Golden-file regression of the fused op: stored inputs, outputs and gradients (tests/golden/).

The inputs are stored too, so the check does not depend on the RNG. Any change to the kernels that moves
an output or a gradient by more than rounding noise (4 ulp in fp32, 1 ulp in bf16) fails here. The stored
tensors are on the CPU; the check runs on `kernel_device` (natively on CUDA where a GPU runs the kernels). To
refresh after an intended change (interpreted, bf16 rounded to nearest even as on the GPU):
TRITON_INTERPRET=1 python tests/breg_models/test_bypass_add_golden.py
"""

import os
from pathlib import Path

import pytest
import torch

from breg_models.ops.testing import kernel_device, make_inputs, reference_all, run_op

GOLDEN = Path(__file__).parents[1] / "golden" / "bypass_add.pt"
CASES = {  # name: (x shape, C_out, stride, dtype, alpha, beta)
    "unit_fp32": ((2, 4, 6, 5), 4, 1, torch.float32, 1.0, 1.0),
    "down_fp32": ((2, 4, 7, 5), 8, 2, torch.float32, 0.6, -1.4),
    "unit_bf16": ((2, 4, 6, 5), 4, 1, torch.bfloat16, -0.8, 2.0),
    "down_fp16": ((2, 3, 5, 5), 7, 2, torch.float16, 1e-6, 0.5),
}
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _compute(name):
    shape, cout, stride, dtype, alpha, beta = CASES[name]
    x, r, dy = make_inputs(shape, cout, stride, dtype=dtype, seed=42, device=kernel_device())
    y, dx, _, da, db = run_op(x, r, dy, alpha, beta, stride)
    out = {"x": x, "r": r, "dy": dy, "y": y, "dx": dx, "da": da.detach(), "db": db.detach()}
    return {key: t.cpu() for key, t in out.items()}


def regenerate_golden() -> None:
    """Rewrite the golden file from the current kernels (a deliberate act, never part of a test run). Outside
    pytest no conftest runs, so the interpreter's GPU-like bf16 rounding is installed here."""
    if os.environ.get("TRITON_INTERPRET") == "1":
        from breg_models.ops import interpreter_rounding

        interpreter_rounding.install()
    GOLDEN.parent.mkdir(exist_ok=True)
    torch.save({name: _compute(name) for name in CASES}, GOLDEN)


@pytest.mark.parametrize("name", list(CASES))
def test_matches_golden(name):
    stored = {key: t.to(kernel_device()) for key, t in torch.load(GOLDEN)[name].items()}
    shape, cout, stride, dtype, alpha, beta = CASES[name]
    y, dx, _, da, db = run_op(stored["x"], stored["r"], stored["dy"], alpha, beta, stride)
    ulps = 4 if dtype == torch.float32 else 1
    rtol = ulps * torch.finfo(dtype).eps
    for key, got in (("y", y), ("dx", dx)):
        torch.testing.assert_close(got, stored[key], rtol=rtol, atol=rtol * stored[key].abs().max().item())
    for key, got in (("da", da), ("db", db)):  # fp32 sums
        torch.testing.assert_close(got, stored[key], rtol=4 * torch.finfo(torch.float32).eps, atol=0.0)
    # and the stored values themselves are right (guards against committing a broken golden file)
    ref = reference_all(stored["x"], stored["r"], stored["dy"], alpha, beta, stride)
    assert torch.allclose(stored["y"].double(), ref["y"], rtol=1e-2, atol=1e-2)
    assert torch.allclose(stored["da"].double(), ref["da"], rtol=1e-4, atol=1e-4)


if __name__ == "__main__":
    regenerate_golden()
