"""bench.gpu_suite on the CPU: the refusal without CUDA, argument checks, the device slug, and (with the CUDA
check and the steps replaced by small commands) where rows land and what a failing step does."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench import epoch_time, gpu_suite
from bench import kernel as bench_kernel
from bench.cli import run_main
from harness.results_store import ResultsStore

H100 = "NVIDIA H100 80GB HBM3"


def test_refuses_without_cuda_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(gpu_suite, "run_step", lambda step: pytest.fail("ran a step without CUDA"))
    out = tmp_path / "res"
    assert run_main(gpu_suite.main, ["--out-dir", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert "needs a CUDA device" in err and "\n" not in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("name, slug", [
    (H100, "h100-80gb-hbm3"), ("NVIDIA H200", "h200"), ("NVIDIA A100-SXM4-40GB", "a100-sxm4-40gb"),
    ("Tesla V100 / PCIe", "tesla-v100-pcie"), ("", "unknown-device")])
def test_device_slug(name, slug):
    assert gpu_suite.device_slug(name) == slug


@pytest.mark.parametrize("argv", [["--skip", "benchmarks"], ["--skip", ""], ["--limit", "kernel=0"],
                                  ["--limit", "kernel"], ["--limit", "train=30"], ["--kernel-sizes", "u33"],
                                  ["--kernel-passes", "both"]])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        gpu_suite.main(argv)
    assert exc.value.code == 2 and "Traceback" not in capsys.readouterr().err


def test_help_ends_with_examples(capsys):
    with pytest.raises(SystemExit):
        gpu_suite.main(["--help"])
    text = capsys.readouterr().out.rstrip()
    assert "examples:" in text and text.splitlines()[-1].strip().startswith("python -m ")


@pytest.mark.parametrize("option, message", [("--out-dir", "is a file, not a folder"),
                                             ("--out", "--out names the report's file, --out-dir the results folder")])
def test_out_dir_that_is_a_file_or_out_that_is_a_folder_is_a_one_line_error(tmp_path, monkeypatch, capsys, option,
                                                                             message):
    """--out is a file, as in every entry point; the results folder is --out-dir."""
    monkeypatch.setattr(gpu_suite, "cuda_device_name", lambda: H100)
    (tmp_path / "res").write_text("x") if option == "--out-dir" else (tmp_path / "res").mkdir()
    assert run_main(gpu_suite.main, [option, str(tmp_path / "res")]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def _python(code: str, folder: Path, name: str, limit: float = 60) -> gpu_suite.Step:
    return gpu_suite.Step(name, [sys.executable, "-c", code], limit, folder / f"{name}.log", gpu_suite._env())


KERNEL_ROW = {"run_id": "k1", "command": "kernel", "env": {}, "timings": {}, "created": "now",
              "config": {"size": "flat24", "x_shape": "4096x1x64x64", "out_shape": "4096x1x64x64", "stride": 1,
                         "dtype": "bf16", "pass": "fwdbwd", "impl": "triton", "device": "cuda", "device_name": H100},
              "metrics": {"median_ms": 0.2, "timed_runs": 500, "gbps": 2900.0, "copy_gbps": 3000.0,
                          "frac_of_copy": 0.96, "speedup_vs_eager": 6.0, "speedup_vs_compile": 1.4, "error": None}}


def test_rows_land_in_the_device_folder_and_a_failing_step_does_not_stop_the_others(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gpu_suite, "cuda_device_name", lambda: H100)
    ran = []

    def failing_tests(folder, args):
        ran.append("tests")
        return _python("import sys; print('3 failed, 10 passed'); sys.exit(1)", folder, "tests")

    def kernel(folder, args):
        ran.append("kernel")
        code = (f"import json; open({str(folder / 'kernel.jsonl')!r}, 'a').write(json.dumps({KERNEL_ROW!r}) + '\\n')")
        return _python(code, folder, "kernel")

    def slow(folder, args):
        ran.append("epoch_time")
        return _python("import time; time.sleep(60)", folder, "epoch_time", limit=1)

    monkeypatch.setitem(gpu_suite.BUILDERS, "tests", failing_tests)
    monkeypatch.setitem(gpu_suite.BUILDERS, "kernel", kernel)
    monkeypatch.setitem(gpu_suite.BUILDERS, "epoch_time", slow)
    out = tmp_path / "res"
    assert run_main(gpu_suite.main, ["--out-dir", str(out)]) == 1
    assert ran == ["tests", "kernel", "epoch_time"]
    folder = out / "h100-80gb-hbm3"
    (row,) = ResultsStore(folder / "kernel.jsonl").rows("kernel")
    assert row["config"]["device_name"] == H100
    summary = json.loads((folder / "suite.json").read_text())
    assert [(s["name"], s["status"]) for s in summary["steps"]] == [
        ("tests", "failed"), ("kernel", "ok"), ("epoch_time", "timed out")]
    assert summary["steps"][0]["detail"] == "exit status 1: 3 failed, 10 passed"
    assert (folder / "tests.log").read_text().strip() == "3 failed, 10 passed"
    printed, err = capsys.readouterr()
    assert "kernel: measured on" in printed and "| flat24" in printed  # the report, printed
    assert "flat24" in (folder / "report.md").read_text()
    assert "2 of 3 steps failed (tests, epoch_time)" in err.strip().splitlines()[-1]


def test_skip_and_success(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gpu_suite, "cuda_device_name", lambda: "NVIDIA H200")
    monkeypatch.setitem(gpu_suite.BUILDERS, "kernel", lambda folder, args: _python("pass", folder, "kernel"))
    report = tmp_path / "report.txt"
    assert run_main(gpu_suite.main, ["--out-dir", str(tmp_path), "--out", str(report), "--skip",
                                     "tests,epoch_time"]) == 0
    summary = json.loads((tmp_path / "h200" / "suite.json").read_text())
    assert [s["name"] for s in summary["steps"]] == ["kernel"] and summary["tests"] is None
    assert "no rows were stored" in report.read_text() and not capsys.readouterr().out  # --out: the report's file


def test_the_real_steps_commands(tmp_path, monkeypatch):
    """What the suite asks of each entry point: native tests; the kernel at every unit shape the networks run
    (batch 128) and flat 2^24, in three dtypes against both baselines; the six Table 1 networks with eager,
    compile and triton; every output under the device folder."""
    from breg_models.unit_shapes import shapes_by_label

    monkeypatch.setenv("TRITON_INTERPRET", "1")
    args = gpu_suite.build_parser().parse_args(["--force"])
    args.limits, args.kernel_sizes, args.kernel_passes = gpu_suite.LIMITS, gpu_suite.kernel_sizes(), "fwdbwd"
    tests = gpu_suite.tests_step(tmp_path, args)
    assert "TRITON_INTERPRET" not in tests.env and tests.argv[1:5] == ["-m", "pytest", "tests/breg_models", "-q"]
    assert f"--junitxml={tmp_path / 'tests.xml'}" in tests.argv
    kernel = gpu_suite.kernel_step(tmp_path, args)
    opts = dict(zip(kernel.argv[3::2], kernel.argv[4::2], strict=False))
    assert opts["--batch"] == "128" and opts["--dtypes"] == "fp32,bf16,fp16" and opts["--device"] == "cuda"
    assert opts["--impls"] == "eager,compile,triton" and opts["--passes"] == "fwdbwd"
    sizes = opts["--sizes"].split(",")
    assert set(sizes) == {*shapes_by_label(), "flat24"} and sizes[:2] == ["flat24", "d64x32s2"]
    assert "--force" in kernel.argv and opts["--results"] == str(tmp_path / "kernel.jsonl")
    epoch = gpu_suite.epoch_time_step(tmp_path, args)
    opts = dict(zip(epoch.argv[3::2], epoch.argv[4::2], strict=False))
    assert set(opts["--models"].split(",")) == set(epoch_time.GPU_DEFAULTS["models"].split(","))
    assert opts["--models"].startswith("bregnext50") and opts["--results"] == str(tmp_path / "epoch_time.jsonl")
    assert opts["--bypass-impls"] == "eager,compile,triton"
    assert "--steps" not in epoch.argv and "--epochs" not in epoch.argv  # the step budgets
    assert sum(gpu_suite.LIMITS.values()) < 8 * 60
    # the commands parse as the entry points' own arguments
    parsed = bench_kernel.build_parser().parse_args(kernel.argv[3:])
    assert parsed.batch == 128 and parsed.dtypes == ["fp32", "bf16", "fp16"] and parsed.timer == "auto"
    assert parsed.compile_backend is None  # inductor
    parsed = epoch_time.build_parser().parse_args(epoch.argv[3:])
    assert parsed.retries == 0 and parsed.steps is None and parsed.epochs is None
    assert parsed.compile_backend == "inductor"


def test_kernel_passes_and_sizes_options(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_suite, "cuda_device_name", lambda: H100)
    seen, real = {}, gpu_suite.BUILDERS["kernel"]

    def kernel(folder, args):
        seen["argv"] = real(folder, args).argv
        return _python("pass", folder, "kernel")

    monkeypatch.setitem(gpu_suite.BUILDERS, "kernel", kernel)
    assert run_main(gpu_suite.main, ["--out-dir", str(tmp_path), "--out", str(tmp_path / "r.md"), "--skip",
                                     "tests,epoch_time", "--kernel-sizes", "d64,u512x4",
                                     "--kernel-passes", "fwd,fwdbwd"]) == 0
    opts = dict(zip(seen["argv"][3::2], seen["argv"][4::2], strict=False))
    assert opts["--sizes"] == "d64x32s2,u512x4" and opts["--passes"] == "fwd,fwdbwd"


def test_dry_run_commands_are_the_real_ones_on_the_cpu(tmp_path):
    """The dry run's steps are the real steps' commands at tiny sizes: the same entry points, outputs and formats,
    with the kernels interpreted and no GPU visible (so a GPU machine dry-runs on the CPU too)."""
    real = gpu_suite.build_parser().parse_args([])
    dry = gpu_suite.build_parser().parse_args(["--dry-run"])
    for args in (real, dry):
        args.limits, args.kernel_sizes, args.kernel_passes = gpu_suite.LIMITS, gpu_suite.kernel_sizes(), "fwdbwd"
    for build in gpu_suite.BUILDERS.values():
        r, d = build(tmp_path, real), build(tmp_path, dry)
        assert d.argv[:3] == r.argv[:3] and d.log == r.log
        assert d.env["TRITON_INTERPRET"] == "1" and d.env["CUDA_VISIBLE_DEVICES"] == ""
        for option in ("--results", "--out", "--format"):
            if option in r.argv:
                assert d.argv[d.argv.index(option) + 1] == r.argv[r.argv.index(option) + 1]
    kernel = gpu_suite.kernel_step(tmp_path, dry).argv
    parsed = bench_kernel.build_parser().parse_args(kernel[3:])
    assert parsed.device == "cpu" and parsed.timer == "graph" and parsed.compile_backend == "aot_eager"
    assert set(parsed.impls) == set(bench_kernel.IMPLS) and set(parsed.passes) == set(bench_kernel.PASSES)
    assert set(parsed.dtypes) == set(bench_kernel.DTYPES)
    epoch = gpu_suite.epoch_time_step(tmp_path, dry).argv
    parsed = epoch_time.build_parser().parse_args(epoch[3:])
    assert parsed.device == "cpu" and parsed.bypass_impls == gpu_suite.EPOCH_IMPLS and parsed.steps == 1


def test_dry_run_walks_every_step_and_writes_what_a_real_run_writes(tmp_path, capsys):
    """The CI check of the suite's plumbing: every step runs on the CPU at tiny sizes (about 30-45 s here) and
    leaves the files a GPU run leaves, each with what the report and a reader need."""
    out = tmp_path / "res"
    assert run_main(gpu_suite.main, ["--dry-run", "--out-dir", str(out)]) == 0
    folder = out / "cpu-dry-run"
    names = {p.name for p in folder.iterdir() if not p.name.endswith(".lock")}
    assert names == {"tests.log", "tests.xml", "kernel.log", "kernel.jsonl", "kernel.csv", "epoch_time.log",
                     "epoch_time.jsonl", "epoch_time.csv", "report.md", "suite.json"}
    summary = json.loads((folder / "suite.json").read_text())
    assert summary["dry_run"] is True and summary["device"] == gpu_suite.DRY_RUN_DEVICE
    assert [(s["name"], s["status"]) for s in summary["steps"]] == [(s, "ok") for s in gpu_suite.STEPS]
    assert summary["tests"]["tests"] > 0 and summary["tests"]["failures"] == summary["tests"]["errors"] == 0
    # kernel: every impl, pass and dtype, none failed, graph-timed with the host columns filled
    rows = ResultsStore(folder / "kernel.jsonl").rows("kernel")
    cases = {(r["config"]["impl"], r["config"]["pass"], r["config"]["dtype"]) for r in rows}
    assert cases == {(i, p, d) for i in bench_kernel.IMPLS for p in bench_kernel.PASSES for d in bench_kernel.DTYPES}
    assert all(r["metrics"]["error"] is None and r["metrics"]["median_ms"] > 0 for r in rows)
    assert all(r["metrics"]["host_overhead_ms"] is not None and r["metrics"]["copy_gbps"] for r in rows)
    assert (folder / "kernel.csv").read_text().startswith("size,")
    # epoch_time: the data row and each implementation, labelled with what it computes
    rows = ResultsStore(folder / "epoch_time.jsonl").rows("epoch_time")
    impls = {r["config"]["bypass_impl"]: r for r in rows}
    assert set(impls) == {None, *gpu_suite.EPOCH_IMPLS.split(",")}
    assert impls["eager"]["config"]["bypass_form"] == "authors' Eq. 8, eager"
    assert all(r["metrics"]["epoch_s"] > 0 for r in rows)
    report = (folder / "report.md").read_text()
    for column in ("median_ms", "host_overhead_ms", "speedup_vs_compile", "bypass_form", "epoch_s"):
        assert column in report, column  # both tables, with the new columns
    assert capsys.readouterr().out.strip() == report.strip()  # printed too ('-' is stdout)


def test_its_path_imports_no_fvcore():
    """The GPU machine has no fvcore: the suite and the entry points it runs must not need it."""
    code = ("import sys, bench.gpu_suite, bench.kernel, bench.epoch_time, reports.build; "
            "assert 'fvcore' not in sys.modules, 'fvcore imported'")
    done = subprocess.run([sys.executable, "-c", code], cwd=gpu_suite.REPO_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
