"""FER2013, AffectNet and Aff-Wild loaders on tiny fixture files written in tmp_path."""

import numpy as np
import pytest
import torch

from bench.data import DataError, load_dataset

Image = pytest.importorskip("PIL.Image", reason="Pillow reads the AffectNet / Aff-Wild fixtures")


def _fer_row(label, usage, value=10):
    return f'{label},"{" ".join([str(value)] * 2304)}",{usage}\n'


@pytest.fixture
def fer_csv(tmp_path):
    path = tmp_path / "fer2013.csv"
    rows = [_fer_row(3, "Training"), _fer_row(0, "Training", 200), _fer_row(6, "PublicTest"),
            _fer_row(1, "PrivateTest")]
    path.write_text("emotion,pixels,Usage\n" + "".join(rows))
    return path


def test_fer2013_splits(fer_csv):
    train = load_dataset(f"fer2013:{fer_csv}", "train")
    assert train.images.shape == (2, 3, 64, 64) and train.labels.tolist() == [3, 0]
    assert train.images[1].float().mean() == pytest.approx(200, abs=1)
    assert torch.equal(train.images[:, 0], train.images[:, 2])  # grey repeated to RGB
    assert load_dataset(f"fer2013:{fer_csv}", "val").labels.tolist() == [6]
    assert load_dataset(f"fer2013:{fer_csv.parent}", "test").labels.tolist() == [1]
    assert train.num_classes == 7


@pytest.mark.parametrize("row, message", [
    (_fer_row(9, "Training"), "emotion 9"),
    ('3,"1 2 3",Training\n', "2304 values"),
    (_fer_row(3, "Testing"), "Usage 'Testing'"),
    ('x,"1",Training\n', "must be integers"),
])
def test_fer2013_bad_rows_name_file_and_line(fer_csv, row, message):
    fer_csv.write_text(fer_csv.read_text() + row)
    with pytest.raises(DataError, match=rf"fer2013.csv:6: .*{message}"):
        load_dataset(f"fer2013:{fer_csv}", "train")


def test_fer2013_wrong_column_and_missing_file(tmp_path, fer_csv):
    fer_csv.write_text("label,pixels,Usage\n" + _fer_row(3, "Training"))
    with pytest.raises(DataError, match="missing column.*emotion"):
        load_dataset(f"fer2013:{fer_csv}")
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_dataset(f"fer2013:{tmp_path / 'nope.csv'}")


HEADER = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal\n"


def _image(path, colour, size=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), colour, dtype=np.uint8)).save(path)


@pytest.fixture
def affectnet(tmp_path):
    root = tmp_path / "affectnet"
    images = root / "Manually_Annotated_Images"
    _image(images / "1" / "a.jpg", (250, 10, 10))
    _image(images / "1" / "b.png", (10, 250, 10))
    rows = ['1/a.jpg,5,5,20,20,"1.0;2.0",1,0.5,0.25\n',
            '1/b.png,0,0,40,30,"1.0;2.0",6,-0.5,0.75\n',
            '1/a.jpg,0,0,10,10,"1.0;2.0",8,0.1,0.1\n',  # none: dropped, counted
            '1/b.png,0,0,10,10,"1.0;2.0",10,-2,-2\n',  # no-face: dropped, counted
            '1/a.jpg,0,0,10,10,"1.0;2.0",3,-2,-2\n']  # no valence/arousal: dropped, counted
    (root / "training.csv").write_text(HEADER + "".join(rows))
    (root / "validation.csv").write_text(HEADER + rows[1])
    return root


def test_affectnet_rows_crop_and_counted_skips(affectnet):
    with pytest.warns(UserWarning, match="skipped"):
        ds = load_dataset(f"affectnet:{affectnet}", "train")
    assert ds.labels.tolist() == [1, 6] and ds.images.shape == (2, 3, 64, 64)
    assert torch.allclose(ds.va, torch.tensor([[0.5, 0.25], [-0.5, 0.75]]))
    assert ds.images[0, 0].float().mean() > 200 and ds.images[1, 1].float().mean() > 200
    assert ds.info["skipped"] == {"expression 8 (none)": 1, "expression 10 (no-face)": 1,
                                  "valence/arousal -2": 1}
    assert len(load_dataset(f"affectnet:{affectnet}", "val")) == 1


def test_affectnet_missing_image_names_the_row(affectnet):
    csv = affectnet / "validation.csv"
    csv.write_text(csv.read_text() + '1/gone.jpg,0,0,10,10,"",2,0.1,0.1\n')
    with pytest.raises(FileNotFoundError, match=r"validation.csv:3: image not found: .*gone.jpg"):
        load_dataset(f"affectnet:{affectnet}", "val")
    with pytest.warns(UserWarning, match="1 rows with missing or unreadable image"):
        ds = load_dataset(f"affectnet:{affectnet}", "val", skip_missing=True)
    assert len(ds) == 1


@pytest.mark.parametrize("row, message", [
    ('1/a.jpg,0,0,10,10,"",11,0.1,0.1\n', "expression 11"),
    ('1/a.jpg,0,0,10,10,"",2,1.5,0.1\n', "outside"),
    ('1/a.jpg,x,0,10,10,"",2,0.1,0.1\n', "must be numbers"),
    ('1/a.jpg,0,0,10\n', "fields"),
    ('1/a.jpg,100,100,10,10,"",2,0.1,0.1\n', "outside"),
    ('../../a.jpg,0,0,10,10,"",2,0.1,0.1\n', "image path '../../a.jpg' leaves the data folder"),
    ('/etc/a.jpg,0,0,10,10,"",2,0.1,0.1\n', "image path '/etc/a.jpg' leaves the data folder"),
])
def test_affectnet_bad_rows(affectnet, row, message):
    csv = affectnet / "validation.csv"
    csv.write_text(csv.read_text() + row)
    with pytest.raises(DataError, match=rf"validation.csv:3: .*{message}"):
        load_dataset(f"affectnet:{affectnet}", "val")


def test_affectnet_wrong_column(affectnet):
    (affectnet / "validation.csv").write_text(HEADER.replace("expression", "emotion") + "x\n")
    with pytest.raises(DataError, match="missing column.*expression"):
        load_dataset(f"affectnet:{affectnet}", "val")


@pytest.fixture
def affwild(tmp_path):
    root = tmp_path / "affwild"
    for i, video in enumerate(["v1", "v2", "v3", "v4"]):
        for dim in ("valence", "arousal"):
            path = root / "annotations" / dim / f"{video}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(str(round(0.1 * i - 0.05 * k, 3)) for k in range(4)) + "\n")
        for k in (0, 2, 3):  # frame 1 had no face
            _image(root / "frames" / video / f"{k:05d}.jpg", (20 * i, 50, 50), (16, 16))
    (root / "subjects.csv").write_text("video,subject\nv1,s1\nv2,s1\nv3,s2\nv4,s3\n")
    return root


def test_affwild_subject_independent_split(affwild):
    train = load_dataset(f"affwild:{affwild}", "train", val_sequences=2)
    val = load_dataset(f"affwild:{affwild}", "val", val_sequences=2)
    assert set(train.info["videos"]).isdisjoint(val.info["videos"])
    assert sorted(train.info["videos"] + val.info["videos"]) == ["v1", "v2", "v3", "v4"]
    assert ({"v1", "v2"} <= set(val.info["videos"])) or ({"v1", "v2"} <= set(train.info["videos"]))
    assert len(train) + len(val) == 12 and train.labels is None and train.tasks == ("dimensional",)
    assert train.va.abs().max() <= 1
    (affwild / "validation.txt").write_text("v4\n")
    assert load_dataset(f"affwild:{affwild}", "val").info["videos"] == ["v4"]


def test_affwild_errors(affwild):
    with pytest.raises(DataError, match="cannot spare 26 .*validation.txt instead"):  # a file, not a flag
        load_dataset(f"affwild:{affwild}", "train")
    (affwild / "annotations" / "valence" / "v2.txt").write_text("0.1\n7\n0.2\n0.3\n")
    with pytest.raises(DataError, match=r"v2.txt:2: 7.0 is outside"):
        load_dataset(f"affwild:{affwild}", "all")
