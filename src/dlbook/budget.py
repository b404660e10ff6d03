"""How long the gpu profile takes on an H100 and on a T4, estimated from counted work.

No GPU is needed. For every model a chapter trains at its gpu sizes, one
training step (forward, backward, optimizer update) is run on the CPU under
:class:`torch.utils.flop_counter.FlopCounterMode`, which counts its FLOPs, and
under a dispatch mode that counts the ATen operations it launches. A stage of
the chapter is that step repeated ``steps`` times; its time on a GPU is

    seconds = steps x (FLOPs per step / (peak x utilisation) + ops per step x launch)

the first term for the arithmetic, the second for the host's cost of
launching each kernel from eager PyTorch, which dominates for the book's small
models. Sections that run on the CPU under every profile (the scalar engine,
small float64 experiments; see ``CPU_SIDE``) keep their cpu-profile sizes, and
their cost is bounded by the chapter's measured cpu-profile wall time on the
2-core machine of ``bench/cpu.json`` (an upper bound: that run also holds the
GPU stages, done on the CPU).

``python -m dlbook.budget --markdown bench/budget.md`` writes the table and
the arithmetic; the assumptions are the constants below.
"""

from __future__ import annotations

import argparse
import ast
import functools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Gpu:
    """A GPU's peak 16-bit tensor throughput and what the book's small models get."""

    name: str
    peak: float  # FLOP/s, dense 16-bit tensor cores, from the vendor's data sheet
    utilisation: float  # fraction of the peak a small, un-tuned model reaches
    launch: float  # seconds of host time per ATen operation launched (eager mode)
    fp32_peak: float = 0.0  # FLOP/s in float32 (no tensor cores), for fp32 stages
    fp32_utilisation: float = 0.5  # simple fp32 kernels reach more of their peak


# Peaks: NVIDIA's data sheets. H100 SXM: 989 TFLOP/s dense bf16; T4: 65
# TFLOP/s fp16 with tensor cores, 8.1 TFLOP/s fp32. The book's models are
# small (28x28 images, widths up to 512), so they reach a modest fraction of
# the tensor-core peak: we assume 15 % on both (the T4 also throttles at 70 W),
# and, for the stages that train in float32 (``fit`` without ``amp=True``):
# on an H100 cuDNN runs float32 convolutions on TF32 tensor cores by default
# (494 TFLOP/s dense; the same 15 %); a T4 has no TF32 and reaches half of its
# 8.1 TFLOP/s fp32 peak. (The book's float32 matrix products are small MLPs,
# bound by launches, not FLOPs.) Eager PyTorch spends ~5-10 us of host time
# per operation it dispatches; we assume 10 us on an H100 machine and 15 us
# on Colab's slower host CPU of a T4.
H100 = Gpu("H100 bf16", 989e12, 0.15, 10e-6, fp32_peak=494e12, fp32_utilisation=0.15)
T4 = Gpu("T4 fp16", 65e12, 0.15, 15e-6, fp32_peak=8.1e12)
T4_FP32 = Gpu("T4 fp32", 8.1e12, 0.5, 15e-6, fp32_peak=8.1e12)
GPUS = (H100, T4, T4_FP32)
LIMITS = {H100.name: 180.0, T4.name: 600.0}  # the budgets (DESIGN.md, issue 18)


class _OpCounter(TorchDispatchMode):
    """Counts the ATen operations dispatched (roughly, the kernels launched)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops += 1
        return func(*args, **(kwargs or {}))


def count(fn: Callable[[], object]) -> tuple[float, int]:
    """FLOPs and ATen operations of one call of ``fn``."""
    with FlopCounterMode(display=False) as flops, _OpCounter() as ops:
        fn()
    return float(flops.get_total_flops()), ops.ops


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


@dataclass(frozen=True)
class Cost:
    """What one step of a model costs: FLOPs per example and operations per step."""

    flops: float  # per example in the batch
    ops: int  # per step, whatever the batch size


def train_cost(model: nn.Module, *inputs: torch.Tensor, adam: bool = True) -> Cost:
    """One training step of ``model`` on a small batch ``inputs``.

    Forward, a loss, backward and an optimizer update (Adam with ``foreach``
    kernels, as PyTorch picks on a GPU; plain SGD when ``adam`` is false).
    """
    model = model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = (
        torch.optim.Adam(params, foreach=True)
        if adam
        else torch.optim.SGD(params, lr=0.0, foreach=True)
    )

    def step():
        out = model(*inputs)
        out = out[0] if isinstance(out, tuple) else out
        out.float().square().mean().backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()  # optimizer state is created on the first step: count a later one
    flops, ops = count(step)
    return Cost(flops / len(inputs[0]), ops)


def forward_cost(model: nn.Module, *inputs: torch.Tensor) -> Cost:
    """One forward pass of ``model`` on ``inputs`` without gradients."""
    model = model.eval()
    with torch.no_grad():
        flops, ops = count(lambda: model(*inputs))
    return Cost(flops / len(inputs[0]), ops)


@dataclass
class Work:
    """One stage of a chapter: ``steps`` passes of ``flops_per_step`` each.

    ``cpu_seconds`` marks a stage that runs on the CPU under every profile:
    its time is that number on any machine (``flops_per_step`` is then 0).
    ``fp32`` marks a stage that trains in float32 on a GPU too.
    """

    name: str
    flops_per_step: float
    steps: int
    ops_per_step: int = 300
    cpu_seconds: float | None = None
    fp32: bool = False

    @property
    def flops(self) -> float:
        return self.flops_per_step * self.steps

    def seconds(self, gpu: Gpu) -> float:
        if self.cpu_seconds is not None:
            return self.cpu_seconds
        rate = (
            gpu.fp32_peak * gpu.fp32_utilisation
            if self.fp32
            else gpu.peak * gpu.utilisation
        )
        per_step = self.flops_per_step / rate + self.ops_per_step * gpu.launch
        return self.steps * per_step


def stage(
    name: str,
    cost: Cost,
    n: int,
    epochs: float,
    batch: int,
    copies: int = 1,
    fp32: bool = True,
) -> Work:
    """``copies`` trainings of ``epochs`` passes over ``n`` examples in batches.

    ``fp32``: the stage trains in float32 (as ``fit`` does unless ``amp=True``).
    """
    steps = copies * math.ceil(n * epochs / batch)
    return Work(name, cost.flops * batch, steps, cost.ops, fp32=fp32)


def steps_stage(
    name: str, cost: Cost, steps: int, batch: int, copies: int = 1, fp32: bool = True
) -> Work:
    """``copies`` trainings of ``steps`` steps of ``batch`` examples."""
    return Work(name, cost.flops * batch, copies * steps, cost.ops, fp32=fp32)


def cpu_stage(chapter: str, what: str) -> Work:
    """The chapter's sections that stay on the CPU, bounded by its cpu-profile run."""
    bench = ROOT / "bench" / "cpu.json"
    records = json.loads(bench.read_text(encoding="utf-8")) if bench.exists() else []
    wall = [r["wall_s"] for r in records if r["chapter"] == Path(chapter).stem]
    if not wall:
        raise ValueError(
            f"{chapter} has no record in {bench}: run `make bench PROFILE=cpu` first"
        )
    return Work(f"on the CPU in every profile: {what} (bound)", 0.0, 0, 0, wall[-1])


def _simple_assignments(tree: ast.Module) -> list[ast.stmt]:
    """Top-level ``NAME = dict(...)`` and ``NAME.update(...)`` statements."""
    keep = []
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Call)
            and getattr(node.value.func, "id", "") == "dict"
        ):
            keep.append(node)
        elif (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute)
            and node.value.func.attr == "update"
            and isinstance(node.value.func.value, ast.Name)
        ):
            keep.append(node)
    return keep


def chapter_config(chapter: str | Path, profile: str = "gpu", small: bool = False):
    """The sizes of ``chapter``'s ``dlbook.config(...)`` call under ``profile``.

    ``small`` applies the call's ``small_gpu=`` mapping (GPUs of compute
    capability < 8). The call is read from the source, not run; a profile may
    name a ``dict(...)`` assigned (and updated) earlier at the top level.
    """
    path = Path(chapter)
    if not path.is_absolute() and not path.exists():
        path = ROOT / "chapters" / path
    tree = ast.parse(path.read_text(encoding="utf-8"))
    env = {"dict": dict, "None": None, "__builtins__": {}}
    for node in _simple_assignments(tree):
        try:  # only literal dicts can be evaluated; others are not sizes
            exec(compile(ast.Module([node], []), str(path), "exec"), env)
        except (NameError, AttributeError, TypeError):
            continue
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "config"
        ):
            kw = {k.arg: k.value for k in node.keywords}
            code = compile(ast.Expression(kw[profile]), str(path), "eval")
            values = dict(eval(code, env))
            if small and "small_gpu" in kw:
                small_values = ast.Expression(kw["small_gpu"])
                values.update(eval(compile(small_values, str(path), "eval"), env))
            return values
    raise ValueError(f"{path.name} has no dlbook.config(...) call")


def _n(value: int | None, full: int) -> int:
    return full if value is None else value


def _mlp(*sizes: int, act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Linear layers of these widths with ``act`` between (a chapter's plain MLP)."""
    layers: list[nn.Module] = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Linear(a, b), act()]
    return nn.Sequential(*layers[:-1])


def _img(n: int = 8, c: int = 1, side: int = 28) -> torch.Tensor:
    return torch.zeros(n, c, side, side)


def _flat(n: int = 8, d: int = 784) -> torch.Tensor:
    return torch.zeros(n, d)


FASHION = 60_000  # Fashion-MNIST training images
TRAIN = FASHION * 5 // 6  # after a sixth is held out for validation


def ch00(cfg: dict) -> list[Work]:
    """Chapter 0 trains nothing: it loads and shows the data sets."""
    return [cpu_stage("00_setup.py", "loading and showing the data sets")]


def ch01(cfg: dict) -> list[Work]:
    """Chapter 1: softmax regression on the GPU; logistic regression on the CPU."""
    n = _n(cfg["n_softmax"], FASHION) * 5 // 6
    softmax = train_cost(nn.Linear(784, 10), _flat())
    return [
        stage("softmax regression", softmax, n, cfg["softmax_epochs"], 128),
        cpu_stage("01_perceptron.py", "perceptron, LDA, logistic regression by GD/SGD"),
    ]


def ch02(cfg: dict) -> list[Work]:
    """Chapter 2 is the scalar engine: CPU work at the same sizes in every profile."""
    return [cpu_stage("02_autodiff.py", "the scalar engine and its experiments")]


def ch03(cfg: dict) -> list[Work]:
    """Chapter 3: the Fashion-MNIST MLP and the activation comparison."""
    mlp = train_cost(_mlp(784, *cfg["hidden"], 10), _flat())
    softmax = train_cost(nn.Linear(784, 10), _flat())
    deep = {a: train_cost(_mlp(784, *[64] * 6, 10, act=a), _flat()) for a in (nn.GELU,)}
    return [
        stage("MLP", mlp, _n(cfg["n_train"], FASHION) * 5 // 6, cfg["epochs"], 128),
        stage("softmax regression", softmax, TRAIN, cfg["epochs"], 128),
        steps_stage("4 activations, deep MLP", deep[nn.GELU], cfg["act_steps"], 128, 4),
        cpu_stage("03_mlp.py", "XOR grid, approximation and depth experiments"),
    ]


def ch04(cfg: dict) -> list[Work]:
    """Chapter 4: schedules, the activation x initialisation grid, landscape, ES."""
    sched = train_cost(_mlp(784, 256, 10), _flat(), adam=False)
    grid = train_cost(_mlp(784, *[128] * 10, 10), _flat(), adam=False)
    land = train_cost(_mlp(784, 128, 64, 10), _flat())
    probe = forward_cost(_mlp(784, 128, 64, 10), _flat())
    return [
        stage(
            "4 learning-rate schedules",
            sched,
            cfg["n_sched"],
            cfg["sched_epochs"],
            64,
            4,
        ),
        stage(
            "activation x init grid (12)", grid, cfg["n_ax"], cfg["ax_epochs"], 64, 12
        ),
        stage(
            "landscape MLP", land, _n(cfg["n_land"], FASHION), cfg["land_epochs"], 128
        ),
        Work(
            "loss landscape grid",
            probe.flops * cfg["n_eval"],
            cfg["grid"] ** 2 * 2,
            probe.ops * math.ceil(cfg["n_eval"] / 2_000),
        ),
        stage("early stopping (at most)", land, cfg["n_es"], cfg["es_max_epochs"], 64),
        cpu_stage("04_optimization.py", "the optimizers' race against torch.optim"),
    ]


def ch05(cfg: dict) -> list[Work]:
    """Chapter 5: batch norm, the small-data regularizers, random labels."""

    def bn_mlp():
        layers: list[nn.Module] = [nn.Linear(784, 128)]
        for _ in range(4):
            layers += [nn.BatchNorm1d(128), nn.ReLU(), nn.Linear(128, 128)]
        return nn.Sequential(*layers, nn.ReLU(), nn.Linear(128, 10))

    bn = train_cost(bn_mlp(), _flat())
    small = train_cost(_mlp(784, 256, 256, 10), _flat())
    rand = train_cost(_mlp(784, 512, 512, 10), _flat())
    return [
        stage("with and without batch norm", bn, cfg["n_bn"], cfg["bn_epochs"], 64, 2),
        stage(
            "5 regularizers, small data",
            small,
            cfg["n_small"],
            cfg["small_epochs"],
            64,
            5,
        ),
        stage(
            "random labels (3 runs)", rand, cfg["n_rand"], cfg["rand_epochs"], 128, 3
        ),
        cpu_stage("05_generalization.py", "float64 weight decay, polynomials"),
    ]


def ch06(cfg: dict) -> list[Work]:
    """Chapter 6: MLP vs CNN (plain and scrambled pixels), the tutorial CNN."""
    mlp = train_cost(nn.Sequential(nn.Flatten(), _mlp(784, 256, 128, 10)), _img())
    cnn = train_cost(
        nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * 7 * 7, 10),
        ),
        _img(),
    )
    tutorial = train_cost(
        nn.Sequential(
            nn.Conv2d(3, 6, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(400, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, 10),
        ),
        _img(c=3, side=32),
    )
    n, n_ex = _n(cfg["n_train"], FASHION), _n(cfg["n_ex"], 50_000)
    return [
        stage("MLP, plain and scrambled", mlp, n, cfg["epochs"], 128, 2),
        stage("CNN, plain and scrambled", cnn, n, cfg["epochs"], 128, 2),
        stage("tutorial CNN (4) and MLP", tutorial, n_ex, cfg["ex_epochs"], 32, 5),
        cpu_stage("06_convolutions.py", "convolution by loops, timings"),
    ]


def ch08(cfg: dict) -> list[Work]:
    """Chapter 8: pretraining, transfer, attacks, feature visualisation."""

    def small_cnn(width=16, k=5):
        return nn.Sequential(
            nn.Conv2d(1, width, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(2 * width * 49, k),
        )

    cnn = train_cost(small_cnn(), _img())
    ascent = train_cost(small_cnn(), _img(1), adam=True)
    n_pre = _n(cfg["n_pre"], FASHION // 2)  # five of the ten classes
    return [
        stage("pretraining", cnn, n_pre, cfg["pre_epochs"], 64),
        stage(
            "transfer variants (~12 runs)",
            cnn,
            cfg["n_small"] * 4,
            cfg["small_epochs"],
            32,
            12,
        ),
        steps_stage("activation maximisation (2)", ascent, cfg["ascent_steps"], 1, 2),
        cpu_stage("08_cnn_practice.py", "the committee's online SGD, receptive fields"),
    ]


class _FusedGRU(nn.Module):
    """Stands in for ``nn.GRU`` (batch first) as cuDNN runs it on a GPU.

    The same matrix products, input-to-gates and state-to-gates for the whole
    sequence at once, so the FLOPs match; cuDNN's own per-time-step kernels
    are added by :func:`_with_rnn_launches`.
    """

    def __init__(self, n_in, hidden, length, layers=1, bidirectional=False):
        super().__init__()
        self.length, self.layers = length, layers
        self.dirs = 2 if bidirectional else 1
        widths = [n_in] + [hidden * self.dirs] * (layers - 1)
        self.ih = nn.ModuleList(
            nn.Linear(w, 3 * hidden) for w in widths for _ in range(self.dirs)
        )
        self.hh = nn.ModuleList(
            nn.Linear(hidden, 3 * hidden) for _ in range(layers * self.dirs)
        )

    def forward(self, x):  # (B, T, n_in) -> ((B, T, dirs * hidden), None)
        for layer in range(self.layers):
            outs = []
            for d in range(self.dirs):
                i = layer * self.dirs + d
                h = torch.zeros(*x.shape[:2], self.hh[i].in_features)
                gates = self.ih[i](x) + self.hh[i](h)  # (B, T, 3 hidden)
                outs.append(gates[..., : h.shape[-1]].tanh())
            x = torch.cat(outs, -1)
        return x, None


def _with_rnn_launches(cost: Cost, model: nn.Module) -> Cost:
    """``cost`` plus cuDNN's kernels per time step: 2 forward, 2 backward."""
    extra = sum(
        4 * m.length * m.layers * m.dirs
        for m in model.modules()
        if isinstance(m, _FusedGRU)
    )
    return Cost(cost.flops, cost.ops + extra)


def ch09(cfg: dict) -> list[Work]:
    """Chapter 9: four MNIST-1D models (original and shuffled), the char-level GRU.

    On the CPU nn.GRU runs one time step after another, so it is counted
    through :class:`_FusedGRU`, as cuDNN runs it on a GPU.
    """
    x = torch.zeros(8, 40)
    conv = nn.Sequential(
        nn.Unflatten(1, (1, 40)),
        nn.Conv1d(1, 25, 5, 2, 1),
        nn.ReLU(),
        nn.Conv1d(25, 25, 3, 2, 1),
        nn.ReLU(),
        nn.Conv1d(25, 25, 3, 2, 1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(125, 10),
    )

    class Gru(nn.Module):  # bidirectional GRU over the 40 samples, linear read-out
        def __init__(self, hidden=6):
            super().__init__()
            self.gru = _FusedGRU(1, hidden, 40, bidirectional=True)
            self.head = nn.Linear(2 * hidden * 40, 10)

        def forward(self, x):
            return self.head(self.gru(x[:, :, None])[0].flatten(1))

    class Lm(nn.Module):
        def __init__(self, vocab=65, hidden=cfg["lm_hidden"], layers=cfg["lm_layers"]):
            super().__init__()
            self.embed, self.head = nn.Embedding(vocab, 64), nn.Linear(hidden, vocab)
            self.gru = _FusedGRU(64, hidden, cfg["lm_seq"], layers)

        def forward(self, ids):
            return self.head(self.gru(self.embed(ids))[0])

    ids = torch.zeros(2, cfg["lm_seq"], dtype=torch.long)
    lm = _with_rnn_launches(train_cost(Lm(), ids), Lm())
    models = {
        "CNN": conv,
        "GRU": Gru(),
        "MLP": _mlp(40, 100, 100, 10),
        "logistic": nn.Linear(40, 10),
    }
    work = [
        stage(
            f"MNIST-1D {name} (x2)",
            _with_rnn_launches(train_cost(m, x), m),
            4_000,
            cfg["m1d_epochs"],
            100,
            2,
        )
        for name, m in models.items()
    ]
    return work + [
        steps_stage("character GRU", lm, cfg["lm_steps"], cfg["lm_batch"]),
        steps_stage("exercise: GRU and LSTM", lm, cfg["ex_steps"], cfg["lm_batch"], 2),
        cpu_stage("09_rnn.py", "the scratch RNN checked against PyTorch"),
    ]


def ch10(cfg: dict) -> list[Work]:
    """Chapter 10: the ViT, the character GPT, and three deep GPTs."""
    from dlbook import attention as att

    vit = att.ViT(
        att.ViTConfig(
            patch_size=cfg["vit_patch"],
            d_model=cfg["vit_width"],
            n_layers=cfg["vit_layers"],
        )
    )
    gpt = att.GPT(
        att.GPTConfig(
            65, cfg["gpt_block"], cfg["gpt_layers"], cfg["gpt_heads"], cfg["gpt_width"]
        )
    )
    deep = att.GPT(att.GPTConfig(65, 32, cfg["deep_layers"], d_model=32))
    ids = torch.zeros(2, cfg["gpt_block"], dtype=torch.long)
    return [
        stage(
            "ViT",
            train_cost(vit, _img()),
            _n(cfg["n_vit"], FASHION),
            cfg["vit_epochs"],
            cfg["vit_batch"],
            fp32=False,
        ),
        steps_stage(
            "character GPT",
            train_cost(gpt, ids),
            cfg["gpt_steps"],
            cfg["gpt_batch"],
            fp32=False,
        ),
        steps_stage(
            "deep GPTs (3)",
            train_cost(deep, torch.zeros(2, 32, dtype=torch.long)),
            cfg["deep_steps"],
            cfg["deep_batch"],
            3,
        ),
    ]


def ch11(cfg: dict) -> list[Work]:
    """Chapter 11: graph classification (GIN, three depths) and node classification."""
    from dlbook import gnn

    class Gin(nn.Module):  # message passing layers and a linear head, on one batch
        def __init__(self, layers=3):
            super().__init__()
            self.convs = nn.ModuleList(
                gnn.GCNConv(32 if i else 1, 32) for i in range(layers)
            )
            self.head = _mlp(32, 32, 4)

        def forward(self, x, ei):
            for conv in self.convs:
                x = conv(x, ei).relu()
            return self.head(x)

    n = 16 * cfg["graph_batch"]  # ~16 nodes per graph
    ring = torch.arange(n)
    ei = torch.stack([ring, (ring + 1) % n])
    graph = train_cost(Gin(), torch.zeros(n, 1), ei)
    node = train_cost(
        Gin(2),
        torch.zeros(4 * cfg["community"], 1),
        torch.stack([torch.arange(8), torch.arange(8)]),
    )
    return [
        stage(
            "GIN graph classifier, 4 trainings",
            graph,
            cfg["n_graphs_train"],
            cfg["graph_epochs"],
            cfg["graph_batch"],
            4,
        ),
        steps_stage("node classifiers (3)", node, cfg["node_epochs"], 1, 3),
    ]


def ch12(cfg: dict) -> list[Work]:
    """Chapter 12: the classifier, AE and denoising AE, the VAE, the beta sweep."""
    from dlbook import autoencoder as ae

    w, z, b = cfg["width"], cfg["latent"], cfg["batch"]
    auto = train_cost(ae.Autoencoder(z, w), _img())
    vae = train_cost(ae.VAE(z, w), _img())
    clf = train_cost(ae.ConvEncoder(10, w), _img())
    return [
        stage(
            "feature classifier", clf, _n(cfg["clf_n"], FASHION), cfg["clf_epochs"], b
        ),
        stage(
            "AE and denoising AE",
            auto,
            _n(cfg["n_ae"], FASHION),
            cfg["ae_epochs"],
            b,
            2,
            fp32=False,
        ),
        stage("VAE", vae, _n(cfg["n_vae"], FASHION), cfg["vae_epochs"], b, fp32=False),
        stage("beta sweep (3)", vae, cfg["n_beta"], cfg["beta_epochs"], b, 3, False),
    ]


def ch13(cfg: dict) -> list[Work]:
    """Chapter 13: the ring of Gaussians, DCGAN and conditional GAN, the classifier."""
    from dlbook import autoencoder as ae
    from dlbook import gan

    zdim, w, b = cfg["z_dim"], cfg["width"], cfg["batch"]
    g = train_cost(gan.Generator(zdim, w), torch.zeros(8, zdim))
    d = train_cost(gan.Discriminator(w), _img())
    ring_g, ring_d = (
        train_cost(_mlp(2, 128, 128, 2), _flat(d=2)),
        train_cost(_mlp(2, 128, 128, 1), _flat(d=2)),
    )
    # a GAN step: D on a real and a fake batch, then G through D
    gan_step = Cost(g.flops + 3 * d.flops, g.ops + 3 * d.ops)
    ring_step = Cost(ring_g.flops + 3 * ring_d.flops, ring_g.ops + 3 * ring_d.ops)
    seeds = len(cfg["ring_seeds"])
    clf = train_cost(ae.ConvEncoder(10, 32), _img())
    return [
        steps_stage(
            "ring GANs (2 x seeds)", ring_step, cfg["ring_steps"], 128, 2 * seeds
        ),
        steps_stage(
            "DCGAN and conditional GAN", gan_step, cfg["gan_steps"], b, 2, False
        ),
        stage(
            "feature classifier", clf, _n(cfg["clf_n"], FASHION), cfg["clf_epochs"], 256
        ),
    ]


def _small_nin(w: int) -> nn.Sequential:
    """The shape of chapter 7's batch-normalised NiN (for counting only)."""
    from dlbook.cnn import nin_block

    return nn.Sequential(
        nin_block(1, w, 5, padding=2), nn.BatchNorm2d(w), nn.MaxPool2d(3, 2, 1),
        nin_block(w, w, 5, padding=2), nn.BatchNorm2d(w), nn.MaxPool2d(3, 2, 1),
        nin_block(w, w, 3, padding=1), nn.BatchNorm2d(w),
        nn.Conv2d(w, 10, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )  # fmt: skip


def ch07(cfg: dict) -> list[Work]:
    """Chapter 7 at its gpu sizes: every network it trains.

    The architecture comparison is counted as its NiN (the costliest of its
    three nets, about twice the FLOPs of the others) three times.
    """
    from dlbook import cnn

    b = cfg["fast_batch"]
    fast = train_cost(cnn.SmallResNet(tuple(cfg["fast_widths"])), _img())
    abl = train_cost(cnn.SmallResNet(tuple(cfg["abl_widths"])), _img())
    rgb = train_cost(
        cnn.SmallResNet(tuple(cfg["fast_widths"]), in_channels=3), _img(c=3, side=32)
    )  # CIFAR-10, or its Fashion-MNIST stand-in
    ens = train_cost(cnn.SmallResNet(tuple(cfg["ens_widths"])), _img())
    depth = train_cost(
        cnn.DepthNet(cfg["depth_blocks"], residual=True, width=8), _img()
    )
    arch = train_cost(_small_nin(cfg["arch_width"]), _img())
    lenet = train_cost(cnn.LeNet5(), _img())
    return [
        stage("LeNet-5", lenet, _n(cfg["n_lenet"], FASHION), cfg["lenet_epochs"], 256),
        stage("plain and residual depth nets (3)", depth, cfg["n_depth"],
              cfg["depth_epochs"], 128, 3),
        stage("fast ResNet", fast, _n(cfg["n_fast"], FASHION), cfg["fast_epochs"], b,
              fp32=False),
        stage("ablation, float32 rows (5)", abl, _n(cfg["n_abl"], FASHION),
              cfg["abl_epochs"], b, 5),
        stage("ablation, mixed-precision row", abl, _n(cfg["n_abl"], FASHION),
              cfg["abl_epochs"], b, fp32=False),
        stage("NiN, Inception, ResNet (as 3 NiNs)", arch, _n(cfg["n_arch"], FASHION),
              cfg["arch_epochs"], b, 3, fp32=False),
        stage("32x32 RGB ResNet", rgb, _n(cfg["n_cifar"], 50_000),
              cfg["cifar_epochs"], b, fp32=False),
        stage("ensemble (3 members)", ens, _n(cfg["n_ens"], FASHION), cfg["ens_epochs"],
              b, 3, fp32=False),
    ]  # fmt: skip


def ch14(cfg: dict) -> list[Work]:
    """Chapter 14 at its gpu sizes: the U-Net's training and its samplers."""
    from dlbook.unet import UNet

    unet = UNet(1, tuple(cfg["channels"]), num_classes=10, patch=cfg["patch"])
    x = _img(4)
    t = torch.zeros(4, dtype=torch.long)
    y = torch.zeros(4, dtype=torch.long)
    train = train_cost(unet, x, t, y)
    fwd = forward_cost(unet, x, t, y)
    grid = 10 * cfg["n_per_class"]
    amp = functools.partial(steps_stage, fp32=False)  # the chapter trains with AMP
    return [
        amp("U-Net training", train, cfg["img_steps"], cfg["batch"]),
        amp("DDPM sampling, 24 images", fwd, cfg["T"], 24),
        amp("DDIM sampling, twice", fwd, 2 * cfg["ddim_steps"], 24),
        # w = 0 and w = cfg.w; guidance evaluates the conditional and the
        # unconditional prediction in one batch of twice the size
        amp("DDIM per class, w = 0 and w", fwd, 2 * cfg["ddim_steps"], 2 * grid),
        amp("flow-matching U-Net training", train, cfg["fm_steps"], cfg["batch"]),
        # flow (Euler), DDIM eta = 0 and eta = 1 at 10 evaluations, and flow and
        # DDIM eta = 1 at ddim_steps (eta = 0 there reuses the w = 0 samples)
        amp("flow vs DDIM, equal evaluations", fwd, 30 + 2 * cfg["ddim_steps"], grid),
    ]


ESTIMATES: dict[str, Callable[[dict], list[Work]]] = {
    "00_setup.py": ch00,
    "01_perceptron.py": ch01,
    "02_autodiff.py": ch02,
    "03_mlp.py": ch03,
    "04_optimization.py": ch04,
    "05_generalization.py": ch05,
    "06_convolutions.py": ch06,
    "07_cnn_architectures.py": ch07,
    "08_cnn_practice.py": ch08,
    "09_rnn.py": ch09,
    "10_attention.py": ch10,
    "11_gnn.py": ch11,
    "12_autoencoders.py": ch12,
    "13_gans.py": ch13,
    "14_diffusion.py": ch14,
}


@functools.cache
def _estimate(chapter: str, small: bool) -> tuple[Work, ...]:
    return tuple(ESTIMATES[chapter](chapter_config(chapter, "gpu", small=small)))


def estimate(chapter: str, small: bool = False) -> list[Work]:
    """The stages of ``chapter`` at its gpu (or small-GPU) sizes."""
    if chapter not in ESTIMATES:
        raise ValueError(
            f"no estimate for {chapter!r}: add one to dlbook.budget.ESTIMATES "
            f"(chapters with one: {', '.join(ESTIMATES)})"
        )
    return list(_estimate(chapter, small))


def totals(chapter: str) -> dict[str, float]:
    """Estimated seconds of ``chapter``'s gpu profile per GPU.

    The T4 columns use the chapter's small-GPU sizes.
    """
    big, small = estimate(chapter), estimate(chapter, small=True)
    return {
        g.name: sum(w.seconds(g) for w in (big if g is H100 else small)) for g in GPUS
    }


def _table(work: list[Work]) -> list[str]:
    lines = [
        "| stage | GFLOP per step | ops per step | steps | "
        + " | ".join(f"{g.name} s" for g in GPUS)
        + " |",
        "|---|---:|---:|---:|" + "---:|" * len(GPUS),
    ]
    for w in work:
        if w.cpu_seconds is not None:
            cells = ["—", "—", "—"] + [f"{w.cpu_seconds:,.0f}"] * len(GPUS)
        else:
            cells = [f"{w.flops_per_step / 1e9:,.2f}", f"{w.ops_per_step:,}"]
            cells += [f"{w.steps:,}"] + [f"{w.seconds(g):,.0f}" for g in GPUS]
        lines.append(f"| {w.name} | " + " | ".join(cells) + " |")
    tot = [sum(w.seconds(g) for w in work) for g in GPUS]
    lines.append(
        "| **total** | | | | "
        + " | ".join(f"**{t:,.0f}** ({t / 60:.1f} min)" for t in tot)
        + " |"
    )
    return lines + [""]


def markdown() -> str:
    """The budget table with its arithmetic, as Markdown."""
    lines = [
        "# gpu-profile budget, estimated from counted work",
        "",
        "Written by `python -m dlbook.budget`; assumptions in `src/dlbook/budget.py`:",
        "",
    ]
    for g in GPUS:
        lines.append(
            f"- {g.name}: peak {g.peak / 1e12:.1f} TFLOP/s (data sheet), "
            f"{g.utilisation:.0%} of it reached, {g.launch * 1e6:.0f} us of host "
            "time per operation launched"
        )
    lines += [
        "",
        "seconds = steps x (FLOPs per step / (peak x utilisation) + ops per step x",
        "launch). FLOPs and ATen operations of one training step (forward, backward,",
        "Adam) are counted on the CPU. Rows marked 'on the CPU in every profile' keep",
        "their cpu-profile sizes under gpu; their cost is bounded by the chapter's",
        "whole cpu-profile wall time in `bench/cpu.json` (2-core machine), which",
        "overstates it. The T4 columns use the chapter's `small_gpu=` sizes where it",
        "has them; the T4 fp32 column is what a T4 took before the one",
        "mixed-precision rule (`dlbook.train.Precision`), when chapters 10 (GPT),",
        "12, 13 and 14 trained in float32 there.",
        "",
        "## Summary (budget: H100 3 min, T4 10 min)",
        "",
        "| chapter | " + " | ".join(f"{g.name} s" for g in GPUS) + " | fits |",
        "|---|" + "---:|" * len(GPUS) + "---|",
    ]
    for chapter in ESTIMATES:
        t = totals(chapter)
        fits = all(t[name] <= limit for name, limit in LIMITS.items())
        lines.append(
            f"| {chapter} | "
            + " | ".join(f"{t[g.name]:,.0f}" for g in GPUS)
            + f" | {'yes' if fits else '**no**'} |"
        )
    lines.append("")
    for chapter in ESTIMATES:
        has_small = chapter_config(chapter, "gpu", small=True) != chapter_config(
            chapter, "gpu"
        )
        for small in (False, True) if has_small else (False,):
            title = "small-GPU sizes" if small else "gpu sizes"
            lines += [f"## {chapter} ({title})", ""] + _table(estimate(chapter, small))
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
