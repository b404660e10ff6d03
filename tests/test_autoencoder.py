"""Tests of dlbook.autoencoder: shapes, KL, reparameterization, ELBO, bad inputs, fits."""

import math

import pytest
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from dlbook import autoencoder as ae


def test_shapes_of_encoder_decoder_autoencoder_and_vae():
    torch.manual_seed(0)
    x = torch.rand(5, 1, 28, 28)
    assert ae.ConvEncoder(7, width=8)(x).shape == (5, 7)
    assert ae.ConvDecoder(3, width=8)(torch.randn(5, 3)).shape == (5, 1, 28, 28)
    model = ae.Autoencoder(latent_dim=4, width=8)
    out = model(x)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    vae = ae.VAE(latent_dim=6, width=8)
    logits, mu, logvar = vae(x)
    assert logits.shape == x.shape and mu.shape == logvar.shape == (5, 6)
    assert ae.sample(vae, 3).shape == (3, 1, 28, 28)
    assert ae.reconstruct(vae, x).shape == x.shape


def test_gaussian_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(10, 4, generator=g, dtype=torch.float64) * 2
    logvar = torch.randn(10, 4, generator=g, dtype=torch.float64)
    ours = ae.gaussian_kl(mu, logvar)
    ref = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    assert torch.allclose(
        ae.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2)
    )


def test_reparameterized_samples_have_the_right_moments_and_gradients():
    mu = torch.tensor([[1.0, -2.0]], requires_grad=True)
    logvar = torch.tensor([[0.0, math.log(4.0)]], requires_grad=True)
    z = ae.reparameterize(
        mu.expand(20_000, 2),
        logvar.expand(20_000, 2),
        generator=torch.Generator().manual_seed(0),
    )
    torch.testing.assert_close(z.mean(0), torch.tensor([1.0, -2.0]), atol=0.05, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([1.0, 2.0]), atol=0.05, rtol=0)
    z.sum().backward()
    assert torch.allclose(mu.grad, torch.full((1, 2), 20_000.0))  # dz/dmu = 1
    assert logvar.grad is not None and logvar.grad.abs().sum() > 0


def test_reparameterize_equals_rsample_draw_for_draw():
    mu = torch.randn(3, 5, dtype=torch.float64)
    logvar = torch.randn(3, 5, dtype=torch.float64)
    torch.manual_seed(7)
    ref = Normal(mu, (0.5 * logvar).exp()).rsample()
    ours = ae.reparameterize(mu, logvar, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)


def test_negative_elbo_by_hand():
    """The loss is the summed Bernoulli NLL of the decoded sample plus the KL."""
    torch.manual_seed(0)
    vae = ae.VAE(latent_dim=3, width=4).double()
    x = torch.rand(4, 1, 28, 28, dtype=torch.float64)
    torch.manual_seed(1)
    loss, rec, kl = ae.negative_elbo(vae, x, beta=2.0)
    torch.manual_seed(1)  # replay the same eps
    logits, mu, logvar = vae(x)
    p = torch.sigmoid(logits)
    nll = -(x * p.log() + (1 - x) * (1 - p).log()).sum((1, 2, 3))
    kl_hand = 0.5 * (mu**2 + logvar.exp() - logvar - 1).sum(1)
    torch.testing.assert_close(rec, nll.mean(), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(kl, kl_hand.mean(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(loss, (nll + 2.0 * kl_hand).mean(), rtol=1e-10, atol=0)


def test_vae_loss_gradient_reaches_the_encoder():
    torch.manual_seed(0)
    vae = ae.VAE(latent_dim=3, width=4)
    loss, rec, kl = ae.negative_elbo(vae, torch.rand(4, 1, 28, 28))
    loss.backward()
    assert torch.isclose(loss, rec + kl)
    assert all(
        p.grad is not None and p.grad.abs().sum() > 0 for p in vae.encoder.parameters()
    )


def test_principal_angles_match_scipy():
    import scipy.linalg

    g = torch.Generator().manual_seed(0)
    a = torch.randn(20, 4, generator=g, dtype=torch.float64)
    b = torch.randn(20, 3, generator=g, dtype=torch.float64)
    ref = torch.from_numpy(scipy.linalg.subspace_angles(a.numpy(), b.numpy()))
    torch.testing.assert_close(
        ae.principal_angles(a, b), ref.sort().values, rtol=0, atol=1e-12
    )


def test_principal_angles_known_cases():
    e = torch.eye(4)
    assert torch.allclose(
        ae.principal_angles(
            e[:, :2], e[:, :2] @ torch.tensor([[2.0, 1.0], [0.0, 3.0]])
        ),
        torch.zeros(2, dtype=torch.float64),
        atol=1e-6,
    )
    angles = ae.principal_angles(e[:, :2], torch.stack([e[:, 0], e[:, 2]], 1))
    torch.testing.assert_close(
        angles, torch.tensor([0.0, math.pi / 2], dtype=torch.float64), atol=1e-6, rtol=0
    )


def test_iterate_map_and_jacobian_spectrum_of_a_linear_map():
    a = torch.tensor([[0.5, 0.2], [0.0, -0.3]])
    traj = ae.iterate_map(lambda x: x @ a.T, torch.ones(3, 2), steps=4)
    assert traj.shape == (5, 3, 2)
    torch.testing.assert_close(
        traj[-1], torch.ones(3, 2) @ torch.linalg.matrix_power(a, 4).T
    )
    eig = ae.jacobian_spectrum(
        lambda x: a @ x + torch.sin(torch.zeros_like(x)), torch.ones(2)
    )
    torch.testing.assert_close(eig.abs(), torch.tensor([0.5, 0.3], dtype=torch.float64))


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="28x28"):
        ae.Autoencoder(4, 8)(torch.rand(2, 28, 28))
    with pytest.raises(ValueError, match=r"\(B, 4\)"):
        ae.ConvDecoder(4, 8)(torch.rand(2, 5))
    with pytest.raises(ValueError, match="logvar must have shape"):
        ae.reparameterize(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ae.negative_elbo(ae.VAE(2, 4), torch.rand(2, 1, 28, 28) * 2)
    with pytest.raises(ValueError, match="latent_dim must be > 0"):
        ae.VAE(0, 4)
    with pytest.raises(ValueError, match="flat point"):
        ae.jacobian_spectrum(lambda x: x, torch.zeros(2, 2))
    with pytest.raises(ValueError, match="as many rows as a"):
        ae.principal_angles(torch.zeros(3, 2), torch.zeros(4, 2))


def test_one_batch_overfit_autoencoder_and_vae():
    torch.manual_seed(0)
    x = torch.zeros(8, 1, 28, 28)
    for i in range(8):  # eight white rectangles at different places
        x[i, 0, 2 + 2 * i : 10 + 2 * i, 4 + i : 20 + i] = 1.0
    model = ae.Autoencoder(latent_dim=8, width=8)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = nn.functional.mse_loss(model(x), x).item()
    for _ in range(150):
        loss = nn.functional.mse_loss(model(x), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * first
    vae = ae.VAE(latent_dim=4, width=8)
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    start = ae.negative_elbo(vae, x)[0].item()
    for _ in range(150):
        loss = ae.negative_elbo(vae, x)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * start
