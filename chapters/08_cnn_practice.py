# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# (ch-cnn-practice)=
# # Understanding and using CNNs
#
# ```{admonition} Learning objectives
# :class: tip
# After this chapter you can
# - choose data augmentations from the invariances a task has, and detect a spurious shortcut by testing without it;
# - reuse a trained feature extractor on a new task by freezing it, fine-tuning it or inserting a small adapter;
# - visualise what a network responds to: first-layer filters, activation and class-score maximisation;
# - explain a prediction with a saliency map and Grad-CAM, and break it with the fast gradient sign method;
# - reproduce how non-Gaussian input statistics make a fully connected layer learn localized receptive fields.
# ```
#
# The previous chapters built convolutional networks ({ref}`ch-convolutions`)
# and made them deep ({ref}`ch-cnn-architectures`). This chapter is about
# living with them. We ask which transformations of the data a model should
# ignore, how a model can learn the wrong rule, how to reuse a trained network
# when labels are scarce, and how to look inside it — with the humbling
# discovery that an imperceptible change of the input can flip its answer.
# We close with a question of where convolutions come from: a fully connected
# layer, trained on the right data, grows local receptive fields by itself.

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

import torch
import torch.nn.functional as F
from torch import nn

from dlbook import check, data, plot, receptive, train
from dlbook.interpret import capture, check_ascent, check_images, check_labels
from dlbook.interpret import eval_mode, per_image, targets
from dlbook.receptive import erf_std, gp

# %% [markdown]
# The profiles differ in how many Fashion-MNIST images we pretrain on, how
# long each model trains and how many steps the receptive-field experiment runs.

# %%
# n_pre: pretraining images (classes 0-4); n_small: labelled images of classes 5-9;
# rf_steps: the committee's online SGD, on the CPU: gpu keeps the cpu size
# fmt: off
cfg = dlbook.config(
    smoke=dict(n_pre=3_000, pre_epochs=2, n_small=50, small_epochs=10, n_test=1_000,
               n_attack=500, ascent_steps=60, rf_steps=800),
    cpu=dict(n_pre=12_000, pre_epochs=3, n_small=50, small_epochs=10, n_test=5_000,
             n_attack=1_000, ascent_steps=150, rf_steps=2_000),
    gpu=dict(n_pre=None, pre_epochs=10, n_small=50, small_epochs=10, n_test=None,
             n_attack=5_000, ascent_steps=400, rf_steps=2_000),
)
# fmt: on
cfg

# %% [markdown]
# ## Invariances a task has, and a task lacks
#
# *Data augmentation* trains on transformed copies $T(\mathbf{x})$ of each
# image with the label unchanged. It is a way of telling the model
#
# $$
# f(T(\mathbf{x})) = f(\mathbf{x}) \quad \text{for every } T \text{ in the augmentation set},
# $$ (eq-invariance)
#
# so it helps only when the *task* is invariant under $T$. A coat mirrored
# left to right is still a coat; a mirrored "2" is no longer a 2, and a
# mirrored "7" is not a digit at all. Rather than argue, we measure it: train a
# small CNN on scikit-learn's 8×8 digits {cite}`pedregosa2011scikit` and ask
# how well it recognises the test digits after a horizontal flip.

# %%
digits = data.load_digits()
xd = digits.x.float()[:, None] / 16  # (1797, 1, 8, 8) in [0, 1]
perm = torch.randperm(len(xd), generator=torch.Generator().manual_seed(0))
tr, te = perm[:1_200], perm[1_200:]


def digit_cnn(size: int = 8) -> nn.Module:
    """A two-layer CNN for small single-channel images of side `size`, 10 classes."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # (N, 16, size/2, size/2)
        nn.Flatten(),
        nn.Linear(16 * (size // 2) ** 2, 10),
    ).to(device)


# %% [markdown]
# `fit_quiet` wraps the book's training loop; it takes an optional
# `transform`, applied to every mini-batch, which is where augmentation goes.


# %%
def fit_quiet(model, x, y, epochs, lr=3e-3, transform=None, batch_size=64):
    """Adam on (x, y) for a few epochs, no progress bar; returns the History."""
    batches = data.Batches(
        x, y, batch_size=batch_size, device=device, transform=transform
    )
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    return train.fit(model, batches, epochs=epochs, optimizer=opt, progress=False)


# %% [markdown]
# Three digit models: no augmentation, random shifts by one pixel, and random
# horizontal flips. Both transformations draw their randomness *per image*:
# one draw per mini-batch would move or mirror all images of a batch
# together, and the model would see far fewer distinct variants.


# %%
def random_shift(x: torch.Tensor, max_shift: int = 1) -> torch.Tensor:
    """Shift each image (N, C, H, W) by its own random offset, filling with zeros."""
    n, h, w, m = len(x), *x.shape[-2:], max_shift
    dy, dx = torch.randint(0, 2 * m + 1, (2, n, 1, 1), device=x.device)  # per image
    rows = (dy + torch.arange(h, device=x.device)[:, None]).expand(n, h, w)  # (N, H, W)
    cols = (dx + torch.arange(w, device=x.device)).expand(n, h, w)
    padded = F.pad(x, [m] * 4)  # (N, C, H + 2m, W + 2m)
    i = torch.arange(n, device=x.device)[:, None, None]  # (N, 1, 1)
    return padded[i, :, rows, cols].permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)


# %% [markdown]
# A flip needs no index arithmetic: `torch.where` takes, image by image,
# either the mirrored or the original version. `accuracy` scores a model on
# a whole data set.


# %%
def random_flip(x: torch.Tensor) -> torch.Tensor:
    """Mirror a random half of the images (N, C, H, W) left to right."""
    flip = torch.rand(len(x), device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def accuracy(model, x, y):
    batches = data.Batches(x.to(device), y.to(device), batch_size=512, shuffle=False)
    return train.evaluate(model, batches)[1]


# %% [markdown]
# Each model trains for the same number of epochs; we score it on the plain
# test digits and on the same digits mirrored.

# %%
digit_acc = {}
for name, transform in [("none", None), ("shift", random_shift), ("flip", random_flip)]:
    torch.manual_seed(0)
    model_d = digit_cnn()
    fit_quiet(model_d, xd[tr], digits.y[tr], epochs=30, transform=transform)
    digit_acc[name] = (
        accuracy(model_d, xd[te], digits.y[te]),
        accuracy(model_d, xd[te].flip(-1), digits.y[te]),
    )
    plain, flipped = digit_acc[name]
    print(f"augmentation {name:>5}: test accuracy {plain:.3f}, flipped {flipped:.3f}")
acc_flipped = dlbook.report(
    "digits accuracy on flipped test images", digit_acc["none"][1], fmt=".3f"
)

# %% [markdown]
# Without augmentation, the accuracy on mirrored digits printed above is far
# below the ordinary test accuracy: the model has learned, correctly, that
# orientation matters for digits. Training with flips buys accuracy on mirrored
# digits that nobody will ever write, and it pays with confusion between digits
# that are near mirror images of each other: its plain test accuracy is lower
# (checked). Shifts, in contrast, cost little: a digit moved by a pixel is the
# same digit, and the test accuracies with and without shift augmentation
# printed above are within three points (checked). We will check the
# clothes side of the argument once we have a Fashion-MNIST classifier.

# %% tags=["remove-cell"]
assert digit_acc["none"][0] > 0.9, "a small CNN must learn the digits"
assert digit_acc["none"][1] < digit_acc["none"][0] - 0.3, (
    "mirrored digits must be much harder for the model"
)
assert digit_acc["flip"][1] > digit_acc["none"][1] + 0.3, (
    "flip augmentation must teach flip invariance"
)
assert digit_acc["flip"][0] < digit_acc["none"][0], "flips must cost plain accuracy"
assert abs(digit_acc["shift"][0] - digit_acc["none"][0]) < 0.03, "shifts cost little"

# %% [markdown]
# ## Spurious correlations
#
# A network minimises the training loss with whatever signal is easiest to
# find. If some feature happens to predict the label in the training set — a
# watermark, a hospital's logo on an X-ray, the grass behind every cow — the
# network may use it instead of the object, a *shortcut* in the sense of
# {cite}`geirhos2020shortcut`. The test that exposes it is simple: remove the
# feature and measure again. We pad the digits by a one-pixel frame and, in
# the training set only, light up the top and bottom border pixels of column
# $y$ for a digit of class $y$. At test time we either remove the marks or
# put them in a wrong column.


# %%
def watermark(x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """Pad (N, 1, 8, 8) to (N, 1, 10, 10); for labels y, mark pixels (0, y), (9, y)."""
    out = F.pad(x, [1, 1, 1, 1])
    if y is not None:
        out[torch.arange(len(x)), 0, 0, y] = 1.0
        out[torch.arange(len(x)), 0, 9, y] = 1.0
    return out


# %% [markdown]
# We train the digit CNN, sized for the padded images, on the marked training
# set, and test it with the marks, without them and with marks in wrong columns.

# %%
torch.manual_seed(0)
model_w = digit_cnn(size=10)
fit_quiet(model_w, watermark(xd[tr], digits.y[tr]), digits.y[tr], epochs=30)
wrong = (digits.y[te] + torch.randint(1, 10, (len(te),))) % 10  # any column but y
acc_marked = accuracy(model_w, watermark(xd[te], digits.y[te]), digits.y[te])
acc_clean = accuracy(model_w, watermark(xd[te], None), digits.y[te])
acc_wrong = accuracy(model_w, watermark(xd[te], wrong), digits.y[te])
print(
    f"test accuracy: marks as in training {acc_marked:.3f}, no marks {acc_clean:.3f}, "
    f"wrong marks {acc_wrong:.3f}"
)
acc_clean = dlbook.report(
    "shortcut model accuracy without watermark", acc_clean, fmt=".3f"
)

# %% [markdown]
# With the marks, the test accuracy is essentially perfect, and a validation
# set drawn from the same distribution would have told us nothing. Without
# them, the accuracy printed above falls well below that of the plain digit
# model of the previous section, although the digits themselves are unchanged,
# and with marks in the wrong column it drops much further: the network
# learned to read two pixels at least as much as the digit. The remedy is in
# the data — remove or randomise the confound — and the diagnosis is always
# an evaluation on data where the shortcut does not hold.

# %% tags=["remove-cell"]
assert acc_marked > 0.95, "the watermark makes the training task trivial"
assert acc_clean < digit_acc["none"][0] - 0.1, (
    "without the shortcut the accuracy must drop"
)
assert acc_wrong < digit_acc["none"][0] - 0.25, (
    "a misleading shortcut must make the accuracy collapse"
)

# %% [markdown]
# ## A small CNN on Fashion-MNIST
#
# For the rest of the chapter we use Fashion-MNIST {cite}`xiao2017fashion`
# split in two: classes 0–4 (T-shirt, trouser, pullover, dress, coat) are the
# task we have many labels for, classes 5–9 (sandal, shirt, sneaker, bag,
# ankle boot) the new task with only a handful of labels. The network is a
# two-block CNN like the one of {ref}`ch-convolutions`, with more and larger
# filters (16 of 5x5, then 32 of 3x3, instead of 8 and 16 of 3x3), kept as a
# `features` part and a linear `head`, so that the parts can be reused
# separately.


# %%
class SmallCNN(nn.Module):
    def __init__(self, n_classes: int = 5, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (N, w, 14, 14)
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )  # (N, 2w, 7, 7)
        self.head = nn.Linear(2 * width * 7 * 7, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 1, 28, 28) -> (N, K)
        return self.head(self.features(x).flatten(1))


# %% [markdown]
# We select the two halves of the label set, relabel the second half as
# 0–4, and pretrain on the first half.


# %%
def split(ds, classes, n=None, seed=0):
    keep = (ds.y[:, None] == torch.tensor(classes)).any(1)
    x, y = data.to_float(ds.x[keep]), ds.y[keep] - classes[0]
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]
    return x[idx], y[idx]


train_ds, test_ds = data.load_fashion_mnist("train"), data.load_fashion_mnist("test")
x_pre, y_pre = split(train_ds, [0, 1, 2, 3, 4], cfg.n_pre)
x_pre_test, y_pre_test = split(test_ds, [0, 1, 2, 3, 4], cfg.n_test)
torch.manual_seed(0)
pretrained = SmallCNN().to(device)
hist_pre = fit_quiet(pretrained, x_pre, y_pre, epochs=cfg.pre_epochs, lr=2e-3)
pre_acc = accuracy(pretrained, x_pre_test, y_pre_test)
pre_acc = dlbook.report("pretrained test accuracy (classes 0-4)", pre_acc, fmt=".3f")

# %% [markdown]
# The training loss falls over the epochs, and the test accuracy on the five
# clothes classes printed above is well above the chance level of 0.2. Now the
# other half of the flip argument: how much does this network lose on mirrored
# clothes, although it never saw a mirrored image?

# %%
acc_flipped_clothes = accuracy(pretrained, x_pre_test.flip(-1), y_pre_test)
print(
    f"clothes: test accuracy {pre_acc:.3f}, "
    f"on mirrored images {acc_flipped_clothes:.3f}"
)

# %% [markdown]
# Little: the clothes task is (almost) mirror symmetric, so horizontal flips
# are a safe augmentation for it, while we saw that for digits they are not.
# Whether an augmentation helps is a property of the task, not of the network.

# %% tags=["remove-cell"]
assert hist_pre.train_loss[-1] < hist_pre.train_loss[0], (
    "pretraining must reduce the loss"
)
assert pre_acc > 0.6, "the pretrained CNN must be far above chance (0.2)"
assert acc_flipped_clothes > pre_acc - 0.2, "mirrored clothes must stay recognisable"

# %% [markdown]
# ## Transfer learning: freeze, fine-tune, or start from scratch
#
# Features learned on one task are often useful on a related one
# {cite}`yosinski2014transferable`: the first layers of an image network
# detect edges and textures that any image task needs. With few labels for the
# new task we have three options for the parameters $\theta = (\theta_{\rm
# features}, \theta_{\rm head})$:
#
# $$
# \begin{aligned}
# &\text{(a) frozen: } && \min_{\theta_{\rm head}} L(\theta^{\rm pre}_{\rm features}, \theta_{\rm head}),\\
# &\text{(b) fine-tuned: } && \min_{\theta} L(\theta) \text{ from } \theta^{\rm pre},\\
# &\text{(c) scratch: } && \min_{\theta} L(\theta) \text{ from a random } \theta .
# \end{aligned}
# $$ (eq-transfer)
#
# The new task has `cfg.n_small` labelled images of classes 5–9 — about ten
# per class. All three runs see the same images for the same short budget of
# `cfg.small_epochs` epochs, as when labelled data and compute are both scarce.

# %%
import copy

x_small, y_small = split(train_ds, [5, 6, 7, 8, 9], cfg.n_small, seed=1)
x_new_test, y_new_test = split(test_ds, [5, 6, 7, 8, 9], cfg.n_test)
budget = dict(epochs=cfg.small_epochs, lr=1e-3, batch_size=32)  # the same for all


def new_task_model(start: nn.Module | None, freeze: bool) -> nn.Module:
    """A copy of `start` (or a fresh CNN) with a new 5-class head; frozen features?"""
    model = copy.deepcopy(start) if start is not None else SmallCNN().to(device)
    model.head = nn.Linear(model.head.in_features, 5).to(device)
    model.features.requires_grad_(not freeze)
    return model


# %% [markdown]
# Freezing means turning off `requires_grad` of the feature extractor, so the
# optimizer (built from the trainable parameters only) updates the head alone.

# %%
transfer_acc = {}
for name, start, freeze in [
    ("frozen", pretrained, True),
    ("fine-tuned", pretrained, False),
    ("scratch", None, False),
]:
    torch.manual_seed(1)
    model_t = new_task_model(start, freeze)
    fit_quiet(model_t, x_small, y_small, **budget)
    transfer_acc[name] = accuracy(model_t, x_new_test, y_new_test)
    n_train = sum(p.numel() for p in model_t.parameters() if p.requires_grad)
    acc_t = transfer_acc[name]
    print(f"{name:>10}: {n_train:>6} trained parameters, test accuracy {acc_t:.3f}")
for name, acc in transfer_acc.items():
    dlbook.report(f"transfer {name} accuracy", acc, fmt=".3f", show=False)

# %% [markdown]
# Transfer beats training from scratch on the same few labels and the same
# budget, by the margins printed above, although the pretraining task never
# showed a sandal, a bag or a boot (Exercise 1 asks what happens with more
# labels). The frozen network trains only the head — a linear
# classifier on pretrained features — and is therefore the cheapest and the
# hardest to overfit; fine-tuning can adapt the features too, which pays off
# when there are more labels or when the tasks differ more.

# %% tags=["remove-cell"]
assert (
    max(transfer_acc["frozen"], transfer_acc["fine-tuned"])
    > transfer_acc["scratch"] + 0.03
), "transfer must beat training from scratch on the small subset"
assert transfer_acc["scratch"] > 0.3, (
    "even from scratch the model must be above chance (0.2)"
)

# %% [markdown]
# ### Adapters
#
# Fine-tuning a large network stores a full copy of it per task. An *adapter*
# {cite}`houlsby2019parameter` is a small module inserted into the frozen
# network; only the adapter and the head are trained. Ours is a residual
# bottleneck of $1\times1$ convolutions that maps the $C$ feature channels
# down to $r \ll C$ and back,
#
# $$
# \mathbf{a} \mapsto \mathbf{a} + W_{\rm up}\, \mathrm{ReLU}(W_{\rm down}\, \mathbf{a}), \qquad
# W_{\rm down} \in \mathbb{R}^{r\times C},\ W_{\rm up} \in \mathbb{R}^{C\times r},
# $$ (eq-adapter)
#
# with $W_{\rm up}$ initialised to zero, so that training starts from the
# pretrained network exactly.


# %%
class Adapter(nn.Module):
    def __init__(self, channels: int, bottleneck: int = 4) -> None:
        super().__init__()
        self.down = nn.Conv2d(channels, bottleneck, 1)
        self.up = nn.Conv2d(bottleneck, channels, 1)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, a: torch.Tensor) -> torch.Tensor:  # (N, C, h, w) -> (N, C, h, w)
        return a + self.up(F.relu(self.down(a)))


# %% [markdown]
# We insert it *inside* the frozen network, between its two convolutional
# blocks, where it can change what the frozen second block sees, and train
# adapter and head. (An adapter after the last frozen layer would only be a
# residual layer of the head.)


# %%
def with_adapter(start: nn.Module) -> nn.Module:
    """A frozen copy of `start`, an adapter between its two blocks, a new head."""
    model = new_task_model(start, freeze=True)
    f = model.features  # conv, ReLU, pool | conv, ReLU, pool
    adapter = Adapter(f[0].out_channels).to(device)  # (N, 16, 14, 14) -> same
    model.features = nn.Sequential(*f[:3], adapter, *f[3:])
    return model


# %% [markdown]
# We train adapter and head with the same images, seed and budget as the
# three runs above.

# %%
torch.manual_seed(1)
model_a = with_adapter(pretrained)
fit_quiet(model_a, x_small, y_small, **budget)
n_adapter = sum(p.numel() for p in model_a.features[3].parameters())
n_total = sum(p.numel() for p in model_a.parameters())
transfer_acc["adapter"] = accuracy(model_a, x_new_test, y_new_test)
adapter_acc = dlbook.report(
    "transfer adapter accuracy", transfer_acc["adapter"], fmt=".3f"
)
print(
    f"adapter parameters: {n_adapter} of {n_total} ({100 * n_adapter / n_total:.1f} %)"
)
for name, acc in sorted(transfer_acc.items(), key=lambda kv: -kv[1]):
    print(f"{name:>10}: {acc:.3f}")

# %% [markdown]
# The adapter adds the parameters printed above — about one percent of this
# small network — and the ranking of the four ways of using the pretrained
# network is printed above. The adapter starts from the frozen network
# exactly, so it can only move away from it where the few labels pay for
# that; it beats training from scratch (checked in every profile). In large
# language and vision models, where a full copy costs gigabytes, this is how
# one network serves many tasks.

# %% tags=["remove-cell"]
assert n_adapter == 2 * 16 * 4 + 4 + 16, "two 1x1 convolutions with biases"
assert adapter_acc > transfer_acc["scratch"] + 0.02, "the adapter must beat scratch"
with torch.no_grad():  # zero-initialised W_up: at the start, the frozen network exactly
    fresh, frozen_copy = with_adapter(pretrained), new_task_model(pretrained, True)
    fresh.head.load_state_dict(frozen_copy.head.state_dict())
    same = torch.equal(fresh.eval()(x_small[:8]), frozen_copy.eval()(x_small[:8]))
assert same, "an untrained adapter must leave the network unchanged"

# %% [markdown]
# ## What a network sees
#
# The first layer is the only one whose weights are pictures in input space:
# each $5\times5$ filter is a small template matched against every image
# patch ({cite}`zeiler2014visualizing` made the same plots for large networks).

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The 16 first-layer filters (5x5) of the pretrained CNN, red positive and blue negative.", "name": "fig-cnn-practice-filters"}, "image": {"alt": "Sixteen small colour squares, many with a positive and a negative side like oriented edge detectors."}}
filters = pretrained.features[0].weight.detach().cpu()  # (16, 1, 5, 5)
fig, ax = plot.subplots(1, 1, width=7, height=1.6)
plot.image_grid(
    ax,
    filters,
    ncols=16,
    cmap="RdBu_r",
    vrange=(-filters.abs().max().item(), filters.abs().max().item()),
)
ax.set_title("first-layer filters of the pretrained CNN (red positive, blue negative)")
plot.show(fig)

# %% [markdown]
# In {numref}`fig-cnn-practice-filters`, several filters are oriented edge or bar detectors — positive on one side,
# negative on the other — the same structure found in the visual cortex and
# in much larger networks. Deeper units combine many filters and cannot be
# drawn this way. Instead we ask which input excites a unit most
# {cite}`erhan2009visualizing`: starting from a grey image, *activation
# maximisation* climbs the gradient of the unit's activation $a(\mathbf{x})$
# with respect to the input, with a penalty that keeps the image bounded,
#
# $$
# \mathbf{x}^\star = \arg\max_{\mathbf{x}}\; a(\mathbf{x}) - \lambda \|\mathbf{x}\|^2 .
# $$ (eq-act-max)
#
# `check_ascent` and `per_image` are the package's one-line argument checks.


# %% tags=["dlbook:interpret"]
def maximize_activation(objective, x0, *, steps=200, lr=0.05, l2=0.0, clamp=None):
    """Gradient ascent on the input: maximize objective(x) - l2 |x|^2 per image."""
    check_ascent(x0, steps, lr, l2)
    x = x0.detach().clone().requires_grad_(True)
    opt, trace = torch.optim.Adam([x], lr=lr), []
    for _ in range(steps):
        value = per_image(objective(x), x)  # (N,)
        loss = -(value - l2 * x.pow(2).flatten(1).sum(1)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if clamp is not None:
            with torch.no_grad():
                x.clamp_(*clamp)
        trace.append(float(value.detach().mean()))
    return x.detach(), trace


# %% [markdown]
# The objective is any function returning one number per image. For a unit
# we take the mean activation of one channel of the second convolution, for
# eight channels at once (a batch of eight images, one per channel).

# %%
conv2 = nn.Sequential(
    *pretrained.features[:4]
)  # up to the second ReLU: (N, 32, 14, 14)
channels = torch.arange(8)
x0 = 0.5 + 0.01 * torch.randn(8, 1, 28, 28, device=device)
unit_images, unit_trace = maximize_activation(
    lambda x: conv2(x)[torch.arange(8), channels].mean((1, 2)),
    x0,
    steps=cfg.ascent_steps,
    lr=0.05,
    l2=1e-3,
    clamp=(0.0, 1.0),
)
print(f"mean channel activation: start {unit_trace[0]:.3f}, end {unit_trace[-1]:.3f}")

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Images that maximize the mean activation of eight channels of the second convolution, found by gradient ascent from grey.", "name": "fig-cnn-practice-units"}, "image": {"alt": "Eight grey images with stripe and check textures at various orientations."}}
fig, ax = plot.subplots(1, 1, width=7, height=1.4)
plot.image_grid(
    ax,
    unit_images,
    labels=[f"channel {c}" for c in channels.tolist()],
    ncols=8,
    vrange=(0, 1),
)
plot.show(fig)

# %% [markdown]
# The mean activation rises from the start to the end value printed above,
# and most images in {numref}`fig-cnn-practice-units` are textures: stripes and checks at particular
# orientations and spacings, repeated over the whole image because a
# convolutional unit responds wherever its pattern occurs. (A channel whose
# image stays nearly blank barely responds to anything in this range.) *Class-score maximisation* {cite}`simonyan2014deep` does the same for
# a class logit $z_c(\mathbf{x})$ of the output layer.

# %%
classes5 = train_ds.classes[:5]
class_images, class_trace = maximize_activation(
    lambda x: pretrained(x)[torch.arange(5), torch.arange(5)],
    0.5 + 0.01 * torch.randn(5, 1, 28, 28, device=device),
    steps=cfg.ascent_steps,
    lr=0.05,
    l2=1e-2,
    clamp=(0.0, 1.0),
)
with torch.no_grad():
    reached = pretrained.eval()(class_images).argmax(1).cpu()
print(
    f"class logits: start {class_trace[0]:.2f}, end {class_trace[-1]:.2f}; "
    f"predicted classes {reached.tolist()}"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Images that maximize each of the five class logits of the pretrained CNN.", "name": "fig-cnn-practice-classes"}, "image": {"alt": "Five noisy grey images, each labelled with a clothes class; only some show a hint of the garment."}}
fig, ax = plot.subplots(1, 1, width=7, height=2.0)
plot.image_grid(ax, class_images, labels=list(classes5), ncols=5, vrange=(0, 1))
plot.show(fig)

# %% [markdown]
# Each image of {numref}`fig-cnn-practice-classes` is classified as the class it
# was optimised for (checked for all five), with a
# confidence no real image needs, yet only some carry a recognisable hint of
# a trouser's two legs or a shirt's outline. A network can be certain about
# images that look like nothing to us — "easily fooled" in the words of
# {cite}`nguyen2015deep` — which is why such pictures need a strong prior
# (blurring, jitter, a generative model) before they become interpretable.

# %% tags=["remove-cell"]
assert unit_trace[-1] > unit_trace[0], (
    "gradient ascent must raise the unit's activation"
)
assert class_trace[-1] > class_trace[0] + 1.0, (
    "gradient ascent must raise the class logit"
)
assert (reached == torch.arange(5)).all(), "each image must get its own class"

# %% [markdown]
# ## Saliency maps and Grad-CAM
#
# For one image we can ask which pixels the decision depends on. The
# *saliency map* {cite}`simonyan2014deep` is the size of the gradient of the
# class score with respect to each pixel,
#
# $$
# S_{ij} = \max_{c} \left| \frac{\partial z_y(\mathbf{x})}{\partial x_{c,i,j}} \right| ,
# $$ (eq-saliency)
#
# the linear sensitivity of the score to a change of that pixel. `targets`
# (from the package) turns an int, a tensor of classes or `None` (the
# predicted class) into one class per image, and `eval_mode` puts the model
# in eval mode and restores its training flag afterwards.


# %% tags=["dlbook:interpret"]
def saliency(model, x, target=None):
    """|d score / d x|, maximized over channels: (N, C, H, W) -> (N, H, W)."""
    check_images(x)
    with eval_mode(model):
        x = x.detach().clone().requires_grad_(True)
        logits = model(x)  # (N, K)
        score = logits.gather(1, targets(target, logits)[:, None]).sum()  # one backward
        (grad,) = torch.autograd.grad(score, x)  # for all: images do not interact
    return grad.abs().amax(dim=1)


# %% [markdown]
# Gradients at single pixels are noisy. *Grad-CAM* {cite}`selvaraju2017grad`
# works one level up, on the feature maps $A^k$ (channel $k$) of a
# convolutional layer: each channel is weighted by the average gradient of the
# score over its positions, and the weighted maps are summed,
#
# $$
# \alpha_k = \frac{1}{hw}\sum_{i,j} \frac{\partial z_y}{\partial A^k_{ij}}, \qquad
# \mathrm{CAM} = \mathrm{ReLU}\Big(\sum_k \alpha_k A^k\Big),
# $$ (eq-grad-cam)
#
# then upsampled to the input size. Grad-CAM generalizes CAM
# {cite}`zhou2016learning`, which needs a network that averages its last
# feature maps and applies one linear layer, and reads the class's weights
# off that layer; Grad-CAM takes the weights $\alpha_k$ from the gradient,
# so it works with any head. `capture` registers a forward hook that stores
# $A$ and removes it afterwards.


# %% tags=["dlbook:interpret"]
def grad_cam(model, layer, x, target=None):
    """Grad-CAM of `layer` for the target class, upsampled to x: (N, H, W), peak 1."""
    check_images(x)
    with eval_mode(model), capture(model, layer) as store:
        logits = model(x.detach())  # store["a"]: the layer's maps (N, C', h, w)
    score = logits.gather(1, targets(target, logits)[:, None]).sum()
    (grad,) = torch.autograd.grad(score, store["a"])
    dtype = torch.promote_types(
        grad.dtype, torch.float32
    )  # float32 even under autocast
    grad, a = grad.to(dtype), store["a"].detach().to(dtype)
    alpha = grad.mean(dim=(2, 3), keepdim=True)  # (N, C', 1, 1): channel importance
    cam = F.relu((alpha * a).sum(dim=1, keepdim=True))  # (N, 1, h, w)
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear")[:, 0]  # (N, H, W)
    return cam / cam.flatten(1).amax(1).clamp_min(1e-12)[:, None, None]


# %% [markdown]
# We apply both to six test images, using the output of the second
# convolution (14×14, before its ReLU) as the Grad-CAM layer.

# %%
x_show, y_show = x_pre_test[:6].to(device), y_pre_test[:6].to(device)
sal = saliency(pretrained, x_show, y_show)  # (6, 28, 28)
cam = grad_cam(pretrained, pretrained.features[3], x_show, y_show)  # (6, 28, 28)
inside = (x_show[:, 0] > 0.1).float()  # pixels that belong to the garment
share_sal, share_cam = (m.mul(inside).sum() / m.sum() for m in (sal, cam))
print(
    f"share of saliency on the garment {share_sal:.3f}, of Grad-CAM {share_cam:.3f}; "
    f"garment area {inside.mean():.3f}"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Six test images (top), their saliency maps (middle) and their Grad-CAM maps (bottom).", "name": "fig-cnn-practice-saliency"}, "image": {"alt": "Three rows of six images: clothes, speckled saliency maps along the edges, and coarse Grad-CAM blobs."}}
fig, axes = plot.subplots(3, 1, width=7, height=4.2)
plot.image_grid(axes[0], x_show, labels=[classes5[i] for i in y_show.tolist()], ncols=6)
plot.image_grid(axes[1], sal, ncols=6, cmap="magma")
plot.image_grid(axes[2], cam, ncols=6, cmap="magma", vrange=(0, 1))
for ax, title in zip(axes, ["test images", "saliency", "Grad-CAM"]):
    ax.set_title(title)
plot.show(fig)

# %% [markdown]
# Compare the printed fractions with the garment's share of the image
# ({numref}`fig-cnn-practice-saliency`): the
# maps are not confined to the garment. The background next to a silhouette
# matters too, since ink there would change the outline. Saliency is
# speckled and follows edges, where a small change of a pixel changes the
# evidence most. Grad-CAM gives coarse regions along the silhouette, at the
# 14×14 resolution of its layer. Our head weighs every position separately,
# not an average of the maps as in CAM, so positive and negative evidence can
# cancel and a map can come out empty. Neither map is proof of *why* a
# network decides; both show where its gradient is large.
#
# Are the highlighted pixels the ones the decision needs? A *deletion test*
# can tell, and can fail: replace the 10% of pixels that a map ranks highest
# by the average pixel value and measure how much the probability of the
# true class drops, against deleting 10% of pixels chosen at random.


# %%
def deletion_drop(maps, x, y, frac=0.1):
    """Mean drop of p(true class) when each map's top `frac` pixels become grey."""
    flat = maps.flatten(1)  # (N, H*W)
    top = flat.topk(int(frac * flat.shape[1]), dim=1).indices
    mask = torch.zeros_like(flat).scatter_(1, top, 1.0).view(len(x), 1, *x.shape[-2:])
    x_del = torch.where(mask > 0, x_pre.mean().to(device), x)  # (N, 1, H, W)
    with torch.no_grad(), eval_mode(pretrained):
        p = [pretrained(v).softmax(1).gather(1, y[:, None]) for v in (x, x_del)]
    return (p[0] - p[1]).mean().item()


# %% [markdown]
# We test both maps on the first `cfg.n_attack` test images, and average the
# random baseline over five draws of random scores.

# %%
xa, ya = x_pre_test[: cfg.n_attack].to(device), y_pre_test[: cfg.n_attack].to(device)
g_del = torch.Generator().manual_seed(0)
noise = [torch.rand(len(xa), 28, 28, generator=g_del).to(device) for _ in range(5)]
cam_a = grad_cam(pretrained, pretrained.features[3], xa, ya)  # (N, 28, 28)
drops = {
    "Grad-CAM": deletion_drop(cam_a, xa, ya),
    "saliency": deletion_drop(saliency(pretrained, xa, ya), xa, ya),
    "random pixels": sum(deletion_drop(r, xa, ya) for r in noise) / len(noise),
}
for name, d in drops.items():
    print(f"delete top 10% by {name:>13}: p(true class) drops by {d:.3f}")

# %% tags=["remove-cell"]
assert drops["Grad-CAM"] > 1.5 * drops["random pixels"], "Grad-CAM finds needed pixels"
assert drops["saliency"] > 3 * drops["random pixels"], "saliency finds needed pixels"

# %% [markdown]
# Both maps pass: deleting the pixels they rank highest costs the true class
# more probability than deleting as many random pixels (the average of five
# random draws): saliency several times more, Grad-CAM, whose coarse maps
# spill over onto the background, by a smaller factor (both checked: 3x and
# 1.5x). That is evidence that the maps point at pixels the network uses,
# not only at pixels with a large gradient.

# %% tags=["remove-cell"]
assert sal.shape == cam.shape == (6, 28, 28)
assert (sal.flatten(1).amax(1) > 0).all(), "every saliency map must be non-trivial"

# %% [markdown]
# ## Adversarial examples
#
# The gradient with respect to the input can also be used against the model
# {cite}`szegedy2014intriguing`. The *fast gradient sign method*
# {cite}`goodfellow2015explaining` moves every pixel by $\pm\epsilon$ in the
# direction that increases the loss,
#
# $$
# \mathbf{x}_{\rm adv} = \mathrm{clip}_{[0,1]}\big(\mathbf{x} + \epsilon\, \mathrm{sign}\,\nabla_{\mathbf{x}} L(f(\mathbf{x}), y)\big),
# $$ (eq-fgsm)
#
# the largest first-order increase of the loss allowed by a change of at most
# $\epsilon$ per pixel.


# %% tags=["dlbook:interpret"]
def fgsm(model, x, y, eps, *, clamp=(0.0, 1.0), loss_fn=F.cross_entropy):
    """Fast gradient sign attack: x + eps * sign(d loss / d x), clipped to `clamp`."""
    check_images(x)
    check_labels(y, x)
    check.number(eps, "eps", low=0)
    with eval_mode(model):
        x0 = x.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(loss_fn(model(x0), y), x0)
    x_adv = x.detach() + eps * grad.sign()  # every pixel moves by eps, uphill
    return x_adv.clamp(*clamp) if clamp is not None else x_adv


# %% [markdown]
# We attack the pretrained classifier on its test images for a range of
# $\epsilon$; $\epsilon = 0$ is the clean accuracy.

# %%
epsilons = [0.0, 0.01, 0.02, 0.05, 0.1, 0.2]
xa, ya = x_pre_test[: cfg.n_attack].to(device), y_pre_test[: cfg.n_attack].to(device)
fgsm_acc = [accuracy(pretrained, fgsm(pretrained, xa, ya, eps), ya) for eps in epsilons]
for eps, acc in zip(epsilons, fgsm_acc):
    print(f"eps = {eps:<5}: accuracy {acc:.3f}")
acc_005 = dlbook.report(
    "FGSM accuracy at eps=0.05", fgsm_acc[epsilons.index(0.05)], fmt=".3f"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Left: test accuracy under the FGSM attack against epsilon. Right: four test images, clean (top) and attacked with epsilon = 0.05 (bottom), with the predicted classes.", "name": "fig-cnn-practice-fgsm"}, "image": {"alt": "A falling accuracy curve, and two rows of four garment images that look alike but carry different predicted labels."}}
fig, (ax1, ax2) = plot.subplots(1, 2, width=5.9, height=2.8)
plot.curves(
    ax1,
    {"FGSM": fgsm_acc},
    x=epsilons,
    xlabel="epsilon (max change per pixel)",
    ylabel="test accuracy",
)
adv_show = fgsm(pretrained, xa[:4], ya[:4], 0.05)
plot.image_grid(
    ax2,
    torch.cat([xa[:4], adv_show]),
    ncols=4,
    vrange=(0, 1),
    labels=[classes5[i] for i in pretrained(xa[:4]).argmax(1).tolist()]
    + [classes5[i] for i in pretrained(adv_show).argmax(1).tolist()],
)
ax2.set_title("clean (top) and eps = 0.05 (bottom), with predictions")
plot.show(fig)

# %% [markdown]
# The accuracy falls steadily with $\epsilon$ ({numref}`fig-cnn-practice-fgsm`). At $\epsilon=0.05$ — a change
# of about 13 grey levels out of 255, barely visible on the right — the
# accuracy is already far below the clean one (by more than 15 points,
# checked). Goodfellow et al. argued that
# this is a consequence of linearity in high dimension: a change of
# $\epsilon$ in each of $d$ inputs, aligned with a weight vector $\mathbf{w}$,
# moves a linear score by $\epsilon\|\mathbf{w}\|_1$, which grows with $d$.
# Training on adversarial examples makes networks more robust, at some cost
# in clean accuracy.

# %% tags=["remove-cell"]
assert all(a >= b - 0.01 for a, b in zip(fgsm_acc, fgsm_acc[1:])), (
    "FGSM accuracy must decrease with epsilon"
)
assert fgsm_acc[-1] < fgsm_acc[0] - 0.3, (
    "a large attack must destroy most of the accuracy"
)
assert fgsm_acc[epsilons.index(0.05)] < fgsm_acc[0] - 0.15, (
    "at eps = 0.05 the accuracy must already be far below the clean one"
)

# %% [markdown]
# ## Emergence of localized receptive fields
#
# Convolutional layers hard-wire two priors: weights are *local* and
# *shared*. Could a fully connected layer discover locality from data alone?
# Ingrosso and Goldt {cite}`ingrosso2022data` showed that it does — but only if
# the inputs are non-Gaussian. We reproduce a one-dimensional version. Inputs
# live on a ring of $D$ pixels. A Gaussian process $\mathbf{z}$ has covariance
# $C_{ij} = \exp(-d(i,j)^2/\xi^2)$ with correlation length $\xi$; the
# *non-linear GP* (NLGP) squashes it,
#
# $$
# x_i = \frac{1}{Z(g)}\,\mathrm{erf}(g\, z_i), \qquad
# \mathbb{E}[x_i x_j] = \frac{2}{\pi Z(g)^2}\arcsin\frac{2g^2 C_{ij}}{1+2g^2},
# $$ (eq-nlgp)
#
# which for a large gain $g$ is nearly a sign: flat regions with sharp edges,
# like objects in an image. The covariance in {eq}`eq-nlgp` is known exactly,
# so we can draw *Gaussian* inputs with the same covariance: the two data sets
# agree in their second-order statistics and differ only in the higher ones.
# The NLGP's marginals are bounded: for a large gain they are close to a
# two-valued sign, lighter-tailed than a Gaussian, not heavier. `gp` and
# `erf_std` (the normalization $Z(g)$) come from the package.


# %% tags=["dlbook:receptive"]
def nlgp(n, d, xi, gain, *, generator=None):
    """n samples (n, d) of erf(gain * z) / Z(gain), z from the ring GP; variance 1."""
    norm = erf_std(gain)  # Z(g); this also checks the gain
    z = gp(n, d, xi, generator=generator)  # (n, d), covariance exp(-dist^2 / xi^2)
    return torch.erf(gain * z) / norm  # squashed towards sign(z) for a large gain


# %% [markdown]
# The task is to tell a short correlation length ($\xi_0$, label $-1$) from a
# long one ($\xi_1$, label $+1$). The network has $K = 30$ hidden units with
# activation $\mathrm{erf}(h/\sqrt2)$ and a fixed second layer $v_k = 1/K$,
#
# $$
# \hat y(\mathbf{x}) = \frac1K\sum_{k=1}^K \mathrm{erf}\!\left(\frac{\mathbf{w}_k^\top\mathbf{x}/\sqrt{D} + b_k}{\sqrt2}\right),
# $$ (eq-committee)
#
# trained by online SGD on the squared error, with fresh inputs for every
# step. (Since erf is odd and both classes are symmetric under
# $\mathbf{x}\to-\mathbf{x}$, we give each unit a bias $b_k$; without it the
# output is odd in $\mathbf{x}$ and cannot separate the classes.)

# %%
D, K, XI, GAIN = 40, 30, (1.0, 3.0), 3.0


def sgd_step(w, b, x, y, lr):
    """One SGD step on the committee's squared error for a batch x (n, D); the loss."""
    y_hat = torch.erf((x @ w.T / math.sqrt(D) + b) / math.sqrt(2)).mean(1)  # (n,)
    loss = 0.5 * (y_hat - y).pow(2).mean()
    w_grad, b_grad = torch.autograd.grad(loss, [w, b])
    with torch.no_grad():
        w -= lr * w_grad
        b -= lr / math.sqrt(D) * b_grad
    return loss.item()


# %% [markdown]
# Online SGD draws a fresh batch for every step, half of it from each class.


# %%
def train_committee(
    sample, steps: int, gain: float = GAIN, lr: float = 300.0, batch: int = 64, seed=0
):
    """Online SGD on the committee; `sample(n, d, xi, gain, generator=)` draws inputs.

    Returns the first-layer weights W (K, D) and the loss of every step.
    """
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(K, D, generator=g).requires_grad_(True)
    b = torch.zeros(K, requires_grad=True)
    y = torch.cat([-torch.ones(batch // 2), torch.ones(batch // 2)])
    losses = []
    for _ in range(steps):
        x = torch.cat([sample(batch // 2, D, xi, gain, generator=g) for xi in XI])
        losses.append(sgd_step(w, b, x, y, lr))
    return w.detach(), losses


# %% [markdown]
# The learning rate looks large because the output averages over $K$ units
# and each pre-activation is divided by $\sqrt{D}$, which makes each weight's
# gradient small. We train once on NLGP inputs and once on their Gaussian
# twins and measure localization by the *inverse participation ratio*
#
# $$
# \mathrm{IPR}(\mathbf{w}) = \frac{\sum_i w_i^4}{\left(\sum_i w_i^2\right)^2},
# $$ (eq-ipr)
#
# which is $1/D$ for weights spread evenly over all pixels and $1$ for weights
# on a single pixel.

# %%
rf = {}
for name, sample in [("NLGP", nlgp), ("GP", receptive.matched_gp)]:
    w_rf, loss_rf = train_committee(sample, cfg.rf_steps)
    rf[name] = (w_rf, loss_rf, receptive.ipr(w_rf))
    print(
        f"{name:>4}: loss {sum(loss_rf[:50]) / 50:.3f} -> "
        f"{sum(loss_rf[-50:]) / 50:.3f}, "
        f"mean IPR {rf[name][2].mean():.3f} (1/D = {1 / D:.3f})"
    )
ipr_nlgp = dlbook.report(
    "receptive-field IPR, NLGP inputs", rf["NLGP"][2].mean(), fmt=".3f"
)
ipr_gp = dlbook.report("receptive-field IPR, GP inputs", rf["GP"][2].mean(), fmt=".3f")

# %% [markdown]
# The baseline is the IPR of the random weights that both runs started from.

# %%
w_init = torch.randn(K, D, generator=torch.Generator().manual_seed(0))  # as at step 0
ipr_init = receptive.ipr(w_init).mean().item()
print(f"IPR at initialization {ipr_init:.3f}; NLGP / GP = {ipr_nlgp / ipr_gp:.1f}")

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Left and middle: the weights of the three most localized hidden units trained on NLGP and on GP inputs. Right: histograms of every unit's IPR.", "name": "fig-cnn-practice-receptive"}, "image": {"alt": "Two line plots of weights over 40 input pixels, localized bumps for NLGP and spread oscillations for GP, and a histogram where NLGP units reach larger IPR."}}
fig, axes = plot.subplots(1, 3, width=7, height=2.6)
for ax, name in zip(axes[:2], rf):
    w_rf, _, ipr_rf = rf[name]
    for k in ipr_rf.argsort(descending=True)[:3].tolist():
        ax.plot(w_rf[k] / w_rf[k].abs().max(), lw=1.2)
    ax.set(
        title=f"{name}: top 3 units",
        xlabel="input pixel i",
        ylabel="w_ki (scaled)",
    )
axes[2].hist(
    [rf["NLGP"][2].numpy(), rf["GP"][2].numpy()], bins=15, label=["NLGP", "GP"]
)
axes[2].set(xlabel="IPR of a hidden unit", ylabel="units")
axes[2].legend()
plot.show(fig)

# %% [markdown]
# Both networks learn (the loss falls in both cases), yet their weights look
# very different ({numref}`fig-cnn-practice-receptive`). Trained on NLGP inputs, many units concentrate their weight
# on a contiguous stretch of the ring — a localized receptive field, the
# first half of what a convolution is — and the mean IPR printed above is
# more than twice that for Gaussian inputs, whose weights stay spread and
# oscillating, and more than twice the IPR of the random weights they
# started from (both checked). Only the higher-order statistics differ between the two
# data sets, so it is the non-Gaussianity of the inputs, and not their
# correlations, that drives localization. Natural images are strongly
# non-Gaussian, which is one reason why locality is a good prior for them.

# %% tags=["remove-cell"]
assert rf["NLGP"][1][-1] < rf["NLGP"][1][0] and rf["GP"][1][-1] < rf["GP"][1][0], (
    "both networks must learn"
)
assert ipr_nlgp > 2 * ipr_gp, "weights must be more localized for NLGP than GP inputs"
assert ipr_nlgp > 2 * ipr_init, "training on NLGP inputs must localize the weights"

# %% [markdown]
# ## Summary
#
# - Augment only with transformations the task is invariant to: flips are
#   free for clothes and harmful for digits. Test without a suspected
#   shortcut; a model that relied on it collapses.
# - With few labels, reuse a pretrained feature extractor: a new head on
#   frozen features or full fine-tuning beats training from scratch on the
#   same data, and so does a small adapter inside the frozen network.
# - First-layer filters can be plotted directly; deeper units and classes can
#   be visualised by gradient ascent on the input, which also shows how
#   confidently networks classify meaningless images.
# - Saliency maps and Grad-CAM show where the class score's gradient is large;
#   the same gradient, used by FGSM, destroys the accuracy with changes of a
#   few grey levels.
# - A fully connected layer learns localized receptive fields from
#   non-Gaussian inputs, but not from Gaussian inputs with the same covariance.
#
# ## Exercises
#
# **Exercise 1 (more labels).** Repeat the transfer experiment with four times
# as many labelled images of classes 5–9. Does the gap between fine-tuning
# and training from scratch grow or shrink?


# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Answer: it shrinks. With more labels the scratch model learns more of what the
# pretrained features already provide, so pretraining is worth most when labels
# are scarce. The gap depends on the seed on a task this easy, so we average it
# over three seeds (the images and the initialisation change with the seed).
def transfer_gap(n, seed):
    x_n, y_n = split(train_ds, [5, 6, 7, 8, 9], n, seed=seed)
    acc = {}
    for name, start in [("fine-tuned", pretrained), ("scratch", None)]:
        torch.manual_seed(seed)
        model_e = new_task_model(start, freeze=False)
        fit_quiet(model_e, x_n, y_n, **budget)
        acc[name] = accuracy(model_e, x_new_test, y_new_test)
    return acc["fine-tuned"] - acc["scratch"]


gaps = {
    n: [transfer_gap(n, seed) for seed in (1, 2, 3)]
    for n in (cfg.n_small, 4 * cfg.n_small)
}
for n, g_n in gaps.items():
    print(f"{n:>4} labels: fine-tuned minus scratch {sum(g_n) / 3:.3f} (seeds: "
          + ", ".join(f"{v:.3f}" for v in g_n) + ")")  # fmt: skip
mean_gap = {n: sum(g_n) / 3 for n, g_n in gaps.items()}
assert mean_gap[4 * cfg.n_small] < mean_gap[cfg.n_small], "the gap must shrink"
print("the gap shrinks with more labels")

# %% [markdown]
# **Exercise 2 (a random shortcut).** In the watermark experiment, put the
# mark at a *random* position in the training set instead of at the label's
# position. Show that the accuracy on clean test images recovers.

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Answer: a mark that carries no information about the label is ignored, and the
# network has to learn the digits: on clean test images it is as accurate as the
# plain digit model trained without any marks (within two points), and far more
# accurate than the model trained with the label-revealing mark.
g_mark = torch.Generator().manual_seed(0)
random_marks = torch.randint(0, 10, (len(tr),), generator=g_mark)
torch.manual_seed(0)
model_r = digit_cnn(size=10)
fit_quiet(model_r, watermark(xd[tr], random_marks), digits.y[tr], epochs=30)
acc_r = accuracy(model_r, watermark(xd[te], None), digits.y[te])
print(
    f"clean test accuracy: random watermark {acc_r:.3f}, no watermark at all "
    f"{digit_acc['none'][0]:.3f}, label watermark {acc_clean:.3f}"
)
assert acc_r > digit_acc["none"][0] - 0.02, (
    "the accuracy must recover to the clean model's"
)
assert acc_r > acc_clean + 0.05, "and clearly beat the shortcut model"

# %% [markdown]
# **Exercise 3 (Gaussian inputs, smaller gain).** The gain $g$ controls how
# non-Gaussian NLGP inputs are. Train the committee on NLGP inputs with
# $g = 0.3$, where erf is almost linear, and compare its IPR with the $g=3$
# result.

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Answer: at small gain the NLGP is nearly Gaussian and the weights stay spread
# out, as for the GP: localization needs strong non-Gaussianity.
w_low, _ = train_committee(nlgp, cfg.rf_steps, gain=0.3)
ipr_low = receptive.ipr(w_low).mean().item()
print(f"mean IPR: gain 0.3 {ipr_low:.3f}, gain 3 {ipr_nlgp:.3f}, GP {ipr_gp:.3f}")
assert ipr_low < ipr_nlgp / 1.5, "a nearly Gaussian input must localize much less"


# %% [markdown]
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
