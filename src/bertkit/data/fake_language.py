"""A controlled second language for the M-BERT studies of chapter 7 (after K et al. 2020, "Cross-lingual ability of
multilingual BERT"): "Fake-English" is English with every letter of a word moved into the Cyrillic block, so it
shares grammar and meaning with English but, in WordPiece, no word piece at all.

- `FakeLanguage(shared=f)` keeps a fixed fraction f of the word types unchanged (anchors shared with English), chosen
  by a hash of the word, so the same word is always shared or always ciphered, in every file and every run;
- `order="reversed"` also reverses the word order of each sentence (the word-order study);
- `code_switch(text, p)` ciphers each word of a sentence with probability p (code-switched input);
- `piece_overlap(tok, a, b)` is the share of the word-piece tokens of `b` whose type also occurs in `a` (Pires et
  al.'s overlap, measured on the texts the model sees).

Digits and punctuation are never ciphered: they are shared by real scripts too.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

import numpy as np

from bertkit.errors import InputError

# 26 Cyrillic lowercase letters, none that NFD decomposes (й, ё), so lower-casing and accent stripping of a BERT
# normaliser leave every one intact and distinct.
_CYRILLIC = "абвгдежзиклмнопрстуфхцчшщ"  # 25 letters ...
_CYRILLIC += "ы"  # ... and a 26th
_TABLE = str.maketrans("abcdefghijklmnopqrstuvwxyz", _CYRILLIC)
_WORD = re.compile(r"\S+")


def _shared_word(word: str, shared: float, salt: str) -> bool:
    if shared <= 0.0:
        return False
    if shared >= 1.0:
        return True
    h = hashlib.blake2b((salt + word).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(h, "little") / 2.0 ** 64 < shared


def cipher_word(word: str) -> str:
    """The word's lower-case letters a-z in the Cyrillic block; everything else unchanged."""
    return word.lower().translate(_TABLE)


class FakeLanguage:
    """English -> Fake-English. `shared`: fraction of word types left as they are; `order`: "same" or "reversed"."""

    def __init__(self, shared: float = 0.0, order: str = "same", salt: str = "fake-english") -> None:
        if not 0.0 <= shared <= 1.0:
            raise InputError(f"shared must be a fraction in [0, 1], got {shared}")
        if order not in ("same", "reversed"):
            raise InputError(f"order must be 'same' or 'reversed', got {order!r}")
        self.shared, self.order, self.salt = shared, order, salt

    def word(self, word: str) -> str:
        return word.lower() if _shared_word(word.lower(), self.shared, self.salt) else cipher_word(word)

    def __call__(self, text: str) -> str:
        words = [self.word(w) for w in _WORD.findall(text)]
        return " ".join(reversed(words) if self.order == "reversed" else words)

    def describe(self) -> str:
        return f"Fake-English (shared word types {self.shared:.0%}, word order {self.order})"


def code_switch(text: str, p: float, seed: int = 0, lang: FakeLanguage | None = None) -> str:
    """Each word of `text` in the fake language with probability p (a seeded draw per sentence), in English order."""
    if not 0.0 <= p <= 1.0:
        raise InputError(f"the switch probability must be in [0, 1], got {p}")
    lang = lang or FakeLanguage()
    words = _WORD.findall(text)
    key = hashlib.blake2b(f"{seed}\t{text}".encode(), digest_size=8).digest()
    switch = np.random.default_rng(int.from_bytes(key, "little")).random(len(words)) < p
    return " ".join(lang.word(w) if s else w.lower() for w, s in zip(words, switch))


def piece_overlap(tokenizer, seen: Iterable[str], texts: Sequence[str]) -> float:
    """Share of the word-piece tokens of `texts` (special tokens left out) whose type occurs in the pieces of `seen`."""
    def pieces(batch: Sequence[str]) -> list[list[str]]:
        return [tokenizer.tokenize(t) for t in batch]

    vocab: set[str] = set()
    for row in pieces(list(seen)):
        vocab.update(row)
    rows = pieces(list(texts))
    total = sum(len(r) for r in rows)
    if total == 0:
        raise InputError("piece_overlap: the texts have no tokens")
    return sum(p in vocab for r in rows for p in r) / total
