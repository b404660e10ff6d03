"""Graph neural networks in plain PyTorch (chapter 11).

A graph with ``N`` nodes is stored as node features ``x`` of shape (N, F) and
an *edge index* of shape (2, E): column ``e`` holds ``(j, i)``, an edge from
source ``j`` to target ``i``, along which a message flows from ``j`` to ``i``.
An undirected graph stores both directions. The dense adjacency matrix uses
the same convention: ``A[i, j]`` counts the edges ``j -> i``, so that
``(A @ x)[i]`` sums the features of the nodes sending to ``i``.

Contents:

- graphs: :class:`Graph`, :func:`check_edge_index`, :func:`adjacency`,
  :func:`degree`, :func:`add_self_loops`, :func:`to_undirected`,
  :func:`cycle_graph`, :func:`path_graph`, :func:`complete_graph`,
  :func:`knn_graph`, :func:`stochastic_block_model`, :func:`permute_graph`;
- aggregation: :func:`scatter_sum`, :func:`scatter_mean`, :func:`scatter_max`,
  :func:`segment_softmax`, and the graph-level :func:`readout`;
- mini-batching many graphs as one block-diagonal graph: :func:`batch_graphs`;
- layers: :func:`gcn_norm_dense`, :func:`gcn_conv_dense`,
  :func:`gcn_conv_sparse`, :class:`GCNConv`, :class:`GINConv`,
  :class:`EdgeConv`, :func:`edge_attention`, :class:`GATConv`;
- drawing: :func:`circular_layout`, :func:`spring_layout`, :func:`draw_graph`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlbook import check

__all__ = [
    "Graph",
    "check_edge_index",
    "check_graph",
    "check_layer_args",
    "check_attention_args",
    "check_choice",
    "message_passing",
    "adjacency",
    "edge_index_from_adjacency",
    "degree",
    "add_self_loops",
    "to_undirected",
    "cycle_graph",
    "path_graph",
    "complete_graph",
    "knn_graph",
    "stochastic_block_model",
    "permute_graph",
    "scatter_sum",
    "scatter_mean",
    "scatter_max",
    "segment_softmax",
    "readout",
    "batch_graphs",
    "gcn_norm_dense",
    "gcn_conv_dense",
    "gcn_conv_sparse",
    "GCNConv",
    "GINConv",
    "EdgeConv",
    "edge_attention",
    "GATConv",
    "circular_layout",
    "spring_layout",
    "draw_graph",
]


# ----------------------------------------------------------------------------- graphs


def _check_num_nodes(num_nodes: int) -> None:
    if not isinstance(num_nodes, int) or isinstance(num_nodes, bool):
        raise TypeError(f"num_nodes must be an int, got {type(num_nodes).__name__}")
    if num_nodes < 0:
        raise ValueError(f"num_nodes must be a non-negative int, got {num_nodes!r}")


def _range_checked(index: torch.Tensor) -> bool:
    """Whether to check the values of ``index`` here: only on the CPU.

    Reading ``index.min()`` of a GPU tensor makes the host wait for the device,
    and a layer that did so on every call would stall training. Graphs are
    built on the CPU (:class:`Graph`, :func:`batch_graphs`, the graph
    generators), where their indices are checked once; a bad index that
    reaches a GPU fails there in the indexing kernel.
    """
    return index.device.type == "cpu" and index.numel() > 0


def check_edge_index(edge_index: torch.Tensor, num_nodes: int) -> None:
    """Raise a clear error unless ``edge_index`` is a valid (2, E) int64 tensor.

    Node indices must lie in ``[0, num_nodes)``; they are checked on the CPU
    only (see :func:`_range_checked`).

    Raises:
        TypeError: not a tensor, or not int64.
        ValueError: wrong shape, or a node index outside ``[0, num_nodes)``.
    """
    _check_num_nodes(num_nodes)
    if not isinstance(edge_index, torch.Tensor):
        raise TypeError(
            "edge_index must be a tensor of shape (2, E), got "
            f"{type(edge_index).__name__}"
        )
    if edge_index.dtype != torch.long:
        raise TypeError(
            f"edge_index must hold int64 node indices, got dtype {edge_index.dtype}; "
            "use edge_index.long()"
        )
    if edge_index.ndim != 2 or edge_index.shape[0] != 2:
        raise ValueError(
            "edge_index must have shape (2, E) (sources in row 0, targets in row 1), "
            f"got {tuple(edge_index.shape)}; an (E, 2) list of pairs needs .t()"
        )
    if _range_checked(edge_index):
        low, high = int(edge_index.min()), int(edge_index.max())
        if low < 0 or high >= num_nodes:
            bad = high if high >= num_nodes else low
            raise ValueError(
                f"edge_index refers to node {bad} but the graph has nodes "
                f"0..{num_nodes - 1}; check num_nodes or the offsets of a batch"
            )


def _check_features(x: torch.Tensor, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a tensor of node features (N, F), got {type(x).__name__}"
        )
    if x.ndim < 2 or not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor of node features (N, F), got "
            f"shape {tuple(x.shape)} {x.dtype}"
        )


def check_graph(x: torch.Tensor, edge_index: torch.Tensor) -> None:
    """Check node features ``x (N, F)`` and an edge index ``(2, E)`` over their N
    nodes."""
    _check_features(x)
    check_edge_index(edge_index, x.shape[0])


def adjacency(
    edge_index: torch.Tensor, num_nodes: int, *, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The dense adjacency matrix of a graph.

    Args:
        edge_index: (2, E) edges ``j -> i``.
        num_nodes: N.

    Returns:
        A (N, N) with ``A[i, j]`` = the number of edges ``j -> i`` (symmetric for an
        undirected graph).
    """
    check_edge_index(edge_index, num_nodes)
    src, dst = edge_index
    a = torch.zeros(num_nodes, num_nodes, dtype=dtype, device=edge_index.device)
    return a.index_put_(
        (dst, src), torch.ones(src.shape, dtype=dtype, device=a.device), accumulate=True
    )


def edge_index_from_adjacency(adj: torch.Tensor) -> torch.Tensor:
    """The (2, E) edge index of the nonzero entries of an adjacency matrix (N, N),
    ``A[i, j] != 0`` -> edge ``j -> i``."""
    if adj.ndim != 2 or adj.shape[0] != adj.shape[1]:
        raise ValueError(
            f"an adjacency matrix must be square (N, N), got {tuple(adj.shape)}"
        )
    dst, src = adj.nonzero(as_tuple=True)
    return torch.stack([src, dst])


def degree(
    index: torch.Tensor, num_nodes: int, *, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """How often each node occurs in ``index`` (E,); ``edge_index[1]`` gives in-degrees.

    Returns (N,). Indices must lie in ``[0, num_nodes)`` (checked on the CPU).
    """
    _check_num_nodes(num_nodes)
    if not isinstance(index, torch.Tensor) or index.ndim != 1:
        raise ValueError(
            f"index must be a 1-D tensor (E,), got {getattr(index, 'shape', index)}"
        )
    if index.dtype != torch.long:
        raise TypeError(f"index must hold int64 node indices, got {index.dtype}")
    if _range_checked(index) and (index.min() < 0 or index.max() >= num_nodes):
        raise ValueError(
            f"index must lie in [0, {num_nodes}) (degrees count nodes, so no index "
            f"is negative), got values in [{int(index.min())}, {int(index.max())}]"
        )
    ones = torch.ones(index.shape, dtype=dtype, device=index.device)
    # index_add_, not bincount, whose output size depends on the values (a sync)
    return torch.zeros(num_nodes, dtype=dtype, device=index.device).index_add_(
        0, index, ones
    )


def add_self_loops(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Append one edge ``i -> i`` per node, like ``A + I`` (existing loops are kept).
    Returns (2, E + N)."""
    check_edge_index(edge_index, num_nodes)
    loops = torch.arange(num_nodes, device=edge_index.device).expand(2, num_nodes)
    return torch.cat([edge_index, loops], dim=1)


def to_undirected(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Add the reverse of every edge and drop duplicates; the columns come out sorted.
    Returns (2, E')."""
    check_edge_index(edge_index, num_nodes)
    both = torch.cat([edge_index, edge_index.flip(0)], dim=1)
    return torch.unique(both, dim=1)


def _pairs(pairs: list[tuple[int, int]], num_nodes: int) -> torch.Tensor:
    edges = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).t()
    return to_undirected(edges, num_nodes)


def cycle_graph(n: int) -> torch.Tensor:
    """The undirected cycle 0 - 1 - ... - (n-1) - 0 as a (2, 2n) edge index (n >= 3)."""
    if n < 3:
        raise ValueError(f"a cycle needs at least 3 nodes, got {n}")
    return _pairs([(k, (k + 1) % n) for k in range(n)], n)


def path_graph(n: int) -> torch.Tensor:
    """The undirected path 0 - 1 - ... - (n-1) as a (2, 2(n-1)) edge index (n >= 1)."""
    if n < 1:
        raise ValueError(f"a path needs at least 1 node, got {n}")
    return _pairs([(k, k + 1) for k in range(n - 1)], n)


def complete_graph(n: int, *, self_loops: bool = True) -> torch.Tensor:
    """Every ordered pair ``j -> i`` of n nodes (with ``i -> i`` when ``self_loops``),
    as (2, E)."""
    _check_num_nodes(n)
    src, dst = torch.meshgrid(
        torch.arange(n), torch.arange(n), indexing="xy"
    )  # dst varies slowest
    keep = torch.ones(n, n, dtype=torch.bool) if self_loops else src != dst
    return torch.stack([src[keep], dst[keep]])


def knn_graph(points: torch.Tensor, k: int) -> torch.Tensor:
    """Edges ``j -> i`` from each point's k nearest neighbours (Euclidean, itself
    excluded).

    Args:
        points: (N, D) coordinates or features.
        k: neighbours per node, 1 <= k < N.

    Returns:
        (2, N * k) edge index; targets in row 1 are 0, 0, ..., 1, 1, ...
    """
    _check_features(points, "points")
    n = points.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k must be between 1 and N - 1 = {n - 1}, got {k}")
    dist = torch.cdist(points, points)  # (N, N)
    dist.fill_diagonal_(float("inf"))
    nbrs = dist.topk(k, dim=1, largest=False).indices  # (N, k)
    dst = torch.arange(n, device=points.device).repeat_interleave(k)
    return torch.stack([nbrs.reshape(-1), dst])


def stochastic_block_model(
    sizes: Sequence[int],
    p_in: float,
    p_out: float,
    *,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A random undirected graph with communities (Holland et al.'s stochastic block
    model).

    Two nodes are joined with probability ``p_in`` when they are in the same
    community and ``p_out`` otherwise, independently.

    Args:
        sizes: the number of nodes in each community.
        p_in, p_out: edge probabilities within and between communities.
        generator: for reproducible graphs.

    Returns:
        ``(edge_index (2, E), labels (N,))`` with N = sum(sizes).
    """
    if not sizes or any(s < 1 for s in sizes):
        raise ValueError(
            f"sizes must list at least one positive community size, got {sizes!r}"
        )
    if not (0 <= p_in <= 1 and 0 <= p_out <= 1):
        raise ValueError(
            f"p_in and p_out are probabilities in [0, 1], got {p_in}, {p_out}"
        )
    labels = torch.repeat_interleave(
        torch.arange(len(sizes)), torch.tensor(list(sizes))
    )
    n = len(labels)
    prob = torch.where(labels[:, None] == labels[None, :], p_in, p_out)  # (N, N)
    upper = (torch.rand(n, n, generator=generator) < prob).triu(diagonal=1)
    i, j = upper.nonzero(as_tuple=True)
    return to_undirected(torch.stack([i, j]), n), labels


def permute_graph(
    x: torch.Tensor, edge_index: torch.Tensor, perm: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Renumber the nodes: new node ``k`` is old node ``perm[k]``.

    Returns:
        ``(x[perm], edge_index renumbered)``; the graph is the same, only its node order
        changes.
    """
    n = x.shape[0]
    check_edge_index(edge_index, n)
    if perm.shape != (n,) or not torch.equal(
        perm.sort().values, torch.arange(n, device=perm.device)
    ):
        raise ValueError(f"perm must be a permutation of 0..{n - 1}")
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(n, device=perm.device)  # old index -> new index
    return x[perm], inverse[edge_index]


@dataclass
class Graph:
    """One graph, or a mini-batch of graphs stored as one block-diagonal graph.

    Attributes:
        x: node features (N, F).
        edge_index: (2, E) edges ``j -> i``.
        y: a label: () or (1,) per graph, (N,) per node, or (G,) for a batch of G
            graphs.
        batch: (N,) the graph each node belongs to; ``None`` for a single graph.
        num_graphs: G.
    """

    x: torch.Tensor
    edge_index: torch.Tensor
    y: torch.Tensor | None = None
    batch: torch.Tensor | None = None
    num_graphs: int = 1

    def __post_init__(self) -> None:
        _check_features(self.x)
        check_edge_index(self.edge_index, self.x.shape[0])
        if self.batch is not None and self.batch.shape != (self.x.shape[0],):
            raise ValueError(
                f"batch must have one entry per node, shape ({self.x.shape[0]},), got "
                f"{tuple(self.batch.shape)}"
            )

    @property
    def num_nodes(self) -> int:
        return self.x.shape[0]

    def to(self, device: torch.device | str) -> "Graph":
        """The same graph with every tensor on ``device``."""
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Graph(
            move(self.x),
            move(self.edge_index),
            move(self.y),
            move(self.batch),
            self.num_graphs,
        )


def batch_graphs(graphs: Sequence[Graph]) -> Graph:
    """Merge graphs into one block-diagonal graph that a GNN processes in one pass.

    Node indices of graph ``g`` are shifted by the number of nodes before it, so
    no edge joins two graphs; ``batch[n]`` says which graph node ``n`` came from.

    Args:
        graphs: G single graphs with features of the same width.

    Returns:
        A :class:`Graph` with x (sum N_g, F), edge_index (2, sum E_g), y (G,) (when
        every graph has a label), batch (sum N_g,) and ``num_graphs = G``.
    """
    if not graphs:
        raise ValueError("batch_graphs needs at least one graph")
    if any(g.batch is not None for g in graphs):
        raise ValueError(
            "batch_graphs takes single graphs; merge the graph lists instead of batches"
        )
    widths = {g.x.shape[1:] for g in graphs}
    if len(widths) > 1:
        raise ValueError(
            "all graphs need node features of the same width, got "
            f"{sorted(map(tuple, widths))}"
        )
    sizes = torch.tensor([g.num_nodes for g in graphs])
    offsets = torch.cumsum(sizes, 0) - sizes  # (G,) first node of each graph
    edge_index = torch.cat(
        [g.edge_index + int(off) for g, off in zip(graphs, offsets)], dim=1
    )
    batch = torch.repeat_interleave(torch.arange(len(graphs)), sizes).to(
        graphs[0].x.device
    )
    ys = [g.y for g in graphs]
    y = (
        torch.cat([t.reshape(-1) for t in ys])
        if all(t is not None for t in ys)
        else None
    )
    return Graph(torch.cat([g.x for g in graphs]), edge_index, y, batch, len(graphs))


# ------------------------------------------------------------------------- aggregation


def _check_index(src: torch.Tensor, index: torch.Tensor, num_nodes: int) -> None:
    _check_num_nodes(num_nodes)
    if index.ndim != 1 or index.shape[0] != src.shape[0]:
        raise ValueError(
            f"index must be (E,) with one target per row of src {tuple(src.shape)}, "
            "got "
            f"{tuple(index.shape)}"
        )
    if _range_checked(index) and (index.min() < 0 or index.max() >= num_nodes):
        raise ValueError(
            f"index must lie in [0, {num_nodes}), got values in "
            f"[{int(index.min())}, {int(index.max())}]"
        )


def scatter_sum(src: torch.Tensor, index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Sum the rows of ``src`` (E, ...) that share a target:
    ``out[i] = sum_{e: index[e] = i} src[e]``. Returns (N, ...)."""
    _check_index(src, index, num_nodes)
    out = src.new_zeros((num_nodes,) + src.shape[1:])
    return out.index_add_(0, index, src)


def scatter_mean(
    src: torch.Tensor, index: torch.Tensor, num_nodes: int
) -> torch.Tensor:
    """Mean of the rows of ``src`` (E, ...) per target; 0 for targets without rows.
    Returns (N, ...)."""
    total = scatter_sum(src, index, num_nodes)
    count = degree(index, num_nodes, dtype=src.dtype).clamp(min=1)
    return total / count.reshape((-1,) + (1,) * (src.ndim - 1))


def scatter_max(src: torch.Tensor, index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Elementwise maximum of the rows of ``src`` (E, ...) per target; 0 for targets
    without rows. Returns (N, ...)."""
    _check_index(src, index, num_nodes)
    out = src.new_zeros((num_nodes,) + src.shape[1:])
    idx = index.reshape((-1,) + (1,) * (src.ndim - 1)).expand_as(src)
    return out.scatter_reduce(0, idx, src, reduce="amax", include_self=False)


def segment_softmax(
    scores: torch.Tensor, index: torch.Tensor, num_nodes: int
) -> torch.Tensor:
    """Softmax of edge scores over the edges that share a target node.

    Args:
        scores: (E,) or (E, H) one score per edge (and head).
        index: (E,) the target node of each edge.

    Returns:
        Weights of the shape of ``scores`` that sum to 1 over the edges entering each
        node.
    """
    _check_index(scores, index, num_nodes)
    idx = index.reshape((-1,) + (1,) * (scores.ndim - 1)).expand_as(scores)
    top = scores.new_full((num_nodes,) + scores.shape[1:], -math.inf)
    top = top.scatter_reduce(
        0, idx, scores.detach(), reduce="amax", include_self=True
    )  # (N, ...) max per node
    e = (scores - top[index]).exp()  # stable: every exponent <= 0
    return e / scatter_sum(e, index, num_nodes)[index]


def readout(
    x: torch.Tensor,
    batch: torch.Tensor | None,
    num_graphs: int = 1,
    reduce: str = "sum",
) -> torch.Tensor:
    """A graph-level vector from node vectors: sum, mean or max over each graph's nodes.

    Args:
        x: node features (N, F).
        batch: (N,) graph of each node, or ``None`` for a single graph.
        num_graphs: G.
        reduce: "sum", "mean" or "max".

    Returns:
        (G, F).
    """
    if batch is None:
        batch = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
    fns = {"sum": scatter_sum, "mean": scatter_mean, "max": scatter_max}
    if reduce not in fns:
        raise ValueError(f"reduce must be one of {sorted(fns)}, got {reduce!r}")
    return fns[reduce](x, batch, num_graphs)


# ----------------------------------------------------------------------------- layers


def message_passing(h, edge_index, message, aggregate, update):
    """One message-passing layer: h (N, F) -> (N, F')."""
    check_graph(h, edge_index)
    src, dst = edge_index  # (E,) each: edge j -> i is (src, dst) = (j, i)
    m = message(h[dst], h[src])  # (E, F_m): one message per edge, from h_i and h_j
    agg = aggregate(m, dst, h.shape[0])  # (N, F_m): the messages into each node
    return update(h, agg)  # (N, F')


def check_choice(value, name: str, choices) -> None:
    """Raise a ValueError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def gcn_norm_dense(adj: torch.Tensor) -> torch.Tensor:
    """Kipf and Welling's propagation matrix D^{-1/2} (A + I) D^{-1/2}, D the degrees of
    A + I.

    Args:
        adj: (N, N) adjacency matrix.

    Returns:
        (N, N).
    """
    if adj.ndim != 2 or adj.shape[0] != adj.shape[1]:
        raise ValueError(
            f"an adjacency matrix must be square (N, N), got {tuple(adj.shape)}"
        )
    a_hat = adj + torch.eye(adj.shape[0], dtype=adj.dtype, device=adj.device)
    d_inv_sqrt = a_hat.sum(dim=1).rsqrt()  # (N,)
    return d_inv_sqrt[:, None] * a_hat * d_inv_sqrt[None, :]


def check_layer_args(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> None:
    """Check ``x (N, F_in)``, ``weight (F_in, F_out)`` and ``bias (F_out,)`` or None."""
    _check_features(x)
    if x.ndim != 2:
        raise ValueError(f"x must be (N, F), got {tuple(x.shape)}")
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"weight must be a tensor, got {type(weight).__name__}")
    if weight.ndim != 2 or weight.shape[0] != x.shape[1]:
        raise ValueError(
            f"weight must be (F_in, F_out) = ({x.shape[1]}, F_out) for x "
            f"{tuple(x.shape)}, got {tuple(weight.shape)}"
        )
    if bias is not None and bias.shape != (weight.shape[1],):
        raise ValueError(f"bias must be ({weight.shape[1]},), got {tuple(bias.shape)}")


_check_layer_args = check_layer_args


def gcn_conv_dense(
    x: torch.Tensor,
    adj: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """A GCN layer with an adjacency matrix: D^{-1/2}(A + I)D^{-1/2} X W + b.

    Args:
        x: (N, F_in) node features.
        adj: (N, N) adjacency, ``adj[i, j]`` for an edge ``j -> i``.
        weight: (F_in, F_out).
        bias: (F_out,) or None.

    Returns:
        (N, F_out), before any nonlinearity. Costs O(N^2 F_out).
    """
    _check_layer_args(x, weight, bias)
    if adj.shape != (x.shape[0], x.shape[0]):
        raise ValueError(
            f"adj must be (N, N) = ({x.shape[0]}, {x.shape[0]}) for x "
            f"{tuple(x.shape)}, got "
            f"{tuple(adj.shape)}"
        )
    out = gcn_norm_dense(adj) @ (x @ weight)
    return out if bias is None else out + bias


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


class GINConv(nn.Module):
    """A graph isomorphism network layer (Xu et al. 2019): h_i' = MLP((1 + eps) h_i +
    sum_{j -> i} h_j)."""

    def __init__(
        self, mlp: nn.Module, *, eps: float = 0.0, train_eps: bool = False
    ) -> None:
        super().__init__()
        self.mlp = mlp
        self.eps = nn.Parameter(torch.tensor(float(eps))) if train_eps else eps

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        """x (N, F_in), edge_index (2, E) -> (N, F_out) of the MLP."""
        _check_features(x)
        check_edge_index(edge_index, x.shape[0])
        src, dst = edge_index
        return self.mlp((1 + self.eps) * x + scatter_sum(x[src], dst, x.shape[0]))


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


def check_attention_args(q, k, v, edge_index) -> None:
    """Check q, k (N, d) or (N, H, d), v (N, d_v) or (N, H, d_v) and the edge index."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        _check_features(t, name)
    if q.shape != k.shape or v.shape[:-1] != q.shape[:-1]:
        raise ValueError(
            "q and k must have the same shape and v the same leading shape, got "
            f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )
    check_edge_index(edge_index, q.shape[0])


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


class GATConv(nn.Module):
    """A graph attention layer (Velickovic et al. 2018) with H heads.

    ``e_ij = LeakyReLU(a_dst . W h_i + a_src . W h_j)``, ``alpha_ij`` = softmax of
    ``e_ij`` over the edges entering i, ``h_i' = sum_j alpha_ij W h_j``; the
    heads are concatenated (or averaged with ``concat=False``). A self-loop
    is added to every node so that each node also attends to itself.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        heads: int = 1,
        concat: bool = True,
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        self.heads, self.out_features, self.concat, self.negative_slope = (
            heads,
            out_features,
            concat,
            negative_slope,
        )
        self.lin = nn.Linear(in_features, heads * out_features, bias=False)
        self.att_src = nn.Parameter(torch.empty(heads, out_features))
        self.att_dst = nn.Parameter(torch.empty(heads, out_features))
        self.bias = nn.Parameter(
            torch.zeros(heads * out_features if concat else out_features)
        )
        for p in (self.att_src, self.att_dst):
            nn.init.xavier_uniform_(p)

    def attention(
        self, x: torch.Tensor, edge_index: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Transformed features (N, H, F_out), the edge index with self-loops (2, E + N)
        and alpha (E + N, H)."""
        _check_features(x)
        n = x.shape[0]
        edge_index = add_self_loops(edge_index, n)
        src, dst = edge_index
        h = self.lin(x).view(n, self.heads, self.out_features)  # (N, H, F_out)
        score_src, score_dst = (
            (h * self.att_src).sum(-1),
            (h * self.att_dst).sum(-1),
        )  # (N, H) each
        e = F.leaky_relu(
            score_dst[dst] + score_src[src], self.negative_slope
        )  # (E + N, H)
        return h, edge_index, segment_softmax(e, dst, n)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        """x (N, F_in), edge_index (2, E) -> (N, H * F_out), or (N, F_out) when
        ``concat=False``."""
        h, (src, dst), alpha = self.attention(x, edge_index)
        out = scatter_sum(alpha[..., None] * h[src], dst, x.shape[0])  # (N, H, F_out)
        out = out.reshape(x.shape[0], -1) if self.concat else out.mean(dim=1)
        return out + self.bias


# ----------------------------------------------------------------------------- drawing


def circular_layout(n: int) -> torch.Tensor:
    """n points evenly spaced on the unit circle, node 0 at the top. Returns (n, 2)."""
    angle = math.pi / 2 - 2 * math.pi * torch.arange(n) / max(n, 1)
    return torch.stack([angle.cos(), angle.sin()], dim=1)


def spring_layout(
    edge_index: torch.Tensor, num_nodes: int, *, iterations: int = 200, seed: int = 0
) -> torch.Tensor:
    """Node positions from a force-directed layout (Fruchterman and Reingold's spring
    model).

    Every pair of nodes repels with force k^2/d, every edge pulls with d^2/k;
    the step size cools linearly. O(N^2) per iteration: for graphs of up to a
    few thousand nodes.

    Returns:
        (N, 2) positions, centred, in roughly [-1, 1].
    """
    check_edge_index(edge_index, num_nodes)
    g = torch.Generator().manual_seed(seed)
    pos = torch.rand(num_nodes, 2, generator=g, dtype=torch.float64) * 2 - 1
    k = 2.0 / math.sqrt(max(num_nodes, 1))  # ideal edge length in a [-1, 1]^2 box
    src, dst = edge_index.cpu()
    for it in range(iterations):
        delta = pos[:, None, :] - pos[None, :, :]  # (N, N, 2)
        dist = delta.norm(dim=-1).clamp(min=1e-3)  # (N, N)
        force = (delta * (k**2 / dist**2)[..., None]).sum(
            1
        )  # repulsion, along delta / dist
        pull = pos[src] - pos[dst]  # (E, 2) towards the other end
        force.index_add_(0, dst, pull * (pull.norm(dim=1, keepdim=True) / k))
        step = 0.1 * (1 - it / iterations) + 1e-3
        length = force.norm(dim=1, keepdim=True).clamp(min=1e-9)
        pos = pos + force / length * torch.minimum(length, torch.tensor(step))
    pos = pos - pos.mean(0)
    return (pos / pos.abs().max().clamp(min=1e-9)).float()


def draw_graph(
    ax,
    pos: torch.Tensor,
    edge_index: torch.Tensor,
    *,
    node_color: torch.Tensor | None = None,
    node_size: float = 60,
    labels: bool = False,
    edge_alpha: float = 0.5,
) -> None:
    """Draw a graph on ``ax``: edges as grey lines, nodes as dots.

    Args:
        pos: (N, 2) node positions.
        edge_index: (2, E); both directions of an undirected edge are drawn once.
        node_color: (N,) integer classes (the book's class colours) or None.
        labels: write each node's index on it.
    """
    from matplotlib.collections import LineCollection

    from dlbook.plot import CLASS_COLORS

    pos = torch.as_tensor(pos).detach().cpu().float()
    check_edge_index(edge_index.cpu(), pos.shape[0])
    src, dst = edge_index.cpu()
    keep = src <= dst
    segments = torch.stack(
        [pos[src[keep]], pos[dst[keep]]], dim=1
    ).numpy()  # (E', 2, 2)
    ax.add_collection(
        LineCollection(
            segments, colors="0.5", linewidths=0.8, alpha=edge_alpha, zorder=1
        )
    )
    if node_color is None:
        colors = CLASS_COLORS[0]
    else:
        colors = [
            CLASS_COLORS[int(c) % len(CLASS_COLORS)]
            for c in torch.as_tensor(node_color).cpu().tolist()
        ]
    ax.scatter(
        pos[:, 0],
        pos[:, 1],
        s=node_size,
        c=colors,
        edgecolors="white",
        linewidths=0.6,
        zorder=2,
    )
    if labels:
        for i, (px, py) in enumerate(pos.tolist()):
            ax.text(
                px,
                py,
                str(i),
                ha="center",
                va="center",
                fontsize=7,
                color="white",
                zorder=3,
            )
    ax.set_aspect("equal")
    ax.set_axis_off()
