"""Bad input to dlbook.attention gets a clear TypeError/ValueError."""

import numpy as np
import pytest
import torch

from dlbook import attention as att


def test_sdpa_types_masks_and_shapes():
    q = torch.randn(2, 5, 8)
    with pytest.raises(TypeError, match="torch.Tensor"):
        att.scaled_dot_product_attention(np.zeros((2, 5, 8)), q, q)
    with pytest.raises(TypeError, match="floating-point"):
        att.scaled_dot_product_attention(q.long(), q.long(), q.long())
    with pytest.raises(TypeError, match="bool"):
        att.scaled_dot_product_attention(
            q, q, q, mask=torch.ones(5, 5, dtype=torch.int32)
        )
    with pytest.raises(ValueError, match="does not broadcast"):
        att.scaled_dot_product_attention(q, q, q, mask=torch.zeros(3, 5, 5))
    with pytest.raises(ValueError, match="positive sizes"):
        att.causal_mask(0)


def test_float_mask_blocking_every_key_gives_zeros_not_nan():
    q = torch.randn(1, 2, 4, requires_grad=True)
    mask = torch.tensor([[0.0, 0.0], [-float("inf"), -float("inf")]])
    out, w = att.scaled_dot_product_attention(q, q, q, mask=mask)
    out.sum().backward()
    assert (out[0, 1] == 0).all() and (w[0, 1] == 0).all()
    assert torch.isfinite(q.grad).all()


def test_modules_and_configs():
    with pytest.raises(ValueError, match="divide"):
        att.MultiHeadAttention(10, 4)
    with pytest.raises(ValueError, match="n_heads must be > 0"):
        att.MultiHeadAttention(8, 0)
    mha = att.MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match="3 dimensions"):
        mha(torch.randn(5, 8))
    with pytest.raises(ValueError, match=r"context must have shape \(2, \*, 8\)"):
        mha(torch.randn(2, 5, 8), torch.randn(3, 4, 8))
    with pytest.raises(TypeError, match="integer"):
        att.GPTConfig(vocab_size=5.0)
    with pytest.raises(ValueError, match="dropout"):
        att.GPTConfig(vocab_size=5, dropout=1.0)
    with pytest.raises(ValueError, match="block_size"):
        att.GPTConfig(vocab_size=5, block_size=0)
    gpt = att.GPT(
        att.GPTConfig(vocab_size=5, block_size=4, n_layers=1, d_model=8, n_heads=2)
    )
    with pytest.raises(ValueError, match="sequence length 0"):
        gpt(torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        att.generate(gpt, torch.zeros(1, 1, dtype=torch.long), 2, temperature=-1.0)
    with pytest.raises(ValueError, match="multiples"):
        att.patchify(torch.randn(1, 1, 28, 28), 5)


def test_generate_keeps_the_prompt_and_is_reproducible():
    torch.manual_seed(0)
    gpt = att.GPT(
        att.GPTConfig(vocab_size=5, block_size=4, n_layers=1, d_model=8, n_heads=2)
    )
    prompt = torch.tensor([[1, 2, 3]])
    a = att.generate(gpt, prompt, 6, generator=torch.Generator().manual_seed(1))
    b = att.generate(gpt, prompt, 6, generator=torch.Generator().manual_seed(1))
    assert a.shape == (1, 9) and torch.equal(a, b) and torch.equal(a[:, :3], prompt)
    greedy = att.generate(gpt, prompt, 1, temperature=0)
    assert greedy[0, -1] == gpt(prompt)[0, -1].argmax()
