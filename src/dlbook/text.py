"""Character-level text: a vocabulary, random training windows and sampling.

Chapters 9 (recurrent networks) and 10 (transformers) train character-level
language models on the public-domain text that ships with the book
(:func:`dlbook.data.load_text`). Both use these three small pieces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class CharVocab:
    """A bijection between the characters of a text and ``0 .. V-1``."""

    chars: tuple[str, ...]

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """The sorted set of characters in ``text``."""
        if not text:
            raise ValueError("cannot build a vocabulary from an empty text")
        return cls(tuple(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> torch.Tensor:
        """Text to ids. Returns ``(len(text),)`` int64."""
        index = {c: i for i, c in enumerate(self.chars)}
        unknown = sorted(set(text) - index.keys())
        if unknown:
            raise ValueError(
                f"characters not in the vocabulary: {unknown!r}; build the vocabulary "
                "from a "
                "text that contains them"
            )
        return torch.tensor([index[c] for c in text], dtype=torch.int64)

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        """Ids ``(N,)`` back to text."""
        ids = torch.as_tensor(ids)
        if ids.ndim != 1:
            raise ValueError(
                f"decode expects a 1-D sequence of ids, got shape {tuple(ids.shape)}"
            )
        if len(ids) and (ids.min() < 0 or ids.max() >= len(self)):
            raise ValueError(f"ids must lie in 0..{len(self) - 1}")
        return "".join(self.chars[i] for i in ids.tolist())


def char_windows(
    ids: torch.Tensor,
    *,
    seq_len: int,
    batch_size: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of random windows and their next-character targets.

    Args:
        ids: the encoded text, ``(N,)`` int64 (on any device).
        seq_len: window length ``T``.
        batch_size: number of windows ``B``.
        generator: a CPU generator for reproducible windows.

    Returns:
        ``x`` ``(B, T)`` and ``y`` ``(B, T)`` on ``ids``' device, where
        ``y[:, t] = x[:, t + 1]`` continues the text.
    """
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D (N,), got shape {tuple(ids.shape)}")
    if seq_len < 1 or batch_size < 1:
        raise ValueError(
            f"seq_len and batch_size must be positive, got {seq_len}, {batch_size}"
        )
    if len(ids) < seq_len + 1:
        raise ValueError(
            f"the text has {len(ids)} ids, fewer than seq_len + 1 = {seq_len + 1}"
        )
    start = torch.randint(0, len(ids) - seq_len, (batch_size,), generator=generator)
    offsets = start[:, None] + torch.arange(seq_len + 1)  # (B, T+1)
    window = ids[offsets.to(ids.device)]
    return window[:, :-1], window[:, 1:]


def unigram_bits(
    train_ids: torch.Tensor, val_ids: torch.Tensor, vocab_size: int
) -> float:
    """Bits per character of the context-free baseline on held-out text.

    The unigram model predicts every character with its add-one smoothed
    frequency in the training text (chapter 9 writes it out).

    Args:
        train_ids: ``(N,)`` encoded training text.
        val_ids: ``(M,)`` encoded validation text.
        vocab_size: ``V``; ids lie in ``0 .. V-1``.

    Returns:
        The mean of ``-log2 p(c)`` over the validation characters.
    """
    if train_ids.ndim != 1 or val_ids.ndim != 1 or len(val_ids) == 0:
        raise ValueError(
            f"train_ids and val_ids must be non-empty 1-D id tensors, got shapes "
            f"{tuple(train_ids.shape)} and {tuple(val_ids.shape)}"
        )
    if max(int(train_ids.max()), int(val_ids.max())) >= vocab_size:
        raise ValueError(f"ids must lie in 0..{vocab_size - 1}")
    counts = (
        torch.bincount(train_ids.cpu(), minlength=vocab_size).double() + 1
    )  # add-one smoothing
    return float(-(counts / counts.sum()).log2()[val_ids.cpu()].mean())


@torch.no_grad()
def generate(
    model: Callable[[torch.Tensor], torch.Tensor],
    prompt: torch.Tensor,
    n_new: int,
    *,
    temperature: float = 1.0,
    context: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Sample ``n_new`` characters one at a time from a next-character model.

    Args:
        model: maps ids ``(1, T)`` to logits ``(1, T, V)``; the last position's
            logits give the distribution of the next character.
        prompt: the starting ids, ``(T0,)`` with ``T0 >= 1``.
        n_new: how many ids to append.
        temperature: divides the logits; below 1 sharpens, above 1 flattens,
            0 picks the most likely character (greedy).
        context: feed at most this many trailing ids (a transformer's block
            size); ``None`` feeds the whole sequence.
        generator: a CPU generator for reproducible samples.

    Returns:
        ``(T0 + n_new,)`` int64 on ``prompt``'s device.
    """
    if prompt.ndim != 1 or len(prompt) == 0:
        raise ValueError(
            "prompt must be a non-empty 1-D tensor of ids, got shape "
            f"{tuple(prompt.shape)}"
        )
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    seq = prompt.clone()
    for _ in range(n_new):
        window = seq if context is None else seq[-context:]
        logits = model(window[None])[0, -1].float().cpu()  # (V,)
        if temperature == 0:
            nxt = logits.argmax()
        else:
            probs = torch.softmax(logits / temperature, dim=-1)
            nxt = torch.multinomial(probs, 1, generator=generator)[0]
        seq = torch.cat([seq, nxt.to(seq.device)[None]])
    return seq
