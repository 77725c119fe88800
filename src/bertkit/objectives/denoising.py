"""BART's denoising objective: reconstruct the original text from a noised copy (Lewis et al. 2019)."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from bertkit.objectives.seq2seq import LabelSmoothedCrossEntropy


class DenoisingObjective(nn.Module):
    """L = -mean over target tokens t of log p(x_t | x_<t, noise(x)), the decoder reading x shifted right.

    Inputs: batch["input_ids"] (B, S) the noised text (objectives/bart_noise.py, applied by
    data.collate.DenoisingCollator), batch["attention_mask"] (B, S) and batch["labels"] (B, T) the original
    text, <s> ... </s>, -100 on padding. The encoder reads the noised text; the decoder reads the labels
    shifted right behind decoder_start_token_id (teacher forcing), as BartForConditionalGeneration does with
    labels. The loss is objectives/seq2seq.py's; label_smoothing 0 (fairseq's BART pretraining) gives plain
    cross-entropy. Returns {"loss", "denoise_loss"}: the trained (smoothed) mean and the plain cross-entropy mean.
    Use for encoder-decoders (models/seq2seq.py) on plain text."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.loss = LabelSmoothedCrossEntropy(label_smoothing)

    def forward(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        out = self.loss(model, batch)
        return {"loss": out["loss"], "denoise_loss": out["nll_loss"]}
