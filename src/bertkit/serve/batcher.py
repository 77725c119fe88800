"""Micro-batching: concurrent requests are merged into one forward pass on a single worker thread.

The worker takes the first waiting request, then keeps collecting requests for at most `max_wait_ms`
or until `max_batch` texts are gathered, embeds them together, and hands every request its own rows.
One model forward over 16 short texts costs far less than 16 forwards over one text each, which is where
the throughput comes from; the price is at most `max_wait_ms` of extra latency under light load.
With `enabled=False` every request is embedded on its own (the baseline of benchmarks/serve_load.py).
"""
from __future__ import annotations

import asyncio
import queue
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from bertkit.training.memory import malloc_trim

_STOP = object()


TRIM_EVERY_S = 2.0  # at most this often the worker hands freed heap pages back (a few ms each)


@dataclass
class _Job:
    texts: list[str]
    pooling: str
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    enqueued: float = field(default_factory=time.perf_counter)


@dataclass
class BatchStats:
    """Counters for /health and the benchmark: forwards run, texts embedded, requests served."""

    batches: int = 0
    texts: int = 0
    requests: int = 0

    @property
    def mean_batch_requests(self) -> float:
        return self.requests / self.batches if self.batches else 0.0


class MicroBatcher:
    """Runs `encoder.embed` on one worker thread, merging concurrent requests into micro-batches."""

    def __init__(self, encoder, max_batch: int = 64, max_wait_ms: float = 5.0, enabled: bool = True,
                 precision: str = "fp32") -> None:
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError(f"max_batch must be >= 1 and max_wait_ms >= 0, got {max_batch}, {max_wait_ms}")
        self.encoder, self.max_batch, self.max_wait = encoder, max_batch, max_wait_ms / 1000.0
        self.enabled, self.precision = enabled, precision
        self.stats = BatchStats()
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._trimmed = time.monotonic()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="bertkit-batcher", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Finish every request already queued, then end the worker thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    async def embed(self, texts: list[str], pooling: str) -> np.ndarray:
        """Embed `texts` (un-normalised float32 (N, D)) in whichever micro-batch the worker puts them."""
        if self._thread is None:
            raise RuntimeError("the batcher is not running")
        loop = asyncio.get_running_loop()
        job = _Job(list(texts), pooling, loop, loop.create_future())
        self._queue.put(job)
        return await job.future

    # ---- worker thread ----------------------------------------------------------------------------------
    def _collect(self, first: _Job) -> tuple[list[_Job], bool]:
        """The first job plus whatever arrives within max_wait or until the batch is full; (jobs, stop seen)."""
        jobs, n = [first], len(first.texts)
        if not self.enabled:
            return jobs, False
        deadline = time.perf_counter() + self.max_wait
        while n < self.max_batch:
            remaining = deadline - time.perf_counter()
            try:
                job = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                return jobs, True
            jobs.append(job)
            n += len(job.texts)
        return jobs, False

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                break
            jobs, stop = self._collect(first)
            by_pooling: dict[str, list[_Job]] = {}
            for j in jobs:
                by_pooling.setdefault(j.pooling, []).append(j)
            for pooling, group in by_pooling.items():
                self._embed_group(pooling, group)
            if time.monotonic() - self._trimmed >= TRIM_EVERY_S:  # see training/memory.py: the heap's free
                malloc_trim()                                    # pages go back to the OS, or RSS climbs
                self._trimmed = time.monotonic()
        # anything that raced in after the stop marker is still answered
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not _STOP:
                self._embed_group(job.pooling, [job])

    def _embed_group(self, pooling: str, group: list[_Job]) -> None:
        texts = [t for j in group for t in j.texts]
        try:
            vecs = self.encoder.embed(texts, pooling=pooling, normalize=False, batch_size=max(len(texts), 1),
                                      show_progress=False, precision=self.precision)
        except Exception as e:  # answer every waiting request with the error; the worker lives on
            for j in group:
                j.loop.call_soon_threadsafe(_set_exception, j.future, e)
            return
        self.stats.batches += 1
        self.stats.texts += len(texts)
        self.stats.requests += len(group)
        start = 0
        for j in group:
            rows = vecs[start:start + len(j.texts)]
            start += len(j.texts)
            j.loop.call_soon_threadsafe(_set_result, j.future, rows)


def _set_result(fut: asyncio.Future, value: np.ndarray) -> None:
    if not fut.done():
        fut.set_result(value)


def _set_exception(fut: asyncio.Future, exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
