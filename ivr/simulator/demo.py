"""The README's first command: a coherent Dutch call against a real local server, printed as a conversation."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from ivr.config import Settings
from ivr.errors import ModelNotFoundError
from ivr.simulator.local import local_server
from ivr.simulator.report import print_call, save_stereo
from ivr.simulator.run import simulate_in_process
from ivr.simulator.turns import CallerTurn, PressTurn, SpeakTurn, speak, text_turn
from ivr.simulator.twilio import SimulatedCall, TwilioSimulator
from ivr.speech.models import resolve_model

DEMO_LINES = [
    "ja goedemiddag ik wil graag weten waar mijn bestelling blijft",
    "vier vijf een twee",
    "kan ik een medewerker spreken",
]


async def run_demo(settings: Settings, *, speed: float, out: Path, console: Console) -> SimulatedCall:
    settings = settings.model_copy(update={"language": "nl"})
    try:
        model = resolve_model(settings)
    except ModelNotFoundError:
        model = None
    console.rule("Warmline demo call")
    if model is not None:
        console.print(f"Dutch speech model: {model}. The caller's speech is recognised by Vosk.")
        turns: list[CallerTurn] = [
            SpeakTurn(audio=speak(DEMO_LINES[0], "nl"), label=DEMO_LINES[0]),
            PressTurn("4512#"),
        ]
        turns.append(SpeakTurn(audio=speak(DEMO_LINES[2], "nl"), label=DEMO_LINES[2]))
        with local_server(settings.model_copy(update={"playback_speed": speed})) as (base_url, live):
            call = await TwilioSimulator(base_url, live.auth_token, speed=speed, api_url=live.twilio_api_url).call(
                turns
            )
    else:
        console.print(
            "No Dutch Vosk model is installed here (`ivr models download nl` fetches it), so the caller's turns are "
            "[bold]text turns[/bold]: the caller's audio is real (espeak-ng) and travels the real Twilio protocol to a "
            "real local server, but recognition is bypassed and returns the scripted sentence."
        )
        turns = [
            text_turn(DEMO_LINES[0], "nl"),
            text_turn(DEMO_LINES[1], "nl"),
            text_turn(DEMO_LINES[2], "nl"),
        ]
        call = await simulate_in_process(settings, turns, speed=speed)
    print_call(call, console)
    console.print(f"[dim]stereo recording (left caller, right Warmline): {save_stereo(call, out)}[/dim]")
    return call
