"""What the speech layer hands upward: transcripts with per-word confidence, and the recogniser contract."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word with Vosk's posterior confidence (0–1) and its timing in seconds."""

    text: str
    confidence: float
    start: float = 0.0
    end: float = 0.0


@dataclass(frozen=True, slots=True)
class Transcript:
    """The result of one caller utterance."""

    text: str
    words: tuple[Word, ...] = field(default_factory=tuple)
    #: seconds of caller audio that produced it
    duration: float = 0.0

    @property
    def confidence(self) -> float:
        """Mean word confidence; 0.0 when nothing was recognised (nothing understood is not 'sure')."""
        if not self.words:
            return 0.0
        return sum(w.confidence for w in self.words) / len(self.words)

    @property
    def is_empty(self) -> bool:
        return not self.text.strip()


class Recognizer(Protocol):
    """One call's streaming recogniser. Blocking methods: call them from a worker thread, never the event loop.

    ``accept`` takes PCM16 at 8 kHz (the telephone rate); implementations resample to what their model needs.
    """

    def accept(self, pcm8k: bytes) -> None: ...

    def partial(self) -> str: ...

    def seal(self) -> None:
        """The caller paused: decode what they said so far now, so ``final`` is quick if they do not go on."""
        ...

    def final(self) -> Transcript:
        """End the utterance, return what was said, and get ready for the next one."""
        ...

    def set_grammar(self, phrases: list[str] | None) -> None:
        """Restrict the next utterances to these phrases (None = free speech)."""
        ...

    def close(self) -> None: ...


class RecognizerFactory(Protocol):
    """A shared engine (one loaded model) that hands out one recogniser per call."""

    def new_recognizer(self, call_sid: str) -> Recognizer: ...
