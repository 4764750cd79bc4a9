"""Writing calls to the store without ever making a caller wait.

The registry tells :class:`StoreWriter` about each change while the event loop is busy with a call's audio; the
writer only puts the change on a queue (microseconds) and returns. One thread takes changes off the queue in order
and commits each in its own transaction straight away, so when the server dies only the change in flight is lost —
every completed turn is already on disk. Redaction happens on that thread too: the regexes cost the loop nothing.

A database that is briefly unreachable (PostgreSQL restarting) is retried a few times; a change that still fails
is logged and dropped, and the calls go on — losing a log line beats stalling a caller.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import OperationalError

from ivr.call.record import CallbackRequest, CallEvent, CallRecord, Outcome, TransferRecord
from ivr.store.repository import Store, from_epoch

log = logging.getLogger(__name__)

Write = Callable[[Store], object]
RETRY_DELAYS_S = (0.2, 1.0, 3.0)


@dataclass
class WriterStats:
    """What the writer did: enough to see on /metrics whether the database keeps up."""

    written: int = 0
    failed: int = 0
    retried: int = 0
    last_write_ms: float = 0.0
    max_write_ms: float = 0.0
    max_backlog: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return {
                "written": self.written,
                "failed": self.failed,
                "retried": self.retried,
                "last_write_ms": round(self.last_write_ms, 3),
                "max_write_ms": round(self.max_write_ms, 3),
                "max_backlog": self.max_backlog,
            }


class StoreWriter:
    """A :class:`ivr.call.record.CallSink` that writes to a :class:`Store` from its own thread."""

    _STOP = object()

    def __init__(self, store: Store, *, retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S) -> None:
        self.store = store
        self.stats = WriterStats()
        self._retry_delays = retry_delays_s
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._closed = False

    def start(self) -> StoreWriter:
        self._thread.start()
        return self

    # ── handing over (any thread, never blocks) ───────────────────────────────────────────────────────────
    def submit(self, write: Write) -> None:
        """Queue ``write(store)`` to run on the writer thread, after everything queued before it."""
        if self._closed:
            log.warning("store writer closed; a change was not written")
            return
        self._queue.put(write)
        backlog = self._queue.qsize()
        if backlog > self.stats.max_backlog:
            self.stats.max_backlog = backlog

    def call_opened(self, record: CallRecord) -> None:
        self.submit(lambda store: store.call_started(record))

    def event_added(self, call_sid: str, seq: int, event: CallEvent) -> None:
        self.submit(lambda store: store.add_turn(call_sid, seq, event))

    def outcome_set(self, call_sid: str, outcome: Outcome) -> None:
        self.submit(lambda store: store.set_outcome(call_sid, outcome))

    def call_finished(self, call_sid: str, status: str, ended: float) -> None:
        self.submit(lambda store: store.call_ended(call_sid, status, from_epoch(ended)))

    def transfer_added(self, transfer: TransferRecord) -> None:
        self.submit(lambda store: store.add_transfer(transfer))

    def transfer_updated(self, transfer: TransferRecord) -> None:
        self.submit(lambda store: store.update_transfer(transfer.transfer_id, transfer.status))

    def callback_added(self, transfer_id: str, request: CallbackRequest) -> None:
        self.submit(lambda store: store.add_callback(transfer_id, request))

    # ── waiting (tests, shutdown) ─────────────────────────────────────────────────────────────────────────
    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything queued so far is written (or failed); False if that took longer than ``timeout_s``."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout_s)

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def close(self, timeout_s: float = 30.0) -> None:
        """Write what is queued, then stop the thread (server shutdown)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(self._STOP)
        if self._thread.is_alive():
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.error("store writer did not drain within %.0fs; %d change(s) not written", timeout_s, self.backlog)

    # ── the thread ────────────────────────────────────────────────────────────────────────────────────────
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is self._STOP:
                return
            if isinstance(item, threading.Event):
                item.set()  # a flush: everything before it is written
                continue
            self._write(item)  # type: ignore[arg-type]

    def _write(self, write: Write) -> None:
        started = time.perf_counter()
        for attempt in range(len(self._retry_delays) + 1):
            try:
                write(self.store)
                break
            except OperationalError as exc:  # connection lost, database locked: worth another try
                if attempt == len(self._retry_delays):
                    self._failed(exc)
                    return
                self.stats.retried += 1
                log.warning("store write failed (%s); retrying", exc.orig or exc)
                time.sleep(self._retry_delays[attempt])
            except Exception as exc:
                self._failed(exc)
                return
        elapsed_ms = (time.perf_counter() - started) * 1000
        with self.stats._lock:
            self.stats.written += 1
            self.stats.last_write_ms = elapsed_ms
            self.stats.max_write_ms = max(self.stats.max_write_ms, elapsed_ms)

    def _failed(self, exc: Exception) -> None:
        with self.stats._lock:
            self.stats.failed += 1
        log.error("store write dropped: %s", exc, exc_info=exc)
