"""Slowing down password guessing on the console's login form.

Argon2 makes each guess expensive, but nothing stopped a script from trying all night. Failed logins are counted
per (client address, user name) and per client address over a sliding window; past the limit the form answers
429 with ``Retry-After`` until the oldest failure leaves the window — even for the right password, or a guesser
would learn when they hit it. A successful login clears its pair. Counting per pair (not per user name alone)
keeps a stranger from locking a supervisor out of their own console.

In memory, per process: Warmline runs one server process (``ivr serve --workers`` > 1 is refused).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

#: failed logins allowed per (address, user name) and per address within the window
PAIR_LIMIT = 5
ADDRESS_LIMIT = 20
WINDOW_S = 15 * 60.0


@dataclass
class LoginThrottle:
    pair_limit: int = PAIR_LIMIT
    address_limit: int = ADDRESS_LIMIT
    window_s: float = WINDOW_S
    clock: Callable[[], float] = time.monotonic
    _failures: dict[tuple[str, ...], deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, address: str, username: str) -> int | None:
        """Seconds until this address may try this user name again, or None when it may try now."""
        now = self.clock()
        with self._lock:
            waits = [
                self._wait(key, limit, now)
                for key, limit in (((address, _fold(username)), self.pair_limit), ((address,), self.address_limit))
            ]
        longest = max(waits)
        return math.ceil(longest) if longest > 0 else None

    def failed(self, address: str, username: str) -> None:
        now = self.clock()
        with self._lock:
            for key in ((address, _fold(username)), (address,)):
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, address: str, username: str) -> None:
        with self._lock:
            self._failures.pop((address, _fold(username)), None)

    def _wait(self, key: tuple[str, ...], limit: int, now: float) -> float:
        times = self._failures.get(key)
        if not times:
            return 0.0
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
            return 0.0
        if len(times) < limit:
            return 0.0
        return times[-limit] + self.window_s - now


def _fold(username: str) -> str:
    return username.strip().casefold()
