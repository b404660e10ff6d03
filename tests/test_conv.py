import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlbook import conv


def _random_conv_setting(rng: random.Random) -> dict:
    groups = rng.choice([1, 1, 1, 2, 3])
    kh, kw = rng.randint(1, 4), rng.randint(1, 4)
    dh, dw = rng.randint(1, 3), rng.randint(1, 3)
    ph, pw = rng.randint(0, 3), rng.randint(0, 3)
    h = max(dh * (kh - 1) + 1 - 2 * ph, 1) + rng.randint(0, 8)  # the kernel always fits
    w = max(dw * (kw - 1) + 1 - 2 * pw, 1) + rng.randint(0, 8)
    return dict(
        n=rng.randint(1, 3),
        cin=groups * rng.randint(1, 3),
        cout=groups * rng.randint(1, 3),
        h=h,
        w=w,
        kernel=(kh, kw),
        stride=(rng.randint(1, 3), rng.randint(1, 3)),
        padding=(ph, pw),
        dilation=(dh, dw),
        groups=groups,
        bias=rng.random() < 0.7,
    )


def test_conv2d_matches_torch_on_many_random_settings_values_and_gradients():
    rng = random.Random(0)
    g = torch.Generator().manual_seed(0)
    for trial in range(150):
        s = _random_conv_setting(rng)
        x = torch.randn(
            s["n"], s["cin"], s["h"], s["w"], generator=g, dtype=torch.float64
        )
        wt = torch.randn(
            s["cout"],
            s["cin"] // s["groups"],
            *s["kernel"],
            generator=g,
            dtype=torch.float64,
        )
        b = (
            torch.randn(s["cout"], generator=g, dtype=torch.float64)
            if s["bias"]
            else None
        )
        kw = dict(
            stride=s["stride"],
            padding=s["padding"],
            dilation=s["dilation"],
            groups=s["groups"],
        )
        leaves = [
            t.clone().requires_grad_()
            for t in (x, wt) + ((b,) if b is not None else ())
        ]
        refs = [t.detach().clone().requires_grad_() for t in leaves]
        ours = conv.conv2d(
            leaves[0], leaves[1], leaves[2] if b is not None else None, **kw
        )
        theirs = F.conv2d(refs[0], refs[1], refs[2] if b is not None else None, **kw)
        assert ours.shape == theirs.shape, f"trial {trial}: {s}"
        torch.testing.assert_close(
            ours, theirs, rtol=1e-10, atol=1e-10, msg=f"trial {trial}: {s}"
        )
        upstream = torch.randn(theirs.shape, generator=g, dtype=torch.float64)
        (ours * upstream).sum().backward()
        (theirs * upstream).sum().backward()
        for a, r in zip(leaves, refs):
            torch.testing.assert_close(
                a.grad,
                r.grad,
                rtol=1e-10,
                atol=1e-10,
                msg=f"gradient, trial {trial}: {s}",
            )


def test_im2col_matches_unfold():
    rng = random.Random(1)
    g = torch.Generator().manual_seed(1)
    for _ in range(40):
        s = _random_conv_setting(rng)
        x = torch.randn(
            s["n"], s["cin"], s["h"], s["w"], generator=g, dtype=torch.float64
        )
        kw = dict(stride=s["stride"], padding=s["padding"], dilation=s["dilation"])
        torch.testing.assert_close(
            conv.im2col(x, s["kernel"], **kw), F.unfold(x, s["kernel"], **kw)
        )


def test_output_size_matches_nn_conv2d():
    rng = random.Random(2)
    for _ in range(100):
        k, st, p, d = (
            rng.randint(1, 5),
            rng.randint(1, 4),
            rng.randint(0, 3),
            rng.randint(1, 2),
        )
        size = max(d * (k - 1) + 1 - 2 * p, 1) + rng.randint(0, 30)  # the kernel fits
        layer = nn.Conv2d(1, 1, k, stride=st, padding=p, dilation=d)
        assert layer(torch.zeros(1, 1, size, size)).shape[-1] == conv.conv_output_size(
            size, k, stride=st, padding=p, dilation=d
        )


def _random_pool_setting(rng: random.Random) -> dict:
    kh, kw = rng.randint(1, 4), rng.randint(1, 4)
    return dict(
        kernel=(kh, kw),
        stride=rng.choice([None, (rng.randint(1, 3), rng.randint(1, 3))]),
        padding=(rng.randint(0, kh // 2), rng.randint(0, kw // 2)),
        shape=(
            rng.randint(1, 3),
            rng.randint(1, 4),
            kh + rng.randint(0, 9),
            kw + rng.randint(0, 9),
        ),
    )


def test_pooling_matches_torch_on_many_random_settings():
    rng = random.Random(3)
    g = torch.Generator().manual_seed(3)
    for trial in range(120):
        s = _random_pool_setting(rng)
        x = torch.randn(*s["shape"], generator=g, dtype=torch.float64)
        args = (s["kernel"], s["stride"], s["padding"])
        torch.testing.assert_close(
            conv.max_pool2d(x, *args),
            F.max_pool2d(x, *args),
            msg=f"max, trial {trial}: {s}",
        )
        for include in (True, False):
            torch.testing.assert_close(
                conv.avg_pool2d(x, *args, count_include_pad=include),
                F.avg_pool2d(x, *args, count_include_pad=include),
                msg=f"avg (count_include_pad={include}), trial {trial}: {s}",
            )


def test_pooling_gradients_match_torch():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(
        2, 3, 9, 8, generator=g, dtype=torch.float64
    )  # continuous values: no ties for the max
    for ours, theirs in (
        (conv.max_pool2d, F.max_pool2d),
        (conv.avg_pool2d, F.avg_pool2d),
    ):
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        ours(a, 3, 2, 1).pow(2).sum().backward()
        theirs(b, 3, 2, 1).pow(2).sum().backward()
        torch.testing.assert_close(a.grad, b.grad)


def test_bad_inputs_raise_helpful_errors():
    x = torch.randn(1, 4, 8, 8)
    with pytest.raises(ValueError, match="groups=3 must divide"):
        conv.conv2d(x, torch.randn(6, 1, 3, 3), groups=3)
    with pytest.raises(ValueError, match="input channels per filter"):
        conv.conv2d(x, torch.randn(6, 3, 3, 3))
    with pytest.raises(ValueError, match="shape \\(N, Cin, H, W\\)"):
        conv.conv2d(torch.randn(4, 8, 8), torch.randn(6, 4, 3, 3))
    with pytest.raises(ValueError, match="bias must have shape"):
        conv.conv2d(x, torch.randn(6, 4, 3, 3), torch.randn(5))
    with pytest.raises(ValueError, match="does not fit"):
        conv.conv2d(x, torch.randn(6, 4, 9, 9))
    with pytest.raises(ValueError, match="stride must be >= 1"):
        conv.conv2d(x, torch.randn(6, 4, 3, 3), stride=0)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        conv.conv2d(x, torch.randn(6, 4, 3, 3), padding=-1)
    with pytest.raises(ValueError, match="at most half the kernel"):
        conv.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match="int or a pair"):
        conv.avg_pool2d(x, (2, 2, 2))


def test_a_learned_conv_layer_fits_one_batch():
    torch.manual_seed(0)
    x, target = torch.randn(8, 2, 10, 10), torch.randn(8, 3, 8, 8)
    weight = torch.zeros(3, 2, 3, 3, requires_grad=True)
    opt = torch.optim.Adam([weight], lr=0.05)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = F.mse_loss(conv.conv2d(x, weight), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
