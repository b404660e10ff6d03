# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# (ch-perceptron)=
# # From the perceptron to logistic regression
#
# ```{admonition} Learning objectives
# :class: tip
# After this chapter you can
# - train Rosenblatt's perceptron, state when it is guaranteed to converge, and show why it cannot learn XOR;
# - derive the sigmoid posterior of linear discriminant analysis from Gaussian classes with a shared covariance;
# - write the cross-entropy loss of logistic regression from maximum likelihood, in both label conventions;
# - derive the gradient-descent update, implement it by hand and choose a learning rate that converges;
# - compare batch, stochastic and mini-batch gradient descent by what each update costs and buys.
# ```
#
# Every model in this book, up to the diffusion models of the last chapter, is
# built from one unit: a weighted sum of inputs passed through a nonlinearity.
# This chapter studies that unit alone. We meet it three times, in three
# historical guises — as a model of a neuron, as a consequence of Gaussian
# class populations, and as a probabilistic classifier fitted by maximum
# likelihood — and then learn to train it with the algorithm that trains
# everything else in the book: gradient descent.

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
# The sizes of this chapter's experiments depend on the run profile (see
# {ref}`ch-setup`). Everything here is small enough to run on a laptop; the
# profiles differ in how much of Fashion-MNIST is used and for how long we train.

# %%
import time

import torch
import torch.nn.functional as F
from torch import nn

from dlbook import data, plot

# %%
# gd_steps, sgd_epochs: logistic regression, which runs on the CPU in every
# profile, so gpu keeps the cpu sizes
# fmt: off
cfg = dlbook.config(  # n_pairs / n_softmax: training images used (None: all)
    smoke=dict(n_pairs=2_000, gd_steps=150, sgd_epochs=2,
               n_softmax=6_000, softmax_epochs=2),
    cpu=dict(n_pairs=None, gd_steps=400, sgd_epochs=3,
             n_softmax=None, softmax_epochs=8),
    gpu=dict(n_pairs=None, gd_steps=400, sgd_epochs=3,
             n_softmax=None, softmax_epochs=20),
)
# fmt: on
cfg

# %% [markdown]
# ## The artificial neuron
#
# A neuron in the sense of this book computes a weighted sum of its inputs
# $\mathbf{x} \in \mathbb{R}^p$, adds a bias, and passes the result through an
# *activation function* $\sigma$:
#
# $$
# f(\mathbf{x}) = \sigma\left(\mathbf{w}^\top \mathbf{x} + b\right)
#               = \sigma\Big(\sum_{i=1}^p w_i x_i + b\Big).
# $$ (eq-neuron)
#
# The idea goes back to McCulloch and Pitts {cite}`mcculloch1943logical`, who
# modelled a nerve cell as a threshold unit; Rosenblatt
# {cite}`rosenblatt1958perceptron` made it learn. The weights $w_i$ play the
# role of synaptic strengths, the output that of a firing rate — a cartoon of
# biology, but a very productive one. With the *step* activation
# $\sigma(z) = 1$ if $z \ge 0$ and $0$ otherwise, the neuron is a linear
# classifier: it answers 1 on one side of the hyperplane
# $\mathbf{w}^\top\mathbf{x} + b = 0$ and 0 on the other.
# {numref}`fig-perceptron-neuron` draws the neuron, with what is learned in orange.

# %% [markdown]
# :::{figure} ../figs/neuron.svg
# :name: fig-perceptron-neuron
# :alt: Inputs x1, x2 to xp, each multiplied by a weight w1 to wp, flow into a summation node together with the bias b; the sum z goes through an activation sigma to the output f(x).
# :width: 100%
# The artificial neuron of {eq}`eq-neuron`. Each input $x_i$ is multiplied by its
# weight $w_i$, the products and the bias $b$ are summed into
# $z = \mathbf{w}^\top\mathbf{x} + b$, and the activation $\sigma$ turns $z$ into
# the output: the step for Rosenblatt's perceptron, the sigmoid for logistic
# regression. Orange marks what is learned.
# :::


# %%
def step(z: torch.Tensor) -> torch.Tensor:
    """The threshold activation: 1 where z >= 0, else 0."""
    return (z >= 0).float()


def neuron(x: torch.Tensor, w: torch.Tensor, b: float, activation=step) -> torch.Tensor:
    """One neuron applied to a batch: x (N, p), w (p,) -> (N,)."""
    return activation(x @ w + b)


x_demo = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
print("AND:", neuron(x_demo, torch.tensor([1.0, 1.0]), -1.5).tolist())
print("OR: ", neuron(x_demo, torch.tensor([1.0, 1.0]), -0.5).tolist())

# %% [markdown]
# With hand-picked weights a single neuron computes the logical AND and OR of
# two binary inputs. The interesting question is how to *find* the weights
# from examples.
#
# ## Rosenblatt's perceptron
#
# Write the labels as $t_i \in \{-1, +1\}$ and absorb the bias into the weights
# by appending a constant 1 to every input, $\tilde{\mathbf{x}} = (\mathbf{x}, 1)$,
# $\tilde{\mathbf{w}} = (\mathbf{w}, b)$. An example is classified correctly
# when $t_i\, \tilde{\mathbf{w}}^\top \tilde{\mathbf{x}}_i > 0$. The
# perceptron visits the examples in turn and corrects each mistake:
#
# $$
# \text{if } t_i\, \tilde{\mathbf{w}}^\top \tilde{\mathbf{x}}_i \le 0:
# \qquad \tilde{\mathbf{w}} \leftarrow \tilde{\mathbf{w}} + t_i\, \tilde{\mathbf{x}}_i .
# $$ (eq-perceptron-rule)
#
# The update moves the boundary towards classifying $\tilde{\mathbf{x}}_i$
# correctly, since it raises $t_i \tilde{\mathbf{w}}^\top\tilde{\mathbf{x}}_i$
# by $\|\tilde{\mathbf{x}}_i\|^2 > 0$. Here is one pass over the data.


# %%
def perceptron_epoch(w: torch.Tensor, xt: torch.Tensor, t: torch.Tensor):
    """One pass of the rule over xt (N, p + 1) with labels t (N,) in {-1, +1}.

    Returns the new weights and the weights after each mistake of the pass.
    """
    snapshots = []
    for xi, ti in zip(xt, t):
        if ti * (w @ xi) <= 0:  # misclassified (or on the boundary)
            w = w + ti * xi
            snapshots.append(w.clone())
    return w, snapshots


# %% [markdown]
# The algorithm repeats such passes until one of them makes no mistake.


# %%
def perceptron(x: torch.Tensor, y: torch.Tensor, max_epochs: int = 100):
    """Rosenblatt's perceptron on x (N, p) with labels y (N,) in {0, 1}.

    Returns the augmented weights (p + 1,), the weights after every mistake
    (a list), and the number of mistakes in each epoch."""
    xt = torch.cat([x, torch.ones(len(x), 1)], dim=1)  # (N, p + 1): constant 1
    t = 2.0 * y.float() - 1.0  # labels in {-1, +1}
    w = torch.zeros(xt.shape[1])
    snapshots, mistakes_per_epoch = [w.clone()], []
    for _ in range(max_epochs):
        w, new = perceptron_epoch(w, xt, t)
        snapshots += new
        mistakes_per_epoch.append(len(new))
        if not new:  # a full pass without a mistake: done
            break
    return w, snapshots, mistakes_per_epoch


# %% [markdown]
# We run it on points drawn on either side of a known line, with a gap (the
# margin) between the two classes.

# %%
x_sep, y_sep = data.linearly_separable(120, margin=0.15, seed=1)
w_perc, snaps, mistakes = perceptron(x_sep, y_sep)
print(f"epochs until a clean pass: {len(mistakes)}; mistakes per epoch: {mistakes}")

# %% [markdown]
# On linearly separable data the perceptron stops after a few passes.
# {numref}`fig-perceptron-updates` shows the decision boundary after the first
# few corrections and at the end: each mistake tilts or shifts the line until
# no point is on the wrong side.


# %% tags=["hide-input"] mystnb={"figure": {"caption": "The perceptron's decision boundary after the first few corrections and at the end, on separable data.", "name": "fig-perceptron-updates"}, "image": {"alt": "Panels of two-class scatter plots with a straight line that tilts and shifts from panel to panel until it separates the classes."}}
def perceptron_predict(w):
    return lambda g: (g @ w[:2] + w[2] >= 0).long()


shown = sorted({1, 2, 4, len(snaps) - 1})
fig, axes = plot.subplots(1, len(shown), width=7, height=2.4, sharey=True)
for ax, k in zip(axes, shown):
    plot.decision_boundary(ax, perceptron_predict(snaps[k]), x_sep, y_sep, margin=0.2)
    ax.set_title(f"after {k} update{'s' if k > 1 else ''}")
plot.show(fig)

# %% [markdown]
# ### How many mistakes? Novikoff's bound
#
# Why must it stop? Suppose some unit vector $\mathbf{u}$ separates the data
# with margin $\gamma > 0$, i.e. $t_i \mathbf{u}^\top\tilde{\mathbf{x}}_i \ge \gamma$
# for all $i$, and let $R = \max_i \|\tilde{\mathbf{x}}_i\|$. Every mistake
# raises $\mathbf{u}^\top\tilde{\mathbf{w}}$ by at least $\gamma$ and raises
# $\|\tilde{\mathbf{w}}\|^2$ by at most $R^2$, so after $k$ mistakes
# $k\gamma \le \mathbf{u}^\top\tilde{\mathbf{w}} \le \|\tilde{\mathbf{w}}\| \le \sqrt{k}R$.
# Hence {cite}`novikoff1962convergence`
#
# $$
# k \le \left(\frac{R}{\gamma}\right)^2 .
# $$ (eq-novikoff)
#
# Our data were generated from a known separating line, which gives us a
# $\mathbf{u}$ and therefore a concrete bound to test.

# %%
xt = torch.cat([x_sep, torch.ones(len(x_sep), 1)], dim=1)
t = 2.0 * y_sep.float() - 1.0
u = torch.tensor([1.0, -1.0, 0.2])  # the generator's line w_true, augmented
u = u / u.norm()
gamma = (t * (xt @ u)).min().item()
R = xt.norm(dim=1).max().item()
bound = (R / gamma) ** 2
total_mistakes = len(snaps) - 1
print(f"margin gamma = {gamma:.3f}, radius R = {R:.3f}")
print(f"mistakes made: {total_mistakes}, Novikoff bound (R/gamma)^2 = {bound:.0f}")

# %% tags=["remove-cell"]
assert gamma > 0, "the generator's line must separate the data"
assert mistakes[-1] == 0, "the perceptron must end with a clean pass on separable data"
assert 0 < total_mistakes <= bound, (
    "Novikoff's bound was violated: the update rule is wrong"
)
assert (t * (xt @ w_perc) > 0).all(), (
    "the final weights must classify every example correctly"
)

# %% [markdown]
# The bound holds with a lot of room to spare: it is a worst case over all
# orders of presentation. Exercise 1 asks how the number of mistakes changes
# with the margin.
#
# ### Where the perceptron fails: XOR
#
# The label of XOR is 1 when exactly one of two binary inputs is 1. No line
# separates $\{(0,1), (1,0)\}$ from $\{(0,0), (1,1)\}$: adding the two
# inequalities $w_1 + b > 0$ and $w_2 + b > 0$ gives $w_1 + w_2 + 2b > 0$,
# while the other two demand $b \le 0$ and $w_1 + w_2 + b \le 0$, whose sum
# contradicts it. Minsky and Papert's analysis of such limits
# {cite}`minsky1969perceptrons` cooled the field for a decade. The perceptron
# rule never settles here; it cycles for ever. ({numref}`fig-perceptron-mistakes`)

# %%
x_xor, y_xor = data.xor()
_, _, mistakes_xor = perceptron(x_xor, y_xor, max_epochs=50)
print(
    f"XOR: mistakes in the last 10 of {len(mistakes_xor)} epochs: {mistakes_xor[-10:]}"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Mistakes per epoch of the perceptron on separable data (they reach zero) and on XOR (they never do).", "name": "fig-perceptron-mistakes"}, "image": {"alt": "Two curves of mistakes per epoch: one drops to zero after a few epochs, the XOR curve keeps oscillating above zero."}}
fig, ax = plot.subplots(width=7, height=3)
ax.plot(
    range(1, len(mistakes) + 1), mistakes, "o-", label="separable data (120 points)"
)
ax.plot(
    range(1, len(mistakes_xor) + 1), mistakes_xor, "s-", ms=3, label="XOR (4 points)"
)
ax.set_xlabel("epoch")
ax.set_ylabel("mistakes in the epoch")
ax.legend()
plot.show(fig)

# %% [markdown]
# On separable data the mistakes reach zero and training stops; on XOR at
# least one of the four points is always wrong. {ref}`ch-mlp` fixes this with a
# hidden layer; Exercise 2 fixes it with a hand-made feature.
#
# ## Linear discriminant analysis
#
# The sigmoid-shaped neuron appears again, this time as a consequence of a
# probabilistic model rather than a design choice {cite}`fisher1936use`.
# Suppose the two classes $y \in \{0, 1\}$ have Gaussian populations with
# means $\boldsymbol{\mu}_0, \boldsymbol{\mu}_1$ and the *same* covariance
# $\Sigma$:
#
# $$
# p(\mathbf{x} \mid y) = \frac{1}{\sqrt{(2\pi)^p |\Sigma|}}
#   \exp\left(-\tfrac12 (\mathbf{x} - \boldsymbol{\mu}_y)^\top \Sigma^{-1} (\mathbf{x} - \boldsymbol{\mu}_y)\right).
# $$
#
# Bayes' rule divides the joint density of class 1 by the sum over both
# classes. Dividing numerator and denominator by the numerator gives
# $P(Y=1\mid\mathbf{x}) = 1 / (1 + e^{-a})$ with $a$ the log-odds, i.e. the
# *logistic sigmoid* $\sigma(a) = 1/(1+e^{-a})$ of
#
# $$
# a = \log\frac{p(\mathbf{x}\mid 1)\,P(Y=1)}{p(\mathbf{x}\mid 0)\,P(Y=0)} .
# $$
#
# Expanding the two quadratic forms, the terms
# $\mathbf{x}^\top\Sigma^{-1}\mathbf{x}$ cancel because the covariance is
# shared, and what remains is linear in $\mathbf{x}$:
#
# $$
# \begin{aligned}
# P(Y=1\mid\mathbf{x}) &= \sigma(\mathbf{w}^\top\mathbf{x} + b), \qquad
# \mathbf{w} = \Sigma^{-1}(\boldsymbol{\mu}_1 - \boldsymbol{\mu}_0), \\
# b &= \tfrac12\left(\boldsymbol{\mu}_0^\top\Sigma^{-1}\boldsymbol{\mu}_0
#       - \boldsymbol{\mu}_1^\top\Sigma^{-1}\boldsymbol{\mu}_1\right)
#     + \log\frac{P(Y=1)}{P(Y=0)} .
# \end{aligned}
# $$ (eq-lda)
#
# Let us check this numerically: the closed form {eq}`eq-lda` against Bayes'
# rule evaluated with the Gaussian densities directly.

# %%
mu = torch.tensor([[0.0, 0.0], [2.0, 1.0]], dtype=torch.float64)  # (K=2, p=2) means
cov = torch.tensor([[1.0, 0.6], [0.6, 0.8]], dtype=torch.float64)  # (p, p) shared
prior = torch.tensor([0.4, 0.6], dtype=torch.float64)


def lda_weights(mu, cov, prior):
    """w (p,) and b of the LDA posterior for two Gaussians with a shared covariance."""
    prec = torch.linalg.inv(cov)
    w = prec @ (mu[1] - mu[0])
    log_prior_ratio = torch.log(prior[1] / prior[0])
    b = 0.5 * (mu[0] @ prec @ mu[0] - mu[1] @ prec @ mu[1]) + log_prior_ratio
    return w, b


# %% [markdown]
# Bayes' rule needs only the two log joint densities
# $\log p(\mathbf{x}\mid y) + \log P(y)$; a softmax over the classes normalises
# them. We evaluate both posteriors at random points.

# %%
w_lda, b_lda = lda_weights(mu, cov, prior)
grid = torch.randn(1000, 2, dtype=torch.float64) * 2  # any points will do
gaussians = [torch.distributions.MultivariateNormal(mu[k], cov) for k in (0, 1)]
log_joint = torch.stack(
    [gaussians[k].log_prob(grid) + prior[k].log() for k in (0, 1)]
)  # (2, 1000)
posterior_bayes = torch.softmax(log_joint, dim=0)[1]  # Bayes' rule
posterior_lda = torch.sigmoid(grid @ w_lda + b_lda)
gap_lda = (posterior_bayes - posterior_lda).abs().max()
print(f"max |Bayes - sigmoid(w.x + b)| = {gap_lda:.2e}")

# %% tags=["remove-cell"]
assert torch.allclose(posterior_bayes, posterior_lda, atol=1e-12), (
    "the LDA posterior must equal Bayes' rule"
)

# %% [markdown]
# The two agree to machine precision. In practice the means, the covariance
# and the priors are unknown; LDA estimates them from data (class means, the
# pooled within-class covariance, the class frequencies) and plugs them into
# {eq}`eq-lda`. scikit-learn's `LinearDiscriminantAnalysis`
# {cite}`pedregosa2011scikit` does exactly that, so our plug-in posterior
# should match its `predict_proba`. ({numref}`fig-perceptron-lda`)

# %%
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

x_lda, y_lda = data.gaussian_classes(400, mu, cov, priors=prior, seed=2)
x64 = x_lda.double()
prior_hat = torch.stack([(y_lda == k).double().mean() for k in (0, 1)])
mu_hat = torch.stack([x64[y_lda == k].mean(0) for k in (0, 1)])
cov_hat = sum(
    prior_hat[k] * torch.cov(x64[y_lda == k].T, correction=0) for k in (0, 1)
)  # pooled
w_hat, b_hat = lda_weights(mu_hat, cov_hat, prior_hat)
sk = LinearDiscriminantAnalysis(solver="lsqr").fit(x_lda.numpy(), y_lda.numpy())
diff_sklearn = abs(
    sk.predict_proba(x_lda.numpy())[:, 1] - torch.sigmoid(x64 @ w_hat + b_hat).numpy()
).max()
print(f"max |scikit-learn - ours| = {diff_sklearn:.2e}")

# %% tags=["remove-cell"]
assert diff_sklearn < 1e-5, "our LDA estimate must reproduce scikit-learn's"

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The LDA posterior $P(Y=1 \\mid x)$ of two Gaussian classes with a shared covariance; black: the straight boundary at 0.5.", "name": "fig-perceptron-lda"}, "image": {"alt": "Two elongated point clouds on a shaded background that changes from blue to red along one direction, with a straight black line between them."}}
fig, ax = plot.subplots(width=7, height=4)
plot.decision_boundary(
    ax,
    lambda g: torch.sigmoid(g.double() @ w_hat + b_hat),
    x_lda,
    y_lda,
    proba=True,
    names=["class 0", "class 1"],
)
ax.set_title("LDA posterior $P(Y=1\\mid x)$; black: 0.5")
ax.legend(loc="upper left")
plot.show(fig)

# %% [markdown]
# The posterior changes along a single direction, $\mathbf{w}$, and the
# boundary $P = 0.5$ is a straight line: the perceptron's model with a soft
# sigmoid in place of the hard step.
#
# ## Logistic regression
#
# Logistic regression {cite}`cox1958regression` keeps the model
# $P(Y=1\mid\mathbf{x}) = \sigma(\mathbf{w}^\top\mathbf{x}+b)$ and drops the
# Gaussian assumptions behind it. Instead it picks the parameters under which
# the observed labels are most probable. Writing
# $\hat y_i = \sigma(\mathbf{w}^\top\mathbf{x}_i + b)$, the likelihood of
# independent examples is $\prod_i \hat y_i^{\,y_i}(1-\hat y_i)^{1-y_i}$, and
# maximising it is minimising its negative logarithm,
#
# $$
# \mathcal{L}(\mathbf{w}, b) = \sum_i -y_i \log \hat y_i - (1-y_i)\log(1-\hat y_i) ,
# $$ (eq-bce)
#
# the **cross-entropy** $H(p, q) = \mathbb{E}_p[-\log q]$ between the observed
# label distribution $p$ and the model's $q$. With labels $t_i\in\{-1,+1\}$ the
# same derivation, using $1-\sigma(z) = \sigma(-z)$, gives the **logistic loss**
#
# $$
# \mathcal{L}(\mathbf{w}, b) = \sum_i \log\left(1 + e^{-t_i(\mathbf{w}^\top\mathbf{x}_i + b)}\right)
#   = -\sum_i \log \sigma\big(t_i(\mathbf{w}^\top\mathbf{x}_i + b)\big).
# $$ (eq-logistic-loss)
#
# Both are the same function of the parameters. The check below computes
# {eq}`eq-logistic-loss` by hand and {eq}`eq-bce` with PyTorch's built-in.

# %%
z = torch.randn(1000, dtype=torch.float64) * 3  # logits w.x + b
y01 = torch.randint(0, 2, (1000,)).double()
t_pm = 2 * y01 - 1
logistic_loss = F.softplus(
    -t_pm * z
).mean()  # softplus(u) = log(1 + e^u), computed stably
cross_entropy = F.binary_cross_entropy_with_logits(z, y01)
print(f"logistic loss {logistic_loss:.6f} · cross-entropy {cross_entropy:.6f}")

# %% tags=["remove-cell"]
assert torch.allclose(logistic_loss, cross_entropy, rtol=1e-12), (
    "the two conventions must give the same loss"
)

# %% [markdown]
# Seen as a function of the *margin* $m = t\,(\mathbf{w}^\top\mathbf{x}+b)$,
# the logistic loss is a smooth, convex stand-in for the error count. The
# perceptron implicitly minimises $\max(0, -m)$, which is flat at zero for every
# correct example; the logistic loss keeps pushing correctly classified points
# away from the boundary, and it has a gradient everywhere. ({numref}`fig-perceptron-losses`)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Three losses of the margin $m$: the zero-one error count, the perceptron's $\\max(0, -m)$ and the logistic loss.", "name": "fig-perceptron-losses"}, "image": {"alt": "A step function, a hinge that is zero for positive margins, and a smooth decreasing curve."}}
m = torch.linspace(-3, 3, 301)
fig, ax = plot.subplots(width=7, height=3.2)
ax.plot(m, (m <= 0).float(), label="zero-one (error count)")
ax.plot(m, torch.relu(-m), label="perceptron: max(0, -m)")
ax.plot(m, F.softplus(-m), label="logistic: log(1 + exp(-m))")
ax.set_xlabel("margin $m = t\\,(w^T x + b)$")
ax.set_ylabel("loss")
ax.legend()
plot.show(fig)

# %% [markdown]
# Unlike LDA, logistic regression has no closed-form solution. We need a
# numerical method: gradient descent.
#
# ## Gradient descent
#
# Let $\mathcal{L}(\theta)$ be a differentiable loss of parameters
# $\theta\in\mathbb{R}^d$. Around the current point $\theta_0$, replace the
# loss by its first-order Taylor expansion plus a penalty on large steps:
#
# $$
# \hat{\mathcal{L}}(\theta_0 + \epsilon) = \mathcal{L}(\theta_0)
#   + \epsilon^\top \nabla_\theta\mathcal{L}(\theta_0) + \frac{1}{2\gamma}\|\epsilon\|^2 .
# $$
#
# Setting its gradient in $\epsilon$ to zero,
# $\nabla_\theta\mathcal{L}(\theta_0) + \epsilon/\gamma = 0$, gives the best
# step $\epsilon = -\gamma\nabla_\theta\mathcal{L}(\theta_0)$, and iterating
# gives the update rule of gradient descent {cite}`cauchy1847methode`:
#
# $$
# \theta_{t+1} = \theta_t - \gamma\, \nabla_\theta \mathcal{L}(\theta_t).
# $$ (eq-gd)
#
# The **learning rate** $\gamma$ says how far we trust the linear
# approximation. On the quadratic $\mathcal{L}(\theta) = \frac{a}{2}\theta^2$
# the update is $\theta_{t+1} = (1-\gamma a)\,\theta_t$, so everything depends
# on the factor $1-\gamma a$: for $\gamma < 1/a$ the iterates shrink
# monotonically, for $1/a < \gamma < 2/a$ they flip sign while shrinking
# (oscillation), and for $\gamma > 2/a$ they grow (divergence). ({numref}`fig-perceptron-gd-1d`)


# %%
def gradient_descent(grad, theta0: torch.Tensor, lr: float, steps: int) -> torch.Tensor:
    """Iterate the gradient step; the trajectory, shape (steps + 1, *theta0.shape)."""
    path = [theta0.clone()]
    for _ in range(steps):
        path.append(path[-1] - lr * grad(path[-1]))
    return torch.stack(path)


a = 2.0  # curvature of L(theta) = a/2 * theta^2
regimes = {"too small": 0.1, "good": 0.4, "oscillates": 0.95, "diverges": 1.05}
paths_1d = {
    name: gradient_descent(lambda th: a * th, torch.tensor(1.0), lr, 12)
    for name, lr in regimes.items()
}
for name, p in paths_1d.items():
    print(f"lr {regimes[name]:<5} ({name:>10}): theta_12 = {p[-1]:+.3e}")


# %% tags=["remove-cell"]
def classify(p):
    shrinking = bool((p[1:].abs() < p[:-1].abs()).all())
    flipping = bool((p[1:] * p[:-1] < 0).all())
    return "diverges" if not shrinking else ("oscillates" if flipping else "converges")


assert classify(paths_1d["too small"]) == classify(paths_1d["good"]) == "converges"
assert classify(paths_1d["oscillates"]) == "oscillates"
assert classify(paths_1d["diverges"]) == "diverges"
assert paths_1d["good"][-1].abs() < paths_1d["too small"][-1].abs(), (
    "a better rate must converge faster"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Gradient descent on a 1-D quadratic with four learning rates: the iterates on the parabola (left) and their distance to the minimum (right).", "name": "fig-perceptron-gd-1d"}, "image": {"alt": "Left: points on a parabola for four step sizes, some zigzagging. Right: distance to the minimum per step, shrinking, oscillating or growing."}}
fig, axes = plot.subplots(1, 2, width=7, height=3)
th = torch.linspace(-1.6, 1.6, 200)
axes[0].plot(th, a / 2 * th**2, color="0.6", lw=1)
for (name, p), c in zip(paths_1d.items(), plot.CLASS_COLORS):
    p = p[:6].clamp(-1.6, 1.6)
    axes[0].plot(
        p, a / 2 * p**2, "o-", color=c, ms=4, lw=1, label=f"lr {regimes[name]} ({name})"
    )
    axes[1].plot(paths_1d[name].abs(), "o-", color=c, ms=3, label=name)
axes[0].set_xlabel(r"$\theta$")
axes[0].set_ylabel(r"$\mathcal{L}(\theta)$")
axes[0].legend(fontsize=7)
axes[1].set_yscale("log")
axes[1].set_xlabel("step $t$")
axes[1].set_ylabel(r"$|\theta_t - \theta^*|$")
plot.show(fig)

# %% [markdown]
# In several dimensions the same analysis applies along each eigenvector of
# the Hessian: the rate must satisfy $\gamma < 2/\lambda_{\max}$ to converge,
# and then progress along the flattest direction is governed by
# $1-\gamma\lambda_{\min}$. An elongated ("ill-conditioned") quadratic shows
# the dilemma: a rate small enough for the steep direction crawls along the
# shallow one. ({numref}`fig-perceptron-gd-2d`)

# %%
# the Hessian: eigenvalues 1 and 10, condition number 10
H = torch.tensor([[1.0, 0.0], [0.0, 10.0]])
loss_2d = lambda th: 0.5 * th @ H @ th  # noqa: E731  (the minimum is at the origin)
rates_2d = {"too small": 0.03, "good": 0.17, "diverges": 0.205}  # 2 / lambda_max = 0.2
paths_2d = {
    name: gradient_descent(lambda th: H @ th, torch.tensor([-2.0, 1.0]), lr, 25)
    for name, lr in rates_2d.items()
}
for name, p in paths_2d.items():
    print(f"lr {rates_2d[name]:<5} ({name:>9}): loss after 25 steps = ", end="")
    print(f"{loss_2d(p[-1]):.3e}")

# %% tags=["remove-cell"]
final_2d = {name: loss_2d(p[-1]).item() for name, p in paths_2d.items()}
assert (
    final_2d["good"]
    < final_2d["too small"]
    < loss_2d(torch.tensor([-2.0, 1.0]))
    < final_2d["diverges"]
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Gradient descent on a 2-D quadratic with curvatures 1 and 10: a too small, a good and a diverging learning rate.", "name": "fig-perceptron-gd-2d"}, "image": {"alt": "Three contour plots of an elongated bowl with zigzag paths: slow, converging and flying off."}}
fig, axes = plot.subplots(1, 3, width=7, height=2.6, sharey=True)
g1, g2 = torch.meshgrid(
    torch.linspace(-2.5, 2.5, 200), torch.linspace(-1.6, 1.6, 200), indexing="xy"
)
zz = 0.5 * (H[0, 0] * g1**2 + H[1, 1] * g2**2)
for ax, (name, p) in zip(axes, paths_2d.items()):
    ax.contour(g1, g2, zz, levels=12, colors="0.75", linewidths=0.7)
    p = p[:16]
    ax.plot(p[:, 0].clamp(-2.5, 2.5), p[:, 1].clamp(-1.6, 1.6), "o-", ms=3, color="C1")
    ax.set_title(f"lr = {rates_2d[name]} ({name})")
    ax.set_xlabel(r"$\theta_1$ (curvature 1)")
axes[0].set_ylabel(r"$\theta_2$ (curvature 10)")
plot.show(fig)

# %% [markdown]
# ## Logistic regression by hand on Fashion-MNIST
#
# Time for real data. Fashion-MNIST {cite}`xiao2017fashion` has 70,000
# greyscale 28×28 images of ten kinds of clothing. We take two classes that a
# linear model can mostly tell apart, *sneaker* and *ankle boot*, and flatten
# each image to a vector of $p = 784$ pixel intensities in $[0, 1]$.

# %%
train_set, test_set = data.load_fashion_mnist("train"), data.load_fashion_mnist("test")
pos, neg = train_set.classes.index("Ankle boot"), train_set.classes.index("Sneaker")


def binary_task(ds, n=None):
    """Sneaker (0) vs ankle boot (1): x (N, 784) in [0, 1], y (N,) float."""
    keep = (ds.y == pos) | (ds.y == neg)
    sub = data.subset(data.ImageSet(ds.x[keep], ds.y[keep], ds.classes, ds.name), n)
    return sub.x.reshape(len(sub), -1).float() / 255.0, (sub.y == pos).float()


x_tr, y_tr = binary_task(train_set, cfg.n_pairs)
x_te, y_te = binary_task(test_set)
print(
    f"train {tuple(x_tr.shape)}, test {tuple(x_te.shape)}, "
    f"fraction of ankle boots {y_tr.mean():.2f}"
)

# %% [markdown]
# The gradient of the mean cross-entropy {eq}`eq-bce` has a strikingly simple
# form. With $\hat y_i = \sigma(z_i)$, $z_i = \mathbf{w}^\top\mathbf{x}_i+b$ and
# $\sigma'(z) = \sigma(z)(1-\sigma(z))$, the chain rule gives
# $\partial\ell_i/\partial z_i = \hat y_i - y_i$, so
#
# $$
# \nabla_{\mathbf{w}}\mathcal{L} = \frac1N \sum_i (\hat y_i - y_i)\,\mathbf{x}_i
#   = \frac1N X^\top(\hat{\mathbf{y}} - \mathbf{y}), \qquad
# \frac{\partial\mathcal{L}}{\partial b} = \frac1N\sum_i (\hat y_i - y_i).
# $$ (eq-logreg-grad)
#
# The prediction error weights each input. We code it by hand, without
# autograd, and then compare it with what PyTorch's automatic differentiation
# (the subject of the next chapter) computes for the same loss.


# %%
def logreg_loss_and_grad(w, b, x, y):
    """Mean cross-entropy and its hand-derived gradient.

    x (N, p), y (N,), w (p,), b (); returns the loss, dL/dw (p,) and dL/db ().
    """
    z = x @ w + b  # (N,) logits
    err = torch.sigmoid(z) - y  # (N,) prediction errors
    loss = F.binary_cross_entropy_with_logits(z, y)
    return loss, x.T @ err / len(y), err.mean()


# %% [markdown]
# At a random point, in float64, we compute the gradient both ways.

# %%
w0 = 0.01 * torch.randn(784, dtype=torch.float64)
b0 = torch.tensor(0.1, dtype=torch.float64)
x_tr64, y_tr64 = x_tr.double(), y_tr.double()
_, gw, gb = logreg_loss_and_grad(w0, b0, x_tr64, y_tr64)
w_ad, b_ad = w0.clone().requires_grad_(), b0.clone().requires_grad_()
F.binary_cross_entropy_with_logits(x_tr64 @ w_ad + b_ad, y_tr64).backward()
print(
    f"max |hand - autograd|: weights {(gw - w_ad.grad).abs().max():.1e}, "
    f"bias {(gb - b_ad.grad).abs():.1e}"
)

# %% tags=["remove-cell"]
assert torch.allclose(gw, w_ad.grad, rtol=1e-10, atol=1e-14) and torch.allclose(
    gb, b_ad.grad, atol=1e-14
)

# %% [markdown]
# The hand-written gradient is the gradient. Now full-batch gradient descent:
# every step uses all training examples. Which learning rate? The curvature of
# the mean cross-entropy is at most $L = \lambda_{\max}(\tilde X^\top \tilde X/N)/4$
# (the sigmoid's slope never exceeds $1/4$; $\tilde X$ carries the constant
# input of the bias), and the quadratic analysis above suggests that
# $\gamma = 1/L$ is safe: every step must then lower the loss.


# %%
def accuracy(w, b, x, y) -> float:
    return ((x @ w + b > 0).float() == y).float().mean().item()


x_aug = torch.cat([x_tr, torch.ones(len(x_tr), 1)], dim=1)  # (N, 785)
L_smooth = torch.linalg.eigvalsh(x_aug.T @ x_aug / len(x_aug)).max().item() / 4
lr = 1 / L_smooth
print(f"curvature bound L = {L_smooth:.2f}, learning rate 1/L = {lr:.4f}")

# %% [markdown]
# We start from zero weights and time the full-batch steps.

# %%
w, b = torch.zeros(784), torch.zeros(())
gd_losses = []
t0 = time.perf_counter()
for _ in range(cfg.gd_steps):
    loss, gw, gb = logreg_loss_and_grad(w, b, x_tr, y_tr)
    w, b = w - lr * gw, b - lr * gb  # the gradient step
    gd_losses.append(loss.item())
gd_time = time.perf_counter() - t0
print(
    f"{cfg.gd_steps} full-batch steps in {gd_time:.1f} s; "
    f"loss {gd_losses[0]:.3f} -> {gd_losses[-1]:.3f}"
)
binary_acc = dlbook.report(
    "sneaker vs ankle boot test accuracy", accuracy(w, b, x_te, y_te), fmt=".4f"
)

# %% tags=["remove-cell"]
assert gd_losses[-1] < 0.5 * gd_losses[0], "gradient descent must lower the loss"
assert all(b_ <= a_ + 1e-6 for a_, b_ in zip(gd_losses, gd_losses[1:])), (
    "with this rate every step helps"
)
assert binary_acc > 0.9, (
    "a linear model separates sneakers from ankle boots well above chance"
)

# %% [markdown]
# The loss falls at every step, as promised, and the test accuracy printed
# above is far above the 50% of guessing — but the safe rate is slow: the loss
# is still falling when we stop. Because the model is linear, its weights live in pixel space and
# can be looked at as an image: red pixels push towards "ankle boot", blue
# ones towards "sneaker". ({numref}`fig-perceptron-weights`)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Left: the learned weights of sneaker vs ankle boot as a 28\u00d728 image (red: towards ankle boot). Right: the training loss at every full-batch step.", "name": "fig-perceptron-weights"}, "image": {"alt": "A red and blue pixel map shaped like a shoe next to a steadily falling loss curve on a log scale."}}
fig, axes = plot.subplots(1, 2, width=7, height=3)
lim = w.abs().max().item()
im = axes[0].imshow(w.reshape(28, 28).numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
axes[0].set_title("learned weights w (28 x 28)")
axes[0].set_xticks([])
axes[0].set_yticks([])
axes[0].grid(False)
fig.colorbar(im, ax=axes[0], shrink=0.8)
axes[1].plot(range(1, len(gd_losses) + 1), gd_losses)
axes[1].set_xlabel("gradient step")
axes[1].set_ylabel("training cross-entropy")
axes[1].set_yscale("log")
plot.show(fig)

# %% [markdown]
# The weights are positive (red) above the sneaker's outline, where only the
# shaft of a boot has material, and negative (blue) in the band that the body
# of a sneaker fills.
#
# ## Batch, stochastic and mini-batch gradient descent
#
# Each full-batch step above touches all $N$ examples. Yet the loss is an
# *average*, and the average gradient over a random **mini-batch** of $B$
# examples is an unbiased estimate of the full gradient, at $B/N$ of the cost.
# Stochastic gradient descent {cite}`robbins1951stochastic` takes $B=1$;
# mini-batch gradient descent sits in between. At a fixed budget of examples
# processed, small batches make many cheap, noisy updates; large batches make a
# few accurate, expensive ones {cite}`bottou2018optimization`. We give every
# variant the same learning rate $1/L$ and the same budget of `cfg.sgd_epochs`
# passes over the data. ({numref}`fig-perceptron-minibatch`)


# %%
def train_minibatch(batch_size: int, lr: float, epochs: int, record_every: int):
    """Logistic regression by mini-batch SGD; records the loss on the full
    training set every `record_every` examples."""
    w, b = torch.zeros(784), torch.zeros(())
    batches = data.Batches(x_tr, y_tr, batch_size=batch_size, seed=0)
    curve = [(0, logreg_loss_and_grad(w, b, x_tr, y_tr)[0].item())]
    seen, n_updates, t0 = 0, 0, time.perf_counter()
    for _ in range(epochs):
        for xb, yb in batches:
            _, gw, gb = logreg_loss_and_grad(w, b, xb, yb)
            w, b = w - lr * gw, b - lr * gb
            n_updates, seen = n_updates + 1, seen + len(yb)
            if seen // record_every > (seen - len(yb)) // record_every:
                curve.append((seen, logreg_loss_and_grad(w, b, x_tr, y_tr)[0].item()))
    return curve, n_updates, time.perf_counter() - t0, accuracy(w, b, x_te, y_te)


# %% [markdown]
# Each variant records the full training loss at regular intervals of examples
# processed and reports its cost per update and per example.

# %%
variants = {
    "SGD (B=1)": (1, lr),
    "mini-batch (B=32)": (32, lr),
    "full batch": (len(y_tr), lr),
}  # lr = 1/L
results, record = {}, max(len(y_tr) // 20, 1)
for name, (bs, lr_) in variants.items():
    results[name] = train_minibatch(bs, lr_, cfg.sgd_epochs, record_every=record)
    curve, n_up, secs, acc = results[name]
    print(
        f"{name:>18}: {n_up:>6} updates, {1e6 * secs / n_up:7.0f} µs/update, "
        f"{1e6 * secs / (n_up * bs):6.1f} µs/example, final loss {curve[-1][1]:.4f}, "
        f"test accuracy {acc:.4f}"
    )

# %% tags=["remove-cell"]
final = {name: r[0][-1][1] for name, r in results.items()}
assert final["mini-batch (B=32)"] < final["full batch"], (
    "at equal cost, mini-batches must beat one full batch"
)
assert results["SGD (B=1)"][1] == cfg.sgd_epochs * len(y_tr), (
    "B=1 makes one update per example"
)
assert all(r[0][-1][1] < r[0][0][1] for r in results.values()), (
    "every variant must lower the loss"
)
per_example = {name: r[2] / (r[1] * variants[name][0]) for name, r in results.items()}
assert per_example["SGD (B=1)"] > 2 * per_example["mini-batch (B=32)"], (
    "per example processed, B=1 must be the slowest in wall-clock time"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Training loss against the number of examples processed for SGD (B = 1), mini-batches of 32 and full-batch descent, all at the learning rate 1/L.", "name": "fig-perceptron-minibatch"}, "image": {"alt": "Three falling loss curves; the B = 1 and B = 32 curves fall far faster per example than the full-batch one."}}
fig, ax = plot.subplots(width=7, height=3.5)
for name, (curve, *_rest) in results.items():
    ex, ls = zip(*curve)
    ax.plot([e / len(y_tr) for e in ex], ls, "o-", ms=3, label=name)
ax.set_xlabel("epochs (examples processed / N)")
ax.set_ylabel("training cross-entropy")
ax.set_yscale("log")
ax.legend()
plot.show(fig)

# %% [markdown]
# Per example processed, the small batches win by a wide margin: after one
# pass they have made hundreds or thousands of updates where full-batch descent
# has made one or a few. Per example, however, $B=1$ is by far the most
# expensive in wall-clock time (the µs/example column): each tiny update pays
# Python's and PyTorch's fixed overhead, and a GPU, which parallelises over the
# batch, would sit idle. Mini-batches of tens to hundreds of examples combine most of the
# statistical benefit of SGD with most of the hardware efficiency of large
# batches, which is why every later chapter uses them.
#
# ## The same model with PyTorch's tools
#
# From here on the book trains models with PyTorch's building blocks and the
# helper `dlbook.train.fit`. As a bridge, here is multinomial logistic
# regression (the **softmax** generalisation to ten classes,
# $P(Y=k\mid\mathbf{x}) \propto e^{\mathbf{w}_k^\top\mathbf{x}+b_k}$) on all of
# Fashion-MNIST: `nn.Linear` holds $W$ and $\mathbf{b}$, `F.cross_entropy` is
# the loss, autograd computes the gradient and `torch.optim.SGD` applies
# {eq}`eq-gd` with one addition, `momentum=0.9`: each step also carries 0.9 of
# the previous step along, a running average of past gradients that
# {ref}`ch-optimization` explains (with `momentum=0` it is {eq}`eq-gd` exactly). ({numref}`fig-perceptron-softmax-history`)

# %%
from dlbook.train import evaluate, fit

sub = data.subset(train_set, cfg.n_softmax)
x_all = data.to_float(sub.x).flatten(1).to(device)  # (N, 784)
n_val = len(x_all) // 6
train_b = data.Batches(x_all[n_val:], sub.y[n_val:].to(device), batch_size=128, seed=0)
val_b = data.Batches(
    x_all[:n_val], sub.y[:n_val].to(device), batch_size=1024, shuffle=False
)
x_test = data.to_float(test_set.x).flatten(1).to(device)
test_b = data.Batches(x_test, test_set.y.to(device), batch_size=1024, shuffle=False)

# %% [markdown]
# The model is a single `nn.Linear` layer, from the pixels to one logit per class.

# %%
softmax_reg = nn.Linear(784, 10).to(device)
opt = torch.optim.SGD(softmax_reg.parameters(), lr=0.1, momentum=0.9)
hist = fit(softmax_reg, train_b, epochs=cfg.softmax_epochs, optimizer=opt, val=val_b)
print(f"{hist.total_s:.1f} s of training, {hist.examples_per_s[-1]:,.0f} examples/s")
test_loss, test_acc = evaluate(softmax_reg, test_b)
test_acc = dlbook.report("10-class test accuracy", test_acc, fmt=".4f")

# %% tags=["remove-cell"]
assert hist.train_loss[-1] < hist.train_loss[0], "softmax regression must learn"
assert test_acc > (0.75 if cfg.profile == "smoke" else 0.8), (
    "ten classes: chance is 0.1, and a linear model reaches about 0.8 here"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Softmax regression on Fashion-MNIST: loss (left) and accuracy (right) per epoch, on training and validation data.", "name": "fig-perceptron-softmax-history"}, "image": {"alt": "Two panels of learning curves over epochs, loss falling and accuracy rising."}}
fig, axes = plot.subplots(1, 2, width=7, height=2.8)
plot.history(axes, hist)
plot.show(fig)

# %% [markdown]
# A linear model reaches the test accuracy printed above on ten classes
# (chance: 10%). Which classes does it confuse? We count the test errors by
# pair of (true, predicted) class.

# %%
with torch.no_grad():
    pred = torch.cat([softmax_reg(xb).argmax(1) for xb, _ in test_b]).cpu()
confusion = torch.zeros(10, 10, dtype=torch.long)
confusion.index_put_((test_set.y, pred), torch.ones_like(pred), accumulate=True)
errors = confusion - torch.diag(confusion.diag())  # off-diagonal: the mistakes
top = errors.flatten().topk(5).indices.tolist()
for k in top:
    i, j = divmod(k, 10)
    print(f"{train_set.classes[i]:>12} taken for {train_set.classes[j]:<12}", end="")
    print(f" {errors[i, j].item():>4} times")
upper = ("T-shirt/top", "Pullover", "Coat", "Shirt")
tops = [train_set.classes.index(c) for c in upper]
within = errors[tops][:, tops].sum().item() / errors.sum().item()
print(f"share of all errors among T-shirt, pullover, coat and shirt: {within:.2f}")

# %% tags=["remove-cell"]
assert within > 0.4 and sum(divmod(k, 10)[0] in tops for k in top) >= 3, (
    "most confusions must be among the four upper-body garments"
)

# %% [markdown]
# The largest error counts printed above are between shirts, T-shirts,
# pullovers and coats, which together hold the share of all errors printed —
# classes no hyperplane in pixel space separates well. Doing better needs the hidden layers of {ref}`ch-mlp`, and computing their
# gradients needs the automatic differentiation of {ref}`ch-autodiff`.
#
# ## Summary
#
# - A neuron is a weighted sum followed by an activation, $\sigma(\mathbf{w}^\top\mathbf{x}+b)$.
#   With a step activation it is a linear classifier.
# - The perceptron rule {eq}`eq-perceptron-rule` finds a separating hyperplane
#   whenever one exists, after at most $(R/\gamma)^2$ mistakes; on XOR none
#   exists and it never stops.
# - Gaussian classes with a shared covariance have a sigmoid-of-linear
#   posterior (LDA, {eq}`eq-lda`). Logistic regression keeps that form and
#   fits it by maximum likelihood, i.e. by minimising the cross-entropy
#   {eq}`eq-bce`, equivalently the logistic loss {eq}`eq-logistic-loss`.
# - Gradient descent {eq}`eq-gd` follows the negative gradient with a learning
#   rate that must stay below $2/\lambda_{\max}$; too small is slow, too
#   large oscillates or diverges.
# - Mini-batch gradients are cheap, unbiased estimates of the full gradient:
#   at equal cost they make far more progress than full-batch steps.
#
# ## Exercises
#
# **Exercise 1 (margin and mistakes).** Generate separable data sets with
# margins 0.05, 0.1, 0.2 and 0.4 (`data.linearly_separable(..., margin=...)`).
# For each, count the perceptron's mistakes and compute Novikoff's bound. How
# does the number of mistakes change with the margin?

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Solution to Exercise 1. Answer: wider margins need fewer corrections, as the
# bound suggests, although the actual counts stay far below it.
u_true = torch.tensor([1.0, -1.0, 0.2]) / torch.tensor([1.0, -1.0, 0.2]).norm()
print(f"{'margin':>7} {'mistakes':>9} {'bound':>8}")
counts = []
for margin in (0.05, 0.1, 0.2, 0.4):
    xm, ym = data.linearly_separable(200, margin=margin, seed=5)
    _, snaps_m, _ = perceptron(xm, ym, max_epochs=1000)
    xtm, tm = torch.cat([xm, torch.ones(len(xm), 1)], 1), 2.0 * ym - 1
    bound_m = (xtm.norm(dim=1).max() / (tm * (xtm @ u_true)).min()) ** 2
    counts.append(len(snaps_m) - 1)
    print(f"{margin:>7} {counts[-1]:>9} {bound_m:>8.0f}")
    assert counts[-1] <= bound_m
assert counts[0] > counts[-1], "a wider margin should need fewer corrections"

# %% [markdown]
# **Exercise 2 (XOR with a feature).** Give the perceptron a third input,
# $x_1 x_2$. Show that XOR becomes linearly separable and that the perceptron
# now converges. Which weights does it find?

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Solution to Exercise 2. Answer: with the product feature, x1 + x2 - 2 x1 x2 is
# exactly XOR, and the perceptron finds an equivalent rule after a few epochs.
# A hidden layer learns such features instead of having them handed over.
x_feat = torch.cat([x_xor, (x_xor[:, 0] * x_xor[:, 1])[:, None]], dim=1)  # (4, 3)
w_feat, _, mistakes_feat = perceptron(x_feat, y_xor, max_epochs=100)
print(
    f"mistakes per epoch: {mistakes_feat}; weights (w1, w2, w12, b) = {w_feat.tolist()}"
)
assert mistakes_feat[-1] == 0
assert (step(x_feat @ w_feat[:3] + w_feat[3]) == y_xor.float()).all()

# %% [markdown]
# **Exercise 3 (the best learning rate).** For the quadratic with Hessian
# eigenvalues $\lambda_{\min} = 1$ and $\lambda_{\max} = 10$ used above, the
# error along each eigenvector is multiplied by $|1-\gamma\lambda|$ at every
# step. Show that the worst factor $\max(|1-\gamma\lambda_{\min}|,
# |1-\gamma\lambda_{\max}|)$ is smallest at $\gamma^\ast = 2/(\lambda_{\min}+\lambda_{\max})$,
# and confirm it by running gradient descent for a range of rates.

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Solution to Exercise 3. The two factors are equal where 1 - g lmin = g lmax - 1,
# i.e. at g* = 2 / (lmin + lmax). Answer: the best rate balances the two
# directions: it overshoots along the steep one exactly as much as it undershoots
# along the flat one. The contraction per step, (kappa - 1) / (kappa + 1) with
# kappa = lmax / lmin, shows why ill-conditioned problems are slow.
lam_min, lam_max = 1.0, 10.0
gamma_star = 2 / (lam_min + lam_max)
rates = torch.linspace(0.02, 0.199, 200)
after = torch.stack(
    [
        loss_2d(
            gradient_descent(
                lambda th: H @ th, torch.tensor([-2.0, 1.0]), r.item(), 40
            )[-1]
        )
        for r in rates
    ]
)
best = rates[after.argmin()].item()
print(
    f"gamma* = {gamma_star:.4f}; best rate on the grid = {best:.4f}; "
    f"contraction per step = {(lam_max - lam_min) / (lam_max + lam_min):.3f}"
)
assert abs(best - gamma_star) < 0.01

# %% [markdown]
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
