"""Fine-tuning losses: objective(model, batch) -> {"loss": ...}, for the one trainer.

Each reads the model's outputs and the batch targets; none builds or changes a model.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

Batch = dict[str, torch.Tensor]


def _forward(model: nn.Module, batch: Batch):
    extra = {"langs": batch["langs"]} if "langs" in batch else {}  # XLM's language ids (tasks/batching.pad_batch)
    return model(batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids"), **extra)


def single_label_loss(model: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
    """Cross-entropy of the (B, C) logits against class ids (B,). Multi-class classification, NLI."""
    return {"loss": F.cross_entropy(_forward(model, batch).logits.float(), batch["labels"])}


def multi_label_loss(model: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
    """Binary cross-entropy per label of the (B, C) logits against 0/1 targets (B, C): independent labels."""
    return {"loss": F.binary_cross_entropy_with_logits(_forward(model, batch).logits.float(), batch["labels"])}


def regression_loss(model: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
    """Mean squared error of the single (B, 1) output against float targets (B,). STS-B scores."""
    return {"loss": F.mse_loss(_forward(model, batch).logits.float().squeeze(-1), batch["labels"])}


def token_loss(model: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
    """Cross-entropy over tokens of the (B, T, C) logits; targets (B, T) with -100 where no tag is trained
    (special tokens, padding, pieces after a word's first)."""
    logits = _forward(model, batch).logits
    return {"loss": F.cross_entropy(logits.flatten(0, 1).float(), batch["labels"].flatten(), ignore_index=-100)}


def span_loss(model: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
    """Mean of the cross-entropies of start and end logits (B, T) against the answer's piece positions (B,)
    (0, the [CLS] position, when the answer is not in the window). Padding is masked out first."""
    out = _forward(model, batch)
    pad = batch["attention_mask"] == 0
    start = out.start_logits.float().masked_fill(pad, -1e4)
    end = out.end_logits.float().masked_fill(pad, -1e4)
    ls, le = F.cross_entropy(start, batch["start_positions"]), F.cross_entropy(end, batch["end_positions"])
    return {"loss": (ls + le) / 2, "start_loss": ls, "end_loss": le}


OBJECTIVES: dict[str, Callable[[nn.Module, Batch], dict[str, torch.Tensor]]] = {
    "single_label": single_label_loss, "multi_label": multi_label_loss, "regression": regression_loss,
    "token": token_loss, "span": span_loss,
}
