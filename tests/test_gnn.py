import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlbook import gnn


def _random_graph(n: int, p: float, seed: int, directed: bool = False) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(n, n, generator=g) < p
    a.fill_diagonal_(False)
    ei = gnn.edge_index_from_adjacency(a)
    return ei if directed else gnn.to_undirected(ei, n)


def _gcn_formula(x, adj, w, b):
    a_tilde = adj + torch.eye(len(adj), dtype=adj.dtype)
    d = torch.diag(a_tilde.sum(1) ** -0.5)
    return d @ a_tilde @ d @ x @ w + b


@pytest.mark.parametrize("directed", [False, True])
def test_gcn_dense_sparse_and_formula_agree_on_random_graphs(directed):
    g = torch.Generator().manual_seed(0)
    for trial in range(20):
        n = 1 + trial * 3
        ei = _random_graph(n, 0.2, trial, directed=directed)
        x = torch.randn(n, 5, generator=g, dtype=torch.float64)
        w, b = (
            torch.randn(5, 3, generator=g, dtype=torch.float64),
            torch.randn(3, generator=g, dtype=torch.float64),
        )
        adj = gnn.adjacency(ei, n, dtype=torch.float64)
        ref = _gcn_formula(x, adj, w, b)
        torch.testing.assert_close(
            gnn.gcn_conv_dense(x, adj, w, b), ref, rtol=1e-10, atol=1e-10
        )
        torch.testing.assert_close(
            gnn.gcn_conv_sparse(x, ei, w, b), ref, rtol=1e-10, atol=1e-10
        )


def test_gcn_gradients_agree_between_dense_and_sparse():
    n = 15
    ei = _random_graph(n, 0.3, 1)
    x = torch.randn(n, 4, dtype=torch.float64)
    w1 = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    w2 = w1.detach().clone().requires_grad_()
    gnn.gcn_conv_sparse(x, ei, w1).square().sum().backward()
    gnn.gcn_conv_dense(
        x, gnn.adjacency(ei, n, dtype=torch.float64), w2
    ).square().sum().backward()
    torch.testing.assert_close(w1.grad, w2.grad)


def test_adjacency_degree_and_edge_index_round_trip():
    ei = _random_graph(12, 0.3, 2, directed=True)
    adj = gnn.adjacency(ei, 12)
    assert adj.shape == (12, 12) and adj.sum() == ei.shape[1]
    for j, i in ei.t().tolist():
        assert adj[i, j] == 1
    torch.testing.assert_close(adj.sum(1), gnn.degree(ei[1], 12))
    back = gnn.edge_index_from_adjacency(adj)
    assert torch.equal(gnn.adjacency(back, 12), adj)
    und = gnn.to_undirected(ei, 12)
    a_und = gnn.adjacency(und, 12)
    assert torch.equal(a_und, a_und.T) and a_und.max() == 1


def test_small_graph_constructors():
    assert torch.equal(gnn.degree(gnn.cycle_graph(6)[1], 6), torch.full((6,), 2.0))
    assert gnn.degree(gnn.path_graph(5)[1], 5).tolist() == [1.0, 2.0, 2.0, 2.0, 1.0]
    assert gnn.complete_graph(4).shape == (2, 16) and gnn.complete_graph(
        4, self_loops=False
    ).shape == (2, 12)
    assert torch.equal(gnn.adjacency(gnn.complete_graph(3), 3), torch.ones(3, 3))
    pts = torch.randn(20, 3)
    knn = gnn.knn_graph(pts, 4)
    assert torch.equal(gnn.degree(knn[1], 20), torch.full((20,), 4.0))
    d = torch.cdist(pts, pts)
    for (
        j,
        i,
    ) in (
        knn.t().tolist()
    ):  # every sender is among the 4 nearest other points of its receiver
        assert (
            j != i and (d[i] < d[i, j]).sum() <= 4
        )  # itself (distance 0) plus at most 3 closer ones


def test_stochastic_block_model_is_undirected_and_has_communities():
    ei, y = gnn.stochastic_block_model(
        [40, 40, 40], 0.3, 0.01, generator=torch.Generator().manual_seed(0)
    )
    assert y.tolist() == [0] * 40 + [1] * 40 + [2] * 40
    a = gnn.adjacency(ei, 120)
    assert torch.equal(a, a.T) and a.diagonal().sum() == 0
    inside = (y[ei[0]] == y[ei[1]]).float().mean()
    assert inside > 0.85


def test_scatter_aggregations_match_loops():
    g = torch.Generator().manual_seed(3)
    src = torch.randn(30, 4, generator=g)
    index = torch.randint(0, 6, (30,), generator=g)
    index[index == 5] = 4  # node 5 receives nothing
    s, m, x = (
        gnn.scatter_sum(src, index, 6),
        gnn.scatter_mean(src, index, 6),
        gnn.scatter_max(src, index, 6),
    )
    for i in range(5):
        rows = src[index == i]
        if len(rows):
            torch.testing.assert_close(s[i], rows.sum(0))
            torch.testing.assert_close(m[i], rows.mean(0))
            torch.testing.assert_close(x[i], rows.max(0).values)
    assert (s[5] == 0).all() and (m[5] == 0).all() and (x[5] == 0).all()


def test_segment_softmax_sums_to_one_per_target_and_is_stable():
    index = torch.tensor([0, 0, 1, 1, 1, 3])
    scores = torch.tensor(
        [
            [1000.0, 0.0],
            [1001.0, 1.0],
            [-5.0, 2.0],
            [0.0, 2.0],
            [5.0, 2.0],
            [3.0, -1000.0],
        ]
    )
    alpha = gnn.segment_softmax(scores, index, 4)
    assert torch.isfinite(alpha).all()
    torch.testing.assert_close(
        gnn.scatter_sum(alpha, index, 4)[[0, 1, 3]], torch.ones(3, 2)
    )
    torch.testing.assert_close(alpha[:2, 0], torch.softmax(torch.tensor([0.0, 1.0]), 0))


def test_edge_attention_equals_sdpa_on_complete_graph_and_masked_sdpa_on_a_graph():
    g = torch.Generator().manual_seed(4)
    n = 10
    q, k, v = torch.randn(3, n, 3, 6, generator=g, dtype=torch.float64).unbind(0)
    t = lambda z: z.transpose(0, 1)  # noqa: E731  (N, H, d) <-> (H, N, d)
    ours = gnn.edge_attention(q, k, v, gnn.complete_graph(n))
    torch.testing.assert_close(
        ours, t(F.scaled_dot_product_attention(t(q), t(k), t(v)))
    )
    ei = gnn.add_self_loops(_random_graph(n, 0.3, 5, directed=True), n)
    mask = gnn.adjacency(ei, n) > 0
    ours = gnn.edge_attention(q, k, v, ei)
    torch.testing.assert_close(
        ours, t(F.scaled_dot_product_attention(t(q), t(k), t(v), attn_mask=mask))
    )
    q1, k1, v1 = q[:, 0], k[:, 0], v[:, 0]  # single head, (N, d)
    torch.testing.assert_close(
        gnn.edge_attention(q1, k1, v1, gnn.complete_graph(n)),
        F.scaled_dot_product_attention(q1, k1, v1),
    )


def test_gat_matches_dense_masked_attention():
    torch.manual_seed(0)
    n, heads, f_out = 9, 3, 4
    layer = gnn.GATConv(5, f_out, heads=heads).double()
    x = torch.randn(n, 5, dtype=torch.float64)
    ei = _random_graph(n, 0.3, 6)
    h = layer.lin(x).view(n, heads, f_out)
    e = F.leaky_relu(
        (h * layer.att_dst).sum(-1)[:, None] + (h * layer.att_src).sum(-1)[None, :], 0.2
    )  # (N, N, H)
    allowed = (gnn.adjacency(ei, n) + torch.eye(n)) > 0
    alpha = e.masked_fill(~allowed[..., None], float("-inf")).softmax(1)
    dense = torch.einsum("ijh,jhf->ihf", alpha, h)
    torch.testing.assert_close(layer(x, ei), dense.reshape(n, -1) + layer.bias)
    mean_layer = gnn.GATConv(5, f_out, heads=heads, concat=False)
    assert mean_layer(x.float(), ei).shape == (n, f_out)


def test_edgeconv_matches_loop_and_gin_matches_formula():
    torch.manual_seed(1)
    n = 12
    x = torch.randn(n, 3)
    ei = _random_graph(n, 0.3, 7)
    mlp = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 5))
    for aggr, fn in (
        ("max", lambda m: m.max(0).values),
        ("sum", lambda m: m.sum(0)),
        ("mean", lambda m: m.mean(0)),
    ):
        out = gnn.EdgeConv(mlp, aggr=aggr)(x, ei)
        for i in range(n):
            nbrs = x[ei[0, ei[1] == i]]
            expect = (
                fn(mlp(torch.cat([x[i].expand(len(nbrs), 3), nbrs - x[i]], 1)))
                if len(nbrs)
                else torch.zeros(5)
            )
            torch.testing.assert_close(out[i], expect)
    gin = gnn.GINConv(nn.Linear(3, 4), eps=0.5)
    adj = gnn.adjacency(ei, n)
    torch.testing.assert_close(gin(x, ei), gin.mlp(1.5 * x + adj @ x))
    assert isinstance(gnn.GINConv(nn.Identity(), train_eps=True).eps, nn.Parameter)


def test_layers_are_permutation_equivariant_and_readouts_invariant():
    torch.manual_seed(2)
    n = 25
    x = torch.randn(n, 4, dtype=torch.float64)
    ei = _random_graph(n, 0.2, 8)
    perm = torch.randperm(n)
    xp, eip = gnn.permute_graph(x, ei, perm)
    layers = [
        gnn.GCNConv(4, 6),
        gnn.GINConv(nn.Sequential(nn.Linear(4, 6), nn.ReLU())),
        gnn.EdgeConv(nn.Sequential(nn.Linear(8, 6), nn.ReLU())),
        gnn.GATConv(4, 3, heads=2),
    ]
    for layer in layers:
        layer = layer.double()
        out, out_p = layer(x, ei), layer(xp, eip)
        torch.testing.assert_close(out_p, out[perm])
        for reduce in ("sum", "mean", "max"):
            torch.testing.assert_close(
                gnn.readout(out_p, None, reduce=reduce),
                gnn.readout(out, None, reduce=reduce),
            )
    assert not torch.allclose(layers[0](xp, eip), layers[0](x, ei)), (
        "the permutation must move rows"
    )


def test_batch_graphs_is_block_diagonal_and_keeps_graphs_apart():
    rng = random.Random(0)
    graphs = []
    for k in range(5):
        n = rng.randint(3, 9)
        graphs.append(
            gnn.Graph(
                torch.randn(n, 2),
                gnn.cycle_graph(n) if k % 2 else gnn.path_graph(n),
                torch.tensor(k),
            )
        )
    big = gnn.batch_graphs(graphs)
    sizes = [g.num_nodes for g in graphs]
    assert (
        big.num_graphs == 5
        and big.num_nodes == sum(sizes)
        and big.y.tolist() == [0, 1, 2, 3, 4]
    )
    assert big.batch.tolist() == sum(([k] * s for k, s in enumerate(sizes)), [])
    torch.testing.assert_close(
        gnn.adjacency(big.edge_index, big.num_nodes),
        torch.block_diag(*[gnn.adjacency(g.edge_index, g.num_nodes) for g in graphs]),
    )
    layer = gnn.GCNConv(2, 3)
    pooled = gnn.readout(
        layer(big.x, big.edge_index), big.batch, big.num_graphs, "mean"
    )
    alone = torch.cat(
        [gnn.readout(layer(g.x, g.edge_index), None, 1, "mean") for g in graphs]
    )
    torch.testing.assert_close(pooled, alone)
    assert big.to("cpu").x.device.type == "cpu"


def test_bad_inputs_raise_clear_errors():
    ei = gnn.cycle_graph(4)
    with pytest.raises(ValueError, match="node 4"):
        gnn.check_edge_index(torch.tensor([[0, 1], [1, 4]]), 4)
    with pytest.raises(ValueError, match="node -1"):
        gnn.check_edge_index(torch.tensor([[0, -1], [1, 2]]), 4)
    with pytest.raises(ValueError, match=r"\(2, E\)"):
        gnn.check_edge_index(ei.t(), 4)
    with pytest.raises(TypeError, match="int64"):
        gnn.check_edge_index(ei.float(), 4)
    with pytest.raises(TypeError, match="tensor"):
        gnn.check_edge_index([[0, 1], [1, 0]], 4)
    with pytest.raises(ValueError, match="weight"):
        gnn.gcn_conv_sparse(torch.randn(4, 3), ei, torch.randn(2, 5))
    with pytest.raises(ValueError, match="adj"):
        gnn.gcn_conv_dense(torch.randn(4, 3), torch.zeros(5, 5), torch.randn(3, 5))
    with pytest.raises(ValueError, match="node 4"):
        gnn.GCNConv(3, 2)(torch.randn(4, 3), torch.tensor([[0], [4]]))
    with pytest.raises(TypeError, match="floating-point"):
        gnn.GINConv(nn.Identity())(torch.ones(4, 3, dtype=torch.long), ei)
    with pytest.raises(ValueError, match="same width"):
        gnn.batch_graphs(
            [gnn.Graph(torch.ones(4, 1), ei), gnn.Graph(torch.ones(4, 2), ei)]
        )
    with pytest.raises(ValueError, match="at least one"):
        gnn.batch_graphs([])
    with pytest.raises(ValueError, match="node 5"):
        gnn.Graph(torch.ones(3, 1), torch.tensor([[0], [5]]))
    with pytest.raises(ValueError, match="reduce"):
        gnn.readout(torch.ones(3, 2), None, reduce="median")
    with pytest.raises(ValueError, match="aggr"):
        gnn.EdgeConv(nn.Identity(), aggr="median")
    with pytest.raises(ValueError, match="permutation"):
        gnn.permute_graph(torch.ones(4, 1), ei, torch.tensor([0, 0, 1, 2]))
    with pytest.raises(ValueError, match="k must"):
        gnn.knn_graph(torch.randn(5, 2), 5)
    with pytest.raises(ValueError, match="same shape"):
        gnn.edge_attention(torch.randn(4, 3), torch.randn(4, 2), torch.randn(4, 3), ei)
    with pytest.raises(ValueError, match="probabilities"):
        gnn.stochastic_block_model([3, 3], 1.5, 0.1)
    with pytest.raises(ValueError, match="at least 3"):
        gnn.cycle_graph(2)


def test_a_tiny_gcn_overfits_node_labels():
    torch.manual_seed(0)
    ei, y = gnn.stochastic_block_model(
        [10, 10], 0.5, 0.05, generator=torch.Generator().manual_seed(0)
    )
    x = torch.randn(20, 4)
    conv1, conv2 = gnn.GCNConv(4, 16), gnn.GCNConv(16, 2)
    opt = torch.optim.Adam([*conv1.parameters(), *conv2.parameters()], lr=0.05)
    losses = []
    for _ in range(100):
        loss = F.cross_entropy(conv2(F.relu(conv1(x, ei)), ei), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    assert (conv2(F.relu(conv1(x, ei)), ei).argmax(1) == y).all()


def test_layouts_have_the_right_shape_and_draw():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ei = gnn.cycle_graph(8)
    pos = gnn.spring_layout(ei, 8, iterations=50)
    assert (
        pos.shape == (8, 2)
        and torch.isfinite(pos).all()
        and pos.abs().max() <= 1 + 1e-6
    )
    circ = gnn.circular_layout(8)
    torch.testing.assert_close(circ.norm(dim=1), torch.ones(8))
    fig, ax = plt.subplots()
    gnn.draw_graph(ax, pos, ei, node_color=torch.arange(8) % 2, labels=True)
    assert len(ax.collections) == 2  # the edges and the nodes
    plt.close(fig)
