"""TwiML documents, built with the Twilio SDK so we never hand-write XML."""

from __future__ import annotations

from twilio.twiml.voice_response import Connect, VoiceResponse

from ivr.call.record import Outcome
from ivr.config import Settings
from ivr.rules.schema import Target


def connect_stream(settings: Settings, token: str, language: str, *, resume: bool = False) -> str:
    """Answer an incoming call by opening a bidirectional Media Stream to us (``resume``: a new stream for a call
    whose stream was lost, which picks the dialog up where it was)."""
    response = VoiceResponse()
    connect = Connect(action=settings.url("/twilio/after-stream"), method="POST")
    stream = connect.stream(url=settings.stream_url)
    stream.parameter(name="token", value=token)
    stream.parameter(name="language", value=language)
    if resume:
        stream.parameter(name="resume", value="1")
    response.append(connect)
    return str(response)


def after_stream(outcome: Outcome | None, default_target: Target) -> str:
    """What the call does once the automated part is over without a briefed transfer. No outcome (the stream
    broke) → a person at the rules' ``default`` target, not silence."""
    response = VoiceResponse()
    if outcome is not None and outcome.kind == "hangup":
        response.hangup()
    else:
        _to_person(response, default_target)
    return str(response)


def busy_handoff(announcement_url: str, default_target: Target) -> str:
    """A server already at its call limit: one honest sentence, then straight to a person — never a slow queue."""
    response = VoiceResponse()
    response.play(announcement_url)
    _to_person(response, default_target)
    return str(response)


def _to_person(response: VoiceResponse, target: Target) -> None:
    if target.type == "phone":
        response.dial(target.number)
    elif target.type == "sip":
        response.dial().sip(target.uri)
    else:
        response.enqueue(workflow_sid=target.workflow_sid)


def empty() -> str:
    return str(VoiceResponse())
