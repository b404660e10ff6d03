# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# (ch-autodiff)=
# # Computation graphs and automatic differentiation
#
# ```{admonition} Learning objectives
# :class: tip
# After this chapter you can
# - draw the computation graph of an expression and apply the chain rule of total derivatives on it;
# - explain forward and reverse mode as two orders of one product of Jacobians, and count why reverse mode wins for a scalar loss;
# - build a scalar reverse-mode autodiff engine (topological sort plus `backward()`) and train a small network with it;
# - compare finite differences, symbolic differentiation and automatic differentiation by accuracy and cost;
# - use PyTorch's autograd correctly: `requires_grad`, `backward`, gradient accumulation and `zero_grad`, `no_grad`, optimizers.
# ```
#
# {ref}`ch-perceptron` trained logistic regression with a gradient derived by hand. For
# a network with millions of parameters and dozens of layers nobody derives
# gradients by hand: the software does it. It does so neither by
# approximating derivatives numerically nor by manipulating formulas, but by
# **automatic differentiation** (autodiff): it records the elementary
# operations that computed the loss and applies the chain rule to that
# record, one operation at a time {cite}`baydin2018automatic,griewank2008evaluating`.
# Backpropagation {cite}`rumelhart1986learning` is the special case that
# deep learning uses. In this chapter we build such a system from scratch,
# check it against PyTorch's, train a small network with it, and then look at
# PyTorch's autograd with the understanding of what happens inside.

# %% tags=["hide-input"]
# Setup: the same first cell in every chapter. On Colab it installs the book's
# helper package `dlbook` with --no-deps, so Colab's own PyTorch is never
# replaced; then it finds the device, picks the run profile and seeds everything.
import importlib.util
import subprocess
import sys

if "google.colab" in sys.modules and importlib.util.find_spec("dlbook") is None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "dlbook @ git+https://github.com/dlbook-org/dlbook",
            "mnist1d",
        ],
        check=True,
    )

import dlbook
import dlbook.plot

session = dlbook.start(seed=0)
dlbook.plot.use_style()
device = session.device

# %% [markdown]
# Most of this chapter computes with single numbers in plain Python, which is
# fast at this scale on any machine. The profile sets how long the small
# network trains and how many random expressions test the engine.

# %%
import math
import random
import time

import torch
import torch.nn.functional as F
from torch import nn

from dlbook import data, plot

# %%
# n_moons: training points; n_random: random expressions checked against PyTorch;
# func_width, func_batch: the MLP timed with torch.func. Everything here runs in
# plain Python or on the CPU, so the gpu profile keeps the cpu sizes.
cpu_sizes = dict(n_moons=60, mlp_steps=150, n_random=1_000, max_ops=40)
cpu_sizes.update(swell_depth=7, func_width=512, func_batch=512)
cfg = dlbook.config(
    smoke=dict(n_moons=60, mlp_steps=40, n_random=200, max_ops=25, swell_depth=5)
    | dict(func_width=256, func_batch=256),
    cpu=cpu_sizes,
    gpu=cpu_sizes,
)
cfg

# %% [markdown]
# ## Computation graphs and the chain rule
#
# Any formula a computer evaluates is a composition of elementary operations:
# additions, multiplications, a few functions such as $\exp$ and $\log$.
# Writing every intermediate result as a named variable turns the formula
# into a **computation graph**, a directed acyclic graph whose nodes are the
# intermediate values and whose edges say "is computed from"
# {cite}`goodfellow2016deep`. Take the small example
#
# $$
# e = (a + b)(b + 1), \qquad c = a + b, \quad d = b + 1, \quad e = c\,d .
# $$ (eq-toy)
#
# The input $b$ reaches $e$ along two paths, through $c$ and through $d$.
# When $e$ depends on $b$ through intermediate variables $u_1, \dots, u_m$,
# the **chain rule of total derivatives** adds the contributions of all of
# them:
#
# $$
# \begin{aligned}
# \frac{\mathrm{d} e}{\mathrm{d} b} &= \sum_{k=1}^m \frac{\partial e}{\partial u_k}\,\frac{\mathrm{d} u_k}{\mathrm{d} b}, \\
# \text{here:}\quad
# \frac{\mathrm{d} e}{\mathrm{d} b} &= \underbrace{\frac{\partial e}{\partial c}}_{d}\,\underbrace{\frac{\partial c}{\partial b}}_{1}
#   + \underbrace{\frac{\partial e}{\partial d}}_{c}\,\underbrace{\frac{\partial d}{\partial b}}_{1} .
# \end{aligned}
# $$ (eq-total-chain-rule)
#
# Each factor is the derivative of *one* elementary operation with respect to
# *one* of its inputs, a **local derivative**, and it is easy: the derivative
# of $c\,d$ with respect to $c$ is $d$. Let us evaluate it at $(a, b) = (2, 1)$.

# %%
a, b = 2.0, 1.0
c, d = a + b, b + 1  # forward: the intermediate values
e = c * d
de_dc, de_dd = d, c  # local derivatives of e = c * d
dc_da, dc_db, dd_db = 1.0, 1.0, 1.0  # local derivatives of the two sums
de_da = de_dc * dc_da  # one path from a to e
de_db = de_dc * dc_db + de_dd * dd_db  # two paths from b to e: their sum
print(f"e = {e}, de/da = {de_da}, de/db = {de_db}")

# %% tags=["remove-cell"]
assert (e, de_da, de_db) == (6.0, 2.0, 5.0)
assert de_da == b + 1 and de_db == a + 2 * b + 1, (
    "expanding e = ab + a + b^2 + b gives b + 1 and a + 2b + 1"
)

# %% [markdown]
# Expanding $e = ab + a + b^2 + b$ confirms $\partial e/\partial a = b + 1 = 2$
# and $\partial e/\partial b = a + 2b + 1 = 5$. Forgetting one of the two
# paths would have given 3 or 2 for $\partial e / \partial b$: a variable
# used twice must collect the gradient of every use.
#
# ## Forward mode and reverse mode
#
# In which order should the products and sums of {eq}`eq-total-chain-rule`
# be evaluated? A second example shows the two classical answers. Let
#
# $$
# f(x, y) = y\log x + \sqrt{y \log x}, \qquad
# a = \log x,\quad b = y\,a,\quad c = \sqrt{b},\quad f = b + c ,
# $$ (eq-fxy)
#
# at $(x, y) = (3, 2)$. **Forward mode** carries, next to every value $v$,
# its derivative $\dot v = \partial v/\partial x$ with respect to *one* chosen
# input, from the inputs to the output: $\dot a = \dot x / x$,
# $\dot b = \dot y\, a + y\, \dot a$, $\dot c = \dot b / (2\sqrt b)$,
# $\dot f = \dot b + \dot c$. Seeding $(\dot x, \dot y) = (1, 0)$ gives
# $\partial f/\partial x$; a second pass with $(0, 1)$ gives $\partial f/\partial y$.


# %%
def f_forward_mode(x: float, y: float, dx: float, dy: float) -> tuple[float, float]:
    """f of equation (eq-fxy) and its derivative in the input direction (dx, dy)."""
    a, da = math.log(x), dx / x
    b, db = y * a, dy * a + y * da  # product rule
    c, dc = math.sqrt(b), db / (2 * math.sqrt(b))
    return b + c, db + dc


f_val, df_dx_fwd = f_forward_mode(3.0, 2.0, 1.0, 0.0)  # pass 1: d/dx
_, df_dy_fwd = f_forward_mode(3.0, 2.0, 0.0, 1.0)  # pass 2: d/dy
print(
    f"f(3, 2) = {f_val:.6f}; "
    f"forward mode: df/dx = {df_dx_fwd:.6f}, df/dy = {df_dy_fwd:.6f}"
)

# %% [markdown]
# **Reverse mode** runs the other way. It first evaluates the graph forward
# and keeps the values, then carries the **adjoint**
# $\bar v = \partial f / \partial v$ from the output back to the inputs. The
# adjoint of a node sums, over the nodes $w$ that use it, the adjoint of $w$
# times the local derivative — {eq}`eq-total-chain-rule` read backwards:
#
# $$
# \bar v = \sum_{w:\ v \to w} \bar w \, \frac{\partial w}{\partial v}, \qquad \bar f = 1 .
# $$ (eq-adjoint)
#
# Here $\bar c = 1$, $\bar b = 1 + \bar c/(2\sqrt b)$ (two uses of $b$),
# $\bar a = \bar b\, y$, $\bar y = \bar b\, a$ and $\bar x = \bar a / x$. One
# backward pass gives the derivatives with respect to *all* inputs.
# {numref}`fig-autodiff-forward-reverse` draws both passes over the same graph.

# %% [markdown]
# :::{figure} ../figs/computation_graph.svg
# :name: fig-autodiff-forward-reverse
# :alt: Six boxes: inputs x = 3 and y = 2, intermediate a = log x, b = y a, c = sqrt b, and the output f = b + c, each with its value. Black arrows run forward; red dashed arrows run backward labelled with local derivatives such as times 1/x and times y; each box carries its adjoint in red, from f-bar = 1 back to x-bar = 0.892.
# :width: 100%
# The graph of $f = y\log x + \sqrt{y\log x}$ at $(x, y) = (3, 2)$. The forward
# pass (black) computes the values left to right; the reverse pass (red, dashed)
# carries the adjoints $\bar v = \partial f/\partial v$ right to left, multiplying
# by the local derivative written on each arrow. $b$ is used twice, so its adjoint
# is the sum of two contributions, $\bar b = 1 + \bar c/(2c)$.
# :::

# %%
x, y = 3.0, 2.0
a = math.log(x)  # forward pass: keep every intermediate value
b = y * a
c = math.sqrt(b)
f_bar = 1.0  # backward pass: adjoints from the output to the inputs
c_bar = f_bar * 1.0  # f = b + c
b_bar = f_bar * 1.0 + c_bar / (2 * c)  # b is used by f and by c
a_bar, y_bar = b_bar * y, b_bar * a  # b = y * a
x_bar = a_bar / x  # a = log x
print(f"reverse mode: df/dx = {x_bar:.6f}, df/dy = {y_bar:.6f}")

# %% tags=["remove-cell"]
l3 = math.log(3)
exact_fx, exact_fy = (
    (2 + 1 / math.sqrt(2 * l3)) / 3,
    math.log(3) + 0.5 * math.sqrt(l3 / 2),
)
assert abs(f_val - (2 * l3 + math.sqrt(2 * l3))) < 1e-14
for got in (df_dx_fwd, x_bar):
    assert abs(got - exact_fx) < 1e-14, "df/dx must equal (2 + 1/sqrt(2 log 3)) / 3"
for got in (df_dy_fwd, y_bar):
    assert abs(got - exact_fy) < 1e-14, "df/dy must equal log 3 + sqrt(log 3 / 2) / 2"

# %% [markdown]
# Both modes agree with the closed forms
# $\partial f/\partial x = \tfrac13\big(2 + 1/\sqrt{2\log 3}\big)$ and
# $\partial f/\partial y = \log 3 + \tfrac12\sqrt{\log 3 / 2}$. Forward mode
# needed one pass per input, reverse mode one pass per output.
#
# ### Two orders of one product of Jacobians
#
# The difference matters at scale. Write a network with its loss as a chain
# $g = f_L \circ \dots \circ f_1$ of maps $f_\ell: \mathbb{R}^{n_{\ell-1}} \to \mathbb{R}^{n_\ell}$.
# The chain rule says that the Jacobian of $g$ is the product of the layers'
# Jacobians $J_\ell \in \mathbb{R}^{n_\ell \times n_{\ell-1}}$,
#
# $$
# \begin{aligned}
# J_g &= J_L\, J_{L-1} \cdots J_1 , \\
# \text{forward mode:}\quad J_g &= J_L\big(\cdots(J_3\,(J_2 J_1))\big), \\
# \text{reverse mode:}\quad J_g &= \big(((J_L J_{L-1})\, J_{L-2}) \cdots\big) J_1 .
# \end{aligned}
# $$ (eq-jacobian-chain)
#
# Matrix multiplication is associative, so both orders give the same matrix,
# but not at the same price: multiplying an $m \times k$ by a $k \times n$
# matrix takes $mkn$ multiply-adds. Forward mode drags $n_0$ columns (one per
# input) through every layer and costs $n_0 \sum_{\ell=2}^{L} n_\ell n_{\ell-1}$;
# reverse mode drags $n_L$ rows (one per output) and costs
# $n_L \sum_{\ell=1}^{L-1} n_\ell n_{\ell-1}$. For a scalar loss $n_L = 1$.
# We multiply real matrices and count.


# %%
def chain_product(jacobians: list[torch.Tensor], order: str) -> tuple:
    """J_L ... J_1 and its multiply-adds, for jacobians = [J_1, ..., J_L].

    J_l has shape (n_l, n_{l-1}); `order` is "forward" or "reverse"."""
    if order == "forward":  # start at the inputs: (n_l, n_0) products
        acc, muladds = jacobians[0], 0
        for J in jacobians[1:]:
            muladds += J.shape[0] * J.shape[1] * acc.shape[1]
            acc = J @ acc
    else:  # start at the output: (n_L, n_l) products
        acc, muladds = jacobians[-1], 0
        for J in reversed(jacobians[:-1]):
            muladds += acc.shape[0] * acc.shape[1] * J.shape[1]
            acc = acc @ J
    return acc, muladds


# %% [markdown]
# A chain of random Jacobians, from many inputs down to a scalar loss:

# %%
widths = [1024, 256, 64, 16, 1]  # n_0 inputs (parameters), shrinking layers, a loss
jacs = [torch.randn(m, n, dtype=torch.float64) for n, m in zip(widths, widths[1:])]
J_fwd, cost_fwd = chain_product(jacs, "forward")
J_rev, cost_rev = chain_product(jacs, "reverse")
print(
    f"widths {widths}: forward {cost_fwd:,} multiply-adds, reverse {cost_rev:,}, "
    f"ratio {cost_fwd / cost_rev:.0f}"
)

# %% tags=["remove-cell"]
n = widths
assert cost_fwd == n[0] * sum(n[i] * n[i - 1] for i in range(2, len(n))), (
    "forward-mode count formula"
)
assert cost_rev == n[-1] * sum(n[i] * n[i - 1] for i in range(1, len(n) - 1)), (
    "reverse-mode count formula"
)
assert J_fwd.shape == J_rev.shape == (1, widths[0]) and torch.allclose(
    J_fwd, J_rev, rtol=1e-10, atol=1e-8
)
assert cost_fwd > 50 * cost_rev, "for a scalar output reverse mode must be far cheaper"
_, cost_fwd_wide = chain_product(
    [J.T for J in reversed(jacs)], "forward"
)  # one input, many outputs
_, cost_rev_wide = chain_product([J.T for J in reversed(jacs)], "reverse")
assert cost_fwd_wide == cost_rev and cost_rev_wide == cost_fwd, (
    "with the widths reversed the roles swap"
)

# %% [markdown]
# Both orders give the same gradient, but forward mode pays the ratio printed
# above more: it carries $n_0$ columns, one per input, through every layer
# after the first, while reverse mode carries a single row, the gradient of
# the scalar, through every layer. (In practice neither mode forms the
# Jacobians: forward mode pushes one input direction at a time through the
# graph, so a full gradient takes $n_0$ passes, and reverse mode takes one.)
# With the widths reversed
# (one input, many outputs) the counts swap and forward mode wins. A
# classifier's loss has millions of inputs — its parameters — and one output,
# which is why deep learning uses reverse mode, under the name
# **backpropagation**. Reverse mode's price is memory: the forward values
# must be kept until the backward pass uses them. (Neither pure order is
# optimal for every chain; Exercise 2 finds the best one.)

# %% [markdown]
# ## A scalar reverse-mode engine
#
# Reverse mode needs three things: a record of the graph, the local
# derivatives of every operation, and an order in which to visit the nodes.
# We now write a complete engine for single numbers, in the spirit of
# micrograd {cite}`karpathy2020micrograd`, in the cells below; the rest of
# the chapter uses it, and the helper package `dlbook.engine` holds the same
# code (a test checks that the two agree). Edit a cell and rerun the chapter
# to see what your change does. A `Value` holds one number (`data`), the
# nodes it was computed from (`parents`) and the local derivative with
# respect to each parent (`local_grads`), computed during the forward pass.
# Small helpers from the package, imported below, refuse bad input with a
# clear message in one line each (`as_float`, `edges`, `constant` and a few
# more), and `add_to_class` attaches a function to the class as a method, so
# that the class can grow cell by cell.

# %%
from dlbook.engine import ACTIVATIONS, add_to_class, as_float, constant, edges
from dlbook.engine import a_value, exponent, nonzero, one_of, safe_exp, same_length
from dlbook.engine import to_torch
from dlbook import check


# %% tags=["dlbook:engine"]
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


# %% [markdown]
# Every operation follows the same pattern: compute the value, and next to
# it the local derivatives of {eq}`eq-total-chain-rule`. A plain number,
# such as the 2 in `2 * x`, becomes no node, since nobody needs its
# gradient.


# %% tags=["dlbook:engine"]
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


# %% [markdown]
# Subtraction and negation are the same with a sign; division and powers
# with a constant exponent need their quotient and power rules.


# %% tags=["dlbook:engine"]
@add_to_class(Value)
def __sub__(self, other):  # d(x - y)/dx = 1, d(x - y)/dy = -1
    if isinstance(other, Value):
        return Value(self.data - other.data, (self, other), (1.0, -1.0), "-")
    return Value(self.data - constant(other), (self,), (1.0,), "-")


@add_to_class(Value)
def __neg__(self):  # d(-x)/dx = -1
    return Value(-self.data, (self,), (-1.0,), "neg")


# %% tags=["dlbook:engine"]
@add_to_class(Value)
def __truediv__(self, other):  # d(x/y)/dx = 1/y, d(x/y)/dy = -x/y^2
    y = nonzero(other.data if isinstance(other, Value) else constant(other))
    if isinstance(other, Value):
        return Value(self.data / y, (self, other), (1 / y, -self.data / y**2), "/")
    return Value(self.data / y, (self,), (1 / y,), "/")


# %% tags=["dlbook:engine"]
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


# %% [markdown]
# Python calls `__radd__` and friends when the number comes first, as in
# `1 + x` or `1 / x`:


# %% tags=["dlbook:engine"]
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


# %% [markdown]
# Functions of one input have one parent. They also check their domain,
# so that a mistake fails loudly where it happens instead of as a `nan` many
# steps later:


# %% tags=["dlbook:engine"]
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


# %% [markdown]
# The activation functions of neural networks, and two more for the tests
# that follow:


# %% tags=["dlbook:engine"]
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


# %% tags=["dlbook:engine"]
@add_to_class(Value)
def sin(self):  # sin' = cos
    return Value(math.sin(self.data), (self,), (math.cos(self.data),), "sin")


@add_to_class(Value)
def cos(self):  # cos' = -sin
    return Value(math.cos(self.data), (self,), (-math.sin(self.data),), "cos")


# %% [markdown]
# The backward pass may process a node only after every node that uses it,
# because its adjoint {eq}`eq-adjoint` sums over all of them. An order in
# which each node comes after its parents is a **topological order** of the
# graph; reversed, it puts every user before the nodes it uses. A depth-first
# search that appends a node once all its parents are appended produces one
# (written with an explicit stack, so that a chain of 10,000 operations does
# not exceed Python's recursion limit):


# %% tags=["dlbook:engine"]
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


# %% [markdown]
# `backward` is then {eq}`eq-adjoint` in a few lines: seed the output's
# gradient, visit the nodes in reverse topological order, and push each
# node's gradient to its parents, multiplied by the local derivative. The
# `+=` is the sum over paths: a node used twice receives two contributions.


# %% tags=["dlbook:engine"]
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


# %% [markdown]
# Let us run the two examples through the engine.

# %%
a, b = Value(2.0, label="a"), Value(1.0, label="b")
c = a + b
d = b + 1
e = c * d
c.label, d.label, e.label = "c", "d", "e"
e.backward()
print(f"e = {e.data}: de/da = {a.grad}, de/db = {b.grad}")

x, y = Value(3.0, label="x"), Value(2.0, label="y")
a_ = x.log()
b_ = y * a_
c_ = b_.sqrt()
f = b_ + c_  # equation (eq-fxy): b is used twice
a_.label, b_.label, c_.label, f.label = "a", "b", "c", "f"
f.backward()
print(f"f = {f.data:.6f}: df/dx = {x.grad:.6f}, df/dy = {y.grad:.6f}")

# %% tags=["remove-cell"]
assert (a.grad, b.grad) == (2.0, 5.0), "de/da = 2, de/db = 5"
assert abs(x.grad - exact_fx) < 1e-14 and abs(y.grad - exact_fy) < 1e-14

# %% [markdown]
# The engine reproduces $2$ and $5$, and the derivatives of {eq}`eq-fxy`.
# {numref}`fig-autodiff-graph-e` shows the graph of {eq}`eq-toy` after
# `backward`: every node with its value and its gradient
# $\partial e/\partial(\text{node})$, every edge with its local derivative.
# The gradient of $b$ is the sum over its two outgoing edges,
# $3 \cdot 1 + 2 \cdot 1$; in {numref}`fig-autodiff-graph-f` $b$ collects
# $1 \cdot 1 + 1 \cdot 0.337$ from its two uses, as in the hand computation.


# %% tags=["hide-input"] mystnb={"figure": {"caption": "The graph of $e = (a + b)(b + 1)$ at $(a, b) = (2, 1)$ after `backward`: each node with its value and its gradient $\\partial e/\\partial(\\text{node})$ (orange: inputs), each edge with its local derivative (green). $b$ collects $3 \\cdot 1 + 2 \\cdot 1 = 5$ from its two uses.", "name": "fig-autodiff-graph-e"}, "image": {"alt": "A computation graph drawn left to right: inputs a and b, the sums c and d, their product e; boxes show values and gradients, edges show local derivatives."}}
fig, ax = plot.subplots(width=7, height=2.6)
plot.draw_graph(ax, e, "e = (a + b)(b + 1) at (2, 1)")
plot.show(fig)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The graph of $f = y \\log x + \\sqrt{y \\log x}$ at $(3, 2)$ after `backward`. Node $b = y \\log x$ is used twice, by $c$ and by $f$, and collects $1 \\cdot 1 + 1 \\cdot 0.337$.", "name": "fig-autodiff-graph-f"}, "image": {"alt": "A computation graph drawn left to right: inputs x and y, the nodes a = log x, b = y a, c = sqrt b and the output f, with values, gradients and local derivatives."}}
fig, ax = plot.subplots(width=7, height=2.6)
heights = {"x": 0.6, "a": 0.6, "y": -0.6, "b": 0.0, "c": 0.8, "f": 0.0}
plot.draw_graph(ax, f, "f = y log x + sqrt(y log x) at (3, 2)", heights=heights)
plot.show(fig)

# %% [markdown]
# Gradients of leaves (inputs and parameters) **accumulate**: a second
# `backward` adds to them, exactly as in PyTorch. This is what makes a node
# used twice come out right — and what makes `zero_grad` necessary, as we
# shall see. Intermediate nodes are reset on every backward pass.

# %%
e.backward()  # the same graph once more
print(f"after a second backward: de/da = {a.grad}, de/db = {b.grad}")
x_sq = Value(3.0)
(x_sq * x_sq).backward()  # one node, two uses
print(f"d(x*x)/dx at 3 = {x_sq.grad}")

# %% tags=["remove-cell"]
assert (a.grad, b.grad) == (4.0, 10.0), (
    "leaf gradients must accumulate across backward calls"
)
assert x_sq.grad == 6.0, "a node used twice must receive both contributions"

# %% [markdown]
# ## Checking the engine against PyTorch
#
# A from-scratch implementation is only trustworthy once it has been compared
# with a reference. The first test is a function of three variables whose
# gradient a computer-algebra system gives, to six significant digits, as
# $(-0.285274, -1.01578, 0.288027)$:
#
# $$
# g(x, y, z) = \frac{\sin\big(\cosh(y^2 + x/z) + \tanh(xyz)\big)}{\log(1 + e^x)}
# \ \text{ at } (3.3,\ 1.1,\ 2.3) .
# $$ (eq-g3)
#
# The engine has no `cosh` and no softplus $\log(1+e^x)$, and needs none:
# both are compositions of operations it has. Because `Value` and
# `torch.Tensor` share the method names, one Python function evaluates
# {eq}`eq-g3` on either.


# %%
def cosh(u):
    return (u.exp() + (-u).exp()) / 2


def g3(x, y, z):
    """Equation (eq-g3) on Values or on tensors."""
    return (cosh(y**2 + x / z) + (x * y * z).tanh()).sin() / (1 + x.exp()).log()


point = (3.3, 1.1, 2.3)
xs = [Value(v) for v in point]
g3(*xs).backward()
xt = torch.tensor(point, dtype=torch.float64, requires_grad=True)
g3(*xt).backward()
print("engine:  ", ", ".join(f"{v.grad:.6g}" for v in xs))
print("autograd:", ", ".join(f"{v:.6g}" for v in xt.grad.tolist()))

# %% tags=["remove-cell"]
printed = [-0.285274, -1.01578, 0.288027]  # the symbolic result, six significant digits
assert [float(f"{v.grad:.6g}") for v in xs] == printed, (
    "the engine must reproduce the printed gradient"
)
assert [float(f"{v:.6g}") for v in xt.grad.tolist()] == printed, (
    "so must torch.autograd"
)
assert all(abs(v.grad - t) <= 1e-12 * abs(t) for v, t in zip(xs, xt.grad.tolist()))

# %% [markdown]
# Both reproduce $\nabla g = (-0.285274, -1.01578, 0.288027)$ to the six
# digits printed (we derive it symbolically ourselves below). One function is weak evidence,
# though. The next test builds **random** computation graphs: each step
# applies a randomly chosen operation to randomly chosen earlier nodes, so
# nodes get reused, and some operations are wrapped to stay in their domain
# ($\log(u^2 + \tfrac12)$ instead of $\log u$).

# %%
UNARY = {
    "neg": lambda u: -u,
    "exp": lambda u: u.exp(),
    "tanh": lambda u: u.tanh(),
    "relu": lambda u: u.relu(),
    "sigmoid": lambda u: u.sigmoid(),
    "sin": lambda u: u.sin(),
    "cos": lambda u: u.cos(),
    "log": lambda u: (u * u + 0.5).log(),
    "sqrt": lambda u: (u * u + 0.1).sqrt(),
    "cube": lambda u: u**3,
    "rsqrt": lambda u: (u * u + 1) ** -0.5,
}

# %% [markdown]
# Binary operations complete the set; the division is by $v^2 + \tfrac12$, never 0.
# A program is a list of steps, each naming an operation and the earlier nodes
# it reads.

# %%
BINARY = {
    "+": lambda u, v: u + v,
    "-": lambda u, v: u - v,
    "*": lambda u, v: u * v,
    "/": lambda u, v: u / (v * v + 0.5),
}


def random_program(rng: random.Random, n_inputs: int, n_ops: int) -> list:
    """A random DAG: step k applies a random operation to nodes made before it."""
    prog = []
    for k in range(n_ops):
        name = rng.choice(sorted(UNARY) + sorted(BINARY))
        n_args = 2 if name in BINARY else 1
        prog.append((name, [rng.randrange(n_inputs + k) for _ in range(n_args)]))
    return prog


# %% [markdown]
# Running a program evaluates its steps in order, on `Value`s or on tensors.


# %%
def run_program(prog, inputs):
    """Evaluate a program on Values or on tensors; returns its last node."""
    nodes = list(inputs)
    for name, args in prog:
        nodes.append((BINARY.get(name) or UNARY[name])(*(nodes[i] for i in args)))
    return nodes[-1]


# %% [markdown]
# For each random program and random input point we compare the engine's
# gradient with PyTorch's in double precision. An input that the output does
# not depend on gets gradient 0 from the engine and `None` from PyTorch.


# %%
def rel_error(a: float, ref: float) -> float:
    """|a - ref| / |ref|, or |a| where the reference is 0."""
    return abs(a - ref) / max(abs(ref), 1e-300) if ref != 0 else abs(a)


def engine_vs_autograd(prog, x0: list[float]) -> float:
    """Largest relative error of the engine's gradient at x0 against PyTorch's."""
    xs = [Value(v) for v in x0]
    run_program(prog, xs).backward()  # may raise OverflowError
    xt = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in x0]
    run_program(prog, xt).backward()
    worst = 0.0
    for v, t in zip(xs, xt):
        worst = max(worst, rel_error(v.grad, 0.0 if t.grad is None else t.grad.item()))
    return worst


# %% [markdown]
# The test draws many programs and points and keeps the worst error.


# %%
def compare_with_autograd(n_programs: int, max_ops: int, seed: int = 0):
    """Largest relative gradient error, engine vs torch.autograd; programs skipped."""
    rng, worst, skipped = random.Random(seed), 0.0, 0
    for _ in range(n_programs):
        prog = random_program(rng, 3, rng.randint(3, max_ops))
        x0 = [rng.uniform(-2, 2) for _ in range(3)]
        try:
            worst = max(worst, engine_vs_autograd(prog, x0))
        except OverflowError:  # exp of a huge value: not a fair test of either system
            skipped += 1
    return worst, skipped


# %% [markdown]
# We time the whole comparison, which runs in plain Python.

# %%
t0 = time.perf_counter()
worst_rel, skipped = compare_with_autograd(cfg.n_random, cfg.max_ops)
print(
    f"{cfg.n_random} random programs of up to {cfg.max_ops} operations "
    f"({skipped} skipped) "
    f"in {time.perf_counter() - t0:.1f} s"
)
worst_rel = dlbook.report(
    "max relative gradient error, engine vs autograd", worst_rel, fmt=".1e"
)

# %% tags=["remove-cell"]
assert skipped < cfg.n_random // 10, "almost every random program must be usable"
assert worst_rel <= 1e-10, (
    "the engine's gradients must equal torch.autograd's to rounding (1e-10 relative)"
)

# %% [markdown]
# The largest relative difference printed above, a few times $10^{-12}$, is
# rounding error in double precision: about $10^{-16}$ per operation,
# amplified by long chains and by cancellation where a gradient is a small
# difference of large terms. The engine computes the same derivatives as
# PyTorch.

# %% [markdown]
# ## Three ways to compute a derivative
#
# Automatic differentiation is often confused with its two alternatives.
# **Numerical differentiation** replaces the derivative by a difference
# quotient; **symbolic differentiation** manipulates formulas, as a
# computer-algebra system does. Both are useful, and both have problems
# that autodiff avoids {cite}`baydin2018automatic`.
#
# ### Finite differences: truncation against round-off
#
# Taylor's theorem gives the error of the forward and the central difference
# quotients. A computer evaluates $g$ only up to a relative error of about
# $\varepsilon \approx 1.1 \times 10^{-16}$ (double precision), and dividing
# by a small $h$ amplifies that error:
#
# $$
# \begin{aligned}
# \frac{g(x+h) - g(x)}{h} &= g'(x) + \underbrace{\tfrac{h}{2}g''(x)}_{\text{truncation}}
#   + \underbrace{O\big(\varepsilon |g| / h\big)}_{\text{round-off}} , \\
# \frac{g(x+h) - g(x-h)}{2h} &= g'(x) + \tfrac{h^2}{6} g'''(x) + O\big(\varepsilon |g| / h\big) .
# \end{aligned}
# $$ (eq-finite-differences)
#
# Shrinking $h$ lowers the first error and raises the second. We measure
# both quotients of $\partial g/\partial x$ for the function {eq}`eq-g3`,
# taking the engine's gradient as the truth. ({numref}`fig-autodiff-finite-differences`)


# %%
def g3_of_x(t: float) -> float:
    return g3(Value(t), Value(1.1), Value(2.3)).data  # only the forward value is used


x0, exact = 3.3, xs[0].grad  # the engine's dg/dx at the point
hs = [10.0**k for k in torch.linspace(-15, -1, 57).tolist()]
err_fwd = [abs((g3_of_x(x0 + h) - g3_of_x(x0)) / h - exact) / abs(exact) for h in hs]
err_ctr = [
    abs((g3_of_x(x0 + h) - g3_of_x(x0 - h)) / (2 * h) - exact) / abs(exact) for h in hs
]
best_fwd = min(range(len(hs)), key=err_fwd.__getitem__)
best_ctr = min(range(len(hs)), key=err_ctr.__getitem__)
for name, err, best in [("forward", err_fwd, best_fwd), ("central", err_ctr, best_ctr)]:
    print(f"{name} difference: best h = {hs[best]:.0e}, relative error {err[best]:.1e}")

# %% tags=["remove-cell"]
assert 1e-10 <= hs[best_fwd] <= 1e-6 and err_fwd[best_fwd] < 1e-6, (
    "forward differences: best h near sqrt(eps)"
)
assert 1e-7 <= hs[best_ctr] <= 1e-3 and err_ctr[best_ctr] < 1e-8, (
    "central differences: best h near eps^(1/3)"
)
assert err_fwd[0] > 1e-3 and err_ctr[0] > 1e-3, "at h = 1e-15 round-off dominates"
assert err_fwd[-1] > 1e-3 and err_ctr[-1] > err_ctr[best_ctr] * 1e3, (
    "at h = 0.1 truncation dominates"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Relative error of the forward and central difference quotients of $\\partial g/\\partial x$ against the step $h$: round-off dominates on the left, truncation on the right.", "name": "fig-autodiff-finite-differences"}, "image": {"alt": "Two V-shaped curves on log-log axes, the central difference reaching a lower minimum at a larger step."}}
fig, ax = plot.subplots(width=7, height=3.6)
ax.loglog(hs, err_fwd, "o-", ms=3, label="forward difference")
ax.loglog(hs, err_ctr, "s-", ms=3, label="central difference")
ax.axhline(2.2e-16, color="0.5", ls=":", lw=1)
ax.text(1e-15, 5e-16, "autodiff: exact up to rounding", fontsize=8, color="0.4")
ax.text(1e-13, 3e-2, "round-off\n~ eps / h", fontsize=8)
ax.text(3e-3, 1e-10, "truncation\n~ h, h²", fontsize=8)
ax.set_xlabel("step size h")
ax.set_ylabel("relative error of dg/dx")
ax.legend(loc="lower right")
plot.show(fig)

# %% [markdown]
# The V shapes are {eq}`eq-finite-differences` made visible. The forward
# quotient is best near $h \approx \sqrt{\varepsilon} \approx 10^{-8}$ and
# even there keeps only about half of the 16 digits; the central quotient is
# best near $h \approx \varepsilon^{1/3}$ and keeps about two thirds. And a
# gradient with respect to $n$ parameters needs $n$ (forward) or $2n$
# (central) extra evaluations of the function, as many as forward mode. Finite
# differences are therefore no way to train a network, but they are an
# excellent independent **gradient check**, as here on the random programs of
# the previous section:


# %%
def central_difference(prog, x0: list[float], i: int, h: float) -> float:
    """(f(x0 + h e_i) - f(x0 - h e_i)) / 2h for the function f of a program."""
    up, down = list(x0), list(x0)
    up[i], down[i] = x0[i] + h, x0[i] - h
    g_up = run_program(prog, [Value(u) for u in up]).data
    return (g_up - run_program(prog, [Value(u) for u in down]).data) / (2 * h)


# %% [markdown]
# The check compares it with the engine for every input of every program.


# %%
def finite_difference_check(n_programs: int, h: float = 1e-6, seed: int = 1) -> float:
    """Largest |central difference - engine| / max(1, |engine|) over random programs."""
    rng, worst = random.Random(seed), 0.0
    for _ in range(n_programs):
        prog = random_program(rng, 3, rng.randint(3, 15))
        x0 = [rng.uniform(-2, 2) for _ in range(3)]
        xs_fd = [Value(v) for v in x0]
        run_program(prog, xs_fd).backward()
        for i, v in enumerate(xs_fd):
            fd = central_difference(prog, x0, i, h)
            worst = max(worst, abs(fd - v.grad) / max(1.0, abs(v.grad)))
    return worst


# %% [markdown]
# We run it on a quarter of the programs used above, since each input costs two
# extra evaluations.

# %%
worst_fd = finite_difference_check(cfg.n_random // 4)
print(
    f"central differences vs engine on {cfg.n_random // 4} random programs: "
    f"worst error {worst_fd:.1e}"
)

# %% tags=["remove-cell"]
assert worst_fd < 1e-8, (
    "central differences must agree with the engine to their own error, eps / h"
)

# %% [markdown]
# The agreement printed above is what {eq}`eq-finite-differences` predicts
# for $h = 10^{-6}$: a round-off error of about $\varepsilon|g|/h \approx
# 10^{-10}|g|$, more where $|g|$ or $g'''$ is large; the worst case stays
# below $10^{-8}$.
#
# ### Symbolic differentiation and expression swell
#
# A computer-algebra system such as SymPy {cite}`meurer2017sympy` applies the
# rules of calculus to formulas and returns a formula. For {eq}`eq-g3` that
# gives the exact gradient, which we evaluate at the point.

# %%
import sympy as sp

X, Y, Z = sp.symbols("x y z")
g_sym = sp.sin(sp.cosh(Y**2 + X / Z) + sp.tanh(X * Y * Z)) / sp.log(1 + sp.exp(X))
grad_sym = [sp.diff(g_sym, v) for v in (X, Y, Z)]
print("dg/dx =", grad_sym[0])
grad_sym_at = [float(gi.evalf(subs={X: 3.3, Y: 1.1, Z: 2.3})) for gi in grad_sym]
print("symbolic gradient at the point:", ", ".join(f"{v:.6g}" for v in grad_sym_at))

# %% tags=["remove-cell"]
assert all(abs(s - v.grad) <= 1e-12 * abs(s) for s, v in zip(grad_sym_at, xs)), (
    "symbolic must equal the engine"
)
assert [float(f"{v:.6g}") for v in grad_sym_at] == printed

# %% [markdown]
# The symbolic result agrees with the engine and with PyTorch to all digits,
# but look at the formula: the subexpression $\cosh(y^2 + x/z) + \tanh(xyz)$
# appears again inside $\cos(\cdot)$, $\log(1+e^x)$ is squared, and each of
# the three partial derivatives repeats all of it. A formula is a *tree*;
# it cannot say "the value computed above", so repeated subexpressions are
# written out again. When a function reuses intermediate results, this
# **expression swell** grows exponentially. The logistic map
# $\ell_1 = x$, $\ell_{k+1} = 4\ell_k(1 - \ell_k)$ uses $\ell_k$ twice per step
# {cite}`baydin2018automatic`.


# %%
def logistic_map(v, n: int):
    for _ in range(n - 1):
        v = 4 * v * (1 - v)
    return v


# %% [markdown]
# The same function applied to a SymPy symbol builds a formula, and applied to
# a `Value` it builds the engine's graph. We count the size of each.

# %%
swell = []
for n in range(1, cfg.swell_depth + 1):
    formula = logistic_map(X, n)
    derivative = sp.diff(formula, X)
    graph = logistic_map(Value(0.3), n)  # the engine's graph: values, never formulas
    n_nodes = len(topological_order(graph))
    swell.append((n, sp.count_ops(formula), sp.count_ops(derivative), n_nodes))
    print(
        f"n = {n}: formula {swell[-1][1]:>4} ops, "
        f"symbolic derivative {swell[-1][2]:>5} ops, "
        f"engine graph {swell[-1][3]:>3} nodes"
    )

# %% tags=["remove-cell"]
nodes_per_step = {swell[i][3] - swell[i - 1][3] for i in range(1, len(swell))}
assert len(nodes_per_step) == 1, (
    "the engine's graph must grow by a constant number of nodes per step"
)
assert all(swell[i][2] > 2 * swell[i - 1][2] for i in range(2, len(swell))), (
    "the derivative more than doubles"
)
assert swell[-1][2] > 5 * swell[-1][3], (
    "at the deepest level the symbolic derivative dwarfs the graph"
)

# %% [markdown]
# The formula doubles at every step and its symbolic derivative grows faster
# still, while the engine's graph grows by a constant number of nodes, and
# reverse mode visits each node once. (Simplifying or sharing common
# subexpressions can rescue symbolic differentiation in cases like this one;
# doing so systematically is, in effect, automatic differentiation.) Autodiff
# also differentiates what is not a formula at all: programs with loops,
# branches and function calls, whatever sequence of operations actually ran.
#
# ## Training a small network with the engine
#
# A neuron ({ref}`ch-perceptron`) is a weighted sum followed by a
# nonlinearity, so it is a small computation graph of `Value`s. A `Neuron`
# holds its weights and bias as `Value`s and builds that graph for each
# input; its initial weights are uniform in $\pm 1/\sqrt{n_\text{in}}$, the
# range of PyTorch's `nn.Linear`.


# %% tags=["dlbook:engine"]
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


# %% [markdown]
# A `Layer` is a list of neurons that see the same inputs, and an `MLP` a
# list of layers, the last one without nonlinearity so that its output is a
# real-valued score $s$. Each class has a `parameters()` method that lists
# its `Value`s; the `MLP` also has `zero_grad()`.


# %% tags=["dlbook:engine"]
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


# %% tags=["dlbook:engine"]
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


# %% [markdown]
# We train a network with two
# hidden layers of 8 tanh units on the two-moons data, with the mean logistic
# loss of {ref}`ch-perceptron` and labels $t_i \in \{-1, +1\}$:
#
# $$
# \mathcal{L} = \frac1N \sum_{i=1}^N \log\big(1 + e^{-t_i s(\mathbf{x}_i)}\big) .
# $$ (eq-moons-loss)

# %%
x_moons, y_moons = data.two_moons(cfg.n_moons, noise=0.1, seed=0)
x_moons_test, y_moons_test = data.two_moons(1000, noise=0.1, seed=1)


def moons_loss(model: MLP, x: torch.Tensor, y: torch.Tensor) -> Value:
    """Equation (eq-moons-loss): x (N, 2), y (N,) in {0, 1}; one Value."""
    total = Value(0.0)
    for xi, yi in zip(x.tolist(), y.tolist()):
        t = 2.0 * yi - 1.0  # label in {-1, +1}
        total = total + (1 + (-t * model(xi)).exp()).log()
    return total / len(x)


mlp = MLP(2, [8, 8, 1], activation="tanh", seed=0)
loss = moons_loss(mlp, x_moons, y_moons)
print(
    f"{len(mlp.parameters())} parameters; "
    f"one loss evaluation builds {len(topological_order(loss)):,} nodes"
)

# %% [markdown]
# Before training, a last check: PyTorch's own layers with the same weights
# (`dlbook.engine.to_torch` copies them into `nn.Linear` modules) must give the same
# loss and the same gradient for every parameter.

# %%
mlp.zero_grad()
loss.backward()
net = to_torch(mlp)  # nn.Sequential(Linear, Tanh, Linear, Tanh, Linear) in float64
t_moons = 2.0 * y_moons.double() - 1.0
# softplus(u) = log(1 + e^u)
loss_t = F.softplus(-t_moons * net(x_moons.double()).squeeze(1)).mean()
loss_t.backward()

# %% [markdown]
# The engine lists its parameters neuron by neuron, weights then bias; we
# flatten PyTorch's gradients in the same order.

# %%
linears = [m for m in net if isinstance(m, nn.Linear)]
grad_t = torch.cat(
    [torch.cat([m.weight.grad, m.bias.grad[:, None]], 1).flatten() for m in linears]
)
grad_engine = torch.tensor([p.grad for p in mlp.parameters()], dtype=torch.float64)
mlp_grad_err = ((grad_engine - grad_t).abs().max() / grad_t.abs().max()).item()
print(
    f"loss: engine {loss.data:.10f}, torch {loss_t.item():.10f}; "
    f"max gradient difference {mlp_grad_err:.1e}"
)

# %% tags=["remove-cell"]
assert abs(loss.data - loss_t.item()) < 1e-12
assert mlp_grad_err < 1e-10, (
    "the MLP's gradients must equal those of the same network in PyTorch"
)

# %% [markdown]
# The training loop is the one every later chapter uses, written out for
# scalars: forward, zero the gradients, backward, step. Full-batch gradient
# descent with learning rate 1 suffices here.

# %%
lr, losses, t0 = 1.0, [], time.perf_counter()
for step in range(cfg.mlp_steps):
    loss = moons_loss(mlp, x_moons, y_moons)  # forward: a fresh graph
    mlp.zero_grad()  # parameters accumulate gradients: clear them
    loss.backward()
    for p in mlp.parameters():
        p.data -= lr * p.grad  # gradient descent on plain floats
    losses.append(loss.data)
    if step % (cfg.mlp_steps // 5) == 0 or step == cfg.mlp_steps - 1:
        print(f"step {step:>3}: loss {loss.data:.4f}")
print(f"{cfg.mlp_steps} steps in {time.perf_counter() - t0:.1f} s")

# %% [markdown]
# The loss falls steadily. To draw the decision boundary we evaluate the
# trained network on a fine grid; the engine would need millions of `Value`
# objects for that, so we copy the trained weights into PyTorch once more
# and check that the copy computes the same scores. ({numref}`fig-autodiff-moons`)

# %%
net = to_torch(mlp)
scores_engine = torch.tensor(
    [mlp(xi).data for xi in x_moons.tolist()], dtype=torch.float64
)
scores_torch = net(x_moons.double()).squeeze(1).detach()
train_acc = ((scores_engine > 0).long() == y_moons).double().mean().item()
pred_test = net(x_moons_test.double()).squeeze(1) > 0
test_acc = (pred_test.long() == y_moons_test).double().mean().item()
train_acc = dlbook.report(
    "two moons training accuracy (scalar engine)", train_acc, fmt=".3f"
)
test_acc = dlbook.report("two moons test accuracy (scalar engine)", test_acc, fmt=".3f")

# %% tags=["remove-cell"]
assert torch.allclose(scores_engine, scores_torch, rtol=0, atol=1e-12), (
    "the copy must compute the same scores"
)
assert losses[-1] < 0.6 * losses[0], "training with the engine must lower the loss"
assert train_acc >= 0.85 and test_acc >= 0.8, (
    "the network must learn the moons well above chance (0.5)"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The network trained with the scalar engine: its training loss (left) and its probability of moon 1 on the plane (right; black: 0.5).", "name": "fig-autodiff-moons"}, "image": {"alt": "A falling loss curve next to two interleaved half-moon point clouds separated by a curved black boundary."}}
fig, axes = plot.subplots(1, 2, width=5.9, height=3.0)
plot.curves(
    axes[0],
    {"training loss": losses},
    xlabel="gradient step",
    ylabel="mean logistic loss",
)
plot.decision_boundary(
    axes[1],
    lambda g: torch.sigmoid(net(g.double()).squeeze(1)),
    x_moons,
    y_moons,
    proba=True,
    margin=0.4,
    names=["moon 0", "moon 1"],
)
axes[1].set_title("P(moon 1 | x) of the trained network; black: 0.5")
axes[1].legend(loc="lower left", fontsize=8)
plot.show(fig)

# %% [markdown]
# A curved boundary separates the two moons, something no single neuron can
# draw, and the test accuracy printed above, on 1,000 fresh points, is far
# above chance. The engine is slow — it handles one number at a time in
# Python — but it contains every idea of PyTorch's autograd. PyTorch applies
# the same recipe to *tensors*: each node is a whole array, each local
# derivative a vector–Jacobian product implemented in fast compiled code.
#
# ## Automatic differentiation in PyTorch
#
# PyTorch {cite}`paszke2017automatic,paszke2019pytorch` records the graph as
# the code runs. A tensor created with `requires_grad=True` is a leaf whose
# gradient we want; every operation on it creates a node that remembers its
# inputs (`grad_fn`), and `backward()` runs reverse mode from there.

# %%
a = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
b = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
e = (a + b) * (b + 1)
print(
    f"e = {e.item()}, e.grad_fn = {type(e.grad_fn).__name__}, "
    f"its inputs: {[type(fn).__name__ for fn, _ in e.grad_fn.next_functions]}"
)
e.backward()
print(f"de/da = {a.grad.item()}, de/db = {b.grad.item()}")

# %% tags=["remove-cell"]
assert (a.grad.item(), b.grad.item()) == (2.0, 5.0)

# %% [markdown]
# The graph of {eq}`eq-toy` is visible in `grad_fn`: a multiplication whose
# inputs are two additions. As in our engine, the leaves' `.grad`
# **accumulates**. If we compute $e$ again and call `backward` without
# clearing, the gradients double:

# %%
e = (a + b) * (b + 1)  # a new forward pass, a new graph
e.backward()
doubled = (a.grad.item(), b.grad.item())
print(f"without zeroing: de/da = {doubled[0]}, de/db = {doubled[1]}")
a.grad = None  # what optimizer.zero_grad() does (set_to_none=True is the default)
b.grad = None
((a + b) * (b + 1)).backward()
print(f"after zeroing:   de/da = {a.grad.item()}, de/db = {b.grad.item()}")

# %% tags=["remove-cell"]
assert doubled == (4.0, 10.0), (
    "without zero_grad the second backward must double the gradients"
)
assert (a.grad.item(), b.grad.item()) == (2.0, 5.0)

# %% [markdown]
# In a training loop every step would add the new gradient to all the old
# ones, so every step must begin with `optimizer.zero_grad()` (or
# `model.zero_grad()`). The accumulation is deliberate, though: a node used
# twice needs it, and it lets a batch too large for memory be processed in
# pieces. Four micro-batches of 15 examples, each loss weighted by 15/60,
# accumulate exactly the gradient of one batch of 60:

# %%
w = torch.tensor(
    [0.3, -0.2], dtype=torch.float64, requires_grad=True
)  # logistic regression
x64, y64 = x_moons.double(), y_moons.double()
F.binary_cross_entropy_with_logits(x64 @ w, y64).backward()  # one batch of N
grad_full, w.grad = w.grad.clone(), None
for xb, yb in zip(
    x64.split(15), y64.split(15)
):  # micro-batches, no zero_grad in between
    (F.binary_cross_entropy_with_logits(xb @ w, yb) * len(yb) / len(y64)).backward()
print(f"full batch {grad_full.tolist()}\naccumulated {w.grad.tolist()}")

# %% tags=["remove-cell"]
assert torch.allclose(grad_full, w.grad, rtol=1e-12, atol=1e-15), (
    "accumulated micro-batches must equal one batch"
)

# %% [markdown]
# The two gradients agree to rounding. Recording the graph costs memory:
# every node keeps the inputs its local derivatives need. When no gradient is
# wanted — evaluating a model, or updating its parameters — the context
# `torch.no_grad()` switches the recording off:

# %%
w = torch.tensor(1.5, requires_grad=True)
y_rec = w * 2
with torch.no_grad():
    y_off = w * 2
print(
    f"recorded:    requires_grad={y_rec.requires_grad}, "
    f"grad_fn={type(y_rec.grad_fn).__name__}"
)
print(f"in no_grad:  requires_grad={y_off.requires_grad}, grad_fn={y_off.grad_fn}")

# %% tags=["remove-cell"]
assert y_rec.requires_grad and y_rec.grad_fn is not None
assert not y_off.requires_grad and y_off.grad_fn is None

# %% [markdown]
# `no_grad` is also how a parameter is updated by hand: the update itself
# must not become part of the next graph. Finally, an optimizer is nothing
# but that update, packaged. We train two copies of the same small network
# (2–2–1 with sigmoids) side by side, one with a hand-written gradient step
# $\theta \leftarrow \theta - \eta\,\nabla_\theta\mathcal{L}$ and one with
# `torch.optim.SGD`, on `device`.

# %%
import copy

torch.manual_seed(0)
net_manual = nn.Sequential(
    nn.Linear(2, 2), nn.Sigmoid(), nn.Linear(2, 1), nn.Sigmoid()
).to(device)
net_optim = copy.deepcopy(net_manual)
optimizer = torch.optim.SGD(net_optim.parameters(), lr=0.5)
xd, yd = x_moons.to(device), y_moons.float().to(device)

# %% [markdown]
# Each step computes the loss, clears and fills the gradients, and updates,
# once by hand and once with `optimizer.step()`.

# %%
for _ in range(25):
    net_manual.zero_grad()
    F.binary_cross_entropy(net_manual(xd).squeeze(1), yd).backward()
    with torch.no_grad():  # the update is not part of any graph
        for p in net_manual.parameters():
            p -= 0.5 * p.grad
    optimizer.zero_grad()
    F.binary_cross_entropy(net_optim(xd).squeeze(1), yd).backward()
    optimizer.step()
pairs = zip(net_manual.parameters(), net_optim.parameters())
step_diff = max((p - q).abs().max().item() for p, q in pairs)
print(
    "after 25 steps: max |manual - optimizer.step()| over all parameters = "
    f"{step_diff:.1e}"
)

# %% tags=["remove-cell"]
assert step_diff <= 1e-6, (
    "a manual gradient step and SGD.step() must give the same parameters"
)
with torch.random.fork_rng(devices=[]):  # rebuild the start; leave the RNG as it was
    torch.manual_seed(0)
    net_start = nn.Sequential(
        nn.Linear(2, 2), nn.Sigmoid(), nn.Linear(2, 1), nn.Sigmoid()
    ).to(device)
assert any(
    (p != q).any() for p, q in zip(net_start.parameters(), net_optim.parameters())
), "training must move them"

# %% [markdown]
# The two networks end with the same parameters (the difference printed
# above is zero, or at the level of float32 rounding if the device fuses the
# multiply and the add). Later chapters use optimizers that do more than
# this — momentum, adaptive step sizes — but they all consume the `.grad`
# fields that reverse-mode autodiff fills.

# %% [markdown]
# ## Forward and reverse mode in `torch.func`
#
# Autograd's `backward` is reverse mode for a scalar. The module `torch.func`
# offers both modes as plain functions. `jvp(f, (x,), (v,))` runs **forward
# mode**: in the same pass as $f(\mathbf{x})$ it carries a tangent, as the
# `Dual` numbers of Exercise 3 do, and returns the Jacobian-vector product
# $J\mathbf{v}$, the derivative of $f$ along $\mathbf{v}$. `vjp(f, x)` runs
# **reverse mode**: it returns $f(\mathbf{x})$ and a function that maps a
# cotangent $\mathbf{u}$ to $\mathbf{u}^\top J$; for a scalar $f$ and
# $u = 1$ that is the whole gradient. We check both on {eq}`eq-fxy` against
# our hand computations.

# %%
from torch.func import jacfwd, jacrev, jvp, vjp


def f_torch(xy):  # equation (eq-fxy) on a tensor (x, y)
    b = xy[1] * xy[0].log()
    return b + b.sqrt()


xy = torch.tensor([3.0, 2.0], dtype=torch.float64)
along_x = torch.tensor([1.0, 0.0], dtype=torch.float64)
_, df_dx_jvp = jvp(f_torch, (xy,), (along_x,))  # one forward pass: one direction
_, pull_back = vjp(f_torch, xy)
(grad_vjp,) = pull_back(torch.tensor(1.0, dtype=torch.float64))  # all inputs at once
print(f"jvp along x: {df_dx_jvp.item():.15f}  (hand forward mode {df_dx_fwd:.15f})")
print(f"vjp:  {grad_vjp[0]:.15f}, {grad_vjp[1]:.15f}")
print(f"hand: {x_bar:.15f}, {y_bar:.15f}  (reverse mode)")

# %% tags=["remove-cell"]
assert abs(df_dx_jvp.item() - df_dx_fwd) < 1e-14
assert abs(grad_vjp[0] - x_bar) < 1e-14 and abs(grad_vjp[1] - y_bar) < 1e-14

# %% [markdown]
# `jacfwd` and `jacrev` build a whole Jacobian from these: `jacfwd` pushes
# one tangent per input through the function (vectorised with `vmap`),
# `jacrev` pulls one cotangent per output back. For the trained moons network,
# a map from 2 inputs to one score, both must equal what our engine computes
# when the input point itself is made of `Value`s.

# %%
point_m = x_moons[0].double()
x_values = [Value(v) for v in point_m.tolist()]
mlp(x_values).backward()  # the engine: d score / d input
grad_engine_x = torch.tensor([v.grad for v in x_values], dtype=torch.float64)
score = lambda p: net(p).squeeze(0)  # noqa: E731  (R^2 -> R)
J_fwd_m, J_rev_m = jacfwd(score)(point_m), jacrev(score)(point_m)
print(f"engine {grad_engine_x.tolist()}")
print(f"jacfwd {J_fwd_m.tolist()}\njacrev {J_rev_m.tolist()}")

# %% tags=["remove-cell"]
scale_m = grad_engine_x.abs().max().item()
assert (J_fwd_m - grad_engine_x).abs().max() <= 1e-12 * scale_m
assert (J_rev_m - grad_engine_x).abs().max() <= 1e-12 * scale_m

# %% [markdown]
# What does a gradient cost? Reverse mode runs the forward pass, keeps its
# values, and then one backward pass; for a matrix product $Y = XW$ the
# backward pass computes $\bar X = \bar Y W^\top$ and $\bar W = X^\top \bar Y$,
# two products of the forward's size, so a gradient should cost a small
# multiple, about three, of one forward pass {cite}`griewank2008evaluating`.
# We measure it on the CPU for an MLP with two hidden layers of
# `cfg.func_width` tanh units on a batch of `cfg.func_batch` examples (the
# median of several runs, since this machine may be busy), and compare
# `jacfwd` with `jacrev` for the gradient of one score with respect to its
# `cfg.func_width` inputs.


# %%
def median_seconds(fn, reps: int) -> float:
    fn()  # warm-up: first calls allocate memory
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[reps // 2]


# %%
torch.manual_seed(0)
n_w = cfg.func_width
deep = nn.Sequential(nn.Linear(n_w, n_w), nn.Tanh(), nn.Linear(n_w, n_w), nn.Tanh())
deep.append(nn.Linear(n_w, 1))  # float32, on the CPU
x_cost = torch.randn(cfg.func_batch, n_w)
t_forward = median_seconds(lambda: deep(x_cost).square().mean().detach(), 7)
t_gradient = median_seconds(lambda: deep(x_cost).square().mean().backward(), 7)
cost_ratio = t_gradient / t_forward
print(f"forward {1e3 * t_forward:.1f} ms, forward + backward {1e3 * t_gradient:.1f} ms")
print(f"a gradient costs {cost_ratio:.1f} forward passes")

# %% [markdown]
# The Jacobian of the network's output with respect to one input vector, by
# forward mode (one tangent per input) and by reverse mode (one output):

# %%
one = x_cost[0]
t_jacfwd = median_seconds(lambda: jacfwd(lambda p: deep(p).squeeze(0))(one), 7)
t_jacrev = median_seconds(lambda: jacrev(lambda p: deep(p).squeeze(0))(one), 7)
print(
    f"jacfwd ({n_w} tangents) {1e3 * t_jacfwd:.1f} ms, jacrev {1e3 * t_jacrev:.1f} ms"
)

# %% tags=["hide-cell"]
# Loose bounds, for a busy machine: a gradient includes a forward pass, so it
# costs more than one, and reverse mode costs a small multiple of it, far
# below one pass per input (n_w); forward mode needs n_w tangents for this one
# gradient and must be clearly slower than one reverse pass.
assert 1.0 < cost_ratio < 10, f"gradient / forward = {cost_ratio:.2f}"
assert t_jacfwd > 2 * t_jacrev, "n_w forward-mode tangents must cost more than 1 vjp"
J_check = jacfwd(lambda p: deep(p).squeeze(0))(one)
assert torch.allclose(J_check, jacrev(lambda p: deep(p).squeeze(0))(one), atol=1e-6)

# %% [markdown]
# A gradient costs the small multiple printed above of a forward pass,
# whatever the number of parameters: this is the **cheap gradient principle**
# that makes training large networks possible. Forward mode, which needs one
# tangent per input, builds the same gradient of one score with respect to
# its inputs far more slowly. It wins where a function has few inputs and
# many outputs, and `jvp` is also the cheap way to get one directional
# derivative, for example a Hessian-vector product as `jvp` of a gradient.
#
# ## Summary
#
# - A computation graph records how a value was computed from elementary
#   operations. The chain rule of total derivatives {eq}`eq-total-chain-rule`
#   sums, over all paths, products of local derivatives.
# - Forward and reverse mode evaluate the same product of Jacobians
#   {eq}`eq-jacobian-chain` in opposite orders. For one scalar loss and many
#   parameters reverse mode is far cheaper: 64 times for the Jacobian chain
#   we counted (the ratio depends on all the widths, not only on the number
#   of inputs), and, as passes, one backward pass against one forward-mode
#   pass per input. Its price is keeping the forward values in memory.
# - Reverse mode (backpropagation) is a topological sort plus one sweep of
#   {eq}`eq-adjoint`; gradients accumulate with `+=`, which handles nodes
#   used several times. The `Value` written out in this chapter (also
#   `dlbook.engine.Value`) does this in a few short cells, equals
#   `torch.autograd` to rounding error, and trains a small MLP.
# - Finite differences trade truncation against round-off and need one
#   evaluation per input: a gradient check, not a training method. Symbolic
#   differentiation is exact but its formulas swell; autodiff works on the
#   executed program and costs a small multiple of one evaluation.
# - In PyTorch: `requires_grad` marks leaves, `backward()` fills `.grad`,
#   gradients accumulate (hence `zero_grad()` every step), `torch.no_grad()`
#   stops recording, and `optimizer.step()` is the manual update packaged.
#
# ## Exercises
#
# **Exercise 1 (a new operation).** Add softplus,
# $\mathrm{softplus}(u) = \log(1 + e^u)$, as a *single* engine operation,
# without editing the class: build a `Value` from its data, its parent and
# its local derivative (which function is it?). Compute it stably for large
# $|u|$. Check value and gradient against `torch.nn.functional.softplus`,
# and count the nodes it saves in {eq}`eq-moons-loss`.


# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Solution to Exercise 1. softplus'(u) = e^u / (1 + e^u) = sigmoid(u): the
# derivative of softplus is the sigmoid. Written as max(u, 0) + log(1 + e^-|u|)
# it never overflows, where log(1 + e^u) fails for u > 709.
def softplus(u: Value) -> Value:
    x = u.data
    out = max(x, 0.0) + math.log1p(math.exp(-abs(x)))  # log(1 + e^x), no overflow
    return Value(out, parents=(u,), local_grads=(u.sigmoid().data,), op="softplus")


for u0 in [-800.0, -30.0, -2.5, 0.0, 0.7, 40.0, 800.0]:
    u, ut = Value(u0), torch.tensor(u0, dtype=torch.float64, requires_grad=True)
    sp_u, sp_t = softplus(u), F.softplus(ut)
    sp_u.backward()
    sp_t.backward()
    assert abs(sp_u.data - sp_t.item()) <= 1e-15 * max(1.0, abs(u0))
    assert abs(u.grad - ut.grad.item()) <= 1e-15


def moons_loss_softplus(model, x, y):  # eq-moons-loss with the single operation
    total = Value(0.0)
    for xi, yi in zip(x.tolist(), y.tolist()):
        total = total + softplus(-(2.0 * yi - 1.0) * model(xi))
    return total / len(x)


loss_3ops, loss_1op = (
    moons_loss(mlp, x_moons, y_moons),
    moons_loss_softplus(mlp, x_moons, y_moons),
)
n_3ops, n_1op = len(topological_order(loss_3ops)), len(topological_order(loss_1op))
print(f"moons loss: {n_3ops:,} nodes with exp, + 1, log; {n_1op:,} with softplus")
print(f"saved: {n_3ops - n_1op} = 2 per training example, N = {len(x_moons)}")
assert n_3ops - n_1op == 2 * len(x_moons), "three nodes become one per example"
assert abs(loss_3ops.data - loss_1op.data) < 1e-12

# %% [markdown]
# **Exercise 2 (the best order).** Neither pure forward nor pure reverse
# mode is optimal for every chain {eq}`eq-jacobian-chain`. Find the cheapest
# parenthesisation by dynamic programming, as for the classical
# matrix-chain problem, and compare it with both modes for the widths
# `[16, 512, 16, 512, 16]` and for the shrinking widths used above.


# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Solution to Exercise 2. cost[i][j] is the cheapest product J_j ... J_i, of
# shape (n_j, n_{i-1}); split[i][j] remembers where its last product splits.
def best_chain(widths: list[int]) -> tuple[int, str]:
    L = len(widths) - 1
    cost = [[0] * (L + 1) for _ in range(L + 1)]
    split = [[0] * (L + 1) for _ in range(L + 1)]
    for span in range(1, L):
        for i in range(1, L - span + 1):
            j = i + span
            cost[i][j], split[i][j] = min(
                (cost[i][k] + cost[k + 1][j] + widths[j] * widths[k] * widths[i - 1], k)
                for k in range(i, j)
            )
    return cost[1][L], bracket(split, 1, L)


def bracket(split, i: int, j: int) -> str:  # J_j ... J_i with its best brackets
    if i == j:
        return f"J{i}"
    k = split[i][j]
    return f"({bracket(split, k + 1, j)} {bracket(split, i, k)})"


# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Solution to Exercise 2, continued: the best order against both pure modes.
best_orders = {}
for ws in ([16, 512, 16, 512, 16], widths):
    js = [torch.zeros(ws[i + 1], ws[i]) for i in range(len(ws) - 1)]
    fwd, rev = chain_product(js, "forward")[1], chain_product(js, "reverse")[1]
    best_orders[tuple(ws)] = best, order = best_chain(ws)
    print(f"{ws}: forward {fwd:,}, reverse {rev:,}, best {best:,} as {order}")
    assert best <= min(fwd, rev)
# Answer: for the chain that widens and narrows twice, the best order
# multiplies the two halves separately and joins them, (J4 J3)(J2 J1), and
# beats both pure modes; for the shrinking chain, reverse mode is optimal.
# Real autodiff systems nevertheless use pure reverse mode for gradients: the
# Jacobians are never formed as matrices, only multiplied by vectors.
best_wide, order_wide = best_orders[(16, 512, 16, 512, 16)]
assert order_wide == "((J4 J3) (J2 J1))" and best_wide < 0.7 * 393_216
assert best_orders[tuple(widths)] == (cost_rev, "(((J4 J3) J2) J1)"), (
    "for a shrinking chain ending in a scalar, reverse mode is optimal"
)

# %% [markdown]
# **Exercise 3 (forward mode with dual numbers).** Implement forward mode as
# a class `Dual` holding a value and a tangent $(v, \dot v)$, with `+`, `*`,
# `log` and `sqrt`. Compute the gradient of {eq}`eq-fxy` at $(3, 2)$ with
# it. How many passes does it need, and how many would it need for the
# gradient of the moons network's loss?


# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Solution to Exercise 3. Answer: forward mode needs one pass per input: two
# here, one per parameter for a network, against a single backward pass in
# reverse mode.
class Dual:
    """A value and its derivative along one input direction: forward-mode autodiff."""

    def __init__(self, val: float, dot: float = 0.0):
        self.val, self.dot = val, dot

    def __add__(self, other):
        other = other if isinstance(other, Dual) else Dual(other)
        return Dual(self.val + other.val, self.dot + other.dot)

    def __mul__(self, other):
        other = other if isinstance(other, Dual) else Dual(other)
        dot = self.dot * other.val + self.val * other.dot  # product rule
        return Dual(self.val * other.val, dot)

    def log(self):
        return Dual(math.log(self.val), self.dot / self.val)

    def sqrt(self):
        return Dual(math.sqrt(self.val), self.dot / (2 * math.sqrt(self.val)))


def f_xy(x, y):
    return y * x.log() + (y * x.log()).sqrt()


grad_dual = [
    f_xy(Dual(3.0, 1.0), Dual(2.0)).dot,
    f_xy(Dual(3.0), Dual(2.0, 1.0)).dot,
]  # one pass per input
print(f"forward mode, 2 passes: {grad_dual}; reverse mode would need 1 pass.")
print(
    f"for the moons network: {len(mlp.parameters())} forward passes vs 1 backward pass"
)
assert abs(grad_dual[0] - exact_fx) < 1e-14 and abs(grad_dual[1] - exact_fy) < 1e-14

# %% [markdown]
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
