"""When has the caller finished? The end-of-turn decision from what they said, not only from silence.

A fixed trailing silence makes every caller wait for the slowest one: 700 ms is long after "ja" and short after
"ik wil graag mijn …". At the first pause of a turn the recogniser already knows what the transcript will be if
the caller says no more (the *seal*); this module reads that text against what the dialog step is waiting for and
says how much silence ends the turn:

- **short** (``IVR_TURN_END_SHORT_MS``): the turn is a complete answer — a clear yes or no where one is asked, an
  order number on file, a request for a person — or a sentence the intent model classifies with high confidence;
- **long** (``IVR_TURN_END_LONG_MS``): the sentence is grammatically unfinished — it ends on a word a sentence does
  not end on ("mijn", "en", "maar", "euh"; ``unfinished`` in ``grammars/<lang>/phrases.yaml``), a main clause ends
  on an auxiliary or copula ("mijn pakket is …"; ``linking_verbs``, ``clause_openers``), or a number is too short
  to be an order number;
- otherwise the **default** (``IVR_ENDPOINT_SILENCE_MS``).

A caller who pauses a lot and goes on (elderly callers, people thinking aloud) teaches the call their own pause:
no hold is shorter than the longest pause this caller has already made mid-turn, plus a margin — except after a
complete answer (a yes, an order number on file), where the words themselves say the turn is over.

Pure: the same text, expectation and pause history always give the same hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ivr.dialog.actions import GrammarName
from ivr.dialog.digits import parse_spoken_digits, plain_answer
from ivr.dialog.engine import DialogContext
from ivr.signals.intent import classify_intent
from ivr.signals.text import tokenize

#: an order number has at least this many digits: a shorter run is a number still being read out
SHORTEST_ORDER_DIGITS = 4
#: a caller's own mid-turn pause is honoured with this much to spare
PAUSE_MARGIN_MS = 150
#: the learned pause never stretches a hold beyond this (a caller who stops for two seconds has finished)
LONGEST_LEARNED_HOLD_MS = 2000
#: an intent this sure (calibrated probability) makes a free sentence a complete request
CONFIDENT_INTENT = 0.85
#: a free sentence shorter than this many words is not judged complete from its intent alone ("mijn")
MIN_FREE_WORDS = 3

Hold = Literal["answer", "request", "default", "long"]
_NEGATIONS = frozenset({"not", "niet"})


@dataclass(frozen=True, slots=True)
class TurnEndTimes:
    """The three holds, in ms of trailing silence (from the settings)."""

    short_ms: int = 250
    default_ms: int = 700
    long_ms: int = 1200


@dataclass(frozen=True, slots=True)
class TurnEnd:
    """How much trailing silence ends this turn, and why (for the call log and the benchmark)."""

    hold_ms: int
    kind: Hold
    reason: str


def learned_pause_ms(resumed_pauses_ms: Sequence[float]) -> int:
    """The shortest hold this caller's own pauses allow: their longest mid-turn pause so far plus a margin."""
    if not resumed_pauses_ms:
        return 0
    return min(LONGEST_LEARNED_HOLD_MS, round(max(resumed_pauses_ms)) + PAUSE_MARGIN_MS)


def turn_end(
    ctx: DialogContext,
    heard: str,
    expected: GrammarName,
    times: TurnEndTimes,
    resumed_pauses_ms: Sequence[float] = (),
) -> TurnEnd:
    """The trailing silence that ends a turn whose words so far are ``heard``, in a step expecting ``expected``.

    ``answer``: the words are the whole answer the step asked for (or a request for a person) — the short hold,
    whatever the caller's pauses. ``request``: a free sentence understood with confidence — the short hold, but
    never shorter than this caller's own pauses. ``default`` likewise. ``long``: unfinished.
    """
    kind, reason = _judge(ctx, heard, expected)
    hold = {"answer": times.short_ms, "request": times.short_ms, "default": times.default_ms, "long": times.long_ms}
    base = hold[kind]
    learned = learned_pause_ms(resumed_pauses_ms)
    if kind != "answer" and learned > base:
        return TurnEnd(learned, kind, f"{reason}; this caller pauses up to {learned - PAUSE_MARGIN_MS} ms")
    return TurnEnd(base, kind, reason)


def _judge(ctx: DialogContext, heard: str, expected: GrammarName) -> tuple[Hold, str]:
    phrases = ctx.flow.phrases
    words = tokenize(heard)
    if not words:
        return "default", "nothing heard yet"
    answer = plain_answer(heard, phrases)
    if answer == "digits":  # before the unfinished words: "een" is a digit as well as an article
        return _number(ctx, heard)
    if words[-1] in phrases.unfinished:
        return "long", f"ends on '{words[-1]}'"
    if phrases.mentions_agent(heard):
        return "answer", "asked for a person"
    if answer == "yes_no" and expected == "yes_no":
        return "answer", "a clear yes or no"
    if _open_clause(words, phrases.linking_verbs, phrases.clause_openers):
        return "long", f"a clause ending on '{words[-1]}'"
    if expected != "free":
        return "default", f"not yet the {expected} answer"
    if len(words) < MIN_FREE_WORDS:
        return "default", "a short sentence"
    result = classify_intent(heard, ctx.flow.intents)
    if not result.is_unknown and result.confidence >= CONFIDENT_INTENT:
        return "request", f"a complete request ({result.label} {result.confidence:.2f})"
    return "default", "not sure the request is complete"


def _open_clause(words: Sequence[str], linking: frozenset[str], openers: frozenset[str]) -> bool:
    """A clause ending on an auxiliary or copula ("mijn pakket is", "my parcel has not") with no clause opener
    before it ("waar mijn pakket is" is complete: the verb of such a clause comes last) — or an opened clause
    ending on a negation, whose verb has yet to come ("… die ik niet")."""
    opened = any(word in openers for word in words[:-1])
    negated = words[-1] in _NEGATIONS and len(words) > 1
    if negated and opened and words[-2] not in linking:
        return True
    body = words[:-1] if negated else words
    if body[-1] not in linking or len(body) < 2:
        return False
    return not any(word in openers for word in body[:-1])


def _number(ctx: DialogContext, heard: str) -> tuple[Hold, str]:
    digits = parse_spoken_digits(heard, ctx.flow.phrases) or ""
    if ctx.services.order(digits) is not None:
        return "answer", f"order number {digits} is on file"
    if len(digits) < SHORTEST_ORDER_DIGITS:
        return "long", f"{len(digits)} digits: shorter than an order number"
    return "default", f"{len(digits)} digits, no such order"
