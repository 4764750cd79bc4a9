"""The running "how well do we understand this caller" estimate behind the dialect/unclear-speech rules."""

from __future__ import annotations

from ivr.signals.recognition import UNCLEAR_LEVEL, RecognitionEstimate, turn_clarity, update_recognition
from ivr.speech.types import Transcript, Word


def said(*words: tuple[str, float]) -> Transcript:
    return Transcript(" ".join(w for w, _ in words), tuple(Word(w, c) for w, c in words))


CLEAR = said(("ik", 0.98), ("wil", 0.97), ("mijn", 0.99), ("saldo", 0.95), ("weten", 0.96))
MUMBLED = said(("ik", 0.7), ("wol", 0.3), ("mien", 0.2), ("saldo", 0.4), ("weiten", 0.25))
NOTHING = Transcript("")


def test_a_clear_first_turn_sets_the_estimate_near_one() -> None:
    estimate = update_recognition(RecognitionEstimate(), CLEAR, matched=True)
    assert estimate.level > 0.9
    assert estimate.turns == 1 and estimate.turns_below == 0
    assert estimate.reasons == ()


def test_the_first_turn_initialises_rather_than_averaging_with_the_default() -> None:
    estimate = update_recognition(RecognitionEstimate(), MUMBLED, matched=False)
    assert estimate.level == estimate.last_turn < UNCLEAR_LEVEL
    assert estimate.turns_below == 1


def test_estimate_drops_over_consecutive_low_confidence_turns() -> None:
    estimate = update_recognition(RecognitionEstimate(), CLEAR, matched=True)
    levels = [estimate.level]
    for _ in range(3):
        estimate = update_recognition(estimate, MUMBLED, matched=False)
        levels.append(estimate.level)
    assert levels == sorted(levels, reverse=True) and len(set(levels)) == 4
    assert estimate.level < UNCLEAR_LEVEL
    assert estimate.turns_below == 2  # the first mumbled turn still rides on the clear one before it
    assert "hard to understand for 2 turns in a row" in estimate.reasons
    assert any("words unsure" in r for r in estimate.reasons)


def test_one_bad_turn_after_good_ones_does_not_drop_below_the_threshold() -> None:
    estimate = RecognitionEstimate()
    for _ in range(3):
        estimate = update_recognition(estimate, CLEAR, matched=True)
    estimate = update_recognition(estimate, MUMBLED, matched=True)
    assert estimate.level > UNCLEAR_LEVEL
    assert estimate.turns_below == 0


def test_clear_turns_recover_the_estimate_and_reset_the_count() -> None:
    estimate = RecognitionEstimate()
    for _ in range(3):
        estimate = update_recognition(estimate, MUMBLED, matched=False)
    assert estimate.turns_below == 3
    for _ in range(2):
        estimate = update_recognition(estimate, CLEAR, matched=True)
    assert estimate.turns_below == 0
    assert estimate.level > UNCLEAR_LEVEL


def test_an_empty_result_counts_as_not_understood() -> None:
    clarity, reasons = turn_clarity(NOTHING, matched=False)
    assert clarity == 0.0
    assert reasons == ("nothing recognised",)


def test_an_unmatched_answer_is_a_weaker_sign_than_unsure_words() -> None:
    clear_unmatched, reasons = turn_clarity(CLEAR, matched=False)
    mumbled_matched, _ = turn_clarity(MUMBLED, matched=True)
    assert mumbled_matched < clear_unmatched < turn_clarity(CLEAR, matched=True)[0]
    assert "answer matched nothing expected" in reasons


def test_rules_can_count_turns_below_their_own_threshold() -> None:
    estimate = RecognitionEstimate()
    for transcript in (CLEAR, MUMBLED, MUMBLED, MUMBLED):
        estimate = update_recognition(estimate, transcript, matched=False)
    below_half = estimate.turns_below_level(0.5)
    below_tenth = estimate.turns_below_level(0.1)
    assert below_half >= 2
    assert below_tenth == 0
    assert estimate.turns_below_level(1.01) == 4


def test_text_without_word_confidences_is_taken_as_understood() -> None:
    estimate = update_recognition(RecognitionEstimate(), Transcript("saldo"), matched=True)
    assert estimate.level == 1.0
