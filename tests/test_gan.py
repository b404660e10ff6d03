"""Tests of dlbook.gan: shapes, the DCGAN layout, the loss against a hand computation, bad inputs, a tiny fit."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlbook import gan


def _models(conditional: bool, width: int = 8, z_dim: int = 12):
    torch.manual_seed(0)
    if conditional:
        return gan.ConditionalGenerator(
            10, z_dim, width, embed_dim=4
        ), gan.ConditionalDiscriminator(10, width)
    return gan.Generator(z_dim, width), gan.Discriminator(width)


@pytest.mark.parametrize("conditional", [False, True])
def test_shapes_and_ranges(conditional):
    G, D = _models(conditional)
    y = torch.arange(5) % 10
    cond = (y,) if conditional else ()
    x = G(torch.randn(5, 12), *cond)
    assert x.shape == (5, 1, 28, 28) and x.abs().max() <= 1  # tanh output
    assert D(x, *cond).shape == (5,)
    imgs = gan.generate(
        G, 7, labels=torch.arange(7) if conditional else None, batch_size=3, seed=0
    )
    assert imgs.shape == (7, 1, 28, 28) and imgs.min() >= 0 and imgs.max() <= 1


def test_dcgan_guidelines():
    G, D = _models(False)
    g_layers, d_layers = list(G.modules()), list(D.modules())
    assert not any(
        isinstance(m, (nn.MaxPool2d, nn.AvgPool2d, nn.Linear))
        for m in g_layers + d_layers
    )
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in g_layers) == 3
    assert isinstance(G.net[-1], nn.Tanh) and not isinstance(
        G.net[-2], nn.BatchNorm2d
    )  # no BN at G's output
    assert (
        isinstance(D.features[1], nn.LeakyReLU) and D.features[1].negative_slope == 0.2
    )  # no BN at D's input
    assert D.features[2].stride == (2, 2)  # strided convolutions instead of pooling
    conv_w = torch.cat(
        [m.weight.flatten() for m in g_layers if isinstance(m, nn.ConvTranspose2d)]
    )
    assert abs(conv_w.std().item() - 0.02) < 0.003


def test_generate_is_seeded():
    G, _ = _models(False)
    a, b = gan.generate(G, 4, seed=3), gan.generate(G, 4, seed=3)
    assert torch.equal(a, b) and not torch.equal(a, gan.generate(G, 4, seed=4))


def test_projection_discriminator_matches_its_formula():
    _, D = _models(True)
    D.eval()
    x, y = torch.rand(6, 1, 28, 28) * 2 - 1, torch.tensor([0, 1, 2, 3, 4, 9])
    h = D.features(x)  # (6, 2w, 7, 7)
    read_out = F.conv2d(
        h, D.out.weight, D.out.bias
    ).flatten()  # the plain discriminator's logit
    expected = read_out + torch.einsum("bc,bchw->b", D.embed.weight[y], h)
    torch.testing.assert_close(D(x, y), expected, rtol=1e-5, atol=1e-5)
    other = D(x, (y + 1) % 10)
    assert not torch.allclose(D(x, y), other)  # the label matters


def test_train_step_losses_match_pytorch_bce():
    G, D = _models(False)
    opt_g, opt_d = (
        torch.optim.SGD(m.parameters(), lr=0.0) for m in (G, D)
    )  # lr 0: parameters stay put
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    torch.manual_seed(1)
    out = gan.train_step(G, D, opt_g, opt_d, x)
    torch.manual_seed(1)  # replay the same noise
    G.train(), D.train()
    fake = G(torch.randn(8, G.z_dim))
    lr_, lf = D(x), D(fake)
    d_loss = -(F.logsigmoid(lr_).mean() + F.logsigmoid(-lf).mean())
    g_loss = -F.logsigmoid(D(G(torch.randn(8, G.z_dim)))).mean()
    torch.testing.assert_close(out["d_loss"], d_loss.detach(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out["g_loss"], g_loss.detach(), rtol=1e-4, atol=1e-5)
    assert 0 < out["d_real"] < 1 and 0 < out["d_fake"] < 1


def test_bad_inputs_raise():
    G, D = _models(False)
    cG, cD = _models(True)
    x = torch.rand(4, 1, 28, 28)
    opt = torch.optim.SGD(G.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="z must have shape"):
        G(torch.randn(4, 5))
    with pytest.raises(ValueError, match="images must have shape"):
        D(torch.rand(4, 1, 32, 32))
    with pytest.raises(ValueError, match="labels must lie"):
        cD(x, torch.tensor([0, 1, 2, 10]))
    with pytest.raises(ValueError, match="int64"):
        cG(torch.randn(4, 12), torch.zeros(4))
    with pytest.raises(ValueError, match="Conditional"):
        gan.train_step(G, cD, opt, opt, x)
    with pytest.raises(ValueError, match="need the labels"):
        gan.train_step(cG, cD, opt, opt, x)
    with pytest.raises(ValueError, match="take no labels"):
        gan.train_step(G, D, opt, opt, x, torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="needs labels"):
        gan.generate(cG, 3)
    with pytest.raises(ValueError, match="width"):
        gan.Generator(8, 0)
    with pytest.raises(ValueError, match="num_classes"):
        gan.ConditionalDiscriminator(1)


def test_label_check_does_not_read_device_tensors():
    # On a GPU, reading the labels' range on the host would stall every step; "meta" stands in for
    # a device tensor (reading it raises), so only the shape and dtype are checked there.
    gan._check_labels(torch.zeros(4, dtype=torch.long, device="meta"), 4, 10)
    with pytest.raises(ValueError, match="int64"):
        gan._check_labels(torch.zeros(4, device="meta"), 4, 10)


def test_amp_is_ignored_without_a_bfloat16_gpu():
    G, D = _models(True)
    opts = [torch.optim.Adam(m.parameters(), lr=1e-3) for m in (G, D)]
    out = gan.train_step(
        G, D, *opts, torch.rand(4, 1, 28, 28) * 2 - 1, torch.arange(4), amp=True
    )
    assert all(v.dtype == torch.float32 for v in out.values())


def test_discriminator_learns_to_separate_a_fixed_generator():
    """Tiny fit: with the generator frozen (lr 0), the discriminator's loss falls and its verdicts part."""
    G, D = _models(False)
    opt_g = torch.optim.Adam(G.parameters(), lr=0.0)
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
    x = -torch.ones(16, 1, 28, 28)
    x[:, :, 8:20, 8:20] = (
        1.0  # a bright square on black: easy to tell from untrained fakes
    )
    first = gan.train_step(G, D, opt_g, opt_d, x)
    for _ in range(30):
        last = gan.train_step(G, D, opt_g, opt_d, x)
    assert last["d_loss"] < 0.5 * first["d_loss"]
    assert last["d_real"] > 0.8 and last["d_fake"] < 0.2
