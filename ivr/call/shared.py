"""Live call state in Redis, so any instance behind the load balancer can answer any request for any call.

The same :class:`~ivr.call.record.CallRegistry` interface as the in-process registry, with Redis as the one truth:
``/twilio/voice`` on instance A opens the call, the media stream on B adds turns and the outcome, and
``/twilio/after-stream`` on C reads them a millisecond later. What is per instance stays local (sessions and
recognisers in use: admission is each instance's own business).

Layout (every key under ``prefix``, each with a TTL a little longer than the longest call, shortened once a call
ends — the durable store keeps the history):

- ``call:<sid>`` — hash: ``record`` (the call's opening facts, JSON), ``started``, ``status``, ``ended``,
  ``outcome`` (JSON, set once), ``progress`` (the dialog after its latest turn, JSON), ``resumes`` (a counter);
- ``call:<sid>:events`` — list of the conversation's lines (JSON), so an event's position is its sequence number;
- ``call:<sid>:stream`` — the instance holding the call's one media stream, with an expiry renewed by a heartbeat;
- ``transfer:<id>`` — the transfer briefing (JSON), changed by optimistic transactions.

The client is the synchronous one: the registry is called from the event loop and from worker threads, and a write
must have landed before the stream that made it closes (the next webhook may come to another instance at once).
A loopback round trip is ~0.1 ms; ``bench/redis_registry.py`` measures what that adds per turn.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, cast

import redis
from pydantic import TypeAdapter

from ivr.call.progress import MAX_RESUMES, Progress, back_to_bot
from ivr.call.record import (
    FINISHED_GRACE_S,
    CallbackRequest,
    CallEvent,
    CallRecord,
    CallRegistry,
    EventKind,
    Outcome,
    TransferRecord,
    event_line,
)
from ivr.callers import PreviousCall

#: a client made by :func:`connect` (``decode_responses=True``: every reply is text)
Redis = redis.Redis

log = logging.getLogger(__name__)

_PROGRESS = TypeAdapter(Progress)
#: a live call's keys outlive its longest possible length by this much
_TTL_MARGIN_S = 600.0

# Renew or drop the stream claim only while it is still ours (another instance may hold it by now).
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def connect(url: str) -> Redis:
    """A client for ``url`` that answers in text; fails here, at start-up, when Redis is unreachable."""
    client: Redis = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5, socket_connect_timeout=5)
    client.ping()
    return client


@dataclass(kw_only=True)
class RedisCallRegistry(CallRegistry):
    """Live calls in Redis (see the module docstring); ``instance_id`` names this process in stream claims."""

    client: Redis
    instance_id: str
    prefix: str = "warmline:"
    claim_s: float = 15.0
    #: the ``started`` of calls seen here: it never changes, and every event needs it
    _started: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._renew = self.client.register_script(_RENEW)
        self._release = self.client.register_script(_RELEASE)

    # keys
    def _call(self, sid: str) -> str:
        return f"{self.prefix}call:{sid}"

    def _events(self, sid: str) -> str:
        return f"{self.prefix}call:{sid}:events"

    def _stream(self, sid: str) -> str:
        return f"{self.prefix}call:{sid}:stream"

    def _transfer(self, transfer_id: str) -> str:
        return f"{self.prefix}transfer:{transfer_id}"

    @property
    def _ttl(self) -> int:
        return int(self.max_age_s + _TTL_MARGIN_S)

    def _started_of(self, sid: str) -> float | None:
        started = self._started.get(sid)
        if started is None:
            value = self.client.hget(self._call(sid), "started")
            if value is None:
                return None
            started = float(value)
            if len(self._started) > 10_000:
                self._started.clear()  # bounded: a miss costs one round trip
            self._started[sid] = started
        return started

    def _write_call(self, record: CallRecord) -> bool:
        """Store a call's opening facts (and, for an adopted call, its state so far); False when it existed."""
        key = self._call(record.call_sid)
        facts = record.model_dump_json(include={"call_sid", "language", "caller", "started"})
        if not self.client.hsetnx(key, "record", facts):
            return False
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(key, mapping={"started": repr(record.started), "status": record.status})
        if record.ended is not None:
            pipe.hset(key, "ended", repr(record.ended))
        if record.outcome is not None:
            pipe.hset(key, "outcome", record.outcome.model_dump_json())
        if record.events:
            pipe.delete(self._events(record.call_sid))
            pipe.rpush(self._events(record.call_sid), *[event.model_dump_json() for event in record.events])
            pipe.expire(self._events(record.call_sid), self._ttl)
        pipe.expire(key, self._ttl)
        pipe.execute()
        self._started[record.call_sid] = record.started
        return True

    def open(
        self,
        call_sid: str,
        language: str,
        caller: str = "",
        *,
        caller_key: str = "",
        history: list[PreviousCall] | None = None,
    ) -> CallRecord:
        record = self._new_record(call_sid, language, caller, caller_key, history)
        with self._lock:
            if self._write_call(record):
                opened = record.model_copy()
                self._notify(lambda sink: sink.call_opened(opened))
                return record
        existing = self.get(call_sid)
        return existing if existing is not None else record

    def get(self, call_sid: str) -> CallRecord | None:
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(self._call(call_sid))
        pipe.lrange(self._events(call_sid), 0, -1)
        fields, events = pipe.execute()
        if not fields or "record" not in fields:
            return None
        record = CallRecord.model_validate_json(fields["record"])
        record.status = fields.get("status", record.status)
        if "ended" in fields:
            record.ended = float(fields["ended"])
        if "outcome" in fields:
            record.outcome = Outcome.model_validate_json(fields["outcome"])
        record.events = [CallEvent.model_validate_json(line) for line in events]
        return record

    def add_event(self, call_sid: str, kind: EventKind, **values: object) -> None:
        started = self._started_of(call_sid)
        if started is None:
            return
        event = CallEvent.model_validate({"at": round(time.time() - started, 3), "kind": kind, **values})
        event.text = self.redact(event.text)
        event.detail = self.redact(event.detail)
        with self._lock:
            pipe = self.client.pipeline(transaction=False)
            pipe.rpush(self._events(call_sid), event.model_dump_json())
            pipe.expire(self._events(call_sid), self._ttl)
            seq, _ = pipe.execute()
            log.info("call %s: %s", call_sid, event_line(event))
            self._notify(lambda sink: sink.event_added(call_sid, int(seq), event))

    def add_transfer(self, transfer: TransferRecord) -> None:
        with self._lock:
            self.client.set(self._transfer(transfer.transfer_id), transfer.model_dump_json(), ex=self._ttl)
            added = transfer.model_copy(deep=True)
            self._notify(lambda sink: sink.transfer_added(added))

    def adopt(self, record: CallRecord, transfer: TransferRecord | None = None) -> None:
        """Put back a call (and its transfer) read from the store, unless Redis has it; the sink is not told."""
        self._write_call(record)
        if transfer is not None:
            self.client.set(self._transfer(transfer.transfer_id), transfer.model_dump_json(), ex=self._ttl, nx=True)

    def get_transfer(self, transfer_id: str) -> TransferRecord | None:
        text = self.client.get(self._transfer(transfer_id))
        return TransferRecord.model_validate_json(text) if text else None

    def transfer_for_call(self, call_sid: str) -> TransferRecord | None:
        outcome = self.client.hget(self._call(call_sid), "outcome")
        if outcome is None:
            return None
        transfer_id = Outcome.model_validate_json(outcome).transfer_id
        return self.get_transfer(transfer_id) if transfer_id else None

    def _change_transfer(
        self, transfer_id: str, change: Callable[[TransferRecord], TransferRecord | None]
    ) -> TransferRecord | None:
        """Read, change, write back — retried when another instance changed it in between (WATCH)."""
        key = self._transfer(transfer_id)

        def apply(pipe: Any) -> TransferRecord | None:
            text = pipe.get(key)
            if not text:
                return None
            changed = change(TransferRecord.model_validate_json(text))
            if changed is None:
                return None
            pipe.multi()
            pipe.set(key, changed.model_dump_json(), keepttl=True)
            return changed

        result = self.client.transaction(apply, key, value_from_callable=True)  # type: ignore[arg-type]
        return cast(TransferRecord | None, result)

    def change_transfer(
        self, transfer_id: str, change: Callable[[TransferRecord], TransferRecord | None]
    ) -> TransferRecord | None:
        with self._lock:
            updated = self._change_transfer(transfer_id, change)
            if updated is not None:
                snapshot = updated.model_copy(deep=True)
                self._notify(lambda sink: sink.transfer_updated(snapshot))
            return updated

    def add_callback(self, transfer_id: str, request: CallbackRequest) -> None:
        def append(transfer: TransferRecord) -> TransferRecord:
            return transfer.model_copy(update={"callbacks": [*transfer.callbacks, request]})

        with self._lock:
            if self._change_transfer(transfer_id, append) is not None:
                self._notify(lambda sink: sink.callback_added(transfer_id, request))

    def set_outcome(self, call_sid: str, outcome: Outcome) -> None:
        key = self._call(call_sid)
        with self._lock:
            if not self.client.exists(key) or not self.client.hsetnx(key, "outcome", outcome.model_dump_json()):
                return
            where = f" → {outcome.target_name} (rule {outcome.rule})" if outcome.target_name else ""
            log.info("call %s: outcome %s: %s%s", call_sid, outcome.kind, outcome.reason, where)
            self._notify(lambda sink: sink.outcome_set(call_sid, outcome))

    def finish(self, call_sid: str, status: str) -> None:
        key = self._call(call_sid)
        with self._lock:
            started = self._started_of(call_sid)
            if started is None:
                return
            self.client.hsetnx(key, "ended", repr(self.clock()))
            pipe = self.client.pipeline(transaction=False)
            pipe.hset(key, "status", status)
            pipe.hget(key, "ended")
            pipe.hget(key, "outcome")
            # Late webhooks (dial status, call-back) may still come; after that the store answers.
            grace = int(self.finished_grace_s)
            pipe.expire(key, grace)
            pipe.expire(self._events(call_sid), grace)
            _, ended_text, outcome, _, _ = pipe.execute()
            if outcome:
                transfer_id = Outcome.model_validate_json(outcome).transfer_id
                if transfer_id:
                    self.client.expire(self._transfer(transfer_id), max(grace, int(FINISHED_GRACE_S)))
            ended = float(ended_text)
            self._started.pop(call_sid, None)
            log.info("call %s: ended %s after %.0f s", call_sid, status, ended - started)
            self._notify(lambda sink: sink.call_finished(call_sid, status, ended))

    def claim_stream(self, call_sid: str) -> str | None:
        """Take the call's one live stream for this instance (atomic, with an expiry the heartbeat renews)."""
        fields = self.client.hmget(self._call(call_sid), ["status", "ended", "outcome"])
        status, ended, outcome = (_text(value) for value in fields)
        if ended is not None or (status is not None and status != "in-progress"):
            return f"the call has ended ({status})"
        if outcome is not None:
            return f"the call's automated part is over ({Outcome.model_validate_json(outcome).kind})"
        claimed = self.client.set(self._stream(call_sid), self.instance_id, px=int(self.claim_s * 1000), nx=True)
        if not claimed:
            holder = _text(self.client.get(self._stream(call_sid))) or "another instance"
            return f"the call already has a live media stream (held by {holder})"
        with self._lock:
            self.streams.add(call_sid)
        return None

    def release_stream(self, call_sid: str) -> None:
        with self._lock:
            self.streams.discard(call_sid)
        self._release(keys=[self._stream(call_sid)], args=[self.instance_id])

    def stream_ended(self, call_sid: str) -> None:
        with self._lock:
            self.streams.discard(call_sid)
        self.client.delete(self._stream(call_sid))

    def spend_token(self, token: str, expires: int) -> bool:
        """A stream token opens one stream, whichever instance it reaches (see StreamTokens)."""
        digest = hashlib.sha256(token.encode()).hexdigest()[:32]
        return bool(self.client.set(f"{self.prefix}token:{digest}", "1", nx=True, exat=max(expires, 1)))

    def renew_claims(self) -> int:
        """Keep this instance's stream claims alive (the heartbeat); returns how many were still ours."""
        with self._lock:
            held = list(self.streams)
        if not held:
            return 0
        pipe = self.client.pipeline(transaction=False)
        for sid in held:
            self._renew(keys=[self._stream(sid)], args=[self.instance_id, int(self.claim_s * 1000)], client=pipe)
        return sum(1 for renewed in pipe.execute() if renewed)

    def stream_holder(self, call_sid: str) -> str | None:
        """The instance whose claim on the call's stream is alive, if any."""
        return _text(self.client.get(self._stream(call_sid)))

    def save_progress(self, call_sid: str, progress: Progress) -> None:
        # ``resumes`` lives in its own counter: only take_resume moves it
        text = _PROGRESS.dump_json(replace(progress, resumes=0, planned=0)).decode()
        self.client.hset(self._call(call_sid), "progress", text)

    def plan_handover(self, call_sid: str) -> None:
        key = self._call(call_sid)
        if self.client.hexists(key, "progress"):
            self.client.hincrby(key, "planned", 1)

    def _progress(self, call_sid: str) -> Progress | None:
        """The saved progress with its counters (kept apart from it: only resumes and hand-overs move them)."""
        text, resumes, planned = (
            _text(value) for value in self.client.hmget(self._call(call_sid), ["progress", "resumes", "planned"])
        )
        if not text:
            return None
        return replace(_PROGRESS.validate_json(text), resumes=int(resumes or 0), planned=int(planned or 0))

    def take_resume(self, call_sid: str) -> Progress | None:
        """Atomic across instances: the counter is incremented first, so two after-stream requests cannot both
        resume. A refused request takes its increment back, so the count is the resumes granted — what the
        resumed stream reads — and still refuses later requests."""
        progress = self._progress(call_sid)
        if progress is None or not progress.resumable:
            return None
        key = self._call(call_sid)
        count = int(self.client.hincrby(key, "resumes", 1))
        if count - progress.planned > MAX_RESUMES:
            self.client.hincrby(key, "resumes", -1)
            return None
        return replace(progress, resumes=count - 1)

    def back_to_bot(self, call_sid: str) -> Progress | None:
        key = self._call(call_sid)
        progress = self._progress(call_sid)
        if progress is None or progress.back_state is None or self.client.hget(key, "ended") is not None:
            return None
        back = back_to_bot(progress)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(key, "progress", _PROGRESS.dump_json(replace(back, resumes=0, planned=0)).decode())
        pipe.hincrby(key, "resumes", 1)
        pipe.hincrby(key, "planned", 1)
        pipe.hdel(key, "outcome")
        pipe.execute()
        return back

    def resuming(self, call_sid: str) -> Progress | None:
        progress = self._progress(call_sid)
        return progress if progress is not None and progress.resumes > 0 else None


def call_keys_alive(client: Redis, prefix: str = "warmline:") -> Callable[[str], bool]:
    """For the store's housekeeping: is someone still carrying the call (a live stream, a resume to come, or the
    end being written)? Only a call nobody carries may be closed as interrupted."""

    def alive(call_sid: str) -> bool:
        pipe = client.pipeline(transaction=False)
        pipe.exists(f"{prefix}call:{call_sid}:stream")
        pipe.hmget(f"{prefix}call:{call_sid}", ["progress", "resumes", "planned", "ended"])
        held, (progress, resumes, planned, ended) = pipe.execute()
        if held or ended is not None:
            # Carried by a live stream, or just ended: the instance that heard the end writes it (closing it here
            # too would race that write and could win).
            return True
        # No stream: alive only while a resume may still come (the after-stream webhook is on its way).
        losses = int(resumes or 0) - int(planned or 0)
        return progress is not None and losses < MAX_RESUMES

    return alive


def _text(value: object) -> str | None:
    """A reply as text (the client decodes; bytes only if someone passed a client that does not)."""
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
