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
# - show that a linear autoencoder learns the principal subspace of the data, and explain
#   why it does not learn the principal components themselves;
# - train convolutional and denoising autoencoders and read their latent space;
# - derive the evidence lower bound of a variational autoencoder, its closed-form KL term
#   and the reparameterization trick, write them out, and judge the samples with a
#   Fréchet distance;
# - show that over-parameterized autoencoders, fully connected and convolutional, store
#   their training images as attractors of the map $x \mapsto f(x)$.
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

# %%
import math
import time

import scipy.linalg
import torch
import torch.nn.functional as F
from torch import nn

from dlbook import autoencoder as ae
from dlbook import check, data, frechet, plot
from dlbook.autoencoder import ConvDecoder, ConvEncoder, check_images
from dlbook.train import Precision, fit

# %% [markdown]
# The profiles differ in how many Fashion-MNIST images {cite}`xiao2017fashion`
# the networks see, for how many epochs, and how wide they are. The `gpu`
# profile trains on all 60,000 images; the images shown below are only as good
# as the profile that made them, and every figure title says which one it was.
# The `n_*` settings count training images (`None`: all 60,000) and `width`
# the channels of the convolutional networks.

# %%
# fmt: off
cfg = dlbook.config(
    smoke=dict(clf_n=3_000, clf_epochs=2, n_ae=1_500, ae_epochs=2, n_vae=2_000,
               vae_epochs=2, width=16, latent=16, batch=32, n_test=500,
               n_beta=1_000, beta_epochs=1, mem_conv_steps=60, mem_conv_width=8),
    cpu=dict(clf_n=12_000, clf_epochs=2, n_ae=12_000, ae_epochs=3, n_vae=12_000,
             vae_epochs=10, width=16, latent=16, batch=64, n_test=2_000,
             n_beta=3_000, beta_epochs=2, mem_conv_steps=1_000, mem_conv_width=32),
    gpu=dict(clf_n=None, clf_epochs=6, n_ae=None, ae_epochs=10, n_vae=None,
             vae_epochs=30, width=64, latent=16, batch=256, n_test=10_000,
             n_beta=20_000, beta_epochs=8, mem_conv_steps=1_000, mem_conv_width=32),
)
# fmt: on
use_amp = True  # mixed precision where the GPU has it (dlbook.train.Precision)
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
# copying. {numref}`fig-autoencoders-architecture` shows the hourglass shape of
# the convolutional autoencoder we train below.

# %% [markdown]
# :::{figure} ../figs/autoencoder.svg
# :name: fig-autoencoders-architecture
# :alt: A 28x28 T-shirt image enters a narrowing orange trapezoid labelled encoder with its layers, which outputs a small green code z of size k; a widening trapezoid labelled decoder turns it into a blurred reconstruction.
# :width: 100%
# An autoencoder: the encoder $E_\phi$ (two stride-2 convolutions, one 3x3
# convolution and a linear layer) compresses the image to a code $\mathbf{z}$ of
# $k$ numbers, the decoder $D_\theta$ mirrors it with transposed convolutions, and
# the loss compares $\hat{\mathbf{x}}$ with $\mathbf{x}$. (The reconstruction shown
# is a blurred copy, for illustration.)
# :::

# %% [markdown]
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
# \min_{W_E, W_D} \frac1N \| X - X W_E^\top W_D^\top \|_F^2
# = \frac1N \sum_{j > k} s_j^2,
# $$ (eq-pca-optimum)
#
# attained when $W_D W_E = V_k V_k^\top$.
#
# Baldi and Hornik {cite}`baldi1989neural` showed more: this global minimum is
# the only kind of local minimum; every other critical point is a saddle. So
# gradient descent should find the principal subspace. We test it on the 8x8
# digits of scikit-learn (64 pixels, centred), with $k = 5$:

# %%
digits = data.load_digits()
x_dig = digits.x.reshape(len(digits.x), -1).float() / 16  # (1797, 64) in [0, 1]
x_dig = x_dig - x_dig.mean(0)  # centred
_, s_dig, vt_dig = torch.linalg.svd(x_dig, full_matrices=False)  # directions: vt_dig
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
print(f"linear AE loss {loss_lin.item():.5f}; PCA optimum {pca_loss.item():.5f}")

# %% [markdown]
# The loss reaches the bound of {eq}`eq-pca-optimum`. Do the subspaces agree
# too? The *principal angles* $\theta_1 \le \dots \le \theta_k$ between two
# $k$-dimensional subspaces are the arccosines of the singular values of
# $Q_1^\top Q_2$, where $Q_1, Q_2$ are orthonormal bases; all angles are zero
# exactly when the subspaces coincide. We compare the column space of the
# decoder $W_D$ with $V_k$, and, as a control, a random $k$-dimensional subspace:


# %% tags=["dlbook:autoencoder"]
def principal_angles(a, b):
    """Principal angles (radians, ascending) between the column spaces of a and b."""
    check.tensor(a, "a", ndim=2), check.tensor(b, "b", ndim=2)  # (D, k), (D, m)
    check.shape(b, "b (it must have as many rows as a)", (a.shape[0], None))
    qa, _ = torch.linalg.qr(a.double())  # orthonormal bases of the two spaces
    qb, _ = torch.linalg.qr(b.double())
    cos = torch.linalg.svdvals(qa.T @ qb).clamp(-1.0, 1.0)  # descending cosines
    return torch.arccos(cos)  # (min(k, m),) ascending angles


# %%
angles = torch.rad2deg(principal_angles(decoder_lin.weight.detach(), vt_dig[:k].T))
random_angles = torch.rad2deg(principal_angles(torch.randn(64, k), vt_dig[:k].T))
print(f"angles decoder vs PCA (degrees): {[round(a, 4) for a in angles.tolist()]}")
print(
    f"angles random vs PCA (degrees):  {[round(a, 1) for a in random_angles.tolist()]}"
)
largest_angle = dlbook.report(
    "linear AE: largest principal angle to the PCA subspace",
    angles.max().item(),
    fmt=".4f",
    unit="deg",
)
# %% tags=["remove-cell"]
assert angles.max() < 0.5, "the linear AE must find the PCA subspace (angles about 0)"
assert random_angles.max() > 10, "a random subspace is far from it"
assert abs(loss_lin.item() - pca_loss.item()) < 1e-3 * pca_loss.item()
# the written-out angles against SciPy's subspace_angles, in float64
a64, b64 = (
    torch.randn(64, k, dtype=torch.float64),
    torch.randn(64, 3, dtype=torch.float64),
)
ref = torch.from_numpy(scipy.linalg.subspace_angles(a64.numpy(), b64.numpy()))
assert torch.allclose(principal_angles(a64, b64), ref.sort().values, atol=1e-12)

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
unit_cols = F.normalize(w_dec, dim=0)
cos = unit_cols.T @ vt_dig[:k].T  # (k, k): cosine of column i with component j
col_cos = (unit_cols.T @ unit_cols - torch.eye(k)).abs().max()  # 0 if orthogonal
print("|cos| of decoder column (rows) with principal component (columns):")
print(cos.abs().numpy().round(2))
print(
    f"column norms {w_dec.norm(dim=0).numpy().round(2)}; "
    f"largest |cos| between two columns {col_cos:.2f}"
)

# %% tags=["remove-cell"]
assert cos.abs().max(1).values.min() < 0.95, "some column mixes several components"
# yet every column lies in the PCA subspace
assert torch.allclose(cos.pow(2).sum(1), torch.ones(k), atol=1e-3)

# %% [markdown]
# Each row of the cosine matrix has unit length (the column lies in the PCA
# subspace) but is spread over several components. Tying the weights
# ($W_D = W_E^\top$) only shrinks the symmetry {eq}`eq-gauge` to rotations of
# the subspace; to recover the components themselves something must tell the
# directions apart, for example training the code units one after another,
# each on what the previous ones left unexplained (PCA's own deflation).
# Nonlinear autoencoders face the same freedom in a subtler
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
# Both are plain layer stacks (`dlbook.autoencoder`):

# %%
print(ae.Autoencoder(cfg.latent, cfg.width))

# %% [markdown]
# The decoder outputs one *logit* per pixel; `ae.Autoencoder` passes it through
# a sigmoid so that reconstructions, like the images, lie in $[0, 1]$. We train
# on the loss {eq}`eq-recon-loss` with the generic loop `fit`, feeding each
# image as both input and target.

# %%
train_set, test_set = data.load_fashion_mnist("train"), data.load_fashion_mnist("test")


def images(ds: data.ImageSet, n: int | None, seed: int = 0):
    """A class-balanced subset on the device: images (n, 1, 28, 28), labels (n,)."""
    sub = data.subset(ds, n, seed=seed)
    return data.to_float(sub.x).to(device), sub.y.to(device)


# %%
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


# %%
@torch.no_grad()
def mse(model: nn.Module, x_in: torch.Tensor, x_target: torch.Tensor) -> float:
    """Mean squared error per pixel of model(x_in) against x_target, in batches."""
    model.eval()
    errs = [
        F.mse_loss(model(a).float(), b, reduction="sum")
        for a, b in zip(x_in.split(500), x_target.split(500))
    ]
    return (torch.stack(errs).sum() / x_target.numel()).item()


# %%
losses = [round(v, 4) for v in hist_ae.train_loss]
print(f"{len(x_ae):,} training images, code size {cfg.latent}, {hist_ae.total_s:.1f} s")
print(f"training loss per epoch {losses}")
mean_image = x_ae.mean(0, keepdim=True)  # (1, 1, 28, 28): the honest baseline
mean_mse = dlbook.report(
    "mean training image: test MSE per pixel",
    F.mse_loss(mean_image.expand_as(x_test), x_test).item(),
    fmt=".4f",
)
ae_test_mse = dlbook.report(
    "conv AE test MSE per pixel", mse(autoenc, x_test, x_test), fmt=".4f"
)

# %% tags=["remove-cell"]
# the code must keep most of what distinguishes an image from the average garment
assert ae_test_mse < 0.5 * mean_mse, (ae_test_mse, mean_mse)
if cfg.profile != "smoke":
    assert ae_test_mse < 0.25 * mean_mse, (ae_test_mse, mean_mse)
assert hist_ae.train_loss[-1] < hist_ae.train_loss[0] or cfg.ae_epochs == 1

# %% [markdown]
# The baseline any reconstruction must beat is the mean training image, the
# best guess that ignores the input. The autoencoder's test error is well
# under half of the mean image's (a quarter in the `cpu` and `gpu` profiles,
# asserted there): the code keeps most of what makes an image differ from the
# average garment. {numref}`fig-autoencoders-recon` shows test images and
# their reconstructions.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Test images (top row) and their reconstructions by the convolutional autoencoder from 16 numbers each.", "name": "fig-autoencoders-recon"}, "image": {"alt": "Two rows of twelve clothing images; the lower row repeats the upper with smoother, less detailed shapes."}}
with torch.no_grad():
    recon = autoenc(x_test[:12]).float()
fig, ax = plot.subplots(1, 1, width=7, height=1.6)
plot.image_grid(ax, torch.cat([x_test[:12], recon]), ncols=12, vrange=(0, 1))
ax.set_title(f"test images and reconstructions (profile: {session.profile})")
plot.show(fig)

# %% [markdown]
# The reconstructions keep shape, class and brightness but lose fine texture —
# prints, logos, the stitching of a bag — which sixteen numbers cannot store
# and the squared error rewards the decoder for averaging away. What did the
# code learn? {numref}`fig-autoencoders-codes` projects the codes of the test
# images onto their top two principal directions and colours them by class, a
# label the autoencoder never saw.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Autoencoder codes of the test images projected on their top two principal directions, coloured by the class the autoencoder never saw.", "name": "fig-autoencoders-codes"}, "image": {"alt": "A scatter plot of ten coloured point clouds; footwear, bags and trousers form separate regions, tops overlap."}}
import matplotlib

with torch.no_grad():
    codes = torch.cat([autoenc.encode(xb).float() for xb in x_test.split(500)])
codes = codes.cpu() - codes.cpu().mean(0)  # (n_test, latent)
proj = codes @ torch.linalg.svd(codes, full_matrices=False)[2][:2].T  # (n_test, 2)
fig, ax = plot.subplots(1, 1, width=7, height=4.6)
colors = matplotlib.colormaps["tab10"]
for c in range(10):
    m = y_test.cpu() == c
    pts = proj[m].numpy()
    ax.scatter(pts[:, 0], pts[:, 1], s=6, color=colors(c), label=test_set.classes[c])
ax.set_xlabel("code PC 1")
ax.set_ylabel("code PC 2")
ax.set_title(f"codes of test images, 2-D projection (profile: {session.profile})")
ax.legend(markerscale=3, loc="center left", bbox_to_anchor=(1, 0.5))
plot.show(fig)

# %% [markdown]
# Classes form regions even though no label was used: footwear, bags and
# trousers gather in regions of their own, while pullovers, coats and shirts —
# which differ in details the code barely keeps — overlap. (Only two of the
# sixteen code dimensions are shown, so the separation is better than it
# looks.) This is why
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
    """Gaussian pixel noise of standard deviation sigma, clipped to [0, 1]."""
    return (x + sigma * torch.randn_like(x)).clamp(0, 1)


# %%
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

# %%
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
assert dae_mse < 0.7 * min(noisy_mse, mean_mse), "denoising must clearly help"
if cfg.profile != "smoke":  # with enough training it clearly beats the plain AE
    assert dae_mse < 0.7 * plain_mse, (dae_mse, plain_mse)

# %% [markdown]
# The denoiser's output is much closer to the clean image than its noisy input
# (compare the first two numbers; the noisy input is about as far from the
# clean image as the mean image is). The third number is the plain autoencoder
# given the same noisy images: its bottleneck removes some noise too, since
# the noise does not fit in sixteen numbers, but it was never taught what the
# noise looks like. In the `cpu` and `gpu` profiles the denoiser's error is
# below 0.7 times the plain autoencoder's (asserted there; the two-epoch
# `smoke` run is too short to separate them). {numref}`fig-autoencoders-dae`
# shows ten examples.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Denoising: noisy test images (top), the denoising autoencoder's output (middle) and the clean images (bottom).", "name": "fig-autoencoders-dae"}, "image": {"alt": "Three rows of ten clothing images: speckled noisy versions, smooth denoised versions, and the clean originals."}}
with torch.no_grad():
    denoised = denoiser(x_noisy[:10]).float()
fig, ax = plot.subplots(1, 1, width=7, height=2.4)
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
# log-likelihood). Training should maximise the likelihood
# $p_\theta(\mathbf{x}) = \int p_\theta(\mathbf{x}\mid\mathbf{z})\, p(\mathbf{z})\, d\mathbf{z}$,
# an integral nobody can compute. The encoder now outputs a distribution
# $q_\phi(\mathbf{z}\mid\mathbf{x}) = \mathcal{N}\big(\boldsymbol{\mu}_\phi(\mathbf{x}), \operatorname{diag}\boldsymbol{\sigma}^2_\phi(\mathbf{x})\big)$,
# and Jensen's inequality gives a lower bound, the *evidence lower bound* (ELBO):
#
# $$
# \begin{aligned}
# \log p_\theta(\mathbf{x})
#  &= \log \mathbb{E}_{q_\phi(\mathbf{z}\mid\mathbf{x})}\Big[
#     \frac{p_\theta(\mathbf{x}\mid\mathbf{z})\,p(\mathbf{z})}{q_\phi(\mathbf{z}\mid\mathbf{x})}\Big] \\
#  &\ge \underbrace{\mathbb{E}_{q_\phi(\mathbf{z}\mid\mathbf{x})}
#     \big[\log p_\theta(\mathbf{x}\mid\mathbf{z})\big]}_{\text{reconstruction}}
#  - \underbrace{\mathrm{KL}\big(q_\phi(\mathbf{z}\mid\mathbf{x})\,\|\,p(\mathbf{z})\big)}_{\text{regulariser}} .
# \end{aligned}
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
# \mathrm{KL}\big(\mathcal{N}(\boldsymbol{\mu}, \operatorname{diag}\boldsymbol{\sigma}^2)
#   \,\|\,\mathcal{N}(\mathbf{0}, I)\big)
#  = \frac12 \sum_{j=1}^k \big(\mu_j^2 + \sigma_j^2 - \log \sigma_j^2 - 1\big).
# $$ (eq-kl)
#
# The encoder outputs $\log\sigma^2$, which can be any real number. In code,
# one line (the `check` calls refuse bad input with a clear message):


# %% tags=["dlbook:autoencoder"]
def gaussian_kl(mu, logvar):
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) in nats: (B, D), (B, D) -> (B,)."""
    check.tensor(mu, "mu", ndim=2, floating=True)  # (B, D)
    check.shape(check.tensor(logvar, "logvar", floating=True), "logvar", mu.shape)
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(-1)


# %% [markdown]
# We check it against PyTorch's own `torch.distributions.kl_divergence`, in
# float64:

# %%
g = torch.Generator().manual_seed(0)
mu_t = 2 * torch.randn(6, 4, generator=g, dtype=torch.float64)
logvar_t = torch.randn(6, 4, generator=g, dtype=torch.float64)
ours = gaussian_kl(mu_t, logvar_t)
ref = torch.distributions.kl_divergence(
    torch.distributions.Normal(mu_t, (0.5 * logvar_t).exp()),
    torch.distributions.Normal(0.0, 1.0),
).sum(-1)
print(f"closed form {ours.numpy().round(4)}\ntorch       {ref.numpy().round(4)}")

# %% tags=["remove-cell"]
torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)

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
# \mathbf{z} = \boldsymbol{\mu}_\phi(\mathbf{x})
#   + \boldsymbol{\sigma}_\phi(\mathbf{x}) \odot \boldsymbol{\epsilon},
# \qquad \boldsymbol{\epsilon} \sim \mathcal{N}(\mathbf{0}, I),
# $$ (eq-reparam)
#
# so that $\partial \mathbf{z} / \partial \boldsymbol{\mu} = I$ and
# $\partial \mathbf{z} / \partial \boldsymbol{\sigma} = \operatorname{diag}\boldsymbol{\epsilon}$.
# {numref}`fig-autoencoders-vae` shows the path the gradient takes through the
# sample.

# %% [markdown]
# :::{figure} ../figs/vae.svg
# :name: fig-autoencoders-vae
# :alt: An image enters an encoder that outputs mu and log sigma squared; with a yellow noise box epsilon from N(0, I) they form z = mu + sigma epsilon, which a decoder turns into the reconstruction. Two purple loss boxes, the KL term and the binary cross-entropy; red dashed arrows lead from the losses back through the decoder and z to mu, log sigma squared and the encoder, none to epsilon.
# :width: 100%
# One pass of the VAE. The encoder outputs $\boldsymbol\mu$ and
# $\log\boldsymbol\sigma^2$; the noise $\boldsymbol\epsilon$ is drawn first and
# $\mathbf{z} = \boldsymbol\mu + \boldsymbol\sigma\odot\boldsymbol\epsilon$ is a
# differentiable function of the encoder's outputs, so the gradient of the
# reconstruction term (red) reaches the encoder; the KL term acts on
# $\boldsymbol\mu$ and $\log\boldsymbol\sigma^2$ directly. No gradient is needed
# for $\boldsymbol\epsilon$.
# :::


# %% tags=["dlbook:autoencoder"]
def reparameterize(mu, logvar, *, generator=None):
    """z = mu + sigma * eps, eps ~ N(0, I): a sample of q(z | x) autograd can follow."""
    check.tensor(mu, "mu", floating=True)
    check.shape(check.tensor(logvar, "logvar", floating=True), "logvar", mu.shape)
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps  # (B, D), differentiable in mu, logvar


# %% [markdown]
# PyTorch's distributions know both ways of sampling: `.sample()` cuts the
# graph, `.rsample()` reparameterizes. Ours behaves like the latter, draw for
# draw:

# %%
mu_r = torch.zeros(1, 3, requires_grad=True)
logvar_r = torch.full((1, 3), math.log(4.0), requires_grad=True)  # sigma = 2
q_r = torch.distributions.Normal(mu_r, (0.5 * logvar_r).exp())
z_cut = q_r.sample()
torch.manual_seed(3)
z_torch = q_r.rsample()
z_ours = reparameterize(mu_r, logvar_r, generator=torch.Generator().manual_seed(3))
z_ours.pow(2).sum().backward()
print(f".sample() keeps a graph: {z_cut.requires_grad}; ours: {z_ours.requires_grad}")
print(f"ours {z_ours.detach().numpy().round(4)}")
print(f"rsample {z_torch.detach().numpy().round(4)}")
print(f"d sum(z^2) / d mu = {mu_r.grad.numpy().round(3)} (= 2 z)")

# %% tags=["remove-cell"]
assert not z_cut.requires_grad and z_ours.requires_grad
torch.testing.assert_close(z_ours, z_torch, rtol=0, atol=1e-6)  # the same draw
torch.testing.assert_close(mu_r.grad, 2 * z_ours.detach())

# %% [markdown]
# With the same random numbers our sample equals `rsample`'s, and the gradient
# with respect to $\boldsymbol{\mu}$ is exactly $2\mathbf{z}$, as the chain
# rule through {eq}`eq-reparam` demands.
#
# ### The VAE, written out
#
# The encoder is the `ConvEncoder` from above with $2k$ outputs,
# $\boldsymbol{\mu}$ and $\log\boldsymbol{\sigma}^2$; the decoder is the same
# `ConvDecoder`, whose outputs are the pixels' Bernoulli logits. A forward pass
# encodes, samples a code by {eq}`eq-reparam` and decodes it.


# %% tags=["dlbook:autoencoder"]
class VAE(nn.Module):
    """A convolutional VAE: Gaussian q(z | x), N(0, I) prior, Bernoulli pixels."""

    def __init__(self, latent_dim: int = 16, width: int = 32):
        super().__init__()
        self.latent_dim = check.positive(latent_dim, "latent_dim", integer=True)
        self.encoder = ConvEncoder(2 * latent_dim, width)  # x -> (mu, log sigma^2)
        self.decoder = ConvDecoder(latent_dim, width)  # z -> pixel logits

    def encode(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=1)  # (B, k) each
        return mu, logvar.clamp(-12.0, 8.0)  # keeps exp(logvar) finite early on

    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decoder(reparameterize(mu, logvar)), mu, logvar


# %% [markdown]
# The loss is the negative ELBO per image: the binary cross-entropy of the
# decoded sample, summed over the 784 pixels, plus the KL term (the weight
# `beta` is 1 for the ELBO; Exercise 2 changes it).


# %% tags=["dlbook:autoencoder"]
def negative_elbo(vae, x, *, beta=1.0):
    """-ELBO in nats per image (KL weighted by beta) and its two terms, batch means."""
    check_images(x, "x", unit=True)  # (B, 1, 28, 28) in [0, 1]: Bernoulli targets
    check.number(beta, "beta", low=0)
    logits, mu, logvar = vae(x)  # (B, 1, 28, 28), (B, k), (B, k)
    bce = F.binary_cross_entropy_with_logits(logits.to(x.dtype), x, reduction="none")
    rec = bce.sum((1, 2, 3))  # (B,): -log p(x | z), summed over the pixels
    kl = gaussian_kl(mu.to(x.dtype), logvar.to(x.dtype))  # (B,), in x's precision
    return (rec + beta * kl).mean(), rec.mean(), kl.mean()


# %% [markdown]
# ### Training a convolutional VAE
#
# The training loop is short enough to write out; a one-cycle schedule
# ({ref}`ch-optimization`) warms the learning rate up and anneals it, and
# `dlbook.train.Precision` runs it in mixed precision on a GPU that has it
# (bfloat16, or float16 with a gradient scaler), in float32 elsewhere.


# %%
def vae_epoch(vae, batches, opt, sched, prec, beta: float = 1.0) -> torch.Tensor:
    """One pass over the batches; returns the summed loss, left on the device."""
    vae.train()
    total = []
    for (xb,) in batches:
        with prec.autocast():
            loss, _, _ = negative_elbo(vae, xb, beta=beta)
        opt.zero_grad(set_to_none=True)
        prec.step(loss, opt)
        sched.step()
        total.append(loss.detach() * len(xb))  # kept on the device: no sync
    return torch.stack(total).sum()


# %% [markdown]
# The schedule needs the total number of steps, so `train_vae` builds the
# batches, the optimizer and the schedule once and then runs the epochs.


# %%
def train_vae(vae, x, *, epochs: int, beta: float = 1.0, lr: float = 3e-3, seed=0):
    """Minimise the negative ELBO over images x (N, 1, 28, 28); mean loss per epoch."""
    batches = data.Batches(x, batch_size=cfg.batch, seed=seed)
    opt = torch.optim.Adam(vae.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=epochs * len(batches), pct_start=0.2
    )
    prec = Precision(x.device, use_amp)
    args = batches, opt, sched, prec, beta
    return [vae_epoch(vae, *args).item() / len(x) for _ in range(epochs)]


# %% [markdown]
# Two references tell us what the numbers mean. The *mean-image model*, which
# gives every pixel the probability of its mean over the training images and
# ignores the input, is the honest baseline: a VAE whose code carried nothing
# would do no better. And because the targets are grey levels, not bits, even a
# perfect model pays the pixels' own binary entropy
# $-\sum_i \big(x_i \log x_i + (1 - x_i) \log(1 - x_i)\big)$: a floor no model
# can go below.

# %%
x_vae, _ = images(train_set, cfg.n_vae, seed=1)
torch.manual_seed(0)
vae = VAE(cfg.latent, cfg.width).to(device)
t0 = time.perf_counter()
vae_curve = train_vae(vae, x_vae, epochs=cfg.vae_epochs)
secs = time.perf_counter() - t0
print(f"{len(x_vae):,} images, {cfg.vae_epochs} epochs, {secs:.1f} s")
print(f"negative ELBO per epoch {[round(v, 1) for v in vae_curve]}")

# %% [markdown]
# On 500 test images, the VAE's two terms and the two references:

# %%
vae.eval()
x500 = x_test[:500]
with torch.no_grad():
    _, rec_test, kl_test = negative_elbo(vae, x500)
p_mean = x_vae.mean(0).clamp(1e-6, 1 - 1e-6).expand_as(x500)  # the mean image
nats = {  # summed over the pixels, averaged over the test images
    "VAE test negative ELBO": rec_test + kl_test,
    "mean-image model": F.binary_cross_entropy(p_mean, x500, reduction="sum") / 500,
    "entropy floor": F.binary_cross_entropy(x500, x500, reduction="sum") / 500,
}
print(f"test: reconstruction {rec_test.item():.1f} + KL {kl_test.item():.1f} nats")
neg_elbo, mean_nats, floor_nats = (
    dlbook.report(f"{k} (nats per image)", v.item(), fmt=".1f") for k, v in nats.items()
)

# %% tags=["remove-cell"]
assert vae_curve[-1] < vae_curve[0], "the negative ELBO must fall during training"
margin = 50 if cfg.profile == "smoke" else 100  # nats below the mean-image model
assert neg_elbo < mean_nats - margin, (neg_elbo, mean_nats)
# the code is used: a collapsed posterior (q = prior) would give KL = 0
assert kl_test.item() > 10, kl_test
assert floor_nats < rec_test.item(), (floor_nats, rec_test)

# %% [markdown]
# The negative ELBO falls epoch by epoch. On the test images it splits into a
# reconstruction term and a much smaller KL term — a bound on the information,
# in nats, that the code carries about each image (more than ten nats,
# asserted: the code is used). The VAE beats the mean-image model by more than
# 50 nats per image in the `smoke` profile and by more than 100 in the `cpu`
# and `gpu` profiles (asserted), and the printed floor shows how much of what
# remains is the grey levels' own entropy rather than the model's error.
#
# ### Samples and interpolations
#
# To *generate*, draw $\mathbf{z} \sim \mathcal{N}(\mathbf{0}, I)$ and decode.
# We show the Bernoulli means (the pixel probabilities) rather than random
# black-and-white draws from them, as is usual.


# %% tags=["dlbook:autoencoder"]
@torch.no_grad()
def sample(vae, n, *, generator=None):
    """Decode n draws z ~ N(0, I): pixel means (n, 1, 28, 28) in [0, 1]."""
    check.positive(n, "n", integer=True)
    z = torch.randn(n, vae.latent_dim, generator=generator)  # (n, k) on the CPU
    device = next(vae.parameters()).device
    return torch.sigmoid(vae.decoder(z.to(device)).float())


# %% tags=["hide-input"] mystnb={"figure": {"caption": "Samples of the VAE: decoded draws from the prior N(0, I), shown as pixel probabilities.", "name": "fig-autoencoders-vae-samples"}, "image": {"alt": "A grid of 36 blurry grey clothing shapes: shirts, trousers, shoes and bags."}}
samples = sample(vae, cfg.n_test, generator=torch.Generator().manual_seed(0))
fig, ax = plot.subplots(1, 1, width=7, height=4.4)
plot.image_grid(ax, samples[:36], ncols=12, vrange=(0, 1))
ax.set_title(
    f"VAE samples, {len(x_vae):,} training images (profile: {session.profile})"
)
plot.show(fig)

# %% [markdown]
# The samples in {numref}`fig-autoencoders-vae-samples` are smoother than real
# images: the Gaussian posterior and the per-pixel likelihood make the decoder
# average over details it is unsure of, the well-known blur of VAEs. How close
# they come to real garments is measured below. The KL term pulls the code
# distribution of every training image towards the prior, so the codes of the
# training images fill the region the prior samples from — not perfectly: the
# *aggregate posterior*, the mixture of all $q_\phi(\mathbf{z}\mid\mathbf{x})$,
# is not exactly $\mathcal{N}(\mathbf{0}, I)$, and regions the prior visits
# but no image's code does are decoded to hybrids. The printed moments of the
# aggregate posterior show how close it comes.

# %%
with torch.no_grad():
    mu_q, logvar_q = vae.encode(x_vae[:2000])
agg_mean = mu_q.float().mean(0)  # (k,) mean of the aggregate posterior
agg_var = mu_q.float().var(0) + logvar_q.float().exp().mean(0)  # (k,) its variance
print(f"aggregate posterior: |mean| up to {agg_mean.abs().max():.2f} (prior: 0)")
print(f"variances from {agg_var.min():.2f} to {agg_var.max():.2f} (prior: 1)")

# %% [markdown]
# A straight line between the codes of two images
# ({numref}`fig-autoencoders-interpolation`) decodes to a gradual morph.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Decoding straight lines between the posterior means of two test images: sneaker to ankle boot, T-shirt to pullover, trouser to dress.", "name": "fig-autoencoders-interpolation"}, "image": {"alt": "Three rows of ten images, each changing gradually from one garment to another."}}
# (class a, class b): sneaker -> ankle boot, T-shirt -> pullover, trouser -> dress
pairs = [(7, 9), (0, 2), (1, 3)]
first = {c: int((y_test == c).nonzero()[0]) for c in range(10)}
steps = torch.linspace(0, 1, 10, device=device)[:, None]
with torch.no_grad():
    ends = x_test[[first[c] for pair in pairs for c in pair]]  # (6, 1, 28, 28)
    mu_all = vae.encode(ends)[0].float()  # (6, latent)
    line = [(1 - steps) * mu_all[2 * i] + steps * mu_all[2 * i + 1] for i in range(3)]
    rows = [torch.sigmoid(vae.decoder(z).float()) for z in line]
fig, ax = plot.subplots(1, 1, width=7, height=2.6)
plot.image_grid(ax, torch.cat(rows), ncols=10, vrange=(0, 1))
ax.set_title(f"decoded straight lines between two codes (profile: {session.profile})")
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

# %%
flat = x_vae.reshape(len(x_vae), -1).cpu().double()  # (n_vae, 784)
pix_mean, pix_cov = flat.mean(0), torch.cov(flat.T)
chol = torch.linalg.cholesky(pix_cov + 1e-5 * torch.eye(784, dtype=torch.float64))
g = torch.Generator().manual_seed(1)
gauss = (
    pix_mean + torch.randn(cfg.n_test, 784, generator=g, dtype=torch.float64) @ chol.T
)
gauss = gauss.clamp(0, 1).float().reshape(-1, 1, 28, 28)  # (n_test, 1, 28, 28)

# %%
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
if cfg.profile == "smoke":  # too small a VAE to promise more; it beats noise
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
# whose samples have the right correlations but no coherent shapes; the
# check above asserts it. In the tiny `smoke` profile the VAE is trained too
# briefly to promise that, and the check only asserts that its samples are far
# better than uniform noise. {numref}`fig-autoencoders-gaussian` shows the
# baseline's samples.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Samples of the full-covariance Gaussian fitted to the training pixels, the Fr\u00e9chet-distance baseline.", "name": "fig-autoencoders-gaussian"}, "image": {"alt": "Twelve noisy grey images with faint, garment-like outlines and no coherent shapes."}}
fig, ax = plot.subplots(1, 1, width=7, height=1.2)
plot.image_grid(ax, gauss[:12], ncols=12, vrange=(0, 1))
ax.set_title(f"full-covariance Gaussian samples (profile: {session.profile})")
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
# stop is luck. And the run is long: Exercise 4 shows what a twentieth of
# the training leaves.

# %%
mem_idx = [int((train_set.y == c).nonzero()[0]) for c in range(8)]
x_mem = data.to_float(train_set.x[mem_idx]).reshape(8, -1)  # (8, 784) on the CPU
mem_steps = 1_600  # the same in every profile: this experiment is small


def wide_mlp(width: int = 256, hidden_layers: int = 5) -> nn.Sequential:
    """A fully connected autoencoder R^784 -> R^784, ReLU layers, no bottleneck."""
    layers = [nn.Linear(784, width), nn.ReLU()]
    for _ in range(hidden_layers - 1):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, 784))


# %%
def train_memorizer(steps: int, make=wide_mlp, lr=1e-3) -> tuple[nn.Module, float]:
    """Full-batch Adam on the eight images, the rate decayed to zero over the last
    quarter of the steps; returns the network `make()` and its final training MSE."""
    torch.manual_seed(0)
    f = make()
    opt = torch.optim.Adam(f.parameters(), lr=lr)
    decay = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: min(1.0, 4 * (1 - step / steps))
    )
    for _ in range(steps):
        loss = F.mse_loss(f(x_mem), x_mem)
        opt.zero_grad(), loss.backward(), opt.step(), decay.step()
    return f.eval(), loss.item()


# %%
f_mem, loss_mem = train_memorizer(mem_steps)
n_mem = sum(p.numel() for p in f_mem.parameters())
print(f"{n_mem:,} parameters; final training MSE {loss_mem:.1e}")

# %% tags=["remove-cell"]
assert loss_mem < 1e-8, "the network must fit its eight images almost exactly"

# %% [markdown]
# Now we iterate the trained map from noisy versions of the training images
# (noise of standard deviation 0.3 per pixel, four starts per image) and from
# pure uniform noise, for 200 steps, with `ae.iterate_map`:

# %%
g = torch.Generator().manual_seed(0)
# (32, 784): start i is near image i % 8
starts = x_mem.repeat(4, 1) + 0.3 * torch.randn(32, 784, generator=g)
traj = ae.iterate_map(f_mem, starts, steps=200)  # (201, 32, 784)
dist_end, nearest = torch.cdist(traj[-1], x_mem).min(1)  # (32,), (32,)
traj_rand = ae.iterate_map(f_mem, torch.rand(8, 784, generator=g), steps=200)
dist_rand, nearest_rand = torch.cdist(traj_rand[-1], x_mem).min(1)

# %%
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
d_start = torch.cdist(starts, x_mem).min(1).values.mean()
print(f"distance to the nearest training image: {d_start:.2f} at the start, ")
print(f"median {dist_end.median():.4f} after 200 steps")
print(f"random starts: nearest images {nearest_rand.tolist()}")
print(f"at distances {dist_rand.numpy().round(3)}")

# %% tags=["remove-cell"]
assert converged >= 0.75, "most noisy starts must converge to a training image"
assert to_own >= 0.75, "and mostly to the image they started near"

# %% [markdown]
# Most noisy starts converge to a training image, nearly always to the one
# they were drawn around (the lines above give the fractions and distances).
# Starts of pure noise are pulled to the training image (or the few images)
# with the largest basin of attraction; the last lines show which, and how many
# of them arrive within the tolerance in 200 steps.
# {numref}`fig-autoencoders-attractors` follows some trajectories; each row is
# one start, the last column the training image it was closest to at the end.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Iterating the memorizing autoencoder x <- f(x) for 0, 1, 2, 3, 5, 10, 20, 50 and 200 steps from four noisy and two random starts; the last column is the nearest training image.", "name": "fig-autoencoders-attractors"}, "image": {"alt": "Six rows of images; noisy or random images turn within a few steps into clean training images, matching the last column."}}
show_steps = [0, 1, 2, 3, 5, 10, 20, 50, 200]
rows = [traj[show_steps, i] for i in (0, 1, 10, 13)] + [
    traj_rand[show_steps, i] for i in (0, 1)
]
ends = [nearest[i] for i in (0, 1, 10, 13)] + [nearest_rand[i] for i in (0, 1)]
grid = torch.cat([torch.cat([r, x_mem[e][None]]) for r, e in zip(rows, ends)]).reshape(
    -1, 1, 28, 28
)
fig, ax = plot.subplots(1, 1, width=7, height=4.8)
plot.image_grid(ax, grid.clamp(0, 1), ncols=len(show_steps) + 1, vrange=(0, 1))
ax.set_title("iterating x <- f(x), then the nearest training image")
plot.show(fig)

# %% [markdown]
# Finally the linear test {eq}`eq-attractor`: the Jacobian of $f$ at each
# training image, a $784 \times 784$ matrix computed with `torch.func.jacrev`,
# and its eigenvalues.


# %% tags=["dlbook:autoencoder"]
def jacobian_spectrum(f, x):
    """Eigenvalues of the Jacobian of f: R^D -> R^D at x (D,), by decreasing modulus."""
    check.tensor(x, "x (one flat point: flatten it with x.reshape(-1))", ndim=1)
    jac = torch.func.jacrev(f)(x).detach()  # (D, D): jac[i, j] = d f_i / d x_j
    check.shape(jac, "the Jacobian (f must map (D,) to (D,))", (len(x), len(x)))
    eig = torch.linalg.eigvals(jac.double())  # (D,) complex
    return eig[eig.abs().argsort(descending=True)]


# %%
spectra = [jacobian_spectrum(f_mem, x) for x in x_mem]  # 8 x (784,) complex
radii = torch.stack([s.abs().max() for s in spectra])
print(f"spectral radius at each training image: {radii.numpy().round(3)}")
rho_max = dlbook.report(
    "largest |eigenvalue| of the Jacobian at a training image",
    radii.max().item(),
    fmt=".4f",
)

# %% tags=["remove-cell"]
assert rho_max < 1, "every training image must be an attractor"
# the Jacobian is right: jacrev on a float64 copy against the product of its
# layer Jacobians, W_L M_{L-1} ... M_1 W_1 (M: the active ReLUs), by hand
f64 = wide_mlp().double()
f64.load_state_dict(f_mem.state_dict())
x64 = x_mem[0].double()
jac_hand, h = torch.eye(784, dtype=torch.float64), x64
for layer in f64:
    if isinstance(layer, nn.Linear):
        jac_hand, h = layer.weight @ jac_hand, layer(h)
    else:  # ReLU: keep the rows of the active units
        jac_hand, h = (h > 0).double()[:, None] * jac_hand, layer(h)
jac_auto = torch.func.jacrev(f64)(x64)  # what jacobian_spectrum computes
assert torch.allclose(jac_auto, jac_hand, rtol=0, atol=1e-12)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Eigenvalues of the Jacobian of the memorizing autoencoder at one training image, in the complex plane, with the unit circle.", "name": "fig-autoencoders-spectrum"}, "image": {"alt": "Points clustered at the origin and a few spread towards, but inside, the unit circle."}}
fig, ax = plot.subplots(1, 1, width=4.6, height=4.4)
circle = torch.linspace(0, 2 * math.pi, 200)
ax.plot(
    circle.cos().numpy(), circle.sin().numpy(), color="k", lw=1, label="unit circle"
)
ax.scatter(
    spectra[0].real.numpy(),
    spectra[0].imag.numpy(),
    s=10,
    label=f"eigenvalues at image 0 ({train_set.classes[0]})",
)
ax.set_xlabel("Re $\\lambda$")
ax.set_ylabel("Im $\\lambda$")
ax.set_aspect("equal")
ax.set_title("Jacobian spectrum at a training image")
ax.legend(loc="upper left", fontsize=8)
plot.show(fig)

# %% [markdown]
# All eigenvalues lie inside the unit circle at every training image
# ({numref}`fig-autoencoders-spectrum` shows one), so each
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
# ### A convolutional autoencoder memorizes too
#
# Is this a quirk of fully connected layers? Radhakrishnan et al.
# {cite}`radhakrishnan2020overparameterized` found attractors in
# convolutional autoencoders as well. Ours halves the resolution twice with
# stride-2 convolutions, mixes the 7x7 feature maps of all positions in one
# wide linear layer — no bottleneck: it keeps as many numbers as the maps
# hold — and returns to 28x28 with two transposed convolutions. It reads and
# returns flat vectors of 784 pixels, so the tools above apply unchanged.


# %%
def conv_memorizer(width: int = 32) -> nn.Sequential:
    """A convolutional autoencoder R^784 -> R^784: stride-2 convolutions to 7x7
    maps, a linear layer on all of them, transposed convolutions back to 28x28."""
    w, n = width, width * 7 * 7  # n: the (w, 7, 7) maps, flattened
    s2 = (4, 2, 1)  # kernel 4, stride 2, padding 1: halves (or doubles) the size
    down = [nn.Conv2d(1, w, *s2), nn.ReLU(), nn.Conv2d(w, w, *s2), nn.ReLU()]
    mix = [nn.Flatten(), nn.Linear(n, n), nn.ReLU(), nn.Unflatten(1, (w, 7, 7))]
    up = [nn.ConvTranspose2d(w, w, *s2), nn.ReLU(), nn.ConvTranspose2d(w, 1, *s2)]
    return nn.Sequential(nn.Unflatten(1, (1, 28, 28)), *down, *mix, *up, nn.Flatten())


# %% [markdown]
# We train it on the same eight images with the same `train_memorizer`, for
# `mem_conv_steps` steps at width `mem_conv_width` (the configuration). The
# baseline is the same network untrained: whatever an untrained map does to
# the starts, it has nothing to do with the training images. In the `smoke`
# profile the network is narrow and trains for a few seconds, far too briefly
# to memorize anything; the claims below are asserted in the `cpu` and `gpu`
# profiles.

# %%
f_conv, loss_conv = train_memorizer(
    cfg.mem_conv_steps, make=lambda: conv_memorizer(cfg.mem_conv_width)
)
torch.manual_seed(1)
f_blank = conv_memorizer(cfg.mem_conv_width).eval()  # untrained: the baseline
with torch.no_grad():
    loss_blank = F.mse_loss(f_blank(x_mem), x_mem).item()
n_conv = sum(p.numel() for p in f_conv.parameters())
print(f"{n_conv:,} parameters; MSE {loss_conv:.1e} trained, {loss_blank:.1e} untrained")

# %% [markdown]
# Both maps are iterated 200 times from the same 32 noisy starts as before and
# from eight new starts of uniform noise:


# %%
def attraction(f) -> dict[str, float]:
    """Iterate f 200 times from the noisy and the random starts: where do they end?"""
    with torch.no_grad():
        ends = ae.iterate_map(f, torch.cat([starts, rand_starts]), steps=200)[-1]
    dist, nearest = torch.cdist(ends, x_mem).min(1)  # (40,) each
    own = nearest[:32] == torch.arange(32) % 8  # back at the image it started near
    return {
        "noisy starts ending at a training image": (dist[:32] < tol).float().mean(),
        "noisy starts ending at their own image": own.float().mean(),
        "random starts ending at a training image": (dist[32:] < tol).float().mean(),
        "median final distance of the noisy starts": dist[:32].median(),
    }


# %%
rand_starts = torch.rand(8, 784, generator=torch.Generator().manual_seed(1))
conv_attr = {"conv AE": attraction(f_conv), "untrained conv AE": attraction(f_blank)}
for name, stats in conv_attr.items():
    for what, value in stats.items():
        dlbook.report(f"{name}: {what}", value, fmt=".3f")
print(f"at the start: mean distance {d_start:.2f} to the nearest training image")

# %% tags=["remove-cell"]
assert loss_conv < 0.5 * loss_blank, (loss_conv, loss_blank)  # training works
if cfg.profile != "smoke":
    t, u = conv_attr["conv AE"], conv_attr["untrained conv AE"]
    assert loss_conv < 1e-5, loss_conv
    for what in [k for k in t if "starts ending at a training image" in k]:
        assert t[what] >= 0.5 and t[what] > u[what] + 0.4, (what, t, u)
        assert u[what] < 0.1, (what, u)  # the untrained map: hardly ever
    assert t["noisy starts ending at their own image"] >= 0.5, t
    assert t["median final distance of the noisy starts"] < 0.05 * d_start, t

# %% [markdown]
# In the `cpu` and `gpu` profiles the trained network sends at least half of
# the noisy starts to a training image, and at least half of them to the very
# image they were drawn around; at least half of the random starts also end at
# a training image, while the untrained network of the same shape brings under
# a tenth of either kind there (all asserted; the lines above give the
# fractions). The median noisy start ends at a small fraction of the distance
# at which it began. The linear test {eq}`eq-attractor` tells which training
# images are attractors:

# %%
conv_flat = lambda v: f_conv(v[None])[0]  # noqa: E731 (784,) -> (784,)
rho_conv = torch.stack([jacobian_spectrum(conv_flat, x).abs().max() for x in x_mem])
print(f"conv AE, spectral radius at each training image: {rho_conv.numpy().round(3)}")

# %% tags=["remove-cell"]
if cfg.profile != "smoke":
    assert (rho_conv < 1).any(), rho_conv

# %% [markdown]
# Where the spectral radius is below one the training image is an attractor
# of the convolutional map, as for the MLP. Where it is above one (if the run
# shows any), the image is still a fixed point — the training loss is tiny —
# but an unstable one, and starts drawn around it can drift off to another
# training image.
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
# - Convolutional autoencoders reconstruct Fashion-MNIST from 16 numbers with
#   well under half the error of the mean image, and organise their codes by
#   class without labels; a denoising autoencoder {eq}`eq-dae` learns to
#   remove noise.
# - A VAE maximises the ELBO {eq}`eq-elbo`: reconstruction minus a KL term with
#   the closed form {eq}`eq-kl`, trained through the reparameterization
#   {eq}`eq-reparam`. It beats the mean-image model by tens of nats per image;
#   its samples and interpolations are blurry, and by the Fréchet distance of
#   the book's classifier they beat a full-covariance Gaussian (in the `cpu`
#   and `gpu` profiles).
# - Over-parameterized autoencoders trained on a few images make them
#   attractors of $\mathbf{x} \mapsto f(\mathbf{x})$: iterates converge to
#   training images and the Jacobian's spectral radius there is below one.
#   A convolutional autoencoder without a bottleneck does the same for at least
#   half of the starts (at the `cpu` and `gpu` sizes), against hardly any for
#   its untrained twin.
#
# ## Exercises
#
# **Exercise 1 (PCA against a deep autoencoder).** With the same code size $k$,
# which reconstructs the test images better: PCA with $k$ components fitted to
# the autoencoder's training images, or the convolutional autoencoder? Compute
# both test errors per pixel for $k$ = `cfg.latent`.

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Solution to Exercise 1: PCA on the same training images, then project the test
# images. Answer: PCA is the best *linear* code (its training error is exactly
# the discarded eigenvalues, checked below in float64), so it is hard to beat
# with a tiny budget; the convolutional autoencoder, whose decoder can bend the
# 16-dimensional code space into a curved surface, beats it once it has seen
# enough data (asserted in the cpu and gpu profiles; in smoke the autoencoder
# trains for two epochs on 1,500 images and may not).
flat_tr = x_ae.reshape(len(x_ae), -1).double().cpu()
mean_tr = flat_tr.mean(0)
_, s_tr, vt_tr = torch.linalg.svd(flat_tr - mean_tr, full_matrices=False)
comps = vt_tr[: cfg.latent]  # (k, 784)
flat_te = x_test.reshape(len(x_test), -1).double().cpu()
pca_rec = (flat_te - mean_tr) @ comps.T @ comps + mean_tr
pca_mse = F.mse_loss(pca_rec, flat_te).item()
print(f"k = {cfg.latent}: PCA test MSE {pca_mse:.4f}, conv AE {ae_test_mse:.4f}")
print(f"(the mean image: {mean_mse:.4f})")
# Eckart-Young on the training set: the error is the sum of the discarded s_j^2
train_rec = (flat_tr - mean_tr) @ comps.T @ comps + mean_tr
tail = s_tr[cfg.latent :].pow(2).sum() / flat_tr.numel()
assert abs(F.mse_loss(train_rec, flat_tr).item() - tail.item()) < 1e-12
if cfg.profile != "smoke":
    assert ae_test_mse < pca_mse, "the nonlinear AE beats the best linear code"

# %% [markdown]
# **Exercise 2 ($\beta$-VAE).** Weighting the KL term by $\beta > 1$ gives the
# $\beta$-VAE {cite}`higgins2017beta`, which trades reconstruction for codes
# closer to the prior (and, its authors found, more disentangled factors). Train
# two VAEs with $\beta = 1$ and $\beta = 4$ on the same images and compare the two
# terms of the loss on the test images.

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Solution to Exercise 2. Answer: with beta = 4 the code carries fewer nats
# about each image (a smaller KL term) and the reconstructions are worse (a
# larger reconstruction term): the encoder keeps only the most important
# factors. Both directions are asserted.
x_beta, _ = images(train_set, cfg.n_beta, seed=2)
terms = {}
for beta in (1.0, 4.0):
    torch.manual_seed(0)
    model_b = VAE(cfg.latent, cfg.width).to(device)
    train_vae(model_b, x_beta, epochs=cfg.beta_epochs, beta=beta)
    with torch.no_grad():
        _, rec_b, kl_b = negative_elbo(model_b.eval(), x_test[:500])
    terms[beta] = (rec_b.item(), kl_b.item())
    print(f"beta = {beta}: reconstruction {rec_b:.1f}, KL {kl_b:.1f} nats per image")
assert terms[4.0][1] < terms[1.0][1], "a larger beta must shrink the KL term"
assert terms[4.0][0] > terms[1.0][0], "and pay for it in reconstruction"

# %% [markdown]
# **Exercise 3 (fixed points that do not attract).** The linear autoencoder
# $f(\mathbf{x}) = W_D W_E \mathbf{x}$ of the first section also reproduces every
# point of its subspace exactly. Are those points attractors? Compute the
# eigenvalues of its Jacobian $W_D W_E$ and say what iterating $f$ does.

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Solution to Exercise 3: the Jacobian of a linear map is the map itself.
# Answer: W_D W_E is, up to training error, the orthogonal projection onto the
# principal subspace: k eigenvalues equal to 1 and the rest 0. Iterating
# projects once and then (almost) stands still; every point of the subspace is
# a fixed point but none attracts its neighbours within the subspace
# (eigenvalue 1 is neutral). The memorizing network instead isolates eight
# points with all eigenvalues below one.
f_lin = lambda x: decoder_lin(encoder_lin(x))  # noqa: E731
eig_lin = jacobian_spectrum(f_lin, x_dig[0]).abs()
print(f"|eigenvalues| of W_D W_E: top {k}: {eig_lin[:k].numpy().round(4)}")
print(f"next: {eig_lin[k : k + 3].numpy().round(6)}")
ones = torch.ones(k, dtype=torch.float64)
assert torch.allclose(eig_lin[:k], ones, atol=0.02), "k eigenvalues near 1"
assert eig_lin[k:].max() < 1e-3
with torch.no_grad():
    two = ae.iterate_map(f_lin, x_dig[:3], steps=2)
# one step projects, the next barely moves
assert (two[2] - two[1]).norm() < 1e-2 * (two[0] - two[1]).norm()

# %% [markdown]
# **Exercise 4 (how much training makes a memory?).** Following the
# memorization lecture, train the same network on the eight images for
# only a twentieth of the steps. Are the training images still fixed points
# (measure $\lVert f(\mathbf{x}^\mu) - \mathbf{x}^\mu \rVert$) and attractors
# (measure $\rho(J)$ at each), and where do the noisy starts go?

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Solution to Exercise 4: the short run's fixed-point residual and spectral
# radius at every training image, next to the fully trained network's.
# Answer (printed below): after a twentieth of the training the images are
# no longer fixed points: f moves each of them by a sizeable fraction of its
# norm, against a rounding-level residual for the fully trained network. The
# Jacobian's spectral radius is already below one at most of the images, so f
# contracts near them, but towards points that are not the images, and only a
# minority of the noisy starts end at a training image. A memory needs both the
# fixed point, which only long training to a near-zero loss gives, and the
# contraction around it.
f_short, loss_short = train_memorizer(mem_steps // 20)
with torch.no_grad():
    resid = {
        name: (f(x_mem) - x_mem).norm(dim=1) / x_mem.norm(dim=1)
        for name, f in (("short", f_short), ("full", f_mem))
    }  # (8,) relative residual ||f(x) - x|| / ||x|| per training image
    end_short = ae.iterate_map(f_short, starts, steps=200)[-1]
rho_short = torch.stack([jacobian_spectrum(f_short, x).abs().max() for x in x_mem])
short_converged = (torch.cdist(end_short, x_mem).min(1).values < tol).float().mean()
print(f"{mem_steps // 20} steps: training MSE {loss_short:.1e} (full: {loss_mem:.1e})")
print(f"relative residuals, short {resid['short'].numpy().round(3)}")
print(f"relative residuals, full  {resid['full'].numpy().round(5)}")
print(f"spectral radii, short {rho_short.numpy().round(3)} (full: max {rho_max:.3f})")
print(
    f"noisy starts that reach a training image: {short_converged:.2f} ({converged:.2f})"
)
assert resid["short"].min() > 0.05 > 1e3 * resid["full"].max(), "not fixed points"
assert (rho_short < 1).float().mean() > 0.5, rho_short  # mostly contracting
assert short_converged < 0.5 <= converged


# %% [markdown]
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
