"""After a restart the store answers what memory forgot: the agent page and summary audio, a pending after-stream,
the colleague's briefing and the call's end (issue 10, point 8)."""

from __future__ import annotations

from pathlib import Path

import httpx

from ivr.config import Settings
from ivr.simulator.local import local_server
from ivr.simulator.scripted import ScriptedRecognizers
from ivr.simulator.turns import text_turn
from ivr.simulator.twilio import TwilioSimulator
from ivr.store.repository import Store
from ivr.telephony.security import SignatureChecker
from ivr.transfer.links import sign_link
from tests.integration.conftest import SPEED, _settings


async def _post(settings: Settings, base: str, path: str, params: dict[str, str]) -> httpx.Response:
    url = f"{base}{path}"
    signature = SignatureChecker(settings.auth_token).sign(url, params)
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(url, data=params, headers={"X-Twilio-Signature": signature})


async def test_a_restarted_server_serves_transfers_it_never_had_in_memory(tmp_path: Path) -> None:
    settings = _settings(tmp_path, language="nl")
    recognizers = ScriptedRecognizers()
    with local_server(settings, recognizers=recognizers) as (base, live):
        simulator = TwilioSimulator(base, live.auth_token, speed=SPEED)
        call_sid = simulator.new_call_sid()
        recognizers.script(call_sid, ["iemand heeft geld van mijn rekening gehaald, ik ben opgelicht"])
        call = await simulator.call([text_turn("ik ben opgelicht", "nl")], call_sid=call_sid)
        assert call.transfer is not None
        transfer_id = call.transfer.transfer_id
        before = call.after_stream_twiml
    assert before is not None and "WW0f1e2d3c4b5a69788796a5b4c3d2e1f0" in before  # the fraud team's workflow

    with local_server(settings, recognizers=ScriptedRecognizers()) as (base, live):
        after = await _post(live, base, "/twilio/after-stream", {"CallSid": call_sid, "CallStatus": "in-progress"})
        assert after.status_code == 200
        assert "WW0f1e2d3c4b5a69788796a5b4c3d2e1f0" in after.text, "the chosen target, not the default <Dial>"

        link = sign_link(base, transfer_id, live.auth_token, 3600)
        async with httpx.AsyncClient(timeout=10) as client:
            page = await client.get(link)
            audio = await client.get(f"{base}/audio/summaries/{transfer_id}?{link.split('?', 1)[1]}")
        assert page.status_code == 200 and "opgelicht" in page.text.lower()
        assert audio.status_code == 200 and audio.content[:4] == b"RIFF"

        agent = {"CallSid": "CA-agent-leg", "AnsweredBy": "human"}
        briefing = await _post(live, base, f"/twilio/agent?transfer={transfer_id}&attempt=0", agent)
        assert briefing.status_code == 200 and "<Play>" in briefing.text
        await _post(live, base, "/twilio/status", {"CallSid": call_sid, "CallStatus": "completed"})
    store = Store.open(settings.resolved_database_url)  # the server has stopped: its writer wrote everything
    try:
        stored = store.get_call(call_sid)
        transfer = store.get_transfer(transfer_id)
    finally:
        store.close()
    assert stored is not None and stored.status == "completed"
    assert transfer is not None and transfer.status == "answered"
