"""XLM's causal objective: next-token prediction with the causal XLM configuration (config `causal`), each token
carrying its language id. The loss is objectives/clm.next_token_loss on the tied head's logits."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from bertkit.objectives.clm import next_token_loss
from bertkit.objectives.tlm import xlm_inputs


class XLMCausalLMObjective(nn.Module):
    """L_CLM = -mean over t of log p(x_{t+1} | x_<=t, languages).

    Inputs: batch["input_ids"] (B, T), batch["labels"] (B, T; the input ids, -100 at padding), batch["langs"],
    optional attention_mask. The model must be causal (XLM's CLM checkpoints). Returns {"loss", "clm_loss"}."""

    def forward(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        out = model(batch["input_ids"], batch.get("attention_mask"), **xlm_inputs(batch))
        total, n = next_token_loss(out.logits, batch["labels"])
        loss = total / n.clamp(min=1)
        return {"loss": loss, "clm_loss": loss}
