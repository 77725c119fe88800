"""Held-out evaluation of an objective: the mean of each named loss over a dataset, with fixed randomness."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from bertkit.training.data import batch_meta, batch_seed, wants_generator


@torch.no_grad()
def evaluate_objective(joint: nn.Module, data: Sequence, collate: Callable, batch_size: int, device: torch.device,
                       seed: int = 0) -> dict[str, float]:
    """{"eval_<name>": mean over items} for every loss the objective returns. Batch k is collated with a
    generator seeded from (seed, k), so every evaluation of a run masks the same tokens and is comparable."""
    with_gen = wants_generator(collate)
    sums: dict[str, torch.Tensor] = {}
    items = 0
    for k, start in enumerate(range(0, len(data), batch_size)):
        examples = [data[i] for i in range(start, min(start + batch_size, len(data)))]
        batch = collate(examples, torch.Generator().manual_seed(batch_seed(seed, 10**6, k, 0))) if with_gen \
            else collate(examples)
        n = batch_meta(batch)["items"]
        if n == 0:
            continue
        if device.type != "cpu":
            batch = {key: v.to(device) if isinstance(v, torch.Tensor) else v for key, v in batch.items()}
        for name, v in joint(batch).items():
            sums[name] = sums.get(name, 0) + v.detach().float() * n
        items += n
    names = list(sums)
    vals = torch.stack([sums[k] for k in names]).tolist() if names else []
    return {f"eval_{k}": v / max(items, 1) for k, v in zip(names, vals)}
