"""The sounds Warmline ships are real, quiet enough, licensed, and exactly what the manifest says."""

from __future__ import annotations

import wave

import numpy as np
import yaml

from ivr.audio.codec import rms_dbfs
from ivr.audio.manifest import MANIFEST, build
from ivr.config import REPO_ROOT

AUDIO = REPO_ROOT / "audio"


def test_the_manifest_lists_every_shipped_sound_exactly_as_it_is() -> None:
    listed = yaml.safe_load((AUDIO / MANIFEST).read_text(encoding="utf-8"))["files"]
    assert listed == build(AUDIO), "audio/ changed: run scripts/make_audio.sh and `python -m ivr.audio.manifest`"
    assert (AUDIO / "LICENSE").exists()
    assert all(entry["licence"] == "CC0-1.0" for entry in listed.values())


def test_hold_audio_is_sound_not_silence_and_never_loud() -> None:
    for path in sorted((AUDIO / "hold").glob("*.wav")):
        with wave.open(str(path)) as wav:
            pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
            seconds = wav.getnframes() / wav.getframerate()
        level = rms_dbfs(pcm)
        assert -30.0 <= level <= -12.0, f"{path.name}: {level:.1f} dBFS"
        assert int(np.abs(pcm).max()) < 0.5 * 32768, "no peak near full scale"
        # Sound in every stretch of three seconds: a caller never hears so long a silence that the line seems dead.
        window = 3 * 8000
        for start in range(0, len(pcm) - window, 8000):
            assert rms_dbfs(pcm[start : start + window]) > -45.0, f"{path.name}: silent around {start / 8000:.0f} s"
        assert seconds >= 5.0
