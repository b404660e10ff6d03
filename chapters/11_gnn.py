# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# (ch-gnn)=
# # Graph neural networks
#
# ```{admonition} Learning objectives
# :class: tip
# After this chapter you can
# - store a graph as node features, an adjacency matrix or an edge index, and batch many graphs into one;
# - write the general message-passing layer (message, aggregate, update) and explain why its aggregation must
#   not depend on the order of the neighbours;
# - implement the GCN layer densely and as sparse message passing, and edge convolution, and check that permuting
#   the nodes permutes their outputs;
# - train GNNs for graph classification and for semi-supervised node classification, and say what the graph adds
#   over the node features alone;
# - show that an attention layer is message passing on the complete graph, and that masking it to a graph gives
#   graph attention.
# ```
#
# Images are grids and texts are sequences, and the networks of the previous
# chapters exploit exactly that: a convolution slides along the grid, a
# recurrent network walks along the sequence. Much data has no such order. A
# molecule is a set of atoms joined by bonds; a social network is a set of
# people joined by friendships; a 3-D mesh is a set of vertices joined by the
# edges of its triangles. What these share is a **graph**: objects, and the
# relations between them. A graph neural network (GNN) learns from both
# {cite}`scarselli2009graph,gilmer2017neural,hamilton2020graph`. This chapter
# builds the main GNN layers in plain PyTorch, checks the symmetry that
# defines them, trains them on generated graphs, and ends where
# {ref}`ch-attention` began: attention is a GNN on a complete graph.

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
# All graphs in this chapter are generated on the spot, so nothing is
# downloaded. The profiles differ in how many graphs we generate and train on,
# and in the size of the community graph of the node-classification section.

# %%
import random
import time

import torch
import torch.nn.functional as F
from torch import nn

from dlbook import check, gnn, plot
from dlbook.gnn import add_self_loops, check_attention_args, check_choice, check_graph
from dlbook.gnn import check_layer_args, degree, readout, scatter_sum, segment_softmax

# %% tags=["hide-input"]
# fmt: off
cfg = dlbook.config(  # n_graphs_*: graphs per split; community: nodes per SBM community
    smoke=dict(n_graphs_train=400, n_graphs_test=200, graph_epochs=8, graph_batch=32,
               community=50, node_epochs=100),
    cpu=dict(n_graphs_train=1_200, n_graphs_test=600, graph_epochs=15, graph_batch=32,
             community=100, node_epochs=200),
    gpu=dict(n_graphs_train=4_000, n_graphs_test=2_000, graph_epochs=20,
             graph_batch=128, community=300, node_epochs=300),
)
# fmt: on
cfg

# %% [markdown]
# ## Graphs: nodes, edges, adjacency
#
# A graph $G = (V, E)$ is a set of nodes $V = \{1, \dots, N\}$ and a set of
# edges $E \subseteq V \times V$. Node $i$ carries a feature vector
# $\mathbf{x}_i \in \mathbb{R}^F$ (an atom's element and charge, a person's
# profile, a vertex's position); an edge can carry features $\mathbf{e}_{ji}$
# too (a bond's type, a distance). The edges can be stored in two ways:
#
# - the **adjacency matrix** $A \in \{0, 1\}^{N \times N}$ with $A_{ij} = 1$
#   when there is an edge from $j$ to $i$ (between them, if undirected); it is symmetric for an
#   undirected graph, and the **degree** of node $i$ is
#   $d_i = \sum_j A_{ij}$, its number of neighbours;
# - the **edge index**, a $2 \times |E|$ integer tensor whose column $(j, i)$
#   is an edge from $j$ to $i$. An undirected edge is stored twice, once per
#   direction. This is the format of PyTorch Geometric
#   {cite}`fey2019fast`, and the one `dlbook.gnn` uses.
#
# The adjacency matrix costs $N^2$ numbers however few edges there are; the
# edge index costs $2|E|$. Real graphs are sparse — a molecule's atoms have at
# most a handful of bonds, a person a few hundred friends among billions — so
# large graphs are always stored as edge lists. Here is a small graph with
# seven nodes.

# %%
pairs = [(0, 1), (0, 2), (1, 2), (2, 3), (3, 4), (4, 5), (4, 6), (5, 6)]  # undirected
n_small = 7
edge_small = gnn.to_undirected(torch.tensor(pairs).t(), n_small)  # (2, 16): both ways
adj_small = gnn.adjacency(edge_small, n_small)  # (7, 7)
deg_small = adj_small.sum(dim=1)  # (7,) degrees
print("edge index (sources, then targets):\n", edge_small)
print("degrees:", deg_small.long().tolist())

# %% tags=["remove-cell"]
assert torch.equal(adj_small, adj_small.T), (
    "an undirected graph has a symmetric adjacency matrix"
)
assert torch.equal(deg_small, gnn.degree(edge_small[1], n_small)), (
    "degree = row sum = in-edges per node"
)
assert edge_small.shape == (2, 2 * len(pairs)) and deg_small.sum() == 2 * len(pairs)

# %% [markdown]
# Every undirected edge appears twice in the edge index, so the degrees add up
# to twice the number of edges. {numref}`fig-gnn-small` places the nodes on a
# circle; the adjacency matrix beside it has one dark entry per stored edge.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "A graph of seven nodes drawn on a circle (left) and its adjacency matrix (right), one dark entry per stored edge j -> i.", "name": "fig-gnn-small"}, "image": {"alt": "Left: seven numbered nodes on a circle joined by eight lines. Right: a 7 by 7 grid, symmetric about the diagonal, with sixteen dark squares."}}
fig, axes = plot.subplots(1, 2, width=7, height=3.2)
gnn.draw_graph(
    axes[0], gnn.circular_layout(n_small), edge_small, node_size=260, labels=True
)
axes[0].set_title("the graph")
axes[1].imshow(adj_small.numpy(), cmap="Greys")
axes[1].set_xticks(range(n_small))
axes[1].set_yticks(range(n_small))
axes[1].grid(False)
axes[1].set_xlabel("node j (sender)")
axes[1].set_ylabel("node i (receiver)")
axes[1].set_title("adjacency matrix A")
plot.show(fig)

# %% [markdown]
# Nothing in a graph says which node is "first": numbering the nodes
# differently gives the same graph, with the rows and columns of $A$ permuted.
# A model of graphs should therefore not care about the numbering. This one
# requirement shapes everything that follows.
#
# ## Message passing
#
# A GNN layer updates every node from its own state and its neighbours'. In
# the form of Gilmer et al. {cite}`gilmer2017neural`, layer $l$ computes, for
# every node $i$ with neighbours $\mathcal{N}(i)$,
#
# $$
# \mathbf{h}_i^{(l)} = \gamma^{(l)}\Big(\mathbf{h}_i^{(l-1)},\;
#   \bigoplus_{j \in \mathcal{N}(i)} \phi^{(l)}\big(\mathbf{h}_i^{(l-1)}, \mathbf{h}_j^{(l-1)}, \mathbf{e}_{ji}\big)\Big),
#   \qquad \mathbf{h}_i^{(0)} = \mathbf{x}_i .
# $$ (eq-message-passing)
#
# Three learnable or fixed pieces: the **message** $\phi$ that neighbour $j$
# sends to $i$ along their edge; the **aggregation** $\bigoplus$ that combines
# all messages arriving at $i$ into one vector; and the **update** $\gamma$
# that decides what $i$ becomes. The same $\phi$ and $\gamma$ are used at
# every node and every edge — weight sharing, as in a convolution. After $L$
# layers a node has heard from every node up to $L$ edges away
# ({numref}`fig-gnn-message-passing` maps the three pieces onto one neighbourhood).

# %% [markdown]
# :::{figure} ../figs/message_passing.svg
# :name: fig-gnn-message-passing
# :alt: Left, a small graph: node h_i in the middle receives arrows labelled m1, m2, m3 from its three neighbours; two grey nodes farther away are not connected to it. Right, three message boxes phi feed a circle-plus aggregation, then an update box gamma outputs h_i of layer l.
# :width: 100%
# One message-passing layer {eq}`eq-message-passing` at node $i$: each neighbour
# $j$ sends a message $\phi(h_i, h_j, e_{ji})$ along its edge, a
# permutation-invariant aggregation $\oplus$ (sum, mean or maximum) combines them,
# and the update $\gamma$ computes the new $h_i$. Grey nodes are two edges away:
# they reach $i$ only after a second layer.
# :::

# %% [markdown]
# The aggregation gets the messages as a *set*: a node's neighbours have no
# order. $\bigoplus$ must therefore be **permutation invariant** — sum, mean
# and maximum are; "concatenate the messages" is not (and would also need a
# fixed number of neighbours). Written over the edge index, a whole layer is
# a gather, a per-edge function and a scatter:


# %% tags=["dlbook:gnn"]
def message_passing(h, edge_index, message, aggregate, update):
    """One message-passing layer: h (N, F) -> (N, F')."""
    check_graph(h, edge_index)
    src, dst = edge_index  # (E,) each: edge j -> i is (src, dst) = (j, i)
    m = message(h[dst], h[src])  # (E, F_m): one message per edge, from h_i and h_j
    agg = aggregate(m, dst, h.shape[0])  # (N, F_m): the messages into each node
    return update(h, agg)  # (N, F')


# %%
h0 = torch.randn(n_small, 3)
shuffled = edge_small[:, torch.randperm(edge_small.shape[1])]  # edges in another order
diff_message = lambda h_i, h_j: h_j - h_i  # noqa: E731
residual_update = lambda h, agg: h + agg  # noqa: E731
for agg in (gnn.scatter_sum, gnn.scatter_mean, gnn.scatter_max):
    out_a = message_passing(h0, edge_small, diff_message, agg, residual_update)
    out_b = message_passing(h0, shuffled, diff_message, agg, residual_update)
    gap = (out_a - out_b).abs().max()
    print(f"{agg.__name__:>12}: max change when the edges are shuffled {gap:.1e}")

# %% tags=["remove-cell"]
for agg in (gnn.scatter_sum, gnn.scatter_mean, gnn.scatter_max):
    out_a = message_passing(h0, edge_small, diff_message, agg, residual_update)
    out_b = message_passing(h0, shuffled, diff_message, agg, residual_update)
    assert torch.allclose(out_a, out_b, atol=1e-6), (
        f"{agg.__name__} must not depend on the order of the edges"
    )
nbrs = [edge_small[0][edge_small[1] == i] for i in range(n_small)]
hand = torch.stack([h0[i] + (h0[nbrs[i]] - h0[i]).sum(0) for i in range(n_small)])
out = message_passing(h0, edge_small, diff_message, gnn.scatter_sum, residual_update)
assert torch.allclose(out, hand, atol=1e-6), "scatter_sum must sum the messages"

# %% [markdown]
# The `gnn.scatter_*` helpers do the aggregation with `index_add_` and
# `scatter_reduce`: message $e$ is added (or maxed) into row `dst[e]` of the
# output. The order of the edges does not change the result, up to rounding
# in the last bit of a float sum.
#
# ## The graph convolutional network
#
# Kipf and Welling's graph convolution (GCN) {cite}`kipf2017semi` is the
# simplest useful choice of {eq}`eq-message-passing`. The message is a linear
# map of the neighbour's state, weighted by the degrees at both ends of the
# edge; every node also sends a message to itself; the aggregation is a sum:
#
# $$
# \mathbf{h}_i' = \sum_{j \in \mathcal{N}(i) \cup \{i\}}
#   \frac{1}{\sqrt{\tilde d_i \tilde d_j}}\, W^\top \mathbf{h}_j + \mathbf{b},
# \qquad \tilde d_i = d_i + 1 .
# $$ (eq-gcn-node)
#
# For all nodes at once, with $\tilde A = A + I$ and $\tilde D$ the diagonal
# matrix of the degrees $\tilde d_i$,
#
# $$
# H' = \tilde D^{-1/2} \tilde A \tilde D^{-1/2}\, H W + \mathbf{b}, \qquad
# H \in \mathbb{R}^{N \times F_\text{in}},\; W \in \mathbb{R}^{F_\text{in} \times F_\text{out}},
# $$ (eq-gcn)
#
# followed by a nonlinearity. Why the normalisation? Summing unnormalised
# neighbour states lets high-degree nodes grow without bound layer after
# layer; $\tilde D^{-1/2}\tilde A\tilde D^{-1/2}$ is a symmetric averaging
# operator whose eigenvalues lie in $(-1, 1]$, so repeated application
# neither explodes nor (for the top eigenvalue) decays. Here is
# {eq}`eq-gcn` written out in plain PyTorch, as a reference:


# %%
def gcn_reference(x, adj, weight, bias):
    """The GCN layer with dense matrices: x (N, F_in), adj (N, N) -> (N, F_out)."""
    a_tilde = adj + torch.eye(adj.shape[0])  # A + I: every node also hears itself
    d_tilde = a_tilde.sum(dim=1)  # (N,) degrees of A + I
    d_inv_sqrt = torch.diag(d_tilde**-0.5)  # D^{-1/2}
    return d_inv_sqrt @ a_tilde @ d_inv_sqrt @ x @ weight + bias


prop = gnn.gcn_norm_dense(adj_small.double())  # D^{-1/2} (A + I) D^{-1/2}: (7, 7)
eig = torch.linalg.eigvalsh(prop)
print(
    f"eigenvalues of the propagation matrix: min {eig.min():.3f}, max {eig.max():.3f}"
)

# %% tags=["remove-cell"]
assert abs(eig.max().item() - 1) < 1e-9 and eig.min().item() > -1, (
    "the GCN operator's spectrum lies in (-1, 1]"
)

# %% [markdown]
# The largest eigenvalue is exactly 1 (its eigenvector is
# $\tilde D^{1/2}\mathbf{1}$), so stacking propagations keeps the scale of the
# features in check; Exercise 2 shows the price.
#
# `dlbook.gnn` has the layer in two forms. `gcn_conv_dense` is
# {eq}`eq-gcn` with an adjacency matrix and costs $O(N^2)$ per feature. The
# sparse form, `gcn_conv_sparse`, is {eq}`eq-gcn-node` as message passing over
# the edge index — gather the transformed sender states, scale each by its edge
# coefficient, scatter-add them into the receivers — and costs $O(|E|)$:


# %% tags=["dlbook:gnn"]
def gcn_conv_sparse(x, edge_index, weight, bias=None):
    """The GCN layer as message passing over an edge index: (N, F_in) -> (N, F_out)."""
    check_layer_args(x, weight, bias)
    n = x.shape[0]
    src, dst = add_self_loops(edge_index, n)  # (E + N,) each: the edges of A + I
    deg = degree(dst, n, dtype=x.dtype)  # (N,) the row sums of A + I
    norm = deg[src].rsqrt() * deg[dst].rsqrt()  # (E + N,) 1 / sqrt(d_i d_j) per edge
    h = x @ weight  # (N, F_out): transform first, then propagate
    out = scatter_sum(norm[:, None] * h[src], dst, n)  # message, then aggregate
    return out if bias is None else out + bias


# %% [markdown]
# A layer module holds the weight and bias and calls it; its weight starts
# with Glorot's uniform initialisation, as in Kipf and Welling's code.


# %% tags=["dlbook:gnn"]
class GCNConv(nn.Module):
    """A graph convolution layer (Kipf and Welling 2017) on an edge index."""

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True):
        super().__init__()
        check.positive(in_features, "in_features", integer=True)
        check.positive(out_features, "out_features", integer=True)
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        nn.init.xavier_uniform_(self.weight)  # Glorot's uniform initialisation

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return gcn_conv_sparse(x, edge_index, self.weight, self.bias)  # (N, F_out)


# %% [markdown]
# Three implementations of one formula should give one answer. We compare
# them on the small graph and on a random graph of a few hundred nodes.

# %%
gen = torch.Generator().manual_seed(0)
edge_rand, _ = gnn.stochastic_block_model([150, 150], 0.05, 0.01, generator=gen)
cases = {"small graph": (edge_small, n_small), "random graph": (edge_rand, 300)}
for name, (ei, n) in cases.items():
    x, w = torch.randn(n, 8, generator=gen), torch.randn(8, 4, generator=gen)
    b = torch.randn(4, generator=gen)
    adj = gnn.adjacency(ei, n)
    ref = gcn_reference(x, adj, w, b)
    err_dense = (gnn.gcn_conv_dense(x, adj, w, b) - ref).abs().max().item()
    err_sparse = (gcn_conv_sparse(x, ei, w, b) - ref).abs().max().item()
    print(f"{name} ({n} nodes, {ei.shape[1]} directed edges):", end=" ")
    print(f"max |dense - ref| = {err_dense:.1e}, max |sparse - ref| = {err_sparse:.1e}")
_ = dlbook.report("GCN max |sparse - dense reference|", err_sparse, fmt=".1e")

# %% tags=["remove-cell"]
assert err_dense < 1e-5 and err_sparse < 1e-5, (
    "dense, sparse and reference GCN must agree"
)

# %% [markdown]
# All three agree to float32 rounding. Which one is faster? On a ring-like
# graph of a few thousand nodes with ten neighbours each, the dense matrix is
# mostly zeros:

# %%
n_big = 2_000
succ = (torch.arange(n_big)[:, None] + torch.arange(1, 6)).reshape(-1) % n_big
ring = torch.stack([torch.arange(n_big).repeat_interleave(5), succ])
edge_big = gnn.to_undirected(ring, n_big)  # each node: 5 successors, 5 predecessors
x_big, w_big = torch.randn(n_big, 32), torch.randn(32, 32)
adj_big = gnn.adjacency(edge_big, n_big)
fill = edge_big.shape[1] / n_big**2
print(f"nonzeros of A: {edge_big.shape[1]:,} of {n_big**2:,} entries ({fill:.2%})")

# %% [markdown]
# We time each layer over three calls, after one call that warms it up.

# %%
layer_fns = {
    "dense": lambda: gnn.gcn_conv_dense(x_big, adj_big, w_big),
    "sparse": lambda: gcn_conv_sparse(x_big, edge_big, w_big),
}
timings, outs_big = {}, {}
for name, fn in layer_fns.items():
    fn()  # warm up
    t0 = time.perf_counter()
    for _ in range(3):
        outs_big[name] = fn()
    timings[name] = (time.perf_counter() - t0) / 3
    print(f"{name:>6}: {1e3 * timings[name]:6.1f} ms per layer")
label = f"GCN layer on {n_big} nodes, dense / sparse time"
speedup = dlbook.report(label, timings["dense"] / timings["sparse"], fmt=".1f")

# %% tags=["remove-cell"]
assert torch.allclose(outs_big["dense"], outs_big["sparse"], atol=1e-4), (
    "dense and sparse GCN must agree"
)
assert speedup > 2, f"on the CPU the sparse layer must be clearly faster: {speedup:.1f}"

# %% [markdown]
# On this CPU the sparse layer is faster by the factor printed last (the run
# checks that it is at least 2). The exact ratio depends on the machine and on
# how many cores the dense matrix product can use, and on a GPU, whose dense
# products are very fast, the dense layer can win at a few thousand nodes. But
# the dense layer does $N^2$ multiply-adds per feature where the sparse one
# does $|E| + N$, and its adjacency matrix alone takes $4N^2$ bytes: at a
# million nodes that is four terabytes, while the edge index of a graph with
# ten neighbours per node takes 160 megabytes. PyTorch's `torch.sparse` tensors offer a third
# route (a sparse matrix times a dense one); the scatter form is what GNN
# libraries use because it also works when a message is more than a scaled
# copy of the sender's state.
#
# ### Permutation equivariance
#
# Renumber the nodes with a permutation $\pi$, i.e. permute the rows of $X$ to
# $PX$ and the adjacency to $PAP^\top$. A layer $f$ that does not care about
# the numbering must give the same outputs, renumbered the same way:
#
# $$
# f(PX, PAP^\top) = P f(X, A) .
# $$ (eq-equivariance)
#
# That is **equivariance**. A graph-level **readout** that sums or averages the
# node outputs is then **invariant**: $\mathbf{1}^\top P H = \mathbf{1}^\top H$.
# Message passing is equivariant by construction — the same functions at
# every node, combined by an order-free aggregation — but an implementation
# can easily break it (say, by mixing up `src` and `dst`, or adding a
# positional bias). So we check: the GCN, a GIN layer (used below) and edge
# convolution (next section) on a random graph, its nodes shuffled.

# %%
torch.manual_seed(0)
hid = 16


def small_mlp(f_in: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(f_in, hid), nn.ReLU(), nn.Linear(hid, hid))


layers = {
    "GCN": GCNConv(8, hid),
    "GIN": gnn.GINConv(small_mlp(8)),
    "EdgeConv": gnn.EdgeConv(small_mlp(16)),  # reads [h_i, h_j - h_i]: 2 x 8 inputs
}
x_r = torch.randn(300, 8)
perm = torch.randperm(300)
x_p, edge_p = gnn.permute_graph(x_r, edge_rand, perm)  # the same graph, renumbered

# %% [markdown]
# `permute_graph` makes old node `perm[k]` the new node $k$, in the features
# and in the edge index alike, so `out[perm]` is $P f(X, A)$.

# %%
equiv_err, inv_err = {}, {}
with torch.no_grad():
    for name, layer in layers.items():
        out, out_p = layer(x_r, edge_rand), layer(x_p, edge_p)
        equiv_err[name] = (out_p - out[perm]).abs().max().item()  # f(PX, PAP^T)
        r, r_p = gnn.readout(out, None), gnn.readout(out_p, None)  # sums over nodes
        inv_err[name] = (r_p - r).abs().max().item()
        print(
            f"{name:>8}: max |f(PX) - P f(X)| = {equiv_err[name]:.1e}, "
            f"sum readout changes by {inv_err[name]:.1e}"
        )
moved = (layers["GCN"](x_p, edge_p) - layers["GCN"](x_r, edge_rand)).abs().max().item()
print(f"without renumbering the output, the rows differ by up to {moved:.2f}")

# %% tags=["remove-cell"]
assert max(equiv_err.values()) < 1e-5, "every layer must be permutation equivariant"
assert max(inv_err.values()) < 1e-3, "a sum readout must be permutation invariant"
assert moved > 0.1, (
    "the permutation must actually move the rows (otherwise the check above is empty)"
)

# %% [markdown]
# The outputs are the same up to rounding once they are renumbered, and not
# without it — so the check is not empty. The sum readout is unchanged (its
# error is larger only because it adds 300 rows).
#
# ## Edge convolution
#
# The GCN's message depends only on the sender. Edge convolution (EdgeConv),
# introduced for point clouds by Wang et al. {cite}`wang2019dynamic`, lets an
# MLP $\phi$ look at both ends of the edge — the receiver's state and the
# *difference* to the sender, a local "where is my neighbour relative to me" —
# and takes the maximum over the neighbours:
#
# $$
# \mathbf{h}_i' = \max_{j \in \mathcal{N}(i)} \phi\big([\mathbf{h}_i,\; \mathbf{h}_j - \mathbf{h}_i]\big),
# $$ (eq-edgeconv)
#
# the maximum taken per feature. For a point cloud there are no given edges;
# each point is joined to its $k$ nearest neighbours, and in the *dynamic*
# graph CNN the neighbours are recomputed from the features after every
# layer, so that points close in meaning, not only in space, exchange messages.


# %% tags=["dlbook:gnn"]
class EdgeConv(nn.Module):
    """Edge convolution (Wang et al. 2019): h_i' = max_j mlp([h_i, h_j - h_i]).

    ``mlp`` maps (E, 2 F_in) edge features to (E, F_out); ``aggr`` is "max" (the
    paper's), "sum" or "mean". Nodes that receive no edge get 0.
    """

    def __init__(self, mlp: nn.Module, *, aggr: str = "max") -> None:
        super().__init__()
        check_choice(aggr, "aggr", ("max", "sum", "mean"))
        self.mlp, self.aggr = mlp, aggr

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        check_graph(x, edge_index)  # x (N, F_in), edge_index (2, E)
        src, dst = edge_index
        x_i, x_j = x[dst], x[src]  # (E, F_in) each: receiver and sender
        messages = self.mlp(torch.cat([x_i, x_j - x_i], dim=-1))  # (E, F_out)
        return readout(messages, dst, x.shape[0], self.aggr)  # (N, F_out)


# %% [markdown]
# We check the vectorised layer against a direct loop over the nodes on a
# point cloud of 50 points in the plane, joined to their 5 nearest neighbours
# by `gnn.knn_graph`.

# %%
points = torch.randn(50, 2, generator=gen)
edge_knn = gnn.knn_graph(points, k=5)  # (2, 250): 5 incoming edges per point
phi = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 8))  # 2 x 2 -> 8
edge_conv = EdgeConv(phi)
with torch.no_grad():
    fast = edge_conv(points, edge_knn)  # (50, 8)
    loop = []
    for i in range(50):
        nbrs = points[edge_knn[0, edge_knn[1] == i]]  # (5, 2): the points sending to i
        feats = torch.cat([points[i].expand(5, 2), nbrs - points[i]], dim=1)  # (5, 4)
        loop.append(phi(feats).max(0).values)  # (8,): the maximum over the 5
    loop = torch.stack(loop)  # (50, 8)
err = (fast - loop).abs().max().item()
edgeconv_err = dlbook.report("EdgeConv max |vectorised - loop|", err, fmt=".1e")

# %% tags=["remove-cell"]
assert edgeconv_err < 1e-6, (
    "EdgeConv must equal the max over neighbours of the MLP of [h_i, h_j - h_i]"
)
assert torch.equal(gnn.degree(edge_knn[1], 50), torch.full((50,), 5.0)), (
    "k-NN: every point receives k edges"
)

# %% [markdown]
# ## Graph classification
#
# The first task gives a whole graph one label. Molecules are the classic
# case (is this compound toxic?); here we generate the graphs ourselves, so
# that we know exactly what separates the classes. There are four families
# of graphs ({numref}`fig-gnn-families`) with $n$ nodes, $n$ drawn at random for each graph from the same
# range, so that the size says nothing about the class:
#
# - **fork**: a path of $n - 1$ nodes with an extra leaf on its second node, so
#   one end splits in two;
# - **branch**: the same path with the leaf on an inner node at least two steps
#   from both ends;
# - **pan**: a cycle of $n - 1$ nodes with a leaf attached;
# - **tadpole**: a triangle with a tail of $n - 3$ nodes.
#
# Every node gets the same feature, the constant 1: only the structure can
# tell the classes apart.

# %%
FAMILIES = ("fork", "branch", "pan", "tadpole")


def family_graph(kind: str, n: int, rng: random.Random) -> torch.Tensor:
    """The undirected edge index (2, E) of a family-`kind` graph of n >= 6 nodes."""
    if kind in ("fork", "branch"):  # path 0 - ... - (n-2), plus leaf n-1 on node k
        k = 1 if kind == "fork" else rng.randint(2, n - 4)
        pairs = [(a, a + 1) for a in range(n - 2)] + [(k, n - 1)]
    elif kind == "pan":  # cycle 0 - ... - (n-2) - 0, plus leaf n-1 on node 0
        pairs = [(a, (a + 1) % (n - 1)) for a in range(n - 1)] + [(0, n - 1)]
    else:  # tadpole: triangle 0, 1, 2, and the tail 0 - 3 - 4 - ... - (n-1)
        pairs = [(0, 1), (1, 2), (2, 0), (0, 3)] + [(a, a + 1) for a in range(3, n - 1)]
    return gnn.to_undirected(torch.tensor(pairs).t(), n)


# %% [markdown]
# A data set takes the families in turn, draws each graph's size at random and
# then shuffles its nodes (`permute_graph`), so that neither the size nor the
# numbering of the nodes gives the family away.


# %%
def make_graphs(count: int, seed: int, n_range=(8, 24)) -> list[gnn.Graph]:
    """`count` graphs, classes in turn, random sizes, shuffled nodes, all x = 1."""
    rng, gen = random.Random(seed), torch.Generator().manual_seed(seed)
    graphs = []
    for k in range(count):
        n = rng.randint(*n_range)
        ei = family_graph(FAMILIES[k % 4], n, rng)
        shuffle = torch.randperm(n, generator=gen)
        x, ei = gnn.permute_graph(torch.ones(n, 1), ei, shuffle)
        graphs.append(gnn.Graph(x, ei, y=torch.tensor(k % 4)))
    return graphs


# %%
train_graphs = make_graphs(cfg.n_graphs_train, seed=1)
test_graphs = make_graphs(cfg.n_graphs_test, seed=2)
sizes = torch.tensor([g.num_nodes for g in train_graphs])
print(
    f"{len(train_graphs)} training and {len(test_graphs)} test graphs, "
    f"{sizes.min()} to {sizes.max()} nodes"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "One graph of 14 nodes from each of the four families: fork, branch, pan and tadpole.", "name": "fig-gnn-families"}, "image": {"alt": "Four small graph drawings: a path with two leaves at one end, a path with a side branch in the middle, a cycle with one leaf, and a triangle with a long tail."}}
rng_draw = random.Random(3)
fig, axes = plot.subplots(1, 4, width=7, height=2.2)
for c, (ax, kind) in enumerate(zip(axes, FAMILIES)):
    n = 14
    ei = family_graph(kind, n, rng_draw)
    gnn.draw_graph(
        ax,
        gnn.spring_layout(ei, n, seed=c),
        ei,
        node_color=torch.full((n,), c),
        node_size=45,
    )
    ax.set_title(f"{kind}", fontsize=9)
plot.show(fig)

# %% [markdown]
# Why this task? A simple baseline for graphs counts degrees: how many nodes
# have one neighbour, two, three. Here that is not enough. A fork and a branch
# of the same size have *the same* degrees — three leaves, one node of degree
# 3, the rest degree 2 — and so do a pan and a tadpole (one leaf, one node of
# degree 3). The difference is one step further out: whether the node of
# degree 3 has two leaf neighbours, one, or none. The check below confirms
# that within each pair the degree histograms are identical, so any
# classifier that sees only them can at best separate the two pairs and guess
# within each: 50% accuracy.


# %%
def degree_histogram(ei: torch.Tensor, n: int) -> tuple[int, ...]:
    return tuple(torch.bincount(gnn.degree(ei[1], n).long(), minlength=4).tolist())


same_within_pairs = all(
    degree_histogram(family_graph(a, n, random.Random(n)), n)
    == degree_histogram(family_graph(b, n, random.Random(n)), n)
    for n in range(8, 25)
    for a, b in (("fork", "branch"), ("pan", "tadpole"))
)
pairs_txt = "(fork, branch) and (pan, tadpole)"
print(f"degree histograms equal within {pairs_txt} for every size: {same_within_pairs}")
print(
    "n = 10, (#degree 0, 1, 2, 3):",
    {k: degree_histogram(family_graph(k, 10, random.Random(0)), 10) for k in FAMILIES},
)

# %% tags=["remove-cell"]
assert same_within_pairs, (
    "the families were designed so that degree counting cannot separate the pairs"
)

# %% [markdown]
# ### Mini-batches of graphs
#
# Graphs differ in size, so they cannot be stacked into one tensor like
# images. The trick used by every GNN library is to treat a mini-batch of $G$
# graphs as **one big graph** with $G$ disconnected pieces: concatenate the node
# features, shift the node indices of graph $g$ by the number of nodes before
# it, and concatenate the edge indices. The adjacency matrix of the batch is
# block diagonal, so no message crosses from one graph to another, and a vector
# `batch` records which graph each node came from; the readout sums the nodes
# per graph with it.

# %%
few = gnn.batch_graphs(train_graphs[:4])
print(
    f"4 graphs of {[g.num_nodes for g in train_graphs[:4]]} nodes -> "
    f"x {tuple(few.x.shape)}, "
    f"edge_index {tuple(few.edge_index.shape)}, labels {few.y.tolist()}"
)
print("batch vector:", few.batch.tolist())

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The adjacency matrix of a mini-batch of four graphs: one block per graph on the diagonal (outlined), zeros elsewhere.", "name": "fig-gnn-batch"}, "image": {"alt": "A square grid with four dark-dotted square blocks along the diagonal, each outlined in orange, and white everywhere else."}}
import matplotlib.pyplot as plt

fig, ax = plot.subplots(width=4, height=4)
adj_few = gnn.adjacency(few.edge_index, few.num_nodes).numpy()
ax.imshow(adj_few, cmap="Greys", interpolation="nearest")
for start, size in zip(
    torch.cumsum(
        torch.tensor([0] + [g.num_nodes for g in train_graphs[:3]]), 0
    ).tolist(),
    [g.num_nodes for g in train_graphs[:4]],
):  # outline the block of each graph
    ax.add_patch(
        plt.Rectangle(
            (start - 0.5, start - 0.5),
            size,
            size,
            fill=False,
            edgecolor="C1",
            linewidth=1,
        )
    )
ax.grid(False)
ax.set_xlabel("node j")
ax.set_ylabel("node i")
ax.set_title("adjacency of a batch of 4 graphs")
plot.show(fig)

# %% [markdown]
# {numref}`fig-gnn-batch` has four blocks on the diagonal, nothing between them. (The nodes were
# shuffled within each graph, so the blocks do not look like paths and
# cycles.) As model we use the graph isomorphism network (GIN) of Xu et al.
# {cite}`xu2019powerful`, whose layer sums the neighbours' states and passes
# the result through an MLP:
#
# $$
# \mathbf{h}_i' = \text{MLP}\Big((1 + \epsilon)\,\mathbf{h}_i + \sum_{j \in \mathcal{N}(i)} \mathbf{h}_j\Big).
# $$ (eq-gin)
#
# Xu et al. showed that a sum followed by an MLP distinguishes different
# multisets of neighbour states, where the GCN's weighted average and a
# maximum lose information (a mean cannot tell $\{a\}$ from $\{a, a\}$). The
# classifier stacks three GIN layers, sums each layer's node states per graph
# and feeds the concatenated sums to an MLP. Batch normalisation inside the
# MLPs keeps the growing sums at a trainable scale.


# %%
def gin_mlp(f_in: int, h: int) -> nn.Sequential:
    """The MLP inside one GIN layer: (N, f_in) -> (N, h)."""
    return nn.Sequential(
        nn.Linear(f_in, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Linear(h, h)
    )


# %% [markdown]
# After every GIN layer the node states are summed per graph (`gnn.readout`
# with the `batch` vector), and the head reads the concatenation of these sums:
# it sees each graph at every depth of context, from one hop to `n_layers`.


# %%
class GINClassifier(nn.Module):
    """GIN layers, a sum readout of each, and an MLP head: G graphs -> (G, classes)."""

    def __init__(self, in_features: int, hidden: int, n_layers: int, n_classes: int):
        super().__init__()
        widths = [in_features] + [hidden] * n_layers
        self.convs = nn.ModuleList(gnn.GINConv(gin_mlp(a, hidden)) for a in widths[:-1])
        head_in = hidden * n_layers  # the readouts of all layers, concatenated
        self.head = nn.Sequential(
            nn.Linear(head_in, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)
        )

    def forward(self, g: gnn.Graph) -> torch.Tensor:
        h, pooled = g.x, []
        for conv in self.convs:
            h = F.relu(conv(h, g.edge_index))  # (N, hidden): one more hop of context
            pooled.append(gnn.readout(h, g.batch, g.num_graphs, "sum"))  # (G, hidden)
        return self.head(torch.cat(pooled, dim=1))  # (G, n_classes)


# %% [markdown]
# A model in evaluation mode must give each graph the same output whether it
# comes in a batch with others or alone.

# %%
torch.manual_seed(0)
gin = GINClassifier(1, 32, n_layers=3, n_classes=4).eval()
with torch.no_grad():
    together = gin(few)  # the 4 graphs as one batch
    alone = torch.cat([gin(gnn.batch_graphs([g])) for g in train_graphs[:4]])
print(f"max |batched - one graph at a time| = {(together - alone).abs().max():.1e}")

# %% tags=["remove-cell"]
assert torch.allclose(together, alone, atol=1e-5), (
    "batching must not let graphs influence each other"
)

# %% [markdown]
# In evaluation mode the model gives the same outputs for a graph alone as in
# a batch: the batch really is four separate graphs. (In training mode batch
# normalisation couples the examples of a batch, as it does for images.) Now
# we train with Adam {cite}`kingma2015adam` on mini-batches of graphs (`cfg.graph_batch` of them).


# %%
def graph_step(model: nn.Module, batch: gnn.Graph, opt, sched) -> torch.Tensor:
    """One step on a batch of graphs; the loss summed over the batch's graphs."""
    loss = F.cross_entropy(model(batch), batch.y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    return loss.detach() * batch.num_graphs  # stays on the device: no host sync


def graph_accuracy(model: nn.Module, graphs: list[gnn.Graph]) -> float:
    model.eval()
    big = gnn.batch_graphs(graphs).to(device)
    with torch.no_grad():
        return (model(big).argmax(1) == big.y).float().mean().item()


# %% [markdown]
# Every epoch visits the training graphs in a new random order, and the
# learning rate follows a cosine schedule down to zero over all the steps.


# %%
def train_graph_classifier(model, graphs, epochs, batch_size=32, lr=1e-2):
    """Adam with a cosine schedule; returns the mean training loss of every epoch."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(graphs) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    gen, losses = torch.Generator().manual_seed(0), []
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(graphs), generator=gen).tolist()
        total = torch.zeros((), device=device)  # a running sum on the device
        for s in range(0, len(graphs), batch_size):
            batch = gnn.batch_graphs([graphs[k] for k in order[s : s + batch_size]])
            total += graph_step(model, batch.to(device), opt, sched)
        losses.append(total.item() / len(graphs))  # one per epoch
    return losses


# %% [markdown]
# We print the mean training loss of the first and the last epoch and the
# accuracy on the test graphs.

# %%
gin = gin.to(device)
t0 = time.perf_counter()
gin_losses = train_graph_classifier(
    gin, train_graphs, cfg.graph_epochs, cfg.graph_batch
)
print(
    f"{cfg.graph_epochs} epochs in {time.perf_counter() - t0:.1f} s; "
    f"training loss {gin_losses[0]:.3f} -> {gin_losses[-1]:.3f}"
)
label = "graph classification (4 families): GIN test accuracy"
gin_acc = dlbook.report(label, graph_accuracy(gin, test_graphs), fmt=".4f")

# %% tags=["remove-cell"]
assert gin_losses[-1] < 0.5 * gin_losses[0], "the training loss must fall"
assert gin_acc > 0.75, (
    "the GIN must clearly beat chance (0.25) and the degree-counting ceiling (0.5)"
)

# %% [markdown]
# The test accuracy printed above is far above both chance (25%) and the 50%
# ceiling of degree counting, on graphs the model never saw: three rounds of
# message passing let the node of degree 3 learn what its neighbours' degrees
# are, which is the information that separates the families. Exercise 3 shows
# that a single layer is indeed not enough.
#
# ## Node classification on a community graph
#
# The second task labels nodes instead of graphs, in the *semi-supervised*
# setting of Kipf and Welling {cite}`kipf2017semi`: one graph, labels for a
# handful of nodes, predictions for all the others. Our graph comes from a
# **stochastic block model** {cite}`holland1983stochastic`: four communities,
# two nodes joined with a higher probability when they belong to the same one,
# a lower one otherwise — a crude model of a social network, where friends
# tend to share interests. Each node's features are its community's mean
# vector buried under noise of a larger norm, and only 5 nodes per community
# are labelled.

# %%
K, n_feat, n_labelled = 4, 16, 5
gen = torch.Generator().manual_seed(4)
p_in, p_out = 8 / cfg.community, 1 / cfg.community  # about 8 and 3 links per node
edge_sbm, y_sbm = gnn.stochastic_block_model(
    [cfg.community] * K, p_in=p_in, p_out=p_out, generator=gen
)
n_sbm = len(y_sbm)
means = F.normalize(torch.randn(K, n_feat, generator=gen), dim=1)  # (K, F), unit rows
noise = torch.randn(n_sbm, n_feat, generator=gen)  # (N, F), norm about 4
x_sbm = means[y_sbm] + noise  # the community's signal of norm 1, buried

# %% [markdown]
# The labelled nodes are drawn at random, `n_labelled` from each community.

# %%
train_mask = torch.zeros(n_sbm, dtype=torch.bool)
for c in range(K):
    pick = torch.randperm(cfg.community, generator=gen)[:n_labelled]
    train_mask[torch.nonzero(y_sbm == c)[pick, 0]] = True
deg_sbm = gnn.degree(edge_sbm[1], n_sbm)
same = (y_sbm[edge_sbm[0]] == y_sbm[edge_sbm[1]]).float().mean()
print(
    f"{n_sbm} nodes, mean degree {deg_sbm.mean():.1f}, "
    f"{same:.0%} of edges inside a community, "
    f"{int(train_mask.sum())} labelled nodes"
)

# %% [markdown]
# Most edges stay inside a community, but a node's own features are mostly
# noise. An MLP sees one node at a time; a two-layer GCN averages each node's
# features with those of its neighbours and their neighbours, most of whom
# share its community, so the noise averages out while the community's signal
# adds up. Both models get the same width, dropout and optimiser, and both
# are trained on the labelled nodes only (the GCN still *reads* the features
# of all nodes, which is what makes the setting semi-supervised).


# %%
class NodeGCN(nn.Module):
    def __init__(self, f_in: int, hidden: int, n_classes: int):
        super().__init__()
        self.conv1, self.conv2 = GCNConv(f_in, hidden), GCNConv(hidden, n_classes)

    def forward(self, x, edge_index):
        x = F.dropout(x, 0.5, self.training)
        h = F.relu(self.conv1(x, edge_index))  # (N, hidden)
        h = F.dropout(h, 0.5, self.training)
        return self.conv2(h, edge_index)  # (N, n_classes)


# %% [markdown]
# The MLP has the same hidden width and dropout; it is handed the edge index
# too, and ignores it.


# %%
class NodeMLP(nn.Module):
    def __init__(self, f_in: int, hidden: int, n_classes: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Dropout(0.5),
            nn.Linear(f_in, hidden),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x, edge_index):
        return self.net(x)  # the graph is ignored


# %% [markdown]
# Training is full-batch: every step reads the whole graph, and the loss is
# taken over the labelled nodes only.


# %%
def train_nodes(model: nn.Module, epochs: int) -> torch.Tensor:
    """Full-batch training on the labelled nodes; the predicted class of every node."""
    x, ei, y, mask = (t.to(device) for t in (x_sbm, edge_sbm, y_sbm, train_mask))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=5e-4)
    for _ in range(epochs):
        model.train()
        loss = F.cross_entropy(model(x, ei)[mask], y[mask])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        return model(x, ei).argmax(1).cpu()


# %% [markdown]
# We evaluate on every node that was not labelled.

# %%
node_models = {"MLP (features only)": NodeMLP, "GCN (features + graph)": NodeGCN}
node_acc, node_pred = {}, {}
for name, cls in node_models.items():
    torch.manual_seed(0)
    node_pred[name] = train_nodes(cls(n_feat, 32, K).to(device), cfg.node_epochs)
    acc = (node_pred[name] == y_sbm)[~train_mask].float().mean()
    label = f"node classification: {name} test accuracy"
    node_acc[name] = dlbook.report(label, acc, fmt=".4f")
# the best features-only rule: it knows the true means
nearest_mean = torch.cdist(x_sbm, means).argmin(1)
ceiling_acc = (nearest_mean == y_sbm)[~train_mask].float().mean()
label = "node classification: features-only ceiling (nearest true mean) accuracy"
ceiling = dlbook.report(label, ceiling_acc, fmt=".4f")

# %% tags=["remove-cell"]
acc_mlp, acc_gcn = node_acc["MLP (features only)"], node_acc["GCN (features + graph)"]
assert acc_gcn > 0.7 and acc_gcn > acc_mlp + 0.2, (
    "the GCN must use the graph to beat the MLP clearly"
)
assert acc_gcn > ceiling + 0.15, (
    "the GCN must beat even the best classifier that sees the features only"
)
assert 0.3 < ceiling < 0.75, "the features must be informative but weak"

# %% [markdown]
# The MLP stays near chance (25%): from 20 noisy examples it cannot learn
# much. Even a perfect features-only classifier — one that is *told* the
# true community means and picks the nearest, which is the Bayes-optimal rule
# for this noise — reaches only the "ceiling" accuracy printed last. The GCN,
# with the same 20 labels, classifies most of the unlabelled nodes correctly
# and beats that ceiling by far: the information it adds comes from the graph.
# {numref}`fig-gnn-sbm` shows the graph in a spring layout
# (which pulls linked nodes together, so the communities appear as clumps),
# coloured by each model's predicted community; the labelled nodes are circled.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The community graph in a spring layout, coloured by the predicted community of the MLP (left) and of the GCN (right); the labelled nodes are circled.", "name": "fig-gnn-sbm"}, "image": {"alt": "Two drawings of the same graph with four clumps of nodes. Left: colours mixed within every clump. Right: each clump almost entirely one colour."}}
pos_sbm = gnn.spring_layout(edge_sbm, n_sbm, iterations=150, seed=0)
fig, axes = plot.subplots(1, 2, width=7, height=3.6)
for ax, (name, pred) in zip(axes, node_pred.items()):
    gnn.draw_graph(
        ax, pos_sbm, edge_sbm, node_color=pred, node_size=14, edge_alpha=0.08
    )
    ax.scatter(
        pos_sbm[train_mask, 0],
        pos_sbm[train_mask, 1],
        s=70,
        facecolors="none",
        edgecolors="k",
        linewidths=1,
    )
    ax.set_title(f"{name}: accuracy {node_acc[name]:.2f}", fontsize=9)
plot.show(fig)

# %% [markdown]
# The MLP's colours are scattered over the clumps; the GCN colours each clump
# almost uniformly. Where does the GCN still err? A node whose links lead
# mostly into other communities receives misleading messages; we compare the
# share of such links at the nodes the GCN gets wrong and right.

# %%
src_sbm, dst_sbm = edge_sbm
cross = (
    y_sbm[src_sbm] != y_sbm[dst_sbm]
).float()  # (E,) 1 for a link between communities
cross_share = gnn.scatter_mean(cross, dst_sbm, n_sbm)  # (N,) per receiving node
wrong = (node_pred["GCN (features + graph)"] != y_sbm) & ~train_mask
right = (node_pred["GCN (features + graph)"] == y_sbm) & ~train_mask
at_wrong, at_right = cross_share[wrong].mean(), cross_share[right].mean()
print(f"GCN mistakes: {int(wrong.sum())}; share of links to other communities:")
print(f"{at_wrong:.2f} at the mistakes, {at_right:.2f} at the correct nodes")

# %% tags=["remove-cell"]
if wrong.sum() >= 3:  # with fewer mistakes the comparison says nothing
    assert cross_share[wrong].mean() > cross_share[right].mean(), (
        "the GCN's mistakes should sit at nodes with more links to other communities"
    )

# %% [markdown]
# The printed shares show the mistakes where the graph misleads: at nodes
# with more links into other communities than the typical node has (the run
# checks this whenever there are at least three mistakes).
#
# ## Attention is message passing on the complete graph
#
# {ref}`ch-attention` computed, for queries $\mathbf{q}_i$, keys
# $\mathbf{k}_j$ and values $\mathbf{v}_j$ (linear maps of the tokens), the
# output $\mathbf{o}_i = \sum_j \text{softmax}_j(\mathbf{q}_i^\top
# \mathbf{k}_j / \sqrt{d})\, \mathbf{v}_j$ {cite}`vaswani2017attention`. Read it
# as {eq}`eq-message-passing`: every token is a node, every token talks to
# every other (a **complete graph**, self-loops included), the message from
# $j$ to $i$ is $\mathbf{v}_j$ weighted by a score that depends on both ends,
# and the aggregation is a sum whose weights are normalised over the
# neighbours of $i$:
#
# $$
# \mathbf{o}_i = \sum_{j \in \mathcal{N}(i)} \alpha_{ij}\, \mathbf{v}_j, \qquad
# \alpha_{ij} = \frac{\exp(\mathbf{q}_i^\top \mathbf{k}_j / \sqrt{d})}
#                    {\sum_{j' \in \mathcal{N}(i)} \exp(\mathbf{q}_i^\top \mathbf{k}_{j'} / \sqrt{d})} .
# $$ (eq-edge-attention)
#
# `edge_attention` implements {eq}`eq-edge-attention` over an edge index,
# with a softmax per receiving node (`gnn.segment_softmax`):


# %% tags=["dlbook:gnn"]
def edge_attention(q, k, v, edge_index, *, scale=None):
    """Dot-product attention along edges: node i attends to the j with an edge j -> i.

    q, k (N, d) or (N, H, d) and v (N, d_v) or (N, H, d_v) -> the shape of v.
    """
    check_attention_args(q, k, v, edge_index)
    n, (src, dst) = q.shape[0], edge_index
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    scores = (q[dst] * k[src]).sum(-1) * scale  # (E,) or (E, H): one per edge
    alpha = segment_softmax(scores, dst, n)  # sums to 1 over the edges into a node
    return scatter_sum(alpha[..., None] * v[src], dst, n)  # (N, d_v) or (N, H, d_v)


# %% [markdown]
# On the complete graph it must equal PyTorch's fused
# `F.scaled_dot_product_attention` (here with 2 heads of dimension 8, on 12
# tokens):

# %%
n_tok, heads, d_head = 12, 2, 8
q, k, v = torch.randn(3, n_tok, heads, d_head, generator=gen)  # (N, H, d) each
complete = gnn.complete_graph(n_tok)  # (2, 144): every j -> i, self-loops included
ours = edge_attention(q, k, v, complete)  # (N, H, d)
sdpa = F.scaled_dot_product_attention(
    q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)
)  # (H, N, d)
err = (ours - sdpa.transpose(0, 1)).abs().max().item()
label = "attention: max |message passing on K_n - SDPA|"
att_err = dlbook.report(label, err, fmt=".1e")

# %% tags=["remove-cell"]
assert att_err < 1e-5, (
    "attention over the complete graph must equal scaled_dot_product_attention"
)

# %% [markdown]
# Restrict the edges to a graph and each node attends only to its
# neighbours. In the language of transformers this is an attention **mask**:
# $-\infty$ added to the score of every pair that is not an edge. We check it
# on a random graph of 12 nodes with self-loops (so that nobody has an empty
# neighbourhood), with the adjacency matrix as a boolean mask:

# %%
edge_g, _ = gnn.stochastic_block_model([n_tok], 0.3, 0.0, generator=gen)
edge_g = gnn.add_self_loops(edge_g, n_tok)
mask = gnn.adjacency(edge_g, n_tok) > 0  # (N, N): True where j -> i is an edge
ours_g = edge_attention(q, k, v, edge_g)
sdpa_g = F.scaled_dot_product_attention(
    q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1), attn_mask=mask
)
err = (ours_g - sdpa_g.transpose(0, 1)).abs().max().item()
label = "attention: max |message passing on a graph - masked SDPA|"
mask_err = dlbook.report(label, err, fmt=".1e")
print(
    f"{int(mask.sum())} of {n_tok**2} pairs are edges; unmasked SDPA differs by "
    f"{(ours_g - sdpa.transpose(0, 1)).abs().max():.2f}"
)

# %% tags=["remove-cell"]
assert mask_err < 1e-5, (
    "attention over a graph must equal SDPA with the adjacency as mask"
)
assert (ours_g - sdpa.transpose(0, 1)).abs().max() > 1e-2, "the mask must matter"

# %% [markdown]
# A transformer is therefore a GNN that assumes the complete graph — and
# since that graph has no structure, the order of the tokens must enter
# through positional encodings. Conversely, the **graph attention network**
# (GAT) of Veličković et al. {cite}`velickovic2018graph` is attention
# restricted to a given graph. Its score is not a dot product but a small
# additive function of the two ends,
#
# $$
# \begin{aligned}
# e_{ij} &= \text{LeakyReLU}\big(\mathbf{a}_\text{dst}^\top W\mathbf{h}_i + \mathbf{a}_\text{src}^\top W\mathbf{h}_j\big),\\
# \mathbf{h}_i' &= \sum_{j \in \mathcal{N}(i) \cup \{i\}} \text{softmax}_j(e_{ij})\, W\mathbf{h}_j ,
# \end{aligned}
# $$ (eq-gat)
#
# with several heads concatenated. `gnn.GATConv` computes it edge by edge; a
# dense version computes all $N^2$ scores and masks the non-edges, exactly as
# above. The two must agree:

# %%
torch.manual_seed(0)
gat = gnn.GATConv(n_feat, 8, heads=2)
x_g = torch.randn(n_tok, n_feat, generator=gen)
edge_g0, _ = gnn.stochastic_block_model([n_tok], 0.3, 0.0, generator=gen)
allowed = (gnn.adjacency(edge_g0, n_tok) + torch.eye(n_tok)) > 0  # neighbours and self
with torch.no_grad():
    h = gat.lin(x_g).view(n_tok, 2, 8)  # (N, H, F')
    e_dst, e_src = (h * gat.att_dst).sum(-1), (h * gat.att_src).sum(-1)  # (N, H) each
    scores = F.leaky_relu(e_dst[:, None, :] + e_src[None, :, :], 0.2)  # (N, N, H)
    # a softmax over the allowed j: (N, N, H), every row sums to 1
    alpha = scores.masked_fill(~allowed[..., None], float("-inf")).softmax(dim=1)
    dense_gat = torch.einsum("ijh,jhf->ihf", alpha, h).reshape(n_tok, -1) + gat.bias
    err = (gat(x_g, edge_g0) - dense_gat).abs().max().item()
    gat_err = dlbook.report("GAT: max |edge-wise - dense masked|", err, fmt=".1e")

# %% tags=["remove-cell"]
assert gat_err < 1e-5, "GATConv must equal dense masked additive attention"

# %% [markdown]
# Trained on the community graph of the previous section, in place of the
# GCN's fixed weights $1/\sqrt{\tilde d_i \tilde d_j}$, the attention weights
# are learned per edge:


# %%
class NodeGAT(nn.Module):
    def __init__(self, f_in: int, hidden: int, n_classes: int, heads: int = 4):
        super().__init__()
        self.conv1 = gnn.GATConv(f_in, hidden // heads, heads=heads)
        self.conv2 = gnn.GATConv(hidden, n_classes, heads=1)

    def forward(self, x, edge_index):
        x = F.dropout(x, 0.5, self.training)
        h = F.elu(self.conv1(x, edge_index))  # (N, hidden): the heads concatenated
        h = F.dropout(h, 0.5, self.training)
        return self.conv2(h, edge_index)  # (N, n_classes)


# %% [markdown]
# It is trained exactly like the GCN, by `train_nodes`, and scored on the same
# unlabelled nodes.

# %%
torch.manual_seed(0)
gat_pred = train_nodes(NodeGAT(n_feat, 32, K).to(device), cfg.node_epochs)
gat_test = (gat_pred == y_sbm)[~train_mask].float().mean()
acc_gat = dlbook.report("node classification: GAT test accuracy", gat_test, fmt=".4f")

# %% tags=["remove-cell"]
assert acc_gat > node_acc["MLP (features only)"] + 0.15, (
    "graph attention must also use the graph"
)

# %% [markdown]
# The GAT, too, beats the MLP by a wide margin. On this graph nothing tells a
# node in advance which neighbours share its community — all it sees are noisy
# features — so learned weights have little to add over the GCN's fixed ones
# (compare the two accuracies printed above); they pay off when some
# neighbours are recognisably more relevant than others.
#
# ## What PyTorch Geometric adds
#
# Everything above is plain PyTorch, a few hundred lines in `dlbook.gnn`. For
# real work one uses a library; the most widely used is PyTorch Geometric
# (PyG) {cite}`fey2019fast` (DGL is another). It adds:
#
# - fast **scatter and sparse-matrix kernels** on the GPU (including fused
#   "gather, apply, scatter" operations that never store one message per
#   edge), and neighbour sampling, so that graphs with millions of nodes fit in
#   memory;
# - a `Data` object and a `DataLoader` that do the **block-diagonal batching**
#   of this chapter automatically, with the `batch` vector;
# - **data sets** — molecules (QM9, the TU collection), citation graphs (Cora),
#   meshes and point clouds — and transforms such as $k$-NN graph
#   construction;
# - **dozens of layers**: GCN, GIN, EdgeConv, GAT and many more, all written
#   against one `MessagePassing` base class whose `message`, `aggregate` and
#   `update` methods are exactly the three pieces of {eq}`eq-message-passing`.
#
# The book's implementation stays in plain PyTorch so that every operation is
# visible; the ideas transfer to PyG one to one.
#
# ## Summary
#
# - A graph is a set of nodes with features and a set of edges, stored as a
#   dense adjacency matrix ($N^2$ numbers) or as a $(2, |E|)$ edge index (the
#   choice for sparse graphs).
# - A GNN layer is message passing {eq}`eq-message-passing`: a message per
#   edge, a permutation-invariant aggregation per node, an update. The whole
#   layer is then permutation equivariant, and a sum or mean readout is
#   invariant — both checked above.
# - The GCN {eq}`eq-gcn` averages neighbours with weights
#   $1/\sqrt{\tilde d_i \tilde d_j}$; its dense and scatter forms agree, and the
#   scatter form costs $O(|E|)$ instead of $O(N^2)$. EdgeConv {eq}`eq-edgeconv`
#   and GIN {eq}`eq-gin` use richer messages and updates.
# - Many graphs form one mini-batch as a block-diagonal graph with a `batch`
#   vector. A GIN separated four graph families that degree counting cannot;
#   on a community graph with uninformative features, a GCN trained on 20
#   labels classified nodes far better than an MLP.
# - Attention is message passing on the complete graph; restricting it to a
#   graph (a mask) gives graph attention (GAT).
#
# ## Exercises
#
# **Exercise 1 (what message passing cannot see).** Message passing with
# identical starting features is at most as discriminative as the
# Weisfeiler–Lehman colour-refinement test {cite}`xu2019powerful,morris2019weisfeiler`:
# two graphs that the test cannot tell apart get the same readout from *any*
# GNN of this kind. Take the triangular prism (two triangles joined by three
# edges) and the complete bipartite graph $K_{3,3}$. Both have six nodes of
# degree 3, but the prism has two triangles and $K_{3,3}$ none. Show that a
# GCN and a GIN with random weights give both graphs the same graph-level
# output, for any depth.

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Answer: both graphs are 3-regular, so in every layer every node receives three
# identical messages: all nodes of both graphs keep identical states and the readouts
# agree, whatever the weights (printed). The triangles (2 in the prism, 0 in K33) stay
# invisible. Remedies add what message passing cannot compute: random or positional
# node features, substructure counts, or GNNs on pairs or triples (Morris et al. 2019).
prism_pairs = [(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3), (0, 3), (1, 4), (2, 5)]
prism = gnn.to_undirected(torch.tensor(prism_pairs).t(), 6)
k33_pairs = [(a, b) for a in range(3) for b in range(3, 6)]
k33 = gnn.to_undirected(torch.tensor(k33_pairs).t(), 6)
cube = lambda ei: torch.linalg.matrix_power(gnn.adjacency(ei, 6), 3)  # noqa: E731
six_nodes = {"prism": prism, "K33": k33}
triangles = {n: int(cube(ei).trace()) // 6 for n, ei in six_nodes.items()}
torch.manual_seed(1)
widths = (1, 8, 8, 8)  # input widths of the four layers
gcn_stack = [GCNConv(w, 8) for w in widths]
tanh_mlps = [nn.Sequential(nn.Linear(w, 8), nn.Tanh(), nn.Linear(8, 8)) for w in widths]
gin_stack = [gnn.GINConv(mlp) for mlp in tanh_mlps]
with torch.no_grad():
    for name, stack in (("GCN", gcn_stack), ("GIN", gin_stack)):
        outs = []
        for ei in six_nodes.values():
            h = torch.ones(6, 1)
            for layer in stack:
                h = torch.tanh(layer(h, ei))
            outs.append(gnn.readout(h, None))
        gap = (outs[0] - outs[1]).abs().max().item()
        print(f"{name}: max |readout(prism) - readout(K33)| = {gap:.1e}")
        assert gap < 1e-6, "1-WL-equivalent graphs must get the same readout"
print(f"triangles: {triangles}")
assert triangles == {"prism": 2, "K33": 0}

# %% [markdown]
# **Exercise 2 (over-smoothing).** Apply the GCN propagation
# $P = \tilde D^{-1/2}\tilde A\tilde D^{-1/2}$ (no weights, no
# nonlinearity) $L$ times to the node features of the community graph, for $L$
# from 1 to 64. Measure how different the nodes remain: divide each row of
# $P^L X$ by $\sqrt{\tilde d_i}$ and compute the mean distance of the rows
# from their average, relative to its value at $L=0$. What happens, and why
# does it limit the depth of GCNs {cite}`li2018deeper`?

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Answer: the spread shrinks with every propagation, and after a few dozen the
# nodes are almost indistinguishable (printed): P^L converges to the projection
# onto its top eigenvector D~^{1/2} 1 (the graph is connected), which keeps
# nothing of X but one number per feature. The first propagations help (they
# average away the noise within a community), but many also average across
# communities. This over-smoothing is one reason GCNs are shallow (two or three
# layers); residual connections and normalisation delay it.
prop_sbm = gnn.gcn_norm_dense(gnn.adjacency(edge_sbm, n_sbm, dtype=torch.float64))
scale = (gnn.degree(edge_sbm[1], n_sbm, dtype=torch.float64) + 1).sqrt()[:, None]


def spread(h: torch.Tensor) -> float:
    z = h / scale  # remove the degree factor of the top eigenvector
    return (z - z.mean(0)).norm(dim=1).mean().item()


h, depths, spreads = x_sbm.double(), [0], [spread(x_sbm.double())]
for L in range(1, 65):
    h = prop_sbm @ h
    if L in (1, 2, 4, 8, 16, 32, 64):
        depths.append(L)
        spreads.append(spread(h))
rel = [s / spreads[0] for s in spreads]
print("depth:          ", depths)
print("relative spread:", [f"{r:.1e}" for r in rel])
assert all(b < a or b < 1e-12 for a, b in zip(rel, rel[1:])), (
    "every extra propagation must make the nodes more alike"
)
assert rel[-1] < 0.05, "after 64 propagations the nodes are nearly indistinguishable"

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution", "figure": {"caption": "Over-smoothing: the spread of the node features of the community graph, relative to the input, after L GCN propagations.", "name": "fig-gnn-oversmoothing"}, "image": {"alt": "A falling curve on log-log axes: the relative spread drops from near 1 after one propagation to below a few hundredths after 64."}}
fig, ax = plot.subplots(width=7, height=3.0)
ax.plot(depths[1:], rel[1:], "o-")
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel("number of propagations L")
ax.set_ylabel("relative spread of node features")
plot.show(fig)

# %% [markdown]
# **Exercise 3 (how many hops does the task need?).** Train the graph
# classifier of this chapter with 1, 2 and 3 GIN layers. Explain the accuracy
# of the one-layer model from the degree argument above.

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Answer: with one layer a node knows only its own degree, and the sum readout
# turns that into the degree histogram, which by construction is the same
# within each pair of families: the model can only tell trees from graphs with
# a cycle, and guesses within each pair (50%). A second layer tells a node its
# neighbours' degrees, which separates a fork from a branch and a pan from a
# tadpole (accuracies printed).
depth_acc = {3: gin_acc}  # the model trained above
for n_layers in (1, 2):
    torch.manual_seed(0)
    model = GINClassifier(1, 32, n_layers=n_layers, n_classes=4).to(device)
    train_graph_classifier(model, train_graphs, cfg.graph_epochs, cfg.graph_batch)
    depth_acc[n_layers] = graph_accuracy(model, test_graphs)
by_depth = {k: round(depth_acc[k], 3) for k in sorted(depth_acc)}
print("test accuracy by number of GIN layers:", by_depth)
assert depth_acc[1] < 0.6, "one layer only sees degrees: at most 50% (plus noise)"
assert max(depth_acc[2], depth_acc[3]) > 0.75, "two or more hops separate the families"

# %% [markdown]
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
