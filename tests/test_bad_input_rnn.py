"""Bad input to dlbook.rnn gets a clear TypeError/ValueError, never a silent NaN."""

import numpy as np
import pytest
import torch
from torch import nn

from dlbook import rnn


def test_gru_given_an_lstm_state():
    x, h = torch.randn(2, 3), torch.zeros(2, 4)
    with pytest.raises(TypeError, match=r"an LSTM's \(h, c\)"):
        rnn.GRUCell(3, 4)(x, (h, h))
    with pytest.raises(TypeError, match=r"pass h0 alone"):
        rnn.GRU(3, 4)(torch.randn(2, 5, 3), (torch.zeros(1, 2, 4),) * 2)


def test_lstm_given_one_tensor():
    with pytest.raises(TypeError, match=r"pair \(h, c\)"):
        rnn.LSTMCell(3, 4)(torch.randn(2, 3), torch.zeros(2, 4))
    with pytest.raises(TypeError, match="pair"):
        rnn.LSTM(3, 4)(torch.randn(2, 5, 3), torch.zeros(1, 2, 4))


def test_empty_sequence_and_wrong_types():
    with pytest.raises(ValueError, match="empty"):
        rnn.GRU(3, 4)(torch.randn(2, 0, 3))
    with pytest.raises(TypeError, match="torch.Tensor"):
        rnn.RNN(3, 4)(np.zeros((2, 5, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="floating-point"):
        rnn.RNN(3, 4)(torch.zeros(2, 5, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="floating-point"):
        rnn.RNNCell(3, 4)(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 4))


def test_wrong_shapes_and_sizes():
    cell = rnn.LSTMCell(3, 4)
    with pytest.raises(ValueError, match=r"hidden state must have shape \(2, 4\)"):
        cell(torch.randn(2, 3), (torch.zeros(2, 4), torch.zeros(2, 5)))
    with pytest.raises(ValueError, match="2 dimensions"):
        cell(torch.randn(2, 1, 3), (torch.zeros(2, 4), torch.zeros(2, 4)))
    with pytest.raises(TypeError, match="integer"):
        rnn.GRUCell(3.0, 4)
    with pytest.raises(ValueError, match="kind must be one of"):
        rnn.Recurrent(nn.GRUCell, 3, 4)
    with pytest.raises(TypeError, match="Recurrent"):
        rnn.copy_from_torch(nn.GRU(3, 4), nn.GRU(3, 4))
    with pytest.raises(ValueError, match="tanh"):
        rnn.copy_from_torch(rnn.RNN(3, 4), nn.RNN(3, 4, nonlinearity="relu"))


def test_recurrent_runs_a_given_cell_class():
    class Doubled(rnn.RNNCell):
        def forward(self, x, h):
            return 2 * super().forward(x, h)

    torch.manual_seed(0)
    out, _ = rnn.Recurrent(Doubled, 3, 4)(torch.randn(2, 5, 3))
    ref, _ = rnn.RNN(3, 4)(torch.randn(2, 5, 3))
    assert out.shape == ref.shape and out.abs().max() > 1.0  # tanh alone stays below 1
