"""Rolling deploys: a draining instance takes no new calls, lets live ones finish or hands them over, and exits 0."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from ivr.simulator.turns import PressTurn, SilenceTurn
from ivr.simulator.twilio import TwilioSimulator
from ivr.store.repository import Store
from ivr.telephony.security import SignatureChecker
from tests.integration.server_process import AUTH_TOKEN, SPEED, live_record, server_process, wait_for

ADMIN = "drain-test-admin-token"


async def _new_call_twiml(client: httpx.AsyncClient, base_url: str) -> str:
    url = f"{base_url}/twilio/voice"
    params = {"CallSid": TwilioSimulator.new_call_sid(), "From": "+31612345678", "CallStatus": "ringing"}
    signature = SignatureChecker(AUTH_TOKEN).sign(url, params)
    return (await client.post(url, data=params, headers={"X-Twilio-Signature": signature})).text


@pytest.mark.slow
@pytest.mark.model
@pytest.mark.parametrize("trigger", ["sigterm", "ops-drain"])
async def test_a_draining_instance_hands_its_live_call_over_cleanly_and_exits_0(
    ko_model_path: Path, tmp_path: Path, trigger: str
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = {"IVR_DRAIN_TIMEOUT_S": "1.5", "IVR_ADMIN_TOKEN": ADMIN}
    with server_process(data_dir, ko_model_path, env=env) as (process, base_url):
        simulator = TwilioSimulator(base_url, AUTH_TOKEN, speed=SPEED, timeout_s=120)
        call_sid = simulator.new_call_sid()
        caller = asyncio.create_task(simulator.call([PressTurn("5"), SilenceTurn(120)], call_sid=call_sid))

        def pressed() -> bool:
            record = live_record(base_url, call_sid)
            return record is not None and any(e.kind == "dtmf" for e in record.events)

        await wait_for(pressed, 60, "the caller's key press")
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=5) as client:
            if trigger == "sigterm":
                os.kill(process.pid, signal.SIGTERM)
            else:
                response = await client.post(f"{base_url}/ops/drain", headers={"Authorization": f"Bearer {ADMIN}"})
                assert response.status_code == 202
                assert response.json()["live_calls"] == 1

            # At once: the load balancer is told to stop sending calls; a call that still arrives goes to a person.
            await asyncio.sleep(0.1)
            ready = await client.get(f"{base_url}/readyz")
            assert ready.status_code == 503 and ready.json()["status"] == "draining"
            twiml = await _new_call_twiml(client, base_url)
            assert "<Dial>" in twiml or "<Enqueue" in twiml
            assert (await client.get(f"{base_url}/healthz")).status_code == 200  # still alive

        # The live call went on until the drain timeout, then its stream was closed cleanly (not uvicorn's 1012)
        # and the after-stream answer sent the caller to a person: nobody dropped.
        call = await asyncio.wait_for(caller, 30)
        handed_over_after = time.monotonic() - started
        assert call.close_code == 1000
        assert 1.4 <= handed_over_after < 10
        assert call.after_stream_twiml is not None and "<Dial>" in call.after_stream_twiml
        assert call.record is not None
        assert any(e.text == "handed over" for e in call.record.events)

        assert await asyncio.to_thread(process.wait, 30) == 0

    store = Store.open(f"sqlite:///{data_dir / 'warmline.db'}")
    try:
        stored = store.get_call(call_sid)
        assert stored is not None
        assert ("dtmf", "5") in [(t.kind, t.text) for t in stored.turns], "the store writer was flushed"
        assert any(t.text == "handed over" for t in stored.turns)
    finally:
        store.close()
