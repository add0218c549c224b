"""`python -m bench.kernel_aot`: every Triton kernel of the project compiled natively for sm_90 and sm_80, and gated.

    python -m bench.kernel_aot                                  # all kernels, sm_90 + sm_80, fp32/bf16/fp16
    python -m bench.kernel_aot --kernels fwd_flat,bwd_flat --archs 90 --dtypes bf16 --format json
    python -m bench.kernel_aot --specs path/to/my_kernels.py:SPECS   # any tuple of KernelSpec-like objects

The interpreter that CI tests the kernels with is not the code a GPU runs, and no GPU is needed to compile
that code: `triton.compile` lowers a kernel for any target with the ptxas the Triton wheel ships, and the
wheel's ``cuobjdump`` reads the cubin back. For every `KernelSpec` of ``breg_models.ops._kernels.SPECS`` x
arch x storage dtype x constexpr variant x memory layout this writes one row: registers, spill bytes, shared
memory, resident warps per SM, the width of its global loads and stores, SASS instructions per element,
DRAM bytes per element, and the static issue-time / memory-time ratio at 2^24 elements. Then it gates:

- any compile error, or any spill (``STACK`` or ``LOCAL`` > 0 in the resource usage), on both archs;
- a flat kernel whose per-element global accesses are not all 128-bit, on both archs. Per-element = the
  access's address depends on the thread index (``%tid``) in the PTX, i.e. it differs from lane to lane: the
  x/F/y/dy/dx tensors. Per-program accesses (the scalar alpha/beta loads, the one partial sum per program a
  backward stores) are the same for every lane and exempt;
- on sm_90: fewer than 16 resident warps per SM, or issue time / memory time above 0.8 (flat), 1.0 (stride2
  and its stride-1 "proj" variant); the single-program "reduce" kernel is exempt from the ratio.

Each failure is one line on stderr and the exit status is 1. Cost model: SASS per element = the main path's
instructions (up to the first unpredicated EXIT, NOPs excluded; the rarely-run slow paths of IEEE
division/sqrt after it are counted apart as ``sass_slow``) / (elements per program / threads per program);
issue time = SASS/element x N / (SMs x 4 schedulers x 32 lanes x clock); memory time = bytes/element x N /
bandwidth. Rows go to the results store keyed by the kernel's source, spec and Triton version, so a rerun
only compiles what changed (``--force`` recompiles all). The compile needs ``TRITON_INTERPRET`` unset (it is
fixed when `triton.jit` decorates the kernels): when it is set this command re-runs itself without it.
Compiles run in ``--jobs`` spawned processes (default 2: LLVM and ptxas are single-threaded).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import dataclasses
import hashlib
import importlib
import importlib.util
import io
import json
import math
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tqdm import tqdm

from harness.cli import UsageError, check_output_path, choice_list, examples, write_output
from harness.results_store import ResultsStore, format_flat, make_row
from reports.kernel_aot import FIELDS, flat_rows, render_kernel_aot

from .cli import add_output_args, run_main

COMMAND = "kernel_aot"
DEFAULT_SPECS = "breg_models.ops._kernels:SPECS"
ANALYSIS_VERSION = 1  # bump when the analysis changes, so stored rows are recomputed
N_ELEMENTS = 2**24
DTYPES = {"fp32": 4, "bf16": 2, "fp16": 2}
RATIO_GATE = {"flat": 0.8, "stride2": 1.0, "proj": 1.0}  # "reduce" (one program) is exempt
MIN_WARPS_PER_SM = 16
VECTOR_BITS = 128  # what a flat kernel's per-element accesses must be


@dataclass(frozen=True)
class Arch:
    """The figures of the cost model and of the occupancy rule for one compute capability."""

    name: str
    sms: int
    clock_hz: float
    bandwidth: float  # bytes/s, the measured copy rate
    smem_per_sm: int  # bytes usable by blocks
    regs_per_sm: int = 65536
    max_warps: int = 64
    max_blocks: int = 32
    sub_partitions: int = 4  # each holds a quarter of the register file; a warp's registers live in one
    reg_granularity: int = 256  # registers allocated per warp in units of 256 (8 per thread)
    smem_reserved: int = 1024  # per block, by the driver


ARCHS = {90: Arch("H100 SXM", 132, 1.98e9, 3.0e12, 228 * 1024),
         80: Arch("A100", 108, 1.41e9, 1.9e12, 164 * 1024)}


# ---- pure arithmetic and parsers (unit-tested on fixed inputs) ------------------------------------------


def warps_per_sm(regs: int, num_warps: int, shared_bytes: int, arch: Arch) -> int:
    """Resident warps per SM: whole blocks, limited by registers, warps, blocks and shared memory.

    Registers as the CUDA occupancy calculator counts them: per warp ``regs x 32`` rounded up to 256, and
    warps fit in each of the 4 sub-partitions' quarter of the register file.
    """
    per_warp = -(-max(regs, 1) * 32 // arch.reg_granularity) * arch.reg_granularity
    warps_by_regs = (arch.regs_per_sm // arch.sub_partitions // per_warp) * arch.sub_partitions
    blocks = min(arch.max_blocks, warps_by_regs // num_warps, arch.max_warps // num_warps,
                 arch.smem_per_sm // (shared_bytes + arch.smem_reserved))
    return max(blocks, 0) * num_warps


def bounds(sass_per_element: float, bytes_per_element: float, arch: Arch, n: int = N_ELEMENTS) -> tuple:
    """(issue_us, memory_us, issue/memory) of n elements: every warp-instruction issued by one of the SMs x 4
    schedulers at one per clock, against every byte moved once at the copy bandwidth."""
    issue = sass_per_element * n / (arch.sms * 4 * 32 * arch.clock_hz)
    memory = bytes_per_element * n / arch.bandwidth
    return issue * 1e6, memory * 1e6, (issue / memory if memory else math.inf)


_SASS_LINE = re.compile(r"^\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;")


def sass_instructions(sass: str) -> list[str]:
    """The instruction texts of `cuobjdump -sass` output in address order ('@P0 LDG.E.128 R4, desc[UR4][R2.64]'),
    without the branch-to-itself that pads the end of every function (never executed)."""
    out = []
    for line in sass.splitlines():
        if m := _SASS_LINE.match(line):
            addr, text = int(m.group(1), 16), m.group(2).strip()
            if re.fullmatch(rf"BRA 0x0*{addr:x}", text):
                continue
            out.append(text)
    return out


def _opcode(instr: str) -> str:
    parts = instr.split()
    return parts[1] if parts and parts[0].startswith("@") and len(parts) > 1 else (parts[0] if parts else "")


def split_main_path(instrs: list[str]) -> tuple[list[str], list[str]]:
    """(main path, the rest), NOPs dropped. The main path ends at the first unpredicated EXIT; what follows
    it is the slow-path subroutines (IEEE division/sqrt of denormal or huge operands), rarely executed."""
    real = [i for i in instrs if _opcode(i) != "NOP"]
    for k, instr in enumerate(real):
        if _opcode(instr) == "EXIT" and not instr.startswith("@"):
            return real[:k + 1], real[k + 1:]
    return real, []


def sass_access_bits(instr: str) -> tuple[str, int] | None:
    """('LDG' | 'STG', bits) of a global load/store instruction, None for anything else.

    LDG.E.128 = 128, .64 = 64, .U16/.S16 = 16, .U8/.S8 = 8, no size suffix (LDG.E) = 32.
    """
    op = _opcode(instr)
    base, _, rest = op.partition(".")
    if base not in ("LDG", "STG"):
        return None
    mods = rest.split(".")
    for mod, bits in (("128", 128), ("64", 64), ("U16", 16), ("S16", 16), ("U8", 8), ("S8", 8)):
        if mod in mods:
            return base, bits
    return base, 32


def sass_access_summary(instrs: list[str]) -> str:
    """'LDG.128x6 LDG.32x2 STG.128x3': the global accesses of the main path by width, widest first."""
    counts: dict[tuple[str, int], int] = {}
    for instr in instrs:
        if (acc := sass_access_bits(instr)) is not None:
            counts[acc] = counts.get(acc, 0) + 1
    return " ".join(f"{op}.{bits}x{n}" for (op, bits), n in sorted(counts.items(), key=lambda kv: (kv[0][0],
                                                                                                     -kv[0][1])))


def parse_resource_usage(text: str) -> dict:
    """registers, stack, local and static shared bytes of the (one) function in `cuobjdump
    --dump-resource-usage` output."""
    m = re.search(r"REG:(\d+)\s+STACK:(\d+)\s+SHARED:(\d+)\s+LOCAL:(\d+)", text)
    if not m:
        raise RuntimeError(f"no resource usage in cuobjdump output: {text.strip()[:120]!r}")
    regs, stack, shared, local = map(int, m.groups())
    return {"registers": regs, "stack": stack, "shared": shared, "local": local}


_PTX_REG = re.compile(r"%[A-Za-z_][\w.]*")
_PTX_THREAD = ("%tid.", "%laneid", "%warpid")


def _ptx_statements(ptx: str):
    """(opcode, operands) of each PTX instruction: comments, directives, labels, scope braces and predicate
    guards dropped; a vector operand ('{ %r1, %r2 }') or an address ('[ %rd1 + 0 ]') is one operand."""
    body = re.sub(r"//[^\n]*|/\*.*?\*/", "", ptx, flags=re.S)
    for stmt in (piece for line in body.splitlines() for piece in line.split(";")):  # .loc lines have no ";"
        stmt = re.sub(r"^(?:[{}\s]|\$?[\w$]+:)*", "", stmt)  # scope braces and labels in front
        stmt = re.sub(r"^@!?%\w+\s+", "", stmt)
        if not stmt or stmt.startswith("."):
            continue
        opcode, _, rest = stmt.partition(" ")
        operands, depth, cur = [], 0, ""
        for ch in rest:
            depth += (ch in "{[") - (ch in "}]")
            if ch == "," and depth == 0:
                operands.append(cur.strip())
                cur = ""
            else:
                cur += ch
        if cur.strip():
            operands.append(cur.strip())
        yield opcode.strip(), operands


def ptx_global_accesses(ptx: str) -> list[dict]:
    """Every ld.global/st.global of the PTX: {op: 'ld'|'st', bits, per_element}. ``per_element``: its address
    depends on the thread index (the PTX is in SSA form, so the dependence is a fixpoint over definitions)."""
    deps: dict[str, set[str]] = {}
    accesses = []
    for opcode, ops in _ptx_statements(ptx):
        head = opcode.split(".")[0]
        if not ops:
            continue
        if head in ("ld", "st") and ".global" in opcode:
            addr = next((o for o in ops if o.startswith("[")), "")
            vec = re.search(r"\.v(\d)\b", opcode)
            width = re.search(r"\.[bfsu](\d+)$", opcode)
            bits = (int(vec.group(1)) if vec else 1) * (int(width.group(1)) if width else 32)
            accesses.append({"op": head, "bits": bits, "regs": set(_PTX_REG.findall(addr))})
        if head in ("st", "bar", "bra", "ret", "red", "prefetch", "fence", "membar", "trap", "exit", "call"):
            continue
        sources = set()
        for o in ops[1:]:
            sources |= set(_PTX_REG.findall(o))
            if any(t in o for t in _PTX_THREAD):
                sources.add("%tid")
        for reg in _PTX_REG.findall(ops[0]):
            deps.setdefault(reg, set()).update(sources)
    lane = {"%tid"}
    changed = True
    while changed:
        changed = False
        for reg, srcs in deps.items():
            if reg not in lane and srcs & lane:
                lane.add(reg)
                changed = True
    return [{"op": a["op"], "bits": a["bits"], "per_element": bool(a["regs"] & lane)} for a in accesses]


def gate_failures(row: dict) -> list[str]:
    """Why a row fails the gate (empty: it passes). ``row`` is a flat row (`reports.kernel_aot.flat_rows`)."""
    if row.get("error"):
        return [f"compile error: {row['error']}"]
    out = []
    if row["spill_bytes"]:
        out.append(f"spills {row['spill_bytes']} B")
    if row["kind"] == "flat" and (min(row["load_bits"] or VECTOR_BITS, row["store_bits"] or VECTOR_BITS)
                                  < VECTOR_BITS):
        out.append(f"unvectorised per-element access (loads {row['load_bits']}-bit, stores {row['store_bits']}-bit; "
                   f"{VECTOR_BITS} needed)")
    if row["arch"] == 90:
        if row["warps_per_sm"] < MIN_WARPS_PER_SM:
            out.append(f"{row['warps_per_sm']} resident warps/SM < {MIN_WARPS_PER_SM}")
        limit = RATIO_GATE.get(row["kind"])
        if limit is not None and row["issue_mem_ratio"] > limit:
            out.append(f"issue/memory {row['issue_mem_ratio']:.3f} > {limit}")
    return out


# ---- compiling ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One compiled kernel: a spec of ``source`` x arch x dtype x variant x layout."""

    source: str
    kernel: str
    arch: int
    dtype: str
    variant: int
    layout: str


def load_specs(source: str) -> tuple:
    """The KernelSpecs named by 'package.module:ATTR' or 'path/to/file.py:ATTR'."""
    target, _, attr = source.rpartition(":")
    if not target or not attr:
        raise UsageError(f"--specs {source!r}: expected MODULE:ATTR or FILE.py:ATTR")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise UsageError(f"--specs {source!r}: no file {target}")
        spec = importlib.util.spec_from_file_location(f"_kernel_aot_specs_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # triton.jit reads the kernel's source through its module
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise UsageError(f"--specs {source!r}: {exc}") from None
    if getattr(module, "INTERPRETED", False):
        raise UsageError(f"{target} was imported with TRITON_INTERPRET=1: its kernels are interpreted")
    if not hasattr(module, attr):
        raise UsageError(f"--specs {source!r}: {target} has no {attr}")
    return tuple(getattr(module, attr))


_SPECS_CACHE: dict[str, dict] = {}


def specs_by_name(source: str) -> dict:
    if source not in _SPECS_CACHE:
        _SPECS_CACHE[source] = {s.name: s for s in load_specs(source)}
    return _SPECS_CACHE[source]


def storage_dtyped(spec) -> bool:
    """Whether the kernel has storage-dtype (``*T``) arguments; one without compiles once per arch (fp32)."""
    return "*T" in spec.signature.values()


def variant_label(variant: dict) -> str:
    return ",".join(f"{k}={int(v) if isinstance(v, bool) else v}" for k, v in variant.items()) or "-"


def block_label(spec) -> str:
    return ",".join(f"{k}={v}" for k, v in spec.config.items())


def compile_args(spec, dtype: str, variant: dict, layout: str) -> tuple[dict, dict, dict]:
    """(signature, constexprs, attrs) as the runtime JIT specialises them for the real BReG-NeXt shapes.

    - ``*T`` becomes the storage dtype; the layout's unit strides become constexpr 1 (the JIT's ==1
      specialisation), only those the kernel has.
    - ``tt.divisibility`` 16 on every pointer (the caching allocator aligns to 256 B) and every remaining int:
      in BReG-NeXt every one is a multiple of 16 -- numels B x {32,64,128} x {64,32,16}^2; C_in 32/64/128;
      H, W 64/32 and OH, OW 32/16 at the down-sampling units; pad (C_out - C_in)/2 = 16/32; every stride of
      NCHW or channels_last tensors of those shapes other than the unit ones; nprog of the partial sums =
      programs of a grid over such shapes. The JIT would see the same, so the compiled code is what runs.
    """
    sig = {a: (f"*{dtype}" if t == "*T" else t) for a, t in spec.signature.items()}
    consts = {}
    for name, value in {**spec.config, **variant}.items():
        if sig.get(name) == "constexpr":
            consts[name] = value
    for name in spec.layouts[layout]:
        if name in sig:
            sig[name] = "constexpr"
            consts[name] = 1
    missing = [a for a, t in sig.items() if t == "constexpr" and a not in consts]
    if missing:
        raise ValueError(f"{spec.name}: no value for constexpr {', '.join(missing)}")
    attrs = {(i,): [["tt.divisibility", 16]] for i, (a, t) in enumerate(sig.items())
             if t.startswith("*") or t in ("i32", "i64", "u32", "u64")}
    return sig, consts, attrs


def launch_options(spec) -> dict:
    """The compile options the op launches the kernel with: the spec's own, which for the op's kernels come
    from `breg_models.ops.compile_options` (a spec without them gets that module's, for its warp count)."""
    options = getattr(spec, "options", None)
    if options is None:
        from breg_models.ops.compile_options import launch_options as pinned

        options = pinned(spec.num_warps, getattr(spec, "maxnreg", None))
    return dict(options)


def elements_per_program(spec, variant: dict) -> int:
    """Counted elements per program (a spec may count them per variant: stride-2 vs stride-1)."""
    return spec.elements_of(variant) if hasattr(spec, "elements_of") else spec.elements


def triton_compile(fn, signature: dict, constexprs: dict, attrs: dict, arch: int, options: dict):
    """The one place that speaks Triton's AOT API (same shape in 3.6 and 3.9): a native compile for
    ``sm_<arch>`` with no GPU, with exactly the launch's ``options`` (nothing added here, so the gate judges
    the code the op runs). Options a Triton version does not know are ignored by its backend."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    src = ASTSource(fn=fn, signature=signature, constexprs=constexprs, attrs=attrs)
    with contextlib.redirect_stdout(io.StringIO()):  # a ptxas failure prints the whole PTX to stdout
        return triton.compile(src, target=GPUTarget("cuda", arch, 32), options=options)


@lru_cache(maxsize=1)
def _tool_dir() -> Path:
    import triton

    return Path(triton.__file__).parent / "backends" / "nvidia" / "bin"


def disassemble(cubin: bytes) -> tuple[str, str]:
    """(SASS, resource usage) of a cubin, from the Triton wheel's cuobjdump."""
    tool = _tool_dir() / "cuobjdump"
    if not tool.exists():
        raise RuntimeError(f"no cuobjdump at {tool}: this Triton wheel ships no NVIDIA tools")
    with tempfile.NamedTemporaryFile(suffix=".cubin") as fh:
        fh.write(cubin)
        fh.flush()
        sass = subprocess.run([tool, "-sass", fh.name], capture_output=True, text=True, check=True).stdout
        res = subprocess.run([tool, "--dump-resource-usage", fh.name], capture_output=True, text=True,
                             check=True).stdout
    return sass, res


def _one_line(exc: BaseException) -> str:
    """A compile error in one line: ptxas's first error line where ptxas failed, else the message's last line
    (Triton's front end puts the source excerpt first and the error last)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and not set(ln.strip()) <= set("^~ ")]
    ptxas = [ln for ln in lines if ln.startswith("ptxas") and "error" in ln]
    return f"{type(exc).__name__}: {(ptxas or lines or [''])[0 if ptxas else -1][:300]}"


def measure(job: Job) -> dict:
    """Compile one kernel and read its cubin back: the row's metrics, or its one-line ``error``."""
    spec = specs_by_name(job.source)[job.kernel]
    variant = spec.variants[job.variant]
    start = time.perf_counter()
    try:
        sig, consts, attrs = compile_args(spec, job.dtype, variant, job.layout)
        kernel = triton_compile(spec.fn, sig, consts, attrs, job.arch, launch_options(spec))
    except Exception as exc:  # a compile error is a row of its own: it fails the gate, the sweep goes on
        return {"error": _one_line(exc), "compile_s": round(time.perf_counter() - start, 2)}
    try:
        metrics = analyse(spec, variant, job, kernel)
    except Exception as exc:  # cuobjdump missing, output this parser does not know: said, not a traceback
        metrics = {"error": f"analysis failed: {_one_line(exc)}"}
    return {**metrics, "compile_s": round(time.perf_counter() - start, 2)}


def analyse(spec, variant: dict, job: Job, kernel) -> dict:
    """The metrics of a compiled kernel: resources and SASS from its cubin, access widths from its PTX."""
    ptx = kernel.asm.get("ptx")
    if ptx is None:
        raise RuntimeError("Triton kept no PTX (TRITON_STORE_BINARY_ONLY set?)")
    sass, res = disassemble(kernel.asm["cubin"])
    usage = parse_resource_usage(res)
    main_path, slow = split_main_path(sass_instructions(sass))
    per_thread = elements_per_program(spec, variant) / (32 * spec.num_warps)
    sass_per_element = len(main_path) / per_thread
    bpe = spec.bytes_per_element(DTYPES[job.dtype], variant)
    arch = ARCHS[job.arch]
    issue_us, memory_us, ratio = bounds(sass_per_element, bpe, arch)
    shared = usage["shared"] + int(getattr(kernel.metadata, "shared", 0) or 0)  # static + Triton's dynamic
    accesses = [a for a in ptx_global_accesses(ptx) if a["per_element"]]
    loads = [a["bits"] for a in accesses if a["op"] == "ld"]
    stores = [a["bits"] for a in accesses if a["op"] == "st"]
    return {
        "kind": spec.kind_of(variant),
        "registers": usage["registers"],
        "spill_bytes": usage["stack"] + usage["local"],
        "shared_bytes": shared,
        "warps_per_sm": warps_per_sm(usage["registers"], spec.num_warps, shared, arch),
        "load_bits": min(loads, default=None),
        "store_bits": min(stores, default=None),
        "load_bits_max": max(loads, default=None),
        "store_bits_max": max(stores, default=None),
        "sass_ldst": sass_access_summary(main_path),
        "sass_total": len(main_path) + len(slow),
        "sass_main": len(main_path),
        "sass_slow": len(slow),
        "sass_per_element": round(sass_per_element, 3),
        "bytes_per_element": bpe,
        "issue_us": round(issue_us, 3),
        "memory_us": round(memory_us, 3),
        "issue_mem_ratio": round(ratio, 4),
    }


def spec_key(spec, source: str) -> str:
    """What a stored row depends on: the kernel's source (with the jit functions it calls), its spec and its
    compile options, the Triton version and this analysis. A change to any of them recompiles."""
    import triton

    names = [f.name for f in dataclasses.fields(spec)] if dataclasses.is_dataclass(spec) else list(vars(spec))
    fields = {n: getattr(spec, n) for n in names if n != "fn"}
    fields["options"] = launch_options(spec)
    blob = json.dumps([source, spec.fn.cache_key, fields, triton.__version__, ANALYSIS_VERSION], sort_keys=True,
                      default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def plan(specs: tuple, archs: list[int], dtypes: list[str], source: str) -> list[Job]:
    """Every job in table order: kernel, arch, dtype, variant, layout. A kernel with no storage-dtype
    argument (the partial-sum reduction) compiles once per arch."""
    jobs = []
    for spec in specs:
        for arch in archs:
            for dtype in (dtypes if storage_dtyped(spec) else ["fp32"]):
                for v in range(len(spec.variants)):
                    for layout in spec.layouts:
                        jobs.append(Job(source, spec.name, arch, dtype, v, layout))
    return jobs


def job_config(job: Job, spec) -> dict:
    import triton

    return {"kernel": job.kernel, "arch": job.arch, "dtype": job.dtype, "variant": variant_label(spec.variants[
        job.variant]), "layout": job.layout, "block": block_label(spec), "num_warps": spec.num_warps,
        "maxnreg": launch_options(spec).get("maxnreg"),
        "triton": triton.__version__, "specs": job.source, "spec_key": spec_key(spec, job.source)}


def run_jobs(jobs: list[Job], workers: int):
    """Yield (index, metrics) of every job as it finishes; ``workers`` > 1 compiles in that many spawned
    processes (LLVM and ptxas run single-threaded, so 2 processes on 2 cores halve the wall time)."""
    if workers <= 1 or len(jobs) <= 1:
        for i, job in enumerate(jobs):
            yield i, measure(job)
        return
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that has loaded LLVM
    with cf.ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx) as pool:
        futures = {pool.submit(measure, job): i for i, job in enumerate(jobs)}
        for fut in cf.as_completed(futures):
            yield futures[fut], fut.result()


# ---- the command ----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.kernel_aot", description=__doc__.splitlines()[0], **examples(
        "python -m bench.kernel_aot # all kernels, sm_90 + sm_80, fp32/bf16/fp16",
        "python -m bench.kernel_aot --kernels fwd_flat,bwd_flat --archs 90 --dtypes bf16 --format json",
        "python -m bench.kernel_aot --archs 80 --jobs 1 --force # recompile for sm_80 in one process"))
    p.add_argument("--archs", type=choice_list([str(a) for a in ARCHS], int), default=list(ARCHS),
                   help="comma-separated compute capabilities, of "
                        + ", ".join(f"{a} ({arch.name})" for a, arch in ARCHS.items()) + " (default: all)")
    p.add_argument("--dtypes", type=choice_list(list(DTYPES)), default=list(DTYPES),
                   help=f"comma-separated storage dtypes, of {', '.join(DTYPES)} (default: all)")
    p.add_argument("--kernels", type=choice_list(None),
                   help="comma-separated names of --specs' kernels (default: all; an unknown name lists them)")
    p.add_argument("--specs", default=DEFAULT_SPECS, metavar="MODULE:ATTR",
                   help=f"the KernelSpec tuple to compile: module or FILE.py, then the attribute "
                        f"(default {DEFAULT_SPECS})")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="compile processes (default min(2, cores))")
    add_output_args(p, COMMAND, "reports.kernel_aot", "recompile kernels whose rows are already in the store")
    return p


def _rerun_native(argv: list[str]) -> int:
    """Run this command again in a process without TRITON_INTERPRET: `triton.jit` decided interpreted vs
    native when the kernels were decorated, so this process cannot compile them natively."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    root = str(Path(__file__).resolve().parents[1])  # the checkout, wherever the command runs from
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "bench.kernel_aot", *argv], env=env).returncode


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        return _rerun_native(argv)
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    check_output_path(args.out, "--out")
    check_output_path(args.results, "--results")
    by_name = specs_by_name(args.specs)
    unknown = [k for k in args.kernels or [] if k not in by_name]
    if unknown:
        raise UsageError(f"--kernels {','.join(unknown)}: not in {args.specs} ({', '.join(by_name)})")
    specs = tuple(s for s in by_name.values() if not args.kernels or s.name in args.kernels)
    jobs = plan(specs, args.archs, args.dtypes, args.specs)
    configs = [job_config(j, by_name[j.kernel]) for j in jobs]
    store = ResultsStore(args.results) if args.results else None
    rows: list[dict | None] = [None] * len(jobs)
    if store and not args.force:
        rows = [store.done(COMMAND, c) for c in configs]
    todo = [i for i, row in enumerate(rows) if row is None]
    if todo:
        print(f"kernel_aot: compiling {len(todo)} kernels on {min(args.jobs, len(todo))} processes"
              + (f" ({len(jobs) - len(todo)} read back from {args.results}; --force recompiles)"
                 if len(todo) < len(jobs) else ""), file=sys.stderr)
        start = time.perf_counter()
        bar = tqdm(total=len(todo), desc="compiling", unit="kernel", disable=None, file=sys.stderr)
        for k, metrics in run_jobs([jobs[i] for i in todo], args.jobs):
            bar.update()
            i = todo[k]
            spec = by_name[jobs[i].kernel]
            metrics.setdefault("kind", spec.kind_of(spec.variants[jobs[i].variant]))
            rows[i] = make_row(COMMAND, configs[i], metrics, {"compile_s": metrics.pop("compile_s", None)})
            rows[i]["metrics"]["gate"] = gate_label(rows[i])
            if store:
                store.append(rows[i])  # as each finishes: an interrupted run keeps what it compiled
        bar.close()
        print(f"kernel_aot: {len(todo)} kernels compiled in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    elif jobs:
        print(f"kernel_aot: all {len(jobs)} rows read back from {args.results} (--force recompiles)",
              file=sys.stderr)
    for row in rows:  # stored rows too, so the table and the exit status follow this version's gate
        row["metrics"]["gate"] = gate_label(row)
    write_output(format_rows(rows, args.format), args.out)
    failed = [(flat, gate_failures(flat)) for flat in flat_rows(rows)]
    failed = [(flat, why) for flat, why in failed if why]
    for flat, why in failed:
        print(f"kernel_aot: FAIL {flat['kernel']} sm_{flat['arch']} {flat['dtype']} {flat['variant']} "
              f"{flat['layout']}: {'; '.join(why)}", file=sys.stderr)
    return 1 if failed else 0


def gate_label(row: dict) -> str:
    """'pass', or 'fail: <reasons>' -- the gate column of the table."""
    why = gate_failures(flat_rows([row])[0])
    return "fail: " + "; ".join(why) if why else "pass"


def format_rows(rows: list[dict], fmt: str) -> str:
    if fmt in ("markdown", "latex"):
        return render_kernel_aot(rows, fmt)
    return format_flat(flat_rows(rows), FIELDS, fmt)


if __name__ == "__main__":
    sys.exit(run_main(main))
