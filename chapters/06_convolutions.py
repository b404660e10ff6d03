# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# (ch-convolutions)=
# # Convolutions and pooling
#
# ```{admonition} Learning objectives
# :class: tip
# After this chapter you can
# - derive a convolutional layer from a fully connected one by locality and weight sharing, and count the
#   parameters of each;
# - state the definitions of convolution and cross-correlation, with batch and channels, and compute output
#   sizes from kernel, padding, stride and dilation;
# - implement a convolution twice, with loops and as one matrix product (im2col), and match `F.conv2d`;
# - use pooling (max, average, adaptive, global) and explain what it buys;
# - measure translation equivariance and pooling's approximate invariance, and show where both stop.
# ```
#
# The multilayer perceptrons of {ref}`ch-mlp` treat an image as a list of
# numbers: shuffle the pixels the same way in every image and they learn just
# as well. That is wasteful, because images are not arbitrary lists. Nearby
# pixels are strongly related (*locality*), the same pattern means the same
# thing wherever it appears (*stationarity*), and large patterns are made of
# smaller ones (*compositionality*). A convolutional layer builds the first
# two assumptions into the architecture and a stack of them the third
# {cite}`fukushima1980neocognitron,lecun1989backpropagation`. This chapter
# builds the layer from its definition, computes it three ways, looks at
# what fixed filters do to a photograph, adds pooling, measures the
# symmetries the layer has and does not have, and finally tests the
# assumptions themselves on Fashion-MNIST.

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
import random
import time
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlbook import data, plot
from dlbook.conv import check_conv2d, check_pool, conv_args
from dlbook.setup import synchronize

# %% [markdown]
# Most of this chapter computes on single images and runs in seconds on any
# machine. The profiles differ in the last section, which trains four
# networks on Fashion-MNIST, and in how long we learn a filter.

# %%
# n_train / n_test: Fashion-MNIST images used (None: all 60,000 / 10,000);
# n_ex, ex_epochs: CIFAR-10 (or its stand-in) for Exercises 4 and 5;
# filter_steps: the filter fit, which runs on the CPU, so gpu keeps the cpu size
# fmt: off
cfg = dlbook.config(
    smoke=dict(n_train=2_000, n_test=1_000, epochs=2, filter_steps=150,
               time_repeats=3, n_ex=1_500, ex_epochs=2),
    cpu=dict(n_train=30_000, n_test=None, epochs=6, filter_steps=300,
             time_repeats=10, n_ex=6_000, ex_epochs=3),
    gpu=dict(n_train=None, n_test=None, epochs=12, filter_steps=300,
             time_repeats=50, n_ex=None, ex_epochs=10),
)
# fmt: on
cfg

# %% [markdown]
# ## From fully connected to convolutional layers
#
# Take a colour image of $200 \times 200$ pixels, $200 \cdot 200 \cdot 3 =
# 120{,}000$ numbers, and a first hidden layer that keeps the image's layout:
# $K$ maps of $200 \times 200$ hidden units each. Three ways to wire it:
#
# - **fully connected**: every hidden unit sees every input value, with its own weights;
# - **locally connected**: every hidden unit sees only an $F \times F \times 3$ patch around its own position,
#   still with its own weights;
# - **convolutional**: locally connected, and all units of one map *share* the same weights, so a map
#   applies one filter at every position.
#
# With $H \times W \times C$ inputs, $K$ output maps of $H \times W$ units, and
# one bias per unit (per map for the convolution), the parameter counts are
#
# $$
# \begin{aligned}
# P_{\text{FC}} &= (HWC)(HWK) + HWK, \\
# P_{\text{LC}} &= HWK\,(F^2 C + 1), \\
# P_{\text{conv}} &= K\,(F^2 C + 1).
# \end{aligned}
# $$ (eq-param-counts)
#
# Locality removes the factor $HW$ from each unit's fan-in; weight sharing
# removes the factor $HW$ from the number of distinct units. PyTorch has no
# locally connected layer, so we write one with `F.unfold`, which cuts the
# padded input into its $F \times F$ patches (we meet it properly below).


# %%
class LocallyConnected2d(nn.Module):
    """A 'same'-padded convolution whose every output position has its own filter."""

    def __init__(
        self, in_ch: int, out_ch: int, size: tuple[int, int], kernel: int, device=None
    ):
        super().__init__()
        self.kernel, self.size, self.out_ch = kernel, size, out_ch
        n_pos = size[0] * size[1]
        w = torch.randn(n_pos, out_ch, in_ch * kernel**2, device=device)
        self.weight = nn.Parameter(w / kernel)
        self.bias = nn.Parameter(torch.zeros(n_pos, out_ch, device=device))

    def forward(self, x):  # (N, C, H, W)
        patches = F.unfold(x, self.kernel, padding=self.kernel // 2)  # (N, C*F*F, H*W)
        out = torch.einsum("pkc,ncp->nkp", self.weight, patches)  # (N, K, H*W)
        return (out + self.bias.T).reshape(len(x), self.out_ch, *self.size)


# %% [markdown]
# Now the three layers for $H = W = 200$, $C = 3$, $F = 5$ and $K = 16$
# maps. The huge ones are created on PyTorch's `meta` device, which records
# shapes but allocates no memory.

# %%
H = W = 200
C, K, FS = 3, 16, 5
layers = {
    "fully connected": nn.Linear(H * W * C, H * W * K, device="meta"),
    "locally connected": LocallyConnected2d(C, K, (H, W), FS, device="meta"),
    "convolutional": nn.Conv2d(C, K, FS, padding=FS // 2),
}
formula = {
    "fully connected": (H * W * C) * (H * W * K) + H * W * K,
    "locally connected": H * W * K * (FS**2 * C + 1),
    "convolutional": K * (FS**2 * C + 1),
}
counts = {name: sum(p.numel() for p in m.parameters()) for name, m in layers.items()}
for name, n in counts.items():
    print(f"{name:>17}: {n:>15,} parameters = {4 * n / 2**30:10.4f} GiB as float32")

# %% tags=["remove-cell"]
assert counts == formula, "the parameter counts must follow equation (eq-param-counts)"
assert (
    counts["fully connected"]
    > 1e3 * counts["locally connected"]
    > 1e7 * counts["convolutional"]
)
lc_small = LocallyConnected2d(3, 4, (9, 9), 3)
assert lc_small(torch.randn(2, 3, 9, 9)).shape == (2, 4, 9, 9)

# %% [markdown]
# The fully connected layer needs hundreds of gigabytes for its weights
# alone; the locally connected layer still a couple of hundred megabytes;
# the convolution about a thousand numbers — and its count does not depend on the
# image size at all. The price of sharing is an assumption: a filter useful
# at one place is useful everywhere. The seed of this idea is Hubel and
# Wiesel's discovery of cells in the visual cortex that respond to oriented
# edges within a small receptive field {cite}`hubel1962receptive`.
#
# ## Convolution and cross-correlation
#
# For a signal $x \in \mathbb{R}^n$ and a kernel $u \in \mathbb{R}^k$, the
# discrete **convolution** and the **cross-correlation** are
#
# $$
# (x * u)_i = \sum_{a} x_{i - a}\, u_a, \qquad
# (x \star u)_i = \sum_{a=0}^{k-1} x_{i + a}\, u_a .
# $$ (eq-conv-1d)
#
# Convolution flips the kernel, cross-correlation slides it as it is. Flipping
# makes convolution commutative and associative, which matters in signal
# processing; for a *learned* kernel it does not matter at all (the network
# would just learn the flipped kernel), and every deep-learning library
# computes cross-correlation and calls it convolution. NumPy has both.

# %%
x1 = torch.tensor([0.0, 1.0, 2.0, 4.0, 3.0, 1.0, 0.0], dtype=torch.float64)
u1 = torch.tensor([1.0, 0.0, -2.0], dtype=torch.float64)  # asymmetric: the flip shows
np_conv = np.convolve(x1.numpy(), u1.numpy(), mode="valid")
np_corr = np.correlate(x1.numpy(), u1.numpy(), mode="valid")
torch_conv1d = F.conv1d(x1.view(1, 1, -1), u1.view(1, 1, -1)).flatten().numpy()
print("numpy convolve   ", np_conv)
print("numpy correlate  ", np_corr)
print("torch F.conv1d   ", torch_conv1d)

# %% tags=["remove-cell"]
assert np.allclose(torch_conv1d, np_corr), "PyTorch's conv1d is a cross-correlation"
assert np.allclose(np.convolve(x1.numpy(), u1.numpy()[::-1], mode="valid"), np_corr), (
    "convolution flips the kernel"
)
assert not np.allclose(np_conv, np_corr)

# %% [markdown]
# `F.conv1d` agrees with `np.correlate`, and convolving with the flipped
# kernel gives the same numbers. The 2-D case is the same with two indices.
# A convolutional *layer* adds a batch index $n$, $C_\text{in}$ input
# channels that are summed over, and $C_\text{out}$ filters, one per output
# channel. For input $X \in \mathbb{R}^{N \times C_\text{in} \times H \times W}$,
# weights $w \in \mathbb{R}^{C_\text{out} \times C_\text{in} \times F_h \times F_w}$
# and bias $b \in \mathbb{R}^{C_\text{out}}$, with indices starting at 0:
#
# $$
# \begin{aligned}
# Y_{n,o,i,j} = b_o &+ \sum_{c=0}^{C_\text{in}-1} \sum_{\alpha=0}^{F_h-1}
#   \sum_{\beta=0}^{F_w-1} w_{o,c,\alpha,\beta}\;
#   X_{n,\,c,\; iS + \alpha,\; jS + \beta},
# \end{aligned}
# $$ (eq-conv-layer)
#
# where $S$ is the stride and $X$ is understood to be zero-padded by $P$
# pixels on every side (both explained below). Here it is, literally, as
# loops over the output: batch, output channel, row, column. The triple sum
# over a receptive field is one elementwise product and a sum. The first
# line calls `conv_args` from the helper package, which refuses bad input
# with a clear message and returns each setting as an (along H, along W)
# pair together with the output size (the formula of the next section).
# The cell is tagged `dlbook:conv`: the package holds the same text, so
# later chapters import exactly this function.


# %% tags=["dlbook:conv"]
def conv2d_loops(x, weight, bias=None, stride=1, padding=0):
    """The convolution layer as loops: (N, Cin, H, W), (Cout, Cin, Fh, Fw)."""
    (fh, fw), _, _, _, (h_out, w_out) = conv_args(x, weight.shape[2:], stride, padding)
    x = F.pad(x, (padding,) * 4)  # zeros around the image
    y = x.new_zeros(len(x), len(weight), h_out, w_out)  # (N, Cout, Ho, Wo)
    for n in range(len(x)):
        for o in range(len(weight)):
            for i in range(h_out):
                for j in range(w_out):
                    r, c = i * stride, j * stride
                    field = x[n, :, r : r + fh, c : c + fw]  # (Cin, Fh, Fw)
                    y[n, o, i, j] = (weight[o] * field).sum()
    return y if bias is None else y + bias.view(1, -1, 1, 1)


# %% [markdown]
# Before trusting it we compare it with `F.conv2d` on a tiny random input,
# in double precision, for a few strides and paddings.

# %%
g = torch.Generator().manual_seed(0)
x_tiny = torch.randn(2, 3, 9, 8, generator=g, dtype=torch.float64)
w_tiny, b_tiny = (
    torch.randn(4, 3, 3, 2, generator=g, dtype=torch.float64),
    torch.randn(4, dtype=torch.float64),
)
for stride, padding in [(1, 0), (1, 1), (2, 1), (3, 2)]:
    ours = conv2d_loops(x_tiny, w_tiny, b_tiny, stride, padding)
    ref = F.conv2d(x_tiny, w_tiny, b_tiny, stride=stride, padding=padding)
    print(
        f"stride {stride}, padding {padding}: output {tuple(ours.shape)}, "
        f"max |loops - F.conv2d| = {(ours - ref).abs().max():.1e}"
    )
    assert torch.allclose(ours, ref, atol=1e-12)

# %% [markdown]
# The loops compute exactly what PyTorch computes. A 2-D convolution in the
# signal-processing sense (kernel flipped in both directions) relates to it
# as in 1-D; SciPy's `convolve2d` confirms it.

# %%
from scipy.signal import convolve2d, correlate2d

img_small, ker = x_tiny[0, 0].numpy(), w_tiny[0, 0].numpy()
torch_2d = F.conv2d(x_tiny[:1, :1], w_tiny[:1, :1]).squeeze().numpy()
print(
    "|F.conv2d - correlate2d|          =",
    np.abs(torch_2d - correlate2d(img_small, ker, mode="valid")).max(),
)
print(
    "|F.conv2d - convolve2d(flipped)|  =",
    np.abs(torch_2d - convolve2d(img_small, ker[::-1, ::-1], mode="valid")).max(),
)

# %% tags=["remove-cell"]
assert np.allclose(torch_2d, correlate2d(img_small, ker, mode="valid"))
assert np.allclose(torch_2d, convolve2d(img_small, ker[::-1, ::-1], mode="valid"))

# %% [markdown]
# ## Fixed filters on a photograph
#
# Before any learning, convolution with hand-made kernels is the workhorse
# of classical image processing. Each kernel below is a small matrix that
# says how to mix a pixel's neighbourhood:
#
# - the **identity** (a single 1 in the centre) changes nothing;
# - the **box blur** averages a $5 \times 5$ neighbourhood; the **Gaussian blur** weights it by
#   $e^{-(a^2+b^2)/2\sigma^2}$, normalized to sum 1, which blurs without the box's blockiness;
# - **sharpen** is the identity plus a multiple of "centre minus neighbours", which exaggerates local
#   differences;
# - the **Laplacian** $\partial_x^2 + \partial_y^2$ responds to curvature: zero on flat and linear regions,
#   a sign change at an edge;
# - the **Sobel** kernels {cite}`sobel1968isotropic` estimate $\partial_x$ and $\partial_y$: a central
#   difference in one direction, smoothed in the other. Their magnitude
#   $\sqrt{G_x^2 + G_y^2}$ marks edges.
#
# The photograph is scikit-image's *camera* test image {cite}`vanderwalt2014scikit`,
# which ships with the library, so it works offline.

# %%
from skimage import data as skdata


def gaussian_kernel(size: int, sigma: float) -> torch.Tensor:
    r = torch.arange(size) - size // 2
    g1 = torch.exp(-(r.float() ** 2) / (2 * sigma**2))
    return torch.outer(g1, g1) / g1.sum() ** 2  # (size, size), sums to 1


def centered(k: torch.Tensor, size: int = 5) -> torch.Tensor:
    """Zero-pad a small odd kernel to size x size, so all filters can be stacked."""
    p = (size - k.shape[0]) // 2
    return F.pad(k, (p, p, p, p))


# %% [markdown]
# With these two helpers each kernel is a line or two, and `centered` lets
# us stack all seven into one tensor of $5 \times 5$ filters.

# %%
ident = torch.zeros(3, 3)
ident[1, 1] = 1
laplace = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])
sobel_x = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
filters = {
    "identity": ident,
    "box blur 5x5": torch.full((5, 5), 1 / 25),
    "Gaussian blur": gaussian_kernel(5, 1.0),
    "sharpen": ident - 0.5 * laplace,
    "Laplacian": laplace,
    "Sobel x": sobel_x,
    "Sobel y": sobel_x.T,
}
bank = torch.stack([centered(k) for k in filters.values()])[:, None]  # (7, 1, 5, 5)
print(f"filter bank {tuple(bank.shape)}")

# %% [markdown]
# The seven kernels form one convolutional layer with one input and seven
# output channels. We pad by reflecting the image at its border (instead of
# with zeros, which would create a false dark frame and false edges) and
# apply the whole bank in one call.

# %%
camera = torch.from_numpy(skdata.camera()).float()[None, None] / 255  # in [0, 1]
responses = F.conv2d(F.pad(camera, (2, 2, 2, 2), mode="reflect"), bank)  # (1, 7, H, W)
gx, gy = responses[0, 5], responses[0, 6]
edges = torch.sqrt(gx**2 + gy**2)
print(f"camera {tuple(camera.shape)}, responses {tuple(responses.shape)}")
for name, r in zip(filters, responses[0]):
    print(f"{name:>14}: mean {r.mean():+.3f}, std {r.std():.3f}")

# %% tags=["remove-cell"]
assert torch.allclose(responses[0, 0], camera[0, 0]), (
    "the identity kernel must reproduce the image"
)
for k in ("box blur 5x5", "Gaussian blur"):
    assert abs(filters[k].sum() - 1) < 1e-6
flat = torch.full((1, 1, 20, 20), 0.7)
flat_resp = F.conv2d(F.pad(flat, (2,) * 4, mode="reflect"), bank)[0]
assert torch.allclose(flat_resp[:4], flat[0].expand(4, 20, 20), atol=1e-6), (
    "blurs and sharpen keep a flat image"
)
assert flat_resp[4:].abs().max() < 1e-6, "derivative filters give zero on a flat image"
assert responses[0, 1].std() < camera.std() and responses[0, 3].std() > camera.std(), (
    "blur smooths, sharpen boosts"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The camera image after each of the seven fixed filters, and the Sobel gradient magnitude. Signed responses in red (positive) and blue (negative).", "name": "fig-convolutions-filters"}, "image": {"alt": "A grid of eight versions of a photograph of a man with a camera: identity, two blurs, sharpened, Laplacian, Sobel x, Sobel y and the edge magnitude."}}
fig, axes = plot.subplots(2, 4, width=7, height=4)
shown = list(zip(filters, responses[0])) + [("Sobel magnitude", edges)]
for ax, (name, r) in zip(axes.flat, shown):
    if name in ("Laplacian", "Sobel x", "Sobel y"):
        lim = float(r.abs().quantile(0.99))
        ax.imshow(r.numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
    elif name == "Sobel magnitude":
        ax.imshow(r.numpy(), cmap="gray_r", vmax=float(r.quantile(0.99)))
    else:
        ax.imshow(r.numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_title(name)
    ax.set_axis_off()
plot.show(fig)

# %% [markdown]
# In {numref}`fig-convolutions-filters` the blurs wash out the grass and the coat's folds; sharpening makes them
# crisper. The derivative filters are signed (red positive, blue negative):
# Sobel x lights up at vertical edges such as the tripod's legs, Sobel y at
# horizontal ones, and the magnitude (dark = strong) draws the outline of the
# man and the camera. The Laplacian reacts to fine texture everywhere. All of
# this is a single convolutional layer with fixed weights; a trained network
# learns its own filters, and its first layer usually ends up with edge and
# blob detectors much like these.
#
# A clean synthetic image shows more precisely what each filter does. Its
# rows are all the same profile — dark, a step up at column 24, a flat
# plateau, a linear ramp down from column 56 to 88, and a thin bright line
# at column 104 — with a square added in the top half so
# that the 2-D picture has corners. We plot one row (a horizontal cross
# section) after each filter.

# %%
cols = torch.arange(128.0)
profile = ((cols >= 24) & (cols < 56)).float()  # a step up at 24, down at 56
profile += ((cols >= 56) & (cols < 88)) * (1 - (cols - 56) / 32)  # ramp from 1 to 0
profile += ((cols >= 104) & (cols < 106)).float()  # a thin line, 2 pixels wide
synth = profile.repeat(64, 1)
synth[8:24, 16:40] = 0.5  # a square, away from the row we plot
synth = synth[None, None]  # (1, 1, 64, 128)
padded = F.pad(synth, (2, 2, 2, 2), mode="replicate")  # (1, 1, 68, 132)
synth_resp = F.conv2d(padded, bank)[0]  # (7, 64, 128)
row = 48
print(
    f"Sobel x along row {row}: largest at column {synth_resp[5, row].argmax().item()}, "
    f"value on the ramp {synth_resp[5, row, 72]:.3f} (slope -1/32 times 8)"
)

# %% tags=["remove-cell"]
sx = synth_resp[5, row]
assert sx.argmax().item() in (23, 24), "Sobel x peaks at the step edge"
assert sx[103:105].max() > 1 and sx[105:108].min() < -1, "a thin line gives a +/- pair"
assert sx[60:84].sub(-1 / 32 * 8).abs().max() < 1e-5, (
    "on the ramp Sobel x is 8 times the constant slope"
)
assert synth_resp[4, row, 60:84].abs().max() < 1e-5, (
    "the Laplacian vanishes on a linear ramp"
)
assert (
    synth_resp[4, row, 22] > 0 > synth_resp[4, row, 25]
    or synth_resp[4, row, 23] > 0 > synth_resp[4, row, 24]
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Left: the synthetic image (step, plateau, ramp, thin line, square). Right: row 48 after four of the filters.", "name": "fig-convolutions-cross-section"}, "image": {"alt": "A grey synthetic image with a marked row, and line plots of that row after the identity, Gaussian blur, Sobel x and Laplacian filters."}}
fig, axes = plot.subplots(
    1, 2, width=7, height=2.8, gridspec_kw=dict(width_ratios=[1, 1.6])
)
axes[0].imshow(synth[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
axes[0].axhline(row, color="C1", lw=1.5)
axes[0].set_title(f"synthetic image, row {row}")
axes[0].set_axis_off()
for idx, name in [
    (0, "identity"),
    (2, "Gaussian blur"),
    (5, "Sobel x"),
    (4, "Laplacian"),
]:
    axes[1].plot(synth_resp[idx, row], label=name, lw=1.6 if idx else 2.5)
axes[1].set_xlabel("column (pixels)")
axes[1].set_ylabel("response")
axes[1].legend(ncol=2)
axes[1].set_title("horizontal cross section")
plot.show(fig)

# %% [markdown]
# Along the row ({numref}`fig-convolutions-cross-section`), the Gaussian blur rounds the step and widens and lowers the
# thin line. Sobel x is a scaled derivative: a positive spike at the step up,
# a small constant negative value on the ramp (eight times the slope, as
# printed above) and a positive-negative pair at the line. The Laplacian, a second
# derivative, is zero on flat parts *and* on the ramp, and swings from
# positive to negative at every edge: its zero crossings locate edges
# precisely.
#
# ## Padding, stride and the size of the output
#
# Without padding, a kernel of size $F$ fits into an input of size $n$ in
# $n - F + 1$ positions, so every layer shrinks the image, and border pixels
# take part in fewer outputs than central ones. **Zero padding** by $P$
# pixels on each side counters this; $P = (F-1)/2$ for odd $F$ keeps the size
# ("same" padding). A **stride** $S$ moves the kernel $S$ pixels at a time
# and downsamples the output by about $S$. **Dilation** $D$ spreads the
# kernel's taps $D$ pixels apart, so it covers $D(F-1)+1$ pixels with $F$
# weights. Counting positions gives the output size along each axis, and
# counting weights the parameters of a layer {cite}`dumoulin2016guide`:
#
# $$
# \begin{aligned}
# n_\text{out} &= \left\lfloor \frac{n + 2P - D(F-1) - 1}{S} \right\rfloor + 1, \\
# \#\text{params} &= F^2\, C_\text{in}\, C_\text{out} + C_\text{out}.
# \end{aligned}
# $$ (eq-out-size)
#
# With $D = 1$ the first is the familiar $\lfloor (n - F + 2P)/S \rfloor + 1$.
# The floor means that when $(n - F + 2P)$ is not a multiple of $S$, the last
# few rows or columns are silently ignored ({numref}`fig-convolutions-padding-stride`
# shows where the padding sits and which positions the stride skips). As code:


# %% tags=["dlbook:conv"]
def conv_output_size(
    size: int, kernel: int, *, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """Output length along one axis: floor((n + 2P - D(F-1) - 1) / S) + 1."""
    span = dilation * (kernel - 1) + 1  # input positions one kernel covers
    return (size + 2 * padding - span) // stride + 1


# %% [markdown]
# :::{figure} ../figs/conv_padding_stride.svg
# :name: fig-convolutions-padding-stride
# :alt: A 7x7 grid (a 5x5 input with a border of zeros) with two 3x3 windows two columns apart, a 3x3 kernel of weights, and a 3x3 output grid whose first two cells are highlighted in the windows' colours; the output size formula is worked out beside it.
# :width: 100%
# A 3x3 kernel on a 5x5 input with zero padding $P = 1$ (white cells) and stride
# $S = 2$. The solid and the dashed window are two consecutive positions, two
# pixels apart; each produces one output pixel of the same colour.
# {eq}`eq-out-size` gives $\lfloor (5 + 2 - 3)/2 \rfloor + 1 = 3$.
# :::

# %% [markdown]
# We check both formulas against `nn.Conv2d` for many random settings.

# %%
rng = random.Random(0)
settings = []  # (n, F, S, P, D, Cin, Cout) of 200 random draws, where the kernel fits
for _ in range(200):
    n_in, f = rng.randint(5, 40), rng.choice([1, 3, 5, 7])
    s, p, d = rng.randint(1, 4), rng.randint(0, 3), rng.randint(1, 2)
    c_in, c_out = rng.randint(1, 8), rng.randint(1, 8)
    if d * (f - 1) + 1 <= n_in + 2 * p:
        settings.append((n_in, f, s, p, d, c_in, c_out))

# %% [markdown]
# Each setting builds a layer, runs it on an $n \times (n + 3)$ input of
# zeros, so that the two axes differ, and compares with the formulas.

# %%
for n_in, f, s, p, d, c_in, c_out in settings:
    layer = nn.Conv2d(c_in, c_out, f, stride=s, padding=p, dilation=d)
    out_shape = layer(torch.zeros(1, c_in, n_in, n_in + 3)).shape
    n_out = partial(conv_output_size, kernel=f, stride=s, padding=p, dilation=d)
    assert out_shape[2:] == (n_out(n_in), n_out(n_in + 3))
    assert sum(q.numel() for q in layer.parameters()) == f**2 * c_in * c_out + c_out
n_checked = len(settings)
print(f"output size and parameter count match nn.Conv2d in all {n_checked} settings")

# %% [markdown]
# The parameter count never depends on the image size, stride or padding.
#
# ### Several input and output channels
#
# In {eq}`eq-conv-layer` each output channel has its own filter, and each
# filter has one $F \times F$ slice per input channel whose responses are
# *summed*. So a layer with $C_\text{in}$ inputs and $C_\text{out}$ outputs is
# $C_\text{in} \cdot C_\text{out}$ single-channel convolutions, added up per
# output. We verify this decomposition.

# %%
x_mc = torch.randn(2, 3, 10, 10, generator=g, dtype=torch.float64)  # (N, Cin=3, H, W)
w_mc = torch.randn(4, 3, 3, 3, generator=g, dtype=torch.float64)  # (Cout=4, Cin, F, F)
full = F.conv2d(x_mc, w_mc)  # (2, 4, 8, 8)


def one_output(o):  # output channel o: a sum of single-channel convolutions over c
    return sum(
        F.conv2d(x_mc[:, c : c + 1], w_mc[o : o + 1, c : c + 1]) for c in range(3)
    )


by_hand = torch.cat([one_output(o) for o in range(4)], dim=1)  # (2, 4, 8, 8)
gap = (full - by_hand).abs().max()
print(f"{tuple(full.shape)}; max |layer - sum of 12 single convolutions| = {gap:.1e}")

# %% tags=["remove-cell"]
assert torch.allclose(full, by_hand, atol=1e-12)

# %% [markdown]
# ### 1x1 convolutions
#
# A kernel of size $1 \times 1$ sees a single pixel, but all its channels:
# it applies the same linear map $\mathbb{R}^{C_\text{in}} \to
# \mathbb{R}^{C_\text{out}}$ to the channel vector at every position — a
# fully connected layer shared across the image, with
# $C_\text{in}C_\text{out} + C_\text{out}$ parameters. Networks use it to mix
# channels and to shrink or grow their number cheaply
# {cite}`lin2014network`.

# %%
one_by_one = nn.Conv2d(3, 5, kernel_size=1).double()
as_linear = nn.Linear(3, 5).double()
as_linear.weight.data = one_by_one.weight.data.view(5, 3)  # the same numbers
as_linear.bias.data = one_by_one.bias.data
y_conv = one_by_one(x_mc)  # (2, 5, 10, 10)
y_lin = as_linear(x_mc.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # Linear per pixel
print(f"max |1x1 conv - per-pixel linear layer| = {(y_conv - y_lin).abs().max():.1e}")

# %% tags=["remove-cell"]
assert torch.allclose(y_conv, y_lin, atol=1e-12)
assert sum(q.numel() for q in one_by_one.parameters()) == 3 * 5 + 5

# %% [markdown]
# ## Convolution as one matrix product
#
# The loops above are correct but slow: Python visits every output pixel.
# The standard way to make a convolution fast is to *rearrange the input*
# so that the whole layer becomes one matrix multiplication, which linear
# algebra libraries execute at close to the machine's peak
# {cite}`chellapilla2006high`. **im2col** ("image to columns") copies every
# receptive field — $C_\text{in} F_h F_w$ numbers — into a column of a matrix
# with one column per output pixel. The filters, flattened, are the rows of
# a $C_\text{out} \times C_\text{in}F_hF_w$ matrix, and {eq}`eq-conv-layer`
# becomes
#
# $$
# \underbrace{Y}_{C_\text{out} \times L}
# = \underbrace{W}_{C_\text{out} \times C_\text{in}F_hF_w}\;
#   \underbrace{\operatorname{im2col}(X)}_{C_\text{in}F_hF_w \times L}
# + b\,\mathbf{1}^\top, \qquad L = H_\text{out}W_\text{out}.
# $$ (eq-im2col)
#
# The cost is memory: each input pixel is copied up to $F_h F_w$ times. We
# build `im2col` from `Tensor.unfold`, which returns a strided *view* of
# every window along one axis without copying; dilation is a slice of the
# window, and the only copy is the final `reshape`. The `pad_value` is for
# max pooling below. {numref}`fig-convolutions-im2col` shows the layout of the
# columns on a small example, and how often a pixel is copied.

# %% [markdown]
# :::{figure} ../figs/im2col.svg
# :name: fig-convolutions-im2col
# :alt: A 4x4 grid numbered 1 to 16 with two overlapping 3x3 windows; an arrow labelled im2col leads to a 9x4 matrix whose first and last columns hold those windows' pixels; to its left, a 2x9 weight matrix and the 2x4 result Y, written as Y = W times the matrix.
# :width: 100%
# im2col on a 4x4 image with a 3x3 kernel and stride 1: each of the four windows
# (two are framed) becomes one column of a 9x4 matrix, the two filters are the rows
# of $W$ (2x9), and one product $Y = W \cdot \operatorname{im2col}(X)$ gives all
# outputs, one row per filter. Pixel 6 appears in all four columns: the price of
# the method is memory.
# :::


# %% tags=["dlbook:conv"]
def im2col(x, kernel_size, *, stride=1, padding=0, dilation=1, pad_value=0.0):
    """Every receptive field of x (N, C, H, W) as a column: (N, C*kh*kw, Ho*Wo)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (ho, wo) = conv_args(
        x, kernel_size, stride, padding, dilation
    )
    xp = F.pad(x, (pw, pw, ph, ph), value=pad_value)  # (N, C, H+2ph, W+2pw)
    # unfold(dim, size, step): a view of every window of `size` taken every `step`
    fields = xp.unfold(2, dh * (kh - 1) + 1, sh).unfold(3, dw * (kw - 1) + 1, sw)
    fields = fields[..., ::dh, ::dw]  # every dilation-th tap: (N, C, Ho, Wo, kh, kw)
    cols = fields.permute(0, 1, 4, 5, 2, 3)  # (N, C, kh, kw, Ho, Wo)
    return cols.reshape(len(x), x.shape[1] * kh * kw, ho * wo)


# %% [markdown]
# Our columns have the same layout as PyTorch's `F.unfold` (which we used
# for the locally connected layer); we check that below. With them,
# `conv2d` is a reshape of the weights and one batched matrix product.
# **Groups** split the channels into $G$ independent blocks, each with its
# own filters, which is one more batch dimension of the product;
# $G = C_\text{in}$ gives a *depthwise* convolution, in which each channel
# is filtered on its own. We use that for pooling below. `check_conv2d`
# (from the package) makes sure that the shapes of images, filters, bias
# and groups agree. `unflatten` splits one axis in two; unlike a `reshape`
# with $-1$, it works for an empty batch too.


# %% tags=["dlbook:conv"]
def conv2d(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1):
    """F.conv2d as im2col and one matrix product per group."""
    check_conv2d(x, weight, bias, groups)
    kernel, *_, (ho, wo) = conv_args(x, weight.shape[2:], stride, padding, dilation)
    cols = im2col(x, kernel, stride=stride, padding=padding, dilation=dilation)
    cols = cols.unflatten(1, (groups, -1))  # (N, G, Cin/G*kh*kw, Ho*Wo)
    w = weight.flatten(1).unflatten(0, (groups, -1))  # (G, Cout/G, Cin/G*kh*kw)
    out = (w @ cols).flatten(1, 2)  # (N, Cout, Ho*Wo): one product per group
    out = out.unflatten(2, (ho, wo))  # (N, Cout, Ho, Wo)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


# %% [markdown]
# First the checks, in double precision: the columns against `F.unfold`,
# and `conv2d` against `F.conv2d` for 30 random settings of stride, padding,
# dilation, groups and bias (the package's tests add gradients and 150
# more).

# %%
rng_c = random.Random(1)
worst = 0.0
for _ in range(30):
    grp, kh, kw = rng_c.choice([1, 2, 3]), rng_c.randint(1, 3), rng_c.randint(1, 3)
    s_, p_, d_ = rng_c.randint(1, 3), rng_c.randint(0, 2), rng_c.randint(1, 2)
    kw_ = dict(stride=s_, padding=p_, dilation=d_)
    xc = torch.randn(2, 2 * grp, 11, 10, generator=g, dtype=torch.float64)
    wc = torch.randn(3 * grp, 2, kh, kw, generator=g, dtype=torch.float64)
    bc = torch.randn(3 * grp, generator=g, dtype=torch.float64)
    cols_ok = torch.equal(im2col(xc, (kh, kw), **kw_), F.unfold(xc, (kh, kw), **kw_))
    assert cols_ok, "im2col must lay the fields out like F.unfold"
    ref = F.conv2d(xc, wc, bc, groups=grp, **kw_)
    worst = max(worst, (conv2d(xc, wc, bc, groups=grp, **kw_) - ref).abs().max())
print(f"im2col == F.unfold in 30 settings; max |conv2d - F.conv2d| = {worst:.1e}")
assert worst < 1e-12

# %% [markdown]
# Now we time the three implementations: the loops on the tiny input,
# `conv2d` and `F.conv2d` on the tiny input and on a realistic layer (a
# batch of 16 images of $64 \times 64$ with 16 channels in and 32 out).


# %%
def seconds_per_call(fn, repeats):
    """The fastest of `repeats` timed calls, after a warm-up (the least disturbed)."""
    fn()
    times = []
    for _ in range(repeats):
        synchronize(device)  # a GPU call returns early: wait before reading the clock
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - t0)
    return min(times)


# %% [markdown]
# Both cases use padding 1. While we time, cuDNN must compute in full
# float32: on recent NVIDIA GPUs it would otherwise round the inputs to the
# shorter TF32 format, and `F.conv2d` would no longer be the float32
# reference that `conv2d` is compared with.

# %%
x_big = torch.randn(16, 16, 64, 64, generator=g).to(device)
w_big = torch.randn(32, 16, 3, 3, generator=g).to(device)
b_big = torch.randn(32, generator=g).to(device)
cases = {
    "tiny (2x3x9x8)": (x_tiny, w_tiny, b_tiny),
    "layer (16x16x64x64)": (x_big, w_big, b_big),
}
tf32 = torch.backends.cudnn.allow_tf32
torch.backends.cudnn.allow_tf32 = False  # else cuDNN (Ampere+) rounds inputs to TF32


def ms_per_call(fn, args, repeats=cfg.time_repeats):
    return 1e3 * seconds_per_call(partial(fn, *args, padding=1), repeats)


# %% [markdown]
# For each case we check `conv2d` against `F.conv2d`, then time the three
# implementations; the loops run only twice, and only on the tiny input.

# %%
for name, args in cases.items():
    ours, ref = conv2d(*args, padding=1), F.conv2d(*args, padding=1)
    assert torch.allclose(ours, ref, rtol=1e-4, atol=1e-4), "im2col must equal F.conv2d"
    small = args[0] is x_tiny
    loops = f"{ms_per_call(conv2d_loops, args, 2):8.2f} ms" if small else "(skipped)"
    t_im2col, t_torch = ms_per_call(conv2d, args), ms_per_call(F.conv2d, args)
    print(
        f"{name:>20}: loops {loops:>11} | im2col {t_im2col:8.3f} ms | "
        f"F.conv2d {t_torch:8.3f} ms"
    )
torch.backends.cudnn.allow_tf32 = tf32  # back to the default for the rest
ratio = ref.numel() / conv2d(x_tiny, w_tiny, b_tiny, padding=1).numel()
print(f"the layer has {ratio:,.0f} times as many outputs as the tiny input")

# %% [markdown]
# Even on the tiny input the loops are far slower than either vectorized
# version, and on the realistic layer, with the number of outputs printed
# above, they would take minutes, so we do not even try. One matrix product brings `conv2d` within a small
# factor of PyTorch's built-in convolution (timings vary from machine to
# machine and between runs). `F.conv2d` calls tuned libraries (oneDNN on a
# CPU, cuDNN on a GPU) that choose among im2col, direct, FFT-based and
# Winograd algorithms and avoid materializing the column matrix.
#
# ## Pooling
#
# A **pooling** layer replaces each window of a feature map by a summary:
# its maximum (*max pooling*) or its mean (*average pooling*), channel by
# channel, with no parameters. With a $2 \times 2$ window and stride 2 it
# halves the height and width, so later layers see a larger part of the
# image at lower cost, and it makes the output less sensitive to small
# shifts of the input (measured below). Pooling has the same kernel, stride
# and padding as a convolution and the same output-size formula
# {eq}`eq-out-size`, so it reuses `im2col`: split the columns' rows by
# channel and reduce over each window. For max pooling the padding is
# $-\infty$, so that it is never the maximum; for average pooling the same
# columns of an all-ones image count the real pixels in each window
# (`count_include_pad=False` divides by them). `check_pool` refuses padding
# wider than half the window, as PyTorch does. {numref}`fig-convolutions-pooling`
# shows both summaries of the same windows.

# %% [markdown]
# :::{figure} ../figs/pooling.svg
# :name: fig-convolutions-pooling
# :alt: A 4x4 grid of numbers split into four coloured 2x2 windows, with arrows to two 2x2 results: the maxima 6, 2, 2, 9 and the means 3.50, 1.00, 1.00, 6.00.
# :width: 100%
# 2x2 pooling with stride 2 on one channel: each coloured window becomes one
# output, its maximum (max pooling) or its mean (average pooling). The map's height
# and width halve, and there is nothing to learn.
# :::


# %% tags=["dlbook:conv"]
def max_pool2d(x, kernel_size, stride=None, padding=0):
    """The maximum of each window, channel by channel: (N, C, Ho, Wo)."""
    stride = kernel_size if stride is None else stride
    check_pool(kernel_size, padding)
    *_, (ho, wo) = conv_args(x, kernel_size, stride, padding)
    cols = im2col(x, kernel_size, stride=stride, padding=padding, pad_value=-math.inf)
    fields = cols.unflatten(1, (x.shape[1], -1))  # (N, C, kh*kw, Ho*Wo)
    return fields.amax(dim=2).unflatten(2, (ho, wo))  # -inf padding never wins


# %% [markdown]
# Average pooling sums the same columns instead. Its denominator is either
# the window size or, with `count_include_pad=False`, the number of real
# pixels, which `im2col` counts for us when we give it an all-ones image.


# %% tags=["dlbook:conv"]
def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True):
    """The mean of each window, channel by channel: (N, C, Ho, Wo)."""
    stride = kernel_size if stride is None else stride
    check_pool(kernel_size, padding)
    *_, (ho, wo) = conv_args(x, kernel_size, stride, padding)
    pool = partial(im2col, kernel_size=kernel_size, stride=stride, padding=padding)
    total = pool(x).unflatten(1, (x.shape[1], -1)).sum(2)  # (N, C, Ho*Wo)
    window = pool(x.new_ones(1, 1, *x.shape[2:]))  # (1, kh*kw, Ho*Wo): 1 = real pixel
    count = window.shape[1] if count_include_pad else window.sum(1)  # (1, Ho*Wo)
    return (total / count).unflatten(2, (ho, wo))


# %% [markdown]
# Average pooling is even closer to convolution: it *is* a depthwise
# convolution whose fixed weights are all $1/F^2$. We check both poolings
# against PyTorch, with and without counting the padding, and average
# pooling against that convolution, written with our own `conv2d` and
# `groups` equal to the number of channels. An empty batch goes through
# all of them, as through PyTorch's.

# %%
feat = torch.randn(2, 4, 12, 10, generator=g, dtype=torch.float64)
for k, s, p in [(2, 2, 0), (3, 2, 1), (3, 1, 1)]:
    box = torch.full((4, 1, k, k), 1 / k**2, dtype=torch.float64)  # one per channel
    avg_as_conv = conv2d(feat, box, stride=s, padding=p, groups=4)
    d_max = (max_pool2d(feat, k, s, p) - F.max_pool2d(feat, k, s, p)).abs().max()
    d_avg = (avg_pool2d(feat, k, s, p) - F.avg_pool2d(feat, k, s, p)).abs().max()
    ref_real = F.avg_pool2d(feat, k, s, p, count_include_pad=False)
    d_real = (avg_pool2d(feat, k, s, p, count_include_pad=False) - ref_real).abs().max()
    d_conv = (avg_as_conv - F.avg_pool2d(feat, k, s, p)).abs().max()
    print(
        f"kernel {k}, stride {s}, padding {p}: out {tuple(avg_as_conv.shape[2:])}; "
        f"|max - torch| {d_max:.0e}, |avg - torch| {max(d_avg, d_real):.0e}, "
        f"|avg - fixed-weight conv| {d_conv:.0e}"
    )
    assert max(d_max, d_avg, d_real, d_conv) < 1e-12

# %% tags=["hide-cell"]
empty = feat[:0]  # (0, 4, 12, 10)
pairs = [(conv2d, F.conv2d), (max_pool2d, F.max_pool2d), (avg_pool2d, F.avg_pool2d)]
for ours, ref in pairs:
    arg = torch.ones(2, 4, 3, 3, dtype=torch.float64) if ours is conv2d else 3
    assert ours(empty, arg).shape == ref(empty, arg).shape, "as in PyTorch"

# %% [markdown]
# All three agree to machine precision. (PyTorch's average pooling counts
# the zero padding in the denominator by default, exactly like the fixed
# convolution does; `count_include_pad=False` would divide by the number of
# real pixels instead.)
#
# ### Adaptive and global pooling
#
# A classifier ends with a fully connected layer that expects a fixed number
# of inputs, so a plain CNN only accepts images of one size. **Adaptive
# pooling** fixes the *output* size instead of the window: for output
# $m \times m$, output row $i$ pools input rows
# $\lfloor iH/m \rfloor$ to $\lceil (i+1)H/m \rceil - 1$, so the windows
# stretch with the input. **Global average pooling** is the case $m = 1$:
# one mean per channel {cite}`lin2014network`. A network that ends with it
# accepts any input size.

# %%
adaptive = nn.AdaptiveAvgPool2d((3, 3))
for hw in [(8, 8), (6, 6), (13, 7)]:
    z = torch.randn(1, 2, *hw, generator=g, dtype=torch.float64)
    windows = [
        [(math.floor(i * n / 3), math.ceil((i + 1) * n / 3)) for i in range(3)]
        for n in hw
    ]
    rw, cw = windows
    means = [[z[..., r0:r1, c0:c1].mean((-2, -1)) for c0, c1 in cw] for r0, r1 in rw]
    by_formula = torch.stack([torch.stack(r, -1) for r in means], -2)  # (1, 2, 3, 3)
    print(
        f"input {hw} -> {tuple(adaptive(z).shape[2:])}; row windows {windows[0]}; "
        f"|formula - torch| = {(by_formula - adaptive(z)).abs().max():.0e}"
    )
    assert torch.allclose(by_formula, adaptive(z))

# %% [markdown]
# Inputs of three different sizes all give a $3 \times 3$ output, and the
# window formula reproduces `nn.AdaptiveAvgPool2d`. Here is a small network
# that ends with global average pooling applied to images of several sizes.

# %%
gap_net = nn.Sequential(
    nn.Conv2d(1, 8, 3, padding=1),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Conv2d(8, 10, 3, padding=1),
    nn.AdaptiveAvgPool2d(1),
    nn.Flatten(),
)  # (N, 10)
for hw in [(28, 28), (40, 40), (57, 33)]:
    print(f"input {hw} -> logits {tuple(gap_net(torch.randn(4, 1, *hw)).shape)}")

# %% tags=["remove-cell"]
z = torch.randn(3, 5, 7, 9, generator=g, dtype=torch.float64)
assert all(
    gap_net(torch.randn(2, 1, *hw)).shape == (2, 10)
    for hw in [(28, 28), (40, 40), (57, 33), (9, 9)]
)
assert torch.allclose(nn.AdaptiveAvgPool2d(1)(z).flatten(1), z.mean((2, 3))), (
    "global average pooling is a mean"
)

# %% [markdown]
# ## Equivariance and invariance
#
# A map $f$ is **equivariant** to a transformation $T$ if transforming the
# input transforms the output in the same way, $f(Tx) = T f(x)$, and
# **invariant** if the output does not change, $f(Tx) = f(x)$. Because the
# same weights are applied at every position, a convolution is equivariant
# to translations: shift the image and the feature map shifts with it
# {cite}`goodfellow2016deep`. Only "up to the border", though: pixels that
# enter or leave the image, and the zero padding, break the symmetry there.
# We shift the camera image (downscaled to $128 \times 128$) by a few pixels
# and compare a small random two-layer convolutional network applied before
# and after the shift.

# %%
img = F.avg_pool2d(camera, 4)  # (1, 1, 128, 128)
torch.manual_seed(1)
features = nn.Sequential(
    nn.Conv2d(1, 8, 5, padding=2), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()
)


def shift(t, dy, dx):  # wraps around: only the border region is wrong
    return torch.roll(t, shifts=(dy, dx), dims=(-2, -1))


# %% [markdown]
# We shift by 5 rows and 3 columns and compare the two orders, over the
# whole map and away from the border.

# %%
dy, dx = 5, 3
with torch.no_grad():
    a, b = features(shift(img, dy, dx)), shift(features(img), dy, dx)
m = 3 + 8  # the receptive field's half-width (2 + 1) plus the shift, with room to spare
err_all = (a - b).abs().max().item()
err_inner = (a - b)[..., m:-m, m:-m].abs().max().item()
print(
    f"max |f(shift x) - shift f(x)|: whole map {err_all:.3f}, "
    f"interior (margin {m}) {err_inner:.1e}"
)

# %% tags=["remove-cell"]
assert err_inner < 1e-5, (
    "convolution must be translation equivariant away from the border"
)
assert err_all > 1e-2, (
    "at the border the wrap-around and the padding break equivariance"
)

# %% [markdown]
# Inside the image the two agree to rounding error; the whole-map difference
# comes from the border strip only. Equivariance is what a detector wants:
# a feature is found wherever it is. A *classifier* wants invariance: a
# shifted shoe is still a shoe. Pooling buys some of it. We compare the
# relative change of the feature maps, $\|f(Tx) - f(x)\| / \|f(x)\|$, for
# shifts of 0 to 6 pixels, before pooling, after $2 \times 2$ and
# $4 \times 4$ max pooling, and after global average pooling.

# %%
stages = {
    "conv features": lambda t: t,
    "max pool 2x2": lambda t: F.max_pool2d(t, 2),
    "max pool 4x4": lambda t: F.max_pool2d(t, 4),
    "global avg pool": lambda t: t.mean((-2, -1)),
}

# %% [markdown]
# For each shift we pass the original and the shifted image through the
# network and each stage, and compare the two outputs.

# %%
shifts = list(range(7))
rel_change = {name: [] for name in stages}
with torch.no_grad():
    f0 = features(img)
    for s in shifts:
        fs = features(shift(img, s, s))
        for name, pool in stages.items():
            p0, p1 = pool(f0), pool(fs)
            rel_change[name].append(((p1 - p0).norm() / p0.norm()).item())
for name, vals in rel_change.items():
    print(f"{name:>16}: " + " ".join(f"{v:.3f}" for v in vals))

# %% tags=["remove-cell"]
rc = rel_change
assert (
    rc["max pool 2x2"][1] < rc["conv features"][1]
    and rc["max pool 4x4"][1] < rc["max pool 2x2"][1]
)
assert rc["global avg pool"][1] < 0.1 * rc["conv features"][1], (
    "global pooling is nearly shift invariant"
)
assert all(v > 0.05 for v in rc["max pool 2x2"][2:]), (
    "local pooling is far from exactly invariant"
)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Relative change of the output when the image is shifted diagonally, before pooling, after local max pooling and after global average pooling.", "name": "fig-convolutions-shift"}, "image": {"alt": "Four curves against the shift in pixels: the raw features change most, 2x2 and 4x4 max pooling somewhat less, global average pooling almost not at all."}}
fig, ax = plot.subplots(width=7, height=3.4)
plot.curves(
    ax,
    rel_change,
    x=shifts,
    xlabel="shift (pixels, diagonal)",
    ylabel="relative change of output",
)
plot.show(fig)

# %% [markdown]
# The feature maps themselves ({numref}`fig-convolutions-shift`) change a lot with a one-pixel shift (they are
# equivariant, not invariant). Max pooling lowers the change for small
# shifts, more so with larger windows, but it does not remove it: the
# invariance is approximate, and real networks are surprisingly sensitive to
# small shifts {cite}`zhang2019making`. Global average pooling is invariant
# except for what enters and leaves at the border.
#
# ### Not equivariant to rotation or scale
#
# Weight sharing says nothing about other transformations. Rotating the
# image by 90° and filtering is the same as filtering and rotating only if
# the kernel is itself unchanged by the rotation; scaling the image by 1/2
# commutes with filtering only if the filter has no preferred scale. We
# measure the relative error $\|f(Tx) - Tf(x)\| / \|Tf(x)\|$ for three fixed
# kernels and for our random network, as before away from the border.


# %%
def rel_err(f, t, x):
    """Relative violation of f(t(x)) = t(f(x)), 10% away from each border."""
    with torch.no_grad():
        a, b = f(t(x)), t(f(x))
    m = a.shape[-1] // 10
    a, b = a[..., m:-m, m:-m], b[..., m:-m, m:-m]
    return ((a - b).norm() / b.norm()).item()


def rot90(t):
    return torch.rot90(t, 1, dims=(-2, -1))


def half(t):
    return F.avg_pool2d(t, 2)  # downscale by 2


def filt(k):
    return lambda t: F.conv2d(t, k[None, None], padding=k.shape[-1] // 2)


# %% [markdown]
# Each of the four maps meets each of the three transformations: a shift by
# four pixels in both directions as a control, a quarter turn and a halving.

# %%
tests = {
    "Gaussian": filt(gaussian_kernel(5, 1.0)),
    "Laplacian": filt(laplace),
    "Sobel x": filt(sobel_x),
    "random CNN": features,
}
transforms = {"shift": lambda t: shift(t, 4, 4), "rotate 90": rot90, "scale 1/2": half}
equi = {
    name: {T: rel_err(f, t, img) for T, t in transforms.items()}
    for name, f in tests.items()
}
for name, errs in equi.items():
    print(f"{name:>10}: " + ", ".join(f"{T} {e:.3f}" for T, e in errs.items()))

# %% tags=["remove-cell"]
assert equi["Gaussian"]["rotate 90"] < 1e-5 and equi["Laplacian"]["rotate 90"] < 1e-5, (
    "symmetric kernels"
)
assert equi["Sobel x"]["rotate 90"] > 1.0, (
    "Sobel x turns into a (negated) Sobel y under rotation"
)
assert all(e["shift"] < 1e-5 for e in equi.values()), (
    "away from the border, shifts commute with convolution"
)
assert equi["random CNN"]["rotate 90"] > 0.1 and equi["random CNN"]["scale 1/2"] > 0.1
assert equi["Laplacian"]["scale 1/2"] > 0.3 and equi["Sobel x"]["scale 1/2"] > 0.3

# %% [markdown]
# The shift errors vanish, as they must. The Gaussian
# and the Laplacian kernels are symmetric under a 90° rotation, so rotating
# commutes with them exactly; Sobel x becomes a Sobel y, and the random
# network's features change substantially. Scaling fails for every filter:
# the Laplacian of the half-size image measures curvature over twice the
# distance. The blur fails least, because blurring and then downscaling
# both mostly remove fine detail that the other would remove anyway. Convolutional networks therefore learn rotated and rescaled
# versions of their features from data — usually helped by data augmentation —
# unless the architecture builds in more symmetry, as group-equivariant
# networks do {cite}`cohen2016group`.
#
# ## Learning a filter
#
# So far the filters were designed by hand. Could we find one from examples
# instead? Suppose we have an input image $I$ and the output $T$ of some
# unknown $3 \times 3$ filter $K^\ast$. We look for the kernel that
# reproduces it, by minimizing the squared error
#
# $$
# E(K) = \frac{1}{|\Omega|} \sum_{(i,j) \in \Omega} \big( (I \star K)_{ij} - T_{ij} \big)^2
# $$ (eq-learn-filter)
#
# over the nine entries of $K$ by gradient descent, with $\Omega$ the valid
# output positions. The hidden filter here is an asymmetric "emboss" kernel;
# the input is the downscaled photograph.

# %%
k_true = torch.tensor([[-2.0, -1.0, 0.0], [-1.0, 1.0, 1.0], [0.0, 1.0, 2.0]])  # emboss
x_in = (img - img.mean()) / img.std()  # (1, 1, 128, 128), standardized
target = F.conv2d(x_in, k_true[None, None])  # (1, 1, 126, 126): valid positions only

# %% [markdown]
# We start from a kernel of zeros and run gradient descent with momentum on
# its nine entries.

# %%
k = torch.zeros(1, 1, 3, 3, requires_grad=True)
opt = torch.optim.SGD([k], lr=0.2, momentum=0.9)
filter_losses = []
for _ in range(cfg.filter_steps):
    loss = F.mse_loss(conv2d(x_in, k), target)  # the error E(K), with our own conv2d
    opt.zero_grad()
    loss.backward()
    opt.step()
    filter_losses.append(loss.item())
k_err = (k[0, 0] - k_true).abs().max()
print(
    f"loss {filter_losses[0]:.3f} -> {filter_losses[-1]:.2e}; "
    f"max |K - K*| = {k_err:.1e}"
)
print(k.detach()[0, 0].numpy().round(3))

# %% tags=["remove-cell"]
assert (k[0, 0] - k_true).abs().max() < 1e-2, (
    "gradient descent must recover the hidden kernel"
)
assert filter_losses[-1] < 1e-4 * filter_losses[0]

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Learning a hidden 3x3 filter: the loss per step, the input, the target, and the learned kernel beside the hidden one.", "name": "fig-convolutions-learned-filter"}, "image": {"alt": "A falling loss curve on a log scale, the input and target images, and two matching 3x3 colour grids."}}
fig, axes = plot.subplots(1, 4, width=7, height=2.2)
axes[0].plot(filter_losses)
axes[0].set_yscale("log")
axes[0].set_xlabel("gradient step")
axes[0].set_ylabel("mean squared error")
axes[1].imshow(x_in[0, 0].numpy(), cmap="gray")
axes[1].set_title("input I")
axes[2].imshow(target[0, 0].numpy(), cmap="gray")
axes[2].set_title("target T")
pair = torch.cat(
    [k.detach()[0, 0], torch.full((3, 1), float("nan")), k_true], 1
)  # (3, 7)
axes[3].imshow(pair.numpy(), cmap="RdBu_r", vmin=-2.2, vmax=2.2)
axes[3].set_title("learned K | hidden K*")
for ax in axes[1:]:
    ax.set_axis_off()
plot.show(fig)

# %% [markdown]
# The loss ({numref}`fig-convolutions-learned-filter`) falls by many orders of magnitude and the nine learned numbers
# match the hidden kernel. The problem is a linear least-squares problem in
# nine unknowns, so it has a single minimum that gradient descent finds. A
# fully connected layer mapping the $128 \times 128$ input to the
# $126 \times 126$ output would have over 250 million weights to learn the
# same map, and could not even represent the fact that it is the same at
# every position. A CNN learns many such filters at once, and in its deeper
# layers filters of filters, with the targets replaced by a loss on the
# final output.
#
# ## Locality, stationarity and compositionality
#
# Why do convolutional networks work so well on images? Their architecture
# assumes that the useful patterns are local (small kernels), can appear
# anywhere (shared weights, pooling), and combine into larger patterns
# (stacked layers). A direct test: destroy locality while keeping every
# pixel. We draw *one* random permutation of the 784 pixel positions and
# apply it to every image, training and test alike. No information is lost —
# the permutation could be undone — but neighbouring pixels are now
# scattered across the image.

# %%
train_set, test_set = data.load_fashion_mnist("train"), data.load_fashion_mnist("test")
sub = data.subset(train_set, cfg.n_train)
x_train, y_train = data.to_float(sub.x).to(device), sub.y.to(device)  # (N, 1, 28, 28)
test_sub = data.subset(test_set, cfg.n_test)
x_test, y_test = data.to_float(test_sub.x).to(device), test_sub.y.to(device)
perm = torch.randperm(28 * 28, generator=torch.Generator().manual_seed(3)).to(device)


def permute_pixels(x):  # (N, 1, 28, 28) -> the same pixels in the fixed scrambled order
    return x.flatten(1)[:, perm].view_as(x)


print(f"train {tuple(x_train.shape)}, test {tuple(x_test.shape)}")

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Eight Fashion-MNIST training images (top) and the same images with their pixels scrambled by one fixed permutation (bottom).", "name": "fig-convolutions-scrambled"}, "image": {"alt": "Two rows of eight small images: clothing items on top, the same items as unrecognizable noise below."}}
fig, axes = plot.subplots(2, 1, width=7, height=2.6)
plot.image_grid(
    axes[0],
    x_train[:8].cpu(),
    labels=[train_set.classes[c] for c in y_train[:8].tolist()],
)
plot.image_grid(axes[1], permute_pixels(x_train[:8]).cpu())
plot.show(fig)

# %% [markdown]
# To us the scrambled images ({numref}`fig-convolutions-scrambled`, bottom) are noise. The two networks are a
# multilayer perceptron with two hidden layers and a small CNN with two
# convolution–pooling stages and a linear classifier. We train each on the
# original and on the scrambled images with the same seed, batches and
# optimizer. For the MLP we go one step further: its permuted copy starts
# from the *same function*, with the columns of its first weight matrix
# permuted like the pixels. Then the two runs are the same computation with
# the terms of the first matrix product summed in another order.

# %%
from dlbook.train import evaluate, fit


def make_mlp():
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 256),
        nn.ReLU(),
        nn.Linear(256, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


# %% [markdown]
# Each convolution–pooling stage of the CNN halves the height and width of
# its maps, as the shape comments show.


# %%
def make_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # (N, 8, 14, 14)
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # (N, 16, 7, 7)
        nn.Flatten(),
        nn.Linear(16 * 7 * 7, 10),
    )


makers = [("MLP", make_mlp), ("CNN", make_cnn)]
print({name: sum(p.numel() for p in make().parameters()) for name, make in makers})

# %% [markdown]
# The CNN has a small fraction of the MLP's parameters. We train all four
# combinations with Adam.


# %%
def train_and_test(make, scrambled: bool) -> float:
    torch.manual_seed(0)
    model = make()
    if scrambled and make is make_mlp:  # the same function of the scrambled input
        model[1].weight.data = model[1].weight.data[:, perm.cpu()]
    model = model.to(device)
    tr = permute_pixels(x_train) if scrambled else x_train
    te = permute_pixels(x_test) if scrambled else x_test
    batches = data.Batches(tr, y_train, batch_size=128, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    fit(model, batches, epochs=cfg.epochs, optimizer=opt, progress=False)
    return evaluate(model, data.Batches(te, y_test, batch_size=2000, shuffle=False))[1]


# %% [markdown]
# Each of the four runs prints how long it trained.

# %%
accs = {}
for arch, make in [("MLP", make_mlp), ("CNN", make_cnn)]:
    for scrambled in (False, True):
        t0 = time.perf_counter()
        accs[arch, scrambled] = train_and_test(make, scrambled)
        kind = "scrambled" if scrambled else "original"
        print(f"trained {arch} on {kind} pixels in {time.perf_counter() - t0:.1f} s")

# %% [markdown]
# The four test accuracies:

# %%
print(f"{'':>5} {'original':>9} {'scrambled':>10} {'drop':>7}")
for arch in ("MLP", "CNN"):
    a0, a1 = accs[arch, False], accs[arch, True]
    print(f"{arch:>5} {a0:>9.4f} {a1:>10.4f} {a0 - a1:>7.4f}")
for (arch, scrambled), acc in accs.items():
    dlbook.report(
        f"{arch} test accuracy, {'scrambled' if scrambled else 'original'} pixels",
        acc,
        fmt=".4f",
    )
drop_mlp = accs["MLP", False] - accs["MLP", True]
drop_cnn = accs["CNN", False] - accs["CNN", True]

# %% tags=["remove-cell"]
assert all(a > 0.5 for a in accs.values()), (
    "every network must learn well above chance (0.1)"
)
assert abs(drop_mlp) < 0.01, "the MLP must not care about the order of its inputs"
assert drop_cnn > drop_mlp, "scrambling must hurt the CNN more than the MLP"
if cfg.profile != "smoke":
    assert accs["CNN", False] > accs["MLP", False], (
        "with enough training the CNN must beat the MLP on real images"
    )
    assert drop_cnn > drop_mlp + 0.015, (
        "scrambling must cost the CNN clearly more than the MLP"
    )
    assert accs["CNN", True] < accs["MLP", True], (
        "on scrambled pixels the CNN must lose its edge"
    )

# %% [markdown]
# The MLP's accuracy is the same on both versions, or within a few tenths
# of a percent: the two runs differ only by the rounding of a differently
# ordered sum, which many training steps can amplify a little. For a fully
# connected layer the order of the inputs is an arbitrary labelling. On the
# real images the CNN beats the MLP with a small fraction of its parameters
# once it has trained enough (checked in the `cpu` and `gpu` profiles; the
# short `smoke` run may not get there). On the scrambled images it loses
# more accuracy than the MLP (checked in every profile) and, with enough
# training, falls behind the MLP: its small kernels now look
# at groups of unrelated pixels, and pooling merges values that have nothing
# to do with each other. The CNN's strength is not capacity; it is the right
# prior — locality, stationarity and compositionality — for data that have
# them. For data
# without such structure (a table of unrelated measurements), a convolution
# has nothing to exploit.
#
# ## Summary
#
# - A convolutional layer is a fully connected layer restricted to local
#   receptive fields (locality) with the same weights at every position
#   (weight sharing); it has $F^2 C_\text{in} C_\text{out} + C_\text{out}$
#   parameters, independent of the image size {eq}`eq-param-counts`.
# - Deep-learning "convolution" is cross-correlation {eq}`eq-conv-1d`; the
#   layer sums over input channels and has one filter per output channel
#   {eq}`eq-conv-layer`. Padding, stride and dilation set the output size
#   {eq}`eq-out-size`; a $1 \times 1$ convolution is a per-pixel linear layer.
# - im2col turns a convolution into one matrix product {eq}`eq-im2col`; it
#   matches `F.conv2d` and is orders of magnitude faster than loops.
# - Fixed filters blur, sharpen and detect edges; learned filters can be found
#   by gradient descent.
# - Max and average pooling (a fixed depthwise convolution) downsample and
#   give approximate invariance to small shifts; adaptive and global pooling
#   let a network accept any input size.
# - Convolution is equivariant to translations (up to the border), not to
#   rotations or scaling. Scrambling the pixels costs an MLP nothing and a
#   CNN its advantage: the advantage is the prior.
#
# ## Exercises
#
# **Exercise 1 (strided convolution as subsampling).** Show that a
# convolution with stride $S$ equals the stride-1 convolution followed by
# keeping every $S$-th row and column, `y[..., ::S, ::S]`. Verify it with
# `conv2d` for strides 2 and 3 and padding 1. Why is the strided
# version preferred in practice?

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Answer: output (i, j) of the strided convolution uses the receptive field at
# (iS, jS), exactly like output (iS, jS) of the stride-1 convolution. The strided
# version computes only those outputs, S^2 times fewer, instead of computing all
# and throwing most away.
xe = torch.randn(2, 3, 17, 15, dtype=torch.float64)
we = torch.randn(4, 3, 3, 3, dtype=torch.float64)
for s in (2, 3):
    strided, dense = conv2d(xe, we, stride=s, padding=1), conv2d(xe, we, padding=1)
    gap = (strided - dense[..., ::s, ::s]).abs().max()
    print(f"stride {s}: {tuple(strided.shape)}, max difference {gap:.1e}")
    assert gap < 1e-12

# %% [markdown]
# **Exercise 2 (receptive field).** A stack of $L$ convolutions of size
# $3 \times 3$ with stride 1 sees a $(2L+1) \times (2L+1)$ patch of the
# input. Verify this with autograd: put a stack of $L = 1, 2, 3$ layers
# (random weights, no nonlinearity) on a $15 \times 15$ input, backpropagate
# from the centre output pixel and count the input pixels with a non-zero
# gradient. Compare the parameter count of three $3 \times 3$ layers with
# that of one $7 \times 7$ layer (both with $C$ channels in and out).

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Answer: the field grows by 2 per layer. Three small layers cover the same 7x7
# field as one large one with about half the parameters (27 C^2 vs 49 C^2) and
# two more nonlinearities in between: the design principle of the VGG networks
# of the next chapter.
torch.manual_seed(0)
for L in (1, 2, 3):
    stack = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1) for _ in range(L)])
    xr = torch.zeros(1, 1, 15, 15, requires_grad=True)
    stack(xr)[0, 0, 7, 7].backward()
    rows, cols_ = (xr.grad[0, 0] != 0).nonzero().unbind(1)
    size = (rows.max() - rows.min() + 1, cols_.max() - cols_.min() + 1)
    print(f"L = {L}: receptive field {size[0]}x{size[1]}")
    assert size == (2 * L + 1, 2 * L + 1)
c_ = 64
p3, p7 = 3 * (9 * c_ * c_ + c_), 49 * c_ * c_ + c_
print(f"C = {c_}: three 3x3 layers {p3:,} parameters, one 7x7 layer {p7:,}")
assert p3 < 0.6 * p7

# %% [markdown]
# **Exercise 3 (a learned blur, with noise).** Repeat the filter-learning
# experiment with the $5 \times 5$ Gaussian kernel as the hidden filter and
# Gaussian noise of standard deviation 0.1 added to the target. Learn a
# $5 \times 5$ kernel. How close does it get, and why can it not be exact?

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Answer: the loss levels off at the noise variance (0.01), which no filter can
# explain, and the kernel is off by a small amount: least squares with noisy
# targets estimates the kernel with an error that shrinks as the number of
# pixels grows.
torch.manual_seed(0)
k_gauss = gaussian_kernel(5, 1.0)
target_noisy = F.conv2d(x_in, k_gauss[None, None]) + 0.1 * torch.randn(1, 1, 124, 124)
k5 = torch.zeros(1, 1, 5, 5, requires_grad=True)
opt5 = torch.optim.SGD([k5], lr=0.02, momentum=0.9)  # 25 weights: a smaller rate
for _ in range(cfg.filter_steps):
    loss5 = F.mse_loss(conv2d(x_in, k5), target_noisy)
    opt5.zero_grad()
    loss5.backward()
    opt5.step()
err5 = (k5[0, 0] - k_gauss).abs().max().item()
print(f"final loss {loss5.item():.4f} (noise variance 0.01); max |K - K*| = {err5:.3f}")
assert err5 < 0.05 and abs(loss5.item() - 0.01) < 0.002

# %% [markdown]
# **Exercise 4 (the PyTorch tutorial's CNN: activations and optimizers).**
# The PyTorch tutorial on CIFAR-10 trains a small CNN: two $5 \times 5$
# convolutions with 6 and 16 filters, each followed by ReLU and $2 \times 2$
# max pooling, then linear layers of 120, 84 and 10 units. Train it with
# ReLU and with tanh units, each with SGD (momentum 0.9) and with Adam, for
# the same number of steps, and compare the test accuracies. How does tanh
# change learning, and why? Use CIFAR-10 where it is installed; otherwise
# `data.load_with_fallback` stands in 32x32 RGB Fashion-MNIST and says so.


# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Answer: tanh saturates for large pre-activations (its derivative 1 - tanh^2
# falls to zero), so its gradients shrink where ReLU's stay 1, and deeper
# layers see bounded inputs. On a net this shallow with standardized inputs the
# difference is modest and can go either way for a given budget; at a fixed
# number of steps the optimizer matters more. The run prints which was better.
def tutorial_cnn(act=nn.ReLU):
    return nn.Sequential(
        nn.Conv2d(3, 6, 5), act(), nn.MaxPool2d(2),  # (N, 6, 14, 14)
        nn.Conv2d(6, 16, 5), act(), nn.MaxPool2d(2),  # (N, 16, 5, 5)
        nn.Flatten(), nn.Linear(16 * 5 * 5, 120), act(),
        nn.Linear(120, 84), act(), nn.Linear(84, 10),
    )  # fmt: skip


cif_tr = data.subset(data.load_with_fallback("CIFAR-10", "train"), cfg.n_ex)
cif_te = data.subset(data.load_with_fallback("CIFAR-10", "test"), cfg.n_test)
xe_tr, ye_tr = data.to_float(cif_tr.x).to(device), cif_tr.y.to(device)
xe_te, ye_te = data.to_float(cif_te.x).to(device), cif_te.y.to(device)
mu, sd = xe_tr.mean((0, 2, 3), keepdim=True), xe_tr.std((0, 2, 3), keepdim=True)
xe_tr, xe_te = (xe_tr - mu) / sd, (xe_te - mu) / sd  # standardized per channel
optimizers = {
    "SGD": lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9),
    "Adam": lambda ps: torch.optim.Adam(ps, lr=1e-3),
}


# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Solution, continued: the four runs (run_ex trains the MLP of Exercise 5 too).
def run_ex(model, opt_fn):
    model, batches = model.to(device), data.Batches(xe_tr, ye_tr, batch_size=32, seed=0)
    fit(model, batches, epochs=cfg.ex_epochs, optimizer=opt_fn(model.parameters()),
        progress=False)  # fmt: skip
    test = data.Batches(xe_te, ye_te, batch_size=2000, shuffle=False)
    return evaluate(model, test)[1]


ex4 = {}
for act in (nn.ReLU, nn.Tanh):
    for opt_name, opt_fn in optimizers.items():
        torch.manual_seed(0)
        ex4[act.__name__, opt_name] = run_ex(tutorial_cnn(act), opt_fn)
print(f"data: {cif_tr.name}, {len(xe_tr)} training images, {cfg.ex_epochs} epochs")
for (act_name, opt_name), acc in ex4.items():
    print(f"{act_name:>5} + {opt_name:<4}: test accuracy {acc:.3f}")
for act_name in ("ReLU", "Tanh"):
    best = max(optimizers, key=lambda o: ex4[act_name, o])
    print(
        f"with {act_name}, {best} is better by "
        f"{abs(ex4[act_name, 'SGD'] - ex4[act_name, 'Adam']):.3f}"
    )
assert all(a > 0.25 for a in ex4.values()), "every run must learn (chance is 0.1)"

# %% [markdown]
# **Exercise 5 (an MLP with the same number of parameters).** Try to beat
# the CNN of Exercise 4 with a multilayer perceptron of about the same
# number of parameters. Report the result and explain it.

# %% tags=["hide-cell"] mystnb={"code_prompt_hide": "Hide solution", "code_prompt_show": "Solution"}
# Answer: with one hidden layer of 20 units the MLP has about the CNN's 62,006
# parameters, but almost all of them sit in its first layer (3,072 x 20), which
# must squeeze the whole image into 20 numbers; the CNN spends few parameters on
# shared local filters and keeps the spatial layout. Trained long enough, the CNN
# wins (asserted in the gpu profile, with all 50,000 images and 10 epochs); in
# a short run, such as the smoke profile's, the MLP, which fits faster, can
# still be ahead (the printed accuracies show which way this run went).
n_cnn = sum(p.numel() for p in tutorial_cnn().parameters())
hidden = round((n_cnn - 10) / (3 * 32 * 32 + 1 + 10))  # (3072 + 1) h + (h + 1) 10
mlp_ex = nn.Sequential(
    nn.Flatten(), nn.Linear(3072, hidden), nn.ReLU(), nn.Linear(hidden, 10)
)
n_mlp = sum(p.numel() for p in mlp_ex.parameters())
torch.manual_seed(0)
acc_mlp_ex = run_ex(mlp_ex, optimizers["Adam"])
acc_cnn_ex = ex4["ReLU", "Adam"]
print(f"CNN {n_cnn:,} parameters: {acc_cnn_ex:.3f}; MLP (hidden {hidden}) {n_mlp:,}: "
      f"{acc_mlp_ex:.3f}")  # fmt: skip
assert abs(n_mlp - n_cnn) < 0.02 * n_cnn, "the two must have about as many parameters"
if cfg.profile == "gpu":
    assert acc_cnn_ex > acc_mlp_ex, "at equal size the CNN must beat the MLP"


# %% [markdown]
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
