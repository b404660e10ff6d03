"""Deep convolutional GANs for 28x28 grey images, plain and class-conditional.

Chapter 13 writes the coin-toss and 2-D GANs out in full; the image models
live here. They follow the guidelines of Radford et al. (2016): strided
(transposed) convolutions instead of pooling, batch normalization in both
networks except at the generator's output and the discriminator's input,
ReLU in the generator with a tanh output, LeakyReLU(0.2) in the
discriminator, weights drawn from N(0, 0.02) and Adam with beta1 = 0.5.
Images are (B, 1, 28, 28) in [-1, 1]; :func:`generate` returns them in
[0, 1], the range the book's classifier (:mod:`dlbook.frechet`) reads.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from dlbook.setup import native_bf16

IMAGE_SHAPE = (1, 28, 28)


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN initialization, for ``model.apply``: convolutions N(0, 0.02), batch-norm scales N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def _check_width(z_dim: int, width: int) -> None:
    if not isinstance(z_dim, int) or z_dim < 1:
        raise ValueError(f"z_dim must be a positive int, got {z_dim!r}")
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive int, got {width!r}")


class Generator(nn.Module):
    """DCGAN generator: noise ``(B, z_dim)`` -> images ``(B, 1, 28, 28)`` in [-1, 1].

    A 7x7 transposed convolution turns the noise (seen as a 1x1 image) into
    ``2 * width`` maps of 7x7; two stride-2 transposed convolutions double
    the resolution to 14x14 and 28x28.

    Args:
        z_dim: length of the noise vector.
        width: channels of the 14x14 layer (the 7x7 layer has twice as many).
    """

    def __init__(self, z_dim: int = 64, width: int = 64):
        super().__init__()
        _check_width(z_dim, width)
        self.z_dim, self.width = z_dim, width
        w = width
        self.net = nn.Sequential(
            nn.ConvTranspose2d(
                self.in_features, 2 * w, 7, 1, 0, bias=False
            ),  # (B, 2w, 7, 7)
            nn.BatchNorm2d(2 * w),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False),  # (B, w, 14, 14)
            nn.BatchNorm2d(w),
            nn.ReLU(),
            nn.ConvTranspose2d(w, 1, 4, 2, 1),  # (B, 1, 28, 28)
            nn.Tanh(),
        )
        self.apply(init_dcgan_weights)

    @property
    def in_features(self) -> int:
        """Length of the vector the first layer reads (the noise, plus a label code in subclasses)."""
        return self.z_dim

    def _check_z(self, z: torch.Tensor) -> None:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(
                f"z must have shape (B, {self.z_dim}), got {tuple(z.shape)}"
            )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Noise ``(B, z_dim)`` -> images ``(B, 1, 28, 28)``."""
        self._check_z(z)
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    """DCGAN discriminator: images ``(B, 1, 28, 28)`` in [-1, 1] -> logits ``(B,)`` (real > 0).

    Two stride-2 convolutions (28 -> 14 -> 7) with LeakyReLU(0.2), batch
    normalization on the second; a 7x7 convolution reads the 7x7 maps and
    outputs one logit.

    Args:
        width: channels of the 14x14 layer (the 7x7 layer has twice as many).
    """

    def __init__(self, width: int = 64):
        super().__init__()
        _check_width(1, width)
        self.width = width
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(1, w, 4, 2, 1),
            nn.LeakyReLU(0.2),  # (B, w, 14, 14); no batch norm on the input layer
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False),  # (B, 2w, 7, 7)
            nn.BatchNorm2d(2 * w),
            nn.LeakyReLU(0.2),
        )
        self.out = nn.Conv2d(2 * w, 1, 7, 1, 0)  # (B, 1, 1, 1)
        self.apply(init_dcgan_weights)

    def _check_x(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE:
            raise ValueError(
                f"images must have shape (B, 1, 28, 28), got {tuple(x.shape)}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, 1, 28, 28)`` -> logits ``(B,)``."""
        self._check_x(x)
        return self.out(self.features(x)).flatten()


def _check_labels(y: torch.Tensor, batch: int, num_classes: int) -> None:
    if y.shape != (batch,) or y.dtype != torch.long:
        raise ValueError(
            f"labels must be int64 of shape ({batch},), got {y.dtype} {tuple(y.shape)}"
        )
    # The range check reads the labels on the host: on a GPU that would stall every forward pass.
    if (
        batch
        and y.device.type == "cpu"
        and (int(y.min()) < 0 or int(y.max()) >= num_classes)
    ):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")


class ConditionalGenerator(Generator):
    """Class-conditional DCGAN generator (Mirza & Osindero, 2014): the label's embedding is appended to the noise.

    Args:
        num_classes: number of classes.
        z_dim, width: as in :class:`Generator`.
        embed_dim: length of the learned label code.
    """

    def __init__(
        self,
        num_classes: int = 10,
        z_dim: int = 64,
        width: int = 64,
        embed_dim: int = 16,
    ):
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        self.num_classes, self.embed_dim = num_classes, embed_dim
        super().__init__(z_dim, width)
        self.embed = nn.Embedding(num_classes, embed_dim)
        nn.init.normal_(self.embed.weight, 0.0, 1.0)  # a code on the scale of the noise

    @property
    def in_features(self) -> int:
        return self.z_dim + self.embed_dim

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Noise ``(B, z_dim)`` and labels ``(B,)`` -> images ``(B, 1, 28, 28)``."""
        self._check_z(z)
        _check_labels(y, len(z), self.num_classes)
        h = torch.cat([z, self.embed(y)], 1)  # (B, z_dim + embed_dim)
        return self.net(h[:, :, None, None])


class ConditionalDiscriminator(Discriminator):
    """Class-conditional DCGAN discriminator with a projection head (Miyato & Koyama, 2018).

    The logit is ``w . phi(x) + e_y . pool(phi(x)) + b``: the plain
    discriminator's linear read-out of the 7x7 feature maps ``phi(x)`` plus the
    inner product of the label's embedding ``e_y`` with the maps summed over
    space. The network can thus call an image fake because it shows the wrong
    class.

    Args:
        num_classes: number of classes.
        width: as in :class:`Discriminator`.
    """

    def __init__(self, num_classes: int = 10, width: int = 64):
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        super().__init__(width)
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, 2 * width)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Images ``(B, 1, 28, 28)`` and labels ``(B,)`` -> logits ``(B,)``."""
        self._check_x(x)
        _check_labels(y, len(x), self.num_classes)
        h = self.features(x)  # (B, 2w, 7, 7)
        return self.out(h).flatten() + (self.embed(y) * h.sum((2, 3))).sum(
            1
        )  # read-out + projection


def _autocast(device: torch.device, amp: bool) -> contextlib.AbstractContextManager:
    if amp and native_bf16(
        device
    ):  # as dlbook.train.fit: emulated bfloat16 (a T4) is slower than float32
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_step(
    generator: Generator,
    discriminator: Discriminator,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    x_real: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    amp: bool = False,
) -> dict[str, torch.Tensor]:
    """One alternating GAN update with the non-saturating loss: first D, then G.

    The discriminator minimizes ``-log D(x) - log(1 - D(G(z)))``; the generator
    minimizes ``-log D(G(z))`` on a fresh batch of noise. Conditional models
    get the labels ``y``; the fakes use the same labels as the real batch.

    Args:
        generator, discriminator: both conditional or both plain.
        opt_g, opt_d: their optimizers.
        x_real: real images ``(B, 1, 28, 28)`` in [-1, 1].
        y: labels ``(B,)`` for conditional models, else ``None``.
        amp: bfloat16 autocast (used only on a CUDA GPU with native bfloat16, see :func:`dlbook.setup.native_bf16`).

    Returns:
        Detached scalars: ``d_loss``, ``g_loss``, ``d_real`` and ``d_fake`` (the
        discriminator's mean probability of "real" on each half of its batch).
    """
    conditional = isinstance(generator, ConditionalGenerator)
    if conditional != isinstance(discriminator, ConditionalDiscriminator):
        raise ValueError(
            "use a ConditionalGenerator with a ConditionalDiscriminator, or two plain models"
        )
    if conditional and y is None:
        raise ValueError("conditional models need the labels y of the real batch")
    if not conditional and y is not None:
        raise ValueError(
            "plain models take no labels; pass y=None or use the conditional models"
        )
    b, device = len(x_real), x_real.device
    cond = (y,) if conditional else ()
    generator.train()
    discriminator.train()
    with _autocast(device, amp):
        fake = generator(torch.randn(b, generator.z_dim, device=device), *cond)
        logits_real = discriminator(x_real, *cond).float()
        logits_fake = discriminator(fake.detach(), *cond).float()
        d_loss = F.binary_cross_entropy_with_logits(
            logits_real, torch.ones_like(logits_real)
        ) + F.binary_cross_entropy_with_logits(
            logits_fake, torch.zeros_like(logits_fake)
        )
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    with _autocast(device, amp):
        fake = generator(torch.randn(b, generator.z_dim, device=device), *cond)
        logits = discriminator(fake, *cond).float()
        g_loss = F.binary_cross_entropy_with_logits(
            logits, torch.ones_like(logits)
        )  # non-saturating
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_g.step()
    return {
        "d_loss": d_loss.detach(),
        "g_loss": g_loss.detach(),
        "d_real": torch.sigmoid(logits_real).mean().detach(),
        "d_fake": torch.sigmoid(logits_fake).mean().detach(),
    }


@torch.no_grad()
def generate(
    generator: Generator,
    n: int,
    *,
    labels: torch.Tensor | None = None,
    batch_size: int = 500,
    seed: int | None = None,
) -> torch.Tensor:
    """Draw ``n`` images from a trained generator, in eval mode, as float ``(n, 1, 28, 28)`` in [0, 1] on the CPU.

    Args:
        generator: a :class:`Generator` or :class:`ConditionalGenerator`.
        n: number of images.
        labels: ``(n,)`` int64 classes, required for a conditional generator.
        batch_size: images per forward pass.
        seed: seeds the noise (its own generator, the global one is untouched).
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    conditional = isinstance(generator, ConditionalGenerator)
    if conditional and (labels is None or labels.shape != (n,)):
        raise ValueError(f"a conditional generator needs labels of shape ({n},)")
    if not conditional and labels is not None:
        raise ValueError("a plain generator takes no labels")
    device = next(generator.parameters()).device
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    z = torch.randn(n, generator.z_dim, generator=g)
    generator.eval()
    out = []
    for i in range(0, n, batch_size):
        zb = z[i : i + batch_size].to(device)
        xb = (
            generator(zb, labels[i : i + batch_size].to(device))
            if conditional
            else generator(zb)
        )
        out.append(((xb.float() + 1) / 2).clamp(0, 1).cpu())
    return torch.cat(out)
