"""One-line argument checks for the code the chapters teach.

A taught definition stays as lean as micrograd's ``engine.py``: where it must
refuse bad input it calls one of these, e.g. ``check.tensor(x, "x", ndim=4)``,
and the learner reads one line instead of twenty ``if``s. Each raises
``TypeError`` or ``ValueError`` with what was wrong and what to do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch


def tensor(
    x: Any,
    name: str,
    *,
    ndim: int | Sequence[int] | None = None,
    floating: bool = False,
    integer: bool = False,
) -> torch.Tensor:
    """Check that ``x`` is a tensor (of ``ndim`` dimensions, floating or integer)."""
    if not isinstance(x, torch.Tensor):
        hint = " (wrap it with torch.as_tensor)" if hasattr(x, "__array__") else ""
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}{hint}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.dim() not in allowed:
            want = " or ".join(str(d) for d in allowed)
            raise ValueError(
                f"{name} must have {want} dimensions, got shape {tuple(x.shape)}"
            )
    if floating and not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor, got {x.dtype}: call .float()"
        )
    if integer and (x.is_floating_point() or x.is_complex() or x.dtype == torch.bool):
        raise TypeError(f"{name} must hold integers (e.g. torch.long), got {x.dtype}")
    return x


def shape(x: torch.Tensor, name: str, expected: Sequence[int | None]) -> None:
    """Check ``x.shape`` against ``expected``; ``None`` matches any size."""
    ok = x.dim() == len(expected) and all(
        e is None or e == s for e, s in zip(expected, x.shape, strict=False)
    )
    if not ok:
        want = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"
        raise ValueError(f"{name} must have shape {want}, got {tuple(x.shape)}")


def number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
) -> Any:
    """Check that ``value`` is a finite real number in the given range.

    ``low``/``high`` bound it (inclusive unless ``low_open``/``high_open``);
    ``integer`` asks for an ``int``. Returns ``value``.
    """
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "an integer" if integer else "a number"
        raise TypeError(f"{name} must be {kind}, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (low_open and value == low)):
        sign = ">" if low_open else ">="
        raise ValueError(f"{name} must be {sign} {low}, got {value}")
    if high is not None and (value > high or (high_open and value == high)):
        sign = "<" if high_open else "<="
        raise ValueError(f"{name} must be {sign} {high}, got {value}")
    return value


def positive(value: Any, name: str, *, integer: bool = False) -> Any:
    """Check that ``value`` is a finite number > 0 (an ``int`` if ``integer``)."""
    return number(value, name, low=0, low_open=True, integer=integer)


def probability(value: Any, name: str, *, high_open: bool = False) -> Any:
    """Check that ``value`` lies in [0, 1] (or [0, 1) with ``high_open``)."""
    return number(value, name, low=0.0, high=1.0, high_open=high_open)


def nonempty(seq: Sequence[Any], name: str) -> Sequence[Any]:
    """Check that a sequence holds at least one item."""
    if len(seq) == 0:
        raise ValueError(f"{name} is empty; give at least one item")
    return seq
