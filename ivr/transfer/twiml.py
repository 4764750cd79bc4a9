"""TwiML for the warm transfer: hold the caller in a queue while the colleague hears the summary and accepts (or a
TaskRouter queue with its briefing), and never leave the caller at a dead end when nobody answers.

Pure builders on the Twilio SDK (``twilio.twiml.voice_response``), never hand-written XML. Everything the caller or
agent hears is ``<Play>`` of audio we rendered ourselves from ``grammars/<lang>/…`` text — not Twilio's ``<Say>``,
whose voices and pronunciation we do not control — so every URL is a parameter.

Targets are taken structurally (:class:`PhoneDestination`, :class:`SipDestination`, :class:`QueueDestination`): the
supervisors' rule targets fit as they are, and this module does not care how the rules are written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from twilio.twiml.voice_response import Dial, Enqueue, Gather, VoiceResponse

from ivr.transfer.redact import redact

#: How long the voicemail may be, in seconds.
VOICEMAIL_MAX_S = 120
#: Seconds the caller has to press 1 after the offer before the voicemail beep.
CALLBACK_KEY_TIMEOUT_S = 5
#: Dial / queue outcomes after which the caller has spoken to a person (or left): the call is done.
_CONNECTED_STATUSES = frozenset(
    {
        "completed",  # DialCallStatus: the colleague answered and the conversation ended
        "answered",  # DialCallStatus when the dialled party answered
        "bridged",  # QueueResult: a colleague took the call from the TaskRouter queue
        "hangup",  # QueueResult: the caller hung up while waiting
    }
)
#: Conservative ceiling for the JSON in ``<Task>``; TaskRouter limits attribute size, the agent page has the rest.
TASK_ATTRIBUTES_MAX_CHARS = 4000


# ── targets, as this module needs them ────────────────────────────────────────────────────────────────────
class PhoneDestination(Protocol):
    """A colleague's phone (E.164)."""

    @property
    def type(self) -> Literal["phone"]: ...

    @property
    def number(self) -> str: ...


class SipDestination(Protocol):
    """A SIP address: a PBX queue or a softphone."""

    @property
    def type(self) -> Literal["sip"]: ...

    @property
    def uri(self) -> str: ...


class QueueDestination(Protocol):
    """A Twilio TaskRouter workflow; agents take the call from their queue."""

    @property
    def type(self) -> Literal["taskrouter"]: ...

    @property
    def workflow_sid(self) -> str: ...


TransferTarget = PhoneDestination | SipDestination | QueueDestination


# ── building blocks ───────────────────────────────────────────────────────────────────────────────────────
def handover_task_attributes(
    *,
    transfer_id: str,
    language: str,
    intent: str | None,
    summary: str,
    transcript: Sequence[str],
    distress: float,
    distress_reasons: Sequence[str] = (),
    recognition: float = 1.0,
    rule: str = "",
    agent_url: str | None = None,
    max_chars: int = TASK_ATTRIBUTES_MAX_CHARS,
) -> dict[str, object]:
    """The TaskRouter task attributes for a queued transfer: the same briefing a dialled colleague gets.

    The transcript is redacted here again (redaction is idempotent) because these attributes leave our systems.
    When the JSON would be too large, the oldest transcript lines go first — the opening of a call is the least
    useful part for the colleague, and ``agent_url`` leads to the whole of it.
    """
    lines = [redact(line) for line in transcript]
    attributes: dict[str, object] = {
        "transfer_id": transfer_id,
        "language": language,
        "intent": intent,
        "summary": redact(summary),
        "rule": rule,
        "signals": {
            "distress": round(distress, 3),
            "distress_reasons": list(distress_reasons),
            "recognition": round(recognition, 3),
        },
        "transcript": lines,
    }
    if agent_url is not None:
        attributes["agent_url"] = agent_url
    dropped = 0
    while lines and len(task_json(attributes)) > max_chars:
        lines.pop(0)
        dropped += 1
        attributes["transcript_lines_dropped"] = dropped
    return attributes


def task_json(attributes: Mapping[str, object]) -> str:
    """Compact JSON for ``<Task>``: TaskRouter counts whitespace against its size limit."""
    return json.dumps(attributes, ensure_ascii=False, separators=(",", ":"))


# ── documents ─────────────────────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True, slots=True)
class AssistFork:
    """A copy of the call's audio, both directions, for agent assist: Twilio's ``<Start><Stream>`` (one-way, next
    to whatever the call does) to ``url``, named so it can be stopped, with the signed ``parameters`` that say
    which transfer it belongs to."""

    url: str
    name: str
    parameters: Mapping[str, str] = field(default_factory=dict)


def fork_name(transfer_id: str) -> str:
    return f"assist-{transfer_id}"


def _start_fork(response: VoiceResponse, fork: AssistFork | None) -> None:
    if fork is None:
        return
    stream = response.start().stream(url=fork.url, track="both_tracks", name=fork.name)
    for name, value in fork.parameters.items():
        stream.parameter(name=name, value=value)


def queue_name(transfer_id: str) -> str:
    """The Twilio queue a caller waits in for the colleague of one transfer (one queue per transfer, so the
    colleague who accepts is bridged to exactly this caller)."""
    return f"warmline-{transfer_id}"


def transfer_twiml(
    target: TransferTarget,
    *,
    transfer_id: str,
    wait_url: str,
    dial_action_url: str,
    language: str,
    task_attributes: Mapping[str, object] | None = None,
    priority: int | None = None,
    fork: AssistFork | None = None,
) -> str:
    """Hand the caller to a person: they wait on hold, never in silence, while a person is found.

    A TaskRouter target enqueues the call with the briefing as task attributes (``language`` is added when
    missing) and ``priority`` as the task priority. A phone or SIP target enqueues the call in the transfer's own
    queue (:func:`queue_name`); the server rings the colleague (REST, with machine detection), who hears the summary
    and accepts with 1 (:func:`agent_briefing_twiml`), which dequeues the caller (:func:`agent_bridge_twiml`).
    Either way Twilio plays ``wait_url`` to the caller while they wait, and asks ``dial_action_url`` what next
    when the wait ends — where :func:`dial_result_twiml` turns "nobody took it" into an offer instead of silence.

    ``fork`` starts first: the agent-assist copy of both sides of the call, which runs until the call ends (or
    the offer stops it). Warmline listens to it only once a colleague has taken the call.
    """
    response = VoiceResponse()
    _start_fork(response, fork)
    waiting = {"wait_url": wait_url, "wait_url_method": "POST", "action": dial_action_url, "method": "POST"}
    if target.type == "taskrouter":
        attributes = {"language": language, **(task_attributes or {})}
        enqueue = Enqueue(workflow_sid=target.workflow_sid, **waiting)
        enqueue.task(task_json(attributes), priority=priority)
        response.append(enqueue)
        return str(response)
    response.append(Enqueue(queue_name(transfer_id), **waiting))
    return str(response)


def hold_twiml(audio_urls: Sequence[str], music_url: str, plays: int = 1) -> str:
    """What a caller waiting for a colleague hears: what is happening (``audio_urls``: still connected, or that
    another colleague is being tried), then the hold chime ``plays`` times. Twilio asks again when it ends, so the
    news comes back every round (~13 s) and a change (nobody could take the call) is heard within one round."""
    response = VoiceResponse()
    for url in audio_urls:
        response.play(url)
    response.play(music_url, loop=plays)
    return str(response)


def leave_queue_twiml() -> str:
    """Out of the queue: Twilio then asks the ``<Enqueue action>``, which makes the caller the offer."""
    response = VoiceResponse()
    response.leave()
    return str(response)


def agent_briefing_twiml(summary_audio_url: str, accept_audio_url: str, *, key_action_url: str, wait_s: int) -> str:
    """Played to the colleague (not the caller) when they pick up: the spoken summary, then "press 1 to take the
    call". Any key — or none within ``wait_s`` (``actionOnEmptyResult``) — goes to ``key_action_url``."""
    response = VoiceResponse()
    gather = Gather(
        input="dtmf",
        num_digits=1,
        timeout=wait_s,
        action=key_action_url,
        method="POST",
        action_on_empty_result=True,
    )
    gather.play(summary_audio_url)
    gather.play(accept_audio_url)
    response.append(gather)
    return str(response)


def agent_bridge_twiml(transfer_id: str) -> str:
    """The colleague accepted: take the caller out of the transfer's queue and connect the two."""
    response = VoiceResponse()
    dial = Dial()
    dial.queue(queue_name(transfer_id))
    response.append(dial)
    return str(response)


def agent_hang_up_twiml(prompt_audio_url: str | None = None) -> str:
    """End the colleague's leg (declined, too late, or a machine answered — then nothing is played at all)."""
    response = VoiceResponse()
    if prompt_audio_url:
        response.play(prompt_audio_url)
    response.hangup()
    return str(response)


def is_connected(dial_status: str) -> bool:
    """Whether a ``DialCallStatus`` / ``QueueResult`` means the caller reached a person (or left)."""
    return dial_status.strip().lower() in _CONNECTED_STATUSES


def dial_result_twiml(
    dial_status: str,
    *,
    prompt_audio_urls: Sequence[str],
    record_action_url: str,
    callback_action_url: str,
    stop_fork: str | None = None,
) -> str:
    """The answer to the ``<Dial action>`` / ``<Enqueue action>`` request.

    After a conversation the call simply ends. Otherwise (no-answer, busy, failed, canceled, a full queue, or a
    status we do not know — better an offer too many than a dead end) the caller hears the offer in
    ``prompt_audio_urls`` ("press 1 to be called back, or leave a message after the tone"): a key press goes to
    ``callback_action_url``; silence falls through to a voicemail that is posted to ``record_action_url``.
    ``stop_fork`` names the agent-assist fork to stop first: nobody is there to assist.
    """
    response = VoiceResponse()
    if is_connected(dial_status):
        response.hangup()
        return str(response)
    if not prompt_audio_urls:
        raise ValueError("the call-back offer needs at least one prompt audio URL")
    if stop_fork:
        response.stop().stream(name=stop_fork)
    gather = Gather(
        input="dtmf", num_digits=1, action=callback_action_url, method="POST", timeout=CALLBACK_KEY_TIMEOUT_S
    )
    for url in prompt_audio_urls:
        gather.play(url)
    response.append(gather)
    response.record(
        action=record_action_url, method="POST", max_length=VOICEMAIL_MAX_S, play_beep=True, trim="trim-silence"
    )
    # An empty recording does not call the action URL but falls through: end the call cleanly.
    response.hangup()
    return str(response)


def callback_confirmed_twiml(prompt_audio_url: str) -> str:
    """Confirm the call-back (or the saved voicemail) and end the call."""
    response = VoiceResponse()
    response.play(prompt_audio_url)
    response.hangup()
    return str(response)
