"""BERT's MLM + next-sentence prediction and ALBERT's MLM + sentence-order prediction."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.objectives.mlm import masked_forward


class SentencePairObjective(nn.Module):
    """L = L_MLM + L_pair, where L_pair is the cross entropy of the 2-way classifier on the pooled [CLS]
    vector: NSP (BERT, batch["next_sentence_label"], 1 = B is a random segment) or SOP (ALBERT,
    batch["sentence_order_label"], 1 = the two segments were swapped). Needs a model built with
    task="pretraining" (BertForPreTraining / AlbertForPreTraining heads)."""

    def __init__(self, kind: str = "nsp") -> None:
        super().__init__()
        if kind not in ("nsp", "sop"):
            raise ValueError(f"kind must be 'nsp' or 'sop', got {kind!r}")
        self.kind = kind

    def forward(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        out, mlm = masked_forward(model, batch)
        if self.kind == "nsp":
            pair = F.cross_entropy(out.seq_relationship_logits.float(), batch["next_sentence_label"])
        else:
            pair = F.cross_entropy(out.sop_logits.float(), batch["sentence_order_label"])
        return {"loss": mlm + pair, "mlm_loss": mlm, f"{self.kind}_loss": pair}
