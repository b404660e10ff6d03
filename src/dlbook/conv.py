"""Two-dimensional convolution and pooling as one matrix product (chapter 6).

The chapter first writes a convolution as nested loops; this module holds the
fast version that later chapters import. The trick is *im2col*: copy every
receptive field of the input into a column of a matrix, so that the whole
convolution becomes a single matrix product with the flattened filters.

Images are batches of shape (N, C, H, W). Like PyTorch (and every deep-learning
library), "convolution" here means cross-correlation: the kernel is not flipped.

Contents:

- :func:`conv_output_size`, the output-size formula;
- :func:`im2col`, every receptive field as a column;
- :func:`conv2d`, with stride, padding, dilation, groups and bias;
- :func:`max_pool2d`, :func:`avg_pool2d`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["conv_output_size", "im2col", "conv2d", "max_pool2d", "avg_pool2d"]

IntPair = int | tuple[int, int]


def _pair(value: IntPair, name: str, minimum: int) -> tuple[int, int]:
    """(a, b) from an int or a pair of ints, each at least ``minimum``."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in pair
    ):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return pair  # type: ignore[return-value]


def conv_output_size(
    size: int, kernel: int, *, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """Length of a convolution's (or pooling's) output along one spatial axis.

    ``floor((size + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1``;
    with ``dilation=1`` this is ``floor((size - kernel + 2 * padding) / stride) + 1``.
    """
    span = dilation * (kernel - 1) + 1  # how many input positions one kernel covers
    return (size + 2 * padding - span) // stride + 1


def im2col(
    x: torch.Tensor,
    kernel_size: IntPair,
    *,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    pad_value: float = 0.0,
) -> torch.Tensor:
    """Every receptive field of ``x`` as a column.

    Args:
        x: images (N, C, H, W).
        kernel_size, stride, padding, dilation: an int or an (along H, along W) pair.
        pad_value: what the padding is filled with (0 for convolution, -inf for max pooling).

    Returns:
        (N, C * kh * kw, Hout * Wout): column ``l`` holds the field that produces
        output pixel ``l`` (row-major), flattened channel first, then kernel row,
        then kernel column — the layout of :func:`torch.nn.functional.unfold`.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(
            f"im2col expects images of shape (N, C, H, W); got {getattr(x, 'shape', type(x))}"
        )
    (kh, kw), (sh, sw) = (
        _pair(kernel_size, "kernel_size", 1),
        _pair(stride, "stride", 1),
    )
    (ph, pw), (dh, dw) = _pair(padding, "padding", 0), _pair(dilation, "dilation", 1)
    n, c, h, w = x.shape
    hout = conv_output_size(h, kh, stride=sh, padding=ph, dilation=dh)
    wout = conv_output_size(w, kw, stride=sw, padding=pw, dilation=dw)
    if hout < 1 or wout < 1:
        raise ValueError(
            f"the kernel ({kh}x{kw}, dilation {dh}x{dw}) does not fit into the input "
            f"({h}x{w} padded by {ph}x{pw}); use a smaller kernel or more padding"
        )
    xp = F.pad(x, (pw, pw, ph, ph), value=pad_value)  # (N, C, H + 2ph, W + 2pw)
    # Tensor.unfold(dim, size, step) adds a trailing axis holding windows of `size` taken every `step`:
    fields = xp.unfold(2, dh * (kh - 1) + 1, sh).unfold(
        3, dw * (kw - 1) + 1, sw
    )  # (N, C, Hout, Wout, span_h, span_w)
    fields = fields[
        ..., ::dh, ::dw
    ]  # keep every dilation-th tap: (N, C, Hout, Wout, kh, kw)
    return fields.permute(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, hout * wout)


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> torch.Tensor:
    """2-D convolution (cross-correlation) written as im2col + one matrix product per group.

    Same result and same argument meaning as :func:`torch.nn.functional.conv2d`.

    Args:
        x: images (N, Cin, H, W).
        weight: filters (Cout, Cin // groups, kh, kw).
        bias: (Cout,) or None.
        stride, padding, dilation: an int or an (along H, along W) pair.
        groups: split the channels into this many independent groups; both Cin
            and Cout must be divisible by it (``groups=Cin`` is a depthwise convolution).

    Returns:
        (N, Cout, Hout, Wout), sizes from :func:`conv_output_size`.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(
            f"conv2d expects images of shape (N, Cin, H, W); got {getattr(x, 'shape', type(x))}"
        )
    if not isinstance(weight, torch.Tensor) or weight.ndim != 4:
        raise ValueError(
            f"weight must have shape (Cout, Cin // groups, kh, kw); got {getattr(weight, 'shape', None)}"
        )
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    n, cin, h, w = x.shape
    cout, cin_per_group, kh, kw = weight.shape
    if cin % groups or cout % groups:
        raise ValueError(
            f"groups={groups} must divide both the input channels ({cin}) and the output "
            f"channels ({cout})"
        )
    if cin_per_group != cin // groups:
        raise ValueError(
            f"weight has {cin_per_group} input channels per filter, but the input has {cin} channels "
            f"in {groups} group(s), i.e. {cin // groups} per group"
        )
    if bias is not None and tuple(bias.shape) != (cout,):
        raise ValueError(
            f"bias must have shape ({cout},), one value per output channel; got {tuple(bias.shape)}"
        )
    cols = im2col(
        x, (kh, kw), stride=stride, padding=padding, dilation=dilation
    )  # (N, Cin*kh*kw, L)
    hout = conv_output_size(
        h,
        kh,
        stride=_pair(stride, "stride", 1)[0],
        padding=_pair(padding, "padding", 0)[0],
        dilation=_pair(dilation, "dilation", 1)[0],
    )
    cols = cols.reshape(
        n, groups, cin_per_group * kh * kw, -1
    )  # (N, G, Cin/G*kh*kw, L)
    w_mat = weight.reshape(
        groups, cout // groups, cin_per_group * kh * kw
    )  # (G, Cout/G, Cin/G*kh*kw)
    out = torch.matmul(
        w_mat, cols
    )  # (N, G, Cout/G, L): one matrix product per group, batched
    out = out.reshape(n, cout, hout, -1)  # (N, Cout, Hout, Wout)
    if bias is not None:
        out = out + bias.view(1, cout, 1, 1)
    return out


def _pool_fields(
    x: torch.Tensor,
    kernel_size: IntPair,
    stride: IntPair | None,
    padding: IntPair,
    pad_value: float,
    name: str,
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Receptive fields for pooling: (N, C, kh*kw, L) and the output size (Hout, Wout)."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(
            f"{name} expects images of shape (N, C, H, W); got {getattr(x, 'shape', type(x))}"
        )
    kh, kw = _pair(kernel_size, "kernel_size", 1)
    sh, sw = _pair(kernel_size if stride is None else stride, "stride", 1)
    ph, pw = _pair(padding, "padding", 0)
    if ph > kh // 2 or pw > kw // 2:
        raise ValueError(
            f"padding {padding!r} must be at most half the kernel size {kernel_size!r}; "
            "otherwise some windows would see only padding"
        )
    n, c, h, w = x.shape
    cols = im2col(
        x, (kh, kw), stride=(sh, sw), padding=(ph, pw), pad_value=pad_value
    )  # (N, C*kh*kw, L)
    hout = conv_output_size(h, kh, stride=sh, padding=ph)
    return cols.reshape(n, c, kh * kw, -1), (hout, cols.shape[-1] // hout)


def max_pool2d(
    x: torch.Tensor,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
) -> torch.Tensor:
    """Maximum over each kernel_size window, channel by channel (like :func:`torch.nn.functional.max_pool2d`).

    Args:
        x: (N, C, H, W).
        kernel_size: window size; stride defaults to it (non-overlapping windows).
        padding: implicit -inf padding, at most half the kernel.

    Returns:
        (N, C, Hout, Wout).
    """
    fields, (hout, wout) = _pool_fields(
        x, kernel_size, stride, padding, float("-inf"), "max_pool2d"
    )
    return fields.amax(dim=2).reshape(x.shape[0], x.shape[1], hout, wout)


def avg_pool2d(
    x: torch.Tensor,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    count_include_pad: bool = True,
) -> torch.Tensor:
    """Mean over each kernel_size window, channel by channel (like :func:`torch.nn.functional.avg_pool2d`).

    Args:
        x: (N, C, H, W).
        kernel_size: window size; stride defaults to it.
        padding: implicit zero padding, at most half the kernel.
        count_include_pad: divide by the full window size (True) or by the
            number of real, non-padding pixels in the window (False).

    Returns:
        (N, C, Hout, Wout).
    """
    fields, (hout, wout) = _pool_fields(
        x, kernel_size, stride, padding, 0.0, "avg_pool2d"
    )
    total = fields.sum(dim=2)  # (N, C, L)
    if count_include_pad:
        out = total / fields.shape[2]
    else:
        ones = torch.ones_like(x[:1, :1])
        counts, _ = _pool_fields(
            ones, kernel_size, stride, padding, 0.0, "avg_pool2d"
        )  # (1, 1, kh*kw, L)
        out = total / counts.sum(dim=2)
    return out.reshape(x.shape[0], x.shape[1], hout, wout)
