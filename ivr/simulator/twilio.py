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
import weakref
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

import httpx
import numpy as np
import websockets
from websockets.exceptions import ConnectionClosed

from ivr.audio.codec import FRAME_BYTES, FRAME_MS, TELEPHONE_RATE, Pcm, read_wav, rms_dbfs, ulaw_decode, ulaw_encode
from ivr.call.record import CallRecord, TransferRecord
from ivr.errors import IvrError
from ivr.simulator.cloud import AgentBehaviour, AgentLeg, TwilioCloud, Waiting
from ivr.simulator.fork import Conversation, ForkResult, SimulatedFork, parse_fork, stops_fork
from ivr.simulator.turns import CallerTurn, DropTurn, HangupTurn, PressTurn, SilenceTurn, SpeakTurn
from ivr.telephony.security import SignatureChecker

#: sends one frame on a media stream (numbered and named for the stream)
StreamSend = Callable[[dict[str, object]], Awaitable[None]]

SILENCE_ULAW = b"\xff" * FRAME_BYTES
#: a 20 ms frame louder than this is something the caller hears (hold audio, a voice); quieter is silence
AUDIBLE_DBFS = -50.0


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
    dial_result_twiml: str | None = None
    #: what Twilio played the caller while the enqueued call waited for a colleague (the ``waitUrl`` TwiML)
    hold_twiml: str | None = None
    callback_twiml: str | None = None
    #: every waitUrl answer while the caller was on hold, in order
    hold_twimls: list[str] = field(default_factory=list)
    #: how the caller's wait in the queue ended (QueueResult: bridged, leave, hangup, …)
    queue_result: str | None = None
    #: Warmline deleted the transfer's own queue once the caller left it
    queue_deleted: bool = False
    #: the colleagues' phones Warmline rang for this call, in order
    agent_legs: list[AgentLeg] = field(default_factory=list)
    #: loud stretches of what the caller heard from the end of the stream until a person or the offer, as
    #: (start, end) in line seconds from the stream's end; and when that wait ended
    transfer_sound: list[tuple[float, float]] = field(default_factory=list)
    transfer_wait_s: float | None = None
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
    #: the agent-assist fork (``<Start><Stream>``) of the transfer, if the TwiML started one
    fork: ForkResult | None = None

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

    def longest_transfer_silence(self) -> float | None:
        """The longest the caller heard nothing between the end of the conversation with Warmline and a person
        (or the offer), in line seconds; None when the call was not transferred."""
        if self.transfer_wait_s is None:
            return None
        longest, heard_until = 0.0, 0.0
        for start, end in self.transfer_sound:
            longest = max(longest, start - heard_until)
            heard_until = max(heard_until, end)
        return round(max(longest, self.transfer_wait_s - heard_until), 2)

    def dial_target(self) -> str | None:
        """The number in ``<Dial>`` of the after-stream TwiML, if the call was transferred."""
        if not self.after_stream_twiml:
            return None
        root = ET.fromstring(self.after_stream_twiml)
        enqueue = root.find("Enqueue")
        if enqueue is not None and enqueue.get("workflowSid"):
            return f"taskrouter:{enqueue.get('workflowSid', '')}"
        if enqueue is not None and enqueue.get("waitUrl") and not enqueue.get("workflowSid"):
            # held for a colleague Warmline rings itself: the first one rung, or the one the transfer names
            if self.agent_legs:
                return self.agent_legs[0].to
            target = self.transfer.target if self.transfer is not None else {}
            return target.get("number") or target.get("uri") or None
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


@dataclass
class _Ear:
    """What a caller on hold hears, on the line clock from the end of their conversation with Warmline."""

    speed: float
    since: float | None = None  # time.monotonic() of the stream's end
    sound: list[tuple[float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.since is None:
            self.since = time.monotonic()

    def now(self) -> float:
        assert self.since is not None
        return (time.monotonic() - self.since) * self.speed

    async def hear(self, pcm: Pcm, bridged: asyncio.Event, hang_up_s: float | None) -> str | None:
        """Play ``pcm`` to the caller in line time; stop early when a colleague is bridged (→ "bridged") or the
        caller's patience runs out (→ "hangup")."""
        start = self.now()
        seconds = len(pcm) / TELEPHONE_RATE
        limit = seconds if hang_up_s is None else max(0.0, min(seconds, hang_up_s - start))
        ended: str | None = None
        try:
            await asyncio.wait_for(bridged.wait(), limit / self.speed)
            ended = "bridged"
        except TimeoutError:
            if limit < seconds:
                ended = "hangup"
        heard = min(seconds, self.now() - start)
        frame = TELEPHONE_RATE * FRAME_MS // 1000
        for i in range(0, int(heard * TELEPHONE_RATE) - frame + 1, frame):
            if rms_dbfs(pcm[i : i + frame]) > AUDIBLE_DBFS:
                at = start + i / TELEPHONE_RATE
                if self.sound and at - self.sound[-1][1] < 1e-6:
                    self.sound[-1] = (self.sound[-1][0], at + FRAME_MS / 1000)
                else:
                    self.sound.append((at, at + FRAME_MS / 1000))
        return ended


#: event loop → API address → the stand-in REST API served there
_CLOUDS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, TwilioCloud]] = weakref.WeakKeyDictionary()


class TwilioSimulator:
    def __init__(
        self,
        base_url: str,
        auth_token: str,
        *,
        speed: float = 1.0,
        caller: str | None = None,
        callee: str = "+31201234567",
        account_sid: str = "AC00000000000000000000000000000000",
        timeout_s: float = 120.0,
        api_url: str | None = None,
        transfer_speed: float | None = None,
    ) -> None:
        """``api_url``: where to serve Twilio's REST API for the colleague's side of transfers — the server's
        ``IVR_TWILIO_API_URL``. Without it, Warmline cannot ring anybody and every transfer ends in the offer.
        ``transfer_speed``: how many times real time the hold and the colleagues run (default ``speed``); only
        Twilio's side keeps that clock, so tests may run it faster than the media stream."""
        self.transfer_speed = transfer_speed or speed
        self.base_url = base_url.rstrip("/")
        self._signer = SignatureChecker(auth_token)
        self.api_url = api_url
        self._account_auth = (account_sid, auth_token)
        self.speed = speed
        #: the number every call comes from; None: each call from its own (random Dutch mobile) number, as a
        #: line's callers are — caller memory then treats them as different people
        self.caller = caller
        self._numbers: dict[str, str] = {}
        self.callee = callee
        self.account_sid = account_sid
        self.timeout_s = timeout_s

    @property
    def cloud(self) -> TwilioCloud | None:
        """The stand-in for Twilio's REST API, shared by every simulator of this event loop serving ``api_url``
        (concurrent calls of one test may come from several simulators: one server per port)."""
        if self.api_url is None:
            return None
        clouds = _CLOUDS.setdefault(asyncio.get_running_loop(), {})
        cloud = clouds.get(self.api_url)
        if cloud is None:
            account_sid, auth_token = self._account_auth
            cloud = clouds[self.api_url] = TwilioCloud(
                self.api_url, account_sid, auth_token, self.post_signed, self.transfer_speed
            )
        return cloud

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
            "From": self.number_of(call_sid),
            "To": self.callee,
            "CallStatus": status,
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }

    def number_of(self, call_sid: str) -> str:
        """The number a call comes from."""
        if call_sid not in self._numbers:
            self._numbers[call_sid] = self.caller or "+316" + "".join(secrets.choice("0123456789") for _ in range(8))
        return self._numbers[call_sid]

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
        agent: AgentBehaviour | Sequence[AgentBehaviour] = "accepts",
        offer_reply: str | None = "1",
        hang_up_on_hold_s: float | None = None,
        conversation: Conversation | None = None,
    ) -> SimulatedCall:
        """Place one call. ``inject_before_turns``: raw frames sent right after ``start`` (to test bad input).

        After a transfer the caller waits on hold (Twilio plays the ``waitUrl``), while the colleagues Warmline
        rings behave as ``agent`` says, in order (one behaviour per target tried). When nobody takes the call, the
        caller replies ``offer_reply`` to the offer (a digit — 1 call-back, 2 back to Warmline — or None to leave
        a voicemail). ``hang_up_on_hold_s``: the caller gives up after that many line seconds on hold.
        ``conversation``: what the caller and the colleague say once connected, carried over the transfer's
        agent-assist fork (which is opened whenever the TwiML starts one, and stopped when the call ends).
        """
        agents = [agent] if isinstance(agent, str) else list(agent)
        call_sid = call_sid or self.new_call_sid()
        result = SimulatedCall(call_sid=call_sid)
        cloud = self.cloud.running() if self.cloud is not None else contextlib.nullcontext()
        async with cloud, httpx.AsyncClient(timeout=30.0) as client:
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
            # <Connect><Stream> that resumes the call: the caller goes on with what they had left to say. So may
            # a caller who goes back to Warmline after a transfer nobody took.
            while twiml is not None and not result.hung_up and result.streams < 6:
                root = ET.fromstring(twiml)
                if root.find("Connect") is not None:
                    action, stream_url, parameters = parse_connect(twiml)
                    result.streams += 1
                    await asyncio.wait_for(
                        self._stream(result, stream_url, parameters, pending, inject), self.timeout_s
                    )
                    inject = []
                    twiml = None
                    if not result.hung_up and action:
                        response = await self._post(client, action, self._params(call_sid, "in-progress"))
                        twiml = result.after_stream_twiml = response.text
                elif root.find("Enqueue") is not None or root.find("Dial") is not None:
                    fork = self._fork(root, call_sid, conversation)
                    try:
                        if fork is not None:
                            await fork.open()
                        twiml = await asyncio.wait_for(
                            self._follow_transfer(client, result, root, agents, offer_reply, hang_up_on_hold_s, fork),
                            self.timeout_s,
                        )
                    finally:
                        if fork is not None:
                            await fork.stop()
                            result.fork = fork.result
                else:
                    twiml = None
            await self._post(client, f"{self.base_url}/twilio/status", self._params(call_sid, "completed"))
            result.record = await self.call_log(call_sid, client)
            result.transfer = await self.call_transfer(call_sid, client)
        return result

    def _fork(self, root: ET.Element, call_sid: str, conversation: Conversation | None) -> SimulatedFork | None:
        spec = parse_fork(root)
        if spec is None:
            return None
        headers = self.handshake_headers(spec.url)
        return SimulatedFork(spec, call_sid, self.account_sid, headers, conversation or Conversation(lines=[]))

    async def _follow_transfer(
        self,
        client: httpx.AsyncClient,
        result: SimulatedCall,
        root: ET.Element,
        agents: list[AgentBehaviour],
        offer_reply: str | None,
        hang_up_on_hold_s: float | None,
        fork: SimulatedFork | None = None,
    ) -> str | None:
        """Do what Twilio does with the transfer TwiML: hold the caller in the queue while colleagues are rung, or
        dial; then follow the offer. Returns TwiML the call goes on with (a new stream), if any."""
        params = self._params(result.call_sid, "in-progress")
        ear = _Ear(self.transfer_speed, next((e.at for e in reversed(result.timeline) if e.kind == "stream_end"), None))
        result.transfer_sound = ear.sound
        enqueue = root.find("Enqueue")
        if enqueue is not None and enqueue.get("workflowSid"):
            # TaskRouter's own agents take it from here: record what the caller hears while they wait.
            if enqueue.get("waitUrl"):
                response = await self._post(client, enqueue.get("waitUrl", ""), params)
                result.hold_twiml = response.text
            return None
        if enqueue is not None:
            queue = (enqueue.text or "").strip()
            waiting = Waiting(result.call_sid, agents)
            if self.cloud is not None:
                self.cloud.waiting[queue] = waiting
            try:
                outcome = await self._hold(client, result, enqueue, waiting, ear, hang_up_on_hold_s)
            finally:
                if self.cloud is not None:
                    self.cloud.waiting.pop(queue, None)
                result.agent_legs = list(waiting.legs)
            result.queue_result = outcome
            if outcome == "bridged" and fork is not None:
                await fork.converse()  # Twilio asks the action only once the bridged conversation is over
            left = {"QueueResult": outcome, "QueueTime": str(int(ear.now())), "QueueSid": waiting.queue_sid}
            response = await self._post(client, enqueue.get("action", ""), {**params, **left})
            if self.cloud is not None:
                result.queue_deleted = waiting.queue_sid in self.cloud.deleted_queues
            status = outcome
            if outcome == "hangup":
                result.hung_up = True
        else:
            dial = root.find("Dial")
            assert dial is not None
            status = {"accepts": "completed", "answers": "completed"}.get(agents[0], agents[0]) if agents else "failed"
            if status in ("declines", "no-key", "machine"):
                status = "completed"
            action = dial.get("action")
            if not action:
                result.transfer_wait_s = ear.now()
                return None
            response = await self._post(client, action, {**params, "DialCallStatus": status})
        result.dial_result_twiml = response.text
        reply = ET.fromstring(response.text)
        if fork is not None and stops_fork(reply, fork.spec.name):
            await fork.stop(by_twiml=True)
        gather = reply.find("Gather")
        if gather is None:
            result.transfer_wait_s = ear.now()
            return None
        result.transfer_wait_s = ear.now()  # the offer begins: the caller hears a voice again
        if offer_reply is not None:
            response = await self._post(client, gather.get("action", ""), {**params, "Digits": offer_reply})
        else:
            record = reply.find("Record")
            recording = {**params, "RecordingUrl": "https://api.twilio.com/recordings/RE0", "RecordingDuration": "7"}
            response = await self._post(client, record.get("action", "") if record is not None else "", recording)
        result.callback_twiml = response.text
        return response.text if ET.fromstring(response.text).find("Connect") is not None else None

    async def _hold(
        self,
        client: httpx.AsyncClient,
        result: SimulatedCall,
        enqueue: ET.Element,
        waiting: Waiting,
        ear: _Ear,
        hang_up_s: float | None,
    ) -> str:
        """The caller in the queue: Twilio plays the waitUrl's TwiML again and again until a colleague dequeues
        them (bridged), the TwiML says ``<Leave/>``, or the caller hangs up. Returns the ``QueueResult``."""
        audio: dict[str, Pcm] = {}
        queue_sid = waiting.queue_sid
        while True:
            if waiting.bridged.is_set():
                return "bridged"
            if hang_up_s is not None and ear.now() >= hang_up_s:
                return "hangup"
            wait = {"QueueSid": queue_sid, "QueuePosition": "1", "CurrentQueueSize": "1", "AvgQueueTime": "0"}
            wait["QueueTime"] = str(int(ear.now()))
            params = {**self._params(result.call_sid, "in-progress"), **wait}
            response = await self._post(client, enqueue.get("waitUrl", ""), params)
            result.hold_twimls.append(response.text)
            result.hold_twiml = result.hold_twiml or response.text
            root = ET.fromstring(response.text)
            if root.find("Leave") is not None:
                return "leave"
            for play in root.findall("Play"):
                url = (play.text or "").strip()
                if url not in audio:
                    fetched = await client.get(url)
                    audio[url] = read_wav(fetched.content)[0] if fetched.status_code == 200 else np.zeros(0, np.int16)
                for _ in range(int(play.get("loop") or 1)):
                    ended = await ear.hear(audio[url], waiting.bridged, hang_up_s)
                    if ended is not None:
                        return ended

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
                    # The turn is taken off the script only once it is said: a stream that ends first (a
                    # transfer, a lost server) leaves it for the next stream.
                    turn = turns[0]
                    if isinstance(turn, DropTurn | HangupTurn):
                        turns.popleft()
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
                    if turns and turns[0] is turn:
                        turns.popleft()
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
