"""A simulated caller's script: what they say, press, or do, turn by turn."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ivr.audio.codec import TELEPHONE_RATE, Pcm, read_wav, resample
from ivr.errors import AudioFormatError


@dataclass(frozen=True)
class SpeakTurn:
    """The caller speaks ``audio`` (8 kHz PCM16). ``text`` is what they mean — used only by text-turn simulations.

    ``barge_in_ms``: start talking this long after the bot's next prompt starts, instead of waiting for it to end.
    """

    audio: Pcm
    text: str | None = None
    label: str = ""
    barge_in_ms: int | None = None


@dataclass(frozen=True)
class PressTurn:
    """The caller types on the keypad (DTMF), e.g. '0' or '4512#'."""

    digits: str


@dataclass(frozen=True)
class SilenceTurn:
    """The caller says nothing for ``seconds`` (line time) — or until ``until`` is set, if sooner: a test's cue,
    e.g. "keep thinking until every instance has been restarted"."""

    seconds: float
    until: asyncio.Event | None = None


@dataclass(frozen=True)
class HangupTurn:
    """The caller hangs up ``after_ms`` into the bot's next prompt."""

    after_ms: int = 0


@dataclass(frozen=True)
class DropTurn:
    """The media stream breaks once the bot's next prompt has started (the network, or the host of the server
    died): the socket closes without a ``stop`` and the call itself goes on, so Twilio asks the ``<Connect action>``
    URL what happens next."""


CallerTurn = SpeakTurn | PressTurn | SilenceTurn | HangupTurn | DropTurn

#: espeak-ng voices for callers: deliberately not the bot's voice, so the stereo recording is easy to follow
CALLER_VOICES = {"nl": "nl+f3", "en": "en-gb+f3"}


def load_audio_turn(path: Path, barge_in_ms: int | None = None) -> SpeakTurn:
    if not path.is_file():
        raise AudioFormatError(f"--audio {path}: no such file (a WAV recording of the caller)")
    samples, rate = read_wav(path)
    return SpeakTurn(audio=resample(samples, rate, TELEPHONE_RATE), label=path.name, barge_in_ms=barge_in_ms)


def speak(text: str, language: str, *, rate: int = 150, pitch: int = 50, amplitude: int = 100) -> Pcm:
    """Render a caller's sentence with espeak-ng (real speech audio, 8 kHz) — the simulated caller's voice."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise AudioFormatError("espeak-ng is not installed (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "caller.wav"
        voice = CALLER_VOICES.get(language, language)
        subprocess.run(
            [
                binary,
                "-v",
                voice,
                "-s",
                str(rate),
                "-p",
                str(pitch),
                "-a",
                str(amplitude),
                "-w",
                str(out),
                text,
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        samples, sample_rate = read_wav(out)
    return resample(samples, sample_rate, TELEPHONE_RATE)


def text_turn(text: str, language: str, barge_in_ms: int | None = None) -> SpeakTurn:
    """A spoken turn whose recognition result is fixed to ``text`` in text-turn simulations."""
    return SpeakTurn(audio=speak(text, language), text=text, label=text, barge_in_ms=barge_in_ms)


def silence(seconds: float) -> Pcm:
    return np.zeros(int(seconds * TELEPHONE_RATE), dtype=np.int16)
