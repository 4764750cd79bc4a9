"""``grammars/<lang>/training.yaml``: labelled caller sentences the learned models train on.

Each item is what a caller said (recogniser style), the intent a person would give it, and whether the caller
sounds upset. The file is optional — without it the learned models train on the intents' examples alone — and it
is validated like every grammar file: a mistake names the file, the item and the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from ivr.errors import GrammarError
from ivr.grammar_files import format_validation_error, read_grammar_yaml
from ivr.signals.text import tokenize

FILE_NAME = "training.yaml"


@dataclass(frozen=True, slots=True)
class TrainingSentence:
    """A labelled caller sentence."""

    text: str
    intent: str
    distressed: bool


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    intent: str
    distressed: bool = False

    @field_validator("text")
    @classmethod
    def _has_words(cls, value: str) -> str:
        if not tokenize(value):
            raise ValueError(f"sentence {value!r} has no words")
        return value


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    items: list[_Item]


def load_training_sentences(
    grammars_dir: Path, language: str, labels: Sequence[str] | None = None
) -> tuple[TrainingSentence, ...]:
    """The language's labelled sentences (none when the file is absent); ``labels`` checks every intent."""
    path = grammars_dir / language / FILE_NAME
    if not path.exists():
        return ()
    try:
        parsed = _File.model_validate(read_grammar_yaml(path))
    except ValidationError as exc:
        raise GrammarError(format_validation_error(path, exc)) from exc
    for index, item in enumerate(parsed.items):
        if labels is not None and item.intent not in labels:
            raise GrammarError(
                f"{path}: items.{index}: intent {item.intent!r} is not in intents.yaml ({', '.join(labels)})"
            )
    return tuple(TrainingSentence(item.text, item.intent, item.distressed) for item in parsed.items)
