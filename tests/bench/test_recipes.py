"""bench.train --recipe: each paper's settings with their sources, flags that override them, the run's config that
records what was used, and one-line refusals of recipes that cannot run."""

import pytest
import torch

from bench import train
from bench.cli import run_main
from bench.data import make_synth
from bench.training.holdout import holdout_index
from bench.training.options import given_options, resolve
from bench.training.recipes import RECIPES
from harness.results_store import ResultsStore


def _resolved(*argv):
    parser = train.build_parser()
    args = parser.parse_args(list(argv))
    sources = resolve(args, given_options(parser, list(argv)), "cpu")
    return args, sources


def test_dry_run_lists_every_setting_with_its_source(capsys):
    argv = ["--recipe", "dacl", "--model", "tv_resnet18", "--data", "rafdb:/nowhere", "--lr", "0.02", "--dry-run"]
    assert run_main(train.main, argv) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:4]] for line in out.splitlines()
            if line.startswith("| --")}
    assert rows["--optimizer"] == ["sgd", "DACL Sec. 4.2"]
    assert rows["--decay-on"][0] == "all" and rows["--decay-on"][1].startswith("DACL code")
    assert rows["--augment"][0] == "dacl" and rows["--resize"] == ["256", "DACL Sec. 4.2"]
    assert rows["--epochs"] == ["60", "DACL Sec. 4.2"] and rows["--lr-step"] == ["20", "DACL Sec. 4.2"]
    assert rows["--lr"] == ["0.02", "given; the recipe's is 0.01 (DACL Sec. 4.2)"]
    assert rows["--holdout"][0] == "0.1" and rows["--holdout"][1].startswith("harness")
    assert not (capsys.readouterr().err) and "run key" in out


def test_per_data_set_and_per_network_settings():
    args, _ = _resolved("--recipe", "dacl", "--model", "tv_resnet18", "--data", "affectnet7:/x")
    assert (args.epochs, args.lr_step, args.lr_gamma) == (20, 5, 0.2)  # DACL's AffectNet schedule
    args, _ = _resolved("--recipe", "caf", "--model", "tv_alexnet_tuned", "--data", "affectnet:/x")
    assert (args.task, args.batch_size, args.epochs, args.method, args.loss) == ("dimensional", 256, 45, "caf", "av")
    assert tuple(args.adam_betas) == (0.5, 0.9) and args.weight_decay == 0.0 and args.momentum is None
    args, sources = _resolved("--recipe", "bregnet", "--data", "fer2013:/x")
    assert (args.optimizer, args.momentum, args.lr, args.loss) == ("sgd", 0.9, 0.01, "weighted_ce")
    assert sources["momentum"].source.startswith("TFLearn")


def test_a_flag_overrides_and_the_config_records_what_was_used():
    args, _ = _resolved("--recipe", "dacl", "--model", "tv_resnet18", "--data", "rafdb:/x", "--optimizer", "adam")
    config = train.run_config(args)
    assert config["recipe"] == "dacl" and config["optimizer"] == "adam" and "momentum" not in config
    assert config["decay_on"] == "all" and config["augment"] == "dacl" and config["holdout"] == 0.1
    assert config["resize"] == 256 and config["image_size"] == 224


@pytest.mark.parametrize("argv, message", [
    (["--recipe", "caf", "--data", "fer2013:x.csv"], "--recipe caf trains the dimensional task, not categorical"),
    (["--recipe", "dacl", "--task", "dimensional"], "--recipe dacl trains the categorical task, not dimensional"),
    (["--recipe", "dacl", "--model", "tv_resnet18", "--resize", "200"],
     "--resize 200 is smaller than --image-size 224"),
    (["--recipe", "bregnext", "--augment", "caf"], "--augment caf crops --image-size out of larger faces"),
])  # values out of an option's range: tests/bench/test_bad_train_inputs.py
def test_recipes_that_cannot_run_are_one_line_before_any_work(argv, message, capsys, tmp_path):
    code = run_main(train.main, [*argv, "--device", "cpu", "--checkpoint-dir", str(tmp_path / "ck")])
    err = capsys.readouterr().err.strip()
    assert code in (1, 2) and message in err and "Traceback" not in err, err
    assert not (tmp_path / "ck").exists()


def test_every_recipe_resolves_for_each_of_its_tasks():
    for name, recipe in RECIPES.items():
        for task in recipe.tasks:
            settings = recipe.resolve("tv_resnet18", "synth", task, train_faces=1000)
            assert {"epochs", "batch_size", "lr", "loss", "optimizer"} <= set(settings), name


def test_holdout_keeps_whole_groups_or_each_class_apart():
    ds = make_synth(200, size=16, num_classes=7, balance="fer2013")
    kept, out = holdout_index(ds, 0.1, seed=0, task="categorical")
    assert len(set(kept.tolist()) | set(out.tolist())) == 200 and not set(kept.tolist()) & set(out.tolist())
    for c in range(7):  # about a tenth of every class
        n = int((ds.labels == c).sum())
        assert int((ds.labels[out] == c).sum()) == round(n * 0.1)
    again, _ = holdout_index(ds, 0.1, seed=0, task="categorical")
    assert torch.equal(again, kept) and not torch.equal(holdout_index(ds, 0.1, 1, "categorical")[0], kept)
    ds.groups = torch.arange(200) // 10  # 20 videos of 10 frames
    kept, out = holdout_index(ds, 0.1, seed=0, task="dimensional")
    assert len(out) == 20 and not set(ds.groups[kept].tolist()) & set(ds.groups[out].tolist())


def test_holdout_picks_the_best_epoch_and_the_validation_pick_is_kept_apart(tmp_path):
    """With --holdout the epoch saved as best.pt is the held-out part's best; best_val.pt, the epoch the validation
    split would pick, gets its own evaluate row (checkpoint best_val)."""
    argv = ["--model", "bregnext14", "--image-size", "16", "--synth-train", "60", "--synth-val", "16", "--batch-size",
            "12", "--epochs", "3", "--holdout", "0.2", "--lr", "3e-3", "--results", str(tmp_path / "t.jsonl"),
            "--checkpoint-dir", str(tmp_path / "ck"), "--format", "json"]
    assert run_main(train.main, argv) == 0
    rows = ResultsStore(tmp_path / "t.jsonl").rows("train")
    held = [r["metrics"]["holdout_accuracy"] for r in rows]
    flags = [r["metrics"]["best_so_far"] for r in rows]
    assert flags == [i == 0 or held[i] > max(held[:i]) for i in range(3)]
    assert rows[0]["config"]["holdout"] == 0.2
    evaluated = {r["config"]["checkpoint"] for r in ResultsStore(tmp_path / "evaluate.jsonl").rows("evaluate")}
    assert evaluated == {"best", "best_val"}


def test_dry_run_footprint_counts_the_data_and_the_model(tmp_path, capsys):
    """The footprint of a run: its faces counted from the label files (nothing decoded), the bytes they take at the
    stored side, the path the run takes, and its weights, optimiser state and activations against one GPU."""
    from bench.loader import make_affectnet
    from bench.training.footprint import run_footprint

    folder = make_affectnet(tmp_path / "faces", 30)
    args, _ = _resolved("--recipe", "dacl", "--model", "tv_resnet18", "--data", f"affectnet7:{folder}")
    fp = run_footprint(train.run_config(args), "cuda")
    assert (fp["train"], fp["val"], fp["side"]) == (27, 3, 256) and fp["counted"].startswith("counted")  # 3 contempt
    assert fp["data_bytes"] == 30 * 3 * 256 * 256 and fp["path"] == "resident"
    attention = 512 * 7 * 7 * 3584 + 3584 * 512 + 512 * 64 + 64 * 1024  # the CE-Unit's weights, about
    assert fp["params"] == 11_180_616 - 8 * 513 + 7 * 513 and fp["extra_params"] > attention
    assert fp["state_bytes"] == (fp["params"] + fp["extra_params"]) * (8 + 4)  # weights, gradients, SGD momentum
    assert fp["device_bytes"] == fp["data_bytes"] + fp["state_bytes"] + fp["activation_bytes"]
    assert not list((tmp_path / "faces").rglob("*.u8"))  # nothing was decoded
    big, _ = _resolved("--recipe", "caf", "--model", "tv_resnet18", "--data", "affwild:/nowhere")
    fp = run_footprint(train.run_config(big), "cuda")  # Aff-Wild's published size: 197 GB at 256 px, streamed
    assert fp["train"] == 900_000 and fp["path"] == "stream" and fp["data_device_bytes"] < 2**30
    assert fp["device_bytes"] < fp["gpu_bytes"]


def test_footprint_activations_scale_with_the_batch_and_leave_the_weights_out():
    """Saved activations are per face, whatever the batch; the weights a convolution saves are not (counted once,
    as state). ResNet-18 at 32 px ends on 1x1 maps, where batch norm refuses a single face."""
    from bench.training.footprint import run_footprint

    fps = {}
    for batch in (2, 8):
        args, _ = _resolved("--recipe", "dacl", "--model", "tv_resnet18", "--image-size", "32", "--resize", "36",
                            "--batch-size", str(batch))
        fps[batch] = run_footprint(train.run_config(args), "cpu")
    assert fps[8]["activation_bytes"] == 4 * fps[2]["activation_bytes"]
    per_face = fps[2]["activation_bytes"] // 2
    assert 3 * 32 * 32 * 4 < per_face < fps[2]["params"] * 4  # at least the input, far below the weights
