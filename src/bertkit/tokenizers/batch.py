"""Batch results: truncation of one or two sequences, sliding windows, padding, tensor conversion."""
from __future__ import annotations

from typing import Any

from bertkit.errors import InputError

Offsets = list[tuple[int, int]]


class BatchEncoding(dict):
    """Dict of `input_ids`, `attention_mask`, `token_type_ids` (and `offset_mapping`,
    `overflow_to_sample_mapping` when asked). `num_truncated`: how many input rows were cut."""

    num_truncated: int = 0

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def pair_lengths(n1: int, n2: int, budget: int) -> tuple[int, int]:
    """Lengths after 'longest_first' truncation of two sequences to `budget` tokens in total.

    Same rule as Hugging Face: keep the shorter one whole if it fits in half, else split evenly
    (an odd token goes to the longer sequence).
    """
    if n1 + n2 <= budget:
        return n1, n2
    swap = n1 > n2
    short, long_ = (n2, n1) if swap else (n1, n2)
    long_ = short if short > budget else max(short, budget - short)
    if short + long_ > budget:
        short = budget // 2
        long_ = short + budget % 2
    return (long_, short) if swap else (short, long_)


def windows(n: int, size: int, stride: int) -> list[tuple[int, int]]:
    """Spans [start, stop) of length `size` covering n items, consecutive spans overlapping by `stride`."""
    if size <= 0:
        return [(0, 0)]
    step = size - stride
    if step <= 0:
        raise InputError(f"stride={stride} must be smaller than the room left for the text ({size} tokens)")
    spans = []
    for start in range(0, max(n, 1), step):
        stop = min(start + size, n)
        spans.append((start, stop))
        if stop >= n:
            break
    return spans


def pad_rows(rows: list[list[Any]], length: int, value: Any) -> list[list[Any]]:
    return [r + [value] * (length - len(r)) if len(r) < length else r for r in rows]


def to_tensors(enc: BatchEncoding, kind: str | None) -> BatchEncoding:
    """Turn list columns into 'pt' (torch.long) or 'np' (int64) arrays; rows must have equal length."""
    if kind is None:
        return enc
    if kind not in ("pt", "np"):
        raise InputError(f"return_tensors must be None, 'pt' or 'np', got {kind!r}")
    lengths = {len(r) for r in enc["input_ids"]}
    if len(lengths) > 1:
        raise InputError("rows have different lengths; pass padding=True to return tensors")
    import numpy as np

    for key, value in list(enc.items()):
        arr = np.asarray(value, dtype=np.int64)
        if kind == "pt":
            import torch

            arr = torch.from_numpy(arr)
        enc[key] = arr
    return enc
