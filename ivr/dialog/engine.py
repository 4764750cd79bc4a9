"""The dialog engine: a pure function from (context, state, caller input) to the next turn.

No I/O, no clock, no randomness — only the :class:`ServiceData` lookup the context carries. That makes every
call replayable from its inputs, and every promise testable without a phone:

* a person is always reachable: keypad 0 or the agent words ("medewerker", "agent") at every step;
* no loops: at most two failed attempts in a row, then a colleague takes over, told kindly and honestly;
* every transfer is announced first, saying what happens next.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal

from ivr.dialog.actions import (
    Action,
    CallerInput,
    CallStarted,
    GrammarName,
    Hangup,
    KeyPress,
    Listen,
    NoInput,
    Resumed,
    Say,
    Transfer,
    TransferReason,
    Utterance,
)
from ivr.dialog.digits import keypad_digits, parse_spoken_digits, parse_yes_no, plain_answer
from ivr.dialog.flow import ANSWER_PREFIX, ORDER_STATUS, Flow, PromptKey, placeholders
from ivr.dialog.service import ServiceData
from ivr.signals.intent import AGENT_REQUEST, UNKNOWN, IntentResult, classify_intent
from ivr.signals.text import has_unknown_marker, tokenize
from ivr.speech.types import Transcript

Step = Literal["start", "confirm_order", "intent", "order_number", "anything_else", "ended"]
FailureReason = Literal["not_understood", "low_confidence", "no_input", "order_not_found"]

#: Failed attempts in a row after which a colleague takes over. A promise to callers, not a tuning knob.
MAX_FAILURES = 2
#: An order number inside a free sentence ("waar blijft bestelling 4512") must be at least this long, so "ik
#: heb één pakket besteld" is not order number 1.
MIN_ORDER_DIGITS_IN_SENTENCE = 3
#: The key that always reaches a person.
AGENT_KEY = "0"

_GRAMMAR: Mapping[Step, GrammarName] = MappingProxyType(
    {
        "start": "free",
        "confirm_order": "yes_no",
        "intent": "free",
        "order_number": "digits",
        "anything_else": "yes_no",
        "ended": "free",
    }
)
_REPROMPT: Mapping[tuple[Step, FailureReason], PromptKey] = MappingProxyType(
    {
        ("intent", "not_understood"): "reprompt_intent_not_understood",
        ("intent", "low_confidence"): "reprompt_intent_low_confidence",
        ("intent", "no_input"): "reprompt_intent_no_input",
        ("order_number", "not_understood"): "reprompt_order_number_not_understood",
        ("order_number", "low_confidence"): "reprompt_order_number_low_confidence",
        ("order_number", "no_input"): "reprompt_order_number_no_input",
        ("order_number", "order_not_found"): "order_not_found",
        ("anything_else", "not_understood"): "reprompt_anything_else_not_understood",
        ("anything_else", "low_confidence"): "reprompt_anything_else_low_confidence",
        ("anything_else", "no_input"): "reprompt_anything_else_no_input",
    }
)


# ── values ────────────────────────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True, slots=True)
class Facts:
    """What the caller told us that a colleague should not have to ask again."""

    order_number: str | None = None
    order_found: bool | None = None
    #: the order a returning caller was asked about in the greeting (caller memory), until they answer
    offered_order: str | None = None


@dataclass(frozen=True, slots=True)
class DialogState:
    """Where one call stands. ``DialogState()`` is a call that has not been greeted yet."""

    step: Step = "start"
    #: why each failed attempt in the current streak failed; a success empties it
    failure_reasons: tuple[FailureReason, ...] = ()
    last_intent: str | None = None
    facts: Facts = field(default_factory=Facts)
    #: caller inputs handled so far (the greeting is not one)
    turns: int = 0

    @property
    def failures(self) -> int:
        """Consecutive failed attempts."""
        return len(self.failure_reasons)

    @property
    def ended(self) -> bool:
        return self.step == "ended"


@dataclass(frozen=True, slots=True)
class DialogContext:
    """Everything a call's dialog needs besides its state; shared by all calls in one language."""

    flow: Flow
    services: ServiceData
    company: str
    #: mean word confidence below which we do not trust what we heard
    min_confidence: float = 0.6


@dataclass(frozen=True, slots=True)
class Turn:
    """The engine's answer to one input: the new state, what to do, and what we made of the caller."""

    state: DialogState
    actions: tuple[Action, ...]
    intent: IntentResult | None = None
    #: this input counted as a failed attempt
    failed: bool = False
    failure_reason: FailureReason | None = None


# ── the engine ────────────────────────────────────────────────────────────────────────────────────────────
def step(ctx: DialogContext, state: DialogState, event: CallerInput) -> Turn:
    """Decide the next turn. Pure: the same context, state and input always give the same turn."""
    if state.ended:
        return Turn(state, ())
    if isinstance(event, CallStarted):
        if state.step != "start":
            return Turn(state, ())  # a repeated start event must not greet twice
        if event.offer_order:
            # Caller memory: the obvious question first. Only the order number is said, which the caller gave us.
            values = {"order_number": spell_digits(event.offer_order), "when": event.offer_when}
            offered = replace(state, step="confirm_order", facts=replace(state.facts, offered_order=event.offer_order))
            return Turn(offered, (_say(ctx, "greeting_returning", values), Listen("yes_no")))
        greeting = _say(ctx, "greeting")
        return Turn(replace(state, step="intent"), (greeting, Listen("free")))
    if isinstance(event, Resumed):
        return _resume(ctx, state, back=event.back)

    state = replace(state, turns=state.turns + 1, step="intent" if state.step == "start" else state.step)
    if state.step == "confirm_order":
        confirmed = _confirm_order(ctx, state, event)
        if confirmed is not None:
            return confirmed
        # Not a plain yes or no: the caller said what they want instead, which is read as any first request.
        state = replace(state, step="intent", facts=replace(state.facts, offered_order=None))
    if isinstance(event, KeyPress):
        return _on_keys(ctx, state, event.digits)
    if isinstance(event, NoInput):
        return _fail(ctx, state, "no_input")
    assert isinstance(event, Utterance)
    return _on_speech(ctx, state, event.transcript)


def _confirm_order(ctx: DialogContext, state: DialogState, event: CallerInput) -> Turn | None:
    """The answer to "Belt u over bestelling 4 5 1 2?": yes looks the order up, no asks what else; None for
    anything that is not a plain, well-heard yes or no."""
    offered = state.facts.offered_order
    if not isinstance(event, Utterance) or offered is None or event.transcript.confidence < ctx.min_confidence:
        return None
    text = event.transcript.text
    if plain_answer(text, ctx.flow.phrases) != "yes_no":
        return None
    answer = parse_yes_no(text, ctx.flow.phrases)
    state = replace(state, facts=replace(state.facts, offered_order=None))
    if answer is True:
        heard = IntentResult(ORDER_STATUS, 1.0, ("said yes to the order offered from an earlier call",))
        return _look_up_order(ctx, replace(state, last_intent=ORDER_STATUS), offered, heard)
    if answer is False:
        return _succeed(state, "intent", (_say(ctx, "ask_what"), Listen("free")), None)
    return None


def _on_keys(ctx: DialogContext, state: DialogState, keys: str) -> Turn:
    digits = keypad_digits(keys)
    if digits == AGENT_KEY:
        return _transfer(ctx, state, "transfer_keypad_zero", "keypad_zero", state.last_intent or "")
    if state.step == "order_number" and digits:
        return _look_up_order(ctx, state, digits, None)
    return _fail(ctx, state, "not_understood")


def _on_speech(ctx: DialogContext, state: DialogState, transcript: Transcript) -> Turn:
    text = transcript.text
    if ctx.flow.phrases.mentions_agent(text):
        # "Uw medewerker was onvriendelijk" names a person but is a complaint: a topic that goes to a person
        # anyway keeps its name, so the colleague hears what it is about. Anything else goes to a person as asked.
        topic = classify_intent(text, ctx.flow.intents) if tokenize(text) else None
        if topic is not None and not topic.is_unknown and ctx.flow.handling(topic.label) == "person":
            return _route(ctx, state, topic, text)
        heard = IntentResult(AGENT_REQUEST, 1.0, ("asked for a person in so many words",))
        return _transfer(ctx, state, "transfer_caller_request", "caller_request", state.last_intent or "", heard)
    if not tokenize(text):
        # Only "[unk]", or words in no script the grammars use: the caller said something we cannot place.
        # Nothing at all: as good as silence (the reprompt then asks them to speak, not to rephrase).
        said_something = has_unknown_marker(text) or bool(text.strip())
        return _fail(ctx, state, "not_understood" if said_something else "no_input")
    if transcript.confidence < ctx.min_confidence:
        return _fail(ctx, state, "low_confidence")

    if state.step == "order_number":
        number = parse_spoken_digits(text, ctx.flow.phrases)
        if number is None:
            return _fail(ctx, state, "not_understood")
        return _look_up_order(ctx, state, number, None)

    # A plain yes or no to "anything else?" is an answer, read before any intent: taught wording can never turn
    # "nee" into a request.
    plain = state.step == "anything_else" and plain_answer(text, ctx.flow.phrases) == "yes_no"
    result = None if plain else classify_intent(text, ctx.flow.intents)
    if result is None or result.is_unknown:
        # A plain yes or no is an answer, not a request: no intent to report. A caller we already helped who
        # says "nee, toch niet" after "waarmee kan ik u nog helpen?" is done, not misunderstood.
        answer = parse_yes_no(text, ctx.flow.phrases)
        if answer is True and state.step == "anything_else":
            return _succeed(state, "intent", (_say(ctx, "ask_what"), Listen("free")), None)
        if answer is False and (state.step == "anything_else" or state.last_intent is not None):
            goodbye = _say(ctx, "goodbye", interruptible=False)
            return _succeed(state, "ended", (goodbye, Hangup()), None)
    return _route(ctx, state, result or classify_intent(text, ctx.flow.intents), text)


def _route(ctx: DialogContext, state: DialogState, result: IntentResult, text: str) -> Turn:
    """Act on a classified request: answer it, ask what we need for it, or hand it to a person."""
    label = result.label
    if label == UNKNOWN:
        return _fail(ctx, state, "not_understood", result)
    if label == AGENT_REQUEST:
        return _transfer(ctx, state, "transfer_caller_request", "caller_request", state.last_intent or "", result)
    state = replace(state, last_intent=label)
    flow = ctx.flow
    if flow.handling(label) == "person":
        key = flow.needs_person_key(label)
        announcement = _say(ctx, key, {"topic": flow.topic(label)}, interruptible=False)
        actions = (announcement, Transfer("needs_person", detail=label))
        return _succeed(state, "ended", actions, result)
    if label == ORDER_STATUS:
        number = parse_spoken_digits(text, flow.phrases, min_digits=MIN_ORDER_DIGITS_IN_SENTENCE)
        if number is not None:
            return _look_up_order(ctx, state, number, result)
        return _succeed(state, "order_number", (_say(ctx, "ask_order_number"), Listen("digits")), result)
    answer_key = f"{ANSWER_PREFIX}{label}"
    # Only ask the company's systems for what the prompt will actually say.
    values = {"hours": ctx.services.opening_hours(flow.language)} if _uses(flow, answer_key, "hours") else {}
    answer: tuple[Action, ...] = (_say(ctx, answer_key, values), _say(ctx, "anything_else"), Listen("yes_no"))
    return _succeed(state, "anything_else", answer, result)


def _look_up_order(ctx: DialogContext, state: DialogState, number: str, result: IntentResult | None) -> Turn:
    order = ctx.services.order(number)
    state = replace(
        state,
        step="order_number",
        facts=replace(state.facts, order_number=number, order_found=order is not None),
    )
    spoken = spell_digits(number)
    if order is None:
        return _fail(ctx, state, "order_not_found", result, {"order_number": spoken})
    status = order.status(ctx.flow.language)
    actions = (
        _say(ctx, "order_status", {"order_number": spoken, "status": status}),
        _say(ctx, "anything_else"),
        Listen("yes_no"),
    )
    return _succeed(state, "anything_else", actions, result)


def _succeed(state: DialogState, step: Step, actions: tuple[Action, ...], result: IntentResult | None) -> Turn:
    """A turn that went well: the failure streak starts over."""
    return Turn(replace(state, step=step, failure_reasons=()), actions, result)


#: the question a step asks, said again after a resumed stream
_QUESTION: Mapping[Step, PromptKey] = MappingProxyType(
    {"intent": "ask_what", "order_number": "ask_order_number", "anything_else": "anything_else"}
)


def _resume(ctx: DialogContext, state: DialogState, *, back: bool = False) -> Turn:
    """After a lost stream: one short apology and the step's question again. Not a turn of the caller's: the
    failure count and the facts stay as they were. ``back``: the caller came back from a transfer nobody took."""
    if state.step == "start":
        return step(ctx, state, CallStarted())
    if state.step == "confirm_order":  # the offer is not repeated: what the caller wants is asked openly
        state = replace(state, step="intent", facts=replace(state.facts, offered_order=None))
    question = _QUESTION.get(state.step)
    if question is None:
        return Turn(state, ())
    apology = _say(ctx, "back_to_bot" if back else "resumed", interruptible=False)
    return Turn(state, (apology, _say(ctx, question), Listen(_GRAMMAR[state.step])))


def _fail(
    ctx: DialogContext,
    state: DialogState,
    reason: FailureReason,
    result: IntentResult | None = None,
    values: Mapping[str, str] | None = None,
) -> Turn:
    """A failed attempt: reprompt once; the second in a row hands the caller to a colleague."""
    reasons = (*state.failure_reasons, reason)
    if len(reasons) >= MAX_FAILURES:
        # Only when every attempt failed on recognition confidence do we say so: the colleague then knows the
        # line or the accent was the problem, not the question.
        why: TransferReason = "low_confidence" if all(r == "low_confidence" for r in reasons) else "repeated_failure"
        announcement = _say(ctx, "transfer_not_understood", interruptible=False)
        ended = replace(state, step="ended", failure_reasons=reasons)
        return Turn(ended, (announcement, Transfer(why, detail=", ".join(reasons))), result, True, reason)
    reprompt = _say(ctx, _REPROMPT[(state.step, reason)], values)
    return Turn(
        replace(state, failure_reasons=reasons),
        (reprompt, Listen(_GRAMMAR[state.step])),
        result,
        True,
        reason,
    )


def _transfer(
    ctx: DialogContext,
    state: DialogState,
    key: PromptKey,
    reason: TransferReason,
    detail: str,
    result: IntentResult | None = None,
) -> Turn:
    """Announce (to the end: not interruptible) and hand over. Asking for a person is never a failure."""
    actions = (_say(ctx, key, interruptible=False), Transfer(reason, detail=detail))
    return Turn(replace(state, step="ended"), actions, result)


def _say(ctx: DialogContext, key: str, values: Mapping[str, str] | None = None, *, interruptible: bool = True) -> Say:
    return ctx.flow.say(key, {"company": ctx.company, **(values or {})}, interruptible=interruptible)


def _uses(flow: Flow, key: str, placeholder: str) -> bool:
    return placeholder in placeholders(flow.prompts[key])


def spell_digits(number: str) -> str:
    """Read a number digit by digit: "4512" → "4 5 1 2", not "four thousand five hundred and twelve"."""
    return " ".join(number)
