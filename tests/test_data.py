import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from dlbook import data
from dlbook.data import Batches, ChecksumError, DatasetNotFoundError


def _idx_bytes(arr: np.ndarray) -> bytes:
    head = bytes([0, 0, 0x08, arr.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in arr.shape
    )
    return head + arr.astype(np.uint8).tobytes()


@pytest.fixture
def fake_fashion(tmp_path, monkeypatch):
    """A tiny Fashion-MNIST in $DLBOOK_DATA/fashion-mnist with matching checksums."""
    rng = np.random.default_rng(0)
    home = tmp_path / "home"
    d = home / "fashion-mnist"
    d.mkdir(parents=True)
    sums = {}
    for prefix, n in (("train", 12), ("t10k", 5)):
        for kind, arr in (
            ("images-idx3", rng.integers(0, 256, (n, 28, 28))),
            ("labels-idx1", rng.integers(0, 10, n)),
        ):
            raw = _idx_bytes(arr)
            stem = f"{prefix}-{kind}-ubyte"
            (d / (stem + ".gz")).write_bytes(gzip.compress(raw))
            sums[stem] = hashlib.sha256(raw).hexdigest()
    monkeypatch.setenv("DLBOOK_DATA", str(home))
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")
    monkeypatch.setattr(data, "FASHION_MNIST_SHA256", sums)
    monkeypatch.setattr(data, "FASHION_SYSTEM_DIRS", (str(tmp_path / "nowhere"),))
    return d


def test_fashion_loads_from_data_home(fake_fashion):
    tr, te = data.load_fashion_mnist("train"), data.load_fashion_mnist("test")
    assert tr.x.shape == (12, 28, 28) and tr.x.dtype == torch.uint8
    assert te.y.shape == (5,) and te.y.dtype == torch.int64
    assert tr.classes[9] == "Ankle boot"


def test_uncompressed_files_are_found_too(fake_fashion):
    for gz in fake_fashion.glob("*.gz"):
        Path(str(gz)[:-3]).write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    assert len(data.load_fashion_mnist("test")) == 5


def test_corrupt_file_fails_its_checksum(fake_fashion):
    p = fake_fashion / "t10k-images-idx3-ubyte.gz"
    raw = bytearray(gzip.decompress(p.read_bytes()))
    raw[100] ^= 0xFF
    p.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(ChecksumError, match="corrupt.*SHA-256"):
        data.load_fashion_mnist("test")


def test_missing_set_names_every_place_searched(tmp_path, monkeypatch):
    monkeypatch.setenv("DLBOOK_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("DLBOOK_OFFLINE", "1")
    monkeypatch.setattr(data, "FASHION_SYSTEM_DIRS", ("/no/such/dir",))
    with pytest.raises(DatasetNotFoundError) as err:
        data.load_fashion_mnist("train")
    msg = str(err.value)
    assert str(tmp_path / "empty" / "fashion-mnist") in msg and "/no/such/dir" in msg
    assert "apt-get install dataset-fashion-mnist" in msg


def test_bad_split_is_rejected():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        data.load_fashion_mnist("validation")


def test_fallback_says_so_once_and_keeps_cifar_shapes(
    fake_fashion, capsys, monkeypatch
):
    monkeypatch.setattr(data, "_FALLBACK_NOTICED", set())
    ds = data.load_with_fallback("CIFAR-10", "test")
    assert ds.x.shape == (5, 32, 32, 3) and ds.x.dtype == torch.uint8
    assert "Fashion-MNIST" in ds.name
    data.load_with_fallback("CIFAR-10", "train")  # a second split: no second notice
    out = capsys.readouterr().out
    assert out.count("NOTICE") == 1 and "not CIFAR-10" in out, out
    assert len(out.strip().splitlines()) == 1, out
    assert str(data.data_home()) not in out and "/" not in out.replace("32x32", ""), (
        "the notice must not print the build machine's paths"
    )
    with pytest.raises(ValueError):
        data.load_with_fallback("ImageNet")


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz").exists(),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_real_fashion_mnist_checksums(monkeypatch, tmp_path):
    monkeypatch.setenv("DLBOOK_DATA", str(tmp_path))
    te = data.load_fashion_mnist("test")
    assert te.x.shape == (10_000, 28, 28)
    assert torch.bincount(te.y).tolist() == [1000] * 10


def test_digits_and_mnist1d_shapes():
    d = data.load_digits()
    assert d.x.shape == (1797, 8, 8) and int(d.x.max()) == 16
    m = data.load_mnist1d(200, seed=1)
    assert m["x"].shape == (160, 40) and m["x_test"].shape == (40, 40)
    state = np.random.get_state()[1].copy()
    data.load_mnist1d(100)
    assert np.array_equal(state, np.random.get_state()[1]), (
        "load_mnist1d must not disturb NumPy's global RNG"
    )
    with pytest.raises(ValueError):
        data.load_mnist1d(5)


def test_toy_sets():
    x, y = data.linearly_separable(200, margin=0.2, seed=3)
    w, b = torch.tensor([1.0, -1.0]), 0.2
    dist = (x @ w + b) / w.norm()
    assert dist.abs().min() >= 0.2 and torch.equal(y, (dist > 0).long())
    x, y = data.xor()
    assert y.tolist() == [0, 1, 1, 0]
    x, y = data.gaussian_classes(
        5000, torch.tensor([[0.0, 0], [2, 2]]), torch.eye(2) * 0.5, seed=0
    )
    assert abs(float(x[y == 1].mean(0).sub(2).abs().max())) < 0.1
    with pytest.raises(ValueError, match=r"\(K, D\)"):
        data.gaussian_classes(10, torch.zeros(2), torch.eye(2))
    assert data.two_moons(50)[0].shape == (50, 2)
    assert set(data.spirals(90, classes=3)[1].tolist()) == {0, 1, 2}


def test_batches_cover_every_example_once_per_epoch():
    x, y = torch.arange(10).float()[:, None], torch.arange(10)
    b = Batches(x, y, batch_size=4, seed=0)
    assert len(b) == 3
    seen = torch.cat([yb for _, yb in b])
    assert sorted(seen.tolist()) == list(range(10))
    assert len(Batches(x, y, batch_size=4, drop_last=True)) == 2
    first = [yb.tolist() for _, yb in b]
    assert first != [yb.tolist() for _, yb in b], "a new order every epoch"
    state = b.state_dict()
    again = [yb.tolist() for _, yb in b]
    b.load_state_dict(state)
    assert again == [yb.tolist() for _, yb in b]


def test_batches_validate_their_inputs():
    with pytest.raises(ValueError, match="same first dimension"):
        Batches(torch.zeros(3, 2), torch.zeros(4), batch_size=2)
    with pytest.raises(ValueError, match="positive int"):
        Batches(torch.zeros(3), batch_size=0)


def test_to_float_and_subset():
    imgs = torch.full((4, 5, 5), 255, dtype=torch.uint8)
    assert (
        data.to_float(imgs).shape == (4, 1, 5, 5)
        and float(data.to_float(imgs).max()) == 1.0
    )
    assert data.to_float(torch.zeros(2, 6, 6, 3, dtype=torch.uint8)).shape == (
        2,
        3,
        6,
        6,
    )
    with pytest.raises(ValueError, match="uint8"):
        data.to_float(imgs.float())
    ds = data.ImageSet(
        torch.zeros(100, 2, 2, dtype=torch.uint8),
        torch.arange(100) % 10,
        tuple("abcdefghij"),
        "t",
    )
    sub = data.subset(ds, 20)
    assert torch.bincount(sub.y).tolist() == [2] * 10


def test_shipped_text_loads_and_is_checked(monkeypatch):
    text = data.load_text("northanger_abbey")
    assert len(text) == 433_411 and text.startswith("NORTHANGER ABBEY")
    with pytest.raises(ValueError, match="available"):
        data.load_text("hamlet")
    monkeypatch.setitem(
        data.TEXTS, "northanger_abbey", ("northanger_abbey.txt.gz", "0" * 64)
    )
    with pytest.raises(data.ChecksumError, match="corrupt"):
        data.load_text("northanger_abbey")
    monkeypatch.setitem(data.TEXTS, "northanger_abbey", ("nowhere.txt.gz", "0" * 64))
    with pytest.raises(data.DatasetNotFoundError, match="looked for"):
        data.load_text("northanger_abbey")
