"""Twilio's HTTP webhooks: incoming call, end of stream, call status, and the call log for the simulator.

Every request must carry a valid ``X-Twilio-Signature`` for the public URL; anything else gets 403 and a log line.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from ivr.call.record import CallRecord
from ivr.deps import RuntimeDep
from ivr.privacy import mask_phone
from ivr.telephony import twiml

log = logging.getLogger(__name__)

router = APIRouter(prefix="/twilio", tags=["twilio"])

XML = "application/xml"


async def verified_params(request: Request, runtime: RuntimeDep) -> dict[str, str]:
    """The request's form parameters, once the signature over public URL + parameters is proven Twilio's."""
    form = await request.form() if request.method == "POST" else {}
    params = {key: str(value) for key, value in form.items()}
    url = runtime.settings.url(request.url.path)
    if request.url.query:
        url = f"{url}?{request.url.query}"
    if not runtime.signatures.is_valid(url, params, request.headers.get("x-twilio-signature")):
        client = request.client.host if request.client else "?"
        log.warning("refused %s %s from %s: missing or invalid X-Twilio-Signature", request.method, url, client)
        raise HTTPException(status_code=403, detail="invalid Twilio signature")
    return params


TwilioParams = Annotated[dict[str, str], Depends(verified_params)]


@router.post("/voice")
async def incoming_call(params: TwilioParams, runtime: RuntimeDep) -> Response:
    call_sid = params.get("CallSid", "")
    if not call_sid:
        raise HTTPException(status_code=400, detail="CallSid missing")
    language = runtime.settings.language
    runtime.registry.open(call_sid, language, caller=mask_phone(params.get("From", "")))
    token = runtime.tokens.issue(call_sid)
    log.info("call %s from %s: answering with a media stream", call_sid, mask_phone(params.get("From", "")))
    return Response(twiml.connect_stream(runtime.settings, token, language), media_type=XML)


@router.post("/after-stream")
async def after_stream(params: TwilioParams, runtime: RuntimeDep) -> Response:
    record = runtime.registry.get(params.get("CallSid", ""))
    outcome = record.outcome if record is not None else None
    if outcome is None:
        log.warning("call %s: stream ended without a decision; handing to a person", params.get("CallSid"))
    return Response(twiml.after_stream(runtime.settings, outcome), media_type=XML)


@router.post("/status")
async def call_status(params: TwilioParams, runtime: RuntimeDep) -> Response:
    status = params.get("CallStatus", "")
    if status in {"completed", "busy", "failed", "no-answer", "canceled"}:
        runtime.registry.finish(params.get("CallSid", ""), status)
    return Response(twiml.empty(), media_type=XML)


@router.get("/calls/{call_sid}", response_model=CallRecord)
async def call_log(call_sid: str, _: TwilioParams, runtime: RuntimeDep) -> CallRecord:
    """The conversation so far; signed like a webhook so only holders of the auth token (our simulator) read it."""
    record = runtime.registry.get(call_sid)
    if record is None:
        raise HTTPException(status_code=404, detail="unknown call")
    return record
