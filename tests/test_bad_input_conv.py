"""Bad input to dlbook.conv gets a clear error; an empty batch works as in PyTorch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlbook import conv


@pytest.mark.parametrize("shape", [(0, 3, 9, 8), (0, 1, 5, 5)])
def test_empty_batch_like_pytorch(shape):
    x = torch.randn(shape, dtype=torch.float64)
    w = torch.randn(4, shape[1], 3, 3, dtype=torch.float64)
    b = torch.randn(4, dtype=torch.float64)
    for kw in (dict(), dict(stride=2, padding=1), dict(dilation=2, padding=2)):
        ours, ref = conv.conv2d(x, w, b, **kw), F.conv2d(x, w, b, **kw)
        assert ours.shape == ref.shape
    assert conv.conv2d_loops(x, w, b, 2, 1).shape == F.conv2d(x, w, b, 2, 1).shape
    assert conv.im2col(x, 3).shape == F.unfold(x, 3).shape
    for ours, ref in ((conv.max_pool2d, F.max_pool2d), (conv.avg_pool2d, F.avg_pool2d)):
        assert ours(x, 2).shape == ref(x, 2).shape
        assert ours(x, 3, 2, 1).shape == ref(x, 3, 2, 1).shape
    z = conv.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
    assert z.shape == F.avg_pool2d(x, 3, 2, 1, count_include_pad=False).shape


def test_loops_match_pytorch_at_the_floor():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 7, 6, generator=g, dtype=torch.float64)
    w = torch.randn(4, 3, 3, 2, generator=g, dtype=torch.float64)
    b = torch.randn(4, generator=g, dtype=torch.float64)
    for s, p in [(1, 0), (2, 1), (3, 2)]:
        ref = F.conv2d(x, w, b, stride=s, padding=p)
        assert (conv.conv2d_loops(x, w, b, s, p) - ref).abs().max() < 1e-12


def test_numpy_input_is_a_type_error():
    w = torch.randn(2, 1, 3, 3)
    with pytest.raises(TypeError, match="torch.Tensor"):
        conv.im2col(np.zeros((1, 1, 5, 5)), 3)
    with pytest.raises(ValueError, match="shape \\(N, Cin, H, W\\)"):
        conv.conv2d(np.zeros((1, 1, 5, 5)), w)
    with pytest.raises(TypeError, match="weight must be a torch.Tensor"):
        conv.conv2d(torch.zeros(1, 1, 5, 5), np.zeros((2, 1, 3, 3)))
    with pytest.raises(TypeError, match="torch.Tensor"):
        conv.max_pool2d(np.zeros((1, 1, 4, 4)), 2)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda x: conv.conv2d(x, torch.randn(2, 1, 3, 3), groups=0),
            ValueError,
            "> 0",
        ),
        (
            lambda x: conv.conv2d(x, torch.randn(2, 1, 3, 3), groups=1.5),
            TypeError,
            "int",
        ),
        (lambda x: conv.conv2d(x, torch.randn(2, 1, 3)), ValueError, "4 dimensions"),
        (
            lambda x: conv.conv2d(x, torch.randn(2, 1, 3, 3, dtype=torch.float64)),
            ValueError,
            "dtype",
        ),
        (
            lambda x: conv.conv2d(x, torch.randn(2, 1, 3, 3), [1.0, 2.0]),
            ValueError,
            "bias",
        ),
        (
            lambda x: conv.conv2d(x, torch.randn(2, 1, 3, 3), dilation=0),
            ValueError,
            ">= 1",
        ),
        (lambda x: conv.im2col(x, 0), ValueError, "kernel_size must be >= 1"),
        (lambda x: conv.im2col(x, 3, stride=True), ValueError, "int or a pair"),
        (lambda x: conv.im2col(x, 7), ValueError, "does not fit"),
        (lambda x: conv.im2col(x[0], 3), ValueError, "shape \\(N, Cin, H, W\\)"),
        (lambda x: conv.max_pool2d(x, 2, 0), ValueError, "stride must be >= 1"),
        (lambda x: conv.max_pool2d(x, 9), ValueError, "does not fit"),
        (lambda x: conv.avg_pool2d(x, 3, padding=2), ValueError, "at most half"),
        (lambda x: conv.avg_pool2d(x, "2"), ValueError, "int or a pair"),
        (lambda x: conv.conv2d_loops(x, torch.randn(1, 1, 9, 9)), ValueError, "fit"),
    ],
)
def test_bad_arguments_get_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(torch.randn(1, 1, 6, 6))


def test_conv_args_returns_pairs_and_output_size():
    x = torch.zeros(1, 1, 10, 7)
    assert conv.conv_args(x, (3, 2), 2, (1, 0), 1) == (
        (3, 2),
        (2, 2),
        (1, 0),
        (1, 1),
        (5, 3),
    )
