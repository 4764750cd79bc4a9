"""A stream may send audio as fast as a phone line (with jitter), never faster; frames are bounded in size."""

from __future__ import annotations

import base64
import json

import pytest

from ivr.call.inbound import AudioRateLimit
from ivr.telephony.protocol import MAX_FRAME_CHARS, ProtocolError, parse_inbound


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_audio_at_line_rate_is_always_admitted() -> None:
    clock = Clock()
    limit = AudioRateLimit("CA1", clock=clock)
    for _ in range(50 * 60):  # a minute of 20 ms frames, in real time
        clock.now += 0.02
        assert limit.admit(160)
    assert limit.dropped_bytes == 0


def test_a_burst_passes_but_a_flood_is_dropped() -> None:
    clock = Clock()
    limit = AudioRateLimit("CA1", clock=clock)
    admitted = sum(limit.admit(160) for _ in range(50 * 60))  # a minute of audio, all at once
    assert 90 <= admitted <= 101  # ~2 s of burst
    assert limit.dropped_bytes == (3000 - admitted) * 160


def test_a_simulated_line_at_twice_real_time_is_not_throttled() -> None:
    clock = Clock()
    limit = AudioRateLimit("CA1", speed=2.0, clock=clock)
    for _ in range(3000):
        clock.now += 0.01
        assert limit.admit(160)


@pytest.mark.parametrize(
    "raw",
    [
        "x" * (MAX_FRAME_CHARS + 1),
        "[" * 8000 + "]" * 8000,  # under the size cap, far over any nesting Python parses
    ],
)
def test_oversized_or_deeply_nested_frames_are_protocol_errors(raw: str) -> None:
    with pytest.raises(ProtocolError):
        parse_inbound(raw)


def test_a_media_frame_holding_more_than_a_second_is_refused() -> None:
    payload = base64.b64encode(bytes(9000)).decode()
    frame = parse_inbound(json.dumps({"event": "media", "media": {"payload": payload}}))
    with pytest.raises(ProtocolError, match="more than a second"):
        frame.audio()  # type: ignore[union-attr]
