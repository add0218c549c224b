"""How the fused op launches: one kernel per backward (the scalar-gradient reduction folded in, deterministic), the
ticket counter it leaves at 0, and the tile the proj/pad kernels take at each output width, each variant checked
against the float64 reference at small odd and even sizes (interpreted on the CPU, natively on a GPU).

Tolerances are those of test_bypass_add_op.py (`assert_fp32_close`): 8 eps per element, 32 eps x sum |terms| for
dL/dalpha and dL/dbeta.
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

from breg_models.ops import bypass_add_op as op
from breg_models.ops.testing import assert_fp32_close, kernel_device, make_inputs, reference_all, run_op

DEVICE = kernel_device()
pytestmark = [pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:divide by zero encountered:RuntimeWarning")]


@pytest.fixture
def launches(monkeypatch):
    """Every `Launch` the op runs, in order (each still runs)."""
    seen = []
    run = op.Launch.run

    def record(self):
        seen.append(self)
        run(self)

    monkeypatch.setattr(op.Launch, "run", record)
    return seen


# (x shape, C_out, stride, layout): flat, padded stride 1, down-sampling even and odd, channels_last
LAUNCH_CASES = [((2, 3, 5, 7), 3, 1, "nchw"), ((1, 3, 4, 8), 5, 1, "nchw"), ((2, 4, 8, 8), 8, 2, "nchw"),
                ((2, 3, 9, 7), 5, 2, "nchw"), ((2, 4, 6, 6), 8, 2, "cl")]


@pytest.mark.parametrize("case", LAUNCH_CASES, ids=lambda c: f"{'x'.join(map(str, c[0]))}-{c[1]}-s{c[2]}-{c[3]}")
def test_one_kernel_launch_per_backward(case, launches, monkeypatch):
    """KernelSpec.launch counted, so nothing (a reduction, a memset of the counter) launches beside the op's list."""
    shape, cout, stride, layout = case
    from breg_models.ops import _kernels

    calls = []
    real = _kernels.KernelSpec.launch
    def counted(self, *args, **kwargs):
        calls.append(self.name)
        real(self, *args, **kwargs)

    monkeypatch.setattr(_kernels.KernelSpec, "launch", counted)
    x, r, dy = make_inputs(shape, cout, stride, layout=layout, device=DEVICE)
    op.ticket_counter(DEVICE)  # created (and zeroed) once per stream, before: not part of any call
    y = op.bypass_add(x, r, torch.tensor(0.8, device=DEVICE), torch.tensor(1.2, device=DEVICE), stride)
    forward = list(calls)
    assert forward == (["fwd_flat"] if cout == shape[1] and stride == 1 else ["fwd_proj", "fwd_pad"])
    calls.clear()
    op.bypass_add_backward(dy, x, torch.tensor(0.8, device=DEVICE), torch.tensor(1.2, device=DEVICE), stride)
    assert calls == (["bwd_flat"] if forward == ["fwd_flat"] else ["bwd_proj"])
    assert y.shape == r.shape


@pytest.mark.parametrize("case", LAUNCH_CASES[:4], ids=lambda c: f"{'x'.join(map(str, c[0]))}-{c[1]}-s{c[2]}")
def test_counter_is_back_to_zero_and_reused(case):
    shape, cout, stride, _ = case
    x, r, dy = make_inputs(shape, cout, stride, device=DEVICE)
    counter = op.ticket_counter(DEVICE)
    for _ in range(2):
        op.bypass_add_backward(dy, x, torch.tensor(0.8, device=DEVICE), torch.tensor(1.2, device=DEVICE), stride)
        assert op.ticket_counter(DEVICE) is counter and counter.item() == 0


@pytest.mark.parametrize("case", [((3, 5, 40, 30), 5, 1), ((4, 40, 9, 11), 48, 2), ((2, 300, 8, 8), 304, 2)],
                         ids=["flat-5prog", "proj-odd", "proj-2ctiles"])
def test_scalar_grads_are_the_sum_of_every_partial(case, launches, monkeypatch):
    """The last program sums all the partials: dL/dalpha equals the exactly rounded sum of the stored partials
    (the float64 fixed-order sum of at most a few hundred fp32 partials is within 1e-13 of the exact one, far
    inside half an fp32 ulp for these inputs), so none is missed or counted twice; the buffer starts as NaN, so
    a slot no program wrote (the halves are padded to 4) that leaked into the sum would show."""
    shape, cout, stride = case
    run = op.Launch.run

    def poisoned(self):
        self.args[5].fill_(float("nan"))
        run(self)

    monkeypatch.setattr(op.Launch, "run", poisoned)
    x, r, dy = make_inputs(shape, cout, stride, seed=4, device=DEVICE)
    _, da, db = op.bypass_add_backward(dy, x, torch.tensor(0.9, device=DEVICE), torch.tensor(1.1, device=DEVICE),
                                       stride)
    (launch,) = launches
    part = launch.args[5].cpu().double().tolist()
    nprog = math.prod(launch.grid)
    half = len(part) // 2
    assert half == -(-nprog // 4) * 4 and nprog > 1
    assert da.item() == torch.tensor(math.fsum(part[:nprog])).float().item()
    assert db.item() == torch.tensor(math.fsum(part[half:half + nprog])).float().item()


CROSS = [((3, 5, 17, 13), 5, 1), ((2, 7, 10, 6), 9, 2), ((1, 20, 16, 16), 24, 2), ((2, 3, 5, 70), 5, 1)]


def test_scalar_grads_bit_exact_within_and_across_processes():
    """One fixed config per shape (tile included): the same bits in every run and in a fresh process."""
    script = (
        "import torch\n"
        "from breg_models.ops.bypass_add_op import bypass_add_backward\n"
        "from breg_models.ops.testing import make_inputs, kernel_device\n"
        "d = kernel_device()\n"
        f"for shape, cout, stride in {CROSS!r}:\n"
        "    x, r, dy = make_inputs(shape, cout, stride, seed=6, device=d)\n"
        "    a, b = torch.tensor(0.7, device=d), torch.tensor(-1.3, device=d)\n"
        "    _, da, db = bypass_add_backward(dy, x, a, b, stride)\n"
        "    print(da.item().hex(), db.item().hex())\n"
    )
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", script], capture_output=True, text=True,
                         check=True).stdout.split()
    here = []
    for shape, cout, stride in CROSS:
        x, r, dy = make_inputs(shape, cout, stride, seed=6, device=DEVICE)
        runs = [op.bypass_add_backward(dy, x, torch.tensor(0.7, device=DEVICE), torch.tensor(-1.3, device=DEVICE),
                                       stride) for _ in range(3)]
        assert all(torch.equal(dx, runs[0][0]) for dx, _, _ in runs)
        bits = {(da.item().hex(), db.item().hex()) for _, da, db in runs}
        assert len(bits) == 1
        here += list(bits.pop())
    assert out == here


# ---- tiles ------------------------------------------------------------------------------------------------


def test_tile_config_keeps_the_element_count_and_covers_the_row():
    from breg_models.ops import _kernels as k

    for spec in (k.FWD_PROJ, k.FWD_PAD, k.BWD_PROJ):
        count = spec.config["BC"] * spec.config["BW"]
        got = {cols: op.tile_config(spec, cols) for cols in (1, 3, 4, 5, 8, 9, 16, 17, 32, 33, 200)}
        assert all(t["BC"] * t["BW"] == count for t in got.values())
        assert [t["BW"] for t in got.values()] == [4, 4, 4, 8, 8, 16, 16, 32, 32, 32, 32]


def test_row_align():
    assert op.row_align(4, 8) == 4 and op.row_align(64, 48) == 16 and op.row_align(7) == 1
    assert op.row_align(0, 32) == 16 and op.row_align() == 16


# (x shape, C_out, stride): every width of TILE_WIDTHS, with rows the tiles cover exactly (EVEN) and not (odd
# widths, odd H cutting a window, more channels than one tile)
TILE_CASES = [
    ((2, 3, 8, 8), 5, 2),     # OW 4: BW 4, EVEN
    ((2, 3, 7, 7), 5, 2),     # OW 4 from odd W: a window cut by the edge, not EVEN
    ((1, 3, 5, 6), 5, 2),     # OW 3: BW 4, masked
    ((1, 5, 16, 13), 9, 2),   # OW 7: BW 8, W odd, masked
    ((1, 5, 13, 16), 9, 2),   # OW 8: BW 8, EVEN, odd H
    ((1, 3, 32, 32), 7, 2),   # OW 16: BW 16, EVEN
    ((1, 3, 6, 22), 4, 2),    # OW 11: BW 16, masked
    ((1, 2, 3, 64), 4, 2),    # OW 32: BW 32, EVEN
    ((1, 2, 4, 66), 4, 2),    # OW 33: BW 32, two column tiles
    ((1, 300, 4, 8), 304, 2),  # OW 4 with 300 channels: two channel tiles of 256
    ((1, 3, 4, 8), 5, 1),     # stride 1, padded: OW 8, bwd tile 2 x 4, EVEN
    ((1, 3, 3, 5), 5, 1),     # stride 1, padded, odd
]


def _tile_ids(case):
    shape, cout, stride = case
    return f"{'x'.join(map(str, shape))}-{cout}-s{stride}"


@pytest.mark.parametrize("layout", ["nchw", "cl"])
@pytest.mark.parametrize("case", TILE_CASES, ids=_tile_ids)
def test_every_tile_variant_against_float64(case, layout, launches):
    shape, cout, stride = case
    x, r, dy = make_inputs(shape, cout, stride, layout=layout, specials=True, device=DEVICE)
    out = run_op(x, r, dy, 0.7, 1.3, stride)
    assert_fp32_close(out, reference_all(x, r, dy, 0.7, 1.3, stride))
    ow = -(-shape[3] // stride)
    for launch in launches:  # the tile follows the output width, the same in both layouts
        cols = -(-ow // 2) if launch.spec.name == "bwd_proj" and stride == 1 else ow
        assert launch.constexprs["BW"] == next((w for w in op.TILE_WIDTHS if w >= cols), 32)


def test_the_tile_cases_reach_every_variant():
    """Each (kernel, BW, EVEN) the op can choose at stride 2, and EVEN both ways at stride 1, occurs above."""
    seen = set()
    for shape, cout, stride in TILE_CASES:
        x, r, dy = make_inputs(shape, cout, stride, device="meta")
        y = torch.empty_like(r)
        a = torch.empty((), device="meta")
        for launch in [*op.forward_launches(x, r, y, a, a, stride),
                       *op.backward_launches(dy, x, torch.empty_like(x), a, a, a, a, stride)]:
            seen.add((launch.spec.name, stride, launch.constexprs["BW"], launch.constexprs["EVEN"]))
    for name in ("fwd_proj", "fwd_pad", "bwd_proj"):
        for bw in op.TILE_WIDTHS:
            assert {(name, 2, bw, True), (name, 2, bw, False)} <= seen, (name, bw)
        assert {even for n, s, _, even in seen if n == name and s == 1} == {True, False}


@pytest.mark.parametrize("case", [TILE_CASES[0], TILE_CASES[2], TILE_CASES[7], TILE_CASES[9]], ids=_tile_ids)
def test_tile_variants_with_int64_offsets(case, monkeypatch):
    """The IDX64 variants of the narrow tiles (chosen for real past 2^31 elements) on small tensors."""
    monkeypatch.setattr(op, "needs_int64", lambda *t: True)
    shape, cout, stride = case
    x, r, dy = make_inputs(shape, cout, stride, layout="cl", device=DEVICE)
    assert_fp32_close(run_op(x, r, dy, -0.6, 0.4, stride), reference_all(x, r, dy, -0.6, 0.4, stride))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="streams need CUDA")
def test_each_stream_has_its_own_counter_and_capture_needs_one_first(monkeypatch):
    dev = torch.device("cuda")
    main = op.ticket_counter(dev)
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        other = op.ticket_counter(dev)
    assert other is not main and other.data_ptr() != main.data_ptr()
    monkeypatch.setattr(torch.cuda, "is_current_stream_capturing", lambda: True)  # as under torch.cuda.graph
    with torch.cuda.stream(side):
        assert op.ticket_counter(dev) is other  # made before capture: used as is
    with torch.cuda.stream(torch.cuda.Stream()), pytest.raises(RuntimeError, match="before capture"):
        op.ticket_counter(dev)
