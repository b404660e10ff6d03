import json

from dlbook import bench


def test_bench_runs_a_chapter_script_and_records_results(tmp_path):
    ch = tmp_path / "chapters"
    ch.mkdir()
    (ch / "99_demo.py").write_text(
        "import dlbook\n"
        "s = dlbook.start()\n"
        "cfg = dlbook.config(smoke=dict(n=1), cpu=dict(n=2), gpu=dict(n=3))\n"
        "dlbook.report('n', cfg.n)\n"
        "dlbook.report('test accuracy', 0.5)\n"
    )
    (ch / "98_broken.py").write_text("raise RuntimeError('boom')\n")
    out = tmp_path / "out.json"
    code = bench.main(
        [
            str(ch / "99_demo.py"),
            str(ch / "98_broken.py"),
            "--profile",
            "smoke",
            "--json",
            str(out),
            "--markdown",
            str(tmp_path / "out.md"),
        ]
    )
    assert code == 1  # one chapter failed
    recs = json.loads(out.read_text())
    ok, bad = recs
    assert (
        ok["chapter"] == "99_demo"
        and ok["profile"] == "smoke"
        and ok["returncode"] == 0
    )
    assert ok["results"] == {"n": 1, "test accuracy": 0.5}
    assert ok["device"].startswith(("cpu", "cuda", "mps")) and ok["wall_s"] > 0
    assert bad["returncode"] != 0 and "boom" in bad["error_tail"]
    table = (tmp_path / "out.md").read_text()
    assert "| 99_demo | smoke |" in table and "98_broken (FAILED)" in table


def _rec(chapter, profile, wall=1.0, **results):
    return {
        "chapter": chapter,
        "profile": profile,
        "device": "cpu (2 threads)",
        "host": "box (x86_64, 2 cores)",
        "wall_s": wall,
        "returncode": 0,
        "results": results,
        "date": "2026-11-24T00:00:00+00:00",
    }


def test_appendix_renders_every_profile(tmp_path):
    f = tmp_path / "smoke.json"
    recs = [_rec("01_b", "smoke", acc=0.9), _rec("00_a", "smoke", 2.0)]
    recs.append(dict(_rec("01_b", "cpu", 3.0, acc=0.95), host="other (arm64, 8 cores)"))
    recs.append(_rec("00_a", "cpu", 4.0))
    recs.append(_rec("00_a", "cpu", 5.0))  # a later record of the same chapter wins
    recs[-1]["date"] = "2026-11-25T00:00:00+00:00"
    f.write_text(json.dumps(recs))
    out = tmp_path / "page.md"
    assert bench.main([str(f), "--appendix", str(out)]) == 0
    page = out.read_text()
    times = page[page.index("## Wall time") : page.index("## Results per chapter")]
    assert "| chapter | smoke (s) | cpu (s) |" in times
    a, b = times.index("00_a <"), times.index("01_b <")
    assert a < b, "rows sorted by chapter"
    assert "| 2.0 | 5.0 |" in times and r"| 1.0 | 3.0 \* |" in times, times
    # the machine is named once per profile, not on every row
    assert page.count("cpu (2 threads) on box (x86_64, 2 cores)") == 2, page
    assert "### 01_b\n" in page and "| acc | 0.9 | 0.95 |" in page, page
    assert "`cpu` ran on cpu (2 threads) on other (arm64, 8 cores)" in page
    assert "### 00_a\n\nNo results reported." in page
    assert "- `gpu`: not measured yet" in page


def test_appendix_rejects_non_records(tmp_path):
    import pytest

    f = tmp_path / "x.json"
    f.write_text(json.dumps({"not": "records"}))
    with pytest.raises(ValueError, match="bench records"):
        bench.load_records([f])


def test_bench_times_every_code_cell_and_keeps_line_numbers(tmp_path):
    script = tmp_path / "97_cells.py"
    script.write_text(
        "# %% [markdown]\n# A title\n\n"
        "# %%\nimport time\nx = 1\n\n"
        "# %%\ntime.sleep(0.2)\n\n"
        "# %%\nassert x == 2, 'x is one'\n"
    )
    assert [first for first, _ in bench.split_cells(script.read_text())] == [
        1,
        4,
        8,
        11,
    ]
    rec = bench.run_chapter(script, "smoke")
    assert rec["returncode"] != 0 and "line 12" in rec["error_tail"]
    (tmp_path / "96_ok.py").write_text(script.read_text().replace("== 2", "== 1"))
    rec = bench.run_chapter(tmp_path / "96_ok.py", "smoke")
    lines = [(first, code) for first, code, _ in rec["cells"]]
    assert lines == [
        (4, "import time"),
        (8, "time.sleep(0.2)"),
        (11, "assert x == 1, 'x is one'"),
    ]
    assert rec["cells"][1][2] >= 0.2 > rec["cells"][0][2]
