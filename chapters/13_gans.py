# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# (ch-gans)=
# # Generative adversarial networks
#
# ```{admonition} Learning objectives
# :class: tip
# After this chapter you can
# - tell density estimation from sampling, and sample a 1-D distribution through its inverse CDF;
# - write the minimax and non-saturating GAN losses and train a generator and a discriminator against each other;
# - recognize mode collapse, measure it (modes covered, MMD) and reduce it with a packed discriminator that keeps up with the generator;
# - build a DCGAN and a class-conditional GAN for Fashion-MNIST following the DCGAN guidelines;
# - evaluate a generator without a likelihood: MMD, a Fréchet distance in the features of a classifier, and how often a classifier recognizes the requested class.
# ```
#
# A classifier learns $p(y \mid x)$: given an image, which class? A
# *generative model* learns about $p(x)$ itself, so that it can produce new
# images that look as if they came from the training set. Chapter
# {ref}`ch-autoencoders` did this with a decoder trained to reconstruct. This
# chapter takes a different road, due to Goodfellow et al.
# {cite}`goodfellow2014generative`: a *generator* turns noise into samples,
# and a second network, the *discriminator*, is trained to tell those samples
# from real data. The generator learns by fooling it. We build the idea up
# from a single coin, through a ring of eight Gaussians where its best-known
# failure shows, to convolutional generators of clothing images, and end with
# the hard question of how to score a model that never states a probability.

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

# %%
import itertools
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlbook import check, data, frechet, gan, plot
from dlbook.gan import check_players
from dlbook.mmd import mmd2
from dlbook.train import Precision, progress_bar

# %% [markdown]
# The profiles differ in how long the GANs train and how wide the image
# networks are; the coin and the 2-D experiments are cheap in every profile.
# `clf_n` and `clf_epochs` select the book's Fashion-MNIST classifier (shared
# with chapters 12 and 14, trained once and cached), which judges the images
# at the end. `*_steps` count parameter updates, `ring_lr` scales the learning
# rates of the ring experiment (which runs on the CPU in every profile), and
# `n_gan` is the number of training images (`None`: all 60,000).

# %%
# fmt: off
cpu_sizes = dict(coin_steps=400, ring_steps=2_500, ring_lr=1, ring_seeds=(0, 1),
    n_gan=12_000, width=16, z_dim=32, batch=64, lr=5e-4, gan_steps=1_200, n_eval=2_000,
    clf_n=12_000, clf_epochs=2, min_class_acc=0.6,
    fd_baseline="Gaussian, full covariance")
cfg = dlbook.config(
    smoke=cpu_sizes | dict(coin_steps=300, ring_steps=850, ring_lr=3, ring_seeds=(0,),
        n_gan=3_000, gan_steps=150, n_eval=1_000, clf_n=3_000, min_class_acc=0.15,
        fd_baseline="Gaussian, independent pixels"),
    cpu=cpu_sizes,
    gpu=cpu_sizes | dict(n_gan=None, width=64, z_dim=64, batch=128, lr=2e-4,
        gan_steps=7_000, n_eval=5_000, clf_n=None, clf_epochs=6, min_class_acc=0.75),
)
# fmt: on
cfg

# %% [markdown]
# ## Density estimation and sampling
#
# Suppose nature hands us examples $x_1, \dots, x_n$ drawn from an unknown
# distribution $p(x)$. There are two things we may want from a model of it.
#
# - **Density estimation:** a formula $p_\theta(x)$ that says how probable any
#   given $x$ is. The empirical distribution of coin tosses — heads in three of
#   five tosses, so $\hat p(\text{heads}) = 0.6$ — is the simplest example;
#   Gaussian mixtures, kernel density estimates and the variational
#   autoencoder of {ref}`ch-autoencoders` are richer ones.
# - **Sampling:** a procedure that *produces* new $x$ whose frequencies follow
#   $p(x)$, without necessarily being able to say how probable a given $x$ is.
#
# The two are different tasks. A GAN is a pure sampler: it gives no density
# at all (an *implicit* model), only a machine $x = G(z)$ that turns random
# noise $z$ into data. That such machines exist is an old fact of
# probability.
#
# ### Inverse transform sampling
#
# Let $F(x) = P(X \le x)$ be the cumulative distribution function (CDF) of a
# 1-D random variable and $U$ uniform on $(0, 1)$. Then
#
# $$
# \begin{aligned}
# X &= F^{-1}(U) \quad\text{has CDF } F,\quad\text{because}\\
# P\big(F^{-1}(U) \le x\big) &= P\big(U \le F(x)\big) = F(x).
# \end{aligned}
# $$ (eq-inverse-transform)
#
# The exponential distribution with rate $\lambda$ has $F(x) = 1 - e^{-\lambda x}$,
# so $F^{-1}(u) = -\ln(1 - u)/\lambda$: a deterministic function that maps
# uniform noise to exponential samples. Its mean is $1/\lambda$ and its
# variance $1/\lambda^2$.

# %%
lam = 2.0
u = torch.rand(200_000, dtype=torch.float64)
x_exp = -torch.log1p(-u) / lam  # F^{-1}(u)
grid = torch.linspace(0, 3, 31, dtype=torch.float64)
empirical_cdf = (x_exp[None, :] <= grid[:, None]).double().mean(1)
cdf_error = (empirical_cdf - (1 - torch.exp(-lam * grid))).abs().max().item()
print(
    f"mean {x_exp.mean():.4f} (target {1 / lam:.4f}); "
    f"variance {x_exp.var():.4f} (target {1 / lam**2:.4f}); "
    f"largest CDF error {cdf_error:.4f}"
)

# %% tags=["remove-cell"]
assert (
    abs(x_exp.mean().item() - 1 / lam) < 0.005
    and abs(x_exp.var().item() - 1 / lam**2) < 0.005
)
# Kolmogorov-Smirnov distance; about 0.003 would already be unusual at this n
assert cdf_error < 0.005

# %% [markdown]
# The sample mean and variance match the targets, and the empirical CDF lies
# within a few thousandths of $F$ everywhere on the grid (a Kolmogorov–Smirnov
# distance). The histogram of {numref}`fig-gans-inverse-cdf` tells the same
# story.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Inverse transform sampling: a histogram of 200,000 samples F^{-1}(u) of uniform noise u against the exponential density with rate 2.", "name": "fig-gans-inverse-cdf"}, "image": {"alt": "A histogram of exponential samples falling from 2 at zero, lying on the black curve of the density."}}
fig, ax = plot.subplots(width=7, height=3.0)
ax.hist(
    x_exp.numpy(),
    bins=80,
    range=(0, 3),
    density=True,
    alpha=0.6,
    label="samples $F^{-1}(u)$",
)
xs = torch.linspace(0, 3, 200).numpy()
ax.plot(
    xs,
    lam * np.exp(-lam * xs),
    "k",
    lw=1.5,
    label=r"density $\lambda e^{-\lambda x}$",
)
ax.set_xlabel("$x$")
ax.set_ylabel("density")
ax.legend()
plot.show(fig)

# %% [markdown]
# Inverse transform sampling needs $F^{-1}$ in closed form, which we never
# have for images. A GAN *learns* a map from noise to data instead — a
# neural network $G_\theta(z)$ that plays the role of $F^{-1}$ — and, because
# the density of real data is unknown too, it learns it from a signal that
# needs no density at all: a classifier that tries to tell real from fake.
#
# ## A GAN for coin tosses
#
# The smallest possible example (the lecture notes' first GAN): nature tosses a
# coin that shows heads ($x = 1$) with probability $0.3$. We observe tosses
# only, and want a generator whose tosses cannot be told apart from them.

# %%
p_heads = 0.3
coins = (torch.rand(10_000) < p_heads).float()  # the training data: 1 = heads
print(f"{len(coins):,} tosses, empirical frequency of heads {coins.mean():.4f}")

# %% [markdown]
# **The generator.** Write the notes' generator $x = G(z; \theta)$ with noise
# $z$ as inverse transform sampling of a Bernoulli variable. With logistic
# noise $\ell = \ln u - \ln(1-u)$ (the inverse CDF of the logistic
# distribution, applied to $u \sim U(0,1)$), the threshold
#
# $$
# G(\ell; \theta) = \mathbb{1}[\theta + \ell > 0], \qquad
# P\big(G = 1\big) = P(\ell > -\theta) = \sigma(\theta),
# $$ (eq-coin-generator)
#
# is a coin with probability $\sigma(\theta)$ of heads; its one parameter
# $\theta$ is a logit. The trouble is the step function: its derivative with
# respect to $\theta$ is zero wherever it exists, so no gradient reaches
# $\theta$. PyTorch agrees — the comparison cuts the graph.

# %%
theta_demo = torch.tensor([0.0], requires_grad=True)
u = torch.rand(5)
hard = (theta_demo + torch.log(u) - torch.log1p(-u) > 0).float()
print(f"hard tosses {hard.tolist()}; do they carry a gradient? {hard.requires_grad}")

# %% [markdown]
# There are three ways around it. (i) Let the discriminator see the
# generator's probability $\sigma(\theta)$ instead of a toss — easy here, but
# not a sampler any more, and impossible for images. (ii) The score-function
# (REINFORCE) estimator, unbiased but noisy. (iii) A *relaxation*: replace the
# step by a steep sigmoid $\sigma((\theta + \ell)/\tau)$ with temperature
# $\tau$ (the binary Concrete or Gumbel-softmax trick
# {cite}`jang2017categorical,maddison2017concrete`). Fed to the discriminator
# directly, relaxed tosses are numbers like 0.93, not 0 or 1, and their mean
# is not exactly $\sigma(\theta)$, so the generator would match the wrong
# target. We use the *straight-through* variant
# {cite}`bengio2013estimating`: the forward pass emits the exact hard toss of
# {eq}`eq-coin-generator`, the backward pass uses the relaxation's gradient.
# The discriminator only ever sees true 0/1 tosses, and the generator still
# gets a direction to move in.


# %%
def toss(theta: torch.Tensor, n: int, tau: float = 0.5) -> torch.Tensor:
    """n coin tosses (n,) with P(heads) = sigmoid(theta); straight-through gradient."""
    u = torch.rand(n)
    logits = theta + torch.log(u) - torch.log1p(-u)  # theta + logistic noise
    hard = (logits > 0).float()  # exact Bernoulli(sigmoid(theta)) tosses
    soft = torch.sigmoid(logits / tau)  # a smooth stand-in for the step
    return hard + soft - soft.detach()  # value of hard, gradient of soft


theta_demo.grad = None
toss(theta_demo, 1000).mean().backward()
print(f"gradient of the mean toss w.r.t. theta: {theta_demo.grad.item():.3f}")

# %% [markdown]
# **The discriminator** $D(x) \in (0, 1)$ is the probability it assigns to
# "$x$ is real". For a coin, logistic regression on the single input suffices:
# $D(x) = \sigma(a x + b)$. **The game.** Goodfellow et al.
# {cite}`goodfellow2014generative` train both with one value function,
#
# $$
# \min_G \max_D \; V(D, G) =
# \mathbb{E}_{x \sim p_\text{data}}\big[\log D(x)\big]
# + \mathbb{E}_{z}\big[\log\big(1 - D(G(z))\big)\big].
# $$ (eq-gan-minimax)
#
# For a fixed generator the best discriminator is
# $D^\ast(x) = p_\text{data}(x) / (p_\text{data}(x) + p_G(x))$, and with it
# $V = -\log 4 + 2\,\mathrm{JSD}(p_\text{data} \,\|\, p_G)$: the generator
# minimizes the Jensen–Shannon divergence to the data, which is zero exactly
# when $p_G = p_\text{data}$ (Exercise 1 checks both on the coin). The
# discriminator's half of {eq}`eq-gan-minimax` is the binary cross-entropy of
# a real-versus-fake classifier. For the generator, $\log(1 - D(G(z)))$ is
# flat when the discriminator confidently rejects the fakes — exactly the
# situation at the start of training — so in practice the generator instead
# minimizes the *non-saturating* loss
#
# $$
# \mathcal{L}_G = -\,\mathbb{E}_{z}\big[\log D(G(z))\big],
# $$ (eq-gan-nonsat)
#
# which has the same fixed point but strong gradients when $D(G(z))$ is small
# (Exercise 2). Training alternates one step of each player.

# %%
theta = torch.zeros(1, requires_grad=True)  # generator: P(heads) = sigmoid(0) = 0.5
ab = torch.zeros(2, requires_grad=True)  # discriminator: logit a * x + b
opt_g = torch.optim.Adam([theta], lr=0.05, betas=(0.5, 0.999))
opt_d = torch.optim.Adam([ab], lr=0.05, betas=(0.5, 0.999))
scheds = [
    torch.optim.lr_scheduler.CosineAnnealingLR(o, cfg.coin_steps)
    for o in (opt_g, opt_d)
]

# %% [markdown]
# Each step draws a batch of real tosses and a batch of generated ones, updates
# the discriminator on both, then the generator through the discriminator's
# verdict on its own tosses.

# %%
n_toss = 1_024  # tosses per step and player; frequencies vary by sqrt(0.21 / n_toss)
ones, zeros, freq = torch.ones(n_toss), torch.zeros(n_toss), []
bce = F.binary_cross_entropy_with_logits
for _ in range(cfg.coin_steps):
    real, fake = coins[torch.randint(len(coins), (n_toss,))], toss(theta, n_toss)
    d_loss = bce(ab[0] * real + ab[1], ones) + bce(ab[0] * fake.detach() + ab[1], zeros)
    opt_d.zero_grad(), d_loss.backward(), opt_d.step()
    g_loss = bce(ab[0] * fake + ab[1], ones)  # non-saturating: -log D(G(z))
    opt_g.zero_grad(), g_loss.backward(), opt_g.step()
    [s.step() for s in scheds]
    freq.append(torch.sigmoid(theta).item())
p_learned = dlbook.report("coin GAN: learned P(heads)", freq[-1], fmt=".4f")

# %% tags=["remove-cell"]
assert abs(p_learned - p_heads) < 0.03, p_learned

# %% [markdown]
# The learned probability of heads printed above lies within 0.03 of the true
# 0.3 — the check of this section. The generator never saw the number 0.3; it
# only learned to make tosses the discriminator could not tell apart.
# {numref}`fig-gans-coin` shows how: the frequency overshoots and oscillates
# around the target, the typical dynamics of a two-player game, and settles as
# the learning rates decay (a cosine schedule, {ref}`ch-optimization`).

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The coin GAN: the generator's probability of heads during training, against the data's 0.3.", "name": "fig-gans-coin"}, "image": {"alt": "A curve starting at 0.5 that overshoots below 0.3, oscillates and settles on the dashed line at 0.3."}}
fig, ax = plot.subplots(width=7, height=3.0)
plot.curves(ax, {"generator": freq}, xlabel="training step", ylabel="P(heads)")
ax.axhline(p_heads, color="k", ls="--", lw=1, label="data (0.3)")
ax.set_ylim(0, 0.6)
ax.legend()
plot.show(fig)


# %% [markdown]
# ## Mode collapse on a ring of Gaussians
#
# A coin has one parameter to get right. Real data have many *modes* —
# separate regions of high probability, like the different garments of
# Fashion-MNIST — and a GAN's best-known failure is to cover only some of
# them: *mode collapse* {cite}`goodfellow2016nips`. The generator finds an
# output the discriminator currently accepts and sends all its noise there;
# the discriminator learns to reject that region; the generator moves on. A
# ring of eight narrow Gaussians {cite}`metz2017unrolled` makes the failure
# visible in two dimensions.

# %%
K, radius, spread = 8, 2.0, 0.02
angles = 2 * math.pi * torch.arange(K) / K
centers = radius * torch.stack([angles.cos(), angles.sin()], 1)  # (8, 2)


def ring(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """n points (n, 2) from the mixture of 8 Gaussians with equal weights."""
    k = torch.randint(K, (n,), generator=generator)
    return centers[k] + spread * torch.randn(n, 2, generator=generator)


# %%
def modes_covered(x: torch.Tensor, min_frac: float = 0.01) -> tuple[int, float]:
    """Modes holding >= min_frac of the samples within 10 spreads of their centre,
    and the fraction of samples near any mode."""
    dist, nearest = torch.cdist(x, centers).min(1)
    near = dist < 10 * spread
    counts = torch.bincount(nearest[near], minlength=K)
    return int((counts >= min_frac * len(x)).sum()), near.float().mean().item()


x_ring = ring(1_000, torch.Generator().manual_seed(1))  # a fixed reference sample
data_modes, data_near = modes_covered(x_ring)
print(f"data: {data_modes} modes covered, fraction near a mode {data_near:.3f}")

# %% [markdown]
# Counting covered modes is one measure. A second, which needs no knowledge
# of the modes, compares two samples directly. The *maximum mean discrepancy*
# {cite}`gretton2012kernel` with a kernel $k$ (here a sum of Gaussian
# kernels of several widths) is
#
# $$
# \begin{aligned}
# \mathrm{MMD}^2(p, q) ={}& \mathbb{E}_{x, x' \sim p}\, k(x, x')
# + \mathbb{E}_{y, y' \sim q}\, k(y, y') \\
# &- 2\, \mathbb{E}_{x \sim p,\, y \sim q}\, k(x, y),
# \end{aligned}
# $$ (eq-mmd)
#
# zero exactly when $p = q$ for kernels like these, and estimated without bias
# from two samples by `dlbook.mmd.mmd2`. Two independent samples of the data
# give a value near zero:

# %%
mmd_data = mmd2(ring(1_000, torch.Generator().manual_seed(2)), x_ring)
print(f"MMD^2 between two samples of the data: {mmd_data:.4f}")

# %% [markdown]
# ### The GAN training step, written out
#
# The coin's loop, written once for any pair of players: the discriminator's
# loss is the binary cross-entropy of {eq}`eq-gan-minimax` on a real and a
# fake batch, the generator's the non-saturating loss {eq}`eq-gan-nonsat`.
# With $D = \sigma(s)$ for a logit $s$, $-\log \sigma(s) = \operatorname{softplus}(-s)$
# and $-\log(1 - \sigma(s)) = \operatorname{softplus}(s)$, which PyTorch
# computes without overflow.


# %% tags=["dlbook:gan"]
def discriminator_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z))) from the logits, D = sigmoid(logit); batch means."""
    check.tensor(real, "real", floating=True), check.tensor(fake, "fake", floating=True)
    # -log sigmoid(s) = softplus(-s) and -log(1 - sigmoid(s)) = softplus(s)
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def generator_loss(fake: torch.Tensor) -> torch.Tensor:
    """The non-saturating loss -log D(G(z)) from the logits on fakes; a batch mean."""
    check.tensor(fake, "fake", floating=True)
    return F.softplus(-fake).mean()


# %% [markdown]
# One step updates the discriminator on real data and on fakes it cannot
# backpropagate into (`detach`), then the generator through the discriminator
# on fresh noise. `check_players` (from `dlbook.gan`) refuses mismatched
# players with a clear message and returns the labels a conditional model
# needs (none here); `prec` is the mixed-precision rule of the image GANs
# below, plain float32 by default. {numref}`fig-gans-training-step` shows where
# the gradient stops and where it flows through the other player.

# %% [markdown]
# :::{figure} ../figs/gan_loop.svg
# :name: fig-gans-training-step
# :alt: Two panels. Left, discriminator step: noise z through G gives a fake, cut by a detach mark before D; a real batch also enters D; D's output feeds the loss minus log D(x) minus log(1 - D(G(z))), with a red arrow back to D only. Right, generator step: fresh noise through G and D to the loss minus log D(G(z)), with red arrows back through D and the fake to G.
# :width: 100%
# One `train_step`. First the discriminator: it scores a real batch and a detached
# fake batch and minimises $-\log D(\mathbf{x}) - \log(1 - D(G(\mathbf{z})))$; only
# $D$ is updated. Then the generator, on fresh noise: its loss
# $-\log D(G(\mathbf{z}))$ (the non-saturating loss) is backpropagated through $D$
# into $G$, and only $G$ is updated.
# :::


# %% tags=["dlbook:gan"]
def discriminator_step(G, D, opt_d, x_real, cond=(), *, prec):
    """Update D on a real and a detached fake batch; returns its loss and logits."""
    z = torch.randn(len(x_real), G.z_dim, device=x_real.device)
    with prec.autocast():
        real = D(x_real, *cond).float()  # (B,) logits
        fake = D(G(z, *cond).detach(), *cond).float()  # (B,), G held fixed
        d_loss = discriminator_loss(real, fake)
    opt_d.zero_grad(set_to_none=True)
    prec.step(d_loss, opt_d, update=False)  # the loss scale is updated after G's step
    return d_loss, real, fake


# %% [markdown]
# The generator's step follows on fresh noise, with the discriminator just
# updated; `train_step` runs the two and returns what the training loops log.


# %% tags=["dlbook:gan"]
def train_step(G, D, opt_g, opt_d, x_real, y=None, *, prec=None):
    """One alternating update, first D then G; returns the losses and mean D's."""
    cond = check_players(G, D, x_real, y)  # (y,) for conditional models, else ()
    prec = prec or Precision(x_real.device, enabled=False)  # plain float32
    G.train(), D.train()
    d_loss, real, fake = discriminator_step(G, D, opt_d, x_real, cond, prec=prec)
    z = torch.randn(len(x_real), G.z_dim, device=x_real.device)  # fresh noise
    with prec.autocast():  # the gradient flows through D into G
        g_loss = generator_loss(D(G(z, *cond), *cond).float())
    opt_g.zero_grad(set_to_none=True)
    prec.step(g_loss, opt_g)
    p_real, p_fake = real.sigmoid().mean(), fake.sigmoid().mean()
    out = dict(d_loss=d_loss, g_loss=g_loss, d_real=p_real, d_fake=p_fake)
    return {k: v.detach() for k, v in out.items()}  # (), no graph attached


# %% [markdown]
# A check against PyTorch's own binary cross-entropy, in float64, on random
# logits:

# %%
s_real, s_fake = torch.randn(2, 100, dtype=torch.float64)
ones, zeros = (
    torch.ones(100, dtype=torch.float64),
    torch.zeros(100, dtype=torch.float64),
)
bce = F.binary_cross_entropy_with_logits
d_ref = bce(s_real, ones) + bce(s_fake, zeros)
gap_d = (discriminator_loss(s_real, s_fake) - d_ref).abs().item()
gap_g = (generator_loss(s_fake) - bce(s_fake, ones)).abs().item()
print(f"differences to PyTorch's BCE: D loss {gap_d:.1e}, G loss {gap_g:.1e}")

# %% tags=["remove-cell"]
assert gap_d < 1e-12 and gap_g < 1e-12

# %% [markdown]
# ### Collapse, and a discriminator that sees the batch
#
# Both players are small MLPs; the generator reads 16-dimensional noise. The
# plain GAN gets a generator that learns faster than its discriminator
# (learning rates $10^{-3}$ against $3 \cdot 10^{-4}$): the regime in which
# the generator's chase produces collapse. Every tenth of the run we record
# MMD² to the reference sample and a snapshot of samples.
#
# The mitigation changes two things, each for a reason. One sample from a
# collapsed generator is a perfectly plausible data point; eight samples that
# all sit in the same spot are not. Minibatch discrimination
# {cite}`salimans2016improved` gives the discriminator statistics of the
# whole batch; its simplest form, *packing* {cite}`lin2018pacgan`, feeds it
# $m = 4$ samples concatenated into one input, all real or all fake, and asks
# for one verdict. A packed discriminator can only punish collapse if it keeps
# up with the generator, so it also gets the larger learning rate (the
# two-time-scale rule of Heusel et al. {cite}`heusel2017gans`:
# $10^{-3}$ for the discriminator, $3 \cdot 10^{-4}$ for the generator).
# The networks, the loss, the step and the number of steps stay the same.


# %%
class Pack(nn.Module):
    """Group m samples (B, 2) into one input (B / m, 2m): the packed D's view."""

    def __init__(self, m: int):
        super().__init__()
        self.m = m

    def forward(self, x):
        return x.reshape(-1, self.m * x.shape[1])  # all real or all fake per group


# %% [markdown]
# The players and their Adam optimizers ($\beta_1 = 0.5$, as for the coin): the
# generator maps 16 noise numbers to a point in the plane, the discriminator a
# group of $m$ points to one logit.


# %%
def mlp(n_in: int, n_out: int, hidden: int = 128) -> nn.Sequential:
    """Two hidden ReLU layers."""
    layers = [nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(hidden, n_out))


def ring_players(pack: int, lr_g: float, lr_d: float):
    """G: noise (B, 16) -> points (B, 2); D: groups of `pack` points -> logits."""
    G, D = mlp(16, 2), nn.Sequential(Pack(pack), mlp(2 * pack, 1), nn.Flatten(0))
    G.z_dim = 16  # what train_step reads to draw the noise
    opt_g = torch.optim.Adam(G.parameters(), lr=lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=(0.5, 0.999))
    return G, D, opt_g, opt_d


# %% [markdown]
# A run trains the pair with `train_step` on fresh batches of 128 ring points;
# the snapshots are 1,000 samples of fixed noise. `ring_lr` multiplies both
# learning rates: it is 1 in the `cpu` and `gpu` profiles, while the `smoke`
# profile learns three times faster for about a third of the steps.


# %%
def train_ring_gan(pack=1, lr_g=1e-3, lr_d=3e-4, seed=0, steps=cfg.ring_steps):
    """GAN on the ring; MMD^2 to the data and snapshots every tenth of the run."""
    torch.manual_seed(seed)
    G, D, opt_g, opt_d = ring_players(pack, lr_g * cfg.ring_lr, lr_d * cfg.ring_lr)
    z_fixed, log, snaps = torch.randn(1_000, 16), [], {}
    for step in range(steps + 1):
        if step % (steps // 10) == 0:
            with torch.no_grad():
                snaps[step] = G(z_fixed)  # (1000, 2)
            log.append((step, mmd2(snaps[step], x_ring)))
        if step < steps:
            train_step(G, D, opt_g, opt_d, ring(128))
    return log, snaps


# %%
mitigated = dict(pack=4, lr_g=3e-4, lr_d=1e-3)
runs = {"plain": {}, "packed, fast D": mitigated}
ring_result = {}  # (variant, seed) -> (modes, fraction near a mode, final MMD^2)
ring_logs = {}  # variant -> (MMD^2 log, snapshots) of the first seed, for the figures
for seed in cfg.ring_seeds:
    for name, kwargs in runs.items():
        log, snaps = train_ring_gan(**kwargs, seed=seed)
        ring_result[name, seed] = (*modes_covered(snaps[cfg.ring_steps]), log[-1][1])
        if seed == cfg.ring_seeds[0]:
            ring_logs[name] = (log, snaps)

# %%
for (name, seed), (modes, near, mmd) in ring_result.items():
    print(
        f"{name:15s} seed {seed}: {modes} of 8 modes, near {near:.2f}, MMD^2 {mmd:.3f}"
    )
modes_plain = dlbook.report(
    "ring, plain GAN: most modes covered (over the seeds)",
    max(ring_result["plain", s][0] for s in cfg.ring_seeds),
)
modes_packed = dlbook.report(
    "ring, packed GAN with fast D: fewest modes covered (over the seeds)",
    min(ring_result["packed, fast D", s][0] for s in cfg.ring_seeds),
)

# %% tags=["remove-cell"]
# every profile: the plain GAN collapses, the packed one reaches many more modes
assert modes_plain <= 3 and modes_packed >= modes_plain + 4, ring_result
for seed in cfg.ring_seeds:  # the MMD agrees, seed by seed
    plain, packed = ring_result["plain", seed], ring_result["packed, fast D", seed]
    assert packed[2] < plain[2] / 2, ring_result
    # the packed GAN still leaves many samples between the modes
    assert packed[1] < 0.5 and packed[2] > 20 * abs(mmd_data) + 0.05, ring_result
if cfg.profile != "smoke":  # the full-length runs
    assert modes_packed >= 7, ring_result
    assert ring_result["packed, fast D", cfg.ring_seeds[0]][0] == 8, ring_result
    # the plain GAN's samples miss the modes
    assert all(ring_result["plain", s][1] < 0.1 for s in cfg.ring_seeds), ring_result

# %% [markdown]
# The printed table gives, for every seed of the profile (one in `smoke`, two
# in `cpu` and `gpu`: `ring_seeds` in the configuration), the
# modes each GAN covers, the fraction of its samples near a mode and its
# final MMD². The checks of this section, in every profile: the plain GAN
# covers at most three of the eight modes for every seed, the packed GAN with
# the fast discriminator at least four more, and its MMD² is below half the
# plain GAN's. In the full-length runs of the `cpu` and `gpu` profiles the
# packed GAN also covers at least seven modes for every seed.
# {numref}`fig-gans-ring-snapshots` shows seed 0 during training.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Samples (blue) of the plain GAN (top) and of the packed GAN with a fast discriminator (bottom) at four points of training, over the ring of eight Gaussians (grey); seed 0.", "name": "fig-gans-ring-snapshots"}, "image": {"alt": "Two rows of four scatter plots. Top: the samples form a clump or arc that moves around and misses the grey modes. Bottom: the samples spread around the ring and reach every mode."}}
shown = [0, cfg.ring_steps // 5, cfg.ring_steps // 2, cfg.ring_steps]
fig, axes = plot.subplots(2, 4, width=7, height=3.8, sharex=True, sharey=True)
for row, (name, (_, snaps)) in enumerate(ring_logs.items()):
    for ax, step in zip(axes[row], shown):
        ax.scatter(*x_ring.T.numpy(), s=3, color="0.75", label="data")
        ax.scatter(*snaps[step].T.numpy(), s=2, alpha=0.5, label="generated")
        ax.set_title(f"{name}, {step}", fontsize=9)
        ax.set_xlim(-3, 3), ax.set_ylim(-3, 3)
axes[0][0].legend(loc="lower left", markerscale=3, fontsize=7)
plot.show(fig)

# %% [markdown]
# The plain GAN's samples never settle on the data: at the end of training
# few lie near a mode (the printed fraction; under a tenth for every seed in
# the `cpu` and `gpu` profiles, asserted there), and the modes it counts are
# the ones its stray samples happen to touch. The packed GAN with the fast
# discriminator spreads its samples round the ring; in the `cpu` and `gpu`
# profiles it reaches all eight modes for seed 0 (asserted).
# {numref}`fig-gans-ring-mmd` follows MMD² through training.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "MMD squared between the generated samples and the data during training, plain and packed GAN, seed 0 (log scale).", "name": "fig-gans-ring-mmd"}, "image": {"alt": "Two curves on a log scale; the packed GAN's falls well below the plain GAN's."}}
fig, ax = plot.subplots(width=7, height=3.0)
plot.curves(
    ax,
    {name: [v for _, v in log] for name, (log, _) in ring_logs.items()},
    x=[s for s, _ in ring_logs["plain"][0]],
    xlabel="training step",
    ylabel="MMD$^2$ to the data",
    logy=True,
)
plot.show(fig)

# %% [markdown]
# The packed GAN still leaves many samples between the modes — it draws a
# continuous ring through them, since its generator is a continuous map of
# connected noise — the printed
# fraction near a mode is under a half, against the data's 1, and its MMD²
# stays well above the level of two data samples (both asserted) — but it
# spreads round the ring, over the modes counted above,
# instead of chasing a clump. Other remedies attack the same dynamics from
# different sides: unrolling the discriminator's future updates
# {cite}`metz2017unrolled`, or replacing the Jensen–Shannon game by the
# Wasserstein distance with a gradient penalty
# {cite}`arjovsky2017wasserstein,gulrajani2017improved`.

# %% [markdown]
# ## A deep convolutional GAN for Fashion-MNIST
#
# For images the two players become convolutional networks. Radford et al.
# {cite}`radford2016unsupervised` found a recipe that trains stably, the
# *DCGAN guidelines*:
#
# - no pooling: the discriminator halves the resolution with stride-2
#   convolutions, the generator doubles it with stride-2 *transposed*
#   convolutions ({ref}`ch-convolutions`);
# - batch normalization {cite}`ioffe2015batch` in both networks, except at
#   the generator's output and the discriminator's input;
# - ReLU in the generator with $\tanh$ at the output (so images live in
#   $[-1, 1]$), LeakyReLU with slope 0.2 in the discriminator;
# - no fully connected hidden layers; weights drawn from $\mathcal N(0, 0.02^2)$;
#   Adam {cite}`kingma2015adam` with learning rate $2 \cdot 10^{-4}$ and
#   $\beta_1 = 0.5$.
#
# The book's version for 28x28 images is the layer stack of `dlbook.gan`,
# printed below. The generator treats the noise vector as a 1x1 image with
# `z_dim` channels and grows it to 7x7, 14x14 and 28x28; the discriminator
# mirrors it, 28x28 → 14x14 → 7x7, and a final 7x7 convolution reads the 7x7
# maps and returns one logit per image.

# %%
torch.manual_seed(0)
G = gan.Generator(cfg.z_dim, cfg.width).to(device)
D = gan.Discriminator(cfg.width).to(device)
print(G.net, D, sep="\n")

# %% [markdown]
# The training step is the one we wrote for the ring, unchanged: `train_step`
# never looks inside the players. On a GPU it runs in mixed precision through
# the book's one rule, `dlbook.train.Precision` (bfloat16 where the GPU
# computes it natively, float16 with a gradient scaler on older GPUs such as
# Colab's T4, plain float32 on a CPU). Before training we check the shapes,
# and that the discriminator's verdict on real and on generated images starts
# out undecided.

# %%
train_set, test_set = data.load_fashion_mnist("train"), data.load_fashion_mnist("test")
gan_set = data.subset(train_set, cfg.n_gan)
x_gan = (data.to_float(gan_set.x) * 2 - 1).to(device)  # (N, 1, 28, 28) in [-1, 1]
y_gan = gan_set.y.to(device)
with torch.no_grad():
    fake = G(torch.randn(8, cfg.z_dim, device=device))  # (8, 1, 28, 28)
    p_real = torch.sigmoid(D(x_gan[:8])).mean().item()
    p_fake = torch.sigmoid(D(fake)).mean().item()
n_params = {
    k: sum(p.numel() for p in m.parameters()) for k, m in dict(G=G, D=D).items()
}
print(f"training images {tuple(x_gan.shape)}; fakes {tuple(fake.shape)}")
print(f"fakes in [{fake.min():.2f}, {fake.max():.2f}]; parameters {n_params}")
print(f"D(real) {p_real:.3f}, D(fake) {p_fake:.3f}; {Precision(device)}")

# %% tags=["remove-cell"]
assert fake.shape == (8, 1, 28, 28) and fake.abs().max() <= 1
assert abs(p_real - 0.5) < 0.1 and abs(p_fake - 0.5) < 0.1

# %% [markdown]
# Training runs for a fixed number of steps, cycling through the training
# images; the loop records the two losses and the discriminator's mean
# verdicts at every step. The `gpu` profile uses the guidelines' learning rate
# $2 \cdot 10^{-4}$ for thousands of steps; the short CPU runs use
# $5 \cdot 10^{-4}$, which gets further in a few hundred steps.


# %%
def train_gan(G: nn.Module, D: nn.Module, steps: int, *, conditional=False, desc="GAN"):
    """`steps` alternating updates; returns the per-step log and the wall time."""
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    xy = (x_gan, y_gan) if conditional else (x_gan,)  # labels for a conditional GAN
    batches = data.Batches(*xy, batch_size=cfg.batch, drop_last=True, seed=0)
    epochs = itertools.chain.from_iterable(itertools.repeat(batches))  # endless
    log, start, prec = [], time.perf_counter(), Precision(device)  # one loss scale
    with progress_bar(steps, desc) as bar:
        for xb, *yb in itertools.islice(epochs, steps):  # yb: [labels] or []
            out = train_step(G, D, opt_g, opt_d, xb, *yb, prec=prec)
            log.append(torch.stack(list(out.values())))  # on the device: no sync
            bar.update()
    log = torch.stack(log).float().cpu()  # (steps, 4)
    return dict(zip(out.keys(), log.T)), time.perf_counter() - start


# %%
dcgan_log, dcgan_seconds = train_gan(G, D, cfg.gan_steps, desc="DCGAN")
dcgan_seconds = dlbook.report("DCGAN training time", dcgan_seconds, fmt=".1f", unit="s")

# %% [markdown]
# GAN losses do not fall the way a classifier's loss does: each network's loss
# is measured against an opponent that keeps improving. What one looks for is
# balance — neither loss running off to zero or infinity, and the
# discriminator's verdicts on real and fake images staying apart but not
# saturating ({numref}`fig-gans-dcgan-losses`).


# %% tags=["hide-input"] mystnb={"figure": {"caption": "DCGAN training: the two losses (left) and the discriminator's mean probability of 'real' on real and on generated images (right), moving averages over 25 steps.", "name": "fig-gans-dcgan-losses"}, "image": {"alt": "Left, two noisy loss curves that neither vanish nor explode; right, D(real) above D(fake), both between 0 and 1."}}
def smooth(v: torch.Tensor, k: int = 25) -> list[float]:
    """Moving average over k steps (shorter at the start)."""
    c = torch.cat([torch.zeros(1), v.cumsum(0)])
    idx = torch.arange(1, len(v) + 1)
    return ((c[idx] - c[(idx - k).clamp(min=0)]) / idx.clamp(max=k)).tolist()


fig, axes = plot.subplots(1, 2, width=7, height=3.0)
plot.curves(
    axes[0],
    {
        "discriminator": smooth(dcgan_log["d_loss"]),
        "generator": smooth(dcgan_log["g_loss"]),
    },
    xlabel="training step",
    ylabel="loss (moving average)",
)
plot.curves(
    axes[1],
    {"D(real)": smooth(dcgan_log["d_real"]), "D(fake)": smooth(dcgan_log["d_fake"])},
    xlabel="training step",
    ylabel="mean probability of 'real'",
)
plot.show(fig)

# %% tags=["remove-cell"]
# Neither player has won: D still separates real from fake, but not perfectly.
late = slice(-max(10, cfg.gan_steps // 5), None)
assert 0.05 < dcgan_log["d_fake"][late].mean() < dcgan_log["d_real"][late].mean() < 0.95
assert (
    torch.isfinite(dcgan_log["d_loss"]).all()
    and torch.isfinite(dcgan_log["g_loss"]).all()
)

# %% [markdown]
# And the point of it all: images drawn from the generator, next to real
# training images ({numref}`fig-gans-dcgan-samples`). The title says which run
# profile produced them; the `gpu` profile trains a wider network on all
# 60,000 images for much longer.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Real training images (left) and samples of the DCGAN (right); the title gives the run profile and the number of training steps.", "name": "fig-gans-dcgan-samples"}, "image": {"alt": "Two grids of 24 small grey clothing images each, real on the left, generated on the right."}}
samples = gan.generate(G, 24, seed=1)  # (24, 1, 28, 28) in [0, 1]
fig, axes = plot.subplots(1, 2, width=7, height=2.6)
plot.image_grid(axes[0], (x_gan[:24].cpu() + 1) / 2, ncols=6, vrange=(0, 1))
axes[0].set_title("real training images")
plot.image_grid(axes[1], samples, ncols=6, vrange=(0, 1))
axes[1].set_title(f"DCGAN, {cfg.gan_steps:,} steps ({session.profile})")
plot.show(fig)

# %% [markdown]
# ## A conditional GAN
#
# The generator above decides by itself which garment to draw. A *conditional*
# GAN {cite}`mirza2014conditional` takes the class $y$ as a second input of
# both players and plays the game of {eq}`eq-gan-minimax` for every class:
#
# $$
# \min_G \max_D \;
# \mathbb{E}_{(x, y) \sim p_\text{data}}\big[\log D(x, y)\big]
# + \mathbb{E}_{z,\, y}\big[\log\big(1 - D(G(z, y), y)\big)\big].
# $$ (eq-cgan)
#
# The generator appends a learned embedding of the label to the noise. The
# discriminator uses the *projection* form of Miyato and Koyama
# {cite}`miyato2018cgans`: besides its usual read-out of the feature maps
# $\phi(x)$, it adds the inner product of a learned class embedding $e_y$
# with the maps summed over space, $e_y^\top \sum_{ij} \phi_{ij}(x)$.
# A sharp shirt presented with the label "sneaker" can then be called fake.
# The two models are the plain ones with these additions (`dlbook.gan`); we
# recompute the projection logit by hand from the discriminator's parts, on
# eight real images with their true labels and with wrong ones:

# %%
torch.manual_seed(0)
cG = gan.ConditionalGenerator(10, cfg.z_dim, cfg.width).to(device)
cD = gan.ConditionalDiscriminator(10, cfg.width).to(device).eval()
x8, y8 = x_gan[:8], y_gan[:8]
with torch.no_grad():
    phi = cD.features(x8)  # (8, 2w, 7, 7) feature maps
    by_hand = cD.out(phi).flatten() + (cD.embed(y8) * phi.sum((2, 3))).sum(1)
    gap = (cD(x8, y8) - by_hand).abs().max().item()
    moved = (cD(x8, (y8 + 1) % 10) - cD(x8, y8)).abs().max().item()
print(f"logit by hand vs cD: largest difference {gap:.1e}")
print(f"logits change by up to {moved:.1e} when the labels are wrong")

# %% tags=["remove-cell"]
assert gap < 1e-5 and moved > 1e3 * gap, (gap, moved)

# %%
cgan_log, cgan_seconds = train_gan(
    cG, cD, cfg.gan_steps, conditional=True, desc="conditional GAN"
)
cgan_seconds = dlbook.report(
    "conditional GAN training time", cgan_seconds, fmt=".1f", unit="s"
)
# %% [markdown]
# {numref}`fig-gans-cgan-grid` asks for each class in turn, one row per class
# and a different noise vector in every column.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Samples of the conditional GAN: one row per requested class, one noise vector per column.", "name": "fig-gans-cgan-grid"}, "image": {"alt": "A ten by ten grid of generated clothing images, each row labelled with its class: T-shirt, trouser, pullover, dress, coat, sandal, shirt, sneaker, bag, ankle boot."}}
rows = torch.arange(10).repeat_interleave(10)  # labels 0,0,...,1,1,...
csamples = gan.generate(cG, 100, labels=rows, seed=1)
captions = [
    train_set.classes[int(k)] if i % 10 == 0 else "" for i, k in enumerate(rows)
]
fig, ax = plot.subplots(width=7, height=7.6)
plot.image_grid(ax, csamples, ncols=10, vrange=(0, 1), labels=captions)
ax.set_title(f"conditional GAN, {cfg.gan_steps:,} steps ({session.profile} profile)")
plot.show(fig)


# %% [markdown]
# ## Evaluating generative models
#
# A classifier is scored by its test accuracy. There is no equally simple
# score for a generator, and the measures in use check different things
# {cite}`theis2016note`:
#
# | what is measured | measures | needs |
# |---|---|---|
# | likelihood of held-out data | log-likelihood, bits per dimension | an explicit density (flows, autoregressive models) or a bound on it (a VAE's ELBO is a lower bound); a GAN has neither |
# | distance between the sample and data distributions | MMD {cite}`gretton2012kernel`, Wasserstein / earth mover's distance, Kernel Inception Distance | samples of both; a kernel or features |
# | quality and diversity in a classifier's eyes | Inception score {cite}`salimans2016improved`, Fréchet Inception distance (FID) {cite}`heusel2017gans` | a pretrained classifier |
# | quality and coverage separately | precision and recall of distributions {cite}`sajjadi2018assessing` | features, nearest neighbours |
# | task-specific fidelity | BLEU/ROUGE for text, SSIM/LPIPS for images, human judgement | references or raters |
#
# In two dimensions we used MMD directly on the points. Images are too
# high-dimensional for a kernel on raw pixels to be informative, so the
# Fréchet distance compares *features*: fit a Gaussian
# $\mathcal N(\mu_r, \Sigma_r)$ to the features of real images and
# $\mathcal N(\mu_g, \Sigma_g)$ to those of generated ones, and compute the
# *squared* 2-Wasserstein distance $W_2^2$ between the two Gaussians,
#
# $$
# \begin{aligned}
# \mathrm{FD} = W_2^2 ={}& \lVert \mu_r - \mu_g \rVert^2 \\
# &+ \operatorname{tr}\Big(\Sigma_r + \Sigma_g
#   - 2\big(\Sigma_r^{1/2} \Sigma_g \Sigma_r^{1/2}\big)^{1/2}\Big).
# \end{aligned}
# $$ (eq-frechet)
#
# FID uses an ImageNet Inception network for the features. We cannot
# download one, and it has never seen clothing on a plain background anyway,
# so Part IV uses the penultimate layer of the book's own Fashion-MNIST
# classifier (`dlbook.frechet`). Its numbers are therefore comparable within
# this book, not with published FIDs.

# %%
n = cfg.n_eval
sets = dict(train=train_set, test=test_set)  # the accuracy: on 2n test images
feature_net, clf_acc = frechet.fashion_classifier(
    cfg.clf_n, epochs=cfg.clf_epochs, device=device, n_test=2 * n, **sets
)
dlbook.report("feature classifier test accuracy", clf_acc, fmt=".4f")
# (2n, 1, 28, 28) in [0, 1], classes interleaved
x_test = data.to_float(data.subset(test_set, 2 * n).x)
f_real = frechet.embed(feature_net, x_test[:n])  # (n, 128): the reference set
print(f"reference: {n:,} test images -> features {tuple(f_real.shape)}")

# %% [markdown]
# A distance means little without a scale. We bracket the GANs by two
# references: from below, the distance between two disjoint halves of the
# real test set, which is not zero only because both are finite samples (the
# *floor*); from above, two Gaussian "generators" fitted to the training
# pixels — one with independent pixels, one with the full 784 x 784
# covariance. They get every pixel's mean and every pair's correlation right
# and nothing else.

# %%
pixels = ((x_gan + 1) / 2).flatten(1).cpu().double()  # (N, 784) pixels in [0, 1]
mu, cov = pixels.mean(0), torch.cov(pixels.T)
gen = torch.Generator().manual_seed(2)
eps = torch.randn(n, 784, generator=gen, dtype=torch.float64)
tril = torch.linalg.cholesky(cov + 1e-4 * torch.eye(784, dtype=torch.float64))
baselines = {
    "Gaussian, independent pixels": mu + eps * cov.diagonal().sqrt(),
    "Gaussian, full covariance": mu + eps @ tril.T,
}

# %%
candidates = {
    "real test images (other half)": x_test[n:],
    **{k: v.clamp(0, 1).float().reshape(n, 1, 28, 28) for k, v in baselines.items()},
    "DCGAN": gan.generate(G, n, seed=2),
    "conditional GAN": gan.generate(cG, n, labels=torch.arange(n) % 10, seed=2),
}
fd = {
    name: frechet.frechet_distance(frechet.embed(feature_net, imgs), f_real)
    for name, imgs in candidates.items()
}
for name, value in fd.items():
    dlbook.report(f"FD to real test images: {name}", value, fmt=".2f")

# %% tags=["remove-cell"]
assert fd["real test images (other half)"] < min(
    v for k, v in fd.items() if k != "real test images (other half)"
)
assert fd["Gaussian, full covariance"] < fd["Gaussian, independent pixels"], fd
assert (
    fd["DCGAN"] < fd[cfg.fd_baseline] and fd["conditional GAN"] < fd[cfg.fd_baseline]
), (cfg.fd_baseline, fd)

# %% [markdown]
# The run above prints the distances. The two halves of the real test set are
# closest, as they must be, and the Gaussian with independent pixels is
# farther than the one with the full covariance. The checks: in the `cpu` and
# `gpu` profiles both GANs beat the full-covariance Gaussian; in the `smoke`
# profile, whose GANs train for only a few seconds, they need only beat the
# independent-pixel Gaussian (the setting `fd_baseline` in the configuration).
# How far the GANs sit above the floor is the room that longer training and
# wider networks leave to close.
#
# The samples of the Gaussian baselines ({numref}`fig-gans-gaussians`) show
# why they lose although they match all first and second moments of the
# pixels: an average of many garments with the right pixel correlations is not
# a garment.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Samples of the two Gaussian baselines: independent pixels (left) and the full pixel covariance (right).", "name": "fig-gans-gaussians"}, "image": {"alt": "Two grids of noisy grey blobs; the full-covariance samples show faint garment outlines, the independent ones only speckle."}}
fig, axes = plot.subplots(1, 2, width=7, height=2.2)
for ax, (name, imgs) in zip(axes, list(candidates.items())[1:3]):
    plot.image_grid(ax, imgs[:24], ncols=8, vrange=(0, 1))
    ax.set_title(name)
plot.show(fig)

# %% [markdown]
# A conditional generator also makes a promise that can be checked: a sample
# asked for as "trouser" should look like a trouser. We let the book's
# classifier label the conditional samples and count how often it names the
# requested class. Its accuracy on real test images, printed above, is the
# ceiling for this number.

# %%
requested = torch.arange(n) % 10
recognized = frechet.predict(feature_net, candidates["conditional GAN"]) == requested
class_acc = dlbook.report(
    "conditional GAN: classifier recognizes the requested class",
    recognized.float().mean(),
    fmt=".4f",
)
per_class = {
    test_set.classes[k]: round(recognized[requested == k].float().mean().item(), 2)
    for k in range(10)
}
print("per class:", per_class)
se = math.sqrt(0.1 * 0.9 / n)  # standard error of a chance-level score
print(f"floor {cfg.min_class_acc} = chance + {(cfg.min_class_acc - 0.1) / se:.1f} SE")

# %% tags=["remove-cell"]
assert class_acc > cfg.min_class_acc, (class_acc, cfg.min_class_acc)  # chance: 0.1


# %% [markdown]
# The run above prints how often the classifier names the requested class
# (chance is 0.1), overall and per class; the check is that it lies above
# `min_class_acc` of the configuration: well above chance in the `cpu` and
# `gpu` profiles, and in the `smoke` profile, whose GANs train for seconds,
# still clearly above it (the last line printed says how many standard errors
# of a chance-level score lie between chance and that floor). Where a class scores
# low, compare with the classes the classifier also confuses on real images —
# shirts, pullovers, coats and T-shirts look alike at 28x28.
#
# ## Summary
#
# - A generative model either states a density (density estimation) or only
#   produces samples. Inverse transform sampling maps uniform noise to any
#   1-D distribution with a known CDF; a GAN's generator learns such a map
#   from noise to data.
# - A GAN trains a generator against a discriminator: the discriminator is a
#   real-versus-fake classifier, the generator minimizes the non-saturating
#   loss $-\log D(G(z))$. With an optimal discriminator the game minimizes the
#   Jensen–Shannon divergence; in practice the two alternate gradient steps.
#   A one-parameter generator learned the frequency of a coin this way;
#   its discrete tosses needed a straight-through gradient.
# - GANs can drop modes. On a ring of eight Gaussians a plain GAN whose
#   generator outpaces its discriminator covered at most three modes; packing
#   four samples into each verdict of a faster discriminator covered at least
#   seven, for every seed of the full-length runs (MMD and a count of covered
#   modes measured it).
# - DCGAN guidelines (strided and transposed convolutions, batch norm,
#   ReLU/LeakyReLU, tanh output, Adam with $\beta_1 = 0.5$) train image GANs
#   stably; a conditional GAN feeds the class to both players.
# - A generator has no test accuracy. We judged ours by the Fréchet distance
#   in the features of the book's own classifier, between a floor (real
#   versus real) and Gaussian baselines, and by how often the classifier
#   recognizes the class a conditional sample was asked to show.
#
# ## Exercises
#
# **Exercise 1 (the optimal discriminator).** Fix the coin generator at
# $p_G(\text{heads}) = 0.5$. Train the logistic discriminator of the coin GAN
# to convergence on the exact expected loss, compare it with
# $D^\ast(x) = p_\text{data}(x) / (p_\text{data}(x) + p_G(x))$, and check that
# the value of the game at $D^\ast$ equals $-\log 4 + 2\,\mathrm{JSD}$.

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Solution to Exercise 1. With two outcomes the expectations are two-term sums,
# so no sampling is needed. Answer: logistic regression on one binary input can
# represent any pair of values D(0), D(1), so it reaches D* (to the optimizer's
# tolerance), and the game's value at D* is -log 4 + 2 JSD.
p_data = torch.tensor([1 - p_heads, p_heads], dtype=torch.float64)  # tails, heads
p_gen = torch.tensor([0.5, 0.5], dtype=torch.float64)
outcomes = torch.tensor([0.0, 1.0], dtype=torch.float64)
ab_star = torch.zeros(2, dtype=torch.float64, requires_grad=True)
opt = torch.optim.LBFGS([ab_star], max_iter=200, line_search_fn="strong_wolfe")


def game_value(d):
    """V(D, G) of the fixed coins, from D's values (D(tails), D(heads))."""
    return (p_data * d.log()).sum() + (p_gen * (1 - d).log()).sum()


def neg_value():
    """-V(D, G) as a function of the discriminator's a, b (the LBFGS closure)."""
    opt.zero_grad()
    loss = -game_value(torch.sigmoid(ab_star[0] * outcomes + ab_star[1]))
    loss.backward()
    return loss


opt.step(neg_value)
d_trained = torch.sigmoid(ab_star[0] * outcomes + ab_star[1]).detach()
d_star = p_data / (p_data + p_gen)
m = (p_data + p_gen) / 2
jsd = sum(0.5 * (p * (p / m).log()).sum() for p in (p_data, p_gen)).item()
value = -neg_value().item()
print(f"trained D(tails), D(heads) = {d_trained.tolist()}; D* = {d_star.tolist()}")
print(f"V(D, G) = {value:.9f}; -log 4 + 2 JSD = {-math.log(4) + 2 * jsd:.9f}")
assert torch.allclose(d_trained, d_star, atol=1e-5)
# exact at D*; the trained D is within 1e-5 of D*, where V is flat (first order)
assert abs(game_value(d_star).item() - (-math.log(4) + 2 * jsd)) < 1e-12
assert abs(value - game_value(d_star).item()) < 1e-8

# %% [markdown]
# **Exercise 2 (why the non-saturating loss).** Let $s$ be the
# discriminator's logit on a fake, so $D = \sigma(s)$. Compute, with
# autograd, the gradient with respect to $s$ of the minimax generator loss
# $\log(1 - D)$ and of the non-saturating loss $-\log D$ when the
# discriminator confidently rejects the fake ($D = 0.01$) and when it is
# fooled ($D = 0.99$). Which loss gives the generator a useful signal early
# in training?

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Solution to Exercise 2: d/ds log(1 - sigmoid(s)) = -D and
# d/ds -log sigmoid(s) = -(1 - D). Answer: both gradients point the same way
# (make s larger), but when the fake is obviously fake (D = 0.01) the minimax
# loss's gradient is a hundred times smaller: that loss *saturates*. The
# non-saturating loss is strongest exactly then, early in training, and
# weakens once the discriminator is fooled.
for d_value in (0.01, 0.99):
    s = torch.logit(torch.tensor(d_value, dtype=torch.float64)).requires_grad_(True)
    (g_minimax,) = torch.autograd.grad(torch.log1p(-torch.sigmoid(s)), s)
    (g_nonsat,) = torch.autograd.grad(-F.logsigmoid(s), s)
    print(
        f"D = {d_value}: minimax gradient {g_minimax.item():+.3f}, "
        f"non-saturating {g_nonsat.item():+.3f}"
    )
    assert abs(g_minimax.item() + d_value) < 1e-12
    assert abs(g_nonsat.item() + (1 - d_value)) < 1e-12
#
# **Exercise 3 (inverse transform sampling of a discrete distribution).**
# A loaded die shows the faces 1–6 with probabilities proportional to
# 1, 1, 1, 1, 1, 5. Sample it from uniform noise through its CDF
# (`torch.searchsorted` finds $F^{-1}(u)$ for a step-shaped CDF) and check the
# face frequencies.

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Solution to Exercise 3: F^{-1}(u) is the first face whose cumulative
# probability exceeds u. Answer: the frequencies match the targets to within
# the sampling error of 200,000 draws (about 0.001).
probs = torch.tensor([1.0, 1, 1, 1, 1, 5]) / 10
cdf = probs.cumsum(0)
u = torch.rand(200_000)
faces = torch.searchsorted(cdf, u, right=True).clamp(max=5) + 1  # faces 1..6
freqs = torch.bincount(faces, minlength=7)[1:].float() / len(u)
print("frequencies", [round(f, 4) for f in freqs.tolist()], "targets", probs.tolist())
assert (freqs - probs).abs().max() < 0.005

# %% [markdown]
# **Exercise 4 (walking through the latent space).** Take two noise vectors
# $z_0, z_1$ and decode the straight line $z_t = (1-t) z_0 + t z_1$ with the
# DCGAN generator. Do the images change smoothly? How often does the book's
# classifier change its mind along the path?

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution", "figure": {"caption": "Exercise 4: the DCGAN generator decoding ten points on a straight line between two noise vectors.", "name": "fig-gans-latent-walk"}, "image": {"alt": "A row of ten generated garments changing gradually from the first to the last."}}
# Solution to Exercise 4: a smooth generator maps a short step in z to a small
# change of the image. Answer (printed below): the images morph gradually, no
# single step of the ten makes most of the change, and the classifier's label
# changes only at a few points along the path. Radford et al.
# (2016) used this smoothness for their "vector
# arithmetic" on faces.
gen = torch.Generator().manual_seed(5)
z0, z1 = torch.randn(2, cfg.z_dim, generator=gen)
t = torch.linspace(0, 1, 10)[:, None]
G.eval()
with torch.no_grad():
    path = (G(((1 - t) * z0 + t * z1).to(device)).float().cpu() + 1) / 2
path = path.clamp(0, 1)  # (10, 1, 28, 28)
changes = (frechet.predict(feature_net, path).diff() != 0).sum().item()
step_sizes = path.diff(dim=0).flatten(1).abs().mean(1)
print(
    f"classifier changes its mind {changes} times; mean pixel change per step "
    f"{step_sizes.mean():.3f}, largest {step_sizes.max():.3f}"
)
fig, ax = plot.subplots(width=7, height=1.2)
plot.image_grid(ax, path, ncols=10, vrange=(0, 1))
plot.show(fig)
# no single step does most of the change, and the label is not flipping at random
assert step_sizes.max() < 0.6 * (path[-1] - path[0]).abs().mean()
assert changes <= 5, changes
#


# %% [markdown]
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
