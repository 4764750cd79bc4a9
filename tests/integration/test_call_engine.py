"""Whole calls over the real Twilio protocol against a real server with the real Vosk model."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from ivr.audio.codec import rms_dbfs
from ivr.simulator.turns import HangupTurn, PressTurn, SpeakTurn, speak
from tests.integration.conftest import LiveServer


def _kinds(call_events: list[object]) -> list[str]:
    return [e.kind for e in call_events]  # type: ignore[attr-defined]


async def test_greeting_arrives_as_speech_with_a_mark_and_keypad_zero_dials_a_person(
    vosk_server: LiveServer,
) -> None:
    call = await vosk_server.simulator().call([PressTurn("0")])

    greeting = call.outbound_pcm
    voiced = greeting[np.abs(greeting) > 500]
    assert call.media_frames_received > 100
    assert rms_dbfs(greeting) > -40, "the greeting must be audible speech, not silence"
    assert len(voiced) > 8000, "at least a second of voiced audio"
    assert call.marks and call.marks[0].endswith(":greeting")
    assert call.first_prompt_after_s is not None and call.first_prompt_after_s < 1.0
    assert call.dial_target() == vosk_server.people_number()
    assert call.record is not None
    assert call.record.outcome is not None and call.record.outcome.reason == "keypad_zero"


async def test_dutch_speech_the_model_cannot_understand_is_reprompted_then_goes_to_a_person(
    vosk_server: LiveServer,
) -> None:
    mumble = speak("ja euh ik bel eigenlijk over dat ding van vorige week weet u wel", "nl")
    call = await vosk_server.simulator().call([SpeakTurn(mumble), SpeakTurn(mumble)])

    assert call.record is not None
    caller_turns = [e for e in call.record.events if e.kind == "caller"]
    prompts = [e.key for e in call.record.events if e.kind == "prompt"]
    assert len(caller_turns) == 2
    assert all(t.detail in {"low_confidence", "not_understood"} for t in caller_turns), caller_turns
    assert len(prompts) == 3, prompts  # greeting, one reprompt, the kind transfer announcement
    assert call.dial_target() == vosk_server.people_number()
    assert call.record.outcome is not None
    assert call.record.outcome.reason in {"low_confidence", "repeated_failure"}


async def test_a_prompt_is_cleared_when_the_caller_speaks_over_it(vosk_server: LiveServer) -> None:
    words = speak("hallo hallo ik wil iets vragen", "nl")
    call = await vosk_server.simulator().call([SpeakTurn(words, barge_in_ms=1500), PressTurn("0")])

    assert call.clears >= 1
    assert call.record is not None
    assert "barge_in" in _kinds(call.record.events)
    # the greeting was cut short: its end-of-prompt mark was never sent, so the caller never heard it to the end
    assert not any(m.endswith(":greeting") for m in call.marks), call.marks
    prompts = [e.key for e in call.record.events if e.kind == "prompt"]
    assert prompts[0] == "greeting" and len(prompts) >= 2, "after the barge-in Warmline answered the caller"
    assert call.dial_target() is not None


async def test_hanging_up_mid_prompt_leaves_no_task_or_recogniser_behind(vosk_server: LiveServer) -> None:
    before = vosk_server.health()
    call = await vosk_server.simulator().call([HangupTurn(after_ms=800)])
    assert call.hung_up

    deadline = time.monotonic() + 10
    health = vosk_server.health()
    while time.monotonic() < deadline:
        health = vosk_server.health()
        if health["active_calls"] == 0 and health["live_recognizers"] == 0 and health["tasks"] <= before["tasks"]:
            break
        await asyncio.sleep(0.1)
    assert health["active_calls"] == 0
    assert health["live_recognizers"] == 0
    assert health["tasks"] <= before["tasks"], (before, health)
