"""Keeping calls no longer than the deployment allows (``IVR_RETENTION_DAYS``, ``ivr purge --older-than 30d``).

The server purges on a schedule through the store writer's thread, so a large delete never competes with a call's
turns for the event loop, and runs in order with them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from datetime import UTC, datetime, timedelta

from ivr.store.repository import Store
from ivr.store.writer import StoreWriter

log = logging.getLogger(__name__)

PURGE_EVERY_S = 3600.0
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([wdhm]?)\s*$", re.IGNORECASE)
_UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}


def parse_age(text: str) -> timedelta:
    """'30d', '12h', '2w', '90m' or a bare number of days → a timedelta; anything else is a clear ValueError."""
    match = _AGE.match(text)
    if match is None:
        raise ValueError(f"cannot read {text!r} as an age: use e.g. 30d, 12h, 2w or 90m")
    amount, unit = float(match.group(1)), (match.group(2) or "d").lower()
    return amount * _UNITS[unit]


def cutoff(age: timedelta, now: datetime | None = None) -> datetime:
    """Calls that started before this moment are older than ``age``."""
    return (now or datetime.now(UTC)) - age


async def purge_on_schedule(writer: StoreWriter, days: float, every_s: float = PURGE_EVERY_S) -> None:
    """Purge calls older than ``days`` now and then every ``every_s`` seconds, until cancelled."""
    age = timedelta(days=days)
    while True:
        writer.submit(functools.partial(Store.purge, older_than=cutoff(age)))
        await asyncio.sleep(every_s)
