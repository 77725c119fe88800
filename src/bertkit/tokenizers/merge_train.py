"""The merge loop shared by the BPE, byte-level BPE and WordPiece trainers.

Words are lists of symbol ids with a corpus frequency. Each step picks the best adjacent pair, makes it a
new symbol and rewrites only the words that contain it, updating the pair counts of those words
(never recounting the corpus). The best pair comes from a heap with lazy invalidation: an entry whose
stored score is stale is re-pushed with its current score when it reaches the top.

Scores (counts are of symbol occurrences in the current segmentation, N = their total):
- "count" (BPE): count(ab).
- "ratio" (WordPiece as the book states it): count(ab) / (count(a) * count(b)).
- "gain" (WordPiece as Schuster & Nakajima define it): count(ab) * log(count(ab) * N / (count(a) * count(b))),
  the pair's count times its pointwise mutual information: how much a unigram model's log-likelihood of
  the corpus grows when ab becomes one symbol (to first order). The ratio is its core; the count weight
  keeps rare pairs of rare units from winning.
Ties go to the alphabetically first pair (compared as (left, right) strings), so runs are deterministic.

Stale heap entries: a stored key is never better than the pair's current key, except for pairs whose
score can rise (pairs containing the new symbol, or a or b under "ratio"/"gain", whose counts shrank);
those are pushed again. So a popped pair whose current key still beats the next stored key is the best.
"""
from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Callable

Pair = tuple[int, int]


def _pairs(word: list[int]) -> zip:
    return zip(word, word[1:])


SCORES = ("count", "ratio", "gain")


def learn_merges(words: list[list[int]], freqs: list[int], symbols: list[str], max_symbols: int, *,
                 score: str = "count", min_frequency: int = 1,
                 join: Callable[[str, str], str] = lambda a, b: a + b,
                 progress: bool = False) -> list[Pair]:
    """Merge until `symbols` holds `max_symbols` distinct strings (in place: `words` are rewritten and new
    symbols appended). Returns the merged pairs in order, as ids into `symbols`; a merge whose result
    already exists (e.g. a+bc after ab+c) reuses that symbol. Stops early when no pair occurs at least
    `min_frequency` times. `score`: "count", "ratio" or "gain" (module docstring).
    """
    if score not in SCORES:
        raise ValueError(f"unknown merge score {score!r}; expected one of {', '.join(SCORES)}")
    by_units = score != "count"
    gain = score == "gain"
    pair_count: dict[Pair, int] = defaultdict(int)
    where: dict[Pair, list[int]] = defaultdict(list)
    unit_count: dict[int, int] = defaultdict(int)
    partners: dict[int, set[Pair]] = defaultdict(set)  # symbol -> pairs it is part of ("ratio"/"gain")
    for wi, (w, f) in enumerate(zip(words, freqs)):
        for p in _pairs(w):
            pair_count[p] += f
            where[p].append(wi)
        if by_units:
            for s in w:
                unit_count[s] += f
    total = sum(unit_count.values())
    if by_units:
        for p in pair_count:
            partners[p[0]].add(p)
            partners[p[1]].add(p)

    def key(p: Pair) -> float:
        n = pair_count[p]
        if not by_units:
            return -n
        if gain:
            return -n * math.log(n * total / (unit_count[p[0]] * unit_count[p[1]]))
        return -n / (unit_count[p[0]] * unit_count[p[1]])

    # "gain" only: a pair seen n times can never score more than n * log(N0 / n) (count(a), count(b) >= n,
    # N <= N0), whatever happens to its units later. Partners of a merged unit whose bound is below the
    # last merged score wait in `cold`, ordered by that bound, instead of being re-scored and re-queued
    # after every merge; they move to the heap once the best score falls to their bound.
    n0 = total
    cold: list[tuple[float, Pair]] = []
    cold_bound: dict[Pair, float] = {}  # the highest bound a pair waits with
    last_score = math.inf

    def bound(n: int) -> float:
        return n * math.log(n0 / n) if n * math.e <= n0 else n0 / math.e

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
        k, left, right, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) < min_frequency:
            continue
        current = key(pair)
        if current != k and heap and (current, left, right) > heap[0][:3]:
            heapq.heappush(heap, (current, left, right, pair))  # stale and beaten: re-queue
            continue
        if cold and -cold[0][0] >= -current:  # a waiting pair might beat this one: bring them in first
            while cold and -cold[0][0] >= -current:
                _, q = heapq.heappop(cold)
                cold_bound.pop(q, None)
                if pair_count.get(q, 0) >= min_frequency:
                    heapq.heappush(heap, (key(q), symbols[q[0]], symbols[q[1]], q))
                    partners[q[0]].add(q)  # its score follows its units again
                    partners[q[1]].add(q)
            heapq.heappush(heap, (current, left, right, pair))
            continue
        last_score = -current
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
            if by_units:
                merged = (n - len(new)) * f
                unit_count[a] -= merged
                unit_count[b] -= merged
                unit_count[c] += merged
                total -= merged
            words[wi] = new
        pair_count.pop(pair, None)
        if by_units:
            for p in fresh:
                partners[p[0]].add(p)
                partners[p[1]].add(p)
            # a and b became rarer, so every pair containing them scores higher now; pairs gone from the
            # corpus are forgotten, so frequent units do not drag a growing list of dead pairs along
            for s in {a, b}:
                live = set()
                for p in partners[s]:
                    n = pair_count.get(p, 0)
                    if n < min_frequency:
                        continue
                    if p in fresh:
                        live.add(p)
                        continue
                    limit = bound(n) if gain else math.inf
                    if limit < last_score:  # waits in `cold`, no longer tracked as a partner
                        if cold_bound.get(p, -1.0) < limit:  # its count can grow when a merge reuses a symbol
                            cold_bound[p] = limit
                            heapq.heappush(cold, (-limit, p))
                        other = p[1] if p[0] == s else p[0]
                        if other != s:
                            partners[other].discard(p)
                    else:
                        live.add(p)
                        fresh.add(p)
                partners[s] = live
        for p in fresh:
            if pair_count.get(p, 0) >= min_frequency:
                heapq.heappush(heap, (key(p), symbols[p[0]], symbols[p[1]], p))
    if bar is not None:
        bar.close()
    return merges
