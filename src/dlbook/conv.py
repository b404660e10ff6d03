"""Two-dimensional convolution and pooling, written out in chapter 6.

The chapter writes a convolution twice: as nested loops over the output
(:func:`conv2d_loops`) and as *im2col*, which copies every receptive field of
the input into a column of a matrix so that the whole layer becomes one matrix
product with the flattened filters (:func:`im2col`, :func:`conv2d`). Pooling
reuses the same columns (:func:`max_pool2d`, :func:`avg_pool2d`). Those
definitions are the chapter's cells tagged ``dlbook:conv``, copied here
verbatim (see :mod:`dlbook.export`); the argument checks they call in one line
(:func:`conv_args`, :func:`check_conv2d`, :func:`check_pool`) live only here.

Images are batches of shape (N, C, H, W); an empty batch (N = 0) is allowed,
as in PyTorch. Like PyTorch, "convolution" means cross-correlation: the kernel
is not flipped.
"""

from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn.functional as F

from dlbook import check

__all__ = [
    "conv_output_size",
    "conv_args",
    "check_conv2d",
    "check_pool",
    "conv2d_loops",
    "im2col",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
]

IntPair = int | tuple[int, int]


def _pair(value: IntPair, name: str, minimum: int) -> tuple[int, int]:
    """(a, b) from an int or a pair of ints, each at least ``minimum``."""
    if isinstance(value, torch.Size):
        value = tuple(value)
    pair = (value, value) if isinstance(value, int) else value
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair)
    ):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return tuple(pair)  # type: ignore[return-value]


def conv_args(
    x: torch.Tensor,
    kernel_size: IntPair,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> tuple[tuple[int, int], ...]:
    """Check images ``x`` (N, C, H, W) and the geometry of a convolution or pooling.

    Returns:
        ``(kh, kw), (sh, sw), (ph, pw), (dh, dw), (hout, wout)``: each argument
        as an (along H, along W) pair, and the output size.

    Raises:
        TypeError/ValueError when ``x`` is not a 4-D tensor, an argument is not
        an int or a pair of ints in range, or the kernel does not fit.
    """
    if not isinstance(x, torch.Tensor):
        check.tensor(x, "x")
    if x.dim() != 4:
        raise ValueError(
            f"x must be images of shape (N, Cin, H, W); got shape {tuple(x.shape)}"
        )
    k, s = _pair(kernel_size, "kernel_size", 1), _pair(stride, "stride", 1)
    p, d = _pair(padding, "padding", 0), _pair(dilation, "dilation", 1)
    hw = x.shape[2:]
    out = tuple(
        conv_output_size(hw[i], k[i], stride=s[i], padding=p[i], dilation=d[i])
        for i in (0, 1)
    )
    if min(out) < 1:
        raise ValueError(
            f"the kernel ({k[0]}x{k[1]}, dilation {d[0]}x{d[1]}) does not fit into "
            f"the input ({hw[0]}x{hw[1]} padded by {p[0]}x{p[1]}); use a smaller "
            "kernel or more padding"
        )
    return k, s, p, d, out


def check_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    groups: int,
) -> None:
    """Check that images, filters, bias and groups of a convolution agree."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(
            "conv2d expects images of shape (N, Cin, H, W); got "
            f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}"
        )
    check.tensor(weight, "weight", ndim=4, floating=True)
    check.positive(groups, "groups", integer=True)
    cin, (cout, cin_g) = x.shape[1], weight.shape[:2]
    if cin % groups or cout % groups:
        raise ValueError(
            f"groups={groups} must divide both the input channels ({cin}) and the "
            f"output channels ({cout})"
        )
    if cin_g != cin // groups:
        raise ValueError(
            f"weight has {cin_g} input channels per filter, but the input has {cin} "
            f"channels in {groups} group(s), i.e. {cin // groups} per group"
        )
    if x.dtype != weight.dtype or x.device != weight.device:
        raise ValueError(
            f"x ({x.dtype}, {x.device}) and weight ({weight.dtype}, {weight.device}) "
            "must share dtype and device"
        )
    if bias is not None and (
        not isinstance(bias, torch.Tensor) or tuple(bias.shape) != (cout,)
    ):
        got = tuple(bias.shape) if isinstance(bias, torch.Tensor) else type(bias)
        raise ValueError(
            f"bias must have shape ({cout},), one value per output channel; got {got}"
        )


def check_pool(kernel_size: IntPair, padding: IntPair) -> None:
    """Check that pooling's padding is at most half its window."""
    (kh, kw), (ph, pw) = (
        _pair(kernel_size, "kernel_size", 1),
        _pair(padding, "padding", 0),
    )
    if ph > kh // 2 or pw > kw // 2:
        raise ValueError(
            f"padding {padding!r} must be at most half the kernel size "
            f"{kernel_size!r}; otherwise some windows would see only padding"
        )


def conv_output_size(
    size: int, kernel: int, *, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """Output length along one axis: floor((n + 2P - D(F-1) - 1) / S) + 1."""
    span = dilation * (kernel - 1) + 1  # input positions one kernel covers
    return (size + 2 * padding - span) // stride + 1


def conv2d_loops(x, weight, bias=None, stride=1, padding=0):
    """The convolution layer as loops: (N, Cin, H, W), (Cout, Cin, Fh, Fw)."""
    (fh, fw), _, _, _, (h_out, w_out) = conv_args(x, weight.shape[2:], stride, padding)
    x = F.pad(x, (padding,) * 4)  # zeros around the image
    y = x.new_zeros(len(x), len(weight), h_out, w_out)  # (N, Cout, Ho, Wo)
    for n in range(len(x)):
        for o in range(len(weight)):
            for i in range(h_out):
                for j in range(w_out):
                    r, c = i * stride, j * stride
                    field = x[n, :, r : r + fh, c : c + fw]  # (Cin, Fh, Fw)
                    y[n, o, i, j] = (weight[o] * field).sum()
    return y if bias is None else y + bias.view(1, -1, 1, 1)


def im2col(x, kernel_size, *, stride=1, padding=0, dilation=1, pad_value=0.0):
    """Every receptive field of x (N, C, H, W) as a column: (N, C*kh*kw, Ho*Wo)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (ho, wo) = conv_args(
        x, kernel_size, stride, padding, dilation
    )
    xp = F.pad(x, (pw, pw, ph, ph), value=pad_value)  # (N, C, H+2ph, W+2pw)
    # unfold(dim, size, step): a view of every window of `size` taken every `step`
    fields = xp.unfold(2, dh * (kh - 1) + 1, sh).unfold(3, dw * (kw - 1) + 1, sw)
    fields = fields[..., ::dh, ::dw]  # every dilation-th tap: (N, C, Ho, Wo, kh, kw)
    cols = fields.permute(0, 1, 4, 5, 2, 3)  # (N, C, kh, kw, Ho, Wo)
    return cols.reshape(len(x), x.shape[1] * kh * kw, ho * wo)


def conv2d(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1):
    """F.conv2d as im2col and one matrix product per group."""
    check_conv2d(x, weight, bias, groups)
    kernel, *_, (ho, wo) = conv_args(x, weight.shape[2:], stride, padding, dilation)
    cols = im2col(x, kernel, stride=stride, padding=padding, dilation=dilation)
    cols = cols.unflatten(1, (groups, -1))  # (N, G, Cin/G*kh*kw, Ho*Wo)
    w = weight.flatten(1).unflatten(0, (groups, -1))  # (G, Cout/G, Cin/G*kh*kw)
    out = (w @ cols).flatten(1, 2)  # (N, Cout, Ho*Wo): one product per group
    out = out.unflatten(2, (ho, wo))  # (N, Cout, Ho, Wo)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """The maximum of each window, channel by channel: (N, C, Ho, Wo)."""
    stride = kernel_size if stride is None else stride
    check_pool(kernel_size, padding)
    *_, (ho, wo) = conv_args(x, kernel_size, stride, padding)
    cols = im2col(x, kernel_size, stride=stride, padding=padding, pad_value=-math.inf)
    fields = cols.unflatten(1, (x.shape[1], -1))  # (N, C, kh*kw, Ho*Wo)
    return fields.amax(dim=2).unflatten(2, (ho, wo))  # -inf padding never wins


def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True):
    """The mean of each window, channel by channel: (N, C, Ho, Wo)."""
    stride = kernel_size if stride is None else stride
    check_pool(kernel_size, padding)
    *_, (ho, wo) = conv_args(x, kernel_size, stride, padding)
    pool = partial(im2col, kernel_size=kernel_size, stride=stride, padding=padding)
    total = pool(x).unflatten(1, (x.shape[1], -1)).sum(2)  # (N, C, Ho*Wo)
    window = pool(x.new_ones(1, 1, *x.shape[2:]))  # (1, kh*kw, Ho*Wo): 1 = real pixel
    count = window.shape[1] if count_include_pad else window.sum(1)  # (1, Ho*Wo)
    return (total / count).unflatten(2, (ho, wo))
