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

from ivr.admin.rules_editor import write_atomically
from ivr.errors import IvrError
from ivr.signals.intent import load_intent_model


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


def add_example(grammars_dir: Path, language: str, intent: str, phrase: str) -> bool:
    """Append ``phrase`` to the examples of ``intent``. False when it is already there (nothing written)."""
    phrase = " ".join(phrase.strip().lower().split())
    if not phrase:
        raise GrammarEditError("an empty phrase cannot be an example")
    path = intents_path(grammars_dir, language)
    text = path.read_text(encoding="utf-8")
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    spec = _child(root, "intents") if root is not None else None
    spec = _child(spec, intent) if spec is not None else None
    if spec is None:
        raise GrammarEditError(f"{path}: there is no intent {intent!r}")
    examples = _child(spec, "examples")
    if not isinstance(examples, SequenceNode) or examples.flow_style or not examples.value:
        raise GrammarEditError(f"{path}: the examples of {intent!r} are not a block list; add the phrase by hand")
    if any(isinstance(item, ScalarNode) and item.value.strip().lower() == phrase for item in examples.value):
        return False
    last = examples.value[-1]
    dash = " " * max(last.start_mark.column - 2, 0)  # the "- " of the last example
    item = yaml.safe_dump([phrase], allow_unicode=True, width=10_000).strip()  # "- phrase", quoted when needed
    lines = text.split("\n")
    lines.insert(last.end_mark.line + 1, f"{dash}{item}")
    updated = "\n".join(lines)
    _validate(grammars_dir, language, updated, intent, phrase)
    write_atomically(path, updated)
    return True


def _validate(grammars_dir: Path, language: str, text: str, intent: str, phrase: str) -> None:
    """Load the would-be file as the server would, and check the phrase landed under the right intent."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / language
        copy.mkdir()
        for other in (grammars_dir / language).iterdir():
            if other.is_file() and other.name != "intents.yaml":
                shutil.copy(other, copy / other.name)
        (copy / "intents.yaml").write_text(text, encoding="utf-8")
        try:
            model = load_intent_model(Path(tmp), language)
        except IvrError as exc:
            raise GrammarEditError(f"adding the phrase would break the intents file: {exc}") from exc
    spec = next((s for s in model.intents if s.label == intent), None)
    if spec is None or phrase not in [e.strip().lower() for e in spec.examples]:
        raise GrammarEditError(f"could not place the phrase under {intent!r}; add it by hand")
