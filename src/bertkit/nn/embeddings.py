"""Input embeddings: token + segment + position (learned or sinusoidal), then LayerNorm and dropout."""
from __future__ import annotations

import math

import torch
from torch import nn

from bertkit.nn.dropout import Dropout

SINUSOIDAL_LAYOUTS = ("interleaved", "halves")


def sinusoidal_table(num_positions: int, dim: int, layout: str = "interleaved") -> torch.Tensor:
    """The Transformer's fixed encoding, angle(p, i) = p / 10000^(2i/d) for i < ceil(d/2), as (P, d).

    "interleaved" (the paper, DistilBERT): PE[p, 2i] = sin(angle), PE[p, 2i+1] = cos(angle).
    "halves" (Marian, fairseq, tensor2tensor): the sines in the first ceil(d/2) columns, the cosines after them.
    The two hold the same numbers in another column order, so they are equally good; a checkpoint needs its own.
    """
    if layout not in SINUSOIDAL_LAYOUTS:
        raise ValueError(f"unknown sinusoidal layout {layout!r}; expected one of {SINUSOIDAL_LAYOUTS}")
    pos = torch.arange(num_positions, dtype=torch.float64)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float64) * (-math.log(10000.0) / dim))
    sin, cos = torch.sin(pos * div), torch.cos(pos * div)[:, : dim // 2]  # (P, ceil(d/2)), (P, floor(d/2))
    table = torch.zeros(num_positions, dim, dtype=torch.float64)
    if layout == "interleaved":
        table[:, 0::2], table[:, 1::2] = sin, cos
    else:
        table[:, : sin.shape[1]], table[:, sin.shape[1]:] = sin, cos
    return table.float()


class Embeddings(nn.Module):
    """(B, T) ids -> (B, T, E) vectors.

    position_offset > 0 gives RoBERTa/XLM-R positions: padding tokens sit at `pad_id` and real tokens
    count from pad_id + 1, so position ids depend on where the padding is, not only on the index.
    position_start skips the first rows of the table (BART: position p reads row p + 2). scale multiplies the
    token vectors (BART's scale_embedding: sqrt(d)); norm=False leaves out the LayerNorm (GPT-2). `word` passes
    in a token table shared with another stack (BART's encoder and decoder). sinusoidal=True fixes the position
    table to `sinusoidal_table(..., sinusoidal_layout)` (not trained). segment_default: the segment id of every
    token when none are given (BERT: 0); None adds no segment vector then (XLM, whose segment table holds
    languages: no `langs`, no language vector).
    """

    def __init__(self, vocab_size: int, dim: int, max_positions: int, type_vocab_size: int = 2,
                 pad_id: int | None = 0, layer_norm_eps: float = 1e-12, dropout: float = 0.0,
                 sinusoidal: bool = False, position_offset: bool = False, position_start: int = 0,
                 scale: float = 1.0, norm: bool = True, word: nn.Embedding | None = None,
                 sinusoidal_layout: str = "interleaved", segment_default: int | None = 0) -> None:
        super().__init__()
        self.word = word if word is not None else nn.Embedding(vocab_size, dim, padding_idx=pad_id)
        self.position = nn.Embedding(max_positions, dim)
        if sinusoidal:
            self.position.weight.data.copy_(sinusoidal_table(max_positions, dim, sinusoidal_layout))
            self.position.weight.requires_grad_(False)
        self.segment = nn.Embedding(type_vocab_size, dim) if type_vocab_size > 0 else None
        self.norm = nn.LayerNorm(dim, eps=layer_norm_eps) if norm else nn.Identity()
        self.drop = Dropout(dropout)
        self.pad_id, self.position_offset = pad_id, position_offset
        self.position_start, self.scale = position_start, scale
        self.segment_default = segment_default

    @property
    def max_tokens(self) -> int:
        """Longest sequence the position table can hold."""
        n = self.position.num_embeddings
        return n - (self.pad_id + 1) if self.position_offset else n - self.position_start

    def position_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        if self.position_offset:
            keep = (input_ids != self.pad_id).long()
            return torch.cumsum(keep, dim=1) * keep + self.pad_id
        return torch.arange(input_ids.shape[1], device=input_ids.device)[None, :]

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None,
                added_token_ids: torch.Tensor | None = None) -> torch.Tensor:
        """input_ids (B, T) -> (B, T, E). position_ids (B|1, T): positions counted from 0 (a decoding step
        passes its own: the cache length, or left-padded rows' real positions); default 0..T-1.
        added_token_ids (B, T): more ids whose token vectors join the sum before the LayerNorm (XLM's
        token_type_ids, which transformers looks up in the token table)."""
        if position_ids is None:
            position_ids = self.position_ids(input_ids)
        if self.position_start:
            position_ids = position_ids + self.position_start
        tokens = self.word(input_ids)
        if self.scale != 1.0:
            tokens = tokens * self.scale
        x = tokens + self.position(position_ids)
        if self.segment is not None and (token_type_ids is not None or self.segment_default is not None):
            if token_type_ids is None:
                token_type_ids = torch.full_like(input_ids, self.segment_default)
            x = x + self.segment(token_type_ids)
        if added_token_ids is not None:
            x = x + self.word(added_token_ids)
        return self.drop(self.norm(x))
