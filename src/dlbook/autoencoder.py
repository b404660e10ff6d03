"""Autoencoders: convolutional encoder and decoder, the VAE, and tools for memorization.

Chapter 12 (:ref:`ch-autoencoders`) teaches these pieces. An autoencoder
``f = decoder ∘ encoder`` is trained to give back its input through a narrow
*bottleneck*; the variational autoencoder (VAE) of Kingma & Welling (2014)
makes the code a random variable and is trained by maximising the evidence
lower bound (ELBO). The last helpers study an autoencoder as a map
``x -> f(x)`` that can be iterated, and its Jacobian at a point.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dlbook import check


def check_images(x: Any, name: str = "x", *, unit: bool = False) -> torch.Tensor:
    """Check a batch of 28x28 grey images ``(B, 1, 28, 28)`` (in [0, 1] if ``unit``).

    The range is read only from CPU tensors: on a GPU it would stall every step.
    """
    check.tensor(x, name, floating=True)
    if x.ndim != 4 or x.shape[1:] != (1, 28, 28):
        raise ValueError(
            f"{name} must be a batch of 28x28 grey images (B, 1, 28, 28), got "
            f"{tuple(x.shape)}; add the channel axis with x[:, None] if needed"
        )
    if unit and x.device.type == "cpu" and x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(
            f"{name} must lie in [0, 1] (Bernoulli targets); rescale the images first"
        )
    return x


def _check_positive(name: str, value: Any) -> None:
    check.positive(value, name, integer=True)


class ConvEncoder(nn.Module):
    """Two stride-2 convolutions and a linear layer: (B, 1, 28, 28) -> (B, out_dim).

    Args:
        out_dim: size of the output (the code, or 2 x code size for a VAE).
        width: channels of the first convolution (the second has twice as many).
    """

    def __init__(self, out_dim: int, width: int = 32):
        super().__init__()
        _check_positive("out_dim", out_dim)
        _check_positive("width", width)
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1),
            nn.ReLU(),  # (B, w, 14, 14)
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),
            nn.ReLU(),  # (B, 2w, 7, 7)
            nn.Conv2d(2 * width, 2 * width, 3, padding=1),
            nn.ReLU(),  # (B, 2w, 7, 7)
            nn.Flatten(),
            nn.Linear(2 * width * 49, out_dim),  # (B, out_dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x)
        return self.net(x)


class ConvDecoder(nn.Module):
    """The mirror of :class:`ConvEncoder`: (B, latent_dim) -> (B, 1, 28, 28) logits.

    The output is a *logit* per pixel; ``torch.sigmoid`` of it is the image in [0, 1].
    """

    def __init__(self, latent_dim: int, width: int = 32):
        super().__init__()
        _check_positive("latent_dim", latent_dim)
        _check_positive("width", width)
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 2 * width * 49),
            nn.ReLU(),
            nn.Unflatten(1, (2 * width, 7, 7)),  # (B, 2w, 7, 7)
            nn.Conv2d(2 * width, 2 * width, 3, padding=1),
            nn.ReLU(),  # (B, 2w, 7, 7)
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),
            nn.ReLU(),  # (B, w, 14, 14)
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1),  # (B, 1, 28, 28)
        )
        self.latent_dim = latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        check.tensor(z, "z", floating=True)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(
                f"codes must have shape (B, {self.latent_dim}), got {tuple(z.shape)}"
            )
        return self.net(z)


class Autoencoder(nn.Module):
    """A deterministic convolutional autoencoder: images in [0, 1] -> the same.

    Args:
        latent_dim: size of the bottleneck code.
        width: channel width of encoder and decoder.
    """

    def __init__(self, latent_dim: int = 16, width: int = 32):
        super().__init__()
        _check_positive("latent_dim", latent_dim)
        self.encoder = ConvEncoder(latent_dim, width)
        self.decoder = ConvDecoder(latent_dim, width)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 1, 28, 28) -> codes (B, latent_dim)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (B, latent_dim) -> images (B, 1, 28, 28) in [0, 1]."""
        return torch.sigmoid(self.decoder(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def gaussian_kl(mu, logvar):
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) in nats: (B, D), (B, D) -> (B,)."""
    check.tensor(mu, "mu", ndim=2, floating=True)  # (B, D)
    check.shape(check.tensor(logvar, "logvar", floating=True), "logvar", mu.shape)
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(-1)


def reparameterize(mu, logvar, *, generator=None):
    """z = mu + sigma * eps, eps ~ N(0, I): a sample of q(z | x) autograd can follow."""
    check.tensor(mu, "mu", floating=True)
    check.shape(check.tensor(logvar, "logvar", floating=True), "logvar", mu.shape)
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps  # (B, D), differentiable in mu, logvar


class VAE(nn.Module):
    """A convolutional VAE: Gaussian q(z | x), N(0, I) prior, Bernoulli pixels."""

    def __init__(self, latent_dim: int = 16, width: int = 32):
        super().__init__()
        self.latent_dim = check.positive(latent_dim, "latent_dim", integer=True)
        self.encoder = ConvEncoder(2 * latent_dim, width)  # x -> (mu, log sigma^2)
        self.decoder = ConvDecoder(latent_dim, width)  # z -> pixel logits

    def encode(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=1)  # (B, k) each
        return mu, logvar.clamp(-12.0, 8.0)  # keeps exp(logvar) finite early on

    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decoder(reparameterize(mu, logvar)), mu, logvar


def negative_elbo(vae, x, *, beta=1.0):
    """-ELBO in nats per image (KL weighted by beta) and its two terms, batch means."""
    check_images(x, "x", unit=True)  # (B, 1, 28, 28) in [0, 1]: Bernoulli targets
    check.number(beta, "beta", low=0)
    logits, mu, logvar = vae(x)  # (B, 1, 28, 28), (B, k), (B, k)
    bce = F.binary_cross_entropy_with_logits(logits.to(x.dtype), x, reduction="none")
    rec = bce.sum((1, 2, 3))  # (B,): -log p(x | z), summed over the pixels
    kl = gaussian_kl(mu.to(x.dtype), logvar.to(x.dtype))  # (B,), in x's precision
    return (rec + beta * kl).mean(), rec.mean(), kl.mean()


@torch.no_grad()
def sample(vae, n, *, generator=None):
    """Decode n draws z ~ N(0, I): pixel means (n, 1, 28, 28) in [0, 1]."""
    check.positive(n, "n", integer=True)
    z = torch.randn(n, vae.latent_dim, generator=generator)  # (n, k) on the CPU
    device = next(vae.parameters()).device
    return torch.sigmoid(vae.decoder(z.to(device)).float())


@torch.no_grad()
def reconstruct(vae: VAE, x: torch.Tensor) -> torch.Tensor:
    """Decode the posterior means: images (B, 1, 28, 28) -> (B, 1, 28, 28) in [0, 1]."""
    if not isinstance(vae, VAE):
        raise TypeError(
            f"vae must be a dlbook.autoencoder.VAE, got {type(vae).__name__}"
        )
    return torch.sigmoid(vae.decoder(vae.encode(x)[0]).float())


def principal_angles(a, b):
    """Principal angles (radians, ascending) between the column spaces of a and b."""
    check.tensor(a, "a", ndim=2), check.tensor(b, "b", ndim=2)  # (D, k), (D, m)
    check.shape(b, "b (it must have as many rows as a)", (a.shape[0], None))
    qa, _ = torch.linalg.qr(a.double())  # orthonormal bases of the two spaces
    qb, _ = torch.linalg.qr(b.double())
    cos = torch.linalg.svdvals(qa.T @ qb).clamp(-1.0, 1.0)  # descending cosines
    return torch.arccos(cos)  # (min(k, m),) ascending angles


@torch.no_grad()
def iterate_map(
    f: Callable[[torch.Tensor], torch.Tensor], x0: torch.Tensor, steps: int
) -> torch.Tensor:
    """Iterate x_{t+1} = f(x_t) from a batch of starts.

    Args:
        f: maps (N, ...) -> (N, ...) of the same shape.
        x0: (N, ...) starting points.
        steps: number of applications of f.

    Returns:
        (steps + 1, N, ...) the trajectory, x0 first.
    """
    if not callable(f):
        raise TypeError(f"f must be callable (a model or a function), got {f!r}")
    check.tensor(x0, "x0", floating=True)
    check.number(steps, "steps", low=0, integer=True)
    xs = [x0]
    for _ in range(steps):
        nxt = f(xs[-1])
        if nxt.shape != x0.shape:
            raise ValueError(
                f"f must keep the shape {tuple(x0.shape)}, "
                f"it returned {tuple(nxt.shape)}"
            )
        xs.append(nxt)
    return torch.stack(xs)


def jacobian_spectrum(f, x):
    """Eigenvalues of the Jacobian of f: R^D -> R^D at x (D,), by decreasing modulus."""
    check.tensor(x, "x (one flat point: flatten it with x.reshape(-1))", ndim=1)
    jac = torch.func.jacrev(f)(x).detach()  # (D, D): jac[i, j] = d f_i / d x_j
    check.shape(jac, "the Jacobian (f must map (D,) to (D,))", (len(x), len(x)))
    eig = torch.linalg.eigvals(jac.double())  # (D,) complex
    return eig[eig.abs().argsort(descending=True)]
