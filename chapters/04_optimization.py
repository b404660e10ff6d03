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
# - write SGD, momentum, Nesterov, AdaGrad, RMSProp and Adam as PyTorch optimizers and check them against `torch.optim`;
# - explain Adam's bias correction and why Adam can fail to converge (AMSGrad);
# - choose and plot a learning-rate schedule (step, exponential, 1/epoch, cosine, one-cycle, warm-up);
# - derive the LeCun, Xavier and He initializations from variance propagation and diagnose vanishing or exploding signals;
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
# finely the loss landscape is sampled.

# %%
import math

import torch
import torch.nn.functional as F
from torch import nn

from dlbook import data, init, optim, plot
from dlbook.source import show_source
from dlbook.train import evaluate, fit

cfg = dlbook.config(  # n_*: training images (None: all); grid: points per axis of the 2-D landscape
    smoke=dict(
        check_steps=200,
        n_land=3_000,
        land_epochs=4,
        n_eval=500,
        grid=11,
        n_es=1_000,
        es_max_epochs=40,
    ),
    cpu=dict(
        check_steps=200,
        n_land=20_000,
        land_epochs=8,
        n_eval=2_000,
        grid=25,
        n_es=2_000,
        es_max_epochs=60,
    ),
    gpu=dict(
        check_steps=500,
        n_land=None,
        land_epochs=15,
        n_eval=5_000,
        grid=41,
        n_es=2_000,
        es_max_epochs=100,
    ),
)
cfg

# %% [markdown]
# ## Six update rules
#
# All the optimizers of this chapter use only the gradient of the loss on the
# current mini-batch, $\mathbf{g}_t = \nabla_\theta \mathcal{L}_{B_t}(\theta_t)$.
# They differ in what they remember from earlier steps. We write each as a
# subclass of `torch.optim.Optimizer`, so that it works in any training loop
# and with PyTorch's learning-rate schedulers; the package keeps them in
# `dlbook.optim`. A shared base class loops over the parameters that have a
# gradient and adds the optional weight-decay term $\lambda\theta$ to it (an
# $\ell_2$ penalty, discussed in the next chapter):

# %%
show_source(optim._FromScratch._gradients)

# %% [markdown]
# **Stochastic gradient descent** is the update of {ref}`ch-perceptron`, now
# with mini-batch gradients {cite}`robbins1951stochastic`:
#
# $$
# \theta_{t+1} = \theta_t - \gamma\,\mathbf{g}_t .
# $$ (eq-sgd)
#
# The class checks its hyper-parameters (a negative learning rate raises a
# `ValueError`) and its `_update` is one line:

# %%
show_source(optim.SGD)

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
# they cancel. **Nesterov's** variant {cite}`nesterov1983method,sutskever2013importance`
# steps with the gradient plus the *updated* velocity, a look-ahead that
# corrects the course one step earlier:
#
# $$
# \mathbf{v}_{t+1} = \beta\,\mathbf{v}_t + \mathbf{g}_t, \qquad
# \theta_{t+1} = \theta_t - \gamma\,(\mathbf{g}_t + \beta\,\mathbf{v}_{t+1}).
# $$ (eq-nesterov)

# %%
show_source(optim.Momentum._update)

# %%
show_source(optim.Nesterov._update)

# %% [markdown]
# The next three give **every coordinate its own step size**. **AdaGrad**
# {cite}`duchi2011adaptive` divides by the root of the sum of all squared
# gradients so far ($\odot$ and the division are element-wise):
#
# $$
# \mathbf{s}_{t+1} = \mathbf{s}_t + \mathbf{g}_t\odot\mathbf{g}_t, \qquad
# \theta_{t+1} = \theta_t - \gamma\,\frac{\mathbf{g}_t}{\sqrt{\mathbf{s}_{t+1}}+\epsilon}.
# $$ (eq-adagrad)
#
# Coordinates with large gradients get small steps and vice versa, but
# $\mathbf{s}$ only grows, so every step size decays towards zero. **RMSProp**
# {cite}`tieleman2012rmsprop` replaces the sum by an exponential moving average
# with decay $\beta_2$, which forgets old gradients:
#
# $$
# \mathbf{s}_{t+1} = \beta_2\,\mathbf{s}_t + (1-\beta_2)\,\mathbf{g}_t\odot\mathbf{g}_t, \qquad
# \theta_{t+1} = \theta_t - \gamma\,\frac{\mathbf{g}_t}{\sqrt{\mathbf{s}_{t+1}}+\epsilon}.
# $$ (eq-rmsprop)
#
# $\mathbf{s}$ estimates the second moment $\mathbb{E}[g_i^2]$ of each
# coordinate's gradient, so steep or noisy directions are damped and flat,
# consistent ones are sped up. (We put $\epsilon$ outside the square root, as
# PyTorch does; some texts put it inside.)

# %%
show_source(optim.AdaGrad._update)

# %%
show_source(optim.RMSProp._update)

# %% [markdown]
# **Adam** {cite}`kingma2015adam` combines the two ideas: a moving average
# $\mathbf{m}_1$ of the gradients (momentum) and a moving average
# $\mathbf{m}_2$ of their squares (RMSProp), each divided by a *bias
# correction*, with $t$ counting steps from 1:
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
# The `amsgrad` branch is explained below.

# %%
show_source(optim.Adam._update)

# %% [markdown]
# ## Checking the optimizers against `torch.optim`
#
# A from-scratch optimizer is only useful if it is *exactly* the algorithm
# everyone else means. We train two copies of the same small network on
# scikit-learn's 8x8 digits {cite}`pedregosa2011scikit` side by side, one with
# our class and one with PyTorch's, on the same mini-batches, and record the
# largest difference between their parameters over all steps. We work in
# double precision so that a real discrepancy cannot hide behind round-off.
# Each pair is ours next to the `torch.optim` call that should reproduce it
# (note the different names: PyTorch's `momentum` is our $\beta$, RMSprop's
# `alpha` our $\beta_2$).

# %%
digits = data.load_digits()
x_dig = digits.x.flatten(1).double()  # (1797, 64) pixel values 0..16
x_dig = (x_dig - x_dig.mean(0)) / (x_dig.std(0) + 1e-3)  # standardized inputs
y_dig = digits.y

PAIRS = {
    "SGD": (
        lambda p: optim.SGD(p, lr=0.1, weight_decay=1e-3),
        lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=1e-3),
    ),
    "Momentum": (
        lambda p: optim.Momentum(p, lr=0.05, beta=0.9),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
    ),
    "Nesterov": (
        lambda p: optim.Nesterov(p, lr=0.05, beta=0.9),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    ),
    "AdaGrad": (
        lambda p: optim.AdaGrad(p, lr=0.05),
        lambda p: torch.optim.Adagrad(p, lr=0.05),
    ),
    "RMSProp": (
        lambda p: optim.RMSProp(p, lr=1e-3, beta2=0.99),
        lambda p: torch.optim.RMSprop(p, lr=1e-3, alpha=0.99),
    ),
    "Adam": (
        lambda p: optim.Adam(p, lr=1e-3, weight_decay=1e-3),
        lambda p: torch.optim.Adam(p, lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-3),
    ),
}

# %% [markdown]
# The race itself: every step, both copies see the same batch, compute their
# gradients and update; then we measure the gap.


# %%
def digits_mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10)).double()


def race(make_ours, make_theirs, steps: int):
    """Train two identical MLPs with two optimizers; return our losses and the largest parameter gap."""
    ours, theirs = digits_mlp(), digits_mlp()
    opts = make_ours(ours.parameters()), make_theirs(theirs.parameters())
    batches, losses, gap = data.Batches(x_dig, y_dig, batch_size=64, seed=0), [], 0.0
    while len(losses) < steps:
        for xb, yb in batches:
            for model, opt in zip((ours, theirs), opts):
                opt.zero_grad()
                loss = F.cross_entropy(model(xb), yb)
                loss.backward()
                opt.step()
            losses.append(loss.item())  # the two losses agree, as we are about to see
            gap = max(
                gap,
                max(
                    (a - b).abs().max().item()
                    for a, b in zip(ours.parameters(), theirs.parameters())
                ),
            )
            if len(losses) == steps:
                break
    return losses, gap


# %% [markdown]
# We run the race for every pair and print the largest gap.

# %%
races = {name: race(*pair, cfg.check_steps) for name, pair in PAIRS.items()}
for name, (losses, gap) in races.items():
    print(
        f"{name:>9}: loss {losses[0]:.3f} -> {losses[-1]:.3f}, max |ours - torch.optim| = {gap:.1e}"
    )
max_gap = dlbook.report(
    f"max parameter gap to torch.optim over {cfg.check_steps} steps",
    max(g for _, g in races.values()),
    fmt=".1e",
)

# %% tags=["remove-cell"]
assert max_gap < 1e-6, (
    "every from-scratch optimizer must reproduce torch.optim step by step"
)
assert all(len(losses) == cfg.check_steps for losses, _ in races.values())
assert all(
    sum(losses[-20:]) < 0.5 * sum(losses[:20]) for losses, _ in races.values()
), "all must learn"

# %% [markdown]
# All six agree with PyTorch to round-off over every one of the steps, so from
# now on we can use either. The same loop also gives a first, rough comparison
# of the six on a real problem (with hyper-parameters that are common defaults,
# not tuned for this task):

# %% tags=["hide-input"]
fig, ax = plot.subplots(width=6, height=3.4)
smooth = 10  # running mean over 10 mini-batches
plot.curves(
    ax,
    {
        name: torch.tensor(ls).unfold(0, smooth, 1).mean(1).tolist()
        for name, (ls, _) in races.items()
    },
    xlabel="step",
    ylabel="training cross-entropy (mean of 10 batches)",
    logy=True,
)
plot.show(fig)

# %% [markdown]
# With these settings momentum and Nesterov fall fastest, RMSProp and Adam, at
# their customary small learning rate, more slowly. Such comparisons say little
# in general: learning rates are not comparable across optimizers and must be
# tuned for each {cite}`schmidt2021descending`. Adam is a robust default, while
# well-tuned SGD with momentum sometimes generalizes better
# {cite}`wilson2017marginal`.
#
# ## Adam's bias correction
#
# Both moving averages start at zero. If the gradient were a constant $g$,
# after $t$ steps $\mathbf{m}_1 = (1-\beta_1^t)\,g$ and
# $\mathbf{m}_2 = (1-\beta_2^t)\,g^2$: early on they are far too small,
# $\mathbf{m}_2$ much more so, because $\beta_2$ is closer to 1. Dividing by
# $1-\beta^t$ makes both exact. We compute the step Adam takes, in units of
# $\gamma$, with and without the correction, and then let our `Adam` take the
# same steps.

# %%
beta1, beta2, g = 0.9, 0.999, 0.5  # a constant gradient g
t = torch.arange(1, 201, dtype=torch.float64)
m1, m2 = (1 - beta1**t) * g, (1 - beta2**t) * g**2  # the moving averages, started at 0
step_raw = m1 / m2.sqrt()  # without correction, in units of the learning rate
step_hat = (m1 / (1 - beta1**t)) / (m2 / (1 - beta2**t)).sqrt()  # with correction
print(
    "step / lr without correction, t = 1, 10, 100:",
    [round(step_raw[i].item(), 3) for i in (0, 9, 99)],
)
print(
    "step / lr with correction,    t = 1, 10, 100:",
    [round(step_hat[i].item(), 3) for i in (0, 9, 99)],
)

theta = torch.zeros(1, dtype=torch.float64, requires_grad=True)
adam, moves = optim.Adam([theta], lr=0.01, eps=0.0), []
for _ in range(5):
    theta.grad = torch.full_like(theta, g)
    before = theta.item()
    adam.step()
    moves.append((before - theta.item()) / 0.01)
print("our Adam, step / lr for the first five steps:", [round(m, 6) for m in moves])

# %% tags=["remove-cell"]
assert torch.allclose(step_hat, torch.ones_like(step_hat)), (
    "bias-corrected steps are exactly lr * sign(g)"
)
assert (
    abs(step_raw[0].item() - (1 - beta1) / math.sqrt(1 - beta2)) < 1e-12
    and step_raw[0] > 3
)
assert all(abs(m - 1) < 1e-9 for m in moves)

# %% tags=["hide-input"]
fig, ax = plot.subplots(width=6, height=3.2)
plot.curves(
    ax,
    {
        "without bias correction": step_raw.tolist(),
        "with bias correction": step_hat.tolist(),
    },
    xlabel="step t",
    ylabel="step size / learning rate",
)
ax.axhline(1.0, color="k", lw=0.5)
plot.show(fig)

# %% [markdown]
# Without the correction the very first step is $(1-\beta_1)/\sqrt{1-\beta_2}
# \approx 3.2$ times the learning rate, the printed values show, and it takes
# hundreds of steps to settle: the denominator, which remembers less of the
# past than it should, is too small. With the correction every step is exactly
# $\gamma\,\mathrm{sign}(g)$ from the start, and our implementation does
# exactly that.
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
def online_problem(
    amsgrad: bool, C: float = 3.0, steps: int = 3000, lr: float = 0.5
) -> float:
    theta = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = optim.Adam([theta], lr=lr, beta1=0.0, beta2=1 / (1 + C**2), amsgrad=amsgrad)
    for t in range(1, steps + 1):
        opt.param_groups[0]["lr"] = lr / math.sqrt(t)
        theta.grad = torch.tensor([C if t % 3 == 1 else -1.0], dtype=torch.float64)
        opt.step()
        with torch.no_grad():
            theta.clamp_(-1.0, 1.0)  # stay in the feasible set [-1, 1]
    return theta.item()


theta_adam, theta_ams = online_problem(False), online_problem(True)
print(
    f"Adam ends at theta = {theta_adam:+.3f}, AMSGrad at theta = {theta_ams:+.3f} (the optimum is -1)"
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
    """Minimize f from `start` with the optimizer make_opt([theta]); returns the path, (steps + 1, 2)."""
    theta = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt, path = make_opt([theta]), [theta.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        f(theta).backward()
        opt.step()
        path.append(theta.detach().clone())
    return torch.stack(path)


# %% [markdown]
# The learning rates: for the quadratic, the momentum methods use
# $\gamma = 0.035$, $\beta = 0.5$; for Rosenbrock, whose curvature reaches a few
# thousand on the valley walls, the plain gradient methods need $\gamma \approx 10^{-3}$.

# %%
SETTINGS = {  # name: (optimizer for the quadratic, optimizer for Rosenbrock)
    "SGD": (lambda p: optim.SGD(p, lr=0.035), lambda p: optim.SGD(p, lr=1.5e-3)),
    "Momentum": (
        lambda p: optim.Momentum(p, lr=0.035, beta=0.5),
        lambda p: optim.Momentum(p, lr=1e-3, beta=0.9),
    ),
    "Nesterov": (
        lambda p: optim.Nesterov(p, lr=0.035, beta=0.5),
        lambda p: optim.Nesterov(p, lr=1e-3, beta=0.9),
    ),
    "AdaGrad": (lambda p: optim.AdaGrad(p, lr=1.5), lambda p: optim.AdaGrad(p, lr=0.5)),
    "RMSProp": (
        lambda p: optim.RMSProp(p, lr=0.15, beta2=0.9),
        lambda p: optim.RMSProp(p, lr=3e-3),
    ),
    "Adam": (
        lambda p: optim.Adam(p, lr=0.5, beta2=0.99),
        lambda p: optim.Adam(p, lr=0.05, beta2=0.99),
    ),
}
paths = {
    name: (
        trajectory(quadratic, q, [-8.0, 1.5], 60),
        trajectory(rosenbrock, r, [-1.5, 2.0], 1000),
    )
    for name, (q, r) in SETTINGS.items()
}
for name, (pq, pr) in paths.items():
    print(
        f"{name:>9}: quadratic {quadratic(pq[-1]):.1e} after 60 steps, "
        f"Rosenbrock {rosenbrock(pr[-1]):.1e} at ({pr[-1, 0]:.3f}, {pr[-1, 1]:.3f}) after 1000 steps"
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
assert fr["Adam"] < 1e-2 and fr["Momentum"] < 1e-3 and fr["AdaGrad"] > fr["SGD"]

# %% tags=["hide-input"]
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
# On the quadratic, SGD zig-zags across the steep $y$ direction while creeping
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
SCHEDULES = {
    "step": lambda o: S.StepLR(o, step_size=25, gamma=0.5),
    "exponential": lambda o: S.ExponentialLR(o, gamma=0.96),
    "1/epoch": lambda o: S.LambdaLR(o, lr_lambda=lambda epoch: 1 / (epoch + 1)),
    "cosine": lambda o: S.CosineAnnealingLR(o, T_max=100, eta_min=1e-3),
    "one-cycle": lambda o: S.OneCycleLR(
        o, max_lr=0.1, total_steps=100, cycle_momentum=False
    ),
    "warm-up + cosine": lambda o: S.SequentialLR(
        o,
        [
            S.LinearLR(o, start_factor=0.01, total_iters=10),
            S.CosineAnnealingLR(o, T_max=90),
        ],
        milestones=[10],
    ),
}


def lr_curve(make_scheduler, epochs: int = 100, lr: float = 0.1) -> list[float]:
    opt = optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)  # a dummy parameter
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

# %% tags=["hide-input"]
fig, ax = plot.subplots(width=7, height=3.6)
plot.curves(ax, lrs, xlabel="epoch", ylabel="learning rate")
ax.legend(ncols=2)
plot.show(fig)

# %% [markdown]
# Step and exponential decay shrink the rate geometrically; $1/\text{epoch}$
# falls fastest at first and then very slowly. Cosine annealing keeps the rate
# high for longer and then lowers it smoothly to $\gamma_{\min}$. Warm-up starts
# tiny because the first updates, made with random weights and (for Adam)
# unreliable second-moment estimates, are the most likely to throw the
# parameters somewhere bad; one-cycle combines a warm-up with a long
# annealing phase. In practice, warm-up followed by cosine decay is a strong
# default for large models.
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
n = 100_000
w = torch.randn(
    3, n, dtype=torch.float64, requires_grad=True
)  # w1, w2, w3 of n independent chains
x = torch.randn(n, dtype=torch.float64)
u1 = w[0] * x
u3 = w[1] * torch.sigmoid(u1)
u5 = w[2] * torch.sigmoid(u3)
torch.sigmoid(
    u5
).sum().backward()  # chains are independent: one backward gives every dy/dw
dsig = lambda u: torch.sigmoid(u) * (1 - torch.sigmoid(u))  # noqa: E731
factors = torch.stack([dsig(u1), dsig(u3), dsig(u5)]).detach()  # (3, n)
by_hand = (
    dsig(u5) * w[2] * dsig(u3) * w[1] * dsig(u1) * x
).detach()  # equation (eq-sigmoid-chain)
ratio = (w.grad[0].abs() / w.grad[2].abs()).median()
print(
    f"largest sigmoid slope {factors.max():.6f}; max |by hand - autograd| {(by_hand - w.grad[0]).abs().max():.1e}"
)
print(f"median |dy/dw1| / |dy/dw3| = {ratio:.4f}")

# %% tags=["remove-cell"]
assert (factors <= 0.25).all() and factors.max() > 0.2499
assert torch.allclose(by_hand, w.grad[0], rtol=1e-12, atol=1e-15)
bound = (w[1] * w[2] * x).abs().detach() / 64  # three factors of at most 1/4
assert (w.grad[0].abs() <= bound + 1e-15).all()
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
# $n_\text{out} = C_\text{out}k_1k_2$. `dlbook.init` computes the fans and the
# standard deviations:

# %%
show_source(init.fans)

# %%
show_source(init.init_std)

# %% [markdown]
# The fill functions draw exactly as `torch.nn.init` does, so with the same
# seed they must give the *same tensor* (LeCun is PyTorch's Kaiming with the
# gain of a linear unit). We check that for a Linear and a Conv2d weight:


# %%
def same_draw(ours, theirs, shape) -> bool:
    a, b = torch.empty(shape), torch.empty(shape)
    torch.manual_seed(1), ours(a)
    torch.manual_seed(1), theirs(b)
    return torch.equal(a, b)


conv_w = nn.Conv2d(16, 32, kernel_size=3).weight
print(
    f"Conv2d(16, 32, 3): weight {tuple(conv_w.shape)}, (fan_in, fan_out) = {init.fans(conv_w)}, "
    f"He std {init.init_std(conv_w, 'he'):.4f}"
)
checks = {
    "LeCun normal": (
        init.lecun_normal_,
        lambda w: nn.init.kaiming_normal_(w, nonlinearity="linear"),
    ),
    "Xavier uniform": (init.xavier_uniform_, nn.init.xavier_uniform_),
    "He normal": (
        init.he_normal_,
        lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
    ),
    "He uniform, fan_out": (
        lambda w: init.he_uniform_(w, mode="fan_out"),
        lambda w: nn.init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu"),
    ),
}
same = {
    name: same_draw(o, t, (64, 32)) and same_draw(o, t, tuple(conv_w.shape))
    for name, (o, t) in checks.items()
}
print("identical to torch.nn.init:", same)

# %% tags=["remove-cell"]
assert all(same.values())
assert (
    init.fans(conv_w)
    == (16 * 9, 32 * 9)
    == nn.init._calculate_fan_in_and_fan_out(conv_w)
)
assert abs(init.init_std(conv_w, "he") - math.sqrt(2 / 144)) < 1e-15

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
depth, nets, n_in, width = 50, 8, 32, 256
g = torch.Generator().manual_seed(0)
x0 = torch.randn(
    nets, n_in, width, generator=g
)  # 8 networks x 32 inputs, each x ~ N(0, I)
Z = torch.randn(
    depth, nets, width, width, generator=g
)  # shared N(0, 1) weights, scaled below
square = torch.empty(width, width)
SIGMAS = {
    "N(0, 0.01²)": 0.01,
    "N(0, 1)": 1.0,
    **{name: init.init_std(square, name.lower()) for name in ("LeCun", "Xavier", "He")},
}


def activation_rms(sigma: float, act) -> list[float]:
    """RMS of the pre-activations z = W h at each layer, W = sigma * Z; (depth,) values."""
    h, rms = x0, []
    for Z_l in Z:
        z = h @ (sigma * Z_l).transpose(1, 2)  # (nets, n_in, width)
        rms.append(z.pow(2).mean().sqrt().item())
        h = act(z)
    return rms


stats = {
    act_name: {name: activation_rms(sigma, act) for name, sigma in SIGMAS.items()}
    for act_name, act in (("ReLU", torch.relu), ("tanh", torch.tanh))
}
for act_name, per_init in stats.items():
    print(
        f"{act_name} RMS at layer 1 / 10 / 50 ->",
        "; ".join(
            f"{k} {v[0]:.2g} / {v[9]:.2g} / {v[-1]:.2g}" for k, v in per_init.items()
        ),
    )

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

# %% tags=["hide-input"]
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
# In the ReLU network, He initialization keeps the scale constant across all 50 layers (the ratio between its largest and smallest
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
train_set, test_set = data.load_fashion_mnist("train"), data.load_fashion_mnist("test")
x_batch = data.to_float(train_set.x[:256]).flatten(1).to(device)  # (256, 784)
x_batch = (x_batch - x_batch.mean()) / x_batch.std()
y_batch = train_set.y[:256].to(device)


def layer_grad_norms(
    act: type[nn.Module], scheme: str, depth: int = 20, width: int = 128
) -> list[float]:
    torch.manual_seed(0)
    sizes = [784] + [width] * depth
    net = nn.Sequential(
        *[m for i in range(depth) for m in (nn.Linear(sizes[i], sizes[i + 1]), act())],
        nn.Linear(width, 10),
    )
    init.init_model_(net.to(device), scheme)
    F.cross_entropy(net(x_batch), y_batch).backward()
    return [m.weight.grad.norm().item() for m in net if isinstance(m, nn.Linear)][
        :-1
    ]  # hidden layers


grad_norms = {
    "sigmoid, Xavier": layer_grad_norms(nn.Sigmoid, "xavier"),
    "ReLU, He": layer_grad_norms(nn.ReLU, "he"),
}
for name, norms in grad_norms.items():
    print(
        f"{name:>15}: |grad| layer 1 = {norms[0]:.1e}, layer 20 = {norms[-1]:.1e}, ratio {norms[0] / norms[-1]:.1e}"
    )

# %% tags=["remove-cell"]
sig, rel = grad_norms["sigmoid, Xavier"], grad_norms["ReLU, He"]
assert sig[0] / sig[-1] < 1e-6, "sigmoid: the first layer's gradient vanishes"
assert 0.1 < rel[0] / rel[-1] < 10, (
    "ReLU + He: gradients of comparable size in every layer"
)

# %% tags=["hide-input"]
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
# With sigmoids the gradient shrinks by roughly the factor $1/4$ of
# {eq}`eq-sigmoid-chain` per layer, so the first layer's gradient is many
# orders of magnitude smaller than the last one's: those layers effectively do
# not train. With ReLU and He initialization the gradient norms stay within a
# small factor of each other across all 20 layers.
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
x_d, y_d = (
    x_dig[:600].float(),
    y_dig[:600],
)  # 600 standardized digits from above, (600, 64)


def train_steps(
    model, x, y, steps: int = 200, lr: float = 0.5, loss_fn=F.cross_entropy, clip=None
):
    """Full-batch gradient descent; returns the loss at every step."""
    opt, losses = optim.SGD(model.parameters(), lr=lr), []
    for _ in range(steps):
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(
                model.parameters(), clip
            )  # rescale g so that ||g|| <= clip
        opt.step()
        losses.append(loss.item())
    return losses


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
x_raw = digits.x[:600].flatten(1).float() * (
    255 / 16
)  # as if stored as 8-bit images, 0..255
stalls["input scaling"] = {
    "stalled": train_steps(sigmoid_mlp(width=16), x_raw, y_d),
    "fixed": train_steps(sigmoid_mlp(width=16), x_d, y_d),
}
m = sigmoid_mlp()
w_before = m[0].weight.detach().clone()
train_steps(m, x_raw / 255, y_d, steps=20)
dead_pixels = (x_raw == 0).all(0)
moved = (
    (m[0].weight.detach() - w_before).abs().amax(0)
)  # (64,) largest change per input pixel
print(
    f"{int(dead_pixels.sum())} pixels are 0 in every image; their weights moved by at most "
    f"{moved[dead_pixels].max():.1e} (others: up to {moved[~dead_pixels].max():.1e})"
)

# %% [markdown]
# **2. Saturating units.** Even with good inputs, a deep stack of sigmoids
# passes back almost no gradient (previous section), even with Xavier
# initialization. A non-saturating unit fixes it: the same 8-layer network
# with leaky ReLU units and He initialization trains.


# %%
def deep_mlp(
    act: type[nn.Module], scheme: str, depth: int = 8, width: int = 32
) -> nn.Module:
    torch.manual_seed(0)
    sizes = [64] + [width] * depth
    net = nn.Sequential(
        *[m for i in range(depth) for m in (nn.Linear(sizes[i], sizes[i + 1]), act())],
        nn.Linear(width, 10),
    )
    return init.init_model_(net, scheme)


stalls["saturating units"] = {
    "stalled": train_steps(deep_mlp(nn.Sigmoid, "xavier"), x_d, y_d, lr=0.1),
    "fixed": train_steps(deep_mlp(nn.LeakyReLU, "he"), x_d, y_d, lr=0.1),
}

# %% [markdown]
# **3. Zero initialization.** If all weights start at 0, every hidden unit
# computes the same function and receives the same gradient, so they stay
# identical forever: the network behaves as if it had one hidden unit. (With
# ReLU units and zero weights the gradient is exactly zero.) Small random
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
    f"after training from zeros: max difference between hidden units' weights {(W1 - W1[0]).abs().max():.1e}, "
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
print(
    "without clipping, losses at steps 1-5:",
    [f"{v:.3g}" for v in stalls["exploding gradients"]["stalled"][:5]],
)

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


stalls["output activation"] = {
    "stalled": train_steps(
        regressor(nn.Sigmoid()), x_r, y_r, steps=1000, lr=0.1, loss_fn=F.mse_loss
    ),
    "fixed": train_steps(
        regressor(nn.Identity()), x_r, y_r, steps=1000, lr=0.1, loss_fn=F.mse_loss
    ),
}
for cause, runs in stalls.items():
    print(
        f"{cause:>20}: final loss stalled {runs['stalled'][-1]:.3g}, fixed {runs['fixed'][-1]:.3g}"
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

# %% tags=["hide-input"]
fig, axes = plot.subplots(1, 5, width=15, height=3.0)
for ax, (cause, runs) in zip(axes, stalls.items()):
    finite = {
        k: [v if math.isfinite(v) and v < 1e6 else float("nan") for v in vals]
        for k, vals in runs.items()
    }
    plot.curves(
        ax,
        finite,
        xlabel="step",
        ylabel="training loss" if ax is axes[0] else "",
        logy=True,
        title=cause,
    )
plot.show(fig)

# %% [markdown]
# In every panel the fixed run (red) trains while the stalled one (blue)
# plateaus or, for the exploding network, leaves the plot as its loss becomes
# infinite. The fixes are the practical rules of this chapter: scale inputs
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


ends = {}
for lr in (0.01, 0.3):
    th = trajectory(
        lambda p: two_minima(p[0]), lambda p, lr=lr: optim.SGD(p, lr=lr), [-0.8], 300
    )
    ends[lr] = th[-1, 0]
    rise = (
        two_minima(ends[lr] + torch.tensor([-0.2, 0.2])) - two_minima(ends[lr])
    ).mean()
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
# directions mislead, because networks with ReLUs are invariant to rescaling a
# unit's incoming weights; they **filter-normalize** the direction: every
# row of a weight matrix (the incoming weights of one unit; a filter, for a
# convolution) is rescaled to the norm of the same row of $\theta^\ast$, and
# biases are left out. First we train a small MLP, with our own Adam:

# %%
sub = data.subset(train_set, cfg.n_land)
x_land = data.to_float(sub.x).flatten(1).to(device)  # (N, 784)
y_land = sub.y.to(device)
test_b = data.Batches(
    data.to_float(test_set.x).flatten(1).to(device),
    test_set.y.to(device),
    batch_size=2_000,
    shuffle=False,
)
torch.manual_seed(0)
mlp = nn.Sequential(
    nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10)
).to(device)
hist = fit(
    mlp,
    data.Batches(x_land, y_land, batch_size=128, seed=0),
    epochs=cfg.land_epochs,
    optimizer=optim.Adam(mlp.parameters(), lr=2e-3),
)
land_acc = dlbook.report(
    "landscape MLP test accuracy", evaluate(mlp, test_b)[1], fmt=".4f"
)
print(f"training loss per epoch: {[round(v, 3) for v in hist.train_loss]}")

# %% tags=["remove-cell"]
assert hist.train_loss[-1] < 0.7 * hist.train_loss[0] and land_acc > 0.65

# %% [markdown]
# The direction and the slices:


# %%
def filter_normalized_direction(model: nn.Module, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    dirs = []
    for p in model.parameters():
        d = torch.randn(p.shape, generator=g).to(p.device)
        if p.ndim == 1:
            d.zero_()  # biases: left out
        else:  # each row (one unit's incoming weights) gets the norm of the same row of the weights
            d *= p.detach().flatten(1).norm(dim=1).view(
                -1, *[1] * (p.ndim - 1)
            ) / d.flatten(1).norm(dim=1).view(-1, *[1] * (p.ndim - 1))
        dirs.append(d)
    return dirs


@torch.no_grad()
def loss_at(model, base, dirs_and_steps, x, y) -> float:
    for p, p0, *ds in zip(model.parameters(), base, *[d for d, _ in dirs_and_steps]):
        p.copy_(p0 + sum(a * d for a, d in zip([a for _, a in dirs_and_steps], ds)))
    return F.cross_entropy(model(x), y).item()


# %% [markdown]
# We evaluate the training loss on `cfg.n_eval` examples along three random
# filter-normalized directions, and over the plane of two of them, then put the
# trained weights back.

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
grid = torch.linspace(-1, 1, cfg.grid)
surface = torch.tensor(
    [
        [loss_at(mlp, base, [(d1, a.item()), (d2, b.item())], x_ev, y_ev) for a in grid]
        for b in grid
    ]
)  # (grid, grid): rows = direction 2
loss_at(mlp, base, [(d1, 0.0)], x_ev, y_ev)  # restore the trained weights
print(
    f"loss at the trained weights {slices['direction 1'][20]:.3f}; at alpha = ±1: "
    + ", ".join(f"{s[0]:.2f}/{s[-1]:.2f}" for s in slices.values())
)

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

# %% tags=["hide-input"]
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
# every slice: in these random directions the landscape of a small MLP looks
# almost convex. Li et al. found that this stays true for well-designed deep
# networks (with skip connections, chapter 7), while very deep networks
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
# they are seen.

# %%
show_source(optim.EarlyStopping.step)

# %% [markdown]
# An MLP with two hidden layers of 256 units, trained on only `cfg.n_es`
# Fashion-MNIST images, overfits quickly. We
# validate on the first half of the test split and keep the second half as the
# test set; `fit` trains one epoch at a time.

# %%
es_sub = data.subset(train_set, cfg.n_es, seed=1)
es_train = data.Batches(
    data.to_float(es_sub.x).flatten(1).to(device),
    es_sub.y.to(device),
    batch_size=64,
    seed=0,
)
x_te, y_te = data.to_float(test_set.x).flatten(1).to(device), test_set.y.to(device)
es_val = data.Batches(x_te[:5000], y_te[:5000], batch_size=2_500, shuffle=False)
es_test = data.Batches(x_te[5000:], y_te[5000:], batch_size=2_500, shuffle=False)
torch.manual_seed(0)
net = nn.Sequential(
    nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
).to(device)
opt, stopper = optim.Adam(net.parameters(), lr=1e-3), optim.EarlyStopping(patience=5)
curves = {"train": [], "validation": []}
for _ in range(cfg.es_max_epochs):
    h = fit(net, es_train, epochs=1, optimizer=opt, val=es_val, progress=False)
    curves["train"].append(h.train_loss[-1])
    curves["validation"].append(h.val_loss[-1])
    if stopper.step(h.val_loss[-1], net):
        break
epoch = stopper.epochs_seen  # epochs trained
last_val, last_test_acc = curves["validation"][-1], evaluate(net, es_test)[1]
stopper.restore(net)
best_val, best_test_acc = evaluate(net, es_val)[0], evaluate(net, es_test)[1]
print(
    f"stopped after epoch {epoch}; best epoch {stopper.best_epoch}; validation loss last {last_val:.3f}, "
    f"restored {best_val:.3f}; test accuracy last {last_test_acc:.4f}"
)
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
assert es_acc > 0.7

# %% tags=["hide-input"]
fig, ax = plot.subplots(width=6, height=3.4)
plot.curves(ax, curves, xlabel="epoch", ylabel="cross-entropy loss")
ax.axvline(
    stopper.best_epoch, color="k", ls="--", lw=0.8, label="best epoch (restored)"
)
ax.legend()
plot.show(fig)

# %% [markdown]
# The training loss keeps falling while the validation loss turns upwards
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
#   size. All six, written from scratch, reproduce `torch.optim` step for step.
# - Adam's bias correction makes its early steps the right size; Adam can fail
#   on convex problems (Reddi et al.), which AMSGrad repairs.
# - Learning-rate schedules (step, exponential, $1/\text{epoch}$, cosine,
#   one-cycle, warm-up) trade fast early progress for a careful finish.
# - Sigmoid slopes are at most $1/4$, so gradients vanish through deep sigmoid
#   stacks. Initializing with variance $1/n_\text{in}$ (LeCun),
#   $2/(n_\text{in}+n_\text{out})$ (Xavier) or $2/n_\text{in}$ (He, for ReLU)
#   keeps signals at a constant scale through depth; naive scales collapse or explode.
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
# `optim.Momentum` with $\gamma^\ast$ and several $\beta$ for 60 steps and
# confirm that $\beta^\ast$ is (close to) the best, and that it beats the best
# plain gradient descent, $\gamma = 2/(\lambda_{\min}+\lambda_{\max})$.

# %% tags=["hide-cell"]
# Solution to Exercise 1
kappa = 25.0
lr_star, beta_star = (
    4 / (math.sqrt(kappa) + 1) ** 2,
    ((math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1)) ** 2,
)
betas = [0.0, 0.2, 0.3, beta_star, 0.6, 0.8, 0.9]
final = {
    b: quadratic(
        trajectory(
            quadratic,
            lambda p, b=b: optim.Momentum(p, lr=lr_star, beta=b),
            [-8.0, 1.5],
            60,
        )[-1]
    ).item()
    for b in betas
}
gd = quadratic(
    trajectory(quadratic, lambda p: optim.SGD(p, lr=2 / 26), [-8.0, 1.5], 60)[-1]
).item()
print(
    f"beta* = {beta_star:.3f}; loss after 60 steps: "
    + ", ".join(f"beta {b:.3f}: {v:.1e}" for b, v in final.items())
)
print(f"best gradient descent: {gd:.1e}")
assert min(final, key=final.get) == beta_star or final[beta_star] < 10 * min(
    final.values()
)
assert final[beta_star] < 1e-6 * gd

# %% [markdown]
# The optimal momentum converges at the rate $(\sqrt\kappa-1)/(\sqrt\kappa+1)$
# per step instead of $(\kappa-1)/(\kappa+1)$, many orders of magnitude faster
# here after 60 steps.
#
# **Exercise 2 (fan-in or fan-out?).** He's `fan_in` mode keeps the forward
# signal's scale, `fan_out` the backward one's. Build a 10-layer ReLU "funnel"
# whose widths shrink from 512 to 16, initialize it in each mode, and measure
# how the variance of the activations (forward) and of the gradient
# $\partial\mathcal L/\partial\mathbf x$ (backward) change from one end to the other.


# %% tags=["hide-cell"]
# Solution to Exercise 2
def funnel_gains(mode: str) -> tuple[float, float]:
    torch.manual_seed(0)
    widths = [512, 512, 256, 256, 128, 128, 64, 64, 32, 32, 16]
    ws = [
        init.he_normal_(torch.empty(widths[i + 1], widths[i]), mode=mode)
        for i in range(10)
    ]
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

# %% [markdown]
# Each layer multiplies the backward variance by $n_\text{out}\sigma^2/2$: 1 in
# `fan_out` mode, $n_\text{out}/n_\text{in}$ in `fan_in` mode, a product that
# telescopes to $16/512$. The forward pass behaves the other way round. Only
# for equal widths do the two modes coincide; Xavier's harmonic compromise
# splits the difference.
#
# **Exercise 3 (patience).** Rerun the early-stopping experiment with
# `patience` 1 and 10. How do the stopping epoch and the restored validation
# loss change? Why is a patience of 1 risky with noisy validation curves?


# %% tags=["hide-cell"]
# Solution to Exercise 3: replay the recorded validation curve with other patiences.
def replay(curve: list[float], patience: int) -> tuple[int, int]:
    stop, dummy = optim.EarlyStopping(patience=patience), nn.Linear(1, 1)
    for e, v in enumerate(curve, start=1):
        if stop.step(v, dummy):
            return e, stop.best_epoch
    return len(curve), stop.best_epoch


for p in (1, 3, 5):
    stop_epoch, best = replay(curves["validation"], p)
    print(
        f"patience {p}: stop at epoch {stop_epoch}, best epoch {best}, best loss {curves['validation'][best - 1]:.3f}"
    )
    assert (
        best <= stop_epoch
        and curves["validation"][best - 1] >= min(curves["validation"]) - 1e-12
    )

# %% [markdown]
# We replayed the recorded validation curve rather than retraining (a patience
# above 5 would need the epochs we never ran). Patience 1 stops at the first
# uptick, which with a noisy curve may come long before the real minimum; a
# larger patience costs a few more epochs but is more likely to find the best
# weights, and restoring them means the extra epochs do no harm.
#
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
