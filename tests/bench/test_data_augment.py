import pytest
import torch

from bench.data import MEAN, AugmentConfig, augment, augment_and_normalise, make_synth, normalise


@pytest.fixture(scope="module")
def images():
    return make_synth(32, size=32).images


def test_normalise_is_pixels_over_255_minus_mean(images):
    x = normalise(images)
    want = images.float() / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)
    assert torch.allclose(x, want)


def test_unpicked_samples_pass_through(images):
    x = augment_and_normalise(images, AugmentConfig(p=0.0001), torch.Generator().manual_seed(0))
    assert torch.allclose(x, normalise(images), atol=2e-3)
    assert torch.equal(augment_and_normalise(images, None), normalise(images))


def test_flip_only_mirrors(images):
    cfg = AugmentConfig(p=1, hue=0, saturation=0, brightness=0, contrast=0, zoom=0)
    out = augment(images, cfg, torch.Generator().manual_seed(0))
    src = images.float() / 255
    flipped = torch.isclose(out, src.flip(-1), atol=2e-3).flatten(1).all(1)
    same = torch.isclose(out, src, atol=2e-3).flatten(1).all(1)
    assert (flipped | same).all() and flipped.any() and same.any()


def test_share_augmented_and_range(images):
    big = images.repeat(16, 1, 1, 1)
    out = augment(big, AugmentConfig(), torch.Generator().manual_seed(1))
    changed = (out - big.float() / 255).abs().flatten(1).amax(1) > 0.01
    assert 0.15 < changed.float().mean() < 0.35  # Sec. 3.5: 25% of the time
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device: checks augmentation runs on the GPU")
def test_runs_on_the_gpu(images):
    gen = torch.Generator(device="cuda").manual_seed(0)
    out = augment_and_normalise(images.cuda(), AugmentConfig(p=1), gen)
    assert out.is_cuda and out.shape == images.shape
