import pytest
import torch

from bench.data import load_dataset, make_synth
from bench.data.synth import TABLE3_COUNTS, category, sample_affect


def test_shapes_dtypes_and_labels_follow_the_circumplex():
    ds = make_synth(64, seed=3, size=32)
    assert ds.images.shape == (64, 3, 32, 32) and ds.images.dtype == torch.uint8
    assert ds.labels.dtype == torch.int64 and ds.va.shape == (64, 2)
    assert ds.va.abs().max() <= 1 and ds.num_classes == 8
    assert torch.equal(ds.labels, category(ds.va, 8))


def test_same_seed_same_set_and_splits_differ():
    a, b = make_synth(16, seed=1, size=24), make_synth(16, seed=1, size=24)
    assert torch.equal(a.images, b.images) and torch.equal(a.va, b.va)
    train, val = load_dataset("synth", "train", size=24, synth_n=16), load_dataset("synth", "val", size=24, synth_n=16)
    assert not torch.equal(train.va, val.va)


def test_regions():
    va = torch.tensor([[0.0, 0.0], [0.9, 0.1], [0.1, 0.9], [-0.5, -0.6], [-0.6, 0.6], [0.6, -0.6]])
    names = ("neutral", "happy", "surprise", "sad", "anger", "happy")
    from bench.data.synth import class_names

    assert [class_names(8)[i] for i in category(va, 8)] == list(names)
    assert [class_names(7)[i] for i in category(va, 7)] == list(names)


def test_balances():
    uniform = torch.bincount(make_synth(800, size=16).labels, minlength=8)
    assert uniform.min() > 60
    skewed = make_synth(4000, size=16, balance="affectnet")
    counts = torch.tensor(skewed.class_counts(), dtype=torch.float64)
    expected = torch.tensor([TABLE3_COUNTS["affectnet"][n] for n in skewed.class_names], dtype=torch.float64)
    assert torch.allclose(counts / counts.sum(), expected / expected.sum(), atol=0.02)
    fer = make_synth(200, size=16, num_classes=7, balance="fer2013")
    assert fer.class_names[0] == "anger" and fer.labels.max() < 7
    assert make_synth(10, size=16, balance=[0, 1, 0, 0, 0, 0, 0, 0]).labels.eq(1).all()
    disk = sample_affect(500, torch.Generator().manual_seed(0), balance="disk")
    assert disk.norm(dim=1).max() <= 1


@pytest.mark.parametrize("bad", [dict(balance="nope"), dict(num_classes=5), dict(balance=[1, 2])])
def test_bad_settings(bad):
    with pytest.raises(ValueError):
        make_synth(4, size=16, **bad)
