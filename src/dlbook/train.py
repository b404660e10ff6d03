"""A small, generic training loop with history, progress bar and checkpoints.

Chapters write their first training loops by hand; once that has been taught,
they call :func:`fit`. It trains for a number of epochs, records a
:class:`History` (loss and accuracy per epoch, examples per second, wall
time), shows a progress bar on stderr and, given a ``checkpoint`` path, saves
after every epoch and resumes from the file when it exists (so a Colab
disconnect costs at most one epoch).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dlbook.setup import amp_dtype, synchronize

PROGRESS_ENV = "DLBOOK_PROGRESS"


def progress_bar(total: int, desc: str = "", *, disable: bool = False) -> Any:
    """A tqdm bar: a widget in Jupyter when ipywidgets is installed, else stderr text.

    ``$DLBOOK_PROGRESS=0`` hides bars, ``=text`` forces the stderr text bar.
    """
    mode = os.environ.get(PROGRESS_ENV, "auto")
    disable = disable or mode == "0"
    if mode == "auto":
        try:
            import ipywidgets  # noqa: F401
            from IPython import get_ipython

            shell = get_ipython()
            if shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell":
                from tqdm.notebook import tqdm as widget_tqdm

                return widget_tqdm(total=total, desc=desc, disable=disable, leave=False)
        except ImportError:
            pass
    from tqdm.std import tqdm as text_tqdm

    return text_tqdm(
        total=total,
        desc=desc,
        disable=disable,
        leave=False,
        file=sys.stderr,
        mininterval=1.0,
        dynamic_ncols=True,
    )


@dataclass
class History:
    """What :func:`fit` records, one entry per epoch (``None`` where not measured)."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float | None] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    val_acc: list[float | None] = field(default_factory=list)
    examples_per_s: list[float] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, list]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, list]) -> "History":
        return cls(**{k: list(v) for k, v in d.items()})

    @property
    def total_s(self) -> float:
        """Training wall time over all epochs, in seconds."""
        return float(sum(self.wall_s))

    def __len__(self) -> int:
        return len(self.epoch)


def _accuracy_terms(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
    """Correct predictions (0-d tensor) for classification-like (out, y), else None."""
    if (
        out.ndim == 2
        and y.ndim == 1
        and not y.is_floating_point()
        and out.shape[0] == y.shape[0]
    ):
        return (out.argmax(1) == y).sum()
    if (
        out.ndim == 1
        and y.ndim == 1
        and out.shape == y.shape
        and out.is_floating_point()
    ):
        if y.is_floating_point() and not ((y == 0) | (y == 1)).all():
            return None  # regression targets
        return ((out > 0).long() == y.long()).sum()  # one logit per example
    return None


class Precision:
    """The book's one mixed-precision rule, for every loop that trains on a GPU.

    ``dtype`` is :func:`dlbook.setup.amp_dtype` of ``device`` when ``enabled``:
    bfloat16 on CUDA compute capability 8.0+, float16 on 7.x (Colab's T4),
    ``None`` (plain float32) on the CPU, Apple GPUs and older CUDA GPUs. For
    float16 a gradient scaler multiplies the loss before ``backward`` (float16
    flushes gradients below about 6e-8 to zero) and divides it out again
    before the step, skipping steps whose gradients overflowed.

    ``fit``, :func:`dlbook.gan.train_step` and
    :func:`dlbook.diffusion.train_denoiser` all train through this class::

        prec = Precision(device)
        with prec.autocast():
            loss = loss_fn(model(x), y)
        prec.step(loss, optimizer, clip=1.0, params=model.parameters())
    """

    def __init__(self, device: torch.device | str, enabled: bool = True) -> None:
        if not isinstance(enabled, bool):
            raise TypeError(f"enabled must be True or False, got {enabled!r}")
        self.device = torch.device(device)
        self.dtype = amp_dtype(self.device) if enabled else None
        fp16 = self.dtype is torch.float16
        self.scaler = torch.amp.GradScaler(
            self.device.type if fp16 else "cpu", enabled=fp16
        )

    def __repr__(self) -> str:
        dtype = str(self.dtype).replace("torch.", "") if self.dtype else "float32"
        scaled = " with a gradient scaler" if self.scaler.is_enabled() else ""
        return f"Precision({self.device.type}: {dtype}{scaled})"

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast to ``dtype`` on the device; a no-op for plain float32."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def step(
        self,
        loss: torch.Tensor,
        optimizer: torch.optim.Optimizer,
        *,
        clip: float | None = None,
        params: Iterable[torch.Tensor] | None = None,
        update: bool = True,
    ) -> None:
        """Backward pass of ``loss`` and one step of ``optimizer``.

        Args:
            loss: a scalar tensor.
            optimizer: its gradients are zeroed by the caller, as usual.
            clip: clip the global gradient norm of ``params`` to this value,
                measured on the true (unscaled) gradients.
            params: the parameters to clip (needed with ``clip``).
            update: update the loss scale after this step; pass ``False`` for
                all but the last optimizer of an iteration (e.g. a GAN's
                discriminator step before its generator step).
        """
        if clip is not None and params is None:
            raise ValueError("step(clip=...) needs params, e.g. model.parameters()")
        self.scaler.scale(loss).backward()
        if clip is not None:
            self.scaler.unscale_(optimizer)  # clip the true gradients
            nn.utils.clip_grad_norm_(params, clip)
        self.scaler.step(optimizer)
        if update:
            self.scaler.update()


def _autocast(device: torch.device, amp: bool) -> contextlib.AbstractContextManager:
    """Autocast as :class:`Precision` does (kept for older callers)."""
    return Precision(device, amp).autocast()


def grad_scaler(device: torch.device, amp: bool) -> torch.amp.GradScaler:
    """The gradient scaler :class:`Precision` uses: enabled only for float16."""
    return Precision(device, amp).scaler


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable,
    *,
    loss_fn: Callable = F.cross_entropy,
    device: torch.device | None = None,
    amp: bool = False,
) -> tuple[float, float | None]:
    """Mean loss and accuracy of ``model`` over ``batches`` of ``(x, y)``, in eval mode.

    Returns:
        ``(loss, accuracy)``; accuracy is ``None`` when the task is not classification.
    """
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    prec = Precision(device, amp)
    total, loss_sum, correct, counted = 0, 0.0, 0, True
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with prec.autocast():
            out = model(x)
        out = out.float()
        loss_sum = loss_sum + loss_fn(out, y).detach() * len(y)  # no sync per batch
        hits = _accuracy_terms(out, y)
        counted = counted and hits is not None
        correct = correct + (hits if hits is not None else 0)
        total += len(y)
    model.train(was_training)
    if total == 0:
        raise ValueError("evaluate() got no batches: is the data set empty?")
    return float(loss_sum) / total, (float(correct) / total if counted else None)


def save_checkpoint(
    path: str | os.PathLike,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    epoch: int,
    history: History | None = None,
    scheduler: Any = None,
    batches: Any = None,
) -> None:
    """Save everything needed to resume training exactly after ``epoch``.

    The file holds only tensors and plain Python containers, so it loads with
    ``torch.load(path, weights_only=True)``. It is written to a temporary file
    first and then renamed, so an interruption never leaves a half-written file.
    """
    state = {
        "epoch": int(epoch),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "history": history.as_dict() if history is not None else None,
        "batches": batches.state_dict() if hasattr(batches, "state_dict") else None,
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(
    path: str | os.PathLike,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    batches: Any = None,
    restore_rng: bool = True,
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Returns:
        The raw state; ``state["epoch"]`` is the last completed epoch.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    if (
        batches is not None
        and state["batches"] is not None
        and hasattr(batches, "load_state_dict")
    ):
        batches.load_state_dict(state["batches"])
    if restore_rng:
        torch.set_rng_state(state["rng_cpu"])
        if state["rng_cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng_cuda"])
    return state


def fit(
    model: nn.Module,
    train: Iterable,
    *,
    epochs: int,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable = F.cross_entropy,
    val: Iterable | None = None,
    scheduler: Any = None,
    scheduler_per: str = "batch",
    device: torch.device | None = None,
    amp: bool = False,
    grad_clip: float | None = None,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = True,
    desc: str = "train",
) -> History:
    """Train ``model`` for ``epochs`` passes over ``train``; return a :class:`History`.

    Args:
        model: the network; it is put in train mode for each epoch.
        train: re-iterable batches ``(x, y)``, e.g. :class:`dlbook.data.Batches`.
        epochs: total number of epochs (including any already in a checkpoint).
        optimizer: an optimizer over ``model``'s parameters.
        loss_fn: ``loss_fn(output, y)`` -> scalar; cross-entropy by default.
        val: optional batches evaluated after every epoch.
        scheduler: optional learning-rate scheduler.
        scheduler_per: call ``scheduler.step()`` every ``"batch"`` or every ``"epoch"``.
        device: where the model lives (default: its parameters' device).
        amp: mixed precision on CUDA: bfloat16, or float16 with a gradient scaler on
            compute capability 7.x, through :class:`Precision`; ignored elsewhere.
        grad_clip: clip the gradients' global norm to this value.
        checkpoint: file to save after every epoch and resume from if it exists.
        progress: show a progress bar on stderr.

    Returns:
        The :class:`History`, with resumed epochs included.
    """
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
    if scheduler_per not in ("batch", "epoch"):
        raise ValueError(
            f"scheduler_per must be 'batch' or 'epoch', got {scheduler_per!r}"
        )
    device = device or next(model.parameters()).device
    history, first = History(), 1
    if checkpoint is not None and Path(checkpoint).is_file():
        state = load_checkpoint(
            checkpoint,
            model=model,
            optimizer=optimizer,
            scheduler=scheduler,
            batches=train,
        )
        history = History.from_dict(state["history"]) if state["history"] else History()
        first = state["epoch"] + 1
    n_batches = len(train) if hasattr(train, "__len__") else 0
    prec = Precision(device, amp)
    for epoch in range(first, epochs + 1):
        model.train()
        t0, seen, loss_sum, correct, counted = time.perf_counter(), 0, 0.0, 0, True
        bar = progress_bar(n_batches, f"{desc} {epoch}/{epochs}", disable=not progress)
        for x, y in train:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with prec.autocast():
                out = model(x)
                loss = loss_fn(out, y)
            optimizer.zero_grad(set_to_none=True)
            prec.step(loss, optimizer, clip=grad_clip, params=model.parameters())
            if scheduler is not None and scheduler_per == "batch":
                scheduler.step()
            loss_sum += loss.detach().float() * len(
                y
            )  # stays on the device: no sync per step
            hits = _accuracy_terms(out.detach(), y)
            counted = counted and hits is not None
            correct = correct + (hits if hits is not None else 0)
            seen += len(y)
            bar.update(1)
        bar.close()
        if scheduler is not None and scheduler_per == "epoch":
            scheduler.step()
        if seen == 0:
            raise ValueError(
                "fit() got an empty epoch: the training batches yielded nothing"
            )
        synchronize(
            device
        )  # the GPU may still be working: wait before reading the clock
        wall = time.perf_counter() - t0
        history.epoch.append(epoch)
        history.train_loss.append(float(loss_sum) / seen)
        history.train_acc.append(float(correct) / seen if counted else None)
        history.examples_per_s.append(seen / wall)
        history.wall_s.append(wall)
        if val is not None:
            vl, va = evaluate(model, val, loss_fn=loss_fn, device=device, amp=amp)
        else:
            vl, va = None, None
        history.val_loss.append(vl)
        history.val_acc.append(va)
        if checkpoint is not None:
            save_checkpoint(
                checkpoint,
                model=model,
                optimizer=optimizer,
                epoch=epoch,
                history=history,
                scheduler=scheduler,
                batches=train,
            )
    return history
