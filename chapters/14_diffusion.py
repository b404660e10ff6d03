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
# - write the forward (noising) process of a diffusion model, its linear and cosine schedules, and the closed form of $q(x_t \mid x_0)$;
# - train a noise-prediction network with the ε-objective and sample from it by ancestral (DDPM) sampling;
# - build a small U-Net with a sinusoidal time embedding and a class embedding, and train it on images;
# - sample with DDIM in a few dozen deterministic steps, and steer samples towards a class with classifier-free guidance;
# - judge generated images with a classifier and the Fréchet distance, against honest baselines.
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
# cheaper. Even so, on a 2-core laptop the cpu profile of this chapter is the
# book's slowest and may take up to five minutes (the U-Net has to train long
# enough for its images to look like clothes). `clf_n` and `clf_epochs` select the book's Fashion-MNIST classifier
# (shared with chapters 12 and 13), which judges the images at the end.

# %%
import time

import torch

from dlbook import data, frechet, mmd, plot
from dlbook import diffusion as diff
from dlbook.source import show_source
from dlbook.setup import synchronize
from dlbook.unet import UNet

cfg = dlbook.config(  # T: diffusion steps; *_steps: optimizer steps; n_img: training images (None: all)
    smoke=dict(
        moon_steps=1_500,
        moon_factor=5,
        T=200,
        images="digits",
        n_img=None,
        channels=(16, 32),
        patch=1,
        batch=64,
        lr=3e-3,
        img_steps=300,
        ema=0.99,
        ddim_steps=25,
        w=2.0,
        n_per_class=20,
        clf_n=3_000,
        clf_epochs=2,
        min_class_acc=0.3,
    ),
    cpu=dict(
        moon_steps=4_000,
        moon_factor=10,
        T=500,
        images="fashion",
        n_img=None,
        channels=(32, 64),
        patch=2,
        batch=64,
        lr=2e-3,
        img_steps=1_200,
        ema=0.995,
        ddim_steps=50,
        w=2.0,
        n_per_class=30,
        clf_n=12_000,
        clf_epochs=2,
        min_class_acc=0.6,
    ),
    gpu=dict(
        moon_steps=4_000,
        moon_factor=10,
        T=1_000,
        images="fashion",
        n_img=None,
        channels=(64, 128, 128),
        patch=1,
        batch=256,
        lr=1e-3,
        img_steps=4_000,
        ema=0.999,
        ddim_steps=50,
        w=2.0,
        n_per_class=100,
        clf_n=None,
        clf_epochs=6,
        min_class_acc=0.85,
    ),
)
use_amp = session.bf16  # bfloat16 autocast and channels_last for the U-Net, on a GPU with native bfloat16 (not a T4)
cfg

# %% [markdown]
# ## The forward process: from data to noise
#
# Take a data point $x_0$ (an image, scaled to $[-1, 1]$) and a *noise schedule*
# $0 < \beta_1 < \dots < \beta_T < 1$. The forward process adds a little
# Gaussian noise at each of $T$ steps, shrinking the signal so that the
# variance stays bounded:
#
# $$
# q(x_t \mid x_{t-1}) = \mathcal{N}\big(x_t;\ \sqrt{1-\beta_t}\, x_{t-1},\ \beta_t I\big),
# \qquad t = 1, \dots, T.
# $$ (eq-forward-step)
#
# A sum of independent Gaussians is Gaussian, so we never have to run the
# chain: with $\alpha_t = 1 - \beta_t$ and $\bar\alpha_t = \prod_{s=1}^t \alpha_s$,
#
# $$
# q(x_t \mid x_0) = \mathcal{N}\big(x_t;\ \sqrt{\bar\alpha_t}\, x_0,\ (1-\bar\alpha_t) I\big),
# \qquad\text{i.e.}\qquad x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,\quad
# \varepsilon \sim \mathcal{N}(0, I).
# $$ (eq-q-closed)
#
# (By induction: if $x_{t-1} = \sqrt{\bar\alpha_{t-1}} x_0 + \sqrt{1-\bar\alpha_{t-1}}\,\varepsilon'$, one more
# step gives mean $\sqrt{\alpha_t \bar\alpha_{t-1}}\, x_0$ and variance
# $\alpha_t(1-\bar\alpha_{t-1}) + \beta_t = 1 - \bar\alpha_t$.) When
# $\bar\alpha_T \approx 0$, $x_T$ is standard normal whatever $x_0$ was. Two
# schedules are common: Ho et al.'s *linear* one, $\beta_t$ from $10^{-4}$ to
# $0.02$ over $T = 1000$ steps {cite}`ho2020denoising`, and Nichol and
# Dhariwal's *cosine* one {cite}`nichol2021improved`, which prescribes
# $\bar\alpha_t$ directly:
#
# $$
# \bar\alpha_t = \frac{f(t)}{f(0)},\qquad f(t) = \cos^2\!\Big(\frac{t/T + s}{1+s}\cdot\frac{\pi}{2}\Big),\quad s = 0.008,
# \qquad \beta_t = 1 - \frac{\bar\alpha_t}{\bar\alpha_{t-1}}.
# $$ (eq-cosine)
#
# Both live in `dlbook.diffusion`; the time index $i = 0, \dots, T-1$ of a tensor stands for $t = i + 1$.

# %%
show_source(diff.cosine_betas)

# %% tags=["hide-input"]
T_plot = 1_000
schedules = {
    "linear": diff.Schedule.from_betas(diff.linear_betas(T_plot)),
    "cosine": diff.Schedule.from_betas(diff.cosine_betas(T_plot)),
}
fig, ax = plot.subplots(width=5.5, height=3.2)
plot.curves(
    ax,
    {name: s.alpha_bars.tolist() for name, s in schedules.items()},
    x=range(1, T_plot + 1),
    xlabel="step t",
    ylabel=r"$\bar\alpha_t$ (signal fraction of the variance)",
    title=f"noise schedules, T = {T_plot}",
)
plot.show(fig)

# %% [markdown]
# The linear schedule destroys most of the signal in the first third of the
# chain and then wastes hundreds of steps on almost pure noise; the cosine
# schedule lowers $\bar\alpha_t$ gently and nearly linearly in the middle,
# which helps small images, where a little noise already hides much of the
# content. This chapter uses the cosine schedule.
#
# Equation {eq}`eq-q-closed` is the fact everything below relies on, so we
# check it: fix one $x_0$, run the chain {eq}`eq-forward-step` step by step
# many times, and compare the mean and variance of $x_t$ with the closed form
# and with draws of `q_sample`.

# %%
sched_lin = schedules["linear"]
x0 = torch.tensor([0.8, -0.5])
n_chains, t_check = 20_000, [10, 100, 400]
x, chain = x0.expand(n_chains, 2).clone(), {}
for i in range(max(t_check)):  # eq-forward-step, one step at a time
    x = (1 - sched_lin.betas[i]).sqrt() * x + sched_lin.betas[
        i
    ].sqrt() * torch.randn_like(x)
    if i + 1 in t_check:
        chain[i + 1] = x.clone()
for t in t_check:
    closed = diff.q_sample(
        x0.expand(n_chains, 2), torch.full((n_chains,), t - 1), sched_lin
    )
    abar = sched_lin.alpha_bars[t - 1]
    print(
        f"t={t:3d}: mean chain {chain[t].mean(0).numpy().round(3)}, closed {closed.mean(0).numpy().round(3)}, "
        f"theory {(abar.sqrt() * x0).numpy().round(3)}; var chain {chain[t].var(0).numpy().round(3)}, "
        f"closed {closed.var(0).numpy().round(3)}, theory {1 - abar:.3f}"
    )

# %% tags=["remove-cell"]
for t in t_check:
    abar = sched_lin.alpha_bars[t - 1]
    closed = diff.q_sample(
        x0.expand(n_chains, 2), torch.full((n_chains,), t - 1), sched_lin
    )
    for sample in (
        chain[t],
        closed,
    ):  # standard errors: sqrt(var/n) ~ 0.007 for the mean
        assert torch.allclose(sample.mean(0), abar.sqrt() * x0, atol=0.03), (
            t,
            sample.mean(0),
        )
        assert torch.allclose(sample.var(0), (1 - abar).expand(2), atol=0.03), (
            t,
            sample.var(0),
        )

# %% [markdown]
# Chain, closed form and theory agree to Monte-Carlo precision (a standard
# error of about $0.007$ for the means with 20,000 chains). So a training
# example at any noise level costs one line, without simulating the chain.
#
# ## DDPM: learning to remove the noise
#
# The reverse process runs the chain backwards, $p_\theta(x_{t-1} \mid x_t) =
# \mathcal{N}(\mu_\theta(x_t, t), \sigma_t^2 I)$. Ho et al.
# {cite}`ho2020denoising` showed that the variational bound on the likelihood
# reduces, up to weights they drop, to a regression: sample $x_0$, a step $t$
# and noise $\varepsilon$, form $x_t$ by {eq}`eq-q-closed`, and ask a network
# $\varepsilon_\theta$ to tell which noise was added,
#
# $$
# L(\theta) = \mathbb{E}_{x_0,\, t \sim \mathcal{U}\{1..T\},\, \varepsilon \sim \mathcal{N}(0, I)}
# \Big\| \varepsilon - \varepsilon_\theta\big(\sqrt{\bar\alpha_t}\, x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,\ t\big) \Big\|^2 .
# $$ (eq-eps-loss)
#
# Sampling then starts from $x_T \sim \mathcal{N}(0, I)$ and applies $T$
# *ancestral* steps, each removing the predicted noise and adding back a little
# fresh noise $z \sim \mathcal{N}(0, I)$ (none at the last step):
#
# $$
# x_{t-1} = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\,\varepsilon_\theta(x_t, t)\Big)
#           + \sigma_t z,\qquad \sigma_t^2 = \tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\beta_t .
# $$ (eq-ddpm-step)
#
# Both are short in code:

# %%
show_source(diff.eps_loss)

# %% [markdown]
# The sampler, `diff.ddpm_sample`, is a loop over {eq}`eq-ddpm-step` (with an
# option to clamp the predicted $x_0$ to the data range, used for images). We
# try both on two moons: 2-D points, a small MLP as $\varepsilon_\theta$ that
# sees $x_t$ together with a *sinusoidal embedding* of $t$ — the same sines and
# cosines of geometrically spaced frequencies that encode positions in the
# Transformer of {ref}`ch-attention`.

# %%
x_raw = data.two_moons(4_000, noise=0.05, seed=1)[0]
mu, sd = x_raw.mean(0), x_raw.std(0)
x_moons = (
    x_raw - mu
) / sd  # standardized: the data's scale matches the unit-variance noise
x_held = (
    data.two_moons(2_000, noise=0.05, seed=2)[0] - mu
) / sd  # held-out points, same scaling
sched_2d = diff.Schedule.from_betas(diff.cosine_betas(200))
torch.manual_seed(0)
mlp = diff.MLPDenoiser(dim=2, hidden=128, depth=3)
opt = torch.optim.Adam(mlp.parameters(), lr=2e-3)
moon_losses = []
for _ in range(cfg.moon_steps):
    batch = x_moons[torch.randint(0, len(x_moons), (256,))]
    loss = diff.eps_loss(mlp, batch, sched_2d)  # eq-eps-loss
    opt.zero_grad()
    loss.backward()
    opt.step()
    moon_losses.append(loss.item())
print(
    f"ε-loss: first 100 steps {sum(moon_losses[:100]) / 100:.3f}, last 100 {sum(moon_losses[-100:]) / 100:.3f}"
)

# %% [markdown]
# The loss cannot reach zero — at large $t$ the noise is nearly all of $x_t$
# and cannot be told apart from the data — but it falls well below its
# starting value of about 1 (predicting zero noise). Now we sample with
# {eq}`eq-ddpm-step` and measure the result with the maximum mean discrepancy
# of {ref}`ch-gans` against held-out points.

# %%
gen = torch.Generator().manual_seed(0)
moon_samples, moon_traj = diff.ddpm_sample(
    mlp, (2_000, 2), sched_2d, generator=gen, keep=(199, 100, 40)
)
noise_2d = torch.randn(2_000, 2, generator=gen)
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

# %% tags=["remove-cell"]
assert moon_losses[-1] < moon_losses[0] and sum(moon_losses[-100:]) < 0.8 * sum(
    moon_losses[:100]
)
assert mmd_samples < mmd_noise / cfg.moon_factor, (mmd_samples, mmd_noise)
assert mmd_samples < 0.02, (
    mmd_samples
)  # measured: about 0.014 (smoke) and 0.006 (cpu) on the standardized moons

# %% [markdown]
# The samples' MMD² to held-out data is much smaller than the noise's (the
# check asks for a factor of `moon_factor`: 10 in the cpu and gpu profiles, 5
# after the short smoke training), and it approaches the floor set by two
# independent draws of real data, which is zero up to sampling error. The
# absolute tolerance of the check, $0.02$, comes from measurements: trained
# samplers gave about $0.006$ after 4,000 steps and $0.014$ after 1,500,
# while the noise gives several times $0.02$, so a sampler that misplaced a
# moon or blurred both would fail it. The picture shows the same: the cloud of
# noise contracts onto the two moons as $t$ goes to zero.

# %% tags=["hide-input"]
fig, axes = plot.subplots(1, 4, width=10, height=2.8, sharex=True, sharey=True)
panels = [
    ("x_200 (noise)", moon_traj[199]),
    ("x_100", moon_traj[100]),
    ("x_40", moon_traj[40]),
    ("x_0 (samples) vs data", moon_samples),
]
for ax, (title, pts) in zip(axes, panels):
    if "data" in title:
        ax.scatter(*x_held[:1_000].T, s=2, c="C1", alpha=0.4, label="held-out data")
    ax.scatter(*pts[:1_000].T, s=2, c="C0", alpha=0.5, label="samples")
    ax.set_title(title)
    ax.set_xlabel("$x_1$")
axes[0].set_ylabel("$x_2$")
axes[-1].legend(loc="lower left", fontsize=7, markerscale=4)
axes[0].set_xlim(-3, 3)
axes[0].set_ylim(-3, 3)
plot.show(fig)

# %% [markdown]
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
# conditional model — to the features inside every block, so that each
# layer knows how noisy its input is:

# %%
show_source(UNet.forward)

# %% [markdown]
# Each `ResBlock` is two GroupNorm–SiLU–convolution stages with the
# embedding, mapped to one shift per channel, added in between. The last
# convolution starts at zero, so the untrained model predicts no noise.
# The class embedding has one extra row, the "no class" label $\varnothing$,
# for classifier-free guidance (below). We load the images, scale them to
# $[-1, 1]$, and check the network's shapes.

# %%
if cfg.images == "digits":  # smoke profile: scikit-learn's 8x8 digits, values 0..16
    ds = data.load_digits()
    img01, labels = ds.x.float()[:, None] / 16, ds.y
    test01, test_labels = (
        img01[-300:],
        labels[-300:],
    )  # held out for the Fréchet floor below
    img01, labels = img01[:-300], labels[:-300]
else:
    ds = data.subset(data.load_fashion_mnist("train"), cfg.n_img)
    img01, labels = data.to_float(ds.x), ds.y
    test = data.load_fashion_mnist("test")
    test01, test_labels = data.to_float(test.x), test.y
class_names, num_classes = ds.classes, len(ds.classes)
x_img = (img01 * 2 - 1).to(device)  # (N, 1, H, W) in [-1, 1]
y_img = labels.to(device)
sched = diff.Schedule.from_betas(diff.cosine_betas(cfg.T)).to(device)
torch.manual_seed(0)
unet = UNet(1, cfg.channels, num_classes=num_classes, patch=cfg.patch).to(device)
if use_amp:
    unet = unet.to(memory_format=torch.channels_last)
with torch.no_grad():
    out = unet(x_img[:4], torch.tensor([0, 1, 2, 3], device=device), y_img[:4])
print(
    f"{ds.name}: {tuple(x_img.shape)} images; U-Net out {tuple(out.shape)}, "
    f"{sum(p.numel() for p in unet.parameters()):,} parameters"
)

# %% tags=["remove-cell"]
assert (
    out.shape == x_img[:4].shape and float(out.abs().max()) == 0.0
)  # zero-initialized output layer

# %% [markdown]
# We train one class-conditional model and use it for everything below. With
# probability $0.1$ the label of a training image is replaced by
# $\varnothing$, so the same network also learns the unconditional noise
# prediction. `diff.train_denoiser` is the loop of the two-moons section with
# what images need: AdamW with a short warm-up and a cosine decay, random
# mini-batches, and an exponential moving average (EMA) of the weights,
# $\bar\theta \leftarrow d\,\bar\theta + (1-d)\,\theta$, from which we sample —
# averaging smooths out the noise of the last steps, which shows in samples.

# %%
t0 = time.perf_counter()
ema_unet, img_losses = diff.train_denoiser(
    unet,
    x_img,
    sched,
    y=y_img,
    steps=cfg.img_steps,
    batch_size=cfg.batch,
    lr=cfg.lr,
    p_uncond=0.1,
    num_classes=num_classes,
    ema_decay=cfg.ema,
    amp=use_amp,
)
train_seconds = dlbook.report(
    "U-Net training time", time.perf_counter() - t0, fmt=".1f", unit="s"
)
k = max(1, cfg.img_steps // 10)
loss_first, loss_last = sum(img_losses[:k]) / k, sum(img_losses[-k:]) / k
print(f"ε-loss: first {k} steps {loss_first:.3f}, last {k} steps {loss_last:.3f}")

# %% tags=["remove-cell"]
assert loss_last < 0.5 * loss_first, (loss_first, loss_last)

# %% tags=["hide-input"]
fig, ax = plot.subplots(width=5.5, height=3.0)
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
# ## Sampling: DDPM and DDIM
#
# Ancestral sampling needs all $T$ network evaluations. Song et al.
# {cite}`song2021denoising` observed that the training objective
# {eq}`eq-eps-loss` only involves the marginals $q(x_t \mid x_0)$, which many
# non-Markovian processes share. Their DDIM sampler first estimates the clean
# image, then jumps to an earlier time $\tau' < \tau$ of a short sub-sequence
# $\tau_1 > \tau_2 > \dots$ of the $T$ steps:
#
# $$
# \hat x_0 = \frac{x_\tau - \sqrt{1-\bar\alpha_\tau}\,\varepsilon_\theta(x_\tau, \tau)}{\sqrt{\bar\alpha_\tau}},\qquad
# x_{\tau'} = \sqrt{\bar\alpha_{\tau'}}\,\hat x_0 + \sqrt{1-\bar\alpha_{\tau'} - \sigma^2}\;\varepsilon_\theta(x_\tau, \tau)
#            + \sigma z ,
# $$ (eq-ddim)
#
# with $\sigma = \eta\sqrt{(1-\bar\alpha_{\tau'})/(1-\bar\alpha_\tau)}\sqrt{1-\bar\alpha_\tau/\bar\alpha_{\tau'}}$.
# With $\eta = 0$ the update is deterministic: the same $x_T$ always gives the
# same image, and a few dozen steps suffice. Both samplers clamp $\hat x_0$ to
# $[-1, 1]$, the range of the data. We draw the same 40 unconditional samples
# (label $\varnothing$) with both, from the same starting noise.


# %%
def to01(x):
    return ((x.float() + 1) / 2).clamp(0, 1).cpu()


def clock() -> float:
    """The time in seconds once queued GPU work has finished (a GPU runs asynchronously)."""
    synchronize(device)
    return time.perf_counter()


H, W = x_img.shape[-2:]
null = torch.full((40,), num_classes, device=device)
x_T = torch.randn(
    40, 1, H, W, device=device, generator=torch.Generator(device).manual_seed(1)
)
keep = tuple(round(v) for v in torch.linspace(cfg.T - 1, 0, 8).tolist())
with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
    t0 = clock()
    ddpm_imgs, trajectory = diff.ddpm_sample(
        ema_unet,
        x_T.shape,
        sched,
        y=null,
        x_T=x_T,
        clip=1.0,
        keep=keep,
        generator=torch.Generator(device).manual_seed(2),
    )
    ddpm_seconds = dlbook.report(
        f"DDPM sampling, {cfg.T} steps, 40 images", clock() - t0, fmt=".2f", unit="s"
    )
    t0 = clock()
    ddim_imgs = diff.ddim_sample(
        ema_unet, x_T.shape, sched, steps=cfg.ddim_steps, y=null, x_T=x_T, clip=1.0
    )
    ddim_seconds = dlbook.report(
        f"DDIM sampling, {cfg.ddim_steps} steps, 40 images",
        clock() - t0,
        fmt=".2f",
        unit="s",
    )
    ddim_again = diff.ddim_sample(
        ema_unet, x_T.shape, sched, steps=cfg.ddim_steps, y=null, x_T=x_T, clip=1.0
    )
print(
    f"DDIM is {ddpm_seconds / ddim_seconds:.1f}x faster; same noise twice -> largest difference "
    f"{(ddim_imgs - ddim_again).abs().max():.2e}"
)

# %% tags=["remove-cell"]
# eta = 0: deterministic. Bit for bit on a CPU; a GPU may pick other kernels for the same
# computation, so there we allow rounding-level differences (bfloat16: about 1e-2; DDPM differs by O(1)).
assert (
    torch.equal(ddim_imgs, ddim_again)
    if device.type == "cpu"
    else torch.allclose(ddim_imgs, ddim_again, atol=1e-2)
)
assert ddim_seconds < ddpm_seconds

# %% tags=["hide-input"]
fig, axes = plot.subplots(1, 2, width=10, height=3.4)
plot.image_grid(axes[0], to01(ddpm_imgs), ncols=8, vrange=(0, 1))
axes[0].set_title(
    f"DDPM, {cfg.T} steps ({ddpm_seconds:.1f} s) — {session.profile} profile",
    fontsize=9,
)
plot.image_grid(axes[1], to01(ddim_imgs), ncols=8, vrange=(0, 1))
axes[1].set_title(
    f"DDIM (η = 0), {cfg.ddim_steps} steps ({ddim_seconds:.1f} s) — {session.profile} profile",
    fontsize=9,
)
plot.show(fig)

# %% [markdown]
# Both grids start from the same noise, but the DDPM chain adds fresh noise
# at every step, so the two samplers end at different images. DDIM needs a
# fraction of the network evaluations — the timings above show the speed-up
# — at some cost in quality when the model is small and briefly trained,
# since each of its few large steps relies on one prediction of the noise. The trajectory of the DDPM chain shows
# how an image appears: coarse shape first, then detail.

# %% tags=["hide-input"]
rows = torch.stack(
    [trajectory[i][:6] for i in keep[1:]] + [ddpm_imgs[:6]], 1
)  # (6, steps, 1, H, W)
fig, ax = plot.subplots(width=8, height=6.2)
plot.image_grid(
    ax, to01(rows.flatten(0, 1).clamp(-1, 1)), ncols=len(keep), vrange=(0, 1)
)
ax.set_title(
    f"DDPM trajectories, left to right t = {', '.join(str(i + 1) for i in keep[1:])}, 0 "
    f"({session.profile} profile)",
    fontsize=9,
)
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
# \tilde\varepsilon_\theta(x_t, t, y) = (1 + w)\,\varepsilon_\theta(x_t, t, y) - w\,\varepsilon_\theta(x_t, t, \varnothing),
# $$ (eq-cfg)
#
# and use $\tilde\varepsilon$ in any sampler. The weight $w \ge 0$ trades
# diversity for class fidelity; $w = 0$ is the plain conditional model. Each
# step costs two network evaluations (one batch of twice the size):

# %%
show_source(diff.guided_eps)

# %%
n_show = 8
y_grid = torch.arange(num_classes, device=device).repeat_interleave(n_show)
with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
    cfg_imgs = diff.ddim_sample(
        ema_unet,
        (len(y_grid), 1, H, W),
        sched,
        steps=cfg.ddim_steps,
        y=y_grid,
        w=cfg.w,
        null_class=num_classes,
        clip=1.0,
        generator=torch.Generator(device).manual_seed(3),
    )
print(f"{tuple(cfg_imgs.shape)} class-conditional samples, guidance weight w = {cfg.w}")

# %% tags=["hide-input"]
fig, ax = plot.subplots(width=6, height=7.5)
plot.image_grid(ax, to01(cfg_imgs), ncols=n_show, vrange=(0, 1))
ax.set_title(
    f"DDIM {cfg.ddim_steps} steps, guidance w = {cfg.w}: one row per class ({session.profile} profile)",
    fontsize=9,
)
for r, name in enumerate(class_names):
    ax.text(-2, 2 + r * (H + 2) + H / 2, name, ha="right", va="center", fontsize=8)
plot.show(fig)

# %% [markdown]
# Each row should show its class. The images above come from a U-Net of a
# few hundred thousand parameters; the systems that made diffusion famous
# scale the same recipe up. *Latent diffusion* {cite}`rombach2022high` runs
# the diffusion in the latent space of a pretrained autoencoder (as in
# {ref}`ch-autoencoders`), which makes high-resolution images affordable, and
# conditions on text through cross-attention. *Diffusion transformers*
# {cite}`peebles2023scalable` replace the U-Net by a Vision Transformer on
# patches of that latent ({ref}`ch-attention`) — our `patch` option is a
# small cousin of that patchification.
#
# ## Evaluation
#
# Does a conditional sample show the class that was asked for? The book's
# classifier answers: we draw `n_per_class` samples per class with guidance
# and report how many it recognises as the requested class (chance: 0.1).
# For the Fréchet distance {cite}`heusel2017gans` of the samples to real test
# images in the classifier's feature space we add two reference points: a
# Gaussian fitted to the training pixels (mean and full covariance) — a
# generator that knows second-order statistics and nothing else — and a
# second set of real test images, the floor a perfect generator would reach
# at this sample size.

# %%
if cfg.images == "digits":
    judge = frechet.train_classifier(
        img01, labels, epochs=8, device=device, progress=True
    )
    judge_acc = frechet.classifier_accuracy(judge, test01, test_labels)
else:
    judge, judge_acc = frechet.fashion_classifier(
        cfg.clf_n, epochs=cfg.clf_epochs, device=device, test=test
    )
dlbook.report(f"judge classifier test accuracy ({ds.name})", judge_acc, fmt=".4f")
y_eval = torch.arange(num_classes, device=device).repeat_interleave(cfg.n_per_class)
with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
    gen_eval = torch.cat(
        [
            diff.ddim_sample(
                ema_unet,
                (len(yb), 1, H, W),
                sched,
                steps=cfg.ddim_steps,
                y=yb,
                w=cfg.w,
                null_class=num_classes,
                clip=1.0,
                generator=torch.Generator(device).manual_seed(4 + j),
            )
            for j, yb in enumerate(y_eval.split(500))
        ]
    )
recognized = frechet.predict(judge, to01(gen_eval)) == y_eval.cpu()
class_acc = dlbook.report(
    "classifier recognizes the requested class", recognized.float().mean(), fmt=".3f"
)

# %% tags=["remove-cell"]
assert judge_acc > 0.7
assert class_acc >= cfg.min_class_acc, (class_acc, cfg.min_class_acc)

# %% [markdown]
# Well above chance: the guided samples show their classes. Now the Fréchet
# distances, all computed from the same number of images.

# %%
n_fd = len(gen_eval)
pixels = img01.flatten(1).double()
gauss = torch.distributions.MultivariateNormal(
    pixels.mean(0), torch.cov(pixels.T) + 1e-4 * torch.eye(pixels.shape[1])
)
torch.manual_seed(5)
gauss_imgs = gauss.sample((n_fd,)).float().clamp(0, 1).reshape(n_fd, 1, H, W)
perm = torch.randperm(len(test01))
real_a, real_b = test01[perm[:n_fd]], test01[perm[n_fd : 2 * n_fd]]
f_real = frechet.embed(judge, real_a)
candidates = {
    "diffusion samples": to01(gen_eval),
    "Gaussian fitted to pixels": gauss_imgs,
    "real test images": real_b,
}
fd = {
    name: dlbook.report(
        f"FD to real test images: {name}",
        frechet.frechet_distance(frechet.embed(judge, imgs), f_real),
        fmt=".2f",
    )
    for name, imgs in candidates.items()
}

# %% tags=["remove-cell"]
assert fd["real test images"] < fd["Gaussian fitted to pixels"]
if session.profile != "smoke":
    assert fd["diffusion samples"] < fd["Gaussian fitted to pixels"], fd

# %% [markdown]
# The ordering the run prints is the one to look for: real images lowest, the
# diffusion samples between them and the Gaussian baseline (the check above
# asserts it in the cpu and gpu profiles; with the 8x8 digits of the smoke
# profile the short training gives no guarantee). With a few hundred images
# the absolute values carry a sampling bias, which is why the real-vs-real
# floor is not zero; compare the numbers with each other, not with published
# FID values, which use Inception features and 50,000 images.

# %% tags=["hide-input"]
fig, axes = plot.subplots(1, 3, width=10, height=3.2)
for ax, (name, imgs) in zip(axes, candidates.items()):
    plot.image_grid(ax, imgs[:: max(1, n_fd // 24)][:24], ncols=6, vrange=(0, 1))
    ax.set_title(f"{name}\nFD {fd[name]:.1f}", fontsize=9)
plot.show(fig)

# %% [markdown]
# ## Summary
#
# ```{admonition} Summary
# :class: important
# - The forward process adds Gaussian noise on a schedule; $q(x_t \mid x_0)$ is Gaussian in closed form, {eq}`eq-q-closed`, so a training pair at any noise level costs one line.
# - A diffusion model trains a network to predict the added noise, {eq}`eq-eps-loss`, a plain regression, and samples by running the chain backwards, {eq}`eq-ddpm-step`.
# - The noise model for images is a U-Net with time (and class) embeddings added in every residual block; an EMA of the weights improves the samples.
# - DDIM, {eq}`eq-ddim`, reuses the same network to sample deterministically in a few dozen steps.
# - Classifier-free guidance, {eq}`eq-cfg`, trades diversity for class fidelity with one network trained with label dropout.
# - Judge generated images against baselines and the real-vs-real floor, with a classifier that checks the requested class.
# ```
#
# ## Exercises
#
# **Exercise 1 (the signal-to-noise ratio).** The ratio $\mathrm{SNR}(t) =
# \bar\alpha_t / (1 - \bar\alpha_t)$ measures how much of $x_t$ is signal.
# For $T = 1000$, find the step at which each schedule of the first section
# crosses $\mathrm{SNR} = 1$, and the fraction of steps spent with
# $\mathrm{SNR} < 10^{-2}$ (essentially pure noise).

# %% tags=["hide-cell"]
# Solution to Exercise 1.
for name, s in schedules.items():
    snr = s.alpha_bars / (1 - s.alpha_bars)
    cross = int((snr < 1).nonzero()[0]) + 1
    wasted = (snr < 1e-2).float().mean().item()
    print(
        f"{name:6s}: SNR = 1 at t = {cross}; fraction of steps with SNR < 0.01: {wasted:.2f}"
    )
snr_lin = schedules["linear"].alpha_bars / (1 - schedules["linear"].alpha_bars)
snr_cos = schedules["cosine"].alpha_bars / (1 - schedules["cosine"].alpha_bars)
assert (snr_lin < 1e-2).float().mean() > (
    snr_cos < 1e-2
).float().mean()  # linear wastes more steps on noise
assert (
    abs(int((snr_cos < 1).nonzero()[0]) + 1 - T_plot / 2) < 0.05 * T_plot
)  # cosine crosses 1 near T/2

# %% [markdown]
# The linear schedule passes $\mathrm{SNR} = 1$ early and spends a large share
# of its steps in near-pure noise; the cosine schedule crosses near $T/2$ by
# construction ($\bar\alpha = 1/2$ where the cosine is $1/\sqrt{2}$).
#
# **Exercise 2 (η interpolates).** Sample the two-moons model with DDIM
# ($50$ steps) at $\eta = 0$ and $\eta = 1$, twice each from the same $x_T$.
# Show that $\eta = 0$ repeats itself exactly while $\eta = 1$ does not, and
# that both reproduce the data (MMD² well below that of the noise). Clamp the
# predicted $x_0$ to $[-3, 3]$, a box that holds the standardized data: at
# the first DDIM step $\bar\alpha_T$ is nearly zero, and dividing by
# $\sqrt{\bar\alpha_T}$ in {eq}`eq-ddim` would amplify small errors of
# $\varepsilon_\theta$ without it.

# %% tags=["hide-cell"]
# Solution to Exercise 2.
xT_2d = torch.randn(2_000, 2, generator=torch.Generator().manual_seed(7))
res = {}
for eta in (0.0, 1.0):
    a, b = (
        diff.ddim_sample(
            mlp,
            xT_2d.shape,
            sched_2d,
            steps=50,
            eta=eta,
            x_T=xT_2d,
            clip=3.0,
            generator=torch.Generator().manual_seed(s),
        )
        for s in (8, 9)
    )
    res[eta] = ((a - b).abs().max().item(), mmd.mmd2(a, x_held))
    print(
        f"eta = {eta}: largest difference between two runs {res[eta][0]:.3f}; MMD² to held-out {res[eta][1]:.4f}"
    )
assert res[0.0][0] == 0.0 and res[1.0][0] > 0.1
assert max(res[0.0][1], res[1.0][1]) < mmd_noise / 2

# %% [markdown]
# With $\eta = 0$ the sampler is a deterministic map from noise to data; with
# $\eta = 1$ fresh noise enters at every step and the two runs end at
# different points — yet both clouds match the data.
#
# **Exercise 3 (the guidance weight).** Draw class-conditional samples with
# $w = 0$ and with the chapter's $w$, and compare the fraction the classifier
# recognises. Which way does guidance move it?

# %% tags=["hide-cell"]
# Solution to Exercise 3.
y_w = torch.arange(num_classes, device=device).repeat_interleave(10)
frac = {}
for w in (0.0, cfg.w):
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
        imgs = diff.ddim_sample(
            ema_unet,
            (len(y_w), 1, H, W),
            sched,
            steps=cfg.ddim_steps,
            y=y_w,
            w=w,
            null_class=num_classes,
            clip=1.0,
            generator=torch.Generator(device).manual_seed(11),
        )
    frac[w] = (frechet.predict(judge, to01(imgs)) == y_w.cpu()).float().mean().item()
    print(
        f"w = {w}: classifier recognizes the requested class in {frac[w]:.2f} of the samples"
    )
assert (
    frac[cfg.w] >= frac[0.0] - 0.05
)  # guidance does not hurt recognisability (it usually helps)

# %% [markdown]
# Guidance makes the class features more pronounced, so the classifier
# recognises more samples; pushed further (try $w = 6$) the images become
# exaggerated and less varied — the trade-off Ho and Salimans describe.
#
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
