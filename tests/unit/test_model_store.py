"""Trained models kept on disk: a restart loads exactly the model it would have fitted, and a damaged or
unwritable cache costs a fit, never a wrong model or a failed start."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ivr.config import Settings
from ivr.signals import learned, model_store
from ivr.signals.learned import train

SENTENCES = [
    (("waar", "is", "mijn", "pakket"), "order_status"),
    (("pakket", "niet", "bezorgd"), "order_status"),
    (("wachtwoord", "vergeten"), "password_reset"),
    (("inloggen", "lukt", "niet"), "password_reset"),
    (("bus", "station"), "unknown"),
]
LABELS = ("password_reset", "unknown", "order_status")
WORDS = ("pakket", "niet", "bezorgd", "inloggen")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Path]:
    """A private store, and a process that has forgotten every model it trained (as after a restart)."""
    before = model_store.directory()
    model_store.configure(tmp_path)
    learned._cache.clear()
    yield tmp_path
    learned._cache.clear()
    model_store.configure(before)


def forget_in_memory() -> None:
    learned._cache.clear()


def test_a_restart_loads_the_model_it_would_have_fitted(store: Path) -> None:
    fitted = train("nl", LABELS, SENTENCES)
    assert len(list(store.glob("*.npz"))) == 1
    forget_in_memory()
    loaded = train("nl", LABELS, SENTENCES)
    assert loaded is not fitted
    assert loaded.labels == fitted.labels
    assert loaded.probabilities(WORDS) == pytest.approx(fitted.probabilities(WORDS), abs=0)
    assert loaded.telling_words(WORDS, "order_status") == fitted.telling_words(WORDS, "order_status")


def test_a_model_with_sentence_vectors_comes_back_with_them(store: Path) -> None:
    vectors = np.random.default_rng(7).normal(size=(len(SENTENCES), 8)).astype(np.float32)
    fitted = train("nl", LABELS, SENTENCES, vectors, dense_scale=0.5)
    forget_in_memory()
    loaded = train("nl", LABELS, SENTENCES, vectors, dense_scale=0.5)
    assert loaded.uses_vectors and loaded.dense_scale == 0.5
    assert loaded.probabilities(WORDS, vectors[0]) == pytest.approx(fitted.probabilities(WORDS, vectors[0]), abs=0)


def test_other_training_sentences_are_a_model_of_their_own(store: Path) -> None:
    train("nl", LABELS, SENTENCES)
    train("nl", LABELS, [*SENTENCES, (("pakket", "kwijt"), "order_status")])
    assert len(list(store.glob("*.npz"))) == 2


def test_a_damaged_file_is_trained_again_and_replaced(store: Path, caplog: pytest.LogCaptureFixture) -> None:
    fitted = train("nl", LABELS, SENTENCES)
    (path,) = store.glob("*.npz")
    path.write_bytes(b"not a model")
    forget_in_memory()
    again = train("nl", LABELS, SENTENCES)
    assert again.probabilities(WORDS) == pytest.approx(fitted.probabilities(WORDS), abs=1e-12)
    assert "unreadable" in caplog.text
    forget_in_memory()
    assert model_store.load(path.stem) is not None  # the fit replaced the damaged file


def test_an_unwritable_cache_costs_a_fit_not_the_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the directory should be")
    before = model_store.directory()
    model_store.configure(blocked / "models")
    learned._cache.clear()
    try:
        model = train("nl", LABELS, SENTENCES)
    finally:
        model_store.configure(before)
    assert model.probabilities(WORDS).sum() == pytest.approx(1.0)
    assert "cannot keep the trained model" in caplog.text


def test_the_store_keeps_only_the_most_recently_used_files(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_store, "MAX_FILES", 3)
    first = train("en", ("x", "y"), [(("first",), "x"), (("one",), "y")])
    (kept,) = store.glob("*.npz")
    for n in range(5):
        os.utime(kept, (1e9 + n, 2e9))  # the first model keeps being used: newest of all
        train("en", ("x", "y"), [((f"word{n}",), "x"), (("other",), "y")])
    files = list(store.glob("*.npz"))
    assert len(files) == 3 and kept in files
    forget_in_memory()
    assert train("en", ("x", "y"), [(("first",), "x"), (("one",), "y")]).labels == first.labels


def test_empty_setting_turns_the_store_off() -> None:
    assert Settings(understanding_cache_dir="").understanding_cache_dir is None  # type: ignore[arg-type]
    assert Settings(understanding_cache_dir="/srv/models").understanding_cache_dir == Path("/srv/models")  # type: ignore[arg-type]
