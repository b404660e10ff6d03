"""Looking inside a trained image classifier (chapter 8).

Four gradient-based tools, each a few lines around one ``backward`` call:

- :func:`saliency`, the size of the class score's gradient at every pixel;
- :func:`grad_cam`, a layer's feature maps weighted by their average gradient;
- :func:`fgsm`, the fast gradient sign attack;
- :func:`maximize_activation`, gradient ascent on the input itself.

Images are batches of shape (N, C, H, W). The model is never modified; it is
put in eval mode for the computation and returned to its previous mode. The
four tools are written out in chapter 8 (cells tagged ``dlbook:interpret``);
the small checking helpers they call in one line live only here.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from dlbook import check

__all__ = [
    "saliency",
    "grad_cam",
    "fgsm",
    "maximize_activation",
    "check_images",
    "targets",
    "eval_mode",
    "capture",
    "check_labels",
    "check_ascent",
    "per_image",
]


def check_images(x: torch.Tensor, name: str = "x") -> torch.Tensor:
    """Check that ``x`` is a float batch of images (N, C, H, W)."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a batch of images (N, C, H, W), got {shape}")
    if not x.is_floating_point():
        raise ValueError(
            f"{name} must be a float tensor, got {x.dtype}; use dlbook.data.to_float"
        )
    return x


_check_images = check_images  # the old private name


def targets(target: torch.Tensor | int | None, logits: torch.Tensor) -> torch.Tensor:
    """Class index per image, (N,): the given one(s) or the predicted class."""
    n, k = logits.shape
    if target is None:
        return logits.argmax(1)
    if isinstance(target, bool) or not isinstance(target, (int, torch.Tensor)):
        raise TypeError(
            f"target must be an int, a tensor of class indices or None, got "
            f"{type(target).__name__}"
        )
    if isinstance(target, torch.Tensor) and target.is_floating_point():
        raise TypeError(f"target must hold class indices, got {target.dtype}")
    t = torch.as_tensor(target, device=logits.device).long().reshape(-1)
    if t.numel() == 1:
        t = t.expand(n)
    if t.shape != (n,):
        raise ValueError(
            f"target must be an int or have shape ({n},), got {tuple(t.shape)}"
        )
    if n and (t.min() < 0 or t.max() >= k):
        raise ValueError(f"target classes must lie in 0..{k - 1}")
    return t


_targets = targets


class eval_mode:  # noqa: N801 (used like a function: with eval_mode(model): ...)
    """Context manager: ``model`` in eval mode, its training flag restored
    afterwards."""

    def __init__(self, model: nn.Module) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        self.model, self.was_training = model, model.training

    def __enter__(self) -> nn.Module:
        self.model.eval()
        return self.model

    def __exit__(self, *exc) -> None:
        self.model.train(self.was_training)


_EvalMode = eval_mode


@contextlib.contextmanager
def capture(model: nn.Module, layer: nn.Module):
    """Record ``layer``'s output during a forward pass of ``model``: ``store["a"]``.

    On leaving, the hook is removed and the output checked to be feature maps
    (N, C, h, w).
    """
    if not isinstance(layer, nn.Module) or not any(m is layer for m in model.modules()):
        raise ValueError("layer must be a submodule of model")
    store: dict[str, torch.Tensor] = {}
    handle = layer.register_forward_hook(lambda m, i, out: store.update(a=out))
    try:
        yield store
    finally:
        handle.remove()
    a = store.get("a")
    if not isinstance(a, torch.Tensor) or a.ndim != 4:
        got = tuple(a.shape) if isinstance(a, torch.Tensor) else type(a).__name__
        raise ValueError(f"layer must output feature maps (N, C, h, w), got {got}")


def check_labels(y: torch.Tensor, x: torch.Tensor) -> None:
    """Check that ``y`` holds one integer label per image of ``x``."""
    check.tensor(y, "y", integer=True)
    if y.shape != (len(x),):
        raise ValueError(f"y must have shape ({len(x)},), got {tuple(y.shape)}")


def check_ascent(x0: torch.Tensor, steps: int, lr: float, l2: float) -> None:
    """Check the arguments of :func:`maximize_activation`."""
    check_images(x0, "x0")
    check.positive(steps, "steps", integer=True)
    check.positive(lr, "lr")
    check.number(l2, "l2", low=0)


def per_image(value: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Check that an objective returned one value per image, shape (N,)."""
    if not isinstance(value, torch.Tensor) or value.shape != (len(x),):
        got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value)
        raise ValueError(
            f"objective must return one value per image, shape ({len(x)},), got {got}"
        )
    return value


def saliency(model, x, target=None):
    """|d score / d x|, maximized over channels: (N, C, H, W) -> (N, H, W)."""
    check_images(x)
    with eval_mode(model):
        x = x.detach().clone().requires_grad_(True)
        logits = model(x)  # (N, K)
        score = logits.gather(1, targets(target, logits)[:, None]).sum()  # one backward
        (grad,) = torch.autograd.grad(score, x)  # for all: images do not interact
    return grad.abs().amax(dim=1)


def grad_cam(model, layer, x, target=None):
    """Grad-CAM of `layer` for the target class, upsampled to x: (N, H, W), peak 1."""
    check_images(x)
    with eval_mode(model), capture(model, layer) as store:
        logits = model(x.detach())  # store["a"]: the layer's maps (N, C', h, w)
    score = logits.gather(1, targets(target, logits)[:, None]).sum()
    (grad,) = torch.autograd.grad(score, store["a"])
    dtype = torch.promote_types(
        grad.dtype, torch.float32
    )  # float32 even under autocast
    grad, a = grad.to(dtype), store["a"].detach().to(dtype)
    alpha = grad.mean(dim=(2, 3), keepdim=True)  # (N, C', 1, 1): channel importance
    cam = F.relu((alpha * a).sum(dim=1, keepdim=True))  # (N, 1, h, w)
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear")[:, 0]  # (N, H, W)
    return cam / cam.flatten(1).amax(1).clamp_min(1e-12)[:, None, None]


def fgsm(model, x, y, eps, *, clamp=(0.0, 1.0), loss_fn=F.cross_entropy):
    """Fast gradient sign attack: x + eps * sign(d loss / d x), clipped to `clamp`."""
    check_images(x)
    check_labels(y, x)
    check.number(eps, "eps", low=0)
    with eval_mode(model):
        x0 = x.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(loss_fn(model(x0), y), x0)
    x_adv = x.detach() + eps * grad.sign()  # every pixel moves by eps, uphill
    return x_adv.clamp(*clamp) if clamp is not None else x_adv


def maximize_activation(objective, x0, *, steps=200, lr=0.05, l2=0.0, clamp=None):
    """Gradient ascent on the input: maximize objective(x) - l2 |x|^2 per image."""
    check_ascent(x0, steps, lr, l2)
    x = x0.detach().clone().requires_grad_(True)
    opt, trace = torch.optim.Adam([x], lr=lr), []
    for _ in range(steps):
        value = per_image(objective(x), x)  # (N,)
        loss = -(value - l2 * x.pow(2).flatten(1).sum(1)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if clamp is not None:
            with torch.no_grad():
                x.clamp_(*clamp)
        trace.append(float(value.detach().mean()))
    return x.detach(), trace
