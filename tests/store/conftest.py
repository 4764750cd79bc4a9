"""Store tests run against SQLite and a real PostgreSQL server this fixture starts and stops itself.

The server comes from :mod:`tests.services` (``postgres_server``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from ivr.store.db import make_engine
from ivr.store.repository import Store
from tests.services import PostgresServer


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warmline.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store.open(database_url)
    try:
        yield opened
    finally:
        opened.close()


@contextlib.contextmanager
def locked_tables(database_url: str, seconds: float | None = None) -> Iterator[threading.Event]:
    """Another client holds the call tables (in the background) until ``seconds`` pass or the yielded event is set;
    the database makes every writer wait (PostgreSQL) or fail with "locked" (SQLite) meanwhile."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        engine = make_engine(database_url)
        try:
            with engine.connect() as connection:
                if engine.dialect.name == "sqlite":
                    connection.exec_driver_sql("BEGIN EXCLUSIVE")
                else:
                    connection.execute(text("LOCK TABLE calls, turns IN EXCLUSIVE MODE"))
                locked.set()
                release.wait(seconds if seconds is not None else 60)
                connection.rollback()
        finally:
            engine.dispose()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10), "could not lock the tables"
    try:
        yield release
    finally:
        if seconds is None:
            release.set()
        holder.join()
