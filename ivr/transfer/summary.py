"""The colleague's briefing: what the caller wants, the facts they gave, why a person takes over, how they sound.

Said as a whisper before the colleague is connected and shown on the transfer page, so the caller never has to tell
their story twice. It is short on purpose — at most three sentences — because the caller is waiting while the
colleague listens. Numbers are spoken digit by digit ("4 5 1 2") so they can be typed while listening.

Pure: :func:`extract_facts` reads the caller's words, :func:`build_summary` writes the sentences. Every word comes
from ``grammars/<lang>/summary.yaml``; the summary is written in the *agent's* language, the facts are read in the
*caller's* language.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from ivr.callers import HISTORY_DAYS, PreviousCall, within
from ivr.config import REPO_ROOT
from ivr.dialog.digits import Phrases, load_phrases, parse_spoken_digits
from ivr.errors import GrammarError
from ivr.grammar_files import format_validation_error, read_grammar_yaml
from ivr.signals.text import fold, tokenize
from ivr.transfer.redact import redact

#: Distress at or above this is worth a warning to the colleague (the shipped transfer rules use the same level).
EMOTIONAL_LEVEL = 0.6
#: A running recognition level below this means the caller was hard to understand (as the recognition signal's
#: "unclear" level): the colleague should expect to ask again, and the caller's words are not quoted.
LOW_RECOGNITION_LEVEL = 0.45
#: The whisper keeps the caller waiting: never more than this many sentences.
MAX_SENTENCES = 3
#: Facts read out; more would turn the whisper into a list. The page shows the transcript anyway.
MAX_SPOKEN_FACTS = 3
#: A quoted caller utterance is cut after this many words.
QUOTE_MAX_WORDS = 12
#: Order and customer numbers of this length are facts; longer ones are personal data (see redact.py).
FACT_DIGITS = (4, 6)
#: Words that may sit between a keyword and its number ("klantnummer is euh …", "order number is …").
MAX_WORDS_BEFORE_NUMBER = 2
#: The intent that only says "a person, please": it tells the colleague nothing about the question.
_PERSON_INTENT = "agent_request"
_UNKNOWN_MARKER = re.compile(r"\[unk\]|<unk>", re.IGNORECASE)
_UNK = "[unk]"

Fact = tuple[str, str]
FACT_KINDS = ("order_number", "customer_number", "number", "amount")
BUILTIN_REASONS = (
    "caller_request",
    "keypad_zero",
    "repeated_failure",
    "low_confidence",
    "needs_person",
    "technical_problem",
)


# ── inputs and output ─────────────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True, slots=True)
class HandoverFacts:
    """Everything the briefing may mention, as plain values (no signal or rule objects).

    ``facts`` are ``(kind, value)`` pairs from :func:`extract_facts`: ``("order_number", "4512")``,
    ``("amount", "45,50")``. ``tried`` holds self-service step keys (``"order_status"``). ``rule_description`` is
    the supervisor's plain words for the rule ("rouw"); ``builtin_reason`` names a built-in promise
    (``caller_request``, ``keypad_zero``, …) and, when set, wins because it has wording in every language.
    """

    intent: str | None = None
    utterances: tuple[str, ...] = ()
    facts: tuple[Fact, ...] = ()
    tried: tuple[str, ...] = ()
    rule_description: str = ""
    builtin_reason: str | None = None
    distress_level: float = 0.0
    distress_reasons: tuple[str, ...] = ()
    recognition_level: float = 1.0
    #: caller memory: the same caller's earlier calls, newest first
    previous: tuple[PreviousCall, ...] = ()
    #: when the facts were gathered (for "in the last 7 days")
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class Summary:
    """The briefing: ``text`` for speech and display, ``sentences`` for layout (at most :data:`MAX_SENTENCES`)."""

    text: str
    sentences: tuple[str, ...]


# ── the YAML schema ───────────────────────────────────────────────────────────────────────────────────────
def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def _check_placeholders(template: str, wanted: set[str]) -> str:
    try:
        found = _placeholders(template)
    except ValueError as exc:
        raise ValueError(f"{template!r}: {exc}") from exc
    if found != wanted:
        shown = ", ".join("{" + n + "}" for n in sorted(wanted)) or "no placeholders"
        raise ValueError(f"{template!r} must use exactly {shown}")
    return template


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Sentences(_Strict):
    wish: str
    quote: str
    no_wish: str
    fact: str
    rule: str
    after_tried: str
    emotional: str
    hard_to_understand: str
    list_and: str = Field(min_length=1)
    repeat: str
    repeat_order: str
    last_transferred: str
    last_served: str
    last_unresolved: str

    @field_validator("*")
    @classmethod
    def _placeholders_fit(cls, value: str, info: ValidationInfo) -> str:
        return _check_placeholders(value, _SENTENCE_PLACEHOLDERS[info.field_name or ""])


_SENTENCE_PLACEHOLDERS: dict[str, set[str]] = {
    "wish": {"wish"},
    "quote": {"quote"},
    "no_wish": set(),
    "fact": {"label", "value"},
    "rule": {"rule"},
    "after_tried": {"reason", "steps"},
    "emotional": set(),
    "hard_to_understand": set(),
    "list_and": set(),
    "repeat": {"count", "days"},
    "repeat_order": {"order"},
    "last_transferred": {"target"},
    "last_served": set(),
    "last_unresolved": set(),
}


class _AmountTemplates(_Strict):
    with_cents: str
    whole: str
    cents_only: str

    @field_validator("with_cents")
    @classmethod
    def _both(cls, value: str) -> str:
        return _check_placeholders(value, {"euros", "cents"})

    @field_validator("whole")
    @classmethod
    def _euros(cls, value: str) -> str:
        return _check_placeholders(value, {"euros"})

    @field_validator("cents_only")
    @classmethod
    def _cents(cls, value: str) -> str:
        return _check_placeholders(value, {"cents"})


class _FactWording(_Strict):
    label: str = Field(min_length=1)
    keywords: list[str] = Field(default_factory=list)


class _AmountWords(_Strict):
    currency: list[str] = Field(min_length=1)
    cents: list[str] = Field(min_length=1)
    joiners: list[str] = Field(default_factory=list)
    numbers: dict[str, int] = Field(min_length=1)

    @field_validator("numbers")
    @classmethod
    def _sensible(cls, value: dict[str, int]) -> dict[str, int]:
        for word, number in value.items():
            if not (0 <= number <= 90 or number in (100, 1000)):
                raise ValueError(f"{word!r}: only 0–90, 100 and 1000 are number words, not {number}")
            if " " in fold(word):
                raise ValueError(f"{word!r} must be a single word")
        return value


class _SummaryFile(_Strict):
    language: str
    sentences: _Sentences
    intents: dict[str, str] = Field(default_factory=dict)
    builtin_reasons: dict[str, str]
    steps: dict[str, str] = Field(default_factory=dict)
    facts: dict[str, _FactWording]
    amounts: _AmountTemplates
    amount_words: _AmountWords

    @field_validator("builtin_reasons")
    @classmethod
    def _every_promise(cls, value: dict[str, str]) -> dict[str, str]:
        missing = [key for key in BUILTIN_REASONS if not value.get(key)]
        if missing:
            raise ValueError(f"missing wording for {', '.join(missing)}")
        return value

    @field_validator("facts")
    @classmethod
    def _every_kind(cls, value: dict[str, _FactWording]) -> dict[str, _FactWording]:
        missing = [kind for kind in FACT_KINDS if kind not in value]
        if missing:
            raise ValueError(f"missing fact kind(s) {', '.join(missing)}")
        return value


# ── the loaded templates ──────────────────────────────────────────────────────────────────────────────────
Keyword = tuple[tuple[str, bool], ...]  # words of a keyword phrase, each (folded stem, matches any ending)


@dataclass(frozen=True, slots=True)
class SummaryTemplates:
    """One language's wording (for writing the briefing) and vocabulary (for reading the caller's facts)."""

    language: str
    sentences: Mapping[str, str]
    intents: Mapping[str, str]
    builtin_reasons: Mapping[str, str]
    steps: Mapping[str, str]
    fact_labels: Mapping[str, str]
    fact_keywords: tuple[tuple[str, Keyword], ...]  # (kind, keyword), longest keywords first
    amounts: Mapping[str, str]
    currency_words: frozenset[str]
    cent_words: frozenset[str]
    joiners: frozenset[str]
    number_words: Mapping[str, int]
    phrases: Phrases


def _keyword(text: str) -> Keyword:
    return tuple((fold(word.rstrip("*")), word.endswith("*")) for word in text.split())


def load_summary_templates(grammars_dir: Path, language: str) -> SummaryTemplates:
    """Load and validate ``grammars/<language>/summary.yaml`` (and the language's digit words from phrases.yaml).

    Raises :class:`GrammarError` naming the file and what is wrong.
    """
    path = grammars_dir / language / "summary.yaml"
    data = read_grammar_yaml(path)
    try:
        parsed = _SummaryFile.model_validate(data)
    except ValidationError as exc:
        raise GrammarError(format_validation_error(path, exc)) from exc
    if parsed.language != language:
        raise GrammarError(f"{path}: says language {parsed.language!r} but lives under {language}/")
    keywords = [(kind, _keyword(k)) for kind, wording in parsed.facts.items() for k in wording.keywords]
    keywords.sort(key=lambda item: -len(item[1]))
    words = parsed.amount_words
    return SummaryTemplates(
        language=language,
        sentences=MappingProxyType(parsed.sentences.model_dump()),
        intents=MappingProxyType(dict(parsed.intents)),
        builtin_reasons=MappingProxyType(dict(parsed.builtin_reasons)),
        steps=MappingProxyType(dict(parsed.steps)),
        fact_labels=MappingProxyType({kind: wording.label for kind, wording in parsed.facts.items()}),
        fact_keywords=tuple(k for k in keywords if k[1]),
        amounts=MappingProxyType(parsed.amounts.model_dump()),
        currency_words=frozenset(fold(w) for w in words.currency),
        cent_words=frozenset(fold(w) for w in words.cents),
        joiners=frozenset(fold(w) for w in words.joiners),
        number_words=MappingProxyType({fold(w): n for w, n in words.numbers.items()}),
        phrases=load_phrases(grammars_dir, language),
    )


@lru_cache(maxsize=8)
def _shipped_templates(language: str) -> SummaryTemplates:
    return load_summary_templates(REPO_ROOT / "grammars", language)


def _resolve(language: str | SummaryTemplates) -> SummaryTemplates:
    return language if isinstance(language, SummaryTemplates) else _shipped_templates(language)


# ── writing the briefing ──────────────────────────────────────────────────────────────────────────────────
def build_summary(facts: HandoverFacts, language: str, templates: SummaryTemplates | None = None) -> Summary:
    """The briefing in ``language`` (the agent's), in at most three sentences.

    1. what the caller wants and the facts they gave; 2. how they sound, only when it matters; 3. why a person takes
    over, with what the computer already tried. When all four parts are there, the facts join the first sentence.
    ``templates`` default to the shipped grammars.
    """
    wording = templates if templates is not None else _shipped_templates(language)
    if wording.language != language:
        raise ValueError(f"templates are for {wording.language!r}, summary asked in {language!r}")
    s = wording.sentences
    hard_to_understand = facts.recognition_level < LOW_RECOGNITION_LEVEL

    wish = _wish(facts, wording, quote_allowed=not hard_to_understand)
    spoken_facts = [_fact_clause(kind, value, wording) for kind, value in facts.facts[:MAX_SPOKEN_FACTS]]
    fact_part = ", ".join(spoken_facts) or None
    if wish is None and fact_part is None:
        wish = s["no_wish"]

    sound = [s["emotional"]] if facts.distress_level >= EMOTIONAL_LEVEL else []
    if hard_to_understand:
        sound.append(s["hard_to_understand"])
    sound_part = _join_clauses(sound) if sound else None

    handover = _handover(facts, wording)
    history = _history(facts, wording)
    if history is not None:
        handover = f"{handover}; {history}" if handover else history

    parts = [p for p in (wish, fact_part, sound_part, handover) if p]
    if len(parts) > MAX_SENTENCES and wish is not None and fact_part is not None:
        parts = [_join_clauses([wish, fact_part]), *(p for p in (sound_part, handover) if p)]
    sentences = tuple(_sentence(p) for p in parts)
    return Summary(text=" ".join(sentences), sentences=sentences)


def _wish(facts: HandoverFacts, wording: SummaryTemplates, *, quote_allowed: bool) -> str | None:
    """What the caller wants: the intent in plain words, else their own words, else None."""
    s = wording.sentences
    asked_only_for_person = facts.intent == _PERSON_INTENT and facts.builtin_reason is not None
    description = wording.intents.get(facts.intent) if facts.intent and not asked_only_for_person else None
    if description:
        return s["wish"].format(wish=description)
    if quote_allowed and not asked_only_for_person:
        quote = _quote(facts.utterances)
        if quote:
            return s["quote"].format(quote=quote)
    return None


def _quote(utterances: Sequence[str]) -> str:
    """The caller's most telling utterance (the longest), redacted and shortened."""
    candidates = [_UNKNOWN_MARKER.sub(" ", u).split() for u in utterances]
    words = max(candidates, key=len, default=[])
    if not words:
        return ""
    shortened = " ".join(words[:QUOTE_MAX_WORDS]) + (" …" if len(words) > QUOTE_MAX_WORDS else "")
    return redact(shortened)


def _handover(facts: HandoverFacts, wording: SummaryTemplates) -> str | None:
    s = wording.sentences
    reason = wording.builtin_reasons.get(facts.builtin_reason) if facts.builtin_reason else None
    if reason is None and facts.rule_description.strip():
        reason = s["rule"].format(rule=facts.rule_description.strip())
    steps = [wording.steps[key] for key in dict.fromkeys(facts.tried) if key in wording.steps]
    if reason is None:
        return None
    if not steps:
        return reason
    return s["after_tried"].format(reason=reason, steps=_join_list(steps, s["list_and"]))


#: earlier calls within this many days count as "this week"; older ones (up to the memory's reach) as this month
_RECENT_DAYS = 7


def _history(facts: HandoverFacts, wording: SummaryTemplates) -> str | None:
    """A returning caller: "3e oproep in 7 dagen over bestelling 4 5 1 2; vorige keer doorverbonden met klachten,
    niet opgelost". None for a first call."""
    s = wording.sentences
    days = _RECENT_DAYS
    earlier = within(facts.previous, days, facts.at)
    if not earlier:
        days = HISTORY_DAYS
        earlier = within(facts.previous, days, facts.at)
    if not earlier:
        return None
    clause = s["repeat"].format(count=len(earlier) + 1, days=days)
    # the order this call is about, or — not given yet — the one the earlier calls were about
    order = next((value for kind, value in facts.facts if kind == "order_number"), None)
    order = order or next((call.order_number for call in earlier if call.order_number), None)
    if order and any(call.order_number == order for call in earlier):
        clause += " " + s["repeat_order"].format(order=speakable_value("order_number", order, wording))
    last = earlier[0]
    said = s["last_transferred"].format(target=last.target_name or "?") if last.outcome == "transfer" else None
    said = said or s["last_served"]
    if not last.resolved:
        said = f"{said}, {s['last_unresolved']}"
    return f"{clause}; {said}"


def history_clause(
    previous: tuple[PreviousCall, ...], order_number: str | None, at: float, language: str | SummaryTemplates
) -> str | None:
    """The briefing's words about a returning caller, as a sentence of its own (for the agent page's live help);
    None for a first call."""
    facts = HandoverFacts(previous=previous, facts=(("order_number", order_number),) if order_number else (), at=at)
    clause = _history(facts, _resolve(language))
    return None if clause is None else _sentence(clause)


def _fact_clause(kind: str, value: str, wording: SummaryTemplates) -> str:
    label = wording.fact_labels.get(kind, wording.fact_labels["number"])
    return wording.sentences["fact"].format(label=label, value=speakable_value(kind, value, wording))


def speakable_value(kind: str, value: str, templates: SummaryTemplates) -> str:
    """A fact's value as the colleague should hear it: digits one by one, amounts with the currency in words.

    ``("order_number", "4512")`` → ``"4 5 1 2"``; ``("amount", "45,50")`` → ``"45 euro 50"`` (nl).
    """
    if kind == "amount":
        euros, _, cents = value.partition(",")
        cents_value = int(cents) if cents.isdigit() else 0
        euros_value = int(euros) if euros.isdigit() else 0
        if cents_value and euros_value:
            return templates.amounts["with_cents"].format(euros=euros_value, cents=cents_value)
        if cents_value:
            return templates.amounts["cents_only"].format(cents=cents_value)
        return templates.amounts["whole"].format(euros=euros_value)
    if value.isdigit():
        return " ".join(value)
    return value


def _join_list(items: Sequence[str], and_word: str) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {and_word} {items[-1]}"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _join_clauses(clauses: Sequence[str]) -> str:
    """Clauses joined into one: "Klinkt emotioneel, spraak moeilijk te verstaan"."""
    return ", ".join([clauses[0], *(_lower_first(c) for c in clauses[1:])])


def _sentence(clause: str) -> str:
    clause = clause.strip()
    clause = clause[:1].upper() + clause[1:]
    return clause if clause.endswith((".", "!", "?")) else clause + "."


# ── reading the caller's facts ────────────────────────────────────────────────────────────────────────────
def extract_facts(
    texts: Sequence[str], language: str | SummaryTemplates, *, order_number: str | None = None
) -> tuple[Fact, ...]:
    """Order and customer numbers and amounts the caller said, in the order said, without repeats.

    ``language`` is the *caller's* language code (shipped grammars) or loaded templates. A number counts only after
    a word that names it ("klantnummer vier vijf een twee", "order 4512") or when the caller said nothing but the
    number, so dates and times are not taken for order numbers; only 4–6 digits count (longer ones are personal
    data and are redacted). ``order_number`` is the one the dialog already confirmed; it comes first.
    """
    wording = _resolve(language)
    found: list[Fact] = []
    if order_number and order_number.isdigit():
        found.append(("order_number", order_number))
    for text in texts:
        found.extend(_facts_in(text, wording))
    unique: list[Fact] = []
    seen_numbers: set[str] = set()
    for kind, value in found:
        key = value if kind != "amount" else f"amount:{value}"
        if key not in seen_numbers:
            seen_numbers.add(key)
            unique.append((kind, value))
    return tuple(unique)


def _facts_in(text: str, wording: SummaryTemplates) -> list[Fact]:
    written_amounts, text = _written_amounts(text, wording)
    tokens = _tokens(text)
    spoken_amounts = _spoken_amounts(tokens, wording)  # replaces the amounts' words by [unk]
    numbers = _numbers(tokens, wording)
    return [*numbers, *(("amount", a) for a in written_amounts + spoken_amounts)]


def _tokens(text: str) -> list[str]:
    """Folded words, with the recogniser's out-of-grammar markers kept so numbers are not glued across them."""
    tokens: list[str] = []
    for index, piece in enumerate(_UNKNOWN_MARKER.split(text)):
        if index:
            tokens.append(_UNK)
        tokens.extend(tokenize(piece))
    return tokens


def _amount_value(euros: int, cents: int) -> str:
    return f"{euros},{cents:02d}" if cents else str(euros)


def _written_amounts(text: str, wording: SummaryTemplates) -> tuple[list[str], str]:
    """Amounts in figures ("€45,50", "1.250 euro"), blanked out so their digits are not read as a number."""
    currency = "|".join(re.escape(w) for w in sorted(wording.currency_words, key=len, reverse=True))
    pattern = re.compile(
        rf"(?P<sym>€\s?)?(?P<euros>\d{{1,3}}(?:\.\d{{3}})+|\d{{1,7}})(?:[,.](?P<cents>\d{{2}}))?(?!\d)"
        rf"(?P<cur>\s?(?:{currency})\b)?",
        re.IGNORECASE,
    )
    amounts: list[str] = []

    def take(match: re.Match[str]) -> str:
        formatted = "." in match["euros"] or match["cents"] is not None
        if not (match["sym"] or (match["cur"] and formatted)):
            return match.group()  # "45 euro 50" is read word by word below
        amounts.append(_amount_value(int(match["euros"].replace(".", "")), int(match["cents"] or 0)))
        return f" {_UNK} "

    return amounts, pattern.sub(take, text)


def _spoken_amounts(tokens: list[str], wording: SummaryTemplates) -> list[str]:
    """Amounts said in words: "vijfenveertig euro vijftig", "twintig euro", "tien euro en vijftig cent"."""
    amounts: list[str] = []
    for index, token in enumerate(tokens):
        if token in wording.currency_words:
            euros = _number_before(tokens, index, wording)
            if euros is None:
                continue
            value, start = euros
            cents, end = _cents_after(tokens, index, wording)
            amounts.append(_amount_value(value, cents))
        elif token in wording.cent_words:
            cents_before = _number_before(tokens, index, wording)
            if cents_before is None or not 1 <= cents_before[0] <= 99:
                continue
            start = cents_before[1]
            amounts.append(_amount_value(0, cents_before[0]))
            end = index + 1
        else:
            continue
        tokens[start:end] = [_UNK] * (end - start)
    return amounts


def _is_numberish(token: str, wording: SummaryTemplates) -> bool:
    return token.isdigit() or token in wording.joiners or _segment(token, wording) is not None


def _number_before(tokens: Sequence[str], index: int, wording: SummaryTemplates) -> tuple[int, int] | None:
    """The number said right before ``tokens[index]`` and where it starts: the longest well-formed one.

    "vier vijf een twee twintig euro" → 20: digits said one by one are an order number, not part of the amount.
    """
    start = index
    while start > 0 and index - start < 8 and _is_numberish(tokens[start - 1], wording):
        start -= 1
    for begin in range(start, index):
        value = _number_value(tokens[begin:index], wording)
        if value is not None:
            return value, begin
    return None


def _cents_after(tokens: Sequence[str], index: int, wording: SummaryTemplates) -> tuple[int, int]:
    """Cents after the currency word, and where the amount ends: "euro vijftig", "euro en vijftig cent"."""
    begin = index + 1
    joined = begin < len(tokens) and tokens[begin] in wording.joiners
    if joined:
        begin += 1
    stop = begin
    while stop < len(tokens) and stop - begin < 4 and _is_numberish(tokens[stop], wording):
        stop += 1
    while stop > begin and tokens[stop - 1] in wording.joiners:
        stop -= 1
    cents = _number_value(tokens[begin:stop], wording) if stop > begin else None
    has_cent_word = stop < len(tokens) and tokens[stop] in wording.cent_words
    if cents is None or not 1 <= cents <= 99 or (joined and not has_cent_word):
        return 0, index + 1
    return cents, stop + (1 if has_cent_word else 0)


def _segment(token: str, wording: SummaryTemplates) -> list[int | None] | None:
    """A number word split into its parts: "vijfenveertig" → [5, None, 40] (None: "en"); None if it is no number."""
    if not token:
        return None
    words = wording.number_words
    for size in range(len(token), 0, -1):
        head = token[:size]
        part: int | None
        if head in words:
            part = words[head]
        elif head in wording.joiners:
            part = None
        else:
            continue
        if size == len(token):
            return [part]
        rest = _segment(token[size:], wording)
        if rest is not None:
            return [part, *rest]
    return None


def _number_value(tokens: Sequence[str], wording: SummaryTemplates) -> int | None:
    """The value of a whole phrase of number words, or None unless the phrase is one well-formed number."""
    if not tokens:
        return None
    if len(tokens) == 1 and tokens[0].isdigit():
        return int(tokens[0])
    parts: list[int | None] = []
    for token in tokens:
        segment = None if token.isdigit() else _segment(token, wording)
        if segment is None:
            return None
        parts.extend(segment)
    for value, end in _whole(parts):
        if end == len(parts):
            return value
    return None


Parts = Sequence[int | None]


def _unit(part: int | None) -> bool:
    return part is not None and 1 <= part <= 9


def _tens(part: int | None) -> bool:
    return part is not None and 20 <= part <= 90 and part % 10 == 0


def _below_100(parts: Parts, i: int) -> list[tuple[int, int]]:
    """Readings of a number below 100 starting at ``parts[i]``: "vijf", "vijf en twintig", "forty five"."""
    first = parts[i] if i < len(parts) else None
    if first is None:
        return []
    options: list[tuple[int, int]] = []
    if first < 100:
        options.append((first, i + 1))
    nxt = parts[i + 1] if i + 1 < len(parts) else 0
    if _unit(first) and nxt is None and i + 2 < len(parts) and _tens(parts[i + 2]):
        options.append((first + (parts[i + 2] or 0), i + 3))  # Dutch: vijf-en-twintig
    if _tens(first) and _unit(nxt):
        options.append((first + (nxt or 0), i + 2))  # English: forty five
    return options


def _multiplied(parts: Parts, i: int, factor: int, below: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Readings of "[n] factor [and] [rest]": "tweehonderd vijftig", "a thousand and five"."""
    heads = [(value * factor, end + 1) for value, end in below if value >= 1 and _at(parts, end) == factor]
    if i < len(parts) and parts[i] == factor:
        heads.append((factor, i + 1))
    options: list[tuple[int, int]] = []
    for head, end in heads:
        options.append((head, end))
        rest_start = end + 1 if end < len(parts) and parts[end] is None else end
        tail = _below_1000(parts, rest_start) if factor == 1000 else _below_100(parts, rest_start)
        options.extend((head + value, stop) for value, stop in tail if 1 <= value < factor)
    return options


def _at(parts: Parts, i: int) -> int | str | None:
    """The part at ``i``, or "end" past the last one (so it never equals a number or the joiner)."""
    return parts[i] if i < len(parts) else "end"


def _below_1000(parts: Parts, i: int) -> list[tuple[int, int]]:
    below = _below_100(parts, i)
    return below + _multiplied(parts, i, 100, below)


def _whole(parts: Parts) -> list[tuple[int, int]]:
    below = _below_1000(parts, 0)
    return below + _multiplied(parts, 0, 1000, below)


def _numbers(tokens: Sequence[str], wording: SummaryTemplates) -> list[Fact]:
    """Order and customer numbers, each read from the words after the keyword that names it."""
    marks: list[tuple[int, int, str]] = []  # (start, end, kind) of each keyword
    i = 0
    while i < len(tokens):
        hit = next(((kind, k) for kind, k in wording.fact_keywords if _keyword_at(tokens, i, k)), None)
        if hit is None:
            i += 1
            continue
        marks.append((i, i + len(hit[1]), hit[0]))
        i += len(hit[1])
    facts: list[Fact] = []
    for n, (_, end, kind) in enumerate(marks):
        stop = marks[n + 1][0] if n + 1 < len(marks) else len(tokens)
        digits = _number_after_keyword(tokens[end:stop], wording.phrases)
        if digits is not None:
            facts.append((kind, digits))
    if not marks and _only_a_number(tokens, wording.phrases):
        digits = _digits(tokens, wording.phrases)
        if digits is not None:
            facts.append(("number", digits))
    return facts


def _number_after_keyword(tokens: Sequence[str], phrases: Phrases) -> str | None:
    """The number that follows a keyword closely ("klantnummer is vier vijf een twee", "order number 4512").

    Only a few words may sit in between, so "besteld op twaalf maart 2024" does not make 2024 an order number.
    """
    start = next((i for i, t in enumerate(tokens) if _is_digit_word(t, phrases) or t in phrases.repeaters), None)
    if start is None or start > MAX_WORDS_BEFORE_NUMBER:
        return None
    stop = start
    hesitations = _hesitations(phrases)
    while stop < len(tokens) and (
        _is_digit_word(tokens[stop], phrases) or tokens[stop] in phrases.repeaters or tokens[stop] in hesitations
    ):
        stop += 1
    return _digits(tokens[start:stop], phrases)


def _is_digit_word(token: str, phrases: Phrases) -> bool:
    return token.isdigit() or token in phrases.digit_words


def _hesitations(phrases: Phrases) -> set[str]:
    return {h[0] for h in phrases.hesitations if len(h) == 1}


def _keyword_at(tokens: Sequence[str], index: int, keyword: Keyword) -> bool:
    if index + len(keyword) > len(tokens):
        return False
    return all(
        tokens[index + k].startswith(stem) if any_ending else tokens[index + k] == stem
        for k, (stem, any_ending) in enumerate(keyword)
    )


def _digits(tokens: Sequence[str], phrases: Phrases) -> str | None:
    if not tokens:
        return None
    digits = parse_spoken_digits(" ".join(tokens), phrases, min_digits=FACT_DIGITS[0])
    if digits is None or len(digits) > FACT_DIGITS[1]:
        return None
    return digits


def _only_a_number(tokens: Sequence[str], phrases: Phrases) -> bool:
    """The caller said a number and nothing else ("vier vijf een twee"): an answer to "what is the number?"."""
    hesitations = _hesitations(phrases)
    words = [t for t in tokens if t != _UNK]
    return bool(words) and all(
        t.isdigit() or t in phrases.digit_words or t in phrases.repeaters or t in hesitations for t in words
    )
