import math

import pytest
import torch

from dlbook import receptive


def test_ring_covariance_is_translation_invariant_and_symmetric():
    c = receptive.ring_covariance(10, 2.0)
    torch.testing.assert_close(c, c.T)
    torch.testing.assert_close(c.diagonal(), torch.ones(10, dtype=torch.float64))
    torch.testing.assert_close(c[0, 3], c[5, 8])
    torch.testing.assert_close(c[0, 9], c[0, 1])  # the ring wraps around
    assert torch.linalg.eigvalsh(c).min() > -1e-8


def test_nlgp_and_matched_gp_share_the_analytic_covariance():
    g = torch.Generator().manual_seed(0)
    target = receptive.nlgp_covariance(12, 2.0, 3.0)
    for sample in (receptive.nlgp, receptive.matched_gp):
        x = sample(100_000, 12, 2.0, 3.0, generator=g).double()
        assert x.shape == (100_000, 12)
        assert (x.T @ x / len(x) - target).abs().max() < 0.02


def test_nlgp_is_non_gaussian_and_gp_is_gaussian():
    g = torch.Generator().manual_seed(1)
    x_nl = receptive.nlgp(50_000, 8, 1.5, 3.0, generator=g)
    x_g = receptive.matched_gp(50_000, 8, 1.5, 3.0, generator=g)
    kurt = lambda x: (x.pow(4).mean() / x.pow(2).mean() ** 2).item()  # noqa: E731
    assert abs(kurt(x_g) - 3) < 0.1
    assert (
        kurt(x_nl) < 2.0
    )  # erf(g z) with large g is close to a sign: light tails, kurtosis near 1
    assert abs(receptive.gp(50_000, 8, 1.5, generator=g).var().item() - 1) < 0.05


def test_ipr_extremes_and_scale_invariance():
    d = 16
    w = torch.stack([torch.ones(d), torch.eye(d)[3], torch.randn(d)])
    v = receptive.ipr(w)
    torch.testing.assert_close(v[:2], torch.tensor([1 / d, 1.0]))
    torch.testing.assert_close(receptive.ipr(5 * w), v)
    assert math.isclose(receptive.ipr(torch.eye(d)[0]).item(), 1.0)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="xi"):
        receptive.ring_covariance(10, 0.0)
    with pytest.raises(ValueError, match="d must"):
        receptive.gp(5, 1, 1.0)
    with pytest.raises(ValueError, match="gain"):
        receptive.nlgp(5, 10, 1.0, -1.0)
    with pytest.raises(ValueError, match="n must"):
        receptive.gp(0, 10, 1.0)
    with pytest.raises(ValueError, match="all-zero"):
        receptive.ipr(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="vector"):
        receptive.ipr(torch.zeros(2, 3, 4))
