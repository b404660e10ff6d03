"""Tests of dlbook.unet: shapes, conditioning, bad inputs, a one-batch overfit."""

import pytest
import torch

from dlbook import diffusion as diff
from dlbook.unet import ResBlock, UNet


@pytest.mark.parametrize(
    "channels,patch,size", [((8, 16), 1, 8), ((8, 16, 16), 1, 28), ((8, 16), 2, 28)]
)
def test_shapes(channels, patch, size):
    net = UNet(1, channels, num_classes=3, patch=patch)
    x = torch.randn(2, 1, size, size)
    out = net(x, torch.tensor([0, 5]), torch.tensor([0, 3]))
    assert out.shape == x.shape
    assert out.abs().max() == 0  # zero-initialized output layer


def test_time_and_class_change_the_output():
    torch.manual_seed(0)
    net = UNet(1, (8, 16), num_classes=3)
    torch.nn.init.normal_(net.out[-1].weight)
    x = torch.randn(1, 1, 8, 8)
    a = net(x, torch.tensor([0]), torch.tensor([0]))
    assert not torch.allclose(a, net(x, torch.tensor([50]), torch.tensor([0])))
    assert not torch.allclose(a, net(x, torch.tensor([0]), torch.tensor([1])))
    torch.testing.assert_close(
        net(x, torch.tensor([0]), None), net(x, torch.tensor([0]), torch.tensor([3]))
    )


def test_the_block_is_pluggable():
    made = []

    class Spy(ResBlock):
        def __init__(self, c_in, c_out, emb_dim):
            super().__init__(c_in, c_out, emb_dim)
            made.append((c_in, c_out))

    UNet(1, (8, 16), block=Spy)
    assert made == [(8, 8), (8, 16), (16, 16), (16, 8), (32, 16)]


def test_resblock_by_hand():
    torch.manual_seed(0)
    block = ResBlock(4, 6, 5)
    x, emb = torch.randn(2, 4, 3, 3), torch.randn(2, 5)
    F = torch.nn.functional
    h = block.conv1(F.silu(block.norm1(x))) + block.emb(emb)[:, :, None, None]
    expected = block.conv2(F.silu(block.norm2(h))) + block.skip(x)
    torch.testing.assert_close(block(x, emb), expected)
    assert isinstance(ResBlock(4, 4, 5).skip, torch.nn.Identity)


def test_overfits_one_batch():
    torch.manual_seed(0)
    sched = diff.Schedule.from_betas(diff.cosine_betas(10))
    x0 = torch.rand(4, 1, 8, 8) * 2 - 1
    net = UNet(1, (8, 16), num_classes=2)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    y = torch.tensor([0, 1, 0, 1])
    losses = []
    for _ in range(150):
        loss = diff.eps_loss(
            net, x0, sched, y, generator=torch.Generator().manual_seed(0)
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]
