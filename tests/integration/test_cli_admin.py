"""The operator's commands against a real SQLite store: purge asks first, users can be managed whole."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ivr.call.record import CallRecord
from ivr.store.repository import Store

IVR = str(Path(sys.executable).with_name("ivr"))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def ivr(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IVR_DATA_DIR": str(data_dir), "IVR_USER_PASSWORD": "correct horse battery"}
    return subprocess.run([IVR, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120)


def store_of(data_dir: Path) -> Store:
    return Store.open(f"sqlite:///{data_dir / 'warmline.db'}")


def _old_call(data_dir: Path) -> None:
    store = store_of(data_dir)
    try:
        store.call_started(CallRecord(call_sid="CA-old", language="nl", started=time.time() - 40 * 86400))
    finally:
        store.close()


def _calls(data_dir: Path) -> int:
    store = store_of(data_dir)
    try:
        return store.count_calls()
    finally:
        store.close()


def test_purge_asks_before_deleting_and_a_dry_run_deletes_nothing(data_dir: Path) -> None:
    _old_call(data_dir)
    dry = ivr(data_dir, "purge", "--older-than", "30d", "--dry-run")
    assert dry.returncode == 0 and "1 call(s)" in dry.stdout and "would be" in dry.stdout
    declined = ivr(data_dir, "purge", "--older-than", "30d", stdin="n\n")
    assert declined.returncode != 0 and "for good?" in declined.stdout
    assert _calls(data_dir) == 1
    confirmed = ivr(data_dir, "purge", "--older-than", "30d", stdin="y\n")
    assert confirmed.returncode == 0 and "purged 1 call(s)" in confirmed.stdout
    assert _calls(data_dir) == 0


def test_purge_with_yes_does_not_ask(data_dir: Path) -> None:
    _old_call(data_dir)
    done = ivr(data_dir, "purge", "--older-than", "30d", "--yes")
    assert done.returncode == 0 and "purged 1" in done.stdout and _calls(data_dir) == 0


def test_users_can_be_added_reset_promoted_and_removed_and_each_change_is_audited(data_dir: Path) -> None:
    assert ivr(data_dir, "users", "add", "sanne").returncode == 0
    new_password = ivr(data_dir, "users", "password", "sanne", "--password", "another good secret")
    assert new_password.returncode == 0
    assert ivr(data_dir, "users", "role", "sanne", "supervisor").returncode == 0
    store = store_of(data_dir)
    try:
        assert store.verify_user("sanne", "another good secret") is not None
        user = store.get_user("sanne")
        assert user is not None and user.role == "supervisor"
    finally:
        store.close()
    wrong_role = ivr(data_dir, "users", "role", "sanne", "admin")
    assert (
        wrong_role.returncode != 0
        and "role must be one of" in wrong_role.stderr
        and "Traceback" not in wrong_role.stderr
    )
    assert ivr(data_dir, "users", "remove", "sanne", "--yes").returncode == 0
    assert "sanne" not in ivr(data_dir, "users", "list").stdout
    store = store_of(data_dir)
    try:
        actions = [entry.action for entry in store.list_audit()]
    finally:
        store.close()
    assert {"user.add", "user.password", "user.role", "user.remove"} <= set(actions)
