"""``audio/MANIFEST.yaml``: every sound Warmline ships, with its checksum, length, level, licence and origin.

Hold audio must be real sound (a caller in silence thinks the line is dead) and quiet enough not to startle; sample
recordings must be what their name says. The manifest makes both checkable: a test recomputes every entry.
"""

from __future__ import annotations

import hashlib
import wave
from pathlib import Path

import numpy as np
import yaml

from ivr.audio.codec import rms_dbfs

MANIFEST = "MANIFEST.yaml"
#: what each folder holds and where it came from (all of it made here: CC0-1.0, see audio/LICENSE)
ORIGINS = {
    "hold": "generated with sox from sine tones by scripts/make_audio.sh",
    "samples": "rendered with espeak-ng by scripts/make_audio.sh (synthetic caller turns, not recordings of people)",
}


def describe(path: Path) -> dict[str, object]:
    """The manifest entry of one WAV file."""
    with wave.open(str(path)) as wav:
        rate, frames, width, channels = wav.getframerate(), wav.getnframes(), wav.getsampwidth(), wav.getnchannels()
        pcm = np.frombuffer(wav.readframes(frames), dtype=np.int16)
    return {
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "seconds": round(frames / rate, 2),
        "rate": rate,
        "format": f"{width * 8}-bit PCM, {channels} channel(s)",
        "rms_dbfs": round(float(rms_dbfs(pcm)), 1),
        "licence": "CC0-1.0",
        "origin": ORIGINS[path.parent.name],
    }


def build(audio_dir: Path) -> dict[str, dict[str, object]]:
    return {
        str(path.relative_to(audio_dir)): describe(path)
        for folder in sorted(ORIGINS)
        for path in sorted((audio_dir / folder).glob("*.wav"))
    }


def write(audio_dir: Path) -> None:
    header = "# Every sound in audio/ (prompt caches excluded): made by scripts/make_audio.sh, described by\n"
    header += "# `python -m ivr.audio.manifest`. A test recomputes each entry.\n"
    body = yaml.safe_dump({"files": build(audio_dir)}, sort_keys=False, allow_unicode=True)
    (audio_dir / MANIFEST).write_text(header + body, encoding="utf-8")


if __name__ == "__main__":
    write(Path(__file__).resolve().parents[2] / "audio")
