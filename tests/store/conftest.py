"""Store tests run against SQLite and a real PostgreSQL server this fixture starts and stops itself.

CI installs the Debian ``postgresql`` package (scripts/install.sh) but starts no cluster: the fixture runs ``initdb``
and ``pg_ctl`` into a temporary directory on a free port — as the ``postgres`` OS user when the tests run as root,
because PostgreSQL refuses to run as root. Missing binaries fail the tests with a message saying what to install;
only ``IVR_TEST_SKIP_POSTGRES=1`` turns that into a skip (for a laptop without PostgreSQL).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from ivr.simulator.local import free_port
from ivr.store.db import make_engine
from ivr.store.repository import Store

SKIP_ENV = "IVR_TEST_SKIP_POSTGRES"
PG_USER = "warmline"


@dataclass(frozen=True)
class PostgresServer:
    port: int
    directory: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new, empty database on this server; returns its SQLAlchemy URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={PG_USER} dbname=postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _postgres_bindir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def _as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL will not run as root: as root, run it as the ``postgres`` user the Debian package creates."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _postgres_bindir()
    if bindir is None:
        message = (
            "PostgreSQL binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin: "
            "install the Debian package `postgresql` (scripts/install.sh does)"
        )
        if os.environ.get(SKIP_ENV) == "1":
            pytest.skip(f"{message}; skipped because {SKIP_ENV}=1")
        pytest.fail(f"{message}, or set {SKIP_ENV}=1 to skip the PostgreSQL half of the store tests")
    directory = Path(tempfile.mkdtemp(prefix="warmline-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, user="postgres", group="postgres")
    data = directory / "data"
    port = free_port()
    run = _as_server_user
    subprocess.run(
        run([str(bindir / "initdb"), "-D", str(data), "-U", PG_USER, "--auth=trust", "-E", "UTF8", "--no-sync"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    started = subprocess.run(
        run(
            [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(directory / "server.log"), "-o", options, "-w", "start"]
        ),
        capture_output=True,
        text=True,
    )
    if started.returncode != 0:
        log = (directory / "server.log").read_text(errors="replace") if (directory / "server.log").exists() else ""
        pytest.fail(f"PostgreSQL did not start: {started.stderr}\n{log}")
    try:
        yield PostgresServer(port, directory)
    finally:
        subprocess.run(run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)


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
