"""Run chapters as plain scripts and record their wall time and key results.

Usage::

    python -m dlbook.bench chapters/01_perceptron.py [more chapters] \\
        --profile smoke --json out.json [--markdown out.md]

Each chapter runs in a fresh Python process, in its own directory (as
Jupyter runs a notebook), with ``$DLBOOK_PROFILE`` set. Whatever the chapter
passes to :func:`dlbook.report` is collected. The JSON file gets one record
per chapter: chapter, profile, device, wall seconds, exit status, results,
date, host and versions, and ``cells``: the wall seconds of each of the
chapter's ``# %%`` cells with the cell's first line of code, so that
:mod:`dlbook.budget` can cite what a section costs. (The cells run one after
another in one namespace, as a notebook runs them.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlbook.setup import PROFILES


def run_chapter(
    path: str | os.PathLike,
    profile: str,
    *,
    timeout: float = 1800.0,
    extra_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run one chapter script under ``profile``; return its record (see module docs)."""
    path = Path(path).resolve()
    if not path.is_file() or path.suffix != ".py":
        raise FileNotFoundError(f"{path} is not a chapter script (chapters/NN_slug.py)")
    if profile not in PROFILES:
        raise ValueError(
            f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}"
        )
    with tempfile.TemporaryDirectory() as tmp:
        results_file = Path(tmp) / "results.jsonl"
        env = dict(
            os.environ,
            DLBOOK_PROFILE=profile,
            DLBOOK_RESULTS=str(results_file),
            MPLBACKEND="Agg",
            DLBOOK_PROGRESS="0",
        )
        env.update(extra_env or {})
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "dlbook.bench", "--run-cells", path.name],
                cwd=path.parent,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            code, tail = proc.returncode, (proc.stdout + proc.stderr)[-2000:]
        except subprocess.TimeoutExpired as err:
            code, tail = (
                -1,
                f"timed out after {timeout:.0f} s\n{err.stdout or ''}"[-2000:],
            )
        wall = time.perf_counter() - t0
        results: dict[str, Any] = {}
        if results_file.exists():
            for line in results_file.read_text(encoding="utf-8").splitlines():
                rec = json.loads(line)
                results[rec["name"]] = rec["value"]
        cells = results.pop(CELLS_KEY, [])
    import torch

    from dlbook import __version__

    record = {
        "chapter": path.stem,
        "profile": profile,
        "device": results.pop("device", "unknown"),
        "wall_s": round(wall, 2),
        "returncode": code,
        "results": {k: v for k, v in results.items() if k != "profile"},
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "host": f"{platform.node()} ({platform.machine()}, {os.cpu_count()} cores)",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "dlbook": __version__,
    }
    record["cells"] = cells
    if code != 0:
        record["error_tail"] = tail
    return record


CELLS_KEY = "__cell_seconds__"


def split_cells(source: str) -> list[tuple[int, str]]:
    """The ``# %%`` cells of a jupytext percent script: (first line number, text)."""
    cells, start, lines = [], 1, source.splitlines(keepends=True)
    for i, line in enumerate(lines, 1):
        if line.startswith("# %%") and i > 1:
            cells.append((start, "".join(lines[start - 1 : i - 1])))
            start = i
    cells.append((start, "".join(lines[start - 1 :])))
    return cells


def _first_code_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()[:80]
    return ""


def run_cells(path: str | os.PathLike) -> None:
    """Run a chapter script cell by cell in one namespace, timing every code cell.

    The cell times go to ``$DLBOOK_RESULTS`` (when set) as one record. A cell
    that raises stops the run with its traceback, as ``python script.py`` does.
    """
    path = Path(path)
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": str(path)}
    times = []
    for first, text in split_cells(path.read_text(encoding="utf-8")):
        # pad with newlines so that tracebacks name the script's own line numbers
        code = compile("\n" * (first - 1) + text, str(path), "exec")
        t0 = time.perf_counter()
        exec(code, namespace)
        if _first_code_line(text):
            times.append([first, _first_code_line(text), time.perf_counter() - t0])
    out = os.environ.get("DLBOOK_RESULTS")
    if out:
        with open(out, "a", encoding="utf-8") as f:
            f.write(json.dumps({"name": CELLS_KEY, "value": times}) + "\n")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def markdown_table(records: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of bench records, one row per chapter and profile."""
    lines = [
        "| chapter | profile | device | wall (s) | results | date |",
        "|---|---|---|---:|---|---|",
    ]
    for r in records:
        res = "; ".join(f"{k} = {_fmt(v)}" for k, v in r["results"].items()) or "—"
        status = "" if r["returncode"] == 0 else " (FAILED)"
        lines.append(
            f"| {r['chapter']}{status} | {r['profile']} | {r['device']} "
            f"| {r['wall_s']:.1f} | {res} "
            f"| {r['date'][:10]} |"
        )
    return "\n".join(lines) + "\n"


APPENDIX_HEAD = """\
(app-runtimes)=
# Runtimes and results

Every number below was measured by running a chapter as a plain script with
`python -m dlbook.bench` (the chapter's `dlbook.report(...)` calls supply the
results) and is rendered from the records committed under `bench/`; nothing
here is typed by hand. To regenerate: `make bench PROFILE=cpu` (or `smoke`,
`gpu`), then `make appendix`. Times are wall-clock seconds for the whole
chapter, Python start-up included; compare them only between runs on the
same machine, which each section names.
"""


def load_records(paths: Sequence[str | os.PathLike]) -> list[dict[str, Any]]:
    """Read bench JSON files (each a list of records) into one list."""
    records: list[dict[str, Any]] = []
    for p in paths:
        data = json.loads(Path(p).read_text(encoding="utf-8"))
        if not isinstance(data, list) or not all(
            isinstance(r, dict) and "chapter" in r for r in data
        ):
            raise ValueError(
                f"{p} is not a list of bench records "
                "(write it with python -m dlbook.bench --json)"
            )
        records.extend(data)
    return records


SPEED_HEAD = """
## Speed choices, before and after

How the chapters train fast without DataLoader workers, and where mixed
precision, `channels_last` and `torch.compile` are used, rests on these
measurements: `python -m dlbook.speed` times each alternative on the same
machine in one run (see the module's documentation). Rendered from
`bench/speed/*.json`.
"""


def _machine(r: dict[str, Any]) -> str:
    return f"{r['device']} on {r['host']}"


def _chapter_link(chapter: str) -> str:
    return f"{{doc}}`{chapter} <../chapters/{chapter}>`"


def render_appendix(
    records: Sequence[dict[str, Any]], speed: Sequence[dict[str, Any]] = ()
) -> str:
    """The Markdown page of the book's appendix.

    One narrow table of wall times (a column per profile, the machine of each
    profile named once above it), then per chapter a table of its results,
    one row per result and a column per profile; chapters sorted, the latest
    record of a chapter and profile wins. Then the speed measurements
    (records of :mod:`dlbook.speed`), if any.
    """
    if not records:
        raise ValueError("no bench records to render")
    by_profile: dict[str, dict[str, dict[str, Any]]] = {p: {} for p in PROFILES}
    for r in sorted(records, key=lambda r: (r["chapter"], r["date"])):
        by_profile[r["profile"]][r["chapter"]] = r
    measured = [p for p in PROFILES if by_profile[p]]
    usual = {}  # the machine most of a profile's rows come from
    for p in measured:
        names = [_machine(r) for r in by_profile[p].values()]
        usual[p] = max(sorted(set(names)), key=names.count)

    out = [APPENDIX_HEAD, "## Wall time per chapter\n"]
    for p in PROFILES:
        dates = sorted({r["date"][:10] for r in by_profile[p].values()})
        if not dates:
            out.append(f"- `{p}`: not measured yet")
            continue
        when = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
        out.append(f"- `{p}`: {usual[p]}, {when}")
    out.append("")
    out.append("| chapter | " + " | ".join(f"{p} (s)" for p in measured) + " |")
    out.append("|---|" + "---:|" * len(measured))
    other = False
    for ch in sorted({c for p in measured for c in by_profile[p]}):
        cells = []
        for p in measured:
            r = by_profile[p].get(ch)
            if r is None:
                cells.append("—")
                continue
            cell = f"{r['wall_s']:.1f}"
            if r["returncode"] != 0:
                cell += " (FAILED)"
            if _machine(r) != usual[p]:
                cell += " \\*"
                other = True
            cells.append(cell)
        out.append(f"| {_chapter_link(ch)} | " + " | ".join(cells) + " |")
    if other:
        out.append("\n\\* measured on another machine: see the results below.")
    out.append("")

    out.append("## Results per chapter\n")
    for ch in sorted({c for p in measured for c in by_profile[p]}):
        rows = {p: by_profile[p][ch] for p in measured if ch in by_profile[p]}
        out.append(f"### {ch}\n")
        notes = []
        for p, r in rows.items():
            if r["returncode"] != 0:
                notes.append(f"the `{p}` run FAILED")
            if _machine(r) != usual[p]:
                notes.append(f"`{p}` ran on {_machine(r)}, {r['date'][:10]}")
        if notes:
            out.append("Note: " + "; ".join(notes) + ".\n")
        names: list[str] = []
        for r in rows.values():
            names += [k for k in r["results"] if k not in names]
        if not names:
            out.append("No results reported.\n")
            continue
        out.append("| result | " + " | ".join(f"`{p}`" for p in rows) + " |")
        out.append("|---|" + "---:|" * len(rows))
        for k in names:
            vals = [
                _fmt(r["results"][k]) if k in r["results"] else "—"
                for r in rows.values()
            ]
            out.append(f"| {k} | " + " | ".join(vals) + " |")
        out.append("")
    if speed:
        from dlbook.speed import render_speed

        out.append(SPEED_HEAD)
        out.append(render_speed(speed))
    return "\n".join(out).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dlbook.bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "paths",
        nargs="+",
        help="chapter scripts, e.g. chapters/01_perceptron.py "
        "(with --appendix: bench JSON files)",
    )
    parser.add_argument("--profile", default="smoke", choices=PROFILES)
    parser.add_argument("--json", help="where to write the records (JSON list)")
    parser.add_argument("--markdown", help="also write a Markdown table here")
    parser.add_argument(
        "--appendix", help="render the given bench JSON files into this Markdown page"
    )
    parser.add_argument(
        "--speed",
        nargs="*",
        default=[],
        help="with --appendix: speed records to add (python -m dlbook.speed --json)",
    )
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds per chapter"
    )
    parser.add_argument(
        "--run-cells",
        action="store_true",
        help="run one chapter script cell by cell, timing each (used by the bench)",
    )
    args = parser.parse_args(argv)
    if args.run_cells:
        sys.path.insert(0, str(Path(args.paths[0]).resolve().parent))
        run_cells(args.paths[0])
        return 0
    if args.appendix:
        from dlbook.speed import load_speed

        Path(args.appendix).write_text(
            render_appendix(load_records(args.paths), load_speed(args.speed)),
            encoding="utf-8",
        )
        return 0
    if not args.json:
        parser.error("--json is required when running chapters")
    args.chapters = args.paths
    records = []
    for ch in args.chapters:
        rec = run_chapter(ch, args.profile, timeout=args.timeout)
        records.append(rec)
        status = "ok" if rec["returncode"] == 0 else f"FAILED ({rec['returncode']})"
        print(
            f"{rec['chapter']}: {rec['profile']} on {rec['device']}: "
            f"{rec['wall_s']:.1f} s, {status}",
            flush=True,
        )
        if rec["returncode"] != 0:
            print(rec["error_tail"], file=sys.stderr)
    Path(args.json).write_text(json.dumps(records, indent=2) + "\n", encoding="utf-8")
    if args.markdown:
        Path(args.markdown).write_text(markdown_table(records), encoding="utf-8")
    return 0 if all(r["returncode"] == 0 for r in records) else 1


if __name__ == "__main__":
    raise SystemExit(main())
