# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# (ch-attention)=
# # Attention and transformers
#
# ```{admonition} Learning objectives
# :class: tip
# After this chapter you can
# - explain attention as kernel smoothing: a weighted average of values, with weights from a normalised
#   similarity between a query and keys — and say why dot products are scaled by $1/\sqrt{d}$;
# - implement scaled dot-product attention, causal masking and multi-head attention, and check them against
#   PyTorch's built-ins;
# - assemble a pre-LN transformer block from attention, layer normalisation, an MLP and residual
#   connections, add positional information, and state why its cost grows as $O(n^2)$ in the sequence length;
# - train a small vision transformer on Fashion-MNIST and a small character-level GPT, and read their
#   attention maps;
# - see a self-attention layer as a graph neural network on a complete graph.
# ```
#
# A convolution mixes each pixel with a *fixed* neighbourhood, and a recurrent
# network ({ref}`ch-rnn`) carries the past along in one state vector. Attention
# does something more direct: every element of a sequence looks at every other
# element, decides how relevant each one is, and takes a weighted average of
# what it finds. Introduced to let a translation model look back at the source
# sentence {cite}`bahdanau2015neural`, it became the only mixing operation of
# the *transformer* {cite}`vaswani2017attention`, the architecture behind
# today's language models {cite}`radford2018improving,radford2019language` and
# vision transformers {cite}`dosovitskiy2021image`.
#
# We start without any jargon: attention is a 60-year-old idea from
# statistics, kernel smoothing {cite}`nadaraya1964estimating,watson1964smooth`,
# with learnable similarity and learnable values {cite}`tsai2019transformer`.

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
# The profiles differ in the size of the two models we train — a vision
# transformer on Fashion-MNIST and a character-level GPT on a novel — and in
# how long we train them; everything else runs the same code.

# %%
import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from dlbook import attention as att
from dlbook import check, data, plot, text
from dlbook.attention import check_attention, check_gpt_config, check_heads
from dlbook.attention import check_ids, check_tokens, init_gpt
from dlbook.engine import add_to_class
from dlbook.setup import synchronize
from dlbook.train import Precision, fit

# %% tags=["hide-input"]
# fmt: off
cfg = dlbook.config(  # vit_*: ViT; gpt_*: the character-level GPT; n_*: lengths timed
    smoke=dict(
        n_vit=4_000, vit_epochs=2, vit_patch=7, vit_width=64, vit_layers=3,
        vit_batch=32, vit_lr=3e-3, vit_min_acc=0.50, n_test=2_000,
        gpt_steps=150, gpt_width=48, gpt_layers=2, gpt_heads=4, gpt_block=32,
        gpt_batch=32, gpt_lr=6e-3, gpt_dropout=0.0, gpt_eval_every=50,
        kv_block=256, kv_repeats=3, deep_layers=6, deep_steps=40, deep_batch=16,
        n_times=(64, 128, 256, 512, 1024),
    ),
    cpu=dict(
        n_vit=12_000, vit_epochs=4, vit_patch=7, vit_width=64, vit_layers=4,
        vit_batch=64, vit_lr=3e-3, vit_min_acc=0.78, n_test=10_000,
        gpt_steps=700, gpt_width=64, gpt_layers=2, gpt_heads=4, gpt_block=64,
        gpt_batch=32, gpt_lr=6e-3, gpt_dropout=0.0, gpt_eval_every=100,
        kv_block=512, kv_repeats=3, deep_layers=8, deep_steps=150, deep_batch=32,
        n_times=(64, 128, 256, 512, 1024, 2048),
    ),
    gpu=dict(
        n_vit=None, vit_epochs=15, vit_patch=4, vit_width=128, vit_layers=6,
        vit_batch=256, vit_lr=2e-3, vit_min_acc=0.85, n_test=10_000,
        gpt_steps=2_000, gpt_width=192, gpt_layers=4, gpt_heads=6, gpt_block=128,
        gpt_batch=64, gpt_lr=2e-3, gpt_dropout=0.2, gpt_eval_every=250,
        kv_block=1024, kv_repeats=5, deep_layers=8, deep_steps=600, deep_batch=64,
        n_times=(128, 256, 512, 1024, 2048, 4096, 8192),
    ),
)
# fmt: on
cfg

# %% [markdown]
# ## Attention as kernel smoothing
#
# Take a regression problem in one dimension: noisy observations
# $(x_j, y_j)$, $j = 1, \dots, m$, of an unknown function, and a new point
# $x_q$ at which we want a prediction. A natural guess is an average of the
# observed $y_j$, weighted by how close $x_j$ is to $x_q$. With a *kernel*
# $k$ that measures similarity, this is the Nadaraya–Watson estimator
# {cite}`nadaraya1964estimating,watson1964smooth`:
#
# $$
# \begin{aligned}
# \hat f(x_q) &= \sum_{j=1}^m a(x_q, x_j)\, y_j, \qquad
# a(x_q, x_j) = \frac{k(x_q, x_j)}{\sum_{j'} k(x_q, x_{j'})},\\
# k(x_q, x_j) &= \exp\Big(-\frac{(x_q - x_j)^2}{2h^2}\Big).
# \end{aligned}
# $$ (eq-nadaraya-watson)
#
# This already *is* attention, in the vocabulary we will use from now on: the
# point $x_q$ where we predict is the **query**, the observed inputs $x_j$ are
# the **keys**, the observed outputs $y_j$ are the **values**, and the
# normalised similarities $a(x_q, x_j) \ge 0$, which sum to one over $j$, are
# the **attention weights**. Since $\exp(s_j) / \sum_{j'} \exp(s_{j'})$ is a
# softmax, the weights are a softmax of the scores $s_j = -(x_q - x_j)^2/2h^2$.
# The bandwidth $h$ decides how far a query looks. For a toy example we
# draw 50 noisy observations of a function we know, $\sin 2x + 0.4x$, so that
# estimates can be compared with the truth.


# %%
def truth(x):
    return torch.sin(2 * x) + 0.4 * x


g = torch.Generator().manual_seed(0)
x_keys = torch.sort(5 * torch.rand(50, generator=g)).values  # (m,) inputs, sorted
y_values = truth(x_keys) + 0.25 * torch.randn(50, generator=g)  # (m,) noisy outputs
x_queries = torch.linspace(0, 5, 100)  # (n,) where we predict

# %% [markdown]
# The estimator itself is two lines: scores from the distances, then a softmax
# over the keys and a weighted sum of the values. We try three bandwidths.


# %%
def nadaraya_watson(xq, xk, yv, h):
    """Kernel smoothing as attention: queries (n,), keys (m,), values (m,).

    Returns the predictions (n,) and the weights (n, m).
    """
    scores = -((xq[:, None] - xk[None, :]) ** 2) / (2 * h**2)  # (n, m)
    weights = torch.softmax(scores, dim=1)  # each row sums to one
    return weights @ yv, weights


# %%
for h in (0.02, 0.3, 2.0):
    pred, _ = nadaraya_watson(x_queries, x_keys, y_values, h)
    print(
        f"h = {h:4.2f}: mean squared error to the true function "
        f"{((pred - truth(x_queries)) ** 2).mean():.4f}"
    )

# %% tags=["remove-cell"]
_mse = {
    h: (
        (nadaraya_watson(x_queries, x_keys, y_values, h)[0] - truth(x_queries)) ** 2
    ).mean()
    for h in (0.02, 0.3, 2.0)
}
assert _mse[0.3] < _mse[0.02] and _mse[0.3] < _mse[2.0], (
    "a medium bandwidth must beat both extremes"
)
assert _mse[0.3] < ((y_values.mean() - truth(x_queries)) ** 2).mean() / 5, (
    "and be far better than the mean"
)

# %% [markdown]
# A tiny bandwidth follows the noise, a huge one averages everything into a
# nearly straight line; the medium one is best, as the errors show.
# {numref}`fig-attention-nw` draws the three estimates and, on the right, the
# attention weights of the medium one: row $q$ is where query $x_q$ looks.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Nadaraya-Watson regression with three bandwidths h (left) and the attention weights of h = 0.3 (right), one row per query.", "name": "fig-attention-nw"}, "image": {"alt": "Left: noisy dots around a dashed curve with three fits, one jagged, one smooth and close, one nearly flat. Right: a heatmap with a bright band along the diagonal."}}
fig, (ax1, ax2) = plot.subplots(1, 2, width=7, height=3.0)
ax1.scatter(
    x_keys.numpy(), y_values.numpy(), s=10, color="k", label="observations $(x_j, y_j)$"
)
ax1.plot(
    x_queries.numpy(), truth(x_queries).numpy(), "k--", lw=1, label="true function"
)
for h in (0.02, 0.3, 2.0):
    ax1.plot(
        x_queries.numpy(),
        nadaraya_watson(x_queries, x_keys, y_values, h)[0].numpy(),
        label=f"$h = {h}$",
    )
ax1.set_xlabel("$x$")
ax1.set_ylabel("$y$")
ax1.legend(fontsize=7)
att.show_attention(
    ax2,
    nadaraya_watson(x_queries, x_keys, y_values, 0.3)[1],
    xlabel="key $j$ (sorted $x_j$)",
    ylabel="query $q$ (sorted $x_q$)",
    title="attention weights, $h = 0.3$",
)
plot.show(fig)

# %% [markdown]
# The weights form a band along the diagonal: each query attends to the keys
# next to it. Nothing here was learned; the kernel and the values are fixed.
#
# ### From a distance to a dot product
#
# Expanding the square shows that the Gaussian kernel is, up to terms the
# softmax ignores, a *dot product* between query and key:
#
# $$
# \begin{aligned}
# -\frac{(x_q - x_j)^2}{2h^2} = {}& \underbrace{\frac{x_q}{h^2}}_{\text{query}}\, x_j
#   \;\underbrace{-\, \frac{x_j^2}{2h^2}}_{\text{key bias}} \\
#   & \underbrace{-\, \frac{x_q^2}{2h^2}}_{\text{same for all } j} .
# \end{aligned}
# $$ (eq-gauss-dot)
#
# A term that is the same for every key cancels in the softmax, so the
# weights are a softmax of a scaled product of query and key plus a
# per-key bias. We check the algebra numerically.

# %%
h = 0.3  # in float64, so that the two forms agree to the last digits
xq, xk, yv = x_queries.double(), x_keys.double(), y_values.double()
_, w_gauss = nadaraya_watson(xq, xk, yv, h)
scores = (xq[:, None] / h**2) * xk[None, :] - xk[None, :] ** 2 / (2 * h**2)
w_dot = torch.softmax(scores, dim=1)  # query times key, plus a per-key bias
gauss_gap = (w_gauss - w_dot).abs().max()
print(f"max |Gaussian weights - dot-product weights| = {gauss_gap:.1e}")

# %% tags=["remove-cell"]
assert gauss_gap < 1e-12, "the two forms are the same weights"

# %% [markdown]
# ### Learning the kernel, and a first mask
#
# The bandwidth was picked by looking at the truth, which in practice we do
# not know. We can *learn* it instead, by making the estimator predict each
# observation from the others (leave-one-out). A point must not attend to
# itself — otherwise $h \to 0$ would copy every $y_j$ perfectly — so we
# **mask** the diagonal: its score is set to $-\infty$, its weight to zero.
# This is our first attention mask.

# %%
log_h = torch.tensor(math.log(2.0), requires_grad=True)  # start too smooth
opt = torch.optim.Adam([log_h], lr=0.05)
not_self = ~torch.eye(len(x_keys), dtype=torch.bool)  # (m, m): True = may attend
for _ in range(300):
    scores = -((x_keys[:, None] - x_keys[None, :]) ** 2) / (2 * log_h.exp() ** 2)
    weights = torch.softmax(scores.masked_fill(~not_self, float("-inf")), dim=1)
    loo_loss = ((weights @ y_values - y_values) ** 2).mean()
    opt.zero_grad()
    loo_loss.backward()
    opt.step()
h_learned = dlbook.report("learned bandwidth h", log_h.exp().item(), fmt=".3f")
print(f"leave-one-out squared error {loo_loss.item():.4f}", end=" ")
print(f"(noise variance {0.25**2:.4f})")

# %% tags=["remove-cell"]
_grid = torch.linspace(0.03, 2.0, 400)
_loo = []
for _h in _grid:
    _w = torch.softmax(
        (-((x_keys[:, None] - x_keys[None, :]) ** 2) / (2 * _h**2)).masked_fill(
            ~not_self, -math.inf
        ),
        1,
    )
    _loo.append(((_w @ y_values - y_values) ** 2).mean())
assert abs(h_learned - _grid[torch.stack(_loo).argmin()]) < 0.03, (
    "gradient descent must find the grid's best h"
)
assert 0.1 < h_learned < 0.6

# %% [markdown]
# Gradient descent on the leave-one-out error finds a bandwidth between the
# extremes (a hidden check confirms it is the minimiser on a fine grid of
# bandwidths). The leave-one-out error that remains is above the noise
# variance, printed for comparison, which no estimator can beat on average.
#
# ## Queries, keys and values
#
# Transformers take this one step further. The inputs are now $n$ *tokens*
# $\mathbf{x}_1, \dots, \mathbf{x}_n \in \mathbb{R}^{D}$ (word pieces,
# characters or image patches), and **each token is a query in turn**: every
# token computes a new representation of itself as a weighted average of
# (transformed) tokens. Similarity, query, key and value are all *learned*
# linear maps:
# $\mathbf{q}_i = W_q \mathbf{x}_i$, $\mathbf{k}_j = W_k \mathbf{x}_j$,
# $\mathbf{v}_j = W_v \mathbf{x}_j$, with $\mathbf{q}, \mathbf{k} \in \mathbb{R}^d$.
# The kernel becomes $\exp(\mathbf{q}_i^\top \mathbf{k}_j / \sqrt{d})$ — an
# asymmetric similarity, since $W_q \ne W_k$. Stacking queries, keys and
# values as the rows of matrices $Q \in \mathbb{R}^{n\times d}$,
# $K \in \mathbb{R}^{m\times d}$, $V \in \mathbb{R}^{m\times d_v}$ gives
# *scaled dot-product attention* {cite}`vaswani2017attention`:
#
# $$
# \operatorname{Attention}(Q, K, V) = \underbrace{\operatorname{softmax}\Big(\frac{Q K^\top}{\sqrt{d}}\Big)}_{A \,\in\, \mathbb{R}^{n \times m}\text{, rows sum to 1}} V .
# $$ (eq-attention)
#
# Row $i$ of the output is $\sum_j A_{ij} \mathbf{v}_j$, exactly
# {eq}`eq-nadaraya-watson` with a learned kernel and learned values. When
# queries, keys and values all come from the same tokens this is
# **self-attention**; when queries come from one sequence and keys and values
# from another (a translation model looking at its source sentence) it is
# **cross-attention**. {numref}`fig-attention-qkv` lays out the two products on
# four tokens.

# %% [markdown]
# :::{figure} ../figs/attention_qkv.svg
# :name: fig-attention-qkv
# :alt: Four grids of numbers: Q (4x3) next to the scores (4x4) with K transposed above them; an arrow labelled softmax per row leads to the weights A, shaded by size; the output AV (4x3) has V above it. The second row is framed in every grid.
# :width: 100%
# Scaled dot-product attention on four tokens with $d = 3$, laid out as two matrix
# products: each score is a query row times a key column divided by $\sqrt d$, the
# softmax turns each row of scores into weights that sum to one, and each output
# row is the weighted average of the value rows. The framed row follows query 2
# through all three steps.
# :::

# %% [markdown]
# ### Why divide by $\sqrt{d}$?
#
# If the entries of $\mathbf{q}$ and $\mathbf{k}$ are independent with mean
# 0 and variance 1, then $\mathbf{q}^\top\mathbf{k} = \sum_{l=1}^d q_l k_l$ is
# a sum of $d$ terms of variance 1, so its standard deviation is $\sqrt{d}$.
# Wide heads would produce huge scores, the softmax would put almost all weight
# on one key, and its gradient — which vanishes as the softmax saturates —
# would stall learning. Dividing by $\sqrt{d}$ restores unit variance for
# every width.

# %%
g = torch.Generator().manual_seed(1)
for d in (4, 64, 1024):
    q = torch.randn(2_000, d, generator=g)  # 2,000 queries
    k = torch.randn(2_000, 32, d, generator=g)  # 32 keys for each
    raw = torch.einsum("nd,nmd->nm", q, k)  # (2000, 32) scores
    top_raw = torch.softmax(raw, 1).max(1).values.mean()
    top_scaled = torch.softmax(raw / math.sqrt(d), 1).max(1).values.mean()
    print(
        f"d = {d:4}: std of q.k = {raw.std():6.2f} (sqrt d = {math.sqrt(d):5.2f}); "
        "largest weight of 32: "
        f"unscaled {top_raw:.2f}, scaled {top_scaled:.2f}"
    )

# %% tags=["remove-cell"]
assert (
    abs(raw.std() / math.sqrt(d) - 1) < 0.05
    and abs((raw / math.sqrt(d)).std() - 1) < 0.05
)
assert top_raw > 0.9 and top_scaled < 0.5, (
    "unscaled scores saturate the softmax at d = 1024; scaled ones do not"
)

# %% [markdown]
# The standard deviation of the raw scores grows as $\sqrt{d}$. Without the
# scaling, at $d = 1024$ the average largest of 32 weights is nearly one — the
# softmax has become an arg-max — while the scaled scores keep the weights
# spread out at every width.
#
# ## Scaled dot-product attention from scratch
#
# Equation {eq}`eq-attention` is a few lines of PyTorch. We write it for any
# number of leading batch dimensions, with an optional mask. PyTorch's
# convention for a boolean mask is `True` where a query may attend to a key; a
# float mask is added to the scores. `check_attention` (in `dlbook.attention`)
# checks the shapes and turns a boolean or causal mask into the float one, 0
# where a query may look and $-\infty$ where not, so forbidden scores get
# weight $e^{-\infty} = 0$. One case needs care: a query that may attend to
# *no* key has a row of $-\infty$ scores, whose softmax is $0/0$, NaN. Like
# PyTorch we give such a query zero weights and a zero output — and, because
# the softmax then never sees the row, zero (not NaN) gradients.


# %% tags=["dlbook:attention"]
def scaled_dot_product_attention(q, k, v, mask=None, is_causal=False):
    """softmax(q kᵀ / √d + mask) v and the weights; q (..., T, d), k, v (..., S, .)."""
    mask = check_attention(q, k, v, mask, is_causal)  # float (..., T, S) or None
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T, S)
    if mask is not None:
        scores = scores + mask  # -inf where a query may not look
    blocked = torch.isneginf(scores).all(-1, keepdim=True)  # queries that see no key
    weights = torch.softmax(scores.masked_fill(blocked, 0.0), dim=-1)  # rows sum to 1
    weights = weights.masked_fill(blocked, 0.0)  # a blocked query gets 0, not NaN
    return weights @ v, weights  # (..., T, d_v), (..., T, S)


# %%
q, k, v = torch.randn(2, 4, 6, 16), torch.randn(2, 4, 9, 16), torch.randn(2, 4, 9, 8)
out, weights = scaled_dot_product_attention(q, k, v)  # (B, H, T|S, d)
err = (out - F.scaled_dot_product_attention(q, k, v)).abs().max()
print(f"output {tuple(out.shape)}, weights {tuple(weights.shape)};", end=" ")
print(f"max |ours - PyTorch| = {err:.1e}")

# %% tags=["remove-cell"]
assert err < 1e-5 and torch.allclose(weights.sum(-1), torch.ones(2, 4, 6))

# %% [markdown]
# Our lines agree with PyTorch's `F.scaled_dot_product_attention`, which on a
# GPU dispatches to fused kernels such as FlashAttention
# {cite}`dao2022flashattention` that never store the $T \times S$ weight matrix.
# A query whose every key is forbidden gets zeros, with finite gradients:

# %%
q2 = torch.randn(1, 3, 8, requires_grad=True)
blocked = torch.tensor([[0.0, -math.inf, 0.0], [-math.inf] * 3, [0.0, 0.0, 0.0]])
out2, _ = scaled_dot_product_attention(q2, q2, q2, mask=blocked)  # query 1 sees nothing
out2.sum().backward()
print(f"output of the blocked query: {out2[0, 1].tolist()}")
print(f"all gradients finite: {bool(torch.isfinite(q2.grad).all())}")

# %% tags=["remove-cell"]
assert (out2[0, 1] == 0).all() and torch.isfinite(q2.grad).all()

# %% [markdown]
# We compare it with PyTorch on random shapes, without a mask, with a random
# boolean mask and with the causal mask of the next section.

# %%
errors = {}
for name in ("no mask", "boolean mask", "causal"):
    q, k, v = (torch.randn(3, 2, 7, 16) for _ in range(3))
    mask, is_causal = None, name == "causal"
    if name == "boolean mask":
        mask = torch.rand(3, 1, 7, 7) > 0.5
        mask[..., 0] = True  # every query may see at least one key
    ours, _ = scaled_dot_product_attention(q, k, v, mask, is_causal)
    ref = F.scaled_dot_product_attention(q, k, v, mask, is_causal=is_causal)
    what = f"max |ours - PyTorch| attention, {name}"
    errors[name] = dlbook.report(what, (ours - ref).abs().max(), fmt=".1e")

# %% tags=["remove-cell"]
assert max(errors.values()) < 1e-5

# %% [markdown]
# All three agree to float32 rounding.
#
# ## Masking the future
#
# A language model predicts each token from the tokens *before* it. If we
# train it on whole sentences at once, position $i$ must not see positions
# $j > i$, or it could simply read off the answer. The **causal mask** allows
# query $i$ to attend to keys $j \le i$ only:
#
# $$
# A = \operatorname{softmax}\Big(\frac{QK^\top}{\sqrt d} + M\Big), \qquad
# M_{ij} = \begin{cases} 0 & j \le i \\ -\infty & j > i \end{cases}
# $$ (eq-causal)
#
# so the weight matrix is lower triangular. The claim "earlier outputs do not
# depend on later inputs" can be tested directly: change the input at position
# 5 and see which outputs move.

# %%
torch.manual_seed(0)
w_q, w_k, w_v = (torch.randn(32, 32) / math.sqrt(32) for _ in range(3))  # projections


def self_attention(x, causal):
    return scaled_dot_product_attention(x @ w_q, x @ w_k, x @ w_v, is_causal=causal)[0]


x = torch.randn(1, 10, 32)  # (B, T, D)
x_changed = x.clone()
x_changed[0, 5] = torch.randn(32)  # a different token at position 5
for causal in (True, False):
    delta = (self_attention(x, causal) - self_attention(x_changed, causal)).abs()
    delta = delta.amax(-1)[0]  # (T,) the largest change at each position
    changes = [f"{c:.0e}" for c in delta.tolist()]
    print(f"causal={causal!s:5}: max output change per position {changes}")
    if causal:
        causal_delta = delta

# %% tags=["remove-cell"]
assert (causal_delta[:5] == 0).all(), (
    "positions before 5 must be unaffected by a change at 5"
)
assert (causal_delta[5:] > 1e-3).all(), "positions 5 and later must change"
assert (delta[:5] > 1e-3).all(), "without the mask every position sees the change"

# %% [markdown]
# With the mask, the outputs at positions 0–4 are *exactly* unchanged and
# those from position 5 on change; without it, every position changes.
#
# ## Multi-head attention
#
# One softmax gives each query one way of distributing its attention. A
# transformer runs $H$ attentions side by side, each with its own projections
# to a space of dimension $d = D/H$, and mixes their concatenated outputs with
# a final linear map {cite}`vaswani2017attention`:
#
# $$
# \begin{aligned}
# \operatorname{MHA}(X) &= \big[\operatorname{head}_1, \dots, \operatorname{head}_H\big] W_o, \\
# \operatorname{head}_h &= \operatorname{Attention}\big(X W_q^{(h)}, X W_k^{(h)}, X W_v^{(h)}\big).
# \end{aligned}
# $$ (eq-mha)
#
# One head might attend to the previous character, another to the start of
# the word. With $d = D/H$ the cost is the same as one head of width $D$. In
# code, the $H$ projections are one $D \times 3D$ matrix and the heads are an
# extra tensor dimension:


# %% tags=["dlbook:attention"]
class MultiHeadAttention(nn.Module):
    """H attention heads of width D/H side by side, then an output projection."""

    def __init__(self, d_model: int, n_heads: int, *, bias=True, dropout=0.0):
        super().__init__()
        check_heads(d_model, n_heads)
        self.d_model, self.n_heads, self.dropout = d_model, n_heads, dropout
        self.in_proj = nn.Linear(d_model, 3 * d_model, bias=bias)  # W_q, W_k, W_v
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)  # W_o

    def forward(
        self, x, context=None, *, mask=None, is_causal=False, need_weights=False
    ):
        q, k, v = self.project(x, x if context is None else context)
        if need_weights:  # the explicit computation, to look at the weights
            out, w = scaled_dot_product_attention(q, k, v, mask, is_causal)
        else:  # PyTorch's fused kernel (FlashAttention on a GPU)
            p = self.dropout if self.training else 0.0
            out, w = F.scaled_dot_product_attention(q, k, v, mask, p, is_causal), None
        return self.out_proj(out.transpose(1, 2).flatten(2)), w  # heads side by side


# %% [markdown]
# `forward` puts the heads' outputs side by side again, $(B, T, D)$, before
# the output projection, and returns the weights $(B, H, T, S)$ only when
# asked for them. It relies on two small methods, which we attach to the
# class with `add_to_class` (as in {ref}`ch-autodiff`): `project` computes
# queries from `x` and keys and values from the `context` (the same tokens,
# for self-attention) with the stacked $(3D, D)$ matrix, and `heads` splits
# the width $D$ into $H$ heads of width $D/H$, which become a batch dimension.


# %% tags=["dlbook:attention"]
@add_to_class(MultiHeadAttention)
def project(self, x: torch.Tensor, context: torch.Tensor):
    """Queries from x (B, T, D), keys and values from context (B, S, D)."""
    check_tokens(x, context, self.d_model)
    q = self.in_proj(x)[..., : self.d_model]  # (B, T, D)
    k, v = self.in_proj(context)[..., self.d_model :].chunk(2, dim=-1)  # (B, S, D)
    return self.heads(q), self.heads(k), self.heads(v)  # (B, H, T|S, D/H)


@add_to_class(MultiHeadAttention)
def heads(self, z: torch.Tensor) -> torch.Tensor:
    return z.unflatten(-1, (self.n_heads, -1)).transpose(1, 2)  # (B, H, T, D/H)


# %% [markdown]
# The parameters are stored as in PyTorch's `nn.MultiheadAttention` (`in_proj`
# stacks $W_q, W_k, W_v$ and `out_proj` is $W_o$), so we can
# copy its weights into ours and compare outputs and per-head weights — with
# and without a mask. (Beware: `nn.MultiheadAttention` marks *forbidden*
# pairs with `True`, the opposite of `F.scaled_dot_product_attention`.)

# %%
torch.manual_seed(0)
ref = nn.MultiheadAttention(32, 4, batch_first=True).eval()
ours = MultiHeadAttention(32, 4).eval()
with torch.no_grad():  # PyTorch's weights into our module
    ours.in_proj.weight.copy_(ref.in_proj_weight)
    ours.in_proj.bias.copy_(ref.in_proj_bias)
    ours.out_proj.load_state_dict(ref.out_proj.state_dict())

# %%
x = torch.randn(2, 10, 32)
causal = att.causal_mask(10)
with torch.no_grad():
    out, w = ours(x, need_weights=True)
    out_ref, w_ref = ref(x, x, x, average_attn_weights=False)
    out_m, _ = ours(x, mask=causal)
    out_m_ref, _ = ref(x, x, x, attn_mask=~causal)  # True = forbidden in nn.MHA
pairs = [(out, out_ref), (w, w_ref), (out_m, out_m_ref)]
mha_gap = max((a - b).abs().max() for a, b in pairs)
mha_err = dlbook.report("max |ours - nn.MultiheadAttention|", mha_gap, fmt=".1e")

# %% tags=["remove-cell"]
assert mha_err < 1e-5 and w.shape == (2, 4, 10, 10)

# %% [markdown]
# ## Where is each token? Positional encodings
#
# Attention compares tokens by their content only: permute the input tokens
# and the outputs are permuted the same way (Exercise 1 checks this). For
# language and images order matters, so position has to be written into the
# tokens themselves. The original transformer adds sinusoids of geometrically
# spaced frequencies {cite}`vaswani2017attention`:
#
# $$
# \mathrm{PE}_{t, 2i} = \sin\big(t\, \omega_i\big), \qquad \mathrm{PE}_{t, 2i+1} = \cos\big(t\, \omega_i\big), \qquad
# \omega_i = 10000^{-2i/D}.
# $$ (eq-sinusoidal)
#
# In {numref}`fig-attention-pe` each pair of dimensions is a clock hand turning
# at its own speed; fast hands
# resolve neighbouring positions, slow ones distinguish distant ones.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The sinusoidal position encodings of 128 positions in 64 dimensions: each row of pixels is one dimension, oscillating along the positions at its own frequency.", "name": "fig-attention-pe"}, "image": {"alt": "A red and blue striped image: the bottom rows alternate quickly along the horizontal position axis, the upper rows ever more slowly."}}
pe = att.sinusoidal_positions(128, 64)  # (T, D)
fig, ax = plot.subplots(width=7, height=3.2)
im = ax.imshow(
    pe.T.numpy(), aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest"
)
ax.grid(False)
ax.set_xlabel("position $t$")
ax.set_ylabel("dimension")
ax.set_title("sinusoidal position encodings (D = 64)")
fig.colorbar(im, ax=ax, shrink=0.8)
plot.show(fig)

# %% [markdown]
# Low dimensions oscillate quickly along the positions, high ones slowly. A
# useful property follows from $\sin a \sin b + \cos a \cos b = \cos(a - b)$:
# the dot product $\mathrm{PE}_t^\top \mathrm{PE}_{t+k} = \sum_i \cos(k\omega_i)$
# depends only on the offset $k$, not on $t$, so a similarity between
# positions says how far apart they are.

# %%
offsets = (1, 5, 20)
dots = torch.tensor(
    [[pe[t] @ pe[t + k] for t in (0, 10, 50, 100)] for k in offsets]
)  # (offsets, starts)
for k, row in zip(offsets, dots):
    print(
        f"offset {k:2}: PE_t . PE_t+k for t = 0, 10, 50, 100 -> "
        f"{[round(v, 4) for v in row.tolist()]}"
    )

# %% tags=["remove-cell"]
assert (dots.max(1).values - dots.min(1).values).max() < 1e-3, (
    "the dot product depends on the offset only"
)
assert dots[0, 0] > dots[1, 0] > dots[2, 0], "nearby positions are more similar"

# %% [markdown]
# Each row is constant, and nearer positions are more similar. Learned
# position embeddings — a trainable vector per position, which GPT and the
# vision transformer use — are the simpler alternative when the maximum length
# is fixed.
#
# ### Rotary position embeddings
#
# Added encodings mix position into the content: the score
# $(\mathbf{q} + \mathrm{PE}_t)^\top(\mathbf{k} + \mathrm{PE}_s)$ contains the
# cross terms $\mathbf{q}^\top \mathrm{PE}_s$ and $\mathrm{PE}_t^\top\mathbf{k}$,
# which depend on $t$ and $s$ separately. **Rotary position embeddings** (RoPE)
# {cite}`su2024roformer`, used by most recent language models, take the clock
# hands literally: they rotate each pair of query and key features
# $(x_{2i}, x_{2i+1})$ by the angle $t\,\omega_i$ of their position. A rotation
# by $t\omega$ followed by the inverse of one by $s\omega$ is a rotation by
# $(t - s)\omega$, so $\operatorname{rope}(\mathbf{q}, t)^\top
# \operatorname{rope}(\mathbf{k}, s)$ depends on the positions *only* through
# the offset $t - s$ — for any content $\mathbf{q}$, $\mathbf{k}$.


# %%
def rope(x: torch.Tensor, base: float = 10_000.0) -> torch.Tensor:
    """Rotate feature pairs of x (..., T, d) by the angles t * omega_i of RoPE."""
    T, d = x.shape[-2:]
    omega = base ** (-torch.arange(0, d, 2, dtype=x.dtype) / d)  # (d/2,) speeds
    angle = torch.arange(T, dtype=x.dtype)[:, None] * omega  # (T, d/2)
    cos, sin = angle.cos(), angle.sin()
    x1, x2 = x[..., 0::2], x[..., 1::2]  # the two coordinates of each pair
    turned = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return turned.flatten(-2)  # (..., T, d)


# %% [markdown]
# We put the *same* query vector at all 64 positions and the same key vector at
# all positions, score every pair, and measure how much the scores vary along
# each diagonal $t - s = \text{const}$: not at all with RoPE, a lot with added
# encodings (in float64).

# %%
T_r, d_r = 64, 32
q_r, k_r = torch.randn(d_r, dtype=torch.float64), torch.randn(d_r, dtype=torch.float64)
Q_r, K_r = q_r.expand(T_r, d_r), k_r.expand(T_r, d_r)  # one content, every position
pe_r = att.sinusoidal_positions(T_r, d_r).double()
scores_rope = rope(Q_r) @ rope(K_r).T  # (T, T)
scores_added = (Q_r + pe_r) @ (K_r + pe_r).T


# %%
def diagonal_spread(scores: torch.Tensor) -> float:
    """The largest range of the scores along one diagonal t - s = const."""
    n = scores.shape[0]
    diags = [scores.diagonal(off) for off in range(-(n - 2), n - 1)]
    return max((dg.max() - dg.min()).item() for dg in diags)


# %%
rope_spread = dlbook.report(
    "RoPE: score range along a diagonal", diagonal_spread(scores_rope), fmt=".1e"
)
added_spread = dlbook.report(
    "added sinusoidal encodings: score range along a diagonal",
    diagonal_spread(scores_added),
    fmt=".2f",
)

# %% tags=["remove-cell"]
assert rope_spread < 1e-12, "RoPE scores depend on the offset only"
assert added_spread > 0.1, "added encodings make scores depend on the positions"
assert torch.allclose(rope(Q_r)[0], q_r), "position 0 is not rotated"

# %% [markdown]
# RoPE changes no parameter count and is applied to queries and keys inside
# every attention layer (not to the values, and not once at the input); our
# GPT keeps the learned position embeddings of GPT-2.
#
# ## Layer normalisation, residual connections and the transformer block
#
# A transformer stacks many layers, and two ingredients make deep stacks
# trainable. **Residual connections** {cite}`he2016deep` add each layer's
# output to its input, $\mathbf{x} \leftarrow \mathbf{x} + f(\mathbf{x})$, so
# the identity is easy to represent and gradients flow along the sum.
# **Layer normalisation** {cite}`ba2016layer` standardises each token over its
# $D$ features — unlike batch normalisation, it does not mix examples, so it
# works for any batch size and sequence length:
#
# $$
# \begin{aligned}
# \operatorname{LN}(\mathbf{x}) &= \boldsymbol\gamma \odot \frac{\mathbf{x} - \mu}{\sqrt{\sigma^2 + \epsilon}} + \boldsymbol\beta, \\
# \mu &= \frac{1}{D}\sum_{l=1}^D x_l, \quad \sigma^2 = \frac{1}{D}\sum_{l=1}^D (x_l - \mu)^2 .
# \end{aligned}
# $$ (eq-layernorm)

# %%
x = torch.randn(2, 10, 32) * 3 + 1
ln = nn.LayerNorm(32)
with torch.no_grad():
    ln.weight.uniform_(0.5, 1.5)
    ln.bias.uniform_(-0.5, 0.5)
    mu, var = (
        x.mean(-1, keepdim=True),
        x.var(-1, unbiased=False, keepdim=True),
    )  # per token
    ours_ln = ln.weight * (x - mu) / torch.sqrt(var + ln.eps) + ln.bias
    ln_err = (ours_ln - ln(x)).abs().max()
print(f"max |our layer norm - nn.LayerNorm| = {ln_err:.1e}")

# %% tags=["remove-cell"]
assert ln_err < 1e-5

# %% [markdown]
# Equation {eq}`eq-layernorm` is what `nn.LayerNorm` computes (with the biased
# variance). The **transformer block** combines everything: multi-head
# attention mixes information *between* tokens, a two-layer MLP (width
# $4D$, GELU {cite}`hendrycks2016gaussian`) transforms each token *on its
# own*, and each is wrapped in a residual connection. We use the *pre-LN*
# arrangement of GPT-2, which normalises the input of each branch and keeps
# the residual path clean; it trains more stably than the original
# post-LN arrangement {cite}`xiong2020layer`:
#
# $$
# \mathbf{x} \leftarrow \mathbf{x} + \operatorname{MHA}\big(\operatorname{LN}_1(\mathbf{x})\big), \qquad
# \mathbf{x} \leftarrow \mathbf{x} + \operatorname{MLP}\big(\operatorname{LN}_2(\mathbf{x})\big).
# $$ (eq-block)
#
# {numref}`fig-attention-block` draws the block and, beside it, what multi-head
# attention does to the shapes.

# %% [markdown]
# :::{figure} ../figs/transformer_block.svg
# :name: fig-attention-block
# :alt: A vertical stack from x: LayerNorm, multi-head attention, dropout, a plus node with a residual line from x; then LayerNorm, Linear D to 4D, GELU, Linear 4D to D, dropout, a second plus node with its residual line; the output. A dashed panel expands multi-head attention into in_proj, split into heads, softmax attention per head, concatenation and out_proj.
# :width: 100%
# The pre-LN transformer block of `TransformerBlock`:
# $\mathbf{x} + \mathrm{MHA}(\mathrm{LN}(\mathbf{x}))$, then
# $\mathbf{x} + \mathrm{MLP}(\mathrm{LN}(\mathbf{x}))$ with a GELU MLP of width
# $4D$. Right: inside multi-head attention, one projection gives $Q$, $K$, $V$,
# which are split into $H$ heads that attend separately and are concatenated and
# projected back.
# :::


# %% tags=["dlbook:attention"]
class TransformerBlock(nn.Module):
    """A pre-LN transformer block: x + attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, d_model, n_heads, *, mlp_ratio=4, dropout=0.0, bias=True):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model, bias=bias)
        self.attn = MultiHeadAttention(d_model, n_heads, bias=bias, dropout=dropout)
        self.ln2 = nn.LayerNorm(d_model, bias=bias)
        hidden = mlp_ratio * d_model  # 4 D, as in the original transformer
        up = nn.Linear(d_model, hidden, bias=bias)  # D -> 4D
        down = nn.Linear(hidden, d_model, bias=bias)  # 4D -> D
        self.mlp = nn.Sequential(up, nn.GELU(), down)  # each token on its own
        self.drop = nn.Dropout(dropout)

    def forward(self, x, *, mask=None, is_causal=False):
        x = x + self.drop(self.attn(self.ln1(x), mask=mask, is_causal=is_causal)[0])
        return x + self.drop(self.mlp(self.ln2(x)))  # (B, T, D)


# %% [markdown]
# A block maps $(B, T, D)$ to $(B, T, D)$, so blocks stack freely:

# %%
block = TransformerBlock(64, 4)
x = torch.randn(2, 10, 64)
n_block = sum(p.numel() for p in block.parameters())
print(f"block: {tuple(x.shape)} -> {tuple(block(x).shape)}, {n_block:,} parameters")

# %% [markdown]
# Almost all of those parameters sit in the four $D\times D$ attention
# projections and the two $D \times 4D$ MLP matrices, about $12 D^2$
# (Exercise 2 makes it exact).
#
# ## The cost of attention grows as $n^2$
#
# For $n$ tokens of width $d$, the scores $QK^\top$ take $n \cdot n \cdot d$
# multiply–adds and the product $AV$ another $n^2 d$: with two floating-point
# operations per multiply–add, attention costs $4n^2d$ FLOPs and stores an
# $n \times n$ weight matrix per head. The projections cost $8nd^2$, linear in
# $n$, so attention dominates once $n > 2d$. We count FLOPs with PyTorch's
# own `FlopCounterMode` and time the computation as $n$ grows. A timing
# takes the best of a few runs after a warm-up: the shortest time is the one
# least disturbed by whatever else the machine is doing.


# %%
def best_time(fn, *args, repeats=3, **kwargs):
    """The best wall-clock time of fn(*args, **kwargs) in seconds, after a warm-up."""
    fn(*args, **kwargs)  # warm-up
    best = math.inf
    for _ in range(repeats):
        synchronize(device)  # a GPU works asynchronously: let it finish first
        t0 = time.perf_counter()
        fn(*args, **kwargs)
        synchronize(device)
        best = min(best, time.perf_counter() - t0)
    return best


# %%
d = 64
flops, seconds = [], []
for n in cfg.n_times:
    q, k, v = (torch.randn(1, n, d, device=device) for _ in range(3))
    with FlopCounterMode(display=False) as counter:
        _, w = scaled_dot_product_attention(q, k, v)
    flops.append(counter.get_total_flops())
    assert w.numel() == n * n, "one weight per (query, key) pair"
    seconds.append(best_time(scaled_dot_product_attention, q, k, v))
    mflop, exact = flops[-1] / 1e6, 4 * n * n * d / 1e6
    print(f"n = {n:5}: {mflop:10.1f} MFLOP (4 n^2 d = {exact:10.1f}),", end=" ")
    print(f"{seconds[-1] * 1e3:8.2f} ms")

# %% tags=["remove-cell"]
assert flops == [4 * n * n * d for n in cfg.n_times], (
    "PyTorch's counter agrees with 4 n^2 d"
)

# %% [markdown]
# PyTorch's FLOP count equals $4n^2d$ exactly, so doubling $n$ quadruples the
# work. Timings on a shared machine are noisy, so we only report them: the
# slope of the log–log plot below estimates the exponent, and for short
# sequences fixed overheads make it smaller than 2.

# %%
log_n = torch.tensor(cfg.n_times, dtype=torch.float64).log()
design = torch.stack([log_n, torch.ones_like(log_n)], 1)  # log t = slope log n + c
log_t = torch.tensor(seconds, dtype=torch.float64).log()[:, None]
slope = torch.linalg.lstsq(design, log_t).solution[0, 0].item()
dlbook.report("log-log slope of attention time vs n", slope, fmt=".2f")
t_last = seconds[-1] * 1e3
_ = dlbook.report(
    f"attention time at n = {cfg.n_times[-1]}", t_last, fmt=".2f", unit="ms"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Time of one single-head attention against the sequence length n on log-log axes, with lines proportional to n squared (dashed) and to n (dotted) through the last point.", "name": "fig-attention-time"}, "image": {"alt": "A log-log plot with measured times as dots joined by a line, a steeper dashed line for n squared and a shallower dotted line for n."}}
fig, ax = plot.subplots(width=7, height=3.2)
ns = torch.tensor(cfg.n_times, dtype=torch.float64).numpy()
ax.loglog(ns, seconds, "o-", label="measured")
ax.loglog(ns, seconds[-1] * (ns / ns[-1]) ** 2, "k--", lw=1, label="$\\propto n^2$")
ax.loglog(ns, seconds[-1] * (ns / ns[-1]), "k:", lw=1, label="$\\propto n$")
ax.set_xlabel("sequence length $n$")
ax.set_ylabel("time of one attention (s)")
ax.set_title(f"single-head attention, d = {d}, {device.type}", fontsize=9)
ax.legend()
plot.show(fig)

# %% [markdown]
# The fitted exponent of {numref}`fig-attention-time` is the slope printed
# above. Wall-clock times mix in fixed per-call overheads, which pull the slope
# below 2 at short lengths, and on a shared machine they are noisy; the FLOP
# count, exactly
# $4n^2d$, is what we check. This
# quadratic cost is why context lengths are limited, and why approximations
# with linear cost exist — for example Performers, which replace the
# softmax kernel by random features {cite}`choromanski2021rethinking`, the
# kernel view once again.
#
# ### Linear attention is a recurrent network
#
# Replace the kernel $\exp(\mathbf{q}^\top\mathbf{k}/\sqrt d)$ by a product of
# feature maps $\phi(\mathbf{q})^\top\phi(\mathbf{k})$, with a positive $\phi$
# such as $\operatorname{elu}(x) + 1$ {cite}`katharopoulos2020transformers`. The
# causal output at position $t$ is then
#
# $$
# \mathbf{o}_t = \frac{\sum_{s \le t} \phi(\mathbf{q}_t)^\top\phi(\mathbf{k}_s)\,
#   \mathbf{v}_s^\top}{\sum_{s \le t} \phi(\mathbf{q}_t)^\top\phi(\mathbf{k}_s)}
#   = \frac{\phi(\mathbf{q}_t)^\top S_t}{\phi(\mathbf{q}_t)^\top \mathbf{z}_t},
# \qquad
# \begin{aligned}
# S_t &= S_{t-1} + \phi(\mathbf{k}_t)\,\mathbf{v}_t^\top, \\
# \mathbf{z}_t &= \mathbf{z}_{t-1} + \phi(\mathbf{k}_t) ,
# \end{aligned}
# $$
#
# so the same numbers come from two computations: in *parallel*, as masked
# attention with an $n \times n$ matrix of weights, or as a **recurrence** that
# carries a $d \times d_v$ state $S_t$ from step to step like the hidden state
# of {ref}`ch-rnn` — a constant cost per token, however long the text. This
# recurrent view leads on to today's state-space models.


# %%
def phi(x: torch.Tensor) -> torch.Tensor:
    return F.elu(x) + 1  # a positive feature map


def linear_attention_parallel(q, k, v):
    """Causal linear attention with an (n, n) weight matrix: (n, d) -> (n, d_v)."""
    weights = (phi(q) @ phi(k).T).tril()  # (n, n): the causal kernel weights
    return weights @ v / weights.sum(-1, keepdim=True)


# %%
def linear_attention_recurrent(q, k, v):
    """The same as a recurrence over t with a (d, d_v) state: (n, d) -> (n, d_v)."""
    S, z, out = q.new_zeros(q.shape[1], v.shape[1]), q.new_zeros(q.shape[1]), []
    for t in range(q.shape[0]):
        S, z = S + phi(k[t])[:, None] * v[t], z + phi(k[t])  # add this step
        out.append(phi(q[t]) @ S / (phi(q[t]) @ z))
    return torch.stack(out)


# %%
q_l, k_l, v_l = (torch.randn(200, 16, dtype=torch.float64) for _ in range(3))
lin_gap = linear_attention_parallel(q_l, k_l, v_l) - linear_attention_recurrent(
    q_l, k_l, v_l
)
lin_err = dlbook.report(
    "linear attention: max |parallel - recurrent|", lin_gap.abs().max(), fmt=".1e"
)

# %% tags=["remove-cell"]
assert lin_err < 1e-12, "the parallel and recurrent forms are the same computation"

# %% [markdown]
# The two forms agree to rounding in float64 (printed above).
#
# ## A vision transformer on Fashion-MNIST
#
# A transformer needs tokens. The vision transformer (ViT)
# {cite}`dosovitskiy2021image` cuts an image into non-overlapping
# $p \times p$ patches, flattens each and maps it linearly to a token of width
# $D$ — a word is worth $p \times p$ pixels. It then prepends a learned
# **class token**, adds a learned **position embedding** to every token, runs
# the blocks, and classifies from the class token's final state: the class
# token has no content of its own, so it must gather, by attention, whatever
# the patches say about the class. We train one on Fashion-MNIST
# {cite}`xiao2017fashion`, with the same standardised images as in the CNN
# chapters. {numref}`fig-attention-vit` follows an image from pixels to logits.

# %% [markdown]
# :::{figure} ../figs/vit_patches.svg
# :name: fig-attention-vit
# :alt: A 28x28 picture of a T-shirt with a 4x4 grid of patches, an arrow labelled patchify to a row of 16 pixel vectors, a linear layer from 49 to 64, a row of 17 tokens with an orange class token first, plus learned positions, then 4 blocks, a layer norm and a head on token 0 giving 10 logits.
# :width: 100%
# How the ViT reads an image (cpu profile: 7x7 patches, width 64, 4 blocks; the gpu
# profile uses 4x4 patches, width 128 and 6 blocks): the 28x28 image is cut into 16
# patches, row by row; each patch's 49 pixels are mapped to a 64-dimensional token;
# a learned class token is put first and learned positions are added; after the
# blocks, the class token's final state gives the 10 logits. The first patch and
# its vector are framed.
# :::

# %%
train_set, test_set = data.load_fashion_mnist("train"), data.load_fashion_mnist("test")
x_all = data.to_float(train_set.x)  # (60000, 1, 28, 28) in [0, 1]
mean, std = x_all.mean().item(), x_all.std().item()
del x_all


def prepare(ds, n, seed=0):
    """Standardised images (n, 1, 28, 28), labels (n,): class-balanced, on device."""
    sub = data.subset(ds, n, seed=seed)
    return ((data.to_float(sub.x) - mean) / std).to(device), sub.y.to(device)


x_train, y_train = prepare(train_set, cfg.n_vit)
x_test, y_test = prepare(test_set, cfg.n_test)
patches = att.patchify(x_test[:1], cfg.vit_patch)  # (1, N, p*p)
print(
    f"training images {tuple(x_train.shape)}; one image -> {patches.shape[1]} "
    f"patches of {patches.shape[2]} pixels"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "A Fashion-MNIST test image cut into patches (left) and the same image as the sequence of its patch tokens (right).", "name": "fig-attention-patches"}, "image": {"alt": "Left: a grey garment image with red grid lines marking the patches. Right: the patches laid out in a row, numbered from 1."}}
n_side = 28 // cfg.vit_patch
fig, (ax1, ax2) = plot.subplots(
    1, 2, width=7, height=1.9, gridspec_kw={"width_ratios": [1, 4]}
)
ax1.imshow(x_test[0, 0].cpu().numpy(), cmap="gray_r")
for edge in range(1, n_side):  # the patch borders
    ax1.axhline(edge * cfg.vit_patch - 0.5, color="tab:red", lw=0.8)
    ax1.axvline(edge * cfg.vit_patch - 0.5, color="tab:red", lw=0.8)
ax1.set_axis_off()
ax1.set_title("image and patches", fontsize=9)
plot.image_grid(
    ax2,
    patches[0].view(-1, cfg.vit_patch, cfg.vit_patch).cpu(),
    ncols=min(len(patches[0]), 16),
    pad=1,
    labels=[str(i + 1) for i in range(patches.shape[1])],
)
ax2.set_title(
    f"the same image as a sequence of {patches.shape[1]} patch tokens", fontsize=9
)
plot.show(fig)

# %% [markdown]
# The model is `dlbook.attention.ViT`, built from the `TransformerBlock`
# written out above; its configuration is a dataclass whose defaults carry a
# reason each. Its forward pass is the whole recipe: embed the patches
# linearly, put the class token in front, add learned position embeddings,
# run the blocks, and read the class logits from the class token's final
# state through a layer norm and a linear layer.

# %%
vit_cfg = att.ViTConfig(
    patch_size=cfg.vit_patch, d_model=cfg.vit_width, n_layers=cfg.vit_layers
)
vit = att.ViT(vit_cfg).to(device)
print(vit_cfg)
n_vit = sum(p.numel() for p in vit.parameters())
print(f"{n_vit:,} parameters; logits {tuple(vit(x_test[:2]).shape)}")

# %% [markdown]
# Transformers are usually trained with AdamW {cite}`loshchilov2019decoupled`,
# a short warm-up of the learning rate and a decay; the one-cycle schedule
# does both. On a GPU, `fit` trains in mixed precision (bfloat16, or float16 with
# a gradient scaler on older GPUs; {ref}`ch-cnn-architectures` explains both).

# %%
torch.manual_seed(0)
batches = data.Batches(
    x_train, y_train, batch_size=cfg.vit_batch, drop_last=True, seed=0
)
opt = torch.optim.AdamW(vit.parameters(), lr=cfg.vit_lr, weight_decay=0.05)
sched = torch.optim.lr_scheduler.OneCycleLR(
    opt, max_lr=cfg.vit_lr, total_steps=cfg.vit_epochs * len(batches), pct_start=0.1
)
test_batches = data.Batches(x_test, y_test, batch_size=1_000, shuffle=False)

# %%
vit_hist = fit(
    vit,
    batches,
    epochs=cfg.vit_epochs,
    optimizer=opt,
    scheduler=sched,
    val=test_batches,
    amp=device.type == "cuda",
    desc="ViT",
)
vit_acc = dlbook.report("ViT test accuracy", vit_hist.val_acc[-1], fmt=".4f")
print(f"training time {vit_hist.total_s:.1f} s")

# %% tags=["remove-cell"]
assert vit_hist.train_loss[-1] < vit_hist.train_loss[0], "the training loss must fall"
assert vit_acc > cfg.vit_min_acc, (
    f"the ViT must beat chance (0.10) clearly: {vit_acc:.3f} <= {cfg.vit_min_acc}"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Training curves of the vision transformer: loss (left) and accuracy (right) per epoch.", "name": "fig-attention-vit-history"}, "image": {"alt": "Two small line plots: a falling training loss and a rising accuracy over the epochs."}}
fig, axes = plot.subplots(1, 2, width=7, height=2.8)
plot.history(axes, vit_hist, title="vision transformer")
plot.show(fig)

# %% [markdown]
# (The "validation" curves are the test subset, evaluated after every epoch
# only to draw them; nothing is tuned on it.) The test accuracy printed above
# is far above chance (10%). It is typically
# below what the CNNs of {ref}`ch-cnn-architectures` reach with the same data: a
# transformer has no built-in notion of locality or translation invariance and
# must learn them from examples, which is why ViTs shine mostly after
# pre-training on very large data sets {cite}`dosovitskiy2021image`.
#
# ### Where does the class token look?
#
# The last layer's attention of the class token over the patches, averaged
# over heads, shows which parts of the image the classification draws on.

# %%
shown = x_test[:6]
with torch.no_grad():
    maps = vit.attention_maps(shown)  # (L, B, H, 1+N, 1+N)
    pred = vit(shown).argmax(1)
side = 28 // cfg.vit_patch  # patches per row
cls_attn = (
    maps[-1, :, :, 0, 1:].mean(1).view(-1, side, side)
)  # (B, side, side): class token -> patches
print(
    f"attention maps {tuple(maps.shape)}; class-token weights on patches sum to "
    f"{maps[-1, :, :, 0, 1:].sum(-1).mean():.3f} (the rest goes to the class token "
    "itself)"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Six test images with the ViT's prediction and the true class (top), and the class token's last-layer attention over the patches, averaged over heads (bottom).", "name": "fig-attention-vit-maps"}, "image": {"alt": "Top row: six garment images with predicted and true class names. Bottom row: coarse coloured grids, one per image, brighter where the class token attends more."}}
fig, axes = plot.subplots(2, len(shown), width=7, height=3.0)
for i in range(len(shown)):
    axes[0, i].imshow(shown[i, 0].cpu().numpy(), cmap="gray_r")
    axes[0, i].set_title(
        f"{test_set.classes[pred[i]]}\n(true: {test_set.classes[y_test[i]]})",
        fontsize=7,
    )
    axes[1, i].imshow(
        cls_attn[i].cpu().numpy(), cmap="viridis", interpolation="nearest"
    )
    for ax in axes[:, i]:
        ax.set_axis_off()
axes[1, 0].set_title(
    "class token's attention (last layer, mean of heads)", fontsize=7, loc="left"
)
plot.show(fig)

# %% [markdown]
# Each map of {numref}`fig-attention-vit-maps` has its own colour scale, from its smallest to its largest
# weight. The class token attends unevenly over the patches, and differently for
# different garments; with larger patches (the CPU profile's $7\times7$) the
# maps are coarse. A single layer's weights are only a rough explanation of a
# decision — information also flows through the residual stream and earlier
# layers — but they are a direct view into what the model compares.
#
# ## GPT: attention for next-token prediction
#
# A GPT {cite}`radford2018improving,radford2019language` is a stack of
# transformer blocks with causal masks, trained to predict every token from
# the tokens before it: for a sequence $t_1, \dots, t_n$ it minimises
#
# $$
# \mathcal{L} = -\frac{1}{n-1}\sum_{i=1}^{n-1} \log p_\theta(t_{i+1} \mid t_1, \dots, t_i).
# $$ (eq-next-token)
#
# Thanks to the mask, one forward pass over a sequence yields all $n-1$
# predictions at once — $n-1$ training examples for the price of one.
# We write it as nanoGPT {cite}`karpathy2022nanogpt` does: a configuration
# dataclass, the block above, and the model — token and learned position
# embeddings, pre-LN blocks, a final layer norm, and an output layer that
# shares its weights with the token embedding {cite}`press2017using`.
# `init_gpt` applies GPT-2's initialisation: normal weights of standard
# deviation 0.02, and the output layers of the residual branches scaled down
# by $1/\sqrt{2L}$ so that the residual stream does not grow with depth.


# %% tags=["dlbook:attention"]
@dataclass
class GPTConfig:
    """A small character-level GPT, nanoGPT's shape at toy sizes."""

    vocab_size: int  # distinct tokens (characters), set from the data
    block_size: int = 128  # context length T; attention costs grow as T^2
    n_layers: int = 4  # each layer can look back and combine once more
    n_heads: int = 4  # heads per layer, each d_model / n_heads wide
    d_model: int = 128  # token width; about 12 n_layers d_model^2 parameters
    dropout: float = 0.0  # useful once the model is big enough to overfit
    bias: bool = True  # biases in the linear layers and layer norms, as GPT-2
    tie_weights: bool = True  # the output layer reuses the token embedding

    def __post_init__(self):
        check_gpt_config(self)


# %% tags=["dlbook:attention"]
class GPT(nn.Module):
    """A decoder-only transformer: ids (B, T) -> next-token logits (B, T, V)."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg, d = cfg, cfg.d_model
        self.tok = nn.Embedding(cfg.vocab_size, d)  # token embeddings
        self.pos = nn.Embedding(cfg.block_size, d)  # learned position embeddings
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(d, cfg.n_heads, dropout=cfg.dropout, bias=cfg.bias)
            for _ in range(cfg.n_layers)
        )
        self.ln = nn.LayerNorm(d, bias=cfg.bias)  # a last layer norm before the head
        self.head = nn.Linear(d, cfg.vocab_size, bias=False)
        init_gpt(self)  # GPT-2's initialisation, and weight tying


# %% [markdown]
# The forward pass turns the ids into tokens (embedding plus position), runs
# the causal blocks and maps the last layer norm's output to logits:


# %% tags=["dlbook:attention"]
@add_to_class(GPT)
def tokens(self, idx: torch.Tensor) -> torch.Tensor:
    check_ids(idx, self.cfg.block_size)  # (B, T) integers, T <= block_size
    pos = torch.arange(idx.shape[1], device=idx.device)  # (T,)
    return self.drop(self.tok(idx) + self.pos(pos))  # (B, T, D)


@add_to_class(GPT)
def forward(self, idx: torch.Tensor) -> torch.Tensor:
    x = self.tokens(idx)  # (B, T, D)
    for block in self.blocks:
        x = block(x, is_causal=True)
    return self.head(self.ln(x))  # (B, T, V)


# %% [markdown]
# Generation is a loop: feed the last `block_size` tokens, turn the last
# position's logits into a distribution, sample the next token, append,
# repeat. The temperature divides the logits: below 1 it sharpens the
# distribution towards the likeliest tokens, above 1 it flattens it, and 0
# picks the likeliest (greedy decoding).


# %% tags=["dlbook:attention"]
def sample_next(logits, temperature=1.0, generator=None):
    """The next token (B, 1) from logits (B, V): sampled, or greedy at temperature 0."""
    if temperature == 0:  # greedy: the most likely token
        return logits.argmax(-1, keepdim=True)
    probs = torch.softmax(logits.float() / temperature, dim=-1).cpu()  # on the CPU,
    nxt = torch.multinomial(probs, 1, generator=generator)  # so a CPU generator works
    return nxt.to(logits.device)


# %% tags=["dlbook:attention"]
@torch.no_grad()
def generate(model, idx, n_new, *, temperature=1.0, generator=None):
    """Append n_new tokens sampled from model to idx (B, T), one at a time."""
    check.number(temperature, "temperature", low=0.0)
    for _ in range(n_new):
        logits = model(idx[:, -model.cfg.block_size :])[:, -1]  # (B, V)
        idx = torch.cat([idx, sample_next(logits, temperature, generator)], dim=1)
    return idx


# %% [markdown]
# ### XOR as a next-token problem
#
# The first problem is the XOR of {ref}`ch-perceptron`, written as text: the
# "documents" are the four sequences $a\; b\; (a \oplus b)$ over the
# vocabulary $\{0, 1\}$. Given the first two tokens, the third is
# determined; the second token, given the first, is a coin flip, so its loss
# cannot fall below $\ln 2$. A one-layer GPT must attend from position 1 to
# position 0 to combine $a$ and $b$.

# %%
xor_seqs = torch.tensor([[a, b, a ^ b] for a in (0, 1) for b in (0, 1)])  # (4, 3)
torch.manual_seed(0)
tiny = GPT(GPTConfig(vocab_size=2, block_size=2, n_layers=1, n_heads=2, d_model=16))
opt = torch.optim.AdamW(tiny.parameters(), lr=1e-2, weight_decay=0.0)
for _ in range(300):
    logits = tiny(xor_seqs[:, :2])  # (4, 2, 2): predictions after a and after a b
    loss = F.cross_entropy(logits.flatten(0, 1), xor_seqs[:, 1:].flatten())
    opt.zero_grad()
    loss.backward()
    opt.step()

# %% [markdown]
# What does it predict after each pair $a\; b$?

# %%
with torch.no_grad():
    p_third = torch.softmax(tiny(xor_seqs[:, :2])[:, 1], -1)  # (4, 2): P(3rd | a, b)
for seq, p in zip(xor_seqs.tolist(), p_third):
    print(f"{seq[0]} {seq[1]} -> predicted {p.argmax().item()}", end=" ")
    print(f"(P = {p.max():.3f}), XOR = {seq[2]}")
hits = (p_third.argmax(1) == xor_seqs[:, 2]).float().mean()
xor_acc = dlbook.report("XOR next-token accuracy", hits, fmt=".2f")
print(f"final loss {loss.item():.3f} (the floor, from the coin-flip", end=" ")
print(f"second token: ln 2 / 2 = {math.log(2) / 2:.3f})")

# %% tags=["remove-cell"]
assert xor_acc == 1.0 and (p_third.argmax(1) == xor_seqs[:, 2]).all(), (
    "the tiny GPT must get XOR 100% right"
)
assert p_third.max(1).values.min() > 0.95
assert abs(loss.item() - math.log(2) / 2) < 0.05, "the loss approaches its floor"

# %% [markdown]
# All four continuations are right with high confidence, and the loss sits at
# its floor: the second token stays a fair coin, as it should. XOR, which a
# single neuron cannot represent, is here just another continuation to
# predict.
#
# ### A character-level GPT on a novel
#
# Now the real thing at toy scale: a GPT that reads Jane Austen's
# *Northanger Abbey* (public domain, shipped with `dlbook`) one character at a
# time — the same text as the recurrent models of {ref}`ch-rnn`. The last
# 10% of the text is held out for validation.

# %%
novel = data.load_text("northanger_abbey")
vocab = text.CharVocab.from_text(novel)
ids = vocab.encode(novel)
split = int(0.9 * len(ids))
train_ids, val_ids = ids[:split].to(device), ids[split:].to(device)
print(
    f"{len(novel):,} characters, {len(vocab)} distinct; train {len(train_ids):,}, "
    f"validation {len(val_ids):,}"
)
print(repr(novel[10_000:10_150]))

# %% [markdown]
# We measure the model in **bits per character**: the validation
# cross-entropy divided by $\ln 2$. A baseline that ignores context and
# predicts every character with its training frequency (the unigram model,
# with add-one smoothing) needs about as many bits as the entropy of the
# character distribution (chapter {ref}`ch-rnn` wrote it out; here it comes from
# `dlbook.text`); a model with context must do better.

# %%
unigram_bpc = dlbook.report(
    "unigram baseline, validation bits per character",
    text.unigram_bits(train_ids, val_ids, len(vocab)),
    fmt=".3f",
)

# %% [markdown]
# The model is scored the same way, on consecutive windows of the validation
# text, 256 windows at a time:


# %%
@torch.no_grad()
def bits_per_char(model, ids, block, max_windows=None):
    """Mean next-character cross-entropy in bits over consecutive windows of `block`."""
    model.eval()
    n = (len(ids) - 1) // block
    n = n if max_windows is None else min(n, max_windows)
    x, y = ids[: n * block].view(n, block), ids[1 : n * block + 1].view(n, block)
    total = 0
    for i in range(0, n, 256):
        logits = model(x[i : i + 256]).float().flatten(0, 1)  # (256 T, V)
        total += F.cross_entropy(logits, y[i : i + 256].flatten(), reduction="sum")
    model.train()
    return (total / y.numel() / math.log(2)).item()


# %% [markdown]
# The configuration comes from the profile; the defaults of
# `GPTConfig` explain each choice (a longer context sees more but costs
# $O(T^2)$ per layer; the width sets the parameter count, about
# $12\,L\,D^2$). The training loop is the one of every language model:
# random windows of the training text, cross-entropy on every position,
# AdamW, gradient clipping and a warm-up–decay schedule.

# %%
gpt_cfg = GPTConfig(
    vocab_size=len(vocab),
    block_size=cfg.gpt_block,
    n_layers=cfg.gpt_layers,
    n_heads=cfg.gpt_heads,
    d_model=cfg.gpt_width,
    dropout=cfg.gpt_dropout,
)
torch.manual_seed(0)
gpt = GPT(gpt_cfg).to(device)

# %%
opt = torch.optim.AdamW(
    gpt.parameters(), lr=cfg.gpt_lr, betas=(0.9, 0.95), weight_decay=0.1
)
sched = torch.optim.lr_scheduler.OneCycleLR(
    opt, max_lr=cfg.gpt_lr, total_steps=cfg.gpt_steps, pct_start=0.05
)
prec = Precision(device)  # the book's one rule: bf16 / fp16 + scaler / float32
windows = torch.Generator().manual_seed(0)
batch_kw = dict(seq_len=cfg.gpt_block, batch_size=cfg.gpt_batch, generator=windows)

# %%
curve, t0 = {"step": [], "train": [], "validation": []}, time.perf_counter()
for step in range(1, cfg.gpt_steps + 1):
    x, y = text.char_windows(train_ids, **batch_kw)  # (B, T) each
    with prec.autocast():  # logits (B*T, V) against targets (B*T,)
        loss = F.cross_entropy(gpt(x).float().flatten(0, 1), y.flatten())
    opt.zero_grad(set_to_none=True)
    prec.step(loss, opt, clip=1.0, params=gpt.parameters())
    sched.step()
    if step % cfg.gpt_eval_every == 0 or step == 1:
        with prec.autocast():
            val_bits = bits_per_char(gpt, val_ids, cfg.gpt_block, max_windows=64)
        curve["step"].append(step)
        curve["train"].append(loss.item() / math.log(2))
        curve["validation"].append(val_bits)

# %% [markdown]
# The whole validation text is scored once at the end.

# %%
gpt_seconds = time.perf_counter() - t0
print(f"{sum(p.numel() for p in gpt.parameters()):,} parameters,", end=" ")
print(f"{cfg.gpt_steps} steps in {gpt_seconds:.1f} s")
with prec.autocast():
    gpt_bpc = dlbook.report(
        "GPT validation bits per character",
        bits_per_char(gpt, val_ids, cfg.gpt_block),
        fmt=".3f",
    )
print(
    f"unigram baseline {unigram_bpc:.3f} bits: the GPT saves "
    f"{unigram_bpc - gpt_bpc:.2f} bits per character"
)

# %% tags=["remove-cell"]
assert gpt_bpc < unigram_bpc - 0.5, "the GPT must beat the unigram baseline clearly"
assert curve["validation"][-1] < curve["validation"][0] - 1.0, (
    "the validation loss must fall"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Bits per character of the character-level GPT during training, on the training batches and on 64 validation windows, with the unigram baseline (dotted).", "name": "fig-attention-gpt-loss"}, "image": {"alt": "Two falling curves, training and validation, ending well below a horizontal dotted line at the unigram baseline."}}
fig, ax = plot.subplots(width=7, height=3.2)
plot.curves(
    ax,
    {"training batch": curve["train"], "validation (64 windows)": curve["validation"]},
    x=curve["step"],
    xlabel="training step",
    ylabel="bits per character",
    title="character-level GPT",
)
ax.axhline(unigram_bpc, color="k", ls=":", lw=1, label="unigram baseline")
ax.legend()
plot.show(fig)

# %% [markdown]
# The loss falls well below the unigram baseline ({numref}`fig-attention-gpt-loss`).
# We sample from it with our
# `generate`.

# %%
gpt.eval()
prompt = vocab.encode("Catherine").to(device)
sampler = torch.Generator().manual_seed(1)
for temperature in (0.5, 1.0):
    sample = generate(
        gpt, prompt[None], 200, temperature=temperature, generator=sampler
    )
    print(f"--- temperature {temperature} ---\n{vocab.decode(sample[0].cpu())}\n")

# %% [markdown]
# ### A cache for keys and values
#
# `generate` runs the whole window through the model for every new token,
# although the keys and values of the earlier tokens do not change: the causal
# mask keeps them from seeing the new one. A **KV cache** stores each block's
# keys and values and feeds the model only the newest token, which attends to
# the stored ones; the work per token then grows with the context instead of
# its square. Without cropping, the cache works while the text fits the
# `block_size` positions of the position table. We split the work in three:
# one block on the new tokens, one step through all blocks, and the loop.


# %% tags=["dlbook:attention"]
@torch.no_grad()
def cached_block(block, x, kv, mask=None):
    """A pre-LN block on the new tokens x (B, T_new, D) after the cached ones.

    kv: the block's cached keys and values (B, H, T_old, D/H), or None. Returns the
    block's output and the keys and values of all tokens so far.
    """
    h = block.ln1(x)
    q, k, v = block.attn.project(h, h)  # (B, H, T_new, D/H) each
    if kv is not None:  # append the new keys and values to the stored ones
        k, v = torch.cat([kv[0], k], 2), torch.cat([kv[1], v], 2)
    y = F.scaled_dot_product_attention(q, k, v, mask)  # (B, H, T_new, D/H)
    x = x + block.attn.out_proj(y.transpose(1, 2).flatten(2))
    return x + block.mlp(block.ln2(x)), (k, v)


# %% tags=["dlbook:attention"]
@torch.no_grad()
def cached_step(model, idx, cache: list):
    """Next-token logits (B, V) after idx (B, T_new), which follows the cached tokens.

    ``cache[i]`` holds block i's keys and values (B, H, T_old, D/H); it grows.
    """
    start, n = (cache[0][0].shape[2] if cache else 0), idx.shape[1]  # old, new
    check_ids(idx, model.cfg.block_size - start)  # the positions must fit the table
    x = model.tok(idx) + model.pos(torch.arange(start, start + n, device=idx.device))
    mask = None  # a single new token may look at every earlier one
    if n > 1:  # several (the prompt): new token i sees keys up to start + i
        mask = torch.ones(n, start + n, dtype=torch.bool, device=idx.device).tril(start)
    for i, block in enumerate(model.blocks):
        x, kv = cached_block(block, x, cache[i] if i < len(cache) else None, mask)
        cache[i : i + 1] = [kv]
    return model.head(model.ln(x))[:, -1]  # (B, V)


# %% tags=["dlbook:attention"]
@torch.no_grad()
def generate_cached(model, idx, n_new, *, temperature=1.0, generator=None):
    """:func:`generate` with a KV cache: each step feeds only the newest token."""
    check.number(temperature, "temperature", low=0.0)
    cache, new = [], idx
    for _ in range(n_new):
        new = sample_next(cached_step(model, new, cache), temperature, generator)
        idx = torch.cat([idx, new], dim=1)  # (B, T + 1)
    return idx


# %% [markdown]
# A cached step is the block's forward pass written out for the new tokens
# only; for one new token it needs no mask, and it calls PyTorch's fused
# attention, as the block does. We first generate with the trained GPT until
# its context window is full, with and without the cache, from the same
# random generator, and count the FLOPs of greedy generation.

# %%
n_gen = cfg.gpt_block - len(prompt)  # fill the context window exactly
runs, flop_count = {}, {}
for name, fn in (("without cache", generate), ("with cache", generate_cached)):
    with FlopCounterMode(display=False) as counter:
        fn(gpt, prompt[None], n_gen, temperature=0)
    flop_count[name] = counter.get_total_flops()
    sampler = torch.Generator().manual_seed(2)
    runs[name] = fn(gpt, prompt[None], n_gen, generator=sampler)
    print(f"{name:>14}: {flop_count[name] / 1e6:8.1f} MFLOP")
same = torch.equal(runs["with cache"], runs["without cache"])
flop_ratio = flop_count["without cache"] / flop_count["with cache"]
print(f"same tokens: {same}; the cache saves a factor {flop_ratio:.1f} in FLOPs")

# %% tags=["remove-cell"]
assert same, "cached and uncached generation must give the same tokens"
assert flop_ratio > 4, f"the cache must save most of the work: {flop_ratio:.1f}"

# %% [markdown]
# Both give the same tokens, and the cache saves most of the arithmetic. (On a
# CPU the counter does not see inside PyTorch's fused attention kernel, so
# there it counts the linear layers.) Does it
# also save *time*? Each step of a model this small costs little more than
# Python's overhead for calling its layers, so the saving shows once the
# uncached passes over the window get long. We time a long continuation: an
# untrained GPT of the same width and depth with a
# `cfg.kv_block`-character window (the weights do not change the time),
# filled from the same prompt, taking the best of a few runs of each.

# %%
shape = dict(n_layers=cfg.gpt_layers, n_heads=cfg.gpt_heads, d_model=cfg.gpt_width)
torch.manual_seed(0)
long_gpt = GPT(GPTConfig(len(vocab), cfg.kv_block, **shape)).to(device).eval()
n_long, times = cfg.kv_block - len(prompt), {}
for name, fn in (("without cache", generate), ("with cache", generate_cached)):
    args = (long_gpt, prompt[None], n_long)
    times[name] = best_time(fn, *args, temperature=0, repeats=cfg.kv_repeats)
    per_token = times[name] / n_long * 1e3
    print(f"{name:>14}: {n_long} tokens in {times[name]:.3f} s,", end=" ")
    print(f"{per_token:.2f} ms per token")
speedup = times["without cache"] / times["with cache"]
kv_speedup = dlbook.report("KV cache wall-time speed-up", speedup, fmt=".1f")

# %% tags=["remove-cell"]
min_speedup = {"smoke": 1.5, "cpu": 2.5}.get(cfg.profile)  # CPU profiles
if min_speedup is not None:
    assert kv_speedup > min_speedup, f"the cache must save time: {kv_speedup:.2f}"

# %% [markdown]
# With a long context the cache pays off in wall-clock time too: the speed-up
# printed above, which the run checks in the `smoke` and `cpu` profiles (at
# least 1.5 and 2.5 times), even on a busy machine. Without the cache every
# new token costs a pass over the whole window; with it, one token's pass,
# whose attention reads the stored keys and values. The `gpu` profile only
# reports the factor. (The cache is why multi-query attention, Exercise 3,
# matters.)

# %% [markdown]
# At temperature 0.5 the text sticks to frequent words and repeats itself; at
# 1.0 it is more varied and misspells more. How much English appears depends on
# the profile — the smoke profile's model has barely started — but everything
# it knows about words, spaces and punctuation it has learnt from characters
# alone. Finally, one head's attention on a sentence from the validation
# text, which the model has never trained on:

# %%
sentence = "Catherine was too wretched to be fearful."  # from the validation text
sent_ids = vocab.encode(sentence)[: cfg.gpt_block].to(device)[None]  # (1, T)
gpt_maps = att.attention_maps(gpt, sent_ids)  # (L, 1, H, T, T)
layer = 0
head = int(
    gpt_maps[layer, 0].diagonal(offset=-1, dim1=-2, dim2=-1).mean(-1).argmax()
)  # the most "look back 1" head
print(
    f"maps {tuple(gpt_maps.shape)}; layer {layer}, head {head}: mean weight on the "
    "previous character "
    f"{gpt_maps[layer, 0, head].diagonal(offset=-1).mean():.2f}"
)

# %% tags=["remove-cell"]
assert sentence in novel[split:], "the sentence comes from the held-out text"
assert (gpt_maps.triu(1) == 0).all(), "causal: no weight on future characters"
torch.testing.assert_close(gpt_maps.sum(-1), torch.ones_like(gpt_maps.sum(-1)))

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Attention weights of one GPT head on a validation sentence: row i shows where the prediction after character i looks.", "name": "fig-attention-gpt-head"}, "image": {"alt": "A lower-triangular heatmap with characters as tick labels, brightest just below the diagonal: the head looks one character back."}}
fig, ax = plot.subplots(width=7, height=6.0)
chars = list(vocab.decode(sent_ids[0].cpu()))
att.show_attention(
    ax,
    gpt_maps[layer, 0, head],
    x_labels=chars,
    y_labels=chars,
    xlabel="attends to (key)",
    ylabel="predicting after (query)",
    title=f"GPT layer {layer}, head {head}",
)
plot.show(fig)

# %% [markdown]
# The weights of {numref}`fig-attention-gpt-head` are lower triangular, as the mask demands. We picked the head of
# the first layer that puts the most weight on the preceding character (the
# line above prints how much): a "look one back" head is a natural first step
# for a character model, because the next letter depends most on the last few.
#
# %% [markdown]
# ### What pre-LN and residual connections buy
#
# The block above normalises the input of each branch and adds the branch to a
# residual stream that runs untouched from the embeddings to the head. Two
# variants show what that buys. The **post-LN** block of the original
# transformer {cite}`vaswani2017attention` normalises *after* each residual
# sum, $\mathbf{x} \leftarrow \operatorname{LN}(\mathbf{x} +
# \operatorname{MHA}(\mathbf{x}))$; a block **without residual connections**
# replaces $\mathbf{x}$ by each branch's output. Each variant overrides only
# `forward`, so it keeps the parameters and the initialisation of our block.


# %%
class PostLNBlock(TransformerBlock):
    """The original transformer's order: a layer norm after each residual sum."""

    def forward(self, x, *, mask=None, is_causal=False):
        x = self.ln1(x + self.drop(self.attn(x, mask=mask, is_causal=is_causal)[0]))
        return self.ln2(x + self.drop(self.mlp(x)))  # (B, T, D)


class NoResidualBlock(TransformerBlock):
    """Pre-LN without the skip connections: each branch replaces x."""

    def forward(self, x, *, mask=None, is_causal=False):
        x = self.drop(self.attn(self.ln1(x), mask=mask, is_causal=is_causal)[0])
        return self.drop(self.mlp(self.ln2(x)))  # (B, T, D)


# %% [markdown]
# We train a GPT of `cfg.deep_layers` such blocks, deeper than the one above
# but narrower, for `cfg.deep_steps` steps with each kind of block, and record
# the gradient norm of every block's parameters at the first step.


# %%
def deep_gpt(block_cls) -> GPT:
    """A deep, narrow GPT made of block_cls blocks, with GPT-2's initialisation."""
    torch.manual_seed(0)
    c = GPTConfig(len(vocab), block_size=32, n_layers=cfg.deep_layers, d_model=32)
    model = GPT(c)
    model.blocks = nn.ModuleList(block_cls(32, c.n_heads) for _ in range(c.n_layers))
    init_gpt(model)
    return model.to(device)


# %%
def block_grad_norms(model: GPT) -> torch.Tensor:
    """The gradient norm of each block's parameters, bottom block first: (L,)."""
    return torch.stack(
        [
            torch.cat([p.grad.flatten() for p in b.parameters()]).norm()
            for b in model.blocks
        ]
    )


# %% [markdown]
# `train_deep` runs AdamW for `cfg.deep_steps` steps on random windows of the
# training text and returns the loss of every step, in bits per character, and
# the gradient norms of the first step, before any update.


# %%
def train_deep(model: GPT):
    opt_deep = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.95))
    gen, losses = torch.Generator().manual_seed(0), []
    batch_kw = dict(seq_len=32, batch_size=cfg.deep_batch, generator=gen)
    for step in range(cfg.deep_steps):
        x, y = text.char_windows(train_ids, **batch_kw)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt_deep.zero_grad(set_to_none=True)
        loss.backward()
        if step == 0:
            grads = block_grad_norms(model)  # at initialisation
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt_deep.step()
        losses.append(loss.detach())  # on the device: no synchronisation per step
    return (torch.stack(losses) / math.log(2)).cpu(), grads.cpu()


# %%
deep = {}
for name, cls in (
    ("pre-LN", TransformerBlock),
    ("post-LN", PostLNBlock),
    ("no residual", NoResidualBlock),
):
    model = deep_gpt(cls)
    curve_bits, grads = train_deep(model)
    val = bits_per_char(model, val_ids, 32, max_windows=64)
    deep[name] = dict(curve=curve_bits, grads=grads, val=val)
    what = f"{cfg.deep_layers}-layer GPT, {name}: validation bits per character"
    dlbook.report(what, val, fmt=".3f")
    print(f"{'':>14}gradient norm per block at the start:", end=" ")
    print(" ".join(f"{g:.1e}" for g in grads.tolist()))

# %% tags=["remove-cell"]
v = {name: d["val"] for name, d in deep.items()}
margin = 0.0 if cfg.profile == "smoke" else 0.2  # a direction in smoke, a gap beyond
assert v["pre-LN"] < min(v["post-LN"], v["no residual"]) - margin, v
g_pre, g_post, g_none = (deep[n]["grads"] for n in ("pre-LN", "post-LN", "no residual"))
assert g_pre.max() < 2 * g_pre.min(), (
    f"pre-LN: about equal gradients in every block {g_pre}"
)
assert g_none[0] < 0.8 * g_none[-1], (
    f"no residual: the gradient shrinks downwards {g_none}"
)
assert g_post[1:].max() < 0.2 * g_pre[1:].min(), (
    f"post-LN: small upper gradients {g_post}"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Left: training loss of a deep, narrow GPT with pre-LN blocks, post-LN blocks and pre-LN blocks without residual connections (running mean over 10 steps). Right: the gradient norm of each block's parameters at the first step, bottom block first.", "name": "fig-attention-deep"}, "image": {"alt": "Left: three falling loss curves, the pre-LN one lowest. Right: on a log scale, a flat line for pre-LN, a rising line for the blocks without residuals, and a post-LN line far below the others after its first block."}}
fig, (ax1, ax2) = plot.subplots(1, 2, width=7, height=3.0)
for name, d in deep.items():
    run = min(10, len(d["curve"]))
    smooth = d["curve"].unfold(0, run, 1).mean(1).numpy()
    ax1.plot(range(run, len(d["curve"]) + 1), smooth, label=name)
    ax2.semilogy(range(1, cfg.deep_layers + 1), d["grads"].numpy(), "o-", label=name)
ax1.set_xlabel("training step")
ax1.set_ylabel("bits per character")
ax2.set_xlabel("block (1 = next to the embeddings)")
ax2.set_ylabel("gradient norm at the start")
ax1.legend(fontsize=8)
plot.show(fig)

# %% [markdown]
# {numref}`fig-attention-deep` shows both effects. With pre-LN blocks every
# block receives a gradient of about the same size, because the residual
# stream carries the gradient from the loss to every block unchanged; the
# model learns fastest and ends with the lowest validation loss (the run
# checks the order, and in the `cpu` and `gpu` profiles a gap of at least 0.2
# bits). Without residual connections the gradient must pass through every
# block above, and it shrinks on the way down. Post-LN keeps the residual sums
# but renormalises after each, and at this initialisation the blocks above the
# first receive gradients many times smaller than with pre-LN (the run checks
# a factor of at least 5); such depth-dependent gradients are why post-LN
# transformers need a learning-rate warm-up {cite}`xiong2020layer`.
#
# ## Attention is a graph neural network on a complete graph
#
# Look at self-attention once more, one token at a time: token $i$ receives a
# message $\mathbf{v}_j$ from every token $j$, weighs it by $A_{ij}$ and sums.
# That is **message passing** on a graph whose nodes are the tokens and whose
# edges $j \to i$ carry the weights $A_{ij}$ — a *complete* graph, in which
# every node is connected to every node, itself included. A causal mask
# simply deletes the edges from later to earlier tokens. Graph neural networks
# ({ref}`ch-gnn`) use the same update on *sparse* graphs given by the data:
#
# $$
# \begin{aligned}
# \mathbf{x}_i' &= \sum_{j \in \mathcal{N}(i)} a(\mathbf{x}_i, \mathbf{x}_j)\, \mathbf{v}(\mathbf{x}_j),\\
# \mathcal{N}(i) &= \{1, \dots, n\} \text{ (self-attention)}, \quad \{1, \dots, i\} \text{ (causal)}.
# \end{aligned}
# $$ (eq-attention-gnn)
#
# We implement attention literally as message passing over an edge list and
# check that it equals the dense computation.


# %%
def attention_on_graph(q, k, v, src, dst):
    """Message passing: node dst[e] receives v[src[e]], softmax-weighted over its edges.

    q, k (n, d), v (n, d_v); src, dst (E,) edge lists -> (n, d_v).
    """
    score = (q[dst] * k[src]).sum(-1) / math.sqrt(q.shape[-1])  # (E,) one per edge
    score = (score - score.max()).exp()  # (E,) kernel values (a shift cancels below)
    norm = torch.zeros(len(q)).index_add_(0, dst, score)  # (n,) sum over in-edges
    message = (score / norm[dst])[:, None] * v[src]  # (E, d_v) weighted values
    return torch.zeros(len(q), v.shape[1]).index_add_(0, dst, message)


# %% [markdown]
# On eight random tokens, the complete graph (with self-loops) must give
# self-attention and the causal graph causal attention:

# %%
n = 8
q, k, v = torch.randn(n, 16), torch.randn(n, 16), torch.randn(n, 16)
dst_all, src_all = torch.cartesian_prod(torch.arange(n), torch.arange(n)).T  # all
keep = src_all <= dst_all  # causal graph: edges from earlier (or the same) tokens only
graph = attention_on_graph(q, k, v, src_all, dst_all)
graph_causal = attention_on_graph(q, k, v, src_all[keep], dst_all[keep])
dense = scaled_dot_product_attention(q, k, v)[0]
dense_causal = scaled_dot_product_attention(q, k, v, is_causal=True)[0]
gnn_err = max((graph - dense).abs().max(), (graph_causal - dense_causal).abs().max())
print(f"edges: complete {len(src_all)} = n^2, causal {int(keep.sum())} = n(n+1)/2;")
print(f"max |graph - dense| = {gnn_err:.1e}")

# %% tags=["remove-cell"]
assert gnn_err < 1e-5 and len(src_all) == n * n and keep.sum() == n * (n + 1) // 2

# %% [markdown]
# The two computations agree. Seen this way, the transformer's choices are
# GNN choices: the neighbourhood is everything (or everything earlier), the
# edge weights are computed from the node features by a learned kernel, and
# position must be put into the node features because a graph has no order.
# A GNN instead takes its neighbourhoods from the data — bonds between atoms,
# links between papers — which makes it cheaper ($O(|E|)$ instead of $O(n^2)$)
# and builds the structure in.
#
# ## Summary
#
# - Attention is kernel smoothing: an output is a weighted average of values,
#   with weights from a softmax over query–key similarities. Nadaraya–Watson
#   regression is attention with a fixed Gaussian kernel.
# - Transformers learn the kernel and the values: $\operatorname{softmax}(QK^\top/\sqrt d)V$ with
#   learned projections; the $1/\sqrt d$ keeps the scores at unit scale so the
#   softmax does not saturate.
# - Masks remove (query, key) pairs; the causal mask makes each output depend
#   only on earlier inputs, which we verified by perturbing a future token.
# - Multi-head attention runs several attentions in parallel; positional
#   encodings break attention's permutation symmetry, and rotary embeddings
#   make the scores depend on the offset between positions only.
# - In a deep GPT, pre-LN blocks with residual connections give every block a
#   gradient of the same size and train best; without residuals the gradient
#   shrinks downwards, and post-LN starves the upper blocks at initialisation.
# - Attention costs $4n^2d$ FLOPs and $n^2$ weights per head: quadratic in the
#   sequence length. Linear attention replaces the softmax kernel by feature
#   maps and becomes a recurrent network with a matrix-valued state.
# - A vision transformer classifies Fashion-MNIST from patch tokens and a
#   class token; a tiny GPT learns XOR as a next-token problem, and a small
#   character-level GPT beats the unigram baseline on held-out text by the
#   margin printed above.
# - Self-attention is message passing on a complete graph, the bridge to
#   {ref}`ch-gnn`.
#
# ## Exercises
#
# **Exercise 1 (permutation equivariance).** Show that a transformer block
# without positional information is permutation-equivariant: permuting the
# input tokens permutes the outputs in the same way,
# $f(PX) = P f(X)$. Then add sinusoidal position encodings before the block
# and show that the property is lost.

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Answer: every part of the block (attention, the per-token MLP, layer norm)
# treats all tokens alike, so permuting the tokens permutes the outputs (the
# error printed is rounding); only positional encodings tell the model where a
# token is, and with them the property is lost. A random block, 12 tokens:
torch.manual_seed(0)
block = TransformerBlock(32, 4).eval()
x, perm = torch.randn(2, 12, 32), torch.randperm(12)
pe = att.sinusoidal_positions(12, 32)
with torch.no_grad():
    equi_err = (block(x[:, perm]) - block(x)[:, perm]).abs().max()
    pe_gap = (block(x[:, perm] + pe) - block(x + pe)[:, perm]).abs().max()
print(
    f"without positions: max |f(PX) - P f(X)| = {equi_err:.1e}; with positions: "
    f"{pe_gap:.2f}"
)
assert equi_err < 1e-5, "attention, the MLP and layer norm treat every token alike"
assert pe_gap > 0.1, "positions make the order matter"

# %% [markdown]
# **Exercise 2 (counting parameters).** Derive the number of parameters of a
# transformer block of width $D$ (with biases, MLP width $4D$), and of the
# character-level GPT trained above. Compare with PyTorch's count.


# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Answer: attention's W_q, W_k, W_v, W_o are D x D plus D biases each: 4D^2 + 4D.
# The MLP: D x 4D + 4D and 4D x D + D: 8D^2 + 5D. Two layer norms: 2 x 2D.
# A block has 12 D^2 + 13 D parameters; the GPT adds its embeddings and the
# final layer norm, and `parameters()` lists the tied embedding matrix once.
def block_params(D):
    return (4 * D * D + 4 * D) + (8 * D * D + 5 * D) + 4 * D  # = 12 D^2 + 13 D


def gpt_params(
    c,
):  # token and position embeddings, blocks, final layer norm; the output layer is tied
    return (
        c.vocab_size * c.d_model
        + c.block_size * c.d_model
        + c.n_layers * block_params(c.d_model)
        + 2 * c.d_model
    )


for D in (32, 64, 128):
    assert block_params(D) == sum(
        p.numel() for p in TransformerBlock(D, 4).parameters()
    )
n_gpt = sum(p.numel() for p in gpt.parameters())
print(
    f"block, D = 64: {block_params(64):,}; our GPT: formula {gpt_params(gpt_cfg):,}, "
    f"PyTorch {n_gpt:,}"
)
assert gpt_params(gpt_cfg) == n_gpt

# %% [markdown]
# **Exercise 3 (multi-query attention).** At generation time a GPT stores the
# keys and values of all previous tokens for every head. *Multi-query
# attention* {cite}`shazeer2019fast` keeps $H$ query heads but a single shared
# key head and value head of width $D/H$. Implement it, count its projection
# parameters against multi-head attention, and show that it equals a
# multi-head attention whose $H$ key (and value) projections are all copies
# of the shared one.


# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Answer: multi-query attention equals a multi-head attention whose key and
# value heads are copies of the shared ones (checked below). It saves
# parameters, but more importantly it divides the memory for cached keys and
# values by H, which is what limits fast generation.
class MultiQueryAttention(nn.Module):
    """H query heads share one key head and one value head of width D/H."""

    def __init__(self, d_model, n_heads):
        super().__init__()
        self.h, self.dh = n_heads, d_model // n_heads
        self.q = nn.Linear(d_model, d_model)
        self.kv = nn.Linear(d_model, 2 * self.dh)  # one key and one value head
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x, is_causal=False):
        b, t, d = x.shape
        q = self.q(x).view(b, t, self.h, self.dh).transpose(1, 2)  # (B, H, T, dh)
        k, v = self.kv(x)[:, None].chunk(2, dim=-1)  # (B, 1, T, dh): for every head
        y, _ = scaled_dot_product_attention(q, k, v, is_causal=is_causal)
        return self.out(y.transpose(1, 2).reshape(b, t, d))


# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# The check: copy the shared key and value heads into every head of a
# multi-head attention, and compare outputs and parameter counts.
torch.manual_seed(0)
D, H = 64, 8
mqa, mha = MultiQueryAttention(D, H).eval(), MultiHeadAttention(D, H).eval()
with torch.no_grad():  # MHA with every key/value head a copy of the shared one
    wk, wv = mqa.kv.weight.chunk(2)
    bk, bv = mqa.kv.bias.chunk(2)
    mha.in_proj.weight.copy_(
        torch.cat([mqa.q.weight, wk.repeat(H, 1), wv.repeat(H, 1)])
    )
    mha.in_proj.bias.copy_(torch.cat([mqa.q.bias, bk.repeat(H), bv.repeat(H)]))
    mha.out_proj.load_state_dict(mqa.out.state_dict())
    x = torch.randn(2, 10, D)
    mqa_err = (mqa(x, is_causal=True) - mha(x, is_causal=True)[0]).abs().max()
n_mqa, n_mha = (sum(p.numel() for p in m.parameters()) for m in (mqa, mha))
print(
    f"parameters: MQA {n_mqa:,} vs MHA {n_mha:,}; cached numbers per token: "
    f"{2 * D // H} vs {2 * D}; max |MQA - tied MHA| = {mqa_err:.1e}"
)
assert mqa_err < 1e-5
assert n_mqa == 2 * (D * D + D) + 2 * (D * D // H + D // H) and n_mha == 4 * (D * D + D)

# %% [markdown]
# **Exercise 4 (how far does the GPT look?).** Evaluate the trained GPT on the
# validation text with a shorter context: the same model, but windows of
# $1$, $T/8$, $T/4$, $T/2$ and $T$ characters. How much does the extra context buy?

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Answer: more context lowers the validation loss (no longer window costs more
# than 0.02 bits, checked), and the returns diminish: the gain printed for the
# first step is larger than for the last. (Each window starts without context,
# so a window of t characters gives its predictions t/2 characters of context
# on average.)
contexts = [1] + [cfg.gpt_block // f for f in (8, 4, 2, 1)]
with prec.autocast():
    ctx_bits = {t: bits_per_char(gpt, val_ids, t) for t in contexts}
print("context length -> validation bits per character:")
print({t: round(b, 3) for t, b in ctx_bits.items()})
gains = {f"{a}->{b}": ctx_bits[a] - ctx_bits[b] for a, b in zip(contexts, contexts[1:])}
print("bits saved by each longer context:", {k: round(g, 3) for k, g in gains.items()})
assert all(g > -0.02 for g in gains.values()), f"more context must not hurt: {gains}"
assert ctx_bits[cfg.gpt_block] < ctx_bits[1] - 0.1, "context must help"
first, last = list(gains.values())[0], list(gains.values())[-1]
assert first > last, f"the returns of more context diminish: {gains}"
# Most of what predicts the next character lies in the last few characters (the
# current word). A well-trained model keeps gaining from longer context; the
# smoke profile's briefly trained one gains little beyond the first few.

# %% [markdown]
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
