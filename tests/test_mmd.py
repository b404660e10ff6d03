import pytest
import torch

from dlbook.mmd import mmd2


def test_mmd_is_small_for_equal_and_large_for_different_distributions():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(500, 2, generator=g), torch.randn(500, 2, generator=g)
    shifted = torch.randn(500, 2, generator=g) + torch.tensor([1.0, 0.0])
    same, diff = mmd2(a, b), mmd2(a, shifted)
    assert abs(same) < 0.01 and diff > 10 * abs(same)
    # a bigger shift gives a bigger discrepancy
    assert mmd2(a, shifted + torch.tensor([1.0, 0.0])) > diff


def test_mmd_matches_a_direct_double_loop():
    x, y = torch.rand(6, 3, dtype=torch.float64), torch.rand(5, 3, dtype=torch.float64)
    k = lambda p, q: torch.exp(-((p - q) ** 2).sum() / (2 * 0.5**2))  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(6) for j in range(6) if i != j) / 30
    yy = sum(k(y[i], y[j]) for i in range(5) for j in range(5) if i != j) / 20
    xy = sum(k(x[i], y[j]) for i in range(6) for j in range(5)) / 30
    assert mmd2(x, y, bandwidths=(0.5,)) == pytest.approx(
        float(xx + yy - 2 * xy), rel=1e-9
    )


def test_mmd_rejects_bad_input():
    with pytest.raises(ValueError, match="same D"):
        mmd2(torch.rand(4, 2), torch.rand(4, 3))
    with pytest.raises(ValueError, match="two samples"):
        mmd2(torch.rand(1, 2), torch.rand(4, 2))
    with pytest.raises(ValueError, match="positive"):
        mmd2(torch.rand(4, 2), torch.rand(4, 2), bandwidths=(0.0,))
