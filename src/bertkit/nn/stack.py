"""A stack of blocks: the encoder (bidirectional) and decoder (causal, optional cross-attention)."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from bertkit.nn.attention import KVCache, MultiHeadAttention
from bertkit.nn.block import Block
from bertkit.nn.feedforward import FeedForward


def make_block(dim: int, heads: int, ffn: int, act: str = "gelu", dropout: float = 0.0,
               attn_dropout: float = 0.0, eps: float = 1e-12, pre_ln: bool = False, causal: bool = False,
               cross: bool = False, ff_dropout: float | None = None) -> Block:
    """Builder: the standard block from sizes. ff_dropout: an extra dropout of the feed-forward's own on its
    output, before the block's (None or 0: none, so the sublayer output is dropped once, as in BERT's BertOutput
    and GPT-2's MLP; dropping it twice would train with an effective rate of 1 - (1 - p)^2)."""
    ff = FeedForward(dim, ffn, act, ff_dropout or 0.0)
    return Block(MultiHeadAttention(dim, heads, attn_dropout, causal=causal), ff,
                 dim, eps, dropout, pre_ln,
                 cross=MultiHeadAttention(dim, heads, attn_dropout) if cross else None)


class DecoderCache:
    """Key/value caches of a decoder stack, one (self-attention, cross-attention or None) pair per layer."""

    def __init__(self, num_layers: int, cross: bool = False) -> None:
        self.layers = [(KVCache(), KVCache(static=True) if cross else None) for _ in range(num_layers)]

    def __len__(self) -> int:
        """Positions already decoded (the length of every self-attention cache)."""
        return len(self.layers[0][0]) if self.layers else 0

    def reorder(self, index: torch.Tensor, within_rows: bool = True) -> None:
        """Keep batch rows `index` (N,) of every self-attention cache (beam search).

        within_rows=True (what beam search does: a beam continues one of its own row's beams) leaves the
        cross-attention caches alone: their keys and values come from the source, which every beam of a row
        shares, so any reordering within rows leaves them equal (transformers' BART skips them too). Copying them
        was a third of a beam-search step. within_rows=False reorders them as well (rows moved across sources)."""
        for own, other in self.layers:
            own.reorder(index)
            if other is not None and not within_rows:
                other.reorder(index)


class Stack(nn.Module):
    """num_layers applications of blocks; `schedule[i]` says which block runs as layer i.

    Plain stacks use schedule i -> i. ALBERT's cross-layer sharing passes fewer blocks and a schedule
    that reuses them (one block for all layers by default), so sharing is data, not a new class.
    """

    def __init__(self, blocks: list[Block], num_layers: int | None = None,
                 schedule: Callable[[int], list[int]] | None = None, final_norm: nn.Module | None = None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.num_layers = num_layers or len(blocks)
        self.schedule = schedule or (lambda i: [i])
        self.final_norm = final_norm  # pre-LN stacks end with a LayerNorm

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None, context: torch.Tensor | None = None,
                context_bias: torch.Tensor | None = None, output_hidden_states: bool = False,
                output_attentions: bool = False, cache: DecoderCache | None = None,
                keep: torch.Tensor | None = None):
        """x: (B, T, C). Returns (last, hidden_states tuple incl. input or None, attentions tuple or None).

        `cache` (decoding, one block per layer): x holds only the new positions; see KVCache.
        `keep` (B, T, 1): multiplies the output of every layer (XLM zeroes its padded positions after each one).
        """
        hidden = [x] if output_hidden_states else None
        attns = [] if output_attentions else None
        for i in range(self.num_layers):
            for j in self.schedule(i):
                if cache is None:
                    x, probs = self.blocks[j](x, bias, context, context_bias, output_attentions)
                else:
                    x, probs = self.blocks[j](x, bias, context, context_bias, output_attentions, cache=cache.layers[i])
                if attns is not None:
                    attns.append(probs)
            if keep is not None:
                x = x * keep
            if hidden is not None:
                hidden.append(x)
        if self.final_norm is not None:
            x = self.final_norm(x)
            if hidden is not None:
                hidden[-1] = x
        return x, (tuple(hidden) if hidden is not None else None), (tuple(attns) if attns is not None else None)
