"""`python -m bench.eager_step`: a CPU training step with each eager form of Eq. 8, side by side: time and memory.

BReG-NeXt-50 (default) on random 64x64 images: forward, cross-entropy, backward and an SGD step, with every
unit's Eq. 8 computed as one of these forms (``--forms``):

- function: the eager path's autograd Function (`breg_models.eq8_function`), what the models run;
- plain: Eq. 8 as printed and as the authors' code writes it (`breg_models.eq8.eq8_authors`), under autograd;
- series: the float64-safe definition (`breg_models.eq8.eq8`) under autograd, the eager path before the Function.

Each form runs in fresh processes, ``--repeats`` of them with the forms alternating, so that load on a shared
machine falls on every form alike: ``--warmup-steps`` untimed steps, then ``--steps`` timed ones. A row per form:
the median step over all its timed steps (wall seconds, and the process's CPU seconds), the median peak resident
memory of its processes (ru_maxrss) and their growth over the peak before the first step (imports, model and
data excluded), and the last loss (the forms compute one function: it agrees). The table (`reports.eager_step`)
puts each form's time and memory over the plain formula's; issue 22's target: the function within 1.1x of it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from harness.cli import ArgumentParser, check_output_path, choice_list, examples, open_store, positive_int, write_output
from harness.results_store import make_row
from reports.eager_step import render_eager_step

from .cli import add_output_args, run_main
from .loader import run_child

COMMAND = "eager_step"
FORMS = ("plain", "function", "series")
ROOT = Path(__file__).resolve().parent.parent


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m bench.eager_step", description=__doc__.splitlines()[0], **examples(
        "python -m bench.eager_step --batch-size 8 # a quick look: plain against the Function",
        "python -m bench.eager_step # batch 64 on 2 threads, as issue 22 measured",
        "python -m bench.eager_step --forms plain,function,series --repeats 3 --format json"))
    p.add_argument("--model", default="bregnext50", help="network of the zoo (default bregnext50)")
    p.add_argument("--forms", type=choice_list(FORMS), default=["plain", "function"],
                   help=f"comma-separated, of {', '.join(FORMS)} (default plain,function)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="images per step (default 64)")
    p.add_argument("--image-size", type=positive_int, default=64, help="image side (default 64)")
    p.add_argument("--threads", type=positive_int, default=2, help="torch intra-op threads (default 2)")
    p.add_argument("--steps", type=positive_int, default=3, help="timed steps per process (default 3)")
    p.add_argument("--warmup-steps", type=int, default=1, help="untimed steps first (default 1)")
    p.add_argument("--repeats", type=positive_int, default=2, help="processes per form, alternating (default 2)")
    add_output_args(p, COMMAND, "reports.eager_step", "measure forms whose rows are already in the store")
    return p


@contextmanager
def eq8_form(form: str):
    """Every `Bypass` of Eq. 8 computes with ``form`` inside the block: the eager path's one name for it
    (`breg_models.bypass.eq8_function`) is swapped, and restored after."""
    from breg_models import bypass
    from breg_models.eq8 import eq8, eq8_authors
    from breg_models.eq8_function import eq8_function

    forms = {"function": eq8_function, "plain": eq8_authors, "series": eq8}
    saved, bypass.eq8_function = bypass.eq8_function, forms[form]
    try:
        yield
    finally:
        bypass.eq8_function = saved


def measure_step(opts: dict) -> dict:
    """Time ``opts['steps']`` training steps of one form in this process (after the warm-up): per-step wall and
    CPU seconds, this process's peak RSS before the first step, and the last loss."""
    import torch

    from breg_models.registry import create_model

    torch.set_num_threads(opts["threads"])
    torch.manual_seed(0)
    model = create_model(opts["model"])
    x = torch.randn(opts["batch_size"], 3, opts["image_size"], opts["image_size"])
    y = torch.randint(0, 8, (opts["batch_size"],))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    walls, cpus = [], []
    with eq8_form(opts["form"]):
        for i in range(opts["warmup_steps"] + opts["steps"]):
            wall, cpu = time.perf_counter(), time.process_time()
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            if i >= opts["warmup_steps"]:
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
    return {"step_s": walls, "step_cpu_s": cpus, "rss_before_mb": before_mb, "loss": loss.item()}


def child(payload: str) -> None:
    print(json.dumps(measure_step(json.loads(payload))))


def measure(opts: dict) -> dict:
    """`measure_step` in a fresh process, with that process's peak RSS."""
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    code, out, err, peak = run_child([sys.executable, "-c", "import sys, bench.eager_step as m; m.child(sys.argv[1])",
                                      json.dumps(opts)], {"PYTHONPATH": pythonpath})
    if code != 0:
        raise RuntimeError(f"the {opts['form']} step failed (exit {code}): {(err.strip().splitlines() or [''])[-1]}")
    return {**json.loads(out.strip().splitlines()[-1]), "peak_rss_mb": peak}


def summarise(runs: list[dict]) -> dict:
    """One form's metrics from its processes: medians over every timed step and over the processes' peaks."""
    peaks = [r["peak_rss_mb"] for r in runs]
    growth = [r["peak_rss_mb"] - r["rss_before_mb"] for r in runs]
    return {"step_s": statistics.median(s for r in runs for s in r["step_s"]),
            "step_cpu_s": statistics.median(s for r in runs for s in r["step_cpu_s"]),
            "peak_rss_mb": statistics.median(peaks), "rss_growth_mb": statistics.median(growth),
            "processes": len(runs), "loss": runs[-1]["loss"]}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.warmup_steps < 0:
        raise ValueError("--warmup-steps must be >= 0")
    check_output_path(args.out, "--out")
    store = open_store(args.results)
    base = {"model": args.model, "batch_size": args.batch_size, "image_size": args.image_size,
            "threads": args.threads, "steps": args.steps, "warmup_steps": args.warmup_steps, "repeats": args.repeats}
    configs = {form: {**base, "form": form} for form in args.forms}
    rows = {form: store.done(COMMAND, c) for form, c in configs.items()} if store and not args.force else {}
    todo = [form for form in args.forms if not rows.get(form)]
    if todo and store is not None:
        check_output_path(store.path, "--results")
    runs = {form: [] for form in todo}
    for repeat in range(args.repeats):
        for form in todo:
            print(f"eager_step: {form}, process {repeat + 1} of {args.repeats}", file=sys.stderr)
            runs[form].append(measure(configs[form]))
            if repeat == args.repeats - 1:  # the form's last process: its row is final, stored at once
                rows[form] = make_row(COMMAND, configs[form], summarise(runs[form]))
                if store is not None:
                    store.append(rows[form])
    write_output(render_eager_step([rows[form] for form in args.forms], args.format), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
