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
