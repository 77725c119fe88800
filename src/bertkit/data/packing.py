"""Pretraining examples from a token cache: RoBERTa packing, BERT NSP pairs, ALBERT sentence order,
SpanBERT single sequences. Each builder returns a list-like dataset of dicts of int lists

    {"input_ids": [...], "token_type_ids": [...], ["next_sentence_label" | "sentence_order_label": 0/1]}

with the special tokens of `Specials` in place. Example layouts are fixed by a seed when the dataset is
built; masking happens later (collate, dynamic) or once per copy (StaticMasked).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from bertkit.data.token_cache import TokenCache
from bertkit.errors import InputError


@dataclass(frozen=True)
class Specials:
    """Templates as in Tokenizer: prefix A [mid B] suffix. BERT: [CLS] A [SEP] B [SEP]; RoBERTa: <s> A </s></s> B </s>."""

    prefix: tuple[int, ...]
    mid: tuple[int, ...]
    suffix: tuple[int, ...]

    @classmethod
    def from_tokenizer(cls, tok) -> Specials:
        t = tok.template
        return cls(tuple(t.prefix), tuple(t.mid), tuple(t.suffix))

    def single(self, a: list[int]) -> dict[str, list[int]]:
        ids = [*self.prefix, *a, *self.suffix]
        return {"input_ids": ids, "token_type_ids": [0] * len(ids)}

    def pair(self, a: list[int], b: list[int]) -> dict[str, list[int]]:
        first = [*self.prefix, *a, *self.mid]
        second = [*b, *self.suffix]
        return {"input_ids": first + second, "token_type_ids": [0] * len(first) + [1] * len(second)}


class Examples:
    """A list of (kind, payload) recipes turned into token lists on access; cheap to hold for huge corpora."""

    def __init__(self, cache: TokenCache, specials: Specials, recipes: list[tuple], max_length: int) -> None:
        self.cache, self.specials, self.recipes, self.max_length = cache, specials, recipes, max_length

    def __len__(self) -> int:
        return len(self.recipes)

    def _tokens(self, s0: int, s1: int, cut: int | None = None) -> list[int]:
        t = self.cache.span(s0, s1)
        return (t[:cut] if cut is not None else t).tolist()

    def __getitem__(self, i: int) -> dict[str, list[int] | int]:
        kind, *r = self.recipes[i]
        if kind == "window":  # tokens [t0, t1) of the flat array
            return self.specials.single(self.cache.tokens[r[0]:r[1]].tolist())
        if kind == "pair":    # (a0, a1, b0, b1, label_key, label, swap)
            a, b = self._tokens(r[0], r[1]), self._tokens(r[2], r[3])
            if r[6]:
                a, b = b, a
            a, b = _truncate_pair(a, b, self.max_length - len(self.specials.prefix) - len(self.specials.mid)
                                  - len(self.specials.suffix))
            ex = self.specials.pair(a, b)
            ex[r[4]] = r[5]
            return ex
        raise AssertionError(kind)


def _truncate_pair(a: list[int], b: list[int], budget: int) -> tuple[list[int], list[int]]:
    """BERT's truncate_seq_pair: trim the longer side until both fit (from the end, deterministically)."""
    while len(a) + len(b) > budget:
        if len(a) >= len(b):
            a = a[:-1]
        else:
            b = b[:-1]
    return a, b


def _flat_windows(cache: TokenCache, body: int, cross_documents: bool) -> list[tuple]:
    """Windows of up to `body` tokens; cut at sentence ends where possible (FULL/DOC-SENTENCES)."""
    out: list[tuple] = []
    start = 0
    for d in range(cache.num_documents):
        sents = cache.document_sentences(d)
        if not cross_documents:
            start = int(cache.sent[sents.start])
        for s in sents:
            s_end = int(cache.sent[s + 1])
            while s_end - start > body:  # current window is full: close it at the last sentence end
                last_end = int(cache.sent[s])
                cut = last_end if last_end > start else start + body
                out.append(("window", start, cut))
                start = cut
        if not cross_documents:
            end = int(cache.sent[sents.stop])
            if end > start:
                out.append(("window", start, end))
    if cross_documents:
        end = cache.num_tokens
        if end > start:
            out.append(("window", start, end))
    return out


def full_sentences(cache: TokenCache, specials: Specials, max_length: int) -> Examples:
    """RoBERTa FULL-SENTENCES: contiguous sentences packed up to max_length, crossing document ends, no NSP.

    (RoBERTa adds an extra separator at a document end; here documents simply follow each other.)"""
    body = max_length - len(specials.prefix) - len(specials.suffix)
    return Examples(cache, specials, _flat_windows(cache, body, cross_documents=True), max_length)


def doc_sentences(cache: TokenCache, specials: Specials, max_length: int) -> Examples:
    """RoBERTa DOC-SENTENCES: like FULL-SENTENCES but an example never crosses a document end (shorter ones are padded)."""
    body = max_length - len(specials.prefix) - len(specials.suffix)
    return Examples(cache, specials, _flat_windows(cache, body, cross_documents=False), max_length)


def single_sequences(cache: TokenCache, specials: Specials, max_length: int) -> Examples:
    """SpanBERT: one contiguous segment of up to max_length tokens per example, within a document."""
    return doc_sentences(cache, specials, max_length)


def _segments(cache: TokenCache, d: int, target: int) -> list[tuple[int, int]]:
    """Consecutive sentence ranges of document d, each reaching about `target` tokens."""
    segs, s0, n = [], None, 0
    for s in cache.document_sentences(d):
        s0 = s if s0 is None else s0
        n += int(cache.sent[s + 1] - cache.sent[s])
        if n >= target:
            segs.append((s0, s + 1))
            s0, n = None, 0
    if s0 is not None:
        segs.append((s0, cache.document_sentences(d).stop))
    return segs


def nsp_pairs(cache: TokenCache, specials: Specials, max_length: int, seed: int = 0,
              short_seq_prob: float = 0.1) -> Examples:
    """BERT next-sentence pairs. A chunk of consecutive sentences (up to max_length) is split at a random
    sentence boundary into A and B; with probability 1/2 B is replaced by sentences from another random
    document (label 1 = NotNext, 0 = IsNext as in transformers). A one-sentence chunk drawn as IsNext is
    dropped, so the labels stay balanced. short_seq_prob of chunks target a shorter random length, as in Google's script."""
    rng = random.Random(seed)
    n_docs = cache.num_documents
    if n_docs < 2:
        raise InputError(f"next-sentence pairs need at least two documents in the corpus, found {n_docs}: put a "
                         "blank line between documents (a sentence per line), or pretrain without sentence pairs: "
                         "--objective mlm")
    body = max_length - len(specials.prefix) - len(specials.mid) - len(specials.suffix)
    recipes = []
    for d in range(n_docs):
        target = rng.randint(2, body) if rng.random() < short_seq_prob else body
        for s0, s1 in _segments(cache, d, target):
            random_next = rng.random() < 0.5
            if s1 - s0 < 2 and not random_next:
                continue  # a one-sentence chunk cannot give an IsNext pair; dropping it keeps labels 50/50
            split = rng.randint(s0 + 1, s1 - 1) if s1 - s0 >= 2 else s1
            if random_next:
                other = rng.randrange(n_docs - 1)
                other += other >= d
                os_ = cache.document_sentences(other)
                b0 = rng.randrange(os_.start, os_.stop)
                b1 = min(os_.stop, b0 + max(1, s1 - split))
                recipes.append(("pair", s0, split, b0, b1, "next_sentence_label", 1, False))
            else:
                recipes.append(("pair", s0, split, split, s1, "next_sentence_label", 0, False))
    return Examples(cache, specials, recipes, max_length)


def sop_pairs(cache: TokenCache, specials: Specials, max_length: int, seed: int = 0) -> Examples:
    """ALBERT sentence order: two consecutive segments of one document, swapped with probability 1/2
    (sentence_order_label 1 = swapped). Chunks of a single sentence are skipped."""
    rng = random.Random(seed)
    body = max_length - len(specials.prefix) - len(specials.mid) - len(specials.suffix)
    recipes = []
    for d in range(cache.num_documents):
        for s0, s1 in _segments(cache, d, body):
            if s1 - s0 < 2:
                continue
            split = rng.randint(s0 + 1, s1 - 1)
            swap = rng.random() < 0.5
            recipes.append(("pair", s0, split, split, s1, "sentence_order_label", int(swap), swap))
    if not recipes:
        raise InputError("sentence-order pairs need documents of at least two sentences: put one sentence per "
                         "line and a blank line only between documents, or pretrain without sentence pairs: "
                         "--objective mlm")
    return Examples(cache, specials, recipes, max_length)


class CausalBlocks:
    """GPT-2 pretraining blocks: every document followed by eos, all documents as one stream, cut into blocks of
    exactly `block` tokens (transformers' run_clm `group_texts`; the last partial block is dropped). Item k is
    {"input_ids": the k-th block}; blocks are read from the cache on access, nothing is copied."""

    def __init__(self, cache: TokenCache, eos_id: int, block: int) -> None:
        if block < 2:
            raise InputError(f"causal LM blocks need at least 2 tokens, got --max-length {block}")
        self.cache, self.eos_id, self.block = cache, int(eos_id), block
        doc_tok = cache.sent[cache.docs].astype(np.int64)  # (D + 1,) first token of each document, then the end
        self.starts = doc_tok + np.arange(len(doc_tok))   # where each document begins in the stream (eos added)
        total = int(self.starts[-1])
        self.n = total // block
        if self.n == 0:
            raise InputError(f"the corpus has {total} tokens (eos included), fewer than one block of {block}: "
                             "give more text or a smaller --max-length")

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, k: int) -> dict[str, list[int]]:
        if not 0 <= k < self.n:
            raise IndexError(k)
        a, b = k * self.block, (k + 1) * self.block
        d = int(np.searchsorted(self.starts, a, side="right")) - 1
        out: list[int] = []
        while len(out) < self.block:
            s0 = int(self.starts[d])
            doc = self.cache.tokens[int(self.cache.sent[self.cache.docs[d]]):int(self.cache.sent[self.cache.docs[d + 1]])]
            piece = [*doc.tolist(), self.eos_id][max(a - s0, 0):b - s0]
            out.extend(piece)
            d += 1
        return {"input_ids": out}


PACKINGS = {"full": full_sentences, "doc": doc_sentences, "single": single_sequences, "nsp": nsp_pairs,
            "sop": sop_pairs}


def lengths(ds: Examples) -> np.ndarray:
    return np.array([len(ds[i]["input_ids"]) for i in range(len(ds))])
