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


def test_bad_inputs_raise():
    sched = diff.Schedule.from_betas(diff.linear_betas(10))
    with pytest.raises(ValueError, match="time indices"):
        diff.q_sample(torch.zeros(2, 2), torch.tensor([0, 10]), sched)
    with pytest.raises(ValueError, match="int64"):
        diff.q_sample(torch.zeros(2, 2), torch.tensor([0.0, 1.0]), sched)
    with pytest.raises(ValueError, match="T must be"):
        diff.linear_betas(0)
    with pytest.raises(ValueError, match="beta"):
        diff.Schedule.from_betas(torch.tensor([0.5, 1.5]))
    with pytest.raises(ValueError, match="steps"):
        diff.ddim_sample(lambda x, t, y: x, (2, 2), sched, steps=11)
    with pytest.raises(ValueError, match="null_class"):
        diff.ddim_sample(
            lambda x, t, y: x,
            (2, 2),
            sched,
            steps=5,
            y=torch.zeros(2, dtype=torch.long),
            w=1.0,
        )
    with pytest.raises(ValueError, match="label dropout"):
        diff.eps_loss(lambda x, t, y: x, torch.zeros(2, 2), sched, p_uncond=0.1)
    with pytest.raises(ValueError, match="even"):
        diff.timestep_embedding(torch.zeros(3), 5)


def test_ddpm_first_step_by_hand():
    """With T = 1 the sampler makes one step: x_0 = (x_1 - β/√(1-ᾱ) ε) / √α, no noise added."""
    sched = diff.Schedule.from_betas(torch.tensor([0.3]))
    x_T = torch.randn(5, 2)

    def model(x, t, y):  # a known ε-model: ε(x, t) = 0.5 x
        return 0.5 * x

    out, _ = diff.ddpm_sample(model, (5, 2), sched, x_T=x_T)
    beta = 0.3  # alpha_bar_1 = 1 - beta_1, so 1 - alpha_bar_1 = beta_1
    torch.testing.assert_close(
        out, (x_T - beta / math.sqrt(beta) * 0.5 * x_T) / math.sqrt(1 - beta)
    )


def test_ddpm_step_with_noise_by_hand():
    """The first of two steps: mean of eq. (DDPM) plus σ z with σ² = β̃_2, using the same generator."""
    sched = diff.Schedule.from_betas(torch.tensor([0.1, 0.2]))
    x_T = torch.randn(3, 2)
    seen = []

    def model(x, t, y):
        seen.append(x.clone())
        return torch.ones_like(x)

    diff.ddpm_sample(
        model, (3, 2), sched, x_T=x_T, generator=torch.Generator().manual_seed(0)
    )
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
    a = diff.ddim_sample(
        model,
        (8, 2),
        sched,
        steps=10,
        x_T=x_T,
        generator=torch.Generator().manual_seed(0),
    )
    b = diff.ddim_sample(
        model,
        (8, 2),
        sched,
        steps=10,
        x_T=x_T,
        generator=torch.Generator().manual_seed(1),
    )
    assert torch.equal(a, b)
    c = diff.ddim_sample(
        model,
        (8, 2),
        sched,
        steps=10,
        eta=1.0,
        x_T=x_T,
        generator=torch.Generator().manual_seed(0),
    )
    d = diff.ddim_sample(
        model,
        (8, 2),
        sched,
        steps=10,
        eta=1.0,
        x_T=x_T,
        generator=torch.Generator().manual_seed(1),
    )
    assert not torch.allclose(c, d)


def test_ddim_with_all_steps_and_eta1_matches_ddpm_variance():
    """DDIM's σ with η = 1 over all T steps equals the DDPM posterior standard deviation √β̃_t."""
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
    # Under bfloat16 autocast the model returns bfloat16; (1 + w) ε_c - w ε_u must not be rounded again.
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
    # On a GPU, reading t's range on the host would stall every training step ("meta" stands in for a device).
    sched = diff.Schedule.from_betas(diff.linear_betas(10))
    diff._check_index(torch.zeros(4, dtype=torch.long, device="meta"), sched, 4)
    with pytest.raises(ValueError, match="int64"):
        diff._check_index(torch.zeros(4, device="meta"), sched, 4)


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
