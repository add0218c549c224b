"""`python -m bench.kernel_aot`: every Triton kernel of the project compiled natively for sm_90 and sm_80, and gated.

    python -m bench.kernel_aot                                  # all kernels, sm_90 + sm_80, fp32/bf16/fp16
    python -m bench.kernel_aot --kernels fwd_flat,bwd_flat --archs 90 --dtypes bf16 --format json
    python -m bench.kernel_aot --specs path/to/my_kernels.py:SPECS   # any tuple of KernelSpec-like objects

The interpreter that CI tests the kernels with is not the code a GPU runs, and no GPU is needed to compile
that code: `triton.compile` lowers a kernel for any target with the ptxas the Triton wheel ships, and the
wheel's ``cuobjdump`` reads the cubin back. Rows, each one compiled kernel judged at one shape:

- ``2^24``: every `KernelSpec` of ``breg_models.ops._kernels.SPECS`` x arch x storage dtype x constexpr variant
  x memory layout at its default config, 2^24 elements in full tiles, every int argument 16-divisible;
- each unit shape of ``breg_models.unit_shapes`` (the Table 1 networks and the depth family at batch 128; the
  op's own kernels only): the very launches the op makes there (`bypass_add_op.forward_launches` and
  ``backward_launches`` on meta tensors: stride-1 units go to the flat kernels, down-sampling ones to proj/pad,
  with the tile the op picks for that width), in NCHW and channels_last, each argument specialised as the JIT
  specialises its value (a 4-wide row's stride 4 is not 16-divisible). Rows that specialise alike share one
  compile.

Each row: registers, spill bytes, shared memory, resident warps per SM, the width of its global loads and
stores, SASS instructions per element, DRAM bytes per element, and the static issue-time / memory-time ratio.
Then it gates:

- any compile error, or any spill (``STACK`` or ``LOCAL`` > 0 in the resource usage), on both archs;
- a flat kernel whose per-element global accesses are not all 128-bit, on both archs. Per-element = the
  access's address depends on the thread index (``%tid``) in the PTX, i.e. it differs from lane to lane: the
  x/F/y/dy/dx tensors, and the partials the last program reads. Per-program accesses (the scalar alpha/beta
  loads, the one partial sum per program a backward stores) are the same for every lane and exempt;
- on sm_90: fewer than 16 resident warps per SM, or issue time / memory time above 0.8 (flat), 1.0 (stride2
  and its stride-1 "proj" variant), at every shape.

Each failure is one line on stderr and the exit status is 1. Cost model: a program issues its main path's
instructions (up to the first unpredicated EXIT, NOPs excluded; the rarely-run slow paths of IEEE
division/sqrt after it are counted apart as ``sass_slow``, and the tail after a ticket's EXIT, which only a
launch's last program runs, as ``sass_once``) in each of its warps; issue time = programs x warps x that /
(SMs x 4 schedulers x clock), so a masked lane costs issue time; memory time = the elements the launch really
has x bytes/element / bandwidth. Rows go to the results store keyed by the kernel's source, spec, shape and
Triton version, so a rerun only compiles what changed (``--force`` recompiles all): the full sweep compiles
about 290 kernels (under 8 minutes on 2 cores), a rerun reads them back in seconds. The compile needs
``TRITON_INTERPRET`` unset (it is fixed when `triton.jit` decorates the kernels): when it is set this command
re-runs itself without it. Compiles run in ``--jobs`` spawned processes (default 2: LLVM and ptxas are
single-threaded).
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
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from harness.cli import UsageError, check_output_path, choice_list, examples, write_output
from harness.results_store import ResultsStore, format_flat, make_row
from reports.kernel_aot import FIELDS, flat_rows, render_kernel_aot

from .cli import add_output_args, run_main
from .kernel_sass import (
    disassemble,
    parse_resource_usage,
    ptx_global_accesses,
    sass_access_summary,
    sass_instructions,
    split_main_path,
    split_once,
)

COMMAND = "kernel_aot"
DEFAULT_SPECS = "breg_models.ops._kernels:SPECS"
ANALYSIS_VERSION = 2  # bump when the analysis changes, so stored rows are recomputed
N_ELEMENTS = 2**24
DTYPES = {"fp32": 4, "bf16": 2, "fp16": 2}
RATIO_GATE = {"flat": 0.8, "stride2": 1.0, "proj": 1.0}
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
    """One native compile: a kernel of ``source`` for one arch and storage dtype, with the signature, constexprs
    and ``tt.divisibility`` attributes of one specialisation (``compile_args`` or ``specialise``). Rows whose
    launches specialise alike share one Job, so one compile."""

    source: str
    kernel: str
    arch: int
    dtype: str
    signature: tuple  # ((argument, type), ...) in the kernel's order
    constexprs: tuple  # ((name, value), ...)
    divisible: tuple  # indices of the arguments the JIT marks divisible by 16


@dataclass(frozen=True)
class RowPlan:
    """One table row: a Job judged at one shape. ``programs`` x warps x SASS is what issues; ``elements`` x
    ``bytes_per_element`` is what the launch must move (its unmasked lanes' work), so masked lanes cost issue
    time and move nothing."""

    job: Job
    shape: str  # "2^24" (full tiles of the spec's default config) or a unit-shape label ("d64x32s2")
    variant: str
    layout: str
    block: str
    kind: str
    programs: float
    elements: int
    bytes_per_element: float


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


def block_label(config: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in config.items())


def compile_args(spec, dtype: str, variant: dict, layout: str) -> tuple[dict, dict, dict]:
    """(signature, constexprs, attrs) of a 2^24-element row: a large shape whose every size is a multiple of 16.

    - ``*T`` becomes the storage dtype; the layout's unit strides become constexpr 1 (the JIT's ==1
      specialisation), only those the kernel has.
    - ``tt.divisibility`` 16 on every pointer (the caching allocator aligns to 256 B) and every remaining int,
      as the JIT marks them when every size is a multiple of 16 (the early stages of the networks). It is not
      true of every unit (OW = 4 and 8 in the later ones): the unit-shape rows specialise each launch's real
      arguments instead (`specialise`).
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


def _one_line(exc: BaseException) -> str:
    """A compile error in one line: ptxas's first error line where ptxas failed, else the message's last line
    (Triton's front end puts the source excerpt first and the error last)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and not set(ln.strip()) <= set("^~ ")]
    ptxas = [ln for ln in lines if ln.startswith("ptxas") and "error" in ln]
    return f"{type(exc).__name__}: {(ptxas or lines or [''])[0 if ptxas else -1][:300]}"


def measure(job: Job) -> dict:
    """Compile one kernel and read its cubin back: its shape-independent metrics, or its one-line ``error``."""
    spec = specs_by_name(job.source)[job.kernel]
    start = time.perf_counter()
    sig, consts = dict(job.signature), dict(job.constexprs)
    attrs = {(i,): [["tt.divisibility", 16]] for i in job.divisible}
    try:
        kernel = triton_compile(spec.fn, sig, consts, attrs, job.arch, launch_options(spec))
    except Exception as exc:  # a compile error is a row of its own: it fails the gate, the sweep goes on
        return {"error": _one_line(exc), "compile_s": round(time.perf_counter() - start, 2)}
    try:
        metrics = analyse(spec, job, kernel)
    except Exception as exc:  # cuobjdump missing, output this parser does not know: said, not a traceback
        metrics = {"error": f"analysis failed: {_one_line(exc)}"}
    return {**metrics, "compile_s": round(time.perf_counter() - start, 2)}


def analyse(spec, job: Job, kernel) -> dict:
    """The metrics of a compiled kernel that do not depend on the shape it runs at: resources and SASS from its
    cubin, access widths from its PTX."""
    ptx = kernel.asm.get("ptx")
    if ptx is None:
        raise RuntimeError("Triton kept no PTX (TRITON_STORE_BINARY_ONLY set?)")
    sass, res = disassemble(kernel.asm["cubin"])
    usage = parse_resource_usage(res)
    main_path, slow = split_main_path(sass_instructions(sass))
    main_path, once = split_once(main_path)
    shared = usage["shared"] + int(getattr(kernel.metadata, "shared", 0) or 0)  # static + Triton's dynamic
    accesses = [a for a in ptx_global_accesses(ptx) if a["per_element"]]
    loads = [a["bits"] for a in accesses if a["op"] == "ld"]
    stores = [a["bits"] for a in accesses if a["op"] == "st"]
    return {
        "registers": usage["registers"],
        "spill_bytes": usage["stack"] + usage["local"],
        "shared_bytes": shared,
        "warps_per_sm": warps_per_sm(usage["registers"], spec.num_warps, shared, ARCHS[job.arch]),
        "load_bits": min(loads, default=None),
        "store_bits": min(stores, default=None),
        "load_bits_max": max(loads, default=None),
        "store_bits_max": max(stores, default=None),
        "sass_ldst": sass_access_summary(main_path),
        "sass_total": len(main_path) + len(once) + len(slow),
        "sass_main": len(main_path),
        "sass_once": len(once),
        "sass_slow": len(slow),
    }


def row_metrics(compiled: dict, plan: RowPlan, num_warps: int) -> dict:
    """A row's metrics: its compile's, and the bounds at its shape. SASS/element counts every lane a program
    issues for, masked or not: programs x threads x main-path SASS / counted elements."""
    if compiled.get("error"):
        return {"kind": plan.kind, "error": compiled["error"]}
    spe = plan.programs * 32 * num_warps * compiled["sass_main"] / plan.elements
    issue_us, memory_us, ratio = bounds(spe, plan.bytes_per_element, ARCHS[plan.job.arch], plan.elements)
    return {"kind": plan.kind, **compiled, "sass_per_element": round(spe, 3),
            "bytes_per_element": plan.bytes_per_element, "issue_us": round(issue_us, 3),
            "memory_us": round(memory_us, 3), "issue_mem_ratio": round(ratio, 4), "error": None}


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


def _job(source: str, spec, arch: int, dtype: str, sig: dict, consts: dict, attrs: dict) -> Job:
    return Job(source, spec.name, arch, dtype, tuple(sig.items()), tuple(sorted(consts.items())),
               tuple(sorted(i for (i,), _ in attrs.items())))


def plan_full_tiles(spec, arch: int, dtype: str, source: str) -> list[RowPlan]:
    """The 2^24-element rows of a kernel: every variant x layout of its spec, at its default config, full tiles."""
    out = []
    for variant in spec.variants:
        epp = elements_per_program(spec, variant)
        for layout in spec.layouts:
            sig, consts, attrs = compile_args(spec, dtype, variant, layout)
            out.append(RowPlan(_job(source, spec, arch, dtype, sig, consts, attrs), FULL_TILES, variant_label(variant),
                               layout, block_label(spec.config), spec.kind_of(variant), N_ELEMENTS / epp, N_ELEMENTS,
                               spec.bytes_per_element(DTYPES[dtype], variant)))
    return out


def plan(specs: tuple, archs: list[int], dtypes: list[str], source: str, shapes: list[str]) -> list[RowPlan]:
    """Every row in table order: kernel, arch, dtype, then 2^24 (each variant x layout) and each unit shape of
    ``shapes`` (the launches the op makes there, `breg_models.unit_shapes`; the op's own kernels only). A kernel
    with no storage-dtype argument compiles once per arch (fp32)."""
    at_shapes = shape_plans(specs, archs, dtypes, source, [s for s in shapes if s != FULL_TILES])
    rows = []
    for spec in specs:
        for arch in archs:
            for dtype in (dtypes if storage_dtyped(spec) else ["fp32"]):
                if FULL_TILES in shapes:
                    rows += plan_full_tiles(spec, arch, dtype, source)
                rows += at_shapes.get((spec.name, arch, dtype), [])
    return rows


def job_config(plan: RowPlan, spec) -> dict:
    import triton

    job = plan.job
    return {"kernel": job.kernel, "arch": job.arch, "dtype": job.dtype, "shape": plan.shape, "variant": plan.variant,
            "layout": plan.layout, "block": plan.block, "num_warps": spec.num_warps,
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


# ---- the networks' unit shapes -----------------------------------------------------------------------------

FULL_TILES = "2^24"
SHAPE_LAYOUTS = ("nchw", "channels_last")


def unit_labels() -> list[str]:
    from breg_models.unit_shapes import unit_shapes

    return [u.label for u in unit_shapes()]


def specialise(spec, dtype: str, launch) -> tuple[dict, dict, dict]:
    """(signature, constexprs, attrs) of one launch as Triton's JIT specialises its arguments: a tensor is a
    pointer marked 16-byte aligned (the caching allocator's blocks are; a view past an odd offset is not the
    op's case), an int equal to 1 a constexpr 1, an int divisible by 16 marked so, any other int plain; the
    constexprs are the spec's config overridden by the launch's. Unlike `compile_args` nothing is assumed:
    a 4- or 8-wide row at a real unit (OW, syh = 4) gets no divisibility, as on the GPU."""
    positional = [a for a, t in spec.signature.items() if t != "constexpr"]
    values = dict(zip(positional, launch.args, strict=True))
    merged = {**spec.config, **launch.constexprs}
    sig, consts = {}, {}
    for name, typ in spec.signature.items():
        if typ == "constexpr":
            sig[name], consts[name] = "constexpr", merged[name]
            continue
        value = values[name]
        if hasattr(value, "data_ptr"):
            sig[name] = f"*{dtype}" if typ == "*T" else typ
        elif value == 1:
            sig[name], consts[name] = "constexpr", 1
        else:
            sig[name] = typ
    attrs = {(i,): [["tt.divisibility", 16]] for i, (a, t) in enumerate(sig.items())
             if t.startswith("*") or (t != "constexpr" and values[a] % 16 == 0)}
    return sig, consts, attrs


def unit_launches(unit, layout: str, dtype: str) -> list:
    """The op's forward and backward launches at ``unit`` (meta tensors: no memory, no kernel run), x and F in
    ``layout``: the very `Launch` objects the op would run."""
    import torch

    from breg_models.ops import bypass_add_op as op

    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    tdtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    x = torch.empty(unit.x_shape, device="meta", dtype=tdtype).contiguous(memory_format=fmt)
    r = torch.empty(unit.out_shape, device="meta", dtype=tdtype).contiguous(memory_format=fmt)
    y = torch.empty_like(r, memory_format=op._memory_format(r))
    dx = torch.empty_like(x, memory_format=op._memory_format(x))
    a, b, da, db = (torch.empty((), device="meta") for _ in range(4))
    return [*op.forward_launches(x, r, y, a, b, unit.stride),
            *op.backward_launches(r, x, dx, a, b, da, db, unit.stride)]


def shape_plans(specs: tuple, archs: list[int], dtypes: list[str], source: str, labels: list[str]) -> dict:
    """{(kernel, arch, dtype): [RowPlan]} of every launch the op makes at the unit shapes ``labels``, in both
    layouts (a flat kernel's launch is the same in both: one "dense" row). Only for the op's own kernels: other
    --specs are not what the op launches."""
    if not labels or source != DEFAULT_SPECS:
        return {}
    from breg_models.unit_shapes import shapes_by_label

    units = shapes_by_label()
    names = {s.name for s in specs}
    out: dict[tuple, list[RowPlan]] = {}
    seen = set()
    for label in labels:
        unit = units[label]
        for layout in SHAPE_LAYOUTS:
            for dtype in dtypes:
                for launch in unit_launches(unit, layout, dtype):
                    spec = launch.spec
                    row_layout = "dense" if spec.kind == "flat" else layout
                    if spec.name not in names or (spec.name, dtype, label, row_layout) in seen:
                        continue
                    seen.add((spec.name, dtype, label, row_layout))
                    variant = {k: v for k, v in launch.constexprs.items() if k not in spec.config}
                    config = {**spec.config, **{k: v for k, v in launch.constexprs.items() if k in spec.config}}
                    elements = spec.elements_at(unit.x_shape, unit.out_shape)
                    for arch in archs:
                        sig, consts, attrs = specialise(spec, dtype, launch)
                        out.setdefault((spec.name, arch, dtype), []).append(RowPlan(
                            _job(source, spec, arch, dtype, sig, consts, attrs), label, variant_label(variant),
                            row_layout, block_label(config), spec.kind_of(variant), math.prod(launch.grid), elements,
                            spec.bytes_per_element(DTYPES[dtype], variant)))
    return out


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
    p.add_argument("--shapes", type=choice_list(None),
                   help=f"comma-separated shapes: {FULL_TILES} (full tiles) and the unit-shape labels of "
                        "breg_models.unit_shapes, e.g. d64x32s2 (default: all; unit shapes gate the op's own "
                        "kernels only)")
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
    bad_shapes = [x for x in args.shapes or [] if x not in (FULL_TILES, *unit_labels())]
    if bad_shapes:
        raise UsageError(f"--shapes {','.join(bad_shapes)}: not {FULL_TILES} or a unit shape "
                         f"({', '.join(unit_labels())})")
    unknown = [k for k in args.kernels or [] if k not in by_name]
    if unknown:
        raise UsageError(f"--kernels {','.join(unknown)}: not in {args.specs} ({', '.join(by_name)})")
    specs = tuple(s for s in by_name.values() if not args.kernels or s.name in args.kernels)
    shapes = args.shapes or [FULL_TILES, *unit_labels()]
    plans = plan(specs, args.archs, args.dtypes, args.specs, shapes)
    configs = [job_config(p, by_name[p.job.kernel]) for p in plans]
    store = ResultsStore(args.results) if args.results else None
    rows: list[dict | None] = [None] * len(plans)
    if store and not args.force:
        rows = [store.done(COMMAND, c) for c in configs]
    todo = [i for i, row in enumerate(rows) if row is None]
    jobs = list(dict.fromkeys(plans[i].job for i in todo))  # rows that specialise alike share one compile
    if todo:
        print(f"kernel_aot: compiling {len(jobs)} kernels for {len(todo)} rows on {min(args.jobs, len(jobs))} "
              "processes" + (f" ({len(plans) - len(todo)} rows read back from {args.results}; --force recompiles)"
                             if len(todo) < len(plans) else ""), file=sys.stderr)
        start = time.perf_counter()
        waiting: dict[Job, list[int]] = {}
        for i in todo:
            waiting.setdefault(plans[i].job, []).append(i)
        bar = tqdm(total=len(jobs), desc="compiling", unit="kernel", disable=None, file=sys.stderr)
        for k, compiled in run_jobs(jobs, args.jobs):
            bar.update()
            compile_s = compiled.pop("compile_s", None)
            for i in waiting[jobs[k]]:
                metrics = row_metrics(compiled, plans[i], by_name[plans[i].job.kernel].num_warps)
                rows[i] = make_row(COMMAND, configs[i], metrics, {"compile_s": compile_s})
                rows[i]["metrics"]["gate"] = gate_label(rows[i])
                if store:
                    store.append(rows[i])  # as each finishes: an interrupted run keeps what it compiled
        bar.close()
        print(f"kernel_aot: {len(jobs)} kernels compiled in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    elif plans:
        print(f"kernel_aot: all {len(plans)} rows read back from {args.results} (--force recompiles)",
              file=sys.stderr)
    for row in rows:  # stored rows too, so the table and the exit status follow this version's gate
        row["metrics"]["gate"] = gate_label(row)
    write_output(format_rows(rows, args.format), args.out)
    failed = [(flat, gate_failures(flat)) for flat in flat_rows(rows)]
    failed = [(flat, why) for flat, why in failed if why]
    for flat, why in failed:
        print(f"kernel_aot: FAIL {flat['kernel']} sm_{flat['arch']} {flat['dtype']} {flat['shape']} "
              f"{flat['variant']} {flat['layout']}: {'; '.join(why)}", file=sys.stderr)
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
