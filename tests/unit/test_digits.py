"""Spoken order numbers, yes/no answers and agent words, in Dutch (incl. Flemish) and English."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ivr.config import REPO_ROOT
from ivr.dialog.digits import (
    UNKNOWN_WORD,
    Phrases,
    keypad_digits,
    load_phrases,
    parse_spoken_digits,
    parse_yes_no,
)
from ivr.errors import GrammarError

GRAMMARS = REPO_ROOT / "grammars"


@pytest.fixture(scope="module")
def nl() -> Phrases:
    return load_phrases(GRAMMARS, "nl")


@pytest.fixture(scope="module")
def en() -> Phrases:
    return load_phrases(GRAMMARS, "en")


# ── digits ────────────────────────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    ("spoken", "digits"),
    [
        ("vier vijf een twee", "4512"),
        ("vier vijf één twee", "4512"),
        ("4 5 1 2", "4512"),
        ("4512", "4512"),
        ("order 4512", "4512"),
        ("euh vier vijf ehm een twee", "4512"),
        ("nul acht zeven zeven", "0877"),
        ("mijn nummer is zeven zeven acht acht hekje", "7788"),
        ("ik heb een bestelling met nummer vier vijf een twee", "4512"),
        ("VIER Vijf Een Twee", "4512"),
    ],
)
def test_dutch_digits_said_one_by_one_become_a_number(spoken: str, digits: str) -> None:
    assert parse_spoken_digits(spoken, "nl") == digits


@pytest.mark.parametrize(
    ("spoken", "digits"),
    [
        ("four five one two", "4512"),
        ("4 5 1 2", "4512"),
        ("order number 4512 please", "4512"),
        ("four oh five one", "4051"),
        ("zero eight seven seven", "0877"),
        ("double five one two", "5512"),
        ("four triple seven", "4777"),
        ("uh four five um one two", "4512"),
    ],
)
def test_english_digits_said_one_by_one_become_a_number(spoken: str, digits: str) -> None:
    assert parse_spoken_digits(spoken, "en") == digits


def test_oh_before_a_number_is_a_sigh_not_a_zero() -> None:
    assert parse_spoken_digits("oh four five one two", "en") == "4512"


def test_a_word_the_recogniser_could_not_place_breaks_the_number() -> None:
    assert parse_spoken_digits("vier vijf [unk] twee", "nl") == "45"


def test_no_digits_is_none() -> None:
    assert parse_spoken_digits("ik weet het niet meer", "nl") is None
    assert parse_spoken_digits("", "en") is None


def test_a_lone_article_is_not_an_order_number_when_a_longer_number_is_required() -> None:
    assert parse_spoken_digits("ik heb een pakket besteld", "nl", min_digits=3) is None


def test_loaded_phrases_can_be_passed_instead_of_a_language(nl: Phrases) -> None:
    assert parse_spoken_digits("drie drie", nl) == "33"


def test_keypad_entry_loses_its_closing_hash() -> None:
    assert keypad_digits("4512#") == "4512"
    assert keypad_digits("*0#") == "0"
    assert keypad_digits("#") == ""


# ── yes / no ──────────────────────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    "spoken",
    ["ja", "jawel", "zeker", "graag", "ja graag", "euh ja", "ja hoor", "allee ja", "awel ja", "klopt"],
)
def test_dutch_yes(spoken: str) -> None:
    assert parse_yes_no(spoken, "nl") is True


@pytest.mark.parametrize(
    "spoken",
    ["nee", "neen", "nee hoor", "nee dank u", "neen merci", "nee bedankt", "dat was het", "niks meer"],
)
def test_dutch_no(spoken: str) -> None:
    assert parse_yes_no(spoken, "nl") is False


@pytest.mark.parametrize("spoken", ["yes", "yeah", "yep", "sure", "yes please", "of course"])
def test_english_yes(spoken: str) -> None:
    assert parse_yes_no(spoken, "en") is True


@pytest.mark.parametrize("spoken", ["no", "nope", "no thanks", "no thank you", "nothing else", "that's all"])
def test_english_no(spoken: str) -> None:
    assert parse_yes_no(spoken, "en") is False


def test_the_first_answer_decides() -> None:
    assert parse_yes_no("nee nee ja", "nl") is False


def test_neither_yes_nor_no_is_none() -> None:
    assert parse_yes_no("mijn kat is weg", "nl") is None
    assert parse_yes_no("", "en") is None


# ── agent words ───────────────────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    "spoken",
    [
        "medewerker",
        "een medewerker alstublieft",
        "mede werker",
        "medewerkr",
        "kan ik ne mens spreken",
        "ik zou graag iemand aan de lijn hebben",
        "agent",
        "klantenservicemedewerker",
    ],
)
def test_dutch_agent_words_are_heard(nl: Phrases, spoken: str) -> None:
    assert nl.mentions_agent(spoken)


@pytest.mark.parametrize("spoken", ["agent", "a human please", "representative", "operator", "a real person"])
def test_english_agent_words_are_heard(en: Phrases, spoken: str) -> None:
    assert en.mentions_agent(spoken)


@pytest.mark.parametrize("spoken", ["mensen", "waar is mijn bestelling", "ja", ""])
def test_ordinary_words_are_not_agent_words(nl: Phrases, spoken: str) -> None:
    assert not nl.mentions_agent(spoken)


# ── recogniser grammars ───────────────────────────────────────────────────────────────────────────────────
def test_restricted_grammars_keep_agent_words_and_the_unknown_marker(nl: Phrases, en: Phrases) -> None:
    for phrases, agent_word in ((nl, "medewerker"), (en, "agent")):
        for name in ("digits", "yes_no"):
            grammar = phrases.grammar(name)
            assert grammar is not None
            assert agent_word in grammar
            assert UNKNOWN_WORD in grammar
            assert len(grammar) == len(set(grammar))


def test_digit_grammar_has_every_digit_word_and_free_speech_has_none(nl: Phrases, en: Phrases) -> None:
    assert {"nul", "een", "één", "twee", "negen"} <= set(nl.grammar("digits") or [])
    assert {"zero", "oh", "one", "nine", "double"} <= set(en.grammar("digits") or [])
    assert nl.grammar("free") is None


def test_yes_no_grammar_has_both_answers(nl: Phrases, en: Phrases) -> None:
    assert {"ja", "nee", "neen", "jawel"} <= set(nl.grammar("yes_no") or [])
    assert {"yes", "no", "yeah", "nope"} <= set(en.grammar("yes_no") or [])


# ── loading ───────────────────────────────────────────────────────────────────────────────────────────────
@pytest.fixture
def grammars_copy(tmp_path: Path) -> Path:
    target = tmp_path / "grammars"
    shutil.copytree(GRAMMARS, target)
    return target


def test_a_missing_digit_is_a_grammar_error_naming_the_file(grammars_copy: Path) -> None:
    path = grammars_copy / "nl" / "phrases.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace('  "9": [negen]\n', ""), encoding="utf-8")
    with pytest.raises(GrammarError, match=r"phrases\.yaml: digits"):
        load_phrases(grammars_copy, "nl")


def test_a_word_that_is_both_yes_and_no_is_a_grammar_error(grammars_copy: Path) -> None:
    path = grammars_copy / "nl" / "phrases.yaml"
    text = path.read_text(encoding="utf-8").replace("negative: [nee,", "negative: [ja, nee,")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GrammarError, match="both yes and no"):
        load_phrases(grammars_copy, "nl")
