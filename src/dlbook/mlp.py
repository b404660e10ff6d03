"""Multilayer perceptrons: activation functions, losses and an ``MLP`` builder.

Chapter 3 (``ch-mlp``) writes out the sigmoid, the softmax and its Jacobian,
the cross-entropy, the multi-class hinge and ``MLP`` in cells tagged
``dlbook:mlp``; the definitions here are the same text
(``python -m dlbook.export``). Later chapters import them. Every activation comes with
its derivative in
closed form (``DERIVATIVES``), and every function that PyTorch also provides
is checked against it in ``tests/test_mlp.py``:

===========================  ===============================================
here                         PyTorch
===========================  ===============================================
relu, leaky_relu, prelu      F.relu, F.leaky_relu, F.prelu
elu, softplus, sigmoid       F.elu, F.softplus, torch.sigmoid
softmax, softmax_jacobian    F.softmax, autograd's Jacobian of F.softmax
squared_error, absolute_err  F.mse_loss, F.l1_loss
cross_entropy                F.cross_entropy
multiclass_hinge (power 1,2) F.multi_margin_loss (p=1, 2)
logistic_loss                F.soft_margin_loss
===========================  ===============================================

The classification losses that PyTorch lacks (one-vs-all hinge and its
squared and cubed forms, expectation, Brier, Chebyshev, squared log,
Tanimoto, Cauchy-Schwarz) follow Janocha and Czarnecki's survey of losses
for classification, written so that every loss is >= 0 and is 0 for a
perfect prediction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dlbook import check
from dlbook.engine import add_to_class

# --- activation functions ----------------------------------------------------------


def identity(z: torch.Tensor) -> torch.Tensor:
    """The identity, f(z) = z (a linear unit)."""
    return check.tensor(z, "z")


def step(z: torch.Tensor) -> torch.Tensor:
    """The threshold unit: 1 where z >= 0, else 0. Its derivative is 0 almost
    everywhere."""
    return (check.tensor(z, "z") >= 0).to(z.dtype)


def sigmoid(z):
    """The logistic sigmoid 1 / (1 + exp(-z)), without overflow for any z."""
    e = torch.exp(-check.tensor(z, "z", floating=True).abs())  # in (0, 1]
    return torch.where(z >= 0, 1 / (1 + e), e / (1 + e))


def tanh(z: torch.Tensor) -> torch.Tensor:
    """The hyperbolic tangent, a sigmoid rescaled to (-1, 1): tanh(z) = 2 sigmoid(2z) -
    1."""
    return 2 * sigmoid(2 * check.tensor(z, "z", floating=True)) - 1


def arctan(z: torch.Tensor) -> torch.Tensor:
    """The inverse tangent, a sigmoid-shaped function with values in (-pi/2, pi/2) and
    heavy tails."""
    return torch.atan(check.tensor(z, "z", floating=True))


def relu(z: torch.Tensor) -> torch.Tensor:
    """The rectified linear unit max(0, z)."""
    return torch.where(check.tensor(z, "z") > 0, z, torch.zeros_like(z))


def leaky_relu(z: torch.Tensor, slope: float = 0.01) -> torch.Tensor:
    """max(z, slope * z) for 0 <= slope <= 1: a ReLU that keeps a small gradient for z <
    0."""
    check.probability(slope, "slope")
    return torch.where(check.tensor(z, "z") >= 0, z, slope * z)


def _prelu_alpha(z: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    check.tensor(z, "z", floating=True)
    if not isinstance(alpha, (torch.Tensor, int, float)) or isinstance(alpha, bool):
        raise TypeError(
            f"alpha must be a number or a tensor, got {type(alpha).__name__}"
        )
    alpha = torch.as_tensor(alpha, dtype=z.dtype, device=z.device)
    if alpha.ndim > 1:
        raise ValueError(
            f"PReLU slopes must be a number or a vector, got shape {tuple(alpha.shape)}"
        )
    if alpha.numel() > 1:  # one slope per channel, on dim 1 as in F.prelu
        if z.ndim < 2 or z.shape[1] != alpha.numel():
            raise ValueError(
                f"{alpha.numel()} PReLU slopes need inputs (N, {alpha.numel()}, ...); "
                f"got shape {tuple(z.shape)}"
            )
        alpha = alpha.reshape(1, -1, *([1] * (z.ndim - 2)))
    return alpha


def prelu(z: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """The parametric ReLU: z for z >= 0 and alpha * z below, with learned slope(s)
    alpha.

    Args:
        z: pre-activations (N, C, ...) or any shape when alpha is a number.
        alpha: one slope, or C slopes (one per unit or channel on dim 1).
    """
    return torch.where(z >= 0, z, _prelu_alpha(z, alpha) * z)


def elu(z: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """The exponential linear unit: z for z > 0 and alpha (exp(z) - 1) below."""
    check.number(alpha, "alpha", low=0)
    z = check.tensor(z, "z", floating=True)
    return torch.where(z > 0, z, alpha * torch.expm1(z.clamp_max(0)))


def softplus(z: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """log(1 + exp(beta z)) / beta, a smooth ReLU (equal to ReLU as beta -> infinity).

    Written as relu(z) + log1p(exp(-beta |z|)) / beta so that it never overflows.
    """
    check.positive(beta, "softplus's beta")
    check.tensor(z, "z", floating=True)
    return relu(z) + torch.log1p(torch.exp(-beta * z.abs())) / beta


def maxout(z: torch.Tensor, pieces: int) -> torch.Tensor:
    """Maxout: the maximum over groups of ``pieces`` consecutive entries of the last
    dimension.

    A maxout unit computes max_k (w_k^T x + b_k); a linear layer with
    ``units * pieces`` outputs followed by ``maxout(., pieces)`` gives ``units``
    such units. With pieces (z, 0) it is a ReLU, with (z, -z) the absolute value.

    Args:
        z: (..., units * pieces) pre-activations.
        pieces: the number of affine pieces per unit (>= 1).

    Returns:
        (..., units).
    """
    if not isinstance(pieces, int) or pieces < 1:
        raise ValueError(
            f"maxout needs a positive int number of pieces, got {pieces!r}"
        )
    check.tensor(z, "z")
    if z.ndim == 0 or z.shape[-1] % pieces:
        raise ValueError(
            f"the last dimension ({tuple(z.shape)}) must be a multiple of "
            f"pieces={pieces}"
        )
    return z.unflatten(-1, (z.shape[-1] // pieces, pieces)).amax(-1)


ACTIVATIONS: dict[str, Callable[..., torch.Tensor]] = {
    "identity": identity,
    "step": step,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "arctan": arctan,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "prelu": prelu,
    "elu": elu,
    "softplus": softplus,
}
"""Element-wise activations by name (maxout, which acts on groups, is separate)."""


def _d_elu(z: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    return torch.where(
        z > 0, torch.ones_like(z), elu(z, alpha) + alpha
    )  # f'(z) = f(z) + alpha below 0


DERIVATIVES: dict[str, Callable[..., torch.Tensor]] = {
    "identity": lambda z: torch.ones_like(z),
    "step": lambda z: torch.zeros_like(z),  # and undefined at 0
    "sigmoid": lambda z: sigmoid(z) * (1 - sigmoid(z)),  # f (1 - f)
    "tanh": lambda z: 1 - tanh(z) ** 2,  # 1 - f^2
    "arctan": lambda z: 1 / (1 + z**2),
    "relu": lambda z: (z > 0).to(z.dtype),
    "leaky_relu": lambda z, slope=0.01: torch.where(
        z >= 0, torch.ones_like(z), torch.full_like(z, slope)
    ),
    "prelu": lambda z, alpha: torch.where(
        z >= 0, torch.ones_like(z), _prelu_alpha(z, alpha).expand_as(z)
    ),
    "elu": _d_elu,
    "softplus": lambda z, beta=1.0: sigmoid(
        beta * z
    ),  # the derivative of softplus is the sigmoid
}
"""The closed-form derivative f'(z) of each activation, element-wise (same keyword
arguments)."""


def activation(name: str) -> Callable[..., torch.Tensor]:
    """The activation function called ``name`` (one of ``ACTIVATIONS``), with a helpful
    error."""
    if not isinstance(name, str):
        raise TypeError(f"an activation name must be a str, got {type(name).__name__}")
    if name not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)} (or "
            "'maxout')"
        )
    return ACTIVATIONS[name]


def derivative(name: str, z: torch.Tensor, **kwargs) -> torch.Tensor:
    """f'(z) of the activation ``name`` at every entry of ``z``, shape of ``z``.

    At a kink (z = 0 for the ReLU family) the derivative is undefined; the value
    returned there is a convention, as in every autodiff library.
    """
    activation(name)  # validates the name
    return DERIVATIVES[name](check.tensor(z, "z", floating=True), **kwargs)


# --- softmax --------------------------------------------------------------------------


def softmax(z, dim=-1):
    """exp(z_k) / sum_j exp(z_j) along `dim`; the maximum is subtracted first."""
    e = torch.exp(z - check.tensor(z, "z", floating=True).amax(dim, keepdim=True))
    return e / e.sum(dim, keepdim=True)


def softmax_jacobian(z):
    """ds/dz = diag(s) - s s^T over the last dimension: z (..., K) -> (..., K, K)."""
    s = softmax(check_logits(z))  # (..., K); check_logits() refuses a 0-d z
    return torch.diag_embed(s) - s[..., :, None] * s[..., None, :]


# --- losses ---------------------------------------------------------------------------


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> None:
    check.tensor(pred, "the prediction", floating=True)
    check.tensor(target, "the target")
    if pred.shape != target.shape:
        raise ValueError(
            f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} must "
            "have the same shape"
        )


def _check_labels(scores: torch.Tensor, labels: torch.Tensor) -> None:
    class_labels(scores, labels)


def class_labels(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Check scores (N, K) and labels (N,) in 0..K-1; return the labels as int64.

    ``gather``, ``scatter`` and ``one_hot`` need int64 indices on torch < 2.8,
    so int32 labels (accepted here) are converted.
    """
    check.tensor(scores, "scores", ndim=2, floating=True)
    check.tensor(labels, "labels", integer=True)
    if labels.shape != scores.shape[:1]:
        raise ValueError(
            f"labels must be N={scores.shape[0]} class indices, got shape "
            f"{tuple(labels.shape)}"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= scores.shape[1]):
        raise ValueError(f"labels must lie in 0..{scores.shape[1] - 1}")
    return labels if labels.dtype == torch.int64 else labels.long()


def check_logits(z: torch.Tensor) -> torch.Tensor:
    """``z`` if it is a floating tensor with at least one dimension (..., K)."""
    check.tensor(z, "z", floating=True)
    if z.ndim == 0:
        raise ValueError("softmax_jacobian needs logits with at least one dimension")
    return z


def _check_signs(scores: torch.Tensor, targets: torch.Tensor) -> None:
    _check_pair(scores, targets)
    if not ((targets == 1) | (targets == -1)).all():
        raise ValueError(
            "binary margin losses need targets in {-1, +1}; use 2 * y - 1 for labels "
            "y in {0, 1}"
        )


def squared_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean of (pred - target)^2 over all entries (as F.mse_loss). pred, target: same
    shape."""
    _check_pair(pred, target)
    return ((pred - target) ** 2).mean()


def absolute_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean of |pred - target| over all entries, the L1 loss (as F.l1_loss). pred,
    target: same shape."""
    _check_pair(pred, target)
    return (pred - target).abs().mean()


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


def one_vs_all_hinge(
    scores: torch.Tensor, labels: torch.Tensor, *, power: int = 1, margin: float = 1.0
) -> torch.Tensor:
    """One-vs-all hinge: mean over examples of sum_j max(0, margin - t_j s_j)^power,
    t = +1 for the label, else -1.

    power=2 gives the squared hinge, power=3 the cubed hinge.

    Args:
        scores: (N, K). labels: (N,) class indices.
    """
    _check_labels(scores, labels)
    check.positive(power, "power", integer=True)
    t = (
        2 * F.one_hot(labels.long(), scores.shape[1]).to(scores.dtype) - 1
    )  # (N, K) in {-1, +1}
    return ((margin - t * scores).clamp_min(0) ** power).sum(1).mean()


def binary_hinge(
    scores: torch.Tensor, targets: torch.Tensor, *, power: int = 1, margin: float = 1.0
) -> torch.Tensor:
    """Mean of max(0, margin - t s)^power for one score s (N,) per example and targets t
    (N,) in {-1, +1}."""
    _check_signs(scores, targets)
    return ((margin - targets * scores).clamp_min(0) ** power).mean()


def logistic_loss(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean of log(1 + exp(-t s)) for scores (N,) and targets (N,) in {-1, +1} (as
    F.soft_margin_loss)."""
    _check_signs(scores, targets)
    return softplus(-targets * scores).mean()


def _probs_onehot(
    scores: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    _check_labels(scores, labels)
    return softmax(scores, dim=1), F.one_hot(labels.long(), scores.shape[1]).to(
        scores.dtype
    )  # one_hot needs int64


def expectation_loss(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over examples of ||y - softmax(s)||_1 (y one-hot). scores (N, K), labels
    (N,)."""
    p, y = _probs_onehot(scores, labels)
    return (y - p).abs().sum(1).mean()


def brier_loss(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over examples of ||y - softmax(s)||_2^2, the "regularised expectation" or
    Brier score."""
    p, y = _probs_onehot(scores, labels)
    return ((y - p) ** 2).sum(1).mean()


def chebyshev_loss(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over examples of max_j |softmax(s)_j - y_j|. scores (N, K), labels (N,)."""
    p, y = _probs_onehot(scores, labels)
    return (p - y).abs().amax(1).mean()


def squared_log_loss(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over examples of (log softmax(s)_y)^2: the log loss squared."""
    labels = class_labels(scores, labels)  # int64 for gather
    log_p = scores - torch.logsumexp(scores, dim=1, keepdim=True)
    return (log_p.gather(1, labels[:, None]) ** 2).mean()


def tanimoto_loss(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over examples of 1 - <p, y> / (||p||^2 + ||y||^2 - <p, y>), p = softmax(s),
    y one-hot."""
    p, y = _probs_onehot(scores, labels)
    dot = (p * y).sum(1)
    return (1 - dot / ((p**2).sum(1) + (y**2).sum(1) - dot)).mean()


def cauchy_schwarz_loss(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over examples of -log(<p, y> / (||p|| ||y||)), the Cauchy-Schwarz divergence
    of p = softmax(s) and y."""
    p, y = _probs_onehot(scores, labels)
    return -torch.log((p * y).sum(1) / (p.norm(dim=1) * y.norm(dim=1))).mean()


CLASSIFICATION_LOSSES: dict[
    str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
] = {
    "cross-entropy": cross_entropy,
    "squared log": squared_log_loss,
    "expectation (L1)": expectation_loss,
    "Brier (squared L2)": brier_loss,
    "Chebyshev": chebyshev_loss,
    "Tanimoto": tanimoto_loss,
    "Cauchy-Schwarz": cauchy_schwarz_loss,
    "hinge (one-vs-all)": one_vs_all_hinge,
    "squared hinge": lambda s, y: one_vs_all_hinge(s, y, power=2),
    "cubed hinge": lambda s, y: one_vs_all_hinge(s, y, power=3),
    "multi-class hinge": multiclass_hinge,
}
"""Losses of (scores (N, K), labels (N,)) by name; each is >= 0 and 0 only for a perfect
prediction."""


# --- the network ----------------------------------------------------------------------


class Maxout(nn.Module):
    """Maxout over groups of ``pieces`` consecutive features: (N, units * pieces) -> (N,
    units)."""

    def __init__(self, pieces: int = 2) -> None:
        super().__init__()
        if not isinstance(pieces, int) or pieces < 1:
            raise ValueError(
                f"maxout needs a positive int number of pieces, got {pieces!r}"
            )
        self.pieces = pieces

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return maxout(z, self.pieces)

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}"


class Elementwise(nn.Module):
    """An element-wise function of ``ACTIVATIONS`` (without parameters) as a layer."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.fn = activation(name)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.fn(z)

    def extra_repr(self) -> str:
        return self.name


HIDDEN_ACTIVATIONS = (
    "identity",
    "sigmoid",
    "tanh",
    "arctan",
    "relu",
    "leaky_relu",
    "prelu",
    "elu",
    "softplus",
    "maxout",
)
"""The activations :class:`MLP` accepts between its layers (the step function has no
useful gradient)."""


def activation_layer(name: str, units: int) -> nn.Module:
    """PyTorch's module for the activation ``name`` after a layer of ``units`` units
    (PReLU: one slope per unit)."""
    modules: dict[str, Callable[[], nn.Module]] = {
        "identity": nn.Identity,
        "sigmoid": nn.Sigmoid,
        "tanh": nn.Tanh,
        "relu": nn.ReLU,
        "leaky_relu": nn.LeakyReLU,
        "elu": nn.ELU,
        "softplus": nn.Softplus,
        "prelu": lambda: nn.PReLU(units),
        "arctan": lambda: Elementwise("arctan"),
    }
    check.positive(units, "units", integer=True)
    if name == "step":
        raise ValueError(
            "the step function has derivative 0 almost everywhere, so gradient "
            "descent cannot train "
            "it; use 'sigmoid' (its smooth version) or 'relu'"
        )
    if name not in modules:
        raise ValueError(
            f"unknown activation {name!r}; choose one of "
            f"{', '.join(HIDDEN_ACTIVATIONS)}"
        )
    return modules[name]()


def _check_sizes(sizes: Sequence[int]) -> list[int]:
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise TypeError(f"sizes must be a list of ints, got {type(sizes).__name__}")
    sizes = list(sizes)
    if len(sizes) < 2 or not all(
        isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes
    ):
        raise ValueError(
            "sizes must list at least two positive ints (inputs, ..., outputs), "
            f"got {sizes!r}"
        )
    return sizes


def check_mlp(sizes: Sequence[int], activation: str, dropout: float) -> list[int]:
    """Check the arguments of :class:`MLP`; return ``sizes`` as a list."""
    sizes = _check_sizes(sizes)
    check.probability(dropout, "dropout", high_open=True)
    if activation not in HIDDEN_ACTIVATIONS:
        activation_layer(activation, 1)  # raises the helpful error
    return sizes


def hidden_layer(
    n_in: int, n_out: int, activation: str, maxout_pieces: int = 2
) -> list[nn.Module]:
    """A hidden layer of :class:`MLP`: ``[Linear, activation]`` (maxout: wider
    Linear)."""
    check.positive(n_in, "n_in", integer=True)
    check.positive(n_out, "n_out", integer=True)
    if activation == "maxout":
        check.positive(maxout_pieces, "maxout_pieces", integer=True)
        return [nn.Linear(n_in, n_out * maxout_pieces), Maxout(maxout_pieces)]
    return [nn.Linear(n_in, n_out), activation_layer(activation, n_out)]


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


def n_parameters(
    sizes: Sequence[int], activation: str = "relu", *, maxout_pieces: int = 2
) -> int:
    """The number of parameters of ``MLP(sizes, activation)``: sum over layers
    of (n_in + 1) n_out.

    Maxout layers have ``maxout_pieces`` times as many affine outputs; PReLU adds one
    slope per hidden unit.
    """
    sizes = check_mlp(sizes, activation, 0.0)
    check.positive(maxout_pieces, "maxout_pieces", integer=True)
    total = 0
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        hidden = i < len(sizes) - 2
        pieces = maxout_pieces if (hidden and activation == "maxout") else 1
        total += (n_in + 1) * n_out * pieces + (
            n_out if hidden and activation == "prelu" else 0
        )
    return total


@add_to_class(MLP)
def __getitem__(self, idx):  # net[a:b] is a plain nn.Sequential of those layers
    if isinstance(idx, slice):
        return nn.Sequential(*list(self)[idx])
    return nn.Sequential.__getitem__(self, idx)
