"""Decide, for one caller turn, whether the call goes to a person and to whom.

Pure: the same rules and signals always give the same decision, so a supervisor can test a rules file
against recorded turns before putting it live. The built-in promises are checked first and cannot be switched
off by any rule: pressing 0 or asking for a person gets a person, and so does failing twice in a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ivr.callers import HISTORY_DAYS, PreviousCall, same_topic, within
from ivr.config import Language
from ivr.dialog.actions import TransferReason
from ivr.rules.schema import DEFAULT_TARGET, Conditions, Rule, RuleSet, Target
from ivr.signals.distress import Distress, normalise
from ivr.signals.recognition import RecognitionEstimate

#: Failures in a row after which the caller always gets a person.
REPEATED_FAILURE_LIMIT = 2
BUILTIN_PRIORITY = 100


@dataclass(frozen=True, slots=True)
class TurnSignals:
    """Everything the rules may look at for one caller turn.

    ``local_time`` may be naive (then it is taken as already in the rules' timezone) or aware (then it is
    converted). ``failed_attempts`` counts failures in a row, this turn included.
    """

    intent: str
    intent_confidence: float
    recognition: RecognitionEstimate
    distress: Distress
    failed_attempts: int
    text: str
    language: Language
    local_time: datetime
    caller_asked_for_person: bool = False
    pressed_zero: bool = False
    #: the caller's earlier calls (caller memory), newest first; empty for a first or withheld call
    previous_calls: tuple[PreviousCall, ...] = ()
    #: the order this call is about, once the caller gave it
    order_number: str | None = None
    #: Unix time of the turn (for "calls in the last N days")
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class TransferDecision:
    """Transfer the call.

    ``reason`` is the plain-words description for the agent; ``matched`` says which conditions held (for the
    audit log and the supervisor console); ``code`` is the dialog's machine-readable reason.
    """

    rule: str
    target_name: str
    target: Target
    priority: int
    reason: str
    builtin: bool
    code: TransferReason
    matched: tuple[str, ...] = ()
    #: (name, target) tried in order when ``target`` does not take the call
    fallbacks: tuple[tuple[str, Target], ...] = ()


def _promise(rules: RuleSet, name: str, description: str, matched: str) -> TransferDecision:
    return TransferDecision(
        rule=name,
        target_name=DEFAULT_TARGET,
        target=rules.targets[DEFAULT_TARGET],
        priority=BUILTIN_PRIORITY,
        reason=description,
        builtin=True,
        code=BUILTIN_CODES[name],
        matched=(matched,),
        fallbacks=tuple((n, rules.targets[n]) for n in rules.builtins.fallbacks),
    )


BUILTIN_CODES: dict[str, TransferReason] = {
    "keypad_zero": "keypad_zero",
    "caller_request": "caller_request",
    "repeated_failure": "repeated_failure",
}


def _builtin(rules: RuleSet, ctx: TurnSignals) -> TransferDecision | None:
    wording = rules.builtins
    if ctx.pressed_zero:
        return _promise(rules, "keypad_zero", wording.keypad_zero.description, "pressed 0")
    if ctx.caller_asked_for_person:
        return _promise(
            rules, "caller_request", wording.caller_request.description, f"asked for a person: {ctx.text!r}"
        )
    if ctx.failed_attempts >= REPEATED_FAILURE_LIMIT:
        return _promise(
            rules,
            "repeated_failure",
            wording.repeated_failure.description,
            f"{ctx.failed_attempts} failed attempts in a row",
        )
    return None


def _said(keyword: str, tokens: list[str]) -> bool:
    """Whole-word match of a keyword or phrase; a trailing ``*`` on a word accepts any ending."""
    words = keyword.split()
    patterns = [(normalise(w.rstrip("*")), w.endswith("*")) for w in words]
    if any(len(p) != 1 for p, _ in patterns):
        # A word that normalises to two tokens ("e-mail"): compare the normalised phrase exactly.
        wanted = normalise(keyword)
        return any(tokens[i : i + len(wanted)] == wanted for i in range(len(tokens)))
    for start in range(len(tokens) - len(patterns) + 1):
        if all(
            tokens[start + k].startswith(p[0]) if stem else tokens[start + k] == p[0]
            for k, (p, stem) in enumerate(patterns)
        ):
            return True
    return False


def check_conditions(when: Conditions, ctx: TurnSignals, rules: RuleSet) -> tuple[str, ...] | None:
    """The conditions that held, in words, or None as soon as one does not hold."""
    matched: list[str] = []
    if when.intent is not None:
        if ctx.intent not in when.intent:
            return None
        matched.append(f"intent {ctx.intent} ({ctx.intent_confidence:.2f})")
    if when.intent_confidence_at_least is not None:
        if ctx.intent_confidence < when.intent_confidence_at_least:
            return None
        matched.append(f"intent confidence {ctx.intent_confidence:.2f} >= {when.intent_confidence_at_least:g}")
    if when.recognition_below is not None:
        below = ctx.recognition.turns_below_level(when.recognition_below.level)
        if below < when.recognition_below.turns:
            return None
        matched.append(
            f"understood poorly: level {ctx.recognition.level:.2f}, below {when.recognition_below.level:g} "
            f"for {below} turn(s)"
        )
    if when.distress_at_least is not None:
        if ctx.distress.level < when.distress_at_least:
            return None
        why = "; ".join(ctx.distress.reasons)
        matched.append(f"distress {ctx.distress.level:.2f} >= {when.distress_at_least:g}" + (f": {why}" if why else ""))
    if when.failed_attempts_at_least is not None:
        if ctx.failed_attempts < when.failed_attempts_at_least:
            return None
        matched.append(f"{ctx.failed_attempts} failed attempt(s) in a row")
    if when.time is not None:
        moment = ctx.local_time
        if moment.tzinfo is not None:
            moment = moment.astimezone(rules.zone())
        if not when.time.contains(moment.time()):
            return None
        matched.append(f"time {moment:%H:%M} within {when.time}")
    if when.keywords is not None:
        tokens = normalise(ctx.text)
        said = [k for k in when.keywords if _said(k, tokens)]
        if not said:
            return None
        matched.append("said " + ", ".join(repr(k) for k in said))
    if when.language is not None:
        if ctx.language not in when.language:
            return None
        matched.append(f"language {ctx.language}")
    if when.calls_in_days is not None or when.same_topic:
        repeat = _repeat_calls(when, ctx)
        if repeat is None:
            return None
        matched.append(repeat)
    return tuple(matched)


def _repeat_calls(when: Conditions, ctx: TurnSignals) -> str | None:
    """A returning caller: enough earlier calls in the window (about the same topic, when asked), in words."""
    days = when.calls_in_days.days if when.calls_in_days is not None else HISTORY_DAYS
    earlier = within(ctx.previous_calls, days, ctx.at)
    topic = ""
    if when.same_topic:
        earlier = tuple(call for call in earlier if same_topic(call, ctx.intent, ctx.order_number))
        topic = f" about order {ctx.order_number}" if ctx.order_number else f" about {ctx.intent}"
        if not earlier:
            return None
    if when.calls_in_days is not None and len(earlier) + 1 < when.calls_in_days.count:
        return None
    return f"call {len(earlier) + 1} in {days:g} days{topic}"


def _code(rule: Rule) -> TransferReason:
    if rule.when.recognition_below is not None:
        return "low_confidence"
    if rule.when.failed_attempts_at_least is not None:
        return "repeated_failure"
    return "needs_person"


def firing_rules(rules: RuleSet, ctx: TurnSignals) -> tuple[tuple[Rule, tuple[str, ...]], ...]:
    """Every rule that fires on this turn, in file order, with what matched (for the console's "why")."""
    fired: list[tuple[Rule, tuple[str, ...]]] = []
    for rule in rules.rules:
        if not rule.enabled:
            continue
        matched = check_conditions(rule.when, ctx, rules)
        if matched is not None:
            fired.append((rule, matched))
    return tuple(fired)


def evaluate(rules: RuleSet, ctx: TurnSignals) -> TransferDecision | None:
    """The transfer this turn calls for, or None to let the bot carry on.

    Built-in promises first; then, of the rules that fire, the highest priority wins and equal priorities go
    to the rule higher up in the file.
    """
    promised = _builtin(rules, ctx)
    if promised is not None:
        return promised
    best: tuple[Rule, tuple[str, ...]] | None = None
    for rule, matched in firing_rules(rules, ctx):
        if best is None or rule.priority > best[0].priority:
            best = (rule, matched)
    if best is None:
        return None
    rule, matched = best
    return TransferDecision(
        rule=rule.name,
        target_name=rule.target,
        target=rules.targets[rule.target],
        priority=rule.priority,
        reason=rule.description,
        builtin=False,
        code=_code(rule),
        matched=matched,
        fallbacks=tuple((n, rules.targets[n]) for n in rule.fallbacks),
    )
