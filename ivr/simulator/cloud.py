"""Twilio's cloud for the colleague's side of a warm transfer: the REST API Warmline rings colleagues through, the
colleagues themselves, and the queues callers wait in.

Warmline's Twilio SDK is pointed here (``IVR_TWILIO_API_URL``). ``POST …/Calls.json`` rings a simulated colleague
who behaves as scripted: accepts (presses 1 after the summary), declines (2), presses nothing, is a voicemail box
(answering-machine detection says ``machine_start``), is busy, does not answer, or cannot be reached. The colleague
fetches the ``Url`` TwiML as Twilio does and follows ``<Gather>``; ``<Dial><Queue>`` bridges them to the caller
waiting in that queue. ``POST …/Calls/{sid}.json`` with ``Status=canceled|completed`` ends a leg and reports it to
its ``StatusCallback``. Requests must carry the account SID and auth token (HTTP basic), as Twilio's do.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import secrets
import wave
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qs, urlsplit

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

AgentBehaviour = Literal["accepts", "answers", "declines", "no-key", "machine", "busy", "no-answer", "failed"]
#: how long a simulated colleague's phone rings before they (or their voicemail) answer, in line seconds
RING_S = 2.0

#: posts a signed webhook (the simulator's own signer)
PostSigned = Callable[[httpx.AsyncClient, str, dict[str, str]], Awaitable[httpx.Response]]


@dataclass
class AgentLeg:
    """One colleague's phone rung by Warmline, and what happened on it."""

    sid: str
    to: str
    behaviour: AgentBehaviour
    status: str = "queued"
    answered_by: str = ""
    briefing_twiml: str = ""
    #: what the colleague heard before pressing (the spoken summary, then "press 1"), as WAV bytes
    heard: list[bytes] = field(default_factory=list)
    key_twiml: str = ""
    task: asyncio.Task[None] | None = None


@dataclass
class Waiting:
    """A caller waiting in a queue, and the colleagues to ring for them in order."""

    call_sid: str
    agents: list[AgentBehaviour]
    bridged: asyncio.Event = field(default_factory=asyncio.Event)
    legs: list[AgentLeg] = field(default_factory=list)
    queue_sid: str = field(default_factory=lambda: "QU" + secrets.token_hex(16))


class TwilioCloud:
    """The REST API and the colleagues, served on ``api_url`` while calls need them."""

    def __init__(self, api_url: str, account_sid: str, auth_token: str, post: PostSigned, speed: float) -> None:
        self.api_url = api_url.rstrip("/")
        self._auth = (account_sid, auth_token)
        self._post = post
        self._speed = speed
        self.waiting: dict[str, Waiting] = {}  # queue name → caller
        self.legs: dict[str, AgentLeg] = {}
        #: queues Warmline deleted once their caller left (a queue lives until deleted)
        self.deleted_queues: set[str] = set()
        self._users = 0
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        base = "/2010-04-01/Accounts/{account}"
        self._app = Starlette(
            routes=[
                Route(base + "/Calls.json", self._create, methods=["POST"]),
                Route(base + "/Calls/{sid}.json", self._update, methods=["POST"]),
                Route(base + "/Queues/{sid}.json", self._delete_queue, methods=["DELETE"]),
            ]
        )

    # ── lifetime: served while at least one call uses it ───────────────────────────────────────────────
    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with self._lock:
            if self._users == 0:
                parts = urlsplit(self.api_url)
                config = uvicorn.Config(
                    self._app, host=parts.hostname or "127.0.0.1", port=parts.port or 80, log_level="warning"
                )
                self._server = uvicorn.Server(config)
                self._serving = asyncio.create_task(self._server.serve())
                while not self._server.started:
                    if self._serving.done():
                        self._serving.result()
                        raise RuntimeError(f"the simulated Twilio API could not listen on {self.api_url}")
                    await asyncio.sleep(0.01)
            self._users += 1
        try:
            yield
        finally:
            async with self._lock:
                self._users -= 1
                if self._users == 0 and self._server is not None and self._serving is not None:
                    for leg in self.legs.values():
                        if leg.task is not None:
                            leg.task.cancel()
                    self._server.should_exit = True
                    await self._serving
                    self._server = self._serving = None

    # ── the REST API ─────────────────────────────────────────────────────────────────────────────────────
    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        expected = "Basic " + base64.b64encode(":".join(self._auth).encode()).decode()
        return secrets.compare_digest(header.encode(), expected.encode())

    async def _create(self, request: Request) -> Response:
        if not self._authorised(request) or request.path_params["account"] != self._auth[0]:
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, status_code=401)
        form = {k: str(v) for k, v in (await request.form()).items()}
        url = form.get("Url", "")
        transfer = parse_qs(urlsplit(url).query).get("transfer", [""])[0]
        waiting = self.waiting.get(f"warmline-{transfer}")
        attempt = len(waiting.legs) if waiting is not None else 0
        behaviour: AgentBehaviour = "no-answer"
        if waiting is not None and attempt < len(waiting.agents):
            behaviour = waiting.agents[attempt]
        leg = AgentLeg(sid="CA" + secrets.token_hex(16), to=form.get("To", ""), behaviour=behaviour)
        self.legs[leg.sid] = leg
        if waiting is not None:
            waiting.legs.append(leg)
        leg.task = asyncio.create_task(self._colleague(leg, form, waiting))
        body = {
            "sid": leg.sid,
            "status": "queued",
            "to": leg.to,
            "from": form.get("From", ""),
            "account_sid": self._auth[0],
        }
        return JSONResponse(body, status_code=201)

    async def _update(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, status_code=401)
        leg = self.legs.get(request.path_params["sid"])
        if leg is None:
            return JSONResponse({"code": 20404, "message": "not found", "status": 404}, status_code=404)
        form = await request.form()
        status = str(form.get("Status", ""))
        if status in ("canceled", "completed") and leg.status in ("queued", "ringing", "in-progress"):
            if leg.task is not None:
                leg.task.cancel()
            leg.status = status
        return JSONResponse({"sid": leg.sid, "status": leg.status, "to": leg.to})

    async def _delete_queue(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, status_code=401)
        self.deleted_queues.add(request.path_params["sid"])
        return Response(status_code=204)

    # ── the colleague ────────────────────────────────────────────────────────────────────────────────────
    async def _colleague(self, leg: AgentLeg, form: dict[str, str], waiting: Waiting | None) -> None:
        """Ring, answer (or not) and react as scripted; report the end to the status callback."""
        callback = form.get("StatusCallback", "")
        params = {"CallSid": leg.sid, "AccountSid": self._auth[0], "From": form.get("From", ""), "To": leg.to}
        params["Direction"] = "outbound-api"
        async with httpx.AsyncClient(timeout=30.0) as client:
            try:
                leg.status = "ringing"
                if leg.behaviour == "failed":
                    final = "failed"
                elif leg.behaviour == "no-answer":
                    await self._sleep(float(form.get("Timeout", "20")))
                    final = "no-answer"
                elif leg.behaviour == "busy":
                    await self._sleep(RING_S / 2)
                    final = "busy"
                else:
                    await self._sleep(RING_S)
                    leg.status = "in-progress"
                    await self._answer(client, leg, form, params, waiting)
                    final = "completed"
            except asyncio.CancelledError:
                final = leg.status if leg.status in ("canceled", "completed") else "canceled"
                leg.status = final
                with contextlib.suppress(httpx.HTTPError):
                    await self._post(client, callback, {**params, "CallStatus": final})
                raise
            leg.status = final
            if callback:
                await self._post(client, callback, {**params, "CallStatus": final})

    async def _answer(
        self,
        client: httpx.AsyncClient,
        leg: AgentLeg,
        form: dict[str, str],
        params: dict[str, str],
        waiting: Waiting | None,
    ) -> None:
        leg.answered_by = "machine_start" if leg.behaviour == "machine" else "human"
        response = await self._post(
            client, form.get("Url", ""), {**params, "CallStatus": "in-progress", "AnsweredBy": leg.answered_by}
        )
        leg.briefing_twiml = response.text
        gather = ET.fromstring(response.text).find("Gather")
        if gather is None:
            return  # hung up on (a machine), or too late
        for play in gather.findall("Play"):
            audio = await client.get(play.text or "")
            leg.heard.append(audio.content if audio.status_code == 200 else b"")
            await self._sleep(_wav_seconds(audio.content))
        digits = {"accepts": "1", "answers": "1", "declines": "2"}.get(leg.behaviour, "")
        if not digits:
            await self._sleep(float(gather.get("timeout", "5")))
        response = await self._post(
            client, gather.get("action", ""), {**params, "CallStatus": "in-progress", "Digits": digits}
        )
        leg.key_twiml = response.text
        queue = ET.fromstring(response.text).find("Dial/Queue")
        if queue is not None and waiting is not None and self.waiting.get((queue.text or "").strip()) is waiting:
            waiting.bridged.set()

    async def _sleep(self, line_seconds: float) -> None:
        await asyncio.sleep(line_seconds / self._speed)


def _wav_seconds(data: bytes) -> float:
    """The length of a WAV file's audio."""
    try:
        with wave.open(io.BytesIO(data)) as wav:
            return float(wav.getnframes()) / float(wav.getframerate())
    except (wave.Error, EOFError):
        return 0.0
