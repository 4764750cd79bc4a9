"""The grammar files themselves: complete, consistent between languages, and honest in what they promise."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ivr.config import REPO_ROOT
from ivr.dialog.flow import (
    ANSWER_PREFIX,
    ENGINE_PROMPTS,
    KNOWN_PLACEHOLDERS,
    NEEDS_PERSON_PREFIX,
    ORDER_STATUS,
    Flow,
    allowed_placeholders,
    load_flow,
    placeholders,
)
from ivr.dialog.service import JsonServiceData
from ivr.errors import ConfigError, GrammarError
from ivr.grammar_files import read_grammar_yaml
from ivr.signals.distress import parse_distress_lexicon
from ivr.signals.intent import AGENT_REQUEST, UNKNOWN, load_intent_model

GRAMMARS = REPO_ROOT / "grammars"
LANGUAGES = ("nl", "en")
TAXONOMY = {
    "opening_hours",
    "order_status",
    "payment_failed",
    "refund",
    "balance",
    "cancel_subscription",
    "complaint",
    "bereavement",
    "fraud",
    "address_change",
    "password_reset",
    "agent_request",
    "unknown",
}
SELF_SERVICE = {"opening_hours", "order_status", "password_reset", "address_change"}


@pytest.fixture(scope="module")
def flows() -> dict[str, Flow]:
    return {lang: load_flow(GRAMMARS, lang) for lang in LANGUAGES}


@pytest.fixture(params=LANGUAGES)
def flow(request: pytest.FixtureRequest, flows: dict[str, Flow]) -> Flow:
    return flows[str(request.param)]


# ── prompts ───────────────────────────────────────────────────────────────────────────────────────────────
def test_every_prompt_the_engine_says_exists(flow: Flow) -> None:
    assert [key for key in ENGINE_PROMPTS if key not in flow.prompts] == []


def test_every_self_service_intent_has_an_answer_prompt(flow: Flow) -> None:
    for label in flow.self_service_intents:
        if label != ORDER_STATUS:
            assert f"{ANSWER_PREFIX}{label}" in flow.prompts


def test_every_placeholder_is_known_and_filled_for_its_prompt(flow: Flow) -> None:
    for key, text in flow.prompts.items():
        used = placeholders(text)
        assert used <= KNOWN_PLACEHOLDERS, key
        assert used <= allowed_placeholders(key), key


def test_dutch_and_english_have_the_same_prompt_keys(flows: dict[str, Flow]) -> None:
    assert set(flows["nl"].prompts) == set(flows["en"].prompts)


def test_prompts_with_the_same_key_use_the_same_placeholders(flows: dict[str, Flow]) -> None:
    for key, text in flows["nl"].prompts.items():
        assert placeholders(text) == placeholders(flows["en"].prompts[key]), key


def test_greeting_says_it_is_a_computer_and_how_to_reach_a_person(flows: dict[str, Flow]) -> None:
    nl = flows["nl"].prompts["greeting"]
    assert "Ik ben een computer" in nl
    assert "medewerker" in nl
    assert "0" in nl
    en = flows["en"].prompts["greeting"]
    assert "computer" in en
    assert "agent" in en
    assert "0" in en


def test_order_prompts_explain_both_speaking_and_keying_the_number(flows: dict[str, Flow]) -> None:
    assert "cijfer voor cijfer" in flows["nl"].prompts["ask_order_number"]
    assert "hekje" in flows["nl"].prompts["ask_order_number"]
    assert "digit by digit" in flows["en"].prompts["ask_order_number"]
    assert "hash" in flows["en"].prompts["ask_order_number"]


def test_every_transfer_announcement_says_a_colleague_takes_over(flows: dict[str, Flow]) -> None:
    words = {"nl": "collega", "en": "colleague"}
    for lang, flow in flows.items():
        for key, text in flow.prompts.items():
            if key.startswith("transfer_"):
                assert words[lang] in text, f"{lang}:{key}"


def test_no_input_reprompts_say_nothing_was_heard(flows: dict[str, Flow]) -> None:
    heard = {"nl": "niets gehoord", "en": "didn't hear anything"}
    for lang, flow in flows.items():
        for key, text in flow.prompts.items():
            if key.endswith("_no_input"):
                assert heard[lang] in text, f"{lang}:{key}"


def test_topic_specific_announcements_exist_only_for_intents_that_need_a_person(flow: Flow) -> None:
    for key in flow.prompts:
        if key.startswith(NEEDS_PERSON_PREFIX):
            assert key.removeprefix(NEEDS_PERSON_PREFIX) in flow.person_intents


# ── intents ───────────────────────────────────────────────────────────────────────────────────────────────
def test_both_languages_have_the_full_taxonomy_with_the_same_handling(flows: dict[str, Flow]) -> None:
    for flow in flows.values():
        assert set(flow.intents.labels) == TAXONOMY
    for label in TAXONOMY:
        assert flows["nl"].handling(label) == flows["en"].handling(label), label


def test_self_service_and_person_intents_are_declared_as_agreed(flow: Flow) -> None:
    assert set(flow.self_service_intents) == SELF_SERVICE
    assert set(flow.person_intents) == TAXONOMY - SELF_SERVICE - {UNKNOWN, AGENT_REQUEST}


def test_every_intent_has_enough_examples(flow: Flow) -> None:
    for spec in flow.intents.intents:
        assert 15 <= len(spec.examples) <= 30, spec.label


def test_no_example_is_listed_under_two_intents(flow: Flow) -> None:
    seen: dict[str, str] = {}
    for spec in flow.intents.intents:
        for example in spec.examples:
            assert seen.setdefault(example, spec.label) == spec.label, example


def test_every_intent_that_needs_a_person_names_its_topic(flow: Flow) -> None:
    for label in flow.person_intents:
        assert flow.topic(label)
        assert flow.text("transfer_needs_person", {"company": "X", "topic": flow.topic(label)})


# ── phrases ───────────────────────────────────────────────────────────────────────────────────────────────
def test_agent_words_are_in_every_restricted_grammar(flows: dict[str, Flow]) -> None:
    for lang, word in (("nl", "medewerker"), ("nl", "agent"), ("en", "agent")):
        for grammar in ("digits", "yes_no"):
            assert word in (flows[lang].grammar_phrases(grammar) or []), (lang, grammar)


# ── service data ──────────────────────────────────────────────────────────────────────────────────────────
def test_demo_service_data_has_orders_in_both_languages_and_opening_hours() -> None:
    service = JsonServiceData(GRAMMARS / "service_data.json")
    assert len(service.order_numbers) >= 5
    assert "4512" in service.order_numbers
    for number in service.order_numbers:
        order = service.order(number)
        assert order is not None
        assert set(order.statuses) >= set(LANGUAGES)
    for lang in LANGUAGES:
        assert service.opening_hours(lang)


def test_invalid_service_data_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "service.json"
    path.write_text(json.dumps({"opening_hours": {"nl": "altijd"}, "orders": [{"number": "12a"}]}), "utf-8")
    with pytest.raises(ConfigError, match=r"service\.json: orders\.0"):
        JsonServiceData(path)


# ── broken grammars fail at start-up, naming file and reason ──────────────────────────────────────────────
@pytest.fixture
def grammars_copy(tmp_path: Path) -> Path:
    target = tmp_path / "grammars"
    shutil.copytree(GRAMMARS, target)
    return target


def edit_prompts(grammars: Path, old: str, new: str) -> None:
    path = grammars / "nl" / "prompts.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_missing_prompt_stops_the_flow_from_loading(grammars_copy: Path) -> None:
    edit_prompts(grammars_copy, "goodbye: >-", "goodbye_typo: >-")
    with pytest.raises(GrammarError, match=r"prompts\.yaml: missing prompt\(s\) goodbye"):
        load_flow(grammars_copy, "nl")


def test_an_unknown_placeholder_stops_the_flow_from_loading(grammars_copy: Path) -> None:
    edit_prompts(grammars_copy, "Nog een fijne dag", "Nog een fijne {dagdeel}")
    with pytest.raises(GrammarError, match=r"goodbye: unknown placeholder\(s\) \['dagdeel'\]"):
        load_flow(grammars_copy, "nl")


def test_a_placeholder_in_the_wrong_prompt_stops_the_flow_from_loading(grammars_copy: Path) -> None:
    edit_prompts(grammars_copy, "Nog een fijne dag", "Nog een fijne dag, {order_number}")
    with pytest.raises(GrammarError, match="goodbye: unknown placeholder"):
        load_flow(grammars_copy, "nl")


def test_a_missing_answer_for_a_self_service_intent_stops_the_flow_from_loading(grammars_copy: Path) -> None:
    edit_prompts(grammars_copy, "answer_password_reset: >-", "password_reset_answer: >-")
    with pytest.raises(GrammarError, match="answer_password_reset"):
        load_flow(grammars_copy, "nl")


def test_a_missing_grammar_file_is_a_grammar_error(grammars_copy: Path) -> None:
    (grammars_copy / "en" / "phrases.yaml").unlink()
    with pytest.raises(GrammarError, match=r"phrases\.yaml: cannot read"):
        load_flow(grammars_copy, "en")


def test_a_grammar_file_with_a_yaml_alias_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "phrases.yaml"
    path.write_text("a: &x [1, 2]\nb: *x\n", encoding="utf-8")
    with pytest.raises(GrammarError, match=r"phrases.yaml:2: YAML aliases"):
        read_grammar_yaml(path)


def test_a_keyword_written_twice_is_refused_with_both_lines(grammars_copy: Path) -> None:
    # YAML alone keeps the last of two equal keys: one of the two weights would be lost without a word.
    path = grammars_copy / "nl" / "intents.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("      fraude: 4\n", "      fraude: 4\n      fraude: 2\n", 1), encoding="utf-8")
    first = text[: text.index("      fraude: 4\n")].count("\n") + 1
    with pytest.raises(
        GrammarError, match=rf"intents.yaml:{first + 1}: 'fraude' is written twice \(first on line {first}\)"
    ):
        load_intent_model(grammars_copy, "nl")


def test_a_distress_term_category_written_twice_is_refused() -> None:
    with pytest.raises(GrammarError, match="written twice"):
        parse_distress_lexicon(
            "categories:\n  a: {label: x, weight: 1, terms: [y]}\n  a: {label: z, weight: 1, terms: [w]}\n", "d.yaml"
        )
