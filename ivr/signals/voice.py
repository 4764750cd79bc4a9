"""Voice arousal: is the caller louder, higher and faster than they themselves were at the start of the call?

Absolute loudness or pitch says little on the telephone: handsets, lines and voices differ by more than anger
changes them. So every caller is compared with their own baseline, taken from their first calm utterance(s).
The features are classic, cheap and explainable (an agent can be told "louder than at the start, +8 dB"):

* loudness  – dBFS of the speech frames only, so pauses do not dilute it;
* pitch     – median and spread of f0 (60–400 Hz) from a windowed autocorrelation (Boersma's correction);
* rate      – syllable nuclei per second of speech: peaks in the band-passed energy envelope that are voiced.

Everything works on one utterance of PCM16 at the telephone rate (8 kHz); other rates are resampled first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.signal import butter, find_peaks, sosfiltfilt

from ivr.audio.codec import TELEPHONE_RATE, Pcm, resample

Floats = npt.NDArray[np.float64]

HOP = 80  # 10 ms at 8 kHz
ENERGY_FRAME = 200  # 25 ms: short enough to see the dip between syllables
PITCH_FRAME = 480  # 60 ms: three periods of the lowest pitch we look for
F0_MIN, F0_MAX = 60.0, 400.0
VOICING_THRESHOLD = 0.5  # normalised autocorrelation peak needed to call a frame voiced
MIN_SPEECH_S = 0.4  # shorter utterances ("ja") do not say enough about a voice
MIN_VOICED_FRAMES = 8
#: Utterances whose features form the caller's baseline; later ones are compared with it.
BASELINE_UTTERANCES = 2
#: An utterance already this aroused compared with the baseline so far does not join it, so a caller who gets
#: angry on turn two is not taken as "normally loud".
BASELINE_MAX_AROUSAL = 0.3


@dataclass(frozen=True, slots=True)
class VoiceFeatures:
    """What one utterance sounded like. Pitch and rate are None when too little voiced speech was found."""

    duration_s: float
    speech_s: float
    loudness_dbfs: float
    f0_median_hz: float | None
    f0_range_hz: float | None
    syllables_per_s: float | None

    @property
    def usable(self) -> bool:
        """Enough speech to compare with a baseline."""
        return self.speech_s >= MIN_SPEECH_S


@dataclass(frozen=True, slots=True)
class VoiceBaseline:
    """The caller's own normal voice, averaged over their first calm utterance(s)."""

    utterances: int
    loudness_dbfs: float
    f0_median_hz: float | None
    syllables_per_s: float | None


class VoiceArousal(NamedTuple):
    """Arousal 0–1 compared with the caller's baseline, with plain-words reasons. A tuple so it can be passed
    on as ``(score, reasons)``."""

    score: float
    reasons: tuple[str, ...]


def _frames(x: Floats, length: int) -> Floats:
    if x.size < length:
        x = np.pad(x, (0, length - x.size))
    count = 1 + (x.size - length) // HOP
    index = np.arange(length)[None, :] + HOP * np.arange(count)[:, None]
    framed: Floats = x[index]
    return framed


def _db(power: Floats) -> Floats:
    return 10.0 * np.log10(np.maximum(power, 1e-12))


def _speech_mask(frame_db: Floats) -> npt.NDArray[np.bool_]:
    """Frames that carry speech: well above the utterance's noise floor, not far below its loudest part."""
    floor = float(np.percentile(frame_db, 10))
    peak = float(np.max(frame_db))
    # The endpointer trims pauses, so the quietest tenth may itself be speech: never demand more than 10 dB
    # below the peak. The absolute floor keeps line hiss from counting as speech.
    threshold = max(min(floor + 9.0, peak - 10.0), peak - 35.0, -55.0)
    mask: npt.NDArray[np.bool_] = frame_db > threshold
    return mask


def _pitch_track(x: Floats, n_frames: int) -> Floats:
    """f0 per 10 ms frame (NaN where unvoiced), frame centres aligned with the energy frames."""
    pad = (PITCH_FRAME - ENERGY_FRAME) // 2
    frames = _frames(np.pad(x, (pad, pad + PITCH_FRAME)), PITCH_FRAME)[:n_frames]
    frames = frames - frames.mean(axis=1, keepdims=True)
    window = np.hanning(PITCH_FRAME)
    nfft = 2 * PITCH_FRAME
    spec = np.fft.rfft(frames * window, nfft)
    acf = np.fft.irfft(np.abs(spec) ** 2, nfft)[:, :PITCH_FRAME]
    window_acf = np.fft.irfft(np.abs(np.fft.rfft(window, nfft)) ** 2, nfft)[:PITCH_FRAME]
    with np.errstate(divide="ignore", invalid="ignore"):
        norm = (acf / np.maximum(acf[:, :1], 1e-12)) / (window_acf / window_acf[0])
    lo = int(TELEPHONE_RATE / F0_MAX)
    hi = int(TELEPHONE_RATE / F0_MIN)
    f0 = np.full(n_frames, np.nan)
    for i in range(norm.shape[0]):
        r = norm[i, lo - 1 : hi + 2]
        if not np.all(np.isfinite(r)):
            continue
        inner = r[1:-1]
        peaks = np.flatnonzero((inner > r[:-2]) & (inner >= r[2:]))
        if peaks.size == 0:
            continue
        best = float(inner[peaks].max())
        if best < VOICING_THRESHOLD:
            continue
        # The first peak nearly as strong as the best is the period; later ones are its multiples.
        k = int(peaks[np.argmax(inner[peaks] >= 0.9 * best)])
        a, b, c = float(r[k]), float(r[k + 1]), float(r[k + 2])
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if abs(denom) > 1e-12 else 0.0
        lag = lo + k + max(-0.5, min(0.5, shift))
        f0[i] = TELEPHONE_RATE / lag
    return f0


def voice_features(samples: Pcm, rate: int = TELEPHONE_RATE) -> VoiceFeatures:
    """Loudness, pitch and speaking rate of one utterance."""
    pcm = resample(samples, rate, TELEPHONE_RATE) if rate != TELEPHONE_RATE else samples
    duration = pcm.size / TELEPHONE_RATE
    x = pcm.astype(np.float64) / 32768.0
    if x.size < PITCH_FRAME:
        return VoiceFeatures(duration, 0.0, -120.0, None, None, None)
    x = x - x.mean()

    power = np.mean(_frames(x, ENERGY_FRAME) ** 2, axis=1)
    frame_db = _db(power)
    speech = _speech_mask(frame_db)
    speech_s = float(speech.sum()) * HOP / TELEPHONE_RATE
    loudness = float(_db(np.array([power[speech].mean()]))[0]) if speech.any() else -120.0
    if speech_s < MIN_SPEECH_S:
        return VoiceFeatures(duration, speech_s, loudness, None, None, None)

    f0 = _pitch_track(x, frame_db.size)
    voiced = speech & np.isfinite(f0)
    f0_median: float | None = None
    f0_range: float | None = None
    if voiced.sum() >= MIN_VOICED_FRAMES:
        values = f0[voiced]
        median = float(np.median(values))
        # Octave slips are rare but large; keep them out of the spread.
        values = values[(values > 0.6 * median) & (values < 1.7 * median)]
        f0_median = median
        f0_range = float(np.percentile(values, 90) - np.percentile(values, 10))

    rate_per_s = _syllable_rate(x, speech, voiced, speech_s)
    return VoiceFeatures(
        duration_s=round(duration, 3),
        speech_s=round(speech_s, 3),
        loudness_dbfs=round(loudness, 2),
        f0_median_hz=None if f0_median is None else round(f0_median, 1),
        f0_range_hz=None if f0_range is None else round(f0_range, 1),
        syllables_per_s=None if rate_per_s is None else round(rate_per_s, 2),
    )


_VOWEL_BAND = butter(4, [300.0, 2500.0], btype="bandpass", fs=TELEPHONE_RATE, output="sos")


def _syllable_rate(
    x: Floats, speech: npt.NDArray[np.bool_], voiced: npt.NDArray[np.bool_], speech_s: float
) -> float | None:
    """Syllable nuclei per second of speech (de Jong & Wempe style): energy peaks in the vowel band that stand
    out from their neighbourhood by a few dB, are at least 80 ms apart, and are voiced (or next to it)."""
    if not voiced.any():
        return None
    band = sosfiltfilt(_VOWEL_BAND, x)
    env = _db(np.mean(_frames(band, ENERGY_FRAME) ** 2, axis=1))[: speech.size]
    env = np.convolve(env, np.ones(3) / 3.0, mode="same")
    peaks, _ = find_peaks(env, prominence=2.0, distance=8)
    near_voiced = voiced | np.roll(voiced, 1) | np.roll(voiced, -1)
    nuclei = [p for p in peaks if speech[p] and near_voiced[p]]
    return len(nuclei) / speech_s if speech_s > 0 else None


def _log_mean(a: float | None, b: float | None, weight_a: float) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return math.exp(weight_a * math.log(a) + (1.0 - weight_a) * math.log(b))


def update_baseline(baseline: VoiceBaseline | None, features: VoiceFeatures) -> VoiceBaseline | None:
    """Fold an utterance into the caller's baseline while it is still being learnt (the first
    ``BASELINE_UTTERANCES`` usable, calm utterances); afterwards the baseline stays put."""
    if not features.usable:
        return baseline
    if baseline is None:
        return VoiceBaseline(1, features.loudness_dbfs, features.f0_median_hz, features.syllables_per_s)
    if baseline.utterances >= BASELINE_UTTERANCES:
        return baseline
    if voice_arousal(features, baseline).score > BASELINE_MAX_AROUSAL:
        return baseline
    n = baseline.utterances
    w = n / (n + 1)
    rate: float | None
    if baseline.syllables_per_s is None or features.syllables_per_s is None:
        rate = baseline.syllables_per_s or features.syllables_per_s
    else:
        rate = w * baseline.syllables_per_s + (1.0 - w) * features.syllables_per_s
    return VoiceBaseline(
        utterances=n + 1,
        loudness_dbfs=round(w * baseline.loudness_dbfs + (1.0 - w) * features.loudness_dbfs, 2),
        f0_median_hz=_log_mean(baseline.f0_median_hz, features.f0_median_hz, w),
        syllables_per_s=rate,
    )


def _ramp(value: float, start: float, full: float) -> float:
    return min(1.0, max(0.0, (value - start) / (full - start)))


# Weights of the three cues; louder and higher are the most reliable signs of anger and panic on a phone line,
# speed alone also rises with plain hurry.
_W_LOUD, _W_PITCH, _W_RATE = 0.35, 0.4, 0.25


def voice_arousal(features: VoiceFeatures, baseline: VoiceBaseline | None) -> VoiceArousal:
    """How much more aroused this utterance sounds than the caller's baseline: 0 = as usual (or quieter,
    lower, slower — sadness is not measured here), 1 = clearly louder, higher and faster."""
    if baseline is None or not features.usable:
        return VoiceArousal(0.0, ())
    reasons: list[str] = []
    louder = features.loudness_dbfs - baseline.loudness_dbfs
    score = _W_LOUD * _ramp(louder, 2.0, 10.0)
    if louder >= 3.0:
        reasons.append(f"voice louder than own baseline (+{louder:.0f} dB)")
    if features.f0_median_hz and baseline.f0_median_hz:
        semitones = 12.0 * math.log2(features.f0_median_hz / baseline.f0_median_hz)
        score += _W_PITCH * _ramp(semitones, 1.0, 6.0)
        if semitones >= 1.5:
            reasons.append(f"voice higher than own baseline (+{semitones:.1f} semitones)")
    if features.syllables_per_s and baseline.syllables_per_s:
        ratio = features.syllables_per_s / baseline.syllables_per_s
        score += _W_RATE * _ramp(ratio, 1.1, 1.5)
        if ratio >= 1.15:
            reasons.append(f"speaking faster than own baseline (x{ratio:.1f})")
    return VoiceArousal(round(min(1.0, score), 3), tuple(reasons))
