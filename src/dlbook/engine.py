"""A scalar reverse-mode automatic differentiation engine (chapter 2).

Every :class:`Value` holds one number, the nodes it was computed from
(its *parents*) and the local partial derivatives of itself with respect to
each parent. Calling :meth:`Value.backward` on a result visits the graph in
reverse topological order and applies the chain rule

    grad(parent) += grad(node) * d node / d parent,

which is all that backpropagation is. :class:`Neuron`, :class:`Layer` and
:class:`MLP` build a small neural network out of such scalars.

The module needs only the standard library; :meth:`MLP.to_torch` imports
PyTorch when it is called.
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Sequence
from typing import Any

Number = int | float


def _check_number(x: Any, what: str) -> float:
    """Return ``x`` as a float, or raise a TypeError that says what was expected."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        hint = " (a tensor? pass tensor.item())" if hasattr(x, "item") else ""
        raise TypeError(
            f"{what} must be a real number (int or float), got {type(x).__name__} {x!r}{hint}"
        )
    return float(x)


def _constant(x: Any) -> float:
    return x if type(x) is float else _check_number(x, "the other operand")


class Value:
    """One scalar node of a computation graph.

    Args:
        data: the number this node holds.
        parents: the nodes it was computed from (empty for an input or a parameter).
        local_grads: ``d self / d parent`` for each parent, evaluated at the current values.
        op: a short name of the operation, used when printing or drawing the graph.
        label: an optional name, e.g. ``"a"``.

    Attributes:
        grad: ``d root / d self`` after ``root.backward()``; it accumulates across
            calls on leaves (nodes without parents), exactly like PyTorch's ``.grad``.
    """

    __slots__ = ("data", "grad", "parents", "local_grads", "op", "label")

    def __init__(
        self,
        data: Number,
        parents: Sequence[Value] = (),
        local_grads: Sequence[float] = (),
        op: str = "",
        label: str = "",
    ) -> None:
        self.data = (
            data if type(data) is float else _check_number(data, "Value(data)")
        )  # fast path for floats
        if len(parents) != len(local_grads):
            raise ValueError(
                f"need one local gradient per parent: {len(parents)} parents, "
                f"{len(local_grads)} local gradients"
            )
        self.parents = parents if type(parents) is tuple else tuple(parents)
        self.local_grads = (
            local_grads
            if type(local_grads) is tuple
            else tuple(map(float, local_grads))
        )
        self.op = op
        self.label = label
        self.grad = 0.0

    def __repr__(self) -> str:
        name = f"{self.label}=" if self.label else ""
        return f"Value({name}{self.data:.6g}, grad={self.grad:.6g})"

    # ----- binary operations: the value, and the partial derivative w.r.t. each input.
    # A plain number (a constant) becomes no node: nothing needs its gradient.
    def __add__(self, other: Value | Number) -> Value:
        if isinstance(other, Value):
            return Value(self.data + other.data, (self, other), (1.0, 1.0), "+")
        return Value(self.data + _constant(other), (self,), (1.0,), "+")

    def __mul__(self, other: Value | Number) -> Value:
        if isinstance(other, Value):  # d(xy)/dx = y, d(xy)/dy = x
            return Value(
                self.data * other.data, (self, other), (other.data, self.data), "*"
            )
        c = _constant(other)  # d(cx)/dx = c
        return Value(self.data * c, (self,), (c,), "*")

    def __truediv__(self, other: Value | Number) -> Value:
        y = other.data if isinstance(other, Value) else _constant(other)
        if y == 0.0:
            raise ZeroDivisionError(f"division of {self.data!r} by 0")
        if isinstance(other, Value):  # d(x/y)/dx = 1/y, d(x/y)/dy = -x/y^2
            return Value(
                self.data / y, (self, other), (1.0 / y, -self.data / y**2), "/"
            )
        return Value(self.data / y, (self,), (1.0 / y,), "/")

    def __pow__(self, exponent: Number) -> Value:
        if isinstance(exponent, Value):
            raise TypeError(
                "x ** y needs a constant exponent (int or float); "
                "for a Value exponent write (y * x.log()).exp()"
            )
        p = _check_number(exponent, "the exponent")
        x = self.data
        if x < 0 and not p.is_integer():
            raise ValueError(
                f"a negative base ({x}) has no real power {p}; only integer exponents work there"
            )
        if x == 0 and p < 0:
            raise ZeroDivisionError(f"0 ** {p} is undefined")
        # d(x^p)/dx = p x^(p-1); infinite at x = 0 when 0 < p < 1, as in PyTorch
        slope = p * x ** (p - 1) if (x != 0 or p >= 1) else math.inf
        return Value(x**p, (self,), (slope,), f"**{p:g}")

    def __neg__(self) -> Value:
        return Value(-self.data, (self,), (-1.0,), "neg")

    def __sub__(self, other: Value | Number) -> Value:
        if isinstance(other, Value):
            return Value(self.data - other.data, (self, other), (1.0, -1.0), "-")
        return Value(self.data - _constant(other), (self,), (1.0,), "-")

    def __radd__(self, other: Number) -> Value:  # 2 + x
        return self + other

    def __rmul__(self, other: Number) -> Value:  # 2 * x
        return self * other

    def __rsub__(self, other: Number) -> Value:  # 2 - x
        return Value(_constant(other) - self.data, (self,), (-1.0,), "-")

    def __rtruediv__(self, other: Number) -> Value:  # 2 / x
        if self.data == 0.0:
            raise ZeroDivisionError(f"division of {other!r} by a Value holding 0")
        c = _constant(other)
        return Value(c / self.data, (self,), (-c / self.data**2,), "/")

    # ----- unary functions: value, and its derivative at the input
    def exp(self) -> Value:
        try:
            e = math.exp(self.data)
        except OverflowError:
            raise OverflowError(
                f"exp({self.data}) overflows a float; rescale the input"
            ) from None
        return Value(e, (self,), (e,), "exp")  # (e^x)' = e^x

    def log(self) -> Value:
        if self.data <= 0:
            raise ValueError(f"log needs a positive input, got {self.data}")
        return Value(
            math.log(self.data), (self,), (1.0 / self.data,), "log"
        )  # (log x)' = 1/x

    def sqrt(self) -> Value:
        if self.data < 0:
            raise ValueError(f"sqrt needs a non-negative input, got {self.data}")
        s = math.sqrt(self.data)
        return Value(
            s, (self,), (0.5 / s if s > 0 else math.inf,), "sqrt"
        )  # (sqrt x)' = 1 / (2 sqrt x)

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        return Value(t, (self,), (1.0 - t * t,), "tanh")  # tanh' = 1 - tanh^2

    def sigmoid(self) -> Value:
        x = self.data  # two forms so that exp never overflows
        s = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
        return Value(
            s, (self,), (s * (1.0 - s),), "sigmoid"
        )  # sigma' = sigma (1 - sigma)

    def relu(self) -> Value:
        x = self.data
        return Value(
            max(x, 0.0), (self,), (1.0 if x > 0 else 0.0,), "relu"
        )  # slope 0 at 0, as in PyTorch

    def sin(self) -> Value:
        return Value(math.sin(self.data), (self,), (math.cos(self.data),), "sin")

    def cos(self) -> Value:
        return Value(math.cos(self.data), (self,), (-math.sin(self.data),), "cos")

    # ----- the backward pass
    def backward(self, grad: float = 1.0) -> None:
        """Fill ``.grad`` of every node this one depends on with ``d self / d node``.

        Gradients of leaves (inputs, parameters) *accumulate* across calls, as in
        PyTorch: set them to zero before the next backward pass (see
        :meth:`MLP.zero_grad`). Intermediate nodes are reset on every call.

        Args:
            grad: the seed ``d loss / d self``; 1 for the loss itself.
        """
        order = topological_order(self)
        for node in order:
            if node.parents:
                node.grad = 0.0
        self.grad += _check_number(grad, "the seed gradient")
        for node in reversed(order):  # outputs before inputs
            for parent, local in zip(node.parents, node.local_grads):
                parent.grad += (
                    node.grad * local
                )  # the chain rule, summed over every use


def topological_order(root: Value) -> list[Value]:
    """All nodes ``root`` depends on, each after its parents (``root`` last).

    An iterative depth-first search, so that graphs deeper than Python's
    recursion limit (a chain of 10,000 operations) work too.
    """
    order: list[Value] = []
    seen: set[Value] = set()
    stack: list[tuple[Value, bool]] = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)  # all of its parents are already in `order`
        elif node not in seen:
            seen.add(node)
            stack.append((node, True))  # revisit it once its parents are done
            stack.extend((p, False) for p in node.parents if p not in seen)
    return order


class Neuron:
    """One unit: ``activation(w . x + b)`` with ``len(w) == n_in``.

    Args:
        n_in: number of inputs.
        activation: ``"tanh"``, ``"relu"``, ``"sigmoid"`` or ``"linear"``.
        rng: a ``random.Random`` for the initial weights, uniform in
            ``[-1/sqrt(n_in), 1/sqrt(n_in)]`` (PyTorch's ``nn.Linear`` default range).
    """

    ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear")

    def __init__(
        self, n_in: int, activation: str = "tanh", rng: random.Random | None = None
    ) -> None:
        if not isinstance(n_in, int) or n_in < 1:
            raise ValueError(f"n_in must be a positive int, got {n_in!r}")
        if activation not in self.ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; choose one of {self.ACTIVATIONS}"
            )
        rng = rng or random.Random(0)
        bound = 1.0 / math.sqrt(n_in)
        self.w = [Value(rng.uniform(-bound, bound), label="w") for _ in range(n_in)]
        self.b = Value(rng.uniform(-bound, bound), label="b")
        self.activation = activation

    def __call__(self, x: Sequence[Value | Number]) -> Value:
        if len(x) != len(self.w):
            raise ValueError(f"this neuron takes {len(self.w)} inputs, got {len(x)}")
        z = self.b
        for wi, xi in zip(self.w, x):
            z = z + wi * xi
        return z if self.activation == "linear" else getattr(z, self.activation)()

    def parameters(self) -> list[Value]:
        return [*self.w, self.b]


class Layer:
    """``n_out`` neurons that see the same ``n_in`` inputs; returns a list of ``n_out`` Values."""

    def __init__(
        self,
        n_in: int,
        n_out: int,
        activation: str = "tanh",
        rng: random.Random | None = None,
    ) -> None:
        rng = rng or random.Random(0)
        self.neurons = [Neuron(n_in, activation, rng) for _ in range(n_out)]

    def __call__(self, x: Sequence[Value | Number]) -> list[Value]:
        return [neuron(x) for neuron in self.neurons]

    def parameters(self) -> list[Value]:
        return [p for neuron in self.neurons for p in neuron.parameters()]


class MLP:
    """A multilayer perceptron of :class:`Layer` s; the last layer is linear.

    Args:
        n_in: number of inputs.
        sizes: widths of the hidden layers and then of the output, e.g. ``[8, 8, 1]``.
        activation: nonlinearity of the hidden layers.
        seed: seeds the initial weights, so two MLPs with the same arguments are equal.
    """

    def __init__(
        self, n_in: int, sizes: Sequence[int], activation: str = "tanh", seed: int = 0
    ) -> None:
        if not sizes:
            raise ValueError("sizes needs at least one layer width, e.g. [8, 1]")
        rng = random.Random(seed)
        widths = [n_in, *sizes]
        self.layers = [
            Layer(
                widths[i],
                widths[i + 1],
                activation if i < len(sizes) - 1 else "linear",
                rng,
            )
            for i in range(len(sizes))
        ]

    def __call__(self, x: Sequence[Value | Number]) -> Value | list[Value]:
        """Forward one example ``x`` (n_in numbers); one Value if the output width is 1, else a list."""
        h: Sequence[Value | Number] = x
        for layer in self.layers:
            h = layer(h)
        return h[0] if len(h) == 1 else list(h)

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def zero_grad(self) -> None:
        """Set every parameter's gradient to zero (they accumulate otherwise)."""
        for p in self.parameters():
            p.grad = 0.0

    def to_torch(self, dtype: Any = None) -> Any:
        """An equal ``torch.nn.Sequential`` of ``nn.Linear`` layers and activations (default dtype float64)."""
        import torch
        from torch import nn

        dtype = torch.float64 if dtype is None else dtype
        acts = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}
        modules: list[Any] = []
        for layer in self.layers:
            lin = nn.Linear(len(layer.neurons[0].w), len(layer.neurons), dtype=dtype)
            with torch.no_grad():
                lin.weight.copy_(
                    torch.tensor(
                        [[w.data for w in n.w] for n in layer.neurons], dtype=dtype
                    )
                )
                lin.bias.copy_(
                    torch.tensor([n.b.data for n in layer.neurons], dtype=dtype)
                )
            modules.append(lin)
            if layer.neurons[0].activation != "linear":
                modules.append(acts[layer.neurons[0].activation]())
        return nn.Sequential(*modules)
