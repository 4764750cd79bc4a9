"""The colleague's briefing: short, in the agent's language, with the facts the caller gave, digit by digit."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from ivr.config import REPO_ROOT
from ivr.errors import GrammarError
from ivr.transfer.summary import (
    MAX_SENTENCES,
    HandoverFacts,
    SummaryTemplates,
    build_summary,
    extract_facts,
    load_summary_templates,
    speakable_value,
)

GRAMMARS = REPO_ROOT / "grammars"


@pytest.fixture(scope="module")
def nl() -> SummaryTemplates:
    return load_summary_templates(GRAMMARS, "nl")


@pytest.fixture(scope="module")
def en() -> SummaryTemplates:
    return load_summary_templates(GRAMMARS, "en")


def _sentence_count(text: str) -> int:
    return len(re.findall(r"[.!?](?:\s|$)", text))


# ── the briefing ──────────────────────────────────────────────────────────────────────────────────────────
def test_bereavement_call_is_summarised_in_dutch_as_a_colleague_would_say_it(nl: SummaryTemplates) -> None:
    said = ("mijn vader is overleden en ik wil zijn abonnement stopzetten", "mijn klantnummer is vier vijf een twee")
    facts = HandoverFacts(
        intent="bereavement",
        utterances=said,
        facts=extract_facts(said, nl),
        rule_description="rouw",
        distress_level=0.72,
        distress_reasons=("grief words",),
        recognition_level=0.9,
    )

    summary = build_summary(facts, "nl", nl)

    assert summary.text == (
        "Beller belt over het overlijden van een naaste, klantnummer 4 5 1 2. "
        "Klinkt emotioneel. Doorverbonden door regel rouw."
    )
    assert summary.sentences == (
        "Beller belt over het overlijden van een naaste, klantnummer 4 5 1 2.",
        "Klinkt emotioneel.",
        "Doorverbonden door regel rouw.",
    )


def test_order_status_caller_who_asked_for_an_agent_is_briefed_in_english_with_the_number_digit_by_digit(
    en: SummaryTemplates,
) -> None:
    said = ("where is my order", "four five one two", "I want to talk to a person")
    facts = HandoverFacts(
        intent="order_status",
        utterances=said,
        facts=extract_facts(said, en, order_number="4512"),
        tried=("order_status",),
        rule_description="Beller vroeg om een medewerker",  # the supervisor's Dutch wording of the promise
        builtin_reason="caller_request",
    )

    summary = build_summary(facts, "en", en)

    assert summary.text == (
        "Caller wants to know where their order is. Order number 4 5 1 2. "
        "Caller asked for an agent, after looking up the order status."
    )


def test_dutch_caller_is_briefed_in_english_when_the_agent_speaks_english(en: SummaryTemplates) -> None:
    facts = HandoverFacts(
        intent="cancel_subscription",
        facts=extract_facts(["klantnummer vier vijf een twee"], "nl"),
        builtin_reason="keypad_zero",
        rule_description="Beller drukte op 0 voor een medewerker",
    )

    text = build_summary(facts, "en", en).text

    assert text == "Caller wants to cancel their subscription. Customer number 4 5 1 2. Caller pressed 0 for an agent."


@pytest.mark.parametrize(
    ("language", "remark"), [("nl", "Spraak moeilijk te verstaan."), ("en", "Speech hard to understand.")]
)
def test_caller_who_was_hard_to_understand_is_flagged_and_their_unreliable_words_are_not_quoted(
    language: str, remark: str
) -> None:
    facts = HandoverFacts(
        intent=None,
        utterances=("euh de ding van de euh dinges",),
        builtin_reason="repeated_failure",
        recognition_level=0.3,
    )

    summary = build_summary(facts, language)

    assert remark in summary.sentences
    assert "dinges" not in summary.text


def test_well_understood_unclear_question_is_quoted_in_the_callers_words_with_personal_data_masked(
    nl: SummaryTemplates,
) -> None:
    facts = HandoverFacts(
        intent="unknown", utterances=("kan ik NL91ABNA0417164300 als rekening opgeven",), rule_description="onbekend"
    )

    first = build_summary(facts, "nl", nl).sentences[0]

    assert first == 'Beller zei: "kan ik [IBAN] als rekening opgeven".'


def test_long_quote_is_cut_short_so_the_whisper_stays_short(nl: SummaryTemplates) -> None:
    words = "ik heb een vraag over de rekening van vorige maand want daar staat iets op wat ik niet snap"
    facts = HandoverFacts(intent=None, utterances=("ja", words), rule_description="onbekend")

    first = build_summary(facts, "nl", nl).sentences[0]

    assert first.startswith('Beller zei: "ik heb een vraag over de rekening')
    assert "snap" not in first
    assert "…" in first


def test_caller_who_only_asked_for_a_person_is_not_described_twice(nl: SummaryTemplates) -> None:
    facts = HandoverFacts(intent="agent_request", utterances=("medewerker",), builtin_reason="caller_request")

    summary = build_summary(facts, "nl", nl)

    assert summary.text == "Vraag nog niet bekend. Beller vroeg om een medewerker."


def test_calm_clear_caller_gets_no_remark_about_how_they_sound(nl: SummaryTemplates) -> None:
    facts = HandoverFacts(intent="complaint", rule_description="klacht", distress_level=0.59, recognition_level=0.45)

    summary = build_summary(facts, "nl", nl)

    assert summary.text == "Beller heeft een klacht. Doorverbonden door regel klacht."


def test_emotional_and_hard_to_understand_share_one_sentence(nl: SummaryTemplates) -> None:
    facts = HandoverFacts(intent="fraud", rule_description="fraude", distress_level=0.9, recognition_level=0.2)

    summary = build_summary(facts, "nl", nl)

    assert "Klinkt emotioneel, spraak moeilijk te verstaan." in summary.sentences


@pytest.mark.parametrize("language", ["nl", "en"])
def test_briefing_with_everything_to_say_still_has_at_most_three_sentences(language: str) -> None:
    facts = HandoverFacts(
        intent="refund",
        utterances=("ik wil mijn geld terug",),
        facts=(("order_number", "4512"), ("customer_number", "778899"), ("amount", "45,50"), ("number", "1234")),
        tried=("order_status", "password_reset"),
        rule_description="terugbetaling",
        distress_level=0.95,
        recognition_level=0.1,
    )

    summary = build_summary(facts, language)

    assert 1 <= len(summary.sentences) <= MAX_SENTENCES
    assert _sentence_count(summary.text) == len(summary.sentences)
    assert "1 2 3 4" not in summary.text  # only the first three facts are read out


def test_several_tried_steps_are_listed_naturally(nl: SummaryTemplates) -> None:
    facts = HandoverFacts(intent="order_status", tried=("order_status", "opening_hours"), rule_description="spoed")

    handover = build_summary(facts, "nl", nl).sentences[-1]

    assert handover == (
        "Doorverbonden door regel spoed, na het opzoeken van de bestelstatus en het noemen van de openingstijden."
    )


def test_summary_with_nothing_known_still_tells_the_colleague_so(en: SummaryTemplates) -> None:
    assert build_summary(HandoverFacts(), "en", en).text == "Question not known yet."


def test_templates_of_another_language_are_refused(nl: SummaryTemplates) -> None:
    with pytest.raises(ValueError, match="templates are for 'nl'"):
        build_summary(HandoverFacts(intent="refund"), "en", nl)


@pytest.mark.parametrize(
    ("kind", "value", "language", "spoken"),
    [
        ("amount", "45,50", "nl", "45 euro 50"),
        ("amount", "20", "nl", "20 euro"),
        ("amount", "0,50", "nl", "50 cent"),
        ("amount", "45,05", "en", "45 euros 5"),
        ("customer_number", "4512", "nl", "4 5 1 2"),
        ("order_number", "045120", "en", "0 4 5 1 2 0"),
    ],
)
def test_fact_values_are_spoken_so_a_colleague_can_type_them_while_listening(
    kind: str, value: str, language: str, spoken: str
) -> None:
    assert speakable_value(kind, value, load_summary_templates(GRAMMARS, language)) == spoken


# ── reading the caller's facts ────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    ("said", "facts"),
    [
        ("mijn klantnummer is vier vijf een twee", [("customer_number", "4512")]),
        ("klantnummer 4512", [("customer_number", "4512")]),
        ("het gaat om bestelling zeven zeven acht acht nul", [("order_number", "77880")]),
        ("bestelnummer [unk] vier vijf een twee", [("order_number", "4512")]),
        ("vier vijf een twee", [("number", "4512")]),
        ("ik wil mijn geld terug het ging om vijfenveertig euro vijftig", [("amount", "45,50")]),
        ("er is 45 euro 50 afgeschreven", [("amount", "45,50")]),
        ("twintig euro", [("amount", "20")]),
        ("tien euro en vijftig cent", [("amount", "10,50")]),
        ("er staat €45,50 op mijn afschrift", [("amount", "45,50")]),
        ("het was 1.250 euro", [("amount", "1250")]),
        ("tweehonderdvijftig euro", [("amount", "250")]),
        ("vijf en twintig euro", [("amount", "25")]),
        ("bestelling 4512 van 45 euro 50", [("order_number", "4512"), ("amount", "45,50")]),
        ("vier vijf een twee twintig euro", [("number", "4512"), ("amount", "20")]),
        ("twee en twintig euro", [("amount", "22")]),  # how tweeëntwintig is sometimes heard
    ],
)
def test_dutch_callers_numbers_and_amounts_are_found(
    nl: SummaryTemplates, said: str, facts: list[tuple[str, str]]
) -> None:
    assert list(extract_facts([said], nl)) == facts


@pytest.mark.parametrize(
    ("said", "facts"),
    [
        ("my order number is four five one two", [("order_number", "4512")]),
        ("customer number double four five six", [("customer_number", "4456")]),
        ("I paid forty five euros fifty", [("amount", "45,50")]),
        ("one hundred and five euros", [("amount", "105")]),
        ("ten euros and fifty cents", [("amount", "10,50")]),
    ],
)
def test_english_callers_numbers_and_amounts_are_found(
    en: SummaryTemplates, said: str, facts: list[tuple[str, str]]
) -> None:
    assert list(extract_facts([said], en)) == facts


@pytest.mark.parametrize(
    "said",
    [
        "ik heb een bestelling gedaan",  # "een" is an article here, not a digit
        "ik heb besteld op twaalf maart 2024",  # a date, not an order number
        "mijn bsn is een twee drie vier vijf zes zeven acht twee",  # personal data, never a fact
        "klantnummer vier vijf [unk] een twee",  # two fragments are not one number
        "ik heb al 2024 keer gebeld",  # a number without a word naming it
    ],
)
def test_things_that_only_look_like_facts_are_left_out(nl: SummaryTemplates, said: str) -> None:
    assert extract_facts([said], nl) == ()


def test_order_number_confirmed_by_the_dialog_comes_first_and_is_not_repeated(nl: SummaryTemplates) -> None:
    said = ["vier vijf een twee", "het ging om twintig euro", "mijn klantnummer is 889900"]

    facts = extract_facts(said, nl, order_number="4512")

    assert facts == (("order_number", "4512"), ("amount", "20"), ("customer_number", "889900"))


def test_facts_are_read_with_the_shipped_grammars_when_given_a_language_code() -> None:
    assert extract_facts(["order number four five one two"], "en") == (("order_number", "4512"),)


# ── the grammar files ─────────────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize("language", ["nl", "en"])
def test_every_intent_a_caller_can_have_is_described_for_the_colleague(language: str) -> None:
    intents = yaml.safe_load((GRAMMARS / language / "intents.yaml").read_text(encoding="utf-8"))["intents"]
    templates = load_summary_templates(GRAMMARS, language)

    undescribed = sorted(set(intents) - {"unknown"} - set(templates.intents))

    assert undescribed == []


def test_dutch_and_english_briefings_cover_the_same_intents_and_steps(
    nl: SummaryTemplates, en: SummaryTemplates
) -> None:
    assert set(nl.intents) == set(en.intents)
    assert set(nl.steps) == set(en.steps)


@pytest.fixture
def grammars_copy(tmp_path: Path) -> Path:
    target = tmp_path / "grammars"
    shutil.copytree(GRAMMARS, target)
    return target


def test_template_with_a_wrong_placeholder_is_refused_naming_the_file(grammars_copy: Path) -> None:
    path = grammars_copy / "nl" / "summary.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("regel {rule}", "regel {regel}"), encoding="utf-8")

    with pytest.raises(GrammarError, match=r"summary\.yaml: sentences\.rule: .*must use exactly \{rule\}"):
        load_summary_templates(grammars_copy, "nl")


def test_missing_wording_for_a_builtin_promise_is_refused(grammars_copy: Path) -> None:
    path = grammars_copy / "en" / "summary.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"\n  keypad_zero: .*", "", text), encoding="utf-8")

    with pytest.raises(GrammarError, match="missing wording for keypad_zero"):
        load_summary_templates(grammars_copy, "en")
