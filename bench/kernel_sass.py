"""The reading half of `bench.kernel_aot`: SASS and PTX text parsed into what the gate judges, and the Triton
wheel's cuobjdump that produces the SASS. Pure text in, plain values out (unit-tested on fixed inputs), so the
compile-and-gate command stays about compiling and gating."""

from __future__ import annotations

import re
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

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


def split_once(main: list[str]) -> tuple[list[str], list[str]]:
    """(the path every program runs, the tail one program per launch runs) of a main path.

    A kernel that folds a reduction into its last program takes a ticket with one global atomic (ATOMG) and
    lets every program but the last exit (a predicated EXIT on the ticket, uniform over the program): the code
    after that EXIT runs once per launch, not per element, so the issue bound leaves it out. A main path with
    no ATOMG is all per-program."""
    for k, instr in enumerate(main):
        if _opcode(instr).startswith("ATOMG"):
            for j in range(k + 1, len(main)):
                if _opcode(main[j]) == "EXIT":
                    return main[:j + 1], main[j + 1:]
    return main, []


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
