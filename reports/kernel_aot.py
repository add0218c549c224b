"""The ahead-of-time kernel table (`python -m bench.kernel_aot`): what each Triton kernel compiles to on sm_90
and sm_80, its static issue and memory bounds, and the gate verdict, one line per compiled kernel."""

from __future__ import annotations

from .rows import render_frame

METRICS = ["kind", "registers", "spill_bytes", "shared_bytes", "warps_per_sm", "load_bits", "store_bits",
           "load_bits_max", "store_bits_max", "sass_ldst", "sass_total", "sass_main", "sass_once", "sass_slow",
           "sass_per_element", "bytes_per_element", "issue_us", "memory_us", "issue_mem_ratio", "gate", "error"]
# the flat row of --format json/csv, in this order
FIELDS = ["kernel", "kind", "arch", "dtype", "shape", "block", "num_warps", "maxnreg", "variant", "layout",
          *METRICS[1:], "triton"]
# the Markdown/LaTeX table: the columns a reviewer reads, under short names
SHOWN = {"kernel": "kernel", "kind": "kind", "arch": "sm", "dtype": "dtype", "shape": "shape", "variant": "variant",
         "layout": "layout", "block": "block", "num_warps": "warps", "maxnreg": "maxnreg", "registers": "regs",
         "spill_bytes": "spill B",
         "shared_bytes": "smem B", "warps_per_sm": "warps/SM", "load_bits": "ld bits", "store_bits": "st bits",
         "sass_main": "SASS", "sass_per_element": "SASS/elem", "bytes_per_element": "B/elem",
         "issue_us": "issue us", "memory_us": "mem us", "issue_mem_ratio": "issue/mem", "gate": "gate"}


def flat_rows(rows: list[dict]) -> list[dict]:
    """Config and metrics of each stored row side by side, in `FIELDS` order (a missing metric is None: a row
    that did not compile has only its error)."""
    out = []
    for row in rows:
        merged = {**row["config"], **row["metrics"]}
        out.append({k: merged.get(k) for k in FIELDS})
    return out


def newest(rows: list[dict]) -> list[dict]:
    """The newest row of each compiled kernel (kernel, arch, dtype, variant, layout, spec source): a store
    accumulates one row per version of a kernel's code, and only the current one belongs in the table."""
    latest: dict[tuple, tuple[int, dict]] = {}
    for i, row in enumerate(rows):
        c = row["config"]
        key = (c.get("specs"), c["kernel"], c["arch"], c["dtype"], c.get("shape"), c["variant"], c["layout"])
        order = (row.get("created") or "", i)
        if key not in latest or order >= latest[key][0]:
            latest[key] = (order, row)
    keep = {id(r) for _, r in latest.values()}
    return [r for r in rows if id(r) in keep]


def render_kernel_aot(rows: list[dict], fmt: str = "markdown", caption: str = "") -> str:
    import pandas as pd

    flat = flat_rows(newest(rows))
    versions = sorted({str(r["triton"]) for r in flat})
    for r in flat:  # a row that did not compile says so in the gate column
        if r["error"] and not r["gate"]:
            r["gate"] = f"fail: compile error: {r['error']}"
    frame = pd.DataFrame(flat, columns=FIELDS)[list(SHOWN)].rename(columns=SHOWN)
    notes = [
        "Compiled ahead of time with no GPU (triton.compile for sm_90a / sm_80, the wheel's ptxas; registers, "
        "spills and SASS from its cuobjdump), specialised as the runtime JIT would: "
        "at 2^24 every int 16-divisible, at a unit shape each int as its value is (16-divisible or not), unit "
        "strides as constants.",
        "SASS = main-path instructions per thread (to the first unpredicated EXIT, no NOPs; the rarely-run IEEE "
        "div/sqrt slow paths after it, and a backward's tail after its ticket, which one program per launch runs, "
        "are left out). shape: 2^24 = 2^24 elements in full tiles of the default "
        "config; a unit label (d64x32s2: down-sampling, C_in 64, 32x32 input, batch 128; u32x64: a stride-1 unit) "
        "= the launch the op makes at that unit of the Table 1 networks, with the tile it chooses there and the "
        "argument specialisation the JIT gives those sizes. SASS/elem = programs x threads x SASS / the elements "
        "the launch really has, so masked lanes count as issue and move no bytes. "
        r"issue us = \(\mathrm{SASS/elem} \times n / (\mathrm{SMs} \times 4 \times 32 \times \mathrm{clock})\), "
        r"mem us = \(\mathrm{B/elem} \times n / \mathrm{bandwidth}\) for the row's n elements: "
        "sm_90 H100 SXM 132 SMs, 1.98 GHz, 3.0 TB/s; sm_80 A100 108 SMs, 1.41 GHz, 1.9 TB/s.",
        "warps/SM: whole blocks within 64K registers (per warp regs x 32 rounded up to 256, per quarter-SM "
        "sub-partition), 64 warps, 32 blocks and the shared memory (228 KB sm_90, 164 KB sm_80, +1 KB per block).",
        "ld/st bits: the narrowest global load/store whose address differs from lane to lane (the tensors' "
        "elements); per-program scalars (alpha, beta, the partial sums) are not counted.",
        "Gate: no compile error, no spill, flat kernels' element accesses all 128-bit (both archs); on sm_90 also "
        ">= 16 warps/SM and issue/mem <= 0.8 (flat), <= 1.0 (stride2, proj), at every shape.",
    ]
    title = caption or f"Triton kernels compiled ahead of time (Triton {', '.join(versions) or 'n/a'})"
    return render_frame(frame, fmt, caption=title, notes=notes, digits=3)
