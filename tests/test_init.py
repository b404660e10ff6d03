import math

import pytest
import torch
from torch import nn

from dlbook import init

SHAPES = [
    (64, 32),
    (10, 784),
    (32, 16, 3, 3),
    (8, 3, 5, 5),
    (16, 4, 7),
    (4, 2, 3, 3, 3),
]


@pytest.mark.parametrize("shape", SHAPES)
def test_fans_match_torch_for_linear_and_conv(shape):
    w = torch.empty(shape)
    assert init.fans(w) == nn.init._calculate_fan_in_and_fan_out(w)


def test_fans_of_real_layers():
    assert init.fans(nn.Linear(20, 5).weight) == (20, 5)
    assert init.fans(nn.Conv2d(3, 16, kernel_size=5).weight) == (3 * 25, 16 * 25)
    assert init.fans(nn.Conv1d(4, 8, kernel_size=3).weight) == (12, 24)


def _same_draw(ours, theirs, shape, seed=0):
    a, b = torch.empty(shape), torch.empty(shape)
    torch.manual_seed(seed)
    ours(a)
    torch.manual_seed(seed)
    theirs(b)
    return torch.equal(a, b)


@pytest.mark.parametrize("shape", SHAPES)
def test_same_seed_gives_the_tensor_of_nn_init(shape):
    ni = nn.init
    pairs = [
        (init.xavier_normal_, ni.xavier_normal_),
        (init.xavier_uniform_, ni.xavier_uniform_),
        (
            lambda w: init.xavier_normal_(w, gain=5 / 3),
            lambda w: ni.xavier_normal_(w, gain=5 / 3),
        ),
        (init.he_normal_, lambda w: ni.kaiming_normal_(w, nonlinearity="relu")),
        (init.he_uniform_, lambda w: ni.kaiming_uniform_(w, nonlinearity="relu")),
        (
            lambda w: init.he_normal_(w, mode="fan_out"),
            lambda w: ni.kaiming_normal_(w, mode="fan_out"),
        ),
        (
            lambda w: init.he_uniform_(w, mode="fan_out"),
            lambda w: ni.kaiming_uniform_(w, mode="fan_out"),
        ),
        # LeCun is Kaiming with the gain of a linear unit (1)
        (init.lecun_normal_, lambda w: ni.kaiming_normal_(w, nonlinearity="linear")),
        (init.lecun_uniform_, lambda w: ni.kaiming_uniform_(w, nonlinearity="linear")),
    ]
    for ours, theirs in pairs:
        assert _same_draw(ours, theirs, shape)


def test_generator_argument_is_used():
    a, b = torch.empty(50, 40), torch.empty(50, 40)
    init.he_normal_(a, generator=torch.Generator().manual_seed(3))
    init.he_normal_(b, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    "scheme, dist", [(s, d) for s in init.SCHEMES for d in ("normal", "uniform")]
)
def test_empirical_std_matches_the_formula(scheme, dist):
    w = torch.empty(256, 64, 3, 3)  # fan_in 576, fan_out 2304
    fn = {
        ("lecun", "normal"): init.lecun_normal_,
        ("lecun", "uniform"): init.lecun_uniform_,
        ("xavier", "normal"): init.xavier_normal_,
        ("xavier", "uniform"): init.xavier_uniform_,
        ("he", "normal"): init.he_normal_,
        ("he", "uniform"): init.he_uniform_,
    }[scheme, dist]
    fn(w, generator=torch.Generator().manual_seed(0))
    expected = {
        "lecun": 1 / math.sqrt(576),
        "xavier": math.sqrt(2 / (576 + 2304)),
        "he": math.sqrt(2 / 576),
    }[scheme]
    assert init.init_std(w, scheme) == pytest.approx(expected, rel=1e-12)
    assert w.std().item() == pytest.approx(expected, rel=0.01)
    if dist == "uniform":
        assert w.abs().max().item() <= math.sqrt(3) * expected


def test_init_model_touches_linear_and_conv_and_zeroes_biases():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10)
    )
    init.init_model_(model, "he", generator=torch.Generator().manual_seed(0))
    conv, lin = model[0], model[3]
    assert conv.bias.abs().sum() == 0 and lin.bias.abs().sum() == 0
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / 27), rel=0.2)
    assert lin.weight.std().item() == pytest.approx(math.sqrt(2 / 288), rel=0.05)


def test_he_keeps_relu_variance_through_depth():
    torch.manual_seed(0)
    h = torch.randn(1000, 256, dtype=torch.float64)
    for _ in range(30):
        w = init.he_normal_(torch.empty(256, 256, dtype=torch.float64))
        h = torch.relu(h @ w.T)
    assert 0.5 < h.pow(2).mean().item() / 1.0 < 2.0  # E[h^2] stays ~ E[x^2] = 1


@pytest.mark.parametrize(
    "call",
    [
        lambda: init.fans(torch.empty(5)),
        lambda: init.init_std(torch.empty(3, 3), "glorot"),
        lambda: init.init_std(torch.empty(3, 3), "he", mode="fan_both"),
        lambda: init.init_std(torch.empty(3, 3), "xavier", gain=0.0),
        lambda: init.init_std(torch.empty(3, 0), "he"),
        lambda: init.init_model_(nn.Sequential(nn.ReLU()), "he"),
        lambda: init.init_model_(nn.Linear(2, 2), "he", dist="laplace"),
    ],
)
def test_bad_inputs_raise(call):
    with pytest.raises(ValueError):
        call()


def test_fans_needs_a_tensor():
    with pytest.raises(TypeError):
        init.fans([[1.0, 2.0]])
