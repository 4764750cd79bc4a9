"""Speech recognition with the real Korean Vosk model, fed telephone audio rendered by espeak-ng.

The model is Korean and the callers here are mostly Dutch espeak voices, so these tests check behaviour and
structure (timing, confidences, grammars, threading), not accuracy. Run with ``-s`` to see the measurements.
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ivr.audio.codec import Pcm, pcm_to_bytes, read_wav, resample, to_telephone_ulaw, ulaw_decode
from ivr.errors import ModelNotFoundError
from ivr.speech.decode_pool import DecodePool
from ivr.speech.stt import StreamResampler, VoskEngine, VoskRecognizer, model_sample_rate
from ivr.speech.types import Transcript

pytestmark = pytest.mark.model

CHUNK = 160  # 20 ms at 8 kHz: one Media Streams frame
KOREAN_NUMBERS = ["하나", "둘", "셋"]


def vm_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.fixture(scope="module")
def engine(ko_model_path: Path) -> VoskEngine:
    before = vm_rss_kib()
    loaded = VoskEngine(ko_model_path)
    grown_mib = (vm_rss_kib() - before) / 1024
    print(
        f"\n[stt] model load {loaded.load_seconds:.2f} s, RSS +{grown_mib:.0f} MiB,",
        f"rate {loaded.sample_rate} Hz",
    )
    return loaded


def espeak_telephone(folder: Path, voice: str, text: str) -> Pcm:
    """espeak-ng speech as it reaches us from Twilio: 8 kHz μ-law, decoded to PCM16."""
    wav = folder / f"{voice}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True)
    samples, rate = read_wav(wav)
    return ulaw_decode(to_telephone_ulaw(samples, rate))


@pytest.fixture(scope="module")
def dutch_8k(tmp_path_factory: pytest.TempPathFactory) -> Pcm:
    return espeak_telephone(tmp_path_factory.mktemp("nl"), "nl", "Ik wil graag een medewerker spreken")


@pytest.fixture(scope="module")
def korean_8k(tmp_path_factory: pytest.TempPathFactory) -> Pcm:
    return espeak_telephone(tmp_path_factory.mktemp("ko"), "ko", " ".join(KOREAN_NUMBERS))


@pytest.fixture
def recognizer(engine: VoskEngine) -> Iterator[VoskRecognizer]:
    rec = engine.new_recognizer("CA-test")
    yield rec
    rec.close()


def decode(recognizer: VoskRecognizer, pcm8k: Pcm, chunk: int = CHUNK) -> Transcript:
    for i in range(0, len(pcm8k), chunk):
        recognizer.accept(pcm_to_bytes(pcm8k[i : i + chunk]))
    return recognizer.final()


def test_dutch_telephone_speech_gives_words_with_confidences_and_timing(
    recognizer: VoskRecognizer, dutch_8k: Pcm
) -> None:
    seconds = len(dutch_8k) / 8000
    started = time.perf_counter()
    for i in range(0, len(dutch_8k), CHUNK):
        recognizer.accept(pcm_to_bytes(dutch_8k[i : i + CHUNK]))
    heard_so_far = recognizer.partial()
    transcript = recognizer.final()
    rtf = (time.perf_counter() - started) / seconds

    print(f"\n[stt] Dutch via Korean model: {transcript.text!r} mean conf {transcript.confidence:.2f}")
    print("[stt] words:", [(w.text, round(w.confidence, 2)) for w in transcript.words])
    print(f"[stt] real-time factor, free speech, 20 ms chunks: {rtf:.2f} ({seconds:.1f} s of audio)")
    assert heard_so_far
    assert transcript.words and transcript.text == " ".join(w.text for w in transcript.words)
    assert all(0.0 <= w.confidence <= 1.0 for w in transcript.words)
    assert all(0.0 <= w.start <= w.end <= seconds + 0.05 for w in transcript.words)
    assert 0.0 < transcript.confidence <= 1.0
    assert transcript.duration == pytest.approx(seconds, abs=0.001)


def test_silence_gives_an_empty_transcript_with_zero_confidence(recognizer: VoskRecognizer) -> None:
    transcript = decode(recognizer, np.zeros(16000, dtype=np.int16))

    assert transcript.is_empty and transcript.words == ()
    assert transcript.confidence == 0.0
    assert transcript.duration == pytest.approx(2.0)


async def test_one_model_hands_out_independent_recognizers_that_decode_in_parallel(
    engine: VoskEngine, korean_8k: Pcm
) -> None:
    talking, silent = engine.new_recognizer("CA-1"), engine.new_recognizer("CA-2")
    quiet = np.zeros_like(korean_8k)
    pool = DecodePool(workers=2)
    try:
        heard, nothing = await asyncio.gather(pool.run(decode, talking, korean_8k), pool.run(decode, silent, quiet))
        next_utterance = await pool.run(talking.final)
    finally:
        pool.shutdown()
        talking.close()
        silent.close()

    print(f"\n[stt] Korean espeak, free speech: {heard.text!r} conf {heard.confidence:.2f}")
    assert not heard.is_empty and heard.confidence > 0
    assert nothing.is_empty  # one call's speech never leaks into another's recogniser
    assert next_utterance.is_empty and next_utterance.duration == 0.0


def test_final_starts_a_new_utterance_with_its_own_timing(recognizer: VoskRecognizer, korean_8k: Pcm) -> None:
    recognizer.set_grammar(KOREAN_NUMBERS)
    padded = np.concatenate([np.zeros(4000, dtype=np.int16), korean_8k])

    first = decode(recognizer, padded)
    second = decode(recognizer, padded)

    assert first.words and second.words
    assert second.duration == pytest.approx(len(padded) / 8000)
    assert second.words[0].start == pytest.approx(first.words[0].start, abs=0.1)  # counted from its own start
    assert 0.4 <= second.words[0].start < 1.0  # after the half second of lead-in silence


def test_a_grammar_of_korean_numbers_yields_only_those_words(
    engine: VoskEngine, recognizer: VoskRecognizer, korean_8k: Pcm, dutch_8k: Pcm
) -> None:
    assert engine.missing_words(KOREAN_NUMBERS) == []
    recognizer.set_grammar(KOREAN_NUMBERS)

    korean = decode(recognizer, korean_8k)
    dutch = decode(recognizer, dutch_8k)

    print(
        f"\n[stt] grammar {KOREAN_NUMBERS}: Korean → {korean.text!r} ({korean.confidence:.2f}), "
        f"Dutch → {dutch.text!r} ({dutch.confidence:.2f})"
    )
    assert korean.words and {w.text for w in korean.words} <= set(KOREAN_NUMBERS)
    # This model has no [unk], so out-of-grammar speech is forced onto grammar words: why the dialog must
    # also look at confidence.
    assert {w.text for w in dutch.words} <= set(KOREAN_NUMBERS)


def test_a_grammar_keeps_only_phrases_the_model_can_recognise(engine: VoskEngine, recognizer: VoskRecognizer) -> None:
    assert not engine.has_word("[unk]")  # so it must not be added: Vosk would warn and ignore it

    recognizer.set_grammar(["하나", "medewerker spreken", "둘 셋", "하나"])
    assert recognizer.grammar == ("하나", "둘 셋")

    recognizer.set_grammar(["medewerker", "bestelling"])
    assert recognizer.grammar is None  # nothing usable: free speech beats a grammar that matches nothing

    recognizer.set_grammar(KOREAN_NUMBERS)
    recognizer.set_grammar(None)
    assert recognizer.grammar is None


def test_missing_words_reports_dutch_words_absent_from_the_model(engine: VoskEngine) -> None:
    missing = engine.missing_words(["ik wil een medewerker", "하나", "medewerker"])

    assert "medewerker" in missing and missing.count("medewerker") == 1
    assert "하나" not in missing


async def test_decoding_on_the_pool_keeps_the_event_loop_ticking(engine: VoskEngine, dutch_8k: Pcm) -> None:
    pool = DecodePool(workers=1)
    recognizer = engine.new_recognizer("CA-async")
    loop = asyncio.get_running_loop()
    ticks: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            ticks.append(loop.time())
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(ticker())
    try:
        started = loop.time()
        await pool.run(recognizer.accept, pcm_to_bytes(dutch_8k))  # one big blocking chunk
        transcript = await pool.run(recognizer.final)
        elapsed = loop.time() - started
    finally:
        stop.set()
        await ticking
        recognizer.close()
        pool.shutdown()

    longest_gap = max(np.diff(ticks))
    print(
        f"\n[stt] decode on pool took {elapsed:.2f} s; {len(ticks)} ticks,",
        f"longest gap {longest_gap * 1000:.0f} ms",
    )
    assert transcript.words
    assert elapsed > 0.3  # there really was blocking work to hide
    assert longest_gap < 0.1


def test_a_closed_recognizer_refuses_audio(engine: VoskEngine) -> None:
    recognizer = engine.new_recognizer("CA-closed")
    recognizer.close()
    recognizer.close()  # idempotent

    with pytest.raises(RuntimeError, match="CA-closed"):
        recognizer.accept(b"\x00\x00" * CHUNK)


def test_a_directory_that_is_not_a_model_is_refused_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=str(tmp_path)):
        VoskEngine(tmp_path)


def test_the_model_rate_comes_from_mfcc_conf_or_defaults_to_16k(tmp_path: Path, ko_model_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "mfcc.conf").write_text("--use-energy=false\n--sample-frequency=8000\n")

    assert model_sample_rate(tmp_path) == 8000
    assert model_sample_rate(ko_model_path) == 16000  # its mfcc.conf names no rate


def test_streaming_resampling_in_20ms_chunks_matches_resampling_the_whole_call(dutch_8k: Pcm) -> None:
    resampler = StreamResampler(8000, 16000)

    pieces = [resampler.push(dutch_8k[i : i + CHUNK]) for i in range(0, len(dutch_8k), CHUNK)]
    streamed = np.concatenate([*pieces, resampler.flush()])

    whole = resample(dutch_8k, 8000, 16000)
    assert len(streamed) == len(whole) == 2 * len(dutch_8k)
    assert np.max(np.abs(streamed.astype(np.int32) - whole)) <= 1


def test_a_call_borrows_a_native_recogniser_only_while_the_caller_talks_and_the_next_call_reuses_it(
    ko_model_path: Path, korean_8k: Pcm
) -> None:
    engine = VoskEngine(ko_model_path)
    first, second = engine.new_recognizer("CA-first"), engine.new_recognizer("CA-second")
    # a call that is not talking holds none
    assert engine.pool_stats() == {"created": 0, "in_use": 0, "idle": 0, "waits": 0}

    first.accept(pcm_to_bytes(korean_8k[:1600]))
    assert engine.pool_stats()["in_use"] == 1
    heard_first = decode(first, korean_8k[1600:])
    assert engine.pool_stats() == {"created": 1, "in_use": 0, "idle": 1, "waits": 0}

    heard_second = decode(second, korean_8k)
    first.close()
    second.close()

    assert engine.pool_stats() == {"created": 1, "in_use": 0, "idle": 1, "waits": 0}  # warm, reused, not re-created
    assert not heard_first.is_empty and not heard_second.is_empty
    assert heard_second.words[0].start == pytest.approx(heard_first.words[0].start, abs=0.35)  # its own clock


def test_a_reused_recogniser_never_carries_one_callers_words_into_the_next_call(
    ko_model_path: Path, korean_8k: Pcm
) -> None:
    engine = VoskEngine(ko_model_path)
    talker = engine.new_recognizer("CA-talker")
    talker.accept(pcm_to_bytes(korean_8k))  # hangs up mid-sentence: the utterance is never finalised
    talker.close()
    silent = engine.new_recognizer("CA-silent")
    nothing = decode(silent, np.zeros(8000, dtype=np.int16))
    silent.close()

    assert engine.pool_stats()["created"] == 1, "the second call got the first call's (finalised) recogniser"
    assert nothing.is_empty and nothing.words == ()


def test_a_sealed_pause_joins_the_words_before_and_after_it_into_one_utterance(
    recognizer: VoskRecognizer, korean_8k: Pcm
) -> None:
    pause = np.zeros(2400, dtype=np.int16)  # 300 ms
    for part in (korean_8k, pause):
        for i in range(0, len(part), CHUNK):
            recognizer.accept(pcm_to_bytes(part[i : i + CHUNK]))
    recognizer.seal()
    after_seal = decode(recognizer, korean_8k)

    heard_twice = after_seal.words
    half = len(heard_twice) // 2
    print(f"\n[stt] sealed utterance: {after_seal.text!r}")
    assert len(heard_twice) >= 2 and after_seal.text == " ".join(w.text for w in heard_twice)
    assert after_seal.duration == pytest.approx((2 * len(korean_8k) + len(pause)) / 8000)
    # times run on across the seal: the second sentence's words start after the first sentence and the pause
    assert heard_twice[half].start >= len(korean_8k) / 8000 - 0.1
    assert all(a.start <= b.start for a, b in itertools.pairwise(heard_twice))


def test_without_pooling_a_call_keeps_one_native_recogniser_for_all_its_turns(
    ko_model_path: Path, korean_8k: Pcm
) -> None:
    engine = VoskEngine(ko_model_path, reuse=False)  # the benchmark's naive baseline
    recognizer = engine.new_recognizer("CA-naive")
    decode(recognizer, korean_8k)
    decode(recognizer, korean_8k)
    assert engine.pool_stats() == {"created": 1, "in_use": 1, "idle": 0, "waits": 0}
    recognizer.close()
    other = engine.new_recognizer("CA-naive-2")
    decode(other, korean_8k)
    other.close()
    assert engine.pool_stats() == {"created": 2, "in_use": 0, "idle": 0, "waits": 0}


def test_a_caller_who_starts_talking_while_the_pool_is_busy_waits_and_loses_no_word(
    ko_model_path: Path, korean_8k: Pcm
) -> None:
    engine = VoskEngine(ko_model_path, max_natives=1)
    first, second = engine.new_recognizer("CA-first"), engine.new_recognizer("CA-second")
    half = len(korean_8k) // 2

    first.accept(pcm_to_bytes(korean_8k))  # holds the only native
    second.accept(pcm_to_bytes(korean_8k[:half]))  # must wait: its audio is buffered
    assert engine.pool_stats()["waits"] == 1 and engine.pool_stats()["created"] == 1
    first.final()  # gives the native back
    second.accept(pcm_to_bytes(korean_8k[half:]))  # gets it, and catches up on the buffered half
    heard = second.final()
    assert engine.pool_stats() == {"created": 1, "in_use": 0, "idle": 1, "waits": 1}
    alone = decode_on_a_fresh_engine_call(engine, korean_8k)
    first.close()
    second.close()

    assert heard.words and heard.duration == pytest.approx(len(korean_8k) / 8000)
    assert heard.words[0].start == pytest.approx(alone.words[0].start, abs=0.35)


def decode_on_a_fresh_engine_call(engine: VoskEngine, pcm8k: Pcm) -> Transcript:
    recognizer = engine.new_recognizer("CA-alone")
    try:
        return decode(recognizer, pcm8k)
    finally:
        recognizer.close()


def test_an_utterance_that_ends_while_the_pool_is_busy_borrows_an_extra_recogniser_for_a_moment(
    ko_model_path: Path, korean_8k: Pcm
) -> None:
    engine = VoskEngine(ko_model_path, max_natives=1)
    first, second = engine.new_recognizer("CA-first"), engine.new_recognizer("CA-second")
    first.accept(pcm_to_bytes(korean_8k))
    heard = decode(second, korean_8k)  # never got the pooled native: its words must still come now
    first.final()
    first.close()
    second.close()

    assert not heard.is_empty
    stats = engine.pool_stats()
    assert stats["created"] == 2 and stats["idle"] == 1, "the extra recogniser is dropped, the pool stays at 1"
