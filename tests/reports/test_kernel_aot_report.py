"""The ahead-of-time kernel table: rows render in every format, a compile error shows in the gate column, the
newest row of a kernel replaces older ones, and `python -m reports` picks the family up."""

import json

from harness.results_store import ResultsStore, make_row
from reports.build import TABLES, main
from reports.kernel_aot import FIELDS, flat_rows, newest, render_kernel_aot
from reports.render import FORMATS


def _row(kernel="fwd_flat", arch=90, dtype="bf16", variant="IDX64=0", created="2025-01-01T00:00:00", **metrics):
    config = {"kernel": kernel, "arch": arch, "dtype": dtype, "variant": variant, "layout": "dense",
              "block": "BLOCK=4096", "num_warps": 8, "maxnreg": None, "triton": "3.9.0",
              "specs": "breg_models.ops._kernels:SPECS", "spec_key": "abc"}
    base = {"kind": "flat", "registers": 87, "spill_bytes": 0, "shared_bytes": 0, "warps_per_sm": 16,
            "load_bits": 128, "store_bits": 128, "sass_ldst": "LDG.128x4 STG.128x2", "sass_total": 500,
            "sass_main": 483, "sass_slow": 17, "sass_per_element": 30.19, "bytes_per_element": 6,
            "issue_us": 15.15, "memory_us": 33.55, "issue_mem_ratio": 0.4515, "gate": "pass", "error": None}
    row = make_row("kernel_aot", config, {**base, **metrics})
    row["created"] = created
    return row


def test_renders_in_every_format():
    rows = [_row(), _row(kernel="bwd_proj", variant="STRIDE2=1,IDX64=0", kind="stride2", issue_mem_ratio=1.03,
                         gate="fail: issue/memory 1.030 > 1.0")]
    for fmt in FORMATS:
        text = render_kernel_aot(rows, fmt).replace(r"\_", "_")  # LaTeX escapes the underscore
        assert "fwd_flat" in text and "bwd_proj" in text
    md = render_kernel_aot(rows, "markdown")
    assert "| issue/mem" in md and "0.452" in md and "fail: issue/memory 1.030 > 1.0" in md
    assert "Triton 3.9.0" in md and "3.0 TB/s" in md
    assert r"\begin{tabular}" in render_kernel_aot(rows, "latex")
    doc = json.loads(render_kernel_aot(rows, "json"))
    assert doc["rows"][0]["SASS/elem"] == 30.19 and doc["notes"]


def test_compile_error_row_and_flat_fields():
    err = _row(kernel="broken", gate=None, error="PTXASError: ptxas error   : Entry function uses too much data",
               registers=None, issue_mem_ratio=None)
    assert "fail: compile error: PTXASError" in render_kernel_aot([err], "markdown")
    flat = flat_rows([err])[0]
    assert list(flat) == FIELDS and flat["registers"] is None and flat["arch"] == 90


def test_newest_row_of_a_kernel_wins():
    old = _row(created="2025-01-01T00:00:00", registers=255, spill_bytes=200)
    new = _row(created="2025-01-02T00:00:00", registers=97)
    other = _row(arch=80, created="2024-12-31T00:00:00")
    kept = newest([old, new, other])
    assert [r["metrics"]["registers"] for r in kept] == [97, 87]


def test_reports_builds_the_table(tmp_path):
    assert "kernel_aot" in TABLES
    store = tmp_path / "kernel_aot.jsonl"
    ResultsStore(store).append(_row())
    assert main([str(store), "--out-dir", str(tmp_path / "out")]) == 0
    assert "fwd_flat" in (tmp_path / "out" / "kernel_aot.md").read_text()
    assert r"\begin{tabular}" in (tmp_path / "out" / "kernel_aot.tex").read_text()
