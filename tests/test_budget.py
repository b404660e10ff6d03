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


def test_count_sees_the_flops_and_the_operations():
    layer = nn.Linear(10, 5)
    flops, ops = budget.count(lambda: layer(torch.zeros(3, 10)))
    assert flops == 2 * 3 * 10 * 5
    assert 1 <= ops <= 3  # addmm, and perhaps a transpose of the weight
    cost = budget.train_cost(nn.Linear(10, 5), torch.zeros(4, 10))
    assert cost.flops > 0 and cost.ops > ops  # backward and Adam launch more


def test_seconds_are_flops_over_throughput_plus_launches():
    gpu = budget.Gpu("test", peak=1e12, utilisation=0.5, launch=1e-5)
    work = budget.Work("stage", flops_per_step=1e9, steps=100, ops_per_step=200)
    assert work.flops == 1e11
    assert work.seconds(gpu) == pytest.approx(1e11 / 5e11 + 100 * 200 * 1e-5, rel=1e-12)
    cpu = budget.Work("on the CPU", 0.0, 0, 0, cpu_seconds=12.5)
    assert cpu.seconds(gpu) == cpu.seconds(budget.H100) == 12.5


def test_stage_counts_the_steps_of_every_copy():
    cost = budget.Cost(flops=10.0, ops=7)
    work = budget.stage("s", cost, n=1000, epochs=3, batch=64, copies=2)
    assert work.steps == 2 * 47  # ceil(3000 / 64) per copy
    assert work.flops_per_step == 640.0 and work.ops_per_step == 7


def test_fused_gru_matches_the_products_of_nn_gru():
    gru = budget._FusedGRU(3, 4, length=5, layers=2)
    x = torch.zeros(2, 5, 3)
    fused, _ = budget.count(lambda: gru(x))
    ref, _ = budget.count(lambda: nn.GRU(3, 4, 2, batch_first=True)(x))
    assert fused == ref  # the same matrix products, counted at once
    assert budget._with_rnn_launches(budget.Cost(1.0, 10), gru).ops == 10 + 4 * 5 * 2


def test_every_chapter_has_an_estimate():
    chapters = sorted(
        p.name for p in (budget.ROOT / "chapters").glob("[0-9][0-9]_*.py")
    )
    assert sorted(budget.ESTIMATES) == chapters
    with pytest.raises(ValueError, match="no estimate"):
        budget.estimate("99_nothing.py")


def test_the_committed_budget_says_every_chapter_fits():
    text = (budget.ROOT / "bench" / "budget.md").read_text(encoding="utf-8")
    rows = [ln for ln in text.splitlines() if ln.startswith("| ") and ".py |" in ln]
    assert {r.split(" | ")[0][2:] for r in rows} == set(budget.ESTIMATES)
    assert all(r.endswith("| yes |") for r in rows), [r for r in rows if "yes" not in r]


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
    named = tmp_path / "97_named.py"
    named.write_text(
        "import dlbook\nsizes = dict(n=1)\nsizes.update(m=2)\nother = dict(k=x)\n"
        "cfg = dlbook.config(smoke=sizes, cpu=sizes, gpu=dict(n=3))\n"
    )
    assert budget.chapter_config(named, "cpu") == {"n": 1, "m": 2}
    (tmp_path / "98_none.py").write_text("x = 1\n")
    with pytest.raises(ValueError, match="no dlbook.config"):
        budget.chapter_config(tmp_path / "98_none.py")
