"""Non-Gaussian inputs and localized receptive fields (chapter 8).

A 1-D version of the data models of Ingrosso & Goldt (PNAS 2022): a Gaussian
process (GP) on a ring of D pixels with translation-invariant covariance, and
its non-linear transform (NLGP) ``erf(g z) / Z(g)``, whose marginals are
bounded and, for a large gain, close to a two-valued sign: lighter-tailed than a
Gaussian (excess kurtosis about -1.8 at g = 3), with flat stretches and sharp
edges. :func:`matched_gp` draws Gaussian inputs with exactly the
NLGP's covariance, so the two data sets differ only in their higher-order
statistics. :func:`ipr` measures how localized a weight vector is.
"""

from __future__ import annotations

import math

import torch

from dlbook import check

__all__ = [
    "ring_covariance",
    "nlgp_covariance",
    "gp",
    "nlgp",
    "matched_gp",
    "ipr",
    "erf_std",
]


def _check(d: int, xi: float) -> None:
    if isinstance(d, bool) or not isinstance(d, int) or d < 2:
        raise ValueError(f"d must be an int >= 2, got {d!r}")
    check.positive(xi, "the correlation length xi")


def ring_covariance(d: int, xi: float) -> torch.Tensor:
    """C_ij = exp(-dist(i, j)^2 / xi^2) on a ring of d pixels; (d, d), float64."""
    _check(d, xi)
    i = torch.arange(d, dtype=torch.float64)
    diff = (i[:, None] - i[None, :]).abs()
    dist = torch.minimum(diff, d - diff)
    return torch.exp(-dist.pow(2) / xi**2)


def _sample(
    cov: torch.Tensor, n: int, generator: torch.Generator | None
) -> torch.Tensor:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator)}")
    evals, evecs = torch.linalg.eigh(cov)
    root = (
        evecs * evals.clamp_min(0).sqrt()
    )  # cov = root @ root.T, robust when cov is near-singular
    z = torch.randn(n, cov.shape[0], generator=generator, dtype=torch.float64)
    return (z @ root.T).float()


def gp(
    n: int, d: int, xi: float, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """n samples (n, d) of the ring GP with covariance :func:`ring_covariance`."""
    return _sample(ring_covariance(d, xi), n, generator)


def erf_std(gain: float) -> float:
    """Standard deviation Z(g) of erf(gain * z) for z ~ N(0, 1)."""
    check.positive(gain, "gain")
    return math.sqrt(2 / math.pi * math.asin(2 * gain**2 / (1 + 2 * gain**2)))


def nlgp_covariance(d: int, xi: float, gain: float) -> torch.Tensor:
    """Exact covariance (d, d) of :func:`nlgp`: (2/pi) asin(2 g^2 C / (1 + 2 g^2)) /
    Z^2."""
    check.positive(gain, "gain")
    c = ring_covariance(d, xi)
    return (
        2
        / math.pi
        * torch.asin(2 * gain**2 * c / (1 + 2 * gain**2))
        / erf_std(gain) ** 2
    )


def nlgp(n, d, xi, gain, *, generator=None):
    """n samples (n, d) of erf(gain * z) / Z(gain), z from the ring GP; variance 1."""
    norm = erf_std(gain)  # Z(g); this also checks the gain
    z = gp(n, d, xi, generator=generator)  # (n, d), covariance exp(-dist^2 / xi^2)
    return torch.erf(gain * z) / norm  # squashed towards sign(z) for a large gain


def matched_gp(
    n: int, d: int, xi: float, gain: float, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """n Gaussian samples (n, d) with the same covariance as :func:`nlgp`."""
    return _sample(nlgp_covariance(d, xi, gain), n, generator)


def ipr(w: torch.Tensor) -> torch.Tensor:
    """Inverse participation ratio of each row of w (K, D): sum w^4 / (sum w^2)^2, in
    [1/D, 1].

    1/D for a weight vector spread evenly over all inputs, 1 for one concentrated on a
    single input.
    """
    check.tensor(w, "w", floating=True)
    if w.ndim == 1:
        w = w[None]
    if w.ndim != 2:
        raise ValueError(
            f"w must be a vector (D,) or a matrix (K, D), got {tuple(w.shape)}"
        )
    sq = w.pow(2)
    total = sq.sum(1)
    if (total == 0).any():
        raise ValueError("ipr is undefined for an all-zero weight vector")
    return sq.pow(2).sum(1) / total.pow(2)
