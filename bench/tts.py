"""What the prompt cache saves: the same prompts rendered by espeak-ng, then served from memory and from disk."""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ivr.audio.codec import TELEPHONE_RATE
from ivr.config import Settings
from ivr.speech.prompts import is_deployment_static, load_prompts
from ivr.speech.tts import SpeechSynthesizer


@dataclass(frozen=True)
class TtsTimings:
    prompts: int
    audio_s: float  # seconds of speech in those prompts
    uncached_ms: float  # mean per prompt: espeak-ng rendering + conversion to 8 kHz μ-law + cache write
    disk_cached_ms: float  # mean per prompt: a fresh synthesizer reading the cache files
    memory_cached_ms: float  # mean per prompt: the in-memory LRU

    def as_dict(self) -> dict[str, float | int]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def sample_prompts(settings: Settings, language: str, count: int) -> list[str]:
    """The first ``count`` prompts that need no call data, as the caller would hear them."""
    texts = [
        text.format(company=settings.company_name)
        for text in load_prompts(settings.grammars_dir, language).values()
        if is_deployment_static(text)
    ]
    return texts[:count]


def measure_tts(settings: Settings, language: str = "nl", count: int = 10) -> TtsTimings:
    texts = sample_prompts(settings, language, count)
    with tempfile.TemporaryDirectory(prefix="warmline-tts-bench-") as tmp:
        cache = Path(tmp)
        with SpeechSynthesizer(cache, settings.grammars_dir, rate=settings.tts_rate) as synth:
            t0 = time.perf_counter()
            audio = [synth.synthesize_blocking(text, language) for text in texts]
            uncached = time.perf_counter() - t0
            t0 = time.perf_counter()
            for text in texts:
                synth.synthesize_blocking(text, language)
            memory = time.perf_counter() - t0
        with SpeechSynthesizer(cache, settings.grammars_dir, rate=settings.tts_rate) as synth:
            t0 = time.perf_counter()
            for text in texts:
                synth.synthesize_blocking(text, language)
            disk = time.perf_counter() - t0
    n = len(texts)
    return TtsTimings(
        prompts=n,
        audio_s=sum(len(a) for a in audio) / TELEPHONE_RATE,
        uncached_ms=uncached / n * 1000,
        disk_cached_ms=disk / n * 1000,
        memory_cached_ms=memory / n * 1000,
    )
