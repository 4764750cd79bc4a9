"""Agent assist over the real protocol: the transfer TwiML forks both sides of the call to Warmline
(``<Start><Stream track="both_tracks">``), which listens only once a colleague has taken the call, writes each
line redacted to the call, and streams the agent page's live part (lines, mood, suggestions) as server-sent events.

The dialog before the transfer runs on text (scripted); the fork is heard by the real Korean Vosk model, except where
a test scripts the caller's side to check what is done with the words (redaction, suggestions). The browser test
(tests/e2e/test_agent_assist_page.py) measures the whole way to the page with real recognition on both sides.
"""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from ivr.call.record import CallEvent
from ivr.simulator.fork import conversation
from ivr.simulator.local import local_server
from ivr.simulator.scripted import ScriptedRecognizers
from ivr.simulator.turns import text_turn
from ivr.simulator.twilio import AgentBehaviour, SimulatedCall
from ivr.speech.stt import VoskEngine
from ivr.transfer.links import sign_fork, sign_link
from tests.integration.conftest import LiveServer, _settings

#: what the fork carries before a colleague takes the call: the hold announcement, never transcribed
ON_HOLD = [("agent", "U bent nog steeds verbonden, een collega komt eraan.")]
#: the caller's side of the conversation, as the (scripted) recogniser hears it
CALLER_SAYS = ["mijn nummer is 0612345678 bel me terug", "en wanneer zijn jullie eigenlijk open"]


@pytest.fixture(scope="module")
def assist_server(ko_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Warmline whose dialog runs on text and whose agent-assist fork is heard by the real Korean model."""
    tmp = tmp_path_factory.mktemp("assist-server")
    recognizers = ScriptedRecognizers(unscripted=VoskEngine(ko_model_path))
    with local_server(_settings(tmp, language="nl"), recognizers=recognizers) as (url, settings):
        yield LiveServer(url, settings, recognizers)


async def _call(
    server: LiveServer, agent: AgentBehaviour | list[AgentBehaviour], caller_says: list[str] | None = None
) -> SimulatedCall:
    assert server.recognizers is not None
    simulator = server.simulator()
    call_sid = simulator.new_call_sid()
    server.recognizers.script(call_sid, ["ik wil een medewerker"])
    if caller_says is not None:
        server.recognizers.script(f"{call_sid}/caller", caller_says)
    talk = [("agent", "Goedemiddag, waarmee kan ik u helpen?")]
    talk += [("caller", "Ik bel u over iets heel vervelends."), ("caller", "Wanneer zijn jullie open?")]
    fork_talk = await asyncio.to_thread(conversation, talk, "nl", on_hold=ON_HOLD)
    turns = [text_turn("ik wil een medewerker", "nl")]
    return await simulator.call(turns, call_sid=call_sid, agent=agent, offer_reply="1", conversation=fork_talk)


@pytest.fixture(scope="module")
def calls(assist_server: LiveServer) -> dict[str, SimulatedCall]:
    """Both calls at once: one a colleague takes (the caller's side scripted), one nobody takes."""

    async def place() -> list[SimulatedCall]:
        return await asyncio.gather(
            _call(assist_server, "accepts", CALLER_SAYS), _call(assist_server, ["busy", "busy"])
        )

    taken, untaken = asyncio.run(place())
    return {"taken": taken, "untaken": untaken}


def _assist_events(call: SimulatedCall) -> list[CallEvent]:
    assert call.record is not None
    return [e for e in call.record.events if e.kind in ("assist_caller", "assist_agent")]


def _sse(text: str) -> list[tuple[str, object]]:
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_the_fork_starts_before_the_caller_is_put_through_and_copies_both_sides(
    calls: dict[str, SimulatedCall],
) -> None:
    call = calls["taken"]
    twiml = call.after_stream_twiml or ""
    stream = ET.fromstring(twiml).find("Start/Stream")
    assert stream is not None and stream.get("track") == "both_tracks", twiml
    assert twiml.index("<Start>") < twiml.index("<Enqueue"), twiml
    assert stream.get("url", "").endswith("/twilio/assist")
    assert call.fork is not None and call.fork.close_code is not None, "the fork ended with the call"


def test_both_sides_are_written_to_the_call_redacted_and_nothing_of_the_hold(calls: dict[str, SimulatedCall]) -> None:
    call = calls["taken"]
    events = _assist_events(call)
    assert [e.kind for e in events] == ["assist_agent", "assist_caller", "assist_caller"], events
    assert events[0].text.strip(), "the colleague's words, heard by the real model"
    assert events[1].text == "mijn nummer is [PHONE] bel me terug", "redacted before it is kept"
    assert all(e.distress is not None for e in events[1:]), "the caller's lines carry their distress"
    assert call.record is not None and call.transfer is not None
    accepted = next(s.at for s in call.transfer.steps if s.kind == "accepted")
    assert call.record.started + events[0].at > accepted, "the hold announcement on the fork was not transcribed"


async def test_the_agent_page_streams_the_lines_the_mood_and_why_each_suggestion_is_there(
    assist_server: LiveServer, calls: dict[str, SimulatedCall]
) -> None:
    call = calls["taken"]
    assert call.transfer is not None
    link = sign_link(assist_server.base_url, call.transfer.transfer_id, assist_server.settings.auth_token, 60)
    path, query = link.split("?", 1)
    async with httpx.AsyncClient(timeout=30) as client:
        forged = await client.get(f"{path}/live?exp=9999999999&sig=forged")
        live = await client.get(f"{path}/live?{query}")
        resumed = await client.get(f"{path}/live?{query}", headers={"Last-Event-ID": "2"})
        page = await client.get(link)
    assert forged.status_code == 403
    assert live.headers["content-type"].startswith("text/event-stream")
    events = _sse(live.text)
    lines = [data for name, data in events if name == "line"]
    assert [line["speaker"] for line in lines] == ["agent", "caller", "caller"]  # type: ignore[index]
    assert [line["label"] for line in lines] == ["U", "Beller", "Beller"]  # type: ignore[index]
    assert "0612345678" not in live.text and "[PHONE]" in live.text
    suggestions = next(data for name, data in reversed(events) if name == "suggestions")
    assert isinstance(suggestions, list)
    hours = next(s for s in suggestions if s["kind"] == "opening_hours")
    assert "open" in hours["text"].lower() and "wanneer zijn jullie eigenlijk open" in hours["why"], hours
    mood = next(data for name, data in events if name == "mood")
    assert isinstance(mood, dict) and mood["label"] in ("rustig", "gespannen", "erg van streek")
    assert events[-1][0] == "ended", "the call is over: the stream says so and ends"
    assert [data["n"] for name, data in _sse(resumed.text) if name == "line"] == [3]  # type: ignore[index]
    # the page itself shows the same, for a colleague who opens it late
    assert page.status_code == 200 and "[PHONE]" in page.text and 'data-kind="opening_hours"' in page.text


def test_a_fork_nobody_took_is_stopped_by_the_offer_and_transcribes_nothing(calls: dict[str, SimulatedCall]) -> None:
    call = calls["untaken"]
    assert call.queue_result == "leave" and call.fork is not None
    stop = ET.fromstring(call.dial_result_twiml or "").find("Stop/Stream")
    assert stop is not None and stop.get("name", "").startswith("assist-"), call.dial_result_twiml
    assert call.fork.stopped_by_twiml
    assert _assist_events(call) == [], "the hold audio on the fork is never transcribed"


async def test_a_fork_needs_twilios_signature_and_our_signature_for_its_own_call(
    assist_server: LiveServer, calls: dict[str, SimulatedCall]
) -> None:
    call = calls["untaken"]
    assert call.transfer is not None
    simulator = assist_server.simulator()
    url = assist_server.settings.assist_stream_url
    forged = {"transfer": call.transfer.transfer_id, "exp": "9999999999", "sig": "forged"}
    genuine = sign_fork(call.transfer.transfer_id, assist_server.settings.auth_token, 60)

    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(url):
            pass
    for parameters, call_sid in ((forged, call.call_sid), (genuine, "CA" + "0" * 32)):
        start = {"streamSid": "MZ1", "callSid": call_sid, "tracks": ["inbound", "outbound"]}
        frame = {"event": "start", "streamSid": "MZ1", "start": {**start, "customParameters": parameters}}
        async with websockets.connect(url, additional_headers=simulator.handshake_headers(url)) as ws:
            await ws.send(json.dumps(frame))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                async with asyncio.timeout(5):
                    while True:
                        await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
