"""Masked-token prediction with a masked-LM checkpoint (the book's 'fill in the blank' demo)."""
from __future__ import annotations

from pathlib import Path

import torch

from bertkit.errors import InputError
from bertkit.hub.checkpoint import from_pretrained, read_config
from bertkit.hub.default import resolve_model_path
from bertkit.models.family import resolve_architecture


class FillMask:
    """Top-k predictions for every mask token in a text."""

    def __init__(self, path: str | Path | None = None) -> None:
        from bertkit.tokenizers import Tokenizer

        folder = resolve_model_path(path)
        _, task = resolve_architecture(read_config(folder))
        task = task if task in ("mlm", "pretraining") else "mlm"
        self.model = from_pretrained(folder, task=task, require_heads=True)
        self.tokenizer = Tokenizer.from_pretrained(folder)

    @torch.inference_mode()
    def __call__(self, text: str, k: int = 5) -> list[list[tuple[str, float]]]:
        """For each mask token in `text`, the k most likely tokens with their probabilities."""
        tok = self.tokenizer
        mask_tok = tok.mask_token
        if mask_tok is None or mask_tok not in text:
            raise InputError(f"no {mask_tok or 'mask'} token in the text: {text[:80]!r}")
        if k < 1:
            raise InputError(f"k must be >= 1, got {k}")
        ids = torch.tensor([tok.encode(text)[: self.model.max_tokens]])
        where = ids == tok.mask_token_id
        out = self.model(ids, torch.ones_like(ids), masked_positions=where)
        logits = out.logits if out.logits is not None else out.prediction_logits  # (M, V)
        probs = logits.float().softmax(-1)
        top = probs.topk(min(k, probs.shape[-1]), dim=-1)
        return [[(tok.convert_ids_to_tokens([int(i)])[0], float(p)) for p, i in zip(ps, ix)]
                for ps, ix in zip(top.values, top.indices)]
