"""Regularization layers written from scratch: dropout, batch normalization, mixup.

Chapter 5 (``ch-generalization``) teaches these pieces by walking through this
code; later chapters import them. Each one matches PyTorch's own
implementation (``nn.Dropout``, ``nn.BatchNorm1d``/``nn.BatchNorm2d``), which
``tests/test_regularization.py`` checks on random inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def dropout(
    x: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Inverted dropout: zero each entry with probability ``p``, scale the rest by 1/(1-p).

    The scaling keeps the expectation unchanged, E[dropout(x)] = x, so nothing
    has to be rescaled at test time, where the layer is the identity.

    Args:
        x: activations of any shape, e.g. (N, H).
        p: the probability of dropping an entry, in [0, 1].
        training: apply dropout (``True``) or return ``x`` unchanged (``False``).
        generator: optional random generator for the mask (on ``x``'s device).

    Returns:
        A tensor of ``x``'s shape.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:  # everything dropped; avoid 0 / 0
        return torch.zeros_like(x)
    keep = (
        torch.rand(x.shape, generator=generator, device=x.device) >= p
    )  # True with probability 1 - p
    return x * keep / (1.0 - p)


class Dropout(nn.Module):
    """Inverted dropout as a layer: active in ``train()`` mode, the identity in ``eval()`` mode.

    Args:
        p: the probability of dropping an entry, in [0, 1].
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def batch_norm(
    x: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    running_mean: torch.Tensor,
    running_var: torch.Tensor,
    *,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Batch normalization over every dimension except the channel dimension 1.

    In training the batch's own mean and (biased) variance normalize ``x``, and
    the running estimates are updated in place with the *unbiased* variance:
    ``running = (1 - momentum) * running + momentum * batch_value``. In
    evaluation the running estimates are used and nothing is updated.

    Args:
        x: (N, C) after a linear layer, (N, C, L) or (N, C, H, W) after a convolution.
        gamma, beta: (C,) learned scale and shift.
        running_mean, running_var: (C,) buffers, updated in place when ``training``.
        training: use batch statistics and update the buffers, or use the buffers.
        momentum: the weight of the NEW batch statistic in the running average.
        eps: added to the variance before the square root.

    Returns:
        A tensor of ``x``'s shape.
    """
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
        if t.shape != (c,):
            raise ValueError(
                f"{name} must have shape ({c},) to match x's {c} channels, got {tuple(t.shape)}"
            )
    dims = [0] + list(range(2, x.ndim))  # all but the channels: (N,) or (N, H, W)
    shape = [1, c] + [1] * (x.ndim - 2)  # broadcast (C,) against x
    if training:
        n = x.numel() // c  # values per channel
        if n < 2:
            raise ValueError(
                "batch_norm in training needs more than one value per channel; "
                "use a batch of at least 2 examples (or eval mode)"
            )
        mean = x.mean(dims)  # (C,)
        var = x.var(dims, correction=0)  # (C,) biased: what normalizes the batch
        with torch.no_grad():
            running_mean.mul_(1 - momentum).add_(momentum * mean)
            running_var.mul_(1 - momentum).add_(
                momentum * var * n / (n - 1)
            )  # unbiased
    else:
        mean, var = running_mean, running_var
    x_hat = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps)
    return gamma.reshape(shape) * x_hat + beta.reshape(shape)


class BatchNorm(nn.Module):
    """Batch normalization for (N, C) or (N, C, ...) inputs, like ``nn.BatchNorm1d``/``2d``.

    Args:
        num_features: the number of channels C.
        momentum: the weight of the NEW batch statistic in the running averages.
        eps: added to the variance before the square root.
    """

    def __init__(
        self, num_features: int, momentum: float = 0.1, eps: float = 1e-5
    ) -> None:
        super().__init__()
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(
                f"num_features must be a positive int, got {num_features!r}"
            )
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        self.momentum, self.eps = momentum, eps
        self.gamma = nn.Parameter(torch.ones(num_features))
        self.beta = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return batch_norm(
            x,
            self.gamma,
            self.beta,
            self.running_mean,
            self.running_var,
            training=self.training,
            momentum=self.momentum,
            eps=self.eps,
        )

    def extra_repr(self) -> str:
        return f"{len(self.gamma)}, momentum={self.momentum}, eps={self.eps}"


def mixup(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    alpha: float = 0.2,
    num_classes: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Mix a batch with a shuffled copy of itself (Zhang et al., 2018).

    One weight ``lam ~ Beta(alpha, alpha)`` is drawn for the batch; the result is
    ``lam * x + (1 - lam) * x[perm]`` with the matching mixture of one-hot labels.

    Args:
        x: (N, ...) inputs.
        y: (N,) integer labels in [0, num_classes).
        alpha: the Beta distribution's parameter; small values keep lam near 0 or 1.
        num_classes: the number of classes K.
        generator: optional random generator for the permutation (on ``x``'s device).

    Returns:
        ``(x_mixed (N, ...), y_soft (N, K), lam)``; ``F.cross_entropy(logits, y_soft)``
        is the mixup loss.
    """
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    if y.ndim != 1 or len(y) != len(x) or y.is_floating_point():
        raise ValueError(
            f"y must be (N,) integer labels for x of length {len(x)}, got {tuple(y.shape)} {y.dtype}"
        )
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"labels must lie in [0, {num_classes}), got range [{int(y.min())}, {int(y.max())}]"
        )
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    perm = torch.randperm(
        len(x),
        generator=generator,
        device=x.device if generator is None else generator.device,
    )
    perm = perm.to(x.device)
    one_hot = F.one_hot(y, num_classes).to(
        x.dtype if x.is_floating_point() else torch.float32
    )
    x_mixed = lam * x + (1 - lam) * x[perm]
    y_soft = lam * one_hot + (1 - lam) * one_hot[perm]
    return x_mixed, y_soft, lam
