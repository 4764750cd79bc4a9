"""The dialog with an English-speaking caller, turn by turn, against the shipped grammars."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from ivr.config import REPO_ROOT
from ivr.dialog.actions import (
    CallerInput,
    CallStarted,
    Hangup,
    KeyPress,
    Listen,
    NoInput,
    Say,
    Transfer,
    Utterance,
)
from ivr.dialog.engine import DialogContext, DialogState, Step, Turn, step
from ivr.dialog.flow import load_flow
from ivr.dialog.service import JsonServiceData
from ivr.speech.types import Transcript, Word

GRAMMARS = REPO_ROOT / "grammars"
ALL_STEPS: list[Step] = ["intent", "order_number", "anything_else"]


@pytest.fixture(scope="module")
def ctx() -> DialogContext:
    return DialogContext(
        flow=load_flow(GRAMMARS, "en"),
        services=JsonServiceData(GRAMMARS / "service_data.json"),
        company="Warmline Demo",
    )


def said(text: str, confidence: float = 0.9) -> Utterance:
    return Utterance(Transcript(text=text, words=tuple(Word(w, confidence) for w in text.split())))


def call(ctx: DialogContext, *events: CallerInput, state: DialogState | None = None) -> list[Turn]:
    """Play a call from the greeting (or from ``state``); one turn per event."""
    turns = []
    current = state if state is not None else step(ctx, DialogState(), CallStarted()).state
    for event in events:
        turn = step(ctx, current, event)
        turns.append(turn)
        current = turn.state
    return turns


def spoken(turn: Turn) -> list[str]:
    return [a.key for a in turn.actions if isinstance(a, Say)]


def text(turn: Turn) -> str:
    return " ".join(a.text for a in turn.actions if isinstance(a, Say))


def listens(turn: Turn) -> str | None:
    return next((a.grammar for a in turn.actions if isinstance(a, Listen)), None)


def transfer(turn: Turn) -> Transfer | None:
    return next((a for a in turn.actions if isinstance(a, Transfer)), None)


def state_at(ctx: DialogContext, where: Step, failures: int = 0) -> DialogState:
    reach: dict[Step, Sequence[CallerInput]] = {
        "intent": [],
        "order_number": [said("where is my order")],
        "anything_else": [said("what are your opening hours")],
    }
    events = list(reach[where]) + [NoInput()] * failures
    turns = call(ctx, *events)
    state = turns[-1].state if turns else step(ctx, DialogState(), CallStarted()).state
    assert (state.step, state.failures) == (where, failures)
    return state


def test_greeting_is_honest_and_in_english(ctx: DialogContext) -> None:
    turn = step(ctx, DialogState(), CallStarted())
    assert text(turn).startswith("Hello, you're speaking with the digital assistant of Warmline Demo.")
    assert "I'm a computer" in text(turn)
    assert listens(turn) == "free"


def test_opening_hours_then_no_says_goodbye(ctx: DialogContext) -> None:
    first, last = call(ctx, said("uh what time do you open on saturday"), said("no thanks"))
    assert spoken(first) == ["answer_opening_hours", "anything_else"]
    assert "We're open Monday to Friday" in text(first)
    assert spoken(last) == ["goodbye"]
    assert isinstance(last.actions[-1], Hangup)


def test_order_status_by_speech_with_oh_and_double(ctx: DialogContext) -> None:
    ask, answer = call(ctx, said("where's my parcel"), said("three oh nine oh"))
    assert spoken(ask) == ["ask_order_number"]
    assert listens(ask) == "digits"
    assert "Your order number 3 0 9 0 is delayed" in text(answer)
    _, doubled = call(ctx, said("where's my parcel"), said("double five oh one"))
    assert "5 5 0 1" in text(doubled)


def test_order_status_by_keypad(ctx: DialogContext) -> None:
    _, turn = call(ctx, said("has my order been shipped"), KeyPress("86420#"))
    assert "8 6 4 2 0" in text(turn)
    assert listens(turn) == "yes_no"


def test_order_not_found_reprompts_then_transfers(ctx: DialogContext) -> None:
    _, first, second = call(ctx, said("where is my order"), said("one one one one"), KeyPress("2222#"))
    assert first.failure_reason == "order_not_found"
    assert "I can't find an order with the number 1 1 1 1" in text(first)
    assert transfer(second) == Transfer("repeated_failure", detail="order_not_found, order_not_found")


def test_password_and_address_are_explained(ctx: DialogContext) -> None:
    (password,) = call(ctx, said("i forgot my password"))
    assert spoken(password) == ["answer_password_reset", "anything_else"]
    (address,) = call(ctx, said("i'm moving house next week"))
    assert spoken(address) == ["answer_address_change", "anything_else"]


def test_yes_asks_what_and_a_new_question_is_answered(ctx: DialogContext) -> None:
    yes, question = call(ctx, said("yeah"), said("i can't log in"), state=state_at(ctx, "anything_else"))
    assert spoken(yes) == ["ask_what"]
    assert spoken(question) == ["answer_password_reset", "anything_else"]


def test_a_new_question_instead_of_yes_is_answered_directly(ctx: DialogContext) -> None:
    (turn,) = call(ctx, said("yes where is my order"), state=state_at(ctx, "anything_else"))
    assert spoken(turn) == ["ask_order_number"]


def test_two_unclear_requests_transfer_kindly(ctx: DialogContext) -> None:
    first, second = call(ctx, said("i have a question about something"), said("the thing you know"))
    assert "put it another way" in text(first)
    assert "a colleague who can help you better" in text(second)
    assert transfer(second) == Transfer("repeated_failure", detail="not_understood, not_understood")


def test_low_confidence_twice_transfers_for_low_confidence(ctx: DialogContext) -> None:
    first, second = call(ctx, said("where is my order", 0.4), said("my order", 0.3))
    assert spoken(first) == ["reprompt_intent_low_confidence"]
    reason = transfer(second)
    assert reason is not None and reason.reason == "low_confidence"


def test_silence_twice_transfers(ctx: DialogContext) -> None:
    first, second = call(ctx, NoInput(), NoInput())
    assert "I didn't hear anything" in text(first)
    assert transfer(second) == Transfer("repeated_failure", detail="no_input, no_input")


@pytest.mark.parametrize("where", ALL_STEPS)
def test_keypad_zero_reaches_a_colleague_at_every_step(ctx: DialogContext, where: Step) -> None:
    (turn,) = call(ctx, KeyPress("0"), state=state_at(ctx, where, failures=1))
    assert "You pressed 0" in text(turn)
    reason = transfer(turn)
    assert reason is not None and reason.reason == "keypad_zero"


@pytest.mark.parametrize("words", ["agent", "human", "representative", "i want a real person", "operator please"])
@pytest.mark.parametrize("where", ALL_STEPS)
def test_asking_for_a_person_reaches_a_colleague_at_every_step(ctx: DialogContext, where: Step, words: str) -> None:
    (turn,) = call(ctx, said(words), state=state_at(ctx, where))
    assert spoken(turn) == ["transfer_caller_request"]
    assert all(not a.interruptible for a in turn.actions if isinstance(a, Say))
    reason = transfer(turn)
    assert reason is not None and reason.reason == "caller_request"


@pytest.mark.parametrize(
    ("words", "label"),
    [
        ("my card keeps getting declined", "payment_failed"),
        ("i want a refund", "refund"),
        ("what's my balance", "balance"),
        ("i want to cancel my subscription", "cancel_subscription"),
        ("i want to make a complaint", "complaint"),
        ("my account has been hacked", "fraud"),
    ],
)
def test_topics_that_need_a_person_are_named_and_transferred(ctx: DialogContext, words: str, label: str) -> None:
    (turn,) = call(ctx, said(words))
    assert transfer(turn) == Transfer("needs_person", detail=label)
    assert "colleague" in text(turn)


def test_bereavement_is_met_with_condolences(ctx: DialogContext) -> None:
    (turn,) = call(ctx, said("my husband passed away and the account is in his name"))
    assert "I'm very sorry for your loss" in text(turn)
    assert transfer(turn) == Transfer("needs_person", detail="bereavement")
