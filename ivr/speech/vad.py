"""Endpointing: deciding from loudness alone when the caller starts and stops talking.

Telephone lines differ wildly in background noise, so "loud" is measured against each call's own noise floor:
a low percentile of the recent frame levels. Speech has gaps between syllables and words, so that percentile
stays near the line noise while the caller talks, and climbs to a steady new noise within a second or two.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass

from ivr.audio.codec import TELEPHONE_RATE, Pcm, rms_dbfs


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The caller began talking (reported once enough consecutive voiced audio has arrived)."""


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    """The caller stopped after enough trailing silence; ``speech_ms`` spans first to last voiced frame."""

    speech_ms: int


VadEvent = SpeechStarted | SpeechEnded


class Endpointer:
    """Per-call voice activity state for 8 kHz PCM16 frames (one ``feed`` per Media Streams frame).

    A start needs ``start_ms`` of voiced audio within the last ``start_window_ms``, so a click or a line pop
    is not speech while the short stop in "ik" still counts; an end needs ``trailing_silence_ms`` of unvoiced
    audio. Once talking, a frame stays voiced down to ``hysteresis_db`` below the start threshold, so soft
    word endings do not end the turn early.
    """

    def __init__(
        self,
        trailing_silence_ms: int = 700,
        frame_ms: int = 20,
        *,
        start_ms: int = 60,
        start_window_ms: int = 100,
        margin_db: float = 12.0,
        hysteresis_db: float = 6.0,
        min_threshold_dbfs: float = -50.0,
        floor_window_ms: int = 1500,
        floor_percentile: float = 10.0,
        sample_rate: int = TELEPHONE_RATE,
    ) -> None:
        self.trailing_silence_ms = trailing_silence_ms
        self.frame_ms = frame_ms
        self.start_ms = start_ms
        self.start_window_ms = max(start_window_ms, start_ms)
        self.margin_db = margin_db
        self.hysteresis_db = hysteresis_db
        self.min_threshold_dbfs = min_threshold_dbfs
        self.floor_percentile = floor_percentile
        self.sample_rate = sample_rate
        self.in_speech = False
        self._levels: deque[float] = deque(maxlen=max(1, floor_window_ms // frame_ms))
        self._sorted_levels: list[float] = []  # the same levels in order, for the percentile
        self._floor: float | None = None
        self._now_ms = 0.0  # stream time at the end of the last frame fed
        self._recent: deque[tuple[float, float]] = deque()  # (start, duration) of recent voiced frames
        self._speech_started_ms = 0.0
        self._last_voiced_ms = 0.0
        self._silence_ms = 0.0

    @property
    def noise_floor_dbfs(self) -> float | None:
        """The current noise estimate (None before the first frame)."""
        return self._floor

    @property
    def threshold_dbfs(self) -> float:
        """Frames louder than this start speech (and, while talking, frames above it less the hysteresis)."""
        if self._floor is None:
            return self.min_threshold_dbfs
        return max(self._floor + self.margin_db, self.min_threshold_dbfs)

    @property
    def silence_ms(self) -> float:
        """Unvoiced audio since the caller's last voiced frame while they are talking (0 while voiced or quiet)."""
        return self._silence_ms if self.in_speech else 0.0

    def is_voiced(self, frame: Pcm) -> bool:
        """Whether this frame is louder than the call's start threshold; changes no state (for barge-in)."""
        return rms_dbfs(frame) > self.threshold_dbfs

    def feed(self, frame: Pcm) -> VadEvent | None:
        """Take the next frame; return an event when the caller starts or stops talking."""
        level = rms_dbfs(frame)
        threshold = self.threshold_dbfs - (self.hysteresis_db if self.in_speech else 0.0)
        voiced = level > threshold
        self._track_floor(level)
        frame_start = self._now_ms
        self._now_ms += 1000.0 * len(frame) / self.sample_rate
        if self.in_speech:
            return self._while_speaking(voiced, self._now_ms - frame_start)
        return self._while_quiet(voiced, frame_start)

    def end_now(self) -> SpeechEnded:
        """End the turn in progress at once (the words say it is complete before the trailing silence has run)."""
        speech_ms = round(self._last_voiced_ms - self._speech_started_ms)
        self.reset()
        return SpeechEnded(speech_ms=speech_ms)

    def reset(self) -> None:
        """Forget any speech in progress (e.g. when a new prompt starts); the noise floor is kept."""
        self.in_speech = False
        self._recent.clear()
        self._silence_ms = 0.0

    def _while_quiet(self, voiced: bool, frame_start: float) -> SpeechStarted | None:
        while self._recent and self._recent[0][0] < self._now_ms - self.start_window_ms:
            self._recent.popleft()
        if not voiced:
            return None
        self._recent.append((frame_start, self._now_ms - frame_start))
        if sum(duration for _, duration in self._recent) < self.start_ms:
            return None
        self.in_speech = True
        self._speech_started_ms = self._recent[0][0]
        self._last_voiced_ms = self._now_ms
        self._silence_ms = 0.0
        self._recent.clear()
        return SpeechStarted()

    def _while_speaking(self, voiced: bool, duration: float) -> SpeechEnded | None:
        if voiced:
            self._last_voiced_ms = self._now_ms
            self._silence_ms = 0.0
            return None
        self._silence_ms += duration
        if self._silence_ms < self.trailing_silence_ms:
            return None
        return self.end_now()

    def _track_floor(self, level: float) -> None:
        """The noise floor: a low percentile of the last 1.5 s of frame levels (numpy's linear interpolation).

        Kept as a sorted window updated by bisection: this runs for every 20 ms frame of every call, and
        ``np.percentile`` on the window cost a fifth of the event loop at 64 calls (py-spy, bench/README.md).
        """
        levels = self._levels
        if len(levels) == levels.maxlen:
            del self._sorted_levels[bisect.bisect_left(self._sorted_levels, levels[0])]
        levels.append(level)
        bisect.insort(self._sorted_levels, level)
        ordered = self._sorted_levels
        rank = (len(ordered) - 1) * self.floor_percentile / 100.0
        below = int(rank)
        above = min(below + 1, len(ordered) - 1)
        self._floor = ordered[below] + (ordered[above] - ordered[below]) * (rank - below)
