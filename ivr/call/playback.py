"""Outbound audio: paced μ-law frames, marks, and `clear` for barge-in.

Twilio plays whatever we send as fast as we send it into a buffer; pacing frames at real time keeps that buffer short
so a ``clear`` silences the caller's ear at once, and the echoed ``mark`` tells us what the caller actually heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable

from ivr.audio.codec import FRAME_MS, frames
from ivr.telephony.protocol import clear_frame, mark_frame, media_frame

log = logging.getLogger(__name__)

Send = Callable[[str], Awaitable[None]]


class StreamClosed(Exception):
    """The media stream is gone (the caller hung up, the socket died): nothing more can be played."""


#: How far ahead of real time we keep Twilio's buffer: enough to ride out event-loop stalls under load. Barge-in does
#: not suffer from a longer lead: ``clear`` drops whatever Twilio has buffered.
LEAD_MS = 300
#: Frames go out in small bursts: one wake-up per ~60 ms instead of one per 20 ms frame (a third of the scheduling
#: work per call; the buffer never drops below LEAD_MS − BATCH_MS).
BATCH_MS = 60


class Speaker:
    """Plays one prompt at a time to a stream; knows which prompts the caller has heard to the end."""

    def __init__(self, stream_sid: str, send: Send, speed: float = 1.0) -> None:
        self._sid = stream_sid
        self._send = send
        self._speed = speed
        self._counter = itertools.count(1)
        self._pending: dict[str, asyncio.Future[bool]] = {}
        self._sent_marks: set[str] = set()
        self._playing: asyncio.Task[None] | None = None
        self.interruptible = False
        #: time.monotonic() when the first frame of the most recent prompt went out (for latency metrics)
        self.last_first_frame_at: float | None = None
        self.frames_sent = 0
        self.late_frames = 0

    @property
    def is_playing(self) -> bool:
        """True while frames are going out or the caller has not heard the end yet."""
        return (self._playing is not None and not self._playing.done()) or any(
            not f.done() for f in self._pending.values()
        )

    async def play(self, ulaw: bytes, key: str, *, interruptible: bool = True) -> str:
        """Send a prompt paced at real time, followed by a mark; returns the mark name. Cancelled by ``interrupt``."""
        name = f"{next(self._counter)}:{key}"
        self._pending[name] = asyncio.get_running_loop().create_future()
        self.interruptible = interruptible
        self._playing = asyncio.create_task(self._pace(ulaw, name))
        try:
            await self._playing
        except asyncio.CancelledError:
            # A barge-in cancels the prompt, and the caller's turn goes on. A hang-up cancels *us*: that must
            # propagate, or the call lingers waiting for a mark nobody will echo.
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
        return name

    async def _pace(self, ulaw: bytes, name: str) -> None:
        frame_s = FRAME_MS / 1000 / self._speed
        lead_s = LEAD_MS / 1000 / self._speed
        batch_s = BATCH_MS / 1000 / self._speed
        start = time.monotonic()
        self.last_first_frame_at = start
        for index, frame in enumerate(frames(ulaw)):
            due = start + index * frame_s - lead_s
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay + batch_s)  # then this frame and the next few are due: one burst
            elif delay < -lead_s and index > 0:
                # This frame reaches Twilio after its playout time: the caller hears a gap. (A prompt's first frame
                # starts the playout, so it can never be late.)
                self.late_frames += 1
            await self._send(media_frame(self._sid, frame))
            self.frames_sent += 1
        await self._send(mark_frame(self._sid, name))
        self._sent_marks.add(name)

    async def heard(self, name: str, within_s: float) -> bool:
        """Wait until Twilio echoes the mark (the caller heard the prompt, or it was cleared)."""
        future = self._pending.get(name)
        if future is None:
            return True
        try:
            return await asyncio.wait_for(asyncio.shield(future), within_s)
        except TimeoutError:
            log.warning("mark %s was not echoed within %.1fs", name, within_s)
            return False

    def on_mark(self, name: str) -> None:
        future = self._pending.pop(name, None)
        if future is not None and not future.done():
            future.set_result(True)

    async def interrupt(self) -> None:
        """Barge-in: stop sending and tell Twilio to drop what it buffered (it then echoes the pending marks)."""
        if self._playing is not None and not self._playing.done():
            self._playing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._playing
        await self._send(clear_frame(self._sid))
        for name in [n for n in self._pending if n not in self._sent_marks]:
            future = self._pending.pop(name)
            if not future.done():
                future.set_result(False)  # never sent, so Twilio will not echo it: the caller did not hear it all

    async def close(self) -> None:
        if self._playing is not None and not self._playing.done():
            self._playing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._playing
        for future in self._pending.values():
            if not future.done():
                future.set_result(False)
        self._pending.clear()
