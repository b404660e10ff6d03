import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlbook import interpret


def _model(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 5, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(5 * 6 * 6, 3),
    ).double()


def test_saliency_matches_autograd_per_image():
    model, x = _model(), torch.rand(4, 2, 6, 6, dtype=torch.float64)
    target = torch.tensor([0, 2, 1, 1])
    sal = interpret.saliency(model, x, target)
    assert sal.shape == (4, 6, 6)
    for i in range(4):
        xi = x[i : i + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(model(xi)[0, target[i]], xi)
        torch.testing.assert_close(sal[i], g.abs()[0].amax(0))


def test_saliency_default_target_is_prediction_and_keeps_mode():
    model, x = _model(), torch.rand(3, 2, 6, 6, dtype=torch.float64)
    model.train()
    pred = model(x).argmax(1)
    torch.testing.assert_close(
        interpret.saliency(model, x), interpret.saliency(model, x, pred)
    )
    assert model.training


def test_grad_cam_matches_manual_computation():
    model, x = _model(1), torch.rand(3, 2, 6, 6, dtype=torch.float64)
    target = torch.tensor([2, 0, 1])
    cam = interpret.grad_cam(model, model[3], x, target)
    a = (
        model[:4](x).detach().requires_grad_(True)
    )  # (3, 5, 6, 6): output of the chosen layer
    scores = model[4:](a).gather(1, target[:, None]).sum()
    (g,) = torch.autograd.grad(scores, a)
    ref = F.relu((g.mean((2, 3), keepdim=True) * a).sum(1)).detach()
    ref = ref / ref.flatten(1).amax(1).clamp_min(1e-12)[:, None, None]
    assert cam.shape == (3, 6, 6)
    torch.testing.assert_close(cam, ref)
    assert cam.min() >= 0 and cam.max() <= 1


def test_grad_cam_is_float32_under_bfloat16_autocast():
    model, x = _model(1).float(), torch.rand(3, 2, 6, 6)
    with torch.autocast(
        "cpu", dtype=torch.bfloat16
    ):  # as on a GPU with mixed precision
        cam = interpret.grad_cam(model, model[2], x, torch.tensor([2, 0, 1]))
    assert cam.dtype == torch.float32 and cam.shape == (3, 6, 6)
    assert cam.min() >= 0 and cam.max() <= 1
    cam.numpy()  # plotting and NumPy need float32: bfloat16 has no NumPy type


def test_fgsm_matches_formula_and_raises_loss():
    model, x = _model(2), torch.rand(8, 2, 6, 6, dtype=torch.float64)
    y = torch.randint(0, 3, (8,))
    xr = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(xr), y), xr)
    adv = interpret.fgsm(model, x, y, 0.01)
    torch.testing.assert_close(adv, (x + 0.01 * g.sign()).clamp(0, 1))
    assert F.cross_entropy(model(adv), y) > F.cross_entropy(model(x), y)
    assert (adv - x).abs().max() <= 0.01 + 1e-12
    torch.testing.assert_close(interpret.fgsm(model, x, y, 0.0), x)


def test_maximize_activation_reaches_the_analytic_optimum():
    w = torch.randn(2, 1, 3, 3)
    objective = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731 -- maximum of w.x - l2 |x|^2 at w / (2 l2)
    x, trace = interpret.maximize_activation(
        objective, torch.zeros(2, 1, 3, 3), steps=600, lr=0.05, l2=0.5
    )
    torch.testing.assert_close(x, w, atol=1e-3, rtol=1e-3)
    assert len(trace) == 600 and trace[-1] > trace[0]


def test_bad_inputs_raise():
    model = _model()
    with pytest.raises(ValueError, match="N, C, H, W"):
        interpret.saliency(model, torch.rand(2, 6, 6, dtype=torch.float64))
    with pytest.raises(ValueError, match="float"):
        interpret.saliency(model, torch.zeros(1, 2, 6, 6, dtype=torch.uint8))
    with pytest.raises(ValueError, match="0..2"):
        interpret.saliency(model, torch.rand(1, 2, 6, 6, dtype=torch.float64), 7)
    with pytest.raises(ValueError, match="submodule"):
        interpret.grad_cam(
            model, nn.ReLU(), torch.rand(1, 2, 6, 6, dtype=torch.float64)
        )
    with pytest.raises(ValueError, match="feature maps"):
        interpret.grad_cam(model, model[5], torch.rand(1, 2, 6, 6, dtype=torch.float64))
    with pytest.raises(ValueError, match="eps"):
        interpret.fgsm(
            model, torch.rand(1, 2, 6, 6, dtype=torch.float64), torch.tensor([0]), -0.1
        )
    with pytest.raises(ValueError, match="shape"):
        interpret.fgsm(
            model, torch.rand(2, 2, 6, 6, dtype=torch.float64), torch.tensor([0]), 0.1
        )
    with pytest.raises(ValueError, match="one value per image"):
        interpret.maximize_activation(
            lambda x: x.sum(), torch.zeros(2, 1, 3, 3), steps=2
        )
