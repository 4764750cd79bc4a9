"""Live calls (with a server-sent event stream), the call list, one call turn by turn, and its summary audio."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, StreamingResponse
from sqlalchemy.engine import Engine

from ivr.admin import queries
from ivr.admin.auth import Viewer
from ivr.admin.console import ConsoleDep, EngineDep, RuntimeDep, StoreDep
from ivr.admin.pages import render, zone_of
from ivr.callers import HISTORY_DAYS

router = APIRouter()

#: how often the live stream looks at the store; the store (not this process's memory) is the truth, so calls
#: handled by other worker processes show up too
LIVE_POLL_S = 1.0
#: a stream ends after this long and the browser's EventSource reconnects (after ``retry`` ms): a server shutting
#: down waits for open responses, so no stream may hold it up for long
LIVE_STREAM_MAX_S = 30.0
RECONNECT_MS = 1000
KEEPALIVE_S = 15.0


@router.get("/", include_in_schema=False)
def home(_: Viewer) -> RedirectResponse:
    return RedirectResponse("/admin/live", status_code=303)


@router.get("/live", response_class=HTMLResponse)
def live_page(request: Request, user: Viewer, console: ConsoleDep, engine: EngineDep) -> HTMLResponse:
    calls = queries.live_calls(engine)
    return render(console, request, "live.html", user, section="live", calls=calls)


@router.get("/api/live")
def live_json(request: Request, _: Viewer, engine: EngineDep) -> list[dict[str, object]]:
    return [call.to_json(zone_of(request)) for call in queries.live_calls(engine)]


async def _live_events(request: Request, engine: Engine, zone: str) -> AsyncIterator[str]:
    last = None
    last_sent = time.monotonic()
    started = last_sent
    yield f"retry: {RECONNECT_MS}\n\n"
    while time.monotonic() - started < LIVE_STREAM_MAX_S:
        if await request.is_disconnected():
            return
        rows = await asyncio.to_thread(queries.live_calls, engine)
        payload = json.dumps([row.to_json(zone) for row in rows], ensure_ascii=False)
        if payload != last:
            last = payload
            last_sent = time.monotonic()
            yield f"event: calls\ndata: {payload}\n\n"
        elif time.monotonic() - last_sent > KEEPALIVE_S:
            last_sent = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(LIVE_POLL_S)


@router.get("/api/live/stream")
def live_stream(request: Request, _: Viewer, engine: EngineDep) -> StreamingResponse:
    """Server-sent events: the full list of live calls whenever it changes."""
    return StreamingResponse(
        _live_events(request, engine, zone_of(request)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


PER_PAGE = 50


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("/calls", response_class=HTMLResponse)
def calls_page(
    request: Request,
    user: Viewer,
    console: ConsoleDep,
    engine: EngineDep,
    day_from: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    day_to: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    outcome: Annotated[str | None, Query(max_length=16)] = None,
    intent: Annotated[str | None, Query(max_length=64)] = None,
    rule: Annotated[str | None, Query(max_length=255)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """Every stored call, newest first: duration and how it ended; narrowed by date, outcome, intent and rule."""
    chosen = outcome if outcome in queries.DISPOSITION_LABELS else None
    filters = queries.CallFilter(
        day_from=_day(day_from),
        day_to=_day(day_to),
        disposition=chosen,  # type: ignore[arg-type]
        intent=intent or None,
        rule=rule or None,
        zone=zone_of(request),
    )
    result = queries.call_page(engine, filters, page, PER_PAGE)
    intents, rules = queries.filter_choices(engine)
    query = {k: v for k, v in request.query_params.items() if k != "page" and v}
    return render(
        console,
        request,
        "calls.html",
        user,
        section="calls",
        result=result,
        filters=filters,
        intents=intents,
        rules=[(name, queries.reason_label(name)) for name in rules],
        outcomes=queries.DISPOSITION_LABELS,
        query=urlencode(query),
    )


@router.get("/calls/{call_sid}", response_class=HTMLResponse)
def call_page(call_sid: str, request: Request, user: Viewer, console: ConsoleDep, store: StoreDep) -> HTMLResponse:
    call = store.get_call(call_sid)
    if call is None:
        raise HTTPException(404, f"no call {call_sid}")
    # Rendered on this instance, or renderable here from the stored text (another instance rendered it).
    transfer = call.transfer
    audio = bool(transfer and transfer.summary_audio and (Path(transfer.summary_audio).is_file() or transfer.summary))
    # caller memory is shown to supervisors only: who called how often is more than a viewer needs
    earlier = (
        store.caller_history(call.caller_key, call.started_at - timedelta(days=HISTORY_DAYS), exclude=call_sid)
        if call.caller_key and user.is_supervisor
        else []
    )
    earlier = [c for c in earlier if c.started < call.started_at.timestamp()]
    return render(console, request, "call.html", user, section="calls", call=call, has_audio=audio, earlier=earlier)


@router.get("/calls/{call_sid}/summary.wav")
async def summary_audio(call_sid: str, _: Viewer, engine: EngineDep, runtime: RuntimeDep) -> FileResponse:
    """The spoken summary the colleague heard, for logged-in console users only. With several instances it may have
    been rendered on another one: the same text renders the same audio here (then cached)."""
    found = await asyncio.to_thread(queries.summary_audio, engine, call_sid)
    if found is None or not found.path.endswith(".wav"):
        raise HTTPException(404, "no summary audio for this call")
    path = Path(found.path)
    if not await asyncio.to_thread(path.is_file):
        if not found.text:
            raise HTTPException(404, "no summary audio for this call")
        path = await runtime.synth.synthesize_wav(found.text, found.language)
    return FileResponse(path, media_type="audio/wav")
