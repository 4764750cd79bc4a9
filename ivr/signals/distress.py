"""Is the caller upset? A 0–1 level with reasons an agent can read, from words, the conversation and the
voice.

Three independent kinds of evidence are combined as a noisy-OR (each one alone can raise the level; together
they raise it further, never past 1):

* words – per-language lexicons in ``grammars/<lang>/distress.yaml`` (grief, anger, despair, panic, urgency,
  fraud panic, profanity, "I said this already"). Matching is made for recogniser output: lowercase words
  without punctuation, stems (``overlijd*``), compounds the recogniser split in two ("over leden"), one-letter
  slips in long words, fillers inside phrases. A negation just before a word mostly cancels it ("niet boos");
  an intensifier just before it strengthens it ("echt belachelijk").
* conversation – saying the same thing again, talking over the prompts, failing again and again.
* voice – arousal against the caller's own baseline, from :mod:`ivr.signals.voice` (optional).

Everything language-dependent is in the YAML; this module only knows how to match and weigh.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ivr.config import Language
from ivr.errors import GrammarError
from ivr.grammar_files import format_validation_error, parse_yaml, read_grammar_yaml
from ivr.signals.encoder import (
    CACHE_FILE,
    CachingEncoder,
    EncoderChoice,
    encode_with_cache,
    encoder_text,
    shared_encoder,
)
from ivr.signals.learned import LearnedModel, lemma, train
from ivr.signals.training import load_training_sentences

#: How much of a word's weight survives a negation just before it ("niet boos").
NEGATED_FACTOR = 0.25
#: An intensifier just before a word ("echt woedend", "so angry") multiplies its weight by this.
INTENSIFIER_FACTOR = 1.3
#: A one-letter slip in a long word is probably the same word, but not certainly.
FUZZY_FACTOR = 0.7
FUZZY_MIN_LENGTH = 8
MAX_WORD_WEIGHT = 0.95
NEGATION_WINDOW = 3
INTENSIFIER_WINDOW = 2
#: Voice arousal alone can reach this much distress: a loud line or a naturally lively voice should not
#: transfer a caller on its own, a clearly agitated one may.
VOICE_WEIGHT = 0.6
#: The learned model's probability that a sentence sounds upset counts for this much. Chosen by 5-fold
#: cross-validation over the first 600 sentences of each training.yaml (the second batch always in training):
#: recall 80 % nl / 72 % en at 8.4 % / 7.0 % false alarms, where the lexicon alone found 35 % / 21 % of those
#: upset callers.
LEARNED_WEIGHT = 0.8
#: share of the sentence vector next to the words in the calm/upset model, and its inverse regularisation. 5-fold CV
#: over training.yaml at LEARNED_WEIGHT 0.8, recall / false alarms nl, en: words only 78.2/8.4, 73.7/6.3; ×1
#: 79.7/8.4, 76.3/5.9; ×2 82.9/8.3, 77.5/6.1 (chosen)
DENSE_SCALE = 2.0
LEARNED_C = 10.0
#: probability from which the learned model's telling words are named in the reasons
LEARNED_REASON = 0.5
_CALM, _UPSET = "calm", "upset"
#: Utterances at least this similar (token sequence ratio) count as saying the same thing again.
REPEAT_SIMILARITY = 0.7
REPEAT_LOOKBACK = 5
WILDCARD = "_"


# ── text ──────────────────────────────────────────────────────────────────────────────────────────────────
_NON_WORD = re.compile(r"[^\w\s]|_")


def normalise(text: str) -> list[str]:
    """Recogniser-style tokens: lowercase, accents and apostrophes dropped ("i've" → "ive", "beëindigen" →
    "beeindigen"), other punctuation as spaces."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    plain = plain.replace("'", "").replace("’", "").replace("`", "")
    return _NON_WORD.sub(" ", plain).split()


def _edit_distance_at_most_one(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by at most one insertion, deletion, substitution or adjacent swap."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diffs = [i for i in range(la) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        i = diffs[0]
        return len(diffs) == 2 and diffs[1] == i + 1 and a[i] == b[i + 1] and a[i + 1] == b[i]
    short, long_ = (a, b) if la < lb else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1 :]


# ── lexicon file ──────────────────────────────────────────────────────────────────────────────────────────
class _TermSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    term: str = Field(min_length=1)
    weight: float = Field(gt=0.0, le=1.0)


class _CategorySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(min_length=1)
    weight: float = Field(gt=0.0, le=1.0)
    terms: list[str | _TermSpec] = Field(min_length=1)


class _DampenSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(min_length=1)
    category: str = Field(min_length=1)
    factor: float = Field(ge=0.0, le=1.0)
    terms: list[str] = Field(min_length=1)


class _StrengthenSpec(_DampenSpec):
    factor: float = Field(ge=1.0, le=2.0)


class _LexiconFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    language: Language
    categories: dict[str, _CategorySpec] = Field(min_length=1)
    dampen: list[_DampenSpec] = Field(default_factory=list)
    strengthen: list[_StrengthenSpec] = Field(default_factory=list)
    negators: list[str] = Field(default_factory=list)
    intensifiers: list[str] = Field(default_factory=list)
    fillers: list[str] = Field(default_factory=list)
    clause_breaks: list[str] = Field(default_factory=list)
    not_fuzzy: list[str] = Field(default_factory=list)

    @field_validator("negators", "intensifiers", "fillers", "clause_breaks", "not_fuzzy")
    @classmethod
    def _single_words(cls, words: list[str]) -> list[str]:
        for word in words:
            if len(normalise(word)) != 1:
                raise ValueError(f"{word!r} must be a single word")
        return words


@dataclass(frozen=True, slots=True)
class TermWord:
    """One word of a lexicon term: exact, a stem (``overlijd*``) or the wildcard ``_`` (any one word)."""

    text: str
    stem: bool = False

    @property
    def wildcard(self) -> bool:
        return self.text == WILDCARD


@dataclass(frozen=True, slots=True)
class LexiconTerm:
    written: str
    words: tuple[TermWord, ...]
    weight: float


@dataclass(frozen=True, slots=True)
class LexiconCategory:
    name: str
    label: str
    terms: tuple[LexiconTerm, ...]


@dataclass(frozen=True, slots=True)
class ContextFactor:
    """Context that changes how much one category's words mean: a notary's call about a death is paperwork, not
    grief (factor below 1); a funeral that was yesterday is a fresh loss (factor above 1)."""

    label: str
    category: str
    factor: float
    terms: tuple[LexiconTerm, ...]


@dataclass(frozen=True, slots=True)
class DistressLexicon:
    """A language's distress vocabulary, compiled for matching."""

    language: Language
    categories: tuple[LexiconCategory, ...]
    negators: frozenset[str]
    intensifiers: frozenset[str]
    fillers: frozenset[str]
    clause_breaks: frozenset[str]
    not_fuzzy: frozenset[str]
    contexts: tuple[ContextFactor, ...] = ()
    #: calm/upset model learned from ``training.yaml`` (None without labelled sentences)
    learned: LearnedModel | None = None
    #: function words (the intents' stopwords), never named as what made a caller sound upset
    function_words: frozenset[str] = frozenset()
    #: where the learned model's sentence vectors come from (None: it reads words only)
    encoder: CachingEncoder | None = None


def _compile_term(written: str, weight: float) -> LexiconTerm:
    words: list[TermWord] = []
    for raw in written.split():
        stem = raw.endswith("*")
        tokens = normalise(raw.rstrip("*")) if raw != WILDCARD else [WILDCARD]
        if len(tokens) != 1:
            raise ValueError(f"term {written!r}: cannot read {raw!r} as one word")
        words.append(TermWord(tokens[0], stem))
    if not words or all(w.wildcard for w in words):
        raise ValueError(f"term {written!r} has no words to match")
    return LexiconTerm(written, tuple(words), weight)


def _words(items: list[str]) -> frozenset[str]:
    return frozenset(normalise(item)[0] for item in items)


def parse_distress_lexicon(text: str, source_name: str) -> DistressLexicon:
    """Validate and compile a distress lexicon; mistakes raise GrammarError naming the file and the place."""
    try:
        raw = parse_yaml(text)
        spec = _LexiconFile.model_validate(raw)
        categories = tuple(
            LexiconCategory(
                name=name,
                label=cat.label,
                terms=tuple(
                    _compile_term(t, cat.weight) if isinstance(t, str) else _compile_term(t.term, t.weight)
                    for t in cat.terms
                ),
            )
            for name, cat in spec.categories.items()
        )
        names = {category.name for category in categories}
        modifiers: list[tuple[str, _DampenSpec]] = [
            *(("dampen", d) for d in spec.dampen),
            *(("strengthen", d) for d in spec.strengthen),
        ]
        for key, d in modifiers:
            if d.category not in names:
                raise ValueError(
                    f"{key} {d.label!r}: no category {d.category!r} (there are {', '.join(sorted(names))})"
                )
        contexts = tuple(
            ContextFactor(d.label, d.category, d.factor, tuple(_compile_term(t, 1.0) for t in d.terms))
            for _, d in modifiers
        )
    except yaml.YAMLError as exc:
        raise GrammarError(f"{source_name}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        raise GrammarError(format_validation_error(source_name, exc)) from exc
    except ValueError as exc:
        raise GrammarError(f"{source_name}: {exc}") from exc
    return DistressLexicon(
        language=spec.language,
        categories=categories,
        negators=_words(spec.negators),
        intensifiers=_words(spec.intensifiers),
        fillers=_words(spec.fillers),
        clause_breaks=_words(spec.clause_breaks),
        not_fuzzy=_words(spec.not_fuzzy),
        contexts=contexts,
    )


def load_distress_lexicon(grammars_dir: Path, language: Language, encoder: EncoderChoice = "shared") -> DistressLexicon:
    """Load ``grammars/<language>/distress.yaml``, with a calm/upset model learned from ``training.yaml`` (reading
    sentence vectors from ``encoder``: the process's shared one by default, None for words only)."""
    encoder = shared_encoder() if encoder == "shared" else encoder
    path = grammars_dir / language / "distress.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GrammarError(f"{path}: cannot read the distress lexicon ({exc.strerror})") from exc
    lexicon = parse_distress_lexicon(text, str(path))
    if lexicon.language != language:
        raise GrammarError(f"{path}: says language {lexicon.language!r} but lives under {language!r}")
    labelled = [s for s in load_training_sentences(grammars_dir, language) if _content(s.text, lexicon)]
    sentences = [(tuple(_content(s.text, lexicon)), _UPSET if s.distressed else _CALM) for s in labelled]
    if {label for _, label in sentences} != {_CALM, _UPSET}:
        return lexicon
    intents = grammars_dir / language / "intents.yaml"
    stopwords = read_grammar_yaml(intents).get("stopwords", []) if intents.exists() else []
    function_words = frozenset(
        lemma(w, language) for s in (stopwords if isinstance(stopwords, list) else []) for w in normalise(str(s))
    )
    if encoder is None:
        learned = train(language, (_CALM, _UPSET), sentences)
    else:
        texts = [encoder_text(s.text) for s in labelled]
        vectors, _ = encode_with_cache(encoder, texts, grammars_dir / language / CACHE_FILE)
        learned = train(language, (_CALM, _UPSET), sentences, vectors, DENSE_SCALE, LEARNED_C)
    return replace(lexicon, learned=learned, function_words=function_words, encoder=encoder)


# ── word evidence ─────────────────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True, slots=True)
class WordHit:
    """One lexicon term found in the caller's words, with the weight it ends up contributing."""

    category: str
    label: str
    term: str
    heard: str
    start: int
    end: int
    weight: float
    fuzzy: bool = False
    negated: bool = False
    intensified: bool = False
    #: what made it count for less or more, if anything (the context's label: "paperwork around a death")
    context: str = ""

    def describe(self) -> str:
        text = f"'{self.heard}'"
        if self.fuzzy:
            text += f" (~{self.term})"
        if self.negated:
            text += " (negated)"
        elif self.intensified:
            text += " (intensified)"
        if self.context:
            text += f" ({self.context})"
        return text


def _word_quality(word: TermWord, token: str, lexicon: DistressLexicon, fuzzy: bool = True) -> float:
    if word.wildcard:
        return 1.0
    if word.stem:
        return 1.0 if token.startswith(word.text) else 0.0
    if token == word.text:
        return 1.0
    if (
        fuzzy
        and len(word.text) >= FUZZY_MIN_LENGTH
        and len(token) >= FUZZY_MIN_LENGTH - 1
        and token not in lexicon.not_fuzzy
        and _edit_distance_at_most_one(word.text, token)
    ):
        return FUZZY_FACTOR
    return 0.0


def _max_gap(term_length: int) -> int:
    """Non-filler words allowed between two words of a phrase: none in two-word phrases (too easy to match by
    accident), one in three-word phrases, two in longer ones ("ik weet het allemaal even niet meer")."""
    return 0 if term_length <= 2 else (1 if term_length == 3 else 2)


def _match_at(
    term: LexiconTerm, tokens: Sequence[str], start: int, lexicon: DistressLexicon
) -> tuple[int, float] | None:
    """Match ``term`` beginning at ``tokens[start]``; returns (end index exclusive, quality) or None."""
    quality = _word_quality(term.words[0], tokens[start], lexicon)
    if quality == 0.0:
        return None
    pos = start + 1
    gap = _max_gap(len(term.words))
    for word in term.words[1:]:
        skipped = 0
        found = False
        while pos < len(tokens):
            q = _word_quality(word, tokens[pos], lexicon)
            if q > 0.0:
                quality = min(quality, q)
                pos += 1
                found = True
                break
            if tokens[pos] not in lexicon.fillers:
                skipped += 1
                if skipped > gap:
                    return None
            pos += 1
        if not found:
            return None
    return pos, quality


def _negated(tokens: Sequence[str], start: int, lexicon: DistressLexicon) -> bool:
    """Is the term at ``start`` negated? Only intensifiers and fillers may stand between the negator and the
    term ("niet boos", "not really angry", "niet zo heel boos"): without punctuation, "is niet aangekomen
    belachelijk" and "werkt niet ik word er gek van" are new thoughts, not negated ones."""
    if tokens[start] in lexicon.clause_breaks:
        return False
    seen = 0
    i = start - 1
    while i >= 0 and seen < NEGATION_WINDOW:
        token = tokens[i]
        if token in lexicon.negators:
            return True
        if token not in lexicon.fillers:
            if token not in lexicon.intensifiers:
                return False
            seen += 1
        i -= 1
    return False


def _intensified(tokens: Sequence[str], start: int, lexicon: DistressLexicon) -> bool:
    """Is there an intensifier among the two words before the term, in the same clause ("echt belachelijk",
    "so angry")?"""
    if tokens[start] in lexicon.clause_breaks:
        return False
    seen = 0
    i = start - 1
    while i >= 0 and seen < INTENSIFIER_WINDOW:
        token = tokens[i]
        if token in lexicon.intensifiers:
            return True
        if token in lexicon.clause_breaks:
            return False
        if token not in lexicon.fillers:
            seen += 1
        i -= 1
    return False


def find_word_hits(text: str, lexicon: DistressLexicon) -> tuple[WordHit, ...]:
    """All lexicon terms in ``text``; overlapping hits keep only the longest so a phrase and a word inside
    it are not counted twice."""
    tokens = normalise(text)
    # A compound the recogniser split ("over leden") is also tried joined; the joined token stands at the
    # position of its first half.
    joined = [tokens[i] + tokens[i + 1] for i in range(len(tokens) - 1)]
    candidates: list[WordHit] = []
    for category in lexicon.categories:
        for term in category.terms:
            for start in range(len(tokens)):
                found = _match_at(term, tokens, start, lexicon)
                end = found[0] if found else 0
                quality = found[1] if found else 0.0
                if found is None and len(term.words) == 1 and start < len(joined):
                    # Exact or stem only: a slip on top of a join ("a disgrace" ~ "adisgrace") is too far.
                    q = _word_quality(term.words[0], joined[start], lexicon, fuzzy=False)
                    if q > 0.0:
                        end, quality = start + 2, q
                if quality == 0.0:
                    continue
                negated = _negated(tokens, start, lexicon)
                intensified = not negated and _intensified(tokens, start, lexicon)
                weight = term.weight * quality
                if negated:
                    weight *= NEGATED_FACTOR
                elif intensified:
                    weight *= INTENSIFIER_FACTOR
                candidates.append(
                    WordHit(
                        category=category.name,
                        label=category.label,
                        term=term.written,
                        heard=" ".join(tokens[start:end]),
                        start=start,
                        end=end,
                        weight=round(min(MAX_WORD_WEIGHT, weight), 3),
                        fuzzy=quality < 1.0,
                        negated=negated,
                        intensified=intensified,
                    )
                )
    # A category's words count for less in a context that explains them ("de notaris … overleden"), for more in
    # one that makes them fresh ("de begrafenis was gisteren"); never past the strongest a single word may be.
    for context in lexicon.contexts:
        if any(_match_at(t, tokens, i, lexicon) for t in context.terms for i in range(len(tokens))):
            candidates = [
                replace(
                    hit,
                    weight=round(min(MAX_WORD_WEIGHT, hit.weight * context.factor), 3),
                    context=f"{hit.context}, {context.label}" if hit.context else context.label,
                )
                if hit.category == context.category
                else hit
                for hit in candidates
            ]
    kept: list[WordHit] = []
    # The longest match wins its span: more context is a more specific reading ("bang dat het niet komt" is a
    # worry, not fear). Over the same span the term that spells out more of it wins ("weet het wachtwoord niet
    # meer" over "weet het … niet meer" with a word skipped), then the stronger.
    for hit in sorted(candidates, key=lambda h: (-(h.end - h.start), -len(h.term.split()), -h.weight, h.start)):
        if all(hit.end <= k.start or hit.start >= k.end for k in kept):
            kept.append(hit)
    return tuple(sorted(kept, key=lambda h: h.start))


def _noisy_or(values: Sequence[float]) -> float:
    remaining = 1.0
    for value in values:
        remaining *= 1.0 - max(0.0, min(1.0, value))
    return 1.0 - remaining


def _describe_hits(hits: Sequence[WordHit]) -> list[str]:
    by_label: dict[str, list[str]] = {}
    for hit in hits:
        by_label.setdefault(hit.label, []).append(hit.describe())
    return [f"{label}: {', '.join(found)}" for label, found in by_label.items()]


# ── conversation evidence ─────────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True, slots=True)
class ConversationSignals:
    """What the call so far says about the caller's patience. ``previous_utterances`` are the caller's earlier
    turns (oldest first, not including the current one)."""

    previous_utterances: tuple[str, ...] = ()
    barge_ins: int = 0
    failed_attempts: int = 0


def _content(text: str, lexicon: DistressLexicon) -> list[str]:
    return [t for t in normalise(text) if t not in lexicon.fillers]


def times_said(text: str, previous: Sequence[str], lexicon: DistressLexicon) -> int:
    """How many times the caller has now said (nearly) this, counting the current turn. Bare "ja"/"nee"/"ok"
    answers are not repetition, they are what a menu asks for."""
    current = _content(text, lexicon)
    if not current or all(len(t) <= 3 for t in current):
        return 1
    count = 1
    for earlier in previous[-REPEAT_LOOKBACK:]:
        other = _content(earlier, lexicon)
        if other and SequenceMatcher(None, current, other).ratio() >= REPEAT_SIMILARITY:
            count += 1
    return count


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def conversation_distress(
    text: str, conversation: ConversationSignals, lexicon: DistressLexicon
) -> tuple[float, tuple[str, ...]]:
    """Distress from how the call is going rather than what is said in this turn."""
    parts: list[float] = []
    reasons: list[str] = []
    said = times_said(text, conversation.previous_utterances, lexicon)
    if said >= 2:
        parts.append({2: 0.25, 3: 0.45}.get(said, 0.6))
        reasons.append(f"repeats themselves ({_ordinal(said)} time)")
    if conversation.barge_ins >= 2:
        parts.append({2: 0.15, 3: 0.25}.get(conversation.barge_ins, 0.35))
        reasons.append(f"talked over the prompts {conversation.barge_ins} times")
    if conversation.failed_attempts >= 1:
        parts.append({1: 0.1, 2: 0.25}.get(conversation.failed_attempts, 0.4))
        reasons.append(f"{conversation.failed_attempts} failed attempt(s) in a row")
    return round(_noisy_or(parts), 3), tuple(reasons)


def _learned_distress(text: str, lexicon: DistressLexicon, hits: Sequence[WordHit]) -> tuple[float, tuple[str, ...]]:
    """How upset callers who put it like this were, by the learned model — and the words that tell.

    The model sees words, not their order, so it cannot read "ik ben niet boos"; the lexicon can. When every
    distress word the lexicon found was negated, the caller is saying they are *not* upset, and the model's
    guess is damped like the negated word itself.
    """
    words = tuple(_content(text, lexicon))
    if lexicon.learned is None or not words:
        return 0.0, ()
    vector = lexicon.encoder.one(encoder_text(text)) if lexicon.learned.uses_vectors and lexicon.encoder else None
    upset = float(lexicon.learned.probabilities(words, vector)[1])
    if hits and all(hit.negated for hit in hits):
        upset *= NEGATED_FACTOR
    score = round(LEARNED_WEIGHT * upset, 3)
    if upset < LEARNED_REASON:
        return score, ()
    telling = lexicon.learned.telling_words(words, _UPSET, skip=lexicon.function_words)
    said = f": {', '.join(repr(w) for w in telling)}" if telling else ""
    return score, (f"sounds like upset callers ({upset:.2f}){said}",)


# ── all together ──────────────────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True, slots=True)
class Distress:
    """How upset the caller seems (0–1) and why, in words an agent can read. The three component scores are
    kept for the audit log and for tuning."""

    level: float
    reasons: tuple[str, ...] = ()
    words: float = 0.0
    #: from the model learned on labelled sentences (how upset callers who said something like this were)
    learned: float = 0.0
    conversation: float = 0.0
    voice: float = 0.0


NO_DISTRESS = Distress(0.0)


def assess_distress(
    text: str,
    language: Language,
    lexicon: DistressLexicon,
    conversation: ConversationSignals,
    voice: tuple[float, tuple[str, ...]] | None = None,
) -> Distress:
    """Combine word, conversation and (optional) voice evidence for one caller turn.

    ``voice`` is the ``(score, reasons)`` pair from :func:`ivr.signals.voice.voice_arousal`, or None when
    there is no audio or no baseline yet.
    """
    if lexicon.language != language:
        raise ValueError(f"lexicon is for {lexicon.language!r}, the turn is in {language!r}")
    hits = find_word_hits(text, lexicon)
    words = round(_noisy_or([h.weight for h in hits]), 3)
    learned, learned_reasons = _learned_distress(text, lexicon, hits)
    conv, conv_reasons = conversation_distress(text, conversation, lexicon)
    voice_score = 0.0
    voice_reasons: tuple[str, ...] = ()
    if voice is not None:
        voice_score = max(0.0, min(1.0, float(voice[0])))
        voice_reasons = tuple(voice[1])
    level = _noisy_or([words, learned, conv, VOICE_WEIGHT * voice_score])
    reasons = (
        *_describe_hits(hits),
        *learned_reasons,
        *conv_reasons,
        *(voice_reasons if voice_score > 0.0 else ()),
    )
    return Distress(
        level=round(level, 3),
        reasons=tuple(reasons),
        words=words,
        learned=learned,
        conversation=conv,
        voice=round(voice_score, 3),
    )
