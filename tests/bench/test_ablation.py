"""`python -m bench.ablation`: cells per (model, bypass, seed), learned alpha/beta, seed statistics."""

import pandas as pd
import pytest

from bench.ablation import PRESETS, cells, learned_bypass, main, parse_args
from breg_models import create_model
from harness.results_store import ResultsStore
from reports.ablation import ablation_frame


def test_presets_cover_the_papers_tables():
    args = parse_args(["--preset", "table8", "table9", "bregnet", "scaled", "--seeds", "0,1", "--device", "cpu"])
    todo = cells(args)
    assert len(todo) == 2 * (4 + 2 * 2 + 3 + 5)
    assert {c["bypass"] for c in todo if c["preset"] == "scaled"} == set(PRESETS["scaled"][1])


def test_learned_bypass_reads_every_unit():
    state = create_model("bregnext26", alpha_init=0.5).state_dict()
    out = learned_bypass(state)
    assert out["alpha"] == [0.5] * 12 and out["beta"] == [1.0] * 12
    assert learned_bypass(create_model("bregnet32").state_dict()) == {"alpha": [], "beta": []}


def _row(bypass, seed, acc, alpha=()):
    return {"config": {"preset": "table8", "reference": "adaptive", "model": "bregnext50", "bypass": bypass,
                       "seed": seed, "task": "categorical"},
            "metrics": {"accuracy": acc, "alpha": list(alpha), "beta": list(alpha)}}


def test_seed_statistics_and_paired_test():
    rows = [_row("adaptive", s, 0.70 + 0.001 * s, [0.5, 0.8, 1.2]) for s in range(4)]
    rows += [_row("bregnext_h1", s, 0.60 + 0.002 * s) for s in range(4)]
    rows += [_row("bregnext_h2", s, 0.70 + 0.001 * s + (0.002 if s % 2 else -0.002)) for s in range(4)]
    frame = ablation_frame(rows).set_index("variant")
    assert frame.loc["adaptive", "mean"] == pytest.approx(0.7015)
    assert frame.loc["bregnext_h1", "exceeds_seed_noise"] and frame.loc["bregnext_h1", "p_value"] < 1e-3
    assert not frame.loc["bregnext_h2", "exceeds_seed_noise"]
    assert frame.loc["adaptive", "alpha_early"] == pytest.approx(0.5) and frame.loc["adaptive", "alpha_deep"] == 1.2
    assert frame.loc["bregnext_h1", "published_affectnet"] == pytest.approx(0.6409)


@pytest.mark.slow
def test_tiny_ablation_run(tmp_path, capsys):
    store = tmp_path / "a.jsonl"
    assert main(["--preset", "table9", "--models", "bregnext14", "--seeds", "0,1", "--epochs", "1",
                 "--batch-size", "8", "--image-size", "16", "--synth-train", "16", "--synth-val", "16",
                 "--device", "cpu", "--results", str(store), "--format", "csv"]) == 0
    rows = ResultsStore(store).rows("ablation")
    assert len(rows) == 4
    adaptive = [r for r in rows if r["config"]["bypass"] == "adaptive"]
    assert all(len(r["metrics"]["alpha"]) == 6 for r in adaptive)
    fixed = [r for r in rows if r["config"]["bypass"].startswith("fixed")]
    assert all(r["metrics"]["alpha"] == [1.0] * 6 and r["metrics"]["beta"] == [0.0] * 6 for r in fixed)
    assert "bregnext14" in capsys.readouterr().out


def test_caf_table4_cells_vary_the_method_on_cafs_encoders():
    todo = cells(parse_args(["--preset", "caf_table4", "--seeds", "0,1", "--device", "cpu"]))
    assert len(todo) == 2 * 7 * 2
    assert {(c["model"], c["variant"], c.get("method"), c.get("caf_margin"), c.get("caf_adversary", "caf"))
            for c in todo} == {
        (m, v, "caf", margin, adversary) for m in ("tv_resnet18", "tv_alexnet_tuned") for v, margin, adversary in (
            ("caf|caf_adversary=none", "adaptive", "none"), ("caf|caf_adversary=fishergan", "adaptive", "fishergan"),
            ("caf|caf_adversary=spheregan", "adaptive", "spheregan"),
            ("caf|caf_adversary=gramnet", "adaptive", "gramnet"),
            ("caf|caf_margin=constant:0.2", "constant:0.2", "caf"),
            ("caf|caf_margin=linear:0.1,0.005", "linear:0.1,0.005", "caf"), ("caf", "adaptive", "caf"))}
    assert all(c["task"] == "dimensional" and c["loss"] == "av" and c["image_size"] == 64 and "bypass" not in c
               and c["reference"] == "caf" for c in todo)
    # the bypass presets' cells are what they were (their stored rows still match)
    (old,) = cells(parse_args(["--preset", "table8", "--seeds", "0", "--models", "bregnext26", "--device", "cpu"]))[:1]
    assert set(old) == {"preset", "reference", "model", "bypass", "seed", "task", "data", "epochs", "batch_size",
                        "image_size", "device", "amp", "bypass_impl", "synth_train", "synth_val"}
    assert old["task"] == "categorical" and old["image_size"] == 32


@pytest.mark.parametrize("argv, message", [
    (["--task", "categorical"], "--preset caf_table4 trains valence and arousal"),
    (["--image-size", "32"], "--image-size 32 is too small for tv_alexnet_tuned"),
])
def test_caf_table4_refusals_before_any_cell(argv, message, tmp_path, capsys):
    from bench.cli import run_main

    assert run_main(main, ["--preset", "caf_table4", "--device", "cpu", "--results", str(tmp_path / "a.jsonl"),
                           *argv]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "a.jsonl").exists()


def _caf_row(variant, seed, rmse):
    return {"config": {"preset": "caf_table4", "reference": "caf", "model": "tv_resnet18",
                       "variant": variant, "seed": seed, "task": "dimensional"},
            "metrics": {"rmse_valence": rmse, "rmse_arousal": rmse, "ccc_valence": 0.5, "ccc_arousal": 0.4,
                        "alpha": [], "beta": []}}


def test_caf_table4_statistics_and_published_cells():
    from reports import published

    none, fisher = "caf|caf_adversary=none", "caf|caf_adversary=fishergan"
    rows = [_caf_row("caf", s, 0.30 + 0.001 * s) for s in range(3)]
    rows += [_caf_row(none, s, 0.40 + 0.001 * s) for s in range(3)]
    rows += [_caf_row(fisher, s, 0.35) for s in range(3)]
    frame = ablation_frame(rows).set_index(["variant", "metric"])
    assert len(frame) == 3 * 4
    assert frame.loc[(none, "rmse_valence"), "mean"] == pytest.approx(0.401)
    assert frame.loc[(none, "rmse_valence"), "exceeds_seed_noise"]  # 0.1 apart, seeds paired
    pub = lambda row, col: published.lookup("caf", 4, row, f"affectnet_{col}")["value"]
    assert frame.loc[(none, "rmse_arousal"), "published_affectnet"] == pub("adversarial_resnet18_no_critic",
                                                                           "rmse_arousal")
    assert frame.loc[(fisher, "rmse_arousal"), "published_affectnet"] == pub("adversarial_resnet18_fishergan",
                                                                             "rmse_arousal")
    assert frame.loc[("caf", "ccc_valence"), "published_affectnet"] == pub("ours_delta_resnet18", "ccc_valence")
    assert pd.isna(frame.loc[("caf", "ccc_valence"), "p_value"])  # the reference itself


def test_tiny_caf_table4_run(tmp_path, capsys):
    """The preset end to end on the tuned AlexNet: seven bench.train runs (no critic, three other critics, three
    margins), one row each."""
    from bench.paper_runs import CAF_TABLE4

    store = tmp_path / "a.jsonl"
    assert main(["--preset", "caf_table4", "--models", "tv_alexnet_tuned", "--seeds", "0", "--epochs", "1",
                 "--batch-size", "8", "--image-size", "64", "--synth-train", "16", "--synth-val", "16",
                 "--device", "cpu", "--results", str(store), "--format", "csv"]) == 0
    rows = ResultsStore(store).rows("ablation")
    assert sorted(r["config"]["variant"] for r in rows) == sorted(CAF_TABLE4)
    assert all(r["metrics"]["rmse_valence"] is not None and r["metrics"]["alpha"] == [] for r in rows)
    out = capsys.readouterr().out
    assert "caf|caf_margin=linear:0.1,0.005" in out and "rmse_arousal" in out
