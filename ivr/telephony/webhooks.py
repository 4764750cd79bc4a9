"""Twilio's HTTP webhooks: incoming call, end of stream, call status, and the call log for the simulator.

Every request must carry a valid ``X-Twilio-Signature`` for the public URL; anything else gets 403 and a log line.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, HTTPException, Response

from ivr.call.record import CallRecord, TransferRecord
from ivr.callers import HISTORY_CALLS, HISTORY_DAYS, PreviousCall, caller_key
from ivr.deps import RuntimeDep
from ivr.privacy import mask_phone
from ivr.rules.schema import DEFAULT_TARGET
from ivr.runtime import Runtime
from ivr.telephony import twiml
from ivr.telephony.handover import transfer_response
from ivr.telephony.signed import XML, TwilioParams
from ivr.telephony.urls import prompt_audio_url

log = logging.getLogger(__name__)

router = APIRouter(prefix="/twilio", tags=["twilio"])


@router.post("/voice")
async def incoming_call(params: TwilioParams, runtime: RuntimeDep) -> Response:
    call_sid = params.get("CallSid", "")
    if not call_sid:
        raise HTTPException(status_code=400, detail="CallSid missing")
    language = runtime.settings.language
    if runtime.drain.active or runtime.registry.active_sessions >= runtime.settings.max_calls:
        log.warning(
            "call %s: this server is %s; straight to a person",
            call_sid,
            "draining" if runtime.drain.active else f"full ({runtime.settings.max_calls} calls)",
        )
        default = runtime.rulebook.active.targets[DEFAULT_TARGET]
        announcement = prompt_audio_url(runtime, language, "busy_transfer")
        return Response(twiml.busy_handoff(announcement, default), media_type=XML)
    key, history = await _remember(runtime, call_sid, params.get("From", ""))
    runtime.registry.open(
        call_sid, language, caller=mask_phone(params.get("From", "")), caller_key=key or "", history=history
    )
    token = runtime.tokens.issue(call_sid)
    log.info("call %s from %s: answering with a media stream", call_sid, mask_phone(params.get("From", "")))
    return Response(twiml.connect_stream(runtime.settings, token, language), media_type=XML)


async def _remember(runtime: Runtime, call_sid: str, number: str) -> tuple[str | None, list[PreviousCall]]:
    """Caller memory: the caller's keyed hash and earlier calls (none for a withheld number, or when it is off)."""
    if not runtime.settings.caller_memory:
        return None, []
    key = caller_key(number, runtime.settings.auth_token)
    if key is None:
        return None, []
    since = datetime.now(UTC) - timedelta(days=HISTORY_DAYS)
    try:
        history = await asyncio.to_thread(
            runtime.store.caller_history, key, since, exclude=call_sid, limit=HISTORY_CALLS
        )
    except Exception:  # the store is down: the call goes on as a first call
        log.exception("call %s: caller memory unavailable", call_sid)
        history = []
    return key, history


@router.post("/after-stream")
async def after_stream(params: TwilioParams, runtime: RuntimeDep) -> Response:
    record, transfer = await runtime.recall_call(params.get("CallSid", ""))
    outcome = record.outcome if record is not None else None
    call_sid = params.get("CallSid", "")
    if outcome is None:
        # Whatever claim is left on the stream is stale now (a killed server's): it must not keep the resume out.
        runtime.registry.stream_ended(call_sid)
        # In one process the progress lives here: no resume from an instance that is leaving. With shared live
        # state any instance the load balancer picks for the new stream has it.
        leaving = runtime.drain.active and not runtime.shared_state
        progress = None if leaving else runtime.registry.take_resume(call_sid)
        if progress is not None:
            # Its server died or drained mid-dialog: a new stream (to any instance) picks the dialog up again.
            log.warning("call %s: stream ended without a decision; resuming the dialog on a new stream", call_sid)
            runtime.registry.add_event(call_sid, "action", text="resumed", detail="the media stream was lost")
            token = runtime.tokens.issue(call_sid)
            resumed = twiml.connect_stream(runtime.settings, token, progress.language, resume=True)
            return Response(resumed, media_type=XML)
        log.warning("call %s: stream ended without a decision; handing to a person", call_sid)
    if outcome is not None and outcome.kind == "transfer" and transfer is not None:
        return Response(transfer_response(runtime, transfer), media_type=XML)
    default = runtime.rulebook.active.targets[DEFAULT_TARGET]
    return Response(twiml.after_stream(outcome, default), media_type=XML)


@router.post("/status")
async def call_status(params: TwilioParams, runtime: RuntimeDep) -> Response:
    status = params.get("CallStatus", "")
    if status in {"completed", "busy", "failed", "no-answer", "canceled"}:
        await runtime.recall_call(params.get("CallSid", ""))  # after a restart too, the end is written
        runtime.registry.finish(params.get("CallSid", ""), status)
    return Response(twiml.empty(), media_type=XML)


@router.get("/calls/{call_sid}", response_model=CallRecord)
async def call_log(call_sid: str, _: TwilioParams, runtime: RuntimeDep) -> CallRecord:
    """The conversation so far; signed like a webhook so only holders of the auth token (our simulator) read it."""
    record = runtime.registry.get(call_sid)
    if record is None:
        raise HTTPException(status_code=404, detail="unknown call")
    return record


@router.get("/calls/{call_sid}/transfer", response_model=TransferRecord)
async def call_transfer(call_sid: str, _: TwilioParams, runtime: RuntimeDep) -> TransferRecord:
    """The call's transfer briefing (signed like a webhook: for our simulator and tests)."""
    transfer = runtime.registry.transfer_for_call(call_sid)
    if transfer is None:
        raise HTTPException(status_code=404, detail="no transfer for this call")
    return transfer
