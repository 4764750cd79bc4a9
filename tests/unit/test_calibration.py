"""Choosing the unknown threshold and the floor for guesses between two person topics from out-of-fold answers."""

from __future__ import annotations

import random

from ivr.signals.calibration import OutOfFold, fit_calibration
from ivr.signals.intent import IntentScores

PERSON = frozenset({"fraud", "payment_failed", "refund"})


def scores(evidence: float, margin: float) -> IntentScores:
    return IntentScores(
        best=0, evidence=evidence, margin=margin, preferred=False, coverage=1.0, runner_up=1, reasons=()
    )


def outcomes(torn_right: float) -> list[OutOfFold]:
    """Clear answers that are right, vague ones that are mostly wrong, and vague ones torn between two person
    topics that are right ``torn_right`` of the time (else another person topic)."""
    rng = random.Random(7)
    out = [
        OutOfFold("order_status", "order_status", scores(0.8 + 0.1 * rng.random(), 0.3), "refund") for _ in range(60)
    ]
    for _ in range(40):
        gold = "order_status" if rng.random() < 0.1 else "opening_hours"
        out.append(OutOfFold(gold, "order_status", scores(0.2 + 0.1 * rng.random(), 0.02), "opening_hours"))
    for _ in range(40):
        gold = "fraud" if rng.random() < torn_right else "payment_failed"
        out.append(OutOfFold(gold, "fraud", scores(0.2 + 0.1 * rng.random(), 0.02), "payment_failed"))
    return out


def fit(torn_right: float, person: frozenset[str] = PERSON) -> tuple[float, float]:
    curve = fit_calibration(outcomes(torn_right), unknown="unknown", encoder="test", digest="0", folds=5, person=person)
    return curve.threshold, curve.person_floor


def test_vague_guesses_fall_below_the_threshold() -> None:
    threshold, _ = fit(0.5)
    assert 0.3 <= threshold <= 0.9


def test_a_guess_between_two_person_topics_stands_below_the_threshold_when_that_costs_less_than_asking_again() -> None:
    threshold, floor = fit(0.6)
    assert floor < threshold


def test_without_person_topics_no_guess_stands_below_the_threshold() -> None:
    threshold, floor = fit(0.6, person=frozenset())
    assert floor == threshold
