"""A server at its call limit tells the next caller the truth and puts them straight through to a person."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from ivr.simulator.local import local_server
from ivr.simulator.scripted import ScriptedRecognizers
from ivr.simulator.turns import PressTurn, SilenceTurn
from ivr.simulator.twilio import TwilioSimulator
from tests.integration.conftest import SPEED, _settings


async def test_one_call_over_the_limit_hears_the_honest_sentence_and_goes_to_a_person(tmp_path: Path) -> None:
    settings = _settings(tmp_path, language="nl", max_calls=1)
    with local_server(settings, recognizers=ScriptedRecognizers()) as (base, live):
        simulator = TwilioSimulator(base, live.auth_token, speed=SPEED)
        first = asyncio.create_task(simulator.call([SilenceTurn(4.0), PressTurn("0")]))
        async with httpx.AsyncClient(timeout=10) as client:
            for _ in range(100):
                if (await client.get(f"{base}/healthz")).json()["active_calls"] == 1:
                    break
                await asyncio.sleep(0.05)
            extra = simulator.new_call_sid()
            answer = await simulator.post_signed(
                client, f"{base}/twilio/voice", simulator.call_params(extra, "ringing")
            )
            ready = await client.get(f"{base}/readyz")
            prompt = await client.get(f"{base}/audio/prompts/nl/busy_transfer.wav")
        assert answer.status_code == 200
        assert "<Connect" not in answer.text, "no queue, no bot: the caller is not kept waiting"
        assert "/audio/prompts/nl/busy_transfer.wav</Play>" in answer.text
        assert "<Dial>+31201234567</Dial>" in answer.text, "the rules' default target"
        assert ready.status_code == 503 and "full" in str(ready.json()["problems"])
        assert prompt.status_code == 200 and prompt.content[:4] == b"RIFF"
        call = await first
        assert call.dial_target() is not None, "the call inside the limit went on as usual"
