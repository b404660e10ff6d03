import pytest
import torch

import dlbook
from dlbook.setup import (
    Config,
    ProfileError,
    Session,
    choose_profile,
    config,
    detect_device,
    seed_everything,
)


def test_detect_device_is_cpu_or_accelerator():
    assert detect_device().type in ("cpu", "cuda", "mps")


def test_profile_follows_device_and_env():
    assert choose_profile(torch.device("cpu"), environ={}) == "cpu"
    assert choose_profile(torch.device("cuda"), environ={}) == "gpu"
    assert (
        choose_profile(torch.device("cuda"), environ={"DLBOOK_PROFILE": "smoke"})
        == "smoke"
    )
    assert (
        choose_profile(torch.device("cpu"), environ={"DLBOOK_PROFILE": " GPU "})
        == "gpu"
    )


def test_unknown_profile_is_a_clear_error():
    with pytest.raises(ProfileError, match="smoke, cpu, gpu"):
        choose_profile(torch.device("cpu"), environ={"DLBOOK_PROFILE": "fast"})


def test_config_picks_the_profile(monkeypatch):
    monkeypatch.setenv("DLBOOK_PROFILE", "smoke")
    cfg = config(
        smoke=dict(n=1, epochs=2), cpu=dict(n=10, epochs=3), gpu=dict(n=None, epochs=9)
    )
    assert isinstance(cfg, Config)
    assert (cfg.n, cfg.epochs, cfg.profile) == (1, 2, "smoke")
    assert (
        config(smoke=dict(n=1), cpu=dict(n=10), gpu=dict(n=None), profile="gpu").n
        is None
    )


def test_config_rejects_inconsistent_keys_and_unknown_names():
    with pytest.raises(ProfileError, match="missing"):
        config(smoke=dict(n=1), cpu=dict(n=1, epochs=2), gpu=dict(n=1))
    with pytest.raises(ProfileError, match="unknown profile"):
        config(smoke=dict(n=1), cpu=dict(n=1), gpu=dict(n=1), profile="tpu")
    cfg = config(smoke=dict(n=1), cpu=dict(n=1), gpu=dict(n=1), profile="cpu")
    with pytest.raises(AttributeError, match="has no entry 'epochs'"):
        _ = cfg.epochs
    with pytest.raises(AttributeError, match="read-only"):
        cfg.n = 3


def test_seeding_repeats_exactly():
    seed_everything(3)
    a = torch.randn(5)
    seed_everything(3)
    assert torch.equal(a, torch.randn(5))
    with pytest.raises(ValueError):
        seed_everything(-1)


def test_start_prints_one_banner_line(monkeypatch, capsys):
    monkeypatch.setenv("DLBOOK_PROFILE", "smoke")
    s = dlbook.start(seed=1)
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0] == s.banner
    assert "profile: smoke" in out[0] and f"dlbook {dlbook.__version__}" in out[0]


def test_start_on_cpu_tells_how_to_get_a_gpu(monkeypatch, capsys):
    monkeypatch.setenv("DLBOOK_PROFILE", "cpu")
    monkeypatch.setattr("dlbook.setup.detect_device", lambda: torch.device("cpu"))
    dlbook.start()
    assert "Change runtime type" in capsys.readouterr().out


def test_mixed_precision_type_follows_compute_capability(monkeypatch):
    from dlbook import setup

    assert setup.amp_dtype(torch.device("cpu")) is None
    assert not Session(torch.device("cpu"), "cpu", "cpu", 0).bf16
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    cuda = torch.device("cuda")
    for capability, want in (
        ((9, 0), torch.bfloat16),
        ((8, 0), torch.bfloat16),
        ((7, 5), torch.float16),
        ((6, 1), None),
    ):  # H100, A100, T4, P100
        monkeypatch.setattr(
            torch.cuda, "get_device_capability", lambda d=None, c=capability: c
        )
        session = Session(cuda, "cuda (test)", "gpu", 0)
        assert setup.amp_dtype(cuda) is want and session.amp_dtype is want
        assert session.bf16 is (want is torch.bfloat16)


def test_synchronize_is_a_no_op_on_the_cpu():
    from dlbook import setup

    assert setup.synchronize(torch.device("cpu")) is None


def test_apple_gpus_get_the_cpu_profile_sizes(monkeypatch, capsys):
    from dlbook import setup

    assert choose_profile(torch.device("mps"), environ={}) == "cpu"
    assert choose_profile(torch.device("mps"), environ={"DLBOOK_PROFILE": "gpu"}) == (
        "gpu"
    )
    monkeypatch.delenv("DLBOOK_PROFILE", raising=False)
    monkeypatch.setattr(setup, "detect_device", lambda: torch.device("mps"))
    monkeypatch.setattr(setup, "device_name", lambda d: "mps (Apple GPU)")
    session = dlbook.start()
    assert session.profile == "cpu" and session.device.type == "mps"
    assert "Apple GPU" in capsys.readouterr().out


def test_small_gpus_get_their_own_sizes(monkeypatch):
    from dlbook import setup

    sizes = dict(
        smoke=dict(steps=1, batch=8),
        cpu=dict(steps=10, batch=32),
        gpu=dict(steps=1_000, batch=256),
    )
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for capability, steps in (((9, 0), 1_000), ((8, 6), 1_000), ((7, 5), 400)):
        monkeypatch.setattr(
            torch.cuda, "get_device_capability", lambda d=None, c=capability: c
        )
        cfg = setup.config(
            **sizes, small_gpu=dict(steps=400), profile="gpu", device=cuda
        )
        assert cfg.steps == steps and cfg.batch == 256 and cfg.profile == "gpu"
        assert ("small-GPU" in repr(cfg)) is (steps == 400)
        cpu = setup.config(
            **sizes, small_gpu=dict(steps=400), profile="cpu", device=cuda
        )
        assert cpu.steps == 10
    with pytest.raises(setup.ProfileError, match="unknown"):
        setup.config(**sizes, small_gpu=dict(epochs=1), profile="gpu", device=cuda)
    assert not setup.is_small_gpu(torch.device("cpu"))


def test_config_prints_one_line():
    cfg = dlbook.config(
        smoke=dict(a=1, b=(1, 2)),
        cpu=dict(a=2, b=(3,)),
        gpu=dict(a=3, b=()),
        profile="cpu",
    )
    assert repr(cfg) == "cpu profile: a=2, b=(3,)" and "\n" not in repr(cfg)
