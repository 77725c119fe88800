"""Masked language modelling loss, with the MLM head run only at the masked positions."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.objectives.masking import IGNORE


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross entropy over rows; 0 (not NaN) for an empty batch, without a host sync. logits (M, V), targets (M,)."""
    total = F.cross_entropy(logits.float(), targets, reduction="sum")
    return total / max(targets.numel(), 1)


def masked_forward(model: nn.Module, batch: dict[str, Any]) -> tuple[Any, torch.Tensor]:
    """Run `model` with its MLM head only at the masked positions; returns (outputs, MLM loss).

    Shared by every objective that includes masked language modelling (MLM, MLM+NSP/SOP, SpanBERT).
    """
    labels = batch["labels"]
    pos = labels != IGNORE
    out = model(batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids"), masked_positions=pos)
    logits = out.prediction_logits if out.prediction_logits is not None else out.logits
    return out, masked_cross_entropy(logits, labels[pos])


class MLMObjective(nn.Module):
    """L_MLM = -mean over masked positions of log p(original token | corrupted sequence).

    Inputs: batch["input_ids"] (corrupted), batch["labels"] (original id at masked positions, -100 elsewhere),
    optional attention_mask / token_type_ids. The model gets `masked_positions`, so its vocabulary-wide
    projection runs on the M masked rows only (Google's BERT gathers first too). Use for BERT, RoBERTa and as
    part of every pretraining recipe here.
    """

    def forward(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        _, loss = masked_forward(model, batch)
        return {"loss": loss, "mlm_loss": loss}
