import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlbook import mlp


def _z(*shape, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(*shape, generator=g, dtype=torch.float64)


TORCH_ACTIVATIONS = [
    ("sigmoid", {}, torch.sigmoid),
    ("tanh", {}, torch.tanh),
    ("arctan", {}, torch.atan),
    ("relu", {}, F.relu),
    ("leaky_relu", {}, F.leaky_relu),
    ("leaky_relu", {"slope": 0.2}, lambda z: F.leaky_relu(z, 0.2)),
    ("elu", {}, F.elu),
    ("elu", {"alpha": 0.5}, lambda z: F.elu(z, 0.5)),
    ("softplus", {}, F.softplus),
    ("softplus", {"beta": 2.0}, lambda z: F.softplus(z, beta=2.0)),
    ("identity", {}, lambda z: z),
]


@pytest.mark.parametrize("name, kw, ref", TORCH_ACTIVATIONS)
def test_activations_match_pytorch(name, kw, ref):
    z = _z(500, 7)
    torch.testing.assert_close(mlp.activation(name)(z, **kw), ref(z))


@pytest.mark.parametrize("name, kw, ref", TORCH_ACTIVATIONS + [("step", {}, None)])
def test_derivatives_match_autograd(name, kw, ref):
    z = _z(2000, seed=1).requires_grad_()
    out = mlp.activation(name)(z, **kw)
    # the step function is piecewise constant: autograd records no graph for it at all
    g = (
        torch.autograd.grad(out.sum(), z)[0]
        if out.requires_grad
        else torch.zeros_like(z)
    )
    torch.testing.assert_close(mlp.derivative(name, z.detach(), **kw), g)


def test_extreme_inputs_stay_finite():
    z = torch.tensor([-1e4, -50.0, 0.0, 50.0, 1e4], dtype=torch.float64)
    for name in ("sigmoid", "tanh", "softplus", "elu"):
        assert torch.isfinite(mlp.activation(name)(z)).all(), name
    torch.testing.assert_close(mlp.softplus(z), F.softplus(z))
    torch.testing.assert_close(
        mlp.softmax(torch.tensor([1000.0, 0.0])), torch.tensor([1.0, 0.0])
    )


def test_prelu_matches_pytorch_scalar_and_per_channel():
    z = _z(8, 5, 3)
    alpha = torch.rand(5, dtype=torch.float64)
    torch.testing.assert_close(mlp.prelu(z, alpha), F.prelu(z, alpha))
    torch.testing.assert_close(
        mlp.prelu(z, 0.25), F.prelu(z, torch.tensor([0.25], dtype=torch.float64))
    )
    zz = z.clone().requires_grad_()
    (g,) = torch.autograd.grad(mlp.prelu(zz, alpha).sum(), zz)
    torch.testing.assert_close(mlp.derivative("prelu", z, alpha=alpha), g)


def test_maxout_is_max_over_groups_and_special_cases():
    z = _z(4, 6)
    out = mlp.maxout(z, 3)
    assert out.shape == (4, 2)
    torch.testing.assert_close(
        out, torch.stack([z[:, :3].amax(1), z[:, 3:].amax(1)], 1)
    )
    x = _z(100)
    torch.testing.assert_close(
        mlp.maxout(torch.stack([x, torch.zeros_like(x)], -1), 2)[..., 0], F.relu(x)
    )
    torch.testing.assert_close(mlp.maxout(torch.stack([x, -x], -1), 2)[..., 0], x.abs())


def test_softmax_and_its_jacobian_match_pytorch():
    z = _z(3, 6)
    torch.testing.assert_close(mlp.softmax(z), F.softmax(z, dim=-1))
    jac = mlp.softmax_jacobian(z)
    assert jac.shape == (3, 6, 6)
    for i in range(3):
        ref = torch.autograd.functional.jacobian(lambda v: F.softmax(v, dim=-1), z[i])
        torch.testing.assert_close(jac[i], ref)
    torch.testing.assert_close(
        jac.sum(-1), torch.zeros(3, 6, dtype=torch.float64)
    )  # rows sum to zero


def test_regression_losses_match_pytorch():
    a, b = _z(10, 4, seed=1), _z(10, 4, seed=2)
    torch.testing.assert_close(mlp.squared_error(a, b), F.mse_loss(a, b))
    torch.testing.assert_close(mlp.absolute_error(a, b), F.l1_loss(a, b))


def test_classification_losses_match_pytorch():
    s = _z(32, 7)
    y = torch.randint(0, 7, (32,), generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(mlp.cross_entropy(s, y), F.cross_entropy(s, y))
    for p in (1, 2):
        for margin in (1.0, 0.5):
            torch.testing.assert_close(
                mlp.multiclass_hinge(s, y, power=p, margin=margin),
                F.multi_margin_loss(s, y, p=p, margin=margin),
            )
    t = 2.0 * (y % 2) - 1
    torch.testing.assert_close(
        mlp.logistic_loss(s[:, 0], t.double()), F.soft_margin_loss(s[:, 0], t.double())
    )
    # the log loss is the negative log-likelihood of the softmax
    torch.testing.assert_close(
        mlp.squared_log_loss(s, y),
        (F.log_softmax(s, 1).gather(1, y[:, None]) ** 2).mean(),
    )
    onehot = F.one_hot(y, 7).double()
    torch.testing.assert_close(
        mlp.brier_loss(s, y), ((F.softmax(s, 1) - onehot) ** 2).sum(1).mean()
    )


def test_one_vs_all_hinge_powers_and_binary_hinge():
    s = _z(16, 3)
    y = torch.arange(16) % 3
    t = 2 * F.one_hot(y, 3).double() - 1
    for p in (1, 2, 3):
        ref = F.relu(1 - t * s).pow(p).sum(1).mean()
        torch.testing.assert_close(mlp.one_vs_all_hinge(s, y, power=p), ref)
    torch.testing.assert_close(
        mlp.binary_hinge(s[:, 0], t[:, 0]), F.relu(1 - t[:, 0] * s[:, 0]).mean()
    )


def test_every_classification_loss_is_zero_when_perfect_and_positive_otherwise():
    y = torch.tensor([0, 2, 1])
    perfect = (
        60.0 * F.one_hot(y, 3).double() - 30.0
    )  # huge margins: softmax is one-hot, hinges are zero
    wrong = -perfect
    for name, loss in mlp.CLASSIFICATION_LOSSES.items():
        assert loss(perfect, y).item() == pytest.approx(0.0, abs=1e-9), name
        assert loss(wrong, y).item() > 0.1, name


def test_mlp_shapes_layers_and_parameter_count():
    for act in mlp.HIDDEN_ACTIVATIONS:
        for sizes in ([784, 10], [784, 128, 10], [20, 32, 8, 3]):
            net = mlp.MLP(sizes, act)
            assert net(
                torch.zeros(5, *([1, 28, 28] if sizes[0] == 784 else [sizes[0]]))
            ).shape == (5, sizes[-1])
            assert sum(p.numel() for p in net.parameters()) == mlp.n_parameters(
                sizes, act
            ), (act, sizes)
    net = mlp.MLP([10, 16, 16, 2], "relu", dropout=0.3)
    assert sum(isinstance(m, nn.Dropout) for m in net) == 2
    assert isinstance(net[-1], nn.Linear)
    head = net[:-1]  # slicing gives the hidden part, sharing its parameters
    assert isinstance(head, nn.Sequential) and head[1] is net[1]


def test_mlp_overfits_one_batch():
    torch.manual_seed(0)
    x, y = torch.randn(32, 10), torch.randint(0, 3, (32,))
    net = mlp.MLP([10, 64, 3], "tanh")
    opt = torch.optim.Adam(net.parameters(), lr=0.03)
    first = None
    for _ in range(80):
        loss = F.cross_entropy(net(x), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first


def test_bad_inputs_raise_helpful_errors():
    with pytest.raises(ValueError, match="unknown activation"):
        mlp.activation("swishy")
    with pytest.raises(ValueError, match="unknown activation"):
        mlp.derivative("swishy", torch.zeros(3))
    with pytest.raises(ValueError, match="step"):
        mlp.MLP([2, 3, 1], "step")
    with pytest.raises(ValueError, match="unknown activation"):
        mlp.MLP([2, 3, 1], "swishy")
    with pytest.raises(ValueError, match="sizes"):
        mlp.MLP([784])
    with pytest.raises(ValueError, match="sizes"):
        mlp.MLP([784, 0, 10])
    with pytest.raises(ValueError, match="dropout"):
        mlp.MLP([4, 4, 2], dropout=1.0)
    with pytest.raises(ValueError, match="multiple"):
        mlp.maxout(torch.zeros(3, 5), 2)
    with pytest.raises(ValueError, match="pieces"):
        mlp.Maxout(0)
    with pytest.raises(ValueError, match="same shape"):
        mlp.squared_error(torch.zeros(3), torch.zeros(3, 1))
    with pytest.raises(ValueError, match="labels"):
        mlp.cross_entropy(torch.zeros(4, 3), torch.tensor([0, 1, 2, 3]))
    with pytest.raises(TypeError, match="labels must hold integers"):
        mlp.cross_entropy(torch.zeros(4, 3), torch.zeros(4))
    with pytest.raises(ValueError, match="scores"):
        mlp.multiclass_hinge(torch.zeros(4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="power"):
        mlp.one_vs_all_hinge(
            torch.zeros(4, 3), torch.zeros(4, dtype=torch.long), power=0
        )
    with pytest.raises(ValueError, match="-1, \\+1"):
        mlp.binary_hinge(torch.zeros(4), torch.tensor([0.0, 1.0, 1.0, 0.0]))
    with pytest.raises(ValueError, match="PReLU"):
        mlp.prelu(torch.zeros(4, 3), torch.ones(5))
    with pytest.raises(ValueError, match="beta"):
        mlp.softplus(torch.zeros(3), beta=0.0)
    with pytest.raises(ValueError, match="at least one dimension"):
        mlp.softmax_jacobian(torch.tensor(1.0))


def test_classification_losses_accept_int32_labels():
    s = _z(6, 4)
    y = torch.tensor([0, 3, 1, 2, 2, 0])
    for name, loss in mlp.CLASSIFICATION_LOSSES.items():
        torch.testing.assert_close(loss(s, y.int()), loss(s, y), msg=name)


@pytest.mark.parametrize("dtype", [torch.int32, torch.int16, torch.uint8])
def test_losses_accept_narrow_integer_labels(dtype):
    """Regression: int32 labels passed the check but gather/scatter need int64 on
    torch < 2.8; the losses convert them and give the int64 result."""
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(6, 4, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 3, 1, 2, 2, 0])
    for name, loss in mlp.CLASSIFICATION_LOSSES.items():
        assert loss(scores, labels.to(dtype)).item() == loss(scores, labels).item(), (
            name
        )
    assert mlp.class_labels(scores, labels.to(dtype)).dtype == torch.int64
