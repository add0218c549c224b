"""The encoder/head cut CAF trains on: head(encode(x)) is the network's own output, for every kind of network."""

import pytest
import torch
from torch import nn

from breg_models import create_model
from breg_models.backbones import torchvision_models
from breg_models.latent import critic_widths, encoder_head
from losses.caf import Critic

BACKBONES = ["tv_resnet18", "tv_alexnet_tuned"]


def _has_torchvision() -> bool:
    try:
        torchvision_models()
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("name", ["bregnext14", "resnet32", *BACKBONES])
def test_head_of_encoding_is_the_forward(name):
    if name.startswith("tv_") and not _has_torchvision():
        pytest.skip("torchvision is not installed (the 'backbones' extra)")
    torch.manual_seed(0)
    model = create_model(name, task="dimensional").eval()
    x = torch.randn(2, 3, 64, 64)
    encode, head, width = encoder_head(model)
    z = encode(x)
    assert z.shape == (2, width)
    torch.testing.assert_close(head(z), model(x), rtol=0, atol=0)
    head_ids, all_ids = {id(p) for p in head.parameters()}, {id(p) for p in model.parameters()}
    assert head_ids < all_ids  # the head is part of the network, and not all of it

def test_critic_widths_are_the_public_codes_disc2_light_for_every_encoder():
    zoo = create_model("bregnext14", task="dimensional")
    assert critic_widths(zoo, 128) == (128, 64, 32, 16)
    if not _has_torchvision():
        pytest.skip("torchvision is not installed (the 'backbones' extra)")
    alex = create_model("tv_alexnet_tuned", task="dimensional")
    widths = critic_widths(alex, encoder_head(alex)[2])
    assert widths == (9216, 64, 32, 16)
    # the public code's critic: 592,496 values, which with the network's 3.06M make CAF Table 1's 3.6M
    assert sum(p.numel() for p in Critic(widths).parameters()) == 592_496
    resnet = create_model("tv_resnet18", task="dimensional")
    widths = critic_widths(resnet, encoder_head(resnet)[2])
    # 35,440 values: ResNet-18's 11.18M stay 11.2M with the critic (Table 4 prints 10M without it, 11M with)
    assert widths == (512, 64, 32, 16) and sum(p.numel() for p in Critic(widths).parameters()) == 35_440


def test_a_network_without_the_cut_is_refused():
    with pytest.raises(ValueError, match="neither features"):
        encoder_head(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4, 2)))


def test_critic_layout():
    critic = Critic((8, 64, 32, 16))  # Disc2_light: no activation after the first layer, dropout then ReLU
    assert [type(m) for m in critic.net] == [nn.Linear, nn.Linear, nn.Dropout, nn.ReLU, nn.Linear]
    assert critic.net[2].p == 0.2
    assert critic(torch.randn(3, 8)).shape == (3, 16)
    with pytest.raises(ValueError):
        Critic((8,))
