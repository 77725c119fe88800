"""Applying learned BPE merges to one word (shared by character-level and byte-level BPE)."""
from __future__ import annotations

import heapq

LONG_WORD = 64  # above this many symbols, use the O(n log n) heap version


def apply_merges(symbols: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Merge adjacent symbols, always taking the pair learned earliest (lowest rank) first.

    This is the encoding rule of GPT-2 / RoBERTa / Hugging Face BPE: replaying the merges in training
    order. `symbols` is the word split into its initial units (characters or byte-characters).
    """
    word = list(symbols)
    if len(word) < 2:
        return word
    if len(word) > LONG_WORD:
        return _apply_merges_heap(word, ranks)
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


def _apply_merges_heap(word: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Same result as the simple loop, in O(n log n): a linked list of symbols and a heap of
    (rank, position) candidates, re-checked when popped."""
    n = len(word)
    sym: list[str | None] = list(word)
    nxt = list(range(1, n + 1))
    prv = list(range(-1, n - 1))
    heap = [(r, i) for i in range(n - 1) if (r := ranks.get((word[i], word[i + 1]))) is not None]
    heapq.heapify(heap)
    while heap:
        r, i = heapq.heappop(heap)
        j = nxt[i] if sym[i] is not None else n
        if j >= n or ranks.get((sym[i], sym[j])) != r:  # type: ignore[arg-type]
            continue
        sym[i] = sym[i] + sym[j]  # type: ignore[operator]
        sym[j] = None
        nxt[i] = nxt[j]
        if nxt[i] < n:
            prv[nxt[i]] = i
        if prv[i] >= 0 and (rp := ranks.get((sym[prv[i]], sym[i]))) is not None:  # type: ignore[arg-type]
            heapq.heappush(heap, (rp, prv[i]))
        if nxt[i] < n and (rn := ranks.get((sym[i], sym[nxt[i]]))) is not None:  # type: ignore[arg-type]
            heapq.heappush(heap, (rn, i))
    return [s for s in sym if s is not None]
