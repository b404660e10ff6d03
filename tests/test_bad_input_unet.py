"""Bad input to dlbook.unet gets a clear TypeError or ValueError."""

import pytest
import torch

from dlbook.unet import ResBlock, UNet


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(in_channels=0), ValueError, "in_channels"),
        (dict(channels=()), ValueError, "empty"),
        (dict(channels=(8, 15)), ValueError, "even"),
        (dict(num_classes=0), ValueError, "num_classes"),
        (dict(num_classes=2.5), TypeError, "num_classes"),
        (dict(emb_dim=-1), ValueError, "emb_dim"),
        (dict(patch=0), ValueError, "patch"),
        (dict(block="ResBlock"), TypeError, "block"),
    ],
)
def test_constructor(kwargs, error, match):
    with pytest.raises(error, match=match):
        UNet(**{"channels": (8, 16), **kwargs})


def test_forward():
    net = UNet(1, (8, 16, 16), num_classes=3)
    t = torch.tensor([0, 1])
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.randn(2, 1, 10, 10), t)
    with pytest.raises(ValueError, match="t must have shape"):
        net(torch.randn(2, 1, 8, 8), torch.tensor([0]))
    with pytest.raises(TypeError, match="floating"):
        net(torch.ones(2, 1, 8, 8, dtype=torch.long), t)
    with pytest.raises(TypeError, match="torch.Tensor"):
        net(torch.randn(2, 1, 8, 8), [0, 1])
    with pytest.raises(TypeError, match="integers"):
        net(torch.randn(2, 1, 8, 8), t, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="y must have shape"):
        net(torch.randn(2, 1, 8, 8), t, torch.tensor([0, 1, 2]))


def test_resblock():
    with pytest.raises(ValueError, match="c_out"):
        ResBlock(4, 0, 8)
    with pytest.raises(TypeError, match="emb_dim"):
        ResBlock(4, 4, 8.0)
