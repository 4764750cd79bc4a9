"""A linear text model learned from labelled caller sentences: the part of understanding that generalises.

Keywords and nearest examples (:mod:`ivr.signals.intent`) are precise and explainable, but they only know the
words somebody wrote down for an intent. Callers describe situations instead ("er is vannacht geld van mijn
rekening gehaald" is fraud without the word fraud), so a logistic regression over the same word pieces learns,
from every labelled sentence in ``grammars/<lang>/``, which words and word pieces *discriminate* between intents
— and how much each counts — instead of somebody guessing weights by hand.

Features are lemmas (``simplemma``: "gestorven" and "sterven" are one word), neighbouring lemma pairs, and
character 3–5-grams of each word (misrecognitions and Dutch compounds keep most of their pieces). TF-IDF with
sublinear counts; the model is small (a few thousand weights per label) and trains in well under a second, so it
is rebuilt whenever the grammar is (a supervisor teaching a missed wording reloads it).

Trained models are shared per process by a digest of what they learned from: tests and reloads that load the same
grammar do not train twice; across processes and restarts they are kept on disk (:mod:`ivr.signals.model_store`).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt
import simplemma

from ivr.signals import model_store, text
from ivr.signals.text import char_ngrams

FloatArray = npt.NDArray[np.float64]

#: Inverse regularisation strength; chosen by cross-validation on the training sentences and the development
#: sets (never on held-out data).
_C = 10.0
_CHAR_SIZES = (3, 4, 5)
_WORD = "w:"
_PAIR = "p:"
_PIECE = "c:"


def features(words: Sequence[str], language: str) -> list[str]:
    """The features of an utterance's content words (aliases expanded, fillers and stopwords removed)."""
    lemmas = [lemma(word, language) for word in words]
    out = [_WORD + w for w in lemmas]
    out.extend(f"{_PAIR}{a}_{b}" for a, b in itertools.pairwise(lemmas))
    out.extend(_PIECE + g for g in char_ngrams(words, _CHAR_SIZES))
    return out


@functools.lru_cache(maxsize=65536)
def lemma(word: str, language: str) -> str:
    """The dictionary form of a word ("afschrijvingen" → "afschrijving"), or the word itself when unknown."""
    try:
        return str(simplemma.lemmatize(word, lang=language))
    except ValueError:  # a language simplemma does not know: words stay as they are
        return word


@dataclass(frozen=True, eq=False)
class LearnedModel:
    """Probabilities over ``labels`` for an utterance's content words, with the words that drove them."""

    language: str
    labels: tuple[str, ...]
    _vocabulary: Mapping[str, int]
    _idf: FloatArray
    _names: tuple[str, ...]
    #: one row of feature weights per label, in ``labels`` order (a single row when there are two labels)
    _weights: FloatArray
    _intercepts: FloatArray
    #: weights of the sentence vector's dimensions (same rows as ``_weights``); None for a words-only model
    _dense_weights: FloatArray | None = None
    #: what the sentence vector is multiplied by before it meets the weights (its share of the evidence)
    dense_scale: float = 0.0

    @property
    def uses_vectors(self) -> bool:
        return self._dense_weights is not None

    def probabilities(self, words: Sequence[str], vector: npt.NDArray[np.float32] | None = None) -> FloatArray:
        """One probability per label (in ``labels`` order), summing to 1. A model trained with sentence vectors
        needs the utterance's ``vector`` too."""
        columns, values = self._row(words)
        scores: FloatArray = self._weights[:, columns] @ values + self._intercepts
        if self._dense_weights is not None:
            if vector is None:
                raise ValueError("this model was trained with sentence vectors: pass the utterance's vector")
            scores = scores + self._dense_weights @ (vector.astype(np.float64) * self.dense_scale)
        if len(scores) == 1:  # two labels: one logit, for the second
            scores = np.concatenate([[0.0], scores])
        exp: FloatArray = np.exp(scores - scores.max())
        probabilities: FloatArray = exp / float(exp.sum())
        return probabilities

    def telling_words(
        self, words: Sequence[str], label: str, count: int = 3, skip: frozenset[str] = frozenset()
    ) -> tuple[str, ...]:
        """The caller's words that pushed most towards ``label`` (for the reasons a supervisor reads), leaving
        out ``skip`` (function words tell a supervisor nothing)."""
        columns, values = self._row(words)
        position = self.labels.index(label)
        # Two labels share one row of weights: towards the second label, against the first.
        weights = self._weights[position] if len(self._weights) > 1 else self._weights[0] * (2 * position - 1)
        pushes: dict[str, float] = {}
        for column, value in zip(columns.tolist(), values.tolist(), strict=True):
            name = self._names[column]
            push = value * float(weights[column])
            word = name.removeprefix(_WORD)
            if name.startswith(_WORD) and push > 0 and word not in skip:
                pushes[word] = push
        return tuple(sorted(pushes, key=lambda w: -pushes[w])[:count])

    def _row(self, words: Sequence[str]) -> tuple[npt.NDArray[np.int64], FloatArray]:
        """The utterance as the vectoriser sees it (sublinear TF-IDF, L2-normalised), without sklearn's per-call
        input checks, which cost more than the arithmetic for one short sentence."""
        counts: dict[int, int] = {}
        for feature in features(words, self.language):
            column = self._vocabulary.get(feature)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        columns = np.fromiter(counts, dtype=np.int64, count=len(counts))
        values = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))) * self._idf[columns]
        norm = float(np.linalg.norm(values))
        return columns, values / norm if norm > 0 else values


def _code_digest() -> str:
    """What a stored model depends on besides its training data: the feature code (this module and the text
    helpers) and the libraries that lemmatise and fit."""
    hasher = hashlib.sha256()
    for module in (__file__, text.__file__):
        hasher.update(Path(module).read_bytes())
    for package in ("scikit-learn", "simplemma", "numpy", "scipy"):
        hasher.update(f"{package}=={metadata.version(package)};".encode())
    return hasher.hexdigest()


_CODE = _code_digest()


def _to_arrays(model: LearnedModel) -> dict[str, np.ndarray[Any, Any]]:
    arrays: dict[str, np.ndarray[Any, Any]] = {
        "language": np.array(model.language),
        "labels": np.array(model.labels),
        "names": np.array(model._names),
        "idf": model._idf,
        "weights": model._weights,
        "intercepts": model._intercepts,
        "dense_scale": np.array(model.dense_scale),
    }
    if model._dense_weights is not None:
        arrays["dense_weights"] = model._dense_weights
    return arrays


def _from_arrays(arrays: Mapping[str, np.ndarray[Any, Any]]) -> LearnedModel:
    names = tuple(str(name) for name in arrays["names"].tolist())
    dense = arrays.get("dense_weights")
    return LearnedModel(
        language=str(arrays["language"]),
        labels=tuple(str(label) for label in arrays["labels"].tolist()),
        # the vectoriser numbers features in the order of their names (get_feature_names_out)
        _vocabulary=MappingProxyType({name: column for column, name in enumerate(names)}),
        _idf=np.asarray(arrays["idf"], dtype=np.float64),
        _names=names,
        _weights=np.asarray(arrays["weights"], dtype=np.float64),
        _intercepts=np.asarray(arrays["intercepts"], dtype=np.float64),
        _dense_weights=None if dense is None else np.asarray(dense, dtype=np.float64),
        dense_scale=float(arrays["dense_scale"]),
    )


#: trained models by digest, most recently used last; bounded, because every wording a supervisor teaches makes a
#: new training set (each model holds a few MB)
_cache: OrderedDict[str, LearnedModel] = OrderedDict()
_CACHE_SIZE = 8
_cache_lock = threading.Lock()


def train(
    language: str,
    labels: Sequence[str],
    sentences: Sequence[tuple[tuple[str, ...], str]],
    vectors: npt.NDArray[np.float32] | None = None,
    dense_scale: float = 0.0,
    c: float = _C,
) -> LearnedModel:
    """Train on ``(content words, label)`` pairs; every label in ``labels`` must occur at least once.

    With ``vectors`` (one sentence vector per sentence) the model stacks them, times ``dense_scale``, next to the
    sparse word features: one logistic regression weighs both.
    """
    hasher = hashlib.sha256(repr((_CODE, language, tuple(labels), tuple(sentences), dense_scale, c)).encode())
    if vectors is not None:
        hasher.update(np.ascontiguousarray(vectors).tobytes())
    digest = hasher.hexdigest()
    with _cache_lock:
        cached = _cache.get(digest)
        if cached is not None:
            _cache.move_to_end(digest)
    if cached is not None:
        return cached
    stored = model_store.load(digest)
    if stored is not None:
        try:
            model = _from_arrays(stored)
        except (KeyError, ValueError, TypeError) as exc:
            model_store.log.warning("trained model %s does not fit this code (%s): training it again", digest, exc)
        else:
            lemma("warmline", language)  # the lemmatiser's dictionary loads now, not in the first caller's turn
            return _remember(digest, model)
    missing = set(labels) - {label for _, label in sentences}
    if missing:
        raise ValueError(f"no sentence to learn {sorted(missing)} from")
    # Imported here: a server whose models come from the store never fits one, and scikit-learn takes ~1.5 s to import.
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    def analyse(words: list[str]) -> list[str]:
        return features(words, language)

    vectorizer = TfidfVectorizer(analyzer=analyse, sublinear_tf=True)
    matrix = vectorizer.fit_transform([list(words) for words, _ in sentences])
    width = matrix.shape[1]
    if vectors is not None:
        if len(vectors) != len(sentences):
            raise ValueError(f"{len(vectors)} sentence vectors for {len(sentences)} sentences")
        matrix = sparse.hstack([matrix, sparse.csr_matrix(vectors.astype(np.float64) * dense_scale)], format="csr")
    # Newton-CG reaches the same optimum as the default L-BFGS (probabilities within 0.013) in an eighth of the
    # time (0.26 s against 2.1 s for 1,270 Dutch sentences): start-up and console teaching wait for this.
    classifier = LogisticRegression(C=c, solver="newton-cg", max_iter=3000, class_weight="balanced")
    classifier.fit(matrix, [label for _, label in sentences])
    classes = classifier.classes_.tolist()
    weights, intercepts = classifier.coef_, classifier.intercept_
    if len(classes) > 2:
        order = [classes.index(label) for label in labels]
        weights, intercepts = weights[order], intercepts[order]
    elif classes != list(labels):  # the single row is for classes[1]: turn it to face labels[1]
        weights, intercepts = -weights, -intercepts
    weights = np.asarray(weights, dtype=np.float64)
    model = LearnedModel(
        language=language,
        labels=tuple(labels),
        _vocabulary=MappingProxyType({str(k): int(v) for k, v in vectorizer.vocabulary_.items()}),
        _idf=np.asarray(vectorizer.idf_, dtype=np.float64),
        _names=tuple(vectorizer.get_feature_names_out().tolist()),
        _weights=weights[:, :width],
        _intercepts=np.asarray(intercepts, dtype=np.float64),
        _dense_weights=weights[:, width:] if vectors is not None else None,
        dense_scale=dense_scale if vectors is not None else 0.0,
    )
    model_store.save(digest, _to_arrays(model))
    return _remember(digest, model)


def _remember(digest: str, model: LearnedModel) -> LearnedModel:
    with _cache_lock:
        _cache[digest] = model
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return model
