"""Speech-to-text with Vosk: one shared model per process, one streaming recogniser per call.

Loading a model costs seconds and hundreds of megabytes, so ``VoskEngine`` loads it once and hands out cheap
per-call ``VoskRecognizer``s. Every recogniser method blocks on native code; the call session runs them on a
``DecodePool`` (:mod:`ivr.speech.decode_pool`) so the event loop (and every other call) keeps moving.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from math import ceil
from pathlib import Path
from typing import Any

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


@dataclass(eq=False)
class _Native:
    """A native Kaldi recogniser and how many model-rate samples it has ever been fed (Vosk's clock for it)."""

    kaldi: Any
    grammar: tuple[str, ...] | None
    fed: int = 0


class VoskEngine:
    """One loaded Vosk model, shared read-only by every call; implements ``RecognizerFactory``.

    Native recognisers are pooled and reused across utterances and calls. That is the biggest speed-up on the call
    path: a lookahead model (such as the small Korean and Dutch ones) composes its decoding graph on the fly and
    caches the composition *in the recogniser*, so a fresh recogniser decodes its first seconds of speech ~7× slower
    than a warm one (measured: RTF 0.75 cold, 0.09 warm on this machine) and each one grows to ~70 MB. A call holds a
    native recogniser only while its caller is talking, so the pool is as large as the most callers ever talking at
    once — not the number of calls. A native goes back to the pool only after ``FinalResult``, which makes Vosk
    rebuild its feature pipeline on next use: no audio or speaker adaptation passes from one caller to the next.
    """

    def __init__(self, model_path: Path, *, reuse: bool = True, max_natives: int | None = None) -> None:
        if not is_model_dir(model_path):
            raise ModelNotFoundError(
                f"{model_path} is not a Vosk model directory (no am/final.mdl). "
                "Point IVR_VOSK_MODEL at an unpacked model, or run `ivr models download <lang>`."
            )
        vosk.SetLogLevel(-1)
        self.model_path = model_path
        self.sample_rate: int = model_sample_rate(model_path)
        self.reuse = reuse
        #: most free-speech natives alive at once (None: no limit); callers beyond wait, their audio buffered
        self.max_natives = max_natives
        self._idle: dict[tuple[str, ...] | None, list[_Native]] = {}
        self._pool_lock = threading.Lock()
        self.natives_created = 0
        self.natives_in_use = 0
        self._free_speech_alive = 0
        self.waits = 0  # times a talking caller found every free-speech native busy
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

    # ── the pool of native recognisers ─────────────────────────────────────────────────────────────────────
    def acquire(self, grammar: tuple[str, ...] | None, *, force: bool = False) -> _Native | None:
        """A finalised native recogniser for ``grammar`` (None = free speech): the warmest idle one, or a new one.

        None when every free-speech native is busy and the pool is full — a new one would decode its first
        seconds several times slower and grow by ~70 MB, and under load that spirals — unless ``force``.
        Phrase-list (grammar) natives are small and fast from the start: they are never limited.
        """
        with self._pool_lock:
            idle = self._idle.get(grammar)
            if idle:
                self.natives_in_use += 1
                return idle.pop()
        native = self._new_native(grammar, force=force)
        if native is None:
            with self._pool_lock:
                self.waits += 1
        return native

    def release(self, native: _Native) -> None:
        """Take back a native whose utterance was finalised (``FinalResult`` called after its last audio)."""
        with self._pool_lock:
            self.natives_in_use -= 1
            over = (
                native.grammar is None and self.max_natives is not None and self._free_speech_alive > self.max_natives
            )
            if self.reuse and not over:
                self._idle.setdefault(native.grammar, []).append(native)
            elif native.grammar is None:
                self._free_speech_alive -= 1  # dropped: the last reference goes with ``native``

    def _new_native(self, grammar: tuple[str, ...] | None, *, force: bool = False) -> _Native | None:
        """A brand-new native, counted in use; None for free speech when the pool is full, unless ``force``."""
        with self._pool_lock:
            if grammar is None:
                full = self.max_natives is not None and self._free_speech_alive >= self.max_natives
                if full and not force:
                    return None
                self._free_speech_alive += 1
            self.natives_in_use += 1
            self.natives_created += 1
        return _Native(self._kaldi_recognizer(None if grammar is None else list(grammar)), grammar)

    def pool_stats(self) -> dict[str, int]:
        with self._pool_lock:
            return {
                "created": self.natives_created,
                "in_use": self.natives_in_use,
                "idle": sum(len(v) for v in self._idle.values()),
                "waits": self.waits,
            }

    def warm_up(self, pcm: bytes, count: int) -> float:
        """Decode ``pcm`` (PCM16 at the model's rate) on ``count`` new free-speech natives and pool them, so callers
        are decoded at warm speed; returns the seconds it took. Fewer when the pool is full (never an idle native
        warmed twice). Blocking: run it on a thread; several threads may warm at once."""
        started = time.perf_counter()
        natives = [n for n in (self._new_native(None) for _ in range(count)) if n is not None]
        for native in natives:
            native.kaldi.AcceptWaveform(pcm)
            native.kaldi.FinalResult()
            native.fed += len(pcm) // 2
        for native in natives:
            self.release(native)
        return time.perf_counter() - started

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

    It borrows a native recogniser from the engine's pool when the caller starts talking and gives it back when
    the utterance is finalised (or sealed at a pause), so idle calls hold no decoder memory. Blocking: run every
    method on a worker thread. Calls may land on different pool threads, so a lock keeps the native recogniser
    from being used by two at once.
    """

    def __init__(self, engine: VoskEngine, call_sid: str) -> None:
        self.call_sid = call_sid
        self._engine = engine
        self._lock = threading.Lock()
        self._resampler = StreamResampler(TELEPHONE_RATE, engine.sample_rate)
        self._grammar: tuple[str, ...] | None = None
        self._native: _Native | None = None
        self._native_base = 0  # the native's clock (samples) at the start of the current utterance
        self._backlog: list[Pcm] = []  # model-rate audio waiting for a free native (the pool was busy)
        self._utterance_samples = 0  # model-rate samples of the current utterance fed so far (all natives)
        self._accepted_8k = 0  # telephone samples accepted in the current utterance
        self._words: list[Word] = []  # words of the segments already finalised in this utterance
        self._texts: list[str] = []
        self._closed = False

    @property
    def grammar(self) -> tuple[str, ...] | None:
        """The phrase list in force (after dropping unknown words), or None for free speech."""
        return self._grammar

    def accept(self, pcm8k: bytes) -> None:
        """Feed telephone audio (PCM16, 8 kHz)."""
        with self._lock:
            self._check_open()
            samples = bytes_to_pcm(pcm8k)
            self._accepted_8k += len(samples)
            self._feed(self._resampler.push(samples))

    def partial(self) -> str:
        """What has been heard so far in this utterance (unstable: the last words may still change)."""
        with self._lock:
            self._check_open()
            current = ""
            if self._native is not None:
                current = str(json.loads(self._native.kaldi.PartialResult()).get("partial", ""))
            return " ".join(t for t in [*self._texts, current] if t)

    def seal(self) -> None:
        """The caller paused: finish decoding what they said so far, so ``final`` is quick if they do not go on.

        If they do go on, their next words are decoded as a new segment of the same utterance.
        """
        with self._lock:
            self._check_open()
            self._feed(self._resampler.flush())
            self._finish_native(keep=True, force=False)

    def final(self) -> Transcript:
        """End the utterance: return everything heard since the last ``final`` and start a fresh utterance."""
        with self._lock:
            self._check_open()
            self._feed(self._resampler.flush())
            self._finish_native(keep=True)
            transcript = Transcript(
                text=" ".join(self._texts),
                words=tuple(self._words),
                duration=self._accepted_8k / TELEPHONE_RATE,
            )
            self._start_utterance()
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
            self._check_open()
            self._finish_native(keep=False, closing=True)
            self._resampler.reset()
            self._grammar = grammar
            self._start_utterance()

    def close(self) -> None:
        """Give the native recogniser back; further use raises."""
        with self._lock:
            if not self._closed:
                self._finish_native(keep=False, closing=True)
                self._closed = True

    # ── internals (called with the lock held) ──────────────────────────────────────────────────────────────
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"recognizer for call {self.call_sid} is closed")

    def _start_utterance(self) -> None:
        self._backlog = []
        self._words, self._texts = [], []
        self._utterance_samples = self._accepted_8k = 0
        if self._native is not None:  # kept across utterances (no pool): the next one starts at its clock now
            self._native_base = self._native.fed

    def _feed(self, samples: Pcm) -> None:
        if samples.size == 0:
            return
        if self._native is None:
            native = self._engine.acquire(self._grammar)
            if native is None:  # every native is busy: keep the audio until one is free (back-pressure)
                self._backlog.append(samples)
                return
            self._native = native
            self._native_base = native.fed - self._utterance_samples
        if self._backlog:
            samples = np.concatenate([*self._backlog, samples])
            self._backlog = []
        native = self._native
        native.fed += len(samples)
        self._utterance_samples += len(samples)
        if native.kaldi.AcceptWaveform(pcm_to_bytes(samples)):
            # Vosk's own endpointer closed a segment; its result is gone unless we take it now.
            self._keep(json.loads(native.kaldi.Result()))

    def _finish_native(self, *, keep: bool, closing: bool = False, force: bool = True) -> None:
        """Finalise the borrowed native (its last segment kept or dropped) and give it back to the pool.

        Without pooling (the benchmark's naive baseline) the call keeps its native until it closes.
        """
        if self._native is None and self._backlog:
            if not keep:
                self._backlog = []
                return
            if not force:
                return  # a pause while still waiting for a native: nothing to seal yet, keep the audio
            # The utterance is over and its words are wanted now: take a native even if the pool is full.
            self._native = self._engine.acquire(self._grammar, force=True)
            if self._native is not None:
                self._native_base = self._native.fed - self._utterance_samples
                pending, self._backlog = np.concatenate(self._backlog), []
                self._feed(pending)
        self._backlog = []
        native = self._native
        if native is None:
            return
        result = json.loads(native.kaldi.FinalResult())
        if keep:
            self._keep(result)
        if self._engine.reuse or closing:
            self._native = None
            self._engine.release(native)

    def _keep(self, result: dict[str, Any]) -> None:
        # Vosk times count on the native's own clock; callers want them from the utterance start.
        offset = self._native_base / self._engine.sample_rate
        self._words.extend(
            Word(
                text=str(w["word"]),
                confidence=min(1.0, max(0.0, float(w.get("conf", 0.0)))),
                start=max(0.0, float(w.get("start", 0.0)) - offset),
                end=max(0.0, float(w.get("end", 0.0)) - offset),
            )
            for w in result.get("result", [])
        )
        text = str(result.get("text", "")).strip()
        if text:
            self._texts.append(text)
