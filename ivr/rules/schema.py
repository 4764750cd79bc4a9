"""The supervisors' transfer-rules file, as pydantic models.

A supervisor writes ``rules.yaml``: where calls can go (``targets``) and when a call should go to a person
(``rules``). Every model forbids unknown fields, so a typo ("distres_at_least") is an error with a line number
instead of a rule that silently never fires. Cross-references (a rule naming a target that does not exist) are
checked here too and raise :class:`LocatedError`, which tells the loader where in the file the problem is.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ivr.callers import HISTORY_DAYS
from ivr.config import Language

DEFAULT_TARGET = "default"
#: Names of the promises evaluated before any rule; rules may not take these names.
BUILTIN_NAMES = ("keypad_zero", "caller_request", "repeated_failure")


class LocatedError(ValueError):
    """A validation problem that knows its place, a pydantic-style location like ``("rules", 3, "target")``.

    Pydantic can only place errors raised inside a field, not those of cross-field checks."""

    def __init__(self, message: str, loc: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.loc = loc


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _quoted_text(value: Any, what: str) -> Any:
    """YAML turns unquoted +31201234567 into a number and 17:00 into 1020 (minutes, YAML 1.1): say so."""
    if isinstance(value, bool | int | float):
        raise ValueError(f'{what} must be text in quotes, e.g. "..." (YAML read {value!r})')
    return value


# ── targets ───────────────────────────────────────────────────────────────────────────────────────────────
class PhoneTarget(_Strict):
    """Dial a number (E.164)."""

    type: Literal["phone"]
    number: str = Field(pattern=r"^\+[1-9][0-9]{6,14}$", description='E.164, e.g. "+31201234567"')
    description: str = ""

    @field_validator("number", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return _quoted_text(value, "a phone number")


class SipTarget(_Strict):
    """Dial a SIP address (a PBX queue, a softphone)."""

    type: Literal["sip"]
    uri: str = Field(pattern=r"^sips?:[^\s@]+@[^\s@]+$", description="e.g. sip:rouw@pbx.example.nl")
    description: str = ""


class TaskRouterTarget(_Strict):
    """Enqueue into a Twilio TaskRouter workflow (agents pick the call up from their queue)."""

    type: Literal["taskrouter"]
    workflow_sid: str = Field(pattern=r"^WW[0-9a-fA-F]{32}$", description="WW followed by 32 hex digits")
    description: str = ""


Target = Annotated[PhoneTarget | SipTarget | TaskRouterTarget, Field(discriminator="type")]


# ── conditions ────────────────────────────────────────────────────────────────────────────────────────────
_CLOCK = re.compile(r"^\s*([01]?[0-9]|2[0-3]):([0-5][0-9])\s*$")


class TimeWindow(_Strict):
    """A daily window of local time, start included, end excluded. ``17:00-09:00`` runs across midnight."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> TimeWindow:
        parts = text.split("-")
        if len(parts) != 2:
            raise ValueError(f'time window {text!r} must look like "17:00-09:00"')
        clocks = []
        for part in parts:
            match = _CLOCK.match(part)
            if match is None:
                raise ValueError(f"{part.strip()!r} in time window {text!r} is not a time from 00:00 to 23:59")
            clocks.append(time(int(match.group(1)), int(match.group(2))))
        if clocks[0] == clocks[1]:
            raise ValueError(f"time window {text!r} starts and ends at the same time; leave `time` out for all day")
        return cls(start=clocks[0], end=clocks[1])

    def contains(self, moment: time) -> bool:
        clock = moment.replace(second=0, microsecond=0, tzinfo=None)
        if self.start < self.end:
            return self.start <= clock < self.end
        return clock >= self.start or clock < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


class RecognitionBelow(_Strict):
    """The running recognition level stayed below ``level`` for the last ``turns`` turns."""

    level: float = Field(gt=0.0, le=1.0)
    turns: int = Field(default=1, ge=1, le=8)


def _text_list(value: Any, what: str) -> Any:
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        return [_quoted_text(item, what) for item in value]
    return value


class CallsInDays(_Strict):
    """The caller has called at least ``count`` times (this call included) within the last ``days`` days."""

    count: int = Field(ge=2, le=50)
    days: float = Field(gt=0, le=HISTORY_DAYS, description=f"at most {HISTORY_DAYS} (how long calls are looked up)")


class Conditions(_Strict):
    """What must all hold for a rule to fire. Leave out what does not matter."""

    intent: tuple[str, ...] | None = Field(default=None, min_length=1)
    intent_confidence_at_least: float | None = Field(default=None, ge=0.0, le=1.0)
    recognition_below: RecognitionBelow | None = None
    distress_at_least: float | None = Field(default=None, gt=0.0, le=1.0)
    failed_attempts_at_least: int | None = Field(default=None, ge=1)
    time: TimeWindow | None = None
    keywords: tuple[str, ...] | None = Field(default=None, min_length=1)
    language: tuple[Language, ...] | None = Field(default=None, min_length=1)
    #: a returning caller (caller memory): this many calls in so many days …
    calls_in_days: CallsInDays | None = None
    #: … about the same order or topic as this call (with calls_in_days: only those calls count)
    same_topic: bool | None = None

    @field_validator("intent", mode="before")
    @classmethod
    def _intent_list(cls, value: Any) -> Any:
        return _text_list(value, "an intent name")

    @field_validator("keywords", mode="before")
    @classmethod
    def _keyword_list(cls, value: Any) -> Any:
        return _text_list(value, "a keyword")

    @field_validator("language", mode="before")
    @classmethod
    def _language_list(cls, value: Any) -> Any:
        return _text_list(value, "a language code")

    @field_validator("time", mode="before")
    @classmethod
    def _time_window(cls, value: Any) -> Any:
        if isinstance(value, str):
            return TimeWindow.parse(value)
        return _quoted_text(value, "a time window")

    @field_validator("intent")
    @classmethod
    def _known_intents(cls, value: tuple[str, ...] | None, info: ValidationInfo) -> tuple[str, ...] | None:
        known: Collection[str] | None = (info.context or {}).get("known_intents")
        if value is not None and known is not None:
            unknown = [name for name in value if name not in known]
            if unknown:
                raise ValueError(f"unknown intent(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return value

    @field_validator("keywords")
    @classmethod
    def _keywords_have_words(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for keyword in value or ():
            if not re.search(r"\w", keyword):
                raise ValueError(f"keyword {keyword!r} has no letters to match")
        return value

    @model_validator(mode="after")
    def _something_to_check(self) -> Conditions:
        if all(getattr(self, name) is None for name in type(self).model_fields):
            raise ValueError("a rule needs at least one condition, otherwise it would transfer every call")
        if self.intent_confidence_at_least is not None and self.intent is None:
            raise ValueError("intent_confidence_at_least only makes sense together with intent")
        return self


# ── rules ─────────────────────────────────────────────────────────────────────────────────────────────────
class Rule(_Strict):
    """When ``when`` holds, transfer to ``target``; ``description`` is what the agent reads ("rouw")."""

    name: str = Field(min_length=1, max_length=60)
    description: str = Field(min_length=1)
    when: Conditions
    target: str = Field(min_length=1)
    #: Targets tried in order when ``target`` does not take the call (busy, no answer, declined, voicemail).
    fallbacks: tuple[str, ...] = Field(default=(), max_length=5)
    #: Higher wins when several rules fire on the same turn; also passed on as the queue priority.
    priority: int = Field(ge=0, le=100)
    #: ``false`` keeps the rule in the file (and the console) but switches it off.
    enabled: bool = True


class BuiltinWording(_Strict):
    """The only thing a supervisor may change about a built-in promise: how it is described to the agent."""

    description: str = Field(min_length=1)


class Builtins(_Strict):
    """Promises that always hold, whatever the rules say: pressing 0 or asking for a person gets a person, and
    so does failing twice in a row. They go to the ``default`` target."""

    keypad_zero: BuiltinWording = BuiltinWording(description="Beller drukte op 0 voor een medewerker")
    caller_request: BuiltinWording = BuiltinWording(description="Beller vroeg om een medewerker")
    repeated_failure: BuiltinWording = BuiltinWording(
        description="Beller kwam er twee keer achter elkaar niet uit met de computer"
    )
    #: Targets tried in order when ``default`` does not take a built-in transfer.
    fallbacks: tuple[str, ...] = Field(default=(), max_length=5)


class RuleSet(_Strict):
    """A whole, valid rules file."""

    timezone: str = "Europe/Amsterdam"
    targets: dict[str, Target] = Field(min_length=1)
    builtins: Builtins = Builtins()
    rules: tuple[Rule, ...] = ()

    @field_validator("rules", mode="before")
    @classmethod
    def _no_rules_yet(cls, value: Any) -> Any:
        """``rules:`` with every rule commented out reads as null: no rules, only the built-in promises."""
        return () if value is None else value

    @field_validator("timezone")
    @classmethod
    def _real_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}; use a name like Europe/Amsterdam") from exc
        return value

    @model_validator(mode="after")
    def _references(self) -> RuleSet:
        if DEFAULT_TARGET not in self.targets:
            raise LocatedError(
                f"targets must include {DEFAULT_TARGET!r}: built-in transfers (0, asking for a person) go there",
                ("targets",),
            )
        seen: dict[str, int] = {}
        for index, rule in enumerate(self.rules):
            if rule.name in BUILTIN_NAMES:
                raise LocatedError(
                    f"rule name {rule.name!r} is reserved for a built-in promise; choose another name",
                    ("rules", index, "name"),
                )
            if rule.name in seen:
                raise LocatedError(
                    f"rule name {rule.name!r} is used twice (also rule {seen[rule.name] + 1})",
                    ("rules", index, "name"),
                )
            seen[rule.name] = index
            if rule.target not in self.targets:
                raise LocatedError(
                    f"rule {rule.name!r} names unknown target {rule.target!r}; targets are: {', '.join(self.targets)}",
                    ("rules", index, "target"),
                )
            self._check_fallbacks(rule.fallbacks, rule.target, ("rules", index, "fallbacks"), f"rule {rule.name!r}")
        self._check_fallbacks(self.builtins.fallbacks, DEFAULT_TARGET, ("builtins", "fallbacks"), "builtins")
        return self

    def _check_fallbacks(self, names: tuple[str, ...], first: str, where: tuple[str | int, ...], who: str) -> None:
        if names and self.targets[first].type == "taskrouter":
            raise LocatedError(
                f"{who}: a TaskRouter target routes by itself; fallbacks only follow a phone or SIP target", where
            )
        for position, name in enumerate(names):
            if name not in self.targets:
                raise LocatedError(
                    f"{who} names unknown fallback {name!r}; targets are: {', '.join(self.targets)}", (*where, position)
                )
            if name == first or name in names[:position]:
                raise LocatedError(f"{who} lists target {name!r} twice (target and fallbacks)", (*where, position))
            if self.targets[name].type == "taskrouter":
                raise LocatedError(
                    f"{who}: fallback {name!r} is a TaskRouter workflow; fallbacks are phones or SIP addresses",
                    (*where, position),
                )

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def field_names() -> frozenset[str]:
    """Every field name the file may use, for "did you mean" hints on typos."""
    models: tuple[type[BaseModel], ...] = (
        PhoneTarget,
        SipTarget,
        TaskRouterTarget,
        RecognitionBelow,
        CallsInDays,
        Conditions,
        Rule,
        BuiltinWording,
        Builtins,
        RuleSet,
    )
    return frozenset(name for model in models for name in model.model_fields)
