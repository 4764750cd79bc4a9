"""What the colleague sees and hears about the caller: the spoken summary, and the agent page — the briefing, then,
once they have taken the call, agent assist live (:mod:`ivr.transfer.assist`): both sides' words, the caller's
mood and suggestions, as server-sent events.

Both are behind the signed, expiring link the colleague was given; no login. The live stream reads the call's
events from the registry, so it works on whichever instance the colleague's browser reaches.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from ivr.call.record import CallRecord, TransferRecord
from ivr.deps import RuntimeDep
from ivr.runtime import Runtime
from ivr.telephony.urls import summary_audio_url
from ivr.transfer.assist import AssistSources, CallFacts, HeardLine, heard_lines, mood, suggest
from ivr.transfer.links import verify_link
from ivr.web_security import agent_page_headers, new_nonce

router = APIRouter(tags=["transfer"])

_templates = Environment(loader=PackageLoader("ivr", "templates"), autoescape=select_autoescape(["html"]))

#: how often the live stream looks for new lines: with the 0.6 s pause that ends a line and the decoding, a line
#: is on the page well within 1.5 s of being said
LIVE_POLL_S = 0.2
#: a stream ends after this long and the browser reconnects (``retry``), resuming after the last line it has
LIVE_STREAM_MAX_S = 30.0
RECONNECT_MS = 500
KEEPALIVE_S = 15.0


def _signed(runtime: RuntimeDep, transfer_id: str, exp: Annotated[int, Query()], sig: Annotated[str, Query()]) -> str:
    if not verify_link(transfer_id, exp, sig, runtime.settings.auth_token):
        raise HTTPException(status_code=403, detail="link invalid or expired")
    return transfer_id


SignedTransfer = Annotated[str, Depends(_signed)]


@router.get("/audio/summaries/{transfer_id}")
async def summary_audio(transfer_id: SignedTransfer, runtime: RuntimeDep) -> FileResponse:
    record = await runtime.recall_transfer(transfer_id)
    if record is None or not record.summary_audio:
        raise HTTPException(status_code=404, detail="no summary audio")
    path = Path(record.summary_audio)
    if not await asyncio.to_thread(path.is_file) and record.summary:
        # Rendered on another instance (or purged from this cache): the same text renders the same audio, which
        # this instance's cache keeps from now on — the redacted text is the record, the WAV is a rendering.
        path = await runtime.synth.synthesize_wav(record.summary, record.summary_language or record.language)
    return FileResponse(path, media_type="audio/wav", headers=agent_page_headers(new_nonce()))


# ── the live part ─────────────────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True)
class AssistState:
    """The agent page's live part at one moment."""

    state: str  # "waiting" (nobody has taken the call yet), "live", or "ended"
    lines: list[dict[str, object]]
    mood: dict[str, object]
    suggestions: list[dict[str, str]]


def _sources(runtime: Runtime, transfer: TransferRecord) -> AssistSources:
    flows = runtime.flows
    caller_flow = flows.get(transfer.language) or flows[runtime.settings.language]
    agent_flow = flows.get(transfer.summary_language or transfer.language, caller_flow)
    services = runtime.session_deps.dialogs[caller_flow.language].services
    texts = runtime.desk.assist_texts[agent_flow.language]
    return AssistSources(caller_flow, agent_flow, services, texts, runtime.settings.company_name)


def _state(transfer: TransferRecord, call: CallRecord | None) -> str:
    if call is None or call.ended is not None or transfer.has_step("abandoned") or transfer.has_step("unreachable"):
        return "ended"
    return "live" if transfer.taken else "waiting"


def _line_json(n: int, line: HeardLine, sources: AssistSources) -> dict[str, object]:
    return {
        "n": n,
        "speaker": line.speaker,
        "label": sources.texts.speakers[line.speaker],
        "text": line.text,
        "time": time.strftime("%H:%M:%S", time.localtime(line.at)),
        "distress": line.distress,
    }


class _Assistant:
    """One page's view of the live call; suggestions are worked out again only when there is a new line."""

    def __init__(self, runtime: Runtime, transfer_id: str) -> None:
        self._runtime = runtime
        self._transfer_id = transfer_id
        self._seen = -1
        self._suggestions: list[dict[str, str]] = []

    async def now(self) -> AssistState | None:
        transfer = await self._runtime.recall_transfer(self._transfer_id)
        if transfer is None:
            return None
        call, _ = await self._runtime.recall_call(transfer.call_sid)
        sources = _sources(self._runtime, transfer)
        lines = heard_lines(call.events, call.started) if call is not None else []
        facts = CallFacts(
            intent=transfer.intent,
            order_number=call.outcome.order_number if call is not None and call.outcome is not None else "",
            previous=tuple(call.history) if call is not None else (),
            distress=transfer.distress,
            at=transfer.created,
        )
        if len(lines) != self._seen:
            self._seen = len(lines)
            found = await asyncio.to_thread(suggest, facts, lines, sources)
            self._suggestions = [s.to_json() for s in found]
        return AssistState(
            state=_state(transfer, call),
            lines=[_line_json(n, line, sources) for n, line in enumerate(lines, start=1)],
            mood=mood(lines, facts, sources.texts).to_json(),
            suggestions=self._suggestions,
        )


def _event(name: str, data: object, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _live_events(request: Request, assistant: _Assistant, after: int) -> AsyncIterator[str]:
    yield f"retry: {RECONNECT_MS}\n\n"
    started = last_sent = time.monotonic()
    sent: dict[str, object] = {}
    while time.monotonic() - started < LIVE_STREAM_MAX_S:
        if await request.is_disconnected():
            return
        now = await assistant.now()
        if now is None:
            yield _event("ended", {"state": "ended"})
            return
        chunks = [_event("line", line, int(str(line["n"]))) for line in now.lines[after:]]
        after = max(after, len(now.lines))
        for name, value in (("state", {"state": now.state}), ("mood", now.mood), ("suggestions", now.suggestions)):
            if sent.get(name) != value:
                sent[name] = value
                chunks.append(_event(name, value))
        if chunks:
            last_sent = time.monotonic()
            yield "".join(chunks)
        elif time.monotonic() - last_sent > KEEPALIVE_S:
            last_sent = time.monotonic()
            yield ": keep-alive\n\n"
        if now.state == "ended":
            yield _event("ended", {"state": "ended"})
            return
        await asyncio.sleep(LIVE_POLL_S)


@router.get("/agent/transfers/{transfer_id}/live")
async def agent_live(
    transfer_id: SignedTransfer,
    runtime: RuntimeDep,
    request: Request,
    after: Annotated[int, Query(ge=0, le=100_000)] = 0,
    last_event_id: Annotated[str | None, Header(max_length=12)] = None,
) -> StreamingResponse:
    """Server-sent events for the agent page: ``line`` (one per utterance, ``id`` its number, so a reconnecting
    browser resumes after the last it has), and ``state``, ``mood`` and ``suggestions`` whenever they change."""
    if last_event_id is not None and last_event_id.isdigit():
        after = max(after, int(last_event_id))
    return StreamingResponse(
        _live_events(request, _Assistant(runtime, transfer_id), after),
        media_type="text/event-stream",
        headers={**agent_page_headers(new_nonce()), "Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/agent/transfers/{transfer_id}", response_class=HTMLResponse)
async def agent_page(
    transfer_id: SignedTransfer,
    runtime: RuntimeDep,
    exp: Annotated[int, Query()],
    sig: Annotated[str, Query()],
) -> HTMLResponse:
    """What the colleague sees: the summary, why the call came to them, the redacted conversation with the
    computer, and — live once they take the call — agent assist."""
    record = await runtime.recall_transfer(transfer_id)
    if record is None:
        raise HTTPException(status_code=404, detail="unknown transfer")
    now = await _Assistant(runtime, transfer_id).now()
    assert now is not None
    query = urlencode({"exp": exp, "sig": sig, "after": len(now.lines)})
    nonce = new_nonce()
    html = _templates.get_template("agent_transfer.html").render(
        nonce=nonce,
        transfer=record,
        live=now,
        live_url=f"/agent/transfers/{quote(transfer_id, safe='')}/live?{query}",
        audio_url=summary_audio_url(runtime, transfer_id),
        console_url=runtime.settings.url(f"/admin/calls/{quote(record.call_sid, safe='')}"),
        created=time.strftime("%Y-%m-%d %H:%M", time.localtime(record.created)),
    )
    return HTMLResponse(html, headers=agent_page_headers(nonce))
