"""Data sets and a device-resident mini-batch iterator.

Image sets are found, in order, in ``$DLBOOK_DATA`` (default
``~/.cache/dlbook``), in system locations (Debian's ``dataset-fashion-mnist``
installs Fashion-MNIST under ``/usr/share/datasets/fashion-mnist``) and last
by a torchvision download when the network allows. Every file is checked
against a known checksum; a set that cannot be found raises
:class:`DatasetNotFoundError`, which names the places searched and how to get
the files. Nothing is downloaded or read at import time.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

DATA_ENV = "DLBOOK_DATA"
OFFLINE_ENV = "DLBOOK_OFFLINE"

FASHION_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

# SHA-256 of the *uncompressed* IDX files (the .gz wrappers differ between
# mirrors and Debian's package, the contents do not).
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte": (
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
    ),
    "train-labels-idx1-ubyte": (
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
    ),
    "t10k-images-idx3-ubyte": (
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
    ),
    "t10k-labels-idx1-ubyte": (
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
    ),
}
FASHION_SYSTEM_DIRS = ("/usr/share/datasets/fashion-mnist",)
FASHION_HOWTO = (
    "On Debian/Ubuntu run `sudo apt-get install dataset-fashion-mnist`; elsewhere "
    "download the four "
    "files from https://github.com/zalandoresearch/fashion-mnist (data/fashion) into "
    "$DLBOOK_DATA/fashion-mnist/, or run with network access so torchvision can fetch "
    "them."
)


class DatasetNotFoundError(FileNotFoundError):
    """A data set is in none of the places searched and could not be downloaded."""


class ChecksumError(RuntimeError):
    """A data file exists but its contents are not the published ones."""


def data_home() -> Path:
    """The directory of downloaded and cached data: ``$DLBOOK_DATA`` or
    ``~/.cache/dlbook``."""
    return Path(
        os.environ.get(DATA_ENV) or Path.home() / ".cache" / "dlbook"
    ).expanduser()


def _network_ok(host: str = "github.com", timeout: float = 3.0) -> bool:
    """True when a TCP connection to ``host`` opens quickly (downloads are worth
    trying)."""
    if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _read_maybe_gz(path: Path) -> bytes:
    with open(path, "rb") as f:
        head = f.read(2)
    opener = gzip.open if head == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        return f.read()


def _parse_idx(raw: bytes, path: Path) -> np.ndarray:
    """Parse the IDX format of (Fashion-)MNIST: a magic number, dims, then bytes."""
    if len(raw) < 8 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ChecksumError(
            f"{path} is not an unsigned-byte IDX file; delete it and fetch it again"
        )
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def read_idx(path: str | os.PathLike, sha256: str | None = None) -> np.ndarray:
    """Read an IDX file (optionally gzipped) and check its contents' SHA-256.

    Returns:
        A uint8 array, e.g. of shape (N, 28, 28) for images or (N,) for labels.

    Raises:
        ChecksumError: if the uncompressed bytes do not have the given SHA-256.
    """
    path = Path(path)
    raw = _read_maybe_gz(path)
    if sha256 is not None:
        got = hashlib.sha256(raw).hexdigest()
        if got != sha256:
            raise ChecksumError(
                f"{path} is corrupt or not the published file (SHA-256 {got[:12]}…, "
                "expected "
                f"{sha256[:12]}…). Delete it and get it again: {FASHION_HOWTO}"
            )
    return _parse_idx(raw, path)


def _find_idx(stem: str, dirs: list[Path]) -> Path | None:
    for d in dirs:
        for name in (stem, stem + ".gz"):
            if (d / name).is_file():
                return d / name
    return None


def _fashion_dirs() -> list[Path]:
    home = data_home()
    return [home / "fashion-mnist", home / "FashionMNIST" / "raw"] + [
        Path(p) for p in FASHION_SYSTEM_DIRS
    ]


def _download_fashion() -> None:
    from torchvision.datasets import FashionMNIST

    FashionMNIST(str(data_home()), train=True, download=True)
    FashionMNIST(str(data_home()), train=False, download=True)


@dataclass
class ImageSet:
    """Images and labels of one split.

    Attributes:
        x: uint8 images, shape (N, H, W) for grey or (N, H, W, 3) for colour.
        y: int64 labels, shape (N,).
        classes: the class names, indexed by label.
        name: the data set's name, as printed in figures and notices.
    """

    x: torch.Tensor
    y: torch.Tensor
    classes: tuple[str, ...]
    name: str

    def __len__(self) -> int:
        return len(self.y)


def load_fashion_mnist(
    split: str = "train", *, download: bool | None = None
) -> ImageSet:
    """Load Fashion-MNIST's training (60,000) or test (10,000) split.

    Args:
        split: ``"train"`` or ``"test"``.
        download: try a torchvision download when the files are nowhere local;
            ``None`` tries only when the network answers.

    Returns:
        An :class:`ImageSet` with ``x`` of shape (N, 28, 28), uint8.

    Raises:
        DatasetNotFoundError: naming every directory searched and how to get the files.
        ChecksumError: if a file found is corrupt.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    prefix = "train" if split == "train" else "t10k"
    stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    dirs = _fashion_dirs()
    paths = [_find_idx(s, dirs) for s in stems]
    if None in paths and (download or (download is None and _network_ok())):
        try:
            _download_fashion()
        except Exception as err:  # a failed download is reported with the search below
            print(f"torchvision could not download Fashion-MNIST: {err}")
        paths = [_find_idx(s, dirs) for s in stems]
    if None in paths:
        searched = "\n  ".join(str(d) for d in dirs)
        raise DatasetNotFoundError(
            f"Fashion-MNIST ({split}) was not found. Searched:\n  {searched}\n"
            f"and no download was possible. {FASHION_HOWTO}"
        )
    images = read_idx(paths[0], FASHION_MNIST_SHA256[stems[0]])
    labels = read_idx(paths[1], FASHION_MNIST_SHA256[stems[1]])
    if len(images) != len(labels):
        raise ChecksumError(
            f"{paths[0]} and {paths[1]} hold different numbers of examples"
        )
    return ImageSet(
        torch.from_numpy(images.copy()),
        torch.from_numpy(labels.astype(np.int64)),
        FASHION_CLASSES,
        "Fashion-MNIST",
    )


def _torchvision_set(cls_name: str, split: str, download: bool | None) -> ImageSet:
    """MNIST or CIFAR-10 through torchvision, which checks the files' MD5 sums."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    root = data_home()
    train = split == "train"
    try:
        ds = cls(str(root), train=train, download=False)
    except RuntimeError:
        if download or (download is None and _network_ok()):
            try:
                ds = cls(str(root), train=train, download=True)
            except Exception as err:
                raise DatasetNotFoundError(
                    f"{cls_name} is not in {root} and the download failed ({err}). "
                    f"Set ${DATA_ENV} to a directory holding torchvision's {cls_name} "
                    "files."
                ) from err
        else:
            raise DatasetNotFoundError(
                f"{cls_name} ({split}) is not in {root} and the network is "
                "unreachable.\n"
                f"Run once with network access, or copy torchvision's {cls_name} files "
                "there "
                f"(or point ${DATA_ENV} at a directory that has them)."
            ) from None
    x = torch.as_tensor(np.asarray(ds.data))
    y = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
    classes = tuple(getattr(ds, "classes", [str(i) for i in range(10)]))
    return ImageSet(x, y, classes, "MNIST" if cls_name == "MNIST" else "CIFAR-10")


def load_mnist(split: str = "train", *, download: bool | None = None) -> ImageSet:
    """Load MNIST (x: (N, 28, 28) uint8) from torchvision's layout under
    ``$DLBOOK_DATA``."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return _torchvision_set("MNIST", split, download)


def load_cifar10(split: str = "train", *, download: bool | None = None) -> ImageSet:
    """Load CIFAR-10 (x: (N, 32, 32, 3) uint8) from torchvision's layout under
    ``$DLBOOK_DATA``."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return _torchvision_set("CIFAR10", split, download)


def _fashion_as(target: str, split: str) -> ImageSet:
    fm = load_fashion_mnist(split)
    if target == "CIFAR-10":
        x = torch.nn.functional.interpolate(
            fm.x[:, None].float(), size=(32, 32), mode="bilinear", align_corners=False
        )
        x = (
            x.round()
            .clamp(0, 255)
            .to(torch.uint8)[:, 0, :, :, None]
            .expand(-1, -1, -1, 3)
            .contiguous()
        )
        return ImageSet(
            x, fm.y, fm.classes, "Fashion-MNIST (32x32 RGB, standing in for CIFAR-10)"
        )
    return ImageSet(fm.x, fm.y, fm.classes, "Fashion-MNIST (standing in for MNIST)")


_FALLBACK_NOTICED: set[str] = set()


def load_with_fallback(
    name: str, split: str = "train", *, download: bool | None = None
) -> ImageSet:
    """Load ``"CIFAR-10"`` or ``"MNIST"``, or say plainly that Fashion-MNIST stands in.

    The fallback keeps the shapes: for CIFAR-10 the 28x28 images are resized to
    32x32 and repeated over three channels. The returned set's ``name`` says
    which data it really is, and one notice per data set is printed (the first
    split that falls back; the others stay quiet). The notice names no path of
    the machine that ran it: the error says where the files were looked for.
    """
    loaders: dict[str, Callable[..., ImageSet]] = {
        "CIFAR-10": load_cifar10,
        "MNIST": load_mnist,
    }
    if name not in loaders:
        raise ValueError(f"name must be one of {sorted(loaders)}, got {name!r}")
    try:
        return loaders[name](split, download=download)
    except DatasetNotFoundError:
        if name not in _FALLBACK_NOTICED:
            _FALLBACK_NOTICED.add(name)
            stand_in = "32x32 RGB " if name == "CIFAR-10" else ""
            print(
                f"NOTICE: {name} is not available here, so {stand_in}Fashion-MNIST "
                f"stands in; every result below is for Fashion-MNIST, not {name}."
            )
        return _fashion_as(name, split)


def load_digits() -> ImageSet:
    """scikit-learn's 1,797 8x8 handwritten digits; ``x`` (N, 8, 8) uint8 in 0..16."""
    from sklearn.datasets import load_digits as _sk

    d = _sk()
    return ImageSet(
        torch.as_tensor(d.images, dtype=torch.uint8),
        torch.as_tensor(d.target, dtype=torch.int64),
        tuple(str(i) for i in range(10)),
        "scikit-learn digits",
    )


def load_mnist1d(
    num_samples: int = 5000, *, seed: int = 42, shuffle_seq: bool = False
) -> dict[str, torch.Tensor]:
    """Generate MNIST-1D locally (no network) with the ``mnist1d`` package.

    Args:
        num_samples: total examples (80% train, 20% test); 5,000 is the standard set.
        seed: the generator's seed; 42 reproduces the published set's recipe.
        shuffle_seq: apply one fixed permutation to the 40 positions (the control
            that removes spatial structure).

    Returns:
        ``{"x": (0.8N, 40) float32, "y": (0.8N,) int64, "x_test": ..., "y_test": ...}``.
    """
    if num_samples < 10:
        raise ValueError(
            f"num_samples must be at least 10 (one per class), got {num_samples}"
        )
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as err:
        raise ImportError(
            "MNIST-1D needs the `mnist1d` package: pip install mnist1d"
        ) from err
    args = get_dataset_args()
    args.num_samples, args.seed, args.shuffle_seq = (
        int(num_samples),
        int(seed),
        bool(shuffle_seq),
    )
    state = np.random.get_state()  # make_dataset reseeds NumPy's global generator
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(state)
    return {
        "x": torch.as_tensor(d["x"], dtype=torch.float32),
        "y": torch.as_tensor(d["y"], dtype=torch.int64),
        "x_test": torch.as_tensor(d["x_test"], dtype=torch.float32),
        "y_test": torch.as_tensor(d["y_test"], dtype=torch.int64),
    }


# --- text -----------------------------------------------------------------------

# The public-domain texts shipped inside the package (see dlbook/texts/README.md):
# name -> (file, SHA-256 of the uncompressed UTF-8 text).
TEXTS: dict[str, tuple[str, str]] = {
    "northanger_abbey": (
        "northanger_abbey.txt.gz",
        "51f91bbe0517db8e65cff009b097ce0a1836124c4e0532ac19e6c0cad982abed",
    ),
}


def load_text(name: str = "northanger_abbey") -> str:
    """A public-domain English text shipped with ``dlbook`` (no download).

    Args:
        name: one of ``TEXTS``; ``"northanger_abbey"`` is Jane Austen's novel
            (433,411 characters), the corpus of the character-level models.

    Returns:
        The whole text as one string (lines joined with ``"\\n"``).
    """
    if name not in TEXTS:
        raise ValueError(f"unknown text {name!r}; available: {sorted(TEXTS)}")
    file, sha = TEXTS[name]
    path = Path(__file__).with_name("texts") / file
    if not path.exists():
        raise DatasetNotFoundError(
            f"the text {name!r} is missing: looked for {path}. It ships with dlbook; "
            "reinstall the package (pip install --force-reinstall dlbook)."
        )
    raw = _read_maybe_gz(path)
    if hashlib.sha256(raw).hexdigest() != sha:
        raise ChecksumError(
            f"{path} is corrupt (SHA-256 mismatch); reinstall dlbook to get a clean "
            "copy."
        )
    return raw.decode("utf-8")


# --- 2-D toy sets ---------------------------------------------------------------


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def linearly_separable(
    n: int = 100,
    *,
    margin: float = 0.3,
    seed: int = 0,
    w_true: tuple[float, float, float] = (1.0, -1.0, 0.2),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points in [-2, 2]^2 labelled by a known line, with a gap of ``margin`` each side.

    The line is ``w1*x1 + w2*x2 + b = 0`` with ``(w1, w2, b) = w_true``; points
    closer than ``margin`` to it are rejected.

    Returns:
        ``x`` (n, 2) float32 and ``y`` (n,) int64 in {0, 1}.
    """
    if n < 2 or margin < 0:
        raise ValueError(f"need n >= 2 and margin >= 0, got n={n}, margin={margin}")
    g = _gen(seed)
    w = torch.tensor(w_true[:2])
    b = float(w_true[2])
    norm = float(w.norm())
    xs: list[torch.Tensor] = []
    count = 0
    while count < n:
        cand = torch.rand(4 * n, 2, generator=g) * 4 - 2
        dist = (cand @ w + b) / norm
        keep = cand[dist.abs() >= margin]
        xs.append(keep)
        count += len(keep)
    x = torch.cat(xs)[:n]
    y = ((x @ w + b) > 0).long()
    return x, y


def xor(
    n: int = 4, *, noise: float = 0.0, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The XOR problem: corners of the unit square, label = x1 XOR x2.

    With ``n > 4`` the corners repeat with Gaussian ``noise``.

    Returns:
        ``x`` (n, 2) float32 and ``y`` (n,) int64.
    """
    if n < 4:
        raise ValueError(f"XOR needs n >= 4 (all four corners), got {n}")
    corners = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    idx = torch.arange(n) % 4
    x = corners[idx] + noise * torch.randn(n, 2, generator=_gen(seed))
    y = (corners[idx, 0] != corners[idx, 1]).long()
    return x, y


def gaussian_classes(
    n: int,
    means: torch.Tensor,
    cov: torch.Tensor,
    *,
    priors: torch.Tensor | None = None,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples of Gaussian classes that share one covariance (the LDA model).

    Args:
        n: number of samples.
        means: (K, D) class means.
        cov: (D, D) shared covariance, symmetric positive definite.
        priors: (K,) class probabilities; uniform by default.

    Returns:
        ``x`` (n, D) float32 and ``y`` (n,) int64.
    """
    means = torch.as_tensor(means, dtype=torch.float32)
    cov = torch.as_tensor(cov, dtype=torch.float32)
    if means.ndim != 2 or cov.shape != (means.shape[1], means.shape[1]):
        raise ValueError(
            f"means must be (K, D) and cov (D, D); got {tuple(means.shape)} and "
            f"{tuple(cov.shape)}"
        )
    k = means.shape[0]
    priors = (
        torch.full((k,), 1.0 / k)
        if priors is None
        else torch.as_tensor(priors, dtype=torch.float32)
    )
    if (
        priors.shape != (k,)
        or (priors < 0).any()
        or abs(float(priors.sum()) - 1) > 1e-5
    ):
        raise ValueError("priors must be K non-negative numbers that sum to 1")
    g = _gen(seed)
    y = torch.multinomial(priors, n, replacement=True, generator=g)
    chol = torch.linalg.cholesky(cov)
    x = means[y] + torch.randn(n, means.shape[1], generator=g) @ chol.T
    return x, y


def two_moons(
    n: int = 200, *, noise: float = 0.1, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaving half circles. Returns ``x`` (n, 2) float32, ``y`` (n,) int64."""
    g = _gen(seed)
    y = torch.arange(n) % 2
    t = torch.rand(n, generator=g) * torch.pi
    x = torch.stack([torch.cos(t), torch.sin(t)], 1)
    x[y == 1] = torch.stack([1 - torch.cos(t[y == 1]), 0.5 - torch.sin(t[y == 1])], 1)
    return x + noise * torch.randn(n, 2, generator=g), y


def spirals(
    n: int = 300, *, classes: int = 3, noise: float = 0.2, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Interleaved spiral arms, one per class. Returns ``x`` (n, 2), ``y`` (n,)
    int64."""
    if classes < 2:
        raise ValueError(f"spirals need at least 2 classes, got {classes}")
    g = _gen(seed)
    y = torch.arange(n) % classes
    r = torch.rand(n, generator=g)
    theta = 4 * r + y * (2 * torch.pi / classes) + noise * torch.randn(n, generator=g)
    return torch.stack([r * torch.sin(theta), r * torch.cos(theta)], 1), y


# --- batching ---------------------------------------------------------------------


class Batches:
    """Mini-batches of tensors that stay on one device (no DataLoader, no workers).

    For data sets that fit in (GPU) memory this is much faster than a
    DataLoader: the whole set is moved once, and each epoch is a random
    permutation of indices drawn on the device.

    Args:
        *tensors: tensors with the same first dimension N, e.g. x (N, ...) and y (N,).
        batch_size: examples per batch.
        shuffle: draw a new order every epoch.
        drop_last: skip the last, smaller batch.
        device: where the tensors live; defaults to the first tensor's device.
        seed: seed of this iterator's own random generator (its order does
            not depend on, or disturb, the global one).
        transform: optional function applied to the first tensor of each batch
            (e.g. uint8 -> float scaling or augmentation).

    Iterating gives one epoch of tuples ``(x_batch, y_batch, ...)``.
    """

    def __init__(
        self,
        *tensors: torch.Tensor,
        batch_size: int,
        shuffle: bool = True,
        drop_last: bool = False,
        device: torch.device | str | None = None,
        seed: int = 0,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if not tensors:
            raise ValueError(
                "Batches needs at least one tensor, e.g. Batches(x, y, batch_size=64)"
            )
        sizes = {len(t) for t in tensors}
        if len(sizes) != 1:
            raise ValueError(
                "all tensors need the same first dimension; got "
                f"{[len(t) for t in tensors]}"
            )
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.device = torch.device(device) if device is not None else tensors[0].device
        self.tensors = tuple(t.to(self.device) for t in tensors)
        self.n = sizes.pop()
        self.batch_size, self.shuffle, self.drop_last, self.transform = (
            batch_size,
            shuffle,
            drop_last,
            transform,
        )
        self.generator = torch.Generator(
            device=self.device if self.device.type == "cuda" else "cpu"
        )
        self.generator.manual_seed(seed)

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        return full if (self.drop_last or rest == 0) else full + 1

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        if self.shuffle:
            order = torch.randperm(
                self.n, generator=self.generator, device=self.generator.device
            ).to(self.device)
        else:
            order = torch.arange(self.n, device=self.device)
        for i in range(len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            batch = tuple(t[idx] for t in self.tensors)
            if self.transform is not None:
                batch = (self.transform(batch[0]),) + batch[1:]
            yield batch

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The random generator's state, so a resumed run draws the same orders."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.generator.set_state(state["generator"])


def to_float(x: torch.Tensor, *, channel_dim: bool = True) -> torch.Tensor:
    """uint8 images (N, H, W[, C]) -> float32 in [0, 1], shape (N, C, H, W)."""
    if x.dtype != torch.uint8:
        raise ValueError(f"to_float expects uint8 images, got {x.dtype}")
    x = x.float() / 255.0
    if not channel_dim:
        return x
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[-1] in (1, 3):
        return x.permute(0, 3, 1, 2).contiguous()
    raise ValueError(
        f"expected images of shape (N, H, W) or (N, H, W, C), got {tuple(x.shape)}"
    )


def subset(
    ds: ImageSet, n: int | None, *, seed: int = 0, stratified: bool = True
) -> ImageSet:
    """The first ``n`` examples of a random (class-balanced) order; ``None`` keeps
    all."""
    if n is None or n >= len(ds):
        return ds
    if n < 1:
        raise ValueError(f"n must be positive or None, got {n}")
    g = _gen(seed)
    perm = torch.randperm(len(ds), generator=g)
    if stratified:
        # interleave classes so any prefix is close to balanced
        ranks = torch.empty_like(perm)
        ylab = ds.y[perm]
        for c in ylab.unique():
            pos = (ylab == c).nonzero().squeeze(1)
            ranks[pos] = torch.arange(len(pos))
        perm = perm[torch.argsort(ranks * (int(ylab.max()) + 1) + ylab, stable=True)]
    idx = perm[:n]
    return ImageSet(ds.x[idx], ds.y[idx], ds.classes, ds.name)
