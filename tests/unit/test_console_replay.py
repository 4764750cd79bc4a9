"""Dry runs: stored caller turns replayed under the active rules and a draft; only real differences are listed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ivr.admin.replay import StoredCall, StoredTurn, caller_inputs, dry_run, replay
from ivr.config import REPO_ROOT, Settings
from ivr.dialog.actions import KeyPress, NoInput, Utterance
from ivr.evaluation import Understander
from ivr.rules.loader import parse_rules
from ivr.rules.schema import RuleSet

RULES = (REPO_ROOT / "rules.yaml").read_text(encoding="utf-8")
AFTERNOON = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def understander() -> Understander:
    return Understander.load(Settings())


def _rules(text: str) -> RuleSet:
    return parse_rules(text, "rules.yaml")


def _call(sid: str, *texts: str) -> StoredCall:
    turns = tuple(StoredTurn("caller", text, 0.9) for text in texts)
    return StoredCall(sid, "nl", AFTERNOON, turns, recorded="")


def test_keypad_digits_stored_one_by_one_are_replayed_as_one_entry() -> None:
    turns = [StoredTurn("dtmf", "4"), StoredTurn("dtmf", "5"), StoredTurn("dtmf", "#"), StoredTurn("no_input")]
    assert caller_inputs(turns) == [KeyPress("45#"), NoInput()]
    assert isinstance(caller_inputs([StoredTurn("caller", "hallo")])[0], Utterance)


def test_a_fraud_call_replays_to_the_fraud_team(understander: Understander) -> None:
    outcome = replay(understander, _rules(RULES), "nl", _call("a", "ik ben opgelicht").turns, AFTERNOON)
    assert outcome.transferred and outcome.rule.startswith("fraude") and outcome.target == "fraudeteam"


def test_the_dry_run_lists_only_calls_whose_outcome_the_draft_changes(understander: Understander) -> None:
    active = _rules(RULES)
    draft = _rules(RULES.replace("target: fraudeteam", "target: klachten", 1))
    calls = [
        _call("fraud", "help er is geld van mijn rekening gehaald ik denk dat ik opgelicht ben"),
        _call("order", "waar blijft mijn bestelling"),
    ]
    result = dry_run(understander, active, draft, calls)
    assert result.replayed == 2
    assert [c.call.call_sid for c in result.changed] == ["fraud"]
    changed = result.changed[0]
    assert (changed.active.target, changed.draft.target) == ("fraudeteam", "klachten")


def test_the_same_rules_change_nothing(understander: Understander) -> None:
    rules = _rules(RULES)
    assert dry_run(understander, rules, rules, [_call("x", "ik ben opgelicht")]).changed == ()
