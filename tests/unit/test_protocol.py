"""The Media Streams serializer: Twilio's documented frames in, typed frames out, bad frames rejected clearly."""

from __future__ import annotations

import base64
import json

import pytest

from ivr.telephony.protocol import (
    Dtmf,
    Mark,
    Media,
    ProtocolError,
    Start,
    Stop,
    clear_frame,
    mark_frame,
    media_frame,
    parse_inbound,
)

START = {
    "event": "start",
    "sequenceNumber": "1",
    "start": {
        "accountSid": "AC123",
        "streamSid": "MZ123",
        "callSid": "CA123",
        "tracks": ["inbound"],
        "customParameters": {"token": "abc"},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    },
    "streamSid": "MZ123",
}


def test_start_frame_carries_call_stream_and_custom_parameters() -> None:
    frame = parse_inbound(json.dumps(START))
    assert isinstance(frame, Start)
    assert (frame.start.call_sid, frame.start.stream_sid) == ("CA123", "MZ123")
    assert frame.start.custom_parameters == {"token": "abc"}
    assert frame.start.media_format.sample_rate == 8000


def test_media_frame_decodes_its_base64_payload() -> None:
    raw = {"event": "media", "streamSid": "MZ1", "media": {"track": "inbound", "payload": "//8A"}}
    frame = parse_inbound(json.dumps(raw))
    assert isinstance(frame, Media)
    assert frame.audio() == b"\xff\xff\x00"


def test_dtmf_mark_and_stop_frames_parse() -> None:
    dtmf = parse_inbound('{"event":"dtmf","streamSid":"MZ","dtmf":{"track":"inbound_track","digit":"0"}}')
    mark = parse_inbound('{"event":"mark","streamSid":"MZ","mark":{"name":"1:greeting"}}')
    stop = parse_inbound('{"event":"stop","streamSid":"MZ","stop":{"accountSid":"AC","callSid":"CA"}}')
    assert isinstance(dtmf, Dtmf) and dtmf.dtmf.digit == "0"
    assert isinstance(mark, Mark) and mark.mark.name == "1:greeting"
    assert isinstance(stop, Stop) and stop.stop.call_sid == "CA"


@pytest.mark.parametrize(
    "raw",
    ["{not json", '{"event":"media","media":{}}', '{"event":"teleport"}', "[]", b"\xff\xfe"],
)
def test_malformed_frames_raise_protocol_error(raw: str | bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_inbound(raw)


def test_invalid_base64_is_a_protocol_error_not_a_crash() -> None:
    frame = parse_inbound('{"event":"media","media":{"payload":"***not base64***"}}')
    assert isinstance(frame, Media)
    with pytest.raises(ProtocolError):
        frame.audio()


def test_outbound_frames_match_the_documented_shapes() -> None:
    media = json.loads(media_frame("MZ1", b"\x00\xff"))
    assert media == {
        "event": "media",
        "streamSid": "MZ1",
        "media": {"payload": base64.b64encode(b"\x00\xff").decode()},
    }
    assert json.loads(mark_frame("MZ1", "n")) == {"event": "mark", "streamSid": "MZ1", "mark": {"name": "n"}}
    assert json.loads(clear_frame("MZ1")) == {"event": "clear", "streamSid": "MZ1"}
