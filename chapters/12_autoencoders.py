# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# (ch-autoencoders)=
# # Autoencoders
#
# ```{admonition} Learning objectives
# :class: tip
# After this chapter you can
# - write an autoencoder as an encoder, a bottleneck and a decoder, trained on a reconstruction loss;
# - show that a linear autoencoder learns the principal subspace of the data, and explain why it does not learn the
#   principal components themselves;
# - train convolutional and denoising autoencoders and read their latent space;
# - derive the evidence lower bound of a variational autoencoder, its closed-form KL term and the reparameterization
#   trick, and judge its samples with a Fréchet distance;
# - show that an over-parameterized autoencoder stores its training images as attractors of the map $x \mapsto f(x)$.
# ```
#
# The networks so far learned from labels. An *autoencoder* needs none: it is
# trained to give back its own input, $f(\mathbf{x}) \approx \mathbf{x}$,
# through a narrow middle layer that forces it to find a short description of
# the data. This chapter starts from the linear case, which turns out to be
# principal component analysis in disguise {cite}`baldi1989neural`, moves to deep
# convolutional and denoising autoencoders {cite}`hinton2006reducing,vincent2008extracting`,
# turns the autoencoder into a generative model — the variational autoencoder
# {cite}`kingma2014auto,rezende2014stochastic` — and ends with a surprise:
# a large autoencoder trained on a few images *memorizes* them as the
# attractors of a dynamical system {cite}`radhakrishnan2020overparameterized`.
# It opens Part IV, on generative models, which continues with GANs
# ({ref}`ch-gans`) and diffusion models ({ref}`ch-diffusion`).

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
# The profiles differ in how many Fashion-MNIST images {cite}`xiao2017fashion`
# the networks see, for how many epochs, and how wide they are. The `gpu`
# profile trains on all 60,000 images; the images shown below are only as good
# as the profile that made them, and every figure title says which one it was.

# %%
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from dlbook import autoencoder as ae
from dlbook import data, frechet, plot
from dlbook.source import show_source
from dlbook.train import fit

cfg = dlbook.config(  # n_*: training images (None: all 60,000); width: channels of the conv nets
    smoke=dict(
        clf_n=3_000,
        clf_epochs=2,
        n_ae=1_500,
        ae_epochs=2,
        n_vae=2_000,
        vae_epochs=2,
        width=16,
        latent=16,
        batch=32,
        n_test=500,
        n_beta=1_000,
        beta_epochs=1,
    ),
    cpu=dict(
        clf_n=12_000,
        clf_epochs=2,
        n_ae=12_000,
        ae_epochs=3,
        n_vae=12_000,
        vae_epochs=10,
        width=16,
        latent=16,
        batch=64,
        n_test=2_000,
        n_beta=3_000,
        beta_epochs=2,
    ),
    gpu=dict(
        clf_n=None,
        clf_epochs=6,
        n_ae=None,
        ae_epochs=10,
        n_vae=None,
        vae_epochs=30,
        width=64,
        latent=16,
        batch=256,
        n_test=10_000,
        n_beta=20_000,
        beta_epochs=8,
    ),
)
use_amp = (
    session.bf16
)  # bfloat16 mixed precision, only on a GPU that computes it natively (not a T4)
cfg

# %% [markdown]
# ## Encoder, decoder and bottleneck
#
# An autoencoder is two networks in a row. The *encoder* $E_\phi$ maps an
# input $\mathbf{x} \in \mathbb{R}^d$ to a *code* (or *latent vector*)
# $\mathbf{z} = E_\phi(\mathbf{x}) \in \mathbb{R}^k$, and the *decoder* $D_\theta$
# maps the code back to a reconstruction $\hat{\mathbf{x}} = D_\theta(\mathbf{z})$.
# Both are trained together to minimise the *reconstruction loss*, here the mean
# squared error over $N$ training examples:
#
# $$
# \mathcal{L}(\phi, \theta) = \frac{1}{N} \sum_{i=1}^N
#   \big\| \mathbf{x}_i - D_\theta\big(E_\phi(\mathbf{x}_i)\big) \big\|^2 .
# $$ (eq-recon-loss)
#
# With $k \ge d$ the pair could simply copy its input (learn the identity). The
# *bottleneck* $k < d$ makes that impossible: the code must keep what matters
# most about $\mathbf{x}$ and the decoder must fill in the rest from what it has
# learned about the data. Noise on the input (the denoising autoencoder below)
# or a penalty on the code (the VAE) are other ways to stop the network from
# copying.
#
# ## A linear autoencoder finds the principal subspace
#
# Take the simplest case: centred data, no nonlinearity and no biases,
# $\mathbf{z} = W_E \mathbf{x}$ with $W_E \in \mathbb{R}^{k\times d}$ and
# $\hat{\mathbf{x}} = W_D \mathbf{z}$ with $W_D \in \mathbb{R}^{d \times k}$.
# The product $W_D W_E$ has rank at most $k$, and the best rank-$k$
# approximation of the data matrix $X \in \mathbb{R}^{N\times d}$ in squared
# error is given by its singular value decomposition $X = U S V^\top$
# (Eckart–Young): project onto the span of the top-$k$ right singular vectors
# $V_k$, the first $k$ *principal components*,
#
# $$
# \min_{W_E, W_D} \frac1N \| X - X W_E^\top W_D^\top \|_F^2 = \frac1N \sum_{j > k} s_j^2,
# \qquad \text{attained when } W_D W_E = V_k V_k^\top .
# $$ (eq-pca-optimum)
#
# Baldi and Hornik {cite}`baldi1989neural` showed more: this global minimum is
# the only kind of local minimum; every other critical point is a saddle. So
# gradient descent should find the principal subspace. We test it on the 8x8
# digits of scikit-learn (64 pixels, centred), with $k = 5$:

# %%
digits = data.load_digits()
x_dig = digits.x.reshape(len(digits.x), -1).float() / 16  # (1797, 64) in [0, 1]
x_dig = x_dig - x_dig.mean(0)  # centred
_, s_dig, vt_dig = torch.linalg.svd(
    x_dig, full_matrices=False
)  # principal directions: rows of vt_dig
k = 5

torch.manual_seed(0)
encoder_lin, decoder_lin = nn.Linear(64, k, bias=False), nn.Linear(k, 64, bias=False)
opt = torch.optim.Adam([*encoder_lin.parameters(), *decoder_lin.parameters()], lr=3e-2)
for _ in range(400):  # full-batch training on the reconstruction loss
    loss_lin = (decoder_lin(encoder_lin(x_dig)) - x_dig).pow(2).sum(1).mean()
    opt.zero_grad()
    loss_lin.backward()
    opt.step()
pca_loss = s_dig[k:].pow(2).sum() / len(x_dig)
print(
    f"linear AE loss {loss_lin.item():.5f}; PCA optimum (eq-pca-optimum) {pca_loss.item():.5f}"
)

# %% [markdown]
# The loss reaches the bound of {eq}`eq-pca-optimum`. Do the subspaces agree
# too? The *principal angles* $\theta_1 \le \dots \le \theta_k$ between two
# $k$-dimensional subspaces are the arccosines of the singular values of
# $Q_1^\top Q_2$, where $Q_1, Q_2$ are orthonormal bases; all angles are zero
# exactly when the subspaces coincide. We compare the column space of the
# decoder $W_D$ with $V_k$, and, as a control, a random $k$-dimensional subspace:

# %%
show_source(ae.principal_angles)

# %%
angles = torch.rad2deg(ae.principal_angles(decoder_lin.weight.detach(), vt_dig[:k].T))
random_angles = torch.rad2deg(ae.principal_angles(torch.randn(64, k), vt_dig[:k].T))
print(f"angles decoder vs PCA (degrees): {[round(a, 4) for a in angles.tolist()]}")
print(
    f"angles random vs PCA (degrees):  {[round(a, 1) for a in random_angles.tolist()]}"
)
dlbook.report(
    "linear AE: largest principal angle to the PCA subspace",
    angles.max().item(),
    fmt=".4f",
    unit="deg",
)

# %% tags=["remove-cell"]
assert angles.max() < 0.5, (
    "the linear AE must find the PCA subspace (all principal angles about 0)"
)
assert random_angles.max() > 10, (
    "a random subspace is far from it (the check above could fail)"
)
assert abs(loss_lin.item() - pca_loss.item()) < 1e-3 * pca_loss.item()

# %% [markdown]
# All angles are a small fraction of a degree (the line above prints them),
# while a random subspace sits tens of degrees away. The subspace is right. But
# are the decoder's columns the principal components themselves? The loss
# depends on the weights only through the product $W_D W_E$, and for any
# invertible $k\times k$ matrix $A$
#
# $$
# W_D W_E = (W_D A^{-1})(A W_E),
# $$ (eq-gauge)
#
# so every basis of the subspace is equally good and nothing in
# {eq}`eq-recon-loss` prefers the orthonormal basis ordered by variance that
# PCA returns. The columns of $W_D$ are neither orthogonal nor of unit length,
# and each is a mixture of several principal directions:

# %%
w_dec = decoder_lin.weight.detach()  # (64, k): one column per code unit
cos = (
    F.normalize(w_dec, dim=0).T @ vt_dig[:k].T
)  # (k, k): cosine of column i with component j
gram = w_dec.T @ w_dec  # (k, k): identity for an orthonormal basis
print("|cos| of decoder column (rows) with principal component (columns):")
print(cos.abs().numpy().round(2))
print(
    f"column norms {gram.diagonal().sqrt().numpy().round(2)}; "
    f"largest |cos| between two columns {(F.normalize(w_dec, dim=0).T @ F.normalize(w_dec, dim=0) - torch.eye(k)).abs().max():.2f}"
)

# %% tags=["remove-cell"]
assert cos.abs().max(1).values.min() < 0.95, (
    "some decoder column mixes several principal components"
)
assert torch.allclose(cos.pow(2).sum(1), torch.ones(k), atol=1e-3), (
    "yet every column lies in the PCA subspace"
)

# %% [markdown]
# Each row of the cosine matrix has unit length (the column lies in the PCA
# subspace) but is spread over several components. Tying the weights
# ($W_D = W_E^\top$) only shrinks the symmetry {eq}`eq-gauge` to rotations of
# the subspace; to recover the components themselves something must tell the
# directions apart, for example training the code units one after another,
# each on what the previous ones left unexplained (PCA's own deflation). Nonlinear autoencoders face the same freedom in a subtler
# form: any invertible remapping of the code space can be absorbed by the
# decoder, so individual code units carry no guaranteed meaning.
#
# ## A deep convolutional autoencoder
#
# A deep autoencoder replaces the two matrices by networks
# {cite}`hinton2006reducing`. Ours is convolutional: two stride-2 convolutions
# and a 3x3 convolution take the 28x28 image to 7x7 feature maps, a linear layer
# to the code; the
# decoder mirrors it with transposed convolutions ({ref}`ch-convolutions`).

# %%
show_source(ae.ConvEncoder.__init__)

# %%
show_source(ae.ConvDecoder.__init__)

# %% [markdown]
# The decoder outputs one *logit* per pixel; `ae.Autoencoder` passes it through
# a sigmoid so that reconstructions, like the images, lie in $[0, 1]$. We train
# on the loss {eq}`eq-recon-loss` with the generic loop `fit`, feeding each
# image as both input and target.

# %%
train_set, test_set = data.load_fashion_mnist("train"), data.load_fashion_mnist("test")


def images(
    ds: data.ImageSet, n: int | None, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A class-balanced subset: images (n, 1, 28, 28) in [0, 1] and labels (n,), on the device."""
    sub = data.subset(ds, n, seed=seed)
    return data.to_float(sub.x).to(device), sub.y.to(device)


x_test, y_test = images(test_set, cfg.n_test)
x_ae, _ = images(train_set, cfg.n_ae)
torch.manual_seed(0)
autoenc = ae.Autoencoder(cfg.latent, cfg.width).to(device)
hist_ae = fit(
    autoenc,
    data.Batches(x_ae, x_ae, batch_size=cfg.batch, seed=0),
    epochs=cfg.ae_epochs,
    optimizer=torch.optim.Adam(autoenc.parameters(), lr=2e-3),
    loss_fn=F.mse_loss,
    amp=use_amp,
    desc="AE",
)


@torch.no_grad()
def mse(model: nn.Module, x_in: torch.Tensor, x_target: torch.Tensor) -> float:
    """Mean squared error per pixel of model(x_in) against x_target, in batches."""
    model.eval()
    errs = [
        F.mse_loss(model(a).float(), b, reduction="sum")
        for a, b in zip(x_in.split(500), x_target.split(500))
    ]
    return (torch.stack(errs).sum() / x_target.numel()).item()


print(
    f"{len(x_ae):,} training images, code size {cfg.latent}, training loss per epoch "
    f"{[round(v, 4) for v in hist_ae.train_loss]}, {hist_ae.total_s:.1f} s"
)
ae_test_mse = dlbook.report(
    "conv AE test MSE per pixel", mse(autoenc, x_test, x_test), fmt=".4f"
)

# %% tags=["remove-cell"]
assert ae_test_mse < 0.5 * x_test.var().item(), (
    "the AE must explain most of the pixel variance"
)
assert hist_ae.train_loss[-1] < hist_ae.train_loss[0] or cfg.ae_epochs == 1

# %% [markdown]
# The test error is a small fraction of the pixel variance (the code keeps
# most of each image). The grid shows test images (top) and their reconstructions:

# %% tags=["hide-input"]
with torch.no_grad():
    recon = autoenc(x_test[:12]).float()
fig, ax = plot.subplots(1, 1, width=9, height=2.6)
plot.image_grid(ax, torch.cat([x_test[:12], recon]), ncols=12, vrange=(0, 1))
ax.set_title(
    f"test images (top) and their reconstructions from {cfg.latent} numbers (profile: {session.profile})"
)
plot.show(fig)

# %% [markdown]
# The reconstructions keep shape, class and brightness but lose fine texture —
# prints, logos, the stitching of a bag — which sixteen numbers cannot store
# and the squared error rewards the decoder for averaging away. What did the
# code learn? We project the codes of the test images onto their top two
# principal directions and colour them by class, a label the autoencoder never saw:

# %% tags=["hide-input"]
import matplotlib

with torch.no_grad():
    codes = torch.cat(
        [autoenc.encode(xb).float() for xb in x_test.split(500)]
    ).cpu()  # (n_test, latent)
codes = codes - codes.mean(0)
proj = codes @ torch.linalg.svd(codes, full_matrices=False)[2][:2].T  # (n_test, 2)
fig, ax = plot.subplots(1, 1, width=7.5, height=5)
colors = matplotlib.colormaps["tab10"]
for c in range(10):
    m = y_test.cpu() == c
    ax.scatter(proj[m, 0], proj[m, 1], s=6, color=colors(c), label=test_set.classes[c])
ax.set_xlabel("code PC 1")
ax.set_ylabel("code PC 2")
ax.set_title(
    f"autoencoder codes of test images, 2-D projection (profile: {session.profile})"
)
ax.legend(markerscale=3, loc="center left", bbox_to_anchor=(1, 0.5))
plot.show(fig)

# %% [markdown]
# Classes form regions even though no label was used: footwear, bags and
# trousers gather in regions of their own, while pullovers, coats and shirts —
# which differ in details the code barely keeps — overlap. (Only two of the
# sixteen code dimensions are shown, so the separation is better than it looks.) This is why
# autoencoders are used for unsupervised pre-training and visualisation.
#
# ### Denoising autoencoders
#
# A *denoising autoencoder* {cite}`vincent2008extracting` is trained to undo a
# corruption: it sees a noisy image $\tilde{\mathbf{x}} = \mathbf{x} + \sigma\boldsymbol{\epsilon}$
# (clipped to $[0, 1]$, $\boldsymbol{\epsilon} \sim \mathcal{N}(0, I)$) and
# must output the clean one,
#
# $$
# \mathcal{L}_\text{DAE} = \mathbb{E}_{\mathbf{x}, \boldsymbol{\epsilon}}
#   \big\| \mathbf{x} - D_\theta\big(E_\phi(\tilde{\mathbf{x}})\big) \big\|^2 .
# $$ (eq-dae)
#
# Copying the input is now useless, so the network must learn what clean images
# look like. `data.Batches` applies the corruption to the input only, a new
# draw in every batch; the target stays clean.

# %%
sigma = 0.4


def add_noise(x: torch.Tensor) -> torch.Tensor:
    """Gaussian pixel noise of standard deviation sigma, clipped to [0, 1]: (B, 1, 28, 28) -> same."""
    return (x + sigma * torch.randn_like(x)).clamp(0, 1)


torch.manual_seed(0)
denoiser = ae.Autoencoder(cfg.latent, cfg.width).to(device)
hist_dae = fit(
    denoiser,
    data.Batches(x_ae, x_ae, batch_size=cfg.batch, seed=0, transform=add_noise),
    epochs=cfg.ae_epochs,
    optimizer=torch.optim.Adam(denoiser.parameters(), lr=2e-3),
    loss_fn=F.mse_loss,
    amp=use_amp,
    desc="DAE",
)
torch.manual_seed(1)
x_noisy = add_noise(x_test)
noisy_mse = dlbook.report(
    "noisy test images: MSE to clean", F.mse_loss(x_noisy, x_test).item(), fmt=".4f"
)
dae_mse = dlbook.report(
    "denoising AE output: MSE to clean", mse(denoiser, x_noisy, x_test), fmt=".4f"
)
plain_mse = dlbook.report(
    "plain AE on noisy input: MSE to clean", mse(autoenc, x_noisy, x_test), fmt=".4f"
)

# %% tags=["remove-cell"]
assert dae_mse < 0.7 * noisy_mse, (
    "denoising must clearly reduce the error of the noisy input"
)
if (
    cfg.profile != "smoke"
):  # with enough training the denoiser also beats the plain AE on noisy input
    assert dae_mse < plain_mse

# %% [markdown]
# The denoiser's output is much closer to the clean image than its noisy input
# (compare the first two numbers). The third number is the plain autoencoder
# given the same noisy images: its bottleneck removes some noise too, since
# the noise does not fit in sixteen numbers, but it was never taught what the
# noise looks like, and in the `cpu` and `gpu` profiles the denoiser beats it
# clearly (asserted there; the two-epoch `smoke` run is too short to separate them).

# %% tags=["hide-input"]
with torch.no_grad():
    denoised = denoiser(x_noisy[:10]).float()
fig, ax = plot.subplots(1, 1, width=9, height=3.2)
plot.image_grid(
    ax, torch.cat([x_noisy[:10], denoised, x_test[:10]]), ncols=10, vrange=(0, 1)
)
ax.set_title(f"noisy input, denoised output, clean image (profile: {session.profile})")
plot.show(fig)

# %% [markdown]
# ## Variational autoencoders
#
# A plain autoencoder is not a generative model: nothing says which codes the
# decoder understands, and decoding a random vector gives garbage. The
# *variational autoencoder* (VAE) {cite}`kingma2014auto,rezende2014stochastic`
# fixes this with a probabilistic model. A latent variable is drawn from a prior
# $p(\mathbf{z}) = \mathcal{N}(\mathbf{0}, I)$ and the decoder defines
# $p_\theta(\mathbf{x}\mid\mathbf{z})$; here each pixel is a Bernoulli variable
# with probability $\operatorname{sigmoid}(D_\theta(\mathbf{z}))$ (Fashion-MNIST
# pixels are grey levels, not bits; using them as Bernoulli targets is the
# common practical choice, so the "nats" below are a loss, not an exact
# log-likelihood). Training
# should maximise the likelihood $p_\theta(\mathbf{x}) = \int p_\theta(\mathbf{x}\mid\mathbf{z})\, p(\mathbf{z})\, d\mathbf{z}$,
# an integral nobody can compute. The encoder now outputs a distribution
# $q_\phi(\mathbf{z}\mid\mathbf{x}) = \mathcal{N}(\boldsymbol{\mu}_\phi(\mathbf{x}), \operatorname{diag}\boldsymbol{\sigma}^2_\phi(\mathbf{x}))$,
# and Jensen's inequality gives a lower bound, the *evidence lower bound* (ELBO):
#
# $$
# \log p_\theta(\mathbf{x})
#  = \log \mathbb{E}_{q_\phi(\mathbf{z}\mid\mathbf{x})}\Big[\frac{p_\theta(\mathbf{x}\mid\mathbf{z})\,p(\mathbf{z})}{q_\phi(\mathbf{z}\mid\mathbf{x})}\Big]
#  \ \ge\ \underbrace{\mathbb{E}_{q_\phi(\mathbf{z}\mid\mathbf{x})}\big[\log p_\theta(\mathbf{x}\mid\mathbf{z})\big]}_{\text{reconstruction}}
#  - \underbrace{\mathrm{KL}\big(q_\phi(\mathbf{z}\mid\mathbf{x})\,\|\,p(\mathbf{z})\big)}_{\text{regulariser}} .
# $$ (eq-elbo)
#
# The gap is $\mathrm{KL}(q_\phi(\mathbf{z}\mid\mathbf{x})\,\|\,p_\theta(\mathbf{z}\mid\mathbf{x}))$,
# so raising the bound both raises the likelihood and makes the encoder a better
# approximation of the true posterior. The first term is a reconstruction
# loss (for Bernoulli pixels, minus the binary cross-entropy); the second pulls
# every code distribution towards the prior, so that the region the decoder
# is trained on is the region we will later sample from.
#
# ### The KL term in closed form
#
# For a diagonal Gaussian and a standard normal prior the KL divergence has a
# closed form, summed over the $k$ latent dimensions:
#
# $$
# \mathrm{KL}\big(\mathcal{N}(\boldsymbol{\mu}, \operatorname{diag}\boldsymbol{\sigma}^2)\,\|\,\mathcal{N}(\mathbf{0}, I)\big)
#  = \frac12 \sum_{j=1}^k \big(\mu_j^2 + \sigma_j^2 - \log \sigma_j^2 - 1\big).
# $$ (eq-kl)
#
# The encoder outputs $\log\sigma^2$, which can be any real number:

# %%
show_source(ae.gaussian_kl)

# %% [markdown]
# We check it against PyTorch's own `torch.distributions.kl_divergence`:

# %%
g = torch.Generator().manual_seed(0)
mu_t, logvar_t = 2 * torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
ours = ae.gaussian_kl(mu_t, logvar_t)
ref = torch.distributions.kl_divergence(
    torch.distributions.Normal(mu_t, (0.5 * logvar_t).exp()),
    torch.distributions.Normal(0.0, 1.0),
).sum(-1)
print(f"closed form {ours.numpy().round(4)}\ntorch       {ref.numpy().round(4)}")

# %% tags=["remove-cell"]
torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)

# %% [markdown]
# ### The reparameterization trick
#
# The reconstruction term is an expectation over $\mathbf{z} \sim q_\phi$, which
# we estimate with one sample per image. But a sample drawn by a random number
# generator has no derivative with respect to $\boldsymbol{\mu}$ and
# $\boldsymbol{\sigma}$: the encoder would get no gradient from the
# reconstruction loss. The trick is to draw the noise first and make the
# sample a deterministic, differentiable function of the parameters,
#
# $$
# \mathbf{z} = \boldsymbol{\mu}_\phi(\mathbf{x}) + \boldsymbol{\sigma}_\phi(\mathbf{x}) \odot \boldsymbol{\epsilon},
# \qquad \boldsymbol{\epsilon} \sim \mathcal{N}(\mathbf{0}, I),
# $$ (eq-reparam)
#
# so that $\partial \mathbf{z} / \partial \boldsymbol{\mu} = I$ and
# $\partial \mathbf{z} / \partial \boldsymbol{\sigma} = \operatorname{diag}\boldsymbol{\epsilon}$.

# %%
show_source(ae.reparameterize)

# %% [markdown]
# PyTorch's distributions know both ways of sampling: `.sample()` cuts the
# graph, `.rsample()` reparameterizes. Ours behaves like the latter:

# %%
mu_r = torch.zeros(1, 3, requires_grad=True)
logvar_r = torch.zeros(1, 3, requires_grad=True)
z_cut = torch.distributions.Normal(mu_r, (0.5 * logvar_r).exp()).sample()
z_ours = ae.reparameterize(mu_r, logvar_r, generator=torch.Generator().manual_seed(0))
z_ours.pow(2).sum().backward()
print(f".sample() keeps a graph: {z_cut.requires_grad}; ours: {z_ours.requires_grad}")
print(
    f"d sum(z^2) / d mu = {mu_r.grad.numpy().round(3)} (= 2 z = {2 * z_ours.detach().numpy().round(3)})"
)

# %% tags=["remove-cell"]
assert not z_cut.requires_grad and z_ours.requires_grad
torch.testing.assert_close(mu_r.grad, 2 * z_ours.detach())

# %% [markdown]
# The gradient with respect to $\boldsymbol{\mu}$ is exactly $2\mathbf{z}$,
# as the chain rule through {eq}`eq-reparam` demands. Putting the pieces
# together, the VAE's loss is the negative ELBO per image: the binary
# cross-entropy of the decoded sample, summed over pixels, plus the KL term
# (the weight `beta` is 1 for the ELBO; Exercise 2 changes it).

# %%
show_source(ae.VAE.loss)

# %% [markdown]
# ### Training a convolutional VAE
#
# The encoder is the `ConvEncoder` from above with $2k$ outputs, $\boldsymbol{\mu}$
# and $\log\boldsymbol{\sigma}^2$; the decoder is the same `ConvDecoder`. The
# training loop is short enough to write out; a one-cycle schedule
# ({ref}`ch-optimization`) warms the learning rate up and anneals it.


# %%
def train_vae(
    vae: ae.VAE,
    x: torch.Tensor,
    *,
    epochs: int,
    beta: float = 1.0,
    lr: float = 3e-3,
    seed: int = 0,
) -> list[float]:
    """Minimise the negative ELBO over images x (N, 1, 28, 28); returns the mean loss per epoch."""
    batches = data.Batches(x, batch_size=cfg.batch, seed=seed)
    opt = torch.optim.Adam(vae.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=epochs * len(batches), pct_start=0.2
    )
    curve = []
    vae.train()
    for _ in range(epochs):
        total = torch.zeros((), device=x.device)
        for (xb,) in batches:
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
                loss, _, _ = vae.loss(xb, beta=beta)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.detach() * len(xb)
        curve.append(total.item() / len(x))
    return curve


x_vae, _ = images(train_set, cfg.n_vae, seed=1)
torch.manual_seed(0)
vae = ae.VAE(cfg.latent, cfg.width).to(device)
t0 = time.perf_counter()
vae_curve = train_vae(vae, x_vae, epochs=cfg.vae_epochs)
vae.eval()
with torch.no_grad():
    _, rec_test, kl_test = vae.loss(x_test[:500])
print(
    f"{len(x_vae):,} images, {cfg.vae_epochs} epochs, {time.perf_counter() - t0:.1f} s; "
    f"negative ELBO per epoch {[round(v, 1) for v in vae_curve]}"
)
print(
    f"test: reconstruction {rec_test.item():.1f} + KL {kl_test.item():.1f} nats per image"
)
dlbook.report(
    "VAE test negative ELBO (nats per image)", (rec_test + kl_test).item(), fmt=".1f"
)

# %% tags=["remove-cell"]
assert vae_curve[-1] < vae_curve[0], "the negative ELBO must fall during training"
assert 1.0 < kl_test.item() < 200, (
    "the codes must carry information (KL > 0) but stay near the prior"
)
assert (rec_test + kl_test).item() < 400, (
    "well below the 543 nats of predicting every pixel as 0.5"
)

# %% [markdown]
# The negative ELBO falls epoch by epoch; on the test images it splits into a
# reconstruction term and a much smaller KL term — a bound on the information,
# in nats, that the code carries about each image. A model that
# predicts every pixel as 0.5 would pay $784 \log 2 \approx 543$ nats.
#
# ### Samples and interpolations
#
# To *generate*, draw $\mathbf{z} \sim \mathcal{N}(\mathbf{0}, I)$ and decode.
# We show the Bernoulli means (the pixel probabilities) rather than random
# black-and-white draws from them, as is usual.

# %% tags=["hide-input"]
samples = vae.sample(
    cfg.n_test, generator=torch.Generator().manual_seed(0)
)  # (n_test, 1, 28, 28)
fig, ax = plot.subplots(1, 1, width=8, height=5.2)
plot.image_grid(ax, samples[:48], ncols=12, vrange=(0, 1))
ax.set_title(
    f"VAE samples from the prior, {len(x_vae):,} training images (profile: {session.profile})"
)
plot.show(fig)

# %% [markdown]
# The samples are recognisable garments of most classes, smoother than real
# images: the Gaussian posterior and the per-pixel likelihood make the decoder
# average over details it is unsure of, the well-known blur of VAEs. Because
# the KL term packs the codes of all training images around the origin, the
# latent space has no holes, and a straight line between the codes of two
# images decodes to a gradual morph:

# %% tags=["hide-input"]
pairs = [
    (7, 9),
    (0, 2),
    (1, 3),
]  # (class a, class b): sneaker -> ankle boot, T-shirt -> pullover, trouser -> dress
first = {c: int((y_test == c).nonzero()[0]) for c in range(10)}
steps = torch.linspace(0, 1, 10, device=device)[:, None]
with torch.no_grad():
    mu_all = vae.encode(x_test[[first[c] for pair in pairs for c in pair]])[
        0
    ].float()  # (6, latent)
    rows = [
        torch.sigmoid(
            vae.decoder((1 - steps) * mu_all[2 * i] + steps * mu_all[2 * i + 1]).float()
        )
        for i in range(len(pairs))
    ]
fig, ax = plot.subplots(1, 1, width=8, height=3)
plot.image_grid(ax, torch.cat(rows), ncols=10, vrange=(0, 1))
ax.set_title(
    f"decoding straight lines between the codes of two test images (profile: {session.profile})"
)
plot.show(fig)

# %% [markdown]
# Each row starts at the reconstruction of one test image and ends at one of a
# related class (sneaker to ankle boot, T-shirt to pullover, trousers to dress).
# In between, the shape changes gradually instead of two pictures being
# cross-faded: every point on the path is decoded to an image of the kind the
# decoder was trained to produce. (Between unrelated classes, say trousers and
# a sneaker, the path passes through hybrids — the decoder must show
# *something* for every code.)
#
# ### How good are the samples?
#
# Looking is not measuring. The *Fréchet distance* {cite}`heusel2017gans`
# fits a Gaussian to features of real images and one to features of generated
# images and compares them:
# $d^2 = \|\mathbf{m}_r - \mathbf{m}_g\|^2 + \operatorname{tr}\big(C_r + C_g - 2 (C_r^{1/2} C_g C_r^{1/2})^{1/2}\big)$.
# The usual features come from an ImageNet network, which an offline book
# cannot download; Part IV uses instead the penultimate layer of its own
# Fashion-MNIST classifier (`dlbook.frechet`, trained once and cached for
# chapters 12–14). A number needs a reference point, so we compare with a simple
# generative model: a Gaussian with the *full* covariance of the training pixels,
# fitted to the same images the VAE saw (its samples are clipped to $[0, 1]$).
# They have the right mean and the right pixel correlations — everything a
# linear-Gaussian model can know.

# %%
judge, judge_acc = frechet.fashion_classifier(
    cfg.clf_n,
    epochs=cfg.clf_epochs,
    device=device,
    n_test=cfg.n_test,
    train=train_set,
    test=test_set,
)
print(f"judge: test accuracy {judge_acc:.3f}")
flat = x_vae.reshape(len(x_vae), -1).cpu().double()  # (n_vae, 784)
pix_mean, pix_cov = flat.mean(0), torch.cov(flat.T)
chol = torch.linalg.cholesky(pix_cov + 1e-5 * torch.eye(784, dtype=torch.float64))
g = torch.Generator().manual_seed(1)
gauss = (
    pix_mean + torch.randn(cfg.n_test, 784, generator=g, dtype=torch.float64) @ chol.T
)
gauss = gauss.clamp(0, 1).float().reshape(-1, 1, 28, 28)  # (n_test, 1, 28, 28)
feat_test = frechet.embed(judge, x_test)
fd = {
    name: frechet.frechet_distance(frechet.embed(judge, imgs), feat_test)
    for name, imgs in [
        ("VAE samples", samples),
        ("full-covariance Gaussian", gauss),
        ("real training images", x_vae[: cfg.n_test]),
    ]
}
for name, value in fd.items():
    dlbook.report(f"Fréchet distance to test images: {name}", value, fmt=".2f")

# %% tags=["remove-cell"]
assert fd["real training images"] < fd["VAE samples"], "real images are the floor"
if (
    cfg.profile == "smoke"
):  # too small a VAE to promise more; it must still be far better than noise
    noise = torch.rand(cfg.n_test, 1, 28, 28)
    assert fd["VAE samples"] < frechet.frechet_distance(
        frechet.embed(judge, noise), feat_test
    )
else:
    assert fd["VAE samples"] < fd["full-covariance Gaussian"], (
        "the VAE must beat the Gaussian baseline"
    )

# %% [markdown]
# Real images from the training set give the floor (they differ from the test
# images only by sampling). In the `cpu` and `gpu` profiles the VAE's samples
# are closer to the real images than those of the full-covariance Gaussian,
# whose samples (below) have the right correlations but no coherent shapes; the
# check above asserts it. In the tiny `smoke` profile the VAE is trained too
# briefly to promise that, and the check only asserts that its samples are far
# better than uniform noise.

# %% tags=["hide-input"]
fig, ax = plot.subplots(1, 1, width=8, height=2.2)
plot.image_grid(ax, gauss[:12], ncols=12, vrange=(0, 1))
ax.set_title(
    f"samples of the full-covariance Gaussian baseline (profile: {session.profile})"
)
plot.show(fig)

# %% [markdown]
# ### Discrete codes: the VQ-VAE
#
# The blur has two sources: a Gaussian posterior that overlaps between images,
# and a KL term that can push the encoder to ignore some latent dimensions
# ("posterior collapse"), most of all with a powerful decoder. The
# *vector-quantised VAE* (VQ-VAE) {cite}`vandenoord2017neural` replaces the
# continuous code by a grid of indices into a learned codebook of vectors: the
# encoder's output at each position is snapped to its nearest codebook entry,
# gradients skip the non-differentiable snapping (the straight-through
# estimator), and the prior over index grids is learned afterwards by a
# separate autoregressive model. Its reconstructions are sharp, and learned
# discrete image codes of this kind became the tokens of later image
# generators; autoencoders with discrete or lightly regularised codes also
# provide the latent space of latent diffusion ({ref}`ch-diffusion`).
#
# ## Memorization in over-parameterized autoencoders
#
# What does a *large* autoencoder do with a *small* training set? An
# autoencoder is a map $f: \mathbb{R}^d \to \mathbb{R}^d$, so it can be iterated,
# $\mathbf{x}_{t+1} = f(\mathbf{x}_t)$. A training image with
# $f(\mathbf{x}^\mu) = \mathbf{x}^\mu$ is a *fixed point*; it is an *attractor*
# if iterates started nearby converge to it. Linearising
# $f(\mathbf{x}^\mu + \boldsymbol{\delta}) \approx \mathbf{x}^\mu + J\boldsymbol{\delta}$
# with the Jacobian $J_{ij} = \partial f_i / \partial x_j\,(\mathbf{x}^\mu)$
# shows when: the deviation evolves as $\boldsymbol{\delta}_t = J^t \boldsymbol{\delta}_0$, which
# shrinks for every start exactly when all eigenvalues lie inside the unit circle,
#
# $$
# \rho\big(J(\mathbf{x}^\mu)\big) = \max_i |\lambda_i| < 1 .
# $$ (eq-attractor)
#
# Radhakrishnan, Belkin and Uhler {cite}`radhakrishnan2020overparameterized`
# found that over-parameterized autoencoders trained with gradient descent
# make their training examples attractors: the network is an *associative
# memory* that completes a corrupted input to the stored example. Here,
# eight Fashion-MNIST images, one of each of eight classes, and a fully
# connected network with five hidden layers of 256 ReLU units — about 660,000
# parameters for $8 \times 784$ numbers — trained with full-batch Adam to a loss
# of essentially zero. Two details of training matter. The learning rate
# decays to zero over the last quarter of the steps: at a constant rate Adam
# keeps jumping away from the zero-loss solutions, and where it happens to
# stop is luck. And the run is long: in our trials with other seeds, the
# spectral radius at the training images kept falling with training time;
# after half as many steps several seeds still left an image with a spectral
# radius above one, a fixed point that does not attract. (Depth mattered as
# well: with three hidden layers of the same width some images also ended up
# just above one.)

# %%
mem_idx = [int((train_set.y == c).nonzero()[0]) for c in range(8)]
x_mem = data.to_float(train_set.x[mem_idx]).reshape(
    8, -1
)  # (8, 784), on the CPU in every profile
mem_steps = 1_600  # the same in every profile: this experiment is small


def wide_mlp(width: int = 256, hidden_layers: int = 5) -> nn.Sequential:
    """A fully connected autoencoder R^784 -> R^784 with ReLU hidden layers (no bottleneck)."""
    layers = [nn.Linear(784, width), nn.ReLU()]
    for _ in range(hidden_layers - 1):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, 784))


def train_memorizer(steps: int) -> tuple[nn.Sequential, float]:
    """Full-batch Adam on the eight images, the learning rate decayed to zero over the last quarter of the steps.

    Returns the network and its final training MSE.
    """
    torch.manual_seed(0)
    f = wide_mlp()
    opt = torch.optim.Adam(f.parameters(), lr=1e-3)
    decay = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: min(1.0, 4 * (1 - step / steps))
    )
    for _ in range(steps):
        loss = F.mse_loss(f(x_mem), x_mem)
        opt.zero_grad()
        loss.backward()
        opt.step()
        decay.step()
    return f.eval(), loss.item()


f_mem, loss_mem = train_memorizer(mem_steps)
print(
    f"{sum(p.numel() for p in f_mem.parameters()):,} parameters; final training MSE {loss_mem:.1e}"
)

# %% tags=["remove-cell"]
assert loss_mem < 1e-8, "the network must fit its eight images almost exactly"

# %% [markdown]
# Now we iterate the trained map from noisy versions of the training images
# (noise of standard deviation 0.3 per pixel, four starts per image) and from
# pure uniform noise, for 200 steps, with `ae.iterate_map`:

# %%
g = torch.Generator().manual_seed(0)
starts = x_mem.repeat(4, 1) + 0.3 * torch.randn(
    32, 784, generator=g
)  # (32, 784): start i is near image i % 8
traj = ae.iterate_map(f_mem, starts, steps=200)  # (201, 32, 784)
dist_end, nearest = torch.cdist(traj[-1], x_mem).min(1)  # (32,), (32,)
traj_rand = ae.iterate_map(f_mem, torch.rand(8, 784, generator=g), steps=200)
dist_rand, nearest_rand = torch.cdist(traj_rand[-1], x_mem).min(1)
tol = 0.05 * math.sqrt(784)  # an RMS pixel error of 0.05
converged = (dist_end < tol).float().mean().item()
to_own = (nearest == torch.arange(32) % 8).float().mean().item()
dlbook.report("noisy starts ending at a training image", converged, fmt=".3f")
dlbook.report("noisy starts ending at their own training image", to_own, fmt=".3f")
dlbook.report(
    "random starts ending at a training image",
    (dist_rand < tol).float().mean().item(),
    fmt=".3f",
)
print(
    f"distance to the nearest training image: {torch.cdist(starts, x_mem).min(1).values.mean():.2f} at the "
    f"start, median {dist_end.median():.4f} after 200 steps; random starts: nearest images "
    f"{nearest_rand.tolist()} at distances {dist_rand.numpy().round(3)}"
)

# %% tags=["remove-cell"]
assert converged >= 0.75, "most noisy starts must converge to a training image"
assert to_own >= 0.75, "and mostly to the image they started near"

# %% [markdown]
# Most noisy starts converge to a training image, nearly always to the one
# they were drawn around (the lines above give the fractions and distances).
# Starts of pure noise are pulled to the training image (or the few images)
# with the largest basin of attraction; the last lines show which, and how many
# of them arrive within the tolerance in 200 steps. The figure follows some trajectories; each row is one
# start, the last column the training image it was closest to at the end.

# %% tags=["hide-input"]
show_steps = [0, 1, 2, 3, 5, 10, 20, 50, 200]
rows = [traj[show_steps, i] for i in (0, 1, 10, 13)] + [
    traj_rand[show_steps, i] for i in (0, 1)
]
ends = [nearest[i] for i in (0, 1, 10, 13)] + [nearest_rand[i] for i in (0, 1)]
grid = torch.cat([torch.cat([r, x_mem[e][None]]) for r, e in zip(rows, ends)]).reshape(
    -1, 1, 28, 28
)
fig, ax = plot.subplots(1, 1, width=8, height=5.6)
plot.image_grid(ax, grid.clamp(0, 1), ncols=len(show_steps) + 1, vrange=(0, 1))
ax.set_title(
    f"iterating x <- f(x): steps {show_steps}, then the nearest training image\n"
    f"(four noisy starts, two random starts; profile: {session.profile})"
)
plot.show(fig)

# %% [markdown]
# Finally the linear test {eq}`eq-attractor`: the Jacobian of $f$ at each
# training image, a $784 \times 784$ matrix computed with `torch.func.jacrev`,
# and its eigenvalues.

# %%
show_source(ae.jacobian_spectrum)

# %%
spectra = [
    ae.jacobian_spectrum(f_mem, x_mem[i]) for i in range(len(x_mem))
]  # 8 x (784,) complex
radii = torch.stack([s.abs().max() for s in spectra])
print(f"spectral radius at each training image: {radii.numpy().round(3)}")
rho_max = dlbook.report(
    "largest |eigenvalue| of the Jacobian at a training image",
    radii.max().item(),
    fmt=".4f",
)

# %% tags=["remove-cell"]
assert rho_max < 1, "every training image must be an attractor (eq-attractor)"
with torch.no_grad():  # the Jacobian is right: compare J @ v with a finite difference
    v = torch.randn(784, generator=g)
    jv = torch.func.jvp(f_mem, (x_mem[0],), (v,))[1]
    fd_jv = (f_mem(x_mem[0] + 1e-3 * v) - f_mem(x_mem[0] - 1e-3 * v)) / 2e-3
    assert torch.allclose(jv, fd_jv, atol=1e-2)

# %% tags=["hide-input"]
fig, ax = plot.subplots(1, 1, width=4.6, height=4.4)
circle = torch.linspace(0, 2 * math.pi, 200)
ax.plot(circle.cos(), circle.sin(), color="k", lw=1, label="unit circle")
ax.scatter(
    spectra[0].real,
    spectra[0].imag,
    s=10,
    label=f"eigenvalues at image 0 ({train_set.classes[0]})",
)
ax.set_xlabel("Re $\\lambda$")
ax.set_ylabel("Im $\\lambda$")
ax.set_aspect("equal")
ax.set_title(f"Jacobian spectrum at a training image (profile: {session.profile})")
ax.legend(loc="upper left", fontsize=7)
plot.show(fig)

# %% [markdown]
# All eigenvalues lie inside the unit circle at every training image, so each
# is a stable fixed point. Most are close to zero: in directions away from the
# training data the map forgets the deviation at once; a few large ones, in
# directions the eight images span, shrink it slowly. Nothing in the loss asked
# for this — it only asked for $f(\mathbf{x}^\mu) = \mathbf{x}^\mu$ — so
# attraction is an implicit bias of training over-parameterized networks with
# gradient descent, the same kind of implicit regularization that picks the
# minimum-norm solution in over-parameterized regression ({ref}`ch-generalization`).
# It is also a warning: a large generative model can store and return
# training examples.
#
# ## Summary
#
# - An autoencoder is an encoder, a bottleneck and a decoder trained on a
#   reconstruction loss {eq}`eq-recon-loss`; the bottleneck (or noise, or a
#   penalty) keeps it from copying its input.
# - A linear autoencoder trained by gradient descent reaches the PCA optimum
#   {eq}`eq-pca-optimum`: its decoder spans the top principal subspace (all
#   principal angles near zero), but because of the symmetry {eq}`eq-gauge`
#   it returns an arbitrary basis of it, not the components.
# - Convolutional autoencoders reconstruct Fashion-MNIST from 16 numbers and
#   organise their codes by class without labels; a denoising autoencoder
#   {eq}`eq-dae` learns to remove noise.
# - A VAE maximises the ELBO {eq}`eq-elbo`: reconstruction minus a KL term with
#   the closed form {eq}`eq-kl`, trained through the reparameterization
#   {eq}`eq-reparam`. Its prior samples and interpolations are plausible but
#   blurry; by the Fréchet distance of the book's classifier it beats a
#   full-covariance Gaussian (in the `cpu` and `gpu` profiles).
# - Over-parameterized autoencoders trained on a few images make them
#   attractors of $\mathbf{x} \mapsto f(\mathbf{x})$: iterates converge to
#   training images and the Jacobian's spectral radius there is below one.
#
# ## Exercises
#
# **Exercise 1 (PCA against a deep autoencoder).** With the same code size $k$,
# which reconstructs the test images better: PCA with $k$ components fitted to
# the autoencoder's training images, or the convolutional autoencoder? Compute
# both test errors per pixel for $k$ = `cfg.latent`.

# %% tags=["hide-cell"]
# Solution to Exercise 1: PCA on the same training images, then project the test images.
flat_tr = x_ae.reshape(len(x_ae), -1).float().cpu()
mean_tr = flat_tr.mean(0)
comps = torch.linalg.svd(flat_tr - mean_tr, full_matrices=False)[2][
    : cfg.latent
]  # (k, 784)
flat_te = x_test.reshape(len(x_test), -1).float().cpu()
pca_rec = (flat_te - mean_tr) @ comps.T @ comps + mean_tr
pca_mse = F.mse_loss(pca_rec, flat_te).item()
print(
    f"k = {cfg.latent}: PCA test MSE {pca_mse:.4f}, conv AE test MSE {ae_test_mse:.4f}"
)
assert 0 < pca_mse < x_test.var().item()
if cfg.profile != "smoke":
    assert ae_test_mse < pca_mse, (
        "the nonlinear AE beats the best linear code of the same size"
    )

# %% [markdown]
# PCA is the best *linear* code, so it is hard to beat with a tiny budget; the
# convolutional autoencoder, whose decoder can bend the 16-dimensional code
# space into a curved surface, beats it once it has seen enough data (asserted
# in the `cpu` and `gpu` profiles; in `smoke` the autoencoder trains for two
# epochs on 1,500 images and may not).
#
# **Exercise 2 ($\beta$-VAE).** Weighting the KL term by $\beta > 1$ gives the
# $\beta$-VAE {cite}`higgins2017beta`, which trades reconstruction for codes
# closer to the prior (and, its authors found, more disentangled factors). Train
# two VAEs with $\beta = 1$ and $\beta = 4$ on the same images and compare the two
# terms of the loss on the test images.

# %% tags=["hide-cell"]
# Solution to Exercise 2
x_beta, _ = images(train_set, cfg.n_beta, seed=2)
terms = {}
for beta in (1.0, 4.0):
    torch.manual_seed(0)
    model_b = ae.VAE(cfg.latent, cfg.width).to(device)
    train_vae(model_b, x_beta, epochs=cfg.beta_epochs, beta=beta)
    model_b.eval()
    with torch.no_grad():
        _, rec_b, kl_b = model_b.loss(x_test[:500])
    terms[beta] = (rec_b.item(), kl_b.item())
    print(
        f"beta = {beta}: reconstruction {rec_b.item():.1f}, KL {kl_b.item():.1f} nats per image"
    )
assert terms[4.0][1] < terms[1.0][1], "a larger beta must shrink the KL term"
assert terms[4.0][0] > terms[1.0][0], "and pay for it in reconstruction"

# %% [markdown]
# With $\beta = 4$ the code carries fewer nats about each image and the
# reconstructions are worse: the encoder keeps only the most important
# factors.
#
# **Exercise 3 (fixed points that do not attract).** The linear autoencoder
# $f(\mathbf{x}) = W_D W_E \mathbf{x}$ of the first section also reproduces every
# point of its subspace exactly. Are those points attractors? Compute the
# eigenvalues of its Jacobian $W_D W_E$ and say what iterating $f$ does.

# %% tags=["hide-cell"]
# Solution to Exercise 3: the Jacobian of a linear map is the map itself.
f_lin = lambda x: decoder_lin(encoder_lin(x))  # noqa: E731
eig_lin = ae.jacobian_spectrum(f_lin, x_dig[0]).abs()
print(
    f"|eigenvalues| of W_D W_E: top {k}: {eig_lin[:k].numpy().round(4)}, next: {eig_lin[k : k + 3].numpy().round(6)}"
)
assert torch.allclose(eig_lin[:k], torch.ones(k, dtype=torch.float64), atol=0.02), (
    "k eigenvalues near 1"
)
assert eig_lin[k:].max() < 1e-3
with torch.no_grad():
    two = ae.iterate_map(f_lin, x_dig[:3], steps=2)
assert (two[2] - two[1]).norm() < 1e-2 * (two[0] - two[1]).norm(), (
    "one step projects, the next barely moves"
)

# %% [markdown]
# $W_D W_E$ is, up to training error, the orthogonal projection onto the
# principal subspace: $k$ eigenvalues equal to 1 and the rest 0. Iterating
# projects once and then (almost) stands still; every point of the subspace is a fixed
# point but none attracts its neighbours within the subspace (eigenvalue 1 is
# neutral). The memorizing network instead isolates eight points with all
# eigenvalues below one.
#
# **Exercise 4 (how much training makes a memory?).** Following the
# memorization lecture, train the same network on the eight images for
# only a twentieth of the steps, and check whether the training images are still
# fixed points and attractors.

# %% tags=["hide-cell"]
# Solution to Exercise 4
f_short, loss_short = train_memorizer(mem_steps // 20)
with torch.no_grad():
    end_short = ae.iterate_map(f_short, starts, steps=200)[-1]
short_converged = (
    (torch.cdist(end_short, x_mem).min(1).values < tol).float().mean().item()
)
print(
    f"{mem_steps // 20} steps: training MSE {loss_short:.1e}; "
    f"noisy starts that reach a training image: {short_converged:.2f} (fully trained: {converged:.2f})"
)
assert loss_short > 100 * loss_mem and short_converged < converged

# %% [markdown]
# After a short training the images are not even fixed points — $f$ maps them
# to blurred mixtures — and the iterates settle elsewhere. Memorization in the
# sense of attractors needs the near-interpolating regime of long training.
#
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
