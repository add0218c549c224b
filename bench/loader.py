"""`python -m bench.loader`: the data loader's cost: decode once, reopen, stream an epoch in bounded memory.

Measured each in a fresh process: the first run's decode into the cache, a second run's time to open the cache,
and a whole shuffled epoch streamed from disk with BatchFeed (images/s, peak resident memory).

It writes (once, into --folder, or a temporary folder it removes) AffectNet-layout folders of 224x224 JPEG faces,
one per --faces count (training.csv, validation.csv, Manually_Annotated_Images/), and decodes each at every
--sizes into a cache of its own, emptied first so the decode is a true first run. --train also times
`python -m bench.train --data-path stream` on the same folder, first run against second (`train_command`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from harness.cli import (
    DEVICES,
    ArgumentParser,
    check_device_here,
    check_output_folder,
    check_output_path,
    device_name,
    examples,
    int_list_of,
    open_store,
    positive_int,
    write_output,
)
from harness.results_store import ResultsStore, make_row
from reports.loader import render_loader

from .cli import add_output_args, run_main

COMMAND = "loader"
MEASURES = ("decode", "open", "epoch")
FACE_SIZE = 224  # the generated JPEGs' side, as AffectNet's face crops are used at 224 by DACL and CAF
ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = ArgumentParser(prog="python -m bench.loader", description=__doc__.split("\n\n")[0], **examples(
        "python -m bench.loader --faces 2000 # a quick look (under a minute on 2 cores)",
        "python -m bench.loader --faces 20000,50000 --folder /scratch/faces # the numbers of the closing note",
        "python -m bench.loader --faces 20000 --sizes 224 --device cuda --train # with bench.train's first step"))
    p.add_argument("--faces", type=int_list_of(positive_int), default=[20000, 50000],
                   help="set sizes (default 20000,50000)")
    p.add_argument("--sizes", type=int_list_of(positive_int), default=[64, 224],
                   help="image sides the cache is decoded at (default 64,224)")
    p.add_argument("--batch-size", type=positive_int, default=128, help="batch of the epoch pass (default 128)")
    p.add_argument("--prefetch", type=positive_int, default=2, help="batches BatchFeed reads ahead (default 2)")
    p.add_argument("--device", type=device_name, default="cpu",
                   help=f"where the epoch pass delivers batches: {DEVICES} (default cpu)")
    p.add_argument("--folder", default=None,
                   help="where the generated faces go, reused when already there (default: a temporary folder)")
    p.add_argument("--cache-dir", default=None,
                   help="where the caches are decoded (default: a temporary folder); each is emptied before use")
    p.add_argument("--train", action="store_true",
                   help="also time bench.train --data-path stream on each folder: first run and second run "
                        f"({TRAIN_MODEL}, batch {TRAIN_BATCH})")
    p.add_argument("--train-steps", type=positive_int, default=200,
                   help="--train: steps of each training run (default 200)")
    add_output_args(p, COMMAND, "reports.loader", "measure cells whose rows are already in the store again")
    return p.parse_args(argv)


# ---------------------------------------------------------------- the generated data set
def _face(k: int, seed: int) -> np.ndarray:
    """A smooth random face-sized image with sensor-like noise, so its JPEG is about the size of a real crop."""
    from PIL import Image

    rng = np.random.default_rng([seed, k])
    base = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).resize((FACE_SIZE, FACE_SIZE),
                                                                                     Image.BICUBIC)
    noisy = np.asarray(base, dtype=np.int16) + rng.normal(0, 6, (FACE_SIZE, FACE_SIZE, 3)).astype(np.int16)
    return noisy.clip(0, 255).astype(np.uint8)


def make_affectnet(folder: str | Path, faces: int, seed: int = 0) -> Path:
    """An AffectNet-layout folder of ``faces`` generated 224x224 JPEGs (``folder/faces-N``); the JPEGs live in
    ``folder/images`` and are shared by every count (``Manually_Annotated_Images`` links there). Validation is the
    first tenth of the faces (at most 1000): this measures a loader, not a network."""
    from PIL import Image

    folder = Path(folder)
    images = folder / "images"
    def write(k: int) -> None:
        path = images / str(k // 1000) / f"{k}.jpg"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{k}.tmp.jpg")
            Image.fromarray(_face(k, seed)).save(tmp, quality=90)
            os.replace(tmp, path)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(write, range(faces)))
    root = folder / f"faces-{faces}"
    root.mkdir(parents=True, exist_ok=True)
    link = root / "Manually_Annotated_Images"
    if not link.exists():
        link.symlink_to(images.resolve(), target_is_directory=True)
    rng = np.random.default_rng(seed)
    va = rng.uniform(-1, 1, (faces, 2)).round(3)
    header = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal\n"
    rows = [f'{k // 1000}/{k}.jpg,0,0,{FACE_SIZE},{FACE_SIZE},"",{k % 8},{va[k, 0]},{va[k, 1]}\n' for k in range(faces)]
    for name, part in (("training.csv", rows), ("validation.csv", rows[:max(1, min(1000, faces // 10))])):
        if not (root / name).is_file() or (root / name).read_text().count("\n") != len(part) + 1:
            (root / name).write_text(header + "".join(part))
    return root


# ---------------------------------------------------------------- measures, each in a fresh process
def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(payload: str) -> None:
    """Run one measure (``payload``: JSON of measure, spec, size, ...) and print its metrics as a JSON line."""
    opts = json.loads(payload)
    import torch

    from bench.data import BatchFeed, cache_build, load_dataset

    decoded = [0]
    real = cache_build.decode_or_skip

    def counted(*args, **kwargs):
        decoded[0] += 1
        return real(*args, **kwargs)

    cache_build.decode_or_skip = counted
    before = _peak_mb()
    start = time.perf_counter()
    ds = load_dataset(opts["spec"], "train", size=opts["size"], cache_dir=opts["cache_dir"])
    seconds = time.perf_counter() - start
    out = {"seconds": seconds, "decoded_images": decoded[0], "data_mb": ds.nbytes / 1e6, "rss_before_mb": before}
    if opts["measure"] == "decode":
        out["images_per_s"] = decoded[0] / seconds
    if opts["measure"] == "epoch":
        if opts["device"].startswith("cuda"):
            torch.zeros(1, device=opts["device"])  # the CUDA context is not the loader's memory
        before = _peak_mb()
        order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))
        start, seen = time.perf_counter(), 0
        for batch in BatchFeed(ds.images, list(order.split(opts["batch_size"])), opts["device"], opts["prefetch"]):
            seen += int(batch[:, 0, 0, 0].sum() >= 0) * batch.shape[0]  # touch the batch where it landed
        if opts["device"].startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        out.update(seconds=seconds, images_per_s=seen / seconds, rss_before_mb=before)
    print(json.dumps(out))


# Children start from a small launcher: Linux carries a parent's peak RSS into a child it forks (the mm copied,
# or shared by vfork, is the child's until exec), so a child of this process, which holds torch, would report at
# least this one's peak. The launcher's own children do not, and its RUSAGE_CHILDREN is their largest peak.
_LAUNCHER = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[2:]); "
             "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); sys.exit(rc)")


def run_child(argv: list[str], env: dict | None = None) -> tuple[int, str, str, float]:
    """(exit status, stdout, stderr, peak RSS in MB) of one command run in a fresh process."""
    with tempfile.NamedTemporaryFile("r", suffix=".maxrss") as peak:
        done = subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, peak.name, *argv], capture_output=True,
                              text=True, env={**os.environ, **(env or {})}, check=False)
        kib = peak.read().strip()
    return done.returncode, done.stdout, done.stderr, int(kib) / 1024 if kib else float("nan")


def measure(opts: dict) -> dict:
    """One measure in a fresh Python process: its metrics, with that process's peak RSS."""
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    code, out, err, peak = run_child([sys.executable, "-c", "import sys, bench.loader as m; m.child(sys.argv[1])",
                                      json.dumps(opts)], {"PYTHONPATH": pythonpath})
    if code != 0:
        last = (err.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the {opts['measure']} measure failed (exit {code}): {last}")
    metrics = json.loads(out.strip().splitlines()[-1])
    metrics.update(peak_rss_mb=peak, rss_growth_mb=peak - metrics["rss_before_mb"])
    return metrics


# ---------------------------------------------------------------- bench.train on the same data (issue 20's end)
TRAIN_MODEL, TRAIN_BATCH = "tv_alexnet_tuned", 32  # a network cheap at 224 px on a CPU (~1 s a step on 2 cores)


def train_command(folder: Path, size: int, cache: Path, store: Path, ckpt: Path, steps: int) -> list[str]:
    """The training run whose memory and first step are measured, streaming from the decoded cache: ``steps``
    steps of one epoch (the memory of a streamed epoch does not grow after its first batches)."""
    return [sys.executable, "-m", "bench.train", "--data", f"affectnet:{folder}", "--image-size", str(size),
            "--model", TRAIN_MODEL, "--epochs", "1", "--batch-size", str(TRAIN_BATCH), "--max-steps", str(steps),
            "--data-path", "stream", "--cache-dir", str(cache), "--results", str(store), "--checkpoint-dir",
            str(ckpt), "--format", "json"]


def measure_train_runs(folder: Path, size: int, work: Path, steps: int) -> list[tuple[str, dict]]:
    """bench.train twice on ``folder``: the first run decodes (cache emptied first), the second reuses the cache.
    Each: time to the first step and the data path (the last stored row's timings), and its peak RSS."""
    cache = work / f"train-cache-{size}"
    shutil.rmtree(cache, ignore_errors=True)
    out = []
    for name in ("train_first", "train_second"):
        store, ckpt = work / f"{name}-{size}.jsonl", work / f"{name}-{size}-ckpt"
        store.unlink(missing_ok=True)
        shutil.rmtree(ckpt, ignore_errors=True)
        started = time.perf_counter()
        code, _, err, peak = run_child(train_command(folder, size, cache, store, ckpt, steps))
        if code != 0:
            raise RuntimeError(f"bench.train failed (exit {code}): {(err.strip().splitlines() or [''])[-1]}")
        timings = ResultsStore(store).rows("train")[-1]["timings"]
        out.append((name, {"seconds": time.perf_counter() - started, "first_step_s": timings.get("first_step_s"),
                           "data_path": timings.get("data_path"), "peak_rss_mb": peak}))
    return out


# ---------------------------------------------------------------- the command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_device_here(args.device)
    check_output_path(args.out, "--out")
    for option, folder in (("--folder", args.folder), ("--cache-dir", args.cache_dir)):
        if folder is not None:
            check_output_folder(folder, option)
    store = open_store(args.results)
    scratch = Path(tempfile.mkdtemp(prefix="bench-loader-"))
    try:
        rows = _run(args, store, Path(args.folder) if args.folder else scratch / "faces",
                    Path(args.cache_dir) if args.cache_dir else scratch / "cache", scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    write_output(render_loader(rows, args.format), args.out)
    return 0


TRAIN_MEASURES = ("train_first", "train_second")


def _run(args, store: ResultsStore | None, folder: Path, caches: Path, scratch: Path) -> list[dict]:
    """Every measure's row, read from the store where it is there (nothing generated or measured for a face count
    whose rows are all stored, so a read-only store that holds them serves them), measured and stored otherwise."""
    rows = []
    base = {"batch_size": args.batch_size, "prefetch": args.prefetch, "device": args.device, "face_jpeg": FACE_SIZE}

    def stored(faces: int, size: int, measures: tuple[str, ...]) -> list[dict] | None:
        """The stored rows of these measures, or None where one is missing (or --force measures them again)."""
        if store is None or args.force:
            return None
        found = [store.done(COMMAND, {"measure": m, "faces": faces, "image_size": size, **base}) for m in measures]
        return None if None in found else found

    def cell(name: str, faces: int, size: int, metrics: dict, timings: dict) -> None:
        row = make_row(COMMAND, {"measure": name, "faces": faces, "image_size": size, **base}, metrics, timings)
        if store is not None:
            store.append(row)
        rows.append(row)

    for faces in args.faces:
        groups = [(size, MEASURES) for size in args.sizes] + [(size, TRAIN_MEASURES) for size in args.sizes
                                                              if args.train]
        found = [stored(faces, size, measures) for size, measures in groups]
        if all(found):
            rows.extend(row for group in found for row in group)
            continue
        if store is not None:  # the store must take the rows before any is measured
            check_output_path(store.path, "--results")
        print(f"generating {faces} faces in {folder} (once)", file=sys.stderr)
        root = make_affectnet(folder, faces)
        for (size, measures), done in zip(groups, found, strict=True):
            if done:
                rows.extend(done)
            elif measures == MEASURES:
                cache = caches / f"faces{faces}-{size}px"
                shutil.rmtree(cache, ignore_errors=True)
                opts = {"spec": f"affectnet:{root}", "size": size, "cache_dir": str(cache),
                        "batch_size": args.batch_size, "prefetch": args.prefetch, "device": args.device}
                for name in MEASURES:  # in order: decode builds the cache that open and epoch read
                    print(f"{name}: {faces} faces at {size}x{size}", file=sys.stderr)
                    metrics = measure({**opts, "measure": name})
                    cell(name, faces, size, metrics, {"seconds": metrics["seconds"]})
                shutil.rmtree(cache, ignore_errors=True)
            else:
                print(f"train: {faces} faces at {size}x{size}, first and second run", file=sys.stderr)
                try:
                    for name, metrics in measure_train_runs(root, size, scratch, args.train_steps):
                        cell(name, faces, size, metrics, {"first_step_s": metrics["first_step_s"]})
                except RuntimeError as exc:
                    print(f"bench.loader: --train skipped: {exc}", file=sys.stderr)
    return rows


if __name__ == "__main__":
    sys.exit(run_main(main))
