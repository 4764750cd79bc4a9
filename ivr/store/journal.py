"""The writer's overflow on disk: changes that do not fit in memory while the database is away, in order.

One JSON line per change in an append-only file. Bounded in size; a full disk (the same disk the database may be
on) makes ``append`` answer False instead of raising, and the writer keeps the change in memory. Read back in order
once the database accepts writes again, then emptied.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_JOURNAL_BYTES = 256 * 1024 * 1024


class Journal:
    def __init__(self, path: Path, max_bytes: int = MAX_JOURNAL_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._size = path.stat().st_size if path.exists() else 0
        self._count = sum(1 for _ in self._lines()) if self._size else 0

    @property
    def count(self) -> int:
        """Changes waiting in the file."""
        return self._count

    def append(self, entry: dict[str, Any]) -> bool:
        """Add one change; False when it cannot be kept (the file is full, or the disk is)."""
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode("utf-8")
        if self._size + len(line) > self.max_bytes:
            return False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as out:
                out.write(line)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            log.warning("store journal %s: cannot append (%s)", self.path, exc.strerror or exc)
            return False
        self._size += len(line)
        self._count += 1
        return True

    def entries(self) -> Iterator[dict[str, Any]]:
        """The changes in the order they were appended (a torn last line, from a crash mid-write, is skipped)."""
        for line in self._lines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                log.warning("store journal %s: skipped a damaged line", self.path)
                continue
            if isinstance(entry, dict):
                yield entry

    def prepend(self, entries: list[dict[str, Any]]) -> bool:
        """Put changes *before* those already waiting (they are older: in flight or queued when the writer
        stopped). False when they cannot be kept."""
        lines = [(json.dumps(e, separators=(",", ":")) + "\n").encode("utf-8") for e in entries]
        rest = list(self._lines())
        size = sum(map(len, lines)) + sum(map(len, rest))
        if size > self.max_bytes:
            return False
        temporary = self.path.with_suffix(".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with temporary.open("wb") as out:
                out.writelines([*lines, *rest])
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except OSError as exc:
            log.warning("store journal %s: cannot write (%s)", self.path, exc.strerror or exc)
            return False
        self._size = size
        self._count = len(lines) + len(rest)
        return True

    def drop_first(self, count: int) -> None:
        """Forget the first ``count`` changes (written now); keep any appended since."""
        if count >= self._count:
            self.clear()
            return
        rest = list(self._lines())[count:]
        temporary = self.path.with_suffix(".tmp")
        with temporary.open("wb") as out:
            out.writelines(rest)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)
        self._size = sum(len(line) for line in rest)
        self._count = len(rest)

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._size = 0
        self._count = 0

    def _lines(self) -> Iterator[bytes]:
        try:
            with self.path.open("rb") as source:
                yield from (line for line in source if line.strip())
        except FileNotFoundError:
            return
