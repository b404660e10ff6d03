"""Judging generated images with the book's own classifier.

The Fréchet distance of Heusel et al. (2017) fits a Gaussian to features of
real and of generated images and measures how far apart the two Gaussians
are: by convention (FID) it is the *squared* 2-Wasserstein distance W₂² of
the two Gaussians. The usual features come from an ImageNet Inception network, which an
offline book cannot download; Part IV instead trains a small classifier on
the data itself (:class:`FeatureNet`), uses its penultimate layer as the
feature map, and its predictions to check that a class-conditional sample
shows the class it was asked for. Chapters 12 (autoencoders), 13 (GANs) and
14 (diffusion) all use this module.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dlbook import check
from dlbook.data import (
    Batches,
    ImageSet,
    data_home,
    load_fashion_mnist,
    subset,
    to_float,
)
from dlbook.train import evaluate, fit


def gaussian_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance of a set of feature vectors.

    Args:
        features: ``(N, D)`` with ``N >= 2``.

    Returns:
        ``mu`` ``(D,)`` and ``cov`` ``(D, D)`` (unbiased), both float64.
    """
    check.tensor(features, "features", floating=True)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(
            f"features must be (N, D) with N >= 2, got shape {tuple(features.shape)}"
        )
    f = features.detach().cpu().double()  # float64 on the CPU: MPS has none
    return f.mean(0), torch.cov(f.T).reshape(f.shape[1], f.shape[1])


def frechet_from_stats(
    mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor
) -> float:
    """The squared 2-Wasserstein distance W₂² between N(mu1, cov1) and N(mu2, cov2).

    ``|mu1 - mu2|² + tr(cov1 + cov2 - 2 (cov1^½ cov2 cov1^½)^½)``; the matrix
    square roots come from symmetric eigendecompositions, so the result is
    real and non-negative up to rounding.

    Args:
        mu1, mu2: ``(D,)`` means.
        cov1, cov2: ``(D, D)`` symmetric positive semi-definite covariances.
    """
    for name, t in (("mu1", mu1), ("mu2", mu2), ("cov1", cov1), ("cov2", cov2)):
        check.tensor(t, name, floating=True)
    d = mu1.shape[0] if mu1.ndim == 1 else -1
    for name, t, shape in (
        ("mu1", mu1, (d,)),
        ("mu2", mu2, (d,)),
        ("cov1", cov1, (d, d)),
        ("cov2", cov2, (d, d)),
    ):
        if tuple(t.shape) != shape:
            raise ValueError(f"{name} has shape {tuple(t.shape)}, expected {shape}")
    mu1, mu2, cov1, cov2 = (t.cpu().double() for t in (mu1, mu2, cov1, cov2))
    vals, vecs = torch.linalg.eigh(cov1)
    root1 = vecs @ torch.diag(vals.clamp(min=0).sqrt()) @ vecs.T
    middle = root1 @ cov2 @ root1
    cross = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    value = (mu1 - mu2).pow(2).sum() + cov1.trace() + cov2.trace() - 2 * cross
    return float(value.clamp(min=0))


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Fréchet distance W₂² of Gaussians fitted to features ``(N, D)`` and ``(M, D)``.

    Like FID it is the *squared* 2-Wasserstein distance of the two Gaussians;
    its estimate from N samples is biased upwards (by about tr(cov)/N-terms),
    so compare values computed from the same numbers of images.
    """
    check.tensor(features_a, "features_a", ndim=2, floating=True)
    check.tensor(features_b, "features_b", ndim=2, floating=True)
    if features_a.shape[1] != features_b.shape[1]:
        raise ValueError(
            f"feature sets must be (N, D) and (M, D) with the same D, "
            f"got {tuple(features_a.shape)} and {tuple(features_b.shape)}"
        )
    return frechet_from_stats(*gaussian_stats(features_a), *gaussian_stats(features_b))


class FeatureNet(nn.Module):
    """A small CNN classifier whose penultimate layer is the feature map.

    Works for any image size of at least 8x8 (adaptive pooling to 2x2 at the
    end). Inputs are images in [0, 1], ``(B, C, H, W)``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        width: int = 32,
        feature_dim: int = 128,
    ):
        super().__init__()
        for name, v in (
            ("in_channels", in_channels),
            ("num_classes", num_classes),
            ("width", width),
            ("feature_dim", feature_dim),
        ):
            check.positive(v, name, integer=True)
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, padding=1),
            nn.BatchNorm2d(w),
            nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, padding=1),
            nn.BatchNorm2d(2 * w),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 4 * w, 3, padding=1),
            nn.BatchNorm2d(4 * w),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * w, feature_dim),
            nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` in [0, 1] -> features ``(B, feature_dim)``."""
        check.tensor(x, "x", floating=True)
        if x.ndim != 4:
            raise ValueError(
                f"FeatureNet expects images (B, C, H, W), got shape {tuple(x.shape)}"
            )
        return self.body(x * 2 - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> logits ``(B, num_classes)``."""
        return self.head(self.features(x))


def _check_model_images(model: nn.Module, images: torch.Tensor, batch_size: int):
    if not isinstance(model, FeatureNet):
        raise TypeError(f"model must be a FeatureNet, got {type(model).__name__}")
    check.tensor(images, "images", ndim=4, floating=True)
    check.positive(batch_size, "batch_size", integer=True)


@torch.no_grad()
def embed(
    model: FeatureNet, images: torch.Tensor, *, batch_size: int = 500
) -> torch.Tensor:
    """Features ``(N, D)``, on the CPU, of images ``(N, C, H, W)``, in batches."""
    _check_model_images(model, images, batch_size)
    model.eval()
    device = next(model.parameters()).device
    return torch.cat(
        [
            model.features(images[i : i + batch_size].to(device)).float().cpu()
            for i in range(0, len(images), batch_size)
        ]
    )


@torch.no_grad()
def predict(
    model: FeatureNet, images: torch.Tensor, *, batch_size: int = 500
) -> torch.Tensor:
    """Predicted classes ``(N,)`` of images ``(N, C, H, W)`` in [0, 1]."""
    _check_model_images(model, images, batch_size)
    model.eval()
    device = next(model.parameters()).device
    return torch.cat(
        [
            model(images[i : i + batch_size].to(device)).argmax(1).cpu()
            for i in range(0, len(images), batch_size)
        ]
    )


def _fingerprint(*parts: object, tensors: tuple[torch.Tensor, ...] = ()) -> str:
    h = hashlib.sha256(repr(parts).encode())
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    epochs: int = 2,
    batch_size: int = 64,
    lr: float = 5e-3,
    width: int = 16,
    device: torch.device | str = "cpu",
    seed: int = 0,
    cache: bool = True,
    progress: bool = True,
) -> FeatureNet:
    """Train (or load from the cache) the feature classifier on real images.

    The weights are cached under ``$DLBOOK_DATA/classifiers/`` keyed by a hash
    of the data and the settings, so chapters 12-14 train it once per machine.

    Args:
        images: ``(N, C, H, W)`` float in [0, 1].
        labels: ``(N,)`` int64 class indices.
        epochs, batch_size, lr, width: training settings (Adam, one-cycle schedule).
        device: where to train.
        seed: seeds the initialization and the batch order.
        cache: read and write the weight cache.

    Returns:
        The trained :class:`FeatureNet` in eval mode on ``device``.
    """
    check.tensor(images, "images", ndim=4, floating=True)
    check.tensor(labels, "labels", integer=True)
    check.nonempty(images, "images")
    for name, v in (("epochs", epochs), ("batch_size", batch_size), ("width", width)):
        check.positive(v, name, integer=True)
    check.positive(lr, "lr")
    if labels.shape != (len(images),):
        raise ValueError(
            f"labels must be (N,) = ({len(images)},), got {tuple(labels.shape)}"
        )
    if images.min() < 0 or images.max() > 1:
        raise ValueError(
            "images must lie in [0, 1]; rescale them first, "
            "e.g. (x + 1) / 2 for [-1, 1]"
        )
    num_classes = int(labels.max()) + 1
    device = torch.device(device)
    key = _fingerprint(
        "FeatureNet-v1",
        tuple(images.shape),
        num_classes,
        epochs,
        batch_size,
        lr,
        width,
        seed,
        torch.__version__,
        tensors=(images, labels),
    )
    path = Path(data_home()) / "classifiers" / f"featurenet-{key}.pt"
    torch.manual_seed(seed)
    model = FeatureNet(images.shape[1], num_classes, width).to(device)
    if cache and path.exists():
        model.load_state_dict(torch.load(path, map_location=device, weights_only=True))
        return model.eval()
    batches = Batches(
        images, labels, batch_size=batch_size, shuffle=True, device=device, seed=seed
    )
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=max(1, epochs * len(batches))
    )
    fit(
        model,
        batches,
        epochs=epochs,
        optimizer=opt,
        scheduler=sched,
        loss_fn=F.cross_entropy,
        progress=progress,
        desc="feature classifier",
    )
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save(model.state_dict(), tmp)
        os.replace(
            tmp, path
        )  # atomic: a chapter running at once never sees half a file
    return model.eval()


def classifier_accuracy(
    model: FeatureNet, images: torch.Tensor, labels: torch.Tensor
) -> float:
    """Accuracy of the classifier on images ``(N, C, H, W)`` and labels ``(N,)``."""
    _check_model_images(model, images, 500)
    check.tensor(labels, "labels", integer=True)
    check.shape(labels, "labels", (len(images),))
    device = next(model.parameters()).device
    _, accuracy = evaluate(
        model, Batches(images, labels, batch_size=500, shuffle=False, device=device)
    )
    return float(accuracy)


def fashion_classifier(
    n_train: int | None,
    *,
    epochs: int,
    device: torch.device | str = "cpu",
    n_test: int | None = None,
    progress: bool = True,
    train: ImageSet | None = None,
    test: ImageSet | None = None,
) -> tuple[FeatureNet, float]:
    """The Part IV judge: a :class:`FeatureNet` trained on Fashion-MNIST.

    Chapters 12-14 call this with the same arguments per profile, so the
    weights are trained once and then read from the cache.

    Args:
        n_train: training images (a class-balanced subset; ``None``: all 60,000).
        epochs: passes over them.
        device: where to train and evaluate.
        n_test: test images used for the reported accuracy (``None``: all 10,000).
        train, test: the full Fashion-MNIST sets when the chapter has loaded them
            already (``None``: load them here).

    Returns:
        The model (eval mode, on ``device``) and its test accuracy.
    """
    if n_train is not None:
        check.positive(n_train, "n_train", integer=True)
    if n_test is not None:
        check.positive(n_test, "n_test", integer=True)
    check.positive(epochs, "epochs", integer=True)
    for name, v in (("train", train), ("test", test)):
        if v is not None and not isinstance(v, ImageSet):
            raise TypeError(f"{name} must be a dlbook.data.ImageSet or None, got {v!r}")
    train = subset(train if train is not None else load_fashion_mnist("train"), n_train)
    test = subset(test if test is not None else load_fashion_mnist("test"), n_test)
    model = train_classifier(
        to_float(train.x), train.y, epochs=epochs, device=device, progress=progress
    )
    return model, classifier_accuracy(model, to_float(test.x), test.y)
