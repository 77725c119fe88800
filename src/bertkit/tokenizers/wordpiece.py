"""WordPiece encoding (BERT): normalize, split into words, then greedy longest-match-first sub-words.

Speed: text is cut into whitespace chunks with one C-level call (`str.split` on clean ASCII text, one
regex otherwise) and each chunk's ids and offsets are cached, so a repeated chunk costs one dict lookup.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from bertkit.tokenizers.text import ASCII_CONTROL_RE, CHUNK_RE, bert_words

Offsets = list[tuple[int, int]]
# On clean ASCII, BERT's word split is just: runs of letters/digits, and every other printable
# character alone.
_ASCII_WORD_RE = re.compile(r"[A-Za-z0-9]+|[!-/:-@\[-`{-~]")


@dataclass
class BertNormalization:
    """The knobs of BERT's text clean-up (tokenizer_config.json names)."""

    lowercase: bool = True
    strip_accents: bool | None = None  # None: follow `lowercase`, as BERT does
    chinese_chars: bool = True

    @property
    def strip(self) -> bool:
        return self.lowercase if self.strip_accents is None else bool(self.strip_accents)


class WordPieceModel:
    """Vocabulary + BERT normalization → ids. Continuation pieces carry the `##` prefix."""

    kind = "wordpiece"

    def __init__(self, vocab: dict[str, int], unk_token: str = "[UNK]",
                 norm: BertNormalization | None = None, prefix: str = "##",
                 max_input_chars_per_word: int = 100, cache_size: int = 1_000_000) -> None:
        self.vocab = vocab
        self.id_to_token = [""] * (max(vocab.values()) + 1 if vocab else 0)
        for tok, i in vocab.items():
            self.id_to_token[i] = tok
        self.unk_token = unk_token
        self.unk_id = vocab.get(unk_token)
        self.norm = norm or BertNormalization()
        self.prefix = prefix
        self.max_chars = max_input_chars_per_word
        self._cache: dict[str, tuple[list[int], Offsets]] = {}
        self._cache_size = cache_size

    # ---- hot path -------------------------------------------------------------------------------
    def _chunks(self, text: str) -> list[str]:
        if text.isascii() and not ASCII_CONTROL_RE.search(text):
            return (text.lower() if self.norm.lowercase else text).split()
        return CHUNK_RE.findall(text)

    def encode_ids(self, text: str) -> list[int]:
        """Ids of `text` (no special tokens)."""
        cache = self._cache
        out: list[int] = []
        for chunk in self._chunks(text):
            hit = cache.get(chunk)
            if hit is None:
                hit = self._encode_chunk(chunk)
            out += hit[0]
        return out

    def encode_offsets(self, text: str) -> tuple[list[int], Offsets]:
        """Ids and (start, end) character offsets into `text`."""
        cache = self._cache
        ids: list[int] = []
        offsets: Offsets = []
        for m in CHUNK_RE.finditer(text):
            chunk = m.group()
            hit = cache.get(chunk)
            if hit is None:
                hit = self._encode_chunk(chunk)
            ids += hit[0]
            base = m.start()
            offsets += [(base + s, base + e) for s, e in hit[1]]
        return ids, offsets

    # ---- cache misses ---------------------------------------------------------------------------
    def _encode_chunk(self, chunk: str) -> tuple[list[int], Offsets]:
        ids: list[int] = []
        offsets: Offsets = []
        norm, vocab, unk = self.norm, self.vocab, self.unk_id
        if chunk.isascii() and not ASCII_CONTROL_RE.search(chunk):  # lengths never change: no origin table
            for m in _ASCII_WORD_RE.finditer(chunk.lower() if norm.lowercase else chunk):
                base = m.start()
                for tok, a, b in self.split_word(m.group()):
                    ids.append(vocab.get(tok, unk))  # type: ignore[arg-type]
                    offsets.append((base + a, base + b))
        else:
            for word, origins in bert_words(chunk, norm.lowercase, norm.strip, norm.chinese_chars):
                for tok, a, b in self.split_word(word):
                    ids.append(vocab.get(tok, unk))  # type: ignore[arg-type]
                    offsets.append((origins[a], origins[b - 1] + 1))
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[chunk] = (ids, offsets)
        return ids, offsets

    def split_word(self, word: str) -> list[tuple[str, int, int]]:
        """Greedy longest-match-first pieces of one normalized word, as (token, start, end)."""
        n = len(word)
        if n > self.max_chars:
            return [(self.unk_token, 0, n)]
        vocab, prefix = self.vocab, self.prefix
        pieces: list[tuple[str, int, int]] = []
        start = 0
        while start < n:
            end = n
            while end > start:
                sub = word[start:end] if start == 0 else prefix + word[start:end]
                if sub in vocab:
                    pieces.append((sub, start, end))
                    break
                end -= 1
            else:
                return [(self.unk_token, 0, n)]
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        return [self.id_to_token[i] for i in self.encode_ids(text)]

    def decode(self, tokens: list[str]) -> str:
        """Join pieces, gluing `##` continuations and tidying spaces before punctuation (as HF does)."""
        parts = []
        for i, tok in enumerate(tokens):
            if tok.startswith(self.prefix):
                tok = tok[len(self.prefix):]
            elif i:
                tok = " " + tok
            parts.append(_cleanup(tok))
        return "".join(parts)


_CLEANUPS = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
             (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


def _cleanup(s: str) -> str:
    if " " not in s:
        return s
    for a, b in _CLEANUPS:
        s = s.replace(a, b)
    return s


def read_vocab_txt(path: str) -> dict[str, int]:
    """vocab.txt: one token per line, id = line number. A token on two lines is an error (its id would be
    ambiguous: transformers' slow tokenizer keeps the last line, its fast one the first)."""
    from bertkit.errors import InputError

    vocab: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            tok = line.rstrip("\n").rstrip("\r")
            if tok in vocab:
                raise InputError(f"{path}: token {tok!r} is on line {vocab[tok] + 1} and again on line {i + 1}; a "
                                 "vocabulary lists each token once")
            vocab[tok] = i
    return vocab
