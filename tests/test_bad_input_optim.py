"""Bad input to dlbook.optim, dlbook.init and dlbook.regularization gets a clear error."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from dlbook import init, optim, regularization

P = lambda: [torch.zeros(3, requires_grad=True)]  # noqa: E731
BAD = (TypeError, ValueError)

# ----- optim ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: optim.SGD(P(), lr=-0.1),
        lambda: optim.SGD(P(), lr=math.inf),
        lambda: optim.SGD(P(), lr=float("nan")),
        lambda: optim.SGD(P(), lr=None),
        lambda: optim.SGD(P(), lr=True),
        lambda: optim.SGD(P(), lr=0.1, weight_decay=-1e-3),
        lambda: optim.Momentum(P(), lr=0.1, beta=1.0),
        lambda: optim.Momentum(P(), lr=0.1, beta=-0.5),
        lambda: optim.Nesterov(P(), lr=0.1, beta=2.0),
        lambda: optim.AdaGrad(P(), eps=0.0),
        lambda: optim.AdaGrad(P(), eps=-1e-8),
        lambda: optim.RMSProp(P(), beta2=1.0),
        lambda: optim.RMSProp(P(), eps=0.0),
        lambda: optim.AdaDelta(P(), rho=1.0),
        lambda: optim.AdaDelta(P(), eps=0.0),
        lambda: optim.AdaDelta(P(), lr=-1.0),
        lambda: optim.Adam(P(), beta1=1.0),
        lambda: optim.Adam(P(), beta2=1.5),
        lambda: optim.Adam(P(), eps=0.0),
        lambda: optim.Adam(P(), amsgrad="yes"),
        lambda: optim.Adam(P(), betas=(0.9, 0.99)),  # a typo for beta1/beta2
        lambda: optim.AdamW(P(), weight_decay=-0.1),
        lambda: optim.AdamW(P(), lr=math.inf),
    ],
)
def test_optimizers_refuse_bad_hyper_parameters(make):
    with pytest.raises(BAD):
        make()


@pytest.mark.parametrize("cls", list(optim.OPTIMIZERS.values()))
def test_optimizers_refuse_empty_or_non_tensor_params(cls):
    kw = dict(lr=0.1)
    with pytest.raises(BAD):
        cls([], **kw)
    with pytest.raises(BAD):
        cls(torch.zeros(3, requires_grad=True), **kw)  # a bare tensor, not an iterable
    with pytest.raises(BAD):
        cls([np.zeros(3)], **kw)


def test_bad_param_group_is_refused():
    opt = optim.Adam(P(), lr=1e-3)
    with pytest.raises(BAD):
        opt.add_param_group({"params": P(), "beta1": 1.5})
    with pytest.raises(BAD):
        optim.SGD([{"params": P(), "lr": -1.0}], lr=0.1)


def test_base_class_without_update_says_so():
    class Half(optim.FromScratch):
        pass

    w = torch.zeros(2, requires_grad=True)
    opt = Half([w], dict(lr=0.1))
    w.grad = torch.ones(2)
    with pytest.raises(NotImplementedError, match="update"):
        opt.step()


def test_early_stopping_bad_input():
    for kw in (
        dict(patience=0),
        dict(patience=1.5),
        dict(patience=True),
        dict(min_delta=-0.1),
        dict(min_delta=math.nan),
        dict(mode="best"),
    ):
        with pytest.raises(BAD):
            optim.EarlyStopping(**kw)
    stopper = optim.EarlyStopping()
    with pytest.raises(TypeError):
        stopper.step(0.5, model="not a model")
    with pytest.raises(TypeError):
        stopper.step("0.5", nn.Linear(1, 1))
    with pytest.raises(ValueError, match="diverged"):
        stopper.step(math.inf, nn.Linear(1, 1))
    with pytest.raises(TypeError):
        stopper.restore(None)


# ----- init ----------------------------------------------------------------------


def test_fans_refuses_non_tensors_and_biases():
    with pytest.raises(TypeError):
        init.fans(np.zeros((3, 4)))
    with pytest.raises(ValueError):
        init.fans(torch.zeros(5))
    with pytest.raises(ValueError):
        init.fans(torch.zeros(2, 3, 4, 5, 6, 7))


@pytest.mark.parametrize(
    "kw",
    [
        dict(scheme="kaiming"),
        dict(scheme=None),
        dict(scheme="he", mode="fan_avg"),
        dict(scheme="he", gain=0.0),
        dict(scheme="he", gain=-1.0),
        dict(scheme="he", gain=math.nan),
    ],
)
def test_init_std_bad_arguments(kw):
    with pytest.raises(BAD):
        init.init_std(torch.empty(4, 3), **kw)


def test_zero_fan_is_refused():
    with pytest.raises(ValueError):
        init.init_std(torch.empty(4, 0), "xavier")
    with pytest.raises(ValueError):
        init.he_normal_(torch.empty(0, 3), mode="fan_out")


@pytest.mark.parametrize(
    "fill",
    [
        init.lecun_normal_,
        init.lecun_uniform_,
        init.xavier_normal_,
        init.xavier_uniform_,
        init.he_normal_,
        init.he_uniform_,
    ],
)
def test_fill_functions_refuse_bad_weights(fill):
    with pytest.raises(BAD):
        fill(np.zeros((3, 4)))
    with pytest.raises(BAD):
        fill(torch.zeros(4))


def test_draw_and_init_model_bad_arguments():
    with pytest.raises(ValueError):
        init._draw_(torch.empty(3, 3), 0.1, "cauchy")
    with pytest.raises(TypeError):
        init.init_model_("not a model", "he")
    with pytest.raises(ValueError):
        init.init_model_(nn.Sequential(nn.ReLU()), "he")  # no Linear or Conv
    with pytest.raises(ValueError):
        init.init_model_(nn.Linear(3, 2), "glorot")
    with pytest.raises(ValueError):
        init.init_model_(nn.Linear(3, 2), "he", dist="cauchy")


def test_init_model_matches_the_fill_functions():
    layer = nn.Linear(30, 20)
    torch.manual_seed(0)
    a = init.init_model_(layer, "he")
    torch.manual_seed(0)
    w = init.he_normal_(torch.empty(20, 30))
    assert torch.equal(a.weight, w) and torch.equal(a.bias, torch.zeros(20))


# ----- regularization --------------------------------------------------------------


def test_dropout_bad_input():
    x = torch.randn(4, 5)
    for p in (-0.1, 1.1, math.nan, "0.5", None):
        with pytest.raises(BAD):
            regularization.dropout(x, p)
        with pytest.raises(BAD):
            regularization.Dropout(p)
    with pytest.raises(TypeError):
        regularization.dropout(np.zeros((4, 5)), 0.5)
    with pytest.raises(TypeError):
        regularization.dropout(torch.ones(4, 5, dtype=torch.long), 0.5)


def _bn_args(c=3):
    return [torch.ones(c), torch.zeros(c), torch.zeros(c), torch.ones(c)]


@pytest.mark.parametrize(
    "x, args, kw",
    [
        (torch.randn(8), _bn_args(), {}),  # no channel dimension
        (torch.randn(8, 4), _bn_args(3), {}),  # channel mismatch
        (np.zeros((8, 3)), _bn_args(), {}),  # not a tensor
        (torch.ones(8, 3, dtype=torch.long), _bn_args(), {}),  # integer input
        (torch.randn(1, 3), _bn_args(), {}),  # one value per channel in training
        (torch.randn(8, 3), _bn_args(), dict(momentum=1.5)),
        (torch.randn(8, 3), _bn_args(), dict(eps=0.0)),
        (torch.randn(8, 3), _bn_args(), dict(eps=-1e-5)),
        (torch.randn(8, 3), [np.ones(3)] + _bn_args()[1:], {}),
        (torch.randn(8, 3), [torch.ones(3, 1)] + _bn_args()[1:], {}),
    ],
)
def test_batch_norm_bad_input(x, args, kw):
    with pytest.raises(BAD):
        regularization.batch_norm(x, *args, training=True, **kw)


def test_batch_norm_needs_a_boolean_training_flag():
    with pytest.raises(TypeError):
        regularization.batch_norm(torch.randn(8, 3), *_bn_args(), training="yes")


@pytest.mark.parametrize(
    "kw",
    [
        dict(num_features=0),
        dict(num_features=2.5),
        dict(num_features=3, momentum=-0.1),
        dict(num_features=3, momentum=2.0),
        dict(num_features=3, eps=0.0),
    ],
)
def test_batchnorm_module_bad_arguments(kw):
    with pytest.raises(BAD):
        regularization.BatchNorm(**kw)


def test_one_example_is_fine_in_eval_mode():
    bn = regularization.BatchNorm(3).eval()
    assert bn(torch.randn(1, 3)).shape == (1, 3)


@pytest.mark.parametrize(
    "x, y, kw",
    [
        (torch.rand(4, 2), torch.tensor([0, 1, 2, 0]), dict(alpha=0.0)),
        (torch.rand(4, 2), torch.tensor([0, 1, 2, 0]), dict(alpha=-1.0)),
        (torch.rand(4, 2), torch.tensor([0, 1, 2, 0]), dict(alpha=math.inf)),
        (torch.rand(4, 2), torch.rand(4), {}),  # float labels
        (torch.rand(4, 2), torch.tensor([0, 1, 2]), {}),  # wrong length
        (torch.rand(4, 2), torch.tensor([0, 1, 3, 0]), {}),  # label out of range
        (torch.rand(4, 2), torch.tensor([0, -1, 2, 0]), {}),
        (torch.rand(4, 2), torch.tensor([[0, 1], [2, 0]]), {}),
        (np.zeros((4, 2)), torch.tensor([0, 1, 2, 0]), {}),
        (torch.ones(4, 2, dtype=torch.uint8), torch.tensor([0, 1, 2, 0]), {}),
        (torch.rand(4, 2), torch.tensor([0, 1, 2, 0]), dict(num_classes=0)),
    ],
)
def test_mixup_bad_input(x, y, kw):
    kw = dict(num_classes=3) | kw
    with pytest.raises(BAD):
        regularization.mixup(x, y, **kw)


def test_beta_draw_bad_alpha():
    for alpha in (0.0, -1.0, math.nan, "1"):
        with pytest.raises(BAD):
            regularization.beta_draw(alpha)
