"""One source for the code a chapter teaches and the package later chapters import.

A chapter writes an algorithm out in its own editable cells. A code cell
tagged ``dlbook:MODULE`` (for example ``dlbook:optim``) declares that every
top-level ``def`` and ``class`` in it is also the definition that
``dlbook.MODULE`` exports, character for character. Other statements in the
cell (a quick check, a print) are the chapter's own.

- ``python -m dlbook.export --check`` (run by ``tests/test_taught.py``) fails
  when a tagged definition and the package's differ, or when the package
  lacks it.
- ``python -m dlbook.export`` (``make export``) copies each tagged definition
  from the chapter into ``src/dlbook/MODULE.py``, replacing the definition of
  the same name there. The chapter is the source: edit it, then export.

Argument checks and fast paths that would distract from the lesson stay out
of the taught definitions; the package adds them around the taught code.
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass
from pathlib import Path

TAG_PREFIX = "dlbook:"
ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Taught:
    """One top-level definition written out in a chapter cell."""

    chapter: str  # e.g. "04_optimization.py"
    module: str  # e.g. "optim"
    name: str  # e.g. "SGD"
    source: str  # the definition's text, decorators included


def _segments(code: str) -> dict[str, tuple[int, int, str]]:
    """Top-level defs and classes of ``code``: name -> (first line, last line, text).

    Lines are 0-based and inclusive; a definition starts at its first decorator.
    """
    tree = ast.parse(code)
    lines = code.splitlines()
    out = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            last = node.end_lineno - 1
            out[node.name] = (first, last, "\n".join(lines[first : last + 1]))
    return out


def taught_in(chapter: Path) -> list[Taught]:
    """Every definition in ``chapter``'s cells tagged ``dlbook:MODULE``."""
    import jupytext

    found = []
    for cell in jupytext.read(chapter).cells:
        tags = [t for t in cell.metadata.get("tags", []) if t.startswith(TAG_PREFIX)]
        if cell.cell_type != "code" or not tags:
            continue
        if len(tags) > 1:
            raise ValueError(f"{chapter.name}: a cell has several dlbook: tags {tags}")
        module = tags[0][len(TAG_PREFIX) :]
        # Jupyter magics are commented in the .py; parse the cell as Python.
        for name, (_, _, text) in _segments(cell.source).items():
            found.append(Taught(chapter.name, module, name, text))
    return found


def all_taught(chapters: list[Path] | None = None) -> list[Taught]:
    """The taught definitions of every chapter (or of ``chapters``)."""
    if chapters is None:
        chapters = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.py"))
    found = [t for c in chapters for t in taught_in(c)]
    seen: dict[tuple[str, str], str] = {}
    for t in found:
        key = (t.module, t.name)
        if key in seen:
            raise ValueError(
                f"dlbook.{t.module}.{t.name} is written out in both {seen[key]} "
                f"and {t.chapter}: teach it once, import it afterwards"
            )
        seen[key] = t.chapter
    return found


def mismatches(found: list[Taught]) -> list[str]:
    """A message for every taught definition that the package does not hold verbatim."""
    problems = []
    for t in found:
        path = PACKAGE / f"{t.module}.py"
        if not path.exists():
            problems.append(
                f"{t.chapter}: tag dlbook:{t.module} names no module {path}"
            )
            continue
        seg = _segments(path.read_text(encoding="utf-8")).get(t.name)
        if seg is None:
            problems.append(
                f"{t.chapter} teaches {t.name}, which dlbook.{t.module} lacks: "
                "run `make export` to add it"
            )
        elif seg[2] != t.source:
            problems.append(
                f"{t.chapter} and dlbook.{t.module}.{t.name} differ: edit the chapter "
                "and run `make export` (the chapter is the source)"
            )
    return problems


def export(found: list[Taught]) -> list[str]:
    """Write each taught definition into its module; return the changed names."""
    changed = []
    for t in found:
        path = PACKAGE / f"{t.module}.py"
        text = path.read_text(encoding="utf-8")
        seg = _segments(text).get(t.name)
        if seg is not None and seg[2] == t.source:
            continue
        lines = text.splitlines()
        if seg is None:
            lines += ["", "", *t.source.splitlines()]
        else:
            lines[seg[0] : seg[1] + 1] = t.source.splitlines()
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        changed.append(f"dlbook.{t.module}.{t.name} <- {t.chapter}")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dlbook.export", description=__doc__
    )
    parser.add_argument("chapters", nargs="*", type=Path, help="default: every chapter")
    parser.add_argument("--check", action="store_true", help="only report differences")
    args = parser.parse_args(argv)
    found = all_taught(args.chapters or None)
    if args.check:
        problems = mismatches(found)
        for p in problems:
            print(p)
        print(f"{len(found)} taught definitions, {len(problems)} out of step")
        return 1 if problems else 0
    for line in export(found):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
