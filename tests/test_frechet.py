import pickle

import pytest
import torch

from dlbook import frechet


def test_frechet_matches_scipy_sqrtm():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    g = torch.Generator().manual_seed(0)
    a = torch.randn(400, 6, generator=g, dtype=torch.float64) @ torch.randn(
        6, 6, generator=g, dtype=torch.float64
    )
    b = torch.randn(300, 6, generator=g, dtype=torch.float64) + 0.5
    mu1, c1 = frechet.gaussian_stats(a)
    mu2, c2 = frechet.gaussian_stats(b)
    root = scipy_linalg.sqrtm(c1.numpy() @ c2.numpy()).real
    expected = float(
        (mu1 - mu2).pow(2).sum() + c1.trace() + c2.trace() - 2 * root.trace()
    )
    assert frechet.frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)


def test_frechet_closed_form_for_diagonal_gaussians():
    mu1, mu2 = torch.tensor([0.0, 1.0]), torch.tensor([3.0, -1.0])
    s1, s2 = torch.tensor([1.0, 4.0]), torch.tensor([9.0, 1.0])  # variances
    d = frechet.frechet_from_stats(mu1, torch.diag(s1), mu2, torch.diag(s2))
    expected = (mu1 - mu2).pow(2).sum() + (s1.sqrt() - s2.sqrt()).pow(2).sum()
    assert d == pytest.approx(float(expected), rel=1e-10)
    x = torch.randn(50, 3)
    assert frechet.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)


def test_frechet_rejects_bad_shapes():
    with pytest.raises(ValueError, match="same D"):
        frechet.frechet_distance(torch.randn(10, 3), torch.randn(10, 4))
    with pytest.raises(ValueError, match="N >= 2"):
        frechet.gaussian_stats(torch.randn(1, 3))
    with pytest.raises(ValueError, match="cov2"):
        frechet.frechet_from_stats(
            torch.zeros(2), torch.eye(2), torch.zeros(2), torch.eye(3)
        )


def _blobs(n=300, size=8, seed=0):
    """Two classes of images: bright top half vs bright bottom half, with noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.rand(n, 1, size, size, generator=g) * 0.3
    x[y == 0, :, : size // 2] += 0.6
    x[y == 1, :, size // 2 :] += 0.6
    return x.clamp(0, 1), y


def test_classifier_learns_caches_and_embeds(tmp_path, monkeypatch):
    monkeypatch.setenv("DLBOOK_DATA", str(tmp_path))
    x, y = _blobs()
    model = frechet.train_classifier(
        x, y, epochs=2, batch_size=32, width=8, progress=False
    )
    assert frechet.classifier_accuracy(model, x, y) > 0.95
    assert len(list((tmp_path / "classifiers").glob("*.pt"))) == 1
    again = frechet.train_classifier(
        x, y, epochs=2, batch_size=32, width=8, progress=False
    )  # from the cache
    assert torch.equal(frechet.predict(model, x), frechet.predict(again, x))
    feats = frechet.embed(model, x)
    assert feats.shape == (300, 128)
    # the two classes are far apart in feature space, a class is close to itself
    same = frechet.frechet_distance(feats[y == 0][:75], feats[y == 0][75:])
    other = frechet.frechet_distance(feats[y == 0], feats[y == 1])
    assert other > 5 * same


def test_classifier_rejects_bad_images():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        frechet.train_classifier(
            torch.randn(10, 1, 8, 8) * 5,
            torch.zeros(10, dtype=torch.int64),
            cache=False,
        )
    with pytest.raises(ValueError, match="labels"):
        frechet.train_classifier(
            torch.rand(10, 1, 8, 8), torch.zeros(9, dtype=torch.int64), cache=False
        )
    with pytest.raises(ValueError, match="4 dimensions"):
        frechet.train_classifier(
            torch.zeros(10, 8, 8), torch.zeros(10, dtype=torch.int64), cache=False
        )
    with pytest.raises(TypeError, match="floating"):
        frechet.train_classifier(
            torch.zeros(10, 1, 8, 8, dtype=torch.uint8),
            torch.zeros(10, dtype=torch.int64),
            cache=False,
        )


def test_fashion_classifier_beats_chance(tmp_path, monkeypatch):
    monkeypatch.setenv("DLBOOK_DATA", str(tmp_path))
    try:
        model, acc = frechet.fashion_classifier(
            1000, epochs=3, n_test=500, progress=False
        )
    except FileNotFoundError:
        pytest.skip("Fashion-MNIST is not installed here")
    assert acc > 0.5 and isinstance(model, frechet.FeatureNet)


def test_classifier_cached_on_a_gpu_loads_on_the_cpu(tmp_path, monkeypatch):
    # Rewrite the cache as a CUDA machine would (its storages tagged "cuda:0"): reading it back on a
    # CPU-only machine works only because train_classifier loads it with map_location=device.
    monkeypatch.setenv("DLBOOK_DATA", str(tmp_path))
    x, y = _blobs(n=60)
    model = frechet.train_classifier(
        x, y, epochs=1, batch_size=32, width=8, progress=False
    )
    (path,) = (tmp_path / "classifiers").glob("*.pt")
    as_if_cuda = [(0, lambda storage: "cuda:0", lambda storage, location: None)]
    monkeypatch.setattr(
        torch.serialization,
        "_package_registry",
        as_if_cuda + torch.serialization._package_registry,
    )
    torch.save(model.state_dict(), path)
    monkeypatch.undo()
    monkeypatch.setenv("DLBOOK_DATA", str(tmp_path))
    if not torch.cuda.is_available():
        # the file really says "cuda"; torch < 2.4 wraps the error in UnpicklingError
        with pytest.raises((RuntimeError, pickle.UnpicklingError), match="CUDA"):
            torch.load(path, weights_only=True)
    again = frechet.train_classifier(
        x, y, epochs=1, batch_size=32, width=8, device="cpu", progress=False
    )
    assert all(v.device.type == "cpu" for v in again.state_dict().values())
    assert torch.equal(frechet.predict(model, x), frechet.predict(again, x))
