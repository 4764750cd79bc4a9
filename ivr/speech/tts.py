"""Text to speech: pyttsx3 (espeak-ng) on one owner thread, results cached on disk as telephone audio.

pyttsx3 is not thread-safe, and espeak-ng underneath it is a process-wide singleton (initialised once, one
global synth callback). So exactly one thread per process touches the engine, whichever ``SpeechSynthesizer``
asks: jobs go in through a queue and results come back as ``concurrent.futures.Future``; coroutines await them
with ``asyncio.wrap_future`` so the event loop never blocks on synthesis.

Every rendering is cached in ``cache_dir`` under the sha256 of what shaped the sound (voice, rate, text, and
any pitch/volume override) as ``<key>.ulaw`` (raw 8 kHz μ-law, what Media Streams carries) and ``<key>.wav``
(8 kHz PCM16, for Twilio ``<Play>``). Files are written to a temporary name and ``os.replace``-d into place,
so another process sharing the cache never reads half a file. A small in-memory LRU sits on top for the
prompts every call hears.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import queue
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import yaml

from ivr.audio.codec import TELEPHONE_RATE, read_wav, resample, ulaw_encode, wav_bytes
from ivr.errors import GrammarError, SynthesisError
from ivr.speech.espeak_process import EspeakProcess

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 15.0
DEFAULT_PITCH = 50  # espeak-ng's own default, 0–100
DEFAULT_VOLUME = 1.0  # pyttsx3 scale: 1.0 = espeak-ng amplitude 100
#: bump when the rendering pipeline changes, so stale files in a shared cache are not served
CACHE_FORMAT = "warmline-tts-1"


def check_rate(rate: int) -> None:
    if not 80 <= rate <= 500:
        raise ValueError(f"speech rate {rate} is outside espeak-ng's 80–500 words per minute")


@dataclass(frozen=True, slots=True)
class VoiceSettings:
    """Everything besides the text that changes the sound, and therefore the cache key."""

    voice: str
    rate: int
    #: espeak-ng pitch 0–100 (default 50); None = the default, kept out of the cache key
    pitch: int | None = None
    #: 0.0–2.0 (1.0 = normal); None = the default, kept out of the cache key
    volume: float | None = None

    def __post_init__(self) -> None:
        check_rate(self.rate)
        if self.pitch is not None and not 0 <= self.pitch <= 100:
            raise ValueError(f"pitch {self.pitch} is outside espeak-ng's 0–100")
        if self.volume is not None and not 0.0 < self.volume <= 2.0:
            raise ValueError(f"volume {self.volume} is outside 0–2")


@dataclass(frozen=True, slots=True)
class CacheStats:
    """A snapshot for benchmarks. ``misses`` counts renderings actually run; everything else is a hit."""

    hits: int = 0
    misses: int = 0
    memory_hits: int = 0
    #: hits served by waiting on an identical rendering already in flight
    shared_hits: int = 0
    render_seconds: float = 0.0


def cache_key(text: str, voice: VoiceSettings) -> str:
    """The file stem of a rendering: stable across processes and machines."""
    parts: list[object] = [CACHE_FORMAT, voice.voice, voice.rate, text]
    if voice.pitch is not None:
        parts += ["pitch", voice.pitch]
    if voice.volume is not None:
        parts += ["volume", round(voice.volume, 3)]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8")).hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write through a temp file in the same directory, then rename: readers see all of it or nothing."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_voices(grammars_dir: Path) -> dict[str, str]:
    """language → espeak-ng voice, from every ``grammars/<lang>/language.yaml``."""
    voices: dict[str, str] = {}
    for path in sorted(grammars_dir.glob("*/language.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise GrammarError(f"{path}: not valid YAML ({exc})") from exc
        voice = data.get("voice") if isinstance(data, dict) else None
        if not isinstance(voice, str) or not voice.strip():
            raise GrammarError(f"{path}: needs a `voice:` naming an espeak-ng voice, e.g. gmw/nl")
        voices[path.parent.name] = voice.strip()
    return voices


# ── the one engine owner per process ──────────────────────────────────────────────────────────────────────
def _quiet_driver_print(*args: object, **_: object) -> None:
    """pyttsx3's espeak driver prints 'Audio saved to …' on every file; route it to debug logging instead."""
    log.debug("pyttsx3: %s", " ".join(str(a) for a in args))


class _Engine:
    """pyttsx3 in the speech engine's own process (:mod:`ivr.speech.espeak_process`), driven by one thread; lives as
    long as that process (espeak-ng cannot re-init).

    pyttsx3 2.99's espeak driver is fragile when used back to back, and every step below avoids one trap:
    espeak-ng synthesises on its own thread, so ``runAndWait`` may return before the file exists; the driver
    *cancels* the utterance if espeak-ng is still busy when the run loop starts (and espeak-ng queues setting
    changes, so it is busy right after them); and the driver's callback is still tidying up when it announces
    the finish. Hence: settings go straight to the driver, then wait for idle, speak, wait for our own
    ``finished-utterance``, and wait for idle again.
    """

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        import pyttsx3
        import pyttsx3.drivers.espeak as espeak_driver
        from pyttsx3.drivers import _espeak

        # Shadow the builtin inside the driver module only: unlike redirect_stdout, no other thread is muted.
        espeak_driver.print = _quiet_driver_print
        self._driver: Any = espeak_driver.EspeakDriver
        self._espeak: Any = _espeak
        self._timeout_s = timeout_s
        self._engine: Any = pyttsx3.init("espeak")
        self._errors: list[BaseException] = []
        self._finished = threading.Event()
        self._engine.connect("error", self._on_error)
        self._engine.connect("finished-utterance", self._on_finished)

    def _on_error(self, exception: BaseException | None = None, **_: object) -> None:
        self._errors.append(exception or RuntimeError("unknown pyttsx3 error"))

    def _on_finished(self, completed: bool = True, **_: object) -> None:
        if not completed:
            self._errors.append(RuntimeError("the driver cancelled the utterance"))
        self._finished.set()

    def voices(self) -> set[str]:
        """Lower-case names espeak-ng accepts for a voice: file identifiers (``gmw/nl``) and voice names."""
        return {str(name).lower() for v in self._engine.getProperty("voices") for name in (v.id, v.name)}

    def save(self, text: str, voice: VoiceSettings, path: Path) -> None:
        """Render to a 22.05 kHz WAV. All settings are made each time: espeak-ng keeps them between calls. (Only the
        speech engine's own process calls this, from one thread: see :mod:`ivr.speech.espeak_process`.)"""
        deadline = time.monotonic() + self._timeout_s
        self._wait_idle(deadline)
        try:
            # The driver's static setter applies at once; the engine's would queue behind pyttsx3's busy flag.
            self._driver.setProperty("voice", voice.voice)
            self._driver.setProperty("rate", voice.rate)
            self._driver.setProperty("pitch", DEFAULT_PITCH if voice.pitch is None else voice.pitch)
            self._driver.setProperty("volume", DEFAULT_VOLUME if voice.volume is None else voice.volume)
        except ValueError as exc:
            raise SynthesisError(f"espeak-ng refused the settings for voice {voice.voice!r}: {exc}") from exc
        self._wait_idle(deadline)
        self._errors.clear()
        self._finished.clear()
        self._engine.save_to_file(text, str(path))
        try:
            self._engine.runAndWait()
        except Exception as exc:
            raise SynthesisError(f"pyttsx3 failed on {text!r:.60}: {exc}") from exc
        if not self._finished.wait(max(0.0, deadline - time.monotonic())):
            raise SynthesisError(f"espeak-ng did not finish {text!r:.60} within {self._timeout_s:g} s")
        self._wait_idle(deadline)
        if self._errors:
            raise SynthesisError(f"espeak-ng failed on {text!r:.60}: {self._errors[0]}")
        if not path.exists():
            raise SynthesisError(f"espeak-ng produced no audio for {text!r:.60}")

    def _wait_idle(self, deadline: float) -> None:
        while self._espeak.IsPlaying():
            if time.monotonic() > deadline:
                raise SynthesisError(f"espeak-ng stayed busy for more than {self._timeout_s:g} s")
            time.sleep(0.001)


_Job = tuple[Callable[[EspeakProcess], Any], Future[Any]]


class _EngineOwner:
    """The thread that owns the engine: shared by every synthesizer in the process, stopped with the last."""

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        # Fixed, not per synthesizer: one impatient synthesizer must not make the shared thread look stuck.
        self._timeout_s = timeout_s
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._closed = False
        self._init_error: BaseException | None = None
        #: the job on the engine now, and since when (monotonic)
        self._running: tuple[Future[Any], float] | None = None
        self.users = 0
        self.thread = threading.Thread(target=self._run, name="warmline-tts", daemon=True)

    def start(self) -> None:
        self.thread.start()
        if not self._ready.wait(self._timeout_s):
            raise SynthesisError(f"the speech engine did not start within {self._timeout_s:.0f} s")
        if self._init_error is not None:
            raise SynthesisError(f"the speech engine could not start: {self._init_error}") from self._init_error

    @property
    def alive(self) -> bool:
        return self.thread.is_alive() and not self._closed

    def submit(self, job: Callable[[EspeakProcess], T]) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._closed or not self.thread.is_alive():
                raise SynthesisError("the speech engine thread has stopped")
            since = self._running[1] if self._running else None
            if since is not None and time.monotonic() - since > self._timeout_s:
                # Queuing behind a job that never ends would just hang the caller for another timeout.
                raise SynthesisError(f"the speech engine is stuck ({time.monotonic() - since:.0f} s on one job)")
            self._jobs.put((job, future))
        return future

    def check(self, future: Future[Any], limit: float, subject: str) -> float:
        """Raise if ``future`` cannot be expected to finish; else how long to wait before asking again.

        The limit counts from when the job *started*: waiting behind other callers' prompts on a healthy
        engine is not a failure, while an engine stuck on any job is.
        """
        if not self.thread.is_alive():
            raise SynthesisError(f"the speech engine thread has stopped ({subject})")
        running, now = self._running, time.monotonic()
        if running is None:
            return limit
        job, since = running
        if job is future:
            left = limit - (now - since)
            if left <= 0:
                raise SynthesisError(f"the speech engine did not answer within {limit:g} s ({subject})")
            return left
        if now - since > self._timeout_s:
            raise SynthesisError(f"the speech engine is stuck on another prompt ({subject})")
        return min(limit, self._timeout_s - (now - since))

    def stop(self) -> None:
        with self._lock:
            self._closed = True
            self._jobs.put(None)
        if threading.current_thread() is not self.thread:
            self.thread.join(self._timeout_s)

    def _run(self) -> None:
        global _ENGINE
        try:
            if _ENGINE is None:
                _ENGINE = EspeakProcess(DEFAULT_TIMEOUT_S)
            engine = _ENGINE
            engine.start()
        except Exception as exc:
            self._init_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while (item := self._jobs.get()) is not None:
                job, future = item
                if not future.set_running_or_notify_cancel():
                    continue
                self._running = (future, time.monotonic())
                try:
                    future.set_result(job(engine))
                except Exception as exc:
                    future.set_exception(exc)
                finally:
                    self._running = None
        finally:
            with self._lock:
                self._closed = True
            self._fail_pending()

    def _fail_pending(self) -> None:
        while True:
            try:
                item = self._jobs.get_nowait()
            except queue.Empty:
                return
            if item is not None and item[1].set_running_or_notify_cancel():
                item[1].set_exception(SynthesisError("the speech engine stopped before this prompt was spoken"))


_ENGINE: EspeakProcess | None = None
_OWNER: _EngineOwner | None = None
_OWNER_LOCK = threading.Lock()


def _acquire_owner() -> _EngineOwner:
    global _OWNER
    with _OWNER_LOCK:
        if _OWNER is None or not _OWNER.alive:
            if _OWNER is not None and _OWNER.thread.is_alive():
                raise SynthesisError("the previous speech engine thread is stuck; restart the process")
            owner = _EngineOwner()
            owner.start()
            _OWNER = owner
        _OWNER.users += 1
        return _OWNER


def _release_owner(owner: _EngineOwner) -> None:
    global _OWNER
    with _OWNER_LOCK:
        owner.users -= 1
        if owner.users <= 0:
            owner.stop()
            # A thread stuck in espeak-ng stays registered, so no second thread drives the engine beside it.
            if _OWNER is owner and not owner.thread.is_alive():
                _OWNER = None


# ── caching synthesizer ───────────────────────────────────────────────────────────────────────────────────
class _Lru:
    """key → μ-law bytes, bounded by entry count; used from the loop, worker threads and the owner thread."""

    def __init__(self, max_items: int) -> None:
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._max = max_items
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: str, value: bytes) -> None:
        if self._max <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._max:
                self._items.popitem(last=False)


@dataclass(frozen=True, slots=True)
class _Request:
    text: str
    voice: VoiceSettings
    key: str


class SpeechSynthesizer:
    """Text → 8 kHz μ-law (or an 8 kHz WAV file), rendered once and then served from the cache.

    Use as ``with SpeechSynthesizer(...) as synth:`` or call ``start()``/``close()``. Coroutines use
    ``synthesize`` / ``synthesize_wav``; ``synthesize_blocking`` is for the CLI and refuses to run on a loop.
    """

    def __init__(
        self,
        cache_dir: Path,
        grammars_dir: Path,
        rate: int = 165,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        memory_items: int = 256,
        cache: bool = True,
    ) -> None:
        check_rate(rate)  # fail at construction, not at the first call
        self.cache_dir = cache_dir
        self.grammars_dir = grammars_dir
        self.rate = rate
        self.timeout_s = timeout_s
        self.cache = cache  # False only for the benchmark's naive baseline: every prompt is rendered anew
        self._memory = _Lru(memory_items)
        self._voices: dict[str, str] = {}
        self._owner: _EngineOwner | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._inflight: dict[str, Future[bytes]] = {}
        self._hits = self._misses = self._memory_hits = self._shared_hits = 0
        self._render_seconds = 0.0

    # ── lifetime ──
    def start(self) -> None:
        """Read the voices, check espeak-ng has them, and join (or start) the engine owner thread."""
        if self._owner is not None:
            return
        if self._closed:
            raise SynthesisError("this SpeechSynthesizer was closed; make a new one")
        self._voices = load_voices(self.grammars_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        owner = _acquire_owner()
        try:
            known = self._wait(owner, owner.submit(lambda engine: engine.voices()), "listing voices")
            for language, voice in self._voices.items():
                if voice.lower() not in known:
                    raise GrammarError(
                        f"{self.grammars_dir / language / 'language.yaml'}: espeak-ng has no voice {voice!r} "
                        "(see `espeak-ng --voices`)"
                    )
        except BaseException:
            _release_owner(owner)
            raise
        self._owner = owner

    def close(self) -> None:
        """Stop using the engine; the owner thread ends with the last synthesizer. Cached files stay."""
        owner, self._owner, self._closed = self._owner, None, True
        if owner is not None:
            _release_owner(owner)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def cache_stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                hits=self._hits,
                misses=self._misses,
                memory_hits=self._memory_hits,
                shared_hits=self._shared_hits,
                render_seconds=self._render_seconds,
            )

    def voice_for(self, language: str) -> str:
        try:
            return self._voices[language]
        except KeyError:
            raise GrammarError(
                f"no voice for language {language!r}: {self.grammars_dir / language / 'language.yaml'} "
                "is missing or the synthesizer was not started"
            ) from None

    def cache_paths(self, text: str, language: str, *, rate: int | None = None) -> tuple[Path, Path]:
        """(``.ulaw``, ``.wav``) where this prompt is (or will be) cached — for tools and tests."""
        key = self._request(text, language, rate, None, None).key
        return self._path(key, "ulaw"), self._path(key, "wav")

    # ── asynchronous API (the server) ──
    async def synthesize(
        self,
        text: str,
        language: str,
        *,
        rate: int | None = None,
        pitch: int | None = None,
        volume: float | None = None,
    ) -> bytes:
        """8 kHz μ-law for ``text`` in ``language``'s voice."""
        request = self._request(text, language, rate, pitch, volume)
        return await self._obtain(request)

    async def synthesize_wav(
        self,
        text: str,
        language: str,
        *,
        rate: int | None = None,
        pitch: int | None = None,
        volume: float | None = None,
    ) -> Path:
        """Path of a cached 8 kHz PCM16 WAV of ``text`` — e.g. for a Twilio ``<Play>`` URL."""
        request = self._request(text, language, rate, pitch, volume)
        path = self._path(request.key, "wav")
        if self.cache and await asyncio.to_thread(path.exists):
            self._count_hit()
            return path
        await self._render_into_cache(request)
        return path

    async def prerender(self, text: str, language: str, *, rate: int | None = None) -> bool:
        """Make sure a prompt is cached on disk; True when it had to be rendered now."""
        request = self._request(text, language, rate, None, None)
        ulaw, wav = self._path(request.key, "ulaw"), self._path(request.key, "wav")
        if await asyncio.to_thread(lambda: ulaw.exists() and wav.exists()):
            self._count_hit()
            return False
        return await self._render_into_cache(request)

    async def _render_into_cache(self, request: _Request) -> bool:
        """Render ``request`` into the cache (or wait for the render already under way); True when this call did."""
        future, mine = self._render_future(request)
        await self._await_async(future, request)
        if not mine:
            self._count_hit(shared=True)
        return mine

    async def _obtain(self, request: _Request) -> bytes:
        if self.cache:
            audio = self._memory.get(request.key)
            if audio is not None:
                self._count_hit(memory=True)
                return audio
            audio = await asyncio.to_thread(self._read_disk, request.key)
            if audio is not None:
                self._count_hit()
                return audio
        future, mine = self._render_future(request)
        audio = await self._await_async(future, request)
        if not mine:
            self._count_hit(shared=True)
        return audio

    async def _await_async(self, future: Future[bytes], request: _Request) -> bytes:
        owner = self._running_owner()
        waiter = asyncio.wrap_future(future)
        # Consume the outcome even if nobody waits any more (timeout), so asyncio logs no "never retrieved".
        waiter.add_done_callback(lambda f: None if f.cancelled() else f.exception())
        pause = self.timeout_s
        while True:
            try:
                # shield: one caller giving up (hang-up, timeout) must not cancel a rendering others share
                return await asyncio.wait_for(asyncio.shield(waiter), pause)
            except TimeoutError:
                pause = owner.check(future, self.timeout_s, f"{request.text!r:.60}")

    # ── blocking API (the CLI) ──
    def synthesize_blocking(
        self,
        text: str,
        language: str,
        *,
        rate: int | None = None,
        pitch: int | None = None,
        volume: float | None = None,
    ) -> bytes:
        """Like ``synthesize``, for code without an event loop.

        ``pitch`` (0–100, default 50) and ``volume`` (0–2, default 1) vary the voice, e.g. to make simulated
        callers sound different; pyttsx3 2.99 passes both to espeak-ng, and both are part of the cache key.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError("synthesize_blocking() would block the event loop; await synthesize() instead")
        request = self._request(text, language, rate, pitch, volume)
        audio = self._memory.get(request.key)
        if audio is not None:
            self._count_hit(memory=True)
            return audio
        audio = self._read_disk(request.key)
        if audio is not None:
            self._count_hit()
            return audio
        future, mine = self._render_future(request)
        audio = self._wait(self._running_owner(), future, f"{request.text!r:.60}")
        if not mine:
            self._count_hit(shared=True)
        return audio

    def _wait(self, owner: _EngineOwner, future: Future[T], subject: str) -> T:
        if threading.current_thread() is owner.thread:
            raise RuntimeError("the speech engine thread cannot wait for itself")
        pause = self.timeout_s
        while True:
            try:
                return future.result(timeout=pause)
            except FutureTimeoutError:
                pause = owner.check(future, self.timeout_s, subject)

    # ── internals ──
    def _request(self, text: str, language: str, rate: int | None, pitch: int | None, volume: float | None) -> _Request:
        if self._closed:
            raise SynthesisError("this SpeechSynthesizer is closed")
        if self._owner is None:
            raise SynthesisError("SpeechSynthesizer.start() was not called (or use it as a context manager)")
        text = text.strip()
        if not text:
            raise SynthesisError("nothing to say: the prompt text is empty")
        voice = VoiceSettings(self.voice_for(language), self.rate if rate is None else rate, pitch, volume)
        return _Request(text, voice, cache_key(text, voice))

    def _render_future(self, request: _Request) -> tuple[Future[bytes], bool]:
        """The rendering of this key: the one already in flight, or a new job. True when the job is new."""
        with self._lock:
            existing = self._inflight.get(request.key)
            if existing is not None:
                return existing, False
            future = self._running_owner().submit(lambda engine: self._render(engine, request))
            self._inflight[request.key] = future
        future.add_done_callback(lambda _: self._forget(request.key))
        return future, True

    def _forget(self, key: str) -> None:
        with self._lock:
            self._inflight.pop(key, None)

    def _render(self, engine: EspeakProcess, request: _Request) -> bytes:
        """Runs on the owner thread: espeak-ng → 8 kHz → both cache files → memory."""
        started = time.perf_counter()
        raw = self.cache_dir / f".render-{uuid.uuid4().hex}.part"
        try:
            engine.save(request.text, request.voice, raw)
            samples, rate = read_wav(raw)
        finally:
            raw.unlink(missing_ok=True)
        pcm = resample(samples, rate, TELEPHONE_RATE)
        ulaw = ulaw_encode(pcm)
        # WAV first: a present .ulaw then promises a present .wav to readers in other processes.
        write_atomic(self._path(request.key, "wav"), wav_bytes(pcm, TELEPHONE_RATE))
        write_atomic(self._path(request.key, "ulaw"), ulaw)
        self._memory.put(request.key, ulaw)
        elapsed = time.perf_counter() - started
        with self._lock:
            self._misses += 1
            self._render_seconds += elapsed
        seconds = len(ulaw) / TELEPHONE_RATE
        log.debug("rendered %s in %.0f ms (%.1f s audio)", request.key[:12], elapsed * 1000, seconds)
        return ulaw

    def _read_disk(self, key: str) -> bytes | None:
        try:
            audio = self._path(key, "ulaw").read_bytes()
        except FileNotFoundError:
            return None
        if not audio:
            return None
        self._memory.put(key, audio)
        return audio

    def _running_owner(self) -> _EngineOwner:
        owner = self._owner
        if owner is None:
            raise SynthesisError("this SpeechSynthesizer is closed")
        return owner

    def _path(self, key: str, suffix: str) -> Path:
        return self.cache_dir / f"{key}.{suffix}"

    def _count_hit(self, *, memory: bool = False, shared: bool = False) -> None:
        with self._lock:
            self._hits += 1
            self._memory_hits += memory
            self._shared_hits += shared
