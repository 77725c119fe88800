"""Output heads: pooler, masked LM (tied), NSP/SOP, sequence and token classification, QA span, ELECTRA RTD."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.nn.dropout import Dropout
from bertkit.nn.feedforward import activation


class Pooler(nn.Module):
    """tanh(W h_[CLS] + b): BERT's sentence vector, trained by NSP/SOP. (B, T, C) -> (B, C)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dense = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(x[:, 0]))


class MaskedLMHead(nn.Module):
    """dense -> act -> LayerNorm -> tied decoder (input embedding matrix) + bias.

    out_dim is H for BERT/RoBERTa and the embedding size E for ALBERT and the ELECTRA generator.
    The decoder weight is passed in at call time, so it is the embedding matrix itself (tied), never a copy.
    """

    def __init__(self, dim: int, out_dim: int, vocab_size: int, act: str, eps: float) -> None:
        super().__init__()
        self.dense = nn.Linear(dim, out_dim)
        self.act = activation(act)
        self.norm = nn.LayerNorm(out_dim, eps=eps)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, h: torch.Tensor, decoder_weight: torch.Tensor) -> torch.Tensor:
        """h: (..., C) -> logits (..., V). Callers gather masked positions first to save the V-wide matmul."""
        return F.linear(self.norm(self.act(self.dense(h))), decoder_weight, self.bias)


class LinearHead(nn.Module):
    """dropout -> Linear: NSP and SOP (on the pooled vector), token classification, QA (on every token)."""

    def __init__(self, dim: int, n: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.drop = Dropout(dropout)
        self.proj = nn.Linear(dim, n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.drop(x))


class ClassifierHead(nn.Module):
    """Sequence classification from the first token.

    hidden_act None: dropout -> out on the pooled vector (BERT, ALBERT), or on h_0 without a pooler (XLM).
    Otherwise [dropout] -> dense -> act -> dropout -> out on h_0 (RoBERTa: tanh, ELECTRA: gelu, DistilBERT: relu).
    """

    def __init__(self, dim: int, n: int, dropout: float, hidden_act: str | None = None,
                 dropout_first: bool = True) -> None:
        super().__init__()
        self.drop = Dropout(dropout)
        self.dense = nn.Linear(dim, dim) if hidden_act else None
        self.act = activation(hidden_act) if hidden_act else None
        self.dropout_first = dropout_first
        self.out = nn.Linear(dim, n)

    def forward(self, x: torch.Tensor, pooled: torch.Tensor | None = None) -> torch.Tensor:
        if self.dense is None:  # the pooled vector, or h_0 for a family without a pooler (XLM's sequence summary)
            return self.from_vector(pooled if pooled is not None else x[:, 0])
        return self.from_vector(x[:, 0])

    def from_vector(self, h: torch.Tensor) -> torch.Tensor:
        """The head on one vector per text (B, C) instead of the first token: used for mean pooling."""
        if self.dense is None:
            return self.out(self.drop(h))
        if self.dropout_first:
            h = self.drop(h)
        return self.out(self.drop(self.act(self.dense(h))))


class ReplacedTokenHead(nn.Module):
    """ELECTRA discriminator: one logit per token, > 0 means 'replaced'. (B, T, C) -> (B, T)."""

    def __init__(self, dim: int, act: str) -> None:
        super().__init__()
        self.dense = nn.Linear(dim, dim)
        self.act = activation(act)
        self.out = nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.act(self.dense(x))).squeeze(-1)


class TiedLMHead(nn.Module):
    """Next-token logits from the token embedding matrix itself: h E^T [+ b]. (..., C) -> (..., V).

    GPT-2 has no bias; BART adds `final_logits_bias`, a (1, V) buffer (not trained, as in transformers);
    learned_bias=True makes the bias a trained (V,) Parameter instead (XLM's `pred_layer.proj.bias`).
    """

    def __init__(self, vocab_size: int, bias: bool = False, learned_bias: bool = False) -> None:
        super().__init__()
        if learned_bias:
            self.bias = nn.Parameter(torch.zeros(vocab_size))
        else:
            self.register_buffer("bias", torch.zeros(1, vocab_size) if bias else None)

    def forward(self, h: torch.Tensor, decoder_weight: torch.Tensor) -> torch.Tensor:
        logits = F.linear(h, decoder_weight)
        return logits if self.bias is None else logits + self.bias
