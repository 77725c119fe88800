"""Sentence vectors from token vectors: mean, max, [CLS], pooler."""
from __future__ import annotations

import torch

POOLINGS = ("mean", "cls", "max", "pooler")


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, mode: str = "mean") -> torch.Tensor:
    """(B, T, C) token vectors and (B, T) 1/0 mask -> (B, C). Padding never contributes.

    `pooler` is not handled here: it is a trained layer of the model (see nn.heads.Pooler).
    """
    if mode == "cls":
        return hidden[:, 0]
    m = attention_mask.to(hidden.dtype).unsqueeze(-1)  # (B, T, 1)
    if mode == "mean":
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    if mode == "max":
        return hidden.masked_fill(m == 0, torch.finfo(hidden.dtype).min).amax(1)
    raise ValueError(f"unknown pooling {mode!r}; expected one of {POOLINGS}")
