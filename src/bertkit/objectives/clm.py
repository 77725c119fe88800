"""Causal language modelling loss: predict every next token (GPT-2 pretraining, chapter 9)."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.objectives.masking import IGNORE


def next_token_loss(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, V) logits and (B, T) labels (the input ids, -100 where nothing is predicted) -> (summed loss, count).

    Position t predicts label t + 1, so the last logit and the first label drop out, as in transformers'
    GPT2LMHeadModel (its loss is this sum divided by the count)."""
    pred, gold = logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten()
    keep = gold != IGNORE
    total = F.cross_entropy(pred[keep].float(), gold[keep], reduction="sum")
    return total, keep.sum()


class CausalLMObjective(nn.Module):
    """L_CLM = -mean over positions t of log p(x_{t+1} | x_<=t).

    Inputs: batch["input_ids"] (B, T), optional batch["attention_mask"] (B, T) and batch["labels"] (B, T; default
    the input ids; -100 is never predicted, e.g. padding). Returns {"loss": mean, "clm_loss": mean}; exp(loss) is
    the perplexity. Use for decoder-only models (models/causal_lm.py) on plain text packed into blocks."""

    def forward(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        ids = batch["input_ids"]
        labels = batch.get("labels", ids)
        out = model(ids, batch.get("attention_mask"))
        total, n = next_token_loss(out.logits, labels)
        loss = total / n.clamp(min=1)
        return {"loss": loss, "clm_loss": loss}
