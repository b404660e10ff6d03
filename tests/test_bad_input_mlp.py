"""Bad input to every public function and class of dlbook.mlp gets a clear error."""

import numpy as np
import pytest
import torch

from dlbook import mlp

Z = torch.zeros(4, 3)
LABELS = torch.tensor([0, 1, 2, 0])
ELEMENTWISE = [
    "identity",
    "step",
    "sigmoid",
    "tanh",
    "arctan",
    "relu",
    "leaky_relu",
    "elu",
    "softplus",
]


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_activations_refuse_non_tensors(name):
    with pytest.raises(TypeError, match="torch.Tensor"):
        mlp.ACTIVATIONS[name](np.zeros(3))
    with pytest.raises(TypeError, match="torch.Tensor"):
        mlp.derivative(name, [0.0, 1.0])


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "arctan", "elu", "softplus"])
def test_smooth_activations_refuse_integer_tensors(name):
    with pytest.raises(TypeError, match="floating-point"):
        mlp.ACTIVATIONS[name](torch.arange(3))


def test_activation_parameters():
    with pytest.raises(ValueError, match="slope"):
        mlp.leaky_relu(Z, slope=1.5)
    with pytest.raises(ValueError, match="alpha"):
        mlp.elu(Z, alpha=-1.0)
    with pytest.raises(ValueError, match="beta"):
        mlp.softplus(Z, beta=-2.0)
    with pytest.raises(TypeError, match="alpha"):
        mlp.prelu(Z, alpha="0.25")
    with pytest.raises(ValueError, match="PReLU"):
        mlp.prelu(Z, alpha=torch.ones(2, 2))
    with pytest.raises(TypeError, match="torch.Tensor"):
        mlp.maxout([1.0, 2.0], 2)
    with pytest.raises(ValueError, match="pieces"):
        mlp.maxout(Z, 0)
    with pytest.raises(TypeError, match="str"):
        mlp.activation(3)
    with pytest.raises(ValueError, match="unknown activation"):
        mlp.Elementwise("swish")


def test_softmax_and_its_jacobian():
    with pytest.raises(TypeError, match="torch.Tensor"):
        mlp.softmax([1.0, 2.0])
    with pytest.raises(TypeError, match="floating-point"):
        mlp.softmax(torch.arange(3))
    with pytest.raises(ValueError, match="at least one dimension"):
        mlp.softmax_jacobian(torch.tensor(0.5))
    with pytest.raises(TypeError, match="floating-point"):
        mlp.check_logits(torch.ones(3, dtype=torch.long))


def test_regression_losses():
    for loss in (mlp.squared_error, mlp.absolute_error):
        with pytest.raises(TypeError, match="torch.Tensor"):
            loss(np.zeros(3), torch.zeros(3))
        with pytest.raises(TypeError, match="torch.Tensor"):
            loss(torch.zeros(3), [0.0, 0.0, 0.0])
        with pytest.raises(ValueError, match="same shape"):
            loss(torch.zeros(3), torch.zeros(4))


@pytest.mark.parametrize("name", sorted(mlp.CLASSIFICATION_LOSSES))
def test_classification_losses_check_scores_and_labels(name):
    loss = mlp.CLASSIFICATION_LOSSES[name]
    with pytest.raises(TypeError, match="torch.Tensor"):
        loss(np.zeros((4, 3)), LABELS)
    with pytest.raises(ValueError, match="scores must have 2 dimensions"):
        loss(torch.zeros(4), LABELS)
    with pytest.raises(TypeError, match="floating-point"):
        loss(torch.zeros(4, 3, dtype=torch.long), LABELS)
    with pytest.raises(TypeError, match="integers"):
        loss(Z, LABELS.float())
    with pytest.raises(ValueError, match="class indices"):
        loss(Z, LABELS[:3])
    with pytest.raises(ValueError, match=r"lie in 0\.\.2"):
        loss(Z, torch.tensor([0, 1, 3, 0]))
    with pytest.raises(ValueError, match=r"lie in 0\.\.2"):
        loss(Z, torch.tensor([0, -1, 2, 0]))


def test_hinge_powers_and_binary_targets():
    for loss in (mlp.multiclass_hinge, mlp.one_vs_all_hinge):
        with pytest.raises(ValueError, match="power"):
            loss(Z, LABELS, power=0)
        with pytest.raises(TypeError, match="power"):
            loss(Z, LABELS, power=1.5)
    for loss in (mlp.binary_hinge, mlp.logistic_loss):
        with pytest.raises(ValueError, match=r"-1, \+1"):
            loss(torch.zeros(3), torch.tensor([0.0, 1.0, 1.0]))
        with pytest.raises(TypeError, match="torch.Tensor"):
            loss([0.0], torch.ones(1))


def test_network_builders():
    with pytest.raises(TypeError, match="list of ints"):
        mlp.MLP(784)
    with pytest.raises(ValueError, match="sizes"):
        mlp.MLP([784, 2.5, 10])
    with pytest.raises(ValueError, match="dropout"):
        mlp.MLP([4, 4, 2], dropout=-0.1)
    with pytest.raises(TypeError, match="dropout"):
        mlp.MLP([4, 4, 2], dropout="0.5")
    with pytest.raises(ValueError, match="unknown activation"):
        mlp.MLP([4, 2], "swish")  # even without hidden layers
    with pytest.raises(ValueError, match="pieces"):
        mlp.MLP([4, 4, 2], "maxout", maxout_pieces=0)
    with pytest.raises(ValueError, match="units must be > 0"):
        mlp.activation_layer("prelu", 0)
    with pytest.raises(ValueError, match="n_out must be > 0"):
        mlp.hidden_layer(3, 0, "relu")
    with pytest.raises(ValueError, match="unknown activation"):
        mlp.check_mlp([2, 3, 1], "bogus", 0.0)
    with pytest.raises(ValueError, match="unknown activation"):
        mlp.n_parameters([2, 3, 1], "bogus")
    with pytest.raises(ValueError, match="maxout_pieces"):
        mlp.n_parameters([2, 3, 1], "maxout", maxout_pieces=-1)
    with pytest.raises(ValueError, match="pieces"):
        mlp.Maxout(-2)
    assert mlp.n_parameters([2, 3, 1]) == 13  # good input still works
