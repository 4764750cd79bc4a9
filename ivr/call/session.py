"""One live call: caller audio in, dialog decisions, prompts out.

The session is the only stateful piece of a call turn. It runs the flow in one direction — μ-law frames → endpointing
→ recogniser (on the decode pool, never on the event loop) → dialog step → actions (prompts, listening, transfer) —
and owns every per-call resource (recogniser, tasks, timers) so that closing it leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol, cast

import numpy as np

from ivr.audio.codec import TELEPHONE_RATE, pcm_to_bytes, ulaw_decode
from ivr.call.inbound import AudioRateLimit
from ivr.call.playback import Speaker, StreamClosed
from ivr.call.progress import Progress, back_state
from ivr.call.record import CallRegistry, Outcome
from ivr.call.turn_taking import TurnTaking
from ivr.callers import order_to_offer, when_key
from ivr.config import Settings
from ivr.dialog.actions import (
    Action,
    CallerInput,
    CallStarted,
    GrammarName,
    Hangup,
    KeyPress,
    Listen,
    NoInput,
    Resumed,
    Say,
    Transfer,
    Utterance,
)
from ivr.dialog.engine import DialogContext, DialogState, Turn, step
from ivr.dialog.turn_end import TurnEnd
from ivr.metrics import ServerMetrics
from ivr.rules.evaluate import TransferDecision
from ivr.rules.schema import RuleSet
from ivr.signals.distress import DistressLexicon
from ivr.signals.encoder import encoder_text
from ivr.signals.voice import VoiceFeatures, voice_features
from ivr.speech.decode_pool import DecodePool
from ivr.speech.types import Recognizer, RecognizerFactory, Transcript
from ivr.speech.vad import Endpointer, SpeechEnded, SpeechStarted
from ivr.understanding import CallSignals, assess_turn

log = logging.getLogger(__name__)

VAD_FRAME_SAMPLES = 160  # 20 ms at 8 kHz
PREROLL_FRAMES = 15  # 300 ms of audio before the detected speech start goes to the recogniser too
CHUNK_FRAMES = 10  # feed the recogniser 200 ms at a time: fewer thread hops, still streaming
DTMF_INTERDIGIT_S = 2.5
MIN_SPEECH_MS = 500  # an empty result from less speech than this is noise, not a turn
#: audio chunks waiting for the recogniser, at most (a 200 ms chunk each in the normal path): ~60 s behind
MAX_DECODE_BACKLOG = 300


class Synthesizer(Protocol):
    async def synthesize(self, text: str, language: str) -> bytes: ...


@dataclass(frozen=True)
class HandoverRequest:
    """Everything the transfer desk needs to brief a colleague about this call."""

    call_sid: str
    language: str
    decision: TransferDecision
    signals: CallSignals
    dialog: DialogState


class HandoverDesk(Protocol):
    """Prepares a warm transfer (summary text and audio, agent page); returns the transfer's id."""

    async def open(self, request: HandoverRequest) -> str: ...


@dataclass(frozen=True)
class SessionDeps:
    """What every call shares: one model, one decode pool, one TTS owner, the dialog per language."""

    recognizers: RecognizerFactory
    pool: DecodePool
    synth: Synthesizer
    dialogs: Mapping[str, DialogContext]
    registry: CallRegistry
    settings: Settings
    grammar_phrases: Callable[[str, GrammarName], list[str] | None]
    metrics: ServerMetrics
    rules: Callable[[], RuleSet]
    lexicons: Mapping[str, DistressLexicon]
    handovers: HandoverDesk


@dataclass
class TurnMetrics:
    """Per-call timings for benchmarks: end of caller speech → first response audio."""

    response_latencies_ms: list[float] = field(default_factory=list)
    utterances: int = 0
    barge_ins: int = 0
    dropped_chunks: int = 0


@dataclass(frozen=True)
class _Seal:
    """The caller paused long enough for the recogniser to finalise what it has heard (pause ``pause_id``)."""

    pause_id: int


@dataclass(frozen=True)
class _EndOfUtterance:
    speech_ms: int
    audio: np.ndarray  # the utterance's 8 kHz PCM, for the voice's distress features


class CallSession:
    """Drives one call from ``start`` to ``close``; the WebSocket handler feeds it frames."""

    def __init__(
        self,
        call_sid: str,
        stream_sid: str,
        language: str,
        deps: SessionDeps,
        send: Callable[[str], Awaitable[None]],
        resume: Progress | None = None,
    ) -> None:
        self.call_sid = call_sid
        self._resume = resume
        self.language = language
        self._deps = deps
        self._ctx = deps.dialogs[language]
        self._settings = deps.settings
        self.speaker = Speaker(stream_sid, send, speed=deps.settings.playback_speed)
        self._endpointer = Endpointer(trailing_silence_ms=deps.settings.endpoint_silence_ms)
        self._turns = TurnTaking(deps.settings, self._endpointer)
        self._state = DialogState()
        self._signals = CallSignals()
        self._utterance: list[np.ndarray] = []
        self._handover: asyncio.Task[str] | None = None
        self._decision: TransferDecision | None = None
        self._recognizer: Recognizer | None = None
        self._grammar: GrammarName = "free"  # what the recogniser is set to
        self._expected: GrammarName = "free"  # what the current turn expects (keypad digits are collected for it)
        self._last_mark: str | None = None
        self._expect_input = False
        self._in_utterance = False
        self._preroll: deque[np.ndarray] = deque(maxlen=PREROLL_FRAMES)
        self._chunk: list[np.ndarray] = []
        self._held: list[np.ndarray] = []  # trailing silence not (yet) given to the recogniser
        self._sealed = False
        #: the sentence being encoded ahead of the endpointer, and its encoding (or the turn-end verdict that does it)
        self._speculation: tuple[str, asyncio.Future[object]] | None = None
        self._seal_after_ms = self._turns.seal_after_ms
        self._naive = deps.settings.naive_decode
        self._pending_samples = np.zeros(0, dtype=np.int16)
        self._decode_queue: asyncio.Queue[object] = asyncio.Queue()  # bounded by _queue_audio
        self._inbound = AudioRateLimit(call_sid, speed=deps.settings.playback_speed)
        self._max_utterance_s = deps.settings.max_utterance_s
        self._max_utterance_frames = int(self._max_utterance_s * 1000 / 20)
        self._decoder: asyncio.Task[None] | None = None
        self._runner: asyncio.Task[None] | None = None
        self._no_input: asyncio.Task[None] | None = None
        self._dtmf_timer: asyncio.Task[None] | None = None
        self._digits = ""
        self._speech_ended_at: float | None = None
        self._lock = asyncio.Lock()
        self._recognizer_lock = asyncio.Lock()  # a Kaldi recogniser must never be used from two threads at once
        self.metrics = TurnMetrics()
        self.finished = asyncio.Event()
        self._closed = False

    # ── lifecycle ───────────────────────────────────────────────────────────────────────────────────────
    async def start(self) -> None:
        self._deps.registry.session_opened()
        self._deps.metrics.calls_started += 1
        self._recognizer = await self._deps.pool.run(self._deps.recognizers.new_recognizer, self.call_sid)
        self._deps.registry.recognizer_opened()
        self._decoder = asyncio.create_task(self._decode_loop(), name=f"decode-{self.call_sid}")
        if self._resume is not None:
            # A new stream for a call whose stream was lost: same step, signals, failure count and transcript.
            self._state, self._signals = self._resume.state, self._resume.signals
            await self._handle(Resumed(back=self._resume.back_to_bot))
        else:
            await self._handle(self._greeting())

    def _greeting(self) -> CallStarted:
        """Caller memory: the rules (and the colleague's briefing) know a returning caller called before, and one
        who called about an order this week is asked about it first."""
        record = self._deps.registry.get(self.call_sid)
        if record is None or not record.history:
            return CallStarted()
        history = tuple(record.history)
        self._signals = replace(self._signals, history=history)
        now = time.time()
        earlier = order_to_offer(history, now)
        if earlier is None or earlier.order_number is None:
            return CallStarted()
        when = when_key(earlier.started, now, self._deps.rules().zone())
        flow = self._ctx.flow
        return CallStarted(offer_order=earlier.order_number, offer_when=flow.text(when))

    async def close(self) -> None:
        """Stop everything this call owns. Safe to call twice and from any state (hang-up mid-prompt included)."""
        if self._closed:
            return
        self._closed = True
        tasks = [
            t for t in (self._runner, self._no_input, self._dtmf_timer, self._decoder, self._handover) if t is not None
        ]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.speaker.close()
        self._deps.metrics.played(self.speaker.frames_sent, self.speaker.late_frames)
        if self._recognizer is not None:
            recognizer, self._recognizer = self._recognizer, None
            async with self._recognizer_lock:
                await self._deps.pool.run(recognizer.close)
            self._deps.registry.recognizer_closed()
        self._deps.registry.session_closed()
        self._deps.metrics.calls_ended += 1
        self.finished.set()

    def hand_over(self, reason: str) -> None:
        """End this call's stream cleanly without a decision of ours (the instance is draining): Twilio then asks
        ``/twilio/after-stream`` — on any instance — what happens next, and the caller is never dropped."""
        if self._closed or self.finished.is_set():
            return
        log.info("call %s: handing over: %s", self.call_sid, reason)
        self._deps.registry.add_event(self.call_sid, "action", text="handed over", detail=reason)
        self._deps.registry.plan_handover(self.call_sid)
        self.finished.set()

    # ── inbound events ──────────────────────────────────────────────────────────────────────────────────
    async def on_audio(self, ulaw: bytes) -> None:
        if not self._inbound.admit(len(ulaw)):
            return  # faster than a phone line sends: not worth the other callers' time
        samples = np.concatenate([self._pending_samples, ulaw_decode(ulaw)])
        whole = len(samples) - len(samples) % VAD_FRAME_SAMPLES
        self._pending_samples = samples[whole:]
        for offset in range(0, whole, VAD_FRAME_SAMPLES):
            await self._on_frame(samples[offset : offset + VAD_FRAME_SAMPLES])

    async def _on_frame(self, frame: np.ndarray) -> None:
        event = self._endpointer.feed(frame)
        if self._naive:
            # Benchmark baseline: every 20 ms frame goes to the recogniser at once, speech or not.
            self._queue_audio(pcm_to_bytes(frame))
            if self._in_utterance:
                self._utterance.append(frame)
        elif self._in_utterance:
            self._utterance.append(frame)
            if not isinstance(event, SpeechEnded):
                self._route(frame)
        else:
            self._preroll.append(frame)
        if isinstance(event, SpeechStarted) and self._expect_input and not self._in_utterance:
            await self._begin_utterance()
        elif isinstance(event, SpeechEnded) and self._in_utterance:
            self._end_utterance(event.speech_ms)
        elif self._in_utterance and len(self._utterance) >= self._max_utterance_frames:
            # A turn that never pauses (noise, a radio, someone reading aloud) is decided after the cap: the
            # caller gets an answer, and the call's memory stays bounded.
            log.info(
                "call %s: caller turn reached %.0f s; deciding on what was said", self.call_sid, self._max_utterance_s
            )
            self._endpointer.reset()
            self._end_utterance(len(self._utterance) * VAD_FRAME_SAMPLES // 8)

    async def _begin_utterance(self) -> None:
        if self.speaker.is_playing:
            if not self.speaker.interruptible:
                return  # the caller must hear this one (e.g. the transfer announcement)
            self.metrics.barge_ins += 1
            self._deps.registry.add_event(self.call_sid, "barge_in", text="caller spoke over the prompt")
            await self.speaker.interrupt()
        self._cancel(self._no_input)
        self._in_utterance = True
        self._turns.begin_turn()
        self._chunk = list(self._preroll)
        self._utterance = list(self._preroll)
        self._preroll.clear()

    def _route(self, frame: np.ndarray) -> None:
        """Send a frame of the utterance to the recogniser, except trailing silence past the seal point."""
        silence = self._endpointer.silence_ms
        if silence == 0.0:
            if self._sealed:  # the caller went on after a pause: the pause belongs to what they say
                self._turns.resumed((self._seal_after_ms or 0) + 20 * len(self._held))
                self._chunk.extend(self._held)
                self._held = []
            self._sealed = False
        elif self._seal_after_ms is not None and silence > self._seal_after_ms:
            self._held.append(frame)
            if not self._sealed:
                self._sealed = True
                self._flush_chunk()
                self._decode_queue.put_nowait(_Seal(self._turns.pause_id))
            return
        self._chunk.append(frame)
        if len(self._chunk) >= CHUNK_FRAMES:
            self._flush_chunk()

    def _end_utterance(self, speech_ms: int) -> None:
        self._in_utterance = False
        self._held = []
        self._sealed = False
        self._flush_chunk()
        self._speech_ended_at = time.monotonic()
        audio = np.concatenate(self._utterance) if self._utterance else np.zeros(0, dtype=np.int16)
        self._utterance = []
        self._decode_queue.put_nowait(_EndOfUtterance(speech_ms, audio))

    def _flush_chunk(self) -> None:
        if self._chunk:
            self._queue_audio(pcm_to_bytes(np.concatenate(self._chunk)))
            self._chunk = []

    def _queue_audio(self, pcm: bytes) -> None:
        """Audio for the recogniser, unless decoding has fallen that far behind (then it is dropped: the queue
        is bounded, and markers — seal, end of utterance — always get through)."""
        if self._decode_queue.qsize() >= MAX_DECODE_BACKLOG:
            self.metrics.dropped_chunks += 1
            return
        self._decode_queue.put_nowait(pcm)

    async def on_dtmf(self, digit: str) -> None:
        if self.speaker.is_playing and self.speaker.interruptible and self._expect_input:
            await self.speaker.interrupt()
        self._cancel(self._no_input)
        self._deps.registry.add_event(self.call_sid, "dtmf", text=digit)
        if self._expected != "digits":
            await self._handle(KeyPress(digit))
            return
        if digit == "#":
            await self._submit_digits()
            return
        self._digits += digit
        self._cancel(self._dtmf_timer)
        self._dtmf_timer = asyncio.create_task(self._digits_timeout())

    async def _digits_timeout(self) -> None:
        await asyncio.sleep(DTMF_INTERDIGIT_S / self._settings.playback_speed)
        self._dtmf_timer = None
        await self._submit_digits()

    async def _submit_digits(self) -> None:
        self._cancel(self._dtmf_timer)
        digits, self._digits = self._digits, ""
        if digits:
            await self._handle(KeyPress(digits))

    def on_mark(self, name: str) -> None:
        self.speaker.on_mark(name)

    # ── recognition (worker threads) ────────────────────────────────────────────────────────────────────
    async def _decode_loop(self) -> None:
        """Feeds the recogniser in order; one call never has two decodes in flight."""
        while True:
            item = await self._decode_queue.get()
            recognizer = self._recognizer
            if recognizer is None:
                return
            if isinstance(item, _EndOfUtterance):
                # The voice's features need only the audio: work them out on the other decode thread meanwhile.
                features = asyncio.ensure_future(self._deps.pool.run(voice_features, item.audio, urgent=True))
                try:
                    async with self._recognizer_lock:
                        transcript: Transcript = await self._deps.pool.run(self._final, recognizer, urgent=True)
                    voice = await features
                finally:
                    features.cancel()
                if transcript.is_empty and item.speech_ms < MIN_SPEECH_MS:
                    # A click or a burst of line noise, not a caller's turn: don't count it as a failed attempt.
                    self._speech_ended_at = None
                    if self._expect_input:
                        self._arm_no_input()
                    continue
                self.metrics.utterances += 1
                started = time.perf_counter()
                await self._sentence_vector(transcript.text)
                await self._handle(Utterance(transcript), voice=voice, prepared_s=time.perf_counter() - started)
            elif isinstance(item, _Seal):
                async with self._recognizer_lock:
                    heard = await self._deps.pool.run(self._seal, recognizer, urgent=True)
                if self._turns.adaptive and self._in_utterance:
                    await self._judge_pause(item.pause_id, heard)
                else:
                    self._speculate(heard)
            elif isinstance(item, bytes):
                # Audio of a turn that has ended or paused is what the caller now waits on; audio of a caller
                # still talking can wait behind it.
                urgent = self._sealed or not self._in_utterance
                async with self._recognizer_lock:
                    await self._deps.pool.run(self._accept, recognizer, item, urgent=urgent)

    def _accept(self, recognizer: Recognizer, audio: bytes) -> None:
        """Runs on a decode thread; the cost is booked for the recogniser's real-time factor."""
        start = time.perf_counter()
        recognizer.accept(audio)
        self._deps.metrics.decoded(time.perf_counter() - start, len(audio) / 2 / TELEPHONE_RATE)

    def _seal(self, recognizer: Recognizer) -> str:
        """Finish decoding at a pause; returns what the turn's transcript will be if the caller says no more."""
        start = time.perf_counter()
        recognizer.seal()
        self._deps.metrics.decoded(time.perf_counter() - start)
        return recognizer.partial()

    async def _judge_pause(self, pause_id: int, heard: str) -> None:
        """Adaptive end of turn: the words so far set this pause's hold, and may end the turn now. Judging encodes
        the sentence (on a decode thread), so it doubles as the speculative encoding below."""
        expected = self._expected
        verdict: asyncio.Future[TurnEnd] = asyncio.ensure_future(
            self._deps.pool.run(self._turns.judge, self._ctx, heard, expected, urgent=True)
        )
        self._speculation = (encoder_text(heard), cast("asyncio.Future[object]", verdict))
        try:
            ended = self._turns.apply(pause_id, await verdict)
        except Exception:
            log.exception("call %s: judging the pause failed; the default silence ends the turn", self.call_sid)
            return
        if ended is not None and self._in_utterance:
            self._end_utterance(ended.speech_ms)

    # ── sentence vectors ────────────────────────────────────────────────────────────────────────────────
    # The sentence vector is the slow part of understanding a turn (10–25 ms). At a seal the recogniser already
    # knows what the transcript will be if the caller says no more, and the endpointer still waits its last
    # 400 ms of silence: encode it then, on a decode thread, and the dialog step finds it ready.
    def _speculate(self, heard: str) -> None:
        encoder = self._ctx.flow.intents.encoder
        text = encoder_text(heard)
        if encoder is None or not text or (self._speculation is not None and self._speculation[0] == text):
            return
        vector: asyncio.Future[object] = asyncio.ensure_future(self._deps.pool.run(encoder.one, text, urgent=True))
        self._speculation = (text, vector)

    async def _sentence_vector(self, heard: str) -> None:
        """Make sure the turn's vector is in the encoder's cache before the (event-loop) dialog step needs it."""
        encoder = self._ctx.flow.intents.encoder
        text = encoder_text(heard)
        speculation, self._speculation = self._speculation, None
        if speculation is not None and speculation[0] == text:
            with contextlib.suppress(Exception):
                await speculation[1]
        if encoder is not None and text and not encoder.has(text):
            await self._deps.pool.run(encoder.one, text, urgent=True)

    def _final(self, recognizer: Recognizer) -> Transcript:
        start = time.perf_counter()
        transcript = recognizer.final()
        self._deps.metrics.decoded(time.perf_counter() - start)
        return transcript

    # ── dialog ──────────────────────────────────────────────────────────────────────────────────────────
    async def _handle(
        self, event: CallerInput, voice: VoiceFeatures | None = None, prepared_s: float | None = None
    ) -> None:
        async with self._lock:
            if self._closed or self.finished.is_set() or self._decision is not None:
                return
            started = time.perf_counter()
            turn = step(self._ctx, self._state, event)
            assessment = assess_turn(
                self._ctx,
                self._deps.rules(),
                self._deps.lexicons[self.language],
                self._signals,
                event,
                turn,
                voice=voice,
                barge_ins=self.metrics.barge_ins,
            )
            if prepared_s is not None:
                self._deps.metrics.understood(prepared_s + time.perf_counter() - started)
            before, self._state = self._state, turn.state
            self._signals = assessment.signals
            transferring = assessment.decision is not None and any(isinstance(a, Transfer) for a in assessment.actions)
            back = back_state(before, turn.state) if transferring else None
            self._deps.registry.save_progress(
                self.call_sid, Progress(self._state, self._signals, self.language, back_state=back)
            )
            actions = assessment.actions
            self._log_turn(event, turn)
            if assessment.decision is not None and any(isinstance(a, Transfer) for a in actions):
                self._decision = assessment.decision
                actions = self._with_context_promise(actions)
                request = HandoverRequest(self.call_sid, self.language, assessment.decision, self._signals, turn.state)
                # Brief the colleague (summary text and speech) while the caller hears the announcement.
                self._handover = asyncio.create_task(
                    self._deps.handovers.open(request), name=f"handover-{self.call_sid}"
                )
            turn = Turn(turn.state, actions, turn.intent, turn.failed, turn.failure_reason)
            if self._runner is not None and not self._runner.done():
                self._runner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._runner
            listen = next((a for a in turn.actions if isinstance(a, Listen)), None)
            self._expect_input = listen is not None
            self._expected = listen.grammar if listen is not None else "free"
            self._runner = asyncio.create_task(self._perform(turn.actions), name=f"actions-{self.call_sid}")

    def _with_context_promise(self, actions: tuple[Action, ...]) -> tuple[Action, ...]:
        """After the announcement, promise the caller won't repeat themselves — only when it is true: we know what
        they called about (a caller we could not understand is not told their colleague knows the question)."""
        known = self._signals.intent not in (None, "unknown", "agent_request")
        if not known and self._state.facts.order_number is None:
            return actions
        promise = self._ctx.flow.say("transfer_context", {"company": self._ctx.company}, interruptible=False)
        at = next(i for i, a in enumerate(actions) if isinstance(a, Transfer))
        return (*actions[:at], promise, *actions[at:])

    def _log_turn(self, event: CallerInput, turn: Turn) -> None:
        registry = self._deps.registry
        signals = self._signals
        if isinstance(event, Utterance):
            registry.add_event(
                self.call_sid,
                "caller",
                text=event.transcript.text,
                confidence=round(event.transcript.confidence, 3),
                intent=turn.intent.label if turn.intent else None,
                detail=turn.failure_reason or "",
                recognition=signals.recognition.level,
                distress=signals.distress.level,
                reasons=[*signals.distress.reasons, *signals.recognition.reasons],
                expects=self._expected,
            )
        elif isinstance(event, NoInput):
            registry.add_event(self.call_sid, "no_input", detail="caller stayed silent")

    async def _perform(self, actions: tuple[Action, ...]) -> None:
        try:
            if self._expect_input:
                await self._set_grammar(self._expected)  # before the prompt, so barge-in speech uses it
            # Synthesise every prompt of the turn up front (in order, on the TTS thread) so the second one is ready
            # when the first ends: no gap the caller could mistake for their turn.
            audio = {
                id(a): asyncio.ensure_future(self._deps.synth.synthesize(a.text, self.language))
                for a in actions
                if isinstance(a, Say)
            }
            for action in actions:
                if isinstance(action, Say):
                    await self._say(action, await audio[id(action)])
                elif isinstance(action, Listen):
                    self._arm_no_input()
                elif isinstance(action, Transfer):
                    await self._finish(Outcome(kind="transfer", reason=action.reason, detail=action.detail))
                elif isinstance(action, Hangup):
                    await self._finish(Outcome(kind="hangup", reason="caller_done"))
        except asyncio.CancelledError:
            raise
        except StreamClosed:
            # The caller hung up (or the line died) mid-prompt: a hang-up, not a technical problem to hand over.
            log.info("call %s: the stream closed while Warmline was speaking", self.call_sid)
        except Exception:
            # Never a dead end: whatever broke, a person takes the call.
            log.exception("call %s: action failed; handing the caller to a person", self.call_sid)
            self._deps.registry.add_event(self.call_sid, "error", text="technical problem; transferring")
            await self._finish(Outcome(kind="transfer", reason="technical_problem"))

    async def _say(self, say: Say, audio: bytes) -> None:
        self._deps.registry.add_event(self.call_sid, "prompt", key=say.key, text=say.text)
        if self._speech_ended_at is not None:
            latency_ms = (time.monotonic() - self._speech_ended_at) * 1000
            self.metrics.response_latencies_ms.append(latency_ms)
            self._deps.metrics.responded(latency_ms)
            self._speech_ended_at = None
        self._last_mark = await self.speaker.play(audio, say.key, interruptible=say.interruptible)

    async def _set_grammar(self, grammar: GrammarName) -> None:
        if self._naive:
            return  # the baseline decodes everything with the free-speech recogniser
        if grammar != self._grammar and self._recognizer is not None:
            self._grammar = grammar
            phrases = self._deps.grammar_phrases(self.language, grammar)
            async with self._recognizer_lock:
                await self._deps.pool.run(self._recognizer.set_grammar, phrases)

    def _arm_no_input(self) -> None:
        self._cancel(self._no_input)
        self._no_input = asyncio.create_task(self._no_input_timer(), name=f"no-input-{self.call_sid}")

    async def _no_input_timer(self) -> None:
        """Counts silence from the moment the caller has heard the prompt, not from when we sent it."""
        if self._last_mark is not None:
            await self.speaker.heard(self._last_mark, within_s=60.0)
        await asyncio.sleep(self._settings.no_input_timeout_s / self._settings.playback_speed)
        if not self._in_utterance:
            self._no_input = None
            await self._handle(NoInput())

    async def _finish(self, outcome: Outcome) -> None:
        """Let the caller hear the last prompt, then end the stream so Twilio asks /twilio/after-stream."""
        self._expect_input = False
        if outcome.kind == "transfer" and self._decision is not None:
            transfer_id = ""
            if self._handover is not None:
                try:
                    transfer_id = await asyncio.wait_for(asyncio.shield(self._handover), 20.0)
                except Exception:
                    log.exception("call %s: could not prepare the colleague's briefing", self.call_sid)
            outcome = outcome.model_copy(
                update={
                    "rule": self._decision.rule,
                    "target_name": self._decision.target_name,
                    "transfer_id": transfer_id,
                }
            )
        order_number = self._state.facts.order_number
        if order_number:
            outcome = outcome.model_copy(update={"order_number": order_number})
        self._deps.registry.set_outcome(self.call_sid, outcome)
        self._deps.registry.add_event(
            self.call_sid,
            "action",
            text=f"{outcome.kind}",
            detail=f"{outcome.reason} {outcome.detail}".strip(),
        )
        if self._last_mark is not None:
            await self.speaker.heard(self._last_mark, within_s=30.0)
        self.finished.set()

    @staticmethod
    def _cancel(task: asyncio.Task[None] | None) -> None:
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
