"""Weight initializations derived from variance propagation: LeCun, Xavier (Glorot), He (Kaiming).

Chapter 4 ("Training deep networks") derives them. A layer ``y = A x`` with
``n_in`` inputs of unit variance and i.i.d. zero-mean weights of variance
``sigma^2`` gives outputs of variance ``n_in sigma^2``; the backward pass
multiplies gradient variances by ``n_out sigma^2``. Hence

==========  ===========================  ==========================================
scheme      weight variance sigma^2       meant for
==========  ===========================  ==========================================
LeCun       1 / fan_in                    tanh / linear units (forward pass)
Xavier      2 / (fan_in + fan_out)        tanh / sigmoid (forward and backward)
He          2 / fan                       ReLU (fan = fan_in or fan_out)
==========  ===========================  ==========================================

A uniform distribution on ``[-a, a]`` has variance ``a^2 / 3``, so the
uniform variants use ``a = sqrt(3) sigma``. For a convolution weight of shape
``(C_out, C_in, k1, k2)``, ``fan_in = C_in k1 k2`` and ``fan_out = C_out k1 k2``.

The functions draw exactly as :mod:`torch.nn.init` does (``normal_`` or
``uniform_`` on the tensor), so with the same seed they give the same numbers
as the matching ``nn.init`` call.
"""

from __future__ import annotations

import math

import torch
from torch import nn

SCHEMES = ("lecun", "xavier", "he")
MODES = ("fan_in", "fan_out")


def fans(weight: torch.Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a Linear weight (out, in) or a Conv weight (C_out, C_in, *kernel).

    Raises:
        ValueError: for tensors with fewer than 2 dimensions (biases have no fan).
    """
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"fans() needs a tensor, got {type(weight).__name__}")
    if weight.ndim < 2:
        raise ValueError(
            f"a weight needs at least 2 dimensions (out, in, ...) to have fans; got shape "
            f"{tuple(weight.shape)}. Biases are usually set to zero instead."
        )
    receptive_field = math.prod(
        weight.shape[2:]
    )  # k1 * k2 for a Conv2d, 1 for a Linear
    return weight.shape[1] * receptive_field, weight.shape[0] * receptive_field


def init_std(
    weight: torch.Tensor, scheme: str, *, mode: str = "fan_in", gain: float = 1.0
) -> float:
    """The standard deviation sigma that ``scheme`` prescribes for ``weight``.

    Args:
        weight: (out, in) or (C_out, C_in, *kernel).
        scheme: ``"lecun"`` (1/fan), ``"xavier"`` (2/(fan_in+fan_out)) or ``"he"`` (2/fan).
        mode: which fan LeCun and He use: ``"fan_in"`` keeps the forward pass's
            variance, ``"fan_out"`` the backward pass's. Xavier ignores it.
        gain: an extra factor on sigma (e.g. 5/3 for tanh in PyTorch's convention).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    if not gain > 0:
        raise ValueError(f"gain must be positive, got {gain!r}")
    fan_in, fan_out = fans(weight)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise ValueError(f"weight of shape {tuple(weight.shape)} has a zero fan")
    variance = {
        "lecun": 1.0 / fan,
        "xavier": 2.0 / (fan_in + fan_out),
        "he": 2.0 / fan,
    }[scheme]
    return gain * math.sqrt(variance)


def _draw_(
    weight: torch.Tensor, std: float, dist: str, generator: torch.Generator | None
) -> torch.Tensor:
    with torch.no_grad():
        if dist == "normal":
            return weight.normal_(0.0, std, generator=generator)
        if dist == "uniform":
            bound = math.sqrt(3.0) * std  # Var(U[-a, a]) = a^2 / 3
            return weight.uniform_(-bound, bound, generator=generator)
    raise ValueError(f"dist must be 'normal' or 'uniform', got {dist!r}")


def lecun_normal_(
    weight: torch.Tensor,
    *,
    mode: str = "fan_in",
    generator: torch.Generator | None = None,
):
    """Fill ``weight`` in place from N(0, 1/fan_in) and return it."""
    return _draw_(weight, init_std(weight, "lecun", mode=mode), "normal", generator)


def lecun_uniform_(
    weight: torch.Tensor,
    *,
    mode: str = "fan_in",
    generator: torch.Generator | None = None,
):
    """Fill ``weight`` in place from U[-a, a] with a = sqrt(3 / fan_in) and return it."""
    return _draw_(weight, init_std(weight, "lecun", mode=mode), "uniform", generator)


def xavier_normal_(
    weight: torch.Tensor, *, gain: float = 1.0, generator: torch.Generator | None = None
):
    """Fill ``weight`` in place from N(0, gain^2 2/(fan_in + fan_out)) and return it."""
    return _draw_(weight, init_std(weight, "xavier", gain=gain), "normal", generator)


def xavier_uniform_(
    weight: torch.Tensor, *, gain: float = 1.0, generator: torch.Generator | None = None
):
    """Fill ``weight`` in place from U[-a, a] with a = gain sqrt(6/(fan_in + fan_out)) and return it."""
    return _draw_(weight, init_std(weight, "xavier", gain=gain), "uniform", generator)


def he_normal_(
    weight: torch.Tensor,
    *,
    mode: str = "fan_in",
    generator: torch.Generator | None = None,
):
    """Fill ``weight`` in place from N(0, 2/fan) (fan = fan_in or fan_out) and return it."""
    return _draw_(weight, init_std(weight, "he", mode=mode), "normal", generator)


def he_uniform_(
    weight: torch.Tensor,
    *,
    mode: str = "fan_in",
    generator: torch.Generator | None = None,
):
    """Fill ``weight`` in place from U[-a, a] with a = sqrt(6/fan) and return it."""
    return _draw_(weight, init_std(weight, "he", mode=mode), "uniform", generator)


def init_model_(
    model: nn.Module,
    scheme: str,
    *,
    dist: str = "normal",
    mode: str = "fan_in",
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Initialize every Linear and Conv weight of ``model`` with ``scheme``; set their biases to 0.

    Args:
        model: any module; only ``nn.Linear`` and ``nn.Conv1d/2d/3d`` layers are touched.
        scheme: ``"lecun"``, ``"xavier"`` or ``"he"``.
        dist: ``"normal"`` or ``"uniform"``.
        mode: ``"fan_in"`` or ``"fan_out"`` (LeCun and He).

    Returns:
        ``model``, initialized in place.
    """
    if dist not in ("normal", "uniform"):
        raise ValueError(f"dist must be 'normal' or 'uniform', got {dist!r}")
    touched = 0
    for layer in model.modules():
        if isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            _draw_(
                layer.weight, init_std(layer.weight, scheme, mode=mode), dist, generator
            )
            if layer.bias is not None:
                with torch.no_grad():
                    layer.bias.zero_()
            touched += 1
    if touched == 0:
        raise ValueError("init_model_ found no nn.Linear or nn.Conv layer in the model")
    return model
