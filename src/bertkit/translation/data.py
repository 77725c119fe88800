"""Parallel text for translation: two files with one sentence per line, checked line by line; token ids; batches
of about `max_tokens` tokens each from sentences of similar length (so that little of a batch is padding)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from bertkit.errors import InputError, warn
from bertkit.objectives.masking import IGNORE
from bertkit.textio import read_lines

Pair = tuple[list[int], list[int]]


def read_parallel(src: str | Path, tgt: str | Path) -> list[tuple[str, str]]:
    """(source, target) sentence pairs of two line-aligned UTF-8 files.

    Raises InputError for a missing file, files of different line counts, and a line that is empty on either
    side (each pair must be a sentence and its translation)."""
    src, tgt = Path(src), Path(tgt)
    for p in (src, tgt):
        if not p.is_file():
            raise InputError(f"parallel corpus file not found: {p}")
    a, b = read_lines(src), read_lines(tgt)
    if len(a) != len(b):
        raise InputError(f"{src} has {len(a)} lines but {tgt} has {len(b)}; a parallel corpus needs the "
                         "translation of line i on line i of the other file")
    if not a:
        raise InputError(f"the parallel corpus {src} / {tgt} is empty")
    for i, (x, y) in enumerate(zip(a, b), 1):
        if not x.strip() or not y.strip():
            which = "both files" if not x.strip() and not y.strip() else str(src if not x.strip() else tgt)
            raise InputError(f"line {i} is empty in {which} ({src} / {tgt}); every line needs a sentence "
                             "on both sides")
    return [(x.strip(), y.strip()) for x, y in zip(a, b)]


def encode_texts(tok, texts: Sequence[str], eos_id: int) -> list[list[int]]:
    """Token ids of each text, without the tokenizer's template, ending in eos (both sides of a pair end so)."""
    ids = tok(list(texts), add_special_tokens=False, padding=False, truncation=False)["input_ids"]
    return [list(r) + [eos_id] for r in ids]


def encode_pairs(pairs: Sequence[tuple[str, str]], src_tok, tgt_tok, eos_id: int, max_length: int,
                 what: str = "training") -> list[Pair]:
    """Token ids of each pair. Pairs with a side longer than max_length tokens are left out, with one warning
    that counts them (cutting a sentence would teach the model to drop the end of its translation)."""
    src = encode_texts(src_tok, [p[0] for p in pairs], eos_id)
    tgt = encode_texts(tgt_tok, [p[1] for p in pairs], eos_id)
    out = [(s, t) for s, t in zip(src, tgt) if len(s) <= max_length and len(t) <= max_length]
    if len(out) < len(pairs):
        warn(f"left out {len(pairs) - len(out)} of {len(pairs)} {what} pairs longer than --max-length "
             f"{max_length} tokens")
    if not out:
        raise InputError(f"no {what} pair fits --max-length {max_length}")
    return out


def token_batches(pairs: Sequence[Pair], max_tokens: int, seed: int = 0) -> list[list[int]]:
    """Indices of `pairs` grouped into batches of similar length, each at most `max_tokens` tokens counted as
    rows * (longest source + longest target) — what the padded batch holds. Ties in length are broken at random
    (seeded), so the same lengths do not always meet; the trainer shuffles the batches' order every epoch."""
    if max_tokens < 2:
        raise InputError(f"max_tokens must be >= 2, got {max_tokens}")
    g = torch.Generator().manual_seed(seed)
    tie = torch.randperm(len(pairs), generator=g).tolist()
    order = sorted(range(len(pairs)), key=lambda i: (len(pairs[i][1]), len(pairs[i][0]), tie[i]))
    batches: list[list[int]] = []
    cur: list[int] = []
    ls = lt = 0
    for i in order:
        s, t = len(pairs[i][0]), len(pairs[i][1])
        if cur and (len(cur) + 1) * (max(ls, s) + max(lt, t)) > max_tokens:
            batches.append(cur)
            cur, ls, lt = [], 0, 0
        cur.append(i)
        ls, lt = max(ls, s), max(lt, t)
    if cur:
        batches.append(cur)
    return batches


class BatchedPairs:
    """A Sequence whose item k is batch k (a list of pairs): the trainer runs it with batch_size=1."""

    def __init__(self, pairs: Sequence[Pair], batches: list[list[int]]) -> None:
        self.pairs, self.batches = pairs, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, k: int) -> list[Pair]:
        return [self.pairs[i] for i in self.batches[k]]


def collate_pairs(pairs: Sequence[Pair], pad_id: int) -> dict[str, torch.Tensor | int]:
    """Pairs -> input_ids (B, S) padded with pad_id, attention_mask (B, S), labels (B, T) padded with -100, and
    num_items = the number of target tokens (the loss is their mean; accumulation weights by it)."""
    s_len, t_len = max(len(s) for s, _ in pairs), max(len(t) for _, t in pairs)
    ids = torch.full((len(pairs), s_len), pad_id, dtype=torch.long)
    mask = torch.zeros((len(pairs), s_len), dtype=torch.long)
    labels = torch.full((len(pairs), t_len), IGNORE, dtype=torch.long)
    for r, (s, t) in enumerate(pairs):
        ids[r, :len(s)] = torch.tensor(s)
        mask[r, :len(s)] = 1
        labels[r, :len(t)] = torch.tensor(t)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels,
            "num_items": sum(len(t) for _, t in pairs)}


class PairCollator:
    """collate_fn for BatchedPairs under the trainer: its one "example" is a whole batch of pairs."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, examples: list[list[Pair]]) -> dict[str, torch.Tensor | int]:
        return collate_pairs([p for batch in examples for p in batch], self.pad_id)
