"""Draining an instance for a rolling deploy: stop taking calls, let live ones finish, hand the rest over, then exit.

SIGTERM (what a deploy sends) or ``POST /ops/drain`` starts it:

1. ``/readyz`` answers 503 "draining" at once, so the load balancer sends new calls elsewhere; a call that still
   reaches ``/twilio/voice`` here is treated like one beyond ``IVR_MAX_CALLS`` (one honest sentence, a person).
2. Live calls go on until they end, for at most ``IVR_DRAIN_TIMEOUT_S``.
3. Each call still live then is handed over: its media stream is closed cleanly, so Twilio asks ``/twilio/after-stream``
   — on whichever instance the load balancer picks — what happens next; nobody is dropped.
4. The store writer is flushed by the normal shutdown, and the process exits 0.

Uvicorn closes every WebSocket with 1012 when *it* shuts down, so the drain has to run before uvicorn's own handler:
the lifespan puts :func:`install_sigterm` in front of it and calls it only when the drain is done. ``/healthz`` stays
liveness only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ivr.call.session import CallSession

log = logging.getLogger(__name__)

#: how long handed-over streams get to close before the shutdown goes on regardless
HAND_OVER_GRACE_S = 5.0
#: after a hand-over, Twilio asks ``/twilio/after-stream`` within milliseconds; a load balancer that has not yet
#: noticed the drain may send that request here, so the instance answers webhooks this much longer
WEBHOOK_LINGER_S = 2.0


@dataclass
class Drain:
    """Whether this instance is draining, and the calls it still carries (process-local objects, not call state)."""

    sessions: set[CallSession] = field(default_factory=set)
    started_at: float | None = None
    handed_over: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    #: drain *and exit the process* (set when the SIGTERM handler is in place); None: drain only
    exit_after: Callable[[], None] | None = None
    _task: asyncio.Task[None] | None = None

    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    def enter(self, session: CallSession) -> None:
        self.sessions.add(session)
        self._idle.clear()

    def leave(self, session: CallSession) -> None:
        self.sessions.discard(session)
        if not self.sessions:
            self._idle.set()

    async def _until_idle(self, timeout_s: float) -> None:
        if self.sessions:
            self._idle.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout_s)

    def request(self, timeout_s: float) -> None:
        """``POST /ops/drain``: the same as SIGTERM where the process owns its signals, else drain only."""
        if self.exit_after is not None:
            self.exit_after()
        else:
            self.start(timeout_s)

    @property
    def active(self) -> bool:
        return self.started_at is not None

    def start(self, timeout_s: float) -> bool:
        """Begin draining (once); returns False when already draining."""
        if self._task is not None:
            return False
        self.started_at = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._run(timeout_s), name="drain")
        return True

    async def _run(self, timeout_s: float) -> None:
        log.warning("draining: no new calls; %d live call(s) may go on for up to %.0f s", len(self.sessions), timeout_s)
        await self._until_idle(timeout_s)
        remaining = list(self.sessions)
        for session in remaining:
            session.hand_over("this Warmline instance is shutting down (rolling deploy)")
        self.handed_over = len(remaining)
        if remaining:
            log.warning("draining: handed %d live call(s) over to another instance", len(remaining))
            await self._until_idle(HAND_OVER_GRACE_S)
            await asyncio.sleep(WEBHOOK_LINGER_S)
        log.warning("draining: done after %.1f s", time.monotonic() - (self.started_at or time.monotonic()))
        self.done.set()

    async def wait(self) -> None:
        await self.done.wait()


Handler = Callable[[int, FrameType | None], Any]


def install_sigterm(drain: Drain, timeout_s: float) -> Callable[[], None]:
    """On SIGTERM: drain first, then hand the signal to whoever handled it before (uvicorn), which shuts down.

    Returns a function that puts the previous handler back. Outside the main thread (tests that run the app in a
    thread) signals cannot be caught, and this does nothing.
    """
    try:
        previous = signal.getsignal(signal.SIGTERM)
        loop = asyncio.get_running_loop()
    except (ValueError, RuntimeError):
        return lambda: None

    def exit_after_drain() -> None:
        # Uvicorn's handler would record the signal and raise it again after its shutdown, so the process would
        # end "killed by SIGTERM"; a drained instance has done its job and exits 0. So ask its server to stop the
        # way its own handler does, without the signal.
        server = getattr(previous, "__self__", None)
        if server is not None and hasattr(server, "should_exit"):
            server.should_exit = True
        elif callable(previous):
            previous(signal.SIGTERM, None)
        else:  # nobody handled it before
            raise SystemExit(0)

    async def drain_then_exit() -> None:
        drain.start(timeout_s)
        await drain.wait()
        exit_after_drain()

    def begin() -> None:
        if not drain.active:
            loop.call_soon_threadsafe(lambda: loop.create_task(drain_then_exit(), name="drain-then-exit"))

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        begin()

    try:
        signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:  # not the main thread
        return lambda: None
    drain.exit_after = begin

    def restore() -> None:
        drain.exit_after = None
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signal.SIGTERM, previous)

    return restore
