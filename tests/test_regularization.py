"""dlbook.regularization against PyTorch's own dropout and batch normalization."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlbook.regularization import BatchNorm, Dropout, batch_norm, dropout, mixup

# --- dropout ------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_matches_nn_dropout_statistics(p):
    x = torch.rand(200, 500) + 0.5  # strictly positive, so zeros mean "dropped"
    ours, theirs = Dropout(p).train()(x), nn.Dropout(p).train()(x)
    for out in (ours, theirs):
        kept = out != 0
        assert abs(kept.float().mean().item() - (1 - p)) < 0.01  # empirical keep rate
        torch.testing.assert_close(
            out[kept], x[kept] / (1 - p)
        )  # kept units scaled by 1/(1-p)
    assert (
        abs(ours.mean().item() - x.mean().item())
        < 0.01 * x.mean().item() / (1 - p) ** 0.5
    )  # E[h'] = h


def test_dropout_mean_preserved_per_unit():
    x = torch.randn(1, 50).expand(20_000, 50)  # the same activations, many masks
    out = dropout(x, 0.5)
    torch.testing.assert_close(out.mean(0), x[0], atol=0.05, rtol=0.0)


def test_dropout_eval_is_identity_like_torch():
    x = torch.randn(8, 16)
    assert torch.equal(Dropout(0.5).eval()(x), x)
    assert torch.equal(nn.Dropout(0.5).eval()(x), x)
    assert dropout(x, 0.5, training=False) is x


def test_dropout_edge_probabilities_and_generator():
    x = torch.randn(4, 5)
    assert torch.equal(dropout(x, 0.0), x)
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))
    a = dropout(x, 0.5, generator=torch.Generator().manual_seed(3))
    b = dropout(x, 0.5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_dropout_gradient_flows_only_through_kept_units():
    x = torch.randn(10, 10, requires_grad=True)
    out = dropout(x, 0.3)
    out.sum().backward()
    torch.testing.assert_close(x.grad, (out != 0).float() / 0.7)


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError, match="drop probability"):
        dropout(torch.ones(3), p)
    with pytest.raises(ValueError, match="drop probability"):
        Dropout(p)


# --- batch normalization ----------------------------------------------------------


def _pair(shape, momentum=0.1):
    c = shape[1]
    ref = (nn.BatchNorm1d if len(shape) in (2, 3) else nn.BatchNorm2d)(
        c, momentum=momentum
    ).double()
    ours = BatchNorm(c, momentum=momentum).double()
    with torch.no_grad():
        g, b = torch.rand(c) + 0.5, torch.randn(c)
        ref.weight.copy_(g)
        ref.bias.copy_(b)
        ours.gamma.copy_(g)
        ours.beta.copy_(b)
    return ours, ref


@pytest.mark.parametrize("shape", [(16, 5), (8, 3, 7), (6, 4, 5, 5)])
@pytest.mark.parametrize("momentum", [0.1, 0.5, 1.0])
def test_batchnorm_matches_torch_over_many_steps(shape, momentum):
    ours, ref = _pair(shape, momentum)
    for step in range(20):
        x = (3 * torch.randn(shape, dtype=torch.float64) + step).requires_grad_()
        x2 = x.detach().clone().requires_grad_()
        w = torch.randn(shape, dtype=torch.float64)
        out, out_ref = ours(x), ref(x2)
        torch.testing.assert_close(out, out_ref)
        (w * torch.tanh(out)).sum().backward()
        (w * torch.tanh(out_ref)).sum().backward()
        torch.testing.assert_close(ours.gamma.grad, ref.weight.grad)
        torch.testing.assert_close(ours.beta.grad, ref.bias.grad)
        torch.testing.assert_close(x.grad, x2.grad)
        torch.testing.assert_close(ours.running_mean, ref.running_mean)
        torch.testing.assert_close(ours.running_var, ref.running_var)
        for p in (*ours.parameters(), *ref.parameters()):
            p.grad = None
    ours.eval()
    ref.eval()
    x = torch.randn(shape, dtype=torch.float64)
    torch.testing.assert_close(ours(x), ref(x))


def test_batchnorm_running_var_is_unbiased_and_momentum_weights_new_value():
    bn = BatchNorm(3, momentum=0.25)
    x = torch.randn(10, 3)
    bn(x)
    torch.testing.assert_close(bn.running_mean, 0.25 * x.mean(0))
    torch.testing.assert_close(
        bn.running_var, 0.75 * torch.ones(3) + 0.25 * x.var(0, correction=1)
    )


def test_batchnorm_train_output_is_standardized_and_eval_does_not_update():
    bn = BatchNorm(4)
    x = 5 * torch.randn(64, 4, 3, 3) - 2
    y = bn(x)
    torch.testing.assert_close(y.mean((0, 2, 3)), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        y.var((0, 2, 3), correction=0), torch.ones(4), atol=1e-3, rtol=0
    )
    bn.eval()
    before = bn.running_mean.clone(), bn.running_var.clone()
    bn(torch.randn(7, 4, 3, 3))
    assert torch.equal(bn.running_mean, before[0]) and torch.equal(
        bn.running_var, before[1]
    )


def test_batchnorm_one_batch_overfit():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 32), BatchNorm(32), nn.ReLU(), nn.Linear(32, 3))
    x, y = torch.randn(32, 10), torch.randint(0, 3, (32,))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    first = None
    for _ in range(100):
        loss = F.cross_entropy(model(x), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first


def test_batchnorm_bad_inputs():
    with pytest.raises(ValueError, match="num_features"):
        BatchNorm(0)
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm(3, momentum=1.5)
    with pytest.raises(ValueError, match="shape \\(4\\)"):
        BatchNorm(3)(torch.randn(5, 4))
    with pytest.raises(ValueError, match="\\(N, C"):
        batch_norm(
            torch.randn(5),
            torch.ones(5),
            torch.zeros(5),
            torch.zeros(5),
            torch.ones(5),
            training=True,
        )
    with pytest.raises(ValueError, match="at least 2"):
        BatchNorm(3)(torch.randn(1, 3))


# --- mixup --------------------------------------------------------------------------


def test_mixup_mixes_inputs_and_labels_with_one_weight():
    torch.manual_seed(1)
    x, y = torch.rand(32, 1, 28, 28), torch.randint(0, 10, (32,))
    g = torch.Generator().manual_seed(5)
    xm, ys, lam = mixup(x, y, alpha=0.4, num_classes=10, generator=g)
    g2 = torch.Generator().manual_seed(5)
    torch.randint(2**62, (1,), generator=g2)  # the seed of lam's draw comes first
    perm = torch.randperm(32, generator=g2)
    assert 0.0 <= lam <= 1.0 and xm.shape == x.shape and ys.shape == (32, 10)
    torch.testing.assert_close(xm, lam * x + (1 - lam) * x[perm])
    torch.testing.assert_close(
        ys, lam * F.one_hot(y, 10).float() + (1 - lam) * F.one_hot(y[perm], 10).float()
    )
    torch.testing.assert_close(ys.sum(1), torch.ones(32))
    loss = F.cross_entropy(
        torch.randn(32, 10), ys
    )  # soft targets work with cross-entropy
    assert torch.isfinite(loss)


def test_mixup_lambda_distribution():
    torch.manual_seed(2)
    x, y = torch.rand(4, 3), torch.tensor([0, 1, 2, 0])
    lams = torch.tensor([mixup(x, y, alpha=0.2, num_classes=3)[2] for _ in range(2000)])
    assert abs(lams.mean().item() - 0.5) < 0.05  # Beta(a, a) is symmetric about 1/2
    assert (
        (lams < 0.1) | (lams > 0.9)
    ).float().mean() > 0.5  # small alpha: mostly near 0 or 1


def test_mixup_bad_inputs():
    x = torch.rand(4, 3)
    with pytest.raises(ValueError, match="alpha"):
        mixup(x, torch.tensor([0, 1, 2, 0]), alpha=0.0, num_classes=3)
    with pytest.raises(TypeError, match="integers"):
        mixup(x, torch.rand(4), num_classes=3)
    with pytest.raises(ValueError, match="labels must lie"):
        mixup(x, torch.tensor([0, 1, 5, 0]), num_classes=3)


def test_mixup_lambda_follows_its_generator():
    """Regression: lam came from the global RNG and ignored ``generator``."""
    x, y = torch.rand(6, 2), torch.tensor([0, 1, 2, 0, 1, 2])
    lams = []
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)  # must not matter
        g = torch.Generator().manual_seed(7)
        lams.append(mixup(x, y, alpha=1.0, num_classes=3, generator=g)[2])
    assert lams[0] == lams[1]
    other = mixup(
        x, y, alpha=1.0, num_classes=3, generator=torch.Generator().manual_seed(8)
    )
    assert other[2] != lams[0]
