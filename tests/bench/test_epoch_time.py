"""bench.epoch_time on the CPU with tiny epochs; the GPU timing itself skips without CUDA."""

import json
import statistics

import pytest
import torch

from bench import epoch_time
from bench.cli import run_main
from harness.results_store import ResultsStore
from reports.epoch_time import epoch_time_frame

TINY = ["--models", "bregnext26", "--epoch-size", "24", "--batch-size", "8", "--image-size", "32",
        "--epochs", "2", "--device", "cpu"]


def test_rows_and_skip(tmp_path, capsys):
    store = tmp_path / "epoch_time.jsonl"
    assert run_main(epoch_time.main, TINY + ["--results", str(store)]) == 0
    rows = ResultsStore(store).rows("epoch_time")
    assert [r["config"]["model"] for r in rows] == ["data-only", "bregnext26"]
    model_row = rows[1]
    assert model_row["config"]["bypass_impl"] == "eager" and model_row["config"]["device"] == "cpu"
    assert len(model_row["timings"]["epoch_s_all"]) == 2
    m = model_row["metrics"]
    assert m["images_per_s"] == pytest.approx(24 / m["epoch_s"]) and m["peak_gpu_mem_gib"] is None
    assert "needs --device cuda" in capsys.readouterr().err
    assert run_main(epoch_time.main, TINY + ["--results", str(store), "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)["rows"]
    measured = [p for p in printed if p["source"] == "measured"]
    assert [p["model"] for p in measured] == ["data-only", "bregnext26"]  # skipped, read back
    assert measured[1]["epoch_s"] == pytest.approx(m["epoch_s"])
    assert printed[-1]["source"].startswith("published") and printed[-1]["epoch_s"] == 750.21
    assert len(ResultsStore(store).rows()) == 2


def test_speedup_at_report_time_and_markdown_out(tmp_path):
    """The table holds the speed-up over the baseline timed with the same settings ('auto' picks eager on
    the CPU); the rows themselves hold only what was measured."""
    store, out = tmp_path / "e.jsonl", tmp_path / "table.md"
    args = TINY + ["--results", str(store), "--bypass-impls", "auto,eager", "--no-data-row", "--epochs", "1",
                   "--out", str(out)]
    assert run_main(epoch_time.main, args) == 0
    rows = ResultsStore(store).rows()
    assert [r["config"]["bypass_impl"] for r in rows] == ["eager", "auto"]
    assert not any(k.startswith("speedup") for r in rows for k in r["metrics"])
    eager, auto = (r["metrics"]["epoch_s"] for r in rows)
    assert f"{eager / auto:.4g}" in out.read_text() and "speedup_vs_eager" in out.read_text()
    assert "published" in out.read_text()


def test_executor_options_and_failed_cell(tmp_path, monkeypatch, capsys):
    """The shared executor options work here too: a failing cell is retried, reported and turned into the
    one-line error, and the cells that finished are kept."""
    def broken(*args, **kwargs):
        raise RuntimeError("no kernel")

    monkeypatch.setattr(epoch_time, "time_training", broken)
    store = tmp_path / "e.jsonl"
    assert run_main(epoch_time.main, TINY + ["--results", str(store), "--retries", "0", "--epochs", "1"]) == 1
    err = capsys.readouterr().err
    assert "1 of 2 cells failed (first: RuntimeError: no kernel)" in err.splitlines()[-1]
    assert [r["config"]["model"] for r in ResultsStore(store).rows()] == ["data-only"]


STEPS = ["--models", "bregnext26", "--epoch-size", "40", "--batch-size", "8", "--image-size", "32", "--steps", "4",
         "--warmup-steps", "1", "--device", "cpu", "--no-data-row"]


def test_step_budget_extrapolates_the_epoch(tmp_path, capsys):
    store = tmp_path / "e.jsonl"
    assert run_main(epoch_time.main, STEPS + ["--results", str(store), "--format", "json"]) == 0
    (row,) = ResultsStore(store).rows("epoch_time")
    assert row["config"]["steps"] == 4 and row["config"]["warmup_steps"] == 1 and "epochs" not in row["config"]
    m, t = row["metrics"], row["timings"]
    assert m["extrapolated"] is True and m["timed_steps"] == 4 and m["steps_per_epoch"] == 5
    assert m["step_s"] == pytest.approx(statistics.median(t["step_s_all"])) and len(t["step_s_all"]) == 2
    assert m["epoch_s"] == pytest.approx(40 / 8 * m["step_s"]) and m["images_per_s"] == pytest.approx(8 / m["step_s"])
    printed = json.loads(capsys.readouterr().out)["rows"]
    assert printed[0]["timed"] == "4 steps, extrapolated"


def test_time_steps_runs_warmup_then_whole_samples():
    seen = []
    times, peak = epoch_time.time_steps(seen.append, n=20, batch_size=8, steps=5, warmup_steps=3,
                                        device=torch.device("cpu"))
    assert len(seen) == 3 + 4 and len(times) == 2 and peak is None  # samples of 2 steps; the 5th is not timed
    assert all(len(idx) == 8 and len(set(idx.tolist())) == 8 and int(idx.max()) < 20 for idx in seen)
    assert epoch_time.steps_per_sample(100) == 10 and epoch_time.steps_per_sample(1) == 1


def test_gpu_defaults_are_step_budgets_and_epochs_stay_available():
    args = epoch_time.build_parser().parse_args(["--results", ""])
    epoch_time._settle(args, torch.device("cuda"))
    assert (args.steps, args.warmup_steps, args.epochs, args.n_images) == (100, 200, None, 287_651)
    assert len(args.models.split(",")) == 6
    args = epoch_time.build_parser().parse_args(["--epochs", "3", "--results", ""])
    epoch_time._settle(args, torch.device("cuda"))
    assert (args.epochs, args.warmup, args.steps, args.warmup_steps) == (3, 1, None, None)


@pytest.mark.parametrize("extra, message", [
    (["--epochs", "2"], "give one or the other"),
    (["--warmup", "1"], "--warmup counts epochs"),
    (["--epoch-size", "1"], "--epoch-size must be at least 2 images"),
])
def test_budget_errors(extra, message, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(epoch_time, "time_training", lambda *a, **k: pytest.fail("ran before checking arguments"))
    assert run_main(epoch_time.main, STEPS + ["--results", str(tmp_path / "e.jsonl"), *extra]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and "Traceback" not in "\n".join(err)


@pytest.mark.parametrize("option", ["--results", "--out"])
def test_unusable_paths_fail_before_any_work(option, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(epoch_time, "time_training", lambda *a, **k: pytest.fail("ran before checking paths"))
    (tmp_path / "taken").mkdir()
    (tmp_path / "file").write_text("x")
    for bad, message in ((tmp_path / "taken", "is a folder"), (tmp_path / "file" / "t.md", "is a file, not a folder")):
        argv = STEPS + ["--results", str(tmp_path / "e.jsonl"), option, str(bad)]
        assert run_main(epoch_time.main, argv) == 1
        err = capsys.readouterr().err.strip()
        assert f"{option} {bad}: " in err and message in err and "\n" not in err
    assert not (tmp_path / "e.jsonl").exists()


def test_time_training_dimensional():
    times, peak = epoch_time.time_training("bregnext26", "cpu", task="dimensional", n=16, batch_size=8, epochs=2,
                                           warmup=0, image_size=24)
    assert len(times) == 2 and all(t > 0 for t in times) and peak is None


def test_triton_skipped_for_non_eq8_bypass(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # lets the sweep get past the GPU check on the CPU
    store = tmp_path / "e.jsonl"
    args = TINY + ["--models", "resnet32", "--bypass-impls", "eager,triton", "--no-data-row", "--epochs", "1",
                   "--epoch-size", "8", "--results", str(store)]
    assert run_main(epoch_time.main, args) == 0
    assert [r["config"]["bypass_impl"] for r in ResultsStore(store).rows()] == ["eager"]
    assert "covers the Eq. 8 bypass only" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--bypass-impls", "triton"], "needs --device cuda"),
    (["--bypass-impls", "fast"], "unknown bypass implementation"),
    (["--models", "resnet7"], "unknown model"),
    (["--epoch-size", "imagenet"], "--epoch-size"),
])
def test_errors(tmp_path, capsys, monkeypatch, extra, message):
    if "triton" in extra and torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    monkeypatch.setenv("TRITON_INTERPRET", "0")  # the kernel tests' conftest turns the interpreter on
    assert run_main(epoch_time.main, TINY + ["--results", str(tmp_path / "e.jsonl"), *extra]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and "Traceback" not in "\n".join(err)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device: times an epoch on the GPU")
def test_gpu_epoch_with_triton(tmp_path):
    store = tmp_path / "e.jsonl"
    args = ["--models", "bregnext50", "--bypass-impls", "eager,triton", "--epoch-size", "2048", "--epochs", "1",
            "--results", str(store)]
    assert run_main(epoch_time.main, args) == 0
    rows = ResultsStore(store).rows()
    assert rows[-1]["metrics"]["peak_gpu_mem_gib"] > 0
    assert rows[-1]["config"]["amp"] == "bf16" and rows[-1]["config"]["channels_last"] is True
    frame = epoch_time_frame(rows)
    assert frame["speedup_vs_eager"].iloc[-2] > 0 and frame["meets_target"].iloc[-2] in (True, False)


# ---- the baselines: Eq. 8 as the authors write it ------------------------------------------------------------


def _cells(*argv):
    args = epoch_time.build_parser().parse_args([*argv, "--results", ""])
    epoch_time._settle(args, torch.device("cpu"))
    return epoch_time.cells(args, torch.device("cpu"))


def test_cells_label_what_each_implementation_computes(capsys):
    cells = {(c["model"], c["bypass_impl"]): c for c in _cells(
        "--models", "bregnext50,resnet32", "--bypass-impls", "eager,compile,eager_safe", "--device", "cpu",
        "--compile-backend", "aot_eager")}
    assert set(cells) == {("data-only", None), ("bregnext50", "eager"), ("bregnext50", "compile"),
                          ("bregnext50", "eager_safe"), ("resnet32", "eager"), ("resnet32", "compile")}
    assert cells["bregnext50", "eager"]["bypass_form"] == "authors' Eq. 8, eager"
    assert cells["bregnext50", "compile"]["bypass_form"] == "authors' Eq. 8, torch.compile"
    assert cells["bregnext50", "eager_safe"]["bypass_form"] == "safe Eq. 8, the model's eager path"
    assert cells["resnet32", "eager"]["bypass_form"] == "identity, eager"
    # a non-default compile backend is part of what was measured; other cells and the data row do not carry it
    assert cells["bregnext50", "compile"]["compile_backend"] == "aot_eager"
    assert "compile_backend" not in cells["bregnext50", "eager"] and "bypass_form" not in cells["data-only", None]
    assert "eager_safe is eager for a bypass other than Eq. 8" in capsys.readouterr().err


@pytest.mark.parametrize("impl, shortcut_impl", [("eager", "authors"), ("compile", "authors_compile"),
                                                  ("eager_safe", "eager"), ("auto", "auto")])
def test_each_implementation_sets_its_shortcuts(impl, shortcut_impl, monkeypatch):
    """The cell's implementation reaches every unit of the network it times (run_cell -> time_training)."""
    import breg_models
    from breg_models.bypass import Shortcut

    built, real = [], breg_models.create_model
    monkeypatch.setattr(breg_models, "create_model", lambda *a, **k: built.append(real(*a, **k)) or built[-1])
    monkeypatch.setattr(epoch_time, "time_steps", lambda *a, **k: ([1.0], None))
    config = {**_cells("--models", "bregnext26", "--bypass-impls", impl, "--device", "cpu", "--no-data-row",
                       "--compile-backend", "aot_eager")[0], "steps": 1, "warmup_steps": 0, "epoch_size": 4}
    epoch_time.run_cell(config)
    units = [m for m in built[0].modules() if isinstance(m, Shortcut)]
    assert units and {u.impl for u in units} == {shortcut_impl}
    if impl == "compile":
        assert {u.compile_backend for u in units} == {"aot_eager"}


def test_the_authors_form_is_what_eager_runs():
    """At alpha = 0 Eq. 8 as printed divides 0 by 0: the 'eager' baseline gives NaN there, the model's safe form
    H = x / (beta^2 + 1) -- so the two lines time different code, as their labels say."""
    from breg_models.bypass import Bypass, Shortcut

    x, r = torch.randn(1, 2, 4, 4), torch.zeros(1, 4, 2, 2)
    unit = Shortcut(Bypass("adaptive", alpha=0.0, beta=1.0), 2, 4, 2)
    unit.impl = "authors"
    assert torch.isnan(unit(x, r)[:, 1:3]).all()
    unit.impl = "eager"
    torch.testing.assert_close(unit(x, r)[:, 1:3], torch.nn.functional.avg_pool2d(x / 2, 2))
    with torch.no_grad():
        unit.bypass.alpha.fill_(0.7)
    unit.impl, unit.compile_backend = "authors_compile", "eager"
    compiled = unit(x, r)
    unit.impl = "authors"
    torch.testing.assert_close(compiled, unit(x, r))
    s = 2**0.5
    printed = torch.atan(0.7 * x / s) / (0.7 * s)  # Eq. 8 as printed, alpha 0.7, beta 1
    torch.testing.assert_close(unit(x, r)[:, 1:3], torch.nn.functional.avg_pool2d(printed, 2))


def test_speedups_compare_across_labels_and_the_table_shows_them(tmp_path):
    from harness.results_store import make_row

    common = {"model": "bregnext50", "device": "cuda", "epoch_size": 287_651, "batch_size": 128, "image_size": 64,
              "amp": "bf16", "channels_last": True, "steps": 100, "warmup_steps": 200, "seed": 0}
    forms = {"eager": ("authors' Eq. 8, eager", 40.0), "compile": ("authors' Eq. 8, torch.compile", 20.0),
             "eager_safe": ("safe Eq. 8, the model's eager path", 50.0), "triton": ("fused Triton op", 10.0)}
    rows = [make_row("epoch_time", {**common, "bypass_impl": impl, "bypass_form": form},
                     {"epoch_s": s, "images_per_s": 287_651 / s, "peak_gpu_mem_gib": 1.0, "extrapolated": True,
                      "timed_steps": 100}) for impl, (form, s) in forms.items()]
    frame = epoch_time_frame(rows).set_index("bypass_impl")
    assert frame.loc["triton", "speedup_vs_eager"] == 4.0 and frame.loc["triton", "speedup_vs_compile"] == 2.0
    assert frame.loc["triton", "speedup_vs_eager_safe"] == 5.0 and frame.loc["eager_safe", "speedup_vs_eager"] == 0.8
    assert frame.loc["compile", "bypass_form"] == "authors' Eq. 8, torch.compile"
    text = epoch_time.render_epoch_time(rows, "markdown")
    assert "authors' Eq. 8" in text and "as the authors' code writes it" in text
