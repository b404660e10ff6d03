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

import torch
import torch.nn.functional as F
from torch import nn


def _check_images(x: torch.Tensor, name: str = "x") -> None:
    if x.ndim != 4 or x.shape[1:] != (1, 28, 28):
        raise ValueError(
            f"{name} must be a batch of 28x28 grey images (B, 1, 28, 28), got {tuple(x.shape)}; "
            "add the channel axis with x[:, None] if needed"
        )


def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


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
        _check_images(x)
        return self.net(x)


class ConvDecoder(nn.Module):
    """The mirror image of :class:`ConvEncoder`: (B, latent_dim) -> logits (B, 1, 28, 28).

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
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(
                f"codes must have shape (B, {self.latent_dim}), got {tuple(z.shape)}"
            )
        return self.net(z)


class Autoencoder(nn.Module):
    """A deterministic convolutional autoencoder: images in [0, 1] -> reconstructions in [0, 1].

    Args:
        latent_dim: size of the bottleneck code.
        width: channel width of encoder and decoder.
    """

    def __init__(self, latent_dim: int = 16, width: int = 32):
        super().__init__()
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


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL( N(mu, diag(exp(logvar))) || N(0, I) ) in closed form, per example.

    ``0.5 * sum(mu² + sigma² - log sigma² - 1)`` over the last axis.

    Args:
        mu, logvar: (B, D) means and log-variances.

    Returns:
        (B,) the divergence of each example, in nats.
    """
    if mu.shape != logvar.shape or mu.ndim != 2:
        raise ValueError(
            f"mu and logvar must both be (B, D), got {tuple(mu.shape)} and {tuple(logvar.shape)}"
        )
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(-1)


def reparameterize(
    mu: torch.Tensor, logvar: torch.Tensor, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Draw z ~ N(mu, diag(exp(logvar))) as z = mu + sigma * eps, differentiable in mu and logvar.

    Args:
        mu, logvar: (B, D).
        generator: optional random generator for eps ~ N(0, I).

    Returns:
        (B, D) samples; gradients flow to ``mu`` and ``logvar``, not to eps.
    """
    if mu.shape != logvar.shape:
        raise ValueError(
            f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}"
        )
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


class VAE(nn.Module):
    """A convolutional variational autoencoder with a Bernoulli decoder and a N(0, I) prior.

    Args:
        latent_dim: size of the latent variable z.
        width: channel width of encoder and decoder.
    """

    def __init__(self, latent_dim: int = 16, width: int = 32):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = ConvEncoder(2 * latent_dim, width)  # outputs (mu, logvar)
        self.decoder = ConvDecoder(latent_dim, width)  # outputs pixel logits

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B, 1, 28, 28) in [0, 1] -> mu, logvar of q(z | x), each (B, latent_dim)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(
            -12.0, 8.0
        )  # keeps exp(logvar) finite early in training

    def forward(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One pass: (pixel logits (B, 1, 28, 28), mu (B, D), logvar (B, D)) with z drawn by reparameterization."""
        mu, logvar = self.encode(x)
        return self.decoder(reparameterize(mu, logvar)), mu, logvar

    def loss(
        self, x: torch.Tensor, *, beta: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The negative ELBO (with the KL weighted by ``beta``), averaged over the batch.

        Args:
            x: images (B, 1, 28, 28) in [0, 1] (the Bernoulli targets).
            beta: weight of the KL term (1: the ELBO; other values: a beta-VAE).

        Returns:
            (loss, reconstruction term, KL term), each a scalar in nats per image.
        """
        _check_images(x)
        if not x.is_cuda and (
            x.min() < 0 or x.max() > 1
        ):  # on a GPU this check would sync every step
            raise ValueError(
                "VAE targets must lie in [0, 1] (Bernoulli likelihood); rescale the images first"
            )
        if beta < 0:
            raise ValueError(f"beta must be non-negative, got {beta}")
        logits, mu, logvar = self(x)
        rec = F.binary_cross_entropy_with_logits(
            logits.float(), x.float(), reduction="none"
        ).sum((1, 2, 3))
        kl = gaussian_kl(mu.float(), logvar.float())
        return (rec + beta * kl).mean(), rec.mean(), kl.mean()

    @torch.no_grad()
    def sample(
        self, n: int, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Decode n draws of the prior z ~ N(0, I): images (n, 1, 28, 28), the Bernoulli means in [0, 1]."""
        _check_positive("n", n)
        device = next(self.parameters()).device
        z = torch.randn(
            n,
            self.latent_dim,
            generator=generator,
            device=generator.device if generator else device,
        )
        return torch.sigmoid(self.decoder(z.to(device)).float())

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decode the posterior means: images (B, 1, 28, 28) -> (B, 1, 28, 28) in [0, 1]."""
        return torch.sigmoid(self.decoder(self.encode(x)[0]).float())


def principal_angles(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Principal angles between the column spaces of a (D, k) and b (D, m), in radians, ascending.

    The cosines of the angles are the singular values of Qa^T Qb, with Qa and Qb
    orthonormal bases of the two spaces.

    Returns:
        (min(k, m),) angles in [0, pi/2].
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ValueError(
            f"need two matrices (D, k) and (D, m) with the same D, got {tuple(a.shape)}, {tuple(b.shape)}"
        )
    qa, _ = torch.linalg.qr(a.double())
    qb, _ = torch.linalg.qr(b.double())
    cos = torch.linalg.svdvals(qa.T @ qb).clamp(-1.0, 1.0)
    return torch.arccos(cos)  # singular values descend, so the angles ascend


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
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative int, got {steps!r}")
    xs = [x0]
    for _ in range(steps):
        nxt = f(xs[-1])
        if nxt.shape != x0.shape:
            raise ValueError(
                f"f must keep the shape {tuple(x0.shape)}, it returned {tuple(nxt.shape)}"
            )
        xs.append(nxt)
    return torch.stack(xs)


def jacobian_spectrum(
    f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
) -> torch.Tensor:
    """Eigenvalues of the Jacobian of a map f: R^D -> R^D at one point x.

    Args:
        f: maps a single point (D,) to (D,).
        x: the point, (D,).

    Returns:
        (D,) complex eigenvalues, sorted by decreasing modulus.
    """
    if x.ndim != 1:
        raise ValueError(
            f"x must be one flat point (D,), got shape {tuple(x.shape)}; flatten it with x.reshape(-1)"
        )
    jac = torch.func.jacrev(f)(x).detach()  # (D, D): jac[i, j] = d f_i / d x_j
    if jac.shape != (x.numel(), x.numel()):
        raise ValueError(
            f"f must map (D,) to (D,); its Jacobian has shape {tuple(jac.shape)}"
        )
    eig = torch.linalg.eigvals(jac.double())
    return eig[eig.abs().argsort(descending=True)]
