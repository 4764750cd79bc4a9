"""Reaching a person step by step: fallbacks in order, late or repeated webhooks change nothing, and the transfer's
status says how it ended."""

from __future__ import annotations

import pytest

from ivr.call.record import FallbackTarget, TransferRecord
from ivr.rules.loader import RulesError, parse_rules
from ivr.transfer import attempts
from tests.records import minimal_transfer


def _transfer(fallbacks: int = 1) -> TransferRecord:
    return minimal_transfer(
        "CA1",
        "tr1",
        target_name="rouwteam",
        target={"type": "sip", "uri": "sip:rouw@pbx.example"},
        fallbacks=[
            FallbackTarget(name=f"team{i}", target={"type": "phone", "number": f"+3120000000{i}"})
            for i in range(fallbacks)
        ],
    )


def _kinds(transfer: TransferRecord) -> list[tuple[str, int]]:
    return [(step.kind, step.attempt) for step in transfer.steps]


def test_the_first_hold_request_rings_the_rule_target_once() -> None:
    started = attempts.begin_wait(_transfer(), "+31850000000")
    assert started is not None
    assert _kinds(started) == [("queued", 0), ("dialled", 0)]
    assert started.line_number == "+31850000000" and started.status == "ringing"
    assert attempts.begin_wait(started, "+31850000000") is None, "a second hold request rings nobody new"


def test_a_failed_attempt_rings_the_next_fallback_and_the_last_makes_the_transfer_unreachable() -> None:
    transfer = attempts.begin_wait(_transfer(fallbacks=1), "")
    assert transfer is not None
    declined = attempts.fail_attempt(transfer, 0, "declined", "key 2")
    assert declined is not None
    assert _kinds(declined)[-2:] == [("declined", 0), ("dialled", 1)]
    assert declined.steps[-1].target_name == "team0"
    assert attempts.fail_attempt(declined, 0, "no-answer") is None, "a late report of attempt 0 changes nothing"
    busy = attempts.fail_attempt(declined, 1, "busy")
    assert busy is not None
    assert _kinds(busy)[-2:] == [("busy", 1), ("unreachable", 1)] and busy.status == "unreachable"
    assert attempts.waiting_over(busy)


def test_an_accept_after_the_caller_hung_up_is_refused_and_the_ringing_leg_is_named_for_cancelling() -> None:
    transfer = attempts.begin_wait(_transfer(), "")
    assert transfer is not None
    ringing = attempts.record_ring(transfer, 0, "CAagent")
    assert ringing is not None
    abandoned = attempts.end_wait(ringing, "abandoned", "waited 12 s")
    assert abandoned is not None and abandoned.status == "abandoned"
    assert attempts.ringing_leg(abandoned) == ("CAagent", True), "still ringing: cancel it"
    assert attempts.answer(abandoned, 0) is None and attempts.accept(abandoned, 0) is None
    assert attempts.end_wait(abandoned, "bridged") is None


def test_an_answered_leg_is_completed_not_cancelled_and_accepting_settles_the_attempt() -> None:
    transfer = attempts.begin_wait(_transfer(), "")
    assert transfer is not None
    answered = attempts.answer(attempts.record_ring(transfer, 0, "CAagent") or transfer, 0)
    assert answered is not None
    assert attempts.ringing_leg(answered) == ("CAagent", False)
    accepted = attempts.accept(answered, 0)
    assert accepted is not None and accepted.status == "accepted"
    assert attempts.fail_attempt(accepted, 0, "no_key") is None, "the hang-up after accepting is not a decline"
    bridged = attempts.end_wait(accepted, "bridged")
    assert bridged is not None and bridged.status == "bridged"


def test_only_attempt_ending_kinds_end_an_attempt() -> None:
    transfer = attempts.begin_wait(_transfer(), "")
    assert transfer is not None
    with pytest.raises(ValueError):
        attempts.fail_attempt(transfer, 0, "bridged")


RULES = """
targets:
  default: {type: phone, number: "+31201234567"}
  avond: {type: phone, number: "+31207654321"}
  queue: {type: taskrouter, workflow_sid: "WW0123456789abcdef0123456789abcdef"}
builtins:
  fallbacks: [avond]
rules:
  - name: r
    description: d
    when: {intent: [complaint]}
    target: default
    fallbacks: [%s]
    priority: 50
"""


def test_rules_may_name_fallbacks_but_not_unknown_repeated_or_taskrouter_ones() -> None:
    rules = parse_rules(RULES % "avond", "rules.yaml")
    assert rules.rules[0].fallbacks == ("avond",) and rules.builtins.fallbacks == ("avond",)
    for wrong, said in (("nobody", "unknown fallback"), ("default", "twice"), ("queue", "TaskRouter")):
        with pytest.raises(RulesError, match=said):
            parse_rules(RULES % wrong, "rules.yaml")
