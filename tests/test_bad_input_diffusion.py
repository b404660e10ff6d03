"""Bad input to dlbook.diffusion gets a clear TypeError or ValueError."""

import pytest
import torch

from dlbook import diffusion as diff

SCHED = diff.Schedule.from_betas(diff.linear_betas(10))


def eps_model(x, t, y):
    return torch.zeros_like(x)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: diff.linear_betas(0), ValueError, "T must be"),
        (lambda: diff.linear_betas(2.5), TypeError, "T must be an integer"),
        (lambda: diff.linear_betas(10, 0.1, 0.01), ValueError, "beta_1 <= beta_T"),
        (lambda: diff.linear_betas(10, "a"), TypeError, "beta_1"),
        (lambda: diff.cosine_betas(0), ValueError, "T must be"),
        (lambda: diff.cosine_betas(10, max_beta=1.0), ValueError, "max_beta"),
        (lambda: diff.cosine_alpha_bar([1, 2], 10), TypeError, "torch.Tensor"),
        (lambda: diff.cosine_alpha_bar(torch.ones(2), 10, s=-1), ValueError, "s must"),
        (lambda: diff.Schedule.from_betas([0.1]), TypeError, "torch.Tensor"),
        (lambda: diff.Schedule.from_betas(torch.ones(2, 2) / 2), ValueError, "1 dim"),
        (
            lambda: diff.Schedule.from_betas(torch.tensor([0.5, 1.5])),
            ValueError,
            "beta",
        ),
        (lambda: diff.Schedule.from_betas(torch.tensor([])), ValueError, "empty"),
        (
            lambda: diff.Schedule.from_betas(torch.tensor([0.5]), dtype=torch.int64),
            ValueError,
            "dtype",
        ),
        (lambda: SCHED.to(3), TypeError, "device"),
        (
            lambda: diff.q_sample(torch.zeros(2, 2), torch.tensor([0, 10]), SCHED),
            ValueError,
            "time indices",
        ),
        (
            lambda: diff.q_sample(torch.zeros(2, 2), torch.tensor([0.0, 1.0]), SCHED),
            ValueError,
            "int64",
        ),
        (
            lambda: diff.q_sample(torch.zeros(2, 2), torch.tensor([0, 1]), "sched"),
            TypeError,
            "Schedule",
        ),
        (
            lambda: diff.q_sample([[0.0]], torch.tensor([0]), SCHED),
            TypeError,
            "x0 must be a torch.Tensor",
        ),
        (
            lambda: diff.q_sample(
                torch.zeros(2, 2), torch.tensor([0, 1]), SCHED, torch.zeros(2, 3)
            ),
            ValueError,
            "noise must have shape",
        ),
        (
            lambda: diff.eps_loss(eps_model, torch.zeros(2, 2), SCHED, p_uncond=0.1),
            ValueError,
            "label dropout",
        ),
        (
            lambda: diff.eps_loss(eps_model, torch.zeros(2, 2), SCHED, p_uncond=1.0),
            ValueError,
            "p_uncond",
        ),
        (
            lambda: diff.eps_loss(
                eps_model, torch.zeros(2, 2, dtype=torch.long), SCHED
            ),
            TypeError,
            "floating",
        ),
        (
            lambda: diff.eps_loss(eps_model, torch.zeros(2, 2), SCHED, y=torch.ones(2)),
            TypeError,
            "integers",
        ),
        (lambda: diff.timestep_embedding(torch.zeros(3), 5), ValueError, "even"),
        (lambda: diff.timestep_embedding(torch.zeros(3), 0), ValueError, "dim"),
        (lambda: diff.timestep_embedding(torch.zeros(3, 1), 4), ValueError, "1 dim"),
        (lambda: diff.MLPDenoiser(dim=0), ValueError, "dim"),
        (lambda: diff.MLPDenoiser(depth=1.5), TypeError, "depth"),
        (lambda: diff.MLPDenoiser(emb_dim=3), ValueError, "even"),
        (
            lambda: diff.posterior(SCHED, 10, torch.zeros(2), torch.zeros(2)),
            ValueError,
            "index",
        ),
        (
            lambda: diff.predict_x0(
                torch.zeros(2), torch.zeros(2), torch.tensor(0.5), -1
            ),
            ValueError,
            "clip",
        ),
        (lambda: diff.guided(eps_model, -1.0, 3), ValueError, "w must"),
        (lambda: diff.guided("model", 1.0, 3), TypeError, "callable"),
        (lambda: diff.guided(eps_model, 1.0, None), TypeError, "null_class"),
        (
            lambda: diff.guided_eps(
                eps_model,
                torch.zeros(2, 2),
                torch.zeros(2, dtype=torch.long),
                torch.zeros(2, dtype=torch.long),
                1.0,
                None,
            ),
            TypeError,
            "null_class",
        ),
        (lambda: diff.ddpm_sample(eps_model, (2, 2), SCHED), TypeError, "x_T"),
        (lambda: diff.ddpm_sample(eps_model, torch.zeros(2), SCHED), ValueError, "x_T"),
        (
            lambda: diff.ddpm_sample(
                eps_model, torch.zeros(2, 2), SCHED, y=torch.zeros(3, dtype=torch.long)
            ),
            ValueError,
            "one label per sample",
        ),
        (
            lambda: diff.ddpm_sample(eps_model, torch.zeros(2, 2), SCHED, clip=0.0),
            ValueError,
            "clip",
        ),
        (
            lambda: diff.ddim_sample(eps_model, torch.zeros(2, 2), SCHED, steps=11),
            ValueError,
            "steps",
        ),
        (
            lambda: diff.ddim_sample(eps_model, torch.zeros(2, 2), SCHED, eta=-1.0),
            ValueError,
            "eta",
        ),
        (lambda: diff.ddim_times(10, 0), ValueError, "steps"),
        (lambda: diff.ddim_times(10, 2.0), TypeError, "steps"),
        (
            lambda: diff.fm_loss(eps_model, torch.zeros(2, 2, dtype=torch.long)),
            TypeError,
            "floating",
        ),
        (lambda: diff.fm_sample(eps_model, torch.zeros(2, 2), 0), ValueError, "steps"),
        (lambda: diff.fm_sample(eps_model, [[0.0]], 2), TypeError, "x_T"),
        (lambda: diff.EMA("net"), TypeError, "nn.Module"),
        (lambda: diff.EMA(torch.nn.Linear(2, 2), decay=1.0), ValueError, "decay"),
        (
            lambda: diff.EMA(torch.nn.Linear(2, 2)).update(torch.nn.Identity()),
            ValueError,
            "the model this EMA",
        ),
        (
            lambda: diff.train_denoiser(
                diff.MLPDenoiser(), torch.zeros(4, 2), SCHED, steps=0, progress=False
            ),
            ValueError,
            "steps",
        ),
        (
            lambda: diff.train_denoiser(
                diff.MLPDenoiser(),
                torch.zeros(4, 2),
                SCHED,
                steps=1,
                lr=-1.0,
                progress=False,
            ),
            ValueError,
            "lr",
        ),
        (
            lambda: diff.train_denoiser(
                diff.MLPDenoiser(),
                torch.zeros(4, 2),
                SCHED,
                steps=1,
                y=torch.zeros(3, dtype=torch.long),
                progress=False,
            ),
            ValueError,
            "one label per example",
        ),
        (
            lambda: diff.train_denoiser(
                eps_model, torch.zeros(4, 2), SCHED, steps=1, progress=False
            ),
            TypeError,
            "nn.Module",
        ),
        (
            lambda: diff.train_denoiser(
                diff.MLPDenoiser(), torch.zeros(4, 2), None, steps=1, progress=False
            ),
            TypeError,
            "sched must be",
        ),
        (
            lambda: diff.train_denoiser(
                diff.MLPDenoiser(), torch.zeros(4, 2), None, steps=1, loss_fn="fm"
            ),
            TypeError,
            "loss_fn must be callable",
        ),
        (
            lambda: diff.train_denoiser(
                diff.MLPDenoiser(),
                torch.zeros(4, 2),
                None,
                steps=1,
                y=torch.zeros(4, dtype=torch.long),
                p_uncond=0.1,
                num_classes=1,
                loss_fn=lambda m, x0, y, g: diff.fm_loss(m, x0, g),
            ),
            ValueError,
            "p_uncond",
        ),
    ],
)
def test_bad_input_is_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()
