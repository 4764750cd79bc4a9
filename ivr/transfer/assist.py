"""Agent assist: what Warmline tells the colleague while they talk with the caller.

Once a colleague takes the call, Warmline listens along (a one-way copy of both sides, see
:mod:`ivr.telephony.fork`) and the agent page shows, live: what each side said, how the caller sounds now, and
suggestions drawn from what Warmline knows — the order's status from the company's data, the self-service answers
(opening hours, the password steps) the computer would have given, and the caller's earlier calls. Each suggestion
says why it is there, so the colleague can judge it rather than trust it.

Everything here is pure: lines and facts in, the page's contents out. The words live in ``grammars/<lang>/assist.yaml``;
the answers come from where the computer gets them (service data, ``prompts.yaml``, the summary's wording).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ivr.call.record import CallEvent
from ivr.callers import PreviousCall
from ivr.config import REPO_ROOT
from ivr.dialog.digits import parse_spoken_digits
from ivr.dialog.flow import ANSWER_PREFIX, Flow
from ivr.dialog.service import ServiceData
from ivr.errors import GrammarError
from ivr.grammar_files import format_validation_error, read_grammar_yaml
from ivr.signals.intent import classify_intent
from ivr.transfer.summary import history_clause

Speaker = Literal["caller", "agent"]
#: the call events that hold the human part of a call, by speaker
SPEAKER_EVENTS: Mapping[Speaker, Literal["assist_caller", "assist_agent"]] = MappingProxyType(
    {"caller": "assist_caller", "agent": "assist_agent"}
)
#: a caller's line must name a self-service topic this surely before its answer is suggested
TOPIC_CONFIDENCE = 0.6
#: a number the caller says must have this many digits to be looked up as an order
ORDER_MIN_DIGITS = 4
#: distress from here on reads "tense", and from ``UPSET`` on "upset"
TENSE = 0.35
UPSET = 0.6
#: a change in distress smaller than this is "steady"
_TREND_STEP = 0.1


# ── the wording ───────────────────────────────────────────────────────────────────────────────────────────
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Mood(_Strict):
    calm: str
    tense: str
    upset: str


class _Why(_Strict):
    order_given: str
    order_heard: str
    order_unknown: str
    topic_of_call: str
    topic_heard: str
    history: str


class _AssistFile(_Strict):
    language: str
    speakers: dict[Speaker, str]
    mood: _Mood
    titles: dict[str, str]
    why: _Why


@dataclass(frozen=True, slots=True)
class AssistTexts:
    """The agent page's words for agent assist in one language (``grammars/<lang>/assist.yaml``)."""

    language: str
    speakers: Mapping[str, str]
    mood: Mapping[str, str]
    titles: Mapping[str, str]
    why: Mapping[str, str]


def load_assist_texts(grammars_dir: Path, language: str) -> AssistTexts:
    """Load and validate ``grammars/<language>/assist.yaml``; raises :class:`GrammarError` naming the problem."""
    path = grammars_dir / language / "assist.yaml"
    try:
        parsed = _AssistFile.model_validate(read_grammar_yaml(path))
    except ValidationError as exc:
        raise GrammarError(format_validation_error(path, exc)) from exc
    if parsed.language != language:
        raise GrammarError(f"{path}: says language {parsed.language!r} but lives under {language}/")
    missing = [k for k in ("caller", "agent") if k not in parsed.speakers] + [
        f"titles.{k}" for k in ("order", "history") if k not in parsed.titles
    ]
    if missing:
        raise GrammarError(f"{path}: missing {', '.join(missing)}")
    if "{number}" not in parsed.titles["order"] or "{quote}" not in parsed.why.topic_heard:
        raise GrammarError(f"{path}: titles.order needs {{number}} and why.topic_heard needs {{quote}}")
    return AssistTexts(
        language=language,
        speakers=MappingProxyType({str(k): v for k, v in parsed.speakers.items()}),
        mood=MappingProxyType(parsed.mood.model_dump()),
        titles=MappingProxyType(dict(parsed.titles)),
        why=MappingProxyType(parsed.why.model_dump()),
    )


@lru_cache(maxsize=8)
def shipped_assist_texts(language: str) -> AssistTexts:
    return load_assist_texts(REPO_ROOT / "grammars", language)


# ── what the page shows ───────────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True, slots=True)
class HeardLine:
    """One utterance of the human part of the call, redacted; ``at`` is when it ended (Unix time)."""

    speaker: Speaker
    text: str
    at: float
    distress: float | None = None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Suggestion:
    """Something the colleague may want to say or check, and why Warmline thinks so."""

    kind: str
    title: str
    text: str
    why: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "title": self.title, "text": self.text, "why": self.why}


@dataclass(frozen=True, slots=True)
class Mood:
    """How the caller sounds now: a level (0–1), its word, which way it is going, and why."""

    level: float
    tone: Literal["calm", "tense", "upset"]
    label: str
    trend: Literal["rising", "falling", "steady"]
    reasons: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "level": self.level,
            "tone": self.tone,
            "label": self.label,
            "trend": self.trend,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the automated part of the call established (from the call and transfer records)."""

    intent: str | None = None
    order_number: str = ""
    previous: tuple[PreviousCall, ...] = ()
    #: the distress at the hand-over, where the mood starts
    distress: float = 0.0
    at: float = 0.0


@dataclass(frozen=True)
class AssistSources:
    """Where suggestions come from: the caller's language (to understand them), the agent's (to answer), the
    company's data, and the page's words."""

    caller_flow: Flow
    agent_flow: Flow
    services: ServiceData
    texts: AssistTexts
    company: str = ""


def heard_lines(events: Sequence[CallEvent], started: float) -> list[HeardLine]:
    """The human part of a call from its events (``started``: the call's start, which event times count from)."""
    speakers = {kind: speaker for speaker, kind in SPEAKER_EVENTS.items()}
    return [
        HeardLine(speakers[e.kind], e.text, started + e.at, e.distress, tuple(e.reasons))
        for e in events
        if e.kind in speakers
    ]


def mood(lines: Sequence[HeardLine], facts: CallFacts, texts: AssistTexts) -> Mood:
    """The caller's distress as it changes: their latest line against the one before (or the hand-over)."""
    levels = [(line.distress, line.reasons) for line in lines if line.speaker == "caller" and line.distress is not None]
    now, reasons = levels[-1] if levels else (facts.distress, ())
    before = levels[-2][0] if len(levels) >= 2 else facts.distress
    assert now is not None and before is not None
    trend: Literal["rising", "falling", "steady"] = "steady"
    if now - before >= _TREND_STEP:
        trend = "rising"
    elif before - now >= _TREND_STEP:
        trend = "falling"
    tone: Literal["calm", "tense", "upset"] = "upset" if now >= UPSET else "tense" if now >= TENSE else "calm"
    return Mood(round(now, 2), tone, texts.mood[tone], trend, reasons)


def suggest(facts: CallFacts, lines: Sequence[HeardLine], sources: AssistSources) -> list[Suggestion]:
    """What to put in front of the colleague now: the orders in play (given to the computer, or said since), the
    self-service topics the caller rang about or brings up, and their earlier calls — each once, in that order."""
    found: dict[str, Suggestion] = {}
    why = sources.texts.why
    if facts.order_number:
        _order(found, facts.order_number, why["order_given"], sources)
    caller_lines = [line for line in lines if line.speaker == "caller"]
    for line in caller_lines:
        number = parse_spoken_digits(line.text, sources.caller_flow.phrases, min_digits=ORDER_MIN_DIGITS)
        if number:
            _order(found, number, why["order_heard"], sources)
    if facts.intent:
        _topic(found, facts.intent, why["topic_of_call"], sources)
    for line in caller_lines:
        heard = classify_intent(line.text, sources.caller_flow.intents)
        if heard.confidence >= TOPIC_CONFIDENCE:
            _topic(found, heard.label, why["topic_heard"].format(quote=_shorten(line.text)), sources)
    if facts.previous:
        clause = history_clause(facts.previous, facts.order_number or None, facts.at, sources.agent_flow.language)
        if clause:
            found["history"] = Suggestion("history", sources.texts.titles["history"], clause, why["history"])
    return list(found.values())


def _order(found: dict[str, Suggestion], number: str, why: str, sources: AssistSources) -> None:
    key = f"order:{number}"
    if key in found:
        return
    order = sources.services.order(number)
    title = sources.texts.titles["order"].format(number=number)
    if order is None:
        found[key] = Suggestion("order_status", title, sources.texts.why["order_unknown"], why)
    else:
        found[key] = Suggestion("order_status", title, order.status(sources.agent_flow.language), why)


def _topic(found: dict[str, Suggestion], label: str, why: str, sources: AssistSources) -> None:
    """A self-service topic's answer, as the computer would have said it, in the agent's language."""
    key = f"topic:{label}"
    prompt = f"{ANSWER_PREFIX}{label}"
    flow = sources.agent_flow
    if key in found or prompt not in flow.prompts or label not in flow.self_service_intents:
        return
    values = {"hours": sources.services.opening_hours(flow.language), "company": sources.company}
    try:
        text = flow.text(prompt, values)
    except (KeyError, IndexError, ValueError):
        return  # a placeholder this page cannot fill: better no suggestion than a wrong one
    title = sources.texts.titles.get(label) or flow.topic(label) or label
    found[key] = Suggestion(label, title, text, why)


def _shorten(text: str, words: int = 12) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" …" if len(parts) > words else "")
