"""Device detection, run profiles, per-profile configuration and seeding.

Every chapter starts with :func:`start`, which finds the best device, picks a
run profile (``smoke``, ``cpu`` or ``gpu``), seeds every random number
generator and prints one banner line. Sizes then come from :func:`config`.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

PROFILES: tuple[str, ...] = ("smoke", "cpu", "gpu")
"""The run profiles, from the cheapest to the full experiment."""

PROFILE_ENV = "DLBOOK_PROFILE"

MPS_NOTE = (
    "Apple GPU: this chapter runs the cpu profile's sizes on the GPU, in float32 "
    "(set DLBOOK_PROFILE=gpu for the full experiment, which takes much longer)."
)

SMALL_GPU_NOTE = (
    "GPU of compute capability < 8 (e.g. a T4): float16 with a gradient scaler; "
    "chapters that would exceed ~10 minutes here use smaller gpu sizes."
)

COLAB_HINT = (
    "No GPU found: this chapter runs its reduced `cpu` profile. For the full "
    "experiment open it in Colab and choose Runtime > Change runtime type > GPU."
)


class ProfileError(ValueError):
    """An unknown run profile or an inconsistent :func:`config` call."""


def detect_device() -> torch.device:
    """Return the best available device: CUDA, then Apple MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def device_name(device: torch.device) -> str:
    """A human-readable name for ``device``, e.g. ``cuda (NVIDIA H100)``."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    n = torch.get_num_threads()
    return f"cpu ({n} thread{'s' if n != 1 else ''})"


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """The mixed-precision type worth using on ``device``; ``None`` for float32.

    - ``torch.bfloat16`` on CUDA GPUs of compute capability 8.0 or newer (A100,
      L4, H100, ...): as fast as float16, with float32's range, so no loss scaling.
    - ``torch.float16`` on compute capability 7.x (V100, Colab's T4): their
      tensor cores compute in float16 only (bfloat16 would be emulated, slower
      than float32); small gradients underflow in float16, so training needs a
      gradient scaler (:func:`dlbook.train.fit` brings one).
    - ``None`` on the CPU, Apple GPUs and older CUDA GPUs.
    """
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    major, _ = torch.cuda.get_device_capability(device)
    return torch.bfloat16 if major >= 8 else torch.float16 if major == 7 else None


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes in bfloat16 natively (CUDA capability 8.0+)."""
    return amp_dtype(device) is torch.bfloat16


def synchronize(device: torch.device) -> None:
    """Wait until ``device`` has finished its queued work; call before reading a clock.

    GPUs run asynchronously: without this, a timer measures only how long it
    took to *queue* the kernels. A no-op on the CPU.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def choose_profile(
    device: torch.device | None = None, environ: Mapping[str, str] | None = None
) -> str:
    """Pick the run profile.

    ``$DLBOOK_PROFILE`` wins when it is set; otherwise a CUDA GPU gives ``gpu``
    and anything else ``cpu``. An Apple GPU (MPS) gets the ``cpu`` profile's
    sizes, run on the GPU: it trains in float32 (no fast 16-bit autocast
    path), where the gpu profile would take tens of minutes in chapters 7
    and 14 (see :data:`MPS_NOTE`).

    Raises:
        ProfileError: if ``$DLBOOK_PROFILE`` names no known profile.
    """
    environ = os.environ if environ is None else environ
    forced = environ.get(PROFILE_ENV, "").strip().lower()
    if forced:
        if forced not in PROFILES:
            raise ProfileError(
                f"{PROFILE_ENV}={forced!r} is not a run profile; use one of "
                f"{', '.join(PROFILES)} "
                f"or unset it to let the device decide."
            )
        return forced
    device = detect_device() if device is None else device
    return "gpu" if device.type == "cuda" else "cpu"


def is_small_gpu(device: torch.device) -> bool:
    """Whether ``device`` is a CUDA GPU of compute capability below 8.0 (T4, V100).

    Such GPUs have no native bfloat16 and a fraction of an H100's throughput
    (a T4: 65 TFLOP/s float16 peak against 989 for an H100's bfloat16), so a
    chapter may give them smaller gpu sizes with ``config(small_gpu=...)``.
    """
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    return torch.cuda.get_device_capability(device)[0] < 8


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch (all devices) so a run repeats exactly."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Config(dict):
    """The sizes a chapter uses under the active profile, readable as attributes.

    ``cfg.epochs`` and ``cfg["epochs"]`` are the same; ``cfg.profile`` names the
    profile the values came from.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"this config has no entry {name!r}; it has {', '.join(sorted(self))}"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            "a Config is read-only: change the values in the dlbook.config(...) call"
        )

    def __repr__(self) -> str:
        # One compact line on the page (a 9-23-line dict dump teaches nothing).
        items = ", ".join(f"{k}={v!r}" for k, v in self.items() if k != "profile")
        sizes = self.__dict__.get("_sizes", f"{self.get('profile', '?')} profile")
        return f"{sizes}: {items}"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))


def config(
    smoke: Mapping[str, Any],
    cpu: Mapping[str, Any],
    gpu: Mapping[str, Any],
    *,
    small_gpu: Mapping[str, Any] | None = None,
    profile: str | None = None,
    device: torch.device | None = None,
) -> Config:
    """Return the sizes of the active profile.

    Args:
        smoke, cpu, gpu: one mapping per profile with the same keys, e.g.
            ``dict(n_train=2_000, epochs=1)``.
        small_gpu: some of the gpu keys with smaller values, used instead under
            the gpu profile on a CUDA GPU of compute capability < 8 (a T4),
            where the full sizes would take over ~10 minutes (see
            :func:`is_small_gpu`).
        profile: force a profile; by default :func:`choose_profile` decides.
        device: the device the sizes are for (default: :func:`detect_device`).

    Returns:
        A :class:`Config` with the chosen mapping's entries plus ``profile``.

    Raises:
        ProfileError: if the three mappings have different keys, or the
            profile is unknown.
    """
    table = {"smoke": dict(smoke), "cpu": dict(cpu), "gpu": dict(gpu)}
    keys = {name: set(values) for name, values in table.items()}
    if not keys["smoke"] == keys["cpu"] == keys["gpu"]:
        every = set().union(*keys.values())
        missing = {name: sorted(every - k) for name, k in keys.items() if every - k}
        raise ProfileError(f"every profile must set the same keys; missing: {missing}")
    if "profile" in keys["smoke"]:
        raise ProfileError(
            "'profile' is set by dlbook.config itself; choose another key name"
        )
    chosen = choose_profile() if profile is None else profile
    if chosen not in PROFILES:
        raise ProfileError(
            f"unknown profile {chosen!r}; use one of {', '.join(PROFILES)}"
        )
    values = table[chosen]
    if small_gpu is not None:
        extra = set(small_gpu) - keys["gpu"]
        if extra:
            raise ProfileError(
                f"small_gpu may only shrink gpu keys; unknown: {sorted(extra)}"
            )
        if chosen == "gpu" and is_small_gpu(device or detect_device()):
            values = {**values, **small_gpu}
            chosen_sizes = "gpu profile, small-GPU sizes"
    cfg = Config(values)
    dict.__setitem__(cfg, "profile", chosen)
    if values is not table[chosen]:
        object.__setattr__(cfg, "_sizes", chosen_sizes)
    return cfg


@dataclass(frozen=True)
class Session:
    """What :func:`start` found: the device, its name and the run profile."""

    device: torch.device
    device_name: str
    profile: str
    seed: int

    @property
    def banner(self) -> str:
        from dlbook import __version__

        return (
            f"device: {self.device_name} · profile: {self.profile} "
            f"· dlbook {__version__}"
        )

    @property
    def bf16(self) -> bool:
        """Whether this GPU computes bfloat16 natively (see :func:`amp_dtype`).

        Training loops choose their precision with :class:`dlbook.train.Precision`,
        which also covers float16 on older GPUs; this flag is informational.
        """
        return native_bf16(self.device)

    @property
    def amp_dtype(self) -> torch.dtype | None:
        """This device's mixed-precision type (:func:`amp_dtype`); None: float32."""
        return amp_dtype(self.device)


def start(seed: int = 0, *, quiet: bool = False) -> Session:
    """Set up a chapter: find the device, choose the profile, seed, print a banner.

    Args:
        seed: the seed for Python, NumPy and PyTorch.
        quiet: do not print the banner.

    Returns:
        The :class:`Session`; ``session.device`` is where tensors should go.
    """
    from dlbook.report import report

    device = detect_device()
    session = Session(device, device_name(device), choose_profile(device), seed)
    seed_everything(seed)
    if not quiet:
        print(session.banner)
        if device.type == "cpu" and session.profile != "smoke":
            print(COLAB_HINT)
        elif device.type == "mps" and session.profile == "cpu":
            print(MPS_NOTE)
        elif session.profile == "gpu" and is_small_gpu(device):
            print(SMALL_GPU_NOTE)
    report("device", session.device_name, show=False)
    report("profile", session.profile, show=False)
    return session
