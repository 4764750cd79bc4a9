"""Reading the YAML files under ``grammars/``: one way to parse them and one way to say what is wrong.

Every grammar loader (intents, training sentences, distress lexicons, phrases, prompts, summaries) turns a
mistake into a :class:`GrammarError` that names the file, the place in it and the reason, so a supervisor editing
a file reads the same kind of message whichever file it was.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from ivr.errors import GrammarError
from ivr.yaml_guard import SAFE_LOADER, duplicate_keys, yaml_hazard

#: the largest grammar file (training sentences) is ~100 KB
MAX_GRAMMAR_BYTES = 2 * 1024 * 1024


class RepeatedKeyError(yaml.YAMLError):
    """A mapping names one key twice; YAML alone would keep the last without a word (a keyword's weight lost)."""

    def __init__(self, line: int, key: str, first: int) -> None:
        self.line = line
        self.reason = f"{key!r} is written twice (first on line {first}): keep one"
        super().__init__(f"line {line}: {self.reason}")


def parse_yaml(text: str) -> object:
    """Parse YAML text with libyaml's safe loader (raises ``yaml.YAMLError``, also for a key written twice)."""
    loader = SAFE_LOADER(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    repeated = duplicate_keys(node)
    if repeated:
        raise RepeatedKeyError(*repeated[0])
    return data


def read_grammar_yaml(path: Path) -> dict[str, object]:
    """Read a YAML mapping from grammars/, turning every way it can be wrong into a :class:`GrammarError`."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GrammarError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    hazard = yaml_hazard(raw, MAX_GRAMMAR_BYTES)
    if hazard is not None:
        raise GrammarError(f"{path}:{hazard[0]}: {hazard[1]}")
    try:
        data = parse_yaml(raw)
    except RepeatedKeyError as exc:
        raise GrammarError(f"{path}:{exc.line}: {exc.reason}") from exc
    except yaml.YAMLError as exc:
        raise GrammarError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise GrammarError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    for key in data:
        if not isinstance(key, str):
            raise GrammarError(f"{path}: key {key!r} is not text (YAML reads yes/no/on/off as true/false: quote it)")
    return dict(data)


def format_validation_error(path: Path | str, exc: ValidationError) -> str:
    """One line per problem, each naming where in the file it is."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        hint = ""
        if isinstance(error.get("input"), bool):
            hint = " (YAML reads yes/no/on/off as true/false: put the word in quotes)"
        problems.append(f"{where}: {error['msg']}{hint}")
    return f"{path}: " + "; ".join(problems)
