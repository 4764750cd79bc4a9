"""Twilio's side of the agent-assist fork: the ``<Start><Stream track="both_tracks">`` copy of a transferred call.

Twilio opens it (signed handshake, ``connected``, ``start`` with both tracks and the ``<Parameter>`` values) as
soon as the transfer TwiML runs, sends 20 ms ``media`` frames of each track — ``inbound`` is the caller,
``outbound`` what the caller hears: the hold audio, then the colleague — and ``stop`` when the call ends or a
``<Stop><Stream name>`` stops it. The simulator carries, in real time, the ``on_hold`` lines before the colleague
takes the call and the ``lines`` of the conversation after, and notes when each line's last sound was sent.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import websockets
from websockets.exceptions import ConnectionClosed

from ivr.audio.codec import FRAME_BYTES, FRAME_MS, TELEPHONE_RATE, Pcm, rms_dbfs, ulaw_encode
from ivr.simulator.turns import speak

Speaker = Literal["caller", "agent"]
#: the track each speaker is heard on, in the fork of the caller's leg
TRACKS: dict[Speaker, str] = {"caller": "inbound", "agent": "outbound"}
_SILENCE = b"\xff" * FRAME_BYTES


@dataclass(frozen=True, slots=True)
class ForkSpec:
    """The ``<Start><Stream>`` of a transfer TwiML."""

    url: str
    name: str
    track: str
    parameters: dict[str, str]


def parse_fork(root: ET.Element) -> ForkSpec | None:
    stream = root.find("Start/Stream")
    if stream is None:
        return None
    parameters = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
    return ForkSpec(stream.get("url", ""), stream.get("name", ""), stream.get("track", "inbound_track"), parameters)


def stops_fork(root: ET.Element, name: str) -> bool:
    """Whether TwiML holds ``<Stop><Stream name=…>`` for this fork."""
    return any(stream.get("name") == name for stream in root.findall("Stop/Stream"))


@dataclass(frozen=True, slots=True)
class Line:
    speaker: Speaker
    text: str
    audio: Pcm


@dataclass
class Conversation:
    """What is said over the fork: ``on_hold`` before a colleague takes the call (what the copy carries then —
    Warmline must not transcribe it), ``lines`` after, with ``gap_s`` of silence between lines. ``start``, when
    given, is awaited before the first line (a test opening the agent page first)."""

    lines: list[Line]
    on_hold: list[Line] = field(default_factory=list)
    gap_s: float = 1.0
    start: Callable[[], Awaitable[None]] | None = None


def conversation(
    lines: Sequence[tuple[Speaker, str]],
    language: str,
    *,
    on_hold: Sequence[tuple[Speaker, str]] = (),
    start: Callable[[], Awaitable[None]] | None = None,
) -> Conversation:
    """A conversation rendered with espeak-ng (the colleague a little lower and slower than the caller)."""

    def render(items: Sequence[tuple[Speaker, str]]) -> list[Line]:
        return [
            Line(who, text, speak(text, language, pitch=35, rate=140) if who == "agent" else speak(text, language))
            for who, text in items
        ]

    return Conversation(render(lines), render(on_hold), start=start)


@dataclass(frozen=True, slots=True)
class SpokenLine:
    """A line as sent: ``ended_at`` is the wall-clock time (``time.time()``) its last frame left the simulator."""

    speaker: Speaker
    text: str
    ended_at: float


@dataclass
class ForkResult:
    spoken: list[SpokenLine] = field(default_factory=list)
    #: the fork was stopped by ``<Stop><Stream>`` (not by the end of the call)
    stopped_by_twiml: bool = False
    close_code: int | None = None
    frames_sent: int = 0


class SimulatedFork:
    """One fork stream, open from the transfer TwiML until the call ends or TwiML stops it."""

    def __init__(
        self, spec: ForkSpec, call_sid: str, account_sid: str, headers: dict[str, str], conversation: Conversation
    ) -> None:
        self.spec = spec
        self.call_sid = call_sid
        self._account_sid = account_sid
        self._headers = headers
        self._conversation = conversation
        self.result = ForkResult()
        self._ws: websockets.ClientConnection | None = None
        self._seq = 0
        self._chunk = 0
        self._stream_sid = "MZ" + secrets.token_hex(16)

    async def open(self) -> None:
        """The handshake and ``start``, then what the copy carries while the caller is on hold."""
        self._ws = await websockets.connect(self.spec.url, additional_headers=self._headers)
        await self._ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        start = {
            "accountSid": self._account_sid,
            "streamSid": self._stream_sid,
            "callSid": self.call_sid,
            "tracks": ["inbound", "outbound"],
            "customParameters": self.spec.parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": TELEPHONE_RATE, "channels": 1},
        }
        await self._send({"event": "start", "start": start})
        if self._conversation.on_hold:
            await self._speak(self._conversation.on_hold, record=False)

    async def converse(self) -> None:
        """A colleague took the call: the two talk, line by line, in real time."""
        if self._conversation.start is not None:
            await self._conversation.start()
        await self._speak(self._conversation.lines, record=True)

    async def stop(self, *, by_twiml: bool = False) -> None:
        if self._ws is None:
            return
        ws, self._ws = self._ws, None
        self.result.stopped_by_twiml = by_twiml
        with contextlib.suppress(ConnectionClosed):
            await self._send_on(
                ws, {"event": "stop", "stop": {"accountSid": self._account_sid, "callSid": self.call_sid}}
            )
            await ws.close()
        self.result.close_code = ws.close_code

    # ── internals ──────────────────────────────────────────────────────────────────────────────────────────
    async def _speak(self, lines: Sequence[Line], *, record: bool) -> None:
        tick = FRAME_MS / 1000
        next_at = time.monotonic()
        gap = [_SILENCE] * int(self._conversation.gap_s * 1000 / FRAME_MS)
        for line in lines:
            data = ulaw_encode(line.audio)
            frames = [data[i : i + FRAME_BYTES].ljust(FRAME_BYTES, b"\xff") for i in range(0, len(data), FRAME_BYTES)]
            last_loud = _last_loud_frame(line.audio)
            for index, frame in enumerate([*frames, *gap]):
                tracks = {track: _SILENCE for track in TRACKS.values()}
                if index < len(frames):
                    tracks[TRACKS[line.speaker]] = frame
                for track, payload in tracks.items():
                    await self._media(track, payload)
                self._chunk += 1
                if record and index == last_loud:
                    self.result.spoken.append(SpokenLine(line.speaker, line.text, time.time()))
                next_at += tick
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def _media(self, track: str, payload: bytes) -> None:
        media = {
            "track": track,
            "chunk": str(self._chunk),
            "timestamp": str(self._chunk * FRAME_MS),
            "payload": base64.b64encode(payload).decode(),
        }
        await self._send({"event": "media", "media": media})
        self.result.frames_sent += 1

    async def _send(self, event: dict[str, object]) -> None:
        if self._ws is not None:
            await self._send_on(self._ws, event)

    async def _send_on(self, ws: websockets.ClientConnection, event: dict[str, object]) -> None:
        self._seq += 1
        await ws.send(json.dumps({**event, "sequenceNumber": str(self._seq), "streamSid": self._stream_sid}))


def _last_loud_frame(audio: Pcm, dbfs: float = -40.0) -> int:
    """The index of the last 20 ms frame with sound in it: where the speaker stopped talking."""
    count = max(1, -(-len(audio) // FRAME_BYTES))
    for index in range(count - 1, -1, -1):
        frame = audio[index * FRAME_BYTES : (index + 1) * FRAME_BYTES]
        if frame.size and rms_dbfs(frame) > dbfs:
            return index
    return count - 1
