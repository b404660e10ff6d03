"""Recurrent networks written out once (chapter 9): RNN, GRU and LSTM cells and stacks.

Each cell updates a hidden state from one time step of input; :class:`Recurrent`
runs a cell over a whole sequence and stacks layers. The parameters have the
names and shapes of PyTorch's ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` (gates
stacked along the first dimension in PyTorch's order), so
:func:`copy_from_torch` can load a PyTorch module's weights and the two can be
compared number for number.

Shapes: ``B`` batch, ``T`` time steps, ``I`` input features, ``H`` hidden
units, ``L`` layers.

- :class:`Cell`: the parameters every cell shares, its checks and zero state;
- :class:`RNNCell`: ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)``;
- :class:`GRUCell`: reset gate ``r``, update gate ``z``, candidate ``n``
  (order r, z, n);
- :class:`LSTMCell`: input ``i``, forget ``f``, cell candidate ``g``, output
  ``o`` (order i, f, g, o);
- :class:`Recurrent` with the shorthands :func:`RNN`, :func:`GRU`, :func:`LSTM`;
- :func:`copy_from_torch`, which loads a PyTorch module's weights.

The three cells are written out in chapter 9 (cells tagged ``dlbook:rnn``);
the chapter is their source.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dlbook import check

__all__ = [
    "GATES",
    "Cell",
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


class Cell(nn.Module):
    """What every cell shares: ``weight_ih (G*H, I)``, ``weight_hh (G*H, H)``, biases.

    A subclass sets ``kind`` (``"rnn"``, ``"gru"`` or ``"lstm"``, which fixes the
    number ``G`` of gate blocks) and writes ``forward(x, state)``.
    """

    kind = "rnn"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        check.positive(input_size, "input_size", integer=True)
        check.positive(hidden_size, "hidden_size", integer=True)
        self.input_size, self.hidden_size = input_size, hidden_size
        g = GATES[self.kind] * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(g, input_size))
        self.weight_hh = nn.Parameter(torch.empty(g, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(g)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(g)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's initialisation: every parameter uniform in ``±1/sqrt(H)``."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def affine(
        self, x: torch.Tensor, h: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``x W_ih^T + b_ih`` and ``h W_hh^T + b_hh``, each ``(B, G*H)``."""
        gi, gh = x @ self.weight_ih.T, h @ self.weight_hh.T
        if self.bias_ih is not None:
            gi, gh = gi + self.bias_ih, gh + self.bias_hh
        return gi, gh

    def check(self, x: torch.Tensor, state: State) -> State:
        """Check ``x (B, I)`` and the state (LSTM: a pair ``(h, c)``); return it."""
        name = type(self).__name__
        check.tensor(x, "x", ndim=2, floating=True)
        check.shape(x, f"{name}'s input x", (None, self.input_size))
        if self.kind == "lstm":
            if not (isinstance(state, tuple) and len(state) == 2):
                raise TypeError(
                    f"{name} needs its state as a pair (h, c), each of shape (B, H), "
                    f"got {type(state).__name__}"
                )
            parts = state
        else:
            if isinstance(state, tuple):
                raise TypeError(
                    f"{name}'s state is one tensor h (B, H), got a tuple of "
                    f"{len(state)} (an LSTM's (h, c)?); pass h alone"
                )
            parts = (state,)
        for part in parts:
            check.tensor(part, "the hidden state", ndim=2)
            check.shape(part, "the hidden state", (x.shape[0], self.hidden_size))
        return state

    def zero_state(self, batch: int, like: torch.Tensor) -> State:
        """Zeros for ``batch`` sequences on ``like``'s device and dtype (LSTM: a
        pair)."""
        h = like.new_zeros(batch, self.hidden_size)
        return (h, h.clone()) if self.kind == "lstm" else h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"


class RNNCell(Cell):
    """Elman's cell: h' = tanh(W_ih x + b_ih + W_hh h + b_hh)."""

    kind = "rnn"  # one block of H rows in each weight matrix

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        h = self.check(x, h)  # x (B, I), h (B, H)
        gi, gh = self.affine(x, h)  # (B, H) each
        return torch.tanh(gi + gh)  # (B, H)


class GRUCell(Cell):
    """The GRU of Cho et al. (2014) in PyTorch's form; gate blocks r, z, n."""

    kind = "gru"

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        h = self.check(x, h)  # x (B, I), h (B, H)
        gi, gh = self.affine(x, h)  # (B, 3H) each
        i_r, i_z, i_n = gi.chunk(3, dim=1)  # (B, H) each
        h_r, h_z, h_n = gh.chunk(3, dim=1)
        r = torch.sigmoid(i_r + h_r)  # reset gate
        z = torch.sigmoid(i_z + h_z)  # update gate: 1 keeps the old state
        n = torch.tanh(i_n + r * h_n)  # candidate state
        return (1 - z) * n + z * h  # (B, H)


class LSTMCell(Cell):
    """The LSTM with a forget gate; gate blocks i, f, g, o; the state is (h, c)."""

    kind = "lstm"

    def forward(self, x: torch.Tensor, state: tuple) -> tuple:
        h, c = self.check(x, state)  # x (B, I); h, c (B, H)
        gi, gh = self.affine(x, h)  # (B, 4H) each
        i, f, g, o = (gi + gh).chunk(4, dim=1)  # (B, H) each
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # the cell
        h = torch.sigmoid(o) * torch.tanh(c)  # (B, H)
        return h, c


_CELLS: dict[str, type[Cell]] = {"rnn": RNNCell, "gru": GRUCell, "lstm": LSTMCell}


class Recurrent(nn.Module):
    """A stack of recurrent layers run over whole sequences, with ``nn.RNN``'s
    interface.

    Args:
        kind: ``"rnn"``, ``"gru"`` or ``"lstm"``, or a :class:`Cell` subclass
            (e.g. one written out in a chapter) to run instead of the package's.
        input_size: ``I``, features per time step.
        hidden_size: ``H``.
        num_layers: ``L``; layer ``k > 0`` reads the hidden states of layer ``k - 1``.
        bias: learn bias vectors.
        batch_first: inputs and outputs are ``(B, T, .)`` (else ``(T, B, .)``).

    ``forward(x, state=None)`` takes ``x (B, T, I)`` and an optional initial
    state ``h0 (L, B, H)`` (LSTM: a pair ``(h0, c0)``), and returns
    ``out (B, T, H)``, the last layer's hidden state at every step, and the
    final state ``h_T (L, B, H)`` (LSTM: ``(h_T, c_T)``).
    """

    def __init__(
        self,
        kind: str | type[Cell],
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        bias: bool = True,
        batch_first: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(kind, type) and issubclass(kind, Cell):
            cell_cls, kind = kind, kind.kind
        elif kind in _CELLS:
            cell_cls = _CELLS[kind]
        else:
            raise ValueError(
                f"kind must be one of {sorted(_CELLS)} or a Cell subclass, got {kind!r}"
            )
        check.positive(num_layers, "num_layers", integer=True)
        self.kind, self.input_size, self.hidden_size = kind, input_size, hidden_size
        self.num_layers, self.batch_first = num_layers, batch_first
        self.cells = nn.ModuleList(
            cell_cls(input_size if k == 0 else hidden_size, hidden_size, bias)
            for k in range(num_layers)
        )

    def _initial_state(self, state: State | None, x: torch.Tensor) -> list[State]:
        """Split ``state`` (L, B, H) into one state per layer, or make zeros."""
        B = x.shape[0]
        if state is None:
            return [cell.zero_state(B, x) for cell in self.cells]
        if self.kind == "lstm" and not (isinstance(state, tuple) and len(state) == 2):
            raise TypeError(
                "an LSTM's initial state is a pair (h0, c0), each of shape (L, B, H), "
                f"got {type(state).__name__}"
            )
        if self.kind != "lstm" and isinstance(state, tuple):
            raise TypeError(
                f"a {self.kind.upper()}'s initial state is one tensor h0 (L, B, H), "
                "got "
                f"a tuple of {len(state)} (an LSTM's (h0, c0)?); pass h0 alone"
            )
        parts = state if self.kind == "lstm" else (state,)
        for p in parts:
            check.tensor(p, "the initial state")
            check.shape(
                p, "the initial state (L, B, H)", (self.num_layers, B, self.hidden_size)
            )
        if self.kind == "lstm":
            return [(state[0][k], state[1][k]) for k in range(self.num_layers)]
        return [state[k] for k in range(self.num_layers)]

    def forward(
        self, x: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        check.tensor(x, "x", floating=True)
        if x.ndim != 3:
            layout = "B, T" if self.batch_first else "T, B"
            raise ValueError(
                f"expected a batch of sequences of 3 dimensions ({layout}, I), got "
                f"shape {tuple(x.shape)}; add a batch dimension with x[None]"
            )
        if not self.batch_first:
            x = x.transpose(0, 1)
        if x.shape[2] != self.input_size:
            raise ValueError(
                f"the input has {x.shape[2]} features per step, the network expects "
                f"input_size = {self.input_size}"
            )
        if x.shape[1] == 0:
            raise ValueError("the sequences are empty (T = 0); give at least one step")
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
        return (
            f"kind={self.kind!r}, num_layers={self.num_layers}, "
            f"batch_first={self.batch_first}"
        )


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
    """Copy a PyTorch ``nn.RNN``/``nn.GRU``/``nn.LSTM``'s weights into ``ours``.

    Both must have the same kind and sizes. PyTorch names layer ``k``'s
    parameters ``weight_ih_l{k}`` etc.; ours are ``cells[k].weight_ih``. Both
    stack the gate blocks in the same order.

    Returns:
        ``ours``, for chaining.
    """
    if not isinstance(ours, Recurrent):
        raise TypeError(
            f"ours must be a dlbook.rnn.Recurrent, got {type(ours).__name__}"
        )
    kind = next((k for cls, k in _TORCH_KIND.items() if type(theirs) is cls), None)
    if kind != ours.kind:
        raise ValueError(
            f"cannot copy a {type(theirs).__name__} into a {ours.kind!r} network; "
            f"build ours with kind={kind!r}"
        )
    if theirs.bidirectional or getattr(theirs, "proj_size", 0):
        raise ValueError(
            "bidirectional and projected PyTorch modules have no counterpart here"
        )
    if getattr(theirs, "nonlinearity", "tanh") != "tanh":
        raise ValueError("only the tanh nn.RNN matches RNNCell")
    has_bias = ours.cells[0].bias_ih is not None
    sizes = (theirs.input_size, theirs.hidden_size, theirs.num_layers, theirs.bias)
    mine = (ours.input_size, ours.hidden_size, ours.num_layers, has_bias)
    if sizes != mine:
        raise ValueError(
            f"sizes differ: PyTorch's (input, hidden, layers, bias) = {sizes}, "
            f"ours = {mine}"
        )
    for k, cell in enumerate(ours.cells):
        for name, p in cell.named_parameters():
            p.copy_(getattr(theirs, f"{name}_l{k}"))
    return ours
