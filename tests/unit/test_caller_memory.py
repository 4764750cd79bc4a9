"""Caller memory as pure functions: the keyed hash, repeat-caller rule conditions, and the briefing sentence."""

from __future__ import annotations

import time
from datetime import datetime

from ivr.callers import PreviousCall, caller_key, normalise_number
from ivr.rules.evaluate import TurnSignals, check_conditions
from ivr.rules.loader import parse_rules
from ivr.rules.schema import Conditions
from ivr.signals.distress import NO_DISTRESS
from ivr.signals.recognition import RecognitionEstimate
from ivr.transfer.summary import HandoverFacts, build_summary

NOW = time.time()
DAY = 86400.0


def test_a_caller_is_known_by_a_keyed_hash_that_is_not_the_number_and_withheld_numbers_get_none() -> None:
    key = caller_key("+31 6 1234 5678", "secret")
    assert key is not None and len(key) == 64 and "12345678" not in key
    assert caller_key("0031612345678", "secret") == key, "one number, one key, however it is written"
    assert caller_key("+31612345678", "another deployment") != key, "useless without the deployment's secret"
    for withheld in ("", "anonymous", "Restricted", "+266696687", "not a number"):
        assert caller_key(withheld, "secret") is None
    assert normalise_number("31612345678") == "+31612345678"


def _signals(intent: str, previous: tuple[PreviousCall, ...], order: str | None = None) -> TurnSignals:
    return TurnSignals(
        intent=intent,
        intent_confidence=0.9,
        recognition=RecognitionEstimate(),
        distress=NO_DISTRESS,
        failed_attempts=0,
        text="",
        language="nl",
        local_time=datetime.now(),
        previous_calls=previous,
        order_number=order,
        at=NOW,
    )


def _rules() -> Conditions:
    rules = parse_rules(
        """
targets: {default: {type: phone, number: "+31201234567"}}
rules:
  - name: herhaalbeller
    description: derde keer
    when: {calls_in_days: {count: 3, days: 7}, same_topic: true}
    target: default
    priority: 85
""",
        "rules.yaml",
    )
    return rules.rules[0].when


def test_the_third_call_in_a_week_about_the_same_topic_meets_the_repeat_caller_condition() -> None:
    when = _rules()
    rules = parse_rules('targets: {default: {type: phone, number: "+31201234567"}}', "rules.yaml")
    recent = (PreviousCall(NOW - DAY, "order_status", "4512"), PreviousCall(NOW - 2 * DAY, "order_status"))
    matched = check_conditions(when, _signals("order_status", recent), rules)
    assert matched == ("call 3 in 7 days about order_status",)
    assert check_conditions(when, _signals("order_status", recent[:1]), rules) is None, "only the second call"
    other_topic = (PreviousCall(NOW - DAY, "complaint"), PreviousCall(NOW - 2 * DAY, "complaint"))
    assert check_conditions(when, _signals("order_status", other_topic), rules) is None
    too_old = (PreviousCall(NOW - DAY, "order_status"), PreviousCall(NOW - 9 * DAY, "order_status"))
    assert check_conditions(when, _signals("order_status", too_old), rules) is None
    same_order = (PreviousCall(NOW - DAY, "complaint", "4512"), PreviousCall(NOW - DAY, "refund", "4512"))
    assert check_conditions(when, _signals("unknown", same_order, order="4512"), rules) is not None


def test_the_briefing_says_which_call_this_is_and_how_the_last_one_ended() -> None:
    previous = (
        PreviousCall(
            NOW - DAY, "complaint", "4512", outcome="transfer", target_name="klachten", transfer_status="unreachable"
        ),
        PreviousCall(NOW - 3 * DAY, "complaint", "4512", outcome="hangup"),
    )
    summary = build_summary(HandoverFacts(intent="complaint", previous=previous, at=NOW), "nl")
    assert "3e oproep in 7 dagen over bestelling 4 5 1 2; vorige keer doorverbonden met klachten, niet opgelost" in (
        summary.text
    )
    english = build_summary(HandoverFacts(intent="complaint", previous=previous[1:], at=NOW), "en")
    assert "call number 2 in 7 days about order 4 5 1 2; last time helped by the computer" in english.text.lower()
    assert len(summary.sentences) <= 3
    first = build_summary(HandoverFacts(intent="complaint", at=NOW), "nl")
    assert "oproep" not in first.text
