"""Tests of dlbook.diffusion: schedules, the forward process, the loss and the samplers."""

import math

import pytest
import torch

from dlbook import diffusion as diff


def test_linear_schedule_and_alpha_bar_product():
    betas = diff.linear_betas(50, 1e-3, 0.05)
    assert (
        betas.shape == (50,)
        and betas[0] == pytest.approx(1e-3)
        and betas[-1] == pytest.approx(0.05)
    )
    s = diff.Schedule.from_betas(betas)
    expected = torch.tensor(
        [math.prod(1 - b for b in betas[: i + 1].tolist()) for i in range(50)]
    )
    torch.testing.assert_close(s.alpha_bars, expected.float())
    torch.testing.assert_close(s.alphas, (1 - betas).float())


def test_cosine_schedule_matches_formula():
    T, s_off = 100, 0.008
    sched = diff.Schedule.from_betas(diff.cosine_betas(T, s_off))

    def f(t):
        return math.cos((t / T + s_off) / (1 + s_off) * math.pi / 2) ** 2

    for t in (1, 10, 50, 90):  # away from the clipped last steps
        assert sched.alpha_bars[t - 1].item() == pytest.approx(f(t) / f(0), rel=1e-5)
    assert diff.cosine_betas(T).max() <= 0.999


def test_q_sample_closed_form_and_shapes():
    sched = diff.Schedule.from_betas(diff.linear_betas(10))
    x0, eps = torch.randn(4, 3, 5, 5), torch.randn(4, 3, 5, 5)
    t = torch.tensor([0, 3, 7, 9])
    xt = diff.q_sample(x0, t, sched, eps)
    ab = sched.alpha_bars[t].view(4, 1, 1, 1)
    torch.testing.assert_close(xt, ab.sqrt() * x0 + (1 - ab).sqrt() * eps)


def test_ddpm_first_step_by_hand():
    """With T = 1 the sampler makes one step, x_0 = (x_1 - β/√(1-ᾱ) ε) / √α, no noise."""
    sched = diff.Schedule.from_betas(torch.tensor([0.3]))
    x_T = torch.randn(5, 2)

    def model(x, t, y):  # a known ε-model: ε(x, t) = 0.5 x
        return 0.5 * x

    out, _ = diff.ddpm_sample(model, x_T, sched)
    beta = 0.3  # alpha_bar_1 = 1 - beta_1, so 1 - alpha_bar_1 = beta_1
    torch.testing.assert_close(
        out, (x_T - beta / math.sqrt(beta) * 0.5 * x_T) / math.sqrt(1 - beta)
    )


def test_ddpm_step_with_noise_by_hand():
    """The first of two steps: Ho et al.'s mean plus σ z, σ² = β̃_2, same generator."""
    sched = diff.Schedule.from_betas(torch.tensor([0.1, 0.2]))
    x_T = torch.randn(3, 2)
    seen = []

    def model(x, t, y):
        seen.append(x.clone())
        return torch.ones_like(x)

    diff.ddpm_sample(model, x_T, sched, generator=torch.Generator().manual_seed(0))
    z = torch.randn(3, 2, generator=torch.Generator().manual_seed(0))
    b1, b2 = 0.1, 0.2
    ab1, ab2 = 1 - b1, (1 - b1) * (1 - b2)
    mean = (x_T - b2 / math.sqrt(1 - ab2) * 1.0) / math.sqrt(1 - b2)
    sigma = math.sqrt(b2 * (1 - ab1) / (1 - ab2))
    torch.testing.assert_close(seen[1], mean + sigma * z)


def test_ddim_eta0_is_deterministic_and_eta1_is_not():
    sched = diff.Schedule.from_betas(diff.cosine_betas(50))
    model = diff.MLPDenoiser(dim=2, hidden=16, depth=1)
    x_T = torch.randn(8, 2)

    def run(eta, seed):
        g = torch.Generator().manual_seed(seed)
        return diff.ddim_sample(model, x_T, sched, steps=10, eta=eta, generator=g)

    assert torch.equal(run(0.0, 0), run(0.0, 1))
    assert not torch.allclose(run(1.0, 0), run(1.0, 1))


def test_ddim_with_all_steps_and_eta1_matches_ddpm_variance():
    """DDIM's σ with η = 1 over all T steps is the DDPM posterior deviation √β̃_t."""
    sched = diff.Schedule.from_betas(diff.linear_betas(20, 0.01, 0.2))
    ab = sched.alpha_bars
    t = 10
    sigma = ((1 - ab[t - 1]) / (1 - ab[t])).sqrt() * (1 - ab[t] / ab[t - 1]).sqrt()
    beta_tilde = sched.betas[t] * (1 - ab[t - 1]) / (1 - ab[t])
    torch.testing.assert_close(sigma**2, beta_tilde)


def test_ddim_times():
    assert diff.ddim_times(100, 5) == [99, 74, 50, 25, 0]
    assert diff.ddim_times(10, 10) == list(range(9, -1, -1))


def test_guidance_combination():
    def model(x, t, y):  # ε = label value (null class 9 -> 9)
        return y.float()[:, None].expand_as(x)

    x, t, y = (
        torch.zeros(3, 2),
        torch.zeros(3, dtype=torch.long),
        torch.tensor([1, 2, 3]),
    )
    out = diff.guided_eps(model, x, t, y, 2.0, 9)
    torch.testing.assert_close(out, (3 * y.float() - 2 * 9)[:, None].expand(3, 2))
    torch.testing.assert_close(
        diff.guided_eps(model, x, t, y, 0.0, 9), y.float()[:, None].expand(3, 2)
    )


def test_guidance_is_combined_in_float32():
    # Under bfloat16 autocast the model returns bfloat16; (1 + w) ε_c - w ε_u
    # must not be rounded again.
    def model(x, t, y):
        return (y.double()[:, None] / 3 + x).to(torch.bfloat16)

    x, t, y = (
        torch.zeros(3, 2),
        torch.zeros(3, dtype=torch.long),
        torch.tensor([1, 2, 4]),
    )
    out = diff.guided_eps(model, x, t, y, 2.0, 9)
    cond, uncond = model(x, t, y).float(), model(x, t, torch.full_like(y, 9)).float()
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, 3 * cond - 2 * uncond, rtol=0, atol=0)


def test_time_index_check_does_not_read_device_tensors():
    # On a GPU, reading t's range on the host would stall every training step
    # ("meta" stands in for a device).
    sched = diff.Schedule.from_betas(diff.linear_betas(10))
    diff.check_times(torch.zeros(4, dtype=torch.long, device="meta"), sched, 4)
    with pytest.raises(ValueError, match="int64"):
        diff.check_times(torch.zeros(4, device="meta"), sched, 4)


def test_timestep_embedding():
    emb = diff.timestep_embedding(torch.tensor([0, 5]), 8)
    assert emb.shape == (2, 8)
    torch.testing.assert_close(emb[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    torch.testing.assert_close(emb[1, 0], torch.tensor(math.sin(5.0)))


def test_eps_loss_overfits_one_batch():
    torch.manual_seed(0)
    sched = diff.Schedule.from_betas(diff.cosine_betas(20))
    x0 = torch.randn(16, 2)
    model = diff.MLPDenoiser(dim=2, hidden=64, depth=2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    first = diff.eps_loss(model, x0, sched, generator=g).item()
    for _ in range(300):
        loss = diff.eps_loss(
            model, x0, sched, generator=torch.Generator().manual_seed(1)
        )  # one fixed batch
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * first


def test_ema_update():
    lin = torch.nn.Linear(2, 1)
    ema = diff.EMA(lin, decay=0.5)
    before = ema.model.weight.clone()
    with torch.no_grad():
        lin.weight.add_(1.0)
    ema.update(lin)
    torch.testing.assert_close(ema.model.weight, 0.5 * before + 0.5 * lin.weight)


def _schedule64(betas):
    return diff.Schedule.from_betas(
        torch.tensor(betas, dtype=torch.float64), dtype=torch.float64
    )


def test_ddim_update_by_hand():
    """Two DDIM steps (T = 3, times 2 then 0), η = 0 and η = 1, in float64."""
    sched = _schedule64([0.1, 0.2, 0.3])
    x_T = torch.randn(4, 2, dtype=torch.float64)

    def model(x, t, y):  # a known ε-model that depends on the time
        return 0.5 * x + 0.1 * (t[:, None].double() + 1)

    ab3, ab1 = 0.9 * 0.8 * 0.7, 0.9
    for eta in (0.0, 1.0):
        out = diff.ddim_sample(
            model,
            x_T,
            sched,
            steps=2,
            eta=eta,
            generator=torch.Generator().manual_seed(0),
        )
        z = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
        eps = 0.5 * x_T + 0.3  # step 1: t = 3 -> t = 1
        x0 = (x_T - math.sqrt(1 - ab3) * eps) / math.sqrt(ab3)
        sigma = eta * math.sqrt((1 - ab1) / (1 - ab3)) * math.sqrt(1 - ab3 / ab1)
        x = math.sqrt(ab1) * x0 + math.sqrt(1 - ab1 - sigma**2) * eps + sigma * z
        eps = 0.5 * x + 0.1  # step 2: t = 1 -> x_0, no noise
        expected = (x - math.sqrt(1 - ab1) * eps) / math.sqrt(ab1)
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


def test_ddim_step_clip_recomputes_the_noise_by_hand():
    sched = _schedule64([0.1, 0.2])
    x_T = torch.tensor([[3.0, -0.2]], dtype=torch.float64)

    def model(x, t, y):
        return torch.full_like(x, -2.0)

    out = diff.ddim_sample(model, x_T, sched, steps=2, clip=1.0)
    ab2, ab1 = 0.72, 0.9
    x0 = ((x_T + 2 * math.sqrt(1 - ab2)) / math.sqrt(ab2)).clamp(-1, 1)
    eps = (x_T - math.sqrt(ab2) * x0) / math.sqrt(1 - ab2)
    x = math.sqrt(ab1) * x0 + math.sqrt(1 - ab1) * eps
    expected = ((x + 2 * math.sqrt(1 - ab1)) / math.sqrt(ab1)).clamp(-1, 1)
    assert x0[0, 0] == 1.0  # the clamp is active
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


def test_ddpm_clip_branch_by_hand():
    """Clamped x̂_0 and the posterior mean of q(x_{t-1} | x_t, x̂_0), two steps."""
    sched = _schedule64([0.1, 0.2])
    x_T = torch.tensor([[0.5, -1.5], [2.0, 0.1]], dtype=torch.float64)
    seen = []

    def model(x, t, y):
        seen.append(x.clone())
        return torch.full_like(x, 3.0)

    g = torch.Generator().manual_seed(0)
    out, _ = diff.ddpm_sample(model, x_T, sched, clip=1.0, generator=g)
    z = torch.randn(2, 2, generator=torch.Generator().manual_seed(0))
    b2, ab1, ab2 = 0.2, 0.9, 0.72
    x0 = ((x_T - math.sqrt(1 - ab2) * 3) / math.sqrt(ab2)).clamp(-1, 1)
    mean = (math.sqrt(ab1) * b2 * x0 + math.sqrt(1 - b2) * (1 - ab1) * x_T) / (1 - ab2)
    x1 = mean + math.sqrt(b2 * (1 - ab1) / (1 - ab2)) * z
    assert (x0.abs() == 1).any()  # the clamp is active
    torch.testing.assert_close(seen[1], x1, rtol=0, atol=1e-12)
    # last step: ᾱ_0 = 1, so the mean is the clamped x̂_0 itself, and no noise
    expected = ((x1 - math.sqrt(1 - ab1) * 3) / math.sqrt(ab1)).clamp(-1, 1)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


def test_ddpm_without_clip_is_ho_et_al_step():
    """Through x̂_0 and the posterior, the step equals Ho et al.'s ε-form."""
    sched = _schedule64([0.05, 0.1, 0.2, 0.3])
    x_T = torch.randn(3, 2, dtype=torch.float64)
    seen = []

    def model(x, t, y):
        seen.append(x.clone())
        return torch.sin(x) + 0.1 * t[:, None].double()

    diff.ddpm_sample(model, x_T, sched, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    x = x_T
    for k, i in enumerate((3, 2, 1)):
        b, a, ab = sched.betas[i], sched.alphas[i], sched.alpha_bars[i]
        ab_prev = sched.alpha_bars[i - 1]
        eps = torch.sin(x) + 0.1 * i
        mean = (x - b / (1 - ab).sqrt() * eps) / a.sqrt()
        x = mean + (b * (1 - ab_prev) / (1 - ab)).sqrt() * torch.randn(
            3, 2, generator=g
        )
        torch.testing.assert_close(seen[k + 1], x, rtol=0, atol=1e-12)


def test_ddim_eta1_over_all_steps_is_ddpm():
    """η = 1 on every step is the DDPM sampler, draw for draw."""
    sched = _schedule64(diff.cosine_betas(12).tolist())
    x_T = torch.randn(5, 2, dtype=torch.float64)

    def model(x, t, y):
        return torch.tanh(x) * (1 + 0.05 * t[:, None])

    a, _ = diff.ddpm_sample(
        model, x_T, sched, generator=torch.Generator().manual_seed(3)
    )
    b = diff.ddim_sample(
        model, x_T, sched, steps=12, eta=1.0, generator=torch.Generator().manual_seed(3)
    )
    torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_posterior_matches_gaussian_conditioning():
    sched = _schedule64(diff.cosine_betas(30).tolist())
    x0, xt = torch.randn(6, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    for i in (1, 10, 29):
        ab, ab_prev, a = sched.alpha_bars[i], sched.alpha_bars[i - 1], sched.alphas[i]
        cov = a.sqrt() * (1 - ab_prev)
        mean, var = diff.posterior(sched, i, x0, xt)
        expected = ab_prev.sqrt() * x0 + cov / (1 - ab) * (xt - ab.sqrt() * x0)
        torch.testing.assert_close(mean, expected, rtol=0, atol=1e-12)
        torch.testing.assert_close(var, (1 - ab_prev) - cov**2 / (1 - ab))
    mean, var = diff.posterior(sched, 0, x0, xt)  # t = 1: x_0 is known exactly
    torch.testing.assert_close(mean, x0, rtol=0, atol=1e-12)
    assert abs(var.item()) < 1e-15


def test_flow_matching_euler_by_hand():
    seen = []

    def model(x, t, y):  # v(x, s) = x
        seen.append(t.clone())
        return x

    x_T = torch.randn(3, 2, dtype=torch.float64)
    out = diff.fm_sample(model, x_T, 4)
    torch.testing.assert_close(out, x_T * (1 - 0.25) ** 4, rtol=0, atol=1e-12)
    assert [round(s[0].item()) for s in seen] == [1000, 750, 500, 250]


def test_flow_matching_loss_by_hand():
    x0 = torch.randn(6, 2)
    g = torch.Generator().manual_seed(0)
    loss = diff.fm_loss(lambda x, t, y: torch.zeros_like(x), x0, generator=g)
    g = torch.Generator().manual_seed(0)
    torch.rand(6, generator=g)  # the times come first
    eps = torch.randn(6, 2, generator=g)
    torch.testing.assert_close(loss, ((eps - x0) ** 2).mean())


def test_flow_matching_learns_a_shifted_gaussian():
    torch.manual_seed(0)
    data = torch.randn(2_000, 2) * 0.3 + torch.tensor([2.0, -1.0])
    model = diff.MLPDenoiser(dim=2, hidden=64, depth=2)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(400):
        loss = diff.fm_loss(model, data[torch.randint(0, 2_000, (256,))])
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = diff.fm_sample(model, torch.randn(1_000, 2), 20)
    torch.testing.assert_close(
        out.mean(0), torch.tensor([2.0, -1.0]), atol=0.15, rtol=0
    )


def test_ema_foreach_matches_per_parameter_lerp_and_copies_buffers():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    ema = diff.EMA(net, decay=0.9)
    expected = [p.detach().clone() for p in ema.model.parameters()]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    net(torch.randn(8, 3))  # updates the running statistics
    ema.update(net)
    for avg, e, p in zip(ema.model.parameters(), expected, net.parameters()):
        torch.testing.assert_close(avg, 0.9 * e + 0.1 * p)
    torch.testing.assert_close(ema.model[1].running_mean, net[1].running_mean)


def test_ema_update_launches_one_fused_call(monkeypatch):
    calls = []
    real = torch._foreach_lerp_
    monkeypatch.setattr(
        torch, "_foreach_lerp_", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    net = torch.nn.Sequential(*[torch.nn.Linear(2, 2) for _ in range(5)])
    diff.EMA(net).update(net)
    assert calls == [1]


def test_train_denoiser_uses_the_book_precision(monkeypatch):
    import dlbook.train

    made = []
    real = dlbook.train.Precision

    class Spy(real):
        def __init__(self, device, enabled=True):
            super().__init__(device, enabled)
            made.append((torch.device(device).type, enabled))

    monkeypatch.setattr(dlbook.train, "Precision", Spy)
    sched = diff.Schedule.from_betas(diff.cosine_betas(10))
    model = diff.MLPDenoiser(dim=2, hidden=8, depth=1)
    ema, losses = diff.train_denoiser(
        model,
        torch.randn(32, 2),
        sched,
        steps=3,
        batch_size=8,
        amp=True,
        progress=False,
    )
    assert made == [("cpu", True)] and len(losses) == 3
    assert not ema.training and all(not p.requires_grad for p in ema.parameters())


def test_train_denoiser_with_a_custom_loss_fn():
    """loss_fn replaces the ε-loss: called on each batch with its labels and the
    generator, no schedule needed; the result is the EMA model as before."""
    x, y, calls = torch.randn(32, 2), torch.arange(32) % 4, []

    def loss_fn(model, x0, y_b, generator):
        calls.append((x0.shape, y_b.shape, isinstance(generator, torch.Generator)))
        return diff.fm_loss(model, x0, generator)

    model = diff.MLPDenoiser(dim=2, hidden=8, depth=1)
    ema, losses = diff.train_denoiser(
        model, x, None, y=y, steps=4, batch_size=8, loss_fn=loss_fn, progress=False
    )
    assert calls == [((8, 2), (8,), True)] * 4 and len(losses) == 4
    assert all(not p.requires_grad for p in ema.parameters())
