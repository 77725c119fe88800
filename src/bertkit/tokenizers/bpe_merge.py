"""Applying learned BPE merges to one word (shared by character-level and byte-level BPE)."""
from __future__ import annotations


def apply_merges(symbols: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Merge adjacent symbols, always taking the pair learned earliest (lowest rank) first.

    This is the encoding rule of GPT-2 / RoBERTa / Hugging Face BPE: replaying the merges in training
    order. `symbols` is the word split into its initial units (characters or byte-characters).
    """
    word = list(symbols)
    if len(word) < 2:
        return word
    inf = len(ranks) + 1
    while True:
        best_rank, best_i = inf, -1
        for i in range(len(word) - 1):
            r = ranks.get((word[i], word[i + 1]), inf)
            if r < best_rank:
                best_rank, best_i = r, i
        if best_i < 0:
            return word
        a, b = word[best_i], word[best_i + 1]
        merged = a + b
        # merge every occurrence of this pair, left to right, in one pass
        out: list[str] = []
        i, n = 0, len(word)
        while i < n:
            if i < n - 1 and word[i] == a and word[i + 1] == b:
                out.append(merged)
                i += 2
            else:
                out.append(word[i])
                i += 1
        word = out
        if len(word) == 1:
            return word
