"""Longest common subsequences of token lists: bit-parallel length, one LCS chosen exactly as rouge_score's
table backtrack chooses it (which decides rougeLsum's union), and Lin's weighted LCS for ROUGE-W.

The bit-parallel form (Allison & Dix 1986; Hyyrö 2004) keeps one row of the LCS table as a Python integer:
bit j of V is 0 where the row steps up between columns j and j+1. One row costs four integer operations on
len(b)-bit numbers, so a 400 x 400 LCS takes ~0.2 ms instead of ~60 ms for the pure Python table.
"""
from __future__ import annotations

from collections.abc import Sequence


def _masks(tokens: Sequence[str]) -> dict[str, int]:
    """token -> bit set of its positions."""
    masks: dict[str, int] = {}
    for j, t in enumerate(tokens):
        masks[t] = masks.get(t, 0) | (1 << j)
    return masks


def _rows(a: Sequence[str], b: Sequence[str]) -> list[int]:
    """The LCS table of a (rows) by b (columns) as len(a)+1 bit rows: table[i][j] = j - popcount(rows[i] & (2^j - 1)).
    Bits above len(b) hold carries and mean nothing."""
    masks = _masks(b)
    v = (1 << len(b)) - 1
    rows = [v]
    for t in a:
        m = masks.get(t)
        if m:
            u = v & m
            v = (v + u) | (v - u)
        rows.append(v)
    return rows


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists."""
    if len(a) < len(b):
        a, b = b, a  # loop over the shorter list; the longer one becomes bits
    if not b:
        return 0
    masks = _masks(a)
    v = full = (1 << len(a)) - 1
    for t in b:
        m = masks.get(t)
        if m:
            u = v & m
            v = (v + u) | (v - u)
    return len(a) - (v & full).bit_count()


def lcs_indices(ref: Sequence[str], can: Sequence[str]) -> list[int]:
    """Positions in `ref` of one longest common subsequence with `can`: the one rouge_score's backtrack reads
    off its table (a match is taken at once; otherwise step left in `can` only where that keeps a strictly
    longer LCS than stepping up in `ref`)."""
    if not ref or not can or set(ref).isdisjoint(can):
        return []
    rows = _rows(ref, can)

    def table(i: int, j: int) -> int:
        return j - (rows[i] & ((1 << j) - 1)).bit_count()

    i, j, out = len(ref), len(can), []
    while i and j:
        if ref[i - 1] == can[j - 1]:
            out.append(i - 1)
            i, j = i - 1, j - 1
        elif table(i, j - 1) > table(i - 1, j):
            j -= 1
        else:
            i -= 1
    return out[::-1]


def weighted_lcs(ref: Sequence[str], can: Sequence[str], weight: float) -> float:
    """Lin's (2004) weighted LCS with f(k) = k**weight: a run of k consecutive matches scores f(k), so with
    weight > 1 one run of 4 beats two runs of 2. The dynamic programme of the paper (and ROUGE-1.5.5): a match
    extends the run ending at the diagonal cell; O(len(ref) * len(can)) in Python (~8 ms at 400 x 400)."""
    if not ref or not can:
        return 0.0
    n = len(can)
    gain = [(k + 1) ** weight - k ** weight for k in range(min(len(ref), n) + 1)]  # f(k+1) - f(k)
    c_up, w_up = [0.0] * (n + 1), [0] * (n + 1)
    for x in ref:
        c, w = [0.0] * (n + 1), [0] * (n + 1)
        left = 0.0
        for j in range(1, n + 1):
            if can[j - 1] == x:
                k = w_up[j - 1]
                left = c_up[j - 1] + gain[k]
                w[j] = k + 1
            elif c_up[j] > left:
                left = c_up[j]
            c[j] = left
        c_up, w_up = c, w
    return c_up[n]
