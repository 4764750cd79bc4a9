"""The Media Streams WebSocket: Twilio's frames in, a CallSession in the middle, our frames out.

Trust comes in two layers: Twilio's signature on the handshake, then our per-call token in the ``start`` frame. A
malformed frame is logged and skipped — one bad packet must not drop a caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.types import Message

from ivr.call.playback import StreamClosed
from ivr.call.session import CallSession
from ivr.deps import WsRuntimeDep
from ivr.errors import StreamTokenError
from ivr.runtime import Runtime
from ivr.telephony.protocol import Connected, Dtmf, Mark, Media, ProtocolError, Start, Stop, parse_inbound
from ivr.telephony.signed import POLICY_VIOLATION, accept_twilio_socket

log = logging.getLogger(__name__)

router = APIRouter(tags=["twilio"])


@router.websocket("/twilio/media")
async def media_stream(websocket: WebSocket, runtime: WsRuntimeDep) -> None:
    settings = runtime.settings
    if not await accept_twilio_socket(websocket, runtime, settings.stream_url, "media stream"):
        return
    send_lock = asyncio.Lock()

    async def send(text: str) -> None:
        async with send_lock:
            try:
                await websocket.send_text(text)
            except (WebSocketDisconnect, RuntimeError, OSError) as exc:
                raise StreamClosed(f"media stream closed: {exc or type(exc).__name__}") from exc

    session: CallSession | None = None
    claimed: str | None = None
    reader: asyncio.Task[Message] | None = None
    start_deadline = asyncio.get_running_loop().time() + settings.stream_start_timeout_s
    try:
        while True:
            reader = asyncio.create_task(websocket.receive())
            waiters: set[asyncio.Future[object]] = {reader}  # type: ignore[arg-type]
            finished = None
            if session is not None:
                finished = asyncio.ensure_future(session.finished.wait())
                waiters.add(finished)  # type: ignore[arg-type]
            timeout = None if session is not None else start_deadline - asyncio.get_running_loop().time()
            done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if finished is not None and not finished.done():
                finished.cancel()
            if not done:
                log.warning("media stream sent no start within %.0f s; closed", settings.stream_start_timeout_s)
                await _close(websocket, reader, POLICY_VIOLATION)
                return
            if reader not in done:
                # The session decided (transfer or goodbye) and the caller heard it, or handed the call over: end
                # the stream so Twilio requests the <Connect action> URL. The claim goes first — a resumed stream for
                # this call may arrive before this one has finished closing.
                if claimed is not None:
                    runtime.registry.release_stream(claimed)
                    claimed = None
                await _close(websocket, reader, 1000)
                break
            message = reader.result()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            raw = message.get("text")
            if raw is None:
                size = len(message.get("bytes") or b"")
                log.warning("call %s: skipped a binary frame (%d bytes)", session.call_sid if session else "?", size)
                continue
            try:
                frame = parse_inbound(raw)
            except ProtocolError as exc:
                log.warning("call %s: skipped a bad frame: %s", session.call_sid if session else "?", exc)
                continue
            if isinstance(frame, Connected):
                continue
            if isinstance(frame, Start):
                if session is not None:
                    continue
                start = frame.start
                refusal = _admit(runtime, start.custom_parameters.get("token"), start.call_sid)
                if refusal is not None:
                    log.warning("call %s: refused media stream: %s", start.call_sid, refusal)
                    await websocket.close(code=POLICY_VIOLATION)
                    return
                claimed = start.call_sid
                language = start.custom_parameters.get("language", settings.language)
                if language not in runtime.session_deps.dialogs:
                    language = settings.language
                runtime.registry.open(start.call_sid, language)
                resume = None
                if start.custom_parameters.get("resume") == "1":
                    resume = runtime.registry.resuming(claimed)
                    if resume is None:
                        # A resumed stream reached a server without the call's progress: never start the caller
                        # over. Ending the stream makes Twilio ask after-stream again, which now sends a person.
                        log.warning("call %s: resumed stream without the call's progress here; ended", claimed)
                        runtime.registry.release_stream(claimed)
                        claimed = None
                        await websocket.close(code=1000)
                        return
                    language = resume.language
                session = CallSession(
                    start.call_sid, start.stream_sid, language, runtime.session_deps, send, resume=resume
                )
                runtime.drain.enter(session)
                await session.start()
            elif session is None:
                log.warning("media stream: %s frame before start; skipped", type(frame).__name__.lower())
            elif isinstance(frame, Media):
                if frame.media.track not in ("inbound", "inbound_track"):
                    continue
                try:
                    audio = frame.audio()
                except ProtocolError as exc:
                    log.warning("call %s: skipped a bad media frame: %s", session.call_sid, exc)
                    continue
                await session.on_audio(audio)
            elif isinstance(frame, Dtmf):
                await session.on_dtmf(frame.dtmf.digit)
            elif isinstance(frame, Mark):
                session.on_mark(frame.mark.name)
            elif isinstance(frame, Stop):
                log.info("call %s: stream stopped by Twilio (caller hung up or call redirected)", session.call_sid)
                break
    except (WebSocketDisconnect, StreamClosed):
        log.info("call %s: media stream disconnected", session.call_sid if session else "?")
    finally:
        if reader is not None and not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                await reader
        if session is not None:
            await session.close()
            runtime.drain.leave(session)
        if claimed is not None:
            runtime.registry.release_stream(claimed)


def _admit(runtime: Runtime, token: str | None, call_sid: str) -> str | None:
    """Why this ``start`` may not open a stream, or None: the token is spent on success (single use), and the
    call must have no other live stream and not be over."""
    try:
        runtime.tokens.redeem(token, call_sid)
    except StreamTokenError as exc:
        return str(exc)
    return runtime.registry.claim_stream(call_sid)


async def _close(websocket: WebSocket, reader: asyncio.Task[Message], code: int) -> None:
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
        await reader
    await websocket.close(code=code)
