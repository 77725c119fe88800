"""One Transformer layer: attention and feed-forward sublayers with residuals, post-LN or pre-LN."""
from __future__ import annotations

import torch
from torch import nn

from bertkit.nn.attention import KVCache, MultiHeadAttention
from bertkit.nn.dropout import Dropout
from bertkit.nn.feedforward import FeedForward


class Block(nn.Module):
    """Post-LN (BERT): x = LN(x + attn(x)); x = LN(x + ff(x)).  Pre-LN: x = x + attn(LN(x)); x = x + ff(LN(x)).

    A decoder block gets `cross` (attention over the encoder output) between the two.
    Parts are passed in, so every model in the family composes the same block.
    """

    def __init__(self, attn: MultiHeadAttention, ff: FeedForward, dim: int, eps: float = 1e-12,
                 dropout: float = 0.0, pre_ln: bool = False, cross: MultiHeadAttention | None = None) -> None:
        super().__init__()
        self.attn, self.ff, self.cross, self.pre_ln = attn, ff, cross, pre_ln
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.norm_cross = nn.LayerNorm(dim, eps=eps) if cross is not None else None
        self.drop = Dropout(dropout)

    def _sub(self, x: torch.Tensor, norm: nn.LayerNorm, fn) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.pre_ln:
            y, probs = fn(norm(x))
            return x + self.drop(y), probs
        y, probs = fn(x)
        return norm(x + self.drop(y)), probs

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None, context: torch.Tensor | None = None,
                context_bias: torch.Tensor | None = None, output_attentions: bool = False,
                cache: tuple[KVCache, KVCache | None] | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: (B, T, C) -> ((B, T, C), self-attention probabilities (B, H, T, T) or None).

        `cache` (decoding): this layer's (self-attention, cross-attention) key/value caches; see KVCache.
        """
        own, other = cache if cache is not None else (None, None)
        x, probs = self._sub(x, self.norm1, lambda h: self.attn(h, bias, output_attentions=output_attentions,
                                                                cache=own))
        if self.cross is not None:
            x, _ = self._sub(x, self.norm_cross, lambda h: self.cross(h, context_bias, context=context, cache=other))
        x, _ = self._sub(x, self.norm2, lambda h: (self.ff(h), None))
        return x, probs
