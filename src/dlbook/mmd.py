"""Maximum mean discrepancy: a two-sample distance for low-dimensional samples.

With a Gaussian kernel k(x, y) = exp(-|x - y|² / (2 s²)),
MMD² = E k(x, x') + E k(y, y') - 2 E k(x, y) is zero exactly when the two
distributions are equal. Chapters 13 (GANs) and 14 (diffusion) use it to
check 2-D samplers against their data.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


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
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(
            f"samples must be (N, D) and (M, D) with the same D, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if len(x) < 2 or len(y) < 2:
        raise ValueError("mmd2 needs at least two samples on each side")
    if not bandwidths or min(bandwidths) <= 0:
        raise ValueError(f"bandwidths must be positive, got {bandwidths!r}")
    x, y = (
        x.detach().cpu().double(),
        y.detach().cpu().double(),
    )  # float64 on the CPU: MPS has none

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        d2 = torch.cdist(a, b).pow(2)  # (len(a), len(b))
        return sum(torch.exp(-d2 / (2 * s * s)) for s in bandwidths)

    n, m = len(x), len(y)
    kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
    within_x = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    within_y = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return float(within_x + within_y - 2 * kxy.mean())
