"""Calls are kept no longer than the deployment allows: `ivr purge` and the server's hourly schedule."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from ivr.call.record import CallbackRequest, CallEvent, CallRecord, TransferRecord
from ivr.cli import app
from ivr.store.models import Callback, Transfer, Turn
from ivr.store.repository import Store
from ivr.store.retention import parse_age, purge_on_schedule
from ivr.store.writer import StoreWriter

DAY = 24 * 3600.0


def _call_with_everything(store: Store, call_sid: str, days_ago: float, summary_audio: Path | None = None) -> None:
    store.call_started(CallRecord(call_sid=call_sid, language="nl", started=time.time() - days_ago * DAY))
    store.add_turn(call_sid, 1, CallEvent(at=1.0, kind="caller", text="medewerker"))
    transfer_id = f"TR-{call_sid}"
    store.add_transfer(
        TransferRecord(
            transfer_id=transfer_id,
            call_sid=call_sid,
            language="nl",
            rule="r",
            reason="asked",
            code="c",
            target_name="Team",
            target={},
            priority=1,
            summary_audio=str(summary_audio or ""),
        )
    )
    store.add_callback(transfer_id, CallbackRequest(kind="callback"))


def _count(store: Store, model: type[object]) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0  # type: ignore[call-overload]


def test_purge_deletes_old_calls_with_their_turns_transfers_and_callbacks(store: Store) -> None:
    _call_with_everything(store, "CA-old", days_ago=45)
    _call_with_everything(store, "CA-new", days_ago=2)
    assert store.purge(datetime.now(UTC) - timedelta(days=30)) == 1
    assert [c.call_sid for c in store.list_calls()] == ["CA-new"]
    assert (_count(store, Turn), _count(store, Transfer), _count(store, Callback)) == (1, 1, 1)
    call = store.get_call("CA-new")
    assert call is not None and call.transfer is not None and len(call.transfer.callbacks) == 1


def test_purge_deletes_the_spoken_summaries_of_purged_transfers_unless_another_still_plays_them(
    store: Store, tmp_path: Path
) -> None:
    own, shared = tmp_path / "own.wav", tmp_path / "shared.wav"
    for wav in (own, shared):
        wav.write_bytes(b"RIFF")
        wav.with_suffix(".ulaw").write_bytes(b"\xff")
    _call_with_everything(store, "CA-old", days_ago=45, summary_audio=own)
    _call_with_everything(store, "CA-old-2", days_ago=40, summary_audio=shared)
    _call_with_everything(store, "CA-new", days_ago=2, summary_audio=shared)  # the same words, one cached file
    assert store.purge(datetime.now(UTC) - timedelta(days=30)) == 2
    assert not own.exists() and not own.with_suffix(".ulaw").exists()
    assert shared.exists() and shared.with_suffix(".ulaw").exists()


def test_ivr_purge_older_than_30d_enforces_retention(
    store: Store, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _call_with_everything(store, "CA-old", days_ago=31)
    _call_with_everything(store, "CA-new", days_ago=29)
    monkeypatch.setenv("IVR_DATABASE_URL", database_url)
    result = CliRunner().invoke(app, ["purge", "--older-than", "30d", "--yes"])
    assert result.exit_code == 0, result.output
    assert "purged 1 call(s)" in result.output
    assert [c.call_sid for c in store.list_calls()] == ["CA-new"]
    assert [e.action for e in store.list_audit()] == ["calls.purge"]


def test_ivr_purge_refuses_an_unreadable_age(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IVR_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["purge", "--older-than", "a month"])
    assert result.exit_code == 2
    assert "use e.g. 30d" in " ".join(result.output.replace("│", " ").split())


def test_ages_read_like_people_write_them() -> None:
    assert parse_age("30d") == timedelta(days=30)
    assert parse_age("12h") == timedelta(hours=12)
    assert parse_age("2w") == timedelta(weeks=2)
    assert parse_age("90m") == timedelta(minutes=90)
    assert parse_age("7") == timedelta(days=7)


def test_the_server_schedule_purges_through_the_writer(store: Store) -> None:
    _call_with_everything(store, "CA-old", days_ago=40)
    _call_with_everything(store, "CA-new", days_ago=1)
    writer = StoreWriter(store).start()

    async def run_once() -> None:
        task = asyncio.create_task(purge_on_schedule(writer, days=30, every_s=3600))
        await asyncio.sleep(0.05)
        task.cancel()

    asyncio.run(run_once())
    writer.close()
    assert [c.call_sid for c in store.list_calls()] == ["CA-new"]


def test_ivr_users_add_creates_a_user_who_can_log_in(
    store: Store, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IVR_DATABASE_URL", database_url)
    runner = CliRunner()
    added = runner.invoke(app, ["users", "add", "sanne", "--role", "supervisor", "--password", "lang-genoeg-1"])
    assert added.exit_code == 0, added.output
    prompted = runner.invoke(app, ["users", "add", "piet"], input="ook-lang-genoeg\nook-lang-genoeg\n")
    assert prompted.exit_code == 0, prompted.output
    again = runner.invoke(app, ["users", "add", "sanne", "--password", "lang-genoeg-1"])
    assert again.exit_code == 1 and "already exists" in again.output
    sanne = store.verify_user("sanne", "lang-genoeg-1")
    piet = store.verify_user("piet", "ook-lang-genoeg")
    assert sanne is not None and sanne.role == "supervisor"
    assert piet is not None and piet.role == "viewer"
