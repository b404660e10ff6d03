import pytest
import torch

from dlbook.mmd import kid, mmd2


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
        float(xx + yy - 2 * xy), rel=1e-12
    )


def test_mmd_rejects_bad_input():
    with pytest.raises(ValueError, match="same D"):
        mmd2(torch.rand(4, 2), torch.rand(4, 3))
    with pytest.raises(ValueError, match="two samples"):
        mmd2(torch.rand(1, 2), torch.rand(4, 2))
    with pytest.raises(ValueError, match="> 0"):
        mmd2(torch.rand(4, 2), torch.rand(4, 2), bandwidths=(0.0,))


def test_kid_matches_a_direct_double_loop():
    g = torch.Generator().manual_seed(1)
    a = torch.rand(7, 4, generator=g, dtype=torch.float64)
    b = torch.rand(5, 4, generator=g, dtype=torch.float64) + 0.3
    k = lambda p, q: (p @ q / 4 + 1) ** 3  # noqa: E731
    aa = sum(k(a[i], a[j]) for i in range(7) for j in range(7) if i != j) / 42
    bb = sum(k(b[i], b[j]) for i in range(5) for j in range(5) if i != j) / 20
    ab = sum(k(a[i], b[j]) for i in range(7) for j in range(5)) / 35
    assert kid(a, b) == pytest.approx(float(aa + bb - 2 * ab), rel=1e-12)


def test_kid_is_unbiased_where_the_frechet_distance_is_not():
    from dlbook.frechet import frechet_distance

    g = torch.Generator().manual_seed(0)
    kids, fds = [], []
    for _ in range(40):  # two samples of one distribution, 30 points in 8-D
        a, b = torch.randn(30, 8, generator=g), torch.randn(30, 8, generator=g)
        kids.append(kid(a, b))
        fds.append(frechet_distance(a, b))
    kids = torch.tensor(kids)
    assert abs(kids.mean()) < 3 * kids.std() / 40**0.5  # mean zero within 3 SE
    assert min(fds) > 0.5  # the Fréchet estimate is biased well above zero
    shifted = kid(torch.randn(30, 8, generator=g), torch.randn(30, 8, generator=g) + 1)
    assert shifted > kids.max()
