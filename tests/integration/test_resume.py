"""A call survives losing its media stream: the dialog resumes where it was, once; a second loss goes to a person."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ivr.simulator.local import local_server
from ivr.simulator.scripted import ScriptedRecognizers
from ivr.simulator.turns import CallerTurn, DropTurn, text_turn
from ivr.simulator.twilio import SimulatedCall, TwilioSimulator
from tests.integration.conftest import SPEED, _settings


async def _call(tmp_path: Path, said: list[str], turns: list[CallerTurn]) -> SimulatedCall:
    """One simulated call to a fresh text-turn server; the recogniser hears ``said``, in order."""
    recognizers = ScriptedRecognizers()
    with local_server(_settings(tmp_path, language="nl"), recognizers=recognizers) as (base, live):
        simulator = TwilioSimulator(base, live.auth_token, speed=SPEED, timeout_s=90)
        call_sid = simulator.new_call_sid()
        recognizers.script(call_sid, said)
        return await asyncio.wait_for(simulator.call(turns, call_sid=call_sid), 90)


async def test_a_lost_stream_resumes_the_dialog_at_the_same_step_with_the_same_failures(tmp_path: Path) -> None:
    said = ["waar blijft mijn bestelling", "geen idee", "ik weet het echt niet"]
    # Asked for the order number, the caller fails once; then the media stream breaks.
    turns: list[CallerTurn] = [text_turn(said[0], "nl"), text_turn(said[1], "nl"), DropTurn()]
    turns.append(text_turn(said[2], "nl"))
    call = await _call(tmp_path, said, turns)

    assert call.streams == 2, "Twilio was sent a new stream, not a person, on the first loss"
    assert call.record is not None
    events = call.record.events
    actions = [e.text for e in events if e.kind == "action"]
    assert "resumed" in actions
    resumed_at = next(i for i, e in enumerate(events) if e.kind == "action" and e.text == "resumed")
    after = [e for e in events[resumed_at:] if e.kind == "prompt"]
    # One short apology, the question of that moment again — no new greeting, no starting over.
    assert [e.key for e in after[:2]] == ["resumed", "ask_order_number"]
    assert "greeting" not in [e.key for e in after]
    # The failure count travelled: one more miss is the second in a row, and a person takes over (the promise).
    callers = [e for e in events if e.kind == "caller"]
    assert [e.text for e in callers] == said, "the transcript was kept across the two streams"
    assert call.dial_target() is not None
    assert call.transfer is not None
    assert "repeated_failure" in (call.transfer.rule, call.transfer.reason), call.transfer


async def test_a_second_lost_stream_goes_to_a_person_with_what_was_said_so_far(tmp_path: Path) -> None:
    turns: list[CallerTurn] = [text_turn("waar blijft mijn bestelling", "nl"), DropTurn(), DropTurn()]
    call = await _call(tmp_path, ["waar blijft mijn bestelling"], turns)

    assert call.streams == 2, "resumed once, not twice"
    assert call.dial_target() is not None, "the second loss put the caller through to a person: never dropped"
    assert call.record is not None
    assert [e.text for e in call.record.events if e.kind == "caller"] == ["waar blijft mijn bestelling"]
