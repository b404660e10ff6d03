"""Before/after measurements of the book's speed choices.

Usage::

    python -m dlbook.speed --json bench/speed/<machine>.json

Each measurement times two or more ways of doing the same training work in
one process, one after the other, on the same machine:

- *input pipeline*: a ``DataLoader`` over a ``TensorDataset`` (0 and 2
  workers) against :class:`dlbook.data.Batches`, which keeps the whole set on
  the device and draws each epoch's order there;
- *torch.compile*: the compile time of a small CNN's training step against
  the time it saves per step, giving the number of steps after which it pays;
- *mixed precision and channels_last* (CUDA only): milliseconds per training
  step of the chapter-7 ResNet in float32, with autocast (bf16; fp16 on compute
  capability 7.x), and with autocast and channels_last memory layout.

The records end up in the book's appendix (:func:`render_speed`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dlbook.data import Batches, load_fashion_mnist, subset, to_float
from dlbook.setup import amp_dtype, detect_device, device_name, synchronize


def _mlp() -> nn.Module:
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)
    )


def _small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, 10),
    )


def _epoch_seconds(batches: Any, device: torch.device, epochs: int) -> float:
    """Seconds per epoch of SGD on the MLP over ``batches`` (after a warm-up epoch)."""
    torch.manual_seed(0)
    model = _mlp().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    times = []
    for _ in range(epochs + 1):
        synchronize(device)
        t0 = time.perf_counter()
        for xb, yb in batches:
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        synchronize(device)
        times.append(time.perf_counter() - t0)
    return min(times[1:])


def loader_vs_batches(
    n: int = 20_000,
    *,
    batch_size: int = 128,
    epochs: int = 2,
    device: torch.device | None = None,
) -> list[dict[str, Any]]:
    """One epoch of the same MLP fed three ways; seconds per epoch and examples/s.

    Args:
        n: Fashion-MNIST training images used (class-balanced subset).
        batch_size: examples per step.
        epochs: timed epochs per variant (the fastest counts), after one warm-up epoch.
        device: where the model trains (default: the detected device).
    """
    if n < batch_size:
        raise ValueError(f"n ({n}) must be at least batch_size ({batch_size})")
    device = device or detect_device()
    ds = subset(load_fashion_mnist("train"), n)
    x, y = to_float(ds.x), ds.y  # (n, 1, 28, 28), (n,)
    variants: dict[str, Callable[[], Any]] = {
        "DataLoader, 0 workers": lambda: torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(x, y),
            batch_size=batch_size,
            shuffle=True,
            num_workers=0,
        ),
        "DataLoader, 2 workers": lambda: torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(x, y),
            batch_size=batch_size,
            shuffle=True,
            num_workers=2,
            persistent_workers=True,
            pin_memory=device.type == "cuda",
        ),
        "dlbook.data.Batches (on the device)": lambda: Batches(
            x, y, batch_size=batch_size, device=device
        ),
    }
    out = []
    for name, make in variants.items():
        secs = _epoch_seconds(make(), device, epochs)
        out.append(
            {
                "choice": "input pipeline (MLP, Fashion-MNIST)",
                "variant": name,
                "value": round(secs, 3),
                "unit": "s/epoch",
                "examples_per_s": round(n / secs),
            }
        )
    return out


def _step_ms(step: Callable[[], None], device: torch.device, steps: int) -> float:
    for _ in range(3):  # warm-up
        step()
    synchronize(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return 1000 * (time.perf_counter() - t0) / steps


def _train_step(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    autocast: torch.dtype | None = None,
) -> Callable[[], None]:
    def step() -> None:
        with torch.autocast(
            x.device.type, dtype=autocast, enabled=autocast is not None
        ):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def compile_payback(
    *, steps: int = 100, batch_size: int = 128, device: torch.device | None = None
) -> list[dict[str, Any]]:
    """Compile time of a small CNN's training step and the steps it needs to pay back.

    Returns records for the eager and compiled step times, the compile time
    and the break-even number of steps (``inf`` when compiling does not speed
    the step up).
    """
    device = device or detect_device()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch_size, 1, 28, 28, generator=g).to(device)
    y = torch.randint(0, 10, (batch_size,), generator=g).to(device)
    choice = "torch.compile (small CNN training step)"
    torch.manual_seed(0)
    model = _small_cnn().to(device)
    eager = _step_ms(
        _train_step(model, torch.optim.SGD(model.parameters(), lr=0.01), x, y),
        device,
        steps,
    )
    torch.manual_seed(0)
    model = _small_cnn().to(device)
    compiled = torch.compile(model)
    step = _train_step(compiled, torch.optim.SGD(model.parameters(), lr=0.01), x, y)
    t0 = time.perf_counter()
    try:
        step()
    except Exception as err:  # no C++ compiler, unsupported platform...
        return [
            {
                "choice": choice,
                "variant": "compiled",
                "value": None,
                "unit": "ms/step",
                "note": f"compile failed: {type(err).__name__}",
            }
        ]
    synchronize(device)
    compile_s = time.perf_counter() - t0
    fast = _step_ms(step, device, steps)
    saved = eager - fast
    breakeven = compile_s * 1000 / saved if saved > 0 else float("inf")
    return [
        {
            "choice": choice,
            "variant": "eager",
            "value": round(eager, 2),
            "unit": "ms/step",
        },
        {
            "choice": choice,
            "variant": "compiled",
            "value": round(fast, 2),
            "unit": "ms/step",
        },
        {
            "choice": choice,
            "variant": "compile time (first step)",
            "value": round(compile_s, 1),
            "unit": "s",
        },
        {
            "choice": choice,
            "variant": "steps to pay back the compile time",
            "value": round(breakeven)
            if breakeven != float("inf")
            else "never (the compiled step is not faster)",
            "unit": "steps" if breakeven != float("inf") else "",
        },
    ]


def precision_and_layout(
    *, steps: int = 30, batch_size: int = 512, device: torch.device | None = None
) -> list[dict[str, Any]]:
    """Milliseconds per training step of the chapter-7 ResNet.

    Measured in float32, under autocast, and under autocast with channels_last.

    The autocast type is the one the chapters use on this GPU
    (:func:`dlbook.setup.amp_dtype`:
    bfloat16, or float16 on compute capability 7.x). CUDA only: on other devices
    the chapters switch these choices off, and ``[]`` is returned.
    """
    from dlbook.cnn import SmallResNet

    device = device or detect_device()
    low = amp_dtype(device)
    if device.type != "cuda" or low is None:
        return []
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch_size, 1, 28, 28, generator=g).to(device)
    y = torch.randint(0, 10, (batch_size,), generator=g).to(device)
    out = []
    short = {torch.bfloat16: "bf16", torch.float16: "fp16"}[low]
    for name, dtype, cl in (
        ("float32", None, False),
        (f"{short} autocast", low, False),
        (f"{short} autocast + channels_last", low, True),
    ):
        torch.manual_seed(0)
        model = SmallResNet((64, 128, 256, 512)).to(device)
        xb = x
        if cl:
            model, xb = (
                model.to(memory_format=torch.channels_last),
                x.contiguous(memory_format=torch.channels_last),
            )
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
        ms = _step_ms(_train_step(model, opt, xb, y, autocast=dtype), device, steps)
        out.append(
            {
                "choice": f"precision and memory layout (ResNet-9, batch {batch_size})",
                "variant": name,
                "value": round(ms, 2),
                "unit": "ms/step",
            }
        )
    return out


def measure_all(
    *, device: torch.device | None = None, n: int = 20_000
) -> dict[str, Any]:
    """Run every measurement that applies to ``device``.

    Returns one record with the machine, the date and the versions.
    """
    device = device or detect_device()
    rows = (
        loader_vs_batches(n, device=device)
        + compile_payback(device=device)
        + precision_and_layout(device=device)
    )
    return {
        "device": device_name(device),
        "host": f"{platform.node()} ({platform.machine()}, {os.cpu_count()} cores)",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "measurements": rows,
    }


def load_speed(paths: Sequence[str | os.PathLike]) -> list[dict[str, Any]]:
    """Read speed records written by ``python -m dlbook.speed --json``."""
    records = []
    for p in paths:
        rec = json.loads(Path(p).read_text(encoding="utf-8"))
        if not isinstance(rec, dict) or "measurements" not in rec:
            raise ValueError(
                f"{p} is not a speed record "
                "(write it with python -m dlbook.speed --json)"
            )
        records.append(rec)
    return records


def render_speed(records: Sequence[dict[str, Any]]) -> str:
    """Markdown: one table per record (machine), one row per measured variant."""
    out = []
    for rec in records:
        out.append(
            f"\n### {rec['device']} on {rec['host']}, {rec['date'][:10]} "
            f"(torch {rec['torch']})\n"
        )
        out.append("| choice | variant | measured |")
        out.append("|---|---|---:|")
        for m in rec["measurements"]:
            value = "—" if m["value"] is None else m["value"]
            extra = (
                f" ({m['examples_per_s']:,} examples/s)"
                if "examples_per_s" in m
                else ""
            )
            note = f" — {m['note']}" if m.get("note") else ""
            measured = f"{value} {m['unit']}".strip()
            out.append(f"| {m['choice']} | {m['variant']} | {measured}{extra}{note} |")
        out.append("")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dlbook.speed", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--json", required=True, help="where to write the record")
    parser.add_argument(
        "--n",
        type=int,
        default=20_000,
        help="training images for the input-pipeline test",
    )
    args = parser.parse_args(argv)
    rec = measure_all(n=args.n)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(rec, indent=2) + "\n", encoding="utf-8")
    print(render_speed([rec]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
