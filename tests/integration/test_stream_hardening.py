"""A leaked token, a replayed stream, a hostile frame or a socket that never starts cannot hurt a call or the server.

Each test fails on the server as it was before the hardening (issue 10: duplicate streams, bad frames dropping the
call, sockets that never start, unbounded turns).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator

import numpy as np
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from ivr.audio.codec import ulaw_encode
from ivr.simulator.local import local_server
from ivr.simulator.scripted import ScriptedRecognizers
from ivr.simulator.turns import HangupTurn, PressTurn, SpeakTurn, speak
from tests.integration.conftest import SPEED, LiveServer, _settings

POLICY_VIOLATION = 1008


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with short limits, so the tests need not wait for the production ones."""
    tmp = tmp_path_factory.mktemp("strict-server")
    recognizers = ScriptedRecognizers()
    settings = _settings(tmp, language="nl", stream_start_timeout_s=1.0, max_utterance_s=3.0)
    with local_server(settings, recognizers=recognizers) as (url, live):
        yield LiveServer(url, live, recognizers)


def _start(call_sid: str, parameters: dict[str, str]) -> str:
    start = {"streamSid": "MZ1", "callSid": call_sid, "customParameters": parameters}
    return json.dumps({"event": "start", "streamSid": "MZ1", "start": start})


async def _closed_code(ws: websockets.ClientConnection, timeout_s: float = 10.0) -> int | None:
    """Read until the server closes the socket; its close code."""
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(timeout_s):
            while True:
                await ws.recv()
    return closed.value.rcvd.code if closed.value.rcvd is not None else None


async def test_a_socket_that_never_sends_start_is_closed(strict_server: LiveServer) -> None:
    simulator = strict_server.simulator()
    url, _ = await simulator.answer(simulator.new_call_sid())
    async with websockets.connect(url, additional_headers=simulator.handshake_headers(url)) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        assert await _closed_code(ws, timeout_s=5.0) == POLICY_VIOLATION


async def test_a_stream_token_opens_one_stream_only(strict_server: LiveServer) -> None:
    simulator = strict_server.simulator()
    call_sid = simulator.new_call_sid()
    url, parameters = await simulator.answer(call_sid)
    headers = simulator.handshake_headers(url)
    async with websockets.connect(url, additional_headers=headers) as first:
        await first.send(_start(call_sid, parameters))
        await first.recv()  # the greeting starts: the first stream is live
        async with websockets.connect(url, additional_headers=headers) as second:
            await second.send(_start(call_sid, parameters))
            assert await _closed_code(second) == POLICY_VIOLATION, "a replayed token must not open a second stream"
        assert strict_server.health()["active_calls"] == 1
    # After the first stream closed, the spent token still opens nothing.
    async with websockets.connect(url, additional_headers=headers) as again:
        await again.send(_start(call_sid, parameters))
        assert await _closed_code(again) == POLICY_VIOLATION


async def test_a_finished_call_takes_no_new_stream_even_with_a_fresh_token(strict_server: LiveServer) -> None:
    simulator = strict_server.simulator()
    call = await simulator.call([PressTurn("0")])
    assert call.record is not None and call.record.status == "completed"
    url, parameters = await simulator.answer(call.call_sid)  # a replayed /twilio/voice hands out a new token
    async with websockets.connect(url, additional_headers=simulator.handshake_headers(url)) as ws:
        await ws.send(_start(call.call_sid, parameters))
        assert await _closed_code(ws) == POLICY_VIOLATION
    record = await simulator.call_log(call.call_sid)
    assert record is not None and sum(e.key == "greeting" for e in record.events) == 1, "no second greeting"


async def test_binary_oversized_and_deeply_nested_frames_are_skipped_and_the_call_goes_on(
    strict_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    garbage: list[str | bytes] = [
        b"\\x00\\x01binary",
        "[" * 100_000 + "]" * 100_000,
        json.dumps({"event": "media", "media": {"payload": "A" * 200_000}}),
        json.dumps({"event": "media", "media": {"payload": "/" * 12_000}}),
    ]
    call = await strict_server.simulator().call([PressTurn("0")], inject_before_turns=garbage)
    assert call.dial_target() == strict_server.people_number()
    skipped = [r.getMessage() for r in caplog.records if "skipped a b" in r.getMessage()]
    assert len(skipped) >= 4, skipped


async def test_a_caller_turn_that_never_pauses_is_decided_after_the_cap(strict_server: LiveServer) -> None:
    assert strict_server.recognizers is not None
    simulator = strict_server.simulator()
    call_sid = simulator.new_call_sid()
    strict_server.recognizers.script(call_sid, ["ik wil een medewerker"])
    talk = speak("ik bel over mijn bestelling die nog steeds niet is aangekomen en ik wacht al weken " * 4, "nl")
    assert len(talk) > 8000 * 18  # ~20 s of speech without a pause long enough to end a turn
    call = await simulator.call([SpeakTurn(talk)], call_sid=call_sid)
    assert call.record is not None
    prompts = [e for e in call.record.events if e.kind == "prompt"]
    caller = [e for e in call.record.events if e.kind == "caller"]
    assert caller, "the turn was decided while the caller was still talking"
    talking_for = (caller[0].at - prompts[0].at) * SPEED  # line time since the greeting began
    # The greeting + the 3 s cap come to ~14–15 s of line time, more on a busy machine; without the cap the turn
    # would end only after the greeting and all of the talk (> 30 s).
    assert talking_for < 18, f"decided {talking_for:.1f} s (line time) after the greeting: not at the 3 s cap"


async def test_audio_faster_than_a_phone_line_is_dropped_not_decoded(strict_server: LiveServer) -> None:
    simulator = strict_server.simulator()
    call_sid = simulator.new_call_sid()
    url, parameters = await simulator.answer(call_sid)
    frame = ulaw_encode(np.zeros(160, dtype=np.int16))
    media = json.dumps({"event": "media", "media": {"payload": base64.b64encode(frame).decode()}})
    async with websockets.connect(url, additional_headers=simulator.handshake_headers(url)) as ws:
        await ws.send(_start(call_sid, parameters))
        for _ in range(3000):  # 60 s of audio, sent at once
            await ws.send(media)
        await ws.send(json.dumps({"event": "stop", "streamSid": "MZ1", "stop": {}}))
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(10):
                while True:
                    await ws.recv()
    assert strict_server.health()["status"] == "ok"


async def _until_idle(server: LiveServer, within_s: float) -> float:
    """Seconds until the server has no live call session left (fails after ``within_s``)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while server.health()["active_calls"] != 0:
        assert loop.time() - started < within_s, f"a hung-up call still holds a session after {within_s} s"
        await asyncio.sleep(0.05)
    return loop.time() - started


async def test_a_caller_hanging_up_during_the_transfer_announcement_ends_the_session_at_once(
    strict_server: LiveServer,
) -> None:
    simulator = strict_server.simulator()
    call = await simulator.call([PressTurn("0"), HangupTurn(300)])
    assert call.hung_up
    await _until_idle(strict_server, within_s=3.0)
    record = await simulator.call_log(call.call_sid)
    assert record is not None and not any(e.kind == "error" for e in record.events)


async def test_a_socket_that_dies_mid_prompt_is_a_hang_up_not_a_technical_problem(strict_server: LiveServer) -> None:
    simulator = strict_server.simulator()
    call_sid = simulator.new_call_sid()
    url, parameters = await simulator.answer(call_sid)
    ws = await websockets.connect(url, additional_headers=simulator.handshake_headers(url))
    await ws.send(_start(call_sid, parameters))
    for _ in range(5):
        await ws.recv()  # the greeting is playing
    ws.transport.abort()  # the line dies: no stop frame, no close handshake
    await _until_idle(strict_server, within_s=3.0)
    record = await simulator.call_log(call_sid)
    assert record is not None
    assert not any(e.kind == "error" for e in record.events), record.events
    assert record.outcome is None or record.outcome.reason != "technical_problem"
