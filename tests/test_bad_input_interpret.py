"""Bad input to dlbook.interpret and dlbook.receptive gets a clear error."""

import numpy as np
import pytest
import torch
from torch import nn

from dlbook import interpret, receptive


def _net():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3)
    )


X = torch.rand(2, 1, 6, 6)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda m: interpret.saliency(m, np.zeros((2, 1, 6, 6))), ValueError, "batch"),
        (lambda m: interpret.saliency(m, X[0]), ValueError, "\\(N, C, H, W\\)"),
        (lambda m: interpret.saliency(m, X.long()), ValueError, "float"),
        (lambda m: interpret.saliency(m, X, 3), ValueError, "0..2"),
        (lambda m: interpret.saliency(m, X, 1.5), TypeError, "target"),
        (
            lambda m: interpret.saliency(m, X, torch.tensor([0.0, 1.0])),
            TypeError,
            "indices",
        ),
        (
            lambda m: interpret.saliency(m, X, torch.tensor([0, 1, 2])),
            ValueError,
            "shape",
        ),
        (lambda m: interpret.saliency("net", X), TypeError, "nn.Module"),
        (lambda m: interpret.grad_cam(m, nn.ReLU(), X), ValueError, "submodule"),
        (lambda m: interpret.grad_cam(m, m[3], X), ValueError, "feature maps"),
        (
            lambda m: interpret.fgsm(m, X, torch.tensor([0, 1]), -0.1),
            ValueError,
            ">= 0",
        ),
        (
            lambda m: interpret.fgsm(m, X, torch.tensor([0, 1]), float("nan")),
            ValueError,
            "finite",
        ),
        (
            lambda m: interpret.fgsm(m, X, torch.tensor([0.0, 1.0]), 0.1),
            TypeError,
            "integers",
        ),
        (lambda m: interpret.fgsm(m, X, torch.tensor([0]), 0.1), ValueError, "shape"),
        (lambda m: interpret.fgsm(m, X, [0, 1], 0.1), TypeError, "torch.Tensor"),
    ],
)
def test_bad_arguments_get_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(_net())


@pytest.mark.parametrize(
    "kw, error, match",
    [
        (dict(steps=0), ValueError, "steps"),
        (dict(steps=2.5), TypeError, "steps"),
        (dict(lr=0.0), ValueError, "lr"),
        (dict(l2=-1.0), ValueError, "l2"),
    ],
)
def test_maximize_activation_checks_its_arguments(kw, error, match):
    with pytest.raises(error, match=match):
        interpret.maximize_activation(lambda x: x.mean((1, 2, 3)), X, **kw)


def test_maximize_activation_needs_one_value_per_image():
    with pytest.raises(ValueError, match="one value per image"):
        interpret.maximize_activation(lambda x: x.mean(), X, steps=1)


def test_the_tools_restore_the_training_flag():
    net = _net().train()
    interpret.saliency(net, X)
    interpret.grad_cam(net, net[0], X)
    interpret.fgsm(net, X, torch.tensor([0, 1]), 0.1)
    assert net.training
    net.eval()
    interpret.saliency(net, X)
    assert not net.training


def test_grad_cam_removes_its_hook_even_on_error():
    net = _net()
    with pytest.raises(ValueError):
        interpret.grad_cam(net, net[3], X)
    assert not net[3]._forward_hooks


def test_empty_batch_gives_empty_maps():
    net = _net()
    assert interpret.saliency(net, X[:0]).shape == (0, 6, 6)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: receptive.ring_covariance(1, 1.0), ValueError, "d must be"),
        (lambda: receptive.ring_covariance(True, 1.0), ValueError, "d must be"),
        (lambda: receptive.ring_covariance(8, 0.0), ValueError, "xi"),
        (lambda: receptive.ring_covariance(8, float("inf")), ValueError, "xi"),
        (lambda: receptive.gp(0, 8, 1.0), ValueError, "n must be"),
        (lambda: receptive.gp(4, 8, 1.0, generator=0), TypeError, "Generator"),
        (lambda: receptive.nlgp(4, 8, 1.0, 0.0), ValueError, "gain"),
        (lambda: receptive.nlgp(4, 8, 1.0, "3"), TypeError, "gain"),
        (lambda: receptive.nlgp_covariance(8, 1.0, -1.0), ValueError, "gain"),
        (lambda: receptive.matched_gp(4, 8, 1.0, 0.0), ValueError, "gain"),
        (lambda: receptive.erf_std(0), ValueError, "gain"),
        (lambda: receptive.ipr(np.ones(4)), TypeError, "torch.Tensor"),
        (lambda: receptive.ipr(torch.ones(2, 2, 2)), ValueError, "vector"),
        (lambda: receptive.ipr(torch.zeros(3)), ValueError, "all-zero"),
        (lambda: receptive.ipr(torch.ones(3, dtype=torch.long)), TypeError, "floating"),
    ],
)
def test_receptive_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_nlgp_marginals_are_light_tailed():
    """The docstring's claim: bounded marginals, negative excess kurtosis at g = 3."""
    g = torch.Generator().manual_seed(0)
    x = receptive.nlgp(50_000, 4, 2.0, 3.0, generator=g)[:, 0].double()
    kurt = ((x - x.mean()) ** 4).mean() / x.var() ** 2 - 3
    assert -1.95 < kurt < -1.7 and x.abs().max() <= 1 / receptive.erf_std(3.0) + 1e-6
