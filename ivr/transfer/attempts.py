"""How a warm transfer reaches a person, step by step — pure changes to a :class:`TransferRecord`.

The caller waits on hold; the rule's target is rung, then each fallback in turn. An attempt ends when the colleague
accepts (presses 1), or fails: busy, no answer, a machine answered, they declined or pressed nothing. When every
target failed the transfer is *unreachable* and the caller hears the offer (call-back, back to Warmline, or a
message); when the caller hangs up first it is *abandoned*.

Webhooks for one transfer arrive on any instance, sometimes at once (a status callback racing a key press), so
every change here is a function the registry applies atomically (:meth:`CallRegistry.change_transfer`); each returns
None when there is nothing to change — a late or repeated webhook changes nothing.
"""

from __future__ import annotations

import time

from ivr.call.record import ATTEMPT_FAILED, TransferRecord, TransferStep, TransferStepKind

#: the waiting is over: nothing more happens on the caller's side of the transfer
WAIT_OVER: frozenset[str] = frozenset({"bridged", "abandoned", "unreachable", "back_to_bot"})
#: the attempt is decided: no later webhook for it changes anything
_SETTLED: frozenset[str] = ATTEMPT_FAILED | {"accepted", "canceled"}
#: what the transfer's ``status`` says after each step (the dashboard counts these)
_STATUS: dict[str, str] = {
    "queued": "waiting",
    "dialled": "ringing",
    "answered": "answered",
    "accepted": "accepted",
    "bridged": "bridged",
    "abandoned": "abandoned",
    "unreachable": "unreachable",
    "back_to_bot": "back-to-bot",
}


def with_step(
    transfer: TransferRecord,
    kind: TransferStepKind,
    *,
    attempt: int | None = None,
    detail: str = "",
    at: float | None = None,
) -> TransferRecord:
    """The record with one more step (and the status that goes with it)."""
    attempt = transfer.attempt if attempt is None else attempt
    targets = transfer.attempt_targets()
    name = targets[attempt].name if attempt < len(targets) else ""
    step = TransferStep(at=time.time() if at is None else at, kind=kind, attempt=attempt, target_name=name)
    if detail:
        step.detail = detail
    # a leg cancelled because the caller left does not change what the transfer came to (abandoned)
    status = transfer.status if kind == "canceled" else _STATUS.get(kind, kind)
    return transfer.model_copy(update={"steps": [*transfer.steps, step], "status": status})


def waiting_over(transfer: TransferRecord) -> bool:
    return any(step.kind in WAIT_OVER for step in transfer.steps)


def settled(transfer: TransferRecord, attempt: int) -> bool:
    return any(step.kind in _SETTLED and step.attempt == attempt for step in transfer.steps)


def begin_wait(transfer: TransferRecord, line_number: str) -> TransferRecord | None:
    """The caller is on hold for the first time: ring the rule's target. None when that happened already."""
    if transfer.has_step("queued"):
        return None
    queued = with_step(transfer, "queued", attempt=0).model_copy(update={"line_number": line_number})
    return with_step(queued, "dialled", attempt=0)


def fail_attempt(
    transfer: TransferRecord, attempt: int, kind: TransferStepKind, detail: str = ""
) -> TransferRecord | None:
    """Attempt ``attempt`` failed (``kind`` is one of :data:`ATTEMPT_FAILED`): ring the next target, or — when
    there is none — make the transfer unreachable. None for a late or repeated report."""
    if kind not in ATTEMPT_FAILED:
        raise ValueError(f"{kind!r} does not end an attempt")
    if waiting_over(transfer) or settled(transfer, attempt) or attempt != transfer.attempt:
        return None
    failed = with_step(transfer, kind, attempt=attempt, detail=detail).model_copy(update={"agent_call_sid": ""})
    if attempt + 1 < len(transfer.attempt_targets()):
        return with_step(failed, "dialled", attempt=attempt + 1)
    return with_step(failed, "unreachable", attempt=attempt)


def answer(transfer: TransferRecord, attempt: int) -> TransferRecord | None:
    """A person picked up on attempt ``attempt`` and hears the summary; None if the caller is no longer waiting
    for this attempt (they hung up, or it was given up)."""
    if waiting_over(transfer) or settled(transfer, attempt) or attempt != transfer.attempt:
        return None
    return with_step(transfer, "answered", attempt=attempt)


def accept(transfer: TransferRecord, attempt: int) -> TransferRecord | None:
    """The colleague pressed 1: they will be bridged. None when it is too late for that."""
    if waiting_over(transfer) or settled(transfer, attempt) or attempt != transfer.attempt:
        return None
    return with_step(transfer, "accepted", attempt=attempt)


def end_wait(transfer: TransferRecord, kind: TransferStepKind, detail: str = "") -> TransferRecord | None:
    """The caller's wait ended (``bridged``, ``abandoned``, ``unreachable``); None when it had already."""
    if kind not in WAIT_OVER:
        raise ValueError(f"{kind!r} does not end the wait")
    if waiting_over(transfer) and not (kind == "back_to_bot" and transfer.has_step("unreachable")):
        return None
    return with_step(transfer, kind, detail=detail)


def ringing_leg(transfer: TransferRecord) -> tuple[str, bool] | None:
    """The colleague's call leg still under way (its SID, and whether it only rings), to end it when the caller
    leaves; None when there is none."""
    attempt = transfer.attempt
    if not transfer.agent_call_sid or settled(transfer, attempt):
        return None
    return transfer.agent_call_sid, not transfer.has_step("answered", attempt)


def record_ring(transfer: TransferRecord, attempt: int, call_sid: str) -> TransferRecord | None:
    """Remember the colleague's call leg of ``attempt`` (Twilio's call SID)."""
    if attempt != transfer.attempt or settled(transfer, attempt):
        return None
    return transfer.model_copy(update={"agent_call_sid": call_sid})
