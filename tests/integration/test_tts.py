"""Real speech from pyttsx3 + espeak-ng: audible telephone audio, cached, never blocking the event loop."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ivr.audio.codec import TELEPHONE_RATE, Pcm, rms_dbfs, ulaw_decode
from ivr.errors import GrammarError, SynthesisError
from ivr.speech.espeak_process import EspeakProcess
from ivr.speech.prompts import load_prompts, placeholders, render_all
from ivr.speech.tts import SpeechSynthesizer, VoiceSettings

SHORT = {
    "nl": "Welkom bij Warmline. Waarmee kan ik u helpen?",
    "en": "Welcome to Warmline. How can I help you today?",
}
SILENCE_DBFS = -60.0


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def synth(cache_dir: Path, grammars_dir: Path) -> Iterator[SpeechSynthesizer]:
    with SpeechSynthesizer(cache_dir, grammars_dir) as synthesizer:
        yield synthesizer


def seconds(ulaw: bytes) -> float:
    return len(ulaw) / TELEPHONE_RATE


def pitch_hz(samples: Pcm, rate: int = TELEPHONE_RATE) -> float:
    """Median fundamental frequency of the voiced 64 ms windows (autocorrelation, 60–400 Hz)."""
    signal = samples.astype(np.float64)
    window = int(0.064 * rate)
    low, high = rate // 400, rate // 60
    estimates = []
    for start in range(0, signal.size - window, window // 2):
        chunk = signal[start : start + window]
        if rms_dbfs(chunk.astype(np.int16)) < -35:
            continue
        corr = np.correlate(chunk, chunk, "full")[window - 1 :]
        estimates.append(rate / (low + int(np.argmax(corr[low:high]))))
    return float(np.median(estimates))


# ── real speech ───────────────────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize("language", ["nl", "en"])
async def test_short_prompt_renders_to_audible_8khz_ulaw(synth: SpeechSynthesizer, language: str) -> None:
    ulaw = await synth.synthesize(SHORT[language], language)
    assert 1.0 <= seconds(ulaw) <= 6.0
    assert rms_dbfs(ulaw_decode(ulaw)) > SILENCE_DBFS + 25  # speech, not hiss: around −22 dBFS in practice


def test_dutch_and_english_voices_sound_different(synth: SpeechSynthesizer) -> None:
    text = "Een twee drie vier vijf."
    assert synth.synthesize_blocking(text, "nl") != synth.synthesize_blocking(text, "en")


def test_both_cache_files_are_complete_telephone_audio(synth: SpeechSynthesizer, cache_dir: Path) -> None:
    ulaw = synth.synthesize_blocking(SHORT["nl"], "nl")
    ulaw_path, wav_path = synth.cache_paths(SHORT["nl"], "nl")
    assert ulaw_path.read_bytes() == ulaw
    with wave.open(str(wav_path), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        assert wav.getnframes() == len(ulaw)
    assert sorted(p.suffix for p in cache_dir.iterdir()) == [".ulaw", ".wav"]  # no temp files left behind


async def test_synthesize_wav_gives_a_cached_8khz_file_for_twilio_play(synth: SpeechSynthesizer) -> None:
    path = await synth.synthesize_wav("Ik verbind u door met een collega.", "nl")
    with wave.open(str(path), "rb") as wav:
        assert wav.getframerate() == 8000
        assert 1.0 <= wav.getnframes() / 8000 <= 6.0
    assert await synth.synthesize_wav("Ik verbind u door met een collega.", "nl") == path
    assert synth.cache_stats.misses == 1


def test_the_engine_prints_nothing_to_stdout(synth: SpeechSynthesizer, capsys: pytest.CaptureFixture[str]) -> None:
    synth.synthesize_blocking("Stil graag.", "nl")
    assert capsys.readouterr().out == ""


# ── the cache ─────────────────────────────────────────────────────────────────────────────────────────────
async def test_second_request_is_a_fast_cache_hit(synth: SpeechSynthesizer) -> None:
    started = time.perf_counter()
    first = await synth.synthesize(SHORT["en"], "en")
    uncached = time.perf_counter() - started
    started = time.perf_counter()
    second = await synth.synthesize(SHORT["en"], "en")
    cached = time.perf_counter() - started
    assert second == first
    assert synth.cache_stats.hits == 1
    assert synth.cache_stats.misses == 1
    assert cached < 0.005 < uncached


async def test_cache_survives_a_new_synthesizer(cache_dir: Path, grammars_dir: Path) -> None:
    with SpeechSynthesizer(cache_dir, grammars_dir) as first:
        audio = await first.synthesize(SHORT["nl"], "nl")
    with SpeechSynthesizer(cache_dir, grammars_dir) as second:
        started = time.perf_counter()
        assert await second.synthesize(SHORT["nl"], "nl") == audio
        assert time.perf_counter() - started < 0.05
        assert second.cache_stats.misses == 0
        assert second.cache_stats.hits == 1


def test_a_different_rate_is_a_different_cache_entry(synth: SpeechSynthesizer) -> None:
    normal = synth.synthesize_blocking(SHORT["en"], "en")
    fast = synth.synthesize_blocking(SHORT["en"], "en", rate=260)
    assert synth.cache_paths(SHORT["en"], "en") != synth.cache_paths(SHORT["en"], "en", rate=260)
    assert synth.cache_stats.misses == 2
    assert seconds(fast) < 0.8 * seconds(normal)


def test_an_instance_rate_is_part_of_the_key(cache_dir: Path, grammars_dir: Path) -> None:
    with SpeechSynthesizer(cache_dir, grammars_dir, rate=140) as slow:
        slow.synthesize_blocking(SHORT["en"], "en")
    with SpeechSynthesizer(cache_dir, grammars_dir, rate=200) as quick:
        quick.synthesize_blocking(SHORT["en"], "en")
        assert quick.cache_stats.misses == 1


# ── voice variation for simulated callers ─────────────────────────────────────────────────────────────────
def test_pitch_override_raises_the_voice(synth: SpeechSynthesizer) -> None:
    text = "Ik wil nu een medewerker spreken, alstublieft."
    low = ulaw_decode(synth.synthesize_blocking(text, "nl", pitch=20))
    high = ulaw_decode(synth.synthesize_blocking(text, "nl", pitch=90))
    assert pitch_hz(high) > 1.3 * pitch_hz(low)


def test_volume_override_makes_the_voice_quieter(synth: SpeechSynthesizer) -> None:
    text = "Hallo, hoort u mij?"
    normal = ulaw_decode(synth.synthesize_blocking(text, "nl"))
    quiet = ulaw_decode(synth.synthesize_blocking(text, "nl", volume=0.3))
    assert rms_dbfs(quiet) < rms_dbfs(normal) - 6


def test_overrides_are_checked_before_reaching_the_engine(synth: SpeechSynthesizer) -> None:
    with pytest.raises(ValueError, match="pitch"):
        synth.synthesize_blocking("Hallo.", "nl", pitch=150)
    with pytest.raises(ValueError, match="rate"):
        synth.synthesize_blocking("Hallo.", "nl", rate=20)


# ── concurrency and the event loop ────────────────────────────────────────────────────────────────────────
async def test_concurrent_requests_complete_while_the_event_loop_keeps_ticking(
    synth: SpeechSynthesizer,
) -> None:
    # long enough that synthesising on the loop would stall it for well over the allowed gap
    texts = [f"Dit is bericht nummer {n}. " + "Uw bestelling is onderweg en komt morgen aan. " * 12 for n in range(5)]
    gaps: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    started = time.perf_counter()
    results = await asyncio.gather(*(synth.synthesize(text, "nl") for text in texts))
    elapsed = time.perf_counter() - started
    done.set()
    await ticker

    assert len({len(r) for r in results}) == 5
    assert all(seconds(r) > 20 for r in results)
    assert synth.cache_stats.misses == 5
    assert elapsed > 0.2  # real work happened meanwhile …
    assert max(gaps) < 0.1  # … and the loop never stalled on it


async def test_identical_concurrent_requests_are_rendered_once(synth: SpeechSynthesizer) -> None:
    results = await asyncio.gather(*(synth.synthesize(SHORT["nl"], "nl") for _ in range(5)))
    assert len(set(results)) == 1
    assert synth.cache_stats.misses == 1
    assert synth.cache_stats.hits == 4


async def test_back_to_back_renders_each_get_their_own_audio(synth: SpeechSynthesizer) -> None:
    # pyttsx3's driver answers before espeak-ng has finished; a sloppy owner swaps or truncates audio here
    texts = [
        f"Bericht {n}. " + "Uw bestelling is onderweg en komt morgen aan. " * (6 if n % 2 else 1) for n in range(16)
    ]
    results = await asyncio.gather(*(synth.synthesize(t, "nl" if n % 4 < 2 else "en") for n, t in enumerate(texts)))
    durations = [seconds(r) for r in results]
    assert all(d > 12 for d in durations[1::2]), durations
    assert all(d < 6 for d in durations[0::2]), durations


async def test_waiting_behind_other_prompts_does_not_count_as_a_timeout(cache_dir: Path, grammars_dir: Path) -> None:
    sentences = "Uw bestelling is onderweg en komt morgen aan. " * 8
    with SpeechSynthesizer(cache_dir, grammars_dir) as probe:
        await probe.synthesize(sentences, "nl")
        one_render = probe.cache_stats.render_seconds
    # a limit three renders long, and a queue of eight: the last caller waits far longer than the limit
    with SpeechSynthesizer(cache_dir, grammars_dir, timeout_s=max(3 * one_render, 0.1)) as synthesizer:
        started = time.perf_counter()
        texts = [f"Bericht {n}. {sentences}" for n in range(8)]
        results = await asyncio.gather(*(synthesizer.synthesize(text, "nl") for text in texts))
        assert time.perf_counter() - started > synthesizer.timeout_s
    assert all(seconds(r) > 12 for r in results)


async def test_blocking_synthesis_refuses_to_run_on_the_event_loop(synth: SpeechSynthesizer) -> None:
    with pytest.raises(RuntimeError, match="await synthesize"):
        synth.synthesize_blocking(SHORT["nl"], "nl")


async def test_synthesis_slower_than_the_timeout_raises_instead_of_hanging(cache_dir: Path, grammars_dir: Path) -> None:
    long_text = "Uw bestelling is onderweg en komt morgen tussen negen en vijf uur aan. " * 30
    with SpeechSynthesizer(cache_dir, grammars_dir, timeout_s=0.1) as impatient:
        started = time.perf_counter()
        with pytest.raises(SynthesisError, match="did not answer within"):
            await impatient.synthesize(long_text, "nl")
        assert time.perf_counter() - started < 0.5
    # the shared engine thread is still healthy for everyone else
    with SpeechSynthesizer(cache_dir, grammars_dir) as patient:
        assert seconds(await patient.synthesize(SHORT["nl"], "nl")) > 1.0


# ── misuse and misconfiguration ───────────────────────────────────────────────────────────────────────────
def test_empty_text_and_unknown_language_are_clear_errors(synth: SpeechSynthesizer) -> None:
    with pytest.raises(SynthesisError, match="empty"):
        synth.synthesize_blocking("   ", "nl")
    with pytest.raises(GrammarError, match="'xx'"):
        synth.synthesize_blocking("Hallo.", "xx")


def test_a_closed_or_unstarted_synthesizer_says_so(cache_dir: Path, grammars_dir: Path) -> None:
    synthesizer = SpeechSynthesizer(cache_dir, grammars_dir)
    with pytest.raises(SynthesisError, match="start"):
        synthesizer.synthesize_blocking("Hallo.", "nl")
    synthesizer.start()
    synthesizer.close()
    with pytest.raises(SynthesisError, match="closed"):
        synthesizer.synthesize_blocking("Hallo.", "nl")


def test_a_voice_espeak_does_not_have_fails_at_start(tmp_path: Path) -> None:
    (tmp_path / "grammars" / "xx").mkdir(parents=True)
    (tmp_path / "grammars" / "xx" / "language.yaml").write_text("code: xx\nvoice: zz/nowhere\n")
    with pytest.raises(GrammarError, match="zz/nowhere"):
        SpeechSynthesizer(tmp_path / "cache", tmp_path / "grammars").start()


def test_a_language_file_without_a_voice_fails_at_start(tmp_path: Path) -> None:
    (tmp_path / "grammars" / "xx").mkdir(parents=True)
    (tmp_path / "grammars" / "xx" / "language.yaml").write_text("code: xx\n")
    with pytest.raises(GrammarError, match="voice"):
        SpeechSynthesizer(tmp_path / "cache", tmp_path / "grammars").start()


# ── prompts ───────────────────────────────────────────────────────────────────────────────────────────────
PROMPTS = {
    "nl": (
        "greeting: Welkom bij {company}. Waarmee kan ik u helpen?\n"
        "goodbye: Bedankt voor het bellen. Tot ziens.\n"
        "order_status: Uw bestelling {order} is onderweg.\n"
        "braces: 'Druk op {{hekje}} om te bevestigen.'\n"
    ),
    "en": (
        "greeting: Welcome to {company}. How can I help you?\n"
        "wait_time: The waiting time is {minutes} minutes at {company}.\n"
    ),
}


@pytest.fixture
def prompt_grammars(tmp_path: Path, grammars_dir: Path) -> Path:
    """Real language files (voices) with prompts of our own, independent of the repository's prompt texts."""
    root = tmp_path / "grammars"
    for language, prompts in PROMPTS.items():
        (root / language).mkdir(parents=True)
        shutil.copy(grammars_dir / language / "language.yaml", root / language / "language.yaml")
        (root / language / "prompts.yaml").write_text(prompts, encoding="utf-8")
    return root


async def test_render_all_prerenders_company_prompts_and_leaves_call_data_prompts(
    prompt_grammars: Path, cache_dir: Path
) -> None:
    with SpeechSynthesizer(cache_dir, prompt_grammars) as synthesizer:
        report = await render_all(synthesizer, prompt_grammars, ["nl", "en"], company="Acme")
        assert [(c.language, c.rendered, c.cached, c.skipped) for c in report.languages] == [
            ("nl", 3, 0, 1),
            ("en", 1, 0, 1),
        ]
        again = await render_all(synthesizer, prompt_grammars, ["nl", "en"], company="Acme")
        assert (again.rendered, again.cached, again.skipped) == (0, 4, 2)
        # the greeting a call will ask for is already there, with the company filled in
        before = synthesizer.cache_stats.misses
        await synthesizer.synthesize("Welkom bij Acme. Waarmee kan ik u helpen?", "nl")
        assert synthesizer.cache_stats.misses == before


async def test_a_new_company_name_renders_the_company_prompts_again(prompt_grammars: Path, cache_dir: Path) -> None:
    with SpeechSynthesizer(cache_dir, prompt_grammars) as synthesizer:
        await render_all(synthesizer, prompt_grammars, ["nl"], company="Acme")
        report = await render_all(synthesizer, prompt_grammars, ["nl"], company="Globex")
    assert (report.rendered, report.cached) == (1, 2)  # only the greeting names the company


def test_load_prompts_reads_a_flat_mapping(prompt_grammars: Path) -> None:
    prompts = load_prompts(prompt_grammars, "nl")
    assert prompts["greeting"] == "Welkom bij {company}. Waarmee kan ik u helpen?"
    assert placeholders(prompts["order_status"]) == {"order"}
    assert placeholders(prompts["braces"]) == frozenset()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("confirm: no\n", "quote it"),  # YAML 1.1 turns a bare `no` into False
        ("- greeting\n- goodbye\n", "mapping"),
        ("greeting: 'Welkom bij {company'\n", "braces"),
        ("greeting: 'Welkom bij {company.name}'\n", "plain names"),
        ("greeting: ''\n", "empty"),
        ("greeting: [unclosed\n", "YAML"),
    ],
)
def test_load_prompts_rejects_mistakes_with_the_file_name(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "nl").mkdir()
    (tmp_path / "nl" / "prompts.yaml").write_text(content, encoding="utf-8")
    with pytest.raises(GrammarError, match=message) as error:
        load_prompts(tmp_path, "nl")
    assert "prompts.yaml" in str(error.value)


def test_a_missing_prompts_file_is_a_grammar_error(tmp_path: Path) -> None:
    with pytest.raises(GrammarError, match="missing"):
        load_prompts(tmp_path, "nl")


@pytest.mark.parametrize("language", ["nl", "en"])
async def test_repository_greeting_is_prerendered_with_the_company_name(
    synth: SpeechSynthesizer, grammars_dir: Path, language: str
) -> None:
    greeting = load_prompts(grammars_dir, language)["greeting"]
    assert placeholders(greeting) <= {"company"}  # so every call can start from the cache
    assert await synth.prerender(greeting.format(company="Warmline Demo"), language)
    assert 1.0 < seconds(await synth.synthesize(greeting.format(company="Warmline Demo"), language)) < 20
    assert synth.cache_stats.misses == 1


def test_a_crashed_speech_engine_costs_nothing_but_a_restart(tmp_path: Path) -> None:
    # libespeak-ng has segfaulted inside espeak_Synth; in the server process that would end every live call.
    engine = EspeakProcess(timeout_s=20)
    try:
        engine.start()
        voice = VoiceSettings("gmw/nl", 160)
        engine.save("goedemiddag", voice, tmp_path / "before.wav")
        first = engine.pid
        assert first is not None
        os.kill(first, signal.SIGSEGV)  # what a crash in libespeak-ng does to its process
        deadline = time.monotonic() + 5
        while engine.alive and time.monotonic() < deadline:
            time.sleep(0.01)
        engine.save("goedemiddag", voice, tmp_path / "after.wav")
        assert engine.pid not in (None, first), "a fresh engine process took the next prompt"
        with wave.open(str(tmp_path / "after.wav")) as wav:
            assert wav.getnframes() > 1000
    finally:
        engine.close()
