"""``ivr simulate``: one call against a server at a URL, or against an in-process one for text turns."""

from __future__ import annotations

from pathlib import Path

import httpx
from rich.console import Console

from ivr.config import Settings
from ivr.errors import IvrError
from ivr.simulator.local import local_api, local_server
from ivr.simulator.report import print_call, save_stereo
from ivr.simulator.scripted import ScriptedRecognizers
from ivr.simulator.turns import CallerTurn, SpeakTurn
from ivr.simulator.twilio import SimulatedCall, TwilioSimulator


async def run_simulation(
    settings: Settings,
    turns: list[CallerTurn],
    *,
    url: str | None,
    speed: float,
    out: Path | None,
    console: Console,
) -> SimulatedCall:
    text_turns = [t.text for t in turns if isinstance(t, SpeakTurn) and t.text is not None]
    if url is not None:
        if text_turns:
            raise IvrError("--text turns bypass recognition and need the in-process server: drop --url")
        try:
            call = await TwilioSimulator(url, settings.auth_token, speed=speed, api_url=local_api(settings)).call(turns)
        except httpx.TransportError as exc:
            raise IvrError(
                f"no Warmline answers at {url} ({exc or type(exc).__name__}): start it with `ivr serve`, or check --url"
            ) from exc
    else:
        call = await simulate_in_process(settings, turns, speed=speed)
    print_call(call, console)
    if out is not None:
        console.print(f"[dim]stereo recording (left caller, right Warmline): {save_stereo(call, out)}[/dim]")
    return call


async def simulate_in_process(settings: Settings, turns: list[CallerTurn], *, speed: float) -> SimulatedCall:
    """Text turns: a real local server whose recogniser returns the scripted sentences."""
    recognizers = ScriptedRecognizers()
    simulator_settings = settings.model_copy(update={"playback_speed": speed})
    with local_server(simulator_settings, recognizers=recognizers) as (base_url, live):
        simulator = TwilioSimulator(base_url, live.auth_token, speed=speed, api_url=live.twilio_api_url)
        call_sid = simulator.new_call_sid()
        recognizers.script(call_sid, [t.text or "" for t in turns if isinstance(t, SpeakTurn)])
        return await simulator.call(turns, call_sid=call_sid)
