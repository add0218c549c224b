"""`python -m bench.reproduce`: the runs behind each paper table, the budgets, one-line errors, --dry-run, and one
real smoke cell whose rows carry paper/budget and are skipped on a rerun."""

import shlex
from pathlib import Path

import pytest

from bench import paper_runs, reproduce, train
from bench.cli import run_main
from bench.reproduce import cell_options, cells, main, parse_args, train_config
from bench.training.options import given_options, resolve
from bench.training.recipes import HARNESS, RECIPES
from harness.results_store import ResultsStore

DATA = ["--data", "affectnet=data/affectnet", "--data", "fer2013=data/fer2013.csv", "--data", "affwild=data/affwild",
        "--data", "affectnet7=data/affectnet", "--data", "rafdb=data/rafdb", "--data", "afewva=data/afewva"]


def _cells(*argv):
    configs, tables = cells(parse_args([*argv, "--device", "cpu"]))
    return configs, tables


def _runs(configs):
    return {(c["model"], c["data"].partition(":")[0], c.get("synth_balance"), c["task"], c["loss"], c["bypass"])
            for c in configs}


def test_bregnext_tables_4_to_7_are_24_runs_and_share_bregnext50():
    configs, tables = _cells("bregnext")
    assert len(configs) == 24 == len(_runs(configs))  # every run once, none merged by the synth stand-ins
    assert {c["paper"] for c in configs} == {"bregnext"} and {c["budget"] for c in configs} == {"smoke"}
    by_table = {t: [c for c, feeds in zip(configs, tables, strict=True) if t in feeds] for t in "4567"}
    assert [len(by_table[t]) for t in "4567"] == [12, 2, 12, 2]
    assert {c["model"] for c in by_table["4"]} == set(paper_runs.TABLE1)
    assert {(c["num_classes"], c["synth_balance"]) for c in by_table["4"]} == {(8, "affectnet"), (7, "fer2013")}
    assert {(c["task"], c["loss"]) for c in by_table["6"]} == {("dimensional", "mse")}
    assert {c["synth_balance"] for c in by_table["6"]} == {"affectnet", "disk"}  # AffectNet and Aff-Wild stand-ins
    assert all(c["model"] == "bregnext50" and c in by_table["4"] for c in by_table["5"])


def test_bregnet_dacl_caf_runs_per_table():
    configs, tables = _cells("bregnet", "--budget", "paper", *DATA)
    table1 = [c for c, t in zip(configs, tables, strict=True) if "I" in t]
    assert len(table1) == 12 and {c["model"] for c in table1} == {paper_runs.BREGNET}
    assert {(c["loss"], c["bypass"]) for c in table1} == {(loss, f"bregnet_h{i}") for loss in ("ce", "weighted_ce")
                                                          for i in (1, 2, 3)}
    assert len(configs) == 12 + 2 + 4  # Table II adds ResNet-110 (regular loss); V-VII 2 networks x 2 data sets
    assert {t for t in tables for t in t} == {"I", "II", "III", "IV", "V", "VI", "VII"}
    only, feeds = _cells("bregnet", "--tables", "iv,Ii", "--budget", "paper", *DATA)  # any case, paper's order
    assert len(only) == 6 and {t for t in feeds for t in t} == {"II", "IV"}

    dacl, feeds = _cells("dacl")
    assert {(c["model"], c["loss"], c["num_classes"], c["synth_balance"], f) for c, f in zip(dacl, feeds, strict=True)
            } == {(m, loss, 7, balance, (t,)) for m in paper_runs.DACL_NETS for loss in ("ce", "center", "dacl")
                  for t, balance in (("1", "fer2013"), ("2", "affectnet"))}  # RAF-DB; AffectNet's 7 classes
    assert {(c["optimizer"], c["decay_on"], c["augment"], c["recipe"]) for c in dacl} == {
        ("sgd", "all", "dacl", "dacl")}
    assert {tuple(c["dacl_widths"]) for c in dacl if c["model"] == "tv_resnet18" and c["loss"] == "dacl"} == {
        (3584, 512, 64)}  # the paper's CE-Unit on ResNet-18
    caf, feeds = _cells("caf")
    runs = {(c["model"], c["synth_balance"], c["caf_adversary"], c["caf_margin"]): f
            for c, f in zip(caf, feeds, strict=True)}
    # Tables 1-3: 3 networks x 3 data sets; Table 4: 2 networks x 6 more (no critic, 3 critics, 2 margins)
    assert len(runs) == len(caf) == 21 and {c["method"] for c in caf} == {"caf"}
    assert runs[("tv_resnet18", "affectnet", "caf", "adaptive")] == ("1", "4")  # one run feeds both tables
    assert runs[("bregnext50", "uniform", "caf", "adaptive")] == ("2",)  # AFEW-VA's stand-in
    assert runs[("tv_alexnet_tuned", "disk", "caf", "adaptive")] == ("3",)  # Aff-Wild's
    table4 = {(k[0], k[2], k[3]) for k, f in runs.items() if f[-1] == "4"}
    assert table4 == {(m, adversary, margin) for m in ("tv_resnet18", "tv_alexnet_tuned") for adversary, margin in (
        ("none", "adaptive"), ("fishergan", "adaptive"), ("spheregan", "adaptive"), ("gramnet", "adaptive"),
        ("caf", "constant:0.2"), ("caf", "linear:0.1,0.005"), ("caf", "adaptive"))}
    assert {c["image_size"] for c in caf if c["model"] == "tv_alexnet_tuned"} == {64}  # AlexNet needs 63 px
    only, feeds = _cells("caf", "--models", "bregnext*", "--datasets", "affwild")
    assert [(c["model"], c["synth_balance"]) for c in only] == [("bregnext50", "disk")] and feeds == [("3",)]


def test_budget_settings():
    smoke, _ = _cells("bregnext", "--tables", "5")
    assert all(c["data"] == "synth" and c["epochs"] == 1 and c["image_size"] == 16 and c["synth_train"] == 64
               for c in smoke)
    short, _ = _cells("bregnext", "--tables", "5", *DATA)  # --data alone means short
    assert {c["budget"] for c in short} == {"short"} and all(c["epochs"] == reproduce.SHORT_EPOCHS for c in short)
    assert {c["data"] for c in short} == {f"affectnet:{Path('data/affectnet').absolute()}",
                                         f"fer2013:{Path('data/fer2013.csv').absolute()}"}
    assert not any(key.startswith("synth_") for c in short for key in c)
    paper, _ = _cells("bregnext", "--tables", "5", "--budget", "paper", *DATA)
    assert all((c["epochs"], c["batch_size"], c["lr"], c["lr_gamma"], c["lr_step"], c["image_size"], c["loss"]) ==
               (100, 128, 1e-4, 0.8, 10, 64, "focal") for c in paper)
    dacl, _ = _cells("dacl", "--budget", "paper", *DATA)
    assert {(c["model"], c["data"].partition(":")[0], c["epochs"], c["lr"], c["lr_gamma"], c["lr_step"],
             c["weight_decay"], c["batch_size"], c["image_size"]) for c in dacl} == {
        (m, data, epochs, 0.01, gamma, step, 5e-4, 128, 64 if m == "bregnext50" else 224)
        for m in paper_runs.DACL_NETS
        for data, epochs, gamma, step in (("rafdb", 60, 0.1, 20), ("affectnet7", 20, 0.2, 5))}
    caf, _ = _cells("caf", "--budget", "paper", *DATA)
    # epochs that cover the paper's iterations at each network's batch: 50k x 128 / 287,651 AffectNet faces -> 23
    assert {(c["model"], c["data"].partition(":")[0], c["epochs"], c["batch_size"]) for c in caf
            if c["model"] != "bregnext50"} == {
        ("tv_resnet18", "affectnet", 23, 128), ("tv_alexnet_tuned", "affectnet", 45, 256),
        ("tv_resnet18", "afewva", 267, 128), ("tv_alexnet_tuned", "afewva", 534, 256),
        ("tv_resnet18", "affwild", 15, 128), ("tv_alexnet_tuned", "affwild", 29, 256)}
    assert {(c["lr_step"], c["lr_step_unit"], c["lr_gamma"], c["weight_decay"], tuple(c["adam_betas"]))
            for c in caf} == {(10_000, "iter", 0.8, 0.0, (0.5, 0.9))}
    for paper in paper_runs.PAPER_NAMES:  # every setting names where it comes from
        recipe = RECIPES[paper]
        settings = [*recipe.settings.values(), *recipe.losses.values(), *recipe.epochs.values(),
                    *recipe.iterations.values(), *(s for d in (*recipe.per_data.values(), *recipe.per_model.values())
                                                    for s in d.values())]
        origins = ("BReG-NeXt ", "BReG-Net ", "DACL ", "CAF ", "TFLearn's ", HARNESS)
        assert all(s.source.startswith(origins) for s in settings), paper
    amp, _ = _cells("bregnext", "--tables", "5", "--set", "amp=bf16", "--set", "channels_last=true",
                    "--set", "epochs=2")
    assert all(c["amp"] == "bf16" and c["channels_last"] is True and c["epochs"] == 2 == c["epoch"] for c in amp)


def test_seeds_train_every_run_once_each():
    one, feeds = _cells("dacl", "--tables", "1")
    three, feeds3 = _cells("dacl", "--tables", "1", "--seeds", "0,1,2")
    assert len(three) == 3 * len(one) and feeds3 == [f for f in feeds for _ in range(3)]
    assert [c["seed"] for c in three[:3]] == [0, 1, 2]
    assert {k: v for k, v in three[1].items() if k != "seed"} == {k: v for k, v in one[0].items() if k != "seed"}
    with pytest.raises(Exception, match="--seeds takes distinct seeds"):
        _cells("dacl", "--seeds", "1,1")


def test_a_cell_config_is_what_its_bench_train_command_writes():
    """The cell's config must equal the last epoch row bench.train writes, or a rerun could never skip it."""
    for paper in paper_runs.PAPER_NAMES:
        for config in _cells(paper, "--budget", "paper", *DATA)[0] + _cells(paper)[0]:
            tags = {k: config[k] for k in reproduce.TAGS if k in config}
            assert train_config(cell_options(config), tags) == config
            # a smoke run's synth data says which real set it stands for; real data needs no such tag
            assert ("stands_for" in config) == (config["budget"] == "smoke")


@pytest.mark.parametrize("argv, message", [
    (["bregnext", "--budget", "short"], "--budget short needs the real data: give --data affectnet=PATH "
                                        "--data fer2013=PATH --data affwild=PATH"),
    (["bregnext", "--tables", "5", "--budget", "paper", "--data", "fer2013=x.csv"], "give --data affectnet=PATH"),
    (["bregnext", "--tables", "4,10"], "bregnext Table 10 is not a table of this paper; tables this command "
                                       "trains: 4, 5, 6, 7"),
    (["bregnext", "--tables", "8"], "python -m bench.ablation --preset table8"),
    (["dacl", "--tables", "3"], "dacl Table 3 is not a table of this paper; tables this command trains: 1, 2"),
    (["bregnext", "--budget", "smoke", "--data", "affectnet=x"], "--budget smoke trains on synth stand-ins"),
    (["bregnext", "--budget", "short", "--data", "ckplus=x"], "--data ckplus=x: expected NAME=PATH"),
    (["bregnext", "--set", "model=resnet32"], "--set model=resnet32: expected KEY=VALUE"),
    (["bregnext", "--set", "amp=fp8"], "--set: argument --amp: invalid choice"),
    (["bregnext", "--models", "vgg*"], "no run of bregnext Tables 4, 5, 6, 7 matches"),
])
def test_user_errors_are_one_line(argv, message, capsys, tmp_path):
    assert run_main(main, [*argv, "--device", "cpu", "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not Path("results").exists()


def test_unknown_paper_is_refused_by_argparse(capsys):
    with pytest.raises(SystemExit):
        parse_args(["bregnext2"])
    assert "invalid choice: 'bregnext2'" in capsys.readouterr().err


def test_under_torchrun_it_says_what_to_run_instead(monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert run_main(main, ["bregnext", "--device", "cpu"]) == 1
    err = capsys.readouterr().err.strip()
    assert "--executor ray" in err and "torchrun" in err and len(err.splitlines()) == 1


def test_dry_run_prints_each_cell_as_its_bench_train_command(capsys):
    assert main(["caf", "--budget", "paper", *DATA, "--device", "cuda", "--dry-run"]) == 0
    out = capsys.readouterr().out
    commands = [line for line in out.splitlines() if line.startswith("python -m bench.train")]
    assert len(commands) == 21 and "| --adam-betas" in out and "CAF code (src/main.py)" in out
    assert "on an 80 GB GPU" in out and "DOES NOT FIT" not in out  # every run fits one GPU
    configs, tables = cells(parse_args(["caf", "--budget", "paper", *DATA, "--device", "cuda"]))
    for line, config, feeds in zip(commands, configs, tables, strict=True):
        words = shlex.split(line, comments=True)
        assert words[:3] == ["python", "-m", "bench.train"] and line.endswith(f"# Table{'s' * (len(feeds) > 1)} "
                                                                              f"{','.join(feeds)}")
        parser = train.build_parser()
        args = parser.parse_args(words[3:])
        resolve(args, given_options(parser, words[3:]), "cuda")
        assert {**train.run_config(args), "paper": "caf", "budget": "paper", "epoch": args.epochs} == config
        assert args.results == "results/train.jsonl" and args.checkpoint_dir == "checkpoints"
    assert not Path("results").exists() and not Path("checkpoints").exists()  # nothing ran


def test_a_gpu_number_reaches_the_commands_and_the_runs_but_not_the_configs(monkeypatch, capsys, tmp_path):
    """--device cuda:1 plans on a machine without that GPU (a dry run runs nothing); the printed commands and each
    run's bench.train get cuda:1, while the cell's config keeps 'cuda', as bench.train's run config does."""
    assert main(["dacl", "--tables", "1", "--device", "cuda:1", "--dry-run"]) == 0
    commands = [line for line in capsys.readouterr().out.splitlines() if line.startswith("python -m bench.train")]
    assert len(commands) == 6 and all(" --device cuda:1 " in line for line in commands)
    configs, _ = cells(parse_args(["dacl", "--tables", "1", "--device", "cuda:1"]))
    assert {c["device"] for c in configs} == {"cuda"}
    seen = []
    monkeypatch.setattr(train, "main", lambda argv: seen.append(argv) or 0)
    with pytest.raises(IndexError):  # the stub prints no row: only its argv is of interest here
        reproduce.run_cell(configs[0], results=str(tmp_path / "t.jsonl"), checkpoint_dir=str(tmp_path),
                           device="cuda:1")
    argv = seen[0]
    assert argv[len(argv) - 1 - argv[::-1].index("--device") + 1] == "cuda:1"  # the last --device wins


def test_reports_command_names_the_stores_when_not_default(tmp_path):
    assert reproduce.reports_command(Path("results/train.jsonl").absolute()) == "python -m reports"
    store = tmp_path / "elsewhere" / "t.jsonl"
    assert reproduce.reports_command(store) == f"python -m reports {store} {store.with_name('evaluate.jsonl')}"


def test_smoke_cell_lands_tagged_rows_and_a_rerun_skips_it(capsys):
    """One real cell (BReG-Net-32 on the Aff-Wild stand-in, shrunk further): its epoch and evaluate rows carry
    paper and budget; a rerun trains nothing; a lost evaluate row alone is written again, no epoch retrained."""
    argv = ["bregnext", "--tables", "6", "--models", "bregnet32", "--datasets", "affwild", "--set", "synth_train=16",
            "--set", "synth_val=8", "--set", "batch_size=8", "--device", "cpu",
            "--format", "csv"]
    assert main(argv) == 0
    first = capsys.readouterr()
    epochs = ResultsStore("results/train.jsonl").rows("train")
    evaluated = ResultsStore("results/evaluate.jsonl").rows("evaluate")
    # the recipe holds out a tenth of the training set: best.pt is its pick, best_val.pt the validation split's
    assert len(epochs) == 1 and [r["config"]["checkpoint"] for r in evaluated] == ["best", "best_val"]
    (config,) = _cells(*argv[:-2])[0]
    assert epochs[0]["config"] == config and config["paper"] == "bregnext" and config["budget"] == "smoke"
    assert {k: evaluated[0]["config"][k] for k in ("paper", "budget", "split", "checkpoint")} == {
        "paper": "bregnext", "budget": "smoke", "split": "val", "checkpoint": "best"}
    assert "bregnet32" in first.out and "1 runs trained, 0 already stored" in first.err
    assert "python -m reports" in first.err

    assert main(argv) == 0
    assert "0 runs trained, 1 already stored" in capsys.readouterr().err
    assert len(Path("results/train.jsonl").read_text().splitlines()) == 1

    Path("results/evaluate.jsonl").unlink()  # killed after the last epoch, before the evaluate row
    assert main(argv) == 0
    assert "1 runs trained" in capsys.readouterr().err
    assert len(ResultsStore("results/train.jsonl").rows("train")) == 1  # no epoch trained again
    assert len(ResultsStore("results/evaluate.jsonl").rows("evaluate")) == 2


def test_dacl_and_caf_smoke_runs_fill_their_tables(capsys):
    """Each system end to end on synth stand-ins: DACL's ResNet-18 (softmax, center loss and DACL) and CAF's tuned
    AlexNet (Table 1, the Delta run); their evaluate rows are the tables' measured lines. Table 4's seven runs are
    the Table 1 run's with one CAF option changed each (trained end to end by bench.ablation's caf_table4 test)."""
    import json

    from bench.paper_runs import CAF_TABLE4, method_options
    from reports.dacl_caf_tables import render_caf_table1, render_dacl_table1, render_dacl_table2

    small = ["--set", "synth_train=16", "--set", "synth_val=8", "--set", "batch_size=8", "--device", "cpu"]
    assert main(["dacl", "--tables", "1", "--models", "tv_resnet18", *small]) == 0
    assert main(["caf", "--tables", "1", "--models", "tv_alexnet_tuned", *small]) == 0
    assert "1 runs trained" in capsys.readouterr().err
    rows = [r for r in ResultsStore("results/evaluate.jsonl").rows("evaluate") if r["config"]["checkpoint"] == "best"]
    assert len(rows) == 4
    # the RAF-DB stand-ins land in DACL Table 1 (RAF-DB), labelled as such, not in Table 2 (AffectNet)
    dacl = [r for r in json.loads(render_dacl_table1(rows, "json"))["rows"] if r["Source"] == "measured"]
    assert {r["Method"] for r in dacl} == {f"ResNet-18 (torchvision) + {m}" for m in ("DACL", "softmax loss",
                                                                                   "center loss")}
    assert all("synth stand-in for RAF-DB" in r["Run"] and r["Accuracy (%) (pub.)"] is None for r in dacl)
    assert not [r for r in json.loads(render_dacl_table2(rows, "json"))["rows"] if r["Source"] == "measured"]
    caf = [r for r in json.loads(render_caf_table1(rows, "json"))["rows"] if r["Source"] == "measured"]
    assert {r["Method"] for r in caf} == {"AlexNet (tuned, CAF) + CAF (Delta)"}
    (table1,), _ = cells(parse_args(["caf", "--tables", "1", "--models", "tv_alexnet_tuned", *small]))
    table4, _ = cells(parse_args(["caf", "--tables", "4", "--models", "tv_alexnet_tuned", *small]))
    assert [{k: v for k, v in c.items() if c[k] != table1.get(k)} for c in table4] == [
        {k: v for k, v in method_options(m).items() if table1.get(k) != v} for m in CAF_TABLE4]
    assert all(0 < r["RMSE Valence"] < 2 for r in caf)
