"""A database that is away — locked for a minute, or on a full disk — loses no change and writes no half row.

While it is away, calls go on (the hand-over never blocks), the backlog and the age of the oldest unwritten change
show it (``/readyz`` turns unready on that age), and once it is back every turn and every call end is written
exactly once, in order.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ivr.call.record import CallRegistry
from ivr.store.models import Call, Turn
from ivr.store.repository import Store
from ivr.store.writer import StoreWriter
from tests.services import PostgresServer
from tests.store.conftest import locked_tables

CALLS, TURNS = 4, 6


def _calls(registry: CallRegistry, prefix: str) -> None:
    """What a few calls tell the writer: start, turns, end."""
    for n in range(CALLS):
        sid = f"{prefix}{n}"
        registry.open(sid, "nl", caller="+31612345678")
        for i in range(TURNS):
            registry.add_event(sid, "caller", text=f"zin {i}", confidence=0.9)
        registry.finish(sid, "completed")


def _assert_written_once(store: Store, prefix: str) -> None:
    with store.session() as session:
        for n in range(CALLS):
            sid = f"{prefix}{n}"
            rows = session.scalars(select(Call).where(Call.call_sid == sid)).all()
            assert len(rows) == 1, sid
            call = rows[0]
            assert (call.language, call.caller_masked, call.status) == ("nl", "+316******78", "completed"), sid
            seqs = session.scalars(select(Turn.seq).where(Turn.call_id == call.id).order_by(Turn.seq)).all()
            assert list(seqs) == list(range(1, TURNS + 1)), sid
        total = session.scalar(select(func.count()).select_from(Turn))
    assert total == CALLS * TURNS


def _survives_a_minute_locked(database_url: str, journal: Path) -> None:
    store = Store.open(database_url)
    writer = StoreWriter(store, journal_path=journal, backoff_max_s=2.0).start()
    registry = CallRegistry(sink=writer)
    try:
        with locked_tables(database_url, 60):
            started = time.perf_counter()
            _calls(registry, "CA-lock-")
            assert time.perf_counter() - started < 0.5, "the calls never waited for the database"
            time.sleep(8)
            assert writer.backlog > 0 and writer.oldest_unwritten_s() > 5, "the backlog is visible (unready)"
        assert writer.flush(60)
        assert writer.oldest_unwritten_s() == 0
        _assert_written_once(store, "CA-lock-")
        assert writer.stats.failed == 0 and writer.stats.dropped == 0
    finally:
        writer.close()
        store.close()


@pytest.mark.slow
def test_a_database_locked_for_a_minute_loses_nothing(postgres_server: PostgresServer, tmp_path: Path) -> None:
    # SQLite and PostgreSQL are locked in the same minute, each in its own thread: one minute of the suite, not two.
    urls = {"sqlite": f"sqlite:///{tmp_path / 'warmline.db'}", "postgresql": postgres_server.create_database()}
    with ThreadPoolExecutor(max_workers=len(urls)) as pool:
        runs = {
            name: pool.submit(_survives_a_minute_locked, url, tmp_path / f"{name}.jsonl") for name, url in urls.items()
        }
    for name, run in runs.items():
        try:
            run.result()
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc


def test_changes_beyond_memory_wait_in_the_journal_and_survive_a_restart(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    journal = tmp_path / "journal.jsonl"
    writer = StoreWriter(store, journal_path=journal, max_memory=5, backoff_max_s=0.5).start()
    registry = CallRegistry(sink=writer)
    with locked_tables(database_url, 3):
        _calls(registry, "CA-spill-")
        assert writer.stats.journalled > 0 and journal.exists()
        writer.close(timeout_s=0.5)  # shut down while the database is still away
    assert journal.exists()
    restarted = StoreWriter(store, journal_path=journal).start()
    try:
        assert restarted.flush(60)
        _assert_written_once(store, "CA-spill-")
        assert not journal.exists()
    finally:
        restarted.close()


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs the test can fill (mounting needs root: CI runs as root, a laptop skips)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(path: Path) -> None:
    with contextlib.suppress(OSError), path.open("wb") as out:  # the disk fills up: that is the point
        while True:
            out.write(b"\0" * 65536)
            out.flush()
            os.fsync(out.fileno())


def test_a_full_data_disk_then_freed_loses_nothing(full_disk: Path) -> None:
    store = Store.open(f"sqlite:///{full_disk / 'warmline.db'}")
    writer = StoreWriter(store, journal_path=full_disk / "journal.jsonl", backoff_max_s=0.5).start()
    registry = CallRegistry(sink=writer)
    try:
        filler = full_disk / "filler"
        _fill(filler)
        _calls(registry, "CA-full-")
        time.sleep(2)
        assert writer.backlog > 0 and writer.stats.retried > 0, "the full disk was noticed"
        filler.unlink()
        assert writer.flush(60)
        _assert_written_once(store, "CA-full-")
        assert writer.stats.dropped == 0
    finally:
        writer.close()
        store.close()
