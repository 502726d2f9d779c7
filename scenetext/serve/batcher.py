"""Dynamic batching: images from concurrent requests go through the model together, on one worker thread.

A model forward pass on 32 images costs far less than 32 passes on one, so the worker takes the oldest waiting
image, waits at most ``max_wait_ms`` for more to arrive (or until ``max_batch`` are waiting), and runs them as
one batch. Requests await asyncio futures that the worker completes through the event loop, so the loop never
blocks on the model. The waiting line is bounded: :meth:`DynamicBatcher.submit` raises :class:`QueueFull`
instead of letting latency grow without limit.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Output = TypeVar("Output")


class QueueFull(Exception):
    """The waiting line cannot take these images now; the caller should retry later."""


class BatcherClosed(Exception):
    """The batcher is shutting down and accepts no new work."""


@dataclass(frozen=True)
class BatchTiming:
    """Where one image's time went: waiting for its batch, then the batch's model call."""

    queue_ms: float
    inference_ms: float
    batch_size: int


@dataclass
class _Pending(Generic[Item]):
    item: Item
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    enqueued: float


def _resolve(future: asyncio.Future, value: Any, error: BaseException | None) -> None:
    """Complete a future on its own loop unless the request already gave up on it."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


class DynamicBatcher(Generic[Item, Output]):
    """Groups submitted items into batches for ``run(items) -> outputs`` (one output per item, in order)."""

    def __init__(
        self,
        run: Callable[[list[Item]], Sequence[Output]],
        max_batch: int = 32,
        max_wait_ms: float = 10.0,
        queue_size: int = 256,
    ) -> None:
        self._run = run
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.queue_size = queue_size
        self._pending: deque[_Pending[Item]] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None
        self.batch_sizes: Counter[int] = Counter()

    @property
    def pending(self) -> int:
        """Images waiting for the model (not counting the batch being run)."""
        return len(self._pending)

    @property
    def healthy(self) -> bool:
        """Accepting work, with a live worker (or one that starts on the first submission)."""
        return not self._closing and (self._thread is None or self._thread.is_alive())

    def can_accept(self, count: int) -> bool:
        return not self._closing and len(self._pending) + count <= self.queue_size

    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        with self._cond:
            if self._closing:
                raise BatcherClosed("the batcher has been closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="scenetext-batcher", daemon=True)
                self._thread.start()

    async def submit(self, items: Sequence[Item]) -> list[tuple[Output, BatchTiming]]:
        """Queue all ``items`` (or none: raises QueueFull) and wait for their outputs and timings."""
        loop = asyncio.get_running_loop()
        now = time.perf_counter()
        pending = [_Pending(item, loop.create_future(), loop, now) for item in items]
        self.start()
        with self._cond:
            if self._closing:
                raise BatcherClosed("the service is shutting down")
            if len(self._pending) + len(pending) > self.queue_size:
                raise QueueFull(f"{len(self._pending)} images are waiting (limit {self.queue_size})")
            self._pending.extend(pending)
            self._cond.notify()
        return list(await asyncio.gather(*(p.future for p in pending)))

    def _next_batch(self) -> list[_Pending[Item]] | None:
        """Wait for a due batch (full, or its oldest image waited max_wait); None once closed and drained."""
        with self._cond:
            while not self._pending:
                if self._closing:
                    return None
                self._cond.wait()
            deadline = self._pending[0].enqueued + self.max_wait
            while len(self._pending) < self.max_batch and not self._closing:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            size = min(self.max_batch, len(self._pending))
            return [self._pending.popleft() for _ in range(size)]

    def _work(self) -> None:
        while (batch := self._next_batch()) is not None:
            started = time.perf_counter()
            error: BaseException | None = None
            outputs: Sequence[Output] = ()
            try:
                outputs = self._run([p.item for p in batch])
                if len(outputs) != len(batch):
                    raise RuntimeError(f"batch function gave {len(outputs)} outputs for {len(batch)} items")
            except Exception as exc:  # every waiting request must hear about it, whatever it is
                error = exc
            finished = time.perf_counter()
            with self._cond:
                self.batch_sizes[len(batch)] += 1
            for index, p in enumerate(batch):
                timing = BatchTiming(
                    queue_ms=(started - p.enqueued) * 1000,
                    inference_ms=(finished - started) * 1000,
                    batch_size=len(batch),
                )
                value = None if error is not None else (outputs[index], timing)
                try:
                    p.loop.call_soon_threadsafe(_resolve, p.future, value, error)
                except RuntimeError:  # that request's event loop is already closed: nobody is waiting
                    continue

    def close(self, timeout: float | None = None) -> None:
        """Refuse new work, finish what is queued, and stop the worker thread."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    async def aclose(self, timeout: float | None = None) -> None:
        """:meth:`close` without blocking the event loop, so queued requests still get their answers."""
        await asyncio.to_thread(self.close, timeout)

    def stats(self) -> dict[str, Any]:
        """Batches run so far, by size (the service's /health shows it; tests and the load test read it)."""
        with self._cond:
            sizes = dict(self.batch_sizes)
        batches = sum(sizes.values())
        images = sum(size * count for size, count in sizes.items())
        return {
            "batches": batches,
            "images": images,
            "largest": max(sizes, default=0),
            "mean_size": images / batches if batches else 0.0,
        }
