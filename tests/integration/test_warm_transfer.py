"""Warm transfers over the real protocol: the right colleague, a spoken summary for them, and never a dead end."""

from __future__ import annotations

import io
import json
import wave
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import numpy as np

from ivr.audio.codec import read_wav, rms_dbfs
from ivr.simulator.turns import CallerTurn, SpeakTurn, speak, text_turn
from ivr.simulator.twilio import AgentBehaviour, SimulatedCall
from ivr.speech.tts import SpeechSynthesizer
from ivr.transfer.links import sign_link
from tests.integration.conftest import LiveServer


async def _call(
    server: LiveServer, texts: list[str], agent: AgentBehaviour = "answers", offer_reply: str | None = "1"
) -> SimulatedCall:
    assert server.recognizers is not None
    simulator = server.simulator()
    call_sid = simulator.new_call_sid()
    server.recognizers.script(call_sid, texts)
    turns: list[CallerTurn] = [text_turn(t, "nl") for t in texts]
    return await simulator.call(turns, call_sid=call_sid, agent=agent, offer_reply=offer_reply)


def _briefing(call: SimulatedCall) -> bytes:
    """The spoken summary the first colleague rung heard before pressing a key."""
    assert call.agent_legs, "Warmline rang a colleague"
    assert call.agent_legs[0].heard, call.agent_legs[0].briefing_twiml
    return call.agent_legs[0].heard[0]


async def test_a_caller_asking_for_a_person_is_dialled_with_a_spoken_summary_for_the_agent(
    text_server: LiveServer,
) -> None:
    call = await _call(text_server, ["waar blijft mijn bestelling", "vier vijf een twee", "ik wil een medewerker"])

    assert call.after_stream_twiml is not None
    enqueue = ET.fromstring(call.after_stream_twiml).find("Enqueue")
    assert enqueue is not None and "/twilio/hold" in enqueue.get("waitUrl", ""), call.after_stream_twiml
    assert "/twilio/dial-status" in enqueue.get("action", "")
    assert call.dial_target() == "+31201234567"
    assert call.queue_result == "bridged"
    assert call.transfer is not None and call.transfer.rule == "caller_request"
    assert "4 5 1 2" in call.transfer.summary
    prompts = [e.key for e in call.record.events if e.kind == "prompt"] if call.record else []
    assert prompts[-2:] == ["transfer_caller_request", "transfer_context"], "the caller hears what happens next"

    # The colleague hears a real WAV whose speech is exactly the summary, rendered by our TTS.
    heard, rate = read_wav(_briefing(call))
    assert rate == 8000 and rms_dbfs(heard) > -40 and len(heard) > rate  # more than a second of speech
    with SpeechSynthesizer(text_server.settings.audio_cache_dir, text_server.settings.grammars_dir) as synth:
        expected, _ = read_wav(Path(await synth.synthesize_wav(call.transfer.summary, "nl")))
    assert np.array_equal(heard, expected)


async def test_a_bereavement_call_goes_to_the_bereavement_team_over_sip(text_server: LiveServer) -> None:
    call = await _call(
        text_server, ["ja goedemiddag mijn vader is vorige week overleden en ik wil zijn abonnement opzeggen"]
    )

    assert call.dial_target() == "sip:rouw@pbx.warmline.example"
    assert call.transfer is not None and call.transfer.rule == "rouw"
    assert call.transfer.intent == "bereavement"
    summary = call.transfer.summary.lower()
    assert "overleden" in summary or "rouw" in summary, call.transfer.summary
    keys = [e.key for e in call.record.events if e.kind == "prompt"] if call.record else []
    assert "transfer_needs_person_bereavement" in keys


async def test_a_fraud_caller_is_enqueued_for_taskrouter_with_the_summary_in_the_task(text_server: LiveServer) -> None:
    call = await _call(text_server, ["help er is geld van mijn rekening gehaald ik denk dat ik opgelicht ben"])

    assert call.after_stream_twiml is not None
    enqueue = ET.fromstring(call.after_stream_twiml).find("Enqueue")
    assert enqueue is not None and enqueue.get("workflowSid", "").startswith("WW")
    task = enqueue.find("Task")
    assert task is not None and task.text
    attributes = json.loads(task.text)
    assert call.transfer is not None
    assert attributes["summary"] == call.transfer.summary and attributes["intent"] == "fraud"
    assert "/agent/transfers/" in str(attributes["agent_url"])
    assert attributes["transcript"] and attributes["signals"]["distress"] >= 0


async def test_a_caller_waiting_in_the_queue_hears_they_are_still_connected_and_hold_audio_never_silence(
    text_server: LiveServer,
) -> None:
    call = await _call(text_server, ["iemand heeft met mijn pas betaald in het buitenland help"])

    assert call.after_stream_twiml is not None and "<Enqueue" in call.after_stream_twiml
    assert call.hold_twiml is not None, "Twilio was given a waitUrl and fetched it"
    plays = ET.fromstring(call.hold_twiml).findall("Play")
    assert [p.text.rsplit("/", 1)[-1] for p in plays if p.text] == ["hold_still_connected.wav", "chime.wav"]
    assert int(plays[1].get("loop", "1")) >= 2
    async with httpx.AsyncClient(timeout=30) as client:
        for play in plays:
            audio = await client.get(play.text or "")
            assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
            with wave.open(io.BytesIO(audio.content)) as wav:
                pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
            assert rms_dbfs(pcm) > -35.0, "real sound, not silence"


async def test_a_distressed_caller_goes_to_a_person_even_for_a_self_service_question(text_server: LiveServer) -> None:
    text = "ik ben echt wanhopig en ten einde raad waar blijft mijn bestelling ik heb het dringend nodig"
    call = await _call(text_server, [text])

    assert call.transfer is not None, call.record
    assert call.transfer.distress >= 0.6
    assert call.dial_target() is not None
    keys = [e.key for e in call.record.events if e.kind == "prompt"] if call.record else []
    assert "transfer_distress" in keys or any(k.startswith("transfer_") for k in keys)


async def test_when_nobody_answers_the_caller_is_offered_a_call_back_and_it_is_recorded(
    text_server: LiveServer,
) -> None:
    call = await _call(text_server, ["medewerker"], agent="no-answer", offer_reply="1")

    assert call.dial_result_twiml is not None
    result = ET.fromstring(call.dial_result_twiml)
    gather = result.find("Gather")
    assert gather is not None and gather.find("Play") is not None, call.dial_result_twiml
    assert result.find("Record") is not None, "no digit pressed → voicemail, never a dead end"
    assert call.callback_twiml is not None and "<Play>" in call.callback_twiml
    assert call.transfer is not None
    signature_check = text_server.simulator()
    url = f"{text_server.base_url}/twilio/calls/{call.call_sid}/transfer"
    async with httpx.AsyncClient() as client:
        response = await client.get(url, headers={"X-Twilio-Signature": signature_check._signer.sign(url, {})})
    assert response.json()["callbacks"][0]["kind"] == "callback"
    assert response.json()["status"] == "unreachable"
    steps = [(s["kind"], s["target_name"]) for s in response.json()["steps"]]
    # the built-in transfer's fallback (rules.yaml) was tried before the offer
    assert steps == [
        ("queued", "default"),
        ("dialled", "default"),
        ("no-answer", "default"),
        ("dialled", "avonddienst"),
        ("no-answer", "avonddienst"),
        ("unreachable", "avonddienst"),
    ]


async def test_a_caller_who_cannot_be_understood_goes_to_a_person_with_a_kind_summary(vosk_server: LiveServer) -> None:
    mumble = speak("ja euh ik bel eigenlijk over dat ding van vorige week weet u wel", "nl")
    call = await vosk_server.simulator().call([SpeakTurn(mumble), SpeakTurn(mumble)])

    assert call.dial_target() == vosk_server.people_number()
    assert call.transfer is not None
    assert call.transfer.code in {"low_confidence", "repeated_failure"}
    assert _briefing(call)[:4] == b"RIFF"


async def test_the_agent_page_needs_a_signed_link_and_shows_the_redacted_conversation(text_server: LiveServer) -> None:
    call = await _call(text_server, ["mijn iban is NL91ABNA0417164300 en ik wil een medewerker"])
    assert call.after_stream_twiml is not None and call.transfer is not None
    tid = call.transfer.transfer_id

    link = sign_link(text_server.base_url, tid, text_server.settings.auth_token, 60)
    async with httpx.AsyncClient() as client:
        unsigned = await client.get(f"{text_server.base_url}/agent/transfers/{tid}")
        forged = await client.get(f"{text_server.base_url}/agent/transfers/{tid}?exp=9999999999&sig=forged")
        page = await client.get(link)
    assert unsigned.status_code == 422
    assert forged.status_code == 403
    assert page.status_code == 200
    assert call.transfer.summary in page.text
    assert "NL91ABNA0417164300" not in page.text and "[IBAN]" in page.text


async def test_the_agent_page_cannot_be_framed_cached_or_leak_its_signed_link(text_server: LiveServer) -> None:
    call = await _call(text_server, ["ik wil een medewerker"])
    assert call.transfer is not None
    link = sign_link(text_server.base_url, call.transfer.transfer_id, text_server.settings.auth_token, 60)
    async with httpx.AsyncClient() as client:
        page = await client.get(link)
    headers = page.headers
    policy = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "no-referrer"
    nonce = policy.split("'nonce-", 1)[1].split("'", 1)[0]
    # the one style and the one script (the live stream) carry this response's nonce; nothing else may run
    assert f"script-src 'nonce-{nonce}';" in policy and "connect-src 'self'" in policy
    assert f'<style nonce="{nonce}">' in page.text and f'<script nonce="{nonce}">' in page.text
    assert page.text.count("<script") == 1


async def test_a_caller_in_a_shared_queue_hears_their_place_and_the_wait_when_twilio_says(
    text_server: LiveServer,
) -> None:
    simulator = text_server.simulator()
    url = f"{text_server.base_url}/twilio/hold?language=nl"
    params = {**simulator.call_params("CA" + "1" * 32, "in-progress"), "QueuePosition": "3", "AvgQueueTime": "150"}
    async with httpx.AsyncClient(timeout=30) as client:
        response = await simulator.post_signed(client, url, params)
        plays = [p.text or "" for p in ET.fromstring(response.text).findall("Play")]
        assert [p.rsplit("/", 1)[-1] for p in plays] == [
            "position-3.wav",
            "wait-2.wav",
            "hold_still_connected.wav",
            "chime.wav",
        ]
        for play in plays[:2]:
            audio = await client.get(play)
            assert audio.status_code == 200
            pcm, _ = read_wav(audio.content)
            assert rms_dbfs(pcm) > -35.0, "spoken, not silence"
        first = await simulator.post_signed(client, url, {**params, "QueuePosition": "1", "AvgQueueTime": "20"})
        assert "position-" not in first.text and "wait-" not in first.text, "first in line: nothing to say"
        beyond = await client.get(f"{text_server.base_url}/audio/hold/nl/position-51.wav")
        assert beyond.status_code == 404
