"""Looking inside a trained image classifier (chapter 8).

Four gradient-based tools, each a few lines around one ``backward`` call:

- :func:`saliency`, the size of the class score's gradient at every pixel;
- :func:`grad_cam`, a layer's feature maps weighted by their average gradient;
- :func:`fgsm`, the fast gradient sign attack;
- :func:`maximize_activation`, gradient ascent on the input itself.

Images are batches of shape (N, C, H, W). The model is never modified; it is
put in eval mode for the computation and returned to its previous mode.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["saliency", "grad_cam", "fgsm", "maximize_activation"]


def _check_images(x: torch.Tensor, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a batch of images (N, C, H, W), got {shape}")
    if not x.is_floating_point():
        raise ValueError(
            f"{name} must be a float tensor, got {x.dtype}; use dlbook.data.to_float"
        )


def _targets(target: torch.Tensor | int | None, logits: torch.Tensor) -> torch.Tensor:
    """Class index per image, (N,): the given one(s) or the predicted class."""
    n, k = logits.shape
    if target is None:
        return logits.argmax(1)
    t = torch.as_tensor(target, device=logits.device).long().reshape(-1)
    if t.numel() == 1:
        t = t.expand(n)
    if t.shape != (n,):
        raise ValueError(
            f"target must be an int or have shape ({n},), got {tuple(t.shape)}"
        )
    if t.min() < 0 or t.max() >= k:
        raise ValueError(f"target classes must lie in 0..{k - 1}")
    return t


class _EvalMode:
    """Context manager: the model in eval mode, restored afterwards."""

    def __init__(self, model: nn.Module) -> None:
        self.model, self.was_training = model, model.training

    def __enter__(self) -> nn.Module:
        self.model.eval()
        return self.model

    def __exit__(self, *exc) -> None:
        self.model.train(self.was_training)


def saliency(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor | int | None = None
) -> torch.Tensor:
    """Saliency map: |d score_target / d x|, maximised over channels.

    Args:
        model: maps (N, C, H, W) images to (N, K) class scores (logits).
        x: images (N, C, H, W), float.
        target: class per image (N,), one class for all, or ``None`` for the predicted class.

    Returns:
        (N, H, W) non-negative gradient magnitudes.
    """
    _check_images(x)
    with _EvalMode(model):
        x = x.detach().clone().requires_grad_(True)
        logits = model(x)
        t = _targets(target, logits)
        score = logits.gather(
            1, t[:, None]
        ).sum()  # images do not interact: one backward for all
        (grad,) = torch.autograd.grad(score, x)
    return grad.abs().amax(dim=1)


def grad_cam(
    model: nn.Module,
    layer: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor | int | None = None,
) -> torch.Tensor:
    """Grad-CAM heat map of ``layer`` for the target class, upsampled to the input size.

    The feature maps A (N, C', h, w) of ``layer`` are weighted by the spatial mean of
    d score / d A, summed over channels and passed through ReLU.

    Args:
        model: maps (N, C, H, W) images to (N, K) logits.
        layer: a submodule of ``model`` whose output is (N, C', h, w), usually the last conv block.
        x: images (N, C, H, W), float.
        target: class per image (N,), one class for all, or ``None`` for the predicted class.

    Returns:
        (N, H, W) maps (float32 or wider) scaled so that each image's maximum is 1 (all zeros stay zeros).
    """
    _check_images(x)
    if not any(m is layer for m in model.modules()):
        raise ValueError("layer must be a submodule of model")
    store: dict[str, torch.Tensor] = {}
    handle = layer.register_forward_hook(
        lambda mod, inp, out: store.__setitem__("a", out)
    )
    try:
        with _EvalMode(model):
            logits = model(x.detach())
    finally:
        handle.remove()
    a = store.get("a")
    if a is None or a.ndim != 4:
        raise ValueError(
            f"layer must output feature maps (N, C, h, w), got {None if a is None else tuple(a.shape)}"
        )
    t = _targets(target, logits)
    (grad,) = torch.autograd.grad(logits.gather(1, t[:, None]).sum(), a)
    dtype = torch.promote_types(
        a.dtype, torch.float32
    )  # at least float32, also under bfloat16 autocast
    grad, a = grad.to(dtype), a.detach().to(dtype)
    weights = grad.mean(
        dim=(2, 3), keepdim=True
    )  # (N, C', 1, 1): importance of each channel
    cam = F.relu((weights * a).sum(dim=1, keepdim=True))  # (N, 1, h, w)
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[
        :, 0
    ]
    peak = cam.flatten(1).amax(1).clamp_min(1e-12)[:, None, None]
    return (cam / peak).detach()


def fgsm(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    clamp: tuple[float, float] | None = (0.0, 1.0),
    loss_fn: Callable = F.cross_entropy,
) -> torch.Tensor:
    """Fast gradient sign method: x + eps * sign(d loss / d x), clipped to the valid range.

    Args:
        model: maps (N, C, H, W) images to (N, K) logits.
        x: clean images (N, C, H, W), float.
        y: true labels (N,).
        eps: the attack's size in the max-norm (each pixel moves by at most eps).
        clamp: valid pixel range, or ``None`` for no clipping.

    Returns:
        adversarial images (N, C, H, W), detached.
    """
    _check_images(x)
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    if y.shape != (len(x),):
        raise ValueError(f"y must have shape ({len(x)},), got {tuple(y.shape)}")
    with _EvalMode(model):
        x0 = x.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(loss_fn(model(x0), y), x0)
    x_adv = x.detach() + eps * grad.sign()
    return x_adv.clamp(*clamp) if clamp is not None else x_adv


def maximize_activation(
    objective: Callable[[torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    *,
    steps: int = 200,
    lr: float = 0.05,
    l2: float = 0.0,
    clamp: tuple[float, float] | None = None,
) -> tuple[torch.Tensor, list[float]]:
    """Gradient ascent on the input: maximise objective(x) - l2 * ||x||^2 per image.

    Args:
        objective: maps images (N, C, H, W) to one value per image (N,), e.g. a
            unit's mean activation or a class logit.
        x0: starting images (N, C, H, W), e.g. small noise.
        steps: number of Adam steps.
        lr: Adam's learning rate.
        l2: weight of the penalty that keeps the image from growing without bound.
        clamp: optional pixel range enforced after every step.

    Returns:
        the optimised images (N, C, H, W) and the mean objective after every step.
    """
    _check_images(x0, "x0")
    if steps < 1 or lr <= 0 or l2 < 0:
        raise ValueError(
            f"need steps >= 1, lr > 0 and l2 >= 0; got {steps}, {lr}, {l2}"
        )
    x = x0.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    trace: list[float] = []
    for _ in range(steps):
        value = objective(x)
        if value.shape != (len(x),):
            raise ValueError(
                f"objective must return one value per image, shape ({len(x)},), got {tuple(value.shape)}"
            )
        loss = -(value - l2 * x.pow(2).flatten(1).sum(1)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if clamp is not None:
            with torch.no_grad():
                x.clamp_(*clamp)
        trace.append(float(value.detach().mean()))
    return x.detach(), trace
