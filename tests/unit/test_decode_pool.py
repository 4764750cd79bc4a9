"""The decode pool runs the work a waiting caller needs before the audio of callers still talking."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import pytest

from ivr.speech.decode_pool import DecodePool


async def _hold_the_only_worker(pool: DecodePool, gate: threading.Event) -> asyncio.Future[bool]:
    """Occupy the pool's single worker until ``gate`` is set: what is submitted next has to queue."""
    blocker = asyncio.ensure_future(pool.run(gate.wait))
    await asyncio.sleep(0.05)
    return blocker


async def test_a_free_worker_takes_urgent_work_before_older_bulk_work() -> None:
    pool = DecodePool(workers=1)
    gate = threading.Event()
    order: list[str] = []
    try:
        blocker = await _hold_the_only_worker(pool, gate)
        bulk = [asyncio.ensure_future(pool.run(order.append, f"chunk {n}")) for n in range(3)]
        await asyncio.sleep(0.01)
        final = asyncio.ensure_future(pool.run(order.append, "final", urgent=True))
        await asyncio.sleep(0.01)
        assert pool.queued() == {"urgent": 1, "bulk": 3}
        gate.set()
        await asyncio.gather(blocker, final, *bulk)
    finally:
        pool.shutdown()

    assert order == ["final", "chunk 0", "chunk 1", "chunk 2"]  # bulk keeps its own order
    assert pool.overtakes == 1


async def test_work_is_spread_over_every_worker() -> None:
    pool = DecodePool(workers=2)
    both = threading.Barrier(2, timeout=5)
    try:
        # Each job waits for the other: only two workers at once can finish them.
        await asyncio.gather(pool.run(both.wait), pool.run(both.wait, urgent=True))
    finally:
        pool.shutdown()


async def test_an_error_reaches_the_caller_and_the_worker_keeps_going() -> None:
    pool = DecodePool(workers=1)

    def fail() -> None:
        raise ValueError("native said no")

    try:
        with pytest.raises(ValueError, match="native said no"):
            await pool.run(fail, urgent=True)
        assert await pool.run(sum, [1, 2, 3]) == 6
    finally:
        pool.shutdown()


async def test_a_job_whose_caller_stopped_waiting_is_never_run() -> None:
    pool = DecodePool(workers=1)
    gate = threading.Event()
    ran: list[str] = []
    try:
        blocker = await _hold_the_only_worker(pool, gate)
        dropped = asyncio.ensure_future(pool.run(ran.append, "dropped"))
        await asyncio.sleep(0.01)
        dropped.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await dropped
        # The cancellation reaches the queued job through a loop callback: free the worker only after it has, or a
        # busy machine lets the worker take the job first (a started job runs, as documented).
        await asyncio.sleep(0.01)
        gate.set()
        await blocker
        await pool.run(ran.append, "kept")
    finally:
        pool.shutdown()

    assert ran == ["kept"]


async def test_after_shutdown_new_work_is_refused_and_queued_work_was_finished() -> None:
    pool = DecodePool(workers=1)
    done: list[int] = []
    pending = [asyncio.ensure_future(pool.run(done.append, n)) for n in range(5)]
    await asyncio.sleep(0.01)
    await asyncio.to_thread(pool.shutdown)
    await asyncio.gather(*pending)

    assert done == [0, 1, 2, 3, 4]
    with pytest.raises(RuntimeError, match="shut down"):
        await pool.run(done.append, 5)
