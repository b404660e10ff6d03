# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# (ch-mlp)=
# # Multilayer perceptrons
#
# ```{admonition} Learning objectives
# :class: tip
# After this chapter you can
# - write a multilayer perceptron as a composition of layers of parallel units, and count its parameters;
# - state the common activation functions, their derivatives and the softmax Jacobian, and choose a loss for a task;
# - derive backpropagation for a two-layer network by hand (the delta rule) and train XOR with it;
# - state the universal approximation theorem and explain what depth adds (folding, linear regions);
# - explain why infinitely wide random networks are Gaussian processes, and train an MLP on Fashion-MNIST.
# ```
#
# {ref}`ch-perceptron` ended with two limits of a single layer: the
# perceptron cannot learn XOR, and softmax regression, a linear model, leaves
# many Fashion-MNIST images misclassified. The cure is to stack layers of
# neurons with a nonlinearity between them. This chapter builds such
# *multilayer perceptrons* (MLPs) piece by piece — units, activations,
# losses — trains one by hand with backpropagation, asks what such networks
# can represent, and ends with a real classifier. Gradients come from
# {ref}`ch-autodiff`; here we also derive them once by hand to see what
# autograd does for a network.

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
# Most experiments here are tiny networks on toy data; the profile sets how
# many random restarts and training steps they get, how many random networks
# the Gaussian-process section samples, and how much of Fashion-MNIST the
# final classifier sees.

# %%
import itertools
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from dlbook import check, data, mlp, plot
from dlbook.engine import add_to_class
from dlbook.mlp import check_logits, check_mlp, class_labels, hidden_layer

# %% [markdown]
# In the configuration, `xor_seeds` counts restarts per setting, `n_nets` the
# random networks sampled and `n_train` the training images (`None`: all);
# `eq_*` sizes the equal-size 1-D comparison and `act_*` the activations in
# training. The XOR grid, the universal-approximation fits, the spirals, the
# 1-D task and the random networks run on the CPU in float64 (or tiny
# float32), so the gpu profile keeps their cpu sizes; only the Fashion-MNIST
# sections grow.

# %%
# fmt: off
cpu_sizes = dict(xor_seeds=40, xor_steps=1_500, uat_steps=800, depth_steps=500,
                 n_nets=8_000, n_train=None, epochs=10, hidden=[256],
                 eq_seeds=8, eq_steps=1_500, act_train=8_000, act_steps=500)
# uat_steps: keep below ~1,600; beyond it Adam at a constant 0.01 starts to spike
cfg = dlbook.config(
    smoke=dict(xor_seeds=16, xor_steps=1000, uat_steps=250, depth_steps=200,
               n_nets=2_000, n_train=6_000, epochs=3, hidden=[256],
               eq_seeds=8, eq_steps=600, act_train=4_000, act_steps=200),
    cpu=cpu_sizes, gpu=cpu_sizes | dict(epochs=30, hidden=[1024]),
)
# fmt: on
cfg

# %% [markdown]
# ## From neurons to layers to networks
#
# A *layer* is $q$ neurons that look at the same input
# $\mathbf{x}\in\mathbb{R}^p$. Neuron $i$ has its own weights
# $\mathbf{w}_i$ and bias $b_i$; stacking the $\mathbf{w}_i^\top$ as the rows
# of a matrix $W \in \mathbb{R}^{q\times p}$ computes all of them at once:
#
# $$
# \mathbf{h} = a(W\mathbf{x} + \mathbf{b}), \qquad h_i = a(\mathbf{w}_i^\top\mathbf{x} + b_i),\quad i = 1,\dots,q,
# $$ (eq-layer)
#
# with the activation $a$ applied entry by entry. A *multilayer perceptron*
# composes $L$ such layers, the last one usually without activation (its
# outputs are the scores, or logits, that a loss turns into probabilities):
#
# $$
# f(\mathbf{x}) = W_L\, a\big(W_{L-1} \cdots a(W_1\mathbf{x} + \mathbf{b}_1) \cdots + \mathbf{b}_{L-1}\big) + \mathbf{b}_L .
# $$ (eq-mlp)
#
# The layers between input and output are *hidden*: the data never say what
# they should compute. First, that a layer really is $q$ neurons side by side:

# %%
layer = nn.Linear(3, 4)  # p = 3 inputs, q = 4 neurons
x = torch.randn(5, 3)  # a batch of 5 inputs
one_at_a_time = torch.stack(
    [torch.sigmoid(x @ layer.weight[i] + layer.bias[i]) for i in range(4)], dim=1
)
all_at_once = torch.sigmoid(layer(x))  # one matrix product: x W^T + b
print(
    f"shape {tuple(all_at_once.shape)}, "
    f"max difference {(one_at_a_time - all_at_once).abs().max():.1e}"
)

# %% tags=["remove-cell"]
assert torch.allclose(one_at_a_time, all_at_once)

# %% [markdown]
# The book's `MLP` builder strings `nn.Linear` layers and activations
# together from a list of widths; later chapters import it from
# `dlbook.mlp`, which holds this same code. `check_mlp` refuses bad widths,
# activations or dropout rates with a clear message, and `hidden_layer`
# returns `[nn.Linear(n_in, n_out), activation]` (for maxout, a wider linear
# layer and the maximum over groups of its outputs).


# %% tags=["dlbook:mlp"]
class MLP(nn.Sequential):
    """Flatten, then Linear, activation[, Dropout], ..., Linear: raw scores out."""

    def __init__(self, sizes, activation="relu", dropout=0.0, *, maxout_pieces=2):
        sizes = check_mlp(sizes, activation, dropout)  # [n_in, hidden..., n_out]
        layers = [nn.Flatten()]  # images (N, 1, 28, 28) -> (N, 784)
        for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):  # the hidden layers
            layers += hidden_layer(n_in, n_out, activation, maxout_pieces)
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(sizes[-2], sizes[-1]))  # scores, no activation
        super().__init__(*layers)
        self.sizes, self.activation = sizes, activation


# %% [markdown]
# Slicing an `nn.Sequential` builds a new object of the same class from the
# chosen layers, which `MLP.__init__` cannot take. We give `MLP` its own
# indexing, with `add_to_class` from {ref}`ch-autodiff`: a slice `net[a:b]` is a
# plain `nn.Sequential` of those layers.


# %% tags=["dlbook:mlp"]
@add_to_class(MLP)
def __getitem__(self, idx):  # net[a:b] is a plain nn.Sequential of those layers
    if isinstance(idx, slice):
        return nn.Sequential(*list(self)[idx])
    return nn.Sequential.__getitem__(self, idx)


# %% [markdown]
# Layer $l$ has an $n_l \times n_{l-1}$ weight matrix and $n_l$ biases, so an
# MLP with widths $n_0, n_1, \dots, n_L$ has
#
# $$
# P = \sum_{l=1}^{L} (n_{l-1} + 1)\, n_l
# $$ (eq-n-params)
#
# parameters ({numref}`fig-mlp-layers` ties each matrix's shape to the two
# layers it connects). We check the formula on the network we will train on
# Fashion-MNIST at the end of the chapter, and on two small ones.

# %% [markdown]
# :::{figure} ../figs/mlp_layers.svg
# :name: fig-mlp-layers
# :alt: Four columns of circles (3 inputs, two hidden layers of 4, 2 outputs) fully connected by thin arrows; under each pair of columns an orange label gives the weight matrix and bias shapes, 4x3, 4x4 and 2x4; the parameter count (3+1)4 + (4+1)4 + (4+1)2 = 46 is written below.
# :width: 100%
# A multilayer perceptron with widths $(3, 4, 4, 2)$: every neuron of a layer sees
# every output of the layer before, through the weight matrix $W_l$ of shape
# $n_l \times n_{l-1}$ and the bias $\mathbf{b}_l$. The last layer has no
# activation; its outputs are the logits. The count at the bottom is
# {eq}`eq-n-params`.
# :::

# %%
for sizes in ([784, 10], [784, *cfg.hidden, 10], [2, 32, 8, 3]):
    net = MLP(sizes, "relu")
    formula = sum(
        (n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:])
    )  # equation (eq-n-params)
    counted = sum(p.numel() for p in net.parameters())
    print(f"{str(sizes):>22}: formula {formula:>9,}  counted {counted:>9,}")
    assert formula == counted == mlp.n_parameters(sizes)
print(MLP([784, *cfg.hidden, 10], "relu"))

# %% [markdown]
# The printed module shows the structure of {eq}`eq-mlp`: a `Flatten` (so
# images can be fed directly), then linear layers with activations between
# them and none after the last. Almost all parameters sit in the first layer,
# which sees 784 pixels.
#
# ## Activation functions
#
# Without the activation, {eq}`eq-mlp` collapses: a product of matrices is one
# matrix, and the network is a linear model however deep it is. The
# activation must be nonlinear, and for gradient descent it should have a
# useful derivative. The table lists the usual choices.
#
# | name | $a(z)$ | $a'(z)$ |
# |---|---|---|
# | identity | $z$ | $1$ |
# | step | $1$ if $z\ge0$, else $0$ | $0$ (undefined at 0) |
# | sigmoid | $\sigma(z)=1/(1+e^{-z})$ | $\sigma(z)(1-\sigma(z))$ |
# | tanh | $\tanh z = 2\sigma(2z)-1$ | $1-\tanh^2 z$ |
# | arctan | $\arctan z$ | $1/(1+z^2)$ |
# | ReLU | $\max(0,z)$ | $1$ if $z>0$, else $0$ |
# | leaky ReLU | $\max(\alpha z, z)$, $\alpha=0.01$ | $1$ if $z\ge0$, else $\alpha$ |
# | PReLU | as leaky ReLU, $\alpha$ learned | as leaky ReLU |
# | ELU | $z$ if $z>0$, else $\alpha(e^z-1)$ | $1$ if $z>0$, else $a(z)+\alpha$ |
# | softplus | $\log(1+e^z)$ | $\sigma(z)$ |
# | maxout | $\max_k(\mathbf{w}_k^\top\mathbf{x}+b_k)$ | $1$ for the largest piece, $0$ for the others |
#
# The sigmoid and tanh are smooth versions of the step; their derivatives
# are expressed through the function values, which backpropagation has
# already computed. The rectified linear unit (ReLU)
# {cite}`nair2010rectified` has slope exactly 1 where it is active, which
# keeps gradients from shrinking layer after layer ({ref}`ch-optimization` makes this
# precise); its variants give the negative side a small slope, fixed (leaky
# ReLU {cite}`maas2013rectifier`), learned (PReLU {cite}`he2015delving`) or
# saturating smoothly (ELU {cite}`clevert2016fast`). Softplus is a smooth
# ReLU whose derivative is the sigmoid. Maxout {cite}`goodfellow2013maxout`
# learns its activation: the maximum of $k$ affine functions is any convex
# piecewise-linear function with $k$ pieces (the pieces $(z, 0)$ give a ReLU,
# $(z, -z)$ the absolute value). The implementations in `dlbook.mlp` are
# written out in the same way; here is the sigmoid, arranged so that only
# $e^{-|z|} \le 1$ is ever computed. The textbook form $e^z/(1+e^z)$ gives
# $\infty/\infty$, a `nan`, at $z = 1000$.


# %% tags=["dlbook:mlp"]
def sigmoid(z):
    """The logistic sigmoid 1 / (1 + exp(-z)), without overflow for any z."""
    e = torch.exp(-check.tensor(z, "z", floating=True).abs())  # in (0, 1]
    return torch.where(z >= 0, 1 / (1 + e), e / (1 + e))


z_far = torch.tensor([-1000.0, -20.0, 0.0, 20.0, 1000.0], dtype=torch.float64)
print("sigmoid:            ", sigmoid(z_far).tolist())
print("e^z / (1 + e^z):    ", (torch.exp(z_far) / (1 + torch.exp(z_far))).tolist())

# %% tags=["remove-cell"]
z_all = torch.cat([z_far, torch.linspace(-40, 40, 8001, dtype=torch.float64)])
assert torch.allclose(sigmoid(z_all), torch.sigmoid(z_all), rtol=1e-15, atol=0), (
    "must equal PyTorch's sigmoid to rounding"
)
assert (torch.exp(z_far) / (1 + torch.exp(z_far)))[-1].isnan(), "the naive form: nan"

# %% [markdown]
# Each closed-form derivative in `mlp.DERIVATIVES` should agree with what
# autograd computes by differentiating the function's own code. We compare
# them at 2,001 points in $[-5, 5]$, away from the kinks at $z=0$ where a
# derivative does not exist and every library picks a convention.

# %%
z = torch.linspace(-5, 5, 2001, dtype=torch.float64)
z = z[z.abs() > 1e-9]  # leave out the kink at 0
kwargs = {"prelu": dict(alpha=torch.tensor(0.25, dtype=torch.float64))}
worst = {}
for name, f in mlp.ACTIVATIONS.items():
    zz, kw = z.clone().requires_grad_(), kwargs.get(name, {})
    out = f(zz, **kw)
    grad = torch.zeros_like(z)  # the step function builds no graph
    if out.requires_grad:
        grad = torch.autograd.grad(out.sum(), zz)[0]
    worst[name] = (mlp.derivative(name, z, **kw) - grad).abs().max().item()
print(
    "max |closed form - autograd|:", ", ".join(f"{k} {v:.0e}" for k, v in worst.items())
)

# %% tags=["remove-cell"]
assert max(worst.values()) < 1e-12, "every closed-form derivative must match autograd"

# %% [markdown]
# All agree to rounding error. {numref}`fig-mlp-activations` shows each function (solid) with
# its derivative (dashed). The maxout panel uses three pieces,
# $\max(z,\ -z/2 - 1/2,\ 0.3z + 0.8)$.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Eleven activation functions $a(z)$ (solid) with their derivatives $a'(z)$ (dashed).", "name": "fig-mlp-activations"}, "image": {"alt": "A three-by-four grid of small plots: sigmoid-shaped, ramp-shaped and piecewise-linear curves with their derivatives."}}
zp = torch.linspace(-4, 4, 801)
pieces = torch.stack(
    [zp, -0.5 * zp - 0.5, 0.3 * zp + 0.8], -1
)  # (801, 3) affine pieces of a maxout unit
maxout_value = mlp.maxout(pieces, 3)[:, 0]
maxout_slope = torch.tensor([1.0, -0.5, 0.3])[pieces.argmax(-1)]
fig, axes = plot.subplots(3, 4, width=7, height=5.6, sharex=True)
for ax, name in zip(axes.flat, list(mlp.ACTIVATIONS) + ["maxout"]):
    if name == "maxout":
        value, slope = maxout_value, maxout_slope
    else:
        kw = {"alpha": torch.tensor(0.25)} if name == "prelu" else {}
        value, slope = mlp.ACTIVATIONS[name](zp, **kw), mlp.derivative(name, zp, **kw)
    ax.plot(zp, value, label="$a(z)$")
    ax.plot(zp, slope, "--", label="$a'(z)$")
    ax.set_title(name + (" ($\\alpha$=0.25)" if name == "prelu" else ""))
    ax.set_ylim(-2, 4)
axes.flat[-1].set_axis_off()
axes.flat[0].legend(loc="upper left")
for ax in axes[-1]:
    ax.set_xlabel("$z$")
plot.show(fig)

# %% [markdown]
# The sigmoid's slope never exceeds $1/4$ and vanishes for large $|z|$ — a
# saturated unit passes almost no gradient back. The ReLU family keeps slope
# 1 on the positive side, at the price of a kink; the ReLU itself has slope 0
# for all $z<0$, so a unit that is never active never learns ("dies"), which
# is what the leaky variants avoid.
#
# ### The softmax and its Jacobian
#
# The softmax is an activation with a vector input: it turns $K$ scores
# $\mathbf{z}$ into probabilities,
# $s_i = e^{z_i}/\sum_j e^{z_j}$. Differentiating the quotient gives
# $\partial s_i/\partial z_k = s_i(1-s_k)$ for $i=k$ and $-s_i s_k$
# otherwise, i.e.
#
# $$
# \frac{\partial \mathbf{s}}{\partial \mathbf{z}} = \operatorname{diag}(\mathbf{s}) - \mathbf{s}\mathbf{s}^\top .
# $$ (eq-softmax-jacobian)
#
# Every row sums to zero, because adding a constant to all scores leaves the
# softmax unchanged. We write the softmax and {eq}`eq-softmax-jacobian` out
# and compare the formula with the Jacobian that reverse mode
# (`torch.func.jacrev`) assembles from PyTorch's own softmax.


# %% tags=["dlbook:mlp"]
def softmax(z, dim=-1):
    """exp(z_k) / sum_j exp(z_j) along `dim`; the maximum is subtracted first."""
    e = torch.exp(z - check.tensor(z, "z", floating=True).amax(dim, keepdim=True))
    return e / e.sum(dim, keepdim=True)


def softmax_jacobian(z):
    """ds/dz = diag(s) - s s^T over the last dimension: z (..., K) -> (..., K, K)."""
    s = softmax(check_logits(z))  # (..., K); check_logits() refuses a 0-d z
    return torch.diag_embed(s) - s[..., :, None] * s[..., None, :]


# %%
from torch.func import jacrev

z = torch.randn(6, dtype=torch.float64)
jac_formula = softmax_jacobian(z)  # (6, 6)
jac_autograd = jacrev(lambda v: F.softmax(v, dim=-1))(z)
jac_err = (jac_formula - jac_autograd).abs().max().item()
row_sum = jac_formula.sum(1).abs().max()
print(f"max |formula - autograd| = {jac_err:.1e}; largest row sum {row_sum:.1e}")

# %% tags=["remove-cell"]
assert jac_err < 1e-14 and row_sum < 1e-14
assert (softmax(z) - F.softmax(z, dim=-1)).abs().max() < 1e-15

# %% [markdown]
# ## Loss functions
#
# The loss says how wrong an output $\mathbf{o}$ is for a target. For
# regression the natural choices are the squared error
# $\|\mathbf{y}-\mathbf{o}\|_2^2$ (Gaussian noise) and the absolute, or L1,
# error $\|\mathbf{y}-\mathbf{o}\|_1$ (Laplace noise, robust to outliers).
# For classification with $K$ classes, let $\mathbf{y}$ be the one-hot
# target, $c$ the true class, $\mathbf{p}=\operatorname{softmax}(\mathbf{o})$
# and $t_j = 2y_j - 1 \in \{-1,+1\}$. A survey of classification losses
# {cite}`janocha2016loss` compares, among others:
#
# | loss | per example |
# |---|---|
# | cross-entropy (log loss) | $-\log p_c$ |
# | squared log | $(\log p_c)^2$ |
# | expectation | $\|\mathbf{y}-\mathbf{p}\|_1$ |
# | regularised expectation (Brier score {cite}`brier1950verification`) | $\|\mathbf{y}-\mathbf{p}\|_2^2$ |
# | Chebyshev | $\max_j \lvert p_j - y_j\rvert$ |
# | hinge, squared hinge, cubed hinge | $\sum_j \max(0, 1 - t_j o_j)^r$, $r = 1, 2, 3$ |
# | Tanimoto | $1 - \dfrac{\mathbf{p}^\top\mathbf{y}}{\|\mathbf{p}\|^2 + \|\mathbf{y}\|^2 - \mathbf{p}^\top\mathbf{y}}$ |
# | Cauchy–Schwarz divergence | $-\log\dfrac{\mathbf{p}^\top\mathbf{y}}{\|\mathbf{p}\|\,\|\mathbf{y}\|}$ |
#
# We write every loss so that it is $\ge 0$ and $0$ exactly for a perfect
# prediction. The hinge family acts on the raw scores and asks for a *margin*:
# once $t_j o_j \ge 1$ an output is good enough and contributes nothing. The
# multi-class hinge of Weston and Watkins {cite}`weston1999support` instead
# compares the true score with each other score,
# $\frac1K\sum_{j\ne c}\max(0, 1 - o_c + o_j)^r$. We write out the two
# that act on class indices (`class_labels` checks the labels and converts
# them to the int64 that `gather` needs); the others are as short and sit in
# `dlbook.mlp`. Where PyTorch has a built-in, ours must agree with it.


# %% tags=["dlbook:mlp"]
def cross_entropy(scores, labels):
    """Mean of -log softmax(scores)[label]: scores (N, K), labels (N,) class indices."""
    labels = class_labels(scores, labels)  # checked, and int64 for gather
    log_p = scores - torch.logsumexp(scores, dim=1, keepdim=True)  # (N, K)
    return -log_p.gather(1, labels[:, None]).mean()


def multiclass_hinge(scores, labels, *, power=1, margin=1.0):
    """Mean over examples of sum_{j != y} max(0, margin - s_y + s_j)^power / K."""
    labels = class_labels(scores, labels)
    check.positive(power, "power", integer=True)
    correct = scores.gather(1, labels[:, None])  # (N, 1): the true class's score
    viol = (margin - correct + scores).clamp_min(0) ** power  # (N, K)
    viol = viol.scatter(1, labels[:, None], 0.0)  # the true class does not compete
    return viol.sum(1).mean() / scores.shape[1]


# %%
scores = torch.randn(64, 10, dtype=torch.float64)  # (N, K) raw outputs
labels = torch.randint(0, 10, (64,))
onehot = F.one_hot(labels, 10).double()
t_pm = 2 * (labels % 2).double() - 1  # targets in {-1, +1} for one-score losses
pairs = {
    "squared error / F.mse_loss": (
        mlp.squared_error(scores, onehot),
        F.mse_loss(scores, onehot),
    ),
    "L1 / F.l1_loss": (mlp.absolute_error(scores, onehot), F.l1_loss(scores, onehot)),
    "cross-entropy / F.cross_entropy": (
        cross_entropy(scores, labels),
        F.cross_entropy(scores, labels),
    ),
}

# %% [markdown]
# The hinge losses and the logistic loss have built-ins of their own.

# %%
pairs["multi-class hinge / F.multi_margin_loss"] = (
    multiclass_hinge(scores, labels),
    F.multi_margin_loss(scores, labels),
)
pairs["its square / F.multi_margin_loss(p=2)"] = (
    multiclass_hinge(scores, labels, power=2),
    F.multi_margin_loss(scores, labels, p=2),
)
pairs["logistic / F.soft_margin_loss"] = (
    mlp.logistic_loss(scores[:, 0], t_pm),
    F.soft_margin_loss(scores[:, 0], t_pm),
)
for name, (ours, theirs) in pairs.items():
    print(f"{name:>40}: {ours.item():.6f} vs {theirs.item():.6f}")

# %% tags=["remove-cell"]
assert all(torch.allclose(a, b, rtol=1e-12, atol=1e-12) for a, b in pairs.values()), (
    "losses must match PyTorch"
)

# %% [markdown]
# The six pairs agree. PyTorch's `multi_margin_loss` stops at $r=2$, so the
# cubed forms have no built-in to compare with. {numref}`fig-mlp-losses` shows how the
# losses punish an output. On the left, binary losses as a function of the
# margin $m = t\,o$ (positive: the right side of the boundary): the hinge
# family is exactly zero beyond $m=1$, the logistic loss keeps pushing
# gently, and the squared and L1 errors (dotted; below $m=1$ they coincide
# with the squared hinge and the hinge) even punish outputs that are *too*
# right ($m>1$). On the right, the softmax-based losses as a function of the
# probability $p_c$ given to the true class (the other nine classes share
# the rest equally).

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Left: binary losses as functions of the margin $m = t\\,o$. Right: softmax losses as functions of the probability $p_c$ of the true class (K = 10).", "name": "fig-mlp-losses"}, "image": {"alt": "Two panels of loss curves: hinge-type curves that reach zero at margin 1 beside decreasing curves of the true-class probability."}}
m = torch.linspace(-2, 3, 501, dtype=torch.float64)
one = torch.ones(1, dtype=torch.float64)  # target t = +1: the score o is the margin m


def per_margin(loss, **kw):
    return torch.stack([loss(mi[None], one, **kw) for mi in m])


binary = {
    "0-1": (m <= 0).double(),
    "hinge": per_margin(mlp.binary_hinge),
    "squared hinge": per_margin(mlp.binary_hinge, power=2),
    "cubed hinge": per_margin(mlp.binary_hinge, power=3),
    "logistic": per_margin(mlp.logistic_loss),
    "squared error $(1-m)^2$": per_margin(mlp.squared_error),
    "L1 $|1-m|$": per_margin(mlp.absolute_error),
}
p_true = torch.linspace(0.02, 0.999, 300, dtype=torch.float64)
rest = ((1 - p_true) / 9).log()[:, None].expand(-1, 9)  # nine classes share the rest
logits = torch.cat([p_true.log()[:, None], rest], 1)  # class 0 is true
y0 = torch.zeros(len(p_true), dtype=torch.long)
names = ["cross-entropy", "squared log", "expectation (L1)", "Brier (squared L2)"]
names += ["Chebyshev", "Tanimoto", "Cauchy-Schwarz"]
prob_losses = {k: mlp.CLASSIFICATION_LOSSES[k] for k in names}

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Left: binary losses as functions of the margin $m = t\\,o$. Right: softmax losses as functions of the probability $p_c$ of the true class (K = 10).", "name": "fig-mlp-losses"}, "image": {"alt": "Two panels of loss curves: hinge-type curves that reach zero at margin 1 beside decreasing curves of the true-class probability."}}
fig, (ax1, ax2) = plot.subplots(1, 2, width=7, height=3.2)
for name, values in binary.items():
    style = ":" if name.startswith(("squared error", "L1")) else "-"
    ax1.plot(m, values, style, lw=2, label=name)
ax1.set(xlabel="margin $m = t\\,o$", ylabel="loss", ylim=(0, 5), title="binary losses")
ax1.legend(ncol=2, loc="upper center")
for name, loss in prob_losses.items():
    values = [loss(logits[i : i + 1], y0[i : i + 1]).item() for i in range(len(p_true))]
    ax2.plot(p_true, values, label=name)
ax2.set(xlabel="probability of the true class $p_c$", ylabel="loss", ylim=(0, 3))
ax2.set_title("softmax losses (K = 10)")
ax2.legend()
plot.show(fig)

# %% [markdown]
# The cross-entropy grows without bound as $p_c \to 0$: a confidently wrong
# prediction is punished hardest, which makes its gradient large exactly
# where learning is needed. The bounded losses (expectation, Brier,
# Chebyshev, Tanimoto) flatten out there instead. The cross-entropy is the
# default for classification in the rest of the book; the survey cited above
# finds the expectation losses more robust to label noise.
#
# ## Backpropagation by hand
#
# To train an MLP by gradient descent we need the gradient of the loss with
# respect to every weight. Take a network with one hidden layer of $H$
# sigmoid units and $K$ sigmoid outputs, in the notation of row vectors for
# a batch $X\in\mathbb{R}^{N\times p}$:
#
# $$
# \begin{aligned}
# U &= XW_1 + \mathbf{b}_1, & Z &= \sigma(U), & O &= ZW_2 + \mathbf{b}_2,\\
# Y &= \sigma(O), & E &= \tfrac12 \sum_{n,k} (Y_{nk} - T_{nk})^2 .
# \end{aligned}
# $$ (eq-two-layer)
#
# The chain rule, applied backwards from the loss, needs one quantity per
# unit, its *delta* $\delta = \partial E/\partial(\text{net input})$. At the
# outputs, $\Delta_2 = (Y - T)\odot\sigma'(O) = (Y-T)\odot Y\odot(1-Y)$.
# A hidden unit has no target, but it influences the loss through every
# output it feeds; summing those paths propagates the deltas backwards
# through the same weights {cite}`rumelhart1986learning`:
#
# $$
# \Delta_1 = (\Delta_2 W_2^\top)\odot Z\odot(1 - Z) .
# $$ (eq-delta-hidden)
#
# Each weight's gradient is the delta of the unit it feeds times the
# activity at its input — the *delta rule*:
#
# $$
# \frac{\partial E}{\partial W_2} = Z^\top \Delta_2,\quad \frac{\partial E}{\partial \mathbf{b}_2} = \mathbf{1}^\top\Delta_2,\quad
# \frac{\partial E}{\partial W_1} = X^\top \Delta_1,\quad \frac{\partial E}{\partial \mathbf{b}_1} = \mathbf{1}^\top\Delta_1 .
# $$ (eq-delta-rule)
#
# A weight does not change when its input activity is zero, when the error
# is zero, or when the unit it feeds is saturated ($\sigma' \approx 0$).
# Training repeats three stages: (1) the forward pass {eq}`eq-two-layer`
# stores $Z$ and $Y$; (2) the backward pass computes $\Delta_2$, then
# $\Delta_1$, then the gradients; (3) the update
# $W \leftarrow W - \alpha\,\partial E/\partial W$. In code (the leading
# `...` lets the same functions run many networks at once, which we use
# below):


# %%
def forward(params, x):
    """The forward pass: x (N, p) -> hidden Z (..., N, H), outputs Y (..., N, K)."""
    W1, b1, W2, b2 = params  # (..., p, H), (..., 1, H), (..., H, K), (..., 1, K)
    z = torch.sigmoid(x @ W1 + b1)
    return z, torch.sigmoid(z @ W2 + b2)


def backward(params, x, t):
    """The loss E and its gradients by the delta rule, deltas from output to input."""
    W1, b1, W2, b2 = params
    z, y = forward(params, x)
    delta2 = (y - t) * y * (1 - y)  # (..., N, K): output deltas
    delta1 = (delta2 @ W2.transpose(-1, -2)) * z * (1 - z)  # (..., N, H): hidden deltas
    dW1, db1 = x.T @ delta1, delta1.sum(-2, keepdim=True)
    dW2, db2 = z.transpose(-1, -2) @ delta2, delta2.sum(-2, keepdim=True)
    return 0.5 * ((y - t) ** 2).sum((-2, -1)), (dW1, db1, dW2, db2)


# %% [markdown]
# Before trusting it, we compare the hand-derived gradients with autograd on
# a random network with 3 inputs, 5 hidden units and 2 outputs.


# %%
def init_params(p, hidden, k, *, std=1.0, nets=(), seed=0):
    """Gaussian weights and biases of standard deviation std; `nets`: leading dims."""
    g = torch.Generator().manual_seed(seed)
    shapes = [(p, hidden), (1, hidden), (hidden, k), (1, k)]
    return [
        std * torch.randn(*nets, *s, generator=g, dtype=torch.float64) for s in shapes
    ]


def update(params, grads, lr):
    return [p - lr * g for p, g in zip(params, grads)]


# %% [markdown]
# Autograd differentiates the same loss through `forward` alone.

# %%
params = init_params(3, 5, 2, seed=1)
x_rand = torch.randn(8, 3, dtype=torch.float64)
t_rand = torch.rand(8, 2, dtype=torch.float64)
loss_hand, grads_hand = backward(params, x_rand, t_rand)
leaves = [p.clone().requires_grad_() for p in params]
loss_auto = 0.5 * ((forward(leaves, x_rand)[1] - t_rand) ** 2).sum()
grads_auto = torch.autograd.grad(loss_auto, leaves)
bp_err = max((a - b).abs().max().item() for a, b in zip(grads_hand, grads_auto))
print(
    f"loss {loss_hand.item():.6f} vs {loss_auto.item():.6f}; "
    f"max gradient difference {bp_err:.1e}"
)

# %% tags=["remove-cell"]
assert bp_err < 1e-12, "hand-derived backpropagation must equal autograd"
assert abs(loss_hand.item() - loss_auto.item()) < 1e-12

# %% [markdown]
# The deltas reproduce autograd to rounding error: reverse-mode automatic
# differentiation, applied to this network, *is* backpropagation.
#
# ## XOR with one hidden layer
#
# {ref}`ch-perceptron` showed that no single neuron computes XOR. Two hidden
# units suffice in principle: one detects "at least one input on" (OR), the
# other "both on" (AND), and the output fires for OR-but-not-AND. We let
# gradient descent find such features, with 4 hidden sigmoids, learning rate
# $\alpha=1$ and standard-normal initial weights, using the full batch of
# the four corners at every step.

# %%
x_xor, y_xor = data.xor()
x_xor, t_xor = x_xor.double(), y_xor.double()[:, None]  # (4, 2), targets (4, 1)
params = init_params(2, 4, 1, seed=0)
xor_losses = []
for _ in range(cfg.xor_steps):
    loss, grads = backward(params, x_xor, t_xor)  # forward and backward pass
    params = update(params, grads, lr=1.0)  # gradient step on every weight
    xor_losses.append(loss.item())
xor_out = forward(params, x_xor)[1].squeeze(1)
print(
    f"loss {xor_losses[0]:.3f} -> {xor_losses[-1]:.4f}; "
    f"outputs {[round(v, 3) for v in xor_out.tolist()]}, "
    f"targets {y_xor.tolist()}"
)

# %% tags=["remove-cell"]
assert ((xor_out - t_xor.squeeze(1)).abs() < 0.5).all(), (
    "the network must classify all four XOR corners"
)
assert xor_losses[-1] < 0.1 * xor_losses[0]

# %% [markdown]
# All four corners are on the right side of 0.5. The loss curve has the
# typical shape of this problem: a long plateau, where the hidden units are
# still nearly symmetric, then a sudden drop once they specialise. The
# dashed lines in the left panel of {numref}`fig-mlp-xor` are where each hidden unit switches on
# ($\mathbf{w}_j^\top\mathbf{x} + b_j = 0$): the output combines these cuts
# into a region no single line could make.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "XOR learned by four hidden sigmoids: the network's output with each hidden unit's switching line dashed (left), and the training loss (right).", "name": "fig-mlp-xor"}, "image": {"alt": "The four XOR corners on a shaded background with dashed lines, next to a loss curve with a long plateau and a sudden drop."}}
fig, (ax1, ax2) = plot.subplots(1, 2, width=7, height=3)
plot.decision_boundary(
    ax1,
    lambda g: forward(params, g.double())[1].squeeze(1),
    x_xor.float(),
    y_xor,
    proba=True,
    margin=0.5,
)
W1, b1 = params[0].detach(), params[1].detach()
xs = torch.linspace(-0.5, 1.5, 2)
for j in range(W1.shape[1]):
    ax1.plot(xs, -(W1[0, j] * xs + b1[0, j]) / W1[1, j], "k--", lw=0.8)
ax1.set(
    xlim=(-0.5, 1.5), ylim=(-0.5, 1.5), title="network output; dashed: hidden units"
)
ax2.plot(range(1, len(xor_losses) + 1), xor_losses)
ax2.set(
    xlabel="gradient step",
    ylabel="squared error $E$",
    yscale="log",
    title="training loss",
)
plot.show(fig)

# %% [markdown]
# ### Width, learning rate and initialization
#
# Was that luck? Each setting of width $H$, learning rate $\alpha$ and
# initial weight scale (the standard deviation of the initial weights) is
# now trained from many random starts, and we count the fraction that
# classifies all four corners after the same number of steps. Because
# `forward` and `backward` accept leading dimensions, all restarts with all
# learning rates and scales of one width train together as one batch of
# networks. ({numref}`fig-mlp-xor-grid`)

# %%
lrs, stds, widths = [0.1, 1.0, 10.0], [0.1, 1.0, 4.0], [2, 4, 16]
S = cfg.xor_seeds
n = len(lrs) * len(stds) * S  # networks per width: every rate, scale and restart
std = torch.tensor(stds, dtype=torch.float64).repeat_interleave(S).repeat(len(lrs))
lr = torch.tensor(lrs, dtype=torch.float64).repeat_interleave(len(stds) * S)
std, lr = std.view(n, 1, 1), lr.view(n, 1, 1)  # the scale and rate of each network

# %% [markdown]
# One width at a time, all its networks train as one batch.

# %%
success = torch.zeros(len(widths), len(lrs), len(stds))  # fraction that solve XOR
t0 = time.perf_counter()
for i, width in enumerate(widths):
    params = [p * std for p in init_params(2, width, 1, nets=(n,), seed=i)]
    for _ in range(cfg.xor_steps):
        params = update(params, backward(params, x_xor, t_xor)[1], lr)
    err = (forward(params, x_xor)[1] - t_xor).abs()  # (n, 4, 1)
    solved = (err < 0.5).all(-2).squeeze(-1)  # (n,)
    success[i] = solved.double().view(len(lrs), len(stds), S).mean(-1)
print(
    f"{len(widths) * n} networks trained for {cfg.xor_steps} steps "
    f"in {time.perf_counter() - t0:.1f} s"
)

# %% tags=["remove-cell"]
assert success[2, 1, 1] >= 0.9, (
    "16 hidden units, lr 1, unit-scale init should solve XOR almost always"
)
assert success[0].mean() < success[2].mean(), (
    "width 2 should fail more often than width 16"
)
assert success[:, 0].mean() < success[:, 2].mean(), (
    "lr 0.1 is slower than lr 10 on this problem"
)
assert success[:, :, 2].mean() < success[:, :, 1].mean(), (
    "large initial weights saturate the sigmoids"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Fraction of restarts that solve XOR for each width, learning rate and initial weight scale.", "name": "fig-mlp-xor-grid"}, "image": {"alt": "Three three-by-three heat maps with percentages, greener for wider layers and moderate initial scales."}}
fig, axes = plot.subplots(1, 3, width=7, height=2.6, sharey=True)
for ax, width, rate in zip(axes, widths, success):
    im = ax.imshow(rate.numpy(), vmin=0, vmax=1, cmap="RdYlGn", origin="lower")
    for r in range(len(lrs)):
        for c in range(len(stds)):
            ax.text(c, r, f"{rate[r, c]:.0%}", ha="center", va="center", fontsize=9)
    ax.set(
        xticks=range(3),
        xticklabels=stds,
        yticks=range(3),
        yticklabels=lrs,
        title=f"H = {width} hidden units",
        xlabel="initial weight std",
    )
    ax.grid(False)
axes[0].set_ylabel("learning rate $\\alpha$")
fig.colorbar(im, ax=axes, shrink=0.8, label="fraction solved")
plot.show(fig)

# %% [markdown]
# Three lessons, all of which return in {ref}`ch-optimization`. *Width
# helps*: with two hidden units many restarts are still stuck with a corner
# wrong when the budget ends — not in a local minimum (the error surface of
# the 2-2-1 XOR network has none that are not global
# {cite}`sprinkhuizen1996xor`) but on plateaus and near saddle points, where
# the gradient is tiny — while a wider layer has enough redundant units that
# some find useful features quickly. *The learning rate sets the pace*: at $\alpha=0.1$ most runs
# are still on the plateau when the budget of steps runs out; on this tiny
# problem even $\alpha=10$ is stable and usually the fastest, which is not
# true in general. *Initialization matters*: tiny weights start every
# hidden unit near the same symmetric point, so the plateau is long and only
# large steps escape it in time, while large weights saturate the sigmoids,
# whose vanishing slope stalls learning at every learning rate.
#
# ## Universal approximation
#
# How much can one hidden layer represent? A network with $P$ hidden units
# and one linear output computes
#
# $$
# h(\mathbf{x}) = \sum_{i=1}^{P} v_i\, a(\mathbf{w}_i^\top\mathbf{x} + b_i) + v_0 .
# $$ (eq-one-hidden)
#
# ```{admonition} The universal approximation theorem
# Let $K\subset\mathbb{R}^p$ be compact, $g: K\to\mathbb{R}$ continuous and
# $\varepsilon > 0$. Then there are $P$ and parameters such that
# $|g(\mathbf{x}) - h(\mathbf{x})| < \varepsilon$ for all $\mathbf{x}\in K$, when
# - $a$ is a continuous sigmoidal function, $a(z)\to0$ for $z\to-\infty$ and $a(z)\to1$ for $z\to\infty$ (Cybenko {cite}`cybenko1989approximation`);
# - $a$ is any bounded, non-constant continuous function (Hornik {cite}`hornik1991approximation`);
# - $a$ is any continuous function that is **not a polynomial** — and only then (Leshno, Lin, Pinkus and Schocken {cite}`leshno1993multilayer`). This includes the ReLU.
# ```
#
# The proof idea is visible in one dimension: a steep sigmoid is nearly a
# step, and a sum of steps at increasing positions is a staircase that can
# follow any continuous curve; a sum of ReLUs is a piecewise-linear
# interpolation. The theorem says nothing about how large $P$ must be or
# whether gradient descent finds the parameters. We fit the function
# $g(x) = \sin 3x + 0.3x^2$ on $[-2, 2]$ with $P = 1, 2, 3, 5, 50$ units of
# each kind. The initial kinks (or steps) are spread evenly over the
# interval, the output weights solved by least squares, and then all
# parameters trained with Adam ({ref}`ch-optimization`) on the squared error. All ten
# networks train together: their $1+2+3+5+50$ units of each kind form one
# wide layer, and a 0/1 *assignment* matrix routes each unit's term to the
# output of its own network.


# %%
def g_target(x):
    return torch.sin(3 * x) + 0.3 * x**2


x_uat = torch.linspace(-2, 2, 200, dtype=torch.float64)[:, None]  # (N, 1)
y_uat = g_target(x_uat)
Ps, acts = [1, 2, 3, 5, 50], ["sigmoid", "ReLU"]
nets = [(act, P) for act in acts for P in Ps]  # ten networks

# %% [markdown]
# In each network the kinks of the units are spread evenly over the interval,
# with steeper steps where there are more of them.

# %%
w, b, is_sig, owner = [], [], [], []
for m_i, (act, P) in enumerate(nets):
    centers = torch.linspace(-2, 2, P + 2, dtype=torch.float64)[1:-1]  # P kinks
    slope = (P + 1) * (1.0 if act == "sigmoid" else 0.25)
    w.append(torch.full((P,), slope, dtype=torch.float64))
    b.append(-slope * centers)
    is_sig += [act == "sigmoid"] * P
    owner += [m_i] * P
# (U,) each, for all U = 122 units; assign (U, 10): unit -> its network
w, b, is_sig = torch.cat(w), torch.cat(b), torch.tensor(is_sig)
assign = F.one_hot(torch.tensor(owner), len(nets)).double()


def hidden(w, b):
    u = x_uat * w + b  # (N, U)
    return torch.where(is_sig, torch.sigmoid(u), torch.relu(u))


# %% [markdown]
# With the hidden units fixed, the output weights $v_i, v_0$ enter
# linearly, so least squares gives the best ones, network by network;
# gradient descent then moves all parameters.

# %%
v = torch.zeros(len(w), dtype=torch.float64)
v0 = torch.zeros(len(nets), dtype=torch.float64)
for m_i in range(len(nets)):
    units = assign[:, m_i].bool()
    feats = torch.cat([hidden(w, b)[:, units], torch.ones_like(x_uat)], 1)  # (N, P + 1)
    sol = torch.linalg.lstsq(feats, y_uat).solution[:, 0]
    v[units], v0[m_i] = sol[:-1], sol[-1]

# %% [markdown]
# Gradient descent, here Adam, then trains all parameters at once: the summed
# loss is a sum of independent terms, one per network, so each network follows
# its own gradient.

# %%
theta = [t.requires_grad_() for t in (w, b, v, v0)]
opt = torch.optim.Adam(theta, lr=0.01)
for _ in range(cfg.uat_steps):
    pred = (hidden(w, b) * v) @ assign + v0  # (N, 10): one output per network
    loss = ((pred - y_uat) ** 2).mean(0).sum()  # the ten networks are independent
    opt.zero_grad()
    loss.backward()
    opt.step()
with torch.no_grad():
    pred = (hidden(w, b) * v) @ assign + v0
    rmse = ((pred - y_uat) ** 2).mean(0).sqrt().view(len(acts), len(Ps))
for name, row in zip(acts, rmse):
    errors = ", ".join(f"{e:.4f}" for e in row.tolist())
    print(f"{name:>8} RMS error for P = {Ps}: {errors}")

# %% tags=["remove-cell"]
assert (rmse[:, 1:] < rmse[:, :-1]).all(), (
    "the approximation error must fall as units are added"
)
assert (rmse[:, -1] < 0.05).all(), "50 units should fit this smooth function closely"

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Sums of P sigmoid (left) and ReLU (middle) units fitted to $g(x) = \\sin 3x + 0.3x^2$; right: the five ReLU terms of the P = 5 network and their sum.", "name": "fig-mlp-uat"}, "image": {"alt": "Two panels of approximations that get closer to a wavy target as units are added, and a panel of ramps that add up to a piecewise-linear curve."}}
fig, axes = plot.subplots(1, 3, width=7, height=2.6)
for k, (ax, name) in enumerate(zip(axes[:2], acts)):
    ax.plot(x_uat, y_uat, "k", lw=3, alpha=0.3, label="target $g$")
    for j, P in enumerate(Ps):
        ax.plot(x_uat, pred[:, k * len(Ps) + j], lw=1.2, label=f"P = {P}")
    ax.set(title=f"sums of {name} units", xlabel="$x$", ylim=(-1.6, 2.4))
axes[0].legend(fontsize=8)
m5 = nets.index(
    ("ReLU", 5)
)  # the five ReLU units of the P = 5 network, scaled by their output weights
units5 = assign[:, m5].bool()
with torch.no_grad():
    parts = hidden(w, b)[:, units5] * v[units5]
axes[2].plot(x_uat, y_uat, "k", lw=3, alpha=0.3)
axes[2].plot(x_uat, parts, lw=1)
axes[2].plot(x_uat, pred[:, m5], "r", lw=1.5, label="sum + $v_0$")
axes[2].set(title="the 5 ReLU terms $v_i\\,a(w_i x + b_i)$", xlabel="$x$")
axes[2].legend(fontsize=8)
plot.show(fig)

# %% [markdown]
# The error printed above falls with every unit added, for both kinds. One
# unit can only make one bend; five already trace the two waves; fifty are
# indistinguishable from the target ({numref}`fig-mlp-uat`). The right panel shows how the sum is
# made: each ReLU term is a ramp starting at its kink, and the ramps —
# some of them large, cancelling each other — add up to a piecewise-linear
# curve. Note the caveat of the theorem in practice: with few ReLU units
# gradient descent gets stuck easily. A unit whose kink moves outside the
# data is linear on all of it, so it adds no bend; if it is also inactive on
# all of the data, it is *dead*: its gradient is zero and it never moves
# again.
#
# ## Why depth?
#
# If one hidden layer suffices, why stack more? Because the number of units
# one hidden layer needs can be enormous, while depth reuses computation.
#
# ### A layer folds the plane
#
# A ReLU layer can compute $|z| = \mathrm{ReLU}(z) + \mathrm{ReLU}(-z)$.
# Applied to both coordinates, the map $\mathbf{x} \mapsto (|x_1| - 1, |x_2| - 1)$
# (four ReLU units and a shift) *folds* the plane along both axes, so that
# four points land on the same image. Whatever a later layer computes from
# the folded plane — say a single straight cut — is copied into all four
# quadrants. Folding $L$ times and cutting once makes up to $4^L$ linear
# pieces of boundary from $4L + 1$ units {cite}`montufar2014number`. ({numref}`fig-mlp-fold`)


# %%
def fold(x):
    """4 ReLUs and an affine map: (N, 2) -> (N, 2), |x| - 1 per coordinate."""
    return torch.relu(x) + torch.relu(-x) - 1


grid1 = torch.linspace(-4, 4, 400)
gx, gy = torch.meshgrid(grid1, grid1, indexing="xy")
u = torch.stack([gx.flatten(), gy.flatten()], 1)  # (160000, 2) points of the plane
cuts = []
for _ in range(4):
    cuts.append(
        (u[:, 0] + 0.6 * u[:, 1] > 0.5).reshape(gx.shape)
    )  # one straight cut in the folded space
    u = fold(u)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "One straight cut in the folded plane after 0, 1, 2 and 3 folds (red and blue: the two sides of the cut), drawn in the original plane.", "name": "fig-mlp-fold"}, "image": {"alt": "Four square panels: a single straight boundary becomes a symmetric pattern of many segments as the folds add up."}}
fig, axes = plot.subplots(1, 4, width=7, height=2.2, sharey=True)
for k, (ax, c) in enumerate(zip(axes, cuts)):
    ax.imshow(c.numpy(), extent=(-4, 4, -4, 4), origin="lower", cmap="RdBu", alpha=0.8)
    ax.set(title=f"{k} fold{'s' if k != 1 else ''}, one cut", xlabel="$x_1$")
    ax.grid(False)
axes[0].set_ylabel("$x_2$")
plot.show(fig)

# %% [markdown]
# One line becomes a symmetric pattern of many segments after a few folds.
# In one dimension the same trick is the *tent map*
# $t(x) = 2\,\mathrm{ReLU}(x) - 4\,\mathrm{ReLU}(x - \tfrac12)$ on $[0,1]$,
# two ReLU units: composing it $L$ times gives a sawtooth with $2^L$ linear
# pieces from only $2L$ units, while a single hidden layer needs a unit per
# kink, $2^L - 1$ of them {cite}`telgarsky2016benefits`. To *count* linear
# pieces of a ReLU network we record which units are active: the network is
# linear wherever this *activation pattern* is constant, so along a line the
# number of pieces is one plus the number of pattern changes.


# %%
def activation_patterns(layers, x):
    """Which ReLUs are on: layer modules, x (N, d) -> (N, #ReLUs) booleans."""
    on, h = [], x
    for layer in layers:
        h = layer(h)
        if isinstance(layer, nn.ReLU):
            on.append(h > 0)
    return torch.cat(on, 1)


def pieces_on_line(layers, a, b, n=100_001):
    """Linear pieces of the network on the segment from a to b (n sample points)."""
    x = a + torch.linspace(0, 1, n)[:, None] * (b - a)
    pat = activation_patterns(layers, x)
    return 1 + (pat[1:] != pat[:-1]).any(1).sum().item()


# %% [markdown]
# The tent map is a network with one hidden layer of two ReLUs; stacking it
# composes the map with itself.

# %%
tent = [nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1)]
with torch.no_grad():
    tent[0].weight[:] = torch.tensor([[1.0], [1.0]])
    tent[0].bias[:] = torch.tensor([0.0, -0.5])
    tent[2].weight[:], tent[2].bias[:] = torch.tensor([[2.0, -4.0]]), 0.0
# stay just inside (0, 1): at 0 the tent's input is exactly a ReLU's kink
lo, hi = torch.tensor([1e-4]), torch.tensor([1 - 1e-4])
for L in (1, 2, 4, 6):
    sawtooth = tent * L  # the same three modules L times: depth L, 2L ReLUs
    n_pieces = pieces_on_line(sawtooth, lo, hi, n=2**L * 200 + 2)
    print(
        f"L = {L}: {2 * L:>2} ReLUs in depth, {n_pieces:>3} linear pieces; "
        f"one hidden layer needs {2**L - 1}"
    )
    assert n_pieces == 2**L

# %% [markdown]
# Constructed deep networks can thus have exponentially many pieces. What
# about *random* ones? We draw deep ReLU networks (four hidden layers of 16
# units) and shallow ones (one hidden layer) with the same number of
# parameters, in PyTorch's default initialization, and count their linear
# pieces along a line through the input plane and their regions on a grid.

# %%
deep_sizes = [2, 16, 16, 16, 16, 1]
n_par = mlp.n_parameters(deep_sizes)
shallow_sizes = [2, (n_par - 1) // 4, 1]  # (2 + 1) H + (H + 1) = n_par
a_line, b_line = torch.tensor([-3.0, -2.0]), torch.tensor([3.0, 2.5])
gl = torch.linspace(-3, 3, 300)
gxx, gyy = torch.meshgrid(gl, gl, indexing="xy")
grid_pts = torch.stack([gxx.flatten(), gyy.flatten()], 1)

# %% [markdown]
# For each of a few seeds we draw both networks and count.

# %%
regions = {"deep": [], "shallow": []}
with torch.no_grad():
    for seed in range(5):
        for name, sizes in (("deep", deep_sizes), ("shallow", shallow_sizes)):
            torch.manual_seed(seed)
            net = MLP(sizes, "relu")
            n_grid = torch.unique(activation_patterns(net, grid_pts), dim=0).shape[0]
            regions[name].append((pieces_on_line(net, a_line, b_line), n_grid))
for name, sizes in (("deep", deep_sizes), ("shallow", shallow_sizes)):
    line, grid_count = torch.tensor(regions[name], dtype=torch.float64).mean(0).tolist()
    print(
        f"{name:>8} {sizes}: {mlp.n_parameters(sizes)} parameters, "
        f"{sum(sizes[1:-1])} ReLUs; "
        f"mean pieces on the line {line:.0f}, mean regions on the grid {grid_count:.0f}"
    )

# %%
H_sh, H_deep = shallow_sizes[1], sum(deep_sizes[1:-1])
print(f"units: shallow {H_sh}, deep {H_deep}, ratio {H_sh / H_deep:.1f}")
print(f"bounds for the shallow net: {H_sh + 1} pieces on a line, ", end="")
print(f"{1 + H_sh + H_sh * (H_sh - 1) // 2} regions in the plane")

# %% tags=["remove-cell"]
assert mlp.n_parameters(shallow_sizes) == n_par, "equal parameter counts"
mean_rg = {k: torch.tensor(v, dtype=torch.float64).mean(0) for k, v in regions.items()}
assert (mean_rg["shallow"] > mean_rg["deep"]).all(), (
    "at random initialization the shallow net has more pieces and more regions"
)

# %% [markdown]
# The result may surprise: at random initialization the *shallow* network
# has more pieces on the line and more regions on the grid, on average over
# the five draws. A shallow network's units are hyperplanes, and a line
# crosses almost every one of its $H$ hyperplanes once (the count stays
# below the bound $H+1$; on the plane below the $1 + H + \binom{H}{2}$
# regions of $H$ lines in general position; both bounds are printed). The
# deep network has fewer units (the ratio is printed), and randomly drawn weights do not line its folds up the way
# the tent map does. Hanin and Rolnick {cite}`hanin2019deep` showed that this
# is typical: for random networks the number of regions grows with the
# total number of units, not exponentially with depth. Depth buys the
# *capacity* for exponentially many regions; training has to find it.
#
# ### Wide or deep on a real task
#
# A classic comparison pits one wide hidden layer against a narrower, deeper
# stack: an MLP with 128 sigmoid units against one with 32 and then 8. We
# train both with Adam on three interleaved spirals, a 2-D problem with
# curved class boundaries, three restarts each. ({numref}`fig-mlp-wide-deep`)


# %%
def train_spirals(sizes, seed):
    """Adam on the spirals: the training-loss curve and the test accuracy."""
    torch.manual_seed(seed)
    net = MLP(sizes, "sigmoid")
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    losses = []
    for _ in range(cfg.depth_steps):
        loss = F.cross_entropy(net(x_sp), y_sp)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        acc = (net(x_sp_test).argmax(1) == y_sp_test).float().mean().item()
    return losses, acc


# %% [markdown]
# Both networks see the same training and test spirals.

# %%
x_sp, y_sp = data.spirals(240, classes=3, noise=0.2, seed=0)
x_sp_test, y_sp_test = data.spirals(600, classes=3, noise=0.2, seed=1)
curves_wd, test_acc_wd = {}, {}
for sizes in ([2, 128, 3], [2, 32, 8, 3]):
    name = "-".join(map(str, sizes[1:-1]))
    runs = [train_spirals(sizes, seed) for seed in range(3)]
    curves_wd[name], test_acc_wd[name] = [r[0] for r in runs], [r[1] for r in runs]
    print(
        f"{str(sizes):>14}: {mlp.n_parameters(sizes, 'sigmoid'):>3} parameters; "
        f"final training loss {[round(c[-1], 3) for c in curves_wd[name]]}; "
        f"test accuracy {[round(a, 3) for a in test_acc_wd[name]]}"
    )

# %% tags=["remove-cell"]
assert all(min(a) > 0.6 for a in test_acc_wd.values()), (
    "both networks must learn the spirals (chance: 1/3)"
)
assert all(c[-1] < 0.5 * c[0] for cs in curves_wd.values() for c in cs), (
    "training must lower the loss"
)
assert all(d[-1] < w[-1] for d, w in zip(curves_wd["32-8"], curves_wd["128"])), (
    "in every restart the deeper, narrower net reaches the lower training loss"
)
mean_acc_wd = {k: sum(a) / len(a) for k, a in test_acc_wd.items()}
assert mean_acc_wd["32-8"] >= mean_acc_wd["128"], "and a test accuracy as good"

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Training loss on three spirals of the 128-unit network and the 32-8 network, three restarts each.", "name": "fig-mlp-wide-deep"}, "image": {"alt": "Six falling loss curves on a log scale; the three 32-8 curves end below the three 128 curves."}}
fig, ax = plot.subplots(width=7, height=3.5)
for k, (name, cs) in enumerate(curves_wd.items()):
    for j, c in enumerate(cs):
        ax.plot(
            range(1, len(c) + 1),
            c,
            color=plot.CLASS_COLORS[k],
            alpha=0.8,
            label=f"hidden widths {name}" if j == 0 else None,
        )
ax.set(xlabel="Adam step", ylabel="training cross-entropy", yscale="log")
ax.legend()
plot.show(fig)

# %% [markdown]
# The two networks do not have the same number of parameters: on a 2-D
# input the deep one has about half. Even so, in every restart the 32-8
# network reaches a lower training loss in the same number of steps, and
# its mean test accuracy (printed above) is at least as high. The wide network
# spends a long time on a plateau: its 128 units start out nearly
# redundant, and composing features lets the deep one bend its boundary
# around the spiral arms with fewer units. The comparison is not a law —
# deeper stacks of sigmoids are also *harder to optimize* ({ref}`ch-optimization`
# explains why: their gradients shrink layer by layer), so the verdict
# depends on the depth, the budget and the optimizer as much as on the
# architecture.
#
# ### Wide or deep at equal size
#
# On a 1-D input the two shapes can be matched exactly. One hidden layer of
# 112 sigmoids has $2 \cdot 112 + 113 = 337$ parameters, as many as the 32-8
# stack ($2 \cdot 32 + 33 \cdot 8 + 9$). We fit $y = \sin 5x$ on $[-2, 2]$
# (200 points, squared error) with both, `cfg.eq_seeds` restarts each, with
# Adam at learning rate 0.01. All restarts of one shape train at once as a
# batch of networks: their weight matrices are stacked along a leading
# dimension and multiplied with `torch.baddbmm`.


# %%
def stacked_mlp(sizes, nets: int, seed: int) -> list[torch.Tensor]:
    """Weights (nets, n_in, n_out), biases (nets, 1, n_out), drawn as nn.Linear does."""
    g, params = torch.Generator().manual_seed(seed), []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / math.sqrt(n_in)  # uniform in +-1/sqrt(n_in)
        for shape in ((nets, n_in, n_out), (nets, 1, n_out)):
            params.append((2 * torch.rand(*shape, generator=g) - 1) * bound)
    return [p.requires_grad_() for p in params]


def stacked_forward(params, x):  # x (N, 1) -> (nets, N, 1); sigmoid hidden layers
    h = x.expand(len(params[0]), -1, -1)
    for i in range(0, len(params), 2):
        h = torch.baddbmm(params[i + 1], h, params[i])  # (nets, N, n_out)
        h = torch.sigmoid(h) if i < len(params) - 2 else h
    return h


# %%
x_1d = torch.linspace(-2, 2, 200)[:, None]
y_1d = torch.sin(5 * x_1d)
mse_eq = {}
for name, sizes in (("112", [1, 112, 1]), ("32-8", [1, 32, 8, 1])):
    params = stacked_mlp(sizes, cfg.eq_seeds, seed=0)
    opt = torch.optim.Adam(params, lr=0.01)
    for _ in range(cfg.eq_steps):
        per_net = ((stacked_forward(params, x_1d) - y_1d) ** 2).mean((1, 2))  # (nets,)
        opt.zero_grad()
        per_net.sum().backward()  # the restarts do not interact
        opt.step()
    mse_eq[name] = mse = per_net.detach().sort().values
    n_p = mlp.n_parameters(sizes, "sigmoid")
    print(f"{name:>4}: {n_p} parameters; final MSE median {mse.median():.4f}", end="")
    print(f", sorted {mse.numpy().round(4)}")

# %% tags=["remove-cell"]
assert mlp.n_parameters([1, 112, 1]) == mlp.n_parameters([1, 32, 8, 1]) == 337
assert mse_eq["32-8"].median() < mse_eq["112"].median(), (
    "at equal size the deeper net must reach the lower median error"
)

# %% [markdown]
# At the same number of parameters the deeper network reaches the lower
# median error over the restarts (the sorted errors are printed above, so
# the spread of each shape can be read off as well). Composing two layers of
# features uses the same budget of weights better on this wiggly target.
#
# ## Infinitely wide networks are Gaussian processes
#
# What does a *random* network compute? Take one hidden layer of width $q$,
# input $x\in\mathbb{R}$, and independent Gaussian parameters
#
# $$
# \begin{aligned}
# f(x) &= b + \sum_{j=1}^{q} v_j\, \mathrm{ReLU}(u_j x + a_j),\\
# v_j&\sim\mathcal{N}(0, \omega^2/q),\ u_j\sim\mathcal{N}(0,\sigma_u^2),\
# a_j\sim\mathcal{N}(0,\sigma_a^2),\ b\sim\mathcal{N}(0,\sigma_b^2).
# \end{aligned}
# $$ (eq-random-net)
#
# The $q$ terms are independent and identically distributed with mean zero,
# so by the central limit theorem $f(x)$ becomes Gaussian as $q\to\infty$ —
# and so does the joint distribution of $f$ at any finite set of inputs: the
# network converges to a **Gaussian process** {cite}`neal1996bayesian`. The
# $1/q$ in the variance of $v_j$ is what keeps the limit finite. Its
# covariance is
#
# $$
# \begin{aligned}
# K(x, x') &= \sigma_b^2 + \omega^2\, \mathbb{E}\big[\mathrm{ReLU}(z)\,\mathrm{ReLU}(z')\big],\\
# \begin{pmatrix}z\\z'\end{pmatrix}&\sim\mathcal{N}\!\left(0, \begin{pmatrix}k(x,x) & k(x,x')\\ k(x,x') & k(x',x')\end{pmatrix}\right),
# \end{aligned}
# $$ (eq-nngp)
#
# with $k(x,x') = \sigma_u^2 x x' + \sigma_a^2$. For the ReLU the expectation
# has a closed form, the *arc-cosine kernel* {cite}`cho2009kernel`:
# $\frac{1}{2\pi}\sqrt{k(x,x)k(x',x')}\,\big(\sin\theta + (\pi-\theta)\cos\theta\big)$
# with $\cos\theta = k(x,x')/\sqrt{k(x,x)k(x',x')}$.

# %%
sigma_u, sigma_a, sigma_b, omega = 1.0, 1.0, 0.1, 1.0
x_gp = torch.tensor([-2.0, -0.5, 0.0, 1.0, 2.5], dtype=torch.float64)  # five inputs


def nngp_kernel(x):
    """Equation (eq-nngp) with the arc-cosine kernel: x (n,) -> K (n, n)."""
    k = sigma_u**2 * x[:, None] * x[None, :] + sigma_a**2
    norm = k.diagonal().sqrt()
    theta = torch.arccos((k / (norm[:, None] * norm[None, :])).clamp(-1, 1))
    return sigma_b**2 + omega**2 * norm[:, None] * norm[None, :] / (2 * math.pi) * (
        torch.sin(theta) + (math.pi - theta) * torch.cos(theta)
    )


# %% [markdown]
# To check the limit we sample networks of finite width, all from one seeded
# generator, and evaluate them at the same inputs.


# %%
def random_nets(q, n, g):
    """Sample (u, a, v, b) of n random networks (eq-random-net) of width q."""
    u = sigma_u * torch.randn(n, q, 1, generator=g, dtype=torch.float64)
    a = sigma_a * torch.randn(n, q, 1, generator=g, dtype=torch.float64)
    v = omega / math.sqrt(q) * torch.randn(n, 1, q, generator=g, dtype=torch.float64)
    return u, a, v, sigma_b * torch.randn(n, 1, generator=g, dtype=torch.float64)


def outputs(params, x):
    u, a, v, b = params
    return (v @ torch.relu(u * x + a)).squeeze(1) + b  # (n, len(x))


K_limit = nngp_kernel(x_gp)
print("limit covariance K:\n", K_limit.numpy().round(3))
n_mc = cfg.n_nets // 1000 * 1000
print(f"{n_mc} networks per width: standard error of the kurtosis", end=" ")
print(f"{math.sqrt(24 / n_mc):.3f}")

# %% [markdown]
# We now sample `cfg.n_nets` networks for each width and compare the
# empirical covariance of their outputs at the five inputs with $K$. A
# second measure tests Gaussianity itself: the *excess kurtosis*
# $\mathbb{E}[f^4]/\mathbb{E}[f^2]^2 - 3$ of $f(0)$, which is $0$ for a Gaussian.
# A third looks inside one network: conditioned on its hidden layer, $f$ is
# exactly Gaussian with covariance
# $\hat K_q(x,x') = \sigma_b^2 + \frac{\omega^2}{q}\sum_j \mathrm{ReLU}(u_jx+a_j)\,\mathrm{ReLU}(u_jx'+a_j)$,
# an average over units that converges to $K$ by the law of large numbers.


# %%
def width_stats(q, g):
    """Covariance error over nets, excess kurtosis of f(0), one net's kernel error."""
    chunks = [outputs(random_nets(q, 1000, g), x_gp) for _ in range(cfg.n_nets // 1000)]
    f = torch.cat(chunks)  # (n_nets, 5)
    cov = f.T @ f / len(f)  # empirical covariance (the mean is 0)
    cov_e = ((cov - K_limit).norm() / K_limit.norm()).item()
    f0 = f[:, 2] / K_limit[2, 2].sqrt()
    u, a, v, b = random_nets(q, 50, g)  # 50 single networks: their hidden-layer kernels
    phi = torch.relu(u * x_gp + a)  # (50, q, 5)
    K_hat = sigma_b**2 + omega**2 * phi.transpose(1, 2) @ phi / q
    single = (K_hat - K_limit).norm(dim=(1, 2)) / K_limit.norm()
    return cov_e, (f0**4).mean().item() - 3, single.mean().item()


# %% [markdown]
# The widths grow geometrically, from a single unit to a wide layer.

# %%
widths_gp = [1, 4, 16, 64, 256, 1024]
g = torch.Generator().manual_seed(0)
stats = {q: width_stats(q, g) for q in widths_gp}
for q, (c_err, kurt, s_err) in stats.items():
    print(
        f"q = {q:>4}: covariance error over nets {c_err:.3f}, "
        f"excess kurtosis {kurt:6.2f}, "
        f"error of one net's kernel {s_err:.3f}"
    )
cov_err, kurtosis, single_err = (list(col) for col in zip(*stats.values()))

# %% tags=["remove-cell"]
assert max(cov_err) < 0.15, (
    "the covariance over nets equals K at every width: only Monte Carlo noise remains"
)
se_kurt = math.sqrt(24 / (cfg.n_nets // 1000 * 1000))  # its standard error if Gaussian
assert (
    kurtosis[0] > 1 and abs(kurtosis[-1]) < 4 * se_kurt + kurtosis[0] / widths_gp[-1]
), "a single unit is far from Gaussian; at width 1024 the kurtosis is within noise"
assert all(e2 < e1 for e1, e2 in zip(single_err, single_err[1:])), (
    "one net's kernel must converge to K with width"
)
assert single_err[-1] < 0.1

# %% [markdown]
# Read the three columns together. The covariance over many networks is
# close to $K$ at *every* width — for one hidden layer it equals $K$ exactly
# in expectation, since each term of {eq}`eq-random-net` contributes
# $\omega^2/q$ times the same expectation — and what remains is Monte Carlo
# noise, largest at small width where the outputs have heavy tails. The
# excess kurtosis shows what does change with width: a single unit gives a
# very non-Gaussian output, and the kurtosis falls roughly like $1/q$ towards
# the Gaussian value 0, until it drowns in Monte Carlo noise (its standard
# error, $\sqrt{24/n}$ for $n$ Gaussian samples, is printed above). The kernel of one network's hidden layer converges to
# $K$ like $1/\sqrt{q}$. {numref}`fig-mlp-gp` shows random functions drawn from narrow
# and wide networks and the two convergence measures.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Random functions of eight networks of width 2 (left) and 1000 (middle); right: the convergence measures against the width.", "name": "fig-mlp-gp"}, "image": {"alt": "Kinked random curves, then smooth random curves, then falling lines on log-log axes."}}
xs_plot = torch.linspace(-3, 3, 200, dtype=torch.float64)
gplot = torch.Generator().manual_seed(1)
fig, axes = plot.subplots(1, 3, width=5.9, height=2.6)
for ax, q in zip(axes[:2], (2, 1000)):
    ax.plot(xs_plot, outputs(random_nets(q, 8, gplot), xs_plot).T, lw=1)
    ax.set(
        title=f"8 random networks, width q = {q}",
        xlabel="$x$",
        ylabel="$f(x)$",
        ylim=(-4, 4),
    )
axes[2].loglog(
    widths_gp, [abs(k) for k in kurtosis], "o-", label="|excess kurtosis| of $f(0)$"
)
axes[2].loglog(
    widths_gp, [kurtosis[0] / q for q in widths_gp], "k:", lw=1, label="$\\propto 1/q$"
)
axes[2].loglog(widths_gp, single_err, "s-", label="one net's kernel error")
axes[2].loglog(widths_gp, cov_err, "^-", label="covariance error over nets")
axes[2].set(xlabel="width $q$", title="convergence to the Gaussian process")
axes[2].legend(fontsize=8)
plot.show(fig)

# %% [markdown]
# Narrow random networks draw kinked functions with a few dominant ramps;
# wide ones draw smooth-looking random functions, samples of the Gaussian
# process with kernel $K$. This limit makes exact Bayesian inference with
# infinitely wide networks possible — a Gaussian-process regression with
# kernel $K$ — and the same argument extends, layer by layer, to deep
# networks {cite}`lee2018deep`.
#
# ## A first real classifier
#
# Time to return to Fashion-MNIST, where {ref}`ch-perceptron` fitted softmax
# regression. We train an MLP with ReLU hidden layers (widths in `cfg.hidden`)
# using the helper training loop, and for a fair comparison also softmax
# regression — `MLP([784, 10])`, no hidden layer — with the same data,
# optimizer and number of epochs. ({numref}`fig-mlp-history`)

# %%
from dlbook.train import evaluate, fit

train_set, test_set = data.load_fashion_mnist("train"), data.load_fashion_mnist("test")
sub = data.subset(train_set, cfg.n_train)
x_all, y_all = data.to_float(sub.x).to(device), sub.y.to(device)  # (N, 1, 28, 28), (N,)
n_val = len(x_all) // 6
train_b = data.Batches(x_all[n_val:], y_all[n_val:], batch_size=128, seed=0)
val_b = data.Batches(x_all[:n_val], y_all[:n_val], batch_size=1024, shuffle=False)
x_test = data.to_float(test_set.x).to(device)
test_b = data.Batches(x_test, test_set.y.to(device), batch_size=1024, shuffle=False)
print(
    f"{len(train_b.tensors[0]):,} training, {n_val:,} validation, "
    f"{len(test_set):,} test images"
)

# %%
results = {}
for name, sizes in (("MLP", [784, *cfg.hidden, 10]), ("softmax regression", [784, 10])):
    torch.manual_seed(0)
    model = MLP(sizes, "relu").to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    hist = fit(model, train_b, epochs=cfg.epochs, optimizer=opt, val=val_b, desc=name)
    results[name] = (hist, evaluate(model, test_b)[1], model)
    print(
        f"{name:>18} {sizes}: {hist.total_s:5.1f} s, "
        f"{hist.examples_per_s[-1]:>9,.0f} examples/s, "
        f"validation accuracy {hist.val_acc[-1]:.4f}"
    )

# %% [markdown]
# Both are then scored once on the test set.

# %%
mlp_acc = dlbook.report("MLP test accuracy", results["MLP"][1], fmt=".4f")
lin_acc = dlbook.report(
    "softmax regression test accuracy (same budget)",
    results["softmax regression"][1],
    fmt=".4f",
)

# %% tags=["remove-cell"]
hist_mlp = results["MLP"][0]
assert hist_mlp.train_loss[-1] < hist_mlp.train_loss[0], (
    "the MLP's training loss must fall"
)
assert mlp_acc > (0.77 if cfg.profile == "smoke" else 0.86), (
    "an MLP on Fashion-MNIST reaches about 0.8 in smoke and 0.87 or more otherwise"
)
assert mlp_acc > lin_acc, (
    "one hidden layer must beat the linear model at the same budget"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The MLP on Fashion-MNIST: loss (left) and accuracy (right) per epoch, on training and validation data.", "name": "fig-mlp-history"}, "image": {"alt": "Two panels of learning curves over epochs."}}
fig, axes = plot.subplots(1, 2, width=7, height=2.8)
plot.history(axes, results["MLP"][0], title="MLP on Fashion-MNIST")
plot.show(fig)

# %% [markdown]
# The hidden layer lifts the test accuracy above that of softmax regression
# trained the same way (both printed above). The learning curves show the
# training loss still falling at the end. Is the network starting to
# overfit? We print the gap between the validation loss and the training
# loss (the latter averaged over each epoch) after the first and the last
# epoch, and count the MLP's test errors by (true, predicted) class.

# %%
gap = [v - t for v, t in zip(hist_mlp.val_loss, hist_mlp.train_loss)]
print(
    f"validation - training loss: epoch 1 {gap[0]:+.3f}, "
    f"epoch {len(gap)} {gap[-1]:+.3f}"
)

# %%
with torch.no_grad():
    pred = torch.cat([results["MLP"][2](xb).argmax(1) for xb, _ in test_b]).cpu()
confusion = torch.zeros(10, 10, dtype=torch.long)
confusion.index_put_((test_set.y, pred), torch.ones_like(pred), accumulate=True)
errors = confusion - torch.diag(confusion.diag())  # off-diagonal: the mistakes
for k in errors.flatten().topk(4).indices.tolist():
    i, j = divmod(k, 10)
    print(f"{test_set.classes[i]:>12} taken for {test_set.classes[j]:<12}", end="")
    print(f" {errors[i, j].item():>4} times")
upper = [
    test_set.classes.index(c) for c in ("T-shirt/top", "Pullover", "Coat", "Shirt")
]
within = errors[upper][:, upper].sum().item() / errors.sum().item()
print(f"share of all errors among T-shirt, pullover, coat and shirt: {within:.2f}")

# %% tags=["remove-cell"]
assert gap[-1] > gap[0], "the validation loss must fall behind the training loss"
assert within > 0.4, "the upper-body garments must hold the largest share of errors"

# %% [markdown]
# The gap grows from the first epoch to the last: the training loss keeps
# falling faster than the validation loss, the first sign of overfitting,
# which {ref}`ch-generalization` addresses. The largest error counts are
# among the upper-body garments (shirt, T-shirt, pullover, coat), which hold
# the share of all errors printed: an MLP, which sees the image as a list of
# pixels, has to learn from scratch that neighbouring pixels belong together
# — the motivation for the convolutional networks of {ref}`ch-convolutions`.
#
# ### The activations in training
#
# The catalogue at the start of the chapter compared activations on paper.
# Now the same deep MLP — six hidden layers of 64 units in PyTorch's default
# initialisation — is trained with four of them on `cfg.act_train`
# Fashion-MNIST training images, with the same seed, the same mini-batches
# and Adam at learning rate $10^{-3}$: the sigmoid, tanh, ReLU, and GELU
# {cite}`hendrycks2016gaussian`, $z\,\Phi(z)$ with $\Phi$ the standard normal
# distribution function, a smooth ReLU that transformers use.


# %%
def deep_mlp(act) -> nn.Sequential:
    """Six hidden layers of 64 units with the activation module `act`."""
    torch.manual_seed(0)  # the same initial weights for every activation
    layers = [nn.Flatten()]
    for n_in in [784] + [64] * 5:
        layers += [nn.Linear(n_in, 64), act()]
    return nn.Sequential(*layers, nn.Linear(64, 10)).to(device)


# %%
def activation_curve(act, steps: int) -> torch.Tensor:
    """Training losses (steps,) of deep_mlp(act), Adam at 1e-3, batches of 128."""
    net = deep_mlp(act)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x_a, y_a = x_all[n_val:][: cfg.act_train], y_all[n_val:][: cfg.act_train]
    batches, losses = data.Batches(x_a, y_a, batch_size=128, seed=0), []
    while len(losses) < steps:
        for xb, yb in itertools.islice(batches, steps - len(losses)):
            loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.detach())  # stays on the device: no synchronisation
    return torch.stack(losses).cpu()


# %%
act_modules = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "ReLU": nn.ReLU, "GELU": nn.GELU}
act_curves = {
    name: activation_curve(a, cfg.act_steps) for name, a in act_modules.items()
}
act_final = {name: c[-20:].mean().item() for name, c in act_curves.items()}
for name, c in act_curves.items():
    print(f"{name:>8}: loss {c[:20].mean():.3f} -> {act_final[name]:.3f}", end=" ")
    print(f"(means of the first and last 20 of {cfg.act_steps} steps)")

# %% tags=["remove-cell"]
others = [v for k, v in act_final.items() if k != "sigmoid"]
assert act_final["sigmoid"] > 1.5 * max(others), (
    "the deep sigmoid net must lag far behind"
)
assert all(v < 0.5 * math.log(10) for v in others), "tanh, ReLU and GELU must learn"

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Training loss of the same deep MLP (six hidden layers of 64 units) with four activations, smoothed over 10 steps. The sigmoid network sits on a plateau near $\\log 10$ long after the others have learned.", "name": "fig-mlp-activations-training"}, "image": {"alt": "Four training-loss curves against the step; tanh, ReLU and GELU fall quickly and together, sigmoid stays near 2.3 for most of the run."}}
fig, ax = plot.subplots(width=7, height=3.4)
for name, c in act_curves.items():
    smooth = F.avg_pool1d(c[None, None], 10, stride=1)[0, 0]  # running mean of 10
    ax.plot(range(10, len(c) + 1), smooth, label=name)
ax.axhline(math.log(10), color="0.5", ls=":", lw=1, label="chance, log 10")
ax.set(xlabel="Adam step", ylabel="training cross-entropy")
ax.legend()
plot.show(fig)

# %% [markdown]
# {numref}`fig-mlp-activations-training` and the printed losses show the
# lesson of the derivative panels in practice. Six sigmoid layers pass back a
# gradient multiplied at every layer by a slope of at most $1/4$, and their
# outputs are not centred at zero, so the deep sigmoid network barely moves
# for most of the run; the tanh, ReLU and GELU networks, whose slopes are
# about 1 near zero, learn at similar speeds. {ref}`ch-optimization` traces
# this to the size of the gradients per layer and shows how initialisation
# repairs part of it.
#
# ## Summary
#
# - A layer is many neurons computing $a(W\mathbf{x}+\mathbf{b})$ in parallel; an MLP composes layers
#   {eq}`eq-mlp` and has $\sum_l (n_{l-1}+1)n_l$ parameters.
# - Activations must be nonlinear; their derivatives drive learning. Sigmoid and tanh saturate, the ReLU
#   family keeps slope 1 where active; the softmax has Jacobian $\operatorname{diag}(\mathbf{s})-\mathbf{s}\mathbf{s}^\top$.
# - Losses encode what "wrong" means: squared and L1 error for regression; cross-entropy, hinge-type and
#   probability-distance losses for classification.
# - Backpropagation computes a delta per unit, backwards through the weights ({eq}`eq-delta-hidden`), and
#   each gradient is delta times input ({eq}`eq-delta-rule`); it equals reverse-mode autodiff.
# - One hidden layer solves XOR; success depends on width, learning rate and initialization.
# - One hidden layer of any non-polynomial activation is a universal approximator, but may need many
#   units; depth folds the input space and can create exponentially many linear regions, although random
#   deep networks do not.
# - Random networks with $1/q$-scaled output weights converge to a Gaussian process as the width $q\to\infty$.
#
# ## Exercises
#
# **Exercise 1 (softmax and cross-entropy).** Use the Jacobian
# {eq}`eq-softmax-jacobian` and the chain rule to show that the gradient of
# $-\log s_c$ with respect to the scores is $\mathbf{s} - \mathbf{y}$, with
# $\mathbf{y}$ one-hot. Check it against autograd.

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Solution to Exercise 1: d(-log s_c)/ds = -y / s (only entry c), times the
# Jacobian: -(y/s)^T (diag(s) - s s^T) = -y^T + (y^T 1) s^T = s - y, since y
# sums to one. Answer: the gradient is the prediction error itself, the same
# form as for logistic regression; this is why the softmax and the
# cross-entropy are almost always used as a pair.
z1 = torch.randn(7, dtype=torch.float64, requires_grad=True)
c = 3
s1 = softmax(z1.detach())
y1 = F.one_hot(torch.tensor(c), 7).double()
via_jacobian = -(y1 / s1) @ softmax_jacobian(z1.detach())
(g_auto,) = torch.autograd.grad(F.cross_entropy(z1[None], torch.tensor([c])), z1)
print(
    f"s - y: {(s1 - y1).numpy().round(4)}\n"
    f"max difference to autograd {(via_jacobian - g_auto).abs().max():.1e}"
)
assert (via_jacobian - (s1 - y1)).abs().max() < 1e-15
assert (g_auto - (s1 - y1)).abs().max() < 1e-15

# %% [markdown]
# **Exercise 2 (polynomials are not universal).** Leshno's theorem excludes
# polynomial activations. Fit $g$ from the universal approximation section
# with $P = 50$ units of the activation $a(z) = z^2$ and random $w_i, b_i$,
# solving for the output weights by least squares. Explain the error you get
# from the rank of the feature matrix.

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Solution to Exercise 2: every (w x + b)^2 lies in span{1, x, x^2}, so 50 such
# units span only 3 dimensions. Answer: however many squares we add, the network
# computes a quadratic polynomial, the best quadratic fit to g, far from it.
gq = torch.Generator().manual_seed(0)
wq, bq = (
    torch.randn(50, generator=gq, dtype=torch.float64),
    torch.randn(50, generator=gq, dtype=torch.float64),
)
feats_q = torch.cat([(x_uat * wq + bq) ** 2, torch.ones_like(x_uat)], 1)  # (200, 51)
rank = torch.linalg.matrix_rank(feats_q).item()
fit_q = feats_q @ torch.linalg.lstsq(feats_q, y_uat).solution
rmse_q = ((fit_q - y_uat) ** 2).mean().sqrt().item()
print(
    f"rank of the 51 features: {rank}; RMS error {rmse_q:.3f} "
    f"(ReLU, P = 50: {rmse[1, -1]:.4f})"
)
best_quadratic = torch.cat([x_uat**2, x_uat, torch.ones_like(x_uat)], 1)
fit_2 = best_quadratic @ torch.linalg.lstsq(best_quadratic, y_uat).solution
assert rank == 3 and rmse_q > 10 * rmse[1, -1]
assert (fit_q - fit_2).abs().max() < 1e-8, "the fit is the best quadratic"

# %% [markdown]
# **Exercise 3 (the shallow sawtooth).** Build a one-hidden-layer ReLU
# network with $2^L - 1$ units that equals the depth-$L$ sawtooth on $[0,1]$
# for $L = 4$: place one unit at each kink, with the output weights given by
# the changes of slope.

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Solution to Exercise 3: the sawtooth has slope +-2^L and kinks at k / 2^L,
# where the slope changes by -+2^(L+1). Answer: the shallow network needs
# 2^L - 1 = 15 units (plus the initial ramp) where the deep one used 2L = 8; at
# L = 20 it would be a million against forty.
L = 4
xs3 = torch.linspace(0, 1, 4097)[:, None]
with torch.no_grad():
    deep_out = nn.Sequential(*(tent * L))(xs3).squeeze(1)
kinks = torch.arange(1, 2**L) / 2**L  # 2^L - 1 kinks
slope_change = 2.0 ** (L + 1) * (-1.0) ** torch.arange(1, 2**L)  # down, up, down, ...
shallow_out = 2.0**L * torch.relu(xs3.squeeze(1)) + (
    torch.relu(xs3 - kinks) * slope_change
).sum(1)
print(
    f"{len(kinks)} hidden units; "
    f"max difference to the deep sawtooth {(shallow_out - deep_out).abs().max():.1e}"
)
assert torch.allclose(shallow_out, deep_out, atol=1e-4)

# %% [markdown]
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
