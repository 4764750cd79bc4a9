"""Rules as cards: the structured editor's model, between the HTML form and the rules YAML.

A supervisor edits each rule as a card (when: intent, distress, recognition, failures, time, keywords, language;
then: target and priority), adds, reorders, switches off. The cards become the ``rules:`` block of the file; all
above it — the explanation, the timezone, the targets, the built-ins — is kept as written. The YAML the cards make
is validated by the same loader as a hand-edited file, and each problem is shown on the card whose lines it names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from ivr.rules.loader import RuleProblem
from ivr.yaml_guard import SAFE_LOADER

_RULES_KEY = re.compile(r"^rules\s*:")
_TOP_LEVEL = re.compile(r"^[^\s#]")


@dataclass(frozen=True)
class RuleCard:
    """One rule as the form shows it: every value as the supervisor typed it (text), lists as lists."""

    name: str = ""
    description: str = ""
    enabled: bool = True
    intent: tuple[str, ...] = ()
    intent_confidence_at_least: str = ""
    distress_at_least: str = ""
    recognition_level: str = ""
    recognition_turns: str = ""
    failed_attempts_at_least: str = ""
    time: str = ""
    keywords: str = ""
    language: tuple[str, ...] = ()
    #: a returning caller: this many calls (this one included) in so many days, about the same topic
    calls_count: str = ""
    calls_days: str = ""
    same_topic: bool = False
    target: str = ""
    #: targets tried in order when ``target`` does not take the call, comma-separated as typed
    fallbacks: str = ""
    priority: str = ""
    problems: tuple[str, ...] = field(default=(), compare=False)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def cards_from_text(text: str) -> list[RuleCard]:
    """The rules of a rules text as cards (an unreadable text has none)."""
    try:
        data = yaml.load(text, Loader=SAFE_LOADER)
    except yaml.YAMLError:
        return []
    rules = data.get("rules") if isinstance(data, dict) else None
    cards = []
    for rule in rules if isinstance(rules, list) else []:
        if not isinstance(rule, dict):
            continue
        raw_when = rule.get("when")
        when: dict[str, Any] = raw_when if isinstance(raw_when, dict) else {}
        raw_below = when.get("recognition_below")
        below: dict[str, Any] = raw_below if isinstance(raw_below, dict) else {}
        raw_calls = when.get("calls_in_days")
        calls: dict[str, Any] = raw_calls if isinstance(raw_calls, dict) else {}
        cards.append(
            RuleCard(
                name=_text(rule.get("name")),
                description=_text(rule.get("description")),
                enabled=rule.get("enabled", True) is not False,
                intent=tuple(_listed(when.get("intent"))),
                intent_confidence_at_least=_text(when.get("intent_confidence_at_least")),
                distress_at_least=_text(when.get("distress_at_least")),
                recognition_level=_text(below.get("level")),
                recognition_turns=_text(below.get("turns")),
                failed_attempts_at_least=_text(when.get("failed_attempts_at_least")),
                time=_text(when.get("time")),
                keywords=", ".join(_listed(when.get("keywords"))),
                language=tuple(_listed(when.get("language"))),
                calls_count=_text(calls.get("count")),
                calls_days=_text(calls.get("days")),
                same_topic=when.get("same_topic") is True,
                target=_text(rule.get("target")),
                fallbacks=", ".join(_listed(rule.get("fallbacks"))),
                priority=_text(rule.get("priority")),
            )
        )
    return cards


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def cards_from_form(form: Mapping[str, Sequence[str]], count: int) -> list[RuleCard]:
    """Cards ``0 … count-1`` from form fields named ``r{i}.{field}`` (lists repeat the field)."""

    def one(i: int, name: str) -> str:
        values = form.get(f"r{i}.{name}", [])
        return values[-1].strip() if values else ""

    def many(i: int, name: str) -> tuple[str, ...]:
        return tuple(v.strip() for v in form.get(f"r{i}.{name}", []) if v.strip())

    return [
        RuleCard(
            name=one(i, "name"),
            description=one(i, "description"),
            enabled=one(i, "enabled") == "on",
            intent=many(i, "intent"),
            intent_confidence_at_least=one(i, "intent_confidence_at_least"),
            distress_at_least=one(i, "distress_at_least"),
            recognition_level=one(i, "recognition_level"),
            recognition_turns=one(i, "recognition_turns"),
            failed_attempts_at_least=one(i, "failed_attempts_at_least"),
            time=one(i, "time"),
            keywords=one(i, "keywords"),
            language=many(i, "language"),
            calls_count=one(i, "calls_count"),
            calls_days=one(i, "calls_days"),
            same_topic=one(i, "same_topic") == "on",
            target=one(i, "target"),
            fallbacks=one(i, "fallbacks"),
            priority=one(i, "priority"),
        )
        for i in range(count)
    ]


def _number(text: str) -> int | float | str:
    """What the supervisor typed as a number, or the text itself (the loader then says what is wrong with it)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return text


def card_rule(card: RuleCard) -> dict[str, Any]:
    """A card as the mapping the rules file holds (empty fields left out)."""
    when: dict[str, Any] = {}
    if card.intent:
        when["intent"] = list(card.intent)
    if card.intent_confidence_at_least:
        when["intent_confidence_at_least"] = _number(card.intent_confidence_at_least)
    if card.recognition_level:
        below: dict[str, Any] = {"level": _number(card.recognition_level)}
        if card.recognition_turns:
            below["turns"] = _number(card.recognition_turns)
        when["recognition_below"] = below
    if card.distress_at_least:
        when["distress_at_least"] = _number(card.distress_at_least)
    if card.failed_attempts_at_least:
        when["failed_attempts_at_least"] = _number(card.failed_attempts_at_least)
    if card.time:
        when["time"] = card.time
    keywords = [k.strip() for k in card.keywords.split(",") if k.strip()]
    if keywords:
        when["keywords"] = keywords
    if card.language:
        when["language"] = list(card.language)
    if card.calls_count or card.calls_days:
        when["calls_in_days"] = {"count": _number(card.calls_count), "days": _number(card.calls_days)}
    if card.same_topic:
        when["same_topic"] = True
    rule: dict[str, Any] = {"name": card.name, "description": card.description, "when": when}
    rule["target"] = card.target
    fallbacks = [f.strip() for f in card.fallbacks.split(",") if f.strip()]
    if fallbacks:
        rule["fallbacks"] = fallbacks
    rule["priority"] = _number(card.priority) if card.priority else ""
    if not card.enabled:
        rule["enabled"] = False
    return rule


_PLAIN = re.compile(r"^[\w*.-]+$")


def _scalar(value: Any, *, quote: bool = False) -> str:
    """One YAML value in the file's own style: plain words plain, anything else double-quoted (JSON is YAML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    plain = not quote and _PLAIN.match(text) and text.lower() not in ("yes", "no", "on", "off", "true", "false", "null")
    return text if plain and not text[0].isdigit() else json.dumps(text, ensure_ascii=False)


def _written_rule(rule: Mapping[str, Any]) -> list[str]:
    """A rule as the shipped file writes one: short lists in brackets, descriptions in double quotes."""

    def value(item: Any, key: str) -> str:
        if isinstance(item, list):
            return "[" + ", ".join(_scalar(v) for v in item) + "]"
        return _scalar(item, quote=key in ("description", "time"))

    rows = [f"  - name: {value(rule['name'], 'name')}", f"    description: {value(rule['description'], 'description')}"]
    rows.append("    when:" if rule["when"] else "    when: {}")
    for key, item in rule["when"].items():
        if isinstance(item, dict):
            rows.append(f"      {key}: {{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in item.items()) + "}")
        else:
            rows.append(f"      {key}: {value(item, key)}")
    rows.append(f"    target: {value(rule['target'], 'target')}")
    if rule.get("fallbacks"):
        rows.append(f"    fallbacks: {value(rule['fallbacks'], 'fallbacks')}")
    rows.append(f"    priority: {value(rule['priority'], 'priority')}")
    if rule.get("enabled") is False:
        rows.append("    enabled: false")
    return rows


def _rule_chunks(lines: Sequence[str]) -> dict[RuleCard, list[str]]:
    """The lines of each rule as written in the ``rules:`` block, keyed by the card they read as: a card nobody
    changed keeps its author's layout, quoting and comments, so the diff before publishing shows only real edits."""
    starts = [i for i, line in enumerate(lines) if re.match(r"^\s*- ", line) and not line.startswith("    ")]
    for n, first in enumerate(starts):  # a comment right above a rule belongs to that rule
        while first > (starts[n - 1] + 1 if n else 0) and lines[first - 1].strip().startswith("#"):
            first -= 1
        starts[n] = first
    chunks: dict[RuleCard, list[str]] = {}
    for n, first in enumerate(starts):
        rows = list(lines[first : starts[n + 1] if n + 1 < len(starts) else len(lines)])
        while rows and not rows[-1].strip():
            rows.pop()
        parsed = cards_from_text("rules:\n" + "\n".join(rows))
        if len(parsed) == 1:
            chunks.setdefault(_key(parsed[0]), rows)
    return chunks


def _key(card: RuleCard) -> RuleCard:
    """A card as the chunks are looked up: checkbox lists come back in the form's order, not the file's."""
    return replace(card, intent=tuple(sorted(card.intent)), language=tuple(sorted(card.language)), problems=())


def text_with_cards(base: str, cards: Sequence[RuleCard]) -> tuple[str, list[tuple[int, int]]]:
    """``base`` with its ``rules:`` block replaced by the cards; also each card's (first, last) line in the result.
    A card that reads as one of the rules already written keeps that rule's lines as they are."""
    lines = base.rstrip("\n").split("\n")
    start = next((i for i, line in enumerate(lines) if _RULES_KEY.match(line)), len(lines))
    end = next((i for i in range(start + 1, len(lines)) if _TOP_LEVEL.match(lines[i])), len(lines))
    head, tail = lines[:start], lines[end:]
    written = _rule_chunks(lines[start + 1 : end])
    block = ["rules:"] if cards else ["rules: []"]
    spans: list[tuple[int, int]] = []
    for card in cards:
        rows = written.get(_key(card))
        if rows is None:
            rows = _written_rule(card_rule(card))
        if len(block) > 1:
            block.append("")
        first = len(head) + len(block) + 1
        block.extend(rows)
        spans.append((first, len(head) + len(block)))
    text = "\n".join([*head, *block, *([""] if tail else []), *tail]) + "\n"
    return text, spans


def with_problems(
    cards: Sequence[RuleCard], spans: Sequence[tuple[int, int]], problems: Sequence[RuleProblem]
) -> tuple[list[RuleCard], list[RuleProblem]]:
    """Each problem on the card whose lines it names; the others (targets, timezone…) returned apart."""
    placed = [list(card.problems) for card in cards]
    elsewhere: list[RuleProblem] = []
    for problem in problems:
        index = next((i for i, (a, b) in enumerate(spans) if a <= problem.line <= b), None)
        message = f"{problem.where}: {problem.message}" if problem.where else problem.message
        if index is None:
            elsewhere.append(problem)
        else:
            placed[index].append(_plain(message))
    return [replace(card, problems=tuple(p)) for card, p in zip(cards, placed, strict=True)], elsewhere


def _plain(message: str) -> str:
    """Problem locations read "rules[2].when.distress_at_least"; on a card, the card already says which rule."""
    return re.sub(r"^rule ('[^']*'|\d+)( → )?", "", message)


def moved(cards: Sequence[RuleCard], index: int, step: int) -> list[RuleCard]:
    """The cards with card ``index`` moved one place up (-1) or down (+1)."""
    result = list(cards)
    other = index + step
    if 0 <= index < len(result) and 0 <= other < len(result):
        result[index], result[other] = result[other], result[index]
    return result
