"""Classic and modern convolutional networks, written out once (chapter 7).

Every class here is a plain ``nn.Module`` built from PyTorch layers, with the
layer sizes of the paper that introduced it (or of ``torchvision.models``,
whose parameter counts the chapter reproduces exactly). Images are batches of
shape (N, C, H, W); every classifier returns logits of shape (N, num_classes).

Contents, in the order of the chapter:

- :class:`LeNet5` (``"original"``: tanh + average pooling, ``"modern"``: ReLU + max
  pooling);
- :class:`AlexNet` (the one-GPU layout of torchvision, 61,100,840 parameters);
- :class:`VGG` with :data:`VGG_CONFIGS` 11/13/16/19;
- :func:`nin_block` and :class:`NiN` (1x1 convolutions, global average pooling);
- :class:`Inception` and :class:`GoogLeNet`;
- :class:`BasicBlock`, :class:`Bottleneck` (ResNet ``"v1"``, ``"v1.5"``, ``"v2"``;
  grouped for ResNeXt; optional :class:`SEBlock`), :class:`ResNet`, :func:`resnet`;
- :class:`SplitTransformMerge`, the ResNeXt block written as explicit paths;
- :class:`DepthNet`, plain or residual nets of a chosen depth for 28x28 images;
- :class:`SmallResNet`, a fast ResNet for 28x28 or 32x32 images;
- :func:`count_parameters`, split into convolutional, linear and other parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dlbook import check
from dlbook.engine import add_to_class

__all__ = [
    "VGG_CONFIGS",
    "RESNET_LAYERS",
    "count_parameters",
    "LeNet5",
    "AlexNet",
    "VGG",
    "nin_block",
    "NiN",
    "Inception",
    "GoogLeNet",
    "SEBlock",
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "resnet",
    "SplitTransformMerge",
    "DepthNet",
    "SmallResNet",
]


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Number of trainable parameters of ``model``, split by the kind of layer that owns
    them.

    Returns:
        ``{"conv": ..., "linear": ..., "other": ..., "total": ...}``; ``"other"``
        holds e.g. batch-norm scales and shifts. Works on the ``meta`` device.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    counts = {"conv": 0, "linear": 0, "other": 0}
    for module in model.modules():
        own = sum(
            p.numel() for p in module.parameters(recurse=False) if p.requires_grad
        )
        if isinstance(module, nn.modules.conv._ConvNd):
            counts["conv"] += own
        elif isinstance(module, nn.Linear):
            counts["linear"] += own
        else:
            counts["other"] += own
    counts["total"] = counts["conv"] + counts["linear"] + counts["other"]
    return counts


def _sizes(**sizes: int) -> None:
    """Check that every keyword is a positive int (a channel count, a depth...)."""
    for name, value in sizes.items():
        check.positive(value, name, integer=True)


def _check_images(x: torch.Tensor, in_channels: int, name: str) -> None:
    check.tensor(x, "x", floating=True)
    if x.ndim != 4 or x.shape[1] != in_channels:
        raise ValueError(
            f"{name} expects images of shape (N, {in_channels}, H, W); got "
            f"{tuple(x.shape)}"
        )


# --- LeNet-5 --------------------------------------------------------------------------


class LeNet5(nn.Module):
    """LeNet-5 for 28x28 images (padded to 32x32 inside the first convolution).

    ``variant="original"`` keeps the 1998 design's tanh units and average
    ("subsampling") pooling, with two simplifications that the modern literature
    also makes: C3 connects to all six S2 maps, and the output is a linear layer
    instead of Gaussian (RBF) connections. ``variant="modern"`` uses ReLU and
    max pooling. C5, F6 and the output are written as convolutions (5x5, 1x1,
    1x1), which is what they are: on a 28x28 image C5 sees its whole 5x5 input.

    Args:
        variant: ``"original"`` or ``"modern"``.
        in_channels: image channels.
        num_classes: number of outputs.
    """

    def __init__(
        self, variant: str = "modern", *, in_channels: int = 1, num_classes: int = 10
    ) -> None:
        super().__init__()
        _sizes(in_channels=in_channels, num_classes=num_classes)
        if variant not in ("original", "modern"):
            raise ValueError(f"variant must be 'original' or 'modern', got {variant!r}")
        self.variant, self.in_channels = variant, in_channels
        act = nn.Tanh if variant == "original" else nn.ReLU
        pool = nn.AvgPool2d if variant == "original" else nn.MaxPool2d
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2),
            act(),
            pool(2),  # C1, S2: (N, 6, 14, 14)
            nn.Conv2d(6, 16, 5),
            act(),
            pool(2),  # C3, S4: (N, 16, 5, 5)
        )
        self.head = nn.Sequential(
            nn.Conv2d(16, 120, 5),
            act(),  # C5: (N, 120, 1, 1) on a 28x28 image
            nn.Conv2d(120, 84, 1),
            act(),  # F6
            nn.Conv2d(84, num_classes, 1),  # output layer
        )

    def score_map(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores of every 28x28 window, 4 pixels apart.

        (N, C, H, W) -> (N, num_classes, (H - 24) // 4, (W - 24) // 4); H and W
        must be at least 28, the smallest image that gives one window.
        """
        _check_images(x, self.in_channels, "LeNet5")
        if min(x.shape[-2:]) < 28:
            raise ValueError(
                "LeNet5 needs images of at least 28x28 pixels, got "
                f"{tuple(x.shape[-2:])}"
            )
        return self.head(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes) of 28x28 images (N, C, 28, 28); use :meth:`score_map`
        for larger ones."""
        scores = self.score_map(x)
        if scores.shape[-2:] != (1, 1):
            raise ValueError(
                f"LeNet5.forward expects 28x28 images, got {tuple(x.shape[-2:])}; a "
                "larger image "
                f"gives a map of scores: call score_map(x) instead"
            )
        return scores.flatten(1)


# --- AlexNet and VGG ------------------------------------------------------------------


class AlexNet(nn.Module):
    """AlexNet in its one-GPU form (64, 192, 384, 256, 256 filters), as in
    ``torchvision.models.alexnet``.

    No local response normalisation and no split across two GPUs. For 224x224
    images, ``features`` gives (N, 256, 6, 6); the adaptive pooling makes the
    classifier accept any image of at least 63x63 pixels.
    """

    def __init__(
        self, num_classes: int = 1000, *, in_channels: int = 3, dropout: float = 0.5
    ) -> None:
        super().__init__()
        _sizes(in_channels=in_channels, num_classes=num_classes)
        check.probability(dropout, "dropout", high_open=True)
        self.in_channels = in_channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, 11, stride=4, padding=2),
            nn.ReLU(inplace=True),  # (N, 64, 55, 55)
            nn.MaxPool2d(3, stride=2),  # (N, 64, 27, 27)
            nn.Conv2d(64, 192, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),  # (N, 192, 13, 13)
            nn.Conv2d(192, 384, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),  # (N, 256, 6, 6)
        )
        self.pool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, num_classes)."""
        _check_images(x, self.in_channels, "AlexNet")
        return self.classifier(self.pool(self.features(x)).flatten(1))


VGG_CONFIGS: dict[int, tuple[int | str, ...]] = {
    11: (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    13: (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    16: (
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        "M",
    ),
    19: (
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        512,
        "M",
    ),
}
"""VGG's configurations A (11), B (13), D (16) and E (19): 3x3 convolutions' widths, "M"
for 2x2 max pooling."""


class VGG(nn.Module):
    """VGG: stacks of 3x3 convolutions (padding 1) and 2x2 max pooling, then three
    linear layers.

    Args:
        config: a depth in :data:`VGG_CONFIGS` or a sequence of widths and ``"M"``.
        num_classes: number of outputs.
        in_channels: image channels.
        batch_norm: add batch normalisation after every convolution.
        hidden: width of the two hidden linear layers (4096 in the paper).
        pool_size: side of the adaptive average pooling before the classifier (7 for
            224x224 images).
        dropout: dropout probability in the classifier.
    """

    def __init__(
        self,
        config: int | Sequence[int | str] = 16,
        *,
        num_classes: int = 1000,
        in_channels: int = 3,
        batch_norm: bool = False,
        hidden: int = 4096,
        pool_size: int = 7,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        _sizes(in_channels=in_channels, num_classes=num_classes, hidden=hidden)
        _sizes(pool_size=pool_size)
        check.probability(dropout, "dropout", high_open=True)
        if isinstance(config, int):
            if config not in VGG_CONFIGS:
                raise ValueError(
                    f"VGG depth must be one of {sorted(VGG_CONFIGS)}, got {config}"
                )
            config = VGG_CONFIGS[config]
        if not config or any(
            c != "M" and (not isinstance(c, int) or c < 1) for c in config
        ):
            raise ValueError(
                f"config must list positive widths and 'M'; got {config!r}"
            )
        self.in_channels = in_channels
        layers: list[nn.Module] = []
        channels = in_channels
        for c in config:
            if c == "M":
                layers.append(nn.MaxPool2d(2, stride=2))
            else:
                layers.append(nn.Conv2d(channels, c, 3, padding=1))
                layers += (
                    [nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
                    if batch_norm
                    else [nn.ReLU(inplace=True)]
                )
                channels = c
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d((pool_size, pool_size))
        self.classifier = nn.Sequential(
            nn.Linear(channels * pool_size * pool_size, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, num_classes); H and W at least 2**(number of
        poolings)."""
        _check_images(x, self.in_channels, "VGG")
        return self.classifier(self.pool(self.features(x)).flatten(1))


# --- Network in network and GoogLeNet -------------------------------------------------


def nin_block(in_channels, out_channels, kernel_size, stride=1, padding=0):
    """A k x k convolution, then two 1x1 convolutions (a per-pixel MLP), with ReLUs."""
    return nn.Sequential(  # (N, in, H, W) -> (N, out, H', W')
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 1), nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 1), nn.ReLU(inplace=True),
    )  # fmt: skip


class NiN(nn.Module):
    """Network in network for small images: three mlpconv blocks and global average
    pooling, no linear layer.

    The last block has one channel per class; averaging each channel over the
    image gives the logits, so the net accepts any image size.

    Args:
        in_channels: image channels.
        num_classes: number of outputs.
        widths: channels of the first two blocks.
        dropout: dropout probability after each of the first two poolings.
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        num_classes: int = 10,
        widths: tuple[int, int] = (192, 192),
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        _sizes(in_channels=in_channels, num_classes=num_classes)
        _sizes(**{f"widths[{i}]": w for i, w in enumerate(widths)})
        check.probability(dropout, "dropout", high_open=True)
        self.in_channels = in_channels
        self.net = nn.Sequential(
            nin_block(in_channels, widths[0], 5, padding=2),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),
            nn.Dropout(dropout),
            nin_block(widths[0], widths[1], 5, padding=2),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),
            nn.Dropout(dropout),
            nin_block(widths[1], num_classes, 3, padding=1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, num_classes), for any H, W >= 1."""
        _check_images(x, self.in_channels, "NiN")
        return self.net(x)


def _conv_bn_relu(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    *,
    stride: int = 1,
    padding: int = 0,
    batch_norm: bool = True,
) -> nn.Sequential:
    if batch_norm:
        return nn.Sequential(
            nn.Conv2d(
                in_channels, out_channels, kernel_size, stride, padding, bias=False
            ),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding),
        nn.ReLU(inplace=True),
    )


class Inception(nn.Module):
    """The Inception module of GoogLeNet: four parallel branches, concatenated along the
    channels.

    Branches: 1x1 conv (``c1``); 1x1 reduce then 3x3 (``c3 = (reduce, out)``);
    1x1 reduce then 5x5 (``c5 = (reduce, out)``); 3x3 max pool then 1x1 (``pool_proj``).
    Shapes: (N, in, H, W) -> (N, c1 + c3[1] + c5[1] + pool_proj, H, W).
    """

    def __init__(
        self,
        in_channels: int,
        c1: int,
        c3: tuple[int, int],
        c5: tuple[int, int],
        pool_proj: int,
        *,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        _sizes(in_channels=in_channels, c1=c1, pool_proj=pool_proj)
        _sizes(**{"c3[0]": c3[0], "c3[1]": c3[1], "c5[0]": c5[0], "c5[1]": c5[1]})
        bn = batch_norm
        self.branch1 = _conv_bn_relu(in_channels, c1, 1, batch_norm=bn)
        self.branch3 = nn.Sequential(
            _conv_bn_relu(in_channels, c3[0], 1, batch_norm=bn),
            _conv_bn_relu(c3[0], c3[1], 3, padding=1, batch_norm=bn),
        )
        self.branch5 = nn.Sequential(
            _conv_bn_relu(in_channels, c5[0], 1, batch_norm=bn),
            _conv_bn_relu(c5[0], c5[1], 5, padding=2, batch_norm=bn),
        )
        self.branch_pool = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1),
            _conv_bn_relu(in_channels, pool_proj, 1, batch_norm=bn),
        )
        self.out_channels = c1 + c3[1] + c5[1] + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in, H, W) -> (N, out_channels, H, W)."""
        return torch.cat(
            [self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)],
            dim=1,
        )


# name: (c1, (3x3 reduce, 3x3), (5x5 reduce, 5x5), pool proj), Table 1 of the paper
GOOGLENET_INCEPTIONS = {
    "3a": (64, (96, 128), (16, 32), 32),
    "3b": (128, (128, 192), (32, 96), 64),
    "4a": (192, (96, 208), (16, 48), 64),
    "4b": (160, (112, 224), (24, 64), 64),
    "4c": (128, (128, 256), (24, 64), 64),
    "4d": (112, (144, 288), (32, 64), 64),
    "4e": (256, (160, 320), (32, 128), 128),
    "5a": (256, (160, 320), (32, 128), 128),
    "5b": (384, (192, 384), (48, 128), 128),
}


class GoogLeNet(nn.Module):
    """GoogLeNet (Inception v1) for 224x224 images, without LRN or auxiliary heads.

    Optional batch normalisation after every convolution (the idea of
    BN-Inception, which first showed batch normalisation; Inception-v3 still
    kept a batch-normalised auxiliary head, as a regularizer).
    """

    def __init__(
        self,
        num_classes: int = 1000,
        *,
        in_channels: int = 3,
        batch_norm: bool = False,
        dropout: float = 0.4,
    ) -> None:
        super().__init__()
        _sizes(in_channels=in_channels, num_classes=num_classes)
        check.probability(dropout, "dropout", high_open=True)
        self.in_channels = in_channels
        bn = batch_norm
        layers: list[nn.Module] = [
            _conv_bn_relu(
                in_channels, 64, 7, stride=2, padding=3, batch_norm=bn
            ),  # (N, 64, 112, 112)
            nn.MaxPool2d(3, stride=2, ceil_mode=True),  # (N, 64, 56, 56)
            _conv_bn_relu(64, 64, 1, batch_norm=bn),
            _conv_bn_relu(64, 192, 3, padding=1, batch_norm=bn),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),  # (N, 192, 28, 28)
        ]
        channels = 192
        for name, spec in GOOGLENET_INCEPTIONS.items():
            if name in ("4a", "5a"):
                layers.append(
                    nn.MaxPool2d(3, stride=2, ceil_mode=True)
                )  # halve H and W
            block = Inception(channels, *spec, batch_norm=bn)
            layers.append(block)
            channels = block.out_channels
        self.features = nn.Sequential(*layers)  # (N, 1024, 7, 7)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(channels, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, num_classes)."""
        _check_images(x, self.in_channels, "GoogLeNet")
        return self.head(self.features(x))


# --- ResNet, ResNeXt, SENet -----------------------------------------------------------


class SEBlock(nn.Module):
    """Squeeze-and-excitation: scale each channel by a gate from the whole image."""

    def __init__(self, channels, reduction=16):
        super().__init__()
        c = check.positive(channels, "channels", integer=True)
        hidden = max(c // check.positive(reduction, "reduction", integer=True), 1)
        self.excite = nn.Sequential(  # (N, C, 1, 1) -> (N, C, 1, 1)
            nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1), nn.Sigmoid(),
        )  # fmt: skip

    def gates(self, x):
        """The channel weights, (N, C, H, W) -> (N, C, 1, 1), each in (0, 1)."""
        return self.excite(F.adaptive_avg_pool2d(x, 1))  # squeeze, then excite

    def forward(self, x):  # (N, C, H, W) -> (N, C, H, W)
        return x * self.gates(x)


VARIANTS = ("v1", "v1.5", "v2")


def check_variant(variant: str) -> str:
    """Check that ``variant`` names a ResNet block ordering: v1, v1.5 or v2."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    return variant


def shortcut(
    in_channels: int, out_channels: int, stride: int, variant: str
) -> nn.Module:
    """Identity when shapes agree, else a strided 1x1 projection (with BN, except in
    v2)."""
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    conv = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
    return (
        conv if variant == "v2" else nn.Sequential(conv, nn.BatchNorm2d(out_channels))
    )


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and a shortcut: (N, in, H, W) -> (N, out, H/s, W/s)."""

    def __init__(self, in_channels, out_channels, stride=1, *, variant="v1.5",
                 se=False):  # fmt: skip
        super().__init__()
        self.variant = check_variant(variant)  # v1 and v1.5 are the same here
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels if variant == "v2" else out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.se = SEBlock(out_channels) if se else nn.Identity()
        self.shortcut = shortcut(in_channels, out_channels, stride, variant)

    def forward(self, x):
        if self.variant == "v2":  # pre-activation (bn1 sees the input): see below
            return self.forward_v2(x)
        out = F.relu(self.bn1(self.conv1(x)))  # (N, out, H/s, W/s)
        out = self.se(self.bn2(self.conv2(out)))  # the residual F(x)
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 down to `width`, 3x3 (grouped), 1x1 up, and a shortcut (ResNet-50 and up)."""

    def __init__(self, in_channels, width, out_channels, stride=1, *, variant="v1.5",
                 groups=1, se=False):  # fmt: skip
        super().__init__()
        self.variant = check_variant(variant)
        s1, s3 = (stride, 1) if variant == "v1" else (1, stride)  # v1: on conv1
        self.conv1 = nn.Conv2d(in_channels, width, 1, stride=s1, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels if variant == "v2" else width)
        self.conv2 = nn.Conv2d(width, width, 3, s3, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width if variant == "v2" else out_channels)
        self.se = SEBlock(out_channels) if se else nn.Identity()
        self.shortcut = shortcut(in_channels, out_channels, stride, variant)


RESNET_LAYERS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
"""Block type and number of blocks per stage of the ImageNet ResNets."""


class ResNet(nn.Module):
    """ResNet / ResNeXt / SE-ResNet for ImageNet-size images.

    Stem (7x7 conv, stride 2, and 3x3 max pool, stride 2), four stages of
    blocks at 64, 128, 256, 512 base channels (stages 2-4 start by halving H
    and W), global average pooling and one linear layer. With
    ``block="basic"`` and ``layers=(2, 2, 2, 2)`` this is ResNet-18; with
    ``"bottleneck"`` and ``(3, 4, 6, 3)`` ResNet-50 (bottleneck blocks output
    four times the base channels). ``groups`` and ``width_per_group`` make
    the bottleneck's 3x3 convolution grouped (ResNeXt-50 32x4d: 32 and 4).

    Shapes: (N, C, H, W) -> (N, num_classes); 224x224 gives a 7x7 map before pooling.
    """

    def __init__(
        self,
        block: str = "basic",
        layers: Sequence[int] = (2, 2, 2, 2),
        *,
        num_classes: int = 1000,
        in_channels: int = 3,
        variant: str = "v1.5",
        groups: int = 1,
        width_per_group: int = 64,
        se: bool = False,
    ) -> None:
        super().__init__()
        _sizes(in_channels=in_channels, num_classes=num_classes, groups=groups)
        _sizes(width_per_group=width_per_group)
        _sizes(
            **{
                f"layers[{i}]": n
                for i, n in enumerate(check.nonempty(layers, "layers"))
            }
        )
        if block not in ("basic", "bottleneck"):
            raise ValueError(f"block must be 'basic' or 'bottleneck', got {block!r}")
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if block == "basic" and (groups != 1 or width_per_group != 64):
            raise ValueError("grouped convolutions (ResNeXt) need block='bottleneck'")
        self.in_channels, self.variant = in_channels, variant
        stem: list[nn.Module] = [
            nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        ]
        self.stem = nn.Sequential(*stem)  # (N, 64, H/4, W/4)
        stages, channels = [], 64
        for i, n_blocks in enumerate(layers):
            base = 64 * 2**i
            blocks: list[nn.Module] = []
            for j in range(n_blocks):
                stride = 2 if (i > 0 and j == 0) else 1
                if block == "basic":
                    blocks.append(
                        BasicBlock(channels, base, stride, variant=variant, se=se)
                    )
                    channels = base
                else:
                    width = base * width_per_group // 64 * groups
                    blocks.append(
                        Bottleneck(
                            channels,
                            width,
                            4 * base,
                            stride,
                            variant=variant,
                            groups=groups,
                            se=se,
                        )
                    )
                    channels = 4 * base
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        # v2 blocks end without BN-ReLU, so the network adds one before pooling
        self.final = (
            nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
            if variant == "v2"
            else nn.Identity()
        )
        self.fc = nn.Linear(channels, num_classes)
        self.out_channels = channels

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> the last stage's map (N, out_channels, H/32, W/32)."""
        _check_images(x, self.in_channels, "ResNet")
        return self.final(self.stages(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, num_classes)."""
        return self.fc(F.adaptive_avg_pool2d(self.forward_features(x), 1).flatten(1))


def resnet(
    depth: int = 18,
    *,
    variant: str = "v1.5",
    groups: int = 1,
    width_per_group: int = 64,
    se: bool = False,
    num_classes: int = 1000,
    in_channels: int = 3,
) -> ResNet:
    """ResNet-18/34/50/101/152 (and ResNeXt / SE variants) by depth; see
    :class:`ResNet`."""
    if depth not in RESNET_LAYERS:
        raise ValueError(f"depth must be one of {sorted(RESNET_LAYERS)}, got {depth}")
    block, layers = RESNET_LAYERS[depth]
    return ResNet(
        block,
        layers,
        variant=variant,
        groups=groups,
        width_per_group=width_per_group,
        se=se,
        num_classes=num_classes,
        in_channels=in_channels,
    )


class SplitTransformMerge(nn.Module):
    """The ResNeXt block written as ``cardinality`` explicit paths whose outputs are
    summed.

    Path k: 1x1 conv (in -> d), BN, ReLU, 3x3 conv (d -> d), BN, ReLU, 1x1 conv
    (d -> out). The paths' outputs are summed, batch-normalised and added to the
    shortcut, then ReLU. With ``cardinality * d = width`` this computes exactly
    what :class:`Bottleneck` (``variant="v1.5"``, ``groups=cardinality``) computes;
    :meth:`from_grouped` copies a grouped block's weights into the paths.
    Shapes: (N, in, H, W) -> (N, out, H / stride, W / stride).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        cardinality: int,
        path_width: int,
        stride: int = 1,
    ) -> None:
        super().__init__()
        _sizes(in_channels=in_channels, out_channels=out_channels, stride=stride)
        if cardinality < 1 or path_width < 1:
            raise ValueError(
                f"cardinality and path_width must be positive, got {cardinality}, "
                f"{path_width}"
            )
        self.paths = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(in_channels, path_width, 1, bias=False),
                nn.BatchNorm2d(path_width),
                nn.ReLU(inplace=True),
                nn.Conv2d(
                    path_width, path_width, 3, stride=stride, padding=1, bias=False
                ),
                nn.BatchNorm2d(path_width),
                nn.ReLU(inplace=True),
                nn.Conv2d(path_width, out_channels, 1, bias=False),
            )
            for _ in range(cardinality)
        )
        self.bn = nn.BatchNorm2d(out_channels)
        self.shortcut = shortcut(in_channels, out_channels, stride, "v1.5")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        merged = sum(
            path(x) for path in self.paths
        )  # split, transform, merge by summation
        return F.relu(self.bn(merged) + self.shortcut(x))

    @classmethod
    @torch.no_grad()
    def from_grouped(cls, block: Bottleneck) -> SplitTransformMerge:
        """The explicit-path form of a grouped bottleneck, with the same weights (and BN
        statistics)."""
        is_bottleneck = all(hasattr(block, n) for n in ("conv1", "conv2", "conv3"))
        if not is_bottleneck or getattr(block, "variant", None) != "v1.5":
            raise ValueError("from_grouped needs a Bottleneck with variant='v1.5'")
        g, width = block.conv2.groups, block.conv2.out_channels
        d = width // g
        new = cls(
            block.conv1.in_channels,
            block.conv3.out_channels,
            g,
            d,
            stride=block.conv2.stride[0],
        )
        new.to(device=block.conv1.weight.device, dtype=block.conv1.weight.dtype)
        for k, path in enumerate(new.paths):
            sl = slice(k * d, (k + 1) * d)
            path[0].weight.copy_(block.conv1.weight[sl])  # rows of the first 1x1 conv
            path[3].weight.copy_(
                block.conv2.weight[sl]
            )  # the k-th group of the 3x3 conv
            path[6].weight.copy_(
                block.conv3.weight[:, sl]
            )  # columns of the last 1x1 conv
            for bn_new, bn_old in ((path[1], block.bn1), (path[4], block.bn2)):
                for name in ("weight", "bias", "running_mean", "running_var"):
                    getattr(bn_new, name).copy_(getattr(bn_old, name)[sl])
        new.bn.load_state_dict(block.bn3.state_dict())
        new.shortcut.load_state_dict(block.shortcut.state_dict())
        return new


# --- small nets for 28x28 / 32x32 images ----------------------------------------------


class _DepthBlock(nn.Module):
    def __init__(
        self, in_channels: int, out_channels: int, stride: int, residual: bool
    ) -> None:
        super().__init__()
        self.residual = residual
        self.body = nn.Sequential(
            nn.Conv2d(
                in_channels, out_channels, 3, stride=stride, padding=1, bias=False
            ),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut = (
            shortcut(in_channels, out_channels, stride, "v1.5") if residual else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return F.relu(out + self.shortcut(x) if self.shortcut is not None else out)


class DepthNet(nn.Module):
    """Plain or residual networks of a chosen depth for small images (the CIFAR nets of
    He et al.).

    A 3x3 stem convolution, then three stages of ``blocks_per_stage`` blocks of
    two 3x3 convolutions each, at ``width``, ``2 width`` and ``4 width`` channels
    (stages 2 and 3 halve H and W), global average pooling and a linear layer:
    ``6 * blocks_per_stage + 2`` weight layers. ``residual=True`` adds a
    shortcut around every block, and is the only difference.

    Shapes: (N, C, H, W) -> (N, num_classes).
    """

    def __init__(
        self,
        blocks_per_stage: int,
        *,
        residual: bool,
        width: int = 16,
        in_channels: int = 1,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        _sizes(width=width, in_channels=in_channels, num_classes=num_classes)
        if blocks_per_stage < 1:
            raise ValueError(
                f"blocks_per_stage must be at least 1, got {blocks_per_stage}"
            )
        self.in_channels, self.depth = in_channels, 6 * blocks_per_stage + 2
        layers: list[nn.Module] = [_conv_bn_relu(in_channels, width, 3, padding=1)]
        channels = width
        for stage in range(3):
            for j in range(blocks_per_stage):
                out = width * 2**stage
                layers.append(
                    _DepthBlock(
                        channels, out, 2 if (stage > 0 and j == 0) else 1, residual
                    )
                )
                channels = out
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images(x, self.in_channels, "DepthNet")
        return self.fc(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


class SmallResNet(nn.Module):
    """A fast ResNet for 28x28 or 32x32 images, in the style of the CIFAR-10
    speed-record nets.

    Stem: 3x3 conv-BN-ReLU at ``widths[0]``. Then three stages; each has a
    3x3 conv-BN-ReLU to ``widths[i]`` and a 2x2 max pool (halving H and W),
    and stages 1 and 3 add a residual pair of 3x3 conv-BN-ReLU layers.
    Global max pooling and a linear layer whose output is scaled by
    ``logit_scale`` end the net. That is 8 convolutions and 1 linear layer
    (a "ResNet-9"). Shapes: (N, C, H, W) -> (N, num_classes), any H, W >= 8.

    Args:
        widths: channels of the stem and of the three stages.
        in_channels: image channels.
        num_classes: number of outputs.
        logit_scale: factor on the logits (a small value tempers early confidence).
    """

    def __init__(
        self,
        widths: Sequence[int] = (64, 128, 256, 512),
        *,
        in_channels: int = 1,
        num_classes: int = 10,
        logit_scale: float = 0.125,
    ) -> None:
        super().__init__()
        _sizes(in_channels=in_channels, num_classes=num_classes)
        check.positive(logit_scale, "logit_scale")
        if len(widths) != 4 or min(widths) < 1:
            raise ValueError(
                f"widths must be four positive channel counts, got {widths!r}"
            )
        self.in_channels, self.logit_scale = in_channels, logit_scale
        c0, c1, c2, c3 = widths

        def stage(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                _conv_bn_relu(cin, cout, 3, padding=1), nn.MaxPool2d(2)
            )

        def res(c: int) -> nn.Sequential:
            return nn.Sequential(
                _conv_bn_relu(c, c, 3, padding=1), _conv_bn_relu(c, c, 3, padding=1)
            )

        self.stem = _conv_bn_relu(in_channels, c0, 3, padding=1)
        self.layer1, self.res1 = stage(c0, c1), res(c1)  # (N, c1, H/2, W/2)
        self.layer2 = stage(c1, c2)  # (N, c2, H/4, W/4)
        self.layer3, self.res3 = stage(c2, c3), res(c3)  # (N, c3, H/8, W/8)
        self.fc = nn.Linear(c3, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images(x, self.in_channels, "SmallResNet")
        x = self.layer1(self.stem(x))
        x = x + self.res1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = x + self.res3(x)
        return self.logit_scale * self.fc(torch.amax(x, dim=(2, 3)))


@add_to_class(Bottleneck)
def forward(self, x):
    if self.variant == "v2":  # pre-activation: see below
        return self.forward_v2(x)
    out = F.relu(self.bn1(self.conv1(x)))  # (N, width, H/s1, W/s1)
    out = F.relu(self.bn2(self.conv2(out)))  # (N, width, H/s, W/s)
    out = self.se(self.bn3(self.conv3(out)))  # (N, out, H/s, W/s)
    return F.relu(out + self.shortcut(x))


@add_to_class(BasicBlock)
@add_to_class(Bottleneck)
def forward_v2(self, x):
    """The v2 block: BN-ReLU-conv steps, and nothing after the sum."""
    pre = F.relu(self.bn1(x))
    skip = x if isinstance(self.shortcut, nn.Identity) else self.shortcut(pre)
    out = self.conv2(F.relu(self.bn2(self.conv1(pre))))
    if hasattr(self, "conv3"):  # a bottleneck
        out = self.conv3(F.relu(self.bn3(out)))
    return self.se(out) + skip
