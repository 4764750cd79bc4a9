"""The dialog with a Dutch-speaking caller (nl-NL and Flemish), turn by turn, against the shipped grammars."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from ivr.config import REPO_ROOT
from ivr.dialog.actions import (
    CallerInput,
    CallStarted,
    Hangup,
    KeyPress,
    Listen,
    NoInput,
    Resumed,
    Say,
    Transfer,
    Utterance,
)
from ivr.dialog.engine import DialogContext, DialogState, Step, Turn, step
from ivr.dialog.flow import load_flow
from ivr.dialog.service import JsonServiceData, Order
from ivr.speech.types import Transcript, Word

GRAMMARS = REPO_ROOT / "grammars"


@pytest.fixture(scope="module")
def ctx() -> DialogContext:
    return DialogContext(
        flow=load_flow(GRAMMARS, "nl"),
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
    """A call standing at ``where``, optionally after ``failures`` failed attempts there."""
    reach: dict[Step, Sequence[CallerInput]] = {
        "intent": [],
        "order_number": [said("waar blijft mijn bestelling")],
        "anything_else": [said("wat zijn jullie openingstijden")],
    }
    events = list(reach[where]) + [NoInput()] * failures
    turns = call(ctx, *events)
    state = turns[-1].state if turns else step(ctx, DialogState(), CallStarted()).state
    assert state.step == where
    assert state.failures == failures
    return state


ALL_STEPS: list[Step] = ["intent", "order_number", "anything_else"]


# ── the start ─────────────────────────────────────────────────────────────────────────────────────────────
def test_greeting_is_honest_and_waits_for_free_speech(ctx: DialogContext) -> None:
    turn = step(ctx, DialogState(), CallStarted())
    assert spoken(turn) == ["greeting"]
    assert text(turn).startswith("Goedendag, u spreekt met de digitale assistent van Warmline Demo.")
    assert "Ik ben een computer" in text(turn)
    assert listens(turn) == "free"
    assert turn.state.step == "intent"


def test_a_second_call_started_does_not_greet_again(ctx: DialogContext) -> None:
    state = step(ctx, DialogState(), CallStarted()).state
    assert step(ctx, state, CallStarted()).actions == ()


# ── self-service ──────────────────────────────────────────────────────────────────────────────────────────
def test_opening_hours_are_answered_and_then_anything_else_is_asked(ctx: DialogContext) -> None:
    (turn,) = call(ctx, said("euh hoe laat zijn jullie open"))
    assert spoken(turn) == ["answer_opening_hours", "anything_else"]
    assert "van maandag tot en met vrijdag" in text(turn)
    assert listens(turn) == "yes_no"
    assert turn.intent is not None and turn.intent.label == "opening_hours"
    assert not turn.failed


def test_order_status_asks_for_the_number_digit_by_digit(ctx: DialogContext) -> None:
    (turn,) = call(ctx, said("ik wil weten waar mijn pakket is"))
    assert spoken(turn) == ["ask_order_number"]
    assert "cijfer voor cijfer" in text(turn)
    assert listens(turn) == "digits"
    assert turn.state.step == "order_number"


def test_order_number_by_speech_gives_the_status(ctx: DialogContext) -> None:
    _, turn = call(ctx, said("waar blijft mijn bestelling"), said("vier vijf een twee"))
    assert spoken(turn) == ["order_status", "anything_else"]
    assert "Uw bestelling met nummer 4 5 1 2 is onderweg" in text(turn)
    assert listens(turn) == "yes_no"
    assert turn.state.facts.order_number == "4512"
    assert turn.state.facts.order_found is True


@pytest.mark.parametrize("keys", ["4512#", "4512"])
def test_order_number_by_keypad_gives_the_status(ctx: DialogContext, keys: str) -> None:
    _, turn = call(ctx, said("waar blijft mijn bestelling"), KeyPress(keys))
    assert spoken(turn) == ["order_status", "anything_else"]
    assert "4 5 1 2" in text(turn)


def test_order_number_in_the_first_sentence_is_looked_up_at_once(ctx: DialogContext) -> None:
    (turn,) = call(ctx, said("ik heb een vraag over bestelling een twee drie vier"))
    assert spoken(turn) == ["order_status", "anything_else"]
    assert "1 2 3 4" in text(turn)


def test_unknown_order_number_is_a_failure_and_repeats_the_number(ctx: DialogContext) -> None:
    _, turn = call(ctx, said("waar blijft mijn bestelling"), said("negen negen negen negen"))
    assert turn.failed and turn.failure_reason == "order_not_found"
    assert spoken(turn) == ["order_not_found"]
    assert "9 9 9 9" in text(turn)
    assert listens(turn) == "digits"
    assert turn.state.facts.order_found is False


def test_unknown_order_number_twice_hands_the_caller_to_a_colleague(ctx: DialogContext) -> None:
    *_, turn = call(ctx, said("waar blijft mijn bestelling"), KeyPress("9999#"), KeyPress("8888#"))
    assert spoken(turn) == ["transfer_not_understood"]
    assert transfer(turn) == Transfer("repeated_failure", detail="order_not_found, order_not_found")


def test_no_number_heard_gets_a_reprompt_for_the_number(ctx: DialogContext) -> None:
    _, turn = call(ctx, said("waar blijft mijn bestelling"), said("dat weet ik niet"))
    assert turn.failure_reason == "not_understood"
    assert spoken(turn) == ["reprompt_order_number_not_understood"]
    assert listens(turn) == "digits"


def test_password_reset_is_explained(ctx: DialogContext) -> None:
    (turn,) = call(ctx, said("ik ben mijn paswoord vergeten"))
    assert spoken(turn) == ["answer_password_reset", "anything_else"]
    assert "wachtwoord vergeten" in text(turn)


def test_address_change_is_explained(ctx: DialogContext) -> None:
    (turn,) = call(ctx, said("we zijn verhuisd"))
    assert spoken(turn) == ["answer_address_change", "anything_else"]
    assert "Mijn gegevens" in text(turn)


# ── anything else? ────────────────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize("yes", ["ja", "jawel", "ja graag", "zeker"])
def test_yes_to_anything_else_asks_what(ctx: DialogContext, yes: str) -> None:
    (turn,) = call(ctx, said(yes), state=state_at(ctx, "anything_else"))
    assert spoken(turn) == ["ask_what"]
    assert listens(turn) == "free"
    assert turn.state.step == "intent"


@pytest.mark.parametrize("no", ["nee", "neen merci", "nee hoor dank u wel", "nee dat was het"])
def test_no_to_anything_else_says_goodbye_and_hangs_up(ctx: DialogContext, no: str) -> None:
    (turn,) = call(ctx, said(no), state=state_at(ctx, "anything_else"))
    assert spoken(turn) == ["goodbye"]
    assert "Warmline Demo" in text(turn)
    assert isinstance(turn.actions[-1], Hangup)
    assert turn.state.ended


def test_a_new_question_at_anything_else_is_answered_directly(ctx: DialogContext) -> None:
    (turn,) = call(ctx, said("ja ik wil ook mijn adres wijzigen"), state=state_at(ctx, "anything_else"))
    assert spoken(turn) == ["answer_address_change", "anything_else"]


def test_the_loop_yes_then_a_question_then_no(ctx: DialogContext) -> None:
    turns = call(
        ctx,
        said("hoe laat gaan jullie open"),
        said("ja"),
        said("waar blijft mijn pakje"),
        KeyPress("7788#"),
        said("nee"),
    )
    assert [spoken(t)[0] for t in turns] == [
        "answer_opening_hours",
        "ask_what",
        "ask_order_number",
        "order_status",
        "goodbye",
    ]
    assert turns[-1].state.turns == 5


def test_changing_ones_mind_after_yes_ends_the_call_politely(ctx: DialogContext) -> None:
    _, turn = call(ctx, said("ja"), said("nee toch niet dank u"), state=state_at(ctx, "anything_else"))
    assert spoken(turn) == ["goodbye"]
    assert not turn.failed


def test_no_before_any_help_is_not_a_goodbye(ctx: DialogContext) -> None:
    (turn,) = call(ctx, said("nee"))
    assert turn.failure_reason == "not_understood"


def test_unclear_answer_at_anything_else_asks_for_yes_or_no(ctx: DialogContext) -> None:
    (turn,) = call(ctx, said("mijn kat heet minoes"), state=state_at(ctx, "anything_else"))
    assert turn.failure_reason == "not_understood"
    assert spoken(turn) == ["reprompt_anything_else_not_understood"]
    assert listens(turn) == "yes_no"


# ── the two-failures rule ─────────────────────────────────────────────────────────────────────────────────
def test_first_unclear_request_asks_for_other_words(ctx: DialogContext) -> None:
    (turn,) = call(ctx, said("ik heb een vraagje over iets"))
    assert turn.failed and turn.failure_reason == "not_understood"
    assert spoken(turn) == ["reprompt_intent_not_understood"]
    assert "andere woorden" in text(turn)
    assert listens(turn) == "free"


def test_two_unclear_requests_in_a_row_hand_the_caller_kindly_to_a_colleague(ctx: DialogContext) -> None:
    _, turn = call(ctx, said("ik heb een vraagje over iets"), said("ja dus euh dat ding"))
    assert spoken(turn) == ["transfer_not_understood"]
    assert "die u beter kan helpen" in text(turn)
    assert all(not a.interruptible for a in turn.actions if isinstance(a, Say))
    assert transfer(turn) == Transfer("repeated_failure", detail="not_understood, not_understood")
    assert turn.state.ended


def test_low_recognition_confidence_is_a_failed_attempt(ctx: DialogContext) -> None:
    (turn,) = call(ctx, said("waar blijft mijn bestelling", confidence=0.3))
    assert turn.failure_reason == "low_confidence"
    assert spoken(turn) == ["reprompt_intent_low_confidence"]


def test_low_confidence_twice_transfers_for_low_confidence(ctx: DialogContext) -> None:
    _, turn = call(ctx, said("waar blijft mijn bestelling", 0.3), said("mijn bestelling", 0.4))
    reason = transfer(turn)
    assert reason is not None and reason.reason == "low_confidence"


def test_mixed_failures_transfer_as_repeated_failure(ctx: DialogContext) -> None:
    _, turn = call(ctx, said("waar blijft mijn bestelling", 0.3), said("blabla"))
    reason = transfer(turn)
    assert reason is not None and reason.reason == "repeated_failure"


def test_confidence_threshold_comes_from_the_context(ctx: DialogContext) -> None:
    strict = DialogContext(ctx.flow, ctx.services, ctx.company, min_confidence=0.95)
    (turn,) = call(strict, said("waar blijft mijn bestelling", 0.9))
    assert turn.failure_reason == "low_confidence"


def test_silence_gets_a_reprompt_saying_nothing_was_heard(ctx: DialogContext) -> None:
    (turn,) = call(ctx, NoInput())
    assert turn.failure_reason == "no_input"
    assert spoken(turn) == ["reprompt_intent_no_input"]
    assert "niets gehoord" in text(turn)


def test_silence_twice_hands_the_caller_to_a_colleague(ctx: DialogContext) -> None:
    _, turn = call(ctx, NoInput(), NoInput())
    assert transfer(turn) == Transfer("repeated_failure", detail="no_input, no_input")


@pytest.mark.parametrize("where", ALL_STEPS)
def test_two_failures_at_any_step_end_in_a_transfer(ctx: DialogContext, where: Step) -> None:
    (turn,) = call(ctx, NoInput(), state=state_at(ctx, where, failures=1))
    assert transfer(turn) is not None
    assert turn.state.ended


def test_a_success_resets_the_failure_count(ctx: DialogContext) -> None:
    turns = call(ctx, said("blabla"), said("hoe laat zijn jullie open"), said("blabla"))
    assert [t.state.failures for t in turns] == [1, 0, 1]
    assert transfer(turns[-1]) is None


def test_out_of_grammar_marker_counts_as_not_understood_and_empty_as_silence(ctx: DialogContext) -> None:
    (unk,) = call(ctx, said("[unk]"), state=state_at(ctx, "anything_else"))
    assert unk.failure_reason == "not_understood"
    (empty,) = call(ctx, Utterance(Transcript(text="")))
    assert empty.failure_reason == "no_input"


# ── a person, always ──────────────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize("failures", [0, 1])
@pytest.mark.parametrize("where", ALL_STEPS)
def test_keypad_zero_reaches_a_colleague_at_every_step(ctx: DialogContext, where: Step, failures: int) -> None:
    (turn,) = call(ctx, KeyPress("0"), state=state_at(ctx, where, failures))
    assert spoken(turn) == ["transfer_keypad_zero"]
    assert all(not a.interruptible for a in turn.actions if isinstance(a, Say))
    reason = transfer(turn)
    assert reason is not None and reason.reason == "keypad_zero"
    assert not turn.failed


@pytest.mark.parametrize(
    "words",
    [
        "medewerker",
        "agent",
        "kan ik ne mens spreken",
        "ik zou graag iemand aan de lijn hebben",
        "mede werker",
    ],
)
@pytest.mark.parametrize("where", ALL_STEPS)
def test_asking_for_a_person_reaches_a_colleague_at_every_step(ctx: DialogContext, where: Step, words: str) -> None:
    (turn,) = call(ctx, said(words), state=state_at(ctx, where))
    assert spoken(turn) == ["transfer_caller_request"]
    assert "Ik verbind u door met een collega" in text(turn)
    reason = transfer(turn)
    assert reason is not None and reason.reason == "caller_request"


def test_asking_for_a_person_works_even_when_recognition_is_unsure(ctx: DialogContext) -> None:
    (turn,) = call(ctx, said("medewerker", confidence=0.2))
    reason = transfer(turn)
    assert reason is not None and reason.reason == "caller_request"


def test_asking_for_a_person_in_other_words_is_understood(ctx: DialogContext) -> None:
    (turn,) = call(ctx, said("kan ik met iemand van jullie praten"))
    reason = transfer(turn)
    assert reason is not None and reason.reason == "caller_request"


def test_a_complaint_about_a_colleague_is_a_complaint_and_still_reaches_a_person(ctx: DialogContext) -> None:
    # "medewerker" always reaches a person; when what the caller says is a topic for a person, it keeps its name.
    (turn,) = call(ctx, said("uw medewerker was heel onbeschoft tegen mij"))
    assert transfer(turn) == Transfer("needs_person", detail="complaint")
    (turn,) = call(ctx, said("medewerker mijn wachtwoord werkt niet"))
    reason = transfer(turn)
    assert reason is not None and reason.reason == "caller_request"


# ── topics that need a person ─────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    ("words", "label", "topic"),
    [
        ("mijn betaling is mislukt", "payment_failed", "een betaling die niet gelukt is"),
        ("ik wil mijn geld terug", "refund", "een terugbetaling"),
        ("hoeveel tegoed heb ik nog", "balance", "uw saldo"),
        ("ik wil mijn abonnement opzeggen", "cancel_subscription", "het opzeggen van uw abonnement"),
        ("ik wil een klacht indienen", "complaint", "uw klacht"),
    ],
)
def test_topics_that_need_a_person_are_named_and_transferred(
    ctx: DialogContext, words: str, label: str, topic: str
) -> None:
    (turn,) = call(ctx, said(words))
    assert spoken(turn) == ["transfer_needs_person"]
    assert f"Voor {topic} verbind ik u door met een collega" in text(turn)
    assert all(not a.interruptible for a in turn.actions if isinstance(a, Say))
    assert transfer(turn) == Transfer("needs_person", detail=label)


def test_bereavement_gets_its_own_kind_announcement(ctx: DialogContext) -> None:
    (turn,) = call(ctx, said("mijn moeder is overleden en ik wil haar abonnement stopzetten"))
    assert spoken(turn) == ["transfer_needs_person_bereavement"]
    assert "Gecondoleerd" in text(turn)
    assert transfer(turn) == Transfer("needs_person", detail="bereavement")


def test_fraud_goes_straight_to_a_person(ctx: DialogContext) -> None:
    (turn,) = call(ctx, said("ik denk dat ik opgelicht ben"))
    assert transfer(turn) == Transfer("needs_person", detail="fraud")


# ── Flemish ───────────────────────────────────────────────────────────────────────────────────────────────
def test_flemish_caller_gets_opening_hours(ctx: DialogContext) -> None:
    (turn,) = call(ctx, said("awel zijt ge open op zaterdag"))
    assert spoken(turn)[0] == "answer_opening_hours"


def test_flemish_caller_gets_order_status(ctx: DialogContext) -> None:
    turns = call(ctx, said("allee waar blijft mijn pakske nu"), said("vier vijf één twee"), said("neen merci"))
    assert [spoken(t)[0] for t in turns] == ["ask_order_number", "order_status", "goodbye"]


# ── the engine's contract ─────────────────────────────────────────────────────────────────────────────────
def test_every_say_is_final_text_without_placeholders(ctx: DialogContext) -> None:
    turns = call(
        ctx,
        said("blabla"),
        said("waar blijft mijn bestelling een twee drie vier"),
        said("ja"),
        said("waar is mijn pakket"),
        said("negen negen"),
        said("een twee drie vier"),
        said("ja"),
        said("ik wil een klacht indienen"),
    )
    for turn in turns:
        for action in turn.actions:
            if isinstance(action, Say):
                assert action.text and "{" not in action.text and "}" not in action.text


def test_a_finished_call_ignores_further_input(ctx: DialogContext) -> None:
    ended = call(ctx, KeyPress("0"))[0].state
    assert step(ctx, ended, said("hallo")) == Turn(ended, ())


def test_another_service_data_implementation_replaces_the_demo_file(ctx: DialogContext) -> None:
    class OneOrder:
        """A company's own order system, reduced to one order."""

        def order(self, number: str) -> Order | None:
            return Order(number, {"nl": "klaar", "en": "ready"}) if number == "42" else None

        def opening_hours(self, language: str) -> str:
            return "dag en nacht"

    own = DialogContext(ctx.flow, OneOrder(), "Acme")
    turns = call(own, said("hoe laat zijn jullie open"), said("ja"), said("waar is mijn bestelling"), KeyPress("42#"))
    assert "Wij zijn open dag en nacht." in text(turns[0])
    assert "Uw bestelling met nummer 4 2 is klaar." in text(turns[-1])


def test_a_plain_no_to_anything_else_ends_the_call_even_when_a_supervisor_taught_nee_as_an_intent(
    tmp_path: Path,
) -> None:
    grammars = tmp_path / "grammars"
    shutil.copytree(GRAMMARS, grammars)
    path = grammars / "nl" / "intents.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "      - wat zijn jullie openingstijden", "      - wat zijn jullie openingstijden\n      - nee", 1
        ),
        encoding="utf-8",
    )
    taught = DialogContext(
        flow=load_flow(grammars, "nl"), services=JsonServiceData(GRAMMARS / "service_data.json"), company="W"
    )
    _, turn = call(taught, said("hoe laat zijn jullie open"), said("nee"))
    assert spoken(turn) == ["goodbye"]
    assert any(isinstance(a, Hangup) for a in turn.actions)


def test_a_resumed_call_apologises_once_and_asks_the_question_of_that_moment_again(ctx: DialogContext) -> None:
    _, missed = call(ctx, said("waar blijft mijn bestelling"), said("geen idee"))
    assert missed.state.step == "order_number" and missed.state.failures == 1
    resumed = step(ctx, missed.state, Resumed())
    assert spoken(resumed) == ["resumed", "ask_order_number"]
    assert "verbinding viel even weg" in text(resumed)
    assert resumed.state == missed.state, "not a turn of the caller's: same step, failures, facts and turn count"
    assert any(isinstance(a, Listen) and a.grammar == "digits" for a in resumed.actions)


def test_a_call_resumed_before_its_greeting_is_simply_greeted(ctx: DialogContext) -> None:
    assert spoken(step(ctx, DialogState(), Resumed())) == ["greeting"]


# ── a returning caller (caller memory) ────────────────────────────────────────────────────────────────────
def _offered(ctx: DialogContext) -> Turn:
    return step(ctx, DialogState(), CallStarted(offer_order="4512", offer_when="gisteren"))


def test_a_returning_caller_is_asked_first_about_the_order_they_called_about(ctx: DialogContext) -> None:
    greeting = _offered(ctx)

    assert spoken(greeting) == ["greeting_returning"]
    assert "bestelling 4 5 1 2, waarover u gisteren ook belde" in text(greeting)
    assert "Ik ben een computer" in text(greeting), "still honest about being a computer"
    assert greeting.state.step == "confirm_order"
    assert next(a for a in greeting.actions if isinstance(a, Listen)).grammar == "yes_no"


def test_yes_to_the_offered_order_answers_its_status_at_once(ctx: DialogContext) -> None:
    (turn,) = call(ctx, said("ja"), state=_offered(ctx).state)

    assert spoken(turn)[0] == "order_status"
    assert turn.state.facts.order_number == "4512" and turn.state.last_intent == "order_status"


def test_no_to_the_offered_order_asks_what_else_and_another_request_is_taken_as_it_comes(
    ctx: DialogContext,
) -> None:
    (no,) = call(ctx, said("nee"), state=_offered(ctx).state)
    assert spoken(no) == ["ask_what"] and no.state.step == "intent"
    assert no.state.facts.order_number is None, "nothing was confirmed"

    (other,) = call(ctx, said("ik wil mijn wachtwoord herstellen"), state=_offered(ctx).state)
    assert other.intent is not None and other.intent.label == "password_reset"
