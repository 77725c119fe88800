"""Tokenizer statistics: tokens per word, unknown-token rate, vocabulary overlap, most common pieces."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from bertkit.tokenizers.tokenizer import Tokenizer


@dataclass
class TokenStats:
    """Counts over a text sample. Words are whitespace-separated strings of the raw text."""

    words: int
    tokens: int
    unknown: int
    common: list[tuple[str, int]] = field(default_factory=list)

    @property
    def tokens_per_word(self) -> float:
        return self.tokens / self.words if self.words else 0.0

    @property
    def unknown_rate(self) -> float:
        return self.unknown / self.tokens if self.tokens else 0.0


def token_stats(tok: Tokenizer, lines: Sequence[str], top: int = 20, batch: int = 1024) -> TokenStats:
    """Tokens per word, unknown-token rate and the `top` most common pieces of `tok` on `lines`."""
    unk = tok.unk_token_id
    pieces: Counter[int] = Counter()
    words = 0
    for i in range(0, len(lines), batch):
        chunk = list(lines[i:i + batch])
        words += sum(len(line.split()) for line in chunk)
        enc = tok(chunk, truncation=False, padding=False, add_special_tokens=False)
        for row in enc["input_ids"]:
            pieces.update(row)
    tokens = sum(pieces.values())
    unknown = pieces.get(unk, 0) if unk is not None else 0
    common = [(tok.convert_ids_to_tokens(i), n) for i, n in pieces.most_common(top)]
    return TokenStats(words, tokens, unknown, common)  # type: ignore[arg-type]


_MARKERS = ("##", "▁", "Ġ")


def surface(piece: str) -> str:
    """A piece without its tokenizer's spelling conventions (##, </w>, ▁, Ġ), to compare vocabularies."""
    for m in _MARKERS:
        piece = piece.removeprefix(m)
    piece = piece.removesuffix("</w>")
    return piece


def vocab_overlap(a: Tokenizer, b: Tokenizer, canonical: bool = True) -> float:
    """|A ∩ B| / |A ∪ B| of the two vocabularies without special tokens (the book's M-BERT measure).

    With `canonical`, pieces are compared by their surface text (see `surface`), so "##ing", "ing</w>"
    and "▁ing" do not count as different just because of the markers.
    """
    def pieces(t: Tokenizer) -> set[str]:
        special = set(t.all_special_tokens)
        out = {p for p in t.get_vocab() if p not in special}
        if canonical:
            out = {surface(p) for p in out} - {""}
        return out

    sa, sb = pieces(a), pieces(b)
    union = sa | sb
    return len(sa & sb) / len(union) if union else 0.0


def format_stats(name: str, s: TokenStats, top: int = 10) -> str:
    lines = [f"{name}: {s.words} words, {s.tokens} tokens, {s.tokens_per_word:.3f} tokens/word, "
             f"unknown-token rate {s.unknown_rate:.4%}"]
    lines.append("  most common: " + "  ".join(f"{p!s}×{n}" for p, n in s.common[:top]))
    return "\n".join(lines)
