"""The colleague's side of a warm transfer: ring them, brief them, let them accept or decline.

While the caller waits on hold in the transfer's own queue, Warmline rings the rule's target over Twilio's REST API
with answering-machine detection. A voicemail box or another IVR is hung up on without a word: the summary is never
read into it. A person hears the summary and "press 1 to take the call"; 1 bridges them to the caller, any other
key or none declines. A failed attempt (busy, no answer, machine, declined, no key) rings the next fallback, and
after the last the caller is taken out of the queue to hear the offer. Each step is written on the transfer
(:mod:`ivr.transfer.attempts`) so the console can show why a transfer failed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Response

from ivr.call.record import TransferRecord, TransferStepKind
from ivr.deps import RuntimeDep
from ivr.runtime import Runtime
from ivr.telephony import twiml
from ivr.telephony.rest import ApiUnavailable
from ivr.telephony.signed import XML, TwilioParams
from ivr.telephony.urls import prompt_audio_url, summary_audio_url
from ivr.transfer import attempts
from ivr.transfer.twiml import agent_bridge_twiml, agent_briefing_twiml, agent_hang_up_twiml

log = logging.getLogger(__name__)

router = APIRouter(prefix="/twilio", tags=["transfer"])

#: Twilio's ``AnsweredBy`` values for anything that is not a person
_MACHINE = frozenset({"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"})
#: final ``CallStatus`` of a colleague's leg that never reached the briefing
_UNANSWERED: dict[str, TransferStepKind] = {"busy": "busy", "no-answer": "no-answer", "failed": "failed"}


@dataclass(frozen=True, slots=True)
class _Leg:
    """Which transfer and which of its attempts a colleague-leg webhook is about (both in its query string)."""

    transfer: str
    attempt: int


def _leg(transfer: Annotated[str, Query(max_length=64)], attempt: Annotated[int, Query(ge=0, le=10)]) -> _Leg:
    return _Leg(transfer, attempt)


LegQuery = Annotated[_Leg, Depends(_leg)]


def _agent_url(runtime: Runtime, path: str, transfer_id: str, attempt: int) -> str:
    return runtime.settings.url(f"/twilio/{path}?transfer={quote(transfer_id)}&attempt={attempt}")


async def ring(runtime: Runtime, transfer: TransferRecord) -> None:
    """Ring the target of the transfer's current attempt (its last step is "dialled"). If Twilio will not place
    the call, the attempt fails at once and the next target is tried — until one rings or none is left."""
    while transfer.steps and transfer.steps[-1].kind == "dialled":
        attempt = transfer.attempt
        target = transfer.attempt_targets()[attempt].target
        to = target.get("number") or target.get("uri") or ""
        try:
            sid = await runtime.calls_api().ring(
                to=to,
                line_number=transfer.line_number,
                url=_agent_url(runtime, "agent", transfer.transfer_id, attempt),
                status_callback=_agent_url(runtime, "agent-status", transfer.transfer_id, attempt),
                ring_s=runtime.settings.agent_ring_s,
            )
        except ApiUnavailable as exc:
            log.warning("transfer %s: attempt %d could not ring: %s", transfer.transfer_id, attempt, exc)
            failed = runtime.registry.change_transfer(
                transfer.transfer_id,
                partial(attempts.fail_attempt, attempt=attempt, kind="failed", detail=str(exc)[:200]),
            )
            if failed is None:
                return
            transfer = failed
            continue
        log.info("transfer %s: ringing %s (attempt %d)", transfer.transfer_id, transfer.target_name, attempt)
        runtime.registry.change_transfer(
            transfer.transfer_id, partial(attempts.record_ring, attempt=attempt, call_sid=sid)
        )
        return


async def fail(runtime: Runtime, transfer_id: str, attempt: int, kind: TransferStepKind, detail: str = "") -> None:
    """Attempt ``attempt`` failed: ring the next target (or leave the transfer unreachable)."""
    changed = runtime.registry.change_transfer(transfer_id, lambda t: attempts.fail_attempt(t, attempt, kind, detail))
    if changed is not None:
        log.info("transfer %s: attempt %d %s", transfer_id, attempt, kind)
        await ring(runtime, changed)


@router.post("/agent")
async def agent_answered(params: TwilioParams, runtime: RuntimeDep, leg: LegQuery) -> Response:
    """The colleague's phone was answered. A machine is hung up on in silence; a person hears the summary and
    is asked to press 1."""
    transfer, attempt = leg.transfer, leg.attempt
    record = await runtime.recall_transfer(transfer)
    answered_by = params.get("AnsweredBy", "unknown")
    if record is None:
        return Response(agent_hang_up_twiml(), media_type=XML)
    if answered_by in _MACHINE:
        await fail(runtime, transfer, attempt, "machine", answered_by)
        return Response(agent_hang_up_twiml(), media_type=XML)
    if runtime.registry.change_transfer(transfer, lambda t: attempts.answer(t, attempt)) is None:
        # The caller hung up, or this attempt was given up, while the phone rang.
        language = record.summary_language or runtime.settings.language
        return Response(agent_hang_up_twiml(prompt_audio_url(runtime, language, "agent_too_late")), media_type=XML)
    language = record.summary_language or runtime.settings.language
    twiml = agent_briefing_twiml(
        summary_audio_url(runtime, transfer),
        prompt_audio_url(runtime, language, "agent_accept"),
        key_action_url=_agent_url(runtime, "agent-key", transfer, attempt),
        wait_s=runtime.settings.agent_accept_s,
    )
    return Response(twiml, media_type=XML)


@router.post("/agent-key")
async def agent_key(params: TwilioParams, runtime: RuntimeDep, leg: LegQuery) -> Response:
    """The colleague's answer after the summary: 1 takes the call; another key, or none in time, declines it."""
    transfer, attempt = leg.transfer, leg.attempt
    record = await runtime.recall_transfer(transfer)
    language = (record.summary_language if record is not None else "") or runtime.settings.language
    digits = params.get("Digits", "")
    if digits == "1":
        if runtime.registry.change_transfer(transfer, lambda t: attempts.accept(t, attempt)) is not None:
            log.info("transfer %s: accepted on attempt %d", transfer, attempt)
            return Response(agent_bridge_twiml(transfer), media_type=XML)
        return Response(agent_hang_up_twiml(prompt_audio_url(runtime, language, "agent_too_late")), media_type=XML)
    await fail(runtime, transfer, attempt, "declined" if digits else "no_key", f"key {digits}" if digits else "")
    return Response(agent_hang_up_twiml(prompt_audio_url(runtime, language, "agent_declined")), media_type=XML)


@router.post("/agent-status")
async def agent_status(params: TwilioParams, runtime: RuntimeDep, leg: LegQuery) -> Response:
    """The colleague's leg ended. Busy, no answer or failed: try the next target. (A leg that was answered ended
    after its key press or machine verdict, already written; a cancelled one, because the caller left.)"""
    transfer, attempt = leg.transfer, leg.attempt
    status = params.get("CallStatus", "")
    await runtime.recall_transfer(transfer)
    kind = _UNANSWERED.get(status)
    if kind is not None:
        await fail(runtime, transfer, attempt, kind, params.get("SipResponseCode", ""))
    elif status == "canceled":
        runtime.registry.change_transfer(
            transfer,
            lambda t: (
                None
                if attempts.settled(t, attempt)
                else attempts.with_step(t, "canceled", attempt=attempt).model_copy(update={"agent_call_sid": ""})
            ),
        )
    elif status == "completed":
        # Answered, then hung up before pressing a key (the Gather never reported): that is not taking the call.
        record = runtime.registry.get_transfer(transfer)
        if record is not None and record.has_step("answered", attempt) and not attempts.settled(record, attempt):
            await fail(runtime, transfer, attempt, "no_key", "hung up during the summary")
    return Response(twiml.empty(), media_type=XML)
