import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from dlbook import plot  # noqa: E402
from dlbook.train import History  # noqa: E402


def test_import_changes_no_style():
    import importlib

    before = dict(matplotlib.rcParams)
    importlib.reload(plot)
    assert dict(matplotlib.rcParams) == before


def test_helpers_draw(tmp_path, monkeypatch):
    monkeypatch.setenv("DLBOOK_FIGDIR", str(tmp_path))
    fig, axes = plot.subplots(1, 4)
    plot.curves(axes[0], {"a": [3, 2, 1], "b": [None, 2, 0.5]}, ylabel="loss")
    plot.image_grid(axes[1], torch.rand(5, 1, 8, 8), labels=list("abcde"), ncols=3)
    x, y = torch.randn(30, 2), torch.arange(30) % 2
    plot.decision_boundary(axes[2], lambda g: (g[:, 0] > 0).long(), x, y, resolution=20)
    plot.decision_boundary(
        axes[3], lambda g: torch.sigmoid(g[:, 0]), x, y, resolution=20, proba=True
    )
    plot.show(fig, "grid")
    assert (tmp_path / "grid.png").exists()
    assert not plt.get_fignums()


def test_history_plot_and_bad_inputs():
    fig, axes = plot.subplots(1, 2)
    plot.history(
        axes,
        History(
            epoch=[1, 2],
            train_loss=[1, 0.5],
            train_acc=[0.5, 0.7],
            val_loss=[None, None],
            val_acc=[None, None],
        ),
    )
    with pytest.raises(ValueError, match="labels"):
        plot.image_grid(axes[0], torch.rand(3, 4, 4), labels=["a"])
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plot.scatter_classes(axes[0], torch.rand(3, 3), torch.zeros(3))
    plt.close(fig)


def test_figures_are_drawn_for_the_column(tmp_path, monkeypatch):
    """A figure fills at most the ~688 px text column at the book's dpi, so the
    page never scales it (and its labels) down; a too-wide request is fitted."""
    from matplotlib.image import imread

    plot.use_style()
    try:
        column_px = 672  # a numbered figure's width at 1280 px
        assert plot.COLUMN_WIDTH * plot.DPI <= column_px
        fig, axes = plot.subplots(1, 4, width=12, height=3.2)
        w, h = fig.get_size_inches()
        assert w == pytest.approx(plot.COLUMN_WIDTH) and h >= 0.65 * 3.2 - 1e-9
        plt.close(fig)
        fig = plt.figure(figsize=(11, 3))  # made without dlbook.plot.subplots
        ax = fig.add_subplot()
        ax.plot([0, 1], [1, 0])
        ax.set_title("a title")
        monkeypatch.setenv("DLBOOK_FIGDIR", str(tmp_path))
        plot.show(fig, "wide")
        width_px = imread(tmp_path / "wide.png").shape[1]
        assert width_px <= column_px, width_px
        fig, axes = plot.subplots(2, 3)
        plot.image_grid(axes[0, 0], torch.rand(4, 8, 8), labels=list("abcd"))
        plot.curves(axes[0, 1], {"a": [1, 2], "b": [2, 1]}, title="t", ylabel="y")
        fig.canvas.draw()
        sizes = [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text)]
        assert min(sizes) >= plot.MIN_FONT_PT, min(sizes)
        plt.close(fig)
    finally:
        matplotlib.rcdefaults()
        matplotlib.use("Agg")
