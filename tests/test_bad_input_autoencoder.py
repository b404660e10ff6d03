"""Bad input to every public function and class of dlbook.autoencoder gets a clear error."""

import numpy as np
import pytest
import torch

from dlbook import autoencoder as ae


def test_check_images():
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        ae.check_images(np.zeros((2, 1, 28, 28)))
    with pytest.raises(TypeError, match="floating-point"):
        ae.check_images(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"x\[:, None\]"):
        ae.check_images(torch.zeros(2, 28, 28))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        ae.check_images(-torch.ones(2, 1, 28, 28), unit=True)
    ae.check_images(torch.rand(2, 1, 28, 28), unit=True)  # fine


@pytest.mark.parametrize("cls", [ae.ConvEncoder, ae.ConvDecoder])
def test_encoder_decoder_constructors(cls):
    with pytest.raises(ValueError, match="must be > 0"):
        cls(0)
    with pytest.raises(ValueError, match="width must be > 0"):
        cls(4, width=0)
    with pytest.raises(TypeError, match="must be an integer"):
        cls(4.5)


def test_encoder_decoder_autoencoder_forward():
    enc, dec, model = ae.ConvEncoder(4, 4), ae.ConvDecoder(4, 4), ae.Autoencoder(4, 4)
    with pytest.raises(ValueError, match="28x28"):
        enc(torch.rand(2, 1, 32, 32))
    with pytest.raises(TypeError, match="torch.Tensor"):
        model(np.zeros((2, 1, 28, 28), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(B, 4\)"):
        dec(torch.rand(2, 5))
    with pytest.raises(TypeError, match="z must be a floating-point"):
        model.decode(torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="latent_dim must be > 0"):
        ae.Autoencoder(0)


def test_gaussian_kl_and_reparameterize():
    z = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="mu must have 2 dimensions"):
        ae.gaussian_kl(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match=r"logvar must have shape \(2, 3\)"):
        ae.gaussian_kl(z, torch.zeros(2, 4))
    with pytest.raises(TypeError, match="logvar must be a torch.Tensor"):
        ae.gaussian_kl(z, np.zeros((2, 3)))
    with pytest.raises(TypeError, match="mu must be a torch.Tensor"):
        ae.reparameterize([[0.0]], torch.zeros(1, 1))
    with pytest.raises(TypeError, match="logvar must be a floating-point"):
        ae.reparameterize(z, torch.zeros(2, 3, dtype=torch.long))


def test_vae_and_negative_elbo():
    with pytest.raises(ValueError, match="latent_dim must be > 0"):
        ae.VAE(-2)
    with pytest.raises(TypeError, match="latent_dim must be an integer"):
        ae.VAE("16")
    vae = ae.VAE(2, 4)
    x = torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ae.negative_elbo(vae, x * 2)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        ae.negative_elbo(vae, x, beta=-1.0)
    with pytest.raises(ValueError, match="beta must be finite"):
        ae.negative_elbo(vae, x, beta=float("nan"))
    with pytest.raises(ValueError, match="28x28"):
        vae(torch.rand(2, 784))


def test_sample_and_reconstruct():
    vae = ae.VAE(2, 4)
    with pytest.raises(ValueError, match="n must be > 0"):
        ae.sample(vae, 0)
    with pytest.raises(TypeError, match="n must be an integer"):
        ae.sample(vae, 2.0)
    with pytest.raises(TypeError, match="dlbook.autoencoder.VAE"):
        ae.reconstruct(ae.Autoencoder(2, 4), torch.rand(2, 1, 28, 28))


def test_principal_angles():
    with pytest.raises(ValueError, match="a must have 2 dimensions"):
        ae.principal_angles(torch.zeros(3), torch.zeros(3, 1))
    with pytest.raises(TypeError, match="b must be a torch.Tensor"):
        ae.principal_angles(torch.zeros(3, 1), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="as many rows as a"):
        ae.principal_angles(torch.zeros(3, 2), torch.zeros(4, 2))


def test_iterate_map():
    with pytest.raises(TypeError, match="f must be callable"):
        ae.iterate_map(3, torch.zeros(2, 2), 1)
    with pytest.raises(TypeError, match="x0 must be a torch.Tensor"):
        ae.iterate_map(lambda x: x, np.zeros((2, 2)), 1)
    with pytest.raises(ValueError, match="steps must be >= 0"):
        ae.iterate_map(lambda x: x, torch.zeros(2, 2), -1)
    with pytest.raises(TypeError, match="steps must be an integer"):
        ae.iterate_map(lambda x: x, torch.zeros(2, 2), 1.5)
    with pytest.raises(ValueError, match="must keep the shape"):
        ae.iterate_map(lambda x: x[:1], torch.zeros(2, 2), 1)


def test_jacobian_spectrum():
    with pytest.raises(ValueError, match="flat point"):
        ae.jacobian_spectrum(lambda x: x, torch.zeros(2, 2))
    with pytest.raises(TypeError, match="torch.Tensor"):
        ae.jacobian_spectrum(lambda x: x, [0.0, 1.0])
    with pytest.raises(ValueError, match=r"f must map \(D,\) to \(D,\)"):
        ae.jacobian_spectrum(lambda x: x[:1], torch.zeros(3))
