"""``ivr phone`` against a real server with the real Korean model, through the audio device double (content checks:
what was played and when) — greeting heard, speech answered, barge-in, the echo gate, keypad 0, a clean hang-up."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from ivr.audio.codec import resample, rms_dbfs
from ivr.phone.audio import MemoryDevice, Utterance
from ivr.phone.call import PhoneCall
from ivr.simulator.turns import speak
from ivr.simulator.twilio import SimulatedCall, TwilioSimulator
from tests.integration.conftest import LiveServer

RATE = 16_000  # the device's own rate: everything is resampled to and from 8 kHz


def _said(text: str) -> np.ndarray:
    return resample(speak(text, "nl"), 8000, RATE)


async def _call(
    server: LiveServer, device: MemoryDevice, keys: list[tuple[float, str]], headset: bool = True
) -> tuple[SimulatedCall, PhoneCall]:
    phone = PhoneCall(TwilioSimulator(server.base_url, server.settings.auth_token), device, headset=headset)
    queue: asyncio.Queue[str] = asyncio.Queue()

    async def press() -> None:
        for at_s, key in keys:
            await asyncio.sleep(at_s)
            queue.put_nowait(key)

    presser = asyncio.create_task(press())
    try:
        result = await asyncio.wait_for(phone.run(queue), 120)
    finally:
        presser.cancel()
    return result, phone


def _first_sound_after(device: MemoryDevice, moment: float) -> float | None:
    for at, pcm in device.played:
        if at > moment and pcm.size and rms_dbfs(pcm) > -45:
            return at
    return None


async def _idle(server: LiveServer) -> dict[str, object]:
    for _ in range(100):
        health = server.health()
        if health["active_calls"] == 0 and health["live_recognizers"] == 0:
            return health
        await asyncio.sleep(0.1)
    return server.health()


@pytest.mark.model
async def test_a_phone_call_hears_the_greeting_is_answered_and_0_reaches_a_person(vosk_server: LiveServer) -> None:
    sentence = _said("goedemiddag ik bel over mijn bestelling die nog niet is aangekomen")
    device = MemoryDevice(RATE, script=[Utterance(7.0, sentence)])
    result, phone = await _call(vosk_server, device, [(16.0, "0")])

    greeting = device.heard()[: RATE * 4]
    assert rms_dbfs(greeting) > -40, "the greeting reached the speaker"
    assert result.record is not None
    caller = [e for e in result.record.events if e.kind == "caller"]
    assert caller, "the spoken sentence reached the recogniser"
    answered = [e for e in result.record.events if e.kind == "prompt" and e.at > caller[0].at]
    assert answered, "Warmline answered it"
    voiced = np.flatnonzero(np.abs(sentence) > 500)
    spoken_end = 7.0 + (voiced[-1] + 1) / RATE  # the last audible sample, not the WAV's trailing silence
    first = _first_sound_after(device, spoken_end)
    assert first is not None
    endpoint = vosk_server.settings.endpoint_silence_ms
    print(f"mouth-to-ear (last audible sample said → first answer sample played): {(first - spoken_end) * 1000:.0f} ms")
    print(f"  (includes the server's {endpoint} ms end-of-turn silence and the device's 10 ms blocks)")
    assert result.dial_target() is not None, "keypad 0 ends with a person"
    assert phone.state.ended.startswith("transferred to")
    health = await _idle(vosk_server)
    assert health["active_calls"] == 0 and health["live_recognizers"] == 0
    assert not [t for t in threading.enumerate() if t.name == "memory-device"], "no audio thread left behind"


@pytest.mark.model
async def test_talking_over_a_prompt_stops_playback_within_100_ms(vosk_server: LiveServer) -> None:
    device = MemoryDevice(
        RATE, script=[Utterance(2.0, _said("hallo hallo ik wil graag iemand spreken over mijn rekening"))]
    )
    result, _ = await _call(vosk_server, device, [(9.0, "q")])
    assert device.cleared_at, "the server's clear reached the device"
    cleared = device.cleared_at[0]
    after = [(at, pcm) for at, pcm in device.played if at > cleared][:10]  # the next 100 ms
    assert after and all(np.abs(pcm).max() == 0 for _, pcm in after), "silence at once after the clear"
    assert result.hung_up


@pytest.mark.model
@pytest.mark.parametrize(("headset", "interrupts"), [(False, False), (True, True)])
async def test_the_echo_gate_keeps_the_prompt_from_interrupting_itself_on_speakers(
    vosk_server: LiveServer, headset: bool, interrupts: bool
) -> None:
    device = MemoryDevice(RATE, echo=0.7)  # speakers next to the microphone, nobody talking
    result, _ = await _call(vosk_server, device, [(5.0, "q")], headset=headset)
    assert result.record is not None
    barged = any(e.kind == "barge_in" for e in result.record.events)
    assert barged == interrupts, f"headset={headset}: barge-in {barged}"


@pytest.mark.model
async def test_q_hangs_up_and_leaves_nothing_behind(vosk_server: LiveServer) -> None:
    device = MemoryDevice(RATE)
    result, phone = await _call(vosk_server, device, [(1.5, "q")])
    assert result.hung_up and phone.state.ended == "you hung up"
    health = await _idle(vosk_server)
    assert health["active_calls"] == 0 and health["live_recognizers"] == 0
    assert not [t for t in threading.enumerate() if t.name == "memory-device"]
