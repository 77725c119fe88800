"""Running independent inference batches at once on CPU.

The kernels of one small batch cannot keep several cores busy in bf16 (a 384-wide MiniLM batch of 32 short
sentences is a few hundred microseconds per matrix product, too short to split well), so on CPU the embed and
predict paths run whole batches on separate threads, each with one intra-op thread. Measured on 2 cores with
benchmarks/embed_speed.py: bf16 1.2x faster than one batch on 2 threads; fp32 gains nothing (its products are
long enough to split), so fp32 keeps one batch at a time.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from typing import TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")


def default_workers(model: torch.nn.Module) -> int:
    """Batches to run at once for `model`: one per intra-op thread for bf16/int8 models on CPU, else 1."""
    p = next(model.parameters(), None)
    if p is None or p.device.type != "cpu":
        return 1
    low = p.dtype == torch.bfloat16 or any(m.__class__.__module__.startswith("torch.ao.") for m in model.modules())
    return max(1, torch.get_num_threads()) if low else 1


def parallel_map(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """fn over items on `workers` threads, each with one intra-op torch thread; results in completion order.

    At most 2 * workers items are taken from `items` ahead of the results, so a long stream stays bounded.
    torch releases the GIL inside its kernels, so the threads really run in parallel. Grad mode is per
    thread: fn must enter torch.inference_mode() itself. workers <= 1 runs fn in this thread, in order."""
    if workers <= 1:
        for item in items:
            yield fn(item)
        return
    with ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        pending: set[Future] = set()
        for item in items:
            pending.add(pool.submit(fn, item))
            if len(pending) >= 2 * workers:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    yield f.result()
        for f in as_completed(pending):
            yield f.result()
