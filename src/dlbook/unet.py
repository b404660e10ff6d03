"""A small U-Net noise model with time and class embeddings (chapter 14).

Ronneberger et al.'s U-Net, as diffusion models use it: residual blocks with
group normalization, the embedding of the time step (and of the class label)
added to every block, a down path that halves the resolution, an up path that
doubles it and concatenates the down path's features at the same resolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dlbook import check
from dlbook.diffusion import check_even, timestep_embedding
from dlbook.engine import add_to_class


class ResBlock(nn.Module):
    """Two GroupNorm-SiLU-conv stages, the embedding added in between, and a skip."""

    def __init__(self, c_in, c_out, emb_dim):
        super().__init__()
        for name, v in (("c_in", c_in), ("c_out", c_out), ("emb_dim", emb_dim)):
            check.positive(v, name, integer=True)
        self.norm1 = nn.GroupNorm(min(8, c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)  # one shift per channel
        self.norm2 = nn.GroupNorm(min(8, c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()


@add_to_class(ResBlock)
def forward(self, x, emb):  # x: (B, c_in, H, W), emb: (B, emb_dim)
    h = self.conv1(F.silu(self.norm1(x)))  # (B, c_out, H, W)
    h = h + self.emb(emb)[:, :, None, None]  # the same shift at every pixel
    h = self.conv2(F.silu(self.norm2(h)))
    return h + self.skip(x)  # (B, c_out, H, W)


class UNet(nn.Module):
    """U-Net ε-model: ``model(x_t, t, y) -> ε̂`` for images ``(B, C, H, W)``.

    Args:
        in_channels: image channels C.
        channels: feature channels per resolution, e.g. (32, 64, 64): three
            resolutions, so H and W must be divisible by 2**(len(channels) - 1).
        num_classes: number of classes for a conditional model (the embedding
            gets one extra row, index ``num_classes``, for "no class"); ``None``:
            unconditional.
        emb_dim: size of the time/class embedding.
        patch: fold each ``patch x patch`` block of pixels into channels first
            (``pixel_unshuffle``) and unfold at the end: the network then works
            at 1/patch of the resolution, patch² times cheaper (used on CPUs).
        block: the residual block class, called as ``block(c_in, c_out, emb_dim)``
            (chapter 14 passes the one it writes out).
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: tuple[int, ...] = (32, 64, 64),
        num_classes: int | None = None,
        emb_dim: int = 128,
        patch: int = 1,
        block: type[nn.Module] = ResBlock,
    ):
        super().__init__()
        check.positive(in_channels, "in_channels", integer=True)
        check.nonempty(channels, "channels")
        for c in channels:
            check_even(c, "each entry of channels")  # the time embedding's size
        if num_classes is not None:
            check.positive(num_classes, "num_classes", integer=True)
        check.positive(emb_dim, "emb_dim", integer=True)
        check.positive(patch, "patch", integer=True)
        if not callable(block):
            raise TypeError(f"block must be a module class, got {block!r}")
        self.channels, self.num_classes, self.patch = (
            tuple(channels),
            num_classes,
            patch,
        )
        in_channels = in_channels * patch * patch
        self.time_mlp = nn.Sequential(
            nn.Linear(channels[0], emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
        )
        self.class_emb = (
            nn.Embedding(num_classes + 1, emb_dim) if num_classes is not None else None
        )
        self.stem = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        c_prev = channels[0]
        for i, c in enumerate(channels):
            self.down.append(block(c_prev, c, emb_dim))
            if i < len(channels) - 1:  # H -> H/2
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
            c_prev = c
        self.mid = block(c_prev, c_prev, emb_dim)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i, c in enumerate(channels):
            self.up.append(block(c + c, c, emb_dim))  # the level below + the skip
            if i > 0:  # after a 2x nearest-neighbour upsampling
                self.upsample.append(nn.Conv2d(c, channels[i - 1], 3, padding=1))
        self.out = nn.Sequential(
            nn.GroupNorm(min(8, channels[0]), channels[0]),
            nn.SiLU(),
            nn.Conv2d(channels[0], in_channels, 3, padding=1),
        )
        nn.init.zeros_(self.out[-1].weight)  # start by predicting zero noise
        nn.init.zeros_(self.out[-1].bias)

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Noisy images ``(B, C, H, W)``, indices ``(B,)``, labels ``(B,)`` -> noise."""
        check.tensor(x, "x", floating=True)
        check.tensor(t, "t")
        factor = self.patch * 2 ** (len(self.channels) - 1)
        if x.ndim != 4 or x.shape[-1] % factor or x.shape[-2] % factor:
            raise ValueError(
                f"UNet expects (B, C, H, W) with H, W divisible by {factor}, "
                f"got {tuple(x.shape)}"
            )
        if t.shape != (len(x),):
            raise ValueError(f"t must have shape ({len(x)},), got {tuple(t.shape)}")
        if y is not None:
            check.tensor(y, "y", integer=True)
            check.shape(y, "y", (len(x),))
        emb = self.time_mlp(timestep_embedding(t, self.channels[0]))  # (B, emb_dim)
        if self.class_emb is not None:
            if y is None:  # unconditional: the "no class" row
                y = torch.full_like(t, self.num_classes, dtype=torch.long)
            emb = emb + self.class_emb(y)
        h = self.stem(F.pixel_unshuffle(x, self.patch))  # (B, c_0, H/patch, W/patch)
        skips = []
        for i, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)  # (B, c_i, H / 2^i, W / 2^i)
            if i < len(self.downsample):
                h = self.downsample[i](h)
        h = self.mid(h, emb)
        for i in reversed(range(len(self.up))):
            h = self.up[i](torch.cat([h, skips[i]], 1), emb)
            if i > 0:
                h = F.interpolate(h, scale_factor=2.0, mode="nearest")
                h = self.upsample[i - 1](h)
        return F.pixel_shuffle(self.out(h), self.patch)  # (B, C, H, W)
