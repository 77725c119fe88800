"""Token classification (NER): words with BIO tags -> sub-word features and back.

Words are joined with single spaces and tokenised with character offsets; each piece is mapped to the word
whose characters it covers. Only the first piece of a word carries the word's tag (the others get -100 and
are ignored by the loss); at prediction time a word takes the tag predicted at its first piece. A sentence
longer than max_length is split into overlapping windows; a word seen in several windows takes the
prediction of the window where it has the most context on both sides.
"""
from __future__ import annotations

import bisect
from typing import Any, Sequence

import numpy as np

from bertkit.errors import warn
from bertkit.tasks.batching import IGNORE


def word_spans(words: Sequence[str]) -> tuple[str, list[int], list[int]]:
    """The sentence text and each word's [start, end) characters in it."""
    starts, ends, pos = [], [], 0
    for w in words:
        starts.append(pos)
        ends.append(pos + len(w))
        pos += len(w) + 1
    return " ".join(words), starts, ends


def piece_words(offsets: Sequence[tuple[int, int]], starts: Sequence[int], ends: Sequence[int]) -> list[int | None]:
    """Word index of each piece (None for special tokens and padding), found from the piece's first character."""
    out: list[int | None] = []
    for s, e in offsets:
        if e <= s:
            out.append(None)
            continue
        w = bisect.bisect_right(starts, s) - 1
        out.append(w if 0 <= w < len(starts) and s < ends[w] else None)
    return out


def encode_words(tokenizer: Any, sentences: Sequence[Sequence[str]], tags: Sequence[Sequence[str]] | None,
                 label2id: dict[str, int] | None, max_length: int, stride: int = 32) -> tuple[list[dict[str, Any]],
                                                                                             list[int]]:
    """Features for token classification and the sentence index of each feature.

    Each feature holds input_ids, token_type_ids, `word_ids` (word index or -1 per piece), `first` (1 at the
    first piece of a word) and, with tags, `labels` (tag id at first pieces, -100 elsewhere).
    """
    feats: list[dict[str, Any]] = []
    owner: list[int] = []
    no_piece = 0
    for k, words in enumerate(sentences):
        text, starts, ends = word_spans(words)
        enc = tokenizer([text], max_length=max_length, truncation=True, padding=False, return_offsets=True,
                        stride=stride, return_overflowing_tokens=True)
        seen: set[int] = set()
        for ids, types, offs in zip(enc["input_ids"], enc["token_type_ids"], enc["offset_mapping"]):
            wid = piece_words(offs, starts, ends)
            first = []
            for j, w in enumerate(wid):
                # a word's first piece starts at the word's first character (windows may begin mid-word)
                first.append(int(w is not None and offs[j][0] == starts[w] and (j == 0 or wid[j - 1] != w)))
            f: dict[str, Any] = {"input_ids": ids, "token_type_ids": types,
                                 "word_ids": [-1 if w is None else w for w in wid], "first": first}
            if tags is not None and label2id is not None:
                f["labels"] = [label2id[tags[k][w]] if fi else IGNORE for w, fi in zip(wid, first)]
                f["token_level"] = True
            seen.update(w for w, fi in zip(wid, first) if fi)
            feats.append(f)
            owner.append(k)
        no_piece += len(words) - len(seen)
    if no_piece:
        warn(f"{no_piece} word(s) produced no word piece (e.g. control characters) and are tagged 'O'")
    return feats, owner


def decode_words(feats: Sequence[dict[str, Any]], owner: Sequence[int], logits: Sequence[np.ndarray],
                 n_words: Sequence[int], id2label: Sequence[str]) -> list[tuple[list[str], list[float]]]:
    """Per sentence: (a tag per word, its probability). A word's tag is read at its first piece in the window
    where that piece is furthest from a window edge; words without a piece get 'O' with probability 0."""
    best: list[dict[int, tuple[int, int, int]]] = [{} for _ in n_words]  # word -> (context, feature, position)
    for fi, (f, k) in enumerate(zip(feats, owner)):
        content = [j for j, w in enumerate(f["word_ids"]) if w >= 0]
        lo, hi = content[0], content[-1]
        for j in content:
            if f["first"][j]:
                w = f["word_ids"][j]
                ctx = min(j - lo, hi - j)
                if w not in best[k] or ctx > best[k][w][0]:
                    best[k][w] = (ctx, fi, j)
    out = []
    for k, n in enumerate(n_words):
        tags, probs = [], []
        for w in range(n):
            if w not in best[k]:
                tags.append("O")
                probs.append(0.0)
                continue
            _, fi, j = best[k][w]
            z = logits[fi][j] - logits[fi][j].max()
            p = np.exp(z) / np.exp(z).sum()
            c = int(p.argmax())
            tags.append(id2label[c])
            probs.append(float(p[c]))
        out.append((tags, probs))
    return out

