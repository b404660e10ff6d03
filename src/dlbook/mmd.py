"""Maximum mean discrepancy: a two-sample distance for low-dimensional samples.

With a Gaussian kernel k(x, y) = exp(-|x - y|² / (2 s²)),
MMD² = E k(x, x') + E k(y, y') - 2 E k(x, y) is zero exactly when the two
distributions are equal. Chapters 13 (GANs) and 14 (diffusion) use it to
check 2-D samplers against their data. The kernel inception distance (KID)
of Bińkowski et al. (2018) is the same unbiased estimate with a cubic
polynomial kernel on image features: unlike the Fréchet distance, its
expectation is the population value at any sample size (zero for two samples
of one distribution), which matters with a few hundred images.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from dlbook import check


def mmd2(
    x: torch.Tensor, y: torch.Tensor, *, bandwidths: Sequence[float] = (0.1, 0.3, 1.0)
) -> float:
    """Unbiased estimate of MMD² with a sum of Gaussian kernels.

    Args:
        x: ``(N, D)`` samples of one distribution, ``N >= 2``.
        y: ``(M, D)`` samples of the other, ``M >= 2``.
        bandwidths: kernel widths ``s``, in the units of the data.

    Returns:
        The estimate (it can be slightly negative when the two are equal).
    """
    x, y = _two_samples(x, y)
    check.nonempty(bandwidths, "bandwidths")
    for s in bandwidths:
        check.positive(s, "each bandwidth")

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        d2 = torch.cdist(a, b).pow(2)  # (len(a), len(b))
        return sum(torch.exp(-d2 / (2 * s * s)) for s in bandwidths)

    return _unbiased(kernel(x, x), kernel(y, y), kernel(x, y))


def _two_samples(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Check two samples ``(N, D)`` and ``(M, D)``; return them float64 on the CPU."""
    check.tensor(x, "x", ndim=2, floating=True)
    check.tensor(y, "y", ndim=2, floating=True)
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"samples must be (N, D) and (M, D) with the same D, "
            f"got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if len(x) < 2 or len(y) < 2:
        raise ValueError("the estimate needs at least two samples on each side")
    if not (bool(torch.isfinite(x).all()) and bool(torch.isfinite(y).all())):
        raise ValueError("samples must be finite (no NaN or inf)")
    return x.detach().cpu().double(), y.detach().cpu().double()  # MPS has no float64


def _unbiased(kxx: torch.Tensor, kyy: torch.Tensor, kxy: torch.Tensor) -> float:
    """The unbiased MMD² from the three kernel matrices (diagonals left out)."""
    n, m = len(kxx), len(kyy)
    within_x = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    within_y = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return float(within_x + within_y - 2 * kxy.mean())


def kid(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Kernel inception distance: unbiased MMD² with k(a, b) = (a·b / D + 1)³.

    Args:
        features_a: ``(N, D)`` features of one image set, ``N >= 2``.
        features_b: ``(M, D)`` features of the other, ``M >= 2``.

    Returns:
        The estimate; unbiased, so it scatters around zero (and can be
        slightly negative) when the two sets come from one distribution.
    """
    a, b = _two_samples(features_a, features_b)
    d = a.shape[1]

    def kernel(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return (u @ v.T / d + 1) ** 3

    return _unbiased(kernel(a, a), kernel(b, b), kernel(a, b))
