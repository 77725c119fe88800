"""XLM pretraining data: language-tagged text streams (MLM, CLM), parallel pairs (TLM) and their collator.

Every example is {"input_ids", "langs", "position_ids"}, so MLM and TLM examples mix in one dataset and one batch
(`--objective mlm+tlm`). The collator pads ids with the pad id, langs and positions with 0, and either masks
(objectives/masking.mask_tokens, both TLM halves) or labels every real token for the next-token loss.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from bertkit.errors import InputError
from bertkit.objectives.masking import IGNORE, MaskingConfig, Vocab, mask_tokens
from bertkit.objectives.tlm import stream_example, tlm_example


class LangStream:
    """Examples of one language (a packing's Examples, e.g. FULL-SENTENCES windows) tagged with its language id."""

    def __init__(self, examples: Sequence[dict[str, Any]], lang: int) -> None:
        self.examples, self.lang = examples, lang

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, k: int) -> dict[str, list[int]]:
        return stream_example(self.examples[k]["input_ids"], self.lang)


class ParallelPairs:
    """TLM examples from tokenized parallel sentences: item k is objectives/tlm.tlm_example of pair k."""

    def __init__(self, src: Sequence[Sequence[int]], tgt: Sequence[Sequence[int]], src_lang: int, tgt_lang: int,
                 prefix: Sequence[int], suffix: Sequence[int], max_length: int) -> None:
        self.src, self.tgt, self.langs = src, tgt, (src_lang, tgt_lang)
        self.prefix, self.suffix, self.max_length = tuple(prefix), tuple(suffix), max_length

    def __len__(self) -> int:
        return len(self.src)

    def __getitem__(self, k: int) -> dict[str, list[int]]:
        return tlm_example(self.src[k], self.tgt[k], *self.langs, self.prefix, self.suffix, self.max_length)


class Concat:
    """Several datasets as one (MLM streams of every language, plus the TLM pairs)."""

    def __init__(self, parts: Sequence[Sequence[dict[str, Any]]]) -> None:
        self.parts = [p for p in parts if len(p)]
        self.starts = [0]
        for p in self.parts:
            self.starts.append(self.starts[-1] + len(p))

    def __len__(self) -> int:
        return self.starts[-1]

    def __getitem__(self, k: int) -> dict[str, Any]:
        for i, p in enumerate(self.parts):
            if k < self.starts[i + 1]:
                return p[k - self.starts[i]]
        raise IndexError(k)


def read_parallel(src: str | Path, tgt: str | Path) -> tuple[list[str], list[str]]:
    """The line pairs of two aligned files; InputError on different line counts or a line empty on either side."""
    texts = []
    for path in (src, tgt):
        if not Path(path).is_file():
            raise InputError(f"--parallel file not found: {path}")
        texts.append(Path(path).read_text(encoding="utf-8").splitlines())
    a, b = texts
    if len(a) != len(b):
        raise InputError(f"--parallel files differ in length: {src} has {len(a)} lines, {tgt} has {len(b)}; "
                         "line i of one must translate line i of the other")
    for i, (x, y) in enumerate(zip(a, b), 1):
        if not x.strip() or not y.strip():
            side = "both sides" if not x.strip() and not y.strip() else (str(src) if not x.strip() else str(tgt))
            raise InputError(f"--parallel line {i} is empty ({side}); every line pair needs text on both sides")
    if not a:
        raise InputError(f"--parallel files {src} and {tgt} are empty")
    return a, b


def pad_xlm(examples: Sequence[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad input_ids (pad_id), langs and position_ids (0) to the longest row; attention_mask marks tokens."""
    T = max(len(e["input_ids"]) for e in examples)
    B = len(examples)
    out = {"input_ids": torch.full((B, T), pad_id, dtype=torch.long),
           "attention_mask": torch.zeros((B, T), dtype=torch.long),
           "langs": torch.zeros((B, T), dtype=torch.long), "position_ids": torch.zeros((B, T), dtype=torch.long)}
    for i, e in enumerate(examples):
        n = len(e["input_ids"])
        for key in ("input_ids", "langs", "position_ids"):
            out[key][i, :n] = torch.as_tensor(e[key])
        out["attention_mask"][i, :n] = 1
    return out


class XLMCollator:
    """collate(examples, generator) -> input_ids, attention_mask, langs, position_ids, labels, num_items.

    causal=False: BERT's 80/10/10 token masking over every real token (both TLM sides); labels hold the originals
    at masked positions. causal=True: labels = the input ids (-100 at padding) for the next-token loss, nothing
    masked. The attention mask is always kept: XLM zeroes the padded positions by it."""

    def __init__(self, vocab: Vocab | None, pad_id: int, cfg: MaskingConfig | None = None,
                 causal: bool = False) -> None:
        if vocab is None and not causal:
            raise ValueError("masking needs a Vocab")
        self.vocab, self.pad_id, self.cfg, self.causal = vocab, pad_id, cfg or MaskingConfig(), causal

    def __call__(self, examples: Sequence[dict[str, Any]], generator: torch.Generator) -> dict[str, Any]:
        batch: dict[str, Any] = pad_xlm(examples, self.pad_id)
        real = batch["attention_mask"] == 1
        if self.causal:
            batch["labels"] = batch["input_ids"].masked_fill(~real, IGNORE)
            batch["num_items"] = int((batch["labels"][:, 1:] != IGNORE).sum())
            return batch
        ids, labels = mask_tokens(batch["input_ids"], self.vocab, generator, self.cfg)
        labels = labels.masked_fill(~real, IGNORE)
        batch.update(input_ids=torch.where(real, ids, batch["input_ids"]), labels=labels)
        batch["num_items"] = int((labels != IGNORE).sum())
        return batch
