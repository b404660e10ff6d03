"""Denoising diffusion: noise schedules, the forward process, the ε-loss and samplers.

Chapter 14 (diffusion models) writes the taught pieces out in its cells (the
forward process, the ε-loss, the DDPM and DDIM samplers, guidance and flow
matching); this module holds the same text for later use, plus the plumbing
(schedules, argument checks, the EMA and the training loop). The U-Net that
predicts the noise lives in :mod:`dlbook.unet`. Conventions: a schedule has
``T`` steps, and the tensor index ``i = 0 … T-1`` stands for the time
``t = i + 1`` of the lecture notation, so ``alpha_bars[i]`` is
ᾱ_{i+1} = Π_{s<=i+1} (1 - β_s). A noise model is called as ``model(x_t, i, y)``
with ``i`` an int64 tensor ``(B,)`` of indices and ``y`` class labels ``(B,)``
or ``None``; the class index ``num_classes`` means "no class" (classifier-free
guidance).
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlbook import check

EpsModel = Callable[..., torch.Tensor]


def linear_betas(T: int, beta_1: float = 1e-4, beta_T: float = 0.02) -> torch.Tensor:
    """Ho et al.'s linear schedule: β_t rises linearly from ``beta_1`` to ``beta_T``.

    Args:
        T: number of diffusion steps (>= 1).
        beta_1, beta_T: first and last noise variance, 0 < beta_1 <= beta_T < 1.

    Returns:
        ``(T,)`` float64 tensor of β_1 … β_T.
    """
    check.positive(T, "T", integer=True)
    check.number(beta_1, "beta_1")
    check.number(beta_T, "beta_T")
    if not 0 < beta_1 <= beta_T < 1:
        raise ValueError(
            f"need 0 < beta_1 <= beta_T < 1, got beta_1={beta_1}, beta_T={beta_T}"
        )
    return torch.linspace(beta_1, beta_T, T, dtype=torch.float64)


def cosine_alpha_bar(t: torch.Tensor, T: int, s: float = 0.008) -> torch.Tensor:
    """Nichol & Dhariwal's ᾱ(t) = f(t) / f(0), f(t) = cos²(π/2 · (t/T + s) / (1 + s)).

    Args:
        t: times, a tensor of any shape.
        T: number of steps (> 0).
        s: the offset (>= 0).
    """
    check.tensor(t, "t")
    check.positive(T, "T")
    check.number(s, "s", low=0)
    f = torch.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    return f / math.cos(s / (1 + s) * math.pi / 2) ** 2


def cosine_betas(T, s=0.008, max_beta=0.999):
    """The cosine schedule (T,) float64: β_t = 1 - ᾱ(t) / ᾱ(t-1), at most max_beta."""
    check.positive(T, "T", integer=True)
    check.number(max_beta, "max_beta", low=0, high=1, low_open=True, high_open=True)
    abar = cosine_alpha_bar(torch.arange(T + 1, dtype=torch.float64), T, s)  # (T+1,)
    return (1 - abar[1:] / abar[:-1]).clamp(max=max_beta)


@dataclass
class Schedule:
    """A noise schedule and the products the formulas need, all ``(T,)``.

    Attributes:
        betas: β_t.
        alphas: α_t = 1 - β_t.
        alpha_bars: ᾱ_t = Π_{s<=t} α_s.
    """

    betas: torch.Tensor
    alphas: torch.Tensor
    alpha_bars: torch.Tensor

    @classmethod
    def from_betas(cls, betas: torch.Tensor, dtype=torch.float32) -> Schedule:
        """Build the schedule from β_1 … β_T ``(T,)``, each in (0, 1).

        The products are formed in float64 and stored as ``dtype`` (float32 by
        default; float64 for checks at the numerical floor).
        """
        check.tensor(betas, "betas", ndim=1, floating=True)
        check.nonempty(betas, "betas")
        if not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError("every beta must lie strictly between 0 and 1")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or float64, got {dtype}")
        b = betas.double()
        alphas = 1 - b
        return cls(b.to(dtype), alphas.to(dtype), torch.cumprod(alphas, 0).to(dtype))

    @property
    def T(self) -> int:
        return len(self.betas)

    def to(self, device: torch.device | str) -> Schedule:
        """The same schedule with its tensors on ``device``."""
        if not isinstance(device, (str, torch.device)):
            raise TypeError(f"device must be a str or torch.device, got {device!r}")
        return Schedule(
            self.betas.to(device), self.alphas.to(device), self.alpha_bars.to(device)
        )


def check_times(t: torch.Tensor, sched: Schedule, batch: int) -> None:
    """Check time indices: an int64 tensor ``(batch,)`` with values in 0 … T-1.

    The range is read only for CPU tensors: on a GPU that would stall every
    training step.
    """
    check.tensor(t, "t")
    if not isinstance(sched, Schedule):
        raise TypeError(f"sched must be a diffusion.Schedule, got {type(sched)}")
    if t.dtype != torch.int64 or t.shape != (batch,):
        raise ValueError(
            f"t must be an int64 tensor of shape ({batch},), "
            f"got {t.dtype} {tuple(t.shape)}"
        )
    if (
        len(t)
        and t.device.type == "cpu"
        and (int(t.min()) < 0 or int(t.max()) >= sched.T)
    ):
        raise ValueError(
            f"time indices must lie in 0 … {sched.T - 1} (index i stands for t = i + 1)"
        )


def check_sampler(
    x_T: torch.Tensor,
    sched: Schedule,
    y: torch.Tensor | None,
    clip: float | None = None,
    eta: float = 0.0,
) -> None:
    """Check a sampler's arguments: starting noise ``(B, …)``, labels, clip and η."""
    check.tensor(x_T, "x_T", floating=True)
    if x_T.ndim < 2 or x_T.numel() == 0:
        raise ValueError(f"x_T must be (B, …) and nonempty, got {tuple(x_T.shape)}")
    if not isinstance(sched, Schedule):
        raise TypeError(f"sched must be a diffusion.Schedule, got {type(sched)}")
    if y is not None:
        check.tensor(y, "y", integer=True)
        check.shape(y, "y (one label per sample)", (len(x_T),))
    if clip is not None:
        check.positive(clip, "clip")
    check.number(eta, "eta", low=0)


def guided(model: EpsModel, w: float, null_class: int) -> EpsModel:
    """The guided model ``(x, t, y) -> ε̃`` of :func:`guided_eps`, for any sampler."""
    if not callable(model):
        raise TypeError(f"model must be callable, got {type(model).__name__}")
    check.number(w, "w", low=0)
    check.number(null_class, "null_class", low=0, integer=True)
    return functools.partial(guided_eps, model, w=w, null_class=null_class)


def bcast(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Reshape values ``(B,)`` to ``(B, 1, 1, …)`` to broadcast against ``x``."""
    return v.reshape(-1, *([1] * (x.ndim - 1)))


def q_sample(x0, t, sched, noise=None):
    """Draw x_t ~ q(x_t | x_0) in one step; t: int64 indices (B,) in 0 … T-1."""
    check_times(t, sched, len(check.tensor(x0, "x0", floating=True)))
    noise = torch.randn_like(x0) if noise is None else noise
    check.shape(noise, "noise", x0.shape)
    abar = bcast(sched.alpha_bars[t], x0)  # (B, 1, …)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


def check_even(n: int, name: str) -> int:
    """Check that ``n`` is an even int >= 2."""
    check.number(n, name, low=2, integer=True)
    if n % 2:
        raise ValueError(f"{name} must be even, got {n}")
    return n


def timestep_embedding(t, dim, max_period=10_000.0):
    """Sines and cosines of t at dim/2 geometric frequencies: (B,) -> (B, dim)."""
    check.tensor(t, "t", ndim=1)
    check_even(dim, "dim")
    half = dim // 2
    k = torch.arange(half, device=t.device, dtype=torch.float32)  # (half,)
    freqs = torch.exp(-math.log(max_period) * k / half)  # 1 … 1/max_period
    angles = t.float()[:, None] * freqs[None]  # (B, half)
    return torch.cat([angles.sin(), angles.cos()], 1)  # (B, dim)


class MLPDenoiser(nn.Module):
    """A noise model for points (B, dim): an MLP on [x, embedding(t)]."""

    def __init__(self, dim=2, hidden=128, depth=3, emb_dim=32):
        super().__init__()
        for name, v in (("dim", dim), ("hidden", hidden), ("depth", depth)):
            check.positive(v, name, integer=True)
        check_even(emb_dim, "emb_dim")
        self.emb_dim, width, layers = emb_dim, dim + emb_dim, []
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(hidden, dim))

    def forward(self, x, t, y=None):  # y: unused, for the samplers' interface
        emb = timestep_embedding(t, self.emb_dim)  # (B, emb_dim)
        return self.net(torch.cat([x, emb], 1))  # (B, dim): the predicted noise


def check_dropout(p_uncond: float, y: torch.Tensor | None, num_classes) -> None:
    """Check the label-dropout arguments of :func:`eps_loss`."""
    check.probability(p_uncond, "p_uncond", high_open=True)
    if y is not None:
        check.tensor(y, "y", integer=True)
    if p_uncond > 0 and (y is None or num_classes is None):
        raise ValueError("label dropout (p_uncond > 0) needs labels y and num_classes")


def eps_loss(
    model, x0, sched, y=None, *, p_uncond=0.0, num_classes=None, generator=None
):
    """Ho et al.'s ε-loss; with p_uncond, labels drop to the null class num_classes."""
    check_dropout(p_uncond, y, num_classes)
    B, dev = len(check.tensor(x0, "x0", floating=True)), x0.device
    t = torch.randint(0, sched.T, (B,), device=dev, generator=generator)  # (B,)
    eps = torch.randn(x0.shape, device=dev, generator=generator)  # (B, …)
    if p_uncond > 0:  # label dropout, for classifier-free guidance
        drop = torch.rand(B, device=dev, generator=generator) < p_uncond
        y = torch.where(drop, torch.full_like(y, num_classes), y)
    return F.mse_loss(model(q_sample(x0, t, sched, eps), t, y), eps)


def posterior(sched, i, x0, x):
    """Mean and variance of q(x_{t-1} | x_t = x, x_0) at index i (t = i + 1)."""
    check.number(i, "the time index i", low=0, high=sched.T - 1, integer=True)
    beta, alpha, abar = sched.betas[i], sched.alphas[i], sched.alpha_bars[i]
    ab_prev = sched.alpha_bars[i - 1] if i > 0 else abar.new_tensor(1.0)  # ᾱ_{t-1}
    mean = (ab_prev.sqrt() * beta * x0 + alpha.sqrt() * (1 - ab_prev) * x) / (1 - abar)
    return mean, beta * (1 - ab_prev) / (1 - abar)  # the variance β̃_t


def predict_x0(x, eps, abar, clip=None):
    """x̂_0 = (x_t - √(1-ᾱ) ε) / √ᾱ, clamped to [-clip, clip] when clip is given."""
    x0 = (x - (1 - abar).sqrt() * eps) / abar.sqrt()
    return x0 if clip is None else x0.clamp(-check.positive(clip, "clip"), clip)


def guided_eps(model, x, t, y, w, null_class):
    """Classifier-free guidance: (1 + w) ε(x, t, y) - w ε(x, t, ∅); plain if w = 0."""
    if w == 0 or y is None:
        return model(x, t, y)
    null = check.number(null_class, "null_class", low=0, integer=True)
    y2 = torch.cat([y, torch.full_like(y, null)])  # (2B,): labels, then ∅
    both = model(torch.cat([x, x]), torch.cat([t, t]), y2).to(x.dtype)  # (2B, …)
    cond, uncond = both.chunk(2)  # combined in x's float32: w amplifies bf16 rounding
    return (1 + w) * cond - w * uncond


@torch.no_grad()
def ddpm_sample(model, x_T, sched, *, y=None, clip=None, generator=None, keep=()):
    """Ancestral sampling from the noise x_T: x_0 and {i: x_t for i in keep}."""
    check_sampler(x_T, sched, y, clip)
    x, kept = x_T, {}
    for i in reversed(range(sched.T)):
        if i in keep:
            kept[i] = x.clone()
        t = torch.full((len(x),), i, device=x.device)  # (B,) int64
        eps = model(x, t, y).to(x.dtype)  # (B, …), float32 under autocast
        x0 = predict_x0(x, eps, sched.alpha_bars[i], clip)
        mean, var = posterior(sched, i, x0, x)  # sample q(x_{t-1} | x_t, x̂_0)
        z = torch.randn(x.shape, device=x.device, generator=generator) if i else 0.0
        x = mean + var.sqrt() * z
    return x, kept


def ddim_times(T: int, steps: int) -> list[int]:
    """``steps`` evenly spaced time indices from T-1 down to 0 (DDIM's sub-sequence)."""
    check.positive(T, "T", integer=True)
    check.number(steps, "steps", low=1, high=T, integer=True)
    return sorted(
        {round(v) for v in torch.linspace(T - 1, 0, steps).tolist()}, reverse=True
    )


def ddim_step(x0, eps, abar, ab_next, eta=0.0, z=None):
    """One DDIM jump from ᾱ to ᾱ' = ab_next: √ᾱ' x̂_0 + √(1-ᾱ'-σ²) ε + σ z."""
    sigma = eta * ((1 - ab_next) / (1 - abar)).sqrt() * (1 - abar / ab_next).sqrt()
    x = ab_next.sqrt() * x0 + (1 - ab_next - sigma**2).clamp(min=0).sqrt() * eps
    return x if z is None else x + sigma * z


@torch.no_grad()
def ddim_sample(
    model, x_T, sched, *, steps=50, eta=0.0, y=None, clip=None, generator=None
):
    """DDIM from the noise x_T on `steps` evenly spaced times (eta = 0: no noise)."""
    check_sampler(x_T, sched, y, clip, eta)
    x, times, dev = x_T, ddim_times(sched.T, steps), x_T.device
    abars = torch.cat([sched.alpha_bars[times], sched.alpha_bars.new_ones(1)])
    for k, i in enumerate(times):  # abars[k + 1]: ᾱ of the next time (1 at the end)
        t = torch.full((len(x),), i, device=dev)  # (B,) int64
        eps = model(x, t, y).to(x.dtype)  # float32 under autocast
        x0 = predict_x0(x, eps, abars[k], clip)
        if clip is not None:  # the noise that matches the clamped x̂_0
            eps = (x - abars[k].sqrt() * x0) / (1 - abars[k]).sqrt()
        noisy = eta > 0 and k + 1 < len(times)  # no fresh noise at the last step
        z = torch.randn(x.shape, device=dev, generator=generator) if noisy else None
        x = ddim_step(x0, eps, abars[k], abars[k + 1], eta, z)
    return x


def fm_loss(model, x0, generator=None):
    """Rectified flow: regress v(x_s, s) on ε - x_0 along x_s = (1 - s) x_0 + s ε."""
    check.tensor(x0, "x0", floating=True)
    s = torch.rand(len(x0), device=x0.device, generator=generator)  # (B,) in [0, 1)
    eps = torch.randn(x0.shape, device=x0.device, generator=generator)  # (B, …)
    x_s = (1 - bcast(s, x0)) * x0 + bcast(s, x0) * eps  # a point on the straight path
    return F.mse_loss(model(x_s, 1000 * s, None), eps - x0)  # time scaled as t


@torch.no_grad()
def fm_sample(model, x_T, steps):
    """Euler steps of dx/ds = v(x, s) from s = 1 (the noise x_T) down to s = 0."""
    check.tensor(x_T, "x_T", floating=True)
    x, ds = x_T, 1.0 / check.positive(steps, "steps", integer=True)
    for k in range(steps, 0, -1):
        s = torch.full((len(x),), k * ds, device=x.device)  # (B,)
        x = x - ds * model(x, 1000 * s, None)  # one Euler step towards s = 0
    return x


class EMA:
    """An exponential moving average of a model's weights: θ̄ ← d θ̄ + (1 - d) θ.

    ``ema.model`` is a frozen copy to sample from; call ``ema.update(model)``
    after every optimizer step. The update is one fused ``_foreach`` call over
    all parameters, not one kernel launch per parameter.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        self.decay = check.probability(decay, "decay", high_open=True)
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        avg, new = list(self.model.parameters()), list(model.parameters())
        if len(avg) != len(new):
            raise ValueError("update(model) needs the model this EMA was made from")
        if avg:
            torch._foreach_lerp_(avg, [p.detach() for p in new], 1 - self.decay)
        for a, b in zip(self.model.buffers(), model.buffers(), strict=True):
            a.copy_(b)


def train_denoiser(
    model: nn.Module,
    x: torch.Tensor,
    sched: Schedule | None,
    *,
    y: torch.Tensor | None = None,
    steps: int,
    batch_size: int = 128,
    lr: float = 2e-3,
    warmup: int = 100,
    p_uncond: float = 0.0,
    num_classes: int | None = None,
    ema_decay: float = 0.999,
    seed: int = 0,
    amp: bool = False,
    progress: bool = True,
    loss_fn: Callable[..., torch.Tensor] | None = None,
) -> tuple[nn.Module, list[float]]:
    """Train a model with the ε-loss or ``loss_fn``: AdamW, warm-up, cosine decay, EMA.

    Args:
        model: the noise model (on the device of ``x``).
        x: training data ``(N, …)`` scaled to about [-1, 1], on the training device.
        sched: the schedule (same device); ``None`` only with ``loss_fn``.
        y: labels ``(N,)`` for a conditional model.
        steps: optimizer steps; each draws a random batch of ``batch_size``.
        lr, warmup: peak learning rate and its linear warm-up length.
        p_uncond, num_classes: label dropout for classifier-free guidance.
        ema_decay: decay of the weight average that is returned.
        seed: seeds the batches, times and noise.
        amp: mixed precision by the book's one rule, :class:`dlbook.train.Precision`
            (bfloat16 on compute capability 8+, float16 with a gradient scaler
            on 7.x, float32 elsewhere).
        progress: show a progress bar (on stderr).
        loss_fn: another objective, called as ``loss_fn(model, x0, y, generator)``
            on each batch (``y`` is ``None`` without labels), e.g. a wrapper of
            :func:`fm_loss` for flow matching; ``None``: :func:`eps_loss` with
            the label dropout above (which a custom loss must not ask for).

    Returns:
        The EMA model (eval mode) and the loss of every step.
    """
    from dlbook.train import Precision, progress_bar

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    check.tensor(x, "x", floating=True)
    check.nonempty(x, "x")
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    if loss_fn is not None and p_uncond > 0:
        raise ValueError("p_uncond is the ε-loss's label dropout; with loss_fn use 0")
    if loss_fn is None and not isinstance(sched, Schedule):
        raise TypeError(f"sched must be a diffusion.Schedule, got {type(sched)}")
    check.positive(steps, "steps", integer=True)
    check.positive(batch_size, "batch_size", integer=True)
    check.positive(lr, "lr")
    check.number(warmup, "warmup", low=0, integer=True)
    check.number(ema_decay, "ema_decay", low=0, high=1, high_open=True)
    check_dropout(p_uncond, y, num_classes)
    if y is not None and len(y) != len(x):
        raise ValueError(
            f"y needs one label per example: {len(y)} labels for {len(x)} examples"
        )
    dev = x.device
    g = torch.Generator(device=dev).manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    warm = max(1, min(warmup, steps // 2))
    sched_lr = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: (
            min(1.0, (s + 1) / warm)
            * 0.5
            * (1 + math.cos(math.pi * min(1.0, s / steps)))
        ),
    )
    ema, prec = EMA(model, ema_decay), Precision(dev, amp)
    losses = []
    model.train()
    bar = progress_bar(steps, "denoiser", disable=not progress)  # DLBOOK_PROGRESS=0
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch_size,), device=dev, generator=g)
        y_b = None if y is None else y[idx]
        with prec.autocast():
            if loss_fn is not None:
                loss = loss_fn(model, x[idx], y_b, g)
            else:
                loss = eps_loss(
                    model,
                    x[idx],
                    sched,
                    y_b,
                    p_uncond=p_uncond,
                    num_classes=num_classes,
                    generator=g,
                )
        opt.zero_grad(set_to_none=True)
        prec.step(loss, opt)
        sched_lr.step()
        ema.update(model)
        losses.append(loss.detach().float())  # on the device: no sync per step
        bar.update(1)
    bar.close()
    model.eval()
    return ema.model, torch.stack(losses).tolist()
