"""XLM's masked objectives (Lample & Conneau 2019): MLM on a stream of one language's text and TLM (translation
language modelling) on a parallel pair, both with a language id per token.

TLM concatenates a sentence and its translation, [CLS] src [SEP] [CLS] tgt [SEP] with the tokenizer's template per
side; positions restart at 0 for the second sentence and each side carries its own language id, so to predict a
masked word the model may look at its translation. Masking (objectives/masking.mask_tokens) covers both halves.
The loss is MLM's: cross entropy at the masked positions only, the tied head run on those rows alone.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from bertkit.objectives.masking import IGNORE
from bertkit.objectives.mlm import masked_cross_entropy


def tlm_example(src: Sequence[int], tgt: Sequence[int], src_lang: int, tgt_lang: int, prefix: Sequence[int],
                suffix: Sequence[int], max_length: int) -> dict[str, list[int]]:
    """One TLM example: prefix src suffix prefix tgt suffix, each side cut to half of max_length (an odd extra
    position goes to the source). Returns input_ids, langs (src_lang then tgt_lang) and position_ids (0.. per side)."""
    specials = len(prefix) + len(suffix)
    half_tgt = max_length // 2
    half_src = max_length - half_tgt
    a = [*prefix, *list(src)[:max(half_src - specials, 0)], *suffix]
    b = [*prefix, *list(tgt)[:max(half_tgt - specials, 0)], *suffix]
    return {"input_ids": a + b, "langs": [src_lang] * len(a) + [tgt_lang] * len(b),
            "position_ids": list(range(len(a))) + list(range(len(b)))}


def stream_example(ids: Sequence[int], lang: int) -> dict[str, list[int]]:
    """An MLM/CLM stream example of one language: positions 0..T-1, every token with the language id."""
    ids = list(ids)
    return {"input_ids": ids, "langs": [lang] * len(ids), "position_ids": list(range(len(ids)))}


def xlm_inputs(batch: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments an XLM model takes from a batch (langs, position_ids where present)."""
    return {k: batch[k] for k in ("langs", "position_ids") if k in batch}


class XLMMaskedLMObjective(nn.Module):
    """L = -mean over masked positions of log p(original token | corrupted text, languages), for MLM and TLM.

    Inputs: batch["input_ids"] (corrupted), batch["labels"] (-100 where not masked), batch["attention_mask"],
    batch["langs"] (B, T) and, for TLM, batch["position_ids"] (B, T). Returns {"loss", "mlm_loss"}."""

    def forward(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        labels = batch["labels"]
        pos = labels != IGNORE
        out = model(batch["input_ids"], batch.get("attention_mask"), masked_positions=pos, **xlm_inputs(batch))
        loss = masked_cross_entropy(out.logits, labels[pos])
        return {"loss": loss, "mlm_loss": loss}
