import pytest
import torch
from torch import nn

from dlbook import budget


def test_counted_flops_of_a_linear_layer():
    layer = nn.Linear(10, 5, bias=False)
    x = torch.zeros(3, 10)
    assert budget.forward_flops(layer, x) == 2 * 3 * 10 * 5
    # forward, plus the weight gradient (the input x needs none)
    assert budget.train_flops(layer, x) == 2 * (2 * 3 * 10 * 5)


def test_seconds_are_flops_over_throughput_plus_overhead():
    gpu = budget.Gpu("test", peak=1e12, utilisation=0.5, step_overhead=0.01)
    work = budget.Work("stage", flops_per_step=1e9, steps=100)
    assert work.flops == 1e11
    assert work.seconds(gpu) == pytest.approx(1e11 / 5e11 + 1.0, rel=1e-12)


def test_chapter_config_is_read_from_the_source(tmp_path):
    ch = tmp_path / "99_toy.py"
    ch.write_text(
        "import dlbook\n"
        "cfg = dlbook.config(smoke=dict(n=1, m=None), cpu=dict(n=2, m=None),\n"
        "    gpu=dict(n=3, m=(1, 2)), small_gpu=dict(n=2))\n"
    )
    assert budget.chapter_config(ch, "gpu") == {"n": 3, "m": (1, 2)}
    assert budget.chapter_config(ch, "gpu", small=True) == {"n": 2, "m": (1, 2)}
    assert budget.chapter_config(ch, "cpu") == {"n": 2, "m": None}
    (tmp_path / "98_none.py").write_text("x = 1\n")
    with pytest.raises(ValueError, match="no dlbook.config"):
        budget.chapter_config(tmp_path / "98_none.py")
