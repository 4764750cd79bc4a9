"""The endpointer on real espeak-ng speech sent down the telephone path (8 kHz μ-law and back)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.audio.codec import FRAME_BYTES, Pcm, read_wav, rms_dbfs, to_telephone_ulaw, ulaw_decode
from ivr.speech.vad import Endpointer, SpeechEnded, SpeechStarted, VadEvent

RATE = 8000
FRAME = FRAME_BYTES  # 160 samples = 20 ms at 8 kHz
LEAD_MS = 1000
TAIL_MS = 1500

SENTENCES = {
    "long": "Goedemiddag, ik bel over mijn bestelling van vorige week. Die is nog steeds niet geleverd.",
    "short": "Ja",
    "stop_consonant_onset": "Ik wil graag een medewerker spreken",
}


def telephone(samples: Pcm, rate: int) -> Pcm:
    """What reaches us from Twilio: 8 kHz μ-law, decoded back to PCM16."""
    return ulaw_decode(to_telephone_ulaw(samples, rate))


def hiss(dbfs: float, n: int, seed: int = 7) -> Pcm:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0.0, 32768 * 10 ** (dbfs / 20), n), -32768, 32767).astype(np.int16)


def silence(ms: int) -> Pcm:
    return np.zeros(RATE * ms // 1000, dtype=np.int16)


def speech_span_ms(speech: Pcm) -> tuple[float, float]:
    """Onset and offset of the clean rendering: first and last 10 ms louder than −45 dBFS."""
    levels = np.array([rms_dbfs(speech[i : i + 80]) for i in range(0, len(speech) - 79, 80)])
    loud = np.flatnonzero(levels > -45)
    return float(loud[0] * 10), float((loud[-1] + 1) * 10)


def run(endpointer: Endpointer, audio: Pcm) -> list[tuple[float, VadEvent]]:
    """Feed 20 ms frames; each event with the stream time (ms) at the end of the frame that produced it."""
    events: list[tuple[float, VadEvent]] = []
    for i in range(0, len(audio) - FRAME + 1, FRAME):
        event = endpointer.feed(audio[i : i + FRAME])
        if event is not None:
            events.append(((i + FRAME) * 1000 / RATE, event))
    return events


@pytest.fixture(scope="module")
def espeak(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Pcm]:
    """Dutch espeak-ng speech at 8 kHz (not yet μ-law), rendered once per sentence."""
    cache: dict[str, Pcm] = {}
    folder = tmp_path_factory.mktemp("espeak")

    def render(key: str) -> Pcm:
        if key not in cache:
            wav = folder / f"{key}.wav"
            subprocess.run(["espeak-ng", "-v", "nl", "-w", str(wav), SENTENCES[key]], check=True)
            samples, rate = read_wav(Path(wav))
            cache[key] = telephone(samples, rate)
        return cache[key]

    return render


def call_audio(speech: Pcm, noise_dbfs: float | None) -> Pcm:
    clean = np.concatenate([silence(LEAD_MS), speech, silence(TAIL_MS)])
    if noise_dbfs is None:
        return telephone(clean, RATE)
    noisy = clean.astype(np.int32) + hiss(noise_dbfs, len(clean))
    return telephone(np.clip(noisy, -32768, 32767).astype(np.int16), RATE)


@pytest.mark.parametrize("noise_dbfs", [None, -60.0, -50.0, -45.0])
@pytest.mark.parametrize("sentence", list(SENTENCES))
def test_speech_is_detected_soon_after_onset_and_ends_one_trailing_silence_after_offset(
    espeak: Callable[[str], Pcm], sentence: str, noise_dbfs: float | None
) -> None:
    speech = espeak(sentence)
    onset, offset = speech_span_ms(speech)
    onset, offset = onset + LEAD_MS, offset + LEAD_MS

    events = run(Endpointer(trailing_silence_ms=700), call_audio(speech, noise_dbfs))

    assert [type(e) for _, e in events] == [SpeechStarted, SpeechEnded], events
    (started_at, _), (ended_at, ended) = events
    assert 0 <= started_at - onset <= 150
    assert abs(ended_at - (offset + 700)) <= 100
    assert isinstance(ended, SpeechEnded)
    assert abs(ended.speech_ms - (offset - onset)) <= 150


@pytest.mark.parametrize("trailing_ms", [300, 700, 1200])
def test_turn_ends_after_the_configured_trailing_silence(espeak: Callable[[str], Pcm], trailing_ms: int) -> None:
    speech = espeak("short")
    _, offset = speech_span_ms(speech)

    events = run(Endpointer(trailing_silence_ms=trailing_ms), call_audio(speech, -55.0))

    ended_at, ended = events[-1]
    assert isinstance(ended, SpeechEnded)
    assert abs(ended_at - (LEAD_MS + offset + trailing_ms)) <= 100


def test_digital_and_mulaw_silence_never_trigger() -> None:
    endpointer = Endpointer()
    assert run(endpointer, silence(5000)) == []
    assert run(endpointer, telephone(silence(5000), RATE)) == []
    assert not endpointer.in_speech


@pytest.mark.parametrize("noise_dbfs", [-70.0, -60.0, -50.0, -45.0, -40.0])
def test_steady_line_noise_never_triggers(noise_dbfs: float) -> None:
    endpointer = Endpointer()
    assert run(endpointer, telephone(hiss(noise_dbfs, RATE * 8), RATE)) == []


def test_a_click_is_not_speech() -> None:
    audio = telephone(silence(1000), RATE).copy()
    rng = np.random.default_rng(3)
    audio[4000:4240] = rng.integers(-20000, 20000, 240)  # a 30 ms pop on the line

    assert run(Endpointer(), audio) == []


def test_a_long_pause_splits_two_sentences_into_two_turns(espeak: Callable[[str], Pcm]) -> None:
    speech = espeak("short")
    audio = telephone(np.concatenate([silence(500), speech, silence(1500), speech, silence(1000)]), RATE)

    events = [type(e) for _, e in run(Endpointer(trailing_silence_ms=700), audio)]

    assert events == [SpeechStarted, SpeechEnded, SpeechStarted, SpeechEnded]


def test_is_voiced_tells_speech_from_line_noise_for_barge_in(espeak: Callable[[str], Pcm]) -> None:
    endpointer = Endpointer()
    run(endpointer, telephone(hiss(-50.0, RATE), RATE))  # a second of line noise sets the floor
    floor = endpointer.noise_floor_dbfs
    speech = telephone(espeak("long"), RATE)
    loudest = max(range(0, len(speech) - FRAME, FRAME), key=lambda i: rms_dbfs(speech[i : i + FRAME]))

    assert endpointer.is_voiced(speech[loudest : loudest + FRAME])
    assert not endpointer.is_voiced(telephone(hiss(-50.0, FRAME, seed=99), RATE))
    assert endpointer.noise_floor_dbfs == floor  # asking changes nothing


def test_reset_forgets_speech_in_progress_but_keeps_the_noise_floor(espeak: Callable[[str], Pcm]) -> None:
    endpointer = Endpointer()
    run(endpointer, telephone(hiss(-50.0, RATE), RATE))
    speech = telephone(espeak("long"), RATE)
    run(endpointer, speech[: RATE // 2])
    assert endpointer.in_speech
    floor = endpointer.noise_floor_dbfs

    endpointer.reset()

    assert not endpointer.in_speech
    assert endpointer.noise_floor_dbfs == floor
    assert run(endpointer, telephone(hiss(-50.0, RATE * 2), RATE)) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=-96.0, max_value=0.0, allow_nan=False), min_size=1, max_size=200))
def test_the_noise_floor_is_the_low_percentile_of_the_last_window_of_frame_levels(levels: list[float]) -> None:
    endpointer = Endpointer(floor_window_ms=400)  # 20 frames, so the window slides within one example
    for level in levels:
        endpointer._track_floor(level)
    window = np.array(levels[-20:], dtype=np.float64)

    assert endpointer.noise_floor_dbfs == pytest.approx(float(np.percentile(window, 10.0)), abs=1e-9)
