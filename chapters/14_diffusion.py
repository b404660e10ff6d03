# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# (ch-diffusion)=
# # Diffusion models
#
# ```{admonition} Learning objectives
# :class: tip
# After this chapter you can
# - write the forward (noising) process of a diffusion model, its cosine schedule, the closed form of $q(x_t \mid x_0)$ and the posterior $q(x_{t-1} \mid x_t, x_0)$ that the sampler follows;
# - train a noise-prediction network with the ε-objective and sample from it by ancestral (DDPM) sampling and by DDIM;
# - read noise prediction as a scaled score, and check a learned score against the exact one;
# - train a flow-matching model and compare samplers at equal numbers of network evaluations;
# - build a small U-Net with time and class embeddings, steer it with classifier-free guidance, and judge its images against honest baselines.
# ```
#
# Creating noise from data is easy: add a little Gaussian noise, then a little
# more, until nothing of the image is left. Creating data from noise is
# generative modeling. A *diffusion model* learns to undo the easy direction
# one small step at a time {cite}`sohl2015deep,ho2020denoising`: each step is
# a denoising problem, solved by a network trained with a plain regression
# loss. No adversary as in {ref}`ch-gans`, no encoder as in
# {ref}`ch-autoencoders` — and, as this last chapter shows, samples that look
# good.

# %% tags=["hide-input"]
# Setup: the same first cell in every chapter. On Colab it installs the book's
# helper package `dlbook` with --no-deps, so Colab's own PyTorch is never
# replaced; then it finds the device, picks the run profile and seeds everything.
import importlib.util
import subprocess
import sys

if "google.colab" in sys.modules and importlib.util.find_spec("dlbook") is None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "dlbook @ git+https://github.com/dlbook-org/dlbook",
            "mnist1d",
        ],
        check=True,
    )

import dlbook
import dlbook.plot

session = dlbook.start(seed=0)
dlbook.plot.use_style()
device = session.device

# %% [markdown]
# The profiles differ in the image data and in how long the U-Net trains. The
# smoke profile trains on scikit-learn's 8x8 digits (a few seconds); the cpu
# and gpu profiles on 28x28 Fashion-MNIST. On a CPU the U-Net first folds each
# 2x2 block of pixels into channels (`patch=2`), which makes it four times
# cheaper; even so the cpu profile spends most of its few minutes training
# U-Nets. `T` is the number of diffusion steps, `*_steps` count optimizer steps
# (`fm_steps` those of a second, flow-matching U-Net near the end, which gets
# fewer on a T4: `small_gpu`), and `clf_n` and `clf_epochs` select the book's
# Fashion-MNIST classifier (shared with {ref}`ch-autoencoders` and
# {ref}`ch-gans`), which judges the images at the end.

# %%
import functools
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from dlbook import check, data, frechet, mmd, plot
from dlbook import diffusion as diff
from dlbook.diffusion import bcast, check_dropout, check_even, check_sampler
from dlbook.diffusion import check_times, cosine_alpha_bar, ddim_times
from dlbook.engine import add_to_class
from dlbook.setup import synchronize
from dlbook.train import Precision
from dlbook.unet import UNet

# %%
# fmt: off
cfg = dlbook.config(
    smoke=dict(moon_steps=1_500, moon_factor=5, T=200, images="digits", patch=1,
               channels=(16, 32), batch=64, lr=3e-3, img_steps=200, fm_steps=100,
               ema=0.99, ddim_steps=25, w=2.0, n_per_class=20, clf_n=3_000,
               clf_epochs=2, min_class_acc=0.3),
    cpu=dict(moon_steps=4_000, moon_factor=10, T=300, images="fashion", patch=2,
             channels=(32, 64), batch=32, lr=2e-3, img_steps=700, fm_steps=700,
             ema=0.995, ddim_steps=50, w=2.0, n_per_class=20, clf_n=12_000,
             clf_epochs=2, min_class_acc=0.4),
    gpu=dict(moon_steps=4_000, moon_factor=10, T=1_000, images="fashion", patch=1,
             channels=(64, 128, 128), batch=256, lr=1e-3, img_steps=4_000,
             fm_steps=4_000, ema=0.999, ddim_steps=50, w=2.0, n_per_class=100,
             clf_n=None, clf_epochs=6, min_class_acc=0.85),
    small_gpu=dict(fm_steps=1_500),  # a T4: the flow model's share of ten minutes
)
# fmt: on
cfg

# %% [markdown]
# ## The forward process: from data to noise
#
# Take a data point $x_0$ (an image, scaled to $[-1, 1]$) and a *noise schedule*
# $0 < \beta_1 < \dots < \beta_T < 1$. The forward process adds a little
# Gaussian noise at each of $T$ steps, shrinking the signal so that the
# variance stays bounded; for $t = 1, \dots, T$,
#
# $$
# q(x_t \mid x_{t-1}) = \mathcal{N}\big(x_t;\ \sqrt{1-\beta_t}\, x_{t-1},\ \beta_t I\big).
# $$ (eq-forward-step)
#
# A sum of independent Gaussians is Gaussian, so we never have to run the
# chain: with $\alpha_t = 1 - \beta_t$ and $\bar\alpha_t = \prod_{s=1}^t \alpha_s$,
#
# $$
# \begin{aligned}
# q(x_t \mid x_0) &= \mathcal{N}\big(x_t;\ \sqrt{\bar\alpha_t}\, x_0,\ (1-\bar\alpha_t) I\big),\\
# \text{i.e.}\quad x_t &= \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,
# \qquad \varepsilon \sim \mathcal{N}(0, I).
# \end{aligned}
# $$ (eq-q-closed)
#
# (By induction: if $x_{t-1} = \sqrt{\bar\alpha_{t-1}} x_0 + \sqrt{1-\bar\alpha_{t-1}}\,\varepsilon'$, one more
# step gives mean $\sqrt{\alpha_t \bar\alpha_{t-1}}\, x_0$ and variance
# $\alpha_t(1-\bar\alpha_{t-1}) + \beta_t = 1 - \bar\alpha_t$.) When
# $\bar\alpha_T \approx 0$, $x_T$ is standard normal whatever $x_0$ was;
# {numref}`fig-diffusion-chain` shows the chain on an image.

# %% [markdown]
# :::{figure} ../figs/diffusion_chain.svg
# :name: fig-diffusion-chain
# :alt: Six square images from a clean T-shirt x0 through x50, x150, x300, x600 to pure noise xT, with alpha-bar from 1.000 to 0.000 underneath; black arrows point forward, orange arrows point back, and an arc from x0 to x300 marks the one-step jump.
# :width: 100%
# The forward chain on a toy image with Ho et al.'s linear schedule ($T = 1000$): each step $q(x_t \mid x_{t-1})$ adds a little noise, and {eq}`eq-q-closed` jumps to any $x_t$ at once; $\bar\alpha_t$ under each image is the signal's share of the variance. The learned reverse chain $p_\theta$ (orange) walks back from pure noise.
# :::

# %% [markdown]
# Two schedules are common: Ho et al.'s *linear* one, $\beta_t$ from $10^{-4}$ to
# $0.02$ over $T = 1000$ steps {cite}`ho2020denoising`, and Nichol and
# Dhariwal's *cosine* one {cite}`nichol2021improved`, which prescribes
# $\bar\alpha_t$ directly, with a small offset $s = 0.008$:
#
# $$
# \begin{aligned}
# \bar\alpha_t &= \frac{f(t)}{f(0)},\qquad
# f(t) = \cos^2\!\Big(\frac{t/T + s}{1+s}\cdot\frac{\pi}{2}\Big),\\
# \beta_t &= 1 - \frac{\bar\alpha_t}{\bar\alpha_{t-1}}.
# \end{aligned}
# $$ (eq-cosine)
#
# In code the time index $i = 0, \dots, T-1$ of a tensor stands for
# $t = i + 1$. The schedule, and {eq}`eq-q-closed` as one line:


# %% tags=["dlbook:diffusion"]
def cosine_betas(T, s=0.008, max_beta=0.999):
    """The cosine schedule (T,) float64: β_t = 1 - ᾱ(t) / ᾱ(t-1), at most max_beta."""
    check.positive(T, "T", integer=True)
    check.number(max_beta, "max_beta", low=0, high=1, low_open=True, high_open=True)
    abar = cosine_alpha_bar(torch.arange(T + 1, dtype=torch.float64), T, s)  # (T+1,)
    return (1 - abar[1:] / abar[:-1]).clamp(max=max_beta)


def q_sample(x0, t, sched, noise=None):
    """Draw x_t ~ q(x_t | x_0) in one step; t: int64 indices (B,) in 0 … T-1."""
    check_times(t, sched, len(check.tensor(x0, "x0", floating=True)))
    noise = torch.randn_like(x0) if noise is None else noise
    check.shape(noise, "noise", x0.shape)
    abar = bcast(sched.alpha_bars[t], x0)  # (B, 1, …)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


# %% tags=["hide-input"] mystnb={"figure": {"caption": "The signal fraction $\\bar\\alpha_t$ of the linear and the cosine schedule over $T = 1000$ steps.", "name": "fig-diffusion-schedules"}, "image": {"alt": "The linear schedule's curve falls steeply to near zero by step 400; the cosine schedule's falls gently, almost linearly in the middle, reaching 0.5 near step 500."}}
T_plot = 1_000
schedules = {
    "linear": diff.Schedule.from_betas(diff.linear_betas(T_plot)),
    "cosine": diff.Schedule.from_betas(cosine_betas(T_plot)),
}
fig, ax = plot.subplots(width=7, height=3.2)
plot.curves(
    ax,
    {name: s.alpha_bars.tolist() for name, s in schedules.items()},
    x=range(1, T_plot + 1),
    xlabel="step t",
    ylabel=r"$\bar\alpha_t$ (signal fraction)",
    title=f"noise schedules, T = {T_plot}",
)
plot.show(fig)

# %% [markdown]
# In {numref}`fig-diffusion-schedules` the linear schedule destroys most of
# the signal in the first third of the chain and then spends hundreds of
# steps on almost pure noise; the cosine schedule lowers $\bar\alpha_t$ gently
# and nearly linearly in the middle, which helps small images, where a little
# noise already hides much of the content. This chapter uses the cosine
# schedule.
#
# Equation {eq}`eq-q-closed` is the fact everything below relies on, so we
# check it: fix one $x_0$, run the chain {eq}`eq-forward-step` step by step
# 20,000 times, and compare the mean and variance of $x_t$ with the closed
# form and with draws of `q_sample`.

# %%
sched_lin, x0 = schedules["linear"], torch.tensor([0.8, -0.5])
n_chains, t_check = 20_000, [10, 100, 400]
x, chain = x0.expand(n_chains, 2).clone(), {}
for i in range(max(t_check)):  # one forward step at a time
    beta = sched_lin.betas[i]
    x = (1 - beta).sqrt() * x + beta.sqrt() * torch.randn_like(x)
    if i + 1 in t_check:
        chain[i + 1] = x
closed = {
    t: q_sample(x0.expand(n_chains, 2), torch.full((n_chains,), t - 1), sched_lin)
    for t in t_check
}

# %% [markdown]
# The means and variances over the 20,000 chains, next to those of the one-step
# draws and to {eq}`eq-q-closed`:

# %%
for t in t_check:
    abar = sched_lin.alpha_bars[t - 1]
    print(
        f"t={t:3d}: mean chain {chain[t].mean(0).numpy().round(3)}, closed "
        f"{closed[t].mean(0).numpy().round(3)}, theory "
        f"{(abar.sqrt() * x0).numpy().round(3)}; var chain "
        f"{chain[t].var(0).numpy().round(3)}, closed "
        f"{closed[t].var(0).numpy().round(3)}, theory {1 - abar:.3f}"
    )

# %% tags=["hide-cell"]
for t in t_check:  # 5 standard errors: sqrt(var / n) <= 0.007 for a mean
    abar = sched_lin.alpha_bars[t - 1]
    for sample in (chain[t], closed[t]):
        assert torch.allclose(sample.mean(0), abar.sqrt() * x0, atol=0.035)
        assert torch.allclose(sample.var(0), (1 - abar).expand(2), atol=0.035)

# %% [markdown]
# Chain, closed form and theory agree to Monte-Carlo precision (a standard
# error of at most $0.007$ for the means with 20,000 chains; the hidden check
# allows five). So a training example at any noise level costs one line,
# without simulating the chain.
#
# ## DDPM: learning to remove the noise
#
# The reverse process runs the chain backwards, $p_\theta(x_{t-1} \mid x_t) =
# \mathcal{N}(\mu_\theta(x_t, t), \sigma_t^2 I)$. Ho et al.
# {cite}`ho2020denoising` showed that the variational bound on the likelihood
# is a sum of KL divergences between Gaussians, one per step, which reduces,
# up to weights they drop, to a regression: sample $x_0$, a step $t$ and
# noise $\varepsilon$, form $x_t$ by {eq}`eq-q-closed`, and ask a network
# $\varepsilon_\theta$ which noise was added,
#
# $$
# \begin{aligned}
# L(\theta) &= \mathbb{E}_{x_0,\, t,\, \varepsilon}
# \Big\| \varepsilon - \varepsilon_\theta\big(x_t, t\big) \Big\|^2,\qquad
# x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,
# \end{aligned}
# $$ (eq-eps-loss)
#
# with $t$ uniform on $1, \dots, T$ and $\varepsilon \sim \mathcal{N}(0, I)$.
# In code (the label dropout is for guidance, later in the chapter):


# %% tags=["dlbook:diffusion"]
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


# %% [markdown]
# We try it on two moons first: 2-D points, and a small MLP as
# $\varepsilon_\theta$ that sees $x_t$ together with a *sinusoidal embedding*
# of $t$ — the same sines and cosines of geometrically spaced frequencies that
# encode positions in the Transformer of {ref}`ch-attention`.


# %% tags=["dlbook:diffusion"]
def timestep_embedding(t, dim, max_period=10_000.0):
    """Sines and cosines of t at dim/2 geometric frequencies: (B,) -> (B, dim)."""
    check.tensor(t, "t", ndim=1)
    check_even(dim, "dim")
    half = dim // 2
    k = torch.arange(half, device=t.device, dtype=torch.float32)  # (half,)
    freqs = torch.exp(-math.log(max_period) * k / half)  # 1 … 1/max_period
    angles = t.float()[:, None] * freqs[None]  # (B, half)
    return torch.cat([angles.sin(), angles.cos()], 1)  # (B, dim)


# %% tags=["dlbook:diffusion"]
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


# %%
x_raw = data.two_moons(4_000, noise=0.05, seed=1)[0]
mu, sd = x_raw.mean(0), x_raw.std(0)
x_moons = (x_raw - mu) / sd  # standardized: the scale of the unit-variance noise
x_held = (data.two_moons(2_000, noise=0.05, seed=2)[0] - mu) / sd  # held out
sched_2d = diff.Schedule.from_betas(cosine_betas(200))
print(f"{len(x_moons)} training and {len(x_held)} held-out points, T = {sched_2d.T}")


# %%
def train_points(loss_fn, steps, seed=0):
    """Adam on mini-batches of 256 moons points; returns the model and its losses."""
    torch.manual_seed(seed)
    model = MLPDenoiser(dim=2, hidden=128, depth=3)
    opt, losses = torch.optim.Adam(model.parameters(), lr=2e-3), []
    for _ in range(steps):
        loss = loss_fn(model, x_moons[torch.randint(0, len(x_moons), (256,))])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    return model, torch.stack(losses)


# %%
mlp, moon_losses = train_points(lambda m, x: eps_loss(m, x, sched_2d), cfg.moon_steps)
print(
    f"ε-loss: first 100 steps {moon_losses[:100].mean():.3f}, "
    f"last 100 {moon_losses[-100:].mean():.3f}"
)

# %% [markdown]
# The loss falls from about 1 (what predicting zero noise scores) but cannot
# reach zero, and the reason is at *small* $t$. There $x_t$ is nearly $x_0$,
# and the little noise added, $\sqrt{1-\bar\alpha_t}\,\varepsilon$, is far
# smaller than the spread of the data around any point: it cannot be told
# apart from the data's own scatter, so even the best predictor guesses
# $\varepsilon$ poorly. At large $t$, $x_t \approx \varepsilon$ and the noise
# is nearly all there is to see. We measure the trained model's loss at three
# noise levels, on held-out points:

# %%
levels = [int((sched_2d.alpha_bars - a).abs().argmin()) for a in (0.999, 0.5, 0.01)]
e_held = torch.randn(x_held.shape, generator=torch.Generator().manual_seed(3))
xt_held = {
    i: q_sample(x_held, torch.full((len(x_held),), i), sched_2d, e_held) for i in levels
}
with torch.no_grad():
    loss_at = {
        i: F.mse_loss(mlp(xt_held[i], torch.full((len(x_held),), i)), e_held).item()
        for i in levels
    }
for i in levels:
    print(f"t = {i + 1:3d} (ᾱ = {sched_2d.alpha_bars[i]:.3f}): ε-loss {loss_at[i]:.3f}")

# %% tags=["hide-cell"]
assert moon_losses[-100:].mean() < 0.8 * moon_losses[:100].mean()
assert loss_at[levels[0]] > 0.5 > loss_at[levels[2]], loss_at  # small t: hard
assert loss_at[levels[0]] > loss_at[levels[1]] > loss_at[levels[2]], loss_at

# %% [markdown]
# Most of the remaining loss sits at the smallest $t$, the least at the
# largest, as the argument says (the hidden check asserts the order). We will
# see below that these values are close to the best any predictor can reach.
#
# ## Sampling: the posterior of one step
#
# To run the chain backwards we need $q(x_{t-1} \mid x_t, x_0)$: where was the
# chain one step earlier, if we knew where it started and where it is now?
# By Bayes' rule it is proportional to $q(x_t \mid x_{t-1})\, q(x_{t-1} \mid
# x_0)$, a product of two Gaussians in $x_{t-1}$ — by {eq}`eq-forward-step`
# and {eq}`eq-q-closed`. Its exponent, up to terms without $x_{t-1}$, is
#
# $$
# -\frac{1}{2}\Big[\frac{\|x_t - \sqrt{\alpha_t}\,x_{t-1}\|^2}{\beta_t}
# + \frac{\|x_{t-1} - \sqrt{\bar\alpha_{t-1}}\,x_0\|^2}{1-\bar\alpha_{t-1}}\Big].
# $$
#
# Collecting the quadratic and the linear terms in $x_{t-1}$ (completing the
# square) gives a Gaussian with precision $\alpha_t/\beta_t +
# 1/(1-\bar\alpha_{t-1}) = (1-\bar\alpha_t)/\big(\beta_t(1-\bar\alpha_{t-1})\big)$,
# so
#
# $$
# \begin{aligned}
# q(x_{t-1} \mid x_t, x_0) &= \mathcal{N}\big(\tilde\mu_t(x_t, x_0),\ \tilde\beta_t I\big),
# \qquad \tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\,\beta_t,\\
# \tilde\mu_t(x_t, x_0) &= \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t\, x_0
# + \sqrt{\alpha_t}\,(1-\bar\alpha_{t-1})\, x_t}{1-\bar\alpha_t}.
# \end{aligned}
# $$ (eq-posterior)


# %% tags=["dlbook:diffusion"]
def posterior(sched, i, x0, x):
    """Mean and variance of q(x_{t-1} | x_t = x, x_0) at index i (t = i + 1)."""
    check.number(i, "the time index i", low=0, high=sched.T - 1, integer=True)
    beta, alpha, abar = sched.betas[i], sched.alphas[i], sched.alpha_bars[i]
    ab_prev = sched.alpha_bars[i - 1] if i > 0 else abar.new_tensor(1.0)  # ᾱ_{t-1}
    mean = (ab_prev.sqrt() * beta * x0 + alpha.sqrt() * (1 - ab_prev) * x) / (1 - abar)
    return mean, beta * (1 - ab_prev) / (1 - abar)  # the variance β̃_t


# %% [markdown]
# A check by an independent route: $(x_{t-1}, x_t)$ given $x_0$ is jointly
# Gaussian, with $\operatorname{Cov}(x_{t-1}, x_t) =
# \sqrt{\alpha_t}(1-\bar\alpha_{t-1})$, so the textbook formula for
# conditioning a Gaussian gives the same mean and variance. In float64 they
# agree to rounding:

# %%
s64 = diff.Schedule.from_betas(cosine_betas(50), dtype=torch.float64)
x0_, xt_ = torch.randn(8, dtype=torch.float64), torch.randn(8, dtype=torch.float64)
errors = []
for i in range(1, s64.T):
    ab, ab_prev, a = s64.alpha_bars[i], s64.alpha_bars[i - 1], s64.alphas[i]
    cov = a.sqrt() * (1 - ab_prev)  # Cov(x_{t-1}, x_t) given x_0
    mean_c = ab_prev.sqrt() * x0_ + cov / (1 - ab) * (xt_ - ab.sqrt() * x0_)
    var_c = (1 - ab_prev) - cov**2 / (1 - ab)
    mean, var = posterior(s64, i, x0_, xt_)
    errors.append(max((mean - mean_c).abs().max().item(), abs(var - var_c).item()))
print(f"posterior vs Gaussian conditioning, largest difference: {max(errors):.1e}")

# %% tags=["hide-cell"]
assert max(errors) < 1e-12, max(errors)

# %% [markdown]
# The sampler does not know $x_0$ — it is what we want to produce. It
# estimates it from the predicted noise, solving {eq}`eq-q-closed` for $x_0$,
#
# $$
# \hat x_0 = \frac{x_t - \sqrt{1-\bar\alpha_t}\,\varepsilon_\theta(x_t, t)}{\sqrt{\bar\alpha_t}},
# $$ (eq-x0-hat)
#
# and draws $x_{t-1}$ from $q(x_{t-1} \mid x_t, \hat x_0)$. Substituting
# $\hat x_0$ into $\tilde\mu_t$ gives Ho et al.'s step,
#
# $$
# x_{t-1} = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\,
# \varepsilon_\theta(x_t, t)\Big) + \sqrt{\tilde\beta_t}\, z,
# $$ (eq-ddpm-step)
#
# with fresh noise $z \sim \mathcal{N}(0, I)$, and none at the last step. Writing the step through $\hat x_0$
# has one advantage: $\hat x_0$ can be clamped to the range of the data
# (`clip`), which keeps a poor early prediction from throwing the chain off.
# From $x_T \sim \mathcal{N}(0, I)$, $T$ such *ancestral* steps give a
# sample:


# %% tags=["dlbook:diffusion"]
def predict_x0(x, eps, abar, clip=None):
    """x̂_0 = (x_t - √(1-ᾱ) ε) / √ᾱ, clamped to [-clip, clip] when clip is given."""
    x0 = (x - (1 - abar).sqrt() * eps) / abar.sqrt()
    return x0 if clip is None else x0.clamp(-check.positive(clip, "clip"), clip)


# %% tags=["dlbook:diffusion"]
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


# %% [markdown]
# We sample 2,000 points and measure the result with the maximum mean
# discrepancy of {ref}`ch-gans` against held-out points, next to two
# references: Gaussian noise, and a second draw of real data (the floor,
# zero up to sampling error).

# %%
gen = torch.Generator().manual_seed(0)
noise_2d = torch.randn(2_000, 2, generator=gen)
moon_samples, moon_traj = ddpm_sample(
    mlp, noise_2d, sched_2d, generator=gen, keep=(199, 99, 39)
)

# %%
mmd_samples = dlbook.report(
    "two moons: MMD² (DDPM samples, held-out data)",
    mmd.mmd2(moon_samples, x_held),
    fmt=".4f",
)
mmd_noise = dlbook.report(
    "two moons: MMD² (Gaussian noise, held-out data)",
    mmd.mmd2(noise_2d, x_held),
    fmt=".4f",
)
mmd_floor = dlbook.report(
    "two moons: MMD² (fresh data, held-out data)",
    mmd.mmd2(x_moons[:2_000], x_held),
    fmt=".4f",
)

# %% tags=["hide-cell"]
assert mmd_samples < mmd_noise / cfg.moon_factor, (mmd_samples, mmd_noise)

# %% [markdown]
# The samples' MMD² to held-out data is a small fraction of the noise's (the
# hidden check asks for a factor of `moon_factor`: 10 in the cpu and gpu
# profiles, 5 after the short smoke training) and approaches the floor of two
# independent draws of real data. {numref}`fig-diffusion-moons-chain` shows
# the same: the cloud of noise contracts onto the two moons as $t$ goes to
# zero.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The DDPM chain on two moons: 1,000 of the 2,000 points at t = 200 (pure noise), 100 and 40, and the samples at t = 0 over held-out data.", "name": "fig-diffusion-moons-chain"}, "image": {"alt": "Four scatter plots: a round Gaussian cloud, a cloud that begins to form two arcs, two blurred moons, and two sharp moons lying on the held-out data."}}
fig, axes = plot.subplots(2, 2, width=7, height=6, sharex=True, sharey=True)
panels = [
    ("x_200 (noise)", moon_traj[199]),
    ("x_100", moon_traj[99]),
    ("x_40", moon_traj[39]),
    ("x_0 (samples) vs data", moon_samples),
]
for ax, (title, pts) in zip(axes.flat, panels):
    if "data" in title:
        ax.scatter(*x_held[:1_000].T, s=2, c="C1", alpha=0.4, label="held-out data")
    ax.scatter(*pts[:1_000].T, s=2, c="C0", alpha=0.5, label="samples")
    ax.set_title(title)
for ax in axes[1]:
    ax.set_xlabel("$x_1$")
for ax in axes[:, 0]:
    ax.set_ylabel("$x_2$")
axes[1, 1].legend(loc="lower left", fontsize=8, markerscale=4)
axes[0, 0].set_xlim(-3, 3)
axes[0, 0].set_ylim(-3, 3)
plot.show(fig)

# %% [markdown]
# ## The score view
#
# Song et al. {cite}`song2021score` read the same model differently. The
# *score* of a density is the gradient of its log, $\nabla_x \log p(x)$: it
# points to where the data are denser. Let $p_t$ be the density of $x_t$ (the
# data pushed through {eq}`eq-q-closed`). Two facts tie it to the noise:
#
# - The best predictor of the noise, in squared error, is the conditional mean
#   $\varepsilon^*(x_t) = \mathbb{E}[\varepsilon \mid x_t]$, and it is a
#   scaled score: $\varepsilon^*(x_t) = -\sqrt{1-\bar\alpha_t}\,\nabla \log p_t(x_t)$.
#   So a trained $\varepsilon_\theta$ *is* a score estimate, and the ε-loss is
#   *denoising score matching* {cite}`vincent2011connection`: fitting the score
#   of noisy data by learning to denoise, which is exactly the denoising
#   autoencoder of {ref}`ch-autoencoders`, trained at every noise level at once.
# - *Tweedie's formula* {cite}`efron2011tweedie`: the posterior mean of the
#   clean point is $\mathbb{E}[x_0 \mid x_t] = \big(x_t + (1-\bar\alpha_t)\,
#   \nabla \log p_t(x_t)\big)/\sqrt{\bar\alpha_t}$ — which is {eq}`eq-x0-hat`
#   with $\varepsilon^*$ in place of $\varepsilon_\theta$.
#
# On data we hold in hand the exact score is computable: take the 4,000
# training points themselves as the distribution of $x_0$. Then $p_t$ is a
# mixture of 4,000 Gaussians, $\mathbb{E}[x_0 \mid x_t]$ is a softmax-weighted
# mean of the points, and Tweedie gives $\varepsilon^*$ (with the moons this
# dense, the mixture is close to the smooth data distribution at these noise
# levels). We compare the learned $\varepsilon_\theta$ with $\varepsilon^*$,
# against the baseline of a Gaussian fitted to the data, $\mathcal{N}(0, I)$
# after standardizing, whose score is $-x$:


# %%
def eps_star(x_t, points, abar):
    """E[ε | x_t] when x_0 is drawn uniformly from `points` (N, D), by Tweedie."""
    d2 = torch.cdist(x_t.double(), abar.sqrt() * points.double()).pow(2)  # (B, N)
    x0_mean = torch.softmax(-d2 / (2 * (1 - abar)), 1) @ points.double()  # (B, D)
    return ((x_t - abar.sqrt() * x0_mean) / (1 - abar).sqrt()).float()


# %%
score = {}
for i in levels:
    ab, t = sched_2d.alpha_bars[i].double(), torch.full((len(x_held),), i)
    best = eps_star(xt_held[i], x_moons, ab)
    with torch.no_grad():
        learned = mlp(xt_held[i], t)
    gauss = (1 - ab).sqrt().float() * xt_held[i]  # -sqrt(1 - ᾱ) * (score of N(0, I))
    score[i] = [F.mse_loss(v, best).item() for v in (learned, gauss)]
    score[i].append(F.mse_loss(best, e_held).item())  # the best possible ε-loss
    print(
        f"t = {i + 1:3d}: |ε_θ - ε*|² {score[i][0]:.4f}, Gaussian baseline "
        f"{score[i][1]:.4f}; best ε-loss {score[i][2]:.3f} (model {loss_at[i]:.3f})"
    )

# %% tags=["hide-cell"]
assert score[levels[1]][0] < 0.25 * score[levels[1]][1], score  # ᾱ = 0.5
for i in levels:
    assert abs(loss_at[i] - score[i][2]) < 0.05, (loss_at[i], score[i])

# %% [markdown]
# At the middle noise level the learned score is several times closer to the
# exact one than the Gaussian's is; at the largest $t$, $p_t$ is nearly that
# Gaussian itself, and both are close to exact. At every level the model's
# ε-loss lies within 0.05 of the best attainable value $\mathbb{E}\|\varepsilon
# - \varepsilon^*\|^2$ (the hidden check asserts both; at the smallest $t$ the
# 4,000-point mixture only approximates the smooth data, so there the model
# can even come out slightly below it), and the best value is largest at the
# smallest $t$: the irreducible loss is where the argument above put it.
#
# The score view also explains the next sampler. The forward process has a
# deterministic twin, the *probability-flow ODE* $\mathrm{d}x/\mathrm{d}t =
# -\tfrac12 \beta(t)\,\big(x + \nabla \log p_t(x)\big)$, whose solutions carry
# $p_T$ back to $p_0$ with the same marginals {cite}`song2021score`. Solve it
# from noise to data with the learned score and you get a sampler with no
# noise at all; DDIM, next, is such a solver.
#
# ## DDIM: fewer, deterministic steps
#
# Song, Meng and Ermon {cite}`song2021denoising` observed that the training
# objective {eq}`eq-eps-loss` only involves the marginals $q(x_t \mid x_0)$,
# which many non-Markovian processes share. Their DDIM sampler estimates the
# clean point by {eq}`eq-x0-hat`, then jumps to an earlier time $\tau' <
# \tau$ of a short sub-sequence $\tau_1 > \tau_2 > \dots$ of the $T$ steps,
# keeping the predicted noise:
#
# $$
# x_{\tau'} = \sqrt{\bar\alpha_{\tau'}}\,\hat x_0
# + \sqrt{1-\bar\alpha_{\tau'} - \sigma^2}\;\varepsilon_\theta(x_\tau, \tau) + \sigma z,
# $$ (eq-ddim)
#
# with $\sigma = \eta\sqrt{(1-\bar\alpha_{\tau'})/(1-\bar\alpha_\tau)}
# \sqrt{1-\bar\alpha_\tau/\bar\alpha_{\tau'}}$. With $\eta = 1$ and every
# step, $\sigma^2 = \tilde\beta_t$ and the update is the DDPM step; with
# $\eta = 0$ it is deterministic — the same $x_T$ always gives the same
# sample — and it is a discretization of the probability-flow ODE. When
# $\hat x_0$ is clamped, the noise is recomputed to match it.


# %% tags=["dlbook:diffusion"]
def ddim_step(x0, eps, abar, ab_next, eta=0.0, z=None):
    """One DDIM jump from ᾱ to ᾱ' = ab_next: √ᾱ' x̂_0 + √(1-ᾱ'-σ²) ε + σ z."""
    sigma = eta * ((1 - ab_next) / (1 - abar)).sqrt() * (1 - abar / ab_next).sqrt()
    x = ab_next.sqrt() * x0 + (1 - ab_next - sigma**2).clamp(min=0).sqrt() * eps
    return x if z is None else x + sigma * z


# %% tags=["dlbook:diffusion"]
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


# %% [markdown]
# If DDIM with $\eta = 0$ solves an ODE, its end points should converge as the
# steps shrink. We run it from the same 2,000 noise points with 10, 50 and
# all 200 steps, clamping $\hat x_0$ to $[-3, 3]$ (a box that holds the
# standardized data; at the first step $\bar\alpha_T$ is nearly zero and
# {eq}`eq-x0-hat` divides by its square root):

# %%
ode = {
    n: ddim_sample(mlp, noise_2d, sched_2d, steps=n, clip=3.0) for n in (10, 50, 200)
}
gap = {n: (ode[n] - ode[200]).norm(dim=1).mean().item() for n in (10, 50)}
print(
    f"mean distance to the 200-step end point: 10 steps {gap[10]:.3f}, "
    f"50 steps {gap[50]:.3f}"
)

# %% tags=["hide-cell"]
assert gap[50] < 0.5 * gap[10], gap

# %% [markdown]
# The end points move towards the 200-step solution as the steps get finer,
# as a convergent ODE solver's do. In a few steps, though, the discretization
# error is large; the next section measures what that costs.
#
# ## Flow matching
#
# If a deterministic path from noise to data is what we want, why not choose
# the simplest path and learn its velocity directly? *Flow matching*
# {cite}`lipman2023flow`, in its *rectified flow* form {cite}`liu2023flow`,
# joins each data point to a noise draw by a straight line and trains a
# network $v_\theta$ to predict the velocity along it:
#
# $$
# x_s = (1-s)\, x_0 + s\,\varepsilon,\qquad
# L(\theta) = \mathbb{E}_{x_0,\, s,\, \varepsilon}\,
# \big\| (\varepsilon - x_0) - v_\theta(x_s, s) \big\|^2,
# $$ (eq-flow-matching)
#
# with $s$ uniform on $[0, 1]$. Sampling integrates $\mathrm{d}x/\mathrm{d}s =
# v_\theta(x, s)$ from $s = 1$ (noise) to $s = 0$ with Euler steps. The same
# MLP serves, with $1000\,s$ as its time input:


# %% tags=["dlbook:diffusion"]
def fm_loss(model, x0, generator=None):
    """Rectified flow: regress v(x_s, s) on ε - x_0 along x_s = (1 - s) x_0 + s ε."""
    check.tensor(x0, "x0", floating=True)
    s = torch.rand(len(x0), device=x0.device, generator=generator)  # (B,) in [0, 1)
    eps = torch.randn(x0.shape, device=x0.device, generator=generator)  # (B, …)
    x_s = (1 - bcast(s, x0)) * x0 + bcast(s, x0) * eps  # a point on the straight path
    return F.mse_loss(model(x_s, 1000 * s, None), eps - x0)  # time scaled as t


# %% tags=["dlbook:diffusion"]
@torch.no_grad()
def fm_sample(model, x_T, steps):
    """Euler steps of dx/ds = v(x, s) from s = 1 (the noise x_T) down to s = 0."""
    check.tensor(x_T, "x_T", floating=True)
    x, ds = x_T, 1.0 / check.positive(steps, "steps", integer=True)
    for k in range(steps, 0, -1):
        s = torch.full((len(x),), k * ds, device=x.device)  # (B,)
        x = x - ds * model(x, 1000 * s, None)  # one Euler step towards s = 0
    return x


# %%
flow, flow_losses = train_points(lambda m, x: fm_loss(m, x), cfg.moon_steps)

# %% [markdown]
# We sample the flow from the same 2,000 noise points, and the diffusion model
# by DDIM with $\eta = 0$ and $\eta = 1$, each with the same number of network
# evaluations:

# %%
nfe_mmd = {}
for n in (10, 50):  # network evaluations per sample
    g = torch.Generator().manual_seed(4)
    ddim1 = ddim_sample(
        mlp, noise_2d, sched_2d, steps=n, eta=1.0, clip=3.0, generator=g
    )
    runs = {"DDIM η=0": ode[n], "DDIM η=1": ddim1}
    runs["flow matching"] = fm_sample(flow, noise_2d, n)
    for name, pts in runs.items():
        nfe_mmd[name, n] = mmd.mmd2(pts, x_held)
    print(
        f"{n} evaluations: "
        + ", ".join(f"{k} MMD² {v:.4f}" for (k, m), v in nfe_mmd.items() if m == n)
    )

# %% tags=["hide-cell"]
for n in (10, 50):
    assert nfe_mmd["flow matching", n] < nfe_mmd["DDIM η=0", n], nfe_mmd
assert nfe_mmd["flow matching", 50] < mmd_noise / 4, nfe_mmd

# %% [markdown]
# At equal numbers of network evaluations, 10 and 50, the flow-matching
# model's samples are closer to the data than those of deterministic DDIM on
# the diffusion model (the hidden check asserts both), and at 50 evaluations
# their MMD² is below a quarter of the noise's (asserted). The stochastic
# sampler ($\eta = 1$) lies in between here: its fresh noise corrects part of
# the error of the large steps. Straight paths are easier to integrate with
# few large steps, which is one reason recent image and video generators
# train this way.
#
# ## A U-Net for images
#
# For images the noise model must map an image to an image of the same size,
# and it must see both fine detail and the whole picture. The U-Net of
# Ronneberger et al. {cite}`ronneberger2015unet` does exactly this: a
# downsampling path of convolutions that halves the resolution, an upsampling
# path that doubles it again, and *skip connections* that hand each
# resolution's features from the way down to the way up. Diffusion models
# build it from residual blocks ({ref}`ch-cnn-architectures`) with group
# normalization, and add the embedding of $t$ — and of the class label, for a
# conditional model — to the features inside every block, so that each layer
# knows how noisy its input is. The block:


# %% tags=["dlbook:unet"]
class ResBlock(nn.Module):
    """Two GroupNorm-SiLU-conv stages, the embedding added in between, and a skip."""

    def __init__(self, c_in, c_out, emb_dim):
        super().__init__()
        for name, v in (("c_in", c_in), ("c_out", c_out), ("emb_dim", emb_dim)):
            check.positive(v, name, integer=True)
        self.norm1 = nn.GroupNorm(min(8, c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)  # one shift per channel
        self.norm2 = nn.GroupNorm(min(8, c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()


# %% [markdown]
# Its forward pass, attached to the class with `add_to_class` as in
# {ref}`ch-autodiff`, adds the embedding between the two convolutions:


# %% tags=["dlbook:unet"]
@add_to_class(ResBlock)
def forward(self, x, emb):  # x: (B, c_in, H, W), emb: (B, emb_dim)
    h = self.conv1(F.silu(self.norm1(x)))  # (B, c_out, H, W)
    h = h + self.emb(emb)[:, :, None, None]  # the same shift at every pixel
    h = self.conv2(F.silu(self.norm2(h)))
    return h + self.skip(x)  # (B, c_out, H, W)


# %% [markdown]
# `dlbook.unet.UNet` assembles these blocks, passed in as `block=ResBlock`:
# a first convolution; per resolution one block, then a stride-2
# convolution; a middle block; on the way up one block per resolution on the
# concatenation of the upsampled features and the skip; a last convolution
# back to the image's channels. The time embedding (sinusoidal, then a small
# MLP) and the class embedding are summed into one vector that every block
# receives. The last convolution starts at zero, so the untrained model
# predicts no noise. The class embedding has one extra row, the "no class"
# label $\varnothing$, for classifier-free guidance (below).
# {numref}`fig-diffusion-unet` draws the whole network.

# %% [markdown]
# :::{figure} ../figs/unet.svg
# :name: fig-diffusion-unet
# :alt: A U shape of orange ResBlocks: down the left at 28x28, 14x14 and 7x7, a middle block at 7x7, up the right, with horizontal copy-and-concatenate arrows between matching levels; at the top the input x_t goes through a 3x3 conv, a time-embedding box, and the output GN, SiLU, conv to the predicted noise. Below, a ResBlock: GN, SiLU, conv; plus Linear of the embedding; GN, SiLU, conv; plus the input.
# :width: 100%
# The noise model `UNet` with three resolutions (the gpu profile's channels (64, 128, 128) on 28x28 images; the cpu profile uses two resolutions and `patch=2`). The down path halves the resolution with stride-2 convolutions, the up path doubles it (nearest, then a 3x3 convolution) and concatenates the features from the way down; the embedding of $t$ (and of the class) is added inside every ResBlock (small orange dots). Bottom: a ResBlock.
# :::

# %% [markdown]
# We load the images, scale them to $[-1, 1]$, and check the network's
# shapes.

# %%
if cfg.images == "digits":  # smoke profile: scikit-learn's 8x8 digits, values 0..16
    ds = data.load_digits()
    img01, labels = ds.x.float()[:, None] / 16, ds.y
    test01, test_labels = img01[-300:], labels[-300:]  # held out for the judges
    img01, labels = img01[:-300], labels[:-300]
else:
    ds = data.load_fashion_mnist("train")
    img01, labels = data.to_float(ds.x), ds.y
    test = data.load_fashion_mnist("test")
    test01, test_labels = data.to_float(test.x), test.y
class_names, num_classes = ds.classes, len(ds.classes)
x_img, y_img = (img01 * 2 - 1).to(device), labels.to(device)  # (N, 1, H, W), [-1, 1]
sched = diff.Schedule.from_betas(cosine_betas(cfg.T)).to(device)

# %%
prec = Precision(device)  # the book's mixed precision: bfloat16/float16 on GPUs
torch.manual_seed(0)
unet = UNet(1, cfg.channels, num_classes=num_classes, patch=cfg.patch, block=ResBlock)
unet = unet.to(device)
if prec.dtype is not None:  # 16-bit convolutions are fastest channels-last
    unet = unet.to(memory_format=torch.channels_last)
with torch.no_grad():
    out = unet(x_img[:4], torch.tensor([0, 1, 2, 3], device=device), y_img[:4])
n_params = sum(p.numel() for p in unet.parameters())
print(
    f"{ds.name}: {tuple(x_img.shape)} images; U-Net out {tuple(out.shape)}, "
    f"{n_params:,} parameters"
)

# %% tags=["hide-cell"]
assert out.shape == x_img[:4].shape and float(out.abs().max()) == 0.0  # zero init

# %% [markdown]
# We train one class-conditional model and use it for everything below. With
# probability $0.1$ the label of a training image is replaced by
# $\varnothing$, so the same network also learns the unconditional noise
# prediction. `diff.train_denoiser` is the loop of the two-moons section with
# what images need: AdamW with a short warm-up and a cosine decay, random
# mini-batches, the book's mixed precision on a GPU, and an exponential moving
# average (EMA) of the weights, $\bar\theta \leftarrow d\,\bar\theta +
# (1-d)\,\theta$, from which we sample.

# %%
t0 = time.perf_counter()
train_kw = dict(batch_size=cfg.batch, lr=cfg.lr, ema_decay=cfg.ema, amp=True)
dropout = dict(y=y_img, p_uncond=0.1, num_classes=num_classes)  # for guidance
ema_unet, img_losses = diff.train_denoiser(
    unet, x_img, sched, steps=cfg.img_steps, **dropout, **train_kw
)
train_seconds = dlbook.report(
    "U-Net training time", time.perf_counter() - t0, fmt=".1f", unit="s"
)
k = max(1, cfg.img_steps // 10)
loss_first, loss_last = sum(img_losses[:k]) / k, sum(img_losses[-k:]) / k
print(f"ε-loss: first {k} steps {loss_first:.3f}, last {k} steps {loss_last:.3f}")

# %% tags=["hide-cell"]
assert loss_last < 0.5 * loss_first, (loss_first, loss_last)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The U-Net's \u03b5-loss during training (moving average over a tenth of the steps, log scale).", "name": "fig-diffusion-unet-loss"}, "image": {"alt": "A loss curve that falls steeply in the first tenth of the steps and then slowly."}}
fig, ax = plot.subplots(width=7, height=3.0)
smooth = torch.tensor(img_losses).unfold(0, k, 1).mean(1).tolist()
plot.curves(
    ax,
    {"ε-loss (moving average)": smooth},
    x=range(k, len(img_losses) + 1),
    xlabel="optimizer step",
    ylabel="mean squared error",
    logy=True,
    title=f"U-Net training ({session.profile} profile)",
)
plot.show(fig)

# %% [markdown]
# {numref}`fig-diffusion-unet-loss` shows the loss falling. We sample from
# the EMA model, as is standard. Whether averaging helps depends on the run:
# here the learning rate decays to zero, which already quiets the last steps.
# The held-out ε-loss of both, with the same $t$ and $\varepsilon$, shows
# where this run stands:

# %%
x_test_img = (test01[:512] * 2 - 1).to(device)
y_test_img = test_labels[:512].to(device)


def held_out_loss(model):
    g = torch.Generator(device).manual_seed(6)
    with torch.no_grad(), prec.autocast():
        return eps_loss(model, x_test_img, sched, y_test_img, generator=g).item()


unet.eval()
print(
    f"held-out ε-loss: EMA weights {held_out_loss(ema_unet):.4f}, "
    f"last weights {held_out_loss(unet):.4f}"
)

# %% [markdown]
# ## Sampling images: DDPM and DDIM
#
# Both samplers clamp $\hat x_0$ to $[-1, 1]$, the range of the data. We draw
# the same 24 unconditional samples (label $\varnothing$) with both, from the
# same starting noise.


# %%
def to01(x):
    return ((x.float() + 1) / 2).clamp(0, 1).cpu()


def clock() -> float:
    """Seconds, once queued GPU work has finished (a GPU runs asynchronously)."""
    synchronize(device)
    return time.perf_counter()


def timed(sampler, *args, **kwargs):
    """Run a sampler in the book's precision; return its result and the seconds."""
    t0 = clock()
    with prec.autocast():
        out = sampler(*args, **kwargs)
    return out, clock() - t0


# %%
H, W = x_img.shape[-2:]
null = torch.full((24,), num_classes, device=device)
x_T = torch.randn(
    24, 1, H, W, device=device, generator=torch.Generator(device).manual_seed(1)
)
keep = tuple(round(v) for v in torch.linspace(cfg.T - 1, 0, 8).tolist())

# %%
kw = dict(y=null, clip=1.0)  # unconditional, x̂_0 clamped to [-1, 1]
g = torch.Generator(device).manual_seed(2)
(ddpm_imgs, trajectory), ddpm_s = timed(
    ddpm_sample, ema_unet, x_T, sched, keep=keep, generator=g, **kw
)
ddim_imgs, ddim_s = timed(ddim_sample, ema_unet, x_T, sched, steps=cfg.ddim_steps, **kw)
ddim_again, _ = timed(ddim_sample, ema_unet, x_T, sched, steps=cfg.ddim_steps, **kw)

# %%
ddpm_seconds = dlbook.report(
    f"DDPM sampling, {cfg.T} steps, 24 images", ddpm_s, fmt=".2f", unit="s"
)
ddim_seconds = dlbook.report(
    f"DDIM sampling, {cfg.ddim_steps} steps, 24 images", ddim_s, fmt=".2f", unit="s"
)
print(
    f"DDIM is {ddpm_seconds / ddim_seconds:.1f}x faster; same noise twice -> "
    f"largest difference {(ddim_imgs - ddim_again).abs().max():.2e}"
)


# %% tags=["hide-cell"]
# eta = 0 is deterministic: bit for bit on a CPU. A GPU may pick other
# convolution kernels (another summation order) for the same call, and under
# bfloat16 autocast (8 bits of mantissa, relative rounding 2^-8 = 0.004) such
# an ordering difference in one ε-prediction can flip a rounding step; carried
# through cfg.ddim_steps steps of a contracting sampler it stays well below
# 1e-2 on pixels in [-1, 1], while a sampler that drew fresh noise (eta > 0,
# or DDPM) differs by O(1) -- so 1e-2 still tells the two apart.
if device.type == "cpu":
    assert torch.equal(ddim_imgs, ddim_again)
else:
    assert torch.allclose(ddim_imgs, ddim_again, atol=1e-2)
assert ddim_seconds < ddpm_seconds

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Unconditional samples of the DDPM sampler (all T steps).", "name": "fig-diffusion-ddpm-grid"}, "image": {"alt": "Three rows of eight generated images (digits in the smoke profile, garments otherwise)."}}
fig, ax = plot.subplots(width=7, height=2.9)
plot.image_grid(ax, to01(ddpm_imgs), ncols=8, vrange=(0, 1))
ax.set_title(f"DDPM, {cfg.T} steps ({ddpm_seconds:.1f} s), {session.profile} profile")
plot.show(fig)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The same starting noise, sampled by DDIM with \u03b7 = 0 in a few dozen steps.", "name": "fig-diffusion-ddim-grid"}, "image": {"alt": "Three rows of eight generated images from the same noise as the DDPM grid; different images, similar in kind."}}
fig, ax = plot.subplots(width=7, height=2.9)
plot.image_grid(ax, to01(ddim_imgs), ncols=8, vrange=(0, 1))
ax.set_title(
    f"DDIM (η = 0), {cfg.ddim_steps} steps ({ddim_seconds:.1f} s), "
    f"{session.profile} profile"
)
plot.show(fig)

# %% [markdown]
# {numref}`fig-diffusion-ddpm-grid` and {numref}`fig-diffusion-ddim-grid`
# start from the same noise, but the DDPM chain adds fresh noise at every
# step, so the two samplers end at different images. DDIM needs a fraction of
# the network evaluations, as the timings show. The trajectory of the DDPM
# chain, {numref}`fig-diffusion-trajectory`, shows how an image appears:
# coarse shape first, then detail.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "DDPM trajectories of six images, from noise (left) to the sample (right).", "name": "fig-diffusion-trajectory"}, "image": {"alt": "Six rows of eight images each: noise on the left, a blurry shape in the middle columns, a clean image on the right."}}
rows = torch.stack([trajectory[i][:6] for i in keep[1:]] + [ddpm_imgs[:6]], 1)
fig, ax = plot.subplots(width=7, height=5.6)
plot.image_grid(
    ax, to01(rows.flatten(0, 1).clamp(-1, 1)), ncols=len(keep), vrange=(0, 1)
)
ax.set_title(f"left to right t = {', '.join(str(i + 1) for i in keep[1:])}, 0")
plot.show(fig)

# %% [markdown]
# ## Classifier-free guidance
#
# A conditional model $\varepsilon_\theta(x_t, t, y)$ samples images of class
# $y$, but often with weak class features. Ho and Salimans
# {cite}`ho2021classifierfree` sharpen them without any extra classifier:
# because label dropout taught the same network the unconditional prediction
# $\varepsilon_\theta(x_t, t, \varnothing)$, we can extrapolate away from it,
#
# $$
# \tilde\varepsilon_\theta(x_t, t, y) = (1 + w)\,\varepsilon_\theta(x_t, t, y)
# - w\,\varepsilon_\theta(x_t, t, \varnothing),
# $$ (eq-cfg)
#
# and use $\tilde\varepsilon$ in any sampler. In the score view
# $\tilde\varepsilon$ is the score of $p_t(x \mid y)\,p_t(y \mid x)^w$: it
# leans towards images the model finds typical of $y$. The weight $w \ge 0$
# trades diversity for class fidelity; $w = 0$ is the plain conditional
# model. Each step costs two network evaluations (one batch of twice the
# size); `diff.guided(model, w, null_class)` wraps a model with it for the
# samplers.


# %% tags=["dlbook:diffusion"]
def guided_eps(model, x, t, y, w, null_class):
    """Classifier-free guidance: (1 + w) ε(x, t, y) - w ε(x, t, ∅); plain if w = 0."""
    if w == 0 or y is None:
        return model(x, t, y)
    null = check.number(null_class, "null_class", low=0, integer=True)
    y2 = torch.cat([y, torch.full_like(y, null)])  # (2B,): labels, then ∅
    both = model(torch.cat([x, x]), torch.cat([t, t]), y2).to(x.dtype)  # (2B, …)
    cond, uncond = both.chunk(2)  # combined in x's float32: w amplifies bf16 rounding
    return (1 + w) * cond - w * uncond


# %% [markdown]
# Does a conditional sample show the class that was asked for? The book's
# classifier answers: we draw `n_per_class` samples per class, with guidance
# and without ($w = 0$), from the same starting noise, and count how many it
# recognises as the requested class (chance: 0.1).

# %%
if cfg.images == "digits":
    judge = frechet.train_classifier(img01, labels, epochs=8, device=device)
    judge_acc = frechet.classifier_accuracy(judge, test01, test_labels)
else:
    judge, judge_acc = frechet.fashion_classifier(
        cfg.clf_n, epochs=cfg.clf_epochs, device=device, test=test
    )
judge_acc = dlbook.report(
    f"judge classifier test accuracy ({ds.name})", judge_acc, fmt=".4f"
)

# %%
y_eval = torch.arange(num_classes, device=device).repeat_interleave(cfg.n_per_class)
g_eval = torch.Generator(device).manual_seed(4)
x_eval = torch.randn(len(y_eval), 1, H, W, device=device, generator=g_eval)

# %%
samples, recognized = {}, {}
for w in (0.0, cfg.w):
    model_w = functools.partial(guided_eps, ema_unet, w=w, null_class=num_classes)
    out, _ = timed(
        ddim_sample, model_w, x_eval, sched, steps=cfg.ddim_steps, y=y_eval, clip=1.0
    )
    samples[w] = to01(out)
    hit = frechet.predict(judge, samples[w]) == y_eval.cpu()
    recognized[w] = dlbook.report(
        f"classifier recognizes the requested class, w = {w}",
        hit.float().mean().item(),
        fmt=".3f",
    )

# %% tags=["hide-cell"]
assert judge_acc > 0.7
assert recognized[cfg.w] >= cfg.min_class_acc, (recognized, cfg.min_class_acc)
assert recognized[cfg.w] > recognized[0.0], recognized

# %% [markdown]
# Guidance raises the share of samples the classifier recognises over the
# unguided $w = 0$ (the hidden check asserts it, in every profile), and the
# guided share is well above chance. {numref}`fig-diffusion-guided` shows the
# first guided samples of each class.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Guided samples, one row per requested class.", "name": "fig-diffusion-guided"}, "image": {"alt": "Ten rows of eight generated images; each row shows one class."}}
n_show = min(8, cfg.n_per_class)
grid = samples[cfg.w].reshape(num_classes, cfg.n_per_class, 1, H, W)[:, :n_show]
fig, ax = plot.subplots(width=7, height=7.5)
plot.image_grid(ax, grid.flatten(0, 1), ncols=n_show, vrange=(0, 1))
ax.set_title(
    f"DDIM {cfg.ddim_steps} steps, guidance w = {cfg.w} ({session.profile} profile)"
)
for r, name in enumerate(class_names):
    ax.text(-2, 2 + r * (H + 2) + H / 2, name, ha="right", va="center", fontsize=9)
plot.show(fig)

# %% [markdown]
# The images come from a U-Net of the size printed above; the systems that
# made diffusion famous scale the same recipe up. *Latent diffusion*
# {cite}`rombach2022high` runs the diffusion in the latent space of a
# pretrained autoencoder (as in {ref}`ch-autoencoders`), which makes
# high-resolution images affordable, and conditions on text through
# cross-attention. *Diffusion transformers* {cite}`peebles2023scalable`
# replace the U-Net by a Vision Transformer on patches of that latent
# ({ref}`ch-attention`) — our `patch` option is a small cousin of that
# patchification.
#
# ## Evaluation: Fréchet and kernel distances
#
# The Fréchet distance {cite}`heusel2017gans` fits a Gaussian to the
# classifier's features of each image set and reports the squared
# 2-Wasserstein distance $W_2^2$ between the two Gaussians. Its estimate is
# biased upwards at small sample sizes, so even two sets of real images are
# not at zero. The *kernel inception distance* (KID)
# {cite}`binkowski2018demystifying` is the unbiased MMD² of {ref}`ch-gans`
# with a cubic kernel $k(a, b) = (a^\top b / D + 1)^3$ on the same features:
# its floor is zero at any sample size. We compute both for the guided
# samples and two reference sets: a Gaussian fitted to the training pixels
# (mean and full covariance) — a generator that knows second-order statistics
# and nothing else — and a second set of real test images.

# %%
n_fd = len(samples[cfg.w])
pixels = img01.flatten(1).double()
gauss = torch.distributions.MultivariateNormal(
    pixels.mean(0), torch.cov(pixels.T) + 1e-4 * torch.eye(pixels.shape[1])
)
torch.manual_seed(5)
gauss_imgs = gauss.sample((n_fd,)).float().clamp(0, 1).reshape(n_fd, 1, H, W)
perm = torch.randperm(len(test01))
real_a, real_b = test01[perm[:n_fd]], test01[perm[n_fd : 2 * n_fd]]
f_real = frechet.embed(judge, real_a)


def fd_kid(imgs):
    """Fréchet distance and KID of the judge's features of imgs to those of real_a."""
    feats = frechet.embed(judge, imgs)
    return frechet.frechet_distance(feats, f_real), mmd.kid(feats, f_real)


# %%
candidates = {
    "diffusion samples": samples[cfg.w],
    "Gaussian fitted to pixels": gauss_imgs,
    "real test images": real_b,
}
fd, kid = {}, {}
for name, imgs in candidates.items():
    fd_i, kid_i = fd_kid(imgs)
    fd[name] = dlbook.report(f"FD to real test images: {name}", fd_i, fmt=".2f")
    kid[name] = dlbook.report(f"KID to real test images: {name}", kid_i, fmt=".4f")

# %% tags=["hide-cell"]
assert fd["real test images"] < fd["Gaussian fitted to pixels"]
assert kid["real test images"] < kid["Gaussian fitted to pixels"]
assert abs(kid["real test images"]) < 0.1 * kid["Gaussian fitted to pixels"], kid
if session.profile != "smoke":
    assert fd["diffusion samples"] < fd["Gaussian fitted to pixels"], fd
    assert kid["diffusion samples"] < kid["Gaussian fitted to pixels"], kid

# %% [markdown]
# The ordering to look for is real images lowest, the diffusion samples
# between them and the Gaussian baseline (the hidden check asserts it in the
# cpu and gpu profiles; with the 8x8 digits of the smoke profile the short
# training gives no guarantee). The real-vs-real Fréchet distance is well above
# zero — its small-sample bias — while the real-vs-real KID is near zero, a
# small fraction of the Gaussian's (asserted): at a few hundred images KID is
# the fairer yardstick. Compare the numbers with each other, not with
# published FID values, which use Inception features and 50,000 images.
# {numref}`fig-diffusion-eval` shows the three sets.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The three image sets compared with the real test images, with their Fr\u00e9chet distances.", "name": "fig-diffusion-eval"}, "image": {"alt": "Three grids of 24 images: guided diffusion samples, noisy Gaussian samples, and real test images."}}
fig, axes = plot.subplots(1, 3, width=7, height=3.0)
for ax, (name, imgs) in zip(axes, candidates.items()):
    plot.image_grid(ax, imgs[:: max(1, n_fd // 24)][:24], ncols=6, vrange=(0, 1))
    ax.set_title(f"{name}\nFD {fd[name]:.1f}, KID {kid[name]:.3f}", fontsize=9)
plot.show(fig)

# %% [markdown]
# ## Flow matching for images
#
# The straight paths of {eq}`eq-flow-matching` need nothing specific to points.
# We train a second U-Net, of the same architecture and with the same
# optimizer settings (`train_kw`), as a velocity field with `fm_loss`, and
# sample it with `fm_sample`. To compare like with like it is class-conditional
# as well; `fm_loss` and `fm_sample` call the model without labels, so a small
# wrapper binds them.


# %%
def with_labels(model, y):
    """The model with labels y (B,) bound, for code that calls it without them."""
    return lambda x, t, _: model(x, t, y)


def fm_loss_labeled(model, x0, y, generator):  # the loss_fn of train_denoiser
    return fm_loss(with_labels(model, y), x0, generator)


# %%
torch.manual_seed(0)
flow_unet = UNet(
    1, cfg.channels, num_classes=num_classes, patch=cfg.patch, block=ResBlock
)
flow_unet = flow_unet.to(device)
if prec.dtype is not None:
    flow_unet = flow_unet.to(memory_format=torch.channels_last)

# %% [markdown]
# It trains for `fm_steps` optimizer steps: as many as the denoiser in the cpu
# and gpu profiles, half as many in the smoke profile (and fewer on a T4), to
# keep within the time budgets. Unlike the denoiser, which met the label
# $\varnothing$ in a tenth of its training examples, it always sees the true
# labels.

# %%
t0 = time.perf_counter()
fm_kw = dict(y=y_img, loss_fn=fm_loss_labeled, steps=cfg.fm_steps)
ema_flow, fm_losses = diff.train_denoiser(flow_unet, x_img, None, **fm_kw, **train_kw)
fm_seconds = dlbook.report(
    "flow U-Net training time", time.perf_counter() - t0, fmt=".1f", unit="s"
)
k_fm = max(1, cfg.fm_steps // 10)
fm_first, fm_last = sum(fm_losses[:k_fm]) / k_fm, sum(fm_losses[-k_fm:]) / k_fm
print(f"flow-matching loss: first {k_fm} steps {fm_first:.3f}, last {fm_last:.3f}")

# %% tags=["hide-cell"]
assert fm_last < 0.5 * fm_first, (fm_first, fm_last)

# %% [markdown]
# Each sampler now draws the `n_per_class` images per class of the guidance
# section, from the same noise `x_eval` and labels `y_eval`, without guidance,
# with 10 and with `ddim_steps` network evaluations per image: Euler steps of
# the flow, and DDIM with $\eta = 0$ and with $\eta = 1$ (the stochastic,
# DDPM-like sampler on the same coarse grid of times) on the denoiser. At
# `ddim_steps` the $\eta = 0$ images are the $w = 0$ samples drawn above.


# %%
def ddim_w0(n, eta=0.0, generator=None):
    """Unguided DDIM images in [0, 1] from x_eval, y_eval, n evaluations each."""
    if n == cfg.ddim_steps and eta == 0:
        return samples[0.0]  # drawn in the guidance section
    kw = dict(steps=n, eta=eta, y=y_eval, clip=1.0, generator=generator)
    return to01(timed(ddim_sample, ema_unet, x_eval, sched, **kw)[0])


# %%
flow_y, img_runs = with_labels(ema_flow, y_eval), {}
for n in (10, cfg.ddim_steps):  # network evaluations per image
    img_runs["DDIM η=0", n] = ddim_w0(n)
    img_runs["DDIM η=1", n] = ddim_w0(n, 1.0, torch.Generator(device).manual_seed(9))
    img_runs["flow matching", n] = to01(timed(fm_sample, flow_y, x_eval, n)[0])

# %% [markdown]
# The table puts the six sets of images next to the two references of the
# previous section, with the share of images the judge recognises as the
# requested class (for the references there is no requested class):

# %%
print(f"{'images':26s} {'NFE':>4s} {'FD':>7s} {'KID':>7s} {'recognized':>10s}")
img_fd, img_kid, img_hit = {}, {}, {}
for (name, n), imgs in img_runs.items():
    img_fd[name, n], img_kid[name, n] = fd_kid(imgs)
    hit = (frechet.predict(judge, imgs) == y_eval.cpu()).float().mean().item()
    img_hit[name, n] = hit
    print(
        f"{name:26s} {n:4d} {img_fd[name, n]:7.2f} {img_kid[name, n]:7.4f} {hit:10.3f}"
    )
for name in ("Gaussian fitted to pixels", "real test images"):
    print(f"{name:26s} {'-':>4s} {fd[name]:7.2f} {kid[name]:7.4f}")

# %% tags=["hide-cell"]
flow_runs = [(k, v) for k, v in img_fd.items() if k[0] == "flow matching"]
if session.profile != "smoke":
    for key, value in flow_runs:
        assert value < fd["Gaussian fitted to pixels"], img_fd
        assert img_kid[key] < kid["Gaussian fitted to pixels"], img_kid
if session.profile == "cpu":
    for (_, n), value in flow_runs:
        for sampler in ("DDIM η=0", "DDIM η=1"):
            assert value < img_fd[sampler, n], img_fd
            assert img_kid["flow matching", n] < img_kid[sampler, n], img_kid
            assert img_hit["flow matching", n] > img_hit[sampler, n], img_hit
    assert img_fd["flow matching", 10] < 1.2 * img_fd["flow matching", cfg.ddim_steps]

# %% [markdown]
# In the cpu and gpu profiles the flow-matching images beat the Gaussian
# baseline by both distances, at 10 evaluations and at `ddim_steps` (the
# hidden check asserts it; the smoke profile's few steps are too few for that,
# and it asserts nothing here). In the cpu profile they also beat every
# unguided sampler of the denoiser at the same number of evaluations, by both
# distances (asserted there), and the judge recognises more of them as their
# class (asserted). Going down from `ddim_steps` evaluations to 10 costs the
# flow little: its Fréchet distance at 10 is within a fifth of that at
# `ddim_steps` (asserted in the cpu profile), as expected of nearly straight
# learned paths, which an Euler step follows exactly.

# %% [markdown]
# ## Summary
#
# ```{admonition} Summary
# :class: important
# - The forward process adds Gaussian noise on a schedule; $q(x_t \mid x_0)$ is Gaussian in closed form, {eq}`eq-q-closed`, so a training pair at any noise level costs one line.
# - A diffusion model trains a network to predict the added noise, {eq}`eq-eps-loss`, a plain regression whose irreducible part sits at small $t$; it samples by drawing each step from the posterior {eq}`eq-posterior` at the predicted $\hat x_0$.
# - Noise prediction is a scaled score; the ε-loss is denoising score matching, Tweedie's formula gives $\hat x_0$, and the learned score matches the exact one on data we can compute it for.
# - DDIM, {eq}`eq-ddim`, reuses the same network to sample deterministically, as a solver of the probability-flow ODE; flow matching, {eq}`eq-flow-matching`, learns straight paths that need fewer evaluations — on two moons, and with a U-Net on images, compared at equal numbers of network evaluations.
# - The noise model for images is a U-Net with time and class embeddings added in every residual block; classifier-free guidance, {eq}`eq-cfg`, raises class fidelity over $w = 0$.
# - Judge generated images against baselines and the real-vs-real floor; at small sample sizes the unbiased KID has a floor of zero where the Fréchet distance does not.
# ```
#
# ## Exercises
#
# **Exercise 1 (the signal-to-noise ratio).** The ratio $\mathrm{SNR}(t) =
# \bar\alpha_t / (1 - \bar\alpha_t)$ measures how much of $x_t$ is signal.
# For $T = 1000$, find the step at which each schedule of the first section
# crosses $\mathrm{SNR} = 1$, and the fraction of steps spent with
# $\mathrm{SNR} < 10^{-2}$ (essentially pure noise).

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Answer: the linear schedule passes SNR = 1 early and spends
# a large share of its steps in near-pure noise; the cosine schedule crosses
# near T/2 (ᾱ = 1/2 where the cosine is 1/√2) and wastes far fewer.
snr = {name: s.alpha_bars / (1 - s.alpha_bars) for name, s in schedules.items()}
for name, v in snr.items():
    cross = int((v < 1).nonzero()[0]) + 1
    print(
        f"{name:6s}: SNR = 1 at t = {cross}; "
        f"fraction of steps with SNR < 0.01: {(v < 1e-2).float().mean():.2f}"
    )
assert (snr["linear"] < 1e-2).float().mean() > (snr["cosine"] < 1e-2).float().mean()
assert abs(int((snr["cosine"] < 1).nonzero()[0]) + 1 - T_plot / 2) < 0.05 * T_plot

# %% [markdown]
# **Exercise 2 (η interpolates).** Sample the two-moons model with DDIM
# ($50$ steps, $\hat x_0$ clamped to $[-3, 3]$) at $\eta = 0$ and $\eta = 1$,
# twice each from the same $x_T$ with different generators. Show that
# $\eta = 0$ repeats itself exactly while $\eta = 1$ does not, and that both
# reproduce the data (MMD² well below that of the noise).

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Answer: with η = 0 the sampler is a deterministic map from noise to data
# (difference exactly 0); with η = 1 fresh noise enters at every step and the
# two runs end at different points, yet both clouds match the data.
xT_2d = torch.randn(2_000, 2, generator=torch.Generator().manual_seed(7))
res = {}
for eta in (0.0, 1.0):
    a, b = (
        ddim_sample(
            mlp,
            xT_2d,
            sched_2d,
            steps=50,
            eta=eta,
            clip=3.0,
            generator=torch.Generator().manual_seed(s),
        )
        for s in (8, 9)
    )
    res[eta] = ((a - b).abs().max().item(), mmd.mmd2(a, x_held))
    print(
        f"eta = {eta}: largest difference between two runs {res[eta][0]:.3f}; "
        f"MMD² to held-out {res[eta][1]:.4f}"
    )
assert res[0.0][0] == 0.0 and res[1.0][0] > 0.1
assert max(res[0.0][1], res[1.0][1]) < mmd_noise / 2

# %% [markdown]
# **Exercise 3 (the price of guidance).** Guidance raised the share of
# recognised samples. What does it cost? Measure the diversity of the
# samples of each class — the mean distance of the classifier's features to
# their class mean — at $w = 0$ and at the chapter's $w$, and say which way
# guidance moves it.


# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Answer: guidance lowers the diversity within each class (the samples crowd
# around their class's typical look) while it raises recognition: the
# trade-off Ho and Salimans describe. Pushed further (try w = 6) the images
# become exaggerated and nearly alike.
def spread(imgs):
    f = frechet.embed(judge, imgs).reshape(num_classes, cfg.n_per_class, -1)
    return (f - f.mean(1, keepdim=True)).norm(dim=2).mean().item()


div = {w: spread(samples[w]) for w in samples}
for w in samples:
    print(f"w = {w}: recognized {recognized[w]:.3f}, within-class spread {div[w]:.2f}")
assert div[cfg.w] < div[0.0], div

# %% [markdown]
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
