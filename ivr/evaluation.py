"""Understanding without a phone line: ``ivr classify`` and ``ivr eval`` run a caller's first turn (as text) through
the same dialog, signals and rules a live call uses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict

from ivr.config import Language, Settings
from ivr.dialog.actions import CallStarted, Utterance
from ivr.dialog.engine import DialogContext, DialogState, step
from ivr.rules.book import RuleBook
from ivr.rules.schema import RuleSet
from ivr.runtime import LANGUAGES, build_dialogs, load_service_data
from ivr.signals.distress import DistressLexicon, load_distress_lexicon
from ivr.signals.encoder import EncoderChoice
from ivr.speech.types import Transcript, Word
from ivr.understanding import CallSignals, assess_turn, first_turn_action

DISTRESS_THRESHOLD = 0.6


class Classification(BaseModel):
    """What Warmline makes of a first caller turn — the JSON line ``ivr classify`` prints."""

    text: str
    language: str
    intent: str
    confidence: float
    distress: dict[str, object]
    action: Literal["self_service", "transfer", "clarify"]
    rule: str | None
    target: str | None
    reason: str | None


@dataclass(frozen=True)
class Understander:
    """The per-language resources of a server, without the server."""

    dialogs: dict[str, DialogContext]
    lexicons: dict[str, DistressLexicon]
    rules: RuleSet

    @classmethod
    def load(
        cls, settings: Settings, rules_file: Path | None = None, encoder: EncoderChoice = "shared"
    ) -> Understander:
        dialogs, flows = build_dialogs(settings, load_service_data(settings), encoder)
        known = {label for flow in flows.values() for label in flow.intents.labels}
        book = RuleBook(rules_file or settings.rules_file, None, known_intents=known)
        lexicons: dict[str, DistressLexicon] = {
            lang: load_distress_lexicon(settings.grammars_dir, lang, encoder) for lang in LANGUAGES
        }
        return cls(dialogs=dict(dialogs), lexicons=dict(lexicons), rules=book.active)

    def classify(self, text: str, language: Language, now: datetime | None = None) -> Classification:
        ctx = self.dialogs[language]
        greeted = step(ctx, DialogState(), CallStarted()).state
        words = tuple(Word(w, 1.0) for w in text.split())
        event = Utterance(Transcript(text=text, words=words))
        turn = step(ctx, greeted, event)
        assessment = assess_turn(ctx, self.rules, self.lexicons[language], CallSignals(), event, turn, now=now)
        decision = assessment.decision
        distress = assessment.signals.distress
        return Classification(
            text=text,
            language=language,
            intent=turn.intent.label if turn.intent else "unknown",
            confidence=round(turn.intent.confidence, 3) if turn.intent else 0.0,
            distress={"level": round(distress.level, 3), "reasons": list(distress.reasons)},
            action=first_turn_action(ctx, turn, decision),
            rule=decision.rule if decision else None,
            target=decision.target_name if decision else None,
            reason=decision.reason if decision else None,
        )


class EvalItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: str
    lang: Language
    intent: str
    distressed: bool
    action: Literal["self_service", "transfer", "clarify"]
    region: str | None = None


@dataclass(frozen=True)
class EvalReport:
    rows: tuple[tuple[str, int, int], ...]  # (measure, hits, total)
    misses: tuple[str, ...]

    def share(self, measure: str) -> float:
        for name, hits, total in self.rows:
            if name == measure:
                return hits / total if total else 0.0
        raise KeyError(measure)


def load_eval_items(path: Path) -> list[EvalItem]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [EvalItem.model_validate(item) for item in data["items"]]


def run_eval(understander: Understander, items: Sequence[EvalItem], now: datetime | None = None) -> EvalReport:
    """Intent accuracy, first-turn transfer decisions, distress recall and false alarms, must-transfer recall (callers
    who must reach a person on their first turn and do) and needless transfers (calm callers with a question the bot
    answers, sent to a person anyway) — per language and overall."""
    # A fixed weekday afternoon: time-of-day rules must not make the score depend on when it runs.
    now = now or datetime(2026, 11, 24, 14, 0)
    counts: dict[str, list[int]] = {}
    misses: list[str] = []

    def count(measure: str, hit: bool) -> None:
        tally = counts.setdefault(measure, [0, 0])
        tally[0] += int(hit)
        tally[1] += 1

    for item in items:
        result = understander.classify(item.text, item.lang, now=now)
        distressed = float(result.distress["level"]) >= DISTRESS_THRESHOLD  # type: ignore[arg-type]
        for scope in (item.lang, "all"):
            count(f"intent accuracy ({scope})", result.intent == item.intent)
            count(f"transfer decision accuracy ({scope})", result.action == item.action)
            if item.distressed:
                count(f"distress recall ≥ {DISTRESS_THRESHOLD} ({scope})", distressed)
            else:
                count(f"distress false alarms on calm ({scope})", distressed)
            if item.action == "transfer":
                count(f"must-transfer recall ({scope})", result.action == "transfer")
            elif item.action == "self_service" and not item.distressed:
                count(f"needless transfers of calm simple questions ({scope})", result.action == "transfer")
        if result.intent != item.intent or result.action != item.action or distressed != item.distressed:
            misses.append(
                f"[{item.lang}] {item.text!r}: intent {result.intent} (want {item.intent}), action {result.action} "
                f"(want {item.action}), distress {result.distress['level']} (want {'≥' if item.distressed else '<'}0.6)"
            )
    rows = tuple((name, hits, total) for name, (hits, total) in sorted(counts.items()))
    return EvalReport(rows=rows, misses=tuple(misses))
