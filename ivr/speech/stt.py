"""Speech-to-text with Vosk: one shared model per process, one streaming recogniser per call.

Loading a model costs seconds and hundreds of megabytes, so ``VoskEngine`` loads it once and hands out cheap
per-call ``VoskRecognizer``s. Every recogniser method blocks on native code; the call session runs them on a
``DecodePool`` so the event loop (and every other call) keeps moving.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from math import ceil
from pathlib import Path
from typing import Any, TypeVar, TypeVarTuple

import numpy as np
import vosk

from ivr.audio.codec import TELEPHONE_RATE, Pcm, bytes_to_pcm, pcm_to_bytes, resample
from ivr.errors import ModelNotFoundError
from ivr.speech.models import is_model_dir
from ivr.speech.types import Transcript, Word

log = logging.getLogger(__name__)

DEFAULT_MODEL_RATE = 16000
#: Vosk's out-of-vocabulary token; only models built with it can use it in a phrase-list grammar.
UNK = "[unk]"

_SAMPLE_FREQUENCY = re.compile(r"^\s*--sample-frequency=(\d+)", re.MULTILINE)

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def model_sample_rate(model_path: Path) -> int:
    """The rate the model was trained on, from ``conf/mfcc.conf``; models that do not say are 16 kHz."""
    conf = model_path / "conf" / "mfcc.conf"
    if conf.is_file():
        match = _SAMPLE_FREQUENCY.search(conf.read_text(encoding="utf-8", errors="replace"))
        if match:
            return int(match.group(1))
    return DEFAULT_MODEL_RATE


class StreamResampler:
    """Resample a stream chunk by chunk as if it were one long signal.

    Resampling each 20 ms frame on its own smears the filter's edge effects into every frame (a 50 Hz buzz
    the recogniser hears). Keeping a few samples of history before each chunk, and holding back a few after
    it, makes the output equal to resampling the whole stream at once.
    """

    def __init__(self, from_rate: int, to_rate: int) -> None:
        ratio = Fraction(to_rate, from_rate)
        self._up, self._down = ratio.numerator, ratio.denominator
        self._from_rate, self._to_rate = from_rate, to_rate
        # resample_poly's filter reaches 10·max(up, down) samples either side on the upsampled grid.
        reach = ceil(10 * max(self._up, self._down) / self._up) + 1
        self._context = ceil(reach / self._down) * self._down
        self._history: Pcm = np.zeros(0, dtype=np.int16)
        self._pending: Pcm = np.zeros(0, dtype=np.int16)

    def push(self, samples: Pcm) -> Pcm:
        """Add input; return the output that is now final (a few samples are held back until more arrive)."""
        if self._from_rate == self._to_rate:
            return samples.astype(np.int16, copy=False)
        pending = np.concatenate([self._pending, samples])
        # Emit in whole blocks of `down` input samples so every buffer starts on the output grid.
        n_emit = (len(pending) - self._context) // self._down * self._down
        if n_emit <= 0:
            self._pending = pending
            return np.zeros(0, dtype=np.int16)
        buffer = np.concatenate([self._history, pending[: n_emit + self._context]])
        out = resample(buffer, self._from_rate, self._to_rate)
        start = len(self._history) * self._up // self._down
        stop = (len(self._history) + n_emit) * self._up // self._down
        emitted = np.concatenate([self._history, pending[:n_emit]])
        self._history = emitted[-self._context :] if len(emitted) > self._context else emitted
        self._pending = pending[n_emit:]
        return out[start:stop]

    def flush(self) -> Pcm:
        """Return the held-back tail and start afresh (the next push is a new stream)."""
        if self._from_rate == self._to_rate or len(self._pending) == 0:
            self.reset()
            return np.zeros(0, dtype=np.int16)
        buffer = np.concatenate([self._history, self._pending])
        out = resample(buffer, self._from_rate, self._to_rate)
        tail = out[len(self._history) * self._up // self._down :]
        self.reset()
        return tail

    def reset(self) -> None:
        self._history = np.zeros(0, dtype=np.int16)
        self._pending = np.zeros(0, dtype=np.int16)


class VoskEngine:
    """One loaded Vosk model, shared read-only by every call; implements ``RecognizerFactory``."""

    def __init__(self, model_path: Path) -> None:
        if not is_model_dir(model_path):
            raise ModelNotFoundError(
                f"{model_path} is not a Vosk model directory (no am/final.mdl). "
                "Point IVR_VOSK_MODEL at an unpacked model, or run `ivr models download <lang>`."
            )
        vosk.SetLogLevel(-1)
        self.model_path = model_path
        self.sample_rate: int = model_sample_rate(model_path)
        started = time.perf_counter()
        try:
            self._model = vosk.Model(str(model_path))
        except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
            raise ModelNotFoundError(f"Vosk could not load the model in {model_path}: {exc}") from exc
        self.load_seconds: float = time.perf_counter() - started

    def has_word(self, word: str) -> bool:
        return int(self._model.vosk_model_find_word(word)) != -1

    def missing_words(self, phrases: list[str]) -> list[str]:
        """Words of ``phrases`` the model cannot recognise (each once, in order), for validating grammars."""
        seen: dict[str, bool] = {}
        for phrase in phrases:
            for word in phrase.split():
                if word not in seen:
                    seen[word] = self.has_word(word)
        return [word for word, known in seen.items() if not known]

    def usable_phrases(self, phrases: list[str]) -> list[str]:
        """The phrase list Vosk will really use: phrases made only of known words, plus ``[unk]`` if the model
        has it (without it, out-of-grammar speech is forced onto a grammar word)."""
        missing = set(self.missing_words(phrases))
        usable = [p for p in dict.fromkeys(p.strip() for p in phrases) if p and not missing & set(p.split())]
        if usable and self.has_word(UNK):
            usable.append(UNK)
        return usable

    def new_recognizer(self, call_sid: str) -> VoskRecognizer:
        return VoskRecognizer(self, call_sid)

    def _kaldi_recognizer(self, phrases: list[str] | None) -> Any:
        """A fresh native recogniser: never ``SetGrammar``, which aborts the process on a running one."""
        if phrases is None:
            recognizer = vosk.KaldiRecognizer(self._model, self.sample_rate)
        else:
            # ensure_ascii=False: Vosk would look up "\\ud558\\ub098" and drop every non-ASCII word.
            grammar = json.dumps(phrases, ensure_ascii=False)
            recognizer = vosk.KaldiRecognizer(self._model, self.sample_rate, grammar)
        recognizer.SetWords(True)
        return recognizer


class VoskRecognizer:
    """One call's streaming recogniser (implements ``Recognizer``).

    Blocking: run every method on a worker thread. Calls may land on different pool threads, so a lock keeps
    the native recogniser from being used by two at once.
    """

    def __init__(self, engine: VoskEngine, call_sid: str) -> None:
        self.call_sid = call_sid
        self._engine = engine
        self._lock = threading.Lock()
        self._resampler = StreamResampler(TELEPHONE_RATE, engine.sample_rate)
        self._grammar: tuple[str, ...] | None = None
        self._recognizer: Any = engine._kaldi_recognizer(None)
        self._fed = 0  # model-rate samples given to the native recogniser since it was created
        self._utterance_start = 0  # value of _fed when the current utterance began
        self._accepted_8k = 0  # telephone samples accepted in the current utterance
        self._segments: list[dict[str, Any]] = []  # results Vosk finalised on its own mid-utterance

    @property
    def grammar(self) -> tuple[str, ...] | None:
        """The phrase list in force (after dropping unknown words), or None for free speech."""
        return self._grammar

    def accept(self, pcm8k: bytes) -> None:
        """Feed telephone audio (PCM16, 8 kHz)."""
        with self._lock:
            recognizer = self._live()
            samples = bytes_to_pcm(pcm8k)
            self._accepted_8k += len(samples)
            self._feed(recognizer, self._resampler.push(samples))

    def partial(self) -> str:
        """What has been heard so far in this utterance (unstable: the last words may still change)."""
        with self._lock:
            recognizer = self._live()
            current = str(json.loads(recognizer.PartialResult()).get("partial", ""))
            return " ".join(t for t in [*(str(s.get("text", "")) for s in self._segments), current] if t)

    def final(self) -> Transcript:
        """End the utterance: return everything heard since the last ``final`` and start a fresh utterance."""
        with self._lock:
            recognizer = self._live()
            self._feed(recognizer, self._resampler.flush())
            results = [*self._segments, json.loads(recognizer.FinalResult())]
            recognizer.Reset()
            transcript = self._transcript(results)
            self._segments = []
            self._accepted_8k = 0
            self._utterance_start = self._fed
            return transcript

    def set_grammar(self, phrases: list[str] | None) -> None:
        """Restrict the next utterances to ``phrases`` (None = free speech).

        Phrases with words the model lacks are dropped (Vosk would silently ignore those words anyway). If
        nothing usable remains we fall back to free speech rather than a grammar that can match nothing. Audio
        of an unfinished utterance is discarded: call this between utterances.
        """
        grammar: tuple[str, ...] | None = None
        if phrases is not None:
            usable = self._engine.usable_phrases(phrases)
            if usable:
                grammar = tuple(usable)
            else:
                log.warning("call %s: no grammar phrase is in the vocabulary; free speech", self.call_sid)
        with self._lock:
            self._live()
            self._recognizer = self._engine._kaldi_recognizer(None if grammar is None else list(grammar))
            self._grammar = grammar
            self._resampler.reset()
            self._fed = self._utterance_start = self._accepted_8k = 0
            self._segments = []

    def close(self) -> None:
        """Free the native recogniser; further use raises."""
        with self._lock:
            self._recognizer = None

    # ── internals (called with the lock held) ──────────────────────────────────────────────────────────────
    def _live(self) -> Any:
        if self._recognizer is None:
            raise RuntimeError(f"recognizer for call {self.call_sid} is closed")
        return self._recognizer

    def _feed(self, recognizer: Any, samples: Pcm) -> None:
        if samples.size == 0:
            return
        self._fed += len(samples)
        if recognizer.AcceptWaveform(pcm_to_bytes(samples)):
            # Vosk's own endpointer closed a segment; its result is gone unless we take it now.
            self._segments.append(json.loads(recognizer.Result()))

    def _transcript(self, results: list[dict[str, Any]]) -> Transcript:
        # Vosk times count from the recogniser's creation; callers want them from the utterance start.
        offset = self._utterance_start / self._engine.sample_rate
        words = tuple(
            Word(
                text=str(w["word"]),
                confidence=min(1.0, max(0.0, float(w.get("conf", 0.0)))),
                start=max(0.0, float(w.get("start", 0.0)) - offset),
                end=max(0.0, float(w.get("end", 0.0)) - offset),
            )
            for result in results
            for w in result.get("result", [])
        )
        text = " ".join(t for t in (str(r.get("text", "")).strip() for r in results) if t)
        return Transcript(text=text, words=words, duration=self._accepted_8k / TELEPHONE_RATE)


class DecodePool:
    """Worker threads for blocking recogniser calls, so decoding never stalls the event loop.

    Vosk releases the GIL while decoding, so ``workers`` can match the cores set aside for recognition.
    """

    def __init__(self, workers: int = 2) -> None:
        self.workers = workers
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode")

    async def run(self, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        """Run ``fn(*args)`` on a worker thread and await its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting work; with ``wait``, finish what is queued first."""
        self._executor.shutdown(wait=wait, cancel_futures=not wait)
