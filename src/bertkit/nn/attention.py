"""Scaled dot-product attention and multi-head attention (self and cross, optionally causal)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def additive_mask(attention_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """(B, T) 1/0 keep-mask -> (B, 1, 1, T) additive bias: 0 where kept, dtype-min where padded.

    The minimum finite value (not -inf) keeps fully padded rows finite, as transformers does.
    """
    if attention_mask is None:
        return None
    if attention_mask.dim() == 4:  # already a bias
        return attention_mask.to(dtype)
    keep = attention_mask[:, None, None, :].to(dtype)
    return (1.0 - keep) * torch.finfo(dtype).min


def causal_bias(t_q: int, t_k: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(1, 1, Tq, Tk) bias that forbids attending to later positions (queries aligned to the end)."""
    i = torch.arange(t_q, device=device)[:, None] + (t_k - t_q)
    j = torch.arange(t_k, device=device)[None, :]
    return torch.where(j > i, torch.finfo(dtype).min, 0.0).to(dtype)[None, None]


def attention_probs(q: torch.Tensor, k: torch.Tensor, bias: torch.Tensor | None,
                    dropout: float = 0.0, training: bool = False) -> torch.Tensor:
    """Explicit softmax(q k^T / sqrt(d) + bias) -> (B, H, Tq, Tk); the path that can return probabilities."""
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # (B, H, Tq, Tk)
    if bias is not None:
        scores = scores + bias
    probs = scores.softmax(dim=-1)
    return F.dropout(probs, p=dropout, training=training)


# Training with attention dropout cannot use a fused SDPA kernel on CPU: the math path keeps the (B, H, Tq, Tk)
# scores, probabilities and dropout mask of every layer for backward (~27 bytes an element under bf16 autocast;
# question answering at 384 tokens, batch 32, MiniLM: ~1.5 GB a layer, 7.4 GB peak for the run). Above this many
# score elements per layer the attention is recomputed in backward instead (torch.utils.checkpoint with the RNG
# state restored, so the dropout masks and the gradients are the same): there 4.0 GB peak, but 35% slower steps
# (benchmarks/finetune_memory.py), so only where the stored attention would pass ~450 MB a layer. Set it to
# float("inf") to never recompute, or MultiHeadAttention.recompute_attention = True/False per module.
RECOMPUTE_ATTENTION_ELEMENTS = 1 << 24


def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None,
          p: float) -> torch.Tensor:
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=p)


class MultiHeadAttention(nn.Module):
    """Multi-head attention: project to H heads, attend, concatenate, project back.

    Self-attention when `context` is None, cross-attention otherwise (keys/values from `context`).
    Uses torch SDPA (fused kernels) unless attention probabilities are requested.
    """

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 kv_dim: int | None = None, causal: bool = False) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"hidden size {dim} is not divisible by the number of heads {num_heads}")
        kv_dim = kv_dim or dim
        self.num_heads, self.head_dim, self.dropout, self.causal = num_heads, dim // num_heads, dropout, causal
        self.q = nn.Linear(dim, dim, bias=bias)
        self.k = nn.Linear(kv_dim, dim, bias=bias)
        self.v = nn.Linear(kv_dim, dim, bias=bias)
        self.o = nn.Linear(dim, dim, bias=bias)

    recompute_attention: bool | None = None  # None: when dropout is on and the scores are large (see above)

    def recompute(self, q: torch.Tensor, k: torch.Tensor, p: float) -> bool:
        """Whether this call recomputes its attention in backward instead of storing it."""
        if p == 0.0 or not torch.is_grad_enabled() or not q.requires_grad:
            return False  # no dropout: SDPA's fused kernels already store almost nothing
        if self.recompute_attention is not None:
            return self.recompute_attention
        b, h, t_q, _ = q.shape
        return b * h * t_q * k.shape[2] >= RECOMPUTE_ATTENTION_ELEMENTS

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, T, D)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None, context: torch.Tensor | None = None,
                output_attentions: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: (B, T, C); bias: additive (B|1, 1, Tq|1, Tk) or None. Returns ((B, T, C), probs or None)."""
        src = x if context is None else context
        q, k, v = self._heads(self.q(x)), self._heads(self.k(src)), self._heads(self.v(src))
        if self.causal:
            cb = causal_bias(q.shape[2], k.shape[2], x.device, q.dtype)
            bias = cb if bias is None else bias.to(q.dtype) + cb
        p = self.dropout if self.training else 0.0
        probs = None
        if output_attentions:
            probs = attention_probs(q, k, bias, p, self.training)
            out = probs @ v
        else:
            mask = None if bias is None else bias.to(q.dtype)
            if self.recompute(q, k, p):
                from torch.utils.checkpoint import checkpoint

                out = checkpoint(_sdpa, q, k, v, mask, p, use_reentrant=False, preserve_rng_state=True)
            else:
                out = _sdpa(q, k, v, mask, p)
        b, h, t, d = out.shape
        return self.o(out.transpose(1, 2).reshape(b, t, h * d)), probs
