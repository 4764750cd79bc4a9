"""Prompt texts from ``grammars/<lang>/prompts.yaml``, and pre-rendering the ones that never change.

A prompts file is a flat YAML mapping ``key: text``. Texts may use ``{placeholders}``; ``{company}`` is
fixed per deployment, so a prompt with no other placeholder sounds the same on every call and is rendered
ahead of time (the greeting then starts without a synthesis delay). Prompts with call data (``{order}``,
``{minutes}``) are rendered at call time.
"""

from __future__ import annotations

import asyncio
import string
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from ivr.errors import GrammarError
from ivr.speech.tts import SpeechSynthesizer

PROMPTS_FILE = "prompts.yaml"
#: placeholders known when the server starts; anything else is filled in during the call
DEPLOYMENT_PLACEHOLDERS = frozenset({"company"})


def placeholders(text: str) -> frozenset[str]:
    """Names of the ``{placeholders}`` in a prompt (``{{`` and ``}}`` are literal braces)."""
    return frozenset(field for _, field, _, _ in string.Formatter().parse(text) if field is not None)


def is_deployment_static(text: str) -> bool:
    """True when the text can be rendered before any call: it needs nothing but ``{company}``."""
    return placeholders(text) <= DEPLOYMENT_PLACEHOLDERS


def load_prompts(grammars_dir: Path, language: str) -> dict[str, str]:
    """``key → text`` for one language, checked so mistakes surface at start-up instead of mid-call."""
    path = grammars_dir / language / PROMPTS_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GrammarError(f"{path}: missing (every language needs its prompts)") from None
    except yaml.YAMLError as exc:
        raise GrammarError(f"{path}: not valid YAML ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise GrammarError(f"{path}: expected a mapping `key: text`, got {type(data).__name__}")
    prompts: dict[str, str] = {}
    for key, text in data.items():
        # YAML 1.1 reads bare yes/no/on/off as booleans, for keys and values alike: the classic trap.
        if not isinstance(key, str):
            raise GrammarError(f"{path}: key {key!r} is not text (quote it)")
        if not isinstance(text, str):
            raise GrammarError(f"{path}: `{key}` must be text, got {type(text).__name__} {text!r} (quote it)")
        if not text.strip():
            raise GrammarError(f"{path}: `{key}` is empty")
        try:
            names = placeholders(text)
        except ValueError as exc:
            raise GrammarError(f"{path}: `{key}` has broken braces ({exc}); write {{{{ for a literal {{") from exc
        bad = sorted(name for name in names if not name.isidentifier())
        if bad:
            raise GrammarError(f"{path}: `{key}` has placeholders that are not plain names: {bad}")
        prompts[key] = text.strip()
    return prompts


@dataclass(frozen=True, slots=True)
class LanguageRenderCounts:
    """What pre-rendering did for one language."""

    language: str
    #: synthesised just now
    rendered: int
    #: already in the cache
    cached: int
    #: need call data, rendered at call time
    skipped: int


@dataclass(frozen=True, slots=True)
class RenderReport:
    languages: tuple[LanguageRenderCounts, ...]

    @property
    def rendered(self) -> int:
        return sum(c.rendered for c in self.languages)

    @property
    def cached(self) -> int:
        return sum(c.cached for c in self.languages)

    @property
    def skipped(self) -> int:
        return sum(c.skipped for c in self.languages)

    def for_language(self, language: str) -> LanguageRenderCounts:
        for counts in self.languages:
            if counts.language == language:
                return counts
        raise KeyError(language)


async def render_all(
    synth: SpeechSynthesizer, grammars_dir: Path, languages: Iterable[str], company: str
) -> RenderReport:
    """Pre-render every prompt that needs only ``{company}``, so calls hear them straight from the cache.

    One prompt at a time: the engine has a single owner thread anyway, and live calls keep their turn in
    its queue.
    From synchronous code (the CLI): ``asyncio.run(render_all(...))``.
    """
    counts: list[LanguageRenderCounts] = []
    for language in languages:
        prompts = await asyncio.to_thread(load_prompts, grammars_dir, language)
        rendered = cached = skipped = 0
        for text in prompts.values():
            if not is_deployment_static(text):
                skipped += 1
            elif await synth.prerender(text.format(company=company), language):
                rendered += 1
            else:
                cached += 1
        counts.append(LanguageRenderCounts(language, rendered=rendered, cached=cached, skipped=skipped))
    return RenderReport(tuple(counts))
