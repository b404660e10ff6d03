import json

import numpy as np
import pytest
import torch

from dlbook import report


def test_report_prints_and_records(tmp_path, monkeypatch, capsys):
    path = tmp_path / "r.jsonl"
    monkeypatch.setenv("DLBOOK_RESULTS", str(path))
    assert report("test accuracy", torch.tensor(0.8125), fmt=".3f") == pytest.approx(
        0.8125
    )
    report("epochs", np.int64(3))
    assert capsys.readouterr().out.splitlines() == ["test accuracy: 0.812", "epochs: 3"]
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    assert [r["name"] for r in recs] == ["test accuracy", "epochs"]
    assert recs[1]["value"] == 3


def test_report_rejects_collections_and_empty_names():
    with pytest.raises(TypeError, match="separately"):
        report("accs", [0.1, 0.2])
    with pytest.raises(ValueError):
        report(" ", 1.0)
