"""Round trips through the store on SQLite and PostgreSQL: what the writer records is what the console reads."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from ivr.call.record import CallbackRequest, CallEvent, CallRecord, Outcome, TransferRecord, TransferStep
from ivr.store.db import StoreError
from ivr.store.repository import Store


def _record(call_sid: str = "CA100", started: float | None = None) -> CallRecord:
    return CallRecord(call_sid=call_sid, language="nl", caller="+31612345678", started=started or time.time())


def _transfer(call_sid: str = "CA100", transfer_id: str = "TR1") -> TransferRecord:
    return TransferRecord(
        transfer_id=transfer_id,
        call_sid=call_sid,
        language="nl",
        rule="angry-callers",
        reason="de beller is boos",
        code="distress",
        target_name="Klantenservice",
        target={"kind": "number", "number": "+31201234567"},
        priority=5,
        intent="complaint",
        summary="Beller is boos over een late levering.",
        summary_language="nl",
        summary_audio="/data/summaries/TR1.wav",
        distress=0.8,
        distress_reasons=["boos", "hard"],
        recognition=0.9,
    )


def test_a_call_with_turns_transfer_and_callback_reads_back_whole(store: Store) -> None:
    store.call_started(_record())
    store.add_turn("CA100", 1, CallEvent(at=0.1, kind="prompt", key="greeting", text="Goedemiddag"))
    store.add_turn(
        "CA100",
        2,
        CallEvent(
            at=3.2,
            kind="caller",
            text="ik wil een medewerker",
            confidence=0.91,
            intent="agent_request",
            recognition=0.88,
            distress=0.2,
            reasons=["slow speech"],
        ),
    )
    store.set_outcome(
        "CA100", Outcome(kind="transfer", reason="asked", rule="agent", target_name="Team", transfer_id="TR1")
    )
    store.add_transfer(_transfer())
    store.update_transfer(
        _transfer().model_copy(
            update={"status": "no-answer", "steps": [TransferStep(at=1.0, kind="no-answer", target_name="Team")]}
        )
    )
    store.add_callback("TR1", CallbackRequest(kind="voicemail", recording_url="https://rec/1"))
    store.call_ended("CA100", "completed", datetime.now(UTC))

    call = store.get_call("CA100")
    assert call is not None
    assert call.caller_masked == "+316******78"
    assert (call.status, call.outcome_kind, call.outcome_rule, call.transfer_id) == (
        "completed",
        "transfer",
        "agent",
        "TR1",
    )
    assert (call.last_step, call.intent, call.recognition, call.distress) == ("greeting", "agent_request", 0.88, 0.2)
    assert [(t.seq, t.kind) for t in call.turns] == [(1, "prompt"), (2, "caller")]
    assert call.turns[0].detail == "greeting"
    assert call.turns[1].reasons == ["slow speech"] and call.turns[1].confidence == 0.91
    assert call.transfer is not None
    assert call.transfer.status == "no-answer"
    assert [s["kind"] for s in call.transfer.steps] == ["no-answer"]
    assert call.transfer.target == {"kind": "number", "number": "+31201234567"}
    assert call.transfer.distress_reasons == ["boos", "hard"]
    assert [(c.kind, c.recording_url) for c in call.transfer.callbacks] == [("voicemail", "https://rec/1")]


def test_times_come_back_aware_and_in_utc(store: Store) -> None:
    started = datetime(2026, 3, 1, 9, 30, 15, tzinfo=UTC)
    store.call_started(_record(started=started.timestamp()))
    call = store.get_call("CA100")
    assert call is not None
    assert call.started_at == started
    assert call.started_at.utcoffset() == timedelta(0)


def test_the_same_turn_twice_is_refused_not_duplicated(store: Store) -> None:
    store.call_started(_record())
    store.add_turn("CA100", 1, CallEvent(at=0.1, kind="dtmf", text="1"))
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        store.add_turn("CA100", 1, CallEvent(at=0.2, kind="dtmf", text="2"))
    call = store.get_call("CA100")
    assert call is not None and [t.text for t in call.turns] == ["1"]


def test_live_calls_lists_only_calls_in_progress(store: Store) -> None:
    store.call_started(_record("CA1"))
    store.call_started(_record("CA2"))
    store.call_ended("CA2", "completed", datetime.now(UTC))
    assert [c.call_sid for c in store.live_calls()] == ["CA1"]
    assert {c.call_sid for c in store.list_calls()} == {"CA1", "CA2"}


def test_list_calls_is_newest_first_and_can_bring_turns(store: Store) -> None:
    now = time.time()
    store.call_started(_record("CA-old", started=now - 60))
    store.call_started(_record("CA-new", started=now))
    store.add_turn("CA-new", 1, CallEvent(at=1.0, kind="caller", text="hallo"))
    calls = store.list_calls(with_turns=True)
    assert [c.call_sid for c in calls] == ["CA-new", "CA-old"]
    assert [t.text for t in calls[0].turns] == ["hallo"]


def test_a_restart_closes_calls_left_in_progress_as_interrupted(store: Store) -> None:
    started = time.time() - 30
    store.call_started(_record("CA-live", started=started))
    store.add_turn("CA-live", 1, CallEvent(at=4.5, kind="caller", text="mijn bestelling"))
    store.call_started(_record("CA-done"))
    store.call_ended("CA-done", "completed", datetime.now(UTC))

    assert store.close_interrupted() == 1

    call = store.get_call("CA-live")
    assert call is not None
    assert (call.status, call.outcome_reason) == ("interrupted", "interrupted")
    assert call.ended_at is not None
    assert abs((call.ended_at - call.started_at).total_seconds() - 4.5) < 0.01
    assert store.live_calls() == []
    assert store.close_interrupted() == 0


def test_users_are_verified_by_argon2_hash(store: Store) -> None:
    user = store.add_user("sanne", "correct horse battery", "supervisor")
    assert user.password_hash.startswith("$argon2")
    assert "correct horse" not in user.password_hash
    verified = store.verify_user("sanne", "correct horse battery")
    assert verified is not None and verified.role == "supervisor"
    assert store.verify_user("sanne", "wrong horse battery") is None
    assert store.verify_user("nobody", "correct horse battery") is None
    assert [u.username for u in store.list_users()] == ["sanne"]


def test_duplicate_users_and_unknown_roles_are_refused_clearly(store: Store) -> None:
    store.add_user("sanne", "correct horse battery", "viewer")
    with pytest.raises(StoreError, match="already exists"):
        store.add_user("sanne", "another password", "viewer")
    with pytest.raises(StoreError, match="role must be one of"):
        store.add_user("piet", "another password", "admin")
    with pytest.raises(StoreError, match="8 characters"):
        store.add_user("piet", "short", "viewer")


def test_audit_log_keeps_who_did_what_newest_first(store: Store) -> None:
    store.audit("sanne", "rules.publish", "rule_versions/2", {"note": "boze bellers sneller"})
    store.audit("piet", "rules.rollback", "rule_versions/1")
    entries = store.list_audit()
    assert [(e.actor, e.action) for e in entries] == [("piet", "rules.rollback"), ("sanne", "rules.publish")]
    assert entries[1].detail == {"note": "boze bellers sneller"}
    assert entries[0].at.tzinfo is not None


def test_rule_versions_number_up_and_an_unchanged_file_is_not_a_new_version(store: Store) -> None:
    first = store.save_rule_version("rules: []\n", author="rules file", source="file", dedupe=True)
    again = store.save_rule_version("rules: []\n", author="rules file", source="file", dedupe=True)
    second = store.save_rule_version("rules: [x]\n", author="sanne", source="console", note="nieuw")
    assert again.id == first.id
    assert second.id == first.id + 1
    assert [v.id for v in store.list_rule_versions()] == [second.id, first.id]
    fetched = store.get_rule_version(second.id)
    assert fetched is not None and (fetched.text, fetched.source, fetched.author) == (
        "rules: [x]\n",
        "console",
        "sanne",
    )
    latest = store.latest_rule_version()
    assert latest is not None and latest.id == second.id
