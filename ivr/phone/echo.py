"""Speakers instead of a headset: Warmline's own voice leaks into the microphone and would barge in on itself.

The default (``speaker`` mode) is a gate: while something plays, a microphone frame goes out only when it is loud
(the caller speaks up, close to the mic) *and* clearly louder than the echo the speaker level predicts; otherwise
the line carries silence for that frame. So a caller can still interrupt by speaking up, and the prompt cannot
interrupt itself. ``--headset`` turns the gate off: full duplex, every frame goes out.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ivr.audio.codec import Pcm

#: a voice at the microphone, not a room's noise: about -26 dBFS
SPEAKING_RMS = 1600.0
#: how much louder than the speaker's level the microphone must be to count as the caller, not the echo
OVER_ECHO_DB = 6.0
#: keep gating this long after playback stops (the room still rings, buffers still drain)
TAIL_S = 0.25
#: the microphone hears the speaker with a delay (buffers, resampling): compare with the loudest output this recent
ECHO_WINDOW_S = 0.3


@dataclass
class EchoGate:
    headset: bool = False
    _last_playing: float = -math.inf
    _recent: deque[tuple[float, float]] = field(default_factory=deque)

    def passes(self, frame: Pcm, output_level: float, now: float) -> bool:
        """Whether this microphone frame may go out on the line."""
        if self.headset:
            return True
        if output_level > 0:
            self._last_playing = now
            self._recent.append((now, output_level))
        while self._recent and self._recent[0][0] < now - ECHO_WINDOW_S:
            self._recent.popleft()
        if now - self._last_playing > TAIL_S:
            return True  # nothing played recently: no echo to fear
        level = float(np.sqrt(np.mean(frame.astype(np.float64) ** 2))) if frame.size else 0.0
        echo = max([1.0, *(played for _, played in self._recent)])
        return level >= SPEAKING_RMS and 20 * math.log10(max(level, 1.0) / echo) >= OVER_ECHO_DB
