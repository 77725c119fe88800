"""Byte-level BPE (GPT-2 / RoBERTa): text → UTF-8 bytes shown as printable characters → BPE merges.

Every byte has a symbol of its own, so no text ever needs an unknown token, and decoding is exact.
"""
from __future__ import annotations

import json
from functools import lru_cache

import regex

from bertkit.tokenizers.bpe_merge import apply_merges

Offsets = list[tuple[int, int]]

# GPT-2's pre-tokenization: contractions, letters, numbers, other symbols, whitespace runs.
GPT2_PATTERN = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte → printable character table (printable Latin-1 bytes map to themselves)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


class ByteLevelBPEModel:
    """vocab.json + merges.txt → ids, with GPT-2 pre-tokenization and optional prefix space."""

    kind = "bytebpe"

    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]],
                 add_prefix_space: bool = False, trim_offsets: bool = True,
                 unk_token: str | None = None, cache_size: int = 1_000_000) -> None:
        self.vocab = vocab
        self.merges = merges
        self.ranks = {pair: i for i, pair in enumerate(merges)}
        self.id_to_token = [""] * (max(vocab.values()) + 1 if vocab else 0)
        for tok, i in vocab.items():
            self.id_to_token[i] = tok
        self.add_prefix_space = add_prefix_space
        self.trim_offsets = trim_offsets
        self.unk_token = unk_token
        self.unk_id = vocab.get(unk_token) if unk_token else None
        self.byte_char = bytes_to_unicode()
        self.char_byte = {c: b for b, c in self.byte_char.items()}
        self._btable = [self.byte_char[b] for b in range(256)]
        self._cache: dict[str, tuple[list[int], list[tuple[int, int]]]] = {}
        self._cache_size = cache_size

    def _prep(self, text: str) -> str:
        if self.add_prefix_space and text and not text.startswith(" "):
            return " " + text
        return text

    def encode_ids(self, text: str) -> list[int]:
        cache = self._cache
        out: list[int] = []
        for piece in GPT2_PATTERN.findall(self._prep(text)):
            hit = cache.get(piece)
            if hit is None:
                hit = self._encode_piece(piece)
            out += hit[0]
        return out

    def encode_offsets(self, text: str) -> tuple[list[int], Offsets]:
        prefixed = self._prep(text)
        shift = len(prefixed) - len(text)  # 1 when a prefix space was added
        ids: list[int] = []
        offsets: Offsets = []
        first = True
        for m in GPT2_PATTERN.finditer(prefixed):
            hit = self._cache.get(m.group()) or self._encode_piece(m.group())
            base = m.start() - shift
            toks = hit[0]
            for tid, (s, e) in zip(toks, hit[1]):
                s, e = max(base + s, 0), max(base + e, 0)
                if self.trim_offsets:
                    tok = self.id_to_token[tid]
                    lead = len(tok) - len(tok.lstrip("Ġ"))
                    trail = len(tok) - len(tok.rstrip("Ġ"))
                    if lead and first and shift and lead == 1:
                        lead = 0  # keep the space we added ourselves (HF does the same)
                    if lead:
                        s = min(s + lead, e)
                    if trail and e >= trail:
                        e = max(e - trail, s)
                ids.append(tid)
                offsets.append((s, e))
                first = False
        return ids, offsets

    def _encode_piece(self, piece: str) -> tuple[list[int], list[tuple[int, int]]]:
        data = piece.encode("utf-8")
        # original character index of every byte, to map byte spans back to characters
        owner: list[int] = []
        for ci, ch in enumerate(piece):
            owner += [ci] * len(ch.encode("utf-8"))
        symbols = [self._btable[b] for b in data]
        toks = apply_merges(symbols, self.ranks)
        ids: list[int] = []
        offs: list[tuple[int, int]] = []
        pos = 0
        for t in toks:
            tid = self.vocab.get(t)
            if tid is None:
                # a merge result missing from vocab.json: fall back to its bytes (HF does the same)
                for c in t:
                    ids.append(self.vocab.get(c, self.unk_id))  # type: ignore[arg-type]
                    offs.append((owner[pos], owner[pos] + 1))
                    pos += 1
                continue
            ids.append(tid)
            offs.append((owner[pos], owner[pos + len(t) - 1] + 1))
            pos += len(t)
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[piece] = (ids, offs)
        return ids, offs

    def tokenize(self, text: str) -> list[str]:
        return [self.id_to_token[i] for i in self.encode_ids(text)]

    def decode(self, tokens: list[str]) -> str:
        cb = self.char_byte
        data = bytearray()
        for tok in tokens:
            for c in tok:
                b = cb.get(c)
                if b is None:
                    data += c.encode("utf-8")
                else:
                    data.append(b)
        return data.decode("utf-8", errors="replace")


def read_vocab_json(path: str) -> dict[str, int]:
    from bertkit.errors import InputError

    with open(path, encoding="utf-8") as f:
        try:
            vocab = {str(k): int(v) for k, v in json.load(f).items()}
        except (json.JSONDecodeError, AttributeError, TypeError, ValueError) as e:
            raise InputError(f"{path} is not a JSON object of token -> integer id: {e}") from None
    seen: dict[int, str] = {}
    for tok, i in vocab.items():
        if i in seen:
            raise InputError(f"{path}: id {i} is given to both {seen[i]!r} and {tok!r}; each id names one token")
        seen[i] = tok
    return vocab


def read_merges_txt(path: str) -> list[tuple[str, str]]:
    """merges.txt: optional '#version' header, then one 'left right' pair per line."""
    merges: list[tuple[str, str]] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#version"):
                continue
            a, _, b = line.partition(" ")
            merges.append((a, b))
    return merges
