"""Read a rules file and say exactly where it is wrong.

Supervisors edit ``rules.yaml`` by hand, so every problem is reported as ``file:line: what is wrong``. YAML
syntax errors carry their own position; for validation errors the pydantic location (``rules → 2 → when →
distress_at_least``) is walked through the composed YAML node tree, whose nodes remember their lines.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ivr.errors import IvrError
from ivr.rules.schema import LocatedError, RuleSet, field_names
from ivr.yaml_guard import SAFE_LOADER, duplicate_keys, yaml_hazard


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """One thing wrong with a rules file. ``line`` is 1-based."""

    line: int
    where: str
    message: str

    def render(self, source: str) -> str:
        place = f"{self.where}: " if self.where else ""
        return f"{source}:{self.line}: {place}{self.message}"


class RulesError(IvrError):
    """A rules file is invalid. The message lists every problem as ``file:line: where: reason``."""

    def __init__(self, source: str, problems: tuple[RuleProblem, ...]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(p.render(source) for p in problems))

    @property
    def line(self) -> int:
        """Line of the first problem (what an editor should jump to)."""
        return self.problems[0].line


#: a rules file is a few KB; anything near this is a mistake or an attack (every parse is CPU and memory)
MAX_RULES_BYTES = 256 * 1024


def _compose(text: str, source: str) -> tuple[Node | None, Any]:
    """Parse once, keeping both the node tree (for line numbers) and the plain data (for validation). Too large a
    text, or one with aliases, is refused before any tree is built."""
    hazard = yaml_hazard(text, MAX_RULES_BYTES)
    if hazard is not None:
        raise RulesError(source, (RuleProblem(hazard[0], "", hazard[1]),))
    loader = SAFE_LOADER(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        reason = " ".join(part for part in (exc.context, exc.problem) if part)
        raise RulesError(source, (RuleProblem(line, "", f"YAML syntax: {reason}"),)) from exc
    except yaml.YAMLError as exc:
        raise RulesError(source, (RuleProblem(1, "", f"YAML: {exc}"),)) from exc
    finally:
        loader.dispose()
    return node, data


def _duplicate_keys(node: Node) -> list[RuleProblem]:
    """Two targets or fields with one name are a mistake (YAML would quietly keep the last)."""
    return [
        RuleProblem(line, key, f"duplicate key (first on line {first})") for line, key, first in duplicate_keys(node)
    ]


def locate(root: Node, loc: tuple[str | int, ...]) -> tuple[int, tuple[str | int, ...]]:
    """The line a pydantic error location points at, and the location as it appears in the file.

    Steps that are not in the file (a union's tag such as ``phone``) are skipped; a last step that is missing
    (a required field) stays in the location but the line is that of the mapping lacking it.
    """
    node = root
    line = root.start_mark.line + 1
    shown: list[str | int] = []
    for position, step in enumerate(loc):
        found = False
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.value == str(step):
                    line = key.start_mark.line + 1
                    node = value
                    found = True
                    break
        elif isinstance(node, SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            node = node.value[step]
            line = node.start_mark.line + 1
            found = True
        if found or position == len(loc) - 1:
            shown.append(step)
    return line, tuple(shown)


def _where(data: Any, loc: tuple[str | int, ...]) -> str:
    """A readable location: ``rule 'rouw' → when → distress_at_least``."""
    parts: list[str] = []
    rest = list(loc)
    if len(rest) >= 2 and rest[0] == "rules" and isinstance(rest[1], int):
        name = None
        rules = data.get("rules") if isinstance(data, dict) else None
        if isinstance(rules, list) and rest[1] < len(rules) and isinstance(rules[rest[1]], dict):
            name = rules[rest[1]].get("name")
        parts.append(f"rule {name!r}" if isinstance(name, str) else f"rule {rest[1] + 1}")
        rest = rest[2:]
    parts.extend(str(step) for step in rest)
    return " → ".join(parts)


_KNOWN_FIELDS = field_names()


def _message(err: dict[str, Any]) -> str:
    loc = err["loc"]
    if err["type"] == "extra_forbidden":
        field = str(loc[-1]) if loc else "?"
        if "builtins" in loc:
            return (
                f"unknown field {field!r}: built-in promises cannot be switched off or re-routed; "
                "only their description can be changed"
            )
        close = difflib.get_close_matches(field, _KNOWN_FIELDS, n=1)
        return f"unknown field {field!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
    message = str(err["msg"])
    return message.removeprefix("Value error, ")


def parse_rules(text: str, source_name: str, known_intents: Collection[str] | None = None) -> RuleSet:
    """Validate rules text. ``known_intents``, when given, catches misspelt intent names in rules."""
    node, data = _compose(text, source_name)
    if node is None:
        raise RulesError(source_name, (RuleProblem(1, "", "the file is empty; it needs `targets:` and `rules:`"),))
    if not isinstance(data, dict):
        raise RulesError(
            source_name,
            (RuleProblem(node.start_mark.line + 1, "", "expected `targets:` and `rules:` at the top"),),
        )
    duplicates = _duplicate_keys(node)
    if duplicates:
        raise RulesError(source_name, tuple(duplicates))
    try:
        return RuleSet.model_validate(data, context={"known_intents": known_intents})
    except ValidationError as exc:
        problems: list[RuleProblem] = []
        for err in exc.errors(include_url=False):
            loc: tuple[str | int, ...] = tuple(err["loc"])
            cause = (err.get("ctx") or {}).get("error")
            if isinstance(cause, LocatedError):
                loc = loc + cause.loc
            line, shown = locate(node, loc)
            problems.append(RuleProblem(line, _where(data, shown), _message(dict(err))))
        problems.sort(key=lambda p: p.line)
        raise RulesError(source_name, tuple(problems)) from exc


def load_rules(path: Path, known_intents: Collection[str] | None = None) -> RuleSet:
    """Read and validate a rules file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(str(path), (RuleProblem(1, "", f"cannot read the file ({exc.strerror})"),)) from exc
    return parse_rules(text, str(path), known_intents)
