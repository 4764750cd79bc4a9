"""Replay a stored call's caller turns through the dialog and a set of rules: what would have happened?

The dry run compares two replays of the same turns — under the rules in force and under a draft — so the only
difference is the rules. (Comparing the draft with what really happened would also show noise the rules did not
cause: voice features and barge-ins are not stored, and the dialog may have changed since.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from ivr.config import Language
from ivr.dialog.actions import CallerInput, CallStarted, KeyPress, NoInput, Utterance
from ivr.dialog.engine import DialogState, step
from ivr.evaluation import Understander
from ivr.rules.schema import RuleSet
from ivr.speech.types import Transcript, Word
from ivr.understanding import CallSignals, assess_turn


@dataclass(frozen=True, slots=True)
class StoredTurn:
    """The part of a stored turn a replay needs: what the caller did, and how sure the recogniser was."""

    kind: str  # "caller" | "dtmf" | "no_input" (other kinds are ignored)
    text: str = ""
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    """How the replayed call ends: with a person (rule → target) or with the bot."""

    transferred: bool
    rule: str = ""
    target: str = ""
    reason: str = ""
    at_turn: int = 0  # 1-based caller turn that decided it

    def label(self) -> str:
        if not self.transferred:
            return "handled by Warmline"
        return f"{self.rule} → {self.target} (turn {self.at_turn})"


def caller_inputs(turns: Sequence[StoredTurn]) -> list[CallerInput]:
    """Stored turns as dialog inputs. Keypad digits arrive one per turn; consecutive ones form one entry, as the
    session collects them (``#`` ends an entry)."""
    inputs: list[CallerInput] = []
    digits = ""
    for turn in turns:
        if turn.kind == "dtmf":
            digits += turn.text
            if turn.text.endswith("#"):
                inputs.append(KeyPress(digits))
                digits = ""
            continue
        if digits:
            inputs.append(KeyPress(digits))
            digits = ""
        if turn.kind == "caller":
            confidence = turn.confidence if turn.confidence is not None else 1.0
            words = tuple(Word(w, confidence) for w in turn.text.split())
            inputs.append(Utterance(Transcript(text=turn.text, words=words)))
        elif turn.kind == "no_input":
            inputs.append(NoInput())
    if digits:
        inputs.append(KeyPress(digits))
    return inputs


def replay(
    understander: Understander, rules: RuleSet, language: Language, turns: Sequence[StoredTurn], when: datetime
) -> ReplayOutcome:
    """The first transfer the rules call for, turn by turn, or "handled by Warmline" if none does."""
    ctx = understander.dialogs[language]
    lexicon = understander.lexicons[language]
    state = step(ctx, DialogState(), CallStarted()).state
    signals = CallSignals()
    for number, event in enumerate(caller_inputs(turns), start=1):
        if state.ended:
            break
        turn = step(ctx, state, event)
        assessment = assess_turn(ctx, rules, lexicon, signals, event, turn, now=when)
        if assessment.decision is not None:
            decision = assessment.decision
            return ReplayOutcome(True, decision.rule, decision.target_name, decision.reason, number)
        state, signals = turn.state, assessment.signals
    return ReplayOutcome(False)


@dataclass(frozen=True, slots=True)
class StoredCall:
    call_sid: str
    language: Language
    started_at: datetime
    turns: tuple[StoredTurn, ...]
    recorded: str  # what really happened, in words


@dataclass(frozen=True, slots=True)
class ChangedCall:
    call: StoredCall
    active: ReplayOutcome
    draft: ReplayOutcome


@dataclass(frozen=True, slots=True)
class DryRun:
    replayed: int
    changed: tuple[ChangedCall, ...]


def dry_run(understander: Understander, active: RuleSet, draft: RuleSet, calls: Sequence[StoredCall]) -> DryRun:
    """The calls whose outcome the draft rules would change."""
    return compare_replays(replace(understander, rules=active), replace(understander, rules=draft), calls)


def compare_replays(before: Understander, after: Understander, calls: Sequence[StoredCall]) -> DryRun:
    """The calls that would end differently under ``after`` (other rules, or grammars that learned a wording) than
    under ``before``. Each call is replayed at the time it was made, so time-of-day rules judge it as they would
    have then."""
    changed: list[ChangedCall] = []
    replayed = 0
    for call in calls:
        if call.language not in before.dialogs or call.language not in after.dialogs:
            continue
        moment = call.started_at.astimezone(before.rules.zone())
        was = replay(before, before.rules, call.language, call.turns, moment)
        now = replay(after, after.rules, call.language, call.turns, draft_time(moment, after.rules))
        replayed += 1
        if (was.transferred, was.rule, was.target) != (now.transferred, now.rule, now.target):
            changed.append(ChangedCall(call, was, now))
    return DryRun(replayed, tuple(changed))


def draft_time(moment: datetime, draft: RuleSet) -> datetime:
    """The same instant in the draft's timezone (a draft may move the rules to another zone)."""
    return moment.astimezone(draft.zone())
