"""Calibrated intent confidence: how often an answer given with this evidence was right, learned by cross-validation.

The classifier's raw evidence (:class:`ivr.signals.intent.IntentScores`) is not a probability: a model scores the
sentences it trained on higher than new ones, and a margin of 0.1 means more for some intents than for others. So
``ivr grammars calibrate`` splits ``training.yaml`` into folds, trains on all but one fold, scores the fold it did not
see, and fits a logistic curve from (evidence, lead over the runner-up, share of words about our services,
precedence) to "the best guess was right". The ``unknown`` threshold is the one at which those out-of-fold answers
cost least, a wrong topic counting twice as much as an ``unknown`` that makes the caller say it once more. Nothing
here ever looks at an evaluation set.

The result lives in ``grammars/<lang>/calibration.yaml`` with a digest of what it was fitted on, so a test
(``tests/unit/test_sentence_encoder.py``) notices when the grammars changed and the calibration was not redone.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ivr.errors import GrammarError
from ivr.grammar_files import format_validation_error, read_grammar_yaml

if TYPE_CHECKING:
    from ivr.signals.intent import IntentScores

FILE_NAME = "calibration.yaml"
#: margins beyond this tell nothing more (a clear winner is a clear winner)
MARGIN_CAP = 0.3
#: what answering ``unknown`` to a caller whose topic we could have named costs, against 1 for naming a wrong topic
UNSURE_COST = 0.5
#: what naming the wrong one of two topics that both need a person costs: the caller still reaches a person, who
#: passes them on; cheaper than being asked to say it again
PERSON_SLIP_COST = 0.25


class _Coefficients(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    intercept: float
    evidence: float
    margin: float
    coverage: float
    preferred: float


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    encoder: str
    grammar_digest: str
    folds: int = Field(ge=2)
    coefficients: _Coefficients
    threshold: float = Field(ge=0.0, le=1.0)
    #: below the threshold, the confidence from which a guess stands when it and the runner-up both need a person
    #: (absent in older files: the threshold itself, so such guesses never stand)
    person_floor: float | None = Field(default=None, ge=0.0, le=1.0)
    cross_validated_accuracy: float = Field(ge=0.0, le=1.0)


@dataclass(frozen=True, slots=True)
class Calibration:
    """A fitted curve from evidence to the chance the best guess is right, and the threshold below which the answer
    is ``unknown``."""

    encoder: str
    grammar_digest: str
    folds: int
    intercept: float
    evidence: float
    margin: float
    coverage: float
    preferred: float
    threshold: float
    cross_validated_accuracy: float
    #: below ``threshold``, the confidence from which a guess stands when the runner-up also needs a person
    person_floor: float = 1.0

    def probability(self, scored: IntentScores) -> float:
        z = self.intercept + self.evidence * scored.evidence + self.margin * min(scored.margin, MARGIN_CAP)
        z += self.coverage * scored.coverage + self.preferred * float(scored.preferred)
        return 1.0 / (1.0 + math.exp(-z))

    def to_yaml(self) -> str:
        data = {
            "encoder": self.encoder,
            "grammar_digest": self.grammar_digest,
            "folds": self.folds,
            "coefficients": {
                "intercept": round(self.intercept, 6),
                "evidence": round(self.evidence, 6),
                "margin": round(self.margin, 6),
                "coverage": round(self.coverage, 6),
                "preferred": round(self.preferred, 6),
            },
            "threshold": round(self.threshold, 3),
            "person_floor": round(self.person_floor, 3),
            "cross_validated_accuracy": round(self.cross_validated_accuracy, 4),
        }
        header = (
            "# Intent confidence calibration, made by `ivr grammars calibrate` (cross-validation over training.yaml;\n"
            "# never an evaluation set). Redo it after changing intents.yaml or training.yaml.\n"
        )
        return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def grammar_digest(grammars_dir: Path, language: str) -> str:
    """What a calibration was fitted on: the language's intents and labelled sentences."""
    hasher = hashlib.sha256()
    for name in ("intents.yaml", "training.yaml"):
        path = grammars_dir / language / name
        hasher.update(name.encode())
        hasher.update(path.read_bytes() if path.exists() else b"")
    return hasher.hexdigest()[:16]


def load_calibration(grammars_dir: Path, language: str, encoder: str) -> Calibration | None:
    """The language's calibration, or None when there is none or it was made for another sentence encoder (its
    curve would describe other evidence)."""
    path = grammars_dir / language / FILE_NAME
    if not path.exists():
        return None
    try:
        parsed = _File.model_validate(read_grammar_yaml(path))
    except ValidationError as exc:
        raise GrammarError(format_validation_error(path, exc)) from exc
    if parsed.encoder != encoder:
        return None
    c = parsed.coefficients
    return Calibration(
        encoder=parsed.encoder,
        grammar_digest=parsed.grammar_digest,
        folds=parsed.folds,
        intercept=c.intercept,
        evidence=c.evidence,
        margin=c.margin,
        coverage=c.coverage,
        preferred=c.preferred,
        threshold=parsed.threshold,
        cross_validated_accuracy=parsed.cross_validated_accuracy,
        person_floor=parsed.threshold if parsed.person_floor is None else parsed.person_floor,
    )


@dataclass(frozen=True, slots=True)
class OutOfFold:
    """One training sentence scored by a model that never saw it."""

    gold: str
    #: the best guess, and the evidence behind it (None when the answer needed no weighing, e.g. only fillers)
    guess: str
    scores: IntentScores | None
    #: the second-best intent (empty when there was nothing to weigh)
    runner_up: str = ""


def fit_calibration(
    outcomes: Sequence[OutOfFold],
    *,
    unknown: str,
    encoder: str,
    digest: str,
    folds: int,
    person: frozenset[str] = frozenset(),
) -> Calibration:
    """Fit the curve on out-of-fold answers, choose the threshold at which they cost least, and below it the floor
    from which a guess between two topics that both need a person (``person``: their labels) stands."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    weighed = [o for o in outcomes if o.scores is not None and o.guess != unknown]
    rows = np.array(
        [
            [o.scores.evidence, min(o.scores.margin, MARGIN_CAP), o.scores.coverage, float(o.scores.preferred)]
            for o in weighed
            if o.scores is not None
        ]
    )
    right = np.array([o.guess == o.gold for o in weighed])
    model = LogisticRegression(C=1.0, max_iter=1000).fit(rows, right)
    w = model.coef_[0]
    curve = Calibration(
        encoder=encoder,
        grammar_digest=digest,
        folds=folds,
        intercept=float(model.intercept_[0]),
        evidence=float(w[0]),
        margin=float(w[1]),
        coverage=float(w[2]),
        preferred=float(w[3]),
        threshold=0.5,
        cross_validated_accuracy=0.0,
    )

    def answers(threshold: float) -> list[str]:
        return [
            unknown
            if o.scores is not None and o.guess != unknown and curve.probability(o.scores) < threshold
            else o.guess
            for o in outcomes
        ]

    def cost(threshold: float) -> float:
        total = 0.0
        for o, answer in zip(outcomes, answers(threshold), strict=True):
            if answer == o.gold:
                continue
            # A wrong topic sends the caller down the wrong road (or to the wrong desk); "unknown" asks them once
            # more, and the dialog's promise of a person after two failures still stands.
            total += UNSURE_COST if answer == unknown else 1.0
        return total

    grid = [round(0.05 * i, 2) for i in range(1, 19)]
    costs = [cost(t) for t in grid]

    def smoothed(index: int) -> float:
        # The cost is flat near its lowest point (a few sentences out of thousands of out-of-fold answers), so the
        # single lowest grid point jumps a step or two when one training sentence is added. Its neighbours'
        # average picks the middle of the low basin instead, which stays put.
        near = costs[max(0, index - 1) : index + 2]
        return sum(near) / len(near)

    threshold = grid[min(range(len(grid)), key=lambda i: (smoothed(i), grid[i]))]
    accuracy = sum(a == o.gold for o, a in zip(outcomes, answers(threshold), strict=True)) / len(outcomes)

    # Unsure between two topics that both need a person: asking again costs UNSURE_COST, the better guess costs
    # nothing when right, PERSON_SLIP_COST when the caller meant another person topic, and 1 otherwise.
    torn = [
        (curve.probability(o.scores), o)
        for o in outcomes
        if o.scores is not None and o.guess in person and o.runner_up in person and o.runner_up != o.guess
    ]
    torn = [(p, o) for p, o in torn if p < threshold]

    def floor_cost(floor: float) -> float:
        total = 0.0
        for p, o in torn:
            if p < floor:
                total += UNSURE_COST
            elif o.guess != o.gold:
                total += PERSON_SLIP_COST if o.gold in person else 1.0
        return total

    floors = [f for f in grid if f < threshold] + [threshold]
    person_floor = min(floors, key=lambda f: (floor_cost(f), -f))
    return replace(curve, threshold=threshold, cross_validated_accuracy=accuracy, person_floor=person_floor)
