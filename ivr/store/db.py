"""Connecting to the store and bringing its schema up to date.

SQLite is the default so a demo needs nothing installed; it runs in WAL mode so the console can read while the
writer thread commits, with a busy timeout so a reader and the writer wait for each other instead of failing, and
with foreign keys on (SQLite leaves them off), so purging a call removes its turns. PostgreSQL is chosen by URL
(``postgresql+psycopg://…``, psycopg 3).

The schema is Alembic's: :func:`upgrade` runs ``upgrade head`` from the migrations shipped inside the package, so
``uvicorn app:app`` on an empty data dir creates the database, and an old database is migrated at start-up.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url

from ivr.errors import IvrError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000


class StoreError(IvrError):
    """The store cannot be opened or migrated (bad URL, unreachable server, unknown driver…)."""


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout, its directory is created."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy.exc.ArgumentError, ValueError: say which setting is wrong
        raise StoreError(f"IVR_DATABASE_URL is not a database URL ({url!r}): {exc}") from exc
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3, not the psycopg2 SQLAlchemy defaults to
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}}
    try:
        engine = create_engine(parsed, **kwargs)
    except Exception as exc:  # missing driver module, bad options
        raise StoreError(f"cannot use IVR_DATABASE_URL {parsed.render_as_string(hide_password=True)}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across process crashes, fast commits
    finally:
        cursor.close()


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


#: PostgreSQL advisory lock key held while migrating: several instances starting at once against one fresh database
#: take turns instead of racing to create the same tables (one would fail with UniqueViolation)
MIGRATION_LOCK = 0x5741524D  # "WARM"


_MIGRATING = threading.Lock()  # Alembic loads its migration scripts through module-global state


@contextlib.contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """SQLite has no advisory locks: processes sharing a database file take turns through a lock file beside it."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    with open(f"{database}.migrate-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (Alembic ``upgrade``) over a connection of ``engine``. On PostgreSQL the
    migration runs under a transaction-scoped advisory lock, so concurrent starts migrate one after the other (the
    later ones find the schema at head and do nothing)."""
    config = alembic_config()
    try:
        with _MIGRATING, _sqlite_file_lock(engine), engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except IvrError:
        raise
    except Exception as exc:
        url = engine.url.render_as_string(hide_password=True)
        raise StoreError(f"cannot migrate the store at {url}: {exc}") from exc


def open_database(url: str) -> Engine:
    """An engine with the schema at head: what the server and the CLI use."""
    engine = make_engine(url)
    upgrade(engine)
    return engine
