"""The conceptual diagrams in figs/: regenerated, byte for byte, and all used by a page.

`figs/make_figs.py` draws every diagram; the committed SVGs must be what it
draws now (run `python figs/make_figs.py` after changing it or the code a
diagram reads its sizes from), and every SVG must be placed in a chapter as
`figs/NAME.svg`.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIGS = ROOT / "figs"
PAGES = sorted((ROOT / "chapters").glob("*.py"))


def _load_make_figs():
    spec = importlib.util.spec_from_file_location("make_figs", FIGS / "make_figs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_figs"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def make_figs():
    return _load_make_figs()


def _pinned(package: str) -> str | None:
    text = (ROOT / "constraints.txt").read_text(encoding="utf-8")
    found = re.search(rf"^{package}==(\S+)", text, re.M)
    return found.group(1) if found else None


def test_committed_svgs_are_what_the_generator_draws(make_figs, tmp_path):
    """Every diagram draws on any supported matplotlib; byte for byte on the pinned one.

    The committed SVGs are drawn with the matplotlib of constraints.txt; another
    release writes different bytes (paths, ids) for the same drawing.
    """
    import matplotlib

    fresh = {p.name: p.read_bytes() for p in make_figs.render_all(tmp_path)}
    committed = {p.name: p.read_bytes() for p in FIGS.glob("*.svg")}
    missing = sorted(set(fresh) - set(committed))
    orphans = sorted(set(committed) - set(fresh))
    assert not missing, f"not committed (run python figs/make_figs.py): {missing}"
    assert not orphans, f"SVGs in figs/ that no diagram function draws: {orphans}"
    if matplotlib.__version__ != _pinned("matplotlib"):
        return  # drawn without error; the bytes belong to the pinned release
    stale = sorted(n for n in fresh if n in committed and committed[n] != fresh[n])
    assert not stale, f"stale, regenerate with python figs/make_figs.py: {stale}"


def test_generator_is_deterministic(make_figs, tmp_path):
    name = "attention_qkv"  # numbers, colours and text: a representative diagram
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = make_figs.render(name, tmp_path / "a")
    b = make_figs.render(name, tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()
    assert b"<dc:date>" not in a.read_bytes(), "no date in the metadata"


def test_diagrams_fit_the_column():
    for svg in FIGS.glob("*.svg"):
        head = svg.read_text(encoding="utf-8")[:600]
        width = float(re.search(r'width="([\d.]+)pt"', head).group(1))
        assert width <= 7 * 72 + 1e-9, f"{svg.name} is {width / 72:.2f} in wide (max 7)"


def test_every_svg_is_used_by_a_page():
    text = "\n".join(p.read_text(encoding="utf-8") for p in PAGES)
    unused = sorted(p.name for p in FIGS.glob("*.svg") if f"figs/{p.name}" not in text)
    assert not unused, (
        f"{len(unused)} diagrams in figs/ are used by no chapter (place them as "
        f"figs/NAME.svg, see figs/PLACEMENT.md): {unused}"
    )
