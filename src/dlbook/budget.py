"""How long the gpu profile takes on an H100 and on a T4, estimated from counted FLOPs.

No GPU is needed: the FLOPs of one forward and backward pass of each model a
chapter trains at its gpu sizes are counted with
:class:`torch.utils.flop_counter.FlopCounterMode` on the CPU, multiplied by
the number of examples the chapter pushes through it, and divided by a stated
fraction of each GPU's peak. Each step also pays a fixed overhead for
launching its kernels from Python, which dominates for small models.

``python -m dlbook.budget --markdown bench/budget.md`` writes the table and
the arithmetic; the assumptions are the constants below.
"""

from __future__ import annotations

import argparse
import ast
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Gpu:
    """A GPU's peak 16-bit tensor throughput and what the book's small models get."""

    name: str
    peak: float  # FLOP/s, dense 16-bit tensor cores, from the vendor's data sheet
    utilisation: float  # fraction of the peak a small, un-tuned model reaches
    step_overhead: float  # seconds per training or sampling step (kernel launches)


# Peaks: NVIDIA's data sheets. H100 SXM: 989 TFLOP/s dense bf16; T4: 65
# TFLOP/s fp16 with tensor cores, 8.1 TFLOP/s fp32. The book's models are
# small (28x28 images, widths up to 512), so they reach a modest fraction of
# the tensor-core peak: we assume 15 % on both (the T4 also throttles at 70 W),
# and half of the T4's fp32 peak, which needs no tensor cores. Each step pays
# ~300 kernel launches: ~3 ms on an H100, ~5 ms on a T4.
H100 = Gpu("H100 bf16", 989e12, 0.15, 0.003)
T4 = Gpu("T4 fp16", 65e12, 0.15, 0.005)
T4_FP32 = Gpu("T4 fp32", 8.1e12, 0.5, 0.005)
GPUS = (H100, T4, T4_FP32)


def train_flops(model: nn.Module, *inputs: torch.Tensor) -> float:
    """FLOPs of one forward and backward pass of ``model`` on ``inputs`` (one batch)."""
    model = model.train()
    with FlopCounterMode(display=False) as counter:
        out = model(*inputs)
        out = out[0] if isinstance(out, tuple) else out
        out.float().sum().backward()
    return float(counter.get_total_flops())


@torch.no_grad()
def forward_flops(model: nn.Module, *inputs: torch.Tensor) -> float:
    """FLOPs of one forward pass of ``model`` on ``inputs`` (one batch)."""
    model = model.eval()
    with FlopCounterMode(display=False) as counter:
        model(*inputs)
    return float(counter.get_total_flops())


@dataclass
class Work:
    """One stage of a chapter: ``steps`` passes of ``flops_per_step`` each."""

    name: str
    flops_per_step: float
    steps: int

    @property
    def flops(self) -> float:
        return self.flops_per_step * self.steps

    def seconds(self, gpu: Gpu) -> float:
        return (
            self.flops / (gpu.peak * gpu.utilisation) + self.steps * gpu.step_overhead
        )


def chapter_config(chapter: str | Path, profile: str = "gpu", small: bool = False):
    """The sizes of ``chapter``'s ``dlbook.config(...)`` call under ``profile``.

    ``small`` applies the call's ``small_gpu=`` mapping (GPUs of compute
    capability < 8). The call is read from the source, not run.
    """
    path = Path(chapter)
    if not path.is_absolute() and not path.exists():
        path = ROOT / "chapters" / path
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "config"
        ):
            kw = {k.arg: k.value for k in node.keywords}
            env = {"dict": dict, "None": None, "__builtins__": {}}
            values = eval(compile(ast.Expression(kw[profile]), str(path), "eval"), env)
            if small and "small_gpu" in kw:
                small_values = ast.Expression(kw["small_gpu"])
                values.update(eval(compile(small_values, str(path), "eval"), env))
            return values
    raise ValueError(f"{path.name} has no dlbook.config(...) call")


def _n(value: int | None, full: int) -> int:
    return full if value is None else value


def ch07(cfg: dict) -> list[Work]:
    """Chapter 7 at its gpu sizes: every network it trains."""
    from dlbook import cnn

    x = torch.zeros(8, 1, 28, 28)

    def stage(name, model, n, epochs, batch, copies=1, inputs=x):
        per_example = train_flops(model, inputs) / len(inputs)
        steps = copies * math.ceil(_n(n, 60_000) * epochs / batch)
        return Work(name, per_example * batch, steps)

    b = cfg["fast_batch"]
    widths = tuple(cfg["fast_widths"])
    rgb = torch.zeros(8, 3, 32, 32)  # CIFAR-10, or its Fashion-MNIST stand-in
    return [
        stage("LeNet-5", cnn.LeNet5(), cfg["n_lenet"], cfg["lenet_epochs"], 256),
        stage(
            "plain and residual depth nets (3)",
            cnn.DepthNet(cfg["depth_blocks"], residual=True, width=8),
            cfg["n_depth"],
            cfg["depth_epochs"],
            128,
            copies=3,
        ),
        stage(
            "fast ResNet", cnn.SmallResNet(widths), cfg["n_fast"], cfg["fast_epochs"], b
        ),
        stage(
            "ablation (5 rows)",
            cnn.SmallResNet(tuple(cfg["abl_widths"])),
            cfg["n_abl"],
            cfg["abl_epochs"],
            b,
            copies=5,
        ),
        stage(
            "32x32 RGB ResNet",
            cnn.SmallResNet(widths, in_channels=3),
            cfg["n_cifar"],
            cfg["cifar_epochs"],
            b,
            inputs=rgb,
        ),
        stage(
            "ensemble (3 members)",
            cnn.SmallResNet(tuple(cfg["ens_widths"])),
            cfg["n_ens"],
            cfg["ens_epochs"],
            b,
            copies=3,
        ),
    ]


def ch14(cfg: dict) -> list[Work]:
    """Chapter 14 at its gpu sizes: the U-Net's training and its samplers."""
    from dlbook.unet import UNet

    unet = UNet(1, tuple(cfg["channels"]), num_classes=10, patch=cfg["patch"])
    x = torch.zeros(4, 1, 28, 28)
    t = torch.zeros(4, dtype=torch.long)
    y = torch.zeros(4, dtype=torch.long)
    per_train = train_flops(unet, x, t, y) / 4
    per_fwd = forward_flops(unet, x, t, y) / 4
    b = cfg["batch"]
    grid = 10 * cfg["n_per_class"]
    return [
        Work("U-Net training", per_train * b, cfg["img_steps"]),
        Work("DDPM sampling, 24 images", per_fwd * 24, cfg["T"]),
        Work("DDIM sampling, 24 images, twice", per_fwd * 24, 2 * cfg["ddim_steps"]),
        # w = 0 and w = cfg.w; guidance evaluates the conditional and the
        # unconditional prediction in one batch of twice the size
        Work("DDIM per class, w = 0 and w", per_fwd * 2 * grid, 2 * cfg["ddim_steps"]),
    ]


ESTIMATES: dict[str, Callable[[dict], list[Work]]] = {
    "07_cnn_architectures.py": ch07,
    "14_diffusion.py": ch14,
}


def estimate(chapter: str, small: bool = False) -> list[Work]:
    """The stages of ``chapter`` at its gpu (or small-GPU) sizes."""
    return ESTIMATES[chapter](chapter_config(chapter, "gpu", small=small))


def markdown() -> str:
    """The budget table with its arithmetic, as Markdown."""
    lines = [
        "# gpu-profile budget, estimated from counted FLOPs",
        "",
        "Written by `python -m dlbook.budget`; assumptions in `src/dlbook/budget.py`:",
        "",
    ]
    for g in GPUS:
        lines.append(
            f"- {g.name}: peak {g.peak / 1e12:.1f} TFLOP/s (data sheet), "
            f"{g.utilisation:.0%} of it reached, {g.step_overhead * 1e3:.0f} ms "
            "overhead per step"
        )
    lines += [
        "",
        "seconds = FLOPs / (peak x utilisation) + steps x overhead. The T4 fp32",
        "column is what a T4 took before the one mixed-precision rule",
        "(`dlbook.train.Precision`), when chapters 10 (GPT), 12, 13 and 14",
        "trained in float32 there; chapter 7 already used fp16.",
        "",
    ]
    for chapter in ESTIMATES:
        has_small = chapter_config(chapter, "gpu", small=True) != chapter_config(
            chapter, "gpu"
        )
        for small in (False, True) if has_small else (False,):
            title = "small-GPU sizes" if small else "gpu sizes"
            work = estimate(chapter, small)
            lines += [
                f"## {chapter} ({title})",
                "",
                "| stage | GFLOP per step | steps | TFLOP | "
                + " | ".join(f"{g.name} s" for g in GPUS)
                + " |",
                "|---|---:|---:|---:|" + "---:|" * len(GPUS),
            ]
            for w in work:
                lines.append(
                    f"| {w.name} | {w.flops_per_step / 1e9:,.1f} | {w.steps:,} "
                    f"| {w.flops / 1e12:,.1f} | "
                    + " | ".join(f"{w.seconds(g):,.0f}" for g in GPUS)
                    + " |"
                )
            tot = [sum(w.seconds(g) for w in work) for g in GPUS]
            lines += [
                f"| **total** | | | {sum(w.flops for w in work) / 1e12:,.1f} | "
                + " | ".join(f"**{t:,.0f}** ({t / 60:.1f} min)" for t in tot)
                + " |",
                "",
            ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dlbook.budget", description=__doc__
    )
    parser.add_argument("--markdown", type=Path, help="write the table here")
    args = parser.parse_args(argv)
    text = markdown()
    if args.markdown:
        args.markdown.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
