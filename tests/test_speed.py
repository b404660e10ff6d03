import json

import pytest
import torch

from dlbook import bench, speed


def test_loader_vs_batches_times_three_pipelines(monkeypatch):
    from dlbook import data

    fake = data.ImageSet(
        torch.randint(0, 256, (600, 28, 28), dtype=torch.uint8),
        torch.arange(600) % 10,
        data.FASHION_CLASSES,
        "fake",
    )
    monkeypatch.setattr(speed, "load_fashion_mnist", lambda split: fake)
    rows = speed.loader_vs_batches(
        512, batch_size=128, epochs=1, device=torch.device("cpu")
    )
    assert [r["variant"] for r in rows] == [
        "DataLoader, 0 workers",
        "DataLoader, 2 workers",
        "dlbook.data.Batches (on the device)",
    ]
    assert all(r["value"] > 0 and r["unit"] == "s/epoch" for r in rows)
    with pytest.raises(ValueError, match="at least batch_size"):
        speed.loader_vs_batches(10, batch_size=128)


def test_precision_test_is_cuda_only():
    assert speed.precision_and_layout(device=torch.device("cpu")) == []


def test_speed_records_render_into_the_appendix(tmp_path):
    rec = {
        "device": "cpu (2 threads)",
        "host": "vm",
        "date": "2026-11-24T00:00:00+00:00",
        "torch": "2.x",
        "measurements": [
            {
                "choice": "input pipeline",
                "variant": "Batches",
                "value": 0.5,
                "unit": "s/epoch",
                "examples_per_s": 40000,
            },
            {
                "choice": "torch.compile",
                "variant": "compiled",
                "value": None,
                "unit": "ms/step",
                "note": "compile failed: X",
            },
        ],
    }
    path = tmp_path / "speed.json"
    path.write_text(json.dumps(rec))
    bench_rec = {
        "chapter": "01_x",
        "profile": "smoke",
        "device": "cpu",
        "wall_s": 1.0,
        "returncode": 0,
        "results": {},
        "date": "2026-11-24",
        "host": "vm",
    }
    page = bench.render_appendix([bench_rec], speed.load_speed([path]))
    assert "## Speed choices, before and after" in page
    assert "| input pipeline | Batches | 0.5 s/epoch (40,000 examples/s) |" in page
    assert "— ms/step — compile failed: X" in page
    with pytest.raises(ValueError, match="not a speed record"):
        bad = tmp_path / "bad.json"
        bad.write_text("[1, 2]")
        speed.load_speed([bad])
