"""Recurrent networks written out once (chapter 9): RNN, GRU and LSTM cells and stacks.

Each cell updates a hidden state from one time step of input; :class:`Recurrent`
runs a cell over a whole sequence and stacks layers. The parameters have the
names and shapes of PyTorch's ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` (gates
stacked along the first dimension in PyTorch's order), so
:func:`copy_from_torch` can load a PyTorch module's weights and the two can be
compared number for number.

Shapes: ``B`` batch, ``T`` time steps, ``I`` input features, ``H`` hidden
units, ``L`` layers.

- :class:`RNNCell`: ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)``;
- :class:`GRUCell`: reset gate ``r``, update gate ``z``, candidate ``n`` (order r, z, n);
- :class:`LSTMCell`: input ``i``, forget ``f``, cell candidate ``g``, output ``o`` (order i, f, g, o);
- :class:`Recurrent` with the shorthands :func:`RNN`, :func:`GRU`, :func:`LSTM`;
- :func:`copy_from_torch`, which loads a PyTorch module's weights.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "GATES",
    "RNNCell",
    "GRUCell",
    "LSTMCell",
    "Recurrent",
    "RNN",
    "GRU",
    "LSTM",
    "copy_from_torch",
]

GATES: dict[str, int] = {"rnn": 1, "gru": 3, "lstm": 4}
"""How many H-row blocks each kind of cell stacks in its weight matrices."""

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class _Cell(nn.Module):
    """Shared parameters of the cells: ``weight_ih (G*H, I)``, ``weight_hh (G*H, H)`` and two biases ``(G*H,)``."""

    kind = "rnn"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.input_size, self.hidden_size = input_size, hidden_size
        g = GATES[self.kind] * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(g, input_size))
        self.weight_hh = nn.Parameter(torch.empty(g, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(g)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(g)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's initialisation: every parameter uniform in ``(-1/sqrt(H), 1/sqrt(H))``."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _affine(
        self, x: torch.Tensor, h: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The input and hidden pre-activations ``x W_ih^T + b_ih`` and ``h W_hh^T + b_hh``, each ``(B, G*H)``."""
        gi, gh = x @ self.weight_ih.T, h @ self.weight_hh.T
        if self.bias_ih is not None:
            gi, gh = gi + self.bias_ih, gh + self.bias_hh
        return gi, gh

    def _check(self, x: torch.Tensor, h: torch.Tensor) -> None:
        if x.ndim != 2 or x.shape[1] != self.input_size:
            raise ValueError(
                f"{type(self).__name__} expects x of shape (B, {self.input_size}), "
                f"got {tuple(x.shape)}"
            )
        if h.shape != (x.shape[0], self.hidden_size):
            raise ValueError(
                f"the hidden state must have shape (B, H) = ({x.shape[0]}, {self.hidden_size}), "
                f"got {tuple(h.shape)}"
            )

    def zero_state(self, batch: int, like: torch.Tensor) -> State:
        """The initial state of zeros for ``batch`` sequences, on ``like``'s device and dtype."""
        return like.new_zeros(batch, self.hidden_size)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"


class RNNCell(_Cell):
    """Elman's cell: ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)``.

    Args:
        input_size: ``I``.
        hidden_size: ``H``.
        bias: learn the two bias vectors.

    Call it with ``x (B, I)`` and ``h (B, H)``; it returns ``h' (B, H)``.
    """

    kind = "rnn"

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        self._check(x, h)
        gi, gh = self._affine(x, h)  # (B, H) each
        return torch.tanh(gi + gh)


class GRUCell(_Cell):
    """The gated recurrent unit of Cho et al. (2014), in PyTorch's form.

    ``r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)`` (reset),
    ``z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)`` (update),
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`` (candidate),
    ``h' = (1 - z) * n + z * h``. The weights stack the blocks in the order r, z, n.

    Call it with ``x (B, I)`` and ``h (B, H)``; it returns ``h' (B, H)``.
    """

    kind = "gru"

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        self._check(x, h)
        gi, gh = self._affine(x, h)  # (B, 3H) each
        i_r, i_z, i_n = gi.chunk(3, dim=1)
        h_r, h_z, h_n = gh.chunk(3, dim=1)
        r = torch.sigmoid(i_r + h_r)  # (B, H) reset gate
        z = torch.sigmoid(i_z + h_z)  # (B, H) update gate: 1 keeps the old state
        n = torch.tanh(i_n + r * h_n)  # (B, H) candidate state
        return (1 - z) * n + z * h


class LSTMCell(_Cell):
    """The long short-term memory cell (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000).

    ``i, f, o = sigmoid(...)``, ``g = tanh(...)`` from ``W_ih x + b_ih + W_hh h + b_hh``
    (blocks in the order i, f, g, o); ``c' = f * c + i * g``; ``h' = o * tanh(c')``.

    Call it with ``x (B, I)`` and the state ``(h, c)``, both ``(B, H)``; it returns ``(h', c')``.
    """

    kind = "lstm"

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(state, tuple) or len(state) != 2:
            raise ValueError(
                "LSTMCell needs the state as a pair (h, c), each of shape (B, H)"
            )
        h, c = state
        self._check(x, h)
        if c.shape != h.shape:
            raise ValueError(
                f"the cell state c must have the shape of h, {tuple(h.shape)}; got {tuple(c.shape)}"
            )
        gi, gh = self._affine(x, h)  # (B, 4H) each
        i, f, g, o = (gi + gh).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(
            g
        )  # (B, H) the cell state
        h = torch.sigmoid(o) * torch.tanh(c)  # (B, H)
        return h, c

    def zero_state(self, batch: int, like: torch.Tensor) -> State:
        return like.new_zeros(batch, self.hidden_size), like.new_zeros(
            batch, self.hidden_size
        )


_CELLS: dict[str, type[_Cell]] = {"rnn": RNNCell, "gru": GRUCell, "lstm": LSTMCell}


class Recurrent(nn.Module):
    """A stack of recurrent layers run over whole sequences, with ``nn.RNN``'s interface.

    Args:
        kind: ``"rnn"``, ``"gru"`` or ``"lstm"``.
        input_size: ``I``, features per time step.
        hidden_size: ``H``.
        num_layers: ``L``; layer ``k > 0`` reads the hidden states of layer ``k - 1``.
        bias: learn bias vectors.
        batch_first: inputs and outputs are ``(B, T, .)`` (else ``(T, B, .)``).

    ``forward(x, state=None)`` takes ``x (B, T, I)`` and an optional initial
    state ``h0 (L, B, H)`` (LSTM: a pair ``(h0, c0)``), and returns ``out (B, T, H)``,
    the last layer's hidden state at every step, and the final state ``h_T (L, B, H)``
    (LSTM: ``(h_T, c_T)``).
    """

    def __init__(
        self,
        kind: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        bias: bool = True,
        batch_first: bool = True,
    ) -> None:
        super().__init__()
        if kind not in _CELLS:
            raise ValueError(f"kind must be one of {sorted(_CELLS)}, got {kind!r}")
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers must be a positive int, got {num_layers!r}")
        self.kind, self.input_size, self.hidden_size = kind, input_size, hidden_size
        self.num_layers, self.batch_first = num_layers, batch_first
        self.cells = nn.ModuleList(
            _CELLS[kind](input_size if k == 0 else hidden_size, hidden_size, bias)
            for k in range(num_layers)
        )

    def _initial_state(self, state: State | None, x: torch.Tensor) -> list[State]:
        """Split ``state`` (L, B, H) into one state per layer, or make zeros."""
        B = x.shape[0]
        if state is None:
            return [cell.zero_state(B, x) for cell in self.cells]
        parts = state if self.kind == "lstm" else (state,)
        if self.kind == "lstm" and not (isinstance(state, tuple) and len(state) == 2):
            raise ValueError(
                "an LSTM's initial state is a pair (h0, c0), each of shape (L, B, H)"
            )
        want = (self.num_layers, B, self.hidden_size)
        for p in parts:
            if p.shape != want:
                raise ValueError(
                    f"the initial state must have shape (L, B, H) = {want}, got {tuple(p.shape)}"
                )
        if self.kind == "lstm":
            return [(state[0][k], state[1][k]) for k in range(self.num_layers)]
        return [state[k] for k in range(self.num_layers)]

    def forward(
        self, x: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        if x.ndim != 3:
            raise ValueError(
                f"expected a batch of sequences of 3 dimensions ({'B, T' if self.batch_first else 'T, B'}"
                f", I), got shape {tuple(x.shape)}; add a batch dimension with x[None]"
            )
        if not self.batch_first:
            x = x.transpose(0, 1)
        if x.shape[2] != self.input_size:
            raise ValueError(
                f"the input has {x.shape[2]} features per step, the network expects "
                f"input_size = {self.input_size}"
            )
        states = self._initial_state(state, x)
        layer_in = x  # (B, T, I)
        for k, cell in enumerate(self.cells):
            s, outs = states[k], []
            for t in range(layer_in.shape[1]):  # the recurrence: one step at a time
                s = cell(layer_in[:, t], s)
                outs.append(s[0] if self.kind == "lstm" else s)  # (B, H)
            states[k] = s
            layer_in = torch.stack(outs, dim=1)  # (B, T, H): the next layer's input
        out = layer_in if self.batch_first else layer_in.transpose(0, 1)
        if self.kind == "lstm":
            return out, (
                torch.stack([s[0] for s in states]),
                torch.stack([s[1] for s in states]),
            )
        return out, torch.stack(states)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, num_layers={self.num_layers}, batch_first={self.batch_first}"


def RNN(input_size: int, hidden_size: int, num_layers: int = 1, **kwargs) -> Recurrent:
    """A tanh RNN stack: ``Recurrent("rnn", ...)``."""
    return Recurrent("rnn", input_size, hidden_size, num_layers, **kwargs)


def GRU(input_size: int, hidden_size: int, num_layers: int = 1, **kwargs) -> Recurrent:
    """A GRU stack: ``Recurrent("gru", ...)``."""
    return Recurrent("gru", input_size, hidden_size, num_layers, **kwargs)


def LSTM(input_size: int, hidden_size: int, num_layers: int = 1, **kwargs) -> Recurrent:
    """An LSTM stack: ``Recurrent("lstm", ...)``."""
    return Recurrent("lstm", input_size, hidden_size, num_layers, **kwargs)


_TORCH_KIND = {nn.RNN: "rnn", nn.GRU: "gru", nn.LSTM: "lstm"}


@torch.no_grad()
def copy_from_torch(ours: Recurrent, theirs: nn.RNN | nn.GRU | nn.LSTM) -> Recurrent:
    """Copy the weights of a PyTorch ``nn.RNN``/``nn.GRU``/``nn.LSTM`` into ``ours`` (same kind and sizes).

    PyTorch names layer ``k``'s parameters ``weight_ih_l{k}`` etc.; ours are
    ``cells[k].weight_ih``. Both stack the gate blocks in the same order.

    Returns:
        ``ours``, for chaining.
    """
    kind = next((k for cls, k in _TORCH_KIND.items() if type(theirs) is cls), None)
    if kind != ours.kind:
        raise ValueError(
            f"cannot copy a {type(theirs).__name__} into a {ours.kind!r} network; build ours with "
            f"kind={kind!r}"
        )
    if theirs.bidirectional or getattr(theirs, "proj_size", 0):
        raise ValueError(
            "bidirectional and projected PyTorch modules have no counterpart here"
        )
    if getattr(theirs, "nonlinearity", "tanh") != "tanh":
        raise ValueError("only the tanh nn.RNN matches RNNCell")
    sizes = (theirs.input_size, theirs.hidden_size, theirs.num_layers, theirs.bias)
    if sizes != (
        ours.input_size,
        ours.hidden_size,
        ours.num_layers,
        ours.cells[0].bias_ih is not None,
    ):
        raise ValueError(
            f"sizes differ: PyTorch's (input, hidden, layers, bias) = {sizes}, ours = "
            f"{(ours.input_size, ours.hidden_size, ours.num_layers, ours.cells[0].bias_ih is not None)}"
        )
    for k, cell in enumerate(ours.cells):
        for name, p in cell.named_parameters():
            p.copy_(getattr(theirs, f"{name}_l{k}"))
    return ours
