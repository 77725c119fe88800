"""Tang et al. (2019)'s distillation loss for a BiLSTM student, as an objective for the shared Trainer.

    loss = alpha * CE(student logits, gold labels) + (1 - alpha) * MSE(student logits, teacher logits)

Inputs in the batch: input_ids, attention_mask (and input_ids2/attention_mask2 for pairs), labels (gold class
ids, -100 for augmented rows that have none) and teacher_logits (B, C). CE is the mean over the rows with a
label (0 when none has one); MSE is the mean over every logit of every row (Tang: the teacher's logits, not
its probabilities, as the target). With no teacher_logits in the batch the loss is CE alone (the labels-only twin).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


class BiLstmDistillObjective:
    """objective(model, batch) -> {"loss", "ce", "mse"}; see the module docstring."""

    def __init__(self, alpha: float = 0.0) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.alpha = alpha

    def __call__(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logits = model(batch["input_ids"], batch["attention_mask"], batch.get("input_ids2"),
                       batch.get("attention_mask2")).float()
        labels = batch["labels"]
        has = labels != -100
        ce = F.cross_entropy(logits[has], labels[has]) if bool(has.any()) else logits.sum() * 0.0
        teacher = batch.get("teacher_logits")
        if teacher is None:
            return {"loss": ce, "ce": ce}
        mse = F.mse_loss(logits, teacher.float())
        return {"loss": self.alpha * ce + (1 - self.alpha) * mse, "ce": ce.detach(), "mse": mse.detach()}
