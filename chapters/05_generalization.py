# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# (ch-generalization)=
# # Regularization and generalization
#
# ```{admonition} Learning objectives
# :class: tip
# After this chapter you can
# - diagnose under- and overfitting from training and validation errors, and select a model on a validation set;
# - show that weight decay is an L2 penalty for SGD but not for Adam, and say what AdamW changes;
# - implement inverted dropout and batch normalization from scratch, match PyTorch exactly, and explain
#   their train and eval modes (and the misleading `momentum` of batch norm);
# - use data augmentation and mixup, and dropout at test time for predictive uncertainty;
# - explain, with experiments, why classical capacity arguments fall short for deep networks: random
#   labels, double descent and the implicit bias of gradient descent.
# ```
#
# A network is trained on one set of examples and used on others. Everything
# we care about is therefore its error on data it has *not* seen, the
# generalization error. The multilayer perceptrons of {ref}`ch-mlp` and the
# optimizers of {ref}`ch-optimization` make the training error small; this
# chapter asks when that is enough. We first meet the classical picture —
# too simple a model underfits, too flexible a model overfits, and a
# validation set arbitrates — and the standard tools that push a flexible
# model towards solutions that generalize: weight decay, dropout, batch
# normalization and data augmentation. We then run three experiments that
# the classical picture cannot explain: networks that memorize random labels,
# test error that falls again after the interpolation threshold, and the
# hidden preference of gradient descent itself.

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
# The sizes of the experiments depend on the run profile (see {ref}`ch-setup`).
# The `smoke` profile only checks that every cell runs; `cpu` gives results
# worth reading; `gpu` runs the full-size versions.

# %%
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlbook import check, data, plot
from dlbook.regularization import beta_draw, check_batch_norm, check_mixup
from dlbook.regularization import generator_device
from dlbook.train import evaluate, fit

# %%
# fmt: off
cfg = dlbook.config(  # n_*: training examples; *_epochs, *_steps: training length
    smoke=dict(wd_steps=50, n_bn=3_000, bn_epochs=1, n_dd=200, n_dd_test=1_000,
               n_small=1_000, small_epochs=12, n_rand=500, rand_epochs=20,
               n_test=1_000),
    cpu=dict(wd_steps=200, n_bn=20_000, bn_epochs=2, n_dd=600, n_dd_test=2_000,
             n_small=2_000, small_epochs=25, n_rand=1_000, rand_epochs=60,
             n_test=2_000),
    gpu=dict(wd_steps=200,  # as in cpu: float64 on the CPU in every profile
             n_bn=60_000, bn_epochs=5, n_dd=4_000, n_dd_test=10_000,
             n_small=2_000, small_epochs=40, n_rand=2_000, rand_epochs=100,
             n_test=10_000),
)
# fmt: on
cfg

# %% [markdown]
# ## Underfitting, overfitting and model selection
#
# Training minimizes the *empirical risk*, the average loss over the
# training set; what we want small is the *expected risk* over the
# distribution the data come from. Their difference is the **generalization
# gap**. A model that is too simple has a large training error and a test
# error close to it: it **underfits**. A model flexible enough to follow
# the noise in its training examples has a tiny training error and a much
# larger test error: it **overfits** {cite}`hastie2009elements`.
#
# The classic illustration fits polynomials of degree $k$,
# $f(x) = \sum_{j=0}^{k} w_j\, P_j(x)$ (we use Legendre polynomials $P_j$,
# which keep least squares well conditioned), to a handful of noisy samples
# of a smooth curve. The data are split three ways: the **training set**
# fits the weights of each model, the **validation set** chooses among the
# models (here: the degree $k$), and the **test set** is used once, at the
# very end, to estimate the error of the chosen model. Choosing on the test
# set would make that estimate optimistic, because the choice itself is
# fitted to the test data.

# %%
gen = torch.Generator().manual_seed(0)


def toy_curve(n: int):
    """n noisy samples of 1.5 sin(pi x) on [-1, 1]: x (n,), t (n,) in float64."""
    x = torch.rand(n, generator=gen, dtype=torch.float64) * 2 - 1
    noise = 0.3 * torch.randn(n, generator=gen, dtype=torch.float64)
    return x, 1.5 * torch.sin(torch.pi * x) + noise


def legendre_features(x: torch.Tensor, degree: int) -> torch.Tensor:
    """(n,) -> (n, degree + 1): P_0(x), ..., P_degree(x)."""
    return torch.from_numpy(np.polynomial.legendre.legvander(x.numpy(), degree))


# %% [markdown]
# We draw small training and validation sets and a large test set; each
# degree is fitted by least squares on the training set

# %%
# training, validation and test data
(x_p, t_p), (x_pv, t_pv), (x_pt, t_pt) = toy_curve(30), toy_curve(30), toy_curve(1_000)
degrees = list(range(0, 16))
poly_w = {
    k: torch.linalg.lstsq(legendre_features(x_p, k), t_p[:, None]).solution
    for k in degrees
}

# %% [markdown]
# and scored by its mean squared error on the validation set:


# %%
def poly_mse(k, x, t):
    return ((legendre_features(x, k) @ poly_w[k])[:, 0] - t).pow(2).mean().item()


train_mse = [poly_mse(k, x_p, t_p) for k in degrees]
val_mse = [poly_mse(k, x_pv, t_pv) for k in degrees]
best_k = degrees[int(np.argmin(val_mse))]
print(
    f"degree chosen on the validation set: {best_k}; its test MSE "
    f"{poly_mse(best_k, x_pt, t_pt):.3f} (noise variance 0.09)"
)

# %% tags=["remove-cell"]
assert 3 <= best_k <= 12, (
    "validation should reject both the straight line and the wildest polynomial"
)
assert val_mse[-1] > 2 * min(val_mse) and val_mse[0] > 2 * min(val_mse), (
    "both ends of the sweep must be worse"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Polynomial fits of increasing degree: training and validation error against the degree (left; the dotted line marks the degree chosen on validation) and three fits (right).", "name": "fig-generalization-poly"}, "image": {"alt": "Left: training error falls steadily with the degree while validation error falls, then rises. Right: a straight line underfits, the chosen degree follows the curve, degree 15 wiggles through the noise."}}
fig, axes = plot.subplots(1, 2, width=10, height=3.4)
plot.curves(
    axes[0],
    {"training": train_mse, "validation": val_mse},
    x=degrees,
    xlabel="polynomial degree k",
    ylabel="mean squared error",
    logy=True,
)
axes[0].axvline(best_k, color="k", ls=":", lw=1)
grid_x = torch.linspace(-1, 1, 300, dtype=torch.float64)
axes[1].plot(x_p, t_p, "ko", ms=4, label="training data")
for k in (1, best_k, 15):
    axes[1].plot(
        grid_x, (legendre_features(grid_x, k) @ poly_w[k])[:, 0], label=f"degree {k}"
    )
axes[1].set_ylim(-2, 2)
axes[1].set_xlabel("x")
axes[1].set_ylabel("t")
axes[1].legend(ncol=2)
plot.show(fig)

# %% [markdown]
# In {numref}`fig-generalization-poly` the training error (left) can only fall as the degree grows, since each
# model contains the previous one. The validation error first falls — the
# low-degree models underfit, like the straight line on the right — then
# rises again as the polynomial starts to thread through the noise (degree
# 15). The dotted line marks the degree chosen on validation data, and the
# test error printed above is our one honest estimate of how it will do.
#
# Two remarks carry over to deep learning. First, with real networks we
# rarely sweep a single capacity knob; the validation set picks learning
# rates, widths, regularization strengths and the epoch at which to stop
# (*early stopping*). Second, the "U" of the validation curve is *not* the
# whole story for very flexible models: the last third of this chapter shows
# that error can fall again far beyond the point where the training data are
# fitted exactly.
#
# ## Weight decay and the L2 penalty
#
# The oldest regularizer adds a penalty on the size of the weights to the
# training loss $\mathcal{L}(\boldsymbol\theta)$,
#
# $$
# \mathcal{L}_\lambda(\boldsymbol\theta) = \mathcal{L}(\boldsymbol\theta) + \frac{\lambda}{2}\|\boldsymbol\theta\|^2 ,
# $$ (eq-l2-penalty)
#
# which for linear least squares is *ridge regression* and, in Bayesian
# terms, the MAP estimate under a Gaussian prior on the weights. A
# gradient-descent step on {eq}`eq-l2-penalty` with learning rate $\eta$ reads
#
# $$
# \boldsymbol\theta_{k+1} = \boldsymbol\theta_k - \eta\left(\mathbf{g}_k + \lambda\boldsymbol\theta_k\right)
#   = (1 - \eta\lambda)\,\boldsymbol\theta_k - \eta\,\mathbf{g}_k ,
# $$ (eq-weight-decay)
#
# with $\mathbf{g}_k$ the (stochastic) gradient of the unpenalized loss:
# every step first shrinks — *decays* — the weights by the factor
# $1-\eta\lambda$. This is why optimizers take a `weight_decay` argument
# instead of asking us to change the loss. Let us check the equivalence on a
# small MLP trained on Fashion-MNIST {cite}`xiao2017fashion`, in float64 so
# that "equal" can mean equal to rounding error. We need a small subset of the
# images and the penalty {eq}`eq-l2-penalty` as a function of the network:

# %%
train_set, test_set = data.load_fashion_mnist("train"), data.load_fashion_mnist("test")
wd_sub = data.subset(train_set, 512, seed=1)
x_wd, y_wd = data.to_float(wd_sub.x).flatten(1).double(), wd_sub.y  # (512, 784), (512,)
lam = 1e-2


def l2_penalty(net: nn.Module) -> torch.Tensor:
    """(lam / 2) times the squared norm of all the parameters."""
    return lam / 2 * sum(p.pow(2).sum() for p in net.parameters())


# %% [markdown]
# The helper trains a fresh copy of the same network on the same mini-batches,
# either with the penalty added to the loss or with the optimizer's
# `weight_decay`:


# %%
def train_wd(make_opt, penalty: bool, steps: int = cfg.wd_steps) -> torch.Tensor:
    """Train a fixed-init MLP on fixed batches; all its parameters as one vector."""
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10)).double()
    opt, step = make_opt(net.parameters()), 0
    batches = data.Batches(x_wd, y_wd, batch_size=64, seed=0)
    while step < steps:
        for xb, yb in batches:
            loss = F.cross_entropy(net(xb), yb) + (l2_penalty(net) if penalty else 0.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step == steps:
                break
    return nn.utils.parameters_to_vector(net.parameters()).detach()


# %% [markdown]
# With SGD, the penalty in the loss against the optimizer's `weight_decay`:

# %%
sgd_l2 = train_wd(lambda ps: torch.optim.SGD(ps, lr=0.1), penalty=True)
sgd_wd = train_wd(
    lambda ps: torch.optim.SGD(ps, lr=0.1, weight_decay=lam), penalty=False
)
print(
    f"SGD, {cfg.wd_steps} steps: max |L2 penalty - weight_decay| = "
    f"{(sgd_l2 - sgd_wd).abs().max():.1e}"
)

# %% tags=["remove-cell"]
assert torch.allclose(sgd_l2, sgd_wd, rtol=0, atol=1e-12), (
    "for SGD weight decay IS the L2 penalty"
)

# %% [markdown]
# After all these steps the two parameter vectors agree to the last few
# digits of float64: for SGD, weight decay and the L2 penalty are one and the
# same. (With momentum they stay identical too, since the decay term enters
# the gradient before the momentum buffer.)
#
# Adaptive methods break the equivalence {cite}`loshchilov2019decoupled`.
# Adam divides each coordinate of the gradient by a running root-mean-square
# $\sqrt{\hat v}$ (see {ref}`ch-optimization`). If the penalty is in the
# loss, its gradient $\lambda\boldsymbol\theta$ is divided too, so weights
# with large, noisy gradients are hardly decayed at all. `torch.optim.Adam`'s
# `weight_decay` does exactly this (it adds $\lambda\boldsymbol\theta$ to the
# gradient). **AdamW** *decouples* the decay: it shrinks the weights by
# $1-\eta\lambda$ as in {eq}`eq-weight-decay` and then takes an ordinary Adam
# step on the unpenalized gradient. We run all three and, as a check that
# we understand AdamW, also a hand-made version: shrink, then call plain Adam.


# %%
class ShrinkThenAdam(torch.optim.Adam):
    """Decoupled weight decay by hand: theta <- (1 - lr lam) theta, then Adam."""

    def step(self, closure=None):
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    p.mul_(1 - group["lr"] * lam)
        return super().step(closure)


# %% [markdown]
# The three others, each compared with Adam plus the L2 penalty in the loss:

# %%
adam_l2 = train_wd(lambda ps: torch.optim.Adam(ps, lr=1e-3), penalty=True)
adam_wd = train_wd(
    lambda ps: torch.optim.Adam(ps, lr=1e-3, weight_decay=lam), penalty=False
)
adamw = train_wd(
    lambda ps: torch.optim.AdamW(ps, lr=1e-3, weight_decay=lam), penalty=False
)
adamw_hand = train_wd(lambda ps: ShrinkThenAdam(ps, lr=1e-3), penalty=False)
others = {"Adam(weight_decay)": adam_wd, "AdamW": adamw, "shrink + Adam": adamw_hand}
for name, v in others.items():
    print(f"max |Adam + L2 penalty - {name}| = {(adam_l2 - v).abs().max():.1e}")
print(f"max |AdamW - shrink + Adam| = {(adamw - adamw_hand).abs().max():.1e}")

# %% tags=["remove-cell"]
assert torch.allclose(adam_l2, adam_wd, rtol=0, atol=1e-10), (
    "Adam's weight_decay is the coupled L2 penalty"
)
assert (adam_l2 - adamw).abs().max() > 1e-3, (
    "AdamW must differ from Adam with an L2 penalty"
)
assert torch.allclose(adamw, adamw_hand, rtol=0, atol=1e-10), (
    "AdamW = shrink the weights, then a plain Adam step"
)

# %% [markdown]
# Adam's own `weight_decay` is the L2 penalty in disguise (first line), but
# AdamW ends somewhere else entirely (second line), and our two-line
# re-implementation reproduces it. Which is better is an empirical
# question; Loshchilov and Hutter found the decoupled form generalizes
# better and makes $\lambda$ easier to tune, and AdamW is the default for
# training transformers ({ref}`ch-optimization`).
#
# ## Dropout
#
# Averaging the predictions of many different networks reduces test error,
# but training many networks is expensive. **Dropout**
# {cite}`hinton2012improving,srivastava2014dropout` trains exponentially
# many "thinned" networks that share their weights: at every training
# step each hidden unit is switched off with probability $p$, so no unit can
# rely on the presence of particular others. The *inverted* form scales the
# surviving units up so that the expected activation does not change:
#
# $$
# \begin{aligned}
# h'_j &= \frac{m_j}{1-p}\, h_j, \quad m_j \sim \mathrm{Bernoulli}(1-p)\\
# \Longrightarrow\quad
# \mathbb{E}[h'_j] &= \frac{(1-p)\, h_j}{1-p} = h_j .
# \end{aligned}
# $$ (eq-dropout)
#
# At test time the layer is the identity, and because of the scaling the
# next layer sees inputs of the same average size as during training. Here
# is the implementation in `dlbook.regularization`:


# %% tags=["dlbook:regularization"]
def dropout(x, p=0.5, training=True, generator=None):
    """Inverted dropout: zero each entry with probability p, scale the rest 1/(1-p)."""
    check.tensor(x, "x", floating=True)
    check.probability(p, "p (the drop probability)")
    if not training or p == 0.0:
        return x
    if p == 1.0:  # everything dropped; avoid 0 / 0
        return torch.zeros_like(x)
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= p  # P = 1 - p
    return x * keep / (1.0 - p)  # E[output] = x


# %% [markdown]
# The mask compares uniform random numbers with $p$, so each entry survives
# with probability $1-p$; multiplying by the mask also stops the gradient of
# the dropped units. The layer wraps this function and reads the mode from
# `self.training`, which `model.train()` and `model.eval()` switch:


# %% tags=["dlbook:regularization"]
class Dropout(nn.Module):
    """Inverted dropout as a layer: on in train() mode, the identity in eval() mode."""

    def __init__(self, p=0.5):
        super().__init__()
        self.p = check.probability(p, "p (the drop probability)")

    def forward(self, x):
        return dropout(x, self.p, self.training)  # model.train() / .eval() set it


# %% [markdown]
# Let us verify {eq}`eq-dropout` empirically and compare with PyTorch's
# `nn.Dropout`: the fraction of units kept, the factor applied to kept
# units, the mean over many masks, and the identity in eval mode.

# %%
h = torch.rand(20_000, 100) + 0.5  # positive activations, so zeros mean "dropped"
p_drop = 0.3
for layer in (Dropout(p_drop), nn.Dropout(p_drop)):
    out = layer.train()(h)
    kept, name = out != 0, type(layer).__module__.split(".")[0]
    print(
        f"{name:>6}: keep rate {kept.float().mean():.4f} (1 - p = {1 - p_drop}), "
        f"kept units scaled by {(out[kept] / h[kept]).mean():.4f} (1/(1-p) = "
        f"{1 / (1 - p_drop):.4f}), mean {out.mean():.4f} vs {h.mean():.4f}; "
        f"eval identity: {torch.equal(layer.eval()(h), h)}"
    )
drop_mean_ratio = Dropout(p_drop).train()(h).mean(0) / h.mean(0)  # (100,) E[h'] / h

# %% tags=["remove-cell"]
assert abs(drop_mean_ratio.mean().item() - 1) < 0.01, (
    "dropout must preserve the mean (inverted scaling)"
)
assert (drop_mean_ratio - 1).abs().max() < 0.05, "every unit's mean must be preserved"
out_ours = Dropout(p_drop).train()(h)
assert abs((out_ours != 0).float().mean().item() - (1 - p_drop)) < 0.005
assert torch.allclose(out_ours[out_ours != 0], h[out_ours != 0] / (1 - p_drop))
assert torch.equal(Dropout(p_drop).eval()(h), h)

# %% [markdown]
# Both layers keep the fraction $1-p$ of the units, scale them by
# $1/(1-p)$ and preserve the mean; in eval mode both return their input
# untouched. Forgetting `model.eval()` before testing a network with dropout
# is a classic bug: predictions become random and accuracy drops.
#
# ### Dropout at test time: predictive uncertainty
#
# Gal and Ghahramani {cite}`gal2016dropout` showed that a network trained
# with dropout (and weight decay) approximates a Bayesian neural network,
# and that keeping dropout *on* at test time samples from its approximate
# posterior predictive distribution. Averaging $T$ stochastic forward passes,
#
# $$
# \hat\mu(x) = \frac1T\sum_{s=1}^T f_{\mathbf{m}_s}(x), \qquad
# \hat\sigma^2(x) = \frac1T\sum_{s=1}^T \big(f_{\mathbf{m}_s}(x) - \hat\mu(x)\big)^2 ,
# $$ (eq-mc-dropout)
#
# gives a prediction $\hat\mu$ and an uncertainty $\hat\sigma$: **MC
# dropout**. We try it on a 1-D regression problem whose training inputs
# cover only $[-1, 1]$, and ask the network about $[-3, 3]$.

# %%
torch.manual_seed(0)
x_mc = torch.rand(80, 1) * 2 - 1  # (80, 1) inputs in [-1, 1]
t_mc = torch.sin(3 * x_mc) + 0.1 * torch.randn_like(x_mc)
hidden = lambda n_in: [nn.Linear(n_in, 128), nn.ReLU(), Dropout(0.1)]  # noqa: E731
mc_net = nn.Sequential(*hidden(1), *hidden(128), nn.Linear(128, 1))
opt = torch.optim.AdamW(mc_net.parameters(), lr=3e-3, weight_decay=1e-4)
for _ in range(400):  # full-batch training with dropout on, in every profile
    loss = F.mse_loss(mc_net(x_mc), t_mc)
    opt.zero_grad()
    loss.backward()
    opt.step()

# %% [markdown]
# After training we measure the fit with dropout off, then switch dropout back
# on and sample many forward passes over the wider interval:

# %%
x_grid = torch.linspace(-3, 3, 241)[:, None]  # (241, 1)
with torch.no_grad():
    fit_mse = F.mse_loss(mc_net.eval()(x_mc), t_mc).item()  # dropout off
    mc_net.train()  # keep dropout ON: every pass draws new masks
    samples = torch.stack([mc_net(x_grid)[:, 0] for _ in range(200)])  # (T=200, 241)
mc_mean, mc_std = samples.mean(0), samples.std(0)
inside, outside = x_grid[:, 0].abs() <= 1, x_grid[:, 0].abs() >= 2.5
print(
    f"training MSE (eval mode) {fit_mse:.4f}; mean predictive std inside the "
    f"data {mc_std[inside].mean():.3f}, far outside {mc_std[outside].mean():.3f}"
)

# %% tags=["remove-cell"]
assert mc_std[outside].mean() > 2 * mc_std[inside].mean(), (
    "MC-dropout uncertainty must grow away from the data"
)
assert fit_mse < 0.02, "the network fits the curve to about the noise variance 0.01"

# %% tags=["hide-input"] mystnb={"figure": {"caption": "MC dropout on a 1-D regression trained on [-1, 1] (shaded): the mean of 200 stochastic passes with one- and two-standard-deviation bands.", "name": "fig-generalization-mc-dropout"}, "image": {"alt": "The mean follows the sine curve inside the shaded interval with a narrow band; outside, the band widens."}}
fig, ax = plot.subplots(width=7, height=3.4)
xs = x_grid[:, 0]
for k, alpha in ((2, 0.15), (1, 0.3)):
    ax.fill_between(
        xs,
        mc_mean - k * mc_std,
        mc_mean + k * mc_std,
        color="C0",
        alpha=alpha,
        lw=0,
        label=f"mean ± {k} std",
    )
ax.plot(xs, mc_mean, "C0", label="MC-dropout mean")
ax.plot(xs, torch.sin(3 * xs), "k--", lw=1, label="true function")
ax.plot(x_mc[:, 0], t_mc[:, 0], "ko", ms=3, label="training data")
ax.axvspan(-1, 1, color="0.9", zorder=-1)
ax.set_ylim(-4, 4)
ax.set_xlabel("x")
ax.set_ylabel("prediction")
ax.legend(ncol=3, loc="upper center", fontsize=8)
plot.show(fig)

# %% [markdown]
# In {numref}`fig-generalization-mc-dropout`, inside the shaded interval, where the data are, the passes agree and the
# band is narrow. Outside, the thinned networks extrapolate in different
# directions and the band widens: the network "knows what it does not know",
# at least qualitatively. The band is only as good as the approximation
# behind it, and it depends on $p$, on the weight decay and even on how long
# we train: we stop after a few hundred full-batch steps, once the curve is
# fitted (the printed training MSE of the network in eval mode, dropout off,
# is close to the noise variance 0.01; the run checks that it is below 0.02).
# Train it longer or with another $p$ and the band changes too; MC dropout is
# a cheap, useful heuristic, not a calibrated confidence interval.
#
# ## Batch normalization
#
# Ioffe and Szegedy {cite}`ioffe2015batch` proposed to normalize each unit's
# pre-activation over the mini-batch, so that every layer sees inputs of a
# stable scale however the layers before it change during training (they
# called this change *internal covariate shift*; why BN helps is still
# debated {cite}`santurkar2018how`). For a mini-batch $\{x_1,\dots,x_m\}$ of
# one unit's values, with learned scale $\gamma$ and shift $\beta$:
#
# $$
# \begin{aligned}
# \mu_B &= \frac1m\sum_{i=1}^m x_i, &
# \sigma_B^2 &= \frac1m\sum_{i=1}^m (x_i-\mu_B)^2,\\
# \hat x_i &= \frac{x_i-\mu_B}{\sqrt{\sigma_B^2+\epsilon}}, &
# y_i &= \gamma\,\hat x_i + \beta .
# \end{aligned}
# $$ (eq-batchnorm)
#
# The pair $(\gamma, \beta)$ lets the layer undo the normalization if that
# is what the loss wants. At test time there may be a single example, so
# batch statistics are replaced by running estimates accumulated during
# training:
#
# $$
# \begin{aligned}
# \hat\mu &\leftarrow (1-\texttt{momentum})\,\hat\mu + \texttt{momentum}\cdot\mu_B,\\
# \hat\sigma^2 &\leftarrow (1-\texttt{momentum})\,\hat\sigma^2
#   + \texttt{momentum}\cdot\frac{m}{m-1}\sigma_B^2 .
# \end{aligned}
# $$ (eq-bn-running)
#
# Note two details of PyTorch's convention. The running variance uses the
# *unbiased* estimate (the factor $m/(m-1)$) while the batch itself is
# normalized with the biased one. And `momentum` is the weight of the **new**
# batch value, the opposite of the momentum of an optimizer, where
# $\beta = 0.9$ is the weight of the *old* velocity: PyTorch's default
# `momentum=0.1` corresponds to an optimizer-style $\beta = 0.9$. In code,
# {eq}`eq-bn-running` is two in-place updates:


# %% tags=["dlbook:regularization"]
def update_running_stats_(running_mean, running_var, mean, var, n, momentum):
    """running <- (1 - momentum) running + momentum new; the variance unbiased."""
    with torch.no_grad():  # the running estimates are buffers, not trained
        running_mean.mul_(1 - momentum).add_(momentum * mean)
        running_var.mul_(1 - momentum).add_(momentum * var * n / (n - 1))


# %% [markdown]
# Our implementation normalizes over every dimension except the channel
# dimension 1, so the same code serves a linear layer's output (N, C) and a
# convolution's output (N, C, H, W):


# %% tags=["dlbook:regularization"]
def batch_norm(
    x, gamma, beta, running_mean, running_var, *, training, momentum=0.1, eps=1e-5
):
    """Normalize x (N, C, ...) per channel; in training, update the running stats."""
    check_batch_norm(x, gamma, beta, running_mean, running_var, training, momentum, eps)
    dims = [0, *range(2, x.ndim)]  # all but the channels: (N,) or (N, H, W)
    shape = [1, -1] + [1] * (x.ndim - 2)  # to broadcast (C,) against x
    if training:
        n = x.numel() // x.shape[1]  # values per channel
        mean, var = x.mean(dims), x.var(dims, correction=0)  # (C,), biased
        update_running_stats_(running_mean, running_var, mean, var, n, momentum)
    else:
        mean, var = running_mean, running_var
    x_hat = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps)
    return gamma.reshape(shape) * x_hat + beta.reshape(shape)


# %% [markdown]
# `BatchNorm` is the module around it: $\gamma$ and $\beta$ are parameters
# (initialized to 1 and 0), the running estimates are *buffers* — saved with
# the model's `state_dict` and moved by `.to(device)`, but not trained.


# %% tags=["dlbook:regularization"]
class BatchNorm(nn.Module):
    """Batch normalization for (N, C) or (N, C, ...) inputs, like nn.BatchNorm1d/2d."""

    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        super().__init__()
        check.positive(num_features, "num_features", integer=True)
        self.momentum = check.probability(momentum, "momentum")  # weight of the NEW
        self.eps = check.positive(eps, "eps")
        self.gamma = nn.Parameter(torch.ones(num_features))  # learned scale
        self.beta = nn.Parameter(torch.zeros(num_features))  # learned shift
        self.register_buffer("running_mean", torch.zeros(num_features))  # not trained
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        stats = self.gamma, self.beta, self.running_mean, self.running_var
        kw = dict(training=self.training, momentum=self.momentum, eps=self.eps)
        return batch_norm(x, *stats, **kw)


# %% [markdown]
# Now the demonstration. We feed two mini-batches of Fashion-MNIST images
# through a bias-free linear layer of 200 units and then through our layer
# and `nn.BatchNorm1d` side by side, both in training mode.

# %%
fc = nn.Linear(784, 200, bias=False)
# two batches, (64, 784) each
img1, img2 = (data.to_float(train_set.x[i : i + 64]).flatten(1) for i in (0, 64))
z1, z2 = fc(img1).detach(), fc(img2).detach()  # (64, 200) pre-activations
ours, ref = BatchNorm(200, momentum=0.1), nn.BatchNorm1d(200, momentum=0.1)
for m in (ours, ref):
    m.train()
o1, o2 = ours(z1), ours(z2)
r1, r2 = ref(z1), ref(z2)
print(
    f"outputs: max |ours - torch| = "
    f"{max((o1 - r1).abs().max(), (o2 - r2).abs().max()):.1e}; "
    f"batch-1 output mean {o1.mean(0).abs().max():.1e} (max |.| over units), "
    f"variance {o1.var(0, correction=0).mean():.4f}"
)

# %% [markdown]
# In training mode each unit comes out with mean 0 and variance 1 over the
# batch (up to $\epsilon$), and the two implementations agree. Now the
# running estimates after the two batches, against {eq}`eq-bn-running`
# written out by hand (they start at mean 0 and variance 1):

# %%
mom = 0.1


def by_hand(stat, start):
    """The running estimate of stat after the batches z1 and z2, from start."""
    return (1 - mom) * ((1 - mom) * start + mom * stat(z1)) + mom * stat(z2)


mean_hand = by_hand(lambda z: z.mean(0), 0)
print(
    f"running mean: max |ours - torch| = "
    f"{(ours.running_mean - ref.running_mean).abs().max():.1e}, "
    f"|torch - formula| = {(ref.running_mean - mean_hand).abs().max():.1e}"
)

# %% [markdown]
# For the variance we write the formula twice, with the unbiased batch
# variance of {eq}`eq-bn-running` and with the biased one:

# %%
var_hand = by_hand(lambda z: z.var(0, correction=1), 1)
var_biased = by_hand(lambda z: z.var(0, correction=0), 1)
print(
    f"running var:  max |ours - torch| = "
    f"{(ours.running_var - ref.running_var).abs().max():.1e}, "
    f"|torch - formula| = {(ref.running_var - var_hand).abs().max():.1e}, "
    f"|torch - formula with the biased variance| = "
    f"{(ref.running_var - var_biased).abs().max():.1e}"
)

# %% tags=["remove-cell"]
assert torch.allclose(o1, r1, atol=1e-5) and torch.allclose(o2, r2, atol=1e-5)
assert torch.allclose(ours.running_mean, ref.running_mean, atol=1e-6)
assert torch.allclose(ours.running_var, ref.running_var, atol=1e-5)
assert torch.allclose(ref.running_mean, mean_hand, atol=1e-6) and torch.allclose(
    ref.running_var, var_hand, atol=1e-5
)

# %% [markdown]
# Both match the formula with the unbiased variance and miss it with the
# biased one. Next the gradients: we backpropagate an arbitrary loss through
# both layers and compare the gradients on $\gamma$ (`weight` in PyTorch)
# and $\beta$ (`bias`).

# %%
w_loss = torch.randn(64, 200)
for out1, out2 in ((o1, o2), (r1, r2)):
    ((torch.tanh(out1) * w_loss).sum() + (torch.tanh(out2) * w_loss).sum()).backward()
print(
    f"grad gamma: max |ours - torch| = "
    f"{(ours.gamma.grad - ref.weight.grad).abs().max():.1e}; "
    f"grad beta: {(ours.beta.grad - ref.bias.grad).abs().max():.1e}"
)

# %% [markdown]
# Then we switch to eval mode and feed a third batch: the running estimates
# are used and no longer updated.

# %%
ours.eval()
ref.eval()
z3 = fc(data.to_float(train_set.x[128:192]).flatten(1)).detach()
running_before = ref.running_mean.clone()
o3, r3 = ours(z3), ref(z3)
x_hat3 = (z3 - ref.running_mean) / torch.sqrt(ref.running_var + ref.eps)
expected3 = x_hat3 * ref.weight + ref.bias  # the formula with the running stats
print(
    f"eval: max |ours - torch| = {(o3 - r3).abs().max():.1e}, |torch - running-stat "
    f"formula| = {(r3 - expected3).abs().max():.1e}, running mean unchanged: "
    f"{torch.equal(running_before, ref.running_mean)}"
)

# %% tags=["remove-cell"]
assert torch.allclose(ours.gamma.grad, ref.weight.grad, atol=1e-4) and torch.allclose(
    ours.beta.grad, ref.bias.grad, atol=1e-4
)
assert torch.allclose(o3, r3, atol=1e-5) and torch.allclose(r3, expected3, atol=1e-5)
assert torch.equal(running_before, ref.running_mean), (
    "eval mode must not update the running statistics"
)

# %% [markdown]
# ### Why "momentum" misleads
#
# {numref}`fig-generalization-bn-momentum` follows the running mean of one unit over a stream of
# batches, for `momentum` 0.1 (PyTorch's default) and 0.5. A *larger*
# momentum makes the estimate *faster* and *noisier*, because it gives more
# weight to the newest batch — exactly the opposite of what momentum means
# in an optimizer, where larger momentum means more memory and smoother
# updates. After $k$ batches the starting value 0 still has weight
# $(1-\texttt{momentum})^k$.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The running mean of one unit over 60 batches for batch-norm momentum 0.1 and 0.5.", "name": "fig-generalization-bn-momentum"}, "image": {"alt": "With momentum 0.5 the running mean jumps to the data mean within a few batches and stays noisy; with 0.1 it rises slowly and smoothly."}}
stream = (
    fc(data.to_float(train_set.x[: 64 * 60]).flatten(1))
    .detach()
    .reshape(60, 64, 200)[:, :, 0]
)  # (60, 64)
fig, ax = plot.subplots(width=6.5, height=3.2)
for mom_ in (0.1, 0.5):
    bn, track = BatchNorm(1, momentum=mom_), []
    for b in stream:  # b: (64,) one batch of unit 0's values
        bn(b[:, None])
        track.append(bn.running_mean.item())
    ax.plot(range(1, 61), track, label=f"momentum = {mom_}")
ax.axhline(stream.mean().item(), color="k", ls=":", lw=1, label="mean over all batches")
ax.set_xlabel("batches seen")
ax.set_ylabel("running mean of unit 0")
ax.legend()
plot.show(fig)

# %% [markdown]
# ### Batch normalization after a convolution
#
# After a convolution the output has shape (N, C, H, W). The $H\times W$
# positions of a channel share one filter, so they share one pair
# $(\gamma, \beta)$ and one set of statistics: BN normalizes each channel
# over the batch *and* all positions, $m = N\cdot H\cdot W$ values. This is
# what `nn.BatchNorm2d` does, and what our code does when dims $(0, 2, 3)$
# are reduced. (Convolutions are the subject of the next part of the book;
# here we only need their output shape.)

# %%
conv = nn.Conv2d(1, 8, kernel_size=3, padding=1)
feat = conv(data.to_float(train_set.x[:32])).detach()  # (32, 8, 28, 28)
ours2d, ref2d = BatchNorm(8), nn.BatchNorm2d(8)
out2d, ref_out2d = ours2d(feat), ref2d(feat)
print(
    f"input {tuple(feat.shape)}, statistics per channel "
    f"{tuple(ours2d.running_mean.shape)}; "
    f"max |ours - BatchNorm2d|: output {(out2d - ref_out2d).abs().max():.1e}, "
    f"running var {(ours2d.running_var - ref2d.running_var).abs().max():.1e}"
)
print(
    f"per-channel mean over (N, H, W) after BN: {out2d.mean((0, 2, 3)).abs().max():.1e}"
)

# %% tags=["remove-cell"]
assert torch.allclose(out2d, ref_out2d, atol=1e-4)
assert torch.allclose(ours2d.running_mean, ref2d.running_mean, atol=1e-6)
assert torch.allclose(ours2d.running_var, ref2d.running_var, atol=1e-5)

# %% [markdown]
# ### Batch normalization speeds up training
#
# The practical reason for BN's success is that networks with it train
# faster, and are reported to tolerate larger learning rates (which we do not
# test here). We train the same six-layer ReLU
# MLP on Fashion-MNIST with plain SGD, once as is and once with a `BatchNorm`
# after every hidden linear layer, from the same initialization and on the
# same mini-batches, and record the training loss at every step.


# %%
def deep_mlp(bn: bool, width: int = 128, depth: int = 5) -> nn.Sequential:
    layers, d_in = [nn.Flatten()], 784
    for _ in range(depth):
        layers += (
            [nn.Linear(d_in, width)] + ([BatchNorm(width)] if bn else []) + [nn.ReLU()]
        )
        d_in = width
    return nn.Sequential(*layers, nn.Linear(d_in, 10))


bn_sub = data.subset(train_set, cfg.n_bn, seed=2)
x_bn, y_bn = data.to_float(bn_sub.x).to(device), bn_sub.y.to(device)
x_t, y_t = data.to_float(test_set.x[: cfg.n_test]), test_set.y[: cfg.n_test]
test_b = data.Batches(x_t.to(device), y_t.to(device), batch_size=2_000, shuffle=False)

# %% [markdown]
# Each network trains with plain SGD from the same seed, on the same
# mini-batches:


# %%
def train_bn(use_bn: bool):
    """Train deep_mlp(use_bn) with SGD; the loss at every step, the test accuracy."""
    torch.manual_seed(3)
    net, step_losses = deep_mlp(use_bn).to(device), []
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    for _ in range(cfg.bn_epochs):
        for xb, yb in data.Batches(x_bn, y_bn, batch_size=64, seed=len(step_losses)):
            loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step_losses.append(loss.item())
    return step_losses, evaluate(net, test_b)[1]


# %% [markdown]
# We train the network without and with batch norm and compare the last
# training losses and the test accuracy:

# %%
bn_runs = {k: train_bn(b) for k, b in (("without BN", False), ("with BN", True))}
for name, (losses, acc) in bn_runs.items():
    print(
        f"{name:>10}: mean loss over the last 50 steps {np.mean(losses[-50:]):.3f}, "
        f"test accuracy {acc:.4f}"
    )

# %% tags=["remove-cell"]
loss_bn, loss_plain = (np.mean(bn_runs[k][0][-50:]) for k in ("with BN", "without BN"))
assert loss_bn < loss_plain, "with batch norm the same network must train faster"
assert bn_runs["with BN"][1] > 0.6, (
    "the BN network must learn Fashion-MNIST well above chance"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Training loss of a six-layer MLP with and without batch normalization, same initialization and batches (moving average of 20 steps).", "name": "fig-generalization-bn-speed"}, "image": {"alt": "Two falling training-loss curves; the one with batch norm ends lower."}}
fig, ax = plot.subplots(width=7, height=3.4)
for name, (losses, _) in bn_runs.items():
    smooth = np.convolve(losses, np.ones(20) / 20, mode="valid")
    ax.plot(range(20, len(losses) + 1), smooth, label=name)
ax.set_xlabel("SGD step (batch of 64)")
ax.set_ylabel("training loss (moving average of 20)")
ax.set_title(
    f"6-layer MLP on {cfg.n_bn:,} Fashion-MNIST images ({cfg.profile} profile)"
)
ax.legend()
plot.show(fig)

# %% [markdown]
# With the same learning rate and initialization the BN network's loss
# ({numref}`fig-generalization-bn-speed`)
# falls faster (the mean loss of the last 50 steps is lower, which the run
# checks), while the plain network's signal struggles through five layers.
# Two costs come with BN: a network's
# output for one example now depends on the other examples in its batch
# (which hurts with very small batches), and train and eval modes differ —
# one more reason never to forget `model.eval()`.
#
# ## Data augmentation and mixup
#
# The most reliable regularizer is more data. When there is no more, we can
# manufacture plausible new examples by transforming the ones we have, with
# transformations that should not change the label: small shifts, crops and
# rotations, horizontal flips (fine for clothes, wrong for digits: a
# mirrored "7" is not a 7), erasing a random patch. `torchvision.transforms.v2`
# {cite}`paszke2019pytorch` provides them; each call draws new random
# parameters. Called once per *image*, as below, the network never sees
# exactly the same image twice.

# %%
from torchvision.transforms import v2

augment = v2.Compose(
    [
        v2.RandomHorizontalFlip(),
        v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1)),
        v2.RandomErasing(p=0.5, scale=(0.02, 0.1), value=0),
    ]
)

# %% [markdown]
# We apply it to a few training images, several times each, and then once to
# a whole batch of images in a single call:

# %%
originals = train_set.x[:6, None]  # (6, 1, 28, 28) uint8
# (42, 1, 28, 28): 7 random versions of each image
augmented = torch.stack([augment(img) for img in originals for _ in range(7)])
print(f"augmented batch {tuple(augmented.shape)}, dtype {augmented.dtype}")
flipper = v2.RandomHorizontalFlip()  # one call on a whole batch (64, 1, 28, 28):
batch64 = train_set.x[:64, None]
flipped = [torch.equal(a, b.flip(-1)) for a, b in zip(flipper(batch64), batch64)]
print(f"one call on a batch of 64 flipped {sum(flipped)} of its images")

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Six training images (left column) and seven random augmentations of each.", "name": "fig-generalization-augment"}, "image": {"alt": "A grid of clothing images; each row shows one garment flipped, shifted, rotated or partly erased."}}
grid = torch.cat(
    [originals[:, None], augmented.reshape(6, 7, 1, 28, 28)], dim=1
).flatten(0, 1)  # (48, 1, 28, 28)
fig, ax = plot.subplots(width=8, height=6.3)
plot.image_grid(ax, grid, ncols=8)
ax.set_title("left column: original; the other seven: random augmentations")
plot.show(fig)

# %% [markdown]
# Each row of {numref}`fig-generalization-augment` is one training image
# (left) and seven random versions of it; all are still, unmistakably, the
# same garment. One trap: a `v2` transform called on a whole batch tensor
# draws *one* set of random parameters for the batch, so every image in it
# gets the same flip and the same affine map (the printed count is 0 or 64,
# never in between). Passed as `transform=` to `dlbook.data.Batches`, which
# calls it once per mini-batch, it would augment batches, not images. For
# training we therefore write a small vectorized augmentation that draws a
# flip and a shift of up to two pixels independently for every image:


# %%
def augment_images(x, generator=None):
    """Random flip and shift (up to 2 px) per image: (N, 784) -> (N, 784)."""
    img = x.reshape(-1, 1, 28, 28)  # (N, 1, 28, 28)
    n, draw = len(img), lambda *s: torch.rand(*s, generator=generator).to(x.device)
    img = torch.where(draw(n, 1, 1, 1) < 0.5, img.flip(-1), img)  # flip half
    theta = torch.eye(2, 3, device=x.device).repeat(n, 1, 1)  # (N, 2, 3) identity
    theta[:, :, 2] = (draw(n, 2) * 2 - 1) * (2 / 14)  # shift in [-2, 2] px
    grid = F.affine_grid(theta, list(img.shape), align_corners=False)
    return F.grid_sample(img, grid, align_corners=False).flatten(1)


flat6 = data.to_float(train_set.x[:6]).flatten(1)  # (6, 784)
moved = (augment_images(flat6.repeat(64, 1)) - flat6.repeat(64, 1)).abs().sum(1)
print(f"{int((moved > 0).sum())} of 384 augmented copies differ from their image")

# %% tags=["remove-cell"]
assert sum(flipped) in (0, 64), "v2 on a batch tensor: one draw for the whole batch"
assert 0.8 * 384 < int((moved > 0).sum()), "per-image: almost every copy changes"

# %% [markdown]
# **Mixup** {cite}`zhang2018mixup` goes further and trains on *convex
# combinations* of pairs of examples and of their one-hot labels,
#
# $$
# \tilde{\mathbf{x}} = \lambda\mathbf{x}_i + (1-\lambda)\mathbf{x}_j, \qquad
# \tilde{\mathbf{y}} = \lambda\mathbf{y}_i + (1-\lambda)\mathbf{y}_j, \qquad
# \lambda\sim\mathrm{Beta}(\alpha,\alpha),
# $$ (eq-mixup)
#
# which encourages the network to behave linearly between training
# examples. The pairs come from a random permutation of the batch:


# %% tags=["dlbook:regularization"]
def mixup(x, y, *, alpha=0.2, num_classes, generator=None):
    """Mix a batch with a shuffled copy of itself: (x_mixed, y_soft (N, K), lam)."""
    check_mixup(x, y, alpha, num_classes)
    lam = beta_draw(alpha, generator)  # lam ~ Beta(alpha, alpha)
    perm = torch.randperm(
        len(x), generator=generator, device=generator_device(generator)
    )
    perm = perm.to(x.device)  # (N,) the partner of each example
    one_hot = F.one_hot(y, num_classes).to(x.dtype)  # (N, K)
    x_mixed = lam * x + (1 - lam) * x[perm]
    return x_mixed, lam * one_hot + (1 - lam) * one_hot[perm], lam


# %% [markdown]
# Cross-entropy accepts such soft targets directly:
# `F.cross_entropy(logits, y_soft)` computes
# $-\sum_k \tilde y_k \log \mathrm{softmax}(\text{logits})_k$. Here are
# mixed images from one batch, with $\alpha = 1$ so that $\lambda$ is
# uniform on $[0, 1]$ and the mixtures are easy to see.

# %%
xs_mix, ys_mix = data.to_float(train_set.x[:16]), train_set.y[:16]


def mix_eight(seed0: int = 0):
    """Eight mixup calls, generators seeded seed0..seed0+7; two images from each."""
    out = [
        mixup(xs_mix, ys_mix, alpha=1.0, num_classes=10, generator=gen_s)
        for gen_s in (torch.Generator().manual_seed(seed0 + k) for k in range(8))
    ]
    mixed = torch.cat([xm[:2] for xm, _, _ in out])  # (16, 1, 28, 28)
    return mixed, torch.cat([ym[:2] for _, ym, _ in out]), [lm for *_, lm in out]


# %% [markdown]
# We call it twice, the second time after reseeding the global random number
# generator, to see that only the generators passed in decide the draws:

# %%
mixed, soft, lam_mix = mix_eight()
torch.manual_seed(123)  # the global RNG must not matter: the generators decide
again = mix_eight()
print(
    f"lambdas drawn: {[round(v, 2) for v in lam_mix]}; reproduced: "
    f"{again[2] == lam_mix}"
)

# %% tags=["remove-cell"]
assert again[2] == lam_mix and torch.equal(again[0], mixed), "seeded mixup reproduces"
assert len(set(lam_mix)) == 8, "eight generators, eight different lambdas"


# %% tags=["hide-input"] mystnb={"figure": {"caption": "Sixteen mixup images with their soft labels (the two largest class weights).", "name": "fig-generalization-mixup"}, "image": {"alt": "Superimposed pairs of garments, each captioned with two class names and their weights."}}
def mix_caption(row: torch.Tensor) -> str:
    top = row.argsort(descending=True)[:2]
    names = [train_set.classes[k].split("/")[0] for k in top.tolist()]
    return f"{row[top[0]]:.2f} {names[0]}" + (
        f"\n{row[top[1]]:.2f} {names[1]}" if row[top[1]] > 0.005 else ""
    )


fig, ax = plot.subplots(width=8, height=2.9)
plot.image_grid(ax, mixed, labels=[mix_caption(r) for r in soft], ncols=8)
plot.show(fig)

# %% [markdown]
# A mixed image in {numref}`fig-generalization-mixup` carries both garments,
# faintly superimposed, and its label says in which proportions. Each call
# draws its $\lambda$ from the generator it is given, so the printed values
# come back when the same seeds are used again. In practice $\alpha$ is small (0.1–0.4), so
# most mixtures stay close to one of the two images.
#
# ## The regularizers at work on a small training set
#
# So far each tool has only been checked to do what its formula says. Does it
# *regularize*? We train an MLP with two hidden layers of 256 units on only
# `cfg.n_small` Fashion-MNIST images, for `cfg.small_epochs` epochs with
# AdamW, and measure the accuracy on the training images and on 2,000
# held-out validation images after every epoch. The baseline has no
# regularization at all (AdamW with `weight_decay=0` is Adam). Each of the
# four variants changes one thing: weight decay $\lambda = 0.5$ (decoupled),
# dropout with $p = 0.5$ after both hidden layers, the per-image augmentation
# written above, or mixup with $\alpha = 0.4$. The gap between training and
# validation accuracy at the end is the quantity to watch.

# %%
perm_s = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(9))
x_flat = data.to_float(train_set.x).flatten(1)  # (60000, 784)
x_s, y_s = x_flat[perm_s[: cfg.n_small]].to(device), train_set.y[perm_s[: cfg.n_small]]
y_s = y_s.to(device)
x_v, y_v = x_flat[perm_s[-2000:]].to(device), train_set.y[perm_s[-2000:]].to(device)
val_s = data.Batches(x_v, y_v, batch_size=1_000, shuffle=False)
train_eval_s = data.Batches(x_s, y_s, batch_size=1_000, shuffle=False)


def small_mlp(p: float = 0.0) -> nn.Sequential:
    torch.manual_seed(0)
    drop = [Dropout(p)] if p else []
    layers = [nn.Linear(784, 256), nn.ReLU(), *drop, nn.Linear(256, 256), nn.ReLU()]
    return nn.Sequential(*layers, *drop, nn.Linear(256, 10)).to(device)


# %% [markdown]
# One epoch on the small set, with the per-image augmentation or mixup when
# asked for:


# %%
def small_epoch(net, opt, epoch, g_aug, augment=False, mix=False):
    net.train()
    for xb, yb in data.Batches(x_s, y_s, batch_size=64, seed=epoch):
        xb = augment_images(xb, g_aug) if augment else xb
        if mix:  # soft targets (N, 10); cross-entropy accepts them
            xb, yb, _ = mixup(xb, yb, alpha=0.4, num_classes=10, generator=g_aug)
        loss = F.cross_entropy(net(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()


# %% [markdown]
# A run trains a fresh network for `cfg.small_epochs` such epochs and measures
# both accuracies after each:


# %%
def train_small(p=0.0, wd=0.0, augment=False, mix=False) -> dict:
    """Train on the small set; per-epoch accuracy on it and on validation."""
    net, g_aug = small_mlp(p), torch.Generator().manual_seed(10)
    opt, acc = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=wd), {}
    for epoch in range(cfg.small_epochs):
        small_epoch(net, opt, epoch, g_aug, augment, mix)
        for name, b in (("train", train_eval_s), ("val", val_s)):
            acc.setdefault(name, []).append(evaluate(net, b)[1])
    return acc


# %%
REGULARIZERS = {
    "none": {},
    "weight decay": dict(wd=0.5),
    "dropout": dict(p=0.5),
    "augmentation": dict(augment=True),
    "mixup": dict(mix=True),
}
small_runs = {name: train_small(**kw) for name, kw in REGULARIZERS.items()}
gap = {name: r["train"][-1] - r["val"][-1] for name, r in small_runs.items()}
print(f"{'':>13} {'train':>7} {'val':>7} {'gap':>7}")
for name, r in small_runs.items():
    print(f"{name:>13} {r['train'][-1]:7.3f} {r['val'][-1]:7.3f} {gap[name]:7.3f}")
gap_none = dlbook.report(
    "train-validation gap without regularization", gap["none"], fmt=".3f"
)

# %% tags=["remove-cell"]
if cfg.profile != "smoke":
    assert small_runs["none"]["train"][-1] > 0.95, "the baseline fits its training set"
    assert gap["none"] > 0.1, "the unregularized network overfits"
    assert all(gap[n] < gap["none"] for n in REGULARIZERS if n != "none"), (
        "each narrows it"
    )

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Training (solid) and validation (dashed) accuracy per epoch on a small Fashion-MNIST training set, without regularization and with each of four regularizers.", "name": "fig-generalization-small-data"}, "image": {"alt": "Five pairs of curves. Without regularization training accuracy reaches 1 while validation accuracy stays far below; each regularizer keeps the two curves closer together."}}
fig, ax = plot.subplots(width=7, height=3.8)
for i, (name, r) in enumerate(small_runs.items()):
    epochs_s = range(1, len(r["train"]) + 1)
    ax.plot(epochs_s, r["train"], color=f"C{i}", label=name)
    ax.plot(epochs_s, r["val"], color=f"C{i}", ls="--")
ax.set_xlabel("epoch")
ax.set_ylabel("accuracy (solid: training, dashed: validation)")
ax.legend(ncol=3, fontsize=8)
plot.show(fig)

# %% [markdown]
# In the `cpu` profile the unregularized network of
# {numref}`fig-generalization-small-data` is the overfitting picture of the
# polynomials, now on a network: it fits more than 95% of its training images
# while its validation accuracy stalls more than ten points below, and every
# one of the four regularizers narrows that gap (the run checks each against
# the baseline). The `smoke` run trains too briefly to overfit much, and its
# table need not show the effect. They do it in
# different ways: weight decay and dropout slow the fit of the training set,
# augmentation and mixup make the training set harder to memorize. Whether
# the validation accuracy itself rises depends on the strength chosen, which
# is a hyper-parameter to be tuned on validation data like any other; a
# narrower gap alone is not the goal.
#
# ## Deep networks fit random labels
#
# Classical learning theory bounds the generalization gap by the capacity of
# the model class: a class rich enough to fit *any* labelling of the training
# set gets no useful bound. Zhang et al. {cite}`zhang2017understanding`
# showed that standard networks are such a class: they reach zero training
# error even when the labels are replaced by random ones, without changes to
# the architecture or the optimizer — and, trained on the true labels, the
# very same networks generalize well. We repeat the experiment on a subset
# of Fashion-MNIST with a two-hidden-layer MLP and Adam, once with the true
# labels, once with random labels, and once more with random labels and two
# explicit regularizers switched on, as Zhang et al. also tried: the weight
# decay of the previous section ($\lambda = 0.5$) and dropout with $p = 0.2$. We draw the random labels so that, within
# each true class, every label occurs equally often: then the random label is
# exactly independent of the true class in the training set, and no chance
# correlation between the two can leak into the test accuracy.

# %%
rand_sub = data.subset(train_set, cfg.n_rand, seed=4)
x_r = data.to_float(rand_sub.x).flatten(1).to(device)  # (n_rand, 784)
y_true, g_rand = rand_sub.y.to(device), torch.Generator().manual_seed(5)
y_random = torch.empty_like(rand_sub.y)
for k in range(10):  # within each true class, every random label equally often
    idx = (rand_sub.y == k).nonzero()[:, 0]
    order = torch.randperm(len(idx), generator=g_rand)  # in random order
    y_random[idx] = (torch.arange(len(idx)) % 10)[order]
y_random = y_random.to(device)

# %% [markdown]
# The three runs, and the test images on which each is measured after every
# epoch:

# %%
x_tf = x_t.flatten(1).to(device)  # the test images of the batch-norm runs, flattened
test_flat = data.Batches(x_tf, y_t.to(device), batch_size=2_000, shuffle=False)
P_RAND, WD_RAND = 0.2, 0.5  # dropout p; weight decay as in the small-data runs
RAND_RUNS = {  # name: (labels, dropout p, weight decay)
    "true labels": (y_true, 0.0, 0.0),
    "random labels": (y_random, 0.0, 0.0),
    "random, regularized": (y_random, P_RAND, WD_RAND),
}


def rand_mlp(p: float, wd: float):
    """The network, with dropout p, and its AdamW optimizer, with weight decay wd."""
    torch.manual_seed(6)
    drop = [Dropout(p)] if p else []
    layers = [nn.Linear(784, 512), nn.ReLU(), *drop, nn.Linear(512, 512), nn.ReLU()]
    mlp = nn.Sequential(*layers, *drop, nn.Linear(512, 10)).to(device)
    return mlp, torch.optim.AdamW(mlp.parameters(), lr=1e-3, weight_decay=wd)


# %% [markdown]
# Each run trains for `cfg.rand_epochs` epochs:

# %%
rand_hist, fitted = {}, {}
for name, (labels, p, wd) in RAND_RUNS.items():
    mlp, opt = rand_mlp(p, wd)
    batches = data.Batches(x_r, labels, batch_size=128, seed=0)
    rand_hist[name] = fit(
        mlp, batches, epochs=cfg.rand_epochs, optimizer=opt, val=test_flat, desc=name
    )
    fitted[name] = evaluate(mlp, batches)[1]  # eval mode: dropout off
    acc_tr, acc_te = fitted[name], rand_hist[name].val_acc[-1]
    print(f"{name:>19}: train accuracy {acc_tr:.4f}, test accuracy {acc_te:.4f}")
rl = "random labels"
rand_train_acc = dlbook.report(f"{rl}: train accuracy", fitted[rl], fmt=".4f")
rand_test_acc = dlbook.report(
    f"{rl}: test accuracy", rand_hist[rl].val_acc[-1], fmt=".4f"
)

# %% tags=["remove-cell"]
assert rand_train_acc > (0.95 if cfg.profile != "smoke" else 0.3), (
    "the MLP must memorize the random labels"
)
assert abs(rand_test_acc - 0.1) < 0.05, (
    "with random labels the test accuracy must stay at chance (10%)"
)
assert rand_hist["true labels"].val_acc[-1] > 0.7, (
    "with the true labels the same network generalizes"
)
reg_fit, reg_test = (
    fitted["random, regularized"],
    rand_hist["random, regularized"].val_acc[-1],
)
assert abs(reg_test - 0.1) < 0.05, "regularized or not, random labels: chance on test"
if cfg.profile != "smoke":
    assert reg_fit > 0.85, "explicit regularizers do not prevent memorizing"

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Training and test accuracy of the same MLP on true and on random labels.", "name": "fig-generalization-random-labels"}, "image": {"alt": "With true labels both accuracies rise; with random labels training accuracy climbs towards 1 while test accuracy stays at chance."}}
fig, ax = plot.subplots(width=7, height=3.4)
for i, (name, hist) in enumerate(rand_hist.items()):
    ax.plot(
        hist.epoch, hist.train_acc, color=f"C{i}", label=f"{name}: train"
    )  # train mode
    ax.plot(hist.epoch, hist.val_acc, color=f"C{i}", ls="--", label=f"{name}: test")
ax.axhline(0.1, color="k", ls=":", lw=1, label="chance")
ax.set_xlabel("epoch")
ax.set_ylabel("accuracy")
ax.set_title(f"MLP on {cfg.n_rand:,} Fashion-MNIST images ({cfg.profile} profile)")
ax.set_ylim(0, 1.02)
ax.legend(fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.18))
plot.show(fig)

# %% [markdown]
# On random labels ({numref}`fig-generalization-random-labels`) the training
# accuracy climbs, more slowly than on the true labels but steadily, to the value printed above, while the test accuracy
# stays at chance: there is nothing to learn, so everything fitted is
# memorized. The same network, with the same optimizer and no explicit
# regularization, generalizes well on the true labels. Dropout and weight
# decay slow the memorization down but, as Zhang et al. found, do not stop it:
# in the `cpu` profile the regularized network, too, fits more than 85% of
# the random labels within the same number of epochs (checked; the short
# smoke run only shows the slower start), and its test accuracy stays at
# chance. So the capacity of
# the architecture alone cannot explain why deep networks generalize: what
# matters is *which* of the many interpolating solutions training finds, and
# how that depends on the data. The next two sections look at this question
# where it can be answered exactly.
#
# ## Implicit regularization of gradient descent
#
# Take linear regression, $y = \mathbf{w}^\top\mathbf{x}$, with the squared
# loss $\frac12\|X\mathbf{w} - \mathbf{t}\|^2$ on $N$ examples
# ($X\in\mathbb{R}^{N\times d}$) and *more parameters than examples*, $d > N$.
# The $N$ equations $X\mathbf{w} = \mathbf{t}$ then have infinitely many
# solutions, every one with zero training loss. Which one does gradient
# descent pick? Its update $-\eta X^\top(X\mathbf{w}-\mathbf{t})$ is always a
# combination of the training inputs, so from $\mathbf{w}_0$ it can only
# reach $\mathbf{w} = \mathbf{w}_0 + X^\top\boldsymbol\alpha$. Imposing
# $X\mathbf{w}=\mathbf{t}$ gives $XX^\top\boldsymbol\alpha = \mathbf{t} - X\mathbf{w}_0$,
# and $XX^\top$ is invertible when the $N$ inputs are independent. Hence
#
# $$
# \mathbf{w}_\infty = \mathbf{w}^\ast + (I - P)\,\mathbf{w}_0, \qquad
# \mathbf{w}^\ast = X^\top(XX^\top)^{-1}\mathbf{t}, \qquad
# P = X^\top(XX^\top)^{-1}X ,
# $$ (eq-gd-implicit)
#
# where $P$ projects onto the span of the training inputs. From
# $\mathbf{w}_0 = \mathbf{0}$, gradient descent converges to
# $\mathbf{w}^\ast$, which is also the **minimum-norm** interpolating
# solution: minimizing $\frac12\|\mathbf{w}\|^2$ subject to
# $X\mathbf{w}=\mathbf{t}$ with Lagrange multipliers $\boldsymbol\lambda$
# gives $\mathbf{w} = X^\top\boldsymbol\lambda$, the same form. Nobody asked
# for a small norm; the algorithm supplies it. Let us check
# {eq}`eq-gd-implicit` in float64.

# %%
g_lin = torch.Generator().manual_seed(7)
N, d = 30, 200
# (N, d): fewer examples than parameters
X = torch.randn(N, d, generator=g_lin, dtype=torch.float64)
t_lin = torch.randn(N, generator=g_lin, dtype=torch.float64)


def gradient_descent(w0: torch.Tensor, steps: int = 3_000) -> torch.Tensor:
    eta = 1 / torch.linalg.eigvalsh(X @ X.T).max()  # a safe step size
    w = w0.clone()
    for _ in range(steps):
        w = w - eta * X.T @ (X @ w - t_lin)
    return w


# %% [markdown]
# We run it from zero and from a random $\mathbf{w}_0$, and compare with the
# closed forms:

# %%
w_star = X.T @ torch.linalg.solve(X @ X.T, t_lin)  # minimum-norm interpolant
P = X.T @ torch.linalg.solve(X @ X.T, X)  # (d, d) projection onto the row space of X
w_from_zero = gradient_descent(torch.zeros(d, dtype=torch.float64))
w0 = torch.randn(d, generator=g_lin, dtype=torch.float64)
w_from_w0 = gradient_descent(w0)
print(
    f"from 0:  training residual {(X @ w_from_zero - t_lin).norm():.1e}, |w - w*| = "
    f"{(w_from_zero - w_star).norm():.1e},"
    f" |w - pinv(X) t| = {(w_from_zero - torch.linalg.pinv(X) @ t_lin).norm():.1e}"
)
print(
    f"from w0: training residual {(X @ w_from_w0 - t_lin).norm():.1e}, "
    f"|w - (w* + (I - P) w0)| = {(w_from_w0 - (w_star + w0 - P @ w0)).norm():.1e}"
)
print(f"norms: |w*| = {w_star.norm():.3f}, |w from w0| = {w_from_w0.norm():.3f}")

# %% tags=["remove-cell"]
assert torch.allclose(w_from_zero, w_star, rtol=0, atol=1e-10), (
    "GD from zero must reach the minimum-norm solution"
)
assert torch.allclose(w_from_zero, torch.linalg.pinv(X) @ t_lin, rtol=0, atol=1e-10)
assert torch.allclose(
    w_from_w0, w_star + (torch.eye(d, dtype=torch.float64) - P) @ w0, rtol=0, atol=1e-10
)
assert (X @ w_from_w0 - t_lin).abs().max() < 1e-10 and w_from_w0.norm() > w_star.norm()

# %% [markdown]
# Both runs interpolate the data, but they end at different solutions: from
# zero exactly at the minimum-norm one (it equals the pseudo-inverse
# solution), from $\mathbf{w}_0$ at the minimum-norm one plus the part of
# $\mathbf{w}_0$ that the data never touch. The prediction
# $y(\mathbf{x}) = \sum_\mu \alpha_\mu\, \mathbf{x}_\mu^\top\mathbf{x}$ is a
# weighted sum of similarities to the training examples: the solution
# memorizes the training set, and generalizes to the extent that test inputs
# resemble training inputs. For deep networks no such closed form exists,
# but a similar preference of (stochastic) gradient descent for "simple"
# interpolating solutions is a widely studied candidate for part of the
# answer to the random-label puzzle, not a settled explanation.
#
# ## Double descent
#
# The polynomial sweep at the start suggested that test error rises once a
# model can fit its training data exactly. Belkin et al.
# {cite}`belkin2019reconciling` showed that this is only the first half of
# the story. Take a two-layer ReLU network whose first layer is *random and
# fixed*, $\boldsymbol\phi(\mathbf{x}) = \mathrm{ReLU}(W^\top\mathbf{x})$ with
# $W\in\mathbb{R}^{784\times p}$, and fit only the second layer by least
# squares to one-hot targets $T$. With $p$ random features and $n$ training
# examples, for $p < n$ this is ordinary least squares; for $p \ge n$ the
# features can interpolate, and — as in the previous section — we take the
# minimum-norm interpolant. Both cases are the pseudo-inverse solution
#
# $$
# B = \Phi^{+} T, \qquad \Phi = \boldsymbol\phi(X)\in\mathbb{R}^{n\times p} ,
# $$ (eq-random-features)
#
# which we compute through the smaller of the two Gram matrices:
# $(\Phi^\top\Phi)^{+}\Phi^\top T$ when $p < n$ and $\Phi^\top(\Phi\Phi^\top)^{+}T$
# when $p \ge n$. We sweep $p$ across the **interpolation threshold**
# $p = n$ and record the test error. The run uses a reduced training set of
# `cfg.n_dd` images so that it runs on a CPU.

# %%
dd_device = device if device.type == "cuda" else torch.device("cpu")  # MPS: no float64
dd_train = data.subset(train_set, cfg.n_dd, seed=8)
dd_test = data.subset(test_set, cfg.n_dd_test, seed=8)
x_dd = data.to_float(dd_train.x).flatten(1).to(dd_device)
x_dd_test = data.to_float(dd_test.x).flatten(1).to(dd_device)
x_dd, x_dd_test = x_dd - x_dd.mean(0), x_dd_test - x_dd.mean(0)  # the training mean
T_dd = F.one_hot(dd_train.y, 10).double().to(dd_device)  # (n, 10) one-hot targets
y_dd_test = dd_test.y.to(dd_device)

# %% [markdown]
# One model: draw the random layer, compute the features and solve for $B$
# through the smaller Gram matrix.


# %%
def random_features(p: int, seed: int = 0):
    """Test MSE, test error, training MSE of the min-norm model with p features."""
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(784, p, generator=g).to(dd_device) / 784**0.5
    phi = torch.relu(x_dd @ W).double()  # (n, p)
    phi_test = torch.relu(x_dd_test @ W).double()  # (n_test, p)
    if p < len(phi):
        B = torch.linalg.pinv(phi.T @ phi, hermitian=True) @ (phi.T @ T_dd)  # (p, 10)
    else:
        B = phi.T @ (torch.linalg.pinv(phi @ phi.T, hermitian=True) @ T_dd)
    out = phi_test @ B
    test_mse = (out - F.one_hot(y_dd_test, 10).double()).pow(2).sum(1).mean().item()
    test_err = (out.argmax(1) != y_dd_test).float().mean().item()
    return test_mse, test_err, (phi @ B - T_dd).pow(2).sum(1).mean().item()


# %% [markdown]
# The sweep, with $p/n$ from well below to well above the threshold:

# %%
ratios = [0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 1.0]  # p / n up to the threshold
ratios += [1.05, 1.1, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0]  # and beyond it
t0 = time.perf_counter()
dd = {r: random_features(round(r * cfg.n_dd)) for r in ratios}
best_below = min(dd[r][1] for r in ratios if r < 1)  # the best model with p < n
print(
    f"{len(ratios)} models in {time.perf_counter() - t0:.1f} s; best test error with "
    f"p < n {best_below:.3f}, with p = 10 n {dd[10.0][1]:.3f}"
)
for r in (0.2, 1.0, 10.0):
    print(
        f"p/n = {r:>4}: test MSE {dd[r][0]:9.3f}, test error {dd[r][1]:.3f}, training "
        f"MSE {dd[r][2]:.1e}"
    )

# %% tags=["remove-cell"]
peak_ratio = max(ratios, key=lambda r: dd[r][0])
assert 0.8 <= peak_ratio <= 1.25, (
    "the test-error peak must sit near the interpolation threshold p = n"
)
assert dd[10.0][1] < dd[1.0][1] - 0.1, (
    "far past the threshold the test error must fall again"
)
assert dd[1.0][0] > 5 * min(dd[r][0] for r in ratios), (
    "the peak must stand well above both sides"
)
assert all(dd[r][2] < 1e-6 for r in ratios if r >= 1.05), (
    "past the threshold the model interpolates"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Random ReLU features fitted by minimum-norm least squares: test and training error against the number of features per training example.", "name": "fig-generalization-double-descent"}, "image": {"alt": "Test error falls, peaks sharply at p = n and falls again beyond it; training error reaches zero past the threshold."}}
fig, axes = plot.subplots(1, 2, width=10, height=3.4)
rs = list(dd)
axes[0].plot(rs, [dd[r][0] for r in rs], "o-", ms=3, label="test")
axes[0].plot(
    rs,
    [max(dd[r][2], 1e-4) for r in rs],
    "s-",
    ms=3,
    label="training (floored at 1e-4)",
)
axes[0].set_yscale("log")
axes[0].set_ylabel("mean squared error")
axes[1].plot(rs, [dd[r][1] for r in rs], "o-", ms=3, color="C0")
axes[1].set_ylabel("test classification error")
for ax in axes:
    ax.set_xscale("log")
    ax.axvline(1.0, color="k", ls=":", lw=1)
    ax.set_xlabel("features per training example, p / n")
axes[0].legend()
fig.suptitle(
    f"Random ReLU features on Fashion-MNIST, n = {cfg.n_dd:,} ({cfg.profile} profile)"
)
plot.show(fig)

# %% [markdown]
# Below the threshold the curve of {numref}`fig-generalization-double-descent`
# is the classical "U": the test error first
# falls as features are added, then rises as the model begins to fit the
# noise. Exactly at $p = n$ the model has just enough parameters to
# interpolate, and the only interpolant is wild: its coefficients are huge
# and the test error peaks (note the logarithmic scale). Beyond the
# threshold there are many interpolants, and the minimum-norm one becomes
# smoother as $p$ grows, so the test error *descends a second time*; the
# line printed above compares where it ends with the best model of the
# classical regime. This **double descent** has
# also been observed with trained networks as width, and even as training
# time, grows {cite}`nakkiran2020deep`. It does not explain why deep networks
# generalize, but it removes one objection raised by the random-label
# experiment: in this model, too, huge capacity and exact interpolation go
# together with a test error that falls as capacity grows, because the
# interpolant that is chosen, the minimum-norm one here, is a smooth one.
#
# ## Summary
#
# - Training error measures fit, not generalization. Use a validation set to
#   choose models and hyperparameters and touch the test set once.
# - Weight decay shrinks weights by $1-\eta\lambda$ per step; for SGD it is
#   exactly the L2 penalty, for Adam it is not, and AdamW decouples it.
# - Inverted dropout drops units with probability $p$ and scales survivors by
#   $1/(1-p)$, preserving the mean; at test time it is off, or kept on to
#   sample an approximate predictive distribution (MC dropout).
# - Batch normalization standardizes each channel over the batch (and the
#   spatial positions after a convolution), keeps running estimates for eval
#   mode with `momentum` weighting the *new* value, and speeds up training.
# - Augmentation and mixup create new training examples from old ones.
# - On a small training set each of weight decay, dropout, augmentation and
#   mixup narrows the gap between training and validation accuracy.
# - Networks can memorize random labels, with or without those explicit
#   regularizers; gradient descent's implicit bias towards minimum-norm
#   solutions and the double-descent curve show, in models simple enough to
#   solve, how interpolating models can still generalize.
#
# ## Exercises
#
# **Exercise 1 (dropout before or after ReLU).** Show that applying dropout
# before or after a ReLU gives the same result when both use the same mask,
# because $\mathrm{ReLU}(c\,z) = c\,\mathrm{ReLU}(z)$ for $c \ge 0$. Does the
# same hold for the sigmoid?

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Solution to Exercise 1
z_ex = torch.randn(1000, 50)
mask = (torch.rand(1000, 50) >= 0.4).float() / 0.6  # one inverted-dropout mask, p = 0.4
before, after = torch.relu(mask * z_ex), mask * torch.relu(z_ex)
print(
    f"ReLU: max difference {(before - after).abs().max():.1e}; "
    f"sigmoid: "
    f"{(torch.sigmoid(mask * z_ex) - mask * torch.sigmoid(z_ex)).abs().max():.2f}"
)
assert torch.equal(before, after)
assert (torch.sigmoid(mask * z_ex) - mask * torch.sigmoid(z_ex)).abs().max() > 0.1
# Answer: The ReLU is positively homogeneous, so the order does not matter; the
# sigmoid is not (a dropped unit gives $\sigma(0) = 1/2$, not 0), so there
# the order does.

# %% [markdown]
# **Exercise 2 (ridge regression meets the minimum norm).** For the
# over-parameterized problem of the implicit-regularization section, the L2
# penalized solution is $\mathbf{w}_\lambda = X^\top(XX^\top + \lambda I)^{-1}\mathbf{t}$.
# Verify that it minimizes {eq}`eq-l2-penalty` (its gradient vanishes) and
# that $\mathbf{w}_\lambda \to \mathbf{w}^\ast$ as $\lambda \to 0$, while its
# norm grows monotonically towards $\|\mathbf{w}^\ast\|$.

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Solution to Exercise 2
norms = []
for lam_r in (1.0, 1e-1, 1e-2, 1e-4, 1e-8):
    w_lam = X.T @ torch.linalg.solve(
        X @ X.T + lam_r * torch.eye(N, dtype=torch.float64), t_lin
    )
    grad = (
        X.T @ (X @ w_lam - t_lin) + lam_r * w_lam
    )  # gradient of 1/2|Xw - t|^2 + lam/2 |w|^2
    assert grad.abs().max() < 1e-8
    norms.append(w_lam.norm().item())
    print(
        f"lambda = {lam_r:.0e}: |w_lambda| = {norms[-1]:.4f}, |w_lambda - w*| = "
        f"{(w_lam - w_star).norm():.1e}"
    )
assert all(a < b for a, b in zip(norms, norms[1:])) and (w_lam - w_star).norm() < 1e-6
# Answer: The penalty trades training error for a smaller norm; as it vanishes, the
# ridge solution tends to exactly the solution gradient descent finds from
# zero without any penalty.

# %% [markdown]
# **Exercise 3 (folding batch norm into a linear layer).** In eval mode BN is
# a fixed affine map per channel. Fold a trained `BatchNorm` into the
# `nn.Linear` before it — a new weight and bias — so that one linear layer
# computes both. (Inference engines do this to save time.)

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Solution to Exercise 3: y = gamma (W x + b - mu) / s + beta, with s = sqrt(var + eps).
lin, bn_fold = nn.Linear(784, 32), BatchNorm(32)
with torch.no_grad():
    for _ in range(
        5
    ):  # a few training batches give the BN layer non-trivial statistics
        bn_fold(lin(data.to_float(train_set.x[:256]).flatten(1)) * 3 + 1)
    bn_fold.gamma.uniform_(0.5, 2)
    bn_fold.beta.normal_()
bn_fold.eval()
scale = bn_fold.gamma / torch.sqrt(bn_fold.running_var + bn_fold.eps)  # (32,)
folded = nn.Linear(784, 32)
with torch.no_grad():
    folded.weight.copy_(scale[:, None] * lin.weight)
    folded.bias.copy_(scale * (lin.bias - bn_fold.running_mean) + bn_fold.beta)
x_fold = data.to_float(test_set.x[:100]).flatten(1)
print(
    f"max |BN(linear(x)) - folded(x)| = "
    f"{(bn_fold(lin(x_fold)) - folded(x_fold)).abs().max():.1e}"
)
assert torch.allclose(bn_fold(lin(x_fold)), folded(x_fold), atol=1e-5)
# Answer: In eval mode BN adds no computation at all once folded. In training mode
# it cannot be folded, because the statistics change with every batch.

# %% [markdown]
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
