"""The rules editor's checks, line annotations and history diffs (no server)."""

from __future__ import annotations

from pathlib import Path

from ivr.admin.rules_editor import annotate, check_draft, diff, normalise_newlines
from ivr.config import REPO_ROOT
from ivr.files import write_atomically

RULES = (REPO_ROOT / "rules.yaml").read_text(encoding="utf-8")
INTENTS = {"fraud", "bereavement", "complaint", "cancel_subscription", "payment_failed", "refund", "balance", "unknown"}


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.split("\n"), start=1) if needle in line)


def test_the_shipped_rules_are_a_valid_draft() -> None:
    assert check_draft(RULES, INTENTS).ok


def test_a_priority_out_of_range_is_reported_next_to_its_line() -> None:
    draft = RULES.replace("priority: 95", "priority: 950", 1)
    checked = check_draft(draft, INTENTS)
    assert not checked.ok
    lines = annotate(draft, checked.problems)
    faulty = [line for line in lines if line.problems]
    assert [line.number for line in faulty] == [_line_of(draft, "priority: 950")]
    assert "100" in faulty[0].problems[0] and "fraude" in faulty[0].problems[0]


def test_a_misspelt_intent_points_at_the_rule_that_uses_it() -> None:
    draft = RULES.replace("intent: [fraud]", "intent: [fruad]", 1)
    checked = check_draft(draft, INTENTS)
    assert not checked.ok and checked.problems[0].line == _line_of(draft, "intent: [fruad]")


def test_a_yaml_syntax_error_is_placed_on_a_line_of_the_draft() -> None:
    checked = check_draft("rules: [\n  - name: x\n", INTENTS)
    lines = annotate("rules: [\n  - name: x\n", checked.problems)
    assert any(line.problems and "YAML syntax" in line.problems[0] for line in lines)


def test_the_diff_shows_added_and_removed_lines() -> None:
    changed = RULES.replace("target: fraudeteam", "target: klachten", 1)
    kinds = {(d.kind, d.text.strip()) for d in diff(RULES, changed)}
    assert ("removed", "target: fraudeteam") in kinds and ("added", "target: klachten") in kinds


def test_browser_line_endings_become_unix_ones() -> None:
    assert normalise_newlines("a: 1\r\nb: 2") == "a: 1\nb: 2\n"


def test_publishing_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "rules.yaml"
    target.write_text("old\n", encoding="utf-8")
    write_atomically(target, "new\n")
    assert target.read_text(encoding="utf-8") == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["rules.yaml"]
