"""Signals → rules for one caller turn: the pure step between the dialog's answer and what the call does next.

The dialog decides what the bot can do itself; this step looks at the same turn with the supervisor's eyes —
recognition confidence over the call, distress (words, conversation, voice), the rules in force — and decides whether
a person takes over, and which person. The same function serves live calls, ``ivr classify`` and ``ivr eval``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from ivr.callers import PreviousCall
from ivr.dialog.actions import Action, CallerInput, KeyPress, Say, Transfer, TransferReason, Utterance
from ivr.dialog.engine import DialogContext, Turn
from ivr.rules.evaluate import TransferDecision, TurnSignals, evaluate
from ivr.rules.schema import RuleSet
from ivr.signals.distress import NO_DISTRESS, ConversationSignals, Distress, DistressLexicon, assess_distress
from ivr.signals.recognition import RecognitionEstimate, update_recognition
from ivr.signals.voice import VoiceBaseline, VoiceFeatures, update_baseline, voice_arousal

FirstTurnAction = Literal["self_service", "transfer", "clarify"]

#: prompt announcing a rule-driven transfer, by the rule's machine-readable reason
_ANNOUNCEMENT: dict[str, str] = {
    "caller_request": "transfer_caller_request",
    "keypad_zero": "transfer_keypad_zero",
    "repeated_failure": "transfer_not_understood",
    "low_confidence": "transfer_not_understood",
}


@dataclass(frozen=True, slots=True)
class CallSignals:
    """What the call has taught us about the caller so far (replaced, never mutated, each turn)."""

    recognition: RecognitionEstimate = field(default_factory=RecognitionEstimate)
    baseline: VoiceBaseline | None = None
    utterances: tuple[str, ...] = ()
    barge_ins: int = 0
    distress: Distress = NO_DISTRESS
    intent: str | None = None
    #: caller memory: the same caller's earlier calls, newest first (empty for a first or withheld call)
    history: tuple[PreviousCall, ...] = ()


@dataclass(frozen=True, slots=True)
class Assessment:
    """One turn seen through the rules: the updated signals, and the transfer they call for (or None)."""

    signals: CallSignals
    decision: TransferDecision | None
    actions: tuple[Action, ...]


def assess_turn(
    ctx: DialogContext,
    rules: RuleSet,
    lexicon: DistressLexicon,
    prev: CallSignals,
    event: CallerInput,
    turn: Turn,
    *,
    voice: VoiceFeatures | None = None,
    barge_ins: int = 0,
    now: datetime | None = None,
) -> Assessment:
    """Update the call's signals with this turn, evaluate the rules, and return the actions to carry out.

    The dialog's own transfer (built-in promises, topics that need a person) always stands; the rules may add a
    transfer the dialog did not ask for, and they choose *where* every transfer goes.
    """
    language = lexicon.language
    text = event.transcript.text if isinstance(event, Utterance) else ""
    intent = turn.intent.label if turn.intent is not None else (prev.intent or "unknown")
    recognition = prev.recognition
    baseline = prev.baseline
    arousal: tuple[float, tuple[str, ...]] | None = None
    if isinstance(event, Utterance):
        matched = turn.intent is not None and turn.intent.label != "unknown" and not turn.failed
        recognition = update_recognition(prev.recognition, event.transcript, matched)
        if voice is not None and voice.usable:
            if baseline is not None:
                arousal = tuple(voice_arousal(voice, baseline))  # type: ignore[assignment]
            baseline = update_baseline(baseline, voice)
    distress = prev.distress
    if isinstance(event, Utterance) or turn.failed:
        conversation = ConversationSignals(
            previous_utterances=prev.utterances, barge_ins=barge_ins, failed_attempts=turn.state.failures
        )
        distress = assess_distress(text, language, lexicon, conversation, arousal)
    transfer = next((a for a in turn.actions if isinstance(a, Transfer)), None)
    signals = TurnSignals(
        intent=intent,
        intent_confidence=turn.intent.confidence if turn.intent is not None else 0.0,
        recognition=recognition,
        distress=distress,
        failed_attempts=turn.state.failures,
        text=text,
        language=language,
        local_time=_local_now(rules, now),
        caller_asked_for_person=transfer is not None and transfer.reason == "caller_request",
        pressed_zero=isinstance(event, KeyPress) and event.digits.strip("#") == "0",
        previous_calls=prev.history,
        order_number=turn.state.facts.order_number,
        at=(now or datetime.now(UTC)).timestamp(),
    )
    decision = evaluate(rules, signals)
    updated = CallSignals(
        recognition=recognition,
        baseline=baseline,
        utterances=(*prev.utterances, text) if text else prev.utterances,
        barge_ins=barge_ins,
        distress=distress,
        intent=intent if intent != "unknown" else prev.intent,
        history=prev.history,
    )
    actions = turn.actions
    if transfer is None and decision is not None:
        actions = (_announcement(ctx, decision, intent), Transfer(decision.code, detail=decision.reason))
    elif transfer is not None and decision is None:
        decision = default_decision(rules, transfer.reason, transfer.detail)
    return Assessment(signals=updated, decision=decision, actions=actions)


def default_decision(rules: RuleSet, code: TransferReason, detail: str) -> TransferDecision:
    """Where a transfer goes when no rule named a target: the ``default`` target (or the first one)."""
    name = "default" if "default" in rules.targets else next(iter(rules.targets))
    return TransferDecision(
        rule=code,
        target_name=name,
        target=rules.targets[name],
        priority=50,
        reason=detail or code,
        builtin=True,
        code=code,
    )


def first_turn_action(ctx: DialogContext, turn: Turn, decision: TransferDecision | None) -> FirstTurnAction:
    """How a first caller turn is handled: by the bot, by a person, or by asking again."""
    if decision is not None or any(isinstance(a, Transfer) for a in turn.actions):
        return "transfer"
    if turn.intent is None or turn.intent.label == "unknown":
        return "clarify"
    # An order number we cannot find is the bot serving an understood request (it asks for the number again),
    # not a caller who was not understood.
    if turn.failed and turn.failure_reason != "order_not_found":
        return "clarify"
    return "self_service"


def _announcement(ctx: DialogContext, decision: TransferDecision, intent: str) -> Say:
    """What the caller hears when a rule hands them over: honest about what happens next."""
    flow = ctx.flow
    code = decision.code
    if any(m.startswith("distress") for m in decision.matched):
        key = "transfer_distress"
    elif code in _ANNOUNCEMENT:
        key = _ANNOUNCEMENT[code]
    elif code == "needs_person" and intent not in ("unknown", "agent_request"):
        key = flow.needs_person_key(intent)
        return flow.say(key, {"company": ctx.company, "topic": flow.topic(intent)}, interruptible=False)
    else:
        key = "transfer_warm"
    return flow.say(key, {"company": ctx.company}, interruptible=False)


def _local_now(rules: RuleSet, now: datetime | None) -> datetime:
    if now is not None:
        return now
    return datetime.now(ZoneInfo(rules.timezone))


def with_barge_ins(signals: CallSignals, count: int) -> CallSignals:
    return replace(signals, barge_ins=count)
