"""How the trainer serves data: a seeded order per epoch, sharded by rank, one generator per batch.

Batch k of epoch e on rank r is always built from the same examples with a torch.Generator seeded by
(seed, e, k, r), so masking and other randomness in collate functions are reproducible, including
after resumption and inside DataLoader worker processes.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

Batch = dict[str, Any]


def default_collate(examples: list[Any], generator: torch.Generator | None = None) -> Batch:
    """Stack examples that are dicts of equally shaped tensors (or numbers) into one batch dict."""
    first = examples[0]
    if not isinstance(first, dict):
        raise TypeError(f"default_collate needs dict examples, got {type(first).__name__}; pass collate_fn")
    return {k: torch.stack([torch.as_tensor(e[k]) for e in examples]) for k in first}


def wants_generator(fn: Callable) -> bool:
    """True when a collate function takes a second (generator) argument."""
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    except (TypeError, ValueError):
        return True
    return len(params) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


def batch_seed(seed: int, epoch: int, index: int, rank: int) -> int:
    x = (seed * 1_000_003 + epoch) * 1_000_033 + index
    return (x * 1_009 + rank) % (2**63 - 1)


def batch_meta(batch: Batch) -> dict[str, int]:
    """items: what the loss is averaged over (batch["num_items"] if given, else examples); tokens; examples."""
    tensors = [v for v in batch.values() if isinstance(v, torch.Tensor)]
    ids = batch.get("input_ids")
    examples = int(ids.shape[0]) if isinstance(ids, torch.Tensor) else (int(tensors[0].shape[0]) if tensors else 0)
    mask = batch.get("attention_mask")
    if isinstance(mask, torch.Tensor):
        tokens = int(mask.sum())
    else:
        tokens = int(ids.numel()) if isinstance(ids, torch.Tensor) else 0
    items = batch.pop("num_items", None)
    return {"items": int(items) if items is not None else examples, "tokens": tokens, "examples": examples}


def _identity(x):
    return x


class _Batches(Dataset):
    """Item k is the k-th collated micro-batch of one epoch on this rank, with its metadata."""

    def __init__(self, data: Sequence, order: list[list[int]], collate: Callable, with_gen: bool, seed: int,
                 epoch: int, rank: int) -> None:
        self.data, self.order, self.collate, self.with_gen = data, order, collate, with_gen
        self.seed, self.epoch, self.rank = seed, epoch, rank

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, k: int) -> tuple[Batch, dict[str, int]]:
        examples = [self.data[i] for i in self.order[k]]
        if self.with_gen:
            gen = torch.Generator().manual_seed(batch_seed(self.seed, self.epoch, k, self.rank))
            batch = self.collate(examples, gen)
        else:
            batch = self.collate(examples)
        return batch, batch_meta(batch)


def epoch_order(n: int, batch_size: int, rank: int, world: int, epoch: int, seed: int, shuffle: bool) -> list[list[int]]:
    """Micro-batches of this rank for one epoch. Global micro-batch k holds examples
    perm[k*B*W : (k+1)*B*W]; rank r takes the r-th slice of B, so W processes with batch B see exactly the
    examples one process with batch B*W sees. An incomplete last global micro-batch is dropped."""
    if shuffle:
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 7919 * epoch)).tolist()
    else:
        perm = list(range(n))
    g = batch_size * world
    return [perm[k * g + rank * batch_size: k * g + (rank + 1) * batch_size] for k in range(n // g)]


def stream(data: Sequence, collate: Callable, *, batch_size: int, rank: int, world: int, seed: int, shuffle: bool,
           num_workers: int, start: int) -> Iterator[tuple[Batch, dict[str, int]]]:
    """Endless micro-batches from global micro-batch index `start` on, crossing epochs."""
    with_gen = wants_generator(collate)
    per_epoch = len(data) // (batch_size * world)
    m = start
    while True:
        epoch, pos = divmod(m, per_epoch)
        view = _Batches(data, epoch_order(len(data), batch_size, rank, world, epoch, seed, shuffle), collate,
                        with_gen, seed, epoch, rank)
        # A private generator keeps DataLoader from drawing on the global RNG (dropout's), which resumption restores.
        loader = DataLoader(view, batch_size=None, sampler=range(pos, per_epoch), num_workers=num_workers,
                            generator=torch.Generator().manual_seed(seed), persistent_workers=False,
                            collate_fn=_identity)
        for item in loader:
            yield item
            m += 1
