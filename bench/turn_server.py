"""The turn-taking benchmark's server: Warmline with the real Korean model, told the words a Dutch model would hear.

    python -m bench.turn_server --scripts scripts.json --host 127.0.0.1 --port 8000

Adaptive end of turn reads the caller's words at each pause. No Dutch or English Vosk model can reach this machine,
and the Korean one turns Dutch speech into Korean words, so the benchmark needs words from somewhere else: each
caller turn's script (``{call_sid: [[[text, end_sample], …] per utterance, …]}``) says what was said and where each
stretch of speech ends in the utterance's audio. ``OracleEngine`` is the real ``VoskEngine`` — every frame is decoded
by the real model, sealed and finalised as in production, so every millisecond of decoding is real — whose
recognisers report the script's words for the audio fed so far: what a Dutch model that hears every word right
would say at that moment. Only the benchmark uses it.
"""

from __future__ import annotations

import argparse
import json
from collections import deque
from pathlib import Path

import uvicorn

from ivr.api import create_app
from ivr.config import Settings
from ivr.speech.models import resolve_model
from ivr.speech.stt import VoskEngine, VoskRecognizer
from ivr.speech.types import Transcript, Word

#: a stretch counts as heard once the audio fed reaches its end less this (the server's speech start may be a
#: frame or two off the benchmark's); a seal comes ≥ 200 ms after a stretch ends, the next stretch ends ≥ 300 ms later
TOLERANCE_SAMPLES = 800

Stretch = tuple[str, int]  # words, and the 8 kHz sample of the utterance where they end


class OracleRecognizer(VoskRecognizer):
    """A real Vosk recogniser whose words come from the benchmark's script (see the module docstring)."""

    def __init__(self, engine: VoskEngine, call_sid: str, script: deque[list[Stretch]]) -> None:
        super().__init__(engine, call_sid)
        self._script = script
        self._fed = 0

    def accept(self, pcm8k: bytes) -> None:
        super().accept(pcm8k)
        self._fed += len(pcm8k) // 2

    def partial(self) -> str:
        super().partial()
        return self._heard()

    def final(self) -> Transcript:
        real = super().final()
        text = self._heard()
        if self._script:
            text = text or " ".join(words for words, _ in self._script[0])
            self._script.popleft()
        self._fed = 0
        return Transcript(text=text, words=tuple(Word(w, 1.0) for w in text.split()), duration=real.duration)

    def set_grammar(self, phrases: list[str] | None) -> None:
        super().set_grammar(phrases)
        self._fed = 0  # an unfinished utterance is discarded

    def _heard(self) -> str:
        stretches = self._script[0] if self._script else []
        return " ".join(words for words, end in stretches if end - TOLERANCE_SAMPLES <= self._fed)


class OracleEngine(VoskEngine):
    """The real engine (pool, warm-up, metrics), handing out ``OracleRecognizer``s for scripted calls."""

    def __init__(self, model_path: Path, scripts: dict[str, list[list[Stretch]]], *, max_natives: int | None) -> None:
        super().__init__(model_path, max_natives=max_natives)
        self._scripts = {sid: deque(turns) for sid, turns in scripts.items()}

    def new_recognizer(self, call_sid: str) -> VoskRecognizer:
        script = self._scripts.get(call_sid)
        if script is None:
            return VoskRecognizer(self, call_sid)
        return OracleRecognizer(self, call_sid, script)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scripts", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    raw = json.loads(args.scripts.read_text(encoding="utf-8"))
    scripts = {sid: [[(str(w), int(e)) for w, e in utterance] for utterance in turns] for sid, turns in raw.items()}
    settings = Settings()
    engine = OracleEngine(resolve_model(settings), scripts, max_natives=settings.recognizers)
    uvicorn.run(
        create_app(settings, recognizers=engine),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        ws_ping_interval=None,
        ws_per_message_deflate=False,  # as ivr serve runs it
    )


if __name__ == "__main__":
    main()
