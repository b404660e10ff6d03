"""The book's invariants: chapter pairs in sync, no committed outputs, the toc
complete, one identical setup cell that installs dlbook from the one repository
URL, and CI calling the README's test command."""

import json
import re
from pathlib import Path

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.py"))
NOTEBOOKS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))


def _cells(path):
    nb = jupytext.read(path)
    return [
        (c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", [])))
        for c in nb.cells
    ]


def test_there_are_chapters():
    assert CHAPTERS, "no chapters/NN_slug.py found"


@pytest.mark.parametrize("py", CHAPTERS, ids=lambda p: p.stem)
def test_pair_exists_and_is_in_sync(py):
    nb = py.with_suffix(".ipynb")
    assert nb.exists(), f"{nb.name} is missing: run `make sync`"
    assert _cells(py) == _cells(nb), f"{py.name} and {nb.name} differ: run `make sync`"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_a_partner_and_no_outputs(nb):
    assert nb.with_suffix(".py").exists(), f"{nb.name} has no paired .py"
    raw = json.loads(nb.read_text(encoding="utf-8"))
    for cell in raw["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, (
                f"{nb.name} is committed with outputs: clear them (jupytext --sync keeps them out)"
            )


def test_py_header_keeps_only_the_kernelspec():
    for py in CHAPTERS:
        head = py.read_text(encoding="utf-8").split("# %%")[0]
        assert "kernelspec" in head and "jupytext_version" not in head, (
            f"{py.name}: metadata churn in header"
        )


def _toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(toc)
    return files


def test_toc_lists_exactly_the_chapters():
    listed = {f for f in _toc_files() if f.startswith("chapters/")}
    present = {f"chapters/{p.stem}" for p in CHAPTERS}
    assert listed == present, (
        f"only in toc: {listed - present}; not in toc: {present - listed}"
    )


def _repo_url():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    return cfg["repository"]["url"]


def test_every_chapter_starts_with_the_same_setup_cell():
    firsts = []
    for py in CHAPTERS:
        code = [c for c in _cells(py) if c[0] == "code"]
        firsts.append(code[0])
    assert all(f == firsts[0] for f in firsts), (
        "the first code cell differs between chapters"
    )
    src, tags = firsts[0][1], firsts[0][2]
    assert f"git+{_repo_url()}" in src, (
        "the setup cell must install dlbook from _config.yml's repository URL"
    )
    assert "--no-deps" in src, "the Colab install must never touch Colab's torch"
    assert "dlbook.start(" in src
    assert set(tags) & {"remove-cell", "hide-input"}


def test_chapters_have_the_house_shape():
    for py in CHAPTERS:
        text = py.read_text(encoding="utf-8")
        if py.stem.startswith("00_"):
            continue
        for heading in ("## Summary", "## Exercises", "## References"):
            assert heading in text, f"{py.name} lacks '{heading}'"
        assert ":class: tip" in text or "learning objectives" in text.lower(), (
            f"{py.name}: no objectives"
        )
        assert "hide-cell" in text, (
            f"{py.name}: exercises need hidden, executed solutions"
        )


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"^make test$", readme, flags=re.M)
    assert m, "README must show the test command `make test` on a line of its own"
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.M)


def test_colab_button_points_at_notebooks():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cfg["launch_buttons"]["colab_url"].startswith(
        "https://colab.research.google.com"
    )
    assert "chapters/*.py" in cfg["exclude_patterns"], (
        "the book must render the .ipynb, not the .py"
    )
    assert (
        cfg["execute"]["execute_notebooks"] == "cache"
        and cfg["execute"]["stderr_output"] == "remove"
    )


def test_appendix_is_rendered_from_the_committed_records():
    from dlbook.bench import load_records, render_appendix
    from dlbook.speed import load_speed

    files = sorted((ROOT / "bench").glob("*.json"))
    assert files, "commit bench records (make bench) before the appendix"
    speed = load_speed(sorted((ROOT / "bench" / "speed").glob("*.json")))
    page = (ROOT / "appendix" / "runtimes.md").read_text(encoding="utf-8")
    assert page == render_appendix(load_records(files), speed), (
        "appendix/runtimes.md is stale: run `make appendix`"
    )
    assert "appendix/runtimes" in _toc_files()


def _code_cells(py):
    return [c for c in jupytext.read(py).cells if c.cell_type == "code"]


@pytest.mark.parametrize("py", CHAPTERS, ids=lambda p: p.stem)
def test_code_fits_the_column(py):
    long = [
        line
        for c in _code_cells(py)
        for line in c.source.splitlines()
        if len(line) > 88
    ]
    assert not long, f"{py.name}: {len(long)} code lines over 88 columns: {long[:3]}"


@pytest.mark.parametrize("py", CHAPTERS, ids=lambda p: p.stem)
def test_no_cell_echoes_a_report(py):
    """A cell ending in dlbook.report(...) would print the raw value a second time."""
    import ast

    for c in _code_cells(py):
        src = "\n".join(
            "pass" if line.lstrip().startswith(("%", "!")) else line
            for line in c.source.splitlines()
        )
        body = ast.parse(src).body
        if not body or src.rstrip().endswith(";"):
            continue
        last = body[-1]
        if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
            f = last.value.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            assert name != "report", (
                f"{py.name}: a cell ends in report(...), which echoes its value: "
                f"assign the result or end the line with ';'\n{c.source[-200:]}"
            )


@pytest.mark.parametrize("py", CHAPTERS, ids=lambda p: p.stem)
def test_solutions_sit_in_a_solution_toggle(py):
    """Code after '## Exercises' is a solution: hidden, in a toggle named Solution."""
    cells = jupytext.read(py).cells
    in_exercises = False
    for c in cells:
        if c.cell_type == "markdown":
            heads = [ln for ln in c.source.splitlines() if ln.startswith("## ")]
            if heads:
                in_exercises = heads[-1].strip() == "## Exercises"
            continue
        if in_exercises:
            tags = c.metadata.get("tags", [])
            prompt = c.metadata.get("mystnb", {}).get("code_prompt_show")
            assert "hide-cell" in tags and prompt == "Solution", (
                f"{py.name}: a solution cell needs tags=['hide-cell'] and "
                'mystnb={"code_prompt_show": "Solution"} (see CONTRIBUTING.md)\n'
                f"{c.source[:120]}"
            )


def _toc():
    return yaml.safe_load((ROOT / "_toc.yml").read_text())


def test_chapters_are_numbered_as_the_prose_says():
    """01_perceptron is chapter 1 ... 14_diffusion chapter 14: the numbered parts
    hold exactly the chapters 01-14 in order; setup and appendix are unnumbered."""
    numbered, unnumbered = [], []
    for part in _toc()["parts"]:
        files = [c["file"] for c in part["chapters"]]
        (numbered if part.get("numbered") else unnumbered).extend(files)
    want = [f"chapters/{p.stem}" for p in CHAPTERS if not p.stem.startswith("00_")]
    assert numbered == want, numbered
    assert all(f.startswith(("chapters/00_", "appendix/")) for f in unnumbered)
    sphinx = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    assert sphinx["numfig"] and sphinx["math_numfig"]
    assert sphinx["numfig_secnum_depth"] == 1, "figures and equations per chapter"


def test_landing_page_lists_every_chapter():
    index = (ROOT / "index.md").read_text(encoding="utf-8")
    for py in CHAPTERS:
        m = re.search(r"^# \((ch-[a-z0-9-]+)\)=", py.read_text(encoding="utf-8"), re.M)
        assert m, f"{py.name} has no (ch-...)= label above its title"
        assert f"{{ref}}`{m.group(1)}`" in index, f"index.md does not link {m.group(1)}"
    assert "{ref}`app-runtimes`" in index


def test_theme_is_pinned_with_its_reason():
    pins = (ROOT / "constraints.txt").read_text()
    assert re.search(r"^sphinx-book-theme==1\.(1\.\d+|2\.0)$", pins, re.M), (
        "sphinx-book-theme 1.3 leaves the sidebar buttons dead (constraints.txt)"
    )
    assert "sidebar" in pins and re.search(r"^pydata-sphinx-theme==", pins, re.M)


def _bib_entries():
    text = (ROOT / "references.bib").read_text(encoding="utf-8")
    return dict(re.findall(r"^@\w+\{([^,\s]+),(.*?)^\}", text, flags=re.M | re.S))


def test_bibliography_has_clean_labels_and_one_key_per_work():
    """Accents as Unicode (pybtex builds labels from the raw names), no TeX math
    in a title, no work under two keys."""
    entries = _bib_entries()
    titles = {}
    for key, body in entries.items():
        assert not re.search(r"\\(?!url)[`'^\"~=.vckuHiL]", body), (
            f"{key}: LaTeX accent"
        )
        m = re.search(r"^\s*title\s*=\s*\{(.*)\},?\s*$", body, flags=re.M)
        assert m and "$" not in m.group(1), f"{key}: TeX math in the title"
        t = re.sub(r"[{}]", "", m.group(1)).lower()
        assert t not in titles, f"{key} and {titles[t]} are the same work"
        titles[t] = key


def test_every_citation_has_an_entry():
    keys = set(_bib_entries())
    for py in CHAPTERS:
        cited = re.findall(
            r"\{cite(?::\w+)?\}`([^`]+)`", py.read_text(encoding="utf-8")
        )
        missing = {k.strip() for c in cited for k in c.split(",")} - keys
        assert not missing, f"{py.name} cites keys not in references.bib: {missing}"


@pytest.mark.parametrize("py", CHAPTERS, ids=lambda p: p.stem)
def test_references_are_a_markdown_cell(py):
    """A `## References` left inside a code cell renders as a comment, no list."""
    cells = jupytext.read(py).cells
    assert any(
        c.cell_type == "markdown" and "{bibliography}" in c.source for c in cells
    ), f"{py.name}: put `# %% [markdown]` before `# ## References`"


# A visible code cell is read on the page: at most ~15 non-blank lines, so a
# learner sees one idea per cell (MAX_VISIBLE is the hard ceiling). Cells whose
# code is hidden (hide-input plots, remove-cell checks) and collapsed solutions
# may be longer, up to MAX_HIDDEN.
MAX_VISIBLE = 18
MAX_HIDDEN = 30
HIDDEN_TAGS = {"remove-cell", "remove-input", "hide-input", "hide-cell"}


def _cell_lengths(py):
    for c in _code_cells(py):
        n = sum(1 for line in c.source.splitlines() if line.strip())
        hidden = bool(HIDDEN_TAGS & set(c.metadata.get("tags", [])))
        yield n, hidden, c.source


@pytest.mark.parametrize("py", CHAPTERS, ids=lambda p: p.stem)
def test_code_cells_are_short(py):
    setup = jupytext.read(CHAPTERS[0]).cells[1].source  # the shared setup cell
    too_long = [
        (n, src.strip().splitlines()[0])
        for n, hidden, src in _cell_lengths(py)
        if n > (MAX_HIDDEN if hidden else MAX_VISIBLE) and src != setup
    ]
    assert not too_long, (
        f"{py.name}: {len(too_long)} code cells are too long (non-blank lines, "
        f"visible ≤ {MAX_VISIBLE}, hidden ≤ {MAX_HIDDEN}); split each into a "
        f"definition cell and a cell that uses it: {too_long[:5]}"
    )
