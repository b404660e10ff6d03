"""Denoising diffusion: noise schedules, the forward process, the ε-loss and samplers.

Chapter 14 (diffusion models) teaches these pieces; the U-Net that predicts
the noise lives in :mod:`dlbook.unet`. Conventions: a schedule has ``T``
steps, and the tensor index ``i = 0 … T-1`` stands for the time ``t = i + 1``
of the lecture notation, so ``alpha_bars[i]`` is ᾱ_{i+1} = Π_{s<=i+1} (1 - β_s).
A noise model is called as ``model(x_t, i, y)`` with ``i`` an int64 tensor
``(B,)`` of indices and ``y`` class labels ``(B,)`` or ``None``; the class
index ``num_classes`` means "no class" (classifier-free guidance).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlbook.setup import native_bf16

EpsModel = Callable[..., torch.Tensor]


def linear_betas(T: int, beta_1: float = 1e-4, beta_T: float = 0.02) -> torch.Tensor:
    """Ho et al.'s linear schedule: β_t rises linearly from ``beta_1`` to ``beta_T``.

    Args:
        T: number of diffusion steps (>= 1).
        beta_1, beta_T: first and last noise variance, 0 < beta_1 <= beta_T < 1.

    Returns:
        ``(T,)`` float64 tensor of β_1 … β_T.
    """
    if not isinstance(T, int) or T < 1:
        raise ValueError(f"T must be a positive int, got {T!r}")
    if not 0 < beta_1 <= beta_T < 1:
        raise ValueError(
            f"need 0 < beta_1 <= beta_T < 1, got beta_1={beta_1}, beta_T={beta_T}"
        )
    return torch.linspace(beta_1, beta_T, T, dtype=torch.float64)


def cosine_alpha_bar(t: torch.Tensor, T: int, s: float = 0.008) -> torch.Tensor:
    """Nichol & Dhariwal's ᾱ(t) = f(t) / f(0) with f(t) = cos²(π/2 · (t/T + s) / (1 + s)); ``t`` any shape."""
    f = torch.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    return f / math.cos(s / (1 + s) * math.pi / 2) ** 2


def cosine_betas(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """The cosine schedule: β_t = 1 - ᾱ(t) / ᾱ(t-1), clipped at ``max_beta``.

    Args:
        T: number of diffusion steps (>= 1).
        s: small offset that keeps β_1 from being vanishingly small.
        max_beta: upper clip that avoids a singular last step.

    Returns:
        ``(T,)`` float64 tensor of β_1 … β_T.
    """
    if not isinstance(T, int) or T < 1:
        raise ValueError(f"T must be a positive int, got {T!r}")
    t = torch.arange(T + 1, dtype=torch.float64)
    abar = cosine_alpha_bar(t, T, s)
    return (1 - abar[1:] / abar[:-1]).clamp(max=max_beta)


@dataclass
class Schedule:
    """A noise schedule and the products the formulas need, all ``(T,)`` float32.

    Attributes:
        betas: β_t.
        alphas: α_t = 1 - β_t.
        alpha_bars: ᾱ_t = Π_{s<=t} α_s.
    """

    betas: torch.Tensor
    alphas: torch.Tensor
    alpha_bars: torch.Tensor

    @classmethod
    def from_betas(cls, betas: torch.Tensor) -> Schedule:
        """Build the schedule from β_1 … β_T ``(T,)``, each in (0, 1)."""
        if betas.ndim != 1 or len(betas) < 1:
            raise ValueError(
                f"betas must be a 1-D tensor (T,), got shape {tuple(betas.shape)}"
            )
        if not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError("every beta must lie strictly between 0 and 1")
        b = betas.double()
        alphas = 1 - b
        return cls(b.float(), alphas.float(), torch.cumprod(alphas, 0).float())

    @property
    def T(self) -> int:
        return len(self.betas)

    def to(self, device: torch.device | str) -> Schedule:
        """The same schedule with its tensors on ``device``."""
        return Schedule(
            self.betas.to(device), self.alphas.to(device), self.alpha_bars.to(device)
        )


def _check_index(t: torch.Tensor, sched: Schedule, batch: int) -> None:
    if t.dtype != torch.int64 or t.shape != (batch,):
        raise ValueError(
            f"t must be an int64 tensor of shape ({batch},), got {t.dtype} {tuple(t.shape)}"
        )
    # The range check reads t on the host: on a GPU that would stall every training step.
    if (
        len(t)
        and t.device.type == "cpu"
        and (int(t.min()) < 0 or int(t.max()) >= sched.T)
    ):
        raise ValueError(
            f"time indices must lie in 0 … {sched.T - 1} (index i stands for t = i + 1)"
        )


def _bcast(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return v.reshape(-1, *([1] * (x.ndim - 1)))  # (B,) -> (B, 1, 1, …)


def q_sample(
    x0: torch.Tensor,
    t: torch.Tensor,
    sched: Schedule,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Draw x_t ~ q(x_t | x_0) = N(√ᾱ_t x_0, (1 - ᾱ_t) I) in one step.

    Args:
        x0: clean data ``(B, …)``.
        t: int64 time indices ``(B,)`` in 0 … T-1.
        sched: the noise schedule (on x0's device).
        noise: the standard normal ε ``(B, …)``; drawn when ``None``.

    Returns:
        x_t ``(B, …)``.
    """
    _check_index(t, sched, len(x0))
    if noise is None:
        noise = torch.randn_like(x0)
    elif noise.shape != x0.shape:
        raise ValueError(
            f"noise must have x0's shape {tuple(x0.shape)}, got {tuple(noise.shape)}"
        )
    abar = _bcast(sched.alpha_bars[t], x0)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


def eps_loss(
    model: EpsModel,
    x0: torch.Tensor,
    sched: Schedule,
    y: torch.Tensor | None = None,
    *,
    p_uncond: float = 0.0,
    num_classes: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Ho et al.'s simplified objective E_{t, ε} |ε - ε_θ(√ᾱ_t x_0 + √(1-ᾱ_t) ε, t)|².

    Args:
        model: the noise model, ``model(x_t, t, y) -> (B, …)``.
        x0: clean data ``(B, …)``.
        sched: the schedule (on x0's device).
        y: class labels ``(B,)`` for a conditional model, else ``None``.
        p_uncond: probability of replacing a label by the null class ``num_classes``
            (label dropout for classifier-free guidance).
        num_classes: the number of real classes; needed when ``p_uncond > 0``.
        generator: random source for t, ε and the dropout (default: global).

    Returns:
        The scalar mean squared error.
    """
    if not 0 <= p_uncond < 1:
        raise ValueError(f"p_uncond must be in [0, 1), got {p_uncond}")
    if p_uncond > 0 and (y is None or num_classes is None):
        raise ValueError("label dropout (p_uncond > 0) needs labels y and num_classes")
    B, dev = len(x0), x0.device
    t = torch.randint(0, sched.T, (B,), device=dev, generator=generator)
    eps = torch.randn(x0.shape, device=dev, generator=generator)
    if y is not None and p_uncond > 0:
        drop = torch.rand(B, device=dev, generator=generator) < p_uncond
        y = torch.where(drop, torch.full_like(y, num_classes), y)
    return F.mse_loss(model(q_sample(x0, t, sched, eps), t, y), eps)


def guided_eps(
    model: EpsModel,
    x: torch.Tensor,
    t: torch.Tensor,
    y: torch.Tensor | None,
    w: float,
    null_class: int | None,
) -> torch.Tensor:
    """Classifier-free guidance: ε̃ = (1 + w) ε(x, t, y) - w ε(x, t, ∅); plain ε(x, t, y) when w = 0."""
    if w == 0 or y is None:
        return model(x, t, y)
    if null_class is None:
        raise ValueError(
            "guidance (w != 0) needs null_class, the label index the model was trained to ignore"
        )
    both = model(
        torch.cat([x, x]),
        torch.cat([t, t]),
        torch.cat([y, torch.full_like(y, null_class)]),
    )
    cond, uncond = both.float().chunk(
        2
    )  # combine in float32: the weights amplify bfloat16 rounding
    return (1 + w) * cond - w * uncond


def _check_sampler_args(
    shape: tuple[int, ...], y: torch.Tensor | None, w: float, null_class: int | None
) -> None:
    if len(shape) < 2 or min(shape) < 1:
        raise ValueError(f"shape must be (B, …) with positive sizes, got {shape}")
    if y is not None and tuple(y.shape) != (shape[0],):
        raise ValueError(
            f"y must hold one label per sample, shape ({shape[0]},), got {tuple(y.shape)}"
        )
    if w != 0 and (y is None or null_class is None):
        raise ValueError("guidance weight w != 0 needs labels y and null_class")


@torch.no_grad()
def ddpm_sample(
    model: EpsModel,
    shape: tuple[int, ...],
    sched: Schedule,
    *,
    y: torch.Tensor | None = None,
    w: float = 0.0,
    null_class: int | None = None,
    clip: float | None = None,
    x_T: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    keep: tuple[int, ...] = (),
) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """Ancestral sampling: T steps of x_{t-1} = μ_θ(x_t, t) + σ_t z, σ_t² = β̃_t.

    μ_θ = (x_t - β_t / √(1-ᾱ_t) ε_θ) / √α_t. With ``clip`` the predicted x_0 is
    clamped to [-clip, clip] first and μ_θ is the posterior mean given it (the
    same value when nothing is clipped).

    Args:
        model: the noise model ``model(x_t, t, y)``.
        shape: ``(B, …)`` of the samples.
        sched: the schedule (on the model's device).
        y: class labels ``(B,)`` for a conditional model.
        w: classifier-free guidance weight (0: none).
        null_class: the "no class" label, needed when ``w != 0``.
        clip: clamp the predicted x_0 to this range (``None``: no clamping).
        x_T: the starting noise ``shape``; drawn when ``None``.
        generator: random source for x_T and z.
        keep: time indices whose x_t to return as well (e.g. for a trajectory).

    Returns:
        x_0 ``shape`` and a dict {index: x_t} for the indices in ``keep``.
    """
    _check_sampler_args(shape, y, w, null_class)
    dev = sched.betas.device
    x = (
        torch.randn(shape, device=dev, generator=generator)
        if x_T is None
        else x_T.clone()
    )
    abar_prev = torch.cat([sched.alpha_bars.new_ones(1), sched.alpha_bars[:-1]])
    kept = {}
    for i in reversed(range(sched.T)):
        if i in keep:
            kept[i] = x.clone()
        t = torch.full((shape[0],), i, device=dev, dtype=torch.int64)
        eps = guided_eps(model, x, t, y, w, null_class).float()
        beta, alpha, abar, ab_prev = (
            sched.betas[i],
            sched.alphas[i],
            sched.alpha_bars[i],
            abar_prev[i],
        )
        if clip is None:
            mean = (x - beta / (1 - abar).sqrt() * eps) / alpha.sqrt()
        else:
            x0 = ((x - (1 - abar).sqrt() * eps) / abar.sqrt()).clamp(-clip, clip)
            mean = (ab_prev.sqrt() * beta * x0 + alpha.sqrt() * (1 - ab_prev) * x) / (
                1 - abar
            )
        if i > 0:
            var = beta * (1 - ab_prev) / (1 - abar)  # posterior variance β̃_t
            mean = mean + var.sqrt() * torch.randn(
                shape, device=dev, generator=generator
            )
        x = mean
    return x, kept


def ddim_times(T: int, steps: int) -> list[int]:
    """``steps`` evenly spaced time indices from T-1 down to 0 (the DDIM sub-sequence)."""
    if not 1 <= steps <= T:
        raise ValueError(f"steps must be between 1 and T={T}, got {steps}")
    return sorted(
        {round(v) for v in torch.linspace(T - 1, 0, steps).tolist()}, reverse=True
    )


@torch.no_grad()
def ddim_sample(
    model: EpsModel,
    shape: tuple[int, ...],
    sched: Schedule,
    *,
    steps: int = 50,
    eta: float = 0.0,
    y: torch.Tensor | None = None,
    w: float = 0.0,
    null_class: int | None = None,
    clip: float | None = None,
    x_T: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """DDIM sampling on a sub-sequence of ``steps`` times; deterministic when ``eta = 0``.

    x_{τ'} = √ᾱ_{τ'} x̂_0 + √(1 - ᾱ_{τ'} - σ²) ε_θ + σ z, with x̂_0 = (x_τ - √(1-ᾱ_τ) ε_θ) / √ᾱ_τ
    and σ = η √((1-ᾱ_{τ'}) / (1-ᾱ_τ)) √(1 - ᾱ_τ / ᾱ_{τ'}).

    Args:
        model, shape, sched, y, w, null_class, clip, x_T, generator: as in :func:`ddpm_sample`.
        steps: number of model evaluations (1 … T).
        eta: 0 gives the deterministic DDIM sampler, 1 a DDPM-like one.

    Returns:
        x_0 ``shape``.
    """
    _check_sampler_args(shape, y, w, null_class)
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    dev = sched.betas.device
    x = (
        torch.randn(shape, device=dev, generator=generator)
        if x_T is None
        else x_T.clone()
    )
    times = ddim_times(sched.T, steps)
    for k, i in enumerate(times):
        t = torch.full((shape[0],), i, device=dev, dtype=torch.int64)
        eps = guided_eps(model, x, t, y, w, null_class).float()
        abar = sched.alpha_bars[i]
        ab_next = (
            sched.alpha_bars[times[k + 1]]
            if k + 1 < len(times)
            else abar.new_tensor(1.0)
        )
        x0 = (x - (1 - abar).sqrt() * eps) / abar.sqrt()
        if clip is not None:
            x0 = x0.clamp(-clip, clip)
            eps = (x - abar.sqrt() * x0) / (
                1 - abar
            ).sqrt()  # the noise that matches the clamped x_0
        sigma = eta * ((1 - ab_next) / (1 - abar)).sqrt() * (1 - abar / ab_next).sqrt()
        x = ab_next.sqrt() * x0 + (1 - ab_next - sigma**2).clamp(min=0).sqrt() * eps
        if eta > 0 and k + 1 < len(times):
            x = x + sigma * torch.randn(shape, device=dev, generator=generator)
    return x


def timestep_embedding(
    t: torch.Tensor, dim: int, max_period: float = 10_000.0
) -> torch.Tensor:
    """Sinusoidal embedding of time indices, as the Transformer's positions.

    Args:
        t: ``(B,)`` times (any numeric dtype).
        dim: even embedding size.

    Returns:
        ``(B, dim)``: [sin(t ω_k), cos(t ω_k)] with ω_k = max_period^(-k / (dim/2)).
    """
    if dim < 2 or dim % 2:
        raise ValueError(f"dim must be even and >= 2, got {dim}")
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period)
        * torch.arange(half, device=t.device, dtype=torch.float32)
        / half
    )
    angles = t.float()[:, None] * freqs[None]  # (B, half)
    return torch.cat([angles.sin(), angles.cos()], 1)


class MLPDenoiser(nn.Module):
    """A small noise model for low-dimensional data: MLP on [x, embedding(t)].

    Args:
        dim: data dimension D.
        hidden: width of the hidden layers.
        depth: number of hidden layers.
        emb_dim: size of the sinusoidal time embedding.
    """

    def __init__(
        self, dim: int = 2, hidden: int = 128, depth: int = 3, emb_dim: int = 32
    ):
        super().__init__()
        self.emb_dim = emb_dim
        layers: list[nn.Module] = []
        width = dim + emb_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(hidden, dim))

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Noisy points ``(B, D)``, time indices ``(B,)`` -> predicted noise ``(B, D)``."""
        return self.net(torch.cat([x, timestep_embedding(t, self.emb_dim)], 1))


class EMA:
    """An exponential moving average of a model's weights: θ̄ ← d θ̄ + (1 - d) θ.

    ``ema.model`` is a frozen copy to sample from; call ``ema.update(model)``
    after every optimizer step.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999):
        if not 0 <= decay < 1:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for avg, p in zip(self.model.parameters(), model.parameters()):
            avg.lerp_(p.detach(), 1 - self.decay)
        for avg, b in zip(self.model.buffers(), model.buffers()):
            avg.copy_(b)


def train_denoiser(
    model: nn.Module,
    x: torch.Tensor,
    sched: Schedule,
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
) -> tuple[nn.Module, list[float]]:
    """Train a noise model with the ε-loss: AdamW, warm-up then cosine decay, weight EMA.

    Args:
        model: the noise model (on the device of ``x``).
        x: training data ``(N, …)`` scaled to about [-1, 1], on the training device.
        sched: the schedule (same device).
        y: labels ``(N,)`` for a conditional model.
        steps: optimizer steps; each draws a random batch of ``batch_size``.
        lr, warmup: peak learning rate and its linear warm-up length.
        p_uncond, num_classes: label dropout for classifier-free guidance.
        ema_decay: decay of the weight average that is returned.
        seed: seeds the batches, times and noise.
        amp: bfloat16 autocast (only on a CUDA GPU with native bfloat16, see :func:`dlbook.setup.native_bf16`).
        progress: show a progress bar (on stderr).

    Returns:
        The EMA model (eval mode) and the loss of every step.
    """
    from dlbook.train import progress_bar

    if steps < 1 or batch_size < 1:
        raise ValueError(
            f"steps and batch_size must be positive, got {steps} and {batch_size}"
        )
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
    ema = EMA(model, ema_decay)
    losses = []
    model.train()
    bar = progress_bar(
        steps, "denoiser", disable=not progress
    )  # $DLBOOK_PROGRESS=0 hides it
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch_size,), device=dev, generator=g)
        with torch.autocast(
            "cuda", dtype=torch.bfloat16, enabled=amp and native_bf16(dev)
        ):
            loss = eps_loss(
                model,
                x[idx],
                sched,
                None if y is None else y[idx],
                p_uncond=p_uncond,
                num_classes=num_classes,
                generator=g,
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched_lr.step()
        ema.update(model)
        losses.append(loss.detach().float())
        bar.update(1)
    bar.close()
    model.eval()
    return ema.model, torch.stack(losses).tolist()
