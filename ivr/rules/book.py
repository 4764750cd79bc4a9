"""The rules that are live right now, and every version that was.

Supervisors change ``rules.yaml`` while calls are running. A change must never leave calls without rules, so a
new file is validated completely before it replaces the active one; a broken file is refused and the last good
rules stay active. Every accepted version gets a number and the SHA-256 of its text, kept in memory and, when
a data directory is given, appended to ``rules_versions.jsonl`` so an audit can say which rules routed which
call.

Thread-safe: the server polls :meth:`RuleBook.reload_if_changed` while calls read :attr:`RuleBook.active`;
readers get whichever whole RuleSet was active when they looked. Reloading reads a file, so from a coroutine
call it through ``asyncio.to_thread``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ivr.rules.loader import RuleProblem, RulesError, parse_rules
from ivr.rules.schema import RuleSet

VERSIONS_FILE = "rules_versions.jsonl"

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RuleVersion:
    """One accepted rules text."""

    number: int
    sha256: str
    loaded_at: datetime
    source: str
    rules: int

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": self.number,
                "sha256": self.sha256,
                "loaded_at": self.loaded_at.isoformat(),
                "source": self.source,
                "rules": self.rules,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, line: str) -> RuleVersion:
        raw = json.loads(line)
        return cls(
            number=int(raw["version"]),
            sha256=str(raw["sha256"]),
            loaded_at=datetime.fromisoformat(raw["loaded_at"]),
            source=str(raw["source"]),
            rules=int(raw["rules"]),
        )


def _now() -> datetime:
    return datetime.now(UTC)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class RuleBook:
    """Holds the active RuleSet for one rules file.

    The first load happens in the constructor and raises RulesError if the file is invalid: there are no
    earlier rules to fall back on, and starting without rules would silently route nobody to the right team.
    """

    def __init__(
        self,
        path: Path,
        data_dir: Path | None = None,
        *,
        known_intents: Collection[str] | None = None,
        clock: Callable[[], datetime] = _now,
        on_accept: Callable[[RuleVersion, str], object] | None = None,
    ) -> None:
        self._path = path
        self._on_accept = on_accept
        self._log = data_dir / VERSIONS_FILE if data_dir is not None else None
        self._known_intents = known_intents
        self._clock = clock
        self._lock = threading.Lock()
        self._history: list[RuleVersion] = []
        self._stat: tuple[int, int] | None = None
        self._failed_sha: str | None = None
        self.last_error: RulesError | None = None
        text = self._read()
        self._active = parse_rules(text, str(path), known_intents)
        self._stat = self._stat_now()
        sha = _sha256(text)
        last = self._last_logged()
        if last is not None and last.sha256 == sha:
            # A restart with the same file is the same version, not a new one.
            self._history.append(last)
        else:
            self._record(sha, self._active, (last.number if last else 0) + 1)
        self._announce(text)

    # ── reading ───────────────────────────────────────────────────────────────────────────────────────────
    @property
    def path(self) -> Path:
        return self._path

    @property
    def active(self) -> RuleSet:
        return self._active

    @property
    def version(self) -> RuleVersion:
        return self._history[-1]

    @property
    def history(self) -> tuple[RuleVersion, ...]:
        """Versions accepted by this process, oldest first (the JSONL file has those of earlier runs too)."""
        return tuple(self._history)

    # ── reloading ─────────────────────────────────────────────────────────────────────────────────────────
    def reload(self) -> RuleVersion:
        """Read the file again. A valid, changed text becomes active as a new version; the same text keeps the
        current version. An invalid text raises RulesError and the previous rules stay active."""
        with self._lock:
            return self._reload(self._read())

    def reload_if_changed(self) -> RuleVersion | None:
        """Cheap enough to poll every second: returns the new version when the file changed and was accepted,
        None when nothing changed. A broken file raises RulesError once; polling it again stays quiet until
        the file changes again (``last_error`` keeps the problem for the console)."""
        with self._lock:
            stat = self._stat_now()
            if stat == self._stat:
                return None
            text = self._read()
            sha = _sha256(text)
            if sha == self.version.sha256:
                # Fixed back to the active text: nothing to load, and the problem a broken edit left is gone.
                self._stat = stat
                self._failed_sha = None
                self.last_error = None
                return None
            if sha == self._failed_sha:
                self._stat = stat
                return None
            return self._reload(text)

    # ── internals ─────────────────────────────────────────────────────────────────────────────────────────
    def _reload(self, text: str) -> RuleVersion:
        sha = _sha256(text)
        stat = self._stat_now()
        try:
            rules = parse_rules(text, str(self._path), self._known_intents)
        except RulesError as exc:
            self._failed_sha = sha
            self._stat = stat
            self.last_error = exc
            raise
        self._stat = stat
        self._failed_sha = None
        self.last_error = None
        if sha == self.version.sha256:
            return self.version
        self._active = rules
        version = self._record(sha, rules, self.version.number + 1)
        self._announce(text)
        return version

    def _announce(self, text: str) -> None:
        """Tell ``on_accept`` (the durable store) about the active text; it must never cost the rules their reload."""
        if self._on_accept is None:
            return
        try:
            self._on_accept(self.version, text)
        except Exception:
            log.exception("could not record rules version %s in the store", self.version.number)

    def _record(self, sha: str, rules: RuleSet, number: int) -> RuleVersion:
        version = RuleVersion(number, sha, self._clock(), str(self._path), len(rules.rules))
        self._history.append(version)
        if self._log is not None:
            self._log.parent.mkdir(parents=True, exist_ok=True)
            with self._log.open("a", encoding="utf-8") as out:
                out.write(version.to_json() + "\n")
        return version

    def _last_logged(self) -> RuleVersion | None:
        """The newest readable entry of the versions file; damaged lines are skipped, not fatal."""
        if self._log is None or not self._log.exists():
            return None
        last: RuleVersion | None = None
        for line in self._log.read_text(encoding="utf-8").splitlines():
            try:
                last = RuleVersion.from_json(line)
            except (ValueError, KeyError, TypeError):
                continue
        return last

    def _read(self) -> str:
        try:
            return self._path.read_text(encoding="utf-8")
        except OSError as exc:
            problem = RuleProblem(1, "", f"cannot read the file ({exc.strerror})")
            error = RulesError(str(self._path), (problem,))
            self.last_error = error
            raise error from exc

    def _stat_now(self) -> tuple[int, int] | None:
        try:
            stat = self._path.stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)
