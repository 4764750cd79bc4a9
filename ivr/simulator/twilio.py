"""The Twilio side of a call, played against a running Warmline over the documented protocol.

It does what Twilio does: signs and posts the voice webhook, follows the ``<Connect><Stream>`` TwiML, opens the
WebSocket with a signed handshake, sends ``connected``/``start``/``media``/``dtmf``/``stop`` frames paced like a phone
line, plays what it receives through a playout buffer (echoing each ``mark`` when playback reaches it and dropping the
buffer on ``clear``), posts the ``<Connect action>`` when the stream ends, and finally the status callback.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

import httpx
import numpy as np
import websockets
from websockets.exceptions import ConnectionClosed

from ivr.audio.codec import FRAME_BYTES, FRAME_MS, TELEPHONE_RATE, Pcm, ulaw_decode, ulaw_encode
from ivr.call.record import CallRecord, TransferRecord
from ivr.errors import IvrError
from ivr.simulator.turns import CallerTurn, DropTurn, HangupTurn, PressTurn, SilenceTurn, SpeakTurn
from ivr.telephony.security import SignatureChecker

#: sends one frame on a media stream (numbered and named for the stream)
StreamSend = Callable[[dict[str, object]], Awaitable[None]]

SILENCE_ULAW = b"\xff" * FRAME_BYTES

AgentBehaviour = Literal["answers", "no-answer", "busy", "failed"]


class SimulationError(IvrError):
    """The server did not behave like Twilio expects (bad TwiML, refused stream, timeout)."""


LineEventKind = Literal[
    "speech_start", "speech_end", "dtmf", "prompt_start", "mark", "clear", "underrun", "stream_start", "stream_end"
]


@dataclass(frozen=True, slots=True)
class LineEvent:
    """One moment on the line, on the simulator's ``time.monotonic()`` clock (for latency benchmarks).

    ``speech_start``/``speech_end``: the first/last frame of a caller turn's audio was sent; ``prompt_start``: the
    first media frame of a prompt arrived; ``mark``: the server's end-of-prompt mark arrived (``detail`` = its name);
    ``underrun``: a line tick found the playout buffer empty in the middle of a prompt (the caller hears a gap);
    ``stream_start``/``stream_end``: a media stream of the call opened/closed (a resumed call has several).
    """

    at: float
    kind: LineEventKind
    detail: str = ""


@dataclass
class SimulatedCall:
    """Everything observed on one simulated call."""

    call_sid: str
    voice_twiml: str = ""
    after_stream_twiml: str | None = None
    whisper_twiml: str | None = None
    whisper_audio: bytes | None = None
    dial_result_twiml: str | None = None
    #: what Twilio played the caller while the enqueued call waited for a colleague (the ``waitUrl`` TwiML)
    hold_twiml: str | None = None
    callback_twiml: str | None = None
    record: CallRecord | None = None
    transfer: TransferRecord | None = None
    inbound: list[bytes] = field(default_factory=list)  # caller → Twilio → us (μ-law frames)
    outbound: list[bytes] = field(default_factory=list)  # what the caller heard (μ-law frames)
    marks: list[str] = field(default_factory=list)  # marks echoed, in order
    clears: int = 0
    close_code: int | None = None
    #: media streams the call had (more than one when a lost stream was resumed)
    streams: int = 0
    hung_up: bool = False
    media_frames_received: int = 0
    first_prompt_after_s: float | None = None
    timeline: list[LineEvent] = field(default_factory=list)
    #: how far the simulator's own line clock fell behind schedule (a busy simulator, not the server)
    max_clock_lag_s: float = 0.0

    @property
    def outbound_pcm(self) -> Pcm:
        return ulaw_decode(b"".join(self.outbound))

    @property
    def inbound_pcm(self) -> Pcm:
        return ulaw_decode(b"".join(self.inbound))

    def stereo(self) -> Pcm:
        """Interleaved stereo: left = caller, right = Warmline, on one timeline."""
        left, right = self.inbound_pcm, self.outbound_pcm
        n = max(len(left), len(right))
        out = np.zeros((n, 2), dtype=np.int16)
        out[: len(left), 0] = left
        out[: len(right), 1] = right
        return out.reshape(-1)

    def hand_over_gaps(self) -> list[float]:
        """Seconds of silence the caller heard each time the call moved to a new stream (resumed after a lost or
        handed-over stream): from the old stream's end to the first sound on the new one."""
        gaps: list[float] = []
        ended: float | None = None
        waiting = False
        for event in self.timeline:
            if event.kind == "stream_end":
                ended, waiting = event.at, False
            elif event.kind == "stream_start" and ended is not None:
                waiting = True
            elif event.kind == "prompt_start" and waiting and ended is not None:
                gaps.append(event.at - ended)
                waiting = False
        return gaps

    def dial_target(self) -> str | None:
        """The number in ``<Dial>`` of the after-stream TwiML, if the call was transferred."""
        if not self.after_stream_twiml:
            return None
        root = ET.fromstring(self.after_stream_twiml)
        enqueue = root.find("Enqueue")
        if enqueue is not None:
            return f"taskrouter:{enqueue.get('workflowSid', '')}"
        dial = root.find("Dial")
        if dial is None:
            return None
        leg = dial.find("Number")
        if leg is None:
            leg = dial.find("Sip")
        return ((leg.text if leg is not None else dial.text) or "").strip()


@dataclass
class _Playout:
    """Twilio's outbound buffer: audio plays at line rate; a mark is echoed when playback reaches it."""

    buffer: bytearray = field(default_factory=bytearray)
    marks: list[tuple[int, str]] = field(default_factory=list)  # (byte offset in buffer, name)
    prompts_started: int = 0
    between_prompts: bool = True  # the next media frame starts a new prompt (after a mark, or at the start)
    idle_since: float = field(default_factory=time.monotonic)


class TwilioSimulator:
    def __init__(
        self,
        base_url: str,
        auth_token: str,
        *,
        speed: float = 1.0,
        caller: str = "+31612345678",
        callee: str = "+31201234567",
        account_sid: str = "AC00000000000000000000000000000000",
        timeout_s: float = 120.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._signer = SignatureChecker(auth_token)
        self.speed = speed
        self.caller = caller
        self.callee = callee
        self.account_sid = account_sid
        self.timeout_s = timeout_s

    # ── HTTP ────────────────────────────────────────────────────────────────────────────────────────────
    async def post_signed(self, client: httpx.AsyncClient, url: str, params: dict[str, str]) -> httpx.Response:
        """POST a webhook as Twilio does: form parameters, signed with the auth token."""
        headers = {"X-Twilio-Signature": self._signer.sign(url, params)}
        return await client.post(url, data=params, headers=headers)

    _post = post_signed

    def call_params(self, call_sid: str, status: str) -> dict[str, str]:
        """The parameters Twilio sends with every voice webhook."""
        return self._params(call_sid, status)

    def _params(self, call_sid: str, status: str) -> dict[str, str]:
        return {
            "CallSid": call_sid,
            "AccountSid": self.account_sid,
            "From": self.caller,
            "To": self.callee,
            "CallStatus": status,
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }

    @staticmethod
    def new_call_sid() -> str:
        return "CA" + secrets.token_hex(16)

    async def answer(self, call_sid: str) -> tuple[str, dict[str, str]]:
        """Ring the server as Twilio does: the stream URL and parameters (token) its TwiML answers with."""
        async with httpx.AsyncClient(timeout=30.0) as client:
            response = await self._post(client, f"{self.base_url}/twilio/voice", self._params(call_sid, "ringing"))
        response.raise_for_status()
        _, stream_url, parameters = parse_connect(response.text)
        return stream_url, parameters

    async def call_log(self, call_sid: str, client: httpx.AsyncClient | None = None) -> CallRecord | None:
        """The server's record of the call (its signed call-log endpoint), or None if it has none."""
        url = f"{self.base_url}/twilio/calls/{call_sid}"
        headers = {"X-Twilio-Signature": self._signer.sign(url, {})}
        if client is None:
            async with httpx.AsyncClient(timeout=30.0) as own:
                response = await own.get(url, headers=headers)
        else:
            response = await client.get(url, headers=headers)
        return CallRecord.model_validate(response.json()) if response.status_code == 200 else None

    async def call_transfer(self, call_sid: str, client: httpx.AsyncClient) -> TransferRecord | None:
        """The call's transfer briefing (the summary the colleague hears), or None if it was not transferred."""
        url = f"{self.base_url}/twilio/calls/{call_sid}/transfer"
        response = await client.get(url, headers={"X-Twilio-Signature": self._signer.sign(url, {})})
        return TransferRecord.model_validate(response.json()) if response.status_code == 200 else None

    def handshake_headers(self, stream_url: str) -> dict[str, str]:
        """The signed headers Twilio sends when it opens the media WebSocket."""
        return {"X-Twilio-Signature": self._signer.sign(stream_url, {})}

    async def call(
        self,
        turns: list[CallerTurn],
        call_sid: str | None = None,
        inject_before_turns: list[str | bytes] | None = None,
        agent: AgentBehaviour = "answers",
        offer_reply: str | None = "1",
    ) -> SimulatedCall:
        """Place one call. ``inject_before_turns``: raw frames sent right after ``start`` (to test bad input).

        After a transfer ``<Dial>``, the colleague ``agent`` answers (the whisper is fetched, as Twilio does before
        bridging) or doesn't; when nobody answers, the caller replies ``offer_reply`` to the call-back offer
        (a digit, or None to leave a voicemail).
        """
        call_sid = call_sid or self.new_call_sid()
        result = SimulatedCall(call_sid=call_sid)
        async with httpx.AsyncClient(timeout=30.0) as client:
            response = await self._post(client, f"{self.base_url}/twilio/voice", self._params(call_sid, "ringing"))
            if response.status_code == 403:
                raise SimulationError(
                    f"{self.base_url}/twilio/voice refused the signature (403): signatures are checked against the "
                    "server's IVR_PUBLIC_URL with its IVR_TWILIO_AUTH_TOKEN; give --url exactly that URL and this "
                    "command the same IVR_TWILIO_AUTH_TOKEN"
                )
            if response.status_code != 200:
                raise SimulationError(f"/twilio/voice answered {response.status_code}: {response.text[:200]}")
            result.voice_twiml = response.text
            pending = deque(turns)
            twiml: str | None = response.text
            inject = inject_before_turns or []
            # A stream whose server was lost ends without a decision; the after-stream answer may then be a new
            # <Connect><Stream> that resumes the call: the caller goes on with what they had left to say.
            while twiml is not None and ET.fromstring(twiml).find("Connect") is not None and result.streams < 4:
                action, stream_url, parameters = parse_connect(twiml)
                result.streams += 1
                await asyncio.wait_for(self._stream(result, stream_url, parameters, pending, inject), self.timeout_s)
                inject = []
                twiml = None
                if not result.hung_up and action:
                    response = await self._post(client, action, self._params(call_sid, "in-progress"))
                    twiml = result.after_stream_twiml = response.text
            if not result.hung_up and result.after_stream_twiml is not None:
                await self._follow_transfer(client, result, agent, offer_reply)
            await self._post(client, f"{self.base_url}/twilio/status", self._params(call_sid, "completed"))
            result.record = await self.call_log(call_sid, client)
            result.transfer = await self.call_transfer(call_sid, client)
        return result

    async def _follow_transfer(
        self, client: httpx.AsyncClient, result: SimulatedCall, agent: AgentBehaviour, offer_reply: str | None
    ) -> None:
        """Do what Twilio does with the transfer TwiML: ring the colleague, whisper, report the dial result."""
        if not result.after_stream_twiml:
            return
        root = ET.fromstring(result.after_stream_twiml)
        enqueue = root.find("Enqueue")
        if enqueue is not None and enqueue.get("waitUrl"):
            # The caller waits for a TaskRouter worker: Twilio fetches the waitUrl's TwiML and plays it to them.
            response = await self._post(
                client, enqueue.get("waitUrl", ""), self._params(result.call_sid, "in-progress")
            )
            result.hold_twiml = response.text
        dial = root.find("Dial")
        if dial is None:
            return
        leg = dial.find("Number")
        if leg is None:
            leg = dial.find("Sip")
        params = self._params(result.call_sid, "in-progress")
        if agent == "answers":
            if leg is not None and leg.get("url"):
                response = await self._post(client, leg.get("url", ""), params)
                result.whisper_twiml = response.text
                play = ET.fromstring(response.text).find("Play")
                if play is not None and play.text:
                    audio = await client.get(play.text)
                    result.whisper_audio = audio.content if audio.status_code == 200 else None
            status = "completed"
        else:
            status = agent
        action = dial.get("action")
        if not action:
            return
        response = await self._post(client, action, {**params, "DialCallStatus": status})
        result.dial_result_twiml = response.text
        gather = ET.fromstring(response.text).find("Gather")
        if status == "completed" or gather is None:
            return
        if offer_reply is not None:
            response = await self._post(client, gather.get("action", ""), {**params, "Digits": offer_reply})
        else:
            record = ET.fromstring(response.text).find("Record")
            recording = {**params, "RecordingUrl": "https://api.twilio.com/recordings/RE0", "RecordingDuration": "7"}
            response = await self._post(client, record.get("action", "") if record is not None else "", recording)
        result.callback_twiml = response.text

    # ── Media Streams ───────────────────────────────────────────────────────────────────────────────────
    @contextlib.asynccontextmanager
    async def media_stream(
        self, url: str, call_sid: str, parameters: dict[str, str]
    ) -> AsyncIterator[tuple[websockets.ClientConnection, StreamSend]]:
        """Open the media WebSocket as Twilio does — the signed handshake, ``connected``, then ``start`` with the
        call's parameters (its token) — and yield the socket with a ``send`` that numbers each frame and names the
        stream, as every frame after ``connected`` must be."""
        stream_sid = "MZ" + secrets.token_hex(16)
        async with websockets.connect(url, additional_headers=self.handshake_headers(url)) as ws:
            seq = 0

            async def send(event: dict[str, object]) -> None:
                nonlocal seq
                seq += 1
                await ws.send(json.dumps({**event, "sequenceNumber": str(seq), "streamSid": stream_sid}))

            await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            start = {
                "accountSid": self.account_sid,
                "streamSid": stream_sid,
                "callSid": call_sid,
                "tracks": ["inbound"],
                "customParameters": parameters,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": TELEPHONE_RATE, "channels": 1},
            }
            await send({"event": "start", "start": start})
            yield ws, send

    # ── the scripted caller ──────────────────────────────────────────────────────────────────────────────────────────
    async def _stream(
        self,
        result: SimulatedCall,
        url: str,
        parameters: dict[str, str],
        turns: deque[CallerTurn],
        inject: list[str | bytes],
    ) -> None:
        playout = _Playout()
        caller_audio: list[bytes] = []  # μ-law frames queued for the caller to "say"
        started = time.monotonic()
        async with self.media_stream(url, result.call_sid, parameters) as (ws, send):
            result.timeline.append(LineEvent(time.monotonic(), "stream_start"))
            for raw in inject:
                await ws.send(raw)

            async def receive() -> None:
                async for raw in ws:
                    frame = json.loads(raw)
                    event = frame.get("event")
                    if event == "media":
                        if playout.between_prompts:
                            result.timeline.append(LineEvent(time.monotonic(), "prompt_start"))
                            playout.between_prompts = False
                            playout.prompts_started += 1
                            if result.first_prompt_after_s is None:
                                result.first_prompt_after_s = time.monotonic() - started
                        playout.buffer.extend(base64.b64decode(frame["media"]["payload"]))
                        result.media_frames_received += 1
                    elif event == "mark":
                        result.timeline.append(LineEvent(time.monotonic(), "mark", frame["mark"]["name"]))
                        playout.marks.append((len(playout.buffer), frame["mark"]["name"]))
                        playout.between_prompts = True
                    elif event == "clear":
                        result.timeline.append(LineEvent(time.monotonic(), "clear"))
                        result.clears += 1
                        playout.between_prompts = True
                        playout.buffer.clear()
                        for _, name in playout.marks:
                            await echo_mark(name)
                        playout.marks.clear()

            async def echo_mark(name: str) -> None:
                result.marks.append(name)
                await send({"event": "mark", "mark": {"name": name}})

            async def line_clock() -> None:
                """Every 20 ms of (scaled) time: play 20 ms to the caller's ear, send 20 ms of caller audio."""
                tick = FRAME_MS / 1000 / self.speed
                chunk = 0
                next_at = time.monotonic()
                speaking = False
                while True:
                    result.max_clock_lag_s = max(result.max_clock_lag_s, time.monotonic() - next_at)
                    if not playout.between_prompts and len(playout.buffer) < FRAME_BYTES:
                        result.timeline.append(LineEvent(time.monotonic(), "underrun"))
                    heard = bytes(playout.buffer[:FRAME_BYTES])
                    del playout.buffer[:FRAME_BYTES]
                    playout.marks = [(pos - len(heard), name) for pos, name in playout.marks]
                    result.outbound.append(heard.ljust(FRAME_BYTES, b"\xff"))
                    while playout.marks and playout.marks[0][0] <= 0:
                        await echo_mark(playout.marks.pop(0)[1])
                    if heard:
                        playout.idle_since = time.monotonic()
                    said = SILENCE_ULAW
                    if caller_audio:
                        said = caller_audio.pop(0)
                        if not speaking:
                            speaking = True
                            result.timeline.append(LineEvent(time.monotonic(), "speech_start"))
                        if not caller_audio:
                            speaking = False
                            result.timeline.append(LineEvent(time.monotonic(), "speech_end"))
                    result.inbound.append(said)
                    chunk += 1
                    payload = base64.b64encode(said).decode()
                    await send(
                        {
                            "event": "media",
                            "media": {
                                "track": "inbound",
                                "chunk": str(chunk),
                                "timestamp": str(chunk * FRAME_MS),
                                "payload": payload,
                            },
                        }
                    )
                    next_at += tick
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))

            def bot_idle() -> bool:
                return not playout.buffer and not playout.marks

            async def wait_for_prompt(after_count: int) -> None:
                # polling mirrors a caller listening to the line; the clock task moves the state on every tick
                while playout.prompts_started <= after_count:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)

            async def wait_until_bot_done(after_count: int) -> None:
                """A new prompt has started and has been played out, with a short natural pause after it."""
                await wait_for_prompt(after_count)
                while True:
                    if bot_idle() and time.monotonic() - playout.idle_since > 0.3 / self.speed:
                        return
                    await asyncio.sleep(0.01)

            async def say(audio: Pcm) -> None:
                data = ulaw_encode(audio)
                caller_audio.extend(
                    data[i : i + FRAME_BYTES].ljust(FRAME_BYTES, b"\xff") for i in range(0, len(data), FRAME_BYTES)
                )
                while caller_audio:  # noqa: ASYNC110 - drained by the line clock, frame by frame
                    await asyncio.sleep(0.01)

            async def script() -> None:
                seen = 0
                while turns:
                    turn = turns.popleft()
                    if isinstance(turn, DropTurn):
                        await wait_for_prompt(seen)
                        return  # leaving the stream's context closes the socket; the call is not hung up
                    if isinstance(turn, HangupTurn):
                        await wait_for_prompt(seen)
                        await asyncio.sleep(turn.after_ms / 1000 / self.speed)
                        result.hung_up = True
                        await send(
                            {
                                "event": "stop",
                                "stop": {"accountSid": self.account_sid, "callSid": result.call_sid},
                            }
                        )
                        return
                    if isinstance(turn, SpeakTurn) and turn.barge_in_ms is not None:
                        await wait_for_prompt(seen)
                        await asyncio.sleep(turn.barge_in_ms / 1000 / self.speed)
                    elif not isinstance(turn, SilenceTurn):
                        await wait_until_bot_done(seen)
                    if not (isinstance(turn, SilenceTurn) and turn.until is not None):
                        # A caller waiting for a cue has not "used up" the prompts meanwhile: the next turn
                        # answers the latest one instead of waiting for another.
                        seen = playout.prompts_started
                    if isinstance(turn, SpeakTurn):
                        await say(turn.audio)
                    elif isinstance(turn, PressTurn):
                        for digit in turn.digits:
                            result.timeline.append(LineEvent(time.monotonic(), "dtmf", digit))
                            await send({"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": digit}})
                            await asyncio.sleep(0.15 / self.speed)
                    elif isinstance(turn, SilenceTurn) and turn.until is not None:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(turn.until.wait(), turn.seconds / self.speed)
                    elif isinstance(turn, SilenceTurn):
                        await asyncio.sleep(turn.seconds / self.speed)
                # The script is done: stay on the line until Warmline ends the stream (it always does: transfer,
                # goodbye, or no-input handling).
                await asyncio.Event().wait()

            tasks = [asyncio.create_task(c) for c in (receive(), line_clock(), script())]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task.exception() is not None and not isinstance(task.exception(), ConnectionClosed):
                        raise task.exception()  # type: ignore[misc]
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                        await task
            if result.hung_up:
                await ws.close()
        result.timeline.append(LineEvent(time.monotonic(), "stream_end"))
        result.close_code = ws.close_code


def parse_connect(twiml: str) -> tuple[str, str, dict[str, str]]:
    """Pull the stream URL, its parameters and the Connect action out of the voice webhook's TwiML."""
    try:
        root = ET.fromstring(twiml)
    except ET.ParseError as exc:
        raise SimulationError(f"voice webhook returned invalid TwiML: {exc}") from exc
    connect = root.find("Connect")
    stream = connect.find("Stream") if connect is not None else None
    if connect is None or stream is None:
        raise SimulationError(f"voice webhook TwiML has no <Connect><Stream>: {twiml[:200]}")
    parameters = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
    url = stream.get("url", "")
    if urlsplit(url).scheme not in ("ws", "wss"):
        raise SimulationError(f"stream URL is not a WebSocket URL: {url}")
    return connect.get("action", ""), url, parameters
