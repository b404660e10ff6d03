"""Tests of dlbook.cnn: shapes, exact parameter counts, torchvision agreement, ResNeXt equivalence, SE, overfitting."""

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from dlbook import cnn


def _n(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "name, builder, tv_builder, total",
    [
        ("alexnet", cnn.AlexNet, torchvision.models.alexnet, 61_100_840),
        ("vgg11", lambda: cnn.VGG(11), torchvision.models.vgg11, 132_863_336),
        ("vgg16", lambda: cnn.VGG(16), torchvision.models.vgg16, 138_357_544),
        ("vgg19", lambda: cnn.VGG(19), torchvision.models.vgg19, 143_667_240),
        ("resnet18", lambda: cnn.resnet(18), torchvision.models.resnet18, 11_689_512),
        ("resnet34", lambda: cnn.resnet(34), torchvision.models.resnet34, 21_797_672),
        ("resnet50", lambda: cnn.resnet(50), torchvision.models.resnet50, 25_557_032),
        (
            "resnext50",
            lambda: cnn.resnet(50, groups=32, width_per_group=4),
            torchvision.models.resnext50_32x4d,
            25_028_904,
        ),
    ],
)
def test_parameter_counts_match_torchvision_exactly(name, builder, tv_builder, total):
    with torch.device("meta"):
        ours, theirs = builder(), tv_builder(weights=None)
    assert cnn.count_parameters(ours)["total"] == _n(theirs) == total
    assert [p.shape for p in ours.parameters()] == [
        p.shape for p in theirs.parameters()
    ]


def test_conv_linear_split_of_alexnet_and_vgg19():
    with torch.device("meta"):
        alex, vgg19 = (
            cnn.count_parameters(cnn.AlexNet()),
            cnn.count_parameters(cnn.VGG(19)),
        )
    assert (alex["conv"], alex["linear"], alex["other"]) == (2_469_696, 58_631_144, 0)
    assert (vgg19["conv"], vgg19["linear"]) == (20_024_384, 123_642_856)


def test_imagenet_output_shapes_on_meta():
    x = torch.empty(2, 3, 224, 224, device="meta")
    with torch.device("meta"):
        nets = [
            cnn.AlexNet(),
            cnn.VGG(11),
            cnn.VGG(16, batch_norm=True),
            cnn.GoogLeNet(),
            cnn.GoogLeNet(batch_norm=True),
            cnn.resnet(18),
            cnn.resnet(34, variant="v2"),
            cnn.resnet(50, variant="v1"),
            cnn.resnet(50, se=True),
            cnn.resnet(50, variant="v2", groups=32, width_per_group=4),
        ]
    for net in nets:
        assert net(x).shape == (2, 1000), type(net).__name__
    assert nets[3].features(x).shape == (2, 1024, 7, 7)
    assert nets[5].forward_features(x).shape == (2, 512, 7, 7)


def test_resnet_outputs_equal_torchvision_with_same_weights():
    torch.manual_seed(0)
    for ours, theirs in (
        (cnn.resnet(18), torchvision.models.resnet18()),
        (cnn.resnet(50), torchvision.models.resnet50()),
    ):
        ours.load_state_dict(dict(zip(ours.state_dict(), theirs.state_dict().values())))
        ours.eval()
        theirs.eval()
        x = torch.randn(2, 3, 64, 64)
        with torch.no_grad():
            torch.testing.assert_close(ours(x), theirs(x))


def test_small_net_shapes_and_variable_input_size():
    lenet = cnn.LeNet5("original")
    assert lenet(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    assert lenet.score_map(torch.randn(3, 1, 28, 60)).shape == (3, 10, 1, 9)
    assert cnn.count_parameters(cnn.LeNet5("modern"))["total"] == 61_706
    for size in (28, 32, 40):
        x = torch.randn(2, 1, size, size)
        assert cnn.NiN(in_channels=1, widths=(8, 8))(x).shape == (2, 10)
        assert cnn.SmallResNet((4, 8, 8, 8))(x).shape == (2, 10)
        assert cnn.DepthNet(1, residual=True, width=4)(x).shape == (2, 10)
    assert cnn.SmallResNet((4, 8, 8, 8), in_channels=3)(
        torch.randn(2, 3, 32, 32)
    ).shape == (2, 10)
    assert cnn.Inception(16, 4, (4, 8), (2, 4), 4)(torch.randn(2, 16, 7, 7)).shape == (
        2,
        20,
        7,
        7,
    )


@pytest.mark.parametrize("variant", ["v1", "v1.5", "v2"])
def test_block_shapes(variant):
    x = torch.randn(2, 16, 8, 8)
    assert cnn.BasicBlock(16, 32, stride=2, variant=variant)(x).shape == (2, 32, 4, 4)
    assert cnn.Bottleneck(16, 8, 32, stride=2, variant=variant, groups=4, se=True)(
        x
    ).shape == (2, 32, 4, 4)
    assert cnn.Bottleneck(16, 8, 16, variant=variant)(x).shape == (2, 16, 8, 8)


@pytest.mark.parametrize("kind", ["basic", "bottleneck"])
def test_v2_block_with_zero_last_conv_is_the_identity(kind):
    torch.manual_seed(0)
    if kind == "basic":
        block = cnn.BasicBlock(16, 16, variant="v2").eval()
        last = block.conv2
    else:
        block = cnn.Bottleneck(16, 4, 16, variant="v2").eval()
        last = block.conv3
    nn.init.zeros_(last.weight)  # the residual branch is 0: only the shortcut
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        assert torch.equal(block(x), x)
        assert torch.equal(block.forward_v2(x), x)


def test_v1_downsampling_reads_a_quarter_of_the_pixels():
    fractions = {}
    for variant in ("v1", "v1.5"):
        block = cnn.Bottleneck(8, 8, 16, stride=2, variant=variant)
        x = torch.randn(1, 8, 8, 8, requires_grad=True)
        block(x).sum().backward()
        fractions[variant] = (x.grad.abs().sum(1) > 0).float().mean().item()
    assert fractions == {"v1": 0.25, "v1.5": 1.0}


def test_resnext_forms_are_equivalent_in_train_and_eval_mode():
    torch.manual_seed(0)
    grouped = cnn.Bottleneck(32, 16, 64, stride=2, groups=8)
    with torch.no_grad():  # non-trivial batch-norm parameters and statistics
        for m in grouped.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_()
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2)
    paths = cnn.SplitTransformMerge.from_grouped(grouped)
    assert len(paths.paths) == 8 and _n(paths) == _n(grouped)
    x = torch.randn(4, 32, 10, 10)
    with torch.no_grad():
        torch.testing.assert_close(
            paths.eval()(x), grouped.eval()(x), atol=1e-5, rtol=1e-5
        )
        torch.testing.assert_close(
            paths.train()(x), grouped.train()(x), atol=1e-5, rtol=1e-5
        )


def test_se_block_shapes_and_gates():
    se = cnn.SEBlock(32, reduction=8)
    x = torch.randn(3, 32, 5, 7)
    gates = se.gates(x)
    assert gates.shape == (3, 32, 1, 1) and ((gates > 0) & (gates < 1)).all()
    assert se(x).shape == x.shape
    torch.testing.assert_close(se(x), x * gates)
    assert se.excite[0].out_channels == 4


def test_small_resnet_overfits_one_batch():
    torch.manual_seed(0)
    net = cnn.SmallResNet((8, 16, 16, 16))
    x, y = torch.randn(16, 1, 28, 28), torch.arange(16) % 10
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    assert (net.eval()(x).argmax(1) == y).all()


def test_bad_inputs_raise_helpful_errors():
    with pytest.raises(ValueError, match="variant"):
        cnn.LeNet5("ancient")
    with pytest.raises(ValueError, match="28x28"):
        cnn.LeNet5()(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        cnn.AlexNet()(torch.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match="depth"):
        cnn.VGG(12)
    with pytest.raises(ValueError, match="depth"):
        cnn.resnet(20)
    with pytest.raises(ValueError, match="divisible"):
        cnn.Bottleneck(16, 10, 16, groups=4)
    with pytest.raises(ValueError, match="variant"):
        cnn.BasicBlock(8, 8, variant="v3")
    with pytest.raises(ValueError, match="bottleneck"):
        cnn.ResNet("basic", groups=32)
    with pytest.raises(ValueError, match="four"):
        cnn.SmallResNet((8, 16))
