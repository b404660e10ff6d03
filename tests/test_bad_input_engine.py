"""Bad input to every public function and class of dlbook.engine gets a clear error."""

import pytest
import torch

from dlbook import engine
from dlbook.engine import (
    MLP,
    Layer,
    Neuron,
    Value,
    add_to_class,
    as_float,
    constant,
    edges,
    exponent,
    nonzero,
    one_of,
    safe_exp,
    same_length,
    to_torch,
    topological_order,
)


@pytest.mark.parametrize("bad", ["1", None, True, [1.0], torch.tensor(1.0)])
def test_as_float_and_constant_refuse_non_numbers(bad):
    with pytest.raises(TypeError, match="real number"):
        as_float(bad, "x")
    with pytest.raises(TypeError, match="other operand"):
        constant(bad)
    with pytest.raises(TypeError, match="real number"):
        Value(bad)


def test_value_operations_refuse_bad_operands():
    x = Value(2.0)
    for op in (
        lambda: x + "a",
        lambda: x - None,
        lambda: x * [1],
        lambda: x / "2",
        lambda: "3" - x,
        lambda: None / x,
    ):
        with pytest.raises(TypeError, match="other operand"):
            op()
    with pytest.raises(TypeError, match="constant exponent"):
        x ** Value(2.0)
    with pytest.raises(TypeError, match="exponent"):
        x ** "2"
    with pytest.raises(TypeError, match="constant exponent"):
        exponent(Value(1.0))


def test_value_domain_errors():
    with pytest.raises(ZeroDivisionError):
        Value(1.0) / 0
    with pytest.raises(ZeroDivisionError):
        2.0 / Value(0.0)
    with pytest.raises(ZeroDivisionError):
        nonzero(0.0)
    with pytest.raises(ValueError, match="negative base"):
        Value(-1.0) ** 1.5
    with pytest.raises(ValueError, match="log needs a positive"):
        Value(0.0).log()
    with pytest.raises(ValueError, match="sqrt needs a non-negative"):
        Value(-0.1).sqrt()
    with pytest.raises(OverflowError, match="rescale"):
        safe_exp(1e4)


def test_edges_check_parents_and_local_gradients():
    with pytest.raises(ValueError, match="one local gradient per parent"):
        edges((Value(1.0), Value(2.0)), (1.0,))
    with pytest.raises(TypeError, match="a parent must be a Value"):
        edges((3.0,), (1.0,))
    with pytest.raises(TypeError, match="local gradient"):
        Value(1.0, parents=(Value(2.0),), local_grads=("x",))
    parents, grads = edges([Value(1.0)], [2])  # lists and ints are converted
    assert isinstance(parents, tuple) and grads == (2.0,)


def test_topological_order_and_backward_refuse_non_values():
    with pytest.raises(TypeError, match="root must be a Value"):
        topological_order(3.0)
    with pytest.raises(TypeError, match="seed gradient"):
        Value(1.0).backward("1")


def test_network_arguments():
    with pytest.raises(TypeError, match="integer"):
        Neuron(2.5)
    with pytest.raises(ValueError, match="n_in must be > 0"):
        Neuron(-1)
    with pytest.raises(ValueError, match="unknown activation"):
        Neuron(2, activation="softmax")
    with pytest.raises(ValueError, match="takes 2 inputs"):
        Neuron(2)([1.0])
    with pytest.raises(TypeError, match="list of numbers"):
        Neuron(2)(3.0)
    with pytest.raises(ValueError, match="n_out must be > 0"):
        Layer(2, 0)
    with pytest.raises(ValueError, match="sizes is empty"):
        MLP(2, [])
    with pytest.raises(TypeError, match="integer"):
        MLP(2, [3, "1"])
    with pytest.raises(TypeError, match="real number"):
        MLP(2, [3, 1])(["a", 1.0])


def test_helpers_one_of_same_length_add_to_class_and_to_torch():
    with pytest.raises(ValueError, match="choose one of"):
        one_of("x", ("a", "b"), "mode")
    assert one_of("a", ("a", "b"), "mode") == "a"
    with pytest.raises(ValueError, match="takes 3 inputs"):
        same_length([1.0], [0, 0, 0], "inputs")

    class Toy:
        pass

    @add_to_class(Toy)
    def twice(self, x):
        return 2 * x

    assert Toy().twice(3) == 6
    with pytest.raises(TypeError, match="engine MLP"):
        to_torch(torch.nn.Linear(2, 1))
    with pytest.raises(TypeError, match="floating torch.dtype"):
        to_torch(MLP(2, [1]), dtype=torch.int64)
    assert engine.ACTIVATIONS == ("tanh", "relu", "sigmoid", "linear")
