"""`bench.kernel_aot` at the networks' real unit shapes: which launches it gates there (the op's own, planned on
meta tensors), how it specialises their arguments and prices masked lanes, the once-per-launch tail of a
backward kept out of the per-element count, and native compiles (in a subprocess without TRITON_INTERPRET) that
pass at the real shapes and fail with the tile the op used to take there."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import kernel_aot as aot
from bench import kernel_sass as sass
from breg_models.unit_shapes import shapes_by_label, unit_shapes

REPO = Path(__file__).resolve().parents[2]


def test_split_once_keeps_the_last_program_tail_apart():
    main = ["LDG.E.128 R4, desc[UR6][R2.64]", "STG.E desc[UR6][R2.64], R7", "BAR.SYNC.DEFER_BLOCKING 0x0",
            "ATOMG.E.ADD.STRONG.GPU PT, R0, desc[UR6][R2.64], R5", "ISETP.NE.AND P1, PT, R0, R9, PT", "@P1 EXIT",
            "LDG.E.128.STRONG.GPU R8, desc[UR6][R34.64]", "DADD R10, R10, R8", "STG.E desc[UR6][R2.64], RZ", "EXIT"]
    every, once = sass.split_once(main)
    assert every == main[:6] and once == main[6:]
    assert sass.split_once(main[:3] + ["EXIT"]) == (main[:3] + ["EXIT"], [])  # no ticket: all per program


def test_masked_lanes_cost_issue_but_move_no_bytes():
    job = aot.Job("s", "k", 90, "bf16", (), (), ())
    compiled = {"sass_main": 1000, "registers": 64}
    full = aot.RowPlan(job, "2^24", "-", "nchw", "BC=32,BW=32", "stride2", 2**14, 2**24, 12.0)
    half = aot.RowPlan(job, "d64x32s2", "-", "nchw", "BC=32,BW=32", "stride2", 2**14, 2**23, 12.0)
    a, b = aot.row_metrics(compiled, full, 4), aot.row_metrics(compiled, half, 4)
    assert a["sass_per_element"] == pytest.approx(1000 * 128 / 1024)  # 128 threads, 1024 elements a program
    assert b["sass_per_element"] == pytest.approx(2 * a["sass_per_element"])
    assert b["issue_us"] == a["issue_us"] and b["memory_us"] == pytest.approx(a["memory_us"] / 2, abs=1e-3)
    assert b["issue_mem_ratio"] == pytest.approx(2 * a["issue_mem_ratio"], rel=1e-3)
    assert aot.row_metrics({"error": "x"}, full, 4) == {"kind": "stride2", "error": "x"}


def test_int_specialisation_is_the_jits():
    """`specialise` marks ints as Triton's own JIT does (1 a constexpr, multiples of 16 divisible)."""
    jit = pytest.importorskip("triton.runtime.jit")
    if not hasattr(jit, "native_specialize_impl"):
        pytest.skip("this Triton has no native_specialize_impl to compare with")
    from triton.backends.compiler import BaseBackend

    class Spec:
        signature = {"p": "*T", "a": "i32", "b": "i32", "c": "i32", "d": "i32", "B": "constexpr"}
        config = {"B": 8}

    class Launch:
        args = ("tensor-ish", 1, 16, 8, 4096)
        constexprs = {}

    Launch.args = (type("T", (), {"data_ptr": lambda self: 0})(), 1, 16, 8, 4096)
    sig, consts, attrs = aot.specialise(Spec, "bf16", Launch)
    assert sig == {"p": "*bf16", "a": "constexpr", "b": "i32", "c": "i32", "d": "i32", "B": "constexpr"}
    assert consts == {"a": 1, "B": 8} and sorted(attrs) == [(0,), (2,), (4,)]
    for value, (index, name) in zip((1, 16, 8, 4096), enumerate("abcd", start=1), strict=True):
        kind, flag = jit.native_specialize_impl(BaseBackend, value, False, True, True)[:2]
        assert (kind == "constexpr") == (sig[name] == "constexpr")
        assert (flag == "D") == ((index,) in attrs)


def test_every_unit_shape_plans_the_ops_launches():
    from breg_models.ops import _kernels  # interpreted or not: planning compiles nothing

    specs = tuple(_kernels.SPECS)
    labels = [u.label for u in unit_shapes()]
    plans = aot.shape_plans(specs, [90], ["bf16"], aot.DEFAULT_SPECS, labels)
    rows = [p for ps in plans.values() for p in ps]
    units = shapes_by_label()
    for label in labels:
        got = {(p.job.kernel, p.layout) for p in rows if p.shape == label}
        if units[label].stride == 1:
            assert got == {("fwd_flat", "dense"), ("bwd_flat", "dense")}, label
        else:
            assert got == {(k, lay) for k in ("fwd_proj", "fwd_pad", "bwd_proj") for lay in aot.SHAPE_LAYOUTS}
    d64 = {(p.job.kernel, p.layout): p for p in rows if p.shape == "d64x32s2"}
    fwd = d64["fwd_proj", "nchw"]
    assert fwd.block.startswith("BC=64,BW=16,EVEN=True") and fwd.programs == 128 * 16 * 1 * 1
    assert fwd.elements == 128 * 64 * 16 * 16 and fwd.bytes_per_element == 12  # 4 x, F and y per output cell
    assert d64["bwd_proj", "nchw"].elements == 128 * 64 * 32 * 32
    consts = dict(d64["fwd_proj", "nchw"].job.constexprs)
    assert consts["sxw"] == 1 and consts["SX"] == 16 and consts["STRIDE2"] is True
    d256 = {(p.job.kernel, p.layout): p for p in rows if p.shape == "d256x8s2"}
    job = d256["fwd_proj", "nchw"].job
    sig = dict(job.signature)
    ow = list(sig).index("OW")
    assert dict(job.constexprs)["BW"] == 4 and dict(job.constexprs)["SY"] == 4
    assert ow not in job.divisible  # OW = 4: the JIT does not mark it, nor does the gate
    assert aot.shape_plans(specs, [90], ["bf16"], "other.py:SPECS", labels) == {}


def _run(args, script=None):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-c", script] if script else [sys.executable, "-m", "bench.kernel_aot", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=600)


@pytest.mark.slow
def test_stride2_kernels_pass_the_gate_at_real_shapes():
    out = _run(["--kernels", "fwd_proj,fwd_pad,bwd_proj", "--archs", "90", "--dtypes", "bf16",
                "--shapes", "d64x32s2,d256x8s2", "--format", "json", "--results", ""])
    rows = json.loads(out.stdout)
    assert {(r["kernel"], r["shape"], r["layout"]) for r in rows} == {
        (k, s, lay) for k in ("fwd_proj", "fwd_pad", "bwd_proj") for s in ("d64x32s2", "d256x8s2")
        for lay in ("nchw", "channels_last")}, out.stderr
    for r in rows:
        assert ("BW=16" if r["shape"] == "d64x32s2" else "BW=4") in r["block"]
        assert r["error"] is None and r["gate"] == "pass", r
        assert r["issue_mem_ratio"] <= 1.0 and r["store_bits"] >= 64  # a 4-wide bf16 row: 4 x 16 bits at least
    assert out.returncode == 0, out.stderr


BAD_TILE = """
import sys
from bench import kernel_aot
from breg_models.ops import bypass_add_op

# the tile the op took before it followed the output width: 32 x 32 whatever the row, masks on
bypass_add_op.tile_config = lambda spec, cols: {"BC": spec.config["BC"], "BW": spec.config["BW"]}
sys.exit(kernel_aot.main(["--kernels", "fwd_proj", "--archs", "90", "--dtypes", "bf16", "--shapes", "d256x8s2",
                          "--format", "csv", "--results", "", "--jobs", "1"]))
"""


@pytest.mark.slow
def test_a_tile_wider_than_the_row_fails_the_gate():
    out = _run([], BAD_TILE)
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("kernel_aot: FAIL")]
    assert out.returncode == 1 and len(lines) == 2, out.stderr
    assert all("fwd_proj sm_90 bf16 d256x8s2" in ln and "issue/memory" in ln for ln in lines)
