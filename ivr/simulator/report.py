"""Printing a simulated call as a readable conversation."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from ivr.audio.codec import TELEPHONE_RATE, write_wav
from ivr.simulator.twilio import SimulatedCall


def print_call(call: SimulatedCall, console: Console | None = None) -> None:
    console = console or Console()
    console.print(f"[bold]Call {call.call_sid}[/bold]")
    if call.record is None:
        console.print("[red]no call log available from the server[/red]")
    else:
        for event in call.record.events:
            stamp = f"[dim]{event.at:6.2f}s[/dim]"
            if event.kind == "prompt":
                console.print(f"{stamp} [cyan]Warmline[/cyan]  {event.text}")
            elif event.kind == "caller":
                conf = f"{event.confidence:.2f}" if event.confidence is not None else "–"
                said = event.text or "(nothing recognised)"
                note = f", {event.detail}" if event.detail else ""
                details = f"confidence {conf}, intent {event.intent}{note}"
                console.print(f"{stamp} [green]Caller[/green]    {said}  [dim]({details})[/dim]")
            elif event.kind == "dtmf":
                console.print(f"{stamp} [green]Caller[/green]    presses {event.text}")
            elif event.kind == "no_input":
                console.print(f"{stamp} [green]Caller[/green]    (silence)")
            elif event.kind == "barge_in":
                console.print(f"{stamp} [yellow]barge-in[/yellow] caller spoke over the prompt; prompt cleared")
            elif event.kind == "action":
                console.print(f"{stamp} [magenta]Action[/magenta]    {event.text} ({event.detail.strip()})")
            elif event.kind == "error":
                console.print(f"{stamp} [red]Error[/red]     {event.text}")
    if call.hung_up:
        console.print("[dim]The caller hung up.[/dim]")
    elif call.after_stream_twiml is not None:
        target = call.dial_target()
        ending = f"transferred to {target}" if target else "ended: " + call.after_stream_twiml.strip()
        console.print(f"[bold]After the stream[/bold]: {ending}")
        if call.transfer is not None and call.transfer.steps:
            steps = " → ".join(f"{step.kind} ({step.target_name})" for step in call.transfer.steps)
            console.print(f"[bold]Reaching a person[/bold]: {steps}")
        silence = call.longest_transfer_silence()
        if silence is not None:
            console.print(f"[dim]longest silence the caller heard during the transfer: {silence:.1f} s[/dim]")


def save_stereo(call: SimulatedCall, path: Path) -> Path:
    write_wav(path, call.stereo(), TELEPHONE_RATE, channels=2)
    return path
