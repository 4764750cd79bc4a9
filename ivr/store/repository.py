"""The store's operations, one small method each: what the call writer, the CLI and the console ask of the database.

Every method opens its own short transaction and returns detached ORM objects (relationships the reader needs are
loaded eagerly), so callers never hold a session or a lock. Methods block on the database: the call path reaches
them only through :class:`ivr.store.writer.StoreWriter`'s thread; coroutines use ``asyncio.to_thread``.

Privacy lives here, at the one door into the tables: caller text is redacted with the deployment's kinds
(``IVR_REDACT``) and caller numbers are masked before anything is written.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine, delete, false, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from ivr.call.record import CallbackRequest, CallEvent, CallRecord, Outcome, TransferRecord
from ivr.callers import PreviousCall
from ivr.privacy import mask_phone
from ivr.store.db import StoreError, open_database
from ivr.store.models import AuditEntry, Call, Callback, RevokedSession, RuleVersion, Transfer, Turn, User, utcnow
from ivr.transfer.redact import redact

log = logging.getLogger(__name__)

Role = Literal["supervisor", "viewer"]
ROLES: tuple[Role, ...] = ("supervisor", "viewer")
RuleSource = Literal["file", "console", "rollback"]
#: Status of a call the server was handling when it stopped (crash, kill, power cut).
INTERRUPTED = "interrupted"
IN_PROGRESS = "in-progress"


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def masked_caller(caller: str) -> str:
    """The caller's number masked once: the webhook already masks, and masking a mask would hide it entirely."""
    return caller if not caller or "*" in caller else mask_phone(caller)


class Store:
    """The durable store over one engine. Thread-safe: each call makes its own session."""

    def __init__(self, engine: Engine, *, redact_kinds: Collection[str] | None = None) -> None:
        self.engine = engine
        self.redact_kinds = None if redact_kinds is None else frozenset(redact_kinds)
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        #: The server process whose calls this store writes (see ivr.store.ownership); None for tools.
        self.instance_id: str | None = None
        self._hasher = PasswordHasher()

    @classmethod
    def open(cls, url: str, *, redact_kinds: Collection[str] | None = None) -> Store:
        """Connect to ``url`` and migrate it to the newest schema."""
        return cls(open_database(url), redact_kinds=redact_kinds)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        with self._sessions.begin() as session:
            yield session

    def redact(self, text: str) -> str:
        return redact(text, self.redact_kinds) if text else text

    # ── users ─────────────────────────────────────────────────────────────────────────────────────────────
    def add_user(self, username: str, password: str, role: str) -> User:
        username = username.strip()
        if not username:
            raise StoreError("a user needs a name")
        if role not in ROLES:
            raise StoreError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if len(password) < 8:
            raise StoreError("a password needs at least 8 characters")
        user = User(username=username, password_hash=self._hasher.hash(password), role=role, created_at=utcnow())
        try:
            with self.session() as session:
                session.add(user)
        except IntegrityError as exc:
            raise StoreError(f"user {username!r} already exists") from exc
        return user

    def verify_user(self, username: str, password: str) -> User | None:
        """The user if the password is right, else None (unknown user or wrong password look the same)."""
        user = self.get_user(username)
        if user is None:
            self._hasher.hash(password)  # same work as a real check, so timing does not reveal who exists
            return None
        try:
            self._hasher.verify(user.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if self._hasher.check_needs_rehash(user.password_hash):
            self.set_password(username, password)
        return user

    def set_password(self, username: str, password: str) -> None:
        if len(password) < 8:
            raise StoreError("a password needs at least 8 characters")
        with self.session() as session:
            found = session.execute(
                update(User).where(User.username == username).values(password_hash=self._hasher.hash(password))
            )
            if found.rowcount == 0:  # type: ignore[attr-defined]
                raise StoreError(f"no user {username!r}")

    def set_role(self, username: str, role: str) -> None:
        if role not in ROLES:
            raise StoreError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        with self.session() as session:
            found = session.execute(update(User).where(User.username == username).values(role=role))
            if found.rowcount == 0:  # type: ignore[attr-defined]
                raise StoreError(f"no user {username!r}")

    def remove_user(self, username: str) -> None:
        """Delete a console user; their audit entries stay (the log names who did what, not who exists)."""
        with self.session() as session:
            found = session.execute(delete(User).where(User.username == username))
            if found.rowcount == 0:  # type: ignore[attr-defined]
                raise StoreError(f"no user {username!r}")

    def get_user(self, username: str) -> User | None:
        with self.session() as session:
            return session.scalar(select(User).where(User.username == username))

    def list_users(self) -> list[User]:
        with self.session() as session:
            return list(session.scalars(select(User).order_by(User.username)))

    # ── console sessions ──────────────────────────────────────────────────────────────────────────────────
    def revoke_session(self, token: str, expires_at: datetime) -> None:
        """Remember that a session ended (logout); forget revocations whose cookies have expired anyway."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        with self.session() as session:
            session.execute(delete(RevokedSession).where(RevokedSession.expires_at < utcnow()))
            if session.get(RevokedSession, digest) is None:
                session.add(RevokedSession(token_hash=digest, expires_at=expires_at))

    def is_revoked(self, token: str) -> bool:
        digest = hashlib.sha256(token.encode()).hexdigest()
        with self.session() as session:
            return session.get(RevokedSession, digest) is not None

    # ── audit ─────────────────────────────────────────────────────────────────────────────────────────────
    def audit(self, actor: str, action: str, target: str = "", detail: dict[str, Any] | None = None) -> AuditEntry:
        entry = AuditEntry(at=utcnow(), actor=actor, action=action, target=target, detail=detail or {})
        with self.session() as session:
            session.add(entry)
        return entry

    def list_audit(self, limit: int = 100, offset: int = 0) -> list[AuditEntry]:
        with self.session() as session:
            query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
            return list(session.scalars(query))

    # ── rule versions ─────────────────────────────────────────────────────────────────────────────────────
    def save_rule_version(
        self, text: str, *, author: str = "", source: RuleSource = "file", note: str = "", dedupe: bool = False
    ) -> RuleVersion:
        """Record an accepted rules text as the next version. With ``dedupe``, the same text as the newest version
        returns that version instead (a server restart re-reading an unchanged file is not a new version)."""
        sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        with self.session() as session:
            if dedupe:
                latest = session.scalar(select(RuleVersion).order_by(RuleVersion.id.desc()).limit(1))
                if latest is not None and latest.sha256 == sha:
                    return latest
            version = RuleVersion(created_at=utcnow(), author=author, source=source, sha256=sha, text=text, note=note)
            session.add(version)
        return version

    def list_rule_versions(self, limit: int = 100) -> list[RuleVersion]:
        """Newest first."""
        with self.session() as session:
            return list(session.scalars(select(RuleVersion).order_by(RuleVersion.id.desc()).limit(limit)))

    def get_rule_version(self, version: int) -> RuleVersion | None:
        with self.session() as session:
            return session.get(RuleVersion, version)

    def latest_rule_version(self) -> RuleVersion | None:
        with self.session() as session:
            return session.scalar(select(RuleVersion).order_by(RuleVersion.id.desc()).limit(1))

    # ── calls: what the writer records ────────────────────────────────────────────────────────────────────
    def call_started(self, record: CallRecord) -> None:
        with self.session() as session:
            call = self._call_row(session, record.call_sid, record)
            if not call.language:  # a row a later change had to create: complete it, never leave it half
                call.language = record.language
                call.caller_masked = masked_caller(record.caller)
                call.started_at = from_epoch(record.started)

    def add_turn(self, call_sid: str, seq: int, event: CallEvent) -> None:
        """Store one line of the conversation (redacted) and move the call's live view to it."""
        with self.session() as session:
            call = self._call_row(session, call_sid)
            session.add(
                Turn(
                    call_id=call.id,
                    seq=seq,
                    at_s=event.at,
                    kind=event.kind,
                    text=self.redact(event.text),
                    confidence=event.confidence,
                    intent=event.intent,
                    recognition=event.recognition,
                    distress=event.distress,
                    reasons=list(event.reasons),
                    detail=self.redact(event.detail or (event.key if event.kind == "prompt" else "")),
                    expects=event.expects or None,
                )
            )
            if event.kind == "prompt" and event.key:
                call.last_step = event.key
            if event.intent is not None:
                call.intent = event.intent
            if event.recognition is not None:
                call.recognition = event.recognition
            if event.distress is not None:
                call.distress = event.distress

    def set_outcome(self, call_sid: str, outcome: Outcome) -> None:
        with self.session() as session:
            call = self._call_row(session, call_sid)
            call.outcome_kind = outcome.kind
            call.outcome_reason = outcome.reason
            call.outcome_rule = outcome.rule
            call.outcome_target = outcome.target_name
            call.transfer_id = outcome.transfer_id or None
            call.order_number = outcome.order_number or call.order_number

    def call_ended(self, call_sid: str, status: str, ended: datetime) -> None:
        with self.session() as session:
            call = self._call_row(session, call_sid)
            call.status = status
            call.ended_at = call.ended_at or ended

    def add_transfer(self, transfer: TransferRecord) -> None:
        with self.session() as session:
            call = self._call_row(session, transfer.call_sid, language=transfer.language)
            session.add(
                Transfer(
                    transfer_id=transfer.transfer_id,
                    call_id=call.id,
                    created_at=from_epoch(transfer.created),
                    rule=transfer.rule,
                    reason=transfer.reason,
                    code=transfer.code,
                    target_name=transfer.target_name,
                    target=dict(transfer.target),
                    priority=transfer.priority,
                    intent=transfer.intent,
                    summary=self.redact(transfer.summary),
                    summary_language=transfer.summary_language,
                    summary_audio=transfer.summary_audio,
                    distress=transfer.distress,
                    distress_reasons=list(transfer.distress_reasons),
                    recognition=transfer.recognition,
                    status=transfer.status,
                    steps=[step.model_dump() for step in transfer.steps],
                    fallbacks=[fallback.model_dump() for fallback in transfer.fallbacks],
                    agent_call_sid=transfer.agent_call_sid,
                    line_number=transfer.line_number,
                )
            )
            if call.transfer_id is None:
                call.transfer_id = transfer.transfer_id

    def update_transfer(self, transfer: TransferRecord) -> None:
        """Write what changed while reaching a person: the status and the steps so far."""
        with self.session() as session:
            session.execute(
                update(Transfer)
                .where(Transfer.transfer_id == transfer.transfer_id)
                .values(
                    status=transfer.status,
                    steps=[step.model_dump() for step in transfer.steps],
                    agent_call_sid=transfer.agent_call_sid,
                    line_number=transfer.line_number,
                )
            )

    def add_callback(self, transfer_id: str, request: CallbackRequest) -> None:
        with self.session() as session:
            if session.get(Transfer, transfer_id) is None:
                log.warning("call-back for unknown transfer %s not stored", transfer_id)
                return
            session.add(
                Callback(
                    transfer_id=transfer_id,
                    at=from_epoch(request.at),
                    kind=request.kind,
                    recording_url=request.recording_url,
                )
            )

    def close_interrupted(
        self, owners: Collection[str | None] | None = None, still_live: Callable[[str], bool] | None = None
    ) -> int:
        """Close calls left "in-progress" by a server that stopped without hanging them up; returns how many.

        They end at their last stored turn (the best knowledge of when the line went dead). ``owners`` limits it to
        the calls of those server instances (``None`` in it: calls with no recorded owner); which owners are gone
        is :class:`ivr.store.ownership.Ownership`'s to decide. Without ``owners``: every live call (tools only).
        ``still_live`` (shared live state) spares a call another instance has taken over since (a resumed stream).
        """
        closed = 0
        query = select(Call).where(Call.status == IN_PROGRESS)
        if owners is not None:
            named = [owner for owner in owners if owner is not None]
            unowned = Call.instance_id.is_(None) if None in owners else false()
            query = query.where(Call.instance_id.in_(named) | unowned)
        with self.session() as session:
            calls = session.scalars(query).all()
            for call in calls:
                if still_live is not None and still_live(call.call_sid):
                    continue
                last_at = session.scalar(select(func.max(Turn.at_s)).where(Turn.call_id == call.id))
                call.status = INTERRUPTED
                call.ended_at = call.ended_at or _plus_seconds(call.started_at, last_at or 0.0)
                if not call.outcome_reason:
                    call.outcome_reason = INTERRUPTED
                closed += 1
        if closed:
            log.warning("closed %d call(s) whose server stopped while they were live, as interrupted", closed)
        return closed

    def count_older(self, older_than: datetime) -> int:
        """How many calls a purge with this cutoff would delete."""
        with self.session() as session:
            return session.scalar(select(func.count()).select_from(Call).where(Call.started_at < older_than)) or 0

    def purge(self, older_than: datetime) -> int:
        """Delete calls that started before ``older_than`` with their turns, transfers and call-backs — and the
        spoken summaries of those transfers: they say the caller's numbers aloud, so they must not outlive the
        rows. A summary file another remaining transfer still plays (same words, one cached file) is kept."""
        return self._delete_calls(Call.started_at < older_than)

    def forget_caller(self, key: str) -> int:
        """Erase every call of one caller (by their keyed hash), with everything hanging off it: ``ivr forget``."""
        return self._delete_calls(Call.caller_key == key)

    def caller_history(self, key: str, since: datetime, *, exclude: str = "", limit: int = 20) -> list[PreviousCall]:
        """The caller's earlier calls since ``since``, newest first: what caller memory knows of them."""
        with self.session() as session:
            calls = session.scalars(
                select(Call)
                .where(Call.caller_key == key, Call.started_at >= since, Call.call_sid != exclude)
                .options(selectinload(Call.transfer).selectinload(Transfer.callbacks))
                .order_by(Call.started_at.desc())
                .limit(limit)
            )
            return [
                PreviousCall(
                    started=call.started_at.timestamp(),
                    intent=call.intent,
                    order_number=call.order_number,
                    outcome=call.outcome_kind or "",
                    target_name=call.outcome_target,
                    transfer_status=call.transfer.status if call.transfer is not None else "",
                    callback=call.transfer is not None and bool(call.transfer.callbacks),
                )
                for call in calls
            ]

    def _delete_calls(self, which: Any) -> int:
        with self.session() as session:
            ids = select(Call.id).where(which)
            transfer_ids = select(Transfer.transfer_id).where(Transfer.call_id.in_(ids))
            audio = set(session.scalars(select(Transfer.summary_audio).where(Transfer.call_id.in_(ids)))) - {""}
            # Children first: correct on databases and connections where ON DELETE CASCADE is not enforced.
            session.execute(delete(Callback).where(Callback.transfer_id.in_(transfer_ids)))
            session.execute(delete(Transfer).where(Transfer.call_id.in_(ids)))
            session.execute(delete(Turn).where(Turn.call_id.in_(ids)))
            result = session.execute(delete(Call).where(which))
            count: int = result.rowcount  # type: ignore[attr-defined]
            still_played = set(session.scalars(select(Transfer.summary_audio).where(Transfer.summary_audio.in_(audio))))
        removed = _remove_summary_audio(audio - still_played)
        if count:
            log.info("deleted %d call(s) and %d spoken summary file(s)", count, removed)
        return count

    # ── calls: what the console reads ─────────────────────────────────────────────────────────────────────
    def list_calls(
        self, limit: int = 50, offset: int = 0, *, status: str | None = None, with_turns: bool = False
    ) -> list[Call]:
        """Newest first; ``with_turns`` also loads each call's turns and transfer (e.g. for a dry run)."""
        query = select(Call).order_by(Call.started_at.desc(), Call.id.desc()).limit(limit).offset(offset)
        if status is not None:
            query = query.where(Call.status == status)
        if with_turns:
            query = query.options(selectinload(Call.turns), selectinload(Call.transfer))
        with self.session() as session:
            return list(session.scalars(query))

    def count_calls(self) -> int:
        with self.session() as session:
            return session.scalar(select(func.count()).select_from(Call)) or 0

    def get_call(self, call_sid: str) -> Call | None:
        """One call with its turns (in order), its transfer and the transfer's call-backs."""
        query = (
            select(Call)
            .where(Call.call_sid == call_sid)
            .options(selectinload(Call.turns), selectinload(Call.transfer).selectinload(Transfer.callbacks))
        )
        with self.session() as session:
            return session.scalar(query)

    def get_call_by_id(self, call_id: int) -> Call | None:
        query = select(Call).where(Call.id == call_id).options(selectinload(Call.turns))
        with self.session() as session:
            return session.scalar(query)

    def live_calls(self) -> list[Call]:
        """Calls in progress, oldest first: what the live view lists."""
        with self.session() as session:
            query = select(Call).where(Call.status == IN_PROGRESS).order_by(Call.started_at)
            return list(session.scalars(query))

    def get_transfer(self, transfer_id: str) -> Transfer | None:
        with self.session() as session:
            return session.scalar(
                select(Transfer).where(Transfer.transfer_id == transfer_id).options(selectinload(Transfer.callbacks))
            )

    # ── internals ─────────────────────────────────────────────────────────────────────────────────────────
    def _call_row(
        self, session: Session, call_sid: str, record: CallRecord | None = None, *, language: str = ""
    ) -> Call:
        """The call's row, created if the store has not heard of it (e.g. its start was written by a crashed run)."""
        call = session.scalar(select(Call).where(Call.call_sid == call_sid))
        if call is None:
            call = Call(
                call_sid=call_sid,
                language=record.language if record else language,
                caller_masked=masked_caller(record.caller) if record else "",
                caller_key=(record.caller_key or None) if record else None,
                started_at=from_epoch(record.started) if record else utcnow(),
                status=IN_PROGRESS,
                instance_id=self.instance_id,
            )
            session.add(call)
            session.flush()
        return call


def _plus_seconds(start: datetime, seconds: float) -> datetime:
    return from_epoch(start.timestamp() + seconds)


def _remove_summary_audio(paths: Iterable[str]) -> int:
    """Delete rendered summaries (the WAV and the μ-law twin the speech cache keeps beside it); missing is fine."""
    removed = 0
    for name in paths:
        wav = Path(name)
        for path in (wav, wav.with_suffix(".ulaw")):
            try:
                path.unlink()
                removed += path == wav
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.warning("retention: could not delete %s (%s)", path, exc)
    return removed
