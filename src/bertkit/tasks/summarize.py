"""Summarising documents with a trained model: BERTSUM extractive folders or encoder-decoder (BART) checkpoints.

`Summarizer.load(folder)` picks the kind from the folder (extsum.json: extractive; an encoder-decoder with its LM
head: abstractive); `summarize(texts)` returns one summary per text. `bertkit summarize` runs it over a JSONL
file, resumable chunk by chunk like `bertkit embed`.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from bertkit.errors import InputError

GENERATION_DEFAULTS = {"num_beams": 4, "max_new_tokens": 128, "min_new_tokens": 0, "length_penalty": 1.0,
                       "no_repeat_ngram_size": 3, "early_stopping": True}


class AbstractiveSummarizer:
    """An encoder-decoder with its LM head (BART): sources cut to the model's positions, beam search."""

    def __init__(self, model, tokenizer, settings: dict[str, Any] | None = None) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.settings = {**GENERATION_DEFAULTS, **(settings or {})}

    @classmethod
    def load(cls, path: str | Path, **settings: Any) -> AbstractiveSummarizer:
        from bertkit.hub import from_pretrained
        from bertkit.tokenizers import Tokenizer

        model = from_pretrained(path)
        if not hasattr(model, "encode") or getattr(model, "task", None) != "lm":
            raise InputError(f"{path} is a {model.family.name} model for {model.task!r}; abstractive "
                             "summarisation needs an encoder-decoder with its LM head (BART)")
        model.eval()
        return cls(model, Tokenizer.from_pretrained(path), settings)

    def _source(self, text: str) -> list[int]:
        ids = self.tokenizer.encode(text)
        limit = self.model.max_tokens
        if len(ids) > limit:  # keep the start and the closing special token
            ids = ids[:limit - 1] + ids[-1:]
        return ids

    def summarize(self, texts: Sequence[str], batch_size: int = 4, progress: bool = False,
                  **settings: Any) -> list[str]:
        """One summary per text, `batch_size` sources at a time (beam search over each batch); settings override
        the generation defaults (num_beams, max_new_tokens, min_new_tokens, length_penalty, no_repeat_ngram_size,
        early_stopping)."""
        s = {**self.settings, **settings}
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        eos = self.model.config.eos_token_id
        out: list[str] = []
        starts = range(0, len(texts), batch_size)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="summarize", unit="batch")
        for i in starts:
            srcs = [self._source(t) for t in texts[i:i + batch_size]]
            width = max(map(len, srcs))
            ids = torch.full((len(srcs), width), pad, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for r, x in enumerate(srcs):
                ids[r, :len(x)], mask[r, :len(x)] = torch.tensor(x), 1
            with torch.inference_mode():
                gen = self.model.generate(ids, mask, **s)
            for row in gen[:, 1:].tolist():
                if eos is not None and eos in row:
                    row = row[:row.index(eos)]
                out.append(self.tokenizer.decode(row, skip_special_tokens=True).strip())
        return out


def load_summarizer(path: str | Path, mode: str | None = None, **settings: Any):
    """(kind, summariser) for a folder: 'extractive' (a BERTSUM folder) or 'abstractive' (BART). `mode` checks
    that the folder is that kind."""
    from bertkit.hub.default import resolve_model_path
    from bertkit.tasks.extsum import ExtractiveSummarizer, is_extsum_folder

    path = resolve_model_path(path)
    kind = "extractive" if is_extsum_folder(path) else "abstractive"
    if mode is not None and mode != kind:
        raise InputError(f"{path} is {'a BERTSUM extractive' if kind == 'extractive' else 'not a BERTSUM'} "
                         f"folder, so it cannot summarise {mode}ly"
                         + ("; drop --abstractive" if kind == "extractive" else
                            "; extractive summaries need a folder from `bertkit finetune extsum`"))
    if kind == "extractive":
        return kind, ExtractiveSummarizer.load(path)
    return kind, AbstractiveSummarizer.load(path, **settings)
