"""The warm transfer on Twilio's side, caller first: the hold, what happens when nobody answers (call-back, back to
Warmline, voicemail). The colleague's leg is :mod:`ivr.telephony.agent_leg`; what they see and hear about the caller
(summary audio, the live agent page) is :mod:`ivr.telephony.agent_page`.

Caller-facing speech here is our own rendered audio (``<Play>``), never Twilio's TTS: the same voice and words as
the rest of the call, and nothing leaves the machine but the audio itself.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.responses import FileResponse
from pydantic import TypeAdapter

from ivr.call.record import CallbackRequest, TransferRecord
from ivr.config import REPO_ROOT
from ivr.deps import RuntimeDep
from ivr.rules.schema import Target
from ivr.runtime import Runtime
from ivr.telephony.agent_leg import ring
from ivr.telephony.signed import XML, TwilioParams
from ivr.telephony.twiml import connect_stream
from ivr.telephony.urls import LINK_TTL_S, agent_page_url, prompt_audio_url
from ivr.transfer import attempts
from ivr.transfer.links import sign_fork
from ivr.transfer.twiml import (
    AssistFork,
    callback_confirmed_twiml,
    dial_result_twiml,
    fork_name,
    handover_task_attributes,
    hold_twiml,
    leave_queue_twiml,
    transfer_twiml,
)

log = logging.getLogger(__name__)

router = APIRouter(tags=["transfer"])

#: the shipped hold sounds, and the one played while a caller waits for a colleague
HOLD_DIR = REPO_ROOT / "audio" / "hold"
HOLD_AUDIO = "chime.wav"
#: a hold round that starts this soon after another colleague was rung tells the caller so
_NEWS_S = 20.0

_TARGET: TypeAdapter[Target] = TypeAdapter(Target)


def transfer_response(runtime: Runtime, transfer: TransferRecord) -> str:
    """The TwiML that puts the caller on hold for the chosen colleague, with the no-answer path."""
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
    target = _TARGET.validate_python(transfer.target)
    wait = f"/twilio/hold?language={quote(transfer.language)}"
    fork = None
    if runtime.settings.agent_assist:
        parameters = sign_fork(transfer.transfer_id, runtime.settings.auth_token, LINK_TTL_S)
        fork = AssistFork(runtime.settings.assist_stream_url, fork_name(transfer.transfer_id), parameters)
    return transfer_twiml(
        target,
        transfer_id=transfer.transfer_id,
        wait_url=runtime.settings.url(wait if target.type == "taskrouter" else f"{wait}&transfer={tid}"),
        dial_action_url=runtime.settings.url(f"/twilio/dial-status?transfer={tid}"),
        task_attributes=attributes,
        language=transfer.language,
        priority=transfer.priority,
        fork=fork,
    )


def _offer(runtime: Runtime, transfer_id: str, language: str, status: str = "no-answer") -> str:
    """Nobody took the call: press 1 for a call-back, 2 to go back to Warmline, or leave a message."""
    return dial_result_twiml(
        status,
        prompt_audio_urls=[prompt_audio_url(runtime, language, "transfer_unanswered")],
        record_action_url=runtime.settings.url(f"/twilio/voicemail?transfer={quote(transfer_id)}"),
        callback_action_url=runtime.settings.url(f"/twilio/callback?transfer={quote(transfer_id)}"),
        stop_fork=fork_name(transfer_id) if runtime.settings.agent_assist else None,
    )


@router.post("/twilio/hold")
async def hold(
    params: TwilioParams,
    runtime: RuntimeDep,
    language: Annotated[str, Query(max_length=8)] = "nl",
    transfer: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """``<Enqueue waitUrl>``: Twilio asks it again and again while the caller waits. The caller hears what is
    happening (still connected; another colleague is being tried), then hold audio. For a phone or SIP transfer
    the first request rings the colleague; once every colleague failed, the caller leaves the queue for the
    offer. Recognition never runs here: the media stream is closed while the caller is on hold."""
    if language not in runtime.flows:
        language = runtime.settings.language
    chime = runtime.settings.url(f"/audio/hold/{HOLD_AUDIO}")
    still = prompt_audio_url(runtime, language, "hold_still_connected")
    if transfer is None:  # TaskRouter: a shared queue, where the caller's place and the wait are news
        return Response(hold_twiml([*_queue_news(runtime, params, language), still], chime, plays=2), media_type=XML)
    record = await runtime.recall_transfer(transfer)
    if record is None:
        return Response(leave_queue_twiml(), media_type=XML)
    started = runtime.registry.change_transfer(transfer, lambda t: attempts.begin_wait(t, params.get("To", "")))
    if started is not None:
        # The caller just heard the announcement: straight to hold audio while the colleague's phone rings.
        await ring(runtime, started)
        now = runtime.registry.get_transfer(transfer)
        if now is not None and attempts.waiting_over(now):  # not one colleague could even be rung
            return Response(leave_queue_twiml(), media_type=XML)
        return Response(hold_twiml([], chime), media_type=XML)
    if attempts.waiting_over(record):
        return Response(leave_queue_twiml(), media_type=XML)
    news = [still]
    rung = next((s for s in reversed(record.steps) if s.kind == "dialled"), None)
    if rung is not None and rung.attempt > 0 and time.time() - rung.at < _NEWS_S:
        news = [prompt_audio_url(runtime, language, "hold_trying_next")]
    return Response(hold_twiml(news, chime), media_type=XML)


#: positions and waits we say out loud (beyond them the number means little to a caller)
MAX_POSITION = 50
MAX_WAIT_MIN = 60


def _queue_news(runtime: Runtime, params: dict[str, str], language: str) -> list[str]:
    """The caller's place in a shared queue (from 2nd on) and the average wait (from 1 minute), when Twilio says."""
    news: list[str] = []
    position = params.get("QueuePosition", "")
    if position.isdigit() and 2 <= int(position) <= MAX_POSITION:
        news.append(runtime.settings.url(f"/audio/hold/{quote(language)}/position-{int(position)}.wav"))
    average = params.get("AvgQueueTime", "")
    if average.isdigit() and int(average) >= 60:
        minutes = min(MAX_WAIT_MIN, round(int(average) / 60))
        news.append(runtime.settings.url(f"/audio/hold/{quote(language)}/wait-{minutes}.wav"))
    return news


@router.get("/audio/hold/{language}/{what}-{number}.wav")
async def queue_news_audio(language: str, what: str, number: int, runtime: RuntimeDep) -> FileResponse:
    """ "U bent nummer 3 in de rij" / "De wachttijd is … minuten", rendered once per number, then cached."""
    limits = {"position": (2, MAX_POSITION, "hold_position"), "wait": (1, MAX_WAIT_MIN, "hold_wait")}
    if language not in runtime.flows or what not in limits or not limits[what][0] <= number <= limits[what][1]:
        raise HTTPException(status_code=404, detail="unknown hold news")
    key = limits[what][2]
    text = runtime.flows[language].text(key, {"position": str(number), "minutes": str(number)})
    return FileResponse(await runtime.synth.synthesize_wav(text, language), media_type="audio/wav")


@router.post("/twilio/dial-status")
async def dial_status(
    params: TwilioParams, runtime: RuntimeDep, transfer: Annotated[str, Query(max_length=64)]
) -> Response:
    """The ``<Enqueue action>``: the caller's wait is over. After a conversation the call ends; a caller who hung
    up leaves an abandoned transfer (and the colleague's phone stops ringing); otherwise the caller hears the
    offer: call-back, back to Warmline, or a message."""
    result = params.get("QueueResult") or params.get("DialCallStatus") or "failed"
    record = await runtime.recall_transfer(transfer)
    queue_sid = params.get("QueueSid", "")
    if record is not None and record.target.get("type") != "taskrouter" and queue_sid.startswith("QU"):
        await runtime.calls_api().delete_queue(queue_sid)
    language = record.language if record is not None else runtime.settings.language
    waited = params.get("QueueTime", "")
    detail = f"waited {waited} s" if waited else ""
    if result in ("bridged", "completed", "answered"):
        runtime.registry.change_transfer(transfer, lambda t: attempts.end_wait(t, "bridged", detail))
        return Response(
            dial_result_twiml("bridged", prompt_audio_urls=[], record_action_url="", callback_action_url=""),
            media_type=XML,
        )
    if result == "hangup":
        changed = runtime.registry.change_transfer(transfer, lambda t: attempts.end_wait(t, "abandoned", detail))
        leg = attempts.ringing_leg(changed) if changed is not None else None
        if leg is not None:
            await runtime.calls_api().hang_up(leg[0], ringing=leg[1])
        log.info("transfer %s: the caller hung up while waiting (%s)", transfer, detail or "wait unknown")
        return Response(
            dial_result_twiml("hangup", prompt_audio_urls=[], record_action_url="", callback_action_url=""),
            media_type=XML,
        )
    changed = runtime.registry.change_transfer(transfer, lambda t: attempts.end_wait(t, "unreachable", result))
    leg = attempts.ringing_leg(changed) if changed is not None else None
    if leg is not None:  # a TaskRouter queue that was full, or an error: nothing may keep ringing
        await runtime.calls_api().hang_up(leg[0], ringing=leg[1])
    log.info("transfer %s: nobody took the call (%s); offering call-back, Warmline or voicemail", transfer, result)
    return Response(_offer(runtime, transfer, language, result), media_type=XML)


@router.post("/twilio/callback")
async def callback_choice(
    params: TwilioParams, runtime: RuntimeDep, transfer: Annotated[str, Query(max_length=64)]
) -> Response:
    """The caller's keypad answer to the offer: 1 files a call-back request; 2 goes back to Warmline, where the
    dialog picks up at the step it left with what it knew; anything else, the offer again."""
    record = await runtime.recall_transfer(transfer)
    language = record.language if record is not None else runtime.settings.language
    digits = params.get("Digits")
    if digits == "1":
        runtime.registry.add_callback(transfer, CallbackRequest(kind="callback"))
        return Response(
            callback_confirmed_twiml(prompt_audio_url(runtime, language, "callback_confirmed")), media_type=XML
        )
    if digits == "2" and record is not None:
        progress = runtime.registry.back_to_bot(record.call_sid)
        if progress is not None:
            runtime.registry.change_transfer(transfer, lambda t: attempts.end_wait(t, "back_to_bot"))
            runtime.registry.add_event(record.call_sid, "action", text="back to Warmline", detail="nobody was free")
            log.info("call %s: back to Warmline after an unanswered transfer", record.call_sid)
            token = runtime.tokens.issue(record.call_sid)
            return Response(connect_stream(runtime.settings, token, progress.language, resume=True), media_type=XML)
    return Response(_offer(runtime, transfer, language), media_type=XML)


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
