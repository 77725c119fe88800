"""Weight layouts for one-token-at-a-time decoding.

A decoding step multiplies one row per sequence by every weight matrix, so it reads every weight once and is bound
by memory bandwidth. nn.Linear keeps W as (out, in) rows; MKL's and oneDNN's matrix-vector paths stream the same
matrix stored (in, out) faster (measured on a 2-core AVX-512 EPYC, weights out of cache: 19-21 GB/s against 12-15
for 768 x 768 to 768 x 3072). `decode_layout` re-stores each weight as the transpose of a contiguous (in, out)
tensor: the same values, the same shape and the same Parameter objects, only the strides change, so every caller
(F.linear, the tied LM head, the embedding lookup, state_dict, save_pretrained) sees the same model.

The query, key and value weights of a self-attention go further: they become three column blocks of one (in, 3 out)
matrix, read by one product a step (MultiHeadAttention.fused_qkv; 768 x 2304 streams at ~21 GB/s where each
768 x 768 streamed at ~14). The Parameters q.weight, k.weight, v.weight are views of that storage, so an optimizer
step or load_state_dict writes through to it.
"""
from __future__ import annotations

import torch
from torch import nn


def _column_major(p: torch.Tensor) -> None:
    if p.dim() == 2 and p.is_contiguous() and p.shape[0] > 1 and p.shape[1] > 1:
        p.data = p.data.t().contiguous().t()


def _fuse_qkv(attn) -> None:
    q, k, v = attn.q, attn.k, attn.v
    if q.in_features != k.in_features or (q.bias is None) != (k.bias is None) or (q.bias is None) != (v.bias is None):
        return  # cross-attention sizes or mixed biases: left as three products
    n = q.out_features
    w = torch.cat([q.weight.t(), k.weight.t(), v.weight.t()], dim=1).contiguous()  # (in, 3 out)
    b = None if q.bias is None else torch.cat([q.bias, k.bias, v.bias]).contiguous()
    for i, lin in enumerate((q, k, v)):
        lin.weight.data = w[:, i * n:(i + 1) * n].t()
        if b is not None:
            lin.bias.data = b[i * n:(i + 1) * n]
    attn.fused_qkv = (w, b)


@torch.no_grad()
def decode_layout(module: nn.Module) -> nn.Module:
    """Store the weight of every nn.Linear and nn.Embedding in `module` column-major (see the module docstring).

    Idempotent; returns `module`. Costs one copy of each weight, once."""
    if getattr(module, "_decode_layout", False):
        return module
    from bertkit.nn.attention import MultiHeadAttention

    for m in module.modules():
        if isinstance(m, MultiHeadAttention):
            _fuse_qkv(m)
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            _column_major(m.weight)
    module._decode_layout = True
    return module
