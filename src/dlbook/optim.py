"""First-order optimizers written from scratch, and early stopping.

Chapter 4 ("Training deep networks") teaches these classes line by line. Each one is
a :class:`torch.optim.Optimizer` subclass, so it plugs into any training loop
(``opt.zero_grad(); loss.backward(); opt.step()``) and into PyTorch's
learning-rate schedulers. Each ``step()`` spells out the update equations of
the chapter, with the hyper-parameters named as there:

==============  =====================================  ===========================================
class           update (g = gradient, + wd * theta)      PyTorch equivalent
==============  =====================================  ===========================================
``SGD``         theta -= lr g                            ``SGD(lr)``
``Momentum``    v = beta v + g; theta -= lr v            ``SGD(lr, momentum=beta)``
``Nesterov``    v = beta v + g; theta -= lr (g + beta v) ``SGD(lr, momentum=beta, nesterov=True)``
``AdaGrad``     s += g^2; theta -= lr g / (sqrt(s)+eps)  ``Adagrad(lr, eps=eps)``
``RMSProp``     s = b2 s + (1-b2) g^2; ... same          ``RMSprop(lr, alpha=beta2, eps=eps)``
``Adam``        two moments, bias-corrected              ``Adam(lr, betas=(beta1, beta2), eps=eps)``
==============  =====================================  ===========================================

``weight_decay`` adds ``wd * theta`` to the gradient (an L2 penalty), exactly
as the PyTorch classes do. The state of every optimizer starts at zero.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

Params = Iterable[torch.Tensor] | Iterable[dict[str, Any]]


def _check(
    name: str,
    value: float,
    low: float,
    high: float = math.inf,
    *,
    open_high: bool = False,
) -> None:
    """Raise a ValueError that says which hyper-parameter is out of range."""
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or math.isnan(value)
    ):
        raise ValueError(f"{name} must be a number, got {value!r}")
    too_high = value >= high if open_high else value > high
    if value < low or too_high:
        bracket = ")" if open_high else "]"
        raise ValueError(f"{name} must lie in [{low}, {high}{bracket}, got {value}")


class _FromScratch(torch.optim.Optimizer):
    """Shared plumbing: argument checks, closure handling, the loop over parameters."""

    def __init__(self, params: Params, defaults: dict[str, Any]) -> None:
        _check("lr (the learning rate alpha)", defaults["lr"], 0.0)
        _check("weight_decay", defaults["weight_decay"], 0.0)
        super().__init__(params, defaults)

    def _gradients(self):
        """Yield ``(theta, g, group, state)`` for every parameter that has a gradient.

        ``g`` already includes the weight-decay term ``wd * theta``.
        """
        for group in self.param_groups:
            for theta in group["params"]:
                if theta.grad is None:
                    continue
                if theta.grad.is_sparse:
                    raise RuntimeError(
                        f"{type(self).__name__} does not support sparse gradients"
                    )
                g = theta.grad
                if group["weight_decay"] != 0:
                    g = g + group["weight_decay"] * theta
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
        for theta, g, group, state in self._gradients():
            self._update(theta, g, group, state)
        return loss

    def _update(
        self,
        theta: torch.Tensor,
        g: torch.Tensor,
        group: dict[str, Any],
        state: dict[str, Any],
    ) -> None:
        raise NotImplementedError


class SGD(_FromScratch):
    """Plain (stochastic) gradient descent: ``theta <- theta - lr * g``.

    Args:
        params: the parameters (or parameter groups) to optimize.
        lr: the learning rate alpha > 0.
        weight_decay: L2 penalty coefficient added to the gradient.
    """

    def __init__(self, params: Params, lr: float, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay))

    def _update(self, theta, g, group, state):
        theta.add_(g, alpha=-group["lr"])  # theta <- theta - lr g


class Momentum(_FromScratch):
    """Heavy-ball momentum: ``v <- beta v + g``, then ``theta <- theta - lr v``.

    Args:
        lr: the learning rate alpha > 0.
        beta: the momentum coefficient in [0, 1).
        weight_decay: L2 penalty coefficient added to the gradient.
    """

    def __init__(
        self, params: Params, lr: float, beta: float = 0.9, weight_decay: float = 0.0
    ) -> None:
        _check("beta (momentum)", beta, 0.0, 1.0, open_high=True)
        super().__init__(params, dict(lr=lr, beta=beta, weight_decay=weight_decay))

    def _update(self, theta, g, group, state):
        if not state:
            state["v"] = torch.zeros_like(theta)  # velocity, v^0 = 0
        v = state["v"]
        v.mul_(group["beta"]).add_(g)  # v <- beta v + g
        theta.add_(v, alpha=-group["lr"])  # theta <- theta - lr v


class Nesterov(Momentum):
    """Nesterov momentum: ``v <- beta v + g``, then ``theta <- theta - lr (g + beta v)``.

    The step uses the velocity *after* this update once more, i.e. it looks
    ahead along the direction the momentum is about to carry the parameters.

    Args:
        lr: the learning rate alpha > 0.
        beta: the momentum coefficient in [0, 1).
        weight_decay: L2 penalty coefficient added to the gradient.
    """

    def _update(self, theta, g, group, state):
        if not state:
            state["v"] = torch.zeros_like(theta)
        v = state["v"]
        v.mul_(group["beta"]).add_(g)  # v <- beta v + g
        theta.add_(
            g + group["beta"] * v, alpha=-group["lr"]
        )  # theta <- theta - lr (g + beta v)


class AdaGrad(_FromScratch):
    """AdaGrad: ``s <- s + g*g``, then ``theta <- theta - lr g / (sqrt(s) + eps)``.

    Every coordinate gets its own step size, which shrinks as squared
    gradients accumulate in ``s``.

    Args:
        lr: the learning rate alpha > 0.
        eps: added to the denominator for numerical safety.
        weight_decay: L2 penalty coefficient added to the gradient.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 0.01,
        eps: float = 1e-10,
        weight_decay: float = 0.0,
    ) -> None:
        _check("eps", eps, 0.0)
        super().__init__(params, dict(lr=lr, eps=eps, weight_decay=weight_decay))

    def _update(self, theta, g, group, state):
        if not state:
            state["s"] = torch.zeros_like(theta)  # sum of squared gradients
        s = state["s"]
        s.add_(g * g)  # s <- s + g (.) g
        theta.add_(g / (s.sqrt() + group["eps"]), alpha=-group["lr"])


class RMSProp(_FromScratch):
    """RMSProp: ``s <- beta2 s + (1 - beta2) g*g``, then ``theta <- theta - lr g / (sqrt(s) + eps)``.

    Like AdaGrad, but ``s`` is an exponential moving average, so old
    gradients are forgotten and the step size does not shrink forever.
    (PyTorch calls ``beta2`` ``alpha``.)

    Args:
        lr: the learning rate alpha > 0.
        beta2: the decay of the squared-gradient average, in [0, 1).
        eps: added to the denominator for numerical safety.
        weight_decay: L2 penalty coefficient added to the gradient.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 0.01,
        beta2: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        _check("beta2", beta2, 0.0, 1.0, open_high=True)
        _check("eps", eps, 0.0)
        super().__init__(
            params, dict(lr=lr, beta2=beta2, eps=eps, weight_decay=weight_decay)
        )

    def _update(self, theta, g, group, state):
        if not state:
            state["s"] = torch.zeros_like(theta)  # running mean of g (.) g
        s, beta2 = state["s"], group["beta2"]
        s.mul_(beta2).add_((1 - beta2) * g * g)  # s <- beta2 s + (1 - beta2) g (.) g
        theta.add_(g / (s.sqrt() + group["eps"]), alpha=-group["lr"])


class Adam(_FromScratch):
    """Adam: bias-corrected moving averages of ``g`` and ``g*g``.

    With ``k`` counting steps from 1::

        m1 <- beta1 m1 + (1 - beta1) g          m1_hat = m1 / (1 - beta1**k)
        m2 <- beta2 m2 + (1 - beta2) g*g        m2_hat = m2 / (1 - beta2**k)
        theta <- theta - lr m1_hat / (sqrt(m2_hat) + eps)

    With ``amsgrad=True`` the denominator uses the running maximum of ``m2``
    (Reddi et al., 2018), so the per-coordinate step size can never grow.

    Args:
        lr: the learning rate alpha > 0.
        beta1, beta2: decays of the first- and second-moment averages, in [0, 1).
        eps: added to the denominator for numerical safety.
        weight_decay: L2 penalty coefficient added to the gradient (not AdamW).
        amsgrad: use the AMSGrad variant.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        _check("beta1", beta1, 0.0, 1.0, open_high=True)
        _check("beta2", beta2, 0.0, 1.0, open_high=True)
        _check("eps", eps, 0.0)
        super().__init__(
            params,
            dict(
                lr=lr,
                beta1=beta1,
                beta2=beta2,
                eps=eps,
                weight_decay=weight_decay,
                amsgrad=bool(amsgrad),
            ),
        )

    def _update(self, theta, g, group, state):
        if not state:
            state["k"] = 0
            state["m1"] = torch.zeros_like(theta)  # first moment (mean of g)
            state["m2"] = torch.zeros_like(theta)  # second moment (mean of g (.) g)
            if group["amsgrad"]:
                state["m2_max"] = torch.zeros_like(theta)
        beta1, beta2 = group["beta1"], group["beta2"]
        state["k"] += 1
        k, m1, m2 = state["k"], state["m1"], state["m2"]
        m1.mul_(beta1).add_((1 - beta1) * g)
        m2.mul_(beta2).add_((1 - beta2) * g * g)
        if group["amsgrad"]:
            torch.maximum(state["m2_max"], m2, out=state["m2_max"])
            m2 = state["m2_max"]
        m1_hat = m1 / (1 - beta1**k)  # bias corrections: exact if g were constant
        m2_hat = m2 / (1 - beta2**k)
        theta.add_(m1_hat / (m2_hat.sqrt() + group["eps"]), alpha=-group["lr"])


OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "SGD": SGD,
    "Momentum": Momentum,
    "Nesterov": Nesterov,
    "AdaGrad": AdaGrad,
    "RMSProp": RMSProp,
    "Adam": Adam,
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
        _check("min_delta", min_delta, 0.0)
        if mode not in ("min", "max"):
            raise ValueError(
                f"mode must be 'min' (for a loss) or 'max' (for an accuracy), got {mode!r}"
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
        value = float(value)
        if math.isnan(value):
            raise ValueError(
                "the monitored metric is NaN: training has diverged; lower the learning rate"
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
        if self.best_state is None:
            raise RuntimeError(
                "nothing to restore: call step(metric, model) at least once first"
            )
        model.load_state_dict(self.best_state)
        return model
