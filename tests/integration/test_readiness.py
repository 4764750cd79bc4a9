"""/readyz tells a load balancer to stop sending calls while this instance cannot write to its database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from ivr.simulator.local import local_server
from ivr.simulator.scripted import ScriptedRecognizers
from ivr.simulator.turns import PressTurn
from ivr.simulator.twilio import TwilioSimulator
from tests.integration.conftest import SPEED, _settings
from tests.store.conftest import locked_tables


async def _ready(base: str) -> tuple[int, dict[str, object]]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{base}/readyz")
    return response.status_code, response.json()


async def test_readyz_is_unready_until_the_server_is_warmed_up(tmp_path: Path) -> None:
    settings = _settings(tmp_path, language="nl")
    with local_server(settings, recognizers=ScriptedRecognizers()) as (base, _):
        status, body = await _ready(base)
        assert status == 503 and "warming up" in str(body["problems"]), body
        for _ in range(200):
            if (await _ready(base))[0] == 200:
                return
            await asyncio.sleep(0.1)
    raise AssertionError("never became ready")


async def test_readyz_turns_unready_while_the_database_is_locked_and_ready_again_after(tmp_path: Path) -> None:
    settings = _settings(tmp_path, language="nl")
    with local_server(settings, recognizers=ScriptedRecognizers()) as (base, live):
        for _ in range(200):  # ready once the prompts are rendered (nothing to warm with scripted recognisers)
            if (await _ready(base))[0] == 200:
                break
            await asyncio.sleep(0.1)
        assert (await _ready(base))[0] == 200
        with locked_tables(live.resolved_database_url, 14):
            await TwilioSimulator(base, live.auth_token, speed=SPEED).call([PressTurn("0")])
            seen: tuple[int, dict[str, object]] = (200, {})
            for _ in range(100):
                seen = await _ready(base)
                if seen[0] == 503:
                    break
                await asyncio.sleep(0.1)
            assert seen[0] == 503 and "database" in str(seen[1]["problems"]), seen
            async with httpx.AsyncClient() as client:
                assert (await client.get(f"{base}/healthz")).status_code == 200, "liveness is not readiness"
        for _ in range(200):
            if (await _ready(base))[0] == 200:
                break
            await asyncio.sleep(0.1)
        assert (await _ready(base))[0] == 200


async def test_ready_only_once_the_whole_recogniser_pool_is_warm(tmp_path: Path, ko_model_path: Path) -> None:
    settings = _settings(tmp_path, language="nl", vosk_model=ko_model_path, recognizers=4, admin_token="t")
    settings = settings.model_copy(update={"warm_recognizers": None})  # the default: the whole pool
    with local_server(settings) as (base, _):
        for _ in range(600):
            status, _body = await _ready(base)
            if status == 200:
                break
            await asyncio.sleep(0.1)
        assert status == 200, "never became ready"
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{base}/metrics.json", headers={"Authorization": "Bearer t"})
        response.raise_for_status()
        metrics = response.json()
    assert metrics["startup_s"]["recognizer_warm_up"] > 0
    assert metrics["recognizer_pool"] == {"created": 4, "in_use": 0, "idle": 4, "waits": 0}
