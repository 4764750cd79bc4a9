"""Real servers the tests start and stop themselves: PostgreSQL and Redis from their Debian packages, on free
loopback ports, in temporary directories.

CI installs the packages (scripts/install.sh) but starts no service. PostgreSQL's fixture runs ``initdb`` and
``pg_ctl`` — as the ``postgres`` OS user when the tests run as root, because PostgreSQL refuses to run as root.
Missing binaries fail the tests with a message saying what to install; only ``IVR_TEST_SKIP_POSTGRES=1`` turns that
into a skip (for a laptop without PostgreSQL).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis

from ivr.simulator.local import free_port

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


class ServiceError(RuntimeError):
    """A service could not be started (the message says what to install)."""


@contextmanager
def run_postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster on a free loopback port (for the tests' fixture and the benchmarks)."""
    bindir = _postgres_bindir()
    if bindir is None:
        raise ServiceError(
            "PostgreSQL binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin: "
            "install the Debian package `postgresql` (scripts/install.sh does)"
        )
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
        shutil.rmtree(directory, ignore_errors=True)
        raise ServiceError(f"PostgreSQL did not start: {started.stderr}\n{log}")
    try:
        yield PostgresServer(port, directory)
    finally:
        subprocess.run(run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        with run_postgres() as server:
            yield server
    except ServiceError as exc:
        if "not found" not in str(exc):
            raise
        if os.environ.get(SKIP_ENV) == "1":
            pytest.skip(f"{exc}; skipped because {SKIP_ENV}=1")
        pytest.fail(f"{exc}, or set {SKIP_ENV}=1 to skip the PostgreSQL half of the store tests")


@dataclass(frozen=True)
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True)


@contextmanager
def run_redis() -> Iterator[RedisServer]:
    """``redis-server`` on a free loopback port, without persistence (for the tests' fixture and the benchmarks)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceError(
            "redis-server not found: install the Debian package `redis-server` (scripts/install.sh does)"
        )
    directory = Path(tempfile.mkdtemp(prefix="warmline-redis-"))
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = RedisServer(port, process)
    client = server.client()
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise ServiceError(f"redis-server did not start (exit {process.poll()})") from None
                time.sleep(0.05)
        yield server
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """Each test picks its own key prefix or flushes."""
    with run_redis() as server:
        yield server
