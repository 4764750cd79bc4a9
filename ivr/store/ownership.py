"""Which server owns which live call, so a server starting up never closes a living neighbour's calls.

Every server process registers itself (an :class:`Instance` row: host, pid, heartbeat) and stamps the calls it takes.
A call left "in-progress" counts as interrupted only when its owner is gone:

- it said it stopped (a clean shutdown), or
- it ran on this host and its process no longer exists (a killed server: known at once, no waiting), or
- its heartbeat is older than ``stale_after_s`` (a server on another host that died), or
- the call predates ownership (no owner recorded) or names an owner the store never heard of.

So a second server started by mistake on a busy port, or a second instance on the same database, leaves the first
one's calls alone, while a restart after ``kill -9`` still closes its predecessor's calls at once.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from ivr.store.models import Call, Instance, utcnow
from ivr.store.repository import IN_PROGRESS, Store

log = logging.getLogger(__name__)


def this_host() -> str:
    """The host name plus the kernel's boot id: a pid is only meaningful on the same machine, same boot."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()[:8]
    except OSError:
        boot = "-"
    return f"{socket.gethostname()}/{boot}"[:255]


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is just not ours
    return True


class Ownership:
    """This process as a call owner: register, heartbeat, stop, and close the calls of owners that are gone."""

    def __init__(
        self,
        store: Store,
        *,
        stale_after_s: float,
        instance_id: str | None = None,
        still_live: Callable[[str], bool] | None = None,
    ) -> None:
        self.store = store
        #: with shared live state: a call another instance holds (or may still resume) is not interrupted
        self.still_live = still_live
        self.stale_after = timedelta(seconds=stale_after_s)
        self.host = this_host()
        self.pid = os.getpid()
        self.instance_id = instance_id or f"{socket.gethostname()[:32]}-{self.pid}-{uuid.uuid4().hex[:8]}"

    def register(self) -> None:
        """Record this process and stamp every call it takes from now on."""
        now = utcnow()
        with self.store.session() as session:
            session.add(Instance(id=self.instance_id, host=self.host, pid=self.pid, started_at=now, heartbeat_at=now))
        self.store.instance_id = self.instance_id

    def heartbeat(self) -> None:
        with self.store.session() as session:
            session.execute(update(Instance).where(Instance.id == self.instance_id).values(heartbeat_at=utcnow()))

    def stop(self) -> int:
        """A clean shutdown: this process is gone, and so are the calls it still held (returns how many closed)."""
        with self.store.session() as session:
            session.execute(update(Instance).where(Instance.id == self.instance_id).values(stopped_at=utcnow()))
        return self.store.close_interrupted(owners={self.instance_id}, still_live=self.still_live)

    def gone_owners(self) -> set[str | None]:
        """Owners of in-progress calls that will not finish them."""
        now = utcnow()
        gone: set[str | None] = set()
        with self.store.session() as session:
            owners = set(session.scalars(select(Call.instance_id).where(Call.status == IN_PROGRESS).distinct()))
            known = {i.id: i for i in session.scalars(select(Instance).where(Instance.id.in_(owners - {None})))}
        for owner in owners:
            instance = known.get(owner) if owner is not None else None
            if owner == self.instance_id:
                continue
            stopped = instance is None or instance.stopped_at is not None
            killed = instance is not None and instance.host == self.host and not process_exists(instance.pid)
            silent = instance is not None and now - instance.heartbeat_at > self.stale_after
            if stopped or killed or silent:
                gone.add(owner)
        return gone

    def close_orphaned(self) -> int:
        """Close, as interrupted, the live calls whose owner is gone; returns how many."""
        gone = self.gone_owners()
        return self.store.close_interrupted(owners=gone, still_live=self.still_live) if gone else 0
