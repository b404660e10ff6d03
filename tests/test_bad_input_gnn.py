"""Bad input to dlbook.gnn gets a clear TypeError/ValueError; no host syncs off the CPU."""

import numpy as np
import pytest
import torch
from torch import nn

from dlbook import gnn

EI = torch.tensor([[0, 1, 2], [1, 2, 0]])


def test_negative_and_out_of_range_indices():
    with pytest.raises(ValueError, match="no index is negative"):
        gnn.degree(torch.tensor([0, -1, 2]), 3)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        gnn.degree(torch.tensor([0, 3]), 3)
    with pytest.raises(ValueError, match="index must lie"):
        gnn.scatter_sum(torch.ones(2, 1), torch.tensor([0, -2]), 3)
    with pytest.raises(ValueError, match="non-negative"):
        gnn.degree(torch.tensor([0]), -1)


def test_types():
    with pytest.raises(TypeError, match="tensor"):
        gnn.gcn_conv_sparse(np.ones((3, 2)), EI, torch.ones(2, 2))
    with pytest.raises(TypeError, match="int64"):
        gnn.degree(torch.tensor([0.0, 1.0]), 2)
    with pytest.raises(TypeError, match="num_nodes must be an int"):
        gnn.check_edge_index(EI, 3.0)
    with pytest.raises(TypeError, match="integer"):
        gnn.GCNConv(2.5, 3)
    with pytest.raises(ValueError, match="aggr must be one of"):
        gnn.EdgeConv(nn.Identity(), aggr="median")
    with pytest.raises(TypeError, match="floating-point"):
        gnn.message_passing(torch.ones(3, 2, dtype=torch.long), EI, None, None, None)


def test_no_range_check_off_the_cpu():
    # A meta tensor has no values: reading min() would raise. The layers must not
    # read an index's values off the CPU (that would stall a GPU every call).
    ei = torch.empty(2, 5, dtype=torch.long, device="meta")
    gnn.check_edge_index(ei, 3)
    gnn.degree(ei[1], 3)
    x = torch.empty(3, 4, device="meta")
    gnn.check_graph(x, ei)


def test_message_passing_matches_gcn():
    torch.manual_seed(0)
    x, w = (
        torch.randn(3, 2, dtype=torch.float64),
        torch.randn(2, 2, dtype=torch.float64),
    )
    ei = gnn.to_undirected(EI, 3)
    loops = gnn.add_self_loops(ei, 3)
    deg = gnn.degree(loops[1], 3, dtype=torch.float64)
    norm = lambda h_i, h_j: h_j  # noqa: E731
    out = gnn.message_passing(
        x @ w / deg[:, None].sqrt(),
        loops,
        norm,
        gnn.scatter_sum,
        lambda h, a: a / deg[:, None].sqrt(),
    )
    torch.testing.assert_close(
        out, gnn.gcn_conv_sparse(x, ei, w), atol=1e-12, rtol=1e-12
    )
