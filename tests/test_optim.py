import copy

import pytest
import torch
from torch import nn

from dlbook import optim

# (ours, kwargs, torch's class, kwargs): several hyper-parameter settings each, weight decay included
CASES = [
    (optim.SGD, dict(lr=0.1), torch.optim.SGD, dict(lr=0.1)),
    (
        optim.SGD,
        dict(lr=0.05, weight_decay=1e-2),
        torch.optim.SGD,
        dict(lr=0.05, weight_decay=1e-2),
    ),
    (
        optim.Momentum,
        dict(lr=0.05, beta=0.9),
        torch.optim.SGD,
        dict(lr=0.05, momentum=0.9),
    ),
    (
        optim.Momentum,
        dict(lr=0.02, beta=0.5, weight_decay=1e-3),
        torch.optim.SGD,
        dict(lr=0.02, momentum=0.5, weight_decay=1e-3),
    ),
    (
        optim.Nesterov,
        dict(lr=0.05, beta=0.9),
        torch.optim.SGD,
        dict(lr=0.05, momentum=0.9, nesterov=True),
    ),
    (
        optim.Nesterov,
        dict(lr=0.01, beta=0.99, weight_decay=1e-2),
        torch.optim.SGD,
        dict(lr=0.01, momentum=0.99, nesterov=True, weight_decay=1e-2),
    ),
    (optim.AdaGrad, dict(lr=0.1), torch.optim.Adagrad, dict(lr=0.1)),
    (
        optim.AdaGrad,
        dict(lr=0.05, eps=1e-6, weight_decay=1e-3),
        torch.optim.Adagrad,
        dict(lr=0.05, eps=1e-6, weight_decay=1e-3),
    ),
    (optim.RMSProp, dict(lr=1e-2), torch.optim.RMSprop, dict(lr=1e-2)),
    (
        optim.RMSProp,
        dict(lr=1e-3, beta2=0.9, eps=1e-6, weight_decay=1e-2),
        torch.optim.RMSprop,
        dict(lr=1e-3, alpha=0.9, eps=1e-6, weight_decay=1e-2),
    ),
    (optim.Adam, dict(lr=1e-2), torch.optim.Adam, dict(lr=1e-2)),
    (
        optim.Adam,
        dict(lr=3e-3, beta1=0.5, beta2=0.9, eps=1e-6, weight_decay=1e-2),
        torch.optim.Adam,
        dict(lr=3e-3, betas=(0.5, 0.9), eps=1e-6, weight_decay=1e-2),
    ),
    (
        optim.Adam,
        dict(lr=1e-2, amsgrad=True),
        torch.optim.Adam,
        dict(lr=1e-2, amsgrad=True),
    ),
    (optim.AdaDelta, dict(), torch.optim.Adadelta, dict()),
    (
        optim.AdaDelta,
        dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=1e-2),
        torch.optim.Adadelta,
        dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=1e-2),
    ),
    (
        optim.AdamW,
        dict(lr=3e-3, weight_decay=0.1),
        torch.optim.AdamW,
        dict(lr=3e-3, weight_decay=0.1),
    ),
    (
        optim.AdamW,
        dict(lr=1e-2, beta1=0.8, beta2=0.99, weight_decay=1e-2, amsgrad=True),
        torch.optim.AdamW,
        dict(lr=1e-2, betas=(0.8, 0.99), weight_decay=1e-2, amsgrad=True),
    ),
]


def _model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3)
    ).double()


def _data(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 6, generator=g, dtype=torch.float64)
    y = (x[:, :3].sum(1) > 0).long() + (x[:, 3] > 0.5).long()
    return x, y


@pytest.mark.parametrize(
    "ours, kw, theirs, tkw", CASES, ids=lambda c: getattr(c, "__name__", "")
)
def test_matches_torch_optim_step_by_step(ours, kw, theirs, tkw):
    x, y = _data()
    a, b = _model(1), _model(1)
    opt_a, opt_b = ours(a.parameters(), **kw), theirs(b.parameters(), **tkw)
    g = torch.Generator().manual_seed(2)
    worst = 0.0
    for _ in range(200):
        idx = torch.randint(0, len(x), (32,), generator=g)
        for model, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
        worst = max(
            worst,
            max(
                (p - q).abs().max().item()
                for p, q in zip(a.parameters(), b.parameters())
            ),
        )
    assert worst < 1e-12, f"{ours.__name__} drifted from torch.optim by {worst:.2e}"
    moved = max(
        (p - q).abs().max().item()
        for p, q in zip(a.parameters(), _model(1).parameters())
    )
    assert moved > 1e-3, "the parameters must actually move"


@pytest.mark.parametrize("cls", list(optim.OPTIMIZERS.values()))
def test_learns_and_works_with_schedulers_and_closure(cls):
    x, y = _data(3)
    model = _model(0)
    lr = 0.05 if cls in (optim.SGD, optim.Momentum, optim.Nesterov) else 0.01
    lr = 1.0 if cls is optim.AdaDelta else lr
    opt = cls(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=50, gamma=0.5)

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        return loss

    first = opt.step(closure).item()
    for _ in range(150):
        last = opt.step(closure).item()
        sched.step()
    assert last < 0.7 * first
    assert abs(opt.param_groups[0]["lr"] - lr * 0.5**3) < 1e-12


def test_state_dict_round_trip_continues_identically():
    x, y = _data()
    a, b = _model(4), _model(4)
    opt_a = optim.Adam(a.parameters(), lr=1e-2)
    for _ in range(5):
        opt_a.zero_grad()
        nn.functional.cross_entropy(a(x), y).backward()
        opt_a.step()
    b.load_state_dict(a.state_dict())
    opt_b = optim.Adam(b.parameters(), lr=1e-2)
    opt_b.load_state_dict(
        copy.deepcopy(opt_a.state_dict())
    )  # as after torch.save / torch.load
    for model, opt in ((a, opt_a), (b, opt_b)):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_parameters_without_gradient_are_left_alone():
    w, frozen = torch.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    opt = optim.Momentum([w, frozen], lr=0.1)
    (w**2).sum().backward()
    opt.step()
    assert torch.allclose(w, torch.full((3,), 0.8)) and torch.equal(
        frozen, torch.ones(3)
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda p: optim.SGD(p, lr=-0.1),
        lambda p: optim.SGD(p, lr=0.1, weight_decay=-1.0),
        lambda p: optim.Momentum(p, lr=0.1, beta=1.0),
        lambda p: optim.Nesterov(p, lr=0.1, beta=-0.1),
        lambda p: optim.AdaGrad(p, lr=0.1, eps=-1.0),
        lambda p: optim.RMSProp(p, lr=0.1, beta2=1.5),
        lambda p: optim.Adam(p, lr=float("nan")),
        lambda p: optim.Adam(p, beta1=1.0),
        lambda p: optim.Adam(p, beta2=-0.5),
        lambda p: optim.SGD(p, lr="0.1"),
    ],
)
def test_bad_hyper_parameters_raise(make):
    with pytest.raises((TypeError, ValueError)):
        make([torch.zeros(2, requires_grad=True)])


def test_empty_parameter_list_raises():
    with pytest.raises(ValueError):
        optim.SGD([], lr=0.1)


# ----- early stopping -----


def _tagged_model(value: float) -> nn.Module:
    m = nn.Linear(1, 1)
    with torch.no_grad():
        m.weight.fill_(value)
    return m


def test_early_stopping_stops_after_patience_and_restores_best():
    losses = [1.0, 0.8, 0.6, 0.65, 0.7, 0.59, 0.61, 0.62, 0.63, 0.5]
    stopper, model = optim.EarlyStopping(patience=3), nn.Linear(1, 1)
    stopped_at = None
    for epoch, loss in enumerate(losses, start=1):
        with torch.no_grad():
            model.weight.fill_(epoch)  # the weights "remember" the epoch
        if stopper.step(loss, model):
            stopped_at = epoch
            break
    assert stopped_at == 9 and stopper.best_epoch == 6 and stopper.best == 0.59
    with torch.no_grad():
        model.weight.fill_(-1.0)
    stopper.restore(model)
    assert model.weight.item() == 6.0
    with pytest.raises(RuntimeError):
        stopper.step(0.1, model)


def test_early_stopping_copy_is_not_aliased():
    stopper, model = optim.EarlyStopping(patience=2), _tagged_model(1.0)
    stopper.step(0.5, model)
    with torch.no_grad():
        model.weight.fill_(7.0)  # training continues in place
    stopper.step(0.9, model)
    assert stopper.restore(model).weight.item() == 1.0


def test_early_stopping_min_delta_and_max_mode():
    stopper = optim.EarlyStopping(patience=2, min_delta=0.1)
    m = _tagged_model(0.0)
    assert not stopper.step(1.0, m)
    assert not stopper.step(
        0.95, m
    )  # improvement smaller than min_delta: does not count
    assert stopper.step(0.92, m) and stopper.best == 1.0
    acc = optim.EarlyStopping(patience=1, mode="max")
    assert (
        not acc.step(0.5, m)
        and not acc.step(0.6, m)
        and acc.step(0.55, m)
        and acc.best == 0.6
    )


@pytest.mark.parametrize(
    "kw",
    [dict(patience=0), dict(patience=2.5), dict(min_delta=-1.0), dict(mode="lowest")],
)
def test_early_stopping_bad_arguments(kw):
    with pytest.raises((TypeError, ValueError)):
        optim.EarlyStopping(**kw)


def test_early_stopping_nan_and_restore_before_step():
    stopper = optim.EarlyStopping()
    with pytest.raises(RuntimeError):
        stopper.restore(nn.Linear(1, 1))
    with pytest.raises(ValueError):
        stopper.step(float("nan"), nn.Linear(1, 1))


def test_adamw_is_shrink_then_adam():
    """AdamW = multiply by (1 - lr wd), then a plain Adam step: by hand, to 1e-15."""
    w = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64, requires_grad=True)
    opt = optim.AdamW([w], lr=0.1, weight_decay=0.5, eps=1e-8)
    g = torch.tensor([0.3, -0.1, 0.2], dtype=torch.float64)
    w.grad = g.clone()
    opt.step()
    shrunk = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64) * (1 - 0.1 * 0.5)
    m1, m2 = 0.1 * g / 0.1, 0.001 * g * g / 0.001  # bias-corrected first step
    expected = shrunk - 0.1 * m1 / (m2.sqrt() + 1e-8)
    assert (w.detach() - expected).abs().max() < 1e-15


def test_adadelta_first_step_by_hand():
    w = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    opt = optim.AdaDelta([w], lr=1.0, rho=0.9, eps=1e-6)
    g = torch.tensor([0.5, -4.0], dtype=torch.float64)
    w.grad = g.clone()
    opt.step()
    step = (1e-6) ** 0.5 / (0.1 * g * g + 1e-6).sqrt() * g
    assert (
        w.detach() - (torch.tensor([1.0, 2.0], dtype=torch.float64) - step)
    ).abs().max() < 1e-15
