"""The warm transfer on Twilio's side: whisper to the agent, what happens when nobody answers, the agent's page.

Caller-facing speech here is our own rendered audio (``<Play>``), never Twilio's TTS: the same voice and words as
the rest of the call, and nothing leaves the machine but the audio itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import TypeAdapter

from ivr.call.record import CallbackRequest, TransferRecord
from ivr.config import REPO_ROOT
from ivr.deps import RuntimeDep
from ivr.rules.schema import Target
from ivr.runtime import Runtime
from ivr.telephony.signed import XML, TwilioParams
from ivr.transfer.links import sign_link, verify_link
from ivr.transfer.twiml import (
    callback_confirmed_twiml,
    dial_result_twiml,
    handover_task_attributes,
    hold_twiml,
    transfer_twiml,
    whisper_twiml,
)
from ivr.web_security import agent_page_headers, new_nonce

log = logging.getLogger(__name__)

router = APIRouter(tags=["transfer"])

_templates = Environment(loader=PackageLoader("ivr", "templates"), autoescape=select_autoescape(["html"]))

#: how long a signed audio or agent link stays valid
LINK_TTL_S = 24 * 3600
#: the shipped hold sounds, and the one played while a caller waits for a colleague
HOLD_DIR = REPO_ROOT / "audio" / "hold"
HOLD_AUDIO = "chime.wav"


def prompt_audio_url(runtime: Runtime, language: str, key: str) -> str:
    return runtime.settings.url(f"/audio/prompts/{language}/{quote(key)}.wav")


def agent_page_url(runtime: Runtime, transfer_id: str) -> str:
    return sign_link(runtime.settings.public_url, transfer_id, runtime.settings.auth_token, LINK_TTL_S)


def summary_audio_url(runtime: Runtime, transfer_id: str) -> str:
    """The spoken summary, under the same signature as the agent page: both are for the colleague's ears only."""
    query = agent_page_url(runtime, transfer_id).split("?", 1)[1]
    return runtime.settings.url(f"/audio/summaries/{quote(transfer_id, safe='')}?{query}")


_TARGET: TypeAdapter[Target] = TypeAdapter(Target)


def transfer_response(runtime: Runtime, transfer: TransferRecord) -> str:
    """The TwiML that bridges the caller to the chosen colleague, with the whisper and the no-answer path."""
    tid = quote(transfer.transfer_id)
    attributes = handover_task_attributes(
        transfer_id=transfer.transfer_id,
        language=transfer.language,
        intent=transfer.intent,
        summary=transfer.summary,
        transcript=transfer.transcript,
        distress=transfer.distress,
        distress_reasons=transfer.distress_reasons,
        recognition=transfer.recognition,
        rule=transfer.rule,
        agent_url=agent_page_url(runtime, transfer.transfer_id),
    )
    return transfer_twiml(
        _TARGET.validate_python(transfer.target),
        whisper_url=runtime.settings.url(f"/twilio/whisper?transfer={tid}"),
        dial_action_url=runtime.settings.url(f"/twilio/dial-status?transfer={tid}"),
        task_attributes=attributes,
        language=transfer.language,
        priority=transfer.priority,
        wait_url=runtime.settings.url(f"/twilio/hold?language={quote(transfer.language)}"),
    )


@router.post("/twilio/whisper")
async def whisper(_: TwilioParams, runtime: RuntimeDep, transfer: Annotated[str, Query(max_length=64)]) -> Response:
    """Twilio calls this when the colleague picks up, before the caller is bridged: play them the summary."""
    record = await runtime.recall_transfer(transfer)
    if record is None:
        raise HTTPException(status_code=404, detail="unknown transfer")
    runtime.registry.update_transfer(transfer, status="answered")
    return Response(whisper_twiml(summary_audio_url(runtime, transfer)), media_type=XML)


@router.post("/twilio/dial-status")
async def dial_status(
    params: TwilioParams, runtime: RuntimeDep, transfer: Annotated[str, Query(max_length=64)]
) -> Response:
    """The ``<Dial action>`` (or ``<Enqueue action>``): after a bridged call hang up; when nobody answered, offer a
    call-back or voicemail."""
    status = params.get("DialCallStatus") or params.get("QueueResult") or "failed"
    await runtime.recall_transfer(transfer)
    record = runtime.registry.update_transfer(transfer, status=status)
    language = record.language if record is not None else runtime.settings.language
    if status not in ("completed", "answered"):
        log.info("transfer %s: %s; offering call-back or voicemail", transfer, status)
    twiml = dial_result_twiml(
        status,
        prompt_audio_urls=[prompt_audio_url(runtime, language, "transfer_unanswered")],
        record_action_url=runtime.settings.url(f"/twilio/voicemail?transfer={quote(transfer)}"),
        callback_action_url=runtime.settings.url(f"/twilio/callback?transfer={quote(transfer)}"),
    )
    return Response(twiml, media_type=XML)


@router.post("/twilio/callback")
async def callback_choice(
    params: TwilioParams, runtime: RuntimeDep, transfer: Annotated[str, Query(max_length=64)]
) -> Response:
    """The caller's keypad answer to the call-back offer: 1 files a call-back request; anything else, voicemail."""
    record = await runtime.recall_transfer(transfer)
    language = record.language if record is not None else runtime.settings.language
    if params.get("Digits") == "1":
        runtime.registry.add_callback(transfer, CallbackRequest(kind="callback"))
        return Response(
            callback_confirmed_twiml(prompt_audio_url(runtime, language, "callback_confirmed")), media_type=XML
        )
    twiml = dial_result_twiml(
        "no-answer",
        prompt_audio_urls=[prompt_audio_url(runtime, language, "transfer_unanswered")],
        record_action_url=runtime.settings.url(f"/twilio/voicemail?transfer={quote(transfer)}"),
        callback_action_url=runtime.settings.url(f"/twilio/callback?transfer={quote(transfer)}"),
    )
    return Response(twiml, media_type=XML)


@router.post("/twilio/voicemail")
async def voicemail(
    params: TwilioParams, runtime: RuntimeDep, transfer: Annotated[str, Query(max_length=64)]
) -> Response:
    """A message was recorded after the call-back offer: it is a call-back request with the recording attached."""
    record = await runtime.recall_transfer(transfer)
    language = record.language if record is not None else runtime.settings.language
    runtime.registry.add_callback(
        transfer, CallbackRequest(kind="voicemail", recording_url=params.get("RecordingUrl", ""))
    )
    return Response(callback_confirmed_twiml(prompt_audio_url(runtime, language, "voicemail_saved")), media_type=XML)


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


@router.post("/twilio/hold")
async def hold(_: TwilioParams, runtime: RuntimeDep, language: Annotated[str, Query(max_length=8)] = "nl") -> Response:
    """Enqueue's ``waitUrl``: the caller waiting for a colleague hears they are still connected, then hold audio."""
    if language not in runtime.flows:
        language = runtime.settings.language
    still = prompt_audio_url(runtime, language, "hold_still_connected")
    return Response(hold_twiml(still, runtime.settings.url(f"/audio/hold/{HOLD_AUDIO}")), media_type=XML)


@router.get("/audio/hold/{name}")
async def hold_audio(name: str) -> FileResponse:
    """The shipped hold sounds (audio/hold/, listed in audio/MANIFEST.yaml): real sound, never silence."""
    path = HOLD_DIR / name
    if not name.endswith(".wav") or "/" in name or not path.is_file():
        raise HTTPException(status_code=404, detail="unknown hold audio")
    return FileResponse(path, media_type="audio/wav")


@router.get("/audio/prompts/{language}/{key}.wav")
async def prompt_audio(language: str, key: str, runtime: RuntimeDep) -> FileResponse:
    """Fixed prompts as WAV for ``<Play>`` (rendered once, then from the cache)."""
    flows = runtime.flows
    if language not in flows or key not in flows[language].prompts:
        raise HTTPException(status_code=404, detail="unknown prompt")
    text = flows[language].text(key, {"company": runtime.settings.company_name})
    path = await runtime.synth.synthesize_wav(text, language)
    return FileResponse(path, media_type="audio/wav")


@router.get("/agent/transfers/{transfer_id}", response_class=HTMLResponse)
async def agent_page(transfer_id: SignedTransfer, runtime: RuntimeDep, request: Request) -> HTMLResponse:
    """What the colleague sees: the summary, why the call came to them, and the redacted conversation."""
    record = await runtime.recall_transfer(transfer_id)
    if record is None:
        raise HTTPException(status_code=404, detail="unknown transfer")
    nonce = new_nonce()
    html = _templates.get_template("agent_transfer.html").render(
        nonce=nonce,
        transfer=record,
        audio_url=summary_audio_url(runtime, transfer_id),
        console_url=runtime.settings.url(f"/admin/calls/{quote(record.call_sid, safe='')}"),
        created=time.strftime("%Y-%m-%d %H:%M", time.localtime(record.created)),
    )
    return HTMLResponse(html, headers=agent_page_headers(nonce))
