"""Bad input to dlbook.cnn gets a clear error; regression tests for its defects."""

import numpy as np
import pytest
import torch
from torch import nn

from dlbook import cnn


def test_from_grouped_keeps_the_blocks_dtype():
    torch.manual_seed(0)
    block = cnn.Bottleneck(32, 16, 32, groups=4).double()
    paths = cnn.SplitTransformMerge.from_grouped(block)
    assert all(p.dtype == torch.float64 for p in paths.parameters())
    x = torch.randn(2, 32, 6, 6, dtype=torch.float64)
    with torch.no_grad():
        assert (block.eval()(x) - paths.eval()(x)).abs().max() < 1e-12


def test_from_grouped_refuses_other_blocks():
    with pytest.raises(ValueError, match="Bottleneck with variant='v1.5'"):
        cnn.SplitTransformMerge.from_grouped(cnn.Bottleneck(8, 4, 8, variant="v2"))
    with pytest.raises(ValueError, match="Bottleneck"):
        cnn.SplitTransformMerge.from_grouped(nn.Linear(2, 2))


@pytest.mark.parametrize("size", [28, 29, 31, 32, 45, 60])
def test_score_map_size_is_the_documented_formula(size):
    net = cnn.LeNet5().eval()
    with torch.no_grad():
        out = net.score_map(torch.zeros(1, 1, size, size + 4))
    assert out.shape[-2:] == ((size - 24) // 4, (size + 4 - 24) // 4)


@pytest.mark.parametrize("size", [16, 20, 27])
def test_score_map_refuses_images_below_28_pixels_clearly(size):
    with pytest.raises(ValueError, match="at least 28x28"):
        cnn.LeNet5().score_map(torch.zeros(1, 1, size, 40))


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: cnn.LeNet5("newer"), "variant"),
        (lambda: cnn.LeNet5(num_classes=0), "num_classes"),
        (lambda: cnn.AlexNet(dropout=1.0), "dropout"),
        (lambda: cnn.AlexNet(in_channels=2.5), "in_channels"),
        (lambda: cnn.VGG(15), "VGG depth"),
        (lambda: cnn.VGG(hidden=0), "hidden"),
        (lambda: cnn.VGG((64, "X")), "config"),
        (lambda: cnn.NiN(widths=(0, 8)), "widths"),
        (lambda: cnn.NiN(dropout=-0.1), "dropout"),
        (lambda: cnn.Inception(8, 4, (0, 4), (2, 2), 2), "c3"),
        (lambda: cnn.GoogLeNet(num_classes=-1), "num_classes"),
        (lambda: cnn.SEBlock(0), "channels"),
        (lambda: cnn.SEBlock(16, reduction=0), "reduction"),
        (lambda: cnn.BasicBlock(8, 8, variant="v3"), "variant"),
        (lambda: cnn.Bottleneck(8, 4, 8, variant="v0"), "variant"),
        (lambda: cnn.ResNet("wide"), "block"),
        (lambda: cnn.ResNet(layers=()), "layers"),
        (lambda: cnn.ResNet("basic", groups=2), "bottleneck"),
        (lambda: cnn.resnet(20), "depth"),
        (lambda: cnn.SplitTransformMerge(8, 8, 0, 4), "cardinality"),
        (lambda: cnn.DepthNet(0, residual=True), "blocks_per_stage"),
        (lambda: cnn.DepthNet(1, residual=True, width=0), "width"),
        (lambda: cnn.SmallResNet((8, 16, 32)), "widths"),
        (lambda: cnn.SmallResNet(logit_scale=0), "logit_scale"),
        (lambda: cnn.count_parameters("resnet"), "nn.Module"),
    ],
)
def test_bad_constructor_arguments_get_clear_errors(build, match):
    with pytest.raises((TypeError, ValueError), match=match):
        build()


@pytest.mark.parametrize(
    "net",
    [
        cnn.LeNet5(),
        cnn.NiN(in_channels=1, widths=(8, 8)),
        cnn.DepthNet(1, residual=True),
    ],
)
def test_forward_refuses_bad_images(net):
    with pytest.raises(TypeError, match="torch.Tensor"):
        net(np.zeros((1, 1, 28, 28), dtype=np.float32))
    with pytest.raises(TypeError, match="floating"):
        net(torch.zeros(1, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match="expects images of shape"):
        net(torch.zeros(1, 3, 28, 28))
    with pytest.raises(ValueError, match="expects images of shape"):
        net(torch.zeros(1, 28, 28))


def test_lenet_forward_points_to_score_map_for_large_images():
    with pytest.raises(ValueError, match="score_map"):
        cnn.LeNet5()(torch.zeros(1, 1, 40, 40))
