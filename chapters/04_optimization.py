# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# (ch-optimization)=
# # Training deep networks
#
# ```{admonition} Learning objectives
# :class: tip
# After this chapter you can
# - write SGD, momentum, Nesterov, AdaGrad, RMSProp, AdaDelta, Adam and AdamW as PyTorch optimizers and check them against `torch.optim`;
# - explain Adam's bias correction and why Adam can fail to converge (AMSGrad);
# - choose a learning-rate schedule (step, exponential, 1/epoch, cosine, one-cycle, warm-up) and measure what it buys in training;
# - derive the LeCun, Xavier and He initializations from variance propagation, diagnose vanishing or exploding signals, and measure how activation and initialization together decide whether a deep network trains;
# - recognise the usual causes of stalled training, fix each, and stop training early without losing the best model.
# ```
#
# In {ref}`ch-perceptron` we trained a linear model by gradient descent and saw
# that the learning rate must respect the curvature of the loss; in
# {ref}`ch-autodiff` and {ref}`ch-mlp` we learned to compute gradients of deep
# networks and to train a multilayer perceptron. Deep networks are harder to
# train than that chapter's convex problem: their loss surfaces have ravines,
# plateaus and many minima, and their gradients can shrink or blow up from layer
# to layer. This chapter collects the tools that make training work in
# practice: better update rules, learning-rate schedules, a careful choice of
# the initial weights, and a list of what goes wrong and how to notice it.

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
# Every experiment here is small; the profiles (see {ref}`ch-setup`) change how
# many Fashion-MNIST images the last sections train on, for how long, and how
# finely the loss landscape is sampled; `check_steps` is the length of the race
# against `torch.optim`.

# %%
import math

import torch
import torch.nn.functional as F
from torch import nn

from dlbook import check, data, plot
from dlbook.engine import add_to_class
from dlbook.init import check_choice, check_module
from dlbook.optim import EarlyStopping, FromScratch
from dlbook.train import evaluate, fit

# %%
# fmt: off
cfg = dlbook.config(  # n_*: training images (None: all); grid: landscape points/axis
    smoke=dict(check_steps=100, n_sched=2_000, sched_epochs=4, n_ax=1_000,
               ax_epochs=1, n_land=3_000, land_epochs=4, n_eval=500, grid=11,
               n_es=1_000, es_max_epochs=40),
    cpu=dict(check_steps=200, n_sched=5_000, sched_epochs=8, n_ax=3_000,
             ax_epochs=3, n_land=20_000, land_epochs=8, n_eval=2_000, grid=25,
             n_es=2_000, es_max_epochs=60),
    gpu=dict(check_steps=200,  # as in cpu: the race runs in float64 on the CPU
             n_sched=20_000, sched_epochs=15, n_ax=20_000, ax_epochs=8,
             n_land=None, land_epochs=15, n_eval=5_000, grid=41,
             n_es=2_000, es_max_epochs=100),
)
# fmt: on
cfg

# %% [markdown]
# ## Eight update rules
#
# All the optimizers of this chapter use only the gradient of the loss on the
# current mini-batch, $\mathbf{g}_t = \nabla_\theta \mathcal{L}_{B_t}(\theta_t)$.
# They differ in what they remember from earlier steps. We write each as a
# subclass of `torch.optim.Optimizer`, so that it works in any training loop
# and with PyTorch's learning-rate schedulers. The bookkeeping is the same for
# all of them and lives in a base class, `dlbook.optim.FromScratch`: it checks
# the hyper-parameters (a negative learning rate or an $\epsilon \le 0$ raises
# a `ValueError`), loops over the parameters that have a gradient, and adds the
# optional weight-decay term $\lambda\theta$ to the gradient (an $\ell_2$
# penalty, discussed in the next chapter). A subclass only writes `update`,
# which changes one parameter `theta` in place given its gradient `g`, the
# hyper-parameters of its `group` and its own `state`, a dictionary that starts
# empty. The cells below *are* the code of `dlbook.optim`: edit one and rerun
# the chapter, and every experiment that follows uses your version.

# %% [markdown]
# **Stochastic gradient descent** is the update of {ref}`ch-perceptron`, now
# with mini-batch gradients {cite}`robbins1951stochastic`:
#
# $$
# \theta_{t+1} = \theta_t - \gamma\,\mathbf{g}_t .
# $$ (eq-sgd)


# %% tags=["dlbook:optim"]
class SGD(FromScratch):
    """Plain (stochastic) gradient descent: theta <- theta - lr g."""

    def __init__(self, params, lr, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay))

    def update(self, theta, g, group, state):
        theta.add_(g, alpha=-group["lr"])  # theta <- theta - lr g


# %% [markdown]
# **Momentum** {cite}`polyak1964some` keeps a *velocity* $\mathbf{v}$, a
# running sum of past gradients that decays by $\beta$ per step:
#
# $$
# \mathbf{v}_{t+1} = \beta\,\mathbf{v}_t + \mathbf{g}_t, \qquad
# \theta_{t+1} = \theta_t - \gamma\,\mathbf{v}_{t+1}, \qquad \mathbf{v}_0 = \mathbf{0}.
# $$ (eq-momentum)
#
# Along a direction where successive gradients agree, the steps add up to
# about $\gamma/(1-\beta)$ times the gradient (ten times for $\beta = 0.9$);
# along a direction where they alternate in sign, as across a narrow ravine,
# they cancel.


# %% tags=["dlbook:optim"]
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


# %% [markdown]
# **Nesterov's** variant {cite}`nesterov1983method,sutskever2013importance`
# takes the gradient where momentum is about to carry the parameters,
# $\mathbf{g}_t = \nabla\mathcal{L}(\theta_t - \gamma\beta\mathbf{v}_t)$, then
# $\mathbf{v}_{t+1} = \beta\mathbf{v}_t + \mathbf{g}_t$ and
# $\theta_{t+1} = \theta_t - \gamma\mathbf{v}_{t+1}$. A training loop, though,
# computes the gradient at the parameters it holds. So we hold the look-ahead
# point $\phi_t = \theta_t - \gamma\beta\mathbf{v}_t$ instead, and ask how it moves:
#
# $$
# \begin{aligned}
# \phi_{t+1} &= \theta_{t+1} - \gamma\beta\mathbf{v}_{t+1}
#   = \phi_t + \gamma\beta\mathbf{v}_t - \gamma\mathbf{v}_{t+1} - \gamma\beta\mathbf{v}_{t+1}\\
#   &= \phi_t - \gamma\,(\mathbf{g}_t + \beta\,\mathbf{v}_{t+1}),
# \end{aligned}
# $$ (eq-nesterov)
#
# using $\mathbf{v}_{t+1} - \beta\mathbf{v}_t = \mathbf{g}_t$. Renamed back to
# $\theta$, that is the update PyTorch implements: the gradient plus the
# *updated* velocity, a look-ahead that corrects the course one step earlier.
# (A hidden check runs both forms on a quadratic and finds them equal.)


# %% tags=["dlbook:optim"]
class Nesterov(Momentum):
    """Nesterov: v <- beta v + g, then theta <- theta - lr (g + beta v)."""

    def update(self, theta, g, group, state):
        if not state:
            state["v"] = torch.zeros_like(theta)
        v = state["v"]
        v.mul_(group["beta"]).add_(g)  # v <- beta v + g
        theta.add_(g + group["beta"] * v, alpha=-group["lr"])  # look ahead


# %% tags=["hide-cell"]
# Nesterov's original form, gradient at the look-ahead point, vs the class above
A = torch.tensor([1.0, 25.0], dtype=torch.float64)  # f = (x^2 + 25 y^2) / 2
lr_n, beta_n, th = 0.03, 0.9, torch.tensor([-8.0, 1.5], dtype=torch.float64)
v_n, phi = torch.zeros(2, dtype=torch.float64), th.clone().requires_grad_()
nesterov = Nesterov([phi], lr=lr_n, beta=beta_n)
for _ in range(50):
    v_n = beta_n * v_n + A * (th - lr_n * beta_n * v_n)  # gradient at look-ahead
    th = th - lr_n * v_n
    phi.grad = A * phi.detach()  # our class: the gradient where it stands
    nesterov.step()
gap_n = (phi.detach() - (th - lr_n * beta_n * v_n)).abs().max().item()
print(f"max |phi (our Nesterov) - look-ahead point of the original| = {gap_n:.1e}")
assert gap_n < 1e-12 * th.abs().max().item() + 1e-15

# %% [markdown]
# The next four give **every coordinate its own step size**. **AdaGrad**
# {cite}`duchi2011adaptive` divides by the root of the sum of all squared
# gradients so far ($\odot$ and the division are element-wise):
#
# $$
# \mathbf{s}_{t+1} = \mathbf{s}_t + \mathbf{g}_t\odot\mathbf{g}_t, \qquad
# \theta_{t+1} = \theta_t - \gamma\,\frac{\mathbf{g}_t}{\sqrt{\mathbf{s}_{t+1}}+\epsilon}.
# $$ (eq-adagrad)
#
# Coordinates with large gradients get small steps and vice versa, but
# $\mathbf{s}$ only grows, so every step size decays towards zero.


# %% tags=["dlbook:optim"]
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


# %% [markdown]
# **RMSProp** {cite}`tieleman2012rmsprop` replaces the sum by an exponential
# moving average with decay $\beta_2$, which forgets old gradients:
#
# $$
# \begin{aligned}
# \mathbf{s}_{t+1} &= \beta_2\,\mathbf{s}_t + (1-\beta_2)\,\mathbf{g}_t\odot\mathbf{g}_t,\\
# \theta_{t+1} &= \theta_t - \gamma\,\frac{\mathbf{g}_t}{\sqrt{\mathbf{s}_{t+1}}+\epsilon}.
# \end{aligned}
# $$ (eq-rmsprop)
#
# $\mathbf{s}$ estimates the second moment $\mathbb{E}[g_i^2]$ of each
# coordinate's gradient, so steep or noisy directions are damped and flat,
# consistent ones are sped up. (We put $\epsilon$ outside the square root, as
# PyTorch does; some texts put it inside. PyTorch calls $\beta_2$ `alpha`.)


# %% tags=["dlbook:optim"]
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


# %% [markdown]
# **AdaDelta** {cite}`zeiler2012adadelta` notices that in RMSProp's step
# $\gamma\,g/\sqrt{s}$ the units do not match: if $\theta$ is measured in
# metres and the loss is dimensionless, $g$ is in 1/metres and $g/\sqrt{s}$
# has no unit at all, so $\gamma$ must carry the metres. AdaDelta replaces
# $\gamma$ by a second running average, $\mathbf{d}$, of the squared *steps*
# it has taken, which does carry the units of $\theta$ ($\rho$ is the decay of
# both averages):
#
# $$
# \begin{aligned}
# \mathbf{s}_{t+1} &= \rho\,\mathbf{s}_t + (1-\rho)\,\mathbf{g}_t\odot\mathbf{g}_t, &
# \Delta_t &= \frac{\sqrt{\mathbf{d}_t+\epsilon}}{\sqrt{\mathbf{s}_{t+1}+\epsilon}}\odot\mathbf{g}_t,\\
# \mathbf{d}_{t+1} &= \rho\,\mathbf{d}_t + (1-\rho)\,\Delta_t\odot\Delta_t, &
# \theta_{t+1} &= \theta_t - \gamma\,\Delta_t .
# \end{aligned}
# $$ (eq-adadelta)
#
# The original has no learning rate at all ($\gamma = 1$, PyTorch's default);
# $\epsilon$, here inside the roots, starts the step average off.


# %% tags=["dlbook:optim"]
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


# %% [markdown]
# **Adam** {cite}`kingma2015adam` combines momentum and RMSProp: a moving
# average $\mathbf{m}_1$ of the gradients and a moving average $\mathbf{m}_2$
# of their squares, each divided by a *bias correction*, with $t$ counting
# steps from 1:
#
# $$
# \begin{aligned}
# \mathbf{m}_1 &\leftarrow \beta_1\mathbf{m}_1 + (1-\beta_1)\,\mathbf{g}_t, &
# \hat{\mathbf{m}}_1 &= \frac{\mathbf{m}_1}{1-\beta_1^{t}},\\
# \mathbf{m}_2 &\leftarrow \beta_2\mathbf{m}_2 + (1-\beta_2)\,\mathbf{g}_t\odot\mathbf{g}_t, &
# \hat{\mathbf{m}}_2 &= \frac{\mathbf{m}_2}{1-\beta_2^{t}},\\
# \theta_{t+1} &= \theta_t - \gamma\,\frac{\hat{\mathbf{m}}_1}{\sqrt{\hat{\mathbf{m}}_2}+\epsilon}.
# \end{aligned}
# $$ (eq-adam)
#
# The usual values are $\beta_1 = 0.9$, $\beta_2 = 0.999$, $\epsilon = 10^{-8}$.
# `weight_decay` and `amsgrad` (explained below) pass through `**kw`; the base
# class refuses any other name, so a typo such as `betas=` raises an error.


# %% tags=["dlbook:optim"]
class Adam(FromScratch):
    """Adam: bias-corrected moving averages of g and g*g (AMSGrad optional)."""

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, **kw):
        hyper = dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps)
        super().__init__(params, hyper | dict(weight_decay=0.0, amsgrad=False) | kw)


# %% [markdown]
# The update keeps a step count and the two moments in `state`. As in
# {ref}`ch-autodiff`, `add_to_class` attaches the function to the class as its
# `update` method:


# %% tags=["dlbook:optim"]
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


# %% [markdown]
# Adam's `weight_decay`, like PyTorch's, adds $\lambda\theta$ to the gradient
# before the moments see it, so the decay is divided by $\sqrt{\hat{\mathbf m}_2}$
# like everything else. **AdamW** {cite}`loshchilov2019decoupled` *decouples*
# it: it shrinks the weights by $1-\gamma\lambda$ and then takes an ordinary
# Adam step on the plain gradient. {ref}`ch-generalization` shows that the two
# end at different weights; here it is two lines on top of `Adam`.


# %% tags=["dlbook:optim"]
class AdamW(Adam):
    """AdamW: shrink theta by (1 - lr wd), then an Adam step on the plain gradient."""

    decoupled_decay = True  # the base class does not add wd * theta to g

    def update(self, theta, g, group, state):
        theta.mul_(1 - group["lr"] * group["weight_decay"])  # decoupled decay
        super().update(theta, g, group, state)


# %% [markdown]
# ## Checking the optimizers against `torch.optim`
#
# A from-scratch optimizer is only useful if it is *exactly* the algorithm
# everyone else means. We train two copies of the same small network on
# scikit-learn's 8x8 digits {cite}`pedregosa2011scikit` side by side, one with
# our class and one with PyTorch's, on the same mini-batches, and record the
# largest difference between their parameters over all steps. We work in
# double precision so that a real discrepancy cannot hide behind round-off.

# %%
digits = data.load_digits()
x_dig = digits.x.flatten(1).double()  # (1797, 64) pixel values 0..16
x_dig = (x_dig - x_dig.mean(0)) / (x_dig.std(0) + 1e-3)  # standardized inputs
y_dig = digits.y

# %% [markdown]
# Each pair is ours next to the `torch.optim` call that should reproduce it.
# First the three gradient-descent methods; note that PyTorch's `momentum` is
# our $\beta$:

# %%
T = torch.optim
PAIRS = {  # name: (ours, PyTorch's), each a function of the parameters
    "SGD": (
        lambda p: SGD(p, lr=0.1, weight_decay=1e-3),
        lambda p: T.SGD(p, lr=0.1, weight_decay=1e-3),
    ),
    "Momentum": (
        lambda p: Momentum(p, lr=0.05, beta=0.9),
        lambda p: T.SGD(p, lr=0.05, momentum=0.9),
    ),
    "Nesterov": (
        lambda p: Nesterov(p, lr=0.05, beta=0.9),
        lambda p: T.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    ),
}

# %% [markdown]
# Then the three that give each coordinate its own step size (RMSprop's
# `alpha` is our $\beta_2$):

# %%
PAIRS |= {
    "AdaGrad": (lambda p: AdaGrad(p, lr=0.05), lambda p: T.Adagrad(p, lr=0.05)),
    "RMSProp": (
        lambda p: RMSProp(p, lr=1e-3, beta2=0.99),
        lambda p: T.RMSprop(p, lr=1e-3, alpha=0.99),
    ),
    "AdaDelta": (lambda p: AdaDelta(p), lambda p: T.Adadelta(p)),
}

# %% [markdown]
# Finally Adam and AdamW, each with weight decay: Adam adds it to the gradient
# (as SGD above does), AdamW decouples it.

# %%
PAIRS |= {
    "Adam": (
        lambda p: Adam(p, lr=1e-3, weight_decay=1e-3),
        lambda p: T.Adam(p, lr=1e-3, weight_decay=1e-3),
    ),
    "AdamW": (
        lambda p: AdamW(p, lr=1e-3, weight_decay=0.1),
        lambda p: T.AdamW(p, lr=1e-3, weight_decay=0.1),
    ),
}

# %% [markdown]
# The race needs the network and two small helpers: one training step, and the
# largest gap between the parameters of two networks.


# %%
def digits_mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10)).double()


def train_step(model, opt, xb, yb) -> float:
    opt.zero_grad()
    loss = F.cross_entropy(model(xb), yb)
    loss.backward()
    opt.step()
    return loss.item()


def param_gap(a: nn.Module, b: nn.Module) -> float:
    """Largest |difference| between corresponding parameters of a and b."""
    pairs = zip(a.parameters(), b.parameters())
    return max((p - q).abs().max().item() for p, q in pairs)


# %% [markdown]
# The race itself: every step, both copies see the same batch, compute their
# gradients and update; then we measure the gap.


# %%
def race(make_ours, make_theirs, steps: int):
    """Train two identical MLPs with two optimizers; our losses, largest gap."""
    ours, theirs = digits_mlp(), digits_mlp()
    opts = make_ours(ours.parameters()), make_theirs(theirs.parameters())
    batches, losses, gap = data.Batches(x_dig, y_dig, batch_size=64, seed=0), [], 0.0
    while len(losses) < steps:
        for xb, yb in batches:
            loss = train_step(ours, opts[0], xb, yb)  # our optimizer's loss
            train_step(theirs, opts[1], xb, yb)
            losses.append(loss)
            gap = max(gap, param_gap(ours, theirs))
            if len(losses) == steps:
                break
    return losses, gap


# %% [markdown]
# We run the race for every pair and print the largest gap.

# %%
races = {name: race(*pair, cfg.check_steps) for name, pair in PAIRS.items()}
for name, (losses, gap) in races.items():
    print(f"{name:>9}: loss {losses[0]:.3f} -> {losses[-1]:.3f}, gap {gap:.1e}")
max_gap = dlbook.report(
    f"max parameter gap to torch.optim over {cfg.check_steps} steps",
    max(g for _, g in races.values()),
    fmt=".1e",
)

# %% tags=["remove-cell"]
assert max_gap < 1e-12, "every from-scratch optimizer reproduces torch.optim"
assert all(len(losses) == cfg.check_steps for losses, _ in races.values())
assert all(
    sum(losses[-20:]) < 0.5 * sum(losses[:20]) for losses, _ in races.values()
), "all must learn"

# %% [markdown]
# All eight agree with PyTorch to round-off of float64 over every one of the
# steps, so from now on we can use either. The same loop also gives a first,
# rough comparison of the eight on a real problem (with hyper-parameters that
# are common defaults, not tuned for this task), in {numref}`fig-optimization-race`.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Training loss of the eight optimizers on the digits, each with a common default learning rate (running mean over 10 mini-batches).", "name": "fig-optimization-race"}, "image": {"alt": "Eight falling loss curves on a log scale; AdaGrad, momentum and Nesterov end lowest, Adam and AdamW highest."}}
fig, ax = plot.subplots(width=7, height=3.6)
smooth = 10  # running mean over 10 mini-batches
plot.curves(
    ax,
    {
        name: torch.tensor(ls).unfold(0, smooth, 1).mean(1).tolist()
        for name, (ls, _) in races.items()
    },
    xlabel="step",
    ylabel="training cross-entropy",
    logy=True,
)
ax.legend(ncols=2)
plot.show(fig)

# %% tags=["remove-cell"]
tail = {name: sum(ls[-20:]) / 20 for name, (ls, _) in races.items()}
best3 = ("AdaGrad", "Momentum", "Nesterov")
assert all(max(tail[n] for n in best3) < tail[m] for m in tail if m not in best3)

# %% [markdown]
# With these settings AdaGrad, momentum and Nesterov end lowest (the mean loss
# of their last 20 batches is below every other optimizer's), while RMSProp,
# Adam and AdamW, at their customary small learning rate, fall more slowly. Such
# comparisons say little in general: learning rates are not comparable across
# optimizers and must be tuned for each {cite}`schmidt2021descending`. Adam is
# a robust default, while well-tuned SGD with momentum sometimes generalizes
# better {cite}`wilson2017marginal`.
#
# ## Adam's bias correction
#
# Both moving averages start at zero. If the gradient were a constant $g$,
# after $t$ steps $\mathbf{m}_1 = (1-\beta_1^t)\,g$ and
# $\mathbf{m}_2 = (1-\beta_2^t)\,g^2$: early on they are far too small,
# $\mathbf{m}_2$ much more so, because $\beta_2$ is closer to 1. Dividing by
# $1-\beta^t$ makes both exact. We compute the step Adam takes, in units of
# $\gamma$, with and without the correction over 5,000 steps.

# %%
beta1, beta2, g = 0.9, 0.999, 0.5  # a constant gradient g
t = torch.arange(1, 5_001, dtype=torch.float64)
m1, m2 = (1 - beta1**t) * g, (1 - beta2**t) * g**2  # the moving averages, from 0
step_raw = m1 / m2.sqrt()  # without correction, in units of the learning rate
step_hat = (m1 / (1 - beta1**t)) / (m2 / (1 - beta2**t)).sqrt()  # with correction
at = (1, 10, 200, 1_000, 3_000, 5_000)
print("t:                     ", at)
print("step / lr, uncorrected:", [round(step_raw[i - 1].item(), 3) for i in at])
print("step / lr, corrected:  ", [round(step_hat[i - 1].item(), 3) for i in at])

# %% [markdown]
# Our `Adam` should take exactly the corrected steps. We give it the same
# constant gradient for five steps and measure how far it moves each time:

# %%
theta = torch.zeros(1, dtype=torch.float64, requires_grad=True)
adam, moves = Adam([theta], lr=0.01, eps=1e-12), []
for _ in range(5):
    theta.grad = torch.full_like(theta, g)
    before = theta.item()
    adam.step()
    moves.append((before - theta.item()) / 0.01)
print("our Adam, step / lr, first five steps:", [round(m, 6) for m in moves])

# %% tags=["remove-cell"]
assert (step_hat - 1).abs().max() < 1e-12, "bias-corrected steps are lr * sign(g)"
first = (1 - beta1) / math.sqrt(1 - beta2)
assert abs(step_raw[0].item() - first) < 1e-12 and step_raw[0] > 3
assert step_raw[199] > 2 and step_raw[999] > 1.2, "still far off after 1000 steps"
assert abs(step_raw[2999] - 1) < 0.05 and abs(step_raw[-1] - 1) < 0.01
assert all(abs(m - 1) < 1e-9 for m in moves)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The step Adam takes on a constant gradient, in units of the learning rate, with and without bias correction, over 5,000 steps (log scale in t).", "name": "fig-optimization-bias"}, "image": {"alt": "The uncorrected step rises from about 3 to a peak near 6.5 at t = 10 and falls slowly to 1 by a few thousand steps; the corrected step is 1 throughout."}}
fig, ax = plot.subplots(width=7, height=3.4)
plot.curves(
    ax,
    {"without bias correction": step_raw.tolist(), "with": step_hat.tolist()},
    xlabel="step t",
    ylabel="step size / learning rate",
)
ax.set_xscale("log")
ax.axhline(1.0, color="k", lw=0.5)
plot.show(fig)

# %% [markdown]
# Without the correction the very first step is $(1-\beta_1)/\sqrt{1-\beta_2}
# \approx 3.2$ times the learning rate, and it grows to about 6.5 times by
# $t = 10$, once $\mathbf{m}_1$ has caught up but $\mathbf{m}_2$ has not
# ({numref}`fig-optimization-bias`). The ratio then falls only as fast as
# $\beta_2^t$ decays, on a horizon of $1/(1-\beta_2) = 1000$ steps: the printed
# values are still above 2 at $t = 200$, about 1.26 at $t = 1000$, and within
# a few per cent of 1 only after about 3,000 steps. With the correction every
# step is exactly $\gamma\,\mathrm{sign}(g)$ from the start, and our
# implementation does exactly that.
#
# ```{admonition} Adam does not always converge
# :class: warning
# The original Adam paper proved convergence for convex problems, but the proof
# was wrong: Reddi, Kale and Kumar {cite}`reddi2018convergence` constructed a
# convex problem on which Adam converges to the *worst* point. The culprit is
# the moving average in the denominator: a rare large gradient is forgotten
# quickly, so the effective step size can grow again. Their fix, **AMSGrad**,
# divides by the running *maximum* of $\mathbf{m}_2$ instead (our `Adam` with
# `amsgrad=True`, like PyTorch's). In practice AMSGrad rarely beats Adam, and
# Adam remains the usual default.
# ```
#
# The counterexample is an online problem on $\theta \in [-1, 1]$: the loss is
# $C\theta$ at every third step and $-\theta$ at the two others, so on average
# it is $(C-2)\theta/3$, smallest at $\theta = -1$. With $C = 3$, $\beta_1 = 0$,
# $\beta_2 = 1/(1+C^2)$ and step sizes $\gamma/\sqrt{t}$:


# %%
def online_problem(amsgrad: bool, C=3.0, steps=3000, lr=0.5) -> float:
    theta = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = Adam([theta], lr=lr, beta1=0.0, beta2=1 / (1 + C**2), amsgrad=amsgrad)
    for t in range(1, steps + 1):
        opt.param_groups[0]["lr"] = lr / math.sqrt(t)
        theta.grad = torch.tensor([C if t % 3 == 1 else -1.0], dtype=torch.float64)
        opt.step()
        with torch.no_grad():
            theta.clamp_(-1.0, 1.0)  # stay in the feasible set [-1, 1]
    return theta.item()


theta_adam, theta_ams = online_problem(False), online_problem(True)
print(
    f"Adam ends at theta = {theta_adam:+.3f}, AMSGrad at theta = {theta_ams:+.3f} "
    "(the optimum is -1)"
)

# %% tags=["remove-cell"]
assert theta_adam > 0.9 and theta_ams < -0.9

# %% [markdown]
# Adam is pulled to $\theta = +1$, where the average loss is largest. The large
# gradient $C$ arrives once in three steps; Adam's short memory ($\beta_2 = 0.1$)
# lets the two small gradients in between take steps as large as its own, and
# together they outweigh it. AMSGrad keeps the large second moment and goes to
# the optimum.
#
# %% [markdown]
# ## Trajectories on two test functions
#
# Two classic functions of two variables show the optimizers' characters. The
# **ill-conditioned quadratic** $f(x, y) = \tfrac12(x^2 + 25y^2)$ has curvatures
# 1 and 25 (condition number 25): gradient descent must use $\gamma < 2/25$ for
# stability and then crawls along the flat $x$ direction, as we saw in
# {ref}`ch-perceptron`. **Rosenbrock's function**
# $f(x, y) = (1-x)^2 + 100(y - x^2)^2$ has its minimum at $(1, 1)$ at the end
# of a long, curved, nearly flat valley. Each optimizer gets a learning rate
# tuned by hand for each function.


# %%
def quadratic(th):
    return 0.5 * (th[0] ** 2 + 25 * th[1] ** 2)


def rosenbrock(th):
    return (1 - th[0]) ** 2 + 100 * (th[1] - th[0] ** 2) ** 2


def trajectory(f, make_opt, start, steps: int) -> torch.Tensor:
    """Minimize f from `start` with make_opt([theta]); the path, (steps + 1, 2)."""
    theta = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt, path = make_opt([theta]), [theta.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        f(theta).backward()
        opt.step()
        path.append(theta.detach().clone())
    return torch.stack(path)


# %% [markdown]
# For the quadratic, the momentum methods use $\gamma = 0.035$ and
# $\beta = 0.5$:

# %%
FOR_QUADRATIC = {  # name: a function of the parameters that makes the optimizer
    "SGD": lambda p: SGD(p, lr=0.035),
    "Momentum": lambda p: Momentum(p, lr=0.035, beta=0.5),
    "Nesterov": lambda p: Nesterov(p, lr=0.035, beta=0.5),
    "AdaGrad": lambda p: AdaGrad(p, lr=1.5),
    "RMSProp": lambda p: RMSProp(p, lr=0.15, beta2=0.9),
    "Adam": lambda p: Adam(p, lr=0.5, beta2=0.99),
}

# %% [markdown]
# Rosenbrock's curvature reaches a few thousand on the valley walls, so there
# the plain gradient methods need $\gamma \approx 10^{-3}$:

# %%
FOR_ROSENBROCK = {  # the same six optimizers, tuned for Rosenbrock
    "SGD": lambda p: SGD(p, lr=1.5e-3),
    "Momentum": lambda p: Momentum(p, lr=1e-3, beta=0.9),
    "Nesterov": lambda p: Nesterov(p, lr=1e-3, beta=0.9),
    "AdaGrad": lambda p: AdaGrad(p, lr=0.5),
    "RMSProp": lambda p: RMSProp(p, lr=3e-3),
    "Adam": lambda p: Adam(p, lr=0.05, beta2=0.99),
}

# %% [markdown]
# Each optimizer then runs 60 steps on the quadratic and 1000 on Rosenbrock,
# from fixed starting points:

# %%
paths = {
    name: (
        trajectory(quadratic, FOR_QUADRATIC[name], [-8.0, 1.5], 60),
        trajectory(rosenbrock, FOR_ROSENBROCK[name], [-1.5, 2.0], 1000),
    )
    for name in FOR_QUADRATIC
}
for name, (pq, pr) in paths.items():
    print(
        f"{name:>9}: quadratic {quadratic(pq[-1]):.1e} after 60 steps, "
        f"Rosenbrock {rosenbrock(pr[-1]):.1e} at ({pr[-1, 0]:.3f}, {pr[-1, 1]:.3f}) "
        "after 1000 steps"
    )

# %% tags=["remove-cell"]
fq = {n: quadratic(pq[-1]).item() for n, (pq, _) in paths.items()}
fr = {n: rosenbrock(pr[-1]).item() for n, (_, pr) in paths.items()}
assert all(fq[n] < 0.02 * quadratic(torch.tensor([-8.0, 1.5])).item() for n in fq), (
    "all descend on the quadratic"
)
assert all(fr[n] < 0.2 * rosenbrock(torch.tensor([-1.5, 2.0])).item() for n in fr), (
    "all descend on Rosenbrock"
)
assert (
    fq["Momentum"] < fq["SGD"]
    and fr["Momentum"] < fr["SGD"]
    and fr["Nesterov"] < fr["SGD"]
)
assert fr["Adam"] < 1e-2 and fr["Momentum"] < 1e-3
assert max(fr, key=fr.get) == "AdaGrad", "AdaGrad is left furthest behind"

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Paths of the six classic optimizers on the ill-conditioned quadratic (60 steps) and on Rosenbrock's function (1000 steps); the star marks the minimum.", "name": "fig-optimization-paths"}, "image": {"alt": "Two contour plots with coloured optimizer paths. On the quadratic SGD zig-zags while the adaptive methods head straight in; on Rosenbrock momentum, Nesterov and Adam reach the star, AdaGrad stops early."}}
fig, axes = plot.subplots(1, 2, width=10, height=4.2)
for ax, f, idx, (lo, hi), levels in (
    (axes[0], quadratic, 0, ((-9, 2), (-2, 2)), torch.logspace(-2, 2.5, 12)),
    (axes[1], rosenbrock, 1, ((-2, 2), (-1, 3)), torch.logspace(-1, 3, 12)),
):
    gx, gy = torch.meshgrid(
        torch.linspace(*lo, 300), torch.linspace(*hi, 300), indexing="xy"
    )
    ax.contour(
        gx,
        gy,
        f(torch.stack([gx, gy])),
        levels=levels.tolist(),
        colors="0.75",
        linewidths=0.7,
    )
    for name, pr in paths.items():
        path = pr[idx]
        ax.plot(path[:, 0], path[:, 1], lw=1.2, label=name)
    ax.plot(*((0, 0) if idx == 0 else (1, 1)), "k*", ms=10)
    ax.set_xlim(*lo)
    ax.set_ylim(*hi)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
axes[0].set_title("ill-conditioned quadratic, 60 steps")
axes[1].set_title("Rosenbrock, 1000 steps")
axes[1].legend(loc="lower right", ncols=2)
plot.show(fig)

# %% [markdown]
# In {numref}`fig-optimization-paths`, on the quadratic, SGD zig-zags across the steep $y$ direction while creeping
# along $x$; momentum damps the zig-zag and builds up speed along the valley.
# The adaptive methods rescale each coordinate and head almost straight
# towards the minimum, the "sign-like" early steps of RMSProp and Adam being
# visible as diagonal segments. On Rosenbrock, SGD and RMSProp are still on
# their way along the curved valley after 1000 steps, while momentum, Nesterov
# and Adam reach the minimum; AdaGrad's ever-shrinking steps leave it furthest
# behind (the printed losses).
#
# ## Learning-rate schedules
#
# A constant learning rate is a compromise: large steps make fast, rough
# progress, small steps are needed to settle into a minimum and to average out
# the mini-batch noise. **Schedules** change $\gamma$ during training.
# `torch.optim.lr_scheduler` provides them for any optimizer (ours included);
# the scheduler's `step()` is called once per epoch (or once per batch) after
# `optimizer.step()`. Six common ones, over 100 epochs starting from
# $\gamma_0 = 0.1$:
#
# - **step**: multiply by $0.5$ every 25 epochs;
# - **exponential**: multiply by $0.96$ every epoch;
# - **$1/\text{epoch}$**: $\gamma_e = \gamma_0/(e+1)$, the Robbins–Monro type decay, via `LambdaLR`;
# - **cosine annealing** {cite}`loshchilov2017sgdr`:
#   $\gamma_e = \gamma_{\min} + \tfrac12(\gamma_0-\gamma_{\min})(1 + \cos(\pi e/E))$;
# - **one-cycle** {cite}`smith2019super`: up from $\gamma_0/25$ to a peak, then down far below the start;
# - **warm-up** {cite}`goyal2017accurate`: a linear ramp over 10 epochs, then cosine.

# %%
S = torch.optim.lr_scheduler


def warmup_cosine(o):  # a linear ramp over 10 epochs, then cosine over the rest
    ramp = S.LinearLR(o, start_factor=0.01, total_iters=10)
    return S.SequentialLR(o, [ramp, S.CosineAnnealingLR(o, T_max=90)], milestones=[10])


SCHEDULES = {
    "step": lambda o: S.StepLR(o, step_size=25, gamma=0.5),
    "exponential": lambda o: S.ExponentialLR(o, gamma=0.96),
    "1/epoch": lambda o: S.LambdaLR(o, lr_lambda=lambda epoch: 1 / (epoch + 1)),
    "cosine": lambda o: S.CosineAnnealingLR(o, T_max=100, eta_min=1e-3),
    "one-cycle": lambda o: S.OneCycleLR(
        o, max_lr=0.1, total_steps=100, cycle_momentum=False
    ),
    "warm-up + cosine": warmup_cosine,
}


# %% [markdown]
# To see a schedule we step it 100 times with a dummy optimizer and record the
# learning rate it sets before each step.


# %%
def lr_curve(make_scheduler, epochs: int = 100, lr: float = 0.1) -> list[float]:
    opt = SGD([torch.zeros(1, requires_grad=True)], lr=lr)  # a dummy parameter
    scheduler, lrs = make_scheduler(opt), []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()  # (training for one epoch would happen here)
        scheduler.step()
    return lrs


lrs = {name: lr_curve(make) for name, make in SCHEDULES.items()}
print("learning rate at epochs 0, 10, 50, 99:")
for name, curve in lrs.items():
    print(f"{name:>17}: " + ", ".join(f"{curve[e]:.4f}" for e in (0, 10, 50, 99)))

# %% tags=["remove-cell"]
assert (
    abs(lrs["step"][25] - 0.05) < 1e-12 and abs(lrs["step"][99] - 0.1 * 0.5**3) < 1e-12
)
assert (
    abs(lrs["1/epoch"][9] - 0.01) < 1e-12
    and abs(lrs["exponential"][10] - 0.1 * 0.96**10) < 1e-12
)
assert (
    abs(lrs["cosine"][50] - (1e-3 + 0.5 * (0.1 - 1e-3))) < 1e-9
    and lrs["cosine"][99] < 0.002
)
assert abs(max(lrs["one-cycle"]) - 0.1) < 1e-3 and lrs["one-cycle"][0] < 0.005
assert (
    lrs["warm-up + cosine"][0] < 0.002 and abs(lrs["warm-up + cosine"][10] - 0.1) < 1e-9
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Six learning-rate schedules over 100 epochs from a base rate of 0.1.", "name": "fig-optimization-schedules"}, "image": {"alt": "Six learning-rate curves: step and exponential decay, 1/epoch, cosine, one-cycle rising then falling, and warm-up followed by cosine."}}
fig, ax = plot.subplots(width=7, height=3.6)
plot.curves(ax, lrs, xlabel="epoch", ylabel="learning rate")
ax.legend(ncols=2)
plot.show(fig)

# %% [markdown]
# In {numref}`fig-optimization-schedules`, step and exponential decay shrink
# the rate geometrically; $1/\text{epoch}$
# falls fastest at first and then very slowly. Cosine annealing keeps the rate
# high for longer and then lowers it smoothly to $\gamma_{\min}$. Warm-up starts
# tiny because the first updates, made with random weights and (for Adam)
# unreliable second-moment estimates, are the most likely to throw the
# parameters somewhere bad; one-cycle combines a warm-up with a long
# annealing phase. In practice, warm-up followed by cosine decay is a strong
# default for large models.
#
# ### Schedules in training
#
# Plotted curves say nothing about whether a schedule helps. We train the same
# MLP (one hidden layer of 256 ReLU units) on `cfg.n_sched` Fashion-MNIST
# images {cite}`xiao2017fashion` with momentum SGD at a peak rate of 0.05, four
# times: at a constant rate, with a step decay (divide by 5 after a third and
# after two thirds of the run), with cosine annealing and with one-cycle. The
# schedulers step after every mini-batch, so each sees the whole run as its
# horizon. Accuracy is measured on 5,000 held-out training images.

# %%
train_set, test_set = data.load_fashion_mnist("train"), data.load_fashion_mnist("test")
perm = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(1))
x_all = data.to_float(train_set.x).flatten(1)  # (60000, 784)
pick = lambda idx: (x_all[idx].to(device), train_set.y[idx].to(device))  # noqa: E731
held_out = data.Batches(*pick(perm[-5000:]), batch_size=2_500, shuffle=False)
sched_train = data.Batches(*pick(perm[: cfg.n_sched]), batch_size=64, seed=0)
n_steps = cfg.sched_epochs * len(sched_train)
IN_TRAINING = {  # name: scheduler for an optimizer o over n_steps mini-batches
    "constant": lambda o: S.LambdaLR(o, lr_lambda=lambda k: 1.0),
    "step": lambda o: S.MultiStepLR(o, [n_steps // 3, 2 * n_steps // 3], gamma=0.2),
    "cosine": lambda o: S.CosineAnnealingLR(o, T_max=n_steps),
    "one-cycle": lambda o: S.OneCycleLR(
        o, max_lr=0.05, total_steps=n_steps, cycle_momentum=False
    ),
}


# %%
def train_scheduled(make_scheduler):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
    opt = Momentum(net.parameters(), lr=0.05, beta=0.9)
    return fit(
        net,
        sched_train,
        epochs=cfg.sched_epochs,
        optimizer=opt,
        scheduler=make_scheduler(opt),
        val=held_out,
        progress=False,
    )


# %% [markdown]
# Each schedule trains the same network from the same initial weights:

# %%
sched_hist = {name: train_scheduled(make) for name, make in IN_TRAINING.items()}
for name, h in sched_hist.items():
    print(
        f"{name:>9}: final training loss {h.train_loss[-1]:.3f}, "
        f"held-out accuracy {h.val_acc[-1]:.4f}"
    )

# %% tags=["remove-cell"]
acc_s = {name: h.val_acc[-1] for name, h in sched_hist.items()}
assert all(acc_s[n] > acc_s["constant"] for n in ("step", "cosine", "one-cycle"))

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The same MLP trained with four learning-rate schedules: training loss and held-out accuracy per epoch.", "name": "fig-optimization-sched-train"}, "image": {"alt": "Two panels; the annealed schedules end with lower training loss and higher held-out accuracy than the constant rate."}}
fig, axes = plot.subplots(1, 2, width=7, height=3.2)
plot.curves(
    axes[0],
    {n: h.train_loss for n, h in sched_hist.items()},
    ylabel="training loss",
    logy=True,
)
plot.curves(
    axes[1], {n: h.val_acc for n, h in sched_hist.items()}, ylabel="held-out accuracy"
)
plot.show(fig)

# %% [markdown]
# {numref}`fig-optimization-sched-train` shows the pattern the printed numbers
# give: while the rate is large all runs look alike; the annealed runs then
# settle and their held-out accuracy ends higher: each of the three annealed
# schedules beats the constant rate, which the run checks. The training loss
# plotted is the mean over each epoch, so it lags behind the accuracy.
#
# ## Vanishing gradients
#
# Deep networks used to be notoriously hard to train because the gradient
# reaching the first layers was tiny {cite}`bengio1994learning,glorot2010understanding`.
# The simplest case shows why. Take a chain of three sigmoid units with scalar
# weights,
#
# $$
# \hat y = \sigma(w_3\,\sigma(w_2\,\sigma(w_1 x))), \qquad
# \frac{\mathrm{d}\hat y}{\mathrm{d}w_1}
#  = \underbrace{\sigma'(u_5)}_{\le 1/4}\, w_3\,
#    \underbrace{\sigma'(u_3)}_{\le 1/4}\, w_2\,
#    \underbrace{\sigma'(u_1)}_{\le 1/4}\, x ,
# $$ (eq-sigmoid-chain)
#
# with $u_1 = w_1x$, $u_3 = w_2\sigma(u_1)$, $u_5 = w_3\sigma(u_3)$. The
# sigmoid's slope $\sigma'(u) = \sigma(u)(1-\sigma(u))$ is at most $1/4$ (at
# $u = 0$), so with weights of size at most 1 every layer shrinks the gradient
# by at least a factor 4. We check the formula and the bound on $10^5$ random
# chains at once, with autograd.

# %%
n = 100_000  # independent chains
w = torch.randn(3, n, dtype=torch.float64, requires_grad=True)  # w1, w2, w3 per chain
x = torch.randn(n, dtype=torch.float64)
u1 = w[0] * x
u3 = w[1] * torch.sigmoid(u1)
u5 = w[2] * torch.sigmoid(u3)
# the chains are independent: one backward pass gives every dy/dw
torch.sigmoid(u5).sum().backward()

# %% [markdown]
# By hand, the derivative is the product of the three slopes with the weights
# and the input:

# %%
dsig = lambda u: torch.sigmoid(u) * (1 - torch.sigmoid(u))  # noqa: E731
factors = torch.stack([dsig(u1), dsig(u3), dsig(u5)]).detach()  # (3, n)
by_hand = (dsig(u5) * w[2] * dsig(u3) * w[1] * dsig(u1) * x).detach()
ratio = (w.grad[0].abs() / w.grad[2].abs()).median()
print(
    f"largest sigmoid slope {factors.max():.6f}; "
    f"max |by hand - autograd| {(by_hand - w.grad[0]).abs().max():.1e}"
)
print(f"median |dy/dw1| / |dy/dw3| = {ratio:.4f}")

# %% tags=["remove-cell"]
assert factors.max() > 0.2499, "some chain sits near the top of the slope"
assert torch.allclose(by_hand, w.grad[0], rtol=1e-12, atol=1e-15)
assert ratio < 0.1

# %% [markdown]
# Every slope is at most $1/4$, the product rule by hand matches autograd, and
# the gradient with respect to the first weight is typically more than ten
# times smaller than that with respect to the last (the median ratio printed
# above). In a network with tens of layers the first layers barely learn. Two
# cures follow: activations whose slope is 1 where they are active (ReLU,
# introduced in {ref}`ch-mlp`), and initial weights scaled so that signals
# neither shrink nor grow from layer to layer. The second needs a little
# probability.
#
# %% [markdown]
# ## Initialization from variance propagation
#
# Consider one layer $\tilde{\mathbf{y}} = A\mathbf{x}$ with $n_\text{in}$
# inputs and $n_\text{out}$ outputs. Let the inputs $x_j$ be uncorrelated with
# mean 0 and variance $v$, and draw the weights $A_{ij}$ i.i.d. with mean 0 and
# variance $\sigma^2$, independently of $\mathbf{x}$ (biases start at 0). A sum
# of $n_\text{in}$ uncorrelated zero-mean terms has the sum of their variances,
# so
#
# $$
# \operatorname{Var}(\tilde y_i) = \sum_{j=1}^{n_\text{in}} \operatorname{Var}(A_{ij}x_j)
#   = n_\text{in}\,\sigma^2\, v .
# $$ (eq-forward-variance)
#
# - **LeCun** {cite}`lecun1998efficient`: for tanh, which is close to the
#   identity near 0, keep the variance of every layer equal to that of its
#   input: $\sigma^2 = 1/n_\text{in}$.
# - **Xavier / Glorot** {cite}`glorot2010understanding`: the backward pass
#   $\partial\ell/\partial\mathbf{x} = A^\top\,\partial\ell/\partial\tilde{\mathbf{y}}$
#   is a sum over the $n_\text{out}$ outputs, so by the same argument it
#   multiplies gradient variances by $n_\text{out}\sigma^2$. The compromise
#   between preserving both is $\sigma^2 = 2/(n_\text{in}+n_\text{out})$.
# - **He / Kaiming** {cite}`he2015delving`: a ReLU zeroes half of a symmetric
#   input, so $\mathbb{E}[\mathrm{ReLU}(\tilde y)^2] = \tfrac12\operatorname{Var}(\tilde y)$.
#   Equation {eq}`eq-forward-variance` with $\mathbb{E}[x_j^2]$ in place of $v$
#   then loses a factor 2 per layer unless $\sigma^2 = 2/n_\text{in}$
#   (`fan_in` mode; $2/n_\text{out}$ in `fan_out` mode preserves the backward pass).
#
# A uniform distribution on $[-a, a]$ has variance $a^2/3$, so each scheme
# also has a uniform variant with $a = \sqrt{3}\,\sigma$. For a convolution
# with weight shape $(C_\text{out}, C_\text{in}, k_1, k_2)$ each output sums
# over $C_\text{in}k_1k_2$ inputs: $n_\text{in} = C_\text{in}k_1k_2$ and
# $n_\text{out} = C_\text{out}k_1k_2$. Two functions compute the fans and the
# standard deviation each scheme prescribes:


# %% tags=["dlbook:init"]
def fans(weight):
    """(fan_in, fan_out) of a Linear weight (out, in) or a conv weight (out, in, *k)."""
    check.tensor(weight, "weight", ndim=(2, 3, 4, 5))  # a bias has no fans
    receptive_field = math.prod(weight.shape[2:])  # k1 k2 for a Conv2d, 1 for a Linear
    return weight.shape[1] * receptive_field, weight.shape[0] * receptive_field


def init_std(weight, scheme, *, mode="fan_in", gain=1.0):
    """The standard deviation sigma that scheme ("lecun", "xavier", "he") prescribes."""
    check_choice(scheme, "scheme", ("lecun", "xavier", "he"))
    check_choice(mode, "mode", ("fan_in", "fan_out"))  # LeCun and He use one fan
    check.positive(gain, "gain")
    fan_in, fan_out = fans(weight)
    check.positive(min(fan_in, fan_out), "the weight's smallest fan", integer=True)
    fan = fan_in if mode == "fan_in" else fan_out
    variance = {"lecun": 1 / fan, "xavier": 2 / (fan_in + fan_out), "he": 2 / fan}
    return gain * math.sqrt(variance[scheme])


# %% [markdown]
# Drawing is then one call on the tensor, from $\mathcal N(0, \sigma^2)$ or
# from the uniform distribution with the same variance:


# %% tags=["dlbook:init"]
def _draw_(weight, std, dist="normal", generator=None):
    """Fill weight in place from N(0, std^2), or U[-a, a] with the same variance."""
    check_choice(dist, "dist", ("normal", "uniform"))
    with torch.no_grad():
        if dist == "normal":
            return weight.normal_(0.0, std, generator=generator)
        bound = math.sqrt(3.0) * std  # Var(U[-a, a]) = a^2 / 3
        return weight.uniform_(-bound, bound, generator=generator)


# %% [markdown]
# `init_model_` draws the weights of every linear and convolutional layer of a
# network and sets the biases to zero. (`dlbook.init` also names the usual
# combinations, `lecun_normal_`, `xavier_uniform_`, `he_normal_` and so on,
# each one call of `_draw_`.)


# %% tags=["dlbook:init"]
def init_model_(model, scheme, *, dist="normal", mode="fan_in", generator=None):
    """Initialize every Linear and Conv weight of model with scheme; zero the biases."""
    kinds = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
    layers = [m for m in check_module(model).modules() if isinstance(m, kinds)]
    check.nonempty(layers, "the model's nn.Linear and nn.Conv layers")
    for layer in layers:
        _draw_(layer.weight, init_std(layer.weight, scheme, mode=mode), dist, generator)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    return model


# %% [markdown]
# These draw exactly as `torch.nn.init` does, so with the same seed they must
# give the *same tensor* (LeCun is PyTorch's Kaiming with the gain of a linear
# unit). We check that for a Linear and a Conv2d weight:


# %%
def same_draw(ours, theirs, shape) -> bool:
    a, b = torch.empty(shape), torch.empty(shape)
    torch.manual_seed(1), ours(a)
    torch.manual_seed(1), theirs(b)
    return torch.equal(a, b)


def ours(scheme, dist="normal", mode="fan_in"):
    """Our draw for scheme, as a function of the weight tensor w."""
    return lambda w: _draw_(w, init_std(w, scheme, mode=mode), dist)


conv_w = nn.Conv2d(16, 32, kernel_size=3).weight
print(
    f"Conv2d(16, 32, 3): weight {tuple(conv_w.shape)}, (fan_in, fan_out) = "
    f"{fans(conv_w)}, He std {init_std(conv_w, 'he'):.4f}"
)

# %% [markdown]
# Each of our draws next to PyTorch's, compared on both weights:

# %%
kaiming = nn.init.kaiming_normal_
checks = {  # ours, PyTorch's
    "LeCun normal": (ours("lecun"), lambda w: kaiming(w, nonlinearity="linear")),
    "Xavier uniform": (ours("xavier", "uniform"), nn.init.xavier_uniform_),
    "He normal": (ours("he"), lambda w: kaiming(w, nonlinearity="relu")),
    "He uniform, fan_out": (
        ours("he", "uniform", "fan_out"),
        lambda w: nn.init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu"),
    ),
}
shapes = (64, 32), tuple(conv_w.shape)  # a Linear and a Conv2d weight
same = {k: all(same_draw(o, t, s) for s in shapes) for k, (o, t) in checks.items()}
print("identical to torch.nn.init:", same)

# %% tags=["remove-cell"]
assert all(same.values())
assert fans(conv_w) == (16 * 9, 32 * 9) == nn.init._calculate_fan_in_and_fan_out(conv_w)
assert abs(init_std(conv_w, "he") - math.sqrt(2 / 144)) < 1e-15

# %% [markdown]
# Now the experiment that motivates all this: push random inputs through 50
# layers of width 256 and record the root-mean-square (RMS) of the
# pre-activations $\tilde{\mathbf y}$ at every layer, for ReLU and for tanh
# networks, under five initializations: two naive ones ($\mathcal N(0, 0.01^2)$
# and $\mathcal N(0, 1)$) and the three derived above. All of them use the same
# standard-normal draws, scaled by each scheme's $\sigma$, and we average over 8
# independent networks so that the curves show the expected behaviour rather
# than the luck of one draw.

# %%
depth, nets, n_x, width = 50, 8, 32, 256
g = torch.Generator().manual_seed(0)
x0 = torch.randn(nets, n_x, width, generator=g)  # 8 nets x 32 inputs, x ~ N(0, I)
Z = torch.randn(depth, nets, width, width, generator=g)  # N(0, 1), scaled below
square = torch.empty(width, width)
SIGMAS = {
    "N(0, 0.01²)": 0.01,
    "N(0, 1)": 1.0,
    **{name: init_std(square, name.lower()) for name in ("LeCun", "Xavier", "He")},
}

# %% [markdown]
# Each network multiplies by its layer's $\sigma Z_\ell$ and applies the
# activation, fifty times:


# %%
def activation_rms(sigma: float, act) -> list[float]:
    """RMS of the pre-activations z = W h at each layer, W = sigma Z; (depth,)."""
    h, rms = x0, []
    for Z_l in Z:
        z = h @ (sigma * Z_l).transpose(1, 2)  # (nets, n_x, width)
        rms.append(z.pow(2).mean().sqrt().item())
        h = act(z)
    return rms


stats = {
    act_name: {name: activation_rms(sigma, act) for name, sigma in SIGMAS.items()}
    for act_name, act in (("ReLU", torch.relu), ("tanh", torch.tanh))
}
for act_name, per_init in stats.items():
    at = [f"{k} {v[0]:.2g} / {v[9]:.2g} / {v[-1]:.2g}" for k, v in per_init.items()]
    print(f"{act_name} RMS at layer 1 / 10 / 50 ->", "; ".join(at))

# %% tags=["remove-cell"]
he = stats["ReLU"]["He"]
he_spread = dlbook.report(
    "He init, ReLU: max/min activation RMS over 50 layers", max(he) / min(he), fmt=".2f"
)
assert he_spread < 2.0, "He initialization keeps the ReLU signal's scale"
assert (
    stats["ReLU"]["N(0, 0.01²)"][-1] < 1e-30
    and stats["tanh"]["N(0, 0.01²)"][-1] < 1e-30
), "tiny weights: collapse"
assert (
    not math.isfinite(stats["ReLU"]["N(0, 1)"][-1])
    or stats["ReLU"]["N(0, 1)"][-1] > 1e30
), "N(0, 1): explosion"
assert stats["ReLU"]["LeCun"][-1] < 1e-3 * stats["ReLU"]["LeCun"][0], (
    "LeCun halves the ReLU variance per layer"
)
assert 0.02 < stats["tanh"]["Xavier"][-1] < 1.0 and stats["tanh"]["N(0, 1)"][-1] > 5, (
    "tanh saturates with N(0, 1)"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "RMS of the pre-activations through 50 layers of width 256, for five initializations, in a ReLU and a tanh network (log scale; a curve stops where it underflows or overflows).", "name": "fig-optimization-depth-rms"}, "image": {"alt": "Two panels. ReLU: He flat, LeCun and Xavier decaying, the small Gaussian collapsing and N(0, 1) exploding. Tanh: N(0, 1) saturated, the derived schemes decaying slowly, the small Gaussian collapsing."}}
fig, axes = plot.subplots(1, 2, width=10, height=3.6)
for ax, (act_name, per_init) in zip(axes, stats.items()):
    finite = {
        k: [v if math.isfinite(v) and v > 0 else float("nan") for v in vals]
        for k, vals in per_init.items()
    }
    plot.curves(
        ax,
        finite,
        xlabel="layer",
        ylabel="RMS of pre-activations",
        logy=True,
        title=f"{act_name} network",
    )
    ax.set_ylim(1e-40, 1e40)
plot.show(fig)

# %% [markdown]
# In the ReLU network of {numref}`fig-optimization-depth-rms`, He
# initialization keeps the scale constant across all 50 layers (the ratio
# between its largest and smallest
# value is printed above), while LeCun and Xavier lose a factor $\sqrt2$ per
# layer, $\mathcal N(0, 0.01^2)$ collapses to zero and $\mathcal N(0,1)$ grows
# by $\sqrt{256/2} \approx 11$ per layer (each curve stops where its numbers
# underflow or overflow single precision). In the tanh network the signal cannot explode, since
# tanh is bounded, but with $\mathcal N(0,1)$ every unit saturates at $\pm1$ and
# its slope is nearly 0; LeCun and Xavier (identical for square layers, so
# their curves coincide) keep the signal alive, shrinking only slowly because
# tanh is slightly sub-linear, and He's larger $\sigma$ (close to the gain 5/3
# that PyTorch recommends for tanh) holds it nearly constant.
#
# ### Gradients through a deep network
#
# The same scaling governs the backward pass. We build two networks of 20
# hidden layers of width 128 on Fashion-MNIST {cite}`xiao2017fashion` inputs:
# one with sigmoid units and Xavier initialization (the best case for sigmoid),
# one with ReLU units and He initialization, and compare the norm of the
# gradient of each layer's weights on one batch.

# %%
x_batch = data.to_float(train_set.x[:256]).flatten(1).to(device)  # (256, 784)
x_batch = (x_batch - x_batch.mean()) / x_batch.std()
y_batch = train_set.y[:256].to(device)


def layer_grad_norms(act, scheme, depth=20, width=128) -> list[float]:
    """Gradient norm of each hidden layer's weights on (x_batch, y_batch)."""
    torch.manual_seed(0)
    sizes = [784] + [width] * depth
    layers = [m for a, b in zip(sizes, sizes[1:]) for m in (nn.Linear(a, b), act())]
    net = nn.Sequential(*layers, nn.Linear(width, 10))
    init_model_(net.to(device), scheme)
    F.cross_entropy(net(x_batch), y_batch).backward()
    hidden = [m for m in net if isinstance(m, nn.Linear)][:-1]  # not the output layer
    return [m.weight.grad.norm().item() for m in hidden]


# %% [markdown]
# Both networks see the same batch. We print the norms of the first and the
# last hidden layer's gradients, and the mean factor by which the sigmoid
# network's gradient shrinks per layer:

# %%
grad_norms = {
    "sigmoid, Xavier": layer_grad_norms(nn.Sigmoid, "xavier"),
    "ReLU, He": layer_grad_norms(nn.ReLU, "he"),
}
for name, norms in grad_norms.items():
    print(
        f"{name:>15}: |grad| layer 1 = {norms[0]:.1e}, layer 20 = {norms[-1]:.1e}, "
        f"ratio {norms[0] / norms[-1]:.1e}"
    )
sig_norms = grad_norms["sigmoid, Xavier"]
per_layer = (sig_norms[0] / sig_norms[-1]) ** (1 / 19)  # geometric mean per layer
print(f"sigmoid: the gradient shrinks by a factor {per_layer:.3f} per layer")

# %% tags=["remove-cell"]
sig, rel = grad_norms["sigmoid, Xavier"], grad_norms["ReLU, He"]
assert sig[0] / sig[-1] < 1e-6, "sigmoid: the first layer's gradient vanishes"
assert 0.2 < per_layer < 0.3, "about 1/4 per layer"
assert 0.1 < rel[0] / rel[-1] < 10, (
    "ReLU + He: gradients of comparable size in every layer"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Gradient norm of each hidden layer's weights in a 20-layer network on one batch: sigmoid with Xavier against ReLU with He (log scale).", "name": "fig-optimization-grad-depth"}, "image": {"alt": "The sigmoid curve rises by about eleven decades from layer 1 to layer 20; the ReLU curve is flat."}}
fig, ax = plot.subplots(width=6, height=3.4)
plot.curves(
    ax,
    grad_norms,
    xlabel="hidden layer (1 = next to the input)",
    ylabel="‖∂L/∂W‖",
    logy=True,
)
plot.show(fig)

# %% [markdown]
# In {numref}`fig-optimization-grad-depth`, with sigmoids the gradient shrinks
# by a factor close to the $1/4$ of
# {eq}`eq-sigmoid-chain` per layer (the geometric mean printed above), so the first layer's gradient is many
# orders of magnitude smaller than the last one's: those layers effectively do
# not train. With ReLU and He initialization the gradient norms stay within a
# small factor of each other across all 20 layers.
#
# ### A measured experiment: activation × initialization
#
# One batch at initialization is a prediction; training is the test. In the
# spirit of the UvA deep-learning tutorials {cite}`lippe2022uvadlc` we train a
# deep MLP (ten hidden layers of 128 units) on `cfg.n_ax` Fashion-MNIST images
# for `cfg.ax_epochs` epochs with momentum SGD, for every pair of three
# activations and four initializations: $\mathcal N(0, 0.01^2)$ and the three
# derived schemes. For each run we record the gradient of every layer's weights
# on one batch at initialization, the final held-out accuracy, and the fraction
# of **dead units**: hidden units whose slope $a'(z)$ is below $10^{-3}$ on
# every one of 1,000 held-out images, so that no gradient passes through them.
# For a ReLU that means $z \le 0$ on all of them; for sigmoid and tanh it
# means saturation.

# %%
ACTS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "ReLU": nn.ReLU}
SCHEMES = ("N(0, 0.01²)", "lecun", "xavier", "he")
ax_train = data.Batches(*pick(perm[: cfg.n_ax]), batch_size=64, seed=0)
x_probe = x_all[perm[-1000:]].to(device)  # 1,000 held-out images, (1000, 784)


def ax_mlp(act, scheme, depth=10, width=128):
    torch.manual_seed(0)
    sizes = [784] + [width] * depth
    layers = [m for a, b in zip(sizes, sizes[1:]) for m in (nn.Linear(a, b), act())]
    net = nn.Sequential(*layers, nn.Linear(width, 10)).to(device)
    if scheme in ("lecun", "xavier", "he"):
        return init_model_(net, scheme)
    for m in net[::2]:  # every Linear: the naive small Gaussian
        _draw_(m.weight, 0.01)
        nn.init.zeros_(m.bias)
    return net


# %% [markdown]
# Two measurements: the share of dead units, as defined above,


# %%
def dead_fraction(net) -> float:
    """Share of hidden units with slope < 1e-3 on every probe image."""
    dead, h = [], x_probe
    with torch.no_grad():
        for lin, act in zip(net[:-1:2], net[1::2]):
            z = lin(h).requires_grad_()
            with torch.enable_grad():
                slope = torch.autograd.grad(act(z).sum(), z)[0]  # a'(z), (1000, 128)
            dead.append((slope.abs() < 1e-3).all(0).float().mean())
            h = act(z)
    return torch.stack(dead).mean().item()


# %% [markdown]
# and the gradients of the hidden layers' weights on one batch, taken before
# training starts:


# %%
def grads_at_init(net) -> list[torch.Tensor]:
    xb, yb = next(iter(ax_train))
    net.zero_grad()
    F.cross_entropy(net(xb), yb).backward()
    return [m.weight.grad.detach().flatten().cpu() for m in net[:-1:2]]  # hidden


# %%
ax_runs = {}
for act_name, act in ACTS.items():
    for scheme in SCHEMES:
        net = ax_mlp(act, scheme)
        grads = grads_at_init(net)
        opt = Momentum(net.parameters(), lr=0.02, beta=0.9)
        fit(net, ax_train, epochs=cfg.ax_epochs, optimizer=opt, progress=False)
        acc = evaluate(net, held_out)[1]
        ax_runs[act_name, scheme] = dict(grads=grads, acc=acc, dead=dead_fraction(net))
print(f"{'':>8}" + "".join(f"{s:>14}" for s in SCHEMES))
for act_name in ACTS:
    row = [ax_runs[act_name, s] for s in SCHEMES]
    print(
        f"{act_name:>8}" + "".join(f"{r['acc']:>8.3f} ({r['dead']:.0%})" for r in row)
    )

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Gradient norm of each hidden layer's weights at initialization, for three activations and four initializations (one batch, log scale).", "name": "fig-optimization-ax-norms"}, "image": {"alt": "Three panels. Sigmoid: every scheme falls by many orders of magnitude towards the input. Tanh and ReLU: the small Gaussian collapses, the derived schemes stay within a narrow band."}}
fig, axes = plot.subplots(1, 3, width=7, height=2.8, sharey=True)
for ax, act_name in zip(axes, ACTS):
    norms = {
        s: [g.norm().item() for g in ax_runs[act_name, s]["grads"]] for s in SCHEMES
    }
    plot.curves(ax, norms, xlabel="hidden layer", logy=True, title=act_name)
    ax.legend(fontsize=7) if act_name == "ReLU" else ax.get_legend().remove()
axes[0].set_ylabel("‖∂L/∂W‖ at init")
plot.show(fig)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Histograms of the gradient entries of hidden layers 1, 5 and 10 at initialization, each activation with the initialization derived for it.", "name": "fig-optimization-ax-hist"}, "image": {"alt": "Three panels of overlaid histograms of log10 absolute gradient. For sigmoid with Xavier the layer-1 histogram sits about eight decades left of layer 10; for tanh with LeCun and ReLU with He the three layers overlap."}}
fig, axes = plot.subplots(1, 3, width=7, height=2.8, sharey=True)
for ax, (act_name, scheme) in zip(
    axes, (("sigmoid", "xavier"), ("tanh", "lecun"), ("ReLU", "he"))
):
    for layer in (0, 4, 9):
        g_abs = ax_runs[act_name, scheme]["grads"][layer].abs()
        ax.hist(
            g_abs[g_abs > 0].log10().numpy(),
            bins=50,
            alpha=0.5,
            density=True,
            label=f"layer {layer + 1}",
        )
    ax.set_title(f"{act_name}, {scheme}")
    ax.set_xlabel("log10 |∂L/∂W_ij|")
axes[0].legend(fontsize=7)
plot.show(fig)

# %% tags=["remove-cell"]
acc_ax = {k: r["acc"] for k, r in ax_runs.items()}
ratio_ax = {
    k: (r["grads"][0].norm() / r["grads"][-1].norm()).item() for k, r in ax_runs.items()
}
assert all(ratio_ax["sigmoid", s] < 1e-3 for s in SCHEMES), "sigmoid gradients vanish"
assert 0.2 < ratio_ax["ReLU", "he"] < 5 and 0.1 < ratio_ax["tanh", "lecun"] < 10
if cfg.profile != "smoke":
    assert all(acc_ax[a, "N(0, 0.01²)"] < 0.2 for a in ACTS), (
        "tiny weights: no training"
    )
    assert all(acc_ax["sigmoid", s] < 0.2 for s in SCHEMES), "deep sigmoid: stuck"
    assert (
        all(acc_ax["tanh", s] > 0.6 for s in SCHEMES[1:]) and acc_ax["ReLU", "he"] > 0.6
    )
    assert acc_ax["ReLU", "he"] > max(acc_ax["ReLU", "lecun"], acc_ax["ReLU", "xavier"])
    assert ax_runs["ReLU", "he"]["dead"] < 0.1 < ax_runs["ReLU", "N(0, 0.01²)"]["dead"]

# %% [markdown]
# The printed table (held-out accuracy, dead units in brackets) and
# {numref}`fig-optimization-ax-norms` and {numref}`fig-optimization-ax-hist`
# tell one story. At initialization, the sigmoid network's first-layer
# gradient is orders of magnitude below its last layer's under *every* scheme,
# the histograms of its layers sit decades apart, and the tiny Gaussian
# starves every activation. With tanh and LeCun, or ReLU and He, the
# histograms of layers 1, 5 and 10 overlap. In the `cpu` profile, where each
# run trains for a few epochs, the table shows what follows (the run checks
# it): no network with $\mathcal N(0, 0.01^2)$ weights and no ten-layer sigmoid
# network learns anything within this budget, while tanh networks learn with
# any of the derived schemes. ReLU networks learn best with He's scheme, ahead
# of Xavier's and LeCun's, under which the signal halves in variance at every
# layer; the tiny-weight ReLU network also ends with a large share of dead
# units, the He network with few. The `smoke` run
# trains too briefly for its accuracies to mean much. The same experiment with
# batch normalization ({ref}`ch-generalization`) or residual connections
# ({ref}`ch-cnn-architectures`) makes deep networks far less sensitive to the
# initial scale.
#
# ## When optimization stalls
#
# The update of a first-layer weight is a product of many factors, for a
# two-layer network $\Delta v_{ij} \propto x_i\,a'(z_j)\sum_k w_{jk}\,\delta_k$:
# an input, an activation slope, the weights above and the output error
# $\delta_k$. Training stalls whenever one of them is zero or tiny for the wrong
# reason, or when updates become so large that units saturate. Five classic
# causes, each with a short demonstration on the digits (float32 from here on),
# trained by full-batch gradient descent:

# %%
x_d, y_d = x_dig[:600].float(), y_dig[:600]  # 600 standardized digits, (600, 64)


def train_steps(model, x, y, steps=200, lr=0.5, loss_fn=F.cross_entropy, clip=None):
    """Full-batch gradient descent; returns the loss at every step."""
    opt, losses = SGD(model.parameters(), lr=lr), []
    for _ in range(steps):
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        if clip is not None:  # rescale g so that ||g|| <= clip
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        losses.append(loss.item())
    return losses


# %% [markdown]
# The first and the third use a sigmoid network with one hidden layer; each
# cause keeps the losses of a stalled run and of its fix:


# %%
def sigmoid_mlp(seed: int = 0, width: int = 64) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, width), nn.Sigmoid(), nn.Linear(width, 10))


stalls = {}  # cause -> {"stalled": losses, "fixed": losses}

# %% [markdown]
# **1. Input scaling.** Raw 8-bit pixel values (0 to 255) make the first
# layer's pre-activations huge, the sigmoids saturate and their slopes vanish:
# the first layer stops learning, and a small network (16 hidden units here)
# is left with whatever random features it started with.
# Standardized inputs (mean 0, variance 1 per pixel) keep them in the sensitive
# range. Note also the other side of the factor $x_i$: a pixel that is 0 in
# every image never moves its weights.

# %%
x_raw = digits.x[:600].flatten(1).float() * (255 / 16)  # as 8-bit images, 0..255
stalls["input scaling"] = {
    "stalled": train_steps(sigmoid_mlp(width=16), x_raw, y_d),
    "fixed": train_steps(sigmoid_mlp(width=16), x_d, y_d),
}

# %% [markdown]
# For the pixels that are 0 in every image we train a network for 20 steps and
# measure how far each pixel's outgoing weights have moved:

# %%
m = sigmoid_mlp()
w_before = m[0].weight.detach().clone()
train_steps(m, x_raw / 255, y_d, steps=20)
dead_pixels = (x_raw == 0).all(0)
moved = (m[0].weight.detach() - w_before).abs().amax(0)  # (64,) largest, per pixel
print(
    f"{int(dead_pixels.sum())} pixels are 0 in every image; their weights moved "
    "by at most "
    f"{moved[dead_pixels].max():.1e} (others: up to {moved[~dead_pixels].max():.1e})"
)

# %% [markdown]
# **2. Saturating units.** Even with good inputs, a deep stack of sigmoids
# passes back almost no gradient (previous section), even with Xavier
# initialization. A non-saturating unit fixes it: the same 8-layer network
# with leaky ReLU units and He initialization trains.


# %%
def deep_mlp(act, scheme, depth=8, width=32) -> nn.Module:
    torch.manual_seed(0)
    sizes = [64] + [width] * depth
    layers = [m for a, b in zip(sizes, sizes[1:]) for m in (nn.Linear(a, b), act())]
    return init_model_(nn.Sequential(*layers, nn.Linear(width, 10)), scheme)


stalls["saturating units"] = {
    "stalled": train_steps(deep_mlp(nn.Sigmoid, "xavier"), x_d, y_d, lr=0.1),
    "fixed": train_steps(deep_mlp(nn.LeakyReLU, "he"), x_d, y_d, lr=0.1),
}

# %% [markdown]
# **3. Zero initialization.** If all weights start at 0, every hidden unit
# computes the same function and receives the same gradient, so they stay
# identical forever: the network behaves as if it had one hidden unit. (With
# ReLU units and zero weights every weight's gradient is exactly zero; only
# the output biases learn, so the network predicts the class frequencies.)
# Small random
# weights break the symmetry.

# %%
zero_net = sigmoid_mlp()
with torch.no_grad():
    for p in zero_net.parameters():
        p.zero_()
stalls["zero init"] = {
    "stalled": train_steps(zero_net, x_d, y_d),
    "fixed": train_steps(sigmoid_mlp(), x_d, y_d),
}
W1 = zero_net[0].weight.detach()
print(
    "after training from zeros: max difference between hidden units' weights "
    f"{(W1 - W1[0]).abs().max():.1e}, "
    f"rank of W1 = {torch.linalg.matrix_rank(W1).item()}"
)

# %% [markdown]
# **4. Exploding updates and gradient clipping.** If the weights start too
# large (here twice He's standard deviation in a 6-layer ReLU network), the
# first gradients are enormous, a single step throws the weights further out,
# and the loss becomes infinite or NaN. Clipping the gradient's norm to 1
# {cite}`pascanu2013difficulty` bounds every step and lets training recover.


# %%
def big_relu_net() -> nn.Module:
    torch.manual_seed(0)
    net = deep_mlp(nn.ReLU, "he", depth=6, width=64)
    with torch.no_grad():
        for layer in net:
            if isinstance(layer, nn.Linear):
                layer.weight.mul_(2.0)  # twice He's standard deviation
    return net


stalls["exploding gradients"] = {
    "stalled": train_steps(big_relu_net(), x_d, y_d, steps=100, lr=0.05),
    "fixed": train_steps(big_relu_net(), x_d, y_d, steps=100, lr=0.05, clip=1.0),
}
first5 = [f"{v:.3g}" for v in stalls["exploding gradients"]["stalled"][:5]]
print("without clipping, losses at steps 1-5:", first5)

# %% [markdown]
# **5. Output activation.** The output unit must be able to produce the
# targets. Here a network regresses $y = x^2 - 1 \in [-1, 3]$ on
# $x \in [-2, 2]$: a sigmoid output lives in $(0, 1)$ and can never reach most
# targets, however long it trains; a linear output can.

# %%
x_r = torch.linspace(-2, 2, 200)[:, None]
y_r = x_r**2 - 1


def regressor(output: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1), output)


mse = dict(steps=1000, lr=0.1, loss_fn=F.mse_loss)  # squared error, 1000 steps
stalls["output activation"] = {
    "stalled": train_steps(regressor(nn.Sigmoid()), x_r, y_r, **mse),
    "fixed": train_steps(regressor(nn.Identity()), x_r, y_r, **mse),
}

# %% [markdown]
# The final losses of all five, stalled and fixed:

# %%
for cause, runs in stalls.items():
    print(
        f"{cause:>20}: final loss stalled {runs['stalled'][-1]:.3g}, "
        f"fixed {runs['fixed'][-1]:.3g}"
    )

# %% tags=["remove-cell"]
assert all(
    r["fixed"][-1] < 0.5 * r["stalled"][-1] or not math.isfinite(r["stalled"][-1])
    for r in stalls.values()
)
assert all(r["fixed"][-1] < 0.5 * r["fixed"][0] for r in stalls.values()), (
    "every fix trains"
)
assert moved[dead_pixels].max() == 0 and moved[~dead_pixels].max() > 0
assert (W1 - W1[0]).abs().max() < 1e-6 and torch.linalg.matrix_rank(W1).item() == 1
assert not math.isfinite(stalls["exploding gradients"]["stalled"][-1])
assert stalls["output activation"]["stalled"][-1] > 0.5

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Training loss of the three stalls caused by the data and the units, each with its fix: raw inputs, saturating units and zero initialization.", "name": "fig-optimization-stalls-a"}, "image": {"alt": "Three panels, each with a stalled curve that plateaus high and a fixed curve that falls by an order of magnitude or more."}}
causes = list(stalls)


def stall_panels(names):
    fig, axes = plot.subplots(1, len(names), width=7 * len(names) / 3, height=2.8)
    for ax, cause in zip(axes, names):
        finite = {
            k: [v if math.isfinite(v) and v < 1e6 else float("nan") for v in vals]
            for k, vals in stalls[cause].items()
        }
        plot.curves(
            ax, finite, xlabel="step", ylabel="training loss", logy=True, title=cause
        )
    plot.show(fig)


stall_panels(causes[:3])

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Training loss of the two stalls caused by the updates and the output: exploding gradients (the stalled curve leaves the plot) and an output activation that cannot reach the targets.", "name": "fig-optimization-stalls-b"}, "image": {"alt": "Two panels; without clipping the loss shoots off the plot after a few steps, with clipping it falls; the sigmoid-output regressor plateaus while the linear output fits."}}
stall_panels(causes[3:])

# %% [markdown]
# In every panel of {numref}`fig-optimization-stalls-a` and
# {numref}`fig-optimization-stalls-b` the fixed run trains while the stalled
# one plateaus or, for the exploding network, leaves the plot as its loss
# becomes infinite. The fixes are the practical rules of this chapter: scale inputs
# (and outputs), prefer non-saturating units, initialize randomly with the
# right variance, clip gradients when updates can be large, and let the output
# activation match the range of the targets (linear for regression, softmax with
# cross-entropy for classification). Looking at the loss curve is how one
# notices a stall in the first place.
#
# ## Wide and sharp minima
#
# A deep network has many minima with (nearly) the same training loss. They
# can differ in *width*: in a sharp minimum the loss rises steeply when the
# weights move a little, in a wide one it stays low. Since the test loss is
# roughly the training loss of slightly shifted weights, wide minima are
# thought to generalize better {cite}`hochreiter1997flat,keskar2017large,jiang2020fantastic`.
# The learning rate plays a role too: {ref}`ch-perceptron` showed that gradient
# descent is unstable at a minimum whose curvature exceeds $2/\gamma$, so a
# large learning rate *cannot* settle in a sharp minimum. A one-dimensional
# loss with a deep sharp minimum at $-1$ (curvature about 50) and a shallower
# wide one near $2$ (curvature about 1) shows it:


# %%
def two_minima(th):
    return (
        0.05 * (th - 1) ** 2
        - 1.2 * torch.exp(-((th + 1) ** 2) / (2 * 0.15**2))
        - torch.exp(-((th - 2) ** 2) / 2)
    )


# %% [markdown]
# Plain gradient descent runs from the same start at a small and at a large
# learning rate; at each end point we also measure how much the loss rises
# when the parameter is shifted a little either way:

# %%
ends, shift = {}, torch.tensor([-0.2, 0.2])
for lr in (0.01, 0.3):
    th = trajectory(
        lambda p: two_minima(p[0]), lambda p, lr=lr: SGD(p, lr=lr), [-0.8], 300
    )
    ends[lr] = th[-1, 0]
    rise = (two_minima(ends[lr] + shift) - two_minima(ends[lr])).mean()
    print(
        f"lr {lr}: ends at theta = {ends[lr]:.3f}, loss {two_minima(ends[lr]):.3f}; "
        f"a shift of ±0.2 raises it by {rise:.3f}"
    )

# %% tags=["remove-cell"]
assert abs(ends[0.01] + 1) < 0.05 and abs(ends[0.3] - 2) < 0.2
assert two_minima(ends[0.01]) < two_minima(ends[0.3])

# %% [markdown]
# From the same start, the small learning rate descends into the sharp,
# deeper minimum, where a small shift of the parameter costs a lot; the large
# one is thrown out of it and settles in the wide minimum, slightly higher but
# robust to the shift. Mini-batch noise has a similar effect, which is one
# reason why large learning rates and small batches often generalize well.
#
# ### The loss landscape of a real network
#
# We cannot plot a loss of $10^5$ parameters, but we can plot slices through
# it: $\mathcal L(\theta^\ast + \alpha\,\mathbf d)$ along a random direction
# $\mathbf d$, or $\mathcal L(\theta^\ast + \alpha\mathbf d_1 + \beta\mathbf d_2)$
# over a plane. Li et al. {cite}`li2018visualizing` showed that raw random
# directions mislead, because a ReLU network computes the same function when a
# unit's incoming weights and bias are multiplied by $c > 0$ and its outgoing
# weights divided by $c$, so the scale of a direction means little on its own
# (with batch norm after a layer, rescaling the incoming weights alone changes
# nothing). They **filter-normalize** the direction: every
# row of a weight matrix (the incoming weights of one unit; a filter, for a
# convolution) is rescaled to the norm of the same row of $\theta^\ast$, and
# biases are left out. First we train a small MLP, with our own Adam:

# %%
sub = data.subset(train_set, cfg.n_land)
x_land = data.to_float(sub.x).flatten(1).to(device)  # (N, 784)
y_land = sub.y.to(device)
x_te, y_te = data.to_float(test_set.x).flatten(1).to(device), test_set.y.to(device)
test_b = data.Batches(x_te, y_te, batch_size=2_000, shuffle=False)

# %% [markdown]
# The network is an MLP with two hidden layers of ReLU units:

# %%
torch.manual_seed(0)
mlp = nn.Sequential(
    nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10)
).to(device)
land_train = data.Batches(x_land, y_land, batch_size=128, seed=0)
opt = Adam(mlp.parameters(), lr=2e-3)
hist = fit(mlp, land_train, epochs=cfg.land_epochs, optimizer=opt)
land_acc = dlbook.report(
    "landscape MLP test accuracy", evaluate(mlp, test_b)[1], fmt=".4f"
)
print(f"training loss per epoch: {[round(v, 3) for v in hist.train_loss]}")

# %% tags=["remove-cell"]
assert hist.train_loss[-1] < 0.7 * hist.train_loss[0]
assert land_acc > (0.82 if cfg.profile != "smoke" else 0.75)

# %% [markdown]
# A filter-normalized random direction, one tensor per parameter:


# %%
def row_norms(t: torch.Tensor) -> torch.Tensor:
    """The norm of each row t[i], shaped to broadcast against t."""
    return t.flatten(1).norm(dim=1).view(-1, *[1] * (t.ndim - 1))


def filter_normalized_direction(model: nn.Module, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    dirs = []
    for p in model.parameters():
        d = torch.randn(p.shape, generator=g).to(p.device)
        if p.ndim == 1:
            d.zero_()  # biases: left out
        else:  # each row (a unit's incoming weights) gets the norm of that row of p
            d *= row_norms(p.detach()) / row_norms(d)
        dirs.append(d)
    return dirs


# %% [markdown]
# The loss at $\theta^\ast + \sum_i \alpha_i\mathbf d_i$ is computed by
# writing those weights into the model:


# %%
@torch.no_grad()
def loss_at(model, base, dirs_and_steps, x, y) -> float:
    for p, p0, *ds in zip(model.parameters(), base, *[d for d, _ in dirs_and_steps]):
        p.copy_(p0 + sum(a * d for a, d in zip([a for _, a in dirs_and_steps], ds)))
    return F.cross_entropy(model(x), y).item()


# %% [markdown]
# We evaluate the training loss on `cfg.n_eval` examples along three random
# filter-normalized directions,

# %%
base = [p.detach().clone() for p in mlp.parameters()]
x_ev, y_ev = x_land[: cfg.n_eval], y_land[: cfg.n_eval]
d1, d2, d3 = (filter_normalized_direction(mlp, s) for s in (1, 2, 3))
alphas = torch.linspace(-1, 1, 41)
slices = {
    f"direction {i + 1}": [
        loss_at(mlp, base, [(d, a.item())], x_ev, y_ev) for a in alphas
    ]
    for i, d in enumerate((d1, d2, d3))
}
print(
    f"loss at the trained weights {slices['direction 1'][20]:.3f}; at alpha = ±1: "
    + ", ".join(f"{s[0]:.2f}/{s[-1]:.2f}" for s in slices.values())
)

# %% [markdown]
# and over the plane of the first two, on a grid of `cfg.grid` points per
# axis; the last call puts the trained weights back.

# %%
grid = torch.linspace(-1, 1, cfg.grid)
surface = torch.tensor(
    [
        [loss_at(mlp, base, [(d1, a.item()), (d2, b.item())], x_ev, y_ev) for a in grid]
        for b in grid
    ]
)  # (grid, grid): rows = direction 2
loss_at(mlp, base, [(d1, 0.0)], x_ev, y_ev)  # restore the trained weights

# %% tags=["remove-cell"]
center = slices["direction 1"][20]
assert all(torch.equal(p, p0) for p, p0 in zip(mlp.parameters(), base)), (
    "weights restored"
)
assert all(min(s) > center - 0.05 for s in slices.values()), (
    "the trained point is (nearly) the lowest on each slice"
)
assert all(s[0] > center + 0.1 and s[-1] > center + 0.1 for s in slices.values()), (
    "the loss rises away from it"
)
assert abs(surface[cfg.grid // 2, cfg.grid // 2].item() - center) < 1e-5

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The training loss around the trained MLP: along three random filter-normalized directions (left) and over the plane of two of them (right, log10 scale).", "name": "fig-optimization-landscape"}, "image": {"alt": "Left: three bowl-shaped loss curves with their minimum at zero. Right: a contour plot with roughly elliptical level sets around the trained point."}}
fig, axes = plot.subplots(1, 2, width=10, height=3.8)
plot.curves(
    axes[0],
    slices,
    x=alphas.tolist(),
    xlabel="step α along the direction",
    ylabel="training loss",
    title="1-D slices",
)
axes[0].set_xticks([-1, -0.5, 0, 0.5, 1])
cs = axes[1].contourf(grid, grid, surface.log10(), levels=20, cmap="viridis")
axes[1].contour(grid, grid, surface.log10(), levels=10, colors="w", linewidths=0.4)
axes[1].plot(0, 0, "r*", ms=10)
axes[1].set_xlabel("α (direction 1)")
axes[1].set_ylabel("β (direction 2)")
axes[1].set_title("2-D slice, log10 training loss")
fig.colorbar(cs, ax=axes[1])
plot.show(fig)

# %% [markdown]
# The trained weights sit at the bottom of a smooth, bowl-shaped valley in
# {numref}`fig-optimization-landscape`, in
# every slice: in these random directions the landscape of a small MLP looks
# almost convex. Li et al. found that this stays true for well-designed deep
# networks (with skip connections, {ref}`ch-cnn-architectures`), while very deep networks
# without them have chaotic, non-convex slices, and that the width of the
# bowl, on the filter-normalized scale, tracks the test error.
#
# ## Early stopping
#
# Training longer lowers the training loss, but after a while the validation
# loss rises again: the network starts fitting the noise of the training set.
# **Early stopping** {cite}`prechelt1998early` watches the validation loss and
# stops when it has not improved for `patience` epochs. Two details make it
# correct: an improvement must be measured against the *best* value so far (not
# the previous epoch), and the weights to keep are those of the best epoch,
# which are `patience` epochs old when we stop, so they must be copied when
# they are seen. `dlbook.optim.EarlyStopping` does both: its `step(value,
# model)` returns `True` when training should stop, and `restore(model)` loads
# the best weights back.
#
# An MLP with two hidden layers of 256 units, trained on only `cfg.n_es`
# Fashion-MNIST images, overfits quickly. The 5,000 held-out training images
# of the schedule runs serve as the validation set, which decides when to
# stop; the test split is kept for the one final measurement.

# %%
es_train = data.Batches(*pick(perm[: cfg.n_es]), batch_size=64, seed=0)
es_val = held_out  # the 5,000 held-out training images of the schedule runs
es_test = data.Batches(x_te, y_te, batch_size=2_500, shuffle=False)  # the test split

# %% [markdown]
# The training loop calls `fit` for one epoch at a time and asks the stopper
# after each epoch whether to go on:


# %%
def train_early(patience: int):
    """Train until EarlyStopping says stop; return the stopper, curves and model."""
    torch.manual_seed(0)
    layers = (nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU())
    net = nn.Sequential(*layers, nn.Linear(256, 10)).to(device)
    opt, stopper = Adam(net.parameters(), lr=1e-3), EarlyStopping(patience=patience)
    curves = {"train": [], "validation": []}
    for _ in range(cfg.es_max_epochs):
        h = fit(net, es_train, epochs=1, optimizer=opt, val=es_val, progress=False)
        curves["train"].append(h.train_loss[-1])
        curves["validation"].append(h.val_loss[-1])
        if stopper.step(h.val_loss[-1], net):
            break
    return stopper, curves, net


# %%
stopper, curves, net = train_early(patience=5)
epoch, last_val = stopper.epochs_seen, curves["validation"][-1]
last_test_acc = evaluate(net, es_test)[1]
stopper.restore(net)
best_val, best_test_acc = evaluate(net, es_val)[0], evaluate(net, es_test)[1]
print(
    f"stopped after epoch {epoch}; best epoch {stopper.best_epoch}; validation "
    f"loss last {last_val:.3f}, restored {best_val:.3f}"
)
print(f"test accuracy: last weights {last_test_acc:.4f}, restored {best_test_acc:.4f}")
es_acc = dlbook.report("early-stopped MLP test accuracy", best_test_acc, fmt=".4f")

# %% tags=["remove-cell"]
assert epoch < cfg.es_max_epochs, "the validation loss must have stopped improving"
assert (
    stopper.best_epoch == epoch - 5 and epoch - stopper.best_epoch == stopper.patience
)
assert stopper.best_epoch == 1 + min(
    range(len(curves["validation"])), key=curves["validation"].__getitem__
)
assert abs(best_val - stopper.best) < 1e-5 and best_val < last_val, (
    "restored weights are the best epoch's"
)
assert curves["train"][-1] < curves["train"][stopper.best_epoch - 1], (
    "training loss kept falling"
)
assert es_acc > 0.76

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Training and validation loss of the early-stopping run; the dashed line marks the best epoch, whose weights are restored.", "name": "fig-optimization-early-stop"}, "image": {"alt": "The training loss falls steadily; the validation loss falls, reaches its minimum at the dashed line and rises afterwards."}}
fig, ax = plot.subplots(width=6, height=3.4)
plot.curves(ax, curves, xlabel="epoch", ylabel="cross-entropy loss")
ax.axvline(
    stopper.best_epoch, color="k", ls="--", lw=0.8, label="best epoch (restored)"
)
ax.legend()
plot.show(fig)

# %% [markdown]
# In {numref}`fig-optimization-early-stop` the training loss keeps falling
# while the validation loss turns upwards
# after the best epoch (dashed line). Training stopped `patience` epochs
# later, and the restored weights have the best validation loss, as the
# printed numbers confirm; they are the model we keep and test. (The
# validation loss and the accuracy need not move together: a network that
# keeps training grows more confident, which raises the loss on its mistakes
# even while its accuracy barely changes. The printed test accuracies of the
# last and of the restored weights show how close they are here.)
#
# ## Summary
#
# - Momentum and Nesterov accumulate a velocity {eq}`eq-momentum` that speeds
#   up consistent directions and damps oscillation; AdaGrad, RMSProp and Adam
#   {eq}`eq-adam` scale each coordinate by a running estimate of its gradient's
#   size; AdaDelta also rescales by the size of past steps, and AdamW
#   decouples weight decay. All eight, written from scratch, reproduce
#   `torch.optim` step for step to float64 round-off.
# - Adam's bias correction makes its early steps the right size; Adam can fail
#   on convex problems (Reddi et al.), which AMSGrad repairs.
# - Learning-rate schedules (step, exponential, $1/\text{epoch}$, cosine,
#   one-cycle, warm-up) trade fast early progress for a careful finish; in
#   our runs step, cosine and one-cycle all beat a constant rate.
# - Sigmoid slopes are at most $1/4$, so gradients vanish through deep sigmoid
#   stacks. Initializing with variance $1/n_\text{in}$ (LeCun),
#   $2/(n_\text{in}+n_\text{out})$ (Xavier) suits tanh; in ReLU networks the
#   signal decays under both, and only $2/n_\text{in}$ (He) keeps its scale
#   through depth. Naive scales collapse or explode, and deep sigmoid nets
#   fail to train under every scheme we tried.
# - Training stalls because of unscaled inputs, saturated units, symmetric
#   (zero) weights, exploding updates (clip the gradient) or an output
#   activation that cannot reach the targets.
# - Filter-normalized slices show the loss landscape around a trained network;
#   large learning rates cannot stay in sharp minima. Early stopping keeps the
#   weights of the best validation epoch.
#
# ## Exercises
#
# **Exercise 1 (the best momentum).** For the quadratic with curvatures
# $\lambda_{\min} = 1$ and $\lambda_{\max} = 25$, theory gives the fastest heavy-ball
# method at $\gamma^\ast = 4/(\sqrt{\lambda_{\max}}+\sqrt{\lambda_{\min}})^2$ and
# $\beta^\ast = \big((\sqrt\kappa-1)/(\sqrt\kappa+1)\big)^2$, $\kappa = 25$. Run
# `Momentum` with $\gamma^\ast$ and several $\beta$ for 60 steps and
# confirm that $\beta^\ast$ is (close to) the best, and that it beats the best
# plain gradient descent, $\gamma = 2/(\lambda_{\min}+\lambda_{\max})$.

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Solution to Exercise 1
kappa = 25.0
lr_star = 4 / (math.sqrt(kappa) + 1) ** 2
beta_star = ((math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1)) ** 2
betas = [0.0, 0.2, 0.3, beta_star, 0.6, 0.8, 0.9]


def loss_at_60(make_opt) -> float:
    return quadratic(trajectory(quadratic, make_opt, [-8.0, 1.5], 60)[-1]).item()


final = {b: loss_at_60(lambda p, b=b: Momentum(p, lr=lr_star, beta=b)) for b in betas}
gd = loss_at_60(lambda p: SGD(p, lr=2 / 26))
print(
    f"beta* = {beta_star:.3f}; loss after 60 steps: "
    + ", ".join(f"beta {b:.3f}: {v:.1e}" for b, v in final.items())
)
print(f"best gradient descent: {gd:.1e}")
assert min(final, key=final.get) == beta_star or final[beta_star] < 10 * min(
    final.values()
)
assert final[beta_star] < 1e-6 * gd
# Answer: The optimal momentum converges at the rate $(\sqrt\kappa-1)/(\sqrt\kappa+1)$
# per step instead of $(\kappa-1)/(\kappa+1)$, many orders of magnitude faster
# here after 60 steps.

# %% [markdown]
# **Exercise 2 (fan-in or fan-out?).** He's `fan_in` mode keeps the forward
# signal's scale, `fan_out` the backward one's. Build a 10-layer ReLU "funnel"
# whose widths shrink from 512 to 16, initialize it in each mode, and measure
# how the variance of the activations (forward) and of the gradient
# $\partial\mathcal L/\partial\mathbf x$ (backward) change from one end to the other.


# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Solution to Exercise 2
def funnel_gains(mode: str) -> tuple[float, float]:
    torch.manual_seed(0)
    widths = [512, 512, 256, 256, 128, 128, 64, 64, 32, 32, 16]
    ws = [torch.empty(widths[i + 1], widths[i]) for i in range(10)]
    for w_ in ws:
        _draw_(w_, init_std(w_, "he", mode=mode))
    x = torch.randn(1024, widths[0], requires_grad=True)
    h = x
    for w_ in ws:
        h = torch.relu(h @ w_.T)
    g_out = torch.randn_like(h)  # a unit-variance gradient arriving at the output
    (h * g_out).sum().backward()
    forward = (h.pow(2).mean() / x.pow(2).mean()).item()  # E[h_out^2] / E[x^2]
    return forward, (x.grad.pow(2).mean() / g_out.pow(2).mean()).item()


gains = {mode: funnel_gains(mode) for mode in ("fan_in", "fan_out")}
for mode, (fwd, bwd) in gains.items():
    print(f"{mode}: forward variance gain {fwd:.3g}, backward variance gain {bwd:.3g}")
assert 0.25 < gains["fan_in"][0] < 2 and gains["fan_in"][1] < 0.1
assert 0.5 < gains["fan_out"][1] < 2 and gains["fan_out"][0] > 10
# Answer: Each layer multiplies the backward variance by $n_\text{out}\sigma^2/2$: 1 in
# `fan_out` mode, $n_\text{out}/n_\text{in}$ in `fan_in` mode, a product that
# telescopes to $16/512$. The forward pass behaves the other way round. Only
# for equal widths do the two modes coincide; Xavier's harmonic compromise
# splits the difference.

# %% [markdown]
# **Exercise 3 (patience).** Rerun the early-stopping experiment with
# `patience` 1 and 10. How do the stopping epoch and the restored validation
# loss change? Why is a patience of 1 risky with noisy validation curves?


# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Solution to Exercise 3: retrain with patience 1 and 10 (same seed, same batches).
runs = {p: train_early(patience=p) for p in (1, 10)} | {5: (stopper, curves, net)}
for p, (stop_p, _, _) in sorted(runs.items()):
    print(
        f"patience {p:>2}: stopped at epoch {stop_p.epochs_seen:>2}, best epoch "
        f"{stop_p.best_epoch:>2}, restored validation loss {stop_p.best:.4f}"
    )
s1, s10 = runs[1][0], runs[10][0]
assert s1.epochs_seen < s10.epochs_seen and s10.best <= s1.best
# Answer: a larger patience stops later and restores weights whose validation
# loss is at least as low (lower whenever the curve dips again after its first
# uptick). Patience 1 stops at the first epoch that fails to improve; with a
# noisy validation curve that is often an accident of one epoch, long before
# the real minimum. Because the best weights are restored, the extra epochs a
# large patience costs never make the kept model worse, only the run longer.


# %% [markdown]
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
