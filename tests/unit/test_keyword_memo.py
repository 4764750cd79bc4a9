"""The shortcuts of keyword matching change no answer: a model that has heard many callers answers exactly as a
fresh one, what it remembers stays bounded, and the first-letter index finds exactly the stems a full scan finds."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.config import REPO_ROOT
from ivr.signals import intent
from ivr.signals.intent import classify_intent, load_intent_model

TURNS = [
    "ik wil mijn wacht woord opnieuw instellen",
    "zeg het abonnement met ingang van maart op",
    "er is geld van mijn rekening gehaald",
    "jullie medewerker heeft beloofd terug te bellen",
    "mijn pakket is nog niet bezorgd",
    "ik wil mijn wachtwoord opnieuw instellen",
]


def fresh(model: intent.IntentModel) -> intent.IntentModel:
    """The same model without anything remembered (``replace`` builds a new object, so no cached properties)."""
    return dataclasses.replace(model)


def test_a_model_that_heard_other_callers_answers_exactly_as_a_fresh_one() -> None:
    model = load_intent_model(REPO_ROOT / "grammars", "nl")
    warm = fresh(model)
    for text in TURNS + TURNS[::-1]:
        classify_intent(text, warm)
    assert warm.heard_memo  # the words and split compounds were remembered
    for text in TURNS:
        assert classify_intent(text, warm) == classify_intent(text, fresh(model))


def test_what_a_model_remembers_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(intent, "_MEMO_SIZE", 10)
    model = fresh(load_intent_model(REPO_ROOT / "grammars", "en"))
    for n in range(40):
        classify_intent(f"my parcel number {n} word{n} has not arrived", model)
        assert len(model.heard_memo) <= 10 + 2 * 8  # one utterance's words and pairs on top of the bound


NL = load_intent_model(REPO_ROOT / "grammars", "nl")
STEMS = sorted(NL.stems)
LETTERS = st.text(alphabet="abcdeghijklmnoprstuvwz", max_size=6)


@settings(max_examples=400, deadline=None)
@given(
    head=st.one_of(LETTERS, st.sampled_from(["ge", "be", "klanten", "n"])),
    stem=st.sampled_from(STEMS),
    tail=LETTERS,
    typo=st.integers(min_value=0, max_value=12),
    inner=st.booleans(),
)
def test_the_first_letter_index_finds_what_a_full_scan_finds(
    head: str, stem: str, tail: str, typo: int, inner: bool
) -> None:
    word = head + stem + tail
    word = word[:typo] + "x" + word[typo + 1 :] if typo < len(word) else word  # sometimes a misheard letter
    for candidate in (word, stem + tail, head + stem):
        if not candidate:
            continue
        scanned = intent._hits(candidate, NL.stems, NL.prefixes, inner=inner)
        indexed = intent._hits(candidate, NL.stems, NL.prefixes, inner=inner, index=NL.stems_by_letter)
        assert indexed == scanned, candidate
