"""Regularization written from scratch: dropout, batch normalization, mixup.

Chapter 5 (``ch-generalization``) writes these out in cells tagged
``dlbook:regularization``; this module holds the same text, and later chapters
import it. Each matches PyTorch's own implementation (``nn.Dropout``,
``nn.BatchNorm1d``/``nn.BatchNorm2d``), which ``tests/test_regularization.py``
checks on random inputs. The argument checks live in the small ``check_*``
helpers below, so the taught code stays short.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlbook import check


def check_batch_norm(
    x, gamma, beta, running_mean, running_var, training, momentum, eps
):
    """Raise a clear error for arguments :func:`batch_norm` cannot use."""
    check.tensor(x, "x", floating=True)
    if x.ndim < 2:
        raise ValueError(
            f"batch_norm needs x of shape (N, C, ...), got {tuple(x.shape)}"
        )
    c = x.shape[1]
    for name, t in (
        ("gamma", gamma),
        ("beta", beta),
        ("running_mean", running_mean),
        ("running_var", running_var),
    ):
        check.tensor(t, name, ndim=1, floating=True)
        check.shape(t, f"{name} (one value per channel of x)", (c,))
    if not isinstance(training, bool):
        raise TypeError(f"training must be True or False, got {training!r}")
    check.probability(momentum, "momentum")
    check.positive(eps, "eps")
    if training and x.numel() // max(c, 1) < 2:
        raise ValueError(
            "batch_norm in training needs more than one value per channel; "
            "use a batch of at least 2 examples (or eval mode)"
        )


def check_mixup(x, y, alpha, num_classes) -> None:
    """Raise a clear error for arguments :func:`mixup` cannot use."""
    check.tensor(x, "x", floating=True)
    check.tensor(y, "y", ndim=1, integer=True)
    if len(y) != len(x):
        raise ValueError(f"y must hold one label per example: {len(y)} for {len(x)}")
    check.positive(alpha, "alpha")
    check.positive(num_classes, "num_classes", integer=True)
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(
            f"labels must lie in [0, {num_classes}), "
            f"got range [{int(y.min())}, {int(y.max())}]"
        )


def generator_device(generator: torch.Generator | None) -> torch.device:
    """The device a generator draws on (CPU for the global generator)."""
    return torch.device("cpu") if generator is None else generator.device


def beta_draw(alpha: float, generator: torch.Generator | None = None) -> float:
    """One draw of lam ~ Beta(alpha, alpha), reproducible from ``generator``.

    PyTorch's Beta distribution has no ``generator`` argument, so a seed is
    drawn from ``generator`` (or the global torch RNG) and NumPy samples with it.
    """
    check.positive(alpha, "alpha")
    seed = torch.randint(
        2**62, (1,), generator=generator, device=generator_device(generator)
    )
    return float(np.random.default_rng(int(seed.item())).beta(alpha, alpha))


def dropout(x, p=0.5, training=True, generator=None):
    """Inverted dropout: zero each entry with probability p, scale the rest 1/(1-p)."""
    check.tensor(x, "x", floating=True)
    check.probability(p, "p (the drop probability)")
    if not training or p == 0.0:
        return x
    if p == 1.0:  # everything dropped; avoid 0 / 0
        return torch.zeros_like(x)
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= p  # P = 1 - p
    return x * keep / (1.0 - p)  # E[output] = x


class Dropout(nn.Module):
    """Inverted dropout as a layer: on in train() mode, the identity in eval() mode."""

    def __init__(self, p=0.5):
        super().__init__()
        self.p = check.probability(p, "p (the drop probability)")

    def forward(self, x):
        return dropout(x, self.p, self.training)  # model.train() / .eval() set it


def update_running_stats_(running_mean, running_var, mean, var, n, momentum):
    """running <- (1 - momentum) running + momentum new; the variance unbiased."""
    with torch.no_grad():  # the running estimates are buffers, not trained
        running_mean.mul_(1 - momentum).add_(momentum * mean)
        running_var.mul_(1 - momentum).add_(momentum * var * n / (n - 1))


def batch_norm(
    x, gamma, beta, running_mean, running_var, *, training, momentum=0.1, eps=1e-5
):
    """Normalize x (N, C, ...) per channel; in training, update the running stats."""
    check_batch_norm(x, gamma, beta, running_mean, running_var, training, momentum, eps)
    dims = [0, *range(2, x.ndim)]  # all but the channels: (N,) or (N, H, W)
    shape = [1, -1] + [1] * (x.ndim - 2)  # to broadcast (C,) against x
    if training:
        n = x.numel() // x.shape[1]  # values per channel
        mean, var = x.mean(dims), x.var(dims, correction=0)  # (C,), biased
        update_running_stats_(running_mean, running_var, mean, var, n, momentum)
    else:
        mean, var = running_mean, running_var
    x_hat = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps)
    return gamma.reshape(shape) * x_hat + beta.reshape(shape)


class BatchNorm(nn.Module):
    """Batch normalization for (N, C) or (N, C, ...) inputs, like nn.BatchNorm1d/2d."""

    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        super().__init__()
        check.positive(num_features, "num_features", integer=True)
        self.momentum = check.probability(momentum, "momentum")  # weight of the NEW
        self.eps = check.positive(eps, "eps")
        self.gamma = nn.Parameter(torch.ones(num_features))  # learned scale
        self.beta = nn.Parameter(torch.zeros(num_features))  # learned shift
        self.register_buffer("running_mean", torch.zeros(num_features))  # not trained
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        stats = self.gamma, self.beta, self.running_mean, self.running_var
        kw = dict(training=self.training, momentum=self.momentum, eps=self.eps)
        return batch_norm(x, *stats, **kw)


def mixup(x, y, *, alpha=0.2, num_classes, generator=None):
    """Mix a batch with a shuffled copy of itself: (x_mixed, y_soft (N, K), lam)."""
    check_mixup(x, y, alpha, num_classes)
    lam = beta_draw(alpha, generator)  # lam ~ Beta(alpha, alpha)
    perm = torch.randperm(
        len(x), generator=generator, device=generator_device(generator)
    )
    perm = perm.to(x.device)  # (N,) the partner of each example
    one_hot = F.one_hot(y, num_classes).to(x.dtype)  # (N, K)
    x_mixed = lam * x + (1 - lam) * x[perm]
    return x_mixed, lam * one_hot + (1 - lam) * one_hot[perm], lam
