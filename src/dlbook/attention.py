"""Attention and transformers: scaled dot-product attention, multi-head attention, a pre-LN block, ViT and GPT.

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


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    is_causal: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q kᵀ / √d + mask) v, returning the attention weights as well.

    Args:
        q: queries ``(..., T, d)``.
        k: keys ``(..., S, d)``.
        v: values ``(..., S, d_v)``.
        mask: ``None``; a bool tensor broadcastable to ``(..., T, S)`` with
            ``True`` where a query may attend to a key; or a float tensor that
            is added to the scores (``-inf`` forbids).
        is_causal: apply :func:`causal_mask` (do not pass ``mask`` as well).

    Returns:
        ``(out, weights)``: ``out`` ``(..., T, d_v)`` and ``weights``
        ``(..., T, S)``, whose rows sum to one. A query that may attend to
        no key gets zero weights and a zero output, as in PyTorch.
    """
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(
            f"q, k and v need at least 2 dimensions (..., T, d); got {q.ndim}, {k.ndim}, {v.ndim}"
        )
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"queries and keys must have the same size d: q {tuple(q.shape)}, k {tuple(k.shape)}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"keys and values must have the same number of positions S: k {tuple(k.shape)}, "
            f"v {tuple(v.shape)}"
        )
    if mask is not None and is_causal:
        raise ValueError(
            "pass either a mask or is_causal=True, not both (fold the causal mask into yours)"
        )
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T, S)
    if is_causal:
        mask = causal_mask(q.shape[-2], k.shape[-2], device=q.device)
    if mask is not None:
        try:
            fits = torch.broadcast_shapes(mask.shape, scores.shape) == scores.shape
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(
                f"mask {tuple(mask.shape)} does not broadcast to the scores (..., T, S) "
                f"{tuple(scores.shape)}"
            )
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        elif mask.is_floating_point():
            scores = scores + mask
        else:
            raise ValueError(
                f"mask must be bool (True = may attend) or float (added to scores), got {mask.dtype}"
            )
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:  # rows with every key forbidden: 0 instead of NaN
        weights = weights.masked_fill(torch.isneginf(scores).all(-1, keepdim=True), 0.0)
    return weights @ v, weights


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
            f"need n_positions >= 1 and an even d_model >= 2, got {n_positions}, {d_model}"
        )
    t = torch.arange(n_positions, dtype=torch.float32)[:, None]  # (T, 1)
    freq = base ** (
        -torch.arange(0, d_model, 2, dtype=torch.float32) / d_model
    )  # (D/2,)
    pe = torch.empty(n_positions, d_model)
    pe[:, 0::2] = torch.sin(t * freq)
    pe[:, 1::2] = torch.cos(t * freq)
    return pe


class MultiHeadAttention(nn.Module):
    """H attention heads of width D/H side by side, then an output projection.

    The parameters are laid out as in :class:`torch.nn.MultiheadAttention`:
    ``in_proj`` stacks ``W_q``, ``W_k``, ``W_v`` (``(3D, D)``) and
    ``out_proj`` is ``W_o`` (``(D, D)``).

    Args:
        d_model: width ``D`` of the tokens.
        n_heads: number of heads ``H``; must divide ``D``.
        bias: biases in the projections.
        dropout: dropout on the attention weights while training.
    """

    def __init__(
        self, d_model: int, n_heads: int, *, bias: bool = True, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if n_heads < 1 or d_model % n_heads:
            raise ValueError(
                f"n_heads ({n_heads}) must be positive and divide d_model ({d_model})"
            )
        self.d_model, self.n_heads, self.dropout = d_model, n_heads, dropout
        self.in_proj = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.n_heads, self.d_model // self.n_heads).transpose(
            1, 2
        )  # (B, H, T, D/H)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        *,
        mask: torch.Tensor | None = None,
        is_causal: bool = False,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend from ``x`` to ``context`` (self-attention when it is ``None``).

        Args:
            x: queries' tokens ``(B, T, D)``.
            context: keys' and values' tokens ``(B, S, D)``; default ``x``.
            mask: bool ``(T, S)``, ``(B, 1, T, S)`` or ``(B, H, T, S)``, ``True`` = may attend.
            is_causal: causal self-attention.
            need_weights: also return the weights (uses the explicit
                computation instead of PyTorch's fused kernel).

        Returns:
            ``(out, weights)``: ``out`` ``(B, T, D)``; ``weights``
            ``(B, H, T, S)`` or ``None``.
        """
        context = x if context is None else context
        if (
            x.ndim != 3
            or x.shape[-1] != self.d_model
            or context.ndim != 3
            or context.shape[-1] != self.d_model
            or context.shape[0] != x.shape[0]
        ):
            raise ValueError(
                f"expected x (B, T, {self.d_model}) and context (B, S, {self.d_model}); got "
                f"{tuple(x.shape)} and {tuple(context.shape)}"
            )
        w_q, w_kv = self.in_proj.weight.split([self.d_model, 2 * self.d_model])
        b_q, b_kv = (
            (None, None)
            if self.in_proj.bias is None
            else self.in_proj.bias.split([self.d_model, 2 * self.d_model])
        )
        q = self._heads(F.linear(x, w_q, b_q))  # (B, H, T, D/H)
        k, v = (
            self._heads(z) for z in F.linear(context, w_kv, b_kv).chunk(2, dim=-1)
        )  # (B, H, S, D/H)
        p = self.dropout if self.training else 0.0
        if need_weights:
            out, weights = scaled_dot_product_attention(
                q, k, v, mask=mask, is_causal=is_causal
            )
            if p:
                out = F.dropout(weights, p) @ v
        else:
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, is_causal=is_causal, dropout_p=p
            )
            weights = None
        out = out.transpose(1, 2).reshape(x.shape)  # (B, T, D): heads side by side
        return self.out_proj(out), weights


class TransformerBlock(nn.Module):
    """A pre-LN transformer block: x + MHA(LN(x)), then x + MLP(LN(x)).

    Args:
        d_model: width ``D``.
        n_heads: attention heads.
        mlp_ratio: the MLP's hidden width is ``mlp_ratio · D``.
        dropout: dropout on the attention weights and on both residual branches.
        bias: biases in the linear layers and layer norms.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        *,
        mlp_ratio: int = 4,
        dropout: float = 0.0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model, bias=bias)
        self.attn = MultiHeadAttention(d_model, n_heads, bias=bias, dropout=dropout)
        self.ln2 = nn.LayerNorm(d_model, bias=bias)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, mlp_ratio * d_model, bias=bias),
            nn.GELU(),
            nn.Linear(mlp_ratio * d_model, d_model, bias=bias),
        )
        self.drop = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        *,
        mask: torch.Tensor | None = None,
        is_causal: bool = False,
    ) -> torch.Tensor:
        """``(B, T, D)`` -> ``(B, T, D)``."""
        x = x + self.drop(self.attn(self.ln1(x), mask=mask, is_causal=is_causal)[0])
        return x + self.drop(self.mlp(self.ln2(x)))

    def attention_weights(
        self,
        x: torch.Tensor,
        *,
        mask: torch.Tensor | None = None,
        is_causal: bool = False,
    ) -> torch.Tensor:
        """The block's attention weights for input ``x`` ``(B, T, D)``: ``(B, H, T, T)``."""
        return self.attn(
            self.ln1(x), mask=mask, is_causal=is_causal, need_weights=True
        )[1]


def _init_weights(module: nn.Module, std: float = 0.02) -> None:
    """GPT-2's initialisation of linear and embedding layers: N(0, std²) weights, zero biases."""
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
            f"patchify expects (B, C, H, W) images with H and W multiples of {patch_size}, "
            f"got {tuple(images.shape)}"
        )
    return F.unfold(images, kernel_size=patch_size, stride=patch_size).transpose(1, 2)


@dataclass
class ViTConfig:
    """A small vision transformer; the defaults suit 28x28 grey images."""

    image_size: int = 28  # Fashion-MNIST's side
    patch_size: int = 4  # 7x7 = 49 patches: fine enough for attention maps, only 50 tokens to attend over
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
    """A vision transformer: patch embeddings, a class token, learned positions, pre-LN blocks.

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
        """Images ``(B, C, H, W)`` -> the input tokens ``(B, 1 + N, D)``, class token first."""
        c = self.cfg
        if images.ndim != 4 or tuple(images.shape[1:]) != (
            c.in_channels,
            c.image_size,
            c.image_size,
        ):
            raise ValueError(
                f"expected images (B, {c.in_channels}, {c.image_size}, {c.image_size}), "
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
        """Every layer's attention weights: ``(L, B, H, 1 + N, 1 + N)``; token 0 is the class token."""
        x, maps = self.tokens(images), []
        for block in self.blocks:
            maps.append(block.attention_weights(x))
            x = block(x)
        return torch.stack(maps)


@dataclass
class GPTConfig:
    """A small character-level GPT, nanoGPT's shape at toy sizes."""

    vocab_size: int  # number of distinct tokens (characters); set from the data
    block_size: int = (
        128  # context length T: longer sees more, but attention costs grow as T²
    )
    n_layers: int = 4  # depth: each layer can look back and combine once more
    n_heads: int = 4  # heads per layer, each d_model / n_heads wide
    d_model: int = (
        128  # token width; the parameter count grows as 12 · n_layers · d_model²
    )
    dropout: float = 0.0  # only useful once the model is big enough to overfit the text
    bias: bool = True  # biases in linear layers and layer norms, as GPT-2
    tie_weights: bool = (
        True  # the output layer reuses the token embedding: fewer parameters
    )

    def __post_init__(self) -> None:
        if self.vocab_size < 1 or self.block_size < 1:
            raise ValueError(
                f"vocab_size and block_size must be positive, got {self.vocab_size}, {self.block_size}"
            )
        if self.d_model % self.n_heads:
            raise ValueError(
                f"n_heads {self.n_heads} must divide d_model {self.d_model}"
            )


class GPT(nn.Module):
    """A decoder-only transformer that predicts the next token at every position.

    Args:
        cfg: the :class:`GPTConfig`.
    """

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.block_size, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(
                cfg.d_model, cfg.n_heads, dropout=cfg.dropout, bias=cfg.bias
            )
            for _ in range(cfg.n_layers)
        )
        self.ln = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.apply(_init_weights)
        for (
            block
        ) in self.blocks:  # GPT-2: residual branches scaled down by the number of them
            for lin in (block.attn.out_proj, block.mlp[2]):
                nn.init.normal_(lin.weight, 0.0, 0.02 / math.sqrt(2 * cfg.n_layers))
        if cfg.tie_weights:
            self.head.weight = self.tok.weight

    def tokens(self, idx: torch.Tensor) -> torch.Tensor:
        """Ids ``(B, T)`` -> token plus position embeddings ``(B, T, D)``."""
        if idx.ndim != 2 or idx.dtype not in (torch.int64, torch.int32):
            raise ValueError(
                f"expected integer ids of shape (B, T), got {tuple(idx.shape)} {idx.dtype}"
            )
        if idx.shape[1] > self.cfg.block_size:
            raise ValueError(
                f"sequence length {idx.shape[1]} exceeds block_size {self.cfg.block_size}; "
                "feed at most the last block_size tokens (generate(..., context=block_size))"
            )
        pos = torch.arange(idx.shape[1], device=idx.device)
        return self.drop(self.tok(idx) + self.pos(pos))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Ids ``(B, T)`` -> next-token logits ``(B, T, vocab_size)``."""
        x = self.tokens(idx)
        for block in self.blocks:
            x = block(x, is_causal=True)
        return self.head(self.ln(x))

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> torch.Tensor:
        """Every layer's (causal) attention weights: ``(L, B, H, T, T)``."""
        x, maps = self.tokens(idx), []
        for block in self.blocks:
            maps.append(block.attention_weights(x, is_causal=True))
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
    """Draw an attention matrix ``(T, S)`` as a heatmap: row ``i`` is where query ``i`` looks.

    Args:
        weights: ``(T, S)``, e.g. one head of one example.
        x_labels, y_labels: tick labels for keys (S) and queries (T), e.g. characters.
    """
    w = torch.as_tensor(weights).detach().float().cpu()
    if w.ndim != 2:
        raise ValueError(
            f"show_attention draws one (T, S) matrix, got shape {tuple(w.shape)}; pick a head"
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
