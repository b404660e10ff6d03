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

import torch
import torch.nn.functional as F
from torch import nn

from dlbook import check
from dlbook.train import Precision

IMAGE_SHAPE = (1, 28, 28)


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN initialization, for ``model.apply``.

    Convolutions N(0, 0.02), batch-norm scales N(1, 0.02).
    """
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"init_dcgan_weights takes an nn.Module (use model.apply), got "
            f"{type(module).__name__}"
        )
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def _check_width(z_dim: int, width: int) -> None:
    check.positive(z_dim, "z_dim", integer=True)
    check.positive(width, "width", integer=True)


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
        """Length of the first layer's input (the noise, plus a label code later)."""
        return self.z_dim

    def _check_z(self, z: torch.Tensor) -> None:
        check.tensor(z, "z", floating=True)
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(
                f"z must have shape (B, {self.z_dim}), got {tuple(z.shape)}"
            )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Noise ``(B, z_dim)`` -> images ``(B, 1, 28, 28)``."""
        self._check_z(z)
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    """DCGAN discriminator: images ``(B, 1, 28, 28)`` in [-1, 1] -> logits ``(B,)``.

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
        check.tensor(x, "images", floating=True)
        if x.ndim != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE:
            raise ValueError(
                f"images must have shape (B, 1, 28, 28), got {tuple(x.shape)}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, 1, 28, 28)`` -> logits ``(B,)``."""
        self._check_x(x)
        return self.out(self.features(x)).flatten()


def _check_labels(y: torch.Tensor, batch: int, num_classes: int) -> None:
    check.tensor(y, "labels")
    if y.shape != (batch,) or y.dtype != torch.long:
        raise ValueError(
            f"labels must be int64 of shape ({batch},), got {y.dtype} {tuple(y.shape)}"
        )
    # The range check reads the labels on the host: on a GPU that would stall
    # every forward pass.
    if (
        batch
        and y.device.type == "cpu"
        and (int(y.min()) < 0 or int(y.max()) >= num_classes)
    ):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")


class ConditionalGenerator(Generator):
    """Class-conditional DCGAN generator (Mirza & Osindero, 2014).

    The label's embedding is appended to the noise.

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
        check.number(num_classes, "num_classes", low=2, integer=True)
        check.positive(embed_dim, "embed_dim", integer=True)
        self.num_classes, self.embed_dim = num_classes, embed_dim
        super().__init__(z_dim, width)
        self.embed = nn.Embedding(num_classes, embed_dim)
        nn.init.normal_(self.embed.weight, 0.0, 1.0)  # a code on the scale of the noise

    @property
    def in_features(self) -> int:
        return self.z_dim + self.embed_dim

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore
        """Noise ``(B, z_dim)`` and labels ``(B,)`` -> images ``(B, 1, 28, 28)``."""
        self._check_z(z)
        _check_labels(y, len(z), self.num_classes)
        h = torch.cat([z, self.embed(y)], 1)  # (B, z_dim + embed_dim)
        return self.net(h[:, :, None, None])


class ConditionalDiscriminator(Discriminator):
    """Class-conditional DCGAN discriminator, projection head (Miyato & Koyama, 2018).

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
        check.number(num_classes, "num_classes", low=2, integer=True)
        super().__init__(width)
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, 2 * width)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore
        """Images ``(B, 1, 28, 28)`` and labels ``(B,)`` -> logits ``(B,)``."""
        self._check_x(x)
        _check_labels(y, len(x), self.num_classes)
        h = self.features(x)  # (B, 2w, 7, 7)
        return self.out(h).flatten() + (self.embed(y) * h.sum((2, 3))).sum(
            1
        )  # read-out + projection


def check_players(
    generator: nn.Module,
    discriminator: nn.Module,
    x_real: torch.Tensor,
    y: torch.Tensor | None,
) -> tuple[torch.Tensor, ...]:
    """Check the arguments of :func:`train_step`; return ``(y,)`` or ``()``.

    The players must be two ``nn.Module`` with a ``z_dim`` on the generator, both
    conditional (then ``y`` holds the labels of the real batch) or both plain.
    """
    for name, m in (("generator", generator), ("discriminator", discriminator)):
        if not isinstance(m, nn.Module):
            raise TypeError(f"{name} must be an nn.Module, got {type(m).__name__}")
    z_dim = getattr(generator, "z_dim", None)
    if not isinstance(z_dim, int) or isinstance(z_dim, bool) or z_dim < 1:
        raise ValueError(
            "the generator needs an int attribute z_dim (the length of its noise), "
            f"got {z_dim!r}"
        )
    check.tensor(x_real, "x_real", floating=True)
    check.nonempty(x_real, "x_real")
    conditional = isinstance(generator, ConditionalGenerator)
    if conditional != isinstance(discriminator, ConditionalDiscriminator):
        raise ValueError(
            "use a ConditionalGenerator with a ConditionalDiscriminator, "
            "or two plain models"
        )
    if conditional and y is None:
        raise ValueError("conditional models need the labels y of the real batch")
    if not conditional and y is not None:
        raise ValueError(
            "plain models take no labels; pass y=None or use the conditional models"
        )
    return (y,) if conditional else ()


def discriminator_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z))) from the logits, D = sigmoid(logit); batch means."""
    check.tensor(real, "real", floating=True), check.tensor(fake, "fake", floating=True)
    # -log sigmoid(s) = softplus(-s) and -log(1 - sigmoid(s)) = softplus(s)
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def generator_loss(fake: torch.Tensor) -> torch.Tensor:
    """The non-saturating loss -log D(G(z)) from the logits on fakes; a batch mean."""
    check.tensor(fake, "fake", floating=True)
    return F.softplus(-fake).mean()


def discriminator_step(G, D, opt_d, x_real, cond=(), *, prec):
    """Update D on a real and a detached fake batch; returns its loss and logits."""
    z = torch.randn(len(x_real), G.z_dim, device=x_real.device)
    with prec.autocast():
        real = D(x_real, *cond).float()  # (B,) logits
        fake = D(G(z, *cond).detach(), *cond).float()  # (B,), G held fixed
        d_loss = discriminator_loss(real, fake)
    opt_d.zero_grad(set_to_none=True)
    prec.step(d_loss, opt_d, update=False)  # the loss scale is updated after G's step
    return d_loss, real, fake


def train_step(G, D, opt_g, opt_d, x_real, y=None, *, prec=None):
    """One alternating update, first D then G; returns the losses and mean D's."""
    cond = check_players(G, D, x_real, y)  # (y,) for conditional models, else ()
    prec = prec or Precision(x_real.device, enabled=False)  # plain float32
    G.train(), D.train()
    d_loss, real, fake = discriminator_step(G, D, opt_d, x_real, cond, prec=prec)
    z = torch.randn(len(x_real), G.z_dim, device=x_real.device)  # fresh noise
    with prec.autocast():  # the gradient flows through D into G
        g_loss = generator_loss(D(G(z, *cond), *cond).float())
    opt_g.zero_grad(set_to_none=True)
    prec.step(g_loss, opt_g)
    p_real, p_fake = real.sigmoid().mean(), fake.sigmoid().mean()
    out = dict(d_loss=d_loss, g_loss=g_loss, d_real=p_real, d_fake=p_fake)
    return {k: v.detach() for k, v in out.items()}  # (), no graph attached


@torch.no_grad()
def generate(
    generator: Generator,
    n: int,
    *,
    labels: torch.Tensor | None = None,
    batch_size: int = 500,
    seed: int | None = None,
) -> torch.Tensor:
    """Draw ``n`` images from a trained generator, in eval mode.

    Returns float ``(n, 1, 28, 28)`` in [0, 1] on the CPU.

    Args:
        generator: a :class:`Generator` or :class:`ConditionalGenerator`.
        n: number of images.
        labels: ``(n,)`` int64 classes, required for a conditional generator.
        batch_size: images per forward pass.
        seed: seeds the noise (its own generator, the global one is untouched).
    """
    if not isinstance(generator, Generator):
        raise TypeError(
            f"generator must be a dlbook.gan.Generator, got {type(generator).__name__}"
        )
    check.positive(n, "n", integer=True)
    check.positive(batch_size, "batch_size", integer=True)
    if seed is not None:
        check.number(seed, "seed", low=0, integer=True)
    conditional = isinstance(generator, ConditionalGenerator)
    if labels is not None:
        check.tensor(labels, "labels", integer=True)
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
