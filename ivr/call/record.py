"""What happened on a call, as it happens: the live record the session writes and the webhooks read.

The media stream and the ``<Connect action>`` webhook are separate requests; the record is how the second learns what
the first decided (transfer or goodbye). Kept behind a small interface so several workers can later share it out of
process.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

EventKind = Literal["prompt", "caller", "dtmf", "action", "barge_in", "error", "no_input"]


class CallEvent(BaseModel):
    """One line of the conversation as the simulator and (later) the console show it."""

    at: float = Field(description="seconds since the call started")
    kind: EventKind
    text: str = ""
    key: str = ""
    confidence: float | None = None
    intent: str | None = None
    detail: str = ""


class Outcome(BaseModel):
    """How the automated part ended."""

    kind: Literal["transfer", "hangup"]
    reason: str = ""
    detail: str = ""


class CallRecord(BaseModel):
    call_sid: str
    language: str
    caller: str = ""
    started: float = Field(default_factory=time.time)
    ended: float | None = None
    status: str = "in-progress"
    outcome: Outcome | None = None
    events: list[CallEvent] = Field(default_factory=list)


@dataclass
class CallRegistry:
    """In-process store of call records and live-session counters (thread-safe; the admin reads it too)."""

    records: dict[str, CallRecord] = field(default_factory=dict)
    active_sessions: int = 0
    live_recognizers: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, call_sid: str, language: str, caller: str = "") -> CallRecord:
        with self._lock:
            record = self.records.get(call_sid)
            if record is None:
                record = CallRecord(call_sid=call_sid, language=language, caller=caller)
                self.records[call_sid] = record
            return record

    def get(self, call_sid: str) -> CallRecord | None:
        with self._lock:
            return self.records.get(call_sid)

    def add_event(self, call_sid: str, kind: EventKind, **values: object) -> None:
        with self._lock:
            record = self.records.get(call_sid)
            if record is None:
                return
            event = CallEvent.model_validate({"at": round(time.time() - record.started, 3), "kind": kind, **values})
            record.events.append(event)

    def set_outcome(self, call_sid: str, outcome: Outcome) -> None:
        with self._lock:
            record = self.records.get(call_sid)
            if record is not None and record.outcome is None:
                record.outcome = outcome

    def finish(self, call_sid: str, status: str) -> None:
        with self._lock:
            record = self.records.get(call_sid)
            if record is not None:
                record.status = status
                record.ended = record.ended or time.time()

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
