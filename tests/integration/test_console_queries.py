"""The console's reads over a real SQLite store: live calls, replay input, the dashboard and missed utterances."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.admin import queries
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
    _call(store, "CA2", [("ik zoek mijn kat!", None), ("mijn saldo", "balance")], Outcome(kind="hangup"))
    groups = queries.missed_utterances(store.engine)
    assert [(g.key, g.count, sorted(g.calls)) for g in groups] == [("ik zoek mijn kat", 2, ["CA1", "CA2"])]
    assert queries.assign_intent(store.engine, groups[0].turn_ids, "unknown") == 2
    assert queries.missed_utterances(store.engine) == []
