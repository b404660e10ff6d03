"""Bad input to dlbook.mmd gets a clear TypeError or ValueError."""

import pytest
import torch

from dlbook.mmd import kid, mmd2


@pytest.mark.parametrize("fn", [mmd2, kid])
def test_two_sample_checks(fn):
    with pytest.raises(TypeError, match="torch.Tensor"):
        fn([[0.0, 1.0]], torch.rand(4, 2))
    with pytest.raises(ValueError, match="2 dimensions"):
        fn(torch.rand(4), torch.rand(4, 1))
    with pytest.raises(TypeError, match="floating"):
        fn(torch.ones(4, 2, dtype=torch.long), torch.rand(4, 2))
    with pytest.raises(ValueError, match="same D"):
        fn(torch.rand(4, 2), torch.rand(4, 3))
    with pytest.raises(ValueError, match="two samples"):
        fn(torch.rand(4, 2), torch.rand(1, 2))
    with pytest.raises(ValueError, match="finite"):
        fn(torch.tensor([[0.0], [float("nan")]]), torch.rand(3, 1))


def test_bandwidths():
    x = torch.rand(4, 2)
    with pytest.raises(ValueError, match="empty"):
        mmd2(x, x, bandwidths=())
    with pytest.raises(ValueError, match="> 0"):
        mmd2(x, x, bandwidths=(1.0, -0.5))
    with pytest.raises(TypeError, match="number"):
        mmd2(x, x, bandwidths=("wide",))
