"""Limits on what one caller's stream may make the server do: audio no faster than a phone line sends it.

Twilio sends 8 kHz μ-law in real time. A stream that sends faster (a replay, a bug, an attacker with a leaked token)
would make the server decode and analyse audio as fast as it arrives, on the event loop every call shares. A token
bucket lets a burst through (network jitter delivers frames in clumps) and drops what goes beyond the line rate,
counted and logged once a second, so one stream can never cost the others their playout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

LINE_BYTES_PER_S = 8000  # 8 kHz μ-law
#: how much faster than the line a stream may send over a second or so (jitter, clumped frames)
RATE_SLACK = 1.5
BURST_S = 2.0


@dataclass
class AudioRateLimit:
    """A token bucket over μ-law bytes; ``speed`` is the line's pace (simulations run N× real time)."""

    call_sid: str
    speed: float = 1.0
    clock: Callable[[], float] = time.monotonic
    dropped_bytes: int = 0
    _tokens: float = field(init=False)
    _last: float = field(init=False)
    _last_log: float = field(init=False, default=-1e9)

    def __post_init__(self) -> None:
        self._tokens = self.capacity
        self._last = self.clock()

    @property
    def rate(self) -> float:
        return LINE_BYTES_PER_S * RATE_SLACK * self.speed

    @property
    def capacity(self) -> float:
        return LINE_BYTES_PER_S * BURST_S * self.speed

    def admit(self, size: int) -> bool:
        """Whether ``size`` more bytes of audio may be processed now."""
        now = self.clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if size <= self._tokens:
            self._tokens -= size
            return True
        self.dropped_bytes += size
        if now - self._last_log >= 1.0:
            self._last_log = now
            log.warning(
                "call %s: audio arrives faster than a phone line; dropped %d bytes so far",
                self.call_sid,
                self.dropped_bytes,
            )
        return False
