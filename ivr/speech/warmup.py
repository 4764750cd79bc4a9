"""Warm the recogniser pool at start-up so the first callers are decoded at full speed.

A lookahead Vosk model builds its decoding graph lazily inside each native recogniser; the first seconds of speech a
recogniser ever hears decode several times slower than later ones. Decoding one of our own prompts (telephone-band,
through the same μ-law path callers take) on a few pooled recognisers pays that cost before the first call does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from ivr.audio.codec import TELEPHONE_RATE, pcm_to_bytes, resample, ulaw_decode
from ivr.speech.stt import VoskEngine

log = logging.getLogger(__name__)


class _Synthesizer(Protocol):
    async def synthesize(self, text: str, language: str) -> bytes: ...


async def warm_up_recognizers(
    engine: VoskEngine, synth: _Synthesizer, text: str, language: str, count: int, *, threads: int = 1
) -> float:
    """Decode ``text`` spoken by our TTS on ``count`` new pooled recognisers, spread over ``threads`` threads at
    once (Vosk decodes in parallel); returns the seconds it took."""
    if count <= 0:
        return 0.0
    pcm = await _speech(engine, synth, text, language)
    shares = [count // threads + (1 if n < count % threads else 0) for n in range(max(1, threads))]
    started = time.perf_counter()
    await asyncio.gather(*(asyncio.to_thread(engine.warm_up, pcm, share) for share in shares if share))
    seconds = time.perf_counter() - started
    log.info("warmed %d recognisers in %.1fs", count, seconds)
    return seconds


async def _speech(engine: VoskEngine, synth: _Synthesizer, text: str, language: str) -> bytes:
    """``text`` as our TTS says it, through the telephone path a caller's audio takes, at the model's rate."""
    ulaw = await synth.synthesize(text, language)
    return pcm_to_bytes(resample(ulaw_decode(ulaw), TELEPHONE_RATE, engine.sample_rate))
