"""A server closes as interrupted only the live calls of servers that are gone, never a living neighbour's."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta

from sqlalchemy import update

from ivr.call.record import CallRecord
from ivr.store.models import Instance, utcnow
from ivr.store.ownership import Ownership
from ivr.store.repository import Store


def _open_call(store: Store, owner: Ownership, call_sid: str) -> None:
    store.instance_id = owner.instance_id
    store.call_started(CallRecord(call_sid=call_sid, language="nl", started=time.time()))


def _status(store: Store, call_sid: str) -> str:
    call = store.get_call(call_sid)
    assert call is not None
    return call.status


def test_a_second_server_leaves_a_live_neighbours_calls_alone(store: Store) -> None:
    first = Ownership(store, stale_after_s=30)
    first.register()
    _open_call(store, first, "CA-first")

    second = Ownership(store, stale_after_s=30)
    assert second.close_orphaned() == 0
    second.register()

    assert _status(store, "CA-first") == "in-progress"


def test_a_killed_servers_calls_are_closed_at_once_by_the_next_start(store: Store) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    killed = Ownership(store, stale_after_s=3600)
    killed.pid = dead.pid  # a server process on this host that no longer exists
    killed.register()
    _open_call(store, killed, "CA-killed")

    assert Ownership(store, stale_after_s=3600).close_orphaned() == 1
    assert _status(store, "CA-killed") == "interrupted"


def test_a_server_on_another_host_counts_as_gone_once_its_heartbeat_is_stale(store: Store) -> None:
    remote = Ownership(store, stale_after_s=30)
    remote.host = "elsewhere/0000"
    remote.register()
    _open_call(store, remote, "CA-remote")
    local = Ownership(store, stale_after_s=30)

    assert local.close_orphaned() == 0  # fresh heartbeat: alive, wherever it runs
    with store.session() as session:
        session.execute(
            update(Instance).where(Instance.id == remote.instance_id).values(heartbeat_at=utcnow() - timedelta(60))
        )
    assert local.close_orphaned() == 1
    assert _status(store, "CA-remote") == "interrupted"


def test_a_clean_shutdown_closes_its_own_calls_only(store: Store) -> None:
    leaving = Ownership(store, stale_after_s=30)
    leaving.register()
    _open_call(store, leaving, "CA-leaving")
    staying = Ownership(store, stale_after_s=30)
    staying.register()
    _open_call(store, staying, "CA-staying")

    assert leaving.stop() == 1
    assert _status(store, "CA-leaving") == "interrupted"
    assert _status(store, "CA-staying") == "in-progress"


def test_calls_stored_before_ownership_existed_are_closed_as_before(store: Store) -> None:
    store.call_started(CallRecord(call_sid="CA-legacy", language="nl"))  # no instance recorded
    assert Ownership(store, stale_after_s=30).close_orphaned() == 1
    assert _status(store, "CA-legacy") == "interrupted"
