"""The rules editor's work, without HTTP: check a draft, put each problem next to its line, diff two versions, and
write a published text so that the running server can never read half a file."""

from __future__ import annotations

import difflib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from ivr.rules.loader import RuleProblem, RulesError, parse_rules
from ivr.rules.schema import RuleSet

DRAFT_SOURCE = "rules.yaml"


@dataclass(frozen=True, slots=True)
class DraftCheck:
    """A draft is publishable when ``rules`` is set; otherwise ``problems`` says why, line by line."""

    rules: RuleSet | None
    problems: tuple[RuleProblem, ...] = ()

    @property
    def ok(self) -> bool:
        return self.rules is not None


def check_draft(text: str, known_intents: Collection[str]) -> DraftCheck:
    try:
        return DraftCheck(parse_rules(text, DRAFT_SOURCE, known_intents))
    except RulesError as exc:
        return DraftCheck(None, exc.problems)


@dataclass(frozen=True, slots=True)
class EditorLine:
    number: int
    text: str
    problems: tuple[str, ...] = ()


def annotate(text: str, problems: Collection[RuleProblem]) -> list[EditorLine]:
    """Every line of the draft with the problems found on it (problems past the end go on the last line)."""
    lines = text.split("\n") or [""]
    by_line: dict[int, list[str]] = {}
    for problem in problems:
        number = min(max(problem.line, 1), len(lines))
        message = f"{problem.where}: {problem.message}" if problem.where else problem.message
        by_line.setdefault(number, []).append(message)
    return [EditorLine(n, line, tuple(by_line.get(n, ()))) for n, line in enumerate(lines, start=1)]


DiffKind = Literal["same", "added", "removed", "hunk"]


@dataclass(frozen=True, slots=True)
class DiffLine:
    kind: DiffKind
    text: str


def diff(old: str, new: str, context: int = 3) -> list[DiffLine]:
    """A unified diff of two rules texts, line by line, for the history page."""
    out: list[DiffLine] = []
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), "before", "after", n=context, lineterm="")
    for line in lines:
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            out.append(DiffLine("hunk", line))
        elif line.startswith("+"):
            out.append(DiffLine("added", line[1:]))
        elif line.startswith("-"):
            out.append(DiffLine("removed", line[1:]))
        else:
            out.append(DiffLine("same", line[1:]))
    return out


def normalise_newlines(text: str) -> str:
    """Browsers post textareas with CRLF; the file keeps LF and ends with one newline."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") else text + "\n"
