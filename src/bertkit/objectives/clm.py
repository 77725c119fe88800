"""Causal language modelling loss: predict every next token (GPT-2 pretraining, chapter 9)."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.models.causal_lm import CausalLM
from bertkit.nn.lm_loss import linear_cross_entropy
from bertkit.objectives.masking import IGNORE


def shift_labels(labels: torch.Tensor) -> torch.Tensor:
    """(B, T) labels -> (B, T) targets: position t's target is label t + 1; the last position's is -100."""
    return torch.cat([labels[:, 1:], labels.new_full((labels.shape[0], 1), IGNORE)], dim=1)


def next_token_loss(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, V) logits and (B, T) labels (the input ids, -100 where nothing is predicted) -> (summed loss, count).

    Position t predicts label t + 1, so the last logit and the first label drop out, as in transformers'
    GPT2LMHeadModel (its loss is this sum divided by the count)."""
    # Shift the labels, not the logits: the (B, T, V) logits stay one contiguous tensor (no slice, no gather of the
    # kept rows, whose copies and backward scatters cost as much as the loss itself); the last position gets -100.
    gold = shift_labels(labels)
    total = F.cross_entropy(logits.flatten(0, 1).float(), gold.flatten(), ignore_index=IGNORE, reduction="sum")
    return total, (gold != IGNORE).sum()


class CausalLMObjective(nn.Module):
    """L_CLM = -mean over positions t of log p(x_{t+1} | x_<=t).

    Inputs: batch["input_ids"] (B, T), optional batch["attention_mask"] (B, T) and batch["labels"] (B, T; default
    the input ids; -100 is never predicted, e.g. padding). Returns {"loss": mean, "clm_loss": mean}; exp(loss) is
    the perplexity. Use for decoder-only models (models/causal_lm.py) on plain text packed into blocks."""

    def forward(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        ids = batch["input_ids"]
        labels = batch.get("labels", ids)
        mask = batch.get("attention_mask")
        if isinstance(model, CausalLM) and "lm" in model.heads:  # the head and its loss in one pass, no (B, T, V)
            h = model(ids, mask, compute_logits=False).last_hidden_state
            total, n = linear_cross_entropy(h, model.input_embeddings().weight, shift_labels(labels),
                                            bias=model.heads["lm"].bias)
        else:
            total, n = next_token_loss(model(ids, mask).logits, labels)
        loss = total / n.clamp(min=1)
        return {"loss": loss, "clm_loss": loss}
