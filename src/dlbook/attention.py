"""Attention and transformers: scaled dot-product attention, multi-head attention, a
pre-LN block, ViT and GPT.

Chapter 10 writes scaled dot-product attention out in full and then uses the
versions here. Everything follows the notation of the chapter: queries ``q``,
keys ``k`` and values ``v``; ``B`` examples, ``H`` heads, ``T`` query and
``S`` key positions, model width ``D``. Boolean masks follow PyTorch's
:func:`torch.nn.functional.scaled_dot_product_attention`: ``True`` means
"may attend".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlbook import check
from dlbook.engine import add_to_class


def causal_mask(
    n_queries: int,
    n_keys: int | None = None,
    *,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The causal mask: query ``i`` may attend to keys ``0 .. i``.

    Args:
        n_queries: number of query positions ``T``.
        n_keys: number of key positions ``S`` (default ``T``); the mask is
            aligned at the top left, as PyTorch's ``is_causal`` is.
        device: where to create it.

    Returns:
        ``(T, S)`` bool, ``True`` on and below the diagonal.
    """
    n_keys = n_queries if n_keys is None else n_keys
    if n_queries < 1 or n_keys < 1:
        raise ValueError(
            f"a causal mask needs positive sizes, got {n_queries} x {n_keys}"
        )
    return torch.ones(n_queries, n_keys, dtype=torch.bool, device=device).tril()


def check_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    is_causal: bool = False,
) -> torch.Tensor | None:
    """Check the arguments of :func:`scaled_dot_product_attention`.

    Returns the mask as a float tensor to add to the scores (0 where a query
    may attend, ``-inf`` where not), or ``None``: a bool mask (``True`` = may
    attend) and ``is_causal`` are converted.
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        check.tensor(t, name, ndim=range(2, 9), floating=True)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            "queries and keys must have the same size d: "
            f"q {tuple(q.shape)}, k {tuple(k.shape)}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            "keys and values must have the same number of positions S: "
            f"k {tuple(k.shape)}, v {tuple(v.shape)}"
        )
    if mask is not None and is_causal:
        raise ValueError(
            "pass either a mask or is_causal=True, not both "
            "(fold the causal mask into yours)"
        )
    if is_causal:
        mask = causal_mask(q.shape[-2], k.shape[-2], device=q.device)
    if mask is None:
        return None
    check.tensor(mask, "mask")
    scores_shape = (
        *torch.broadcast_shapes(q.shape[:-2], k.shape[:-2]),
        q.shape[-2],
        k.shape[-2],
    )
    try:
        fits = torch.broadcast_shapes(mask.shape, scores_shape) == scores_shape
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(
            f"mask {tuple(mask.shape)} does not broadcast to the scores (..., T, S) "
            f"{scores_shape}"
        )
    if mask.dtype == torch.bool:
        zeros = torch.zeros(mask.shape, dtype=q.dtype, device=q.device)
        return zeros.masked_fill_(~mask, float("-inf"))
    if not mask.is_floating_point():
        raise TypeError(
            "mask must be bool (True = may attend) or float (added to the scores), "
            f"got {mask.dtype}"
        )
    return mask


def scaled_dot_product_attention(q, k, v, mask=None, is_causal=False):
    """softmax(q kᵀ / √d + mask) v and the weights; q (..., T, d), k, v (..., S, .)."""
    mask = check_attention(q, k, v, mask, is_causal)  # float (..., T, S) or None
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T, S)
    if mask is not None:
        scores = scores + mask  # -inf where a query may not look
    blocked = torch.isneginf(scores).all(-1, keepdim=True)  # queries that see no key
    weights = torch.softmax(scores.masked_fill(blocked, 0.0), dim=-1)  # rows sum to 1
    weights = weights.masked_fill(blocked, 0.0)  # a blocked query gets 0, not NaN
    return weights @ v, weights  # (..., T, d_v), (..., T, S)


def sinusoidal_positions(
    n_positions: int, d_model: int, *, base: float = 10_000.0
) -> torch.Tensor:
    """The sinusoidal position encodings of the original transformer.

    Entry ``(t, 2i)`` is ``sin(t / base^(2i/D))`` and ``(t, 2i+1)`` is
    ``cos(t / base^(2i/D))``.

    Args:
        n_positions: number of positions ``T``.
        d_model: encoding width ``D`` (even).
        base: the longest wavelength is ``2π · base``.

    Returns:
        ``(T, D)`` float32.
    """
    if n_positions < 1 or d_model < 2 or d_model % 2:
        raise ValueError(
            f"need n_positions >= 1 and an even d_model >= 2, got {n_positions}, "
            f"{d_model}"
        )
    t = torch.arange(n_positions, dtype=torch.float32)[:, None]  # (T, 1)
    freq = base ** (
        -torch.arange(0, d_model, 2, dtype=torch.float32) / d_model
    )  # (D/2,)
    pe = torch.empty(n_positions, d_model)
    pe[:, 0::2] = torch.sin(t * freq)
    pe[:, 1::2] = torch.cos(t * freq)
    return pe


def check_tokens(x: torch.Tensor, context: torch.Tensor, d_model: int) -> None:
    """Check tokens x (B, T, D) and context (B, S, D) for attention of width D."""
    check.tensor(x, "x", ndim=3, floating=True)
    check.tensor(context, "context", ndim=3, floating=True)
    check.shape(x, "x", (None, None, d_model))
    check.shape(context, "context", (x.shape[0], None, d_model))


class MultiHeadAttention(nn.Module):
    """H attention heads of width D/H side by side, then an output projection."""

    def __init__(self, d_model: int, n_heads: int, *, bias=True, dropout=0.0):
        super().__init__()
        check_heads(d_model, n_heads)
        self.d_model, self.n_heads, self.dropout = d_model, n_heads, dropout
        self.in_proj = nn.Linear(d_model, 3 * d_model, bias=bias)  # W_q, W_k, W_v
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)  # W_o

    def forward(
        self, x, context=None, *, mask=None, is_causal=False, need_weights=False
    ):
        q, k, v = self.project(x, x if context is None else context)
        if need_weights:  # the explicit computation, to look at the weights
            out, w = scaled_dot_product_attention(q, k, v, mask, is_causal)
        else:  # PyTorch's fused kernel (FlashAttention on a GPU)
            p = self.dropout if self.training else 0.0
            out, w = F.scaled_dot_product_attention(q, k, v, mask, p, is_causal), None
        return self.out_proj(out.transpose(1, 2).flatten(2)), w  # heads side by side


@add_to_class(MultiHeadAttention)
def project(self, x: torch.Tensor, context: torch.Tensor):
    """Queries from x (B, T, D), keys and values from context (B, S, D)."""
    check_tokens(x, context, self.d_model)
    q = self.in_proj(x)[..., : self.d_model]  # (B, T, D)
    k, v = self.in_proj(context)[..., self.d_model :].chunk(2, dim=-1)  # (B, S, D)
    return self.heads(q), self.heads(k), self.heads(v)  # (B, H, T|S, D/H)


@add_to_class(MultiHeadAttention)
def heads(self, z: torch.Tensor) -> torch.Tensor:
    return z.unflatten(-1, (self.n_heads, -1)).transpose(1, 2)  # (B, H, T, D/H)


class TransformerBlock(nn.Module):
    """A pre-LN transformer block: x + attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, d_model, n_heads, *, mlp_ratio=4, dropout=0.0, bias=True):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model, bias=bias)
        self.attn = MultiHeadAttention(d_model, n_heads, bias=bias, dropout=dropout)
        self.ln2 = nn.LayerNorm(d_model, bias=bias)
        hidden = mlp_ratio * d_model  # 4 D, as in the original transformer
        up = nn.Linear(d_model, hidden, bias=bias)  # D -> 4D
        down = nn.Linear(hidden, d_model, bias=bias)  # 4D -> D
        self.mlp = nn.Sequential(up, nn.GELU(), down)  # each token on its own
        self.drop = nn.Dropout(dropout)

    def forward(self, x, *, mask=None, is_causal=False):
        x = x + self.drop(self.attn(self.ln1(x), mask=mask, is_causal=is_causal)[0])
        return x + self.drop(self.mlp(self.ln2(x)))  # (B, T, D)


def block_attention_weights(
    block: TransformerBlock,
    x: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    is_causal: bool = False,
) -> torch.Tensor:
    """A block's attention weights for its input x (B, T, D): (B, H, T, T)."""
    return block.attn(block.ln1(x), mask=mask, is_causal=is_causal, need_weights=True)[
        1
    ]


def check_heads(d_model: int, n_heads: int) -> None:
    """Check that the width is positive and the heads divide it."""
    check.positive(d_model, "d_model", integer=True)
    check.positive(n_heads, "n_heads", integer=True)
    if d_model % n_heads:
        raise ValueError(f"n_heads ({n_heads}) must divide d_model ({d_model})")


def _init_weights(module: nn.Module, std: float = 0.02) -> None:
    """GPT-2's initialisation of linear and embedding layers: N(0, std²) weights, zero
    biases."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, 0.0, std)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images into non-overlapping square patches, row by row.

    Args:
        images: ``(B, C, H, W)`` with ``H`` and ``W`` multiples of ``patch_size``.
        patch_size: side ``p`` of a patch.

    Returns:
        ``(B, N, C·p·p)`` with ``N = (H/p)·(W/p)`` patches, each flattened.
    """
    if (
        images.ndim != 4
        or images.shape[-1] % patch_size
        or images.shape[-2] % patch_size
    ):
        raise ValueError(
            "patchify expects (B, C, H, W) images with H and W multiples of "
            f"{patch_size}, "
            f"got {tuple(images.shape)}"
        )
    return F.unfold(images, kernel_size=patch_size, stride=patch_size).transpose(1, 2)


@dataclass
class ViTConfig:
    """A small vision transformer; the defaults suit 28x28 grey images."""

    image_size: int = 28  # Fashion-MNIST's side
    # 7x7 = 49 patches: fine enough for attention maps, only 50 tokens to attend over
    patch_size: int = 4
    in_channels: int = 1  # grey images
    n_classes: int = 10  # Fashion-MNIST's classes
    d_model: int = 64  # token width; 49 pixels per patch need few dimensions
    n_heads: int = 4  # 16 dimensions per head
    n_layers: int = 4  # deep enough to combine patches, small enough for a CPU
    mlp_ratio: int = 4  # the hidden width of the original transformer's MLP
    dropout: float = 0.0  # short trainings on small subsets do not overfit much

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise ValueError(
                f"patch_size {self.patch_size} must divide image_size {self.image_size}"
            )
        if self.d_model % self.n_heads:
            raise ValueError(
                f"n_heads {self.n_heads} must divide d_model {self.d_model}"
            )

    @property
    def n_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


class ViT(nn.Module):
    """A vision transformer: patch embeddings, a class token, learned positions, pre-LN
    blocks.

    Args:
        cfg: the :class:`ViTConfig`.
    """

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Linear(cfg.in_channels * cfg.patch_size**2, cfg.d_model)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.d_model))
        self.pos = nn.Parameter(torch.zeros(1, cfg.n_patches + 1, cfg.d_model))
        self.blocks = nn.ModuleList(
            TransformerBlock(
                cfg.d_model, cfg.n_heads, mlp_ratio=cfg.mlp_ratio, dropout=cfg.dropout
            )
            for _ in range(cfg.n_layers)
        )
        self.ln = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.n_classes)
        self.apply(_init_weights)
        nn.init.trunc_normal_(self.pos, std=0.02)

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> the input tokens ``(B, 1 + N, D)``, class token
        first."""
        c = self.cfg
        if images.ndim != 4 or tuple(images.shape[1:]) != (
            c.in_channels,
            c.image_size,
            c.image_size,
        ):
            raise ValueError(
                f"expected images (B, {c.in_channels}, {c.image_size}, "
                f"{c.image_size}), "
                f"got {tuple(images.shape)}"
            )
        x = self.embed(patchify(images, c.patch_size))  # (B, N, D)
        cls = self.cls_token.expand(len(x), -1, -1)  # (B, 1, D)
        return torch.cat([cls, x], dim=1) + self.pos

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> class logits ``(B, n_classes)``."""
        x = self.tokens(images)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x[:, 0]))  # the class token's final state

    @torch.no_grad()
    def attention_maps(self, images: torch.Tensor) -> torch.Tensor:
        """Every layer's attention weights: ``(L, B, H, 1 + N, 1 + N)``; token 0 is the
        class token."""
        x, maps = self.tokens(images), []
        for block in self.blocks:
            maps.append(block_attention_weights(block, x))
            x = block(x)
        return torch.stack(maps)


def check_gpt_config(cfg) -> None:
    """Check a :class:`GPTConfig`'s sizes."""
    check.positive(cfg.vocab_size, "vocab_size", integer=True)
    check.positive(cfg.block_size, "block_size", integer=True)
    check.positive(cfg.n_layers, "n_layers", integer=True)
    check_heads(cfg.d_model, cfg.n_heads)
    check.probability(cfg.dropout, "dropout", high_open=True)


def check_ids(idx: torch.Tensor, block_size: int) -> None:
    """Check token ids (B, T): integers, 1 <= T <= block_size."""
    check.tensor(idx, "idx", ndim=2, integer=True)
    if not 1 <= idx.shape[1] <= block_size:
        raise ValueError(
            f"sequence length {idx.shape[1]} must lie in 1..block_size = {block_size}; "
            "feed at most the last block_size tokens"
        )


def init_gpt(model: nn.Module) -> None:
    """GPT-2's initialisation: N(0, 0.02²) weights, zero biases, the residual
    branches' output layers scaled by 1/sqrt(2 L), and (if asked) weight tying."""
    model.apply(_init_weights)
    for block in model.blocks:
        for lin in (block.attn.out_proj, block.mlp[2]):
            nn.init.normal_(lin.weight, 0.0, 0.02 / math.sqrt(2 * len(model.blocks)))
    if model.cfg.tie_weights:
        model.head.weight = model.tok.weight  # the output layer reads the embedding


@dataclass
class GPTConfig:
    """A small character-level GPT, nanoGPT's shape at toy sizes."""

    vocab_size: int  # distinct tokens (characters), set from the data
    block_size: int = 128  # context length T; attention costs grow as T^2
    n_layers: int = 4  # each layer can look back and combine once more
    n_heads: int = 4  # heads per layer, each d_model / n_heads wide
    d_model: int = 128  # token width; about 12 n_layers d_model^2 parameters
    dropout: float = 0.0  # useful once the model is big enough to overfit
    bias: bool = True  # biases in the linear layers and layer norms, as GPT-2
    tie_weights: bool = True  # the output layer reuses the token embedding

    def __post_init__(self):
        check_gpt_config(self)


class GPT(nn.Module):
    """A decoder-only transformer: ids (B, T) -> next-token logits (B, T, V)."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg, d = cfg, cfg.d_model
        self.tok = nn.Embedding(cfg.vocab_size, d)  # token embeddings
        self.pos = nn.Embedding(cfg.block_size, d)  # learned position embeddings
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(d, cfg.n_heads, dropout=cfg.dropout, bias=cfg.bias)
            for _ in range(cfg.n_layers)
        )
        self.ln = nn.LayerNorm(d, bias=cfg.bias)  # a last layer norm before the head
        self.head = nn.Linear(d, cfg.vocab_size, bias=False)
        init_gpt(self)  # GPT-2's initialisation, and weight tying


@add_to_class(GPT)
def tokens(self, idx: torch.Tensor) -> torch.Tensor:
    check_ids(idx, self.cfg.block_size)  # (B, T) integers, T <= block_size
    pos = torch.arange(idx.shape[1], device=idx.device)  # (T,)
    return self.drop(self.tok(idx) + self.pos(pos))  # (B, T, D)


@add_to_class(GPT)
def forward(self, idx: torch.Tensor) -> torch.Tensor:
    x = self.tokens(idx)  # (B, T, D)
    for block in self.blocks:
        x = block(x, is_causal=True)
    return self.head(self.ln(x))  # (B, T, V)


def sample_next(logits, temperature=1.0, generator=None):
    """The next token (B, 1) from logits (B, V): sampled, or greedy at temperature 0."""
    if temperature == 0:  # greedy: the most likely token
        return logits.argmax(-1, keepdim=True)
    probs = torch.softmax(logits.float() / temperature, dim=-1).cpu()  # on the CPU,
    nxt = torch.multinomial(probs, 1, generator=generator)  # so a CPU generator works
    return nxt.to(logits.device)


@torch.no_grad()
def generate(model, idx, n_new, *, temperature=1.0, generator=None):
    """Append n_new tokens sampled from model to idx (B, T), one at a time."""
    check.number(temperature, "temperature", low=0.0)
    for _ in range(n_new):
        logits = model(idx[:, -model.cfg.block_size :])[:, -1]  # (B, V)
        idx = torch.cat([idx, sample_next(logits, temperature, generator)], dim=1)
    return idx


@torch.no_grad()
def cached_block(block, x, kv, mask=None):
    """A pre-LN block on the new tokens x (B, T_new, D) after the cached ones.

    kv: the block's cached keys and values (B, H, T_old, D/H), or None. Returns the
    block's output and the keys and values of all tokens so far.
    """
    h = block.ln1(x)
    q, k, v = block.attn.project(h, h)  # (B, H, T_new, D/H) each
    if kv is not None:  # append the new keys and values to the stored ones
        k, v = torch.cat([kv[0], k], 2), torch.cat([kv[1], v], 2)
    y = F.scaled_dot_product_attention(q, k, v, mask)  # (B, H, T_new, D/H)
    x = x + block.attn.out_proj(y.transpose(1, 2).flatten(2))
    return x + block.mlp(block.ln2(x)), (k, v)


@torch.no_grad()
def cached_step(model, idx, cache: list):
    """Next-token logits (B, V) after idx (B, T_new), which follows the cached tokens.

    ``cache[i]`` holds block i's keys and values (B, H, T_old, D/H); it grows.
    """
    start, n = (cache[0][0].shape[2] if cache else 0), idx.shape[1]  # old, new
    check_ids(idx, model.cfg.block_size - start)  # the positions must fit the table
    x = model.tok(idx) + model.pos(torch.arange(start, start + n, device=idx.device))
    mask = None  # a single new token may look at every earlier one
    if n > 1:  # several (the prompt): new token i sees keys up to start + i
        mask = torch.ones(n, start + n, dtype=torch.bool, device=idx.device).tril(start)
    for i, block in enumerate(model.blocks):
        x, kv = cached_block(block, x, cache[i] if i < len(cache) else None, mask)
        cache[i : i + 1] = [kv]
    return model.head(model.ln(x))[:, -1]  # (B, V)


@torch.no_grad()
def generate_cached(model, idx, n_new, *, temperature=1.0, generator=None):
    """:func:`generate` with a KV cache: each step feeds only the newest token."""
    check.number(temperature, "temperature", low=0.0)
    cache, new = [], idx
    for _ in range(n_new):
        new = sample_next(cached_step(model, new, cache), temperature, generator)
        idx = torch.cat([idx, new], dim=1)  # (B, T + 1)
    return idx


@torch.no_grad()
def attention_maps(model: nn.Module, idx: torch.Tensor) -> torch.Tensor:
    """Every layer's causal attention weights of a :class:`GPT`: (L, B, H, T, T)."""
    x, maps = model.tokens(idx), []
    for block in model.blocks:
        maps.append(block_attention_weights(block, x, is_causal=True))
        x = block(x, is_causal=True)
    return torch.stack(maps)


def show_attention(
    ax,
    weights: torch.Tensor,
    *,
    x_labels: list[str] | None = None,
    y_labels: list[str] | None = None,
    xlabel: str = "key position",
    ylabel: str = "query position",
    title: str = "",
    colorbar: bool = True,
) -> None:
    """Draw an attention matrix ``(T, S)`` as a heatmap: row ``i`` is where query ``i``
    looks.

    Args:
        weights: ``(T, S)``, e.g. one head of one example.
        x_labels, y_labels: tick labels for keys (S) and queries (T), e.g. characters.
    """
    w = torch.as_tensor(weights).detach().float().cpu()
    if w.ndim != 2:
        raise ValueError(
            f"show_attention draws one (T, S) matrix, got shape {tuple(w.shape)}; pick "
            "a head"
        )
    im = ax.imshow(
        w.numpy(), cmap="viridis", vmin=0.0, aspect="auto", interpolation="nearest"
    )
    ax.grid(False)
    for labels, n, set_ticks, set_labels in (
        (x_labels, w.shape[1], ax.set_xticks, ax.set_xticklabels),
        (y_labels, w.shape[0], ax.set_yticks, ax.set_yticklabels),
    ):
        if labels is not None:
            if len(labels) != n:
                raise ValueError(f"got {len(labels)} labels for {n} positions")
            set_ticks(range(n))
            set_labels([{" ": "␣", "\n": "⏎"}.get(c, c) for c in labels], fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, shrink=0.8, label="attention weight")
