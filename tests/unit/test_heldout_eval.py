"""The eval targets, measured the way ``ivr eval`` measures them, on the development set and on the held-out set.

``utterances.yaml`` is what the classifier was tuned on, so it must meet the product targets. ``heldout.yaml`` was
written before any tuning and never looked at to tune, so its floors are simply the levels honestly reached
(measured minus a small margin): they exist to make a regression visible, not to claim the targets are met there.
Raise them when a general improvement raises the held-out numbers; never add held-out sentences to the grammars.
"""

from __future__ import annotations

import pytest

from ivr.config import REPO_ROOT, Settings
from ivr.evaluation import EvalReport, Understander, load_eval_items, run_eval
from ivr.signals.text import fold

EVAL_DIR = REPO_ROOT / "tests" / "data" / "eval"

# (set, intent accuracy ≥, transfer decision accuracy ≥, distress recall ≥, distress false alarms ≤)
FLOORS = {
    # the product targets
    "utterances.yaml": (0.90, 0.95, 0.90, 0.10),
    # measured 2026-11-23: intent 75.8 % (nl 75.3, en 76.5), transfer 82.6 %, recall 78.9 %, false alarms 1.5 %
    "heldout.yaml": (0.73, 0.80, 0.75, 0.05),
}


@pytest.fixture(scope="module")
def understander() -> Understander:
    return Understander.load(Settings())


@pytest.fixture(scope="module")
def reports(understander: Understander) -> dict[str, EvalReport]:
    return {name: run_eval(understander, load_eval_items(EVAL_DIR / name)) for name in FLOORS}


def test_heldout_set_is_large_enough_and_covers_every_intent_in_both_languages() -> None:
    items = load_eval_items(EVAL_DIR / "heldout.yaml")
    assert len(items) >= 80
    for lang in ("nl", "en"):
        assert len({item.intent for item in items if item.lang == lang}) == 13


def test_heldout_sentences_are_not_in_the_grammars_or_the_development_set(understander: Understander) -> None:
    seen = {fold(item.text) for item in load_eval_items(EVAL_DIR / "utterances.yaml")}
    seen |= {fold(item.text) for item in load_eval_items(EVAL_DIR / "tuning.yaml")}
    for ctx in understander.dialogs.values():
        seen |= {fold(example) for spec in ctx.flow.intents.intents for example in spec.examples}
    copied = [item.text for item in load_eval_items(EVAL_DIR / "heldout.yaml") if fold(item.text) in seen]
    assert copied == []


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_eval_targets_hold(reports: dict[str, EvalReport], name: str) -> None:
    report = reports[name]
    intent, transfer, recall, false_alarms = FLOORS[name]
    misses = "\n".join(report.misses)
    assert report.share("intent accuracy (all)") >= intent, misses
    assert report.share("transfer decision accuracy (all)") >= transfer, misses
    assert report.share("distress recall ≥ 0.6 (all)") >= recall, misses
    assert report.share("distress false alarms on calm (all)") <= false_alarms, misses
