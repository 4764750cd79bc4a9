"""Teaching an intent a missed sentence writes one readable line into intents.yaml, never a broken file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from ivr.admin.grammar_feedback import GrammarEditError, add_example, grammar_step_conflict, remove_example
from ivr.config import REPO_ROOT


@pytest.fixture
def grammars(tmp_path: Path) -> Path:
    shutil.copytree(REPO_ROOT / "grammars", tmp_path / "grammars")
    return tmp_path / "grammars"


def _examples(grammars: Path, intent: str) -> list[str]:
    data = yaml.safe_load((grammars / "nl" / "intents.yaml").read_text(encoding="utf-8"))
    examples: list[str] = data["intents"][intent]["examples"]
    return examples


def test_a_phrase_becomes_the_last_example_and_nothing_else_changes(grammars: Path) -> None:
    path = grammars / "nl" / "intents.yaml"
    before = path.read_text(encoding="utf-8").split("\n")
    assert add_example(grammars, "nl", "opening_hours", "  Zijn Jullie   open op kerstavond ")
    after = path.read_text(encoding="utf-8").split("\n")
    added = [line for line in after if line not in before]
    assert added == ["      - zijn jullie open op kerstavond"]
    assert len(after) == len(before) + 1  # comments and layout kept
    assert _examples(grammars, "opening_hours")[-1] == "zijn jullie open op kerstavond"


def test_a_phrase_yaml_would_misread_is_quoted(grammars: Path) -> None:
    add_example(grammars, "nl", "unknown", "ja: nee")
    assert _examples(grammars, "unknown")[-1] == "ja: nee"


def test_an_existing_example_is_not_added_twice(grammars: Path) -> None:
    assert not add_example(grammars, "nl", "opening_hours", "wat zijn jullie openingstijden")


def test_an_unknown_intent_is_refused(grammars: Path) -> None:
    with pytest.raises(GrammarEditError, match="no intent"):
        add_example(grammars, "nl", "pizza", "een pizza graag")


def test_undoing_a_lesson_removes_exactly_the_line_it_added(grammars: Path) -> None:
    path = grammars / "nl" / "intents.yaml"
    before = path.read_text(encoding="utf-8")
    assert add_example(grammars, "nl", "opening_hours", "zijn jullie open op kerstavond")
    assert remove_example(grammars, "nl", "opening_hours", "Zijn jullie open op kerstavond")
    assert path.read_text(encoding="utf-8") == before
    assert not remove_example(grammars, "nl", "opening_hours", "zijn jullie open op kerstavond")


@pytest.mark.parametrize("phrase", ["nee", "nee dank u", "ja hoor", "vier vijf een twee", "nummer 4 5 1 2"])
def test_a_plain_answer_to_a_grammar_step_cannot_be_taught(grammars: Path, phrase: str) -> None:
    reason = grammar_step_conflict(grammars, "nl", phrase)
    assert reason is not None and "not a request" in reason


@pytest.mark.parametrize(
    "phrase", ["ik zoek mijn kat", "ja ik wil mijn wachtwoord resetten", "mijn pakket 4512 is zoek"]
)
def test_a_request_that_merely_contains_yes_or_a_number_can_be_taught(grammars: Path, phrase: str) -> None:
    assert grammar_step_conflict(grammars, "nl", phrase) is None
