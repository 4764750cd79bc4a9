"""Only Twilio may drive a call: signed webhooks, a signed stream handshake, a token bound to the call; bad frames
are skipped without dropping the caller."""

from __future__ import annotations

import json

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ivr.simulator.turns import PressTurn
from ivr.simulator.twilio import SimulationError, TwilioSimulator
from ivr.telephony.security import SignatureChecker
from tests.integration.conftest import SPEED, LiveServer

CALL = {"CallSid": "CAforged", "From": "+31612345678", "To": "+31201234567", "AccountSid": "AC0"}


@pytest.mark.parametrize("path", ["/twilio/voice", "/twilio/after-stream", "/twilio/status"])
def test_an_unsigned_webhook_gets_403(text_server: LiveServer, path: str) -> None:
    response = httpx.post(text_server.base_url + path, data=CALL)
    assert response.status_code == 403


def test_a_webhook_signed_with_another_token_gets_403(text_server: LiveServer) -> None:
    url = text_server.base_url + "/twilio/voice"
    forged = SignatureChecker("someone-elses-token").sign(url, CALL)
    response = httpx.post(url, data=CALL, headers={"X-Twilio-Signature": forged})
    assert response.status_code == 403


def test_a_webhook_whose_parameters_were_changed_after_signing_gets_403(text_server: LiveServer) -> None:
    url = text_server.base_url + "/twilio/voice"
    signature = SignatureChecker(text_server.settings.auth_token).sign(url, CALL)
    response = httpx.post(url, data={**CALL, "From": "+31699999999"}, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403


def test_a_signed_voice_webhook_answers_with_a_stream_and_a_token(text_server: LiveServer) -> None:
    url = text_server.base_url + "/twilio/voice"
    signature = SignatureChecker(text_server.settings.auth_token).sign(url, CALL)
    response = httpx.post(url, data=CALL, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200
    assert "<Connect action=" in response.text and '<Stream url="ws://127.0.0.1:' in response.text
    assert '<Parameter name="token"' in response.text


async def test_an_unsigned_stream_handshake_is_refused(text_server: LiveServer) -> None:
    url = text_server.settings.stream_url
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(url):
            pass
    assert refused.value.response.status_code == 403


async def test_a_start_frame_without_a_valid_token_closes_the_stream(text_server: LiveServer) -> None:
    url = text_server.settings.stream_url
    signature = SignatureChecker(text_server.settings.auth_token).sign(url, {})
    async with websockets.connect(url, additional_headers={"X-Twilio-Signature": signature}) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        start = {"streamSid": "MZ1", "callSid": "CA1", "customParameters": {"token": "123.forged"}}
        await ws.send(json.dumps({"event": "start", "streamSid": "MZ1", "start": start}))
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_malformed_frames_are_skipped_and_the_call_goes_on(
    text_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    simulator = text_server.simulator()
    garbage = ["{not json", '{"event":"media","media":{"payload":"***"}}', '{"event":"teleport"}']
    call = await simulator.call([PressTurn("0")], inject_before_turns=garbage)
    assert call.dial_target() == text_server.people_number()
    assert sum("skipped a bad" in r.getMessage() for r in caplog.records) >= 3


async def test_a_simulator_refused_with_403_is_told_signatures_are_checked_against_the_public_url(
    text_server: LiveServer,
) -> None:
    stranger = TwilioSimulator(text_server.base_url, "some-other-token", speed=SPEED)
    with pytest.raises(SimulationError, match="IVR_PUBLIC_URL"):
        await stranger.call([PressTurn("0")])
