"""Stored rows as the live records the webhooks work with, for when memory no longer has them.

After a restart (or once a finished call left memory) Twilio may still ask for the whisper, the dial status or the
after-stream TwiML, and a colleague may open the agent page from a link that is valid for a day. The store has
everything they need; these functions read it back into the same shapes the registry hands out. They block on the
database: coroutines call them through ``asyncio.to_thread``.
"""

from __future__ import annotations

from ivr.call.record import CallbackRequest, CallRecord, FallbackTarget, Outcome, TransferRecord, TransferStep
from ivr.store.models import Call, Transfer
from ivr.store.repository import Store

_OUTCOME_KINDS = ("transfer", "hangup")


def transfer_record(store: Store, transfer_id: str) -> TransferRecord | None:
    transfer = store.get_transfer(transfer_id)
    if transfer is None:
        return None
    call = store.get_call_by_id(transfer.call_id)
    return _transfer(transfer, call)


def call_record(store: Store, call_sid: str) -> CallRecord | None:
    """The call as far as the store knows it: its outcome (what after-stream needs) and status, without turns."""
    call = store.get_call(call_sid)
    if call is None:
        return None
    outcome = None
    if call.outcome_kind in _OUTCOME_KINDS:
        outcome = Outcome.model_validate(
            {
                "kind": call.outcome_kind,
                "reason": call.outcome_reason,
                "rule": call.outcome_rule,
                "target_name": call.outcome_target,
                "transfer_id": call.transfer_id or "",
            }
        )
    return CallRecord(
        call_sid=call.call_sid,
        language=call.language,
        caller=call.caller_masked,
        started=call.started_at.timestamp(),
        ended=call.ended_at.timestamp() if call.ended_at else None,
        status=call.status,
        outcome=outcome,
    )


def _transfer(transfer: Transfer, call: Call | None) -> TransferRecord:
    transcript = [
        f"{'Beller' if turn.kind == 'caller' else 'Warmline'}: {turn.text}"
        for turn in (call.turns if call is not None else [])
        if turn.kind in ("caller", "prompt") and turn.text
    ]
    return TransferRecord(
        transfer_id=transfer.transfer_id,
        call_sid=call.call_sid if call is not None else "",
        language=call.language if call is not None else transfer.summary_language,
        created=transfer.created_at.timestamp(),
        rule=transfer.rule,
        reason=transfer.reason,
        code=transfer.code,
        target_name=transfer.target_name,
        target={k: str(v) for k, v in transfer.target.items()},
        priority=transfer.priority,
        intent=transfer.intent,
        summary=transfer.summary,
        summary_language=transfer.summary_language,
        summary_audio=transfer.summary_audio,
        transcript=transcript,
        distress=transfer.distress,
        distress_reasons=list(transfer.distress_reasons),
        recognition=transfer.recognition,
        status=transfer.status,
        steps=[TransferStep.model_validate(step) for step in transfer.steps or []],
        fallbacks=[FallbackTarget.model_validate(fallback) for fallback in transfer.fallbacks or []],
        agent_call_sid=transfer.agent_call_sid or "",
        line_number=transfer.line_number or "",
        callbacks=[
            CallbackRequest(at=c.at.timestamp(), kind=c.kind, recording_url=c.recording_url)  # type: ignore[arg-type]
            for c in transfer.callbacks
        ],
    )
