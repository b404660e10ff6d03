import pytest
import torch
from torch import nn

from dlbook.data import Batches
from dlbook.train import History, evaluate, fit, load_checkpoint, save_checkpoint


def _problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 5, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return x, y


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 2))


def test_fit_learns_and_records_history():
    x, y = _problem()
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.2)
    hist = fit(
        model,
        Batches(x, y, batch_size=32),
        epochs=5,
        optimizer=opt,
        val=Batches(x, y, batch_size=64, shuffle=False),
    )
    assert isinstance(hist, History) and hist.epoch == [1, 2, 3, 4, 5]
    assert hist.train_loss[-1] < hist.train_loss[0]
    assert hist.val_acc[-1] > 0.9
    assert all(v > 0 for v in hist.examples_per_s) and hist.total_s > 0


def test_one_batch_overfit():
    """fit can memorise one batch: judged in eval mode, without dropout's noise."""
    x, y = _problem()
    x, y = x[:8], y[:8]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 2))
    batch = Batches(x, y, batch_size=8, shuffle=False)
    start, _ = evaluate(model, batch)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    fit(model, batch, epochs=150, optimizer=opt, progress=False)
    loss, acc = evaluate(model, batch)
    assert acc == 1.0 and loss < 0.05 * start, (loss, start)


def test_evaluate_regression_has_no_accuracy():
    model = nn.Linear(3, 1)
    x, y = torch.randn(20, 3), torch.randn(20, 1)
    loss, acc = evaluate(
        model, Batches(x, y, batch_size=8), loss_fn=nn.functional.mse_loss
    )
    assert acc is None and loss > 0


def test_fit_rejects_bad_arguments():
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = _problem()
    with pytest.raises(ValueError, match="epochs"):
        fit(model, Batches(x, y, batch_size=8), epochs=-1, optimizer=opt)
    with pytest.raises(ValueError, match="scheduler_per"):
        fit(
            model,
            Batches(x, y, batch_size=8),
            epochs=1,
            optimizer=opt,
            scheduler_per="step",
        )


def test_checkpoint_loads_with_weights_only(tmp_path):
    model = _model()
    opt = torch.optim.Adam(model.parameters())
    save_checkpoint(
        tmp_path / "c.pt",
        model=model,
        optimizer=opt,
        epoch=3,
        history=History(epoch=[1]),
    )
    state = torch.load(tmp_path / "c.pt", weights_only=True)
    assert state["epoch"] == 3
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt", model=model)


def _run(epochs, ckpt):
    x, y = _problem()
    model = _model(seed=1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    hist = fit(
        model,
        Batches(x, y, batch_size=16, seed=7),
        epochs=epochs,
        optimizer=opt,
        scheduler=sched,
        checkpoint=ckpt,
    )
    return model, hist


def test_interrupted_and_resumed_run_ends_with_the_same_weights(tmp_path):
    torch.manual_seed(123)
    straight, h1 = _run(4, tmp_path / "straight.pt")
    torch.manual_seed(123)
    _run(2, tmp_path / "resumed.pt")  # "interrupted" after epoch 2
    torch.manual_seed(999)  # a new session: different global RNG state
    resumed, h2 = _run(4, tmp_path / "resumed.pt")  # picks up at epoch 3
    assert h2.epoch == [1, 2, 3, 4]
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert h1.train_loss == h2.train_loss


def test_amp_is_float32_where_it_does_not_pay():
    from dlbook.train import _autocast, grad_scaler

    with _autocast(torch.device("cpu"), True):
        assert torch.nn.Linear(3, 2)(torch.ones(1, 3)).dtype == torch.float32
    assert not grad_scaler(torch.device("cpu"), True).is_enabled()


def test_fit_with_an_enabled_gradient_scaler_trains_and_clips(monkeypatch):
    """The float16 path of fit() (scale, unscale before clipping, step, update), exercised on the CPU."""
    import dlbook.train as train

    real_init = train.Precision.__init__

    def with_scaler(self, device, enabled=True):
        real_init(self, device, False)
        self.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)

    monkeypatch.setattr(train.Precision, "__init__", with_scaler)
    torch.manual_seed(0)
    x = torch.randn(256, 2)
    y = (x[:, 0] > 0).long()
    model = nn.Linear(2, 2)
    clipped = []
    real_clip = nn.utils.clip_grad_norm_
    monkeypatch.setattr(
        nn.utils, "clip_grad_norm_", lambda p, m: clipped.append(float(real_clip(p, m)))
    )
    hist = fit(
        model,
        Batches(x, y, batch_size=32),
        epochs=5,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.5),
        grad_clip=10.0,
        progress=False,
    )
    assert hist.train_acc[-1] > 0.9
    assert max(clipped) < 10.0, (
        "clipping must see the unscaled gradients (scaled ones are ~1000x larger)"
    )


def test_precision_follows_the_compute_capability(monkeypatch):
    """One rule for every training loop: bf16 on 8.0+, fp16 + scaler on 7.x."""
    from dlbook.train import Precision

    cpu = Precision(torch.device("cpu"))
    assert cpu.dtype is None and not cpu.scaler.is_enabled()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for capability, dtype, scaled in (
        ((9, 0), torch.bfloat16, False),  # H100
        ((8, 0), torch.bfloat16, False),  # A100
        ((7, 5), torch.float16, True),  # T4
        ((6, 1), None, False),  # P100: float32
    ):
        monkeypatch.setattr(
            torch.cuda, "get_device_capability", lambda d=None, c=capability: c
        )
        prec = Precision(torch.device("cuda"))
        assert prec.dtype is dtype and prec.scaler.is_enabled() is scaled, capability
        off = Precision(torch.device("cuda"), enabled=False)
        assert off.dtype is None and not off.scaler.is_enabled()
    with pytest.raises(TypeError):
        Precision(torch.device("cpu"), enabled="yes")


def test_precision_step_in_float32_is_the_plain_step():
    from dlbook.train import Precision

    torch.manual_seed(0)
    a, b = nn.Linear(3, 1), nn.Linear(3, 1)
    b.load_state_dict(a.state_dict())
    x = torch.randn(8, 3)
    oa = torch.optim.SGD(a.parameters(), lr=0.1)
    ob = torch.optim.SGD(b.parameters(), lr=0.1)
    a(x).pow(2).mean().backward()
    nn.utils.clip_grad_norm_(a.parameters(), 0.5)
    oa.step()
    prec = Precision(torch.device("cpu"))
    with prec.autocast():
        loss = b(x).pow(2).mean()
    prec.step(loss, ob, clip=0.5, params=b.parameters())
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    with pytest.raises(ValueError, match="params"):
        prec.step(b(x).sum(), ob, clip=1.0)
