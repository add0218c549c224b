"""Bad input to every entry point of the sweeps and counters, each refused before any work: a non-zero exit,
exactly one line on stderr that starts with the program's name, no traceback, and no file left behind.

Each case is one in-process ``main(argv)`` call that must stop at its checks (argument types, data specs,
output paths, devices), so the whole table runs in seconds. ``{tmp}`` in an argument is the test's folder, which
holds ``file`` (a text file), ``binary.csv`` (bytes that are no CSV) and ``bad.jsonl`` (a store of gradflow rows
that no table can show); the working folder is that folder too, so a default store would land there.
"""

from __future__ import annotations

import importlib

import pytest

from bench.cli import run_main
from harness.results_store import ResultsStore, make_row

NO_GPU = "cuda:7"  # no machine this runs on has eight GPUs (skipped where one does)

CASES = [
    # bench.flops: argument types, names, options that would fail a count, output paths
    ("flops", ["--input-size", "4"], "--input-size: must be at least 8"),
    ("flops", ["--input-size", "x"], "expected an integer"),
    ("flops", ["--input-size", "nan"], "expected an integer"),
    ("flops", ["--depths", "30"], "impossible BReG-NeXt depth"),
    ("flops", ["--depths", "0"], "--depths: must be at least 1"),
    ("flops", ["--depths", ""], "comma-separated list of integers"),
    ("flops", ["--depths", "26,x"], "expected an integer, got 'x'"),
    ("flops", ["--num-classes", "1"], "--num-classes: must be at least 2"),
    ("flops", ["--num-classes", "-3"], "--num-classes"),
    ("flops", ["--models", "nope"], "unknown model"),
    ("flops", ["--bypass", "tanh"], "unknown bypass"),
    ("flops", ["--bypass", "scaled:lam=nan"], "lam"),
    ("flops", ["--models", "bregnext26", "--bypass-impl", "triton"], "TRITON_INTERPRET=1"),
    ("flops", ["--models", "bregnext26", "--bypass-impl", "compile"], "count with eager"),
    ("flops", ["--models", "tv_resnet18", "--by-stage"], "--by-stage"),
    ("flops", ["--format", "xml"], "invalid choice"),
    ("flops", ["--task", "both"], "invalid choice"),
    ("flops", ["--models", "bregnext26", "--results", "{tmp}"], "is a folder"),
    ("flops", ["--models", "bregnext26", "--results", "{tmp}/file/x.jsonl"], "is a file, not a folder"),
    ("flops", ["--models", "bregnext26", "--out", "{tmp}"], "is a folder"),
    ("flops", ["--models", "bregnext26", "--out", "{tmp}/file/t.md"], "is a file, not a folder"),
    # bench.depth_sweep: types, data specs and data files before the first cell, devices, outputs
    ("depth_sweep", ["--depths", "30"], "impossible"),
    ("depth_sweep", ["--arrangements", "vgg"], "unknown arrangement"),
    ("depth_sweep", ["--steps", "0"], "--steps: must be at least 1"),
    ("depth_sweep", ["--batch-size", "1"], "--batch-size: must be at least 2"),
    ("depth_sweep", ["--epochs", "-1"], "--epochs: must be at least 0"),
    ("depth_sweep", ["--image-size", "0"], "--image-size"),
    ("depth_sweep", ["--image-size", "8"], "--image-size: must be at least 16, got 8"),
    ("depth_sweep", ["--flops-input-size", "4"], "--flops-input-size"),
    ("depth_sweep", ["--seed", "-1"], "--seed"),
    ("depth_sweep", ["--synth-train", "0"], "--synth-train"),
    ("depth_sweep", ["--retries", "-1"], "--retries"),
    ("depth_sweep", ["--data", "foo"], "unknown data set"),
    ("depth_sweep", ["--data", "fer2013"], "fer2013 needs a path"),
    ("depth_sweep", ["--data", "synth:x"], "synth takes no path"),
    ("depth_sweep", ["--depths", "14", "--epochs", "1", "--data", "fer2013:{tmp}/none.csv"], "FER2013 CSV not found"),
    ("depth_sweep", ["--depths", "14", "--epochs", "1", "--data", "fer2013:{tmp}/binary.csv"],
     "--data fer2013:{tmp}/binary.csv: "),
    ("depth_sweep", ["--depths", "14", "--device", "meta"], "only cpu and cuda"),
    ("depth_sweep", ["--depths", "14", "--device", "gpu"], "argument --device: 'gpu' is not a device name"),
    ("depth_sweep", ["--depths", "14", "--device", "cuda:x"], "argument --device"),
    ("depth_sweep", ["--depths", "14", "--device", NO_GPU], "CUDA device"),
    ("depth_sweep", ["--depths", "14", "--device", "cpu", "--bypass-impl", "triton"], "triton"),
    ("depth_sweep", ["--depths", "14", "--out", "{tmp}"], "is a folder"),
    ("depth_sweep", ["--executor", "dask"], "invalid choice"),
    # bench.ablation
    ("ablation", ["--seeds", "-1"], "--seeds: must be at least 0"),
    ("ablation", ["--seeds", ""], "comma-separated list of integers"),
    ("ablation", ["--epochs", "0"], "--epochs"),
    ("ablation", ["--batch-size", "1"], "--batch-size"),
    ("ablation", ["--image-size", "0"], "--image-size"),
    ("ablation", ["--image-size", "15"], "--image-size: must be at least 16, got 15"),
    ("ablation", ["--synth-val", "0"], "--synth-val"),
    ("ablation", ["--preset", "nope"], "invalid choice"),
    ("ablation", ["--models", "nope"], "unknown model"),
    ("ablation", ["--preset", "caf_table4", "--task", "categorical"], "drop --task categorical"),
    ("ablation", ["--preset", "caf_table4", "--image-size", "32"], "too small"),
    ("ablation", ["--seeds", "0", "--device", "cpu", "--data", "affectnet:{tmp}/none"], "--data affectnet:"),
    ("ablation", ["--seeds", "0", "--device", "cpu", "--results", "{tmp}"], "is a folder"),
    ("ablation", ["--seeds", "0", "--device", "gpu"], "argument --device: 'gpu' is not a device name"),
    ("ablation", ["--seeds", "0", "--device", NO_GPU], "CUDA device"),
    # bench.gradflow
    ("gradflow", ["--lr", "0"], "--lr: must be > 0"),
    ("gradflow", ["--lr", "inf"], "finite"),
    ("gradflow", ["--lr", "nan"], "finite"),
    ("gradflow", ["--lr", "-1"], "--lr"),
    ("gradflow", ["--lr", "fast"], "expected a number"),
    ("gradflow", ["--steps", "-1"], "--steps"),
    ("gradflow", ["--batch", "1"], "--batch"),
    ("gradflow", ["--input-size", "3"], "--input-size"),
    ("gradflow", ["--depths", "15"], "impossible"),
    ("gradflow", ["--bypass", "scaled:mu=2"], "mu"),
    ("gradflow", ["--dtype", "float16"], "invalid choice"),
    ("gradflow", ["--depths", "14", "--steps", "0", "--out", "{tmp}"], "is a folder"),
    ("gradflow", ["--depths", "14", "--device", NO_GPU], "CUDA device"),
    ("gradflow", ["--depths", "14", "--device", "tpu"], "argument --device"),
    # bench.epoch_time
    ("epoch_time", ["--steps", "0"], "--steps"),
    ("epoch_time", ["--warmup-steps", "-1"], "--warmup-steps"),
    ("epoch_time", ["--epochs", "0"], "--epochs"),
    ("epoch_time", ["--batch-size", "1"], "--batch-size"),
    ("epoch_time", ["--image-size", "0"], "--image-size"),
    ("epoch_time", ["--seed", "-2"], "--seed"),
    ("epoch_time", ["--device", "gpu"], "is not a device name"),
    ("epoch_time", ["--device", "cuda:1"], "--device cuda:1"),
    ("epoch_time", ["--device", "cpu", "--epoch-size", "1"], "--epoch-size must be at least 2"),
    ("epoch_time", ["--device", "cpu", "--epoch-size", "lots"], "--epoch-size must be"),
    ("epoch_time", ["--device", "cpu", "--epochs", "2", "--steps", "3"], "one or the other"),
    ("epoch_time", ["--device", "cpu", "--warmup", "1"], "--warmup counts epochs"),
    ("epoch_time", ["--device", "cpu", "--bypass-impls", "nope"], "unknown bypass implementation"),
    ("epoch_time", ["--device", "cpu", "--amp", "fp16"], "fp16 needs --device cuda"),
    ("epoch_time", ["--device", "cpu", "--out", "{tmp}"], "is a folder"),
    ("epoch_time", ["--device", "cpu", "--results", "{tmp}/file/e.jsonl"], "is a file, not a folder"),
    # bench.loader
    ("loader", ["--device", "tpu"], "is not a device name"),
    ("loader", ["--faces", "0"], "--faces"),
    ("loader", ["--faces", ""], "comma-separated list of integers"),
    ("loader", ["--sizes", "-64"], "--sizes"),
    ("loader", ["--batch-size", "0"], "--batch-size"),
    ("loader", ["--prefetch", "0"], "--prefetch"),
    ("loader", ["--train-steps", "0"], "--train-steps"),
    ("loader", ["--device", NO_GPU], "CUDA device"),
    ("loader", ["--folder", "{tmp}/file"], "--folder"),
    ("loader", ["--cache-dir", "{tmp}/file/cache"], "--cache-dir"),
    ("loader", ["--results", "{tmp}"], "is a folder"),
    # bench.reproduce: --set values through bench.train's checks, seeds, stores, data and folders before a run
    ("reproduce", ["bregnext", "--set", "lr=-1"], "--lr"),
    ("reproduce", ["bregnext", "--set", "lr=inf"], "finite"),
    ("reproduce", ["bregnext", "--set", "augment_p=2"], "--augment-p"),
    ("reproduce", ["bregnext", "--set", "weight_decay=-1"], "--weight-decay"),
    ("reproduce", ["bregnext", "--set", "lr_gamma=-1"], "--lr-gamma"),
    ("reproduce", ["bregnext", "--set", "synth_nuisance=nan"], "--synth-nuisance"),
    ("reproduce", ["bregnext", "--set", "model=resnet32"], "expected KEY=VALUE"),
    ("reproduce", ["bregnext", "--seeds", "1,1"], "distinct seeds"),
    ("reproduce", ["bregnext", "--seeds", "-1"], "--seeds: must be at least 0"),
    ("reproduce", ["bregnext", "--results", ""], "--results ''"),
    ("reproduce", ["bregnext", "--tables", "10"], "not a table of this paper"),
    ("reproduce", ["bregnext2"], "invalid choice"),
    ("reproduce", ["bregnext", "--tables", "5", "--budget", "short", "--datasets", "fer2013", "--device", "cpu",
                   "--data", "fer2013={tmp}/none.csv"], "--data fer2013={tmp}/none.csv: FER2013 CSV not found"),
    ("reproduce", ["dacl", "--tables", "1", "--device", "cpu", "--checkpoint-dir", "{tmp}/file"],
     "--checkpoint-dir"),
    ("reproduce", ["bregnext", "--device", "gpu"], "argument --device: 'gpu' is not a device name"),
    ("reproduce", ["bregnext", "--tables", "7", "--device", NO_GPU], f"--device {NO_GPU}: "),
    ("reproduce", ["dacl", "--budget", "paper", "--data", "rafdb={tmp}/rafdb", "--dry-run"],
     "--data affectnet7=PATH, or keep to the runs on the data given with --datasets rafdb"),
    # python -m reports
    ("reports", ["--format", "html"], "html"),
    ("reports", ["{tmp}/missing.jsonl"], "no results store"),
    ("reports", ["{tmp}"], "is a folder"),
    ("reports", ["{tmp}/bad.jsonl", "--out-dir", "{tmp}/out"], "{tmp}/bad.jsonl:1: table gradient_flow"),
    ("reports", ["{tmp}/bad.jsonl", "--out-dir", "{tmp}/file"], "--out-dir {tmp}/file: is a file, not a folder"),
    # reports' --out is one file, as everywhere; the old folder meaning is refused, naming --out-dir
    ("reports", ["{tmp}/bad.jsonl", "--out", "{tmp}/out"], "--out {tmp}/out: has no suffix, as a folder"),
    ("reports", ["{tmp}/bad.jsonl", "--out", "{tmp}"], "--out {tmp}: is a folder; --out is one file"),
    ("reports", ["{tmp}/bad.jsonl", "--out", "{tmp}/file/t.md"], "is a file, not a folder"),
    ("reports", ["{tmp}/bad.jsonl", "--out", "{tmp}/t.md", "--format", "csv,json"], "holds one format"),
    ("reports", ["{tmp}/bad.jsonl", "--out", "{tmp}/t.tex", "--format", "latex"],
     "{tmp}/bad.jsonl:1: table gradient_flow"),
]


def _main(name: str):
    return importlib.import_module("reports.build" if name == "reports" else f"bench.{name}").main


@pytest.mark.parametrize("name, argv, needle", CASES, ids=[f"{c[0]}:{' '.join(c[1])}" for c in CASES])
def test_refused_in_one_line_before_any_work(name, argv, needle, tmp_path, monkeypatch, capsys):
    import torch

    if NO_GPU in argv and torch.cuda.device_count() > 7:
        pytest.skip("this machine has eight GPUs")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    (tmp_path / "file").write_text("not a folder\n")
    (tmp_path / "binary.csv").write_bytes(bytes(range(256)) * 4)
    ResultsStore(tmp_path / "bad.jsonl").append(make_row("gradflow", {"depth": 14}, {"loss": 1.0}))
    before = sorted(tmp_path.rglob("*"))
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    try:
        code = run_main(_main(name), argv) if name != "reports" else _main(name)(argv)
    except SystemExit as exc:  # argparse's refusal of an option's value
        code = exc.code
    err = capsys.readouterr().err
    program = "reports" if name == "reports" else f"bench.{name}"
    assert code not in (0, None), err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1 and err.startswith(f"{program}: error: "), err
    assert needle.replace("{tmp}", str(tmp_path)) in err
    assert sorted(tmp_path.rglob("*")) == before, "a refused run left a file behind"
