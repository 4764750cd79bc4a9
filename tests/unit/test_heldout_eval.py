"""The eval targets, measured the way ``ivr eval`` measures them, on the development set and the held-out sets.

``utterances.yaml`` is what the classifier was tuned on, so it must meet the product targets. ``heldout.yaml`` was
written before any tuning and ``heldout2.yaml`` blind, from a labelling guide alone; neither is looked at to tune,
so their floors are simply the levels honestly reached (measured minus a small margin): they make a regression
visible. Raise them when a general improvement raises the held-out numbers; never add held-out sentences to the
grammars or to ``training.yaml``.
"""

from __future__ import annotations

import pytest

from ivr.config import REPO_ROOT, Language, Settings
from ivr.evaluation import EvalReport, Understander, load_eval_items, run_eval
from ivr.signals.text import fold

EVAL_DIR = REPO_ROOT / "tests" / "data" / "eval"

# (set, intent accuracy ≥, transfer decision accuracy ≥, distress recall ≥, distress false alarms ≤)
FLOORS = {
    # the product targets
    "utterances.yaml": (0.90, 0.95, 0.90, 0.10),
    # measured 2026-11-23 with the learned models: intent 92.6 % (nl 92.6, en 92.6), transfer 95.3 %,
    # recall 100 %, false alarms 5.4 % (keywords and nearest examples alone: 75.8 %, 82.6 %, 78.9 %, 1.5 %)
    "heldout.yaml": (0.90, 0.93, 0.95, 0.08),
    # measured 2026-11-23: intent 93.3 % (nl 93.1, en 93.6), transfer 94.6 %, recall 93.8 %, false alarms 7.8 %
    # (before the learned models: 81.2 %, 87.1 %, 64.6 %, 2.6 %)
    "heldout2.yaml": (0.91, 0.92, 0.90, 0.09),
    # paraphrased from public consumer material and frozen before the changes it measures (its misses were looked
    # at since, so it is no longer clean); measured 2026-11-27: intent 92.6 %, transfer 96.7 %, recall 72.9 %,
    # false alarms 5.4 % (words only: 73.0 %, 82.0 %, 47.9 %, 8.1 %)
    "heldout3.yaml": (0.91, 0.95, 0.70, 0.07),
    # written 2026-11-27 from a grid of callers × situations and frozen before the changes it measures; measured
    # at the commit that froze it: intent 96.8 %, transfer 100 %, recall 92.9 %, false alarms 5.1 %
    "heldout4.yaml": (0.93, 0.96, 0.85, 0.08),
}
HELD_OUT = ("heldout.yaml", "heldout2.yaml", "heldout4.yaml")
# heldout2.yaml was written blind; these two very common requests happen to equal examples that were in
# grammars/en/intents.yaml before the set was written, so they are coincidence, not copying.
COINCIDENCES = {"can i speak to a real person please", "operator"}


@pytest.fixture(scope="module")
def understander() -> Understander:
    return Understander.load(Settings())


@pytest.fixture(scope="module")
def reports(understander: Understander) -> dict[str, EvalReport]:
    return {name: run_eval(understander, load_eval_items(EVAL_DIR / name)) for name in FLOORS}


@pytest.mark.parametrize("name", HELD_OUT)
def test_heldout_set_is_large_enough_and_covers_every_intent_in_both_languages(name: str) -> None:
    items = load_eval_items(EVAL_DIR / name)
    assert len(items) >= 80
    for lang in ("nl", "en"):
        assert len({item.intent for item in items if item.lang == lang}) == 13


@pytest.mark.parametrize("name", HELD_OUT)
def test_heldout_sentences_are_not_in_the_grammars_or_the_development_set(
    understander: Understander, name: str
) -> None:
    seen = {fold(item.text) for item in load_eval_items(EVAL_DIR / "utterances.yaml")}
    seen |= {fold(item.text) for item in load_eval_items(EVAL_DIR / "tuning.yaml")}
    for ctx in understander.dialogs.values():
        seen |= {fold(example) for spec in ctx.flow.intents.intents for example in spec.examples}
        seen |= {fold(sentence.text) for sentence in ctx.flow.intents.training}
    copied = [item.text for item in load_eval_items(EVAL_DIR / name) if fold(item.text) in seen - COINCIDENCES]
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


def test_a_caller_who_needs_help_but_names_no_topic_goes_to_a_person_by_a_visible_rule() -> None:
    from ivr.rules.evaluate import evaluate
    from ivr.rules.loader import load_rules
    from ivr.signals.distress import Distress
    from tests.unit.test_rules import turn

    rules = load_rules(REPO_ROOT / "rules.yaml")
    tense = evaluate(rules, turn(intent="unknown", distress=Distress(0.55)))
    assert tense is not None and tense.rule == "hulp-zonder-onderwerp"
    calm = evaluate(rules, turn(intent="unknown", distress=Distress(0.2)))
    assert calm is None, "a calm caller without a topic is asked what they need, not transferred"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("het is de vierde keer dat ik bel", "nl"),
        ("ik heb gisteren ook al gebeld en eergisteren ook", "nl"),
        ("ik bel al de hele week", "nl"),
        ("i rang yesterday and the day before", "en"),
        ("this is my fifth call about this", "en"),
        # not being understood: the machine already got it wrong
        ("nee nee nee dat bedoel ik helemaal niet", "nl"),
        ("no thats not what i said at all", "en"),
        ("can somebody please just listen to me", "en"),
    ],
)
def test_a_caller_who_says_it_is_the_nth_call_or_was_misunderstood_is_not_asked_to_rephrase(
    understander: Understander, text: str, lang: Language
) -> None:
    result = understander.classify(text, lang)
    assert result.action == "transfer", result


def test_ivr_eval_prints_several_sets_side_by_side() -> None:
    from typer.testing import CliRunner

    from ivr.cli import app

    eval_dir = REPO_ROOT / "tests" / "data" / "eval"
    args = ["eval", "--file", str(eval_dir / "heldout.yaml"), "--file", str(eval_dir / "heldout3.yaml")]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if "measure" in line)
    assert "heldout" in header and "heldout3" in header
    assert "intent accuracy (all)" in result.output
