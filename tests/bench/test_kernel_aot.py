"""`python -m bench.kernel_aot`: the SASS/PTX parsers and the occupancy and bound arithmetic on fixed inputs, and
native compiles (no GPU needed) in a subprocess without TRITON_INTERPRET, since `triton.jit` fixes interpreted
vs native when a kernel module is imported. The project's own kernels passing the gate is CI's job, not a test's."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import kernel_aot as aot
from bench import kernel_sass as sass

REPO = Path(__file__).resolve().parents[2]
JSON_KEYS = {"kernel", "kind", "arch", "dtype", "block", "spill_bytes", "warps_per_sm", "issue_mem_ratio"}

SASS = """
        Function : fwd_flat
        /*0000*/                   LDC R1, c[0x0][0x28] ;                          /* 0x00000a00ff017b82 */
        /*0010*/                   LDG.E R2, desc[UR6][R2.64] ;                    /* 0x0000000602027981 */
        /*0020*/                   NOP ;                                           /* 0x0000000000007918 */
        /*0030*/               @P0 LDG.E.128 R4, desc[UR6][R8.64] ;                /* 0x0000000608040981 */
        /*0040*/               @P1 LDG.E.U16 R5, desc[UR6][R8.64+0x2] ;            /* 0x0000020608051981 */
        /*0050*/              @!P0 EXIT ;                                          /* 0x000000000000894d */
        /*0060*/               @P0 STG.E.64 desc[UR6][R10.64], R4 ;                /* 0x0000000404000986 */
        /*0070*/                   EXIT ;                                          /* 0x000000000000794d */
        /*0080*/                   MUFU.RCP R0, R3 ;                               /* 0x0000000300007308 */
        /*0090*/                   RET.REL.NODEC R2 0x0 ;                          /* 0x0000000002007950 */
        /*00a0*/                   BRA 0xa0;                                       /* 0xfffffffc00fc7947 */
        /*00b0*/                   NOP;                                            /* 0x0000000000007918 */
"""

PTX = """
.visible .entry k(
	.param .u64 .ptr .global .align 1 k_param_0,
	.param .u64 .ptr .global .align 1 k_param_1
)
.reqntid 128
{
	.reg .b32 	%r<20>;
	ld.param.b64 	%rd1, [k_param_0];
	ld.param.b64 	%rd2, [k_param_1];
	// begin inline asm
	mov.u32 %r1, 0x0;
	ld.global.b32 { %r1 }, [ %rd2 + 0 ];
	// end inline asm
	.loc	1 43 13                          // k.py:43:13
	mov.u32 	%r2, %tid.x;
	shl.b32 	%r3, %r2, 2;
	mul.wide.s32 	%rd3, %r3, 4;
	add.s64 	%rd4, %rd1, %rd3;
$L__BB0_1:
	@%p1 ld.global.v4.b32 { %r4, %r5, %r6, %r7 }, [ %rd4 + 0 ];
	@%p1 st.global.b16 [ %rd4 + 0 ], { %rs1 };
	mov.u32 	%r8, %ctaid.x;
	mad.wide.s32 	%rd5, %r8, 4, %rd2;
	@%p2 st.global.b32 [ %rd5 + 0 ], { %r9 };
	ret;
}
"""


def test_sass_main_path_and_access_widths():
    instrs = sass.sass_instructions(SASS)
    assert instrs[0] == "LDC R1, c[0x0][0x28]" and "BRA 0xa0" not in instrs  # the self-branch is padding
    main, slow = sass.split_main_path(instrs)
    assert len(main) == 7 and main[-1] == "EXIT"  # NOP dropped; a predicated EXIT does not end it
    assert slow == ["MUFU.RCP R0, R3", "RET.REL.NODEC R2 0x0"]
    widths = [sass.sass_access_bits(i) for i in main]
    assert [w for w in widths if w] == [("LDG", 32), ("LDG", 128), ("LDG", 16), ("STG", 64)]
    assert sass.sass_access_summary(main) == "LDG.128x1 LDG.32x1 LDG.16x1 STG.64x1"


def test_resource_usage():
    text = "Resource usage:\n Function bwd_proj:\n  REG:64 STACK:8 SHARED:1024 LOCAL:16 CONSTANT[0]:640 TEXTURE:0"
    assert sass.parse_resource_usage(text) == {"registers": 64, "stack": 8, "shared": 1024, "local": 16}


def test_ptx_per_element_accesses_are_the_ones_that_depend_on_the_lane():
    got = sass.ptx_global_accesses(PTX)
    assert got == [{"op": "ld", "bits": 32, "per_element": False},   # a scalar: the same address in every lane
                   {"op": "ld", "bits": 128, "per_element": True},   # v4.b32 off %tid
                   {"op": "st", "bits": 16, "per_element": True},
                   {"op": "st", "bits": 32, "per_element": False}]   # one partial per program, off %ctaid


@pytest.mark.parametrize("regs, warps, smem, arch, want", [
    (97, 8, 0, 90, 16),      # 104 x 32 = 3328 regs/warp: 4 per sub-partition, 16 per SM = two 8-warp blocks
    (135, 4, 0, 90, 12),     # 136 x 32 = 4352: 3 per sub-partition
    (64, 4, 0, 90, 32),
    (16, 4, 0, 90, 64),      # capped by 64 warps
    (16, 1, 0, 90, 32),      # capped by 32 blocks
    (32, 4, 100 * 1024, 90, 8),   # 228 KB / (100 + 1) KB: 2 blocks
    (32, 4, 100 * 1024, 80, 4),   # 164 KB: 1 block
    (255, 8, 0, 90, 8),      # 256 x 32 = 8192: 2 per sub-partition, one 8-warp block
    (255, 16, 0, 90, 0),     # a 16-warp block does not fit at all
])
def test_warps_per_sm(regs, warps, smem, arch, want):
    assert aot.warps_per_sm(regs, warps, smem, aot.ARCHS[arch]) == want


def test_bounds_at_2_24():
    issue, memory, ratio = aot.bounds(31.25, 6, aot.ARCHS[90])
    assert issue == pytest.approx(31.25 * 2**24 / (132 * 4 * 32 * 1.98e9) * 1e6)
    assert issue == pytest.approx(15.68, abs=0.01) and memory == pytest.approx(33.55, abs=0.01)
    assert ratio == pytest.approx(issue / memory)
    issue80, memory80, _ = aot.bounds(31.25, 6, aot.ARCHS[80])
    assert memory80 == pytest.approx(6 * 2**24 / 1.9e12 * 1e6) and issue80 > issue


def _row(**kw):
    row = {"kernel": "k", "kind": "flat", "arch": 90, "error": None, "spill_bytes": 0, "load_bits": 128,
           "store_bits": 128, "warps_per_sm": 16, "issue_mem_ratio": 0.5}
    return {**row, **kw}


def test_gate_rules():
    assert aot.gate_failures(_row()) == []
    assert aot.gate_failures(_row(error="ptxas error")) == ["compile error: ptxas error"]
    assert aot.gate_failures(_row(spill_bytes=8, arch=80)) == ["spills 8 B"]
    assert "unvectorised" in aot.gate_failures(_row(load_bits=32))[0]
    assert aot.gate_failures(_row(kind="stride2", load_bits=16)) == []  # the rule is for flat kernels
    assert aot.gate_failures(_row(warps_per_sm=12)) == ["12 resident warps/SM < 16"]
    assert aot.gate_failures(_row(issue_mem_ratio=0.81)) == ["issue/memory 0.810 > 0.8"]
    assert aot.gate_failures(_row(kind="stride2", issue_mem_ratio=0.95)) == []
    assert aot.gate_failures(_row(kind="proj", issue_mem_ratio=1.01)) == ["issue/memory 1.010 > 1.0"]
    assert aot.gate_failures(_row(kind="reduce", issue_mem_ratio=5.0)) == []
    assert aot.gate_failures(_row(arch=80, issue_mem_ratio=5.0, warps_per_sm=8)) == []  # bounds: sm_90 only


class _Spec:
    name, kind, num_warps = "k", "stride2", 4
    signature = {"x_ptr": "*T", "a_ptr": "*fp32", "n": "i32", "sxc": "i32", "sxw": "i32", "BC": "constexpr",
                 "STRIDE2": "constexpr"}
    config = {"BC": 32}
    layouts = {"nchw": ("sxw", "syw"), "channels_last": ("sxc",)}


def test_compile_args_specialise_like_the_jit():
    sig, consts, attrs = aot.compile_args(_Spec, "bf16", {"STRIDE2": True}, "nchw")
    assert sig == {"x_ptr": "*bf16", "a_ptr": "*fp32", "n": "i32", "sxc": "i32", "sxw": "constexpr",
                   "BC": "constexpr", "STRIDE2": "constexpr"}
    assert consts == {"BC": 32, "STRIDE2": True, "sxw": 1}  # syw is not this kernel's: left out
    assert sorted(attrs) == [(0,), (1,), (2,), (3,)] and attrs[(0,)] == [["tt.divisibility", 16]]
    with pytest.raises(ValueError, match="STRIDE2"):
        aot.compile_args(_Spec, "fp32", {}, "nchw")


BAD_SPECS = '''
"""Deliberately bad kernels: a gather in a flat kernel, a register cap that spills, a name error."""
from dataclasses import dataclass, field

import triton
import triton.language as tl


@triton.jit
def gather(x_ptr, y_ptr, n, stride, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(y_ptr + offs, tl.load(x_ptr + offs * stride, mask=m), mask=m)


@triton.jit
def hog(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m, other=0.0)
    tl.store(y_ptr + offs, x / tl.sum(x * x, axis=0) + tl.exp(x), mask=m)


@triton.jit
def broken(x_ptr, n, BLOCK: tl.constexpr):
    tl.store(x_ptr + tl.arange(0, BLOCK), undefined_name)


@dataclass(frozen=True)
class Spec:
    name: str
    kind: str
    fn: object
    signature: dict
    config: dict
    num_warps: int
    maxnreg: int = None
    variants: tuple = ({},)
    elements: int = 1024
    layouts: dict = field(default_factory=lambda: {"dense": ()})

    def kind_of(self, variant):
        return self.kind

    def bytes_per_element(self, itemsize, variant):
        return 2 * itemsize

    @property
    def options(self):
        return {"num_warps": self.num_warps, **({"maxnreg": self.maxnreg} if self.maxnreg else {})}


SPECS = (
    Spec("gather", "flat", gather, {"x_ptr": "*T", "y_ptr": "*T", "n": "i32", "stride": "i32",
                                    "BLOCK": "constexpr"}, {"BLOCK": 1024}, 4),
    Spec("hog", "reduce", hog, {"x_ptr": "*T", "y_ptr": "*T", "n": "i32", "BLOCK": "constexpr"},
         {"BLOCK": 2048}, 1, maxnreg=32),
    Spec("broken", "flat", broken, {"x_ptr": "*T", "n": "i32", "BLOCK": "constexpr"}, {"BLOCK": 1024}, 4),
)
'''


def run_cli(*args, interpret: str | None = None, cwd=None):
    """The command in a fresh process: without TRITON_INTERPRET (native), or with it set to ``interpret``."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    if interpret is not None:
        env["TRITON_INTERPRET"] = interpret
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "bench.kernel_aot", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def fails(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("kernel_aot: FAIL")]


def test_gate_fails_on_bad_kernels_one_line_each(tmp_path):
    bad = tmp_path / "bad_specs.py"
    bad.write_text(BAD_SPECS)
    out = run_cli("--specs", f"{bad}:SPECS", "--archs", "90", "--dtypes", "fp32", "--format", "json",
                  "--results", "")
    assert out.returncode == 1, out.stderr
    lines = fails(out.stderr)
    assert len(lines) == 3 and "Traceback" not in out.stderr
    assert "gather sm_90 fp32" in lines[0] and "unvectorised per-element access (loads 32-bit" in lines[0]
    assert "hog sm_90 fp32" in lines[1] and "spills" in lines[1]
    assert "broken sm_90 fp32" in lines[2] and "compile error" in lines[2] and "undefined_name" in lines[2]
    rows = {r["kernel"]: r for r in json.loads(out.stdout)}
    assert rows["gather"]["load_bits"] == 32 and rows["gather"]["store_bits"] == 128
    assert rows["hog"]["spill_bytes"] > 0 and rows["hog"]["registers"] <= 32
    assert rows["broken"]["error"] and rows["broken"]["gate"].startswith("fail: compile error")


def test_reruns_itself_natively_and_reads_rows_back(tmp_path):
    """TRITON_INTERPRET=1 (as the test suite sets it) is dropped in a child; a second run reuses the store."""
    bad = tmp_path / "bad_specs.py"
    bad.write_text(BAD_SPECS)
    args = ("--specs", f"{bad}:SPECS", "--kernels", "gather", "--archs", "80", "--dtypes", "bf16",
            "--results", str(tmp_path / "aot.jsonl"), "--format", "csv")
    first = run_cli(*args, interpret="1", cwd=tmp_path)
    assert first.returncode == 1 and len(fails(first.stderr)) == 1, first.stderr
    second = run_cli(*args, cwd=tmp_path)
    assert "read back" in second.stderr and "compiling" not in second.stderr
    assert second.stdout == first.stdout and "gather,flat,80,bf16" in second.stdout


def test_real_kernel_compiles_for_sm_90(tmp_path):
    out = run_cli("--kernels", "fwd_flat", "--archs", "90", "--dtypes", "fp32", "--format", "json",
                  "--results", str(tmp_path / "aot.jsonl"), cwd=tmp_path)
    rows = json.loads(out.stdout)
    assert rows and all(JSON_KEYS <= set(r) for r in rows), out.stderr
    assert {(r["kernel"], r["arch"], r["dtype"]) for r in rows} == {("fwd_flat", 90, "fp32")}
    assert all(r["error"] is None and r["registers"] > 0 and r["sass_per_element"] > 0 for r in rows)
    assert out.returncode in (0, 1)  # whether the kernels pass is for CI's run of the command, not this test


@pytest.mark.parametrize("argv, message", [
    (["--archs", "75"], "75"), (["--dtypes", "fp64"], "fp64"), (["--kernels", "nope"], "nope"),
    (["--specs", "no_such_module:SPECS"], "no_such_module"), (["--specs", "nothing"], "MODULE:ATTR"),
    (["--shapes", "d64x32s2,d99x9s2"], "d99x9s2"),
])
def test_bad_input_is_one_line(argv, message):
    out = run_cli(*argv, "--results", "")
    last = out.stderr.strip().splitlines()[-1]  # argparse prints its usage above
    assert out.returncode != 0 and "error:" in last and message in last and "Traceback" not in out.stderr

