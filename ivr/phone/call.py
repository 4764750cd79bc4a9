"""One call from a headset to Warmline, playing Twilio's part of the protocol — so what you hear is what callers hear.

The signed ``/twilio/voice`` webhook, the Media Streams WebSocket with 8 kHz μ-law in 20 ms frames (resampled from and
to the device's own rate with soxr), ``mark`` echoed when the audio before it has really been played, ``clear``
silencing the device at once, keypad digits as ``dtmf``, and after the stream the ``<Connect action>`` request that
tells where the call went. The conversation itself (what Warmline said, what it recognised, the signals) is read from
the server's signed call log, as the simulator does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import numpy as np
import soxr
import websockets
from websockets.exceptions import ConnectionClosed

from ivr.audio.codec import TELEPHONE_RATE, Pcm, ulaw_decode, ulaw_encode
from ivr.call.record import CallRecord
from ivr.phone.audio import AudioDevice
from ivr.phone.echo import EchoGate
from ivr.simulator.twilio import SimulatedCall, SimulationError, StreamSend, TwilioSimulator, parse_connect

log = logging.getLogger(__name__)

Send = StreamSend

FRAME = 160  # 20 ms at 8 kHz
MAX_MIC_BACKLOG = 100  # 2 s of microphone blocks waiting for the event loop, at most
POLL_S = 0.4


@dataclass
class PhoneState:
    """What the screen shows: updated as the call goes."""

    call_sid: str = ""
    record: CallRecord | None = None
    mic_level: float = 0.0
    speaking: bool = False
    ended: str = ""
    clears: int = 0
    first_answer_at: float | None = None  # monotonic time the first answer frame after caller speech was played


@dataclass
class PhoneCall:
    """A call through ``device`` to the Warmline at ``simulator.base_url``."""

    simulator: TwilioSimulator
    device: AudioDevice
    headset: bool = False
    on_change: Callable[[PhoneState], None] = lambda _state: None
    state: PhoneState = field(default_factory=PhoneState)

    async def run(self, keys: asyncio.Queue[str], speak: asyncio.Queue[Pcm] | None = None) -> SimulatedCall:
        """Place the call; ``keys`` brings typed keys (digits → DTMF, ``q`` → hang up); ``speak`` (text mode) brings
        audio to say instead of the microphone. Returns everything observed, as the simulator does."""
        sim = self.simulator
        call_sid = sim.new_call_sid()
        self.state.call_sid = call_sid
        result = SimulatedCall(call_sid=call_sid)
        try:
            response = await self._post(f"{sim.base_url}/twilio/voice", call_sid, "ringing")
        except httpx.TransportError as exc:
            raise SimulationError(f"no Warmline answers at {sim.base_url}: start it with `ivr serve`") from exc
        if response.status_code == 403:
            raise SimulationError(
                "the server refused our signature (403): it checks signatures against its IVR_PUBLIC_URL with its "
                f"IVR_TWILIO_AUTH_TOKEN; give --url exactly that URL ({sim.base_url} now) and the same token"
            )
        if response.status_code != 200:
            raise SimulationError(f"/twilio/voice answered {response.status_code}: {response.text[:200]}")
        result.voice_twiml = response.text
        action, stream_url, parameters = parse_connect(response.text)
        loop = asyncio.get_running_loop()
        mic: asyncio.Queue[tuple[Pcm, float, float]] = asyncio.Queue(maxsize=MAX_MIC_BACKLOG)

        def heard(block: Pcm, echo_level: float, captured: float) -> None:  # on the device's thread
            def put() -> None:
                if not mic.full():
                    mic.put_nowait((block, echo_level, captured))

            loop.call_soon_threadsafe(put)

        async with sim.media_stream(stream_url, call_sid, parameters) as (ws, send):
            self.device.start(heard if speak is None else None)
            tasks = [
                asyncio.create_task(self._receive(ws, send, result)),
                asyncio.create_task(
                    self._microphone(mic, send, result) if speak is None else self._say(speak, send, result)
                ),
                asyncio.create_task(self._keys(keys, send, result)),
                asyncio.create_task(self._watch(call_sid)),
            ]
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                        await task
                self.device.close()
        if not result.hung_up and action:
            result.after_stream_twiml = (await self._post(action, call_sid, "in-progress")).text
        await self._post(f"{sim.base_url}/twilio/status", call_sid, "completed")
        async with httpx.AsyncClient(timeout=10.0) as client:
            result.record = await sim.call_log(call_sid, client)
            result.transfer = await sim.call_transfer(call_sid, client)
        self.state.record = result.record
        target = result.dial_target()
        self.state.ended = f"transferred to {target}" if target else ("you hung up" if result.hung_up else "ended")
        self.on_change(self.state)
        return result

    # ── the line ──────────────────────────────────────────────────────────────────────────────────────────
    async def _receive(self, ws: websockets.ClientConnection, send: Send, result: SimulatedCall) -> None:
        """Warmline's audio to the device; marks echoed once played; ``clear`` empties the device at once."""
        up = soxr.ResampleStream(TELEPHONE_RATE, self.device.rate, 1, dtype="int16")
        written = 0  # device samples queued since the call began
        marks: list[tuple[int, str]] = []
        try:
            async for raw in ws:
                message = json.loads(raw)
                event = message.get("event")
                if event == "media":
                    ulaw = base64.b64decode(message["media"]["payload"])
                    result.outbound.append(ulaw)
                    result.media_frames_received += 1
                    pcm = up.resample_chunk(ulaw_decode(ulaw))
                    if len(pcm):
                        self.device.write(pcm)
                        written += len(pcm)
                elif event == "mark":
                    marks.append((written, message["mark"]["name"]))
                elif event == "clear":
                    self.device.clear()
                    self.state.clears += 1
                    result.clears += 1
                    written = self.device.played_samples
                    for _, name in marks:  # Twilio echoes the marks of what it dropped
                        await send({"event": "mark", "mark": {"name": name}})
                    marks.clear()
                await self._echo_marks(marks, send, result)
        finally:
            result.close_code = ws.close_code

    async def _echo_marks(self, marks: list[tuple[int, str]], send: Send, result: SimulatedCall) -> None:
        played = self.device.played_samples
        while marks and marks[0][0] <= played:
            _, name = marks.pop(0)
            result.marks.append(name)
            await send({"event": "mark", "mark": {"name": name}})

    async def _microphone(
        self, mic: asyncio.Queue[tuple[Pcm, float, float]], send: Send, result: SimulatedCall
    ) -> None:
        """Microphone blocks, through the echo gate (judged with the speaker level at capture), → 8 kHz → 20 ms μ-law
        frames."""
        down = soxr.ResampleStream(self.device.input_rate, TELEPHONE_RATE, 1, dtype="int16")
        gate = EchoGate(headset=self.headset)
        pending = np.zeros(0, dtype=np.int16)
        while True:
            block, echo_level, captured = await mic.get()
            self.state.mic_level = float(np.sqrt(np.mean(block.astype(np.float64) ** 2))) if block.size else 0.0
            if not gate.passes(block, echo_level, captured):
                block = np.zeros_like(block)
            pending = np.concatenate([pending, down.resample_chunk(block)])
            while len(pending) >= FRAME:
                frame, pending = pending[:FRAME], pending[FRAME:]
                await self._send_audio(frame, send, result)

    async def _say(self, speak: asyncio.Queue[Pcm], send: Send, result: SimulatedCall) -> None:
        """Text mode: typed sentences arrive as 8 kHz audio and go out at line rate; silence in between."""
        silence = np.zeros(FRAME, dtype=np.int16)
        audio = np.zeros(0, dtype=np.int16)
        started = time.monotonic()
        sent = 0
        while True:
            with contextlib.suppress(asyncio.QueueEmpty):
                audio = np.concatenate([audio, speak.get_nowait()])
            frame, audio = (audio[:FRAME], audio[FRAME:]) if len(audio) else (silence, audio)
            await self._send_audio(np.pad(frame, (0, FRAME - len(frame))), send, result)
            sent += 1
            await asyncio.sleep(max(0.0, started + sent * 0.02 - time.monotonic()))

    async def _send_audio(self, frame: Pcm, send: Send, result: SimulatedCall) -> None:
        ulaw = ulaw_encode(frame)
        result.inbound.append(ulaw)
        await send({"event": "media", "media": {"track": "inbound", "payload": base64.b64encode(ulaw).decode()}})

    async def _keys(self, keys: asyncio.Queue[str], send: Send, result: SimulatedCall) -> None:
        while True:
            key = await keys.get()
            if key in ("q", "Q", "\x03", "\x04"):
                result.hung_up = True
                await send({"event": "stop", "stop": {"callSid": self.state.call_sid}})
                return
            if key in "0123456789*#":
                await send({"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": key}})

    async def _watch(self, call_sid: str) -> None:
        """The conversation as the server records it, for the screen."""
        async with httpx.AsyncClient(timeout=5.0) as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    record = await self.simulator.call_log(call_sid, client)
                    if record is not None:
                        self.state.record = record
                self.on_change(self.state)
                await asyncio.sleep(POLL_S)

    async def _post(self, url: str, call_sid: str, status: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=30.0) as client:
            return await self.simulator.post_signed(client, url, self.simulator.call_params(call_sid, status))
