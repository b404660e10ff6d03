"""A scalar reverse-mode automatic differentiation engine ({ref}`ch-autodiff`).

Every :class:`Value` holds one number, the nodes it was computed from
(its *parents*) and the local partial derivatives of itself with respect to
each parent. Calling ``backward`` on a result visits the graph in reverse
topological order and applies the chain rule

    grad(parent) += grad(node) * d node / d parent,

which is all that backpropagation is. :class:`Neuron`, :class:`Layer` and
:class:`MLP` build a small neural network out of such scalars.

Chapter 2 writes this code out in its cells tagged ``dlbook:engine``; the
definitions below are the same text (``python -m dlbook.export``). The small
helpers at the top are the package's plumbing: the argument checks the taught
code calls in one line each, ``add_to_class`` (which lets a class grow cell by
cell, as d2l does) and :func:`to_torch`. The module needs only the standard
library; :func:`to_torch` imports PyTorch when it is called.
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Callable, Sequence
from typing import Any

from dlbook import check

ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear")


def as_float(x: Any, what: str) -> float:
    """Return ``x`` as a float, or raise a TypeError that says what was expected."""
    if type(x) is float:
        return x
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        hint = " (a tensor? pass tensor.item())" if hasattr(x, "item") else ""
        raise TypeError(
            f"{what} must be a real number (int or float), "
            f"got {type(x).__name__} {x!r}{hint}"
        )
    return float(x)


def constant(x: Any) -> float:
    """A plain number on the other side of an operation, as a float."""
    return x if type(x) is float else as_float(x, "the other operand")


def exponent(p: Any) -> float:
    """The constant exponent of ``x ** p``; a Value exponent gets a clear TypeError."""
    if hasattr(p, "parents") and hasattr(p, "grad"):
        raise TypeError(
            "x ** y needs a constant exponent (int or float); "
            "for a Value exponent write (y * x.log()).exp()"
        )
    return as_float(p, "the exponent")


def nonzero(y: float) -> float:
    """``y`` itself, or a ZeroDivisionError when it is 0 (a divisor)."""
    if y == 0.0:
        raise ZeroDivisionError("division by a Value or number equal to 0")
    return y


def safe_exp(x: float) -> float:
    """``math.exp(x)`` with an OverflowError that says what to do."""
    try:
        return math.exp(x)
    except OverflowError:
        raise OverflowError(f"exp({x}) overflows a float; rescale the input") from None


def edges(parents: Sequence[Any], local_grads: Sequence[Any]) -> tuple[tuple, tuple]:
    """The parents and local derivatives of a node as tuples, checked pairwise."""
    parents = parents if type(parents) is tuple else tuple(parents)
    if type(local_grads) is not tuple or any(type(g) is not float for g in local_grads):
        local_grads = tuple(as_float(g, "a local gradient") for g in local_grads)
    if len(parents) != len(local_grads):
        raise ValueError(
            f"need one local gradient per parent: {len(parents)} parents, "
            f"{len(local_grads)} local gradients"
        )
    for p in parents:
        if not hasattr(p, "parents"):
            raise TypeError(f"a parent must be a Value, got {type(p).__name__}")
    return parents, local_grads


def one_of(value: Any, choices: Sequence[Any], name: str) -> Any:
    """``value`` if it is one of ``choices``, else a ValueError listing them."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {tuple(choices)}")
    return value


def same_length(x: Any, like: Sequence[Any], what: str) -> Sequence[Any]:
    """``x`` if it is a sequence as long as ``like``, else a clear error."""
    if not hasattr(x, "__len__"):
        raise TypeError(f"{what} must be a list of numbers, got {type(x).__name__}")
    if len(x) != len(like):
        raise ValueError(f"this neuron takes {len(like)} {what}, got {len(x)}")
    return x


def a_value(x: Any, name: str) -> Any:
    """``x`` if it is a graph node (a Value), else a TypeError."""
    if not (hasattr(x, "parents") and hasattr(x, "local_grads")):
        raise TypeError(f"{name} must be a Value, got {type(x).__name__}")
    return x


def add_to_class(cls: type) -> Callable[[Callable], Callable]:
    """Decorator: attach the function to ``cls`` as a method of the same name."""

    def register(fn: Callable) -> Callable:
        setattr(cls, fn.__name__, fn)
        return fn

    return register


class Value:
    """One scalar node of a computation graph."""

    def __init__(self, data, parents=(), local_grads=(), op="", label=""):
        self.data = as_float(data, "Value(data)")  # the number this node holds
        # the nodes it was computed from, and d self / d parent for each of them
        self.parents, self.local_grads = edges(parents, local_grads)
        self.op, self.label = op, label  # names for printing and drawing
        self.grad = 0.0  # d root / d self, filled in by root.backward()

    def __repr__(self):
        name = f"{self.label}=" if self.label else ""
        return f"Value({name}{self.data:.6g}, grad={self.grad:.6g})"


@add_to_class(Value)
def __add__(self, other):  # d(x + y)/dx = 1, d(x + y)/dy = 1
    if isinstance(other, Value):
        return Value(self.data + other.data, (self, other), (1.0, 1.0), "+")
    return Value(self.data + constant(other), (self,), (1.0,), "+")


@add_to_class(Value)
def __mul__(self, other):  # d(xy)/dx = y, d(xy)/dy = x
    if isinstance(other, Value):
        return Value(
            self.data * other.data, (self, other), (other.data, self.data), "*"
        )
    c = constant(other)  # d(cx)/dx = c
    return Value(self.data * c, (self,), (c,), "*")


@add_to_class(Value)
def __sub__(self, other):  # d(x - y)/dx = 1, d(x - y)/dy = -1
    if isinstance(other, Value):
        return Value(self.data - other.data, (self, other), (1.0, -1.0), "-")
    return Value(self.data - constant(other), (self,), (1.0,), "-")


@add_to_class(Value)
def __neg__(self):  # d(-x)/dx = -1
    return Value(-self.data, (self,), (-1.0,), "neg")


@add_to_class(Value)
def __truediv__(self, other):  # d(x/y)/dx = 1/y, d(x/y)/dy = -x/y^2
    y = nonzero(other.data if isinstance(other, Value) else constant(other))
    if isinstance(other, Value):
        return Value(self.data / y, (self, other), (1 / y, -self.data / y**2), "/")
    return Value(self.data / y, (self,), (1 / y,), "/")


@add_to_class(Value)
def __pow__(self, p):  # a constant exponent: d(x^p)/dx = p x^(p-1)
    x, p = self.data, exponent(p)
    if x < 0 and not p.is_integer():
        raise ValueError(f"a negative base ({x}) has no real power {p}")
    if x == 0 and p < 0:
        raise ZeroDivisionError(f"0 ** {p} is undefined")
    # at x = 0 the slope is 0 for p = 0 and p > 1, 1 for p = 1, infinite for 0 < p < 1
    slope = 0.0 if p == 0 else p * x ** (p - 1) if x != 0 or p >= 1 else math.inf
    return Value(x**p, (self,), (slope,), f"**{p:g}")


@add_to_class(Value)
def __radd__(self, other):  # c + x
    return self + other


@add_to_class(Value)
def __rmul__(self, other):  # c * x
    return self * other


@add_to_class(Value)
def __rsub__(self, other):  # c - x: d/dx = -1
    return Value(constant(other) - self.data, (self,), (-1.0,), "-")


@add_to_class(Value)
def __rtruediv__(self, other):  # c / x: d/dx = -c/x^2
    c, x = constant(other), nonzero(self.data)
    return Value(c / x, (self,), (-c / x**2,), "/")


@add_to_class(Value)
def exp(self):  # (e^x)' = e^x
    e = safe_exp(self.data)  # an OverflowError that says what to do
    return Value(e, (self,), (e,), "exp")


@add_to_class(Value)
def log(self):  # (log x)' = 1/x
    if self.data <= 0:
        raise ValueError(f"log needs a positive input, got {self.data}")
    return Value(math.log(self.data), (self,), (1 / self.data,), "log")


@add_to_class(Value)
def sqrt(self):  # (sqrt x)' = 1 / (2 sqrt x), infinite at 0 as in PyTorch
    if self.data < 0:
        raise ValueError(f"sqrt needs a non-negative input, got {self.data}")
    s = math.sqrt(self.data)
    return Value(s, (self,), (0.5 / s if s > 0 else math.inf,), "sqrt")


@add_to_class(Value)
def tanh(self):  # tanh' = 1 - tanh^2
    t = math.tanh(self.data)
    return Value(t, (self,), (1 - t * t,), "tanh")


@add_to_class(Value)
def sigmoid(self):  # sigma' = sigma (1 - sigma); exp(-|x|) never overflows
    e = math.exp(-abs(self.data))
    s = 1 / (1 + e) if self.data >= 0 else e / (1 + e)
    return Value(s, (self,), (s * (1 - s),), "sigmoid")


@add_to_class(Value)
def relu(self):  # slope 1 for x > 0, else 0 (0 at x = 0, as in PyTorch)
    return Value(max(self.data, 0.0), (self,), (float(self.data > 0),), "relu")


@add_to_class(Value)
def sin(self):  # sin' = cos
    return Value(math.sin(self.data), (self,), (math.cos(self.data),), "sin")


@add_to_class(Value)
def cos(self):  # cos' = -sin
    return Value(math.cos(self.data), (self,), (-math.sin(self.data),), "cos")


def topological_order(root):
    """Every node `root` depends on, each after its parents (`root` last)."""
    order, seen, stack = [], set(), [(a_value(root, "root"), False)]
    while stack:  # depth-first, without recursion: deep graphs work too
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)  # all of its parents are in `order` already
        elif node not in seen:
            seen.add(node)
            stack.append((node, True))  # come back once its parents are done
            stack.extend((p, False) for p in node.parents if p not in seen)
    return order


@add_to_class(Value)
def backward(self, grad=1.0):
    """Add d self / d node to node.grad for every node self depends on."""
    order = topological_order(self)
    for node in order:
        if node.parents:
            node.grad = 0.0  # intermediate nodes start afresh; leaves accumulate
    self.grad += as_float(grad, "the seed gradient")  # d self / d self = 1
    for node in reversed(order):  # every user before the nodes it uses
        for parent, local in zip(node.parents, node.local_grads):
            parent.grad += node.grad * local  # the chain rule; += sums the paths


class Neuron:
    """One unit: activation(w . x + b), with len(w) == n_in inputs."""

    def __init__(self, n_in, activation="tanh", rng=None):
        check.positive(n_in, "n_in", integer=True)
        self.activation = one_of(activation, ACTIVATIONS, "activation")
        rng, bound = rng or random.Random(0), 1 / math.sqrt(n_in)  # as nn.Linear
        self.w = [Value(rng.uniform(-bound, bound), label="w") for _ in range(n_in)]
        self.b = Value(rng.uniform(-bound, bound), label="b")

    def __call__(self, x):  # x: n_in numbers or Values -> one Value
        z = self.b
        for wi, xi in zip(self.w, same_length(x, self.w, "inputs")):
            z = z + wi * xi
        return z if self.activation == "linear" else getattr(z, self.activation)()

    def parameters(self):
        return [*self.w, self.b]


class Layer:
    """n_out neurons that see the same n_in inputs; returns a list of n_out Values."""

    def __init__(self, n_in, n_out, activation="tanh", rng=None):
        rng = rng or random.Random(0)
        check.positive(n_out, "n_out", integer=True)
        self.neurons = [Neuron(n_in, activation, rng) for _ in range(n_out)]

    def __call__(self, x):
        return [neuron(x) for neuron in self.neurons]

    def parameters(self):
        return [p for neuron in self.neurons for p in neuron.parameters()]


class MLP:
    """Layers of the given widths, e.g. MLP(2, [8, 8, 1]); the last one is linear."""

    def __init__(self, n_in, sizes, activation="tanh", seed=0):
        widths, rng = [n_in, *check.nonempty(sizes, "sizes")], random.Random(seed)
        acts = [activation] * (len(sizes) - 1) + ["linear"]
        self.layers = [Layer(m, n, a, rng) for m, n, a in zip(widths, widths[1:], acts)]

    def __call__(self, x):  # one example: one Value if the output width is 1
        for layer in self.layers:
            x = layer(x)
        return x[0] if len(x) == 1 else x

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def zero_grad(self):  # gradients accumulate: clear them before backward()
        for p in self.parameters():
            p.grad = 0.0


def to_torch(mlp: MLP, dtype: Any = None) -> Any:
    """An equal ``torch.nn.Sequential`` of ``nn.Linear`` layers and activations.

    The weights of ``mlp`` are copied; ``dtype`` defaults to float64.
    """
    import torch
    from torch import nn

    if not (hasattr(mlp, "layers") and hasattr(mlp, "parameters")):
        raise TypeError(f"to_torch needs an engine MLP, got {type(mlp).__name__}")
    dtype = torch.float64 if dtype is None else dtype
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    acts = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}
    modules: list[Any] = []
    for layer in mlp.layers:
        neurons = layer.neurons
        lin = nn.Linear(len(neurons[0].w), len(neurons), dtype=dtype)
        with torch.no_grad():
            w = [[w.data for w in n.w] for n in neurons]
            lin.weight.copy_(torch.tensor(w, dtype=dtype))
            lin.bias.copy_(torch.tensor([n.b.data for n in neurons], dtype=dtype))
        modules.append(lin)
        if neurons[0].activation != "linear":
            modules.append(acts[neurons[0].activation]())
    return nn.Sequential(*modules)
