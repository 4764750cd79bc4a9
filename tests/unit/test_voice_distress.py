"""Voice arousal on real speech: espeak-ng renders words calm and agitated, sent down the telephone path.

A caller is compared with their own baseline, so the test does the same: the first calm utterance is the
baseline, then an agitated utterance must score clearly higher than a calm utterance of *different* words (so
the score follows the voice, not the text).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ivr.audio.codec import TELEPHONE_RATE, Pcm, read_wav, to_telephone_ulaw, ulaw_decode
from ivr.signals.voice import (
    VoiceBaseline,
    VoiceFeatures,
    update_baseline,
    voice_arousal,
    voice_features,
)

CALM = ("-s", "140", "-p", "40", "-a", "80")
AGITATED = ("-s", "220", "-p", "75", "-a", "200")
FIRST = "Goedemiddag, ik bel over mijn bestelling van vorige week, die is nog steeds niet geleverd."
SECOND = "Kunt u mij vertellen hoe laat de winkel morgen open is, en of ik daar kan parkeren?"
THIRD = "Ik heb al drie keer gebeld en niemand kan mij vertellen waar mijn pakket is."


def speak(text: str, style: tuple[str, ...], tmp_path: Path, voice: str = "nl") -> Pcm:
    """Render with espeak-ng and pass through 8 kHz μ-law like a Twilio media stream."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.fail("espeak-ng is not installed: apt-get install espeak-ng")
    wav = tmp_path / f"{abs(hash((text, style, voice)))}.wav"
    subprocess.run([espeak, "-v", voice, *style, "-w", str(wav), text], check=True, capture_output=True)
    samples, rate = read_wav(wav)
    return ulaw_decode(to_telephone_ulaw(samples, rate))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, VoiceFeatures]:
    tmp = tmp_path_factory.mktemp("espeak")
    return {
        "calm_first": voice_features(speak(FIRST, CALM, tmp)),
        "calm_second": voice_features(speak(SECOND, CALM, tmp)),
        "agitated_third": voice_features(speak(THIRD, AGITATED, tmp)),
        "calm_third": voice_features(speak(THIRD, CALM, tmp)),
        "agitated_first": voice_features(speak(FIRST, AGITATED, tmp)),
    }


def test_agitated_speech_scores_clearly_higher_than_calm_speech_of_other_words(
    rendered: dict[str, VoiceFeatures],
) -> None:
    baseline = update_baseline(None, rendered["calm_first"])
    calm = voice_arousal(rendered["calm_second"], baseline)
    agitated = voice_arousal(rendered["agitated_third"], baseline)
    print(f"\narousal vs own baseline: calm other sentence {calm.score:.2f}, agitated {agitated.score:.2f}")
    print("   agitated reasons:", "; ".join(agitated.reasons))
    assert calm.score < 0.2
    assert agitated.score >= 0.6
    assert agitated.score - calm.score >= 0.4


def test_the_same_sentence_agitated_is_louder_higher_and_faster(rendered: dict[str, VoiceFeatures]) -> None:
    calm, agitated = rendered["calm_third"], rendered["agitated_third"]
    assert calm.f0_median_hz and agitated.f0_median_hz and calm.syllables_per_s and agitated.syllables_per_s
    assert agitated.loudness_dbfs - calm.loudness_dbfs >= 5.0
    assert 12 * np.log2(agitated.f0_median_hz / calm.f0_median_hz) >= 3.0
    assert agitated.syllables_per_s / calm.syllables_per_s >= 1.15
    reasons = voice_arousal(agitated, update_baseline(None, calm)).reasons
    assert any(r.startswith("voice louder than own baseline (+") for r in reasons)
    assert any(r.startswith("voice higher than own baseline") for r in reasons)
    assert any(r.startswith("speaking faster than own baseline") for r in reasons)


def test_calm_features_are_plausible_for_a_male_voice_on_the_phone(
    rendered: dict[str, VoiceFeatures],
) -> None:
    calm = rendered["calm_first"]
    assert calm.usable
    assert calm.f0_median_hz is not None and 70 <= calm.f0_median_hz <= 160
    assert calm.syllables_per_s is not None and 2.5 <= calm.syllables_per_s <= 7.0
    assert -35 <= calm.loudness_dbfs <= -10
    assert 0.5 * calm.duration_s <= calm.speech_s <= calm.duration_s


def test_baseline_does_not_learn_an_outburst(rendered: dict[str, VoiceFeatures]) -> None:
    baseline = update_baseline(None, rendered["calm_first"])
    after_outburst = update_baseline(baseline, rendered["agitated_first"])
    assert after_outburst == baseline
    after_calm = update_baseline(baseline, rendered["calm_second"])
    assert after_calm is not None and after_calm.utterances == 2


def test_baseline_stops_learning_after_the_first_utterances(rendered: dict[str, VoiceFeatures]) -> None:
    baseline: VoiceBaseline | None = None
    for key in ("calm_first", "calm_second", "calm_third"):
        baseline = update_baseline(baseline, rendered[key])
    assert baseline is not None and baseline.utterances == 2


def harmonic(f0: float, seconds: float = 1.0) -> Pcm:
    """A buzzy vowel-like tone: harmonics of f0 with falling amplitude, syllable-like amplitude bumps."""
    t = np.arange(int(TELEPHONE_RATE * seconds)) / TELEPHONE_RATE
    tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 12) if f0 * k < 3800)
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t) ** 2
    return (6000 * tone * envelope).astype(np.int16)


@pytest.mark.parametrize("f0", [85.0, 120.0, 210.0, 330.0])
def test_pitch_of_a_known_tone_is_found(f0: float) -> None:
    features = voice_features(harmonic(f0))
    assert features.f0_median_hz == pytest.approx(f0, rel=0.03)


def test_silence_and_short_blips_are_not_compared() -> None:
    silent = voice_features(np.zeros(TELEPHONE_RATE, dtype=np.int16))
    blip = voice_features(harmonic(150.0, seconds=0.2))
    baseline = VoiceBaseline(1, -20.0, 120.0, 4.0)
    for features in (silent, blip):
        assert not features.usable
        assert voice_arousal(features, baseline).score == 0.0
        assert update_baseline(None, features) is None


def test_without_a_baseline_there_is_no_arousal(rendered: dict[str, VoiceFeatures]) -> None:
    assert voice_arousal(rendered["agitated_first"], None) == (0.0, ())


def test_features_accept_other_sample_rates() -> None:
    t = np.arange(16000) / 16000
    tone16k = (8000 * np.sin(2 * np.pi * 140.0 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t) ** 2)).astype(np.int16)
    features = voice_features(tone16k, rate=16000)
    assert features.duration_s == pytest.approx(1.0)
    assert features.f0_median_hz == pytest.approx(140.0, rel=0.03)
