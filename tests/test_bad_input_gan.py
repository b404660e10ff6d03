"""Bad input to every public function and class of dlbook.gan gets a clear error."""

import numpy as np
import pytest
import torch
from torch import nn

from dlbook import gan


@pytest.fixture
def players():
    torch.manual_seed(0)
    return gan.Generator(8, 4), gan.Discriminator(4)


@pytest.fixture
def cplayers():
    torch.manual_seed(0)
    return gan.ConditionalGenerator(10, 8, 4, 3), gan.ConditionalDiscriminator(10, 4)


def test_init_dcgan_weights():
    with pytest.raises(TypeError, match="nn.Module"):
        gan.init_dcgan_weights(torch.zeros(3))


@pytest.mark.parametrize(
    "args, err, match",
    [
        ((0, 4), ValueError, "z_dim must be > 0"),
        ((8, -1), ValueError, "width must be > 0"),
        ((8.0, 4), TypeError, "z_dim must be an integer"),
        ((8, True), TypeError, "width must be an integer"),
    ],
)
def test_generator_constructor(args, err, match):
    with pytest.raises(err, match=match):
        gan.Generator(*args)


def test_generator_forward(players):
    G, _ = players
    with pytest.raises(ValueError, match=r"z must have shape \(B, 8\)"):
        G(torch.randn(3, 7))
    with pytest.raises(TypeError, match="torch.Tensor"):
        G(np.zeros((3, 8), dtype=np.float32))
    with pytest.raises(TypeError, match="floating-point"):
        G(torch.zeros(3, 8, dtype=torch.long))


def test_discriminator(players):
    _, D = players
    with pytest.raises(ValueError, match="width must be > 0"):
        gan.Discriminator(0)
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        D(torch.rand(2, 28, 28))
    with pytest.raises(TypeError, match="torch.Tensor"):
        D(np.zeros((2, 1, 28, 28)))


def test_conditional_models(cplayers):
    cG, cD = cplayers
    with pytest.raises(ValueError, match="num_classes must be >= 2"):
        gan.ConditionalGenerator(1)
    with pytest.raises(ValueError, match="embed_dim must be > 0"):
        gan.ConditionalGenerator(10, 8, 4, 0)
    with pytest.raises(TypeError, match="num_classes must be an integer"):
        gan.ConditionalDiscriminator(2.5)
    z, x = torch.randn(3, 8), torch.rand(3, 1, 28, 28)
    with pytest.raises(ValueError, match="int64"):
        cG(z, torch.zeros(3))  # float labels
    with pytest.raises(ValueError, match=r"of shape \(3,\)"):
        cD(x, torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="labels must lie in 0..9"):
        cD(x, torch.tensor([0, -1, 2]))
    with pytest.raises(TypeError, match="labels must be a torch.Tensor"):
        cG(z, [0, 1, 2])


def test_check_players_and_train_step(players, cplayers):
    G, D = players
    cG, cD = cplayers
    opt = torch.optim.SGD(G.parameters(), lr=0.1)
    x = torch.rand(4, 1, 28, 28)
    with pytest.raises(TypeError, match="generator must be an nn.Module"):
        gan.train_step(lambda z: z, D, opt, opt, x)
    with pytest.raises(ValueError, match="z_dim"):
        gan.train_step(nn.Linear(2, 2), D, opt, opt, x)
    with pytest.raises(TypeError, match="x_real must be a torch.Tensor"):
        gan.train_step(G, D, opt, opt, x.numpy())
    with pytest.raises(ValueError, match="x_real is empty"):
        gan.train_step(G, D, opt, opt, x[:0])
    with pytest.raises(ValueError, match="ConditionalDiscriminator"):
        gan.check_players(cG, D, x, torch.arange(4))
    with pytest.raises(ValueError, match="need the labels"):
        gan.check_players(cG, cD, x, None)
    with pytest.raises(ValueError, match="take no labels"):
        gan.check_players(G, D, x, torch.arange(4))
    assert gan.check_players(G, D, x, None) == ()


def test_losses():
    with pytest.raises(TypeError, match="real must be a torch.Tensor"):
        gan.discriminator_loss([0.0], torch.zeros(1))
    with pytest.raises(TypeError, match="fake must be a floating-point"):
        gan.discriminator_loss(torch.zeros(1), torch.zeros(1, dtype=torch.long))
    with pytest.raises(TypeError, match="fake must be a torch.Tensor"):
        gan.generator_loss(np.zeros(3))


def test_generate(players, cplayers):
    G, _ = players
    cG, _ = cplayers
    with pytest.raises(TypeError, match="dlbook.gan.Generator"):
        gan.generate(nn.Linear(2, 2), 3)
    with pytest.raises(ValueError, match="n must be > 0"):
        gan.generate(G, 0)
    with pytest.raises(TypeError, match="n must be an integer"):
        gan.generate(G, 2.0)
    with pytest.raises(ValueError, match="batch_size must be > 0"):
        gan.generate(G, 3, batch_size=0)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        gan.generate(G, 3, seed=-1)
    with pytest.raises(ValueError, match=r"labels of shape \(3,\)"):
        gan.generate(cG, 3, labels=torch.arange(4))
    with pytest.raises(TypeError, match="labels must hold integers"):
        gan.generate(cG, 3, labels=torch.zeros(3))
    with pytest.raises(ValueError, match="takes no labels"):
        gan.generate(G, 3, labels=torch.arange(3))
