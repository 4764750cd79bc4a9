"""The agent-assist fork: Twilio's one-way copy of both sides of a transferred call (``<Start><Stream
track="both_tracks">``), heard with the same recogniser as the rest of the call.

Warmline listens only once a colleague has taken the call — before that the copy carries the hold audio. Each
utterance becomes a redacted ``assist_caller``/``assist_agent`` event of the call, written to the store like every
other line (same retention), which the agent page streams live. The fork ends when Twilio stops it: the call ended,
or the offer (nobody took the call) stopped it.

Trust is the media stream's: Twilio's signature on the handshake, then the transfer id in the ``start`` parameters
with our signature for this purpose (:func:`ivr.transfer.links.sign_fork`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from ivr.audio.codec import pcm_to_bytes, ulaw_decode
from ivr.call.record import TransferRecord
from ivr.deps import WsRuntimeDep
from ivr.runtime import Runtime
from ivr.signals.distress import ConversationSignals, assess_distress
from ivr.speech.types import Recognizer
from ivr.speech.vad import Endpointer, SpeechEnded, SpeechStarted
from ivr.telephony.protocol import Media, ProtocolError, Start, Stop, parse_inbound
from ivr.telephony.signed import POLICY_VIOLATION, accept_twilio_socket
from ivr.transfer.assist import SPEAKER_EVENTS, Speaker
from ivr.transfer.links import verify_fork

log = logging.getLogger(__name__)

router = APIRouter(tags=["twilio"])

#: a pause this long ends a line of the transcript (shorter than a turn's: nobody waits on it)
ASSIST_SILENCE_MS = 600
#: how often a fork that is not listening yet looks whether a colleague has taken the call
LIVE_CHECK_S = 0.5
#: 20 ms frames handed to the recogniser at once (fewer thread hand-offs)
CHUNK_FRAMES = 5
#: audio before the endpointer is sure speech started, kept so the first syllable is heard
PREROLL_FRAMES = 15
#: chunks (of 100 ms) one side may have waiting for the recogniser; beyond, audio is dropped and logged
MAX_PENDING_CHUNKS = 100
#: how often a listening fork looks whether the call is over (Twilio's ``stop`` should say so; this is the net)
OVER_CHECK_S = 5.0
#: a fork that sends nothing this long is dead (Twilio sends a frame per track every 20 ms)
SILENT_FORK_S = 30.0
#: the caller's earlier lines a repeat is looked for in
_PREVIOUS_LINES = 5
_FRAME = 160
#: Twilio names the fork's tracks "inbound" (the caller, on the caller's leg) and "outbound" (what the caller hears)
_SPEAKERS: dict[str, Speaker] = {"inbound": "caller", "outbound": "agent"}


@dataclass(frozen=True, slots=True)
class _End:
    """The speaker paused: the line is complete."""


_Item = bytes | _End | None


@dataclass
class _Side:
    """One speaker's track: an endpointer deciding where lines end, and a worker feeding the recogniser."""

    speaker: Speaker
    endpointer: Endpointer = field(default_factory=lambda: Endpointer(trailing_silence_ms=ASSIST_SILENCE_MS))
    queue: asyncio.Queue[_Item] = field(default_factory=lambda: asyncio.Queue(MAX_PENDING_CHUNKS + 2))
    preroll: deque[np.ndarray] = field(default_factory=lambda: deque(maxlen=PREROLL_FRAMES))
    chunk: list[np.ndarray] = field(default_factory=list)
    pending: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    talking: bool = False
    #: frames of the line under way (a line that never pauses is cut at the call's longest turn)
    frames: int = 0
    dropped: int = 0
    worker: asyncio.Task[None] | None = None


class ForkListener:
    """Hears both sides of one transferred call and adds what each says to the call's events."""

    def __init__(self, runtime: Runtime, transfer: TransferRecord, call_sid: str) -> None:
        self._runtime = runtime
        self._transfer_id = transfer.transfer_id
        self.call_sid = call_sid
        self.language = transfer.language
        self._sides = {track: _Side(speaker) for track, speaker in _SPEAKERS.items()}
        self._caller_said: deque[str] = deque(maxlen=_PREVIOUS_LINES)
        self._max_line_frames = int(runtime.settings.max_utterance_s * 1000 / 20)
        self.live = False
        #: the call is over: the fork should have been stopped, and is closed now
        self.over = False
        self._checked = -LIVE_CHECK_S

    async def feed(self, track: str, ulaw: bytes) -> None:
        if not self.listening():
            return
        now = time.monotonic()
        if now - self._checked >= OVER_CHECK_S:
            self._checked = now
            record = self._runtime.registry.get(self.call_sid)
            self.over = record is None or record.ended is not None
        side = self._sides.get(track.removesuffix("_track"))
        if side is None:
            return
        samples = np.concatenate([side.pending, ulaw_decode(ulaw)])
        whole = len(samples) - len(samples) % _FRAME
        side.pending = samples[whole:]
        for offset in range(0, whole, _FRAME):
            self._frame(side, samples[offset : offset + _FRAME])

    async def close(self) -> None:
        """The fork ended: finish the lines under way, then let the recognisers go."""
        for side in self._sides.values():
            if side.worker is None:
                continue
            if side.talking:
                self._push(side, pcm_to_bytes(np.concatenate(side.chunk)) if side.chunk else b"", force=True)
                self._push(side, _End(), force=True)
            self._push(side, None, force=True)
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(side.worker, timeout=15)
            if side.dropped:
                log.warning(
                    "call %s: agent assist dropped %d chunks of %s audio", self.call_sid, side.dropped, side.speaker
                )

    # ── internals ──────────────────────────────────────────────────────────────────────────────────────────
    def listening(self) -> bool:
        """Whether a colleague has the call (checked every half second until they do): before, it is hold audio."""
        if self.live:
            return True
        now = time.monotonic()
        if now - self._checked < LIVE_CHECK_S:
            return False
        self._checked = now
        transfer = self._runtime.registry.get_transfer(self._transfer_id)
        if transfer is None or not transfer.taken:
            return False
        self.live = True
        log.info("call %s: a colleague took the call; agent assist listens", self.call_sid)
        for side in self._sides.values():
            side.worker = asyncio.create_task(self._recognise(side), name=f"assist-{side.speaker}-{self.call_sid}")
        return True

    def _frame(self, side: _Side, frame: np.ndarray) -> None:
        event = side.endpointer.feed(frame)
        if side.talking:
            side.chunk.append(frame)
        else:
            side.preroll.append(frame)
        side.frames += 1
        if side.talking and side.frames >= self._max_line_frames:
            side.endpointer.reset()  # a radio, or someone reading aloud: the line so far is a line
            event = SpeechEnded(speech_ms=side.frames * 20)
        if isinstance(event, SpeechStarted) and not side.talking:
            side.talking = True
            side.frames = 0
            side.chunk = list(side.preroll)
            side.preroll.clear()
        elif isinstance(event, SpeechEnded) and side.talking:
            side.talking = False
            self._push(side, pcm_to_bytes(np.concatenate(side.chunk)), force=True)
            side.chunk = []
            self._push(side, _End(), force=True)
            return
        if side.talking and len(side.chunk) >= CHUNK_FRAMES:
            self._push(side, pcm_to_bytes(np.concatenate(side.chunk)))
            side.chunk = []

    def _push(self, side: _Side, item: _Item, *, force: bool = False) -> None:
        """Queue for the recogniser; audio beyond the bound is dropped (counted), line ends and the close never."""
        if not force and side.queue.qsize() >= MAX_PENDING_CHUNKS:
            side.dropped += 1
            return
        with contextlib.suppress(asyncio.QueueFull):
            side.queue.put_nowait(item)

    async def _recognise(self, side: _Side) -> None:
        deps = self._runtime.session_deps
        recognizer: Recognizer | None = None
        try:
            while (item := await side.queue.get()) is not None:
                if recognizer is None:
                    recognizer = await deps.pool.run(deps.recognizers.new_recognizer, f"{self.call_sid}/{side.speaker}")
                if isinstance(item, _End):
                    transcript = await deps.pool.run(recognizer.final)
                    if transcript.text.strip():
                        self._heard(side.speaker, transcript.text.strip())
                elif item:
                    await deps.pool.run(recognizer.accept, item)
        except Exception:  # one side's recogniser failing must not end the call's other side or the call
            log.exception("call %s: agent assist stopped hearing the %s", self.call_sid, side.speaker)
        finally:
            if recognizer is not None:
                await deps.pool.run(recognizer.close)

    def _heard(self, speaker: Speaker, text: str) -> None:
        values: dict[str, object] = {"text": text}
        lexicon = self._runtime.session_deps.lexicons.get(self.language)
        if speaker == "caller" and lexicon is not None:
            distress = assess_distress(
                text, lexicon.language, lexicon, ConversationSignals(previous_utterances=tuple(self._caller_said))
            )
            values.update(distress=distress.level, reasons=list(distress.reasons))
            self._caller_said.append(text)
        self._runtime.registry.add_event(self.call_sid, SPEAKER_EVENTS[speaker], **values)


@router.websocket("/twilio/assist")
async def assist_stream(websocket: WebSocket, runtime: WsRuntimeDep) -> None:
    settings = runtime.settings
    if not await accept_twilio_socket(websocket, runtime, settings.assist_stream_url, "agent-assist stream"):
        return
    listener: ForkListener | None = None
    try:
        while True:
            timeout = settings.stream_start_timeout_s if listener is None else SILENT_FORK_S
            try:
                message = await asyncio.wait_for(websocket.receive(), timeout)
            except TimeoutError:
                log.warning("agent-assist stream sent nothing for %.0f s; closed", timeout)
                await websocket.close(code=POLICY_VIOLATION)
                return
            if message["type"] == "websocket.disconnect":
                break
            raw = message.get("text")
            if raw is None:
                continue
            try:
                frame = parse_inbound(raw)
            except ProtocolError as exc:
                log.warning("agent-assist stream: skipped a bad frame: %s", exc)
                continue
            if isinstance(frame, Start) and listener is None:
                listener = await _admit(runtime, frame)
                if listener is None:
                    await websocket.close(code=POLICY_VIOLATION)
                    return
            elif isinstance(frame, Media) and listener is not None:
                if not listener.listening():
                    continue  # hold audio: not even decoded
                try:
                    audio = frame.audio()
                except ProtocolError as exc:
                    log.warning("call %s: agent assist skipped a bad media frame: %s", listener.call_sid, exc)
                    continue
                await listener.feed(frame.media.track, audio)
                if listener.over:
                    log.info("call %s: the call is over; agent-assist stream closed", listener.call_sid)
                    await websocket.close(code=1000)
                    break
            elif isinstance(frame, Stop):
                break
    except WebSocketDisconnect:
        pass
    finally:
        if listener is not None:
            await listener.close()
            log.info("call %s: agent-assist stream ended", listener.call_sid)


async def _admit(runtime: Runtime, frame: Start) -> ForkListener | None:
    """The listener for a fork whose ``start`` names, under our signature, a transfer of this very call."""
    transfer_id = verify_fork(frame.start.custom_parameters, runtime.settings.auth_token)
    transfer = await runtime.recall_transfer(transfer_id) if transfer_id else None
    if transfer is None or transfer.call_sid != frame.start.call_sid:
        log.warning("call %s: refused agent-assist stream: not a signed fork of its transfer", frame.start.call_sid)
        return None
    return ForkListener(runtime, transfer, frame.start.call_sid)
