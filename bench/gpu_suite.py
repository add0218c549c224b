"""`python -m bench.gpu_suite`: everything that needs a GPU, in one command of under 8 minutes on an H100.

Steps, each a subprocess with its own time limit (a step that fails or runs out of time is reported and the
next one still runs; the exit status is 1 if any failed):

- tests: the kernel tests natively, ``python -m pytest tests/breg_models -q`` with ``TRITON_INTERPRET``
  removed from the environment, so they run the compiled kernels on CUDA tensors (JUnit XML and the log
  are kept);
- kernel: ``bench.kernel`` at the shapes the networks run, every distinct unit of Table 1's six networks and
  the depth family at batch 128 (`breg_models.unit_shapes`), and flat 2^24 elements, in fp32/bf16/fp16,
  forward+backward (``--kernel-passes`` adds fwd, bwd), the Triton op against eager and torch.compile of Eq. 8
  as the authors write it, and the copy bandwidth; flat24 and BReG-NeXt's d64x32s2 first, so a step cut short
  by its limit still has the target's rows;
- epoch_time: ``bench.epoch_time`` for the six Table 1 networks with its step budgets (bregnext50 first,
  so a step cut short by its limit still has the target's network), eager, compile and triton.

Time on an H100 (estimated from counts, not measured: no GPU run has happened yet): the kernel step is 10 sizes x
3 dtypes = 30 fwdbwd cases, so 30 fresh inductor compiles (~2-3 s each, cold caches), 60 graph-timed eager and
Triton rows and 30 copy timings (~0.1-0.3 s each: up to 43 input copies warmed up, a capture of k calls at
~0.1-0.3 ms of host time each, ~100 ms of replays, three eager runs for the host column), the op's Triton JIT
per dtype and stride (~10 s) and ~10 s of process start: ~80-130 s against its 150 s limit. fwd and bwd as well
would triple the compiles (``--kernel-passes``, with ``--limit kernel=...``). Cases are stored as they finish
and the target's sizes run first, so a step cut short keeps what matters most.

``--dry-run`` walks every step on the CPU at tiny sizes (the tests step on a small kernel subset, interpreted;
bench.kernel with every impl, pass and dtype on one small unit, through the GPU timer's procedure with a wall
clock; bench.epoch_time on one small network at a one-step budget; the report; suite.json), writing the same
files under ``OUT_DIR/cpu-dry-run/``, so that on the day only the device can fail; CI runs it
(tests/bench/test_gpu_suite.py), ~45 s of CPU time.

Rows go to ``OUT_DIR/<device slug>/`` (``results/h100-80gb-hbm3/kernel.jsonl``, ``epoch_time.jsonl``, each
stored as its case or cell finishes), beside each step's log, the JUnit XML, ``report.md`` (the tables of
`reports.kernel` and `reports.epoch_time`, also printed, or written to ``--out FILE`` as every entry point's
``--out`` is a file) and ``suite.json`` (what each step did). A rerun
skips the kernel cases and epoch-time cells already stored unless ``--force``. Without CUDA it stops at
once, in one line (unless ``--dry-run``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.cli import UsageError, check_output_path, choice_list, examples, write_output

from .cli import run_main

REPO_ROOT = Path(__file__).resolve().parent.parent
STEPS = ("tests", "kernel", "epoch_time")
# Seconds per step; together under 8 minutes with the suite's own start and reports.
LIMITS = {"tests": 110, "kernel": 150, "epoch_time": 200}
FIRST_SIZES = ("flat24", "d64x32s2")  # the target's sizes first: a step cut short keeps them
KERNEL_PASSES = "fwdbwd"  # the targets' pass; fwd and bwd alone triple the compiles (see above)
TABLE1 = "bregnext50,bregnext32,bregnet50,bregnet32,resnet50,resnet32"
EPOCH_IMPLS = "eager,compile,triton"
DRY_RUN_DEVICE = "CPU dry run"
# The dry run's tiny sizes: a kernel subset of the tests (interpreted), the smallest unit at batch 1 (the
# interpreter's stride-1 kernels take ~20 ms a call there, stride-2 ~10x that, so stride 2 is left to the
# tests' subset), the smallest Eq. 8 network at 16x16 for one timed step.
DRY_TESTS = ["tests/breg_models/test_bypass_add_golden.py"]
DRY_KERNEL = ["--sizes", "u512x4", "--batch", "1", "--impls", "eager,compile,triton,eager_safe", "--timer", "graph",
              "--compile-backend", "aot_eager", "--passes", "fwd,bwd,fwdbwd"]
DRY_EPOCH = ["--models", "bregnext14", "--epoch-size", "4", "--batch-size", "2", "--image-size", "16", "--steps",
             "1", "--warmup-steps", "0", "--compile-backend", "aot_eager"]


def kernel_sizes() -> str:
    """Every unit shape the networks run (`breg_models.unit_shapes`, as `bench.kernel` names them) and flat24,
    the target's sizes first."""
    from .kernel import UNITS

    return ",".join([*FIRST_SIZES, *(s for s in UNITS if s not in FIRST_SIZES)])


@dataclass
class Step:
    """A command the suite runs, with its time limit and the log that keeps its output."""

    name: str
    argv: list[str]
    limit_s: float
    log: Path
    env: dict[str, str] | None = None


@dataclass
class Outcome:
    name: str
    status: str  # ok | failed | timed out
    seconds: float
    detail: str = ""


def device_slug(name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'h100-80gb-hbm3': a folder name that says which GPU measured the rows."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower().removeprefix("nvidia").strip()).strip("-")
    return slug or "unknown-device"


def cuda_device_name() -> str:
    """The name of CUDA device 0, or the one-line error that the suite needs one."""
    import torch

    if not torch.cuda.is_available():
        raise UsageError(f"the GPU suite needs a CUDA device and none is available here (torch {torch.__version__}, "
                         f"CUDA build {torch.version.cuda or 'none'}); nothing was run")
    return torch.cuda.get_device_name(0)


def _env(args: argparse.Namespace | None = None, **changes: str | None) -> dict[str, str]:
    """This process's environment with ``changes``; a dry run's steps interpret the kernels and see no GPU."""
    if args is not None and args.dry_run:
        changes = {**changes, "TRITON_INTERPRET": "1", "CUDA_VISIBLE_DEVICES": ""}
    env = {k: v for k, v in os.environ.items() if k not in changes}
    env.update({k: v for k, v in changes.items() if v is not None})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    return env


def tests_step(folder: Path, args: argparse.Namespace) -> Step:
    """Native kernel tests: without TRITON_INTERPRET the test session runs the kernels compiled, on CUDA (a dry
    run: a small subset, interpreted)."""
    tests = DRY_TESTS if args.dry_run else ["tests/breg_models"]
    argv = [sys.executable, "-m", "pytest", *tests, "-q", f"--junitxml={folder / 'tests.xml'}"]
    return Step("tests", argv, args.limits["tests"], folder / "tests.log", _env(args, TRITON_INTERPRET=None))


def kernel_step(folder: Path, args: argparse.Namespace) -> Step:
    """The real shapes at batch 128 on CUDA (a dry run: one tiny unit on the CPU, every impl, pass and dtype)."""
    shape = DRY_KERNEL if args.dry_run else ["--sizes", args.kernel_sizes, "--batch", "128", "--impls",
                                             "eager,compile,triton", "--passes", args.kernel_passes]
    argv = [sys.executable, "-m", "bench.kernel", "--device", "cpu" if args.dry_run else "cuda", *shape,
            "--dtypes", "fp32,bf16,fp16", "--results", str(folder / "kernel.jsonl"), "--format", "csv", "--out",
            str(folder / "kernel.csv")]
    return Step("kernel", argv + ["--force"] * args.force, args.limits["kernel"], folder / "kernel.log", _env(args))


def epoch_time_step(folder: Path, args: argparse.Namespace) -> Step:
    """Table 1's networks at the GPU step budgets (a dry run: one small network, one step, on the CPU)."""
    budget = DRY_EPOCH if args.dry_run else ["--models", TABLE1]
    argv = [sys.executable, "-m", "bench.epoch_time", "--device", "cpu" if args.dry_run else "cuda", *budget,
            "--bypass-impls", EPOCH_IMPLS, "--retries", "0", "--results", str(folder / "epoch_time.jsonl"),
            "--format", "csv", "--out", str(folder / "epoch_time.csv")]
    return Step("epoch_time", argv + ["--force"] * args.force, args.limits["epoch_time"], folder / "epoch_time.log",
                _env(args))


BUILDERS: dict[str, Callable[[Path, argparse.Namespace], Step]] = {
    "tests": tests_step, "kernel": kernel_step, "epoch_time": epoch_time_step}


def _stop(proc: subprocess.Popen) -> None:
    """End the step's process group (the step and anything it started), politely first."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _last_line(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def run_step(step: Step) -> Outcome:
    """Run one step in its own process group, output to its log; stop it at its limit."""
    step.log.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with open(step.log, "w") as log:
        proc = subprocess.Popen(step.argv, cwd=REPO_ROOT, env=step.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=step.limit_s)
        except subprocess.TimeoutExpired:
            _stop(proc)
            return Outcome(step.name, "timed out", time.monotonic() - start,
                           f"stopped at its {step.limit_s:g} s limit; finished rows are kept")
        except BaseException:  # Ctrl-C: do not leave the step running
            _stop(proc)
            raise
    seconds = time.monotonic() - start
    if rc == 0:
        return Outcome(step.name, "ok", seconds)
    return Outcome(step.name, "failed", seconds, f"exit status {rc}: {_last_line(step.log)}")


def junit_counts(path: Path) -> dict | None:
    """Tests, failures, errors and skips from pytest's JUnit XML (None if it was not written)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    return {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}


def reports_text(folder: Path) -> str:
    """The tables of the rows stored in ``folder`` (newest row per run id), as Markdown."""
    from reports.build import caption, load_rows
    from reports.epoch_time import render_epoch_time
    from reports.kernel import render_kernel

    stores = [p for p in (folder / "kernel.jsonl", folder / "epoch_time.jsonl") if p.exists()]
    rows = load_rows(stores)
    parts = []
    for command, render in (("kernel", render_kernel), ("epoch_time", render_epoch_time)):
        if rows.get(command):
            parts.append(render(rows[command], "markdown", caption=caption(command, rows[command])))
    return "\n\n".join(parts) if parts else "no rows were stored\n"


def _limits(text: str) -> dict[str, float]:
    """argparse type for 'kernel=200,epoch_time=300'."""
    out = {}
    for item in (t.strip() for t in text.split(",") if t.strip()):
        name, _, value = item.partition("=")
        if name not in STEPS:
            raise argparse.ArgumentTypeError(f"unknown step {name!r} in {text!r}; steps: {', '.join(STEPS)}")
        try:
            out[name] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected STEP=SECONDS, got {item!r}") from None
        if out[name] <= 0:
            raise argparse.ArgumentTypeError(f"a time limit must be positive, got {item!r}")
    return out


def build_parser() -> argparse.ArgumentParser:
    from .kernel import FLAT, PASSES, UNITS, size_names

    def sizes(text: str) -> str:
        """argparse type: sizes `bench.kernel` knows, checked here rather than minutes later in its step."""
        return ",".join(size_names(text))

    sizes.choices = size_names.choices  # what --help must name

    p = argparse.ArgumentParser(prog="python -m bench.gpu_suite", description=__doc__.split("\n\n")[0],
                                **examples(
        "python -m bench.gpu_suite # all steps; rows under results/<device>/",
        "python -m bench.gpu_suite --dry-run --out-dir /tmp/suite # every step on the CPU at tiny sizes (~40 s)",
        "python -m reports results/h100-80gb-hbm3/*.jsonl # the tables again, from the stored rows"))
    p.add_argument("--out-dir", default="results", metavar="DIR",
                   help="results folder; rows go to DIR/<device slug>/ (default results)")
    p.add_argument("--out", default="-", metavar="FILE",
                   help="file for the report's tables, as in every entry point ('-' = stdout, the default); "
                        "report.md beside the rows holds them too")
    p.add_argument("--skip", type=choice_list(STEPS), default=[], metavar="STEPS",
                   help=f"comma-separated steps to leave out: {', '.join(STEPS)}")
    p.add_argument("--limit", type=_limits, default={}, metavar="STEP=S,...",
                   help="time limits in seconds, default " + ",".join(f"{k}={v}" for k, v in LIMITS.items()))
    p.add_argument("--kernel-sizes", type=sizes, default=None,
                   help=f"comma-separated bench.kernel sizes, of {', '.join([*UNITS, *FLAT])}; units at batch 128 "
                        "(default: every unit and flat24)")
    p.add_argument("--kernel-passes", type=choice_list(PASSES), default=[KERNEL_PASSES],
                   help=f"comma-separated bench.kernel passes, of {', '.join(PASSES)} (default {KERNEL_PASSES}; "
                        "each more pass adds a compile per case)")
    p.add_argument("--force", action="store_true", help="rerun kernel cases and epoch-time cells already stored")
    p.add_argument("--dry-run", action="store_true",
                   help="walk every step on the CPU at tiny sizes (kernels interpreted), writing what a real run "
                        "writes under OUT_DIR/cpu-dry-run/: checks the plumbing, measures nothing")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.limits = {**LIMITS, **args.limit}
    args.kernel_sizes = args.kernel_sizes or kernel_sizes()
    args.kernel_passes = ",".join(args.kernel_passes)
    if Path(args.out).is_dir():  # --out named the folder before --out-dir did
        raise UsageError(f"--out {args.out}: is a folder; --out names the report's file, --out-dir the results "
                         "folder")
    check_output_path(args.out, "--out")
    check_output_path(Path(args.out_dir) / "kernel.jsonl", "--out-dir")
    name = DRY_RUN_DEVICE if args.dry_run else cuda_device_name()
    folder = (Path(args.out_dir) / device_slug(name)).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    todo = [s for s in STEPS if s not in args.skip]
    if "tests" in todo:  # a report from an earlier run must not pass for this one's
        (folder / "tests.xml").unlink(missing_ok=True)
    print(f"gpu_suite: {name} -> {folder} ({', '.join(f'{s} <= {args.limits[s]:g} s' for s in todo) or 'no steps'})",
          file=sys.stderr)
    outcomes = []
    for i, step_name in enumerate(todo, 1):
        step = BUILDERS[step_name](folder, args)
        print(f"[{i}/{len(todo)}] {step_name}: running (log {step.log})", file=sys.stderr)
        outcome = run_step(step)
        outcomes.append(outcome)
        print(f"[{i}/{len(todo)}] {step_name}: {outcome.status} in {outcome.seconds:.0f} s"
              + (f" ({outcome.detail})" if outcome.detail else ""), file=sys.stderr)
    start = time.monotonic()
    try:
        text = reports_text(folder)
        (folder / "report.md").write_text(text)
        write_output(text, args.out)
    except Exception as exc:  # the rows stay stored; only the printing failed
        outcomes.append(Outcome("report", "failed", time.monotonic() - start, f"{type(exc).__name__}: {exc}"))
    summary = {"device": name, "dry_run": args.dry_run, "folder": str(folder), "steps": [asdict(o) for o in outcomes],
               "skipped": args.skip, "tests": junit_counts(folder / "tests.xml") if "tests" in todo else None}
    (folder / "suite.json").write_text(json.dumps(summary, indent=1) + "\n")
    failed = [o for o in outcomes if o.status != "ok"]
    for o in outcomes:
        print(f"gpu_suite: {o.name:<10} {o.status:<9} {o.seconds:6.0f} s  {o.detail}".rstrip(), file=sys.stderr)
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(outcomes)} steps failed ({', '.join(o.name for o in failed)}); "
                           f"logs and rows under {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
