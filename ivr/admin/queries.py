"""What the console reads from the store (and the one thing it writes to turns), over the store's own models.

Plain functions of an Engine, run from worker threads (the console's routes are sync and FastAPI runs them in its
thread pool), so no query ever runs on the event loop that carries call audio. Aggregation happens in Python over
one time window: the same code on SQLite and PostgreSQL, and console-sized data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Select, exists, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, selectinload

from ivr.admin.replay import StoredCall, StoredTurn
from ivr.config import Language
from ivr.dialog.flow import ANSWER_PREFIX
from ivr.store.models import Call, Transfer, Turn

REPLAYED_KINDS = ("caller", "dtmf", "no_input")


#: how supervisors read the built-in reasons a call went to a person (rules are shown by their own names)
REASON_LABELS = {
    "keypad_zero": "pressed 0",
    "caller_request": "asked for a person",
    "repeated_failure": "not understood twice",
    "low_confidence": "hard to understand",
    "needs_person": "topic needs a person",
    "technical_problem": "technical problem",
    "interrupted": "server stopped",
    "?": "unknown",
}

DISPOSITION_LABELS = {
    "self_service": "handled by Warmline",
    "transferred": "to a person",
    "abandoned": "abandoned",
    "interrupted": "interrupted",
    "in_progress": "in progress",
}


def reason_label(name: str) -> str:
    return REASON_LABELS.get(name, name)


# ── live and recent calls ────────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True, slots=True)
class CallRow:
    """One call as the live view and the list show it."""

    call_sid: str
    language: str
    caller: str
    started_at: datetime
    ended_at: datetime | None
    status: str
    step: str
    intent: str | None
    recognition: float | None
    distress: float | None
    outcome: str
    disposition: Disposition | None = None

    @property
    def duration(self) -> str:
        """How long the call lasted, as m:ss ("" while it goes on)."""
        if self.ended_at is None:
            return ""
        seconds = max(0, round((self.ended_at - self.started_at).total_seconds()))
        return f"{seconds // 60}:{seconds % 60:02d}"

    @property
    def disposition_label(self) -> str:
        return DISPOSITION_LABELS.get(self.disposition or "", "")

    def to_json(self, zone: str = "UTC") -> dict[str, object]:
        return {
            "call_sid": self.call_sid,
            "language": self.language,
            "caller": self.caller,
            "started_at": self.started_at.isoformat(),
            "started": self.started_at.astimezone(ZoneInfo(zone)).strftime("%H:%M:%S"),
            "status": self.status,
            "step": self.step,
            "intent": self.intent or "",
            "recognition": self.recognition,
            "distress": self.distress,
            "outcome": self.outcome,
        }


def _row(call: Call, served: bool | None = None) -> CallRow:
    if call.outcome_kind == "transfer":
        outcome = f"transfer: {reason_label(call.outcome_rule)} → {call.outcome_target}"
    elif call.outcome_kind:
        outcome = call.outcome_kind
    else:
        outcome = ""
    return CallRow(
        call_sid=call.call_sid,
        language=call.language,
        caller=call.caller_masked,
        started_at=call.started_at,
        ended_at=call.ended_at,
        status=call.status,
        step=call.last_step,
        intent=call.intent,
        recognition=call.recognition,
        distress=call.distress,
        outcome=outcome,
        disposition=disposition(call, served) if served is not None else None,
    )


def live_calls(engine: Engine) -> list[CallRow]:
    with Session(engine) as session:
        calls = session.scalars(
            select(Call).where(Call.status == "in-progress", Call.ended_at.is_(None)).order_by(Call.started_at)
        )
        return [_row(call) for call in calls]


@dataclass(frozen=True)
class CallFilter:
    """What the calls list is narrowed to; every field optional. Dates are local days in the rules' zone."""

    day_from: date | None = None
    day_to: date | None = None
    disposition: Disposition | None = None
    intent: str | None = None
    rule: str | None = None
    zone: str = "UTC"


@dataclass(frozen=True)
class CallPage:
    rows: list[CallRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _served_clause() -> Any:
    answered = Turn.detail.like(f"{ANSWER_PREFIX}%") | (Turn.detail == "order_status")
    return exists().where(Turn.call_id == Call.id, Turn.kind == "prompt", answered)


def _disposition_clause(which: Disposition) -> Any:
    kind = func.coalesce(Call.outcome_kind, "")
    ended = Call.ended_at.is_not(None) & (Call.status != "interrupted") & (kind != "transfer")
    return {
        "transferred": kind == "transfer",
        "interrupted": (Call.status == "interrupted") & (kind != "transfer"),
        "in_progress": Call.ended_at.is_(None) & (Call.status == "in-progress"),
        "self_service": ended & ((kind == "hangup") | _served_clause()),
        "abandoned": ended & (kind != "hangup") & ~_served_clause(),
    }[which]


def call_page(engine: Engine, filters: CallFilter, page: int = 1, per_page: int = 50) -> CallPage:
    """One page of stored calls, newest first, narrowed by ``filters``, each with its duration and disposition."""
    zone = ZoneInfo(filters.zone)
    conditions = []
    if filters.day_from is not None:
        conditions.append(Call.started_at >= datetime.combine(filters.day_from, datetime.min.time(), zone))
    if filters.day_to is not None:
        end = datetime.combine(filters.day_to + timedelta(days=1), datetime.min.time(), zone)
        conditions.append(Call.started_at < end)
    if filters.disposition is not None:
        conditions.append(_disposition_clause(filters.disposition))
    if filters.intent:
        conditions.append(Call.intent == filters.intent)
    if filters.rule:
        conditions.append(Call.outcome_rule == filters.rule)
    page = max(1, page)
    with Session(engine) as session:
        total = session.scalar(select(func.count()).select_from(Call).where(*conditions)) or 0
        calls = list(
            session.scalars(
                select(Call)
                .where(*conditions)
                .order_by(Call.started_at.desc(), Call.id.desc())
                .limit(per_page)
                .offset((page - 1) * per_page)
            )
        )
        served = served_call_ids(session, select(Call.id).where(Call.id.in_([c.id for c in calls])))
        rows = [_row(call, call.id in served) for call in calls]
    return CallPage(rows, total, page, per_page)


def filter_choices(engine: Engine) -> tuple[list[str], list[str]]:
    """The intents and rules stored calls have, for the filter's menus."""
    with Session(engine) as session:
        intents = sorted(i for i in session.scalars(select(Call.intent).distinct()) if i)
        rules = sorted(r for r in session.scalars(select(Call.outcome_rule).distinct()) if r)
    return intents, rules


def recent_calls(engine: Engine, limit: int = 50) -> list[CallRow]:
    return call_page(engine, CallFilter(), 1, limit).rows


def call_detail(engine: Engine, call_sid: str) -> Call | None:
    """The call with its turns, transfer and call-backs loaded (usable after the session closes)."""
    with Session(engine, expire_on_commit=False) as session:
        return session.scalar(
            select(Call)
            .where(Call.call_sid == call_sid)
            .options(selectinload(Call.turns), selectinload(Call.transfer).selectinload(Transfer.callbacks))
        )


@dataclass(frozen=True)
class SummaryAudio:
    """Where the call's spoken summary was rendered, and the text and language to render it again from."""

    path: str
    text: str
    language: str


def summary_audio(engine: Engine, call_sid: str) -> SummaryAudio | None:
    with Session(engine) as session:
        row = session.execute(
            select(Transfer.summary_audio, Transfer.summary, Transfer.summary_language, Call.language)
            .join(Call, Transfer.call_id == Call.id)
            .where(Call.call_sid == call_sid)
        ).first()
        if row is None or not row[0]:
            return None
        return SummaryAudio(path=str(row[0]), text=str(row[1] or ""), language=str(row[2] or row[3] or ""))


# ── dry run input ────────────────────────────────────────────────────────────────────────────────────────
def calls_for_replay(engine: Engine, limit: int) -> list[StoredCall]:
    """The last ``limit`` finished calls in which the caller said or pressed something, newest first."""
    with Session(engine) as session:
        calls = session.scalars(
            select(Call)
            .where(Call.ended_at.is_not(None), Call.turns.any(Turn.kind.in_(REPLAYED_KINDS)))
            .order_by(Call.started_at.desc(), Call.id.desc())
            .limit(limit)
            .options(selectinload(Call.turns))
        )
        stored: list[StoredCall] = []
        for call in calls:
            turns = tuple(
                StoredTurn(turn.kind, turn.text, turn.confidence) for turn in call.turns if turn.kind in REPLAYED_KINDS
            )
            stored.append(
                StoredCall(
                    call_sid=call.call_sid,
                    language=cast(Language, call.language),
                    started_at=call.started_at,
                    turns=turns,
                    recorded=_row(call).outcome or call.status,
                )
            )
        return stored


# ── dashboard ────────────────────────────────────────────────────────────────────────────────────────────
@dataclass
class HourStats:
    hour: datetime
    calls: int = 0
    confidences: list[float] = field(default_factory=list)
    distress: list[float] = field(default_factory=list)

    @property
    def mean_confidence(self) -> float | None:
        return sum(self.confidences) / len(self.confidences) if self.confidences else None

    @property
    def mean_distress(self) -> float | None:
        return sum(self.distress) / len(self.distress) if self.distress else None

    @property
    def max_distress(self) -> float | None:
        return max(self.distress) if self.distress else None


Disposition = Literal["self_service", "transferred", "abandoned", "interrupted", "in_progress"]


def disposition(call: Call, served: bool) -> Disposition:
    """How a call ended, as contact-centre reports count it. ``served``: Warmline gave the caller an answer.

    A caller who hung up before anything was resolved (during the greeting, mid-question) *abandoned* the call: it
    is not "handled without a person". One who got their answer and then hung up without saying goodbye was.
    """
    if call.outcome_kind == "transfer":
        return "transferred"
    if call.status == "interrupted":
        return "interrupted"
    if call.ended_at is None:
        return "in_progress"
    if call.outcome_kind == "hangup" or served:
        return "self_service"
    return "abandoned"


def served_call_ids(session: Session, call_ids: Select[Any]) -> set[int]:
    """Calls in which Warmline played an answer (an order's status, opening hours, a how-to)."""
    answered = Turn.detail.like(f"{ANSWER_PREFIX}%") | (Turn.detail == "order_status")
    query = select(Turn.call_id).where(Turn.call_id.in_(call_ids), Turn.kind == "prompt", answered).distinct()
    return set(session.scalars(query))


@dataclass(frozen=True)
class Dashboard:
    hours: list[HourStats]
    calls: int
    finished: int
    without_person: int
    transfers_by_reason: list[tuple[str, int]]
    mean_confidence: float | None
    abandoned: int = 0
    #: transferred callers who hung up while waiting on hold for a person (counted apart from the above)
    abandoned_waiting: int = 0
    #: transfers that reached nobody (every target tried): the caller heard the offer
    unreachable: int = 0

    @property
    def answered(self) -> int:
        """Finished calls the caller stayed on until they were served, by Warmline or by a person."""
        return self.finished - self.abandoned

    @property
    def share_without_person(self) -> float | None:
        return self.without_person / self.answered if self.answered else None

    @property
    def share_abandoned(self) -> float | None:
        return self.abandoned / self.finished if self.finished else None


def dashboard(engine: Engine, hours: int = 24, now: datetime | None = None) -> Dashboard:
    now = now or datetime.now(UTC)
    first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    buckets = [HourStats(first + timedelta(hours=i)) for i in range(hours)]

    def bucket(moment: datetime) -> HourStats | None:
        index = int((moment - first).total_seconds() // 3600)
        return buckets[index] if 0 <= index < hours else None

    finished = without_person = abandoned = 0
    reasons: Counter[str] = Counter()
    confidences: list[float] = []
    with Session(engine) as session:
        served = served_call_ids(session, select(Call.id).where(Call.started_at >= first))
        for call in session.scalars(select(Call).where(Call.started_at >= first)):
            slot = bucket(call.started_at)
            if slot is None:
                continue
            slot.calls += 1
            if call.distress is not None:
                slot.distress.append(call.distress)
            how = disposition(call, call.id in served)
            finished += how in ("self_service", "transferred", "abandoned")
            without_person += how == "self_service"
            abandoned += how == "abandoned"
            if how == "transferred":
                reasons[call.outcome_rule or "?"] += 1
        waits: Counter[str] = Counter(
            session.scalars(
                select(Transfer.status).join(Call, Transfer.call_id == Call.id).where(Call.started_at >= first)
            )
        )
        rows = session.execute(
            select(Call.started_at, Turn.at_s, Turn.confidence)
            .join(Call, Turn.call_id == Call.id)
            .where(Call.started_at >= first, Turn.kind == "caller", Turn.confidence.is_not(None))
        )
        for started, at_s, confidence in rows:
            slot = bucket(started + timedelta(seconds=at_s))
            if slot is not None and confidence is not None:
                slot.confidences.append(confidence)
                confidences.append(confidence)
    return Dashboard(
        hours=buckets,
        calls=sum(b.calls for b in buckets),
        finished=finished,
        without_person=without_person,
        abandoned=abandoned,
        abandoned_waiting=waits["abandoned"],
        unreachable=waits["unreachable"] + waits["back-to-bot"],
        transfers_by_reason=reasons.most_common(),
        mean_confidence=sum(confidences) / len(confidences) if confidences else None,
    )
