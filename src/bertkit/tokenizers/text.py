"""Unicode helpers shared by the tokenizers: BERT's text clean-up, accent stripping and word splitting.

The rules follow Hugging Face's Rust `BertNormalizer` + `BertPreTokenizer` (what `AutoTokenizer` uses),
so that ids and character offsets match it exactly. Everything here runs only on cache misses: the hot
path in `wordpiece.py` works on whole strings and caches the result per whitespace-separated chunk.
"""
from __future__ import annotations

import re
import unicodedata

# Characters that count as whitespace *after* control characters were removed (Rust char::is_whitespace
# minus the Cc ones, which the normalizer deletes first: \x0b \x0c \x1c-\x1f \x85).
WHITESPACE = " \t\n\r\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
             "\u2028\u2029\u202f\u205f\u3000"
CHUNK_RE = re.compile(f"[^{WHITESPACE}]+")
# ASCII control characters the normalizer deletes (tab, newline and carriage return are whitespace).
ASCII_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
               (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def is_control(ch: str) -> bool:
    """True for characters BERT's clean-up deletes (all Unicode 'C*' except tab/newline/CR, plus U+FFFD)."""
    if ch in "\t\n\r":
        return False
    return ch == "\ufffd" or unicodedata.category(ch)[0] == "C"


def is_whitespace(ch: str) -> bool:
    return ch in WHITESPACE


def is_punctuation(ch: str) -> bool:
    """ASCII symbols ($, +, ^ ...) count as punctuation for BERT, as do all Unicode 'P*' characters."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch)[0] == "P"


def is_chinese(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def normalize_char(ch: str, lowercase: bool, strip_accents: bool) -> str:
    """One original character → its normalized form (possibly empty or several characters)."""
    if strip_accents and not ch.isascii():
        ch = "".join(c for c in unicodedata.normalize("NFD", ch) if unicodedata.category(c) != "Mn")
    if lowercase:
        # char by char, like Rust's char::to_lowercase (no final-sigma rule)
        ch = ch.lower() if len(ch) == 1 else "".join(c.lower() for c in ch)
    return ch


def bert_words(chunk: str, lowercase: bool, strip_accents: bool,
               chinese_chars: bool = True, split_punctuation: bool = True) -> list[tuple[str, list[int]]]:
    """Normalize `chunk` and split it into words; each word comes with the original index of each char.

    Control characters are removed, CJK ideographs and punctuation become words of their own. A
    sub-word covering word[a:b] spans chunk[origins[a] : origins[b - 1] + 1] in the original text.
    """
    words: list[tuple[str, list[int]]] = []
    cur: list[str] = []
    origins: list[int] = []

    def flush() -> None:
        nonlocal cur, origins
        if cur:
            words.append(("".join(cur), origins))
            cur, origins = [], []

    for i, ch in enumerate(chunk):
        if ch == "\x00" or is_control(ch):
            continue
        if is_whitespace(ch):
            flush()
            continue
        norm = normalize_char(ch, lowercase, strip_accents)
        if chinese_chars and is_chinese(ch):
            flush()
            if norm:
                words.append((norm, [i] * len(norm)))
            continue
        for c in norm:
            if split_punctuation and is_punctuation(c):
                flush()
                words.append((c, [i]))
            elif is_whitespace(c):
                flush()
            else:
                cur.append(c)
                origins.append(i)
    flush()
    return words
