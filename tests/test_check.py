import numpy as np
import pytest
import torch

from dlbook import check


def test_tensor_checks():
    x = torch.zeros(2, 3)
    assert check.tensor(x, "x", ndim=2, floating=True) is x
    with pytest.raises(TypeError, match="torch.as_tensor"):
        check.tensor(np.zeros(3), "x")
    with pytest.raises(ValueError, match="3 dimensions"):
        check.tensor(x, "x", ndim=3)
    with pytest.raises(TypeError, match="floating"):
        check.tensor(torch.zeros(2, dtype=torch.long), "x", floating=True)
    with pytest.raises(TypeError, match="integers"):
        check.tensor(x, "y", integer=True)


def test_shape_and_numbers():
    check.shape(torch.zeros(2, 3), "x", (None, 3))
    with pytest.raises(ValueError, match=r"\(\*, 4\)"):
        check.shape(torch.zeros(2, 3), "x", (None, 4))
    assert check.positive(0.1, "lr") == 0.1
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            check.positive(bad, "lr")
    with pytest.raises(TypeError):
        check.positive("1", "lr")
    with pytest.raises(TypeError):
        check.positive(1.5, "n", integer=True)
    assert check.probability(1.0, "p") == 1.0
    with pytest.raises(ValueError, match="< 1.0"):
        check.probability(1.0, "p", high_open=True)
    with pytest.raises(ValueError, match="empty"):
        check.nonempty([], "xs")
