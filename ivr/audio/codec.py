"""Telephone audio conversions: G.711 μ-law ⇄ PCM16, resampling and WAV I/O.

Pure numpy/scipy so it works on Python 3.13+, where ``audioop`` is gone. Twilio Media Streams carry 8 kHz mono μ-law
in 20 ms frames (160 bytes); Vosk and our signal analysis want PCM16 at the model's own rate.
"""

from __future__ import annotations

import io
import wave
from fractions import Fraction
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.signal import resample_poly

from ivr.errors import AudioFormatError

TELEPHONE_RATE = 8000
FRAME_MS = 20
FRAME_BYTES = TELEPHONE_RATE * FRAME_MS // 1000  # μ-law: one byte per sample → 160 bytes per 20 ms

Pcm = npt.NDArray[np.int16]

_BIAS = 0x84
_CLIP14 = 8159
_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])


def _build_decode_table() -> npt.NDArray[np.int16]:
    codes = np.arange(256, dtype=np.int32)
    inverted = ~codes & 0xFF
    sign = inverted & 0x80
    exponent = (inverted >> 4) & 0x07
    mantissa = inverted & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


_DECODE = _build_decode_table()


def ulaw_decode(data: bytes) -> Pcm:
    """μ-law bytes → PCM16 samples (same rate)."""
    return _DECODE[np.frombuffer(data, dtype=np.uint8)]


def ulaw_encode(samples: Pcm) -> bytes:
    """PCM16 samples → μ-law bytes (ITU-T G.711 on the top 14 bits, bit-exact with the reference encoder)."""
    pcm = samples.astype(np.int32) >> 2
    negative = pcm < 0
    magnitude = np.minimum(np.where(negative, -pcm, pcm), _CLIP14) + (_BIAS >> 2)
    segment = np.searchsorted(_SEGMENT_ENDS, magnitude, side="left")
    code = (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    return (code ^ np.where(negative, 0x7F, 0xFF)).astype(np.uint8).tobytes()


def resample(samples: Pcm, from_rate: int, to_rate: int) -> Pcm:
    """Band-limited polyphase resampling between integer rates."""
    if from_rate == to_rate or samples.size == 0:
        return samples.astype(np.int16, copy=False)
    ratio = Fraction(to_rate, from_rate)
    out: npt.NDArray[np.float32] = resample_poly(samples.astype(np.float32), ratio.numerator, ratio.denominator)
    result: Pcm = np.clip(np.round(out), -32768, 32767).astype(np.int16)
    return result


def pcm_to_bytes(samples: Pcm) -> bytes:
    return samples.astype("<i2", copy=False).tobytes()


def bytes_to_pcm(data: bytes) -> Pcm:
    return np.frombuffer(data, dtype="<i2").astype(np.int16)


def read_wav(source: Path | bytes) -> tuple[Pcm, int]:
    """Read a PCM16 WAV (mono, or stereo mixed down) → (samples, rate)."""
    try:
        with wave.open(str(source) if isinstance(source, Path) else io.BytesIO(source), "rb") as wav:
            if wav.getsampwidth() != 2:
                raise AudioFormatError(f"{source!s:.80}: expected 16-bit PCM, got {8 * wav.getsampwidth()}-bit")
            rate = wav.getframerate()
            channels = wav.getnchannels()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise AudioFormatError(f"{source!s:.80}: not a readable WAV file ({exc})") from exc
    samples = bytes_to_pcm(frames)
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return samples, rate


def wav_bytes(samples: Pcm, rate: int, channels: int = 1) -> bytes:
    """PCM16 samples (interleaved when stereo) → a complete WAV file in memory."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm_to_bytes(samples))
    return buffer.getvalue()


def write_wav(path: Path, samples: Pcm, rate: int, channels: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(wav_bytes(samples, rate, channels))


def to_telephone_ulaw(samples: Pcm, rate: int) -> bytes:
    """Any-rate PCM16 → 8 kHz μ-law, ready for Media Streams."""
    return ulaw_encode(resample(samples, rate, TELEPHONE_RATE))


def frames(ulaw: bytes, frame_bytes: int = FRAME_BYTES) -> list[bytes]:
    """Split μ-law audio into 20 ms frames; the last one is padded with μ-law silence (0xFF)."""
    chunks = [ulaw[i : i + frame_bytes] for i in range(0, len(ulaw), frame_bytes)]
    if chunks and len(chunks[-1]) < frame_bytes:
        chunks[-1] = chunks[-1] + b"\xff" * (frame_bytes - len(chunks[-1]))
    return chunks


def rms_dbfs(samples: Pcm) -> float:
    """Loudness of a chunk in dB relative to full scale (−120 for digital silence)."""
    if samples.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
    return -120.0 if rms < 1e-6 else 20.0 * float(np.log10(rms / 32768.0))
