import pytest
import torch

from dlbook.text import CharVocab, char_windows, generate, unigram_bits


def test_vocab_round_trip_and_errors():
    v = CharVocab.from_text("hello world")
    assert len(v) == 8 and v.decode(v.encode("low hold")) == "low hold"
    with pytest.raises(ValueError, match="not in the vocabulary"):
        v.encode("xyz")
    with pytest.raises(ValueError, match="0..7"):
        v.decode([9])
    with pytest.raises(ValueError, match="empty"):
        CharVocab.from_text("")


def test_windows_are_shifted_copies_of_the_text():
    ids = torch.arange(100)
    x, y = char_windows(
        ids, seq_len=7, batch_size=5, generator=torch.Generator().manual_seed(0)
    )
    assert x.shape == y.shape == (5, 7)
    assert torch.equal(y[:, :-1], x[:, 1:]) and torch.equal(y[:, -1], x[:, -1] + 1)
    with pytest.raises(ValueError, match="fewer than"):
        char_windows(ids[:5], seq_len=7, batch_size=1)


def test_generate_greedy_follows_the_model():
    # a "model" that always predicts (last id + 1) mod 5
    def model(ids):
        return torch.nn.functional.one_hot((ids + 1) % 5, 5).float() * 10.0  # (1, T, 5)

    out = generate(model, torch.tensor([0]), 7, temperature=0)
    assert out.tolist() == [0, 1, 2, 3, 4, 0, 1, 2]
    sampled = generate(
        model,
        torch.tensor([2]),
        20,
        temperature=1.0,
        context=3,
        generator=torch.Generator().manual_seed(0),
    )
    assert (
        sampled.shape == (21,)
        and ((sampled[1:] - sampled[:-1]) % 5 == 1).float().mean() > 0.9
    )
    with pytest.raises(ValueError, match="temperature"):
        generate(model, torch.tensor([0]), 1, temperature=-1)


def test_unigram_bits_matches_the_formula():
    train, val = torch.tensor([0, 0, 0, 1]), torch.tensor([0, 1, 2])
    p = torch.tensor([4.0, 2.0, 1.0]) / 7  # add-one smoothed counts 3+1, 1+1, 0+1
    assert unigram_bits(train, val, 3) == pytest.approx(float(-p.log2().mean()))
    with pytest.raises(ValueError, match="0..1"):
        unigram_bits(train, val, 2)
