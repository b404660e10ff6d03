# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# (ch-rnn)=
# # Recurrent networks
#
# ```{admonition} Learning objectives
# :class: tip
# After this chapter you can
# - write a recurrent network from scratch as a loop over time that shares one set of weights, and check it
#   against PyTorch's `nn.RNN`;
# - explain backpropagation through time as a product of Jacobians, and predict from the recurrent matrix
#   when gradients vanish or explode; clip gradients by their norm;
# - write the gates of the GRU and the LSTM, match them to `nn.GRU` and `nn.LSTM`, and say why gates help
#   gradients travel far;
# - compare a recurrent network with a CNN, an MLP and logistic regression on MNIST-1D, with a control that
#   destroys the order of the inputs;
# - train a character-level language model, measure it in bits per character and sample from it with a
#   temperature.
# ```
#
# The networks of the previous chapters take an input of a fixed size and map
# it to an output in one pass. Text, speech, sensor readings and prices arrive
# instead as *sequences* whose length varies and whose meaning lives in the
# order of the elements: "dog bites man" and "man bites dog" contain the same
# words. A recurrent network reads a sequence one element at a time and keeps a
# running summary, its *hidden state*, that it updates with the same weights at
# every step. This chapter builds one from scratch, studies why training it is
# hard, fixes that with gates, and puts recurrent networks to work on a
# one-dimensional digit benchmark and on a novel by Jane Austen.

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
# The profiles differ in how many MNIST-1D examples are used (`m1d_samples`,
# 80% of them for training), how many passes the four classifiers make over
# them, and how long and how wide the character-level language model is trained.

# %%
import math
import re
import time

import torch
import torch.nn.functional as F
from torch import nn

from dlbook import data, plot, rnn
from dlbook.rnn import Cell
from dlbook.text import CharVocab, char_windows, generate
from dlbook.train import evaluate, fit

# %% tags=["hide-input"]
# fmt: off
cfg = dlbook.config(  # m1d_*: MNIST-1D classifiers; lm_*: the language model
    smoke=dict(m1d_samples=1_250, m1d_epochs=10,
               lm_hidden=128, lm_layers=1, lm_seq=32, lm_batch=32, lm_steps=120,
               lm_eval_every=40, lm_lr=5e-3, lm_dropout=0.0,
               sample_chars=100, ex_steps=30),
    cpu=dict(m1d_samples=5_000, m1d_epochs=15,
             lm_hidden=256, lm_layers=1, lm_seq=64, lm_batch=32, lm_steps=400,
             lm_eval_every=80, lm_lr=3e-3, lm_dropout=0.0,
             sample_chars=200, ex_steps=80),
    gpu=dict(m1d_samples=5_000, m1d_epochs=150,
             lm_hidden=512, lm_layers=2, lm_seq=128, lm_batch=64, lm_steps=1_000,
             lm_eval_every=100, lm_lr=2e-3, lm_dropout=0.25,
             sample_chars=400, ex_steps=500),
)
# fmt: on
cfg

# %% [markdown]
# ## Sequences and weight sharing
#
# Let a sequence be $\mathbf{x}_1, \dots, \mathbf{x}_T$ with
# $\mathbf{x}_t \in \mathbb{R}^{D}$. An MLP could read it as one long vector of
# $TD$ numbers, but then it would need a separate weight for every position,
# could not handle a different length, and would have to learn the same
# pattern anew at every place it can occur. A convolution ({ref}`ch-convolutions`)
# shares weights across positions but only sees a window. A **recurrent
# neural network** {cite}`elman1990finding,rumelhart1986learning` shares its
# weights across *time* and carries information forward in a hidden state
# $\mathbf{h}_t \in \mathbb{R}^{H}$:
#
# $$
# \mathbf{h}_t = \tanh\left(W_{xh}\,\mathbf{x}_t + W_{hh}\,\mathbf{h}_{t-1} + \mathbf{b}\right),
# \qquad t = 1, \dots, T,
# $$ (eq-rnn)
#
# starting from $\mathbf{h}_0$ (usually zero). The same $W_{xh} \in \mathbb{R}^{H\times D}$,
# $W_{hh} \in \mathbb{R}^{H\times H}$ and $\mathbf{b}$ are used at every step, so the
# number of parameters does not depend on $T$. An output layer reads whatever
# hidden states the task needs: only $\mathbf{h}_T$ to classify a whole
# sequence, every $\mathbf{h}_t$ to predict the next element at each step.
#
# Written out for $T = 3$, {eq}`eq-rnn` is an ordinary feed-forward network of
# depth $T$ whose layers happen to share their weights:
# $\mathbf{h}_3 = \tanh(W_{xh}\mathbf{x}_3 + W_{hh}\tanh(W_{xh}\mathbf{x}_2 + W_{hh}\tanh(W_{xh}\mathbf{x}_1 + W_{hh}\mathbf{h}_0 + \mathbf{b}) + \mathbf{b}) + \mathbf{b})$.
# This *unrolled* view is how autograd sees it ({numref}`fig-rnn-unrolled`), and
# it is the key to the rest of the chapter. In code it is a loop.

# %% [markdown]
# :::{figure} ../figs/rnn_unrolled.svg
# :name: fig-rnn-unrolled
# :alt: h0 followed by three tanh cells and the states h1, h2, h3, then the loss L; inputs x1 to x3 feed the cells from below; one orange box above holds the shared weights with arrows to every cell; red dashed arrows run from L back along the chain and from every cell up to the weights.
# :width: 100%
# The recurrence {eq}`eq-rnn` unrolled for $T = 3$: one tanh cell per step, all
# using the same $W_{xh}$, $W_{hh}$ and $\mathbf{b}$. Back propagation through time
# (red) runs the chain backwards, multiplying by one Jacobian {eq}`eq-bptt` per
# step, and the gradients of all steps add up in the shared weights.
# :::


# %%
def rnn_forward(x, h0, W_xh, W_hh, b):
    """The recurrence over a batch: x (B, T, D), h0 (B, H) -> (B, T, H), h_T (B, H)."""
    h, states = h0, []
    for t in range(x.shape[1]):  # one step per time step, the same weights each time
        h = torch.tanh(
            x[:, t] @ W_xh.T + h @ W_hh.T + b
        )  # (B, D)@(D, H) + (B, H)@(H, H)
        states.append(h)
    return torch.stack(states, dim=1), h


# %%
B, T, D, H = 4, 12, 3, 8
x_seq = torch.randn(B, T, D)
W_xh, W_hh, b_h = 0.5 * torch.randn(H, D), 0.3 * torch.randn(H, H), torch.zeros(H)
states, h_T = rnn_forward(x_seq, torch.zeros(B, H), W_xh, W_hh, b_h)
n_par = W_xh.numel() + W_hh.numel() + b_h.numel()
print(f"input {tuple(x_seq.shape)} -> states {tuple(states.shape)}, final", end=" ")
print(f"{tuple(h_T.shape)}; parameters: {n_par} for any T")
# the same elements in reversed order
_, h_T_reversed = rnn_forward(x_seq.flip(1), torch.zeros(B, H), W_xh, W_hh, b_h)
order_gap = (h_T - h_T_reversed).abs().max()
print(f"reading the sequence backwards changes h_T by up to {order_gap:.3f}")

# %% tags=["remove-cell"]
assert states.shape == (B, T, H) and torch.equal(states[:, -1], h_T)
assert order_gap > 1e-2, "an RNN's summary must depend on the order of its inputs"

# %% [markdown]
# Unlike a sum or an average of the inputs, the final state depends on the
# order in which the elements arrive. PyTorch's `nn.RNN` computes the same
# recurrence with two bias vectors, `bias_ih` and `bias_hh`, whose sum plays the
# role of $\mathbf{b}$. Copying its weights into our function must reproduce its
# outputs, its final state and — through autograd on the unrolled loop — its
# gradients.

# %%
torch_rnn = nn.RNN(D, H, batch_first=True)
x_cmp, h0_cmp = torch.randn(B, T, D), torch.randn(B, H)
bias = torch_rnn.bias_ih_l0 + torch_rnn.bias_hh_l0
params = [
    p.detach().clone().requires_grad_()
    for p in (torch_rnn.weight_ih_l0, torch_rnn.weight_hh_l0, bias)
]
ours_out, ours_hT = rnn_forward(x_cmp, h0_cmp, *params)
ref_out, ref_hT = torch_rnn(x_cmp, h0_cmp[None])  # PyTorch wants h0 as (layers, B, H)
probe = torch.randn_like(ours_out)  # a random linear loss reaches every gradient
(ours_out * probe).sum().backward()
(ref_out * probe).sum().backward()

# %% [markdown]
# The two bias vectors of `nn.RNN` receive the same gradient, that of their sum
# $\mathbf{b}$, so either one can be compared with the gradient of our `b`.

# %%
ref_grads = (torch_rnn.weight_ih_l0.grad, torch_rnn.weight_hh_l0.grad)
ref_grads += (torch_rnn.bias_hh_l0.grad,)
scratch_err = {"outputs": (ours_out - ref_out).abs().max().item()}
scratch_err["final state"] = (ours_hT - ref_hT[0]).abs().max().item()
for name, p, g in zip(("W_xh", "W_hh", "b"), params, ref_grads):
    scratch_err[f"grad {name}"] = (p.grad - g).abs().max().item()
for name, err in scratch_err.items():
    dlbook.report(f"scratch RNN vs nn.RNN max abs error, {name}", err, fmt=".1e")

# %% tags=["remove-cell"]
assert all(err < 1e-5 for err in scratch_err.values()), (
    f"the scratch RNN must match nn.RNN: {scratch_err}"
)
assert ours_out.shape == ref_out.shape
assert torch.allclose(torch_rnn.bias_ih_l0.grad, torch_rnn.bias_hh_l0.grad)

# %% [markdown]
# Every difference is at the level of float32 rounding. To build networks from
# the recurrence we write it once more as a *cell*, a module that makes one step:
# it holds $W_{xh}$ and $W_{hh}$ under PyTorch's names `weight_ih` and
# `weight_hh` with the two bias vectors, and maps $(\mathbf{x}_t,
# \mathbf{h}_{t-1})$ to $\mathbf{h}_t$. The base class `dlbook.rnn.Cell` only
# creates these parameters (with PyTorch's initialisation), checks the shapes
# of its arguments (`check`) and computes the two affine maps
# $W_{ih}\mathbf{x} + \mathbf{b}_{ih}$ and $W_{hh}\mathbf{h} + \mathbf{b}_{hh}$
# (`affine`); what a cell does with them is its `forward`.


# %% tags=["dlbook:rnn"]
class RNNCell(Cell):
    """Elman's cell: h' = tanh(W_ih x + b_ih + W_hh h + b_hh)."""

    kind = "rnn"  # one block of H rows in each weight matrix

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        h = self.check(x, h)  # x (B, I), h (B, H)
        gi, gh = self.affine(x, h)  # (B, H) each
        return torch.tanh(gi + gh)  # (B, H)


# %% [markdown]
# `dlbook.rnn.Recurrent(RNNCell, D, H, num_layers)` runs a cell over whole
# sequences with the loop of `rnn_forward`, in the `batch_first` layout of
# `nn.RNN`, and stacks layers: layer $k$ reads the hidden states of layer $k-1$
# as its input sequence. `rnn.copy_from_torch` loads an `nn.RNN`'s weights into
# it, so a two-layer stack of our cells can be compared with PyTorch's
# two-layer `nn.RNN` in the same way.


# %%
def max_grad_gap(ours: rnn.Recurrent, theirs: nn.Module) -> float:
    """The largest |gradient difference| over all parameters of two stacks."""
    return max(
        (p.grad - getattr(theirs, f"{n}_l{k}").grad).abs().max().item()
        for k, cell in enumerate(ours.cells)
        for n, p in cell.named_parameters()
    )


# %% [markdown]
# PyTorch names the parameters of layer $k$ `weight_ih_l{k}`, `bias_hh_l{k}`
# and so on; `max_grad_gap` pairs each parameter of our cell $k$ with its
# namesake in this way.

# %%
torch_rnn2 = nn.RNN(D, H, num_layers=2, batch_first=True)
ours_rnn2 = rnn.copy_from_torch(rnn.Recurrent(RNNCell, D, H, 2), torch_rnn2)
h0_2 = torch.randn(2, B, H)  # (layers, B, H)
(out_a, hT_a), (out_b, hT_b) = ours_rnn2(x_cmp, h0_2), torch_rnn2(x_cmp, h0_2)
(out_a * probe).sum().backward()
(out_b * probe).sum().backward()
module_err = max((out_a - out_b).abs().max().item(), (hT_a - hT_b).abs().max().item())
grad_err = max_grad_gap(ours_rnn2, torch_rnn2)
name = "RNNCell stack (2 layers) vs nn.RNN max abs error"
dlbook.report(f"{name}, outputs and states", module_err, fmt=".1e")
_ = dlbook.report(f"{name}, gradients", grad_err, fmt=".1e")

# %% tags=["remove-cell"]
assert module_err < 1e-5 and grad_err < 1e-5, "the RNNCell stack must match nn.RNN"

# %% [markdown]
# ## Backpropagation through time
#
# Training an RNN means backpropagating through the unrolled network, an
# algorithm known as **backpropagation through time** (BPTT)
# {cite}`werbos1990backpropagation`. Because every step uses the same weights,
# the gradient of a weight is the sum of its gradients at all steps (the red
# arrows into the weights in {numref}`fig-rnn-unrolled`); what
# makes RNNs special is how the error signal travels *between* steps.
# Differentiating {eq}`eq-rnn`, one step back multiplies the gradient by the
# (transposed) Jacobian $J_k$, and the steps chain in order:
#
# $$
# \begin{aligned}
# J_k &= \frac{\partial \mathbf{h}_k}{\partial \mathbf{h}_{k-1}}
#      = \operatorname{diag}\!\big(1 - \mathbf{h}_k^{2}\big)\, W_{hh}, \\
# \frac{\partial L}{\partial \mathbf{h}_t}
#   &= J_{t+1}^{\top} J_{t+2}^{\top} \cdots J_T^{\top}\,
#      \frac{\partial L}{\partial \mathbf{h}_T}
#    = \big(J_T J_{T-1} \cdots J_{t+1}\big)^{\top}
#      \frac{\partial L}{\partial \mathbf{h}_T} ,
# \end{aligned}
# $$ (eq-bptt)
#
# for a loss $L$ that depends on the last state: the latest step's Jacobian
# $J_T$ stands leftmost in the product and $J_{t+1}$ rightmost, as the chain
# rule composes $\mathbf{h}_T(\mathbf{h}_{T-1}(\cdots\mathbf{h}_{t+1}(\mathbf{h}_t)))$.
# The gradient that reaches a state $T-t$ steps back is a product of $T-t$
# Jacobians. Since $0 < 1-h^2 \le 1$, its norm is at most
# $\|W_{hh}\|_2^{\,T-t}\,\|\partial L/\partial \mathbf{h}_T\|$:
# when the largest singular value of $W_{hh}$ is below 1 the signal from far
# back is forced to **vanish** geometrically; when $W_{hh}$ stretches
# vectors by more than 1 and the tanh is not saturated, it can **explode**
# {cite}`bengio1994learning,pascanu2013difficulty`. We measure this with
# $W_{hh} = \rho\, Q$ for a random orthogonal $Q$: all its singular values and
# its spectral radius equal $\rho$. With zero inputs and a tiny $\mathbf{h}_0$
# the tanh stays in its linear range (slope 1), so {eq}`eq-bptt` predicts
# $\|\partial L/\partial \mathbf{h}_t\| \approx \rho^{\,T-t}$ for a readout of norm 1;
# with inputs, the saturated units can only make it smaller.


# %%
def state_grad_norms(cell: nn.Module, x: torch.Tensor, state, readout: torch.Tensor):
    """Run `cell` over x (1, T, D); return ||dL/dh_t|| for t = T, ..., 1.

    The loss is L = readout . h_T; entry k of the result is at distance k = T - t.
    """
    hs = []
    for t in range(x.shape[1]):
        state = cell(x[:, t], state)
        h = state[0] if isinstance(state, tuple) else state  # an LSTM's state is (h, c)
        h.retain_grad()  # keep the gradient of this intermediate tensor
        hs.append(h)
    (hs[-1] @ readout).sum().backward()
    return torch.tensor([h.grad.norm().item() for h in reversed(hs)])


# %%
H_bp, T_bp = 64, 60
Q_orth, _ = torch.linalg.qr(torch.randn(H_bp, H_bp))  # a random orthogonal matrix
readout = F.normalize(torch.randn(H_bp), dim=0)
radii = (0.9, 1.0, 1.1)

# %% [markdown]
# The one orthogonal $Q$ and the one readout of norm 1 serve all three radii.
# For each radius we measure the gradient norms twice: in the linear regime,
# and with random inputs driving the same recurrence.

# %%
linear_norms, driven_norms = {}, {}
for rho in radii:
    cell = RNNCell(1, H_bp)
    with torch.no_grad():
        cell.weight_hh.copy_(rho * Q_orth)
        cell.bias_ih.zero_(), cell.bias_hh.zero_()
    x_zero, h_tiny = torch.zeros(1, T_bp, 1), 1e-4 * torch.randn(1, H_bp)
    linear_norms[rho] = state_grad_norms(cell, x_zero, h_tiny, readout)
    with torch.no_grad():  # now drive the same recurrence with inputs, as in training
        cell.weight_ih.normal_(), cell.bias_ih.normal_(0, 0.5)
    x_rand, h_zero = torch.randn(1, T_bp, 1), torch.zeros(1, H_bp)
    driven_norms[rho] = state_grad_norms(cell, x_rand, h_zero, readout)

# %%
dist = torch.arange(T_bp, dtype=torch.float32)
design = torch.stack([dist, torch.ones(T_bp)], 1)  # fit log-norm = a * distance + c
for rho in radii:
    slope = torch.linalg.lstsq(design, linear_norms[rho].log()[:, None]).solution[0]
    print(
        f"rho = {rho}: norm at distance {T_bp - 1}: {linear_norms[rho][-1]:.2e} "
        f"(linear regime), {driven_norms[rho][-1]:.2e} (driven); "
        f"fitted factor per step {slope.exp().item():.4f}"
    )

# %% tags=["remove-cell"]
for rho in radii:
    factor = linear_norms[rho][1:] / linear_norms[rho][:-1]  # one more step back
    assert torch.allclose(factor, torch.full_like(factor, rho), rtol=1e-3), (
        f"the norm must change by rho = {rho}"
    )
assert linear_norms[0.9][-1] < 0.01 * linear_norms[0.9][0], (
    "radius < 1: the gradient must vanish"
)
assert linear_norms[1.1][-1] > 100 * linear_norms[1.1][0], (
    "radius > 1: the gradient must explode"
)
assert driven_norms[1.1][-1] < linear_norms[1.1][-1] * 1e-3, (
    "saturated tanh units shrink the gradient"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Gradient norm $\\|\\partial L/\\partial \\mathbf{h}_t\\|$ against the distance back in time for recurrent matrices of spectral radius 0.9, 1 and 1.1. Left: in the linear regime the norm follows $\\rho^{T-t}$ (dotted). Right: driven by random inputs, saturated units make it vanish for every radius.", "name": "fig-rnn-bptt"}, "image": {"alt": "Two log-scale panels of gradient norm against distance back in time. Left: three straight lines, falling for radius 0.9, flat for 1, rising for 1.1, each on its dotted prediction. Right: all three curves fall steeply."}}
fig, axes = plot.subplots(1, 2, width=7, height=3.0, sharey=True)
for rho in radii:
    axes[0].plot(dist, linear_norms[rho], label=f"$\\rho$ = {rho}")
    axes[0].plot(dist, rho**dist, "k:", lw=1)
    axes[1].plot(dist, driven_norms[rho], label=f"$\\rho$ = {rho}")
axes[0].set_title("linear regime (dotted: $\\rho^{T-t}$)", fontsize=9)
axes[1].set_title("driven by random inputs", fontsize=9)
for ax in axes:
    ax.set_yscale("log")
    ax.set_xlabel("distance back in time $T - t$")
    ax.legend(fontsize=8)
axes[0].set_ylabel(r"$\|\partial L / \partial \mathbf{h}_t\|$")
plot.show(fig)

# %% [markdown]
# On the left of {numref}`fig-rnn-bptt` every step back multiplies the gradient
# norm by $\rho$, as the product of Jacobians predicts (the fitted factors
# printed above): over the 59
# steps shown, a radius of 0.9 loses more than two orders of magnitude and 1.1
# gains more than two. On the right the
# same matrices are driven by inputs: the saturated units contribute factors
# $1-h^2 \ll 1$ and the gradient vanishes even for $\rho > 1$. Either way, the
# signal that would teach the network about a dependency 50 steps back is lost
# or drowned. This is the **vanishing and exploding gradient problem**
# {cite}`bengio1994learning`.
#
# ### Gradient clipping
#
# Exploding gradients have a cheap fix: when the norm of the whole gradient
# exceeds a threshold $c$, rescale it to norm $c$ before the update
# {cite}`pascanu2013difficulty`,
#
# $$
# \mathbf{g} \leftarrow \mathbf{g}\,\min\!\Big(1, \frac{c}{\|\mathbf{g}\|}\Big).
# $$ (eq-clip)
#
# The direction is kept; only the step length is capped, so one unlucky batch
# cannot throw the weights far away. PyTorch's `clip_grad_norm_` does this for
# all parameters at once (one global norm) and returns the norm before clipping;
# our version of {eq}`eq-clip` is three lines.


# %%
def clip_by_norm(grads: list[torch.Tensor], c: float) -> list[torch.Tensor]:
    """Rescale a list of gradients to global norm at most c, keeping the direction."""
    norm = torch.sqrt(sum((g**2).sum() for g in grads))  # one norm over all of them
    return [g * torch.clamp(c / norm, max=1.0) for g in grads]


# %%
cell = RNNCell(1, H_bp)
with torch.no_grad():
    cell.weight_hh.copy_(1.2 * Q_orth)  # radius 1.2: an exploding recurrence
h_start = 1e-3 * torch.randn(1, H_bp)
b_sum = cell.bias_ih + cell.bias_hh
_, h_last = rnn_forward(
    torch.zeros(1, 40, 1), h_start, cell.weight_ih, cell.weight_hh, b_sum
)
(h_last @ readout).sum().backward()

# %% [markdown]
# We clip a copy of these gradients with `clip_by_norm`, and the gradients
# themselves, in place, with PyTorch's `clip_grad_norm_`.

# %%
ours_clipped = clip_by_norm([p.grad.clone() for p in cell.parameters()], c=1.0)
norm_before = nn.utils.clip_grad_norm_(cell.parameters(), max_norm=1.0)  # in place
clip_err = max(
    (a - p.grad).abs().max().item() for a, p in zip(ours_clipped, cell.parameters())
)
norm_after = torch.sqrt(sum((g**2).sum() for g in ours_clipped))
print(f"gradient norm before {norm_before:.3e}, after clipping {norm_after:.4f}")
_ = dlbook.report("clip_by_norm vs clip_grad_norm_ max abs error", clip_err, fmt=".1e")

# %% tags=["remove-cell"]
assert norm_before > 2.0, "the radius-1.2 recurrence must exceed the threshold"
assert clip_err < 1e-6, "our clipping must equal PyTorch's"

# %% [markdown]
# Clipping cures the symptom of exploding gradients but does nothing for
# vanishing ones: a signal that has decayed to $10^{-10}$ cannot be rescued by
# rescaling the sum it is hidden in. For that, the architecture has to change.
#
# ## Gates: the GRU and the LSTM
#
# The trouble with {eq}`eq-rnn` is that the state is *rewritten* at every step
# through a squashing nonlinearity. Gated cells instead let the network decide,
# unit by unit and step by step, how much of the old state to keep. The
# **gated recurrent unit** (GRU) {cite}`cho2014learning` computes a reset gate
# $\mathbf{r}_t$, an update gate $\mathbf{z}_t$ and a candidate state
# $\mathbf{n}_t$ (we write PyTorch's form, whose gates are stacked in the order
# $r, z, n$ in `weight_ih` and `weight_hh`):
#
# $$
# \begin{aligned}
# \mathbf{r}_t &= \sigma(W_{ir}\mathbf{x}_t + \mathbf{b}_{ir}
#                + W_{hr}\mathbf{h}_{t-1} + \mathbf{b}_{hr}), \\
# \mathbf{z}_t &= \sigma(W_{iz}\mathbf{x}_t + \mathbf{b}_{iz}
#                + W_{hz}\mathbf{h}_{t-1} + \mathbf{b}_{hz}), \\
# \mathbf{n}_t &= \tanh\big(W_{in}\mathbf{x}_t + \mathbf{b}_{in}
#                + \mathbf{r}_t \odot (W_{hn}\mathbf{h}_{t-1} + \mathbf{b}_{hn})\big), \\
# \mathbf{h}_t &= (1 - \mathbf{z}_t)\odot \mathbf{n}_t + \mathbf{z}_t \odot \mathbf{h}_{t-1} .
# \end{aligned}
# $$ (eq-gru)
#
# In code, the three blocks of `affine`'s two outputs are the three gates' input
# and hidden terms; the reset gate multiplies only the hidden term of the
# candidate ({numref}`fig-rnn-gru-cell`).

# %% [markdown]
# :::{figure} ../figs/gru_cell.svg
# :name: fig-rnn-gru-cell
# :alt: h(t-1) along the top and x(t) at the bottom feed two orange affine boxes; their outputs enter the boxes r = sigma(i_r + h_r), z = sigma(i_z + h_z) and n = tanh(i_n + r h_n); a mixing box (1 - z) n + z h(t-1), fed also by h(t-1) from the top, outputs h(t).
# :width: 100%
# The GRU cell {eq}`eq-gru` in PyTorch's form. Two affine maps give the input terms
# $(i_r, i_z, i_n)$ and the hidden terms $(h_r, h_z, h_n)$; the reset gate scales
# only $h_n$ inside the candidate $n$, and the update gate $z$ mixes the candidate
# with the old state.
# :::


# %% tags=["dlbook:rnn"]
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


# %% [markdown]
# The **long short-term memory** (LSTM) {cite}`hochreiter1997long`, with the
# forget gate of {cite}`gers2000learning`, keeps a second state, the *cell*
# $\mathbf{c}_t$, that is changed only by addition and gating. Its input gate
# $\mathbf{i}_t$, forget gate $\mathbf{f}_t$ and output gate $\mathbf{o}_t$ are
# sigmoids and its candidate $\mathbf{g}_t$ a tanh, each of its own
# $W_{i\cdot}\mathbf{x}_t + \mathbf{b}_{i\cdot} + W_{h\cdot}\mathbf{h}_{t-1} +
# \mathbf{b}_{h\cdot}$ (PyTorch's order: $i, f, g, o$), and
#
# $$
# \mathbf{c}_t = \mathbf{f}_t \odot \mathbf{c}_{t-1} + \mathbf{i}_t \odot \mathbf{g}_t,
# \qquad
# \mathbf{h}_t = \mathbf{o}_t \odot \tanh(\mathbf{c}_t) .
# $$ (eq-lstm)
#
# In {numref}`fig-rnn-lstm-cell` the cell state is the straight line along the top.

# %% [markdown]
# :::{figure} ../figs/lstm_cell.svg
# :name: fig-rnn-lstm-cell
# :alt: c(t-1) runs left to right along the top through a multiply node fed by the forget gate and an add node fed by the product of the input gate and the tanh candidate, to c(t). Below, one orange affine box of x(t) and h(t-1) feeds the four gate boxes f, i, g, o. A tanh of c(t) multiplied by the output gate gives h(t).
# :width: 100%
# The LSTM cell {eq}`eq-lstm`. One affine map of $\mathbf{x}_t$ and
# $\mathbf{h}_{t-1}$ gives the four blocks $i, f, g, o$; the cell state runs along
# the top and is changed only by a product with the forget gate and the addition of
# $i \odot g$, and the output gate reads $\tanh(\mathbf{c}_t)$ into the new hidden
# state.
# :::


# %% tags=["dlbook:rnn"]
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


# %% [markdown]
# In both, a unit whose update gate $z$ (GRU) or forget gate $f$ (LSTM) is
# close to 1 copies its value forward almost unchanged, and the Jacobian of
# that copy is close to the identity rather than to a squashed $W_{hh}$. The
# weight layout is PyTorch's, so the same copy-and-compare check applies, here
# for two-layer stacks of our cells in float32.

# %%
gate_err = {}
for cls, torch_cls in ((GRUCell, nn.GRU), (LSTMCell, nn.LSTM)):
    ref = torch_cls(D, H, num_layers=2, batch_first=True)
    ours = rnn.copy_from_torch(rnn.Recurrent(cls, D, H, num_layers=2), ref)
    h0 = torch.randn(2, B, H)
    state0 = (h0, torch.randn(2, B, H)) if cls is LSTMCell else h0
    (out_o, st_o), (out_r, st_r) = ours(x_cmp, state0), ref(x_cmp, state0)
    (out_o * probe).sum().backward()
    (out_r * probe).sum().backward()
    st_o, st_r = (st_o, st_r) if cls is LSTMCell else ((st_o,), (st_r,))
    diffs = [(out_o - out_r).abs().max().item(), max_grad_gap(ours, ref)]
    diffs += [(a - b).abs().max().item() for a, b in zip(st_o, st_r)]
    name = f"{cls.__name__} stack vs nn.{torch_cls.__name__} max abs error"
    name += " (outputs, states, gradients)"
    gate_err[cls.__name__] = dlbook.report(name, max(diffs), fmt=".1e")

# %% tags=["remove-cell"]
assert all(err < 1e-5 for err in gate_err.values()), (
    f"the gated cells must match PyTorch's: {gate_err}"
)

# %% [markdown]
# What do the gates buy? We repeat the gradient measurement of the previous
# section, with inputs driving the cells, for a GRU and an LSTM at PyTorch's
# default initialisation and with the bias of the update gate (GRU) or forget
# gate (LSTM) raised by 3, so that these gates start mostly open. A positive
# forget-gate bias is a known remedy for LSTMs, for which a bias of 1 has been
# recommended {cite}`jozefowicz2015empirical`; we exaggerate it to make the
# effect plain.

# %%
x_drive = torch.randn(1, T_bp, 1)
gated_norms = {"tanh RNN, $\\rho$ = 1": driven_norms[1.0]}
for cls in (GRUCell, LSTMCell):
    for shift in (0.0, 3.0):
        torch.manual_seed(1)
        cell = cls(1, H_bp)
        with torch.no_grad():  # block 1 is z (GRU: r, z, n) and f (LSTM: i, f, g, o)
            cell.bias_ih[H_bp : 2 * H_bp] += shift
        kind = cls.__name__.removesuffix("Cell")
        name = f"{kind}, {'gate bias +3' if shift else 'default init'}"
        state0 = cell.zero_state(1, x_drive)
        gated_norms[name] = state_grad_norms(cell, x_drive, state0, readout)
for name, norms in gated_norms.items():
    print(f"{name:>22}: gradient norm at distance {T_bp - 1} = {norms[-1]:.2e}")

# %% tags=["remove-cell"]
for kind in ("GRU", "LSTM"):
    opened, default = (
        gated_norms[f"{kind}, gate bias +3"],
        gated_norms[f"{kind}, default init"],
    )
    assert opened[-1] > 1e4 * default[-1], (
        "an open gate must carry the gradient further"
    )
    assert opened[-1] > 1e4 * driven_norms[1.0][-1]
    assert default[-1] < min(1e-6, driven_norms[1.0][-1]), (
        "with half-open gates the gradient vanishes at least as fast as the RNN's"
    )

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Gradient norm against the distance back in time for a tanh RNN, and for a GRU and an LSTM at the default initialisation (dashed) and with the update or forget gate biased open by 3 (solid).", "name": "fig-rnn-gates"}, "image": {"alt": "Log-scale curves of gradient norm against distance. The RNN and the two default-initialised gated cells fall by many orders of magnitude; the two gated cells with open gates stay within a few orders of magnitude of their start."}}
fig, ax = plot.subplots(width=7, height=3.4)
for name, norms in gated_norms.items():
    ax.plot(dist, norms, label=name, ls="--" if "default" in name else "-")
ax.set_yscale("log")
ax.set_xlabel("distance back in time $T - t$")
ax.set_ylabel(r"$\|\partial L / \partial \mathbf{h}_t\|$")
ax.legend(fontsize=8)
plot.show(fig)

# %% [markdown]
# At their default initialisation, with gates about half open, the gated cells
# lose the gradient at least as fast as the plain RNN ({numref}`fig-rnn-gates`):
# gates are no magic by themselves. With the keep/forget
# gates biased open, the gradient from 59 steps back is many orders of
# magnitude larger, because the state is passed on through the additive path
# $\mathbf{z}\odot\mathbf{h}_{t-1}$ or $\mathbf{f}\odot\mathbf{c}_{t-1}$. Training
# can then learn to close a gate where forgetting helps.
#
# ## MNIST-1D: does order matter?
#
# MNIST-1D {cite}`greydanus2020scaling` is a small benchmark built to tell
# architectures apart cheaply: each of the ten digits is a hand-made 1-D
# template that is padded, stretched, scaled, shifted, noised, sheared and
# resampled into a sequence of 40 numbers. We generate it locally with the
# `mnist1d` package (`data.load_mnist1d`; 80% train, 20% test). Greydanus and
# Kobak report test accuracies of 94% for a CNN, 91% for a GRU, 68% for an MLP
# and 32% for logistic regression: unlike MNIST, on which even logistic
# regression exceeds 90%, the data set separates models that exploit the order
# of the inputs from models that do not.

# %%
m1d = data.load_mnist1d(cfg.m1d_samples)
# the control: one fixed permutation of the 40 positions, train and test alike
m1d_shuffled = data.load_mnist1d(cfg.m1d_samples, shuffle_seq=True)
print(f"train x {tuple(m1d['x'].shape)}, test x {tuple(m1d['x_test'].shape)}", end="")
print(f", labels {m1d['y'].unique().tolist()}")

# %% tags=["hide-input"] mystnb={"figure": {"caption": "One MNIST-1D training example per class (thick), drawn upright like a digit, and the same example with its 40 positions permuted by the shuffled-sequence control (thin grey).", "name": "fig-rnn-mnist1d"}, "image": {"alt": "Ten small panels, digits 0 to 9, each with a smooth blue curve over 40 positions and a jagged grey curve with the same values in scrambled order."}}
fig, axes = plot.subplots(2, 5, width=7, height=3.4, sharex=True, sharey=True)
for digit, ax in enumerate(axes.flat):
    k = (m1d["y"] == digit).nonzero()[0].item()
    ax.plot(m1d["x"][k].numpy(), range(40), color="C0", lw=1.8, label="original")
    x_perm = m1d_shuffled["x"][k].numpy()
    ax.plot(x_perm, range(40), color="0.5", lw=0.8, label="shuffled")
    ax.set_title(f"digit {digit}", fontsize=9)
axes[0, 0].legend(fontsize=7, loc="lower left")
axes[1, 0].set_xlabel("value")
axes[1, 0].set_ylabel("position")
plot.show(fig)

# %% [markdown]
# {numref}`fig-rnn-mnist1d` shows one training example per class; the thin grey
# line is the same example after the shuffled-sequence control, which applies
# one fixed random permutation to the 40 positions of every example, train and
# test alike. The permutation keeps all the information — an MLP or logistic
# regression, which treat their inputs as an unordered list of features, are
# in principle unaffected — but destroys the neighbourhoods that convolutions
# and recurrences rely on.
#
# The four models follow the baselines of the MNIST-1D paper and its code
# (`models.py` in the authors' repository): logistic regression; an MLP with
# two hidden layers of 100 units, the second one residual
# ($\mathbf{h}_2 = \mathbf{h}_1 + \operatorname{ReLU}(W_2\mathbf{h}_1)$); a
# bidirectional GRU with 6 hidden units per direction whose 40 hidden states
# are read by one linear layer; and a CNN of three convolutions with 25
# channels, kernels 5, 3 and 3, stride 2 and padding 1 (lengths 40, 19, 10, 5),
# whose $25 \times 5 = 125$ features a linear layer reads. For speed the GRU
# is PyTorch's `nn.GRU`, which the check above showed computes the same
# function as a stack of our `GRUCell`s.


# %%
class ResidualMLP(nn.Module):
    """40 -> 100 -> 100 (residual) -> 10, as the MNIST-1D paper's MLP."""

    def __init__(self, width: int = 100):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(40, width), nn.Linear(width, width)
        self.out = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x (B, 40)
        h = F.relu(self.fc1(x))  # (B, 100)
        h = h + F.relu(self.fc2(h))  # (B, 100): the residual hidden layer
        return self.out(h)  # (B, 10)


# %%
class GRUClassifier(nn.Module):
    """Bidirectional GRU over the 40 positions; a linear layer reads all states."""

    def __init__(self, hidden: int = 6, length: int = 40, classes: int = 10):
        super().__init__()
        self.gru = nn.GRU(1, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden * length, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x (B, 40)
        states, _ = self.gru(x[:, :, None])  # (B, 40, 1) -> (B, 40, 2 * hidden)
        return self.head(states.flatten(1))  # (B, 10)


# %%
def make_cnn(channels: int = 25) -> nn.Sequential:
    """Three stride-2 convolutions (kernels 5, 3, 3), then a linear read-out."""
    layers, c_in = [nn.Unflatten(1, (1, 40))], 1  # (B, 40) -> (B, 1, 40)
    for k in (5, 3, 3):  # lengths 40 -> 19 -> 10 -> 5
        layers += [nn.Conv1d(c_in, channels, k, stride=2, padding=1), nn.ReLU()]
        c_in = channels
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * 5, 10))


# %% [markdown]
# A dictionary maps each model's name to a function that builds a fresh copy,
# so every run below starts from its own initialisation.

# %%
make_m1d_model = {
    "CNN": make_cnn,
    "GRU": GRUClassifier,
    "MLP": ResidualMLP,
    "logistic regression": lambda: nn.Linear(40, 10),
}
m1d_names = tuple(make_m1d_model)
paper_acc = {"CNN": 0.94, "GRU": 0.91, "MLP": 0.68, "logistic regression": 0.32}
n_params = {
    n: sum(p.numel() for p in make_m1d_model[n]().parameters()) for n in m1d_names
}
print("parameters:", n_params)

# %% [markdown]
# All eight runs (four models, original and shuffled) use the same loop:
# `dlbook.train.fit` with Adam {cite}`kingma2015adam` at learning rate $10^{-2}$ and
# mini-batches of 100, as in the paper, for `cfg.m1d_epochs` passes over the
# training set.


# %%
def run_m1d(name: str, d: dict, seed: int = 0) -> tuple[float, float]:
    """Train one MNIST-1D model on d; return (test accuracy, seconds)."""
    torch.manual_seed(seed)
    model = make_m1d_model[name]().to(device)
    x, y, x_te, y_te = (d[k].to(device) for k in ("x", "y", "x_test", "y_test"))
    train_b = data.Batches(x, y, batch_size=100, seed=seed)
    test_b = data.Batches(x_te, y_te, batch_size=1_000, shuffle=False)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    hist = fit(model, train_b, epochs=cfg.m1d_epochs, optimizer=opt, desc=name)
    return evaluate(model, test_b)[1], hist.total_s


# %%
m1d_acc, m1d_time = {}, {}
for name in m1d_names:
    for variant, d in (("original", m1d), ("shuffled", m1d_shuffled)):
        acc, m1d_time[name, variant] = run_m1d(name, d)
        m1d_acc[name, variant] = dlbook.report(
            f"MNIST-1D {variant} test accuracy, {name}", acc, fmt=".3f"
        )
m1d_total = sum(m1d_time.values())
_ = dlbook.report(
    "MNIST-1D training time, all eight runs", m1d_total, fmt=".1f", unit="s"
)

# %%
m1d_steps = cfg.m1d_epochs * math.ceil(len(m1d["y"]) / 100)  # batches of 100
print(f"{m1d_steps:,} training steps per model ({cfg.profile} profile)")
print(f"{'model':>20} {'paper':>6} {'ours':>6} {'shuffled':>9}")
for name in m1d_names:
    ours, shuf = m1d_acc[name, "original"], m1d_acc[name, "shuffled"]
    print(f"{name:>20} {paper_acc[name]:>6.0%} {ours:>6.1%} {shuf:>9.1%}")

# %% tags=["remove-cell"]
acc = [m1d_acc[name, "original"] for name in m1d_names]
chance_margin = 0.15 if cfg.profile == "smoke" else 0.4
assert acc[-1] > 0.1 + 0.1, f"logistic regression must beat chance (10%): {acc}"
assert acc[0] > acc[-1] + chance_margin, f"the CNN must beat logistic regression: {acc}"
drop = {n: m1d_acc[n, "original"] - m1d_acc[n, "shuffled"] for n in m1d_names}
assert drop["CNN"] > drop["MLP"] + 0.05, f"shuffling must hurt the CNN more: {drop}"
if cfg.profile != "smoke":  # the paper's ordering, at cpu and gpu sizes
    assert acc[0] > acc[1] > acc[2] > acc[3], (
        f"expected CNN > GRU > MLP > logistic: {acc}"
    )
    assert acc[1] > acc[2] + 0.05, f"the GRU must beat the MLP clearly: {acc}"
    assert drop["GRU"] > drop["MLP"] + 0.05, f"shuffling must hurt the GRU more: {drop}"
if cfg.profile == "gpu":  # the full run reaches the paper's CNN accuracy
    assert acc[0] >= 0.94, f"the CNN should reach the paper's 94%, got {acc[0]:.3f}"

# %% [markdown]
# The table puts our test accuracies next to the paper's, which trained for
# 6,000 steps; this run took the number of steps printed above its table
# (`cfg.m1d_epochs` passes over the training set: a tenth of the paper's budget in
# the `cpu` profile, all of it in `gpu`).
# In the `cpu` and `gpu` profiles the run asserts the paper's ordering
# CNN > GRU > MLP > logistic regression, a clear gap between the GRU and the
# MLP, and (in `gpu`) the CNN's 94%. The `smoke` profile trains on a quarter of
# the data for a few passes, too little for the GRU, and only asserts
# that every model beats chance, that the CNN beats logistic regression
# clearly, and that shuffling hurts the CNN more than the MLP. The shuffled
# column is the point of the exercise: the CNN and the GRU, built around
# neighbourhoods and the order of positions, lose much of their advantage when
# the order is scrambled (asserted for the GRU in `cpu` and `gpu`). The MLP and
# logistic regression never used the order: on the shuffled data they learn
# the same functions with the inputs relabelled, so any change in their
# accuracy comes only from how their random initialisation meets the permuted
# inputs.
#
# ## A character-level language model
#
# A recurrent network can also *generate* sequences. A **language model**
# assigns a probability to a text by predicting each character from the ones
# before it, $p(c_1,\dots,c_N) = \prod_t p(c_t \mid c_{<t})$; an RNN reads
# $c_1,\dots,c_{t}$ into $\mathbf{h}_t$ and a linear layer turns $\mathbf{h}_t$ into
# the logits of $c_{t+1}$ {cite}`graves2013generating`. Our corpus is Jane
# Austen's *Northanger Abbey* (1817), in the public domain, shipped with the
# book (`data.load_text`; the plain text of Project Gutenberg as packaged in the
# R package `janeaustenr`, see `dlbook/texts/README.md`). We keep the last
# 10% of it for validation.

# %%
text = data.load_text("northanger_abbey")
vocab = CharVocab.from_text(text)
ids = vocab.encode(text)
n_split = int(0.9 * len(ids))
train_ids, val_ids = ids[:n_split].to(device), ids[n_split:].to(device)
print(f"{len(text):,} characters, {len(vocab)} distinct;", end=" ")
print(f"train {len(train_ids):,}, validation {len(val_ids):,}")
print(repr(text[10_000:10_160]))

# %% [markdown]
# A model is measured by its average negative log-likelihood on held-out text,
# in **bits per character** (the cross-entropy in nats divided by $\ln 2$). The
# baseline is the *unigram* model, which ignores context and predicts every
# character with its frequency $p_c$ in the training text. Its cost on the
# training text is the entropy $-\sum_c p_c \log_2 p_c$ of the character frequencies;
# a model of context must do better {cite}`shannon1951prediction`.

# %%
counts = torch.bincount(train_ids.cpu(), minlength=len(vocab)).double()
freq = counts / counts.sum()
entropy_bits = -(freq[freq > 0] * freq[freq > 0].log2()).sum().item()
p_unigram = (counts + 1) / (counts + 1).sum()  # add-one smoothing for unseen ones
unigram_val_bits = -p_unigram[val_ids.cpu()].log2().mean().item()
for what, bits in (
    ("entropy of the character frequencies (train)", entropy_bits),
    ("unigram model on the validation text", unigram_val_bits),
):
    dlbook.report(what, bits, fmt=".3f", unit="bits/char")

# %% [markdown]
# The model embeds each character, runs a GRU and reads out logits for the
# next character at every position. We train on random windows of
# `cfg.lm_seq` characters (`char_windows`): backpropagation runs through at
# most that many steps, a form of truncated BPTT. Gradients are clipped to norm 1.
# The `gpu` profile's two-layer model has several times more parameters than the
# novel has characters and would soon memorise it, so it also uses dropout
# (`cfg.lm_dropout`, zero in the smaller profiles) and makes only about twenty passes over the text.


# %%
class CharRNN(nn.Module):
    """Embedding -> GRU -> linear: ids (B, T) -> next-character logits (B, T, V)."""

    def __init__(self, vocab_size, hidden, layers=1, embed=64, dropout=0.0):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed)
        drop_between = dropout if layers > 1 else 0.0  # dropout between GRU layers
        self.gru = nn.GRU(embed, hidden, layers, batch_first=True, dropout=drop_between)
        self.drop = nn.Dropout(dropout)  # and before the read-out
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        states, _ = self.gru(self.embed(ids))  # (B, T, E) -> (B, T, H)
        return self.head(self.drop(states))  # (B, T, V)


# %%
@torch.no_grad()
def bits_per_char(model: nn.Module, ids: torch.Tensor, chunk: int = 256) -> float:
    """Mean next-character cross-entropy in bits over ids (N,), in chunks of `chunk`.

    Each chunk is read from a zero state, independently of the others.
    """
    model.eval()
    n = (len(ids) - 1) // chunk * chunk
    x, y = ids[:n].view(-1, chunk), ids[1 : n + 1].view(-1, chunk)  # (N / chunk, chunk)
    loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
    model.train()
    return loss.item() / math.log(2)


# %%
def lm_step(model, opt, gen) -> torch.Tensor:
    """One step on a random batch of windows, gradient clipped to norm 1; the loss."""
    x, y = char_windows(
        train_ids, seq_len=cfg.lm_seq, batch_size=cfg.lm_batch, generator=gen
    )
    loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())  # x, y (B, T)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.detach()  # stays on the device: no host synchronisation per step


# %%
torch.manual_seed(0)
lm = CharRNN(len(vocab), cfg.lm_hidden, cfg.lm_layers, dropout=cfg.lm_dropout)
lm = lm.to(device)
opt = torch.optim.Adam(lm.parameters(), lr=cfg.lm_lr)
windows = torch.Generator().manual_seed(0)  # draws the training windows

# %% [markdown]
# Training makes `cfg.lm_steps` steps and measures the validation text every
# `cfg.lm_eval_every` steps and after the last one.

# %%
train_loss, val_bits, t0 = [], [], time.perf_counter()
for step in range(1, cfg.lm_steps + 1):
    train_loss.append(lm_step(lm, opt, windows))
    if step % cfg.lm_eval_every == 0 or step == cfg.lm_steps:
        val_bits.append((step, bits_per_char(lm, val_ids)))
train_bits = (torch.stack(train_loss) / math.log(2)).tolist()  # one transfer
lm_time = dlbook.report(
    "language model training time", time.perf_counter() - t0, fmt=".1f", unit="s"
)
name = "GRU language model on the validation text"
lm_val = dlbook.report(name, val_bits[-1][1], fmt=".3f", unit="bits/char")

# %% tags=["remove-cell"]
assert lm_val < unigram_val_bits - 0.3, "the GRU must beat the unigram baseline clearly"
assert val_bits[-1][1] < val_bits[0][1], "validation loss must fall during training"

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Bits per character of the GRU language model during training: the training loss (running mean over 25 steps), the validation loss, and the unigram baseline on the validation text (dotted).", "name": "fig-rnn-lm-loss"}, "image": {"alt": "Training and validation curves falling from about 6 bits per character to well below a horizontal dotted line at about 4.4 bits, the unigram baseline."}}
fig, ax = plot.subplots(width=7, height=3.2)
run = min(25, len(train_bits))
smooth = torch.tensor(train_bits).unfold(0, run, 1).mean(1).numpy()
ax.plot(range(run, len(train_bits) + 1), smooth, label=f"train (running mean of {run})")
ax.plot(*zip(*val_bits), "o-", label="validation")
ax.axhline(unigram_val_bits, color="k", ls=":", label="unigram baseline (validation)")
ax.set_xlabel("training step")
ax.set_ylabel("bits per character")
ax.legend()
plot.show(fig)

# %% [markdown]
# The validation loss falls well below the unigram baseline
# ({numref}`fig-rnn-lm-loss`): the GRU has
# learned which characters follow which, how words are spelled and where spaces
# and punctuation go. The run above prints its final value.
#
# ### Sampling with a temperature
#
# To generate text we feed a prompt, sample the next character from the
# model's distribution, append it and repeat (`dlbook.text.generate`). The
# **temperature** $\tau$ divides the logits before the softmax,
# $p_c \propto \exp(z_c/\tau)$: $\tau < 1$ sharpens the distribution towards the
# most likely characters (safer, more repetitive text), $\tau > 1$ flattens it
# (more surprising, more misspelt text), and $\tau = 1$ samples from the model
# itself. The model was trained on windows of `cfg.lm_seq` characters that start
# from a zero state, so at every step we feed it the last `cfg.lm_seq`
# characters (`context=`), exactly the situation it was trained for. (An RNN
# could instead carry its hidden state from one character to the next and pay
# a constant cost per character; Exercise 5 does that.)

# %%
prompt = vocab.encode("Catherine ").to(device)
samples = {}
for temp in (0.5, 1.0, 1.5):
    out = generate(
        lm.eval(),
        prompt,
        cfg.sample_chars,
        temperature=temp,
        context=cfg.lm_seq,
        generator=torch.Generator().manual_seed(1),
    )
    samples[temp] = vocab.decode(out.cpu())
    print(f"--- temperature {temp} ---\n{samples[temp]}\n")

# %% [markdown]
# The temperature's effect on the distribution is a fact of the softmax (the
# entropy of $\operatorname{softmax}(\mathbf{z}/\tau)$ rises with $\tau$ for any
# logits that are not all equal); here is its size for our model, the average
# entropy of the next-character distribution over the validation text, in bits.

# %%
with torch.no_grad():
    logits = lm(val_ids[: 64 * 64].view(64, 64)).flatten(0, 1)  # (4096, V)
for temp in (0.5, 1.0, 1.5):
    p = torch.softmax(logits / temp, dim=-1)
    entropy = -(p * torch.log2(p.clamp_min(1e-30))).sum(-1).mean().item()
    name = f"mean next-character entropy at temperature {temp}"
    dlbook.report(name, entropy, fmt=".2f", unit="bits")

# %% [markdown]
# What the temperature does to the *text* is an empirical question. We count
# the share of the sampled words (runs of letters, the prompt left out) that
# occur anywhere in the training text.

# %%
train_words = set(re.findall(r"[a-z]+", text[:n_split].lower()))


def real_word_share(sample: str) -> float:
    """The share of a sample's words (prompt excluded) found in the training text."""
    words = re.findall(r"[a-z]+", sample[len("Catherine ") :].lower())
    return sum(w in train_words for w in words) / max(len(words), 1)


word_share = {}
for temp in samples:
    word_share[temp] = dlbook.report(
        f"share of real words at temperature {temp}",
        real_word_share(samples[temp]),
        fmt=".2f",
    )

# %% tags=["remove-cell"]
assert all(
    s.startswith("Catherine ") and len(s) == 10 + cfg.sample_chars
    for s in samples.values()
)
assert word_share[0.5] > word_share[1.5] + 0.1, (
    f"cooler samples are more real: {word_share}"
)
if cfg.profile != "smoke":
    assert word_share[0.5] > 0.5, f"at tau = 0.5 most words are real: {word_share}"

# %% [markdown]
# At $\tau = 0.5$ the samples are made largely of words of the novel (in the
# `cpu` and `gpu` profiles most of them are, which the run checks); at
# $\tau = 1.5$ the flattened distribution produces many more non-words. The
# structure of a whole novel is far beyond what a hidden state of a few hundred
# numbers can hold — one motivation for the attention mechanism of
# {ref}`ch-attention`.
#
# ## Summary
#
# - A recurrent network {eq}`eq-rnn` applies the same weights at every time
#   step and carries a hidden state; unrolled, it is a deep network with
#   shared weights, and autograd through the loop is backpropagation through time.
# - The gradient that reaches $T-t$ steps back is a product of $T-t$ Jacobians
#   {eq}`eq-bptt`: it shrinks or grows geometrically with the scale of $W_{hh}$
#   (and shrinks further where the tanh saturates). Clipping the gradient norm
#   {eq}`eq-clip` tames explosions, not vanishing.
# - The GRU {eq}`eq-gru` and LSTM {eq}`eq-lstm` add gates that let a unit copy
#   its state forward; with the gates open, gradients survive over long distances.
# - On MNIST-1D, the paper's small models, trained in the `cpu` and `gpu`
#   profiles, rank CNN > GRU > MLP > logistic regression: the models that use
#   the order of the inputs win, and they lose most when the order is shuffled.
# - A GRU language model trained on a novel beats the unigram baseline in bits
#   per character and generates text whose boldness the temperature controls.
#
# ## Exercises
#
# **Exercise 1 (counting parameters).** Show that a single-layer recurrent
# layer with $G$ blocks of gates ($G = 1$ for the RNN, 3 for the GRU, 4 for the
# LSTM), input size $D$ and hidden size $H$ has $G\,H\,(D + H + 2)$ parameters
# in PyTorch's layout (two bias vectors), and that every further layer has
# $G\,H\,(2H + 2)$. Check your formula against `nn.RNN`, `nn.GRU` and `nn.LSTM` for a few sizes.
# For the same budget of parameters, how much wider can an RNN be than an LSTM?


# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Answer: each of the G blocks has an H x D input matrix, an H x H recurrent
# matrix and two bias vectors of H, so G H (D + H + 2); a further layer reads
# H inputs instead of D. The count grows like G H^2, so for the same budget an
# RNN can be about sqrt(4) = 2 times wider than an LSTM, as printed below.
def recurrent_params(G: int, D: int, H: int, layers: int = 1) -> int:
    return G * H * (D + H + 2) + (layers - 1) * G * H * (2 * H + 2)


for G, cls in ((1, nn.RNN), (3, nn.GRU), (4, nn.LSTM)):
    for D_, H_, L_ in ((1, 6, 1), (64, 256, 2), (10, 33, 3)):
        n_torch = sum(p.numel() for p in cls(D_, H_, num_layers=L_).parameters())
        assert n_torch == recurrent_params(G, D_, H_, L_)
budget = recurrent_params(4, 64, 256)
H_rnn = max(h for h in range(1, 2_000) if recurrent_params(1, 64, h) <= budget)
print(f"an LSTM(64, 256) has {budget:,} parameters; an RNN with the same budget")
print(f"can have {H_rnn} hidden units, {H_rnn / 256:.2f} times as many")
assert 2 * 256 <= H_rnn < 2.2 * 256

# %% [markdown]
# **Exercise 2 (truncated BPTT).** Backpropagating through a whole book is
# impossible; in practice a long sequence is cut into chunks, the hidden state
# is passed from one chunk to the next, but `detach()`ed so that gradients stop
# at the chunk boundary {cite}`williams1990efficient`. Run `rnn_forward` over
# 20 steps in chunks of 5, detaching the state between chunks, and show that
# the gradient of a loss on the last state with respect to the inputs is zero
# exactly before the last chunk — and nonzero without truncation.


# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Answer: with detaching, only the last chunk's 5 inputs get a gradient (the
# first 15 entries printed are exactly 0); without it all 20 do.
def truncated_forward(x, h, chunk):
    """rnn_forward over x (B, T, D) in chunks, detaching the state between them."""
    for start in range(0, x.shape[1], chunk):
        h = h.detach()  # no gradient flows into earlier chunks
        _, h = rnn_forward(x[:, start : start + chunk], h, W_xh, W_hh, b_h)
    return h


x_tb = torch.randn(2, 20, D, requires_grad=True)
truncated_forward(x_tb, torch.zeros(2, H), chunk=5).sum().backward()
per_step = x_tb.grad.abs().sum(dim=(0, 2))  # (20,)
print("truncated: |grad| per input step =", [f"{g:.1e}" for g in per_step.tolist()])
assert (per_step[:15] == 0).all() and (per_step[15:] > 0).all()
x_tb.grad = None
truncated_forward(x_tb, torch.zeros(2, H), chunk=20).sum().backward()
assert (x_tb.grad.abs().sum(dim=(0, 2)) > 0).all()

# %% [markdown]
# **Exercise 3 (a bidirectional RNN).** A bidirectional RNN
# {cite}`schuster1997bidirectional` runs one RNN forwards and a second one
# backwards over the sequence and concatenates their states, so that the
# output at step $t$ sees the whole sequence (the MNIST-1D GRU above is one).
# Build it from two stacks of our `RNNCell`, copy the weights of
# `nn.RNN(..., bidirectional=True)` (the backward direction's parameters end in
# `_reverse`) and check that the outputs agree. Why can't a language model be
# bidirectional?

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Answer: the outputs agree to float32 rounding (printed). A language model
# predicts c_{t+1} from c_{<=t}; a backward pass would read c_{t+1} itself,
# making the prediction trivial in training and impossible in generation.
ref_bi = nn.RNN(D, H, batch_first=True, bidirectional=True)
fwd, bwd = rnn.Recurrent(RNNCell, D, H), rnn.Recurrent(RNNCell, D, H)
with torch.no_grad():
    for name, p in fwd.cells[0].named_parameters():
        p.copy_(getattr(ref_bi, f"{name}_l0"))
        getattr(bwd.cells[0], name).copy_(getattr(ref_bi, f"{name}_l0_reverse"))
    out_f, _ = fwd(x_cmp)
    out_b, _ = bwd(x_cmp.flip(1))  # read the sequence from the end
    ours_bi = torch.cat([out_f, out_b.flip(1)], dim=-1)  # (B, T, 2H), re-aligned
    err_bi = (ours_bi - ref_bi(x_cmp)[0]).abs().max().item()
print(f"bidirectional: max abs error {err_bi:.1e}")
assert err_bi < 1e-5

# %% [markdown]
# **Exercise 4 (LSTM instead of GRU).** Replace the GRU of `CharRNN` by an
# LSTM of the same hidden size, train both for the same number of steps
# (`cfg.ex_steps`) and compare the validation bits per character and the
# number of parameters.


# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Answer: the LSTM has a third more recurrent parameters (four blocks instead
# of three; printed). Which of the two is ahead after such a short run
# (cfg.ex_steps steps, fewer than the main model's) says little; larger
# comparisons found neither consistently better than the other
# (Chung et al. 2014; Jozefowicz et al. 2015).
class CharLSTM(CharRNN):
    def __init__(self, vocab_size, hidden, layers=1, embed=64, dropout=0.0):
        super().__init__(vocab_size, hidden, layers, embed, dropout)
        drop_between = dropout if layers > 1 else 0.0
        self.gru = nn.LSTM(  # the same interface as nn.GRU
            embed, hidden, layers, batch_first=True, dropout=drop_between
        )


compare = {}
for cls in (CharRNN, CharLSTM):
    torch.manual_seed(0)
    model = cls(len(vocab), cfg.lm_hidden, cfg.lm_layers, dropout=cfg.lm_dropout)
    model = model.to(device)
    opt_ex, gen = torch.optim.Adam(model.parameters(), lr=cfg.lm_lr), torch.Generator()
    gen.manual_seed(0)
    for _ in range(cfg.ex_steps):
        lm_step(model, opt_ex, gen)
    bits = bits_per_char(model, val_ids)
    n_par = sum(p.numel() for p in model.parameters())
    compare[cls.__name__] = (bits, n_par)
    print(f"{cls.__name__}: {bits:.3f} bits/char after {cfg.ex_steps} steps,", end=" ")
    print(f"{n_par:,} parameters")
assert all(bits < unigram_val_bits for bits, _ in compare.values())
extra = compare["CharLSTM"][1] - compare["CharRNN"][1]  # one more block of gates
assert extra == recurrent_params(1, 64, cfg.lm_hidden, cfg.lm_layers)

# %% [markdown]
# **Exercise 5 (sampling with a carried state).** Write a sampler that feeds
# the GRU one character at a time and carries its hidden state, so that every
# new character costs a single step of the recurrence however long the text
# grows. Check first that reading a snippet one character at a time gives the
# same next-character logits as running `lm` over the whole snippet at once.


# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Answer: the logits agree to rounding (printed): the hidden state *is* the
# model's memory of everything it has read, so carrying it forward is exact,
# and sampling costs one step per character instead of a pass over a window.
@torch.no_grad()
def sample_carried(model: CharRNN, prompt, n_new: int, temperature: float, seed=1):
    """Sample n_new ids after prompt (T0,), one GRU step per character."""
    gen = torch.Generator().manual_seed(seed)
    states, h = model.gru(model.embed(prompt[None]))  # the prompt; h (layers, 1, H)
    logits, out = model.head(states[0, -1]), prompt.tolist()
    for _ in range(n_new):
        probs = torch.softmax(logits.float().cpu() / temperature, -1)
        nxt = torch.multinomial(probs, 1, generator=gen)
        out.append(nxt.item())
        states, h = model.gru(model.embed(nxt.to(prompt.device)[None]), h)  # one step
        logits = model.head(states[0, -1])
    return torch.tensor(out)


lm.eval()
snippet = val_ids[:50]
with torch.no_grad():
    h_step = None
    for c in snippet:  # one character at a time, state carried
        st, h_step = lm.gru(lm.embed(c.view(1, 1)), h_step)
    err_carried = (lm.head(st[0, -1]) - lm(snippet[None])[0, -1]).abs().max().item()
print(f"carried state vs whole snippet: max abs logit difference {err_carried:.1e}")
# float32 rounding on the CPU; TF32 matrix products on recent NVIDIA GPUs round
# to about 1e-3 relative, so the GPU bound is looser. A wrong state is O(1) off.
assert err_carried < (1e-4 if device.type == "cpu" else 1e-2)
print(vocab.decode(sample_carried(lm, prompt, cfg.sample_chars, temperature=0.5)))

# %% [markdown]
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
