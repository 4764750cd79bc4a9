"""The feedback loop: a supervisor says what a missed caller sentence meant, and it becomes an example phrase.

``grammars/<lang>/intents.yaml`` is written by people, with comments and a careful layout, so the phrase is inserted
as one new line under the intent's ``examples:`` (same indentation as its neighbours) rather than re-dumping the
YAML. The result is validated as a whole intents file before it replaces the old one; a file that would not load is
never written.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ivr.dialog.digits import load_phrases, plain_answer
from ivr.errors import IvrError
from ivr.files import write_atomically
from ivr.signals.intent import IntentModel, load_intent_model


class GrammarEditError(IvrError):
    """The phrase cannot be added (unknown intent, unusual layout, or the file would no longer load)."""


def intents_path(grammars_dir: Path, language: str) -> Path:
    return grammars_dir / language / "intents.yaml"


def intent_labels(grammars_dir: Path, language: str) -> list[str]:
    return [spec.label for spec in load_intent_model(grammars_dir, language).intents]


def _child(node: Node, key: str) -> Node | None:
    if isinstance(node, MappingNode):
        for k, value in node.value:
            if isinstance(k, ScalarNode) and k.value == key and isinstance(value, Node):
                return value
    return None


_GRAMMAR_STEPS = {"yes_no": "a yes/no question (“anything else?”)", "digits": "the question for a number"}


def grammar_step_conflict(grammars_dir: Path, language: str, phrase: str) -> str | None:
    """Why ``phrase`` must not become an intent's wording, or None. A plain yes/no or a spoken number answers a
    grammar step; taught as an intent, it would change how callers' answers to that question are understood."""
    step = plain_answer(phrase, load_phrases(grammars_dir, language))
    if step is None:
        return None
    return (
        f"“{phrase}” is an answer to {_GRAMMAR_STEPS[step]}, not a request: teaching it as an intent would change "
        "how callers' answers there are understood. Dismiss it instead."
    )


def normalise_phrase(phrase: str) -> str:
    return " ".join(phrase.strip().lower().split())


def _examples(text: str, path: Path, intent: str) -> SequenceNode:
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    spec = _child(root, "intents") if root is not None else None
    spec = _child(spec, intent) if spec is not None else None
    if spec is None:
        raise GrammarEditError(f"{path}: there is no intent {intent!r}")
    examples = _child(spec, "examples")
    if not isinstance(examples, SequenceNode) or examples.flow_style or not examples.value:
        raise GrammarEditError(f"{path}: the examples of {intent!r} are not a block list; change it by hand")
    return examples


def add_example(grammars_dir: Path, language: str, intent: str, phrase: str) -> bool:
    """Append ``phrase`` to the examples of ``intent``. False when it is already there (nothing written)."""
    updated = with_example(grammars_dir, language, intent, phrase)
    if updated is None:
        return False
    write_atomically(intents_path(grammars_dir, language), updated)
    return True


def with_example(grammars_dir: Path, language: str, intent: str, phrase: str) -> str | None:
    """The intents file with ``phrase`` added under ``intent``, validated; None when it is already there."""
    phrase = normalise_phrase(phrase)
    if not phrase:
        raise GrammarEditError("an empty phrase cannot be an example")
    path = intents_path(grammars_dir, language)
    text = path.read_text(encoding="utf-8")
    examples = _examples(text, path, intent)
    if any(isinstance(item, ScalarNode) and item.value.strip().lower() == phrase for item in examples.value):
        return None
    last = examples.value[-1]
    dash = " " * max(last.start_mark.column - 2, 0)  # the "- " of the last example
    item = yaml.safe_dump([phrase], allow_unicode=True, width=10_000).strip()  # "- phrase", quoted when needed
    lines = text.split("\n")
    lines.insert(last.end_mark.line + 1, f"{dash}{item}")
    updated = "\n".join(lines)
    _validate(grammars_dir, language, updated, intent, phrase)
    return updated


def remove_example(grammars_dir: Path, language: str, intent: str, phrase: str) -> bool:
    """Take ``phrase`` out of the examples of ``intent`` (undoing a lesson). False when it is not there."""
    phrase = normalise_phrase(phrase)
    path = intents_path(grammars_dir, language)
    text = path.read_text(encoding="utf-8")
    examples = _examples(text, path, intent)
    items = [i for i in examples.value if isinstance(i, ScalarNode) and i.value.strip().lower() == phrase]
    if not items or len(examples.value) == 1:
        return False  # not there, or the intent's last example (an intent needs one): leave it to a person
    item = items[0]
    lines = text.split("\n")
    del lines[item.start_mark.line : item.end_mark.line + 1]
    updated = "\n".join(lines)
    try:
        load_intent_model_from_text(grammars_dir, language, updated)
    except IvrError as exc:
        raise GrammarEditError(f"removing the phrase would break the intents file: {exc}") from exc
    write_atomically(path, updated)
    return True


def grammars_with(grammars_dir: Path, language: str, intents_text: str, into: Path) -> Path:
    """A copy of the grammars under ``into`` whose ``language`` has ``intents_text`` as its intents file: what the
    server would load after the change, for validating and previewing it without touching the real files."""
    shutil.copytree(grammars_dir, into, dirs_exist_ok=True)
    (into / language / "intents.yaml").write_text(intents_text, encoding="utf-8")
    return into


def load_intent_model_from_text(grammars_dir: Path, language: str, text: str) -> IntentModel:
    with tempfile.TemporaryDirectory() as tmp:
        return load_intent_model(grammars_with(grammars_dir, language, text, Path(tmp)), language)


def _validate(grammars_dir: Path, language: str, text: str, intent: str, phrase: str) -> None:
    """Load the would-be file as the server would, and check the phrase landed under the right intent."""
    try:
        model = load_intent_model_from_text(grammars_dir, language, text)
    except IvrError as exc:
        raise GrammarEditError(f"adding the phrase would break the intents file: {exc}") from exc
    spec = next((s for s in model.intents if s.label == intent), None)
    if spec is None or phrase not in [e.strip().lower() for e in spec.examples]:
        raise GrammarEditError(f"could not place the phrase under {intent!r}; add it by hand")
