"""``ivr phone`` on the real sounddevice/PortAudio stack without a sound card: an ALSA ``type null`` device in a test
HOME (named ``cinull``: PortAudio ignores a device literally called ``null``)."""

from __future__ import annotations

import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

IVR = str(Path(sys.executable).with_name("ivr"))
NULL_DEVICE = """pcm.cinull {
    type null
    hint { show on description "Warmline CI null device" }
}
pcm.!default cinull
"""
NO_DEVICE = "pcm.!default { type hw card 99 }\n"


def _home(tmp_path: Path, asoundrc: str) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".asoundrc").write_text(asoundrc)
    return {**os.environ, "HOME": str(home), "IVR_DATA_DIR": str(tmp_path / "data")}


def test_list_devices_shows_the_null_device(tmp_path: Path) -> None:
    done = subprocess.run(
        [IVR, "phone", "--list-devices"], env=_home(tmp_path, NULL_DEVICE), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "cinull" in done.stdout


def test_without_any_audio_device_the_phone_says_so_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run([IVR, "phone"], env=_home(tmp_path, NO_DEVICE), capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: no input device found: plug in a headset or use --text"), lines


@pytest.mark.slow
def test_a_typed_call_plays_through_portaudio_and_hangs_up_cleanly(tmp_path: Path) -> None:
    recording = tmp_path / "call.wav"
    env = _home(tmp_path, NULL_DEVICE)
    # hang up well after the greeting began, even on a loaded machine (the server starts in the phone's process)
    script = "import time, sys\ntime.sleep(14)\nprint('q', flush=True)\n"
    feeder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    done = subprocess.run(
        [IVR, "phone", "--text", "--record", str(recording)],
        env=env,
        stdin=feeder.stdout,
        capture_output=True,
        text=True,
        timeout=120,
    )
    feeder.wait(10)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Call ended: you hung up" in done.stdout
    with wave.open(str(recording)) as wav:
        stereo = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16).reshape(-1, 2)
    assert np.abs(stereo[:, 1]).max() > 3000, f"no greeting reached the (null) speaker: {done.stdout[-1500:]}"
