"""The scalar autodiff engine against torch.autograd (float64), plus bad inputs."""

import math
import random

import pytest
import torch

from dlbook.engine import MLP, Layer, Neuron, Value, to_torch, topological_order

D = torch.float64


def _leaf(x: float) -> torch.Tensor:
    return torch.tensor(x, dtype=D, requires_grad=True)


def _close(a: float, b: float, rtol: float = 1e-6) -> bool:
    return abs(a - b) <= rtol * abs(b) + 1e-12


UNARY = {  # name -> (function usable on Value and tensor, a safe input range)
    "neg": (lambda u: -u, (-3, 3)),
    "exp": (lambda u: u.exp(), (-3, 3)),
    "log": (lambda u: u.log(), (0.1, 5)),
    "sqrt": (lambda u: u.sqrt(), (0.1, 5)),
    "tanh": (lambda u: u.tanh(), (-3, 3)),
    "sigmoid": (lambda u: u.sigmoid(), (-6, 6)),
    "relu": (lambda u: u.relu(), (-3, 3)),
    "sin": (lambda u: u.sin(), (-3, 3)),
    "cos": (lambda u: u.cos(), (-3, 3)),
    "pow2": (lambda u: u**2, (-3, 3)),
    "pow3": (lambda u: u**3, (-3, 3)),
    "pow-1": (lambda u: u**-1, (0.2, 3)),
    "pow0.5": (lambda u: u**0.5, (0.2, 3)),
    "pow-1.5": (lambda u: u**-1.5, (0.2, 3)),
}

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_ops_match_autograd(name):
    fn, (lo, hi) = UNARY[name]
    rng = random.Random(1)
    for _ in range(20):
        x0 = rng.uniform(lo, hi)
        x, xt = Value(x0), _leaf(x0)
        y, yt = fn(x), fn(xt)
        y.backward()
        yt.backward()
        assert _close(y.data, yt.item(), 1e-12), f"{name}({x0}) value"
        assert _close(x.grad, xt.grad.item(), 1e-10), (
            f"{name}'({x0}): {x.grad} vs {xt.grad.item()}"
        )


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_ops_match_autograd_with_constants_on_either_side(name):
    fn = BINARY[name]
    rng = random.Random(2)
    for _ in range(20):
        a0, b0, c = rng.uniform(0.5, 3), rng.uniform(-3, -0.5), rng.uniform(0.5, 2)
        a, b, at, bt = Value(a0), Value(b0), _leaf(a0), _leaf(b0)
        out = (
            fn(a, b) + fn(c, a) + fn(b, c)
        )  # Value op Value, number op Value, Value op number
        out_t = fn(at, bt) + fn(c, at) + fn(bt, c)
        out.backward()
        out_t.backward()
        assert _close(out.data, out_t.item(), 1e-12)
        assert _close(a.grad, at.grad.item()) and _close(b.grad, bt.grad.item())


def test_worked_examples():
    a, b = Value(2.0), Value(1.0)
    ((a + b) * (b + 1)).backward()
    assert (a.grad, b.grad) == (2.0, 5.0)
    x, y = Value(3.0), Value(2.0)
    f = y * x.log() + (y * x.log()).sqrt()
    f.backward()
    l3 = math.log(3)
    assert _close(x.grad, (2 + 1 / math.sqrt(2 * l3)) / 3, 1e-14)
    assert _close(y.grad, 0.5 * math.sqrt(l3 / 2) + l3, 1e-14)


def test_seed_3d_function_reproduces_the_printed_gradient():
    x, y, z = Value(3.3), Value(1.1), Value(2.3)
    u = y**2 + x / z
    f = (((u.exp() + (-u).exp()) / 2) + (x * y * z).tanh()).sin() / (1 + x.exp()).log()
    f.backward()
    assert [float(f"{g:.6g}") for g in (x.grad, y.grad, z.grad)] == [
        -0.285274,
        -1.01578,
        0.288027,
    ]


def test_a_node_used_twice_gets_the_sum_of_both_paths():
    x = Value(3.0)
    (x * x).backward()
    assert x.grad == 6.0
    x = Value(0.7)
    h = x.tanh()
    out = h * h + h  # h feeds three edges
    out.backward()
    assert _close(x.grad, (2 * math.tanh(0.7) + 1) * (1 - math.tanh(0.7) ** 2), 1e-14)


def test_leaf_gradients_accumulate_and_intermediates_do_not():
    a, b = Value(2.0), Value(1.0)
    c = a + b
    e = c * (b + 1)
    e.backward()
    e.backward()
    assert (a.grad, b.grad) == (4.0, 10.0), "leaves accumulate, like PyTorch"
    assert c.grad == 2.0, "an intermediate node holds d e / d c of the last pass only"


def test_deep_chain_beyond_the_recursion_limit():
    x0 = 0.3
    x, xt = Value(x0), _leaf(x0)
    v, vt = x, xt
    for i in range(3000):  # 6,000 nodes deep
        v = (v * 0.999 + 0.001 * (i % 7)).tanh()
        vt = (vt * 0.999 + 0.001 * (i % 7)).tanh()
    v.backward()
    vt.backward()
    assert len(topological_order(v)) > 6000
    assert _close(v.data, vt.item(), 1e-12) and _close(x.grad, xt.grad.item(), 1e-9)


def _random_program(rng: random.Random, n_inputs: int, n_ops: int):
    """A random DAG as a list of (kind, name, operand indices); operands may repeat."""
    prog = []
    for k in range(n_ops):
        n_avail = n_inputs + k
        if rng.random() < 0.5:
            prog.append(("u", rng.choice(sorted(UNARY)), (rng.randrange(n_avail),)))
        else:
            prog.append(
                (
                    "b",
                    rng.choice(sorted(BINARY)),
                    (rng.randrange(n_avail), rng.randrange(n_avail)),
                )
            )
    return prog


def _run(prog, leaves):
    nodes = list(leaves)
    for kind, name, idx in prog:
        if kind == "u":  # map each input into the op's safe range first
            u = nodes[idx[0]]
            lo, hi = UNARY[name][1]
            u = lo + (hi - lo) * u.sigmoid()
            nodes.append(UNARY[name][0](u))
        else:
            a, b = nodes[idx[0]], nodes[idx[1]]
            nodes.append(a / (b * b + 1) if name == "div" else BINARY[name](a, b))
    return sum(nodes[1:], nodes[0])  # every node, so every input matters


def test_random_expressions_match_autograd():
    rng = random.Random(123)
    for _ in range(60):
        prog = _random_program(rng, 3, rng.randint(3, 25))
        x0 = [rng.uniform(-2, 2) for _ in range(3)]
        xs, xts = [Value(v) for v in x0], [_leaf(v) for v in x0]
        out, out_t = _run(prog, xs), _run(prog, xts)
        out.backward()
        out_t.backward()
        assert _close(out.data, out_t.item(), 1e-10)
        for x, xt in zip(xs, xts):
            assert _close(x.grad, xt.grad.item()), (prog, x.grad, xt.grad.item())


def test_mlp_gradients_match_an_equal_torch_model():
    mlp = MLP(3, [5, 4, 1], activation="tanh", seed=3)
    net = to_torch(mlp)
    rng = random.Random(0)
    xs = [[rng.uniform(-1, 1) for _ in range(3)] for _ in range(6)]
    ts = [rng.choice([-1.0, 1.0]) for _ in range(6)]
    loss = sum(
        ((1 + (-t * mlp(x)).exp()).log() for x, t in zip(xs, ts)), Value(0.0)
    ) / len(xs)
    loss.backward()
    out_t = net(torch.tensor(xs, dtype=D)).squeeze(1)
    loss_t = torch.nn.functional.softplus(-torch.tensor(ts, dtype=D) * out_t).mean()
    loss_t.backward()
    assert _close(loss.data, loss_t.item(), 1e-12)
    grads_t = []
    for lin in [m for m in net if isinstance(m, torch.nn.Linear)]:
        for j in range(
            lin.out_features
        ):  # neuron by neuron: its weights, then its bias
            grads_t += [*lin.weight.grad[j].tolist(), lin.bias.grad[j].item()]
    grads = [p.grad for p in mlp.parameters()]
    assert len(grads) == len(grads_t) == sum(p.numel() for p in net.parameters())
    assert all(_close(g, gt, 1e-9) for g, gt in zip(grads, grads_t))


def test_mlp_relu_and_multi_output_shapes():
    mlp = MLP(2, [4, 3], activation="relu", seed=0)
    out = mlp([0.5, -0.2])
    assert isinstance(out, list) and len(out) == 3
    assert len(mlp.parameters()) == (2 + 1) * 4 + (4 + 1) * 3
    assert len(Layer(2, 4)([1.0, 2.0])) == 4
    assert (
        MLP(2, [3, 1], seed=1)([0.1, 0.2]).data
        == MLP(2, [3, 1], seed=1)([0.1, 0.2]).data
    )


def test_gradient_descent_on_the_engine_lowers_the_loss():
    mlp = MLP(2, [6, 1], seed=0)
    data = [
        ([0.0, 0.0], -1.0),
        ([1.0, 1.0], -1.0),
        ([0.0, 1.0], 1.0),
        ([1.0, 0.0], 1.0),
    ]

    def loss_fn():
        return sum(
            ((1 + (-t * mlp(x)).exp()).log() for x, t in data), Value(0.0)
        ) / len(data)

    first = loss_fn().data
    for _ in range(200):
        loss = loss_fn()
        mlp.zero_grad()
        loss.backward()
        for p in mlp.parameters():
            p.data -= 0.5 * p.grad
    assert loss_fn().data < 0.5 * first


@pytest.mark.parametrize("bad", ["3", None, [1.0], True, torch.tensor(1.0)])
def test_value_of_a_non_number_is_a_type_error(bad):
    with pytest.raises(TypeError, match="real number"):
        Value(bad)


def test_tensor_hint_and_operand_checks():
    with pytest.raises(TypeError, match=r"tensor\.item\(\)"):
        Value(torch.tensor(2.0))
    with pytest.raises(TypeError, match="other operand"):
        Value(1.0) + "2"
    with pytest.raises(TypeError, match="constant exponent"):
        Value(2.0) ** Value(3.0)
    with pytest.raises(ValueError, match="one local gradient per parent"):
        Value(1.0, parents=(Value(2.0),), local_grads=())


@pytest.mark.parametrize("x", [0.0, -1.5])
def test_log_of_a_non_positive_number_is_a_value_error(x):
    with pytest.raises(ValueError, match="log needs a positive input"):
        Value(x).log()


def test_other_domain_errors():
    with pytest.raises(ValueError, match="sqrt needs a non-negative"):
        Value(-1.0).sqrt()
    with pytest.raises(ValueError, match="negative base"):
        Value(-2.0) ** 0.5
    with pytest.raises(ZeroDivisionError):
        Value(1.0) / Value(0.0)
    with pytest.raises(ZeroDivisionError):
        Value(0.0) ** -1
    with pytest.raises(OverflowError, match="overflows"):
        Value(1000.0).exp()
    assert Value(0.0).sqrt().local_grads == (
        math.inf,
    )  # as torch: d sqrt(x)/dx at 0 is inf
    assert Value(1000.0).sigmoid().data == 1.0 and Value(-1000.0).sigmoid().data == 0.0


def test_bad_network_arguments():
    with pytest.raises(ValueError, match="unknown activation"):
        Neuron(2, activation="gelu")
    with pytest.raises(ValueError, match="n_in must be > 0"):
        Neuron(0)
    with pytest.raises(ValueError, match="takes 2 inputs"):
        Neuron(2)([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="sizes is empty"):
        MLP(2, [])


def test_power_zero_has_slope_zero_everywhere_even_at_zero():
    """Regression: d(x**0)/dx at x = 0 was inf; x**0 = 1 is constant, as in PyTorch."""
    for x0 in (0.0, 2.5, -3.0):
        x, xt = Value(x0), _leaf(x0)
        (x**0).backward()
        (xt**0).backward()
        assert x.grad == 0.0 == xt.grad.item()
    for p in (1, 2, 3.0, 0.5):  # the other exponents at 0 match PyTorch as well
        x, xt = Value(0.0), _leaf(0.0)
        (x**p).backward()
        (xt**p).backward()
        assert x.grad == xt.grad.item(), p


def test_to_torch_copies_the_network():
    mlp = MLP(2, [3, 1], activation="relu", seed=2)
    net = to_torch(mlp, dtype=torch.float32)
    assert net[0].weight.dtype == torch.float32
    x = [0.3, -0.7]
    assert abs(net(torch.tensor([x])).item() - mlp(x).data) < 1e-6
