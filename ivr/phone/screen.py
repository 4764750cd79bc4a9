"""The phone's screen: the conversation as Warmline records it, the signals as they change, a microphone meter.

A terminal gets a live ``rich`` view that redraws in place; anything else (a pipe, a log) gets each new line once.
"""

from __future__ import annotations

import math

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ivr.call.record import CallEvent, TransferRecord
from ivr.phone.call import PhoneState

_WHO = {"prompt": "Warmline", "caller": "You", "dtmf": "You", "barge_in": "", "no_input": "", "error": "", "action": ""}


def event_line(event: CallEvent) -> Text:
    """One line of the conversation with what Warmline made of it."""
    if event.kind == "prompt":
        return Text.assemble(("Warmline  ", "bold green"), event.text)
    if event.kind == "caller":
        said = event.text or "(nothing recognised)"
        facts = []
        if event.confidence is not None:
            facts.append(f"heard with {event.confidence:.0%} confidence")
        if event.intent:
            facts.append(f"intent {event.intent}")
        if event.detail:
            facts.append(event.detail.replace("_", " "))
        return Text.assemble(("You       ", "bold cyan"), said, (f"   [{', '.join(facts)}]" if facts else "", "dim"))
    if event.kind == "dtmf":
        return Text.assemble(("You       ", "bold cyan"), f"pressed {event.text}")
    return Text(f"          ({event.kind.replace('_', ' ')}{': ' + event.detail if event.detail else ''})", "dim")


def meter(level: float, width: int = 24) -> str:
    """A microphone level bar from -60 to 0 dBFS."""
    db = 20 * math.log10(max(level, 1.0) / 32768)
    filled = int(width * min(max((db + 60) / 60, 0.0), 1.0))
    return "█" * filled + "·" * (width - filled) + f" {db:5.0f} dBFS"


def render(state: PhoneState) -> Group:
    record = state.record
    events = record.events if record is not None else []
    conversation = Table.grid(padding=(0, 1))
    for event in events[-14:]:
        conversation.add_row(event_line(event))
    last = next((e for e in reversed(events) if e.kind == "caller"), None)
    signals = "waiting for you to speak"
    if last is not None:
        recognition = last.recognition if last.recognition is not None else 1.0
        distress = last.distress if last.distress is not None else 0.0
        signals = f"intent {last.intent or 'unknown'} · recognition {recognition:.2f} · distress {distress:.2f}"
    footer = f"mic {meter(state.mic_level)}   {signals}"
    if state.ended:
        footer = f"call ended: {state.ended}"
    return Group(
        Panel(conversation, title=f"Warmline · {state.call_sid[:14]}…", subtitle="digits: keypad · q: hang up"),
        Text(footer, style="dim" if not state.ended else "bold"),
    )


def transfer_lines(transfer: TransferRecord | None) -> list[str]:
    """What happened at the end, for the last lines on screen."""
    if transfer is None:
        return []
    return [
        f"to {transfer.target_name} — rule {transfer.rule}: {transfer.reason}",
        f"the colleague hears: {transfer.summary}",
    ]


class PlainLog:
    """Without a terminal: print each new conversation line once."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._shown = 0

    def update(self, state: PhoneState) -> None:
        events = state.record.events if state.record is not None else []
        for event in events[self._shown :]:
            self._console.print(event_line(event))
        self._shown = len(events)
