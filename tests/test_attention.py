"""Tests of dlbook.attention: PyTorch agreement, masks, causality, shapes, bad inputs, overfitting."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlbook import attention as att


@pytest.mark.parametrize(
    "shape_q, shape_kv",
    [((2, 5, 8), (2, 7, 8)), ((3, 4, 6, 16), (3, 4, 6, 16)), ((1, 1, 4), (1, 9, 4))],
)
def test_sdpa_matches_pytorch_without_mask(shape_q, shape_kv):
    q, k, v = (
        torch.randn(shape_q),
        torch.randn(shape_kv),
        torch.randn(shape_kv[:-1] + (5,)),
    )
    out, w = att.scaled_dot_product_attention(q, k, v)
    ref = F.scaled_dot_product_attention(q, k, v)
    assert out.shape == ref.shape and (out - ref).abs().max() < 1e-5
    assert w.shape == shape_q[:-1] + (shape_kv[-2],)
    torch.testing.assert_close(w.sum(-1), torch.ones(shape_q[:-1]))


def test_sdpa_matches_pytorch_with_bool_float_and_causal_masks():
    q, k, v = torch.randn(2, 3, 6, 8), torch.randn(2, 3, 6, 8), torch.randn(2, 3, 6, 8)
    mask = torch.rand(2, 1, 6, 6) > 0.3
    mask[..., 0] = True  # every query may see at least one key
    for kwargs in (
        dict(mask=mask),
        dict(mask=torch.zeros(6, 6).masked_fill(~mask[0, 0], -math.inf)),
        dict(is_causal=True),
    ):
        out, _ = att.scaled_dot_product_attention(q, k, v, **kwargs)
        ref = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=kwargs.get("mask"),
            is_causal=kwargs.get("is_causal", False),
        )
        assert (out - ref).abs().max() < 1e-5, kwargs.keys()


def test_causal_mask_is_top_left_aligned_like_pytorch():
    q, k, v = torch.randn(1, 3, 4), torch.randn(1, 5, 4), torch.randn(1, 5, 4)
    out, w = att.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert (
        out - F.scaled_dot_product_attention(q, k, v, is_causal=True)
    ).abs().max() < 1e-5
    assert (w[0][~att.causal_mask(3, 5)] == 0).all()


def _reference_attention(q, k, v, allowed):
    """Float64 attention written row by row: a query that may see no key gets 0.

    It depends on no torch version (F.scaled_dot_product_attention returned NaN
    for such rows before torch 2.5 and zeros since).
    """
    out = torch.zeros(q.shape[:-1] + v.shape[-1:], dtype=torch.float64)
    for t in range(q.shape[-2]):
        keys = allowed[t].nonzero()[:, 0]
        if len(keys):
            s = q[..., t : t + 1, :].double() @ k[..., keys, :].double().transpose(
                -2, -1
            )
            w = torch.softmax(s / math.sqrt(q.shape[-1]), dim=-1)
            out[..., t, :] = (w @ v[..., keys, :].double())[..., 0, :]
    return out


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_fully_masked_row_gives_zero_output_and_zero_gradients(kind):
    torch.manual_seed(0)
    q, k, v = (
        torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True) for _ in "qkv"
    )
    allowed = torch.tensor(
        [[True, False, False], [False, False, False], [True, True, True]]
    )
    mask = (
        allowed
        if kind == "bool"
        else torch.zeros(3, 3).masked_fill(~allowed, -math.inf)
    )
    out, w = att.scaled_dot_product_attention(
        q, k, v, mask=mask.to(q.dtype) if kind == "float" else mask
    )
    assert (w[:, 1] == 0).all() and (out[:, 1] == 0).all()
    torch.testing.assert_close(
        out, _reference_attention(q, k, v, allowed), atol=1e-12, rtol=1e-12
    )
    probe = torch.randn_like(out)
    (out * probe).sum().backward()
    for t in (q, k, v):
        assert torch.isfinite(t.grad).all(), (
            "a blocked query must not give NaN gradients"
        )
    assert (q.grad[:, 1] == 0).all(), "the blocked query gets no gradient"
    # the gradients equal those of the reference, which never touches the blocked row
    grads = [t.grad.clone() for t in (q, k, v)]
    for t in (q, k, v):
        t.grad = None
    (_reference_attention(q, k, v, allowed) * probe).sum().backward()
    for g, t in zip(grads, (q, k, v)):
        torch.testing.assert_close(g, t.grad, atol=1e-12, rtol=1e-12)


def test_causal_attention_ignores_the_future():
    x = torch.randn(1, 10, 8)
    out, _ = att.scaled_dot_product_attention(x, x, x, is_causal=True)
    x2 = x.clone()
    x2[0, 6] += 3.0
    out2, _ = att.scaled_dot_product_attention(x2, x2, x2, is_causal=True)
    assert (out2[0, :6] == out[0, :6]).all()
    assert (out2[0, 6:] - out[0, 6:]).abs().amax(-1).min() > 1e-4


def test_sdpa_bad_inputs_raise():
    q = torch.randn(2, 5, 8)
    with pytest.raises(ValueError, match="same size d"):
        att.scaled_dot_product_attention(q, torch.randn(2, 5, 7), torch.randn(2, 5, 7))
    with pytest.raises(ValueError, match="number of positions"):
        att.scaled_dot_product_attention(q, q, torch.randn(2, 4, 8))
    with pytest.raises(ValueError, match="not both"):
        att.scaled_dot_product_attention(
            q, q, q, mask=torch.ones(5, 5, dtype=torch.bool), is_causal=True
        )
    with pytest.raises(ValueError, match="does not broadcast"):
        att.scaled_dot_product_attention(
            q, q, q, mask=torch.ones(4, 5, dtype=torch.bool)
        )
    with pytest.raises(TypeError, match="bool"):
        att.scaled_dot_product_attention(
            q, q, q, mask=torch.ones(5, 5, dtype=torch.int64)
        )
    with pytest.raises(ValueError, match="dimensions"):
        att.scaled_dot_product_attention(torch.randn(8), q, q)


def _copied_pair(d, h, bias=True):
    ref = nn.MultiheadAttention(d, h, bias=bias, batch_first=True)
    ours = att.MultiHeadAttention(d, h, bias=bias)
    with torch.no_grad():
        ours.in_proj.weight.copy_(ref.in_proj_weight)
        ours.out_proj.weight.copy_(ref.out_proj.weight)
        if bias:
            ours.in_proj.bias.copy_(ref.in_proj_bias)
            ours.out_proj.bias.copy_(ref.out_proj.bias)
    return ours.eval(), ref.eval()


@pytest.mark.parametrize(
    "d, h, t, s, bias", [(16, 4, 5, 5, True), (24, 3, 7, 4, True), (8, 1, 3, 6, False)]
)
def test_mha_matches_nn_multihead_attention(d, h, t, s, bias):
    ours, ref = _copied_pair(d, h, bias)
    x, ctx = torch.randn(2, t, d), torch.randn(2, s, d)
    mask = torch.rand(t, s) > 0.4
    mask[:, 0] = True
    for kwargs_ours, kwargs_ref in (
        (dict(), dict()),
        (dict(mask=mask), dict(attn_mask=~mask)),
    ):
        for need in (False, True):
            out, w = ours(x, ctx, need_weights=need, **kwargs_ours)
            out_ref, w_ref = ref(x, ctx, ctx, average_attn_weights=False, **kwargs_ref)
            assert (out - out_ref).abs().max() < 1e-5
            if need:
                assert w.shape == (2, h, t, s) and (w - w_ref).abs().max() < 1e-5
            else:
                assert w is None


def test_mha_causal_self_attention_matches_nn_multihead_attention():
    ours, ref = _copied_pair(16, 4)
    x = torch.randn(3, 6, 16)
    out, _ = ours(x, is_causal=True)
    out_ref, _ = ref(x, x, x, attn_mask=~att.causal_mask(6), need_weights=False)
    assert (out - out_ref).abs().max() < 1e-5


def test_mha_bad_inputs_raise():
    with pytest.raises(ValueError, match="divide"):
        att.MultiHeadAttention(10, 3)
    mha = att.MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=r"shape \(\*, \*, 8\)"):
        mha(torch.randn(2, 5, 6))


def test_block_shape_parameter_count_and_causality():
    d = 32
    block = att.TransformerBlock(d, 4).eval()
    assert sum(p.numel() for p in block.parameters()) == 12 * d * d + 13 * d
    x = torch.randn(2, 9, d)
    y = block(x, is_causal=True)
    x2 = x.clone()
    x2[:, 5] = torch.randn(2, d)
    y2 = block(x2, is_causal=True)
    assert y.shape == x.shape and (y2[:, :5] - y[:, :5]).abs().max() < 1e-6
    assert att.block_attention_weights(block, x, is_causal=True).shape == (2, 4, 9, 9)


def test_sinusoidal_positions():
    pe = att.sinusoidal_positions(50, 16)
    assert pe.shape == (50, 16)
    assert torch.allclose(pe[0, 0::2], torch.zeros(8)) and torch.allclose(
        pe[0, 1::2], torch.ones(8)
    )
    assert torch.allclose(pe[7, 0], torch.tensor(math.sin(7.0)))
    with pytest.raises(ValueError, match="even"):
        att.sinusoidal_positions(10, 7)


def test_patchify_orders_patches_row_by_row():
    img = torch.arange(16.0).view(1, 1, 4, 4)
    p = att.patchify(img, 2)
    assert p.shape == (1, 4, 4)
    assert p[0, 1].tolist() == [2.0, 3.0, 6.0, 7.0]
    with pytest.raises(ValueError, match="multiples"):
        att.patchify(img, 3)


def test_vit_shapes_and_bad_inputs():
    cfg = att.ViTConfig(d_model=32, n_heads=2, n_layers=2)
    vit = att.ViT(cfg)
    x = torch.randn(3, 1, 28, 28)
    assert vit(x).shape == (3, 10)
    assert vit.attention_maps(x).shape == (2, 3, 2, 50, 50)
    with pytest.raises(ValueError, match="expected images"):
        vit(torch.randn(3, 28, 28))
    with pytest.raises(ValueError, match="must divide"):
        att.ViTConfig(patch_size=5)


def test_gpt_shapes_causality_and_bad_inputs():
    cfg = att.GPTConfig(vocab_size=11, block_size=8, n_layers=2, n_heads=2, d_model=16)
    gpt = att.GPT(cfg).eval()
    idx = torch.randint(0, 11, (2, 8))
    logits = gpt(idx)
    assert logits.shape == (2, 8, 11)
    idx2 = idx.clone()
    idx2[:, 6] = (idx[:, 6] + 1) % 11
    assert (gpt(idx2)[:, :6] - logits[:, :6]).abs().max() < 1e-6
    assert gpt.head.weight is gpt.tok.weight
    maps = att.attention_maps(gpt, idx)
    assert maps.shape == (2, 2, 2, 8, 8) and (maps.triu(1) == 0).all()
    with pytest.raises(ValueError, match="block_size"):
        gpt(torch.randint(0, 11, (1, 9)))
    with pytest.raises(TypeError, match="integers"):
        gpt(torch.randn(2, 8))
    with pytest.raises(ValueError, match="must divide"):
        att.GPTConfig(vocab_size=5, d_model=10, n_heads=4)


def test_gpt_overfits_one_batch():
    torch.manual_seed(0)
    gpt = att.GPT(
        att.GPTConfig(vocab_size=7, block_size=12, n_layers=2, n_heads=2, d_model=32)
    )
    x = torch.randint(0, 7, (4, 12))
    y = torch.randint(0, 7, (4, 12))
    opt = torch.optim.AdamW(gpt.parameters(), lr=1e-2)
    first = None
    for _ in range(60):
        loss = F.cross_entropy(gpt(x).flatten(0, 1), y.flatten())
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first > 1.5 and loss.item() < 0.1


def test_show_attention_draws_and_validates():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    att.show_attention(
        ax,
        torch.softmax(torch.randn(3, 3), -1),
        x_labels=list("a b"),
        y_labels=list("a\nb"),
    )
    assert len(ax.images) == 1
    with pytest.raises(ValueError, match="pick a head"):
        att.show_attention(ax, torch.rand(2, 3, 3))
    plt.close(fig)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_kv_cache_generates_the_same_tokens_with_less_work(temperature):
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    cfg = att.GPTConfig(vocab_size=11, block_size=40, n_layers=2, d_model=32, n_heads=4)
    gpt = att.GPT(cfg).eval()
    prompt = torch.randint(0, 11, (2, 5))
    runs, flops = {}, {}
    for fn in (att.generate, att.generate_cached):
        with FlopCounterMode(display=False) as counter:
            gen = torch.Generator().manual_seed(3)
            runs[fn] = fn(gpt, prompt, 35, temperature=temperature, generator=gen)
        flops[fn] = counter.get_total_flops()
    assert torch.equal(runs[att.generate], runs[att.generate_cached])
    assert flops[att.generate] > 5 * flops[att.generate_cached]
    # the cache's logits for a whole prompt equal the model's last-position logits
    logits = att.cached_step(gpt, prompt, [])
    torch.testing.assert_close(logits, gpt(prompt)[:, -1], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="block_size"):
        att.generate_cached(gpt, prompt, 37)


def test_kv_cache_in_chunks_matches_the_full_forward_pass():
    torch.manual_seed(0)
    cfg = att.GPTConfig(vocab_size=11, block_size=40, n_layers=2, d_model=32, n_heads=4)
    gpt = att.GPT(cfg).eval()
    ids = torch.randint(0, 11, (2, 12))
    full = gpt(ids)  # (B, T, V)
    cache = []
    for lo, hi in ((0, 5), (5, 6), (6, 12)):  # a prompt, one token, then several
        logits = att.cached_step(gpt, ids[:, lo:hi], cache)
        torch.testing.assert_close(logits, full[:, hi - 1], atol=1e-5, rtol=1e-5)
        assert [k.shape[2] for k, _ in cache] == [hi] * cfg.n_layers
    # one block on a fresh cache is the block's causal forward pass
    x = torch.randn(2, 7, 32)
    block = gpt.blocks[0]
    y, (k, v) = att.cached_block(block, x, None, att.causal_mask(7))
    torch.testing.assert_close(y, block(x, is_causal=True), atol=1e-5, rtol=1e-5)
    assert k.shape == v.shape == (2, 4, 7, 8)
