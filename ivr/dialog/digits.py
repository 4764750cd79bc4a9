"""Small spoken answers: order numbers said digit by digit, yes/no, and the words that ask for a person.

All words come from ``grammars/<lang>/phrases.yaml``; this module only knows how such answers are shaped. The
same lists feed the recogniser's restricted grammars (:meth:`Phrases.grammar`), so what the recogniser may say
and what the parser understands cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ivr.config import REPO_ROOT
from ivr.dialog.actions import GrammarName
from ivr.errors import GrammarError
from ivr.grammar_files import format_validation_error, read_grammar_yaml
from ivr.signals.text import fold, levenshtein, split_on_unknown, tokenize

_DIGITS = tuple(str(d) for d in range(10))
#: Vosk's out-of-grammar marker: keeps speech outside a restricted grammar off the grammar's words.
UNKNOWN_WORD = "[unk]"
# Agent words at least this long are matched despite one misheard letter, and across a split ("mede werker").
_FUZZY_AGENT_LENGTH = 7
_JOINED_AGENT_LENGTH = 8

Phrase = tuple[str, ...]


# ── the YAML schema ───────────────────────────────────────────────────────────────────────────────────────
class _YesNoFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    affirmative: list[str] = Field(min_length=1)
    negative: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _disjoint(self) -> _YesNoFile:
        both = {fold(p) for p in self.affirmative} & {fold(p) for p in self.negative}
        if both:
            raise ValueError(f"words listed as both yes and no: {sorted(both)}")
        return self


class _PhrasesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    digits: dict[str, list[str]]
    repeaters: dict[str, int] = Field(default_factory=dict)
    ambiguous_digits: list[str] = Field(default_factory=list)
    hesitations: list[str] = Field(default_factory=list)
    yes_no: _YesNoFile
    agent: list[str] = Field(min_length=1)
    unfinished: list[str] = Field(default_factory=list)
    linking_verbs: list[str] = Field(default_factory=list)
    clause_openers: list[str] = Field(default_factory=list)

    @field_validator("unfinished", "linking_verbs", "clause_openers")
    @classmethod
    def _single_words(cls, value: list[str]) -> list[str]:
        phrases = [w for w in value if len(tokenize(w)) != 1]
        if phrases:
            raise ValueError(f"single words only, not {phrases}")
        return value

    @field_validator("digits")
    @classmethod
    def _ten_digits(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if sorted(value) != list(_DIGITS):
            raise ValueError(f'needs exactly the keys "0" … "9" (quoted), got {sorted(value)}')
        seen: dict[str, str] = {}
        for digit, words in value.items():
            if not words:
                raise ValueError(f"digit {digit} has no spoken words")
            for word in words:
                folded = fold(word)
                if not folded or " " in folded:
                    raise ValueError(f"digit {digit}: {word!r} must be a single word")
                if seen.get(folded, digit) != digit:
                    raise ValueError(f"{word!r} is listed for both {seen[folded]} and {digit}")
                seen[folded] = digit
        return value

    @field_validator("repeaters")
    @classmethod
    def _sensible_repeats(cls, value: dict[str, int]) -> dict[str, int]:
        for word, times in value.items():
            if not 2 <= times <= 4:
                raise ValueError(f"repeater {word!r} must repeat 2–4 times, got {times}")
        return value

    @model_validator(mode="after")
    def _ambiguous_are_digits(self) -> _PhrasesFile:
        words = {fold(w) for ws in self.digits.values() for w in ws}
        strangers = [w for w in self.ambiguous_digits if fold(w) not in words]
        if strangers:
            raise ValueError(f"ambiguous_digits must be digit words, not {strangers}")
        return self


# ── the loaded lists ──────────────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True, slots=True)
class Phrases:
    """One language's phrase lists, folded for matching, plus the spoken forms for the recogniser."""

    language: str
    digit_words: Mapping[str, str]
    repeaters: Mapping[str, int]
    ambiguous_digits: frozenset[str]
    hesitations: tuple[Phrase, ...]
    affirmative: tuple[Phrase, ...]
    negative: tuple[Phrase, ...]
    agent: tuple[Phrase, ...]
    #: words a sentence does not end on ("mijn", "en", "euh"): a caller pausing after one has not finished
    unfinished: frozenset[str]
    #: finite auxiliaries and copulas ("is", "heb", "wil"): a main clause ending on one has more to come
    linking_verbs: frozenset[str]
    #: words opening a clause whose verb comes last ("waar mijn pakket is"): then a linking verb may end it
    clause_openers: frozenset[str]
    #: the words as written in the YAML, for Vosk grammars
    spoken_digits: tuple[str, ...]
    spoken_yes_no: tuple[str, ...]
    spoken_agent: tuple[str, ...]

    def grammar(self, name: GrammarName) -> list[str] | None:
        """The phrase list for a restricted recogniser grammar; ``None`` means free speech.

        Agent words are in every list (a caller can always ask for a person) and so is ``[unk]`` (speech
        outside the list must not be forced onto "ja" with full confidence).
        """
        if name == "free":
            return None
        words = self.spoken_digits if name == "digits" else self.spoken_yes_no
        return list(dict.fromkeys((*words, *self.spoken_agent, UNKNOWN_WORD)))

    def mentions_agent(self, text: str) -> bool:
        """Whether the caller asked for a person in so many words — at any step, whatever else they said."""
        words = tokenize(text)
        if not words:
            return False
        joined = "".join(words)
        for phrase in self.agent:
            if _contains(words, phrase, fuzzy_from=_FUZZY_AGENT_LENGTH):
                return True
            glued = "".join(phrase)
            if len(glued) >= _JOINED_AGENT_LENGTH and glued in joined:
                return True
        return False


def load_phrases(grammars_dir: Path, language: str) -> Phrases:
    """Load and validate ``grammars/<language>/phrases.yaml``; GrammarError names the file and reason."""
    path = grammars_dir / language / "phrases.yaml"
    data = read_grammar_yaml(path)
    try:
        parsed = _PhrasesFile.model_validate(data)
    except ValidationError as exc:
        raise GrammarError(format_validation_error(path, exc)) from exc

    def phrases(items: Sequence[str]) -> tuple[Phrase, ...]:
        return tuple(p for p in dict.fromkeys(tokenize(item) for item in items) if p)

    spoken_digits = [w for ws in parsed.digits.values() for w in ws] + list(parsed.repeaters)
    return Phrases(
        language=language,
        digit_words=MappingProxyType({fold(w): d for d, ws in parsed.digits.items() for w in ws}),
        repeaters=MappingProxyType({fold(w): n for w, n in parsed.repeaters.items()}),
        ambiguous_digits=frozenset(fold(w) for w in parsed.ambiguous_digits),
        hesitations=phrases(parsed.hesitations),
        affirmative=phrases(parsed.yes_no.affirmative),
        negative=phrases(parsed.yes_no.negative),
        agent=phrases(parsed.agent),
        unfinished=frozenset(word for item in parsed.unfinished for word in tokenize(item)),
        linking_verbs=frozenset(word for item in parsed.linking_verbs for word in tokenize(item)),
        clause_openers=frozenset(word for item in parsed.clause_openers for word in tokenize(item)),
        spoken_digits=tuple(dict.fromkeys(spoken_digits)),
        spoken_yes_no=tuple(dict.fromkeys(parsed.yes_no.affirmative + parsed.yes_no.negative)),
        spoken_agent=tuple(dict.fromkeys(parsed.agent)),
    )


@lru_cache(maxsize=8)
def _shipped_phrases(language: str) -> Phrases:
    return load_phrases(REPO_ROOT / "grammars", language)


def _resolve(language: str | Phrases) -> Phrases:
    return language if isinstance(language, Phrases) else _shipped_phrases(language)


# ── parsers ───────────────────────────────────────────────────────────────────────────────────────────────
def parse_spoken_digits(text: str, language: str | Phrases, *, min_digits: int = 1) -> str | None:
    """The digits said or written: "vier vijf een twee", "4 5 1 2", "order 4512" → "4512".

    Digits must follow each other; hesitations ("euh", "hekje") may sit in between. When several numbers were
    said the longest wins ("ik heb een bestelling, nummer vier vijf een twee" → "4512", not "1"). ``language``
    is a code (the shipped grammars) or loaded :class:`Phrases`. Returns ``None`` when no run of
    ``min_digits`` was heard.
    """
    phrases = _resolve(language)
    runs = [run for stretch in split_on_unknown(text) for run in _digit_runs(tokenize(stretch), phrases)]
    candidates = [run for run in runs if len(run) >= min_digits]
    if not candidates:
        return None
    return max(reversed(candidates), key=len)  # the longest; on a tie the last (callers correct themselves)


def _digit_runs(words: tuple[str, ...], phrases: Phrases) -> list[str]:
    """Every run of digits in ``words``, in order."""
    runs: list[str] = []
    current = ""
    repeat = 1
    i = 0
    while i < len(words):
        word = words[i]
        hesitation = _phrase_at(words, i, phrases.hesitations)
        if word.isdigit():
            current += word * repeat
            repeat = 1
        elif word in phrases.digit_words and (current or word not in phrases.ambiguous_digits):
            current += phrases.digit_words[word] * repeat
            repeat = 1
        elif word in phrases.repeaters:
            repeat = phrases.repeaters[word]
        elif hesitation:
            i += len(hesitation)
            continue
        else:
            if current:
                runs.append(current)
            current, repeat = "", 1
        i += 1
    if current:
        runs.append(current)
    return runs


def parse_yes_no(text: str, language: str | Phrases) -> bool | None:
    """True for yes ("ja", "jawel", "zeker", "yeah"), False for no ("nee hoor", "neen", "nope"), else None.

    The first answer word decides: "nee, dank u, ja" is a no. Multi-word answers beat their first word
    ("nee hoor").
    """
    phrases = _resolve(language)
    words = tokenize(text)
    for i in range(len(words)):
        yes = _phrase_at(words, i, phrases.affirmative)
        no = _phrase_at(words, i, phrases.negative)
        if yes or no:
            return len(yes) > len(no)
    return None


#: words besides the answer itself that still leave a turn a plain answer ("nee dank u", "nummer 4 5 1 2")
_ANSWER_SLACK = 2


def plain_answer(text: str, language: str | Phrases) -> GrammarName | None:
    """``"yes_no"`` or ``"digits"`` when the whole turn is an answer to such a question (a yes/no or a number, with
    at most a couple of words around it), else ``None``. Such turns are answers, never requests: the dialog reads
    them as answers before it classifies, and the console refuses to teach them as an intent's wording."""
    phrases = _resolve(language)
    words = tokenize(text)
    if not words:
        return None
    fillers = {w for phrase in phrases.hesitations for w in phrase}
    if parse_yes_no(text, phrases) is not None:
        answer = {w for phrase in (*phrases.affirmative, *phrases.negative) for w in phrase}
        if sum(w not in answer and w not in fillers for w in words) <= _ANSWER_SLACK:
            return "yes_no"
    if parse_spoken_digits(text, phrases) is not None:
        numeric = set(phrases.digit_words) | set(phrases.repeaters)
        if sum(not w.isdigit() and w not in numeric and w not in fillers for w in words) <= _ANSWER_SLACK:
            return "digits"
    return None


def keypad_digits(keys: str) -> str:
    """The digits of a keypad entry, without the closing '#' or stray '*'."""
    return "".join(ch for ch in keys if ch.isdigit())


def _phrase_at(words: Sequence[str], index: int, phrases: Sequence[Phrase]) -> Phrase:
    """The longest of ``phrases`` starting at ``words[index]``, or an empty tuple."""
    best: Phrase = ()
    for phrase in phrases:
        if len(phrase) > len(best) and tuple(words[index : index + len(phrase)]) == phrase:
            best = phrase
    return best


def _contains(words: Sequence[str], phrase: Phrase, *, fuzzy_from: int) -> bool:
    """Whether ``phrase`` occurs in ``words``; long words may be one edit off (a misheard letter)."""

    def same(heard: str, wanted: str) -> bool:
        if heard == wanted:
            return True
        return len(wanted) >= fuzzy_from and levenshtein(heard, wanted, 1) <= 1

    size = len(phrase)
    return any(all(same(words[start + k], phrase[k]) for k in range(size)) for start in range(len(words) - size + 1))
