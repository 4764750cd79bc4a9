"""Writing calls to the store without ever making a caller wait, and without ever losing a change.

The registry tells :class:`StoreWriter` about each change while the event loop is busy with a call's audio; the
writer only appends the change to a queue (microseconds) and returns. One thread takes changes off in order and
commits each in its own transaction straight away, so when the server dies only the change in flight is lost —
every completed turn is already on disk. Redaction happened before (the registry keeps nothing unredacted).

When the database is away — locked for a minute, restarting, its disk full — the write is retried with back-off for
as long as it takes, in order, so no change is dropped and no row is ever written half (a turn never creates a call
row its start did not write). Meanwhile changes pile up: in memory up to ``max_memory``, then in an on-disk journal
(bounded; the database's disk may be the full one), then in memory again up to ``max_total``; beyond that they are
dropped and counted. A change written twice (its commit landed, the acknowledgement did not) is recognised by the
database's unique keys and counted once. ``/readyz`` and ``/metrics`` show the backlog and the age of the oldest
unwritten change, so a load balancer stops sending calls to an instance whose database is away.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from ivr.call.record import CallbackRequest, CallEvent, CallRecord, Outcome, TransferRecord
from ivr.store.journal import Journal
from ivr.store.repository import Store, from_epoch

log = logging.getLogger(__name__)

Write = Callable[[Store], object]
ChangeKind = Literal[
    "call_opened", "event_added", "outcome_set", "call_finished", "transfer_added", "transfer_updated", "callback_added"
]
Stage = Literal["memory", "journal", "overflow"]

MAX_MEMORY = 20_000
MAX_TOTAL = 100_000
BACKOFF_START_S = 0.1
BACKOFF_MAX_S = 5.0


@dataclass(frozen=True, slots=True)
class Change:
    """One change to a call, as data: it can wait on disk and be applied after a restart."""

    kind: ChangeKind
    args: tuple[Any, ...]
    submitted: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        args = [a.model_dump(mode="json") if hasattr(a, "model_dump") else a for a in self.args]
        return {"kind": self.kind, "args": args, "at": self.submitted}

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> Change:
        kind: ChangeKind = entry["kind"]
        raw = list(entry["args"])
        models: dict[str, tuple[type[Any] | None, ...]] = {
            "call_opened": (CallRecord,),
            "event_added": (None, None, CallEvent),
            "outcome_set": (None, Outcome),
            "call_finished": (None, None, None),
            "transfer_added": (TransferRecord,),
            "transfer_updated": (TransferRecord,),
            "callback_added": (None, CallbackRequest),
        }
        args = tuple(m.model_validate(a) if m is not None else a for m, a in zip(models[kind], raw, strict=True))
        return cls(kind, args, float(entry.get("at", time.time())))

    def apply(self, store: Store) -> None:
        a = self.args
        if self.kind == "call_opened":
            store.call_started(a[0])
        elif self.kind == "event_added":
            store.add_turn(a[0], a[1], a[2])
        elif self.kind == "outcome_set":
            store.set_outcome(a[0], a[1])
        elif self.kind == "call_finished":
            store.call_ended(a[0], a[1], from_epoch(a[2]))
        elif self.kind == "transfer_added":
            store.add_transfer(a[0])
        elif self.kind == "transfer_updated":
            store.update_transfer(a[0])
        else:
            store.add_callback(a[0], a[1])


@dataclass(frozen=True, slots=True)
class Task:
    """Other work for the writer thread (a purge, a heartbeat): done in order, never journalled."""

    write: Write
    submitted: float = field(default_factory=time.time)


@dataclass
class WriterStats:
    """What the writer did: enough to see on /metrics whether the database keeps up."""

    written: int = 0
    failed: int = 0
    retried: int = 0
    dropped: int = 0
    journalled: int = 0
    duplicates: int = 0
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
                "dropped": self.dropped,
                "journalled": self.journalled,
                "duplicates": self.duplicates,
                "last_write_ms": round(self.last_write_ms, 3),
                "max_write_ms": round(self.max_write_ms, 3),
                "max_backlog": self.max_backlog,
            }


class StoreWriter:
    """A :class:`ivr.call.record.CallSink` that writes to a :class:`Store` from its own thread."""

    def __init__(
        self,
        store: Store,
        *,
        journal_path: Path | None = None,
        max_memory: int = MAX_MEMORY,
        max_total: int = MAX_TOTAL,
        backoff_max_s: float = BACKOFF_MAX_S,
    ) -> None:
        self.store = store
        self.stats = WriterStats()
        self._journal = Journal(journal_path) if journal_path is not None else None
        self._max_memory = max_memory
        self._max_total = max_total
        self._backoff_max_s = backoff_max_s
        self._queue: deque[Change | Task] = deque()
        self._overflow: deque[Change | Task] = deque()
        self._stage: Stage = "journal" if self._journal is not None and self._journal.count else "memory"
        self._cond = threading.Condition()
        self._in_flight: Change | Task | None = None  # being written now (perhaps retried)
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._closed = False
        self._stopping = False
        self._abandon = False
        if self._stage == "journal":
            log.warning("store journal holds %d change(s) from before; writing them first", self._journal_count())

    def start(self) -> StoreWriter:
        self._thread.start()
        return self

    # ── handing over (any thread, never blocks on the database) ───────────────────────────────────────────
    def submit(self, write: Write) -> None:
        """Queue ``write(store)`` to run on the writer thread, after everything queued before it."""
        self._put(Task(write))

    def _put(self, item: Change | Task) -> None:
        with self._cond:
            if self._closed:
                log.warning("store writer closed; a change was not written")
                return
            journal = self._journal
            room = self._max_memory if journal is not None else self._max_total
            if self._stage == "memory" and len(self._queue) < room:
                self._queue.append(item)
            elif isinstance(item, Task) and self.backlog < self._max_total:
                self._queue.append(item)  # purges and heartbeats are not worth a journal line
            elif (
                isinstance(item, Change)
                and self._stage != "overflow"
                and journal is not None
                and journal.append(item.to_json())
            ):
                self._stage = "journal"
                self.stats.journalled += 1
            elif journal is not None and len(self._queue) + len(self._overflow) < self._max_total:
                self._overflow.append(item)  # the journal is full or its disk is: memory again, in order
                self._stage = "overflow"
            else:
                self.stats.dropped += 1
                log.error("store writer backlog full (%d): a change was dropped", self.backlog)
                return
            self.stats.max_backlog = max(self.stats.max_backlog, self.backlog)
            self._cond.notify()

    def call_opened(self, record: CallRecord) -> None:
        self._put(Change("call_opened", (record,)))

    def event_added(self, call_sid: str, seq: int, event: CallEvent) -> None:
        self._put(Change("event_added", (call_sid, seq, event)))

    def outcome_set(self, call_sid: str, outcome: Outcome) -> None:
        self._put(Change("outcome_set", (call_sid, outcome)))

    def call_finished(self, call_sid: str, status: str, ended: float) -> None:
        self._put(Change("call_finished", (call_sid, status, ended)))

    def transfer_added(self, transfer: TransferRecord) -> None:
        self._put(Change("transfer_added", (transfer,)))

    def transfer_updated(self, transfer: TransferRecord) -> None:
        self._put(Change("transfer_updated", (transfer,)))

    def callback_added(self, transfer_id: str, request: CallbackRequest) -> None:
        self._put(Change("callback_added", (transfer_id, request)))

    # ── what operations see ───────────────────────────────────────────────────────────────────────────────
    @property
    def backlog(self) -> int:
        """Changes not written yet (in memory, in the journal, in flight)."""
        return len(self._queue) + len(self._overflow) + self._journal_count() + (self._in_flight is not None)

    def oldest_unwritten_s(self) -> float:
        """How long the oldest change still waiting has waited (0 when nothing waits)."""
        with self._cond:
            candidates = [self._in_flight.submitted] if self._in_flight is not None else []
            if self._queue:
                candidates.append(self._queue[0].submitted)
        return max(0.0, time.time() - min(candidates)) if candidates else 0.0

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything submitted so far is written (or failed); False if that took longer."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._cond:
                if self.backlog == 0 and self._stage == "memory":
                    return True
            time.sleep(0.005)
        return False

    def close(self, timeout_s: float = 30.0) -> None:
        """Write what is queued, then stop the thread (server shutdown). If the database does not take it within
        ``timeout_s``, what is left goes to the journal, to be written at the next start."""
        with self._cond:
            if self._closed:
                return
            self._stopping = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        with self._cond:
            self._closed = True
            self._abandon = True
        if self._thread.is_alive():
            self._thread.join(self._backoff_max_s + 1)
        pending = (self._in_flight, *self._queue, *self._overflow)
        left = [i for i in pending if isinstance(i, Change)]
        if left:
            kept = self._journal is not None and self._journal.prepend([c.to_json() for c in left])
            log.error(
                "store writer stopped with %d unwritten change(s) %s",
                len(left) + self._journal_count() - (len(left) if kept else 0),
                "kept in the journal for the next start" if kept else "that could not be kept",
            )

    # ── the thread ────────────────────────────────────────────────────────────────────────────────────────
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and self._stage == "memory" and not self._stopping:
                    self._cond.wait()
                if self._abandon:
                    return
                item = self._queue.popleft() if self._queue else None
                if item is None and self._stage == "memory":
                    return  # stopping, and everything is written
                self._in_flight = item
            if item is not None:
                if not self._write(item):
                    return
                with self._cond:
                    self._in_flight = None
            elif not self._drain_spill():
                return

    def _drain_spill(self) -> bool:
        """Write the journal, then the overflow, in order; back to memory when both are empty. False: abandon."""
        journal = self._journal
        if journal is not None and journal.count:
            with self._cond:  # appends happen under this lock too: read whole lines only
                count = journal.count
                entries = list(itertools.islice(journal.entries(), count))
            for entry in entries:
                change = Change.from_json(entry)
                with self._cond:
                    self._in_flight = change
                if not self._write(change):
                    return False
            with self._cond:
                self._in_flight = None
                journal.drop_first(count)
            return True
        with self._cond:
            item = self._overflow.popleft() if self._overflow else None
            if item is None:
                self._stage = "memory"
                return True
            self._in_flight = item
        if not self._write(item):
            return False
        with self._cond:
            self._in_flight = None
        return True

    def _write(self, item: Change | Task) -> bool:
        """Apply one item, retrying while the database is away. False only when the writer is abandoned."""
        started = time.perf_counter()
        delay = BACKOFF_START_S
        while True:
            try:
                if isinstance(item, Change):
                    item.apply(self.store)
                else:
                    item.write(self.store)
                break
            except IntegrityError as exc:
                if isinstance(item, Change):  # written before (a retry after a lost acknowledgement)
                    with self.stats._lock:
                        self.stats.duplicates += 1
                    return True
                self._failed(exc)
                return True
            except (OperationalError, DBAPIError, OSError) as exc:
                refused = (
                    isinstance(exc, DBAPIError)
                    and not isinstance(exc, OperationalError)
                    and not exc.connection_invalidated
                )
                if refused:
                    self._failed(exc)  # a statement the database refuses: retrying cannot help
                    return True
                with self.stats._lock:
                    self.stats.retried += 1
                reason = getattr(exc, "orig", None) or exc
                log.warning("store write failed (%s); retrying in %.1f s", str(reason).splitlines()[0], delay)
                if self._abandon:
                    return False
                time.sleep(delay)
                if self._abandon:
                    return False
                delay = min(delay * 2, self._backoff_max_s)
            except Exception as exc:
                self._failed(exc)
                return True
        elapsed_ms = (time.perf_counter() - started) * 1000
        with self.stats._lock:
            self.stats.written += 1
            self.stats.last_write_ms = elapsed_ms
            self.stats.max_write_ms = max(self.stats.max_write_ms, elapsed_ms)
        return True

    def _failed(self, exc: Exception) -> None:
        with self.stats._lock:
            self.stats.failed += 1
        log.error("store write dropped: %s", exc, exc_info=exc)

    def _journal_count(self) -> int:
        return self._journal.count if self._journal is not None else 0
