"""Tests of dlbook.gan: shapes, the DCGAN layout, the losses, bad inputs, a tiny fit."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlbook import gan
from dlbook.train import Precision


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
    read_out = F.conv2d(h, D.out.weight, D.out.bias).flatten()  # the plain logit
    expected = read_out + torch.einsum("bc,bchw->b", D.embed.weight[y], h)
    torch.testing.assert_close(D(x, y), expected, rtol=1e-5, atol=1e-5)
    other = D(x, (y + 1) % 10)
    assert not torch.allclose(D(x, y), other)  # the label matters


def test_train_step_losses_match_pytorch_bce():
    G, D = _models(False)
    # lr 0: parameters stay put
    opt_g, opt_d = (torch.optim.SGD(m.parameters(), lr=0.0) for m in (G, D))
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    torch.manual_seed(1)
    out = gan.train_step(G, D, opt_g, opt_d, x)
    torch.manual_seed(1)  # replay the same noise
    G.train(), D.train()
    z1, z2 = torch.randn(2, 8, G.z_dim)
    lr_, lf = D(x), D(G(z1))
    d_loss = -(F.logsigmoid(lr_).mean() + F.logsigmoid(-lf).mean())
    g_loss = -F.logsigmoid(D(G(z2))).mean()
    torch.testing.assert_close(out["d_loss"], d_loss.detach(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out["g_loss"], g_loss.detach(), rtol=1e-4, atol=1e-5)
    assert 0 < out["d_real"] < 1 and 0 < out["d_fake"] < 1


def test_discriminator_step_updates_only_d():
    G, D = _models(False)
    opt_d = torch.optim.SGD(D.parameters(), lr=0.1)
    g_before = [p.detach().clone() for p in G.parameters()]
    d_before = [p.detach().clone() for p in D.parameters()]
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    prec = Precision(x.device, enabled=False)
    d_loss, real, fake = gan.discriminator_step(G, D, opt_d, x, prec=prec)
    assert real.shape == fake.shape == (8,)
    torch.testing.assert_close(d_loss, gan.discriminator_loss(real, fake))
    assert all(torch.equal(a, b) for a, b in zip(g_before, G.parameters()))
    assert all(p.grad is None for p in G.parameters())  # the fakes were detached
    assert any(not torch.equal(a, b) for a, b in zip(d_before, D.parameters()))


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


def test_losses_match_pytorch_bce_in_float64():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(2, 50, generator=g, dtype=torch.float64) * 5
    bce = F.binary_cross_entropy_with_logits
    one, zero = torch.ones_like(real), torch.zeros_like(real)
    ref = bce(real, one) + bce(fake, zero)
    assert abs(gan.discriminator_loss(real, fake) - ref) < 1e-12
    assert abs(gan.generator_loss(fake) - bce(fake, one)) < 1e-12


def test_train_step_trains_any_pair_with_a_z_dim():
    """The ring GAN's players: plain MLPs with a z_dim attribute."""
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    G.z_dim = 4
    D = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1), nn.Flatten(0))
    opts = [torch.optim.Adam(m.parameters(), lr=1e-2) for m in (G, D)]
    before = [p.clone() for p in G.parameters()]
    out = gan.train_step(G, D, *opts, torch.randn(32, 2))
    assert set(out) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(v.shape == () and not v.requires_grad for v in out.values())
    assert all(not torch.equal(a, b) for a, b in zip(before, G.parameters()))


def test_train_step_uses_the_given_precision():
    """A Precision object is used for both steps: its scaler is stepped once per call."""
    from dlbook.train import Precision

    G, D = _models(False)
    opts = [torch.optim.Adam(m.parameters(), lr=1e-3) for m in (G, D)]
    calls = []
    prec = Precision("cpu")

    def step(loss, optimizer, **kw):
        calls.append(kw.get("update", True))
        Precision.step(prec, loss, optimizer, **kw)

    prec.step = step
    gan.train_step(G, D, *opts, torch.rand(4, 1, 28, 28) * 2 - 1, prec=prec)
    assert calls == [False, True]  # the loss scale is updated once, after G


def test_label_check_does_not_read_device_tensors():
    # On a GPU, reading the labels' range on the host would stall every step; "meta" stands in for
    # a device tensor (reading it raises), so only the shape and dtype are checked there.
    gan._check_labels(torch.zeros(4, dtype=torch.long, device="meta"), 4, 10)
    with pytest.raises(ValueError, match="int64"):
        gan._check_labels(torch.zeros(4, device="meta"), 4, 10)


def test_precision_on_the_cpu_is_float32():
    from dlbook.train import Precision

    G, D = _models(True)
    opts = [torch.optim.Adam(m.parameters(), lr=1e-3) for m in (G, D)]
    x, y = torch.rand(4, 1, 28, 28) * 2 - 1, torch.arange(4)
    out = gan.train_step(G, D, *opts, x, y, prec=Precision("cpu"))
    assert all(v.dtype == torch.float32 for v in out.values())


def test_discriminator_learns_to_separate_a_fixed_generator():
    """Tiny fit: with G frozen (lr 0), D's loss falls and its verdicts part."""
    G, D = _models(False)
    opt_g = torch.optim.Adam(G.parameters(), lr=0.0)
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
    x = -torch.ones(16, 1, 28, 28)
    x[:, :, 8:20, 8:20] = 1.0  # a bright square on black: easy to tell from fakes
    first = gan.train_step(G, D, opt_g, opt_d, x)
    for _ in range(30):
        last = gan.train_step(G, D, opt_g, opt_d, x)
    assert last["d_loss"] < 0.5 * first["d_loss"]
    assert last["d_real"] > 0.8 and last["d_fake"] < 0.2
