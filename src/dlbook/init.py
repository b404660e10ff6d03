"""Weight initializations derived from variance propagation: LeCun, Xavier (Glorot), He.

Chapter 4 (``ch-optimization``) derives them and writes ``fans``,
``init_std``, ``_draw_`` and ``init_model_`` out in cells tagged
``dlbook:init``; this module holds the same text. A layer ``y = A x`` with
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
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from dlbook import check

SCHEMES = ("lecun", "xavier", "he")
MODES = ("fan_in", "fan_out")


def check_choice(value: Any, name: str, choices: Sequence[str]) -> Any:
    """Raise a ValueError unless ``value`` is one of ``choices``; return it."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def check_module(model: Any) -> nn.Module:
    """Raise a TypeError unless ``model`` is an ``nn.Module``; return it."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def fans(weight):
    """(fan_in, fan_out) of a Linear weight (out, in) or a conv weight (out, in, *k)."""
    check.tensor(weight, "weight", ndim=(2, 3, 4, 5))  # a bias has no fans
    receptive_field = math.prod(weight.shape[2:])  # k1 k2 for a Conv2d, 1 for a Linear
    return weight.shape[1] * receptive_field, weight.shape[0] * receptive_field


def init_std(weight, scheme, *, mode="fan_in", gain=1.0):
    """The standard deviation sigma that scheme ("lecun", "xavier", "he") prescribes."""
    check_choice(scheme, "scheme", ("lecun", "xavier", "he"))
    check_choice(mode, "mode", ("fan_in", "fan_out"))  # LeCun and He use one fan
    check.positive(gain, "gain")
    fan_in, fan_out = fans(weight)
    check.positive(min(fan_in, fan_out), "the weight's smallest fan", integer=True)
    fan = fan_in if mode == "fan_in" else fan_out
    variance = {"lecun": 1 / fan, "xavier": 2 / (fan_in + fan_out), "he": 2 / fan}
    return gain * math.sqrt(variance[scheme])


def _draw_(weight, std, dist="normal", generator=None):
    """Fill weight in place from N(0, std^2), or U[-a, a] with the same variance."""
    check_choice(dist, "dist", ("normal", "uniform"))
    with torch.no_grad():
        if dist == "normal":
            return weight.normal_(0.0, std, generator=generator)
        bound = math.sqrt(3.0) * std  # Var(U[-a, a]) = a^2 / 3
        return weight.uniform_(-bound, bound, generator=generator)


def lecun_normal_(weight, *, mode="fan_in", generator=None):
    """Fill ``weight`` in place from N(0, 1/fan) and return it."""
    return _draw_(weight, init_std(weight, "lecun", mode=mode), "normal", generator)


def lecun_uniform_(weight, *, mode="fan_in", generator=None):
    """Fill ``weight`` in place from U[-a, a], a = sqrt(3 / fan), and return it."""
    return _draw_(weight, init_std(weight, "lecun", mode=mode), "uniform", generator)


def xavier_normal_(weight, *, gain=1.0, generator=None):
    """Fill ``weight`` in place from N(0, gain^2 2/(fan_in + fan_out)) and return it."""
    return _draw_(weight, init_std(weight, "xavier", gain=gain), "normal", generator)


def xavier_uniform_(weight, *, gain=1.0, generator=None):
    """Fill ``weight`` from U[-a, a], a = gain sqrt(6/(fan_in + fan_out)); return it."""
    return _draw_(weight, init_std(weight, "xavier", gain=gain), "uniform", generator)


def he_normal_(weight, *, mode="fan_in", generator=None):
    """Fill ``weight`` in place from N(0, 2/fan) (fan_in or fan_out) and return it."""
    return _draw_(weight, init_std(weight, "he", mode=mode), "normal", generator)


def he_uniform_(weight, *, mode="fan_in", generator=None):
    """Fill ``weight`` in place from U[-a, a], a = sqrt(6/fan), and return it."""
    return _draw_(weight, init_std(weight, "he", mode=mode), "uniform", generator)


def init_model_(model, scheme, *, dist="normal", mode="fan_in", generator=None):
    """Initialize every Linear and Conv weight of model with scheme; zero the biases."""
    kinds = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
    layers = [m for m in check_module(model).modules() if isinstance(m, kinds)]
    check.nonempty(layers, "the model's nn.Linear and nn.Conv layers")
    for layer in layers:
        _draw_(layer.weight, init_std(layer.weight, scheme, mode=mode), dist, generator)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    return model
