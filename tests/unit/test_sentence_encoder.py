"""Dense sentence features and calibrated confidence: the parts of understanding that carry meaning, not wording."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from ivr.config import REPO_ROOT, Settings
from ivr.evaluation import Understander
from ivr.signals.calibration import grammar_digest, load_calibration
from ivr.signals.encoder import (
    CACHE_FILE,
    CachingEncoder,
    E5Encoder,
    FloatArray,
    SentenceEncoder,
    cache_texts,
    encoder_text,
    load_vectors,
    shared_encoder,
    text_key,
)
from ivr.signals.intent import classify_intent, load_intent_model
from ivr.signals.learned import train
from ivr.signals.training import load_training_sentences

GRAMMARS = REPO_ROOT / "grammars"


class HashingEncoder:
    """Another company's encoder: word hashes folded into a small vector. Deterministic and meaning-blind, which is
    all these tests need from it (the real one is tested against itself below)."""

    name = "test-hashing-encoder/1"
    dim = 32

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> FloatArray:
        self.calls += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.split():
                out[row, int(hashlib.sha256(word.encode()).hexdigest(), 16) % self.dim] += 1.0
            norm = float(np.linalg.norm(out[row]))
            if norm:
                out[row] /= norm
        return out


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_shipped_sentence_vectors_cover_every_training_sentence(lang: str) -> None:
    # A stale cache would make every start-up encode the missing sentences (~15 ms each): `ivr grammars calibrate`.
    folder = GRAMMARS / lang
    texts = cache_texts(folder, [s.text for s in load_training_sentences(GRAMMARS, lang)])
    known = load_vectors(folder / CACHE_FILE, shared_encoder().name)
    missing = [t for t in texts if text_key(t) not in known]
    assert not missing, f"{len(missing)} sentences have no vector: run `ivr grammars calibrate`"


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_shipped_calibration_was_fitted_on_the_shipped_grammars(lang: str) -> None:
    calibration = load_calibration(GRAMMARS, lang, shared_encoder().name)
    assert calibration is not None
    assert calibration.grammar_digest == grammar_digest(GRAMMARS, lang), "run `ivr grammars calibrate`"
    assert 0.0 < calibration.threshold < 1.0


def test_the_e5_encoder_puts_the_same_meaning_close_across_wordings_and_languages() -> None:
    encoder = CachingEncoder(E5Encoder())
    broken_nl = encoder.one(encoder_text("de vaas was in stukken toen ik de doos opende"))
    broken_en = encoder.one(encoder_text("the vase was in pieces when i opened the box"))
    hours = encoder.one(encoder_text("tot hoe laat zijn jullie open"))
    assert broken_nl.shape == (384,)
    assert abs(float(np.linalg.norm(broken_nl)) - 1.0) < 1e-3
    assert float(broken_nl @ broken_en) > float(broken_nl @ hours) + 0.05


def test_a_complaint_told_as_what_happened_is_understood_without_complaint_words() -> None:
    model = load_intent_model(GRAMMARS, "nl")
    assert classify_intent("de vaas was in stukken toen ik de doos opende", model).label == "complaint"
    model = load_intent_model(GRAMMARS, "en")
    assert classify_intent("the mirror was cracked when i took it out of the box", model).label == "complaint"


def test_a_plea_for_help_without_a_topic_goes_to_a_person_and_is_not_asked_to_rephrase() -> None:
    understander = Understander.load(Settings())
    pleas = (("alsjeblieft help me het is echt heel dringend", "nl"), ("please i really need help now", "en"))
    for text, lang in pleas:
        result = understander.classify(text, lang)  # type: ignore[arg-type]
        assert result.intent == "unknown"
        assert result.action == "transfer", result
        assert result.rule in ("hulp-zonder-onderwerp", "van-streek")  # upset enough for the general distress rule


def test_another_encoder_can_be_swapped_in(tmp_path: Path) -> None:
    grammars = tmp_path / "grammars"
    shutil.copytree(GRAMMARS, grammars)
    inner = HashingEncoder()
    assert isinstance(inner, SentenceEncoder)
    model = load_intent_model(grammars, "en", CachingEncoder(inner))
    # Its vectors are not in the shipped cache (another encoder's name), so every sentence was encoded by it …
    assert inner.calls >= len(model.training)
    # … the calibration made for E5 does not describe its evidence, so it is not used …
    assert model.calibration is None
    assert classify_intent("where is my parcel", model).label == "order_status"


def test_the_encoder_cache_is_bounded_and_encodes_each_sentence_once() -> None:
    inner = HashingEncoder()
    encoder = CachingEncoder(inner, size=3)
    for text in ("a", "b", "a", "c", "d", "e"):
        encoder.one(text)
    assert inner.calls == 5  # "a" the second time came from the cache
    encoder.one("a")  # pushed out by c, d, e
    assert inner.calls == 6


def test_a_model_trained_with_sentence_vectors_refuses_to_guess_without_one() -> None:
    inner = HashingEncoder()
    sentences = [(("open", "today"), "hours"), (("parcel", "where"), "order")]
    vectors = inner.encode(["open today", "parcel where"])
    model = train("en", ("hours", "order"), sentences, vectors, dense_scale=1.0)
    assert model.uses_vectors
    assert model.probabilities(("open",), vectors[0])[0] > 0.5
    with pytest.raises(ValueError, match="sentence vectors"):
        model.probabilities(("open",))
