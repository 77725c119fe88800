"""The merge loop shared by the BPE, byte-level BPE and WordPiece trainers.

Words are lists of symbol ids with a corpus frequency. Each step picks the best adjacent pair, makes it a
new symbol and rewrites only the words that contain it, updating the pair counts of those words
(never recounting the corpus). The best pair comes from a heap with lazy invalidation: an entry whose
stored score is stale is re-pushed with its current score when it reaches the top.

Scores: "count" (BPE): the pair's frequency. "likelihood" (WordPiece): count(ab) / (count(a) * count(b)).
Ties go to the alphabetically first pair (compared as (left, right) strings), so runs are deterministic.
"""
from __future__ import annotations

import heapq
from collections import defaultdict
from typing import Callable

Pair = tuple[int, int]


def _pairs(word: list[int]) -> zip:
    return zip(word, word[1:])


def learn_merges(words: list[list[int]], freqs: list[int], symbols: list[str], max_symbols: int, *,
                 score: str = "count", min_frequency: int = 1,
                 join: Callable[[str, str], str] = lambda a, b: a + b,
                 progress: bool = False) -> list[Pair]:
    """Merge until `symbols` holds `max_symbols` distinct strings (in place: `words` are rewritten and new
    symbols appended). Returns the merged pairs in order, as ids into `symbols`; a merge whose result
    already exists (e.g. a+bc after ab+c) reuses that symbol. Stops early when no pair occurs at least
    `min_frequency` times.
    """
    likelihood = score == "likelihood"
    pair_count: dict[Pair, int] = defaultdict(int)
    where: dict[Pair, list[int]] = defaultdict(list)
    unit_count: dict[int, int] = defaultdict(int)
    partners: dict[int, set[Pair]] = defaultdict(set)  # symbol -> pairs it is part of (likelihood only)
    for wi, (w, f) in enumerate(zip(words, freqs)):
        for p in _pairs(w):
            pair_count[p] += f
            where[p].append(wi)
        if likelihood:
            for s in w:
                unit_count[s] += f
    if likelihood:
        for p in pair_count:
            partners[p[0]].add(p)
            partners[p[1]].add(p)

    def key(p: Pair) -> float:
        n = pair_count[p]
        return -n / (unit_count[p[0]] * unit_count[p[1]]) if likelihood else -n

    index = {sym: i for i, sym in enumerate(symbols)}
    heap = [(key(p), symbols[p[0]], symbols[p[1]], p) for p, n in pair_count.items() if n >= min_frequency]
    heapq.heapify(heap)
    merges: list[Pair] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=max(max_symbols - len(symbols), 0), desc=f"merges ({score})", unit="merge",
                   mininterval=1.0)
    while len(symbols) < max_symbols and heap:
        k, _, _, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) < min_frequency:
            continue
        current = key(pair)
        if current != k:  # stale entry: re-queue with the current score
            heapq.heappush(heap, (current, symbols[pair[0]], symbols[pair[1]], pair))
            continue
        a, b = pair
        text = join(symbols[a], symbols[b])
        c = index.get(text, len(symbols))
        if c == len(symbols):
            symbols.append(text)
            index[text] = c
            if bar is not None:
                bar.update(1)
        merges.append(pair)
        fresh: set[Pair] = set()
        seen: set[int] = set()
        for wi in where.pop(pair, ()):
            if wi in seen:
                continue
            seen.add(wi)
            w = words[wi]
            new: list[int] = []
            i, n = 0, len(w)
            while i < n:
                if i + 1 < n and w[i] == a and w[i + 1] == b:
                    new.append(c)
                    i += 2
                else:
                    new.append(w[i])
                    i += 1
            if len(new) == n:
                continue
            f = freqs[wi]
            for p in _pairs(w):
                pair_count[p] -= f
            for p in _pairs(new):
                pair_count[p] += f
                if p[0] == c or p[1] == c:
                    where[p].append(wi)
                    fresh.add(p)
            if likelihood:
                merged = (n - len(new)) * f
                unit_count[a] -= merged
                unit_count[b] -= merged
                unit_count[c] += merged
            words[wi] = new
        pair_count.pop(pair, None)
        if likelihood:
            for p in fresh:
                partners[p[0]].add(p)
                partners[p[1]].add(p)
            # a and b became rarer, so every pair containing them scores higher now
            fresh |= {p for s in (a, b) for p in partners[s] if pair_count.get(p, 0) >= min_frequency}
        for p in fresh:
            if pair_count.get(p, 0) >= min_frequency:
                heapq.heappush(heap, (key(p), symbols[p[0]], symbols[p[1]], p))
    if bar is not None:
        bar.close()
    return merges
