"""What the caller is calling about: a small, explainable intent classifier for spoken Dutch and English.

Callers do not speak in keywords. They hesitate ("euh", "ja dus"), speak Flemish ("kan ik ne mens spreken"),
use words nobody put in an example, and the recogniser mishears some of them ("bestelingk"). So two kinds of
evidence from ``grammars/<lang>/intents.yaml`` are combined with a learned model:

* **keywords** — weighted word stems per intent, matched by prefix (Dutch compounds and inflections), inside
  compounds, across a split compound ("wacht woord"), across a split separable verb ("zeg het op" = "opzeggen"),
  and fuzzily (edit distance) for misrecognised words; an intent may name *cues* without which its keywords
  count for little in a longer sentence ("jullie medewerker was onbeleefd" names a person, it does not ask for
  one);
* **similarity** — TF-IDF over character n-grams, cosine to the two nearest example sentences of each intent
  (numpy), which carries unseen wordings that share word pieces with an example;
* **learned** — a logistic regression (:mod:`ivr.signals.learned`) over lemmas, lemma pairs and word pieces,
  trained on the examples and the labelled sentences of ``grammars/<lang>/training.yaml``: it weighs words
  nobody wrote a keyword for ("er is geld van mijn rekening gehaald" is fraud). Half of the evidence.

The combined score is mapped to a confidence between 0 and 1, lowered when most of what the caller said is not
about our services at all ("hoe laat vertrekt de bus" holds an opening-hours phrase, but is not about us); below
the threshold in the YAML the answer is ``unknown``. Every result carries its reasons, so a supervisor can see
*why* a call went where it went.

Measured with ``ivr eval``: tune on ``tests/data/eval/utterances.yaml``, ``tuning.yaml`` and cross-validation over
``training.yaml``; ``heldout.yaml`` and ``heldout2.yaml`` only tell whether a change generalises.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ivr.errors import GrammarError
from ivr.grammar_files import format_validation_error, read_grammar_yaml
from ivr.signals.calibration import Calibration, load_calibration
from ivr.signals.encoder import (
    CACHE_FILE,
    CachingEncoder,
    EncoderChoice,
    encode_with_cache,
    encoder_name,
    encoder_text,
    shared_encoder,
)
from ivr.signals.learned import LearnedModel, train
from ivr.signals.text import char_ngrams, expand_aliases, levenshtein, remove_phrases, tokenize
from ivr.signals.training import TrainingSentence, load_training_sentences

UNKNOWN = "unknown"
AGENT_REQUEST = "agent_request"

#: How an intent is served: answered by us, handed to a person, the caller asking for a person, or nothing.
Handling = Literal["self_service", "person", "transfer", "none"]

FloatArray = npt.NDArray[np.float64]

# Weights of the two kinds of evidence and the shape of the confidence curve. Tuned on the dev sets in
# tests/unit/test_intent.py and tests/data/eval/{utterances,tuning}.yaml — never on heldout.yaml; they are
# language-independent on purpose (languages differ in the YAML only).
_SIMILARITY_WEIGHT = 0.4
#: share of the learned model in the evidence (the rest is keywords and nearest examples); chosen by 5-fold
#: cross-validation over training.yaml (0.5–0.7 equal within a point) and the development sets
_LEARNED_WEIGHT = 0.5
#: how much the sentence vector counts next to the word features in the learned model, and that model's inverse
#: regularisation; chosen by cross-validation over training.yaml
DENSE_SCALE = 3.0
LEARNED_C = 10.0
_NEIGHBOUR_WEIGHTS = (0.6, 0.4)  # how the nearest and second-nearest example of an intent count
_KEYWORD_WEIGHT = 0.6
_KEYWORD_SCALE = 2.0  # summed keyword weight at which keyword evidence reaches 1 - 1/e
_FUZZY_QUALITY = 0.7  # a misheard keyword counts for less than a clean one
_FUZZY_MIN_LENGTH = 6  # shorter stems have too many near neighbours ("staff"/"stuff")
_TWO_EDITS_LENGTH = 10  # stems this long may be misheard in two places ("overleden" is not "overleggen")
_FUZZY_PART = 4  # shortest word a split compound may have on either side for a near miss to count
_SHORT_STEM = 4  # stems this short match only with a short ending ("cards", "paying"; not "cardiff", "volgende")
_SHORT_STEM_ENDING = 3
_PHRASE_GAP = 2  # words allowed between the parts of a multi-word keyword ("iemand van jullie spreken")
_PARTICLE_REACH = 8  # words a particle may trail its verb by ("zeg het contract met ingang van maart op")
_COMPOUND_HEAD = 3  # shortest first part of a compound a keyword may hide behind ("n|iemand" is no compound)
_CUE_FREE_WORDS = 3  # a sentence this short ("een medewerker graag") needs no request cue
_UNCUED_SHARE = 0.25  # what keywords of an intent with cues count for in a longer sentence without one
_INNER_STEM = 5  # shortest stem found inside a compound ("factuur|adres")
_FULL_COVERAGE = 0.6  # share of content words about our services at which a guess is taken at face value
_COVERAGE_FLOOR = 0.2  # what a guess is worth when nothing else the caller said is about our services
_DOMAIN_STEM = 4  # shortest shared beginning that makes two words one (inflection, compound)
_MEMO_SIZE = 50_000  # heard words (and joined pairs) whose keyword matches a model remembers (~20 MB at most)
_PRECEDENCE_EVIDENCE = 3.5  # keyword weight that lets a precedence intent win outright
_CONFIDENCE_GAIN = 1.6
_MARGIN_SCALE = 0.15


# ── public values ─────────────────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True, slots=True)
class IntentResult:
    """The classifier's answer: a label from the taxonomy, how sure it is of that label (0–1), and why.

    For ``unknown`` the confidence is how sure it is that nothing in the taxonomy fits.
    """

    label: str
    confidence: float
    reasons: tuple[str, ...] = ()

    @property
    def is_unknown(self) -> bool:
        return self.label == UNKNOWN


@dataclass(frozen=True, slots=True)
class Keyword:
    """A weighted stem, or a phrase of stems matched in order ("iemand spreken")."""

    text: str
    stems: tuple[str, ...]
    weight: float
    #: words a phrase may have between its parts; 0 for an unbroken phrase ("my late" husband, not "my parcel is
    #: late")
    gap: int = _PHRASE_GAP


@dataclass(frozen=True, slots=True)
class IntentSpec:
    """One intent as declared in intents.yaml."""

    label: str
    handling: Handling
    #: how the caller hears the topic named ("uw klacht"), used when a person takes over
    topic: str
    keywords: tuple[Keyword, ...]
    examples: tuple[str, ...]
    #: wins over other intents when one of its strong keywords is clearly heard (sensitive topics)
    precedence: bool = False
    #: words that make a longer sentence a request of this kind; without one its keywords count a quarter
    cues: tuple[Keyword, ...] = ()


@dataclass(frozen=True, eq=False)
class IntentModel:
    """A loaded intents.yaml plus the TF-IDF index of its examples (built by :func:`load_intent_model`)."""

    language: str
    threshold: float
    intents: tuple[IntentSpec, ...]
    aliases: Mapping[str, tuple[str, ...]]
    fillers: tuple[tuple[str, ...], ...]
    stopwords: frozenset[str]
    #: inflectional word beginnings a keyword may hide behind (Dutch "ge-")
    prefixes: tuple[str, ...]
    #: separable verb particles that may stand apart from their verb (Dutch "ik zeg het op" = "opzeggen")
    particles: tuple[str, ...]
    _vocabulary: Mapping[str, int] = field(repr=False)
    _idf: FloatArray = field(repr=False)
    #: one L2-normalised row per example
    _examples: FloatArray = field(repr=False)
    #: index into ``intents`` for every example row
    _owners: npt.NDArray[np.int64] = field(repr=False)
    _example_texts: tuple[str, ...] = field(repr=False)
    #: content words of the in-scope examples and every keyword stem: what callers say about *our* services
    _domain_words: frozenset[str] = field(repr=False)
    #: logistic regression over the examples and ``training.yaml``
    _learned: LearnedModel = field(repr=False)
    #: the labelled sentences of ``training.yaml`` (text, intent, distressed)
    training: tuple[TrainingSentence, ...] = ()
    #: the sentence encoder the learned model reads vectors from (None: words only)
    encoder: CachingEncoder | None = field(default=None, repr=False)
    #: words that begin like a keyword but are other words ("personal" is no "person"): matched only as themselves
    distinct: frozenset[str] = frozenset()
    #: the same for every word with one of these beginnings (``gebeur*`` in intents.yaml: gebeurd, gebeurt, gebeurde…)
    distinct_stems: tuple[str, ...] = ()
    #: calibrated confidence and ``unknown`` threshold (``calibration.yaml``); None: the hand-shaped curve and the
    #: threshold in intents.yaml
    calibration: Calibration | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(spec.label for spec in self.intents)

    def spec(self, label: str) -> IntentSpec:
        for spec in self.intents:
            if spec.label == label:
                return spec
        raise KeyError(label)

    @cached_property
    def heard_memo(self) -> dict[object, Mapping[str, float]]:
        """Which stems a heard word (or joined pair) matches, kept across utterances. Matching one word against
        every stem is most of understanding a turn, and callers use the same few thousand words again and again."""
        return {}

    @cached_property
    def stems(self) -> frozenset[str]:
        """Every stem of every keyword, phrase parts included."""
        return frozenset(stem for spec in self.intents for k in (*spec.keywords, *spec.cues) for stem in k.stems)

    @cached_property
    def stems_by_letter(self) -> StemIndex:
        """:attr:`stems` by first letter: a word can only begin like (or be a near miss of) a stem with its own
        first letter, so a word is compared with a few dozen stems instead of all of them."""
        return index_stems(self.stems)

    def labels_with(self, handling: Handling) -> tuple[str, ...]:
        return tuple(spec.label for spec in self.intents if spec.handling == handling)


# ── the YAML schema ───────────────────────────────────────────────────────────────────────────────────────
class _IntentFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    handling: Handling
    topic: str = ""
    precedence: bool = False
    cues: list[str] = Field(default_factory=list)
    keywords: dict[str, float] = Field(default_factory=dict)
    examples: list[str] = Field(min_length=1)

    @field_validator("keywords")
    @classmethod
    def _positive_weights(cls, value: dict[str, float]) -> dict[str, float]:
        for word, weight in value.items():
            if not tokenize(word):
                raise ValueError(f"keyword {word!r} has no letters")
            if not 0 < weight <= 10:
                raise ValueError(f"keyword {word!r}: weight must be in (0, 10], got {weight}")
        return value

    @field_validator("examples")
    @classmethod
    def _nonempty_examples(cls, value: list[str]) -> list[str]:
        for example in value:
            if not tokenize(example):
                raise ValueError(f"example {example!r} has no words")
        return value


#: shortest beginning ``distinct`` may list with a ``*``: a shorter one would silence keywords in many words
_MIN_DISTINCT_STEM = 4


class _IntentsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(ge=0.0, le=1.0)
    aliases: dict[str, str] = Field(default_factory=dict)
    fillers: list[str] = Field(default_factory=list)
    stopwords: list[str] = Field(default_factory=list)
    prefixes: list[str] = Field(default_factory=list)
    particles: list[str] = Field(default_factory=list)
    distinct: list[str] = Field(default_factory=list)
    unbroken: list[str] = Field(default_factory=list)
    intents: dict[str, _IntentFile]

    @field_validator("distinct")
    @classmethod
    def _distinct_words(cls, value: list[str]) -> list[str]:
        for entry in value:
            if entry.endswith("*") and (len(tokenize(entry[:-1])) != 1 or len(entry) < _MIN_DISTINCT_STEM + 1):
                raise ValueError(
                    f"{entry!r} — a beginning ending in * must be one word of at least {_MIN_DISTINCT_STEM} letters"
                )
        return value

    @model_validator(mode="after")
    def _taxonomy(self) -> _IntentsFile:
        for required, handling in ((UNKNOWN, "none"), (AGENT_REQUEST, "transfer")):
            spec = self.intents.get(required)
            if spec is None:
                raise ValueError(f"intent {required!r} is required")
            if spec.handling != handling:
                raise ValueError(f"intent {required!r} must have handling: {handling}")
        for label, spec in self.intents.items():
            if spec.handling == "person" and not spec.topic.strip():
                raise ValueError(f"intent {label!r} needs a person, so it needs a topic the caller hears")
            if spec.handling in ("none", "transfer") and label not in (UNKNOWN, AGENT_REQUEST):
                raise ValueError(
                    f"intent {label!r}: handling {spec.handling!r} is reserved for {UNKNOWN}/{AGENT_REQUEST}"
                )
        phrases = {word for spec in self.intents.values() for word in spec.keywords}
        for phrase in self.unbroken:
            if phrase not in phrases or len(phrase.split()) < 2:
                raise ValueError(f"unbroken: {phrase!r} is no keyword phrase of any intent")
        return self


_SHARED: Literal["shared"] = "shared"


def load_intent_model(
    grammars_dir: Path,
    language: str,
    encoder: EncoderChoice = _SHARED,
    *,
    training: Sequence[TrainingSentence] | None = None,
    calibrated: bool = True,
) -> IntentModel:
    """Load and validate ``grammars/<language>/intents.yaml`` and index its examples.

    ``encoder`` gives the learned model sentence vectors (by default the process's shared E5 encoder; None for a
    words-only model). ``training`` replaces the labelled sentences of training.yaml (cross-validation trains on
    part of them); ``calibrated=False`` ignores calibration.yaml. Raises :class:`GrammarError` naming the file and
    the reason when anything is wrong.
    """
    encoder = shared_encoder() if encoder == _SHARED else encoder
    path = grammars_dir / language / "intents.yaml"
    data = read_grammar_yaml(path)
    try:
        parsed = _IntentsFile.model_validate(data)
    except ValidationError as exc:
        raise GrammarError(format_validation_error(path, exc)) from exc

    aliases = MappingProxyType({" ".join(tokenize(k)): tokenize(v) for k, v in parsed.aliases.items()})
    fillers = tuple(tokenize(f) for f in parsed.fillers if tokenize(f))
    stopwords = frozenset(word for s in parsed.stopwords for word in tokenize(s))
    specs = tuple(
        IntentSpec(
            label=label,
            handling=spec.handling,
            topic=spec.topic.strip(),
            keywords=tuple(
                Keyword(
                    text=word,
                    stems=expand_aliases(tokenize(word), aliases),
                    weight=weight,
                    gap=0 if word in parsed.unbroken else _PHRASE_GAP,
                )
                for word, weight in spec.keywords.items()
            ),
            examples=tuple(spec.examples),
            precedence=spec.precedence,
            cues=tuple(
                Keyword(text=cue, stems=expand_aliases(tokenize(cue), aliases), weight=1.0) for cue in spec.cues
            ),
        )
        for label, spec in parsed.intents.items()
    )

    labels = tuple(spec.label for spec in specs)
    if training is None:
        training = load_training_sentences(grammars_dir, language, labels)
    training = tuple(training)
    labelled = [(text, index) for index, spec in enumerate(specs) for text in spec.examples]
    taught = [(s.text, labels.index(s.intent)) for s in training]

    documents: list[list[str]] = []
    owners: list[int] = []
    texts: list[str] = []
    sentences: list[tuple[tuple[str, ...], str]] = []
    sentence_texts: list[str] = []
    domain: set[str] = {stem for spec in specs for k in spec.keywords for stem in k.stems if stem not in stopwords}
    for number, (text, index) in enumerate(labelled + taught):
        words = _content_words(_prepare(text, aliases, fillers), stopwords)
        if words:
            sentences.append((words, labels[index]))
            sentence_texts.append(encoder_text(text))
        if specs[index].label != UNKNOWN:
            domain.update(w for w in words if w not in stopwords)
        if number >= len(labelled):
            # Labelled sentences widen what counts as "about our services" and train the learned model; the
            # nearest-example index stays the curated examples (adding them there measured no better).
            continue
        documents.append(char_ngrams(words))
        owners.append(index)
        texts.append(text)

    vocabulary: dict[str, int] = {}
    document_frequency: Counter[str] = Counter()
    for grams in documents:
        for gram in set(grams):
            vocabulary.setdefault(gram, len(vocabulary))
            document_frequency[gram] += 1
    idf = np.zeros(len(vocabulary), dtype=np.float64)
    for gram, index in vocabulary.items():
        idf[index] = math.log((1 + len(documents)) / (1 + document_frequency[gram])) + 1.0
    matrix = np.zeros((len(documents), len(vocabulary)), dtype=np.float64)
    for row, grams in enumerate(documents):
        matrix[row] = _vectorise(grams, vocabulary, idf)

    if encoder is None:
        learned = train(language, labels, sentences)
    else:
        vectors, _ = encode_with_cache(encoder, sentence_texts, grammars_dir / language / CACHE_FILE)
        learned = train(language, labels, sentences, vectors, DENSE_SCALE, LEARNED_C)

    return IntentModel(
        language=language,
        threshold=parsed.threshold,
        intents=specs,
        aliases=aliases,
        fillers=fillers,
        stopwords=stopwords,
        prefixes=tuple(p for prefix in parsed.prefixes for p in tokenize(prefix)),
        particles=tuple(p for particle in parsed.particles for p in tokenize(particle)),
        _vocabulary=MappingProxyType(vocabulary),
        _idf=idf,
        _examples=matrix,
        _owners=np.asarray(owners, dtype=np.int64),
        _example_texts=tuple(texts),
        _domain_words=frozenset(domain),
        _learned=learned,
        training=training,
        encoder=encoder,
        distinct=frozenset(word for d in parsed.distinct if not d.endswith("*") for word in tokenize(d)),
        distinct_stems=tuple(tokenize(d.removesuffix("*"))[0] for d in parsed.distinct if d.endswith("*")),
        calibration=load_calibration(grammars_dir, language, encoder_name(encoder)) if calibrated else None,
    )


# ── classification ────────────────────────────────────────────────────────────────────────────────────────
#: cosine (character n-grams of the content words) at which an utterance counts as an example said word for word
_SAME_WORDING = 0.97
#: learned probability from which the words behind it are worth naming in the reasons
_TELLING = 0.3


@dataclass(frozen=True, slots=True)
class IntentScores:
    """The evidence behind an answer before it is turned into a confidence: what calibration learns from."""

    best: int
    #: combined evidence for the best intent (0–1) and its lead over the runner-up
    evidence: float
    margin: float
    #: won by precedence (a sensitive topic's strong keyword clearly heard)
    preferred: bool
    #: share of the caller's content words that are about our services (1 when all are)
    coverage: float
    runner_up: int
    reasons: tuple[str, ...]


def classify_intent(text: str, model: IntentModel) -> IntentResult:
    """Classify one utterance. Pure: same text and model, same answer."""
    scored = score_intent(text, model)
    if isinstance(scored, IntentResult):
        return scored
    spec = model.intents[scored.best]
    reasons = list(scored.reasons)
    if model.calibration is not None:
        confidence = model.calibration.probability(scored)
        threshold = model.calibration.threshold
        person_floor = model.calibration.person_floor
    else:
        confidence = _heuristic_confidence(scored)
        threshold = person_floor = model.threshold
    if spec.label == UNKNOWN:
        return IntentResult(UNKNOWN, round(confidence, 3), (*reasons, "closest to examples of out-of-scope requests"))
    runner_up = model.intents[scored.runner_up]
    # Unsure between two topics that both need a person ("a direct debit I never set up": fraud or a failed
    # payment): asking the caller to rephrase would mostly decide which person, so from a floor chosen by
    # cross-validation (ivr grammars calibrate) the better guess stands.
    for_a_person = spec.handling == "person" and runner_up.handling == "person" and scored.runner_up != scored.best
    if confidence < threshold and not (for_a_person and confidence >= person_floor):
        guess = f"best guess '{spec.label}' at {confidence:.2f} is below the threshold {threshold:.2f}"
        return IntentResult(UNKNOWN, round(1.0 - confidence, 3), (guess, *reasons))
    if confidence < threshold:
        reasons.append(f"unsure ({confidence:.2f}), but runner-up '{runner_up.label}' also needs a person")
    elif scored.runner_up != scored.best and scored.margin < _MARGIN_SCALE:
        reasons.append(f"runner-up '{runner_up.label}'")
    return IntentResult(spec.label, round(confidence, 3), tuple(reasons))


def score_intent(text: str, model: IntentModel) -> IntentScores | IntentResult:
    """The evidence for each intent, combined; or a final answer when there is nothing to weigh (only filler words,
    or an example said word for word)."""
    words = _prepare(text, model.aliases, model.fillers)
    if not words:
        return IntentResult(UNKNOWN, 1.0, ("nothing said but filler words",))

    keyword_scores, exact_scores, keyword_reasons = _keyword_evidence(words, model)
    similarity, nearest, (closest_cosine, closest_row) = _similarity_evidence(
        _content_words(words, model.stopwords), model
    )
    if closest_cosine >= _SAME_WORDING:
        # Said (almost) word for word like an example — e.g. wording a supervisor taught from a missed call: that
        # example's intent, whatever else its words might suggest.
        spec = model.intents[int(model._owners[closest_row])]
        reason = f"said like example '{model._example_texts[closest_row]}' ({closest_cosine:.2f})"
        return IntentResult(spec.label, round(closest_cosine, 3), (reason,))
    meaningful = _content_words(words, model.stopwords)
    vector = model.encoder.one(encoder_text(text)) if model.encoder is not None else None
    learned = model._learned.probabilities(meaningful, vector)
    written = _SIMILARITY_WEIGHT * similarity + _KEYWORD_WEIGHT * (1.0 - np.exp(-keyword_scores / _KEYWORD_SCALE))
    evidence = (1.0 - _LEARNED_WEIGHT) * written + _LEARNED_WEIGHT * learned

    order = [int(i) for i in np.argsort(-evidence)]
    best = _precedent(exact_scores, evidence, model)
    preferred = best is not None
    if best is None:
        best = order[0]
    runner_up = next((i for i in order if i != best), best)
    margin = float(evidence[best] - evidence[runner_up]) if runner_up != best else float(evidence[best])
    spec = model.intents[best]

    reasons = list(keyword_reasons[best][:3])
    coverage = 1.0
    if not preferred:
        # "hoe laat vertrekt de bus naar het ziekenhuis" has a keyword of opening_hours, but most of what the
        # caller said is about something we do not do: such a guess is worth less.
        content = tuple(w for w in words if w not in model.stopwords)
        covered = sum(1 for w in content if _in_domain(w, model._domain_words))
        coverage = covered / len(content) if content else 1.0
        if coverage < _FULL_COVERAGE:
            reasons.append(f"only {covered} of {len(content)} words are about our services")
    if preferred and best != order[0]:
        reasons.append(f"takes precedence over '{model.intents[order[0]].label}'")
    if nearest[best]:
        reasons.append(f"similar to example '{nearest[best]}' ({similarity[best]:.2f})")
    telling = model._learned.telling_words(meaningful, spec.label)
    if telling and learned[best] >= _TELLING:
        reasons.append(f"learned from labelled sentences: {', '.join(telling)} ({learned[best]:.2f})")
    return IntentScores(
        best=best,
        evidence=float(evidence[best]),
        margin=margin,
        preferred=preferred,
        coverage=coverage,
        runner_up=runner_up,
        reasons=tuple(reasons),
    )


def _heuristic_confidence(scored: IntentScores) -> float:
    """The hand-shaped confidence used when a language has no calibration file."""
    # An intent that won by precedence is not a coin toss: its strong keyword was clearly heard.
    confidence = _calibrate(scored.evidence, _MARGIN_SCALE if scored.preferred else scored.margin)
    if not scored.preferred and scored.coverage < _FULL_COVERAGE:
        confidence *= _COVERAGE_FLOOR + (1.0 - _COVERAGE_FLOOR) * scored.coverage / _FULL_COVERAGE
    return confidence


def _precedent(exact_scores: FloatArray, evidence: FloatArray, model: IntentModel) -> int | None:
    """The precedence intent (e.g. bereavement) whose strong keyword was heard, if any.

    "My mother died and I want to cancel her contract" is about a death first: the caller should hear a person
    who knows that, not the cancellations desk announcement.
    """
    heard = [
        index
        for index, spec in enumerate(model.intents)
        if spec.precedence and exact_scores[index] >= _PRECEDENCE_EVIDENCE
    ]
    return max(heard, key=lambda index: float(evidence[index])) if heard else None


def _in_domain(word: str, domain: frozenset[str]) -> bool:
    """Whether a heard word is one our callers use: the same word, an inflection or compound of one, or a near miss."""
    if word in domain:
        return True
    for known in domain:
        # Every way of matching below needs the same first letter.
        if known[0] != word[0]:
            continue
        shorter = min(len(word), len(known))
        if shorter >= _DOMAIN_STEM and (word.startswith(known) or known.startswith(word)):
            return True
        if shorter >= _DOMAIN_STEM + 1 and levenshtein(word, known, 1) <= 1:
            return True
    return False


def _calibrate(evidence: float, margin: float) -> float:
    """Map raw evidence and its lead over the runner-up to a 0–1 confidence.

    Strong evidence alone is not enough: "geld terug van een mislukte betaling" is strong for two intents, and
    the engine should treat a coin toss as unsure. The margin term tempers confidence when two intents are
    close.
    """
    strength = min(1.0, evidence * _CONFIDENCE_GAIN)
    decisiveness = 0.5 + 0.5 * min(1.0, margin / _MARGIN_SCALE)
    return max(0.0, min(1.0, strength * decisiveness))


def _prepare(
    text: str, aliases: Mapping[str, tuple[str, ...]], fillers: tuple[tuple[str, ...], ...]
) -> tuple[str, ...]:
    return remove_phrases(expand_aliases(tokenize(text), aliases), fillers)


def _content_words(words: tuple[str, ...], stopwords: frozenset[str]) -> tuple[str, ...]:
    content = tuple(w for w in words if w not in stopwords)
    return content or words


def _vectorise(grams: list[str], vocabulary: Mapping[str, int], idf: FloatArray) -> FloatArray:
    vector = np.zeros(len(vocabulary), dtype=np.float64)
    for gram, count in Counter(grams).items():
        index = vocabulary.get(gram)
        if index is not None:
            vector[index] = (1.0 + math.log(count)) * idf[index]
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _similarity_evidence(words: tuple[str, ...], model: IntentModel) -> tuple[FloatArray, list[str], tuple[float, int]]:
    """Per intent: the cosine to its nearest examples, and the nearest one's text (for the reasons); and the single
    closest example overall (its cosine and row)."""
    query = _vectorise(char_ngrams(words), model._vocabulary, model._idf)
    cosines = np.maximum(model._examples @ query, 0.0)
    closest_row = int(np.argmax(cosines)) if len(cosines) else -1
    closest = (float(cosines[closest_row]) if closest_row >= 0 else 0.0, closest_row)
    top: list[list[float]] = [[] for _ in model.intents]
    nearest = [""] * len(model.intents)
    for row in np.argsort(-cosines):
        owner = int(model._owners[row])
        if len(top[owner]) < len(_NEIGHBOUR_WEIGHTS):
            top[owner].append(float(cosines[row]))
            if not nearest[owner] and cosines[row] > 0:
                nearest[owner] = model._example_texts[row]
    # Several close examples are better evidence than one: a lone short example ("hoe zeg ik op") must not carry
    # every sentence that happens to share its one content word.
    best = np.array([sum(w * c for w, c in zip(_NEIGHBOUR_WEIGHTS, near, strict=False)) for near in top])
    return best, nearest, closest


def _keyword_evidence(words: tuple[str, ...], model: IntentModel) -> tuple[FloatArray, FloatArray, list[list[str]]]:
    """Per intent: summed weight of the keywords heard, the part heard exactly, and which they were."""
    # A recogniser often splits a compound ("wacht woord"); joined neighbours are candidates too.
    adjacent = tuple(itertools.pairwise(words))
    separated = _separated_verbs(words, model.particles)
    # A particle before "te" belongs to its verb: in "beloofd terug te bellen" no "terug" (money back) was asked for.
    free = tuple(word for index, word in enumerate(words) if not _bound_particle(words, index, model.particles))
    candidates = free + tuple(a + b for a, b in adjacent + separated)
    matcher = _Matcher.build(
        words,
        adjacent,
        separated,
        model.stems,
        model.prefixes,
        model.stopwords,
        model.distinct,
        model.distinct_stems,
        model.heard_memo,
        model.stems_by_letter,
    )
    heard = matcher.stems_heard()
    scores = np.zeros(len(model.intents), dtype=np.float64)
    exact_scores = np.zeros(len(model.intents), dtype=np.float64)
    reasons: list[list[str]] = [[] for _ in model.intents]
    for index, spec in enumerate(model.intents):
        # One heard word is one piece of evidence: "betalingen" matching "betaling" and "betaal" counts once.
        by_heard: dict[str, tuple[float, str, bool]] = {}
        for keyword in spec.keywords:
            if not heard.issuperset(keyword.stems):  # (most keywords: a set lookup instead of a scan)
                continue
            quality, as_heard = _heard(keyword, matcher, candidates, words)
            if quality == 0:
                continue
            note = f"keyword '{keyword.text}'"
            if as_heard != " ".join(keyword.stems):
                note += f" (heard '{as_heard}')"
            value = keyword.weight * quality
            if value > by_heard.get(as_heard, (0.0, "", False))[0]:
                by_heard[as_heard] = (value, note, quality == 1.0)
        scores[index] = sum(value for value, _, _ in by_heard.values())
        exact_scores[index] = sum(value for value, _, clean in by_heard.values() if clean)
        reasons[index] = [note for _, note, _ in sorted(by_heard.values(), key=lambda item: -item[0])]
        asked = any(heard.issuperset(cue.stems) and _heard(cue, matcher, candidates, words)[0] > 0 for cue in spec.cues)
        if spec.cues and scores[index] > 0 and len(words) > _CUE_FREE_WORDS and not asked:
            # "jullie medewerker heeft mij opgehangen" names a person without asking for one.
            scores[index] *= _UNCUED_SHARE
            exact_scores[index] *= _UNCUED_SHARE
            reasons[index].append("no words asking for it")
    return scores, exact_scores, reasons


def _heard(
    keyword: Keyword, matcher: _Matcher, candidates: tuple[str, ...], words: tuple[str, ...]
) -> tuple[float, str]:
    """How well a keyword (one stem, or a phrase of stems in order) was heard, and as what."""
    if len(keyword.stems) == 1:
        return matcher.best_word(keyword.stems[0], candidates)
    return matcher.phrase(keyword.stems, words, keyword.gap)


def _bound_particle(words: tuple[str, ...], index: int, particles: tuple[str, ...]) -> bool:
    """Whether ``words[index]`` is a particle split from its verb by "te" ("terug te bellen", "op te zeggen")."""
    return words[index] in particles and words[index + 1 : index + 2] == ("te",) and index + 2 < len(words)


def _separated_verbs(words: tuple[str, ...], particles: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(particle, verb) pairs a Dutch speaker split up: "zeg het abonnement op", "om op te zeggen".

    Joined, they are matched like a compound the recogniser split ("opzeg"), and only against stems that span
    both parts, so a stray "op" glued to an unrelated word finds nothing.
    """
    found: list[tuple[str, str]] = []
    for index, word in enumerate(words):
        if word not in particles:
            continue
        if _bound_particle(words, index, particles):
            found.append((word, words[index + 2]))
        found.extend((word, verb) for verb in words[max(0, index - _PARTICLE_REACH) : index] if verb not in particles)
    return tuple(found)


@dataclass(frozen=True, slots=True)
class _Matcher:
    """How well each heard word matches each stem, worked out once per utterance."""

    table: Mapping[str, Mapping[str, float]]

    @classmethod
    def build(
        cls,
        words: tuple[str, ...],
        adjacent: tuple[tuple[str, str], ...],
        separated: tuple[tuple[str, str], ...],
        stems: frozenset[str],
        prefixes: tuple[str, ...],
        stopwords: frozenset[str] = frozenset(),
        distinct: frozenset[str] = frozenset(),
        distinct_stems: tuple[str, ...] = (),
        memo: dict[object, Mapping[str, float]] | None = None,
        index: StemIndex | None = None,
    ) -> _Matcher:
        """``memo`` (the model's :attr:`IntentModel.heard_memo`) keeps each word's matches for later utterances;
        it must only ever see the same stems, prefixes, stopwords and distinct words."""
        memo = {} if memo is None else memo
        if len(memo) > _MEMO_SIZE:
            memo.clear()
        index = index_stems(stems) if index is None else index

        # A function word is itself or nothing: "gewoon" is not "ge-woon" (address_change's "woon"), "eigenlijk"
        # holds no keyword, and no one mishears a keyword as "gewoon". A distinct word is only itself.
        def heard_as(word: str) -> Mapping[str, float]:
            if word in distinct or word.startswith(distinct_stems):
                return {word: 1.0} if word in stems else {}
            if word in stopwords:
                return _hits(word, stems, (), fuzzy=False, inner=False, index=index)
            return _hits(word, stems, prefixes, index=index)

        table: dict[str, Mapping[str, float]] = {}
        for word in set(words):
            known = memo.get(word)
            if known is None:
                known = memo[word] = heard_as(word)
            table[word] = known
        for (first, second), split in [(pair, True) for pair in adjacent] + [(pair, False) for pair in separated]:
            joined = first + second
            if joined in table:
                continue
            key = (first, second, split)
            known = memo.get(key)
            if known is not None:
                table[joined] = known
                continue
            # A joined pair counts only for a stem that really spans both words ("wacht woord" is
            # "wachtwoord"), not for one that borrows a letter from the next word ("echt een" is not "echte").
            spanning = len(first) + min(3, len(second))
            # A near miss counts only when both parts are real compound parts ("opening tijden"): glued to a
            # short word, fuzzy matching finds keywords nobody said ("week and" is not "weekend", "for gods" is
            # not "forgot").
            # A particle the grammar moved away from its verb ("zeg het abonnement op") was heard right where it
            # stands; only a compound the recogniser split may also be misheard ("terug ... bestelling" is no
            # "terugbetaling").
            fuzzy = split and min(len(first), len(second)) >= _FUZZY_PART
            # Without inner matches a stem can only start where the join starts (or after a prefix): the first
            # letter rules out almost every stem before any edit distance is computed.
            starts = {joined[0]} | {joined[len(p)] for p in prefixes if joined.startswith(p) and len(joined) > len(p)}
            long_stems = frozenset(s for letter in starts for s in index.get(letter, ()) if len(s) >= spanning)
            table[joined] = memo[key] = _hits(joined, long_stems, prefixes, fuzzy=fuzzy, inner=False)
        return cls(MappingProxyType(table))

    def stems_heard(self) -> frozenset[str]:
        """Every stem some heard word or pair matches: a keyword with a stem outside it cannot have been heard."""
        return frozenset(stem for hits in self.table.values() for stem in hits)

    def word(self, stem: str, word: str) -> float:
        return self.table.get(word, {}).get(stem, 0.0)

    def best_word(self, stem: str, candidates: tuple[str, ...]) -> tuple[float, str]:
        best, heard = 0.0, ""
        for word in candidates:
            quality = self.word(stem, word)
            if quality > best:
                best, heard = quality, word
                if best == 1.0:
                    break
        return best, heard

    def phrase(self, stems: tuple[str, ...], words: tuple[str, ...], gap: int = _PHRASE_GAP) -> tuple[float, str]:
        """Match the stems in order, allowing ``gap`` words in between; the weakest part sets the quality."""
        for start, word in enumerate(words):
            first = self.word(stems[0], word)
            if first == 0:
                continue
            quality, position, heard = first, start, [word]
            for stem in stems[1:]:
                window = words[position + 1 : position + 2 + gap]
                matches = [(q, offset) for offset, w in enumerate(window) if (q := self.word(stem, w)) > 0]
                if not matches:
                    break
                part, offset = matches[0]
                quality = min(quality, part)
                position += 1 + offset
                heard.append(words[position])
            else:
                return quality, " ".join(heard)
        return 0.0, ""


StemIndex = Mapping[str, frozenset[str]]


def index_stems(stems: frozenset[str]) -> StemIndex:
    index: dict[str, set[str]] = {}
    for stem in stems:
        index.setdefault(stem[:1], set()).add(stem)
    return MappingProxyType({letter: frozenset(group) for letter, group in index.items()})


def _hits(
    word: str,
    stems: frozenset[str],
    prefixes: tuple[str, ...],
    *,
    fuzzy: bool = True,
    inner: bool = True,
    index: StemIndex | None = None,
) -> Mapping[str, float]:
    """Every stem the word matches, with the match quality.

    Two words glued together (``inner=False``) match only a stem that starts at their start: a stem in the middle
    of "en niemand" is just the second word again, and that word is matched on its own. ``index`` (``stems`` by
    first letter) narrows the stems compared to those that could match at all; the answer is the same.
    """
    forms = [word] + [word[len(p) :] for p in prefixes if word.startswith(p) and len(word) > len(p)]
    if index is None:
        candidates: Iterable[str] = stems
    else:
        found = {stem for form in forms for stem in index.get(form[0], ())}
        if inner:  # a stem inside a compound, behind a real first part
            last = len(word)
            found.update(
                piece
                for start in range(_COMPOUND_HEAD, last - _INNER_STEM + 1)
                for end in range(start + _INNER_STEM, last + 1)
                if (piece := word[start:end]) in stems
            )
        candidates = found
    hits = {stem: 1.0 for stem in candidates if _exact(stem, word, prefixes, inner=inner)}
    if hits or not fuzzy:
        return hits
    # Only a word that is no keyword at all may be a misrecognised one: "gestolen" is fraud's own word, not a
    # misheard "gestorven". A near miss keeps the first letter, so the index's candidates hold every one.
    return {stem: _FUZZY_QUALITY for stem in candidates if any(_near(stem, form) for form in forms)}


def _exact(stem: str, word: str, prefixes: tuple[str, ...], *, inner: bool = True) -> bool:
    """The stem begins the word, sits inside a compound, or follows an inflectional prefix ("ge-hackt")."""
    # Inside a compound only behind a real first part ("klanten|service"): one or two letters in front make
    # another word ("n|iemand" is nobody, not somebody).
    if _begins(stem, word) or (inner and len(stem) >= _INNER_STEM and word.find(stem, _COMPOUND_HEAD) >= 0):
        return True
    return any(word.startswith(p) and _begins(stem, word[len(p) :]) for p in prefixes)


def _begins(stem: str, word: str) -> bool:
    """Prefix match; a very short stem only takes an ending, so "app" is not found in "appeltaart"."""
    if not word.startswith(stem):
        return False
    return len(stem) > _SHORT_STEM or len(word) - len(stem) <= _SHORT_STEM_ENDING


def _near(stem: str, word: str) -> bool:
    """A misrecognised form of the stem: same first letter, one edit away (two for very long stems)."""
    if len(stem) < _FUZZY_MIN_LENGTH or not word or word[0] != stem[0] or len(word) < len(stem) - 1:
        return False
    limit = 1 if len(stem) < 10 else 2
    return any(levenshtein(stem, word[:length], limit) <= limit for length in (len(stem), len(stem) - 1, len(stem) + 1))
