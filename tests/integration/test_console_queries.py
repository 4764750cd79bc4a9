"""The console's reads over a real SQLite store: live calls, replay input, the dashboard and missed utterances."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.admin import missed, queries
from ivr.call.record import CallEvent, CallRecord, Outcome
from ivr.store.repository import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(f"sqlite:///{tmp_path / 'warmline.db'}")


def _call(store: Store, sid: str, texts: list[tuple[str, str | None]], outcome: Outcome | None = None) -> None:
    store.call_started(CallRecord(call_sid=sid, language="nl", caller="+31612345678", started=time.time()))
    for seq, (text, intent) in enumerate(texts):
        event = CallEvent(at=float(seq), kind="caller", text=text, confidence=0.8, intent=intent, distress=0.2)
        store.add_turn(sid, seq, event)
    if outcome is not None:
        store.set_outcome(sid, outcome)
        store.call_ended(sid, "completed", datetime.now(UTC))


def test_live_calls_are_those_still_in_progress(store: Store) -> None:
    _call(store, "CAlive", [("hallo", "unknown")])
    _call(store, "CAdone", [("waar blijft mijn bestelling", "order_status")], Outcome(kind="hangup"))
    assert [row.call_sid for row in queries.live_calls(store.engine)] == ["CAlive"]
    assert [c.call_sid for c in queries.calls_for_replay(store.engine, 10)] == ["CAdone"]


def test_the_dashboard_counts_calls_handled_without_a_person(store: Store) -> None:
    _call(store, "CA1", [("waar blijft mijn bestelling", "order_status")], Outcome(kind="hangup"))
    transfer = Outcome(kind="transfer", rule="fraude", target_name="fraudeteam", transfer_id="T1")
    _call(store, "CA2", [("ik ben opgelicht", "fraud")], transfer)
    board = queries.dashboard(store.engine)
    assert board.calls == 2 and board.share_without_person == 0.5
    assert board.transfers_by_reason == [("fraude", 1)]
    assert board.mean_confidence == pytest.approx(0.8)


def test_missed_utterances_are_grouped_and_leave_once_assigned(store: Store) -> None:
    _call(store, "CA1", [("Ik zoek mijn kat", "unknown")], Outcome(kind="hangup"))
    _call(store, "CA2", [("ik zoek mijn kat!", "unknown"), ("mijn saldo", "balance")], Outcome(kind="hangup"))
    groups = missed.missed_utterances(store.engine)
    assert [(g.key, g.count, sorted(g.calls)) for g in groups] == [("ik zoek mijn kat", 2, ["CA1", "CA2"])]
    assert missed.assign_intent(store.engine, groups[0].turn_ids, "unknown") == 2
    assert missed.missed_utterances(store.engine) == []


def _answer(store: Store, sid: str, text: str, expects: str, intent: str | None = None) -> None:
    store.call_started(CallRecord(call_sid=sid, language="nl", started=time.time()))
    store.add_turn(sid, 1, CallEvent(at=1.0, kind="caller", text=text, confidence=0.9, intent=intent, expects=expects))


def test_answers_to_a_yes_no_or_number_question_are_not_missed_utterances(store: Store) -> None:
    _answer(store, "CA-nee", "nee", "yes_no")
    _answer(store, "CA-nee-dank", "nee dank u", "yes_no")
    _answer(store, "CA-number", "vier vijf een twee", "digits")
    _answer(store, "CA-unsure", "ik euh", "free", intent=None)  # unsure recognition: not a gap in the grammar
    _answer(store, "CA-odd", "misschien wel", "yes_no", intent="unknown")  # a grammar step, not an open question
    _answer(store, "CA-miss", "ik zoek mijn kat", "free", intent="unknown")
    assert [g.text for g in missed.missed_utterances(store.engine)] == ["ik zoek mijn kat"]


def test_a_dismissed_group_leaves_the_list_and_can_be_put_back(store: Store) -> None:
    _answer(store, "CA-miss", "ik zoek mijn kat", "free", intent="unknown")
    group = missed.missed_utterances(store.engine)[0]
    assert missed.set_dismissed(store.engine, group.turn_ids, True) == 1
    assert missed.missed_utterances(store.engine) == []
    assert [g.text for g in missed.missed_utterances(store.engine, dismissed=True)] == ["ik zoek mijn kat"]
    assert missed.set_dismissed(store.engine, group.turn_ids, False) == 1
    assert [g.text for g in missed.missed_utterances(store.engine)] == ["ik zoek mijn kat"]


def test_a_lesson_can_be_undone_and_its_turns_are_missed_again(store: Store) -> None:
    _answer(store, "CA-miss", "ik zoek mijn kat", "free", intent="unknown")
    group = missed.missed_utterances(store.engine)[0]
    lesson = missed.record_teaching(store.engine, "sanne", "nl", "complaint", group.text, group.turn_ids, True)
    assert missed.missed_utterances(store.engine) == []
    assert [t.id for t in missed.recent_teachings(store.engine)] == [lesson.id]
    undone = missed.undo_teaching(store.engine, lesson.id)
    assert undone is not None and undone.undone_at is not None
    assert missed.undo_teaching(store.engine, lesson.id) is None
    assert missed.recent_teachings(store.engine) == []
    assert [g.text for g in missed.missed_utterances(store.engine)] == ["ik zoek mijn kat"]


def test_a_caller_who_hangs_up_during_the_greeting_is_abandoned_not_handled_without_a_person(store: Store) -> None:
    def ended(sid: str, prompts: list[str], outcome: Outcome | None = None) -> None:
        store.call_started(CallRecord(call_sid=sid, language="nl", started=time.time()))
        for seq, key in enumerate(prompts, start=1):
            store.add_turn(sid, seq, CallEvent(at=float(seq), kind="prompt", key=key, text="…"))
        if outcome is not None:
            store.set_outcome(sid, outcome)
        store.call_ended(sid, "completed", datetime.now(UTC))

    ended("CA-greeting", ["greeting"])  # hung up while being greeted
    ended("CA-served", ["greeting", "order_status", "anything_else"])  # got the answer, then hung up
    ended("CA-goodbye", ["greeting", "answer_opening_hours", "goodbye"], Outcome(kind="hangup", reason="caller_done"))
    ended("CA-person", ["greeting"], Outcome(kind="transfer", rule="klacht", transfer_id="T9"))
    board = queries.dashboard(store.engine)
    assert (board.finished, board.abandoned, board.without_person, board.answered) == (4, 1, 2, 3)
    assert board.share_without_person == pytest.approx(2 / 3)
    assert board.share_abandoned == pytest.approx(1 / 4)


def test_the_calls_list_filters_by_outcome_intent_rule_and_date_and_pages(store: Store) -> None:
    now = datetime.now(UTC)
    for n in range(60):
        sid = f"CA-page-{n:02d}"
        store.call_started(CallRecord(call_sid=sid, language="nl", started=now.timestamp() - 600 + n))
        store.add_turn(sid, 1, CallEvent(at=1.0, kind="caller", text="x", intent="fraud" if n % 2 else "refund"))
        if n % 3 == 0:
            store.set_outcome(sid, Outcome(kind="transfer", rule="fraude", target_name="fraudeteam"))
        store.call_ended(sid, "completed", datetime.fromtimestamp(now.timestamp() - 600 + n + 75, UTC))
    first = queries.call_page(store.engine, queries.CallFilter(), 1, 50)
    assert (first.total, len(first.rows), first.pages) == (60, 50, 2)
    assert first.rows[0].duration == "1:15"
    second = queries.call_page(store.engine, queries.CallFilter(), 2, 50)
    assert len(second.rows) == 10 and not {r.call_sid for r in first.rows} & {r.call_sid for r in second.rows}
    transferred = queries.call_page(store.engine, queries.CallFilter(disposition="transferred"), 1, 100)
    assert transferred.total == 20 and all(r.disposition == "transferred" for r in transferred.rows)
    abandoned = queries.call_page(store.engine, queries.CallFilter(disposition="abandoned"), 1, 100)
    assert abandoned.total == 40 and all(r.disposition_label == "abandoned" for r in abandoned.rows)
    assert queries.call_page(store.engine, queries.CallFilter(intent="fraud"), 1, 100).total == 30
    assert queries.call_page(store.engine, queries.CallFilter(rule="fraude"), 1, 100).total == 20
    tomorrow = (now + timedelta(days=1)).date()
    assert queries.call_page(store.engine, queries.CallFilter(day_from=tomorrow), 1, 100).total == 0
