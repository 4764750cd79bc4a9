"""Text-turn recognition for environments without a model for the call's language.

A real subclass of the recogniser contract: it receives the caller's real audio like Vosk would, and when the
utterance ends it returns the sentence the script says the caller spoke. Everything else on the call path — webhooks,
Media Streams, endpointing, dialog, TTS — runs for real.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque

from ivr.audio.codec import TELEPHONE_RATE
from ivr.speech.types import Recognizer, RecognizerFactory, Transcript, Word


class ScriptedRecognizer(Recognizer):
    def __init__(self, script: deque[str]) -> None:
        self._script = script
        self._samples = 0

    def accept(self, pcm8k: bytes) -> None:
        self._samples += len(pcm8k) // 2

    def partial(self) -> str:
        return ""

    def seal(self) -> None:
        return None

    def final(self) -> Transcript:
        duration = self._samples / TELEPHONE_RATE
        self._samples = 0
        text = self._next_text()
        words = tuple(Word(text=w, confidence=1.0) for w in text.split())
        return Transcript(text=text, words=words, duration=duration)

    def _next_text(self) -> str:
        """What the caller said in this utterance, by the script (nothing once it is spent)."""
        return self._script.popleft() if self._script else ""

    def set_grammar(self, phrases: list[str] | None) -> None:
        return None

    def close(self) -> None:
        return None


class ScriptedRecognizers(RecognizerFactory):
    """Hands each call the sentences registered for its CallSid, in order.

    ``unscripted``: a real recogniser factory for whatever has no script — the agent-assist fork of a call (keys
    ``<CallSid>/caller`` and ``<CallSid>/agent``) heard by the real model while the dialog runs on text.
    """

    def __init__(self, unscripted: RecognizerFactory | None = None) -> None:
        self._scripts: dict[str, deque[str]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._unscripted = unscripted

    def script(self, call_sid: str, texts: list[str]) -> None:
        with self._lock:
            self._scripts[call_sid].extend(texts)

    def new_recognizer(self, call_sid: str) -> Recognizer:
        with self._lock:
            if self._unscripted is not None and call_sid not in self._scripts:
                return self._unscripted.new_recognizer(call_sid)
            return ScriptedRecognizer(self._scripts[call_sid])
