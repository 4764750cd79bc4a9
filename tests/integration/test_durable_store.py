"""Calls made over the real protocol end up in the durable store — redacted — and survive a killed server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from ivr.call.record import CallRecord
from ivr.config import REPO_ROOT
from ivr.simulator.turns import CallerTurn, PressTurn, SilenceTurn, text_turn
from ivr.simulator.twilio import TwilioSimulator
from ivr.store.models import Call
from ivr.store.repository import Store
from tests.integration.conftest import LiveServer
from tests.integration.server_process import (
    AUTH_TOKEN,
    IVR,
    SPEED,
    UVICORN,
    live_record,
    server_env,
    server_process,
)


def _stored_call(store: Store, call_sid: str, until: str = "completed", timeout_s: float = 10.0) -> Call:
    """The call's row once the server has written its end (the writer commits off the event loop)."""
    deadline = time.monotonic() + timeout_s
    while True:
        call = store.get_call(call_sid)
        if call is not None and call.status == until:
            return call
        if time.monotonic() > deadline:
            pytest.fail(f"call {call_sid} not stored with status {until!r}: {call and call.status}")
        time.sleep(0.05)


async def test_a_simulated_call_is_stored_turn_by_turn_with_personal_data_masked(text_server: LiveServer) -> None:
    assert text_server.recognizers is not None
    simulator = text_server.simulator()
    simulator.caller = "+31612345678"
    call_sid = simulator.new_call_sid()
    texts = ["mijn rekeningnummer is NL91ABNA0417164300", "ik wil een medewerker"]
    text_server.recognizers.script(call_sid, texts)
    turns: list[CallerTurn] = [text_turn(t, "nl") for t in texts]
    call = await simulator.call(turns, call_sid=call_sid)
    assert call.record is not None

    store = Store.open(text_server.settings.resolved_database_url)
    try:
        stored = await asyncio.to_thread(_stored_call, store, call_sid)
    finally:
        store.close()
    live = call.record
    assert live.outcome is not None and call.transfer is not None
    assert stored.caller_masked == "+316******78"
    assert (stored.outcome_kind, stored.outcome_rule) == ("transfer", live.outcome.rule)
    assert [(t.seq, t.kind) for t in stored.turns] == [(i, e.kind) for i, e in enumerate(live.events, start=1)], (
        "every event of the live record is a stored turn, in order"
    )
    said = [t.text for t in stored.turns if t.kind == "caller"]
    assert said[0] == "mijn rekeningnummer is [IBAN]"
    assert stored.last_step == [e.key for e in live.events if e.kind == "prompt"][-1]
    assert stored.transfer is not None and stored.transfer.transfer_id == live.outcome.transfer_id
    assert stored.transfer.status == call.transfer.status
    assert "NL91ABNA0417164300" not in repr([t.text for t in stored.turns]) + stored.transfer.summary


# ── a real server process, killed mid-call ────────────────────────────────────────────────────────────────
@pytest.mark.slow
@pytest.mark.model
async def test_a_killed_server_loses_no_completed_turn_and_its_call_is_closed_as_interrupted(
    ko_model_path: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    call_sid = TwilioSimulator.new_call_sid()
    with server_process(data_dir, ko_model_path) as (process, base_url):
        simulator = TwilioSimulator(base_url, AUTH_TOKEN, speed=SPEED, timeout_s=120)
        turns: list[CallerTurn] = [PressTurn("5"), PressTurn("7"), SilenceTurn(120)]
        caller = asyncio.create_task(simulator.call(turns, call_sid=call_sid))
        completed: CallRecord | None = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not caller.done():
            record = await asyncio.to_thread(live_record, base_url, call_sid)
            if record is not None and sum(e.kind == "dtmf" for e in record.events) >= 2:
                completed = record
                break
            await asyncio.sleep(0.05)
        assert completed is not None, "the call never got to its second key press"
        await asyncio.sleep(0.2)  # "promptly": every turn the server completed is committed within this
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        caller.cancel()
        with contextlib.suppress(BaseException):
            await caller

    store = Store.open(f"sqlite:///{data_dir / 'warmline.db'}")
    try:
        stored = store.get_call(call_sid)
        assert stored is not None
        assert stored.status == "in-progress", "killed before hang-up: nobody closed it"
        kept = [(t.seq, t.kind, t.text) for t in stored.turns]
        expected = [(i, e.kind, e.text) for i, e in enumerate(completed.events, start=1)]
        assert kept[: len(expected)] == expected, "a turn the server had completed was lost"
        assert ("dtmf", "7") in [(kind, text) for _, kind, text in kept]

        with server_process(data_dir, ko_model_path):
            restarted = store.get_call(call_sid)
        assert restarted is not None
        assert (restarted.status, restarted.outcome_reason) == ("interrupted", "interrupted")
        assert restarted.ended_at is not None and restarted.ended_at >= restarted.started_at
        assert len(restarted.turns) == len(kept)
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.model
def test_ivr_serve_starts_the_server_from_any_directory(ko_model_path: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    command = [IVR, "serve", "--host", "127.0.0.1", "--port"]
    with server_process(tmp_path, ko_model_path, command=command, cwd=elsewhere) as (_, base_url):
        assert httpx.get(f"{base_url}/healthz", timeout=5).json()["status"] == "ok"


@pytest.mark.slow
@pytest.mark.model
async def test_a_second_server_on_a_busy_port_leaves_the_running_servers_call_alone(
    ko_model_path: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    call_sid = TwilioSimulator.new_call_sid()
    with server_process(data_dir, ko_model_path) as (_, base_url):
        simulator = TwilioSimulator(base_url, AUTH_TOKEN, speed=SPEED, timeout_s=120)
        caller = asyncio.create_task(simulator.call([PressTurn("5"), SilenceTurn(120)], call_sid=call_sid))
        store = Store.open(f"sqlite:///{data_dir / 'warmline.db'}")
        try:
            await asyncio.to_thread(_stored_call, store, call_sid, "in-progress")
            port = base_url.rsplit(":", 1)[1]
            env = server_env(data_dir, int(port), ko_model_path)
            for command in ([*UVICORN, port], [IVR, "serve", "--host", "127.0.0.1", "--port", port]):
                second = await asyncio.to_thread(
                    subprocess.run, command, cwd=REPO_ROOT, env=env, capture_output=True, timeout=120
                )
                assert second.returncode != 0, "the port is taken: the second server must not run"
            ivr_error = second.stderr.decode().strip().splitlines()
            assert ivr_error == [
                f"error: cannot listen on 127.0.0.1:{port}: the port is in use or not allowed (--port)"
            ]
            call = store.get_call(call_sid)
            assert call is not None and call.status == "in-progress", "the running server's call was not touched"
            assert not caller.done()
        finally:
            store.close()
            caller.cancel()
            with contextlib.suppress(BaseException):
                await caller
