"""Worker threads for blocking recogniser work, the caller who is waiting for an answer first.

Vosk (and the sentence encoder) release the GIL while they compute, so a few threads matching the cores set aside
for recognition keep the event loop — and every other call — moving. What they run is not all equally pressing:

* **bulk** — the audio of callers who are still talking. It must be decoded soon, but nobody waits on any one
  chunk: the caller is still speaking.
* **urgent** — everything between a caller falling silent and their answer: sealing the recogniser at a pause,
  judging it, the last chunks and the final result of a turn that ended, its sentence vector and voice features.

With one first-come queue, a burst of callers ending their turns at once waited behind the chunks of everyone
still talking (the capacity bench's tail at 48 calls). Here a free worker always takes the oldest urgent job
first, then the oldest bulk one. Bulk work only waits while urgent work is queued, which lasts as long as a burst
of turn ends; each call's own decode queue is bounded, so nothing fed from outside grows without limit.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar, TypeVarTuple

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True, slots=True)
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    result: Future[Any]


class DecodePool:
    """``workers`` threads; ``run(fn, *args, urgent=True)`` jumps the queue of bulk work."""

    def __init__(self, workers: int = 2) -> None:
        self.workers = workers
        self._ready = threading.Condition()
        self._urgent: deque[_Job] = deque()
        self._bulk: deque[_Job] = deque()
        self._closed = False
        #: jobs that started while bulk work was waiting (they would have queued behind it first come, first served)
        self.overtakes = 0
        self._threads = [threading.Thread(target=self._work, name=f"decode_{n}", daemon=True) for n in range(workers)]
        for thread in self._threads:
            thread.start()

    async def run(self, fn: Callable[[*Ts], T], *args: *Ts, urgent: bool = False) -> T:
        """Run ``fn(*args)`` on a worker thread and await its result; ``urgent`` work goes before bulk work.

        Cancelling the awaiting task drops the job if no worker has started it yet.
        """
        job = _Job(fn, tuple(args), Future())
        with self._ready:
            if self._closed:
                raise RuntimeError("the decode pool is shut down")
            (self._urgent if urgent else self._bulk).append(job)
            self._ready.notify()
        result: T = await asyncio.wrap_future(job.result)
        return result

    def queued(self) -> dict[str, int]:
        """Jobs waiting for a worker, by kind (for /metrics)."""
        with self._ready:
            return {"urgent": len(self._urgent), "bulk": len(self._bulk)}

    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting work; with ``wait``, finish what is queued first, else drop it."""
        with self._ready:
            self._closed = True
            if not wait:
                for job in (*self._urgent, *self._bulk):
                    job.result.cancel()
                self._urgent.clear()
                self._bulk.clear()
            self._ready.notify_all()
        if wait:
            for thread in self._threads:
                if thread is not threading.current_thread():
                    thread.join()

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._urgent and not self._bulk:
                    if self._closed:
                        return
                    self._ready.wait()
                if self._urgent:
                    job = self._urgent.popleft()
                    if self._bulk:
                        self.overtakes += 1
                else:
                    job = self._bulk.popleft()
            if not job.result.set_running_or_notify_cancel():
                continue  # its caller stopped waiting before it started
            try:
                job.result.set_result(job.fn(*job.args))
            except BaseException as exc:  # handed to the awaiting task, which re-raises it
                job.result.set_exception(exc)
