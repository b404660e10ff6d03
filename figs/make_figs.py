"""Draw the book's conceptual diagrams as deterministic SVG files in ``figs/``.

Run ``python figs/make_figs.py`` (or ``make figs``) from the repository root;
``python figs/make_figs.py --out DIR`` writes them elsewhere (the test does
that and compares bytes). Every diagram is drawn from its definition with
matplotlib alone, in inches on a fixed canvas no wider than 7 in, so that at
the book's 688 px column one point is about 1.37 px and the smallest text
(8 pt) is about 11 px tall. Every file is exactly 7 in wide (narrower content
is centred), so each is placed at ``:width: 100%`` and all share one scale.

One visual language, defined once in :data:`ROLES`: the same fill and edge
colour for the same role in every diagram (data and inputs, parameters,
hidden states and activations, gradients, operations, outputs and losses,
random noise). Each diagram sits on a light rounded card with a transparent
margin, so it reads the same on the book's light and dark themes.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import (
    Circle,
    FancyArrowPatch,
    FancyBboxPatch,
    Polygon,
    Rectangle,
)
from matplotlib.textpath import TextPath

HERE = Path(__file__).resolve().parent
MAX_WIDTH = 7.0  # inches: the book's text column (688 px) at 100 % width
FS = 9  # body text, points
FS_SMALL = 8  # the smallest text in any diagram (about 11 px in the column)
INK = "#1f1f1f"  # text and outlines on the light card
FLOW = "#404040"  # forward arrows: data flowing through the computation
CARD, CARD_EDGE = "#fafaf6", "#cfcfc8"


@dataclass(frozen=True)
class Role:
    """The colours of one role: a light fill, a mid-luminance edge, a name for legends."""

    fill: str
    edge: str
    name: str


# The roles, the same in every diagram. Tensors take the role of what they hold
# (the input, a hidden state or activation, the output or a loss); a layer with
# learned weights (convolution, linear, normalisation, an embedding) takes
# "param"; a parameter-free operation (ReLU, pooling, a sum, a softmax) takes
# "op"; sampled noise takes "noise"; gradients are red dashed arrows.
ROLES = {
    "input": Role("#cfe0f5", "#2f65a7", "input"),
    "param": Role("#fbdcb0", "#b8660b", "parameters"),
    "hidden": Role("#cdebc9", "#2e7d32", "activation / state"),
    "grad": Role("#f8d0cb", "#c0392b", "gradient"),
    "op": Role("#e6e6ea", "#55555f", "operation"),
    "output": Role("#e4d6f1", "#6a3d9a", "output / loss"),
    "noise": Role("#fff1a6", "#9a7d00", "noise"),
}
GRAD = ROLES["grad"].edge

RC = {
    "svg.hashsalt": "dlbook-figs",  # deterministic ids in the SVG
    "svg.fonttype": "path",  # glyphs as paths: the same DejaVu Sans as the plots, everywhere
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "mathtext.fontset": "dejavusans",
    "font.size": FS,
    "text.color": INK,
    "path.simplify": False,
}


def text_width(s: str, fs: float = FS_SMALL) -> float:
    """Width in inches of ``s`` set in DejaVu Sans at ``fs`` points."""
    return (
        TextPath((0, 0), s, size=fs, prop=FontProperties(family="DejaVu Sans"))
        .get_extents()
        .width
        / 72
    )


# --- drawing kit ------------------------------------------------------------------------


@dataclass
class Box:
    """A drawn box: its centre and size, with the anchor points arrows attach to."""

    x: float
    y: float
    w: float
    h: float

    @property
    def l(self) -> tuple[float, float]:  # noqa: E743 - left anchor
        return (self.x - self.w / 2, self.y)

    @property
    def r(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y)

    @property
    def t(self) -> tuple[float, float]:
        return (self.x, self.y + self.h / 2)

    @property
    def b(self) -> tuple[float, float]:
        return (self.x, self.y - self.h / 2)

    @property
    def c(self) -> tuple[float, float]:
        return (self.x, self.y)


class Canvas:
    """A figure whose data coordinates are inches, on a light rounded card."""

    def __init__(self, width: float, height: float) -> None:
        if width > MAX_WIDTH:
            raise ValueError(f"diagrams are at most {MAX_WIDTH} in wide, got {width}")
        self.width, self.height = width, height
        # every file is MAX_WIDTH wide, so that at 100 % of the column all diagrams
        # share one text size; narrower content is centred on the card
        pad = (MAX_WIDTH - width) / 2
        self.fig = Figure(figsize=(MAX_WIDTH, height))
        self.fig.patch.set_alpha(0.0)
        ax = self.fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(-pad, width + pad)
        ax.set_ylim(0, height)
        ax.set_axis_off()
        self.ax = ax
        m = 0.02
        ax.add_patch(
            FancyBboxPatch(
                (m - pad, m),
                MAX_WIDTH - 2 * m,
                height - 2 * m,
                boxstyle="round,pad=0,rounding_size=0.12",
                fc=CARD,
                ec=CARD_EDGE,
                lw=0.8,
                clip_on=False,
                zorder=0,
            )
        )

    def text(
        self,
        x: float,
        y: float,
        s: str,
        *,
        fs: float = FS,
        color: str = INK,
        ha: str = "center",
        va: str = "center",
        **kw,
    ) -> None:
        if fs < FS_SMALL:
            raise ValueError(f"text below {FS_SMALL} pt is unreadable in the column")
        self.ax.text(
            x,
            y,
            s,
            fontsize=fs,
            color=color,
            ha=ha,
            va=va,
            zorder=5,
            clip_on=False,
            **kw,
        )

    def box(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        s: str = "",
        role: str = "op",
        *,
        fs: float = FS,
        rounding: float = 0.06,
        ls: str = "-",
        lw: float = 1.0,
        alpha: float = 1.0,
        fill: str | None = None,
        z: float = 2,
    ) -> Box:
        """A rounded box centred on (x, y), coloured by ``role``, with centred text."""
        r = ROLES[role]
        self.ax.add_patch(
            FancyBboxPatch(
                (x - w / 2, y - h / 2),
                w,
                h,
                boxstyle=f"round,pad=0,rounding_size={min(rounding, w / 2, h / 2)}",
                fc=fill or r.fill,
                ec=r.edge,
                lw=lw,
                ls=ls,
                alpha=alpha,
                zorder=z,
                clip_on=False,
            )
        )
        if s:
            self.text(x, y, s, fs=fs)
        return Box(x, y, w, h)

    def circle(
        self,
        x: float,
        y: float,
        s: str,
        role: str = "op",
        *,
        r: float = 0.14,
        fs: float = FS,
    ) -> Box:
        """A round operation node (⊕, ×, σ) centred on (x, y)."""
        ro = ROLES[role]
        self.ax.add_patch(
            Circle((x, y), r, fc=ro.fill, ec=ro.edge, lw=1.0, zorder=3, clip_on=False)
        )
        if s:
            self.text(x, y, s, fs=fs)
        return Box(x, y, 2 * r, 2 * r)

    def arrow(
        self,
        p: tuple[float, float],
        q: tuple[float, float],
        *,
        color: str = FLOW,
        ls: str = "-",
        lw: float = 1.1,
        rad: float = 0.0,
        head: bool = True,
        z: float = 1.5,
    ) -> None:
        """A straight (or, with ``rad``, curved) arrow from p to q."""
        self.ax.add_patch(
            FancyArrowPatch(
                p,
                q,
                arrowstyle="-|>,head_length=5,head_width=2.6" if head else "-",
                connectionstyle=f"arc3,rad={rad}",
                color=color,
                lw=lw,
                ls=ls,
                shrinkA=0,
                shrinkB=0,
                zorder=z,
                clip_on=False,
            )
        )

    def path(
        self,
        points: list[tuple[float, float]],
        *,
        color: str = FLOW,
        ls: str = "-",
        lw: float = 1.1,
        head: bool = True,
        z: float = 1.5,
    ) -> None:
        """A polyline through ``points`` with an arrow head on its last segment."""
        for p, q in zip(points[:-2], points[1:-1]):
            self.ax.plot(
                [p[0], q[0]],
                [p[1], q[1]],
                color=color,
                lw=lw,
                ls=ls,
                zorder=z,
                solid_capstyle="butt",
                clip_on=False,
            )
        self.arrow(points[-2], points[-1], color=color, ls=ls, lw=lw, head=head, z=z)

    def grad_arrow(self, p, q, *, rad: float = 0.0, lw: float = 1.2) -> None:
        """A gradient: red and dashed, flowing against the computation."""
        self.arrow(p, q, color=GRAD, ls=(0, (4, 2)), lw=lw, rad=rad, z=1.6)

    def grid(
        self,
        x0: float,
        y0: float,
        rows: int,
        cols: int,
        cell: float,
        role: str = "input",
        *,
        values: np.ndarray | None = None,
        fills: dict[tuple[int, int], str] | None = None,
        fs: float = FS_SMALL,
        lw: float = 0.7,
        fmt: str = "{:g}",
    ) -> None:
        """A matrix of square cells, top-left corner at (x0, y0); row 0 on top."""
        r = ROLES[role]
        for i in range(rows):
            for j in range(cols):
                fc = (fills or {}).get((i, j), r.fill)
                self.ax.add_patch(
                    Rectangle(
                        (x0 + j * cell, y0 - (i + 1) * cell),
                        cell,
                        cell,
                        fc=fc,
                        ec=r.edge,
                        lw=lw,
                        zorder=2,
                        clip_on=False,
                    )
                )
                if values is not None:
                    self.text(
                        x0 + (j + 0.5) * cell,
                        y0 - (i + 0.5) * cell,
                        fmt.format(values[i, j]),
                        fs=fs,
                    )

    def frame(
        self,
        x0: float,
        y0: float,
        w: float,
        h: float,
        color: str,
        *,
        lw: float = 2.0,
        ls: str = "-",
        z: float = 4,
    ) -> None:
        """An unfilled rectangle (a sliding window, a selection), lower-left at (x0, y0)."""
        self.ax.add_patch(
            Rectangle(
                (x0, y0),
                w,
                h,
                fill=False,
                ec=color,
                lw=lw,
                ls=ls,
                zorder=z,
                clip_on=False,
            )
        )

    def poly(self, points, role: str, *, z: float = 2, lw: float = 1.0) -> None:
        r = ROLES[role]
        self.ax.add_patch(
            Polygon(
                points,
                closed=True,
                fc=r.fill,
                ec=r.edge,
                lw=lw,
                zorder=z,
                clip_on=False,
            )
        )

    def legend(
        self,
        roles: list[str],
        y: float = 0.2,
        *,
        x0: float | None = None,
        extra: list[tuple[str, str]] = (),
    ) -> None:
        """One row of colour swatches naming the roles used (and arrow kinds in ``extra``)."""
        items = [(ROLES[k].name, k) for k in roles]
        widths = [0.5 + text_width(n) for n, _ in items]
        widths += [0.68 + text_width(n) for n, _ in extra]
        widths[-1] -= 0.26
        if sum(widths) > self.width - 0.3:  # two rows: roles above, arrow kinds below
            if not extra:
                raise ValueError("legend too wide for the canvas")
            self.legend(roles, y + 0.11, x0=x0)
            self.legend([], y - 0.11, x0=x0, extra=extra)
            return
        x = x0 if x0 is not None else (self.width - sum(widths)) / 2
        for (name, k), w in zip(items, widths):
            r = ROLES[k]
            self.ax.add_patch(
                FancyBboxPatch(
                    (x, y - 0.06),
                    0.18,
                    0.12,
                    boxstyle="round,pad=0,rounding_size=0.03",
                    fc=r.fill,
                    ec=r.edge,
                    lw=0.9,
                    zorder=2,
                    clip_on=False,
                )
            )
            self.text(x + 0.24, y, name, fs=FS_SMALL, ha="left")
            x += w
        for (name, kind), w in zip(extra, widths[len(items) :]):
            if kind == "grad":
                self.grad_arrow((x, y), (x + 0.34, y))
            else:
                self.arrow((x, y), (x + 0.34, y))
            self.text(x + 0.42, y, name, fs=FS_SMALL, ha="left")
            x += w


# --- the diagrams -----------------------------------------------------------------------

FIGURES: dict[str, Callable[[], Canvas]] = {}


def figure(name: str):
    """Register a diagram function under the SVG file name it writes."""

    def register(fn: Callable[[], Canvas]) -> Callable[[], Canvas]:
        FIGURES[name] = fn
        return fn

    return register


@figure("neuron")
def neuron() -> Canvas:
    """Chapter 1: f(x) = σ(wᵀx + b), the weighted sum, the bias and the activation."""
    c = Canvas(6.2, 2.75)
    ys = [2.25, 1.7, 0.85]
    names = ["$x_1$", "$x_2$", "$x_p$"]
    ws = ["$w_1$", "$w_2$", "$w_p$"]
    s = c.circle(3.0, 1.6, r"$\Sigma$", r=0.26, fs=12)
    for y, n, w in zip(ys, names, ws):
        xb = c.box(0.55, y, 0.5, 0.34, n, "input")
        c.arrow(xb.r, (s.x - 0.25, s.y + (y - s.y) * 0.12))
        mx, my = 1.55, y + (s.y - y) * 0.33
        c.box(mx, my, 0.42, 0.28, w, "param", fs=FS)
    c.text(0.55, 1.3, r"$\vdots$", fs=11)
    b = c.box(3.0, 0.62, 0.5, 0.32, "$b$", "param")
    c.arrow(b.t, s.b)
    c.text(3.0, 2.18, r"$z = \mathbf{w}^\top\mathbf{x} + b$", fs=FS)
    act = c.box(4.3, 1.6, 0.85, 0.5, r"$\sigma(z)$", "op")
    c.arrow(s.r, act.l)
    out = c.box(5.55, 1.6, 0.8, 0.42, r"$f(\mathbf{x})$", "output")
    c.arrow(act.r, out.l)
    c.text(4.3, 2.05, "activation", fs=FS_SMALL)
    c.text(
        4.3, 1.12, "step: 1 if $z \\geq 0$ else 0\nsigmoid: $1/(1+e^{-z})$", fs=FS_SMALL
    )
    c.text(0.55, 2.58, "inputs", fs=FS_SMALL)
    c.text(1.55, 2.58, "weights", fs=FS_SMALL)
    c.legend(["input", "param", "op", "output"], y=0.2)
    return c


def _autodiff_values() -> dict[str, float]:
    """Forward values and reverse adjoints of f = y log x + sqrt(y log x) at (3, 2)."""
    x, y = 3.0, 2.0
    a = math.log(x)
    b = y * a
    cc = math.sqrt(b)
    f = b + cc
    f_bar = 1.0
    c_bar = f_bar
    b_bar = f_bar + c_bar / (2 * cc)
    a_bar, y_bar = b_bar * y, b_bar * a
    x_bar = a_bar / x
    return dict(
        x=x,
        y=y,
        a=a,
        b=b,
        c=cc,
        f=f,
        f_bar=f_bar,
        c_bar=c_bar,
        b_bar=b_bar,
        a_bar=a_bar,
        y_bar=y_bar,
        x_bar=x_bar,
    )


@figure("computation_graph")
def computation_graph() -> Canvas:
    """Chapter 2: the graph of f = y log x + √(y log x), values forward, adjoints back."""
    v = _autodiff_values()
    c = Canvas(7.0, 3.3)
    w, h = 0.92, 0.5
    pos = {
        "x": (0.6, 2.3),
        "y": (0.6, 0.95),
        "a": (2.05, 2.3),
        "b": (3.5, 1.45),
        "c": (4.95, 2.3),
        "f": (6.4, 1.45),
    }
    text = {
        "x": f"$x = {v['x']:g}$",
        "y": f"$y = {v['y']:g}$",
        "a": f"$a = \\log x$\n$= {v['a']:.3f}$",
        "b": f"$b = y\\,a$\n$= {v['b']:.3f}$",
        "c": f"$c = \\sqrt{{b}}$\n$= {v['c']:.3f}$",
        "f": f"$f = b + c$\n$= {v['f']:.3f}$",
    }
    role = {
        "x": "input",
        "y": "input",
        "a": "hidden",
        "b": "hidden",
        "c": "hidden",
        "f": "output",
    }
    boxes = {k: c.box(*p, w, h, text[k], role[k]) for k, p in pos.items()}
    edges = [
        ("x", "a", r"$\times 1/x$"),
        ("a", "b", r"$\times y$"),
        ("y", "b", r"$\times a$"),
        ("b", "c", r"$\times 1/(2c)$"),
        ("b", "f", r"$\times 1$"),
        ("c", "f", r"$\times 1$"),
    ]
    for u, t, lab in edges:
        bu, bt = boxes[u], boxes[t]
        dx, dy = bt.x - bu.x, bt.y - bu.y
        n = math.hypot(dx, dy)
        ux, uy = dx / n, dy / n
        k = min(0.5 * w / max(abs(ux), 1e-9), 0.5 * h / max(abs(uy), 1e-9)) + 0.03
        p = (bu.x + ux * k, bu.y + uy * k)
        q = (bt.x - ux * k, bt.y - uy * k)
        nx, ny = uy, -ux  # to the right of the forward direction
        c.arrow(
            (p[0] - nx * 0.06, p[1] - ny * 0.06), (q[0] - nx * 0.06, q[1] - ny * 0.06)
        )
        c.grad_arrow(
            (q[0] + nx * 0.08, q[1] + ny * 0.08), (p[0] + nx * 0.08, p[1] + ny * 0.08)
        )
        mx, my = (p[0] + q[0]) / 2, (p[1] + q[1]) / 2
        c.text(mx + nx * 0.26, my + ny * 0.26, lab, fs=FS_SMALL, color=GRAD)
    adj = {
        "x": "x_bar",
        "y": "y_bar",
        "a": "a_bar",
        "b": "b_bar",
        "c": "c_bar",
        "f": "f_bar",
    }
    for k, bx in boxes.items():
        name = "f" if k == "f" else k
        dy = 0.42 if k in ("x", "a", "c") else -0.42
        c.text(
            bx.x,
            bx.y + dy,
            f"$\\bar {name} = {v[adj[k]]:.3f}$",
            fs=FS,
            color=GRAD,
            fontweight="bold",
        )
    c.text(
        0.15,
        3.05,
        "forward: values, left to right;  reverse: adjoints "
        r"$\bar v = \partial f/\partial v$, right to left (local derivative on each arrow)",
        fs=FS_SMALL,
        ha="left",
    )
    c.legend(
        ["input", "hidden", "output"],
        y=0.2,
        extra=[("forward", "flow"), ("reverse (adjoints)", "grad")],
    )
    return c


@figure("mlp_layers")
def mlp_layers() -> Canvas:
    """Chapter 3: an MLP with widths (3, 4, 4, 2): layers of neurons and their weight matrices."""
    sizes = [3, 4, 4, 2]
    c = Canvas(6.6, 3.65)
    xs = [0.8, 2.5, 4.2, 5.8]
    roles = ["input", "hidden", "hidden", "output"]
    top, gap = 3.0, 0.45
    cols = []
    for x, n in zip(xs, sizes):
        y0 = top - (max(sizes) - n) * gap / 2
        cols.append([(x, y0 - i * gap) for i in range(n)])
    for a, b in zip(cols[:-1], cols[1:]):
        for p in a:
            for q in b:
                c.arrow(
                    (p[0] + 0.15, p[1]),
                    (q[0] - 0.17, q[1]),
                    color="#9a9aa0",
                    lw=0.6,
                    z=1,
                )
    for col, ro in zip(cols, roles):
        for p in col:
            c.circle(*p, "", ro, r=0.15)
    labels = [
        r"$\mathbf{x}\in\mathbb{R}^3$",
        r"$\mathbf{h}_1\in\mathbb{R}^4$",
        r"$\mathbf{h}_2\in\mathbb{R}^4$",
        r"$f(\mathbf{x})\in\mathbb{R}^2$",
    ]
    subs = [
        "input",
        "hidden: $a(W_1\\mathbf{x}+\\mathbf{b}_1)$",
        "hidden: $a(W_2\\mathbf{h}_1+\\mathbf{b}_2)$",
        "logits (no activation)",
    ]
    for x, lab, sub in zip(xs, labels, subs):
        c.text(x, 3.42, lab, fs=FS)
        c.text(x, 0.84, sub, fs=FS_SMALL)
    for i, (x0, x1) in enumerate(zip(xs[:-1], xs[1:])):
        n_in, n_out = sizes[i], sizes[i + 1]
        c.box(
            (x0 + x1) / 2,
            1.2,
            1.25,
            0.3,
            f"$W_{i + 1}$: {n_out}×{n_in},  $\\mathbf{{b}}_{i + 1}$: {n_out}",
            "param",
            fs=FS_SMALL,
        )
    total = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    terms = " + ".join(f"({a}+1)·{b}" for a, b in zip(sizes[:-1], sizes[1:]))
    c.text(3.3, 0.5, f"parameters: {terms} = {total}", fs=FS_SMALL)
    c.legend(["input", "hidden", "param", "output"], y=0.18)
    return c


@figure("conv_padding_stride")
def conv_padding_stride() -> Canvas:
    """Chapter 6: a 3x3 kernel on a 5x5 input, zero padding 1, stride 2, gives 3x3."""
    n, p, f, s = 5, 1, 3, 2
    n_out = (n + 2 * p - f) // s + 1
    c = Canvas(7.0, 3.35)
    cell = 0.3
    x0, y0 = 0.35, 2.75
    m = n + 2 * p
    fills = {}
    for i in range(m):
        for j in range(m):
            if i < p or j < p or i >= n + p or j >= n + p:
                fills[(i, j)] = "#ffffff"
    c.grid(x0, y0, m, m, cell, "input", fills=fills)
    for i in range(m):
        for j in range(m):
            if (i, j) in fills:
                c.text(
                    x0 + (j + 0.5) * cell,
                    y0 - (i + 0.5) * cell,
                    "0",
                    fs=FS_SMALL,
                    color="#8a8a8a",
                )
    first, second = ROLES["param"].edge, "#7a4fb0"
    c.frame(x0, y0 - f * cell, f * cell, f * cell, first, lw=2.2)
    c.frame(
        x0 + s * cell,
        y0 - f * cell,
        f * cell,
        f * cell,
        second,
        lw=2.2,
        ls=(0, (3, 1.5)),
    )
    c.arrow((x0 + 1.5 * cell, y0 + 0.17), (x0 + (1.5 + s) * cell, y0 + 0.17), lw=1.0)
    c.text(x0 + (1.5 + s / 2) * cell, y0 + 0.34, f"stride $S={s}$", fs=FS_SMALL)
    c.text(
        x0 + m * cell / 2,
        y0 - m * cell - 0.22,
        f"input $n={n}$, zero padding $P={p}$",
        fs=FS_SMALL,
    )
    # the kernel
    kx, ky = 3.0, 2.35
    kv = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]])
    c.grid(kx, ky, f, f, cell, "param", values=kv)
    c.text(kx + f * cell / 2, ky + 0.2, f"kernel $F={f}$", fs=FS_SMALL)
    c.text(
        kx + f * cell / 2,
        ky - f * cell - 0.3,
        "weights shared\nby every position",
        fs=FS_SMALL,
    )
    # the output
    ox, oy = 5.2, 2.5
    ofills = {(0, 0): "#9fd59a", (0, 1): "#cdb8e6"}
    c.grid(ox, oy, n_out, n_out, cell, "hidden", fills=ofills)
    c.frame(ox, oy - cell, cell, cell, first, lw=2.2)
    c.frame(ox + cell, oy - cell, cell, cell, second, lw=2.2, ls=(0, (3, 1.5)))
    c.text(ox + n_out * cell / 2, oy + 0.2, f"output {n_out}×{n_out}", fs=FS_SMALL)
    c.arrow((x0 + m * cell + 0.2, 1.8), (kx - 0.15, 1.8))
    c.arrow((kx + f * cell + 0.15, 1.8), (ox - 0.2, 1.8))
    c.text(
        ox + n_out * cell / 2,
        oy - n_out * cell - 0.45,
        r"$n_\mathrm{out} = \lfloor (n + 2P - F)/S \rfloor + 1$"
        + "\n"
        + f"$= \\lfloor ({n} + {2 * p} - {f})/{s} \\rfloor + 1 = {n_out}$",
        fs=FS_SMALL,
    )
    c.legend(["input", "param", "hidden"], y=0.2, extra=[])
    return c


@figure("im2col")
def im2col() -> Canvas:
    """Chapter 6: im2col turns a 3x3 convolution of a 4x4 image into one matrix product."""
    n, f, c_out = 4, 3, 2
    n_out = n - f + 1
    x = np.arange(1, n * n + 1).reshape(n, n)
    cols = np.stack(
        [
            x[i : i + f, j : j + f].reshape(-1)
            for i in range(n_out)
            for j in range(n_out)
        ],
        1,
    )  # (F*F, n_out*n_out), one column per output pixel, row-major like F.unfold
    c = Canvas(7.0, 3.35)
    cell = 0.2
    colours = [ROLES["param"].edge, "#7a4fb0"]
    # the image
    X0, Y0 = 0.25, 2.5
    c.grid(X0, Y0, n, n, cell, "input", values=x)
    c.frame(X0, Y0 - f * cell, f * cell, f * cell, colours[0], lw=2.0)
    c.frame(
        X0 + cell,
        Y0 - (f + 1) * cell,
        f * cell,
        f * cell,
        colours[1],
        lw=2.0,
        ls=(0, (3, 1.5)),
    )
    c.text(X0 + n * cell / 2, Y0 + 0.2, "$X$: 4×4", fs=FS_SMALL)
    c.text(
        X0 + n * cell / 2, Y0 - n * cell - 0.35, "windows 3×3,\nstride 1", fs=FS_SMALL
    )
    c.arrow((X0 + n * cell + 0.1, 2.1), (X0 + n * cell + 0.62, 2.1))
    c.text(X0 + n * cell + 0.36, 2.28, "im2col", fs=FS_SMALL)
    # Y = W @ cols
    yx, yy = 1.85, 2.3
    c.grid(yx, yy, c_out, n_out * n_out, cell, "hidden")
    c.frame(yx, yy - c_out * cell, cell, c_out * cell, colours[0], lw=2.0)
    c.frame(
        yx + 3 * cell,
        yy - c_out * cell,
        cell,
        c_out * cell,
        colours[1],
        lw=2.0,
        ls=(0, (3, 1.5)),
    )
    c.text(yx + 2 * cell, yy + 0.2, "$Y$", fs=FS)
    c.text(yx + 2 * cell, yy - c_out * cell - 0.2, "2×4", fs=FS_SMALL)
    c.text(yx + 4 * cell + 0.2, yy - cell, "=", fs=12)
    wx = yx + 4 * cell + 0.4
    c.grid(wx, yy, c_out, f * f, cell, "param")
    c.text(wx + 4.5 * cell, yy + 0.2, "$W$: one filter per row", fs=FS_SMALL)
    c.text(
        wx + 4.5 * cell,
        yy - c_out * cell - 0.2,
        "$C_\\mathrm{out}$×$C_\\mathrm{in}F^2$ = 2×9",
        fs=FS_SMALL,
    )
    c.text(wx + 9 * cell + 0.14, yy - cell, r"$\cdot$", fs=14)
    mx, my = wx + 9 * cell + 0.28, 3.05
    c.grid(mx, my, f * f, n_out * n_out, cell, "input", values=cols)
    c.frame(mx, my - f * f * cell, cell, f * f * cell, colours[0], lw=2.0)
    c.frame(
        mx + 3 * cell,
        my - f * f * cell,
        cell,
        f * f * cell,
        colours[1],
        lw=2.0,
        ls=(0, (3, 1.5)),
    )
    c.text(
        mx + 4 * cell + 0.08,
        my - 4.5 * cell,
        "im2col($X$):\n9×4, one\ncolumn per\noutput pixel",
        fs=FS_SMALL,
        ha="left",
    )
    c.text(
        3.2,
        0.62,
        "each input pixel is copied into up to $F^2 = 9$ columns;"
        " each row of $Y$ reshapes to a 2×2 output map",
        fs=FS_SMALL,
    )
    c.legend(["input", "param", "hidden"], y=0.22)
    return c


@figure("pooling")
def pooling() -> Canvas:
    """Chapter 6: 2x2 max and average pooling with stride 2 on a 4x4 feature map."""
    x = np.array([[1, 3, 2, 0], [4, 6, 1, 1], [0, 2, 7, 5], [1, 1, 3, 9]])
    c = Canvas(6.4, 3.0)
    cell = 0.36
    tints = {0: "#cdebc9", 1: "#f3e3b5", 2: "#d5e3f5", 3: "#ecd5e8"}
    fills = {(i, j): tints[(i // 2) * 2 + j // 2] for i in range(4) for j in range(4)}
    x0, y0 = 0.45, 2.45
    c.grid(x0, y0, 4, 4, cell, "hidden", values=x, fills=fills, fs=FS)
    for bi in range(2):
        for bj in range(2):
            c.frame(
                x0 + 2 * bj * cell,
                y0 - 2 * (bi + 1) * cell,
                2 * cell,
                2 * cell,
                INK,
                lw=1.6,
            )
    c.text(
        x0 + 2 * cell, y0 - 4 * cell - 0.3, "feature map 4×4 (one channel)", fs=FS_SMALL
    )
    mx = x.reshape(2, 2, 2, 2).max(axis=(1, 3))
    av = x.reshape(2, 2, 2, 2).mean(axis=(1, 3))
    ofill = {(i, j): tints[i * 2 + j] for i in range(2) for j in range(2)}
    ox = 3.0
    for name, vals, fmt, top in [
        ("max pooling", mx, "{:g}", 2.65),
        ("average pooling", av, "{:.2f}", 1.45),
    ]:
        c.grid(
            ox,
            top,
            2,
            2,
            cell * 1.2,
            "hidden",
            values=vals,
            fills=ofill,
            fs=FS,
            fmt=fmt,
        )
        c.text(ox + 2.4 * cell + 0.15, top - 1.2 * cell, name, fs=FS, ha="left")
        c.arrow((x0 + 4 * cell + 0.12, y0 - 2 * cell), (ox - 0.12, top - 1.2 * cell))
    c.text(
        ox + 2.4 * cell + 0.15,
        0.58,
        "2×2 windows, stride 2: height and width\n"
        "halve; no parameters; channels pooled\none by one",
        fs=FS_SMALL,
        ha="left",
    )
    c.legend(["hidden"], y=0.22)
    return c


def stack(
    c: Canvas,
    x: float,
    y_top: float,
    items: list[tuple[str, str]],
    *,
    w: float = 1.5,
    h: float = 0.26,
    step: float = 0.36,
    fs: float = FS_SMALL,
    arrows: bool = True,
) -> list[Box]:
    """Boxes ``(text, role)`` from top to bottom, joined by arrows."""
    boxes = []
    for k, (s, role) in enumerate(items):
        boxes.append(c.box(x, y_top - k * step, w, h, s, role, fs=fs))
    if arrows:
        for a, b in zip(boxes[:-1], boxes[1:]):
            c.arrow(a.b, b.t)
    return boxes


def feature_maps(
    c: Canvas,
    x: float,
    y: float,
    side: float,
    n: int,
    *,
    role="hidden",
    dx: float = 0.05,
) -> tuple[float, float]:
    """A stack of ``n`` square maps (at most 4 drawn) centred vertically on y; returns (left, right)."""
    shown = min(n, 4)
    for k in range(shown):
        c.box(
            x + k * dx + side / 2,
            y + k * dx - (shown - 1) * dx / 2,
            side,
            side,
            "",
            role,
            rounding=0.01,
            lw=0.8,
            z=2 + 0.01 * k,
        )
    return x, x + (shown - 1) * dx + side


def _lenet_shapes() -> list[tuple[str, tuple[int, ...]]]:
    """Run the book's LeNet5 on one 28x28 image and record the shape after every layer."""
    import torch

    from dlbook.cnn import LeNet5

    net = LeNet5("modern").eval()
    x = torch.zeros(1, 1, 28, 28)
    shapes = [("input", tuple(x.shape[1:]))]
    with torch.no_grad():
        for layer in [*net.features, *net.head]:
            x = layer(x)
            shapes.append((type(layer).__name__, tuple(x.shape[1:])))
    return shapes


@figure("lenet5")
def lenet5() -> Canvas:
    """Chapter 7: LeNet-5 as `dlbook.cnn.LeNet5` builds it, with the shapes it computes."""
    shapes = _lenet_shapes()
    kept = [s for name, s in shapes if name in ("input", "Conv2d", "MaxPool2d")]
    # input, C1, S2, C3, S4, C5, F6, output
    assert [s[0] for s in kept] == [1, 6, 6, 16, 16, 120, 84, 10], kept
    c = Canvas(7.0, 3.8)
    scale = 0.022  # inches per pixel
    names = ["input", "C1", "S2", "C3", "S4", "C5", "F6", "output"]
    ops = ["conv 5×5, pad 2\n+ ReLU", "max pool 2", "conv 5×5\n+ ReLU", "max pool 2"]
    y1 = 2.6
    x = 0.3
    hi = x
    for k in range(5):
        ch, hh, ww = kept[k]
        lo, hi = feature_maps(
            c, x, y1, hh * scale, ch, role="input" if k == 0 else "hidden"
        )
        c.text((lo + hi) / 2, y1 - 0.55, f"{names[k]}\n{ch}@{hh}×{ww}", fs=FS_SMALL)
        if k < 4:
            gap = 0.93
            c.arrow((hi + 0.06, y1), (hi + gap - 0.06, y1))
            role = "param" if "conv" in ops[k] else "op"
            bw = max(gap - 0.04, max(map(text_width, ops[k].split("\n"))) + 0.14)
            c.box(hi + gap / 2, y1 + 0.68, bw, 0.4, ops[k], role, fs=FS_SMALL)
            c.arrow(
                (hi + gap / 2, y1 + 0.48),
                (hi + gap / 2, y1 + 0.05),
                color="#9a9aa0",
                lw=0.8,
            )
            x = hi + gap
    # second row: C5, F6 and the output are vectors (1x1 maps)
    y2 = 1.05
    chain = [
        ("conv 5×5\n+ ReLU", "param"),
        kept[5],
        ("1×1 conv\n+ ReLU", "param"),
        kept[6],
        ("1×1 conv", "param"),
        kept[7],
    ]
    xs = [1.0, 2.15, 3.3, 4.45, 5.6, 6.55]
    c.path(
        [
            (hi + 0.06, y1),
            (hi + 0.25, y1),
            (hi + 0.25, 1.75),
            (0.35, 1.75),
            (0.35, y2),
            (xs[0] - 0.5, y2),
        ]
    )
    prev_r = None
    for k, (xx, item) in enumerate(zip(xs, chain)):
        if isinstance(item[0], str):
            b = c.box(xx, y2, 0.95, 0.42, item[0], item[1], fs=FS_SMALL)
        else:
            ch = item[0]
            role = "output" if k == len(chain) - 1 else "hidden"
            b = c.box(xx, y2, 0.14, 0.12 + ch * 0.004, "", role, rounding=0.02)
            c.text(
                xx,
                y2 + (0.12 + ch * 0.004) / 2 + 0.12,
                f"{names[5 + k // 2]}: {ch}",
                fs=FS_SMALL,
            )
        if prev_r is not None:
            c.arrow(prev_r, b.l)
        prev_r = b.r
    c.text(
        3.5,
        0.5,
        "C5 sees its whole 5×5 input, so C5, F6 and the output are "
        '1×1 maps; variant "original": tanh and average pooling',
        fs=FS_SMALL,
    )
    c.legend(["input", "hidden", "param", "op", "output"], y=0.2)
    return c


def _vgg16_blocks() -> list[tuple[int, int]]:
    """(number of 3x3 convolutions, width) of each VGG-16 block, read from dlbook.cnn."""
    from dlbook.cnn import VGG_CONFIGS

    blocks, widths = [], []
    for item in VGG_CONFIGS[16]:
        if item == "M":
            blocks.append((len(widths), widths[-1]))
            widths = []
        else:
            widths.append(item)
    return blocks


@figure("vgg_block")
def vgg_block() -> Canvas:
    """Chapter 7: a VGG block (n 3x3 convolutions with ReLU, then 2x2 max pooling) and VGG-16."""
    c = Canvas(6.6, 4.05)
    items = [
        ("input  $C_\\mathrm{in}$×$H$×$W$", "input"),
        ("3×3 conv, $c$ channels, pad 1", "param"),
        ("ReLU", "op"),
        ("2×2 max pool, stride 2", "op"),
        ("output  $c$×$H/2$×$W/2$", "hidden"),
    ]
    boxes = stack(c, 1.55, 3.4, items, w=2.4, h=0.3, step=0.62)
    c.frame(
        0.25,
        boxes[2].y - 0.24,
        2.6,
        boxes[1].y - boxes[2].y + 0.48,
        "#8a8a8a",
        lw=1.0,
        ls=(0, (3, 2)),
    )
    c.text(2.95, (boxes[1].y + boxes[2].y) / 2, "× $n$", fs=FS, ha="left")
    c.text(
        1.55,
        boxes[-1].y - 0.36,
        "with batch_norm=True: BN after each conv",
        fs=FS_SMALL,
    )
    blocks = _vgg16_blocks()
    x0, y0 = 3.55, 3.5
    c.text(x0 + 1.35, y0 + 0.05, "VGG-16 (VGG_CONFIGS[16]), 224×224 input", fs=FS)
    side = 224
    for k, (n, width) in enumerate(blocks):
        y = y0 - 0.42 - k * 0.42
        c.box(
            x0 + 1.35,
            y,
            2.7,
            0.3,
            f"block {k + 1}: {n} × conv {width}, pool → {width}×{side // 2}×{side // 2}",
            "param",
            fs=FS_SMALL,
        )
        side //= 2
    y = y0 - 0.42 - len(blocks) * 0.42
    c.box(
        x0 + 1.35,
        y,
        2.7,
        0.3,
        "Linear 4096, Linear 4096, Linear 1000",
        "param",
        fs=FS_SMALL,
    )
    n_conv = sum(n for n, _ in blocks)
    c.text(
        x0 + 1.35,
        y - 0.36,
        f"{n_conv} convolutions + 3 linear layers = 16",
        fs=FS_SMALL,
    )
    c.legend(["input", "param", "op", "hidden"], y=0.2)
    return c


@figure("inception")
def inception() -> Canvas:
    """Chapter 7: the Inception module with the channel numbers of GoogLeNet's block 3a."""
    from dlbook.cnn import GOOGLENET_INCEPTIONS

    c1, (r3, c3), (r5, c5), pp = GOOGLENET_INCEPTIONS["3a"]
    c_in = 192
    c = Canvas(7.0, 3.5)
    inp = c.box(3.5, 3.05, 2.2, 0.32, f"input  {c_in}×28×28", "input", fs=FS)
    xs = [0.95, 2.65, 4.35, 6.05]
    cols = [
        [(f"1×1 conv, {c1}", "param")],
        [(f"1×1 conv, {r3}", "param"), (f"3×3 conv, {c3}, pad 1", "param")],
        [(f"1×1 conv, {r5}", "param"), (f"5×5 conv, {c5}, pad 2", "param")],
        [("3×3 max pool,\nstride 1, pad 1", "op"), (f"1×1 conv, {pp}", "param")],
    ]
    cat = c.box(
        3.5,
        0.95,
        3.5,
        0.34,
        f"concatenate channels: {c1}+{c3}+{c5}+{pp} = {c1 + c3 + c5 + pp}",
        "op",
        fs=FS,
    )
    for x, col in zip(xs, cols):
        top = 2.3 if len(col) == 2 else 1.95
        boxes = stack(c, x, top, col, w=1.5, h=0.38, step=0.7)
        c.arrow((inp.x + (x - 3.5) * 0.25, inp.b[1]), boxes[0].t)
        c.arrow(boxes[-1].b, (cat.x + (x - 3.5) * 0.35, cat.t[1]))
    c.text(
        3.5,
        0.6,
        f"output {c1 + c3 + c5 + pp}×28×28; every conv is followed by ReLU"
        " (and BN with batch_norm=True)",
        fs=FS_SMALL,
    )
    c.legend(["input", "param", "op"], y=0.22)
    return c


def _add_shortcut(
    c: Canvas,
    top: Box,
    add: Box,
    x_side: float,
    label: str = "",
    role: str | None = None,
) -> None:
    """The shortcut from above ``top`` around the right of the stack into ⊕ (optionally a box)."""
    y0 = top.t[1] + 0.12
    if role is None:
        c.path([(top.x, y0), (x_side, y0), (x_side, add.y), add.r])
        if label:
            c.text(x_side + 0.06, (y0 + add.y) / 2, label, fs=FS_SMALL, ha="left")
    else:
        ym = (y0 + add.y) / 2
        b = c.box(x_side, ym, 0.95, 0.42, label, role, fs=FS_SMALL)
        c.path([(top.x, y0), (x_side, y0), b.t])
        c.path([b.b, (x_side, add.y), add.r])


@figure("resnet_blocks")
def resnet_blocks() -> Canvas:
    """Chapter 7: ResNet's basic and bottleneck blocks in dlbook.cnn's order (v1.5)."""
    c = Canvas(6.8, 5.05)
    st = 0.31
    basic = [
        ("3×3 conv, 64", "param"),
        ("BN", "param"),
        ("ReLU", "op"),
        ("3×3 conv, 64", "param"),
        ("BN", "param"),
    ]
    bott = [
        ("1×1 conv, 256 → 64", "param"),
        ("BN", "param"),
        ("ReLU", "op"),
        ("3×3 conv, 64 → 64", "param"),
        ("BN", "param"),
        ("ReLU", "op"),
        ("1×1 conv, 64 → 256", "param"),
        ("BN", "param"),
    ]
    for x, items, title, cin in [
        (1.3, basic, "BasicBlock (ResNet-18/34)", 64),
        (4.5, bott, "Bottleneck (ResNet-50 and deeper)", 256),
    ]:
        c.text(x + 0.4, 4.82, title, fs=FS)
        xin = c.box(x, 4.45, 1.3, 0.25, f"$x$: {cin}×56×56", "input", fs=FS_SMALL)
        boxes = stack(c, x, 3.95, items, w=1.6, h=0.23, step=st)
        c.arrow(xin.b, boxes[0].t)
        add = c.circle(x, boxes[-1].y - 0.42, "+", r=0.13, fs=11)
        c.arrow(boxes[-1].b, add.t)
        relu = c.box(x, add.y - 0.4, 1.0, 0.23, "ReLU", "op", fs=FS_SMALL)
        c.arrow(add.b, relu.t)
        out = c.box(
            x, relu.y - 0.38, 1.3, 0.25, f"out: {cin}×56×56", "hidden", fs=FS_SMALL
        )
        c.arrow(relu.b, out.t)
        c.path([(x, 4.2), (x + 1.15, 4.2), (x + 1.15, add.y), add.r])
        c.text(x + 1.2, (4.2 + add.y) / 2, "identity\nshortcut", fs=FS_SMALL, ha="left")
    c.text(
        1.55,
        1.0,
        "where a block changes the shape\n(stride 2 or a new width),\n"
        "the shortcut is a strided\n1×1 conv + BN",
        fs=FS_SMALL,
    )
    c.legend(["input", "param", "op", "hidden"], y=0.2)
    return c


@figure("resnet_versions")
def resnet_versions() -> Canvas:
    """Chapter 7: a downsampling bottleneck in v1, v1.5 and v2 (pre-activation) order."""
    c = Canvas(7.0, 5.45)
    st = 0.31
    cols = {
        "v1": [
            ("1×1 conv, stride 2", "param"),
            ("BN", "param"),
            ("ReLU", "op"),
            ("3×3 conv", "param"),
            ("BN", "param"),
            ("ReLU", "op"),
            ("1×1 conv", "param"),
            ("BN", "param"),
        ],
        "v1.5": [
            ("1×1 conv", "param"),
            ("BN", "param"),
            ("ReLU", "op"),
            ("3×3 conv, stride 2", "param"),
            ("BN", "param"),
            ("ReLU", "op"),
            ("1×1 conv", "param"),
            ("BN", "param"),
        ],
        "v2": [
            ("BN", "param"),
            ("ReLU", "op"),
            ("1×1 conv", "param"),
            ("BN", "param"),
            ("ReLU", "op"),
            ("3×3 conv, stride 2", "param"),
            ("BN", "param"),
            ("ReLU", "op"),
            ("1×1 conv", "param"),
        ],
    }
    notes = {
        "v1": "stride on the first 1×1:\nit reads 1 pixel in 4",
        "v1.5": "stride on the 3×3\n(torchvision's ResNet-50)",
        "v2": "pre-activation: BN-ReLU-conv,\nnothing after the addition",
    }
    H = 5.45
    for x, (name, items) in zip([0.8, 3.1, 5.4], cols.items()):
        c.text(x + 0.2, H - 0.22, name, fs=FS + 1, fontweight="bold")
        c.text(x + 0.2, H - 0.58, notes[name], fs=FS_SMALL)
        xin = c.box(x, H - 1.0, 1.0, 0.25, "$x$", "input", fs=FS_SMALL)
        boxes = stack(c, x, H - 1.5, items, w=1.2, h=0.23, step=st)
        c.arrow(xin.b, boxes[0].t)
        for b, (s, _) in zip(boxes, items):
            if "stride" in s:
                c.frame(
                    b.x - b.w / 2 - 0.03,
                    b.y - b.h / 2 - 0.03,
                    b.w + 0.06,
                    b.h + 0.06,
                    INK,
                    lw=1.6,
                )
        add = c.circle(x, boxes[-1].y - 0.42, "+", r=0.13, fs=11)
        c.arrow(boxes[-1].b, add.t)
        xs = x + 1.05
        if name == "v2":
            out = c.box(x, add.y - 0.42, 1.0, 0.25, "out", "hidden", fs=FS_SMALL)
            c.arrow(add.b, out.t)
            y0 = boxes[1].b[1] - 0.04  # the projection reads the pre-activation
            label = "1×1 conv\nstride 2\n(no BN)"
        else:
            relu = c.box(x, add.y - 0.4, 0.8, 0.23, "ReLU", "op", fs=FS_SMALL)
            c.arrow(add.b, relu.t)
            out = c.box(x, relu.y - 0.38, 1.0, 0.25, "out", "hidden", fs=FS_SMALL)
            c.arrow(relu.b, out.t)
            y0 = xin.b[1] - 0.12
            label = "1×1 conv\nstride 2\n+ BN"
        pb = c.box(xs, (y0 + add.y) / 2, 0.72, 0.52, label, "param", fs=FS_SMALL)
        c.path([(x, y0), (xs, y0), pb.t])
        c.path([pb.b, (xs, add.y), add.r])
    c.legend(["input", "param", "op", "hidden"], y=0.2)
    return c


@figure("se_block")
def se_block() -> Canvas:
    """Chapter 7: squeeze-and-excitation as dlbook.cnn.SEBlock computes it."""
    c = Canvas(7.0, 2.75)
    y = 1.75
    x_in = c.box(0.55, y, 0.85, 0.5, "$x$\n$C$×$H$×$W$", "input", fs=FS_SMALL)
    items = [
        ("global\navg pool", "op", "$C$×1×1"),
        ("1×1 conv\n$C → C/r$", "param", ""),
        ("ReLU", "op", "$C/r$"),
        ("1×1 conv\n$C/r → C$", "param", ""),
        ("sigmoid", "op", "gates $s$\n$C$×1×1 in (0, 1)"),
    ]
    xs = [1.6, 2.55, 3.4, 4.25, 5.15]
    prev = x_in
    for xx, (s, role, shape) in zip(xs, items):
        b = c.box(xx, y, 0.78, 0.5, s, role, fs=FS_SMALL)
        c.arrow(prev.r, b.l)
        if shape:
            c.text(xx, y - 0.5, shape, fs=FS_SMALL)
        prev = b
    mul = c.circle(6.05, y, "×", r=0.14, fs=11)
    c.arrow(prev.r, mul.l)
    c.path([(x_in.x, x_in.t[1]), (x_in.x, 2.45), (mul.x, 2.45), mul.t])
    c.text(3.3, 2.56, "each channel of $x$ is multiplied by its gate", fs=FS_SMALL)
    out = c.box(6.6, 1.05, 0.7, 0.5, "out\n$C$×$H$×$W$", "hidden", fs=FS_SMALL)
    c.path([mul.b, (mul.x, out.y), out.l])
    c.text(
        3.0,
        0.68,
        "squeeze: one number per channel; excite: a tiny MLP ($r$ = 16);"
        " in a ResNet block\nit reweights the residual branch before the addition",
        fs=FS_SMALL,
    )
    c.legend(["input", "param", "op", "hidden"], y=0.2)
    return c


@figure("rnn_unrolled")
def rnn_unrolled() -> Canvas:
    """Chapter 9: h_t = tanh(W_xh x_t + W_hh h_{t-1} + b) unrolled for T = 3, and BPTT."""
    c = Canvas(7.0, 3.9)
    y = 2.05
    h0 = c.box(0.45, y, 0.5, 0.36, "$\\mathbf{h}_0$", "hidden")
    prev = h0
    cells = []
    for t in range(1, 4):
        xc = 0.45 + 1.7 * t - 0.85
        cell = c.box(xc, y, 0.66, 0.46, "tanh", "op")
        xt = c.box(xc, 0.95, 0.5, 0.36, f"$\\mathbf{{x}}_{t}$", "input")
        c.arrow(xt.t, cell.b)
        c.text(
            xc - 0.06,
            1.3,
            "$W_{xh}$",
            fs=FS_SMALL,
            ha="right",
            color=ROLES["param"].edge,
        )
        c.arrow(prev.r, cell.l)
        c.text(
            (prev.r[0] + cell.l[0]) / 2,
            y + 0.14,
            "$W_{hh}$",
            fs=FS_SMALL,
            color=ROLES["param"].edge,
        )
        ht = c.box(xc + 0.85, y, 0.5, 0.36, f"$\\mathbf{{h}}_{t}$", "hidden")
        c.arrow(cell.r, ht.l)
        cells.append(cell)
        prev = ht
    loss = c.box(6.45, y, 0.6, 0.4, "$L$", "output")
    c.arrow(prev.r, loss.l)
    # shared parameters
    pbox = c.box(
        3.0,
        3.45,
        3.6,
        0.36,
        "$W_{xh}$, $W_{hh}$, $\\mathbf{b}$: one copy, used at every step",
        "param",
        fs=FS_SMALL,
    )
    for cell in cells:
        c.arrow(
            (cell.x - 0.1, pbox.b[1]),
            (cell.x - 0.1, cell.t[1]),
            color="#9a9aa0",
            lw=0.8,
        )
        c.grad_arrow((cell.x + 0.12, cell.t[1]), (cell.x + 0.12, pbox.b[1]))
    c.text(
        5.55,
        3.0,
        "gradients of all steps\nadd up in each weight",
        fs=FS_SMALL,
        color=GRAD,
    )
    # BPTT along the chain of states
    yb = y - 0.42
    c.grad_arrow((loss.l[0], yb), (prev.x, yb))
    for t in range(3, 0, -1):
        xs_ = 0.45 + 1.7 * t
        c.grad_arrow((xs_, yb), (xs_ - 1.7, yb))
    c.text(
        6.15,
        1.05,
        "each step back\nmultiplies by "
        "$(\\partial\\mathbf{h}_t/\\partial\\mathbf{h}_{t-1})^\\top$\n"
        "$= W_{hh}^\\top\\,\\mathrm{diag}(1-\\mathbf{h}_t^2)$",
        fs=FS_SMALL,
        color=GRAD,
    )
    c.legend(
        ["input", "hidden", "param", "op", "output"], y=0.22, extra=[("BPTT", "grad")]
    )
    return c


@figure("lstm_cell")
def lstm_cell() -> Canvas:
    """Chapter 9: the LSTM cell as dlbook.rnn.LSTMCell computes it (gates i, f, g, o)."""
    c = Canvas(7.0, 4.0)
    yc, yh = 3.3, 1.95
    cin = c.box(0.55, yc, 0.7, 0.36, "$\\mathbf{c}_{t-1}$", "hidden")
    hin = c.box(0.55, 1.25, 0.7, 0.36, "$\\mathbf{h}_{t-1}$", "hidden")
    xin = c.box(0.55, 0.7, 0.7, 0.36, "$\\mathbf{x}_t$", "input")
    aff = c.box(
        3.35,
        0.95,
        3.7,
        0.46,
        "$W_{ih}\\mathbf{x}_t + \\mathbf{b}_{ih} + W_{hh}\\mathbf{h}_{t-1} + "
        "\\mathbf{b}_{hh}$:  4H numbers, split into i, f, g, o",
        "param",
        fs=FS_SMALL,
    )
    c.arrow(hin.r, (aff.l[0], 1.07))
    c.arrow(xin.r, (aff.l[0], 0.83))
    gates = {
        "f": (1.95, "σ", "forget"),
        "i": (2.85, "σ", "input"),
        "g": (3.75, "tanh", "candidate"),
        "o": (4.75, "σ", "output"),
    }
    gb = {}
    for k, (x, fn, name) in gates.items():
        gb[k] = c.box(x, yh, 0.8, 0.5, f"${k}$ = {fn}(·)\n{name}", "op", fs=FS_SMALL)
        c.arrow((x, aff.t[1]), gb[k].b)
    fmul = c.circle(1.95, yc, "×", fs=11)
    c.arrow(cin.r, fmul.l)
    c.arrow(gb["f"].t, fmul.b)
    igm = c.circle(3.3, 2.62, "×", fs=11)
    c.path([gb["i"].t, (2.85, 2.62), igm.l])
    c.path([gb["g"].t, (3.75, 2.62), igm.r])
    add = c.circle(3.3, yc, "+", fs=11)
    c.arrow(fmul.r, add.l)
    c.arrow(igm.t, add.b)
    cout = c.box(6.45, yc, 0.7, 0.36, "$\\mathbf{c}_t$", "hidden")
    c.arrow(add.r, cout.l)
    tc = c.box(5.45, 2.6, 0.66, 0.34, "tanh", "op", fs=FS)
    c.arrow((5.45, yc), tc.t)
    omul = c.circle(5.45, yh, "×", fs=11)
    c.arrow(tc.b, omul.t)
    c.arrow(gb["o"].r, omul.l)
    hout = c.box(6.45, yh, 0.7, 0.36, "$\\mathbf{h}_t$", "hidden")
    c.arrow(omul.r, hout.l)
    c.text(
        2.6, 3.68, "$\\mathbf{c}_t = f \\odot \\mathbf{c}_{t-1} + i \\odot g$", fs=FS
    )
    c.text(5.55, 1.4, "$\\mathbf{h}_t = o \\odot \\tanh(\\mathbf{c}_t)$", fs=FS)
    c.legend(["input", "hidden", "param", "op"], y=0.22)
    return c


@figure("gru_cell")
def gru_cell() -> Canvas:
    """Chapter 9: the GRU cell in PyTorch's form, as dlbook.rnn.GRUCell computes it."""
    c = Canvas(7.0, 3.7)
    yt = 3.15
    hin = c.box(0.55, yt, 0.7, 0.36, "$\\mathbf{h}_{t-1}$", "hidden")
    xin = c.box(0.55, 0.85, 0.7, 0.36, "$\\mathbf{x}_t$", "input")
    ax_ = c.box(
        1.95,
        0.85,
        1.5,
        0.46,
        "$W_{ih}\\mathbf{x}_t + \\mathbf{b}_{ih}$\n$(i_r, i_z, i_n)$",
        "param",
        fs=FS_SMALL,
    )
    ah = c.box(
        1.95,
        2.05,
        1.5,
        0.46,
        "$W_{hh}\\mathbf{h}_{t-1} + \\mathbf{b}_{hh}$\n$(h_r, h_z, h_n)$",
        "param",
        fs=FS_SMALL,
    )
    c.arrow(xin.r, ax_.l)
    c.path([(1.0, yt), (1.95, yt), ah.t])
    c.arrow(hin.r, (1.0, yt), head=False)
    r = c.box(3.55, 2.5, 1.25, 0.38, "$r = \\sigma(i_r + h_r)$", "op", fs=FS_SMALL)
    z = c.box(3.55, 1.9, 1.25, 0.38, "$z = \\sigma(i_z + h_z)$", "op", fs=FS_SMALL)
    n = c.box(
        3.75, 1.0, 1.75, 0.42, "$n = \\tanh(i_n + r \\odot h_n)$", "op", fs=FS_SMALL
    )
    c.arrow(ah.r, r.l)
    c.arrow(ah.r, z.l)
    c.arrow((ax_.r[0], 0.95), (r.l[0], 2.45))
    c.arrow((ax_.r[0], 0.9), (z.l[0], 1.85))
    c.arrow((ax_.r[0], 0.85), n.l)
    c.path(
        [(ah.r[0] - 0.05, ah.b[1]), (ah.r[0] - 0.05, 1.45), (3.3, 1.45), (3.3, n.t[1])]
    )
    c.path([(r.r[0], r.y), (4.45, r.y), (4.45, 1.6), (4.2, 1.6), (4.2, n.t[1])])
    mix = c.box(
        5.55,
        1.9,
        1.35,
        0.5,
        "$(1-z)\\odot n$\n$+\\ z\\odot\\mathbf{h}_{t-1}$",
        "op",
        fs=FS_SMALL,
    )
    c.arrow(z.r, mix.l)
    c.path([n.r, (5.55, 1.0), mix.b])
    c.path([(1.95, yt), (5.55, yt), mix.t])
    hout = c.box(6.65, 1.9, 0.55, 0.36, "$\\mathbf{h}_t$", "hidden")
    c.arrow(mix.r, hout.l)
    c.text(6.5, 1.3, "$z = 1$ keeps\nthe old state", fs=FS_SMALL)
    c.text(
        3.3,
        3.45,
        "reset $r$ scales $W_{hn}\\mathbf{h}_{t-1} + b_{hn}$, not $\\mathbf{h}_{t-1}$",
        fs=FS_SMALL,
    )
    c.legend(["input", "hidden", "param", "op"], y=0.22)
    return c


def _attention_example() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fixed small Q, K, V (T = S = 4, d = 3) and the attention weights softmax(QKᵀ/√d)."""
    q = np.array([[1.0, 0.0, 1.0], [0.0, 2.0, 0.0], [1.0, 1.0, 0.0], [-1.0, 0.0, 1.0]])
    k = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 1.0]])
    v = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    s = q @ k.T / math.sqrt(q.shape[1])
    w = np.exp(s - s.max(1, keepdims=True))
    return q, k, v, w / w.sum(1, keepdims=True)


def _shade(base: str, amount: float) -> str:
    """Mix white into ``base`` colour: amount 1 is the colour, 0 is white."""
    rgb = np.array(mpl.colors.to_rgb(base))
    return mpl.colors.to_hex(1 - amount * (1 - rgb))


@figure("attention_qkv")
def attention_qkv() -> Canvas:
    """Chapter 10: softmax(QKᵀ/√d) V on a 4-token example, laid out as matrix products."""
    q, k, v, a = _attention_example()
    out = a @ v
    c = Canvas(7.0, 4.25)
    cell = 0.31
    t, d = q.shape
    top = 2.45  # the top edge of the rows of Q, scores, A and the output
    qx = 0.35
    c.grid(qx, top, t, d, cell, "hidden", values=q, fmt="{:g}")
    c.text(qx + d * cell / 2, top + 0.18, "$Q$: one query per row", fs=FS_SMALL)
    c.text(qx + d * cell / 2, top - t * cell - 0.2, "queries T×d", fs=FS_SMALL)
    sx = qx + d * cell + 0.3
    c.grid(sx, top + 0.2 + d * cell, d, t, cell, "hidden", values=k.T, fmt="{:g}")
    c.text(
        sx + t * cell + 0.08,
        top + 0.2 + d * cell / 2,
        "$K^\\top$: one key\nper column",
        fs=FS_SMALL,
        ha="left",
    )
    sc = q @ k.T / math.sqrt(d)
    c.grid(sx, top, t, t, cell, "hidden", values=sc, fmt="{:.1f}")
    c.text(sx + t * cell / 2, top - t * cell - 0.2, "$QK^\\top/\\sqrt{d}$", fs=FS_SMALL)
    ax0 = sx + t * cell + 0.75
    c.arrow(
        (sx + t * cell + 0.08, top - t * cell / 2), (ax0 - 0.08, top - t * cell / 2)
    )
    c.text(
        (sx + t * cell + ax0) / 2,
        top - t * cell / 2 + 0.22,
        "softmax\nper row",
        fs=FS_SMALL,
    )
    fills = {
        (i, j): _shade(ROLES["hidden"].edge, 0.15 + 0.7 * a[i, j])
        for i in range(t)
        for j in range(t)
    }
    c.grid(ax0, top, t, t, cell, "hidden", values=a, fills=fills, fmt="{:.2f}")
    c.text(
        ax0 + t * cell / 2,
        top - t * cell - 0.2,
        "weights $A$: rows sum to 1",
        fs=FS_SMALL,
    )
    ox = ax0 + t * cell + 0.3
    c.grid(ox, top + 0.2 + t * cell, t, d, cell, "hidden", values=v, fmt="{:g}")
    c.text(
        ox + d * cell + 0.08,
        top + 0.2 + t * cell / 2,
        "$V$: one value\nper row",
        fs=FS_SMALL,
        ha="left",
    )
    c.grid(ox, top, t, d, cell, "output", values=out, fmt="{:.2f}")
    c.text(ox + d * cell / 2, top - t * cell - 0.2, "$AV$: T×$d_v$", fs=FS_SMALL)
    c.frame(qx, top - 2 * cell, d * cell, cell, ROLES["param"].edge, lw=1.8)
    c.frame(sx, top - 2 * cell, t * cell, cell, ROLES["param"].edge, lw=1.8)
    c.frame(ax0, top - 2 * cell, t * cell, cell, ROLES["param"].edge, lw=1.8)
    c.frame(ox, top - 2 * cell, d * cell, cell, ROLES["param"].edge, lw=1.8)
    best = int(a[1].argmax())
    c.text(
        3.5,
        0.58,
        f"query 2 (framed) gives key {best + 1} the largest weight, "
        f"{a[1, best]:.2f}, so its output leans to value {best + 1};"
        "\na mask adds $-\\infty$ to forbidden scores before the softmax",
        fs=FS_SMALL,
    )
    c.legend(["hidden", "output"], y=0.2)
    return c


@figure("transformer_block")
def transformer_block() -> Canvas:
    """Chapter 10: dlbook.attention.TransformerBlock, pre-LN, and its multi-head attention."""
    c = Canvas(7.0, 5.3)
    x = 1.5
    xin = c.box(x, 0.7, 1.5, 0.3, "$\\mathbf{x}$: (B, T, D)", "input", fs=FS_SMALL)
    items = [
        ("LayerNorm", "param"),
        ("multi-head attention", "param"),
        ("dropout", "op"),
    ]
    st = 0.36
    b1 = [
        c.box(x, 1.2 + k * st, 1.6, 0.25, s, r, fs=FS_SMALL)
        for k, (s, r) in enumerate(items)
    ]
    c.arrow(xin.t, b1[0].b)
    for a_, b_ in zip(b1[:-1], b1[1:]):
        c.arrow(a_.t, b_.b)
    add1 = c.circle(x, b1[-1].y + 0.38, "+", r=0.13, fs=11)
    c.arrow(b1[-1].t, add1.b)
    c.path(
        [(x, xin.t[1] + 0.1), (x - 1.05, xin.t[1] + 0.1), (x - 1.05, add1.y), add1.l]
    )
    items2 = [
        ("LayerNorm", "param"),
        ("Linear D → 4D", "param"),
        ("GELU", "op"),
        ("Linear 4D → D", "param"),
        ("dropout", "op"),
    ]
    y0 = add1.y + 0.42
    b2 = [
        c.box(x, y0 + k * st, 1.6, 0.25, s, r, fs=FS_SMALL)
        for k, (s, r) in enumerate(items2)
    ]
    c.arrow(add1.t, b2[0].b)
    for a_, b_ in zip(b2[:-1], b2[1:]):
        c.arrow(a_.t, b_.b)
    add2 = c.circle(x, b2[-1].y + 0.38, "+", r=0.13, fs=11)
    c.arrow(b2[-1].t, add2.b)
    c.path(
        [
            (x, add1.t[1] + 0.12),
            (x - 1.05, add1.t[1] + 0.12),
            (x - 1.05, add2.y),
            add2.l,
        ]
    )
    out = c.box(x, add2.y + 0.38, 1.5, 0.28, "out: (B, T, D)", "hidden", fs=FS_SMALL)
    c.arrow(add2.t, out.b)
    c.text(
        x - 1.12, (xin.y + add1.y) / 2, "residual", fs=FS_SMALL, ha="right", rotation=90
    )
    c.text(
        x + 0.9,
        (b1[0].y + b1[-1].y) / 2,
        "$\\mathbf{x} + \\mathrm{MHA}(\\mathrm{LN}(\\mathbf{x}))$",
        fs=FS_SMALL,
        ha="left",
    )
    c.text(
        x + 0.9,
        (b2[0].y + b2[-1].y) / 2,
        "$\\mathbf{x} + \\mathrm{MLP}(\\mathrm{LN}(\\mathbf{x}))$",
        fs=FS_SMALL,
        ha="left",
    )
    # multi-head attention, zoomed in
    zx = 5.0
    c.ax.add_patch(
        FancyBboxPatch(
            (3.45, 0.5),
            3.35,
            3.45,
            boxstyle="round,pad=0,rounding_size=0.08",
            fc="none",
            ec="#9a9aa0",
            lw=0.9,
            ls=(0, (3, 2)),
            zorder=1,
        )
    )
    c.path([(b1[1].r[0], b1[1].y), (3.45, 2.2)], color="#9a9aa0", lw=0.8)
    c.text(zx + 0.1, 3.75, "multi-head attention ($H$ heads)", fs=FS)
    zin = c.box(
        zx, 0.8, 1.7, 0.28, "LN($\\mathbf{x}$): (B, T, D)", "hidden", fs=FS_SMALL
    )
    proj = c.box(
        zx,
        1.35,
        2.9,
        0.34,
        "in_proj: $Q, K, V = \\mathbf{x}W_q, \\mathbf{x}W_k, \\mathbf{x}W_v$",
        "param",
        fs=FS_SMALL,
    )
    heads = c.box(
        zx,
        1.95,
        2.9,
        0.34,
        "split into $H$ heads of $D/H$: (B, H, T, D/H)",
        "op",
        fs=FS_SMALL,
    )
    sdpa = c.box(
        zx,
        2.55,
        2.9,
        0.34,
        "softmax($QK^\\top/\\sqrt{D/H}$ + mask) $V$ per head",
        "op",
        fs=FS_SMALL,
    )
    outp = c.box(
        zx,
        3.15,
        2.9,
        0.34,
        "concatenate heads, out_proj $W_o$: (B, T, D)",
        "param",
        fs=FS_SMALL,
    )
    for a_, b_ in [(zin, proj), (proj, heads), (heads, sdpa), (sdpa, outp)]:
        c.arrow(a_.t, b_.b)
    c.text(
        5.1,
        4.55,
        "pre-LN: the normalisation sits inside each branch;\n"
        "the residual path from input to output is a pure sum",
        fs=FS_SMALL,
    )
    c.legend(["input", "param", "op", "hidden"], y=0.2)
    return c


def _toy_image() -> np.ndarray:
    """A 28x28 grey picture of a T-shirt, built from rectangles (no data set needed)."""
    img = np.zeros((28, 28))
    img[4:25, 8:20] = 0.8  # body
    img[4:12, 2:26] = 0.8  # sleeves
    img[4:6, 11:17] = 0.2  # collar
    img[15:17, 8:20] = 0.5  # a stripe
    return img


@figure("vit_patches")
def vit_patches() -> Canvas:
    """Chapter 10: how dlbook.attention.ViT turns a 28x28 image into 50 tokens."""
    from dlbook.attention import ViTConfig

    cfg = ViTConfig(patch_size=7, d_model=64, n_layers=4)  # chapter 10's cpu profile
    p, side = cfg.patch_size, cfg.image_size
    g = side // p
    c = Canvas(7.0, 3.6)
    img = _toy_image()
    size = 1.7
    x0, y0 = 0.3, 2.95
    c.ax.imshow(
        img,
        cmap="gray",
        vmin=0,
        vmax=1,
        interpolation="nearest",
        extent=(x0, x0 + size, y0 - size, y0),
        zorder=2,
    )
    for k in range(g + 1):
        f = x0 + k * size / g
        c.ax.plot([f, f], [y0 - size, y0], color=ROLES["input"].edge, lw=0.7, zorder=3)
        yy = y0 - k * size / g
        c.ax.plot(
            [x0, x0 + size], [yy, yy], color=ROLES["input"].edge, lw=0.7, zorder=3
        )
    c.text(
        x0 + size / 2, y0 + 0.2, f"{side}×{side} image, {p}×{p} patches", fs=FS_SMALL
    )
    c.text(
        x0 + size / 2,
        y0 - size - 0.2,
        f"{g}×{g} = {cfg.n_patches} patches, row by row",
        fs=FS_SMALL,
    )
    # a strip of flattened patches
    sx = 2.6
    first = ROLES["param"].edge  # the first patch and its vector
    c.frame(x0, y0 - size / g, size / g, size / g, first, lw=2.0)
    c.arrow((x0 + size + 0.08, 2.1), (sx - 0.08, 2.1))
    c.text((x0 + size + sx) / 2, 2.3, "patchify", fs=FS_SMALL)
    cw = 0.17
    for k in range(6):
        c.box(
            sx + k * (cw + 0.04) + cw / 2,
            2.1,
            cw,
            0.7,
            "",
            "input",
            rounding=0.02,
            lw=0.8,
        )
    c.frame(sx, 2.1 - 0.35, cw, 0.7, first, lw=2.0)
    c.text(sx + 6 * (cw + 0.04) + 0.05, 2.1, "…", fs=FS)
    c.text(
        sx + 0.65,
        1.55,
        f"{cfg.n_patches} vectors\nof {cfg.in_channels * p * p} pixels",
        fs=FS_SMALL,
    )
    emb = c.box(
        sx + 0.65,
        3.05,
        1.35,
        0.34,
        f"Linear {p * p} → {cfg.d_model}",
        "param",
        fs=FS_SMALL,
    )
    c.arrow((sx + 0.65, 2.47), emb.b)
    # tokens
    tx = 4.35
    c.arrow(emb.r, (tx - 0.1, 3.05))
    cls = c.box(tx + 0.1, 2.45, 0.2, 0.7, "", "param", rounding=0.02, lw=0.8)
    for k in range(5):
        c.box(tx + 0.36 + k * 0.24, 2.45, 0.2, 0.7, "", "hidden", rounding=0.02, lw=0.8)
    c.text(tx - 0.05, 1.95, "class\ntoken", fs=FS_SMALL, va="top", ha="right")
    c.text(tx + 1.6, 2.45, "…", fs=FS)
    c.text(tx + 0.9, 3.05, f"{cfg.n_patches + 1} tokens × {cfg.d_model}", fs=FS_SMALL)
    pos = c.box(tx + 0.9, 1.45, 1.75, 0.3, "+ learned positions", "param", fs=FS_SMALL)
    c.arrow((tx + 0.9, 2.08), pos.t)
    del cls
    blk = c.box(
        tx + 0.8,
        0.92,
        2.0,
        0.34,
        f"{cfg.n_layers} blocks, LN, head on token 0",
        "param",
        fs=FS_SMALL,
    )
    c.arrow(pos.b, (tx + 0.9, blk.t[1]))
    out = c.box(6.6, 0.92, 0.45, 0.34, f"{cfg.n_classes}", "output", fs=FS_SMALL)
    c.arrow(blk.r, out.l)
    c.text(6.6, 1.27, "logits", fs=FS_SMALL)
    c.legend(["input", "param", "hidden", "output"], y=0.2)
    return c


@figure("message_passing")
def message_passing() -> Canvas:
    """Chapter 11: one layer of message passing at node i: messages, aggregation, update."""
    c = Canvas(7.0, 3.3)
    pos = {
        "i": (1.75, 1.85),
        "j1": (0.6, 2.75),
        "j2": (0.55, 1.0),
        "j3": (2.95, 2.65),
        "k1": (3.05, 1.05),
        "k2": (1.7, 0.7),
    }
    edges = [
        ("j1", "i"),
        ("j2", "i"),
        ("j3", "i"),
        ("j3", "k1"),
        ("j2", "k2"),
        ("k1", "k2"),
    ]
    for a, b in edges:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        c.ax.plot([x0, x1], [y0, y1], color="#b0b0b8", lw=1.6, zorder=1)
    for j in ("j1", "j2", "j3"):
        (x0, y0), (x1, y1) = pos[j], pos["i"]
        dx, dy = x1 - x0, y1 - y0
        n = math.hypot(dx, dy)
        c.arrow(
            (x0 + dx / n * 0.25, y0 + dy / n * 0.25),
            (x1 - dx / n * 0.27, y1 - dy / n * 0.27),
            lw=1.6,
        )
        c.box(
            x0 + dx * 0.5,
            y0 + dy * 0.5,
            0.42,
            0.24,
            f"$m_{{{j[1]}}}$",
            "hidden",
            fs=FS_SMALL,
        )
    for k, (x, y) in pos.items():
        if k == "i":
            c.circle(x, y, "$h_i$", "hidden", r=0.24)
            c.ax.add_patch(
                Circle(
                    (x, y), 0.29, fill=False, ec=ROLES["hidden"].edge, lw=1.8, zorder=3
                )
            )
        elif k.startswith("j"):
            c.circle(x, y, f"$h_{{{k[1]}}}$", "hidden", r=0.21)
        else:
            c.circle(x, y, "", "op", r=0.17)
    c.text(
        1.75,
        3.05,
        "neighbours $j \\in \\mathcal{N}(i)$ send messages to $i$",
        fs=FS_SMALL,
    )
    c.text(3.05, 0.72, "2 edges away: heard\nafter 2 layers", fs=FS_SMALL, va="top")
    # the computation at node i
    x0 = 4.05
    ys = [2.6, 2.0, 1.4]
    for k, y in enumerate(ys):
        c.box(
            x0 + 0.45,
            y,
            1.05,
            0.4,
            f"$\\phi(h_i, h_{k + 1}, e_{{{k + 1}i}})$",
            "param",
            fs=FS_SMALL,
        )
    agg = c.circle(x0 + 1.45, 2.0, "$\\oplus$", r=0.2, fs=13)
    for y in ys:
        c.arrow((x0 + 0.98, y), (agg.x - 0.2 * 0.9, agg.y + (y - agg.y) * 0.25))
    upd = c.box(x0 + 2.25, 2.0, 0.75, 0.42, "$\\gamma(h_i, \\cdot)$", "param", fs=FS)
    c.arrow(agg.r, upd.l)
    out = c.box(x0 + 2.25, 1.2, 0.75, 0.38, "$h_i^{(l)}$", "hidden")
    c.arrow(upd.b, out.t)
    c.text(x0 + 0.45, 3.05, "message $\\phi$, per edge", fs=FS_SMALL)
    c.text(
        x0 + 1.33,
        1.62,
        "aggregate:\nsum, mean\nor max",
        fs=FS_SMALL,
        va="top",
        ha="left",
    )
    c.text(x0 + 2.25, 2.27, "update", fs=FS_SMALL, va="bottom")
    c.text(
        x0 + 1.2,
        0.75,
        "$\\oplus$ is permutation invariant; the same $\\phi$, $\\gamma$ at every node",
        fs=FS_SMALL,
    )
    c.legend(["hidden", "param", "op"], y=0.22)
    return c


def _blur(img: np.ndarray, k: int = 2) -> np.ndarray:
    """A box blur: what a reconstruction through a small bottleneck tends to look like."""
    pad = np.pad(img, k, mode="edge")
    out = np.zeros_like(img)
    for di in range(2 * k + 1):
        for dj in range(2 * k + 1):
            out += pad[di : di + img.shape[0], dj : dj + img.shape[1]]
    return out / (2 * k + 1) ** 2


def _image(
    c: Canvas,
    img: np.ndarray,
    x: float,
    y: float,
    size: float,
    role: str,
    vmin: float = 0.0,
    vmax: float = 1.0,
) -> Box:
    """A grey image centred on (x, y), framed in the colour of its role."""
    c.ax.imshow(
        img,
        cmap="gray",
        vmin=vmin,
        vmax=vmax,
        interpolation="nearest",
        extent=(x - size / 2, x + size / 2, y - size / 2, y + size / 2),
        zorder=2,
    )
    c.frame(x - size / 2, y - size / 2, size, size, ROLES[role].edge, lw=1.6)
    return Box(x, y, size, size)


def _trapezoid(
    c: Canvas,
    x0: float,
    x1: float,
    y: float,
    h0: float,
    h1: float,
    s: str,
    role: str = "param",
) -> None:
    c.poly(
        [(x0, y - h0 / 2), (x1, y - h1 / 2), (x1, y + h1 / 2), (x0, y + h0 / 2)], role
    )
    c.text((x0 + x1) / 2, y, s, fs=FS_SMALL)


@figure("autoencoder")
def autoencoder() -> Canvas:
    """Chapter 12: encoder, bottleneck code and decoder of dlbook.autoencoder's conv model."""
    c = Canvas(7.0, 2.9)
    y = 1.65
    img = _toy_image()
    xb = _image(c, img, 0.6, y, 0.8, "input")
    c.text(0.6, y - 0.58, "$\\mathbf{x}$: 1×28×28", fs=FS_SMALL)
    _trapezoid(
        c,
        1.15,
        2.95,
        y,
        1.5,
        0.6,
        "encoder $E_\\phi$\nconv 4×4 s2: $w$×14×14\nconv 4×4 s2: 2$w$×7×7\n"
        "conv 3×3, Linear",
    )
    z = c.box(3.5, y, 0.6, 0.5, "$\\mathbf{z}$\n$k$", "hidden", fs=FS)
    c.arrow(xb.r, (1.15, y))
    c.arrow((2.95, y), z.l)
    _trapezoid(
        c,
        4.05,
        5.85,
        y,
        0.6,
        1.5,
        "decoder $D_\\theta$\nLinear, conv 3×3\nconvT 4×4 s2: 14×14\n"
        "convT 4×4 s2: 28×28",
    )
    c.arrow(z.r, (4.05, y))
    xh = _image(c, _blur(img), 6.4, y, 0.8, "output")
    c.arrow((5.85, y), xh.l)
    c.text(6.4, y - 0.58, "$\\hat{\\mathbf{x}}$", fs=FS)
    c.text(3.5, y + 0.45, "bottleneck\n$k < 784$", fs=FS_SMALL, va="bottom")
    c.text(
        3.5,
        0.62,
        "loss $\\|\\mathbf{x} - \\hat{\\mathbf{x}}\\|^2$: "
        "the code must keep what the decoder needs to redraw $\\mathbf{x}$",
        fs=FS_SMALL,
    )
    c.legend(["input", "param", "hidden", "output"], y=0.22)
    return c


@figure("vae")
def vae() -> Canvas:
    """Chapter 12: the VAE's forward pass with z = μ + σ ⊙ ε, and where the gradients go."""
    c = Canvas(7.0, 3.8)
    y = 2.4
    img = _toy_image()
    xb = _image(c, img, 0.55, y, 0.72, "input")
    c.text(0.55, y - 0.52, "$\\mathbf{x}$", fs=FS)
    _trapezoid(c, 1.05, 2.2, y, 1.2, 0.7, "encoder\n$q_\\phi$")
    c.arrow(xb.r, (1.05, y))
    mu = c.box(2.7, y + 0.38, 0.62, 0.34, "$\\mathbf{\\mu}$", "hidden")
    lv = c.box(
        2.7,
        y - 0.38,
        0.62,
        0.34,
        "$\\log\\mathbf{\\sigma}^2$",
        "hidden",
        fs=FS_SMALL,
    )
    c.arrow((2.2, y + 0.15), mu.l)
    c.arrow((2.2, y - 0.15), lv.l)
    rep = c.box(
        3.9,
        y,
        1.2,
        0.5,
        "$\\mathbf{z} = \\mathbf{\\mu} + "
        "\\mathbf{\\sigma}\\odot\\mathbf{\\epsilon}$",
        "op",
        fs=FS_SMALL,
    )
    c.arrow(mu.r, (rep.l[0], y + 0.12))
    c.arrow(lv.r, (rep.l[0], y - 0.12))
    eps = c.box(
        3.9,
        3.4,
        1.2,
        0.34,
        "$\\mathbf{\\epsilon}\\sim\\mathcal{N}(0, I)$",
        "noise",
        fs=FS_SMALL,
    )
    c.arrow(eps.b, rep.t)
    c.text(3.25, 3.4, "a constant:\nno gradient needed", fs=FS_SMALL, ha="right")
    _trapezoid(c, 4.8, 5.8, y, 0.6, 1.1, "decoder\n$p_\\theta$")
    c.arrow(rep.r, (4.8, y))
    xh = _image(c, _blur(img), 6.45, y, 0.72, "output")
    c.arrow((5.8, y), xh.l)
    c.text(6.45, y - 0.52, "sigmoid(logits)", fs=FS_SMALL)
    rec = c.box(
        5.7,
        1.2,
        1.9,
        0.42,
        "reconstruction:\nBCE($\\mathbf{x}$, $\\hat{\\mathbf{x}}$)",
        "output",
        fs=FS_SMALL,
    )
    kl = c.box(
        2.7,
        1.2,
        2.3,
        0.42,
        "KL($\\mathcal{N}(\\mathbf{\\mu}, "
        "\\mathbf{\\sigma}^2)\\,\\|\\,\\mathcal{N}(0, I)$)",
        "output",
        fs=FS_SMALL,
    )
    c.arrow((xh.x, xh.b[1] - 0.3), (xh.x, rec.t[1]))
    # gradients
    c.grad_arrow((rec.l[0], rec.y + 0.05), (5.3, y - 0.35))
    c.grad_arrow((4.8, y - 0.25), (rep.r[0], y - 0.2))
    c.grad_arrow((rep.l[0], y + 0.22), (mu.r[0], y + 0.5))
    c.grad_arrow((rep.l[0], y - 0.22), (lv.r[0], y - 0.5))
    c.grad_arrow((kl.x - 0.3, kl.t[1]), (lv.x - 0.1, lv.b[1]))
    c.grad_arrow((mu.l[0], mu.y), (2.2, y + 0.4))
    c.text(
        kl.x - 0.32,
        (kl.t[1] + lv.b[1]) / 2,
        "to $\\mathbf{\\mu}$ and\n$\\log\\mathbf{\\sigma}^2$",
        fs=FS_SMALL,
        color=GRAD,
        ha="right",
    )
    c.text(
        3.55,
        0.75,
        "loss = reconstruction + KL (the negative ELBO), in nats per image",
        fs=FS_SMALL,
    )
    c.legend(
        ["input", "param", "hidden", "op", "noise", "output"],
        y=0.26,
        extra=[("gradient", "grad")],
    )
    return c


@figure("gan_loop")
def gan_loop() -> Canvas:
    """Chapter 13: one step of dlbook.gan.train_step: first D, then G, non-saturating loss."""
    c = Canvas(7.0, 3.75)
    for k, x0 in enumerate([0.1, 3.6]):
        title = ["1. discriminator step", "2. generator step (fresh noise)"][k]
        c.text(x0 + 1.65, 3.5, title, fs=FS, fontweight="bold")
        z = c.box(
            x0 + 0.45,
            2.95,
            0.7,
            0.36,
            "$\\mathbf{z}\\sim\\mathcal{N}(0, I)$",
            "noise",
            fs=FS_SMALL,
        )
        g = c.box(x0 + 1.45, 2.95, 0.55, 0.4, "$G$", "param")
        fake = c.box(
            x0 + 2.5, 2.95, 0.85, 0.36, "fake $G(\\mathbf{z})$", "hidden", fs=FS_SMALL
        )
        c.arrow(z.r, g.l)
        c.arrow(g.r, fake.l)
        d = c.box(x0 + 2.5, 1.95, 0.55, 0.4, "$D$", "param")
        c.arrow(fake.b, d.t)
        if k == 0:
            c.text(x0 + 2.6, 2.45, "detach", fs=FS_SMALL, ha="left", color=GRAD)
            c.ax.plot([x0 + 2.4, x0 + 2.6], [2.4, 2.5], color=GRAD, lw=1.6, zorder=4)
            real = c.box(
                x0 + 1.2,
                1.95,
                1.0,
                0.36,
                "real $\\mathbf{x}$ (data)",
                "input",
                fs=FS_SMALL,
            )
            c.arrow(real.r, d.l)
            loss = c.box(
                x0 + 1.65,
                0.95,
                3.1,
                0.42,
                "$-\\log D(\\mathbf{x}) - \\log(1 - D(G(\\mathbf{z})))$",
                "output",
                fs=FS_SMALL,
            )
            c.arrow(d.b, (d.x, loss.t[1]))
            c.grad_arrow((loss.x - 0.6, loss.t[1]), (d.l[0] + 0.1, d.b[1]))
            c.text(
                x0 + 0.35, 1.45, "updates $D$ only", fs=FS_SMALL, color=GRAD, ha="left"
            )
        else:
            loss = c.box(
                x0 + 1.65,
                0.95,
                2.2,
                0.42,
                "$-\\log D(G(\\mathbf{z}))$",
                "output",
                fs=FS_SMALL,
            )
            c.arrow(d.b, (d.x, loss.t[1]))
            c.grad_arrow((loss.x - 0.3, loss.t[1]), (d.l[0], d.y - 0.05))
            c.grad_arrow((d.l[0], d.y + 0.1), (fake.l[0] + 0.1, fake.b[1]))
            c.grad_arrow((fake.l[0], fake.y - 0.08), (g.r[0], g.y - 0.12))
            c.text(
                x0 + 0.25,
                1.85,
                "through $D$ to $G$;\nonly $G$ is updated",
                fs=FS_SMALL,
                color=GRAD,
                ha="left",
            )
    c.legend(
        ["noise", "input", "param", "hidden", "output"],
        y=0.22,
        extra=[("gradient", "grad")],
    )
    return c


def _alpha_bars(T: int = 1000) -> np.ndarray:
    """ᾱ_t of Ho et al.'s linear schedule (β from 1e-4 to 0.02), index t - 1."""
    return np.cumprod(1 - np.linspace(1e-4, 0.02, T))


@figure("diffusion_chain")
def diffusion_chain() -> Canvas:
    """Chapter 14: the forward noising chain q and the learned reverse chain p_θ."""
    c = Canvas(7.0, 3.3)
    abar = _alpha_bars()
    x0 = _toy_image() * 2 - 1  # in [-1, 1]
    eps = np.random.default_rng(0).standard_normal(x0.shape)
    ts = [0, 50, 150, 300, 600, 1000]
    size, gap = 0.82, 0.3
    y = 1.85
    xs = [0.3 + size / 2 + k * (size + gap) for k in range(len(ts))]
    for k, (x, t) in enumerate(zip(xs, ts)):
        ab = 1.0 if t == 0 else abar[t - 1]
        xt = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * eps
        _image(c, xt, x, y, size, "input" if t == 0 else "hidden", vmin=-1.5, vmax=1.5)
        name = "$x_0$" if t == 0 else ("$x_T$" if t == ts[-1] else f"$x_{{{t}}}$")
        c.text(x, y + size / 2 + 0.14, name, fs=FS)
        c.text(x, y - size / 2 - 0.2, f"$\\bar\\alpha$ = {ab:.3f}", fs=FS_SMALL)
        if k:
            c.arrow(
                (xs[k - 1] + size / 2 + 0.03, y + 0.18), (x - size / 2 - 0.03, y + 0.18)
            )
            c.arrow(
                (x - size / 2 - 0.03, y - 0.18),
                (xs[k - 1] + size / 2 + 0.03, y - 0.18),
                color=ROLES["param"].edge,
                lw=1.4,
            )
    c.arrow((xs[0], y + size / 2 + 0.3), (xs[3], y + size / 2 + 0.3), rad=-0.18)
    c.text(
        (xs[0] + xs[3]) / 2,
        3.1,
        "$q(x_t \\mid x_0)$: any $t$ in one step,"
        " $x_t = \\sqrt{\\bar\\alpha_t}\\,x_0 + \\sqrt{1-\\bar\\alpha_t}\\,\\varepsilon$",
        fs=FS_SMALL,
    )
    c.text(5.4, 2.85, "forward $q(x_t \\mid x_{t-1})$: add noise", fs=FS_SMALL)
    c.text(
        3.5,
        0.72,
        "reverse $p_\\theta(x_{t-1} \\mid x_t)$: the network predicts"
        " the noise $\\varepsilon$ and removes a little of it, step by step from $x_T$",
        fs=FS_SMALL,
        color=ROLES["param"].edge,
    )
    c.legend(["input", "hidden", "param"], y=0.22, extra=[("forward (fixed)", "flow")])
    return c


@figure("unet")
def unet() -> Canvas:
    """Chapter 14: dlbook.unet.UNet with three resolutions and the time embedding."""
    chans, side = (64, 128, 128), 28  # the gpu profile of chapter 14
    c = Canvas(7.0, 5.3)
    ys = [4.0, 3.1, 2.2]
    xd, xu = 1.35, 5.65
    w, h = 1.6, 0.4
    xin = c.box(0.45, 4.75, 0.65, 0.34, "$x_t$", "input")
    stem = c.box(xd, 4.75, 1.0, 0.34, "conv 3×3", "param", fs=FS_SMALL)
    c.arrow(xin.r, stem.l)
    c.arrow(stem.b, (xd, ys[0] + h / 2))
    downs, ups = [], []
    for lvl, (y, ch) in enumerate(zip(ys, chans)):
        r = side // 2**lvl
        downs.append(
            c.box(xd, y, w, h, f"ResBlock → {ch}\n{r}×{r}", "param", fs=FS_SMALL)
        )
        c_in = chans[lvl] * 2
        ups.append(
            c.box(xu, y, w, h, f"ResBlock {c_in} → {ch}\n{r}×{r}", "param", fs=FS_SMALL)
        )
        c.arrow(downs[-1].r, ups[-1].l)
        c.text((xd + xu) / 2, y + 0.12, "copy, concatenate", fs=FS_SMALL)
    for lvl in range(2):
        c.arrow(downs[lvl].b, downs[lvl + 1].t)
        c.text(
            xd - 0.07,
            (ys[lvl] + ys[lvl + 1]) / 2,
            "conv 3×3\nstride 2",
            fs=FS_SMALL,
            ha="right",
        )
        c.arrow(ups[lvl + 1].t, ups[lvl].b)
        c.text(
            xu + 0.07,
            (ys[lvl] + ys[lvl + 1]) / 2,
            "2× nearest,\nconv 3×3",
            fs=FS_SMALL,
            ha="left",
        )
    mid = c.box(
        3.5,
        1.45,
        w,
        h,
        f"ResBlock {chans[-1]}\n{side // 4}×{side // 4}",
        "param",
        fs=FS_SMALL,
    )
    c.path([downs[-1].b, (xd, mid.y), mid.l])
    c.path([mid.r, (xu, mid.y), ups[-1].b])
    del c_in
    out = c.box(xu, 4.75, 1.5, 0.34, "GN, SiLU, conv 3×3", "param", fs=FS_SMALL)
    c.arrow(ups[0].t, out.b)
    eps = c.box(6.7, 4.75, 0.42, 0.34, "$\\hat\\varepsilon$", "output")
    c.arrow(out.r, eps.l)
    # time embedding
    te = c.box(
        3.5,
        4.75,
        2.3,
        0.5,
        "$t$ → sinusoidal (64) → Linear,\nSiLU, Linear (+ class)",
        "param",
        fs=FS_SMALL,
    )
    c.circle(2.5, 4.33, "", "param", r=0.06)
    c.text(2.62, 4.33, "the embedding, added in every ResBlock", fs=FS_SMALL, ha="left")
    for b in downs + ups + [mid]:
        c.circle(b.x + b.w / 2 - 0.02, b.y + b.h / 2 - 0.02, "", "param", r=0.06)
    del te
    # the ResBlock
    yr = 0.72
    c.text(0.15, yr + 0.32, "ResBlock:", fs=FS_SMALL, ha="left")
    items = [
        ("GN, SiLU,\nconv 3×3", "param"),
        ("+ Linear(emb)\nat every pixel", "param"),
        ("GN, SiLU,\nconv 3×3", "param"),
        ("+ input (1×1 conv\nif widths differ)", "op"),
    ]
    xs = [1.1, 2.6, 4.1, 5.8]
    prev = None
    for x, (s, role) in zip(xs, items):
        b = c.box(x, yr, 1.25 if x < 5 else 1.55, 0.42, s, role, fs=FS_SMALL)
        if prev is not None:
            c.arrow(prev.r, b.l)
        prev = b
    c.text(4.4, 1.2, f"channels {chans}, $H$ = {side}", fs=FS_SMALL, ha="left")
    c.legend(["input", "param", "op", "output"], y=0.2)
    return c


# --- command line -----------------------------------------------------------------------


def render(name: str, out: Path) -> Path:
    """Draw one diagram and write ``out/NAME.svg`` deterministically."""
    with mpl.rc_context():
        mpl.rcdefaults()
        mpl.rcParams.update(RC)
        canvas = FIGURES[name]()
        path = out / f"{name}.svg"
        canvas.fig.savefig(
            path,
            format="svg",
            transparent=True,
            metadata={"Date": None, "Creator": "figs/make_figs.py (matplotlib)"},
        )
    return path


def render_all(out: Path = HERE) -> list[Path]:
    """Write every registered diagram into ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    return [render(name, out) for name in FIGURES]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=HERE, help="folder (default: figs/)"
    )
    parser.add_argument("names", nargs="*", help="only these diagrams")
    args = parser.parse_args()
    t0 = time.perf_counter()
    if args.names:
        args.out.mkdir(parents=True, exist_ok=True)
        paths = [render(n, args.out) for n in args.names]
    else:
        paths = render_all(args.out)
    print(
        f"wrote {len(paths)} diagrams to {args.out} in {time.perf_counter() - t0:.1f} s"
    )


if __name__ == "__main__":
    main()
