"""``ivr phone``: call Warmline from a headset, or type with ``--text`` — against a local server or a running one.

Without ``--url`` a server starts in this process with the embedded defaults and the model from the settings (with
``--text``: a recogniser that takes the typed sentence, as ``ivr simulate --text`` does). Keys typed in the terminal
are the keypad; ``q`` or Ctrl+C hangs up, which ends the stream with ``stop`` as Twilio does, closes the audio
streams and lets the server finish the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.live import Live

from ivr.audio.codec import Pcm
from ivr.config import Settings
from ivr.phone.audio import AudioDevice, AudioDeviceError, MemoryDevice, SoundDevice
from ivr.phone.call import PhoneCall, PhoneState
from ivr.phone.screen import PlainLog, render, transfer_lines
from ivr.simulator.local import local_server
from ivr.simulator.report import save_stereo
from ivr.simulator.scripted import ScriptedRecognizers
from ivr.simulator.turns import speak
from ivr.simulator.twilio import SimulatedCall, TwilioSimulator
from ivr.speech.models import resolve_model

KEYPAD = set("0123456789*#")


@contextlib.contextmanager
def _server(
    settings: Settings, url: str | None, text: bool
) -> Iterator[tuple[str, Settings, ScriptedRecognizers | None]]:
    if url is not None:
        yield url, settings, None
        return
    recognizers = ScriptedRecognizers() if text else None
    if recognizers is None:
        resolve_model(settings)  # a missing model is one line, before anything starts
    with local_server(settings, recognizers=recognizers) as (base, live):
        yield base, live, recognizers


@contextlib.contextmanager
def _cbreak(stream: object) -> Iterator[bool]:
    """Single keys from a terminal (no Enter); restored on the way out. False when stdin is no terminal."""
    fileno = getattr(stream, "fileno", None)
    if fileno is None or not os.isatty(fileno()):
        yield False
        return
    import termios
    import tty

    fd = fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield True
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _read_keys(
    loop: asyncio.AbstractEventLoop, keys: asyncio.Queue[str], lines: asyncio.Queue[str], single: bool
) -> None:
    """On a thread: keys (or whole lines, without a terminal or in text mode) from stdin to the event loop."""
    while True:
        chunk = sys.stdin.read(1) if single else sys.stdin.readline()
        if not chunk:
            loop.call_soon_threadsafe(keys.put_nowait, "q")
            return
        target = keys if single else lines
        loop.call_soon_threadsafe(target.put_nowait, chunk if single else chunk.rstrip("\n"))


async def _route_lines(
    lines: asyncio.Queue[str],
    keys: asyncio.Queue[str],
    speech: asyncio.Queue[Pcm] | None,
    state: PhoneState,
    recognizers: ScriptedRecognizers | None,
    language: str,
) -> None:
    """Typed lines: keypad characters and q go to the keypad; in text mode anything else is said."""
    while True:
        line = (await lines.get()).strip()
        if not line:
            continue
        if line.lower() == "q" or all(ch in KEYPAD for ch in line):
            for ch in line:
                keys.put_nowait(ch)
            continue
        if speech is not None and recognizers is not None:
            recognizers.script(state.call_sid, [line])
            speech.put_nowait(await asyncio.to_thread(speak, line, language))


def open_device(text: bool, input_device: str | None, output_device: str | None) -> AudioDevice:
    """The headset; in text mode the speaker if there is one, else a silent stand-in."""

    def pick(value: str | None) -> int | str | None:
        return int(value) if value is not None and value.isdigit() else value

    if not text:
        return SoundDevice(pick(input_device), pick(output_device))
    try:
        device = SoundDevice(None, pick(output_device), need_input=False)
    except AudioDeviceError:
        return MemoryDevice(keep=False)  # no speaker either: the conversation is on screen
    return device


async def run_phone(
    settings: Settings,
    *,
    url: str | None,
    text: bool,
    headset: bool,
    device: AudioDevice,
    console: Console,
    record: Path | None = None,
) -> SimulatedCall:
    with _server(settings, url, text) as (base, live, recognizers):
        loop = asyncio.get_running_loop()
        keys: asyncio.Queue[str] = asyncio.Queue()
        lines: asyncio.Queue[str] = asyncio.Queue()
        speech: asyncio.Queue[Pcm] | None = asyncio.Queue() if text else None
        view = Live(console=console, auto_refresh=False, transient=False) if console.is_terminal else None
        plain = PlainLog(console) if view is None else None

        def changed(state: PhoneState) -> None:
            if view is not None:
                view.update(render(state), refresh=True)
            elif plain is not None:
                plain.update(state)

        call = PhoneCall(TwilioSimulator(base, live.auth_token), device, headset=headset, on_change=changed)
        how = "type what you would say" if text else "speak"
        console.print(f"[dim]Calling Warmline: {how}; digits are the keypad; q hangs up[/dim]")
        with _cbreak(sys.stdin) as single:
            threading.Thread(target=_read_keys, args=(loop, keys, lines, single and not text), daemon=True).start()
            router = asyncio.create_task(_route_lines(lines, keys, speech, call.state, recognizers, live.language))
            try:
                if view is not None:
                    with view:
                        result = await call.run(keys, speech)
                else:
                    result = await call.run(keys, speech)
            finally:
                router.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await router
    console.print(f"[bold]Call ended:[/bold] {call.state.ended}")
    for line in transfer_lines(result.transfer):
        console.print(f"  {line}")
    if record is not None:
        console.print(f"[dim]stereo recording (left you, right Warmline): {save_stereo(result, record)}[/dim]")
    return result
