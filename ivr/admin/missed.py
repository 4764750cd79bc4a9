"""Missed utterances: caller sentences that matched no intent, and what supervisors do with them.

Only a real miss belongs on the list: a caller's *free-text* turn (the dialog asked an open question) that the
classifier called ``unknown``. A "nee" to "anything else?", a spoken order number, or a turn the recogniser was unsure
of are answers handled correctly, not gaps in the grammar. A supervisor can teach a group (it becomes an example of an
intent, recorded as a :class:`Teaching` so it can be undone), or dismiss it (it teaches nothing).

Plain functions of an Engine, run from the console's worker threads, like :mod:`ivr.admin.queries`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ivr.signals.distress import normalise
from ivr.signals.intent import UNKNOWN
from ivr.store.models import Call, Teaching, Turn, utcnow

#: What a free-text turn records as ``expects``; None: stored before turns recorded it (then intent decides alone).
FREE = "free"


@dataclass
class MissedGroup:
    """Caller turns that matched no intent and say the same thing (after normalising)."""

    key: str
    language: str
    texts: Counter[str] = field(default_factory=Counter)
    turn_ids: list[int] = field(default_factory=list)
    calls: set[str] = field(default_factory=set)
    last_at: datetime | None = None

    @property
    def count(self) -> int:
        return len(self.turn_ids)

    @property
    def text(self) -> str:
        """The wording callers used most often: what goes into the grammar."""
        return self.texts.most_common(1)[0][0]


def group_key(text: str) -> str:
    return " ".join(normalise(text))


def missed_utterances(engine: Engine, limit: int = 2000, *, dismissed: bool = False) -> list[MissedGroup]:
    """Untaught free-text caller turns whose intent was unknown, grouped by language and normalised text, most
    frequent first (``dismissed``: the ones a supervisor set aside instead)."""
    groups: dict[tuple[str, str], MissedGroup] = {}
    with Session(engine) as session:
        rows = session.execute(
            select(Turn.id, Turn.text, Call.language, Call.call_sid, Call.started_at)
            .join(Call, Turn.call_id == Call.id)
            .where(
                Turn.kind == "caller",
                Turn.assigned_intent.is_(None),
                Turn.dismissed.is_(dismissed),
                Turn.text != "",
                Turn.intent == UNKNOWN,
                Turn.expects.is_(None) | (Turn.expects == FREE),
            )
            .order_by(Turn.id.desc())
            .limit(limit)
        )
        for turn_id, text, language, call_sid, started in rows:
            key = group_key(text)
            if not key:
                continue
            group = groups.setdefault((language, key), MissedGroup(key, language))
            group.texts[text.strip().lower()] += 1
            group.turn_ids.append(turn_id)
            group.calls.add(call_sid)
            group.last_at = max(group.last_at or started, started)
    return sorted(groups.values(), key=lambda g: (-g.count, g.key))


def missed_group(engine: Engine, language: str, key: str, *, dismissed: bool = False) -> MissedGroup | None:
    for group in missed_utterances(engine, dismissed=dismissed):
        if group.language == language and group.key == key:
            return group
    return None


def assign_intent(engine: Engine, turn_ids: list[int], intent: str) -> int:
    """Record what the caller meant on each turn; returns how many turns were updated."""
    with Session(engine) as session, session.begin():
        result = session.execute(
            update(Turn).where(Turn.id.in_(turn_ids), Turn.assigned_intent.is_(None)).values(assigned_intent=intent)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def set_dismissed(engine: Engine, turn_ids: list[int], dismissed: bool) -> int:
    """Set a group aside (it teaches nothing), or bring it back; returns how many turns changed."""
    with Session(engine) as session, session.begin():
        result = session.execute(
            update(Turn)
            .where(Turn.id.in_(turn_ids), Turn.assigned_intent.is_(None), Turn.dismissed.is_(not dismissed))
            .values(dismissed=dismissed)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def record_teaching(
    engine: Engine, actor: str, language: str, intent: str, phrase: str, turn_ids: list[int], added_example: bool
) -> Teaching:
    """Label the turns and remember the lesson, in one transaction."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        session.execute(
            update(Turn).where(Turn.id.in_(turn_ids), Turn.assigned_intent.is_(None)).values(assigned_intent=intent)
        )
        teaching = Teaching(
            at=utcnow(),
            actor=actor,
            language=language,
            intent=intent,
            phrase=phrase,
            turn_ids=list(turn_ids),
            added_example=added_example,
        )
        session.add(teaching)
    return teaching


def recent_teachings(engine: Engine, limit: int = 20) -> list[Teaching]:
    """Lessons not undone, newest first: what the missed-utterances page offers to undo."""
    with Session(engine, expire_on_commit=False) as session:
        query = select(Teaching).where(Teaching.undone_at.is_(None)).order_by(Teaching.id.desc()).limit(limit)
        return list(session.scalars(query))


def undo_teaching(engine: Engine, teaching_id: int) -> Teaching | None:
    """Mark the lesson undone and put its turns back on the list; None when there is nothing to undo."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        teaching = session.get(Teaching, teaching_id)
        if teaching is None or teaching.undone_at is not None:
            return None
        teaching.undone_at = utcnow()
        session.execute(
            update(Turn)
            .where(Turn.id.in_(teaching.turn_ids), Turn.assigned_intent == teaching.intent)
            .values(assigned_intent=None)
        )
    return teaching
