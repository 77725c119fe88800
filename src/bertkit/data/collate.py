"""Batches for pretraining: pad, build attention masks, and mask (dynamically, or statically once per copy) or
noise (BART)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from bertkit.objectives.bart_noise import NoiseConfig, NoiseVocab, noise
from bertkit.objectives.masking import IGNORE, MaskingConfig, Vocab, mask_spans, mask_tokens, mask_whole_words

STRATEGIES = ("token", "wwm", "span")


def pad_tokens(examples: Sequence[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad input_ids (pad_id) and token_type_ids (0, where given) to the longest row; attention_mask marks
    real tokens. The one padding routine of pretraining and fine-tuning batches."""
    T = max(len(e["input_ids"]) for e in examples)
    B = len(examples)
    ids = torch.full((B, T), pad_id, dtype=torch.long)
    types = torch.zeros((B, T), dtype=torch.long)
    mask = torch.zeros((B, T), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e["input_ids"])
        ids[i, :n] = torch.as_tensor(e["input_ids"])
        if "token_type_ids" in e:
            types[i, :n] = torch.as_tensor(e["token_type_ids"])
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def pad_token_labels(examples: Sequence[dict[str, Any]], width: int) -> torch.Tensor:
    """Per-token integer labels padded with -100 (ignored by the losses) to (B, width)."""
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    for i, e in enumerate(examples):
        labels[i, :len(e["labels"])] = torch.as_tensor(e["labels"])
    return labels


def pad_examples(examples: Sequence[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    """pad_tokens plus statically masked labels and the NSP/SOP sentence labels."""
    batch = pad_tokens(examples, pad_id)
    if "labels" in examples[0]:  # statically masked examples carry their labels
        batch["labels"] = pad_token_labels(examples, batch["input_ids"].shape[1])
    for key in ("next_sentence_label", "sentence_order_label"):
        if key in examples[0]:
            batch[key] = torch.tensor([e[key] for e in examples], dtype=torch.long)
    return batch


def span_targets(spans: list[list[tuple[int, int]]]) -> dict[str, torch.Tensor]:
    """Flattened SBO inputs: for every token i of span [s, e) of row b: b, i, left s-1, right e, relative i-s."""
    rows, pos, left, right, rel = [], [], [], [], []
    for b, row in enumerate(spans):
        for s, e in row:
            for i in range(s, e):
                rows.append(b)
                pos.append(i)
                left.append(s - 1)
                right.append(e)
                rel.append(i - s)
    t = lambda x: torch.tensor(x, dtype=torch.long)
    return {"sbo_row": t(rows), "sbo_pos": t(pos), "sbo_left": t(left), "sbo_right": t(right), "sbo_rel": t(rel)}


class PretrainCollator:
    """collate(examples, generator) -> batch with input_ids, attention_mask, token_type_ids, labels and
    num_items (the number of masked tokens, which the trainer averages the loss over).

    strategy: "token" (BERT), "wwm" (whole words), "span" (SpanBERT; adds sbo_* tensors) or None
    (examples already masked, e.g. StaticMasked)."""

    def __init__(self, vocab: Vocab, pad_id: int, strategy: str | None = "token",
                 cfg: MaskingConfig = MaskingConfig()) -> None:
        if strategy is not None and strategy not in STRATEGIES:
            raise ValueError(f"unknown masking strategy {strategy!r}; expected one of {STRATEGIES}")
        self.vocab, self.pad_id, self.strategy, self.cfg = vocab, pad_id, strategy, cfg

    def __call__(self, examples: Sequence[dict[str, Any]], generator: torch.Generator) -> dict[str, Any]:
        batch = pad_examples(examples, self.pad_id)
        if self.strategy is not None:
            batch.update(mask_batch(batch["input_ids"], self.vocab, self.strategy, self.cfg, generator))
        batch["num_items"] = int((batch["labels"] != IGNORE).sum())
        if bool(batch["attention_mask"].all()):
            del batch["attention_mask"]  # packed rows without padding: attention runs its fused, mask-free path
        return batch


class CausalCollator:
    """collate(examples) -> {"input_ids" (B, T), "labels" (B, T), "num_items"} for next-token training (GPT-2).

    Labels are the input ids (the objective shifts them); rows shorter than the longest are padded with pad_id,
    labelled -100 and masked out with attention_mask. num_items = predicted tokens, which the loss averages over."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, examples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        batch = pad_examples([{"input_ids": e["input_ids"]} for e in examples], self.pad_id)
        mask = batch["attention_mask"]
        batch["labels"] = batch["input_ids"].masked_fill(mask == 0, IGNORE)
        batch.pop("token_type_ids", None)
        batch["num_items"] = int((batch["labels"][:, 1:] != IGNORE).sum())
        if bool(mask.all()):
            del batch["attention_mask"]  # full blocks: causal attention without a padding mask
        return batch


class DenoisingCollator:
    """collate(examples, generator) -> {"input_ids" (B, S), "attention_mask" (B, S), "labels" (B, T), "num_items"}
    for BART's denoising: each example's ids are noised (objectives/bart_noise.noise) into the encoder input,
    padded with pad_id; the labels are the original ids, padded with -100. num_items = target tokens, which the
    loss averages over. max_length bounds the noised input (the model's positions)."""

    def __init__(self, vocab: NoiseVocab, pad_id: int, cfg: NoiseConfig | None = None,
                 max_length: int | None = None) -> None:
        self.vocab, self.pad_id, self.cfg, self.max_length = vocab, pad_id, cfg or NoiseConfig(), max_length

    def __call__(self, examples: Sequence[dict[str, Any]], generator: torch.Generator) -> dict[str, Any]:
        originals = [torch.as_tensor(e["input_ids"], dtype=torch.long) for e in examples]
        noised = [noise(x, self.vocab, generator, self.cfg, self.max_length) for x in originals]
        batch = pad_tokens([{"input_ids": x} for x in noised], self.pad_id)
        batch.pop("token_type_ids")
        batch["labels"] = pad_token_labels([{"labels": x} for x in originals], max(len(x) for x in originals))
        batch["num_items"] = sum(len(x) for x in originals)
        return batch


def mask_batch(ids: torch.Tensor, vocab: Vocab, strategy: str, cfg: MaskingConfig,
               gen: torch.Generator) -> dict[str, torch.Tensor]:
    if strategy == "token":
        out, labels = mask_tokens(ids, vocab, gen, cfg)
        return {"input_ids": out, "labels": labels}
    if strategy == "wwm":
        out, labels = mask_whole_words(ids, vocab, gen, cfg)
        return {"input_ids": out, "labels": labels}
    out, labels, spans = mask_spans(ids, vocab, gen, cfg)
    return {"input_ids": out, "labels": labels, **span_targets(spans)}


class StaticMasked:
    """RoBERTa's static-masking baseline: each example masked once per copy and duplicated `copies` times
    (RoBERTa: 10 copies over 40 epochs). Copy c of example i is masked with a generator seeded by (seed, i, c),
    so the masks are fixed for the whole run without storing them."""

    def __init__(self, data: Sequence[dict[str, Any]], vocab: Vocab, copies: int = 10, strategy: str = "token",
                 cfg: MaskingConfig = MaskingConfig(), seed: int = 0) -> None:
        if strategy == "span":
            raise ValueError("static masking supports token and wwm strategies")
        self.data, self.vocab, self.copies, self.strategy, self.cfg, self.seed = data, vocab, copies, strategy, cfg, seed

    def __len__(self) -> int:
        return len(self.data) * self.copies

    def __getitem__(self, k: int) -> dict[str, Any]:
        i, c = divmod(k, self.copies)
        ex = dict(self.data[i])
        gen = torch.Generator().manual_seed((self.seed * 1_000_003 + i) * 101 + c)
        m = mask_batch(torch.as_tensor(ex["input_ids"])[None], self.vocab, self.strategy, self.cfg, gen)
        ex["input_ids"], ex["labels"] = m["input_ids"][0].tolist(), m["labels"][0].tolist()
        return ex
