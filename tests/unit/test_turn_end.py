"""Adaptive end of turn: what the caller said so far sets the silence that ends their turn (shipped grammars)."""

from __future__ import annotations

import numpy as np
import pytest

from ivr.call.turn_taking import ADAPTIVE_SEAL_MS, SEAL_AFTER_MS, TurnTaking
from ivr.config import REPO_ROOT, Settings
from ivr.dialog.actions import GrammarName
from ivr.dialog.engine import DialogContext
from ivr.dialog.flow import load_flow
from ivr.dialog.service import JsonServiceData
from ivr.dialog.turn_end import PAUSE_MARGIN_MS, TurnEnd, TurnEndTimes, learned_pause_ms, turn_end
from ivr.speech.vad import Endpointer

GRAMMARS = REPO_ROOT / "grammars"
TIMES = TurnEndTimes(short_ms=250, default_ms=700, long_ms=1200)


@pytest.fixture(scope="module", params=["nl", "en"])
def ctx(request: pytest.FixtureRequest) -> DialogContext:
    language = str(request.param)
    return DialogContext(load_flow(GRAMMARS, language), JsonServiceData(GRAMMARS / "service_data.json"), "Acme")


CASES: dict[str, list[tuple[str, GrammarName, int]]] = {
    "nl": [
        ("ja", "yes_no", 250),
        ("nee dank u", "yes_no", 250),
        ("vier vijf een twee", "digits", 250),  # an order on file
        ("vijf vijf nul een", "digits", 250),  # "een" is a digit here, not an unfinished article
        ("vier vijf", "digits", 1200),  # shorter than any order number
        ("acht zes vier twee", "digits", 700),  # long enough, but no such order: maybe more digits to come
        ("ik wil een medewerker spreken", "free", 250),
        ("wat zijn jullie openingstijden", "free", 250),
        ("ik wil graag mijn", "free", 1200),
        ("euh", "yes_no", 1200),
        ("mijn pakket is", "free", 1200),  # a main clause ending on its copula
        ("ik wil weten waar mijn pakket is", "free", 250),  # the verb of a "waar" clause comes last
        ("er staat een afschrijving die ik niet", "free", 1200),
        ("hallo", "free", 700),
        ("", "free", 700),
    ],
    "en": [
        ("yes please", "yes_no", 250),
        ("four five one two", "digits", 250),
        ("i want to talk to a person", "free", 250),
        ("what are your opening hours", "free", 250),
        ("i would like to check my", "free", 1200),
        ("my parcel has", "free", 1200),
        ("there is a payment on my account that i do not", "free", 1200),
        ("yes it is", "yes_no", 250),  # an answer, read before the clause
        ("hello", "free", 700),
    ],
}


def test_the_words_so_far_choose_the_hold(ctx: DialogContext) -> None:
    language = ctx.flow.phrases.language
    for heard, expected, hold in CASES[language]:
        verdict = turn_end(ctx, heard, expected, TIMES)
        assert verdict.hold_ms == hold, (heard, expected, verdict)
        assert verdict.reason


def test_a_yes_is_only_a_complete_answer_where_a_yes_is_asked(ctx: DialogContext) -> None:
    yes = "ja" if ctx.flow.phrases.language == "nl" else "yes"
    assert turn_end(ctx, yes, "yes_no", TIMES).kind == "answer"
    assert turn_end(ctx, yes, "free", TIMES).hold_ms == 700


def test_a_caller_who_pauses_long_is_given_their_own_pause_except_after_a_complete_answer(
    ctx: DialogContext,
) -> None:
    english = ctx.flow.phrases.language == "en"
    request = "what are your opening hours" if english else "wat zijn jullie openingstijden"
    yes = "yes" if english else "ja"
    assert turn_end(ctx, request, "free", TIMES, [600.0]).hold_ms == 600 + PAUSE_MARGIN_MS
    assert turn_end(ctx, "hello" if english else "hallo", "free", TIMES, [900.0]).hold_ms == 900 + PAUSE_MARGIN_MS
    assert turn_end(ctx, yes, "yes_no", TIMES, [900.0]).hold_ms == 250


def test_a_learned_pause_is_capped() -> None:
    assert learned_pause_ms([]) == 0
    assert learned_pause_ms([300.0, 500.0]) == 500 + PAUSE_MARGIN_MS
    assert learned_pause_ms([9000.0]) == 2000


def test_the_holds_must_be_in_order() -> None:
    with pytest.raises(ValueError, match="IVR_TURN_END_SHORT_MS"):
        Settings(turn_end_short_ms=800, endpoint_silence_ms=700)
    with pytest.raises(ValueError, match="IVR_TURN_END_LONG_MS"):
        Settings(turn_end_long_ms=600, endpoint_silence_ms=700)


def _speak(endpointer: Endpointer, frames: int) -> None:
    loud = (np.resize(np.array([1, -1], dtype=np.int16), 160) * 8000).astype(np.int16)
    for _ in range(frames):
        endpointer.feed(loud)


def _quiet(endpointer: Endpointer, frames: int) -> object:
    event = None
    for _ in range(frames):
        event = endpointer.feed(np.zeros(160, dtype=np.int16)) or event
    return event


def test_a_verdict_ends_the_turn_once_the_silence_reaches_it_and_is_ignored_after_the_caller_goes_on() -> None:
    endpointer = Endpointer()
    turns = TurnTaking(Settings(), endpointer)
    assert turns.adaptive and turns.seal_after_ms == ADAPTIVE_SEAL_MS
    _quiet(endpointer, 100)
    _speak(endpointer, 30)
    turns.begin_turn()
    assert endpointer.trailing_silence_ms == 700
    _quiet(endpointer, 15)  # 300 ms of silence
    stale = turns.pause_id
    assert turns.apply(stale, TurnEnd(1200, "long", "ends on 'mijn'")) is None
    turns.resumed(900.0)  # a pause the words explained: not learned
    assert endpointer.trailing_silence_ms == 700
    assert turns.apply(stale, TurnEnd(250, "answer", "a clear yes or no")) is None  # for a pause that is over
    _quiet(endpointer, 15)
    assert turns.apply(turns.pause_id, TurnEnd(700, "default", "not sure")) is None
    turns.resumed(900.0)  # the words said it could be over, and the caller went on: their own pause, learned
    assert endpointer.trailing_silence_ms == 900 + PAUSE_MARGIN_MS
    _quiet(endpointer, 15)
    ended = turns.apply(turns.pause_id, TurnEnd(250, "answer", "a clear yes or no"))
    assert ended is not None and ended.speech_ms > 0 and not endpointer.in_speech


def test_a_long_verdict_makes_the_endpointer_wait_past_the_default() -> None:
    endpointer = Endpointer()
    turns = TurnTaking(Settings(), endpointer)
    _quiet(endpointer, 100)
    _speak(endpointer, 30)
    turns.begin_turn()
    _quiet(endpointer, 10)
    assert turns.apply(turns.pause_id, TurnEnd(1200, "long", "ends on 'mijn'")) is None
    assert _quiet(endpointer, 40) is None  # 1000 ms: the default would have ended it
    assert _quiet(endpointer, 15) is not None


def test_a_fixed_end_of_turn_keeps_the_old_seal_point_and_hold() -> None:
    endpointer = Endpointer()
    turns = TurnTaking(Settings(end_of_turn="fixed"), endpointer)
    assert not turns.adaptive and turns.seal_after_ms == SEAL_AFTER_MS
    turns.resumed(900.0)
    assert turns.base_hold_ms() == 700
