"""Process-wide counters for benchmarks and operations: how fast we answer and how hard recognition works.

Written from the event loop and the decode threads, read by ``GET /metrics``; cheap enough to stay on in production.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from prometheus_client import Histogram

from ivr.prometheus import turn_latency_histogram, understanding_histogram


@dataclass
class ServerMetrics:
    decode_busy_s: float = 0.0  # wall time spent inside recogniser calls on worker threads
    decode_jobs: int = 0
    audio_decoded_s: float = 0.0  # seconds of caller audio handed to recognisers
    frames_sent: int = 0
    late_frames: int = 0
    calls_started: int = 0
    calls_ended: int = 0
    response_latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=20000))
    latency_histogram: Histogram = field(default_factory=turn_latency_histogram)
    understanding_ms: deque[float] = field(default_factory=lambda: deque(maxlen=20000))
    understanding_histogram: Histogram = field(default_factory=understanding_histogram)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def decoded(self, busy_s: float, audio_s: float = 0.0) -> None:
        with self._lock:
            self.decode_busy_s += busy_s
            self.decode_jobs += 1
            self.audio_decoded_s += audio_s

    def responded(self, latency_ms: float) -> None:
        with self._lock:
            self.response_latencies_ms.append(latency_ms)
        self.latency_histogram.observe(latency_ms / 1000)

    def understood(self, seconds: float) -> None:
        with self._lock:
            self.understanding_ms.append(seconds * 1000)
        self.understanding_histogram.observe(seconds)

    def played(self, frames: int, late: int) -> None:
        with self._lock:
            self.frames_sent += frames
            self.late_frames += late

    def snapshot(self) -> dict[str, float | int | list[float] | None]:
        with self._lock:
            latencies = np.array(self.response_latencies_ms, dtype=np.float64)
            understanding = np.array(self.understanding_ms, dtype=np.float64)
            return {
                "calls_started": self.calls_started,
                "calls_ended": self.calls_ended,
                "decode_jobs": self.decode_jobs,
                "decode_busy_s": round(self.decode_busy_s, 3),
                "audio_decoded_s": round(self.audio_decoded_s, 3),
                "real_time_factor": round(self.decode_busy_s / self.audio_decoded_s, 4)
                if self.audio_decoded_s
                else None,
                "frames_sent": self.frames_sent,
                "late_frames": self.late_frames,
                "responses": int(latencies.size),
                "response_p50_ms": round(float(np.percentile(latencies, 50)), 1) if latencies.size else None,
                "response_p95_ms": round(float(np.percentile(latencies, 95)), 1) if latencies.size else None,
                "response_max_ms": round(float(latencies.max()), 1) if latencies.size else None,
                "understanding_turns": int(understanding.size),
                "understanding_p50_ms": _percentile(understanding, 50),
                "understanding_p95_ms": _percentile(understanding, 95),
                # the latest turns, for the benchmark's per-level percentiles
                "understanding_window_ms": [round(float(v), 2) for v in understanding[-5000:]],
            }


def _percentile(values: np.typing.NDArray[np.float64], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values.size else None
