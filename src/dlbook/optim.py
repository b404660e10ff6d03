"""First-order optimizers written from scratch, and early stopping.

Chapter 4 (``ch-optimization``) writes every update rule out in its own cells
(tagged ``dlbook:optim``); this module holds the same text, so later chapters
import what the learner read. Each class is a :class:`torch.optim.Optimizer`
and plugs into any training loop (``opt.zero_grad(); loss.backward();
opt.step()``) and into PyTorch's learning-rate schedulers.

==============  =====================================  ===============================
class           update (g = gradient, + wd * theta)      PyTorch equivalent
==============  =====================================  ===============================
``SGD``         theta -= lr g                            ``SGD(lr)``
``Momentum``    v = beta v + g; theta -= lr v            ``SGD(lr, momentum=beta)``
``Nesterov``    v = beta v + g; theta -= lr (g + beta v) ``SGD(..., nesterov=True)``
``AdaGrad``     s += g^2; theta -= lr g / (sqrt(s)+eps)  ``Adagrad(lr, eps=eps)``
``RMSProp``     s = b2 s + (1-b2) g^2; ... same          ``RMSprop(lr, alpha=beta2)``
``AdaDelta``    RMS of past steps / RMS of gradients     ``Adadelta(lr, rho, eps)``
``Adam``        two moments, bias-corrected              ``Adam(lr, betas, eps)``
``AdamW``       Adam with decoupled weight decay         ``AdamW(lr, betas, eps, wd)``
==============  =====================================  ===============================

The shared base class :class:`FromScratch` does the bookkeeping the lesson
does not need: it checks every hyper-parameter (a clear ``ValueError`` or
``TypeError``), handles the closure, loops over the parameters that have a
gradient and, unless the class decouples it, adds ``weight_decay * theta`` to
the gradient (an L2 penalty, as the PyTorch classes do). A subclass writes
only ``update``. The state of every optimizer starts at zero.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from dlbook import check
from dlbook.engine import add_to_class

Params = Iterable[torch.Tensor] | Iterable[dict[str, Any]]

# hyper-parameters the base class checks, by name: (low, high, high_open)
_RANGES = {
    "lr": (0.0, math.inf, False),
    "weight_decay": (0.0, math.inf, False),
    "beta": (0.0, 1.0, True),
    "beta1": (0.0, 1.0, True),
    "beta2": (0.0, 1.0, True),
    "rho": (0.0, 1.0, True),
}


_KNOWN = set(_RANGES) | {"eps", "amsgrad"}


def _check_hyper(defaults: dict[str, Any], *, known_only: bool = False) -> None:
    """Raise a ValueError/TypeError naming the hyper-parameter that is out of range."""
    unknown = set(defaults) - _KNOWN
    if known_only and unknown:
        raise TypeError(
            f"unexpected hyper-parameter(s) {sorted(unknown)}; "
            f"this optimizer knows {sorted(k for k in _KNOWN)}"
        )
    for name, value in defaults.items():
        if name == "eps":
            check.positive(value, "eps (added to the denominator)")
        elif name == "amsgrad":
            if not isinstance(value, bool):
                raise TypeError(f"amsgrad must be True or False, got {value!r}")
        elif name in _RANGES:
            low, high, high_open = _RANGES[name]
            check.number(value, name, low=low, high=high, high_open=high_open)


class FromScratch(torch.optim.Optimizer):
    """The bookkeeping every from-scratch optimizer shares; subclasses write ``update``.

    ``update(theta, g, group, state)`` changes ``theta`` in place, given its
    gradient ``g`` (weight decay already added unless ``decoupled_decay``), the
    hyper-parameters of its group and its own (initially empty) state dict.
    """

    decoupled_decay = False  # AdamW sets True: weight decay is not added to g

    def __init__(self, params: Params, defaults: dict[str, Any]) -> None:
        _check_hyper(defaults, known_only=True)
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        _check_hyper({k: v for k, v in self.param_groups[-1].items() if k != "params"})

    def gradients(self):
        """Yield ``(theta, g, group, state)`` for every parameter with a gradient."""
        for group in self.param_groups:
            for theta in group["params"]:
                if theta.grad is None:
                    continue
                if theta.grad.is_sparse:
                    raise RuntimeError(
                        f"{type(self).__name__} does not support sparse gradients"
                    )
                g, wd = theta.grad, group.get("weight_decay", 0.0)
                if wd != 0 and not self.decoupled_decay:
                    g = g + wd * theta
                yield theta, g, group, self.state[theta]

    @torch.no_grad()
    def step(
        self, closure: Callable[[], torch.Tensor] | None = None
    ) -> torch.Tensor | None:
        """Update every parameter once; ``closure`` (optional) re-evaluates the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for theta, g, group, state in self.gradients():
            self.update(theta, g, group, state)
        return loss

    def update(self, theta, g, group, state) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define update()")


_FromScratch = FromScratch  # the name earlier versions used


class SGD(FromScratch):
    """Plain (stochastic) gradient descent: theta <- theta - lr g."""

    def __init__(self, params, lr, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay))

    def update(self, theta, g, group, state):
        theta.add_(g, alpha=-group["lr"])  # theta <- theta - lr g


class Momentum(FromScratch):
    """Heavy ball: v <- beta v + g, then theta <- theta - lr v."""

    def __init__(self, params, lr, beta=0.9, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, beta=beta, weight_decay=weight_decay))

    def update(self, theta, g, group, state):
        if not state:
            state["v"] = torch.zeros_like(theta)  # velocity, v_0 = 0
        v = state["v"]
        v.mul_(group["beta"]).add_(g)  # v <- beta v + g
        theta.add_(v, alpha=-group["lr"])  # theta <- theta - lr v


class Nesterov(Momentum):
    """Nesterov: v <- beta v + g, then theta <- theta - lr (g + beta v)."""

    def update(self, theta, g, group, state):
        if not state:
            state["v"] = torch.zeros_like(theta)
        v = state["v"]
        v.mul_(group["beta"]).add_(g)  # v <- beta v + g
        theta.add_(g + group["beta"] * v, alpha=-group["lr"])  # look ahead


class AdaGrad(FromScratch):
    """AdaGrad: s <- s + g*g, then theta <- theta - lr g / (sqrt(s) + eps)."""

    def __init__(self, params, lr=0.01, eps=1e-10, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, eps=eps, weight_decay=weight_decay))

    def update(self, theta, g, group, state):
        if not state:
            state["s"] = torch.zeros_like(theta)  # sum of g (.) g so far
        s = state["s"]
        s.add_(g * g)
        theta.add_(g / (s.sqrt() + group["eps"]), alpha=-group["lr"])


class RMSProp(FromScratch):
    """RMSProp: s <- b2 s + (1 - b2) g*g, then AdaGrad's step (PyTorch: alpha=b2)."""

    def __init__(self, params, lr=0.01, beta2=0.99, eps=1e-8, weight_decay=0.0):
        hyper = dict(lr=lr, beta2=beta2, eps=eps, weight_decay=weight_decay)
        super().__init__(params, hyper)

    def update(self, theta, g, group, state):
        if not state:
            state["s"] = torch.zeros_like(theta)  # running mean of g (.) g
        s, b2 = state["s"], group["beta2"]
        s.mul_(b2).add_((1 - b2) * g * g)
        theta.add_(g / (s.sqrt() + group["eps"]), alpha=-group["lr"])


class AdaDelta(FromScratch):
    """AdaDelta: the step is g times RMS(past steps) / RMS(gradients)."""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
        super().__init__(
            params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)
        )

    def update(self, theta, g, group, state):
        if not state:  # running means of g (.) g and of step (.) step
            state.update(s=torch.zeros_like(theta), d=torch.zeros_like(theta))
        s, d, rho, eps = state["s"], state["d"], group["rho"], group["eps"]
        s.mul_(rho).add_((1 - rho) * g * g)
        step = (d + eps).sqrt() / (s + eps).sqrt() * g  # in the units of theta
        d.mul_(rho).add_((1 - rho) * step * step)
        theta.add_(step, alpha=-group["lr"])


class Adam(FromScratch):
    """Adam: bias-corrected moving averages of g and g*g (AMSGrad optional)."""

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, **kw):
        hyper = dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps)
        super().__init__(params, hyper | dict(weight_decay=0.0, amsgrad=False) | kw)


@add_to_class(Adam)
def update(self, theta, g, group, state):
    if not state:  # step count and the two moments, all starting at 0
        state.update(k=0, m1=torch.zeros_like(theta), m2=torch.zeros_like(theta))
    b1, b2, m1, m2 = group["beta1"], group["beta2"], state["m1"], state["m2"]
    state["k"] += 1
    m1.mul_(b1).add_((1 - b1) * g)  # mean of g
    m2.mul_(b2).add_((1 - b2) * g * g)  # mean of g (.) g
    if group["amsgrad"]:  # divide by the largest m2 seen so far
        m2 = state["m2_max"] = torch.maximum(state.get("m2_max", m2), m2)
    k = state["k"]
    m1_hat, m2_hat = m1 / (1 - b1**k), m2 / (1 - b2**k)  # bias corrections
    theta.add_(m1_hat / (m2_hat.sqrt() + group["eps"]), alpha=-group["lr"])


class AdamW(Adam):
    """AdamW: shrink theta by (1 - lr wd), then an Adam step on the plain gradient."""

    decoupled_decay = True  # the base class does not add wd * theta to g

    def update(self, theta, g, group, state):
        theta.mul_(1 - group["lr"] * group["weight_decay"])  # decoupled decay
        super().update(theta, g, group, state)


OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "SGD": SGD,
    "Momentum": Momentum,
    "Nesterov": Nesterov,
    "AdaGrad": AdaGrad,
    "RMSProp": RMSProp,
    "AdaDelta": AdaDelta,
    "Adam": Adam,
    "AdamW": AdamW,
}
"""The from-scratch optimizers by name."""


class EarlyStopping:
    """Stop training when a validation metric has not improved for ``patience`` epochs.

    Call :meth:`step` once per epoch with the metric and the model. It keeps a
    copy of the weights of the best epoch; :meth:`restore` loads them back, so
    the model you keep is the best one seen, not the last one trained.

    Args:
        patience: how many epochs without improvement are tolerated (>= 1).
        min_delta: an improvement must beat the best value by more than this (>= 0).
        mode: ``"min"`` for a loss, ``"max"`` for an accuracy.

    Example::

        stopper = EarlyStopping(patience=5)
        for epoch in range(100):
            train_one_epoch(...)
            if stopper.step(val_loss, model):
                break
        stopper.restore(model)
    """

    def __init__(
        self, patience: int = 5, min_delta: float = 0.0, mode: str = "min"
    ) -> None:
        if not isinstance(patience, int) or isinstance(patience, bool) or patience < 1:
            raise ValueError(f"patience must be an int >= 1, got {patience!r}")
        check.number(min_delta, "min_delta", low=0.0)
        if mode not in ("min", "max"):
            raise ValueError(
                "mode must be 'min' (for a loss) or 'max' (for an accuracy), got "
                f"{mode!r}"
            )
        self.patience, self.min_delta, self.mode = patience, float(min_delta), mode
        self.best: float | None = None
        self.best_epoch: int | None = None  # 1-based index of the best call to step()
        self.best_state: dict[str, torch.Tensor] | None = None
        self.epochs_seen = 0
        self.bad_epochs = 0  # epochs since the last improvement
        self.stopped = False

    def _improves(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def step(self, value: float, model: nn.Module) -> bool:
        """Record this epoch's metric; return ``True`` when training should stop.

        Raises:
            ValueError: if the metric is NaN (training has diverged: stop and inspect).
            RuntimeError: if called again after it already said stop.
        """
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"the metric must be a number, got {type(value).__name__}")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(
                f"the monitored metric is {value}: training has diverged; "
                "lower the learning rate"
            )
        if self.stopped:
            raise RuntimeError(
                "EarlyStopping already said stop; create a new one to train again"
            )
        self.epochs_seen += 1
        if self._improves(value):
            self.best, self.best_epoch, self.bad_epochs = value, self.epochs_seen, 0
            self.best_state = copy.deepcopy(
                {k: v.detach() for k, v in model.state_dict().items()}
            )
        else:
            self.bad_epochs += 1
        self.stopped = self.bad_epochs >= self.patience
        return self.stopped

    def restore(self, model: nn.Module) -> nn.Module:
        """Load the best weights seen into ``model`` and return it."""
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        if self.best_state is None:
            raise RuntimeError(
                "nothing to restore: call step(metric, model) at least once first"
            )
        model.load_state_dict(self.best_state)
        return model
