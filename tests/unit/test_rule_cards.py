"""Rules as cards: the shipped rules survive the round trip, edits become valid YAML, problems land on their card."""

from __future__ import annotations

from dataclasses import replace

from ivr.admin.rule_cards import cards_from_form, cards_from_text, moved, text_with_cards, with_problems
from ivr.config import REPO_ROOT
from ivr.rules.evaluate import evaluate
from ivr.rules.loader import RulesError, parse_rules
from ivr.signals.distress import Distress
from tests.unit.test_rules import turn

SHIPPED = (REPO_ROOT / "rules.yaml").read_text(encoding="utf-8")


def test_the_shipped_rules_round_trip_through_cards_unchanged_in_meaning() -> None:
    cards = cards_from_text(SHIPPED)
    text, spans = text_with_cards(SHIPPED, cards)
    assert parse_rules(text, "cards") == parse_rules(SHIPPED, "shipped")
    assert text.split("\nrules:")[0] == SHIPPED.split("\nrules:")[0], "everything above the rules is kept as written"
    assert len(spans) == len(cards)


def test_a_form_edit_becomes_a_rule_that_fires() -> None:
    form = {
        "r0.name": ["boze-bellers"],
        "r0.description": ["Beller is erg boos"],
        "r0.enabled": ["on"],
        "r0.distress_at_least": ["0,7"],
        "r0.language": ["nl", "en"],
        "r0.target": ["klachten"],
        "r0.priority": ["80"],
    }
    (card,) = cards_from_form(form, 1)
    rules = parse_rules(text_with_cards(SHIPPED, [card])[0], "cards")
    (rule,) = rules.rules
    assert rule.when.distress_at_least == 0.7 and rule.when.language == ("nl", "en") and rule.enabled
    decision = evaluate(rules, turn(distress=Distress(0.8)))
    assert decision is not None and decision.rule == "boze-bellers"


def test_a_switched_off_rule_stays_in_the_file_but_never_fires() -> None:
    cards = cards_from_text(SHIPPED)
    fraud = next(i for i, c in enumerate(cards) if c.name == "fraude")
    cards[fraud] = replace(cards[fraud], enabled=False)
    text, _ = text_with_cards(SHIPPED, cards)
    assert "enabled: false" in text
    rules = parse_rules(text, "cards")
    decision = evaluate(rules, turn(intent="fraud"))
    assert decision is None or decision.rule != "fraude"


def test_a_problem_is_shown_on_its_own_card() -> None:
    cards = cards_from_text(SHIPPED)
    cards[2] = replace(cards[2], distress_at_least="erg")
    text, spans = text_with_cards(SHIPPED, cards)
    try:
        parse_rules(text, "cards")
    except RulesError as exc:
        placed, elsewhere = with_problems(cards, spans, exc.problems)
    else:
        raise AssertionError("the bad value was accepted")
    assert placed[2].problems and "distress_at_least" in placed[2].problems[0] and not elsewhere
    assert all(not c.problems for i, c in enumerate(placed) if i != 2)


def test_cards_move_up_and_down() -> None:
    cards = cards_from_text(SHIPPED)
    assert [c.name for c in moved(cards, 1, -1)][:2] == [cards[1].name, cards[0].name]
    assert moved(cards, 0, -1) == cards


def test_unchanged_cards_give_back_the_file_byte_for_byte_and_one_edit_is_one_changed_line() -> None:
    cards = cards_from_text(SHIPPED)
    assert text_with_cards(SHIPPED, cards)[0] == SHIPPED, "comments and layout kept where nothing changed"
    fraud = next(i for i, c in enumerate(cards) if c.name == "fraude")
    cards[fraud] = replace(cards[fraud], target="klachten")
    edited = text_with_cards(SHIPPED, cards)[0]
    changed = [(a, b) for a, b in zip(SHIPPED.split("\n"), edited.split("\n"), strict=True) if a != b]
    assert changed == [("    target: fraudeteam", "    target: klachten")]
