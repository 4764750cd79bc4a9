"""The Alembic migrations alone build the schema the models describe, on an empty SQLite or PostgreSQL database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from ivr.cli import app as cli
from ivr.store.db import StoreError, make_engine, upgrade
from ivr.store.models import Base

TABLES = {
    "calls",
    "turns",
    "transfers",
    "callbacks",
    "rule_versions",
    "users",
    "audit_log",
    "instances",
    "teachings",
    "revoked_sessions",
    "alembic_version",
}


def test_migrations_create_every_table_from_an_empty_database(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert set(inspect(engine).get_table_names()) == set()
        upgrade(engine)
        assert set(inspect(engine).get_table_names()) == TABLES
        with engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0003"
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert differences == []
    finally:
        engine.dispose()


def test_upgrading_an_up_to_date_database_changes_nothing(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        upgrade(engine)
        assert set(inspect(engine).get_table_names()) == TABLES
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/nested/dir/warmline.db")
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 10_000
    finally:
        engine.dispose()


def test_a_bad_database_url_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="IVR_DATABASE_URL"):
        make_engine("not a url")
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(StoreError, match="cannot migrate the store at postgresql"):
        upgrade(engine)


def test_servers_starting_at_once_on_a_fresh_database_do_not_race_the_migration(database_url: str) -> None:
    """Separate processes (as instances are), so only the database's own locking can keep them apart."""
    env = {**os.environ, "IVR_DATABASE_URL": database_url}
    ivr = str(Path(sys.executable).with_name("ivr"))
    starts = [subprocess.Popen([ivr, "db", "upgrade"], env=env, stderr=subprocess.PIPE) for _ in range(3)]
    failures = [p.stderr.read().decode() for p in starts if p.wait(120) != 0 and p.stderr is not None]
    assert failures == []
    engine = make_engine(database_url)
    try:
        assert set(inspect(engine).get_table_names()) == TABLES
    finally:
        engine.dispose()


def test_ivr_db_upgrade_migrates_the_configured_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'warmline.db'}"
    result = CliRunner().invoke(cli, ["db", "upgrade"], env={"IVR_DATABASE_URL": url})
    assert result.exit_code == 0 and "schema up to date" in result.output
    engine = make_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) == TABLES
    finally:
        engine.dispose()
