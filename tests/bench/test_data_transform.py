"""Input transforms as the papers' code makes them: DACL's five crops and flip, CAF's random crop and flip, the
centre crop at test time and each normalisation, checked against torchvision's own transforms."""

import pytest
import torch

from bench.data.transform import NORMALISATIONS, InputTransform, crop
from breg_models.backbones import torchvision_models

torchvision_models()  # torchvision imports beside CPU torch only once its missing op schemas are declared
from torchvision.transforms import v2 as T  # noqa: E402
from torchvision.transforms.v2 import functional as F  # noqa: E402


def _faces(n=64, side=20, seed=0):
    return torch.randint(0, 256, (n, 3, side, side), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def _normalised(images, name):
    mean, std = NORMALISATIONS[name]
    return T.Normalize(mean, std)(images.float() / 255)


def test_dacl_takes_one_of_the_five_crops_each_flipped_or_not():
    faces, side = _faces(), 16
    out = InputTransform("dacl", 1.0, "dacl", side).train(faces, torch.Generator().manual_seed(1))
    seen = set()
    for face, got in zip(faces, out, strict=True):
        candidates = [c for crop_ in F.five_crop(face, [side, side]) for c in (crop_, F.horizontal_flip(crop_))]
        matches = [i for i, c in enumerate(candidates) if torch.allclose(_normalised(c[None], "dacl")[0], got)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == set(range(10))  # 64 faces: every crop, flipped and not, turns up


def test_caf_random_crop_is_any_window_and_flip_is_half():
    faces, side = _faces(n=400, side=12), 8
    gen = torch.Generator().manual_seed(2)
    out = InputTransform("caf", 1.0, "imagenet", side).train(faces, gen)
    windows = [(t, left, f) for t in range(5) for left in range(5) for f in (0, 1)]
    candidates = torch.stack([_normalised((F.horizontal_flip if f else (lambda x: x))(
        faces[:, :, t:t + side, left:left + side]), "imagenet") for t, left, f in windows], 1)  # (N, 50, C, S, S)
    close = ((candidates - out[:, None]).abs() <= 1e-5 + 1e-5 * out[:, None].abs()).flatten(2).all(2)
    assert close.any(1).all()  # every output is one of its face's 50 crops
    first = [windows[i] for i in close.int().argmax(1).tolist()]
    tops, flips = {w[:2] for w in first}, sum(w[2] for w in first)
    assert len(tops) == 25 and 160 < flips < 240  # every offset of the 5 x 5, flips near half


@pytest.mark.parametrize("name", list(NORMALISATIONS))
def test_test_time_is_the_centre_crop_normalised(name):
    faces = _faces(side=21)
    got = InputTransform("none", 0.0, name, 15).test(faces)
    assert torch.allclose(got, _normalised(T.CenterCrop(15)(faces), name), atol=1e-6)


def test_bregnext_default_is_the_old_pipeline_bit_for_bit():
    from bench.data import AugmentConfig, augment_and_normalise, normalise

    faces = _faces(side=16)
    assert torch.equal(InputTransform().test(faces), normalise(faces))
    a = InputTransform(p=0.5).train(faces, torch.Generator().manual_seed(3))
    b = augment_and_normalise(faces, AugmentConfig(p=0.5), torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_crop_reads_each_sample_its_own_window():
    faces = torch.arange(2 * 3 * 5 * 5, dtype=torch.uint8).view(2, 3, 5, 5)
    out = crop(faces, torch.tensor([0, 2]), torch.tensor([1, 0]), 3, torch.tensor([False, True]))
    assert torch.equal(out[0], faces[0, :, 0:3, 1:4]) and torch.equal(out[1], faces[1, :, 2:5, 0:3].flip(-1))


def test_a_crop_larger_than_the_faces_is_refused():
    with pytest.raises(ValueError, match="larger than the stored faces"):
        InputTransform("dacl", 1.0, "dacl", 32).train(_faces(side=20))
