"""The learned intent and distress models: trained from grammars/<lang>/training.yaml, fast, and explainable."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from ivr.config import REPO_ROOT
from ivr.errors import GrammarError
from ivr.signals.intent import classify_intent, load_intent_model
from ivr.signals.learned import features, train
from ivr.signals.training import load_training_sentences

GRAMMARS = REPO_ROOT / "grammars"


@pytest.fixture
def grammars_copy(tmp_path: Path) -> Path:
    shutil.copytree(GRAMMARS, tmp_path / "grammars")
    return tmp_path / "grammars"


def test_the_shipped_training_sentences_cover_every_intent_in_both_languages() -> None:
    for lang in ("nl", "en"):
        labels = load_intent_model(GRAMMARS, lang).labels
        sentences = load_training_sentences(GRAMMARS, lang, labels)
        assert len(sentences) >= 500
        assert {s.intent for s in sentences} == set(labels)
        assert 0.1 < sum(s.distressed for s in sentences) / len(sentences) < 0.4


def test_a_training_sentence_with_an_unknown_intent_is_refused_naming_file_and_item(grammars_copy: Path) -> None:
    path = grammars_copy / "nl" / "training.yaml"
    path.write_text(
        'items:\n  - {text: "waar is mijn pakket", intent: order_status}\n  - {text: "hoi", intent: pizza}\n'
    )
    with pytest.raises(GrammarError, match=r"training\.yaml: items\.1: intent 'pizza' is not in intents\.yaml"):
        load_intent_model(grammars_copy, "nl")


def test_a_training_sentence_without_words_is_refused(grammars_copy: Path) -> None:
    (grammars_copy / "en" / "training.yaml").write_text('items:\n  - {text: "?!", intent: unknown}\n')
    with pytest.raises(GrammarError, match=r"training\.yaml: items\.0\.text"):
        load_intent_model(grammars_copy, "en")


def test_without_a_training_file_the_examples_alone_train_the_model(grammars_copy: Path) -> None:
    (grammars_copy / "nl" / "training.yaml").unlink()
    model = load_intent_model(grammars_copy, "nl")
    assert model.training == ()
    assert classify_intent("ik ben mijn wachtwoord vergeten", model).label == "password_reset"


def test_the_fast_path_gives_exactly_what_scikit_learn_gives() -> None:
    sentences = [
        (("waar", "pakket"), "order_status"),
        (("pakket", "bezorgd"), "order_status"),
        (("wachtwoord", "vergeten"), "password_reset"),
        (("inloggen", "lukt", "niet"), "password_reset"),
        (("bus", "station"), "unknown"),
    ]
    model = train("nl", ("password_reset", "unknown", "order_status"), sentences)
    words = ("pakket", "niet", "bezorgd", "inloggen")
    vectorizer = TfidfVectorizer(analyzer=lambda w: features(w, "nl"), sublinear_tf=True)
    matrix = vectorizer.fit_transform([list(w) for w, _ in sentences])
    reference = LogisticRegression(C=10.0, solver="newton-cg", max_iter=3000, class_weight="balanced").fit(
        matrix, [label for _, label in sentences]
    )
    expected = dict(
        zip(reference.classes_, reference.predict_proba(vectorizer.transform([list(words)]))[0], strict=True)
    )
    got = model.probabilities(words)
    assert got.sum() == pytest.approx(1.0)
    assert got == pytest.approx(np.array([expected[label] for label in model.labels]), abs=1e-9)


def test_two_label_models_face_the_second_label() -> None:
    calm = [(("hoe", "laat", "open"), "calm"), (("adres", "wijzigen"), "calm"), (("saldo", "graag"), "calm")]
    upset = [(("woedend", "schandalig"), "upset"), (("wanhopig", "help"), "upset"), (("boos", "belachelijk"), "upset")]
    model = train("nl", ("calm", "upset"), calm + upset)
    assert model.probabilities(("woedend", "belachelijk"))[1] > 0.5 > model.probabilities(("adres", "open"))[1]
    assert model.telling_words(("woedend", "adres"), "upset") == ("woedend",)


def test_training_the_same_sentences_twice_reuses_the_model() -> None:
    sentences = [(("a", "b"), "x"), (("c", "d"), "y")]
    assert train("en", ("x", "y"), sentences) is train("en", ("x", "y"), sentences)


def test_lemmas_make_inflections_one_word() -> None:
    assert "w:sterven" in features(("gestorven",), "nl")
    assert "w:afschrijving" in features(("afschrijvingen",), "nl")


@pytest.mark.parametrize(
    ("text", "lang", "intent"),
    [
        # situations described without the intent's own words
        ("er is vannacht geld van mijn rekening gehaald en ik heb niks gekocht", "nl", "fraud"),
        ("somebody emptied my account overnight and i have no idea how", "en", "fraud"),
    ],
)
def test_a_situation_described_in_other_words_is_understood_and_says_why(text: str, lang: str, intent: str) -> None:
    result = classify_intent(text, load_intent_model(GRAMMARS, lang))
    assert result.label == intent
    assert any(reason.startswith("learned from labelled sentences") for reason in result.reasons)


def test_the_model_cache_keeps_only_the_most_recent_training_sets() -> None:
    first = train("en", ("x", "y"), [(("first",), "x"), (("one",), "y")])
    for n in range(10):
        train("en", ("x", "y"), [((f"word{n}",), "x"), (("other",), "y")])
    assert train("en", ("x", "y"), [(("first",), "x"), (("one",), "y")]) is not first
