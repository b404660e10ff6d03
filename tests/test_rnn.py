import pytest
import torch
from torch import nn

from dlbook.rnn import (
    GRU,
    LSTM,
    RNN,
    GRUCell,
    LSTMCell,
    Recurrent,
    RNNCell,
    copy_from_torch,
)

TORCH = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
OURS = {"rnn": RNN, "gru": GRU, "lstm": LSTM}
SHAPES = [
    (1, 1, 1, 1, 1),
    (3, 7, 5, 4, 1),
    (2, 5, 3, 6, 2),
    (4, 3, 2, 3, 3),
]  # (B, T, D, H, L)


def _pair(kind, B, T, D, H, L, batch_first=True, bias=True, seed=0):
    torch.manual_seed(seed)
    theirs = TORCH[kind](
        D, H, num_layers=L, batch_first=batch_first, bias=bias
    ).double()
    ours = copy_from_torch(
        OURS[kind](D, H, L, batch_first=batch_first, bias=bias).double(), theirs
    )
    return ours, theirs


def _state(kind, L, B, H):
    h0 = torch.randn(L, B, H, dtype=torch.float64)
    return (h0, torch.randn(L, B, H, dtype=torch.float64)) if kind == "lstm" else h0


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_pytorch_outputs_states_and_gradients(kind, shape):
    B, T, D, H, L = shape
    ours, theirs = _pair(kind, *shape)
    x = torch.randn(B, T, D, dtype=torch.float64)
    s0 = _state(kind, L, B, H)
    out1, s1 = ours(x, s0)
    out2, s2 = theirs(x, s0)
    assert out1.shape == (B, T, H)
    torch.testing.assert_close(out1, out2, atol=1e-12, rtol=1e-10)
    for a, b in zip(s1 if kind == "lstm" else (s1,), s2 if kind == "lstm" else (s2,)):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)
    w = torch.randn_like(out1)
    (out1 * w).sum().backward()
    (out2 * w).sum().backward()
    for k, cell in enumerate(ours.cells):
        for name, p in cell.named_parameters():
            torch.testing.assert_close(
                p.grad, getattr(theirs, f"{name}_l{k}").grad, atol=1e-10, rtol=1e-8
            )


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_time_first_layout_and_no_bias_and_zero_state(kind):
    ours, theirs = _pair(kind, 2, 4, 3, 5, 2, batch_first=False, bias=False)
    x = torch.randn(4, 2, 3, dtype=torch.float64)  # (T, B, I)
    out1, _ = ours(x)
    out2, _ = theirs(x)
    assert out1.shape == (4, 2, 5)
    torch.testing.assert_close(out1, out2, atol=1e-12, rtol=1e-10)
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in theirs.parameters()
    )


def test_cells_match_pytorch_cells():
    torch.manual_seed(1)
    x, h, c = torch.randn(4, 3), torch.randn(4, 5), torch.randn(4, 5)
    for ours_cls, theirs_cls in (
        (RNNCell, nn.RNNCell),
        (GRUCell, nn.GRUCell),
        (LSTMCell, nn.LSTMCell),
    ):
        theirs, ours = theirs_cls(3, 5), ours_cls(3, 5)
        ours.load_state_dict(theirs.state_dict())  # same parameter names and shapes
        if ours_cls is LSTMCell:
            for a, b in zip(ours(x, (h, c)), theirs(x, (h, c))):
                torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
        else:
            torch.testing.assert_close(ours(x, h), theirs(x, h), atol=1e-6, rtol=1e-5)


def test_bad_inputs_raise_clear_errors():
    net = GRU(3, 4, 2)
    with pytest.raises(ValueError, match="add a batch dimension"):
        net(torch.randn(5, 3))
    with pytest.raises(ValueError, match="input_size = 3"):
        net(torch.randn(2, 5, 4))
    with pytest.raises(ValueError, match=r"\(L, B, H\) must have shape \(2, 2, 4\)"):
        net(torch.randn(2, 5, 3), torch.randn(1, 2, 4))
    with pytest.raises(TypeError, match="pair"):
        LSTM(3, 4)(torch.randn(2, 5, 3), torch.randn(1, 2, 4))
    with pytest.raises(ValueError, match="kind must be one of"):
        Recurrent("transformer", 3, 4)
    with pytest.raises(ValueError, match="hidden_size must be > 0"):
        RNNCell(3, 0)
    with pytest.raises(ValueError, match="num_layers must be > 0"):
        RNN(3, 4, 0)
    with pytest.raises(ValueError, match="cannot copy a LSTM"):
        copy_from_torch(GRU(3, 4), nn.LSTM(3, 4))
    with pytest.raises(ValueError, match="sizes differ"):
        copy_from_torch(GRU(3, 4), nn.GRU(3, 5))
    with pytest.raises(ValueError, match="bidirectional"):
        copy_from_torch(GRU(3, 4), nn.GRU(3, 4, bidirectional=True))
    with pytest.raises(ValueError, match=r"shape \(\*, 3\)"):
        RNNCell(3, 4)(torch.randn(2, 5), torch.zeros(2, 4))


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_tiny_overfit_learns_to_recall_the_first_input(kind):
    # read 6 steps, of which only the first matters; predict its sign from the last hidden state
    torch.manual_seed(0)
    x = torch.randn(32, 6, 2)
    y = (x[:, 0, 0] > 0).long()
    net, head = OURS[kind](2, 16), nn.Linear(16, 2)
    params = list(net.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=0.03)
    losses = []
    for _ in range(150):
        out, _ = net(x)
        loss = nn.functional.cross_entropy(head(out[:, -1]), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
