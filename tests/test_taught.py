"""The code a chapter teaches is the code the package exports (one source).

A code cell tagged ``dlbook:MODULE`` writes definitions out for the learner;
each must stand verbatim in ``src/dlbook/MODULE.py`` (see dlbook.export).
"""

from pathlib import Path

import pytest

from dlbook import export

CHAPTERS = sorted((Path(export.ROOT) / "chapters").glob("[0-9][0-9]_*.py"))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_taught_definitions_match_the_package(chapter):
    problems = export.mismatches(export.taught_in(chapter))
    assert not problems, "\n".join(problems)


def test_each_definition_is_taught_once():
    export.all_taught()  # raises when two chapters write out the same name


def test_export_round_trip(tmp_path, monkeypatch):
    mod = tmp_path / "toy.py"
    mod.write_text('"""Toy."""\n\n\ndef f(x):\n    return x\n\n\ndef g():\n    pass\n')
    monkeypatch.setattr(export, "PACKAGE", tmp_path)
    t = export.Taught("99_toy.py", "toy", "f", "def f(x):\n    return 2 * x")
    assert export.mismatches([t]) and "differ" in export.mismatches([t])[0]
    assert export.export([t]) == ["dlbook.toy.f <- 99_toy.py"]
    assert export.mismatches([t]) == []
    assert "def g():" in mod.read_text()
    new = export.Taught("99_toy.py", "toy", "h", "class h:\n    pass")
    assert "lacks" in export.mismatches([new])[0]
    export.export([new])
    assert export.mismatches([new]) == []
