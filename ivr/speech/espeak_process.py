"""libespeak-ng in a process of its own: a crash in the speech engine costs one prompt, never the calls.

libespeak-ng is C with one global engine per process, and it has segfaulted inside ``espeak_Synth`` now and then (seen
twice in full test runs that start many servers in one process, with every render already serialised). In the server
process that would end every live call at once. So pyttsx3 runs in a child process (``spawn``: a fork of a threaded
process is unsafe) that renders WAV files on request; when it dies, the prompt being rendered fails with a clear error,
the next one starts a fresh child, and the server and its calls go on.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivr.errors import SynthesisError

if TYPE_CHECKING:
    from ivr.speech.tts import VoiceSettings

log = logging.getLogger(__name__)

#: time for a fresh child to import pyttsx3 and initialise espeak-ng
START_TIMEOUT_S = 30.0


class EspeakProcess:
    """The speech engine's interface (``save``, ``voices``), served by a child process that is restarted when it
    dies. One request at a time (the owner thread is the only caller; the lock makes that a guarantee)."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._connection: Connection | None = None
        self._lock = threading.Lock()
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return int(self._process.pid) if self._process is not None else None

    @property
    def alive(self) -> bool:
        return self._process is not None and bool(self._process.is_alive())

    def start(self) -> None:
        """Start the child now (the owner reports a failure to start at once, not at the first prompt)."""
        with self._lock:
            self._ensure()

    def save(self, text: str, voice: VoiceSettings, path: Path) -> None:
        self._call("save", self._timeout_s, text, voice, str(path))

    def voices(self) -> set[str]:
        found: set[str] = self._call("voices", START_TIMEOUT_S)
        return found

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _call(self, operation: str, timeout_s: float, *args: object) -> Any:
        with self._lock:
            connection = self._ensure()
            try:
                connection.send((operation, args))
                if not connection.poll(timeout_s):
                    self._stop()
                    raise SynthesisError(f"the speech engine did not answer within {timeout_s:g} s; restarted")
                ok, value = connection.recv()
            except (EOFError, BrokenPipeError, ConnectionResetError) as exc:
                code = self._process.exitcode if self._process is not None else None
                self._stop()
                log.error("the speech engine process died (exit code %s); a fresh one takes the next prompt", code)
                raise SynthesisError(f"the speech engine process died (exit code {code})") from exc
        if not ok:
            raise SynthesisError(str(value))
        return value

    def _ensure(self) -> Connection:
        if self._process is not None and self._process.is_alive() and self._connection is not None:
            return self._connection
        self._stop()
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(child, self._timeout_s), name="warmline-espeak", daemon=True
        )
        process.start()
        child.close()
        if not parent.poll(START_TIMEOUT_S):
            process.kill()
            raise SynthesisError(f"the speech engine process did not start within {START_TIMEOUT_S:g} s")
        ok, value = parent.recv()
        if not ok:
            process.join(5)
            raise SynthesisError(f"the speech engine could not start: {value}")
        self._process, self._connection = process, parent
        self.restarts += 1
        return parent

    def _stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join(5)
            self._process = None


def _serve(connection: Connection, timeout_s: float) -> None:
    """The child: one pyttsx3 engine, requests in, results out, until the parent goes away."""
    from ivr.speech.tts import _Engine

    try:
        engine = _Engine(timeout_s)
    except Exception as exc:
        connection.send((False, f"{type(exc).__name__}: {exc}"))
        return
    connection.send((True, None))
    while True:
        try:
            operation, args = connection.recv()
        except (EOFError, OSError):
            return
        try:
            if operation == "save":
                text, voice, path = args
                engine.save(text, voice, Path(path))
                connection.send((True, None))
            elif operation == "voices":
                connection.send((True, engine.voices()))
            else:
                connection.send((False, f"unknown operation {operation!r}"))
        except Exception as exc:
            connection.send((False, str(exc)))
