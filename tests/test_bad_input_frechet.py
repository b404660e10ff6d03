"""Bad input to dlbook.frechet gets a clear TypeError or ValueError."""

import pytest
import torch

from dlbook import frechet


def test_statistics_and_distance():
    with pytest.raises(TypeError, match="torch.Tensor"):
        frechet.gaussian_stats([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match="N >= 2"):
        frechet.gaussian_stats(torch.randn(1, 3))
    with pytest.raises(TypeError, match="floating"):
        frechet.frechet_distance(torch.ones(4, 2, dtype=torch.long), torch.rand(4, 2))
    with pytest.raises(ValueError, match="2 dimensions"):
        frechet.frechet_distance(torch.rand(4), torch.rand(4, 2))
    with pytest.raises(ValueError, match="same D"):
        frechet.frechet_distance(torch.randn(10, 3), torch.randn(10, 4))
    with pytest.raises(ValueError, match="cov2"):
        frechet.frechet_from_stats(
            torch.zeros(2), torch.eye(2), torch.zeros(2), torch.eye(3)
        )
    with pytest.raises(ValueError, match="mu1"):
        frechet.frechet_from_stats(
            torch.zeros(2, 1), torch.eye(2), torch.zeros(2), torch.eye(2)
        )
    with pytest.raises(TypeError, match="mu2"):
        frechet.frechet_from_stats(torch.zeros(2), torch.eye(2), [0, 0], torch.eye(2))


def test_feature_net_and_helpers():
    net = frechet.FeatureNet(1, 2, width=4, feature_dim=8)
    with pytest.raises(ValueError, match="width"):
        frechet.FeatureNet(width=0)
    with pytest.raises(TypeError, match="num_classes"):
        frechet.FeatureNet(num_classes=2.0)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        net.features(torch.rand(2, 8, 8))
    with pytest.raises(TypeError, match="floating"):
        net.features(torch.ones(2, 1, 8, 8, dtype=torch.uint8))
    for fn in (frechet.embed, frechet.predict):
        with pytest.raises(TypeError, match="FeatureNet"):
            fn(torch.nn.Linear(2, 2), torch.rand(2, 1, 8, 8))
        with pytest.raises(ValueError, match="4 dimensions"):
            fn(net, torch.rand(2, 8, 8))
        with pytest.raises(ValueError, match="batch_size"):
            fn(net, torch.rand(2, 1, 8, 8), batch_size=0)
    with pytest.raises(ValueError, match="labels must have shape"):
        frechet.classifier_accuracy(net, torch.rand(3, 1, 8, 8), torch.zeros(2).long())


def test_train_classifier_and_fashion_classifier():
    x, y = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 0, 1])
    with pytest.raises(ValueError, match="4 dimensions"):
        frechet.train_classifier(x[:, 0], y, cache=False)
    with pytest.raises(TypeError, match="integers"):
        frechet.train_classifier(x, y.float(), cache=False)
    with pytest.raises(ValueError, match="epochs"):
        frechet.train_classifier(x, y, epochs=0, cache=False)
    with pytest.raises(ValueError, match="lr"):
        frechet.train_classifier(x, y, lr=0.0, cache=False)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        frechet.train_classifier(x * 2 - 1, y, cache=False)
    with pytest.raises(ValueError, match="labels must be"):
        frechet.train_classifier(x, y[:3], cache=False)
    with pytest.raises(ValueError, match="n_train"):
        frechet.fashion_classifier(0, epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        frechet.fashion_classifier(10, epochs=0)
    with pytest.raises(TypeError, match="ImageSet"):
        frechet.fashion_classifier(10, epochs=1, train="fashion")
