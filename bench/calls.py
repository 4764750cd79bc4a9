"""N simulated callers at once, and what each of them experienced, read from the simulator's line timeline.

Latency is measured where the caller is: from the moment the caller's last voiced frame left the simulator to the
moment the first frame of Warmline's answer arrived, minus the trailing silence the server must wait for before it may
decide the caller has finished (``IVR_ENDPOINT_SILENCE_MS``). That remainder is what the server spent deciding and
answering, plus loopback transport.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np

from ivr.audio.codec import FRAME_MS, TELEPHONE_RATE, Pcm, ulaw_decode, ulaw_encode
from ivr.simulator.turns import CallerTurn, PressTurn, SpeakTurn, speak
from ivr.simulator.twilio import LineEvent, SimulatedCall, TwilioSimulator
from ivr.speech.vad import Endpointer, SpeechEnded

#: what the callers say: Dutch, which the Korean benchmark model will not understand (we measure speed, not accuracy)
SENTENCES = (
    "ja euh ik bel eigenlijk over dat ding van vorige week weet u wel",
    "nou het gaat over de brief die ik gisteren van jullie kreeg",
)
SHORT_SENTENCE = "hallo ik heb een vraag"

#: frames of line silence the caller's turn is preceded by, as after a prompt (longer than the VAD's floor window)
LEAD_IN_FRAMES = 100


def end_at_last_voiced(audio: Pcm, endpoint_silence_ms: int) -> Pcm:
    """Cut the turn after its last frame the server's endpointer counts as voiced.

    "End of speech" is whatever Warmline's own VAD says it is (its threshold follows the call's noise floor), so the
    same ``Endpointer`` runs here over the audio as the server will receive it (μ-law round trip, line silence
    before and after): the simulator's ``speech_end`` then marks exactly the frame the server's silence count
    starts after, and ``speech_end`` + endpoint silence is the moment the server can know the turn is over.
    """
    frame = TELEPHONE_RATE * FRAME_MS // 1000
    trailing = endpoint_silence_ms // FRAME_MS
    line = ulaw_decode(ulaw_encode(audio))
    padded = np.concatenate(
        [np.zeros(LEAD_IN_FRAMES * frame, np.int16), line, np.zeros((trailing + 10) * frame, np.int16)]
    )
    endpointer = Endpointer(trailing_silence_ms=endpoint_silence_ms)
    ended_at: int | None = None
    for index in range(len(padded) // frame):
        if isinstance(endpointer.feed(padded[index * frame : (index + 1) * frame]), SpeechEnded):
            ended_at = index
    if ended_at is None:
        raise ValueError("the caller's audio holds no speech the endpointer would detect")
    last_voiced = ended_at - trailing + 1 - LEAD_IN_FRAMES  # frames of the turn up to its last voiced one
    return audio[: last_voiced * frame]


def caller_script(kind: str, endpoint_silence_ms: int, language: str = "nl") -> list[CallerTurn]:
    """``standard``: two sentences, then keypad 0 (≥ 2 answers per call); ``short``: one short sentence, then 0."""
    if kind == "short":
        texts: tuple[str, ...] = (SHORT_SENTENCE,)
    elif kind == "standard":
        texts = SENTENCES
    else:
        raise ValueError(f"unknown script {kind!r} (standard or short)")
    turns: list[CallerTurn] = [
        SpeakTurn(end_at_last_voiced(speak(text, language), endpoint_silence_ms), label=text) for text in texts
    ]
    turns.append(PressTurn("0"))
    return turns


@dataclass(frozen=True)
class Response:
    """One answer: caller's last voiced frame sent → first frame of the next prompt received."""

    at: float  # monotonic time the caller's last voiced frame was sent
    raw_ms: float  # including the endpointing silence
    latency_ms: float  # minus the endpointing silence: the server's decision + answer time
    prompt: str  # the prompt's key, from its mark (empty if it never finished)


@dataclass
class CallOutcome:
    """One simulated call, boiled down to numbers."""

    call_sid: str
    ok: bool
    error: str = ""
    responses: list[Response] = field(default_factory=list)
    unanswered_turns: int = 0
    prompts: int = 0
    prompt_frames: int = 0
    underrun_ticks: int = 0
    greeting_after_ms: float | None = None
    max_clock_lag_ms: float = 0.0
    transferred: bool = False
    server_errors: int = 0
    heard: list[str] = field(default_factory=list)  # prompt keys whose end-of-prompt mark arrived, in order
    server_turns: list[str] = field(default_factory=list)  # how the server took each caller turn (call log)

    def as_dict(self) -> dict[str, object]:
        return {
            "call_sid": self.call_sid,
            "ok": self.ok,
            "error": self.error,
            "latencies_ms": [round(r.latency_ms, 1) for r in self.responses],
            "answered_at_s": [round(r.at, 2) for r in self.responses],  # monotonic, as the level's window_at
            "heard": self.heard,
            "server_turns": self.server_turns,
            "underrun_ticks": self.underrun_ticks,
            "transferred": self.transferred,
        }


def analyse(call: SimulatedCall, endpoint_silence_ms: int, speed: float) -> CallOutcome:
    """Turn a call's line timeline into response latencies and playout gaps."""
    timeline = sorted(call.timeline, key=lambda e: e.at)
    silence_s = endpoint_silence_ms / 1000 / speed
    responses: list[Response] = []
    unanswered = 0
    for i, event in enumerate(timeline):
        if event.kind != "speech_end":
            continue
        answer = _next(timeline, i, "prompt_start")
        if answer is None:
            unanswered += 1
            continue
        raw = answer[1].at - event.at
        mark = _next(timeline, answer[0], "mark")
        key = mark[1].detail.split(":", 1)[-1] if mark is not None else ""
        responses.append(Response(event.at, raw_ms=raw * 1000, latency_ms=(raw - silence_s) * 1000, prompt=key))
    server_errors = 0
    server_turns: list[str] = []
    if call.record is not None:
        server_errors = sum(1 for e in call.record.events if e.kind == "error")
        server_turns = [
            f"{e.kind}:{e.detail or e.intent or ''}".rstrip(":")
            for e in call.record.events
            if e.kind in ("caller", "no_input", "dtmf", "barge_in", "error")
        ]
    outcome = CallOutcome(
        call_sid=call.call_sid,
        ok=unanswered == 0 and server_errors == 0,
        responses=responses,
        unanswered_turns=unanswered,
        prompts=sum(1 for e in timeline if e.kind == "prompt_start"),
        prompt_frames=call.media_frames_received,
        underrun_ticks=sum(1 for e in timeline if e.kind == "underrun"),
        greeting_after_ms=None if call.first_prompt_after_s is None else call.first_prompt_after_s * 1000,
        max_clock_lag_ms=call.max_clock_lag_s * 1000,
        transferred=call.dial_target() is not None,
        server_errors=server_errors,
        heard=[e.detail.split(":", 1)[-1] for e in timeline if e.kind == "mark"],
        server_turns=server_turns,
    )
    if not outcome.ok:
        outcome.error = f"{unanswered} unanswered turn(s), {server_errors} server error(s)"
    return outcome


def _next(timeline: list[LineEvent], after: int, kind: str) -> tuple[int, LineEvent] | None:
    for j in range(after + 1, len(timeline)):
        if timeline[j].kind == kind:
            return j, timeline[j]
    return None


@dataclass
class LevelRun:
    """A level's calls, and the window in which all ``slots`` calls were in progress at once."""

    outcomes: list[CallOutcome]
    window: tuple[float, float]  # monotonic; responses whose speech ended inside count for the level


async def run_level(
    base_url: str,
    auth_token: str,
    turns: list[CallerTurn],
    slots: int,
    *,
    speed: float,
    spread_s: float,
    calls_per_slot: int,
    endpoint_silence_ms: int,
    timeout_s: float,
) -> LevelRun:
    """``slots`` calls in progress at once, like a busy line in steady state.

    Each slot places ``calls_per_slot`` calls back to back; slot starts are spread evenly over ``spread_s`` (about
    one call's length), so callers are at different points of their calls, as real callers are — not all talking
    in the same second. The level's numbers come from the window between the last slot's start and the first
    slot's end, when exactly ``slots`` calls are on the line.
    """
    simulator = TwilioSimulator(base_url, auth_token, speed=speed, timeout_s=timeout_s)
    ends: list[float] = []

    async def one() -> CallOutcome:
        sid = simulator.new_call_sid()
        try:
            call = await simulator.call(turns, call_sid=sid)
        except Exception as exc:  # a failed call is a result, not a crash of the benchmark
            return CallOutcome(call_sid=sid, ok=False, error=f"{type(exc).__name__}: {exc}"[:300])
        return analyse(call, endpoint_silence_ms, speed)

    async def slot(index: int) -> list[CallOutcome]:
        await asyncio.sleep(spread_s * index / slots)
        outcomes = [await one() for _ in range(calls_per_slot)]
        ends.append(time.monotonic())
        return outcomes

    t0 = time.monotonic()
    results = await asyncio.gather(*(slot(i) for i in range(slots)))
    window = (t0 + spread_s * (slots - 1) / slots, min(ends))
    return LevelRun([o for outcomes in results for o in outcomes], window)


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    array = np.array(values, dtype=np.float64)
    return {
        "p50": round(float(np.percentile(array, 50)), 1),
        "p95": round(float(np.percentile(array, 95)), 1),
        "max": round(float(array.max()), 1),
    }
