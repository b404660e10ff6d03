"""Reporting a chapter's key results, so that the benchmark can record them.

A chapter calls ``dlbook.report("test accuracy", acc)``: the value is printed
as one line, and when ``$DLBOOK_RESULTS`` names a file (``python -m
dlbook.bench`` sets it) it is appended there as one JSON line.
"""

from __future__ import annotations

import json
import math
import os
from numbers import Number
from typing import Any

RESULTS_ENV = "DLBOOK_RESULTS"


def _plain(value: Any) -> Any:
    """Turn tensors and NumPy scalars into JSON-friendly Python values."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, Number):
        value = float(value) if not isinstance(value, int) else value
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        return value
    raise TypeError(
        "report() takes a number, a string, a bool or a 0-d tensor, got "
        f"{type(value).__name__}; "
        "report each number of a collection separately"
    )


def report(
    name: str, value: Any, *, fmt: str = "", unit: str = "", show: bool = True
) -> Any:
    """Print a named result and record it for ``dlbook.bench``.

    Args:
        name: what the value is, e.g. ``"test accuracy"``.
        value: a number, string, bool or 0-d tensor.
        fmt: a format spec for printing, e.g. ``".3f"``.
        unit: printed after the value, e.g. ``"s"``.
        show: print the line (``False`` only records it).

    Returns:
        The value as a plain Python object.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(
            "report() needs a non-empty name, e.g. report('test accuracy', acc)"
        )
    plain = _plain(value)
    if show:
        text = format(plain, fmt) if fmt and not isinstance(plain, str) else str(plain)
        print(f"{name}: {text}{' ' + unit if unit else ''}")
    path = os.environ.get(RESULTS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"name": name, "value": plain, "unit": unit}) + "\n")
    return plain
