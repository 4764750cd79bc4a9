"""One language's dialog, as declared under ``grammars/<lang>/``: prompts, phrase lists and intents.

The engine decides *what* to do; the flow holds every word of *how* it is said, so a language (or a company's
tone of voice) changes in YAML, not in Python. :func:`load_flow` checks everything the engine will need up
front, so a broken grammar stops the server at start-up instead of leaving a caller in silence mid-call.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal, get_args

from ivr.dialog.actions import GrammarName, Say
from ivr.dialog.digits import Phrases, load_phrases
from ivr.errors import GrammarError
from ivr.grammar_files import read_grammar_yaml
from ivr.signals.encoder import EncoderChoice
from ivr.signals.intent import Handling, IntentModel, load_intent_model

#: Every prompt key the engine says by name: the type keeps the engine honest, load_flow checks the YAML.
PromptKey = Literal[
    "greeting",
    "reprompt_intent_not_understood",
    "reprompt_intent_low_confidence",
    "reprompt_intent_no_input",
    "ask_order_number",
    "reprompt_order_number_not_understood",
    "reprompt_order_number_low_confidence",
    "reprompt_order_number_no_input",
    "order_status",
    "order_not_found",
    "anything_else",
    "reprompt_anything_else_not_understood",
    "reprompt_anything_else_low_confidence",
    "reprompt_anything_else_no_input",
    "ask_what",
    "goodbye",
    "transfer_caller_request",
    "transfer_keypad_zero",
    "transfer_not_understood",
    "transfer_needs_person",
    "resumed",
    "back_to_bot",
    "greeting_returning",
    "previous_today",
    "previous_yesterday",
    "previous_this_week",
]
ENGINE_PROMPTS: tuple[PromptKey, ...] = get_args(PromptKey)

#: Self-service intents other than order_status are answered by the prompt ``answer_<intent>``.
ANSWER_PREFIX = "answer_"
#: ``transfer_needs_person_<intent>`` optionally replaces the generic announcement for one topic (e.g.
#: bereavement).
NEEDS_PERSON_PREFIX = "transfer_needs_person_"
#: The self-service intent that asks for an order number instead of answering at once.
ORDER_STATUS = "order_status"

KNOWN_PLACEHOLDERS = frozenset({"company", "order_number", "status", "hours", "topic", "position", "minutes", "when"})
_EXTRA_PLACEHOLDERS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "order_status": frozenset({"order_number", "status"}),
        "order_not_found": frozenset({"order_number"}),
        "transfer_needs_person": frozenset({"topic"}),
        "greeting_returning": frozenset({"order_number", "when"}),
    }
)


def allowed_placeholders(key: str) -> frozenset[str]:
    """The placeholders the engine fills for this prompt key; {company} is always available."""
    if key.startswith(NEEDS_PERSON_PREFIX):
        return frozenset({"company", "topic"})
    if key.startswith(ANSWER_PREFIX):
        return frozenset({"company", "hours"})
    if key in ENGINE_PROMPTS:
        return frozenset({"company"}) | _EXTRA_PLACEHOLDERS.get(key, frozenset())
    return KNOWN_PLACEHOLDERS


def placeholders(text: str) -> frozenset[str]:
    """The ``{name}`` placeholders in a prompt; ValueError for broken braces and positional fields."""
    names: set[str] = set()
    for _, field_name, spec, conversion in string.Formatter().parse(text):
        if field_name is None:
            continue
        if not field_name.isidentifier() or spec or conversion:
            raise ValueError(f"placeholder {{{field_name}}} must be a plain {{name}}")
        names.add(field_name)
    return frozenset(names)


@dataclass(frozen=True, slots=True)
class Flow:
    """Prompts, phrase lists and intent model of one language, validated together."""

    language: str
    prompts: Mapping[str, str]
    phrases: Phrases
    intents: IntentModel

    def text(self, key: str, values: Mapping[str, str] | None = None) -> str:
        """The prompt with its placeholders filled (load_flow guarantees every engine key exists)."""
        return self.prompts[key].format_map(values or {})

    def say(self, key: str, values: Mapping[str, str] | None = None, *, interruptible: bool = True) -> Say:
        return Say(key=key, text=self.text(key, values), interruptible=interruptible)

    def grammar_phrases(self, grammar: GrammarName) -> list[str] | None:
        """The recogniser's phrase list for a Listen grammar (None: free speech)."""
        return self.phrases.grammar(grammar)

    def handling(self, label: str) -> Handling:
        return self.intents.spec(label).handling

    def topic(self, label: str) -> str:
        return self.intents.spec(label).topic

    def needs_person_key(self, label: str) -> str:
        """The topic's own transfer announcement if the YAML has one, else the generic one."""
        own = f"{NEEDS_PERSON_PREFIX}{label}"
        return own if own in self.prompts else "transfer_needs_person"

    @property
    def self_service_intents(self) -> tuple[str, ...]:
        return self.intents.labels_with("self_service")

    @property
    def person_intents(self) -> tuple[str, ...]:
        return self.intents.labels_with("person")


def load_prompts(grammars_dir: Path, language: str) -> Mapping[str, str]:
    """``grammars/<language>/prompts.yaml`` as key → text, whitespace of folded YAML lines collapsed."""
    path = grammars_dir / language / "prompts.yaml"
    data = read_grammar_yaml(path)
    prompts: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(value, str) or not value.strip():
            raise GrammarError(f"{path}: {key}: must be non-empty text, got {value!r}")
        text = " ".join(value.split())
        try:
            used = placeholders(text)
        except ValueError as exc:
            raise GrammarError(f"{path}: {key}: {exc}") from exc
        unknown = used - allowed_placeholders(key)
        if unknown:
            allowed = ", ".join(f"{{{p}}}" for p in sorted(allowed_placeholders(key)))
            raise GrammarError(
                f"{path}: {key}: unknown placeholder(s) {sorted(unknown)}; this prompt can use {allowed}"
            )
        prompts[key] = text
    return MappingProxyType(prompts)


def load_flow(grammars_dir: Path, language: str, encoder: EncoderChoice = "shared") -> Flow:
    """Load one language's dialog and check that the engine finds everything it will ask for; ``encoder`` gives the
    intent model its sentence vectors (see :func:`ivr.signals.intent.load_intent_model`).

    Raises :class:`GrammarError` naming the file and the reason.
    """
    prompts = load_prompts(grammars_dir, language)
    phrases = load_phrases(grammars_dir, language)
    intents = load_intent_model(grammars_dir, language, encoder)
    path = grammars_dir / language / "prompts.yaml"
    missing: list[str] = [key for key in ENGINE_PROMPTS if key not in prompts]
    for label in intents.labels_with("self_service"):
        if label != ORDER_STATUS and f"{ANSWER_PREFIX}{label}" not in prompts:
            missing.append(f"{ANSWER_PREFIX}{label}")
    if missing:
        raise GrammarError(f"{path}: missing prompt(s) {', '.join(missing)}")
    return Flow(language=language, prompts=prompts, phrases=phrases, intents=intents)
