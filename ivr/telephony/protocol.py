"""Twilio Media Streams wire protocol ⇄ typed frames.

The one place that knows the JSON shapes Twilio documents for bidirectional streams. Everything past this module sees
typed messages with decoded audio; a frame that does not parse raises ``ProtocolError`` so the caller can log and
skip it.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ivr.errors import IvrError


class ProtocolError(IvrError):
    """A frame that is not valid Media Streams JSON."""


class _Frame(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class MediaFormat(_Frame):
    encoding: str = "audio/x-mulaw"
    sample_rate: int = Field(8000, alias="sampleRate")
    channels: int = 1


class StartInfo(_Frame):
    account_sid: str = Field("", alias="accountSid")
    stream_sid: str = Field(alias="streamSid")
    call_sid: str = Field(alias="callSid")
    tracks: list[str] = Field(default_factory=lambda: ["inbound"])
    custom_parameters: dict[str, str] = Field(default_factory=dict, alias="customParameters")
    media_format: MediaFormat = Field(default_factory=lambda: MediaFormat.model_validate({}), alias="mediaFormat")


class MediaInfo(_Frame):
    track: str = "inbound"
    chunk: str = "0"
    timestamp: str = "0"
    payload: str


class DtmfInfo(_Frame):
    track: str = "inbound_track"
    digit: str


class MarkInfo(_Frame):
    name: str


class StopInfo(_Frame):
    account_sid: str = Field("", alias="accountSid")
    call_sid: str = Field("", alias="callSid")


class Connected(_Frame):
    event: Literal["connected"]
    protocol: str = "Call"
    version: str = "1.0.0"


class _StreamFrame(_Frame):
    """A frame that belongs to one stream and has its place in it."""

    sequence_number: str = Field("0", alias="sequenceNumber")
    stream_sid: str = Field("", alias="streamSid")


class Start(_StreamFrame):
    event: Literal["start"]
    start: StartInfo


class Media(_StreamFrame):
    event: Literal["media"]
    media: MediaInfo

    def audio(self) -> bytes:
        """The μ-law payload, decoded; invalid base64 is a protocol error, not a crash."""
        if len(self.media.payload) > MAX_MEDIA_BYTES * 4 // 3 + 4:
            raise ProtocolError(f"media payload of {len(self.media.payload)} characters holds more than a second")
        try:
            return base64.b64decode(self.media.payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError(f"media payload is not valid base64: {exc}") from exc


class Dtmf(_StreamFrame):
    event: Literal["dtmf"]
    dtmf: DtmfInfo


class Mark(_StreamFrame):
    event: Literal["mark"]
    mark: MarkInfo


class Stop(_StreamFrame):
    event: Literal["stop"]
    stop: StopInfo = Field(default_factory=lambda: StopInfo.model_validate({}))


InboundFrame = Annotated[Connected | Start | Media | Dtmf | Mark | Stop, Field(discriminator="event")]
_INBOUND: TypeAdapter[Connected | Start | Media | Dtmf | Mark | Stop] = TypeAdapter(InboundFrame)


#: Twilio's largest frame is a ``start`` with custom parameters (~1–2 KB); a 20 ms media frame is ~300 characters.
MAX_FRAME_CHARS = 16_384
#: one media frame carries 20 ms (160 bytes); more than a second in one frame is not a phone line
MAX_MEDIA_BYTES = 8000


def parse_inbound(raw: str | bytes) -> Connected | Start | Media | Dtmf | Mark | Stop:
    """Parse one frame Twilio sent us. Raises ProtocolError with a short reason (oversized, not JSON, too deeply
    nested, or not a Media Streams frame): the caller logs and skips it."""
    if len(raw) > MAX_FRAME_CHARS:
        raise ProtocolError(
            f"frame of {len(raw)} characters is larger than any Media Streams frame ({MAX_FRAME_CHARS})"
        )
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"frame is not JSON: {exc.msg if hasattr(exc, 'msg') else exc}") from exc
    except RecursionError as exc:
        raise ProtocolError("frame is JSON nested too deeply") from exc
    try:
        return _INBOUND.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProtocolError(f"frame does not match the Media Streams protocol: {where}: {first['msg']}") from exc


# ── outbound (us → Twilio) ──────────────────────────────────────────────────────────────────────────────────
def media_frame(stream_sid: str, ulaw: bytes) -> str:
    payload = base64.b64encode(ulaw).decode("ascii")
    return json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}})


def mark_frame(stream_sid: str, name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_frame(stream_sid: str) -> str:
    return json.dumps({"event": "clear", "streamSid": stream_sid})
