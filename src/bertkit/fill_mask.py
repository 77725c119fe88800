"""Masked-token prediction with a masked-LM checkpoint (the book's 'fill in the blank' demo)."""
from __future__ import annotations

from pathlib import Path

import torch

from bertkit.errors import InputError, warn
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

    def _fit(self, ids: list[int]) -> list[int]:
        """`ids` cut to the model's position window, its closing special tokens kept. A mask token past the window
        cannot be predicted: an error when every mask is past it, else a warning naming the ones left out."""
        limit, tok = self.model.max_tokens, self.tokenizer
        if len(ids) <= limit:
            return ids
        suffix = len(tok.template.suffix)
        body = limit - suffix
        masks = [i for i, t in enumerate(ids) if t == tok.mask_token_id]
        lost = [i for i in masks if i >= body]
        if len(lost) == len(masks):
            raise InputError(f"the text has {len(ids)} tokens and its {tok.mask_token} is token {masks[0] + 1}, past "
                             f"the model's limit of {limit} tokens; shorten the text before the mask")
        if lost:
            warn(f"the text has {len(ids)} tokens, more than the model's limit of {limit}: {len(lost)} of its "
                 f"{len(masks)} {tok.mask_token} tokens lie past it and are not predicted")
        return ids[:body] + ids[len(ids) - suffix:]

    @torch.inference_mode()
    def __call__(self, text: str, k: int = 5) -> list[list[tuple[str, float]]]:
        """For each mask token in `text`, the k most likely tokens with their probabilities. A text longer than
        the model's window is cut (see `_fit`): masks past it are left out with a warning, or an error when all are."""
        tok = self.tokenizer
        mask_tok = tok.mask_token
        if mask_tok is None or mask_tok not in text:
            raise InputError(f"no {mask_tok or 'mask'} token in the text: {text[:80]!r}")
        if k < 1:
            raise InputError(f"k must be >= 1, got {k}")
        ids = torch.tensor([self._fit(tok.encode(text))])
        where = ids == tok.mask_token_id
        out = self.model(ids, torch.ones_like(ids), masked_positions=where)
        logits = out.logits if out.logits is not None else out.prediction_logits  # (M, V)
        probs = logits.float().softmax(-1)
        top = probs.topk(min(k, probs.shape[-1]), dim=-1)
        return [[(tok.convert_ids_to_tokens([int(i)])[0], float(p)) for p, i in zip(ps, ix)]
                for ps, ix in zip(top.values, top.indices)]
