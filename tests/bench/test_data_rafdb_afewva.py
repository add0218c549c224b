"""RAF-DB, AFEW-VA and AffectNet-7 loaders on tiny files written in tmp_path, and bench.train on RAF-DB/AFEW-VA."""

import json

import numpy as np
import pytest
import torch

from bench import train
from bench.cli import run_main
from bench.data import AFFECTNET7_CLASSES, RAFDB_CLASSES, DataError, load_dataset
from bench.data.affectnet import COLUMNS
from harness.results_store import ResultsStore

Image = pytest.importorskip("PIL.Image", reason="Pillow reads the image fixtures")


def _image(path, colour, size=8):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), colour, dtype=np.uint8)).save(path)


# RAF-DB ---------------------------------------------------------------------------------------------------------

RAF_LINES = {"train_00001.jpg": 5, "train_00002.jpg": 1, "train_00003.jpg": 7, "test_0001.jpg": 4, "test_0002.jpg": 2}


@pytest.fixture
def rafdb(tmp_path):
    root = tmp_path / "RAF"
    basic = root / "basic"
    for i, name in enumerate(RAF_LINES):  # red channel 40 * (i + 1) tells the images apart
        _image(basic / "Image" / "aligned" / name.replace(".jpg", "_aligned.jpg"), (40 * (i + 1), 0, 0))
    labels = basic / "EmoLabel" / "list_patition_label.txt"
    labels.parent.mkdir(parents=True)
    labels.write_text("".join(f"{name} {label}\n" for name, label in RAF_LINES.items()))
    return root


def _reds(ds):
    return sorted(round(v / 40) for v in ds.images[:, 0].float().mean((1, 2)).tolist())


def test_rafdb_labels_splits_and_both_paths(rafdb):
    train_ds = load_dataset(f"rafdb:{rafdb}", "train", size=16)
    assert train_ds.images.shape == (3, 3, 16, 16) and train_ds.num_classes == 7
    assert train_ds.labels.tolist() == [4, 0, 6]  # RAF-DB's 1..7 as 0..6, its own order
    assert [train_ds.class_names[i] for i in train_ds.labels] == ["sadness", "surprise", "neutral"]
    assert RAFDB_CLASSES[0] == "surprise" and RAFDB_CLASSES[6] == "neutral"
    test_ds = load_dataset(f"rafdb:{rafdb / 'basic'}", "test", size=16)  # the basic folder itself works too
    assert test_ds.labels.tolist() == [3, 1] and test_ds.tasks == ("categorical",)
    assert set(_reds(train_ds)).isdisjoint(_reds(test_ds)) and _reds(train_ds) + _reds(test_ds) == [1, 2, 3, 4, 5]
    val = load_dataset(f"rafdb:{rafdb}", "val", size=16)  # RAF-DB has no val set: val is its test set, said so
    assert torch.equal(val.images[:], test_ds.images[:]) and "test set" in val.info["note"]  # [:] reads a disk set


@pytest.mark.parametrize("line, error", [
    ("train_00009.jpg 8", "label 8 is outside 1..7"),
    ("train_00009.jpg 0", "label 0 is outside 1..7"),
    ("train_00009.jpg x", "label 'x' is not an integer"),
    ("train_00009.jpg", "expected 'NAME LABEL', got 1 fields"),
    ("train_00009.jpg 3 1", "expected 'NAME LABEL', got 3 fields"),
    ("val_0001.jpg 3", "image name .val_0001.jpg. starts with neither train_ nor test_"),
    ("train_00002.jpg 3", "train_00002.jpg is listed twice \\(first at line 2\\)"),
    ("train_/../../../x.jpg 3", "image path 'train_/../../../x.jpg' leaves the data folder"),
    ("/tmp/train_1.jpg 3", "image path '/tmp/train_1.jpg' leaves the data folder"),
])
def test_rafdb_bad_lines_name_file_and_line(rafdb, line, error):
    labels = rafdb / "basic" / "EmoLabel" / "list_patition_label.txt"
    labels.write_text(labels.read_text() + "\n" + line + "\n")  # a blank line 6 is skipped; line 7 is bad
    with pytest.raises(DataError, match=rf"list_patition_label.txt:7: {error}") as info:
        load_dataset(f"rafdb:{rafdb}", "test")
    assert "\n" not in str(info.value)


def test_rafdb_missing_files(rafdb, tmp_path):
    (rafdb / "basic" / "Image" / "aligned" / "test_0002_aligned.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"list_patition_label.txt:5: image not found: .*test_0002_aligned"):
        load_dataset(f"rafdb:{rafdb}", "test")
    with pytest.warns(UserWarning, match="skipped 1 test lines"):
        ds = load_dataset(f"rafdb:{rafdb}", "test", skip_missing=True)
    assert ds.labels.tolist() == [3] and ds.info["skipped"] == {"missing or unreadable image": 1}
    with pytest.raises(FileNotFoundError, match="RAF-DB label file not found: .*basic/EmoLabel/list_patition_label"):
        load_dataset(f"rafdb:{tmp_path / 'nothing'}")
    with pytest.raises(ValueError, match="unknown split 'all'"):
        load_dataset(f"rafdb:{rafdb}", "all")


# AFEW-VA --------------------------------------------------------------------------------------------------------

CLIPS = {"001": "Actor A", "002": "Actor A", "003": "Actor B", "004": "Actor C", "005": "Actor D"}


def _clip(root, clip, actor, values, landmarks=((2, 2), (6, 6))):
    folder = root / clip
    frames = {}
    for k, (v, a) in enumerate(values):
        key = f"{k:05d}"
        frame = np.zeros((16, 16, 3), dtype=np.uint8)
        frame[:, :8, 0] = 250  # the face (landmarks) in the red left half, the blue right half around it
        frame[:, 8:, 2] = 250
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(frame).save(folder / f"{key}.png")
        frames[key] = {"valence": v, "arousal": a, "landmarks": [list(p) for p in landmarks]}
    (folder / f"{clip}.json").write_text(json.dumps({"actor": actor, "frames": frames}, indent=1))


@pytest.fixture
def afewva(tmp_path):
    root = tmp_path / "afewva"
    for n, (clip, actor) in enumerate(CLIPS.items()):
        _clip(root, clip, actor, [(n, -n), (10, -10), (-3, 7)])
    return root


def test_afewva_scaling_crop_and_dimensional_only(afewva):
    ds = load_dataset(f"afewva:{afewva}", "all", size=8)
    assert len(ds) == 15 and ds.labels is None and ds.tasks == ("dimensional",)
    assert torch.allclose(ds.va[:6], torch.tensor([[0.0, 0.0], [1.0, -1.0], [-0.3, 0.7]] * 2) + torch.tensor(
        [[0.0, 0.0]] * 3 + [[0.1, -0.1], [0.0, 0.0], [0.0, 0.0]]))  # clip 002 starts at (1, -1) / 10
    assert ds.images[:, 0].float().mean() > 200 and ds.images[:, 2].float().mean() < 20  # cropped to the face
    whole = load_dataset(f"afewva:{afewva}", "all", size=8, crop=False)
    assert 100 < whole.images[:, 2].float().mean() < 150
    with pytest.raises(ValueError, match="afewva has no categorical labels"):
        ds.targets("categorical")
    with pytest.raises(ValueError, match="AFEW-VA has no test split"):
        load_dataset(f"afewva:{afewva}", "test")
    assert len(load_dataset(f"afewva:{afewva}", "all", stride=2)) == 10


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_afewva_split_holds_out_whole_actors(afewva, seed):
    train_ds = load_dataset(f"afewva:{afewva}", "train", seed=seed)
    val = load_dataset(f"afewva:{afewva}", "val", seed=seed)
    assert set(train_ds.info["clips"]).isdisjoint(val.info["clips"])
    assert sorted(train_ds.info["clips"] + val.info["clips"]) == sorted(CLIPS)
    assert set(train_ds.info["actors"]).isdisjoint(val.info["actors"])  # subject-independent
    assert len(val.info["clips"]) >= 1 and len(train_ds) + len(val) == 15
    assert val.info["clips"] == load_dataset(f"afewva:{afewva}", "val", seed=seed).info["clips"]  # deterministic
    (afewva / "validation.txt").write_text("004\n005\n")
    assert load_dataset(f"afewva:{afewva}", "val", seed=seed).info["clips"] == ["004", "005"]


def _frame_line(path, key):
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if f'"{key}"' in line)


@pytest.mark.parametrize("change, error", [
    ({"valence": 11}, "valence 11 is not an integer in -10..10"),
    ({"arousal": -10.5}, "arousal -10.5 is not an integer in -10..10"),
    ({"valence": 0.5}, "valence 0.5 is not an integer"),
    ({"arousal": None}, "arousal None is not an integer"),
    ({"landmarks": "none"}, "landmarks must be a list of \\[x, y\\]"),
    ({"landmarks": [[3, 3], [3, 3]]}, "the landmarks span no area"),
])
def test_afewva_bad_values_name_file_line_and_frame(afewva, change, error):
    path = afewva / "003" / "003.json"
    data = json.loads(path.read_text())
    data["frames"]["00001"].update(change)
    path.write_text(json.dumps(data, indent=1))
    with pytest.raises(DataError, match=rf"003.json:{_frame_line(path, '00001')}: frame 00001: {error}") as info:
        load_dataset(f"afewva:{afewva}", "train")
    assert "\n" not in str(info.value)


def test_afewva_file_errors(afewva, tmp_path):
    (afewva / "002" / "00002.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"002.json \(frame 00002\): image not found: .*002/00002.png"):
        load_dataset(f"afewva:{afewva}", "all")
    _clip(afewva, "002", "Actor A", [(1, 1)])  # frames without an annotation are not used
    assert len(load_dataset(f"afewva:{afewva}", "all")) == 13
    (afewva / "003" / "003.json").write_text('{"actor": "B",\n "frames": {"00000": }}')
    with pytest.raises(DataError, match=r"003.json:2: not valid JSON"):
        load_dataset(f"afewva:{afewva}", "all")
    (afewva / "003" / "003.json").write_text('{"frames": {}}')
    with pytest.raises(DataError, match=r"003.json: 'actor' must be"):
        load_dataset(f"afewva:{afewva}", "all")
    (tmp_path / "empty" / "001").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="AFEW-VA clips not found"):
        load_dataset(f"afewva:{tmp_path / 'empty'}", "all")
    with pytest.raises(FileNotFoundError, match="AFEW-VA folder not found"):
        load_dataset(f"afewva:{tmp_path / 'nothing'}", "all")
    one = tmp_path / "one"
    _clip(one, "001", "Solo", [(1, 1)])
    _clip(one, "002", "Solo", [(1, 1)])
    with pytest.raises(DataError, match="one actor; a subject-independent split needs two"):
        load_dataset(f"afewva:{one}", "train")
    (one / "validation.txt").write_text("009\n")
    with pytest.raises(DataError, match=r"validation.txt: unknown clip\(s\) \['009'\]"):
        load_dataset(f"afewva:{one}", "train")


def test_afewva_clips_one_level_down(tmp_path):
    root = tmp_path / "afewva"
    _clip(root / "01", "001", "A", [(1, 2)])
    _clip(root / "02", "051", "B", [(3, 4)])
    assert torch.allclose(load_dataset(f"afewva:{root}", "all").va, torch.tensor([[0.1, 0.2], [0.3, 0.4]]))


# AffectNet, 7 classes -------------------------------------------------------------------------------------------

AFFECTNET_HEADER = ",".join(COLUMNS) + "\n"


def test_affectnet7_drops_contempt(tmp_path):
    root = tmp_path / "affectnet"
    _image(root / "Manually_Annotated_Images" / "1" / "a.jpg", (200, 0, 0))
    rows = ['1/a.jpg,0,0,8,8,"",1,0.5,0.25\n', '1/a.jpg,0,0,8,8,"",7,0.1,0.1\n',  # contempt
            '1/a.jpg,0,0,8,8,"",6,-0.5,0.75\n', '1/a.jpg,0,0,8,8,"",9,0.1,0.1\n', '1/a.jpg,0,0,8,8,"",7,0.2,0.2\n']
    (root / "validation.csv").write_text(AFFECTNET_HEADER + "".join(rows))
    with pytest.warns(UserWarning, match="2 rows with expression 7 \\(contempt\\)"):
        ds = load_dataset(f"affectnet7:{root}", "val", size=8)
    assert ds.labels.tolist() == [1, 6] and ds.num_classes == 7 and ds.class_names == AFFECTNET7_CLASSES
    assert "contempt" not in ds.class_names and ds.va.shape == (2, 2)
    assert ds.info["skipped"] == {"expression 7 (contempt)": 2, "expression 9 (uncertain)": 1}
    with pytest.warns(UserWarning):
        full = load_dataset(f"affectnet:{root}", "val", size=8)
    assert full.labels.tolist() == [1, 7, 6, 7] and full.num_classes == 8
    with pytest.raises(ValueError, match="not public"):
        load_dataset(f"affectnet7:{root}", "test")


# bench.train end to end -----------------------------------------------------------------------------------------

TINY = ["--model", "bregnext14", "--image-size", "16", "--epochs", "1", "--batch-size", "4", "--format", "json",
        "--device", "cpu"]


def test_train_runs_on_rafdb_and_afewva(rafdb, afewva, tmp_path, capsys):
    store = tmp_path / "train.jsonl"
    out = ["--results", str(store), "--checkpoint-dir", str(tmp_path / "ckpt")]
    assert run_main(train.main, ["--data", f"rafdb:{rafdb}", "--num-classes", "7", *TINY, *out]) == 0, \
        capsys.readouterr().err
    assert run_main(train.main, ["--data", f"afewva:{afewva}", "--task", "dimensional", *TINY, *out]) == 0, \
        capsys.readouterr().err
    cat, dim = ResultsStore(store).rows("train")
    assert cat["config"]["data"] == f"rafdb:{rafdb}" and "accuracy" in cat["metrics"]
    assert dim["config"]["task"] == "dimensional" and "rmse_total" in dim["metrics"]
