"""Regression tests for defects the chapter reviews found in dlbook (issue 14, item 4).

The other regressions sit beside the code they test: x**0 at 0 in
tests/test_engine.py, fully masked attention rows in tests/test_attention.py,
empty batches in tests/test_bad_input_conv.py, the DDIM update and the clip
branches by hand in tests/test_diffusion.py.
"""

import torch
from torch import nn

from dlbook import cnn, data
from dlbook.train import evaluate


class _RecordsMode(nn.Module):
    """A linear classifier that remembers whether it ran in training mode."""

    def __init__(self):
        super().__init__()
        self.lin, self.seen = nn.Linear(3, 2), []

    def forward(self, x):
        self.seen.append(self.training)
        return self.lin(x)


def test_evaluate_runs_in_eval_mode_and_restores_the_flag():
    x, y = torch.randn(10, 3), torch.randint(0, 2, (10,))
    for start in (True, False):
        model = _RecordsMode().train(start)
        evaluate(model, data.Batches(x, y, batch_size=4, shuffle=False))
        assert model.seen and not any(model.seen), "evaluate must call model.eval()"
        assert model.training is start, "evaluate must restore the training flag"


def test_split_transform_merge_keeps_the_blocks_dtype():
    torch.manual_seed(0)
    block = cnn.Bottleneck(16, 8, 32, variant="v1.5", groups=4).double().eval()
    paths = cnn.SplitTransformMerge.from_grouped(block).eval()
    assert all(p.dtype == torch.float64 for p in paths.parameters())
    x = torch.randn(2, 16, 6, 6, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(paths(x), block(x), rtol=0, atol=1e-12)
