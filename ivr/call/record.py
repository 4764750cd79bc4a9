"""What happened on a call, as it happens: the live record the session writes and the webhooks read.

The media stream and the ``<Connect action>`` webhook are separate requests; the record is how the second learns what
the first decided (transfer or goodbye). Kept behind a small interface: :class:`CallRegistry` holds it in this
process (the embedded default); :class:`ivr.call.shared.RedisCallRegistry` keeps it in Redis for several instances.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import BaseModel, Field

from ivr.callers import PreviousCall

if TYPE_CHECKING:
    from ivr.call.progress import Progress

log = logging.getLogger(__name__)

#: ``assist_caller``/``assist_agent``: the human part of a transferred call, heard by agent assist
EventKind = Literal[
    "prompt", "caller", "dtmf", "action", "barge_in", "error", "no_input", "assist_caller", "assist_agent"
]


class CallEvent(BaseModel):
    """One line of the conversation as the simulator and (later) the console show it."""

    at: float = Field(description="seconds since the call started")
    kind: EventKind
    text: str = ""
    key: str = ""
    confidence: float | None = None
    intent: str | None = None
    detail: str = ""
    recognition: float | None = None
    distress: float | None = None
    reasons: list[str] = Field(default_factory=list)
    #: For a caller turn: what the dialog listened for ("free", "digits", "yes_no"); answers to a grammar step
    #: are never missed utterances.
    expects: str = ""


class Outcome(BaseModel):
    """How the automated part ended."""

    kind: Literal["transfer", "hangup"]
    reason: str = ""
    detail: str = ""
    rule: str = ""
    target_name: str = ""
    transfer_id: str = ""
    #: the order the call was about, once given (caller memory)
    order_number: str = ""


class CallbackRequest(BaseModel):
    """A caller nobody could answer asked to be called back, or left a message."""

    at: float = Field(default_factory=time.time)
    kind: Literal["callback", "voicemail"]
    recording_url: str = ""


TransferStepKind = Literal[
    "queued",  # the caller waits on hold for a colleague
    "dialled",  # a colleague's phone is called (one attempt per target)
    "answered",  # a person (as far as we can tell) picked up and hears the summary
    "machine",  # voicemail, a fax or another IVR picked up: the summary is not read into it
    "accepted",  # the colleague pressed 1 and is bridged to the caller
    "declined",  # the colleague pressed another key
    "no_key",  # the colleague pressed nothing in time
    "busy",
    "no-answer",
    "failed",
    "canceled",  # we cancelled the colleague's phone (the caller had left)
    "unreachable",  # every target was tried: the caller hears the offer
    "abandoned",  # the caller hung up while waiting
    "bridged",  # the caller and the colleague are talking
    "back_to_bot",  # the caller chose to go back to Warmline
]
#: steps after which the colleague's attempt is over without a conversation: try the next target
ATTEMPT_FAILED: frozenset[str] = frozenset({"machine", "declined", "no_key", "busy", "no-answer", "failed"})


class TransferStep(BaseModel):
    """One thing that happened while a transfer tried to reach a person, for the console's call page."""

    at: float = Field(default_factory=time.time)
    kind: TransferStepKind
    #: which attempt (0 = the rule's target, 1 = its first fallback, …)
    attempt: int = 0
    target_name: str = ""
    detail: str = ""


class FallbackTarget(BaseModel):
    """A target to try when the one before it did not take the call."""

    name: str
    target: dict[str, str]


class TransferRecord(BaseModel):
    """One warm transfer: who it went to, why, and the colleague's briefing."""

    transfer_id: str
    call_sid: str
    language: str
    created: float = Field(default_factory=time.time)
    rule: str
    reason: str
    code: str
    target_name: str
    target: dict[str, str]
    priority: int
    intent: str | None = None
    summary: str = ""
    summary_language: str = ""
    summary_audio: str = ""  # path of the rendered WAV
    transcript: list[str] = Field(default_factory=list)  # redacted, "Beller: …" / "Warmline: …"
    distress: float = 0.0
    distress_reasons: list[str] = Field(default_factory=list)
    recognition: float = 1.0
    status: str = "pending"  # pending → answered | no-answer | busy | failed …
    callbacks: list[CallbackRequest] = Field(default_factory=list)
    #: tried in order when the target does not take the call (the rule's ``fallbacks``)
    fallbacks: list[FallbackTarget] = Field(default_factory=list)
    #: what happened while reaching a person, in order (dialled, answered, accepted, declined, …)
    steps: list[TransferStep] = Field(default_factory=list)
    #: the colleague's call leg of the current attempt (Twilio call SID), to cancel it if the caller leaves
    agent_call_sid: str = ""
    #: the service line the caller rang: the number colleagues see when Warmline rings them
    line_number: str = ""

    def attempt_targets(self) -> list[FallbackTarget]:
        """The targets in the order they are tried: the rule's, then its fallbacks."""
        return [FallbackTarget(name=self.target_name, target=self.target), *self.fallbacks]

    def has_step(self, kind: str, attempt: int | None = None) -> bool:
        return any(s.kind == kind and (attempt is None or s.attempt == attempt) for s in self.steps)

    @property
    def taken(self) -> bool:
        """A colleague has the call: they pressed 1 (phone, SIP), or TaskRouter's own agents take it from there."""
        return self.target.get("type") == "taskrouter" or self.has_step("accepted")

    @property
    def attempt(self) -> int:
        """The attempt under way (or the last one)."""
        return max((s.attempt for s in self.steps if s.kind == "dialled"), default=0)

    @property
    def waited_s(self) -> float | None:
        """How long the caller waited on hold, once it is over (bridged, abandoned or unreachable)."""
        start = next((s.at for s in self.steps if s.kind == "queued"), None)
        end = next((s.at for s in self.steps if s.kind in ("bridged", "abandoned", "unreachable")), None)
        return None if start is None or end is None else round(end - start, 1)


class CallRecord(BaseModel):
    call_sid: str
    language: str
    caller: str = ""
    #: caller memory: the keyed hash of the caller's number ("" when withheld or memory is off)
    caller_key: str = ""
    #: the same caller's earlier calls, newest first, looked up when the call came in
    history: list[PreviousCall] = Field(default_factory=list)
    started: float = Field(default_factory=time.time)
    ended: float | None = None
    status: str = "in-progress"
    outcome: Outcome | None = None
    events: list[CallEvent] = Field(default_factory=list)


def event_line(event: CallEvent) -> str:
    """One log line for a call event: what happened and the signals, never what the caller said or keyed in
    (logs are kept longer and more widely than the redacted store)."""
    if event.kind == "prompt":
        return f"said {event.key or 'prompt'}"
    if event.kind == "caller":
        parts = [f"intent {event.intent or '-'}"]
        if event.confidence is not None:
            parts.append(f"confidence {event.confidence:.2f}")
        if event.distress is not None:
            parts.append(f"distress {event.distress:.2f}")
        failed = f", failed: {event.detail}" if event.detail else ""
        return f"caller spoke ({', '.join(parts)}{failed})"
    if event.kind == "dtmf":
        return "caller pressed a key"
    return f"{event.kind.replace('_', ' ')}{f': {event.detail}' if event.detail else ''}"


class CallSink(Protocol):
    """Told about every change to a call, in order (e.g. the durable store's writer).

    Called while the registry holds its lock, from whatever thread changed the call — often the event loop — so an
    implementation must only hand the change over (a queue put), never do I/O. Values must not be mutated.
    """

    def call_opened(self, record: CallRecord) -> None: ...

    def event_added(self, call_sid: str, seq: int, event: CallEvent) -> None: ...

    def outcome_set(self, call_sid: str, outcome: Outcome) -> None: ...

    def call_finished(self, call_sid: str, status: str, ended: float) -> None: ...

    def transfer_added(self, transfer: TransferRecord) -> None: ...

    def transfer_updated(self, transfer: TransferRecord) -> None: ...

    def callback_added(self, transfer_id: str, request: CallbackRequest) -> None: ...


@dataclass(frozen=True)
class Sinks:
    """Several sinks as one (the store writer, the metrics counters), told in order."""

    sinks: tuple[CallSink, ...]

    def call_opened(self, record: CallRecord) -> None:
        for sink in self.sinks:
            sink.call_opened(record)

    def event_added(self, call_sid: str, seq: int, event: CallEvent) -> None:
        for sink in self.sinks:
            sink.event_added(call_sid, seq, event)

    def outcome_set(self, call_sid: str, outcome: Outcome) -> None:
        for sink in self.sinks:
            sink.outcome_set(call_sid, outcome)

    def call_finished(self, call_sid: str, status: str, ended: float) -> None:
        for sink in self.sinks:
            sink.call_finished(call_sid, status, ended)

    def transfer_added(self, transfer: TransferRecord) -> None:
        for sink in self.sinks:
            sink.transfer_added(transfer)

    def transfer_updated(self, transfer: TransferRecord) -> None:
        for sink in self.sinks:
            sink.transfer_updated(transfer)

    def callback_added(self, transfer_id: str, request: CallbackRequest) -> None:
        for sink in self.sinks:
            sink.callback_added(transfer_id, request)


def _as_is(text: str) -> str:
    return text


#: how long a finished call stays readable in memory (late webhooks: after-stream, dial status, call-back)
FINISHED_GRACE_S = 600.0
#: a call whose end was never reported is forgotten after this (the store still has it)
MAX_AGE_S = 6 * 3600.0
_SWEEP_EVERY_S = 10.0


@dataclass
class CallRegistry:
    """In-process store of live call records and session counters (thread-safe; the admin reads it too).

    ``sink``, when set, hears every change (see :class:`CallSink`); a failing sink is logged and never fails a call.
    ``redact`` masks personal data in what callers said *before* it is kept here (or handed to the sink). Finished
    calls are forgotten after ``finished_grace_s`` (and any call after ``max_age_s``): memory holds live calls, the
    store holds history.
    """

    records: dict[str, CallRecord] = field(default_factory=dict)
    transfers: dict[str, TransferRecord] = field(default_factory=dict)
    active_sessions: int = 0
    live_recognizers: int = 0
    sink: CallSink | None = None
    #: calls with a media stream open right now: a call has at most one
    streams: set[str] = field(default_factory=set)
    #: each live call's dialog after its latest turn, for resuming on a new stream (see :mod:`ivr.call.progress`)
    progress: dict[str, Progress] = field(default_factory=dict)
    redact: Callable[[str], str] = _as_is
    finished_grace_s: float = FINISHED_GRACE_S
    max_age_s: float = MAX_AGE_S
    clock: Callable[[], float] = time.time
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _swept_at: float = 0.0

    def _sweep(self) -> None:
        """Forget finished (and very old) calls with their transfers; the lock is held."""
        now = self.clock()
        if now - self._swept_at < _SWEEP_EVERY_S:
            return
        self._swept_at = now
        gone = [
            sid
            for sid, record in self.records.items()
            if sid not in self.streams
            and (
                (record.ended is not None and now - record.ended > self.finished_grace_s)
                or now - record.started > self.max_age_s
            )
        ]
        for sid in gone:
            del self.records[sid]
            self.progress.pop(sid, None)
        if gone:
            forgotten = set(gone)
            for transfer_id in [t for t, transfer in self.transfers.items() if transfer.call_sid in forgotten]:
                del self.transfers[transfer_id]

    def _notify(self, tell: Callable[[CallSink], None]) -> None:
        """Pass a change to the sink (caller holds the lock, so the sink sees changes in the order they happened)."""
        if self.sink is None:
            return
        try:
            tell(self.sink)
        except Exception:
            log.exception("call sink failed; the call goes on")

    def open(
        self,
        call_sid: str,
        language: str,
        caller: str = "",
        *,
        caller_key: str = "",
        history: list[PreviousCall] | None = None,
    ) -> CallRecord:
        with self._lock:
            self._sweep()
            record = self.records.get(call_sid)
            if record is None:
                record = self._new_record(call_sid, language, caller, caller_key, history)
                self.records[call_sid] = record
                opened = record.model_copy()
                self._notify(lambda sink: sink.call_opened(opened))
            return record

    def _new_record(
        self, call_sid: str, language: str, caller: str, caller_key: str, history: list[PreviousCall] | None
    ) -> CallRecord:
        return CallRecord(
            call_sid=call_sid,
            language=language,
            caller=caller,
            caller_key=caller_key,
            history=history or [],
            started=self.clock(),
        )

    def get(self, call_sid: str) -> CallRecord | None:
        with self._lock:
            return self.records.get(call_sid)

    def add_event(self, call_sid: str, kind: EventKind, **values: object) -> None:
        with self._lock:
            record = self.records.get(call_sid)
            if record is None:
                return
            event = CallEvent.model_validate({"at": round(time.time() - record.started, 3), "kind": kind, **values})
            event.text = self.redact(event.text)
            event.detail = self.redact(event.detail)
            record.events.append(event)
            log.info("call %s: %s", call_sid, event_line(event))
            seq = len(record.events)
            self._notify(lambda sink: sink.event_added(call_sid, seq, event))

    def add_transfer(self, transfer: TransferRecord) -> None:
        with self._lock:
            self.transfers[transfer.transfer_id] = transfer
            added = transfer.model_copy(deep=True)
            self._notify(lambda sink: sink.transfer_added(added))

    def adopt(self, record: CallRecord, transfer: TransferRecord | None = None) -> None:
        """Take back a call (and its transfer) read from the store — after a restart, or from another instance.
        The sink is not told: the store has it already."""
        with self._lock:
            self.records.setdefault(record.call_sid, record)
            if transfer is not None:
                self.transfers.setdefault(transfer.transfer_id, transfer)

    def get_transfer(self, transfer_id: str) -> TransferRecord | None:
        with self._lock:
            return self.transfers.get(transfer_id)

    def transfer_for_call(self, call_sid: str) -> TransferRecord | None:
        with self._lock:
            record = self.records.get(call_sid)
            if record is None or record.outcome is None or not record.outcome.transfer_id:
                return None
            return self.transfers.get(record.outcome.transfer_id)

    def update_transfer(self, transfer_id: str, **values: object) -> TransferRecord | None:
        return self.change_transfer(transfer_id, lambda transfer: transfer.model_copy(update=values))

    def change_transfer(
        self, transfer_id: str, change: Callable[[TransferRecord], TransferRecord | None]
    ) -> TransferRecord | None:
        """Apply ``change`` atomically (two webhooks of one transfer may race, on different instances too) and
        return the new record; ``change`` returning None leaves the record as it is and returns None."""
        with self._lock:
            transfer = self.transfers.get(transfer_id)
            if transfer is None:
                return None
            updated = change(transfer.model_copy(deep=True))
            if updated is None:
                return None
            self.transfers[transfer_id] = updated
            snapshot = updated.model_copy(deep=True)
            self._notify(lambda sink: sink.transfer_updated(snapshot))
            return updated

    def add_callback(self, transfer_id: str, request: CallbackRequest) -> None:
        with self._lock:
            transfer = self.transfers.get(transfer_id)
            if transfer is not None:
                transfer.callbacks.append(request)
                self._notify(lambda sink: sink.callback_added(transfer_id, request))

    def set_outcome(self, call_sid: str, outcome: Outcome) -> None:
        with self._lock:
            record = self.records.get(call_sid)
            if record is not None and record.outcome is None:
                record.outcome = outcome
                where = f" → {outcome.target_name} (rule {outcome.rule})" if outcome.target_name else ""
                log.info("call %s: outcome %s: %s%s", call_sid, outcome.kind, outcome.reason, where)
                self._notify(lambda sink: sink.outcome_set(call_sid, outcome))

    def finish(self, call_sid: str, status: str) -> None:
        with self._lock:
            record = self.records.get(call_sid)
            if record is not None:
                record.status = status
                record.ended = record.ended or self.clock()
                log.info("call %s: ended %s after %.0f s", call_sid, status, record.ended - record.started)
                ended = record.ended
                self._notify(lambda sink: sink.call_finished(call_sid, status, ended))

    def claim_stream(self, call_sid: str) -> str | None:
        """Take the call's one live stream; the reason it is refused, or None. A call that already has a stream,
        or whose automated part is over (a decision taken, or the call ended), takes no new one."""
        with self._lock:
            if call_sid in self.streams:
                return "the call already has a live media stream"
            record = self.records.get(call_sid)
            if record is not None and (record.ended is not None or record.status != "in-progress"):
                return f"the call has ended ({record.status})"
            if record is not None and record.outcome is not None:
                return f"the call's automated part is over ({record.outcome.kind})"
            self.streams.add(call_sid)
            return None

    def save_progress(self, call_sid: str, progress: Progress) -> None:
        with self._lock:
            earlier = self.progress.get(call_sid)
            if earlier is not None:
                progress = replace(
                    progress,
                    resumes=max(earlier.resumes, progress.resumes),
                    planned=max(earlier.planned, progress.planned),
                )
            self.progress[call_sid] = progress

    def plan_handover(self, call_sid: str) -> None:
        """This instance is draining and hands the call over on purpose: the resume that follows is not a loss."""
        with self._lock:
            progress = self.progress.get(call_sid)
            if progress is not None:
                self.progress[call_sid] = replace(progress, planned=progress.planned + 1)

    def take_resume(self, call_sid: str) -> Progress | None:
        """The progress to resume a lost stream from, counting the resume — or None when the call may not resume
        (unknown here, ended, or resumed before). Atomic: two after-stream requests cannot both resume."""
        with self._lock:
            progress = self.progress.get(call_sid)
            if progress is None or not progress.resumable:
                return None
            self.progress[call_sid] = replace(progress, resumes=progress.resumes + 1)
            return progress

    def back_to_bot(self, call_sid: str) -> Progress | None:
        """Nobody could take the transferred call and the caller chose to go on with Warmline: the automated part
        reopens (no outcome yet) and the progress to start the new stream from is returned — or None when there is
        nothing to go back to."""
        from ivr.call.progress import back_to_bot

        with self._lock:
            progress = self.progress.get(call_sid)
            record = self.records.get(call_sid)
            if progress is None or progress.back_state is None or record is None or record.ended is not None:
                return None
            back = back_to_bot(progress)
            self.progress[call_sid] = back
            record.outcome = None
            return back

    def resuming(self, call_sid: str) -> Progress | None:
        """The progress a resumed stream starts from (after :meth:`take_resume` granted it)."""
        with self._lock:
            progress = self.progress.get(call_sid)
            return progress if progress is not None and progress.resumes > 0 else None

    def release_stream(self, call_sid: str) -> None:
        with self._lock:
            self.streams.discard(call_sid)

    def stream_ended(self, call_sid: str) -> None:
        """Twilio reports the call's stream over (the after-stream webhook): whatever claim is left on it — a killed
        server's — is stale, and must not keep a resumed stream out."""
        self.release_stream(call_sid)

    def renew_claims(self) -> int:
        """Keep this instance's stream claims alive; in one process a claim lives as long as the process."""
        with self._lock:
            return len(self.streams)

    def session_opened(self) -> None:
        with self._lock:
            self.active_sessions += 1

    def session_closed(self) -> None:
        with self._lock:
            self.active_sessions -= 1

    def recognizer_opened(self) -> None:
        with self._lock:
            self.live_recognizers += 1

    def recognizer_closed(self) -> None:
        with self._lock:
            self.live_recognizers -= 1
