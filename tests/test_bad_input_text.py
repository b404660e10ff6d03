"""Bad input to dlbook.text gets a clear TypeError/ValueError."""

import pytest
import torch

from dlbook.text import CharVocab, char_windows, generate, unigram_bits


def test_text_bad_inputs():
    ids = torch.arange(10)
    with pytest.raises(ValueError, match="1-D"):
        char_windows(ids[None], seq_len=3, batch_size=2)
    with pytest.raises(ValueError, match="positive"):
        char_windows(ids, seq_len=0, batch_size=2)
    with pytest.raises(ValueError, match="fewer than"):
        char_windows(ids, seq_len=10, batch_size=2)
    with pytest.raises(ValueError, match="non-empty"):
        unigram_bits(ids, torch.arange(0), 10)
    with pytest.raises(ValueError, match="0..4"):
        unigram_bits(ids, ids, 5)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        generate(lambda x: x, torch.arange(0), 3)
    with pytest.raises(ValueError, match="temperature"):
        generate(lambda x: x, ids, 3, temperature=-0.5)
    with pytest.raises(ValueError, match="1-D"):
        CharVocab.from_text("ab").decode(torch.zeros(2, 2, dtype=torch.long))
