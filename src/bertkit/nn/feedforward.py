"""Position-wise feed-forward network and the activations the BERT family uses."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.errors import CheckpointError
from bertkit.nn.dropout import Dropout


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


ACTIVATIONS = {
    "gelu": F.gelu,                 # exact (erf) GELU, BERT's original
    "gelu_new": _gelu_tanh,          # tanh approximation (GPT-2, ALBERT)
    "gelu_pytorch_tanh": _gelu_tanh,
    "gelu_fast": _gelu_tanh,
    "relu": F.relu,
    "tanh": torch.tanh,
    "silu": F.silu,
    "swish": F.silu,
}


def activation(name: str):
    """Look up an activation function by its Hugging Face config name."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise CheckpointError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}") from None


class FeedForward(nn.Module):
    """fc2(act(fc1(x))) with dropout on the output: (B, T, C) -> (B, T, C)."""

    def __init__(self, dim: int, hidden: int, act: str = "gelu", dropout: float = 0.0) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.act = activation(act)
        self.drop = Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.act(self.fc1(x))))
