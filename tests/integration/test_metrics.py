"""Operators scrape /metrics (Prometheus text) with the admin token; strangers see no metrics and no API map."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ivr.simulator.local import local_server
from ivr.simulator.scripted import ScriptedRecognizers
from ivr.simulator.turns import PressTurn, text_turn
from tests.integration.conftest import LiveServer, _settings

TOKEN = "ops-token-for-tests"


@pytest.fixture(scope="module")
def ops_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("ops-server")
    recognizers = ScriptedRecognizers()
    with local_server(_settings(tmp, language="nl", admin_token=TOKEN), recognizers=recognizers) as (url, live):
        yield LiveServer(url, live, recognizers)


async def _scrape(server: LiveServer) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{server.base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


async def test_metrics_parse_as_prometheus_text_and_move_with_calls(ops_server: LiveServer) -> None:
    before = await _scrape(ops_server)
    simulator = ops_server.simulator()
    await simulator.call([PressTurn("0")])
    assert ops_server.recognizers is not None
    call_sid = simulator.new_call_sid()
    ops_server.recognizers.script(call_sid, ["hoe laat zijn jullie open", "nee dank u"])
    await simulator.call([text_turn("hoe laat zijn jullie open", "nl"), text_turn("nee", "nl")], call_sid=call_sid)
    after = await _scrape(ops_server)

    def grew(name: str, labels: tuple[tuple[str, str], ...]) -> float:
        return after[name].get(labels, 0.0) - before.get(name, {}).get(labels, 0.0)

    assert grew("warmline_calls_total", (("outcome", "transfer"),)) == 1
    assert grew("warmline_calls_total", (("outcome", "self_service"),)) == 1
    assert grew("warmline_transfers_total", (("reason", "keypad_zero"),)) == 1
    assert grew("warmline_turn_latency_seconds_count", ()) >= 2
    assert after["warmline_active_calls"][()] == 0
    for name in ("warmline_recognizer_pool_in_use", "warmline_late_frames_total", "warmline_draining"):
        assert name in after


async def test_metrics_need_the_admin_token_and_the_api_map_is_off(ops_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=ops_server.base_url) as client:
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics.json", headers={"Authorization": "Bearer wrong"})).status_code == 401
        json_metrics = await client.get("/metrics.json", headers={"Authorization": f"Bearer {TOKEN}"})
        assert json_metrics.status_code == 200 and "response_p95_ms" in json_metrics.json()
        assert (await client.get("/docs")).status_code == 404
        assert (await client.get("/openapi.json")).status_code == 404
        assert (await client.get("/healthz")).status_code == 200
