"""Figures in one consistent style: curves, image grids, decision boundaries.

Every helper draws on an explicit ``ax`` (or returns ``fig, ax``). Importing
this module changes nothing; :func:`use_style` sets the book's style when a
chapter asks for it, and :func:`show` displays a figure once and closes it,
in a notebook as in a plain script.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import matplotlib as mpl
import numpy as np
import torch

# The book's text column is about 688 px wide at 1280 px, and a numbered
# figure inside it 672 px (sphinx-book-theme 1.2); figures are PNGs at
# ``figure.dpi``, shown at their natural size, so a figure drawn COLUMN_WIDTH
# inches wide (plus the few pixels of the tight bounding box) fits without
# being scaled down, and a 9-point label stays 12.5 px tall (never below 9 px).
DPI = 100
COLUMN_WIDTH = 6.6  # inches: 660 px at DPI
MIN_FONT_PT = 7.0  # 7 pt at 100 dpi is 9.7 px: the smallest text a figure uses

STYLE = {
    "figure.figsize": (6.0, 3.6),
    "figure.dpi": DPI,
    "savefig.dpi": "figure",
    "savefig.bbox": "tight",
    "font.size": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10.5,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "image.cmap": "viridis",
    "axes.prop_cycle": mpl.cycler(
        color=[
            "#1f77b4",
            "#d62728",
            "#2ca02c",
            "#ff7f0e",
            "#9467bd",
            "#8c564b",
            "#e377c2",
            "#7f7f7f",
            "#bcbd22",
            "#17becf",
        ]
    ),
}
CLASS_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd")
FIGDIR_ENV = "DLBOOK_FIGDIR"


def use_style() -> None:
    """Apply the book's matplotlib style (call once, in the setup cell)."""
    mpl.rcParams.update(STYLE)


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


_saved = 0


def fit_column(fig: "mpl.figure.Figure") -> None:
    """Shrink a figure wider than the text column to :data:`COLUMN_WIDTH`.

    The fonts keep their size (the panels get narrower), so the page never
    scales the image down and its labels stay readable; the height shrinks
    less than the width (at most to 65 %), so panels do not flatten.
    """
    w, h = fig.get_size_inches()
    if w > COLUMN_WIDTH + 1e-6:
        fig.set_size_inches(COLUMN_WIDTH, h * max(0.65, COLUMN_WIDTH / w))
    # Legends, titles and labels outside the axes widen the tight bounding box
    # the figure is saved with: narrow the figure by that excess (twice, as
    # the layout moves when the figure shrinks).
    for _ in range(2):
        try:
            tight = fig.get_tightbbox(fig.canvas.get_renderer()).width  # inches
        except (AttributeError, RuntimeError, ValueError):
            return
        if tight <= COLUMN_WIDTH + 0.01:
            return
        w, h = fig.get_size_inches()
        fig.set_size_inches(max(1.0, w - (tight - COLUMN_WIDTH) - 0.02), h)


def show(fig: "mpl.figure.Figure", name: str | None = None) -> None:
    """Display ``fig`` once, drawn for the column, and close it.

    A figure wider than the column is first fitted to it (:func:`fit_column`).
    In Jupyter the figure is shown inline; in a plain script (``python
    chapters/NN_x.py``) nothing opens, and when ``$DLBOOK_FIGDIR`` is set the
    figure is saved there as PNG (``name`` or a running number).
    """
    global _saved
    import matplotlib.pyplot as plt

    fit_column(fig)
    if _in_notebook():
        from IPython.display import display

        display(fig)
    else:
        figdir = os.environ.get(FIGDIR_ENV)
        if figdir:
            _saved += 1
            os.makedirs(figdir, exist_ok=True)
            path = os.path.join(figdir, f"{name or f'fig{_saved:02d}'}.png")
            fig.savefig(path, dpi=DPI)
    plt.close(fig)


def subplots(
    nrows: int = 1,
    ncols: int = 1,
    *,
    width: float | None = None,
    height: float | None = None,
    **kwargs,
):
    """``plt.subplots`` sized for the book's text column; returns ``fig, axes``.

    One panel is 6 in wide by default, a row of panels the whole column
    (:data:`COLUMN_WIDTH`); the height follows the panels' width. A ``width``
    over the column is fitted to it (fonts keep their size; see
    :func:`fit_column`), so a figure is never shown scaled down. More than
    three panels in a row get narrow: split such a strip over two rows.
    """
    import matplotlib.pyplot as plt

    if width is None:
        width = STYLE["figure.figsize"][0] if ncols == 1 else COLUMN_WIDTH
    if height is None:
        panel = min(width, COLUMN_WIDTH) / ncols
        height = nrows * (3.0 if ncols <= 2 else max(2.0, min(3.0, panel + 0.6)))
    if width > COLUMN_WIDTH:
        width, height = COLUMN_WIDTH, height * max(0.65, COLUMN_WIDTH / width)
    kwargs.setdefault("layout", "constrained")
    return plt.subplots(nrows, ncols, figsize=(width, height), **kwargs)


def curves(
    ax,
    series: dict[str, Sequence[float]],
    *,
    x: Sequence[float] | None = None,
    xlabel: str = "epoch",
    ylabel: str = "",
    logy: bool = False,
    title: str = "",
) -> None:
    """Plot named curves (e.g. train and validation loss) on ``ax``.

    Args:
        series: name -> values; ``None`` entries are skipped.
        x: shared x values (default 1, 2, ...).
    """
    if not series:
        raise ValueError("curves() needs at least one named series")
    for label, ys in series.items():
        ys = [np.nan if v is None else float(v) for v in ys]
        xs = list(range(1, len(ys) + 1)) if x is None else list(x)[: len(ys)]
        ax.plot(xs, ys, marker="o" if len(ys) <= 30 else None, ms=3, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    if len(series) > 1:
        ax.legend()


def history(axes, hist, *, title: str = "") -> None:
    """Loss (left axis) and accuracy (right axis) per epoch of a
    :class:`dlbook.train.History`."""
    ax1, ax2 = axes
    curves(
        ax1,
        {"train": hist.train_loss, "validation": hist.val_loss},
        ylabel="cross-entropy loss",
        x=hist.epoch,
        title=title,
    )
    acc = {"train": hist.train_acc, "validation": hist.val_acc}
    curves(
        ax2,
        {k: v for k, v in acc.items() if any(a is not None for a in v)},
        ylabel="accuracy",
        x=hist.epoch,
    )


def image_grid(
    ax,
    images: torch.Tensor,
    *,
    labels: Sequence[str] | None = None,
    ncols: int = 8,
    cmap: str = "gray_r",
    pad: int = 2,
    vrange: tuple[float, float] | None = None,
) -> None:
    """Tile images on one axis, with an optional caption under each.

    Args:
        images: (N, H, W), (N, 1, H, W), (N, 3, H, W) or (N, H, W, 3); any dtype.
        labels: N captions.
        ncols: images per row.
        vrange: the values shown as black and white; default the batch's min and max.
    """
    x = torch.as_tensor(images).detach().cpu()
    if x.ndim == 4 and x.shape[1] in (1, 3) and x.shape[-1] not in (1, 3):
        x = x.permute(0, 2, 3, 1)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] != 3) or len(x) == 0:
        raise ValueError(
            "image_grid expects (N, H, W) or (N, H, W, 3) images, got "
            f"{tuple(images.shape)}"
        )
    x = x.float()
    lo, hi = vrange if vrange is not None else (float(x.min()), float(x.max()))
    x = ((x - lo) / max(hi - lo, 1e-8)).clamp(0, 1)
    n, h, w = x.shape[:3]
    if labels is not None and len(labels) != n:
        raise ValueError(f"got {n} images but {len(labels)} labels")
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    vpad = pad + (max(6, h // 3) if labels is not None else 0)  # room for captions
    shape = (nrows * (h + vpad) + pad, ncols * (w + pad) + pad) + tuple(x.shape[3:])
    canvas = torch.zeros(shape) if x.ndim == 3 else torch.ones(shape)
    for i in range(n):
        r, c = divmod(i, ncols)
        top, left = pad + r * (h + vpad), pad + c * (w + pad)
        canvas[top : top + h, left : left + w] = x[i]
    ax.imshow(
        canvas.numpy(),
        cmap=cmap if x.ndim == 3 else None,
        vmin=0,
        vmax=1,
        interpolation="nearest",
    )
    ax.set_axis_off()
    if labels is not None:
        for i, lab in enumerate(labels):
            r, c = divmod(i, ncols)
            ax.text(
                pad + c * (w + pad) + w / 2,
                pad + r * (h + vpad) + h + 0.5,
                lab,
                ha="center",
                va="top",
                fontsize=8,
            )


def scatter_classes(
    ax,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    names: Sequence[str] | None = None,
    s: float = 14,
) -> None:
    """Scatter 2-D points (N, 2) coloured by integer label (N,)."""
    x, y = torch.as_tensor(x).cpu(), torch.as_tensor(y).cpu()
    if x.ndim != 2 or x.shape[1] != 2 or y.shape != (x.shape[0],):
        raise ValueError(
            f"scatter_classes expects x (N, 2) and y (N,), got {tuple(x.shape)} and "
            f"{tuple(y.shape)}"
        )
    for k in y.unique().tolist():
        m = y == k
        label = names[k] if names is not None else f"class {k}"
        ax.scatter(
            x[m, 0],
            x[m, 1],
            s=s,
            color=CLASS_COLORS[int(k) % len(CLASS_COLORS)],
            label=label,
            edgecolors="white",
            linewidths=0.4,
        )
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")


def decision_boundary(
    ax,
    predict: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    resolution: int = 200,
    margin: float = 0.5,
    proba: bool = False,
    names: Sequence[str] | None = None,
) -> None:
    """Shade the regions ``predict`` assigns to each class and overlay the data.

    Args:
        predict: maps points (M, 2) to class labels (M,) or, with ``proba``,
            to P(class 1) (M,) in [0, 1].
        x, y: the data (N, 2) and labels (N,).
    """
    x = torch.as_tensor(x).detach().cpu().float()
    lo, hi = x.min(0).values - margin, x.max(0).values + margin
    g1, g2 = torch.meshgrid(
        torch.linspace(float(lo[0]), float(hi[0]), resolution),
        torch.linspace(float(lo[1]), float(hi[1]), resolution),
        indexing="xy",
    )
    grid = torch.stack([g1.reshape(-1), g2.reshape(-1)], 1)
    with torch.no_grad():
        z = torch.as_tensor(predict(grid)).detach().cpu().float().reshape(g1.shape)
    if proba:
        ax.contourf(
            g1,
            g2,
            z,
            levels=np.linspace(0, 1, 11),
            cmap="RdBu_r",
            alpha=0.35,
            vmin=0,
            vmax=1,
        )
        ax.contour(g1, g2, z, levels=[0.5], colors="k", linewidths=1)
    else:
        from matplotlib.colors import ListedColormap

        k = int(max(z.max().item(), torch.as_tensor(y).max().item())) + 1
        ax.contourf(
            g1,
            g2,
            z,
            levels=np.arange(-0.5, k),
            cmap=ListedColormap(CLASS_COLORS[:k]),
            alpha=0.2,
        )
    scatter_classes(ax, x, y, names=names)
    ax.set_xlim(float(lo[0]), float(hi[0]))
    ax.set_ylim(float(lo[1]), float(hi[1]))


def draw_graph(
    ax, root: object, title: str = "", heights: dict[str, float] | None = None
) -> None:
    """Draw the computation graph of a scalar engine ``Value`` after ``backward``.

    Nodes are laid out left to right by depth; each box shows the node's name,
    value and gradient (orange: leaves), each edge its local derivative.

    Args:
        ax: the matplotlib axes to draw on.
        root: the output node (anything with ``parents``, ``local_grads``,
            ``data``, ``grad``, ``op`` and ``label``, e.g. ``dlbook.engine.Value``).
        title: the axes title.
        heights: optional vertical positions by node label, e.g. ``{"x": 0.6}``.
    """
    from dlbook.engine import topological_order

    if heights is not None and not isinstance(heights, dict):
        raise TypeError(f"heights must be a dict label -> y, got {type(heights)}")
    order = topological_order(root)
    depth: dict = {}
    for node in order:
        depth[node] = 1 + max((depth[p] for p in node.parents), default=-1)
    columns: dict = {}
    for node in order:
        columns.setdefault(depth[node], []).append(node)
    pos = {
        node: (k, (heights or {}).get(node.label, (len(col) - 1) / 2 - i))
        for k, col in columns.items()
        for i, node in enumerate(col)
    }
    arrow = dict(arrowstyle="-|>", color="0.55", shrinkA=22, shrinkB=22)
    for node in order:
        for parent, local in zip(node.parents, node.local_grads):
            (x0, y0), (x1, y1) = pos[parent], pos[node]
            ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=arrow)
            xm, ym = x0 + 0.55 * (x1 - x0), y0 + 0.55 * (y1 - y0) + 0.08
            ax.text(xm, ym, f"{local:.3g}", color="C2", fontsize=9, ha="center")
    for node, (px, py) in pos.items():
        name = node.label or node.op or f"{node.data:g}"
        edge = "C0" if node.parents else "C1"
        ax.text(
            px,
            py,
            f"{name}\n{node.data:.4g}\ngrad {node.grad:.4g}",
            ha="center",
            va="center",
            fontsize=9,
            bbox=dict(boxstyle="round,pad=0.3", fc="white", ec=edge),
        )
    ax.set_xlim(-0.5, max(columns) + 0.5)
    ax.set_ylim(-1.3, 1.3)
    ax.set_title(title)
    ax.set_axis_off()
