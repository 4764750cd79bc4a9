"""The telephone codec: what Twilio sends and receives must survive our conversions."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
import pytest

from ivr.audio.codec import (
    FRAME_BYTES,
    Pcm,
    frames,
    read_wav,
    resample,
    rms_dbfs,
    ulaw_decode,
    ulaw_encode,
    wav_bytes,
    write_wav,
)
from ivr.errors import AudioFormatError

MAX_ULAW = 32124  # the largest magnitude μ-law can represent (in 16-bit terms)


def tone(freq: float, rate: int, seconds: float, amplitude: float = 0.5) -> Pcm:
    t = np.arange(int(rate * seconds)) / rate
    return np.round(amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def peak_frequency(samples: Pcm, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[np.argmax(spectrum)])


def test_ulaw_round_trip_error_stays_within_half_a_quantisation_step() -> None:
    every_sample = np.arange(-32768, 32768).astype(np.int16)
    decoded = ulaw_decode(ulaw_encode(every_sample)).astype(np.int32)
    magnitude = np.abs(every_sample.astype(np.int32))
    error = np.abs(decoded - every_sample.astype(np.int32))
    representable = magnitude <= MAX_ULAW
    # logarithmic steps: ~3 % of the magnitude at most, and a few units near zero
    assert np.all(error[representable] <= magnitude[representable] / 32 + 8)
    # beyond μ-law's range the signal clips to the largest code instead of wrapping around
    assert np.all(np.abs(decoded[~representable]) == MAX_ULAW)
    assert np.all(np.sign(decoded[magnitude > 8]) == np.sign(every_sample[magnitude > 8]))


def test_every_ulaw_code_decodes_and_reencodes_to_itself_except_negative_zero() -> None:
    codes = bytes(range(256))
    reencoded = ulaw_encode(ulaw_decode(codes))
    changed = [code for code in range(256) if reencoded[code] != code]
    assert changed == [0x7F]  # −0 and +0 both decode to 0, which encodes as +0 (0xFF)


def test_silence_encodes_to_ulaw_silence_0xff() -> None:
    assert ulaw_encode(np.zeros(160, dtype=np.int16)) == b"\xff" * 160
    assert np.all(ulaw_decode(b"\xff" * 10) == 0)


def test_frames_are_20ms_and_the_last_is_padded_with_silence() -> None:
    audio = bytes(range(200)) * 2  # 400 bytes: two full frames and 80 bytes left over
    chunks = frames(audio)
    assert FRAME_BYTES == 160
    assert [len(c) for c in chunks] == [160, 160, 160]
    assert b"".join(chunks)[:400] == audio
    assert chunks[-1][80:] == b"\xff" * 80
    assert frames(b"") == []
    assert frames(b"\x00" * 320) == [b"\x00" * 160] * 2


def test_resampling_22050_to_8000_keeps_a_440hz_tone_at_440hz() -> None:
    original = tone(440, 22050, 1.0)
    telephone = resample(original, 22050, 8000)
    assert telephone.dtype == np.int16
    assert abs(telephone.size - 8000) <= 1
    assert abs(peak_frequency(telephone, 8000) - 440) <= 2  # FFT bins are 1 Hz wide for 1 s
    assert abs(rms_dbfs(telephone) - rms_dbfs(original)) < 0.5


def test_resampling_removes_what_the_telephone_band_cannot_carry() -> None:
    above_nyquist = tone(6000, 22050, 1.0)  # 6 kHz does not fit in 8 kHz sampling (4 kHz Nyquist)
    assert rms_dbfs(resample(above_nyquist, 22050, 8000)) < rms_dbfs(above_nyquist) - 40


def test_mono_wav_round_trips_through_a_file(tmp_path: Path) -> None:
    samples = tone(300, 8000, 0.25)
    path = tmp_path / "nested" / "prompt.wav"
    write_wav(path, samples, 8000)
    read, rate = read_wav(path)
    assert rate == 8000
    np.testing.assert_array_equal(read, samples)


def test_stereo_wav_is_mixed_down_to_mono() -> None:
    left = np.full(800, 1000, dtype=np.int16)
    right = np.full(800, -3000, dtype=np.int16)
    interleaved = np.column_stack([left, right]).reshape(-1)
    samples, rate = read_wav(wav_bytes(interleaved, 16000, channels=2))
    assert rate == 16000
    assert samples.size == 800
    assert np.all(samples == -1000)


def test_reading_garbage_as_wav_is_an_audio_format_error(tmp_path: Path) -> None:
    with pytest.raises(AudioFormatError, match="not a readable WAV"):
        read_wav(b"this is not a RIFF file at all")
    truncated = wav_bytes(tone(440, 8000, 0.1), 8000)[:20]
    with pytest.raises(AudioFormatError):
        read_wav(truncated)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(AudioFormatError):
        read_wav(garbage)


def test_8_bit_wav_is_refused_rather_than_misread() -> None:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(8000)
        wav.writeframes(b"\x80" * 800)
    with pytest.raises(AudioFormatError, match="16-bit"):
        read_wav(buffer.getvalue())


def test_rms_of_silence_is_minus_120_dbfs_and_of_a_full_scale_sine_minus_3() -> None:
    assert rms_dbfs(np.zeros(1600, dtype=np.int16)) == -120.0
    assert rms_dbfs(np.zeros(0, dtype=np.int16)) == -120.0
    full_scale = tone(1000, 8000, 1.0, amplitude=1.0)
    assert rms_dbfs(full_scale) == pytest.approx(-3.01, abs=0.05)
    assert rms_dbfs(tone(1000, 8000, 1.0, amplitude=0.1)) == pytest.approx(-23.01, abs=0.05)
