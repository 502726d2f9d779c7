"""The dynamic batcher on its own: grouping, order, limits, errors and shutdown (no model, no HTTP)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from scenetext.serve.batcher import BatcherClosed, DynamicBatcher, QueueFull


class Recorder:
    """A batch function that doubles its inputs, records batch sizes and can be held at a gate."""

    def __init__(self, hold: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.gate = threading.Event()
        self.entered = threading.Semaphore(0)
        if not hold:
            self.gate.set()

    def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        self.entered.release()
        assert self.gate.wait(10)
        return [2 * item for item in items]


async def _wait_pending(batcher: DynamicBatcher, count: int) -> None:
    for _ in range(1000):
        if batcher.pending == count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"expected {count} pending, have {batcher.pending}")


async def _entered(recorder: Recorder) -> None:
    assert await asyncio.to_thread(recorder.entered.acquire, True, 10)


def test_concurrent_submissions_share_one_batch_and_keep_their_order() -> None:
    async def scenario() -> None:
        recorder = Recorder(hold=True)
        batcher = DynamicBatcher(recorder, max_batch=32, max_wait_ms=5, queue_size=64)
        first = asyncio.create_task(batcher.submit([100]))
        await _entered(recorder)  # the first batch is inside the model; the rest queue behind it
        later = [asyncio.create_task(batcher.submit([i, i + 10])) for i in range(3)]
        await _wait_pending(batcher, 6)
        recorder.gate.set()
        assert [out for out, _ in await first] == [200]
        for i, task in enumerate(later):
            outputs = await task
            assert [out for out, _ in outputs] == [2 * i, 2 * (i + 10)]
            assert all(timing.batch_size == 6 for _, timing in outputs)
            assert all(timing.queue_ms >= 0 and timing.inference_ms >= 0 for _, timing in outputs)
        assert [len(batch) for batch in recorder.batches] == [1, 6]
        assert batcher.stats() == {"batches": 2, "images": 7, "largest": 6, "mean_size": 3.5}
        await batcher.aclose()

    asyncio.run(scenario())


def test_max_batch_splits_a_long_queue() -> None:
    async def scenario() -> None:
        recorder = Recorder(hold=True)
        batcher = DynamicBatcher(recorder, max_batch=4, max_wait_ms=0, queue_size=64)
        first = asyncio.create_task(batcher.submit([0]))
        await _entered(recorder)
        rest = asyncio.create_task(batcher.submit(list(range(1, 11))))
        await _wait_pending(batcher, 10)
        recorder.gate.set()
        await first
        assert [out for out, _ in await rest] == [2 * i for i in range(1, 11)]
        assert [len(batch) for batch in recorder.batches] == [1, 4, 4, 2]
        await batcher.aclose()

    asyncio.run(scenario())


def test_max_batch_one_runs_images_one_at_a_time() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        batcher = DynamicBatcher(recorder, max_batch=1, max_wait_ms=50, queue_size=64)
        results = await asyncio.gather(*(batcher.submit([i]) for i in range(5)))
        assert [[out for out, _ in r] for r in results] == [[0], [2], [4], [6], [8]]
        assert all(len(batch) == 1 for batch in recorder.batches)
        await batcher.aclose()

    asyncio.run(scenario())


def test_full_queue_refuses_the_whole_submission_and_enqueues_nothing() -> None:
    async def scenario() -> None:
        recorder = Recorder(hold=True)
        batcher = DynamicBatcher(recorder, max_batch=8, max_wait_ms=0, queue_size=3)
        first = asyncio.create_task(batcher.submit([1]))
        await _entered(recorder)
        queued = asyncio.create_task(batcher.submit([2, 3]))
        await _wait_pending(batcher, 2)
        assert not batcher.can_accept(2)
        with pytest.raises(QueueFull):
            await batcher.submit([4, 5])
        assert batcher.pending == 2  # nothing of the refused submission was kept
        recorder.gate.set()
        await first
        assert [out for out, _ in await queued] == [4, 6]
        assert sorted(item for batch in recorder.batches for item in batch) == [1, 2, 3]
        await batcher.aclose()

    asyncio.run(scenario())


def test_a_failing_batch_fails_its_requests_and_the_worker_goes_on() -> None:
    def run(items: list[int]) -> list[int]:
        if -1 in items:
            raise RuntimeError("model exploded")
        return items

    async def scenario() -> None:
        batcher = DynamicBatcher(run, max_batch=1, max_wait_ms=0, queue_size=8)
        with pytest.raises(RuntimeError, match="model exploded"):
            await batcher.submit([-1])
        assert [out for out, _ in await batcher.submit([7])] == [7]
        await batcher.aclose()

    asyncio.run(scenario())


def test_close_finishes_queued_work_then_refuses_new_work() -> None:
    async def scenario() -> None:
        recorder = Recorder(hold=True)
        batcher = DynamicBatcher(recorder, max_batch=2, max_wait_ms=0, queue_size=16)
        tasks = [asyncio.create_task(batcher.submit([i])) for i in range(5)]
        await _entered(recorder)
        closing = asyncio.create_task(batcher.aclose())
        while batcher.healthy:
            await asyncio.sleep(0.005)
        with pytest.raises(BatcherClosed):
            await batcher.submit([99])
        recorder.gate.set()
        await closing
        assert [[out for out, _ in await task] for task in tasks] == [[0], [2], [4], [6], [8]]
        assert not batcher.healthy

    asyncio.run(scenario())
