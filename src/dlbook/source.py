"""Show the source of a dlbook function or class inside a chapter.

The algorithms the book teaches are written out in the chapters' own cells
(tagged ``dlbook:MODULE``, see :mod:`dlbook.export`), so a learner can edit
and rerun them. ``show_source`` remains for plumbing a chapter mentions in
passing: it puts that code on the page, syntax-highlighted in Jupyter and in
the rendered book, printed in a plain script.
"""

from __future__ import annotations

import inspect
import textwrap
from typing import Any


def show_source(obj: Any) -> Any:
    """Return the source of ``obj`` (a function, method or class) for display.

    In a notebook the returned object renders as highlighted Python; in a
    script the code is printed and ``None`` is returned.

    Raises:
        TypeError: if ``obj`` has no retrievable Python source (e.g. a built-in).
    """
    try:
        code = textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError) as err:
        raise TypeError(
            f"show_source needs a Python function, method or class; got {obj!r}"
        ) from err
    try:
        from IPython import get_ipython
        from IPython.display import Code

        if get_ipython() is not None:
            return Code(code, language="python")
    except ImportError:
        pass
    print(code)
    return None
