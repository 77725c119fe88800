"""Sequence-to-sequence loss: label-smoothed cross-entropy over the target tokens (translation, chapter 1)."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from bertkit.objectives.masking import IGNORE


def label_smoothed_nll(logits: torch.Tensor, labels: torch.Tensor, epsilon: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, V) logits and (N,) target ids (-100: ignored) -> (smoothed loss, nll), each summed over the targets.

    The target distribution is q = (1 - eps) * onehot(y) + eps / V (Szegedy et al. 2016, as the Transformer
    trains), so each token's loss is (1 - eps) * -log p(y) + eps * mean_j -log p(j); PyTorch's
    cross_entropy(label_smoothing=eps) is the same formula."""
    keep = labels != IGNORE
    logp = torch.log_softmax(logits[keep].float(), dim=-1)  # (M, V)
    nll = -logp.gather(1, labels[keep][:, None]).squeeze(1)  # (M,)
    smooth = -logp.mean(dim=-1)
    return ((1.0 - epsilon) * nll + epsilon * smooth).sum(), nll.sum()


class LabelSmoothedCrossEntropy(nn.Module):
    """L = mean over target tokens of (1 - eps) * -log p(y_t | y_<t, x) + eps * mean_j -log p(j | y_<t, x).

    Inputs: batch["input_ids"] (B, S) source ids, batch["attention_mask"] (B, S), batch["labels"] (B, T) target ids
    ending in eos, -100 on padding; the model reads labels shifted right behind its decoder start token (teacher
    forcing). Returns {"loss": smoothed mean, "nll_loss": the plain cross-entropy mean, whose exp is the
    perplexity}. epsilon 0.1 is the paper's; 0 gives plain cross-entropy. Use for encoder-decoders
    (models/seq2seq.py) on parallel text."""

    def __init__(self, epsilon: float = 0.1) -> None:
        super().__init__()
        if not 0.0 <= epsilon < 1.0:
            from bertkit.errors import InputError

            raise InputError(f"label smoothing epsilon must be in [0, 1), got {epsilon}")
        self.epsilon = epsilon

    def forward(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        labels = batch["labels"]
        out = model(batch["input_ids"], batch.get("attention_mask"), labels=labels)
        loss, nll = label_smoothed_nll(out.logits.flatten(0, 1), labels.flatten(), self.epsilon)
        n = (labels != IGNORE).sum().clamp(min=1)  # a tensor: no host sync
        return {"loss": loss / n, "nll_loss": nll / n}
